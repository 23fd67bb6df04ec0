//! The built binary as a user runs it: `serve` in a child process, CLI commands against it,
//! offline token creation, config checking, and a clean exit on SIGTERM.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_firebreak");

struct Served {
    child: Child,
    url: String,
    token: String,
    _dir: tempfile::TempDir,
    home: tempfile::TempDir,
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn serve() -> Served {
    serve_with(&[])
}

/// `firebreak serve` with extra arguments (`--config FILE`).
fn serve_with(extra: &[&std::ffi::OsStr]) -> Served {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(BIN)
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir.path())
        .args(extra)
        .env_remove("FIREBREAK_DATABASE_URL")
        .env_remove("FIREBREAK_CONFIG")
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .expect("firebreak serve starts");
    let stderr = child.stderr.take().unwrap();
    let mut lines = BufReader::new(stderr).lines();
    let (mut url, mut token) = (None, None);
    let deadline = Instant::now() + Duration::from_secs(60);
    while url.is_none() && Instant::now() < deadline {
        let Some(Ok(line)) = lines.next() else { break };
        let trimmed = line.trim();
        if trimmed.starts_with("fbt_") && token.is_none() {
            token = Some(trimmed.to_string());
        }
        if let Some(at) = line.find("listening on http://") {
            url = line[at + "listening on ".len()..]
                .split_whitespace()
                .next()
                .map(String::from);
        }
    }
    // Keep draining stderr so the server never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    Served {
        child,
        url: url.expect("serve prints the address it listens on"),
        token: token.expect("first start prints an admin token"),
        _dir: dir,
        home: tempfile::tempdir().unwrap(),
    }
}

impl Served {
    fn run(&self, args: &[&str]) -> Output {
        Command::new(BIN)
            .args(args)
            .env("FIREBREAK_CONFIG_DIR", self.home.path())
            .env("FIREBREAK_SERVER", &self.url)
            .env("FIREBREAK_TOKEN", &self.token)
            .output()
            .unwrap()
    }
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}
fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn the_walkthrough_works_from_the_cli() {
    let s = serve();
    let declared = s.run(&[
        "incident",
        "declare",
        "Checkout returns 500s",
        "--severity",
        "SEV2",
        "--json",
    ]);
    assert!(declared.status.success(), "{}", stderr(&declared));
    let inc: Value = serde_json::from_str(&stdout(&declared)).expect("--json prints the incident");
    assert_eq!(inc["id"], "INC-1");

    let added = s.run(&["user", "add", "alice", "--name", "Alice Example"]);
    assert!(added.status.success(), "{}", stderr(&added));
    assert!(
        stdout(&added).contains("Alice Example"),
        "{}",
        stdout(&added)
    );
    let assign = s.run(&[
        "--json",
        "incident",
        "assign",
        "INC-1",
        "comms-lead",
        "alice",
    ]);
    assert!(assign.status.success(), "{}", stderr(&assign));
    let note = s.run(&["incident", "note", "INC-1", "rolling back v2.3.1"]);
    assert!(note.status.success(), "{}", stderr(&note));
    let resolved = s.run(&["incident", "status", "INC-1", "resolved"]);
    assert!(resolved.status.success(), "{}", stderr(&resolved));

    let shown = s.run(&["incident", "show", "INC-1"]);
    let text = stdout(&shown);
    assert!(
        text.contains("Checkout returns 500s") && text.contains("rolling back v2.3.1"),
        "{text}"
    );

    let refused = s.run(&["incident", "status", "INC-1", "identified"]);
    assert_eq!(refused.status.code(), Some(1));
    assert!(
        stderr(&refused).contains("reopened"),
        "{}",
        stderr(&refused)
    );

    let listed = s.run(&["incident", "list", "--json"]);
    let list: Value = serde_json::from_str(&stdout(&listed)).unwrap();
    assert_eq!(list["items"][0]["status"], "resolved");
}

#[test]
fn an_unreachable_server_is_named() {
    let home = tempfile::tempdir().unwrap();
    let o = Command::new(BIN)
        .args([
            "incident",
            "list",
            "--server",
            "http://127.0.0.1:9",
            "--token",
            "fbt_x",
        ])
        .env("FIREBREAK_CONFIG_DIR", home.path())
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("http://127.0.0.1:9"), "{}", stderr(&o));
}

#[test]
fn usage_errors_exit_2() {
    let o = Command::new(BIN)
        .args(["incident", "declare"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn token_create_works_offline_and_prints_only_the_token() {
    let dir = tempfile::tempdir().unwrap();
    let o = Command::new(BIN)
        .args([
            "token",
            "create",
            "--name",
            "ci",
            "--role",
            "responder",
            "--data-dir",
        ])
        .arg(dir.path().join("fresh"))
        .env_remove("FIREBREAK_DATABASE_URL")
        .env_remove("FIREBREAK_SERVER")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 1, "{out}");
    assert!(lines[0].starts_with("fbt_") && lines[0].len() >= 68);
    assert!(!stderr(&o).contains(lines[0]), "the token is never logged");
}

#[test]
fn an_unknown_database_scheme_is_a_clear_error() {
    let o = Command::new(BIN)
        .args(["migrate", "--database-url", "mysql://h/db"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("unsupported database URL scheme `mysql`"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn check_points_at_file_line_and_key() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("firebreak.yaml");
    std::fs::write(
        &file,
        "severities:\n  - name: SEV1\n    description: down\n    respond_within: soon\n",
    )
    .unwrap();
    let o = Command::new(BIN).arg("check").arg(&file).output().unwrap();
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    assert!(
        err.contains("firebreak.yaml:4:") && err.contains("respond_within"),
        "{err}"
    );

    std::fs::write(
        &file,
        "severities:\n  - name: SEV1\n    description: down\n    respond_within: 5m\n",
    )
    .unwrap();
    let o = Command::new(BIN).arg("check").arg(&file).output().unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
}

/// The running config comes back as a firebreak.yaml that `check` accepts, keys left out:
/// `config export` writes each integration key as `{env: NAME}`, and `check` accepts a file
/// whose key variables are not set where it runs, naming them.
#[test]
fn the_exported_config_passes_check_without_its_secrets() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("firebreak.yaml");
    let key = "ExportKey0000000000000000000000001";
    std::fs::write(
        &file,
        format!(
            "services:\n  - name: checkout\n    integrations:\n      - name: prometheus\n        key: {}\n",
            &key[..32]
        ),
    )
    .unwrap();
    let s = serve_with(&[std::ffi::OsStr::new("--config"), file.as_os_str()]);
    let exported = s.run(&["config", "export"]);
    assert!(exported.status.success(), "{}", stderr(&exported));
    let yaml = stdout(&exported);
    assert!(
        !yaml.contains(&key[..32]),
        "the key must not be exported:\n{yaml}"
    );
    assert!(yaml.contains("env:"), "{yaml}");
    let back = dir.path().join("exported.yaml");
    std::fs::write(&back, &yaml).unwrap();
    let o = Command::new(BIN)
        .arg("check")
        .arg(&back)
        .env_remove("FIREBREAK_KEY_CHECKOUT_PROMETHEUS")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}\n{yaml}", stderr(&o));
    assert!(
        stderr(&o).contains("FIREBREAK_KEY_CHECKOUT_PROMETHEUS is not set here"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn completions_are_printed() {
    let o = Command::new(BIN)
        .args(["completions", "bash"])
        .output()
        .unwrap();
    assert!(o.status.success());
    assert!(stdout(&o).contains("firebreak"));
}

#[cfg(unix)]
#[test]
fn sigterm_stops_the_server_cleanly() {
    let mut s = serve();
    let pid = s.child.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(status) = s.child.try_wait().unwrap() {
            assert_eq!(status.code(), Some(0), "SIGTERM exits 0");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "server did not stop after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn schedules_and_overrides_from_the_cli() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("firebreak.yaml");
    std::fs::write(
        &config,
        "users:\n  - handle: alice\n  - handle: bob\n  - handle: carol\nschedules:\n  - name: primary\n    time_zone: UTC\n    layers:\n      - name: week\n        members: [alice, bob]\n        rotation: {every: 1w, start: \"2026-11-02T09:00\"}\n",
    )
    .unwrap();
    let s = serve_with(&["--config".as_ref(), config.as_os_str()]);

    let listed = s.run(&["schedule", "list"]);
    assert!(listed.status.success(), "{}", stderr(&listed));
    assert!(
        stdout(&listed).contains("week: alice, bob every 1w"),
        "{}",
        stdout(&listed)
    );

    let on_call = s.run(&["oncall", "--at", "2026-11-10T12:00:00Z", "--json"]);
    assert!(on_call.status.success(), "{}", stderr(&on_call));
    let v: Value = serde_json::from_str(&stdout(&on_call)).unwrap();
    assert_eq!(v["items"][0]["schedule"], "primary");
    assert_eq!(v["items"][0]["users"][0], "bob");

    let added = s.run(&[
        "schedule",
        "override",
        "add",
        "primary",
        "--user",
        "carol",
        "--start",
        "2026-11-10T10:00:00Z",
        "--end",
        "2026-11-10T14:00:00Z",
    ]);
    assert!(added.status.success(), "{}", stderr(&added));
    let id = stdout(&added).trim().to_string();
    assert!(id.starts_with("ovr_"), "the id alone on stdout: {id}");
    assert!(
        stderr(&added).contains("carol covers primary"),
        "{}",
        stderr(&added)
    );

    let shifts = s.run(&[
        "schedule",
        "shifts",
        "primary",
        "--from",
        "2026-11-10T00:00:00Z",
        "--to",
        "2026-11-11T00:00:00Z",
    ]);
    let text = stdout(&shifts);
    assert!(
        text.contains("override") && text.contains("carol"),
        "{text}"
    );

    let removed = s.run(&["schedule", "override", "remove", "primary", &id]);
    assert!(removed.status.success(), "{}", stderr(&removed));
    let again = s.run(&["schedule", "override", "remove", "primary", &id]);
    assert_eq!(again.status.code(), Some(1));
    assert!(stderr(&again).contains("no override"), "{}", stderr(&again));

    let unknown = s.run(&["schedule", "shifts", "nope"]);
    assert_eq!(unknown.status.code(), Some(1));
    assert!(
        stderr(&unknown).contains("firebreak schedule list"),
        "{}",
        stderr(&unknown)
    );
}
