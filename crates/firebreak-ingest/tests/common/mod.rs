#![allow(dead_code)]

use firebreak_domain::AlertEvent;
use firebreak_domain::alert::{DEDUP_KEY_MAX, SUMMARY_MAX};
use serde_json::Value;

pub fn fixture(name: &str) -> Vec<u8> {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

pub fn fixture_json(name: &str) -> Value {
    serde_json::from_slice(&fixture(name)).unwrap()
}

pub fn bytes(value: &Value) -> Vec<u8> {
    serde_json::to_vec(value).unwrap()
}

/// What every parsed event must satisfy, whatever the input.
pub fn check_event(e: &AlertEvent) {
    assert!(!e.summary.trim().is_empty(), "blank summary: {e:?}");
    assert!(e.summary.chars().count() <= SUMMARY_MAX, "long summary");
    if let Some(k) = &e.dedup_key {
        assert!(!k.trim().is_empty(), "blank dedup key");
        assert!(k.chars().count() <= DEDUP_KEY_MAX, "long dedup key");
    }
    assert!(!e.source.trim().is_empty(), "blank source: {e:?}");
    assert_eq!(e.urgency, None);
    let details: Value = serde_json::from_str(&e.details).expect("details is JSON");
    assert!(details.is_object(), "details is an object: {}", e.details);
    if let Some(note) = details.get(firebreak_ingest::NOTE_KEY) {
        assert!(note.is_string(), "the note is text: {note}");
    }
    let raw: Value = serde_json::from_str(&e.raw).expect("raw is JSON");
    // Compact: JSON text escapes newlines inside strings, so any newline is formatting.
    assert!(!e.raw.contains('\n'), "raw is compact: {}", e.raw);
    for ts in [e.starts_at, e.ends_at].into_iter().flatten() {
        assert!(firebreak_ingest::in_accepted_range(ts), "{ts} out of range");
    }
    assert_no_nul_in_event(e);
    assert_no_nul_in_json(&details);
    assert_no_nul_in_json(&raw);
}

/// Asserts that no text holds a NUL character.
pub fn assert_no_nul<'a>(texts: impl IntoIterator<Item = &'a str>) {
    for text in texts {
        assert!(!text.contains('\0'), "NUL in {text:?}");
    }
}

/// Every string field of an event, walked by hand so that a new field is not forgotten: the
/// destructuring fails to compile when `AlertEvent` grows.
pub fn assert_no_nul_in_event(e: &AlertEvent) {
    let AlertEvent {
        format: _,
        action: _,
        dedup_key,
        severity: _,
        urgency: _,
        summary,
        source,
        labels,
        details,
        links,
        images,
        starts_at: _,
        ends_at: _,
        raw,
    } = e;
    assert_no_nul([summary.as_str(), source, details, raw]);
    assert_no_nul(dedup_key.as_deref());
    assert_no_nul(labels.iter().flat_map(|(k, v)| [k.as_str(), v]));
    for link in links {
        assert_no_nul([link.href.as_str()]);
        assert_no_nul(link.text.as_deref());
    }
    for image in images {
        assert_no_nul([image.src.as_str()]);
        assert_no_nul(
            image
                .href
                .as_deref()
                .into_iter()
                .chain(image.alt.as_deref()),
        );
    }
}

/// Every string and key of a JSON value, at any depth.
pub fn assert_no_nul_in_json(value: &Value) {
    let mut stack = vec![value];
    while let Some(v) = stack.pop() {
        match v {
            Value::String(s) => assert_no_nul([s.as_str()]),
            Value::Array(items) => stack.extend(items),
            Value::Object(map) => {
                assert_no_nul(map.keys().map(String::as_str));
                stack.extend(map.values());
            }
            _ => {}
        }
    }
}

/// Every string field of a change event.
pub fn assert_no_nul_in_change(c: &firebreak_ingest::pagerduty::Change) {
    let firebreak_ingest::pagerduty::Change {
        routing_key,
        summary,
        source,
        at: _,
        version,
        previous_version,
        commit,
        author,
        link,
        raw,
        note,
    } = c;
    assert_no_nul([routing_key.as_str(), summary, version, raw]);
    for text in [source, previous_version, commit, author, link, note] {
        assert_no_nul(text.as_deref());
    }
    assert_no_nul_in_json(&serde_json::from_str(raw).expect("raw is JSON"));
}

/// Field names of a rejection.
pub fn fields(rejected: &firebreak_ingest::Rejected) -> Vec<&str> {
    rejected.errors.iter().map(|e| e.field.as_str()).collect()
}
