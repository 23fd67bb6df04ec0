mod common;

use std::collections::BTreeMap;

use common::{bytes, check_event, fields, fixture, fixture_json};
use firebreak_domain::{AlertAction, AlertFormat, AlertSeverity, Image, Link};
use firebreak_ingest::grafana::parse_webhook;
use firebreak_ingest::{NOTE_KEY, fingerprint};
use serde_json::{Value, json};

fn fp(name: &str, value: &str) -> String {
    fingerprint(&BTreeMap::from([(name.to_string(), value.to_string())]))
}

#[test]
fn webhook_fixture() {
    let events = parse_webhook(&fixture("grafana-webhook.json")).unwrap();
    assert_eq!(events.len(), 1);
    let e = &events[0];
    check_event(e);
    assert_eq!(e.format, AlertFormat::Grafana);
    assert_eq!(e.action, AlertAction::Trigger);
    assert_eq!(e.dedup_key.as_deref(), Some("c0ffee0123456789"));
    assert_eq!(e.severity, AlertSeverity::Error);
    assert_eq!(e.summary, "Disk on db-1 is 93% full");
    assert_eq!(e.source, "db-1");
    assert_eq!(e.labels["grafana_folder"], "infra");
    assert_eq!(e.labels.len(), 4);
    assert_eq!(e.starts_at, Some("2026-11-20T10:00:00Z".parse().unwrap()));
    assert_eq!(e.ends_at, None);
    let texts: Vec<_> = e.links.iter().map(|l| l.text.as_deref().unwrap()).collect();
    assert_eq!(
        texts,
        ["Source", "Dashboard", "Panel", "Silence", "Grafana"]
    );
    assert_eq!(
        e.links[1],
        Link {
            href: "https://grafana.example.com/d/disk".into(),
            text: Some("Dashboard".into())
        }
    );
    assert_eq!(e.links[4].href, "https://grafana.example.com/");
    assert!(e.images.is_empty());
    let details: Value = serde_json::from_str(&e.details).unwrap();
    assert_eq!(details["values"], json!({ "A": 93.2 }));
    assert_eq!(
        details["valueString"],
        "[ var='A' labels={instance=db-1} value=93.2 ]"
    );
    assert_eq!(
        details["annotations"]["summary"],
        "Disk on db-1 is 93% full"
    );
    // raw is the alert's own object and the group key, nothing else of the batch.
    let mut raw: Value = serde_json::from_str(&e.raw).unwrap();
    let batch = fixture_json("grafana-webhook.json");
    assert_eq!(raw["groupKey"], batch["groupKey"]);
    raw.as_object_mut().unwrap().remove("groupKey");
    assert_eq!(raw, batch["alerts"][0]);
}

#[test]
fn at_most_1000_alerts_per_request() {
    let batch = |n: usize| bytes(&json!({ "title": "t", "alerts": vec![json!({}); n] }));
    assert_eq!(parse_webhook(&batch(1000)).unwrap().len(), 1000);
    let err = parse_webhook(&batch(1001)).unwrap_err();
    assert_eq!(fields(&err), ["alerts"]);
    assert!(err.to_string().contains("at most 1000 alerts per request"));
    assert!(err.to_string().contains("Max alerts"));
}

#[test]
fn unusable_times_are_noted_not_refused() {
    let body = json!({ "alerts": [ { "startsAt": "yesterday" } ] });
    let e = &parse_webhook(&bytes(&body)).unwrap()[0];
    check_event(e);
    assert_eq!(e.starts_at, None);
    let details: Value = serde_json::from_str(&e.details).unwrap();
    assert_eq!(
        details[NOTE_KEY],
        "alerts[0].startsAt \"yesterday\" could not be read as a time; the receive time was used"
    );

    let body = json!({ "title": "t", "startsAt": "2201-01-01T00:00:00Z", "endsAt": "2026-11-20T14:05:00" });
    let e = &parse_webhook(&bytes(&body)).unwrap()[0];
    check_event(e);
    assert_eq!(e.starts_at, None);
    assert_eq!(e.ends_at, Some("2026-11-20T14:05:00Z".parse().unwrap()));
    let details: Value = serde_json::from_str(&e.details).unwrap();
    assert_eq!(
        details[NOTE_KEY],
        "startsAt \"2201-01-01T00:00:00Z\" is outside the years 2000 to 2200; the receive time \
         was used"
    );
}

#[test]
fn image_url_and_title_fallback() {
    let mut body = fixture_json("grafana-webhook.json");
    let alert = &mut body["alerts"][0];
    alert["imageURL"] = json!("https://grafana.example.com/render/disk.png");
    alert["annotations"] = json!({});
    alert["labels"] = json!({});
    let e = &parse_webhook(&bytes(&body)).unwrap()[0];
    check_event(e);
    assert_eq!(
        e.images,
        vec![Image {
            src: "https://grafana.example.com/render/disk.png".into(),
            href: Some("https://grafana.example.com/d/disk?viewPanel=3".into()),
            alt: None,
        }]
    );
    assert_eq!(e.summary, "[FIRING:1] DiskAlmostFull (postgres)");
    assert_eq!(e.source, "grafana");
}

#[test]
fn minimal_alerts_assume_nothing() {
    let e = &parse_webhook(br#"{"alerts":[{}]}"#).unwrap()[0];
    check_event(e);
    assert_eq!(e.summary, "Alert from Grafana");
    assert_eq!(e.source, "grafana");
    assert!(e.links.is_empty());
    assert!(parse_webhook(br#"{"alerts":[]}"#).unwrap().is_empty());
}

#[test]
fn templated_object_gives_one_event() {
    let body = json!({
        "title": "[FIRING:2] Disk full (db)",
        "status": "firing",
        "message": "two disks are full",
        "commonLabels": { "team": "storage", "severity": "critical" }
    });
    let events = parse_webhook(&bytes(&body)).unwrap();
    assert_eq!(events.len(), 1);
    let firing = &events[0];
    check_event(firing);
    assert_eq!(firing.action, AlertAction::Trigger);
    assert_eq!(firing.summary, "[FIRING:2] Disk full (db)");
    assert_eq!(firing.severity, AlertSeverity::Critical);
    assert_eq!(firing.labels["team"], "storage");
    assert_eq!(firing.dedup_key, Some(fp("title", "Disk full (db)")));
    assert_eq!(firing.details, r#"{"message":"two disks are full"}"#);

    let body = json!({ "title": "[RESOLVED] Disk full (db)", "status": "resolved" });
    let resolved = &parse_webhook(&bytes(&body)).unwrap()[0];
    assert_eq!(resolved.action, AlertAction::Resolve);
    assert_eq!(resolved.dedup_key, firing.dedup_key);
}

#[test]
fn templated_state_group_key_and_fallbacks() {
    let cases = [
        (json!({ "state": "ok" }), AlertAction::Resolve),
        (json!({ "state": "normal" }), AlertAction::Resolve),
        (json!({ "state": "alerting" }), AlertAction::Trigger),
        (json!({ "state": "pending" }), AlertAction::Trigger),
        (
            json!({ "status": 1, "state": "resolved" }),
            AlertAction::Resolve,
        ),
        (json!({}), AlertAction::Trigger),
    ];
    for (body, action) in cases {
        let e = &parse_webhook(&bytes(&body)).unwrap()[0];
        check_event(e);
        assert_eq!(e.action, action, "{body}");
    }
    let e = &parse_webhook(br#"{"groupKey":"gk","title":"t"}"#).unwrap()[0];
    assert_eq!(e.dedup_key.as_deref(), Some("gk"));
    let e = &parse_webhook(br#"{"fingerprint":"fp","message":"m"}"#).unwrap()[0];
    assert_eq!(e.dedup_key.as_deref(), Some("fp"));
    assert_eq!(e.summary, "m");
    let e = &parse_webhook(br#"{"summary":"s","alerts":"not an array"}"#).unwrap()[0];
    assert_eq!(e.summary, "s");
    let e = &parse_webhook(br#"{}"#).unwrap()[0];
    assert_eq!(e.summary, "Alert from Grafana");
    let long = "k".repeat(300);
    let e = &parse_webhook(&bytes(&json!({ "groupKey": long }))).unwrap()[0];
    check_event(e);
    assert_eq!(e.dedup_key, Some(fp("groupKey", &long)));
}

#[test]
fn legacy_webhook_uses_the_rule_id() {
    let alerting = json!({
        "title": "[Alerting] CPU high", "ruleId": 7, "ruleName": "CPU high",
        "ruleUrl": "http://grafana/d/x", "state": "alerting", "imageUrl": "http://grafana/i.png",
        "message": "CPU above 90%"
    });
    let ok = json!({ "title": "[OK] CPU high", "ruleId": 7, "state": "ok" });
    let a = &parse_webhook(&bytes(&alerting)).unwrap()[0];
    let o = &parse_webhook(&bytes(&ok)).unwrap()[0];
    check_event(a);
    assert_eq!(a.action, AlertAction::Trigger);
    assert_eq!(o.action, AlertAction::Resolve);
    assert_eq!(a.dedup_key, o.dedup_key);
    assert_eq!(a.links[0].href, "http://grafana/d/x");
    assert_eq!(a.images[0].src, "http://grafana/i.png");
}

#[test]
fn plain_text_gives_one_trigger() {
    let body = b"\n\n  [FIRING:1] Disk full on db-1  \nmore text\n";
    let events = parse_webhook(body).unwrap();
    assert_eq!(events.len(), 1);
    let e = &events[0];
    check_event(e);
    assert_eq!(e.action, AlertAction::Trigger);
    assert_eq!(e.format, AlertFormat::Grafana);
    assert_eq!(e.summary, "[FIRING:1] Disk full on db-1");
    assert_eq!(
        e.dedup_key,
        Some(fp("text", "[FIRING:1] Disk full on db-1"))
    );
    let raw: Value = serde_json::from_str(&e.raw).unwrap();
    assert_eq!(raw, json!({ "text": std::str::from_utf8(body).unwrap() }));
    assert_eq!(e.details, "{}");

    // Text that happens to be JSON but not an object is still text.
    let e = &parse_webhook(b"42").unwrap()[0];
    assert_eq!(e.summary, "42");
    // Long lines are cut; invalid UTF-8 is replaced, not refused.
    let long = "y".repeat(3000);
    let e = &parse_webhook(long.as_bytes()).unwrap()[0];
    assert_eq!(e.summary.len(), 1024);
    let e = &parse_webhook(b"disk \xff full").unwrap()[0];
    check_event(e);
}

#[test]
fn blank_body_is_refused() {
    for body in [&b""[..], b"   \n\t\n"] {
        assert_eq!(fields(&parse_webhook(body).unwrap_err()), ["body"]);
    }
}

#[test]
fn bad_alert_status_is_an_error() {
    let err = parse_webhook(br#"{"alerts":[{"status":"exploded"}]}"#).unwrap_err();
    assert_eq!(fields(&err), ["alerts[0].status"]);
}
