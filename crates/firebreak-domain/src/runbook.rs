//! Runbooks and the actions they offer. A runbook covers services and, optionally, only the
//! alerts its matchers select; it shows next to every alert and incident it covers. Its
//! actions are production changes: a command (an argv list, never a shell string) or an HTTP
//! request, templated from the incident, the alert and the suspect deploy, each value checked
//! against a pattern and put into exactly one argument. A placeholder is `{name}`; every other
//! brace is literal, so a JSON body is written as it is.

use std::collections::BTreeMap;

use jiff::SignedDuration;
use regex::Regex;

use crate::Name;
use crate::access::AccessRole;
use crate::alert::{Alert, Link};
use crate::matcher::Matcher;

/// A value written in the file, or the name of a secret to fetch when the action runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    Text(String),
    Secret(Name),
}

/// What an action does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ActionKind {
    Command {
        /// The program and its arguments, each a template.
        run: Vec<String>,
        /// The working directory; the server's own when absent.
        cwd: Option<String>,
        /// The whole environment the command gets, besides `PATH`.
        env: BTreeMap<String, Value>,
    },
    Http {
        method: String,
        /// A template; the rendered URL goes through the SSRF guard.
        url: String,
        headers: BTreeMap<String, Value>,
        /// A template.
        body: Option<String>,
    },
}

/// A parameter's rule: the pattern every value must match in full.
#[derive(Debug, Clone)]
pub struct Param {
    pub pattern: String,
    regex: Regex,
}

impl PartialEq for Param {
    fn eq(&self, other: &Self) -> bool {
        self.pattern == other.pattern
    }
}
impl Eq for Param {}

impl Param {
    /// The pattern is anchored at both ends whether or not it says so.
    pub fn new(pattern: &str) -> Result<Param, regex::Error> {
        let regex = Regex::new(&format!("^(?:{pattern})$"))?;
        Ok(Param {
            pattern: pattern.to_string(),
            regex,
        })
    }
    pub fn accepts(&self, value: &str) -> bool {
        self.regex.is_match(value)
    }
}

/// The pattern of a value with no declared parameter (`{service}`, `{version}`,
/// `{previous_version}`): a name or version with no spaces, slashes or `@`, not starting with
/// `-` or `.` (so it can neither add an argument nor climb a path).
pub const DEFAULT_PATTERN: &str = r"[A-Za-z0-9_:+][A-Za-z0-9_.:+=-]{0,199}";

/// An action a runbook offers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Action {
    pub name: Name,
    pub description: String,
    pub kind: ActionKind,
    pub params: BTreeMap<String, Param>,
    pub timeout: SignedDuration,
    /// The least role that may run it.
    pub role: AccessRole,
    /// Whether a second person must approve each run.
    pub approval: bool,
    /// How long a run waits for its approval before it is refused.
    pub approval_within: SignedDuration,
}

pub const DEFAULT_TIMEOUT: SignedDuration = SignedDuration::from_mins(5);
pub const DEFAULT_APPROVAL_WITHIN: SignedDuration = SignedDuration::from_mins(15);
/// The action a service's one-step rollback is named.
pub const ROLLBACK: &str = "rollback";

/// `runbooks:` in `firebreak.yaml`, one entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Runbook {
    pub name: Name,
    /// The services it covers.
    pub services: Vec<Name>,
    /// When given, it covers only the alerts they all select.
    pub matchers: Vec<Matcher>,
    /// Markdown.
    pub body: String,
    /// Where the runbook lives, for one kept outside Firebreak.
    pub url: Option<String>,
    pub actions: Vec<Action>,
}

impl Action {
    /// The placeholders its templates use: the argv, or the URL and body.
    pub fn placeholders(&self) -> Vec<String> {
        let mut names: Vec<String> = match &self.kind {
            ActionKind::Command { run, .. } => run.iter().flat_map(|a| placeholders(a)).collect(),
            ActionKind::Http { url, body, .. } => placeholders(url)
                .into_iter()
                .chain(body.iter().flat_map(|b| placeholders(b)))
                .collect(),
        };
        names.sort();
        names.dedup();
        names
    }
}

impl Runbook {
    /// Whether it covers `alert`: one of its services, and every matcher (over the alert's
    /// labels, plus `service`).
    pub fn covers_alert(&self, alert: &Alert) -> bool {
        self.services.contains(&alert.service)
            && Matcher::all(&self.matchers, |name| match name {
                "service" => Some(alert.service.as_str()),
                _ => alert.labels.get(name).map(String::as_str),
            })
    }

    /// Whether it covers an incident on `services` with `alerts`: a runbook without matchers
    /// covers its services' incidents; one with matchers, incidents holding an alert it covers.
    pub fn covers_incident(&self, services: &[Name], alerts: &[Alert]) -> bool {
        if self.matchers.is_empty() {
            services.iter().any(|s| self.services.contains(s))
                || alerts.iter().any(|a| self.services.contains(&a.service))
        } else {
            alerts.iter().any(|a| self.covers_alert(a))
        }
    }

    pub fn action(&self, name: &str) -> Option<&Action> {
        self.actions.iter().find(|a| a.name.as_str() == name)
    }
}

/// A runbook link a sender put on the alert: Alertmanager's `runbook_url` annotation, or a
/// PagerDuty link named "runbook".
pub fn linked_runbooks(alert: &Alert) -> impl Iterator<Item = &Link> {
    alert.links.iter().filter(|l| {
        l.text
            .as_deref()
            .is_some_and(|t| t.trim().eq_ignore_ascii_case("runbook"))
    })
}

/// Why an action cannot be templated.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    #[error("`{{{0}}}` has no value here; pass it with `params` (`--param {0}=...`)")]
    Missing(String),
    #[error("`{name}` is not allowed: it must match `{pattern}`")]
    Refused { name: String, pattern: String },
    #[error("`{0}` is not a parameter of this action")]
    Unknown(String),
}

/// The values an action is templated with, each already checked against its pattern.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Values(BTreeMap<String, String>);

impl Values {
    /// Checks the values the action's templates use (from the incident, the alert, the
    /// deploy, then the request's `params`, later ones winning) against the action's patterns.
    /// A request's `params` may only name declared parameters, or `version` and
    /// `previous_version`; `{incident}` is always the incident's own, and `service` may only be
    /// one of `services` (the runbook's).
    pub fn check(
        action: &Action,
        known: BTreeMap<String, String>,
        requested: &BTreeMap<String, String>,
        services: &[Name],
    ) -> Result<Values, TemplateError> {
        let used = action.placeholders();
        let mut all: BTreeMap<String, String> = known
            .into_iter()
            .filter(|(k, _)| used.contains(k))
            .collect();
        for (k, v) in requested {
            let overridable = action.params.contains_key(k)
                || matches!(k.as_str(), "version" | "previous_version" | "service");
            if !overridable {
                return Err(TemplateError::Unknown(k.clone()));
            }
            if k == "service" && !services.iter().any(|s| s.as_str() == v) {
                return Err(TemplateError::Refused {
                    name: k.clone(),
                    pattern: services
                        .iter()
                        .map(Name::as_str)
                        .collect::<Vec<_>>()
                        .join("|"),
                });
            }
            all.insert(k.clone(), v.clone());
        }
        let default = Param::new(DEFAULT_PATTERN).expect("the default pattern compiles");
        for (k, v) in &all {
            let rule = action.params.get(k).unwrap_or(&default);
            if !rule.accepts(v) {
                return Err(TemplateError::Refused {
                    name: k.clone(),
                    pattern: rule.pattern.clone(),
                });
            }
        }
        Ok(Values(all))
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }

    pub fn iter(&self) -> impl Iterator<Item = (&String, &String)> {
        self.0.iter()
    }

    /// The same values, each passed through `f` (to encode them for a URL, say).
    pub fn mapped(&self, f: impl Fn(&str) -> String) -> Values {
        Values(self.0.iter().map(|(k, v)| (k.clone(), f(v))).collect())
    }
}

/// The values Firebreak fills in itself.
pub const BUILT_IN: [&str; 4] = ["service", "version", "previous_version", "incident"];

/// The placeholder at the start of `text` (which starts with `{`): `{name}` with a name of
/// lowercase letters, digits and `_` not starting with a digit (a parameter's name). Anything else is literal text, so a JSON
/// body's braces need no escaping.
fn placeholder_at(text: &str) -> Option<&str> {
    let rest = text.strip_prefix('{')?;
    let end = rest.find('}')?;
    let name = &rest[..end];
    let mut chars = name.chars();
    let first = chars.next()?;
    ((first.is_ascii_lowercase() || first == '_')
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'))
    .then_some(name)
}

/// Fills `{name}` placeholders in one template; every other brace is literal. The result is one
/// string, whatever the values hold: a value never becomes two arguments.
pub fn render(template: &str, values: &Values) -> Result<String, TemplateError> {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(i) = rest.find('{') {
        out.push_str(&rest[..i]);
        let tail = &rest[i..];
        match placeholder_at(tail) {
            Some(name) => {
                let value = values
                    .get(name)
                    .ok_or_else(|| TemplateError::Missing(name.to_string()))?;
                out.push_str(value);
                rest = &tail[name.len() + 2..];
            }
            None => {
                out.push('{');
                rest = &tail[1..];
            }
        }
    }
    out.push_str(rest);
    Ok(out)
}

/// The placeholder names a template uses.
pub fn placeholders(template: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut rest = template;
    while let Some(i) = rest.find('{') {
        let tail = &rest[i..];
        match placeholder_at(tail) {
            Some(name) => {
                names.push(name.to_string());
                rest = &tail[name.len() + 2..];
            }
            None => rest = &tail[1..],
        }
    }
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    fn action(params: &[(&str, &str)]) -> Action {
        Action {
            name: Name::parse("rollback").unwrap(),
            description: String::new(),
            kind: ActionKind::Command {
                run: vec![
                    "kubectl".into(),
                    "deployment/{service}".into(),
                    "-n".into(),
                    "{namespace}".into(),
                ],
                cwd: None,
                env: BTreeMap::new(),
            },
            params: params
                .iter()
                .map(|(k, p)| (k.to_string(), Param::new(p).unwrap()))
                .collect(),
            timeout: DEFAULT_TIMEOUT,
            role: AccessRole::Responder,
            approval: false,
            approval_within: DEFAULT_APPROVAL_WITHIN,
        }
    }

    fn svc() -> Vec<Name> {
        vec![Name::parse("api").unwrap()]
    }

    fn known(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn values_fill_one_argument_each_and_are_checked() {
        let a = action(&[("namespace", "^[a-z0-9-]{1,63}$")]);
        let v = Values::check(
            &a,
            known(&[("service", "api"), ("version", "1.2 (hotfix)")]),
            &known(&[("namespace", "prod")]),
            &svc(),
        )
        .unwrap();
        // A value the templates do not use is not checked, and not kept.
        assert_eq!(v.get("version"), None);
        assert_eq!(
            render("deployment/{service}", &v).unwrap(),
            "deployment/api"
        );
        assert_eq!(render("{namespace}", &v).unwrap(), "prod");
        assert_eq!(
            render(r#"{"ns": "{namespace}", "a": {"b": 1}}"#, &v).unwrap(),
            r#"{"ns": "prod", "a": {"b": 1}}"#,
            "braces that are not a placeholder are literal"
        );
        assert_eq!(render("x{ y}{", &v).unwrap(), "x{ y}{");
        assert_eq!(
            render("{nope}", &v),
            Err(TemplateError::Missing("nope".into()))
        );

        // A value that would add an argument is refused by the default pattern.
        assert!(matches!(
            Values::check(
                &a,
                known(&[("service", "api --all")]),
                &BTreeMap::new(),
                &svc()
            ),
            Err(TemplateError::Refused { .. })
        ));
        assert!(matches!(
            Values::check(&a, known(&[("service", "--all")]), &BTreeMap::new(), &svc()),
            Err(TemplateError::Refused { .. })
        ));
        assert!(matches!(
            Values::check(
                &a,
                known(&[]),
                &known(&[("namespace", "prod; rm -rf /")]),
                &svc()
            ),
            Err(TemplateError::Refused { .. })
        ));
        assert_eq!(
            Values::check(&a, known(&[]), &known(&[("kubeconfig", "x")]), &svc()),
            Err(TemplateError::Unknown("kubeconfig".into()))
        );
        // A request may name the runbook's services only, and never the incident.
        assert!(matches!(
            Values::check(
                &a,
                known(&[]),
                &known(&[("namespace", "x"), ("service", "billing")]),
                &svc()
            ),
            Err(TemplateError::Refused { .. })
        ));
        assert_eq!(
            Values::check(&a, known(&[]), &known(&[("incident", "INC-1")]), &svc()),
            Err(TemplateError::Unknown("incident".into()))
        );
        // The default pattern refuses what climbs a path or names another host.
        for bad in ["../admin", "evil.com/", "a@b", ".hidden"] {
            assert!(
                Values::check(
                    &a,
                    known(&[("service", bad)]),
                    &known(&[("namespace", "x")]),
                    &svc()
                )
                .is_err(),
                "{bad}"
            );
        }
        // A pattern without anchors is anchored all the same.
        let loose = action(&[("namespace", "[a-z]+")]);
        assert!(
            Values::check(&loose, known(&[]), &known(&[("namespace", "a b")]), &svc()).is_err()
        );
    }

    #[test]
    fn placeholders_are_listed() {
        assert_eq!(
            placeholders(r#"deployment/{service} -n {namespace} {"a": {"b": "{version}"}}"#),
            vec![
                "service".to_string(),
                "namespace".to_string(),
                "version".to_string()
            ]
        );
    }
}
