//! Several Firebreak instances on one database, and the committer under pressure: two stores on
//! one schema hear each other's commits and share the outbox without delivering a message twice;
//! a batch where some units of work fail commits the others; a backed-up queue refuses new work;
//! dead connections and a lost listener recover; a database that is away answers `Unavailable`
//! quickly.

mod common;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use firebreak_domain::{Actor, Config, Incident, Name, NewIncident};
use firebreak_store::feed::Topic;
use firebreak_store::{
    AlertStore, Change, Committed, IntegrationKey, IntegrationRecord, Lease, NewMessage,
    ServiceRecord, Store, StoreError, StoreWrites, TimelineDraft, transact,
};
use firebreak_store_postgres::PostgresStore;
use jiff::Timestamp;
use tokio::sync::broadcast;

fn at(ms: i64) -> Timestamp {
    Timestamp::from_millisecond(1_800_000_000_000 + ms).unwrap()
}

fn message(key: &str, due: Timestamp) -> NewMessage {
    NewMessage {
        kind: "webhook".into(),
        subject: "wh_1".into(),
        idempotency_key: key.into(),
        payload: format!("{{\"key\":\"{key}\"}}"),
        due_at: due,
        deadline_at: due + jiff::SignedDuration::from_hours(24),
        created_at: at(0),
        priority: firebreak_store::Priority::Bulk,
    }
}

fn service(name: &str, description: &str) -> ServiceRecord {
    ServiceRecord {
        name: Name::parse(name).unwrap(),
        description: description.into(),
        team: None,
        runbook: None,
        escalation_policy: None,
        manager: None,
        from_config: false,
        created_at: at(0),
    }
}

fn declared(title: &str) -> (Incident, Vec<TimelineDraft>) {
    let new = NewIncident {
        title: title.into(),
        severity: "SEV3".into(),
        ..Default::default()
    };
    let (incident, events) =
        Incident::declare(new, &Config::default(), &Actor("alice".into()), None, at(0)).unwrap();
    let drafts = events
        .into_iter()
        .map(|event| TimelineDraft {
            at: at(0),
            actor: "alice".into(),
            event,
        })
        .collect();
    (incident, drafts)
}

/// Waits up to `limit` for a commit on `feed` that `wanted` accepts.
async fn expect_on_feed(
    feed: &mut broadcast::Receiver<Arc<Committed>>,
    limit: Duration,
    wanted: impl Fn(&Committed) -> bool,
) -> Arc<Committed> {
    let deadline = Instant::now() + limit;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, feed.recv()).await {
            Ok(Ok(c)) if wanted(&c) => return c,
            Ok(Ok(_)) | Ok(Err(broadcast::error::RecvError::Lagged(_))) => {}
            Ok(Err(e)) => panic!("the feed closed: {e}"),
            Err(_) => panic!("nothing wanted arrived on the feed within {limit:?}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_instance_hears_what_another_committed() {
    let schema = common::fresh_schema();
    let a = common::store_in(&schema).await;
    let b = common::store_in(&schema).await;
    let mut heard_by_b = b.feed().subscribe();
    let mut heard_by_a = a.feed().subscribe();

    assert_eq!(a.enqueue(vec![message("m-1", at(5))]).await.unwrap(), 1);
    let remote = expect_on_feed(&mut heard_by_b, Duration::from_secs(3), |c| c.remote).await;
    assert!(
        remote.changes.contains(&Change::Outbox { due: at(5) }),
        "{remote:?}"
    );

    let local = expect_on_feed(&mut heard_by_a, Duration::from_secs(1), |_| true).await;
    assert!(!local.remote, "a store publishes its own commit as local");
    assert!(local.changes.contains(&Change::Outbox { due: at(5) }));
    // B's commit reaches A; A never hears its own commit again as remote.
    b.create_service(service("checkout", "shop"), audit())
        .await
        .unwrap();
    let remote = expect_on_feed(&mut heard_by_a, Duration::from_secs(3), |c| c.remote).await;
    assert!(remote.touches(Topic::Services), "{remote:?}");
    assert!(
        !remote.changes.contains(&Change::Outbox { due: at(5) }),
        "A heard its own enqueue back: {remote:?}"
    );
    b.close().await;
    a.drop_schema().await.unwrap();
}

fn audit() -> firebreak_store::AuditDraft {
    firebreak_store::AuditDraft {
        actor: "alice".into(),
        action: "test".into(),
        target: "x".into(),
        at: at(0),
        source: None,
        break_glass: None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_instances_claim_each_message_once() {
    let schema = common::fresh_schema();
    let a = Arc::new(common::store_in(&schema).await);
    let b = Arc::new(common::store_in(&schema).await);
    let messages: Vec<NewMessage> = (0..300)
        .map(|i| message(&format!("m-{i}"), at(i)))
        .collect();
    assert_eq!(a.enqueue(messages).await.unwrap(), 300);

    let claimers: Vec<_> = [&a, &a, &b, &b]
        .into_iter()
        .enumerate()
        .map(|(n, store)| {
            let store = Arc::clone(store);
            tokio::spawn(async move {
                let lease = Lease {
                    owner: format!("claimer-{n}"),
                    until: at(3_600_000),
                };
                let mut claimed = Vec::new();
                loop {
                    let batch = store.claim_due(at(1_000), lease.clone(), 10).await.unwrap();
                    if batch.is_empty() {
                        return claimed;
                    }
                    assert!(batch.len() <= 10);
                    claimed.extend(batch.into_iter().map(|m| m.id));
                }
            })
        })
        .collect();
    let mut all = Vec::new();
    let mut busy = 0;
    for c in claimers {
        let claimed = c.await.unwrap();
        busy += usize::from(!claimed.is_empty());
        all.extend(claimed);
    }
    let unique: BTreeSet<i64> = all.iter().copied().collect();
    assert_eq!(all.len(), 300, "every message claimed, none twice");
    assert_eq!(unique.len(), 300);
    assert!(busy >= 2, "the claimers shared the work");
    let sending: i64 =
        sqlx::query_scalar("SELECT count(*) FROM outbox WHERE status = 'sending' AND attempts = 1")
            .fetch_one(a.pool())
            .await
            .unwrap();
    assert_eq!(sending, 300, "each message counted one attempt");
    b.close().await;
    a.drop_schema().await.unwrap();
}

/// Holds the advisory lock units of work take with `lock_name("gate")`, so the committer tasks
/// that run one wait until [`Gate::open`].
struct Gate(sqlx::pool::PoolConnection<sqlx::Postgres>);

impl Gate {
    async fn close(store: &PostgresStore) -> Gate {
        let mut conn = store.pool().acquire().await.unwrap();
        sqlx::raw_sql(
            "BEGIN; SELECT pg_advisory_xact_lock(hashtextextended('firebreak-' || current_schema() || ':gate', 0))",
        )
        .execute(&mut *conn)
        .await
        .unwrap();
        Gate(conn)
    }

    async fn open(mut self) {
        sqlx::raw_sql("COMMIT").execute(&mut *self.0).await.unwrap();
    }
}

/// Occupies every committer task with a unit of work waiting at the gate, one at a time (two
/// queued together could share a batch). Returns once they all wait.
async fn occupy_committers(
    store: &Arc<PostgresStore>,
    app: &str,
) -> Vec<tokio::task::JoinHandle<()>> {
    let mut waiting = Vec::new();
    for n in 1..=firebreak_store_postgres::committer::COMMITTERS {
        let occupant = store.clone();
        waiting.push(tokio::spawn(async move {
            transact(&*occupant, |tx| {
                Box::pin(async move { tx.lock_name("gate").await })
            })
            .await
            .unwrap()
        }));
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let blocked: i64 = sqlx::query_scalar(
                "SELECT count(*) FROM pg_stat_activity
                 WHERE application_name = $1 AND wait_event_type = 'Lock' AND wait_event = 'advisory'",
            )
            .bind(app)
            .fetch_one(store.pool())
            .await
            .unwrap();
            if blocked as usize == n {
                break;
            }
            assert!(Instant::now() < deadline, "committer {n} never waited");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    waiting
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_batch_commits_the_units_that_succeed() {
    let schema = common::fresh_schema();
    let app = format!("a{}", &schema[schema.len() - 12..]);
    let store = Arc::new(common::named_store_in(&schema, &app).await);
    let mut feed = store.feed().subscribe();
    let gate = Gate::close(&store).await;
    let waiting = occupy_committers(&store, &app).await;

    let declare = |title: &'static str, fail: bool| {
        let store = store.clone();
        tokio::spawn(async move {
            let (incident, events) = declared(title);
            transact(&*store, move |tx| {
                Box::pin(async move {
                    let created = tx.create_incident(incident, events).await?;
                    if fail {
                        return Err(StoreError::backend("the engine gave up"));
                    }
                    Ok(created.number)
                })
            })
            .await
        })
    };
    let with_nul = |swallow: bool| {
        let store = store.clone();
        tokio::spawn(async move {
            transact(&*store, move |tx| {
                Box::pin(async move {
                    let written = tx.create_service(&service("nul", "a\0b")).await;
                    if swallow {
                        return Ok(());
                    }
                    written
                })
            })
            .await
        })
    };
    let first = declare("first", false);
    let gives_up = declare("gives up", true);
    let bad_text = with_nul(false);
    let carries_on = with_nul(true);
    let second = declare("second", false);
    tokio::time::sleep(Duration::from_millis(300)).await;
    gate.open().await;
    for w in waiting {
        w.await.unwrap();
    }

    let first = first.await.unwrap().unwrap();
    let err = gives_up.await.unwrap().unwrap_err();
    assert!(matches!(err, StoreError::Backend(_)), "{err:?}");
    let err = bad_text.await.unwrap().unwrap_err();
    assert!(
        matches!(err, StoreError::Backend(_)),
        "text PostgreSQL cannot store is a backend error: {err:?}"
    );
    let err = carries_on.await.unwrap().unwrap_err();
    assert!(
        matches!(err, StoreError::Backend(_)),
        "a unit that carries on after a failed statement is rolled back: {err:?}"
    );
    let second = second.await.unwrap().unwrap();
    assert_eq!(
        BTreeSet::from([first.0, second.0]),
        BTreeSet::from([1, 2]),
        "the failed unit gave its number back"
    );
    let together = expect_on_feed(&mut feed, Duration::from_secs(3), |c| {
        c.changes.contains(&Change::Incident { number: first })
    })
    .await;
    let published: BTreeSet<i64> = together
        .changes
        .iter()
        .map(|c| match c {
            Change::Incident { number } => number.0,
            other => panic!("only the surviving units' changes are published: {other:?}"),
        })
        .collect();
    assert_eq!(
        published,
        BTreeSet::from([1, 2]),
        "the surviving units committed in one batch: {together:?}"
    );
    use firebreak_store::DirectoryStore;
    assert_eq!(store.list_services().await.unwrap(), vec![]);
    store.drop_schema().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_backed_up_queue_refuses_new_work() {
    let schema = common::fresh_schema();
    let app = format!("q{}", &schema[schema.len() - 12..]);
    let store = Arc::new(common::named_store_in(&schema, &app).await);
    let gate = Gate::close(&store).await;
    let waiting = occupy_committers(&store, &app).await;
    let queued = {
        let store = store.clone();
        tokio::spawn(async move { store.enqueue(vec![message("queued", at(0))]).await })
    };
    tokio::time::sleep(Duration::from_millis(2_200)).await;
    assert!(
        store.health().queue_wait_ms >= 2_000,
        "{:?}",
        store.health()
    );
    let started = Instant::now();
    let err = store
        .enqueue(vec![message("refused", at(0))])
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Unavailable(_)), "{err:?}");
    assert!(
        started.elapsed() < Duration::from_millis(500),
        "refused at once"
    );
    gate.open().await;
    for w in waiting {
        w.await.unwrap();
    }
    assert_eq!(queued.await.unwrap().unwrap(), 1, "queued work still runs");
    assert_eq!(store.health().queue_wait_ms, 0);
    store.drop_schema().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unique_violations_in_a_unit_of_work_are_conflicts() {
    let store = common::fresh_store().await;
    store
        .create_service(service("checkout", "shop"), audit())
        .await
        .unwrap();
    let err = store
        .create_service(service("checkout", "again"), audit())
        .await
        .unwrap_err();
    let StoreError::Conflict(m) = err else {
        panic!("expected a conflict, got {err:?}")
    };
    assert!(m.contains("checkout") && !m.contains("pkey"), "{m}");

    // A unique violation the database itself raises maps the same way.
    let (incident, events) = declared("one");
    transact(&store, move |tx| {
        Box::pin(async move { tx.create_incident(incident, events).await })
    })
    .await
    .unwrap();
    sqlx::query("UPDATE counters SET value = 0 WHERE name = 'incident'")
        .execute(store.pool())
        .await
        .unwrap();
    let (incident, events) = declared("clash");
    let err = transact(&store, move |tx| {
        Box::pin(async move { tx.create_incident(incident, events).await })
    })
    .await
    .unwrap_err();
    let StoreError::Conflict(m) = err else {
        panic!("expected a conflict, got {err:?}")
    };
    assert_eq!(m, "an incident with that number already exists");
    store.drop_schema().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dead_connections_are_replaced_and_the_listener_resyncs() {
    let schema = common::fresh_schema();
    let app = format!("d{}", &schema[schema.len() - 12..]);
    let store = common::named_store_in(&schema, &app).await;
    store
        .create_service(service("warm", "up"), audit())
        .await
        .unwrap();
    let mut feed = store.feed().subscribe();
    let killer = common::fresh_store().await;
    let killed: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity
         WHERE application_name = $1) AS t",
    )
    .bind(&app)
    .fetch_one(killer.pool())
    .await
    .unwrap();
    assert!(killed >= 2, "the pool and the listener had connections");

    store
        .create_service(service("after", "the restart"), audit())
        .await
        .expect("a write after the connections died opens a new one");
    let resync = expect_on_feed(&mut feed, Duration::from_secs(5), |c| {
        c.remote && c.touches(Topic::Tokens)
    })
    .await;
    assert!(Topic::ALL.iter().all(|t| resync.touches(*t)), "{resync:?}");
    assert!(resync.outbox_due().is_some());
    killer.drop_schema().await.unwrap();
    store.drop_schema().await.unwrap();
}

#[tokio::test]
async fn a_database_that_is_away_is_unavailable_quickly() {
    let started = Instant::now();
    let err = PostgresStore::connect("postgres://postgres@127.0.0.1:1/test")
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Unavailable(_)), "{err:?}");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn a_closed_store_takes_no_work() {
    let store = common::fresh_store().await;
    assert!(store.health().writer_alive);
    let schema = store.schema().unwrap().to_string();
    store.close().await;
    assert!(!store.health().writer_alive);
    let err = store
        .enqueue(vec![message("late", at(0))])
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Unavailable(_)), "{err:?}");
    let cleaner = common::store_in(&schema).await;
    cleaner.drop_schema().await.unwrap();
}

/// The config file's integrations as each instance reads them at start: the same names and
/// key hashes, but ids each instance makes up.
fn config_integrations(instance: &str) -> Vec<IntegrationRecord> {
    ["alertmanager", "grafana"]
        .iter()
        .map(|n| IntegrationRecord {
            id: format!("int_{instance}_{n}"),
            service: Name::parse("checkout").unwrap(),
            name: n.to_string(),
            from_config: true,
            created_at: at(0),
            keys: vec![IntegrationKey {
                id: format!("key_{instance}_{n}"),
                hash: format!("{n:0>64}"),
                hint: "abcd".into(),
                created_at: at(0),
                revoked_at: None,
            }],
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn instances_starting_together_sync_the_same_config() {
    let schema = common::fresh_schema();
    let stores: Vec<Arc<PostgresStore>> = vec![
        Arc::new(common::store_in(&schema).await),
        Arc::new(common::store_in(&schema).await),
        Arc::new(common::store_in(&schema).await),
    ];
    let syncs: Vec<_> = stores
        .iter()
        .enumerate()
        .map(|(i, store)| {
            let store = store.clone();
            tokio::spawn(async move {
                let instance = format!("i{i}");
                store
                    .sync_config(vec![service("checkout", "shop")], vec![])
                    .await?;
                store
                    .sync_integrations(config_integrations(&instance))
                    .await
            })
        })
        .collect();
    for s in syncs {
        s.await
            .unwrap()
            .expect("an instance syncing the config alongside others must not fail");
    }
    let stored = stores[0].list_integrations().await.unwrap();
    assert_eq!(stored.len(), 2, "{stored:?}");
    assert!(stored.iter().all(|i| i.keys.len() == 1 && i.from_config));
    for store in &stores[1..] {
        store.close().await;
    }
    stores[0].drop_schema().await.unwrap();
}

#[tokio::test]
async fn a_store_without_a_schema_of_its_own_uses_the_search_path() {
    let store = PostgresStore::connect(&common::url()).await.unwrap();
    assert_eq!(store.schema(), None);
    store.ping().await.unwrap();
    assert!(store.health().writer_alive);
    store.close().await;
    assert!(!store.health().writer_alive);
}
