//! Small helpers the parsers share: error and note collection, typed field access, limits, and
//! the cleaning every body gets before it is read.

use std::borrow::Cow;
use std::collections::BTreeMap;

use firebreak_domain::{Image, Link};
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

/// What Firebreak read differently from what the sender sent; it goes into the event's details
/// under [`NOTE_KEY`](crate::NOTE_KEY).
#[derive(Debug, Default)]
pub(crate) struct Notes(Vec<String>);

impl Notes {
    pub(crate) fn add(&mut self, note: String) {
        self.0.push(note);
    }

    /// The notes joined with "; ", `None` when there are none.
    pub(crate) fn into_text(self) -> Option<String> {
        if self.0.is_empty() {
            None
        } else {
            Some(self.0.join("; "))
        }
    }
}

/// The compact JSON text of an event's details: `details` redacted, plus the notes, if any,
/// under [`NOTE_KEY`](crate::NOTE_KEY) (replacing what the sender put there).
pub(crate) fn details_text(details: Object, notes: Notes) -> String {
    let mut details = Value::Object(details);
    crate::redact(&mut details);
    if let (Value::Object(map), Some(text)) = (&mut details, notes.into_text()) {
        map.insert(crate::NOTE_KEY.to_string(), Value::String(text));
    }
    json_text(&details)
}

/// `prefix.key`, or `key` at the top level.
pub(crate) fn join(prefix: &str, key: &str) -> String {
    if prefix.is_empty() {
        key.to_string()
    } else {
        format!("{prefix}.{key}")
    }
}

/// Parses a body as JSON, with every NUL replaced (see [`replace_nul`]); a syntax error is an
/// [`Invalid`] on `body` with serde_json's message.
pub(crate) fn parse_body(body: &[u8]) -> Result<Value, Invalid> {
    let mut value =
        serde_json::from_slice(body).map_err(|e| Invalid::new("body", e.to_string()))?;
    replace_nul(&mut value);
    Ok(value)
}

/// What a NUL character becomes: U+FFFD, the replacement character.
const NUL_REPLACEMENT: &str = "\u{FFFD}";

/// `text` with every NUL (U+0000) replaced by U+FFFD. PostgreSQL cannot store NUL in text, so
/// none may reach Firebreak; replacing keeps the alert, and keeps the length in characters.
pub(crate) fn without_nul(text: &str) -> Cow<'_, str> {
    if text.contains('\0') {
        Cow::Owned(text.replace('\0', NUL_REPLACEMENT))
    } else {
        Cow::Borrowed(text)
    }
}

/// Replaces NUL in every string and every object key of `value`, at any depth. Doing it once on
/// the whole body means every field read from it, and `raw`, is clean the same way.
pub(crate) fn replace_nul(value: &mut Value) {
    // An explicit stack, so that no depth of nesting can overflow the call stack.
    let mut stack = vec![value];
    while let Some(v) = stack.pop() {
        match v {
            Value::String(s) => {
                if let Cow::Owned(clean) = without_nul(s) {
                    *s = clean;
                }
            }
            Value::Object(map) => {
                if map.keys().any(|k| k.contains('\0')) {
                    // Keys can't be changed in place. Two keys that differ only by NUL versus
                    // U+FFFD become one, with one of their values.
                    let entries = std::mem::take(map);
                    for (k, child) in entries {
                        map.insert(without_nul(&k).into_owned(), child);
                    }
                }
                stack.extend(map.values_mut());
            }
            Value::Array(items) => stack.extend(items.iter_mut()),
            _ => {}
        }
    }
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
pub(crate) fn raw_text(mut value: Value) -> String {
    crate::redact(&mut value);
    json_text(&value)
}

/// Compact JSON text of `value`. Written straight into a buffer: `Value`'s `Display` goes
/// through the formatter and checks every fragment as UTF-8, which costs more than the rest
/// of an alert's parsing.
pub(crate) fn json_text(value: &Value) -> String {
    // Serialising a `Value` cannot fail: its keys are strings.
    serde_json::to_string(value).unwrap_or_else(|_| "{}".to_string())
}
