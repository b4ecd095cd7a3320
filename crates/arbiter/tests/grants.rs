//! The one check: grants with operations, datasources, windows, expiry and granularity; tokens
//! that survive a restart and stop at once when revoked.

use databox_arbiter::{
    Arbiter, Attenuation, Caller, DataRequest, Granularity, Operation, PrincipalId, PrincipalKind,
};
use databox_store::query::parse_read;
use databox_store::{DatasourceId, ReadQuery, StoreId};

fn q(path: &str) -> ReadQuery {
    parse_read(&path.split('/').map(str::to_owned).collect::<Vec<_>>()).unwrap()
}

fn req<'a>(
    op: Operation,
    store: &'a StoreId,
    ds: &'a [DatasourceId],
    read: Option<&'a ReadQuery>,
) -> DataRequest<'a> {
    DataRequest {
        operation: op,
        store,
        datasources: ds,
        read,
    }
}

struct Setup {
    _dir: tempfile::TempDir,
    arbiter: Arbiter,
    token: String,
    app: PrincipalId,
}

fn setup() -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let (arbiter, _) = Arbiter::open(dir.path()).unwrap();
    let app = PrincipalId::new("chart-app").unwrap();
    arbiter
        .add_principal(app.clone(), PrincipalKind::App, "Draws charts")
        .unwrap();
    let (_, token) = arbiter.mint(&app, "test", None).unwrap();
    Setup {
        _dir: dir,
        arbiter,
        token,
        app,
    }
}

#[test]
fn nothing_is_allowed_without_a_grant_and_a_grant_allows_exactly_its_scope() {
    let s = setup();
    let caller = s.arbiter.authenticate(Some(&s.token)).unwrap();
    let home = StoreId::new("home").unwrap();
    let temp = [DatasourceId::new("temp").unwrap()];
    let other = [DatasourceId::new("other").unwrap()];
    let latest = q("latest");
    let denied = s
        .arbiter
        .authorize(&caller, &req(Operation::Read, &home, &temp, Some(&latest)))
        .unwrap_err();
    assert_eq!(denied.status, 403);
    assert!(
        denied.reason.contains("no grant to read home/temp"),
        "{}",
        denied.reason
    );

    s.arbiter
        .grant(
            &s.app,
            Operation::Read,
            &home,
            Some(&temp[0]),
            (None, None),
            None,
            Granularity::Raw,
            "charts",
        )
        .unwrap();
    assert!(
        s.arbiter
            .authorize(&caller, &req(Operation::Read, &home, &temp, Some(&latest)))
            .is_ok()
    );
    assert!(
        s.arbiter
            .authorize(&caller, &req(Operation::Write, &home, &temp, None))
            .is_err()
    );
    assert!(
        s.arbiter
            .authorize(&caller, &req(Operation::Read, &home, &other, Some(&latest)))
            .is_err()
    );
    let both = [temp[0].clone(), other[0].clone()];
    assert!(
        s.arbiter
            .authorize(&caller, &req(Operation::Read, &home, &both, Some(&latest)))
            .is_err()
    );
}

#[test]
fn granularity_is_enforced_with_a_message_saying_what_is_allowed() {
    let s = setup();
    let caller = s.arbiter.authenticate(Some(&s.token)).unwrap();
    let home = StoreId::new("home").unwrap();
    let ds = [DatasourceId::new("power").unwrap()];
    s.arbiter
        .grant(
            &s.app,
            Operation::Read,
            &home,
            None,
            (None, None),
            None,
            Granularity::Hourly,
            "",
        )
        .unwrap();
    let check = |path: &str| {
        s.arbiter
            .authorize(&caller, &req(Operation::Read, &home, &ds, Some(&q(path))))
    };
    assert!(check("hourly/last/24").is_ok());
    assert!(check("hourly/since/0/mean").is_ok());
    let err = check("last/24").unwrap_err();
    assert!(err.reason.contains("hourly statistics only"), "{}", err.reason);
    assert!(check("since/0/mean").is_err());

    let s = setup();
    let caller = s.arbiter.authenticate(Some(&s.token)).unwrap();
    s.arbiter
        .grant(
            &s.app,
            Operation::Read,
            &home,
            None,
            (None, None),
            None,
            Granularity::Aggregates,
            "",
        )
        .unwrap();
    let check = |path: &str| {
        s.arbiter
            .authorize(&caller, &req(Operation::Read, &home, &ds, Some(&q(path))))
    };
    assert!(check("since/0/mean").is_ok());
    assert!(check("length").is_ok());
    assert!(check("range/0/3600000/sum").is_ok());
    for finer in [
        "latest",
        "latest/mean",
        "last/5/sum",
        "range/0/1000/mean",
        "since/0",
    ] {
        let err = check(finer).unwrap_err();
        assert!(err.reason.contains("aggregates only"), "{finer}: {}", err.reason);
    }
}

#[test]
fn the_time_window_narrows_reads_and_refuses_explicit_ranges_outside_it() {
    let s = setup();
    let caller = s.arbiter.authenticate(Some(&s.token)).unwrap();
    let home = StoreId::new("home").unwrap();
    let ds = [DatasourceId::new("power").unwrap()];
    s.arbiter
        .grant(
            &s.app,
            Operation::Read,
            &home,
            None,
            (Some(1000), Some(5000)),
            None,
            Granularity::Raw,
            "",
        )
        .unwrap();
    let check = |path: &str| {
        s.arbiter
            .authorize(&caller, &req(Operation::Read, &home, &ds, Some(&q(path))))
    };
    assert_eq!(check("last/10").unwrap().window, Some((1000, 5000)));
    assert!(check("range/1000/5000").is_ok());
    let err = check("range/0/2000").unwrap_err();
    assert!(err.reason.contains("outside the time window"), "{}", err.reason);
    assert!(check("since/500").is_err());
}

#[test]
fn expired_grants_and_tokens_stop_working() {
    let s = setup();
    let home = StoreId::new("home").unwrap();
    let ds = [DatasourceId::new("power").unwrap()];
    // Token times have one-second resolution.
    let past = databox_arbiter::tokens::now_ms() - 2000;
    s.arbiter
        .grant(
            &s.app,
            Operation::Write,
            &home,
            None,
            (None, None),
            Some(past),
            Granularity::Raw,
            "",
        )
        .unwrap();
    let caller = s.arbiter.authenticate(Some(&s.token)).unwrap();
    assert!(
        s.arbiter
            .authorize(&caller, &req(Operation::Write, &home, &ds, None))
            .is_err()
    );

    let (_, short) = s.arbiter.mint(&s.app, "short-lived", Some(past)).unwrap();
    let caller = s.arbiter.authenticate(Some(&short)).unwrap();
    let err = s
        .arbiter
        .authorize(&caller, &req(Operation::Write, &home, &ds, None))
        .unwrap_err();
    assert_eq!((err.status, err.reason.as_str()), (401, "this token has expired"));
}

#[test]
fn tokens_survive_a_restart_and_revocation_takes_effect_on_the_next_request() {
    let s = setup();
    let home = StoreId::new("home").unwrap();
    let ds = [DatasourceId::new("power").unwrap()];
    s.arbiter
        .grant(
            &s.app,
            Operation::Read,
            &home,
            None,
            (None, None),
            None,
            Granularity::Raw,
            "",
        )
        .unwrap();
    let latest = q("latest");
    let narrowed = s
        .arbiter
        .attenuate(
            &s.token,
            &Attenuation {
                operations: vec![Operation::Read],
                resources: vec!["home/power".into()],
                expires: None,
            },
        )
        .unwrap();
    // Reopen the arbiter from disk, as after a box restart.
    let (again, shown) = Arbiter::open(s._dir.path()).unwrap();
    assert!(shown.is_none());
    for t in [&s.token, &narrowed] {
        let caller = again.authenticate(Some(t)).unwrap();
        assert!(matches!(caller, Caller::Principal(_)));
        assert!(
            again
                .authorize(&caller, &req(Operation::Read, &home, &ds, Some(&latest)))
                .is_ok()
        );
    }
    // Revoking the narrowed token leaves the original working; revoking the original stops both.
    again.revoke_token(&narrowed).unwrap();
    assert_eq!(
        again.authenticate(Some(&narrowed)).unwrap_err().reason,
        "this token was revoked"
    );
    assert!(again.authenticate(Some(&s.token)).is_ok());
    let id = again.tokens()[0].id.clone();
    again.revoke_token(&id).unwrap();
    assert!(again.authenticate(Some(&s.token)).is_err());
    // Another box's arbiter does not know these tokens.
    let other = tempfile::tempdir().unwrap();
    let (foreign, _) = Arbiter::open(other.path()).unwrap();
    assert_eq!(foreign.authenticate(Some(&s.token)).unwrap_err().status, 401);
}

#[test]
fn revoking_a_grant_or_removing_the_principal_takes_effect_at_once() {
    let s = setup();
    let home = StoreId::new("home").unwrap();
    let ds = [DatasourceId::new("power").unwrap()];
    let g = s
        .arbiter
        .grant(
            &s.app,
            Operation::Observe,
            &home,
            None,
            (None, None),
            None,
            Granularity::Raw,
            "",
        )
        .unwrap();
    let caller = s.arbiter.authenticate(Some(&s.token)).unwrap();
    assert!(
        s.arbiter
            .authorize(&caller, &req(Operation::Observe, &home, &ds, None))
            .is_ok()
    );
    s.arbiter.revoke_grant(&g.id).unwrap();
    assert!(
        s.arbiter
            .authorize(&caller, &req(Operation::Observe, &home, &ds, None))
            .is_err()
    );
    s.arbiter.remove_principal(&s.app).unwrap();
    assert_eq!(s.arbiter.authenticate(Some(&s.token)).unwrap_err().status, 401);
}
