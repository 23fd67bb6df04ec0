//! The storage contract. Every write goes through one entry point, [`Store::run`] (or the typed
//! [`transact`]): the engine hands the store a unit of work, and everything that work does
//! through its [`Tx`] handle (incidents, alerts, timeline, audit, the directory and outbox
//! messages) commits together or not at all. After each commit the store publishes what was
//! committed on its change feed ([`feed`]). Reads outside a unit of work go through the
//! per-aggregate read traits ([`IncidentStore`], [`AlertStore`], ...).
//!
//! Two backends implement it (`firebreak-store-sqlite`, `firebreak-store-postgres`) and both must
//! pass the one contract suite in [`contract`] (behind the `contract` feature).
//!
//! The familiar write methods (`create_incident`, `create_token`, ...) live on [`StoreWrites`],
//! written once here on top of [`transact`], so no backend has a write path of its own.

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use firebreak_domain::audit::AuditContent;
use firebreak_domain::rules::{MaintenanceWindow, Route, Silence};
use firebreak_domain::{AccessRole, Alert, AlertStatus, Incident, IncidentNumber, Name, Status};
use futures_util::future::BoxFuture;
use jiff::Timestamp;

#[cfg(feature = "contract")]
pub mod contract;

pub mod accounts;
pub mod check;
pub mod codec;
pub mod customer_report;
pub mod feed;
pub mod gameday;
pub mod heartbeat;
pub mod outbox;
pub mod paging;
pub mod review;
pub mod stabilize;
pub mod status;
pub mod tx;
mod writes;

pub use accounts::{AccountStore, AccountWrites, PasswordRecord};
pub use check::{CheckStore, CheckWrites};
pub use customer_report::{CustomerReportStore, CustomerReportWrites};
pub use feed::{Change, ChangeFeed, Committed};
pub use gameday::{GameDayRecord, GameDayStore, GameDayWrites};
pub use heartbeat::{HeartbeatStore, HeartbeatWrites};
pub use outbox::{
    Attempt, IngestRequest, Lease, Message, MessageStatus, NewMessage, OutboxStats, Outcome,
    Priority, Subscription,
};
pub use paging::{ContactRecord, EscalationFilter, PagingStore, PagingWrites, PolicyRecord};
pub use review::{
    ActionItemFilter, DAY_MS, DaySplit, DeployFailureRow, DeployLink, Dismissal, IncidentRow,
    ItemRow, PostmortemRecord, ReviewStore, ReviewWrites, Revision, deploy_day, span_counts,
};
pub use stabilize::{RunbookRecord, StabilizeStore, StabilizeWrites};
pub use status::{StatusStore, StatusWrites};
pub use tx::{
    AlertWrites, DirectoryWrites, IncidentWrites, OpenIncidentFacts, OutboxWrites, ScheduleWrites,
    Tx, Upserted, Work,
};
pub use writes::StoreWrites;

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// The cause behind a [`StoreError`], kept for logs.
pub type Cause = Box<dyn std::error::Error + Send + Sync + 'static>;

/// What kind of failure a storage call met. The kind decides what the caller does: a missing
/// row is the client's problem, an outage is answered with 503 and `Retry-After`, a
/// serialization failure is retried, and anything else is a bug to log.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("not found")]
    NotFound,
    /// A unique name is taken, or the row changed since it was read. The message is written
    /// for people and never holds SQL.
    #[error("conflict: {0}")]
    Conflict(String),
    /// The database cannot be reached, the pool timed out, or the write queue is backed up.
    /// Nothing was written; the same request can succeed later.
    #[error("storage unavailable: {0}")]
    Unavailable(#[source] Cause),
    /// A serialization failure or deadlock: nothing was written, and running the same work
    /// again is expected to succeed.
    #[error("storage conflict, retry: {0}")]
    Retryable(#[source] Cause),
    /// Anything else. The cause is for logs, never for clients.
    #[error("storage failure: {0}")]
    Backend(#[source] Cause),
}

impl StoreError {
    pub fn backend(e: impl Into<Cause>) -> StoreError {
        StoreError::Backend(e.into())
    }
    pub fn unavailable(e: impl Into<Cause>) -> StoreError {
        StoreError::Unavailable(e.into())
    }
    /// True for failures that say nothing about the request: the same call may succeed later.
    pub fn is_transient(&self) -> bool {
        matches!(self, StoreError::Unavailable(_) | StoreError::Retryable(_))
    }
}

/// A mutation recorded in the audit log, in the same unit of work as the change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditDraft {
    pub actor: String,
    pub action: String,
    pub target: String,
    pub at: Timestamp,
    pub source: Option<String>,
    /// The break-glass grant the actor held when they did it.
    pub break_glass: Option<i64>,
}

impl AuditDraft {
    /// The audit record of a create whose id the store assigns: the target names the kind
    /// (`silence`) and gets the new id appended (`silence/4`).
    pub fn naming(mut self, id: i64) -> AuditDraft {
        self.target = format!("{}/{id}", self.target);
        self
    }

    /// What the row with `id` says, as the hash chain covers it.
    pub fn content(&self, id: i64) -> AuditContent<'_> {
        AuditContent {
            id,
            at_ms: self.at.as_millisecond(),
            actor: &self.actor,
            action: &self.action,
            target: &self.target,
            source: self.source.as_deref(),
            break_glass: self.break_glass,
        }
    }

    /// The row this draft becomes at `id` after a row hashed `prev`: its `prev_hash` and
    /// `hash`.
    pub fn chained(&self, id: i64, prev: &str) -> String {
        firebreak_domain::audit::chain_hash(prev, &self.content(id))
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEntry {
    pub id: i64,
    pub actor: String,
    pub action: String,
    pub target: String,
    pub at: Timestamp,
    pub source: Option<String>,
    pub break_glass: Option<i64>,
    /// The hash of the row before it ([`firebreak_domain::audit::GENESIS`] for the first).
    pub prev_hash: Option<String>,
    pub hash: Option<String>,
}

impl AuditEntry {
    pub fn content(&self) -> AuditContent<'_> {
        AuditContent {
            id: self.id,
            at_ms: self.at.as_millisecond(),
            actor: &self.actor,
            action: &self.action,
            target: &self.target,
            source: self.source.as_deref(),
            break_glass: self.break_glass,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimelineEntry {
    pub seq: i64,
    pub at: Timestamp,
    pub actor: String,
    pub event: firebreak_domain::TimelineEvent,
}

/// A timeline event with who wrote it and when; the store assigns `seq`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimelineDraft {
    pub at: Timestamp,
    pub actor: String,
    pub event: firebreak_domain::TimelineEvent,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IncidentFilter {
    pub status: Option<Status>,
    pub severity: Option<String>,
    pub service: Option<Name>,
    /// `Some(true)`: only open incidents; `Some(false)`: only resolved ones.
    pub open: Option<bool>,
    pub drill: Option<bool>,
}

/// One page of a list, newest first. `next` is the cursor for the following page, if any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next: Option<i64>,
}

impl<T> Page<T> {
    /// A page read from the end backwards: `newest_first` holds up to `limit + 1` rows in
    /// descending order (one more than asked, to tell whether older ones exist). Keeps the
    /// newest `limit`, in ascending order; `next` is the key of the oldest kept when there are
    /// older rows.
    pub fn from_newest(mut newest_first: Vec<T>, limit: u32, key: impl Fn(&T) -> i64) -> Page<T> {
        let older = newest_first.len() > limit as usize;
        newest_first.truncate(limit as usize);
        newest_first.reverse();
        let next = if older {
            newest_first.first().map(key)
        } else {
            None
        };
        Page {
            items: newest_first,
            next,
        }
    }
}

/// An on-call schedule as stored: from `firebreak.yaml` or made through the API.
#[derive(Debug, Clone, PartialEq)]
pub struct ScheduleRecord {
    pub schedule: firebreak_domain::schedule::Schedule,
    pub from_config: bool,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// Someone covering a schedule for a while, and who arranged it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OverrideRecord {
    pub schedule: Name,
    pub cover: firebreak_domain::schedule::Override,
    pub created_at: Timestamp,
    pub created_by: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceRecord {
    pub name: Name,
    pub description: String,
    pub team: Option<String>,
    pub runbook: Option<String>,
    /// The escalation policy paged for the service's alerts and incidents.
    pub escalation_policy: Option<Name>,
    /// A user paged directly when a severity's `page` list names `manager`.
    pub manager: Option<Name>,
    /// True when the service is declared in the config file; the API may not delete it.
    pub from_config: bool,
    pub created_at: Timestamp,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserRecord {
    pub handle: Name,
    pub name: String,
    pub email: Option<String>,
    pub time_zone: Option<String>,
    pub role: AccessRole,
    pub from_config: bool,
    pub created_at: Timestamp,
    /// A disabled user cannot act, and neither can their tokens.
    pub disabled_at: Option<Timestamp>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenRecord {
    /// Public id, safe to show and to use for revoking.
    pub id: String,
    pub name: String,
    pub role: AccessRole,
    /// The user the token acts for, if any.
    pub user: Option<Name>,
    /// SHA-256 of the secret, hex. The secret itself is never stored.
    pub hash: String,
    pub created_at: Timestamp,
    pub revoked_at: Option<Timestamp>,
    /// After this instant the token no longer works.
    pub expires_at: Option<Timestamp>,
}

/// An integration: how one sender reaches one service. It has one key, or two while a key is
/// being rotated. Only SHA-256 hashes of keys are stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IntegrationRecord {
    /// Public id, safe to show, e.g. `int_3f9c2a1b`.
    pub id: String,
    pub service: Name,
    pub name: String,
    pub from_config: bool,
    pub created_at: Timestamp,
    /// Every key the integration has had, oldest first; revoked ones have `revoked_at`.
    pub keys: Vec<IntegrationKey>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IntegrationKey {
    /// Public id of the key, for revoking it, e.g. `key_71c0e2d4`.
    pub id: String,
    /// Hex SHA-256 of the key.
    pub hash: String,
    /// The key's last four characters, so people can tell keys apart.
    pub hint: String,
    pub created_at: Timestamp,
    pub revoked_at: Option<Timestamp>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AlertFilter {
    pub status: Option<AlertStatus>,
    pub service: Option<Name>,
    pub incident: Option<IncidentNumber>,
    /// Alerts of one integration only.
    pub integration: Option<String>,
    /// Alerts with this dedup key only (with `integration`: one key's alerts, newest first).
    pub dedup_key: Option<String>,
}

/// A routing rule added through the API. Config rules are not stored.
#[derive(Debug, Clone, PartialEq)]
pub struct RouteRecord {
    pub id: i64,
    pub route: Route,
    pub created_by: String,
    pub created_at: Timestamp,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeploymentRecord {
    /// Assigned by the store; 0 until then.
    pub id: i64,
    pub service: Name,
    pub version: String,
    pub previous_version: Option<String>,
    pub commit: Option<String>,
    pub author: Option<String>,
    pub link: Option<String>,
    /// When the deploy happened.
    pub at: Timestamp,
    /// Who reported it: `api`, `pagerduty`, `cli` or `ci`.
    pub source: String,
    pub summary: Option<String>,
    pub created_at: Timestamp,
    /// Why the deploy's service was frozen when it was reported; empty when it was not.
    pub freeze_reasons: Vec<String>,
    /// True for a deploy that undid another (a rollback): remediation, left out of the change
    /// failure rate.
    pub rollback: bool,
    /// The deploy a rollback undid, when known.
    pub rolls_back: Option<i64>,
    /// The incident a rollback was run for, when known.
    pub incident: Option<IncidentNumber>,
    /// A deploy recorded by a game day: counted in the DORA figures only when drills are asked
    /// for, and a suspect of
    /// drill incidents only (a real deploy is a suspect of real incidents only).
    pub drill: bool,
}

/// What ingesting one event did, for the sender's answer and for metrics.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IngestOutcome {
    pub dedup_key: String,
    pub effect: IngestEffect,
    /// The alert the event landed on, if any.
    pub alert: Option<i64>,
    /// The incident the alert belongs to after the event, if any.
    pub incident: Option<IncidentNumber>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IngestEffect {
    Opened,
    Suppressed,
    Repeated,
    Acknowledged,
    Resolved,
    /// Nothing to change (acknowledge or resolve with no open alert).
    Ignored,
    /// A routing rule dropped it.
    Dropped,
    /// Attached to an open incident.
    Attached,
    /// Declared a new incident.
    Declared,
}

#[async_trait]
pub trait IncidentStore: Send + Sync {
    async fn get_incident(&self, number: IncidentNumber) -> Result<Option<Incident>>;
    /// Newest first. `before` is a cursor from a previous page.
    async fn list_incidents(
        &self,
        filter: &IncidentFilter,
        before: Option<i64>,
        limit: u32,
    ) -> Result<Page<Incident>>;
    /// Ascending `seq`, starting after `after`.
    async fn timeline(
        &self,
        number: IncidentNumber,
        after: Option<i64>,
        limit: u32,
    ) -> Result<Page<TimelineEntry>>;
    /// The newest `limit` entries with `seq` below `before` (all of them when `None`), in
    /// ascending `seq` so they read oldest to newest. `next` is the `before` of the page of
    /// older entries (the first `seq` returned), or `None` when none is older. An unknown
    /// incident has an empty timeline, as with [`IncidentStore::timeline`].
    async fn timeline_tail(
        &self,
        number: IncidentNumber,
        before: Option<i64>,
        limit: u32,
    ) -> Result<Page<TimelineEntry>>;
}

#[async_trait]
pub trait DirectoryStore: Send + Sync {
    async fn get_service(&self, name: &Name) -> Result<Option<ServiceRecord>>;
    async fn list_services(&self) -> Result<Vec<ServiceRecord>>;
    async fn get_user(&self, handle: &Name) -> Result<Option<UserRecord>>;
    async fn list_users(&self) -> Result<Vec<UserRecord>>;
}

#[async_trait]
pub trait ScheduleStore: Send + Sync {
    /// By name.
    async fn list_schedules(&self) -> Result<Vec<ScheduleRecord>>;
    async fn get_schedule(&self, name: &Name) -> Result<Option<ScheduleRecord>>;
    /// The overrides of `schedule` that overlap `from..to`, in the order they were added (a
    /// later one wins where they overlap).
    async fn overrides_of(
        &self,
        schedule: &Name,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<Vec<OverrideRecord>>;
}

#[async_trait]
pub trait TokenStore: Send + Sync {
    /// Only tokens that are not revoked (expiry is the engine's to judge).
    async fn find_token(&self, hash: &str) -> Result<Option<TokenRecord>>;
    async fn list_tokens(&self) -> Result<Vec<TokenRecord>>;
}

#[async_trait]
pub trait AuditStore: Send + Sync {
    /// Newest first.
    async fn list_audit(&self, before: Option<i64>, limit: u32) -> Result<Page<AuditEntry>>;
    /// Oldest first: up to `limit` rows with an id above `after` and, when `since` is given,
    /// from the first row written at or after it on (every row after that one, whatever its
    /// time: ids follow the chain, times are taken before the write is queued). How the chain
    /// is walked and exported.
    async fn audit_after(
        &self,
        after: i64,
        since: Option<Timestamp>,
        limit: u32,
    ) -> Result<Vec<AuditEntry>>;
}

#[async_trait]
pub trait AlertStore: Send + Sync {
    /// Every integration with all its keys, by service then name.
    async fn list_integrations(&self) -> Result<Vec<IntegrationRecord>>;
    async fn get_alert(&self, id: i64) -> Result<Option<Alert>>;
    /// Newest first (by id).
    async fn list_alerts(
        &self,
        filter: &AlertFilter,
        before: Option<i64>,
        limit: u32,
    ) -> Result<Page<Alert>>;
    /// `(incident, alert id, alert status)` for every alert attached to one of `incidents`,
    /// ascending by alert id.
    async fn alerts_of_incidents(
        &self,
        incidents: &[IncidentNumber],
    ) -> Result<Vec<(IncidentNumber, i64, AlertStatus)>>;
    /// Silences that end after `after`, newest first.
    async fn list_silences(&self, after: Timestamp) -> Result<Vec<Silence>>;
    /// Windows that end after `after`, soonest start first.
    async fn list_maintenance(&self, after: Timestamp) -> Result<Vec<MaintenanceWindow>>;
    /// In the order they are tried (by id).
    async fn list_routes(&self) -> Result<Vec<RouteRecord>>;
    /// Most recently recorded first (by id); `before` is a cursor (an id) from a previous page.
    async fn list_deployments(
        &self,
        service: Option<&Name>,
        before: Option<i64>,
        limit: u32,
    ) -> Result<Page<DeploymentRecord>>;
    /// Deploys of any of `services` with `from <= at <= to`, newest first.
    async fn deployments_between(
        &self,
        services: &[Name],
        from: Timestamp,
        to: Timestamp,
    ) -> Result<Vec<DeploymentRecord>>;
    /// A sender's request recorded by [`AlertWrites::record_request`], by its request id.
    async fn get_request(&self, id: &str) -> Result<Option<IngestRequest>>;
}

#[async_trait]
pub trait OutboxStore: Send + Sync {
    async fn get_message(&self, id: i64) -> Result<Option<Message>>;
    /// Messages of `kind` about `subject`, newest first; `before` is an id cursor.
    async fn list_messages(
        &self,
        kind: &str,
        subject: &str,
        before: Option<i64>,
        limit: u32,
    ) -> Result<Page<Message>>;
    /// Every message of `kind` about any of `subjects`, by id: one read for many subjects
    /// (the escalations a home page shows).
    async fn messages_about(&self, kind: &str, subjects: &[String]) -> Result<Vec<Message>>;
    /// Every attempt made for each of `messages`, oldest first.
    async fn attempts_of(&self, messages: &[i64]) -> Result<Vec<(i64, Attempt)>>;
    /// Depth and overdue age per kind.
    async fn outbox_stats(&self, now: Timestamp) -> Result<Vec<OutboxStats>>;
    /// The earliest instant at which some message can next be claimed, if any is waiting.
    async fn next_due(&self) -> Result<Option<Timestamp>> {
        self.next_due_of(&Priority::CLAIM_ORDER).await
    }
    /// The earliest due time of unfinished messages of `priorities` only: what one lane of
    /// the worker waits for.
    async fn next_due_of(&self, priorities: &[Priority]) -> Result<Option<Timestamp>>;
    /// Clears away what finished messages left behind, so that claiming stays fast through a
    /// long burst. On PostgreSQL every claim and every outcome leaves a dead row version, and
    /// the claim index keeps pointing at them until the table is vacuumed: with many of them
    /// claims slow down tenfold, whatever autovacuum is set to do later. Safe to run beside
    /// claims and writes; the outbox worker calls it after every few thousand outcomes.
    async fn tidy_outbox(&self) -> Result<()>;
    /// Webhook subscriptions, oldest first.
    async fn list_subscriptions(&self) -> Result<Vec<Subscription>>;
}

/// How the store's own machinery is doing, for `/readyz`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Health {
    /// False once the writer (or committer) can no longer commit: `/readyz` fails.
    pub writer_alive: bool,
    /// How many times the writer recovered from a panic inside a unit of work.
    pub writer_restarts: u64,
    /// How long the oldest write waiting in the queue has waited, in milliseconds.
    pub queue_wait_ms: u64,
}

#[async_trait]
pub trait Store:
    IncidentStore
    + DirectoryStore
    + AccountStore
    + ScheduleStore
    + PagingStore
    + StatusStore
    + StabilizeStore
    + ReviewStore
    + HeartbeatStore
    + GameDayStore
    + CustomerReportStore
    + CheckStore
    + TokenStore
    + AuditStore
    + AlertStore
    + OutboxStore
{
    /// Runs `work` in one transaction and returns after it has committed, or with the error
    /// that rolled it back. `rows` is roughly how many rows the work writes, so batches can be
    /// bounded by size. Use [`transact`] for a typed result.
    async fn run(&self, rows: usize, work: Work) -> Result<()>;
    /// What this store commits, as it commits it.
    fn feed(&self) -> &ChangeFeed;
    /// Checks the database answers.
    async fn ping(&self) -> Result<()>;
    fn health(&self) -> Health;
    /// Which backend this is, for logs: `sqlite` or `postgres`.
    fn backend(&self) -> &'static str;
    /// Stops taking new work, lets queued work finish and closes connections.
    async fn close(&self);
}

/// Runs `work` as one unit of work on `store` and returns its result once committed.
pub async fn transact<S, T, F>(store: &S, work: F) -> Result<T>
where
    S: Store + ?Sized,
    T: Send + 'static,
    F: for<'t> FnOnce(&'t mut (dyn Tx + 't)) -> BoxFuture<'t, Result<T>> + Send + 'static,
{
    transact_rows(store, 1, work).await
}

/// Like [`transact`], for work that writes about `rows` rows (a batch of alerts).
pub async fn transact_rows<S, T, F>(store: &S, rows: usize, work: F) -> Result<T>
where
    S: Store + ?Sized,
    T: Send + 'static,
    F: for<'t> FnOnce(&'t mut (dyn Tx + 't)) -> BoxFuture<'t, Result<T>> + Send + 'static,
{
    let slot: Arc<Mutex<Option<T>>> = Arc::new(Mutex::new(None));
    let out = slot.clone();
    store
        .run(
            rows,
            Box::new(move |tx| {
                Box::pin(async move {
                    let value = work(tx).await?;
                    *out.lock().unwrap_or_else(|p| p.into_inner()) = Some(value);
                    Ok(())
                })
            }),
        )
        .await?;
    let value = slot.lock().unwrap_or_else(|p| p.into_inner()).take();
    value.ok_or_else(|| StoreError::backend("a committed unit of work left no result"))
}
