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
    let _: Value = serde_json::from_str(&e.raw).expect("raw is JSON");
    // Compact: JSON text escapes newlines inside strings, so any newline is formatting.
    assert!(!e.raw.contains('\n'), "raw is compact: {}", e.raw);
}

/// Field names of a rejection.
pub fn fields(rejected: &firebreak_ingest::Rejected) -> Vec<&str> {
    rejected.errors.iter().map(|e| e.field.as_str()).collect()
}
