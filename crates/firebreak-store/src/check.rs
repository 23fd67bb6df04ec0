//! Uptime checks: each row of `checks` is one check's settings, where it stands, when it runs
//! next and who holds it. Checks run on one instance at a time: a runner claims the due ones
//! under a lease (`lease_owner`, `lease_until`), probes them, and records each run in one unit
//! of work with its state change and its alert; a lease that runs out (its runner died) makes
//! the check claimable again. Every run is kept in `check_results` for a week and counted in
//! `check_days`, one row per check and UTC day, kept for the status page's bars and longer.
//! The domain (`firebreak_domain::check`) decides every change; the store keeps it.

use async_trait::async_trait;
use firebreak_domain::check::{Check, CheckResult, DayUptime};
use jiff::Timestamp;
use jiff::civil::Date;

use crate::Result;
use crate::outbox::Lease;

/// Check writes, inside a unit of work.
#[async_trait]
pub trait CheckWrites: Send {
    /// Stores a new check and returns it with its id. `Conflict` if its name is taken.
    async fn create_check(&mut self, check: &Check) -> Result<Check>;
    /// The check, held until commit.
    async fn lock_check(&mut self, id: i64) -> Result<Option<Check>>;
    /// Deletes a check with its results and daily counts. `NotFound` if there is none.
    async fn delete_check(&mut self, id: i64) -> Result<()>;
    /// Takes up to `limit` checks due at `now` that nobody holds (or whose holder's lease ran
    /// out) under `lease`, soonest due first. On PostgreSQL, rows another claimer is taking are
    /// skipped, so two claimers never get the same check.
    async fn claim_checks(
        &mut self,
        now: Timestamp,
        lease: &Lease,
        limit: u32,
    ) -> Result<Vec<Check>>;
    /// Records one run of a check `owner` holds: saves where the check now stands (state,
    /// failures in a row, last run and error, down since, certificate expiry and warning, next
    /// due), gives back the lease, keeps the result and counts it in its UTC day. Returns false,
    /// writing nothing, when the check is gone or `owner` no longer holds it.
    async fn record_check_run(
        &mut self,
        check: &Check,
        owner: &str,
        result: &CheckResult,
    ) -> Result<bool>;
    /// Deletes up to `limit` results older than `before` and the daily counts of days before
    /// `first_day`. Returns how many rows went.
    async fn prune_check_history(
        &mut self,
        before: Timestamp,
        first_day: Date,
        limit: u32,
    ) -> Result<u64>;
}

/// Check reads.
#[async_trait]
pub trait CheckStore: Send + Sync {
    /// Every check, by name.
    async fn list_checks(&self) -> Result<Vec<Check>>;
    async fn get_check(&self, id: i64) -> Result<Option<Check>>;
    /// Up to `limit` of a check's results, newest first.
    async fn check_results(&self, id: i64, limit: u32) -> Result<Vec<CheckResult>>;
    /// A check's daily counts from `first_day` on, oldest first.
    async fn check_days(&self, id: i64, first_day: Date) -> Result<Vec<DayUptime>>;
    /// The daily counts of every check linked to a status page component, summed per
    /// component (its public id) and day, from `first_day` on.
    async fn component_check_days(&self, first_day: Date) -> Result<Vec<(String, DayUptime)>>;
    /// The soonest instant a check can be claimed: its next run, or the end of the lease
    /// that holds it.
    async fn next_check_due(&self) -> Result<Option<Timestamp>>;
}
