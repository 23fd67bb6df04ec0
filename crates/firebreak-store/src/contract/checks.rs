//! Uptime checks: round trips and unique names, claims under a lease (a held check is not
//! claimed again, an expired lease makes it claimable, two claimers never share one), a run
//! recorded with its result and its day's count only while its runner holds the lease, the
//! components' daily counts, pruning, and bad settings that store nothing.

use std::collections::BTreeSet;
use std::sync::Arc;

use firebreak_domain::check::{
    Check, CheckKind, CheckResult, CheckSpec, CheckState, DEFAULT_TLS_WARN, Expect, Method,
    TlsSettings, day_of,
};
use jiff::SignedDuration;

use super::{at, commit, name};
use crate::feed::Topic;
use crate::outbox::Lease;
use crate::{Change, Store, StoreError, transact};

fn spec(n: &str) -> CheckSpec {
    CheckSpec {
        name: name(n),
        service: name("api"),
        kind: CheckKind::Http,
        target: format!("https://{n}.example.com/healthz"),
        method: Method::Get,
        interval: SignedDuration::from_secs(30),
        timeout: SignedDuration::from_secs(5),
        failures_before_alert: 3,
        expect: Expect {
            status: Some(204),
            body: Some("ok".into()),
            body_regex: Some("o+k".into()),
            max_latency: Some(SignedDuration::from_millis(1_500)),
        },
        tls: TlsSettings {
            warn_before: Some(SignedDuration::from_hours(7 * 24)),
            ca_file: Some("/etc/firebreak/ca.pem".into()),
        },
        component: Some("api".into()),
    }
}

async fn add<S: Store + ?Sized>(store: &S, n: &str) -> Check {
    let c = Check::new(spec(n), "alice".into(), at(0)).expect("valid check");
    commit(store, "create check", move |tx| {
        Box::pin(async move { tx.create_check(&c).await })
    })
    .await
}

fn lease(owner: &str, until_ms: i64) -> Lease {
    Lease {
        owner: owner.into(),
        until: at(until_ms),
    }
}

async fn claim<S: Store + ?Sized>(store: &S, now_ms: i64, owner: &str, until_ms: i64) -> Vec<i64> {
    let l = lease(owner, until_ms);
    let claimed = commit(store, "claim checks", move |tx| {
        Box::pin(async move { tx.claim_checks(at(now_ms), &l, 100).await })
    })
    .await;
    claimed.iter().map(|c| c.id).collect()
}

fn run(c: &Check, ok: bool, at_ms: i64) -> CheckResult {
    CheckResult {
        check_id: c.id,
        at: at(at_ms),
        ok,
        status: Some(if ok { 204 } else { 503 }),
        latency_ms: 42,
        error: (!ok).then(|| "HTTP 503, expected 204".into()),
    }
}

/// Records `result` for `c` as `owner`, with the state the domain gives it.
async fn record<S: Store + ?Sized>(store: &S, c: &Check, owner: &str, result: CheckResult) -> bool {
    let step = c.record(&result, None, DEFAULT_TLS_WARN, result.at);
    let owner = owner.to_string();
    commit(store, "record check run", move |tx| {
        Box::pin(async move { tx.record_check_run(&step.check, &owner, &result).await })
    })
    .await
}

/// A check is stored whole, listed by name, found by id and deleted with its history; a taken
/// name is a `Conflict` that stores nothing.
pub async fn checks_round_trip<S: Store>(store: &S) {
    let mut feed = store.feed().subscribe();
    let web = add(store, "web").await;
    assert!(web.id > 0);
    let committed = feed.recv().await.expect("the create is published");
    assert!(
        committed
            .changes
            .contains(&Change::Directory(Topic::Checks))
    );
    let api = add(store, "api").await;
    assert_eq!(store.get_check(web.id).await.unwrap(), Some(web.clone()));
    let names: Vec<String> = store
        .list_checks()
        .await
        .unwrap()
        .iter()
        .map(|c| c.spec.name.to_string())
        .collect();
    assert_eq!(names, ["api", "web"]);

    let taken = Check::new(spec("web"), "bob".into(), at(5)).unwrap();
    let again = transact(store, move |tx| {
        Box::pin(async move { tx.create_check(&taken).await })
    })
    .await;
    assert!(matches!(again, Err(StoreError::Conflict(_))), "{again:?}");
    assert_eq!(store.list_checks().await.unwrap().len(), 2);

    // A TCP check with no expectations reads back with its empty options.
    let mut tcp = spec("db");
    tcp.kind = CheckKind::Tcp;
    tcp.target = "db.internal:5432".into();
    tcp.expect = Expect::default();
    tcp.tls = TlsSettings::default();
    tcp.component = None;
    let tcp = Check::new(tcp, "alice".into(), at(0)).unwrap();
    let stored = commit(store, "create tcp", move |tx| {
        Box::pin(async move { tx.create_check(&tcp).await })
    })
    .await;
    assert_eq!(store.get_check(stored.id).await.unwrap(), Some(stored));

    assert_eq!(claim(store, 0, "w1", 60_000).await.len(), 3);
    assert!(record(store, &api, "w1", run(&api, true, 10)).await);
    commit(store, "delete check", move |tx| {
        Box::pin(async move { tx.delete_check(api.id).await })
    })
    .await;
    assert_eq!(store.get_check(api.id).await.unwrap(), None);
    assert!(store.check_results(api.id, 10).await.unwrap().is_empty());
    assert!(
        store
            .check_days(api.id, day_of(at(0)))
            .await
            .unwrap()
            .is_empty()
    );
    let gone = transact(store, move |tx| {
        Box::pin(async move { tx.delete_check(api.id).await })
    })
    .await;
    assert!(matches!(gone, Err(StoreError::NotFound)), "{gone:?}");
}

/// Due checks are claimed once under a lease; a held check is not claimed again until its
/// lease runs out; a run is recorded only by the lease's holder, which gives the lease back and
/// sets the next run; results read newest first and count in their day.
pub async fn checks_are_claimed_under_a_lease<S: Store>(store: &S) {
    let a = add(store, "a").await;
    let b = add(store, "b").await;
    assert_eq!(store.next_check_due().await.unwrap(), Some(at(0)));
    assert_eq!(claim(store, 0, "w1", 30_000).await, [a.id, b.id]);
    assert!(claim(store, 1_000, "w2", 31_000).await.is_empty(), "held");
    assert_eq!(store.next_check_due().await.unwrap(), Some(at(30_000)));

    // w1 records a; w2 cannot record b, which w1 holds.
    assert!(record(store, &a, "w1", run(&a, false, 2_000)).await);
    assert!(!record(store, &b, "w2", run(&b, true, 2_000)).await);
    let stored_a = store.get_check(a.id).await.unwrap().unwrap();
    assert_eq!(stored_a.consecutive_failures, 1);
    assert_eq!(stored_a.state, CheckState::Up);
    assert_eq!(stored_a.last_run, Some(at(2_000)));
    assert_eq!(
        stored_a.last_error.as_deref(),
        Some("HTTP 503, expected 204")
    );
    assert_eq!(stored_a.next_due, at(32_000));
    assert!(store.check_results(b.id, 10).await.unwrap().is_empty());

    // b's lease runs out: another runner claims it; a is not due yet.
    assert_eq!(claim(store, 30_000, "w2", 60_000).await, [b.id]);
    assert!(
        !record(store, &b, "w1", run(&b, true, 30_500)).await,
        "w1 lost it"
    );
    assert!(record(store, &b, "w2", run(&b, true, 30_500)).await);

    assert_eq!(claim(store, 32_000, "w1", 62_000).await, [a.id]);
    assert!(record(store, &stored_a, "w1", run(&stored_a, true, 33_000)).await);
    let results = store.check_results(a.id, 10).await.unwrap();
    assert_eq!(results.len(), 2);
    assert_eq!(results[0], run(&a, true, 33_000), "newest first");
    assert_eq!(results[1], run(&a, false, 2_000));
    assert_eq!(store.check_results(a.id, 1).await.unwrap().len(), 1);
    let days = store.check_days(a.id, day_of(at(0))).await.unwrap();
    assert_eq!(days.len(), 1);
    assert_eq!(
        (days[0].day, days[0].successes, days[0].total),
        (day_of(at(0)), 1, 2)
    );
    let components = store.component_check_days(day_of(at(0))).await.unwrap();
    assert_eq!(components.len(), 1);
    assert_eq!(components[0].0, "api");
    assert_eq!((components[0].1.successes, components[0].1.total), (2, 3));

    // Pruning takes results older than the cut and days before the first kept.
    let later = day_of(at(0)).tomorrow().unwrap();
    let pruned = commit(store, "prune", move |tx| {
        Box::pin(async move { tx.prune_check_history(at(20_000), later, 100).await })
    })
    .await;
    assert_eq!(pruned, 1 + 2, "one old result and both days");
    assert_eq!(store.check_results(a.id, 10).await.unwrap().len(), 1);
    assert!(
        store
            .check_days(a.id, day_of(at(0)))
            .await
            .unwrap()
            .is_empty()
    );
}

/// Claimers racing for the same due checks never get the same one, and between them take all.
pub async fn concurrent_claimers_never_share_a_check<S: Store + 'static>(store: Arc<S>) {
    let mut ids = BTreeSet::new();
    for i in 0..12 {
        ids.insert(add(&*store, &format!("c{i}")).await.id);
    }
    let tasks = (0..4).map(|w| {
        let store = store.clone();
        tokio::spawn(async move {
            let l = lease(&format!("w{w}"), 60_000);
            transact(&*store, move |tx| {
                Box::pin(async move { tx.claim_checks(at(0), &l, 5).await })
            })
            .await
        })
    });
    let mut seen = BTreeSet::new();
    for t in tasks {
        for c in t.await.expect("task").expect("claim") {
            assert!(seen.insert(c.id), "check {} claimed twice", c.id);
        }
    }
    assert_eq!(seen, ids, "every due check was claimed by someone");
}

/// A unit of work that fails after creating a check stores nothing.
pub async fn failed_check_work_stores_nothing<S: Store>(store: &S) {
    let c = Check::new(spec("rolled-back"), "alice".into(), at(0)).unwrap();
    let failed = transact(store, move |tx| {
        Box::pin(async move {
            tx.create_check(&c).await?;
            Err::<(), _>(StoreError::Conflict("refused later".into()))
        })
    })
    .await;
    assert!(failed.is_err());
    assert!(store.list_checks().await.unwrap().is_empty());
    assert_eq!(store.next_check_due().await.unwrap(), None);
}
