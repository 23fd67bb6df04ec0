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
        // No saved login either: nothing says a server is in use.
        .env("FIREBREAK_CONFIG_DIR", dir.path().join("home"))
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
fn token_create_does_not_make_a_new_database_when_a_server_is_in_use() {
    // With FIREBREAK_SERVER set (a server is in use) and no database here, a token made here
    // would land in a new, empty database nobody serves: refused, with what to do.
    let dir = tempfile::tempdir().unwrap();
    let o = Command::new(BIN)
        .current_dir(dir.path())
        .args(["token", "create", "--name", "bob", "--role", "responder"])
        .env_remove("FIREBREAK_DATABASE_URL")
        .env_remove("FIREBREAK_DATA_DIR")
        .env("FIREBREAK_SERVER", "http://127.0.0.1:9")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("add --server http://127.0.0.1:9"),
        "{}",
        stderr(&o)
    );
    assert!(
        !dir.path().join("firebreak-data").exists(),
        "no database was made"
    );
    // Doing what it says works, even with the same URL in FIREBREAK_SERVER: the token is asked
    // of that server (here nobody listens, and it says so).
    let o = Command::new(BIN)
        .current_dir(dir.path())
        .args(["token", "create", "--name", "bob", "--role", "responder"])
        .args(["--server", "http://127.0.0.1:9"])
        .env_remove("FIREBREAK_DATABASE_URL")
        .env_remove("FIREBREAK_DATA_DIR")
        .env("FIREBREAK_SERVER", "http://127.0.0.1:9")
        .env("FIREBREAK_TOKEN", "fbt_x")
        .output()
        .unwrap();
    assert!(
        stderr(&o).contains("could not reach Firebreak at http://127.0.0.1:9"),
        "{}",
        stderr(&o)
    );
    assert!(!dir.path().join("firebreak-data").exists());
}

#[test]
fn a_saved_login_counts_as_a_server_for_token_create_and_migrate() {
    // The walkthrough: log in, add a user, make their token, from a directory with no database.
    let s = serve();
    let cwd = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| {
        Command::new(BIN)
            .current_dir(cwd.path())
            .args(args)
            .env("FIREBREAK_CONFIG_DIR", s.home.path())
            .env_remove("FIREBREAK_SERVER")
            .env_remove("FIREBREAK_TOKEN")
            .env_remove("FIREBREAK_DATABASE_URL")
            .env_remove("FIREBREAK_DATA_DIR")
            .output()
            .unwrap()
    };
    let login = run(&["login", "--server", &s.url, "--token", &s.token]);
    assert!(login.status.success(), "{}", stderr(&login));
    let added = run(&["user", "add", "dave"]);
    assert!(added.status.success(), "{}", stderr(&added));
    let hint = format!(
        "firebreak token create --server {} --name dave-laptop --role responder --user dave",
        s.url
    );
    assert!(stderr(&added).contains(&hint), "{}", stderr(&added));

    // Without --server, nothing is made here: it says how to make it on the server.
    for args in [
        &[
            "token",
            "create",
            "--name",
            "dave-laptop",
            "--role",
            "responder",
            "--user",
            "dave",
        ][..],
        &["token", "create", "--name", "ci", "--role", "responder"][..],
    ] {
        let o = run(args);
        assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
        assert!(stdout(&o).is_empty(), "no token printed: {}", stdout(&o));
        assert!(
            stderr(&o).contains(&format!("add --server {}", s.url)),
            "{}",
            stderr(&o)
        );
    }
    let o = run(&["migrate"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains(&s.url), "{}", stderr(&o));
    assert!(
        !cwd.path().join("firebreak-data").exists(),
        "no database was made"
    );

    // The hint, as printed, makes a token the server takes as dave.
    let args: Vec<&str> = hint.split(' ').skip(1).collect();
    let made = run(&args);
    assert!(made.status.success(), "{}", stderr(&made));
    let token = stdout(&made).trim().to_string();
    let me = Command::new(BIN)
        .current_dir(cwd.path())
        .args([
            "--json", "incident", "list", "--server", &s.url, "--token", &token,
        ])
        .env("FIREBREAK_CONFIG_DIR", s.home.path())
        .output()
        .unwrap();
    assert!(me.status.success(), "the server takes it: {}", stderr(&me));
    let listed = run(&["token", "list", "--server", &s.url, "--json"]);
    assert!(stdout(&listed).contains("\"dave\""), "{}", stdout(&listed));
    assert!(!cwd.path().join("firebreak-data").exists());
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
    assert!(!stderr(&o).contains("warning"), "{}", stderr(&o));

    // Stakeholders are emailed: without an email: section, check says so (and still passes:
    // the server's environment may set it).
    let stakeholders = "comms:\n  stakeholders:\n    - email: cto@example.com\n";
    std::fs::write(&file, stakeholders).unwrap();
    let o = Command::new(BIN)
        .arg("check")
        .arg(&file)
        .env_remove("FIREBREAK_SMTP_URL")
        .env_remove("FIREBREAK_EMAIL_FROM")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stderr(&o).contains(
            "comms.stakeholders lists 1 person to email, and there is no email: section to send \
             through: add email: with smtp_url and from"
        ),
        "{}",
        stderr(&o)
    );
    std::fs::write(
        &file,
        format!(
            "{stakeholders}email:\n  smtp_url: smtp://127.0.0.1:2525\n  from: fb@example.com\n"
        ),
    )
    .unwrap();
    let o = Command::new(BIN).arg("check").arg(&file).output().unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(!stderr(&o).contains("stakeholders"), "{}", stderr(&o));
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

/// The paging commands as an on-call engineer uses them: contact methods (a webhook's secret
/// shown once, a Slack URL masked, test pages against a real receiver on loopback), an
/// escalation policy made through the API, an incident that pages, its escalations, the
/// acknowledgement that stops them, and `oncall --me` for the token's user.
#[test]
fn paging_from_the_cli() {
    use std::io::{Read, Write};
    use std::sync::{Arc, Mutex};

    // A receiver on loopback: 503 for paths ending in /down, 200 for the rest. It keeps the
    // request heads it got.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let rx = format!("http://{}", listener.local_addr().unwrap());
    let heads = Arc::new(Mutex::new(Vec::<String>::new()));
    let seen = heads.clone();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { continue };
            let _ = conn.set_read_timeout(Some(Duration::from_secs(5)));
            let mut buf = Vec::new();
            let mut chunk = [0u8; 4096];
            let head_end = loop {
                if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                    break Some(i + 4);
                }
                match conn.read(&mut chunk) {
                    Ok(0) | Err(_) => break None,
                    Ok(n) => buf.extend_from_slice(&chunk[..n]),
                }
            };
            let Some(head_end) = head_end else { continue };
            let head = String::from_utf8_lossy(&buf[..head_end]).to_ascii_lowercase();
            let length: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(0);
            while buf.len() < head_end + length {
                match conn.read(&mut chunk) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => buf.extend_from_slice(&chunk[..n]),
                }
            }
            let down = head.lines().next().is_some_and(|l| {
                l.split_whitespace()
                    .nth(1)
                    .is_some_and(|p| p.ends_with("/down"))
            });
            seen.lock().unwrap().push(head);
            let status = if down {
                "503 Service Unavailable"
            } else {
                "200 OK"
            };
            let _ = conn.write_all(
                format!("HTTP/1.1 {status}\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok")
                    .as_bytes(),
            );
        }
    });

    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("firebreak.yaml");
    std::fs::write(
        &config,
        "users:\n  - handle: alice\n  - handle: bob\nschedules:\n  - name: primary\n    time_zone: UTC\n    layers:\n      - name: week\n        members: [alice]\n        rotation: {every: 1w, start: \"2026-11-02T09:00\"}\n  - name: secondary\n    time_zone: UTC\n    layers:\n      - name: week\n        members: [bob]\n        rotation: {every: 1w, start: \"2026-11-02T09:00\"}\noutbound:\n  allow: [\"127.0.0.0/8\"]\n",
    )
    .unwrap();
    let s = serve_with(&["--config".as_ref(), config.as_os_str()]);

    // The API, for what the CLI does not make: policies, services and tokens.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let http = reqwest::Client::new();
    let post = |path: &str, body: Value| -> Value {
        rt.block_on(async {
            let r = http
                .post(format!("{}/api/v1{path}", s.url))
                .bearer_auth(&s.token)
                .json(&body)
                .send()
                .await
                .unwrap();
            let status = r.status().as_u16();
            let v: Value = r.json().await.unwrap();
            assert_eq!(status, 201, "POST {path}: {v}");
            v
        })
    };
    let json_of = |o: &Output| -> Value {
        assert!(o.status.success(), "{}", stderr(o));
        serde_json::from_str(&stdout(o)).unwrap_or_else(|e| panic!("{e}: {}", stdout(o)))
    };

    // contact add: a webhook's secret alone on stdout, shown this once.
    let added = s.run(&[
        "contact",
        "add",
        "--type",
        "webhook",
        &format!("{rx}/admin"),
    ]);
    assert!(added.status.success(), "{}", stderr(&added));
    let secret = stdout(&added).trim().to_string();
    assert!(
        secret.starts_with("whsec_") && !secret.contains('\n'),
        "{secret}"
    );
    let notes = stderr(&added);
    assert!(
        notes.contains("shown only this once") && notes.contains("Standard Webhooks"),
        "{notes}"
    );
    assert!(
        !notes.contains(&secret),
        "the secret only on stdout: {notes}"
    );
    // A Slack URL is a secret: masked from now on.
    let slack_url = format!("{rx}/services/T000/B000/XXXXXXXXXXXXsecret");
    let slack = s.run(&[
        "contact",
        "add",
        "--type",
        "slack",
        &slack_url,
        "--name",
        "team-chat",
    ]);
    assert!(slack.status.success(), "{}", stderr(&slack));
    let slack_id = stdout(&slack).trim().to_string();
    assert!(slack_id.starts_with("cm_"), "{slack_id}");
    assert!(
        !stderr(&slack).contains("XXXXXXXXXXXX"),
        "{}",
        stderr(&slack)
    );
    let broken = s.run(&[
        "contact",
        "add",
        "--type",
        "webhook",
        &format!("{rx}/down"),
        "--name",
        "broken",
    ]);
    assert!(broken.status.success(), "{}", stderr(&broken));
    let wrong = s.run(&[
        "contact",
        "add",
        "--type",
        "email",
        "admin@example.com",
        "--ntfy-token",
        "tk_x",
    ]);
    assert_eq!(wrong.status.code(), Some(2), "{}", stderr(&wrong));

    // contact list: the Slack URL masked, no secrets, as a table and as JSON.
    let listed = s.run(&["contact", "list"]);
    assert!(listed.status.success(), "{}", stderr(&listed));
    let table = stdout(&listed);
    assert!(
        table.contains("team-chat") && table.contains(&slack_id),
        "{table}"
    );
    assert!(
        !table.contains("XXXXXXXXXXXX") && !table.contains("whsec_"),
        "{table}"
    );
    let list = json_of(&s.run(&["contact", "list", "--json"]));
    let items = list["items"].as_array().unwrap();
    assert_eq!(items.len(), 3, "{list}");
    assert!(!list.to_string().contains("XXXXXXXXXXXX"), "{list}");
    assert!(!list.to_string().contains("whsec_"), "{list}");
    let id_named = |name: &str| {
        items
            .iter()
            .find(|c| c["name"] == name)
            .and_then(|c| c["id"].as_str())
            .unwrap_or_else(|| panic!("no contact method {name}: {list}"))
            .to_string()
    };
    let (hook_id, broken_id) = (id_named("webhook"), id_named("broken"));

    // contact test: what the receiver answered; exit 1 when it did not take the page.
    let tested = s.run(&["contact", "test", &hook_id]);
    assert!(tested.status.success(), "{}", stderr(&tested));
    assert!(
        stdout(&tested).contains("Delivered") && stdout(&tested).contains("200"),
        "{}",
        stdout(&tested)
    );
    assert!(
        heads
            .lock()
            .unwrap()
            .iter()
            .any(|h| h.starts_with("post /admin") && h.contains("webhook-signature:")),
        "the receiver got a signed test page: {:?}",
        heads.lock().unwrap()
    );
    let failed = s.run(&["contact", "test", &broken_id]);
    assert_eq!(failed.status.code(), Some(1), "{}", stderr(&failed));
    assert!(
        stdout(&failed).contains("Not delivered") && stdout(&failed).contains("503"),
        "{}",
        stdout(&failed)
    );
    assert!(
        stderr(&failed).contains("not delivered"),
        "{}",
        stderr(&failed)
    );

    // contact remove.
    let removed = s.run(&["contact", "remove", &broken_id]);
    assert!(removed.status.success(), "{}", stderr(&removed));
    assert!(!stdout(&s.run(&["contact", "list"])).contains(&broken_id));
    let again = s.run(&["contact", "remove", &broken_id]);
    assert_eq!(again.status.code(), Some(1), "{}", stderr(&again));

    // policy list / show, of a policy made through the API.
    post(
        "/escalation-policies",
        serde_json::json!({"name": "ops", "repeat": 1, "steps": [
            {"delay": "5m", "targets": [{"user": "admin"}]},
            {"delay": "10m", "targets": [{"schedule": "primary"}, {"user": "bob"}]}
        ]}),
    );
    post(
        "/services",
        serde_json::json!({"name": "checkout", "escalation_policy": "ops"}),
    );
    let policies = s.run(&["policy", "list"]);
    assert!(policies.status.success(), "{}", stderr(&policies));
    let text = stdout(&policies);
    assert!(
        text.contains("ops")
            && text.contains("0: admin, then wait 5m")
            && text.contains("checkout"),
        "{text}"
    );
    let shown = s.run(&["policy", "show", "ops"]);
    assert!(shown.status.success(), "{}", stderr(&shown));
    let text = stdout(&shown);
    assert!(
        text.contains("whoever is on call on primary")
            && text.contains("10m")
            && text.contains("repeat 1")
            && text.contains("checkout"),
        "{text}"
    );
    let policy = json_of(&s.run(&["policy", "show", "ops", "--json"]));
    assert_eq!(policy["steps"][1]["targets"][0]["schedule"], "primary");
    let missing = s.run(&["policy", "show", "nope"]);
    assert_eq!(missing.status.code(), Some(1), "{}", stderr(&missing));

    // An incident on checkout pages through ops; escalation list shows the pages.
    let declared = s.run(&[
        "incident",
        "declare",
        "Checkout is down",
        "--severity",
        "SEV2",
        "--service",
        "checkout",
    ]);
    assert!(declared.status.success(), "{}", stderr(&declared));
    let deadline = Instant::now() + Duration::from_secs(20);
    let escalations = loop {
        let v = json_of(&s.run(&["escalation", "list", "--incident", "INC-1", "--json"]));
        let paged = v["items"][0]["notifications"]
            .as_array()
            .is_some_and(|n| !n.is_empty());
        if paged || Instant::now() > deadline {
            break v;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    let esc = &escalations["items"][0];
    assert_eq!(esc["policy"], "ops", "{escalations}");
    assert_eq!(esc["status"], "active", "{escalations}");
    assert_eq!(esc["notifications"][0]["user"], "admin", "{escalations}");
    let listed = s.run(&["escalation", "list", "--incident", "INC-1"]);
    assert!(listed.status.success(), "{}", stderr(&listed));
    let text = stdout(&listed);
    assert!(
        text.contains(esc["id"].as_str().unwrap())
            && text.contains("active")
            && text.contains("Pages of")
            && text.contains("admin")
            && text.contains("webhook"),
        "{text}"
    );

    // incident ack stops it.
    let acked = s.run(&["incident", "ack", "INC-1"]);
    assert!(acked.status.success(), "{}", stderr(&acked));
    assert!(
        stdout(&acked).contains("Acknowledged INC-1"),
        "{}",
        stdout(&acked)
    );
    let after = json_of(&s.run(&["escalation", "list", "--incident", "INC-1", "--json"]));
    assert_eq!(after["items"][0]["status"], "acknowledged", "{after}");
    assert_eq!(after["items"][0]["acknowledged_by"], "admin", "{after}");

    // Neither --incident nor --alert: a usage error that says what to give.
    let usage = s.run(&["escalation", "list"]);
    assert_eq!(usage.status.code(), Some(2));
    assert!(
        stderr(&usage).contains("--incident") && stderr(&usage).contains("--alert"),
        "{}",
        stderr(&usage)
    );

    // oncall --me: the admin is on no schedule; alice is on primary, not on secondary.
    let admin = s.run(&["oncall", "--me"]);
    assert!(admin.status.success(), "{}", stderr(&admin));
    assert!(
        stdout(&admin).contains("admin is not on call now on any schedule"),
        "{}",
        stdout(&admin)
    );
    let alice = post(
        "/tokens",
        serde_json::json!({"name": "alice-laptop", "role": "responder", "user": "alice"}),
    )["token"]
        .as_str()
        .unwrap()
        .to_string();
    let mine = s.run(&["oncall", "--me", "--token", &alice]);
    assert!(mine.status.success(), "{}", stderr(&mine));
    let text = stdout(&mine);
    assert!(
        text.contains("alice is on call now on: primary (layer week)")
            && !text.contains("secondary")
            && text.contains("Shifts of alice"),
        "{text}"
    );
    let then = json_of(&s.run(&[
        "oncall",
        "--me",
        "--at",
        "2026-12-24T20:00:00Z",
        "--token",
        &alice,
        "--json",
    ]));
    assert_eq!(then["user"], "alice", "{then}");
    assert_eq!(then["at"], "2026-12-24T20:00:00Z", "{then}");
    assert_eq!(then["on_call"][0]["schedule"], "primary", "{then}");
    assert_eq!(then["on_call"].as_array().unwrap().len(), 1, "{then}");
    let shifts = then["shifts"].as_array().unwrap();
    assert!(!shifts.is_empty(), "{then}");
    assert!(
        shifts
            .iter()
            .all(|s| s["user"] == "alice" && s["schedule"] == "primary"),
        "{then}"
    );
    let only = s.run(&[
        "oncall",
        "--me",
        "--schedule",
        "secondary",
        "--token",
        &alice,
    ]);
    assert!(
        stdout(&only).contains("alice is not on call now"),
        "{}",
        stdout(&only)
    );
    // Without --me, oncall still answers for every schedule.
    let all = json_of(&s.run(&["oncall", "--json"]));
    assert_eq!(all["items"].as_array().unwrap().len(), 2, "{all}");
    // A token that acts for no user has no "me".
    let robot = post(
        "/tokens",
        serde_json::json!({"name": "ci", "role": "viewer"}),
    )["token"]
        .as_str()
        .unwrap()
        .to_string();
    let nobody = s.run(&["oncall", "--me", "--token", &robot]);
    assert_eq!(nobody.status.code(), Some(2), "{}", stderr(&nobody));
    assert!(
        stderr(&nobody).contains("acts for no user"),
        "{}",
        stderr(&nobody)
    );
}

#[test]
fn the_status_page_from_the_cli() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("firebreak.yaml");
    std::fs::write(
        &config,
        "services:\n  - name: checkout\nstatus_page:\n  title: Example Status\n  components:\n    - {name: Web app}\n    - {name: Checkout API, group: Payments, services: [checkout]}\n",
    )
    .unwrap();
    let s = serve_with(&["--config".as_ref(), config.as_os_str()]);
    let ok = |args: &[&str]| {
        let o = s.run(args);
        assert!(o.status.success(), "{args:?}: {}", stderr(&o));
        stdout(&o)
    };
    ok(&[
        "incident",
        "declare",
        "bob's query OOMed the primary",
        "--severity",
        "SEV2",
        "--service",
        "checkout",
    ]);
    let posted = ok(&[
        "incident",
        "update",
        "INC-1",
        "--public",
        "--template",
        "investigating",
        "--public-title",
        "Slow checkout",
    ]);
    assert!(
        posted.contains("Posted a public update on INC-1 (investigating)"),
        "{posted}"
    );
    assert!(posted.contains("problems with Checkout API"), "{posted}");
    assert!(posted.contains("shows it as \"Slow checkout\""), "{posted}");

    let shown = ok(&["status", "show"]);
    assert!(
        shown.contains("Example Status: Partial System Outage"),
        "{shown}"
    );
    assert!(
        shown.contains("Slow checkout (investigating, impact major)"),
        "{shown}"
    );
    assert!(
        !shown.contains("bob"),
        "the internal title stays internal: {shown}"
    );

    let set = ok(&["component", "set", "web app", "major_outage"]);
    assert!(
        set.contains("Web app now shows MAJOR OUTAGE (set by hand"),
        "{set}"
    );
    let cleared = ok(&["component", "clear", "Web app"]);
    assert!(
        cleared.contains("Web app now shows operational (derived"),
        "{cleared}"
    );
    let bad = s.run(&["component", "set", "Nope", "major_outage"]);
    assert!(!bad.status.success());
    assert!(
        stderr(&bad).contains("Web app, Checkout API"),
        "{}",
        stderr(&bad)
    );

    let internal = ok(&["incident", "update", "INC-1", "--internal", "failing over"]);
    assert!(
        internal.contains("Posted an internal update on INC-1"),
        "{internal}"
    );
    let neither = s.run(&["incident", "update", "INC-1", "text"]);
    assert_eq!(
        neither.status.code(),
        Some(2),
        "--public or --internal is required"
    );

    let scheduled = ok(&[
        "maintenance",
        "schedule",
        "Database upgrade",
        "--component",
        "Checkout API",
        "--start",
        "2030-01-01T02:00:00Z",
        "--end",
        "90m",
    ]);
    assert!(
        scheduled.contains("Scheduled maintenance 1: Database upgrade (scheduled)"),
        "{scheduled}"
    );
    assert!(
        scheduled.contains("2030-01-01T03:30:00Z"),
        "--end 90m counts from --start: {scheduled}"
    );
    let listed = ok(&["maintenance", "list"]);
    assert!(listed.contains("Database upgrade"), "{listed}");
    let cancelled = ok(&["maintenance", "cancel", "1"]);
    assert!(
        cancelled.contains("Maintenance 1 (Database upgrade) ends now"),
        "{cancelled}"
    );

    let kept = ok(&[
        "incident",
        "status",
        "INC-1",
        "resolved",
        "--no-public-update",
    ]);
    assert!(
        kept.contains("The status page still says investigating"),
        "{kept}"
    );
    let json = ok(&["status", "show", "--json"]);
    let v: Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["incidents"][0]["status"], "investigating");
}

#[test]
fn serve_says_when_a_config_file_beside_it_is_not_read() {
    let cwd = tempfile::tempdir().unwrap();
    std::fs::write(
        cwd.path().join("firebreak.yaml"),
        "services: [{name: web}]\n",
    )
    .unwrap();
    let data = tempfile::tempdir().unwrap();
    let mut child = Command::new(BIN)
        .current_dir(cwd.path())
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(data.path())
        .env_remove("FIREBREAK_DATABASE_URL")
        .env_remove("FIREBREAK_CONFIG")
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .expect("firebreak serve starts");
    let lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let mut hint = None;
    let deadline = Instant::now() + Duration::from_secs(60);
    for line in lines {
        let Ok(line) = line else { break };
        if line.contains("firebreak.yaml is in this directory but is not read") {
            hint = Some(line.clone());
        }
        if line.contains("listening on http://") || Instant::now() > deadline {
            break;
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    let hint = hint.expect("serve warns that ./firebreak.yaml is not read");
    assert!(hint.contains("--config firebreak.yaml"), "{hint}");
}
