mod common;

use common::{bytes, check_event, fields};
use firebreak_domain::{AlertAction, AlertFormat, AlertSeverity, Image, Link};
use firebreak_ingest::NOTE_KEY;
use firebreak_ingest::generic::parse;
use serde_json::{Value, json};

#[test]
fn full_object() {
    let body = json!({
        "summary": "Queue backlog above 10k",
        "severity": "warning",
        "dedup_key": "queue/backlog",
        "status": "firing",
        "source": "worker-3",
        "labels": { "team": "billing", "env": "prod" },
        "details": { "depth": 10423, "password": "hunter2" },
        "links": [ { "href": "https://grafana/d/q", "text": "Queue" }, { "href": "https://x" } ],
        "images": [ { "src": "https://img/q.png", "alt": "graph" } ],
        "starts_at": "2026-11-20T10:00:00Z",
        "unknown_field": { "ignored": true }
    });
    let events = parse(&bytes(&body)).unwrap();
    assert_eq!(events.len(), 1);
    let e = &events[0];
    check_event(e);
    assert_eq!(e.format, AlertFormat::Generic);
    assert_eq!(e.action, AlertAction::Trigger);
    assert_eq!(e.severity, AlertSeverity::Warning);
    assert_eq!(e.dedup_key.as_deref(), Some("queue/backlog"));
    assert_eq!(e.source, "worker-3");
    assert_eq!(e.labels.len(), 2);
    assert_eq!(e.labels["team"], "billing");
    let details: Value = serde_json::from_str(&e.details).unwrap();
    assert_eq!(details, json!({ "depth": 10423, "password": "[redacted]" }));
    assert_eq!(
        e.links,
        vec![
            Link {
                href: "https://grafana/d/q".into(),
                text: Some("Queue".into())
            },
            Link {
                href: "https://x".into(),
                text: None
            },
        ]
    );
    assert_eq!(
        e.images,
        vec![Image {
            src: "https://img/q.png".into(),
            href: None,
            alt: Some("graph".into())
        }]
    );
    assert_eq!(e.starts_at, Some("2026-11-20T10:00:00Z".parse().unwrap()));
    assert_eq!(e.ends_at, None);
    assert!(!e.raw.contains("hunter2"));
    assert!(e.raw.contains("unknown_field"));
}

#[test]
fn defaults() {
    let e = &parse(br#"{"summary":"s"}"#).unwrap()[0];
    check_event(e);
    assert_eq!(e.severity, AlertSeverity::Error);
    assert_eq!(e.action, AlertAction::Trigger);
    assert_eq!(e.source, "generic");
    assert_eq!(e.dedup_key, None);
    assert_eq!(e.details, "{}");
    assert!(e.labels.is_empty() && e.links.is_empty() && e.images.is_empty());
}

#[test]
fn resolve_needs_a_dedup_key() {
    let err = parse(br#"{"summary":"s","status":"resolved"}"#).unwrap_err();
    assert_eq!(fields(&err), ["dedup_key"]);
    assert_eq!(
        err.to_string(),
        "'dedup_key' is required to resolve an alert"
    );
    let e = &parse(br#"{"summary":"s","status":"resolved","dedup_key":"k"}"#).unwrap()[0];
    assert_eq!(e.action, AlertAction::Resolve);
}

#[test]
fn array_errors_name_the_index() {
    let body = json!([
        { "summary": "ok" },
        { "summary": "", "severity": "loud" },
        7,
        { "summary": "s", "labels": { "n": 1, "ok": "x" }, "status": "maybe" },
        { "summary": "s", "dedup_key": "k".repeat(256), "ends_at": "soon", "details": [] },
    ]);
    let err = parse(&bytes(&body)).unwrap_err();
    assert_eq!(
        fields(&err),
        [
            "[1].summary",
            "[1].severity",
            "[2]",
            "[3].status",
            "[3].labels.n",
            "[4].dedup_key",
            "[4].details",
        ]
    );
    let events = parse(&bytes(&json!([{ "summary": "a" }, { "summary": "b" }]))).unwrap();
    assert_eq!(
        events
            .iter()
            .map(|e| e.summary.as_str())
            .collect::<Vec<_>>(),
        ["a", "b"]
    );
    assert!(parse(b"[]").unwrap().is_empty());
}

#[test]
fn limits() {
    let ok = json!({ "summary": "x".repeat(1024), "dedup_key": "k".repeat(255) });
    assert!(parse(&bytes(&ok)).is_ok());
    let err = parse(&bytes(&json!({ "summary": "x".repeat(1025) }))).unwrap_err();
    assert_eq!(fields(&err), ["summary"]);
    let many: Vec<Value> = (0..1001).map(|_| json!({ "summary": "s" })).collect();
    assert_eq!(
        fields(&parse(&bytes(&Value::Array(many))).unwrap_err()),
        ["body"]
    );
    let most: Vec<Value> = (0..1000).map(|_| json!({ "summary": "s" })).collect();
    assert_eq!(parse(&bytes(&Value::Array(most))).unwrap().len(), 1000);
}

#[test]
fn wrong_shapes() {
    for body in [&b"\"s\""[..], b"1", b"null", b"", b"{"] {
        assert_eq!(fields(&parse(body).unwrap_err()), ["body"]);
    }
    let body = json!({
        "summary": 1, "severity": 2, "source": 3, "labels": [], "links": {}, "images": [{}],
        "starts_at": 5
    });
    let rejected = parse(&bytes(&body)).unwrap_err();
    let mut got = fields(&rejected);
    got.sort();
    assert_eq!(
        got,
        [
            "images[0].src",
            "labels",
            "links",
            "severity",
            "source",
            "summary"
        ]
    );
}

#[test]
fn unusable_times_are_noted_not_refused() {
    let body = json!([
        { "summary": "a", "starts_at": "soon", "ends_at": 5 },
        { "summary": "b", "starts_at": "2026-11-20T14:05:00", "ends_at": "2026-11-20T15:05:00.123456+00:00Z" },
        { "summary": "c", "starts_at": "1999-12-31T23:59:59Z", "details": { "firebreak_note": "mine", "x": 1 } },
        { "summary": "d", "details": { "firebreak_note": "kept when there is nothing to say" } },
    ]);
    let events = parse(&bytes(&body)).unwrap();
    events.iter().for_each(check_event);
    let details = |i: usize| serde_json::from_str::<Value>(&events[i].details).unwrap();
    assert_eq!((events[0].starts_at, events[0].ends_at), (None, None));
    assert_eq!(
        details(0),
        json!({ NOTE_KEY: "[0].starts_at \"soon\" could not be read as a time; the receive time \
            was used; [0].ends_at 5 could not be read as a time; the receive time was used" })
    );
    assert_eq!(
        events[1].starts_at,
        Some("2026-11-20T14:05:00Z".parse().unwrap())
    );
    assert_eq!(
        events[1].ends_at,
        Some("2026-11-20T15:05:00.123456Z".parse().unwrap())
    );
    assert_eq!(events[1].details, "{}");
    assert_eq!(
        details(2),
        json!({ "x": 1, NOTE_KEY: "[2].starts_at \"1999-12-31T23:59:59Z\" is outside the years \
            2000 to 2200; the receive time was used" })
    );
    assert_eq!(details(3)[NOTE_KEY], "kept when there is nothing to say");

    // A single object's fields have no index.
    let e = &parse(br#"{"summary":"s","starts_at":"x"}"#).unwrap()[0];
    assert!(
        e.details.contains(r#"starts_at \"x\" could not"#),
        "{}",
        e.details
    );
}
