//! Stabilizing safely: change freezes someone declared, and break-glass grants.

use async_trait::async_trait;
use firebreak_domain::IncidentNumber;
use firebreak_domain::action::ActionRun;
use firebreak_domain::break_glass::Grant;
use firebreak_domain::freeze::Freeze;
use firebreak_domain::runbook::Runbook;
use jiff::Timestamp;

use crate::Result;

/// Freeze and break-glass writes, inside a unit of work.
#[async_trait]
pub trait StabilizeWrites: Send {
    /// Stores a declared freeze and returns it with its id (the one given is ignored).
    async fn create_freeze(&mut self, freeze: &Freeze) -> Result<Freeze>;
    /// The freeze, held until commit.
    async fn lock_freeze(&mut self, id: i64) -> Result<Option<Freeze>>;
    /// Saves a freeze's `ended_at`. `NotFound` if it is gone.
    async fn end_freeze(&mut self, id: i64, at: Timestamp) -> Result<()>;
    /// Stores a grant and returns it with its id (the one given is ignored).
    async fn create_grant(&mut self, grant: &Grant) -> Result<Grant>;
    /// The grant, held until commit.
    async fn lock_grant(&mut self, id: i64) -> Result<Option<Grant>>;
    /// Saves a grant's `granted_at`, `approved_by`, `ended_at` and `end_reason`. `NotFound` if
    /// it is gone.
    async fn save_grant(&mut self, grant: &Grant) -> Result<()>;
    /// The grants of `incident` not yet ended by hand (they may have expired), held until
    /// commit.
    async fn lock_open_grants(&mut self, incident: IncidentNumber) -> Result<Vec<Grant>>;
    /// Stores an action run and returns it with its id (the one given is ignored).
    async fn create_run(&mut self, run: &ActionRun) -> Result<ActionRun>;
    /// The run, held until commit.
    async fn lock_run(&mut self, id: i64) -> Result<Option<ActionRun>>;
    /// Saves what changes as a run goes: status, approval, start, finish, heartbeat, exit
    /// code, output and error. `NotFound` if it is gone.
    async fn save_run(&mut self, run: &ActionRun) -> Result<()>;
    /// The runs of `action` on `incident` that wait for approval or are running, held until
    /// commit: only one may be open at a time.
    async fn lock_open_runs(
        &mut self,
        incident: IncidentNumber,
        action: &str,
    ) -> Result<Vec<ActionRun>>;
    /// The runs of `incident` waiting for approval, held until commit.
    async fn lock_waiting_runs(&mut self, incident: IncidentNumber) -> Result<Vec<ActionRun>>;
    /// Adds the runbook, or replaces the one with its name. True when it was added.
    async fn put_runbook(&mut self, runbook: &RunbookRecord) -> Result<bool>;
    /// Removes a runbook. `NotFound` if there is none.
    async fn delete_runbook(&mut self, name: &str) -> Result<()>;
}

/// A runbook added through the API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunbookRecord {
    pub runbook: Runbook,
    pub created_by: String,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// Freeze and break-glass reads.
#[async_trait]
pub trait StabilizeStore: Send + Sync {
    /// Declared freezes whose window ends after `after` and that were not lifted before it,
    /// soonest start first.
    async fn list_freezes(&self, after: Timestamp) -> Result<Vec<Freeze>>;
    async fn get_grant(&self, id: i64) -> Result<Option<Grant>>;
    /// Grants not ended by hand whose expiry (if granted) is after `after`: every grant that
    /// is, or may become, in force. Oldest first.
    async fn live_grants(&self, after: Timestamp) -> Result<Vec<Grant>>;
    /// Every grant of an incident, oldest first.
    async fn incident_grants(&self, incident: IncidentNumber) -> Result<Vec<Grant>>;
    async fn get_run(&self, id: i64) -> Result<Option<ActionRun>>;
    /// Every run of an incident, oldest first.
    async fn incident_runs(&self, incident: IncidentNumber) -> Result<Vec<ActionRun>>;
    /// Runs still `running` whose heartbeat is older than `before`: their process stopped.
    /// And runs waiting for approval past their time.
    async fn stale_runs(&self, before: Timestamp, now: Timestamp) -> Result<Vec<ActionRun>>;
    /// Every runbook added through the API, by name.
    async fn list_runbooks(&self) -> Result<Vec<RunbookRecord>>;
}
