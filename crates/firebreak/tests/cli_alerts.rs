//! The built binary's `integration`, `alert`, `silence` and `deploy` commands against a real
//! server: keys alone on stdout, alerts sent with them listed and acknowledged, exit codes.

mod common;

use std::process::{Command, Output};

use reqwest::Method;
use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_firebreak");

fn run(s: &common::TestServer, token: &str, args: &[&str]) -> Output {
    let home = tempfile::tempdir().unwrap();
    Command::new(BIN)
        .args(args)
        .env("FIREBREAK_CONFIG_DIR", home.path())
        .env("FIREBREAK_SERVER", &s.base)
        .env("FIREBREAK_TOKEN", token)
        .output()
        .unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alerting_commands_against_a_real_server() {
    let s = common::spawn().await;
    s.call(
        Method::POST,
        "/api/v1/services",
        Some(&s.admin),
        Some(json!({"name": "checkout"})),
    )
    .await;

    let created = run(
        &s,
        &s.admin,
        &[
            "integration",
            "create",
            "--service",
            "checkout",
            "--name",
            "prometheus",
        ],
    );
    assert!(created.status.success(), "{}", text(&created.stderr));
    let out = text(&created.stdout);
    assert_eq!(out.lines().count(), 1, "the key alone on stdout: {out:?}");
    let key = out.trim().to_string();
    assert!(text(&created.stderr).contains("/api/v1/ingest/alertmanager/<KEY>"));

    let sent = s
        .send_json(
            &format!("/api/v1/ingest/generic/{key}"),
            &json!({"summary": "Disk full on db-1", "severity": "critical", "dedup_key": "disk"}),
        )
        .await;
    assert!(sent.status.is_success(), "{}", sent.body);

    let listed = run(&s, &s.viewer, &["alert", "list", "--status", "open"]);
    assert!(listed.status.success(), "{}", text(&listed.stderr));
    assert!(text(&listed.stdout).contains("Disk full on db-1"));
    let page: Value =
        serde_json::from_slice(&run(&s, &s.viewer, &["alert", "list", "--json"]).stdout).unwrap();
    let id = page["items"][0]["id"].to_string();

    let acked = run(&s, &s.responder, &["alert", "ack", &id]);
    assert!(acked.status.success(), "{}", text(&acked.stderr));
    assert!(
        text(&acked.stdout).contains("now acknowledged"),
        "{}",
        text(&acked.stdout)
    );

    let missing = run(&s, &s.responder, &["alert", "resolve", "999999"]);
    assert_eq!(missing.status.code(), Some(1));
    assert!(text(&missing.stderr).contains("there is no alert 999999"));

    let silenced = run(
        &s,
        &s.responder,
        &[
            "silence",
            "add",
            "--match",
            "alertname=\"DiskFull\"",
            "--duration",
            "2h",
            "--comment",
            "cleaning up",
        ],
    );
    assert!(silenced.status.success(), "{}", text(&silenced.stderr));
    assert!(text(&silenced.stdout).starts_with("Created silence "));

    let no_end = run(
        &s,
        &s.responder,
        &["silence", "add", "--match", "a=\"b\"", "--comment", "x"],
    );
    assert_eq!(no_end.status.code(), Some(2), "clap usage error");

    let deployed = run(
        &s,
        &s.responder,
        &[
            "deploy",
            "record",
            "--service",
            "checkout",
            "--version",
            "1.4.2",
        ],
    );
    assert!(deployed.status.success(), "{}", text(&deployed.stderr));
    assert!(
        text(&deployed.stdout).trim().parse::<i64>().is_ok(),
        "the deployment id alone: {:?}",
        text(&deployed.stdout)
    );
    assert!(text(&run(&s, &s.viewer, &["deploy", "list"]).stdout).contains("1.4.2"));
}
