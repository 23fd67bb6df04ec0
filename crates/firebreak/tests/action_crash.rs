//! Actions are at most once across SIGKILL: `firebreak serve` runs as a child process on
//! SQLite, starts a long runbook action (a script standing in for kubectl), and is killed while
//! it runs. Started again on the same data directory, it marks the run `interrupted` (its
//! heartbeat went silent), says so on the timeline, and never runs it again: the script's run
//! counter stays at one. This is the opposite of pages, which are sent again.

mod support_proc;

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support_proc::{get_json, http, serve_with};

fn write_config(dir: &Path, record: &Path) -> std::path::PathBuf {
    let script = format!("{}/tests/scripts/fake-kubectl", env!("CARGO_MANIFEST_DIR"));
    let config = dir.join("firebreak.yaml");
    std::fs::write(
        &config,
        format!(
            "services:\n  - name: checkout\n\
             runbooks:\n  - name: checkout-errors\n    services: [checkout]\n    \
             body: Roll back the last deploy.\n    actions:\n      - name: slow-rollback\n        \
             kind: command\n        run: [\"{script}\", sleep, \"20\"]\n        \
             env: {{RECORD_DIR: \"{}\", KUBECONFIG: {{secret: kubeconfig}}}}\n        \
             timeout: 1m\n",
            record.display()
        ),
    )
    .unwrap();
    config
}

/// Whether `pid` is a live process (a zombie waiting for its reaper counts as gone).
fn alive(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => !stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z')),
        Err(_) => false,
    }
}

fn runs(record: &Path) -> u32 {
    std::fs::read_to_string(record.join("runs"))
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_running_action_is_interrupted_by_a_crash_and_never_run_again() {
    let dir = tempfile::tempdir().unwrap();
    let record = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let config = write_config(dir.path(), record.path());
    let secret = [("FIREBREAK_SECRET_KUBECONFIG", "canary-kubeconfig-crash")];
    let mut first = serve_with(&data, &config, "127.0.0.1:0", &secret);
    let token = first
        .first_token
        .clone()
        .expect("an admin token on first start");
    let client = http();
    let declared: Value = client
        .post(format!("{}/api/v1/incidents", first.url))
        .bearer_auth(&token)
        .json(&json!({"title": "Checkout errors", "severity": "SEV2", "services": ["checkout"]}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let inc = declared["id"].as_str().expect("declared").to_string();
    let started = client
        .post(format!(
            "{}/api/v1/incidents/{inc}/actions/slow-rollback/runs",
            first.url
        ))
        .bearer_auth(&token)
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(started.status(), 202);
    let run: Value = started.json().await.unwrap();
    let id = run["id"].as_i64().unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while runs(record.path()) == 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(runs(record.path()), 1, "the script started");
    // Give the run a heartbeat or two, so its output (with the secret, redacted) is stored.
    tokio::time::sleep(Duration::from_secs(4)).await;
    first.proc.kill9();
    // The script and its child die with the server: an interrupted run is over, so the next
    // run of the action cannot start beside it.
    for file in ["pid", "child"] {
        let pid: i32 = std::fs::read_to_string(record.path().join(file))
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        while alive(pid) && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert!(!alive(pid), "the action's {file} outlived the server");
    }
    assert!(
        !first.proc.log().contains("canary-kubeconfig-crash"),
        "the secret reached the server's log:\n{}",
        first.proc.log()
    );

    let second = serve_with(&data, &config, "127.0.0.1:0", &secret);
    let url = format!("{}/api/v1/runs/{id}", second.url);
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut shown = get_json(&client, &url, &token).await;
    while shown["status"] == "running" && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(250)).await;
        shown = get_json(&client, &url, &token).await;
    }
    assert_eq!(shown["status"], "interrupted", "{shown}");
    assert!(
        shown["error"].as_str().unwrap().contains("not run again"),
        "{shown}"
    );
    let timeline = get_json(
        &client,
        &format!("{}/api/v1/incidents/{inc}/timeline?limit=500", second.url),
        &token,
    )
    .await;
    let interrupted = timeline["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "action_finished" && e["data"]["status"] == "interrupted")
        .count();
    assert_eq!(interrupted, 1, "{timeline}");
    // Some seconds on, still one run: nothing started it again.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(
        runs(record.path()),
        1,
        "an interrupted action is never run again by itself"
    );
    let mut second = second;
    second.proc.kill9();
}
