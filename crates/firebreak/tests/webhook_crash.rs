//! Webhooks are delivered at least once across SIGKILL: `firebreak serve` runs as a child
//! process on SQLite, is killed while deliveries are in flight, and started again on the same
//! data directory. Every event whose request was answered 2xx reaches the receiver, and a
//! delivery sent twice carries the same `webhook-id` both times.
//!
//! A delivery that was being sent at the kill keeps its lease (60 s) and is claimed again when
//! the lease ends, so each test waits up to about a minute after its last kill. An orderly stop
//! (SIGTERM) gives the leases back instead, and the restart sends at once.

mod support_proc;
mod support_receiver;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support_proc::{Firebreak, http, serve_with};
use support_receiver::{Receiver, Reply};

const ALLOW: (&str, &str) = ("FIREBREAK_OUTBOUND_ALLOW", "127.0.0.0/8");
/// The lease (60 s) of a delivery caught by the kill, plus room for a slow machine.
const AFTER_LEASE: Duration = Duration::from_secs(80);

fn write_config(dir: &Path) -> std::path::PathBuf {
    let config = dir.join("firebreak.yaml");
    std::fs::write(
        &config,
        "outbound:\n  retry:\n    first_delay: 1s\n    max_delay: 5s\n",
    )
    .unwrap();
    config
}

fn start(data: &Path, config: &Path) -> Firebreak {
    serve_with(data, config, "127.0.0.1:0", &[ALLOW])
}

/// Subscribes `url` to `events` as the admin; returns the signing secret.
async fn subscribe(base: &str, token: &str, url: &str, events: &[&str]) -> String {
    let r = http()
        .post(format!("{base}/api/v1/webhooks"))
        .bearer_auth(token)
        .json(&json!({"url": url, "events": events}))
        .send()
        .await
        .unwrap();
    let status = r.status();
    let body: Value = r.json().await.unwrap();
    assert_eq!(status, 201, "{body}");
    body["secret"].as_str().unwrap().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deliveries_in_flight_at_a_sigkill_are_sent_again_after_the_restart() {
    let started = Instant::now();
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path());
    let data = dir.path().join("data");
    let receiver = Receiver::start(Reply::Hold).await;

    let mut fb = start(&data, &config);
    let token = fb
        .first_token
        .clone()
        .expect("a first start prints the admin token");
    let secret = subscribe(&fb.url, &token, &receiver.url, &["incident.declared"]).await;
    let http = http();
    let mut titles = BTreeSet::new();
    for n in 1..=5 {
        let title = format!("Held delivery {n}");
        let r = http
            .post(format!("{}/api/v1/incidents", fb.url))
            .bearer_auth(&token)
            .json(&json!({"title": title, "severity": "SEV2"}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201, "{}", r.text().await.unwrap_or_default());
        titles.insert(title);
    }
    // Every delivery is open on the receiver, unanswered, when the server dies.
    let held = receiver.wait_for(5, Duration::from_secs(15)).await;
    let held: BTreeMap<String, Vec<u8>> = held
        .iter()
        .map(|r| (r.id.clone(), r.body.to_vec()))
        .collect();
    assert_eq!(held.len(), 5, "five events, five webhook-ids");
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
        "not every held delivery was sent again within {AFTER_LEASE:?} of the restart: {:?}\n{}",
        receiver
            .received()
            .iter()
            .map(|r| (r.id.clone(), r.reply.clone()))
            .collect::<Vec<_>>(),
        fb.proc.tail()
    );

    let now = jiff::Timestamp::now().as_second();
    let mut delivered_titles = BTreeSet::new();
    for r in receiver.received().iter().filter(|r| r.answered_ok()) {
        let first = held
            .get(&r.id)
            .unwrap_or_else(|| panic!("a delivery with an unknown webhook-id {}", r.id));
        assert_eq!(first, &r.body.to_vec(), "a retry sends the same bytes");
        firebreak_outbound::signing::verify(&[&secret], &r.headers, &r.body, now)
            .unwrap_or_else(|e| panic!("a redelivery's signature does not verify: {e}"));
        delivered_titles.insert(
            r.json()["data"]["incident"]["title"]
                .as_str()
                .unwrap()
                .to_string(),
        );
    }
    assert_eq!(delivered_titles, titles);
    let by_id = receiver.by_id();
    let duplicates: usize = by_id.values().map(|n| n - 1).sum();
    assert!(by_id.values().all(|n| *n >= 2), "{by_id:?}");
    eprintln!(
        "5 deliveries held at SIGKILL; all sent again {after_kill:?} after the kill, \
         {duplicates} duplicates (same webhook-id); took {:?} in all",
        started.elapsed()
    );
    drop(fb);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deliveries_in_flight_at_a_sigterm_are_given_back_and_sent_at_once_after_the_restart() {
    let started = Instant::now();
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path());
    let data = dir.path().join("data");
    let receiver = Receiver::start(Reply::Hold).await;

    let mut fb = start(&data, &config);
    let token = fb
        .first_token
        .clone()
        .expect("a first start prints the admin token");
    subscribe(&fb.url, &token, &receiver.url, &["incident.declared"]).await;
    let http = http();
    for n in 1..=3 {
        let r = http
            .post(format!("{}/api/v1/incidents", fb.url))
            .bearer_auth(&token)
            .json(&json!({"title": format!("Stopped delivery {n}"), "severity": "SEV2"}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201, "{}", r.text().await.unwrap_or_default());
    }
    let held: BTreeSet<String> = receiver
        .wait_for(3, Duration::from_secs(15))
        .await
        .into_iter()
        .map(|r| r.id)
        .collect();
    assert_eq!(held.len(), 3);

    // An orderly stop: started sends get a moment, then the leases are given back.
    let stopping = Instant::now();
    let status = fb.proc.terminate(Duration::from_secs(20));
    let tail = fb.proc.tail();
    let stopped_in = stopping.elapsed();
    assert!(
        status.is_some_and(|s| s.success()),
        "firebreak serve did not exit cleanly within 20 s of SIGTERM: {status:?}\n{tail}"
    );
    assert!(
        tail.contains("gave back outbox messages still held at shutdown"),
        "the leases were not given back:\n{tail}"
    );

    // Given back means due at once: the restart sends them without waiting for the lease.
    receiver.answer(Reply::OK);
    let restarted = Instant::now();
    let fb = start(&data, &config);
    let all = receiver
        .wait_until(Duration::from_secs(20), |got| {
            held.iter()
                .all(|id| got.iter().any(|r| &r.id == id && r.answered_ok()))
        })
        .await;
    let sent_in = restarted.elapsed();
    assert!(
        all,
        "the given-back deliveries were not sent again within 20 s of the restart\n{}",
        fb.proc.tail()
    );
    assert!(
        sent_in < Duration::from_secs(30),
        "sent only after {sent_in:?}: the leases were not given back"
    );
    eprintln!(
        "3 deliveries held at SIGTERM; stopped in {stopped_in:?}, sent again {sent_in:?} after \
         the restart; took {:?} in all",
        started.elapsed()
    );
    drop(fb);
}

/// The most incidents the streaming client declares (each with a note), however fast it goes.
const MAX_STREAMED: usize = 5_000;

/// What the streaming client was told was stored: `(event type, title or note text)`.
type Acked = Arc<Mutex<Vec<(&'static str, String)>>>;

async fn stream_events(
    base: Arc<Mutex<String>>,
    token: String,
    stop: Arc<AtomicBool>,
    acked: Acked,
) {
    let _ = http();
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    let mut n = 0;
    while !stop.load(Ordering::Relaxed) && n < MAX_STREAMED {
        n += 1;
        let url = base.lock().unwrap().clone();
        let title = format!("Streamed incident {n}");
        let declared = http
            .post(format!("{url}/api/v1/incidents"))
            .bearer_auth(&token)
            .json(&json!({"title": title, "severity": "SEV3"}))
            .send()
            .await;
        let incident = match declared {
            Ok(r) if r.status() == 201 => {
                acked.lock().unwrap().push(("incident.declared", title));
                r.json::<Value>().await.ok()
            }
            Ok(r) => panic!(
                "a declaration was refused (not a crash): {} {}",
                r.status(),
                r.text().await.unwrap_or_default()
            ),
            Err(_) => None,
        };
        let Some(id) = incident.and_then(|i| i["id"].as_str().map(String::from)) else {
            // The server is down: wait for the next one.
            tokio::time::sleep(Duration::from_millis(20)).await;
            continue;
        };
        let note = format!("Streamed note {n}");
        let noted = http
            .post(format!("{url}/api/v1/incidents/{id}/notes"))
            .bearer_auth(&token)
            .json(&json!({"body": note}))
            .send()
            .await;
        match noted {
            Ok(r) if r.status() == 201 => acked.lock().unwrap().push(("incident.note_added", note)),
            Ok(r) => panic!(
                "a note was refused (not a crash): {} {}",
                r.status(),
                r.text().await.unwrap_or_default()
            ),
            Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
        }
    }
}

/// The `(event type, title or note text)` a delivery is about.
fn event_of(body: &Value) -> (String, String) {
    let kind = body["type"].as_str().unwrap_or_default().to_string();
    let text = match kind.as_str() {
        "incident.declared" => &body["data"]["incident"]["title"],
        "incident.note_added" => &body["data"]["note"]["data"]["body"],
        _ => &Value::Null,
    };
    (kind, text.as_str().unwrap_or_default().to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_streamed_through_five_sigkills_are_all_delivered() {
    const KILLS: usize = 5;
    let started = Instant::now();
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path());
    let data = dir.path().join("data");
    let receiver = Receiver::start(Reply::OK).await;

    let mut fb = start(&data, &config);
    let token = fb
        .first_token
        .clone()
        .expect("a first start prints the admin token");
    subscribe(
        &fb.url,
        &token,
        &receiver.url,
        &["incident.declared", "incident.note_added"],
    )
    .await;
    let base = Arc::new(Mutex::new(fb.url.clone()));
    let stop = Arc::new(AtomicBool::new(false));
    let acked: Acked = Arc::default();
    let client = tokio::spawn(stream_events(
        base.clone(),
        token.clone(),
        stop.clone(),
        acked.clone(),
    ));

    for round in 0..KILLS {
        // Kill at a different point of the stream each time.
        tokio::time::sleep(Duration::from_millis(400 + 170 * round as u64)).await;
        fb.proc.assert_running();
        fb.proc.kill9();
        fb = start(&data, &config);
        assert!(fb.first_token.is_none(), "restart {round} lost the data");
        *base.lock().unwrap() = fb.url.clone();
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop.store(true, Ordering::Relaxed);
    client.await.expect("the streaming client does not panic");
    let last_kill = started.elapsed();
    let acked = acked.lock().unwrap().clone();
    assert!(
        acked.len() >= 20,
        "only {} events were acknowledged; the stream did not run",
        acked.len()
    );

    let expected: BTreeSet<(String, String)> = acked
        .iter()
        .map(|(kind, text)| (kind.to_string(), text.clone()))
        .collect();
    let delivered = |got: &[support_receiver::Received]| -> BTreeSet<(String, String)> {
        got.iter().map(|r| event_of(&r.json())).collect()
    };
    let all_delivered = receiver
        .wait_until(AFTER_LEASE, |got| delivered(got).is_superset(&expected))
        .await;
    let got = receiver.received();
    let seen = delivered(&got);
    let missing: Vec<_> = expected.difference(&seen).collect();
    assert!(
        all_delivered,
        "{} of {} acknowledged events never reached the receiver, e.g. {:?}\n{}",
        missing.len(),
        expected.len(),
        &missing[..missing.len().min(10)],
        fb.proc.tail()
    );

    // One event, one id: a duplicate is the same event with the same webhook-id and bytes.
    let mut first_body: BTreeMap<&str, &[u8]> = BTreeMap::new();
    let mut events_by_id: BTreeMap<(String, String), BTreeSet<&str>> = BTreeMap::new();
    for r in &got {
        let body = first_body.entry(&r.id).or_insert(&r.body);
        assert_eq!(*body, &r.body[..], "webhook-id {} carried two bodies", r.id);
        events_by_id
            .entry(event_of(&r.json()))
            .or_default()
            .insert(&r.id);
    }
    let split: Vec<_> = events_by_id
        .iter()
        .filter(|(_, ids)| ids.len() > 1)
        .collect();
    assert!(
        split.is_empty(),
        "an event was sent under two webhook-ids: {split:?}"
    );
    let duplicates = got.len() - first_body.len();
    eprintln!(
        "{KILLS} SIGKILLs in {last_kill:?}: {} events acknowledged, {} deliveries received for {} \
         webhook-ids ({duplicates} duplicates, same webhook-id), all delivered {:?} after the start",
        acked.len(),
        got.len(),
        first_body.len(),
        started.elapsed()
    );
    drop(fb);
}
