//! The storage contract. Each aggregate has a trait; [`Store`] is all of them together.
//! Two backends implement it (`firebreak-store-sqlite`, `firebreak-store-postgres`) and both
//! must pass the one contract suite in [`contract`] (behind the `contract` feature).
//!
//! Stores persist what the domain decided: every write that changes an incident takes the
//! timeline events and the audit record that go with it, and commits them in one transaction.

use async_trait::async_trait;
use firebreak_domain::rules::{MaintenanceWindow, OpenIncident, Route, Silence};
use firebreak_domain::{
    AccessRole, Alert, AlertStatus, Incident, IncidentNumber, Name, Status, TimelineEvent,
};
use futures_util::future::BoxFuture;
use jiff::Timestamp;

#[cfg(feature = "contract")]
pub mod contract;

pub mod codec;

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("not found")]
    NotFound,
    /// A unique name is taken, or the row changed since it was read.
    #[error("conflict: {0}")]
    Conflict(String),
    /// The database failed. The message is for logs only, never for clients.
    #[error("storage failure: {0}")]
    Backend(String),
}

impl StoreError {
    pub fn backend(e: impl std::fmt::Display) -> StoreError {
        StoreError::Backend(e.to_string())
    }
}

/// A mutation recorded in the audit log, in the same transaction as the change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditDraft {
    pub actor: String,
    pub action: String,
    pub target: String,
    pub at: Timestamp,
    pub source: Option<String>,
}

impl AuditDraft {
    /// The audit record of a create whose id the store assigns: the target names the kind
    /// (`silence`) and the store appends the new id (`silence/4`) in the same transaction.
    pub fn naming(mut self, id: i64) -> AuditDraft {
        self.target = format!("{}/{id}", self.target);
        self
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
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimelineEntry {
    pub seq: i64,
    pub at: Timestamp,
    pub actor: String,
    pub event: TimelineEvent,
}

/// A timeline event with who wrote it and when; the store assigns `seq`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimelineDraft {
    pub at: Timestamp,
    pub actor: String,
    pub event: TimelineEvent,
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

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceRecord {
    pub name: Name,
    pub description: String,
    pub team: Option<String>,
    pub runbook: Option<String>,
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
}

#[async_trait]
pub trait IncidentStore: Send + Sync {
    /// Stores a declared incident with the next sequential number, and its first timeline entries.
    async fn create_incident(
        &self,
        incident: Incident,
        events: Vec<TimelineDraft>,
        audit: AuditDraft,
    ) -> Result<Incident>;
    /// Saves a changed incident. `incident.version` is the new version; the stored one must be
    /// `incident.version - 1`, or the call fails with `Conflict` and changes nothing.
    async fn update_incident(
        &self,
        incident: &Incident,
        events: Vec<TimelineDraft>,
        audit: AuditDraft,
    ) -> Result<()>;
    /// Appends entries that change no incident field (notes). `NotFound` if there is no such incident.
    async fn append_timeline(
        &self,
        number: IncidentNumber,
        events: Vec<TimelineDraft>,
        audit: AuditDraft,
    ) -> Result<Vec<TimelineEntry>>;
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
}

#[async_trait]
pub trait DirectoryStore: Send + Sync {
    async fn create_service(
        &self,
        service: ServiceRecord,
        audit: AuditDraft,
    ) -> Result<ServiceRecord>;
    async fn update_service(
        &self,
        service: ServiceRecord,
        audit: AuditDraft,
    ) -> Result<ServiceRecord>;
    async fn delete_service(&self, name: &Name, audit: AuditDraft) -> Result<()>;
    async fn get_service(&self, name: &Name) -> Result<Option<ServiceRecord>>;
    async fn list_services(&self) -> Result<Vec<ServiceRecord>>;
    /// Makes the config file's services and users present and current. Never deletes.
    async fn sync_config(&self, services: Vec<ServiceRecord>, users: Vec<UserRecord>)
    -> Result<()>;
    async fn create_user(&self, user: UserRecord, audit: AuditDraft) -> Result<UserRecord>;
    async fn update_user(&self, user: UserRecord, audit: AuditDraft) -> Result<UserRecord>;
    async fn get_user(&self, handle: &Name) -> Result<Option<UserRecord>>;
    async fn list_users(&self) -> Result<Vec<UserRecord>>;
}

#[async_trait]
pub trait TokenStore: Send + Sync {
    async fn create_token(&self, token: TokenRecord, audit: AuditDraft) -> Result<TokenRecord>;
    /// Only tokens that are not revoked.
    async fn find_token(&self, hash: &str) -> Result<Option<TokenRecord>>;
    async fn list_tokens(&self) -> Result<Vec<TokenRecord>>;
    async fn revoke_token(&self, id: &str, at: Timestamp, audit: AuditDraft)
    -> Result<TokenRecord>;
    /// On a store with no admin user, creates `user` and `token` together and returns true.
    /// Otherwise changes nothing and returns false. Safe to race.
    async fn bootstrap_admin(
        &self,
        user: UserRecord,
        token: TokenRecord,
        audit: AuditDraft,
    ) -> Result<bool>;
}

#[async_trait]
pub trait AuditStore: Send + Sync {
    /// Newest first.
    async fn list_audit(&self, before: Option<i64>, limit: u32) -> Result<Page<AuditEntry>>;
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
    /// Who reported it: `api`, `pagerduty` or `cli`.
    pub source: String,
    pub summary: Option<String>,
    pub created_at: Timestamp,
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

/// The reads and writes ingestion needs, all inside one transaction. The engine drives it;
/// the store commits only if the whole work succeeds.
#[async_trait]
pub trait AlertTx: Send {
    /// The unresolved alert of `integration` with `dedup_key`, if any.
    async fn open_alert(&mut self, integration: &str, dedup_key: &str) -> Result<Option<Alert>>;
    async fn alert(&mut self, id: i64) -> Result<Option<Alert>>;
    /// Stores a new alert and returns its id. `Conflict` if an unresolved alert with the same
    /// integration and dedup key exists.
    async fn insert_alert(&mut self, alert: &Alert) -> Result<i64>;
    async fn update_alert(&mut self, alert: &Alert) -> Result<()>;
    /// The newest unresolved incident that lists `service`, and its last activity: the latest of
    /// its declaration and the last time one of its alerts was seen.
    async fn open_incident_for(&mut self, service: &Name) -> Result<Option<OpenIncident>>;
    /// Like [`IncidentStore::create_incident`], inside this transaction.
    async fn create_incident(
        &mut self,
        incident: Incident,
        events: Vec<TimelineDraft>,
        audit: AuditDraft,
    ) -> Result<Incident>;
    /// Appends timeline entries to an incident without changing its fields.
    async fn append_timeline(
        &mut self,
        number: IncidentNumber,
        events: Vec<TimelineDraft>,
    ) -> Result<()>;
    /// How many alerts attached to the incident are not resolved.
    async fn unresolved_alerts_of(&mut self, number: IncidentNumber) -> Result<i64>;
    async fn audit(&mut self, audit: AuditDraft) -> Result<()>;
}

/// A unit of ingestion run by [`AlertStore::ingest`] in one transaction.
pub type IngestWork = Box<
    dyn for<'t> FnOnce(&'t mut (dyn AlertTx + 't)) -> BoxFuture<'t, Result<Vec<IngestOutcome>>>
        + Send,
>;

#[async_trait]
pub trait AlertStore: Send + Sync {
    /// `Conflict` if the service already has an integration of that name, or the key exists.
    async fn create_integration(
        &self,
        integration: IntegrationRecord,
        audit: AuditDraft,
    ) -> Result<IntegrationRecord>;
    /// Adds a key; the integration's other keys keep working. `NotFound` for an unknown id.
    async fn add_integration_key(
        &self,
        integration: &str,
        key: IntegrationKey,
        audit: AuditDraft,
    ) -> Result<IntegrationRecord>;
    /// Revokes one key. `NotFound` if the integration has no such key that is not revoked.
    async fn revoke_integration_key(
        &self,
        integration: &str,
        key: &str,
        at: Timestamp,
        audit: AuditDraft,
    ) -> Result<IntegrationRecord>;
    /// Every integration with all its keys, by service then name.
    async fn list_integrations(&self) -> Result<Vec<IntegrationRecord>>;
    /// Makes the config file's integrations present, adding their keys. Never deletes.
    async fn sync_integrations(&self, integrations: Vec<IntegrationRecord>) -> Result<()>;

    /// Runs `work` in one transaction and commits it before returning.
    async fn ingest(&self, work: IngestWork) -> Result<Vec<IngestOutcome>>;
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

    /// `audit`'s target gets the new id appended ([`AuditDraft::naming`]), here and in the
    /// other creates whose id the store assigns (maintenance windows, routes, deployments).
    async fn create_silence(&self, silence: Silence, audit: AuditDraft) -> Result<Silence>;
    /// Sets the end of a silence to `at`. `NotFound` if it does not exist or has already ended.
    async fn expire_silence(&self, id: i64, at: Timestamp, audit: AuditDraft) -> Result<Silence>;
    /// Silences that end after `after`, newest first.
    async fn list_silences(&self, after: Timestamp) -> Result<Vec<Silence>>;

    async fn create_maintenance(
        &self,
        window: MaintenanceWindow,
        audit: AuditDraft,
    ) -> Result<MaintenanceWindow>;
    /// Ends a window at `at` (or removes it if it has not started). `NotFound` if unknown or over.
    async fn end_maintenance(
        &self,
        id: i64,
        at: Timestamp,
        audit: AuditDraft,
    ) -> Result<MaintenanceWindow>;
    /// Windows that end after `after`, soonest start first.
    async fn list_maintenance(&self, after: Timestamp) -> Result<Vec<MaintenanceWindow>>;

    async fn create_route(&self, route: RouteRecord, audit: AuditDraft) -> Result<RouteRecord>;
    async fn delete_route(&self, id: i64, audit: AuditDraft) -> Result<()>;
    /// In the order they are tried (by id).
    async fn list_routes(&self) -> Result<Vec<RouteRecord>>;

    async fn record_deployment(
        &self,
        deployment: DeploymentRecord,
        audit: AuditDraft,
    ) -> Result<DeploymentRecord>;
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
}

#[async_trait]
pub trait Store: IncidentStore + DirectoryStore + TokenStore + AuditStore + AlertStore {
    /// Checks the database answers.
    async fn ping(&self) -> Result<()>;
    /// Which backend this is, for logs: `sqlite` or `postgres`.
    fn backend(&self) -> &'static str;
}
