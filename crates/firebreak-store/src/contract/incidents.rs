//! Contract checks of incidents and their timeline: numbering, round trips, optimistic
//! versions, the timeline's sequence, listing with filters and cursors, and concurrent creates.

use std::sync::Arc;

use firebreak_domain::timeline::serde_json_free::Value;
use firebreak_domain::{IncidentNumber, Status, TimelineEvent};
use jiff::SignedDuration;

use super::{
    all_timeline, assert_client_safe, at, audit, audit_count, commit, create, declare, drafts,
    expect_not_found, name, note,
};
use crate::{IncidentFilter, Store, StoreError, StoreWrites, TimelineDraft, transact};

/// Incidents are numbered 1, 2, 3, ... in creation order.
pub async fn numbers_are_sequential<S: Store>(store: &S) {
    for expected in 1..=3 {
        let incident = create(store, &format!("incident {expected}"), "SEV3", &[], false).await;
        assert_eq!(
            incident.number,
            IncidentNumber(expected),
            "incident numbers must be sequential"
        );
    }
}

/// Every field of an incident survives a create and a get, timestamps to the millisecond.
pub async fn incident_round_trips<S: Store>(store: &S) {
    let (mut incident, events) = declare(
        "Checkout is failing",
        "SEV1",
        &["payments", "checkout"],
        true,
    );
    incident.acknowledged_at = Some(at(1_001));
    incident.mitigated_at = Some(at(2_002));
    incident.resolved_at = Some(at(3_003));
    incident.status = Status::Resolved;
    incident.updated_at = at(3_004);
    incident.roles.insert("scribe".into(), "bob".into());
    incident.checklist[1].done = true;
    incident.checklist[1].done_by = Some("bob".into());
    incident.checklist[1].done_at = Some(at(1_555));
    let created = store
        .create_incident(
            incident.clone(),
            drafts(events, at(0)),
            audit("incident.declare", "x"),
        )
        .await
        .expect("create_incident");
    assert_eq!(created.number, IncidentNumber(1));
    let mut expected = incident;
    expected.number = IncidentNumber(1);
    assert_eq!(
        created, expected,
        "create_incident returns the stored incident"
    );
    let got = store
        .get_incident(IncidentNumber(1))
        .await
        .expect("get_incident");
    assert_eq!(
        got,
        Some(expected),
        "get_incident returns every field as stored"
    );
    assert_eq!(
        store
            .get_incident(IncidentNumber(2))
            .await
            .expect("get_incident"),
        None
    );

    let (plain, events) = declare("Plain", "SEV3", &[], false);
    let created = store
        .create_incident(plain, drafts(events, at(0)), audit("incident.declare", "y"))
        .await
        .expect("create_incident");
    let got = store
        .get_incident(created.number)
        .await
        .expect("get")
        .expect("exists");
    assert_eq!(got, created);
    assert!(got.roles.is_empty() && got.checklist.is_empty() && got.services.is_empty());
    assert_eq!(got.acknowledged_at, None);
}

/// Saving with a stale version fails with `Conflict` and changes nothing: fields, timeline, audit.
pub async fn stale_update_conflicts_and_changes_nothing<S: Store>(store: &S) {
    let original = create(store, "Stale", "SEV2", &["api"], false).await;
    let mut first = original.clone();
    let events = first
        .set_status(Status::Identified, at(10_000))
        .expect("move");
    assert_eq!(first.version, original.version + 1);
    store
        .update_incident(
            &first,
            drafts(events, at(10_000)),
            audit("incident.update", "first"),
        )
        .await
        .expect("update with current version");
    let saved = store
        .get_incident(original.number)
        .await
        .expect("get")
        .expect("exists");
    assert_eq!(saved, first, "update_incident stores every field");

    let timeline_before = all_timeline(store, original.number).await;
    let audit_before = audit_count(store).await;
    let mut stale = original.clone();
    let events = stale
        .set_title("Someone else's title", at(11_000))
        .expect("title");
    let err = store
        .update_incident(
            &stale,
            drafts(events, at(11_000)),
            audit("incident.update", "stale"),
        )
        .await
        .expect_err("a stale version must be refused");
    match err {
        StoreError::Conflict(m) => assert_client_safe(&m),
        other => panic!("expected Conflict, got {other:?}"),
    }
    assert_eq!(
        store.get_incident(original.number).await.expect("get"),
        Some(first)
    );
    assert_eq!(
        all_timeline(store, original.number).await,
        timeline_before,
        "a refused update writes no timeline"
    );
    assert_eq!(
        audit_count(store).await,
        audit_before,
        "a refused update writes no audit entry"
    );
}

/// Updating an incident that does not exist is `NotFound`.
pub async fn update_of_missing_incident_is_not_found<S: Store>(store: &S) {
    let (mut ghost, _) = declare("Ghost", "SEV3", &[], false);
    ghost.number = IncidentNumber(999);
    ghost.version = 2;
    let err = store
        .update_incident(
            &ghost,
            drafts(vec![note("boo")], at(0)),
            audit("incident.update", "ghost"),
        )
        .await
        .expect_err("missing incident");
    assert!(
        matches!(err, StoreError::NotFound),
        "expected NotFound, got {err:?}"
    );
    let err = store
        .append_timeline(
            IncidentNumber(999),
            drafts(vec![note("boo")], at(0)),
            audit("incident.note", "ghost"),
        )
        .await
        .expect_err("missing incident");
    assert!(
        matches!(err, StoreError::NotFound),
        "expected NotFound, got {err:?}"
    );
    assert_eq!(
        audit_count(store).await,
        0,
        "failed writes leave no audit entries"
    );

    let locked = commit(store, "lock_incident of a missing incident", |tx| {
        Box::pin(async move { tx.lock_incident(IncidentNumber(999)).await })
    })
    .await;
    assert_eq!(locked, None, "lock_incident of a missing incident is None");
    let (mut ghost, _) = declare("Ghost", "SEV3", &[], false);
    ghost.number = IncidentNumber(999);
    ghost.version = 2;
    expect_not_found(
        transact(store, move |tx| {
            Box::pin(async move { tx.update_incident(&ghost, vec![]).await })
        })
        .await,
        "Tx::update_incident of a missing incident",
    );
    expect_not_found(
        transact(store, |tx| {
            Box::pin(async move {
                tx.append_timeline(IncidentNumber(999), drafts(vec![note("boo")], at(0)))
                    .await
            })
        })
        .await,
        "Tx::append_timeline to a missing incident",
    );
}

/// Timeline seqs start at 1, ascend, and continue across create, append and update;
/// `timeline` pages through them in order.
pub async fn timeline_seq_ascends_and_continues<S: Store>(store: &S) {
    let incident = create(store, "Seq", "SEV2", &[], false).await;
    let n = incident.number;
    let first = all_timeline(store, n).await;
    assert_eq!(
        first.iter().map(|e| e.seq).collect::<Vec<_>>(),
        vec![1, 2],
        "SEV2 declares with two events"
    );
    let appended = store
        .append_timeline(
            n,
            drafts(vec![note("one"), note("two")], at(5_000)),
            audit("incident.note", "INC-1"),
        )
        .await
        .expect("append_timeline");
    assert_eq!(
        appended.iter().map(|e| e.seq).collect::<Vec<_>>(),
        vec![3, 4]
    );
    assert_eq!(appended[0].event, note("one"));
    let mut changed = incident.clone();
    let events = changed
        .set_status(Status::Mitigated, at(6_000))
        .expect("move");
    store
        .update_incident(
            &changed,
            drafts(events, at(6_000)),
            audit("incident.update", "INC-1"),
        )
        .await
        .expect("update");
    store
        .append_timeline(
            n,
            drafts(vec![note("three")], at(7_000)),
            audit("incident.note", "INC-1"),
        )
        .await
        .expect("append_timeline");
    let all = all_timeline(store, n).await;
    assert_eq!(
        all.iter().map(|e| e.seq).collect::<Vec<_>>(),
        vec![1, 2, 3, 4, 5, 6]
    );
    assert_eq!(all[2..4], appended[..]);
    assert_eq!(all[5].event, note("three"));
    assert_eq!(all[5].at, at(7_000));

    let page = store.timeline(n, Some(2), 2).await.expect("timeline");
    assert_eq!(
        page.items.iter().map(|e| e.seq).collect::<Vec<_>>(),
        vec![3, 4]
    );
    assert_eq!(page.next, Some(4));
    let page = store.timeline(n, Some(4), 2).await.expect("timeline");
    assert_eq!(
        page.items.iter().map(|e| e.seq).collect::<Vec<_>>(),
        vec![5, 6]
    );
    assert_eq!(page.next, None, "no cursor when nothing follows");
    let page = store.timeline(n, Some(6), 2).await.expect("timeline");
    assert!(page.items.is_empty() && page.next.is_none());

    let other = create(store, "Other", "SEV3", &[], false).await;
    assert_eq!(
        all_timeline(store, other.number).await.len(),
        1,
        "timelines are per incident"
    );
}

/// `timeline_tail` of `number`: the seqs it returns and its cursor to older entries.
async fn tail<S: Store>(
    store: &S,
    number: IncidentNumber,
    before: Option<i64>,
    limit: u32,
) -> (Vec<i64>, Option<i64>) {
    let page = store
        .timeline_tail(number, before, limit)
        .await
        .expect("timeline_tail");
    (page.items.iter().map(|e| e.seq).collect(), page.next)
}

/// `timeline_tail` reads the newest entries, ascending, and pages back with `before`: an
/// empty timeline, fewer entries than asked, more, exactly as many, a walk back to the first
/// entry, and an unknown incident (empty, like `timeline`).
pub async fn timeline_tail_reads_the_newest_and_pages_back<S: Store>(store: &S) {
    // An unknown incident: empty, like `timeline`.
    let unknown = IncidentNumber(999);
    assert_eq!(
        store.timeline_tail(unknown, None, 10).await.expect("tail"),
        store.timeline(unknown, None, 10).await.expect("timeline"),
        "an unknown incident's tail is empty, as its timeline is"
    );
    assert_eq!(tail(store, unknown, None, 10).await, (vec![], None));

    // An incident stored with no entries at all.
    let (bare, _) = declare("Bare", "SEV3", &[], false);
    let bare = store
        .create_incident(bare, vec![], audit("incident.declare", "Bare"))
        .await
        .expect("create_incident without entries");
    assert_eq!(
        tail(store, bare.number, None, 10).await,
        (vec![], None),
        "an empty timeline has an empty tail"
    );

    // Fewer entries than asked: all of them, ascending, nothing older.
    let n = create(store, "Tail", "SEV3", &[], false).await.number;
    let three = (0..3).map(|i| note(&format!("note {i}"))).collect();
    store
        .append_timeline(n, drafts(three, at(1_000)), audit("incident.note", "INC-2"))
        .await
        .expect("append_timeline");
    let page = store.timeline_tail(n, None, 10).await.expect("tail");
    assert_eq!(
        page.items,
        all_timeline(store, n).await,
        "all entries, ascending"
    );
    assert_eq!(page.next, None, "nothing is older");

    // More entries than asked: exactly the newest, ascending, and a cursor to the older ones.
    let more = (3..24).map(|i| note(&format!("note {i}"))).collect();
    store
        .append_timeline(n, drafts(more, at(2_000)), audit("incident.note", "INC-2"))
        .await
        .expect("append_timeline");
    let other = create(store, "Other", "SEV2", &[], false).await;
    let all = all_timeline(store, n).await;
    assert_eq!(all.len(), 25);
    let page = store.timeline_tail(n, None, 10).await.expect("tail");
    assert_eq!(page.items, all[15..], "the newest ten entries, ascending");
    assert_eq!(
        page.next,
        Some(16),
        "the cursor is the oldest entry returned"
    );

    // Exactly as many as asked: all of them, nothing older.
    let page = store.timeline_tail(n, None, 25).await.expect("tail");
    assert_eq!((page.items, page.next), (all.clone(), None));

    // Paging back with `before`.
    let seqs = |r: std::ops::RangeInclusive<i64>| r.collect::<Vec<_>>();
    assert_eq!(tail(store, n, Some(16), 10).await, (seqs(6..=15), Some(6)));
    assert_eq!(
        tail(store, n, Some(6), 10).await,
        (seqs(1..=5), None),
        "the last page back is short and ends the walk"
    );
    assert_eq!(
        tail(store, n, Some(11), 10).await,
        (seqs(1..=10), None),
        "a full page that reaches seq 1 has no cursor"
    );
    assert_eq!(tail(store, n, Some(1), 10).await, (vec![], None));
    assert_eq!(
        tail(store, n, Some(1_000), 3).await,
        (seqs(23..=25), Some(23)),
        "a `before` past the end reads from the end"
    );
    let mut walked = Vec::new();
    let mut before = None;
    loop {
        let page = store.timeline_tail(n, before, 7).await.expect("tail");
        walked.splice(0..0, page.items);
        before = page.next;
        if before.is_none() {
            break;
        }
    }
    assert_eq!(
        walked, all,
        "walking back covers every entry once, in order"
    );

    assert_eq!(
        tail(store, other.number, None, 10).await,
        (seqs(1..=2), None),
        "timelines are per incident"
    );
}

/// Every kind of timeline event is stored and read back unchanged.
pub async fn every_timeline_event_round_trips<S: Store>(store: &S) {
    let incident = create(store, "Events", "SEV3", &[], false).await;
    let events = vec![
        TimelineEvent::Declared {
            title: "t".into(),
            severity: "SEV1".into(),
            services: vec!["a".into(), "b".into()],
            drill: true,
        },
        TimelineEvent::StatusChanged {
            from: "investigating".into(),
            to: "identified".into(),
        },
        TimelineEvent::Reopened {
            from: "resolved".into(),
            to: "investigating".into(),
        },
        TimelineEvent::SeverityChanged {
            from: "SEV2".into(),
            to: "SEV1".into(),
            reason: Some("worse".into()),
        },
        TimelineEvent::SeverityChanged {
            from: "SEV1".into(),
            to: "SEV2".into(),
            reason: None,
        },
        TimelineEvent::RoleAssigned {
            role: "scribe".into(),
            role_name: "Scribe".into(),
            user: "bob".into(),
            previous: Some("carol".into()),
            reason: None,
        },
        TimelineEvent::RoleRemoved {
            role: "scribe".into(),
            role_name: "Scribe".into(),
            user: "bob".into(),
        },
        TimelineEvent::ChecklistItemDone {
            item: 3,
            text: "bridge opened".into(),
        },
        TimelineEvent::ChecklistItemUndone {
            item: 3,
            text: "bridge opened".into(),
        },
        TimelineEvent::FieldEdited {
            field: "summary".into(),
            from: Value::Text(None),
            to: Value::Text(Some("now \"quoted\" ✓".into())),
        },
        TimelineEvent::FieldEdited {
            field: "services".into(),
            from: Value::List(vec![]),
            to: Value::List(vec!["x".into(), "y".into()]),
        },
        note("multi\nline note with 'quotes' and {json}"),
    ];
    let written: Vec<TimelineDraft> = events
        .iter()
        .enumerate()
        .map(|(i, event)| TimelineDraft {
            at: at(100 + i as i64),
            actor: format!("actor-{i}"),
            event: event.clone(),
        })
        .collect();
    store
        .append_timeline(
            incident.number,
            written.clone(),
            audit("incident.note", "INC-1"),
        )
        .await
        .expect("append_timeline");
    let read = all_timeline(store, incident.number).await;
    assert_eq!(read.len(), events.len() + 1);
    for (entry, draft) in read[1..].iter().zip(&written) {
        assert_eq!(entry.event, draft.event, "event round trip");
        assert_eq!(entry.actor, draft.actor);
        assert_eq!(entry.at, draft.at);
    }
}

async fn numbers<S: Store>(store: &S, filter: IncidentFilter) -> Vec<i64> {
    let page = store
        .list_incidents(&filter, None, 100)
        .await
        .expect("list_incidents");
    assert_eq!(page.next, None);
    page.items.iter().map(|i| i.number.0).collect()
}

/// Status, severity, service, open/closed and drill filters each select exactly the right rows.
pub async fn list_filters<S: Store>(store: &S) {
    let one = create(store, "one", "SEV1", &["checkout", "payments"], false).await;
    let _two = create(store, "two", "SEV2", &["payments"], true).await;
    let _three = create(store, "three", "SEV3", &["search"], false).await;
    let mut four = create(store, "four", "SEV2", &["checkout"], false).await;
    let events = four
        .set_status(Status::Resolved, at(9_000))
        .expect("resolve");
    store
        .update_incident(
            &four,
            drafts(events, at(9_000)),
            audit("incident.update", "INC-4"),
        )
        .await
        .expect("update");
    let mut one_moved = one.clone();
    let events = one_moved
        .set_status(Status::Identified, at(9_000))
        .expect("move");
    store
        .update_incident(
            &one_moved,
            drafts(events, at(9_000)),
            audit("incident.update", "INC-1"),
        )
        .await
        .expect("update");

    let all = numbers(store, IncidentFilter::default()).await;
    assert_eq!(all, vec![4, 3, 2, 1], "newest first");
    let cases: Vec<(IncidentFilter, Vec<i64>, &str)> = vec![
        (
            IncidentFilter {
                status: Some(Status::Investigating),
                ..Default::default()
            },
            vec![3, 2],
            "status investigating",
        ),
        (
            IncidentFilter {
                status: Some(Status::Resolved),
                ..Default::default()
            },
            vec![4],
            "status resolved",
        ),
        (
            IncidentFilter {
                severity: Some("SEV2".into()),
                ..Default::default()
            },
            vec![4, 2],
            "severity",
        ),
        (
            IncidentFilter {
                service: Some(name("checkout")),
                ..Default::default()
            },
            vec![4, 1],
            "service checkout",
        ),
        (
            IncidentFilter {
                service: Some(name("payments")),
                ..Default::default()
            },
            vec![2, 1],
            "service payments",
        ),
        (
            IncidentFilter {
                service: Some(name("nothing")),
                ..Default::default()
            },
            vec![],
            "a service no incident lists",
        ),
        (
            IncidentFilter {
                open: Some(true),
                ..Default::default()
            },
            vec![3, 2, 1],
            "open",
        ),
        (
            IncidentFilter {
                open: Some(false),
                ..Default::default()
            },
            vec![4],
            "not open",
        ),
        (
            IncidentFilter {
                drill: Some(true),
                ..Default::default()
            },
            vec![2],
            "drill",
        ),
        (
            IncidentFilter {
                drill: Some(false),
                ..Default::default()
            },
            vec![4, 3, 1],
            "not a drill",
        ),
        (
            IncidentFilter {
                severity: Some("SEV2".into()),
                open: Some(true),
                service: Some(name("payments")),
                ..Default::default()
            },
            vec![2],
            "severity, open and service together",
        ),
    ];
    for (filter, expected, what) in cases {
        assert_eq!(numbers(store, filter).await, expected, "filter by {what}");
    }
    let listed = store
        .list_incidents(&IncidentFilter::default(), None, 100)
        .await
        .expect("list");
    let got_one = listed
        .items
        .iter()
        .find(|i| i.number == one.number)
        .expect("listed");
    assert_eq!(got_one, &one_moved, "listed incidents carry every field");
}

/// Paging with `before` cursors visits every incident exactly once, newest first.
pub async fn list_pagination_covers_every_row_once<S: Store>(store: &S) {
    for i in 0..7 {
        let services: &[&str] = if i % 2 == 0 { &["even"] } else { &[] };
        create(store, &format!("p{i}"), "SEV3", services, false).await;
    }
    for (filter, expected) in [
        (IncidentFilter::default(), vec![7, 6, 5, 4, 3, 2, 1]),
        (
            IncidentFilter {
                service: Some(name("even")),
                ..Default::default()
            },
            vec![7, 5, 3, 1],
        ),
    ] {
        for limit in [1u32, 2, 3, 4, 7, 8] {
            let mut seen = Vec::new();
            let mut cursor = None;
            let mut pages = 0;
            loop {
                let page = store
                    .list_incidents(&filter, cursor, limit)
                    .await
                    .expect("list");
                assert!(page.items.len() <= limit as usize);
                seen.extend(page.items.iter().map(|i| i.number.0));
                pages += 1;
                assert!(pages <= 20, "pagination does not end");
                match page.next {
                    Some(next) => {
                        assert_eq!(
                            Some(next),
                            page.items.last().map(|i| i.number.0),
                            "next is the last number"
                        );
                        cursor = Some(next);
                    }
                    None => break,
                }
            }
            assert_eq!(
                seen, expected,
                "limit {limit}: every row once, newest first"
            );
            assert_eq!(
                pages,
                expected.len().div_ceil(limit as usize).max(1),
                "limit {limit}: no empty last page"
            );
        }
    }
}

/// Fifty concurrent creates get fifty distinct, gapless numbers.
pub async fn concurrent_creates_get_distinct_numbers<S: Store + 'static>(store: Arc<S>) {
    let tasks: Vec<_> = (0..50)
        .map(|i| {
            let store = store.clone();
            tokio::spawn(async move {
                let (incident, events) = declare(&format!("race {i}"), "SEV2", &["race"], false);
                let when = at(0) + SignedDuration::from_millis(i);
                store
                    .create_incident(
                        incident,
                        drafts(events, when),
                        audit("incident.declare", "race"),
                    )
                    .await
                    .expect("create_incident")
                    .number
                    .0
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
        (1..=50).collect::<Vec<_>>(),
        "distinct sequential numbers"
    );
    for n in [1, 25, 50] {
        assert_eq!(
            all_timeline(&*store, IncidentNumber(n)).await.len(),
            2,
            "each incident has its own timeline"
        );
    }
    assert_eq!(audit_count(&*store).await, 50);
}

/// `timeline_of_kinds` reads, in a unit of work, the incident's entries of the kinds asked for,
/// in order, and nothing of other incidents.
pub async fn timeline_of_kinds_reads_those_kinds_in_order<S: Store>(store: &S) {
    let incident = create(store, "Kinds", "SEV2", &[], false).await;
    let n = incident.number;
    let mut changed = incident.clone();
    let events = changed
        .set_severity(
            &firebreak_domain::Config::default(),
            "SEV3",
            None,
            at(2_000),
        )
        .expect("severity");
    store
        .update_incident(
            &changed,
            drafts(events, at(2_000)),
            audit("incident.update", "INC-1"),
        )
        .await
        .expect("update");
    store
        .append_timeline(
            n,
            drafts(vec![note("between")], at(3_000)),
            audit("incident.note", "INC-1"),
        )
        .await
        .expect("append_timeline");
    create(store, "Other", "SEV1", &[], false).await;
    let found = commit(store, "timeline_of_kinds", move |tx| {
        Box::pin(async move {
            tx.timeline_of_kinds(n, &["declared", "severity_changed"])
                .await
        })
    })
    .await;
    let kinds: Vec<_> = found.iter().map(|e| e.event.kind()).collect();
    assert_eq!(kinds, ["declared", "severity_changed"]);
    assert!(found[0].seq < found[1].seq);
    assert!(matches!(&found[1].event, TimelineEvent::SeverityChanged { to, .. } if to == "SEV3"));
    let none = commit(store, "timeline_of_kinds", move |tx| {
        Box::pin(async move {
            tx.timeline_of_kinds(IncidentNumber(99), &["declared"])
                .await
        })
    })
    .await;
    assert!(none.is_empty());
}
