//! The built binary's `heartbeat` commands against a real server: `add` prints the ping URL
//! alone, `ping` needs no token (by URL or by key, and `--fail` with a reason), `list` shows
//! where each heartbeat stands, `remove` deletes one; refusals exit 1.

mod common;

use jiff::SignedDuration;
use reqwest::Method;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn heartbeat_commands_against_a_real_server() {
    let s = common::spawn().await;
    s.call(
        Method::POST,
        "/api/v1/services",
        Some(&s.admin),
        Some(json!({"name": "db"})),
    )
    .await
    .expect(201);

    let added = s
        .cli(
            &s.admin,
            &[
                "heartbeat",
                "add",
                "--name",
                "nightly-backup",
                "--service",
                "db",
                "--period",
                "1d",
                "--grace",
                "1h",
            ],
        )
        .await;
    assert!(added.status.success(), "{}", common::printed(&added));
    let out = String::from_utf8_lossy(&added.stdout).to_string();
    assert_eq!(out.lines().count(), 1, "the URL alone on stdout: {out:?}");
    let url = out.trim().to_string();
    assert!(
        url.starts_with(&format!("{}/api/v1/heartbeats/", s.base)),
        "{url}"
    );
    let notes = String::from_utf8_lossy(&added.stderr);
    assert!(
        notes.contains("shown only this once") && notes.contains("curl -fsS"),
        "{notes}"
    );
    let key = url.rsplit('/').next().unwrap().to_string();

    // Listed as new; the key never shown again.
    let listed = s.cli(&s.viewer, &["heartbeat", "list"]).await;
    let table = common::printed(&listed);
    assert!(listed.status.success(), "{table}");
    assert!(
        table.contains("nightly-backup") && table.contains("new"),
        "{table}"
    );
    assert!(!table.contains(&key), "{table}");

    // A ping needs no token: by URL, then by key below the configured server.
    let home = tempfile::tempdir().unwrap();
    let pinged = common::cli_at(&s.base, "", &["heartbeat", "ping", &url], home.path()).await;
    assert!(pinged.status.success(), "{}", common::printed(&pinged));
    assert!(common::printed(&pinged).contains("nightly-backup is up"));
    let pinged = common::cli_at(&s.base, "", &["heartbeat", "ping", &key], home.path()).await;
    assert!(pinged.status.success(), "{}", common::printed(&pinged));
    let table = common::printed(&s.cli(&s.viewer, &["heartbeat", "list"]).await);
    assert!(table.contains(" up "), "{table}");

    // A failure with its reason opens the alert at once.
    let failed = common::cli_at(
        &s.base,
        "",
        &[
            "heartbeat",
            "ping",
            &key,
            "--fail",
            "--reason",
            "pg_dump exited 1",
        ],
        home.path(),
    )
    .await;
    assert!(failed.status.success(), "{}", common::printed(&failed));
    assert!(common::printed(&failed).contains("is down"));
    let open = s.alerts("status=open").await;
    assert_eq!(open.len(), 1);
    assert!(
        open[0]["summary"]
            .as_str()
            .unwrap()
            .contains("pg_dump exited 1")
    );
    let table = common::printed(&s.cli(&s.viewer, &["heartbeat", "list"]).await);
    assert!(table.contains("down since"), "{table}");

    // An unknown key and a viewer's add are refused with exit code 1.
    let unknown = common::cli_at(
        &s.base,
        "",
        &["heartbeat", "ping", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"],
        home.path(),
    )
    .await;
    assert_eq!(
        unknown.status.code(),
        Some(1),
        "{}",
        common::printed(&unknown)
    );
    // A key with no server to send it to says what a ping needs (no token, no login).
    let nowhere = tokio::process::Command::new(env!("CARGO_BIN_EXE_firebreak"))
        .args(["heartbeat", "ping", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"])
        .env("FIREBREAK_CONFIG_DIR", home.path())
        .env_remove("FIREBREAK_SERVER")
        .env_remove("FIREBREAK_TOKEN")
        .output()
        .await
        .unwrap();
    assert_eq!(
        nowhere.status.code(),
        Some(2),
        "{}",
        common::printed(&nowhere)
    );
    let said = common::printed(&nowhere);
    assert!(
        said.contains("whole ping URL") && !said.contains("login"),
        "{said}"
    );
    // A viewer may not add one; a period under a minute is refused naming it.
    for (token, period, says) in [(&s.viewer, "1h", "admin"), (&s.admin, "30s", "period")] {
        let add = [
            "heartbeat",
            "add",
            "--name",
            "x",
            "--service",
            "db",
            "--period",
            period,
        ];
        let refused = s.cli(token, &add).await;
        assert_eq!(refused.status.code(), Some(1));
        let printed = common::printed(&refused);
        assert!(printed.contains(says), "{printed}");
    }

    // JSON for scripts, then remove: the open alert is resolved.
    s.clock.advance(SignedDuration::from_mins(1));
    let listed = s.cli(&s.viewer, &["--json", "heartbeat", "list"]).await;
    let page: serde_json::Value = serde_json::from_slice(&listed.stdout).unwrap();
    let id = page["items"][0]["id"].as_i64().unwrap().to_string();
    let removed = s.cli(&s.admin, &["heartbeat", "remove", &id]).await;
    assert!(removed.status.success(), "{}", common::printed(&removed));
    assert!(s.alerts("status=open").await.is_empty());
    let table = common::printed(&s.cli(&s.viewer, &["heartbeat", "list"]).await);
    assert!(table.contains("No heartbeats"), "{table}");
}
