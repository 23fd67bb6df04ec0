//! PagerDuty Events API v2: alert events (`/v2/enqueue`) and change events (`/v2/change/enqueue`).

use std::collections::BTreeMap;
use std::fmt;

use firebreak_domain::alert::{DEDUP_KEY_MAX, SUMMARY_MAX};
use firebreak_domain::{AlertAction, AlertEvent, AlertFormat, AlertSeverity};
use jiff::Timestamp;
use serde_json::{Map, Value};

use crate::util::{self, Errors, Notes, Object};
use crate::{Invalid, Rejected, time};

/// A valid alert event and the routing key it came with.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    pub routing_key: String,
    pub event: AlertEvent,
}

/// A refused body. `routing_key` is `Some` whenever the body had a non-blank string
/// `routing_key`, even if other fields are invalid (the server answers 404 for an unknown key
/// before 400 for the rest).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventError {
    pub routing_key: Option<String>,
    pub rejected: Rejected,
}

impl fmt::Display for EventError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.rejected.fmt(f)
    }
}

impl std::error::Error for EventError {}

impl EventError {
    fn body(invalid: Invalid) -> EventError {
        EventError {
            routing_key: None,
            rejected: Rejected::one(invalid),
        }
    }
}

/// Parses the body and checks it is an object; reads the routing key.
fn start(body: &[u8]) -> Result<(Value, Errors, Option<String>), EventError> {
    let value = util::parse_body(body).map_err(EventError::body)?;
    let mut errs = Errors::default();
    let routing_key = match value.as_object() {
        Some(obj) => {
            util::req_str(obj, "routing_key", "routing_key", &mut errs).map(str::to_string)
        }
        None => {
            return Err(EventError::body(Invalid::new(
                "body",
                "must be a JSON object",
            )));
        }
    };
    Ok((value, errs, routing_key))
}

fn finish<T>(
    errs: Errors,
    routing_key: Option<String>,
    make: impl FnOnce(String) -> T,
) -> Result<T, EventError> {
    match (errs.finish(), routing_key) {
        (Ok(()), Some(key)) => Ok(make(key)),
        (Err(rejected), routing_key) => Err(EventError {
            routing_key,
            rejected,
        }),
        // A missing routing key was recorded as an error, so this does not happen; answer sanely.
        (Ok(()), None) => Err(EventError::body(Invalid::new(
            "routing_key",
            "is missing or blank",
        ))),
    }
}

/// Parses an Events API v2 alert event (trigger, acknowledge or resolve).
pub fn parse_event(body: &[u8]) -> Result<Event, EventError> {
    let (value, mut errs, routing_key) = start(body)?;
    let Some(obj) = value.as_object() else {
        return Err(EventError::body(Invalid::new(
            "body",
            "must be a JSON object",
        )));
    };

    let action_names = AlertAction::names();
    let action = match obj.get("event_action") {
        Some(Value::String(s)) => s.parse::<AlertAction>().ok(),
        _ => None,
    };
    if action.is_none() {
        errs.add("event_action", format!("must be one of {action_names}"));
    }

    let dedup_key = util::opt_nonblank(obj, "dedup_key", "dedup_key", &mut errs)
        .filter(|k| util::check_max(k, DEDUP_KEY_MAX, "dedup_key", &mut errs))
        .map(str::to_string);
    if let Some(action @ (AlertAction::Acknowledge | AlertAction::Resolve)) = action
        && dedup_key.is_none()
        && !errs.has("dedup_key")
    {
        errs.add("dedup_key", format!("is required to {action} an alert"));
    }

    // A trigger's payload is checked; so is a payload sent with an unknown action, so the sender
    // hears about all its mistakes at once.
    let check_trigger = match action {
        Some(AlertAction::Trigger) => true,
        None => obj.get("payload").is_some_and(|p| !p.is_null()),
        Some(_) => false,
    };
    let trigger = if check_trigger {
        trigger_parts(obj, &mut errs)
    } else {
        None
    };

    let raw = util::raw_text(value.clone());
    finish(errs, routing_key, |routing_key| {
        let event = match (action, trigger) {
            (Some(AlertAction::Trigger), Some(t)) => AlertEvent {
                format: AlertFormat::PagerDuty,
                action: AlertAction::Trigger,
                dedup_key,
                severity: t.severity,
                urgency: None,
                summary: t.summary,
                source: t.source,
                labels: t.labels,
                details: t.details,
                links: t.links,
                images: t.images,
                starts_at: t.timestamp,
                ends_at: None,
                raw,
            },
            (action, _) => AlertEvent {
                format: AlertFormat::PagerDuty,
                action: action.unwrap_or(AlertAction::Resolve),
                summary: dedup_key
                    .clone()
                    .unwrap_or_else(|| "PagerDuty event".into()),
                dedup_key,
                severity: AlertSeverity::Error,
                urgency: None,
                source: "pagerduty".into(),
                labels: BTreeMap::new(),
                details: "{}".into(),
                links: vec![],
                images: vec![],
                starts_at: None,
                ends_at: None,
                raw,
            },
        };
        Event { routing_key, event }
    })
}

struct Trigger {
    summary: String,
    source: String,
    severity: AlertSeverity,
    timestamp: Option<Timestamp>,
    labels: BTreeMap<String, String>,
    details: String,
    links: Vec<firebreak_domain::Link>,
    images: Vec<firebreak_domain::Image>,
}

/// Checks a trigger's payload, links, images and client; `None` when something is wrong.
fn trigger_parts(obj: &Object, errs: &mut Errors) -> Option<Trigger> {
    let before = errs.len();
    let payload = match obj.get("payload") {
        Some(Value::Object(p)) => Some(p),
        None | Some(Value::Null) => {
            errs.add("payload", "is missing");
            None
        }
        Some(_) => {
            errs.add("payload", "must be an object");
            None
        }
    };

    let mut summary = None;
    let mut source = None;
    let mut severity = None;
    let mut timestamp = None;
    let mut labels = BTreeMap::new();
    let mut details = Map::new();
    let mut notes = Notes::default();
    if let Some(payload) = payload {
        summary = util::req_str(payload, "summary", "payload.summary", errs)
            .filter(|s| util::check_max(s, SUMMARY_MAX, "payload.summary", errs));
        source = util::req_str(payload, "source", "payload.source", errs);
        severity = match payload.get("severity") {
            Some(Value::String(s)) => s.parse::<AlertSeverity>().ok(),
            _ => None,
        };
        if severity.is_none() {
            errs.add(
                "payload.severity",
                format!("must be one of {}", AlertSeverity::names()),
            );
        }
        timestamp = time::read_time(payload, "timestamp", "payload.timestamp", &mut notes);
        for key in ["component", "group", "class"] {
            if let Some(v) = util::opt_nonblank(payload, key, &format!("payload.{key}"), errs) {
                labels.insert(key.to_string(), v.to_string());
                details.insert(key.to_string(), Value::String(v.to_string()));
            }
        }
        if let Some(custom) = payload.get("custom_details").filter(|v| !v.is_null()) {
            details.insert("custom_details".into(), custom.clone());
        }
    }

    let mut links = util::links(obj.get("links"), "links", errs);
    let images = util::images(obj.get("images"), "images", errs);
    let client = util::opt_nonblank(obj, "client", "client", errs);
    let client_url = util::opt_nonblank(obj, "client_url", "client_url", errs);
    if let Some(client) = client {
        details.insert("client".into(), Value::String(client.to_string()));
    }
    if let Some(href) = client_url {
        links.push(firebreak_domain::Link {
            href: href.to_string(),
            text: client.map(str::to_string),
        });
    }

    if errs.len() != before {
        return None;
    }
    Some(Trigger {
        summary: summary?.to_string(),
        source: source?.to_string(),
        severity: severity?,
        timestamp,
        labels,
        details: util::details_text(details, notes),
        links,
        images,
    })
}

/// A PagerDuty change event: a deploy or another change worth showing next to incidents.
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    pub routing_key: String,
    pub summary: String,
    pub source: Option<String>,
    /// `payload.timestamp`; `None` when absent or not usable (see `note`): use the receive time.
    pub at: Option<Timestamp>,
    /// The version deployed; the summary (cut to 200 characters) when the sender gave none.
    pub version: String,
    pub previous_version: Option<String>,
    pub commit: Option<String>,
    pub author: Option<String>,
    pub link: Option<String>,
    /// The body with secrets redacted, as compact JSON.
    pub raw: String,
    /// What Firebreak read differently from what was sent, e.g. `payload.timestamp "never"
    /// could not be read as a time; the receive time was used`; the text an alert event keeps
    /// under [`NOTE_KEY`](crate::NOTE_KEY) in its details.
    pub note: Option<String>,
}

const VERSION_KEYS: &[&str] = &["version", "release", "build", "tag", "new_version"];
const PREVIOUS_KEYS: &[&str] = &[
    "previous_version",
    "previous_release",
    "from_version",
    "old_version",
];
const COMMIT_KEYS: &[&str] = &["commit", "sha", "revision", "git_sha"];
const AUTHOR_KEYS: &[&str] = &["author", "user", "deployer", "triggered_by"];
/// The longest version taken from a summary.
const VERSION_FROM_SUMMARY_MAX: usize = 200;

/// The first of `keys` in `details` whose value is a non-blank string or a number.
fn first_of(details: Option<&Object>, keys: &[&str]) -> Option<String> {
    let details = details?;
    keys.iter().find_map(|k| match details.get(*k) {
        Some(Value::String(s)) if !s.trim().is_empty() => Some(s.clone()),
        Some(Value::Number(n)) => Some(n.to_string()),
        _ => None,
    })
}

/// Parses a change event (`/v2/change/enqueue`).
pub fn parse_change(body: &[u8]) -> Result<Change, EventError> {
    let (value, mut errs, routing_key) = start(body)?;
    let Some(obj) = value.as_object() else {
        return Err(EventError::body(Invalid::new(
            "body",
            "must be a JSON object",
        )));
    };
    let empty = Map::new();
    let payload = match obj.get("payload") {
        Some(Value::Object(p)) => p,
        None | Some(Value::Null) => {
            errs.add("payload", "is missing");
            &empty
        }
        Some(_) => {
            errs.add("payload", "must be an object");
            &empty
        }
    };
    let summary = if obj.get("payload").is_some_and(Value::is_object) {
        util::req_str(payload, "summary", "payload.summary", &mut errs)
            .filter(|s| util::check_max(s, SUMMARY_MAX, "payload.summary", &mut errs))
    } else {
        None
    };
    let mut notes = Notes::default();
    let at = time::read_time(payload, "timestamp", "payload.timestamp", &mut notes);
    let source = util::opt_nonblank(payload, "source", "payload.source", &mut errs);
    let custom = match payload.get("custom_details") {
        None | Some(Value::Null) => None,
        Some(Value::Object(m)) => Some(m),
        Some(_) => {
            errs.add("payload.custom_details", "must be an object");
            None
        }
    };
    let link = match obj.get("links") {
        None | Some(Value::Null) => None,
        Some(Value::Array(items)) => items
            .iter()
            .find_map(|l| l.get("href").and_then(Value::as_str))
            .filter(|h| !h.trim().is_empty())
            .map(str::to_string),
        Some(_) => {
            errs.add("links", "must be an array");
            None
        }
    };

    let summary = summary.map(str::to_string);
    let raw = util::raw_text(value.clone());
    finish(errs, routing_key, |routing_key| {
        let summary = summary.unwrap_or_default();
        Change {
            routing_key,
            version: first_of(custom, VERSION_KEYS)
                .unwrap_or_else(|| util::truncate(&summary, VERSION_FROM_SUMMARY_MAX)),
            previous_version: first_of(custom, PREVIOUS_KEYS),
            commit: first_of(custom, COMMIT_KEYS),
            author: first_of(custom, AUTHOR_KEYS),
            summary,
            source: source.map(str::to_string),
            at,
            link,
            raw,
            note: notes.into_text(),
        }
    })
}
