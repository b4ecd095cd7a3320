//! The `data-export` import (apps only): the destination must be one the owner approved in the
//! app's manifest at install. Delivery itself is the export service's (not built yet), so an
//! approved send is refused as unavailable and nothing leaves the box; every attempt is audited.

use databox_audit::{Event, Outcome};

use super::HostState;
use super::bindings::databox::component::data_export::Host;
use super::bindings::databox::component::types::Error;

/// Whether `destination` is `approved` exactly, or lies under an approved prefix ending in `/`.
/// The URL is normalised first, so `..` segments cannot climb out of a prefix.
pub(crate) fn is_approved(approved: &str, destination: &str) -> bool {
    let Ok(url) = url::Url::parse(destination) else {
        return false;
    };
    if !url.username().is_empty() || url.password().is_some() {
        return false;
    }
    let normal = url.as_str();
    normal == approved || (approved.ends_with('/') && normal.starts_with(approved))
}

impl Host for HostState {
    fn send(&mut self, destination: String, content_type: String, body: Vec<u8>) -> Result<String, Error> {
        let mut ev = Event::access(&self.ctx.name, "export");
        ev.detail = Some(format!("{} bytes of {content_type} to {destination}", body.len()));
        if body.len() > self.ctx.output_limit {
            ev.outcome = Some(Outcome::Refused);
            self.ctx.env.audit.record(ev);
            return Err(Error::TooLarge(format!(
                "the body is over the app's limit of {} bytes",
                self.ctx.output_limit
            )));
        }
        let approved = self
            .ctx
            .export_destinations
            .iter()
            .any(|a| is_approved(a, &destination));
        if !approved {
            ev.outcome = Some(Outcome::Refused);
            ev.detail = Some(format!("{destination} is not a destination the owner approved"));
            self.ctx.env.audit.record(ev);
            return Err(Error::Denied(format!(
                "{destination} is not a destination the owner approved for this app"
            )));
        }
        ev.outcome = Some(Outcome::Failed);
        ev.detail = Some(format!(
            "{} (not sent: the export service is not built yet)",
            ev.detail.unwrap_or_default()
        ));
        self.ctx.env.audit.record(ev);
        Err(Error::Unavailable(
            "the export service is not built yet: nothing was sent".into(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::is_approved;

    #[test]
    fn destinations_match_exactly_or_under_a_prefix() {
        let prefix = "https://research.example.org/upload/";
        assert!(is_approved(prefix, "https://research.example.org/upload/a/b"));
        assert!(is_approved("https://x.example/one", "https://x.example/one"));
        assert!(!is_approved("https://x.example/one", "https://x.example/one/two"));
        assert!(!is_approved(
            prefix,
            "https://research.example.org/upload/../admin"
        ));
        assert!(!is_approved(
            prefix,
            "https://research.example.org.evil.example/upload/"
        ));
        assert!(!is_approved(
            prefix,
            "https://user:pw@research.example.org/upload/x"
        ));
        assert!(!is_approved(prefix, "not a url"));
    }
}
