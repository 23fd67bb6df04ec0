mod common;

use common::{bytes, check_event, fields, fixture, fixture_json};
use firebreak_domain::{AlertAction, AlertFormat, AlertSeverity, Image, Link};
use firebreak_ingest::NOTE_KEY;
use firebreak_ingest::pagerduty::{parse_change, parse_event};
use serde_json::{Value, json};

const KEY: &str = "R0UT1NGKEY0000000000000000000001";

fn trigger() -> Value {
    fixture_json("pagerduty-events-v2-trigger.json")
}

fn rejected_fields(body: &Value) -> Vec<String> {
    let err = parse_event(&bytes(body)).unwrap_err();
    err.rejected
        .errors
        .iter()
        .map(|e| e.field.clone())
        .collect()
}

#[test]
fn trigger_fixture() {
    let parsed = parse_event(&fixture("pagerduty-events-v2-trigger.json")).unwrap();
    assert_eq!(parsed.routing_key, KEY);
    let e = parsed.event;
    check_event(&e);
    assert_eq!(e.format, AlertFormat::PagerDuty);
    assert_eq!(e.action, AlertAction::Trigger);
    assert_eq!(e.dedup_key.as_deref(), Some("checkout/high-latency"));
    assert_eq!(e.severity, AlertSeverity::Critical);
    assert_eq!(e.summary, "p99 latency 2.4s on checkout (SLO 500ms)");
    assert_eq!(e.source, "checkout-7d9f-1.prod");
    assert_eq!(e.labels["component"], "checkout-api");
    assert_eq!(e.labels["group"], "prod-eu-west");
    assert_eq!(e.labels["class"], "latency");
    assert_eq!(e.labels.len(), 3);
    assert_eq!(e.starts_at, Some("2026-11-20T14:05:00Z".parse().unwrap()));
    assert_eq!(e.ends_at, None);
    let details: Value = serde_json::from_str(&e.details).unwrap();
    assert_eq!(
        details["custom_details"],
        json!({ "p99_ms": 2400, "slo_ms": 500, "region": "eu-west-1" })
    );
    assert_eq!(details["component"], "checkout-api");
    assert_eq!(details["client"], "Synthetic Monitor");
    assert_eq!(
        e.links,
        vec![
            Link {
                href: "https://dashboards.example.com/d/checkout".into(),
                text: Some("Checkout dashboard".into()),
            },
            Link {
                href: "https://monitor.example.com/checks/42".into(),
                text: Some("Synthetic Monitor".into()),
            },
        ]
    );
    assert_eq!(
        e.images,
        vec![Image {
            src: "https://dashboards.example.com/render/checkout.png".into(),
            href: Some("https://dashboards.example.com/d/checkout".into()),
            alt: Some("latency graph".into()),
        }]
    );
    // raw is the body, redacted.
    let raw: Value = serde_json::from_str(&e.raw).unwrap();
    assert_eq!(raw["routing_key"], "[redacted]");
    assert_eq!(
        raw["payload"]["summary"],
        "p99 latency 2.4s on checkout (SLO 500ms)"
    );
    assert!(!e.raw.contains(KEY));
}

#[test]
fn acknowledge_and_resolve_fixtures() {
    for (file, action) in [
        (
            "pagerduty-events-v2-acknowledge.json",
            AlertAction::Acknowledge,
        ),
        ("pagerduty-events-v2-resolve.json", AlertAction::Resolve),
    ] {
        let parsed = parse_event(&fixture(file)).unwrap();
        assert_eq!(parsed.routing_key, KEY);
        let e = parsed.event;
        check_event(&e);
        assert_eq!(e.action, action);
        assert_eq!(e.format, AlertFormat::PagerDuty);
        assert_eq!(e.dedup_key.as_deref(), Some("checkout/high-latency"));
        assert!(!e.raw.contains(KEY));
        assert_eq!(e.details, "{}");
    }
}

#[test]
fn missing_summary_names_the_field() {
    let mut body = trigger();
    body["payload"].as_object_mut().unwrap().remove("summary");
    let err = parse_event(&bytes(&body)).unwrap_err();
    assert_eq!(err.routing_key.as_deref(), Some(KEY));
    assert_eq!(err.rejected.errors.len(), 1);
    assert_eq!(err.rejected.errors[0].field, "payload.summary");
    assert_eq!(
        err.rejected.to_string(),
        "'payload.summary' is missing or blank"
    );
    body["payload"]["summary"] = json!("   ");
    assert_eq!(rejected_fields(&body), ["payload.summary"]);
}

#[test]
fn summary_limit_is_1024_characters() {
    let mut body = trigger();
    body["payload"]["summary"] = json!("é".repeat(1024));
    let ok = parse_event(&bytes(&body)).unwrap();
    assert_eq!(ok.event.summary.chars().count(), 1024);
    body["payload"]["summary"] = json!("x".repeat(1025));
    let err = parse_event(&bytes(&body)).unwrap_err();
    assert_eq!(err.rejected.errors[0].field, "payload.summary");
    assert_eq!(
        err.rejected.errors[0].message,
        "must be at most 1024 characters"
    );
}

#[test]
fn dedup_key_limit_is_255_characters() {
    let mut body = trigger();
    body["dedup_key"] = json!("k".repeat(255));
    assert!(parse_event(&bytes(&body)).is_ok());
    body["dedup_key"] = json!("k".repeat(256));
    let err = parse_event(&bytes(&body)).unwrap_err();
    assert_eq!(fields(&err.rejected), ["dedup_key"]);
    assert_eq!(
        err.rejected.errors[0].message,
        "must be at most 255 characters"
    );
}

#[test]
fn trigger_without_dedup_key_is_fine() {
    let mut body = trigger();
    body.as_object_mut().unwrap().remove("dedup_key");
    assert_eq!(parse_event(&bytes(&body)).unwrap().event.dedup_key, None);
    body["dedup_key"] = json!("");
    assert_eq!(parse_event(&bytes(&body)).unwrap().event.dedup_key, None);
}

#[test]
fn bad_severity_lists_the_allowed_values() {
    for bad in [json!("CRITICAL"), json!("sev1"), json!(3), json!(null)] {
        let mut body = trigger();
        body["payload"]["severity"] = bad;
        let err = parse_event(&bytes(&body)).unwrap_err();
        assert_eq!(fields(&err.rejected), ["payload.severity"]);
        assert_eq!(
            err.rejected.errors[0].message,
            "must be one of critical, error, warning, info"
        );
    }
}

#[test]
fn bad_event_action_lists_the_allowed_values() {
    for bad in [json!("Trigger"), json!("close"), json!(1)] {
        let mut body = trigger();
        body["event_action"] = bad;
        let err = parse_event(&bytes(&body)).unwrap_err();
        assert_eq!(err.routing_key.as_deref(), Some(KEY));
        assert_eq!(fields(&err.rejected), ["event_action"]);
        assert_eq!(
            err.rejected.errors[0].message,
            "must be one of trigger, acknowledge, resolve"
        );
    }
    let mut body = trigger();
    body.as_object_mut().unwrap().remove("event_action");
    assert_eq!(rejected_fields(&body), ["event_action"]);
}

#[test]
fn invalid_json_names_the_body_with_position() {
    let err = parse_event(b"{\"routing_key\": \"abc\",\n  \"event_action\": }").unwrap_err();
    assert_eq!(err.routing_key, None);
    assert_eq!(fields(&err.rejected), ["body"]);
    let message = &err.rejected.errors[0].message;
    assert!(message.contains("line 2"), "{message}");
    assert!(message.contains("column"), "{message}");
    for body in [&b""[..], b"[]", b"\"text\"", b"42", b"null"] {
        let err = parse_event(body).unwrap_err();
        assert_eq!(fields(&err.rejected), ["body"]);
        assert_eq!(err.routing_key, None);
    }
}

#[test]
fn wrong_types_name_the_field_and_all_errors_are_collected() {
    let body = json!({
        "routing_key": KEY,
        "event_action": "trigger",
        "dedup_key": 12,
        "payload": {
            "summary": 5,
            "source": ["a"],
            "severity": "bad",
            "component": {},
        },
        "links": [{ "text": "no href" }, "x"],
        "images": {},
        "client": 1,
        "client_url": false,
    });
    let err = parse_event(&bytes(&body)).unwrap_err();
    assert_eq!(err.routing_key.as_deref(), Some(KEY));
    let mut got = fields(&err.rejected);
    got.sort();
    let mut want = vec![
        "dedup_key",
        "payload.summary",
        "payload.source",
        "payload.severity",
        "payload.component",
        "links[0].href",
        "links[1]",
        "images",
        "client",
        "client_url",
    ];
    want.sort();
    assert_eq!(got, want);
    let by_field = |f: &str| {
        err.rejected
            .errors
            .iter()
            .find(|e| e.field == f)
            .unwrap()
            .message
            .clone()
    };
    assert_eq!(by_field("payload.summary"), "must be a string");
    assert_eq!(by_field("dedup_key"), "must be a string");
    // Display joins them all.
    assert_eq!(err.to_string().matches("; ").count(), want.len() - 1);
}

#[test]
fn routing_key_is_returned_with_other_errors_but_only_when_present() {
    let body = json!({ "routing_key": "abc", "event_action": "nope" });
    assert_eq!(
        parse_event(&bytes(&body))
            .unwrap_err()
            .routing_key
            .as_deref(),
        Some("abc")
    );
    for key in [json!(""), json!("  "), json!(7), json!(null)] {
        let body = json!({ "routing_key": key, "event_action": "resolve", "dedup_key": "k" });
        let err = parse_event(&bytes(&body)).unwrap_err();
        assert_eq!(err.routing_key, None);
        assert_eq!(fields(&err.rejected), ["routing_key"]);
    }
    let body = json!({ "event_action": "resolve", "dedup_key": "k" });
    let err = parse_event(&bytes(&body)).unwrap_err();
    assert_eq!(
        err.rejected.errors[0].to_string(),
        "'routing_key' is missing or blank"
    );
}

#[test]
fn missing_payload_on_trigger() {
    let mut body = trigger();
    body.as_object_mut().unwrap().remove("payload");
    assert_eq!(rejected_fields(&body), ["payload"]);
    body["payload"] = json!("text");
    assert_eq!(rejected_fields(&body), ["payload"]);
}

#[test]
fn acknowledge_and_resolve_need_a_dedup_key_and_ignore_the_payload() {
    for action in ["acknowledge", "resolve"] {
        let body = json!({ "routing_key": KEY, "event_action": action });
        let err = parse_event(&bytes(&body)).unwrap_err();
        assert_eq!(fields(&err.rejected), ["dedup_key"]);
        assert_eq!(
            err.rejected.errors[0].message,
            format!("is required to {action} an alert")
        );
        let body = json!({ "routing_key": KEY, "event_action": action, "dedup_key": " " });
        assert_eq!(rejected_fields(&body), ["dedup_key"]);
        let body = json!({
            "routing_key": KEY, "event_action": action, "dedup_key": "k",
            "payload": { "summary": 1, "severity": "nope" }
        });
        let e = parse_event(&bytes(&body)).unwrap().event;
        check_event(&e);
        assert_eq!(e.dedup_key.as_deref(), Some("k"));
    }
}

#[test]
fn offsets_are_understood() {
    let mut body = trigger();
    body["payload"]["timestamp"] = json!("2026-11-20T16:05:00+02:00");
    assert_eq!(
        parse_event(&bytes(&body)).unwrap().event.starts_at,
        Some("2026-11-20T14:05:00Z".parse().unwrap())
    );
}

#[test]
fn unusable_timestamp_still_triggers_with_a_note() {
    let cases = [
        (
            json!("yesterday"),
            "\"yesterday\" could not be read as a time",
        ),
        (json!(1763647500), "1763647500 could not be read as a time"),
        (
            json!("2201-01-01T00:00:00Z"),
            "\"2201-01-01T00:00:00Z\" is outside the years 2000 to 2200",
        ),
        (
            json!("1970-01-01T00:00:00Z"),
            "\"1970-01-01T00:00:00Z\" is outside the years 2000 to 2200",
        ),
        (
            json!("0001-01-01T00:00:00Z"),
            "\"0001-01-01T00:00:00Z\" is Go's zero time (not set)",
        ),
        (
            json!("-009999-01-01T00:00:00Z"),
            "\"-009999-01-01T00:00:00Z\" is outside the years 2000 to 2200",
        ),
    ];
    for (timestamp, says) in cases {
        let mut body = trigger();
        body["payload"]["timestamp"] = timestamp;
        let e = parse_event(&bytes(&body)).unwrap().event;
        check_event(&e);
        assert_eq!(e.starts_at, None);
        let details: Value = serde_json::from_str(&e.details).unwrap();
        assert_eq!(
            details[NOTE_KEY],
            format!("payload.timestamp {says}; the receive time was used")
        );
        // The rest of the details are as before.
        assert_eq!(details["client"], "Synthetic Monitor");
    }
}

#[test]
fn timestamps_from_python_clients_and_without_offsets() {
    for (text, expected) in [
        (
            "2026-11-20T14:05:00.123456+00:00Z",
            "2026-11-20T14:05:00.123456Z",
        ),
        ("2026-11-20T14:05:00", "2026-11-20T14:05:00Z"),
        ("2026-11-20T14:05:00.123", "2026-11-20T14:05:00.123Z"),
        ("2026-11-20 14:05:00", "2026-11-20T14:05:00Z"),
        ("2200-12-31T23:59:59Z", "2200-12-31T23:59:59Z"),
    ] {
        let mut body = trigger();
        body["payload"]["timestamp"] = json!(text);
        let e = parse_event(&bytes(&body)).unwrap().event;
        assert_eq!(e.starts_at, Some(expected.parse().unwrap()), "{text}");
        assert!(!e.details.contains(NOTE_KEY), "{text}");
    }
}

#[test]
fn change_event_with_an_unusable_timestamp_is_recorded() {
    let mut body = fixture_json("pagerduty-change-event.json");
    body["payload"]["timestamp"] = json!("last tuesday");
    let c = parse_change(&bytes(&body)).unwrap();
    assert_eq!(c.at, None);
    assert_eq!(
        c.note.as_deref(),
        Some(
            "payload.timestamp \"last tuesday\" could not be read as a time; the receive time was used"
        )
    );
    assert_eq!(c.version, "v2.14.0");
    body["payload"]["timestamp"] = json!("2026-11-20T13:58:30.5+00:00Z");
    let c = parse_change(&bytes(&body)).unwrap();
    assert_eq!(c.at, Some("2026-11-20T13:58:30.5Z".parse().unwrap()));
    assert_eq!(c.note, None);
}

#[test]
fn custom_details_may_be_any_json() {
    for custom in [
        json!("text"),
        json!([1, 2]),
        json!(3.5),
        json!({"password": "x"}),
    ] {
        let mut body = trigger();
        body["payload"]["custom_details"] = custom.clone();
        let e = parse_event(&bytes(&body)).unwrap().event;
        check_event(&e);
        let details: Value = serde_json::from_str(&e.details).unwrap();
        if custom.is_object() {
            assert_eq!(details["custom_details"]["password"], "[redacted]");
        } else {
            assert_eq!(details["custom_details"], custom);
        }
    }
}

#[test]
fn change_event_fixture() {
    let c = parse_change(&fixture("pagerduty-change-event.json")).unwrap();
    assert_eq!(c.routing_key, KEY);
    assert_eq!(c.summary, "Deploy checkout-api v2.14.0 (build 8812)");
    assert_eq!(c.source.as_deref(), Some("ci.example.com"));
    assert_eq!(c.at, Some("2026-11-20T13:58:30Z".parse().unwrap()));
    assert_eq!(c.version, "v2.14.0");
    assert_eq!(c.previous_version.as_deref(), Some("v2.13.4"));
    assert_eq!(c.commit.as_deref(), Some("9fceb02"));
    assert_eq!(c.author.as_deref(), Some("release-bot"));
    assert_eq!(
        c.link.as_deref(),
        Some("https://ci.example.com/pipelines/8812")
    );
    assert!(!c.raw.contains(KEY));
    assert!(c.raw.contains("[redacted]"));
    assert_eq!(c.note, None);
}

#[test]
fn change_event_alternative_keys_numbers_and_fallbacks() {
    let body = json!({
        "routing_key": "rk",
        "payload": {
            "summary": "Deployed",
            "custom_details": { "build": 8812, "old_version": 8811, "git_sha": "abc", "triggered_by": "ci" }
        }
    });
    let c = parse_change(&bytes(&body)).unwrap();
    assert_eq!(c.version, "8812");
    assert_eq!(c.previous_version.as_deref(), Some("8811"));
    assert_eq!(c.commit.as_deref(), Some("abc"));
    assert_eq!(c.author.as_deref(), Some("ci"));
    assert_eq!(c.source, None);
    assert_eq!(c.at, None);
    assert_eq!(c.link, None);

    let long = "s".repeat(300);
    let body = json!({ "routing_key": "rk", "payload": { "summary": long } });
    let c = parse_change(&bytes(&body)).unwrap();
    assert_eq!(c.version, "s".repeat(200));
}

#[test]
fn change_event_errors() {
    let body = json!({ "payload": { "summary": "" , "timestamp": "never", "custom_details": [] } });
    let err = parse_change(&bytes(&body)).unwrap_err();
    assert_eq!(err.routing_key, None);
    let mut got = fields(&err.rejected);
    got.sort();
    assert_eq!(
        got,
        ["payload.custom_details", "payload.summary", "routing_key"]
    );
    let body = json!({ "routing_key": "rk", "payload": { "summary": "x".repeat(1025) } });
    let err = parse_change(&bytes(&body)).unwrap_err();
    assert_eq!(err.routing_key.as_deref(), Some("rk"));
    assert_eq!(fields(&err.rejected), ["payload.summary"]);
    let err = parse_change(&bytes(&json!({ "routing_key": "rk" }))).unwrap_err();
    assert_eq!(fields(&err.rejected), ["payload"]);
    let err = parse_change(b"not json").unwrap_err();
    assert_eq!(fields(&err.rejected), ["body"]);
}
