//! Turns the bodies monitoring tools send into Firebreak's normalised alert model
//! ([`AlertEvent`](firebreak_domain::AlertEvent)), or into deployment records for PagerDuty change
//! events. Pure: no I/O, no async, no clock. No input panics; every problem is an [`Invalid`] that
//! names the field (`payload.summary`, `alerts[2].status`, `[0].labels.team`) and says what is
//! wrong, and a parser reports all the problems it finds, not only the first. A time is never
//! such a problem: see below.
//!
//! # What every event gets
//!
//! - `raw` is the compact JSON of what the sender sent for that event, with [`redact`] applied
//!   (routing keys, API keys, tokens and passwords become `"[redacted]"`). For a batch format
//!   (Alertmanager, Grafana) it is that one alert's object plus the batch's `groupKey`, and
//!   nothing else of the batch, so that a large batch is not stored once per alert.
//! - `details` is the compact JSON text of an object, `"{}"` when there is nothing; it is redacted
//!   the same way. When Firebreak read something differently from what was sent (today: a time
//!   it could not use), the object has a string under [`NOTE_KEY`] (`"firebreak_note"`) saying
//!   so, e.g. `payload.timestamp "yesterday" could not be read as a time; the receive time was
//!   used`, several notes joined with "; ". A note replaces any `firebreak_note` the sender put
//!   in its own details (the generic format's); without a note, the sender's is kept.
//! - No string anywhere holds a NUL character (U+0000), which PostgreSQL cannot store as text:
//!   every NUL in a body, in values and in object keys, becomes U+FFFD (the replacement
//!   character) before anything is read, on every path. So `raw`, the routing key, the dedup key,
//!   labels and the rest are cleaned the same way: an acknowledge or resolve whose dedup key had
//!   a NUL finds the alert its trigger opened, and a routing key with a NUL is simply unknown.
//!   [`opsgenie::alias_dedup_key`] does the same for an alias named in a URL.
//! - `urgency` is always `None`: routing decides, else the severity does.
//! - `summary` is never blank and at most [`SUMMARY_MAX`](firebreak_domain::alert::SUMMARY_MAX)
//!   (1024) characters; `dedup_key`, when present, is never blank and at most
//!   [`DEDUP_KEY_MAX`](firebreak_domain::alert::DEDUP_KEY_MAX) (255) characters. A trigger without
//!   a dedup key gets one generated later, by the engine.
//! - Times are read as RFC 3339; as ISO 8601 without an offset (`2026-11-20T14:05:00`,
//!   `2026-11-20T14:05:00.123`, or with a space for the `T`), taken as UTC; and as an offset with
//!   a redundant `Z` after it (`2026-11-20T14:05:00.123456+00:00Z`, what the `pagerduty` Python
//!   client sends). Go's zero time `0001-01-01T00:00:00Z` in an end time (`endsAt`,
//!   `ends_at`: Alertmanager's and Grafana's "not ended yet") means "none", silently; anywhere
//!   else it is a time that was not set, and gets the receive time and a note. A time that can't be read, that is not a string, or that lies outside the
//!   years 2000 to 2200 ([`in_accepted_range`]) never refuses the event: the event gets `None`
//!   there (the engine then uses the receive time) and a note under [`NOTE_KEY`]. This holds for
//!   every format and every time field (Opsgenie's Create Alert has none).
//!
//! # PagerDuty Events API v2 ([`pagerduty::parse_event`])
//!
//! Strict, as PagerDuty is. The body must be a JSON object. `routing_key` is a required non-blank
//! string; the parser hands it back even when the rest is invalid, so the server can answer 404
//! for an unknown key before 400 for the rest. `event_action` is one of `trigger`, `acknowledge`,
//! `resolve`. `dedup_key` is optional for a trigger and required for acknowledge and resolve, at
//! most 255 characters; a blank one counts as absent.
//!
//! A trigger needs a `payload` object with `summary` (non-blank, at most 1024 characters),
//! `source` (non-blank) and `severity` (exactly `critical`, `error`, `warning` or `info`).
//! Optional: `payload.timestamp` (a time as above; unusable gives a note) becomes `starts_at`;
//! `payload.component`, `payload.group` and `payload.class` become labels of the same names and
//! are copied into details; `payload.custom_details` (any JSON) goes into details as
//! `{"custom_details": ...}`; top-level `client` goes into details too. Top-level `links[]`
//! (`{href, text?}`) become links, then `client_url` becomes one more link whose text is
//! `client`; `images[]` (`{src, href?, alt?}`) become images.
//!
//! For acknowledge and resolve only `routing_key` and `dedup_key` matter; the payload is not
//! checked. Such an event's summary is its dedup key, its source `"pagerduty"` and its severity
//! `error` (nothing uses them).
//!
//! # PagerDuty change events ([`pagerduty::parse_change`])
//!
//! `routing_key` and `payload.summary` (at most 1024) are required; `payload.timestamp`,
//! `payload.source` and `payload.custom_details` (an object) are optional. A timestamp that
//! can't be used does not refuse the change: `at` is `None` (the receive time) and
//! [`note`](pagerduty::Change::note) says why, in the words an alert keeps under [`NOTE_KEY`].
//! The deploy's version is the first of `custom_details` `version`, `release`, `build`, `tag`,
//! `new_version`; the previous version the first of `previous_version`, `previous_release`,
//! `from_version`, `old_version`; the commit `commit`, `sha`, `revision`, `git_sha`; the author
//! `author`, `user`, `deployer`, `triggered_by`. Those values may be strings or numbers. Without a version, the
//! version is the summary cut to 200 characters. `link` is the first `links[].href`.
//!
//! # Opsgenie ([`opsgenie::parse_create`], [`opsgenie::parse_action`])
//!
//! Create Alert: always a trigger. `message` (required, non-blank) is the summary, cut to 1024
//! characters. `alias` is the dedup key; an alias longer than 255 characters (Opsgenie allows
//! 512) is replaced by a hash of it, see [`opsgenie::alias_dedup_key`]. `priority` `P1`..`P5`
//! (case-insensitive) maps to critical, error, warning, info, info; absent means `P3`; anything
//! else is an error. Labels: `priority` (the effective `P1`..`P5`), `entity` and `tags` (the tags
//! joined with commas). The source is `source`, else `entity`, else `"opsgenie"`. Details hold
//! `description`, `note`, `user`, `responders`, `actions` and the sender's `details` object,
//! under those names, when given.
//!
//! Acknowledge and close bodies are optional: an empty body or `{}` is fine; `user`, `source` and
//! `note` are read when they are strings.
//!
//! # Prometheus Alertmanager ([`alertmanager::parse_webhook`])
//!
//! The webhook (payload version "4", though the version is not checked) carries a batch in
//! `alerts`, which must be an array of at most [`MAX_ALERTS`](alertmanager::MAX_ALERTS) (1000)
//! alerts; a larger batch is refused as a whole, on `alerts` (Alertmanager's `max_alerts` in
//! `webhook_configs` caps it at the sender). An empty one gives no events. One event per alert:
//!
//! - action: the alert's `status` (`firing` or `resolved`), else the batch's `status`, else
//!   trigger. An unknown status is an error on the field that had it.
//! - dedup key: the alert's `fingerprint` when non-blank (and at most 255 characters), else
//!   [`fingerprint`] of its labels. The firing and the resolved notification of an alert
//!   therefore share a key.
//! - severity: label `severity`, else label `priority`, read loosely (`crit`, `P1`, `warn`,
//!   ...); `error` when neither is known.
//! - summary: annotation `summary`, else `description`, else `message`, else label `alertname`,
//!   else "Alert from Alertmanager"; cut to 1024 characters.
//! - source: label `instance`, else label `job`, else `"alertmanager"`.
//! - labels: the alert's labels, non-string values as JSON text.
//! - details: `{"annotations": {...}, "generatorURL": "..."}`.
//! - links: `generatorURL` ("Source") and the batch's `externalURL` ("Alertmanager").
//! - `startsAt` and `endsAt` are times as above; the note names `alerts[i].startsAt`.
//!
//! Missing or `null` labels and annotations are fine.
//!
//! # Grafana ([`grafana::parse_webhook`])
//!
//! Grafana's webhook contact point sends the Alertmanager shape plus `orgId`, `title`, `state`,
//! `message` and, per alert, `values`, `valueString`, `dashboardURL`, `panelURL`, `silenceURL`
//! and `imageURL`. It maps like Alertmanager (default source `"grafana"`, summary falling back to
//! the batch's `title` before "Alert from Grafana"), with `values` and `valueString` added to
//! details, links `generatorURL` ("Source"), `dashboardURL` ("Dashboard"), `panelURL` ("Panel"),
//! `silenceURL` ("Silence"), `externalURL` ("Grafana"), and `imageURL` as an image linking to
//! the panel. The cap of 1000 alerts holds here too (Grafana's webhook contact point has a
//! "Max alerts" setting).
//!
//! Grafana bodies can be templated, so nothing optional is assumed:
//!
//! - A JSON object without an `alerts` array (a custom template, or the legacy webhook) gives one
//!   event. Action from `status`, else `state` (`firing`/`alerting` trigger, `resolved`/`ok`/
//!   `normal` resolve, anything else trigger). Summary from `title`, `message` or `summary`, else
//!   "Alert from Grafana". Dedup key from `groupKey` or `fingerprint` (hashed when longer than
//!   255), else `ruleId` (legacy webhook), else [`fingerprint`] of `{"title": title}` where a
//!   leading status tag such as `[FIRING:2]`, `[Alerting]`, `[RESOLVED]` or `[OK]` is removed
//!   from the title, so the firing and the resolved message of one rule share a key. Severity
//!   from `severity` or `commonLabels.severity` (loosely, default error), labels from
//!   `commonLabels`, details `{"message": ...}`, `startsAt` and `endsAt` as times.
//! - A body that is not a JSON object (a plain-text template) gives one trigger whose summary is
//!   the first non-blank line (cut to 1024), dedup key [`fingerprint`] of `{"text": line}`, and
//!   raw `{"text": body}`. A blank body is an error.
//!
//! # Generic ([`generic::parse`])
//!
//! One JSON object, or an array of at most 1000 objects (errors then name `[i].field`). Fields:
//! `summary` (required, non-blank, at most 1024), `severity` (exactly `critical`, `error`,
//! `warning` or `info`, default `error`), `dedup_key` (at most 255; required to resolve),
//! `status` (`firing` or `resolved`, default `firing`), `source` (default `"generic"`), `labels`
//! (an object of strings), `details` (an object), `links` (`[{href, text?}]`), `images`
//! (`[{src, href?, alt?}]`), `starts_at` and `ends_at` (times as above: an unusable one gives a
//! note, not an error). Unknown fields are ignored.

use std::collections::BTreeMap;
use std::fmt;

use serde_json::Value;
use sha2::{Digest, Sha256};

pub mod alertmanager;
pub mod generic;
pub mod grafana;
pub mod opsgenie;
pub mod pagerduty;
mod time;
mod util;

pub use time::{ACCEPTED_EARLIEST, ACCEPTED_LATEST, in_accepted_range};

/// The key in an event's details under which Firebreak says what it read differently from what
/// was sent, e.g. a timestamp it could not use. Its value is a string.
pub const NOTE_KEY: &str = firebreak_domain::alert::NOTE_KEY;

/// One problem with a body, naming the field, e.g. field `payload.summary`, message
/// `is missing or blank`. Displays PagerDuty-style: `'payload.summary' is missing or blank`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("'{field}' {message}")]
pub struct Invalid {
    pub field: String,
    pub message: String,
}

impl Invalid {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Invalid {
        Invalid {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// Why a body was refused: one or more problems, never none. Displays them joined with "; ".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejected {
    pub errors: Vec<Invalid>,
}

impl Rejected {
    /// A rejection for a single problem.
    pub fn one(invalid: Invalid) -> Rejected {
        Rejected {
            errors: vec![invalid],
        }
    }

    /// Whether some error names exactly `field`.
    pub fn names(&self, field: &str) -> bool {
        self.errors.iter().any(|e| e.field == field)
    }
}

impl fmt::Display for Rejected {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.errors.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Rejected {}

impl From<Invalid> for Rejected {
    fn from(invalid: Invalid) -> Rejected {
        Rejected::one(invalid)
    }
}

/// Key names whose values [`redact`] hides, lower-case.
const SECRET_KEYS: &[&str] = &[
    "routing_key",
    "routingkey",
    "service_key",
    "integration_key",
    "api_key",
    "apikey",
    "token",
    "access_token",
    "password",
    "secret",
    "authorization",
    "key",
];

/// Replaces the values of secret-looking keys (`routing_key`, `api_key`, `apikey`, `apiKey`,
/// `token`, `password`, `secret`, `authorization`, `key`, and also `service_key`,
/// `integration_key`, `routingKey`, `access_token` — compared case-insensitively, at any depth)
/// with `"[redacted]"`. Only whole key names match: `dedup_key` is kept.
pub fn redact(value: &mut Value) {
    // An explicit stack, so that no depth of nesting can overflow the call stack.
    let mut stack = vec![value];
    while let Some(v) = stack.pop() {
        match v {
            Value::Object(map) => {
                for (k, child) in map.iter_mut() {
                    if SECRET_KEYS.iter().any(|s| k.eq_ignore_ascii_case(s)) {
                        *child = Value::String("[redacted]".to_string());
                    } else {
                        stack.push(child);
                    }
                }
            }
            Value::Array(items) => stack.extend(items.iter_mut()),
            _ => {}
        }
    }
}

/// A stable dedup key from a label set: the first 32 hex characters of the SHA-256 of the
/// sorted `name=value\n` lines.
pub fn fingerprint(labels: &BTreeMap<String, String>) -> String {
    let mut hasher = Sha256::new();
    for (name, value) in labels {
        hasher.update(name.as_bytes());
        hasher.update(b"=");
        hasher.update(value.as_bytes());
        hasher.update(b"\n");
    }
    let mut text = hex::encode(hasher.finalize());
    text.truncate(32);
    text
}

/// [`fingerprint`] of a single label.
pub(crate) fn fingerprint_of(name: &str, value: &str) -> String {
    fingerprint(&BTreeMap::from([(name.to_string(), value.to_string())]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprint_is_stable_and_32_hex() {
        let labels = BTreeMap::from([
            ("b".to_string(), "2".to_string()),
            ("a".to_string(), "1".to_string()),
        ]);
        let fp = fingerprint(&labels);
        assert_eq!(fp.len(), 32);
        assert!(fp.chars().all(|c| c.is_ascii_hexdigit()));
        let expected = hex::encode(Sha256::digest(b"a=1\nb=2\n"));
        assert_eq!(fp, expected[..32]);
    }

    #[test]
    fn rejected_display_joins() {
        let r = Rejected {
            errors: vec![Invalid::new("a", "is bad"), Invalid::new("b", "is worse")],
        };
        assert_eq!(r.to_string(), "'a' is bad; 'b' is worse");
    }
}
