//! The public status page's records: its components, and the status updates, which are
//! timeline entries of kind `status_update` (so every update is on its incident's timeline, and
//! the page reads them back with one query).

use async_trait::async_trait;
use firebreak_domain::IncidentNumber;
use firebreak_domain::status_page::{Component, PublicMaintenance, Subscriber, SubscriberKind};
use jiff::Timestamp;

use crate::{Result, TimelineEntry};

/// Status page writes, inside a unit of work.
#[async_trait]
pub trait StatusWrites: Send {
    /// Adds a component. `Conflict` if one has its name or id.
    async fn create_component(&mut self, component: &Component) -> Result<()>;
    /// The component, held until commit.
    async fn lock_component(&mut self, id: &str) -> Result<Option<Component>>;
    /// Saves a changed component (everything but its id and `created_at`). `NotFound` if it is
    /// gone; `Conflict` if it was renamed to a name another has.
    async fn save_component(&mut self, component: &Component) -> Result<()>;
    /// Removes a component. `NotFound` if there is none.
    async fn delete_component(&mut self, id: &str) -> Result<Component>;
    /// Makes the components from `firebreak.yaml` these, matched by name: each is added or
    /// updated (keeping its id, creation time and any status set by hand) and marked as from
    /// the file. Components made through the API are left alone, unless the file now names one.
    /// A component the file no longer names, that came from the file, is removed.
    async fn sync_components(&mut self, components: Vec<Component>) -> Result<()>;
    /// Stores a scheduled maintenance and returns its id (the one given is ignored).
    async fn create_scheduled_maintenance(&mut self, m: &PublicMaintenance) -> Result<i64>;
    /// The maintenance, held until commit.
    async fn lock_scheduled_maintenance(&mut self, id: i64) -> Result<Option<PublicMaintenance>>;
    /// Saves a maintenance's new start and end. `NotFound` if it is gone.
    async fn save_scheduled_maintenance_span(&mut self, m: &PublicMaintenance) -> Result<()>;
    /// Adds a subscriber. `Conflict` if one has their address (or URL) already.
    async fn create_subscriber(&mut self, s: &Subscriber) -> Result<()>;
    /// The subscriber with this address or URL, held until commit.
    async fn lock_subscriber(
        &mut self,
        kind: SubscriberKind,
        target: &str,
    ) -> Result<Option<Subscriber>>;
    /// The subscriber whose link token hashes to `token_hash`, held until commit.
    async fn lock_subscriber_by_token(&mut self, token_hash: &str) -> Result<Option<Subscriber>>;
    /// Saves a subscriber's components, confirmation, last mail time and link token.
    /// `NotFound` if they are gone.
    async fn save_subscriber(&mut self, s: &Subscriber) -> Result<()>;
    /// Removes the email subscribers who never confirmed and were last sent a confirmation
    /// (or subscribed, if never sent one) before `before`. Returns how many went.
    async fn purge_unconfirmed_subscribers(&mut self, before: Timestamp) -> Result<u64>;
    /// Removes a subscriber. `NotFound` if there is none.
    async fn delete_subscriber(&mut self, id: &str) -> Result<Subscriber>;
}

/// Status page reads.
#[async_trait]
pub trait StatusStore: Send + Sync {
    /// Every component, in page order (position, then name).
    async fn list_components(&self) -> Result<Vec<Component>>;
    async fn get_subscriber(&self, id: &str) -> Result<Option<Subscriber>>;
    /// Every subscriber, oldest first.
    async fn list_subscribers(&self) -> Result<Vec<Subscriber>>;
    /// Scheduled maintenance that ends after `after`, soonest start first.
    async fn list_scheduled_maintenances(&self, after: Timestamp)
    -> Result<Vec<PublicMaintenance>>;
    /// Every status update posted at or after `since`, public and internal, oldest first, with
    /// its incident.
    async fn status_updates_since(
        &self,
        since: Timestamp,
    ) -> Result<Vec<(IncidentNumber, TimelineEntry)>>;
}
