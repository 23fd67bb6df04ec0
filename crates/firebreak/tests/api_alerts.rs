//! Alert ingestion through the real server: every fixture with its sender's answer, PagerDuty's
//! dedup semantics, limits and errors, grouping into incidents, silences, maintenance windows,
//! routing rules, deploys as suspects, and key rotation.

mod common;

use common::{TestServer, fixture, spawn, spawn_with};
use firebreak_domain::rules::{DeclareRule, Grouping};
use firebreak_domain::{Config, Matcher, Name, Service};
use reqwest::Method;
use serde_json::{Value, json};

fn pd_trigger(key: &str, dedup: Option<&str>, summary: &str) -> Value {
    let mut body = json!({
        "routing_key": key,
        "event_action": "trigger",
        "payload": {"summary": summary, "source": "db-1", "severity": "critical"},
    });
    if let Some(d) = dedup {
        body["dedup_key"] = json!(d);
    }
    body
}

fn pd_action(key: &str, action: &str, dedup: &str) -> Value {
    json!({"routing_key": key, "event_action": action, "dedup_key": dedup})
}

async fn open_alerts(s: &TestServer) -> Vec<Value> {
    s.alerts("status=open").await
}

#[tokio::test]
async fn every_fixture_is_accepted_with_its_senders_answer() {
    let s = spawn().await;
    let key = s.integration("checkout", "everything").await;

    let a = s
        .send(
            "/v2/enqueue",
            fixture("pagerduty-events-v2-trigger.json", &key),
            &[],
        )
        .await;
    assert_eq!(a.status, 202, "{}", a.body);
    assert_eq!(
        a.body,
        json!({"status": "success", "message": "Event processed", "dedup_key": "checkout/high-latency"})
    );
    assert!(a.content_type.starts_with("application/json"));
    for name in [
        "pagerduty-events-v2-acknowledge.json",
        "pagerduty-events-v2-resolve.json",
    ] {
        let a = s.send("/v2/enqueue", fixture(name, &key), &[]).await;
        assert_eq!(a.status, 202, "{name}: {}", a.body);
        assert_eq!(a.body["status"], "success");
        assert_eq!(a.body["dedup_key"], "checkout/high-latency");
    }
    let pd = s.alerts("").await;
    let pd: Vec<_> = pd.iter().filter(|a| a["format"] == "pagerduty").collect();
    assert_eq!(pd.len(), 1, "{pd:?}");
    assert_eq!(pd[0]["status"], "resolved");
    assert!(pd[0]["acknowledged_at"].is_string());

    let a = s
        .send(
            "/v2/change/enqueue",
            fixture("pagerduty-change-event.json", &key),
            &[],
        )
        .await;
    assert_eq!(a.status, 202, "{}", a.body);
    assert_eq!(a.body["status"], "success");
    let deploys = s.get("/api/v1/deployments?service=checkout").await;
    let d = &deploys.expect(200)["items"][0];
    assert_eq!(d["version"], "v2.14.0");
    assert_eq!(d["previous_version"], "v2.13.4");
    assert_eq!(d["commit"], "9fceb02");
    assert_eq!(d["source"], "pagerduty");

    let genie = format!("GenieKey {key}");
    let a = s
        .send(
            "/v2/alerts",
            fixture("opsgenie-create-alert.json", &key),
            &[("authorization", &genie)],
        )
        .await;
    assert_eq!(a.status, 202, "{}", a.body);
    assert_eq!(a.body["result"], "Request will be processed");
    assert!(a.body["took"].is_number());
    assert!(a.body["requestId"].is_string());

    let a = s
        .send(
            &format!("/api/v1/ingest/alertmanager/{key}"),
            fixture("alertmanager-webhook-v4.json", &key),
            &[],
        )
        .await;
    assert_eq!(a.status, 202, "{}", a.body);
    let firing = a.body["alerts"].as_array().unwrap().len();
    assert!(firing >= 1);
    let a = s
        .send(
            &format!("/api/v1/ingest/alertmanager/{key}"),
            fixture("alertmanager-webhook-v4-resolved.json", &key),
            &[],
        )
        .await;
    assert_eq!(a.status, 202, "{}", a.body);
    let am: Vec<_> = s
        .alerts("")
        .await
        .into_iter()
        .filter(|a| a["format"] == "alertmanager")
        .collect();
    assert_eq!(
        am.len(),
        firing,
        "resolved matches the firing alerts: {am:?}"
    );
    let resolved_fixture: Value =
        serde_json::from_str(&fixture("alertmanager-webhook-v4-resolved.json", &key)).unwrap();
    for sent in resolved_fixture["alerts"].as_array().unwrap() {
        let fp = &sent["fingerprint"];
        let stored = am
            .iter()
            .find(|a| &a["dedup_key"] == fp)
            .expect("same fingerprint");
        assert_eq!(stored["status"], sent["status"], "{stored}");
    }

    let a = s
        .send(
            &format!("/api/v1/ingest/grafana/{key}"),
            fixture("grafana-webhook.json", &key),
            &[],
        )
        .await;
    assert_eq!(a.status, 202, "{}", a.body);
    let open = open_alerts(&s).await;
    let formats: Vec<_> = open.iter().map(|a| a["format"].as_str().unwrap()).collect();
    assert!(
        formats.contains(&"grafana") && formats.contains(&"opsgenie"),
        "{formats:?}"
    );
    let og = open.iter().find(|a| a["format"] == "opsgenie").unwrap();
    assert_eq!(
        og["dedup_key"], "payments/gateway-timeouts",
        "the alias is the dedup key"
    );
    assert_eq!(og["severity"], "critical");
    assert_eq!(og["service"], "checkout");
    assert_eq!(og["incident"], Value::Null);
    for field in [
        "id",
        "urgency",
        "summary",
        "count",
        "first_seen",
        "last_seen",
    ] {
        assert!(!og[field].is_null(), "alert JSON has {field}: {og}");
    }
}

#[tokio::test]
async fn pagerduty_dedup_semantics_hold() {
    let s = spawn().await;
    let key = s.integration("checkout", "pd").await;
    for _ in 0..3 {
        s.send_json("/v2/enqueue", &pd_trigger(&key, Some("k1"), "disk full"))
            .await;
    }
    let open = open_alerts(&s).await;
    assert_eq!(open.len(), 1, "{open:?}");
    assert_eq!(open[0]["count"], 3);

    // Acknowledge or resolve with no open alert of that key: accepted, changes nothing.
    let a = s
        .send_json("/v2/enqueue", &pd_action(&key, "resolve", "nope"))
        .await;
    assert_eq!(a.status, 202);
    assert_eq!(s.alerts("").await.len(), 1);

    s.send_json("/v2/enqueue", &pd_action(&key, "acknowledge", "k1"))
        .await;
    assert_eq!(s.alerts("status=acknowledged").await.len(), 1);
    s.send_json("/v2/enqueue", &pd_action(&key, "resolve", "k1"))
        .await;
    assert_eq!(s.alerts("status=resolved").await.len(), 1);

    // A trigger after a resolve opens a new alert.
    s.send_json(
        "/v2/enqueue",
        &pd_trigger(&key, Some("k1"), "disk full again"),
    )
    .await;
    let all = s.alerts("").await;
    assert_eq!(all.len(), 2, "{all:?}");
    assert_eq!(open_alerts(&s).await[0]["count"], 1);

    // A trigger without a dedup key gets a generated one, returned and usable.
    let a = s
        .send_json("/v2/enqueue", &pd_trigger(&key, None, "no key"))
        .await;
    assert_eq!(a.status, 202);
    let generated = a.body["dedup_key"].as_str().unwrap().to_string();
    assert!(!generated.is_empty());
    let a = s
        .send_json("/v2/enqueue", &pd_action(&key, "resolve", &generated))
        .await;
    assert_eq!(a.status, 202);
    let resolved = s.alerts("status=resolved").await;
    assert!(
        resolved
            .iter()
            .any(|a| a["dedup_key"] == generated.as_str())
    );

    // Keys are per integration: the same dedup key on another integration is another alert.
    let other = s.integration("checkout", "other").await;
    s.send_json("/v2/enqueue", &pd_trigger(&other, Some("k1"), "disk full"))
        .await;
    assert_eq!(open_alerts(&s).await.len(), 2);
}

#[tokio::test]
async fn bad_input_gets_a_clear_error_and_stores_nothing() {
    let s = spawn().await;
    let key = s.integration("checkout", "pd").await;

    let a = s
        .send_json(
            "/v2/enqueue",
            &pd_trigger("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", Some("x"), "s"),
        )
        .await;
    assert_eq!(a.status, 404, "unknown routing key: {}", a.body);
    assert_eq!(a.body["status"], "invalid routing key");

    let mut long = pd_trigger(&key, Some(&"d".repeat(256)), "s");
    let a = s.send_json("/v2/enqueue", &long).await;
    assert_eq!(a.status, 400, "{}", a.body);
    assert_eq!(a.body["status"], "invalid event");
    assert!(
        a.body["errors"][0].as_str().unwrap().contains("dedup_key"),
        "{}",
        a.body
    );

    long = pd_trigger(&key, Some("x"), &"s".repeat(1025));
    let a = s.send_json("/v2/enqueue", &long).await;
    assert_eq!(a.status, 400);
    assert!(
        a.body["errors"][0]
            .as_str()
            .unwrap()
            .contains("payload.summary"),
        "{}",
        a.body
    );

    let mut wrong = pd_trigger(&key, Some("x"), "s");
    wrong["payload"]["severity"] = json!("catastrophic");
    let a = s.send_json("/v2/enqueue", &wrong).await;
    assert_eq!(a.status, 400);
    assert!(
        a.body["errors"][0]
            .as_str()
            .unwrap()
            .contains("payload.severity")
    );

    let a = s.send("/v2/enqueue", "{not json", &[]).await;
    assert_eq!(a.status, 400);
    assert_eq!(a.body["status"], "invalid event");

    let big = format!(
        "{{\"routing_key\":\"{key}\",\"event_action\":\"trigger\",\"pad\":\"{}\"}}",
        "x".repeat(600 * 1024)
    );
    let a = s.send("/v2/enqueue", big.clone(), &[]).await;
    assert_eq!(a.status, 413);
    // The batch formats take more (1,000 alerts a request), but not without end.
    let huge = format!(
        "{{\"summary\":\"x\",\"pad\":\"{}\"}}",
        "x".repeat(9 * 1024 * 1024)
    );
    let a = s
        .send(&format!("/api/v1/ingest/generic/{key}"), huge, &[])
        .await;
    assert_eq!(a.status, 413);
    assert_eq!(a.content_type, "application/problem+json");
    assert!(
        a.body["detail"].as_str().unwrap().contains("8 MiB"),
        "{}",
        a.body
    );

    // Generic endpoint: unknown key 401, invalid JSON / wrong enum / missing field 400 naming it.
    let a = s
        .send_json(
            "/api/v1/ingest/generic/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
            &json!({"summary": "x"}),
        )
        .await;
    assert_eq!(a.status, 401);
    assert_eq!(a.content_type, "application/problem+json");
    let generic = format!("/api/v1/ingest/generic/{key}");
    let a = s.send(&generic, "[1,", &[]).await;
    assert_eq!(a.status, 400);
    assert_eq!(a.content_type, "application/problem+json");
    let a = s
        .send_json(&generic, &json!({"summary": "x", "severity": "huge"}))
        .await;
    assert_eq!(a.status, 400);
    assert_eq!(a.body["errors"][0]["field"], "severity", "{}", a.body);
    let a = s.send_json(&generic, &json!({"severity": "info"})).await;
    assert_eq!(a.status, 400);
    assert_eq!(a.body["errors"][0]["field"], "summary", "{}", a.body);

    let a = s
        .send(
            "/v2/alerts",
            "{}",
            &[("authorization", "GenieKey AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")],
        )
        .await;
    assert_eq!(a.status, 401);

    assert!(s.alerts("").await.is_empty(), "nothing was stored");
}

/// A storm's full batch, 1,000 alerts with labels and annotations of real size (over a
/// megabyte in all), is stored whole: refused for its bytes, it would page nobody.
#[tokio::test]
async fn a_full_alertmanager_batch_of_real_sized_alerts_is_accepted() {
    let s = spawn().await;
    let key = s.integration("checkout", "prometheus").await;
    let alerts: Vec<Value> = (0..1000)
        .map(|i| {
            json!({
                "status": "firing",
                "labels": {
                    "alertname": "KubePodCrashLooping", "severity": "critical",
                    "namespace": "checkout", "pod": format!("checkout-api-7d9f8b6c5-{i:05}"),
                    "container": "api", "cluster": "prod-eu-west-1", "job": "kube-state-metrics",
                    "instance": format!("10.42.{}.{}:8080", i / 250, i % 250),
                },
                "annotations": {
                    "summary": format!("Pod checkout/checkout-api-{i} is crash looping"),
                    "description": "x".repeat(700),
                    "runbook_url": "https://runbooks.example.com/kubernetes/kubepodcrashlooping",
                },
                "startsAt": "2026-12-01T03:00:00Z",
                "endsAt": "0001-01-01T00:00:00Z",
                "generatorURL": format!("http://prometheus.example.com/graph?g0.expr=rate%28kube_pod_container_status_restarts_total%5B5m%5D%29+%3E+0&i={i}"),
                "fingerprint": format!("{i:016x}"),
            })
        })
        .collect();
    let batch = json!({
        "version": "4", "status": "firing", "receiver": "firebreak",
        "groupKey": "{}:{alertname=\"KubePodCrashLooping\"}", "truncatedAlerts": 0,
        "groupLabels": {"alertname": "KubePodCrashLooping"}, "commonLabels": {},
        "commonAnnotations": {}, "externalURL": "http://alertmanager.example.com",
        "alerts": alerts,
    });
    let body = serde_json::to_vec(&batch).unwrap();
    assert!(body.len() > 1024 * 1024, "{} bytes", body.len());
    let a = s
        .send(&format!("/api/v1/ingest/alertmanager/{key}"), body, &[])
        .await;
    assert_eq!(a.status, 202, "{}", a.body);
    assert_eq!(a.body["alerts"].as_array().unwrap().len(), 1000);
}

#[tokio::test]
async fn the_generic_endpoint_takes_the_key_in_the_path_or_as_a_bearer_token() {
    let s = spawn().await;
    let key = s.integration("checkout", "cron").await;
    let body = json!({
        "summary": "<script>alert(1)</script> backup failed",
        "severity": "error",
        "dedup_key": "backup",
        "source": "cron",
        "labels": {"job": "backup"},
        "links": [{"href": "https://runbooks.example.com/backup", "text": "Runbook"}],
    });
    let a = s
        .send_json(&format!("/api/v1/ingest/generic/{key}"), &body)
        .await;
    assert_eq!(a.status, 202, "{}", a.body);
    assert_eq!(a.body["alerts"][0]["dedup_key"], "backup");
    let bearer = format!("Bearer {key}");
    let a = s
        .send(
            "/api/v1/ingest/generic",
            serde_json::to_vec(&body).unwrap(),
            &[("authorization", &bearer)],
        )
        .await;
    assert_eq!(a.status, 202);
    let open = open_alerts(&s).await;
    assert_eq!(open.len(), 1);
    assert_eq!(open[0]["count"], 2);
    assert_eq!(
        open[0]["summary"], "<script>alert(1)</script> backup failed",
        "stored as given; escaping is the job of whatever shows it"
    );
    assert_eq!(open[0]["labels"]["job"], "backup");
    assert_eq!(open[0]["links"][0]["text"], "Runbook");
    let a = s
        .send_json(
            &format!("/api/v1/ingest/generic/{key}"),
            &json!({"summary": "backup ok", "dedup_key": "backup", "status": "resolved"}),
        )
        .await;
    assert_eq!(a.status, 202);
    assert!(open_alerts(&s).await.is_empty());
}

#[tokio::test]
async fn over_the_rate_limit_gets_429_and_nothing_is_stored() {
    let mut config = Config::default();
    config.alerting.rate_limit_per_second = 1;
    config.alerting.rate_limit_burst = 2;
    let s = spawn_with(config).await;
    let key = s.integration("checkout", "noisy").await;
    let mut statuses = vec![];
    let mut retry_after = None;
    for i in 0..4 {
        let a = s
            .send_json(
                "/v2/enqueue",
                &pd_trigger(&key, Some(&format!("k{i}")), "x"),
            )
            .await;
        if a.status == 429 {
            retry_after = a.headers.get("retry-after").cloned();
        }
        statuses.push(a.status.as_u16());
    }
    assert_eq!(&statuses[..2], &[202, 202], "{statuses:?}");
    assert!(statuses[2..].contains(&429), "{statuses:?}");
    assert!(retry_after.is_some(), "429 carries Retry-After");
    let accepted = statuses.iter().filter(|s| **s == 202).count();
    assert_eq!(s.alerts("").await.len(), accepted);
}

#[tokio::test]
async fn alerts_attach_to_the_open_incident_of_their_service_and_show_recovery() {
    let s = spawn().await;
    let key = s.integration("checkout", "pd").await;

    // No incident and no rule: the alert stays an alert.
    s.send_json(
        "/v2/enqueue",
        &pd_trigger(&key, Some("early"), "latency up"),
    )
    .await;
    assert_eq!(open_alerts(&s).await[0]["incident"], Value::Null);
    assert!(
        s.get("/api/v1/incidents").await.body["items"]
            .as_array()
            .unwrap()
            .is_empty()
    );

    let inc = s
        .post(
            "/api/v1/incidents",
            json!({"title": "Checkout slow", "severity": "SEV2", "services": ["checkout"]}),
        )
        .await;
    inc.expect(201);
    assert_eq!(inc.body["alerts"], json!([]));
    assert_eq!(inc.body["suspect_deploys"], json!([]));

    let a = s
        .send_json("/v2/enqueue", &pd_trigger(&key, Some("k1"), "errors up"))
        .await;
    assert_eq!(a.status, 202);
    let a = s
        .send_json(
            "/v2/enqueue",
            &pd_trigger(&key, Some("k2"), "queue backed up"),
        )
        .await;
    assert_eq!(a.status, 202);
    let attached = s.alerts("incident=INC-1").await;
    assert_eq!(attached.len(), 2, "{attached:?}");
    let incident = s.get("/api/v1/incidents/INC-1").await;
    let body = incident.expect(200);
    assert_eq!(body["alerts"].as_array().unwrap().len(), 2);
    assert_eq!(body["alerts_resolved"], false);

    for k in ["k1", "k2"] {
        s.send_json("/v2/enqueue", &pd_action(&key, "resolve", k))
            .await;
    }
    let body = s.get("/api/v1/incidents/INC-1").await.body;
    assert_eq!(body["alerts_resolved"], true, "{body}");
    let timeline = s.get("/api/v1/incidents/INC-1/timeline").await.body;
    let kinds: Vec<_> = timeline["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap_or_default().to_string())
        .collect();
    assert_eq!(
        kinds.iter().filter(|k| *k == "alert_attached").count(),
        2,
        "{kinds:?}"
    );
    assert_eq!(
        kinds.iter().filter(|k| *k == "alert_resolved").count(),
        2,
        "{kinds:?}"
    );
}

fn with_declare_rule() -> Config {
    let mut config = Config::default();
    config.services.push(Service {
        name: Name::parse("checkout").unwrap(),
        description: "Checkout".into(),
        team: None,
        runbook: None,
        integrations: vec![],
        grouping: Grouping {
            window: None,
            declare: vec![DeclareRule {
                matchers: vec![Matcher::parse(r#"severity="critical""#).unwrap()],
                severity: "SEV2".into(),
                title: Some("{summary}".into()),
            }],
        },
        escalation_policy: None,
        manager: None,
    });
    config
}

#[tokio::test]
async fn a_grouping_rule_declares_an_incident_from_a_critical_alert() {
    let s = spawn_with(with_declare_rule()).await;
    let key = s.integration("checkout", "am").await;
    let mut warning = pd_trigger(&key, Some("w"), "slow-ish");
    warning["payload"]["severity"] = json!("warning");
    s.send_json("/v2/enqueue", &warning).await;
    assert!(
        s.get("/api/v1/incidents").await.body["items"]
            .as_array()
            .unwrap()
            .is_empty()
    );

    let a = s
        .send_json(
            "/v2/enqueue",
            &pd_trigger(&key, Some("c"), "Checkout is down"),
        )
        .await;
    assert_eq!(a.status, 202);
    let list = s.get("/api/v1/incidents").await.body;
    let items = list["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{list}");
    assert_eq!(items[0]["title"], "Checkout is down");
    assert_eq!(items[0]["severity"], "SEV2");
    assert_eq!(items[0]["services"], json!(["checkout"]));
    let alert = s
        .alerts("")
        .await
        .into_iter()
        .find(|a| a["dedup_key"] == "c")
        .unwrap();
    assert_eq!(alert["incident"], "INC-1");
    assert_eq!(items[0]["alerts"], json!([alert["id"]]));

    // A second critical alert joins that incident rather than declaring another.
    s.send_json(
        "/v2/enqueue",
        &pd_trigger(&key, Some("c2"), "Payments failing"),
    )
    .await;
    assert_eq!(
        s.get("/api/v1/incidents").await.body["items"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert_eq!(s.alerts("incident=INC-1").await.len(), 2);
}

#[tokio::test]
async fn silences_and_maintenance_suppress_but_keep_the_alert() {
    let s = spawn().await;
    let key = s.integration("checkout", "pd").await;
    let silence = s
        .post(
            "/api/v1/silences",
            json!({"matchers": ["source=\"db-1\""], "duration": "2h", "comment": "replacing disk"}),
        )
        .await;
    let id = silence.expect(201)["id"].as_i64().unwrap();
    assert_eq!(silence.body["active"], true);
    let a = s
        .send_json("/v2/enqueue", &pd_trigger(&key, Some("s1"), "disk"))
        .await;
    assert_eq!(a.status, 202);
    let suppressed = s.alerts("status=suppressed").await;
    assert_eq!(suppressed.len(), 1);
    assert!(
        suppressed[0]["suppressed_reason"]
            .as_str()
            .unwrap()
            .contains("replacing disk")
    );

    s.call(
        Method::DELETE,
        &format!("/api/v1/silences/{id}"),
        Some(&s.responder),
        None,
    )
    .await
    .expect(200);
    s.send_json("/v2/enqueue", &pd_trigger(&key, Some("s2"), "disk"))
        .await;
    assert_eq!(open_alerts(&s).await.len(), 1);

    let bad = s
        .post(
            "/api/v1/silences",
            json!({"matchers": ["severity"], "duration": "1h", "comment": "x"}),
        )
        .await;
    assert_eq!(bad.expect_problem(422)["errors"][0]["field"], "matchers[0]");

    let window = s
        .post(
            "/api/v1/maintenance-windows",
            json!({"service": "checkout", "ends_at": "2026-11-23T05:00:00Z", "comment": "db upgrade"}),
        )
        .await;
    window.expect(201);
    s.send_json("/v2/enqueue", &pd_trigger(&key, Some("m1"), "db down"))
        .await;
    let suppressed = s.alerts("status=suppressed").await;
    assert_eq!(suppressed.len(), 2);
    assert!(suppressed.iter().any(|a| {
        a["suppressed_reason"]
            .as_str()
            .unwrap()
            .contains("maintenance")
    }));
}

#[tokio::test]
async fn a_resolve_with_an_unreadable_end_time_says_so_in_the_alert() {
    let s = spawn().await;
    let key = s.integration("checkout", "am").await;
    let firing: Value =
        serde_json::from_str(&fixture("alertmanager-webhook-v4.json", &key)).unwrap();
    let a = s
        .send_json(&format!("/api/v1/ingest/alertmanager/{key}"), &firing)
        .await;
    assert_eq!(a.status, 202, "{}", a.body);
    let mut resolved: Value =
        serde_json::from_str(&fixture("alertmanager-webhook-v4-resolved.json", &key)).unwrap();
    resolved["alerts"][0]["endsAt"] = json!("garbage");
    let fp = resolved["alerts"][0]["fingerprint"].clone();
    let a = s
        .send_json(&format!("/api/v1/ingest/alertmanager/{key}"), &resolved)
        .await;
    assert_eq!(a.status, 202, "{}", a.body);
    let alerts = s.alerts("").await;
    let stored = alerts.iter().find(|a| a["dedup_key"] == fp).unwrap();
    assert_eq!(stored["status"], "resolved", "{stored}");
    let note = stored["details"]["firebreak_note"]
        .as_str()
        .unwrap_or_default();
    assert!(
        note.contains("endsAt") && note.contains("garbage"),
        "{stored}"
    );
}

/// Go's zero time where a start or an event's time belongs was not set: the alert is stored
/// with the receive time and says so, as for any other unusable time. Alertmanager's `endsAt`
/// at the zero time means "no end yet", and stays silent.
async fn a_zero_start_time_is_the_receive_time_and_says_so(s: common::TestServer) {
    let key = s.integration("checkout", "zero").await;
    let zero = "0001-01-01T00:00:00Z";
    let received = s.running.app.clock.now();
    let mut pd = pd_trigger(&key, Some("pd-zero"), "db down");
    pd["payload"]["timestamp"] = json!(zero);
    let a = s.send_json("/v2/enqueue", &pd).await;
    assert_eq!(a.status, 202, "{}", a.body);
    let mut am: Value =
        serde_json::from_str(&fixture("alertmanager-webhook-v4.json", &key)).unwrap();
    am["alerts"][0]["startsAt"] = json!(zero);
    let fp = am["alerts"][0]["fingerprint"].clone();
    let other = am["alerts"][1]["fingerprint"].clone();
    assert_eq!(am["alerts"][1]["endsAt"], zero, "the fixture's unset end");
    let a = s
        .send_json(&format!("/api/v1/ingest/alertmanager/{key}"), &am)
        .await;
    assert_eq!(a.status, 202, "{}", a.body);

    let alerts = s.alerts("").await;
    let find = |key: &Value| alerts.iter().find(|a| &a["dedup_key"] == key).unwrap();
    for (stored, field) in [
        (find(&json!("pd-zero")), "payload.timestamp"),
        (find(&fp), "alerts[0].startsAt"),
    ] {
        // No start time was given; the alert's times are the receive time.
        assert!(stored["started_at"].is_null(), "{stored}");
        let first_seen: jiff::Timestamp = stored["first_seen"].as_str().unwrap().parse().unwrap();
        assert_eq!(first_seen, received, "{stored}");
        let note = stored["details"]["firebreak_note"]
            .as_str()
            .unwrap_or_default();
        assert_eq!(
            note,
            format!("{field} \"{zero}\" is Go's zero time (not set); the receive time was used"),
            "{stored}"
        );
    }
    // The other alert's end at the zero time is "no end yet": nothing to say.
    let silent = find(&other);
    assert!(
        silent["details"].get("firebreak_note").is_none(),
        "{silent}"
    );
    assert_eq!(silent["status"], "open", "{silent}");
}

#[tokio::test]
async fn a_zero_start_time_is_the_receive_time_and_says_so_on_sqlite() {
    a_zero_start_time_is_the_receive_time_and_says_so(spawn().await).await;
}

#[tokio::test]
async fn a_zero_start_time_is_the_receive_time_and_says_so_on_postgres() {
    let store = common::postgres_store("zero_time").await;
    let dir = tempfile::tempdir().unwrap();
    let s = common::spawn_on(std::sync::Arc::new(store), Config::default(), dir).await;
    a_zero_start_time_is_the_receive_time_and_says_so(s).await;
}

#[tokio::test]
async fn routing_rules_drop_move_and_reclassify() {
    let s = spawn().await;
    let key = s.integration("checkout", "pd").await;
    s.call(
        Method::POST,
        "/api/v1/services",
        Some(&s.admin),
        Some(json!({"name": "payments"})),
    )
    .await
    .expect(201);
    let rule = |body: Value| {
        let s = &s;
        async move {
            s.call(
                Method::POST,
                "/api/v1/routing-rules",
                Some(&s.admin),
                Some(body),
            )
            .await
        }
    };
    rule(json!({"matchers": ["source=\"test-box\""], "drop": true}))
        .await
        .expect(201);
    rule(json!({"matchers": ["summary=~\".*payment.*\""], "service": "payments", "severity": "warning"}))
        .await
        .expect(201);
    rule(json!({"matchers": [], "service": "nowhere"}))
        .await
        .expect_problem(422);

    let mut dropped = pd_trigger(&key, Some("d"), "noise");
    dropped["payload"]["source"] = json!("test-box");
    let a = s.send_json("/v2/enqueue", &dropped).await;
    assert_eq!(a.status, 202);
    s.send_json(
        "/v2/enqueue",
        &pd_trigger(&key, Some("p"), "payment errors"),
    )
    .await;
    let all = s.alerts("").await;
    assert_eq!(all.len(), 1, "the dropped event was not stored: {all:?}");
    assert_eq!(all[0]["service"], "payments");
    assert_eq!(all[0]["severity"], "warning");
    assert_eq!(all[0]["urgency"], "low");
    let rules = s.get("/api/v1/routing-rules").await.body;
    assert_eq!(rules["items"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn deploys_before_detection_are_suspects_newest_first() {
    let s = spawn().await;
    s.integration("checkout", "pd").await;
    // The test clock stands at 03:00.
    for (version, previous, at) in [
        ("v1", "v0", "2026-11-23T00:30:00Z"),
        ("v2", "v1", "2026-11-23T01:30:00Z"),
        ("v3", "v2", "2026-11-23T02:40:00Z"),
    ] {
        s.post(
            "/api/v1/deployments",
            json!({"service": "checkout", "version": version, "previous_version": previous, "at": at, "commit": "abc"}),
        )
        .await
        .expect(201);
    }
    let bad = s
        .post(
            "/api/v1/deployments",
            json!({"service": "nope", "version": "v1"}),
        )
        .await;
    assert_eq!(bad.expect_problem(422)["errors"][0]["field"], "service");
    let bad = s
        .post(
            "/api/v1/deployments",
            json!({"service": "checkout", "version": "v9", "at": "tomorrow"}),
        )
        .await;
    let err = &bad.expect_problem(422)["errors"][0];
    assert_eq!(err["field"], "at");
    assert!(
        err["message"].as_str().unwrap().contains("RFC 3339"),
        "{err}"
    );
    let inc = s
        .post(
            "/api/v1/incidents",
            json!({"title": "Checkout errors", "severity": "SEV2", "services": ["checkout"]}),
        )
        .await;
    let suspects = inc.expect(201)["suspect_deploys"]
        .as_array()
        .unwrap()
        .clone();
    let versions: Vec<_> = suspects
        .iter()
        .map(|d| d["version"].as_str().unwrap())
        .collect();
    assert_eq!(
        versions,
        ["v3", "v2"],
        "only the 2 h before detection, newest first"
    );
    assert_eq!(suspects[0]["suspect"], true);
    assert_eq!(suspects[0]["rollback_to"], "v2");
    assert_eq!(suspects[0]["previous_version"], "v2");
    assert_eq!(suspects[0]["service"], "checkout");
    assert!(suspects[0]["at"].is_string());
    assert_eq!(suspects[1]["suspect"], false);
    let ci = s
        .post(
            "/api/v1/deployments",
            json!({"service": "checkout", "version": "v0", "at": "2026-11-22T00:00:00Z", "source": "ci"}),
        )
        .await;
    assert_eq!(ci.expect(201)["source"], "ci");
    let bad = s
        .post(
            "/api/v1/deployments",
            json!({"service": "checkout", "version": "v0", "source": "pagerduty"}),
        )
        .await;
    assert_eq!(bad.expect_problem(422)["errors"][0]["field"], "source");
    let list = s
        .get("/api/v1/deployments?service=checkout&limit=2")
        .await
        .body;
    assert_eq!(list["items"].as_array().unwrap().len(), 2);
    assert!(list["next_cursor"].is_string());
}

#[tokio::test]
async fn rotated_keys_both_work_until_the_old_one_is_revoked() {
    let s = spawn().await;
    let old = s.integration("checkout", "pd").await;
    let list = s.get("/api/v1/integrations").await.body;
    let integration = list["items"][0]["id"].as_str().unwrap().to_string();
    let old_key_id = list["items"][0]["keys"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        list["items"][0].get("key").is_none(),
        "keys are shown only once"
    );

    let rotated = s
        .call(
            Method::POST,
            &format!("/api/v1/integrations/{integration}/rotate"),
            Some(&s.admin),
            None,
        )
        .await;
    let new = rotated.expect(201)["key"].as_str().unwrap().to_string();
    assert_eq!(new.len(), 32);
    assert!(new.bytes().all(|b| b.is_ascii_alphanumeric()));
    for key in [&old, &new] {
        let a = s
            .send_json("/v2/enqueue", &pd_trigger(key, Some("r"), "x"))
            .await;
        assert_eq!(a.status, 202);
    }
    assert_eq!(
        open_alerts(&s).await[0]["count"],
        2,
        "same integration, same alert"
    );

    s.call(
        Method::DELETE,
        &format!("/api/v1/integrations/{integration}/keys/{old_key_id}"),
        Some(&s.admin),
        None,
    )
    .await
    .expect(200);
    let a = s
        .send_json("/v2/enqueue", &pd_trigger(&old, Some("r"), "x"))
        .await;
    assert_eq!(a.status, 404);
    let a = s
        .send_json(
            &format!("/api/v1/ingest/generic/{old}"),
            &json!({"summary": "x"}),
        )
        .await;
    assert_eq!(a.status, 401);
    let a = s
        .send_json("/v2/enqueue", &pd_trigger(&new, Some("r"), "x"))
        .await;
    assert_eq!(a.status, 202);
}

#[tokio::test]
async fn people_acknowledge_and_resolve_alerts_and_opsgenie_closes_by_alias() {
    let s = spawn().await;
    let key = s.integration("checkout", "og").await;
    let genie = format!("GenieKey {key}");
    s.send(
        "/v2/alerts",
        fixture("opsgenie-create-alert.json", &key),
        &[("authorization", &genie)],
    )
    .await;
    let id = open_alerts(&s).await[0]["id"].as_i64().unwrap();
    let a = s
        .post(&format!("/api/v1/alerts/{id}/acknowledge"), json!({}))
        .await;
    assert_eq!(a.expect(200)["status"], "acknowledged");
    let viewer = s
        .call(
            Method::POST,
            &format!("/api/v1/alerts/{id}/resolve"),
            Some(&s.viewer),
            None,
        )
        .await;
    viewer.expect_problem(403);
    let a = s
        .send(
            "/v2/alerts/payments%2Fgateway-timeouts/close?identifierType=alias",
            r#"{"user":"ops","note":"fixed"}"#,
            &[("authorization", &genie)],
        )
        .await;
    assert_eq!(a.status, 202, "{}", a.body);
    let alert = s.get(&format!("/api/v1/alerts/{id}")).await;
    assert_eq!(alert.expect(200)["status"], "resolved");
    s.get("/api/v1/alerts/99999").await.expect_problem(404);
    s.get("/api/v1/alerts?status=bogus")
        .await
        .expect_problem(422);
}

/// Drill mode keeps rehearsals apart on every Opsgenie route and on PagerDuty change events: a
/// close by alias with `?drill=true` closes the drill's alert and never the real one with the
/// same alias, and a change event sent as a drill records a drill deploy.
#[tokio::test]
async fn opsgenie_closes_and_change_events_keep_drills_apart() {
    let s = spawn().await;
    let key = s.integration("checkout", "og").await;
    let genie = format!("GenieKey {key}");
    for query in ["", "?drill=true"] {
        let a = s
            .send(
                &format!("/v2/alerts{query}"),
                fixture("opsgenie-create-alert.json", &key),
                &[("authorization", &genie)],
            )
            .await;
        assert_eq!(a.status, 202, "{}", a.body);
    }
    let open = open_alerts(&s).await;
    assert_eq!(open.len(), 2, "{open:?}");
    let a = s
        .send(
            "/v2/alerts/payments%2Fgateway-timeouts/acknowledge?identifierType=alias&drill=true",
            r#"{"user":"ops"}"#,
            &[("authorization", &genie)],
        )
        .await;
    assert_eq!(a.status, 202, "{}", a.body);
    let a = s
        .send(
            "/v2/alerts/payments%2Fgateway-timeouts/close?identifierType=alias&drill=true",
            r#"{"user":"ops","note":"drill over"}"#,
            &[("authorization", &genie)],
        )
        .await;
    assert_eq!(a.status, 202, "{}", a.body);
    let all = s.alerts("").await;
    let (drill, real): (Vec<&Value>, Vec<&Value>) = all.iter().partition(|a| a["drill"] == true);
    assert_eq!((drill.len(), real.len()), (1, 1), "{all:?}");
    assert_eq!(drill[0]["status"], "resolved", "{all:?}");
    assert!(drill[0]["acknowledged_at"].is_string(), "{all:?}");
    assert_eq!(
        real[0]["status"], "open",
        "the real alert is untouched: {all:?}"
    );
    // A bad drill value is refused and closes nothing.
    let a = s
        .send(
            "/v2/alerts/payments%2Fgateway-timeouts/close?identifierType=alias&drill=maybe",
            r#"{}"#,
            &[("authorization", &genie)],
        )
        .await;
    assert_eq!(a.status, 422, "{}", a.body);
    assert_eq!(open_alerts(&s).await.len(), 1);

    let pd_key = s.integration("checkout", "pd").await;
    for query in ["", "?drill=true"] {
        let a = s
            .send(
                &format!("/v2/change/enqueue{query}"),
                fixture("pagerduty-change-event.json", &pd_key),
                &[],
            )
            .await;
        assert_eq!(a.status, 202, "{}", a.body);
    }
    let deploys = s.get("/api/v1/deployments?service=checkout").await;
    let items = deploys.expect(200)["items"].as_array().unwrap().clone();
    let drills: Vec<bool> = items.iter().map(|d| d["drill"] == true).collect();
    assert_eq!(drills, vec![true, false], "{items:?}");
}

/// Acknowledge, resolve, rotate and redeliver take no body: none, or `{}`, and nothing else.
#[tokio::test]
async fn actions_without_a_body_take_none_or_an_empty_object() {
    let s = spawn().await;
    let key = s.integration("checkout", "pd").await;
    s.send_json("/v2/enqueue", &pd_trigger(&key, Some("nb"), "disk"))
        .await;
    let id = open_alerts(&s).await[0]["id"].as_i64().unwrap();
    let ack = format!("/api/v1/alerts/{id}/acknowledge");
    let none = s.call(Method::POST, &ack, Some(&s.responder), None).await;
    assert_eq!(none.expect(200)["status"], "acknowledged");
    s.post(&ack, json!({})).await.expect(200);
    let fields = s.post(&ack, json!({"note": "x"})).await;
    fields.expect_problem(422);
    s.post(&ack, json!([])).await.expect_problem(422);
    let not_json = s
        .http
        .post(format!("{}{ack}", s.base))
        .bearer_auth(&s.responder)
        .body("ack please")
        .send()
        .await
        .unwrap();
    assert_eq!(not_json.status(), 400);
    let resolve = format!("/api/v1/alerts/{id}/resolve");
    let none = s
        .call(Method::POST, &resolve, Some(&s.responder), None)
        .await;
    assert_eq!(none.expect(200)["status"], "resolved");
}

/// A silence whose duration cannot be added to its start is refused, naming the field, and
/// never overflows into a 500.
#[tokio::test]
async fn overflowing_silence_durations_are_refused_naming_the_field() {
    let s = spawn().await;
    for duration in [
        "999999999h",
        "PT99999999999H",
        "2562047788015215h",
        "2000000h",
    ] {
        let a = s
            .post(
                "/api/v1/silences",
                json!({"matchers": ["alertname=\"x\""], "duration": duration, "comment": "c"}),
            )
            .await;
        assert_eq!(
            a.expect_problem(422)["errors"][0]["field"],
            "duration",
            "{duration}: {}",
            a.body
        );
    }
    s.post(
        "/api/v1/silences",
        json!({"matchers": ["alertname=\"x\""], "duration": "24h", "comment": "c"}),
    )
    .await
    .expect(201);
}

/// A rollback reported by CI names the deploy it undid and the incident it was for; each is
/// checked, and a refused report changes nothing.
async fn a_rollback_names_what_it_undid(s: TestServer) {
    for service in ["checkout", "payments"] {
        s.call(
            Method::POST,
            "/api/v1/services",
            Some(&s.admin),
            Some(json!({"name": service})),
        )
        .await
        .expect(201);
    }
    // The test clock stands at 03:00.
    let deploy = |service: &str, version: &str, at: &str| {
        let body = json!({"service": service, "version": version, "at": at});
        let s = &s;
        async move {
            s.post("/api/v1/deployments", body).await.expect(201)["id"]
                .as_i64()
                .unwrap()
        }
    };
    let v1 = deploy("checkout", "v1", "2026-11-23T01:00:00Z").await;
    let v2 = deploy("checkout", "v2", "2026-11-23T02:00:00Z").await;
    let p1 = deploy("payments", "p1", "2026-11-23T02:00:00Z").await;
    s.post(
        "/api/v1/incidents",
        json!({"title": "Checkout errors", "severity": "SEV3", "services": ["checkout"]}),
    )
    .await
    .expect(201);

    // `rolls_back` makes it a rollback without saying so.
    let undo = s
        .post(
            "/api/v1/deployments",
            json!({"service": "checkout", "version": "v1", "previous_version": "v2",
                   "rolls_back": v2, "incident": "INC-1", "source": "ci"}),
        )
        .await;
    let undo = undo.expect(201).clone();
    assert_eq!(undo["rollback"], true, "{undo}");
    assert_eq!(undo["rolls_back"], v2, "{undo}");
    assert_eq!(undo["incident"], "INC-1", "{undo}");
    assert_eq!(undo["frozen"], false, "{undo}");
    // Said outright, with the incident as a bare number; and a rollback that names nothing.
    let again = s
        .post(
            "/api/v1/deployments",
            json!({"service": "checkout", "version": "v0", "rollback": true,
                   "rolls_back": v1, "incident": "1"}),
        )
        .await;
    let again = again.expect(201);
    assert_eq!(
        (&again["rollback"], &again["rolls_back"], &again["incident"]),
        (&json!(true), &json!(v1), &json!("INC-1"))
    );
    let plain = s
        .post(
            "/api/v1/deployments",
            json!({"service": "checkout", "version": "v2", "rollback": true}),
        )
        .await;
    let plain = plain.expect(201);
    assert_eq!(
        (&plain["rollback"], &plain["rolls_back"], &plain["incident"]),
        (&json!(true), &Value::Null, &Value::Null)
    );
    let ordinary = s
        .post(
            "/api/v1/deployments",
            json!({"service": "checkout", "version": "v3"}),
        )
        .await;
    let ordinary = ordinary.expect(201);
    assert_eq!(
        (
            &ordinary["rollback"],
            &ordinary["rolls_back"],
            &ordinary["incident"]
        ),
        (&json!(false), &Value::Null, &Value::Null)
    );
    let listed = s.get("/api/v1/deployments?limit=500").await;
    let before = listed.expect(200)["items"].as_array().unwrap().len();
    assert_eq!(before, 7);
    assert!(
        listed.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|d| d["id"] == undo["id"] && d["rolls_back"] == v2 && d["incident"] == "INC-1"),
        "the list shows the links too: {}",
        listed.body
    );

    let undo_id = undo["id"].as_i64().unwrap();
    let base = json!({"service": "checkout", "version": "v1", "previous_version": "v2"});
    let with = |extra: Value| {
        let mut body = base.clone();
        for (k, v) in extra.as_object().unwrap() {
            body[k] = v.clone();
        }
        body
    };
    for (body, field, says) in [
        (
            with(json!({"rollback": false, "rolls_back": v2})),
            "rolls_back",
            "rollback",
        ),
        (with(json!({"incident": "INC-1"})), "incident", "rollback"),
        (
            with(json!({"rollback": false, "incident": "INC-1"})),
            "incident",
            "rollback",
        ),
        (
            with(json!({"rolls_back": 9999})),
            "rolls_back",
            "no deployment 9999",
        ),
        (
            with(json!({"rolls_back": 0})),
            "rolls_back",
            "no deployment 0",
        ),
        (
            with(json!({"rolls_back": -3})),
            "rolls_back",
            "no deployment",
        ),
        (with(json!({"rolls_back": p1})), "rolls_back", "payments"),
        (
            with(json!({"rolls_back": undo_id})),
            "rolls_back",
            "itself a rollback",
        ),
        (
            with(json!({"rolls_back": v2, "at": "2026-11-23T01:30:00Z"})),
            "rolls_back",
            "after this rollback",
        ),
        (with(json!({"rolls_back": "v2"})), "rolls_back", ""),
        (
            with(json!({"rolls_back": v2, "incident": "INC-99"})),
            "incident",
            "no incident INC-99",
        ),
        (
            with(json!({"rolls_back": v2, "incident": "nope"})),
            "incident",
            "INC-7",
        ),
    ] {
        let refused = s.post("/api/v1/deployments", body.clone()).await;
        let problem = refused.expect_problem(422);
        let err = &problem["errors"][0];
        assert_eq!(err["field"], field, "{body}: {problem}");
        assert!(
            err["message"].as_str().unwrap().contains(says),
            "{body}: {problem}"
        );
    }
    let after = s.get("/api/v1/deployments?limit=500").await;
    assert_eq!(
        after.expect(200)["items"].as_array().unwrap().len(),
        before,
        "refused reports record nothing"
    );

    // The CLI says the same.
    let id = v2.to_string();
    let out = record_v1(&s, &["--rolls-back", &id, "--incident", "INC-1", "--json"]).await;
    assert!(out.status.success(), "{}", common::printed(&out));
    let d: Value = serde_json::from_slice(&out.stdout).unwrap();
    let links = |d: &Value| {
        [
            &d["rollback"],
            &d["rolls_back"],
            &d["incident"],
            &d["source"],
        ]
        .map(Value::clone)
    };
    assert_eq!(
        links(&d),
        [json!(true), json!(v2), json!("INC-1"), json!("cli")]
    );
    let out = record_v1(&s, &["--rollback", "--rolls-back", "9999"]).await;
    assert!(!out.status.success());
    assert!(
        common::printed(&out).contains("rolls_back"),
        "{}",
        common::printed(&out)
    );
    let out = record_v1(&s, &["--incident", "INC-1"]).await;
    assert_eq!(out.status.code(), Some(2), "{}", common::printed(&out));
}

/// `firebreak deploy record` of checkout v1 with `extra` arguments, as the responder.
async fn record_v1(s: &TestServer, extra: &[&str]) -> std::process::Output {
    let base = [
        "deploy",
        "record",
        "--service",
        "checkout",
        "--version",
        "v1",
    ];
    s.cli(&s.responder, &[&base[..], extra].concat()).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rollback_names_what_it_undid_on_sqlite() {
    a_rollback_names_what_it_undid(spawn().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rollback_names_what_it_undid_on_postgres() {
    let store = common::postgres_store("rollback_links").await;
    a_rollback_names_what_it_undid(
        common::spawn_on(
            std::sync::Arc::new(store),
            Config::default(),
            tempfile::tempdir().unwrap(),
        )
        .await,
    )
    .await;
}
