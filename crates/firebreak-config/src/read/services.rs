//! The `services` section: each service, its integrations and how its alerts are grouped
//! into incidents.

use firebreak_domain::config::{IntegrationSpec, Service};
use firebreak_domain::incident::TITLE_MAX;
use firebreak_domain::rules::{DeclareRule, Grouping};

use super::{Declared, EnvSecret, Fields, Reader, first_seen, looks_like_http_url};
use crate::node::{Node, Value};

pub(crate) const SERVICE_KEYS: &[&str] = &[
    "name",
    "description",
    "team",
    "runbook",
    "escalation_policy",
    "manager",
    "integrations",
    "grouping",
];
pub(crate) const INTEGRATION_KEYS: &[&str] = &["name", "key"];
pub(crate) const GROUPING_KEYS: &[&str] = &["window", "declare"];
pub(crate) const DECLARE_KEYS: &[&str] = &["match", "severity", "title"];

/// The length of an integration key, all ASCII letters and digits.
const INTEGRATION_KEY_LEN: usize = 32;

impl Reader<'_> {
    pub(super) fn service(
        &mut self,
        node: &Node,
        path: &str,
        seen: &mut Vec<(String, u64)>,
        keys: &mut Vec<(String, u64)>,
        declared: &Declared,
    ) -> Option<Service> {
        let f = self.fields(
            node,
            path,
            SERVICE_KEYS,
            "a service mapping with name, description, team, runbook, escalation_policy, \
             manager, integrations and grouping",
        )?;
        let name = self.unique_name(&f, seen, "service name");
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
        let escalation_policy = match f.get("escalation_policy") {
            Some(_) => self.policy_ref(&f, "escalation_policy", declared).map(Some),
            None => Some(None),
        };
        let manager = match f.get("manager") {
            Some(_) => self.user_ref(&f, "manager", declared).map(Some),
            None => Some(None),
        };
        let grouping = match f.get("grouping") {
            Some(n) => self.grouping(n, &f.path("grouping"), &declared.severities),
            None => Some(Grouping::default()),
        };
        Some(Service {
            name: name?.0,
            description,
            team,
            runbook: runbook?,
            integrations: integrations?,
            grouping: grouping?,
            escalation_policy: escalation_policy?,
            manager: manager?,
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
        let (key, key_env) = key?;
        Some(IntegrationSpec {
            name: name?.0,
            key,
            key_env,
        })
    }

    /// An integration key, written in the file or read from the environment variable that
    /// `key: {env: NAME}` names; with the variable's name in the second case. It is a secret:
    /// messages never include it.
    fn integration_key(
        &mut self,
        f: &Fields,
        keys: &mut Vec<(String, u64)>,
    ) -> Option<(String, Option<String>)> {
        let Some(node) = f.get("key") else {
            self.error_at(
                f.node,
                &f.path,
                "missing required key \"key\"; write the key, or key: {env: NAME} to read it \
                 from an environment variable",
            );
            return None;
        };
        let path = f.path("key");
        match &node.value {
            // Not `text_of`: a key of only digits would be read as a number and lose leading
            // zeros.
            Value::Str(key) => {
                let key = self.checked_key(key, node, &path, "", keys)?;
                Some((key, None))
            }
            Value::Map(_) => {
                let set_to = format!(
                    "this integration's key ({INTEGRATION_KEY_LEN} letters or digits, e.g. from \
                     `openssl rand -hex 16`)"
                );
                let env = self.env_secret(
                    node,
                    &path,
                    &EnvSecret {
                        key: "key",
                        holds: "the key",
                        example: "FIREBREAK_KEY_CHECKOUT_PROMETHEUS",
                        set_to: &set_to,
                    },
                )?;
                let owner = format!("the key in environment variable {} ", env.var);
                let key = self.checked_key(&env.value, env.node, &env.path, &owner, keys)?;
                Some((key, Some(env.var.to_string())))
            }
            _ => {
                self.wrong_type(
                    node,
                    &path,
                    "text (quote a key written only with digits), or {env: NAME} to read it \
                     from an environment variable",
                );
                None
            }
        }
    }

    /// Checks a key's form and that no other integration in the file has it. `owner` starts
    /// the message when the key is not written at `node` (it came from the environment).
    fn checked_key(
        &mut self,
        key: &str,
        node: &Node,
        path: &str,
        owner: &str,
        keys: &mut Vec<(String, u64)>,
    ) -> Option<String> {
        let length = key.chars().count();
        if length != INTEGRATION_KEY_LEN || !key.chars().all(|c| c.is_ascii_alphanumeric()) {
            let found = if length == INTEGRATION_KEY_LEN {
                "it has other characters".to_string()
            } else if length == 0 {
                "it is empty".to_string()
            } else {
                format!("it has {length} characters")
            };
            self.error_at(
                node,
                path,
                format!(
                    "{owner}must be exactly {INTEGRATION_KEY_LEN} letters or digits (A-Z, a-z, \
                     0-9), but {found}; generate one with `openssl rand -hex 16`"
                ),
            );
            return None;
        }
        if let Some(line) = first_seen(keys, key, node) {
            self.error_at(
                node,
                path,
                format!(
                    "duplicate integration key; the same key is used on line {line}, \
                     and every integration needs its own"
                ),
            );
            return None;
        }
        Some(key.to_string())
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
}
