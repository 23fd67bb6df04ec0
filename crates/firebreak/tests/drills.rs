//! Drill mode through the real server and a real SMTP server (aiosmtpd): a PagerDuty event sent
//! with `?drill=true` declares a drill incident whose page says `[DRILL]` in its subject and
//! text; its public update emails no subscriber and shows nowhere on the public status page;
//! and a real alert with the same dedup key is a different alert in a different (real)
//! incident, whose public update does reach the subscriber.

mod common;
mod support_smtp;

use std::time::Duration;

use firebreak_domain::config::ComponentSpec;
use firebreak_domain::rules::{DeclareRule, Grouping};
use firebreak_domain::{Config, Matcher, Name};
use reqwest::Method;
use serde_json::{Value, json};
use support_smtp::SmtpSink;

const SOON: Duration = Duration::from_secs(10);

fn config(smtp: &SmtpSink) -> Config {
    let mut config = Config::default();
    config.email.smtp_url = Some(smtp.url());
    config.email.from = Some("Firebreak <firebreak@example.com>".into());
    let mut checkout = common::service("checkout");
    checkout.grouping = Grouping {
        window: None,
        declare: vec![DeclareRule {
            matchers: vec![Matcher::parse("severity=\"critical\"").unwrap()],
            severity: "SEV2".into(),
            title: Some("Checkout: {summary}".into()),
        }],
    };
    config.services.push(checkout);
    config.status_page.title = "Example Status".into();
    config.status_page.components = vec![ComponentSpec {
        name: "Checkout API".into(),
        description: None,
        group: None,
        services: vec![Name::parse("checkout").unwrap()],
    }];
    config
}

fn link(raw: &str, part: &str) -> String {
    let text = raw
        .replace("=\r\n", "")
        .replace("=\n", "")
        .replace("=3D", "=");
    let at = text
        .find(part)
        .unwrap_or_else(|| panic!("no {part} in {text}"));
    let start = text[..at].rfind("http").unwrap();
    text[start..]
        .chars()
        .take_while(|c| !c.is_whitespace() && !matches!(c, '"' | '<' | '>'))
        .collect()
}

async fn trigger(s: &common::TestServer, key: &str, query: &str, summary: &str) -> Value {
    let sent = s
        .send_json(
            &format!("/v2/enqueue{query}"),
            &json!({"routing_key": key, "event_action": "trigger", "dedup_key": "co-5xx",
                    "payload": {"summary": summary, "source": "web-1", "severity": "critical"}}),
        )
        .await;
    assert_eq!(sent.status, 202, "{}", sent.body);
    sent.body.clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drills_page_with_a_marker_and_stay_off_the_status_page() {
    let smtp = SmtpSink::start();
    let s = common::spawn_with(config(&smtp)).await;
    let admin = |m: Method, p: String, b: Value| {
        let s = &s;
        async move { s.call(m, &p, Some(&s.admin), Some(b)).await }
    };

    // A confirmed subscriber of the status page.
    let form = s
        .http
        .post(format!("{}/status/subscribe", s.base))
        .header("content-type", "application/x-www-form-urlencoded")
        .header("origin", &s.base)
        .body("email=ann%40example.com&website=")
        .send()
        .await
        .unwrap();
    assert_eq!(form.status(), 200);
    let confirm_mail = smtp.wait_for(1, SOON).await.remove(0);
    let confirm = link(&confirm_mail, "/subscribe/confirm/");
    assert!(
        s.http
            .post(&confirm)
            .send()
            .await
            .unwrap()
            .status()
            .is_success()
    );

    // Alice is paged by email through the checkout's policy.
    admin(
        Method::POST,
        "/api/v1/users".into(),
        json!({"handle": "alice", "name": "Alice"}),
    )
    .await
    .expect(201);
    admin(
        Method::POST,
        "/api/v1/users/alice/contact-methods".into(),
        json!({"type": "email", "target": "alice@example.com"}),
    )
    .await
    .expect(201);
    admin(
        Method::POST,
        "/api/v1/escalation-policies".into(),
        json!({"name": "ops", "steps": [{"delay": "5m", "targets": [{"user": "alice"}]}]}),
    )
    .await
    .expect(201);
    admin(
        Method::PATCH,
        "/api/v1/services/checkout".into(),
        json!({"escalation_policy": "ops"}),
    )
    .await
    .expect(200);
    let key = s.integration("checkout", "pagerduty").await;
    let before = smtp.messages().len();

    // A drill: its own dedup key, a drill incident, and a page marked [DRILL].
    let drill = trigger(&s, &key, "?drill=true", "Checkout 5xx above 5%").await;
    assert_eq!(drill["dedup_key"], "drill:co-5xx", "{drill}");
    let page = smtp.wait_for(before + 1, SOON).await.remove(before);
    assert!(page.contains("To: alice@example.com"), "{page}");
    let subject = page.lines().find(|l| l.starts_with("Subject: ")).unwrap();
    assert!(subject.starts_with("Subject: [DRILL]"), "{subject}");
    let alerts = s.alerts("").await;
    assert_eq!(alerts.len(), 1);
    assert_eq!(alerts[0]["drill"], true);
    let drill_incident = alerts[0]["incident"].as_str().unwrap().to_string();
    let shown = s.get(&format!("/api/v1/incidents/{drill_incident}")).await;
    assert_eq!(shown.expect(200)["drill"], true);

    // A public update of a drill is refused with what to do instead; an internal one is fine.
    let refused = s
        .post(
            &format!("/api/v1/incidents/{drill_incident}/status-updates"),
            json!({"audience": "public", "status": "investigating", "body": "Drill: checkout errors"}),
        )
        .await;
    let problem = refused.expect_problem(422);
    assert!(
        problem["detail"].as_str().unwrap().contains("internal"),
        "{problem}"
    );
    s.post(
        &format!("/api/v1/incidents/{drill_incident}/status-updates"),
        json!({"audience": "internal", "body": "Drill: checkout errors"}),
    )
    .await
    .expect(201);

    // A real alert with the same key is a new alert in a new, real incident.
    let real = trigger(&s, &key, "", "Checkout really down").await;
    assert_eq!(real["dedup_key"], "co-5xx", "{real}");
    let alerts = s.alerts("").await;
    assert_eq!(alerts.len(), 2, "{alerts:?}");
    let real_alert = alerts.iter().find(|a| a["drill"] == false).unwrap();
    let real_incident = real_alert["incident"].as_str().unwrap().to_string();
    assert_ne!(real_incident, drill_incident);
    let shown = s.get(&format!("/api/v1/incidents/{real_incident}")).await;
    assert_eq!(shown.expect(200)["drill"], false);
    // Another drill joins the drill incident, not the real one.
    trigger(&s, &key, "?drill=1", "Checkout 5xx above 5%").await;
    let again = s.alerts("").await;
    assert_eq!(
        again.len(),
        2,
        "the drill repeated its own alert: {again:?}"
    );

    // The real incident's public update reaches the subscriber: the only update mail.
    s.post(
        &format!("/api/v1/incidents/{real_incident}/status-updates"),
        json!({"audience": "public", "status": "investigating", "body": "Real: checkout is down"}),
    )
    .await
    .expect(201);
    let deadline = std::time::Instant::now() + SOON;
    let to_ann = || {
        smtp.messages()
            .into_iter()
            .filter(|m| m.contains("To: ann@example.com") && !m.contains("Confirm"))
            .collect::<Vec<_>>()
    };
    while to_ann().is_empty() && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mails = to_ann();
    assert_eq!(mails.len(), 1, "{mails:#?}");
    assert!(mails[0].contains("Real: checkout is down"), "{}", mails[0]);
    assert!(!mails[0].contains("Drill"), "{}", mails[0]);

    for path in [
        "/status",
        "/status/api/v2/summary.json",
        "/status/api/v2/incidents.json",
        "/status/history.atom",
        "/status/history.rss",
    ] {
        let body = s
            .http
            .get(format!("{}{path}", s.base))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(!body.contains("Drill: checkout errors"), "{path}: {body}");
        assert!(!body.contains("Checkout: Checkout 5xx"), "{path}: {body}");
    }

    // Bad drill parameters are refused and change nothing.
    let bad = s
        .send_json(
            "/api/v1/ingest/generic?gameday=999",
            &json!({"summary": "x"}),
        )
        .await;
    assert!(bad.status == 401 || bad.status == 422, "{}", bad.body);
    let bad = s
        .send_json(
            &format!("/api/v1/ingest/generic/{key}?gameday=999"),
            &json!({"summary": "x"}),
        )
        .await;
    assert_eq!(bad.status, 422, "{}", bad.body);
    let bad = s
        .send_json(
            &format!("/api/v1/ingest/generic/{key}?drill=maybe"),
            &json!({"summary": "x"}),
        )
        .await;
    assert_eq!(bad.status, 422, "{}", bad.body);
    assert_eq!(s.alerts("").await.len(), 2);
}
