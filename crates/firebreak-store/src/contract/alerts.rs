//! Contract checks of [`AlertStore`](crate::AlertStore): integrations and keys, ingestion in one
//! transaction, alert listing, silences, maintenance windows, routes and deployments.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;

use firebreak_domain::rules::{MaintenanceWindow, OpenIncident, Route, Silence};
use firebreak_domain::{
    Alert, AlertFormat, AlertSeverity, AlertStatus, Image, IncidentNumber, Link, Matcher, Status,
    Urgency,
};
use futures_util::future::BoxFuture;
use jiff::Timestamp;

use super::{at, audit, audit_count, create, declare, drafts, name, note};
use crate::{
    AlertFilter, AlertTx, DeploymentRecord, IngestEffect, IngestOutcome, IngestWork,
    IntegrationKey, IntegrationRecord, Result, RouteRecord, Store, StoreError,
};

/// Runs every alert check, each on a fresh store from `make`.
pub async fn run_all_alerts<S, F, Fut>(make: &F)
where
    S: Store + 'static,
    F: Fn() -> Fut,
    Fut: Future<Output = S>,
{
    integrations_create_list_and_keys(&make().await).await;
    sync_integrations_upserts_and_never_deletes(&make().await).await;
    ingest_inserts_and_dedups_alerts(&make().await).await;
    ingest_error_rolls_everything_back(&make().await).await;
    open_incident_for_finds_newest_unresolved(&make().await).await;
    ingest_declares_incidents_and_appends_timeline(&make().await).await;
    list_alerts_filters_and_pages(&make().await).await;
    alerts_of_incidents_ascend_by_id(&make().await).await;
    silences_create_list_expire(&make().await).await;
    maintenance_create_list_end(&make().await).await;
    routes_create_list_delete(&make().await).await;
    deployments_record_list_between(&make().await).await;
    concurrent_triggers_open_one_alert(Arc::new(make().await)).await;
    concurrent_alerts_declare_one_incident(Arc::new(make().await)).await;
}

/// Boxes a closure as ingestion work.
pub fn work<F>(f: F) -> IngestWork
where
    F: for<'t> FnOnce(&'t mut (dyn AlertTx + 't)) -> BoxFuture<'t, Result<Vec<IngestOutcome>>>
        + Send
        + 'static,
{
    Box::new(f)
}

fn key(id: &str, hash_char: char, created: i64) -> IntegrationKey {
    IntegrationKey {
        id: id.into(),
        hash: hash_char.to_string().repeat(64),
        hint: format!("{id:.4}"),
        created_at: at(created),
        revoked_at: None,
    }
}

fn integration(id: &str, service: &str, n: &str, keys: Vec<IntegrationKey>) -> IntegrationRecord {
    IntegrationRecord {
        id: id.into(),
        service: name(service),
        name: n.into(),
        from_config: false,
        created_at: at(7),
        keys,
    }
}

/// An open alert with every field set, as the engine would insert it.
fn alert(integration: &str, service: &str, dedup_key: &str, first_seen: Timestamp) -> Alert {
    Alert {
        id: 0,
        integration: integration.into(),
        service: name(service),
        dedup_key: dedup_key.into(),
        format: AlertFormat::Alertmanager,
        status: AlertStatus::Open,
        severity: AlertSeverity::Critical,
        urgency: Urgency::High,
        summary: format!("{dedup_key} is on fire"),
        source: "db-1".into(),
        labels: BTreeMap::from([
            ("env".to_string(), "prod".to_string()),
            ("team".to_string(), "payments \"core\"".to_string()),
        ]),
        details: "{\"disk\": \"97%\",  \"note\": \"spacing kept\"}".into(),
        links: vec![
            Link {
                href: "https://grafana.example/d/1".into(),
                text: Some("dashboard".into()),
            },
            Link {
                href: "https://runbooks.example/db".into(),
                text: None,
            },
        ],
        images: vec![Image {
            src: "https://img.example/1.png".into(),
            href: None,
            alt: Some("graph".into()),
        }],
        started_at: Some(at(-5_000)),
        ended_at: None,
        first_seen,
        last_seen: first_seen,
        count: 1,
        acknowledged_at: None,
        acknowledged_by: None,
        resolved_at: None,
        resolved_by: None,
        suppressed_reason: None,
        incident: None,
        raw: "{\"status\":\"firing\"}".into(),
    }
}

fn opened(dedup_key: &str, id: i64) -> IngestOutcome {
    IngestOutcome {
        dedup_key: dedup_key.into(),
        effect: IngestEffect::Opened,
        alert: Some(id),
        incident: None,
    }
}

/// Inserts `alert` in its own ingestion and returns its id.
async fn insert<S: Store + ?Sized>(store: &S, alert: Alert) -> i64 {
    let key = alert.dedup_key.clone();
    let outcomes = store
        .ingest(work(move |tx| {
            Box::pin(async move {
                let id = tx.insert_alert(&alert).await?;
                Ok(vec![opened(&key, id)])
            })
        }))
        .await
        .expect("ingest of insert_alert");
    outcomes[0].alert.expect("alert id")
}

/// Saves `alert` (which has its id) in its own ingestion.
async fn update<S: Store + ?Sized>(store: &S, alert: Alert) {
    store
        .ingest(work(move |tx| {
            Box::pin(async move {
                tx.update_alert(&alert).await?;
                Ok(vec![])
            })
        }))
        .await
        .expect("ingest of update_alert");
}

async fn resolve_alert<S: Store + ?Sized>(store: &S, id: i64, when: Timestamp) -> Alert {
    let mut alert = store
        .get_alert(id)
        .await
        .expect("get_alert")
        .expect("alert exists");
    alert.status = AlertStatus::Resolved;
    alert.resolved_at = Some(when);
    alert.resolved_by = Some("alertmanager".into());
    alert.ended_at = Some(when);
    update(store, alert.clone()).await;
    alert
}

async fn open_incident<S: Store + ?Sized>(store: &S, service: &str) -> Option<(OpenIncident, i64)> {
    let service = name(service);
    let found: Arc<std::sync::Mutex<Option<(OpenIncident, i64)>>> = Arc::default();
    let out = found.clone();
    store
        .ingest(work(move |tx| {
            Box::pin(async move {
                let open = tx.open_incident_for(&service).await?;
                if let Some(open) = open {
                    let unresolved = tx.unresolved_alerts_of(open.number).await?;
                    *out.lock().expect("lock") = Some((open, unresolved));
                }
                Ok(vec![])
            })
        }))
        .await
        .expect("ingest of open_incident_for");
    found.lock().expect("lock").take()
}

async fn resolve_incident<S: Store + ?Sized>(store: &S, number: IncidentNumber, when: Timestamp) {
    let mut incident = store
        .get_incident(number)
        .await
        .expect("get_incident")
        .expect("incident exists");
    let events = incident
        .set_status(Status::Resolved, when)
        .expect("resolve");
    store
        .update_incident(
            &incident,
            drafts(events, when),
            audit("incident.update", "r"),
        )
        .await
        .expect("update_incident");
}

fn expect_conflict<T: std::fmt::Debug>(result: Result<T>, what: &str) {
    match result {
        Err(StoreError::Conflict(message)) => super::assert_client_safe(&message),
        other => panic!("{what}: expected Conflict, got {other:?}"),
    }
}

fn expect_not_found<T: std::fmt::Debug>(result: Result<T>, what: &str) {
    match result {
        Err(StoreError::NotFound) => {}
        other => panic!("{what}: expected NotFound, got {other:?}"),
    }
}

/// Integrations: create, list by service then name with keys oldest first, duplicate name or
/// key is `Conflict`, add and revoke keys (revoked keys stay listed with `revoked_at`).
pub async fn integrations_create_list_and_keys<S: Store>(store: &S) {
    let created = store
        .create_integration(
            integration(
                "int_b",
                "checkout",
                "prometheus",
                vec![key("key_b1", 'b', 1)],
            ),
            audit("integration.create", "int_b"),
        )
        .await
        .expect("create_integration");
    assert_eq!(
        created,
        integration(
            "int_b",
            "checkout",
            "prometheus",
            vec![key("key_b1", 'b', 1)]
        ),
        "create_integration returns the stored integration with its keys"
    );
    store
        .create_integration(
            integration("int_a", "checkout", "grafana", vec![key("key_a1", 'a', 1)]),
            audit("integration.create", "int_a"),
        )
        .await
        .expect("create_integration");
    store
        .create_integration(
            integration("int_c", "api", "pagerduty", vec![]),
            audit("integration.create", "int_c"),
        )
        .await
        .expect("create_integration without keys");
    let listed = store.list_integrations().await.expect("list_integrations");
    assert_eq!(
        listed.iter().map(|i| i.id.as_str()).collect::<Vec<_>>(),
        vec!["int_c", "int_a", "int_b"],
        "integrations are listed by service, then name"
    );
    assert_eq!(audit_count(store).await, 3, "each create is audited");

    expect_conflict(
        store
            .create_integration(
                integration("int_d", "checkout", "grafana", vec![key("key_d1", 'd', 1)]),
                audit("integration.create", "int_d"),
            )
            .await,
        "a second integration of the same name on one service",
    );
    expect_conflict(
        store
            .create_integration(
                integration("int_e", "api", "other", vec![key("key_e1", 'a', 1)]),
                audit("integration.create", "int_e"),
            )
            .await,
        "an integration with a key hash that already exists",
    );
    assert_eq!(
        store.list_integrations().await.expect("list").len(),
        3,
        "refused creates store nothing"
    );
    assert_eq!(
        audit_count(store).await,
        3,
        "refused creates are not audited"
    );
    store
        .create_integration(
            integration("int_f", "api", "grafana", vec![]),
            audit("integration.create", "int_f"),
        )
        .await
        .expect("the same name on another service is fine");

    let rotated = store
        .add_integration_key(
            "int_b",
            key("key_b2", 'c', 2),
            audit("integration.key.add", "int_b"),
        )
        .await
        .expect("add_integration_key");
    assert_eq!(
        rotated.keys,
        vec![key("key_b1", 'b', 1), key("key_b2", 'c', 2)],
        "a new key joins the old one, oldest first"
    );
    expect_not_found(
        store
            .add_integration_key("int_zz", key("key_z", 'z', 3), audit("x", "y"))
            .await,
        "adding a key to an unknown integration",
    );
    expect_conflict(
        store
            .add_integration_key("int_c", key("key_c9", 'a', 3), audit("x", "y"))
            .await,
        "adding a key whose hash exists",
    );

    let revoked = store
        .revoke_integration_key(
            "int_b",
            "key_b1",
            at(9),
            audit("integration.key.revoke", "int_b"),
        )
        .await
        .expect("revoke_integration_key");
    let mut old = key("key_b1", 'b', 1);
    old.revoked_at = Some(at(9));
    assert_eq!(
        revoked.keys,
        vec![old.clone(), key("key_b2", 'c', 2)],
        "a revoked key stays listed with revoked_at"
    );
    expect_not_found(
        store
            .revoke_integration_key("int_b", "key_b1", at(10), audit("x", "y"))
            .await,
        "revoking a key twice",
    );
    expect_not_found(
        store
            .revoke_integration_key("int_a", "key_b2", at(10), audit("x", "y"))
            .await,
        "revoking another integration's key",
    );
    expect_not_found(
        store
            .revoke_integration_key("int_zz", "key_b2", at(10), audit("x", "y"))
            .await,
        "revoking a key of an unknown integration",
    );
    let listed = store.list_integrations().await.expect("list");
    let b = listed
        .iter()
        .find(|i| i.id == "int_b")
        .expect("int_b listed");
    assert_eq!(b.keys, vec![old, key("key_b2", 'c', 2)]);
    assert_eq!(
        audit_count(store).await,
        6,
        "create, add key and revoke are audited; refusals are not"
    );
}

/// `sync_integrations` adds what is missing, keeps existing ids, adds new keys, is idempotent and
/// never deletes integrations or keys.
pub async fn sync_integrations_upserts_and_never_deletes<S: Store>(store: &S) {
    store
        .create_integration(
            integration(
                "int_api",
                "checkout",
                "alertmanager",
                vec![key("key_1", '1', 1)],
            ),
            audit("integration.create", "int_api"),
        )
        .await
        .expect("create_integration");
    let mut from_config = vec![
        // Same service and name as the API one, under another id: the stored id wins.
        integration(
            "int_cfg1",
            "checkout",
            "alertmanager",
            vec![key("key_1", '1', 1), key("key_2", '2', 2)],
        ),
        integration("int_cfg2", "search", "grafana", vec![key("key_3", '3', 3)]),
    ];
    for i in &mut from_config {
        i.from_config = true;
    }
    store
        .sync_integrations(from_config.clone())
        .await
        .expect("sync_integrations");
    let first = store.list_integrations().await.expect("list");
    assert_eq!(
        first.iter().map(|i| i.id.as_str()).collect::<Vec<_>>(),
        vec!["int_api", "int_cfg2"],
        "an existing integration keeps its id; a new one is added"
    );
    assert_eq!(
        first[0]
            .keys
            .iter()
            .map(|k| k.id.as_str())
            .collect::<Vec<_>>(),
        vec!["key_1", "key_2"],
        "keys not yet present are added, present ones not duplicated"
    );
    assert!(
        first.iter().all(|i| i.from_config),
        "synced integrations are marked from_config"
    );
    assert_eq!(first[1].keys, vec![key("key_3", '3', 3)]);

    store
        .sync_integrations(from_config)
        .await
        .expect("sync_integrations again");
    assert_eq!(
        store.list_integrations().await.expect("list"),
        first,
        "sync_integrations is idempotent"
    );

    store
        .sync_integrations(vec![])
        .await
        .expect("sync_integrations of nothing");
    assert_eq!(
        store.list_integrations().await.expect("list"),
        first,
        "sync_integrations never deletes"
    );
    assert_eq!(audit_count(store).await, 1, "sync is not audited");

    // A config key already held by another integration is refused, and nothing changes.
    let mut stolen = integration(
        "int_cfg3",
        "search",
        "prometheus",
        vec![key("key_9", '3', 9)],
    );
    stolen.from_config = true;
    match store.sync_integrations(vec![stolen]).await {
        Err(StoreError::Conflict(_)) => {}
        other => panic!("a key owned by another integration must be Conflict, got {other:?}"),
    }
    assert_eq!(
        store.list_integrations().await.expect("list"),
        first,
        "a refused sync changes nothing"
    );
}

/// Inside `ingest`: an inserted alert is found by `open_alert` and `alert` with every field;
/// a second unresolved alert of the same key is `Conflict`; once resolved, a new one may open.
pub async fn ingest_inserts_and_dedups_alerts<S: Store>(store: &S) {
    let first = alert("int_1", "checkout", "disk-full", at(1_000));
    let expected_first = first.clone();
    let outcomes = store
        .ingest(work(move |tx| {
            Box::pin(async move {
                assert!(
                    tx.open_alert("int_1", "disk-full").await?.is_none(),
                    "no open alert before the first insert"
                );
                let id = tx.insert_alert(&first).await?;
                assert!(id > 0, "insert_alert assigns an id");
                let mut stored = first.clone();
                stored.id = id;
                assert_eq!(
                    tx.open_alert("int_1", "disk-full").await?,
                    Some(stored.clone()),
                    "open_alert finds the inserted alert in the same transaction"
                );
                assert_eq!(tx.alert(id).await?, Some(stored));
                assert_eq!(tx.alert(id + 1000).await?, None);
                assert!(
                    tx.open_alert("int_2", "disk-full").await?.is_none(),
                    "dedup keys are per integration"
                );
                Ok(vec![opened("disk-full", id)])
            })
        }))
        .await
        .expect("ingest");
    assert_eq!(outcomes.len(), 1, "ingest returns the work's outcomes");
    let id = outcomes[0].alert.expect("alert id");
    let mut stored = expected_first.clone();
    stored.id = id;
    assert_eq!(
        store.get_alert(id).await.expect("get_alert"),
        Some(stored.clone()),
        "every alert field round-trips, timestamps to the millisecond"
    );
    assert_eq!(store.get_alert(id + 1000).await.expect("get_alert"), None);

    let dup = alert("int_1", "checkout", "disk-full", at(2_000));
    expect_conflict(
        store
            .ingest(work(move |tx| {
                Box::pin(async move {
                    let id = tx.insert_alert(&dup).await?;
                    Ok(vec![opened("disk-full", id)])
                })
            }))
            .await,
        "a second unresolved alert with the same integration and dedup key",
    );
    let mut suppressed = alert("int_1", "checkout", "disk-full", at(2_000));
    suppressed.status = AlertStatus::Suppressed;
    suppressed.suppressed_reason = Some("silenced".into());
    expect_conflict(
        store
            .ingest(work(move |tx| {
                Box::pin(async move {
                    let id = tx.insert_alert(&suppressed).await?;
                    Ok(vec![opened("disk-full", id)])
                })
            }))
            .await,
        "a suppressed alert holds its dedup key too",
    );
    let other_integration = insert(store, alert("int_2", "checkout", "disk-full", at(2_500))).await;
    assert_ne!(other_integration, id);

    let mut repeated = stored.clone();
    repeated.count = 2;
    repeated.last_seen = at(2_600);
    repeated.summary = "still on fire".into();
    repeated.acknowledged_at = Some(at(2_700));
    repeated.acknowledged_by = Some("bob".into());
    repeated.status = AlertStatus::Acknowledged;
    update(store, repeated.clone()).await;
    assert_eq!(
        store.get_alert(id).await.expect("get_alert"),
        Some(repeated),
        "update_alert stores every field"
    );

    let resolved = resolve_alert(store, id, at(3_000)).await;
    let reopened = insert(store, alert("int_1", "checkout", "disk-full", at(4_000))).await;
    assert!(
        reopened > id,
        "a new alert opens once the old one is resolved"
    );
    let rows = store
        .list_alerts(
            &AlertFilter {
                service: Some(name("checkout")),
                ..Default::default()
            },
            None,
            100,
        )
        .await
        .expect("list_alerts");
    let of_key: Vec<(i64, AlertStatus)> = rows
        .items
        .iter()
        .filter(|a| a.integration == "int_1" && a.dedup_key == "disk-full")
        .map(|a| (a.id, a.status))
        .collect();
    assert_eq!(
        of_key,
        vec![(reopened, AlertStatus::Open), (id, AlertStatus::Resolved)],
        "two rows of the key, newest first, only one unresolved"
    );
    assert_eq!(
        store.get_alert(id).await.expect("get"),
        Some(resolved),
        "the resolved alert is kept"
    );
    let open_now = store
        .ingest(work(|tx| {
            Box::pin(async move {
                let open = tx.open_alert("int_1", "disk-full").await?;
                Ok(open
                    .map(|a| opened("disk-full", a.id))
                    .into_iter()
                    .collect())
            })
        }))
        .await
        .expect("ingest");
    assert_eq!(
        open_now[0].alert,
        Some(reopened),
        "open_alert ignores resolved alerts"
    );

    let mut ghost = alert("int_1", "checkout", "ghost", at(0));
    ghost.id = 999_999;
    expect_not_found(
        store
            .ingest(work(move |tx| {
                Box::pin(async move {
                    tx.update_alert(&ghost).await?;
                    Ok(vec![])
                })
            }))
            .await,
        "update_alert of an unknown alert",
    );
}

/// An error from the work rolls back everything it did: alerts, incidents, timeline, audit.
pub async fn ingest_error_rolls_everything_back<S: Store>(store: &S) {
    let (incident, events) = declare("Rolled back", "SEV2", &["checkout"], false);
    let a = alert("int_1", "checkout", "k", at(1_000));
    let err = store
        .ingest(work(move |tx| {
            Box::pin(async move {
                tx.insert_alert(&a).await?;
                let created = tx
                    .create_incident(
                        incident,
                        drafts(events, at(0)),
                        audit("incident.declare", "x"),
                    )
                    .await?;
                tx.append_timeline(created.number, drafts(vec![note("n")], at(1)))
                    .await?;
                tx.audit(audit("alert.open", "k")).await?;
                Err(StoreError::Backend("the engine gave up".into()))
            })
        }))
        .await
        .expect_err("ingest returns the work's error");
    assert!(
        matches!(&err, StoreError::Backend(m) if m == "the engine gave up"),
        "ingest returns the work's error unchanged, got {err:?}"
    );
    let alerts = store
        .list_alerts(&AlertFilter::default(), None, 100)
        .await
        .expect("list_alerts");
    assert!(alerts.items.is_empty(), "a failed ingest inserts no alert");
    assert_eq!(
        store.get_incident(IncidentNumber(1)).await.expect("get"),
        None,
        "a failed ingest creates no incident"
    );
    assert_eq!(
        audit_count(store).await,
        0,
        "a failed ingest writes no audit"
    );
    let next = create(store, "After", "SEV3", &[], false).await;
    assert_eq!(
        next.number,
        IncidentNumber(1),
        "a failed ingest does not use up an incident number"
    );
    insert(store, alert("int_1", "checkout", "k", at(2_000))).await;
}

/// `open_incident_for` gives the newest unresolved incident listing the service, with when it
/// last took an alert; `unresolved_alerts_of` counts its unresolved alerts.
pub async fn open_incident_for_finds_newest_unresolved<S: Store>(store: &S) {
    assert!(open_incident(store, "checkout").await.is_none(), "none yet");
    let older = create(store, "Older", "SEV3", &["checkout", "payments"], false).await;
    let newer = create(store, "Newer", "SEV3", &["payments", "checkout"], false).await;
    let other = create(store, "Other", "SEV3", &["search"], false).await;
    assert_eq!(other.number, IncidentNumber(3));

    let (open, unresolved) = open_incident(store, "checkout")
        .await
        .expect("open incident");
    assert_eq!(
        open,
        OpenIncident {
            number: newer.number,
            last_activity: newer.declared_at,
        },
        "the newest incident listing the service; last activity is its declaration"
    );
    assert_eq!(unresolved, 0);

    let mut early = alert("int_1", "checkout", "early", at(-50_000));
    early.incident = Some(newer.number);
    insert(store, early).await;
    let (open, _) = open_incident(store, "checkout").await.expect("open");
    assert_eq!(
        open.last_activity, newer.declared_at,
        "an alert first seen before the declaration does not move last activity back"
    );

    let mut late = alert("int_1", "checkout", "late", at(5_000));
    late.incident = Some(newer.number);
    let late_id = insert(store, late).await;
    let mut later = alert("int_1", "payments", "later", at(7_000));
    later.incident = Some(newer.number);
    insert(store, later).await;
    let mut elsewhere = alert("int_1", "search", "elsewhere", at(9_000));
    elsewhere.incident = Some(other.number);
    insert(store, elsewhere).await;
    let (open, unresolved) = open_incident(store, "checkout").await.expect("open");
    assert_eq!(
        open,
        OpenIncident {
            number: newer.number,
            last_activity: at(7_000),
        },
        "last activity is the latest first_seen of its alerts"
    );
    assert_eq!(unresolved, 3, "three unresolved alerts are attached");
    resolve_alert(store, late_id, at(8_000)).await;
    let (_, unresolved) = open_incident(store, "checkout").await.expect("open");
    assert_eq!(unresolved, 2, "resolved alerts are not counted");

    resolve_incident(store, newer.number, at(10_000)).await;
    let (open, _) = open_incident(store, "payments").await.expect("open");
    assert_eq!(
        open.number, older.number,
        "a resolved incident is skipped for the next newest"
    );
    resolve_incident(store, older.number, at(11_000)).await;
    assert!(
        open_incident(store, "checkout").await.is_none(),
        "no open incident once all are resolved"
    );
    assert!(open_incident(store, "nothing").await.is_none());
}

/// `create_incident` inside `ingest` takes the next number with its timeline and audit;
/// `append_timeline` continues the seq; an unknown incident is `NotFound`.
pub async fn ingest_declares_incidents_and_appends_timeline<S: Store>(store: &S) {
    let first = create(store, "By hand", "SEV3", &["checkout"], false).await;
    assert_eq!(first.number, IncidentNumber(1));
    let (incident, events) = declare("From an alert", "SEV2", &["checkout"], false);
    let expected = incident.clone();
    let a = alert("int_1", "checkout", "k", at(1_000));
    let outcomes = store
        .ingest(work(move |tx| {
            Box::pin(async move {
                let id = tx.insert_alert(&a).await?;
                let created = tx
                    .create_incident(
                        incident,
                        drafts(events, at(0)),
                        audit("incident.declare", "alert"),
                    )
                    .await?;
                let mut stored = tx.alert(id).await?.expect("inserted alert");
                stored.incident = Some(created.number);
                tx.update_alert(&stored).await?;
                tx.append_timeline(
                    created.number,
                    drafts(vec![note("alert attached"), note("second")], at(2_000)),
                )
                .await?;
                tx.audit(audit("alert.open", "k")).await?;
                Ok(vec![IngestOutcome {
                    dedup_key: "k".into(),
                    effect: IngestEffect::Declared,
                    alert: Some(id),
                    incident: Some(created.number),
                }])
            })
        }))
        .await
        .expect("ingest");
    assert_eq!(
        outcomes[0].incident,
        Some(IncidentNumber(2)),
        "the next number"
    );
    let mut expected = expected;
    expected.number = IncidentNumber(2);
    assert_eq!(
        store.get_incident(IncidentNumber(2)).await.expect("get"),
        Some(expected),
        "the incident is stored with every field"
    );
    let timeline = store
        .timeline(IncidentNumber(2), None, 100)
        .await
        .expect("timeline")
        .items;
    assert_eq!(
        timeline.iter().map(|e| e.seq).collect::<Vec<_>>(),
        vec![1, 2, 3, 4],
        "declaration events, then the appended ones"
    );
    assert_eq!(timeline[2].event, note("alert attached"));
    assert_eq!(timeline[3].at, at(2_000));
    let alert_id = outcomes[0].alert.expect("alert");
    assert_eq!(
        store
            .get_alert(alert_id)
            .await
            .expect("get_alert")
            .and_then(|a| a.incident),
        Some(IncidentNumber(2)),
        "the alert is attached"
    );
    assert_eq!(
        audit_count(store).await,
        3,
        "the manual declaration, the ingest declaration and the ingest audit"
    );

    store
        .append_timeline(
            IncidentNumber(2),
            drafts(vec![note("by hand")], at(3_000)),
            audit("incident.note", "INC-2"),
        )
        .await
        .expect("append_timeline");
    store
        .ingest(work(|tx| {
            Box::pin(async move {
                tx.append_timeline(IncidentNumber(2), drafts(vec![note("again")], at(4_000)))
                    .await?;
                Ok(vec![])
            })
        }))
        .await
        .expect("ingest");
    let timeline = store
        .timeline(IncidentNumber(2), None, 100)
        .await
        .expect("timeline")
        .items;
    assert_eq!(
        timeline.iter().map(|e| e.seq).collect::<Vec<_>>(),
        vec![1, 2, 3, 4, 5, 6],
        "appends inside and outside ingest share one sequence"
    );
    assert_eq!(timeline[5].event, note("again"));

    expect_not_found(
        store
            .ingest(work(|tx| {
                Box::pin(async move {
                    tx.append_timeline(IncidentNumber(99), drafts(vec![note("x")], at(0)))
                        .await?;
                    Ok(vec![])
                })
            }))
            .await,
        "append_timeline to an unknown incident",
    );
    assert_eq!(
        all_numbers(store).await,
        vec![2, 1],
        "no incident was created by the failed ingest"
    );
}

async fn all_numbers<S: Store>(store: &S) -> Vec<i64> {
    store
        .list_incidents(&Default::default(), None, 100)
        .await
        .expect("list_incidents")
        .items
        .iter()
        .map(|i| i.number.0)
        .collect()
}

async fn alert_ids<S: Store>(store: &S, filter: AlertFilter) -> Vec<i64> {
    let page = store
        .list_alerts(&filter, None, 100)
        .await
        .expect("list_alerts");
    assert_eq!(page.next, None);
    page.items.iter().map(|a| a.id).collect()
}

/// `list_alerts` filters by status, service and incident, newest first, and paging with `before`
/// visits every alert once.
pub async fn list_alerts_filters_and_pages<S: Store>(store: &S) {
    let incident = create(store, "Grouped", "SEV3", &["checkout"], false).await;
    let mut ids = Vec::new();
    for i in 0..7 {
        let service = if i % 2 == 0 { "checkout" } else { "search" };
        let mut a = alert("int_1", service, &format!("k{i}"), at(i * 1_000));
        if i < 3 {
            a.incident = Some(incident.number);
        }
        if i == 5 {
            a.status = AlertStatus::Suppressed;
            a.suppressed_reason = Some("maintenance".into());
        }
        ids.push(insert(store, a).await);
    }
    resolve_alert(store, ids[1], at(10_000)).await;
    resolve_alert(store, ids[4], at(10_000)).await;
    let newest_first = |picked: &[usize]| -> Vec<i64> {
        let mut v: Vec<i64> = picked.iter().map(|&i| ids[i]).collect();
        v.sort_unstable_by(|a, b| b.cmp(a));
        v
    };
    assert_eq!(
        alert_ids(store, AlertFilter::default()).await,
        newest_first(&[0, 1, 2, 3, 4, 5, 6]),
        "newest first by id"
    );
    for (filter, expected, what) in [
        (
            AlertFilter {
                status: Some(AlertStatus::Resolved),
                ..Default::default()
            },
            newest_first(&[1, 4]),
            "status resolved",
        ),
        (
            AlertFilter {
                status: Some(AlertStatus::Open),
                ..Default::default()
            },
            newest_first(&[0, 2, 3, 6]),
            "status open",
        ),
        (
            AlertFilter {
                status: Some(AlertStatus::Suppressed),
                ..Default::default()
            },
            newest_first(&[5]),
            "status suppressed",
        ),
        (
            AlertFilter {
                service: Some(name("checkout")),
                ..Default::default()
            },
            newest_first(&[0, 2, 4, 6]),
            "service",
        ),
        (
            AlertFilter {
                incident: Some(incident.number),
                ..Default::default()
            },
            newest_first(&[0, 1, 2]),
            "incident",
        ),
        (
            AlertFilter {
                status: Some(AlertStatus::Open),
                service: Some(name("checkout")),
                incident: Some(incident.number),
            },
            newest_first(&[0, 2]),
            "all three",
        ),
        (
            AlertFilter {
                incident: Some(IncidentNumber(42)),
                ..Default::default()
            },
            vec![],
            "unknown incident",
        ),
    ] {
        assert_eq!(alert_ids(store, filter).await, expected, "filter by {what}");
    }

    for (filter, expected) in [
        (AlertFilter::default(), newest_first(&[0, 1, 2, 3, 4, 5, 6])),
        (
            AlertFilter {
                service: Some(name("search")),
                ..Default::default()
            },
            newest_first(&[1, 3, 5]),
        ),
    ] {
        for limit in [1u32, 2, 3, 7, 8] {
            let mut seen = Vec::new();
            let mut cursor = None;
            let mut pages = 0;
            loop {
                let page = store
                    .list_alerts(&filter, cursor, limit)
                    .await
                    .expect("list_alerts");
                assert!(page.items.len() <= limit as usize);
                seen.extend(page.items.iter().map(|a| a.id));
                pages += 1;
                assert!(pages <= 20, "alert pagination does not end");
                match page.next {
                    Some(next) => {
                        assert_eq!(Some(next), page.items.last().map(|a| a.id));
                        cursor = Some(next);
                    }
                    None => break,
                }
            }
            assert_eq!(
                seen, expected,
                "limit {limit}: every alert once, newest first"
            );
            assert_eq!(
                pages,
                expected.len().div_ceil(limit as usize).max(1),
                "limit {limit}: no empty last page"
            );
        }
    }
}

/// `alerts_of_incidents` lists `(incident, id, status)` of the alerts attached to the given
/// incidents, ascending by id.
pub async fn alerts_of_incidents_ascend_by_id<S: Store>(store: &S) {
    let one = create(store, "One", "SEV3", &["a"], false).await;
    let two = create(store, "Two", "SEV3", &["a"], false).await;
    let three = create(store, "Three", "SEV3", &["a"], false).await;
    let mut ids = Vec::new();
    for (i, incident) in [
        Some(two.number),
        Some(one.number),
        None,
        Some(two.number),
        Some(three.number),
    ]
    .into_iter()
    .enumerate()
    {
        let mut a = alert("int_1", "a", &format!("k{i}"), at(i as i64));
        a.incident = incident;
        ids.push(insert(store, a).await);
    }
    resolve_alert(store, ids[3], at(100)).await;
    let got = store
        .alerts_of_incidents(&[one.number, two.number])
        .await
        .expect("alerts_of_incidents");
    assert_eq!(
        got,
        vec![
            (two.number, ids[0], AlertStatus::Open),
            (one.number, ids[1], AlertStatus::Open),
            (two.number, ids[3], AlertStatus::Resolved),
        ],
        "attached alerts of the given incidents, ascending by id"
    );
    assert_eq!(
        store.alerts_of_incidents(&[]).await.expect("empty"),
        vec![],
        "no incidents, no alerts"
    );
    assert_eq!(
        store
            .alerts_of_incidents(&[IncidentNumber(77)])
            .await
            .expect("unknown"),
        vec![]
    );
}

fn matcher(text: &str) -> Matcher {
    Matcher::parse(text).expect("valid matcher")
}

fn silence(starts: i64, ends: i64, comment: &str) -> Silence {
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
}

fn window(service: &str, starts: i64, ends: i64) -> MaintenanceWindow {
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
}

fn route(matchers: &[&str], service: Option<&str>, drop: bool) -> RouteRecord {
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

fn deployment(service: &str, version: &str, when: i64) -> DeploymentRecord {
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

/// Many concurrent triggers of one dedup key, each reading the open alert and then inserting or
/// repeating it, leave exactly one alert that counted them all: `open_alert` serialises them.
pub async fn concurrent_triggers_open_one_alert<S: Store + 'static>(store: Arc<S>) {
    let tasks: Vec<_> = (0..20)
        .map(|i| {
            let store = store.clone();
            tokio::spawn(async move {
                store
                    .ingest(work(move |tx| {
                        Box::pin(async move {
                            let id = match tx.open_alert("int_1", "race").await? {
                                Some(mut open) => {
                                    open.count += 1;
                                    open.last_seen = at(i);
                                    tx.update_alert(&open).await?;
                                    open.id
                                }
                                None => {
                                    tx.insert_alert(&alert("int_1", "checkout", "race", at(i)))
                                        .await?
                                }
                            };
                            Ok(vec![opened("race", id)])
                        })
                    }))
                    .await
                    .expect("a concurrent trigger must not fail")
            })
        })
        .collect();
    let mut ids = Vec::new();
    for task in tasks {
        ids.push(task.await.expect("task")[0].alert.expect("id"));
    }
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), 1, "every trigger landed on one alert: {ids:?}");
    let stored = store
        .get_alert(ids[0])
        .await
        .expect("get_alert")
        .expect("alert");
    assert_eq!(stored.count, 20, "no trigger was lost");
    assert_eq!(
        store
            .list_alerts(&AlertFilter::default(), None, 100)
            .await
            .expect("list")
            .items
            .len(),
        1
    );
}

/// Many concurrent alerts of one service, each declaring an incident unless
/// `open_incident_for` finds one, declare exactly one between them.
pub async fn concurrent_alerts_declare_one_incident<S: Store + 'static>(store: Arc<S>) {
    let tasks: Vec<_> = (0..12)
        .map(|i| {
            let store = store.clone();
            tokio::spawn(async move {
                store
                    .ingest(work(move |tx| {
                        Box::pin(async move {
                            let mut a = alert("int_1", "checkout", &format!("k{i}"), at(i));
                            let number = match tx.open_incident_for(&name("checkout")).await? {
                                Some(open) => open.number,
                                None => {
                                    let (incident, events) =
                                        declare("Race", "SEV2", &["checkout"], false);
                                    tx.create_incident(
                                        incident,
                                        drafts(events, at(0)),
                                        audit("incident.declare", "race"),
                                    )
                                    .await?
                                    .number
                                }
                            };
                            a.incident = Some(number);
                            let id = tx.insert_alert(&a).await?;
                            Ok(vec![IngestOutcome {
                                dedup_key: a.dedup_key.clone(),
                                effect: IngestEffect::Attached,
                                alert: Some(id),
                                incident: Some(number),
                            }])
                        })
                    }))
                    .await
                    .expect("a concurrent alert must not fail")
            })
        })
        .collect();
    for task in tasks {
        assert_eq!(
            task.await.expect("task")[0].incident,
            Some(IncidentNumber(1)),
            "every alert joined the one incident"
        );
    }
    assert_eq!(
        all_numbers(&*store).await,
        vec![1],
        "exactly one incident declared"
    );
    assert_eq!(
        store
            .alerts_of_incidents(&[IncidentNumber(1)])
            .await
            .expect("alerts_of_incidents")
            .len(),
        12
    );
}
