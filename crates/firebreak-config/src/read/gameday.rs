//! Game day scenario files: what `firebreak gameday check` and `run` read. Checked like
//! `firebreak.yaml`, every problem reported with its file, line and key path.
//!
//! ```yaml
//! name: Failed deploy that needs a rollback
//! service: checkout
//! severity: SEV2
//! integrations:                 # the integration keys the alerts are sent with, by sender
//!   alertmanager: {env: FIREBREAK_GAMEDAY_ALERTMANAGER_KEY}
//! events:                       # in order; `at` is the offset from the start of the run
//!   - at: 0s
//!     deploy: {version: "2026.12.04-1", previous_version: "2026.12.03-2"}
//!   - at: 30s
//!     alert: {id: errors, sender: alertmanager, body: {...}}
//!   - at: 2m
//!     resolve: {alert: errors}
//! targets:
//!   response_time: true
//!   acknowledged_within: 5m
//! ```

use firebreak_domain::gameday::{self, Targets};
use jiff::SignedDuration;
use serde_json::{Map, Number, Value as Json};

use super::{Fields, Reader, parse_duration_or_zero};
use crate::node::{Node, Value};

pub(crate) const SCENARIO_KEYS: &[&str] = &[
    "name",
    "service",
    "severity",
    "integrations",
    "events",
    "targets",
];
pub(crate) const EVENT_KEYS: &[&str] = &[
    "at",
    "deploy",
    "alert",
    "resolve",
    "check_failure",
    "report",
];
const EVENT_KINDS: &[&str] = &["deploy", "alert", "resolve", "check_failure", "report"];
pub(crate) const DEPLOY_KEYS: &[&str] = &[
    "version",
    "previous_version",
    "commit",
    "author",
    "link",
    "summary",
    "rollback",
];
pub(crate) const ALERT_KEYS: &[&str] = &["id", "sender", "body"];
pub(crate) const RESOLVE_KEYS: &[&str] = &["alert", "sender", "body"];
pub(crate) const CHECK_FAILURE_KEYS: &[&str] = &["check", "error", "severity"];
pub(crate) const REPORT_KEYS: &[&str] = &["summary", "component", "service", "reporter", "count"];
pub(crate) const TARGET_KEYS: &[&str] = &[
    "response_time",
    "acknowledged_within",
    "declared_within",
    "ic_assigned_within",
    "first_status_update_within",
    "mitigated_within",
    "postmortem_drafted",
];
/// The longest run a scenario may describe: a day.
const LAST_EVENT_MAX: SignedDuration = SignedDuration::from_hours(24);

/// The sender formats an alert can be written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum SenderFormat {
    Alertmanager,
    Grafana,
    Generic,
    PagerDuty,
    Opsgenie,
}

impl SenderFormat {
    pub const NAMES: &'static str = "alertmanager, grafana, generic, pagerduty, opsgenie";

    pub fn parse(text: &str) -> Option<SenderFormat> {
        match text {
            "alertmanager" | "prometheus" => Some(SenderFormat::Alertmanager),
            "grafana" => Some(SenderFormat::Grafana),
            "generic" => Some(SenderFormat::Generic),
            "pagerduty" => Some(SenderFormat::PagerDuty),
            "opsgenie" => Some(SenderFormat::Opsgenie),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            SenderFormat::Alertmanager => "alertmanager",
            SenderFormat::Grafana => "grafana",
            SenderFormat::Generic => "generic",
            SenderFormat::PagerDuty => "pagerduty",
            SenderFormat::Opsgenie => "opsgenie",
        }
    }
}

/// What one event of a scenario does.
#[derive(Debug, Clone, PartialEq)]
pub enum EventKind {
    /// A deploy of the scenario's service, recorded through the deploy API: the API's fields
    /// (`version`, `previous_version`, `commit`, `author`, `link`, `summary`, `rollback`).
    Deploy(Json),
    /// An alert in a sender's own format, sent to its integration URL.
    Alert {
        id: Option<String>,
        sender: SenderFormat,
        body: Json,
    },
    /// A resolve: of the alert injected with `id`, or a sender's own body.
    Resolve {
        alert: Option<String>,
        sender: Option<SenderFormat>,
        body: Option<Json>,
    },
    /// An uptime check failing, injected as an alert through the generic endpoint.
    CheckFailure {
        check: String,
        error: String,
        severity: String,
    },
    /// Customer reports (`count` of them, 1 by default), through the reports API.
    Report {
        summary: String,
        component: Option<String>,
        service: Option<String>,
        reporter: Option<String>,
        count: u32,
    },
}

impl EventKind {
    pub fn name(&self) -> &'static str {
        match self {
            EventKind::Deploy(_) => "deploy",
            EventKind::Alert { .. } => "alert",
            EventKind::Resolve { .. } => "resolve",
            EventKind::CheckFailure { .. } => "check_failure",
            EventKind::Report { .. } => "report",
        }
    }
}

/// One event, with its offset from the start of the run and the line it was written on.
#[derive(Debug, Clone, PartialEq)]
pub struct ScenarioEvent {
    pub at: SignedDuration,
    pub line: u64,
    pub kind: EventKind,
}

/// An integration key as the scenario gives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScenarioKey {
    pub sender: SenderFormat,
    /// The key (read from the environment when written `{env: NAME}`).
    pub key: String,
}

/// A checked scenario.
#[derive(Debug, Clone, PartialEq)]
pub struct Scenario {
    pub name: String,
    pub service: String,
    pub severity: String,
    pub integrations: Vec<ScenarioKey>,
    pub events: Vec<ScenarioEvent>,
    pub targets: Targets,
}

impl Scenario {
    /// The integration key for `sender`.
    pub fn key_for(&self, sender: SenderFormat) -> Option<&str> {
        self.integrations
            .iter()
            .find(|k| k.sender == sender)
            .map(|k| k.key.as_str())
    }
}

/// A YAML node as JSON, for the sender bodies.
fn to_json(node: &Node) -> Json {
    match &node.value {
        Value::Null => Json::Null,
        Value::Bool(b) => Json::Bool(*b),
        Value::Int(n) => i64::try_from(*n)
            .map(Json::from)
            .unwrap_or_else(|_| Json::String(n.to_string())),
        Value::Float(f) => Number::from_f64(*f).map_or(Json::Null, Json::Number),
        Value::Str(s) => Json::String(s.clone()),
        Value::Seq(items) => Json::Array(items.iter().map(to_json).collect()),
        Value::Map(entries) => {
            let mut map = Map::new();
            for (k, v) in entries {
                let key = match &k.value {
                    Value::Str(s) => s.clone(),
                    Value::Int(n) => n.to_string(),
                    Value::Bool(b) => b.to_string(),
                    _ => continue,
                };
                map.insert(key, to_json(v));
            }
            Json::Object(map)
        }
    }
}

impl Reader<'_> {
    /// Reads a whole scenario file.
    pub fn scenario(&mut self, root: &Node) -> Option<Scenario> {
        let f = self.fields(
            root,
            "",
            SCENARIO_KEYS,
            "a mapping with name, service, severity, integrations, events and targets",
        )?;
        let name = self
            .required_text(&f, "name")
            .map(|(t, _)| t.trim().to_string());
        if let (Some(n), Some(node)) = (&name, f.get("name"))
            && (n.chars().count() > gameday::NAME_MAX || n.contains(['\n', '\r']))
        {
            self.error_at(
                node,
                "name",
                format!(
                    "must be one line of at most {} characters",
                    gameday::NAME_MAX
                ),
            );
        }
        let service = self
            .required_text(&f, "service")
            .map(|(t, _)| t.trim().to_string());
        let severity = self
            .required_text(&f, "severity")
            .map(|(t, _)| t.trim().to_string());
        let integrations = self.scenario_keys(&f);
        let events = self.events(&f, &integrations);
        let targets = self.targets(&f);
        Some(Scenario {
            name: name?,
            service: service?,
            severity: severity?,
            integrations,
            events: events?,
            targets: targets?,
        })
    }

    fn scenario_keys(&mut self, f: &Fields) -> Vec<ScenarioKey> {
        let Some(node) = f.get("integrations") else {
            return Vec::new();
        };
        let Value::Map(entries) = &node.value else {
            self.wrong_type(
                node,
                "integrations",
                "a mapping of sender to integration key, like {alertmanager: {env: NAME}}",
            );
            return Vec::new();
        };
        let mut out = Vec::new();
        for (k, v) in entries {
            let Value::Str(name) = &k.value else {
                self.wrong_type(k, "integrations", "a sender name");
                continue;
            };
            let path = format!("integrations.{name}");
            let Some(sender) = SenderFormat::parse(name) else {
                self.error_at(
                    k,
                    &path,
                    format!(
                        "unknown sender \"{name}\"; expected one of {}",
                        SenderFormat::NAMES
                    ),
                );
                continue;
            };
            let key = match &v.value {
                Value::Str(s) => Some(s.trim().to_string()),
                Value::Map(_) => {
                    let parsed = self.fields(v, &path, super::KEY_SOURCE_KEYS, "{env: NAME}");
                    parsed.and_then(|kf| {
                        let (var, var_node) = self.required_text(&kf, "env")?;
                        match (self.env)(var.trim()) {
                            Some(value) => Some(value.trim().to_string()),
                            None => {
                                self.error_at(
                                    &var_node,
                                    &format!("{path}.env"),
                                    format!(
                                        "environment variable {} is not set; set it to the {} \
                                         integration key of the service",
                                        var.trim(),
                                        sender.as_str()
                                    ),
                                );
                                None
                            }
                        }
                    })
                }
                _ => {
                    self.wrong_type(v, &path, "an integration key or {env: NAME}");
                    None
                }
            };
            let Some(key) = key else { continue };
            if key.len() != 32 || !key.bytes().all(|b| b.is_ascii_alphanumeric()) {
                // Never repeat the key itself.
                self.error_at(
                    v,
                    &path,
                    "an integration key is exactly 32 letters or digits",
                );
                continue;
            }
            out.push(ScenarioKey { sender, key });
        }
        out
    }

    fn events(&mut self, f: &Fields, keys: &[ScenarioKey]) -> Option<Vec<ScenarioEvent>> {
        let Some(node) = f.get("events") else {
            self.error_at(f.node, "", "missing required key \"events\"");
            return None;
        };
        let Value::Seq(items) = &node.value else {
            self.wrong_type(node, "events", "a list of events, each with `at` and one of deploy, alert, resolve, check_failure or report");
            return None;
        };
        if items.is_empty() {
            self.error_at(node, "events", "a scenario needs at least one event");
            return None;
        }
        let mut out = Vec::new();
        let mut ok = true;
        let mut ids: Vec<(String, SenderFormat)> = Vec::new();
        let mut last = SignedDuration::ZERO;
        for (i, item) in items.iter().enumerate() {
            let path = format!("events[{i}]");
            match self.event(item, &path, keys, &mut ids) {
                Some(e) => {
                    let at_node = super::locate(item, "at");
                    if e.at < last {
                        self.error_at(
                            at_node,
                            &format!("{path}.at"),
                            format!(
                                "events must be in order: {} is before the previous event's {}",
                                crate::format_duration(e.at),
                                crate::format_duration(last)
                            ),
                        );
                        ok = false;
                    } else if e.at > LAST_EVENT_MAX {
                        self.error_at(at_node, &format!("{path}.at"), "must be at most 24h");
                        ok = false;
                    }
                    last = last.max(e.at);
                    out.push(e);
                }
                None => ok = false,
            }
        }
        ok.then_some(out)
    }

    fn event(
        &mut self,
        item: &Node,
        path: &str,
        keys: &[ScenarioKey],
        ids: &mut Vec<(String, SenderFormat)>,
    ) -> Option<ScenarioEvent> {
        let f = self.fields(
            item,
            path,
            EVENT_KEYS,
            "an event: a mapping with `at` and one of deploy, alert, resolve, check_failure or report",
        )?;
        let at = match f.get("at") {
            None => {
                self.error_at(
                    item,
                    path,
                    "missing required key \"at\": the offset from the start of the run, like 30s",
                );
                None
            }
            Some(node) => {
                let text = self.text_of(node, &f.path("at"))?;
                let parsed = parse_duration_or_zero(&text);
                if parsed.is_none() {
                    self.error_at(
                        node,
                        &f.path("at"),
                        format!("invalid duration \"{text}\"; expected an offset like 0s, 30s, 2m or 1h30m"),
                    );
                }
                parsed
            }
        };
        let kinds: Vec<&str> = EVENT_KINDS
            .iter()
            .copied()
            .filter(|k| f.get(k).is_some())
            .collect();
        if kinds.len() != 1 {
            let found = if kinds.is_empty() {
                "none".to_string()
            } else {
                kinds.join(", ")
            };
            self.error_at(
                item,
                path,
                format!(
                    "an event does exactly one of deploy, alert, resolve, check_failure or \
                     report; found {found}"
                ),
            );
            return None;
        }
        let kind_name = kinds[0];
        let node = f.get(kind_name).expect("found above");
        let kpath = f.path(kind_name);
        let kind = match kind_name {
            "deploy" => self.deploy_event(node, &kpath),
            "alert" => self.alert_event(node, &kpath, keys, ids),
            "resolve" => self.resolve_event(node, &kpath, keys, ids),
            "check_failure" => self.check_failure_event(node, &kpath, keys),
            _ => self.report_event(node, &kpath),
        };
        Some(ScenarioEvent {
            at: at?,
            line: item.loc.line(),
            kind: kind?,
        })
    }

    fn deploy_event(&mut self, node: &Node, path: &str) -> Option<EventKind> {
        let f = self.fields(
            node,
            path,
            DEPLOY_KEYS,
            "a deploy, like {version: \"2026.12.04-1\"}",
        )?;
        self.required_text(&f, "version")?;
        for key in ["previous_version", "commit", "author", "link", "summary"] {
            self.opt_text(&f, key);
        }
        self.opt_bool(&f, "rollback");
        Some(EventKind::Deploy(to_json(node)))
    }

    fn sender(&mut self, f: &Fields, keys: &[ScenarioKey]) -> Option<SenderFormat> {
        let (text, node) = self.required_text(f, "sender")?;
        let Some(sender) = SenderFormat::parse(text.trim()) else {
            self.error_at(
                &node,
                &f.path("sender"),
                format!(
                    "unknown sender \"{text}\"; expected one of {}",
                    SenderFormat::NAMES
                ),
            );
            return None;
        };
        if !keys.iter().any(|k| k.sender == sender) {
            self.error_at(
                &node,
                &f.path("sender"),
                format!(
                    "no integration key for {}: add `integrations: {{{}: {{env: NAME}}}}` with \
                     the key of one of the service's {} integrations",
                    sender.as_str(),
                    sender.as_str(),
                    sender.as_str()
                ),
            );
            return None;
        }
        Some(sender)
    }

    fn body(&mut self, f: &Fields) -> Option<Json> {
        let Some(node) = f.get("body") else {
            self.error_at(
                f.node,
                &f.path,
                "missing required key \"body\": the sender's own JSON",
            );
            return None;
        };
        if !matches!(node.value, Value::Map(_)) {
            self.wrong_type(
                node,
                &f.path("body"),
                "the sender's JSON body, as a mapping",
            );
            return None;
        }
        Some(to_json(node))
    }

    fn alert_event(
        &mut self,
        node: &Node,
        path: &str,
        keys: &[ScenarioKey],
        ids: &mut Vec<(String, SenderFormat)>,
    ) -> Option<EventKind> {
        let f = self.fields(
            node,
            path,
            ALERT_KEYS,
            "an alert: {sender: alertmanager, body: {...}}",
        )?;
        let id = self.opt_text(&f, "id").map(|s| s.trim().to_string());
        let sender = self.sender(&f, keys);
        let body = self.body(&f);
        if let (Some(id), Some(sender)) = (&id, sender) {
            if ids.iter().any(|(i, _)| i == id) {
                let n = f.get("id").expect("read above");
                self.error_at(n, &f.path("id"), format!("alert id \"{id}\" is used twice"));
                return None;
            }
            ids.push((id.clone(), sender));
        }
        Some(EventKind::Alert {
            id,
            sender: sender?,
            body: body?,
        })
    }

    fn resolve_event(
        &mut self,
        node: &Node,
        path: &str,
        keys: &[ScenarioKey],
        ids: &[(String, SenderFormat)],
    ) -> Option<EventKind> {
        let f = self.fields(
            node,
            path,
            RESOLVE_KEYS,
            "a resolve: {alert: ID} (an earlier alert's id) or {sender: ..., body: {...}}",
        )?;
        if let Some(id_node) = f.get("alert") {
            if f.get("body").is_some() || f.get("sender").is_some() {
                self.error_at(
                    node,
                    path,
                    "resolve either an earlier alert by `alert: ID` or with a sender's `body`, not both",
                );
                return None;
            }
            let id = self.text_of(id_node, &f.path("alert"))?.trim().to_string();
            let Some((_, sender)) = ids.iter().find(|(i, _)| *i == id) else {
                let known: Vec<String> = ids.iter().map(|(i, _)| i.clone()).collect();
                self.error_at(
                    id_node,
                    &f.path("alert"),
                    format!(
                        "no earlier alert has id \"{id}\"{}",
                        super::one_of("; earlier ids: ", &known)
                    ),
                );
                return None;
            };
            if *sender == SenderFormat::Opsgenie {
                self.error_at(
                    id_node,
                    &f.path("alert"),
                    "an Opsgenie alert is closed by its own API; resolve it with `sender` and `body` of another format, or leave it open",
                );
                return None;
            }
            return Some(EventKind::Resolve {
                alert: Some(id),
                sender: None,
                body: None,
            });
        }
        let sender = self.sender(&f, keys);
        let body = self.body(&f);
        if sender == Some(SenderFormat::Opsgenie) {
            self.error_at(
                node,
                &f.path("sender"),
                "an Opsgenie alert is closed by its own API; a game day cannot resolve one yet",
            );
            return None;
        }
        Some(EventKind::Resolve {
            alert: None,
            sender: Some(sender?),
            body: Some(body?),
        })
    }

    fn check_failure_event(
        &mut self,
        node: &Node,
        path: &str,
        keys: &[ScenarioKey],
    ) -> Option<EventKind> {
        let f = self.fields(
            node,
            path,
            CHECK_FAILURE_KEYS,
            "a check failure: {check: checkout-health, error: \"HTTP 503\"}",
        )?;
        let check = self
            .required_text(&f, "check")
            .map(|(t, _)| t.trim().to_string());
        let error = self
            .required_text(&f, "error")
            .map(|(t, _)| t.trim().to_string());
        let severity = match self.opt_text(&f, "severity") {
            Some(s) if firebreak_domain::AlertSeverity::from_loose(&s).is_none() => {
                let n = f.get("severity").expect("read above");
                self.error_at(
                    n,
                    &f.path("severity"),
                    "expected critical, error, warning or info",
                );
                return None;
            }
            Some(s) => s,
            None => "critical".to_string(),
        };
        if !keys.iter().any(|k| k.sender == SenderFormat::Generic) {
            self.error_at(
                node,
                path,
                "a check failure is sent through the generic endpoint: add `integrations: {generic: {env: NAME}}`",
            );
            return None;
        }
        Some(EventKind::CheckFailure {
            check: check?,
            error: error?,
            severity,
        })
    }

    fn report_event(&mut self, node: &Node, path: &str) -> Option<EventKind> {
        let f = self.fields(
            node,
            path,
            REPORT_KEYS,
            "a customer report: {summary: \"Checkout spins forever\", component: Checkout}",
        )?;
        let summary = self.required_text(&f, "summary").map(|(t, _)| t);
        let component = self.opt_text(&f, "component");
        let service = self.opt_text(&f, "service");
        let reporter = self.opt_text(&f, "reporter");
        let count = match f.get("count") {
            None => Some(1),
            Some(_) => match self.opt_positive(&f, "count") {
                Some(n) if (1..=100).contains(&n) => Some(n),
                Some(_) => {
                    let n = f.get("count").expect("read above");
                    self.error_at(n, &f.path("count"), "must be from 1 to 100");
                    None
                }
                None => None,
            },
        };
        Some(EventKind::Report {
            summary: summary?,
            component,
            service,
            reporter,
            count: count?,
        })
    }

    fn targets(&mut self, f: &Fields) -> Option<Targets> {
        let Some(node) = f.get("targets") else {
            self.error_at(
                f.node,
                "",
                "missing required key \"targets\": what the team is scored against",
            );
            return None;
        };
        let t = self.fields(
            node,
            "targets",
            TARGET_KEYS,
            "a mapping of targets, like {acknowledged_within: 5m}",
        )?;
        let mut targets = Targets {
            response_time: self.opt_bool(&t, "response_time").unwrap_or(false),
            postmortem_drafted: self.opt_bool(&t, "postmortem_drafted").unwrap_or(false),
            ..Targets::default()
        };
        let mut ok = true;
        for key in &TARGET_KEYS[1..6] {
            let Some(n) = t.get(key) else { continue };
            let path = t.path(key);
            let Some(d) = self.duration(n, &path) else {
                ok = false;
                continue;
            };
            if d > gameday::TARGET_MAX {
                self.error_at(n, &path, "must be at most 24h");
                ok = false;
                continue;
            }
            match *key {
                "acknowledged_within" => targets.acknowledged_within = Some(d),
                "declared_within" => targets.declared_within = Some(d),
                "ic_assigned_within" => targets.ic_assigned_within = Some(d),
                "first_status_update_within" => targets.first_status_update_within = Some(d),
                _ => targets.mitigated_within = Some(d),
            }
        }
        if ok && targets == Targets::default() {
            self.error_at(
                node,
                "targets",
                "set at least one target, like acknowledged_within: 5m",
            );
            return None;
        }
        ok.then_some(targets)
    }
}

#[cfg(test)]
mod tests {
    use crate::parse_scenario_with_env;

    fn errors(source: &str) -> Vec<String> {
        let env = |name: &str| (name == "KEY").then(|| "GAMEDAYcheckoutPrometheus0000001".into());
        parse_scenario_with_env(source, "s.yaml", &env)
            .expect_err("the scenario is refused")
            .iter()
            .map(|e| e.to_string())
            .collect()
    }

    #[test]
    fn the_examples_read() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/gamedays");
        for file in [
            "failed-deploy.yaml",
            "database-failover.yaml",
            "slow-dependency.yaml",
        ] {
            let s = crate::load_scenario(&dir.join(file)).unwrap_or_else(|e| panic!("{file}: {e}"));
            assert!(!s.events.is_empty() && !s.name.is_empty(), "{file}");
        }
    }

    #[test]
    fn problems_point_at_file_line_and_key() {
        let source = "name: x\nservice: checkout\nseverity: SEV2\nintegrations:\n  generic: {env: KEY}\n  alertmanager: {env: MISSING}\nevents:\n  - at: 2m\n    report: {summary: a}\n  - at: 1m\n    report: {summary: b}\n  - at: 3m\n    deploy: {version: v1}\n    report: {summary: c}\n  - at: soon\n    alert: {sender: carrier-pigeon, body: {}}\ntargets:\n  mitigated_within: 2d\n";
        let got = errors(source);
        for expected in [
            "s.yaml:6:23: integrations.alertmanager.env: environment variable MISSING is not set",
            "s.yaml:10:9: events[1].at: events must be in order: 1m is before the previous event's 2m",
            "s.yaml:12:5: events[2]: an event does exactly one of deploy, alert, resolve, check_failure or report; found deploy, report",
            "s.yaml:15:9: events[3].at: invalid duration \"soon\"",
            "s.yaml:16:21: events[3].alert.sender: unknown sender \"carrier-pigeon\"",
            "s.yaml:18:21: targets.mitigated_within: must be at most 24h",
        ] {
            assert!(
                got.iter().any(|e| e.starts_with(expected)),
                "missing {expected:?} in {got:#?}"
            );
        }
    }

    #[test]
    fn a_scenario_without_events_or_targets_is_refused() {
        let got = errors("name: x\nservice: s\nseverity: SEV2\nevents: []\ntargets: {}\n");
        assert!(
            got.iter()
                .any(|e| e.starts_with("s.yaml:4:9: events: a scenario needs at least one event")),
            "{got:#?}"
        );
        assert!(
            got.iter()
                .any(|e| e.starts_with("s.yaml:5:10: targets: set at least one target")),
            "{got:#?}"
        );
    }
}
