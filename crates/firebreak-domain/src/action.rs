//! Runs of runbook actions: production changes, recorded. A run is at most once: it is
//! started by a person (and approved by a second one when its action asks), and one that was
//! running when its process died is marked `interrupted`, never run again by itself.

use std::collections::BTreeMap;

use jiff::Timestamp;

use crate::IncidentNumber;

/// Where a run is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunStatus {
    PendingApproval,
    Running,
    Succeeded,
    Failed,
    /// It was running when its process stopped: it may or may not have done its work.
    Interrupted,
    /// Refused: a late approval, or an approval refused.
    Refused,
}

impl RunStatus {
    pub const ALL: [RunStatus; 6] = [
        RunStatus::PendingApproval,
        RunStatus::Running,
        RunStatus::Succeeded,
        RunStatus::Failed,
        RunStatus::Interrupted,
        RunStatus::Refused,
    ];
    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::PendingApproval => "pending_approval",
            RunStatus::Running => "running",
            RunStatus::Succeeded => "succeeded",
            RunStatus::Failed => "failed",
            RunStatus::Interrupted => "interrupted",
            RunStatus::Refused => "refused",
        }
    }
    pub fn parse(s: &str) -> Option<RunStatus> {
        RunStatus::ALL.into_iter().find(|r| r.as_str() == s)
    }
    /// Waiting or running: another run of the same action on the incident must wait.
    pub fn is_open(self) -> bool {
        matches!(self, RunStatus::PendingApproval | RunStatus::Running)
    }
}

/// An HTTP action's request as it is shown: secrets masked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShownRequest {
    pub method: String,
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: Option<String>,
}

/// What a run does, as shown to people (secrets masked): a command's argv and the names of its
/// environment, or a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Shown {
    Command {
        argv: Vec<String>,
        /// `NAME=value`, or `NAME=<secret NAME>`.
        env: Vec<String>,
        cwd: Option<String>,
    },
    Http(ShownRequest),
}

/// One run of an action on an incident.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActionRun {
    pub id: i64,
    pub incident: IncidentNumber,
    pub runbook: String,
    pub action: String,
    /// Who asked: a user handle or a token's name.
    pub requested_by: String,
    pub params: BTreeMap<String, String>,
    pub shown: Shown,
    pub status: RunStatus,
    pub requested_at: Timestamp,
    /// When a run waiting for approval is refused.
    pub approve_by: Option<Timestamp>,
    pub approved_by: Option<String>,
    pub started_at: Option<Timestamp>,
    pub finished_at: Option<Timestamp>,
    /// The last time the process running it said it is alive.
    pub heartbeat_at: Option<Timestamp>,
    pub exit_code: Option<i32>,
    /// Captured output, capped, with secrets redacted.
    pub output: String,
    /// Why it failed or was refused, in words.
    pub error: Option<String>,
    /// The break-glass grant its requester held, if any.
    pub break_glass: Option<i64>,
}

impl ActionRun {
    /// Whether a run waiting for approval is past its time.
    pub fn approval_expired(&self, now: Timestamp) -> bool {
        self.status == RunStatus::PendingApproval && self.approve_by.is_some_and(|by| now >= by)
    }
}
