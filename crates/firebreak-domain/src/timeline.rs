//! What the timeline records. Every change to an incident produces one or more of these events,
//! written in the same transaction as the change. Entries are never updated or deleted.
//!
//! The serde shape (`kind` + `data`) is the stored form; the server maps it to the wire.

use serde::{Deserialize, Serialize};

/// Who did something: a user handle, or a token name when the token belongs to no user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Actor(pub String);

impl Actor {
    pub fn system() -> Actor {
        Actor("firebreak".into())
    }
}

impl std::fmt::Display for Actor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "data", rename_all = "snake_case")]
pub enum TimelineEvent {
    Declared {
        title: String,
        severity: String,
        services: Vec<String>,
        drill: bool,
    },
    StatusChanged {
        from: String,
        to: String,
    },
    Reopened {
        from: String,
        to: String,
    },
    SeverityChanged {
        from: String,
        to: String,
        reason: Option<String>,
    },
    RoleAssigned {
        role: String,
        role_name: String,
        user: String,
        previous: Option<String>,
        /// Why the assignment happened when no person asked for it.
        reason: Option<String>,
    },
    RoleRemoved {
        role: String,
        role_name: String,
        user: String,
    },
    /// A severity needs a role held (the Incident Commander) and nobody could be given it.
    CommanderNeeded {
        role: String,
        role_name: String,
        reason: String,
    },
    ChecklistItemDone {
        item: u32,
        text: String,
    },
    ChecklistItemUndone {
        item: u32,
        text: String,
    },
    FieldEdited {
        field: String,
        from: serde_json_free::Value,
        to: serde_json_free::Value,
    },
    Note {
        body: String,
    },
    /// An alert joined the incident (grouping, or a person attaching it).
    AlertAttached {
        alert: i64,
        summary: String,
        severity: String,
        service: String,
    },
    /// An attached alert resolved. `all_resolved` is true when no attached alert is still open:
    /// the signal that recovery is verified.
    AlertResolved {
        alert: i64,
        summary: String,
        all_resolved: bool,
    },
    /// An escalation policy started paging for the incident (or one of its alerts).
    EscalationStarted {
        escalation: String,
        policy: String,
        alert: Option<i64>,
    },
    /// A page was queued for a user's contact method.
    Paged {
        escalation: String,
        /// 0-based, as in the escalations list.
        step: u32,
        round: u32,
        user: String,
        /// The contact method's type (`email`, `webhook`, `slack`, ...).
        method: String,
        contact: String,
    },
    /// A step's target could not be paged: why nobody was reached through it.
    NobodyPaged {
        escalation: String,
        step: u32,
        round: u32,
        target: String,
        reason: String,
    },
    PageDelivered {
        escalation: String,
        user: String,
        method: String,
        contact: String,
    },
    PageFailed {
        escalation: String,
        user: String,
        method: String,
        contact: String,
        reason: String,
    },
    /// Somebody acknowledged: paging for the escalation stops.
    Acknowledged {
        escalation: Option<String>,
        by: String,
        /// How: `api`, `cli`, `link`, `pagerduty`, `opsgenie`.
        via: String,
    },
    /// Every step of every round was paged and nobody acknowledged.
    EscalationExhausted {
        escalation: String,
        policy: String,
    },
    /// A status update was posted: public (the status page) or internal (the channels).
    StatusUpdate(crate::status_page::StatusUpdate),
    /// The incident went `update_every` without an update; these people were reminded.
    UpdateReminder {
        to: Vec<String>,
        quiet_for: String,
        /// Why someone who was to be reminded could not be (`dave has no contact methods; ...`):
        /// the Comms Lead before the IC was reminded instead, or everyone when `to` is empty.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        unreached: Vec<String>,
    },
    /// Somebody deployed during this incident's freeze, by exemption (`freeze check
    /// --emergency`).
    FreezeExemption {
        service: Option<String>,
        by: String,
        reason: String,
    },
    /// A deploy was reported while this incident froze its service.
    DeployDuringFreeze {
        deployment: i64,
        service: String,
        version: String,
        reasons: Vec<String>,
    },
    /// Somebody asked for break-glass access; it waits for the Incident Commander.
    BreakGlassRequested {
        grant: i64,
        user: String,
        role: String,
        duration: String,
        reason: String,
    },
    /// Break-glass access took effect.
    BreakGlassGranted {
        grant: i64,
        user: String,
        role: String,
        /// RFC 3339.
        expires_at: String,
        reason: String,
        approved_by: Option<String>,
    },
    /// Somebody asked to run a runbook action: what it will do, secrets masked.
    ActionRequested {
        run: i64,
        action: String,
        /// The argv or the request, as one line.
        shown: String,
        needs_approval: bool,
    },
    /// A second person approved a run.
    ActionApproved {
        run: i64,
        action: String,
        by: String,
    },
    /// A run was refused: a late approval, or refused by a person.
    ActionRefused {
        run: i64,
        action: String,
        why: String,
    },
    /// Someone was refused a request or an approval (their role, their own request, a token
    /// of no user): recorded so that refusals are on the record, not only successes. `run` is
    /// the run an approval was refused for; none for a refused request.
    ActionDenied {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        run: Option<i64>,
        action: String,
        by: String,
        why: String,
    },
    /// A run started.
    ActionStarted {
        run: i64,
        action: String,
    },
    /// A run ended: `succeeded`, `failed` or `interrupted`, with its exit code (or HTTP
    /// status), how long it took and the tail of its output, secrets redacted.
    ActionFinished {
        run: i64,
        action: String,
        status: String,
        exit_code: Option<i32>,
        duration_ms: Option<i64>,
        output_tail: String,
    },
    /// A command someone ran from their own machine (`firebreak exec`).
    CommandRun {
        argv: Vec<String>,
        exit_code: i32,
        duration_ms: i64,
        output_tail: String,
        /// Where it ran: the machine's name.
        host: Option<String>,
    },
    /// Break-glass access ended: `expired`, `revoked`, `refused` or `incident resolved`.
    BreakGlassEnded {
        grant: i64,
        user: String,
        why: String,
    },
    /// Firebreak drafted the incident's postmortem from its record.
    PostmortemDrafted {
        version: i64,
    },
    /// Somebody saved the postmortem; `sections` are the titles of the sections that changed.
    PostmortemEdited {
        version: i64,
        sections: Vec<String>,
    },
    /// The postmortem moved: `draft`, `in_review`, `published`.
    PostmortemStatusChanged {
        from: String,
        to: String,
    },
    ActionItemAdded {
        item: i64,
        title: String,
        owner: String,
        /// `YYYY-MM-DD`.
        due: String,
    },
    /// An action item was done, dropped (`wont_do`, with a reason) or reopened.
    ActionItemChanged {
        item: i64,
        title: String,
        status: String,
        reason: Option<String>,
    },
}

/// Field values in edit events are kept as plain text or text lists, so the domain needs no JSON.
pub mod serde_json_free {
    use serde::{Deserialize, Serialize};

    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
    #[serde(untagged)]
    pub enum Value {
        Text(Option<String>),
        List(Vec<String>),
    }
}

impl TimelineEvent {
    pub fn kind(&self) -> &'static str {
        match self {
            TimelineEvent::Declared { .. } => "declared",
            TimelineEvent::StatusChanged { .. } => "status_changed",
            TimelineEvent::Reopened { .. } => "reopened",
            TimelineEvent::SeverityChanged { .. } => "severity_changed",
            TimelineEvent::RoleAssigned { .. } => "role_assigned",
            TimelineEvent::RoleRemoved { .. } => "role_removed",
            TimelineEvent::CommanderNeeded { .. } => "commander_needed",
            TimelineEvent::ChecklistItemDone { .. } => "checklist_item_done",
            TimelineEvent::ChecklistItemUndone { .. } => "checklist_item_undone",
            TimelineEvent::FieldEdited { .. } => "field_edited",
            TimelineEvent::Note { .. } => "note",
            TimelineEvent::AlertAttached { .. } => "alert_attached",
            TimelineEvent::AlertResolved { .. } => "alert_resolved",
            TimelineEvent::EscalationStarted { .. } => "escalation_started",
            TimelineEvent::Paged { .. } => "paged",
            TimelineEvent::NobodyPaged { .. } => "nobody_paged",
            TimelineEvent::PageDelivered { .. } => "page_delivered",
            TimelineEvent::PageFailed { .. } => "page_failed",
            TimelineEvent::Acknowledged { .. } => "acknowledged",
            TimelineEvent::EscalationExhausted { .. } => "escalation_exhausted",
            TimelineEvent::UpdateReminder { .. } => "update_reminder",
            TimelineEvent::StatusUpdate(_) => "status_update",
            TimelineEvent::FreezeExemption { .. } => "freeze_exemption",
            TimelineEvent::DeployDuringFreeze { .. } => "deploy_during_freeze",
            TimelineEvent::BreakGlassRequested { .. } => "break_glass_requested",
            TimelineEvent::BreakGlassGranted { .. } => "break_glass_granted",
            TimelineEvent::BreakGlassEnded { .. } => "break_glass_ended",
            TimelineEvent::ActionRequested { .. } => "action_requested",
            TimelineEvent::ActionApproved { .. } => "action_approved",
            TimelineEvent::ActionRefused { .. } => "action_refused",
            TimelineEvent::ActionDenied { .. } => "action_denied",
            TimelineEvent::ActionStarted { .. } => "action_started",
            TimelineEvent::ActionFinished { .. } => "action_finished",
            TimelineEvent::CommandRun { .. } => "command_run",
            TimelineEvent::PostmortemDrafted { .. } => "postmortem_drafted",
            TimelineEvent::PostmortemEdited { .. } => "postmortem_edited",
            TimelineEvent::PostmortemStatusChanged { .. } => "postmortem_status_changed",
            TimelineEvent::ActionItemAdded { .. } => "action_item_added",
            TimelineEvent::ActionItemChanged { .. } => "action_item_changed",
        }
    }

    /// A sentence saying what happened, for people: the incident room, the CLI's timeline and
    /// the postmortem's.
    pub fn describe(&self) -> String {
        use TimelineEvent as E;
        match self {
            E::Declared {
                title,
                severity,
                drill,
                ..
            } => format!(
                "declared {severity}{}: {title}",
                if *drill { " (drill)" } else { "" }
            ),
            E::StatusChanged { from, to } => format!("status {from} → {to}"),
            E::Reopened { from, to } => format!("reopened: {from} → {to}"),
            E::SeverityChanged { from, to, reason } => match reason {
                Some(r) => format!("severity {from} → {to}: {r}"),
                None => format!("severity {from} → {to}"),
            },
            E::RoleAssigned {
                role_name, user, ..
            } => format!("{user} is {role_name}"),
            E::RoleRemoved {
                role_name, user, ..
            } => format!("{user} is no longer {role_name}"),
            E::CommanderNeeded {
                role_name, reason, ..
            } => format!("{role_name} needed: {reason}"),
            E::ChecklistItemDone { text, .. } => format!("✓ {text}"),
            E::ChecklistItemUndone { text, .. } => format!("unticked: {text}"),
            E::FieldEdited { field, .. } => format!("edited the {field}"),
            E::Note { body } => body.clone(),
            E::AlertAttached {
                alert,
                summary,
                severity,
                ..
            } => format!("alert {alert} attached ({severity}): {summary}"),
            E::AlertResolved {
                alert,
                summary,
                all_resolved,
            } => format!(
                "alert {alert} resolved: {summary}{}",
                if *all_resolved {
                    "; every alert has resolved"
                } else {
                    ""
                }
            ),
            E::EscalationStarted { policy, .. } => format!("paging started ({policy})"),
            E::Paged {
                user, method, step, ..
            } => format!("paged {user} by {method} (step {})", step + 1),
            E::NobodyPaged { target, reason, .. } => format!("could not page {target}: {reason}"),
            E::PageDelivered { user, method, .. } => {
                format!("page to {user} delivered by {method}")
            }
            E::PageFailed {
                user,
                method,
                reason,
                ..
            } => format!("page to {user} by {method} failed: {reason}"),
            E::Acknowledged { by, via, .. } => format!("{by} acknowledged ({via})"),
            E::EscalationExhausted { policy, .. } => {
                format!("nobody acknowledged; {policy} ran out of steps")
            }
            E::StatusUpdate(u) => match u.status {
                Some(s) => format!(
                    "{} update ({}): {}",
                    u.audience.as_str(),
                    s.as_str(),
                    u.body
                ),
                None => format!("{} update: {}", u.audience.as_str(), u.body),
            },
            E::UpdateReminder {
                to,
                quiet_for,
                unreached,
            } => {
                let mut text = if to.is_empty() {
                    format!("no update for {quiet_for}; nobody could be reminded")
                } else {
                    format!("no update for {quiet_for}; reminded {}", to.join(", "))
                };
                if !unreached.is_empty() {
                    text.push_str(&format!(" (could not remind: {})", unreached.join("; ")));
                }
                text
            }
            E::FreezeExemption {
                service,
                by,
                reason,
            } => format!(
                "{by} deployed {} during the freeze: {reason}",
                service.as_deref().unwrap_or("a service")
            ),
            E::DeployDuringFreeze {
                service, version, ..
            } => format!("{service} {version} was deployed during the freeze"),
            E::BreakGlassRequested {
                user,
                role,
                duration,
                reason,
                ..
            } => format!("{user} asks for {role} for {duration}: {reason}"),
            E::BreakGlassGranted {
                user,
                role,
                expires_at,
                ..
            } => format!("{user} has {role} until {expires_at} (break-glass)"),
            E::BreakGlassEnded { user, why, .. } => {
                format!("{user}'s break-glass access ended: {why}")
            }
            E::ActionRequested {
                action,
                shown,
                needs_approval,
                ..
            } => format!(
                "asked to run {action}{}: {shown}",
                if *needs_approval {
                    " (needs approval)"
                } else {
                    ""
                }
            ),
            E::ActionApproved { action, by, .. } => format!("{by} approved {action}"),
            E::ActionRefused { action, why, .. } => format!("{action} refused: {why}"),
            E::ActionDenied {
                run: Some(run),
                action,
                by,
                why,
            } => format!("{by} was refused approving {action} (run {run}): {why}"),
            E::ActionDenied {
                run: None,
                action,
                by,
                why,
            } => format!("{by} was refused running {action}: {why}"),
            E::ActionStarted { action, .. } => format!("{action} started"),
            E::ActionFinished {
                action,
                status,
                exit_code,
                ..
            } => match exit_code {
                Some(c) => format!("{action} {status} (exit {c})"),
                None => format!("{action} {status}"),
            },
            E::CommandRun {
                argv, exit_code, ..
            } => format!(
                "ran {} (exit {exit_code})",
                argv.first().map(String::as_str).unwrap_or("a command")
            ),
            E::PostmortemDrafted { .. } => "postmortem drafted".to_string(),
            E::PostmortemEdited { sections, .. } => {
                format!("postmortem edited: {}", sections.join(", "))
            }
            E::PostmortemStatusChanged { from, to } => format!("postmortem {from} → {to}"),
            E::ActionItemAdded {
                item,
                title,
                owner,
                due,
            } => format!("action item {item} for {owner}, due {due}: {title}"),
            E::ActionItemChanged {
                item,
                title,
                status,
                reason,
            } => match (status.as_str(), reason) {
                ("wont_do", Some(r)) => format!("action item {item} won't do: {title} ({r})"),
                ("wont_do", None) => format!("action item {item} won't do: {title}"),
                ("open", _) => format!("action item {item} reopened: {title}"),
                (status, _) => format!("action item {item} {status}: {title}"),
            },
        }
    }
}
