//! Contract checks of what ingestion needs to group alerts into incidents: the facts about a
//! service's open incident, declaring and attaching inside one unit of work, one declaration
//! among concurrent alerts, and the sender requests kept for lookup.

use std::sync::Arc;

use firebreak_domain::rules::OpenIncident;
use firebreak_domain::{IncidentNumber, Status};
use jiff::Timestamp;

use super::{
    alert, all_numbers, at, audit, audit_count, commit, create, declare, drafts, expect_not_found,
    insert, name, note, resolve_alert, upsert,
};
use crate::{IngestRequest, OpenIncidentFacts, Store, StoreError, StoreWrites, transact};

/// `open_incidents` of `services` in one unit of work, sorted by service.
async fn open_facts<S: Store + ?Sized>(store: &S, services: &[&str]) -> Vec<OpenIncidentFacts> {
    let services: Vec<_> = services.iter().map(|s| name(s)).collect();
    let mut facts = commit(store, "open_incidents", move |tx| {
        Box::pin(async move { tx.open_incidents(&services, false).await })
    })
    .await;
    facts.sort_by(|a, b| a.service.cmp(&b.service));
    facts
}

async fn unresolved<S: Store + ?Sized>(store: &S, number: IncidentNumber) -> i64 {
    commit(store, "unresolved_alerts_of", move |tx| {
        Box::pin(async move { tx.unresolved_alerts_of(number).await })
    })
    .await
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

/// `open_incidents` gives, for each service that has one, the newest unresolved incident that
/// lists it, when it was declared, and the latest `last_seen` of its alerts;
/// `unresolved_alerts_of` counts its alerts that are not resolved.
pub async fn open_incidents_finds_newest_unresolved<S: Store>(store: &S) {
    assert!(
        open_facts(store, &["checkout"]).await.is_empty(),
        "none yet"
    );
    let older = create(store, "Older", "SEV3", &["checkout", "payments"], false).await;
    let newer = create(store, "Newer", "SEV3", &["payments", "checkout"], false).await;
    let other = create(store, "Other", "SEV3", &["search"], false).await;
    assert_eq!(other.number, IncidentNumber(3));
    let facts_of =
        |number: IncidentNumber, service: &str, seen: Option<Timestamp>| OpenIncidentFacts {
            service: name(service),
            number,
            declared_at: at(0),
            last_alert_seen: seen,
        };

    assert_eq!(
        open_facts(store, &["checkout"]).await,
        vec![facts_of(newer.number, "checkout", None)],
        "the newest incident listing the service, with no alert yet"
    );
    assert_eq!(unresolved(store, newer.number).await, 0);

    let mut early = alert("int_1", "checkout", "early", at(-50_000));
    early.incident = Some(newer.number);
    insert(store, early).await;
    let facts = open_facts(store, &["checkout"]).await;
    assert_eq!(
        facts,
        vec![facts_of(newer.number, "checkout", Some(at(-50_000)))],
        "last_alert_seen is the attached alert's last_seen"
    );
    assert_eq!(
        OpenIncident::from_facts(
            facts[0].number,
            facts[0].declared_at,
            facts[0].last_alert_seen
        ),
        OpenIncident {
            number: newer.number,
            last_activity: newer.declared_at,
        },
        "an alert seen before the declaration does not move last activity back"
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
    assert_eq!(
        open_facts(store, &["checkout"]).await,
        vec![facts_of(newer.number, "checkout", Some(at(7_000)))],
        "the latest last_seen of the incident's alerts, whatever their service"
    );
    assert_eq!(
        unresolved(store, newer.number).await,
        3,
        "three unresolved alerts are attached"
    );
    resolve_alert(store, late_id, at(8_000)).await;
    assert_eq!(
        unresolved(store, newer.number).await,
        2,
        "resolved alerts are not counted"
    );
    let repeat = upsert(store, vec![alert("int_1", "payments", "later", at(7_500))]).await;
    assert!(!repeat[0].opened, "the repeat lands on the attached alert");
    assert_eq!(
        open_facts(store, &["checkout"]).await[0].last_alert_seen,
        Some(at(7_500)),
        "a repeat moves last_alert_seen on: it is last_seen, not first_seen"
    );

    assert_eq!(
        open_facts(store, &["search", "nothing", "payments", "checkout"]).await,
        vec![
            facts_of(newer.number, "checkout", Some(at(7_500))),
            facts_of(newer.number, "payments", Some(at(7_500))),
            facts_of(other.number, "search", Some(at(9_000))),
        ],
        "one answer per service that has an open incident"
    );

    resolve_incident(store, newer.number, at(10_000)).await;
    assert_eq!(
        open_facts(store, &["payments"]).await,
        vec![facts_of(older.number, "payments", None)],
        "a resolved incident is skipped for the next newest"
    );
    resolve_incident(store, older.number, at(11_000)).await;
    assert!(
        open_facts(store, &["checkout"]).await.is_empty(),
        "no open incident once all are resolved"
    );
    assert!(open_facts(store, &["nothing"]).await.is_empty());
    assert!(
        open_facts(store, &[]).await.is_empty(),
        "no services, no facts"
    );
}

/// Inside one unit of work: open an alert, declare an incident (the next number, with its
/// timeline), attach the alert, append to the timeline and audit. Appends inside and outside a
/// unit share one sequence; appending to an unknown incident is `NotFound`.
pub async fn ingest_declares_incidents_and_appends_timeline<S: Store>(store: &S) {
    let first = create(store, "By hand", "SEV3", &["checkout"], false).await;
    assert_eq!(first.number, IncidentNumber(1));
    let (incident, events) = declare("From an alert", "SEV2", &["checkout"], false);
    let expected = incident.clone();
    let a = alert("int_1", "checkout", "k", at(1_000));
    let (alert_id, number, appended) = commit(store, "declare from an alert", move |tx| {
        Box::pin(async move {
            let opened = tx
                .upsert_triggers(vec![a])
                .await?
                .into_iter()
                .next()
                .ok_or_else(|| StoreError::backend("upsert_triggers answered nothing"))?;
            let created = tx.create_incident(incident, drafts(events, at(0))).await?;
            tx.audit(audit("incident.declare", "alert")).await?;
            let mut stored = tx
                .lock_alert(opened.alert.id)
                .await?
                .ok_or(StoreError::NotFound)?;
            stored.incident = Some(created.number);
            tx.update_alert(&stored).await?;
            let appended = tx
                .append_timeline(
                    created.number,
                    drafts(vec![note("alert attached"), note("second")], at(2_000)),
                )
                .await?;
            tx.audit(audit("alert.open", "k")).await?;
            Ok((opened.alert.id, created.number, appended))
        })
    })
    .await;
    assert_eq!(number, IncidentNumber(2), "the next number");
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
    assert_eq!(
        timeline[2..],
        appended[..],
        "Tx::append_timeline returns the entries as stored"
    );
    assert_eq!(timeline[2].event, note("alert attached"));
    assert_eq!(timeline[3].at, at(2_000));
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
        "the manual declaration and the two audit records of the unit"
    );

    store
        .append_timeline(
            IncidentNumber(2),
            drafts(vec![note("by hand")], at(3_000)),
            audit("incident.note", "INC-2"),
        )
        .await
        .expect("append_timeline");
    commit(store, "append inside a unit", |tx| {
        Box::pin(async move {
            tx.append_timeline(IncidentNumber(2), drafts(vec![note("again")], at(4_000)))
                .await
        })
    })
    .await;
    let timeline = store
        .timeline(IncidentNumber(2), None, 100)
        .await
        .expect("timeline")
        .items;
    assert_eq!(
        timeline.iter().map(|e| e.seq).collect::<Vec<_>>(),
        vec![1, 2, 3, 4, 5, 6],
        "appends inside and outside a unit share one sequence"
    );
    assert_eq!(timeline[5].event, note("again"));

    expect_not_found(
        transact(store, |tx| {
            Box::pin(async move {
                tx.append_timeline(IncidentNumber(99), drafts(vec![note("x")], at(0)))
                    .await
            })
        })
        .await,
        "append_timeline to an unknown incident",
    );
    assert_eq!(
        all_numbers(store).await,
        vec![2, 1],
        "no incident was created by the failed unit"
    );
}

/// Twelve concurrent alerts of one service, each locking the service's name, declaring an
/// incident unless `open_incidents` finds one and opening its alert attached to it, declare
/// exactly one incident between them.
pub async fn concurrent_alerts_declare_one_incident<S: Store + 'static>(store: Arc<S>) {
    let tasks: Vec<_> = (0..12)
        .map(|i| {
            let store = store.clone();
            tokio::spawn(async move {
                transact(&*store, move |tx| {
                    Box::pin(async move {
                        tx.lock_name("declare:checkout").await?;
                        let open = tx.open_incidents(&[name("checkout")], false).await?;
                        let number = match open.first() {
                            Some(facts) => facts.number,
                            None => {
                                let (incident, events) =
                                    declare("Race", "SEV2", &["checkout"], false);
                                let created =
                                    tx.create_incident(incident, drafts(events, at(0))).await?;
                                tx.audit(audit("incident.declare", "race")).await?;
                                created.number
                            }
                        };
                        let mut a = alert("int_1", "checkout", &format!("k{i}"), at(i));
                        a.incident = Some(number);
                        tx.upsert_triggers(vec![a]).await?;
                        Ok(number)
                    })
                })
                .await
                .expect("a concurrent alert must not fail")
            })
        })
        .collect();
    for task in tasks {
        assert_eq!(
            task.await.expect("task"),
            IncidentNumber(1),
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
        12,
        "every alert is attached"
    );
    assert_eq!(audit_count(&*store).await, 1, "one declaration audited");
}

/// Sender requests round-trip by id; `purge_requests(before)` forgets only those recorded
/// before `before` and says how many.
pub async fn ingest_requests_round_trip_and_purge<S: Store>(store: &S) {
    let alert_id = insert(store, alert("int_1", "checkout", "disk-full", at(500))).await;
    let requests = vec![
        IngestRequest {
            id: "req-1".into(),
            integration: "int_1".into(),
            action: "Create".into(),
            success: true,
            status: "Created alert".into(),
            alert: Some(alert_id),
            alias: Some("disk-full".into()),
            at: at(1_000),
        },
        IngestRequest {
            id: "req-2".into(),
            integration: "int_1".into(),
            action: "Close".into(),
            success: false,
            status: "Alert not found".into(),
            alert: None,
            alias: None,
            at: at(5_000),
        },
        IngestRequest {
            id: "req-3".into(),
            integration: "int_2".into(),
            action: "Acknowledge".into(),
            success: true,
            status: "Acknowledged alert".into(),
            alert: Some(alert_id),
            alias: Some("disk-full".into()),
            at: at(9_000),
        },
    ];
    let recorded = requests.clone();
    commit(store, "record_request", move |tx| {
        Box::pin(async move {
            for request in &recorded {
                tx.record_request(request).await?;
            }
            Ok(())
        })
    })
    .await;
    for request in &requests {
        assert_eq!(
            store.get_request(&request.id).await.expect("get_request"),
            Some(request.clone()),
            "a sender request round-trips"
        );
    }
    assert_eq!(store.get_request("req-9").await.expect("get_request"), None);

    let purged = commit(store, "purge_requests", |tx| {
        Box::pin(async move { tx.purge_requests(at(5_000)).await })
    })
    .await;
    assert_eq!(purged, 1, "only the request recorded before `before` goes");
    assert_eq!(store.get_request("req-1").await.expect("get"), None);
    assert_eq!(
        store.get_request("req-2").await.expect("get"),
        Some(requests[1].clone()),
        "a request recorded exactly at `before` stays"
    );
    assert_eq!(
        store.get_request("req-3").await.expect("get"),
        Some(requests[2].clone())
    );
    let again = commit(store, "purge_requests again", |tx| {
        Box::pin(async move { tx.purge_requests(at(5_000)).await })
    })
    .await;
    assert_eq!(again, 0, "nothing more to purge");
}
