//! The web pages in a real browser: Debian's chromium driven by playwright-core
//! (`tests/browser/web.mjs`), against the real `firebreak` binary started the way the README
//! starts it. Runs every flow at desktop width and again at phone width (375 px), checks the
//! pages with axe-core, and keeps the screenshots (`$FIREBREAK_SCREENSHOTS`, else the target
//! directory) for people to look at.

mod support_receiver;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support_receiver::{Receiver, Reply};

const BIN: &str = env!("CARGO_BIN_EXE_firebreak");
const PASSWORD: &str = "correct horse battery";

const CONFIG: &str = r#"
users:
  - {handle: alice, name: Alice Example, email: alice@example.com}
  - {handle: bob, name: Bob Example}
schedules:
  - name: primary
    time_zone: Europe/Berlin
    layers:
      - name: week
        members: [alice, bob]
        rotation: {every: 1d, start: "2026-03-23T09:00"}
escalation_policies:
  - name: payments-oncall
    steps:
      - {delay: 5m, targets: [{user: alice}]}
services:
  - {name: checkout}
  - {name: payments, escalation_policy: payments-oncall}
runbooks:
  - name: checkout-errors
    services: [checkout]
    body: Check the error rate, then roll back.
    actions:
      - name: restart
        description: Restart checkout in a namespace
        kind: command
        run: [echo, "restarting checkout in {namespace}"]
        params: {namespace: "[a-z0-9-]{1,63}"}
        approval: true
status_page:
  title: Example Status
  components:
    - {name: Checkout API, services: [checkout]}
"#;

/// A `firebreak serve` process on a free port, with what it printed at start.
struct Served {
    child: Child,
    base: String,
    setup: String,
    token: String,
    _dir: tempfile::TempDir,
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn serve() -> Served {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("firebreak.yaml");
    std::fs::write(&config, CONFIG).unwrap();
    let mut child = Command::new(BIN)
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir.path().join("data"))
        .arg("--config")
        .arg(&config)
        .env_remove("FIREBREAK_SERVER")
        // Pages reach the test's receiver on this machine.
        .env("FIREBREAK_OUTBOUND_ALLOW", "127.0.0.0/8")
        .env("RUST_LOG", "warn,firebreak=info")
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .expect("firebreak serve starts");
    let stderr = child.stderr.take().unwrap();
    let mut lines = BufReader::new(stderr).lines();
    let (mut base, mut setup, mut token) = (None, None, None);
    let deadline = Instant::now() + Duration::from_secs(30);
    while base.is_none() && Instant::now() < deadline {
        let Some(Ok(line)) = lines.next() else { break };
        if let Some(at) = line.find("/invite/fbi_") {
            let start = line[..at].rfind("http").unwrap();
            setup = Some(line[start..].trim().to_string());
        }
        if let Some(t) = line.split_whitespace().find(|w| w.starts_with("fbt_")) {
            token = Some(t.to_string());
        }
        if let Some(at) = line.find("listening on http://") {
            let rest = &line[at + "listening on ".len()..];
            base = Some(rest.split_whitespace().next().unwrap().to_string());
        }
    }
    // Keep draining the log so the server never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    Served {
        child,
        base: base.expect("the server says where it listens"),
        setup: setup.expect("a new server prints the first admin's setup link"),
        token: token.expect("a new server prints the admin token"),
        _dir: dir,
    }
}

async fn api(s: &Served, method: reqwest::Method, path: &str, body: Value) -> Value {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let res = reqwest::Client::new()
        .request(method, format!("{}{path}", s.base))
        .bearer_auth(&s.token)
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = res.status();
    let text = res.text().await.unwrap();
    assert!(status.is_success(), "{path}: {status} {text}");
    serde_json::from_str(&text).unwrap_or(Value::Null)
}

/// What the browser script is given: invitation links for the second browser (bob, from the
/// file) and the viewer (val, added through the API), and, as JSON, what its API calls need.
struct Prepared {
    bob_invite: String,
    val_invite: String,
    /// `{"admin": token, "bob": bob's responder token, "payments": the payments service's
    /// PagerDuty routing key, "checkout": checkout's generic integration key}`.
    api: String,
}

/// The users and their invitations, alice's webhook contact method at `rx` (so an alert on
/// `payments` pages her), a token for bob, and an alert whose summary tries to run script.
async fn prepare(s: &Served, rx: &Receiver) -> Prepared {
    use reqwest::Method;
    api(
        s,
        Method::POST,
        "/api/v1/users",
        json!({"handle": "val", "name": "Val", "role": "viewer"}),
    )
    .await;
    let mut links = Vec::new();
    for handle in ["bob", "val"] {
        let made = api(
            s,
            Method::POST,
            &format!("/api/v1/users/{handle}/invitations"),
            json!({}),
        )
        .await;
        let url = made["url"].as_str().unwrap();
        // The links name the configured public URL; the test reaches the server where it listens.
        links.push(format!(
            "{}{}",
            s.base,
            &url[url.find("/invite/").unwrap()..]
        ));
    }
    // A webhook subscription, for its delivery log page.
    api(
        s,
        Method::POST,
        "/api/v1/webhooks",
        json!({"url": "https://hooks.example.com/firebreak", "events": ["incident.declared"]}),
    )
    .await;
    let made = api(
        s,
        Method::POST,
        "/api/v1/services/checkout/integrations",
        json!({"name": "prometheus"}),
    )
    .await;
    let key = made["key"].as_str().unwrap().to_string();
    let checkout = key.clone();
    api(
        s,
        Method::POST,
        &format!("/api/v1/ingest/generic/{key}"),
        json!({
            "summary": "Disk full <img src=x onerror=alert(1)><script>alert(2)</script> \u{202e}gnp.exe",
            "dedup_key": "disk-full",
            "labels": {"alertname": "DiskFull", "instance": "db-1"},
        }),
    )
    .await;
    api(
        s,
        Method::POST,
        "/api/v1/users/alice/contact-methods",
        json!({"type": "webhook", "target": format!("{}/alice", rx.url)}),
    )
    .await;
    let payments = api(
        s,
        Method::POST,
        "/api/v1/services/payments/integrations",
        json!({"name": "pagerduty"}),
    )
    .await;
    let bob = api(
        s,
        Method::POST,
        "/api/v1/tokens",
        json!({"name": "bob-laptop", "role": "responder", "user": "bob"}),
    )
    .await;
    Prepared {
        bob_invite: links.remove(0),
        val_invite: links.remove(0),
        api: json!({
            "admin": s.token,
            "bob": bob["token"],
            "payments": payments["key"],
            "checkout": checkout,
        })
        .to_string(),
    }
}

fn run_browser(s: &Served, p: &Prepared, width: &str, shots: &str) -> String {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/browser");
    let out = Command::new("node")
        .current_dir(dir)
        .args([
            "web.mjs",
            &s.base,
            &s.setup,
            width,
            shots,
            PASSWORD,
            &p.bob_invite,
            &p.val_invite,
            &p.api,
        ])
        .output()
        .expect("node runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success(),
        "the browser flows failed at width {width}:\n{text}"
    );
    text
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_flow_works_in_chromium_at_desktop_and_phone_width() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/browser");
    assert!(
        std::path::Path::new("/usr/bin/chromium").exists(),
        "this test needs Debian's chromium at /usr/bin/chromium: apt-get install chromium (.ci/run does)"
    );
    for package in ["playwright-core", "axe-core"] {
        assert!(
            std::path::Path::new(&format!("{dir}/node_modules/{package}")).exists(),
            "this test needs {package}: run `npm ci` in crates/firebreak/tests/browser (.ci/run does)"
        );
    }
    let root = std::env::var("FIREBREAK_SCREENSHOTS")
        .unwrap_or_else(|_| format!("{}/web-screenshots", env!("CARGO_TARGET_TMPDIR")));
    for (width, name) in [("1280", "desktop"), ("375", "phone")] {
        let s = serve();
        let rx = Receiver::start(Reply::OK).await;
        let prepared = prepare(&s, &rx).await;
        let shots = format!("{root}/{name}");
        std::fs::create_dir_all(&shots).unwrap();
        let text = tokio::task::block_in_place(|| run_browser(&s, &prepared, width, &shots));
        eprintln!("{name}:\n{text}");
        assert!(text.contains("ok: every flow"), "{text}");
        // The alert the script raised on payments paged alice through her webhook.
        let pages: Vec<_> = rx
            .received()
            .into_iter()
            .filter(|r| r.kind() == "page" && r.json()["user"] == "alice")
            .collect();
        assert!(!pages.is_empty(), "alice's webhook got no page");
        let pngs = std::fs::read_dir(&shots)
            .unwrap()
            .filter(|e| {
                e.as_ref()
                    .unwrap()
                    .path()
                    .extension()
                    .is_some_and(|x| x == "png")
            })
            .count();
        assert!(pngs >= 12, "{pngs} screenshots in {shots}");
    }
    eprintln!("screenshots: {root}");
}
