//! The WIT worlds in `wit/` parse, and each world imports exactly what DESIGN §3 allows it.

use wit_parser::{Resolve, WorldItem};

fn imports(resolve: &Resolve, world: &str) -> Vec<String> {
    let pkg = resolve
        .packages
        .iter()
        .find(|(_, p)| p.name.name == "component")
        .expect("package")
        .0;
    let id = resolve.select_world(&[pkg], Some(world)).expect("world");
    let mut names: Vec<String> = resolve.worlds[id]
        .imports
        .values()
        .filter_map(|item| match item {
            WorldItem::Interface { id, .. } => resolve.interfaces[*id].name.clone(),
            _ => None,
        })
        .collect();
    names.sort();
    names
}

#[test]
fn worlds_parse_and_grant_only_their_imports() {
    let mut resolve = Resolve::new();
    let wit = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../wit");
    resolve.push_dir(&wit).expect("the WIT files parse");
    // `types` comes in through `use`; the rest are what each world may call.
    assert_eq!(
        imports(&resolve, "app"),
        ["config", "data-export", "datastore", "log", "types"]
    );
    assert_eq!(
        imports(&resolve, "driver"),
        ["config", "datastore", "log", "types"]
    );
    assert_eq!(
        imports(&resolve, "host-driver"),
        ["config", "datastore", "host-metrics", "log", "types"]
    );
}
