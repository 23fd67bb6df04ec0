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
            TimelineEvent::ActionStarted { .. } => "action_started",
            TimelineEvent::ActionFinished { .. } => "action_finished",
            TimelineEvent::CommandRun { .. } => "command_run",
        }
    }
}
