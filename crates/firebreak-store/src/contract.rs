//! The store contract suite: behaviour every backend must show, written once against the
//! traits. A backend's tests call [`run_all`] with a function that makes a fresh, empty store,
//! or call the individual checks. Every check panics with a message naming what broke.

mod alerts;
pub use alerts::*;

use std::future::Future;
use std::sync::Arc;

use firebreak_domain::timeline::serde_json_free::Value;
use firebreak_domain::{
    AccessRole, Actor, Config, Incident, IncidentNumber, Name, NewIncident, Status, TimelineEvent,
};
use jiff::{SignedDuration, Timestamp};

use crate::{
    AuditDraft, IncidentFilter, ServiceRecord, Store, StoreError, TimelineDraft, TimelineEntry,
    TokenRecord, UserRecord,
};

/// Runs every check, each on a fresh store from `make`.
pub async fn run_all<S, F, Fut>(make: F)
where
    S: Store + 'static,
    F: Fn() -> Fut,
    Fut: Future<Output = S>,
{
    numbers_are_sequential(&make().await).await;
    incident_round_trips(&make().await).await;
    stale_update_conflicts_and_changes_nothing(&make().await).await;
    update_of_missing_incident_is_not_found(&make().await).await;
    timeline_seq_ascends_and_continues(&make().await).await;
    every_timeline_event_round_trips(&make().await).await;
    list_filters(&make().await).await;
    list_pagination_covers_every_row_once(&make().await).await;
    services(&make().await).await;
    users(&make().await).await;
    sync_config_upserts_and_never_deletes(&make().await).await;
    tokens(&make().await).await;
    bootstrap_admin_happens_once(&make().await).await;
    audit_written_with_each_mutation(&make().await).await;
    concurrent_creates_get_distinct_numbers(Arc::new(make().await)).await;
    alerts::run_all_alerts(&make).await;
}

/// A fixed instant plus `ms` milliseconds: millisecond precision, what stores keep.
pub fn at(ms: i64) -> Timestamp {
    Timestamp::from_millisecond(1_800_000_000_000 + ms).expect("valid timestamp")
}

fn name(s: &str) -> Name {
    Name::parse(s).expect("valid name")
}

fn audit(action: &str, target: &str) -> AuditDraft {
    AuditDraft {
        actor: "alice".into(),
        action: action.into(),
        target: target.into(),
        at: at(0),
        source: Some("127.0.0.1".into()),
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

fn note(body: &str) -> TimelineEvent {
    TimelineEvent::Note { body: body.into() }
}

fn declare(
    title: &str,
    severity: &str,
    services: &[&str],
    drill: bool,
) -> (Incident, Vec<TimelineEvent>) {
    let new = NewIncident {
        title: title.into(),
        severity: severity.into(),
        services: services.iter().map(|s| name(s)).collect(),
        summary: Some(format!("summary of {title}")),
        customer_impact: Some(format!("impact of {title}")),
        drill,
        detected_at: Some(at(-61_001)),
    };
    Incident::declare(new, &Config::default(), &Actor("alice".into()), at(0))
        .expect("valid incident")
}

async fn create<S: Store + ?Sized>(
    store: &S,
    title: &str,
    severity: &str,
    services: &[&str],
    drill: bool,
) -> Incident {
    let (incident, events) = declare(title, severity, services, drill);
    store
        .create_incident(
            incident,
            drafts(events, at(0)),
            audit("incident.declare", title),
        )
        .await
        .expect("create_incident")
}

async fn all_timeline<S: Store + ?Sized>(store: &S, number: IncidentNumber) -> Vec<TimelineEntry> {
    store
        .timeline(number, None, 1000)
        .await
        .expect("timeline")
        .items
}

async fn audit_count<S: Store + ?Sized>(store: &S) -> usize {
    store
        .list_audit(None, 10_000)
        .await
        .expect("list_audit")
        .items
        .len()
}

fn assert_client_safe(message: &str) {
    let upper = message.to_uppercase();
    for word in ["INSERT", "UPDATE ", "SELECT", "UNIQUE CONSTRAINT", "SQL"] {
        assert!(
            !upper.contains(word),
            "conflict message leaks SQL: {message}"
        );
    }
}

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
    let f = |f: IncidentFilter| f;
    assert_eq!(
        numbers(
            store,
            f(IncidentFilter {
                status: Some(Status::Investigating),
                ..Default::default()
            })
        )
        .await,
        vec![3, 2]
    );
    assert_eq!(
        numbers(
            store,
            f(IncidentFilter {
                status: Some(Status::Resolved),
                ..Default::default()
            })
        )
        .await,
        vec![4]
    );
    assert_eq!(
        numbers(
            store,
            f(IncidentFilter {
                severity: Some("SEV2".into()),
                ..Default::default()
            })
        )
        .await,
        vec![4, 2]
    );
    assert_eq!(
        numbers(
            store,
            f(IncidentFilter {
                service: Some(name("checkout")),
                ..Default::default()
            })
        )
        .await,
        vec![4, 1]
    );
    assert_eq!(
        numbers(
            store,
            f(IncidentFilter {
                service: Some(name("payments")),
                ..Default::default()
            })
        )
        .await,
        vec![2, 1]
    );
    assert!(
        numbers(
            store,
            f(IncidentFilter {
                service: Some(name("nothing")),
                ..Default::default()
            })
        )
        .await
        .is_empty()
    );
    assert_eq!(
        numbers(
            store,
            f(IncidentFilter {
                open: Some(true),
                ..Default::default()
            })
        )
        .await,
        vec![3, 2, 1]
    );
    assert_eq!(
        numbers(
            store,
            f(IncidentFilter {
                open: Some(false),
                ..Default::default()
            })
        )
        .await,
        vec![4]
    );
    assert_eq!(
        numbers(
            store,
            f(IncidentFilter {
                drill: Some(true),
                ..Default::default()
            })
        )
        .await,
        vec![2]
    );
    assert_eq!(
        numbers(
            store,
            f(IncidentFilter {
                drill: Some(false),
                ..Default::default()
            })
        )
        .await,
        vec![4, 3, 1]
    );
    assert_eq!(
        numbers(
            store,
            f(IncidentFilter {
                severity: Some("SEV2".into()),
                open: Some(true),
                service: Some(name("payments")),
                ..Default::default()
            })
        )
        .await,
        vec![2]
    );
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

fn service(n: &str, from_config: bool) -> ServiceRecord {
    ServiceRecord {
        name: name(n),
        description: format!("the {n} service"),
        team: Some("payments-team".into()),
        runbook: None,
        from_config,
        created_at: at(42),
    }
}

/// Services: create, duplicate is `Conflict`, get, update, delete, list by name.
pub async fn services<S: Store>(store: &S) {
    let created = store
        .create_service(
            service("checkout", false),
            audit("service.create", "checkout"),
        )
        .await
        .expect("create_service");
    assert_eq!(created, service("checkout", false));
    let err = store
        .create_service(
            service("checkout", false),
            audit("service.create", "checkout"),
        )
        .await
        .expect_err("duplicate");
    match err {
        StoreError::Conflict(m) => {
            assert_client_safe(&m);
            assert!(m.contains("checkout"), "conflict names the service: {m}");
        }
        other => panic!("expected Conflict, got {other:?}"),
    }
    assert_eq!(
        store.get_service(&name("checkout")).await.expect("get"),
        Some(created.clone())
    );
    assert_eq!(store.get_service(&name("nope")).await.expect("get"), None);

    let mut changed = created.clone();
    changed.description = "new words".into();
    changed.team = None;
    changed.runbook = Some("https://runbooks/checkout".into());
    let updated = store
        .update_service(changed.clone(), audit("service.update", "checkout"))
        .await
        .expect("update");
    assert_eq!(updated, changed);
    assert_eq!(
        store.get_service(&name("checkout")).await.expect("get"),
        Some(changed.clone())
    );
    let err = store
        .update_service(service("nope", false), audit("service.update", "nope"))
        .await
        .expect_err("missing");
    assert!(matches!(err, StoreError::NotFound), "{err:?}");

    store
        .create_service(service("api", true), audit("service.create", "api"))
        .await
        .expect("create");
    store
        .create_service(service("zeta", false), audit("service.create", "zeta"))
        .await
        .expect("create");
    let listed: Vec<String> = store
        .list_services()
        .await
        .expect("list")
        .iter()
        .map(|s| s.name.to_string())
        .collect();
    assert_eq!(listed, vec!["api", "checkout", "zeta"]);

    store
        .delete_service(&name("checkout"), audit("service.delete", "checkout"))
        .await
        .expect("delete");
    assert_eq!(
        store.get_service(&name("checkout")).await.expect("get"),
        None
    );
    let err = store
        .delete_service(&name("checkout"), audit("service.delete", "checkout"))
        .await
        .expect_err("missing");
    assert!(matches!(err, StoreError::NotFound), "{err:?}");
    assert_eq!(store.list_services().await.expect("list").len(), 2);
}

fn user(handle: &str, role: AccessRole) -> UserRecord {
    UserRecord {
        handle: name(handle),
        name: format!("User {handle}"),
        email: Some(format!("{handle}@example.com")),
        time_zone: Some("Europe/Berlin".into()),
        role,
        from_config: false,
        created_at: at(7),
    }
}

/// Users: create, duplicate is `Conflict`, get, update, list by handle.
pub async fn users<S: Store>(store: &S) {
    let bob = store
        .create_user(
            user("bob", AccessRole::Responder),
            audit("user.create", "bob"),
        )
        .await
        .expect("create");
    assert_eq!(bob, user("bob", AccessRole::Responder));
    let err = store
        .create_user(user("bob", AccessRole::Viewer), audit("user.create", "bob"))
        .await
        .expect_err("duplicate");
    match err {
        StoreError::Conflict(m) => assert_client_safe(&m),
        other => panic!("expected Conflict, got {other:?}"),
    }
    assert_eq!(
        store.get_user(&name("bob")).await.expect("get"),
        Some(bob.clone())
    );
    assert_eq!(store.get_user(&name("nobody")).await.expect("get"), None);
    let mut changed = bob.clone();
    changed.role = AccessRole::Admin;
    changed.email = None;
    changed.name = "Robert".into();
    assert_eq!(
        store
            .update_user(changed.clone(), audit("user.update", "bob"))
            .await
            .expect("update"),
        changed
    );
    assert_eq!(
        store.get_user(&name("bob")).await.expect("get"),
        Some(changed)
    );
    let err = store
        .update_user(
            user("nobody", AccessRole::Viewer),
            audit("user.update", "nobody"),
        )
        .await
        .expect_err("missing");
    assert!(matches!(err, StoreError::NotFound), "{err:?}");
    store
        .create_user(
            user("alice", AccessRole::Viewer),
            audit("user.create", "alice"),
        )
        .await
        .expect("create");
    let listed: Vec<String> = store
        .list_users()
        .await
        .expect("list")
        .iter()
        .map(|u| u.handle.to_string())
        .collect();
    assert_eq!(listed, vec!["alice", "bob"]);
}

/// `sync_config` creates and updates config services and users, marks them `from_config`,
/// and leaves everything else alone.
pub async fn sync_config_upserts_and_never_deletes<S: Store>(store: &S) {
    store
        .create_service(service("manual", false), audit("service.create", "manual"))
        .await
        .expect("create");
    store
        .create_service(
            service("checkout", false),
            audit("service.create", "checkout"),
        )
        .await
        .expect("create");
    store
        .create_user(
            user("manual", AccessRole::Admin),
            audit("user.create", "manual"),
        )
        .await
        .expect("create");
    let mut checkout = service("checkout", true);
    checkout.description = "from the file".into();
    let mut carol = user("carol", AccessRole::Responder);
    carol.from_config = true;
    store
        .sync_config(
            vec![checkout.clone(), service("api", true)],
            vec![carol.clone()],
        )
        .await
        .expect("sync");
    store
        .sync_config(
            vec![checkout.clone(), service("api", true)],
            vec![carol.clone()],
        )
        .await
        .expect("sync twice");

    let got = store
        .get_service(&name("checkout"))
        .await
        .expect("get")
        .expect("exists");
    assert_eq!(got.description, "from the file");
    assert!(got.from_config);
    assert_eq!(
        store.get_service(&name("api")).await.expect("get"),
        Some(service("api", true))
    );
    assert_eq!(
        store.get_service(&name("manual")).await.expect("get"),
        Some(service("manual", false))
    );
    assert_eq!(
        store.get_user(&name("carol")).await.expect("get"),
        Some(carol)
    );
    assert_eq!(
        store.get_user(&name("manual")).await.expect("get"),
        Some(user("manual", AccessRole::Admin))
    );
    assert_eq!(store.list_services().await.expect("list").len(), 3);
}

fn token(id: &str, hash: &str, role: AccessRole, user: Option<&str>) -> TokenRecord {
    TokenRecord {
        id: id.into(),
        name: format!("token {id}"),
        role,
        user: user.map(name),
        hash: hash.into(),
        created_at: at(1_000),
        revoked_at: None,
    }
}

/// Tokens: create, find by hash, duplicate hash is `Conflict`, revoke hides it from `find_token`.
pub async fn tokens<S: Store>(store: &S) {
    let a = token("tok_a", &"a".repeat(64), AccessRole::Responder, Some("bob"));
    let b = token("tok_b", &"b".repeat(64), AccessRole::Viewer, None);
    assert_eq!(
        store
            .create_token(a.clone(), audit("token.create", "tok_a"))
            .await
            .expect("create"),
        a
    );
    store
        .create_token(b.clone(), audit("token.create", "tok_b"))
        .await
        .expect("create");
    assert_eq!(
        store.find_token(&a.hash).await.expect("find"),
        Some(a.clone())
    );
    assert_eq!(
        store.find_token(&b.hash).await.expect("find"),
        Some(b.clone())
    );
    assert_eq!(store.find_token(&"c".repeat(64)).await.expect("find"), None);
    let err = store
        .create_token(
            token("tok_c", &a.hash, AccessRole::Admin, None),
            audit("token.create", "tok_c"),
        )
        .await
        .expect_err("duplicate hash");
    match err {
        StoreError::Conflict(m) => assert_client_safe(&m),
        other => panic!("expected Conflict, got {other:?}"),
    }
    let mut listed = store.list_tokens().await.expect("list");
    listed.sort_by(|x, y| x.id.cmp(&y.id));
    assert_eq!(listed, vec![a.clone(), b.clone()]);

    let revoked = store
        .revoke_token("tok_a", at(5_005), audit("token.revoke", "tok_a"))
        .await
        .expect("revoke");
    assert_eq!(revoked.revoked_at, Some(at(5_005)));
    assert_eq!(revoked.id, "tok_a");
    assert_eq!(
        store.find_token(&a.hash).await.expect("find"),
        None,
        "a revoked token is not found"
    );
    assert_eq!(store.find_token(&b.hash).await.expect("find"), Some(b));
    let listed = store.list_tokens().await.expect("list");
    let listed_a = listed
        .iter()
        .find(|t| t.id == "tok_a")
        .expect("revoked tokens are still listed");
    assert_eq!(listed_a.revoked_at, Some(at(5_005)));
    let err = store
        .revoke_token("tok_zz", at(0), audit("token.revoke", "tok_zz"))
        .await
        .expect_err("missing");
    assert!(matches!(err, StoreError::NotFound), "{err:?}");
}

/// `bootstrap_admin` creates the first admin and token once, then does nothing.
pub async fn bootstrap_admin_happens_once<S: Store>(store: &S) {
    let admin = user("root", AccessRole::Admin);
    let t = token("tok_root", &"d".repeat(64), AccessRole::Admin, Some("root"));
    assert!(
        store
            .bootstrap_admin(admin.clone(), t.clone(), audit("bootstrap", "root"))
            .await
            .expect("bootstrap")
    );
    assert_eq!(
        store.get_user(&name("root")).await.expect("get"),
        Some(admin)
    );
    assert_eq!(store.find_token(&t.hash).await.expect("find"), Some(t));
    let again = store
        .bootstrap_admin(
            user("root2", AccessRole::Admin),
            token(
                "tok_root2",
                &"e".repeat(64),
                AccessRole::Admin,
                Some("root2"),
            ),
            audit("bootstrap", "root2"),
        )
        .await
        .expect("bootstrap");
    assert!(!again, "a second bootstrap does nothing");
    assert_eq!(store.get_user(&name("root2")).await.expect("get"), None);
    assert_eq!(store.find_token(&"e".repeat(64)).await.expect("find"), None);
    assert_eq!(
        audit_count(store).await,
        1,
        "only the first bootstrap is audited"
    );
}

/// Each mutation writes its audit entry; `list_audit` is newest first and pages by cursor.
pub async fn audit_written_with_each_mutation<S: Store>(store: &S) {
    let incident = create(store, "Audited", "SEV3", &[], false).await;
    store
        .append_timeline(
            incident.number,
            drafts(vec![note("n")], at(1)),
            audit("incident.note", "INC-1"),
        )
        .await
        .expect("append");
    let mut changed = incident.clone();
    let events = changed.set_status(Status::Identified, at(2)).expect("move");
    store
        .update_incident(
            &changed,
            drafts(events, at(2)),
            audit("incident.update", "INC-1"),
        )
        .await
        .expect("update");
    store
        .create_service(service("svc", false), audit("service.create", "svc"))
        .await
        .expect("service");
    store
        .create_user(user("u", AccessRole::Viewer), audit("user.create", "u"))
        .await
        .expect("user");
    store
        .create_token(
            token("t", &"f".repeat(64), AccessRole::Viewer, None),
            audit("token.create", "t"),
        )
        .await
        .expect("token");
    store
        .revoke_token("t", at(3), audit("token.revoke", "t"))
        .await
        .expect("revoke");

    let page = store.list_audit(None, 100).await.expect("list_audit");
    let actions: Vec<&str> = page.items.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(
        actions,
        vec![
            "token.revoke",
            "token.create",
            "user.create",
            "service.create",
            "incident.update",
            "incident.note",
            "incident.declare"
        ],
        "newest first"
    );
    assert_eq!(page.next, None);
    let first = &page.items[0];
    assert_eq!(
        (first.actor.as_str(), first.target.as_str(), first.at),
        ("alice", "t", at(0))
    );
    assert_eq!(first.source.as_deref(), Some("127.0.0.1"));
    assert!(
        page.items.windows(2).all(|w| w[0].id > w[1].id),
        "ids descend"
    );

    let mut seen = Vec::new();
    let mut cursor = None;
    loop {
        let p = store.list_audit(cursor, 3).await.expect("list_audit");
        seen.extend(p.items.iter().map(|e| e.id));
        match p.next {
            Some(n) => cursor = Some(n),
            None => break,
        }
    }
    assert_eq!(
        seen,
        page.items.iter().map(|e| e.id).collect::<Vec<_>>(),
        "audit pages cover every entry once"
    );

    let mut none = audit("x", "y");
    none.source = None;
    store
        .create_service(service("svc2", false), none)
        .await
        .expect("service");
    let latest = store.list_audit(None, 1).await.expect("list_audit");
    assert_eq!(latest.items[0].source, None);
    assert_eq!(latest.next, Some(latest.items[0].id));
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
