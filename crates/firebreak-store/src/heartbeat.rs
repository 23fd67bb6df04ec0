//! Heartbeats: each row is one heartbeat's settings, its key's hash and where it stands. The
//! domain (`firebreak_domain::heartbeat`) decides every change; the store keeps it.

use async_trait::async_trait;
use firebreak_domain::heartbeat::Heartbeat;
use jiff::Timestamp;

use crate::Result;

/// Heartbeat writes, inside a unit of work.
#[async_trait]
pub trait HeartbeatWrites: Send {
    /// Stores a new heartbeat with the SHA-256 of its key and returns it with its id.
    /// `Conflict` if its name is taken.
    async fn create_heartbeat(
        &mut self,
        heartbeat: &Heartbeat,
        key_hash: &str,
    ) -> Result<Heartbeat>;
    /// The heartbeat, held until commit.
    async fn lock_heartbeat(&mut self, id: i64) -> Result<Option<Heartbeat>>;
    /// Saves where a heartbeat stands: state, last ping, due time, down since and reason.
    /// `NotFound` if it is gone.
    async fn save_heartbeat(&mut self, heartbeat: &Heartbeat) -> Result<()>;
    /// Deletes a heartbeat. `NotFound` if there is none.
    async fn delete_heartbeat(&mut self, id: i64) -> Result<()>;
}

/// Heartbeat reads.
#[async_trait]
pub trait HeartbeatStore: Send + Sync {
    /// Every heartbeat, by name.
    async fn list_heartbeats(&self) -> Result<Vec<Heartbeat>>;
    async fn get_heartbeat(&self, id: i64) -> Result<Option<Heartbeat>>;
    /// The heartbeat whose key has this SHA-256 (hex), if any.
    async fn heartbeat_by_key(&self, key_hash: &str) -> Result<Option<Heartbeat>>;
    /// Up to `limit` heartbeats that are up and due at or before `now`, soonest due first.
    async fn overdue_heartbeats(&self, now: Timestamp, limit: u32) -> Result<Vec<Heartbeat>>;
    /// The soonest due time of a heartbeat that is up.
    async fn next_heartbeat_due(&self) -> Result<Option<Timestamp>>;
}
