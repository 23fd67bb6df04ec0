//! Pages are delivered at least once across SIGKILL: `firebreak serve` runs as a child process
//! on SQLite, pages alice for three alerts, and is killed while her webhook receiver holds
//! every page open, unanswered. Started again on the same data directory, it sends each page
//! again with the same `webhook-id`, the same bytes and a valid signature, and the escalations
//! API then shows each page delivered.
//!
//! A page that was being sent at the kill keeps its lease (30 s) and is claimed again when the
//! lease ends; the test allows a minute after the kill.

mod support_proc;
mod support_receiver;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support_proc::{Firebreak, get_json, http, random_key, serve_with};
use support_receiver::{Receiver, Reply};

const ALLOW: (&str, &str) = ("FIREBREAK_OUTBOUND_ALLOW", "127.0.0.0/8");
/// The lease (30 s) of a page caught by the kill, plus room for a slow machine.
const AFTER_LEASE: Duration = Duration::from_secs(60);
const ALERTS: usize = 3;

/// alice is paged for checkout's alerts; the policy's one step waits an hour, so nothing else
/// is sent while the test runs.
fn write_config(dir: &Path, key: &str) -> PathBuf {
    let config = dir.join("firebreak.yaml");
    std::fs::write(
        &config,
        format!(
            "users:\n  - {{handle: alice, name: Alice}}\n\
             escalation_policies:\n  - name: ops\n    steps:\n      \
             - {{delay: 1h, targets: [{{user: alice}}]}}\n\
             services:\n  - name: checkout\n    escalation_policy: ops\n    \
             integrations: [{{name: pagerduty, key: {key}}}]\n\
             outbound:\n  retry:\n    first_delay: 1s\n    max_delay: 5s\n"
        ),
    )
    .unwrap();
    config
}

fn start(data: &Path, config: &Path) -> Firebreak {
    serve_with(data, config, "127.0.0.1:0", &[ALLOW])
}

/// Gives alice a webhook contact method at `url`; returns its signing secret.
async fn add_webhook(base: &str, token: &str, url: &str) -> String {
    let r = http()
        .post(format!("{base}/api/v1/users/alice/contact-methods"))
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
async fn trigger(base: &str, key: &str, dedup: &str) {
    let r = http()
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_page_held_open_at_a_sigkill_is_sent_again_with_the_same_webhook_id_after_the_restart() {
    let started = Instant::now();
    let dir = tempfile::tempdir().unwrap();
    let key = random_key();
    let config = write_config(dir.path(), &key);
    let data = dir.path().join("data");
    let receiver = Receiver::start(Reply::Hold).await;

    let mut fb = start(&data, &config);
    let token = fb
        .first_token
        .clone()
        .expect("a first start prints the admin token");
    let secret = add_webhook(&fb.url, &token, &format!("{}/alice", receiver.url)).await;
    for n in 1..=ALERTS {
        trigger(&fb.url, &key, &format!("checkout-5xx-{n}")).await;
    }
    // Every page is open on the receiver, unanswered, when the server dies.
    let held = receiver.wait_for(ALERTS, Duration::from_secs(20)).await;
    let held: BTreeMap<String, Vec<u8>> = held
        .iter()
        .map(|r| (r.id.clone(), r.body.to_vec()))
        .collect();
    assert_eq!(
        held.len(),
        ALERTS,
        "one page per alert, each its own webhook-id"
    );
    let mut alerts = BTreeSet::new();
    for body in held.values() {
        let page: Value = serde_json::from_slice(body).unwrap();
        assert_eq!(page["type"], "page", "{page}");
        assert_eq!(page["user"], "alice", "{page}");
        assert_eq!(page["step"], 0, "{page}");
        assert!(
            page["ack_url"].is_string(),
            "a page carries its ack link: {page}"
        );
        alerts.insert(
            page["alert"]["id"]
                .as_i64()
                .expect("a page names its alert"),
        );
    }
    assert_eq!(alerts.len(), ALERTS, "one page for each alert");
    fb.proc.assert_running();
    fb.proc.kill9();
    let killed = Instant::now();

    receiver.answer(Reply::OK);
    let fb = start(&data, &config);
    assert!(
        fb.first_token.is_none(),
        "a restart must not look like a new Firebreak"
    );
    let all_sent_again = receiver
        .wait_until(AFTER_LEASE, |got| {
            held.keys()
                .all(|id| got.iter().any(|r| &r.id == id && r.answered_ok()))
        })
        .await;
    let after_kill = killed.elapsed();
    assert!(
        all_sent_again,
        "not every held page was sent again within {AFTER_LEASE:?} of the restart: {:?}\n{}",
        receiver
            .received()
            .iter()
            .map(|r| (r.id.clone(), r.reply.clone()))
            .collect::<Vec<_>>(),
        fb.proc.tail()
    );

    // The same page: the same webhook-id, the same bytes, signed with alice's secret.
    let now = jiff::Timestamp::now().as_second();
    for r in receiver.received().iter().filter(|r| r.answered_ok()) {
        let first = held
            .get(&r.id)
            .unwrap_or_else(|| panic!("a page with an unknown webhook-id {}", r.id));
        assert_eq!(
            first,
            &r.body.to_vec(),
            "a page sent again carries the same bytes"
        );
        firebreak_outbound::signing::verify(&[&secret], &r.headers, &r.body, now)
            .unwrap_or_else(|e| panic!("a page sent again does not verify: {e}"));
    }
    let by_id = receiver.by_id();
    assert_eq!(
        by_id.len(),
        ALERTS,
        "no page under a new webhook-id: {by_id:?}"
    );
    assert!(
        by_id.values().all(|n| *n == 2),
        "each page held once, then sent once: {by_id:?}"
    );

    // The escalations API says what happened: each alert's one page delivered, on the second
    // attempt (the claim the kill interrupted, then the one after the lease).
    let http = http();
    let deadline = Instant::now() + Duration::from_secs(15);
    let mut pending: Vec<Value> = Vec::new();
    for alert in &alerts {
        let url = format!("{}/api/v1/escalations?alert={alert}", fb.url);
        let escalation = loop {
            let list = get_json(&http, &url, &token).await;
            let items = list["items"].as_array().cloned().unwrap_or_default();
            assert_eq!(items.len(), 1, "one escalation per alert: {list}");
            let e = items[0].clone();
            let delivered = e["notifications"]
                .as_array()
                .is_some_and(|n| n.len() == 1 && n[0]["status"] == "delivered");
            if delivered || Instant::now() > deadline {
                break e;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        let n = &escalation["notifications"][0];
        if n["status"] != "delivered" {
            pending.push(escalation.clone());
            continue;
        }
        assert_eq!(escalation["status"], "active", "{escalation}");
        assert_eq!(escalation["step"], 0, "{escalation}");
        assert_eq!(n["user"], "alice", "{n}");
        assert_eq!(n["type"], "webhook", "{n}");
        assert_eq!(
            n["attempts"], 2,
            "claimed before the kill and after the lease: {n}"
        );
        assert!(n["delivered_at"].is_string(), "{n}");
    }
    assert!(
        pending.is_empty(),
        "pages the receiver answered 200 are not shown delivered: {pending:#?}\n{}",
        fb.proc.tail()
    );
    // Nothing else comes: the next step is an hour away.
    receiver
        .expect_no_more(receiver.count(), Duration::from_secs(2))
        .await;
    eprintln!(
        "{ALERTS} pages held at SIGKILL; all sent again {after_kill:?} after the kill with the \
         same webhook-id and bytes, and shown delivered; took {:?} in all",
        started.elapsed()
    );
    drop(fb);
}
