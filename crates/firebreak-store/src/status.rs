//! The public status page's records: its components, and the status updates, which are
//! timeline entries of kind `status_update` (so every update is on its incident's timeline, and
//! the page reads them back with one query).

use async_trait::async_trait;
use firebreak_domain::IncidentNumber;
use firebreak_domain::status_page::Component;
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
}

/// Status page reads.
#[async_trait]
pub trait StatusStore: Send + Sync {
    /// Every component, in page order (position, then name).
    async fn list_components(&self) -> Result<Vec<Component>>;
    /// Every status update posted at or after `since`, public and internal, oldest first, with
    /// its incident.
    async fn status_updates_since(
        &self,
        since: Timestamp,
    ) -> Result<Vec<(IncidentNumber, TimelineEntry)>>;
}
