//! Tests of what is particular to the PostgreSQL backend: migrations that several instances may
//! run at once, a timeline and audit log the database itself keeps append-only, incident numbers
//! and timeline sequences under concurrency, the bootstrap race, the mapping of unique
//! violations, and round-trips of every stored field.

mod common;

use std::collections::BTreeSet;

use firebreak_domain::{
    AccessRole, Actor, Config, Incident, IncidentNumber, Name, NewIncident, Status, TimelineEvent,
};
use firebreak_store::{
    AuditDraft, AuditStore, DirectoryStore, IncidentFilter, IncidentStore, ServiceRecord, Store,
    StoreError, StoreWrites, TimelineDraft, TokenRecord, TokenStore, UserRecord,
};
use firebreak_store_postgres::PostgresStore;
use jiff::Timestamp;

fn at(secs: i64) -> Timestamp {
    Timestamp::from_millisecond(1_800_000_000_000 + secs * 1000 + 123).unwrap()
}

fn audit(action: &str) -> AuditDraft {
    AuditDraft {
        actor: "alice".into(),
        action: action.into(),
        target: String::new(),
        at: at(0),
        source: Some("127.0.0.1".into()),
        break_glass: None,
    }
}

fn drafts(events: Vec<TimelineEvent>, when: Timestamp) -> Vec<TimelineDraft> {
    events
        .into_iter()
        .map(|event| TimelineDraft {
            at: when,
            actor: "alice".into(),
            event,
        })
        .collect()
}

fn note(body: &str) -> Vec<TimelineDraft> {
    drafts(vec![Incident::note(body).unwrap()], at(5))
}

async fn declare(store: &PostgresStore, sev: &str, services: &[&str], drill: bool) -> Incident {
    let new = NewIncident {
        title: format!("{sev} trouble"),
        severity: sev.into(),
        services: services.iter().map(|s| Name::parse(s).unwrap()).collect(),
        summary: Some("it broke".into()),
        customer_impact: Some("checkout fails".into()),
        drill,
        detected_at: None,
    };
    let (incident, events) =
        Incident::declare(new, &Config::default(), &Actor("alice".into()), None, at(0)).unwrap();
    store
        .create_incident(incident, drafts(events, at(0)), audit("incident.declare"))
        .await
        .unwrap()
}

fn user(handle: &str, role: AccessRole) -> UserRecord {
    UserRecord {
        handle: Name::parse(handle).unwrap(),
        name: handle.to_uppercase(),
        email: Some(format!("{handle}@example.com")),
        time_zone: Some("Europe/Berlin".into()),
        role,
        from_config: false,
        created_at: at(1),
        disabled_at: None,
    }
}

fn token(id: &str, user: Option<&str>) -> TokenRecord {
    TokenRecord {
        id: id.into(),
        name: format!("token {id}"),
        role: AccessRole::Admin,
        user: user.map(|u| Name::parse(u).unwrap()),
        hash: format!("hash-{id}"),
        created_at: at(2),
        revoked_at: None,
        expires_at: None,
    }
}

fn service(name: &str) -> ServiceRecord {
    ServiceRecord {
        name: Name::parse(name).unwrap(),
        description: format!("the {name} service"),
        team: Some("payments".into()),
        runbook: None,
        escalation_policy: None,
        manager: None,
        from_config: false,
        created_at: at(3),
    }
}

#[tokio::test]
async fn migrations_are_idempotent_and_safe_to_race() {
    let schema = common::fresh_schema();
    let stores = futures_util::future::join_all((0..4).map(|_| common::store_in(&schema))).await;
    stores[0].migrate().await.unwrap();
    let applied: i64 = sqlx::query_scalar("SELECT count(*) FROM schema_migrations")
        .fetch_one(stores[0].pool())
        .await
        .unwrap();
    assert_eq!(
        applied,
        firebreak_store_postgres::MIGRATIONS.len() as i64,
        "every migration applied once"
    );
    // The last migration's tables and columns are there.
    for probe in [
        "SELECT count(*) FROM outbox",
        "SELECT count(*) FROM outbox_attempts",
        "SELECT count(*) FROM webhook_subscriptions",
        "SELECT count(*) FROM ingest_requests",
        "SELECT count(disabled_at) FROM users",
        "SELECT count(expires_at) FROM tokens",
        "SELECT count(*) FROM schedules",
        "SELECT count(*) FROM schedule_overrides",
    ] {
        let n: i64 = sqlx::query_scalar(probe)
            .fetch_one(stores[0].pool())
            .await
            .unwrap_or_else(|e| panic!("{probe}: {e}"));
        assert_eq!(n, 0, "{probe}");
    }
    assert_eq!(stores[0].backend(), "postgres");
    stores[0].ping().await.unwrap();
    // Connections are named and run without the JIT compiler.
    let (name, jit): (String, String) =
        sqlx::query_as("SELECT current_setting('application_name'), current_setting('jit')")
            .fetch_one(stores[0].pool())
            .await
            .unwrap();
    assert_eq!((name.as_str(), jit.as_str()), ("firebreak", "off"));
    stores[0].drop_schema().await.unwrap();
}

async fn expect_append_only(store: &PostgresStore, sql: &'static str) {
    let err = sqlx::query(sql)
        .execute(store.pool())
        .await
        .expect_err(&format!("the database accepted `{sql}`"));
    let message = err.to_string();
    assert!(
        message.contains("append-only"),
        "`{sql}` failed for another reason: {message}"
    );
}

#[tokio::test]
async fn the_database_refuses_to_rewrite_history() {
    let store = common::fresh_store().await;
    declare(&store, "SEV2", &[], false).await;

    expect_append_only(&store, "UPDATE timeline_entries SET actor = 'mallory'").await;
    expect_append_only(&store, "DELETE FROM timeline_entries").await;
    expect_append_only(&store, "TRUNCATE timeline_entries").await;
    expect_append_only(&store, "UPDATE audit_log SET actor = 'mallory'").await;
    expect_append_only(&store, "DELETE FROM audit_log").await;
    expect_append_only(&store, "TRUNCATE audit_log").await;

    let left: i64 = sqlx::query_scalar("SELECT count(*) FROM timeline_entries")
        .fetch_one(store.pool())
        .await
        .unwrap();
    assert!(left >= 1, "the declaration's entries are still there");
    let left: i64 = sqlx::query_scalar("SELECT count(*) FROM audit_log")
        .fetch_one(store.pool())
        .await
        .unwrap();
    assert_eq!(left, 1);
    store.drop_schema().await.unwrap();
}

#[tokio::test]
async fn incidents_round_trip_every_field() {
    let store = common::fresh_store().await;
    let created = declare(&store, "SEV1", &["checkout", "payments", "checkout"], true).await;
    assert_eq!(created.number, IncidentNumber(1));
    let mut got = store
        .get_incident(IncidentNumber(1))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(got, created);
    assert_eq!(got.checklist.len(), 7);

    let bob = Actor("bob".into());
    // Each domain change bumps the version once, so each is saved on its own.
    let events = got.set_checklist_item(2, true, &bob, at(10)).unwrap();
    store
        .update_incident(&got, drafts(events, at(10)), audit("incident.update"))
        .await
        .unwrap();
    let events = got.set_status(Status::Resolved, at(11)).unwrap();
    store
        .update_incident(&got, drafts(events, at(11)), audit("incident.update"))
        .await
        .unwrap();
    let events = got
        .set_services(vec![Name::parse("search").unwrap()], at(12))
        .unwrap();
    store
        .update_incident(&got, drafts(events, at(12)), audit("incident.update"))
        .await
        .unwrap();
    let reread = store
        .get_incident(IncidentNumber(1))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(reread, got);
    assert_eq!(reread.checklist[1].done_by.as_deref(), Some("bob"));
    assert_eq!(reread.checklist[1].done_at, Some(at(10)));

    let timeline = store.timeline(IncidentNumber(1), None, 100).await.unwrap();
    let seqs: Vec<i64> = timeline.items.iter().map(|e| e.seq).collect();
    assert_eq!(seqs, (1..=seqs.len() as i64).collect::<Vec<_>>());
    assert!(matches!(
        timeline.items[0].event,
        TimelineEvent::Declared { drill: true, .. }
    ));
    assert!(timeline.items.iter().any(
        |e| matches!(&e.event, TimelineEvent::FieldEdited { field, .. } if field == "services")
    ));
    assert_eq!(store.get_incident(IncidentNumber(99)).await.unwrap(), None);
    store.drop_schema().await.unwrap();
}

#[tokio::test]
async fn concurrent_declarations_get_sequential_unique_numbers() {
    let store = common::fresh_store().await;
    let made =
        futures_util::future::join_all((0..24).map(|_| declare(&store, "SEV3", &[], false))).await;
    let numbers: BTreeSet<i64> = made.iter().map(|i| i.number.0).collect();
    assert_eq!(numbers, (1..=24).collect());
    store.drop_schema().await.unwrap();
}

#[tokio::test]
async fn stale_updates_conflict_and_missing_incidents_are_not_found() {
    let store = common::fresh_store().await;
    let incident = declare(&store, "SEV3", &[], false).await;
    let mut first = incident.clone();
    let events = first.set_title("first", at(20)).unwrap();
    store
        .update_incident(&first, drafts(events, at(20)), audit("a"))
        .await
        .unwrap();

    let mut second = incident.clone();
    let events = second.set_title("second", at(21)).unwrap();
    let err = store
        .update_incident(&second, drafts(events, at(21)), audit("b"))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");
    let stored = store.get_incident(incident.number).await.unwrap().unwrap();
    assert_eq!(stored.title, "first");
    assert_eq!(
        store
            .timeline(incident.number, None, 100)
            .await
            .unwrap()
            .items
            .len(),
        2
    );

    let mut ghost = incident.clone();
    ghost.number = IncidentNumber(77);
    ghost.version += 1;
    let err = store
        .update_incident(&ghost, vec![], audit("c"))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::NotFound), "{err:?}");
    let err = store
        .append_timeline(IncidentNumber(77), note("x"), audit("d"))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::NotFound), "{err:?}");
    store.drop_schema().await.unwrap();
}

#[tokio::test]
async fn concurrent_appends_get_distinct_sequence_numbers() {
    let store = common::fresh_store().await;
    let incident = declare(&store, "SEV3", &[], false).await;
    let results = futures_util::future::join_all((0..20).map(|i| {
        store.append_timeline(incident.number, note(&format!("note {i}")), audit("note"))
    }))
    .await;
    let mut seqs = BTreeSet::new();
    for entries in results {
        let entries = entries.unwrap();
        assert_eq!(entries.len(), 1);
        seqs.insert(entries[0].seq);
    }
    assert_eq!(seqs, (2..=21).collect());

    let first = store.timeline(incident.number, None, 8).await.unwrap();
    assert_eq!(first.items.len(), 8);
    assert_eq!(first.next, Some(8));
    let rest = store
        .timeline(incident.number, first.next, 100)
        .await
        .unwrap();
    assert_eq!(rest.items.first().map(|e| e.seq), Some(9));
    assert_eq!(rest.items.len(), 13);
    assert_eq!(rest.next, None);
    store.drop_schema().await.unwrap();
}

#[tokio::test]
async fn listing_pages_newest_first_and_filters() {
    let store = common::fresh_store().await;
    declare(&store, "SEV1", &["checkout"], false).await; // 1
    declare(&store, "SEV2", &["search"], true).await; // 2
    let mut third = declare(&store, "SEV3", &["checkout", "search"], false).await; // 3
    let events = third.set_status(Status::Resolved, at(30)).unwrap();
    store
        .update_incident(&third, drafts(events, at(30)), audit("resolve"))
        .await
        .unwrap();
    declare(&store, "SEV3", &[], false).await; // 4

    let all = IncidentFilter::default();
    let page = store.list_incidents(&all, None, 3).await.unwrap();
    assert_eq!(
        page.items.iter().map(|i| i.number.0).collect::<Vec<_>>(),
        vec![4, 3, 2]
    );
    assert_eq!(page.next, Some(2));
    let page = store.list_incidents(&all, page.next, 3).await.unwrap();
    assert_eq!(
        page.items.iter().map(|i| i.number.0).collect::<Vec<_>>(),
        vec![1]
    );
    assert_eq!(page.next, None);
    let exact = store.list_incidents(&all, None, 4).await.unwrap();
    assert_eq!((exact.items.len(), exact.next), (4, None));

    let numbers = |f: IncidentFilter| {
        let store = store.clone();
        async move {
            let page = store.list_incidents(&f, None, 50).await.unwrap();
            page.items.iter().map(|i| i.number.0).collect::<Vec<_>>()
        }
    };
    let checkout = Some(Name::parse("checkout").unwrap());
    assert_eq!(
        numbers(IncidentFilter {
            service: checkout.clone(),
            ..Default::default()
        })
        .await,
        vec![3, 1]
    );
    assert_eq!(
        numbers(IncidentFilter {
            open: Some(false),
            ..Default::default()
        })
        .await,
        vec![3]
    );
    assert_eq!(
        numbers(IncidentFilter {
            open: Some(true),
            ..Default::default()
        })
        .await,
        vec![4, 2, 1]
    );
    assert_eq!(
        numbers(IncidentFilter {
            drill: Some(true),
            ..Default::default()
        })
        .await,
        vec![2]
    );
    assert_eq!(
        numbers(IncidentFilter {
            severity: Some("SEV3".into()),
            ..Default::default()
        })
        .await,
        vec![4, 3]
    );
    assert_eq!(
        numbers(IncidentFilter {
            status: Some(Status::Investigating),
            service: checkout,
            ..Default::default()
        })
        .await,
        vec![1]
    );
    let listed = store.list_incidents(&all, None, 50).await.unwrap();
    assert_eq!(listed.items[1].services.len(), 2);
    store.drop_schema().await.unwrap();
}

#[tokio::test]
async fn unique_names_conflict_with_a_plain_message() {
    let store = common::fresh_store().await;
    store
        .create_service(service("checkout"), audit("service.create"))
        .await
        .unwrap();
    let err = store
        .create_service(service("checkout"), audit("service.create"))
        .await
        .unwrap_err();
    let StoreError::Conflict(message) = err else {
        panic!("expected a conflict, got {err:?}")
    };
    assert!(
        !message.to_lowercase().contains("insert") && !message.contains("pkey"),
        "{message}"
    );

    store
        .create_user(user("alice", AccessRole::Viewer), audit("user.create"))
        .await
        .unwrap();
    let err = store
        .create_user(user("alice", AccessRole::Admin), audit("user.create"))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");

    store
        .create_token(token("t1", None), audit("token.create"))
        .await
        .unwrap();
    let mut same_secret = token("t2", None);
    same_secret.hash = "hash-t1".into();
    let err = store
        .create_token(same_secret, audit("token.create"))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");
    store.drop_schema().await.unwrap();
}

#[tokio::test]
async fn directory_crud_and_config_sync() {
    let store = common::fresh_store().await;
    let created = store
        .create_service(service("checkout"), audit("service.create"))
        .await
        .unwrap();
    assert_eq!(created, service("checkout"));
    let mut changed = service("checkout");
    changed.runbook = Some("https://runbooks/checkout".into());
    changed.created_at = at(99);
    let updated = store
        .update_service(changed, audit("service.update"))
        .await
        .unwrap();
    assert_eq!(
        updated.runbook.as_deref(),
        Some("https://runbooks/checkout")
    );
    assert_eq!(updated.created_at, at(3), "created_at never changes");
    let missing = store
        .update_service(service("nope"), audit("x"))
        .await
        .unwrap_err();
    assert!(matches!(missing, StoreError::NotFound));

    let mut from_file = service("search");
    from_file.description = "from the file".into();
    let mut alice = user("alice", AccessRole::Viewer);
    alice.name = "Alice From File".into();
    store
        .create_user(user("alice", AccessRole::Admin), audit("user.create"))
        .await
        .unwrap();
    store
        .sync_config(
            vec![from_file.clone(), service("checkout")],
            vec![alice, user("bob", AccessRole::Viewer)],
        )
        .await
        .unwrap();
    store.sync_config(vec![from_file], vec![]).await.unwrap();
    let services = store.list_services().await.unwrap();
    assert_eq!(
        services.iter().map(|s| s.name.as_str()).collect::<Vec<_>>(),
        vec!["checkout", "search"]
    );
    assert!(services.iter().all(|s| s.from_config));
    assert_eq!(services[0].runbook, None, "the file's values win");
    let alice = store
        .get_user(&Name::parse("alice").unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (alice.name.as_str(), alice.role, alice.from_config),
        ("Alice From File", AccessRole::Admin, true)
    );
    assert_eq!(store.list_users().await.unwrap().len(), 2);

    let mut bob = user("bob", AccessRole::Responder);
    bob.from_config = true;
    assert_eq!(
        store
            .update_user(bob.clone(), audit("user.update"))
            .await
            .unwrap()
            .role,
        AccessRole::Responder
    );
    assert!(matches!(
        store
            .update_user(user("zed", AccessRole::Viewer), audit("x"))
            .await,
        Err(StoreError::NotFound)
    ));

    let checkout = Name::parse("checkout").unwrap();
    store
        .delete_service(&checkout, audit("service.delete"))
        .await
        .unwrap();
    assert_eq!(store.get_service(&checkout).await.unwrap(), None);
    assert!(matches!(
        store.delete_service(&checkout, audit("x")).await,
        Err(StoreError::NotFound)
    ));
    store.drop_schema().await.unwrap();
}

#[tokio::test]
async fn tokens_are_found_by_hash_until_revoked() {
    let store = common::fresh_store().await;
    store
        .create_user(user("alice", AccessRole::Admin), audit("user.create"))
        .await
        .unwrap();
    let created = store
        .create_token(token("t1", Some("alice")), audit("token.create"))
        .await
        .unwrap();
    assert_eq!(created, token("t1", Some("alice")));
    assert_eq!(
        store.find_token("hash-t1").await.unwrap(),
        Some(created.clone())
    );
    let revoked = store
        .revoke_token("t1", at(40), audit("token.revoke"))
        .await
        .unwrap();
    assert_eq!(revoked.revoked_at, Some(at(40)));
    assert_eq!(store.find_token("hash-t1").await.unwrap(), None);
    assert_eq!(store.list_tokens().await.unwrap(), vec![revoked]);
    assert!(matches!(
        store.revoke_token("nope", at(41), audit("x")).await,
        Err(StoreError::NotFound)
    ));
    store.drop_schema().await.unwrap();
}

#[tokio::test]
async fn racing_bootstraps_create_one_admin() {
    let store = common::fresh_store().await;
    let results = futures_util::future::join_all((0..6).map(|i| {
        store.bootstrap_admin(
            user(&format!("admin{i}"), AccessRole::Admin),
            token(&format!("t{i}"), None),
            audit("bootstrap"),
        )
    }))
    .await;
    let won = results
        .into_iter()
        .map(|r| r.unwrap())
        .filter(|w| *w)
        .count();
    assert_eq!(won, 1);
    assert_eq!(store.list_users().await.unwrap().len(), 1);
    assert_eq!(store.list_tokens().await.unwrap().len(), 1);
    assert!(
        !store
            .bootstrap_admin(
                user("late", AccessRole::Admin),
                token("late", None),
                audit("b")
            )
            .await
            .unwrap()
    );
    store.drop_schema().await.unwrap();
}

#[tokio::test]
async fn audit_lists_newest_first_with_a_cursor() {
    let store = common::fresh_store().await;
    for i in 0..5 {
        store
            .create_service(
                service(&format!("svc{i}")),
                audit(&format!("service.create.{i}")),
            )
            .await
            .unwrap();
    }
    let page = store.list_audit(None, 3).await.unwrap();
    let actions: Vec<&str> = page.items.iter().map(|a| a.action.as_str()).collect();
    assert_eq!(
        actions,
        vec!["service.create.4", "service.create.3", "service.create.2"]
    );
    assert_eq!(page.items[0].source.as_deref(), Some("127.0.0.1"));
    assert_eq!(page.items[0].at, at(0));
    assert_eq!(page.next, Some(page.items[2].id));
    let rest = store.list_audit(page.next, 3).await.unwrap();
    assert_eq!(rest.items.len(), 2);
    assert_eq!(rest.next, None);

    declare(&store, "SEV3", &[], false).await;
    let latest = store.list_audit(None, 1).await.unwrap();
    assert_eq!(latest.items[0].action, "incident.declare");
    store.drop_schema().await.unwrap();
}
