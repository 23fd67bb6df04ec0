//! Contract checks of paging: contact methods (unique names per user, secrets kept as given,
//! removal only by their user), escalation policies (round trip, conflict, replace, sync),
//! escalations (a snapshot of the policy, positions and status saved and read back, filters),
//! kept secrets (the first one wins), a service's policy and manager, and pages claimed before
//! bulk messages.

use firebreak_domain::IncidentNumber;
use firebreak_domain::contact::ContactKind;
use firebreak_domain::escalation::{Escalation, Fired, Policy, Position, Step, Target};
use jiff::SignedDuration;

use super::directory::service;
use super::{assert_client_safe, at, commit, name};
use crate::feed::{Change, Topic};
use crate::{
    ContactRecord, EscalationFilter, Lease, NewMessage, PolicyRecord, Priority, Store, StoreError,
    StoreWrites, transact,
};

fn contact(id: &str, user: &str, kind: ContactKind, n: &str, target: &str) -> ContactRecord {
    ContactRecord {
        id: id.into(),
        user: name(user),
        kind,
        name: n.into(),
        target: target.into(),
        secret: (kind == ContactKind::Webhook).then(|| "whsec_c2VjcmV0LXNlY3JldC1zZWNyZXQ=".into()),
        created_at: at(1),
    }
}

fn policy(n: &str, repeat: u32, first: &str) -> Policy {
    Policy::new(
        name(n),
        repeat,
        vec![
            Step {
                delay: SignedDuration::from_secs(300),
                targets: vec![Target::User(name(first)), Target::Schedule(name("primary"))],
            },
            Step {
                delay: SignedDuration::from_secs(3),
                targets: vec![Target::User(name("bob"))],
            },
        ],
    )
    .expect("a valid policy")
}

fn policy_record(n: &str, first: &str, from_config: bool) -> PolicyRecord {
    PolicyRecord {
        policy: policy(n, 2, first),
        from_config,
        created_at: at(1),
        updated_at: at(1),
    }
}

async fn attempt<S: Store>(
    store: &S,
    f: impl for<'t> FnOnce(
        &'t mut (dyn crate::Tx + 't),
    ) -> futures_util::future::BoxFuture<'t, crate::Result<()>>
    + Send
    + 'static,
) -> crate::Result<()> {
    transact(store, f).await
}

/// Contact methods: create, a second of the same name for the same user is `Conflict` (for
/// another user it is fine), listed per user oldest first with secrets as written, removed only
/// through their own user.
pub async fn contact_methods_round_trip<S: Store>(store: &S) {
    let mut feed = store.feed().subscribe();
    let hook = contact(
        "cm_1",
        "alice",
        ContactKind::Webhook,
        "webhook",
        "https://hooks.example.com/a",
    );
    let slack = contact(
        "cm_2",
        "alice",
        ContactKind::Slack,
        "team chat",
        "https://hooks.slack.com/services/T000/B000/XXXXXXXXXXXXabcd",
    );
    let bob = contact(
        "cm_3",
        "bob",
        ContactKind::Email,
        "webhook",
        "bob@example.com",
    );
    for c in [hook.clone(), slack.clone(), bob.clone()] {
        commit(store, "create_contact", move |tx| {
            Box::pin(async move { tx.create_contact(&c).await })
        })
        .await;
    }
    let published = feed.recv().await.expect("the feed publishes");
    assert!(
        published
            .changes
            .contains(&Change::Directory(Topic::Contacts)),
        "creating a contact method publishes the contacts topic: {published:?}"
    );
    let dup = contact(
        "cm_4",
        "alice",
        ContactKind::Email,
        "team chat",
        "a@example.com",
    );
    match attempt(store, move |tx| {
        Box::pin(async move { tx.create_contact(&dup).await })
    })
    .await
    {
        Err(StoreError::Conflict(m)) => assert_client_safe(&m),
        other => panic!("a second contact method named `team chat` for alice: {other:?}"),
    }
    assert_eq!(
        store
            .contacts_of(&name("alice"))
            .await
            .expect("contacts_of"),
        vec![hook.clone(), slack.clone()],
        "alice's contact methods, oldest first, exactly as written (secrets too)"
    );
    assert_eq!(
        store
            .contacts_of_users(&[name("bob"), name("alice")])
            .await
            .expect("contacts_of_users"),
        vec![hook.clone(), slack.clone(), bob.clone()],
        "by user, then oldest first"
    );
    assert_eq!(
        store.get_contact("cm_3").await.expect("get"),
        Some(bob.clone())
    );
    assert!(
        !format!("{slack:?}").contains("XXXXXXXXXXXX"),
        "Debug masks a chat URL"
    );
    match attempt(store, |tx| {
        Box::pin(async move { tx.delete_contact(&name("bob"), "cm_1").await.map(|_| ()) })
    })
    .await
    {
        Err(StoreError::NotFound) => {}
        other => panic!("bob removing alice's contact method: {other:?}"),
    }
    let removed = commit(store, "delete_contact", |tx| {
        Box::pin(async move { tx.delete_contact(&name("alice"), "cm_1").await })
    })
    .await;
    assert_eq!(removed, hook);
    assert_eq!(
        store
            .contacts_of(&name("alice"))
            .await
            .expect("contacts_of"),
        vec![slack]
    );
    assert_eq!(store.get_contact("cm_1").await.expect("get"), None);
}

/// Policies: create, duplicate is `Conflict`, get and list by name, replace, delete, and sync
/// upserts without deleting.
pub async fn policies_round_trip<S: Store>(store: &S) {
    let ops = policy_record("ops", "alice", false);
    let stored = ops.clone();
    commit(store, "create_policy", move |tx| {
        Box::pin(async move { tx.create_policy(&stored).await })
    })
    .await;
    assert_eq!(
        store.get_policy(&name("ops")).await.expect("get"),
        Some(ops.clone()),
        "a policy reads back exactly as written"
    );
    let again = ops.clone();
    match attempt(store, move |tx| {
        Box::pin(async move { tx.create_policy(&again).await })
    })
    .await
    {
        Err(StoreError::Conflict(m)) => {
            assert_client_safe(&m);
            assert!(m.contains("ops"), "the conflict names the policy: {m}");
        }
        other => panic!("expected Conflict, got {other:?}"),
    }
    let mut changed = policy_record("ops", "carol", false);
    changed.updated_at = at(7);
    let stored = changed.clone();
    commit(store, "replace_policy", move |tx| {
        Box::pin(async move { tx.replace_policy(&stored).await })
    })
    .await;
    let got = store
        .get_policy(&name("ops"))
        .await
        .expect("get")
        .expect("ops");
    assert_eq!(got.policy, changed.policy);
    assert_eq!(got.updated_at, at(7));
    assert_eq!(got.created_at, at(1), "replacing keeps created_at");
    let missing = policy_record("nope", "alice", false);
    match attempt(store, move |tx| {
        Box::pin(async move { tx.replace_policy(&missing).await })
    })
    .await
    {
        Err(StoreError::NotFound) => {}
        other => panic!("replacing a missing policy: {other:?}"),
    }

    let file = vec![
        policy_record("db", "dave", true),
        policy_record("ops", "erin", true),
    ];
    commit(store, "sync_policies", move |tx| {
        Box::pin(async move { tx.sync_policies(file).await })
    })
    .await;
    let listed = store.list_policies().await.expect("list");
    let names: Vec<&str> = listed.iter().map(|p| p.policy.name.as_str()).collect();
    assert_eq!(names, ["db", "ops"], "listed by name");
    assert!(listed.iter().all(|p| p.from_config));
    assert_eq!(
        listed[1].policy.steps[0].targets[0],
        Target::User(name("erin")),
        "sync replaces the definition"
    );
    commit(store, "delete_policy", |tx| {
        Box::pin(async move { tx.delete_policy(&name("db")).await })
    })
    .await;
    assert_eq!(store.get_policy(&name("db")).await.expect("get"), None);
    match attempt(store, |tx| {
        Box::pin(async move { tx.delete_policy(&name("db")).await })
    })
    .await
    {
        Err(StoreError::NotFound) => {}
        other => panic!("deleting a missing policy: {other:?}"),
    }
}

/// Escalations keep their policy snapshot, positions and status; lock and save inside a unit;
/// filters by alert, incident and open status.
pub async fn escalations_round_trip<S: Store>(store: &S) {
    let mut first = Escalation::start(
        "esc_1".into(),
        policy("ops", 1, "alice"),
        Some(11),
        Some(IncidentNumber(4)),
        true,
        at(10),
    );
    let second = Escalation::start(
        "esc_2".into(),
        policy("ops", 0, "bob"),
        Some(12),
        None,
        false,
        at(20),
    );
    for e in [first.clone(), second.clone()] {
        commit(store, "create_escalation", move |tx| {
            Box::pin(async move { tx.create_escalation(&e).await })
        })
        .await;
    }
    assert_eq!(
        store.get_escalation("esc_1").await.expect("get"),
        Some(first.clone()),
        "an escalation reads back exactly as written"
    );
    let dup = second.clone();
    match attempt(store, move |tx| {
        Box::pin(async move { tx.create_escalation(&dup).await })
    })
    .await
    {
        Err(StoreError::Conflict(m)) => assert_client_safe(&m),
        other => panic!("a second esc_2: {other:?}"),
    }

    // Several at once: each reads back as written, and a taken id refuses the whole batch.
    let mut batch = Vec::new();
    for (i, alert) in [(3, 31), (4, 32), (5, 33)] {
        let mut e = Escalation::start(
            format!("esc_{i}"),
            policy("ops", 0, "alice"),
            Some(alert),
            None,
            false,
            at(30 + i64::from(i)),
        );
        if i == 4 {
            // One already past its first step, with every optional field set.
            e.fire(
                firebreak_domain::escalation::Position { round: 0, step: 0 },
                at(40),
            );
            e.acknowledge("alice", at(41));
        }
        batch.push(e);
    }
    let many = batch.clone();
    commit(store, "create_escalations", move |tx| {
        Box::pin(async move { tx.create_escalations(&many).await })
    })
    .await;
    for e in &batch {
        assert_eq!(
            store.get_escalation(&e.id).await.expect("get"),
            Some(e.clone()),
            "an escalation created in a batch reads back exactly as written"
        );
    }
    let clash = vec![
        Escalation::start(
            "esc_6".into(),
            policy("ops", 0, "bob"),
            Some(34),
            None,
            false,
            at(50),
        ),
        second.clone(),
    ];
    match attempt(store, move |tx| {
        Box::pin(async move { tx.create_escalations(&clash).await })
    })
    .await
    {
        Err(StoreError::Conflict(m)) => assert_client_safe(&m),
        other => panic!("a batch holding esc_2 again: {other:?}"),
    }
    assert_eq!(
        store.get_escalation("esc_6").await.expect("get"),
        None,
        "a refused batch writes nothing"
    );

    // Fire the first step and acknowledge, inside units of work.
    let fired = commit(store, "fire", |tx| {
        Box::pin(async move {
            let mut e = tx.lock_escalation("esc_1").await?.expect("esc_1");
            let fired = e.fire(Position { round: 0, step: 0 }, at(10));
            tx.save_escalation(&e).await?;
            Ok(fired)
        })
    })
    .await;
    assert!(matches!(fired, Fired::Page { .. }), "{fired:?}");
    first.fire(Position { round: 0, step: 0 }, at(10));
    assert_eq!(
        store.get_escalation("esc_1").await.expect("get"),
        Some(first.clone())
    );
    commit(store, "ack", |tx| {
        Box::pin(async move {
            let mut e = tx.lock_escalation("esc_1").await?.expect("esc_1");
            assert!(e.acknowledge("alice", at(30)));
            tx.save_escalation(&e).await
        })
    })
    .await;
    first.acknowledge("alice", at(30));
    assert_eq!(
        store.get_escalation("esc_1").await.expect("get"),
        Some(first.clone())
    );

    let ids = |list: Vec<Escalation>| list.into_iter().map(|e| e.id).collect::<Vec<_>>();
    let by_alert = EscalationFilter {
        alert: Some(12),
        ..Default::default()
    };
    assert_eq!(
        ids(store.list_escalations(by_alert).await.expect("list")),
        ["esc_2"]
    );
    let by_incident = EscalationFilter {
        incident: Some(IncidentNumber(4)),
        ..Default::default()
    };
    assert_eq!(
        ids(store.list_escalations(by_incident).await.expect("list")),
        ["esc_1"]
    );
    let either = EscalationFilter {
        alert: Some(12),
        incident: Some(IncidentNumber(4)),
        open_only: false,
    };
    assert_eq!(
        ids(store.list_escalations(either).await.expect("list")),
        ["esc_1", "esc_2"],
        "oldest first"
    );
    assert!(
        store
            .list_escalations(EscalationFilter::default())
            .await
            .expect("list")
            .is_empty(),
        "with neither alert nor incident, nothing matches"
    );
    commit(store, "resolve", |tx| {
        Box::pin(async move {
            let mut e = tx.lock_escalation("esc_2").await?.expect("esc_2");
            e.resolve(at(40));
            tx.save_escalation(&e).await
        })
    })
    .await;
    let open = commit(store, "lock_escalations", move |tx| {
        Box::pin(async move {
            tx.lock_escalations(EscalationFilter {
                open_only: true,
                ..either
            })
            .await
        })
    })
    .await;
    assert_eq!(ids(open), ["esc_1"], "open means active or acknowledged");
    // Waiting for an acknowledgement: neither acknowledged (esc_1, esc_4) nor resolved
    // (esc_2); oldest first, up to the limit.
    assert_eq!(
        ids(store.active_escalations(10).await.expect("active")),
        ["esc_3", "esc_5"]
    );
    assert_eq!(
        ids(store.active_escalations(1).await.expect("active")),
        ["esc_3"]
    );
    match attempt(store, |tx| {
        Box::pin(async move {
            let mut e = Escalation::start(
                "esc_9".into(),
                policy("ops", 0, "bob"),
                None,
                None,
                false,
                at(1),
            );
            e.resolve(at(2));
            tx.save_escalation(&e).await
        })
    })
    .await
    {
        Err(StoreError::NotFound) => {}
        other => panic!("saving a missing escalation: {other:?}"),
    }
}

/// The first secret kept under a name is the one every later call gets; a service keeps its
/// escalation policy and manager.
pub async fn secrets_and_service_paging_fields<S: Store>(store: &S) {
    let first = commit(store, "keep_secret", |tx| {
        Box::pin(async move { tx.keep_secret("ack-links", "one", at(1)).await })
    })
    .await;
    let second = commit(store, "keep_secret", |tx| {
        Box::pin(async move { tx.keep_secret("ack-links", "two", at(2)).await })
    })
    .await;
    assert_eq!((first.as_str(), second.as_str()), ("one", "one"));

    let mut checkout = service("checkout", false);
    checkout.escalation_policy = Some(name("ops"));
    checkout.manager = Some(name("carol"));
    store
        .create_service(
            checkout.clone(),
            super::audit("service.create", "service checkout"),
        )
        .await
        .expect("create_service");
    assert_eq!(
        store.get_service(&name("checkout")).await.expect("get"),
        Some(checkout.clone())
    );
    checkout.escalation_policy = None;
    checkout.manager = Some(name("dave"));
    let updated = store
        .update_service(
            checkout.clone(),
            super::audit("service.update", "service checkout"),
        )
        .await
        .expect("update_service");
    assert_eq!(updated, checkout);
    let mut file = service("checkout", true);
    file.escalation_policy = Some(name("db"));
    commit(store, "sync_config", move |tx| {
        Box::pin(async move { tx.sync_config(vec![file], vec![]).await })
    })
    .await;
    let synced = store
        .get_service(&name("checkout"))
        .await
        .expect("get")
        .expect("checkout");
    assert_eq!(synced.escalation_policy, Some(name("db")));
    assert_eq!(synced.manager, None, "the file's service has no manager");
}

/// A page due later than a bulk message is still claimed first; within a priority, the soonest
/// due first. Page-priority timers not yet due (an escalation's next step) hold back neither
/// the due bulk messages nor the claim's limit.
pub async fn pages_are_claimed_before_bulk<S: Store>(store: &S) {
    let message = |key: &str, due: i64, priority: Priority| NewMessage {
        kind: if priority == Priority::Page {
            "page"
        } else {
            "webhook"
        }
        .into(),
        subject: "s".into(),
        idempotency_key: key.into(),
        payload: "{}".into(),
        due_at: at(due),
        deadline_at: at(due + 3_600),
        created_at: at(0),
        priority,
    };
    let mut messages = vec![
        message("bulk-1", 1, Priority::Bulk),
        message("bulk-2", 2, Priority::Bulk),
        message("page-2", 5, Priority::Page),
        message("page-1", 4, Priority::Page),
    ];
    messages.extend((0..50).map(|i| message(&format!("timer-{i}"), 1_000 + i, Priority::Page)));
    commit(store, "enqueue", move |tx| {
        Box::pin(async move { tx.enqueue(messages).await })
    })
    .await;
    assert_eq!(
        store.next_due().await.expect("next_due"),
        Some(at(1)),
        "next_due is the earliest of every priority"
    );
    let lease = Lease {
        owner: "w".into(),
        until: at(100_000),
    };
    let claimed = store
        .claim_due(at(10), lease.clone(), 3)
        .await
        .expect("claim");
    let keys: Vec<&str> = claimed.iter().map(|m| m.idempotency_key.as_str()).collect();
    assert_eq!(keys, ["page-1", "page-2", "bulk-1"]);
    let rest = store
        .claim_due(at(10), lease.clone(), 3)
        .await
        .expect("claim");
    assert_eq!(rest.len(), 1, "timers not yet due are not claimed");
    assert_eq!(rest[0].idempotency_key, "bulk-2");
    let timers = store
        .claim_due(at(1_001), lease.clone(), 10)
        .await
        .expect("claim");
    let keys: Vec<&str> = timers.iter().map(|m| m.idempotency_key.as_str()).collect();
    assert_eq!(keys, ["timer-0", "timer-1"], "timers as they fall due");

    // Each worker lane claims only its own priority: the bulk lane takes no page and the page
    // lane no bulk message, whichever fell due first.
    commit(store, "enqueue", move |tx| {
        Box::pin(async move {
            tx.enqueue(vec![message("bulk-3", 1_001, Priority::Bulk)])
                .await
        })
    })
    .await;
    let bulk = store
        .claim_due_of(&[Priority::Bulk], at(1_010), lease.clone(), 10)
        .await
        .expect("claim");
    let keys: Vec<&str> = bulk.iter().map(|m| m.idempotency_key.as_str()).collect();
    assert_eq!(keys, ["bulk-3"], "the bulk lane claims bulk only");
    let pages = store
        .claim_due_of(&[Priority::Page], at(1_010), lease, 100)
        .await
        .expect("claim");
    let keys: Vec<&str> = pages.iter().map(|m| m.idempotency_key.as_str()).collect();
    let due: Vec<String> = (2..=10).map(|i| format!("timer-{i}")).collect();
    assert_eq!(keys, due, "the page lane claims the due pages only");
}
