//! The incident aggregate and the commands that change it. Each command checks its rules,
//! updates the incident and returns the timeline events that describe the change. The caller
//! persists the incident and the events together.

use std::collections::BTreeMap;

use jiff::Timestamp;

use crate::config::{COMMANDER, Config};
use crate::ids::{IncidentNumber, Name};
use crate::lifecycle::{Move, Status, TransitionError};
use crate::timeline::serde_json_free::Value;
use crate::timeline::{Actor, TimelineEvent};

pub const TITLE_MAX: usize = 200;
pub const TEXT_MAX: usize = 20_000;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChecklistItem {
    /// 1-based position, stable for the incident's life.
    pub id: u32,
    pub text: String,
    pub done: bool,
    pub done_by: Option<String>,
    pub done_at: Option<Timestamp>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Incident {
    pub number: IncidentNumber,
    pub title: String,
    /// The name the public status page shows, when the title says what customers must not see.
    pub public_title: Option<String>,
    pub severity: String,
    pub status: Status,
    pub services: Vec<Name>,
    pub summary: String,
    pub customer_impact: String,
    pub drill: bool,
    pub detected_at: Timestamp,
    pub declared_at: Timestamp,
    pub acknowledged_at: Option<Timestamp>,
    pub mitigated_at: Option<Timestamp>,
    pub resolved_at: Option<Timestamp>,
    pub updated_at: Timestamp,
    pub declared_by: String,
    /// Role key -> user handle.
    pub roles: BTreeMap<String, String>,
    pub checklist: Vec<ChecklistItem>,
    /// Bumped on every change; stores use it to refuse lost updates.
    pub version: i64,
}

/// What a person supplies to declare an incident.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NewIncident {
    pub title: String,
    pub severity: String,
    pub services: Vec<Name>,
    pub summary: Option<String>,
    pub customer_impact: Option<String>,
    pub drill: bool,
    pub detected_at: Option<Timestamp>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IncidentError {
    /// A field is invalid; names the field.
    #[error("{field}: {message}")]
    Invalid {
        field: &'static str,
        message: String,
    },
    #[error(transparent)]
    Transition(#[from] TransitionError),
    #[error("{0}")]
    NotFound(String),
}

fn invalid(field: &'static str, message: impl Into<String>) -> IncidentError {
    IncidentError::Invalid {
        field,
        message: message.into(),
    }
}

fn check_title(title: &str) -> Result<String, IncidentError> {
    let t = title.trim();
    if t.is_empty() {
        return Err(invalid("title", "must not be empty"));
    }
    if t.chars().count() > TITLE_MAX {
        return Err(invalid(
            "title",
            format!("must be at most {TITLE_MAX} characters"),
        ));
    }
    Ok(t.to_string())
}

fn check_text(field: &'static str, text: &str) -> Result<String, IncidentError> {
    if text.chars().count() > TEXT_MAX {
        return Err(invalid(
            field,
            format!("must be at most {TEXT_MAX} characters"),
        ));
    }
    Ok(text.to_string())
}

fn check_severity(
    config: &Config,
    field: &'static str,
    given: &str,
) -> Result<String, IncidentError> {
    config
        .severity(given)
        .map(|s| s.name.clone())
        .ok_or_else(|| {
            invalid(
                field,
                format!(
                    "`{given}` is not a configured severity; expected one of {}",
                    config.severity_names()
                ),
            )
        })
}

impl Incident {
    /// Declares an incident. `number` is assigned by the store, so it is 0 here.
    /// A severity that requires a commander makes the declarer the Incident Commander.
    /// `commander` is the declarer's user handle when the declarer is a person with an account:
    /// only a known user can hold a role. A severity that needs a commander makes them the
    /// Incident Commander; with nobody to make IC (an alert rule, or a token that belongs to
    /// no user) the timeline says one is still needed.
    pub fn declare(
        new: NewIncident,
        config: &Config,
        actor: &Actor,
        commander: Option<&Name>,
        now: Timestamp,
    ) -> Result<(Incident, Vec<TimelineEvent>), IncidentError> {
        let title = check_title(&new.title)?;
        let severity = check_severity(config, "severity", &new.severity)?;
        let summary = check_text("summary", new.summary.as_deref().unwrap_or(""))?;
        let customer_impact = check_text(
            "customer_impact",
            new.customer_impact.as_deref().unwrap_or(""),
        )?;
        let mut services = new.services;
        services.dedup();
        if new.detected_at.is_some_and(|detected| detected > now) {
            return Err(invalid("detected_at", "must not be in the future"));
        }
        let checklist = config
            .checklist_for(&severity)
            .into_iter()
            .enumerate()
            .map(|(i, text)| ChecklistItem {
                id: i as u32 + 1,
                text,
                done: false,
                done_by: None,
                done_at: None,
            })
            .collect();
        let mut incident = Incident {
            number: IncidentNumber(0),
            title: title.clone(),
            public_title: None,
            severity: severity.clone(),
            status: Status::Investigating,
            services: services.clone(),
            summary,
            customer_impact,
            drill: new.drill,
            detected_at: new.detected_at.unwrap_or(now),
            declared_at: now,
            acknowledged_at: None,
            mitigated_at: None,
            resolved_at: None,
            updated_at: now,
            declared_by: actor.0.clone(),
            roles: BTreeMap::new(),
            checklist,
            version: 1,
        };
        let mut events = vec![TimelineEvent::Declared {
            title,
            severity: severity.clone(),
            services: services.iter().map(|s| s.to_string()).collect(),
            drill: new.drill,
        }];
        let needs_commander = config
            .severity(&severity)
            .is_some_and(|s| s.requires_commander);
        let Some(role) = config
            .roles
            .iter()
            .find(|r| r.key == COMMANDER)
            .filter(|_| needs_commander)
        else {
            return Ok((incident, events));
        };
        match commander {
            Some(user) => {
                incident.roles.insert(role.key.clone(), user.to_string());
                incident.acknowledged_at = Some(now);
                events.push(TimelineEvent::RoleAssigned {
                    role: role.key.clone(),
                    role_name: role.name.clone(),
                    user: user.to_string(),
                    previous: None,
                    reason: Some(format!(
                        "{user} declared a {severity} incident with no {}, so they are the {}",
                        role.name, role.name
                    )),
                });
            }
            None => events.push(TimelineEvent::CommanderNeeded {
                role: role.key.clone(),
                role_name: role.name.clone(),
                reason: format!(
                    "a {severity} incident needs an {}, and {} is not a person who can hold the role; assign one",
                    role.name, actor.0
                ),
            }),
        }
        Ok((incident, events))
    }

    fn touch(&mut self, now: Timestamp) {
        self.updated_at = now;
        self.version += 1;
    }

    /// Ticks the checklist items Firebreak can answer itself, by their text (any case):
    /// "severity assigned" (an incident always has one), "page acknowledged and IC declared"
    /// once it is acknowledged and has an Incident Commander, and "most recent deploy
    /// identified" when `suspect_deploy` says a deploy is suspected. Returns the ticks, which
    /// the caller records as Firebreak's, saved with the change that made them true (the
    /// version is not bumped a second time).
    pub fn tick_known(&mut self, suspect_deploy: bool, now: Timestamp) -> Vec<TimelineEvent> {
        let acknowledged = self.acknowledged_at.is_some() && self.roles.contains_key(COMMANDER);
        let mut events = Vec::new();
        for item in self.checklist.iter_mut().filter(|i| !i.done) {
            let known = match item.text.trim().to_lowercase().as_str() {
                "severity assigned" => true,
                "page acknowledged and ic declared" => acknowledged,
                "most recent deploy identified" => suspect_deploy,
                _ => false,
            };
            if known {
                item.done = true;
                item.done_by = Some(crate::Actor::system().0);
                item.done_at = Some(now);
                events.push(TimelineEvent::ChecklistItemDone {
                    item: item.id,
                    text: item.text.clone(),
                });
            }
        }
        if !events.is_empty() {
            // Not a change of its own: it rides on the change that made it true (declaring,
            // acknowledging, assigning the IC), which already counts as one version.
            self.updated_at = now;
        }
        events
    }

    /// Ticks the checklist's "rollback considered" items: a rollback was run. Returns the
    /// ticks, recorded as `by`'s.
    pub fn tick_rollback_considered(&mut self, by: &str, now: Timestamp) -> Vec<TimelineEvent> {
        let mut events = Vec::new();
        for item in self.checklist.iter_mut().filter(|i| !i.done) {
            if item
                .text
                .trim()
                .to_lowercase()
                .starts_with("rollback considered")
            {
                item.done = true;
                item.done_by = Some(by.to_string());
                item.done_at = Some(now);
                events.push(TimelineEvent::ChecklistItemDone {
                    item: item.id,
                    text: item.text.clone(),
                });
            }
        }
        events
    }

    /// Somebody acknowledged a page about the incident. The first acknowledgement sets
    /// `acknowledged_at`; later ones change nothing. Returns whether it changed.
    pub fn acknowledge(&mut self, now: Timestamp) -> bool {
        if self.acknowledged_at.is_some() {
            return false;
        }
        self.acknowledged_at = Some(now);
        self.touch(now);
        true
    }

    /// Moves the incident through its lifecycle. Setting the current status changes nothing.
    pub fn set_status(
        &mut self,
        to: Status,
        now: Timestamp,
    ) -> Result<Vec<TimelineEvent>, IncidentError> {
        let from = self.status;
        let event = match from.move_to(to)? {
            Move::Unchanged => return Ok(vec![]),
            Move::Forward => {
                if to >= Status::Mitigated && self.mitigated_at.is_none() {
                    self.mitigated_at = Some(now);
                }
                if to == Status::Resolved {
                    self.resolved_at = Some(now);
                }
                TimelineEvent::StatusChanged {
                    from: from.to_string(),
                    to: to.to_string(),
                }
            }
            Move::Reopen => {
                self.resolved_at = None;
                self.mitigated_at = None;
                TimelineEvent::Reopened {
                    from: from.to_string(),
                    to: to.to_string(),
                }
            }
        };
        self.status = to;
        self.touch(now);
        Ok(vec![event])
    }

    pub fn set_severity(
        &mut self,
        config: &Config,
        given: &str,
        reason: Option<String>,
        now: Timestamp,
    ) -> Result<Vec<TimelineEvent>, IncidentError> {
        let to = check_severity(config, "severity", given)?;
        if to == self.severity {
            return Ok(vec![]);
        }
        let reason = reason
            .map(|r| r.trim().to_string())
            .filter(|r| !r.is_empty());
        if let Some(r) = &reason {
            check_text("reason", r)?;
        }
        let from = std::mem::replace(&mut self.severity, to.clone());
        self.touch(now);
        Ok(vec![TimelineEvent::SeverityChanged { from, to, reason }])
    }

    pub fn set_title(
        &mut self,
        title: &str,
        now: Timestamp,
    ) -> Result<Vec<TimelineEvent>, IncidentError> {
        let title = check_title(title)?;
        if title == self.title {
            return Ok(vec![]);
        }
        let from = std::mem::replace(&mut self.title, title.clone());
        self.touch(now);
        Ok(vec![edited(
            "title",
            Value::Text(Some(from)),
            Value::Text(Some(title)),
        )])
    }

    /// Sets (or, with an empty text, clears) the name the public status page shows.
    pub fn set_public_title(
        &mut self,
        title: &str,
        now: Timestamp,
    ) -> Result<Vec<TimelineEvent>, IncidentError> {
        let title = if title.trim().is_empty() {
            None
        } else {
            Some(check_title(title).map_err(|e| match e {
                IncidentError::Invalid { message, .. } => IncidentError::Invalid {
                    field: "public_title",
                    message,
                },
                other => other,
            })?)
        };
        if title == self.public_title {
            return Ok(vec![]);
        }
        let from = std::mem::replace(&mut self.public_title, title.clone());
        self.touch(now);
        Ok(vec![edited(
            "public_title",
            Value::Text(from),
            Value::Text(title),
        )])
    }

    pub fn set_summary(
        &mut self,
        summary: &str,
        now: Timestamp,
    ) -> Result<Vec<TimelineEvent>, IncidentError> {
        let summary = check_text("summary", summary)?;
        if summary == self.summary {
            return Ok(vec![]);
        }
        let from = std::mem::replace(&mut self.summary, summary.clone());
        self.touch(now);
        Ok(vec![edited(
            "summary",
            Value::Text(Some(from)),
            Value::Text(Some(summary)),
        )])
    }

    pub fn set_customer_impact(
        &mut self,
        text: &str,
        now: Timestamp,
    ) -> Result<Vec<TimelineEvent>, IncidentError> {
        let text = check_text("customer_impact", text)?;
        if text == self.customer_impact {
            return Ok(vec![]);
        }
        let from = std::mem::replace(&mut self.customer_impact, text.clone());
        self.touch(now);
        Ok(vec![edited(
            "customer_impact",
            Value::Text(Some(from)),
            Value::Text(Some(text)),
        )])
    }

    pub fn set_services(
        &mut self,
        mut services: Vec<Name>,
        now: Timestamp,
    ) -> Result<Vec<TimelineEvent>, IncidentError> {
        services.dedup();
        if services == self.services {
            return Ok(vec![]);
        }
        let names = |v: &[Name]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let from = names(&self.services);
        let to = names(&services);
        self.services = services;
        self.touch(now);
        Ok(vec![edited("services", Value::List(from), Value::List(to))])
    }

    /// Gives a role to a user. The first Incident Commander acknowledges the incident.
    pub fn assign_role(
        &mut self,
        config: &Config,
        role: &str,
        user: &Name,
        now: Timestamp,
    ) -> Result<Vec<TimelineEvent>, IncidentError> {
        let role = config.role(role).ok_or_else(|| {
            let known: Vec<&str> = config.roles.iter().map(|r| r.key.as_str()).collect();
            invalid(
                "role",
                format!(
                    "`{role}` is not a configured role; expected one of {}",
                    known.join(", ")
                ),
            )
        })?;
        let previous = self.roles.insert(role.key.clone(), user.to_string());
        if previous.as_deref() == Some(user.as_str()) {
            return Ok(vec![]);
        }
        if role.key == COMMANDER && self.acknowledged_at.is_none() {
            self.acknowledged_at = Some(now);
        }
        self.touch(now);
        Ok(vec![TimelineEvent::RoleAssigned {
            role: role.key.clone(),
            role_name: role.name.clone(),
            user: user.to_string(),
            previous,
            reason: None,
        }])
    }

    pub fn remove_role(
        &mut self,
        config: &Config,
        role: &str,
        now: Timestamp,
    ) -> Result<Vec<TimelineEvent>, IncidentError> {
        let role = config
            .role(role)
            .ok_or_else(|| invalid("role", format!("`{role}` is not a configured role")))?;
        match self.roles.remove(&role.key) {
            None => Ok(vec![]),
            Some(user) => {
                self.touch(now);
                Ok(vec![TimelineEvent::RoleRemoved {
                    role: role.key.clone(),
                    role_name: role.name.clone(),
                    user,
                }])
            }
        }
    }

    pub fn set_checklist_item(
        &mut self,
        item: u32,
        done: bool,
        actor: &Actor,
        now: Timestamp,
    ) -> Result<Vec<TimelineEvent>, IncidentError> {
        let len = self.checklist.len();
        let entry = self
            .checklist
            .iter_mut()
            .find(|i| i.id == item)
            .ok_or_else(|| {
                IncidentError::NotFound(format!(
                    "{} has no checklist item {item} (it has {len})",
                    self.number
                ))
            })?;
        if entry.done == done {
            return Ok(vec![]);
        }
        entry.done = done;
        entry.done_by = done.then(|| actor.0.clone());
        entry.done_at = done.then_some(now);
        let text = entry.text.clone();
        self.touch(now);
        Ok(vec![if done {
            TimelineEvent::ChecklistItemDone { item, text }
        } else {
            TimelineEvent::ChecklistItemUndone { item, text }
        }])
    }

    /// A note changes no field; it is checked here and appended to the timeline.
    pub fn note(body: &str) -> Result<TimelineEvent, IncidentError> {
        if body.trim().is_empty() {
            return Err(invalid("body", "must not be empty"));
        }
        Ok(TimelineEvent::Note {
            body: check_text("body", body)?,
        })
    }
}

fn edited(field: &str, from: Value, to: Value) -> TimelineEvent {
    TimelineEvent::FieldEdited {
        field: field.into(),
        from,
        to,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: i64) -> Timestamp {
        Timestamp::from_second(1_800_000_000 + secs).unwrap()
    }

    fn declare(sev: &str) -> (Incident, Vec<TimelineEvent>) {
        let new = NewIncident {
            title: "Checkout is failing".into(),
            severity: sev.into(),
            ..Default::default()
        };
        Incident::declare(
            new,
            &Config::default(),
            &Actor("alice".into()),
            Some(&Name::parse("alice").unwrap()),
            at(0),
        )
        .unwrap()
    }

    #[test]
    fn firebreak_ticks_what_it_knows() {
        let config = Config::default();
        let (mut incident, _) = Incident::declare(
            NewIncident {
                title: "Checkout down".into(),
                severity: "SEV1".into(),
                ..Default::default()
            },
            &config,
            &Actor("bot".into()),
            None,
            at(0),
        )
        .unwrap();
        let ticked = |events: &[TimelineEvent]| -> Vec<String> {
            events
                .iter()
                .filter_map(|e| match e {
                    TimelineEvent::ChecklistItemDone { text, .. } => Some(text.clone()),
                    _ => None,
                })
                .collect()
        };
        assert_eq!(
            ticked(&incident.tick_known(false, at(1))),
            ["severity assigned"]
        );
        assert!(
            incident.tick_known(false, at(2)).is_empty(),
            "a tick happens once"
        );
        incident.acknowledge(at(3));
        assert!(
            incident.tick_known(false, at(3)).is_empty(),
            "acknowledged, but no Incident Commander yet"
        );
        incident
            .roles
            .insert(COMMANDER.to_string(), "alice".to_string());
        let version = incident.version;
        assert_eq!(
            ticked(&incident.tick_known(true, at(4))),
            [
                "page acknowledged and IC declared",
                "most recent deploy identified"
            ]
        );
        assert_eq!(
            incident.version, version,
            "ticks ride on the change that made them true; the store checks one version step"
        );
        let item = incident
            .checklist
            .iter()
            .find(|i| i.text == "severity assigned")
            .unwrap();
        assert_eq!(item.done_by.as_deref(), Some("firebreak"));
    }

    #[test]
    fn declaring_a_sev2_makes_the_declarer_commander_and_says_so() {
        let (incident, events) = declare("sev2");
        assert_eq!(incident.severity, "SEV2");
        assert_eq!(
            incident.roles.get(COMMANDER).map(String::as_str),
            Some("alice")
        );
        assert_eq!(incident.acknowledged_at, Some(at(0)));
        assert_eq!(incident.checklist.len(), 7);
        assert!(
            matches!(&events[1], TimelineEvent::RoleAssigned { reason: Some(r), .. } if r.contains("alice"))
        );
    }

    #[test]
    fn a_declarer_who_is_not_a_user_leaves_the_commander_role_open_and_says_so() {
        let new = NewIncident {
            title: "Checkout down".into(),
            severity: "SEV1".into(),
            ..Default::default()
        };
        let (incident, events) = Incident::declare(
            new,
            &Config::default(),
            &Actor("token:ci".into()),
            None,
            at(0),
        )
        .unwrap();
        assert!(incident.roles.is_empty());
        assert_eq!(incident.acknowledged_at, None);
        assert!(matches!(
            &events[1],
            TimelineEvent::CommanderNeeded { role, reason, .. }
                if role == "incident-commander" && reason.contains("token:ci")
        ));
        assert!(
            !incident.checklist[0].done,
            "the checklist still asks for an IC"
        );
    }

    #[test]
    fn declaring_a_sev3_assigns_nobody() {
        let (incident, events) = declare("SEV3");
        assert!(incident.roles.is_empty());
        assert!(incident.checklist.is_empty());
        assert_eq!(events.len(), 1);
    }

    #[test]
    fn unknown_severity_names_the_field() {
        let new = NewIncident {
            title: "x".into(),
            severity: "SEV9".into(),
            ..Default::default()
        };
        let err = Incident::declare(new, &Config::default(), &Actor("a".into()), None, at(0))
            .unwrap_err();
        assert!(matches!(
            err,
            IncidentError::Invalid {
                field: "severity",
                ..
            }
        ));
    }

    #[test]
    fn resolving_sets_times_and_reopening_clears_them() {
        let (mut i, _) = declare("SEV2");
        i.set_status(Status::Resolved, at(60)).unwrap();
        assert_eq!(
            (i.mitigated_at, i.resolved_at),
            (Some(at(60)), Some(at(60)))
        );
        assert!(i.set_status(Status::Identified, at(70)).is_err());
        let events = i.set_status(Status::Investigating, at(80)).unwrap();
        assert!(matches!(events[0], TimelineEvent::Reopened { .. }));
        assert_eq!(i.resolved_at, None);
    }

    #[test]
    fn same_status_changes_nothing() {
        let (mut i, _) = declare("SEV2");
        let before = i.clone();
        assert!(
            i.set_status(Status::Investigating, at(5))
                .unwrap()
                .is_empty()
        );
        assert_eq!(i, before);
    }

    #[test]
    fn checklist_items_record_who_and_when() {
        let (mut i, _) = declare("SEV1");
        let bob = Actor("bob".into());
        assert_eq!(i.set_checklist_item(2, true, &bob, at(9)).unwrap().len(), 1);
        assert_eq!(i.checklist[1].done_by.as_deref(), Some("bob"));
        assert!(
            i.set_checklist_item(2, true, &bob, at(9))
                .unwrap()
                .is_empty()
        );
        assert!(matches!(
            i.set_checklist_item(99, true, &bob, at(9)),
            Err(IncidentError::NotFound(_))
        ));
    }
}
