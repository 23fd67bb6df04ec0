//! Game days: each row is one rehearsal, its targets, and once finished its score card. The
//! domain (`firebreak_domain::gameday`) scores them; the store keeps them and reads the alerts
//! each injected.

use async_trait::async_trait;
use firebreak_domain::gameday::{ScoreCard, Targets};
use firebreak_domain::{Alert, IncidentNumber, Name};
use jiff::Timestamp;

use crate::Result;

/// A game day as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GameDayRecord {
    /// Assigned by the store; 0 until then.
    pub id: i64,
    pub name: String,
    pub service: Name,
    pub severity: String,
    pub targets: Targets,
    pub started_by: String,
    pub started_at: Timestamp,
    pub finished_at: Option<Timestamp>,
    /// The final score card, once finished.
    pub card: Option<ScoreCard>,
    /// The drill incident the card was attached to, if the game day had one.
    pub incident: Option<IncidentNumber>,
}

/// Game day writes, inside a unit of work.
#[async_trait]
pub trait GameDayWrites: Send {
    /// Stores a new game day and returns it with its id.
    async fn create_gameday(&mut self, gameday: &GameDayRecord) -> Result<GameDayRecord>;
    /// The game day, held until commit (finishing it twice at once finishes it once).
    async fn lock_gameday(&mut self, id: i64) -> Result<Option<GameDayRecord>>;
    /// Records that a game day finished, with its card and the incident it was attached to.
    /// `NotFound` if there is none.
    async fn finish_gameday(
        &mut self,
        id: i64,
        at: Timestamp,
        card: &ScoreCard,
        incident: Option<IncidentNumber>,
    ) -> Result<()>;
}

/// Game day reads.
#[async_trait]
pub trait GameDayStore: Send + Sync {
    async fn get_gameday(&self, id: i64) -> Result<Option<GameDayRecord>>;
    /// Game days started in `from..to` (either end open), newest first, at most `limit`.
    async fn list_gamedays(
        &self,
        from: Option<Timestamp>,
        to: Option<Timestamp>,
        limit: u32,
    ) -> Result<Vec<GameDayRecord>>;
    /// The alerts a game day injected, oldest first.
    async fn gameday_alerts(&self, id: i64) -> Result<Vec<Alert>>;
}
