//! Turns the located YAML tree into a [`Config`], checking every field and collecting
//! every problem (unknown keys, wrong types, bad values, duplicates, dangling references).

use jiff::SignedDuration;

use firebreak_domain::alert::{AlertSeverity, Urgency};
use firebreak_domain::config::{
    Alerting, Checklist, Config, IntegrationSpec, PageTarget, ResponseTarget, Role, Service,
    Severity, User,
};
use firebreak_domain::ids::Name;
use firebreak_domain::incident::TITLE_MAX;
use firebreak_domain::matcher::Matcher;
use firebreak_domain::rules::{DeclareRule, Grouping, Route};

use crate::error::ConfigError;
use crate::node::{Node, Value};

const DURATION_HINT: &str = "expected a duration like 90s, 15m, 2h or 1h30m";

const TOP_KEYS: &[&str] = &[
    "severities",
    "roles",
    "checklists",
    "services",
    "users",
    "alerting",
];
const SEVERITY_KEYS: &[&str] = &[
    "name",
    "description",
    "respond_within",
    "page",
    "update_every",
    "requires_commander",
];
const ROLE_KEYS: &[&str] = &["name", "key", "duty"];
const CHECKLIST_KEYS: &[&str] = &["name", "severities", "items"];
const SERVICE_KEYS: &[&str] = &[
    "name",
    "description",
    "team",
    "runbook",
    "integrations",
    "grouping",
];
const INTEGRATION_KEYS: &[&str] = &["name", "key"];
const GROUPING_KEYS: &[&str] = &["window", "declare"];
const DECLARE_KEYS: &[&str] = &["match", "severity", "title"];
const USER_KEYS: &[&str] = &["handle", "name", "email", "time_zone"];
const ALERTING_KEYS: &[&str] = &["rate_limit", "suspect_window", "routes"];
const RATE_LIMIT_KEYS: &[&str] = &["per_second", "burst"];
const ROUTE_KEYS: &[&str] = &["match", "service", "severity", "urgency", "drop"];

/// The length of an integration key, all ASCII letters and digits.
const INTEGRATION_KEY_LEN: usize = 32;
const MATCH_EXAMPLE: &str = "['severity=\"critical\"', 'env!=\"dev\"']";

/// Collects problems while reading one file.
pub(crate) struct Reader<'a> {
    file: &'a str,
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
pub fn parse_duration(text: &str) -> Option<SignedDuration> {
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
    if !digits.is_empty() || total == 0 {
        return None;
    }
    Some(SignedDuration::from_secs(total))
}

/// The `name` of a section item (a severity, a service), if it has a textual one.
fn written_name(item: &Node) -> Option<String> {
    let Value::Map(entries) = &item.value else {
        return None;
    };
    entries
        .iter()
        .find_map(|(k, v)| match (&k.value, &v.value) {
            (Value::Str(k), Value::Str(v)) if k == "name" => Some(v.clone()),
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

impl<'a> Reader<'a> {
    pub fn new(file: &'a str) -> Self {
        Reader {
            file,
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

    /// A whole number from 1 to `u32::MAX`.
    fn opt_positive(&mut self, f: &Fields, key: &str) -> Option<u32> {
        let node = f.get(key)?;
        let path = f.path(key);
        match node.value {
            Value::Int(n) => match u32::try_from(n) {
                Ok(v) if v >= 1 => Some(v),
                _ => {
                    self.error_at(
                        node,
                        &path,
                        format!("expected a whole number from 1 to {}, found {n}", u32::MAX),
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
            "a mapping with sections severities, roles, checklists, services, users and alerting",
        ) else {
            return config;
        };
        // Severities first: checklists refer to them.
        // Names as written, so a checklist naming a severity that has some other problem
        // is not also reported as a dangling reference.
        let mut severity_names: Vec<String> =
            config.severities.iter().map(|s| s.name.clone()).collect();
        if let Some(node) = top.get("severities")
            && let Some(items) = self.section(node, "severities")
        {
            if items.is_empty() {
                self.error_at(node, "severities", "expected at least one severity");
            } else {
                severity_names.clear();
                for name in items.iter().filter_map(written_name) {
                    if !severity_names.iter().any(|n| n.eq_ignore_ascii_case(&name)) {
                        severity_names.push(name);
                    }
                }
                let mut seen = Vec::new();
                config.severities = items
                    .iter()
                    .enumerate()
                    .filter_map(|(i, item)| {
                        self.severity(item, &format!("severities[{i}]"), &mut seen)
                    })
                    .collect();
            }
        }
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
            let severities = &severity_names;
            config.checklists = items
                .iter()
                .enumerate()
                .filter_map(|(i, item)| {
                    self.checklist(item, &format!("checklists[{i}]"), &mut seen, severities)
                })
                .collect();
        }
        // Names as written, for routes, so a service with some other problem is not also
        // reported as a dangling reference.
        let mut service_names: Vec<String> = Vec::new();
        if let Some(node) = top.get("services")
            && let Some(items) = self.section(node, "services")
        {
            service_names = items.iter().filter_map(written_name).collect();
            let mut seen = Vec::new();
            // Integration keys are unique across the whole file, not just one service.
            let mut keys = Vec::new();
            let severities = &severity_names;
            config.services = items
                .iter()
                .enumerate()
                .filter_map(|(i, item)| {
                    self.service(
                        item,
                        &format!("services[{i}]"),
                        &mut seen,
                        &mut keys,
                        severities,
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
        if let Some(node) = top.get("alerting")
            && let Some(alerting) = self.alerting(node, &service_names)
        {
            config.alerting = alerting;
        }
        config
    }

    /// The `alerting` section; keys left out keep their defaults.
    fn alerting(&mut self, node: &Node, services: &[String]) -> Option<Alerting> {
        let f = self.fields(
            node,
            "alerting",
            ALERTING_KEYS,
            "a mapping with rate_limit, suspect_window and routes",
        )?;
        let mut alerting = Alerting::default();
        if let Some(n) = f.get("rate_limit")
            && let Some(limit) = self.fields(
                n,
                &f.path("rate_limit"),
                RATE_LIMIT_KEYS,
                "a mapping with per_second and burst",
            )
        {
            if let Some(v) = self.opt_positive(&limit, "per_second") {
                alerting.rate_limit_per_second = v;
            }
            if let Some(v) = self.opt_positive(&limit, "burst") {
                alerting.rate_limit_burst = v;
            }
        }
        if let Some(n) = f.get("suspect_window")
            && let Some(d) = self.duration(n, &f.path("suspect_window"))
        {
            alerting.suspect_window = d;
        }
        if let Some(n) = f.get("routes")
            && let Some(items) = self.section(n, &f.path("routes"))
        {
            let path = f.path("routes");
            alerting.routes = items
                .iter()
                .enumerate()
                .filter_map(|(i, item)| self.route(item, &format!("{path}[{i}]"), services))
                .collect();
        }
        Some(alerting)
    }

    fn route(&mut self, node: &Node, path: &str, services: &[String]) -> Option<Route> {
        let f = self.fields(
            node,
            path,
            ROUTE_KEYS,
            "a routing rule mapping with match and service, severity, urgency or drop",
        )?;
        let matchers = self.matchers(&f);
        let service = match f.get("service") {
            None => Some(None),
            Some(_) => self.name(&f, "service").and_then(|(name, name_node)| {
                if services.iter().any(|s| s == name.as_str()) {
                    Some(Some(name))
                } else {
                    self.error_at(
                        &name_node,
                        &f.path("service"),
                        format!("no service named \"{name}\" is defined in services"),
                    );
                    None
                }
            }),
        };
        let severity = self.opt_word::<AlertSeverity>(&f, "severity");
        let urgency = self.opt_word::<Urgency>(&f, "urgency");
        let drop = self.opt_bool(&f, "drop");
        if drop == Some(true)
            && let Some(drop_node) = f.get("drop")
        {
            let set: Vec<&str> = ["service", "severity", "urgency"]
                .into_iter()
                .filter(|k| f.get(k).is_some())
                .collect();
            if !set.is_empty() {
                let set = set.join(", ");
                self.error_at(
                    drop_node,
                    &f.path("drop"),
                    format!(
                        "a dropping rule cannot also set service, severity or urgency (this one sets {set}); \
                         remove drop: true to route the alert, or remove {set}"
                    ),
                );
                return None;
            }
        }
        Some(Route {
            matchers: matchers?,
            service: service?,
            severity: severity?,
            urgency: urgency?,
            drop: drop.unwrap_or(false),
        })
    }

    fn severity(
        &mut self,
        node: &Node,
        path: &str,
        seen: &mut Vec<(String, u64)>,
    ) -> Option<Severity> {
        let f = self.fields(
            node,
            path,
            SEVERITY_KEYS,
            "a severity mapping with name, respond_within, ...",
        )?;
        let name = self.required_text(&f, "name");
        if let Some((name, name_node)) = &name {
            self.unique(
                seen,
                &name.to_lowercase(),
                name_node,
                &f.path("name"),
                "severity name",
                name,
            );
        }
        let description = self.opt_text(&f, "description").unwrap_or_default();
        let respond_within = match f.get("respond_within") {
            None => {
                self.error_at(node, path, "missing required key \"respond_within\"");
                None
            }
            Some(n) => {
                let p = f.path("respond_within");
                match &n.value {
                    Value::Str(s) if Role::key_for(s) == "next-business-day" => {
                        Some(ResponseTarget::NextBusinessDay)
                    }
                    Value::Str(s) => match parse_duration(s) {
                        Some(d) => Some(ResponseTarget::Within(d)),
                        None => {
                            self.error_at(
                                n,
                                &p,
                                format!("invalid response target \"{s}\"; {DURATION_HINT}, or \"next business day\""),
                            );
                            None
                        }
                    },
                    _ => {
                        self.wrong_type(n, &p, "a duration like 15m or \"next business day\"");
                        None
                    }
                }
            }
        };
        let mut page = Vec::new();
        let mut page_ok = true;
        if let Some(targets) = self.text_list(&f, "page", "[on-call, manager]") {
            for (text, item, item_path) in targets {
                let target = match Role::key_for(&text).as_str() {
                    "on-call" | "oncall" => PageTarget::OnCall,
                    "manager" => PageTarget::Manager,
                    _ => {
                        self.error_at(
                            &item,
                            &item_path,
                            format!("unknown page target \"{text}\"; expected on-call or manager"),
                        );
                        page_ok = false;
                        continue;
                    }
                };
                if !page.contains(&target) {
                    page.push(target);
                }
            }
        } else if f.get("page").is_some() {
            page_ok = false;
        }
        let update_every = match f.get("update_every") {
            Some(n) => Some(self.duration(n, &f.path("update_every"))?),
            None => None,
        };
        let requires_commander = self.opt_bool(&f, "requires_commander");
        if f.get("requires_commander").is_some() && requires_commander.is_none() {
            return None;
        }
        let (name, _) = name?;
        if !page_ok {
            return None;
        }
        Some(Severity {
            name,
            description,
            respond_within: respond_within?,
            requires_commander: requires_commander.unwrap_or(!page.is_empty()),
            page,
            update_every,
        })
    }

    fn role(&mut self, node: &Node, path: &str, seen: &mut Vec<(String, u64)>) -> Option<Role> {
        let f = self.fields(node, path, ROLE_KEYS, "a role mapping with name and duty")?;
        let (name, name_node) = self.required_text(&f, "name")?;
        let duty = self.opt_text(&f, "duty").unwrap_or_default();
        let (key, key_node, key_path) = match f.get("key") {
            Some(key_node) => {
                let key = self.text_of(key_node, &f.path("key"))?;
                if key.is_empty() || Role::key_for(&key) != key {
                    self.error_at(
                        key_node,
                        &f.path("key"),
                        format!("invalid role key \"{key}\"; expected lowercase words joined by '-', like incident-commander"),
                    );
                    return None;
                }
                (key, key_node.clone(), f.path("key"))
            }
            None => {
                let key = Role::key_for(&name);
                if key.is_empty() {
                    self.error_at(
                        &name_node,
                        &f.path("name"),
                        format!("role name \"{name}\" has no letters or digits to make a key from"),
                    );
                    return None;
                }
                (key, name_node.clone(), f.path("name"))
            }
        };
        let before = self.errors.len();
        self.unique(seen, &key, &key_node, &key_path, "role key", &key);
        if self.errors.len() > before {
            return None;
        }
        Some(Role { key, name, duty })
    }

    fn checklist(
        &mut self,
        node: &Node,
        path: &str,
        seen: &mut Vec<(String, u64)>,
        severities: &[String],
    ) -> Option<Checklist> {
        let f = self.fields(
            node,
            path,
            CHECKLIST_KEYS,
            "a checklist mapping with name, severities and items",
        )?;
        let name = self.required_text(&f, "name");
        if let Some((name, name_node)) = &name {
            self.unique(
                seen,
                &name.to_lowercase(),
                name_node,
                &f.path("name"),
                "checklist name",
                name,
            );
        }
        let mut for_severities = Vec::new();
        for (text, item, item_path) in self
            .text_list(&f, "severities", "[SEV1, SEV2]")
            .unwrap_or_default()
        {
            if let Some(s) = self.severity_ref(&text, &item, &item_path, severities) {
                for_severities.push(s);
            }
        }
        let items = match f.get("items") {
            None => {
                self.error_at(node, path, "missing required key \"items\"");
                None
            }
            Some(items_node) => {
                if matches!(&items_node.value, Value::Seq(v) if v.is_empty()) {
                    self.error_at(
                        items_node,
                        &f.path("items"),
                        "expected at least one checklist item",
                    );
                }
                let items = self.text_list(&f, "items", "[bridge opened, status page updated]")?;
                Some(items.into_iter().map(|(t, _, _)| t).collect())
            }
        };
        Some(Checklist {
            name: name?.0,
            severities: for_severities,
            items: items?,
        })
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

    fn service(
        &mut self,
        node: &Node,
        path: &str,
        seen: &mut Vec<(String, u64)>,
        keys: &mut Vec<(String, u64)>,
        severities: &[String],
    ) -> Option<Service> {
        let f = self.fields(
            node,
            path,
            SERVICE_KEYS,
            "a service mapping with name, description, team, runbook, integrations and grouping",
        )?;
        let name = self.name(&f, "name");
        if let Some((name, name_node)) = &name {
            self.unique(
                seen,
                name.as_str(),
                name_node,
                &f.path("name"),
                "service name",
                name.as_str(),
            );
        }
        let description = self.opt_text(&f, "description").unwrap_or_default();
        let team = self.opt_text(&f, "team");
        let runbook = match f.get("runbook") {
            Some(n) => self.text_of(n, &f.path("runbook")).and_then(|url| {
                if looks_like_http_url(&url) {
                    Some(Some(url))
                } else {
                    self.error_at(
                        n,
                        &f.path("runbook"),
                        format!("invalid runbook \"{url}\"; expected an http:// or https:// URL"),
                    );
                    None
                }
            }),
            None => Some(None),
        };
        let integrations = match f.get("integrations") {
            Some(n) => self.section(n, &f.path("integrations")).map(|items| {
                let path = f.path("integrations");
                let mut names = Vec::new();
                items
                    .iter()
                    .enumerate()
                    .filter_map(|(i, item)| {
                        self.integration(item, &format!("{path}[{i}]"), &mut names, keys)
                    })
                    .collect()
            }),
            None => Some(Vec::new()),
        };
        let grouping = match f.get("grouping") {
            Some(n) => self.grouping(n, &f.path("grouping"), severities),
            None => Some(Grouping::default()),
        };
        Some(Service {
            name: name?.0,
            description,
            team,
            runbook: runbook?,
            integrations: integrations?,
            grouping: grouping?,
        })
    }

    fn integration(
        &mut self,
        node: &Node,
        path: &str,
        names: &mut Vec<(String, u64)>,
        keys: &mut Vec<(String, u64)>,
    ) -> Option<IntegrationSpec> {
        let f = self.fields(
            node,
            path,
            INTEGRATION_KEYS,
            "an integration mapping with name and key",
        )?;
        let name = self.required_text(&f, "name");
        if let Some((name, name_node)) = &name {
            self.unique(
                names,
                &name.to_lowercase(),
                name_node,
                &f.path("name"),
                "integration name",
                name,
            );
        }
        let key = self.integration_key(&f, keys);
        Some(IntegrationSpec {
            name: name?.0,
            key: key?,
        })
    }

    /// An integration key. It is a secret: messages never include it.
    fn integration_key(&mut self, f: &Fields, keys: &mut Vec<(String, u64)>) -> Option<String> {
        let Some(node) = f.get("key") else {
            self.error_at(f.node, &f.path, "missing required key \"key\"");
            return None;
        };
        let path = f.path("key");
        // Not `text_of`: a key of only digits would be read as a number and lose leading zeros.
        let Value::Str(key) = &node.value else {
            self.wrong_type(node, &path, "text (quote a key written only with digits)");
            return None;
        };
        let length = key.chars().count();
        if length != INTEGRATION_KEY_LEN || !key.chars().all(|c| c.is_ascii_alphanumeric()) {
            let found = if length == INTEGRATION_KEY_LEN {
                "it has other characters".to_string()
            } else {
                format!("it has {length} characters")
            };
            self.error_at(
                node,
                &path,
                format!(
                    "must be exactly {INTEGRATION_KEY_LEN} letters or digits (A-Z, a-z, 0-9), \
                     but {found}; generate one with `openssl rand -hex 16`"
                ),
            );
            return None;
        }
        if let Some(line) = first_seen(keys, key, node) {
            self.error_at(
                node,
                &path,
                format!(
                    "duplicate integration key; the same key is used on line {line}, \
                     and every integration needs its own"
                ),
            );
            return None;
        }
        Some(key.clone())
    }

    fn grouping(&mut self, node: &Node, path: &str, severities: &[String]) -> Option<Grouping> {
        let f = self.fields(
            node,
            path,
            GROUPING_KEYS,
            "a grouping mapping with window and declare",
        )?;
        let window = match f.get("window") {
            Some(n) => self.duration(n, &f.path("window")).map(Some),
            None => Some(None),
        };
        let declare = match f.get("declare") {
            Some(n) => self.section(n, &f.path("declare")).map(|items| {
                let path = f.path("declare");
                items
                    .iter()
                    .enumerate()
                    .filter_map(|(i, item)| {
                        self.declare_rule(item, &format!("{path}[{i}]"), severities)
                    })
                    .collect()
            }),
            None => Some(Vec::new()),
        };
        Some(Grouping {
            window: window?,
            declare: declare?,
        })
    }

    fn declare_rule(
        &mut self,
        node: &Node,
        path: &str,
        severities: &[String],
    ) -> Option<DeclareRule> {
        let f = self.fields(
            node,
            path,
            DECLARE_KEYS,
            "a declare rule mapping with match, severity and title",
        )?;
        let matchers = self.matchers(&f);
        let severity = self
            .required_text(&f, "severity")
            .and_then(|(text, n)| self.severity_ref(&text, &n, &f.path("severity"), severities));
        let title = match f.get("title") {
            Some(n) => self.text_of(n, &f.path("title")).and_then(|title| {
                let length = title.chars().count();
                if title.trim().is_empty() {
                    self.error_at(n, &f.path("title"), "expected non-empty text");
                    None
                } else if length > TITLE_MAX {
                    self.error_at(
                        n,
                        &f.path("title"),
                        format!("must be at most {TITLE_MAX} characters, found {length}"),
                    );
                    None
                } else {
                    Some(Some(title))
                }
            }),
            None => Some(None),
        };
        Some(DeclareRule {
            matchers: matchers?,
            severity: severity?,
            title: title?,
        })
    }

    fn user(&mut self, node: &Node, path: &str, seen: &mut Vec<(String, u64)>) -> Option<User> {
        let f = self.fields(
            node,
            path,
            USER_KEYS,
            "a user mapping with handle, name, email and time_zone",
        )?;
        let handle = self.name(&f, "handle");
        if let Some((handle, handle_node)) = &handle {
            self.unique(
                seen,
                handle.as_str(),
                handle_node,
                &f.path("handle"),
                "user handle",
                handle.as_str(),
            );
        }
        let name = self.opt_text(&f, "name");
        let mut ok = true;
        let email = match f.get("email") {
            Some(n) => {
                let email = self.text_of(n, &f.path("email"));
                if let Some(e) = &email
                    && !looks_like_email(e)
                {
                    self.error_at(
                        n,
                        &f.path("email"),
                        format!(
                            "invalid email \"{e}\"; expected an address like alice@example.com"
                        ),
                    );
                    ok = false;
                }
                ok &= email.is_some();
                email
            }
            None => None,
        };
        let time_zone = match f.get("time_zone") {
            Some(n) => {
                let tz = self.text_of(n, &f.path("time_zone"));
                if let Some(t) = &tz
                    && jiff::tz::TimeZone::get(t).is_err()
                {
                    self.error_at(
                        n,
                        &f.path("time_zone"),
                        format!("unknown time zone \"{t}\"; expected an IANA name like Europe/Berlin or America/New_York"),
                    );
                    ok = false;
                }
                ok &= tz.is_some();
                tz
            }
            None => None,
        };
        let (handle, _) = handle?;
        if !ok {
            return None;
        }
        Some(User {
            name: name.unwrap_or_else(|| handle.to_string()),
            handle,
            email,
            time_zone,
        })
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
