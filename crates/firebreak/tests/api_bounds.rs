//! Bad input gets a clear 422 naming the field and changes nothing, on both stores alike: text
//! with a NUL character anywhere, and instants outside the years 2000 to 2200 (property tests
//! over the whole range a timestamp can hold). No input gives a 5xx.

mod common;

use std::sync::Arc;

use firebreak_domain::Config;
use proptest::prelude::*;
use reqwest::Method;
use serde_json::{Value, json};

fn url() -> String {
    std::env::var("FIREBREAK_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into())
}

async fn on_postgres() -> common::TestServer {
    let schema = format!(
        "bounds_{}_{}",
        std::process::id(),
        jiff::Timestamp::now().as_nanosecond() % 1_000_000_000
    );
    let store = firebreak_store_postgres::PostgresStore::connect_with_schema(&url(), &schema)
        .await
        .unwrap_or_else(|e| panic!("PostgreSQL is required for this test ({}): {e}", url()));
    store.migrate().await.expect("migrations run");
    common::spawn_on(
        Arc::new(store),
        Config::default(),
        tempfile::tempdir().unwrap(),
    )
    .await
}

/// Every write that takes text, each with a NUL character in one field.
fn nul_bodies() -> Vec<(Method, &'static str, Value, &'static str)> {
    vec![
        (
            Method::POST,
            "/api/v1/incidents",
            json!({"title": "down\u{0}", "severity": "SEV3"}),
            "title",
        ),
        (
            Method::POST,
            "/api/v1/incidents",
            json!({"title": "t", "severity": "SEV3", "services": ["a\u{0}"]}),
            "services[0]",
        ),
        (
            Method::POST,
            "/api/v1/incidents/INC-1/notes",
            json!({"body": "x\u{0}y"}),
            "body",
        ),
        (
            Method::PATCH,
            "/api/v1/incidents/INC-1",
            json!({"summary": "\u{0}"}),
            "summary",
        ),
        (
            Method::POST,
            "/api/v1/services",
            json!({"name": "svc", "description": "d\u{0}"}),
            "description",
        ),
        (
            Method::POST,
            "/api/v1/users",
            json!({"handle": "u1", "name": "N\u{0}"}),
            "name",
        ),
        (
            Method::POST,
            "/api/v1/silences",
            json!({"matchers": ["a=\"b\""], "duration": "1h", "comment": "c\u{0}"}),
            "comment",
        ),
        (
            Method::POST,
            "/api/v1/tokens",
            json!({"name": "t\u{0}", "role": "viewer"}),
            "name",
        ),
        (
            Method::POST,
            "/api/v1/webhooks",
            json!({"url": "https://hooks.example.com/\u{0}", "events": ["incident.declared"]}),
            "url",
        ),
        (
            Method::POST,
            "/api/v1/deployments",
            json!({"service": "svc", "version": "v1", "summary": {"k\u{0}": 1}}),
            "summary.k\\u0000",
        ),
    ]
}

async fn nul_is_refused_and_changes_nothing(s: &common::TestServer) {
    s.declare("base", "SEV3").await;
    let before = s.get("/api/v1/incidents/INC-1/timeline").await;
    let before = before.expect(200)["items"].as_array().unwrap().len();
    for (method, path, body, field) in nul_bodies() {
        let a = s
            .call(method.clone(), path, Some(&s.admin), Some(body))
            .await;
        assert_eq!(a.status, 422, "{method} {path}: {}", a.body);
        assert_eq!(a.content_type, "application/problem+json");
        assert_eq!(a.body["errors"][0]["field"], field, "{method} {path}");
    }
    let after = s.get("/api/v1/incidents/INC-1/timeline").await;
    assert_eq!(after.expect(200)["items"].as_array().unwrap().len(), before);
    let incidents = s.get("/api/v1/incidents").await;
    assert_eq!(incidents.expect(200)["items"].as_array().unwrap().len(), 1);
    // Query filters too.
    let a = s.get("/api/v1/incidents?severity=SEV%00").await;
    assert_eq!(a.status, 422, "{}", a.body);
    assert_eq!(a.body["errors"][0]["field"], "severity");
}

#[tokio::test]
async fn nul_text_is_refused_naming_the_field_on_sqlite() {
    nul_is_refused_and_changes_nothing(&common::spawn().await).await;
}

#[tokio::test]
async fn nul_text_is_refused_naming_the_field_on_postgres() {
    nul_is_refused_and_changes_nothing(&on_postgres().await).await;
}

/// What a sender's NUL becomes in stored text: U+FFFD, the replacement character.
const FFFD: &str = "\u{FFFD}";

/// Senders are never refused for a NUL: in every field that reaches the database (Opsgenie's
/// alias, entity, source and tags, PagerDuty's dedup key and source, Alertmanager's and
/// Grafana's fingerprints and labels, the generic dedup key), it becomes U+FFFD, and the alert
/// is stored the same way on both stores. The Opsgenie request status keeps the alias too.
async fn sender_nul_is_replaced(s: &common::TestServer) {
    let key = s.integration("checkout", "everything").await;
    let genie = format!("GenieKey {key}");
    let nul = |text: &str| text.replace('!', "\u{0}");
    let kept = |text: &str| text.replace('!', FFFD);

    let create = json!({"message": nul("m!"), "alias": nul("x!y"), "entity": nul("e!"),
        "source": nul("s!"), "tags": [nul("t!")], "user": nul("u!"), "note": nul("n!")});
    let a = s
        .send(
            "/v2/alerts",
            serde_json::to_vec(&create).unwrap(),
            &[("authorization", &genie)],
        )
        .await;
    assert_eq!(a.status, 202, "{}", a.body);
    let request = a.body["requestId"].as_str().unwrap().to_string();
    let status = s
        .http
        .get(format!("{}/v2/alerts/requests/{request}", s.base))
        .header("authorization", &genie)
        .send()
        .await
        .unwrap();
    assert_eq!(status.status(), 200);
    let status: Value = status.json().await.unwrap();
    assert_eq!(status["data"]["alias"], kept("x!y"), "{status}");
    assert_eq!(status["data"]["success"], true, "{status}");
    // The alias as stored names the alert for an acknowledge.
    let ack = s
        .send(
            "/v2/alerts/x%EF%BF%BDy/acknowledge?identifierType=alias",
            serde_json::to_vec(&json!({"user": nul("u!"), "source": nul("s!")})).unwrap(),
            &[("authorization", &genie)],
        )
        .await;
    assert_eq!(ack.status, 202, "{}", ack.body);

    let pd = json!({"routing_key": key, "event_action": "trigger", "dedup_key": nul("pd!"),
        "payload": {"summary": nul("p!"), "source": nul("db!"), "severity": "critical",
            "component": nul("c!"), "custom_details": {nul("k!"): nul("v!")}}});
    let a = s.send_json("/v2/enqueue", &pd).await;
    assert_eq!(a.status, 202, "{}", a.body);
    assert_eq!(a.body["dedup_key"], kept("pd!"));

    let fixture =
        |name: &str| -> Value { serde_json::from_str(&common::fixture(name, &key)).unwrap() };
    let mut am = fixture("alertmanager-webhook-v4.json");
    am["groupKey"] = json!(nul("g!"));
    am["receiver"] = json!(nul("r!"));
    am["alerts"][0]["fingerprint"] = json!(nul("am!"));
    am["alerts"][0]["labels"]["instance"] = json!(nul("i!"));
    let mut grafana = fixture("grafana-webhook.json");
    grafana["alerts"][0]["fingerprint"] = json!(nul("gf!"));
    grafana["title"] = json!(nul("title!"));
    let generic = json!({"dedup_key": nul("gen!"), "summary": nul("s!"), "source": nul("src!"),
        "labels": {nul("l!"): nul("v!")}});
    for (format, body) in [
        ("alertmanager", am),
        ("grafana", grafana),
        ("generic", generic),
    ] {
        let a = s
            .send_json(&format!("/api/v1/ingest/{format}/{key}"), &body)
            .await;
        assert_eq!(a.status, 202, "{format}: {}", a.body);
    }

    let alerts = s.alerts("").await;
    for dedup in ["x!y", "pd!", "am!", "gf!", "gen!"] {
        let found = alerts.iter().find(|a| a["dedup_key"] == kept(dedup));
        assert!(
            found.is_some(),
            "{dedup} stored as {}: {alerts:?}",
            kept(dedup)
        );
    }
    let og = alerts
        .iter()
        .find(|a| a["dedup_key"] == kept("x!y"))
        .unwrap();
    assert_eq!(og["status"], "acknowledged", "{og}");
    assert!(!serde_json::to_string(&alerts).unwrap().contains("\\u0000"));
}

#[tokio::test]
async fn sender_nul_is_replaced_alike_on_sqlite() {
    sender_nul_is_replaced(&common::spawn().await).await;
}

#[tokio::test]
async fn sender_nul_is_replaced_alike_on_postgres() {
    sender_nul_is_replaced(&on_postgres().await).await;
}

/// The instant fields the API takes, each in a body that is otherwise valid.
fn with_instant(field: &str, at: &str) -> (Method, &'static str, Value) {
    match field {
        "detected_at" => (
            Method::POST,
            "/api/v1/incidents",
            json!({"title": "t", "severity": "SEV3", "detected_at": at}),
        ),
        "starts_at" => (
            Method::POST,
            "/api/v1/silences",
            json!({"matchers": ["a=\"b\""], "starts_at": at, "duration": "1h", "comment": "c"}),
        ),
        "ends_at" => (
            Method::POST,
            "/api/v1/silences",
            json!({"matchers": ["a=\"b\""], "ends_at": at, "comment": "c"}),
        ),
        "at" => (
            Method::POST,
            "/api/v1/deployments",
            json!({"service": "svc", "version": "v1", "at": at}),
        ),
        _ => (
            Method::POST,
            "/api/v1/tokens",
            json!({"name": "t", "role": "viewer", "expires_at": at}),
        ),
    }
}

const FIELDS: [&str; 5] = ["detected_at", "starts_at", "ends_at", "at", "expires_at"];

/// An instant anywhere a timestamp can be written.
fn any_instant() -> impl Strategy<Value = jiff::Timestamp> {
    (jiff::Timestamp::MIN.as_second()..=jiff::Timestamp::MAX.as_second())
        .prop_map(|s| jiff::Timestamp::from_second(s).unwrap())
}

fn in_range(t: jiff::Timestamp) -> bool {
    firebreak_ingest::in_accepted_range(t)
}

async fn check_instant(s: &common::TestServer, field: &str, t: jiff::Timestamp) {
    let (method, path, body) = with_instant(field, &t.to_string());
    let a = s
        .call(method.clone(), path, Some(&s.admin), Some(body))
        .await;
    assert!(
        a.status.as_u16() < 500,
        "{field}={t}: {} {}",
        a.status,
        a.body
    );
    if !in_range(t) {
        assert_eq!(
            a.status, 422,
            "{field}={t} is outside 2000..2200: {}",
            a.body
        );
        assert_eq!(
            a.body["errors"][0]["field"], field,
            "{field}={t}: {}",
            a.body
        );
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

#[test]
fn every_instant_field_refuses_years_outside_2000_to_2200_and_never_fails() {
    let rt = runtime();
    let s = rt.block_on(async {
        let s = common::spawn().await;
        s.call(
            Method::POST,
            "/api/v1/services",
            Some(&s.admin),
            Some(json!({"name": "svc"})),
        )
        .await
        .expect(201);
        s
    });
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig::with_cases(96));
    runner
        .run(&(0..FIELDS.len(), any_instant()), |(f, t)| {
            rt.block_on(check_instant(&s, FIELDS[f], t));
            Ok(())
        })
        .unwrap();
    // The edges, exactly.
    rt.block_on(async {
        for field in FIELDS {
            for t in [
                "1999-12-31T23:59:59Z",
                "2201-01-01T00:00:00Z",
                "9999-12-31T23:59:59Z",
                "0001-01-01T00:00:00Z",
                "-009999-01-01T00:00:00Z",
            ] {
                let (method, path, body) = with_instant(field, t);
                let a = s.call(method, path, Some(&s.admin), Some(body)).await;
                assert_eq!(a.status, 422, "{field}={t}: {}", a.body);
                assert_eq!(a.body["errors"][0]["field"], field);
            }
        }
        // Nothing that was refused broke a list.
        s.get("/api/v1/incidents").await.expect(200);
        s.get("/api/v1/silences").await.expect(200);
        s.get("/api/v1/deployments").await.expect(200);
    });
}

#[test]
fn instants_are_bounded_alike_on_postgres() {
    let rt = runtime();
    let s = rt.block_on(async {
        let s = on_postgres().await;
        s.call(
            Method::POST,
            "/api/v1/services",
            Some(&s.admin),
            Some(json!({"name": "svc"})),
        )
        .await
        .expect(201);
        s
    });
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig::with_cases(32));
    runner
        .run(&(0..FIELDS.len(), any_instant()), |(f, t)| {
            rt.block_on(check_instant(&s, FIELDS[f], t));
            Ok(())
        })
        .unwrap();
    rt.block_on(async {
        s.get("/api/v1/incidents").await.expect(200);
        s.get("/api/v1/silences").await.expect(200);
    });
}
