//! Small helpers the parsers share: error collection, typed field access, limits, timestamps.

use std::collections::BTreeMap;

use firebreak_domain::{Image, Link};
use jiff::Timestamp;
use serde_json::{Map, Value};

use crate::{Invalid, Rejected};

pub(crate) type Object = Map<String, Value>;

/// Collects every problem with a body before answering.
#[derive(Debug, Default)]
pub(crate) struct Errors(Vec<Invalid>);

impl Errors {
    pub(crate) fn add(&mut self, field: impl Into<String>, message: impl Into<String>) {
        self.0.push(Invalid::new(field, message));
    }

    pub(crate) fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether an error on exactly `field` was recorded.
    pub(crate) fn has(&self, field: &str) -> bool {
        self.0.iter().any(|e| e.field == field)
    }

    /// `Ok(())` when nothing was collected, else the collected errors.
    pub(crate) fn finish(self) -> Result<(), Rejected> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(Rejected { errors: self.0 })
        }
    }
}

/// `prefix.key`, or `key` at the top level.
pub(crate) fn join(prefix: &str, key: &str) -> String {
    if prefix.is_empty() {
        key.to_string()
    } else {
        format!("{prefix}.{key}")
    }
}

/// Parses a body as JSON; a syntax error is an [`Invalid`] on `body` with serde_json's message.
pub(crate) fn parse_body(body: &[u8]) -> Result<Value, Invalid> {
    serde_json::from_slice(body).map_err(|e| Invalid::new("body", e.to_string()))
}

/// An optional string: absent or `null` gives `None`; any other type is an error.
pub(crate) fn opt_str<'a>(
    obj: &'a Object,
    key: &str,
    field: &str,
    errs: &mut Errors,
) -> Option<&'a str> {
    match obj.get(key) {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.as_str()),
        Some(_) => {
            errs.add(field, "must be a string");
            None
        }
    }
}

/// An optional string that is `None` when blank too.
pub(crate) fn opt_nonblank<'a>(
    obj: &'a Object,
    key: &str,
    field: &str,
    errs: &mut Errors,
) -> Option<&'a str> {
    opt_str(obj, key, field, errs).filter(|s| !s.trim().is_empty())
}

/// A required, non-blank string.
pub(crate) fn req_str<'a>(
    obj: &'a Object,
    key: &str,
    field: &str,
    errs: &mut Errors,
) -> Option<&'a str> {
    match obj.get(key) {
        Some(Value::String(s)) if !s.trim().is_empty() => Some(s.as_str()),
        None | Some(Value::Null) | Some(Value::String(_)) => {
            errs.add(field, "is missing or blank");
            None
        }
        Some(_) => {
            errs.add(field, "must be a string");
            None
        }
    }
}

/// A non-blank string field, without complaint when it is anything else.
pub(crate) fn lenient_str<'a>(obj: &'a Object, key: &str) -> Option<&'a str> {
    match obj.get(key) {
        Some(Value::String(s)) if !s.trim().is_empty() => Some(s.as_str()),
        _ => None,
    }
}

/// Adds an error when `value` is longer than `max` characters; true when it fits.
pub(crate) fn check_max(value: &str, max: usize, field: &str, errs: &mut Errors) -> bool {
    if too_long(value, max) {
        errs.add(field, format!("must be at most {max} characters"));
        false
    } else {
        true
    }
}

pub(crate) fn too_long(value: &str, max: usize) -> bool {
    value.chars().nth(max).is_some()
}

/// The first `max` characters of `s` (never splits a character).
pub(crate) fn truncate(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        Some((at, _)) => s[..at].to_string(),
        None => s.to_string(),
    }
}

/// Text of a JSON value for a label: strings as they are, `null` as "", anything else as JSON.
pub(crate) fn stringify(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// An object's entries as text labels (non-string values stringified); anything else is empty.
pub(crate) fn string_map(value: Option<&Value>) -> BTreeMap<String, String> {
    match value {
        Some(Value::Object(m)) => m.iter().map(|(k, v)| (k.clone(), stringify(v))).collect(),
        _ => BTreeMap::new(),
    }
}

/// Parses an RFC 3339 timestamp. Go's zero time (`0001-01-01T00:00:00Z`, what Alertmanager sends
/// for "no end yet") and anything earlier give `Ok(None)`.
pub(crate) fn parse_time(text: &str) -> Result<Option<Timestamp>, jiff::Error> {
    let ts: Timestamp = text.trim().parse()?;
    // 0001-01-01T00:00:00Z
    if ts.as_second() <= -62_135_596_800 {
        Ok(None)
    } else {
        Ok(Some(ts))
    }
}

/// A timestamp field read leniently: missing, not a string or unparseable gives `None`.
pub(crate) fn lenient_time(obj: &Object, key: &str) -> Option<Timestamp> {
    lenient_str(obj, key).and_then(|s| parse_time(s).ok().flatten())
}

/// An optional timestamp field read strictly: present but unparseable is an error.
pub(crate) fn strict_time(
    obj: &Object,
    key: &str,
    field: &str,
    errs: &mut Errors,
) -> Option<Timestamp> {
    let text = opt_nonblank(obj, key, field, errs)?;
    match parse_time(text) {
        Ok(ts) => ts,
        Err(_) => {
            errs.add(
                field,
                "must be an RFC 3339 timestamp such as 2026-11-20T14:05:00Z",
            );
            None
        }
    }
}

/// An optional array of `{href, text?}`.
pub(crate) fn links(value: Option<&Value>, field: &str, errs: &mut Errors) -> Vec<Link> {
    let mut out = Vec::new();
    let items = match value {
        None | Some(Value::Null) => return out,
        Some(Value::Array(items)) => items,
        Some(_) => {
            errs.add(field, "must be an array");
            return out;
        }
    };
    for (i, item) in items.iter().enumerate() {
        let at = format!("{field}[{i}]");
        let Some(obj) = item.as_object() else {
            errs.add(at, "must be an object");
            continue;
        };
        let href = req_str(obj, "href", &join(&at, "href"), errs);
        let text = opt_nonblank(obj, "text", &join(&at, "text"), errs);
        if let Some(href) = href {
            out.push(Link {
                href: href.to_string(),
                text: text.map(str::to_string),
            });
        }
    }
    out
}

/// An optional array of `{src, href?, alt?}`.
pub(crate) fn images(value: Option<&Value>, field: &str, errs: &mut Errors) -> Vec<Image> {
    let mut out = Vec::new();
    let items = match value {
        None | Some(Value::Null) => return out,
        Some(Value::Array(items)) => items,
        Some(_) => {
            errs.add(field, "must be an array");
            return out;
        }
    };
    for (i, item) in items.iter().enumerate() {
        let at = format!("{field}[{i}]");
        let Some(obj) = item.as_object() else {
            errs.add(at, "must be an object");
            continue;
        };
        let src = req_str(obj, "src", &join(&at, "src"), errs);
        let href = opt_nonblank(obj, "href", &join(&at, "href"), errs);
        let alt = opt_nonblank(obj, "alt", &join(&at, "alt"), errs);
        if let Some(src) = src {
            out.push(Image {
                src: src.to_string(),
                href: href.map(str::to_string),
                alt: alt.map(str::to_string),
            });
        }
    }
    out
}

/// Compact JSON text of `value` with secrets redacted.
pub(crate) fn raw_text(value: &Value) -> String {
    let mut copy = value.clone();
    crate::redact(&mut copy);
    copy.to_string()
}
