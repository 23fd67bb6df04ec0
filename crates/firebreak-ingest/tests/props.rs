//! No input panics, and whatever parses satisfies the event invariants.

mod common;

use std::collections::BTreeMap;

use common::{bytes, check_event, fixture_json};
use firebreak_domain::AlertAction;
use firebreak_ingest::{Rejected, alertmanager, generic, grafana, opsgenie, pagerduty};
use proptest::prelude::*;
use proptest::sample::Index;
use serde_json::{Map, Number, Value};

const FIXTURES: &[&str] = &[
    "alertmanager-webhook-v4-resolved.json",
    "alertmanager-webhook-v4.json",
    "grafana-webhook.json",
    "opsgenie-create-alert.json",
    "pagerduty-change-event.json",
    "pagerduty-events-v2-acknowledge.json",
    "pagerduty-events-v2-resolve.json",
    "pagerduty-events-v2-trigger.json",
];

/// Keys the parsers look at, so that generated objects often hit real fields.
const KEYS: &[&str] = &[
    "routing_key",
    "event_action",
    "dedup_key",
    "payload",
    "summary",
    "source",
    "severity",
    "timestamp",
    "component",
    "group",
    "class",
    "custom_details",
    "images",
    "links",
    "href",
    "text",
    "src",
    "alt",
    "client",
    "client_url",
    "message",
    "alias",
    "priority",
    "tags",
    "entity",
    "details",
    "description",
    "note",
    "user",
    "responders",
    "actions",
    "alerts",
    "status",
    "labels",
    "annotations",
    "startsAt",
    "endsAt",
    "generatorURL",
    "fingerprint",
    "externalURL",
    "receiver",
    "groupKey",
    "title",
    "state",
    "dashboardURL",
    "panelURL",
    "silenceURL",
    "imageURL",
    "values",
    "valueString",
    "ruleId",
    "commonLabels",
    "starts_at",
    "ends_at",
    "version",
    "commit",
    "author",
    "alertname",
    "instance",
    "job",
    "token",
];

/// Strings the parsers give meaning to, plus arbitrary ones.
fn arb_string() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec![
            "",
            " ",
            "trigger",
            "acknowledge",
            "resolve",
            "firing",
            "resolved",
            "alerting",
            "ok",
            "critical",
            "error",
            "warning",
            "info",
            "P1",
            "P5",
            "p9",
            "crit",
            "2026-11-20T14:05:00Z",
            "0001-01-01T00:00:00Z",
            "2026-13-40T99:00:00Z",
            "[FIRING:1] x",
            "[",
            "é",
            "\u{0}",
        ])
        .prop_map(str::to_string),
        any::<String>(),
        "[a-z]{0,8}",
        (0usize..1300).prop_map(|n| "é".repeat(n)),
    ]
}

fn arb_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| Value::Number(n.into())),
        any::<f64>().prop_map(|f| Number::from_f64(f).map_or(Value::Null, Value::Number)),
        arb_string().prop_map(Value::String),
    ];
    leaf.prop_recursive(5, 64, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec(
                (
                    prop_oneof![
                        3 => prop::sample::select(KEYS).prop_map(str::to_string),
                        1 => any::<String>(),
                    ],
                    inner
                ),
                0..8
            )
            .prop_map(|entries| Value::Object(entries.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

fn check_rejected(r: &Rejected) {
    assert!(!r.errors.is_empty());
    for e in &r.errors {
        assert!(!e.field.is_empty());
        assert!(!e.message.is_empty());
    }
    assert!(!r.to_string().is_empty());
}

fn check_events(result: Result<Vec<firebreak_domain::AlertEvent>, Rejected>) {
    match result {
        Ok(events) => events.iter().for_each(check_event),
        Err(r) => check_rejected(&r),
    }
}

/// Runs every parser on `body`, checking what each one answers.
fn run_all(body: &[u8]) {
    match pagerduty::parse_event(body) {
        Ok(e) => {
            assert!(!e.routing_key.trim().is_empty());
            check_event(&e.event);
            let raw: Value = serde_json::from_str(&e.event.raw).unwrap();
            assert_eq!(raw["routing_key"], "[redacted]");
        }
        Err(e) => {
            check_rejected(&e.rejected);
            if let Some(k) = e.routing_key {
                assert!(!k.trim().is_empty());
            }
        }
    }
    match pagerduty::parse_change(body) {
        Ok(c) => {
            assert!(!c.summary.trim().is_empty());
            assert!(c.summary.chars().count() <= 1024);
            assert!(!c.version.trim().is_empty());
            serde_json::from_str::<Value>(&c.raw).unwrap();
        }
        Err(e) => check_rejected(&e.rejected),
    }
    match opsgenie::parse_create(body) {
        Ok(e) => check_event(&e),
        Err(r) => check_rejected(&r),
    }
    if let Err(r) = opsgenie::parse_action(body) {
        check_rejected(&r);
    }
    check_events(alertmanager::parse_webhook(body));
    check_events(grafana::parse_webhook(body));
    check_events(generic::parse(body));
}

/// JSON pointers to every value in `v`.
fn pointers(v: &Value, at: String, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            for (k, child) in m {
                let p = format!("{at}/{}", k.replace('~', "~0").replace('/', "~1"));
                out.push(p.clone());
                pointers(child, p, out);
            }
        }
        Value::Array(items) => {
            for (i, child) in items.iter().enumerate() {
                let p = format!("{at}/{i}");
                out.push(p.clone());
                pointers(child, p, out);
            }
        }
        _ => {}
    }
}

/// `fixture` with up to three of its values replaced by `replacements` (or removed, for `None`).
fn mutate(fixture: &str, edits: &[(Index, Option<Value>)]) -> Value {
    let mut v = fixture_json(fixture);
    for (index, replacement) in edits {
        let mut paths = Vec::new();
        pointers(&v, String::new(), &mut paths);
        if paths.is_empty() {
            break;
        }
        let path = index.get(&paths).clone();
        match replacement {
            Some(new) => {
                if let Some(slot) = v.pointer_mut(&path) {
                    *slot = new.clone();
                }
            }
            None => {
                let (parent, last) = path.rsplit_once('/').unwrap();
                match v.pointer_mut(parent) {
                    Some(Value::Object(m)) => {
                        m.remove(&last.replace("~1", "/").replace("~0", "~"));
                    }
                    Some(Value::Array(items)) => {
                        if let Ok(i) = last.parse::<usize>()
                            && i < items.len()
                        {
                            items.remove(i);
                        }
                    }
                    _ => {}
                }
            }
        }
    }
    v
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic(body in prop::collection::vec(any::<u8>(), 0..600)) {
        run_all(&body);
    }

    #[test]
    fn arbitrary_text_never_panics(body in any::<String>()) {
        run_all(body.as_bytes());
    }

    #[test]
    fn arbitrary_json_never_panics(value in arb_json()) {
        run_all(&bytes(&value));
    }

    #[test]
    fn arbitrary_json_batches_never_panic(
        top in arb_json(),
        alerts in prop::collection::vec(arb_json(), 0..5),
        single in any::<bool>(),
    ) {
        let mut obj = match top { Value::Object(m) => m, _ => Map::new() };
        obj.insert("alerts".into(), Value::Array(alerts.clone()));
        run_all(&bytes(&Value::Object(obj)));
        // The generic format's array form.
        let body = if single { alerts.into_iter().next().unwrap_or(Value::Null) } else { Value::Array(alerts) };
        run_all(&bytes(&body));
    }

    #[test]
    fn mutated_fixtures_never_panic(
        fixture in prop::sample::select(FIXTURES),
        edits in prop::collection::vec((any::<Index>(), prop::option::weighted(0.8, arb_json())), 1..4),
    ) {
        run_all(&bytes(&mutate(fixture, &edits)));
    }

    #[test]
    fn truncated_fixtures_never_panic(
        fixture in prop::sample::select(FIXTURES),
        cut in any::<Index>(),
    ) {
        let body = common::fixture(fixture);
        run_all(&body[..cut.index(body.len() + 1)]);
    }

    /// Firing and resolved notifications of the same labels share a dedup key.
    #[test]
    fn alertmanager_firing_and_resolved_share_keys(
        labels in prop::collection::btree_map("[a-z_]{1,8}", "[ -~]{0,12}", 0..6),
        fingerprint in prop::option::of("[0-9a-f]{16}"),
    ) {
        let labels: BTreeMap<String, String> = labels;
        let alert = |status: &str| {
            let mut a = serde_json::json!({ "status": status, "labels": labels });
            if let Some(fp) = &fingerprint {
                a["fingerprint"] = Value::String(fp.clone());
            }
            bytes(&serde_json::json!({ "version": "4", "alerts": [a] }))
        };
        let firing = alertmanager::parse_webhook(&alert("firing")).unwrap();
        let resolved = alertmanager::parse_webhook(&alert("resolved")).unwrap();
        prop_assert_eq!(firing[0].action, AlertAction::Trigger);
        prop_assert_eq!(resolved[0].action, AlertAction::Resolve);
        prop_assert_eq!(&firing[0].dedup_key, &resolved[0].dedup_key);
        let expected = fingerprint.clone().unwrap_or_else(|| firebreak_ingest::fingerprint(&labels));
        prop_assert_eq!(firing[0].dedup_key.as_deref(), Some(expected.as_str()));
    }

    /// A generic event that is valid parses to exactly what it says.
    #[test]
    fn generic_valid_events_round_trip(
        summary in "[a-zA-Z0-9 ]{0,40}[a-z]",
        severity in prop::sample::select(vec!["critical", "error", "warning", "info"]),
        dedup_key in "[a-z/-]{1,40}",
        labels in prop::collection::btree_map("[a-z]{1,6}", "[a-z0-9]{0,6}", 0..5),
    ) {
        let body = serde_json::json!({
            "summary": summary, "severity": severity, "dedup_key": dedup_key,
            "status": "resolved", "labels": labels,
        });
        let events = generic::parse(&bytes(&body)).unwrap();
        prop_assert_eq!(events.len(), 1);
        let e = &events[0];
        check_event(e);
        prop_assert_eq!(&e.summary, &summary);
        prop_assert_eq!(e.severity.as_str(), severity);
        prop_assert_eq!(e.dedup_key.as_deref(), Some(dedup_key.as_str()));
        prop_assert_eq!(&e.labels, &labels);
        prop_assert_eq!(e.action, AlertAction::Resolve);
    }
}
