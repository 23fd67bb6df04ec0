//! Heartbeats through the real server, on SQLite and PostgreSQL: an admin adds one (its key
//! and ping URL shown once), a ping marks it up, a missed period plus grace on the manual clock
//! opens one alert however often the watcher looks, the next ping resolves it, a failure opens
//! it at once with its reason, an unknown key is a 404 that changes nothing, bad input names
//! its field and adds nothing, and deleting a heartbeat that is down resolves its alert.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::TestServer;
use firebreak_domain::Config;
use jiff::SignedDuration;
use reqwest::Method;
use serde_json::{Value, json};

async fn sqlite() -> TestServer {
    common::spawn_with(Config::default()).await
}

async fn postgres(prefix: &str) -> TestServer {
    let store = common::postgres_store(prefix).await;
    common::spawn_on(
        Arc::new(store),
        Config::default(),
        tempfile::tempdir().unwrap(),
    )
    .await
}

/// A scenario as two tests: on SQLite, and on a fresh PostgreSQL schema named after `prefix`.
macro_rules! on_both_stores {
    ($scenario:ident, $sqlite:ident, $postgres:ident, $prefix:literal) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $sqlite() {
            $scenario(sqlite().await).await;
        }

        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $postgres() {
            $scenario(postgres($prefix).await).await;
        }
    };
}

const HEARTBEATS: &str = "/api/v1/heartbeats";

async fn admin(s: &TestServer, method: Method, path: &str, body: Option<Value>) -> common::Answer {
    s.call(method, path, Some(&s.admin), body).await
}

/// Adds the service `backups` and a heartbeat on it; returns the created body.
async fn add(s: &TestServer, name: &str, period: &str, grace: &str) -> Value {
    admin(
        s,
        Method::POST,
        "/api/v1/services",
        Some(json!({"name": "backups"})),
    )
    .await;
    admin(
        s,
        Method::POST,
        HEARTBEATS,
        Some(json!({"name": name, "service": "backups", "period": period, "grace": grace})),
    )
    .await
    .expect(201)
    .clone()
}

/// A ping, as curl would send it: no token.
async fn ping(s: &TestServer, url: &str) -> common::Answer {
    let path = url.strip_prefix(&s.base).unwrap_or(url);
    s.call(Method::GET, path, None, None).await
}

async fn listed(s: &TestServer) -> Vec<Value> {
    s.call(Method::GET, HEARTBEATS, Some(&s.viewer), None)
        .await
        .expect(200)["items"]
        .as_array()
        .unwrap()
        .clone()
}

/// The heartbeat alerts of `backups`, newest first.
async fn heartbeat_alerts(s: &TestServer) -> Vec<Value> {
    s.alerts("service=backups")
        .await
        .into_iter()
        .filter(|a| a["format"] == "heartbeat")
        .collect()
}

/// Waits (up to 10 s) until the alerts of `backups` satisfy `done`.
async fn wait_for(s: &TestServer, what: &str, done: impl Fn(&[Value]) -> bool) -> Vec<Value> {
    for _ in 0..200 {
        let alerts = heartbeat_alerts(s).await;
        if done(&alerts) {
            return alerts;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{what}: {:?}", heartbeat_alerts(s).await);
}

async fn missed_then_pinged(s: TestServer) {
    // The manual clock starts at 2026-11-23T03:00:00Z.
    let created = add(&s, "nightly-backup", "1h", "5m").await;
    let key = created["key"]
        .as_str()
        .expect("the key is shown once")
        .to_string();
    let url = created["ping_url"].as_str().unwrap().to_string();
    assert!(url.ends_with(&format!("/api/v1/heartbeats/{key}")), "{url}");
    assert_eq!(created["fail_url"], format!("{url}/fail"));
    assert_eq!(created["status"], "new");
    assert_eq!(created["period"], "1h");
    assert_eq!(created["grace"], "5m");
    assert_eq!(created["key_hint"], &key[key.len() - 4..]);
    let id = created["id"].as_i64().unwrap();

    // Listed for anyone, the key never again.
    let list = listed(&s).await;
    assert_eq!(list.len(), 1);
    assert!(list[0].get("key").is_none() && list[0].get("ping_url").is_none());
    assert_eq!(list[0]["status"], "new");

    // A new heartbeat is never late before its first ping.
    s.clock.advance(SignedDuration::from_hours(5));
    assert_eq!(s.running.app.check_heartbeats().await.unwrap(), 0);
    assert!(heartbeat_alerts(&s).await.is_empty());

    // The first ping: up, due in an hour and five minutes. POST counts too, whatever it posts
    // (an Alertmanager notification, here a large one, is not read).
    let pinged = s
        .http
        .post(&url)
        .header("content-type", "application/json")
        .body(format!(
            "{{\"receiver\": \"watchdog\", \"pad\": \"{}\"}}",
            "x".repeat(100_000)
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(pinged.status(), 200);
    let body: Value = pinged.json().await.unwrap();
    assert_eq!(body["status"], "up");
    let up = &listed(&s).await[0];
    assert_eq!(up["status"], "up");
    assert_eq!(up["last_ping"], "2026-11-23T08:00:00Z");
    assert_eq!(up["next_expected_at"], "2026-11-23T09:00:00Z");
    assert_eq!(up["due_at"], "2026-11-23T09:05:00Z");

    // Within the grace: nothing.
    s.clock.advance(SignedDuration::from_mins(64));
    assert_eq!(s.running.app.check_heartbeats().await.unwrap(), 0);
    assert!(heartbeat_alerts(&s).await.is_empty());

    // Past period plus grace: the watcher opens one alert.
    s.clock.advance(SignedDuration::from_mins(2));
    let alerts = wait_for(&s, "the missed heartbeat opens an alert", |a| a.len() == 1).await;
    let alert = &alerts[0];
    assert_eq!(alert["status"], "open");
    assert_eq!(alert["severity"], "critical");
    assert_eq!(alert["integration"], "heartbeats");
    assert_eq!(alert["dedup_key"], format!("heartbeat/{id}"));
    let summary = alert["summary"].as_str().unwrap();
    assert!(
        summary.contains("nightly-backup")
            && summary.contains("2026-11-23T08:00:00Z")
            && summary.contains("period 1h")
            && summary.contains("grace 5m"),
        "{summary}"
    );
    let down = &listed(&s).await[0];
    assert_eq!(down["status"], "down");
    assert_eq!(down["down_since"], "2026-11-23T09:05:00Z");

    // However often the watcher looks, and however late, it is one alert, seen once.
    for _ in 0..3 {
        s.clock.advance(SignedDuration::from_hours(2));
        assert_eq!(s.running.app.check_heartbeats().await.unwrap(), 0);
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let alerts = heartbeat_alerts(&s).await;
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    assert_eq!(alerts[0]["count"], 1);

    // The next ping resolves it.
    assert_eq!(ping(&s, &url).await.expect(200)["status"], "up");
    let alerts = heartbeat_alerts(&s).await;
    assert_eq!(alerts.len(), 1);
    assert_eq!(alerts[0]["status"], "resolved");
    assert_eq!(listed(&s).await[0]["status"], "up");

    // A second miss is a second alert.
    s.clock.advance(SignedDuration::from_hours(2));
    wait_for(&s, "a second miss opens a second alert", |a| {
        a.iter().filter(|x| x["status"] == "open").count() == 1 && a.len() == 2
    })
    .await;
    ping(&s, &url).await.expect(200);
    assert!(
        heartbeat_alerts(&s)
            .await
            .iter()
            .all(|a| a["status"] == "resolved")
    );
}

on_both_stores!(
    missed_then_pinged,
    a_missed_heartbeat_opens_one_alert_and_a_ping_resolves_it_sqlite,
    a_missed_heartbeat_opens_one_alert_and_a_ping_resolves_it_postgres,
    "hb_missed"
);

async fn failures_and_bad_input(s: TestServer) {
    let created = add(&s, "db-dump", "1d", "30m").await;
    let url = created["ping_url"].as_str().unwrap().to_string();
    let id = created["id"].as_i64().unwrap();

    // A failure opens the alert at once, with the body as its reason (control characters
    // gone, cut to 1,000 characters).
    let failed = s
        .http
        .post(format!("{url}/fail"))
        .body(format!("pg_dump: disk full\u{1b}[31m {}", "x".repeat(3000)))
        .send()
        .await
        .unwrap();
    assert_eq!(failed.status(), 200);
    let alerts = heartbeat_alerts(&s).await;
    assert_eq!(alerts.len(), 1);
    assert_eq!(alerts[0]["status"], "open");
    assert!(
        alerts[0]["summary"]
            .as_str()
            .unwrap()
            .starts_with("Heartbeat db-dump failed: pg_dump: disk full [31m xxx"),
        "{}",
        alerts[0]["summary"]
    );
    let down = &listed(&s).await[0];
    assert_eq!(down["status"], "down");
    assert_eq!(down["reason"].as_str().unwrap().chars().count(), 1000);
    // A failure by GET, with no body, keeps the alert open as one.
    ping(&s, &format!("{url}/fail")).await.expect(200);
    let alerts = heartbeat_alerts(&s).await;
    assert_eq!(alerts.len(), 1);
    assert_eq!(alerts[0]["status"], "open");
    ping(&s, &url).await.expect(200);
    assert_eq!(heartbeat_alerts(&s).await[0]["status"], "resolved");
    // A body over 16 KiB (a cron job's whole log) is cut, not refused: the failure counts.
    let big = s
        .http
        .post(format!("{url}/fail"))
        .body(vec![b'x'; 100 * 1024])
        .send()
        .await
        .unwrap();
    assert_eq!(big.status(), 200);
    let down = &listed(&s).await[0];
    assert_eq!(down["status"], "down", "{down}");
    assert_eq!(down["reason"].as_str().unwrap().chars().count(), 1000);
    ping(&s, &url).await.expect(200);
    assert_eq!(listed(&s).await[0]["status"], "up");

    // Unknown keys: 404 problem+json, nothing changes.
    let before = listed(&s).await;
    for path in [
        "/api/v1/heartbeats/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        "/api/v1/heartbeats/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA/fail",
        "/api/v1/heartbeats/short",
        "/api/v1/heartbeats/1",
    ] {
        s.call(Method::GET, path, None, None)
            .await
            .expect_problem(404);
        s.call(Method::POST, path, None, None)
            .await
            .expect_problem(404);
    }
    assert_eq!(listed(&s).await, before);

    // Bad input names its field and adds nothing.
    for (body, field) in [
        (
            json!({"name": "x", "service": "backups", "period": "30s"}),
            "period",
        ),
        (
            json!({"name": "x", "service": "backups", "period": "367d"}),
            "period",
        ),
        (
            json!({"name": "x", "service": "backups", "period": "soon"}),
            "period",
        ),
        (
            json!({"name": "x", "service": "backups", "period": "1h", "grace": "-5m"}),
            "grace",
        ),
        (
            json!({"name": "x", "service": "nowhere", "period": "1h"}),
            "service",
        ),
        (
            json!({"name": "", "service": "backups", "period": "1h"}),
            "name",
        ),
        (json!({"name": "x", "service": "backups"}), "period"),
        (
            json!({"name": "x", "service": "backups", "period": "1h", "extra": 1}),
            "extra",
        ),
    ] {
        let a = admin(&s, Method::POST, HEARTBEATS, Some(body.clone())).await;
        let p = a.expect_problem(422);
        let named = p["errors"][0]["field"].as_str().unwrap_or("");
        assert!(
            named == field || p["detail"].as_str().unwrap().contains(field),
            "{body}: {p}"
        );
    }
    // A taken name is a conflict.
    admin(
        &s,
        Method::POST,
        HEARTBEATS,
        Some(json!({"name": "db-dump", "service": "backups", "period": "1h"})),
    )
    .await
    .expect_problem(409);
    assert_eq!(listed(&s).await, before);

    // Only admins add and delete; everyone lists.
    s.post(
        HEARTBEATS,
        json!({"name": "y", "service": "backups", "period": "1h"}),
    )
    .await
    .expect_problem(403);
    s.call(
        Method::DELETE,
        &format!("{HEARTBEATS}/{id}"),
        Some(&s.responder),
        None,
    )
    .await
    .expect_problem(403);

    // Deleting one that is down resolves its alert; its key no longer pings.
    ping(&s, &format!("{url}/fail")).await.expect(200);
    assert_eq!(heartbeat_alerts(&s).await[0]["status"], "open");
    admin(&s, Method::DELETE, &format!("{HEARTBEATS}/{id}"), None)
        .await
        .expect(204);
    assert!(
        heartbeat_alerts(&s)
            .await
            .iter()
            .all(|a| a["status"] == "resolved")
    );
    assert!(listed(&s).await.is_empty());
    ping(&s, &url).await.expect_problem(404);
    admin(&s, Method::DELETE, &format!("{HEARTBEATS}/{id}"), None)
        .await
        .expect_problem(404);
    admin(&s, Method::DELETE, &format!("{HEARTBEATS}/x"), None)
        .await
        .expect_problem(404);

    // DELETE also takes the key, as the ping URL holds it.
    let other = add(&s, "watchdog", "5m", "5m").await;
    let key = other["key"].as_str().unwrap();
    admin(&s, Method::DELETE, &format!("{HEARTBEATS}/{key}"), None)
        .await
        .expect(204);
    let gone = admin(&s, Method::DELETE, &format!("{HEARTBEATS}/{key}"), None).await;
    let p = gone.expect_problem(404);
    assert!(
        !p.to_string().contains(key),
        "the key is never repeated back: {p}"
    );
}

on_both_stores!(
    failures_and_bad_input,
    a_failure_opens_the_alert_at_once_and_bad_input_changes_nothing_sqlite,
    a_failure_opens_the_alert_at_once_and_bad_input_changes_nothing_postgres,
    "hb_fail"
);
