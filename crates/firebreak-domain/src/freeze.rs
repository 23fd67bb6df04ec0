//! Change freezes: while a serious incident is open, or during a window someone declared (a
//! holiday, a launch), deploys to the services it covers should wait. CI asks before it deploys;
//! a deploy reported during a freeze is flagged.

use jiff::Timestamp;

use crate::lifecycle::Status;
use crate::{Incident, Name};

/// Which services an open incident of a severity freezes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FreezeScope {
    /// The incident's own services, or every service when it names none.
    Services,
    /// Every service.
    All,
    /// Nothing.
    None,
}

impl FreezeScope {
    pub const ALL: [FreezeScope; 3] = [FreezeScope::Services, FreezeScope::All, FreezeScope::None];
    pub fn as_str(self) -> &'static str {
        match self {
            FreezeScope::Services => "services",
            FreezeScope::All => "all",
            FreezeScope::None => "none",
        }
    }
    pub fn parse(s: &str) -> Option<FreezeScope> {
        FreezeScope::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// When an incident's freeze ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FreezeUntil {
    Mitigated,
    Resolved,
}

impl FreezeUntil {
    pub const ALL: [FreezeUntil; 2] = [FreezeUntil::Mitigated, FreezeUntil::Resolved];
    pub fn as_str(self) -> &'static str {
        match self {
            FreezeUntil::Mitigated => "mitigated",
            FreezeUntil::Resolved => "resolved",
        }
    }
    pub fn parse(s: &str) -> Option<FreezeUntil> {
        FreezeUntil::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// What an open incident of a severity freezes, and until when.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FreezePolicy {
    pub scope: FreezeScope,
    pub until: FreezeUntil,
}

/// The usual policy by rank (0 is the most severe): the two most severe levels (SEV1, SEV2)
/// freeze their services until mitigated; the rest freeze nothing.
pub fn default_policy(rank: usize) -> FreezePolicy {
    FreezePolicy {
        scope: if rank < 2 {
            FreezeScope::Services
        } else {
            FreezeScope::None
        },
        until: FreezeUntil::Mitigated,
    }
}

/// A freeze someone declared: a window, the services it covers (none listed: all) and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Freeze {
    pub id: i64,
    pub starts_at: Timestamp,
    pub ends_at: Timestamp,
    pub services: Vec<Name>,
    pub reason: String,
    pub created_by: String,
    pub created_at: Timestamp,
    /// Set when the freeze was lifted before its end.
    pub ended_at: Option<Timestamp>,
}

impl Freeze {
    /// The end that counts: lifted early, or the window's end.
    pub fn end(&self) -> Timestamp {
        self.ended_at.map_or(self.ends_at, |e| e.min(self.ends_at))
    }
    pub fn in_force(&self, now: Timestamp) -> bool {
        self.starts_at <= now && now < self.end()
    }
    /// Whether it covers `service` (`None`: a deploy of no particular service, which every
    /// freeze covers).
    pub fn covers(&self, service: Option<&str>) -> bool {
        covers(&self.services, service)
    }
}

fn covers(services: &[Name], service: Option<&str>) -> bool {
    match service {
        None => true,
        Some(s) => services.is_empty() || services.iter().any(|n| n.as_str() == s),
    }
}

/// Why a service is frozen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FreezeReason {
    /// An open incident freezes it until mitigated or resolved.
    Incident {
        number: crate::IncidentNumber,
        severity: String,
        title: String,
        until: FreezeUntil,
        /// The services it freezes; empty means all.
        services: Vec<Name>,
    },
    /// A declared freeze window.
    Window(Freeze),
}

impl FreezeReason {
    /// One line a person reads in a CI log.
    pub fn describe(&self) -> String {
        match self {
            FreezeReason::Incident {
                number,
                severity,
                title,
                until,
                services,
            } => format!(
                "{number} ({severity}) is open: {title}. {} frozen until it is {}",
                if services.is_empty() {
                    "Every service is".to_string()
                } else {
                    format!(
                        "{} {}",
                        services
                            .iter()
                            .map(Name::as_str)
                            .collect::<Vec<_>>()
                            .join(", "),
                        if services.len() == 1 { "is" } else { "are" }
                    )
                },
                until.as_str()
            ),
            FreezeReason::Window(f) => format!(
                "freeze {} until {}: {}",
                f.id,
                f.end().strftime("%Y-%m-%dT%H:%M:%SZ"),
                f.reason
            ),
        }
    }
}

/// The answer CI gets before a deploy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FreezeVerdict {
    pub frozen: bool,
    pub reasons: Vec<FreezeReason>,
    /// When the last reason ends, if every reason has a known end (windows do; incidents end
    /// when they are mitigated or resolved, which nobody knows in advance).
    pub until: Option<Timestamp>,
}

/// An incident's freeze, if it freezes anything now: its policy (by its severity) and its
/// state. Drills freeze nothing.
pub fn incident_freeze(incident: &Incident, policy: FreezePolicy) -> Option<FreezeReason> {
    if incident.drill || policy.scope == FreezeScope::None {
        return None;
    }
    let over = match policy.until {
        FreezeUntil::Mitigated => matches!(incident.status, Status::Mitigated | Status::Resolved),
        FreezeUntil::Resolved => incident.status == Status::Resolved,
    };
    if over {
        return None;
    }
    Some(FreezeReason::Incident {
        number: incident.number,
        severity: incident.severity.clone(),
        title: incident.title.clone(),
        until: policy.until,
        services: match policy.scope {
            FreezeScope::All => Vec::new(),
            _ => incident.services.clone(),
        },
    })
}

/// Whether `service` is frozen at `now`, and why: every open incident's freeze (each with the
/// policy of its severity, from `policy_of`) and every declared window in force.
pub fn check<'a>(
    service: Option<&str>,
    now: Timestamp,
    incidents: impl IntoIterator<Item = (&'a Incident, FreezePolicy)>,
    windows: &[Freeze],
) -> FreezeVerdict {
    let mut reasons = Vec::new();
    let mut open_ended = false;
    for (incident, policy) in incidents {
        if let Some(reason) = incident_freeze(incident, policy) {
            let FreezeReason::Incident { services, .. } = &reason else {
                continue;
            };
            if covers(services, service) {
                open_ended = true;
                reasons.push(reason);
            }
        }
    }
    let mut until: Option<Timestamp> = None;
    for w in windows
        .iter()
        .filter(|w| w.in_force(now) && w.covers(service))
    {
        until = Some(until.map_or(w.end(), |u| u.max(w.end())));
        reasons.push(FreezeReason::Window(w.clone()));
    }
    FreezeVerdict {
        frozen: !reasons.is_empty(),
        until: if open_ended { None } else { until },
        reasons,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::IncidentNumber;

    fn at(s: i64) -> Timestamp {
        Timestamp::from_second(1_800_000_000 + s).unwrap()
    }

    fn incident(services: &[&str], status: Status) -> Incident {
        let config = crate::Config::default();
        let (mut i, _) = Incident::declare(
            crate::NewIncident {
                title: "Checkout errors".into(),
                severity: config.severities[0].name.clone(),
                services: services.iter().map(|s| Name::parse(s).unwrap()).collect(),
                summary: None,
                customer_impact: None,
                drill: false,
                detected_at: None,
            },
            &config,
            &crate::Actor("ada".into()),
            None,
            at(0),
        )
        .unwrap();
        i.number = IncidentNumber(7);
        i.status = status;
        i
    }

    fn window(services: &[&str], from: i64, to: i64) -> Freeze {
        Freeze {
            id: 1,
            starts_at: at(from),
            ends_at: at(to),
            services: services.iter().map(|s| Name::parse(s).unwrap()).collect(),
            reason: "Black Friday".into(),
            created_by: "ada".into(),
            created_at: at(0),
            ended_at: None,
        }
    }

    #[test]
    fn a_serious_incident_freezes_its_services_until_mitigated() {
        let open = incident(&["checkout"], Status::Investigating);
        let policy = default_policy(0);
        let v = check(Some("checkout"), at(1), [(&open, policy)], &[]);
        assert!(v.frozen);
        assert_eq!(v.until, None);
        assert!(v.reasons[0].describe().contains("INC-7"));
        assert!(!check(Some("search"), at(1), [(&open, policy)], &[]).frozen);
        assert!(check(None, at(1), [(&open, policy)], &[]).frozen);

        let mitigated = incident(&["checkout"], Status::Mitigated);
        assert!(!check(Some("checkout"), at(1), [(&mitigated, policy)], &[]).frozen);
        let until_resolved = FreezePolicy {
            until: FreezeUntil::Resolved,
            ..policy
        };
        assert!(check(Some("checkout"), at(1), [(&mitigated, until_resolved)], &[]).frozen);

        let everywhere = incident(&[], Status::Identified);
        assert!(check(Some("search"), at(1), [(&everywhere, policy)], &[]).frozen);
        let all = FreezePolicy {
            scope: FreezeScope::All,
            ..policy
        };
        assert!(check(Some("search"), at(1), [(&open, all)], &[]).frozen);
        assert!(!check(Some("checkout"), at(1), [(&open, default_policy(2))], &[]).frozen);

        let mut drill = open.clone();
        drill.drill = true;
        assert!(!check(Some("checkout"), at(1), [(&drill, policy)], &[]).frozen);
    }

    #[test]
    fn windows_hold_from_start_to_end_and_say_until_when() {
        let w = window(&["checkout"], 10, 100);
        assert!(!check(Some("checkout"), at(9), [], std::slice::from_ref(&w)).frozen);
        let v = check(Some("checkout"), at(10), [], std::slice::from_ref(&w));
        assert!(v.frozen);
        assert_eq!(v.until, Some(at(100)));
        assert!(!check(Some("checkout"), at(100), [], std::slice::from_ref(&w)).frozen);
        assert!(!check(Some("search"), at(50), [], std::slice::from_ref(&w)).frozen);
        let all = window(&[], 0, 200);
        let v = check(Some("search"), at(50), [], &[w.clone(), all]);
        assert_eq!(v.until, Some(at(200)));
        let mut lifted = w;
        lifted.ended_at = Some(at(20));
        assert!(!check(Some("checkout"), at(20), [], &[lifted]).frozen);
    }
}
