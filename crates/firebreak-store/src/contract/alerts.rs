//! Contract checks of alerts: `upsert_triggers` opens and repeats alerts exactly as
//! [`Alert::repeat`] says, in batches and in the given order; locks read what the unit of work
//! wrote; listing filters and pages; concurrent triggers of one key land on one alert.

use std::collections::BTreeMap;
use std::sync::Arc;

use firebreak_domain::{
    Alert, AlertFormat, AlertSeverity, AlertStatus, Image, IncidentNumber, Link, Urgency,
};

use super::{
    alert, at, commit, create, expect_not_found, insert, name, resolve_alert, update, upsert,
};
use crate::{AlertFilter, Store, StoreError, transact, transact_rows};

/// A trigger of `dedup_key` that differs from [`alert`] in every field a sender controls.
fn changed_trigger(dedup_key: &str, seen: i64) -> Alert {
    let mut t = alert("int_1", "checkout", dedup_key, at(seen));
    t.format = AlertFormat::Grafana;
    t.severity = AlertSeverity::Warning;
    t.urgency = Urgency::Low;
    t.summary = format!("{dedup_key} is still on fire");
    t.source = "db-2".into();
    t.labels = BTreeMap::from([("env".to_string(), "staging".to_string())]);
    t.details = "{\"disk\": \"99%\"}".into();
    t.started_at = Some(at(seen - 100));
    t.raw = format!("{{\"status\":\"firing\",\"seen\":{seen}}}");
    t
}

/// New keys open alerts (`opened`, with ids, every field stored); the same keys again repeat
/// them (`!opened`, same ids, count 2), and what is stored is exactly what [`Alert::repeat`]
/// makes of the first alert and the trigger: a repeat without links or images keeps the old
/// ones, one with them replaces them.
pub async fn upsert_opens_then_repeats_by_the_domain_rule<S: Store>(store: &S) {
    let first = alert("int_1", "checkout", "disk-full", at(1_000));
    let mut second = alert("int_1", "checkout", "cpu-hot", at(1_000));
    second.severity = AlertSeverity::Error;
    let opened = upsert(store, vec![first.clone(), second.clone()]).await;
    for (stored, sent) in opened.iter().zip([&first, &second]) {
        assert!(
            stored.opened,
            "a trigger of a new key opens an alert: {}",
            sent.dedup_key
        );
        assert!(stored.alert.id > 0, "the store assigns alert ids");
        let mut expected = sent.clone();
        expected.id = stored.alert.id;
        assert_eq!(
            stored.alert, expected,
            "upsert_triggers returns the alert it opened"
        );
        assert_eq!(
            store.get_alert(expected.id).await.expect("get_alert"),
            Some(expected),
            "every alert field round-trips, timestamps to the millisecond"
        );
    }
    assert_ne!(
        opened[0].alert.id, opened[1].alert.id,
        "two keys, two alerts"
    );
    assert_eq!(
        store
            .get_alert(opened[1].alert.id + 1000)
            .await
            .expect("get_alert"),
        None
    );

    let mut no_links = changed_trigger("disk-full", 2_000);
    no_links.links = vec![];
    no_links.images = vec![Image {
        src: "https://img.example/2.png".into(),
        href: Some("https://img.example/2".into()),
        alt: None,
    }];
    let mut no_images = changed_trigger("cpu-hot", 2_500);
    no_images.links = vec![Link {
        href: "https://grafana.example/d/2".into(),
        text: None,
    }];
    no_images.images = vec![];
    let repeated = upsert(store, vec![no_links.clone(), no_images.clone()]).await;
    let mut expected_first = opened[0].alert.clone();
    expected_first.repeat(&no_links);
    let mut expected_second = opened[1].alert.clone();
    expected_second.repeat(&no_images);
    assert_eq!(
        (&expected_first.links, &expected_second.images),
        (&first.links, &second.images),
        "the domain rule keeps links and images a repeat does not carry"
    );
    for (stored, expected) in repeated.iter().zip([&expected_first, &expected_second]) {
        let key = &expected.dedup_key;
        assert!(!stored.opened, "{key}: a trigger of an open key repeats it");
        assert_eq!(stored.alert.id, expected.id, "{key}: the same alert");
        assert_eq!(stored.alert.count, 2, "{key}: a repeat counts");
        assert_eq!(
            &stored.alert, expected,
            "{key}: upsert_triggers returns the alert as Alert::repeat makes it"
        );
        assert_eq!(
            store
                .get_alert(expected.id)
                .await
                .expect("get_alert")
                .as_ref(),
            Some(expected),
            "{key}: the stored repeat is exactly Alert::repeat (links, images, first_seen, source, format, started_at and all)"
        );
    }

    let third = changed_trigger("disk-full", 3_000);
    let again = upsert(store, vec![third.clone()]).await.remove(0);
    expected_first.repeat(&third);
    assert_eq!(again.alert.count, 3, "every repeat counts");
    assert_eq!(
        store.get_alert(expected_first.id).await.expect("get_alert"),
        Some(expected_first),
        "a repeat that carries links replaces them"
    );
}

/// A repeat keeps the alert's status, acknowledgement and incident (an acknowledged alert stays
/// acknowledged, even when the trigger is silenced); a suppressed alert holds its key too;
/// `update_alert` stores every field; once resolved, the key opens a new alert and the
/// resolved one is kept; `update_alert` of an unknown alert is `NotFound`.
pub async fn repeats_keep_status_and_resolving_frees_the_key<S: Store>(store: &S) {
    let incident = create(store, "Disk", "SEV3", &["checkout"], false).await;
    let id = insert(store, alert("int_1", "checkout", "disk-full", at(1_000))).await;
    let mut acked = store
        .get_alert(id)
        .await
        .expect("get_alert")
        .expect("alert");
    acked.status = AlertStatus::Acknowledged;
    acked.acknowledged_at = Some(at(1_500));
    acked.acknowledged_by = Some("bob".into());
    acked.incident = Some(incident.number);
    acked.summary = "acknowledged fire".into();
    acked.last_seen = at(1_500);
    update(store, acked.clone()).await;
    assert_eq!(
        store.get_alert(id).await.expect("get_alert"),
        Some(acked.clone()),
        "update_alert stores every field"
    );

    let mut silenced = changed_trigger("disk-full", 2_000);
    silenced.status = AlertStatus::Suppressed;
    silenced.suppressed_reason = Some("silenced by silence 1".into());
    let repeated = upsert(store, vec![silenced.clone()]).await.remove(0);
    let mut expected = acked.clone();
    expected.repeat(&silenced);
    assert!(!repeated.opened, "an acknowledged alert holds its key");
    assert_eq!(
        (
            repeated.alert.status,
            repeated.alert.incident,
            repeated.alert.acknowledged_by.as_deref()
        ),
        (
            AlertStatus::Acknowledged,
            Some(incident.number),
            Some("bob")
        ),
        "a repeat of an acknowledged alert stays acknowledged and attached"
    );
    assert_eq!(
        store.get_alert(id).await.expect("get_alert"),
        Some(expected),
        "the stored repeat is exactly Alert::repeat"
    );

    let mut quiet = alert("int_1", "checkout", "quiet", at(3_000));
    quiet.status = AlertStatus::Suppressed;
    quiet.suppressed_reason = Some("maintenance".into());
    let quiet_id = insert(store, quiet).await;
    let again = upsert(store, vec![alert("int_1", "checkout", "quiet", at(3_500))])
        .await
        .remove(0);
    assert!(
        !again.opened && again.alert.id == quiet_id,
        "a suppressed alert holds its dedup key too"
    );
    assert_eq!(
        (again.alert.status, again.alert.suppressed_reason.as_deref()),
        (AlertStatus::Suppressed, Some("maintenance")),
        "a repeat of a suppressed alert stays suppressed"
    );

    let resolved = resolve_alert(store, id, at(4_000)).await;
    let trigger = alert("int_1", "checkout", "disk-full", at(5_000));
    let reopened = upsert(store, vec![trigger.clone()]).await.remove(0);
    assert!(
        reopened.opened && reopened.alert.id > id,
        "a new alert opens once the old one is resolved"
    );
    let mut fresh = trigger;
    fresh.id = reopened.alert.id;
    assert_eq!(
        reopened.alert, fresh,
        "the reopened alert starts over: count 1, nothing of the old one"
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
        vec![(fresh.id, AlertStatus::Open), (id, AlertStatus::Resolved)],
        "two rows of the key, newest first, only one unresolved"
    );
    assert_eq!(
        store.get_alert(id).await.expect("get"),
        Some(resolved),
        "the resolved alert is kept"
    );

    let mut ghost = alert("int_1", "checkout", "ghost", at(0));
    ghost.id = 999_999;
    expect_not_found(
        transact(store, move |tx| {
            Box::pin(async move { tx.update_alert(&ghost).await })
        })
        .await,
        "update_alert of an unknown alert",
    );
}

/// An empty batch stores nothing; a batch of 100 new keys opens 100 alerts, answered in the
/// order given; a batch mixing repeats and new keys answers each in place; the same key on
/// another integration is another alert.
pub async fn upsert_batches_keep_order_and_keys_are_per_integration<S: Store>(store: &S) {
    assert!(
        upsert(store, vec![]).await.is_empty(),
        "an empty batch is answered with nothing"
    );
    // A scrambled order, so that "the order given" is not the keys' sort order.
    let keys: Vec<String> = (0..100)
        .map(|i| format!("k{:03}", (i * 37) % 100))
        .collect();
    let batch: Vec<Alert> = keys
        .iter()
        .enumerate()
        .map(|(i, k)| alert("int_1", "checkout", k, at(i as i64)))
        .collect();
    let sent = batch.clone();
    let stored = transact_rows(store, 100, move |tx| {
        Box::pin(async move { tx.upsert_triggers(batch).await })
    })
    .await
    .expect("a batch of 100 triggers");
    assert_eq!(
        stored
            .iter()
            .map(|u| u.alert.dedup_key.as_str())
            .collect::<Vec<_>>(),
        keys.iter().map(String::as_str).collect::<Vec<_>>(),
        "upsert_triggers answers in the order given"
    );
    assert!(stored.iter().all(|u| u.opened), "new keys all open");
    let mut ids: Vec<i64> = stored.iter().map(|u| u.alert.id).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), 100, "100 distinct alerts");
    let listed = store
        .list_alerts(&AlertFilter::default(), None, 200)
        .await
        .expect("list_alerts");
    let by_id: BTreeMap<i64, &Alert> = listed.items.iter().map(|a| (a.id, a)).collect();
    assert_eq!(by_id.len(), 100, "100 alerts listed");
    for (u, mut expected) in stored.iter().zip(sent) {
        expected.id = u.alert.id;
        assert_eq!(
            by_id.get(&u.alert.id).copied(),
            Some(&expected),
            "each alert of the batch is stored with its own fields"
        );
    }
    let id_of: BTreeMap<&str, i64> = stored
        .iter()
        .map(|u| (u.alert.dedup_key.as_str(), u.alert.id))
        .collect();

    let mixed: Vec<Alert> = (0..100)
        .map(|i| {
            let key = if i % 2 == 0 {
                format!("k{i:03}")
            } else {
                format!("new{i:03}")
            };
            alert("int_1", "checkout", &key, at(1_000 + i))
        })
        .collect();
    let answered = transact_rows(store, 100, move |tx| {
        Box::pin(async move { tx.upsert_triggers(mixed).await })
    })
    .await
    .expect("a mixed batch");
    assert_eq!(answered.len(), 100, "every trigger answered");
    for (i, u) in answered.iter().enumerate() {
        if i % 2 == 0 {
            let key = format!("k{i:03}");
            assert!(
                !u.opened && u.alert.dedup_key == key,
                "trigger {i} repeats {key} in place"
            );
            assert_eq!(
                Some(&u.alert.id),
                id_of.get(key.as_str()),
                "{key}: same alert"
            );
            assert_eq!(u.alert.count, 2, "{key}: counted");
        } else {
            assert!(
                u.opened && u.alert.dedup_key == format!("new{i:03}"),
                "trigger {i} opens a new alert in place"
            );
            assert!(!ids.contains(&u.alert.id), "a new key gets a new id");
        }
    }

    let other = upsert(store, vec![alert("int_2", "checkout", "k000", at(5_000))])
        .await
        .remove(0);
    assert!(
        other.opened && other.alert.id != id_of["k000"],
        "dedup keys are per integration"
    );
    let (on_1, on_2) = commit(store, "lock_open_alert per integration", |tx| {
        Box::pin(async move {
            let on_1 = tx.lock_open_alert("int_1", "k000").await?;
            let on_2 = tx.lock_open_alert("int_2", "k000").await?;
            Ok((on_1.map(|a| a.id), on_2.map(|a| a.id)))
        })
    })
    .await;
    assert_eq!(
        (on_1, on_2),
        (Some(id_of["k000"]), Some(other.alert.id)),
        "lock_open_alert finds each integration's own alert"
    );
}

/// Inside a unit of work, `lock_open_alert` and `lock_alert` see what the unit itself wrote;
/// unknown ids and other integrations' keys are `None`; `lock_open_alert` skips resolved alerts
/// while `lock_alert` still reads them.
pub async fn locks_read_alerts_inside_the_unit<S: Store>(store: &S) {
    let first = alert("int_1", "checkout", "disk-full", at(1_000));
    let sent = first.clone();
    let (before, stored, open, locked, unknown, other) =
        commit(store, "locks inside a unit of work", move |tx| {
            Box::pin(async move {
                let before = tx.lock_open_alert("int_1", "disk-full").await?;
                let stored = tx
                    .upsert_triggers(vec![first])
                    .await?
                    .into_iter()
                    .next()
                    .ok_or_else(|| StoreError::backend("upsert_triggers answered nothing"))?;
                let open = tx.lock_open_alert("int_1", "disk-full").await?;
                let locked = tx.lock_alert(stored.alert.id).await?;
                let unknown = tx.lock_alert(stored.alert.id + 1000).await?;
                let other = tx.lock_open_alert("int_2", "disk-full").await?;
                Ok((before, stored, open, locked, unknown, other))
            })
        })
        .await;
    assert_eq!(before, None, "no open alert before the first trigger");
    let mut expected = sent;
    expected.id = stored.alert.id;
    assert_eq!(
        open,
        Some(expected.clone()),
        "lock_open_alert finds the alert opened in the same unit of work"
    );
    assert_eq!(locked, Some(expected.clone()), "lock_alert reads it by id");
    assert_eq!(unknown, None, "lock_alert of an unknown id");
    assert_eq!(other, None, "dedup keys are per integration");

    let id = expected.id;
    let resolved = resolve_alert(store, id, at(3_000)).await;
    let reopened = insert(store, alert("int_1", "checkout", "disk-full", at(4_000))).await;
    let (open, old, changed) = commit(store, "locks after a resolve", move |tx| {
        Box::pin(async move {
            let open = tx.lock_open_alert("int_1", "disk-full").await?;
            let old = tx.lock_alert(id).await?;
            let mut now_acked = tx.lock_alert(reopened).await?.ok_or(StoreError::NotFound)?;
            now_acked.status = AlertStatus::Acknowledged;
            now_acked.acknowledged_at = Some(at(4_500));
            now_acked.acknowledged_by = Some("bob".into());
            tx.update_alert(&now_acked).await?;
            let changed = tx.lock_open_alert("int_1", "disk-full").await?;
            Ok((open.map(|a| a.id), old, changed))
        })
    })
    .await;
    assert_eq!(
        open,
        Some(reopened),
        "lock_open_alert skips resolved alerts"
    );
    assert_eq!(old, Some(resolved), "lock_alert reads a resolved alert");
    let changed = changed.expect("the acknowledged alert is still open");
    assert_eq!(
        (changed.id, changed.status),
        (reopened, AlertStatus::Acknowledged),
        "lock_open_alert sees an update made earlier in the unit, and an acknowledged alert holds its key"
    );
}

async fn alert_ids<S: Store>(store: &S, filter: AlertFilter) -> Vec<i64> {
    let page = store
        .list_alerts(&filter, None, 100)
        .await
        .expect("list_alerts");
    assert_eq!(page.next, None);
    page.items.iter().map(|a| a.id).collect()
}

/// `list_alerts` filters by status, service, incident, integration and dedup key, newest first, and paging with `before`
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
                ..Default::default()
            },
            newest_first(&[0, 2]),
            "all three",
        ),
        (
            AlertFilter {
                integration: Some("int_1".into()),
                dedup_key: Some("k4".into()),
                ..Default::default()
            },
            newest_first(&[4]),
            "one key of one integration",
        ),
        (
            AlertFilter {
                integration: Some("int_2".into()),
                ..Default::default()
            },
            newest_first(&[]),
            "another integration",
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

/// Twenty concurrent triggers of one key land on one alert that counts them all: exactly one
/// of them opened it.
pub async fn concurrent_triggers_open_one_alert<S: Store + 'static>(store: Arc<S>) {
    let tasks: Vec<_> = (0..20)
        .map(|i| {
            let store = store.clone();
            tokio::spawn(async move {
                let trigger = alert("int_1", "checkout", "race", at(i));
                transact(&*store, move |tx| {
                    Box::pin(async move { tx.upsert_triggers(vec![trigger]).await })
                })
                .await
                .expect("a concurrent trigger must not fail")
            })
        })
        .collect();
    let mut ids = Vec::new();
    let mut opened = 0;
    for task in tasks {
        let answered = task.await.expect("task");
        assert_eq!(answered.len(), 1, "one trigger, one answer");
        ids.push(answered[0].alert.id);
        opened += usize::from(answered[0].opened);
    }
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), 1, "every trigger landed on one alert: {ids:?}");
    assert_eq!(opened, 1, "exactly one trigger opened the alert");
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
