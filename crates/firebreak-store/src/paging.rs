//! Paging records: users' contact methods, escalation policies and escalations.
//!
//! An escalation is stored with a copy of its policy from the moment it started (the domain's
//! [`Escalation`]), so editing the policy changes nothing in a running one. Its timer is an
//! outbox message (kind `escalation`) due when the next step fires; the pages a step sends are
//! outbox messages too (kind `page`), claimed before bulk work.

use async_trait::async_trait;
use firebreak_domain::contact::{ContactKind, mask_url};
use firebreak_domain::escalation::{Escalation, Policy};
use firebreak_domain::{IncidentNumber, Name};
use jiff::Timestamp;

use crate::Result;

/// A way to reach a user.
#[derive(Clone, PartialEq, Eq)]
pub struct ContactRecord {
    /// Public id, e.g. `cm_3f9c2a1b7e40`.
    pub id: String,
    pub user: Name,
    pub kind: ContactKind,
    /// Unique per user; defaults to the kind (`email`, `slack`).
    pub name: String,
    /// An email address or a URL. Chat and ntfy URLs are secrets ([`ContactKind::target_is_secret`]).
    pub target: String,
    /// A webhook's signing secret (`whsec_...`), or an ntfy bearer token.
    pub secret: Option<String>,
    pub created_at: Timestamp,
}

impl ContactRecord {
    /// The target as it may be shown after creation: secret URLs masked.
    pub fn shown_target(&self) -> String {
        if self.kind.target_is_secret() {
            mask_url(&self.target)
        } else if self.kind.takes_url()
            && let Some((base, _)) = self.target.split_once('?')
        {
            // A query string may carry a token: show that there is one, not what it is.
            format!("{base}?…")
        } else {
            self.target.clone()
        }
    }
}

impl std::fmt::Debug for ContactRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ContactRecord")
            .field("id", &self.id)
            .field("user", &self.user)
            .field("kind", &self.kind)
            .field("name", &self.name)
            .field("target", &self.shown_target())
            .field("secret", &self.secret.as_ref().map(|_| "…"))
            .finish()
    }
}

/// An escalation policy as stored: from `firebreak.yaml` or made through the API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyRecord {
    pub policy: Policy,
    pub from_config: bool,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// What escalations to list: those of an alert, of an incident, or of either. With neither,
/// nothing matches.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EscalationFilter {
    pub alert: Option<i64>,
    pub incident: Option<IncidentNumber>,
    /// Only active and acknowledged ones.
    pub open_only: bool,
}

/// Paging writes, inside a unit of work.
#[async_trait]
pub trait PagingWrites: Send {
    /// `Conflict` if the user already has a contact method with that name, or the id is taken.
    async fn create_contact(&mut self, contact: &ContactRecord) -> Result<()>;
    /// Returns what was removed. `NotFound` if the user has no contact method with that id.
    async fn delete_contact(&mut self, user: &Name, id: &str) -> Result<ContactRecord>;

    /// `Conflict` if the name is taken.
    async fn create_policy(&mut self, policy: &PolicyRecord) -> Result<()>;
    /// Replaces the steps and repeat and `updated_at`. `NotFound` if there is no such policy.
    async fn replace_policy(&mut self, policy: &PolicyRecord) -> Result<()>;
    /// `NotFound` if there is no such policy.
    async fn delete_policy(&mut self, name: &Name) -> Result<()>;
    /// Makes the config file's policies present and current. Never deletes.
    async fn sync_policies(&mut self, policies: Vec<PolicyRecord>) -> Result<()>;

    /// `Conflict` if the id is taken.
    async fn create_escalation(&mut self, escalation: &Escalation) -> Result<()>;
    /// Several at once (the escalations one ingest request starts); `Conflict` if an id is taken.
    async fn create_escalations(&mut self, escalations: &[Escalation]) -> Result<()>;
    /// The escalation, held until commit.
    async fn lock_escalation(&mut self, id: &str) -> Result<Option<Escalation>>;
    /// Saves status, positions, acknowledgement and end. `NotFound` if there is none.
    async fn save_escalation(&mut self, escalation: &Escalation) -> Result<()>;
    /// The escalations that match, held until commit, oldest first.
    async fn lock_escalations(&mut self, filter: EscalationFilter) -> Result<Vec<Escalation>>;

    /// The secret kept under `name`; `value` is stored first if there is none yet, so every
    /// instance ends up with the same one.
    async fn keep_secret(&mut self, name: &str, value: &str, at: Timestamp) -> Result<String>;
}

/// Paging reads.
#[async_trait]
pub trait PagingStore: Send + Sync {
    /// The user's contact methods, oldest first.
    async fn contacts_of(&self, user: &Name) -> Result<Vec<ContactRecord>>;
    /// The contact methods of all of `users`, by user then oldest first.
    async fn contacts_of_users(&self, users: &[Name]) -> Result<Vec<ContactRecord>>;
    async fn get_contact(&self, id: &str) -> Result<Option<ContactRecord>>;
    /// By name.
    async fn list_policies(&self) -> Result<Vec<PolicyRecord>>;
    async fn get_policy(&self, name: &Name) -> Result<Option<PolicyRecord>>;
    async fn get_escalation(&self, id: &str) -> Result<Option<Escalation>>;
    /// Oldest first.
    async fn list_escalations(&self, filter: EscalationFilter) -> Result<Vec<Escalation>>;
    /// The escalations still waiting for someone to acknowledge (active), oldest first, up to
    /// `limit`: what home pages show, read through a partial index of the active ones.
    async fn active_escalations(&self, limit: u32) -> Result<Vec<Escalation>>;
}
