//! Escalation policies and the escalations they drive.
//!
//! A policy has steps; each step pages its targets (users, and whoever is on call on a
//! schedule when the step fires) and waits its `delay` before the next step. After the last
//! step the whole policy runs again `repeat` more times. When the last step of the last round
//! has waited its delay with nobody acknowledging, the escalation is `exhausted`.
//!
//! An escalation keeps a copy of its policy from the moment it started, so editing the policy
//! mid-incident changes nothing in a running escalation. Its timer is one position: the step
//! (and round) that fires next, and when. A timer that fires for any other position, or for an
//! escalation that is no longer active, does nothing, so a timer delivered twice pages once.

use std::fmt;

use jiff::{SignedDuration, Timestamp};

use crate::Name;

/// The most steps a policy may have.
pub const MAX_STEPS: usize = 20;
/// The most targets one step may page.
pub const MAX_TARGETS: usize = 20;
/// The most extra rounds a policy may run.
pub const MAX_REPEAT: u32 = 20;
/// The longest delay a step may have.
pub const MAX_DELAY: SignedDuration = SignedDuration::from_hours(24);

/// A policy that is wrong, with the field that is wrong (`steps[1].delay`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct PolicyError {
    pub field: String,
    pub message: String,
}

fn bad(field: impl Into<String>, message: impl Into<String>) -> PolicyError {
    PolicyError {
        field: field.into(),
        message: message.into(),
    }
}

/// Who a step pages.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Target {
    User(Name),
    /// Whoever is on call on the schedule when the step fires.
    Schedule(Name),
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Target::User(u) => write!(f, "user {u}"),
            Target::Schedule(s) => write!(f, "schedule {s}"),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    /// How long after this step fires the next one does.
    pub delay: SignedDuration,
    pub targets: Vec<Target>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    pub name: Name,
    /// How many more times the steps run after the first round.
    pub repeat: u32,
    pub steps: Vec<Step>,
}

impl Policy {
    /// A policy, checked: 1 to [`MAX_STEPS`] steps, each with 1 to [`MAX_TARGETS`] distinct
    /// targets and a delay from one second to [`MAX_DELAY`]; `repeat` at most [`MAX_REPEAT`].
    pub fn new(name: Name, repeat: u32, steps: Vec<Step>) -> Result<Policy, PolicyError> {
        if steps.is_empty() {
            return Err(bad("steps", "a policy needs at least one step"));
        }
        if steps.len() > MAX_STEPS {
            return Err(bad(
                "steps",
                format!("a policy has at most {MAX_STEPS} steps"),
            ));
        }
        if repeat > MAX_REPEAT {
            return Err(bad("repeat", format!("at most {MAX_REPEAT}")));
        }
        for (i, step) in steps.iter().enumerate() {
            check_delay(step.delay).map_err(|m| bad(format!("steps[{i}].delay"), m))?;
            if step.targets.is_empty() {
                return Err(bad(
                    format!("steps[{i}].targets"),
                    "a step needs at least one target: a user or a schedule",
                ));
            }
            if step.targets.len() > MAX_TARGETS {
                return Err(bad(
                    format!("steps[{i}].targets"),
                    format!("a step has at most {MAX_TARGETS} targets"),
                ));
            }
            for (j, target) in step.targets.iter().enumerate() {
                if step.targets[..j].contains(target) {
                    return Err(bad(
                        format!("steps[{i}].targets[{j}]"),
                        format!("{target} is already a target of this step"),
                    ));
                }
            }
        }
        Ok(Policy {
            name,
            repeat,
            steps,
        })
    }

    /// Every schedule the policy pages, without repeats.
    pub fn schedules(&self) -> Vec<&Name> {
        let mut out: Vec<&Name> = Vec::new();
        for step in &self.steps {
            for t in &step.targets {
                if let Target::Schedule(s) = t
                    && !out.contains(&s)
                {
                    out.push(s);
                }
            }
        }
        out
    }

    /// Every user the policy pages directly, without repeats.
    pub fn users(&self) -> Vec<&Name> {
        let mut out: Vec<&Name> = Vec::new();
        for step in &self.steps {
            for t in &step.targets {
                if let Target::User(u) = t
                    && !out.contains(&u)
                {
                    out.push(u);
                }
            }
        }
        out
    }
}

/// Checks a step delay: one second to [`MAX_DELAY`], in whole seconds.
pub fn check_delay(delay: SignedDuration) -> Result<(), String> {
    if delay < SignedDuration::from_secs(1) {
        return Err("a delay is at least 1s".into());
    }
    if delay > MAX_DELAY {
        return Err("a delay is at most 24h".into());
    }
    if delay.subsec_nanos() != 0 {
        return Err("a delay is a whole number of seconds".into());
    }
    Ok(())
}

/// Where an escalation is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EscalationStatus {
    /// Paging, and waiting for the next step.
    Active,
    /// Somebody acknowledged: nothing more is sent.
    Acknowledged,
    /// What it was about resolved.
    Resolved,
    /// Every step of every round was paged and nobody acknowledged.
    Exhausted,
}

impl EscalationStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            EscalationStatus::Active => "active",
            EscalationStatus::Acknowledged => "acknowledged",
            EscalationStatus::Resolved => "resolved",
            EscalationStatus::Exhausted => "exhausted",
        }
    }

    pub fn parse(text: &str) -> Option<EscalationStatus> {
        Some(match text {
            "active" => EscalationStatus::Active,
            "acknowledged" => EscalationStatus::Acknowledged,
            "resolved" => EscalationStatus::Resolved,
            "exhausted" => EscalationStatus::Exhausted,
            _ => return None,
        })
    }

    /// Active or acknowledged: an alert or incident with such an escalation starts no other.
    pub fn is_open(self) -> bool {
        matches!(
            self,
            EscalationStatus::Active | EscalationStatus::Acknowledged
        )
    }
}

impl fmt::Display for EscalationStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A step of a round: where an escalation's timer points.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Position {
    pub round: u32,
    /// 0-based. One past the last step means "exhausted": the last step's delay has run out.
    pub step: u32,
}

/// What firing a timer does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fired {
    /// Page these targets (schedules resolved by the caller at this instant), then wait for
    /// the next position at `next_at`.
    Page {
        position: Position,
        targets: Vec<Target>,
        next: Position,
        next_at: Timestamp,
    },
    /// Nobody acknowledged after every step of every round.
    Exhausted,
    /// The timer is stale (fired twice, or the escalation was acknowledged or resolved): nothing.
    Nothing,
}

/// One escalation: a policy run for an alert or an incident.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Escalation {
    /// Public id, e.g. `esc_019a8b2c3d4e1f2a3b4c` (sorts by when it started).
    pub id: String,
    /// The alert that started it, if an alert did.
    pub alert: Option<i64>,
    /// The incident it belongs to: the one declared, or the one the alert is attached to.
    pub incident: Option<crate::IncidentNumber>,
    /// The policy as it was when the escalation started.
    pub policy: Policy,
    pub status: EscalationStatus,
    /// The last position paged, if any step has fired yet.
    pub paged: Option<Position>,
    /// The position the timer fires next, while active.
    pub next: Option<Position>,
    pub next_at: Option<Timestamp>,
    pub started_at: Timestamp,
    pub acknowledged_at: Option<Timestamp>,
    pub acknowledged_by: Option<String>,
    /// When it was resolved or exhausted.
    pub ended_at: Option<Timestamp>,
    /// A drill pages with a `[DRILL]` marker.
    pub drill: bool,
}

impl Escalation {
    /// A new escalation whose first step fires at `now`.
    pub fn start(
        id: String,
        policy: Policy,
        alert: Option<i64>,
        incident: Option<crate::IncidentNumber>,
        drill: bool,
        now: Timestamp,
    ) -> Escalation {
        Escalation {
            id,
            alert,
            incident,
            policy,
            status: EscalationStatus::Active,
            paged: None,
            next: Some(Position { round: 0, step: 0 }),
            next_at: Some(now),
            started_at: now,
            acknowledged_at: None,
            acknowledged_by: None,
            ended_at: None,
            drill,
        }
    }

    /// The step shown as current: the last one paged, or 0 before any.
    pub fn step(&self) -> u32 {
        self.paged.map(|p| p.step).unwrap_or(0)
    }

    pub fn round(&self) -> u32 {
        self.paged.map(|p| p.round).unwrap_or(0)
    }

    /// Fires the timer for `position` at `now`.
    pub fn fire(&mut self, position: Position, now: Timestamp) -> Fired {
        if self.status != EscalationStatus::Active || self.next != Some(position) {
            return Fired::Nothing;
        }
        let steps = self.policy.steps.len() as u32;
        if position.step >= steps {
            self.status = EscalationStatus::Exhausted;
            self.next = None;
            self.next_at = None;
            self.ended_at = Some(now);
            return Fired::Exhausted;
        }
        let step = &self.policy.steps[position.step as usize];
        let next = if position.step + 1 < steps {
            Position {
                round: position.round,
                step: position.step + 1,
            }
        } else if position.round < self.policy.repeat {
            Position {
                round: position.round + 1,
                step: 0,
            }
        } else {
            Position {
                round: position.round,
                step: steps,
            }
        };
        let next_at = now + step.delay;
        self.paged = Some(position);
        self.next = Some(next);
        self.next_at = Some(next_at);
        Fired::Page {
            position,
            targets: step.targets.clone(),
            next,
            next_at,
        }
    }

    /// Somebody acknowledged. False (and nothing changes) unless it was active or exhausted.
    pub fn acknowledge(&mut self, by: &str, now: Timestamp) -> bool {
        if !matches!(
            self.status,
            EscalationStatus::Active | EscalationStatus::Exhausted
        ) {
            return false;
        }
        self.status = EscalationStatus::Acknowledged;
        self.acknowledged_at = Some(now);
        self.acknowledged_by = Some(by.to_string());
        self.next = None;
        self.next_at = None;
        true
    }

    /// What it was about resolved: an active or acknowledged escalation ends as resolved. False
    /// (and nothing changes) if it had already ended: a resolved one stays as it was, and an
    /// exhausted one stays exhausted, with the time it ran out.
    pub fn resolve(&mut self, now: Timestamp) -> bool {
        if !self.status.is_open() {
            return false;
        }
        self.status = EscalationStatus::Resolved;
        self.next = None;
        self.next_at = None;
        self.ended_at = Some(now);
        true
    }
}

#[cfg(test)]
mod tests;
