//! The `runbooks` section: each runbook's `name`, the `services` it covers (declared in the
//! file), the alerts it covers (`match`), its steps (`body`, in Markdown) or where it lives
//! (`url`), and the `actions` it offers.
//!
//! An action changes production: it runs a program (`kind: command`, an argv list, never a
//! shell string) or sends an HTTP request (`kind: http`), templated with `{placeholders}`
//! that are built in (`{service}`, `{version}`, ...) or declared under `params` with the
//! pattern their values must match. Every placeholder is checked here, so a template that
//! could never be filled is found when the file is checked rather than when someone runs the
//! action during an incident. Secrets are never written in the file: a value of `env` or
//! `headers` may be `{secret: NAME}`, read when the action runs.

use std::collections::BTreeMap;
use std::str::FromStr;

use jiff::SignedDuration;

use firebreak_domain::access::AccessRole;
use firebreak_domain::ids::Name;
use firebreak_domain::runbook::{
    Action, ActionKind, BUILT_IN, DEFAULT_APPROVAL_WITHIN, DEFAULT_TIMEOUT, Param, Runbook,
    Value as Setting, placeholders,
};

use super::{Fields, Reader, is_env_name, join, looks_like_http_url};
use crate::node::{Node, Value};

pub(crate) const RUNBOOK_KEYS: &[&str] = &["name", "services", "match", "body", "url", "actions"];
pub(crate) const ACTION_KEYS: &[&str] = &[
    "name",
    "description",
    "kind",
    "run",
    "cwd",
    "env",
    "method",
    "url",
    "headers",
    "body",
    "params",
    "timeout",
    "role",
    "approval",
    "approval_within",
];
/// The keys of `{secret: NAME}`, a value of `env` or `headers` read when the action runs.
pub(crate) const SECRET_REF_KEYS: &[&str] = &["secret"];

/// The keys only an action of kind `command` takes.
const COMMAND_KEYS: &[&str] = &["run", "cwd", "env"];
/// The keys only an action of kind `http` takes.
const HTTP_KEYS: &[&str] = &["method", "url", "headers", "body"];

/// The methods an `http` action may use.
const METHODS: &[&str] = &["GET", "POST", "PUT", "PATCH", "DELETE"];
/// The method of an `http` action that names none.
const DEFAULT_METHOD: &str = "POST";

/// The range of an action's `timeout`.
const TIMEOUT: (SignedDuration, SignedDuration) =
    (SignedDuration::from_secs(1), SignedDuration::from_hours(1));
/// The range of an action's `approval_within`.
const APPROVAL_WITHIN: (SignedDuration, SignedDuration) =
    (SignedDuration::from_mins(1), SignedDuration::from_hours(24));

const RUN_EXAMPLE: &str = "[kubectl, rollout, undo, \"deployment/{service}\"]";
const URL_EXAMPLE: &str = "https://deploy.example.com/api/rollback";
const SECRET_HINT: &str = "a value is text or {secret: NAME}, the name of a secret read when the \
                           action runs; never write a secret itself in the file";

/// What an action does, as the file spells it in `kind`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Command,
    Http,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Kind::Command => "command",
            Kind::Http => "http",
        }
    }

    fn other(self) -> Kind {
        match self {
            Kind::Command => Kind::Http,
            Kind::Http => Kind::Command,
        }
    }
}

/// Whether `name` can name a parameter: lowercase letters, digits and `_`, not starting with
/// a digit.
fn is_param_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c == '_')
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

/// Whether `name` can name an HTTP header: a token of letters, digits and
/// ``!#$%&'*+-.^_`|~``.
fn is_header_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c))
}

/// The reason a pattern does not compile, on one line: the regex crate's messages show the
/// pattern with a caret on the lines above it.
fn pattern_problem(error: &str) -> String {
    error
        .lines()
        .rev()
        .find_map(|l| l.trim().strip_prefix("error: "))
        .map(str::to_string)
        .unwrap_or_else(|| {
            error
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .collect::<Vec<_>>()
                .join(" ")
        })
}

/// The key node of `key` in the mapping `f` reads, for messages about the key itself rather
/// than its value; the mapping when it cannot be found.
fn key_node<'n>(f: &Fields<'n>, key: &str) -> &'n Node {
    let Value::Map(entries) = &f.node.value else {
        return f.node;
    };
    entries
        .iter()
        .find(|(k, _)| matches!(&k.value, Value::Str(s) if s == key))
        .map_or(f.node, |(k, _)| k)
}

impl Reader<'_> {
    /// A runbook. Its `services` must be declared in the file.
    pub(super) fn runbook(
        &mut self,
        node: &Node,
        path: &str,
        seen: &mut Vec<(String, u64)>,
        services: &[String],
    ) -> Option<Runbook> {
        let f = self.fields(
            node,
            path,
            RUNBOOK_KEYS,
            "a runbook mapping with name, services, match, body, url and actions",
        )?;
        let before = self.errors.len();
        let name = self.unique_name(&f, seen, "runbook name");
        let covered = self.runbook_services(&f, services);
        let matchers = self.opt_matchers(&f);
        let body = self.runbook_body(&f);
        let url = self.link(&f, "url", "https://wiki.example.com/runbooks/checkout");
        if f.get("body").is_none() && f.get("url").is_none() {
            self.error_at(
                f.node,
                &f.path,
                "missing required key \"body\" or \"url\": a runbook needs its steps (body, in \
                 Markdown), where it lives (url), or both",
            );
        }
        let actions = match f.get("actions") {
            Some(n) => self.section(n, &f.path("actions")).map(|items| {
                let path = f.path("actions");
                let mut seen = Vec::new();
                items
                    .iter()
                    .enumerate()
                    .filter_map(|(i, item)| self.action(item, &format!("{path}[{i}]"), &mut seen))
                    .collect()
            }),
            None => Some(Vec::new()),
        };
        if self.errors.len() > before {
            return None;
        }
        Some(Runbook {
            name: name?.0,
            services: covered,
            matchers: matchers?,
            body: body.unwrap_or_default(),
            url,
            actions: actions?,
        })
    }

    /// The services a runbook covers: at least one, each declared in the file.
    fn runbook_services(&mut self, f: &Fields, services: &[String]) -> Vec<Name> {
        let Some(node) = f.get("services") else {
            self.error_at(
                f.node,
                &f.path,
                "missing required key \"services\": the services the runbook covers, each \
                 declared under services:, like [checkout]",
            );
            return Vec::new();
        };
        if matches!(&node.value, Value::Seq(items) if items.is_empty()) {
            self.error_at(
                node,
                &f.path("services"),
                "expected at least one service: the services the runbook covers, each declared \
                 under services:, like [checkout]",
            );
            return Vec::new();
        }
        self.service_refs(f, services)
    }

    /// A runbook's `body`: its steps, in Markdown.
    fn runbook_body(&mut self, f: &Fields) -> Option<String> {
        let node = f.get("body")?;
        let path = f.path("body");
        let body = self.text_of(node, &path)?;
        if body.trim().is_empty() {
            self.error_at(
                node,
                &path,
                "expected non-empty text: the runbook's steps, in Markdown; leave body out when \
                 the runbook lives at its url",
            );
            return None;
        }
        Some(body)
    }

    fn action(&mut self, node: &Node, path: &str, seen: &mut Vec<(String, u64)>) -> Option<Action> {
        let f = self.fields(
            node,
            path,
            ACTION_KEYS,
            "an action mapping with name, kind and the keys of its kind: run, cwd and env for a \
             command; method, url, headers and body for an http request",
        )?;
        let before = self.errors.len();
        let name = self.unique_name(&f, seen, "action name");
        let description = self.opt_text(&f, "description").unwrap_or_default();
        let kind = self.action_kind(&f);
        let params = self.params(&f);
        // Every parameter as written, valid or not, so a template using one with a bad pattern
        // is not also reported.
        let mut known: Vec<String> = BUILT_IN.iter().map(|b| b.to_string()).collect();
        if let Some(Value::Map(entries)) = f.get("params").map(|n| &n.value) {
            for (k, _) in entries {
                if let Value::Str(k) = &k.value
                    && !known.contains(k)
                {
                    known.push(k.clone());
                }
            }
        }
        let action_kind = match kind {
            Some(kind) => {
                self.keys_of_the_other_kind(&f, kind);
                match kind {
                    Kind::Command => self.command(&f, &known),
                    Kind::Http => self.http(&f, &known),
                }
            }
            None => None,
        };
        let timeout = self.bounded_duration(
            &f,
            "timeout",
            TIMEOUT,
            "1s to 1h",
            "how long a run may take before it is stopped, e.g. 2m",
        );
        let role = self.action_role(&f);
        let approval = self.opt_bool(&f, "approval");
        let approval_within = self.bounded_duration(
            &f,
            "approval_within",
            APPROVAL_WITHIN,
            "1m to 24h",
            "how long a run waits for a second person to approve it before it is refused, e.g. \
             15m",
        );
        if self.errors.len() > before {
            return None;
        }
        Some(Action {
            name: name?.0,
            description,
            kind: action_kind?,
            params: params?,
            timeout: timeout.unwrap_or(DEFAULT_TIMEOUT),
            role: role?,
            approval: approval.unwrap_or(false),
            approval_within: approval_within.unwrap_or(DEFAULT_APPROVAL_WITHIN),
        })
    }

    /// An action's `kind`: `command` or `http`.
    fn action_kind(&mut self, f: &Fields) -> Option<Kind> {
        let Some(node) = f.get("kind") else {
            self.error_at(
                f.node,
                &f.path,
                "missing required key \"kind\": what the action does, command (run a program) \
                 or http (send an HTTP request)",
            );
            return None;
        };
        let path = f.path("kind");
        let text = self.text_of(node, &path)?;
        match text.as_str() {
            "command" => Some(Kind::Command),
            "http" => Some(Kind::Http),
            _ => {
                self.error_at(
                    node,
                    &path,
                    format!("unknown action kind \"{text}\"; expected one of command, http"),
                );
                None
            }
        }
    }

    /// Reports the keys only the other kind takes, at each key.
    fn keys_of_the_other_kind(&mut self, f: &Fields, kind: Kind) {
        let other = kind.other();
        let keys = match other {
            Kind::Command => COMMAND_KEYS,
            Kind::Http => HTTP_KEYS,
        };
        for key in keys {
            if f.get(key).is_some() {
                self.error_at(
                    key_node(f, key),
                    &f.path(key),
                    format!(
                        "{key} is for actions of kind {}, not {}; leave it out, or write kind: {}",
                        other.as_str(),
                        kind.as_str(),
                        other.as_str()
                    ),
                );
            }
        }
    }

    /// A `command` action: `run`, `cwd` and `env`.
    fn command(&mut self, f: &Fields, known: &[String]) -> Option<ActionKind> {
        let before = self.errors.len();
        let run = self.run(f, known);
        let cwd = match f.get("cwd") {
            None => None,
            Some(n) => {
                let path = f.path("cwd");
                match &n.value {
                    Value::Str(dir) if !dir.trim().is_empty() => Some(dir.clone()),
                    Value::Str(_) => {
                        self.error_at(
                            n,
                            &path,
                            "expected non-empty text: the directory the command runs in, like \
                             /srv/ops; leave cwd out for the server's own",
                        );
                        None
                    }
                    _ => {
                        self.wrong_type(n, &path, "a directory, like /srv/ops");
                        None
                    }
                }
            }
        };
        let env = self.settings(
            f,
            "env",
            is_env_name,
            "environment variable",
            "letters, digits and _, not starting with a digit, like KUBECONFIG",
            "{KUBECONFIG: {secret: kubeconfig}, MODE: fast}",
        );
        if self.errors.len() > before {
            return None;
        }
        Some(ActionKind::Command {
            run: run?,
            cwd,
            env: env?,
        })
    }

    /// A command's `run`: the program and its arguments, each a template.
    fn run(&mut self, f: &Fields, known: &[String]) -> Option<Vec<String>> {
        let Some(node) = f.get("run") else {
            self.error_at(
                f.node,
                &f.path,
                format!(
                    "missing required key \"run\": the program to run and its arguments, a list \
                     like {RUN_EXAMPLE}"
                ),
            );
            return None;
        };
        let path = f.path("run");
        let items = match &node.value {
            Value::Seq(items) => items,
            Value::Str(_) => {
                self.error_at(
                    node,
                    &path,
                    format!(
                        "expected a list of the program and its arguments, like {RUN_EXAMPLE}, \
                         found text: a command never goes through a shell, so write each \
                         argument as an item of its own"
                    ),
                );
                return None;
            }
            _ => {
                self.wrong_type(
                    node,
                    &path,
                    &format!("a list of the program and its arguments, like {RUN_EXAMPLE}"),
                );
                return None;
            }
        };
        if items.is_empty() {
            self.error_at(
                node,
                &path,
                format!(
                    "expected at least one item: the program to run, then its arguments, like \
                     {RUN_EXAMPLE}"
                ),
            );
            return None;
        }
        let mut run = Vec::new();
        let mut ok = true;
        for (i, item) in items.iter().enumerate() {
            let item_path = format!("{path}[{i}]");
            let what = if i == 0 { "the program" } else { "an argument" };
            let Some(arg) = self.exact_text(item, &item_path, what) else {
                ok = false;
                continue;
            };
            if i == 0 && arg.trim().is_empty() {
                self.error_at(
                    item,
                    &item_path,
                    "expected the program to run, like kubectl, found empty text",
                );
                ok = false;
                continue;
            }
            ok &= self.template(&arg, item, &item_path, known);
            run.push(arg);
        }
        ok.then_some(run)
    }

    /// An `http` action: `method`, `url`, `headers` and `body`.
    fn http(&mut self, f: &Fields, known: &[String]) -> Option<ActionKind> {
        let before = self.errors.len();
        let method = match f.get("method") {
            None => Some(DEFAULT_METHOD.to_string()),
            Some(n) => {
                let path = f.path("method");
                self.text_of(n, &path).and_then(|method| {
                    if METHODS.contains(&method.as_str()) {
                        Some(method)
                    } else {
                        self.error_at(
                            n,
                            &path,
                            format!(
                                "unknown method \"{method}\"; expected one of {}",
                                METHODS.join(", ")
                            ),
                        );
                        None
                    }
                })
            }
        };
        let url = match f.get("url") {
            None => {
                self.error_at(
                    f.node,
                    &f.path,
                    format!(
                        "missing required key \"url\": where the request goes, an http:// or \
                         https:// URL like {URL_EXAMPLE}"
                    ),
                );
                None
            }
            Some(n) => {
                let path = f.path("url");
                self.text_of(n, &path).and_then(|url| {
                    if !looks_like_http_url(&url) {
                        self.error_at(
                            n,
                            &path,
                            format!(
                                "invalid url \"{url}\"; expected an http:// or https:// URL like \
                                 {URL_EXAMPLE}, where placeholders like {{service}} may stand \
                                 after the scheme"
                            ),
                        );
                        return None;
                    }
                    self.template(&url, n, &path, known).then_some(url)
                })
            }
        };
        let headers = self.settings(
            f,
            "headers",
            is_header_name,
            "header",
            "letters, digits and !#$%&'*+-.^_`|~, like Authorization",
            "{Authorization: {secret: deploy_token}}",
        );
        let body = match f.get("body") {
            None => None,
            Some(n) => {
                let path = f.path("body");
                self.exact_text(n, &path, "the request's body")
                    .filter(|body| self.template(body, n, &path, known))
            }
        };
        if self.errors.len() > before {
            return None;
        }
        Some(ActionKind::Http {
            method: method?,
            url: url?,
            headers: headers?,
            body,
        })
    }

    /// Checks the placeholders of a template at `node`: every `{name}` one of `known` (every
    /// other brace is literal). False when there was a problem (reported).
    fn template(&mut self, text: &str, node: &Node, path: &str, known: &[String]) -> bool {
        let expected = known
            .iter()
            .map(|k| format!("{{{k}}}"))
            .collect::<Vec<_>>()
            .join(", ");
        let mut reported: Vec<String> = Vec::new();
        for name in placeholders(text) {
            if known.contains(&name) || reported.contains(&name) {
                continue;
            }
            let hint = format!(
                "declare {name} under params, with the pattern its values must match, like \
                 params: {{{name}: '^[a-z0-9-]{{1,63}}$'}}"
            );
            self.error_at(
                node,
                path,
                format!("unknown placeholder {{{name}}}; expected one of {expected}; {hint}"),
            );
            reported.push(name);
        }
        reported.is_empty()
    }

    /// Text used exactly as written (an argument, a pattern, a request's body): a number or a
    /// boolean would be used as YAML reads it (`1.10` as 1.1), so it must be quoted.
    fn exact_text(&mut self, node: &Node, path: &str, what: &str) -> Option<String> {
        match &node.value {
            Value::Str(text) => Some(text.clone()),
            Value::Int(_) | Value::Float(_) | Value::Bool(_) => {
                self.error_at(
                    node,
                    path,
                    format!(
                        "expected {what} as text, found {}; quote it, so it is used exactly as \
                         written",
                        node.value.kind()
                    ),
                );
                None
            }
            _ => {
                self.wrong_type(node, path, &format!("{what} as text"));
                None
            }
        }
    }

    /// A mapping of names to values at `key` (a command's `env`, a request's `headers`), each
    /// value text or `{secret: NAME}`; empty when left out. `valid` says whether a name can be
    /// used, `what` names one, `names` says what they look like and `example` shows the whole.
    fn settings(
        &mut self,
        f: &Fields,
        key: &str,
        valid: fn(&str) -> bool,
        what: &str,
        names: &str,
        example: &str,
    ) -> Option<BTreeMap<String, Setting>> {
        let Some(node) = f.get(key) else {
            return Some(BTreeMap::new());
        };
        let path = f.path(key);
        let Value::Map(entries) = &node.value else {
            self.wrong_type(
                node,
                &path,
                &format!("a mapping from {what} names to values, like {example}; {SECRET_HINT}"),
            );
            return None;
        };
        let mut out = BTreeMap::new();
        let mut ok = true;
        for (k, v) in entries {
            let Value::Str(name) = &k.value else {
                self.error_at(
                    k,
                    &path,
                    format!("expected {what} name ({names}), found {}", k.value.kind()),
                );
                ok = false;
                continue;
            };
            let item_path = join(&path, name);
            if !valid(name) {
                self.error_at(
                    k,
                    &item_path,
                    format!("invalid {what} name \"{name}\"; expected {names}"),
                );
                ok = false;
                continue;
            }
            match self.setting(v, &item_path) {
                Some(value) => {
                    out.insert(name.clone(), value);
                }
                None => ok = false,
            }
        }
        ok.then_some(out)
    }

    /// A value of `env` or `headers`: text, or `{secret: NAME}`.
    fn setting(&mut self, node: &Node, path: &str) -> Option<Setting> {
        match &node.value {
            Value::Str(text) => Some(Setting::Text(text.clone())),
            Value::Map(_) => {
                let f = self.fields(
                    node,
                    path,
                    SECRET_REF_KEYS,
                    "{secret: NAME}, naming a secret read when the action runs",
                )?;
                let Some(n) = f.get("secret") else {
                    self.error_at(
                        node,
                        path,
                        "missing required key \"secret\"; write {secret: NAME} with the name of \
                         the secret, read when the action runs from the environment \
                         (FIREBREAK_SECRET_<NAME>) or the secrets file",
                    );
                    return None;
                };
                let secret = self.text_of(n, &f.path("secret"))?;
                match Name::parse(&secret) {
                    Ok(name) => Some(Setting::Secret(name)),
                    Err(e) => {
                        self.error_at(n, &f.path("secret"), e.to_string());
                        None
                    }
                }
            }
            _ => {
                self.error_at(
                    node,
                    path,
                    format!(
                        "expected text or {{secret: NAME}}, found {}; quote text so it is used \
                         exactly as written; {SECRET_HINT}",
                        node.value.kind()
                    ),
                );
                None
            }
        }
    }

    /// An action's `params`: each name's pattern, which every value must match in full.
    fn params(&mut self, f: &Fields) -> Option<BTreeMap<String, Param>> {
        let Some(node) = f.get("params") else {
            return Some(BTreeMap::new());
        };
        let path = f.path("params");
        let Value::Map(entries) = &node.value else {
            self.wrong_type(
                node,
                &path,
                "a mapping from parameter names to the patterns their values must match, like \
                 {namespace: '^[a-z0-9-]{1,63}$'}",
            );
            return None;
        };
        let mut out = BTreeMap::new();
        let mut ok = true;
        for (k, v) in entries {
            let Value::Str(name) = &k.value else {
                self.error_at(
                    k,
                    &path,
                    format!("expected a parameter name, found {}", k.value.kind()),
                );
                ok = false;
                continue;
            };
            let item_path = join(&path, name);
            if !is_param_name(name) {
                self.error_at(
                    k,
                    &item_path,
                    format!(
                        "invalid parameter name \"{name}\"; expected lowercase letters, digits \
                         and _, not starting with a digit, like namespace"
                    ),
                );
                ok = false;
                continue;
            }
            let Some(pattern) = self.exact_text(v, &item_path, "a pattern") else {
                ok = false;
                continue;
            };
            if pattern.is_empty() {
                self.error_at(
                    v,
                    &item_path,
                    "expected a pattern the whole value must match, like ^[a-z0-9-]{1,63}$, \
                     found empty text",
                );
                ok = false;
                continue;
            }
            match Param::new(&pattern) {
                Ok(param) => {
                    out.insert(name.clone(), param);
                }
                Err(e) => {
                    self.error_at(
                        v,
                        &item_path,
                        format!(
                            "invalid pattern \"{pattern}\": {}; expected a regular expression \
                             the whole value must match, like ^[a-z0-9-]{{1,63}}$",
                            pattern_problem(&e.to_string())
                        ),
                    );
                    ok = false;
                }
            }
        }
        ok.then_some(out)
    }

    /// An action's `role`, the least role that may run it: responder (the default) or admin.
    fn action_role(&mut self, f: &Fields) -> Option<AccessRole> {
        let Some(node) = f.get("role") else {
            return Some(AccessRole::Responder);
        };
        let path = f.path("role");
        let text = self.text_of(node, &path)?;
        match AccessRole::from_str(&text) {
            Ok(AccessRole::Viewer) => {
                self.error_at(
                    node,
                    &path,
                    "an action changes production; its role must be responder or admin, found \
                     viewer",
                );
                None
            }
            Ok(role) => Some(role),
            Err(_) => {
                self.error_at(
                    node,
                    &path,
                    format!(
                        "unknown role \"{text}\"; expected responder or admin, the least role \
                         that may run the action"
                    ),
                );
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        for ok in ["namespace", "_x", "a1_b"] {
            assert!(is_param_name(ok), "{ok}");
        }
        for bad in ["", "1a", "Namespace", "name-space", "a.b"] {
            assert!(!is_param_name(bad), "{bad}");
        }
        for ok in ["Authorization", "X-Request-Id", "x_y", "a!#$%&'*+-.^_`|~"] {
            assert!(is_header_name(ok), "{ok}");
        }
        for bad in ["", "X Header", "a:b", "é"] {
            assert!(!is_header_name(bad), "{bad}");
        }
    }

    #[test]
    fn pattern_problems_fit_on_one_line() {
        let e = Param::new("[a-z").unwrap_err().to_string();
        assert_eq!(pattern_problem(&e), "unclosed character class");
        assert_eq!(pattern_problem("one\n  two\n"), "one two");
    }

    #[test]
    fn the_default_method_is_one_of_the_methods() {
        assert!(METHODS.contains(&DEFAULT_METHOD));
    }
}
