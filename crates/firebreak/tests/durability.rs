//! What Firebreak answers 2xx survives SIGKILL: `firebreak serve` runs as a child process, eight
//! concurrent senders post PagerDuty and generic events with unique dedup keys as fast as they
//! can, the server is killed with SIGKILL mid-stream, restarted on the same data directory,
//! and every event that was acknowledged must be there, exactly once.

mod support_proc;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::json;
use support_proc::{all_alerts, http, offline_admin_token, random_key, serve};

const SENDERS: usize = 8;
/// How long the senders run before the kill, at most.
const RUN_FOR: Duration = Duration::from_millis(1500);
/// Kill earlier once this many events were accepted (keeps the test short on fast machines).
const ENOUGH: usize = 20_000;

/// What one sender saw.
#[derive(Default)]
struct Sent {
    /// Dedup keys answered 2xx.
    accepted: Vec<String>,
    /// Requests that failed (connection errors, mostly at the kill) or were not 2xx.
    failed: usize,
    /// Non-2xx answers, for the failure message.
    refusals: Vec<String>,
}

async fn sender(
    worker: usize,
    base: String,
    key: String,
    stop: Arc<AtomicBool>,
    total: Arc<AtomicUsize>,
) -> Sent {
    let http = http();
    let mut sent = Sent::default();
    let mut n = 0usize;
    while !stop.load(Ordering::Relaxed) {
        n += 1;
        let dedup = format!("w{worker}-e{n}");
        // One in four through the generic endpoint, the rest as PagerDuty events.
        let request = if n.is_multiple_of(4) {
            http.post(format!("{base}/api/v1/ingest/generic/{key}"))
                .json(&json!({"summary": format!("generic {dedup}"), "dedup_key": dedup}))
        } else {
            http.post(format!("{base}/v2/enqueue")).json(&json!({
                "routing_key": key,
                "event_action": "trigger",
                "dedup_key": dedup,
                "payload": {"summary": format!("pd {dedup}"), "source": "load", "severity": "error"},
            }))
        };
        match request.send().await {
            Ok(r) if r.status().is_success() => {
                sent.accepted.push(dedup);
                total.fetch_add(1, Ordering::Relaxed);
            }
            Ok(r) => {
                sent.failed += 1;
                let status = r.status();
                if sent.refusals.len() < 5 {
                    let body = r.text().await.unwrap_or_default();
                    sent.refusals.push(format!("{dedup}: {status} {body}"));
                }
            }
            Err(_) => {
                sent.failed += 1;
                // After the kill every attempt fails fast; don't spin.
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }
    }
    sent
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn acknowledged_events_survive_sigkill() {
    let started = Instant::now();
    let dir = tempfile::tempdir().unwrap();
    let key = random_key();
    let config = dir.path().join("firebreak.yaml");
    std::fs::write(
        &config,
        format!(
            "services:\n  - name: ledger\n    description: Ledger\n    integrations:\n      - name: load\n        key: {key}\n\
             alerting:\n  rate_limit: {{ per_second: 1000000, burst: 1000000 }}\n"
        ),
    )
    .unwrap();
    let data = dir.path().join("data");
    let token = offline_admin_token(&data, &config);

    let mut fb = serve(&data, &config, "127.0.0.1:0");
    let stop = Arc::new(AtomicBool::new(false));
    let total = Arc::new(AtomicUsize::new(0));
    let workers: Vec<_> = (0..SENDERS)
        .map(|w| {
            tokio::spawn(sender(
                w,
                fb.url.clone(),
                key.clone(),
                stop.clone(),
                total.clone(),
            ))
        })
        .collect();

    let load_started = Instant::now();
    while load_started.elapsed() < RUN_FOR && total.load(Ordering::Relaxed) < ENOUGH {
        fb.proc.assert_running();
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let accepted_before_kill = total.load(Ordering::Relaxed);
    let tail = fb.proc.tail();
    // SIGKILL by PID while the senders are still sending.
    fb.proc.kill9();
    let killed_after = load_started.elapsed();
    // Let the senders see the dead server, then stop them.
    tokio::time::sleep(Duration::from_millis(100)).await;
    stop.store(true, Ordering::Relaxed);

    let mut accepted: Vec<String> = Vec::new();
    let mut failed = 0;
    let mut refusals = Vec::new();
    for w in workers {
        let sent = w.await.unwrap();
        accepted.extend(sent.accepted);
        failed += sent.failed;
        refusals.extend(sent.refusals);
    }
    assert!(
        refusals.is_empty(),
        "the server refused events before the kill (not a crash): {refusals:#?}\n{tail}"
    );
    assert!(
        accepted.len() >= 50,
        "only {} events were accepted in {killed_after:?}; the load did not run\n{tail}",
        accepted.len()
    );

    // Restart on the same data directory (a fresh port) and read everything back.
    let fb = serve(&data, &config, "127.0.0.1:0");
    assert!(
        fb.first_token.is_none(),
        "a restart must not look like a new Firebreak (data lost?)"
    );
    let http = http();
    let alerts = all_alerts(&http, &fb.url, &token, "").await;
    let mut stored: BTreeMap<String, usize> = BTreeMap::new();
    for a in &alerts {
        let dedup = a["dedup_key"]
            .as_str()
            .unwrap_or_else(|| panic!("alert without dedup_key: {a}"));
        *stored.entry(dedup.to_string()).or_default() += 1;
    }
    let accepted_set: BTreeSet<&str> = accepted.iter().map(String::as_str).collect();
    assert_eq!(
        accepted_set.len(),
        accepted.len(),
        "test bug: a dedup key was sent twice"
    );
    let missing: Vec<&str> = accepted_set
        .iter()
        .copied()
        .filter(|k| !stored.contains_key(*k))
        .collect();
    let twice: Vec<(&String, &usize)> = stored.iter().filter(|(_, n)| **n > 1).collect();
    let unacknowledged = stored
        .keys()
        .filter(|k| !accepted_set.contains(k.as_str()))
        .count();
    let counts = format!(
        "{} accepted (2xx) by {SENDERS} senders before SIGKILL at {killed_after:?} \
         ({accepted_before_kill} seen by the watcher), {failed} failed requests, \
         {} alerts stored ({} distinct dedup keys; {unacknowledged} stored without a 2xx, \
         allowed: committed but the answer was lost to the kill)",
        accepted.len(),
        alerts.len(),
        stored.len(),
    );
    assert!(
        missing.is_empty(),
        "{} acknowledged events are missing after the restart, e.g. {:?}; {counts}",
        missing.len(),
        &missing[..missing.len().min(10)]
    );
    assert!(
        twice.is_empty(),
        "{} dedup keys are stored more than once, e.g. {:?}; {counts}",
        twice.len(),
        &twice[..twice.len().min(10)]
    );
    for a in &alerts {
        assert_eq!(a["status"], "open", "{a}");
        assert_eq!(a["count"], 1, "{a}");
    }

    // The restarted server still takes events.
    let r = http
        .post(format!("{}/v2/enqueue", fb.url))
        .json(&json!({
            "routing_key": key,
            "event_action": "trigger",
            "dedup_key": "after-restart",
            "payload": {"summary": "after the restart", "source": "load", "severity": "error"},
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202, "{}", r.text().await.unwrap_or_default());
    eprintln!("{counts}; took {:?} in all", started.elapsed());
    drop(fb);
}
