//! The public status page read by real clients, unchanged: aRez's Statuspage client (PyPI)
//! and the `statuspage.io` client (npm) pointed at the page's own listener, feedparser (PyPI)
//! on the Atom and RSS feeds, and Debian's chromium driven by playwright-core (npm) with
//! JavaScript on and off, at desktop and phone width.
//!
//! They need what `.ci/run` installs: Python with `arez` and `feedparser`
//! (`FIREBREAK_TEST_PYTHON`), `/usr/bin/chromium`, and `npm ci` in `tests/browser`. Without
//! them the tests fail and say how to install them: they never skip.

mod common;

use std::process::Command;

use firebreak_domain::config::ComponentSpec;
use firebreak_domain::{Config, Name};
use serde_json::{Value, json};

const MARKUP_TITLE: &str = "Checkout <img src=x onerror=alert(1)>";

fn python_with(modules: &[&str]) -> String {
    let import = format!("import {}", modules.join(", "));
    let candidates = [
        std::env::var("FIREBREAK_TEST_PYTHON").ok(),
        Some("python3".into()),
    ];
    for python in candidates.into_iter().flatten() {
        let ok = Command::new(&python)
            .args(["-c", &import])
            .output()
            .is_ok_and(|o| o.status.success());
        if ok {
            return python;
        }
    }
    panic!(
        "this test needs Python with {modules:?}: run .ci/run, or `python3 -m venv v && \
         v/bin/pip install arez==0.2.4 feedparser==6.0.11` and set FIREBREAK_TEST_PYTHON=v/bin/python"
    );
}

fn config() -> Config {
    let mut config = Config::default();
    for s in ["checkout", "search"] {
        config.services.push(common::service(s));
    }
    let spec = |name: &str, group: Option<&str>, services: &[&str]| ComponentSpec {
        name: name.into(),
        description: None,
        group: group.map(Into::into),
        services: services.iter().map(|s| Name::parse(s).unwrap()).collect(),
    };
    config.status_page.title = "Example Status".into();
    config.status_page.listen = Some("127.0.0.1:0".into());
    config.status_page.components = vec![
        spec("Web app", None, &[]),
        spec("Checkout API", Some("Payments"), &["checkout"]),
        spec("Search", None, &["search"]),
    ];
    config
}

/// A page with one open public incident (with a markup title, two public updates and an
/// internal one), and one resolved.
async fn page() -> (common::TestServer, String) {
    let s = common::spawn_with(config()).await;
    let status_root = format!("http://{}", s.running.status_addr.expect("status listener"));
    let inc = s.declare("internal: bob's query OOMed db-7", "SEV2").await;
    let id = inc["id"].as_str().unwrap().to_string();
    s.patch(
        &format!("/api/v1/incidents/{id}"),
        json!({"services": ["checkout"], "public_title": MARKUP_TITLE}),
    )
    .await
    .expect(200);
    for body in [
        json!({"audience": "public", "template": "investigating"}),
        json!({"audience": "internal", "body": "failing over to the replica db-8"}),
        json!({"audience": "public", "status": "identified", "body": "A database limit slows checkout <b>now</b>."}),
    ] {
        s.post(&format!("/api/v1/incidents/{id}/status-updates"), body)
            .await
            .expect(201);
    }
    let old = s.declare("Search is slow", "SEV3").await;
    let old_id = old["id"].as_str().unwrap().to_string();
    s.patch(
        &format!("/api/v1/incidents/{old_id}"),
        json!({"services": ["search"]}),
    )
    .await
    .expect(200);
    s.post(
        &format!("/api/v1/incidents/{old_id}/status-updates"),
        json!({"audience": "public", "body": "Search results are slow."}),
    )
    .await
    .expect(201);
    s.patch(
        &format!("/api/v1/incidents/{old_id}"),
        json!({"status": "resolved"}),
    )
    .await
    .expect(200);
    // The harness clock stands at 2026-11-23T03:00:00Z.
    s.post(
        "/api/v1/scheduled-maintenances",
        json!({"name": "Search reindex", "starts_at": "2026-11-24T02:00:00Z",
               "ends_at": "2026-11-24T03:00:00Z", "components": ["Search"],
               "body": "Search may return partial results."}),
    )
    .await
    .expect(201);
    (s, status_root)
}

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().expect("the client runs");
    assert!(
        out.status.success(),
        "the client failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn arez_reads_the_page_from_its_own_listener() {
    let python = python_with(&["arez"]);
    let (_s, root) = page().await;
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/clients/statuspage_arez.py"
    );
    let root2 = root.clone();
    let text =
        tokio::task::spawn_blocking(move || run(Command::new(&python).args([script, &root2])))
            .await
            .unwrap();
    let read: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(read["name"], "Example Status");
    assert_eq!(read["description"], "Partial System Outage");
    assert_eq!(read["impact"], "Major");
    assert_eq!(
        read["components"]["Checkout API"]["status"],
        "Partial Outage"
    );
    assert_eq!(read["components"]["Checkout API"]["group"], "Payments");
    assert_eq!(read["components"]["Web app"]["status"], "Operational");
    assert_eq!(
        read["groups"]["Payments"]["components"],
        json!(["Checkout API"])
    );
    let incidents = read["incidents"].as_array().unwrap();
    assert_eq!(incidents.len(), 1, "only the unresolved one: {read}");
    assert_eq!(incidents[0]["name"], MARKUP_TITLE);
    assert_eq!(incidents[0]["status"], "Identified");
    assert_eq!(incidents[0]["impact"], "Major");
    assert_eq!(incidents[0]["components"], json!(["Checkout API"]));
    assert_eq!(incidents[0]["updates"], 2, "public updates only");
    assert_eq!(
        incidents[0]["last_update"],
        "A database limit slows checkout <b>now</b>."
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_statuspage_io_client_reads_components_incidents_and_maintenance() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/browser");
    assert!(
        std::path::Path::new(&format!("{dir}/node_modules/statuspage.io")).exists(),
        "this test needs the statuspage.io client: run `npm ci` in crates/firebreak/tests/browser (.ci/run does)"
    );
    let (_s, root) = page().await;
    let text = tokio::task::spawn_blocking(move || {
        run(Command::new("node")
            .current_dir(dir)
            .args(["statuspage_client.mjs", &root]))
    })
    .await
    .unwrap();
    let read: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(read["indicator"], "major", "{read}");
    assert_eq!(read["description"], "Partial System Outage");
    let components = read["components"].as_array().unwrap();
    assert!(
        components
            .iter()
            .any(|c| c["name"] == "Payments" && c["group"] == true)
    );
    assert!(
        components
            .iter()
            .any(|c| c["name"] == "Checkout API" && c["status"] == "partial_outage")
    );
    assert_eq!(read["unresolved"][0]["name"], MARKUP_TITLE);
    assert_eq!(read["unresolved"][0]["updates"], 2);
    assert_eq!(read["summary_maintenances"], json!(["Search reindex"]));
    let m = &read["upcoming"][0];
    assert_eq!(m["name"], "Search reindex");
    assert_eq!(m["status"], "scheduled");
    assert_eq!(m["impact"], "maintenance");
    assert_eq!(m["scheduled_for"], "2026-11-24T02:00:00.000Z");
    assert_eq!(m["scheduled_until"], "2026-11-24T03:00:00.000Z");
    assert_eq!(m["components"], json!(["Search"]));
    assert_eq!(read["all_maintenances"], 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn feedparser_reads_the_feeds_and_they_hold_only_public_updates() {
    let python = python_with(&["feedparser"]);
    let (_s, root) = page().await;
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/clients/feeds_feedparser.py"
    );
    let (atom, rss) = (
        format!("{root}/history.atom"),
        format!("{root}/history.rss"),
    );
    let text =
        tokio::task::spawn_blocking(move || run(Command::new(&python).args([script, &atom, &rss])))
            .await
            .unwrap();
    let read: Value = serde_json::from_str(&text).unwrap();
    for kind in ["atom", "rss"] {
        let f = &read[kind];
        assert_eq!(f["bozo"], false, "{kind} parses cleanly: {f}");
        assert_eq!(
            f["version"],
            if kind == "atom" { "atom10" } else { "rss20" }
        );
        let entries = f["entries"].as_array().unwrap();
        assert_eq!(entries.len(), 2, "{kind}: {f}");
        let open = entries
            .iter()
            .find(|e| e["title"] == MARKUP_TITLE)
            .expect("the open one");
        let content = open["content"].as_str().unwrap();
        assert!(
            content.contains("<strong>Identified</strong>"),
            "{kind}: {content}"
        );
        assert!(
            content.contains("<strong>Investigating</strong>"),
            "{kind}: {content}"
        );
        assert!(
            content.contains("&lt;b&gt;now&lt;/b&gt;"),
            "{kind}: a body's markup stays text: {content}"
        );
        let resolved = entries
            .iter()
            .find(|e| e["title"] == "Search is slow")
            .unwrap();
        assert!(
            resolved["content"]
                .as_str()
                .unwrap()
                .contains("<strong>Resolved</strong>"),
            "{kind}: {resolved}"
        );
        let all = f.to_string();
        for secret in ["db-7", "db-8", "bob", "replica", "INC-"] {
            assert!(!all.contains(secret), "{kind} shows {secret:?}: {all}");
        }
        assert!(
            open["link"]
                .as_str()
                .unwrap()
                .contains("/status/incidents/"),
            "{kind}: {open}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_in_chromium_with_javascript_on_and_off() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/browser");
    assert!(
        std::path::Path::new("/usr/bin/chromium").exists(),
        "this test needs Debian's chromium at /usr/bin/chromium: apt-get install chromium (.ci/run does)"
    );
    assert!(
        std::path::Path::new(&format!("{dir}/node_modules/playwright-core")).exists(),
        "this test needs playwright-core: run `npm ci` in crates/firebreak/tests/browser (.ci/run does)"
    );
    let (s, root) = page().await;
    let out = format!("{}/status-page-screenshots", env!("CARGO_TARGET_TMPDIR"));
    for url in [format!("{root}/"), format!("{}/status", s.base)] {
        let out = out.clone();
        let text = tokio::task::spawn_blocking(move || {
            run(Command::new("node")
                .current_dir(dir)
                .args(["status_page.mjs", &url, &out]))
        })
        .await
        .unwrap();
        assert!(text.contains("ok: screenshots"), "{text}");
    }
    for shot in [
        "status-desktop-js-on.png",
        "status-desktop-js-off.png",
        "status-phone-js-on.png",
        "status-phone-js-off.png",
    ] {
        let meta = std::fs::metadata(format!("{out}/{shot}")).expect(shot);
        assert!(meta.len() > 10_000, "{shot} looks empty");
    }
}
