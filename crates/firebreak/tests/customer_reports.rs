//! Customer reports through the real server, on SQLite and PostgreSQL: reports below the
//! threshold open nothing, reports older than the window do not count, the threshold within the
//! window opens exactly one alert (later reports update it), a high-urgency rule pages like any
//! alert, bad input is a 422 naming its field that records nothing, and a reporter's address
//! is shown to admins only, never in the alert. The status page's "report a problem" form is
//! there only when configured, refuses other sites, drops what fills its honeypot, and is
//! rate-limited per address.

mod common;

use std::sync::Arc;

use common::TestServer;
use firebreak_domain::{Config, Urgency};
use jiff::SignedDuration;
use reqwest::Method;
use serde_json::{Value, json};

async fn sqlite(config: Config) -> TestServer {
    common::spawn_with(config).await
}

async fn postgres(prefix: &str, config: Config) -> TestServer {
    let store = common::postgres_store(prefix).await;
    common::spawn_on(Arc::new(store), config, tempfile::tempdir().unwrap()).await
}

/// A scenario as two tests: on SQLite, and on a fresh PostgreSQL schema named after `prefix`.
macro_rules! on_both_stores {
    ($scenario:ident, $config:expr, $sqlite:ident, $postgres:ident, $prefix:literal) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $sqlite() {
            $scenario(sqlite($config).await).await;
        }

        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $postgres() {
            $scenario(postgres($prefix, $config).await).await;
        }
    };
}

const REPORTS: &str = "/api/v1/reports";
const ADDRESS: &str = "ann@example.com";

async fn admin(s: &TestServer, method: Method, path: &str, body: Value) -> common::Answer {
    s.call(method, path, Some(&s.admin), Some(body)).await
}

/// The service `checkout` and the status page component `Checkout` that stands for it.
async fn setup(s: &TestServer) {
    admin(
        s,
        Method::POST,
        "/api/v1/services",
        json!({"name": "checkout"}),
    )
    .await
    .expect(201);
    admin(
        s,
        Method::POST,
        "/api/v1/status-page/components",
        json!({"name": "Checkout", "services": ["checkout"]}),
    )
    .await
    .expect(201);
}

/// A report as a support tool sends it, with a responder token.
async fn report(s: &TestServer, body: Value) -> common::Answer {
    s.call(Method::POST, REPORTS, Some(&s.responder), Some(body))
        .await
}

async fn reported(s: &TestServer, body: Value) -> Value {
    report(s, body).await.expect(201).clone()
}

/// The customer report alerts, newest first.
async fn report_alerts(s: &TestServer) -> Vec<Value> {
    s.alerts("service=checkout")
        .await
        .into_iter()
        .filter(|a| a["format"] == "customer_report")
        .collect()
}

async fn listed(s: &TestServer, token: &str, query: &str) -> Vec<Value> {
    s.call(Method::GET, &format!("{REPORTS}{query}"), Some(token), None)
        .await
        .expect(200)["items"]
        .as_array()
        .unwrap()
        .clone()
}

fn about_checkout(summary: &str) -> Value {
    json!({"component": "Checkout", "summary": summary, "reporter": ADDRESS})
}

async fn threshold_within_the_window(s: TestServer) {
    setup(&s).await;

    // Two reports: below the default threshold of 3, no alert.
    for (n, summary) in [(1, "can't pay"), (2, "card refused at checkout")] {
        let r = reported(&s, about_checkout(summary)).await;
        assert_eq!(r["count"], n, "{r}");
        assert_eq!(r["threshold"], 3);
        assert_eq!(r["window"], "10m");
        assert_eq!(r["alert"], Value::Null, "{r}");
        assert_eq!(r["report"]["component"], "Checkout");
        assert_eq!(r["report"]["service"], "checkout");
        // The support tool's responder token does not get the address back.
        assert_eq!(r["report"]["reporter"], Value::Null);
        assert_eq!(r["report"]["reporter_given"], true);
        s.clock.advance(SignedDuration::from_mins(1));
    }
    assert!(report_alerts(&s).await.is_empty());

    // Eleven minutes on, those two are outside the window: this one is the first again.
    s.clock.advance(SignedDuration::from_mins(10));
    let r = reported(&s, about_checkout("checkout page blank")).await;
    assert_eq!(r["count"], 1, "{r}");
    assert_eq!(r["alert"], Value::Null);
    // A report about the service alone is counted for the service, not the component.
    let r = reported(
        &s,
        json!({"service": "checkout", "summary": "refunds stuck"}),
    )
    .await;
    assert_eq!(r["count"], 1, "{r}");
    assert_eq!(r["report"]["component"], Value::Null);
    assert_eq!(r["report"]["reporter_given"], false);
    s.clock.advance(SignedDuration::from_mins(2));
    let r = reported(&s, about_checkout("payment spinner forever")).await;
    assert_eq!(r["count"], 2, "{r}");
    assert_eq!(r["alert"], Value::Null);
    assert!(report_alerts(&s).await.is_empty());

    // The third within ten minutes (by the component's id this time) opens one alert.
    let components = s.get("/api/v1/status-page/components").await;
    let id = components.expect(200)["items"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    s.clock.advance(SignedDuration::from_mins(3));
    let r = reported(
        &s,
        json!({"component": id, "summary": "checkout 500s", "reporter": "bo@example.com"}),
    )
    .await;
    assert_eq!(r["count"], 3, "{r}");
    let opened = &r["alert"];
    assert_eq!(opened["result"], "opened", "{r}");
    assert_eq!(opened["dedup_key"], format!("reports/component/{id}"));
    let alert_id = opened["id"].as_i64().unwrap();
    let alerts = report_alerts(&s).await;
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    let alert = &alerts[0];
    assert_eq!(alert["id"], alert_id);
    assert_eq!(alert["status"], "open");
    assert_eq!(alert["urgency"], "low", "the default urgency");
    assert_eq!(
        alert["summary"],
        "3 customer reports about Checkout in 10m: checkout 500s"
    );

    // More reports update that alert; none opens another.
    for n in 4..=5 {
        s.clock.advance(SignedDuration::from_secs(30));
        let r = reported(&s, about_checkout(&format!("report {n}"))).await;
        assert_eq!(r["count"], n, "{r}");
        assert_eq!(r["alert"]["result"], "repeated", "{r}");
        assert_eq!(r["alert"]["id"], alert_id);
    }
    let alerts = report_alerts(&s).await;
    assert_eq!(alerts.len(), 1, "one alert per component: {alerts:?}");
    let shown = s
        .call(
            Method::GET,
            &format!("/api/v1/alerts/{alert_id}"),
            Some(&s.viewer),
            None,
        )
        .await
        .expect(200)
        .clone();
    assert!(
        shown["summary"]
            .as_str()
            .unwrap()
            .starts_with("5 customer reports about Checkout in 10m: report 5"),
        "{shown}"
    );
    // The details count and list the reports within the window, newest first, with no
    // reporter's address.
    let details = &shown["details"];
    assert_eq!(details["count"], 5, "{shown}");
    assert_eq!(details["threshold"], 3);
    let summaries: Vec<&str> = details["reports"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["summary"].as_str().unwrap())
        .collect();
    assert_eq!(
        summaries,
        [
            "report 5",
            "report 4",
            "checkout 500s",
            "payment spinner forever",
            "checkout page blank"
        ]
    );
    let text = shown.to_string();
    assert!(
        !text.contains(ADDRESS) && !text.contains("bo@example.com"),
        "{text}"
    );
    // Low urgency: recorded and shown, nobody paged.
    let escalations = s
        .get(&format!("/api/v1/escalations?alert={alert_id}"))
        .await
        .expect(200)["items"]
        .clone();
    assert_eq!(escalations.as_array().unwrap().len(), 0, "{escalations}");

    // Reporters' addresses: admins see them; responders and viewers see only that one was
    // given.
    let for_admin = listed(&s, &s.admin, "").await;
    assert_eq!(for_admin.len(), 8);
    assert_eq!(for_admin[0]["summary"], "report 5", "newest first");
    assert_eq!(for_admin[0]["reporter"], ADDRESS);
    assert_eq!(for_admin[2]["reporter"], "bo@example.com");
    for token in [&s.responder, &s.viewer] {
        let list = listed(&s, token, "").await;
        assert_eq!(list.len(), 8);
        assert!(list.iter().all(|r| r["reporter"].is_null()));
        assert_eq!(list[0]["reporter_given"], true);
        let text = Value::Array(list).to_string();
        assert!(
            !text.contains(ADDRESS) && !text.contains("bo@example.com"),
            "{text}"
        );
    }
    // Filters: by component (name or id), by service; pages.
    assert_eq!(listed(&s, &s.viewer, "?component=Checkout").await.len(), 7);
    assert_eq!(
        listed(&s, &s.viewer, &format!("?component={id}"))
            .await
            .len(),
        7
    );
    assert_eq!(listed(&s, &s.viewer, "?service=checkout").await.len(), 8);
    assert_eq!(listed(&s, &s.viewer, "?component=Nowhere").await.len(), 0);
    let page = s
        .call(
            Method::GET,
            &format!("{REPORTS}?limit=4"),
            Some(&s.viewer),
            None,
        )
        .await
        .expect(200)
        .clone();
    assert_eq!(page["items"].as_array().unwrap().len(), 4);
    let cursor = page["next_cursor"].as_str().unwrap();
    let rest = listed(&s, &s.viewer, &format!("?limit=4&cursor={cursor}")).await;
    assert_eq!(rest.len(), 4);

    // Once the alert is resolved, reports still within the window open a new one.
    s.call(
        Method::POST,
        &format!("/api/v1/alerts/{alert_id}/resolve"),
        Some(&s.responder),
        None,
    )
    .await
    .expect(200);
    s.clock.advance(SignedDuration::from_mins(20));
    for n in 1..=3 {
        let r = reported(&s, about_checkout("down again")).await;
        assert_eq!(r["count"], n);
    }
    let alerts = report_alerts(&s).await;
    assert_eq!(alerts.len(), 2, "{alerts:?}");
    assert_eq!(
        alerts.iter().filter(|a| a["status"] == "open").count(),
        1,
        "{alerts:?}"
    );
}

fn high_urgency() -> Config {
    let mut config = Config::default();
    config.reports.threshold = 2;
    config.reports.window = SignedDuration::from_mins(5);
    config.reports.urgency = Urgency::High;
    config
}

/// With `urgency: high`, the alert pages through the service's policy like any alert.
async fn high_urgency_pages(s: TestServer) {
    setup(&s).await;
    admin(
        &s,
        Method::POST,
        "/api/v1/users",
        json!({"handle": "alice", "name": "Alice"}),
    )
    .await
    .expect(201);
    admin(
        &s,
        Method::POST,
        "/api/v1/users/alice/contact-methods",
        json!({"type": "webhook", "target": "https://hooks.example.com/alice"}),
    )
    .await
    .expect(201);
    admin(
        &s,
        Method::POST,
        "/api/v1/escalation-policies",
        json!({"name": "ops", "steps": [{"delay": "5m", "targets": [{"user": "alice"}]}]}),
    )
    .await
    .expect(201);
    admin(
        &s,
        Method::PATCH,
        "/api/v1/services/checkout",
        json!({"escalation_policy": "ops"}),
    )
    .await
    .expect(200);

    let r = reported(
        &s,
        json!({"service": "checkout", "summary": "can't log in"}),
    )
    .await;
    assert_eq!(r["alert"], Value::Null);
    s.clock.advance(SignedDuration::from_mins(6));
    // Six minutes later the first is outside the 5m window.
    let r = reported(&s, json!({"service": "checkout", "summary": "login loops"})).await;
    assert_eq!((r["count"].as_u64(), &r["alert"]), (Some(1), &Value::Null));
    let r = reported(&s, json!({"service": "checkout", "summary": "login 502"})).await;
    assert_eq!(r["count"], 2);
    assert_eq!(r["alert"]["result"], "opened", "{r}");
    assert_eq!(r["alert"]["dedup_key"], "reports/service/checkout");
    let alert_id = r["alert"]["id"].as_i64().unwrap();
    let alerts = report_alerts(&s).await;
    assert_eq!(alerts.len(), 1);
    assert_eq!(alerts[0]["urgency"], "high");
    assert_eq!(
        alerts[0]["summary"],
        "2 customer reports about checkout in 5m: login 502"
    );
    let escalations = s
        .get(&format!("/api/v1/escalations?alert={alert_id}"))
        .await
        .expect(200)["items"]
        .clone();
    let escalations = escalations.as_array().unwrap();
    assert_eq!(
        escalations.len(),
        1,
        "it pages through ops: {escalations:?}"
    );
    assert_eq!(escalations[0]["policy"], "ops", "{escalations:?}");
    // A third report updates the alert and starts no second escalation.
    let r = reported(&s, json!({"service": "checkout", "summary": "still"})).await;
    assert_eq!(r["alert"]["result"], "repeated");
    let escalations = s
        .get(&format!("/api/v1/escalations?alert={alert_id}"))
        .await
        .expect(200)["items"]
        .clone();
    assert_eq!(escalations.as_array().unwrap().len(), 1);
}

/// Bad input: a 422 problem naming the field, nothing recorded, and never the address back.
async fn bad_input_changes_nothing(s: TestServer) {
    setup(&s).await;
    admin(
        &s,
        Method::POST,
        "/api/v1/status-page/components",
        json!({"name": "Docs"}),
    )
    .await
    .expect(201);
    let secret = "secret.customer@example.com";
    for (body, field) in [
        (
            json!({"summary": "broken", "reporter": secret}),
            "component",
        ),
        (
            json!({"service": "nowhere", "summary": "broken", "reporter": secret}),
            "service",
        ),
        (
            json!({"component": "Nowhere", "summary": "broken", "reporter": secret}),
            "component",
        ),
        (
            json!({"component": "Docs", "summary": "broken", "reporter": secret}),
            "component",
        ),
        (
            json!({"service": "checkout", "summary": "  \n "}),
            "summary",
        ),
        (
            json!({"service": "checkout", "summary": "\u{7}\u{1b}"}),
            "summary",
        ),
        (json!({"service": "checkout"}), "summary"),
        (
            json!({"service": "checkout", "summary": "x".repeat(2001)}),
            "summary",
        ),
        (
            json!({"service": "checkout", "summary": "broken", "reporter": format!("{secret}\nBcc: x")}),
            "reporter",
        ),
        (
            json!({"service": "checkout", "summary": "broken", "reporter": ""}),
            "reporter",
        ),
        (
            json!({"service": "checkout", "summary": "broken", "reporter": "a".repeat(255)}),
            "reporter",
        ),
        (
            json!({"service": "Check Out", "summary": "broken"}),
            "service",
        ),
        (
            json!({"service": "checkout", "summary": "broken", "priority": "p1"}),
            "priority",
        ),
        (json!({"service": "checkout", "summary": 5}), "summary"),
    ] {
        let a = report(&s, body.clone()).await;
        assert_eq!(a.content_type, "application/problem+json", "{body}");
        let p = a.expect_problem(422);
        let named = p["errors"][0]["field"].as_str().unwrap_or("");
        assert!(
            named == field || p["detail"].as_str().unwrap_or("").contains(field),
            "{body}: {p}"
        );
        assert!(!p.to_string().contains(secret), "{p}");
    }
    // Who may: a viewer may not record, nobody without a token may.
    let body = json!({"service": "checkout", "summary": "broken"});
    s.call(Method::POST, REPORTS, Some(&s.viewer), Some(body.clone()))
        .await
        .expect_problem(403);
    s.call(Method::POST, REPORTS, None, Some(body.clone()))
        .await
        .expect_problem(401);
    s.call(Method::GET, REPORTS, None, None)
        .await
        .expect_problem(401);
    // Nothing was recorded; the metrics reports under /api/v1/reports/ still answer.
    assert!(listed(&s, &s.admin, "").await.is_empty());
    assert!(report_alerts(&s).await.is_empty());
    s.call(
        Method::GET,
        "/api/v1/reports/incidents?from=2026-11-01T00:00:00Z&to=2026-11-23T00:00:00Z",
        Some(&s.viewer),
        None,
    )
    .await
    .expect(200);
    // The status page offers no form unless configured.
    let page = s
        .http
        .get(format!("{}/status", s.base))
        .send()
        .await
        .unwrap();
    assert!(!page.text().await.unwrap().contains("/status/report"));
    let refused = post_form(&s, &[("component", "Checkout"), ("summary", "down")], true).await;
    assert_eq!(refused.0, 404);
    // A list filter that is not a name is refused, naming it.
    let a = s
        .call(
            Method::GET,
            &format!("{REPORTS}?service=Not%20A%20Name"),
            Some(&s.viewer),
            None,
        )
        .await;
    a.expect_problem(422);
}

/// Posts the status page's form as a browser would: from the page itself (`Sec-Fetch-Site:
/// same-origin`) unless `same_origin` is false. Returns the status, `Retry-After` and the page.
async fn post_form(
    s: &TestServer,
    fields: &[(&str, &str)],
    same_origin: bool,
) -> (u16, Option<String>, String) {
    let mut req = s
        .http
        .post(format!("{}/status/report", s.base))
        .form(fields);
    if same_origin {
        req = req.header("sec-fetch-site", "same-origin");
    }
    let res = req.send().await.unwrap();
    let status = res.status().as_u16();
    let retry = res
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().to_string());
    (status, retry, res.text().await.unwrap())
}

fn with_form() -> Config {
    let mut config = Config::default();
    config.reports.threshold = 2;
    config.reports.status_page_form = true;
    config
}

/// The status page's "report a problem" form records customer reports like a support tool's.
async fn status_page_form(s: TestServer) {
    setup(&s).await;
    let page = s
        .http
        .get(format!("{}/status", s.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains(r#"action="/status/report""#), "{page}");
    assert!(
        page.contains(r#"<option value="Checkout">Checkout</option>"#),
        "{page}"
    );
    assert!(
        page.contains(r#"name="website""#),
        "the honeypot field: {page}"
    );
    let good = [
        ("component", "Checkout"),
        ("summary", "The pay button does nothing"),
        ("email", ADDRESS),
        ("website", ""),
    ];

    // From another site (no Sec-Fetch-Site, no Origin): refused, nothing recorded.
    let (status, _, _) = post_form(&s, &good, false).await;
    assert_eq!(status, 403);
    let cross = s
        .http
        .post(format!("{}/status/report", s.base))
        .header("origin", "https://evil.example")
        .header("content-type", "application/x-www-form-urlencoded")
        .body("component=Checkout&summary=x")
        .send()
        .await
        .unwrap();
    assert_eq!(cross.status(), 403);
    // A bot that fills the hidden field is thanked and nothing is recorded.
    let (status, _, body) = post_form(
        &s,
        &[
            ("component", "Checkout"),
            ("summary", "buy now"),
            ("website", "https://spam.example"),
        ],
        true,
    )
    .await;
    assert_eq!(status, 200);
    assert!(body.contains("Thank you"), "{body}");
    // Bad input: a 422 page that names the field and never repeats the address.
    for (fields, says) in [
        (
            vec![
                ("component", "Checkout"),
                ("summary", "   "),
                ("email", ADDRESS),
            ],
            "The description",
        ),
        (
            vec![
                ("component", "Nowhere"),
                ("summary", "down"),
                ("email", ADDRESS),
            ],
            "The component",
        ),
        (
            vec![
                ("component", "Checkout"),
                ("summary", "down"),
                ("email", "ann@example.com\r\nBcc: x"),
            ],
            "The email address",
        ),
    ] {
        let (status, _, body) = post_form(&s, &fields, true).await;
        assert_eq!(status, 422, "{body}");
        assert!(body.contains(says), "{body}");
        assert!(!body.contains(ADDRESS), "{body}");
    }
    assert!(listed(&s, &s.admin, "").await.is_empty());

    // Two reports within the window (threshold 2): the second opens the alert.
    let (status, _, body) = post_form(&s, &good, true).await;
    assert_eq!(status, 200, "{body}");
    assert!(report_alerts(&s).await.is_empty());
    let (status, _, _) = post_form(&s, &good, true).await;
    assert_eq!(status, 200);
    let alerts = report_alerts(&s).await;
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    assert_eq!(
        alerts[0]["summary"],
        "2 customer reports about Checkout in 10m: The pay button does nothing"
    );
    let for_admin = listed(&s, &s.admin, "").await;
    assert_eq!(for_admin.len(), 2);
    assert_eq!(for_admin[0]["recorded_by"], "status-page");
    assert_eq!(for_admin[0]["reporter"], ADDRESS);
    assert!(listed(&s, &s.viewer, "").await[0]["reporter"].is_null());

    // Ten submissions an hour per address, counting the honeypot and the refused ones: six
    // so far, so four more, then 429 with Retry-After, and nothing more recorded.
    for _ in 0..4 {
        assert_eq!(post_form(&s, &good, true).await.0, 200);
    }
    let (status, retry, _) = post_form(&s, &good, true).await;
    assert_eq!(status, 429);
    assert!(retry.unwrap().parse::<u64>().unwrap() >= 1);
    assert_eq!(listed(&s, &s.admin, "").await.len(), 6);
}

on_both_stores!(
    status_page_form,
    with_form(),
    form_on_sqlite,
    form_on_postgres,
    "reports_form"
);
on_both_stores!(
    threshold_within_the_window,
    Config::default(),
    threshold_on_sqlite,
    threshold_on_postgres,
    "reports_threshold"
);
on_both_stores!(
    high_urgency_pages,
    high_urgency(),
    high_urgency_pages_on_sqlite,
    high_urgency_pages_on_postgres,
    "reports_pages"
);
on_both_stores!(
    bad_input_changes_nothing,
    Config::default(),
    bad_input_on_sqlite,
    bad_input_on_postgres,
    "reports_bad_input"
);
