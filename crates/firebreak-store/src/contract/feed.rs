//! Contract checks of the change feed: one commit publishes once, after it is visible, naming
//! what it changed; work that fails (or only reads) publishes nothing; every directory write
//! names its topic.
//!
//! Commits announced by other instances (`remote`) are skipped: on PostgreSQL, tests running
//! side by side may share the notification channel.

use std::sync::Arc;
use std::time::Duration;

use firebreak_domain::{AccessRole, AlertStatus, IncidentNumber, Status};
use tokio::sync::broadcast::Receiver;
use tokio::sync::broadcast::error::RecvError;

use super::directory::{service, token, user};
use super::integrations::{integration, key};
use super::outbox::{attempt, lease};
use super::rules::{deployment, route, silence, window};
use super::subscriptions::subscription;
use super::{alert, at, audit, commit, create, declare, drafts, insert, message, name, note};
use crate::feed::Topic;
use crate::{AlertFilter, Change, Committed, Store, StoreError, StoreWrites, transact};

/// How long a check waits for a commit it expects to hear about.
const PATIENCE: Duration = Duration::from_secs(5);
/// How long a check listens to be sure nothing is published.
const QUIET: Duration = Duration::from_millis(200);

/// The next commit this instance published; panics naming `what` if none comes.
async fn next_local(rx: &mut Receiver<Arc<Committed>>, what: &str) -> Arc<Committed> {
    loop {
        match tokio::time::timeout(PATIENCE, rx.recv()).await {
            Err(_) => panic!("{what}: nothing was published within {PATIENCE:?}"),
            Ok(Err(RecvError::Lagged(n))) => panic!("{what}: the feed dropped {n} commits"),
            Ok(Err(RecvError::Closed)) => panic!("{what}: the feed closed"),
            Ok(Ok(committed)) if committed.remote => continue,
            Ok(Ok(committed)) => return committed,
        }
    }
}

/// Panics if this instance publishes anything within [`QUIET`].
async fn expect_quiet(rx: &mut Receiver<Arc<Committed>>, what: &str) {
    let until = tokio::time::Instant::now() + QUIET;
    loop {
        match tokio::time::timeout_at(until, rx.recv()).await {
            Err(_) => return,
            Ok(Ok(committed)) if committed.remote => continue,
            Ok(Ok(committed)) => panic!("{what}: published {committed:?}"),
            Ok(Err(e)) => panic!("{what}: the feed failed: {e:?}"),
        }
    }
}

/// The next local commit must include `change`.
async fn expect_change(rx: &mut Receiver<Arc<Committed>>, change: Change, what: &str) {
    let committed = next_local(rx, what).await;
    assert!(
        committed.changes.contains(&change),
        "{what}: expected {change:?} in {committed:?}"
    );
}

/// The next local commit must touch `topic`.
async fn expect_topic(rx: &mut Receiver<Arc<Committed>>, topic: Topic, what: &str) {
    let committed = next_local(rx, what).await;
    assert!(
        committed.touches(topic),
        "{what}: expected Directory({topic:?}) in {committed:?}"
    );
}

/// A unit of work that declares an incident, opens an alert attached to it and enqueues a due
/// message publishes one local commit naming all three; a reader that hears of it can already
/// read every row it wrote.
pub async fn feed_publishes_one_commit_with_its_changes<S: Store + 'static>(store: Arc<S>) {
    let mut rx = store.feed().subscribe();
    let mut reader_rx = store.feed().subscribe();
    let reader_store = store.clone();
    // Reads the moment it hears of the commit, racing the writer's return.
    let reader = tokio::spawn(async move {
        let heard = next_local(&mut reader_rx, "the reader").await;
        let incident = reader_store
            .get_incident(IncidentNumber(1))
            .await
            .expect("get_incident");
        let alerts = reader_store
            .list_alerts(&AlertFilter::default(), None, 10)
            .await
            .expect("list_alerts")
            .items
            .len();
        let messages = reader_store
            .list_messages("webhook", "wh_1", None, 10)
            .await
            .expect("list_messages")
            .items
            .len();
        (heard, incident.is_some(), alerts, messages)
    });
    let (incident, events) = declare("Fed", "SEV2", &["checkout"], false);
    let (number, alert_id) = commit(&*store, "a unit of work that writes three things", |tx| {
        Box::pin(async move {
            let created = tx.create_incident(incident, drafts(events, at(0))).await?;
            let mut a = alert("int_1", "checkout", "k", at(1_000));
            a.incident = Some(created.number);
            let opened = tx
                .upsert_triggers(vec![a])
                .await?
                .into_iter()
                .next()
                .ok_or_else(|| StoreError::backend("upsert_triggers answered nothing"))?;
            tx.enqueue(vec![message("wh_1", "m-1", at(5_000))]).await?;
            Ok((created.number, opened.alert.id))
        })
    })
    .await;
    let committed = next_local(&mut rx, "a committed unit of work").await;
    assert!(!committed.remote, "a local commit is not remote");
    for change in [
        Change::Incident { number },
        Change::Alert {
            id: alert_id,
            service: name("checkout"),
            status: AlertStatus::Open,
            incident: Some(number),
        },
        Change::Outbox { due: at(5_000) },
    ] {
        assert!(
            committed.changes.contains(&change),
            "the commit names {change:?}: {committed:?}"
        );
    }
    expect_quiet(&mut rx, "one unit of work publishes once").await;
    let (heard, incident_visible, alerts, messages) = reader.await.expect("reader task");
    assert_eq!(heard, committed, "every subscriber hears the same commit");
    assert!(
        incident_visible && alerts == 1 && messages == 1,
        "a reader that hears of a commit can read what it wrote: incident {incident_visible}, \
         {alerts} alerts, {messages} messages"
    );
}

/// A unit of work that fails publishes nothing, not even what it asked `Tx::publish` to add; one
/// that only reads publishes nothing; `Tx::publish` in a committed unit is published.
pub async fn failed_or_read_only_work_publishes_nothing<S: Store>(store: &S) {
    let mut rx = store.feed().subscribe();
    let (incident, events) = declare("Doomed", "SEV2", &["checkout"], false);
    let failed = transact(store, move |tx| {
        Box::pin(async move {
            tx.create_incident(incident, drafts(events, at(0))).await?;
            tx.upsert_triggers(vec![alert("int_1", "checkout", "k", at(0))])
                .await?;
            tx.enqueue(vec![message("wh_1", "m-1", at(0))]).await?;
            tx.publish(Change::Directory(Topic::Routes));
            Err::<(), _>(StoreError::backend("the engine gave up"))
        })
    })
    .await;
    assert!(failed.is_err(), "the unit of work failed");
    expect_quiet(&mut rx, "a failed unit of work").await;

    store
        .create_service(service("dup", false), audit("service.create", "dup"))
        .await
        .expect("create_service");
    expect_topic(&mut rx, Topic::Services, "create_service").await;
    let refused = store
        .create_service(service("dup", false), audit("service.create", "dup"))
        .await;
    assert!(matches!(refused, Err(StoreError::Conflict(_))));
    expect_quiet(&mut rx, "a refused create_service").await;

    commit(store, "a unit of work that only reads", |tx| {
        Box::pin(async move {
            tx.lock_incident(IncidentNumber(1)).await?;
            tx.lock_open_alert("int_1", "k").await?;
            tx.open_incidents(&[name("checkout")], false).await?;
            tx.any_admin().await?;
            Ok(())
        })
    })
    .await;
    expect_quiet(&mut rx, "a unit of work that only reads").await;

    commit(store, "a unit of work that only publishes", |tx| {
        Box::pin(async move {
            tx.publish(Change::Directory(Topic::Routes));
            Ok(())
        })
    })
    .await;
    let committed = next_local(&mut rx, "Tx::publish").await;
    assert_eq!(
        committed.changes,
        vec![Change::Directory(Topic::Routes)],
        "Tx::publish adds its change to what the commit publishes"
    );
}

/// Incident writes name the incident; alert writes name the alert as it now is (opened,
/// acknowledged and attached, repeated); writes that make a message due name when.
pub async fn feed_names_what_each_write_changed<S: Store>(store: &S) {
    let mut rx = store.feed().subscribe();
    let incident = create(store, "Named", "SEV3", &["checkout"], false).await;
    let number = incident.number;
    let declared = Change::Incident { number };
    expect_change(&mut rx, declared.clone(), "create_incident").await;
    let mut changed = incident.clone();
    let events = changed
        .set_status(Status::Identified, at(1_000))
        .expect("move");
    store
        .update_incident(
            &changed,
            drafts(events, at(1_000)),
            audit("incident.update", "INC-1"),
        )
        .await
        .expect("update_incident");
    expect_change(&mut rx, declared.clone(), "update_incident").await;
    store
        .append_timeline(
            number,
            drafts(vec![note("n")], at(2_000)),
            audit("incident.note", "INC-1"),
        )
        .await
        .expect("append_timeline");
    expect_change(&mut rx, declared, "append_timeline").await;

    let id = insert(store, alert("int_1", "checkout", "k", at(3_000))).await;
    let alert_change = |status, incident| Change::Alert {
        id,
        service: name("checkout"),
        status,
        incident,
    };
    expect_change(
        &mut rx,
        alert_change(AlertStatus::Open, None),
        "an alert opened",
    )
    .await;
    let mut acked = store.get_alert(id).await.expect("get").expect("alert");
    acked.status = AlertStatus::Acknowledged;
    acked.acknowledged_at = Some(at(3_500));
    acked.incident = Some(number);
    super::update(store, acked).await;
    let now_acked = alert_change(AlertStatus::Acknowledged, Some(number));
    expect_change(&mut rx, now_acked.clone(), "update_alert").await;
    super::upsert(store, vec![alert("int_1", "checkout", "k", at(4_000))]).await;
    expect_change(&mut rx, now_acked, "an alert repeated").await;

    store
        .enqueue(vec![message("wh_1", "m-1", at(7_000))])
        .await
        .expect("enqueue");
    expect_change(&mut rx, Change::Outbox { due: at(7_000) }, "enqueue").await;
    let claimed = store
        .claim_due(at(7_000), lease("worker-a", at(60_000)), 10)
        .await
        .expect("claim_due");
    let mid = claimed.first().expect("the message is due").id;
    let _ = tokio::time::timeout(QUIET, next_local(&mut rx, "claim_due")).await;
    store
        .retry_at(mid, "worker-a", at(8_000), attempt(7_100, Some(503), None))
        .await
        .expect("retry_at");
    expect_change(&mut rx, Change::Outbox { due: at(8_000) }, "retry_at").await;
    store
        .claim_due(at(8_000), lease("worker-a", at(60_000)), 10)
        .await
        .expect("claim_due");
    let _ = tokio::time::timeout(QUIET, next_local(&mut rx, "claim_due")).await;
    store.release("worker-a", at(9_000)).await.expect("release");
    expect_change(&mut rx, Change::Outbox { due: at(9_000) }, "release").await;
    store
        .claim_due(at(9_000), lease("worker-a", at(60_000)), 10)
        .await
        .expect("claim_due");
    let _ = tokio::time::timeout(QUIET, next_local(&mut rx, "claim_due")).await;
    store
        .fail(mid, "worker-a", false, attempt(9_100, Some(400), None))
        .await
        .expect("fail");
    let _ = tokio::time::timeout(QUIET, next_local(&mut rx, "fail")).await;
    commit(store, "redeliver", move |tx| {
        Box::pin(async move { tx.redeliver(mid, at(10_000), at(100_000)).await })
    })
    .await;
    expect_change(&mut rx, Change::Outbox { due: at(10_000) }, "redeliver").await;
}

/// Every directory write publishes `Change::Directory` of its topic.
pub async fn directory_writes_publish_their_topic<S: Store>(store: &S) {
    let mut rx = store.feed().subscribe();
    let rx = &mut rx;
    let a = || audit("x", "y");

    store
        .create_service(service("svc", false), a())
        .await
        .expect("create_service");
    expect_topic(rx, Topic::Services, "create_service").await;
    store
        .update_service(service("svc", false), a())
        .await
        .expect("update_service");
    expect_topic(rx, Topic::Services, "update_service").await;
    store
        .delete_service(&name("svc"), a())
        .await
        .expect("delete_service");
    expect_topic(rx, Topic::Services, "delete_service").await;

    store
        .create_user(user("bob", AccessRole::Viewer), a())
        .await
        .expect("create_user");
    expect_topic(rx, Topic::Users, "create_user").await;
    store
        .update_user(user("bob", AccessRole::Responder), a())
        .await
        .expect("update_user");
    expect_topic(rx, Topic::Users, "update_user").await;
    store
        .sync_config(
            vec![service("cfg", true)],
            vec![user("carol", AccessRole::Viewer)],
        )
        .await
        .expect("sync_config");
    let synced = next_local(rx, "sync_config").await;
    assert!(
        synced.touches(Topic::Services) && synced.touches(Topic::Users),
        "sync_config names services and users: {synced:?}"
    );

    store
        .create_token(
            token("tok_a", &"a".repeat(64), AccessRole::Viewer, None),
            a(),
        )
        .await
        .expect("create_token");
    expect_topic(rx, Topic::Tokens, "create_token").await;
    store
        .revoke_token("tok_a", at(1), a())
        .await
        .expect("revoke_token");
    expect_topic(rx, Topic::Tokens, "revoke_token").await;

    store
        .create_integration(
            integration("int_a", "svc", "am", vec![key("key_1", '1', 1)]),
            a(),
        )
        .await
        .expect("create_integration");
    expect_topic(rx, Topic::Integrations, "create_integration").await;
    store
        .add_integration_key("int_a", key("key_2", '2', 2), a())
        .await
        .expect("add_integration_key");
    expect_topic(rx, Topic::Integrations, "add_integration_key").await;
    store
        .revoke_integration_key("int_a", "key_1", at(3), a())
        .await
        .expect("revoke_integration_key");
    expect_topic(rx, Topic::Integrations, "revoke_integration_key").await;
    let mut from_file = integration("int_f", "cfg", "grafana", vec![key("key_3", '3', 3)]);
    from_file.from_config = true;
    store
        .sync_integrations(vec![from_file])
        .await
        .expect("sync_integrations");
    expect_topic(rx, Topic::Integrations, "sync_integrations").await;

    let s = store
        .create_silence(silence(0, 10_000, "s"), a())
        .await
        .expect("create_silence");
    expect_topic(rx, Topic::Silences, "create_silence").await;
    store
        .expire_silence(s.id, at(5_000), a())
        .await
        .expect("expire_silence");
    expect_topic(rx, Topic::Silences, "expire_silence").await;

    let w = store
        .create_maintenance(window("svc", 0, 10_000), a())
        .await
        .expect("create_maintenance");
    expect_topic(rx, Topic::Maintenance, "create_maintenance").await;
    store
        .end_maintenance(w.id, at(5_000), a())
        .await
        .expect("end_maintenance");
    expect_topic(rx, Topic::Maintenance, "end_maintenance").await;

    let r = store
        .create_route(route(&["env=\"dev\""], None, true), a())
        .await
        .expect("create_route");
    expect_topic(rx, Topic::Routes, "create_route").await;
    store.delete_route(r.id, a()).await.expect("delete_route");
    expect_topic(rx, Topic::Routes, "delete_route").await;

    let sub = subscription("wh_a", 1);
    commit(store, "create_subscription", move |tx| {
        Box::pin(async move { tx.create_subscription(&sub).await })
    })
    .await;
    expect_topic(rx, Topic::Subscriptions, "create_subscription").await;
    commit(store, "save_subscription_health", |tx| {
        Box::pin(async move {
            let mut s = tx
                .lock_subscription("wh_a")
                .await?
                .ok_or(StoreError::NotFound)?;
            s.failing_since = Some(at(4));
            tx.save_subscription_health(&s).await
        })
    })
    .await;
    expect_topic(rx, Topic::Subscriptions, "save_subscription_health").await;
    commit(store, "delete_subscription", |tx| {
        Box::pin(async move { tx.delete_subscription("wh_a").await })
    })
    .await;
    expect_topic(rx, Topic::Subscriptions, "delete_subscription").await;

    store
        .record_deployment(deployment("svc", "v1", 1_000), a())
        .await
        .expect("record_deployment");
    expect_topic(rx, Topic::Deployments, "record_deployment").await;

    let admin = user("root", AccessRole::Admin);
    let admin_token = token("tok_root", &"d".repeat(64), AccessRole::Admin, Some("root"));
    assert!(
        store
            .bootstrap_admin(admin, admin_token, a())
            .await
            .expect("bootstrap_admin")
    );
    let booted = next_local(rx, "bootstrap_admin").await;
    assert!(
        booted.touches(Topic::Users) && booted.touches(Topic::Tokens),
        "bootstrap_admin names users and tokens: {booted:?}"
    );
}
