//! Outbound HTTP for drivers (`wasi:http/outgoing-handler`), filtered by the host: a request goes
//! out only to a `host` (https, port 443) or `host:port` (http or https) listed in the driver's
//! manifest, and only when every address the name resolves to is a public one, unless the owner
//! approved that address itself (an IP literal or `localhost` in the manifest). Plain-HTTP
//! requests are sent to the address that was checked, so a name cannot be re-pointed between
//! the check and the connection; HTTPS relies on the certificate for the same. Time is bounded by
//! the call's wall-time limit and response bodies by the output limit. Every request, sent or
//! refused, is audited.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use databox_audit::{AuditLog, Event, Outcome};
use http::uri::{Authority, Scheme};
use http_body_util::BodyExt;
use wasmtime_wasi_http::{Error, RequestOptions, WasiBody, WasiHttpHooks};

use super::ComponentCtx;
use crate::manifest::Limits;

/// One entry of the manifest's `network.hosts`.
#[derive(Clone, Debug, PartialEq)]
struct Allowed {
    host: String,
    port: u16,
    /// `host` alone means https on 443; `host:port` allows http too.
    https_only: bool,
    /// An IP literal or `localhost`: the owner approved that very address.
    literal: bool,
}

fn parse_allowed(entry: &str) -> Option<Allowed> {
    let url = url::Url::parse(&format!("https://{entry}")).ok()?;
    let host = url
        .host_str()?
        .trim_matches(|c| c == '[' || c == ']')
        .to_ascii_lowercase();
    let literal = host == "localhost" || host.parse::<IpAddr>().is_ok();
    Some(Allowed {
        port: url.port().unwrap_or(443),
        https_only: url.port().is_none(),
        host,
        literal,
    })
}

/// Whether `ip` is an address on the public Internet (not loopback, private, link-local,
/// shared, documentation, multicast or unspecified).
pub(crate) fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            !(v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_documentation()
                || v4.is_multicast()
                || o[0] == 0
                || (o[0] == 100 && (o[1] & 0xc0) == 64)
                || (o[0] == 198 && (o[1] & 0xfe) == 18)
                || o[0] >= 240)
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public(IpAddr::V4(v4));
            }
            let s = v6.segments();
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (s[0] & 0xfe00) == 0xfc00
                || (s[0] & 0xffc0) == 0xfe80
                || (s[0] == 0x2001 && s[1] == 0x0db8))
        }
    }
}

/// The `wasi:http` hooks of one handler call.
pub(crate) struct NetFilter {
    component: String,
    allowed: Vec<Allowed>,
    audit: Arc<AuditLog>,
    deadline: Instant,
    response_limit: u64,
}

impl NetFilter {
    pub(crate) fn new(ctx: &ComponentCtx, limits: &Limits) -> NetFilter {
        NetFilter {
            component: ctx.name.clone(),
            allowed: ctx
                .network_hosts
                .iter()
                .filter_map(|h| parse_allowed(h))
                .collect(),
            audit: ctx.env.audit.clone(),
            deadline: Instant::now() + Duration::from_millis(limits.wall_ms.into()),
            response_limit: ctx.output_limit as u64,
        }
    }
}

fn record(audit: &AuditLog, component: &str, detail: String, outcome: Outcome) {
    let mut ev = Event::access(component, "connect");
    ev.detail = Some(detail);
    ev.outcome = Some(outcome);
    audit.record(ev);
}

type Sent = Result<
    (
        http::Response<WasiBody>,
        Box<dyn Future<Output = Result<(), Error>> + Send>,
    ),
    Error,
>;

impl WasiHttpHooks for NetFilter {
    fn send_request(
        &mut self,
        mut request: http::Request<WasiBody>,
        options: Option<RequestOptions>,
        fut: Box<dyn Future<Output = Result<(), Error>> + Send>,
    ) -> Box<dyn Future<Output = Sent> + Send> {
        drop(fut);
        let component = self.component.clone();
        let audit = self.audit.clone();
        let allowed = self.allowed.clone();
        let deadline = self.deadline;
        let limit = self.response_limit;
        Box::new(async move {
            let uri = request.uri().clone();
            let https = uri.scheme() == Some(&Scheme::HTTPS);
            let host = uri
                .host()
                .unwrap_or("")
                .trim_matches(|c| c == '[' || c == ']')
                .to_ascii_lowercase();
            let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });
            let what = format!(
                "{} {}://{host}:{port}",
                request.method(),
                if https { "https" } else { "http" }
            );
            let Some(rule) = allowed
                .iter()
                .find(|a| a.host == host && a.port == port && (https || !a.https_only))
            else {
                record(
                    &audit,
                    &component,
                    format!("{what}: not a host in its manifest"),
                    Outcome::Refused,
                );
                return Err(Error::HttpRequestDenied);
            };
            let remaining = deadline.saturating_duration_since(Instant::now());
            let addrs: Vec<SocketAddr> =
                match tokio::time::timeout(remaining, tokio::net::lookup_host((host.as_str(), port))).await {
                    Ok(Ok(a)) => a.collect(),
                    _ => {
                        record(
                            &audit,
                            &component,
                            format!("{what}: the name did not resolve"),
                            Outcome::Failed,
                        );
                        return Err(Error::DestinationNotFound);
                    }
                };
            let Some(addr) = addrs.first().copied() else {
                return Err(Error::DestinationNotFound);
            };
            if !rule.literal && addrs.iter().any(|a| !is_public(a.ip())) {
                record(
                    &audit,
                    &component,
                    format!("{what}: the name resolves to a private address"),
                    Outcome::Refused,
                );
                return Err(Error::DestinationIpProhibited);
            }
            if !https {
                // Connect to the address just checked; the Host header keeps the name.
                let authority = Authority::try_from(addr.to_string().as_str())
                    .map_err(|_| Error::HttpRequestUriInvalid)?;
                let mut parts = uri.into_parts();
                parts.authority = Some(authority);
                *request.uri_mut() =
                    http::Uri::from_parts(parts).map_err(|_| Error::HttpRequestUriInvalid)?;
            }
            let cap = |d: Option<Duration>| Some(d.unwrap_or(remaining).min(remaining));
            let options = RequestOptions {
                connect_timeout: cap(options.and_then(|o| o.connect_timeout)),
                first_byte_timeout: cap(options.and_then(|o| o.first_byte_timeout)),
                between_bytes_timeout: cap(options.and_then(|o| o.between_bytes_timeout)),
            };
            let (response, io) = match wasmtime_wasi_http::default_send_request(request, Some(options)).await
            {
                Ok(r) => r,
                Err(e) => {
                    record(&audit, &component, format!("{what}: {e}"), Outcome::Failed);
                    return Err(e);
                }
            };
            record(
                &audit,
                &component,
                format!("{what}: {}", response.status()),
                Outcome::Ok,
            );
            let response = response.map(|body| {
                http_body_util::Limited::new(body, limit as usize)
                    .map_err(move |e| match e.downcast::<Error>() {
                        Ok(e) => *e,
                        Err(_) => Error::HttpResponseBodySize(Some(limit)),
                    })
                    .boxed_unsync()
            });
            Ok((
                response,
                Box::new(io) as Box<dyn Future<Output = Result<(), Error>> + Send>,
            ))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manifest_hosts_parse_into_rules() {
        let a = parse_allowed("api.example.org").unwrap();
        assert_eq!(
            (a.host.as_str(), a.port, a.https_only, a.literal),
            ("api.example.org", 443, true, false)
        );
        let b = parse_allowed("127.0.0.1:8080").unwrap();
        assert_eq!((b.port, b.https_only, b.literal), (8080, false, true));
        let c = parse_allowed("[::1]:9").unwrap();
        assert_eq!((c.host.as_str(), c.literal), ("::1", true));
    }

    #[test]
    fn only_public_addresses_pass() {
        for private in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "::1",
            "fd00::1",
            "fe80::1",
            "::ffff:10.0.0.1",
            "224.0.0.1",
        ] {
            assert!(!is_public(private.parse().unwrap()), "{private}");
        }
        for public in ["1.1.1.1", "93.184.216.34", "2606:4700::1111"] {
            assert!(is_public(public.parse().unwrap()), "{public}");
        }
    }
}
