//! Human-readable rendering of API objects: comfy-table tables for
//! incidents, checklists, timelines, tokens, alerts, webhooks and their
//! deliveries, schedules and shifts, contact methods, escalation policies,
//! escalations and their pages, plus one-line timeline descriptions derived
//! from each entry's data.

use comfy_table::{Table, presets::UTF8_FULL_CONDENSED};
use serde_json::Value;

pub(crate) fn table(header: &[&str]) -> Table {
    let mut t = Table::new();
    t.load_preset(UTF8_FULL_CONDENSED);
    t.set_header(header.iter().copied());
    t
}

/// A JSON value as table text: strings bare, null as `-`.
/// Replaces control characters (terminal escape sequences, carriage returns) with `�`, so
/// text a monitoring sender wrote cannot repaint or hide parts of the terminal.
pub fn printable(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_control() && c != '\n' && c != '\t' {
                '\u{FFFD}'
            } else {
                c
            }
        })
        .collect()
}

pub fn text(v: Option<&Value>) -> String {
    match v {
        None | Some(Value::Null) => "-".to_string(),
        Some(Value::String(s)) if s.is_empty() => "-".to_string(),
        Some(Value::String(s)) => printable(s),
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
        ("postmortem", "postmortem_status"),
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
        if matches!(key, "customer_impact" | "postmortem_status") && inc.get(key).is_none() {
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
    if kind == "status_update" {
        let audience = s("audience").unwrap_or_default();
        let body = s("body").unwrap_or_default();
        return one_line(
            &match s("status") {
                Some(status) => format!("{audience} update ({status}): {body}"),
                None => format!("{audience} update: {body}"),
            },
            100,
        );
    }
    if kind == "alert_attached" {
        let (id, summary) = (
            s("alert").unwrap_or_default(),
            s("summary").unwrap_or_default(),
        );
        let severity = s("severity").unwrap_or_default();
        return one_line(&format!("alert {id} attached ({severity}): {summary}"), 100);
    }
    if kind == "alert_resolved" {
        let (id, summary) = (
            s("alert").unwrap_or_default(),
            s("summary").unwrap_or_default(),
        );
        let all = data.get("all_resolved").and_then(Value::as_bool) == Some(true);
        let tail = if all {
            "; every alert has resolved"
        } else {
            ""
        };
        return one_line(&format!("alert {id} resolved: {summary}{tail}"), 100);
    }
    if let Some(line) = review_line(kind, &s) {
        return one_line(&line, 100);
    }
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

/// The sentences of the postmortem and action item kinds, as the incident room words them.
fn review_line(kind: &str, s: &dyn Fn(&str) -> Option<String>) -> Option<String> {
    let v = |k: &str| s(k).unwrap_or_default();
    Some(match kind {
        "postmortem_drafted" => "postmortem drafted".to_string(),
        "postmortem_edited" => format!("postmortem edited: {}", v("sections")),
        "postmortem_status_changed" => format!("postmortem {} → {}", v("from"), v("to")),
        "action_item_added" => format!(
            "action item {} for {}, due {}: {}",
            v("item"),
            v("owner"),
            v("due"),
            v("title")
        ),
        "action_item_changed" => match (v("status").as_str(), s("reason")) {
            ("wont_do", Some(r)) => {
                format!("action item {} won't do: {} ({r})", v("item"), v("title"))
            }
            ("wont_do", None) => format!("action item {} won't do: {}", v("item"), v("title")),
            ("open", _) => format!("action item {} reopened: {}", v("item"), v("title")),
            (status, _) => format!("action item {} {status}: {}", v("item"), v("title")),
        },
        _ => return None,
    })
}

/// API tokens (without secrets).
/// Users as a table: handle, name, role, and whether they may act.
pub fn users_table(items: &[Value]) -> String {
    let mut t = table(&["HANDLE", "NAME", "ROLE", "EMAIL", "STATE", "FROM"]);
    for u in items {
        let state = if u.get("disabled").and_then(Value::as_bool) == Some(true) {
            format!("disabled since {}", field(u, "disabled_at"))
        } else {
            "active".to_string()
        };
        let from = if u.get("from_config").and_then(Value::as_bool) == Some(true) {
            "config"
        } else {
            "api"
        };
        t.add_row(vec![
            field(u, "handle"),
            field(u, "name"),
            field(u, "role"),
            field(u, "email"),
            state,
            from.to_string(),
        ]);
    }
    t.to_string()
}

pub fn tokens_table(items: &[Value]) -> String {
    let mut t = table(&[
        "ID", "NAME", "ROLE", "USER", "CREATED", "EXPIRES", "REVOKED",
    ]);
    for i in items {
        t.add_row(vec![
            field(i, "id"),
            field(i, "name"),
            field(i, "role"),
            field(i, "user"),
            field(i, "created_at"),
            field(i, "expires_at"),
            field(i, "revoked_at"),
        ]);
    }
    t.to_string()
}

/// Alerts as a table, one per row, the summary cut to one short line.
pub fn alerts_table(items: &[Value]) -> String {
    let mut t = table(&[
        "ID",
        "STATUS",
        "SEV",
        "URGENCY",
        "SERVICE",
        "INCIDENT",
        "COUNT",
        "LAST SEEN",
        "SUMMARY",
    ]);
    for a in items {
        t.add_row(vec![
            field(a, "id"),
            field(a, "status"),
            field(a, "severity"),
            field(a, "urgency"),
            field(a, "service"),
            field(a, "incident"),
            field(a, "count"),
            field(a, "last_seen"),
            one_line(&field(a, "summary"), 60),
        ]);
    }
    t.to_string()
}

/// Every field of one alert as a two-column table.
pub fn alert_details(a: &Value) -> String {
    let mut t = table(&["FIELD", "VALUE"]);
    for (label, key) in [
        ("id", "id"),
        ("summary", "summary"),
        ("status", "status"),
        ("severity", "severity"),
        ("urgency", "urgency"),
        ("service", "service"),
        ("incident", "incident"),
        ("source", "source"),
        ("integration", "integration"),
        ("format", "format"),
        ("dedup key", "dedup_key"),
        ("events", "count"),
        ("first seen", "first_seen"),
        ("last seen", "last_seen"),
        ("started", "started_at"),
        ("ended", "ended_at"),
        ("acknowledged", "acknowledged_at"),
        ("acknowledged by", "acknowledged_by"),
        ("resolved", "resolved_at"),
        ("resolved by", "resolved_by"),
        ("suppressed because", "suppressed_reason"),
    ] {
        t.add_row(vec![label.to_string(), field(a, key)]);
    }
    t.to_string()
}

/// An object's keys and values (alert labels) as a table.
pub fn labels_table(labels: Option<&Value>) -> String {
    let mut t = table(&["LABEL", "VALUE"]);
    if let Some(m) = labels.and_then(Value::as_object) {
        for (k, v) in m {
            t.add_row(vec![k.clone(), text(Some(v))]);
        }
    }
    t.to_string()
}

/// Alert links (`{href, text}`) and images (`{src, href, alt}`) as a table.
pub fn links_table(links: &[Value], images: &[Value]) -> String {
    let mut t = table(&["KIND", "TEXT", "URL"]);
    for l in links {
        t.add_row(vec!["link".to_string(), field(l, "text"), field(l, "href")]);
    }
    for i in images {
        let mut url = field(i, "src");
        if let Some(href) = i
            .get("href")
            .and_then(Value::as_str)
            .filter(|h| !h.is_empty())
        {
            url.push_str(&format!("\n→ {href}"));
        }
        t.add_row(vec!["image".to_string(), field(i, "alt"), url]);
    }
    t.to_string()
}

/// Silences: state, matchers, window, author and comment.
pub fn silences_table(items: &[Value]) -> String {
    let mut t = table(&[
        "ID",
        "ACTIVE",
        "MATCHERS",
        "STARTS",
        "ENDS",
        "CREATED BY",
        "COMMENT",
    ]);
    for s in items {
        let matchers = s
            .get("matchers")
            .and_then(Value::as_array)
            .map(|m| {
                m.iter()
                    .map(|x| text(Some(x)))
                    .collect::<Vec<_>>()
                    .join("\n")
            })
            .unwrap_or_else(|| "-".into());
        t.add_row(vec![
            field(s, "id"),
            field(s, "active"),
            matchers,
            field(s, "starts_at"),
            field(s, "ends_at"),
            field(s, "created_by"),
            one_line(&field(s, "comment"), 60),
        ]);
    }
    t.to_string()
}

fn live_keys(i: &Value) -> Vec<&Value> {
    i.get("keys")
        .and_then(Value::as_array)
        .map(|k| {
            k.iter()
                .filter(|k| k.get("revoked_at").is_none_or(Value::is_null))
                .collect()
        })
        .unwrap_or_default()
}

/// Integrations with the number of live keys and, for each, its last four
/// characters and key id.
pub fn integrations_table(items: &[Value]) -> String {
    let mut t = table(&["ID", "SERVICE", "NAME", "KEYS", "HINTS", "FROM CONFIG"]);
    for i in items {
        let live = live_keys(i);
        let hints = if live.is_empty() {
            "-".to_string()
        } else {
            live.iter()
                .map(|k| format!("…{} ({})", field(k, "hint"), field(k, "id")))
                .collect::<Vec<_>>()
                .join("\n")
        };
        t.add_row(vec![
            field(i, "id"),
            field(i, "service"),
            field(i, "name"),
            live.len().to_string(),
            hints,
            field(i, "from_config"),
        ]);
    }
    t.to_string()
}

/// The ids of an integration's live keys other than `except`.
pub fn other_live_key_ids(i: &Value, except: &str) -> Vec<String> {
    live_keys(i)
        .into_iter()
        .map(|k| field(k, "id"))
        .filter(|id| id != except && id != "-")
        .collect()
}

/// How many live keys an integration has.
pub fn live_key_count(i: &Value) -> usize {
    live_keys(i).len()
}

/// Deployments, newest first as the server sends them.
pub fn deployments_table(items: &[Value]) -> String {
    let mut t = table(&[
        "ID", "AT", "SERVICE", "VERSION", "PREVIOUS", "COMMIT", "AUTHOR", "SOURCE", "SUMMARY",
    ]);
    for d in items {
        let commit: String = field(d, "commit").chars().take(12).collect();
        t.add_row(vec![
            field(d, "id"),
            field(d, "at"),
            field(d, "service"),
            field(d, "version"),
            field(d, "previous_version"),
            commit,
            field(d, "author"),
            if d.get("drill").and_then(Value::as_bool) == Some(true) {
                format!("{} (drill)", field(d, "source"))
            } else {
                field(d, "source")
            },
            one_line(&field(d, "summary"), 50),
        ]);
    }
    t.to_string()
}

/// A webhook URL for a table: without its query string (often a token) and password, with
/// `?…` and `:***` showing that something was left out. Control characters are replaced.
pub fn url_without_query(url: &str) -> String {
    let shown = match reqwest::Url::parse(url) {
        Ok(mut u) => {
            let had_query = u.query().is_some();
            u.set_query(None);
            u.set_fragment(None);
            if u.password().is_some() {
                let _ = u.set_password(Some("***"));
            }
            let mut s = u.to_string();
            if had_query {
                s.push_str("?…");
            }
            s
        }
        Err(_) => match url.split_once(['?', '#']) {
            Some((base, _)) => format!("{base}?…"),
            None => url.to_string(),
        },
    };
    printable(&shown)
}

/// Whether a subscription's deliveries are getting through.
fn webhook_status(w: &Value) -> String {
    let set = |k: &str| w.get(k).is_some_and(|v| !v.is_null());
    if set("disabled_at") {
        let reason = w
            .get("disabled_reason")
            .and_then(Value::as_str)
            .filter(|r| !r.is_empty())
            .map(printable)
            .unwrap_or_else(|| "no reason given".into());
        format!("disabled: {reason}")
    } else if set("failing_since") {
        format!("failing since {}", field(w, "failing_since"))
    } else {
        "active".into()
    }
}

/// Webhook subscriptions: where they send, what, and whether it works.
pub fn webhooks_table(items: &[Value]) -> String {
    let mut t = table(&["ID", "URL", "EVENTS", "STATUS", "DESCRIPTION"]);
    for w in items {
        let events = w
            .get("events")
            .and_then(Value::as_array)
            .map(|e| {
                e.iter()
                    .map(|x| text(Some(x)))
                    .collect::<Vec<_>>()
                    .join("\n")
            })
            .unwrap_or_else(|| "-".into());
        t.add_row(vec![
            field(w, "id"),
            url_without_query(&field(w, "url")),
            events,
            one_line(&webhook_status(w), 80),
            one_line(&field(w, "description"), 40),
        ]);
    }
    t.to_string()
}

/// What the last attempt of a delivery got: the receiver's status and any error.
fn last_answer(d: &Value) -> String {
    let last = d
        .get("attempts")
        .and_then(Value::as_array)
        .and_then(|a| a.last());
    let code = last
        .and_then(|a| a.get("status_code"))
        .and_then(Value::as_u64);
    let error = last
        .and_then(|a| a.get("error"))
        .or_else(|| d.get("last_error"))
        .and_then(Value::as_str)
        .filter(|e| !e.is_empty());
    let line = match (code, error) {
        (Some(c), Some(e)) => format!("HTTP {c}: {e}"),
        (Some(c), None) => format!("HTTP {c}"),
        (None, Some(e)) => e.to_string(),
        (None, None) => return "-".into(),
    };
    one_line(&printable(&line), 60)
}

/// When a delivery is tried next, or when it finished.
fn next_or_finished(d: &Value) -> String {
    match d.get("status").and_then(Value::as_str) {
        Some("pending") => format!("due {}", field(d, "due_at")),
        Some("sending") => format!("sending, lease until {}", field(d, "due_at")),
        Some(_) if d.get("finished_at").is_some_and(|f| !f.is_null()) => {
            format!("finished {}", field(d, "finished_at"))
        }
        _ => "-".into(),
    }
}

/// A subscription's deliveries, newest first as the server sends them.
pub fn deliveries_table(items: &[Value]) -> String {
    let mut t = table(&[
        "DELIVERY",
        "EVENT TYPE",
        "EVENT ID",
        "STATUS",
        "ATTEMPTS",
        "LAST ANSWER",
        "NEXT / FINISHED",
    ]);
    for d in items {
        let attempts = d
            .get("attempts")
            .and_then(Value::as_array)
            .map_or(0, Vec::len);
        t.add_row(vec![
            field(d, "id"),
            field(d, "event_type"),
            field(d, "event_id"),
            field(d, "status"),
            attempts.to_string(),
            last_answer(d),
            next_or_finished(d),
        ]);
    }
    t.to_string()
}

/// Schedules: name, time zone and layers (`name: members every N`).
pub fn schedules_table(items: &[Value]) -> String {
    let mut t = table(&["SCHEDULE", "TIME ZONE", "LAYERS", "FROM CONFIG"]);
    for s in items {
        t.add_row(vec![
            field(s, "name"),
            field(s, "time_zone"),
            layers_text(s),
            field(s, "from_config"),
        ]);
    }
    t.to_string()
}

fn layers_text(s: &Value) -> String {
    s.get("layers")
        .and_then(Value::as_array)
        .map(|layers| {
            layers
                .iter()
                .map(|l| {
                    let rotation = l.get("rotation").cloned().unwrap_or(Value::Null);
                    let restrict: Vec<String> = l
                        .get("restrict")
                        .and_then(Value::as_array)
                        .map(|rs| {
                            rs.iter()
                                .map(|r| {
                                    format!(
                                        "{} {}-{}",
                                        text(r.get("days")),
                                        field(r, "from"),
                                        field(r, "to")
                                    )
                                })
                                .collect()
                        })
                        .unwrap_or_default();
                    let mut line = format!(
                        "{}: {} every {} from {}",
                        field(l, "name"),
                        text(l.get("members")),
                        field(&rotation, "every"),
                        field(&rotation, "start"),
                    );
                    if !restrict.is_empty() {
                        line.push_str(&format!(" (only {})", restrict.join("; ")));
                    }
                    line
                })
                .collect::<Vec<_>>()
                .join("\n")
        })
        .unwrap_or_else(|| "-".into())
}

/// One schedule, with a line per layer.
pub fn schedule_detail(s: &Value) -> String {
    format!(
        "Schedule {} ({}), from config: {}\nLayers (a later layer wins where it has someone):\n{}",
        field(s, "name"),
        field(s, "time_zone"),
        field(s, "from_config"),
        layers_text(s)
            .lines()
            .map(|l| format!("  {l}"))
            .collect::<Vec<_>>()
            .join("\n"),
    )
}

/// Final shifts: who, from, to, and the layer (or `override`).
pub fn shifts_table(items: &[Value]) -> String {
    let mut t = table(&["USER", "START", "END", "LAYER"]);
    for s in items {
        t.add_row(vec![
            field(s, "user"),
            field(s, "start"),
            field(s, "end"),
            field(s, "layer"),
        ]);
    }
    t.to_string()
}

/// A schedule's overrides, with the ids `override remove` takes.
pub fn overrides_table(items: &[Value]) -> String {
    let mut t = table(&["ID", "USER", "START", "END", "ADDED BY"]);
    for o in items {
        t.add_row(vec![
            field(o, "id"),
            field(o, "user"),
            field(o, "start"),
            field(o, "end"),
            field(o, "created_by"),
        ]);
    }
    t.to_string()
}

/// Who is on call on each schedule.
pub fn oncall_table(items: &[Value]) -> String {
    let mut t = table(&["SCHEDULE", "ON CALL", "LAYER", "AT"]);
    for s in items {
        let users = s
            .get("users")
            .and_then(Value::as_array)
            .filter(|u| !u.is_empty())
            .map(|_| text(s.get("users")))
            .unwrap_or_else(|| "nobody".into());
        t.add_row(vec![
            field(s, "schedule"),
            users,
            field(s, "layer"),
            field(s, "at"),
        ]);
    }
    t.to_string()
}

/// A contact method's target for a table: an email address as it is, a chat or ntfy URL as
/// the server masked it, and a webhook URL without its query string (often a token).
pub fn contact_target(c: &Value) -> String {
    let target = field(c, "target");
    if c.get("type").and_then(Value::as_str) == Some("webhook") {
        url_without_query(&target)
    } else {
        target
    }
}

/// A user's contact methods.
pub fn contacts_table(items: &[Value]) -> String {
    let mut t = table(&["ID", "TYPE", "NAME", "TARGET", "ADDED"]);
    for c in items {
        t.add_row(vec![
            field(c, "id"),
            field(c, "type"),
            field(c, "name"),
            contact_target(c),
            field(c, "created_at"),
        ]);
    }
    t.to_string()
}

/// What a test page's receiver answered: delivered or not with the status, then the detail.
pub fn test_outcome(t: &Value) -> String {
    let delivered = t.get("delivered").and_then(Value::as_bool) == Some(true);
    let took = match t.get("duration_ms").and_then(Value::as_i64) {
        Some(ms) => format!(", {ms} ms"),
        None => String::new(),
    };
    let status = t.get("status").and_then(Value::as_u64);
    let mut line = match (delivered, status) {
        (true, Some(c)) => {
            format!("Delivered: the receiver took the test page (status {c}{took}).")
        }
        (true, None) => format!("Delivered: the receiver took the test page (no status{took})."),
        (false, Some(c)) => {
            format!("Not delivered: the receiver answered with status {c}{took}.")
        }
        (false, None) => format!("Not delivered: no answer from the receiver (no status{took})."),
    };
    if let Some(d) = t
        .get("detail")
        .and_then(Value::as_str)
        .filter(|d| !d.trim().is_empty())
    {
        line.push_str(&format!("\nDetail: {}", one_line(&printable(d), 300)));
    }
    line
}

/// Who a policy step pages: a user, or whoever is on call on a schedule then.
fn target_text(target: &Value) -> String {
    if let Some(u) = target.get("user").filter(|u| !u.is_null()) {
        text(Some(u))
    } else if let Some(s) = target.get("schedule").filter(|s| !s.is_null()) {
        format!("whoever is on call on {}", text(Some(s)))
    } else {
        text(Some(target))
    }
}

fn steps(p: &Value) -> Vec<Value> {
    p.get("steps")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default()
}

fn step_targets(step: &Value) -> Vec<String> {
    step.get("targets")
        .and_then(Value::as_array)
        .map(|ts| ts.iter().map(target_text).collect())
        .unwrap_or_default()
}

/// Escalation policies: a line per step (`0: alice, then 5m`), repeat and services.
pub fn policies_table(items: &[Value]) -> String {
    let mut t = table(&["POLICY", "STEPS", "REPEAT", "SERVICES", "FROM CONFIG"]);
    for p in items {
        let lines: Vec<String> = steps(p)
            .iter()
            .enumerate()
            .map(|(i, s)| {
                format!(
                    "{i}: {}, then wait {}",
                    step_targets(s).join(", "),
                    field(s, "delay")
                )
            })
            .collect();
        t.add_row(vec![
            field(p, "name"),
            if lines.is_empty() {
                "-".into()
            } else {
                lines.join("\n")
            },
            field(p, "repeat"),
            field(p, "services"),
            field(p, "from_config"),
        ]);
    }
    t.to_string()
}

/// One escalation policy: its steps numbered from 0, then what happens after the last one.
pub fn policy_detail(p: &Value) -> String {
    let mut t = table(&["STEP", "PAGES", "THEN WAITS"]);
    let all = steps(p);
    for (i, s) in all.iter().enumerate() {
        t.add_row(vec![
            i.to_string(),
            step_targets(s).join("\n"),
            field(s, "delay"),
        ]);
    }
    let repeat = p.get("repeat").and_then(Value::as_u64).unwrap_or(0);
    let when = "If nobody has acknowledged when the last step's wait ends,";
    let after = match (all.len(), repeat) {
        (0, _) => "The policy has no steps.".to_string(),
        (_, 0) => format!("{when} the escalation is exhausted and pages nobody more (repeat 0)."),
        (_, 1) => format!("{when} it starts over at step 0 once more (repeat 1)."),
        (_, n) => format!("{when} it starts over at step 0, up to {n} more times (repeat {n})."),
    };
    let services = match p.get("services").and_then(Value::as_array) {
        Some(s) if !s.is_empty() => format!("Services it pages for: {}", field(p, "services")),
        _ => "No service pages through it yet (set a service's escalation_policy).".into(),
    };
    let origin = if p.get("from_config").and_then(Value::as_bool) == Some(true) {
        "declared in firebreak.yaml: change it there"
    } else {
        "made through the API"
    };
    format!(
        "Policy {} ({origin}, updated {})\n{services}\n{t}\n{after}",
        field(p, "name"),
        field(p, "updated_at"),
    )
}

fn set(v: &Value, k: &str) -> bool {
    v.get(k).is_some_and(|x| !x.is_null())
}

/// Escalations: what they are for, how far they got, and who acknowledged.
pub fn escalations_table(items: &[Value]) -> String {
    let mut t = table(&[
        "ESCALATION",
        "FOR",
        "POLICY",
        "STATUS",
        "STEP",
        "ROUND",
        "STARTED",
        "ACKNOWLEDGED",
        "NEXT STEP / ENDED",
    ]);
    for e in items {
        let mut about = Vec::new();
        if set(e, "incident") {
            about.push(field(e, "incident"));
        }
        if set(e, "alert") {
            about.push(format!("alert {}", field(e, "alert")));
        }
        let mut status = field(e, "status");
        if e.get("drill").and_then(Value::as_bool) == Some(true) {
            status.push_str(" [drill]");
        }
        let acked = if set(e, "acknowledged_at") {
            format!(
                "by {}\n{}",
                field(e, "acknowledged_by"),
                field(e, "acknowledged_at")
            )
        } else {
            "-".into()
        };
        let next = if set(e, "next_step_at") {
            format!("next {}", field(e, "next_step_at"))
        } else if set(e, "ended_at") {
            format!("ended {}", field(e, "ended_at"))
        } else {
            "-".into()
        };
        t.add_row(vec![
            field(e, "id"),
            if about.is_empty() {
                "-".into()
            } else {
                about.join(", ")
            },
            field(e, "policy"),
            status,
            field(e, "step"),
            field(e, "round"),
            field(e, "started_at"),
            acked,
            next,
        ]);
    }
    t.to_string()
}

/// The pages an escalation sent: to whom, how, and whether they got through.
pub fn notifications_table(items: &[Value]) -> String {
    let mut t = table(&[
        "PAGE",
        "STEP",
        "USER",
        "VIA",
        "STATUS",
        "ATTEMPTS",
        "DELIVERED / LAST ERROR",
    ]);
    for n in items {
        let step = if set(n, "step") {
            field(n, "step")
        } else {
            "end notice".into()
        };
        let result = if set(n, "delivered_at") {
            field(n, "delivered_at")
        } else if set(n, "last_error") {
            one_line(&field(n, "last_error"), 60)
        } else {
            "-".into()
        };
        t.add_row(vec![
            field(n, "id"),
            step,
            field(n, "user"),
            format!("{} ({})", field(n, "type"), field(n, "contact")),
            field(n, "status"),
            field(n, "attempts"),
            result,
        ]);
    }
    t.to_string()
}

/// One person's shifts across schedules: schedule, start, end and layer.
pub fn my_shifts_table(items: &[Value]) -> String {
    let mut t = table(&["SCHEDULE", "START", "END", "LAYER"]);
    for s in items {
        t.add_row(vec![
            field(s, "schedule"),
            field(s, "start"),
            field(s, "end"),
            field(s, "layer"),
        ]);
    }
    t.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_never_reach_the_terminal() {
        let v = Value::String("disk \u{1b}[2Jfull\r".into());
        assert_eq!(text(Some(&v)), "disk \u{FFFD}[2Jfull\u{FFFD}");
    }

    #[test]
    fn webhook_urls_lose_their_query_and_password() {
        assert_eq!(
            url_without_query("https://hooks.example.com/in?token=s3cret#x"),
            "https://hooks.example.com/in?…"
        );
        assert_eq!(
            url_without_query("https://bot:pa55@chat.example.com/hook"),
            "https://bot:***@chat.example.com/hook"
        );
        assert_eq!(
            url_without_query("https://hooks.example.com/in"),
            "https://hooks.example.com/in"
        );
        assert_eq!(url_without_query("not a url?key=1"), "not a url?…");
    }

    #[test]
    fn alert_timeline_entries_read_as_sentences() {
        let data = serde_json::json!({"alert": 5, "summary": "Disk full", "all_resolved": true});
        assert_eq!(
            describe("alert_resolved", &data),
            "alert 5 resolved: Disk full; every alert has resolved"
        );
    }
}
