mod common;

use common::fixture;
use firebreak_ingest::{alertmanager, generic, grafana, opsgenie, pagerduty, redact};
use serde_json::json;

#[test]
fn redacts_secret_keys_at_any_depth_case_insensitively() {
    let mut v = json!({
        "routing_key": "rk", "API_KEY": "a", "apiKey": "b", "ApiKey": "c", "Token": "t",
        "password": { "nested": "p" }, "secret": 1, "Authorization": "GenieKey x", "key": "k",
        "dedup_key": "keep", "keys": "keep", "tokenizer": "keep",
        "deep": [ { "inner": { "routing_key": "rk2", "ok": "keep" } } ]
    });
    redact(&mut v);
    assert_eq!(
        v,
        json!({
            "routing_key": "[redacted]", "API_KEY": "[redacted]", "apiKey": "[redacted]",
            "ApiKey": "[redacted]", "Token": "[redacted]", "password": "[redacted]",
            "secret": "[redacted]", "Authorization": "[redacted]", "key": "[redacted]",
            "dedup_key": "keep", "keys": "keep", "tokenizer": "keep",
            "deep": [ { "inner": { "routing_key": "[redacted]", "ok": "keep" } } ]
        })
    );
}

#[test]
fn deep_nesting_does_not_overflow() {
    let mut v = json!("leaf");
    for _ in 0..100_000 {
        // Not `json!([v])`, which serialises `v` recursively.
        v = serde_json::Value::Array(vec![v]);
    }
    redact(&mut v);
    // Dropping a very deep value recurses in serde_json; take it apart by hand.
    let mut cur = v;
    while let serde_json::Value::Array(mut items) = cur {
        cur = items.pop().unwrap_or(serde_json::Value::Null);
    }
}

#[test]
fn routing_key_never_reaches_raw() {
    const KEY: &str = "R0UT1NGKEY0000000000000000000001";
    for file in [
        "pagerduty-events-v2-trigger.json",
        "pagerduty-events-v2-acknowledge.json",
        "pagerduty-events-v2-resolve.json",
    ] {
        let e = pagerduty::parse_event(&fixture(file)).unwrap();
        assert!(!e.event.raw.contains(KEY), "{file}");
        assert!(!e.event.details.contains(KEY), "{file}");
    }
    let c = pagerduty::parse_change(&fixture("pagerduty-change-event.json")).unwrap();
    assert!(!c.raw.contains(KEY));

    // Secrets sent to the other formats are hidden too.
    let secret = "SUPERSECRET";
    let body = serde_json::to_vec(&json!({
        "summary": "s", "routing_key": secret, "details": { "token": secret },
        "status": "firing", "alerts": [ { "annotations": { "password": secret } } ],
        "message": "m", "receiver": "r"
    }))
    .unwrap();
    let events = [
        generic::parse(&body).unwrap(),
        alertmanager::parse_webhook(&body).unwrap(),
        grafana::parse_webhook(&body).unwrap(),
        vec![opsgenie::parse_create(&body).unwrap()],
    ];
    for e in events.iter().flatten() {
        assert!(!e.raw.contains(secret), "{:?}", e.format);
        assert!(!e.details.contains(secret), "{:?}", e.format);
    }
}
