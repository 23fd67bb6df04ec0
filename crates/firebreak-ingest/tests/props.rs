//! No input panics, and whatever parses satisfies the event invariants.

mod common;

use std::collections::BTreeMap;

use common::{assert_no_nul, assert_no_nul_in_change, bytes, check_event, fixture_json};
use firebreak_domain::AlertAction;
use firebreak_ingest::{NOTE_KEY, Rejected, alertmanager, generic, grafana, opsgenie, pagerduty};
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
            "2026-11-20T14:05:00.123456+00:00Z",
            "2026-11-20T14:05:00",
            "-009999-01-01T00:00:00Z",
            "9999-12-31T23:59:59Z",
            "2201-01-01T00:00:00Z",
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
        assert_no_nul([e.field.as_str(), &e.message]);
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
            assert_no_nul([e.routing_key.as_str()]);
            check_event(&e.event);
            let raw: Value = serde_json::from_str(&e.event.raw).unwrap();
            assert_eq!(raw["routing_key"], "[redacted]");
        }
        Err(e) => {
            check_rejected(&e.rejected);
            if let Some(k) = e.routing_key {
                assert!(!k.trim().is_empty());
                assert_no_nul([k.as_str()]);
            }
        }
    }
    match pagerduty::parse_change(body) {
        Ok(c) => {
            assert!(!c.summary.trim().is_empty());
            assert!(c.summary.chars().count() <= 1024);
            assert!(!c.version.trim().is_empty());
            serde_json::from_str::<Value>(&c.raw).unwrap();
            assert_no_nul_in_change(&c);
            if let Some(at) = c.at {
                assert!(firebreak_ingest::in_accepted_range(at));
            }
        }
        Err(e) => check_rejected(&e.rejected),
    }
    match opsgenie::parse_create(body) {
        Ok(e) => check_event(&e),
        Err(r) => check_rejected(&r),
    }
    match opsgenie::parse_action(body) {
        Ok(a) => assert_no_nul(
            [&a.user, &a.source, &a.note]
                .into_iter()
                .filter_map(|t| t.as_deref()),
        ),
        Err(r) => check_rejected(&r),
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

/// `text` with NUL characters inserted at the character positions `at` picks.
fn with_nuls(text: &str, at: &[Index]) -> String {
    let mut chars: Vec<char> = text.chars().collect();
    for index in at {
        let i = index.index(chars.len() + 1);
        chars.insert(i, '\0');
    }
    chars.into_iter().collect()
}

/// `value` with NULs put into strings and object keys: the `n`-th string or key met gets the
/// NULs of `edits[n % len]`, if any.
fn sprinkle_nuls(value: &mut Value, edits: &[Option<Vec<Index>>]) {
    let mut n = 0;
    let mut next = || {
        n += 1;
        edits.get(n % edits.len().max(1)).cloned().flatten()
    };
    let mut stack = vec![value];
    while let Some(v) = stack.pop() {
        match v {
            Value::String(s) => {
                if let Some(at) = next() {
                    *s = with_nuls(s, &at);
                }
            }
            Value::Object(map) => {
                let entries = std::mem::take(map);
                for (k, child) in entries {
                    let k = match next() {
                        Some(at) => with_nuls(&k, &at),
                        None => k,
                    };
                    map.insert(k, child);
                }
                stack.extend(map.values_mut());
            }
            Value::Array(items) => stack.extend(items.iter_mut()),
            _ => {}
        }
    }
}

/// A body for each format, and the parser that should accept it, as the number of events.
type Parser = fn(&[u8]) -> Result<usize, Rejected>;
const FORMATS: &[(&str, Parser)] = &[
    ("alertmanager-webhook-v4.json", |b| {
        alertmanager::parse_webhook(b).map(|e| e.len())
    }),
    ("alertmanager-webhook-v4-resolved.json", |b| {
        alertmanager::parse_webhook(b).map(|e| e.len())
    }),
    ("grafana-webhook.json", |b| {
        grafana::parse_webhook(b).map(|e| e.len())
    }),
    ("opsgenie-create-alert.json", |b| {
        opsgenie::parse_create(b).map(|_| 1)
    }),
    ("pagerduty-events-v2-trigger.json", |b| {
        pagerduty::parse_event(b).map(|_| 1).map_err(|e| e.rejected)
    }),
    ("pagerduty-events-v2-resolve.json", |b| {
        pagerduty::parse_event(b).map(|_| 1).map_err(|e| e.rejected)
    }),
    ("pagerduty-change-event.json", |b| {
        pagerduty::parse_change(b)
            .map(|_| 1)
            .map_err(|e| e.rejected)
    }),
    ("generic-event.json", |b| generic::parse(b).map(|e| e.len())),
];

/// A fixture, or for the generic format (which has none) a full event.
fn format_body(name: &str) -> Value {
    if name == "generic-event.json" {
        serde_json::json!({
            "summary": "Queue backlog above 10k", "severity": "warning", "dedup_key": "queue/backlog",
            "status": "firing", "source": "worker-3", "labels": { "team": "billing" },
            "details": { "depth": "10423" }, "links": [ { "href": "https://grafana/d/q", "text": "Queue" } ],
            "images": [ { "src": "https://img/q.png", "href": "https://img", "alt": "graph" } ],
            "starts_at": "2026-11-20T10:00:00Z", "ends_at": "2026-11-20T11:00:00Z",
        })
    } else {
        fixture_json(name)
    }
}

/// Fields whose values are names from a fixed list, so that a NUL in them makes the body invalid.
const ENUM_FIELDS: &[&str] = &["event_action", "severity", "status", "priority"];

/// A NUL in any one string of any format's body is replaced, and the body is accepted unless the
/// string was one of a fixed list of names.
#[test]
fn a_nul_in_any_one_field_is_replaced_and_the_event_kept() {
    for (name, parser) in FORMATS {
        let body = format_body(name);
        let mut paths = Vec::new();
        pointers(&body, String::new(), &mut paths);
        let mut accepted = 0;
        for path in &paths {
            let mut v = body.clone();
            let Some(Value::String(s)) = v.pointer_mut(path) else {
                continue;
            };
            *s = format!("{s}\0{s}\0");
            let bytes = bytes(&v);
            run_all(&bytes);
            match parser(&bytes) {
                Ok(n) => {
                    assert!(n > 0, "{name} {path}");
                    accepted += 1;
                }
                Err(r) => {
                    let last = path.rsplit('/').next().unwrap();
                    assert!(ENUM_FIELDS.contains(&last), "{name} {path}: {r}");
                }
            }
        }
        assert!(accepted >= 2, "{name}: only {accepted} accepted");
    }
}

/// The extreme times a sender might send, in every time field of every format: the event is
/// always kept, the time used only when it is in 2000..=2200, and a dropped time is noted.
#[test]
fn extreme_times_never_refuse_an_event() {
    let cases: &[(&str, bool)] = &[
        ("-009999-01-01T00:00:00Z", false),
        ("-009999-01-01T00:00:00-23:59", false),
        ("9999-12-31T23:59:59Z", false),
        ("+009999-12-31T23:59:59+23:59", false),
        ("0001-01-01T00:00:01Z", false),
        ("0001-01-01T00:00:00Z", false),
        ("1970-01-01T00:00:00Z", false),
        ("1999-12-31T23:59:59.999999999Z", false),
        ("2000-01-01T00:00:00Z", true),
        ("2200-12-31T23:59:59Z", true),
        ("2200-12-31T23:59:59.999999999Z", true),
        ("2201-01-01T00:00:00Z", false),
        ("2201-01-01", false),
        ("2026-11-20T14:05:00", true),
        ("2026-11-20T14:05:00.123456+00:00Z", true),
    ];
    for (text, used) in cases {
        for (name, field, pointer) in time_fields() {
            let mut body = format_body(name);
            *body.pointer_mut(pointer).unwrap() = Value::String(text.to_string());
            let (at, note) = read_back(name, &bytes(&body), field);
            assert_eq!(at.is_some(), *used, "{name} {pointer} {text}");
            // Go's zero time in an end time means "no end yet"; anywhere else it is noted.
            let unset_end = *text == "0001-01-01T00:00:00Z"
                && (field.ends_with("endsAt") || field.ends_with("ends_at"));
            let silent = *used || unset_end;
            assert_eq!(note.is_none(), silent, "{name} {pointer} {text}: {note:?}");
            if let Some(note) = note {
                assert!(note.contains(field) && note.contains(text), "{note}");
            }
        }
    }
}

/// Every time field: the format, the field as named in notes, and where it is in the body.
fn time_fields() -> Vec<(&'static str, &'static str, &'static str)> {
    vec![
        (
            "pagerduty-events-v2-trigger.json",
            "payload.timestamp",
            "/payload/timestamp",
        ),
        (
            "pagerduty-change-event.json",
            "payload.timestamp",
            "/payload/timestamp",
        ),
        (
            "alertmanager-webhook-v4.json",
            "alerts[0].startsAt",
            "/alerts/0/startsAt",
        ),
        (
            "alertmanager-webhook-v4-resolved.json",
            "alerts[0].endsAt",
            "/alerts/0/endsAt",
        ),
        (
            "grafana-webhook.json",
            "alerts[0].startsAt",
            "/alerts/0/startsAt",
        ),
        (
            "grafana-webhook.json",
            "alerts[0].endsAt",
            "/alerts/0/endsAt",
        ),
        ("generic-event.json", "starts_at", "/starts_at"),
        ("generic-event.json", "ends_at", "/ends_at"),
    ]
}

/// Parses `body` as `name`'s format, which must accept it; the time read from `field`, and the
/// note, if any.
fn read_back(name: &str, body: &[u8], field: &str) -> (Option<jiff::Timestamp>, Option<String>) {
    run_all(body);
    let event = match name {
        "pagerduty-change-event.json" => {
            let c = pagerduty::parse_change(body).unwrap();
            return (c.at, c.note);
        }
        "pagerduty-events-v2-trigger.json" => pagerduty::parse_event(body).unwrap().event,
        "alertmanager-webhook-v4.json" | "alertmanager-webhook-v4-resolved.json" => {
            alertmanager::parse_webhook(body).unwrap().remove(0)
        }
        "grafana-webhook.json" => grafana::parse_webhook(body).unwrap().remove(0),
        _ => generic::parse(body).unwrap().remove(0),
    };
    let details: Value = serde_json::from_str(&event.details).unwrap();
    let note = details
        .get(NOTE_KEY)
        .map(|n| n.as_str().unwrap().to_string());
    let at = if field.ends_with("endsAt") || field == "ends_at" {
        event.ends_at
    } else {
        event.starts_at
    };
    (at, note)
}

/// A time as a sender might write it, right or wrong, over jiff's whole range of years.
fn arb_time() -> impl Strategy<Value = String> {
    let year = prop_oneof![
        prop::sample::select(vec![
            -9999, -1, 0, 1, 1969, 1970, 1999, 2000, 2026, 2200, 2201, 9999
        ]),
        -9999i32..=9999,
        any::<i32>(),
    ];
    let zone = prop::sample::select(vec![
        "Z",
        "z",
        "+00:00",
        "-00:00",
        "+23:59",
        "-23:59",
        "+25:59",
        "+99:99",
        "",
        "+00:00Z",
        " Z",
        "[UTC]",
        "+01:00[Europe/Paris]",
    ]);
    (
        year,
        0u8..=13,
        0u8..=32,
        0u8..=25,
        0u8..=60,
        0u8..=61,
        prop::option::of(0u32..1_000_000_000),
        prop::sample::select(vec!["T", " ", "t", "_"]),
        zone,
    )
        .prop_map(|(y, mo, d, h, mi, s, frac, sep, zone)| {
            let year = if (0..=9999).contains(&y) {
                format!("{y:04}")
            } else {
                format!("{}{:06}", if y < 0 { '-' } else { '+' }, y.unsigned_abs())
            };
            let frac = frac.map(|f| format!(".{f:09}")).unwrap_or_default();
            format!("{year}-{mo:02}-{d:02}{sep}{h:02}:{mi:02}:{s:02}{frac}{zone}")
        })
}

proptest! {
    /// NULs anywhere in any format's body, in values and keys, never reach an event.
    #[test]
    fn nuls_anywhere_never_reach_firebreak(
        format in 0..FORMATS.len(),
        edits in prop::collection::vec(
            prop::option::weighted(0.5, prop::collection::vec(any::<Index>(), 1..3)),
            1..40,
        ),
    ) {
        let mut body = format_body(FORMATS[format].0);
        sprinkle_nuls(&mut body, &edits);
        run_all(&bytes(&body));
    }

    /// Arbitrary strings, NULs included, in place of any string of any format's body.
    #[test]
    fn arbitrary_strings_in_any_field_never_reach_firebreak_with_a_nul(
        format in 0..FORMATS.len(),
        at in any::<Index>(),
        text in prop_oneof![any::<String>(), "[a-z\u{0}]{0,8}"],
    ) {
        let mut body = format_body(FORMATS[format].0);
        let mut paths = Vec::new();
        pointers(&body, String::new(), &mut paths);
        let path = at.get(&paths).clone();
        *body.pointer_mut(&path).unwrap() = Value::String(text);
        run_all(&bytes(&body));
    }

    /// Whatever time a sender writes, in any time field, the event is kept and its time, if
    /// any, is in range (checked by `run_all`); a dropped time is noted.
    #[test]
    fn arbitrary_times_never_refuse_an_event(
        text in arb_time(),
        field in prop::sample::select(time_fields()),
    ) {
        let (name, field, pointer) = field;
        let mut body = format_body(name);
        *body.pointer_mut(pointer).unwrap() = Value::String(text.clone());
        let (at, note) = read_back(name, &bytes(&body), field);
        if at.is_none() && !text.starts_with("0001-01-01T00:00:00") {
            prop_assert!(note.is_some(), "{} {}", field, text);
        }
    }

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
