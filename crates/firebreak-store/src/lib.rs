//! The storage contract. Each aggregate has a trait; [`Store`] is all of them together.
//! Two backends implement it (`firebreak-store-sqlite`, `firebreak-store-postgres`) and both
//! must pass the one contract suite in [`contract`] (behind the `contract` feature).
//!
//! Stores persist what the domain decided: every write that changes an incident takes the
//! timeline events and the audit record that go with it, and commits them in one transaction.

use async_trait::async_trait;
use firebreak_domain::{AccessRole, Incident, IncidentNumber, Name, Status, TimelineEvent};
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

#[async_trait]
pub trait Store: IncidentStore + DirectoryStore + TokenStore + AuditStore {
    /// Checks the database answers.
    async fn ping(&self) -> Result<()>;
    /// Which backend this is, for logs: `sqlite` or `postgres`.
    fn backend(&self) -> &'static str;
}
