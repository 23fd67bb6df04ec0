//! Firebreak's own generic format: one event object, or an array of them.

use std::collections::BTreeMap;

use firebreak_domain::alert::{DEDUP_KEY_MAX, SUMMARY_MAX};
use firebreak_domain::{AlertAction, AlertEvent, AlertFormat, AlertSeverity};
use serde_json::Value;

use crate::util::{self, Errors, Notes, Object, join};
use crate::{Invalid, Rejected, time};

/// The most events one body may carry.
pub const MAX_EVENTS: usize = 1000;

/// Parses one event object or an array of at most [`MAX_EVENTS`] of them.
pub fn parse(body: &[u8]) -> Result<Vec<AlertEvent>, Rejected> {
    let value = util::parse_body(body)?;
    let mut errs = Errors::default();
    let events = match &value {
        Value::Object(obj) => event(obj, "", &mut errs).into_iter().collect(),
        Value::Array(items) => {
            if items.len() > MAX_EVENTS {
                return Err(
                    Invalid::new("body", format!("must hold at most {MAX_EVENTS} events")).into(),
                );
            }
            let mut events = Vec::with_capacity(items.len());
            for (i, item) in items.iter().enumerate() {
                let at = format!("[{i}]");
                match item {
                    Value::Object(obj) => events.extend(event(obj, &at, &mut errs)),
                    _ => errs.add(at, "must be an object"),
                }
            }
            events
        }
        _ => {
            return Err(
                Invalid::new("body", "must be a JSON object or an array of objects").into(),
            );
        }
    };
    errs.finish()?;
    Ok(events)
}

/// One event; `None` when it has problems (recorded in `errs`, fields under `prefix`).
fn event(obj: &Object, prefix: &str, errs: &mut Errors) -> Option<AlertEvent> {
    let before = errs.len();
    let field = |key: &str| join(prefix, key);

    let summary = util::req_str(obj, "summary", &field("summary"), errs)
        .filter(|s| util::check_max(s, SUMMARY_MAX, &field("summary"), errs));

    let severity = match obj.get("severity") {
        None | Some(Value::Null) => Some(AlertSeverity::Error),
        Some(Value::String(s)) => s.parse::<AlertSeverity>().ok(),
        Some(_) => None,
    };
    if severity.is_none() {
        errs.add(
            field("severity"),
            format!("must be one of {}", AlertSeverity::names()),
        );
    }

    let dedup_key = util::opt_nonblank(obj, "dedup_key", &field("dedup_key"), errs)
        .filter(|k| util::check_max(k, DEDUP_KEY_MAX, &field("dedup_key"), errs));

    let action = match obj.get("status") {
        None | Some(Value::Null) => Some(AlertAction::Trigger),
        Some(Value::String(s)) => AlertAction::from_firing_status(s),
        Some(_) => None,
    };
    if action.is_none() {
        errs.add(field("status"), "must be firing or resolved");
    }
    if action == Some(AlertAction::Resolve) && dedup_key.is_none() && !errs.has(&field("dedup_key"))
    {
        errs.add(field("dedup_key"), "is required to resolve an alert");
    }

    let source = util::opt_nonblank(obj, "source", &field("source"), errs).unwrap_or("generic");

    let mut labels = BTreeMap::new();
    match obj.get("labels") {
        None | Some(Value::Null) => {}
        Some(Value::Object(map)) => {
            for (k, v) in map {
                match v {
                    Value::String(s) => {
                        labels.insert(k.clone(), s.clone());
                    }
                    _ => errs.add(field(&format!("labels.{k}")), "must be a string"),
                }
            }
        }
        Some(_) => errs.add(field("labels"), "must be an object"),
    }

    let details = match obj.get("details") {
        None | Some(Value::Null) => Some(Default::default()),
        Some(Value::Object(map)) => Some(map.clone()),
        Some(_) => {
            errs.add(field("details"), "must be an object");
            None
        }
    };

    let links = util::links(obj.get("links"), &field("links"), errs);
    let images = util::images(obj.get("images"), &field("images"), errs);
    let mut notes = Notes::default();
    let starts_at = time::read_time(obj, "starts_at", &field("starts_at"), &mut notes);
    let ends_at = time::read_end_time(obj, "ends_at", &field("ends_at"), &mut notes);

    if errs.len() != before {
        return None;
    }
    Some(AlertEvent {
        format: AlertFormat::Generic,
        action: action?,
        dedup_key: dedup_key.map(str::to_string),
        severity: severity?,
        urgency: None,
        summary: summary?.to_string(),
        source: source.to_string(),
        labels,
        details: util::details_text(details?, notes),
        links,
        images,
        starts_at,
        ends_at,
        raw: util::raw_text(Value::Object(obj.clone())),
    })
}
