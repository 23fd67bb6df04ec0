//! What happens to an alert between arriving and being stored: routing rules pick its service or
//! drop it, silences and maintenance windows suppress it, and grouping rules attach it to an open
//! incident or declare a new one.

use jiff::{SignedDuration, Timestamp};

use crate::alert::{Alert, AlertEvent, AlertSeverity, Urgency};
use crate::ids::{IncidentNumber, Name};
use crate::incident::{NewIncident, TITLE_MAX};
use crate::matcher::Matcher;

/// A routing rule. The first rule whose matchers all hold applies; later rules are not tried.
#[derive(Debug, Clone, PartialEq)]
pub struct Route {
    pub matchers: Vec<Matcher>,
    /// Send the alert to this service instead of the integration's.
    pub service: Option<Name>,
    pub severity: Option<AlertSeverity>,
    pub urgency: Option<Urgency>,
    /// Throw the event away: it is answered as accepted and not stored.
    pub drop: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Routed {
    /// Deliver to this service; severity and urgency on the event are already overridden.
    To(Name),
    /// A rule dropped it; the number is the rule's position (1-based).
    Dropped(usize),
}

/// Applies the first matching rule of `routes` to `event`, which arrived on an integration of
/// `service`.
pub fn route(event: &mut AlertEvent, service: &Name, routes: &[Route]) -> Routed {
    let Some((i, rule)) = routes
        .iter()
        .enumerate()
        .find(|(_, r)| Matcher::all(&r.matchers, |name| event.field(name, service.as_str())))
    else {
        return Routed::To(service.clone());
    };
    if rule.drop {
        return Routed::Dropped(i + 1);
    }
    if let Some(severity) = rule.severity {
        event.severity = severity;
    }
    if let Some(urgency) = rule.urgency {
        event.urgency = Some(urgency);
    }
    Routed::To(rule.service.clone().unwrap_or_else(|| service.clone()))
}

/// A silence mutes alerts whose labels and fields match, from `starts_at` until `ends_at`.
#[derive(Debug, Clone, PartialEq)]
pub struct Silence {
    pub id: i64,
    pub matchers: Vec<Matcher>,
    pub starts_at: Timestamp,
    pub ends_at: Timestamp,
    pub comment: String,
    pub created_by: String,
    pub created_at: Timestamp,
}

impl Silence {
    pub fn active(&self, now: Timestamp) -> bool {
        self.starts_at <= now && now < self.ends_at
    }

    /// The reason stored on an alert this silence suppressed.
    pub fn reason(&self) -> String {
        format!(
            "silenced by silence {} ({}): {}",
            self.id, self.created_by, self.comment
        )
    }
}

/// Ends a span (a silence or a maintenance window) at `at`: it ends then, and one that has not
/// started yet becomes empty (it starts then too). `None` when it has already ended, so there is
/// nothing to end.
pub fn end_span_early(
    starts_at: Timestamp,
    ends_at: Timestamp,
    at: Timestamp,
) -> Option<(Timestamp, Timestamp)> {
    (ends_at > at).then(|| (starts_at.min(at), at))
}

impl Silence {
    /// The silence ended early at `at`, or `None` if it is already over.
    pub fn end_early(&self, at: Timestamp) -> Option<Silence> {
        let (starts_at, ends_at) = end_span_early(self.starts_at, self.ends_at, at)?;
        Some(Silence {
            starts_at,
            ends_at,
            ..self.clone()
        })
    }
}

/// A scheduled window during which a service's alerts are suppressed.
#[derive(Debug, Clone, PartialEq)]
pub struct MaintenanceWindow {
    pub id: i64,
    pub service: Name,
    pub starts_at: Timestamp,
    pub ends_at: Timestamp,
    pub comment: String,
    pub created_by: String,
    pub created_at: Timestamp,
}

impl MaintenanceWindow {
    pub fn active(&self, now: Timestamp) -> bool {
        self.starts_at <= now && now < self.ends_at
    }

    /// The window ended early at `at` (emptied if it has not started), or `None` if it is over.
    pub fn end_early(&self, at: Timestamp) -> Option<MaintenanceWindow> {
        let (starts_at, ends_at) = end_span_early(self.starts_at, self.ends_at, at)?;
        Some(MaintenanceWindow {
            starts_at,
            ends_at,
            ..self.clone()
        })
    }

    pub fn reason(&self) -> String {
        format!(
            "service {} is in maintenance window {} until {}: {}",
            self.service, self.id, self.ends_at, self.comment
        )
    }
}

/// Why an event on `service` is suppressed now, if it is: the first active maintenance window of
/// the service, else the first active silence that matches.
pub fn suppression(
    event: &AlertEvent,
    service: &Name,
    silences: &[Silence],
    windows: &[MaintenanceWindow],
    now: Timestamp,
) -> Option<String> {
    if let Some(w) = windows
        .iter()
        .find(|w| &w.service == service && w.active(now))
    {
        return Some(w.reason());
    }
    silences
        .iter()
        .find(|s| {
            s.active(now) && Matcher::all(&s.matchers, |name| event.field(name, service.as_str()))
        })
        .map(Silence::reason)
}

/// "An alert that matches these declares an incident of this severity."
#[derive(Debug, Clone, PartialEq)]
pub struct DeclareRule {
    pub matchers: Vec<Matcher>,
    /// The incident severity to declare (a configured severity name).
    pub severity: String,
    /// The incident title; `{summary}`, `{service}`, `{severity}` and `{source}` are replaced from
    /// the alert. Defaults to `{summary}`.
    pub title: Option<String>,
}

/// How a service's alerts are grouped into incidents.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Grouping {
    /// An open incident takes new alerts only if it was declared, or one of its alerts was last
    /// seen, within this long. `None`: any open incident of the service takes them.
    pub window: Option<SignedDuration>,
    pub declare: Vec<DeclareRule>,
}

/// The service's open incident an alert could join, with its last activity: the latest of its
/// declaration and the last time one of its alerts was seen.
#[derive(Debug, Clone, PartialEq)]
pub struct OpenIncident {
    pub number: IncidentNumber,
    pub last_activity: Timestamp,
}

impl OpenIncident {
    /// An incident's last activity is the latest of its declaration and the last time one of
    /// its alerts was seen: a grouping window counts from there.
    pub fn from_facts(
        number: IncidentNumber,
        declared_at: Timestamp,
        last_alert_seen: Option<Timestamp>,
    ) -> OpenIncident {
        OpenIncident {
            number,
            last_activity: last_alert_seen.map_or(declared_at, |seen| seen.max(declared_at)),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum GroupDecision {
    Attach(IncidentNumber),
    Declare(NewIncident),
    /// The alert stays an alert until a person declares an incident.
    Leave,
}

/// Decides what a newly opened, unsuppressed alert does. With no rule, it attaches to the
/// service's open incident (inside the window) and otherwise stays an alert. A declare rule
/// fires only for high-urgency alerts: low urgency never starts paging.
pub fn group(
    alert: &Alert,
    open: Option<&OpenIncident>,
    grouping: &Grouping,
    now: Timestamp,
) -> GroupDecision {
    if let Some(open) = open {
        let fresh = grouping
            .window
            .is_none_or(|w| now.duration_since(open.last_activity) <= w);
        if fresh {
            return GroupDecision::Attach(open.number);
        }
    }
    if alert.urgency == Urgency::Low {
        return GroupDecision::Leave;
    }
    let Some(rule) = grouping
        .declare
        .iter()
        .find(|r| Matcher::all(&r.matchers, |name| alert.field(name)))
    else {
        return GroupDecision::Leave;
    };
    let template = rule.title.as_deref().unwrap_or("{summary}");
    let mut title = template
        .replace("{summary}", &alert.summary)
        .replace("{service}", alert.service.as_str())
        .replace("{severity}", alert.severity.as_str())
        .replace("{source}", &alert.source);
    if title.trim().is_empty() {
        title = format!("Alert on {}", alert.service);
    }
    if title.chars().count() > TITLE_MAX {
        title = title.chars().take(TITLE_MAX - 1).collect::<String>() + "…";
    }
    let detected = alert
        .started_at
        .filter(|s| *s <= now && *s >= alert.first_seen - SignedDuration::from_hours(24))
        .unwrap_or(alert.first_seen);
    GroupDecision::Declare(NewIncident {
        title,
        severity: rule.severity.clone(),
        services: vec![alert.service.clone()],
        summary: Some(format!(
            "Declared by Firebreak from an alert on {}: {}",
            alert.service, alert.summary
        )),
        customer_impact: None,
        // A drill alert declares a drill.
        drill: alert.drill,
        detected_at: Some(detected),
    })
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::alert::{AlertAction, AlertFormat, AlertStatus};

    fn now() -> Timestamp {
        "2026-11-23T03:00:00Z".parse().unwrap()
    }

    fn name(s: &str) -> Name {
        Name::parse(s).unwrap()
    }

    fn event() -> AlertEvent {
        AlertEvent {
            format: AlertFormat::Alertmanager,
            action: AlertAction::Trigger,
            dedup_key: Some("fp".into()),
            severity: AlertSeverity::Critical,
            urgency: None,
            summary: "High error rate".into(),
            source: "prometheus".into(),
            labels: BTreeMap::from([
                ("env".into(), "prod".into()),
                ("team".into(), "payments".into()),
            ]),
            details: "{}".into(),
            links: vec![],
            images: vec![],
            starts_at: None,
            ends_at: None,
            raw: "{}".into(),
        }
    }

    fn alert(urgency: Urgency) -> Alert {
        Alert {
            id: 9,
            integration: "i".into(),
            service: name("checkout"),
            dedup_key: "fp".into(),
            format: AlertFormat::Alertmanager,
            status: AlertStatus::Open,
            severity: AlertSeverity::Critical,
            urgency,
            summary: "High error rate".into(),
            source: "prometheus".into(),
            labels: BTreeMap::new(),
            details: "{}".into(),
            links: vec![],
            images: vec![],
            started_at: None,
            ended_at: None,
            first_seen: now(),
            last_seen: now(),
            count: 1,
            acknowledged_at: None,
            acknowledged_by: None,
            resolved_at: None,
            resolved_by: None,
            suppressed_reason: None,
            incident: None,
            raw: "{}".into(),
            drill: false,
            gameday: None,
        }
    }

    #[test]
    fn first_matching_route_applies() {
        let routes = vec![
            Route {
                matchers: vec![Matcher::parse("env=dev").unwrap()],
                service: None,
                severity: None,
                urgency: None,
                drop: true,
            },
            Route {
                matchers: vec![Matcher::parse("team=payments").unwrap()],
                service: Some(name("payments")),
                severity: Some(AlertSeverity::Warning),
                urgency: Some(Urgency::High),
                drop: false,
            },
        ];
        let mut e = event();
        assert_eq!(
            route(&mut e, &name("checkout"), &routes),
            Routed::To(name("payments"))
        );
        assert_eq!(e.severity, AlertSeverity::Warning);
        assert_eq!(e.urgency(), Urgency::High);
        let mut dev = event();
        dev.labels.insert("env".into(), "dev".into());
        assert_eq!(
            route(&mut dev, &name("checkout"), &routes),
            Routed::Dropped(1)
        );
    }

    #[test]
    fn silences_and_windows_suppress_with_a_reason() {
        let silence = Silence {
            id: 4,
            matchers: vec![Matcher::parse("env=prod").unwrap()],
            starts_at: now() - SignedDuration::from_mins(5),
            ends_at: now() + SignedDuration::from_mins(5),
            comment: "failover drill".into(),
            created_by: "alice".into(),
            created_at: now(),
        };
        let reason = suppression(
            &event(),
            &name("checkout"),
            std::slice::from_ref(&silence),
            &[],
            now(),
        )
        .unwrap();
        assert!(reason.contains("failover drill"), "{reason}");
        let expired = Silence {
            ends_at: now(),
            ..silence
        };
        assert_eq!(
            suppression(&event(), &name("checkout"), &[expired], &[], now()),
            None
        );
    }

    #[test]
    fn grouping_attaches_declares_or_leaves() {
        let open = OpenIncident {
            number: IncidentNumber(3),
            last_activity: now(),
        };
        let none = Grouping::default();
        assert_eq!(
            group(&alert(Urgency::High), Some(&open), &none, now()),
            GroupDecision::Attach(IncidentNumber(3))
        );
        assert_eq!(
            group(&alert(Urgency::High), None, &none, now()),
            GroupDecision::Leave
        );
        let rules = Grouping {
            window: Some(SignedDuration::from_mins(30)),
            declare: vec![DeclareRule {
                matchers: vec![Matcher::parse("severity=critical").unwrap()],
                severity: "SEV2".into(),
                title: Some("{service}: {summary}".into()),
            }],
        };
        match group(&alert(Urgency::High), None, &rules, now()) {
            GroupDecision::Declare(n) => {
                assert_eq!(n.title, "checkout: High error rate");
                assert_eq!(n.severity, "SEV2");
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(
            group(&alert(Urgency::Low), None, &rules, now()),
            GroupDecision::Leave
        );
        let stale = OpenIncident {
            number: IncidentNumber(3),
            last_activity: now() - SignedDuration::from_hours(1),
        };
        assert!(matches!(
            group(&alert(Urgency::High), Some(&stale), &rules, now()),
            GroupDecision::Declare(_)
        ));
    }
}
