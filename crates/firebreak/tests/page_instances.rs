//! Paging with two `firebreak serve` processes on one PostgreSQL schema, as in a deployment
//! with two replicas. Alerts taken by either instance page through whichever claims the work
//! first: 200 alerts give exactly 200 first-step pages, each its own `webhook-id`, each sent
//! once. And a SIGKILL of one instance in the middle of escalations loses no step: the other
//! sends the pages the dead one was sending (when their 30 s leases end, with the same
//! `webhook-id`) and fires the steps that were still to come.
//!
//! Each test makes a fresh schema in the test database (`FIREBREAK_TEST_POSTGRES_URL`, or
//! postgres://postgres@127.0.0.1:5432/test) and points both processes at it through the URL's
//! `search_path`. Fails (never skips) when PostgreSQL is not reachable.

mod support_proc;
mod support_receiver;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use firebreak_store_postgres::PostgresStore;
use serde_json::{Value, json};
use support_proc::{Firebreak, all_alerts, get_json, http, random_key, serve_with};
use support_receiver::{Received, Receiver, Reply};

const ALLOW: (&str, &str) = ("FIREBREAK_OUTBOUND_ALLOW", "127.0.0.0/8");

fn url() -> String {
    std::env::var("FIREBREAK_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into())
}

/// A fresh, migrated schema for two instances to share.
struct Database {
    store: PostgresStore,
    /// The test database's URL with `search_path` set to the schema, for `firebreak serve`.
    url: String,
}

impl Database {
    async fn fresh(prefix: &str) -> Database {
        let schema = format!(
            "{prefix}_{}_{}",
            std::process::id(),
            jiff::Timestamp::now().as_nanosecond() % 1_000_000_000
        );
        let store = PostgresStore::connect_with_schema(&url(), &schema)
            .await
            .unwrap_or_else(|e| {
                panic!(
                    "PostgreSQL is required for this test and was not reachable at {}: {e}. \
                     Start it there or set FIREBREAK_TEST_POSTGRES_URL.",
                    url()
                )
            });
        store.migrate().await.expect("migrations run");
        let base = url();
        let sep = if base.contains('?') { '&' } else { '?' };
        Database {
            store,
            url: format!("{base}{sep}options[search_path]={schema}"),
        }
    }

    /// Drops the schema (after both instances are gone).
    async fn remove(self) {
        self.store.drop_schema().await.expect("schema dropped");
    }
}

/// alice and bob, the policy `ops` with `steps` (YAML flow sequences), and checkout paging
/// through it.
fn write_config(dir: &Path, key: &str, steps: &[&str]) -> PathBuf {
    let config = dir.join("firebreak.yaml");
    let steps: String = steps.iter().map(|s| format!("      - {s}\n")).collect();
    std::fs::write(
        &config,
        format!(
            "users:\n  - {{handle: alice, name: Alice}}\n  - {{handle: bob, name: Bob}}\n\
             escalation_policies:\n  - name: ops\n    steps:\n{steps}\
             services:\n  - name: checkout\n    escalation_policy: ops\n    \
             integrations: [{{name: pagerduty, key: {key}}}]\n\
             outbound:\n  retry:\n    first_delay: 1s\n    max_delay: 5s\n"
        ),
    )
    .unwrap();
    config
}

/// Starts one instance on `db`; `dir` only holds its (unused) data directory.
fn start(dir: &Path, config: &Path, db: &Database) -> Firebreak {
    serve_with(
        dir,
        config,
        "127.0.0.1:0",
        &[ALLOW, ("FIREBREAK_DATABASE_URL", &db.url)],
    )
}

/// Gives `user` a webhook contact method at `url`; returns its signing secret.
async fn add_webhook(base: &str, token: &str, user: &str, url: &str) -> String {
    let r = http()
        .post(format!("{base}/api/v1/users/{user}/contact-methods"))
        .bearer_auth(token)
        .json(&json!({"type": "webhook", "target": url}))
        .send()
        .await
        .unwrap();
    let status = r.status();
    let body: Value = r.json().await.unwrap();
    assert_eq!(status, 201, "{body}");
    body["secret"]
        .as_str()
        .expect("a webhook contact method's secret is shown once")
        .to_string()
}

/// A critical PagerDuty alert on checkout.
async fn trigger(http: &reqwest::Client, base: &str, key: &str, dedup: &str) {
    let r = http
        .post(format!("{base}/v2/enqueue"))
        .json(
            &json!({"routing_key": key, "event_action": "trigger", "dedup_key": dedup,
                      "payload": {"summary": format!("{dedup} is failing"), "source": "web-1",
                                  "severity": "critical"}}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202, "{}", r.text().await.unwrap_or_default());
}

/// The alert a page is about.
fn alert_of(r: &Received) -> i64 {
    r.json()["alert"]["id"]
        .as_i64()
        .unwrap_or_else(|| panic!("a page names its alert: {}", r.json()))
}

/// Checks every request's signature with the secret of the user it pages, and that a
/// `webhook-id` always carries the same bytes.
fn check_signed(got: &[Received], secrets: &BTreeMap<&str, String>) {
    let mut bodies: BTreeMap<&str, &[u8]> = BTreeMap::new();
    for r in got {
        let body = bodies.entry(&r.id).or_insert(&r.body);
        assert_eq!(*body, &r.body[..], "webhook-id {} carried two bodies", r.id);
        let page = r.json();
        let user = page["user"].as_str().expect("a page names its user");
        let sent_at: i64 = r.headers["webhook-timestamp"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        firebreak_outbound::signing::verify(
            &[secrets[user].as_str()],
            &r.headers,
            &r.body,
            sent_at,
        )
        .unwrap_or_else(|e| panic!("a page to {user} is not signed with their secret: {e}"));
    }
}

/// Each alert's one escalation, once it shows one page for each of its first `steps` steps,
/// every one delivered (outcomes are recorded just after the receiver answers). Pages of later
/// steps may be in any state. Asks `bases` in turn.
async fn delivered_escalations(
    bases: &[&str],
    token: &str,
    alerts: &BTreeSet<i64>,
    steps: u64,
) -> BTreeMap<i64, Value> {
    let http = http();
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut done = BTreeMap::new();
    let mut last = BTreeMap::new();
    for round in 0.. {
        let left: Vec<i64> = alerts
            .iter()
            .filter(|a| !done.contains_key(*a))
            .copied()
            .collect();
        for (n, alert) in left.iter().enumerate() {
            let base = bases[(n + round) % bases.len()];
            let url = format!("{base}/api/v1/escalations?alert={alert}");
            let list = get_json(&http, &url, token).await;
            let items = list["items"].as_array().cloned().unwrap_or_default();
            assert_eq!(items.len(), 1, "one escalation per alert: {list}");
            let e = items[0].clone();
            let all_delivered = e["notifications"].as_array().is_some_and(|list| {
                let early: Vec<&Value> = list
                    .iter()
                    .filter(|n| n["step"].as_u64().is_some_and(|s| s < steps))
                    .collect();
                early.len() as u64 == steps && early.iter().all(|n| n["status"] == "delivered")
            });
            if all_delivered {
                done.insert(*alert, e);
            } else {
                last.insert(*alert, e);
            }
        }
        if done.len() == alerts.len() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{} escalations never showed their first {steps} steps' pages delivered, e.g. {:#?}",
            alerts.len() - done.len(),
            last.iter()
                .filter(|(a, _)| !done.contains_key(*a))
                .take(3)
                .collect::<Vec<_>>()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    done
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_alerts_across_two_instances_give_two_hundred_pages_each_sent_once() {
    const ALERTS: usize = 200;
    const SENDERS: usize = 4;
    let started = Instant::now();
    let db = Database::fresh("fb_page_once").await;
    let dir = tempfile::tempdir().unwrap();
    let key = random_key();
    // One step: the next is an hour away, so every page the receiver sees is a first step.
    let config = write_config(dir.path(), &key, &["{delay: 1h, targets: [{user: alice}]}"]);
    let receiver = Receiver::start(Reply::OK).await;

    let mut a = start(&dir.path().join("a"), &config, &db);
    let token = a
        .first_token
        .clone()
        .expect("the first instance on an empty schema creates the admin");
    let mut b = start(&dir.path().join("b"), &config, &db);
    assert!(b.first_token.is_none(), "one admin for one database");
    let secret = add_webhook(&a.url, &token, "alice", &format!("{}/alice", receiver.url)).await;
    let secrets = BTreeMap::from([("alice", secret)]);

    // Half the alerts to each instance, a few at a time.
    let mut senders = tokio::task::JoinSet::new();
    for s in 0..SENDERS {
        let base = (if s % 2 == 0 { &a.url } else { &b.url }).clone();
        let key = key.clone();
        senders.spawn(async move {
            let http = http();
            for n in (s..ALERTS).step_by(SENDERS) {
                trigger(&http, &base, &key, &format!("checkout-{n}")).await;
            }
        });
    }
    while let Some(sent) = senders.join_next().await {
        sent.expect("every alert is accepted");
    }
    let sent_in = started.elapsed();

    let all = receiver
        .wait_until(Duration::from_secs(60), |got| {
            got.iter().map(|r| &r.id).collect::<BTreeSet<_>>().len() >= ALERTS
        })
        .await;
    a.proc.assert_running();
    b.proc.assert_running();
    assert!(
        all,
        "only {} of {ALERTS} pages arrived within 60 s\n{}\n{}",
        receiver.by_id().len(),
        a.proc.tail(),
        b.proc.tail()
    );
    let paged_in = started.elapsed();
    // Both still live: give a late duplicate time to show up.
    receiver
        .expect_no_more(receiver.count(), Duration::from_secs(3))
        .await;

    let got = receiver.received();
    let by_id = receiver.by_id();
    let twice: Vec<_> = by_id.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "pages sent more than once: {twice:?}");
    assert_eq!(by_id.len(), ALERTS, "one webhook-id per alert");
    assert_eq!(got.len(), ALERTS);
    check_signed(&got, &secrets);
    let mut paged = BTreeSet::new();
    for r in &got {
        let page = r.json();
        assert_eq!(page["type"], "page", "{page}");
        assert_eq!(page["step"], 0, "{page}");
        assert_eq!(page["user"], "alice", "{page}");
        assert!(
            paged.insert(alert_of(r)),
            "two pages for alert {}",
            alert_of(r)
        );
        assert!(r.answered_ok());
    }
    let open: BTreeSet<i64> = all_alerts(&http(), &b.url, &token, "status=open")
        .await
        .iter()
        .map(|a| a["id"].as_i64().unwrap())
        .collect();
    assert_eq!(open.len(), ALERTS, "every alert was stored once");
    assert_eq!(
        paged, open,
        "every alert paged, and no page for an alert not made"
    );

    // The recorded outcomes agree: each page delivered, claimed once by one instance.
    let escalations = delivered_escalations(&[&a.url, &b.url], &token, &paged, 1).await;
    for (alert, e) in &escalations {
        let n = &e["notifications"][0];
        assert_eq!(
            n["attempts"], 1,
            "alert {alert}'s page was claimed twice: {e}"
        );
        assert_eq!(n["user"], "alice", "{e}");
    }

    a.proc.assert_running();
    b.proc.assert_running();
    eprintln!(
        "{ALERTS} alerts across two instances sent in {sent_in:?}; {ALERTS} pages, {} \
         webhook-ids, none twice, all within {paged_in:?}; took {:?} in all",
        by_id.len(),
        started.elapsed()
    );
    drop((a, b));
    db.remove().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sigkill_of_one_instance_mid_escalation_still_leaves_every_step_sent() {
    /// Alerts per wave.
    const WAVE: usize = 10;
    /// "The other carries on within 60 s": the lease (30 s) of the pages the killed instance
    /// held, plus room for a slow machine.
    const AFTER_LEASE: Duration = Duration::from_secs(60);
    let started = Instant::now();
    let db = Database::fresh("fb_page_kill").await;
    let dir = tempfile::tempdir().unwrap();
    let key = random_key();
    // alice at once, bob 10 s later; then an hour before the policy is exhausted.
    let config = write_config(
        dir.path(),
        &key,
        &[
            "{delay: 10s, targets: [{user: alice}]}",
            "{delay: 1h, targets: [{user: bob}]}",
        ],
    );
    let alice_rx = Receiver::start(Reply::OK).await;
    // bob's receiver holds his pages open until the kill.
    let bob_rx = Receiver::start(Reply::Hold).await;

    let mut a = start(&dir.path().join("a"), &config, &db);
    let token = a
        .first_token
        .clone()
        .expect("the first instance on an empty schema creates the admin");
    let mut secrets = BTreeMap::new();
    for (user, rx) in [("alice", &alice_rx), ("bob", &bob_rx)] {
        let target = format!("{}/{user}", rx.url);
        secrets.insert(user, add_webhook(&a.url, &token, user, &target).await);
    }
    let http = http();

    // Wave 1, on A alone: alice is paged, and 10 s later A sends bob's pages, which his
    // receiver holds open. Every one of them is A's.
    for n in 1..=WAVE {
        trigger(&http, &a.url, &key, &format!("wave-1-{n}")).await;
    }
    let wave_1: BTreeSet<i64> = alice_rx
        .wait_for(WAVE, Duration::from_secs(20))
        .await
        .iter()
        .map(alert_of)
        .collect();
    assert_eq!(wave_1.len(), WAVE, "one first-step page per alert");
    let held = bob_rx.wait_for(WAVE, Duration::from_secs(40)).await;
    let held_ids: BTreeSet<String> = held.iter().map(|r| r.id.clone()).collect();
    assert_eq!(held_ids.len(), WAVE, "one second-step page per alert");
    let held_at = Instant::now();

    // B joins; wave 2, on A, with both instances live: its second step is 10 s away.
    let mut b = start(&dir.path().join("b"), &config, &db);
    assert!(b.first_token.is_none(), "one admin for one database");
    for n in 1..=WAVE {
        trigger(&http, &a.url, &key, &format!("wave-2-{n}")).await;
    }
    let first_steps = alice_rx.wait_for(2 * WAVE, Duration::from_secs(20)).await;
    let alerts: BTreeSet<i64> = first_steps.iter().map(alert_of).collect();
    assert_eq!(alerts.len(), 2 * WAVE, "one first-step page per alert");
    let wave_2: BTreeSet<i64> = alerts.difference(&wave_1).copied().collect();
    // Every first step is recorded as delivered, so the kill cannot send one again.
    delivered_escalations(&[&b.url], &token, &alerts, 1).await;

    let bob_before_kill = bob_rx.count();
    a.proc.assert_running();
    a.proc.kill9();
    let killed = Instant::now();
    bob_rx.answer(Reply::OK);

    // B sends every second step: the pages A held (when A's leases end) and the steps that
    // had not fired yet.
    let every_step = bob_rx
        .wait_until(AFTER_LEASE, |got| {
            let sent: BTreeSet<i64> = got
                .iter()
                .filter(|r| r.answered_ok())
                .map(alert_of)
                .collect();
            sent.is_superset(&alerts)
        })
        .await;
    let after_kill = killed.elapsed();
    b.proc.assert_running();
    let bob_got = bob_rx.received();
    let missing: Vec<i64> = alerts
        .iter()
        .filter(|alert| {
            !bob_got
                .iter()
                .any(|r| r.answered_ok() && alert_of(r) == **alert)
        })
        .copied()
        .collect();
    assert!(
        every_step,
        "{} alerts never had their second step delivered within {AFTER_LEASE:?} of the \
         kill: {missing:?}\n{}",
        missing.len(),
        b.proc.tail()
    );

    // Each alert: exactly one first-step page, sent once; one second-step page, under one
    // webhook-id however often it was sent; no webhook-id shared.
    let alice_got = alice_rx.received();
    check_signed(&alice_got, &secrets);
    check_signed(&bob_got, &secrets);
    let mut ids: BTreeMap<(i64, u64), BTreeSet<String>> = BTreeMap::new();
    for (r, user, step) in alice_got
        .iter()
        .map(|r| (r, "alice", 0))
        .chain(bob_got.iter().map(|r| (r, "bob", 1)))
    {
        let page = r.json();
        assert_eq!(page["type"], "page", "{page}");
        assert_eq!(page["user"], user, "{page}");
        assert_eq!(page["step"], step, "{page}");
        ids.entry((alert_of(r), step))
            .or_default()
            .insert(r.id.clone());
    }
    for alert in &alerts {
        for step in [0, 1] {
            let got = ids.get(&(*alert, step)).cloned().unwrap_or_default();
            assert_eq!(
                got.len(),
                1,
                "alert {alert}'s step {step} went out under {} webhook-ids: {got:?}",
                got.len()
            );
        }
    }
    assert_eq!(ids.len(), 2 * alerts.len(), "no page for an alert not made");
    let distinct: BTreeSet<&String> = ids.values().flatten().collect();
    assert_eq!(distinct.len(), ids.len(), "two pages shared a webhook-id");
    let alice_by_id = alice_rx.by_id();
    assert!(
        alice_by_id.values().all(|n| *n == 1),
        "a first step recorded as delivered was sent again: {alice_by_id:?}"
    );

    // The held pages went out again under their ids once A's leases ended; wave 2's second
    // steps were fired by B.
    let resent_after: Vec<Duration> = held_ids
        .iter()
        .map(|id| {
            bob_got
                .iter()
                .find(|r| &r.id == id && r.answered_ok())
                .map(|r| r.at.duration_since(killed))
                .expect("a held page was sent again")
        })
        .collect();
    let wave_2_before_kill = bob_got
        .iter()
        .filter(|r| r.at < killed && wave_2.contains(&alert_of(r)))
        .count();

    // The escalations API agrees: both steps delivered for every alert.
    let escalations = delivered_escalations(&[&b.url], &token, &alerts, 2).await;
    let mut attempts = BTreeMap::new();
    for (alert, e) in &escalations {
        assert_eq!(e["status"], "active", "{e}");
        assert_eq!(e["step"], 1, "{e}");
        assert_eq!(e["notifications"].as_array().map(Vec::len), Some(2), "{e}");
        let steps: Vec<(String, u64)> = e["notifications"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| {
                (
                    n["user"].as_str().unwrap_or_default().to_string(),
                    n["step"].as_u64().unwrap_or(99),
                )
            })
            .collect();
        assert_eq!(
            steps,
            [("alice".to_string(), 0), ("bob".to_string(), 1)],
            "alert {alert}: {e}"
        );
        let bob_attempts = e["notifications"][1]["attempts"].as_i64().unwrap_or(0);
        *attempts.entry(bob_attempts).or_insert(0) += 1;
    }

    eprintln!(
        "{} alerts; A killed {:?} after its {WAVE} second-step pages were held ({bob_before_kill} \
         second-step pages sent before the kill, {wave_2_before_kill} of them wave 2's); every \
         second step delivered {after_kill:?} after the kill, the held ones {:?}..{:?} after it; \
         bob's page attempts {attempts:?}; {} requests to bob for {} webhook-ids; took {:?} in all",
        alerts.len(),
        killed.duration_since(held_at),
        resent_after.iter().min().unwrap(),
        resent_after.iter().max().unwrap(),
        bob_got.len(),
        bob_rx.by_id().len(),
        started.elapsed()
    );
    drop(b);
    db.remove().await;
}
