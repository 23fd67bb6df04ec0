//! Grafana's webhook contact point: the Alertmanager shape with extras, a custom JSON template,
//! the legacy webhook, or plain text.

use std::collections::BTreeMap;

use firebreak_domain::alert::{DEDUP_KEY_MAX, SUMMARY_MAX};
use firebreak_domain::{AlertAction, AlertEvent, AlertFormat, AlertSeverity, Image, Link};
use serde_json::{Map, Value};

use crate::alertmanager::{Flavor, parse_batch};
use crate::util::{self, Notes, Object};
use crate::{Invalid, Rejected, time};

const GRAFANA: Flavor = Flavor {
    format: AlertFormat::Grafana,
    default_source: "grafana",
    default_summary: "Alert from Grafana",
    external_text: "Grafana",
    grafana: true,
    cap_hint: "the Max alerts setting of Grafana's webhook contact point can cap it",
};

/// Parses whatever a Grafana webhook contact point sends; see the crate docs for the rules.
pub fn parse_webhook(body: &[u8]) -> Result<Vec<AlertEvent>, Rejected> {
    let parsed = serde_json::from_slice::<Value>(body).map(|mut value| {
        util::replace_nul(&mut value);
        value
    });
    match parsed {
        Ok(Value::Object(obj)) => match obj.get("alerts") {
            Some(Value::Array(alerts)) => parse_batch(&obj, alerts, &GRAFANA),
            _ => Ok(vec![templated(&obj)]),
        },
        // Not an object: a plain-text template (which may happen to be valid JSON, like `42`).
        _ => plain_text(body).map(|e| vec![e]),
    }
}

/// A leading status tag Grafana puts in titles: `[FIRING:2]`, `[Alerting]`, `[RESOLVED]`, `[OK]`.
fn strip_status_tags(title: &str) -> &str {
    const STATUS_WORDS: &[&str] = &[
        "firing", "resolved", "alerting", "ok", "normal", "no data", "nodata", "pending", "error",
    ];
    let mut rest = title.trim_start();
    while let Some(inner) = rest.strip_prefix('[') {
        let Some(end) = inner.find(']') else { break };
        let tag = inner[..end].split(':').next().unwrap_or("").trim();
        if !STATUS_WORDS.iter().any(|w| tag.eq_ignore_ascii_case(w)) {
            break;
        }
        rest = inner[end + 1..].trim_start();
    }
    if rest.is_empty() { title } else { rest }
}

/// A key no longer than the limit: `value` itself, or a hash of it under `name`.
fn bounded_key(name: &str, value: &str) -> String {
    if util::too_long(value, DEDUP_KEY_MAX) {
        crate::fingerprint_of(name, value)
    } else {
        value.to_string()
    }
}

/// One event from a JSON object without an `alerts` array.
fn templated(obj: &Object) -> AlertEvent {
    let action = ["status", "state"]
        .iter()
        .filter_map(|k| obj.get(*k).and_then(Value::as_str))
        .find_map(AlertAction::from_firing_status)
        .unwrap_or(AlertAction::Trigger);

    let title = util::lenient_str(obj, "title");
    let summary = title
        .or_else(|| util::lenient_str(obj, "message"))
        .or_else(|| util::lenient_str(obj, "summary"))
        .unwrap_or("Alert from Grafana");
    let summary = util::truncate(summary.trim(), SUMMARY_MAX);

    let rule_id = match obj.get("ruleId") {
        Some(Value::Number(n)) => Some(n.to_string()),
        Some(Value::String(s)) if !s.trim().is_empty() => Some(s.clone()),
        _ => None,
    };
    let dedup_key = if let Some(k) = util::lenient_str(obj, "groupKey") {
        bounded_key("groupKey", k)
    } else if let Some(k) = util::lenient_str(obj, "fingerprint") {
        bounded_key("fingerprint", k)
    } else if let Some(id) = rule_id {
        crate::fingerprint_of("ruleId", &id)
    } else {
        crate::fingerprint_of("title", strip_status_tags(title.unwrap_or(&summary)))
    };

    let common = util::string_map(obj.get("commonLabels"));
    let severity = util::lenient_str(obj, "severity")
        .or_else(|| common.get("severity").map(String::as_str))
        .and_then(AlertSeverity::from_loose)
        .unwrap_or(AlertSeverity::Error);
    let source = util::lenient_str(obj, "source").unwrap_or("grafana");

    let mut details = Map::new();
    if let Some(message) = obj.get("message").filter(|v| !v.is_null()) {
        details.insert("message".into(), message.clone());
    }
    let mut notes = Notes::default();
    let starts_at = time::read_time(obj, "startsAt", "startsAt", &mut notes);
    let ends_at = time::read_end_time(obj, "endsAt", "endsAt", &mut notes);

    let mut links = Vec::new();
    for (key, text) in [
        ("ruleUrl", "Rule"),
        ("generatorURL", "Source"),
        ("dashboardURL", "Dashboard"),
        ("panelURL", "Panel"),
        ("silenceURL", "Silence"),
        ("externalURL", "Grafana"),
    ] {
        if let Some(href) = util::lenient_str(obj, key) {
            links.push(Link {
                href: href.to_string(),
                text: Some(text.to_string()),
            });
        }
    }
    let images = ["imageURL", "imageUrl"]
        .iter()
        .find_map(|k| util::lenient_str(obj, k))
        .map(|src| Image {
            src: src.to_string(),
            href: None,
            alt: None,
        })
        .into_iter()
        .collect();

    AlertEvent {
        format: AlertFormat::Grafana,
        action,
        dedup_key: Some(dedup_key),
        severity,
        urgency: None,
        summary,
        source: source.to_string(),
        labels: common,
        details: util::details_text(details, notes),
        links,
        images,
        starts_at,
        ends_at,
        raw: util::raw_text(Value::Object(obj.clone())),
    }
}

/// One trigger from a plain-text body.
fn plain_text(body: &[u8]) -> Result<AlertEvent, Rejected> {
    let text = String::from_utf8_lossy(body);
    let text = util::without_nul(&text);
    let Some(line) = text.lines().map(str::trim).find(|l| !l.is_empty()) else {
        return Err(Invalid::new("body", "is empty").into());
    };
    let summary = util::truncate(line, SUMMARY_MAX);
    let raw = serde_json::json!({ "text": text });
    Ok(AlertEvent {
        format: AlertFormat::Grafana,
        action: AlertAction::Trigger,
        dedup_key: Some(crate::fingerprint_of("text", &summary)),
        severity: AlertSeverity::Error,
        urgency: None,
        summary,
        source: "grafana".to_string(),
        labels: BTreeMap::new(),
        details: "{}".to_string(),
        links: vec![],
        images: vec![],
        starts_at: None,
        ends_at: None,
        raw: raw.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_tags_are_stripped() {
        assert_eq!(strip_status_tags("[FIRING:2] Disk full"), "Disk full");
        assert_eq!(strip_status_tags("[RESOLVED] Disk full"), "Disk full");
        assert_eq!(strip_status_tags("[Alerting] Disk full"), "Disk full");
        assert_eq!(strip_status_tags("[OK] Disk full"), "Disk full");
        assert_eq!(strip_status_tags("[db] Disk full"), "[db] Disk full");
        assert_eq!(strip_status_tags("[FIRING:1]"), "[FIRING:1]");
        assert_eq!(strip_status_tags("[unterminated"), "[unterminated");
    }
}
