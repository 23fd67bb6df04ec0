//! The transaction handle a unit of work writes through. One [`Tx`] covers every write
//! Firebreak makes: incidents and their timeline, alerts, the directory, the audit log and
//! outbox messages. A unit of work is a closure the engine hands to [`crate::Store::run`]; what
//! it does through the handle commits together or not at all.
//!
//! Locks are explicit: a method named `lock_*` holds the row (or the name) until commit, so two
//! units of work that lock the same thing run one after the other. On SQLite every unit of work
//! already runs alone on the one writer; on PostgreSQL the locks are `FOR UPDATE` rows and
//! transaction-scoped advisory locks. Reads without `lock_` in their name take no lock.
//!
//! A unit of work must only await its handle: on SQLite it runs on the writer's own thread,
//! where nothing else can wake it.

use async_trait::async_trait;
use firebreak_domain::rules::{MaintenanceWindow, Silence};
use firebreak_domain::{Alert, Incident, IncidentNumber, Name};
use futures_util::future::BoxFuture;
use jiff::Timestamp;

use crate::outbox::{
    Attempt, IngestRequest, Lease, Message, NewMessage, Outcome, Priority, Subscription,
};
use crate::{
    AuditDraft, Change, DeploymentRecord, IntegrationKey, IntegrationRecord, OverrideRecord,
    Result, RouteRecord, ScheduleRecord, ServiceRecord, TimelineDraft, TimelineEntry, TokenRecord,
    UserRecord,
};

/// A unit of work: runs once, inside one transaction, against its handle.
pub type Work = Box<dyn for<'t> FnOnce(&'t mut (dyn Tx + 't)) -> BoxFuture<'t, Result<()>> + Send>;

/// Every write, in one handle.
pub trait Tx:
    IncidentWrites
    + AlertWrites
    + DirectoryWrites
    + ScheduleWrites
    + crate::paging::PagingWrites
    + crate::status::StatusWrites
    + crate::stabilize::StabilizeWrites
    + crate::review::ReviewWrites
    + crate::heartbeat::HeartbeatWrites
    + crate::gameday::GameDayWrites
    + crate::customer_report::CustomerReportWrites
    + crate::check::CheckWrites
    + crate::accounts::AccountWrites
    + OutboxWrites
    + Send
{
    /// Adds `change` to what this unit of work publishes on the change feed after commit.
    /// The store already publishes the changes its own writes make.
    fn publish(&mut self, change: Change);
}

/// The facts grouping needs about a service's newest open incident. The domain decides what
/// they mean ([`firebreak_domain::rules::OpenIncident::from_facts`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenIncidentFacts {
    pub service: Name,
    pub number: IncidentNumber,
    pub declared_at: Timestamp,
    /// The latest `last_seen` of the alerts attached to the incident, if it has any.
    pub last_alert_seen: Option<Timestamp>,
}

/// One stored trigger: the alert as it now is, and whether it was new.
#[derive(Debug, Clone, PartialEq)]
pub struct Upserted {
    pub alert: Alert,
    /// True when the trigger opened a new alert; false when it repeated an open one.
    pub opened: bool,
}

#[async_trait]
pub trait IncidentWrites: Send {
    /// Stores a declared incident with the next sequential number, and its first timeline
    /// entries. Returns it with its number.
    async fn create_incident(
        &mut self,
        incident: Incident,
        events: Vec<TimelineDraft>,
    ) -> Result<Incident>;
    /// The incident, held until commit.
    async fn lock_incident(&mut self, number: IncidentNumber) -> Result<Option<Incident>>;
    /// Saves a changed incident with its new timeline entries. `incident.version` is the new
    /// version; the stored one must be `incident.version - 1`, or this fails with `Conflict`.
    /// `NotFound` if there is no such incident.
    async fn update_incident(
        &mut self,
        incident: &Incident,
        events: Vec<TimelineDraft>,
    ) -> Result<Vec<TimelineEntry>>;
    /// The incident's timeline entries of these `kinds` (`TimelineEvent::kind`), in order,
    /// read in the unit of work: the history a change acts on (every reach a resolution goes
    /// to). Empty for an unknown incident.
    async fn timeline_of_kinds(
        &mut self,
        number: IncidentNumber,
        kinds: &[&str],
    ) -> Result<Vec<TimelineEntry>>;
    /// Appends entries that change no incident field. `NotFound` if there is no such incident.
    async fn append_timeline(
        &mut self,
        number: IncidentNumber,
        events: Vec<TimelineDraft>,
    ) -> Result<Vec<TimelineEntry>>;
    /// Records one entry in the audit log.
    async fn audit(&mut self, audit: AuditDraft) -> Result<()>;
    /// Holds `name` until commit: units of work that lock the same name run one at a time.
    /// Used where no row exists yet to lock (declaring the first incident of a service).
    async fn lock_name(&mut self, name: &str) -> Result<()>;
}

#[async_trait]
pub trait AlertWrites: Send {
    /// Stores triggers in one statement: each opens a new alert, or repeats the open alert with
    /// the same integration and dedup key. A repeat takes the trigger's `last_seen`,
    /// `severity`, `urgency`, `summary`, `labels`, `details` and `raw`, its `links` and
    /// `images` when it has any, and adds one to `count` ([`Alert::repeat`] is the rule; the
    /// store applies it in the statement). No two triggers in one call may share a key.
    async fn upsert_triggers(&mut self, alerts: Vec<Alert>) -> Result<Vec<Upserted>>;
    /// The unresolved alert of `integration` with `dedup_key`, held until commit.
    async fn lock_open_alert(
        &mut self,
        integration: &str,
        dedup_key: &str,
    ) -> Result<Option<Alert>>;
    /// The alert, held until commit.
    async fn lock_alert(&mut self, id: i64) -> Result<Option<Alert>>;
    /// Saves every field of a stored alert. `NotFound` if there is none.
    async fn update_alert(&mut self, alert: &Alert) -> Result<()>;
    /// For each of `services` that has one, its newest unresolved incident that is a drill
    /// when `drill` is true, and a real one otherwise: drills and real alerts never group.
    async fn open_incidents(
        &mut self,
        services: &[Name],
        drill: bool,
    ) -> Result<Vec<OpenIncidentFacts>>;
    /// How many alerts attached to the incident are not resolved.
    async fn unresolved_alerts_of(&mut self, number: IncidentNumber) -> Result<i64>;

    /// `Conflict` if the service already has an integration of that name, or the key exists.
    async fn create_integration(&mut self, integration: &IntegrationRecord) -> Result<()>;
    /// Adds a key; the integration's other keys keep working. `NotFound` for an unknown id.
    async fn add_integration_key(
        &mut self,
        integration: &str,
        key: &IntegrationKey,
    ) -> Result<IntegrationRecord>;
    /// Revokes one key. `NotFound` if the integration has no such key that is not revoked.
    async fn revoke_integration_key(
        &mut self,
        integration: &str,
        key: &str,
        at: Timestamp,
    ) -> Result<IntegrationRecord>;
    /// Makes the config file's integrations present, adding their keys. Never deletes, and
    /// never brings back a key that was revoked. `Conflict` if a key belongs to another one.
    async fn sync_integrations(&mut self, integrations: Vec<IntegrationRecord>) -> Result<()>;

    /// Stores a silence and returns it with its id.
    async fn create_silence(&mut self, silence: Silence) -> Result<Silence>;
    /// The silence, held until commit.
    async fn lock_silence(&mut self, id: i64) -> Result<Option<Silence>>;
    /// Saves a silence's start and end.
    async fn save_silence_span(&mut self, silence: &Silence) -> Result<()>;
    async fn create_maintenance(&mut self, window: MaintenanceWindow) -> Result<MaintenanceWindow>;
    async fn lock_maintenance(&mut self, id: i64) -> Result<Option<MaintenanceWindow>>;
    async fn save_maintenance_span(&mut self, window: &MaintenanceWindow) -> Result<()>;
    async fn create_route(&mut self, route: RouteRecord) -> Result<RouteRecord>;
    /// `NotFound` if there is no such route.
    async fn delete_route(&mut self, id: i64) -> Result<()>;
    async fn record_deployment(&mut self, deployment: DeploymentRecord)
    -> Result<DeploymentRecord>;
    /// Keeps a sender's request id and what it did, so the sender can look it up later.
    async fn record_request(&mut self, request: &IngestRequest) -> Result<()>;
    /// Forgets sender requests recorded before `before`. Returns how many.
    async fn purge_requests(&mut self, before: Timestamp) -> Result<u64>;
}

/// On-call schedules and their overrides.
#[async_trait]
pub trait ScheduleWrites: Send {
    /// `Conflict` if the name is taken.
    async fn create_schedule(&mut self, schedule: &ScheduleRecord) -> Result<()>;
    /// Replaces the definition (time zone and layers) and `updated_at`; keeps the overrides.
    /// `NotFound` if there is no such schedule.
    async fn replace_schedule(&mut self, schedule: &ScheduleRecord) -> Result<()>;
    /// Removes the schedule and its overrides. `NotFound` if there is no such schedule.
    async fn delete_schedule(&mut self, name: &Name) -> Result<()>;
    /// Makes the config file's schedules present and current. Never deletes.
    async fn sync_schedules(&mut self, schedules: Vec<ScheduleRecord>) -> Result<()>;
    /// `NotFound` if the schedule is unknown; `Conflict` if the id is taken.
    async fn add_override(&mut self, cover: &OverrideRecord) -> Result<()>;
    /// Returns what was removed. `NotFound` if the schedule has no override with that id.
    async fn remove_override(&mut self, schedule: &Name, id: &str) -> Result<OverrideRecord>;
}

#[async_trait]
pub trait DirectoryWrites: Send {
    /// `Conflict` if the name is taken.
    async fn create_service(&mut self, service: &ServiceRecord) -> Result<()>;
    /// Saves description, team, runbook, escalation policy and manager. `NotFound` if there is
    /// no such service.
    async fn update_service(&mut self, service: &ServiceRecord) -> Result<ServiceRecord>;
    /// `NotFound` if there is no such service.
    async fn delete_service(&mut self, name: &Name) -> Result<()>;
    /// Makes the config file's services and users present and current. Never deletes, and
    /// keeps a user's access role and disabled state.
    async fn sync_config(
        &mut self,
        services: Vec<ServiceRecord>,
        users: Vec<UserRecord>,
    ) -> Result<()>;
    /// `Conflict` if the handle is taken.
    async fn create_user(&mut self, user: &UserRecord) -> Result<()>;
    /// Saves name, email, time zone, role and disabled state. `NotFound` if unknown.
    async fn update_user(&mut self, user: &UserRecord) -> Result<UserRecord>;
    /// True if some user who is not disabled has the admin role.
    async fn any_admin(&mut self) -> Result<bool>;
    /// `Conflict` if the id or the secret's hash exists.
    async fn create_token(&mut self, token: &TokenRecord) -> Result<()>;
    /// Revokes a token (keeping the first revocation time). `NotFound` for an unknown id.
    async fn revoke_token(&mut self, id: &str, at: Timestamp) -> Result<TokenRecord>;
}

#[async_trait]
pub trait OutboxWrites: Send {
    /// Adds messages to the outbox. A message whose idempotency key is already there is
    /// skipped. Returns how many were added.
    async fn enqueue(&mut self, messages: Vec<NewMessage>) -> Result<u64>;
    /// Takes up to `limit` messages that are due at `now` (pending and due, or sending with an
    /// expired lease), marks them `sending` under `lease`, counts the attempt, and returns
    /// them, soonest due first. On PostgreSQL, messages another claimer holds are skipped.
    ///
    /// Only messages of `priorities` are taken, in that order: pages have a worker lane of
    /// their own, so a backlog of bulk work never holds a page's place.
    async fn claim_due(
        &mut self,
        now: Timestamp,
        lease: &Lease,
        limit: u32,
        priorities: &[Priority],
    ) -> Result<Vec<Message>>;
    /// The message was delivered. False (and nothing changes) if `owner` no longer holds it.
    async fn complete(&mut self, id: i64, owner: &str, attempt: &Attempt) -> Result<bool>;
    /// The attempt failed in a way worth retrying: try again at `at`.
    async fn retry_at(
        &mut self,
        id: i64,
        owner: &str,
        at: Timestamp,
        attempt: &Attempt,
    ) -> Result<bool>;
    /// The message will not be sent: `failed` when the receiver refused it, `dead` when its
    /// deadline passed.
    async fn fail(&mut self, id: i64, owner: &str, dead: bool, attempt: &Attempt) -> Result<bool>;
    /// Records several outcomes at once, each as `complete`, `retry_at` or `fail` would; each
    /// answer says whether `owner` still held that message. A backend may do it in one
    /// statement (PostgreSQL does); the default records them one by one.
    async fn settle_all(
        &mut self,
        owner: &str,
        outcomes: &[(i64, Outcome, Attempt)],
    ) -> Result<Vec<bool>> {
        let mut held = Vec::with_capacity(outcomes.len());
        for (id, outcome, attempt) in outcomes {
            held.push(match *outcome {
                Outcome::Delivered => self.complete(*id, owner, attempt).await?,
                Outcome::RetryAt(at) => self.retry_at(*id, owner, at, attempt).await?,
                Outcome::Failed => self.fail(*id, owner, false, attempt).await?,
                Outcome::Dead => self.fail(*id, owner, true, attempt).await?,
            });
        }
        Ok(held)
    }
    /// Gives back every message `owner` holds, due at once. Returns how many.
    async fn release(&mut self, owner: &str, now: Timestamp) -> Result<u64>;
    /// Puts a message back in the queue (a person asked), due at `due` with a new deadline.
    /// `NotFound` if there is no such message; `Conflict` while it is being sent.
    async fn redeliver(&mut self, id: i64, due: Timestamp, deadline: Timestamp) -> Result<Message>;
    /// Forgets finished messages (delivered, failed, dead) that finished before `before`.
    async fn purge_finished(&mut self, before: Timestamp) -> Result<u64>;

    /// `Conflict` if the id exists.
    async fn create_subscription(&mut self, subscription: &Subscription) -> Result<()>;
    /// `NotFound` if there is no such subscription.
    async fn delete_subscription(&mut self, id: &str) -> Result<()>;
    /// The subscription, held until commit.
    async fn lock_subscription(&mut self, id: &str) -> Result<Option<Subscription>>;
    /// Saves `failing_since`, `disabled_at` and `disabled_reason`.
    async fn save_subscription_health(&mut self, subscription: &Subscription) -> Result<()>;
}
