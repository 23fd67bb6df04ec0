//! Live updates for the incident room and the events streams: what a watcher has not seen
//! yet, driven by the change feed. The feed only says *that* an incident changed; the
//! timeline is read from the store after the last entry the watcher saw, so nothing is lost
//! when the feed lags, when a change was written by another instance (PostgreSQL `NOTIFY`),
//! or when a browser reconnects with `Last-Event-ID`.

use firebreak_domain::{Incident, IncidentNumber};
use firebreak_store::{Change, Committed, TimelineEntry};
use std::sync::Arc;
use tokio::sync::broadcast;
use tokio::sync::broadcast::error::RecvError;

use crate::{EngineError, Firebreak};

/// The most entries one batch carries; a watcher far behind gets several batches.
const BATCH: u32 = 200;

/// What changed for a watcher since it last asked.
#[derive(Debug, Clone)]
pub struct LiveBatch {
    /// New timeline entries, in order.
    pub entries: Vec<TimelineEntry>,
    /// The incident as it is now, when it changed (status, severity, roles, checklist).
    pub incident: Option<Incident>,
}

/// One watcher of one incident.
pub struct IncidentWatch {
    app: Firebreak,
    number: IncidentNumber,
    after: i64,
    feed: broadcast::Receiver<Arc<Committed>>,
    /// Read the store before waiting: at the start, and after a batch that was full.
    pending: bool,
}

impl Firebreak {
    /// Watches `number` from just after timeline entry `after` (0 for the whole timeline).
    /// `NotFound` if there is no such incident.
    pub async fn watch_incident(
        &self,
        number: IncidentNumber,
        after: i64,
    ) -> Result<IncidentWatch, EngineError> {
        // Subscribe before the first read, so a change committed in between is not missed.
        let feed = self.store.feed().subscribe();
        self.incident(number).await?;
        Ok(IncidentWatch {
            app: self.clone(),
            number,
            after: after.max(0),
            feed,
            pending: true,
        })
    }
}

impl IncidentWatch {
    /// The last timeline entry this watcher was given.
    pub fn seen(&self) -> i64 {
        self.after
    }

    /// Waits for the next change and returns it. `None` when the feed has closed (the
    /// server is stopping).
    pub async fn next(&mut self) -> Result<Option<LiveBatch>, EngineError> {
        loop {
            if self.pending {
                self.pending = false;
                let batch = self.read(false).await?;
                if !batch.entries.is_empty() {
                    return Ok(Some(batch));
                }
            }
            let changed = match self.feed.recv().await {
                Ok(committed) => committed
                    .changes
                    .iter()
                    .any(|c| matches!(c, Change::Incident { number } if *number == self.number)),
                // Fell behind: whatever was missed is in the store.
                Err(RecvError::Lagged(_)) => true,
                Err(RecvError::Closed) => return Ok(None),
            };
            if changed {
                return Ok(Some(self.read(true).await?));
            }
        }
    }

    async fn read(&mut self, with_incident: bool) -> Result<LiveBatch, EngineError> {
        let page = self
            .app
            .store
            .timeline(self.number, Some(self.after), BATCH)
            .await?;
        if let Some(last) = page.items.last() {
            self.after = last.seq;
        }
        self.pending = page.items.len() as u32 >= BATCH;
        let incident = if with_incident {
            self.app.store.get_incident(self.number).await?
        } else {
            None
        };
        Ok(LiveBatch {
            entries: page.items,
            incident,
        })
    }
}

/// A change to show on the all-changes stream.
#[derive(Debug, Clone)]
pub enum LiveChange {
    Incident(Incident),
    Alert(firebreak_domain::Alert),
}

/// A watcher of every incident and alert change.
pub struct ChangeWatch {
    app: Firebreak,
    feed: broadcast::Receiver<Arc<Committed>>,
}

impl Firebreak {
    /// Watches every incident and alert change from now on.
    pub fn watch_changes(&self) -> ChangeWatch {
        ChangeWatch {
            app: self.clone(),
            feed: self.store.feed().subscribe(),
        }
    }
}

impl ChangeWatch {
    /// The next changes, as they are now. `None` when the feed has closed. A watcher that
    /// fell behind skips what it missed; clients re-read the lists when they reconnect.
    pub async fn next(&mut self) -> Result<Option<Vec<LiveChange>>, EngineError> {
        loop {
            let committed = match self.feed.recv().await {
                Ok(c) => c,
                Err(RecvError::Lagged(missed)) => {
                    tracing::debug!(missed, "an events stream fell behind");
                    continue;
                }
                Err(RecvError::Closed) => return Ok(None),
            };
            let mut out = Vec::new();
            let mut seen_incidents = Vec::new();
            let mut seen_alerts = Vec::new();
            for change in &committed.changes {
                match change {
                    Change::Incident { number } if !seen_incidents.contains(number) => {
                        seen_incidents.push(*number);
                        if let Some(i) = self.app.store.get_incident(*number).await? {
                            out.push(LiveChange::Incident(i));
                        }
                    }
                    Change::Alert { id, .. } if !seen_alerts.contains(id) => {
                        seen_alerts.push(*id);
                        if let Some(a) = self.app.store.get_alert(*id).await? {
                            out.push(LiveChange::Alert(a));
                        }
                    }
                    _ => {}
                }
            }
            if !out.is_empty() {
                return Ok(Some(out));
            }
        }
    }
}
