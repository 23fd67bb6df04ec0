//! Reviewing and improving: postmortems with their revisions, action items, and the facts the
//! reports are computed from (the domain's `report` module does the math).

use async_trait::async_trait;
use firebreak_domain::action_item::{ActionItem, ItemStatus};
use firebreak_domain::postmortem::{PostmortemStatus, Section};
use firebreak_domain::{IncidentNumber, Name};
use jiff::civil::Date;
use jiff::{SignedDuration, Timestamp};

use crate::{Page, Result};

/// A finding of the blameless-language check that someone dismissed, and why.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Dismissal {
    /// The finding's stable key (`firebreak_domain::blameless::Finding::key`).
    pub key: String,
    pub reason: String,
    pub by: String,
    /// Epoch milliseconds.
    pub at_ms: i64,
}

/// An incident's postmortem as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PostmortemRecord {
    pub number: IncidentNumber,
    pub status: PostmortemStatus,
    /// 1 when drafted, bumped on every change; edits must name the version they started from.
    pub version: i64,
    pub sections: Vec<Section>,
    pub dismissed: Vec<Dismissal>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub updated_by: String,
    pub published_at: Option<Timestamp>,
}

/// One saved version of a postmortem: every edit and status change is kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Revision {
    pub number: IncidentNumber,
    pub version: i64,
    pub at: Timestamp,
    pub actor: String,
    pub status: PostmortemStatus,
    pub sections: Vec<Section>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ActionItemFilter {
    pub owner: Option<Name>,
    pub status: Option<ItemStatus>,
    pub incident: Option<IncidentNumber>,
    /// Only open items due before this day (overdue on it).
    pub overdue_on: Option<Date>,
}

/// What the reports need of one incident.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IncidentRow {
    pub number: IncidentNumber,
    pub severity: String,
    pub services: Vec<Name>,
    pub drill: bool,
    pub detected_at: Timestamp,
    pub declared_at: Timestamp,
    pub acknowledged_at: Option<Timestamp>,
    pub mitigated_at: Option<Timestamp>,
    pub resolved_at: Option<Timestamp>,
    pub postmortem: Option<PostmortemStatus>,
}

impl IncidentRow {
    /// Incidents from rows of one incident and (at most) one of its services each, as a join
    /// of incidents with their services gives them, in any order: each incident once, by
    /// number, with its services by `position`.
    pub fn regroup(mut joined: Vec<(IncidentRow, Option<i64>, Option<Name>)>) -> Vec<IncidentRow> {
        joined.sort_unstable_by_key(|(i, position, _)| (i.number.0, *position));
        // Sized up front: a year of incidents is ~50,000 rows, and growing the vector copies
        // them and faults in fresh memory several times over.
        let incidents = 1 + joined
            .windows(2)
            .filter(|w| w[0].0.number != w[1].0.number)
            .count();
        let mut out: Vec<IncidentRow> = Vec::with_capacity(incidents);
        for (row, _, service) in joined {
            match out.last_mut() {
                Some(last) if last.number == row.number => last.services.extend(service),
                _ => out.push(IncidentRow {
                    services: service.into_iter().collect(),
                    ..row
                }),
            }
        }
        out
    }
}

/// How a deploy is tied to an incident it led to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeployLink {
    /// The incident's suspect deploy: the newest deploy of its services in the suspect window
    /// before detection.
    Suspect,
    /// A rollback run for the incident undid it.
    RolledBack,
}

/// A deploy that led to an incident, with what the recovery time needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeployFailureRow {
    pub deploy: i64,
    pub service: Name,
    pub version: String,
    pub at: Timestamp,
    pub incident: IncidentNumber,
    pub link: DeployLink,
    /// The incident's severity, detection time and the rest the recovery time needs.
    pub severity: String,
    pub detected_at: Timestamp,
    pub drill: bool,
    pub mitigated_at: Option<Timestamp>,
    pub resolved_at: Option<Timestamp>,
    /// True when the deploy itself is a drill's (a suspect's is always its incident's kind;
    /// a deploy a rollback undid has its own).
    pub deploy_drill: bool,
}

impl DeployFailureRow {
    /// Puts rows in the order `deploy_failures` gives them: by deploy time, then incident,
    /// then link (`rolled_back` before `suspect`). Sorted here rather than in SQL: the rows
    /// come nearly in order (the suspects by time, then the few rollbacks), which a stable
    /// sort takes in one pass, where the database sorted every row.
    pub fn sort(rows: &mut [DeployFailureRow]) {
        rows.sort_by_key(|r| (r.at, r.incident, r.link == DeployLink::Suspect));
    }
}

/// What the reports need of one action item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ItemRow {
    pub id: i64,
    pub incident: Option<IncidentNumber>,
    /// True when its incident is a drill.
    pub drill: bool,
    pub created_at: Timestamp,
    pub due: Date,
    pub status: ItemStatus,
    pub closed_at: Option<Timestamp>,
}

/// How much earlier than the deploy it undid a rollback may be stamped, at most, as far as the
/// reports' reads are concerned. The engine refuses a rollback given its own time before that
/// deploy; one recorded without a time is stamped when recorded, after the deploy was, and a
/// deploy is stamped at most 5 minutes ahead of its recording. A day leaves room for clocks
/// that disagree and costs a day's rollbacks read.
pub const ROLLBACK_LEAD: SignedDuration = SignedDuration::from_hours(24);

/// One UTC day, in milliseconds.
pub const DAY_MS: i64 = 86_400_000;

/// The first millisecond (UTC) of the day a deploy at `at` is counted in, in `deploy_days`.
pub fn deploy_day(at: Timestamp) -> i64 {
    at.as_millisecond().div_euclid(DAY_MS) * DAY_MS
}

/// A period `from..to` (milliseconds) cut for counting deploys: the whole UTC days inside it,
/// counted from `deploy_days` (one row per day and service), and the partial days at its two
/// ends, counted from `deployments` itself. Every range is `start..end`; an empty one has
/// `start == end`. The three ranges never overlap and together cover the period exactly.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DaySplit {
    pub days: (i64, i64),
    pub head: (i64, i64),
    pub tail: (i64, i64),
}

impl DaySplit {
    pub fn of(from: Timestamp, to: Timestamp) -> DaySplit {
        let (from, to) = (
            from.as_millisecond(),
            to.as_millisecond().max(from.as_millisecond()),
        );
        let first = from.div_euclid(DAY_MS) * DAY_MS;
        let first = if first < from { first + DAY_MS } else { first };
        let last = to.div_euclid(DAY_MS) * DAY_MS;
        if first < last {
            DaySplit {
                days: (first, last),
                head: (from, first),
                tail: (last, to),
            }
        } else {
            DaySplit {
                days: (from, from),
                head: (from, to),
                tail: (to, to),
            }
        }
    }

    /// The partial ends that hold anything.
    pub fn edges(&self) -> impl Iterator<Item = (i64, i64)> {
        [self.head, self.tail].into_iter().filter(|(s, e)| s < e)
    }
}

/// Deploys per span from deploys per day (`day_totals`, every service summed) and the counts
/// of the spans' partial ends (`edge_counts`, by range).
pub fn span_counts(
    splits: &[DaySplit],
    day_totals: &std::collections::BTreeMap<i64, u64>,
    edge_counts: &std::collections::HashMap<(i64, i64), u64>,
) -> Vec<u64> {
    splits
        .iter()
        .map(|split| {
            let (a, b) = split.days;
            let days: u64 = if a < b {
                day_totals.range(a..b).map(|(_, n)| n).sum()
            } else {
                0
            };
            days + split
                .edges()
                .map(|e| edge_counts.get(&e).copied().unwrap_or(0))
                .sum::<u64>()
        })
        .collect()
}

/// Postmortem and action item writes, inside a unit of work.
#[async_trait]
pub trait ReviewWrites: Send {
    /// Stores a new postmortem and its first revision. `Conflict` if the incident has one.
    async fn create_postmortem(&mut self, postmortem: &PostmortemRecord) -> Result<()>;
    /// The postmortem, held until commit.
    async fn lock_postmortem(&mut self, number: IncidentNumber)
    -> Result<Option<PostmortemRecord>>;
    /// Saves a changed postmortem and records it as a revision. `postmortem.version` is the new
    /// version; the stored one must be `postmortem.version - 1`, or this fails with
    /// `Conflict`. `NotFound` if there is none.
    async fn save_postmortem(&mut self, postmortem: &PostmortemRecord, actor: &str) -> Result<()>;
    /// Notes that the commander was reminded the postmortem is missing, so they are reminded
    /// once. False if they already were.
    async fn note_postmortem_reminder(
        &mut self,
        number: IncidentNumber,
        at: Timestamp,
    ) -> Result<bool>;

    /// Stores an item and returns it with its id (the one given is ignored).
    async fn create_action_item(&mut self, item: &ActionItem) -> Result<ActionItem>;
    /// The item, held until commit.
    async fn lock_action_item(&mut self, id: i64) -> Result<Option<ActionItem>>;
    /// Saves every field of a stored item. `item.version` is the new version; the stored one
    /// must be `item.version - 1`, or this fails with `Conflict`. `NotFound` if there is none.
    async fn save_action_item(&mut self, item: &ActionItem) -> Result<()>;
    /// Up to `limit` open items due before `today` whose owner was not reminded on `today`,
    /// held until commit, by id.
    async fn lock_overdue_items(&mut self, today: Date, limit: u32) -> Result<Vec<ActionItem>>;
    /// Notes that the owners of `ids` were reminded on `today`. Only `reminded_on` changes:
    /// the version stays, so an edit made from what its owner read still saves.
    async fn note_items_reminded(&mut self, ids: &[i64], today: Date) -> Result<()>;
}

#[async_trait]
pub trait ReviewStore: Send + Sync {
    async fn get_postmortem(&self, number: IncidentNumber) -> Result<Option<PostmortemRecord>>;
    /// The status of the postmortem of each of `numbers` that has one, by number: one query
    /// for a whole page of incidents. Numbers with no postmortem (or no incident) are left out.
    async fn postmortem_statuses(
        &self,
        numbers: &[IncidentNumber],
    ) -> Result<Vec<(IncidentNumber, PostmortemStatus)>>;
    /// Every saved version, oldest first.
    async fn postmortem_revisions(&self, number: IncidentNumber) -> Result<Vec<Revision>>;
    /// Resolved incidents that are not drills, of one of `severities`, resolved before
    /// `resolved_before`, with no published postmortem and no reminder yet: up to `limit`, by
    /// number.
    async fn postmortems_missing(
        &self,
        severities: &[String],
        resolved_before: Timestamp,
        limit: u32,
    ) -> Result<Vec<IncidentNumber>>;

    async fn get_action_item(&self, id: i64) -> Result<Option<ActionItem>>;
    /// Soonest due first, then by id. `after` is a cursor: the id of the last item of the
    /// previous page (`next`). An unknown id starts from the beginning.
    async fn list_action_items(
        &self,
        filter: &ActionItemFilter,
        after: Option<i64>,
        limit: u32,
    ) -> Result<Page<ActionItem>>;

    /// Every incident detected in `from..to`, drills included, by number.
    async fn incident_rows(&self, from: Timestamp, to: Timestamp) -> Result<Vec<IncidentRow>>;
    /// The incidents numbered `numbers` that exist, drills included, by number: what the
    /// reports' cache reads again after they changed.
    async fn incident_rows_of(&self, numbers: &[IncidentNumber]) -> Result<Vec<IncidentRow>>;
    /// Every failure link of the incidents numbered `numbers` (of every incident when
    /// `None`), whenever their deploys were made, drills included: each incident's suspect
    /// deploy when it lies at most `window` before detection, and each deploy that a rollback
    /// run for it undid. The rows [`Self::deploy_failures`] gives for any period, service and
    /// kind are those of these whose deploy is in the period, of the service, and no drill's
    /// (`deploy_drill`) unless drills are asked for (but for a rollback stamped more than
    /// [`ROLLBACK_LEAD`] before the deploy it undid, which the engine refuses). In no
    /// particular order.
    async fn failure_links(
        &self,
        numbers: Option<&[IncidentNumber]>,
        window: SignedDuration,
    ) -> Result<Vec<DeployFailureRow>>;
    /// The action items a period's report counts: created in `from..to`, closed in it, or
    /// open and due before `today`. By id.
    async fn action_item_rows(
        &self,
        from: Timestamp,
        to: Timestamp,
        today: Date,
    ) -> Result<Vec<ItemRow>>;
    /// Deploys in `from..to` that are not rollbacks, counted per service (of `service` only,
    /// when given), by service name. Drill deploys count only when `drills`.
    async fn deploy_counts(
        &self,
        from: Timestamp,
        to: Timestamp,
        service: Option<&Name>,
        drills: bool,
    ) -> Result<Vec<(Name, u64)>>;
    /// Deploys that are not rollbacks in each of `spans` (`start..end`), of every service: one
    /// count per span, in the order given. One query however many spans (a report's weekly
    /// trend has up to 261). Drill deploys count only when `drills`.
    async fn deploy_counts_per_span(
        &self,
        spans: &[(Timestamp, Timestamp)],
        drills: bool,
    ) -> Result<Vec<u64>>;
    /// The deploys in `from..to` that led to an incident (of `service` only, when given): each
    /// incident's suspect deploy (the newest deploy that is not a rollback, of one of its
    /// services, at most `window` before its detection), and each deploy a rollback undid.
    /// One row per (deploy, incident, link), by deploy time then incident. Only rollbacks
    /// stamped from [`ROLLBACK_LEAD`] before `from` on are read. Drill deploys are read only
    /// when `drills` (a drill deploy is only ever a drill incident's suspect).
    async fn deploy_failures(
        &self,
        from: Timestamp,
        to: Timestamp,
        window: SignedDuration,
        service: Option<&Name>,
        drills: bool,
    ) -> Result<Vec<DeployFailureRow>>;
}
