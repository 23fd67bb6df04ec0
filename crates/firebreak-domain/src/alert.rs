//! Alerts: what monitoring tools send, in one model whatever the wire format.
//!
//! A parser (in `firebreak-ingest`) turns a sender's body into [`AlertEvent`]s. The engine routes
//! each event to a service, checks silences, and then [`Alert::apply`] decides what the event does
//! to the open alert of the same dedup key, if there is one. All of it is pure.

use std::collections::BTreeMap;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::ids::{IncidentNumber, Name};

/// The longest dedup key accepted, as PagerDuty allows.
pub const DEDUP_KEY_MAX: usize = 255;
/// The longest summary accepted, as PagerDuty allows.
pub const SUMMARY_MAX: usize = 1024;
/// The key in an alert's details under which Firebreak says what it read differently from
/// what was sent, e.g. a timestamp it could not use. Its value is a string.
pub const NOTE_KEY: &str = "firebreak_note";

macro_rules! str_enum {
    ($(#[$m:meta])* $name:ident { $($variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(rename_all = "snake_case")]
        pub enum $name { $($variant),+ }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }

            /// The names accepted by [`std::str::FromStr`], for error messages.
            pub fn names() -> String {
                [$($text),+].join(", ")
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl std::str::FromStr for $name {
            type Err = String;
            fn from_str(s: &str) -> Result<Self, String> {
                match s {
                    $($text => Ok($name::$variant),)+
                    _ => Err(format!("`{s}` is not one of {}", $name::names())),
                }
            }
        }
    };
}

str_enum!(
    /// Where an alert stands. `Suppressed` alerts were silenced when they arrived: stored, never paged.
    AlertStatus {
        Open => "open",
        Acknowledged => "acknowledged",
        Resolved => "resolved",
        Suppressed => "suppressed",
    }
);

str_enum!(
    /// PagerDuty's four severities, which every format is mapped onto. Most severe first.
    AlertSeverity {
        Critical => "critical",
        Error => "error",
        Warning => "warning",
        Info => "info",
    }
);

str_enum!(
    /// High-urgency alerts may page and declare incidents; low-urgency ones are recorded and shown.
    Urgency {
        High => "high",
        Low => "low",
    }
);

str_enum!(
    /// What the sender asks for.
    AlertAction {
        Trigger => "trigger",
        Acknowledge => "acknowledge",
        Resolve => "resolve",
    }
);

str_enum!(
    /// Which wire format an event came in.
    AlertFormat {
        PagerDuty => "pagerduty",
        Opsgenie => "opsgenie",
        Alertmanager => "alertmanager",
        Grafana => "grafana",
        Generic => "generic",
        Manual => "manual",
        Heartbeat => "heartbeat",
        CustomerReport => "customer_report",
        Check => "check",
    }
);

impl AlertAction {
    /// Alertmanager, Grafana and the generic endpoint say `firing` or `resolved`.
    pub fn from_firing_status(status: &str) -> Option<AlertAction> {
        match status.trim().to_ascii_lowercase().as_str() {
            "firing" | "alerting" | "trigger" | "triggered" | "open" => Some(AlertAction::Trigger),
            "resolved" | "ok" | "normal" | "closed" | "resolve" => Some(AlertAction::Resolve),
            _ => None,
        }
    }
}

impl AlertSeverity {
    /// Maps the spellings monitoring tools use (`crit`, `page`, `P1`, `warn`, `minor`...) onto the
    /// four severities. Unknown words give `None`; callers choose their default.
    pub fn from_loose(text: &str) -> Option<AlertSeverity> {
        match text.trim().to_ascii_lowercase().as_str() {
            "critical" | "crit" | "page" | "fatal" | "emergency" | "disaster" | "p1" | "sev1" => {
                Some(AlertSeverity::Critical)
            }
            "error" | "err" | "high" | "major" | "p2" | "sev2" => Some(AlertSeverity::Error),
            "warning" | "warn" | "medium" | "average" | "p3" | "sev3" => {
                Some(AlertSeverity::Warning)
            }
            "info" | "informational" | "information" | "low" | "minor" | "none" | "ok" | "p4"
            | "p5" | "sev4" | "sev5" | "debug" => Some(AlertSeverity::Info),
            _ => None,
        }
    }

    /// The urgency an alert of this severity gets unless a routing rule says otherwise:
    /// critical and error page, warning and info do not.
    pub fn default_urgency(self) -> Urgency {
        match self {
            AlertSeverity::Critical | AlertSeverity::Error => Urgency::High,
            AlertSeverity::Warning | AlertSeverity::Info => Urgency::Low,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Link {
    pub href: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Image {
    pub src: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub href: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alt: Option<String>,
}

/// One event from a sender, normalised. Parsers fill it; routing may change `severity`,
/// `urgency` and decide the service.
#[derive(Debug, Clone, PartialEq)]
pub struct AlertEvent {
    pub format: AlertFormat,
    pub action: AlertAction,
    /// `None` when the sender gave none; a trigger then gets a generated key.
    pub dedup_key: Option<String>,
    pub severity: AlertSeverity,
    /// `None` means "from the severity" ([`AlertSeverity::default_urgency`]).
    pub urgency: Option<Urgency>,
    pub summary: String,
    pub source: String,
    pub labels: BTreeMap<String, String>,
    /// Free-form details (JSON text of an object), as the sender gave them.
    pub details: String,
    pub links: Vec<Link>,
    pub images: Vec<Image>,
    pub starts_at: Option<Timestamp>,
    pub ends_at: Option<Timestamp>,
    /// The sender's JSON for this event with secrets (routing keys, API keys) removed.
    pub raw: String,
}

/// A stored alert. At most one alert that is not resolved exists per (integration, dedup key).
#[derive(Debug, Clone, PartialEq)]
pub struct Alert {
    /// Assigned by the store; 0 until then.
    pub id: i64,
    pub integration: String,
    pub service: Name,
    pub dedup_key: String,
    pub format: AlertFormat,
    pub status: AlertStatus,
    pub severity: AlertSeverity,
    pub urgency: Urgency,
    pub summary: String,
    pub source: String,
    pub labels: BTreeMap<String, String>,
    pub details: String,
    pub links: Vec<Link>,
    pub images: Vec<Image>,
    pub started_at: Option<Timestamp>,
    pub ended_at: Option<Timestamp>,
    pub first_seen: Timestamp,
    pub last_seen: Timestamp,
    /// How many events this alert has received (triggers and repeats).
    pub count: i64,
    pub acknowledged_at: Option<Timestamp>,
    pub acknowledged_by: Option<String>,
    pub resolved_at: Option<Timestamp>,
    pub resolved_by: Option<String>,
    /// Why a suppressed alert was not paged (which silence or maintenance window).
    pub suppressed_reason: Option<String>,
    pub incident: Option<IncidentNumber>,
    pub raw: String,
    /// A rehearsal, not a real problem: it groups only with other drills, its incident is a
    /// drill and its pages say `[DRILL]`.
    pub drill: bool,
    /// The game day that injected it, if one did (its alerts are always drills).
    pub gameday: Option<i64>,
}

/// What an event did to the alerts of its dedup key.
#[derive(Debug, Clone, PartialEq)]
pub enum Applied {
    /// A new alert. Store it, then consider grouping it.
    Opened(Alert),
    /// A repeat trigger of an open alert: last seen and count changed.
    Repeated(Alert),
    Acknowledged(Alert),
    Resolved(Alert),
    /// An acknowledge or resolve with no open alert of that key, or an acknowledge of an alert
    /// already acknowledged: nothing to change.
    Ignored,
}

/// Where the engine sent an event: the integration's id and the service it routed to,
/// and, if silenced, why.
#[derive(Debug, Clone, PartialEq)]
pub struct Destination {
    pub integration: String,
    pub service: Name,
    pub suppressed: Option<String>,
    /// Drill mode (`?drill=true` or `?gameday=ID` on the sender's URL).
    pub drill: Drill,
}

/// Whether a sender's request is a rehearsal: real, a drill, or part of one game day.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Drill {
    #[default]
    Real,
    Drill,
    GameDay(i64),
}

impl Drill {
    pub fn is_drill(self) -> bool {
        self != Drill::Real
    }

    pub fn gameday(self) -> Option<i64> {
        match self {
            Drill::GameDay(id) => Some(id),
            _ => None,
        }
    }

    /// The dedup key an event of this mode is kept under: drills live in their own key space
    /// (`drill:KEY`, `drill:gameday-ID:KEY`), so a drill never repeats, acknowledges or
    /// resolves a real alert, and a real event never touches a drill. A key that already
    /// carries the prefix (as answered to the sender) is kept as it is.
    pub fn dedup_key(self, key: &str) -> String {
        let prefix = match self {
            Drill::Real => return key.to_string(),
            Drill::Drill => "drill:".to_string(),
            Drill::GameDay(id) => format!("drill:gameday-{id}:"),
        };
        if key.starts_with(&prefix) {
            key.to_string()
        } else {
            format!("{prefix}{key}")
        }
    }
}

impl Alert {
    /// Applies `event` to `open`, the unresolved alert of the same integration and dedup key (if
    /// any). `dedup_key` is the event's key, or the one generated for a trigger without one.
    pub fn apply(
        open: Option<Alert>,
        event: &AlertEvent,
        dedup_key: &str,
        to: &Destination,
        actor: &str,
        now: Timestamp,
    ) -> Applied {
        match (event.action, open) {
            (AlertAction::Trigger, None) => Applied::Opened(Alert {
                id: 0,
                integration: to.integration.clone(),
                service: to.service.clone(),
                dedup_key: dedup_key.to_string(),
                format: event.format,
                status: if to.suppressed.is_some() {
                    AlertStatus::Suppressed
                } else {
                    AlertStatus::Open
                },
                severity: event.severity,
                urgency: event
                    .urgency
                    .unwrap_or_else(|| event.severity.default_urgency()),
                summary: event.summary.clone(),
                source: event.source.clone(),
                labels: event.labels.clone(),
                details: event.details.clone(),
                links: event.links.clone(),
                images: event.images.clone(),
                started_at: event.starts_at,
                ended_at: None,
                first_seen: now,
                last_seen: now,
                count: 1,
                acknowledged_at: None,
                acknowledged_by: None,
                resolved_at: None,
                resolved_by: None,
                suppressed_reason: to.suppressed.clone(),
                incident: None,
                raw: event.raw.clone(),
                drill: to.drill.is_drill(),
                gameday: to.drill.gameday(),
            }),
            (AlertAction::Trigger, Some(mut alert)) => {
                let fresh = Alert::apply(None, event, dedup_key, to, actor, now);
                if let Applied::Opened(fresh) = fresh {
                    alert.repeat(&fresh);
                }
                Applied::Repeated(alert)
            }
            (AlertAction::Acknowledge, Some(mut alert)) => {
                if alert.status != AlertStatus::Open {
                    return Applied::Ignored;
                }
                alert.status = AlertStatus::Acknowledged;
                alert.acknowledged_at = Some(now);
                alert.acknowledged_by = Some(actor.to_string());
                alert.last_seen = now;
                Applied::Acknowledged(alert)
            }
            (AlertAction::Resolve, Some(mut alert)) => {
                alert.status = AlertStatus::Resolved;
                alert.resolved_at = Some(now);
                alert.resolved_by = Some(actor.to_string());
                alert.ended_at = event.ends_at.or(Some(now));
                alert.last_seen = now;
                Applied::Resolved(alert)
            }
            (AlertAction::Acknowledge | AlertAction::Resolve, None) => Applied::Ignored,
        }
    }

    /// What a repeat trigger does to the open alert of its key. `trigger` is the alert the
    /// trigger would have opened: the repeat carries the sender's latest view, so its
    /// severity, urgency, summary, labels, details and raw payload replace the stored ones,
    /// its links and images do when it has any, `last_seen` moves on and `count` grows by one.
    /// Status, first seen, acknowledgement and incident stay: a repeat changes no indexed
    /// column. Stores that apply a repeat inside one upsert statement mirror exactly this.
    pub fn repeat(&mut self, trigger: &Alert) {
        self.last_seen = trigger.last_seen;
        self.count += 1;
        self.severity = trigger.severity;
        self.urgency = trigger.urgency;
        self.summary = trigger.summary.clone();
        self.labels = trigger.labels.clone();
        self.details = trigger.details.clone();
        if !trigger.links.is_empty() {
            self.links = trigger.links.clone();
        }
        if !trigger.images.is_empty() {
            self.images = trigger.images.clone();
        }
        self.raw = trigger.raw.clone();
    }

    /// A person acknowledges or resolves the alert from Firebreak itself.
    pub fn act(mut self, action: AlertAction, actor: &str, now: Timestamp) -> Applied {
        match action {
            AlertAction::Trigger => Applied::Ignored,
            AlertAction::Acknowledge => {
                if self.status != AlertStatus::Open {
                    return Applied::Ignored;
                }
                self.status = AlertStatus::Acknowledged;
                self.acknowledged_at = Some(now);
                self.acknowledged_by = Some(actor.to_string());
                Applied::Acknowledged(self)
            }
            AlertAction::Resolve => {
                if self.status == AlertStatus::Resolved {
                    return Applied::Ignored;
                }
                self.status = AlertStatus::Resolved;
                self.resolved_at = Some(now);
                self.resolved_by = Some(actor.to_string());
                self.ended_at = Some(now);
                Applied::Resolved(self)
            }
        }
    }

    /// True while the alert holds its dedup key (anything but resolved).
    pub fn is_open(&self) -> bool {
        self.status != AlertStatus::Resolved
    }

    /// The value a matcher sees for `name`: a label of that name, else one of the alert's fields.
    pub fn field(&self, name: &str) -> Option<&str> {
        lookup(&self.labels, name).or(match name {
            "summary" => Some(self.summary.as_str()),
            "source" => Some(self.source.as_str()),
            "severity" => Some(self.severity.as_str()),
            "urgency" => Some(self.urgency.as_str()),
            "dedup_key" => Some(self.dedup_key.as_str()),
            "service" => Some(self.service.as_str()),
            "format" => Some(self.format.as_str()),
            _ => None,
        })
    }
}

fn lookup<'a>(labels: &'a BTreeMap<String, String>, name: &str) -> Option<&'a str> {
    labels.get(name).map(String::as_str)
}

impl AlertEvent {
    /// The urgency this event has now (set by routing, else from its severity).
    pub fn urgency(&self) -> Urgency {
        self.urgency
            .unwrap_or_else(|| self.severity.default_urgency())
    }

    /// The value a matcher sees for `name`: a label of that name, else one of the event's fields.
    /// `service` is the integration's service, before routing.
    pub fn field<'a>(&'a self, name: &str, service: &'a str) -> Option<&'a str> {
        lookup(&self.labels, name).or(match name {
            "summary" => Some(self.summary.as_str()),
            "source" => Some(self.source.as_str()),
            "severity" => Some(self.severity.as_str()),
            "urgency" => Some(self.urgency().as_str()),
            "dedup_key" => self.dedup_key.as_deref(),
            "service" => Some(service),
            "format" => Some(self.format.as_str()),
            _ => None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(action: AlertAction) -> AlertEvent {
        AlertEvent {
            format: AlertFormat::PagerDuty,
            action,
            dedup_key: Some("k".into()),
            severity: AlertSeverity::Critical,
            urgency: None,
            summary: "disk full".into(),
            source: "db-1".into(),
            labels: BTreeMap::new(),
            details: "{}".into(),
            links: vec![],
            images: vec![],
            starts_at: None,
            ends_at: None,
            raw: "{}".into(),
        }
    }

    fn to() -> Destination {
        Destination {
            integration: "i1".into(),
            service: Name::parse("checkout").unwrap(),
            suppressed: None,
            drill: Drill::Real,
        }
    }

    fn now() -> Timestamp {
        "2026-11-23T03:00:00Z".parse().unwrap()
    }

    #[test]
    fn trigger_opens_then_repeats_then_resolves() {
        let opened = match Alert::apply(None, &event(AlertAction::Trigger), "k", &to(), "pd", now())
        {
            Applied::Opened(a) => a,
            other => panic!("{other:?}"),
        };
        assert_eq!(opened.status, AlertStatus::Open);
        assert_eq!(opened.urgency, Urgency::High);
        let repeated = match Alert::apply(
            Some(opened),
            &event(AlertAction::Trigger),
            "k",
            &to(),
            "pd",
            now(),
        ) {
            Applied::Repeated(a) => a,
            other => panic!("{other:?}"),
        };
        assert_eq!(repeated.count, 2);
        let resolved = match Alert::apply(
            Some(repeated),
            &event(AlertAction::Resolve),
            "k",
            &to(),
            "pd",
            now(),
        ) {
            Applied::Resolved(a) => a,
            other => panic!("{other:?}"),
        };
        assert!(!resolved.is_open());
    }

    #[test]
    fn acknowledge_or_resolve_without_an_open_alert_changes_nothing() {
        for action in [AlertAction::Acknowledge, AlertAction::Resolve] {
            assert_eq!(
                Alert::apply(None, &event(action), "k", &to(), "pd", now()),
                Applied::Ignored
            );
        }
    }

    #[test]
    fn silenced_trigger_is_stored_as_suppressed_with_the_reason() {
        let mut dest = to();
        dest.suppressed = Some("silence 3: deploy window".into());
        match Alert::apply(None, &event(AlertAction::Trigger), "k", &dest, "pd", now()) {
            Applied::Opened(a) => {
                assert_eq!(a.status, AlertStatus::Suppressed);
                assert_eq!(
                    a.suppressed_reason.as_deref(),
                    Some("silence 3: deploy window")
                );
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn loose_severities() {
        assert_eq!(
            AlertSeverity::from_loose("P1"),
            Some(AlertSeverity::Critical)
        );
        assert_eq!(
            AlertSeverity::from_loose("warn"),
            Some(AlertSeverity::Warning)
        );
        assert_eq!(AlertSeverity::from_loose("bogus"), None);
        assert_eq!("critical".parse(), Ok(AlertSeverity::Critical));
    }
}
