//! Live updates for the incident room and the events streams: what a watcher has not seen
//! yet, driven by the change feed. The feed only says *that* an incident changed; the
//! timeline is read from the store after the last entry the watcher saw, so nothing is lost
//! when the feed lags, when a change was written by another instance (PostgreSQL `NOTIFY`),
//! or when a browser reconnects with `Last-Event-ID`.
//!
//! A thousand people watching one incident must not mean a thousand reads per change. The
//! watchers of an incident share one [`Follower`]: a task that hears the feed, reads the new
//! entries and the incident once per change, and hands the same batch to every watcher. A
//! watcher reads the store itself only to catch up: when it starts behind, when it fell
//! behind the follower (a lagged channel), or when the follower's batch starts past what the
//! watcher has seen.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};

use firebreak_domain::action::{ActionRun, RunStatus};
use firebreak_domain::{Incident, IncidentNumber, TimelineEvent};
use firebreak_store::{Change, Committed, TimelineEntry};
use tokio::sync::broadcast;
use tokio::sync::broadcast::error::RecvError;

use crate::{EngineError, Firebreak};

/// The most entries one batch carries; a watcher far behind gets several batches.
const BATCH: u32 = 200;
/// How many shared batches a follower keeps for a slow watcher before it lags (and then
/// catches up from the store).
const FOLLOWER_BACKLOG: usize = 64;
/// How often a follower with nothing to read looks whether anyone still watches. It also
/// stops when the server stops (`App::streams`) or at the first change after its last
/// watcher left.
const IDLE_CHECK: std::time::Duration = std::time::Duration::from_secs(30);

/// What changed for a watcher since it last asked.
#[derive(Debug, Clone)]
pub struct LiveBatch {
    /// New timeline entries, in order.
    pub entries: Vec<TimelineEntry>,
    /// The incident as it is now, when it changed (status, severity, roles, checklist).
    pub incident: Option<Incident>,
    /// The incident's action runs still running, with their output so far: their output
    /// streams to watchers as it grows.
    pub running: Vec<ActionRun>,
}

/// One change to an incident as its follower read it, shared by every watcher.
#[derive(Debug)]
struct Shared {
    /// The entries are those after this `seq`.
    after: i64,
    entries: Vec<TimelineEntry>,
    /// The incident as it is after the change.
    incident: Option<Incident>,
    /// Its runs still running, as they are after the change.
    running: Vec<ActionRun>,
}

/// The followers of the incidents being watched on this instance, one per incident.
#[derive(Default)]
pub struct Followers {
    by_incident: Mutex<HashMap<IncidentNumber, broadcast::Sender<Arc<Shared>>>>,
    /// The one reader of every change, for the events streams.
    changes: Mutex<Option<broadcast::Sender<Arc<Vec<LiveChange>>>>>,
}

impl Followers {
    /// How many incidents have a follower now.
    pub fn count(&self) -> usize {
        self.by_incident.lock().map_or(0, |m| m.len())
    }
}

/// One watcher of one incident.
pub struct IncidentWatch {
    app: Firebreak,
    number: IncidentNumber,
    after: i64,
    shared: broadcast::Receiver<Arc<Shared>>,
    /// Read the store before waiting: at the start, after a batch that was full, and after
    /// falling behind the follower.
    pending: bool,
    /// Whether the next store read should carry the incident too.
    pending_incident: bool,
    /// The incident's version when the watch started.
    version_at_start: i64,
}

impl Firebreak {
    /// Watches `number` from just after timeline entry `after` (0 for the whole timeline).
    /// `NotFound` if there is no such incident.
    pub async fn watch_incident(
        &self,
        number: IncidentNumber,
        after: i64,
    ) -> Result<IncidentWatch, EngineError> {
        let incident = self.incident(number).await?;
        // Follow before the first read, so a change committed in between is not missed.
        let shared = self.follow(number).await?;
        Ok(IncidentWatch {
            app: self.clone(),
            number,
            after: after.max(0),
            shared,
            pending: true,
            pending_incident: false,
            version_at_start: incident.version,
        })
    }

    /// A receiver of `number`'s shared batches, starting the incident's follower if it has
    /// none. The follower stops when its last watcher has gone.
    async fn follow(
        &self,
        number: IncidentNumber,
    ) -> Result<broadcast::Receiver<Arc<Shared>>, EngineError> {
        let followers = &self.followers;
        {
            let map = followers.by_incident.lock().expect("followers lock");
            if let Some(tx) = map.get(&number) {
                return Ok(tx.subscribe());
            }
        }
        // Hear the feed before reading where the timeline ends, so nothing falls between.
        let feed = self.store.feed().subscribe();
        let head = self
            .store
            .timeline_tail(number, None, 1)
            .await?
            .items
            .last()
            .map_or(0, |e| e.seq);
        // The runs going now; from here on the timeline says when runs start and end.
        let running: BTreeSet<i64> = self
            .store
            .incident_runs(number)
            .await?
            .into_iter()
            .filter(|r| r.status == RunStatus::Running)
            .map(|r| r.id)
            .collect();
        let mut map = followers.by_incident.lock().expect("followers lock");
        if let Some(tx) = map.get(&number) {
            // Another watcher started one meanwhile.
            return Ok(tx.subscribe());
        }
        let (tx, rx) = broadcast::channel(FOLLOWER_BACKLOG);
        map.insert(number, tx.clone());
        drop(map);
        let app = self.clone();
        tokio::spawn(async move { app.run_follower(number, head, running, feed, tx).await });
        Ok(rx)
    }

    /// Reads each change to `number` once and shares it, until nobody watches or the feed
    /// closes (the server is stopping).
    async fn run_follower(
        &self,
        number: IncidentNumber,
        mut head: i64,
        mut running: BTreeSet<i64>,
        mut feed: broadcast::Receiver<Arc<Committed>>,
        tx: broadcast::Sender<Arc<Shared>>,
    ) {
        let stop = |tx: &broadcast::Sender<Arc<Shared>>| {
            let mut map = self.followers.by_incident.lock().expect("followers lock");
            // Checked under the lock that `follow` subscribes under, so no watcher joins a
            // follower that is stopping.
            if tx.receiver_count() == 0 {
                map.remove(&number);
                true
            } else {
                false
            }
        };
        loop {
            let heard = tokio::select! {
                heard = feed.recv() => heard,
                () = self.streams.cancelled() => Err(RecvError::Closed),
                // A quiet incident: see now and then whether anyone still watches.
                () = tokio::time::sleep(IDLE_CHECK) => {
                    if stop(&tx) {
                        return;
                    }
                    continue;
                }
            };
            let changed = match heard {
                Ok(committed) => committed
                    .changes
                    .iter()
                    .any(|c| matches!(c, Change::Incident { number: n } if *n == number)),
                // Fell behind: whatever was missed is in the store.
                Err(RecvError::Lagged(_)) => true,
                Err(RecvError::Closed) => {
                    self.followers
                        .by_incident
                        .lock()
                        .expect("followers lock")
                        .remove(&number);
                    return;
                }
            };
            if stop(&tx) {
                return;
            }
            if !changed {
                continue;
            }
            match self.read_change(number, head, &mut running).await {
                Ok(batches) => {
                    for shared in batches {
                        if let Some(last) = shared.entries.last() {
                            head = last.seq;
                        }
                        // No receiver right now is fine: the next feed event stops us.
                        let _ = tx.send(Arc::new(shared));
                    }
                }
                Err(e) => {
                    // The watchers catch up from the store themselves once it answers: a
                    // batch starting past what they have seen sends them there.
                    tracing::warn!(incident = number.0, error = %e, "reading an incident's change failed");
                }
            }
        }
    }

    /// The entries after `head` (in pages of [`BATCH`]) and the incident as it is now, the
    /// incident and the runs still running with the last page. `running` follows the runs
    /// that start and end in the entries, so only those are read.
    async fn read_change(
        &self,
        number: IncidentNumber,
        head: i64,
        running: &mut BTreeSet<i64>,
    ) -> Result<Vec<Shared>, EngineError> {
        let mut out = Vec::new();
        let mut after = head;
        loop {
            let page = self.store.timeline(number, Some(after), BATCH).await?;
            let full = page.items.len() as u32 >= BATCH;
            let next = page.items.last().map_or(after, |e| e.seq);
            for e in &page.items {
                match &e.event {
                    TimelineEvent::ActionStarted { run, .. } => {
                        running.insert(*run);
                    }
                    TimelineEvent::ActionFinished { run, .. }
                    | TimelineEvent::ActionRefused { run, .. } => {
                        running.remove(run);
                    }
                    _ => {}
                }
            }
            out.push(Shared {
                after,
                entries: page.items,
                incident: None,
                running: vec![],
            });
            after = next;
            if !full {
                break;
            }
        }
        let incident = self.store.get_incident(number).await?;
        let mut runs = Vec::with_capacity(running.len());
        for id in running.clone() {
            match self.store.get_run(id).await? {
                Some(r) if r.status == RunStatus::Running => runs.push(r),
                _ => {
                    running.remove(&id);
                }
            }
        }
        if let Some(last) = out.last_mut() {
            last.incident = incident;
            last.running = runs;
        }
        Ok(out)
    }
}

impl IncidentWatch {
    /// The last timeline entry this watcher was given.
    pub fn seen(&self) -> i64 {
        self.after
    }

    /// The incident's version when the watch started, so a client that already has the
    /// incident can skip batches that did not change it.
    pub fn version_at_start(&self) -> i64 {
        self.version_at_start
    }

    /// Waits for the next change and returns it. `None` when the feed has closed (the
    /// server is stopping).
    pub async fn next(&mut self) -> Result<Option<LiveBatch>, EngineError> {
        loop {
            if self.pending {
                let batch = self.read().await?;
                if !batch.entries.is_empty() || batch.incident.is_some() {
                    return Ok(Some(batch));
                }
            }
            let shared = match self.shared.recv().await {
                Ok(shared) => shared,
                // Fell behind the follower: whatever was missed is in the store.
                Err(RecvError::Lagged(_)) => {
                    self.pending = true;
                    self.pending_incident = true;
                    continue;
                }
                Err(RecvError::Closed) => return Ok(None),
            };
            if shared.after > self.after {
                // The follower is ahead of this watcher (it started behind, or a read of the
                // follower's failed): catch up from the store.
                self.pending = true;
                self.pending_incident |= shared.incident.is_some();
                continue;
            }
            let entries: Vec<TimelineEntry> = shared
                .entries
                .iter()
                .filter(|e| e.seq > self.after)
                .cloned()
                .collect();
            if let Some(last) = entries.last() {
                self.after = last.seq;
            }
            if entries.is_empty() && shared.incident.is_none() && shared.running.is_empty() {
                continue;
            }
            return Ok(Some(LiveBatch {
                entries,
                incident: shared.incident.clone(),
                running: shared.running.clone(),
            }));
        }
    }

    /// Catches up from the store: the entries after the last one seen, and the incident when
    /// it is wanted (with the last page). The watcher's position changes only once both reads
    /// are done, so a caller that stops waiting midway (a paced stream) loses nothing.
    async fn read(&mut self) -> Result<LiveBatch, EngineError> {
        let page = self
            .app
            .store
            .timeline(self.number, Some(self.after), BATCH)
            .await?;
        let full = page.items.len() as u32 >= BATCH;
        let incident = if self.pending_incident && !full {
            self.app.store.get_incident(self.number).await?
        } else {
            None
        };
        if let Some(last) = page.items.last() {
            self.after = last.seq;
        }
        self.pending = full;
        self.pending_incident &= full;
        Ok(LiveBatch {
            entries: page.items,
            incident,
            running: vec![],
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
    changes: broadcast::Receiver<Arc<Vec<LiveChange>>>,
}

impl Firebreak {
    /// Watches every incident and alert change from now on. Every watcher on this instance
    /// shares one reader of the changes.
    pub fn watch_changes(&self) -> ChangeWatch {
        let mut slot = self.followers.changes.lock().expect("followers lock");
        if let Some(tx) = slot.as_ref() {
            return ChangeWatch {
                changes: tx.subscribe(),
            };
        }
        let (tx, rx) = broadcast::channel(FOLLOWER_BACKLOG);
        *slot = Some(tx.clone());
        let feed = self.store.feed().subscribe();
        let app = self.clone();
        tokio::spawn(async move { app.run_change_follower(feed, tx).await });
        ChangeWatch { changes: rx }
    }

    /// Reads each committed change once for every watcher of all changes, until nobody
    /// watches or the feed closes.
    async fn run_change_follower(
        &self,
        mut feed: broadcast::Receiver<Arc<Committed>>,
        tx: broadcast::Sender<Arc<Vec<LiveChange>>>,
    ) {
        loop {
            let heard = tokio::select! {
                heard = feed.recv() => heard,
                () = self.streams.cancelled() => Err(RecvError::Closed),
                () = tokio::time::sleep(IDLE_CHECK) => {
                    let mut slot = self.followers.changes.lock().expect("followers lock");
                    if tx.receiver_count() == 0 {
                        *slot = None;
                        return;
                    }
                    continue;
                }
            };
            let committed = match heard {
                Ok(c) => Some(c),
                Err(RecvError::Lagged(missed)) => {
                    tracing::debug!(missed, "the changes stream fell behind");
                    None
                }
                Err(RecvError::Closed) => {
                    *self.followers.changes.lock().expect("followers lock") = None;
                    return;
                }
            };
            {
                let mut slot = self.followers.changes.lock().expect("followers lock");
                if tx.receiver_count() == 0 {
                    *slot = None;
                    return;
                }
            }
            let Some(committed) = committed else { continue };
            match self.read_changes(&committed).await {
                Ok(out) if !out.is_empty() => {
                    let _ = tx.send(Arc::new(out));
                }
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!(error = %e, "reading a change for the events streams failed")
                }
            }
        }
    }

    /// The incidents and alerts a commit changed, as they are now.
    async fn read_changes(&self, committed: &Committed) -> Result<Vec<LiveChange>, EngineError> {
        let mut out = Vec::new();
        let mut seen_incidents = Vec::new();
        let mut seen_alerts = Vec::new();
        for change in &committed.changes {
            match change {
                Change::Incident { number } if !seen_incidents.contains(number) => {
                    seen_incidents.push(*number);
                    if let Some(i) = self.store.get_incident(*number).await? {
                        out.push(LiveChange::Incident(i));
                    }
                }
                Change::Alert { id, .. } if !seen_alerts.contains(id) => {
                    seen_alerts.push(*id);
                    if let Some(a) = self.store.get_alert(*id).await? {
                        out.push(LiveChange::Alert(a));
                    }
                }
                _ => {}
            }
        }
        Ok(out)
    }
}

impl ChangeWatch {
    /// The next changes, as they are now. `None` when the feed has closed. A watcher that
    /// fell behind skips what it missed; clients re-read the lists when they reconnect.
    pub async fn next(&mut self) -> Result<Option<Vec<LiveChange>>, EngineError> {
        loop {
            match self.changes.recv().await {
                Ok(changes) => return Ok(Some(changes.as_ref().clone())),
                Err(RecvError::Lagged(missed)) => {
                    tracing::debug!(missed, "an events stream fell behind");
                }
                Err(RecvError::Closed) => return Ok(None),
            }
        }
    }
}
