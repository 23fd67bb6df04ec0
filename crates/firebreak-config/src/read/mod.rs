//! Turns the located YAML tree into a [`Config`], checking every field and collecting
//! every problem (unknown keys, wrong types, bad values, duplicates, dangling references).
//!
//! This module holds the [`Reader`], the walk over the top-level sections and the helpers
//! every section shares (fields, text, durations, names, matchers); each section is read in
//! its own submodule.

mod alerting;
mod break_glass;
mod checks;
mod comms;
mod email;
mod escalation;
pub(crate) mod gameday;
mod metrics;
mod oidc;
mod outbound;
mod paging;
mod reports;
mod review;
mod roles;
mod runbooks;
mod schedules;
mod secrets;
mod server;
mod services;
mod severities;
mod status_page;
mod users;

pub(crate) use email::{check_email_from, check_smtp_url, smtp_url_is_secret};
pub use outbound::parse_network;
pub(crate) use server::check_public_url;

/// The keys each mapping accepts, for tests that hold other code (the export) to the same
/// model as the reader.
#[cfg(test)]
pub(crate) mod keys {
    pub(crate) use super::alerting::{ALERTING_KEYS, RATE_LIMIT_KEYS, ROUTE_KEYS};
    pub(crate) use super::break_glass::BREAK_GLASS_KEYS;
    pub(crate) use super::checks::{CHECK_TLS_KEYS, CHECKS_KEYS};
    pub(crate) use super::comms::{CHANNEL_KEYS, COMMS_KEYS, STAKEHOLDER_KEYS};
    pub(crate) use super::email::EMAIL_KEYS;
    pub(crate) use super::escalation::{POLICY_KEYS, STEP_KEYS, TARGET_KEYS};
    pub(crate) use super::metrics::METRICS_KEYS;
    pub(crate) use super::oidc::{OIDC_KEYS, OIDC_ROLE_KEYS};
    pub(crate) use super::outbound::{OUTBOUND_KEYS, RETRY_KEYS};
    pub(crate) use super::paging::PAGING_KEYS;
    pub(crate) use super::reports::REPORTS_KEYS;
    pub(crate) use super::review::{BLAMELESS_KEYS, BLAMELESS_RULE_KEYS, REVIEW_KEYS};
    pub(crate) use super::roles::{CHECKLIST_KEYS, ROLE_KEYS};
    pub(crate) use super::runbooks::{ACTION_KEYS, RUNBOOK_KEYS, SECRET_REF_KEYS};
    pub(crate) use super::schedules::{LAYER_KEYS, RESTRICT_KEYS, ROTATION_KEYS, SCHEDULE_KEYS};
    pub(crate) use super::secrets::SECRETS_KEYS;
    pub(crate) use super::server::{SERVER_KEYS, TLS_KEYS};
    pub(crate) use super::services::{DECLARE_KEYS, GROUPING_KEYS, INTEGRATION_KEYS, SERVICE_KEYS};
    pub(crate) use super::severities::SEVERITY_KEYS;
    pub(crate) use super::status_page::{
        COMPONENT_KEYS, EFFECT_KEYS, STATUS_PAGE_KEYS, TEMPLATE_KEYS,
    };
    pub(crate) use super::users::USER_KEYS;
    pub(crate) use super::{KEY_SOURCE_KEYS, TOP_KEYS};
}

use jiff::SignedDuration;

use firebreak_domain::config::Config;
use firebreak_domain::ids::Name;
use firebreak_domain::matcher::Matcher;

use crate::error::ConfigError;
use crate::node::{Node, Value};

const DURATION_HINT: &str = "expected a duration like 90s, 15m, 2h or 1h30m";

pub(crate) const TOP_KEYS: &[&str] = &[
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
    "oidc",
    "metrics",
    "review",
    "reports",
    "checks",
];

const MATCH_EXAMPLE: &str = "['severity=\"critical\"', 'env!=\"dev\"']";

/// Looks up an environment variable: `None` when it is not set.
pub(crate) type EnvLookup<'a> = &'a dyn Fn(&str) -> Option<String>;

/// Collects problems while reading one file.
pub(crate) struct Reader<'a> {
    file: &'a str,
    /// Where secrets written as `{env: NAME}` (integration keys, channel URLs, the SMTP URL)
    /// are read from.
    env: EnvLookup<'a>,
    pub errors: Vec<ConfigError>,
}

/// The entries of one YAML mapping whose keys have been checked.
struct Fields<'n> {
    node: &'n Node,
    path: String,
    entries: Vec<(&'n str, &'n Node)>,
}

impl<'n> Fields<'n> {
    /// The value of `key`, treating an explicit `null` like an absent key.
    fn get(&self, key: &str) -> Option<&'n Node> {
        self.entries
            .iter()
            .find(|(k, _)| *k == key)
            .map(|(_, v)| *v)
            .filter(|v| !matches!(v.value, Value::Null))
    }

    fn path(&self, key: &str) -> String {
        join(&self.path, key)
    }
}

/// Remembers `key` as written at `node`; when it was already seen, returns the line it was
/// first written on instead.
fn first_seen(seen: &mut Vec<(String, u64)>, key: &str, node: &Node) -> Option<u64> {
    match seen.iter().find(|(k, _)| k == key) {
        Some((_, line)) => Some(*line),
        None => {
            seen.push((key.to_string(), node.loc.line()));
            None
        }
    }
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

/// Parses durations written as number-unit pairs: `90s`, `15m`, `2h`, `1h30m`, `1d`.
/// Zero is not a duration here.
pub fn parse_duration(text: &str) -> Option<SignedDuration> {
    parse_duration_or_zero(text).filter(|d| !d.is_zero())
}

/// Writes a duration the way [`parse_duration`] reads it, in hours, minutes and seconds:
/// `90s` is `1m30s`, `90m` is `1h30m`, a day is `24h`. A part of a second is rounded up to
/// the next second, so a positive duration never reads back as zero.
pub fn format_duration(duration: SignedDuration) -> String {
    let mut secs = duration.as_secs();
    if duration.subsec_nanos() > 0 {
        secs += 1;
    }
    if secs <= 0 {
        return "0s".to_string();
    }
    let (h, m, s) = (secs / 3600, secs / 60 % 60, secs % 60);
    let mut out = String::new();
    for (n, unit) in [(h, 'h'), (m, 'm'), (s, 's')] {
        if n > 0 {
            out.push_str(&n.to_string());
            out.push(unit);
        }
    }
    out
}

/// [`parse_duration`], but `0s`, `0m` and the like read as zero.
fn parse_duration_or_zero(text: &str) -> Option<SignedDuration> {
    let text = text.trim();
    if text.is_empty() {
        return None;
    }
    let mut total: i64 = 0;
    let mut digits = String::new();
    let mut last_unit = u8::MAX;
    for c in text.chars() {
        if c.is_ascii_digit() {
            digits.push(c);
            continue;
        }
        let (rank, seconds) = match c {
            'd' => (0, 86_400),
            'h' => (1, 3_600),
            'm' => (2, 60),
            's' => (3, 1),
            _ => return None,
        };
        // Units must come largest first and only once; each needs a number.
        if digits.is_empty() || (last_unit != u8::MAX && rank <= last_unit) {
            return None;
        }
        last_unit = rank;
        let n: i64 = digits.parse().ok()?;
        total = total.checked_add(n.checked_mul(seconds)?)?;
        digits.clear();
    }
    if !digits.is_empty() || last_unit == u8::MAX {
        return None;
    }
    Some(SignedDuration::from_secs(total))
}

/// The `name` of a section item (a severity, a service), if it has a textual one.
fn written_name(item: &Node) -> Option<String> {
    written(item, "name")
}

/// The text of `key` in a section item, as written, if it has a textual one.
fn written(item: &Node, key: &str) -> Option<String> {
    let Value::Map(entries) = &item.value else {
        return None;
    };
    entries
        .iter()
        .find_map(|(k, v)| match (&k.value, &v.value) {
            (Value::Str(k), Value::Str(v)) if k == key => Some(v.clone()),
            _ => None,
        })
}

fn looks_like_email(text: &str) -> bool {
    let Some((local, domain)) = text.split_once('@') else {
        return false;
    };
    !local.is_empty()
        && !domain.contains('@')
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !domain.contains("..")
        && !text.chars().any(|c| c.is_whitespace() || c.is_control())
}

fn looks_like_http_url(text: &str) -> bool {
    let rest = text
        .strip_prefix("https://")
        .or_else(|| text.strip_prefix("http://"));
    match rest {
        Some(rest) => {
            let host = rest.split(['/', '?', '#']).next().unwrap_or("");
            !host.is_empty() && !text.chars().any(|c| c.is_whitespace() || c.is_control())
        }
        None => false,
    }
}

/// The keys of `{env: NAME}`, a secret (an integration key, a channel's URL, the SMTP URL)
/// read from the environment.
pub(crate) const KEY_SOURCE_KEYS: &[&str] = &["env"];

/// Whether `name` can name an environment variable: letters, digits and `_`, not starting
/// with a digit.
fn is_env_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// How the messages about a secret read from the environment, `key: {env: NAME}`, speak of
/// it.
struct EnvSecret<'s> {
    /// The key the secret is written under, like `url`.
    key: &'s str,
    /// What the variable holds, like `the webhook URL`.
    holds: &'s str,
    /// A name for the variable, shown as an example, like `FIREBREAK_SMTP_URL`.
    example: &'s str,
    /// What to set the variable to when it is not set, like `the SMTP URL, like smtp://...`.
    set_to: &'s str,
}

/// A secret read from the environment variable that `{env: NAME}` names.
struct EnvValue<'n> {
    /// The variable's name.
    var: &'n str,
    /// Where the name is written, for messages about the value.
    node: &'n Node,
    path: String,
    /// The variable's value without surrounding white space: a trailing newline from a secret
    /// file is not part of the secret. No message may include it.
    value: String,
}

/// What the file declares, by name as written: every section's names are collected before
/// any section is read, so references resolve whatever the order of the sections.
pub(crate) struct Declared {
    /// The file's severities, or the default ones when it has none.
    severities: Vec<String>,
    services: Vec<String>,
    /// User handles.
    users: Vec<String>,
    schedules: Vec<String>,
    /// Escalation policies.
    policies: Vec<String>,
}

/// The end of a message about a dangling reference: `lead` and the names that could have
/// been meant, or nothing when there are none.
fn one_of(lead: &str, names: &[String]) -> String {
    if names.is_empty() {
        String::new()
    } else {
        format!("{lead}{}", names.join(", "))
    }
}

/// The node a field path relative to `node` (`steps[1].targets[0]`) names, or the deepest node
/// on the way to it that exists, so a problem the domain finds can be shown where it was written.
fn locate<'n>(node: &'n Node, field: &str) -> &'n Node {
    let mut at = node;
    for part in field.split('.') {
        let (key, indices) = part.split_at(part.find('[').unwrap_or(part.len()));
        if !key.is_empty() {
            let Value::Map(entries) = &at.value else {
                return at;
            };
            let Some((_, value)) = entries
                .iter()
                .find(|(k, _)| matches!(&k.value, Value::Str(s) if s == key))
            else {
                return at;
            };
            at = value;
        }
        for index in indices.split('[').filter(|i| !i.is_empty()) {
            let Some(i) = index
                .strip_suffix(']')
                .and_then(|i| i.parse::<usize>().ok())
            else {
                return at;
            };
            let Value::Seq(items) = &at.value else {
                return at;
            };
            let Some(item) = items.get(i) else {
                return at;
            };
            at = item;
        }
    }
    at
}

impl<'a> Reader<'a> {
    pub fn new(file: &'a str, env: EnvLookup<'a>) -> Self {
        Reader {
            file,
            env,
            errors: Vec::new(),
        }
    }

    pub fn error_at(&mut self, node: &Node, path: &str, message: impl Into<String>) {
        let span = node.loc.span();
        let span = span
            .byte_offset()
            .map(|o| (o as usize, span.byte_len().unwrap_or(0) as usize));
        self.errors.push(ConfigError {
            file: self.file.to_string(),
            line: node.loc.line(),
            column: node.loc.column(),
            path: path.to_string(),
            message: message.into(),
            span,
        });
    }

    fn wrong_type(&mut self, node: &Node, path: &str, expected: &str) {
        let found = node.value.kind();
        self.error_at(node, path, format!("expected {expected}, found {found}"));
    }

    /// Checks `node` is a mapping with only `allowed` keys; reports the others.
    fn fields<'n>(
        &mut self,
        node: &'n Node,
        path: &str,
        allowed: &[&str],
        what: &str,
    ) -> Option<Fields<'n>> {
        let Value::Map(map) = &node.value else {
            self.wrong_type(node, path, what);
            return None;
        };
        let mut entries = Vec::new();
        for (key, value) in map {
            let Value::Str(k) = &key.value else {
                self.error_at(
                    key,
                    path,
                    format!(
                        "expected a key name (one of {}), found {}",
                        allowed.join(", "),
                        key.value.kind()
                    ),
                );
                continue;
            };
            if allowed.contains(&k.as_str()) {
                entries.push((k.as_str(), value));
            } else {
                self.error_at(
                    key,
                    &join(path, k),
                    format!(
                        "unknown key \"{k}\"; expected one of {}",
                        allowed.join(", ")
                    ),
                );
            }
        }
        Some(Fields {
            node,
            path: path.to_string(),
            entries,
        })
    }

    /// A scalar read as text; numbers are accepted and kept as written.
    fn text_of(&mut self, node: &Node, path: &str) -> Option<String> {
        match &node.value {
            Value::Str(s) => Some(s.clone()),
            Value::Int(n) => Some(n.to_string()),
            Value::Float(n) => Some(n.to_string()),
            _ => {
                self.wrong_type(node, path, "text");
                None
            }
        }
    }

    fn opt_text(&mut self, f: &Fields, key: &str) -> Option<String> {
        let node = f.get(key)?;
        self.text_of(node, &f.path(key))
    }

    /// A required, non-empty text field; reports it missing at the mapping.
    fn required_text(&mut self, f: &Fields, key: &str) -> Option<(String, Node)> {
        let Some(node) = f.get(key) else {
            self.error_at(f.node, &f.path, format!("missing required key \"{key}\""));
            return None;
        };
        let text = self.text_of(node, &f.path(key))?;
        if text.trim().is_empty() {
            self.error_at(node, &f.path(key), "expected non-empty text");
            return None;
        }
        Some((text, node.clone()))
    }

    fn opt_bool(&mut self, f: &Fields, key: &str) -> Option<bool> {
        let node = f.get(key)?;
        match node.value {
            Value::Bool(b) => Some(b),
            _ => {
                self.wrong_type(node, &f.path(key), "true or false");
                None
            }
        }
    }

    /// A list of text items, each with its node for error reporting.
    fn text_list(
        &mut self,
        f: &Fields,
        key: &str,
        example: &str,
    ) -> Option<Vec<(String, Node, String)>> {
        let node = f.get(key)?;
        let path = f.path(key);
        let Value::Seq(items) = &node.value else {
            self.wrong_type(node, &path, &format!("a list like {example}"));
            return None;
        };
        let mut out = Vec::new();
        for (i, item) in items.iter().enumerate() {
            let item_path = format!("{path}[{i}]");
            if let Some(text) = self.text_of(item, &item_path) {
                out.push((text, item.clone(), item_path));
            }
        }
        Some(out)
    }

    fn duration(&mut self, node: &Node, path: &str) -> Option<SignedDuration> {
        let text = self.text_of(node, path)?;
        let parsed = parse_duration(&text);
        if parsed.is_none() {
            self.error_at(
                node,
                path,
                format!("invalid duration \"{text}\"; {DURATION_HINT}"),
            );
        }
        parsed
    }

    /// The items of a top-level section, or `None` (with an error) when it is not a list.
    fn section<'n>(&mut self, node: &'n Node, name: &str) -> Option<&'n [Node]> {
        match &node.value {
            Value::Seq(items) => Some(items),
            _ => {
                self.wrong_type(node, name, "a list");
                None
            }
        }
    }

    /// Reports `key` if it was already seen; remembers it otherwise.
    fn unique(
        &mut self,
        seen: &mut Vec<(String, u64)>,
        key: &str,
        node: &Node,
        path: &str,
        what: &str,
        shown: &str,
    ) {
        if let Some(line) = first_seen(seen, key, node) {
            self.error_at(
                node,
                path,
                format!("duplicate {what} \"{shown}\"; first defined on line {line}"),
            );
        }
    }

    /// The mapping's `name`, reported when an earlier item of the same list took it.
    fn unique_name(
        &mut self,
        f: &Fields,
        seen: &mut Vec<(String, u64)>,
        what: &str,
    ) -> Option<(Name, Node)> {
        let name = self.name(f, "name");
        if let Some((name, node)) = &name {
            self.unique(
                seen,
                name.as_str(),
                node,
                &f.path("name"),
                what,
                name.as_str(),
            );
        }
        name
    }

    /// A whole number from 1 to `u32::MAX`.
    fn opt_positive(&mut self, f: &Fields, key: &str) -> Option<u32> {
        self.opt_whole_in(f, key, 1, u32::MAX)
    }

    /// A whole number from `min` to `max`; out of range, the error says that range.
    fn opt_whole_in(&mut self, f: &Fields, key: &str, min: u32, max: u32) -> Option<u32> {
        let node = f.get(key)?;
        let path = f.path(key);
        match node.value {
            Value::Int(n) => match u32::try_from(n) {
                Ok(v) if (min..=max).contains(&v) => Some(v),
                _ => {
                    self.error_at(
                        node,
                        &path,
                        format!("expected a whole number from {min} to {max}, found {n}"),
                    );
                    None
                }
            },
            _ => {
                self.wrong_type(node, &path, "a positive whole number");
                None
            }
        }
    }

    /// An optional value spelled as one of a fixed set of words, like `critical` or `high`.
    /// `Some(None)` when absent; `None` (reported) when it is not one of the words.
    fn opt_word<T: std::str::FromStr<Err = String>>(
        &mut self,
        f: &Fields,
        key: &str,
    ) -> Option<Option<T>> {
        let Some(node) = f.get(key) else {
            return Some(None);
        };
        let text = self.text_of(node, &f.path(key))?;
        match text.parse() {
            Ok(v) => Some(Some(v)),
            Err(e) => {
                self.error_at(node, &f.path(key), e);
                None
            }
        }
    }

    /// The required `match` list of a rule, each item parsed as a [`Matcher`]. An empty list
    /// matches every alert.
    fn matchers(&mut self, f: &Fields) -> Option<Vec<Matcher>> {
        if f.get("match").is_none() {
            self.error_at(
                f.node,
                &f.path,
                "missing required key \"match\"; write match: [] to match every alert",
            );
            return None;
        }
        self.opt_matchers(f)
    }

    /// The optional `match` list, each item parsed as a [`Matcher`]; empty when left out.
    /// `None` when an item is not a matcher (each reported at its item).
    fn opt_matchers(&mut self, f: &Fields) -> Option<Vec<Matcher>> {
        if f.get("match").is_none() {
            return Some(Vec::new());
        }
        let items = self.text_list(f, "match", MATCH_EXAMPLE)?;
        let mut ok = true;
        let mut matchers = Vec::new();
        for (text, item, item_path) in items {
            match Matcher::parse(&text) {
                Ok(m) => matchers.push(m),
                Err(e) => {
                    self.error_at(&item, &item_path, e.to_string());
                    ok = false;
                }
            }
        }
        ok.then_some(matchers)
    }

    /// The canonical name of the severity `text` refers to, or `None` (reported).
    fn severity_ref(
        &mut self,
        text: &str,
        node: &Node,
        path: &str,
        severities: &[String],
    ) -> Option<String> {
        let found = severities.iter().find(|s| s.eq_ignore_ascii_case(text));
        if found.is_none() {
            self.error_at(
                node,
                path,
                format!(
                    "undefined severity \"{text}\"; expected one of {}",
                    severities.join(", ")
                ),
            );
        }
        found.cloned()
    }

    /// Reads `{env: NAME}` at `node`, a secret to be read from the environment, and looks the
    /// variable up; reports a mapping of another shape, a name no variable can have and a
    /// variable that is not set. No message includes the value.
    fn env_secret<'n>(
        &mut self,
        node: &'n Node,
        path: &str,
        secret: &EnvSecret,
    ) -> Option<EnvValue<'n>> {
        let EnvSecret {
            key,
            holds,
            example,
            set_to,
        } = secret;
        let k = self.fields(
            node,
            path,
            KEY_SOURCE_KEYS,
            &format!("{{env: NAME}}, naming the environment variable that holds {holds}"),
        )?;
        let Some(var_node) = k.get("env") else {
            self.error_at(
                node,
                path,
                format!(
                    "missing required key \"env\"; write {key}: {{env: NAME}} with the name of \
                     the environment variable that holds {holds}"
                ),
            );
            return None;
        };
        let var_path = k.path("env");
        let Value::Str(var) = &var_node.value else {
            self.wrong_type(
                var_node,
                &var_path,
                &format!("an environment variable name like {example}"),
            );
            return None;
        };
        if !is_env_name(var) {
            self.error_at(
                var_node,
                &var_path,
                format!(
                    "invalid environment variable name \"{var}\"; expected letters, digits and \
                     _, not starting with a digit, like {example}"
                ),
            );
            return None;
        }
        let Some(value) = (self.env)(var) else {
            self.error_at(
                var_node,
                &var_path,
                format!(
                    "environment variable {var} is not set; set it where Firebreak runs to \
                     {set_to}"
                ),
            );
            return None;
        };
        Some(EnvValue {
            var,
            node: var_node,
            path: var_path,
            value: value.trim().to_string(),
        })
    }

    /// A secret that `check` accepts, written at `node` or read from the environment variable
    /// that `{env: NAME}` names; with the variable's name in the second case. `expected` says
    /// what `node` may be when it is neither. `check`'s messages must not include the secret.
    fn checked_secret(
        &mut self,
        node: &Node,
        path: &str,
        secret: &EnvSecret,
        check: fn(&str) -> Result<(), String>,
        expected: &str,
    ) -> Option<(String, Option<String>)> {
        match &node.value {
            Value::Str(text) => match check(text) {
                Ok(()) => Some((text.clone(), None)),
                Err(message) => {
                    self.error_at(node, path, message);
                    None
                }
            },
            Value::Map(_) => {
                let env = self.env_secret(node, path, secret)?;
                match check(&env.value) {
                    Ok(()) => Some((env.value, Some(env.var.to_string()))),
                    Err(message) => {
                        self.error_at(
                            env.node,
                            &env.path,
                            format!("environment variable {}: {message}", env.var),
                        );
                        None
                    }
                }
            }
            _ => {
                self.wrong_type(node, path, expected);
                None
            }
        }
    }

    pub fn config(&mut self, root: &Node) -> Config {
        let mut config = Config::default();
        config.services.clear();
        config.users.clear();
        if matches!(root.value, Value::Null) {
            return config;
        }
        let Some(top) = self.fields(
            root,
            "",
            TOP_KEYS,
            "a mapping with sections severities, roles, checklists, services, users, schedules, \
             escalation_policies, paging, alerting, outbound, server, email, status_page, comms, \
             runbooks, break_glass, secrets, oidc, metrics, review, reports and checks",
        ) else {
            return config;
        };
        let items_of = |key: &str| match top.get(key).map(|n| &n.value) {
            Some(Value::Seq(items)) => items.as_slice(),
            _ => &[],
        };
        // Names as written, collected before any section is read, so a reference resolves
        // wherever in the file it is declared, and naming something that has some other
        // problem is not also reported as a dangling reference.
        let mut declared = Declared {
            severities: config.severities.iter().map(|s| s.name.clone()).collect(),
            services: items_of("services")
                .iter()
                .filter_map(written_name)
                .collect(),
            users: items_of("users")
                .iter()
                .filter_map(|u| written(u, "handle"))
                .collect(),
            schedules: items_of("schedules")
                .iter()
                .filter_map(written_name)
                .collect(),
            policies: items_of("escalation_policies")
                .iter()
                .filter_map(written_name)
                .collect(),
        };
        // Severities first: checklists refer to them.
        if let Some(node) = top.get("severities")
            && let Some(items) = self.section(node, "severities")
        {
            if items.is_empty() {
                self.error_at(node, "severities", "expected at least one severity");
            } else {
                declared.severities.clear();
                for name in items.iter().filter_map(written_name) {
                    if !declared
                        .severities
                        .iter()
                        .any(|n| n.eq_ignore_ascii_case(&name))
                    {
                        declared.severities.push(name);
                    }
                }
                let mut seen = Vec::new();
                config.severities = items
                    .iter()
                    .enumerate()
                    .filter_map(|(i, item)| {
                        self.severity(item, &format!("severities[{i}]"), i, &mut seen)
                    })
                    .collect();
            }
        }
        let declared = &declared;
        if let Some(node) = top.get("roles")
            && let Some(items) = self.section(node, "roles")
        {
            let mut seen = Vec::new();
            config.roles = items
                .iter()
                .enumerate()
                .filter_map(|(i, item)| self.role(item, &format!("roles[{i}]"), &mut seen))
                .collect();
        }
        if let Some(node) = top.get("checklists")
            && let Some(items) = self.section(node, "checklists")
        {
            let mut seen = Vec::new();
            let severities = &declared.severities;
            config.checklists = items
                .iter()
                .enumerate()
                .filter_map(|(i, item)| {
                    self.checklist(item, &format!("checklists[{i}]"), &mut seen, severities)
                })
                .collect();
        }
        if let Some(node) = top.get("services")
            && let Some(items) = self.section(node, "services")
        {
            let mut seen = Vec::new();
            // Integration keys are unique across the whole file, not just one service.
            let mut keys = Vec::new();
            config.services = items
                .iter()
                .enumerate()
                .filter_map(|(i, item)| {
                    self.service(
                        item,
                        &format!("services[{i}]"),
                        &mut seen,
                        &mut keys,
                        declared,
                    )
                })
                .collect();
        }
        if let Some(node) = top.get("users")
            && let Some(items) = self.section(node, "users")
        {
            let mut seen = Vec::new();
            config.users = items
                .iter()
                .enumerate()
                .filter_map(|(i, item)| self.user(item, &format!("users[{i}]"), &mut seen))
                .collect();
        }
        if let Some(node) = top.get("schedules")
            && let Some(items) = self.section(node, "schedules")
        {
            let mut seen = Vec::new();
            config.schedules = items
                .iter()
                .enumerate()
                .filter_map(|(i, item)| {
                    self.schedule(item, &format!("schedules[{i}]"), &mut seen, &declared.users)
                })
                .collect();
        }
        if let Some(node) = top.get("escalation_policies")
            && let Some(items) = self.section(node, "escalation_policies")
        {
            let mut seen = Vec::new();
            config.escalation_policies = items
                .iter()
                .enumerate()
                .filter_map(|(i, item)| {
                    self.escalation_policy(
                        item,
                        &format!("escalation_policies[{i}]"),
                        &mut seen,
                        declared,
                    )
                })
                .collect();
        }
        if let Some(node) = top.get("paging")
            && let Some(paging) = self.paging(node, declared)
        {
            config.paging = paging;
        }
        if let Some(node) = top.get("alerting")
            && let Some(alerting) = self.alerting(node, &declared.services)
        {
            config.alerting = alerting;
        }
        if let Some(node) = top.get("outbound")
            && let Some(outbound) = self.outbound(node)
        {
            config.outbound = outbound;
        }
        if let Some(node) = top.get("server")
            && let Some(server) = self.server(node)
        {
            config.server = server;
        }
        if let Some(node) = top.get("email")
            && let Some(email) = self.email(node)
        {
            config.email = email;
        }
        if let Some(node) = top.get("status_page")
            && let Some(page) = self.status_page(node, &declared.services)
        {
            config.status_page = page;
        }
        if let Some(node) = top.get("comms")
            && let Some(comms) = self.comms(node, declared)
        {
            config.comms = comms;
        }
        if let Some(node) = top.get("runbooks")
            && let Some(items) = self.section(node, "runbooks")
        {
            let mut seen = Vec::new();
            config.runbooks = items
                .iter()
                .enumerate()
                .filter_map(|(i, item)| {
                    self.runbook(
                        item,
                        &format!("runbooks[{i}]"),
                        &mut seen,
                        &declared.services,
                    )
                })
                .collect();
        }
        if let Some(node) = top.get("break_glass")
            && let Some(policy) = self.break_glass(node)
        {
            config.break_glass = policy;
        }
        if let Some(node) = top.get("secrets")
            && let Some(secrets) = self.secrets(node)
        {
            config.secrets = secrets;
        }
        if let Some(node) = top.get("oidc") {
            config.oidc = self.oidc(node);
        }
        if let Some(node) = top.get("metrics")
            && let Some(metrics) = self.metrics(node, config.status_page.listen.as_deref())
        {
            config.metrics = metrics;
        }
        if let Some(node) = top.get("review")
            && let Some(review) = self.review(node, declared)
        {
            config.review = review;
        }
        if let Some(node) = top.get("reports")
            && let Some(reports) = self.reports(node)
        {
            config.reports = reports;
        }
        if let Some(node) = top.get("checks")
            && let Some(checks) = self.checks(node)
        {
            config.checks = checks;
        }
        config
    }

    /// A reference to an escalation policy declared in the file.
    fn policy_ref(&mut self, f: &Fields, key: &str, declared: &Declared) -> Option<Name> {
        let (name, node) = self.name(f, key)?;
        if declared.policies.iter().any(|p| p == name.as_str()) {
            Some(name)
        } else {
            self.error_at(
                &node,
                &f.path(key),
                format!(
                    "no escalation policy named \"{name}\" is defined in \
                     escalation_policies{}",
                    one_of("; expected one of ", &declared.policies)
                ),
            );
            None
        }
    }

    /// A reference to a user declared in the file, by handle.
    fn user_ref(&mut self, f: &Fields, key: &str, declared: &Declared) -> Option<Name> {
        let (name, node) = self.name(f, key)?;
        if declared.users.iter().any(|u| u == name.as_str()) {
            Some(name)
        } else {
            self.error_at(
                &node,
                &f.path(key),
                format!("unknown user \"{name}\"; declare them under users:, with this handle"),
            );
            None
        }
    }

    /// A reference to a schedule declared in the file.
    fn schedule_ref(&mut self, f: &Fields, key: &str, declared: &Declared) -> Option<Name> {
        let (name, node) = self.name(f, key)?;
        if declared.schedules.iter().any(|s| s == name.as_str()) {
            Some(name)
        } else {
            self.error_at(
                &node,
                &f.path(key),
                format!(
                    "unknown schedule \"{name}\"; declare it under schedules:{}",
                    one_of(", or name one of ", &declared.schedules)
                ),
            );
            None
        }
    }

    /// The services `f` lists under `services`, each declared in the file and listed once; the
    /// others are reported and left out.
    fn service_refs(&mut self, f: &Fields, services: &[String]) -> Vec<Name> {
        let mut out = Vec::new();
        let mut listed: Vec<(String, u64)> = Vec::new();
        for (text, item, item_path) in self
            .text_list(f, "services", "[checkout, search-api]")
            .unwrap_or_default()
        {
            let service = match Name::parse(&text) {
                Ok(service) => service,
                Err(e) => {
                    self.error_at(&item, &item_path, e.to_string());
                    continue;
                }
            };
            if !services.iter().any(|s| s == service.as_str()) {
                self.error_at(
                    &item,
                    &item_path,
                    format!(
                        "unknown service \"{service}\"; declare it under services:{}",
                        one_of(", or name one of ", services)
                    ),
                );
                continue;
            }
            if let Some(line) = first_seen(&mut listed, service.as_str(), &item) {
                self.error_at(
                    &item,
                    &item_path,
                    format!("service \"{service}\" is listed twice; first on line {line}"),
                );
                continue;
            }
            out.push(service);
        }
        out
    }

    fn name(&mut self, f: &Fields, key: &str) -> Option<(Name, Node)> {
        let (text, node) = self.required_text(f, key)?;
        match Name::parse(&text) {
            Ok(name) => Some((name, node)),
            Err(e) => {
                self.error_at(&node, &f.path(key), e.to_string());
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("90s"), Some(SignedDuration::from_secs(90)));
        assert_eq!(parse_duration("15m"), Some(SignedDuration::from_mins(15)));
        assert_eq!(parse_duration("2h"), Some(SignedDuration::from_hours(2)));
        assert_eq!(parse_duration("1h30m"), Some(SignedDuration::from_mins(90)));
        assert_eq!(parse_duration("1d"), Some(SignedDuration::from_hours(24)));
        for bad in [
            "", "5 mins", "m", "15", "30m1h", "1h1h", "0m", "-5m", "1.5h",
        ] {
            assert_eq!(parse_duration(bad), None, "{bad}");
        }
    }

    #[test]
    fn durations_are_written_the_way_they_are_read() {
        for (secs, text) in [
            (5, "5s"),
            (90, "1m30s"),
            (600, "10m"),
            (5400, "1h30m"),
            (7200, "2h"),
            (86_400, "24h"),
            (90_061, "25h1m1s"),
        ] {
            let d = SignedDuration::from_secs(secs);
            assert_eq!(format_duration(d), text);
            assert_eq!(parse_duration(text), Some(d), "{text}");
        }
        assert_eq!(format_duration(SignedDuration::from_millis(1500)), "2s");
        assert_eq!(format_duration(SignedDuration::from_millis(1)), "1s");
        assert_eq!(parse_duration_or_zero("0s"), Some(SignedDuration::ZERO));
        assert_eq!(parse_duration_or_zero("0h0m"), Some(SignedDuration::ZERO));
        assert_eq!(parse_duration_or_zero("s"), None);
    }

    #[test]
    fn emails_and_urls() {
        assert!(looks_like_email("alice@example.com"));
        assert!(!looks_like_email("alice.example.com"));
        assert!(!looks_like_email("alice@localhost"));
        assert!(!looks_like_email("a b@example.com"));
        assert!(looks_like_http_url("https://wiki.example.com/x"));
        assert!(looks_like_http_url("http://wiki"));
        assert!(!looks_like_http_url("ftp://wiki.example.com"));
        assert!(!looks_like_http_url("https://"));
        assert!(!looks_like_http_url("wiki.example.com"));
    }
}
