//! Human-readable rendering of API objects: comfy-table tables for
//! incidents, checklists, timelines and tokens, plus one-line timeline
//! descriptions derived from each entry's data.

use comfy_table::{Table, presets::UTF8_FULL_CONDENSED};
use serde_json::Value;

fn table(header: &[&str]) -> Table {
    let mut t = Table::new();
    t.load_preset(UTF8_FULL_CONDENSED);
    t.set_header(header.iter().copied());
    t
}

/// A JSON value as table text: strings bare, null as `-`.
pub fn text(v: Option<&Value>) -> String {
    match v {
        None | Some(Value::Null) => "-".to_string(),
        Some(Value::String(s)) if s.is_empty() => "-".to_string(),
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(a)) if a.is_empty() => "-".to_string(),
        Some(Value::Array(a)) => a
            .iter()
            .map(|x| text(Some(x)))
            .collect::<Vec<_>>()
            .join(", "),
        Some(Value::Bool(b)) => if *b { "yes" } else { "no" }.to_string(),
        Some(other) => other.to_string(),
    }
}

fn field(v: &Value, k: &str) -> String {
    text(v.get(k))
}

fn commander(inc: &Value) -> String {
    if let Some(a) = inc.get("role_assignments").and_then(Value::as_array) {
        for r in a {
            if r.get("role").and_then(Value::as_str) == Some("incident-commander") {
                return field(r, "user");
            }
        }
    }
    inc.get("roles")
        .and_then(|r| r.get("Incident Commander"))
        .map(|v| text(Some(v)))
        .unwrap_or_else(|| "-".to_string())
}

/// Incidents as a table, one per row.
pub fn incidents_table(items: &[Value]) -> String {
    let mut t = table(&[
        "ID",
        "SEVERITY",
        "STATUS",
        "TITLE",
        "SERVICES",
        "COMMANDER",
        "DECLARED",
    ]);
    for i in items {
        let mut title = field(i, "title");
        if i.get("drill").and_then(Value::as_bool) == Some(true) {
            title.push_str(" [drill]");
        }
        t.add_row(vec![
            field(i, "id"),
            field(i, "severity"),
            field(i, "status"),
            title,
            field(i, "services"),
            commander(i),
            field(i, "declared_at"),
        ]);
    }
    t.to_string()
}

/// The header fields of one incident as a two-column table.
pub fn incident_details(inc: &Value) -> String {
    let mut t = table(&["FIELD", "VALUE"]);
    for (label, key) in [
        ("id", "id"),
        ("title", "title"),
        ("severity", "severity"),
        ("status", "status"),
        ("services", "services"),
        ("drill", "drill"),
        ("summary", "summary"),
        ("customer impact", "customer_impact"),
        ("declared by", "declared_by"),
        ("detected", "detected_at"),
        ("declared", "declared_at"),
        ("acknowledged", "acknowledged_at"),
        ("mitigated", "mitigated_at"),
        ("resolved", "resolved_at"),
        ("updated", "updated_at"),
    ] {
        if key == "customer_impact" && inc.get(key).is_none() {
            continue;
        }
        t.add_row(vec![label.to_string(), field(inc, key)]);
    }
    t.to_string()
}

/// The roles of an incident.
pub fn roles_table(inc: &Value) -> String {
    let mut t = table(&["ROLE", "USER"]);
    if let Some(a) = inc.get("role_assignments").and_then(Value::as_array) {
        for r in a {
            let name = r
                .get("name")
                .or_else(|| r.get("role"))
                .map(|v| text(Some(v)))
                .unwrap_or_default();
            t.add_row(vec![name, field(r, "user")]);
        }
    } else if let Some(m) = inc.get("roles").and_then(Value::as_object) {
        for (name, user) in m {
            t.add_row(vec![name.clone(), text(Some(user))]);
        }
    }
    t.to_string()
}

/// Checklist items with `[x]` / `[ ]` marks.
pub fn checklist_table(items: &[Value]) -> String {
    let mut t = table(&["", "ITEM", "TEXT", "DONE BY", "DONE AT"]);
    for i in items {
        let done = i.get("done").and_then(Value::as_bool).unwrap_or(false);
        t.add_row(vec![
            if done { "[x]" } else { "[ ]" }.to_string(),
            field(i, "id"),
            field(i, "text"),
            if done {
                field(i, "done_by")
            } else {
                "-".into()
            },
            if done {
                field(i, "done_at")
            } else {
                "-".into()
            },
        ]);
    }
    t.to_string()
}

/// Timeline entries: seq, time, actor, kind and a one-line description.
pub fn timeline_table(items: &[Value]) -> String {
    let mut t = table(&["SEQ", "TIME", "ACTOR", "KIND", "DESCRIPTION"]);
    for e in items {
        let kind = e.get("kind").and_then(Value::as_str).unwrap_or("");
        t.add_row(vec![
            field(e, "seq"),
            field(e, "at"),
            field(e, "actor"),
            text(e.get("kind")),
            describe(kind, e.get("data").unwrap_or(&Value::Null)),
        ]);
    }
    t.to_string()
}

fn one_line(s: &str, max: usize) -> String {
    let flat = s.split_whitespace().collect::<Vec<_>>().join(" ");
    if flat.chars().count() > max {
        let mut out: String = flat.chars().take(max.saturating_sub(1)).collect();
        out.push('…');
        out
    } else {
        flat
    }
}

/// A one-line description of a timeline entry's `data`.
pub fn describe(kind: &str, data: &Value) -> String {
    let s = |k: &str| data.get(k).filter(|v| !v.is_null()).map(|v| text(Some(v)));
    let line = if let (Some(done), Some(item)) = (
        data.get("done").and_then(Value::as_bool),
        s("text").or_else(|| s("item")),
    ) {
        format!("{} {item}", if done { "[x]" } else { "[ ]" })
    } else if let Some(body) = s("body").or_else(|| s("message")).or_else(|| s("text")) {
        body
    } else if let (Some(from), Some(to)) = (s("from"), s("to")) {
        let what = s("field").unwrap_or_else(|| kind.replace(['_', '-', '.'], " "));
        let mut l = format!("{what}: {from} → {to}");
        if let Some(r) = s("reason") {
            l.push_str(&format!(" ({r})"));
        }
        l
    } else if let Some(role) = s("role_name").or_else(|| s("role")) {
        match s("user") {
            Some(u) => format!("{role}: {u}"),
            None => format!("{role}: unassigned"),
        }
    } else if let Some(title) = s("title") {
        title
    } else {
        match data {
            Value::Object(m) if m.is_empty() => String::new(),
            Value::Object(m) => m
                .iter()
                .map(|(k, v)| format!("{k}={}", text(Some(v))))
                .collect::<Vec<_>>()
                .join(" "),
            Value::Null => String::new(),
            other => text(Some(other)),
        }
    };
    one_line(&line, 100)
}

/// API tokens (without secrets).
pub fn tokens_table(items: &[Value]) -> String {
    let mut t = table(&["ID", "NAME", "ROLE", "USER", "CREATED", "REVOKED"]);
    for i in items {
        t.add_row(vec![
            field(i, "id"),
            field(i, "name"),
            field(i, "role"),
            field(i, "user"),
            field(i, "created_at"),
            field(i, "revoked_at"),
        ]);
    }
    t.to_string()
}
