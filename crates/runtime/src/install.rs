//! Installing a component: what its manifest asks for is shown to the owner, who maps each
//! requested kind of data to a concrete datasource (or declines an optional one); the choices
//! become a principal, grants and a token, and the component gets its own store. Upgrading a
//! component that asks for more needs a new approval.

use std::collections::BTreeMap;

use databox_arbiter::{Arbiter, Grant, Granularity, Operation, PrincipalId, PrincipalKind};
use databox_store::{BOX_STORE, DatasourceId, DatasourceKind, HOST_METRICS, StoreId, Stores};

use crate::manifest::{ANY_TYPE, Kind, Manifest, Requested};

/// Why an install could not be done; nothing of it remains.
#[derive(Debug, thiserror::Error)]
pub enum InstallError {
    /// The owner's choices do not fit the manifest or the box.
    #[error("{0}")]
    Choice(String),
    /// The arbiter refused (e.g. the component is installed already).
    #[error(transparent)]
    Arbiter(#[from] databox_arbiter::ArbiterError),
    /// The store refused.
    #[error(transparent)]
    Store(#[from] databox_store::StoreError),
}

/// The datasources that could serve one request: same kind of data, same store type.
#[derive(Clone, Debug, PartialEq)]
pub struct Candidates {
    /// The request's name in the manifest.
    pub request: String,
    /// Whether the component needs it.
    pub required: bool,
    /// `(store, datasource)` pairs that match.
    pub matches: Vec<(StoreId, DatasourceId)>,
}

/// The owner's answers to a manifest: for each request a datasource, or `None` to decline.
#[derive(Clone, Debug, Default)]
pub struct Choices {
    /// Request name → the datasource that serves it.
    pub mapping: BTreeMap<String, Option<(StoreId, DatasourceId)>>,
}

/// What an install created.
#[derive(Debug)]
pub struct Installed {
    /// The component's principal.
    pub principal: PrincipalId,
    /// Its own store.
    pub store: StoreId,
    /// The grants its choices became.
    pub grants: Vec<Grant>,
    /// The token the runtime runs it with (shown nowhere, kept by the runtime).
    pub token: String,
}

/// Finds the datasources that could serve each request of `m`.
pub fn candidates(m: &Manifest, stores: &Stores) -> Vec<Candidates> {
    m.requests
        .iter()
        .map(|r| {
            let kind = DatasourceKind::parse(&r.store_type).ok();
            let mut matches = Vec::new();
            for s in stores.list() {
                for d in s.datasources() {
                    if serves(r, &d.meta.data_type)
                        && Some(d.meta.kind) == kind
                        && let Ok(id) = DatasourceId::new(d.id.clone())
                    {
                        matches.push((s.id().clone(), id));
                    }
                }
            }
            Candidates {
                request: r.name.clone(),
                required: r.required,
                matches,
            }
        })
        .collect()
}

/// Whether data of `data_type` can serve request `r`.
fn serves(r: &Requested, data_type: &str) -> bool {
    r.data_type == ANY_TYPE || r.data_type == data_type
}

fn operation(op: &str) -> Operation {
    Operation::parse(op).expect("validated by the manifest")
}

/// Checks the owner's `choices` against `m` and the box, changing nothing: every mapped request
/// names a datasource of the right kind, every required one is mapped.
pub fn check_choices(m: &Manifest, choices: &Choices, stores: &Stores) -> Result<(), InstallError> {
    for name in choices.mapping.keys() {
        if !m.requests.iter().any(|r| &r.name == name) {
            return Err(InstallError::Choice(format!(
                "the manifest requests nothing called {name:?}"
            )));
        }
    }
    for r in &m.requests {
        match choices.mapping.get(&r.name) {
            Some(Some((store, ds))) => {
                let d = stores.get(store)?.datasource(ds)?;
                if !serves(r, &d.meta.data_type)
                    || Some(d.meta.kind) != DatasourceKind::parse(&r.store_type).ok()
                {
                    return Err(InstallError::Choice(format!(
                        "{store}/{ds} holds {} ({}), but {:?} asks for {} ({})",
                        d.meta.data_type,
                        d.meta.kind.as_str(),
                        r.name,
                        r.data_type,
                        r.store_type
                    )));
                }
            }
            _ if r.required => {
                return Err(InstallError::Choice(format!(
                    "{:?} is required: choose a datasource with {} data for it",
                    r.name, r.data_type
                )));
            }
            _ => {}
        }
    }
    Ok(())
}

/// The purpose of the grant to read `box/host-metrics`, made for a manifest with
/// `[host] metrics = true`.
pub const MEASURE_THE_MACHINE: &str = "measure the box's machine (load, memory, disk)";

/// Grants `principal` to read `box/host-metrics`: the owner's approval of a manifest's
/// `[host] metrics = true`, checked at every measurement and revocable like any grant.
pub fn grant_measuring_the_machine(
    arbiter: &Arbiter,
    principal: &PrincipalId,
) -> Result<Grant, InstallError> {
    Ok(arbiter.grant(
        principal,
        Operation::Read,
        &StoreId::new(BOX_STORE)?,
        Some(&DatasourceId::new(HOST_METRICS)?),
        (None, None),
        None,
        Granularity::Raw,
        MEASURE_THE_MACHINE,
    )?)
}

/// Installs `m` with the owner's `choices`: registers the principal, creates its store and the
/// datasources it provides, turns each mapped request into grants, and mints its token. On any
/// failure, everything done so far is undone.
pub fn install(
    m: &Manifest,
    choices: &Choices,
    stores: &Stores,
    arbiter: &Arbiter,
) -> Result<Installed, InstallError> {
    check_choices(m, choices, stores)?;
    let principal = PrincipalId::new(m.component.name.clone())?;
    let store = StoreId::new(m.component.name.clone())?;
    let kind = if m.component.kind == Kind::App {
        PrincipalKind::App
    } else {
        PrincipalKind::Driver
    };
    arbiter.add_principal(principal.clone(), kind, &m.component.description)?;
    let created_store = stores.get(&store).is_err();
    let result = (|| {
        if created_store {
            stores.create(&store, &format!("The store of {}", m.component.name))?;
        }
        let own = stores.get(&store)?;
        for p in &m.provides {
            let meta = m.provided_meta(p).map_err(InstallError::Choice)?;
            own.upsert_datasource(DatasourceId::new(p.id.clone())?, meta)?
                .wait()?;
        }
        let mut grants = Vec::new();
        for op in [Operation::Read, Operation::Observe, Operation::Write] {
            grants.push(arbiter.grant(
                &principal,
                op,
                &store,
                None,
                (None, None),
                None,
                Granularity::Raw,
                "its own store",
            )?);
        }
        if m.host.metrics {
            grants.push(grant_measuring_the_machine(arbiter, &principal)?);
        }
        for r in &m.requests {
            let Some(Some((s, d))) = choices.mapping.get(&r.name) else {
                continue;
            };
            let granularity = Granularity::parse(r.granularity.as_deref().unwrap_or("raw"))?;
            for op in &r.operations {
                let op = operation(op);
                let g = if op == Operation::Read {
                    granularity
                } else {
                    Granularity::Raw
                };
                grants.push(arbiter.grant(&principal, op, s, Some(d), (None, None), None, g, &r.purpose)?);
            }
        }
        let (_, token) = arbiter.mint(
            &principal,
            &format!("runtime token of {}", m.component.name),
            None,
        )?;
        Ok(Installed {
            principal: principal.clone(),
            store: store.clone(),
            grants,
            token,
        })
    })();
    if result.is_err() {
        let _ = arbiter.remove_principal(&principal);
        if created_store {
            let _ = stores.erase(&store);
        }
    }
    result
}

/// Takes back what an upgrade that needed no approval no longer asks for, and returns what it
/// took back in words for the owner.
///
/// Only the grants the old version's requests became are touched (same operation, mapped
/// datasource and purpose; grants the owner made by hand are left alone): a request or an
/// operation the new version dropped loses its grant, a read whose finest data became coarser
/// is granted again at the new granularity, and `box/host-metrics` goes when the new version no
/// longer measures the machine.
pub fn shrink_grants(
    old: &Manifest,
    new: &Manifest,
    mapping: &BTreeMap<String, Option<(StoreId, DatasourceId)>>,
    arbiter: &Arbiter,
    principal: &PrincipalId,
) -> Result<Vec<String>, InstallError> {
    let grants = arbiter.grants(Some(principal.as_str()));
    let mut taken = Vec::new();
    for r in &old.requests {
        let Some(Some((store, ds))) = mapping.get(&r.name) else {
            continue;
        };
        let kept = new.requests.iter().find(|n| n.name == r.name);
        for op_name in &r.operations {
            let op = operation(op_name);
            let wanted = match kept.filter(|n| n.operations.contains(op_name)) {
                Some(n) if op == Operation::Read => {
                    Some((Granularity::parse(n.granularity.as_deref().unwrap_or("raw"))?, n))
                }
                Some(n) => Some((Granularity::Raw, n)),
                None => None,
            };
            let made_for_it = grants.iter().filter(|g| {
                g.operation == op
                    && g.store == store.as_str()
                    && g.datasource.as_deref() == Some(ds.as_str())
                    && g.purpose == r.purpose
            });
            for g in made_for_it {
                if wanted.is_some_and(|(granularity, _)| granularity == g.granularity) {
                    continue;
                }
                arbiter.revoke_grant(&g.id)?;
                match wanted {
                    Some((granularity, n)) => {
                        arbiter.grant(
                            principal,
                            op,
                            store,
                            Some(ds),
                            (None, None),
                            None,
                            granularity,
                            &n.purpose,
                        )?;
                        taken.push(format!(
                            "{}: {} {store}/{ds} now only {}",
                            r.name,
                            op.as_str(),
                            n.granularity.as_deref().unwrap_or("raw")
                        ));
                    }
                    None => taken.push(format!("{}: no longer {} {store}/{ds}", r.name, op.as_str())),
                }
            }
        }
    }
    if old.host.metrics && !new.host.metrics {
        for g in grants.iter().filter(|g| {
            g.store == BOX_STORE
                && g.datasource.as_deref() == Some(HOST_METRICS)
                && g.purpose == MEASURE_THE_MACHINE
        }) {
            arbiter.revoke_grant(&g.id)?;
            taken.push(format!("no longer {MEASURE_THE_MACHINE}"));
        }
    }
    Ok(taken)
}

/// What a new version asks for beyond the installed one, in plain language; empty when the
/// upgrade needs no new approval.
pub fn new_asks(old: &Manifest, new: &Manifest) -> Vec<String> {
    let mut asks = Vec::new();
    if new.component.kind != old.component.kind {
        asks.push(format!(
            "its kind changes from {} to {}",
            old.component.kind.as_str(),
            new.component.kind.as_str()
        ));
    }
    if new.host.metrics && !old.host.metrics {
        asks.push(format!("to {MEASURE_THE_MACHINE}"));
    }
    let rank = |g: Option<&str>| match g {
        Some("hourly") => 0,
        Some("aggregates") => 1,
        _ => 2,
    };
    for r in &new.requests {
        match old.requests.iter().find(|o| o.name == r.name) {
            None => asks.push(format!("new data: {} ({})", r.name, r.data_type)),
            Some(o) => {
                if o.data_type != r.data_type || o.store_type != r.store_type {
                    asks.push(format!(
                        "{} now wants {} data ({}) instead of {} ({})",
                        r.name, r.data_type, r.store_type, o.data_type, o.store_type
                    ));
                }
                for op in r.operations.iter().filter(|op| !o.operations.contains(op)) {
                    asks.push(format!("{}: also {op}", r.name));
                }
                if rank(r.granularity.as_deref()) > rank(o.granularity.as_deref()) {
                    asks.push(format!("{}: finer data than before", r.name));
                }
                if r.required && !o.required {
                    asks.push(format!("{} is now required", r.name));
                }
                // The owner approved the data for a stated use; another use is a new approval.
                if r.purpose != o.purpose {
                    asks.push(format!("{}: a new purpose: {}", r.name, r.purpose));
                }
            }
        }
    }
    for e in &new.exports {
        match old.exports.iter().find(|o| o.destination == e.destination) {
            None => asks.push(format!("a new export destination: {}", e.destination)),
            Some(o) if e.max_bytes > o.max_bytes || e.per_hour > o.per_hour => asks.push(format!(
                "larger or more frequent exports to {}: up to {} bytes, {} an hour (was {} bytes, {} an hour)",
                e.destination, e.max_bytes, e.per_hour, o.max_bytes, o.per_hour
            )),
            Some(o) if e.purpose != o.purpose => asks.push(format!(
                "a new purpose for exports to {}: {}",
                e.destination, e.purpose
            )),
            Some(_) => {}
        }
    }
    for h in &new.network.hosts {
        if !old.network.hosts.contains(h) {
            asks.push(format!("a new host to connect to: {h}"));
        }
    }
    let (o, n) = (&old.limits, &new.limits);
    if n.memory_mb > o.memory_mb || n.cpu_ms > o.cpu_ms || n.wall_ms > o.wall_ms || n.output_kb > o.output_kb
    {
        asks.push("higher resource limits".into());
    }
    asks
}
