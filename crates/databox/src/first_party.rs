//! The first-party components (`components/` in the repository), built for wasm32-wasip2 by
//! `build.rs` and embedded in this binary, so a box can install them by name.

use std::collections::BTreeMap;

use databox_runtime::{InstallRequest, Supervisor};

pub use databox_api::dashboard::FirstParty;

include!(concat!(env!("OUT_DIR"), "/first_party.rs"));

/// The first-party component called `name`.
pub fn find(name: &str) -> Option<&'static FirstParty> {
    ALL.iter().find(|c| c.name == name)
}

/// Their names.
pub fn names() -> Vec<&'static str> {
    ALL.iter().map(|c| c.name).collect()
}

/// On a demo box's first start: the host-metrics driver, and the hourly chart of the demo
/// temperatures. A failure is reported and the box goes on without it.
pub fn install_demo(components: &Supervisor) {
    let plans: [(&str, &[(&str, &str)]); 2] = [
        ("host-metrics", &[]),
        ("hourly-chart", &[("source", "demo/temperature")]),
    ];
    for (name, mapping) in plans {
        let Some(fp) = find(name) else { continue };
        let req = InstallRequest {
            mapping: mapping
                .iter()
                .map(|(k, v)| ((*k).to_owned(), Some((*v).to_owned())))
                .collect::<BTreeMap<_, _>>(),
            start: true,
            ..InstallRequest::default()
        };
        match components.install(fp.manifest, fp.wasm, &req) {
            Ok(info) => println!("Installed the demo {} {}", info.kind, info.name),
            Err(e) => eprintln!("warning: could not install the demo component {name}: {e}"),
        }
    }
}
