mod common;

use common::{bytes, check_event, fields, fixture, fixture_json};
use firebreak_domain::{AlertAction, AlertFormat, AlertSeverity};
use firebreak_ingest::opsgenie::{Action, alias_dedup_key, parse_action, parse_create};
use serde_json::{Value, json};

#[test]
fn create_fixture() {
    let e = parse_create(&fixture("opsgenie-create-alert.json")).unwrap();
    check_event(&e);
    assert_eq!(e.format, AlertFormat::Opsgenie);
    assert_eq!(e.action, AlertAction::Trigger);
    assert_eq!(e.dedup_key.as_deref(), Some("payments/gateway-timeouts"));
    assert_eq!(e.summary, "Payment gateway timeouts above threshold");
    assert_eq!(e.severity, AlertSeverity::Critical);
    assert_eq!(e.source, "datadog");
    assert_eq!(e.labels["tags"], "payments,prod");
    assert_eq!(e.labels["entity"], "payment-gateway");
    assert_eq!(e.labels["priority"], "P1");
    assert_eq!(e.labels.len(), 3);
    assert!(e.labels.keys().all(|k| !k.contains(':')));
    let details: Value = serde_json::from_str(&e.details).unwrap();
    assert_eq!(
        details,
        json!({
            "description": "Timeout ratio 7% for 10 minutes on payment-gateway",
            "note": "Auto-created by monitor 991",
            "responders": [ { "name": "payments", "type": "team" } ],
            "details": { "region": "us-east-1", "ratio": "0.07" },
        })
    );
    let raw: Value = serde_json::from_str(&e.raw).unwrap();
    assert_eq!(raw, fixture_json("opsgenie-create-alert.json"));
}

#[test]
fn priorities() {
    let cases = [
        (Some("P1"), AlertSeverity::Critical, "P1"),
        (Some("P2"), AlertSeverity::Error, "P2"),
        (Some("P3"), AlertSeverity::Warning, "P3"),
        (Some("p4"), AlertSeverity::Info, "P4"),
        (Some("P5"), AlertSeverity::Info, "P5"),
        (None, AlertSeverity::Warning, "P3"),
    ];
    for (priority, severity, label) in cases {
        let mut body = json!({ "message": "m" });
        if let Some(p) = priority {
            body["priority"] = json!(p);
        }
        let e = parse_create(&bytes(&body)).unwrap();
        assert_eq!(e.severity, severity);
        assert_eq!(e.labels["priority"], label);
    }
    for bad in [json!("P6"), json!("high"), json!(1)] {
        let err = parse_create(&bytes(&json!({ "message": "m", "priority": bad }))).unwrap_err();
        assert_eq!(fields(&err), ["priority"]);
    }
}

#[test]
fn defaults_and_source_fallbacks() {
    let e = parse_create(br#"{"message":"m"}"#).unwrap();
    check_event(&e);
    assert_eq!(e.dedup_key, None);
    assert_eq!(e.source, "opsgenie");
    assert_eq!(e.details, "{}");
    assert!(!e.labels.contains_key("tags"));
    let e = parse_create(br#"{"message":"m","entity":"db-1","alias":" "}"#).unwrap();
    assert_eq!(e.source, "db-1");
    assert_eq!(e.dedup_key, None);
}

#[test]
fn message_is_required_and_cut_to_1024() {
    for body in [json!({}), json!({ "message": "" }), json!({ "message": 4 })] {
        assert_eq!(
            fields(&parse_create(&bytes(&body)).unwrap_err()),
            ["message"]
        );
    }
    let e = parse_create(&bytes(&json!({ "message": "z".repeat(5000) }))).unwrap();
    assert_eq!(e.summary.len(), 1024);
}

#[test]
fn long_alias_is_hashed_consistently() {
    let alias = "a".repeat(400);
    let e = parse_create(&bytes(&json!({ "message": "m", "alias": alias }))).unwrap();
    check_event(&e);
    assert_eq!(e.dedup_key, Some(alias_dedup_key(&alias)));
    assert_eq!(alias_dedup_key(&alias).len(), 32);
    assert_eq!(alias_dedup_key("short"), "short");
}

#[test]
fn nul_in_an_alias_is_replaced_the_same_on_create_and_by_alias() {
    let alias = "db\u{0}primary";
    let e = parse_create(&bytes(&json!({ "message": "m\u{0}", "alias": alias }))).unwrap();
    check_event(&e);
    assert_eq!(e.dedup_key.as_deref(), Some("db\u{FFFD}primary"));
    assert_eq!(e.dedup_key, Some(alias_dedup_key(alias)));
    assert_eq!(e.summary, "m\u{FFFD}");
    let long = "\u{0}".repeat(300);
    let e = parse_create(&bytes(&json!({ "message": "m", "alias": long }))).unwrap();
    assert_eq!(e.dedup_key, Some(alias_dedup_key(&long)));
    assert_eq!(
        alias_dedup_key(&long),
        alias_dedup_key(&"\u{FFFD}".repeat(300))
    );
}

#[test]
fn all_type_errors_are_collected() {
    let body = json!({
        "message": "m", "alias": 1, "tags": ["ok", 2], "details": "x",
        "responders": {}, "actions": "a", "user": [], "note": false, "description": 3,
        "entity": {}, "source": 9
    });
    let err = parse_create(&bytes(&body)).unwrap_err();
    let mut got = fields(&err);
    got.sort();
    assert_eq!(
        got,
        [
            "actions",
            "alias",
            "description",
            "details",
            "entity",
            "note",
            "responders",
            "source",
            "tags[1]",
            "user"
        ]
    );
    let err = parse_create(br#"{"message":"m","tags":"a,b"}"#).unwrap_err();
    assert_eq!(fields(&err), ["tags"]);
    assert_eq!(fields(&parse_create(b"[1]").unwrap_err()), ["body"]);
    assert_eq!(fields(&parse_create(b"{").unwrap_err()), ["body"]);
}

#[test]
fn secrets_in_details_are_redacted() {
    let body =
        json!({ "message": "m", "details": { "apiKey": "k1", "region": "eu" }, "apiKey": "k2" });
    let e = parse_create(&bytes(&body)).unwrap();
    assert!(!e.raw.contains("k1") && !e.raw.contains("k2"));
    assert!(!e.details.contains("k1"));
    assert!(e.details.contains("eu"));
}

#[test]
fn action_bodies() {
    assert_eq!(parse_action(b"").unwrap(), Action::default());
    assert_eq!(parse_action(b"  \n").unwrap(), Action::default());
    assert_eq!(parse_action(b"{}").unwrap(), Action::default());
    assert_eq!(parse_action(b"null").unwrap(), Action::default());
    assert_eq!(
        parse_action(br#"{"user":"ann","source":"alertmanager","note":"fixed","extra":1}"#)
            .unwrap(),
        Action {
            user: Some("ann".into()),
            source: Some("alertmanager".into()),
            note: Some("fixed".into()),
        }
    );
    let err = parse_action(br#"{"user":1,"note":[]}"#).unwrap_err();
    assert_eq!(fields(&err), ["user", "note"]);
    assert_eq!(fields(&parse_action(b"[]").unwrap_err()), ["body"]);
    assert_eq!(fields(&parse_action(b"{oops").unwrap_err()), ["body"]);
}
