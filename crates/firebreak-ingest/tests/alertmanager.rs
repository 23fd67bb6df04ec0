mod common;

use std::collections::BTreeMap;

use common::{bytes, check_event, fields, fixture, fixture_json};
use firebreak_domain::{AlertAction, AlertFormat, AlertSeverity, Link};
use firebreak_ingest::alertmanager::{MAX_ALERTS, parse_webhook};
use firebreak_ingest::{NOTE_KEY, fingerprint};
use serde_json::{Value, json};

#[test]
fn firing_fixture() {
    let events = parse_webhook(&fixture("alertmanager-webhook-v4.json")).unwrap();
    assert_eq!(events.len(), 2);
    let fixture_alerts = fixture_json("alertmanager-webhook-v4.json")["alerts"].clone();
    for (i, e) in events.iter().enumerate() {
        check_event(e);
        assert_eq!(e.format, AlertFormat::Alertmanager);
        assert_eq!(e.action, AlertAction::Trigger);
        assert_eq!(e.severity, AlertSeverity::Critical);
        assert_eq!(e.summary, "5xx ratio above 5% on checkout");
        assert_eq!(e.ends_at, None, "Go's zero time means not ended");
        assert_eq!(e.labels["alertname"], "HighErrorRate");
        assert_eq!(e.labels["env"], "production");
        assert_eq!(e.labels.len(), 5);
        let mut links = vec![
            Link {
                href: "http://prometheus.example.com:9090/graph?g0.expr=job%3Ahttp_5xx_ratio%3Arate5m+%3E+0.05".into(),
                text: Some("Source".into()),
            },
            Link {
                href: "http://alertmanager.example.com:9093".into(),
                text: Some("Alertmanager".into()),
            },
        ];
        // The first alert's runbook_url annotation is its runbook.
        if i == 0 {
            links.push(Link {
                href: "https://runbooks.example.com/checkout/high-error-rate".into(),
                text: Some("Runbook".into()),
            });
        }
        assert_eq!(e.links, links);
        assert!(e.images.is_empty());
        // raw is the alert's own object and the group key, nothing else of the batch.
        let mut raw: Value = serde_json::from_str(&e.raw).unwrap();
        assert!(raw["groupKey"].as_str().unwrap().contains("HighErrorRate"));
        raw.as_object_mut().unwrap().remove("groupKey");
        assert_eq!(raw, fixture_alerts[i]);
    }
    let (a, b) = (&events[0], &events[1]);
    assert_eq!(a.dedup_key.as_deref(), Some("a1b2c3d4e5f60718"));
    assert_eq!(b.dedup_key.as_deref(), Some("0f1e2d3c4b5a6978"));
    assert_eq!(a.source, "checkout-7d9f-1");
    assert_eq!(b.source, "checkout-7d9f-2");
    assert_eq!(a.starts_at, Some("2026-11-20T14:02:11Z".parse().unwrap()));
    assert_eq!(b.starts_at, Some("2026-11-20T14:02:26Z".parse().unwrap()));
    let details: Value = serde_json::from_str(&a.details).unwrap();
    assert_eq!(
        details["annotations"]["description"],
        "5xx ratio is 12.3% over the last 5m"
    );
    assert!(
        details["generatorURL"]
            .as_str()
            .unwrap()
            .starts_with("http://prometheus")
    );
}

#[test]
fn resolved_fixture_resolves_the_same_dedup_keys() {
    let firing = parse_webhook(&fixture("alertmanager-webhook-v4.json")).unwrap();
    let resolved = parse_webhook(&fixture("alertmanager-webhook-v4-resolved.json")).unwrap();
    assert_eq!(resolved.len(), 1);
    let r = &resolved[0];
    check_event(r);
    assert_eq!(r.action, AlertAction::Resolve);
    assert_eq!(r.ends_at, Some("2026-11-20T14:31:40Z".parse().unwrap()));
    assert!(firing.iter().any(|f| f.dedup_key == r.dedup_key));
    assert_eq!(r.dedup_key, firing[0].dedup_key);
}

#[test]
fn without_fingerprints_the_label_hash_still_matches_firing_and_resolved() {
    let strip = |mut v: Value| {
        for a in v["alerts"].as_array_mut().unwrap() {
            a.as_object_mut().unwrap().remove("fingerprint");
        }
        v
    };
    let firing =
        parse_webhook(&bytes(&strip(fixture_json("alertmanager-webhook-v4.json")))).unwrap();
    let resolved = parse_webhook(&bytes(&strip(fixture_json(
        "alertmanager-webhook-v4-resolved.json",
    ))))
    .unwrap();
    let expected: BTreeMap<String, String> = [
        ("alertname", "HighErrorRate"),
        ("service", "checkout"),
        ("severity", "critical"),
        ("env", "production"),
        ("instance", "checkout-7d9f-1"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    assert_eq!(firing[0].dedup_key, Some(fingerprint(&expected)));
    assert_eq!(resolved[0].dedup_key, firing[0].dedup_key);
    assert_ne!(firing[0].dedup_key, firing[1].dedup_key);
}

#[test]
fn lenient_alert_defaults() {
    let body = json!({
        "status": "firing",
        "alerts": [
            {},
            { "labels": null, "annotations": null, "startsAt": "garbage", "endsAt": 5 },
            { "labels": { "alertname": "Up", "job": "node", "severity": "warn", "n": 3, "b": true } },
            { "labels": { "priority": "P1" }, "annotations": { "message": "from message" } },
            { "labels": { "severity": "weird" }, "annotations": { "summary": "x".repeat(2000) } },
        ]
    });
    let events = parse_webhook(&bytes(&body)).unwrap();
    assert_eq!(events.len(), 5);
    for e in &events {
        check_event(e);
        assert_eq!(e.action, AlertAction::Trigger);
    }
    assert_eq!(events[0].summary, "Alert from Alertmanager");
    assert_eq!(events[0].source, "alertmanager");
    assert_eq!(events[0].severity, AlertSeverity::Error);
    assert_eq!(events[0].dedup_key, Some(fingerprint(&BTreeMap::new())));
    assert_eq!(events[0].details, r#"{"annotations":{}}"#);
    assert_eq!(events[1].starts_at, None);
    assert_eq!(events[1].ends_at, None);
    let details: Value = serde_json::from_str(&events[1].details).unwrap();
    assert_eq!(
        details[NOTE_KEY],
        "alerts[1].startsAt \"garbage\" could not be read as a time; the receive time was used; \
         alerts[1].endsAt 5 could not be read as a time; the receive time was used"
    );
    assert_eq!(events[2].summary, "Up");
    assert_eq!(events[2].source, "node");
    assert_eq!(events[2].severity, AlertSeverity::Warning);
    assert_eq!(events[2].labels["n"], "3");
    assert_eq!(events[2].labels["b"], "true");
    assert_eq!(events[3].summary, "from message");
    assert_eq!(events[3].severity, AlertSeverity::Critical);
    assert_eq!(events[4].severity, AlertSeverity::Error);
    assert_eq!(events[4].summary.chars().count(), 1024);
}

#[test]
fn alert_status_wins_over_batch_status() {
    let body = json!({
        "status": "resolved",
        "alerts": [ { "status": "firing" }, { }, { "status": "" } ]
    });
    let actions: Vec<_> = parse_webhook(&bytes(&body))
        .unwrap()
        .iter()
        .map(|e| e.action)
        .collect();
    assert_eq!(
        actions,
        [
            AlertAction::Trigger,
            AlertAction::Resolve,
            AlertAction::Resolve
        ]
    );
}

#[test]
fn unknown_statuses_name_the_alert() {
    let body = json!({
        "alerts": [ { "status": "firing" }, { "status": "exploded" }, { "status": 3 }, "x" ]
    });
    let err = parse_webhook(&bytes(&body)).unwrap_err();
    assert_eq!(
        fields(&err),
        ["alerts[1].status", "alerts[2].status", "alerts[3]"]
    );
    let body = json!({ "status": "weird", "alerts": [ {}, {} ] });
    let err = parse_webhook(&bytes(&body)).unwrap_err();
    assert_eq!(fields(&err), ["status"]);
}

#[test]
fn alerts_must_be_an_array_but_may_be_empty() {
    assert!(
        parse_webhook(br#"{"version":"4","alerts":[]}"#)
            .unwrap()
            .is_empty()
    );
    assert!(parse_webhook(br#"{"alerts":[]}"#).unwrap().is_empty());
    for body in [
        &br#"{"version":"4"}"#[..],
        br#"{"alerts":{}}"#,
        br#"{"alerts":null}"#,
    ] {
        assert_eq!(fields(&parse_webhook(body).unwrap_err()), ["alerts"]);
    }
    for body in [&b"[]"[..], b"", b"{", b"\"x\""] {
        assert_eq!(fields(&parse_webhook(body).unwrap_err()), ["body"]);
    }
}

#[test]
fn raw_is_redacted_and_keeps_the_alerts_own_fields() {
    let body = json!({
        "receiver": "r", "groupKey": "g",
        "alerts": [ { "labels": { "token": "s3cret" }, "receiver": "mine" } ]
    });
    let e = &parse_webhook(&bytes(&body)).unwrap()[0];
    assert!(!e.raw.contains("s3cret"));
    let raw: Value = serde_json::from_str(&e.raw).unwrap();
    assert_eq!(raw["receiver"], "mine");
    assert_eq!(raw["groupKey"], "g");
    // Labels are the sender's, unredacted, for routing.
    assert_eq!(e.labels["token"], "s3cret");

    let body = json!({
        "receiver": "r", "groupKey": "g", "externalURL": "http://am", "commonLabels": { "a": "b" },
        "alerts": [ { "labels": { "a": "b" } } ]
    });
    let e = &parse_webhook(&bytes(&body)).unwrap()[0];
    assert_eq!(e.raw, r#"{"groupKey":"g","labels":{"a":"b"}}"#);
}

#[test]
fn at_most_1000_alerts_per_request() {
    let batch = |n: usize| {
        let alerts: Vec<Value> = (0..n)
            .map(|i| json!({ "labels": { "alertname": "A", "i": i.to_string() } }))
            .collect();
        bytes(&json!({ "receiver": "r", "alerts": alerts }))
    };
    assert_eq!(MAX_ALERTS, 1000);
    assert_eq!(parse_webhook(&batch(1000)).unwrap().len(), 1000);
    let err = parse_webhook(&batch(1001)).unwrap_err();
    assert_eq!(fields(&err), ["alerts"]);
    assert_eq!(
        err.to_string(),
        "'alerts' must hold at most 1000 alerts per request, not 1001; \
         `max_alerts` in Alertmanager's webhook_configs can cap it"
    );
}

#[test]
fn times_never_refuse_an_alert() {
    let alert = |starts: Value, ends: Value| {
        let body =
            json!({ "alerts": [ { "status": "resolved", "startsAt": starts, "endsAt": ends } ] });
        let events = parse_webhook(&bytes(&body)).unwrap();
        check_event(&events[0]);
        let details: Value = serde_json::from_str(&events[0].details).unwrap();
        (
            events[0].starts_at,
            events[0].ends_at,
            details[NOTE_KEY].clone(),
        )
    };
    let at = |s: &str| Some(s.parse().unwrap());
    assert_eq!(
        alert(json!("2026-11-20T14:05:00"), json!("2026-11-20 14:35:00.5")),
        (
            at("2026-11-20T14:05:00Z"),
            at("2026-11-20T14:35:00.5Z"),
            Value::Null
        )
    );
    assert_eq!(
        alert(
            json!("2026-11-20T14:05:00+00:00Z"),
            json!("0001-01-01T00:00:00Z")
        ),
        (at("2026-11-20T14:05:00Z"), None, Value::Null)
    );
    // A start at Go's zero time was not set: the receive time is used, and the alert says so.
    let (starts, ends, note) = alert(json!("0001-01-01T00:00:00Z"), json!("0001-01-01T00:00:00Z"));
    assert_eq!((starts, ends), (None, None));
    assert_eq!(
        note,
        "alerts[0].startsAt \"0001-01-01T00:00:00Z\" is Go's zero time (not set); the receive \
         time was used"
    );
    let (starts, ends, note) = alert(json!("9999-12-31T23:59:59Z"), json!("1970-01-01T00:00:00Z"));
    assert_eq!((starts, ends), (None, None));
    assert_eq!(
        note,
        "alerts[0].startsAt \"9999-12-31T23:59:59Z\" is outside the years 2000 to 2200; the \
         receive time was used; alerts[0].endsAt \"1970-01-01T00:00:00Z\" is outside the years \
         2000 to 2200; the receive time was used"
    );
}
