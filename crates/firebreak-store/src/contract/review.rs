//! Postmortems and their revisions, action items, and the reads the reports are computed from.

use firebreak_domain::action_item::{ActionItem, ItemStatus};
use firebreak_domain::postmortem::{PostmortemStatus, Section};
use firebreak_domain::{Incident, IncidentNumber};
use jiff::SignedDuration;
use jiff::civil::{Date, date};

use super::{
    at, audit, commit, declare, drafts, expect_conflict, expect_not_found, name, rules::deployment,
};
use crate::{
    ActionItemFilter, DeployLink, Dismissal, PostmortemRecord, Store, StoreWrites, transact,
};

fn sections(text: &str) -> Vec<Section> {
    vec![
        Section {
            key: "summary".into(),
            title: "Summary".into(),
            markdown: format!("{text} — résumé with ünïcode"),
        },
        Section {
            key: "impact".into(),
            title: "Impact".into(),
            markdown: String::new(),
        },
    ]
}

fn drafted(number: IncidentNumber) -> PostmortemRecord {
    PostmortemRecord {
        number,
        status: PostmortemStatus::Draft,
        version: 1,
        sections: sections("first draft"),
        dismissed: Vec::new(),
        created_at: at(1_000),
        updated_at: at(1_000),
        updated_by: "firebreak".into(),
        published_at: None,
    }
}

/// Declares an incident with the given detection time, services and outcome times (ms after
/// [`at`]).
async fn incident_at<S: Store + ?Sized>(
    store: &S,
    severity: &str,
    services: &[&str],
    drill: bool,
    detected: i64,
    mitigated: Option<i64>,
    resolved: Option<i64>,
) -> Incident {
    let (mut incident, events) = declare("report", severity, services, drill);
    incident.detected_at = at(detected);
    incident.declared_at = at(detected);
    incident.acknowledged_at = Some(at(detected + 60_000));
    incident.mitigated_at = mitigated.map(at);
    incident.resolved_at = resolved.map(at);
    if resolved.is_some() {
        incident.status = firebreak_domain::Status::Resolved;
    }
    store
        .create_incident(
            incident,
            drafts(events, at(detected)),
            audit("incident.declare", "report"),
        )
        .await
        .expect("create_incident")
}

/// A postmortem is created once, saved only from the version it was read at, and every saved
/// version is kept as a revision.
pub async fn postmortems_round_trip_with_revisions<S: Store>(store: &S) {
    let number = super::create(store, "db down", "SEV1", &["checkout"], false)
        .await
        .number;
    assert_eq!(store.get_postmortem(number).await.unwrap(), None);
    let first = drafted(number);
    let p = first.clone();
    commit(store, "create postmortem", move |tx| {
        Box::pin(async move { tx.create_postmortem(&p).await })
    })
    .await;
    assert_eq!(
        store.get_postmortem(number).await.unwrap(),
        Some(first.clone())
    );
    let again = first.clone();
    expect_conflict(
        transact(store, move |tx| {
            Box::pin(async move { tx.create_postmortem(&again).await })
        })
        .await,
        "a second postmortem for one incident",
    );

    let mut edited = first.clone();
    edited.version = 2;
    edited.status = PostmortemStatus::InReview;
    edited.sections = sections("second draft");
    edited.updated_at = at(2_000);
    edited.updated_by = "alice".into();
    edited.dismissed = vec![Dismissal {
        key: "should-have:should have".into(),
        reason: "a quote from the customer".into(),
        by: "alice".into(),
        at_ms: at(2_000).as_millisecond(),
    }];
    let e = edited.clone();
    let locked = commit(store, "edit postmortem", move |tx| {
        Box::pin(async move {
            let locked = tx.lock_postmortem(number).await?;
            tx.save_postmortem(&e, "alice").await?;
            Ok(locked)
        })
    })
    .await;
    assert_eq!(locked, Some(first.clone()));
    assert_eq!(
        store.get_postmortem(number).await.unwrap(),
        Some(edited.clone())
    );

    // A save from a stale version is refused and changes nothing.
    let mut stale = first.clone();
    stale.version = 2;
    stale.sections = sections("lost update");
    expect_conflict(
        transact(store, move |tx| {
            Box::pin(async move { tx.save_postmortem(&stale, "bob").await })
        })
        .await,
        "saving a postmortem from a stale version",
    );
    assert_eq!(
        store.get_postmortem(number).await.unwrap(),
        Some(edited.clone())
    );

    let revisions = store.postmortem_revisions(number).await.unwrap();
    assert_eq!(revisions.len(), 2, "{revisions:?}");
    assert_eq!(revisions[0].version, 1);
    assert_eq!(revisions[0].actor, "firebreak");
    assert_eq!(revisions[0].sections, first.sections);
    assert_eq!(revisions[1].version, 2);
    assert_eq!(revisions[1].actor, "alice");
    assert_eq!(revisions[1].status, PostmortemStatus::InReview);
    assert_eq!(revisions[1].at, at(2_000));
    assert_eq!(revisions[1].sections, edited.sections);

    let mut missing = drafted(IncidentNumber(999));
    missing.version = 2;
    expect_not_found(
        transact(store, move |tx| {
            Box::pin(async move { tx.save_postmortem(&missing, "bob").await })
        })
        .await,
        "saving the postmortem of an unknown incident",
    );
}

/// The postmortem statuses of a page of incidents come in one read: each incident that has a
/// postmortem with its current status, the others (and unknown numbers) left out.
pub async fn postmortem_statuses_of_many_incidents<S: Store>(store: &S) {
    let mut numbers = Vec::new();
    for title in ["none", "draft", "in review", "published"] {
        numbers.push(
            super::create(store, title, "SEV2", &["checkout"], false)
                .await
                .number,
        );
    }
    assert_eq!(store.postmortem_statuses(&numbers).await.unwrap(), vec![]);
    assert_eq!(store.postmortem_statuses(&[]).await.unwrap(), vec![]);
    for (n, status) in [
        (numbers[1], PostmortemStatus::Draft),
        (numbers[2], PostmortemStatus::InReview),
        (numbers[3], PostmortemStatus::Published),
    ] {
        let first = drafted(n);
        let p = first.clone();
        commit(store, "create postmortem", move |tx| {
            Box::pin(async move { tx.create_postmortem(&p).await })
        })
        .await;
        if status != PostmortemStatus::Draft {
            let mut moved = first;
            moved.version = 2;
            moved.status = status;
            commit(store, "move postmortem", move |tx| {
                Box::pin(async move { tx.save_postmortem(&moved, "alice").await })
            })
            .await;
        }
    }
    let mut asked = vec![IncidentNumber(9_999), numbers[3]];
    asked.extend(numbers.iter().take(3));
    assert_eq!(
        store.postmortem_statuses(&asked).await.unwrap(),
        vec![
            (numbers[1], PostmortemStatus::Draft),
            (numbers[2], PostmortemStatus::InReview),
            (numbers[3], PostmortemStatus::Published),
        ]
    );
    assert_eq!(
        store.postmortem_statuses(&numbers[..1]).await.unwrap(),
        vec![]
    );
}

fn item(title: &str, owner: &str, due: Date, incident: Option<IncidentNumber>) -> ActionItem {
    ActionItem {
        id: 0,
        incident,
        title: title.into(),
        owner: name(owner),
        due,
        ticket_url: Some("https://tracker.example.com/OPS-1".into()),
        status: ItemStatus::Open,
        reason: None,
        created_at: at(0),
        created_by: "alice".into(),
        updated_at: at(0),
        closed_at: None,
        reminded_on: None,
        version: 1,
    }
}

async fn add<S: Store + ?Sized>(store: &S, item: ActionItem) -> ActionItem {
    commit(store, "create action item", move |tx| {
        Box::pin(async move { tx.create_action_item(&item).await })
    })
    .await
}

/// Items are stored with every field, filtered by owner, status, incident and overdue, listed
/// soonest due first in pages that cover each once, saved only from their version, and handed
/// to the reminder once a day.
pub async fn action_items_round_trip_filter_and_page<S: Store>(store: &S) {
    let number = super::create(store, "db down", "SEV1", &["checkout"], false)
        .await
        .number;
    let a = add(
        store,
        item("canary stage", "alice", date(2026, 12, 10), Some(number)),
    )
    .await;
    assert!(a.id > 0);
    assert_eq!(store.get_action_item(a.id).await.unwrap(), Some(a.clone()));
    let b = add(
        store,
        item("alert on replication lag", "bob", date(2026, 12, 1), None),
    )
    .await;
    let c = add(
        store,
        item(
            "runbook for failover",
            "alice",
            date(2026, 11, 20),
            Some(number),
        ),
    )
    .await;
    let d = add(store, item("load test", "alice", date(2026, 12, 1), None)).await;
    assert_eq!(store.get_action_item(12345).await.unwrap(), None);

    let ids = |items: &[ActionItem]| items.iter().map(|i| i.id).collect::<Vec<_>>();
    let all = store
        .list_action_items(&ActionItemFilter::default(), None, 100)
        .await
        .unwrap();
    // Soonest due first; the same day by id.
    assert_eq!(ids(&all.items), vec![c.id, b.id, d.id, a.id]);
    assert_eq!(all.next, None);
    let alice = ActionItemFilter {
        owner: Some(name("alice")),
        ..Default::default()
    };
    assert_eq!(
        ids(&store
            .list_action_items(&alice, None, 100)
            .await
            .unwrap()
            .items),
        vec![c.id, d.id, a.id]
    );
    let of_incident = ActionItemFilter {
        incident: Some(number),
        ..Default::default()
    };
    assert_eq!(
        ids(&store
            .list_action_items(&of_incident, None, 100)
            .await
            .unwrap()
            .items),
        vec![c.id, a.id]
    );
    let overdue = ActionItemFilter {
        overdue_on: Some(date(2026, 12, 2)),
        ..Default::default()
    };
    assert_eq!(
        ids(&store
            .list_action_items(&overdue, None, 100)
            .await
            .unwrap()
            .items),
        vec![c.id, b.id, d.id]
    );

    // Pages of one cover every item once, in order.
    let mut seen = Vec::new();
    let mut after = None;
    loop {
        let page = store
            .list_action_items(&ActionItemFilter::default(), after, 1)
            .await
            .unwrap();
        seen.extend(ids(&page.items));
        match page.next {
            Some(n) => after = Some(n),
            None => break,
        }
    }
    assert_eq!(seen, vec![c.id, b.id, d.id, a.id]);

    // Done: saved from its version; a stale save is refused and changes nothing.
    let mut done = d.clone();
    done.status = ItemStatus::Done;
    done.closed_at = Some(at(5_000));
    done.updated_at = at(5_000);
    done.version = 2;
    let saved = done.clone();
    commit(store, "close item", move |tx| {
        Box::pin(async move {
            let locked = tx.lock_action_item(saved.id).await?.expect("item");
            assert_eq!(locked.version, 1);
            tx.save_action_item(&saved).await
        })
    })
    .await;
    assert_eq!(
        store.get_action_item(d.id).await.unwrap(),
        Some(done.clone())
    );
    let mut stale = d.clone();
    stale.version = 2;
    stale.title = "lost".into();
    expect_conflict(
        transact(store, move |tx| {
            Box::pin(async move { tx.save_action_item(&stale).await })
        })
        .await,
        "saving an item from a stale version",
    );
    let mut gone = d.clone();
    gone.id = 9999;
    gone.version = 2;
    expect_not_found(
        transact(store, move |tx| {
            Box::pin(async move { tx.save_action_item(&gone).await })
        })
        .await,
        "saving an unknown item",
    );
    let done_filter = ActionItemFilter {
        status: Some(ItemStatus::Done),
        ..Default::default()
    };
    assert_eq!(
        ids(&store
            .list_action_items(&done_filter, None, 100)
            .await
            .unwrap()
            .items),
        vec![d.id]
    );

    // The reminder takes the open overdue items not yet reminded today.
    let today = date(2026, 12, 2);
    let due = commit(store, "lock overdue", move |tx| {
        Box::pin(async move {
            let items = tx.lock_overdue_items(today, 10).await?;
            tx.note_items_reminded(&ids(&items), today).await?;
            Ok(items)
        })
    })
    .await;
    assert_eq!(ids(&due), vec![b.id, c.id]);
    // Noting the reminder leaves the version alone: an edit made from what the owner read
    // still saves.
    for before in &due {
        let after = store.get_action_item(before.id).await.unwrap().unwrap();
        assert_eq!(after.reminded_on, Some(today));
        assert_eq!(after.version, before.version, "a reminder is no edit");
    }
    commit(store, "note no items", move |tx| {
        Box::pin(async move { tx.note_items_reminded(&[], today).await })
    })
    .await;
    let again = commit(store, "lock overdue again", move |tx| {
        Box::pin(async move { tx.lock_overdue_items(today, 10).await })
    })
    .await;
    assert!(again.is_empty(), "reminded twice in a day: {again:?}");
    let tomorrow = commit(store, "lock overdue tomorrow", move |tx| {
        Box::pin(async move { tx.lock_overdue_items(date(2026, 12, 3), 1).await })
    })
    .await;
    assert_eq!(ids(&tomorrow), vec![b.id], "limited to one, by id");

    // Created in the period: all four; closed in it: d; open and overdue: b and c.
    let rows = store
        .action_item_rows(at(-1), at(10_000), today)
        .await
        .unwrap();
    assert_eq!(
        rows.iter().map(|r| r.id).collect::<Vec<_>>(),
        vec![a.id, b.id, c.id, d.id]
    );
    let rd = rows.iter().find(|r| r.id == d.id).unwrap();
    assert_eq!(rd.status, ItemStatus::Done);
    assert_eq!(rd.closed_at, Some(at(5_000)));
    assert_eq!(rd.due, date(2026, 12, 1));
    let ra = rows.iter().find(|r| r.id == a.id).unwrap();
    assert_eq!(ra.incident, Some(number));
    assert!(!ra.drill);
    assert_eq!(ra.created_at, at(0));
    // Later: only what closed in it (d) and what is overdue (b, c).
    let later = store
        .action_item_rows(at(1), at(10_000), today)
        .await
        .unwrap();
    assert_eq!(
        later.iter().map(|r| r.id).collect::<Vec<_>>(),
        vec![b.id, c.id, d.id]
    );
    let none = store
        .action_item_rows(at(6_000), at(10_000), date(2026, 11, 1))
        .await
        .unwrap();
    assert!(none.is_empty(), "{none:?}");
}

/// The reports' reads: incidents by detection time with their services and postmortem status,
/// deploys counted without rollbacks, and the deploys that led to incidents (the suspect in the
/// window before detection, or the deploy a rollback undid). Also which resolved incidents
/// still miss a postmortem.
pub async fn report_reads_count_and_link_deploys<S: Store>(store: &S) {
    const MIN: i64 = 60_000;
    // Deploys: api at 0 and 10 min, web at 5 min, a rollback of api at 40 min, api at 90 min.
    let record = |service: &'static str, version: &'static str, when: i64| {
        let d = deployment(service, version, when);
        async move {
            commit(store, "deploy", move |tx| {
                Box::pin(async move { tx.record_deployment(d).await })
            })
            .await
        }
    };
    let api1 = record("api", "1.0", 0).await;
    let web1 = record("web", "7.0", 5 * MIN).await;
    let api2 = record("api", "1.1", 10 * MIN).await;
    let api3 = record("api", "1.2", 90 * MIN).await;

    // INC A: web+api, detected at 20 min: suspect api 1.1 (newest of its services).
    let a = incident_at(
        store,
        "SEV1",
        &["web", "api"],
        false,
        20 * MIN,
        Some(35 * MIN),
        Some(50 * MIN),
    )
    .await;
    // INC B: web only, detected at 30 min: suspect web 7.0.
    let b = incident_at(store, "SEV2", &["web"], false, 30 * MIN, None, None).await;
    // INC C: api, detected 3 h after the last deploy: outside a one-hour window.
    let c = incident_at(
        store,
        "SEV3",
        &["api"],
        true,
        300 * MIN,
        None,
        Some(310 * MIN),
    )
    .await;
    // A rollback of api 1.1 run for INC A.
    let mut rollback = deployment("api", "1.0", 40 * MIN);
    rollback.rollback = true;
    rollback.rolls_back = Some(api2.id);
    rollback.incident = Some(a.number);
    let rollback = commit(store, "rollback", move |tx| {
        Box::pin(async move { tx.record_deployment(rollback).await })
    })
    .await;
    assert!(rollback.rollback);
    assert_eq!(rollback.rolls_back, Some(api2.id));
    assert_eq!(rollback.incident, Some(a.number));
    // A rollback of that rollback, also for INC A: the deploy it undid is itself remediation,
    // so it is no failed deploy.
    let mut undo = deployment("api", "1.1", 45 * MIN);
    undo.rollback = true;
    undo.rolls_back = Some(rollback.id);
    undo.incident = Some(a.number);
    commit(store, "rollback of the rollback", move |tx| {
        Box::pin(async move { tx.record_deployment(undo).await })
    })
    .await;
    let listed = store.list_deployments(None, None, 10).await.unwrap();
    assert_eq!(listed.items.iter().filter(|d| d.rollback).count(), 2);

    let rows = store.incident_rows(at(0), at(400 * MIN)).await.unwrap();
    assert_eq!(
        rows.iter().map(|r| r.number).collect::<Vec<_>>(),
        vec![a.number, b.number, c.number]
    );
    // In the incident's own order, not by name.
    assert_eq!(rows[0].services, vec![name("web"), name("api")]);
    assert!(rows[1].services == vec![name("web")] && rows[2].services == vec![name("api")]);
    assert_eq!(rows[0].severity, "SEV1");
    assert_eq!(rows[0].detected_at, at(20 * MIN));
    assert_eq!(rows[0].acknowledged_at, Some(at(21 * MIN)));
    assert_eq!(rows[0].mitigated_at, Some(at(35 * MIN)));
    assert_eq!(rows[0].resolved_at, Some(at(50 * MIN)));
    assert_eq!(rows[0].postmortem, None);
    assert!(rows[2].drill);
    // The range is [from, to).
    let middle = store
        .incident_rows(at(20 * MIN + 1), at(300 * MIN))
        .await
        .unwrap();
    assert_eq!(
        middle.iter().map(|r| r.number).collect::<Vec<_>>(),
        vec![b.number]
    );

    let mut pm = drafted(a.number);
    pm.status = PostmortemStatus::Published;
    commit(store, "publish", move |tx| {
        Box::pin(async move { tx.create_postmortem(&pm).await })
    })
    .await;
    let rows = store.incident_rows(at(0), at(400 * MIN)).await.unwrap();
    assert_eq!(rows[0].postmortem, Some(PostmortemStatus::Published));

    // Counted: every deploy in range but the rollback.
    let counts = store
        .deploy_counts(at(0), at(100 * MIN), None, false)
        .await
        .unwrap();
    assert_eq!(counts, vec![(name("api"), 3), (name("web"), 1)]);
    let api_only = store
        .deploy_counts(at(0), at(90 * MIN), Some(&name("api")), false)
        .await
        .unwrap();
    assert_eq!(api_only, vec![(name("api"), 2)], "to is exclusive");
    // Per span, in the order given, each [start, end) on its own (spans may overlap); the
    // rollback at 40 min is in no count.
    let spans = [
        (at(0), at(5 * MIN)),
        (at(5 * MIN), at(10 * MIN)),
        (at(10 * MIN), at(90 * MIN + 1)),
        (at(40 * MIN), at(41 * MIN)),
        (at(0), at(100 * MIN)),
        (at(100 * MIN), at(200 * MIN)),
    ];
    assert_eq!(
        store.deploy_counts_per_span(&spans, false).await.unwrap(),
        vec![1, 1, 2, 0, 4, 0]
    );
    assert!(
        store
            .deploy_counts_per_span(&[], false)
            .await
            .unwrap()
            .is_empty()
    );

    let window = SignedDuration::from_hours(1);
    let failures = store
        .deploy_failures(at(0), at(100 * MIN), window, None, false)
        .await
        .unwrap();
    let seen: Vec<_> = failures
        .iter()
        .map(|f| (f.deploy, f.incident, f.link))
        .collect();
    assert_eq!(
        seen,
        vec![
            (web1.id, b.number, DeployLink::Suspect),
            (api2.id, a.number, DeployLink::RolledBack),
            (api2.id, a.number, DeployLink::Suspect),
        ]
    );
    let f = &failures[1];
    assert_eq!(f.service, name("api"));
    assert_eq!(f.version, "1.1");
    assert_eq!(f.at, at(10 * MIN));
    assert_eq!(f.severity, "SEV1");
    assert_eq!(f.detected_at, at(20 * MIN));
    assert_eq!(f.mitigated_at, Some(at(35 * MIN)));
    assert_eq!(f.resolved_at, Some(at(50 * MIN)));
    assert!(!f.drill);
    assert!(
        failures.iter().all(|f| f.deploy != rollback.id),
        "a rolled-back rollback is no failed deploy: {failures:?}"
    );
    // A deploy outside the range is not a failure of that range; neither is api 1.0.
    assert!(
        failures
            .iter()
            .all(|f| f.deploy != api1.id && f.deploy != api3.id)
    );
    let web = store
        .deploy_failures(at(0), at(100 * MIN), window, Some(&name("web")), false)
        .await
        .unwrap();
    assert_eq!(web.len(), 1);
    assert_eq!(web[0].deploy, web1.id);
    // A short window leaves INC B's suspect (25 min before it) out.
    let short = store
        .deploy_failures(
            at(0),
            at(100 * MIN),
            SignedDuration::from_mins(15),
            None,
            false,
        )
        .await
        .unwrap();
    assert!(short.iter().all(|f| f.incident != b.number), "{short:?}");
    for window in [SignedDuration::from_mins(15), window] {
        links_agree(store, window).await;
    }

    // INC C (a drill) and INC B (unresolved) never need a reminder; INC A has a published one.
    let severities = vec!["SEV1".to_string(), "SEV2".to_string(), "SEV3".to_string()];
    let missing = store
        .postmortems_missing(&severities, at(1000 * MIN), 10)
        .await
        .unwrap();
    assert!(missing.is_empty(), "{missing:?}");
    let d = incident_at(
        store,
        "SEV2",
        &["api"],
        false,
        100 * MIN,
        None,
        Some(120 * MIN),
    )
    .await;
    let missing = store
        .postmortems_missing(&severities, at(1000 * MIN), 10)
        .await
        .unwrap();
    assert_eq!(missing, vec![d.number]);
    assert!(
        store
            .postmortems_missing(&severities, at(120 * MIN), 10)
            .await
            .unwrap()
            .is_empty(),
        "resolved_before is exclusive"
    );
    assert!(
        store
            .postmortems_missing(&["SEV1".to_string()], at(1000 * MIN), 10)
            .await
            .unwrap()
            .is_empty()
    );
    let number = d.number;
    let first = commit(store, "remind", move |tx| {
        Box::pin(async move { tx.note_postmortem_reminder(number, at(0)).await })
    })
    .await;
    assert!(first);
    let second = commit(store, "remind again", move |tx| {
        Box::pin(async move { tx.note_postmortem_reminder(number, at(1)).await })
    })
    .await;
    assert!(!second);
    assert!(
        store
            .postmortems_missing(&severities, at(1000 * MIN), 10)
            .await
            .unwrap()
            .is_empty()
    );
}

/// Each incident keeps its newest earlier deploy, the one the reports name as its suspect: the
/// newest deploy, not a rollback, of any of its services at or before its detection. It stays
/// true when a deploy is recorded late (stamped before an incident already declared), when the
/// incident's services or detection time change, and it ignores rollbacks, later deploys and
/// other services' deploys.
/// `failure_links` holds every link `deploy_failures` reads, for any period, service and kind,
/// and reads one incident's links alone: what the reports' cache relies on.
async fn links_agree<S: Store + ?Sized>(store: &S, window: SignedDuration) {
    const MIN: i64 = 60_000;
    let key =
        |f: &crate::DeployFailureRow| (f.at, f.incident.0, f.deploy, f.link == DeployLink::Suspect);
    let mut all = store.failure_links(None, window).await.unwrap();
    all.sort_by_key(key);
    let periods = [
        (0, 100 * MIN),
        (0, 12 * MIN),
        (12 * MIN, 100 * MIN),
        (15 * MIN, 16 * MIN),
    ];
    for (from, to) in periods {
        for drills in [false, true] {
            for service in [None, Some(name("api")), Some(name("web")), Some(name("db"))] {
                let mut expected = store
                    .deploy_failures(at(from), at(to), window, service.as_ref(), drills)
                    .await
                    .unwrap();
                expected.sort_by_key(key);
                let kept: Vec<_> = all
                    .iter()
                    .filter(|f| {
                        f.at >= at(from)
                            && f.at < at(to)
                            && (drills || !f.deploy_drill)
                            && service.as_ref().is_none_or(|s| f.service == *s)
                    })
                    .cloned()
                    .collect();
                assert_eq!(kept, expected, "{from}..{to} drills {drills} {service:?}");
            }
        }
    }
    let mut numbers: Vec<IncidentNumber> = all.iter().map(|f| f.incident).collect();
    numbers.dedup();
    for n in &numbers {
        let mut one = store.failure_links(Some(&[*n]), window).await.unwrap();
        one.sort_by_key(key);
        let expected: Vec<_> = all.iter().filter(|f| f.incident == *n).cloned().collect();
        assert_eq!(one, expected, "INC {n:?}");
    }
    assert!(
        store
            .failure_links(Some(&[]), window)
            .await
            .unwrap()
            .is_empty()
    );
}

/// The incidents a commit published as changed, from a subscription taken before it.
fn changed_incidents(
    feed: &mut tokio::sync::broadcast::Receiver<std::sync::Arc<crate::feed::Committed>>,
) -> Vec<IncidentNumber> {
    let mut found = Vec::new();
    while let Ok(c) = feed.try_recv() {
        for change in &c.changes {
            if let crate::feed::Change::Incident { number } = change {
                found.push(*number);
            }
        }
    }
    found
}

pub async fn suspects_follow_deploys_and_incident_changes<S: Store>(store: &S) {
    const MIN: i64 = 60_000;
    let record = |d: crate::DeploymentRecord| async move {
        commit(store, "deploy", move |tx| {
            Box::pin(async move { tx.record_deployment(d).await })
        })
        .await
    };
    let suspects = |window_mins: i64| async move {
        let deploys = store.list_deployments(None, None, 100).await.unwrap().items;
        store
            .deploy_failures(
                at(0),
                at(100 * MIN),
                SignedDuration::from_mins(window_mins),
                None,
                false,
            )
            .await
            .unwrap()
            .into_iter()
            .filter(|f| f.link == DeployLink::Suspect)
            .map(|f| {
                // The deploy's service, version and time, as the incident keeps them.
                let d = deploys.iter().find(|d| d.id == f.deploy).expect("a deploy");
                assert_eq!(
                    (&f.service, &f.version, f.at),
                    (&d.service, &d.version, d.at),
                    "INC {:?}",
                    f.incident
                );
                (f.incident, f.deploy)
            })
            .collect::<Vec<_>>()
    };
    let change = |incident: Incident, services: &'static [&'static str], detected: i64| async move {
        let mut changed = incident;
        changed.services = services.iter().map(|s| name(s)).collect();
        changed.detected_at = at(detected);
        changed.version += 1;
        store
            .update_incident(&changed, Vec::new(), audit("incident.update", "report"))
            .await
            .expect("update_incident");
        changed
    };

    let v1 = record(deployment("api", "1", 0)).await;
    let a = incident_at(store, "SEV2", &["api"], false, 20 * MIN, None, None).await;
    let b = incident_at(store, "SEV3", &["db"], false, 25 * MIN, None, None).await;
    assert_eq!(suspects(60).await, vec![(a.number, v1.id)]);

    // Recorded late: stamped 10 min, after INC A was declared at 20 min. INC A changed, and
    // the feed says so.
    let mut feed = store.feed().subscribe();
    let v2 = record(deployment("api", "2", 10 * MIN)).await;
    assert_eq!(suspects(60).await, vec![(a.number, v2.id)]);
    assert_eq!(changed_incidents(&mut feed), vec![a.number]);
    links_agree(store, SignedDuration::from_mins(60)).await;
    // After the detection, a rollback, and another service: none of them.
    record(deployment("api", "3", 30 * MIN)).await;
    let mut rollback = deployment("api", "1", 15 * MIN);
    rollback.rollback = true;
    rollback.rolls_back = Some(v2.id);
    record(rollback).await;
    let w1 = record(deployment("web", "1", 18 * MIN)).await;
    assert_eq!(suspects(60).await, vec![(a.number, v2.id)]);
    // The window still applies: v2 is 10 min before the detection.
    assert!(suspects(5).await.is_empty());

    // INC A now also touches web: its deploy at 18 min is newer.
    let a = change(a, &["api", "web"], 20 * MIN).await;
    assert_eq!(suspects(60).await, vec![(a.number, w1.id)]);
    // Detected earlier, at 12 min: web's deploy came after it; api 2 is the newest before.
    let a = change(a, &["api", "web"], 12 * MIN).await;
    assert_eq!(suspects(60).await, vec![(a.number, v2.id)]);
    assert_eq!(suspects(5).await, vec![(a.number, v2.id)]);
    // Without its services, nothing is suspect.
    let a = change(a, &[], 12 * MIN).await;
    assert!(suspects(60).await.is_empty());
    let a = change(a, &["api"], 12 * MIN).await;

    // Two deploys of db stamped the same instant: the one recorded last is the suspect.
    record(deployment("db", "1", 24 * MIN)).await;
    let db2 = record(deployment("db", "2", 24 * MIN)).await;
    let mut found = suspects(60).await;
    found.sort();
    assert_eq!(found, vec![(a.number, v2.id), (b.number, db2.id)]);

    // A game day's deploys are drills: newer than api 2 and before INC A, yet no suspect of a
    // real incident, recorded before or after it; no count; and a drill incident's suspect
    // is a drill deploy, which no failure lists, nor its drill rollback.
    let counts_before = store
        .deploy_counts(at(0), at(100 * MIN), None, false)
        .await
        .unwrap();
    let spans = [(at(0), at(50 * MIN)), (at(50 * MIN), at(100 * MIN))];
    let spans_before = store.deploy_counts_per_span(&spans, false).await.unwrap();
    let mut drill_deploy = deployment("api", "drill-1", 11 * MIN);
    drill_deploy.drill = true;
    let drill_deploy = record(drill_deploy).await;
    let c = incident_at(store, "SEV2", &["api"], true, 13 * MIN, None, None).await;
    let c = change(c, &["api", "db"], 13 * MIN).await;
    let mut drill_rollback = deployment("api", "1", 14 * MIN);
    drill_rollback.drill = true;
    drill_rollback.rollback = true;
    drill_rollback.rolls_back = Some(drill_deploy.id);
    drill_rollback.incident = Some(c.number);
    changed_incidents(&mut feed);
    record(drill_rollback).await;
    // A rollback run for an incident is one of its links: the incident changed.
    assert_eq!(changed_incidents(&mut feed), vec![c.number]);
    let a = change(a, &["api"], 12 * MIN).await;
    let mut found = suspects(60).await;
    found.sort();
    assert_eq!(found, vec![(a.number, v2.id), (b.number, db2.id)]);
    let all = store
        .deploy_failures(
            at(0),
            at(100 * MIN),
            SignedDuration::from_mins(60),
            None,
            false,
        )
        .await
        .unwrap();
    assert!(
        all.iter()
            .all(|f| f.incident != c.number && f.deploy != drill_deploy.id),
        "a drill deploy is no failure: {all:?}"
    );
    assert_eq!(
        store
            .deploy_counts(at(0), at(100 * MIN), None, false)
            .await
            .unwrap(),
        counts_before
    );
    assert_eq!(
        store
            .deploy_counts(at(0), at(100 * MIN), Some(&name("api")), false)
            .await
            .unwrap(),
        counts_before
            .iter()
            .filter(|(s, _)| s.as_str() == "api")
            .cloned()
            .collect::<Vec<_>>()
    );
    assert_eq!(
        store.deploy_counts_per_span(&spans, false).await.unwrap(),
        spans_before
    );
    // Asked for, drills count: the drill deploy (its rollback is no deploy), and the drill
    // incident's failure, as its suspect and as what its drill rollback undid.
    let with_drills = store
        .deploy_counts(at(0), at(100 * MIN), Some(&name("api")), true)
        .await
        .unwrap();
    let api_before = counts_before
        .iter()
        .find(|(s, _)| s.as_str() == "api")
        .map_or(0, |(_, n)| *n);
    assert_eq!(with_drills, vec![(name("api"), api_before + 1)]);
    let spans_with = store.deploy_counts_per_span(&spans, true).await.unwrap();
    assert_eq!(spans_with, vec![spans_before[0] + 1, spans_before[1]]);
    let all = store
        .deploy_failures(
            at(0),
            at(100 * MIN),
            SignedDuration::from_mins(60),
            None,
            true,
        )
        .await
        .unwrap();
    let drill_links: Vec<DeployLink> = all
        .iter()
        .filter(|f| f.incident == c.number)
        .map(|f| {
            assert_eq!(f.deploy, drill_deploy.id, "{f:?}");
            assert!(f.drill, "{f:?}");
            f.link
        })
        .collect();
    assert_eq!(drill_links.len(), 2, "{all:?}");
    assert!(drill_links.contains(&DeployLink::Suspect), "{all:?}");
    assert!(
        all.iter()
            .any(|f| f.incident == a.number && f.deploy == v2.id),
        "{all:?}"
    );
    for window in [5, 60] {
        links_agree(store, SignedDuration::from_mins(window)).await;
    }
    // The incidents' rows read by number are the rows read by period.
    let by_period = store.incident_rows(at(0), at(100 * MIN)).await.unwrap();
    let numbers: Vec<IncidentNumber> = by_period.iter().map(|i| i.number).collect();
    assert!(numbers.len() >= 3, "{numbers:?}");
    assert_eq!(store.incident_rows_of(&numbers).await.unwrap(), by_period);
    assert_eq!(
        store.incident_rows_of(&numbers[1..2]).await.unwrap(),
        by_period[1..2].to_vec()
    );
    assert!(
        store
            .incident_rows_of(&[IncidentNumber(999_999)])
            .await
            .unwrap()
            .is_empty()
    );
}

/// Deploys counted over periods that cut days in two, span whole days or sit inside one day
/// (the stores count whole days from their per-day counts) equal a count of the deploys one
/// by one: per service, per span, drills and rollbacks left out or in as asked.
pub async fn deploy_counts_match_deploys_across_days<S: Store>(store: &S) {
    const HOUR: i64 = 3_600_000;
    const DAY: i64 = 24 * HOUR;
    // Day boundaries in UTC, relative to `at(0)` (which is not midnight).
    let midnight = crate::DAY_MS - at(0).as_millisecond().rem_euclid(crate::DAY_MS);
    let mut plan = Vec::new();
    for i in 0..60_i64 {
        // Deploys every 7 h 13 min, around midnights and on them.
        let when = i * (7 * HOUR + 13 * 60_000);
        let service = ["api", "web", "db"][(i % 3) as usize];
        plan.push((service, when, i % 11 == 0, i % 7 == 0));
    }
    plan.push(("api", midnight, false, false));
    plan.push(("web", midnight + DAY, false, false));
    plan.push(("web", midnight + DAY - 1, false, false));
    for &(service, when, rollback, drill) in &plan {
        let mut d = deployment(service, "v", when);
        d.rollback = rollback;
        d.drill = drill;
        commit(store, "deploy", move |tx| {
            Box::pin(async move { tx.record_deployment(d).await })
        })
        .await;
    }
    let expected = |from: i64, to: i64, service: Option<&str>, drills: bool| -> u64 {
        plan.iter()
            .filter(|(s, when, rollback, drill)| {
                *when >= from
                    && *when < to
                    && !rollback
                    && (drills || !drill)
                    && service.is_none_or(|x| x == *s)
            })
            .count() as u64
    };
    let periods = [
        (0, 18 * DAY),
        (midnight, midnight + DAY),
        (midnight + 1, midnight + DAY),
        (midnight - 1, midnight + 3 * DAY + 1),
        (midnight + HOUR, midnight + 2 * HOUR),
        (midnight + DAY - HOUR, midnight + DAY + HOUR),
        (5 * HOUR, 9 * DAY + 5 * HOUR),
        (midnight + 2 * DAY, midnight + 2 * DAY),
    ];
    for drills in [false, true] {
        for (from, to) in periods {
            for service in [None, Some("api"), Some("web")] {
                let counts = store
                    .deploy_counts(at(from), at(to), service.map(name).as_ref(), drills)
                    .await
                    .unwrap();
                let mut want = Vec::new();
                for s in ["api", "db", "web"] {
                    let n = expected(from, to, Some(s), drills);
                    if n > 0 && service.is_none_or(|x| x == s) {
                        want.push((name(s), n));
                    }
                }
                assert_eq!(counts, want, "{from}..{to} {service:?} drills={drills}");
            }
        }
        let spans: Vec<_> = periods.iter().map(|(f, t)| (at(*f), at(*t))).collect();
        let want: Vec<u64> = periods
            .iter()
            .map(|(f, t)| expected(*f, *t, None, drills))
            .collect();
        assert_eq!(
            store.deploy_counts_per_span(&spans, drills).await.unwrap(),
            want,
            "spans, drills={drills}"
        );
    }
}
