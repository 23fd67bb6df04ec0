//! The facts the reports are computed from, kept in memory and followed through the change
//! feed, so that a report over two years of history reads only what changed since the last
//! one: no report reads every incident and failure link from the store again.
//!
//! - Built on the first report: every incident's row, every failure link (suspects within the
//!   suspect window, and the deploys rollbacks undid, drills included) and every action item.
//! - Before each report, the commits published since the last one are drained from the feed:
//!   the incidents they name are read again (their row and their failure links), and the
//!   action items when any changed. A deploy names the incidents whose suspect it became and
//!   the incident a rollback was run for, so those are read again too.
//! - A feed that lagged, a suspect window that changed, or a read that failed rebuilds it all
//!   on the next report. Commits of other instances arrive by `NOTIFY`.
//! - The janitor forgets the facts when no report was asked for in [`KEEP_IDLE`].
//!
//! A report sees every write that committed before it was asked for: the committer publishes
//! before it answers, and a report drains the feed first.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use firebreak_domain::IncidentNumber;
use firebreak_domain::action_item::ItemStatus;
use firebreak_domain::postmortem::PostmortemStatus;
use firebreak_domain::report::{IncidentFacts, Period};
use firebreak_store::feed::{Change, Committed, Topic};
use firebreak_store::{DeployFailureRow, DeployLink, IncidentRow, ItemRow, StoreError};
use jiff::civil::Date;
use jiff::{SignedDuration, Timestamp};
use tokio::sync::broadcast::{self, error::TryRecvError};

use crate::Firebreak;

/// How long the facts are kept after the last report that used them.
pub const KEEP_IDLE: Duration = Duration::from_secs(15 * 60);

/// Where a failure link sorts: by deploy time, then incident, then link (rolled back before
/// suspect), as `deploy_failures` gives them; the deploy's id makes it unique.
type FailureKey = (Timestamp, IncidentNumber, bool, i64);

fn key_of(r: &DeployFailureRow) -> FailureKey {
    (r.at, r.incident, r.link == DeployLink::Suspect, r.deploy)
}

/// Every incident, failure link and action item, as of the last report.
#[derive(Clone)]
pub struct ReportFacts {
    /// The suspect window the failure links were read with.
    window: SignedDuration,
    /// Every incident, drills included, as the reports take it, by number.
    incidents: Vec<IncidentFacts>,
    failures: BTreeMap<FailureKey, DeployFailureRow>,
    /// By id.
    items: Vec<ItemRow>,
}

impl ReportFacts {
    /// The incidents detected in `period`, drills included, by number.
    pub fn incidents_in(&self, period: Period) -> impl Iterator<Item = &IncidentFacts> {
        self.incidents
            .iter()
            .filter(move |i| period.contains(i.detected_at))
    }

    /// What `deploy_failures` reads for `period`: the links of deploys made in it (of
    /// `service` when given; drill deploys only when `drills`), by deploy time, then
    /// incident, then link.
    pub fn failures_in<'a>(
        &'a self,
        period: Period,
        service: Option<&'a firebreak_domain::Name>,
        drills: bool,
    ) -> impl Iterator<Item = &'a DeployFailureRow> {
        let start: FailureKey = (period.from, IncidentNumber(i64::MIN), false, i64::MIN);
        self.failures
            .range(start..)
            .map(|(_, r)| r)
            .take_while(move |r| r.at < period.to)
            .filter(move |r| (drills || !r.deploy_drill) && service.is_none_or(|s| r.service == *s))
    }

    /// What `action_item_rows` reads for `period`: the items created in it, closed in it, or
    /// open and due before `today`, by id.
    pub fn items_in(&self, period: Period, today: Date) -> impl Iterator<Item = &ItemRow> {
        self.items.iter().filter(move |i| {
            period.contains(i.created_at)
                || i.closed_at.is_some_and(|c| period.contains(c))
                || (i.status == ItemStatus::Open && i.due < today)
        })
    }

    /// Incident `number`, if it exists.
    pub fn incident(&self, number: IncidentNumber) -> Option<&IncidentFacts> {
        // Numbers are given in sequence, so the incident is nearly always where its number
        // says; otherwise it is searched for.
        let first = self.incidents.first()?.number.0;
        let guess = usize::try_from(number.0.checked_sub(first)?).ok();
        if let Some(i) = guess.and_then(|g| self.incidents.get(g))
            && i.number == number
        {
            return Some(i);
        }
        self.incidents
            .binary_search_by_key(&number, |i| i.number)
            .ok()
            .map(|at| &self.incidents[at])
    }

    fn failures_from(rows: Vec<DeployFailureRow>) -> BTreeMap<FailureKey, DeployFailureRow> {
        rows.into_iter().map(|r| (key_of(&r), r)).collect()
    }
}

/// The report facts and the feed that keeps them current.
#[derive(Default)]
pub struct ReportCache {
    state: tokio::sync::Mutex<State>,
}

#[derive(Default)]
struct State {
    feed: Option<broadcast::Receiver<Arc<Committed>>>,
    facts: Option<Arc<ReportFacts>>,
    used: Option<Instant>,
}

/// What the commits drained from the feed changed.
#[derive(Default)]
struct Drained {
    incidents: BTreeSet<IncidentNumber>,
    items: bool,
    /// The feed lagged or closed: whatever was missed is unknown.
    lost: bool,
}

fn drain(feed: &mut broadcast::Receiver<Arc<Committed>>) -> Drained {
    let mut d = Drained::default();
    loop {
        match feed.try_recv() {
            Ok(committed) => {
                for change in &committed.changes {
                    match change {
                        Change::Incident { number } => {
                            d.incidents.insert(*number);
                        }
                        Change::Directory(Topic::ActionItems) => d.items = true,
                        _ => {}
                    }
                }
            }
            Err(TryRecvError::Empty) => return d,
            Err(TryRecvError::Lagged(_)) => d.lost = true,
            Err(TryRecvError::Closed) => {
                d.lost = true;
                return d;
            }
        }
    }
}

/// What the reports need of an incident's row.
fn facts_of(row: &IncidentRow) -> IncidentFacts {
    IncidentFacts {
        number: row.number,
        severity: row.severity.clone(),
        services: row.services.clone(),
        drill: row.drill,
        detected_at: row.detected_at,
        acknowledged_at: row.acknowledged_at,
        mitigated_at: row.mitigated_at,
        resolved_at: row.resolved_at,
        postmortem_published: row.postmortem == Some(PostmortemStatus::Published),
    }
}

impl ReportCache {
    /// Forgets the facts when no report used them in [`KEEP_IDLE`].
    pub async fn forget_idle(&self, now: Instant) {
        let mut state = self.state.lock().await;
        if state
            .used
            .is_some_and(|used| now.duration_since(used) >= KEEP_IDLE)
        {
            *state = State::default();
        }
    }
}

impl Firebreak {
    /// The report facts as of now: everything that committed before this call.
    pub(crate) async fn report_facts(&self) -> Result<Arc<ReportFacts>, StoreError> {
        let window = self.config.alerting.suspect_window;
        let mut state = self.reports.state.lock().await;
        state.used = Some(Instant::now());
        let drained = state.feed.as_mut().map(drain);
        let current = state
            .facts
            .clone()
            .filter(|f| f.window == window)
            .zip(drained.filter(|d| !d.lost));
        let result = match current {
            Some((facts, drained)) => self.refresh(facts, drained).await,
            None => {
                // Subscribed before reading, so that nothing committed during the read is
                // missed: it is read again on the next report.
                state.feed = Some(self.store.feed().subscribe());
                self.load_report_facts(window).await.map(Arc::new)
            }
        };
        match result {
            Ok(facts) => {
                state.facts = Some(facts.clone());
                Ok(facts)
            }
            Err(e) => {
                // What was drained is gone: the next report starts over.
                *state = State::default();
                Err(e)
            }
        }
    }

    async fn load_report_facts(&self, window: SignedDuration) -> Result<ReportFacts, StoreError> {
        let all = Period {
            from: Timestamp::MIN,
            to: Timestamp::MAX,
        };
        let (incidents, failures, items) = tokio::try_join!(
            self.store.incident_rows(all.from, all.to),
            self.store.failure_links(None, window),
            // Every item was created at some time: the whole of time reads them all.
            self.store.action_item_rows(all.from, all.to, Date::MIN),
        )?;
        Ok(ReportFacts {
            window,
            // The store gives them by number.
            incidents: incidents.iter().map(facts_of).collect(),
            failures: ReportFacts::failures_from(failures),
            items,
        })
    }

    /// `facts` with what `drained` says changed read again.
    async fn refresh(
        &self,
        mut facts: Arc<ReportFacts>,
        drained: Drained,
    ) -> Result<Arc<ReportFacts>, StoreError> {
        if drained.incidents.is_empty() && !drained.items {
            return Ok(facts);
        }
        let numbers: Vec<IncidentNumber> = drained.incidents.into_iter().collect();
        let read_items = async {
            if drained.items {
                let all = (Timestamp::MIN, Timestamp::MAX);
                self.store
                    .action_item_rows(all.0, all.1, Date::MIN)
                    .await
                    .map(Some)
            } else {
                Ok(None)
            }
        };
        let read_incidents = async {
            if numbers.is_empty() {
                Ok((Vec::new(), Vec::new()))
            } else {
                tokio::try_join!(
                    self.store.incident_rows_of(&numbers),
                    self.store.failure_links(Some(&numbers), facts.window),
                )
            }
        };
        let ((rows, links), items) = tokio::try_join!(read_incidents, read_items)?;
        let f = Arc::make_mut(&mut facts);
        if !numbers.is_empty() {
            let changed: BTreeSet<IncidentNumber> = numbers.iter().copied().collect();
            for row in &rows {
                let facts = facts_of(row);
                match f.incidents.binary_search_by_key(&row.number, |i| i.number) {
                    Ok(at) => f.incidents[at] = facts,
                    Err(at) => f.incidents.insert(at, facts),
                }
            }
            f.failures.retain(|k, _| !changed.contains(&k.1));
            f.failures
                .extend(links.into_iter().map(|r| (key_of(&r), r)));
        }
        if let Some(items) = items {
            f.items = items;
        }
        Ok(facts)
    }
}
