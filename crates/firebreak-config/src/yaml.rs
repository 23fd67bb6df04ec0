//! Writes a configuration document (the JSON form of `firebreak.yaml`) as YAML a person can
//! read and edit: keys in the order the example file uses, short lists on one line, and
//! text quoted only where YAML would otherwise read it as something else.
//!
//! Written by hand rather than with a serializer so the output looks like a file someone
//! wrote, and so that every string reads back as the same string (a property test checks
//! arbitrary text).

use serde_json::{Map, Value};

/// The top-level sections in the order the example file writes them.
const TOP_ORDER: &[&str] = &[
    "severities",
    "roles",
    "checklists",
    "services",
    "users",
    "schedules",
    "escalation_policies",
    "paging",
    "alerting",
    "outbound",
    "server",
    "email",
    "status_page",
    "comms",
    "runbooks",
    "break_glass",
    "secrets",
];

/// Keys in the order `firebreak.yaml` writes them; any other key follows, alphabetically.
/// One list serves every mapping below the top level, because no two mappings order shared
/// keys differently.
const KEY_ORDER: &[&str] = &[
    "remind_after",
    "remind_severities",
    "handle",
    "name",
    "key",
    "description",
    "kind",
    "run",
    "cwd",
    "env",
    "group",
    "team",
    "runbook",
    "escalation_policy",
    "manager",
    "respond_within",
    "page",
    "update_every",
    "requires_commander",
    "status_page",
    "component_status",
    "impact",
    "freeze",
    "freeze_until",
    "duty",
    "email",
    "integrations",
    "grouping",
    "window",
    "declare",
    "match",
    "service",
    "severity",
    "title",
    "time_zone",
    "listen",
    "type",
    "method",
    "url",
    "severities",
    "services",
    "headers",
    "body",
    "actions",
    "params",
    "timeout",
    "role",
    "max",
    "approval",
    "approval_within",
    "file",
    "secret",
    "items",
    "logo_url",
    "site_url",
    "components",
    "templates",
    "investigating",
    "identified",
    "monitoring",
    "resolved",
    "urgency",
    "drop",
    "repeat",
    "steps",
    "delay",
    "targets",
    "rate_limit",
    "per_second",
    "burst",
    "suspect_window",
    "routes",
    "allow",
    "default_policy",
    "retry",
    "first_delay",
    "max_delay",
    "give_up_after",
    "attempt_timeout",
    "ack_link_ttl",
    "smtp_url",
    "roles",
    "checklists",
    "users",
    "alerting",
    "outbound",
    "channels",
];

/// The keys of a one-entry mapping written on one line, `{env: NAME}`, `{user: alice}` or
/// `{secret: NAME}`.
const INLINE_KEYS: &[&str] = &["env", "user", "schedule", "secret"];

/// Lines longer than this put their list one item per line.
const WIDTH: usize = 100;

/// Writes a configuration document as `firebreak.yaml` text, starting with a comment that says
/// where it came from and, when it has integrations or chat channels, where their keys and
/// webhook URLs are read from.
///
/// Mapping entries whose value is `null` are left out: the reader treats `null` and a missing
/// key alike.
pub fn json_to_yaml(doc: &Value) -> String {
    let mut out =
        String::from("# firebreak.yaml written by Firebreak from a running configuration.\n");
    if has_integrations(doc) {
        out.push_str(
            "# Integration keys are left out: each is read from the environment variable named\n\
             # under its key (key: {env: NAME}); set those where Firebreak runs.\n",
        );
    }
    if doc
        .pointer("/comms/channels")
        .and_then(Value::as_array)
        .is_some_and(|c| !c.is_empty())
    {
        out.push_str(
            "# Chat channel URLs are left out: each is read from the environment variable named\n\
             # under its url (url: {env: NAME}); set those where Firebreak runs.\n",
        );
    }
    if doc.pointer("/email/smtp_url").is_some_and(Value::is_object) {
        out.push_str(
            "# The SMTP URL is left out: it is read from the environment variable named under\n\
             # smtp_url (smtp_url: {env: NAME}); set it where Firebreak runs.\n",
        );
    }
    match doc {
        Value::Object(map) => {
            let mut first = true;
            for (key, value) in ordered_by(map, TOP_ORDER) {
                // A blank line between top-level sections, as a person would write them.
                if !first {
                    out.push('\n');
                }
                first = false;
                entry(&mut out, 0, key, value);
            }
            if first {
                out.push_str("{}\n");
            }
        }
        Value::Array(items) if !items.is_empty() => sequence(&mut out, 0, items),
        other => {
            out.push_str(&flow(other, false).unwrap_or_default());
            out.push('\n');
        }
    }
    out
}

fn has_integrations(doc: &Value) -> bool {
    doc.get("services")
        .and_then(Value::as_array)
        .is_some_and(|services| {
            services.iter().any(|s| {
                s.get("integrations")
                    .and_then(Value::as_array)
                    .is_some_and(|i| !i.is_empty())
            })
        })
}

/// The entries of `map` that are not `null`, in [`KEY_ORDER`].
fn ordered(map: &Map<String, Value>) -> Vec<(&str, &Value)> {
    ordered_by(map, KEY_ORDER)
}

/// The entries of `map` that are not `null`, in `order`.
fn ordered_by<'m>(map: &'m Map<String, Value>, order: &[&str]) -> Vec<(&'m str, &'m Value)> {
    let mut entries: Vec<(&str, &Value)> = map
        .iter()
        .filter(|(_, v)| !v.is_null())
        .map(|(k, v)| (k.as_str(), v))
        .collect();
    let rank = |k: &str| order.iter().position(|o| *o == k).unwrap_or(order.len());
    entries.sort_by(|(a, _), (b, _)| rank(a).cmp(&rank(b)).then(a.cmp(b)));
    entries
}

/// One `key: value` entry at `indent`, the value inline when it fits, else on the lines below.
fn entry(out: &mut String, indent: usize, key: &str, value: &Value) {
    let pad = " ".repeat(indent);
    let key = scalar(key, false);
    if let Some(block) = value
        .as_str()
        .and_then(|text| literal_block(text, indent + 2))
    {
        out.push_str(&format!("{pad}{key}: {block}"));
        return;
    }
    if let Some(inline) = flow(value, false)
        && (is_scalar(value) || indent + key.len() + 2 + inline.len() <= WIDTH)
    {
        out.push_str(&format!("{pad}{key}: {inline}\n"));
        return;
    }
    out.push_str(&format!("{pad}{key}:\n"));
    match value {
        Value::Object(map) => mapping(out, indent + 2, map),
        Value::Array(items) => sequence(out, indent + 2, items),
        // Scalars always fit inline above.
        _ => {}
    }
}

fn mapping(out: &mut String, indent: usize, map: &Map<String, Value>) {
    for (key, value) in ordered(map) {
        entry(out, indent, key, value);
    }
}

/// A block sequence at `indent`: `- item`, with a mapping's first entry on the dash's line.
fn sequence(out: &mut String, indent: usize, items: &[Value]) {
    let pad = " ".repeat(indent);
    for item in items {
        if let Some(block) = item
            .as_str()
            .and_then(|text| literal_block(text, indent + 2))
        {
            out.push_str(&format!("{pad}- {block}"));
            continue;
        }
        if let Some(inline) = flow(item, false)
            && (is_scalar(item) || indent + 2 + inline.len() <= WIDTH)
        {
            out.push_str(&format!("{pad}- {inline}\n"));
            continue;
        }
        // Write the item as if it stood two columns in, then put the dash in front of its
        // first line.
        let mut inner = String::new();
        match item {
            Value::Object(map) => mapping(&mut inner, indent + 2, map),
            Value::Array(items) => sequence(&mut inner, indent + 2, items),
            _ => {}
        }
        out.push_str(&pad);
        out.push_str("- ");
        out.push_str(&inner[indent + 2..]);
    }
}

fn is_scalar(value: &Value) -> bool {
    !matches!(value, Value::Array(_) | Value::Object(_))
}

/// A mapping written on one line inside others: one entry, one of [`INLINE_KEYS`], with a
/// scalar value.
fn inline_entry(value: &Value) -> Option<(&str, &Value)> {
    let Value::Object(map) = value else {
        return None;
    };
    match ordered(map).as_slice() {
        [(key, value)] if INLINE_KEYS.contains(key) && is_scalar(value) => Some((key, value)),
        _ => None,
    }
}

/// The value on one line, if it is simple enough: a scalar, an empty collection, `{env: NAME}`
/// (how the example file writes a key read from the environment) or a target like
/// `{user: alice}`, or a list of those without text for a literal block.
fn flow(value: &Value, in_flow: bool) -> Option<String> {
    match value {
        Value::Null => Some("null".into()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Number(n) => Some(n.to_string()),
        Value::String(s) => Some(scalar(s, in_flow)),
        Value::Array(items) => {
            // Text of several lines reads best as a literal block, one item per line.
            if items
                .iter()
                .any(|i| i.as_str().is_some_and(|t| literal_block(t, 0).is_some()))
            {
                return None;
            }
            let items: Option<Vec<String>> = items
                .iter()
                .map(|i| {
                    if is_scalar(i) || inline_entry(i).is_some() {
                        flow(i, true)
                    } else {
                        None
                    }
                })
                .collect();
            Some(format!("[{}]", items?.join(", ")))
        }
        Value::Object(map) => {
            if map.values().all(Value::is_null) {
                return Some("{}".into());
            }
            let (key, value) = inline_entry(value)?;
            Some(format!("{{{}: {}}}", scalar(key, true), flow(value, true)?))
        }
    }
}

/// Text of several lines as a literal block scalar, `|` (or `|-` without a final line break)
/// and its lines below at `indent`, ending with a line break; `None` when a literal block
/// would not read back as the same text, or be harder to read than a quoted scalar: one line,
/// characters that need escapes (tabs among them), a first line that starts with a space or is
/// empty (YAML would take its indentation for the block's), spaces at the end of a line, or
/// more than one line break at the end.
fn literal_block(text: &str, indent: usize) -> Option<String> {
    let (body, indicator) = match text.strip_suffix('\n') {
        Some(body) => (body, "|"),
        None => (text, "|-"),
    };
    if !body.contains('\n')
        || text.chars().any(|c| c != '\n' && needs_escape(c))
        || body.starts_with([' ', '\n'])
        || body.ends_with('\n')
        || body.lines().any(|l| l.ends_with(' '))
    {
        return None;
    }
    let pad = " ".repeat(indent);
    let mut out = format!("{indicator}\n");
    for line in body.split('\n') {
        if !line.is_empty() {
            out.push_str(&pad);
            out.push_str(line);
        }
        out.push('\n');
    }
    Some(out)
}

/// Text as a YAML scalar: plain when YAML reads it back as the same text, else in single
/// quotes, or in double quotes with escapes when it holds characters that need them.
/// `in_flow`: it stands inside `[...]` or `{...}`, where `,`, brackets and `:` end it.
fn scalar(text: &str, in_flow: bool) -> String {
    if text.chars().any(needs_escape) {
        return double_quoted(text);
    }
    if needs_quotes(text, in_flow) {
        return format!("'{}'", text.replace('\'', "''"));
    }
    text.to_string()
}

/// Characters YAML cannot hold in any but a double-quoted scalar, or that would change the
/// lines: control characters, line and paragraph separators, byte order marks, non-characters.
fn needs_escape(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{2028}' | '\u{2029}' | '\u{feff}' | '\u{fffe}' | '\u{ffff}'
        )
}

fn double_quoted(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if needs_escape(c) => out.push_str(&format!("\\u{:04X}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Whether plain text would be read as something else: a boolean, null or number (in
/// YAML 1.1 or 1.2), a comment, an anchor, tag or other indicator, a key, or spaces lost.
fn needs_quotes(text: &str, in_flow: bool) -> bool {
    const RESERVED: &[&str] = &[
        "true", "false", "yes", "no", "on", "off", "y", "n", "null", "~", ".inf", "-.inf", "+.inf",
        ".nan", "<<", "=",
    ];
    let Some(first) = text.chars().next() else {
        return true;
    };
    let lower = text.to_ascii_lowercase();
    first.is_whitespace()
        || text.ends_with(char::is_whitespace)
        || "-?:,[]{}#&*!|>'\"%@`".contains(first)
        || text.starts_with("...")
        || text.contains(": ")
        || text.contains(" #")
        || text.ends_with(':')
        || text.contains('"')
        || (in_flow && text.contains([',', '[', ']', '{', '}', ':']))
        || RESERVED.contains(&lower.as_str())
        || looks_like_a_number(text)
}

/// Numbers in any notation YAML 1.1 or 1.2 knows (`1e3`, `0x1F`, `1_000`, `1:30`, `.5`),
/// and dates; generous, since quoting too much is harmless.
fn looks_like_a_number(text: &str) -> bool {
    let first = text.chars().next().unwrap_or(' ');
    text.parse::<f64>().is_ok()
        || ((first.is_ascii_digit() || matches!(first, '+' | '-' | '.'))
            && text.chars().any(|c| c.is_ascii_digit())
            && text
                .chars()
                .all(|c| c.is_ascii_hexdigit() || "_+-.:xXoO".contains(c)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    /// Reads YAML back the way the configuration reader does.
    fn read(yaml: &str) -> Value {
        let options = serde_saphyr::options! { strict_booleans: true };
        serde_saphyr::from_str_with_options::<Value>(yaml, options)
            .unwrap_or_else(|e| panic!("{e}\n{yaml}"))
    }

    #[test]
    fn looks_like_a_file_a_person_wrote() {
        let doc = json!({
            "users": [{"handle": "alice", "name": "Alice", "email": null}],
            "severities": [{
                "name": "SEV1", "description": "Outage", "respond_within": "5m",
                "page": ["on-call", "manager"], "update_every": null, "requires_commander": true
            }],
            "services": [{
                "name": "checkout", "description": "", "team": null,
                "integrations": [{"name": "prometheus", "key": {"env": "FIREBREAK_KEY_CHECKOUT_PROMETHEUS"}}],
                "grouping": {"window": "30m", "declare": [
                    {"match": ["severity=\"critical\""], "severity": "SEV2", "title": "Checkout: {summary}"}
                ]}
            }],
            "outbound": {"allow": ["10.0.0.0/8", "fd00::/8"], "retry": {"first_delay": "5s"}}
        });
        let yaml = json_to_yaml(&doc);
        let expected = "\
# firebreak.yaml written by Firebreak from a running configuration.
# Integration keys are left out: each is read from the environment variable named
# under its key (key: {env: NAME}); set those where Firebreak runs.
severities:
  - name: SEV1
    description: Outage
    respond_within: 5m
    page: [on-call, manager]
    requires_commander: true

services:
  - name: checkout
    description: ''
    integrations:
      - name: prometheus
        key: {env: FIREBREAK_KEY_CHECKOUT_PROMETHEUS}
    grouping:
      window: 30m
      declare:
        - match: ['severity=\"critical\"']
          severity: SEV2
          title: 'Checkout: {summary}'

users:
  - handle: alice
    name: Alice

outbound:
  allow: [10.0.0.0/8, 'fd00::/8']
  retry:
    first_delay: 5s
";
        assert_eq!(yaml, expected);
        let mut without_nulls = doc.clone();
        without_nulls["users"][0]
            .as_object_mut()
            .unwrap()
            .remove("email");
        without_nulls["severities"][0]
            .as_object_mut()
            .unwrap()
            .remove("update_every");
        without_nulls["services"][0]
            .as_object_mut()
            .unwrap()
            .remove("team");
        assert_eq!(read(&yaml), without_nulls);
    }

    #[test]
    fn long_lists_go_one_item_per_line_and_empty_ones_stay_short() {
        let items: Vec<String> = (0..12).map(|i| format!("checklist item {i}")).collect();
        let yaml =
            json_to_yaml(&json!({"checklists": [{"name": "x", "items": items, "severities": []}]}));
        assert!(
            yaml.contains("    severities: []\n    items:\n      - checklist item 0\n"),
            "{yaml}"
        );
        assert_eq!(read(&yaml)["checklists"][0]["items"], json!(items));
        assert_eq!(
            json_to_yaml(&json!({})),
            "# firebreak.yaml written by Firebreak from a running configuration.\n{}\n"
        );
    }

    #[test]
    fn text_that_yaml_would_misread_is_quoted() {
        for text in [
            "",
            " lead",
            "trail ",
            "yes",
            "No",
            "on",
            "null",
            "~",
            "true",
            "1",
            "1.5",
            "1e3",
            "0x1F",
            "1_000",
            "12:30",
            "2026-01-01",
            ".inf",
            "- item",
            "? q",
            "#x",
            "a #b",
            "a: b",
            "key:",
            "&a",
            "*a",
            "!tag",
            "|",
            ">",
            "'",
            "\"",
            "%x",
            "@x",
            "`x",
            "{summary}",
            "[x]",
            "...",
            "---",
            "line\nbreak",
            "tab\there",
            "\u{2028}",
            "\u{85}",
            "\u{feff}x",
            "back\\slash",
            "it's",
            "say \"hi\"",
            "a,b",
            "x: {y}",
            "<<",
        ] {
            let doc = json!({
                "title": text,
                "items": [text, text],
                "key": {"env": text},
                "targets": [{"user": text}, {"schedule": text}],
            });
            let yaml = json_to_yaml(&doc);
            assert_eq!(read(&yaml), doc, "{text:?}\n{yaml}");
            // Targets stay on one line, however their text is quoted.
            assert!(
                yaml.lines().any(|l| l.starts_with("targets: [{user: ")),
                "{text:?}\n{yaml}"
            );
        }
    }

    #[test]
    fn plain_text_stays_plain() {
        for text in [
            "5m",
            "1h30m",
            "SEV1",
            "on-call",
            "10.0.0.0/8",
            "https://wiki.example.com/x",
            "Owns the incident, sets priorities.",
        ] {
            let yaml = json_to_yaml(&json!({ "title": text }));
            assert!(yaml.ends_with(&format!("title: {text}\n")), "{yaml}");
        }
    }

    #[test]
    fn text_of_several_lines_is_a_literal_block() {
        let doc = json!({
            "runbooks": [{
                "name": "x",
                "body": "1. Check the panel.\n\n   Indented: `a: b` # not a comment\n2. Done.\n",
                "actions": [{"body": "{{\n  \"a\": 1\n}}"}],
            }],
            "items": ["one\ntwo\n", "a\nb"],
        });
        let yaml = json_to_yaml(&doc);
        assert!(
            yaml.contains(
                "    body: |\n      1. Check the panel.\n\n         Indented: `a: b` # not a \
                 comment\n      2. Done.\n    actions:\n      - body: |-\n          {{\n            \
                 \"a\": 1\n          }}\n"
            ),
            "{yaml}"
        );
        assert!(
            yaml.contains("items:\n  - |\n    one\n    two\n  - |-\n    a\n    b\n"),
            "{yaml}"
        );
        assert_eq!(read(&yaml), doc, "{yaml}");
        // Text a literal block would change, or show less plainly, is quoted.
        for text in [
            "one line\n",
            " indented first\nline",
            "\nleading break",
            "two breaks\nat the end\n\n",
            "trailing space \nhere",
            "a tab\there\nand more",
            "crlf\r\nline",
        ] {
            let yaml = json_to_yaml(&json!({ "body": text }));
            assert!(yaml.contains("body: \""), "{text:?}\n{yaml}");
            assert_eq!(read(&yaml)["body"], text, "{text:?}\n{yaml}");
        }
    }

    proptest! {
        #[test]
        fn text_of_several_lines_reads_back_as_itself(
            text in "[ a-z0-9#:'\"|>{}\\[\\],&*!%@`?.~+-]{0,10}(\n[ a-z#:'\"|>{}-]{0,10}){1,4}\n{0,2}",
            indent in 0usize..3,
        ) {
            // At the top, in a list, and nested in mappings and lists.
            let mut doc = json!({ "title": text.clone(), "list": [text.clone(), "x"] });
            for _ in 0..indent {
                doc = json!({ "runbooks": [{ "body": text.clone(), "nested": doc }] });
            }
            let yaml = json_to_yaml(&doc);
            let options = serde_saphyr::options! { strict_booleans: true };
            let back = serde_saphyr::from_str_with_options::<Value>(&yaml, options);
            prop_assert!(back.is_ok(), "{:?}\n{}", back.err(), yaml);
            prop_assert_eq!(back.unwrap(), doc, "{}", yaml);
        }

        #[test]
        fn any_text_reads_back_as_itself(text in any::<String>(), key in "[a-z_ :#'\"-]{1,8}") {
            let doc = json!({ "title": text.clone(), "list": [text.clone(), "x"], key.clone(): text });
            let yaml = json_to_yaml(&doc);
            let options = serde_saphyr::options! { strict_booleans: true };
            let back = serde_saphyr::from_str_with_options::<Value>(&yaml, options);
            prop_assert!(back.is_ok(), "{:?}\n{}", back.err(), yaml);
            prop_assert_eq!(back.unwrap(), doc, "{}", yaml);
        }

        #[test]
        fn yaml_like_text_reads_back_as_itself(text in "[ a-zA-Z0-9:#,'\"\\[\\]{}&*!|>%@`?.~+_-]{0,12}") {
            let doc = json!({ "title": text.clone(), "list": [text] });
            let yaml = json_to_yaml(&doc);
            let options = serde_saphyr::options! { strict_booleans: true };
            let back = serde_saphyr::from_str_with_options::<Value>(&yaml, options);
            prop_assert!(back.is_ok(), "{:?}\n{}", back.err(), yaml);
            prop_assert_eq!(back.unwrap(), doc, "{}", yaml);
        }
    }
}
