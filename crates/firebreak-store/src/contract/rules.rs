//! Contract checks of the rules alerts meet and the context around them: silences,
//! maintenance windows, routing rules and deployments.

use firebreak_domain::rules::{MaintenanceWindow, Route, Silence};
use firebreak_domain::{AlertSeverity, Matcher, Urgency};

use super::{at, audit, audit_count, commit, expect_not_found, name};
use crate::{DeploymentRecord, RouteRecord, Store, StoreWrites};

fn matcher(text: &str) -> Matcher {
    Matcher::parse(text).expect("valid matcher")
}

pub(super) fn silence(starts: i64, ends: i64, comment: &str) -> Silence {
    Silence {
        id: 0,
        matchers: vec![matcher("env=\"prod\""), matcher("service=~\"check.*\"")],
        starts_at: at(starts),
        ends_at: at(ends),
        comment: comment.into(),
        created_by: "alice".into(),
        created_at: at(1),
    }
}

/// Silences: create assigns ids and round-trips; list gives those ending after `after`, newest
/// first; expire ends one at `at`, and a second expiry (or an unknown id) is `NotFound`.
pub async fn silences_create_list_expire<S: Store>(store: &S) {
    let mut created = Vec::new();
    for (starts, ends, comment) in [
        (0, 10_000, "a"),
        (0, 20_000, "b"),
        (30_000, 40_000, "future"),
    ] {
        let s = store
            .create_silence(
                silence(starts, ends, comment),
                audit("silence.create", comment),
            )
            .await
            .expect("create_silence");
        let mut expected = silence(starts, ends, comment);
        expected.id = s.id;
        assert_eq!(
            s, expected,
            "create_silence returns every field, with an id"
        );
        created.push(s);
    }
    assert!(
        created.windows(2).all(|w| w[0].id < w[1].id),
        "silence ids ascend"
    );
    let newest = store.list_audit(None, 1).await.expect("list_audit").items;
    assert_eq!(
        newest[0].target,
        format!("future/{}", created[2].id),
        "the store appends the new id to the audit target"
    );
    let listed = store.list_silences(at(5_000)).await.expect("list_silences");
    assert_eq!(
        listed,
        vec![created[2].clone(), created[1].clone(), created[0].clone()],
        "newest first"
    );
    let listed = store.list_silences(at(10_000)).await.expect("list");
    assert_eq!(
        listed.iter().map(|s| s.id).collect::<Vec<_>>(),
        vec![created[2].id, created[1].id],
        "a silence ending exactly at `after` is over"
    );

    let expired = store
        .expire_silence(created[1].id, at(12_000), audit("silence.expire", "b"))
        .await
        .expect("expire_silence");
    assert_eq!(expired.ends_at, at(12_000), "expiry sets the end");
    assert_eq!(expired.starts_at, at(0));
    assert_eq!(
        store
            .list_silences(at(12_000))
            .await
            .expect("list")
            .iter()
            .map(|s| s.id)
            .collect::<Vec<_>>(),
        vec![created[2].id],
        "an expired silence is no longer listed"
    );
    expect_not_found(
        store
            .expire_silence(created[1].id, at(13_000), audit("x", "y"))
            .await,
        "expiring a silence twice",
    );
    expect_not_found(
        store
            .expire_silence(created[0].id, at(13_000), audit("x", "y"))
            .await,
        "expiring a silence that ran out",
    );
    expect_not_found(
        store.expire_silence(9_999, at(0), audit("x", "y")).await,
        "expiring an unknown silence",
    );
    let future = store
        .expire_silence(created[2].id, at(14_000), audit("silence.expire", "future"))
        .await
        .expect("expire a silence that has not started");
    assert!(
        future.ends_at <= at(14_000) && future.starts_at <= future.ends_at,
        "an expired future silence never becomes active: {future:?}"
    );
    assert!(!future.active(at(14_000)) && !future.active(at(35_000)));
    assert_eq!(
        audit_count(store).await,
        5,
        "three creates and two expiries audited"
    );
    let id = expired.id;
    let (locked, unknown) = commit(store, "lock_silence", move |tx| {
        Box::pin(async move { Ok((tx.lock_silence(id).await?, tx.lock_silence(9_999).await?)) })
    })
    .await;
    assert_eq!(locked, Some(expired), "lock_silence reads the saved span");
    assert_eq!(unknown, None, "lock_silence of an unknown id");
}

pub(super) fn window(service: &str, starts: i64, ends: i64) -> MaintenanceWindow {
    MaintenanceWindow {
        id: 0,
        service: name(service),
        starts_at: at(starts),
        ends_at: at(ends),
        comment: format!("upgrade {service}"),
        created_by: "alice".into(),
        created_at: at(1),
    }
}

/// Maintenance windows: create, list those ending after `after` soonest start first, end one
/// early (a window not yet started is emptied), and `NotFound` for unknown or over.
pub async fn maintenance_create_list_end<S: Store>(store: &S) {
    let late = store
        .create_maintenance(
            window("db", 50_000, 60_000),
            audit("maintenance.create", "db"),
        )
        .await
        .expect("create_maintenance");
    let mut expected = window("db", 50_000, 60_000);
    expected.id = late.id;
    assert_eq!(
        late, expected,
        "create_maintenance returns every field, with an id"
    );
    let now = store
        .create_maintenance(window("api", 0, 20_000), audit("maintenance.create", "api"))
        .await
        .expect("create_maintenance");
    let past = store
        .create_maintenance(window("web", 0, 5_000), audit("maintenance.create", "web"))
        .await
        .expect("create_maintenance");
    assert_eq!(
        store.list_maintenance(at(1_000)).await.expect("list"),
        vec![now.clone(), past.clone(), late.clone()],
        "soonest start first"
    );
    assert_eq!(
        store
            .list_maintenance(at(5_000))
            .await
            .expect("list")
            .iter()
            .map(|w| w.id)
            .collect::<Vec<_>>(),
        vec![now.id, late.id],
        "windows that are over are not listed"
    );

    let ended = store
        .end_maintenance(now.id, at(10_000), audit("maintenance.end", "api"))
        .await
        .expect("end_maintenance");
    assert_eq!((ended.starts_at, ended.ends_at), (at(0), at(10_000)));
    assert_eq!(ended.comment, now.comment);
    expect_not_found(
        store
            .end_maintenance(now.id, at(11_000), audit("x", "y"))
            .await,
        "ending a window twice",
    );
    expect_not_found(
        store
            .end_maintenance(past.id, at(11_000), audit("x", "y"))
            .await,
        "ending a window that is over",
    );
    expect_not_found(
        store.end_maintenance(9_999, at(0), audit("x", "y")).await,
        "ending an unknown window",
    );
    let removed = store
        .end_maintenance(late.id, at(12_000), audit("maintenance.end", "db"))
        .await
        .expect("end a window that has not started");
    assert_eq!(
        (removed.starts_at, removed.ends_at),
        (at(12_000), at(12_000)),
        "a window not yet started is emptied at `at`"
    );
    assert!(
        store
            .list_maintenance(at(12_000))
            .await
            .expect("list")
            .is_empty(),
        "nothing left"
    );
    assert_eq!(audit_count(store).await, 5);
    let id = ended.id;
    let (locked, unknown) = commit(store, "lock_maintenance", move |tx| {
        Box::pin(async move {
            Ok((
                tx.lock_maintenance(id).await?,
                tx.lock_maintenance(9_999).await?,
            ))
        })
    })
    .await;
    assert_eq!(locked, Some(ended), "lock_maintenance reads the saved span");
    assert_eq!(unknown, None, "lock_maintenance of an unknown id");
}

pub(super) fn route(matchers: &[&str], service: Option<&str>, drop: bool) -> RouteRecord {
    RouteRecord {
        id: 0,
        route: Route {
            matchers: matchers.iter().map(|m| matcher(m)).collect(),
            service: service.map(name),
            severity: (!drop).then_some(AlertSeverity::Warning),
            urgency: (!drop).then_some(Urgency::Low),
            drop,
        },
        created_by: "alice".into(),
        created_at: at(3),
    }
}

/// Routes: create assigns ascending ids, list in id order with every field, delete, and
/// deleting an unknown route is `NotFound`.
pub async fn routes_create_list_delete<S: Store>(store: &S) {
    let specs = [
        route(&["env=\"dev\""], None, true),
        route(
            &["team=~\"pay.*\"", "severity!=\"info\""],
            Some("payments"),
            false,
        ),
        route(&["source!~\"test-.*\""], Some("checkout"), false),
    ];
    let mut created = Vec::new();
    for spec in &specs {
        let r = store
            .create_route(spec.clone(), audit("route.create", "r"))
            .await
            .expect("create_route");
        let mut expected = spec.clone();
        expected.id = r.id;
        assert_eq!(r, expected, "create_route returns every field, with an id");
        created.push(r);
    }
    assert!(
        created.windows(2).all(|w| w[0].id < w[1].id),
        "route ids ascend"
    );
    assert_eq!(
        store.list_routes().await.expect("list_routes"),
        created,
        "routes in the order they are tried"
    );
    store
        .delete_route(created[1].id, audit("route.delete", "r"))
        .await
        .expect("delete_route");
    assert_eq!(
        store.list_routes().await.expect("list"),
        vec![created[0].clone(), created[2].clone()]
    );
    expect_not_found(
        store.delete_route(created[1].id, audit("x", "y")).await,
        "deleting a route twice",
    );
    let again = store
        .create_route(specs[1].clone(), audit("route.create", "r"))
        .await
        .expect("create_route");
    assert!(again.id > created[2].id, "a new route goes last");
    assert_eq!(
        store.list_routes().await.expect("list").last(),
        Some(&again)
    );
    assert_eq!(audit_count(store).await, 5);
}

pub(super) fn deployment(service: &str, version: &str, when: i64) -> DeploymentRecord {
    DeploymentRecord {
        id: 0,
        service: name(service),
        version: version.into(),
        previous_version: Some("v0".into()),
        commit: Some("abc123".into()),
        author: Some("bob".into()),
        link: Some("https://ci.example/1".into()),
        at: at(when),
        source: "api".into(),
        summary: Some(format!("deploy {version}")),
        created_at: at(when + 1),
        freeze_reasons: Vec::new(),
        rollback: false,
        rolls_back: None,
        incident: None,
        drill: false,
    }
}

/// Deployments: record assigns ids; list is newest recorded first, filters by service and pages
/// by cursor; `deployments_between` takes any of the services with `from <= at <= to`, newest
/// deploy first.
pub async fn deployments_record_list_between<S: Store>(store: &S) {
    let plan = [
        ("checkout", "v1", 1_000),
        ("search", "v1", 2_000),
        ("checkout", "v3", 5_000),
        ("checkout", "v2", 3_000),
        ("api", "v9", 4_000),
        ("search", "v2", 6_000),
    ];
    let mut ids = Vec::new();
    for (service, version, when) in plan {
        let d = store
            .record_deployment(
                deployment(service, version, when),
                audit("deployment.record", service),
            )
            .await
            .expect("record_deployment");
        let mut expected = deployment(service, version, when);
        expected.id = d.id;
        assert_eq!(
            d, expected,
            "record_deployment returns every field, with an id"
        );
        ids.push(d.id);
    }
    let mut bare = deployment("api", "v10", 7_000);
    bare.previous_version = None;
    bare.commit = None;
    bare.author = None;
    bare.link = None;
    bare.summary = None;
    bare.source = "cli".into();
    let bare_stored = store
        .record_deployment(bare.clone(), audit("deployment.record", "api"))
        .await
        .expect("record_deployment");
    bare.id = bare_stored.id;
    assert_eq!(bare_stored, bare);
    ids.push(bare.id);

    let all = store
        .list_deployments(None, None, 100)
        .await
        .expect("list_deployments");
    assert_eq!(all.next, None);
    let mut newest_first = ids.clone();
    newest_first.reverse();
    assert_eq!(
        all.items.iter().map(|d| d.id).collect::<Vec<_>>(),
        newest_first,
        "most recently recorded first"
    );
    assert_eq!(all.items[0], bare);
    let checkout = store
        .list_deployments(Some(&name("checkout")), None, 100)
        .await
        .expect("list_deployments");
    assert_eq!(
        checkout.items.iter().map(|d| d.id).collect::<Vec<_>>(),
        vec![ids[3], ids[2], ids[0]],
        "filtered by service"
    );
    for limit in [1u32, 2, 3, 7] {
        let mut seen = Vec::new();
        let mut cursor = None;
        loop {
            let page = store
                .list_deployments(None, cursor, limit)
                .await
                .expect("list_deployments");
            assert!(page.items.len() <= limit as usize);
            seen.extend(page.items.iter().map(|d| d.id));
            assert!(
                seen.len() <= newest_first.len(),
                "deployment pagination repeats"
            );
            match page.next {
                Some(next) => cursor = Some(next),
                None => break,
            }
        }
        assert_eq!(seen, newest_first, "limit {limit}: every deployment once");
    }
    let page = store
        .list_deployments(Some(&name("checkout")), Some(ids[3]), 1)
        .await
        .expect("list_deployments");
    assert_eq!(
        page.items.iter().map(|d| d.id).collect::<Vec<_>>(),
        vec![ids[2]]
    );
    assert_eq!(page.next, Some(ids[2]));

    let between = store
        .deployments_between(&[name("checkout"), name("search")], at(2_000), at(5_000))
        .await
        .expect("deployments_between");
    assert_eq!(
        between
            .iter()
            .map(|d| (d.service.as_str(), d.version.as_str()))
            .collect::<Vec<_>>(),
        vec![("checkout", "v3"), ("checkout", "v2"), ("search", "v1")],
        "bounds inclusive, newest deploy first, only the given services"
    );
    assert!(
        store
            .deployments_between(&[], at(0), at(100_000))
            .await
            .expect("deployments_between")
            .is_empty(),
        "no services, no deployments"
    );
    assert!(
        store
            .deployments_between(&[name("api")], at(4_001), at(6_999))
            .await
            .expect("deployments_between")
            .is_empty(),
        "nothing in the window"
    );
    assert_eq!(audit_count(store).await, 7);
}
