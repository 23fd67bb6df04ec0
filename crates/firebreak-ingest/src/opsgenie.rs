//! Opsgenie Alert API: Create Alert (`POST /v2/alerts`) and the bodies of acknowledge and close.

use std::collections::BTreeMap;

use firebreak_domain::alert::{DEDUP_KEY_MAX, SUMMARY_MAX};
use firebreak_domain::{AlertAction, AlertEvent, AlertFormat, AlertSeverity};
use serde_json::{Map, Value};

use crate::util::{self, Errors, Notes};
use crate::{Invalid, Rejected};

/// The dedup key for an Opsgenie alias: the alias itself with any NUL replaced by U+FFFD, or,
/// when it is longer than 255 characters (Opsgenie allows 512), `fingerprint({"alias": alias})`
/// of that. Use it too when an acknowledge or close names the alert by alias, so that both find
/// the same key.
pub fn alias_dedup_key(alias: &str) -> String {
    let alias = util::without_nul(alias);
    if util::too_long(&alias, DEDUP_KEY_MAX) {
        crate::fingerprint_of("alias", &alias)
    } else {
        alias.into_owned()
    }
}

/// Parses a Create Alert body into a trigger.
pub fn parse_create(body: &[u8]) -> Result<AlertEvent, Rejected> {
    let value = util::parse_body(body)?;
    let Some(obj) = value.as_object() else {
        return Err(Invalid::new("body", "must be a JSON object").into());
    };
    let mut errs = Errors::default();

    let message = util::req_str(obj, "message", "message", &mut errs);
    let alias = util::opt_nonblank(obj, "alias", "alias", &mut errs);
    let entity = util::opt_nonblank(obj, "entity", "entity", &mut errs);
    let source = util::opt_nonblank(obj, "source", "source", &mut errs);
    let priority = match obj.get("priority") {
        None | Some(Value::Null) => Some(("P3", AlertSeverity::Warning)),
        Some(Value::String(p)) => match p.trim().to_ascii_uppercase().as_str() {
            "P1" => Some(("P1", AlertSeverity::Critical)),
            "P2" => Some(("P2", AlertSeverity::Error)),
            "P3" => Some(("P3", AlertSeverity::Warning)),
            "P4" => Some(("P4", AlertSeverity::Info)),
            "P5" => Some(("P5", AlertSeverity::Info)),
            _ => None,
        },
        Some(_) => None,
    };
    if priority.is_none() {
        errs.add("priority", "must be one of P1, P2, P3, P4, P5");
    }

    let mut tags = Vec::new();
    match obj.get("tags") {
        None | Some(Value::Null) => {}
        Some(Value::Array(items)) => {
            for (i, item) in items.iter().enumerate() {
                match item {
                    Value::String(t) if !t.trim().is_empty() => tags.push(t.trim()),
                    Value::String(_) => {}
                    _ => errs.add(format!("tags[{i}]"), "must be a string"),
                }
            }
        }
        Some(_) => errs.add("tags", "must be an array of strings"),
    }

    let mut details = Map::new();
    for key in ["description", "note", "user"] {
        if let Some(v) = util::opt_nonblank(obj, key, key, &mut errs) {
            details.insert(key.to_string(), Value::String(v.to_string()));
        }
    }
    for key in ["responders", "actions"] {
        match obj.get(key) {
            None | Some(Value::Null) => {}
            Some(v @ Value::Array(_)) => {
                details.insert(key.to_string(), v.clone());
            }
            Some(_) => errs.add(key, "must be an array"),
        }
    }
    match obj.get("details") {
        None | Some(Value::Null) => {}
        Some(v @ Value::Object(_)) => {
            details.insert("details".into(), v.clone());
        }
        Some(_) => errs.add("details", "must be an object"),
    }

    errs.finish()?;
    let (Some(message), Some((priority, severity))) = (message, priority) else {
        // Both were checked above; an error was recorded if either is missing.
        return Err(Invalid::new("message", "is missing or blank").into());
    };

    let mut labels = BTreeMap::new();
    labels.insert("priority".to_string(), priority.to_string());
    if let Some(entity) = entity {
        labels.insert("entity".to_string(), entity.to_string());
    }
    if !tags.is_empty() {
        labels.insert("tags".to_string(), tags.join(","));
    }
    Ok(AlertEvent {
        format: AlertFormat::Opsgenie,
        action: AlertAction::Trigger,
        dedup_key: alias.map(alias_dedup_key),
        severity,
        urgency: None,
        summary: util::truncate(message.trim(), SUMMARY_MAX),
        source: source.or(entity).unwrap_or("opsgenie").to_string(),
        labels,
        details: util::details_text(details, Notes::default()),
        links: vec![],
        images: vec![],
        starts_at: None,
        ends_at: None,
        raw: util::raw_text(value.clone()),
    })
}

/// The optional body of an acknowledge or close request.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Action {
    pub user: Option<String>,
    pub source: Option<String>,
    pub note: Option<String>,
}

/// Parses the body of `/v2/alerts/{id}/acknowledge` or `/close`. An empty body or `{}` is fine.
pub fn parse_action(body: &[u8]) -> Result<Action, Rejected> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Action::default());
    }
    let value = util::parse_body(body)?;
    let obj = match &value {
        Value::Object(obj) => obj,
        Value::Null => return Ok(Action::default()),
        _ => return Err(Invalid::new("body", "must be a JSON object").into()),
    };
    let mut errs = Errors::default();
    let user = util::opt_nonblank(obj, "user", "user", &mut errs).map(str::to_string);
    let source = util::opt_nonblank(obj, "source", "source", &mut errs).map(str::to_string);
    let note = util::opt_nonblank(obj, "note", "note", &mut errs).map(str::to_string);
    errs.finish()?;
    Ok(Action { user, source, note })
}
