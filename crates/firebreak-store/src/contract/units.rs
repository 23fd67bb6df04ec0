//! Contract checks of units of work: what one [`transact`] writes commits together or not at
//! all, its value comes back, concurrent units all commit, and `lock_*` serialises the units
//! that take the same lock.

use std::sync::Arc;

use firebreak_domain::IncidentNumber;

use super::{
    alert, all_numbers, all_timeline, assert_client_safe, at, audit, audit_count, commit, create,
    declare, drafts, message, name, note,
};
use crate::{AlertFilter, Store, StoreError, StoreWrites, transact};

/// How many webhook messages about `subject` are stored.
async fn webhook_messages<S: Store + ?Sized>(store: &S, subject: &str) -> usize {
    store
        .list_messages("webhook", subject, None, 1_000)
        .await
        .expect("list_messages")
        .items
        .len()
}

/// A unit of work that declares an incident, appends to its timeline, audits, enqueues a
/// message and opens an alert, then returns an error, leaves none of it behind and returns
/// the error unchanged. It uses up no incident number, and holds neither the message's
/// idempotency key nor the alert's dedup key.
pub async fn failed_work_leaves_nothing_behind<S: Store>(store: &S) {
    let (incident, events) = declare("Rolled back", "SEV2", &["checkout"], false);
    let a = alert("int_1", "checkout", "k", at(1_000));
    let err = transact(store, move |tx| {
        Box::pin(async move {
            let created = tx.create_incident(incident, drafts(events, at(0))).await?;
            tx.append_timeline(created.number, drafts(vec![note("n")], at(1)))
                .await?;
            tx.audit(audit("incident.declare", "x")).await?;
            tx.enqueue(vec![message("wh_1", "msg-1", at(0))]).await?;
            tx.upsert_triggers(vec![a]).await?;
            Err::<(), _>(StoreError::backend("the engine gave up"))
        })
    })
    .await
    .expect_err("transact returns the work's error");
    assert!(
        matches!(&err, StoreError::Backend(cause) if cause.to_string() == "the engine gave up"),
        "transact returns the work's error unchanged, got {err:?}"
    );
    assert_eq!(
        store.get_incident(IncidentNumber(1)).await.expect("get"),
        None,
        "a failed unit of work creates no incident"
    );
    assert_eq!(
        audit_count(store).await,
        0,
        "a failed unit of work writes no audit"
    );
    assert_eq!(
        webhook_messages(store, "wh_1").await,
        0,
        "a failed unit of work enqueues no message"
    );
    assert_eq!(
        store.next_due().await.expect("next_due"),
        None,
        "nothing is waiting in the outbox"
    );
    assert!(
        store
            .list_alerts(&AlertFilter::default(), None, 100)
            .await
            .expect("list_alerts")
            .items
            .is_empty(),
        "a failed unit of work opens no alert"
    );

    let next = create(store, "After", "SEV3", &[], false).await;
    assert_eq!(
        next.number,
        IncidentNumber(1),
        "a failed unit of work does not use up an incident number"
    );
    assert_eq!(
        all_timeline(store, next.number).await.len(),
        1,
        "the rolled-back timeline entries are gone: only the new declaration is there"
    );
    assert_eq!(
        store
            .enqueue(vec![message("wh_1", "msg-1", at(0))])
            .await
            .expect("enqueue"),
        1,
        "a rolled-back message does not hold its idempotency key"
    );
    let reopened = super::upsert(store, vec![alert("int_1", "checkout", "k", at(2_000))]).await;
    assert!(
        reopened[0].opened,
        "a rolled-back alert does not hold its dedup key"
    );
}

/// The same unit of work returning `Ok` commits everything, and `transact` returns its value.
pub async fn committed_work_keeps_everything_and_returns_its_value<S: Store>(store: &S) {
    let (incident, events) = declare("Kept", "SEV2", &["checkout"], false);
    let declared = incident.clone();
    let (number, appended, enqueued) = commit(store, "a unit of work that succeeds", move |tx| {
        Box::pin(async move {
            let created = tx.create_incident(incident, drafts(events, at(0))).await?;
            let appended = tx
                .append_timeline(created.number, drafts(vec![note("n")], at(1)))
                .await?;
            tx.audit(audit("incident.declare", "x")).await?;
            let enqueued = tx.enqueue(vec![message("wh_1", "msg-1", at(0))]).await?;
            Ok((created.number, appended, enqueued))
        })
    })
    .await;
    assert_eq!(
        number,
        IncidentNumber(1),
        "transact returns the work's value"
    );
    assert_eq!(enqueued, 1, "enqueue counts the message it added");
    let mut expected = declared;
    expected.number = number;
    assert_eq!(
        store.get_incident(number).await.expect("get"),
        Some(expected),
        "the incident is committed"
    );
    let timeline = all_timeline(store, number).await;
    assert_eq!(
        timeline.iter().map(|e| e.seq).collect::<Vec<_>>(),
        vec![1, 2, 3],
        "the declaration and the note are committed"
    );
    assert_eq!(
        timeline[2..],
        appended[..],
        "append_timeline returns the entries as stored"
    );
    let entries = store.list_audit(None, 10).await.expect("list_audit").items;
    assert_eq!(
        entries
            .iter()
            .map(|e| (e.action.as_str(), e.target.as_str()))
            .collect::<Vec<_>>(),
        vec![("incident.declare", "x")],
        "the audit record is committed"
    );
    let messages = store
        .list_messages("webhook", "wh_1", None, 10)
        .await
        .expect("list_messages")
        .items;
    assert_eq!(
        messages
            .iter()
            .map(|m| m.idempotency_key.as_str())
            .collect::<Vec<_>>(),
        vec!["msg-1"],
        "the message is committed"
    );
    assert_eq!(store.next_due().await.expect("next_due"), Some(at(0)));
}

/// Sixteen units of work from sixteen tasks, each declaring an incident with its audit record
/// and enqueueing a message, all commit: distinct numbers, nothing lost.
pub async fn concurrent_units_of_work_all_commit<S: Store + 'static>(store: Arc<S>) {
    let tasks: Vec<_> = (0..16)
        .map(|i| {
            let store = store.clone();
            tokio::spawn(async move {
                let (incident, events) = declare(&format!("unit {i}"), "SEV3", &["race"], false);
                transact(&*store, move |tx| {
                    Box::pin(async move {
                        let created = tx.create_incident(incident, drafts(events, at(i))).await?;
                        tx.audit(audit("incident.declare", &format!("unit {i}")))
                            .await?;
                        tx.enqueue(vec![message("race", &format!("msg-{i}"), at(i))])
                            .await?;
                        Ok(created.number.0)
                    })
                })
                .await
                .expect("a concurrent unit of work must commit")
            })
        })
        .collect();
    let mut numbers = Vec::new();
    for task in tasks {
        numbers.push(task.await.expect("task"));
    }
    numbers.sort_unstable();
    assert_eq!(
        numbers,
        (1..=16).collect::<Vec<_>>(),
        "distinct sequential numbers"
    );
    assert_eq!(
        all_numbers(&*store).await.len(),
        16,
        "every incident is stored"
    );
    assert_eq!(
        audit_count(&*store).await,
        16,
        "every audit record is stored"
    );
    assert_eq!(
        webhook_messages(&*store, "race").await,
        16,
        "every message is stored"
    );
}

/// Eight units of work that each lock one incident, read its version and save version + 1
/// all succeed: the lock serialises them, so none sees a stale version. Then a save with a
/// stale version is `Conflict` and changes nothing.
pub async fn locked_incident_updates_serialise<S: Store + 'static>(store: Arc<S>) {
    let initial = create(&*store, "Locked", "SEV3", &[], false).await;
    let n = initial.number;
    let tasks: Vec<_> = (0..8)
        .map(|i| {
            let store = store.clone();
            tokio::spawn(async move {
                transact(&*store, move |tx| {
                    Box::pin(async move {
                        let mut incident =
                            tx.lock_incident(n).await?.ok_or(StoreError::NotFound)?;
                        let events = incident
                            .set_title(&format!("Locked, take {i}"), at(1_000 + i))
                            .map_err(StoreError::backend)?;
                        tx.update_incident(&incident, drafts(events, at(1_000 + i)))
                            .await?;
                        Ok(incident.version)
                    })
                })
                .await
                .unwrap_or_else(|e| panic!("locked update {i} must not fail: {e:?}"))
            })
        })
        .collect();
    let mut versions = Vec::new();
    for task in tasks {
        versions.push(task.await.expect("task"));
    }
    versions.sort_unstable();
    assert_eq!(
        versions,
        (initial.version + 1..=initial.version + 8).collect::<Vec<_>>(),
        "each locked update saw the previous one's version"
    );
    let stored = store.get_incident(n).await.expect("get").expect("incident");
    assert_eq!(stored.version, initial.version + 8, "no update was lost");
    assert_eq!(
        all_timeline(&*store, n).await.len(),
        1 + 8,
        "each update wrote its timeline entry"
    );

    let timeline_before = all_timeline(&*store, n).await;
    let audit_before = audit_count(&*store).await;
    let mut stale = initial.clone();
    let events = stale.set_title("Stale", at(9_000)).expect("title");
    match transact(&*store, move |tx| {
        Box::pin(async move {
            tx.update_incident(&stale, drafts(events, at(9_000)))
                .await?;
            tx.audit(audit("incident.update", "stale")).await
        })
    })
    .await
    {
        Err(StoreError::Conflict(m)) => assert_client_safe(&m),
        other => {
            panic!("Tx::update_incident with a stale version: expected Conflict, got {other:?}")
        }
    }
    assert_eq!(
        store.get_incident(n).await.expect("get"),
        Some(stored),
        "a refused update changes no field"
    );
    assert_eq!(
        all_timeline(&*store, n).await,
        timeline_before,
        "a refused update writes no timeline"
    );
    assert_eq!(
        audit_count(&*store).await,
        audit_before,
        "a refused update writes no audit"
    );
}

/// `lock_name` serialises units of work on one name: eight units that each lock the name,
/// look for the service's open incident and declare one only if there is none, declare exactly
/// one between them. Locking a name twice in one unit of work is fine.
pub async fn lock_name_serialises_declarations<S: Store + 'static>(store: Arc<S>) {
    commit(&*store, "locking two names, one twice", |tx| {
        Box::pin(async move {
            tx.lock_name("declare:svc").await?;
            tx.lock_name("declare:svc").await?;
            tx.lock_name("declare:other").await
        })
    })
    .await;
    let tasks: Vec<_> = (0..8)
        .map(|i| {
            let store = store.clone();
            tokio::spawn(async move {
                transact(&*store, move |tx| {
                    Box::pin(async move {
                        tx.lock_name("declare:svc").await?;
                        let open = tx.open_incidents(&[name("svc")], false).await?;
                        if let Some(facts) = open.first() {
                            return Ok((facts.number, false));
                        }
                        let (incident, events) =
                            declare(&format!("Declared by {i}"), "SEV3", &["svc"], false);
                        let created = tx.create_incident(incident, drafts(events, at(i))).await?;
                        Ok((created.number, true))
                    })
                })
                .await
                .unwrap_or_else(|e| panic!("declaration {i} must not fail: {e:?}"))
            })
        })
        .collect();
    let mut declared = 0;
    for task in tasks {
        let (number, created) = task.await.expect("task");
        assert_eq!(number, IncidentNumber(1), "every unit saw the one incident");
        declared += usize::from(created);
    }
    assert_eq!(declared, 1, "exactly one unit declared");
    assert_eq!(
        all_numbers(&*store).await,
        vec![1],
        "exactly one incident stored"
    );
}

/// A store answers `ping`, names its backend and reports a live writer.
pub async fn store_reports_health<S: Store>(store: &S) {
    store.ping().await.expect("ping");
    assert!(!store.backend().is_empty(), "backend names itself");
    let health = store.health();
    assert!(health.writer_alive, "a fresh store can commit: {health:?}");
    create(store, "Healthy", "SEV3", &[], false).await;
    assert!(
        store.health().writer_alive,
        "the writer is alive after a commit"
    );
}
