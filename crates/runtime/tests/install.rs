//! Installing the chart app: candidates by kind of data, the owner's choices become exactly the
//! grants asked for, a bad choice leaves nothing behind, and an upgrade that asks for more says so.

use std::sync::Arc;

use databox_arbiter::{Arbiter, Caller, DataRequest, Granularity, Operation};
use databox_runtime::Manifest;
use databox_runtime::install::{Choices, candidates, install, new_asks};
use databox_store::query::parse_read;
use databox_store::{DatasourceId, DatasourceKind, DatasourceMeta, MasterKeySource, StoreId, Stores};

fn manifest(name: &str) -> Manifest {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/manifests/good")
        .join(name);
    Manifest::parse(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn setup() -> (tempfile::TempDir, Stores, Arc<Arbiter>) {
    let dir = tempfile::tempdir().unwrap();
    let stores = Stores::open(dir.path(), &MasterKeySource::KeyFile).unwrap();
    let (arbiter, _) = Arbiter::open(dir.path()).unwrap();
    let home = stores.create(&StoreId::new("home").unwrap(), "").unwrap();
    for (id, ty) in [
        ("lounge-temp", "temperature"),
        ("kitchen-temp", "temperature"),
        ("lounge-hum", "humidity"),
    ] {
        let mut meta = DatasourceMeta::of_kind(DatasourceKind::Numeric);
        meta.data_type = ty.into();
        home.upsert_datasource(DatasourceId::new(id).unwrap(), meta)
            .unwrap()
            .wait()
            .unwrap();
    }
    (dir, stores, Arc::new(arbiter))
}

fn ds(store: &str, ds: &str) -> Option<(StoreId, DatasourceId)> {
    Some((StoreId::new(store).unwrap(), DatasourceId::new(ds).unwrap()))
}

#[test]
fn choices_become_exactly_the_grants_asked_for() {
    let (_dir, stores, arbiter) = setup();
    let m = manifest("hourly-chart.toml");
    let c = candidates(&m, &stores);
    assert_eq!(c[0].matches.len(), 2, "two temperature series to choose from");
    assert_eq!(c[1].matches.len(), 1);

    let mut choices = Choices::default();
    choices
        .mapping
        .insert("source".into(), ds("home", "kitchen-temp"));
    choices
        .mapping
        .insert("humidity".into(), ds("home", "lounge-hum"));
    let installed = install(&m, &choices, &stores, &arbiter).unwrap();
    assert_eq!(installed.store.as_str(), "hourly-chart");
    assert!(
        stores
            .get(&installed.store)
            .unwrap()
            .datasource(&DatasourceId::new("hourly-stats").unwrap())
            .is_ok()
    );

    let caller = arbiter.authenticate(Some(&installed.token)).unwrap();
    assert!(matches!(caller, Caller::Principal(_)));
    let home = StoreId::new("home").unwrap();
    let check = |op, d: &str, q: Option<&str>| {
        let q = q.map(|q| parse_read(&q.split('/').map(str::to_owned).collect::<Vec<_>>()).unwrap());
        let ds = [DatasourceId::new(d).unwrap()];
        arbiter.authorize(
            &caller,
            &DataRequest {
                operation: op,
                store: &home,
                datasources: &ds,
                read: q.as_ref(),
            },
        )
    };
    assert!(check(Operation::Read, "kitchen-temp", Some("last/5")).is_ok());
    assert!(check(Operation::Observe, "kitchen-temp", None).is_ok());
    assert!(
        check(Operation::Write, "kitchen-temp", None).is_err(),
        "it asked to read and observe only"
    );
    assert!(
        check(Operation::Read, "lounge-temp", Some("last/5")).is_err(),
        "the owner chose the kitchen"
    );
    assert!(check(Operation::Read, "lounge-hum", Some("hourly/last/5")).is_ok());
    assert!(
        check(Operation::Read, "lounge-hum", Some("last/5")).is_err(),
        "humidity is hourly only"
    );
    let humidity_grant = installed
        .grants
        .iter()
        .find(|g| g.datasource.as_deref() == Some("lounge-hum"))
        .unwrap();
    assert_eq!(humidity_grant.granularity, Granularity::Hourly);
    assert_eq!(humidity_grant.purpose, "add humidity to the chart");

    // Installing twice is refused.
    assert!(install(&m, &choices, &stores, &arbiter).is_err());
}

#[test]
fn a_bad_choice_is_refused_and_leaves_nothing_behind() {
    let (_dir, stores, arbiter) = setup();
    let m = manifest("hourly-chart.toml");
    let mut choices = Choices::default();
    choices.mapping.insert("source".into(), ds("home", "lounge-hum"));
    let err = install(&m, &choices, &stores, &arbiter).unwrap_err().to_string();
    assert!(
        err.contains("holds humidity") && err.contains("asks for temperature"),
        "{err}"
    );
    let mut missing = Choices::default();
    missing
        .mapping
        .insert("humidity".into(), ds("home", "lounge-hum"));
    let err = install(&m, &missing, &stores, &arbiter).unwrap_err().to_string();
    assert!(err.contains("\"source\" is required"), "{err}");
    assert!(arbiter.principals().is_empty());
    assert!(stores.get(&StoreId::new("hourly-chart").unwrap()).is_err());
    // Declining the optional request is fine.
    let mut minimal = Choices::default();
    minimal.mapping.insert("source".into(), ds("home", "lounge-temp"));
    minimal.mapping.insert("humidity".into(), None);
    assert!(install(&m, &minimal, &stores, &arbiter).is_ok());
}

#[test]
fn an_upgrade_that_asks_for_more_needs_a_new_approval() {
    let old = manifest("hourly-chart.toml");
    assert!(new_asks(&old, &old).is_empty());
    let text = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/manifests/good/hourly-chart.toml"),
    )
    .unwrap()
    .replace("version = \"1.0.0\"", "version = \"1.1.0\"")
    .replace(
        "operations = [\"read\", \"observe\"]",
        "operations = [\"read\", \"observe\", \"write\"]",
    )
    .replace("granularity = \"hourly\"", "granularity = \"raw\"")
    .replace(
        "https://research.example.org/upload/",
        "https://elsewhere.example.com/",
    )
    .replace("[[provides]]", "[limits]\nmemory_mb = 512\n\n[[provides]]");
    let new = Manifest::parse(&text).unwrap();
    let asks = new_asks(&old, &new).join("\n");
    for expected in [
        "source: also write",
        "humidity: finer data than before",
        "a new export destination: https://elsewhere.example.com/",
        "higher resource limits",
    ] {
        assert!(asks.contains(expected), "{expected} missing from:\n{asks}");
    }

    // Sending more, or more often, to an approved destination is asked for too.
    let more = Manifest::parse(
        &std::fs::read_to_string(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/manifests/good/hourly-chart.toml"),
        )
        .unwrap()
        .replace("per_hour = 1", "per_hour = 100"),
    )
    .unwrap();
    assert_eq!(
        new_asks(&old, &more),
        [
            "larger or more frequent exports to https://research.example.org/upload/: up to 4096 bytes, \
          100 an hour (was 4096 bytes, 1 an hour)"
        ]
    );
}

#[test]
fn an_upgrade_of_a_driver_that_starts_measuring_the_machine_or_changes_kind_needs_a_new_approval() {
    let old = manifest("host-metrics.toml");
    assert!(new_asks(&old, &old).is_empty());
    let text = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/manifests/good/host-metrics.toml"),
    )
    .unwrap();
    let measuring =
        Manifest::parse(&text.replace("[schedule]", "[host]\nmetrics = true\n\n[schedule]")).unwrap();
    assert_eq!(
        new_asks(&old, &measuring),
        ["to measure the box's machine (load, memory, disk)"]
    );
    assert!(
        new_asks(&measuring, &old).is_empty(),
        "asking for less needs no approval"
    );
    let app = Manifest::parse(&text.replace("kind = \"driver\"", "kind = \"app\"")).unwrap();
    assert_eq!(new_asks(&old, &app), ["its kind changes from driver to app"]);
}
