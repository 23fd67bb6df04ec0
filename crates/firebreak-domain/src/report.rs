//! Response metrics for the reports page and the API: how fast incidents are acknowledged,
//! mitigated and resolved (by service or severity, per period and per week), how reviews follow
//! up (published postmortems, action items), and the DORA recovery figures: change failure rate
//! and failed deployment recovery time. Everything is computed from facts the store hands over;
//! nothing here reads the clock, so the period and `today` are parameters.
//!
//! Every duration is counted from the incident's detection (its first alert, or the declare when
//! there was none) in whole seconds, and never below zero: a clock that put the ack before the
//! detection counts as an instant ack. Percentiles are nearest-rank: the p-th percentile of n
//! sorted values is the value at 1-based rank ceil(p/100 × n), at least 1. It is always one of
//! the values, never an interpolation, so each figure can be checked by hand against the list of
//! incidents and deploys that comes with it.
//!
//! Drills are left out of every figure unless the caller asks for them.

use std::borrow::Borrow;
use std::cmp::Ordering;
use std::collections::BTreeMap;

// A fast hasher: the reports hash ~100,000 incidents and deploys per answer, and keys here
// are ids and names from the store, not an attacker's choice of collisions.
use foldhash::{HashMap, HashMapExt, HashSet};
use std::fmt;

use jiff::civil::Date;
use jiff::tz::TimeZone;
use jiff::{Timestamp, ToSpan};

use crate::ids::{IncidentNumber, Name};

/// The instants a report covers: from `from` (included) to `to` (excluded). A period whose end
/// is not after its start is empty.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Period {
    pub from: Timestamp,
    pub to: Timestamp,
}

impl Period {
    pub fn contains(&self, t: Timestamp) -> bool {
        self.from <= t && t < self.to
    }
}

/// What the reports need to know about one incident.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IncidentFacts {
    pub number: IncidentNumber,
    pub severity: String,
    pub services: Vec<Name>,
    pub drill: bool,
    /// The first alert, or the declare when there was none.
    pub detected_at: Timestamp,
    pub acknowledged_at: Option<Timestamp>,
    pub mitigated_at: Option<Timestamp>,
    pub resolved_at: Option<Timestamp>,
    pub postmortem_published: bool,
}

impl IncidentFacts {
    /// Seconds from detection to the first ack; `None` while nobody has acked.
    pub fn time_to_acknowledge(&self) -> Option<i64> {
        self.since_detection(self.acknowledged_at)
    }
    /// When the impact stopped: the recorded mitigation, or the resolution of an incident
    /// resolved without one.
    pub fn mitigation(&self) -> Option<Timestamp> {
        self.mitigated_at.or(self.resolved_at)
    }
    /// Seconds from detection to the mitigation; `None` while neither mitigated nor resolved.
    pub fn time_to_mitigate(&self) -> Option<i64> {
        self.since_detection(self.mitigation())
    }
    /// Seconds from detection to the resolution; `None` while unresolved.
    pub fn time_to_resolve(&self) -> Option<i64> {
        self.since_detection(self.resolved_at)
    }
    fn since_detection(&self, at: Option<Timestamp>) -> Option<i64> {
        at.map(|t| seconds_between(self.detected_at, t))
    }
    fn counts(&self, drills: bool) -> bool {
        drills || !self.drill
    }
}

/// Whole seconds from `from` to `to`, and 0 when `to` comes first.
fn seconds_between(from: Timestamp, to: Timestamp) -> i64 {
    to.duration_since(from).as_secs().max(0)
}

/// A summary of durations in seconds. Every figure is `None` when there are no values.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stat {
    /// How many values it summarises.
    pub count: u64,
    /// The mean, rounded to the nearest second (halves up).
    pub mean: Option<i64>,
    /// The nearest-rank median.
    pub p50: Option<i64>,
    /// The nearest-rank 90th percentile.
    pub p90: Option<i64>,
    pub min: Option<i64>,
    pub max: Option<i64>,
}

impl Stat {
    pub fn of(values: impl IntoIterator<Item = i64>) -> Stat {
        let mut values: Vec<i64> = values.into_iter().collect();
        values.sort_unstable();
        let n = values.len() as i128;
        let sum: i128 = values.iter().map(|&v| i128::from(v)).sum();
        Stat {
            count: values.len() as u64,
            // floor((2·sum + n) / 2n) is sum/n rounded half up; the sum of i64s cannot
            // overflow an i128, and a mean lies between the extremes, so it fits an i64.
            mean: (n > 0)
                .then(|| (2 * sum + n).div_euclid(2 * n))
                .and_then(|m| i64::try_from(m).ok()),
            p50: nearest_rank(&values, 50),
            p90: nearest_rank(&values, 90),
            min: values.first().copied(),
            max: values.last().copied(),
        }
    }
}

/// The p-th percentile of `sorted` by nearest rank: the value at 1-based rank ceil(p/100 × n),
/// at least 1 and at most n. `None` when empty.
fn nearest_rank(sorted: &[i64], p: u32) -> Option<i64> {
    let n = sorted.len() as u128;
    let rank = (u128::from(p) * n).div_ceil(100).clamp(1, n.max(1));
    sorted.get(usize::try_from(rank - 1).ok()?).copied()
}

/// How to split the incidents of a period.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupBy {
    /// One group, `all`.
    All,
    /// One group per service; an incident of several services counts once in each.
    Service,
    Severity,
}

/// Which incidents a group holds.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum GroupKey {
    All,
    Service(Name),
    /// The incidents that name no service, when grouping by service.
    NoService,
    Severity(String),
}

impl GroupKey {
    /// What the reports page shows as the group's name.
    pub fn label(&self) -> &str {
        match self {
            GroupKey::All => "all",
            GroupKey::Service(name) => name.as_str(),
            GroupKey::NoService => "no service",
            GroupKey::Severity(severity) => severity,
        }
    }
    fn kind(&self) -> u8 {
        match self {
            GroupKey::All => 0,
            GroupKey::Service(_) => 1,
            GroupKey::NoService => 2,
            GroupKey::Severity(_) => 3,
        }
    }
}

impl fmt::Display for GroupKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

/// Services by name with the incidents of no service last; severities in natural order, so
/// SEV2 comes before SEV10 and P1 before P2.
impl Ord for GroupKey {
    fn cmp(&self, other: &Self) -> Ordering {
        match (self, other) {
            (GroupKey::Service(a), GroupKey::Service(b)) => a.cmp(b),
            (GroupKey::Severity(a), GroupKey::Severity(b)) => severity_order(a, b),
            _ => self.kind().cmp(&other.kind()),
        }
    }
}

impl PartialOrd for GroupKey {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// Natural order: runs of digits compare as numbers, the rest character by character; ties
/// (`SEV01` and `SEV1`) fall back to plain string order so that only equal names are equal.
fn severity_order(a: &str, b: &str) -> Ordering {
    let (mut x, mut y) = (a, b);
    loop {
        let (Some(cx), Some(cy)) = (x.chars().next(), y.chars().next()) else {
            return x.len().cmp(&y.len()).then_with(|| a.cmp(b));
        };
        if cx.is_ascii_digit() && cy.is_ascii_digit() {
            let (dx, rest_x) = x.split_at(x.find(|c: char| !c.is_ascii_digit()).unwrap_or(x.len()));
            let (dy, rest_y) = y.split_at(y.find(|c: char| !c.is_ascii_digit()).unwrap_or(y.len()));
            let (dx, dy) = (dx.trim_start_matches('0'), dy.trim_start_matches('0'));
            let numbers = dx.len().cmp(&dy.len()).then_with(|| dx.cmp(dy));
            if numbers != Ordering::Equal {
                return numbers;
            }
            (x, y) = (rest_x, rest_y);
        } else if cx != cy {
            return cx.cmp(&cy);
        } else {
            (x, y) = (&x[cx.len_utf8()..], &y[cy.len_utf8()..]);
        }
    }
}

/// The response figures of one group of incidents over a period.
#[derive(Debug, Clone, PartialEq)]
pub struct Group {
    pub key: GroupKey,
    /// Incidents detected in the period, acked or not.
    pub incidents: u64,
    /// Time to acknowledge (its mean is the MTTA), over the acked incidents.
    pub acknowledge: Stat,
    /// Time to mitigate, over the mitigated or resolved incidents.
    pub mitigate: Stat,
    /// Time to resolve (its mean is the MTTR), over the resolved incidents.
    pub resolve: Stat,
    pub resolved: u64,
    /// Resolved incidents whose postmortem is published.
    pub postmortems_published: u64,
    /// `postmortems_published / resolved`; `None` when nothing was resolved.
    pub postmortem_share: Option<f64>,
    /// The action items of these incidents (see [`action_item_counts`] for what each count
    /// means).
    pub action_items: ActionItemCounts,
    /// The incidents counted, in order, so the figures can be checked.
    pub numbers: Vec<IncidentNumber>,
}

/// The response figures of the incidents detected in `period`, one group per key, in key
/// order. Drills count only when `drills`. `GroupBy::All` always gives one group, even of no
/// incidents; the others give a group per key that has incidents. An incident handed over
/// twice counts once, as first handed over.
///
/// `items` are the action items to count for each group: those whose incident is in the group
/// (the others, and those of no incident, count only in the period's [`action_item_counts`]).
/// `today` decides which are overdue.
pub fn incident_groups(
    incidents: &[impl Borrow<IncidentFacts>],
    items: &[ActionItemFacts],
    period: Period,
    today: Date,
    group_by: GroupBy,
    drills: bool,
) -> Vec<Group> {
    // Grouped under borrowed keys (a two-year period holds ~100,000 incidents, each in one to
    // three groups); the few groups are put in key order at the end.
    let mut groups: HashMap<KeyRef<'_>, Vec<&IncidentFacts>> = HashMap::new();
    if group_by == GroupBy::All {
        groups.insert(KeyRef::All, Vec::new());
    }
    for incident in counted(incidents, period, drills) {
        match group_by {
            GroupBy::All => groups.entry(KeyRef::All).or_default().push(incident),
            GroupBy::Severity => groups
                .entry(KeyRef::Severity(&incident.severity))
                .or_default()
                .push(incident),
            GroupBy::Service if incident.services.is_empty() => {
                groups.entry(KeyRef::NoService).or_default().push(incident)
            }
            GroupBy::Service => {
                for (n, service) in incident.services.iter().enumerate() {
                    // An incident that names a service twice counts once in its group.
                    if !incident.services[..n].contains(service) {
                        groups
                            .entry(KeyRef::Service(service))
                            .or_default()
                            .push(incident);
                    }
                }
            }
        }
    }
    let mut groups: Vec<(GroupKey, Vec<&IncidentFacts>)> = groups
        .into_iter()
        .map(|(key, members)| (key.owned(), members))
        .collect();
    groups.sort_by(|a, b| a.0.cmp(&b.0));
    let mut items_of: HashMap<IncidentNumber, Vec<&ActionItemFacts>> = HashMap::new();
    for item in items {
        if let Some(number) = item.incident {
            items_of.entry(number).or_default().push(item);
        }
    }
    groups
        .into_iter()
        .map(|(key, members)| {
            let resolved = members.iter().filter(|i| i.resolved_at.is_some()).count() as u64;
            let published = members
                .iter()
                .filter(|i| i.resolved_at.is_some() && i.postmortem_published)
                .count() as u64;
            Group {
                key,
                incidents: members.len() as u64,
                acknowledge: Stat::of(members.iter().filter_map(|i| i.time_to_acknowledge())),
                mitigate: Stat::of(members.iter().filter_map(|i| i.time_to_mitigate())),
                resolve: Stat::of(members.iter().filter_map(|i| i.time_to_resolve())),
                resolved,
                postmortems_published: published,
                postmortem_share: share(published, resolved),
                action_items: action_item_counts(
                    members
                        .iter()
                        .filter_map(|i| items_of.get(&i.number))
                        .flatten()
                        .copied(),
                    period,
                    today,
                    drills,
                ),
                numbers: members.iter().map(|i| i.number).collect(),
            }
        })
        .collect()
}

/// A [`GroupKey`] that borrows its name, for grouping without a copy per incident.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum KeyRef<'a> {
    All,
    Service(&'a Name),
    NoService,
    Severity(&'a str),
}

impl KeyRef<'_> {
    fn owned(self) -> GroupKey {
        match self {
            KeyRef::All => GroupKey::All,
            KeyRef::Service(name) => GroupKey::Service(name.clone()),
            KeyRef::NoService => GroupKey::NoService,
            KeyRef::Severity(severity) => GroupKey::Severity(severity.to_string()),
        }
    }
}

/// The incidents detected in `period` that count (drills only when asked), in order of
/// number. An incident handed over twice is taken as first handed over.
fn counted(
    incidents: &[impl Borrow<IncidentFacts>],
    period: Period,
    drills: bool,
) -> Vec<&IncidentFacts> {
    let mut counted: Vec<&IncidentFacts> = incidents.iter().map(Borrow::borrow).collect();
    // A stable sort keeps the first of an incident given twice ahead of the second.
    counted.sort_by_key(|i| i.number);
    counted.dedup_by_key(|i| i.number);
    counted.retain(|i| i.counts(drills) && period.contains(i.detected_at));
    counted
}

fn share(part: u64, whole: u64) -> Option<f64> {
    (whole > 0).then(|| part as f64 / whole as f64)
}

/// What the reports need to know about one action item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActionItemFacts {
    /// The incident it came from, if any.
    pub incident: Option<IncidentNumber>,
    /// Whether that incident is a drill.
    pub drill: bool,
    pub created_at: Timestamp,
    pub due: Date,
    /// When it was done; `None` while open or when dropped.
    pub done_at: Option<Timestamp>,
    /// Done, or decided against.
    pub closed: bool,
}

/// How the follow-up work of a period went.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ActionItemCounts {
    /// Created in the period.
    pub opened: u64,
    /// Done in the period (dropped items are not done).
    pub done: u64,
    /// Still open today and due before today, whenever they were created.
    pub overdue: u64,
}

/// Counts action items for a period (see [`ActionItemCounts`]); the items of drills count only
/// when `drills`.
pub fn action_item_counts<'a>(
    items: impl IntoIterator<Item = &'a ActionItemFacts>,
    period: Period,
    today: Date,
    drills: bool,
) -> ActionItemCounts {
    let mut counts = ActionItemCounts::default();
    for item in items.into_iter().filter(|i| drills || !i.drill) {
        counts.opened += u64::from(period.contains(item.created_at));
        counts.done += u64::from(item.done_at.is_some_and(|t| period.contains(t)));
        let open = !item.closed && item.done_at.is_none();
        counts.overdue += u64::from(open && item.due < today);
    }
    counts
}

/// What the DORA figures need to know about one deploy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeployFacts {
    pub id: i64,
    pub service: Name,
    pub at: Timestamp,
    /// Recorded by a rollback: remediation, not a change, so it counts in no DORA figure.
    pub rollback: bool,
}

/// Why a deploy counts as having led to an incident.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum FailureLink {
    /// It is the incident's suspect deploy.
    Suspect,
    /// A rollback during the incident undid it.
    RolledBack,
}

/// A deploy that led to an incident.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeployFailure {
    pub deploy: i64,
    pub incident: IncidentNumber,
    pub link: FailureLink,
}

/// A deploy the change failure rate counted as failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailedDeploy {
    pub deploy: i64,
    pub service: Name,
    pub at: Timestamp,
    /// The incidents it led to, in order.
    pub incidents: Vec<IncidentNumber>,
    /// Whether a rollback undid it.
    pub rolled_back: bool,
    /// The earliest mitigation of those incidents; `None` while none is mitigated.
    pub mitigated_at: Option<Timestamp>,
    /// Failed deployment recovery time: seconds from the deploy to `mitigated_at`.
    pub recovery: Option<i64>,
}

/// The DORA recovery figures of a period.
#[derive(Debug, Clone, PartialEq)]
pub struct Dora {
    /// Deploys in the period, rollbacks left out.
    pub deploys: u64,
    /// Deploys that led to at least one incident.
    pub failed_deploys: u64,
    /// `failed_deploys / deploys`, between 0 and 1; `None` without deploys.
    pub change_failure_rate: Option<f64>,
    /// Failed deployment recovery time, over the failed deploys whose incident is mitigated.
    pub recovery: Stat,
    /// The failed deploys, by time, each with its incidents and recovery.
    pub failures: Vec<FailedDeploy>,
}

/// Whether a deploy made at `deploy_at` can have led to an incident detected at `detected_at`
/// and declared at `declared_at`: it came at or before the incident began (its detection, or
/// its declaration when that is later). A deploy made after that, such as a fix shipped during
/// or after the incident, did not cause it, so a rollback of it is not that incident's failed
/// deploy.
pub fn deploy_can_lead_to(
    deploy_at: Timestamp,
    detected_at: Timestamp,
    declared_at: Timestamp,
) -> bool {
    deploy_at <= detected_at.max(declared_at)
}

/// The DORA figures of the deploys made in `period`.
///
/// A period can hold a million deploys, so the store counts them rather than handing them
/// over. The contract:
/// - `deploy_count`: the deploys whose time is in `period`, rollbacks left out.
/// - `deploys`: the facts of (at least) every deploy a link names; others are ignored.
/// - `links`: each incident's suspect deploy and each deploy a rollback undid. A link to a
///   deploy outside the period, to a rollback, or to a deploy whose facts are missing counts
///   for nothing.
/// - `incidents`: the facts of every incident a link names, wherever it was detected. Links to
///   drills count only when `drills`. A link to an incident whose facts are missing still
///   fails its deploy (nobody can tell it is a drill) but gives no recovery time.
///
/// A deploy that led to several incidents fails once, and recovers at the earliest of their
/// mitigations. Should the count miss a failed deploy (one recorded between the count and the
/// read), the failed deploys are the floor of `deploys`, so the rate never passes 1.
pub fn dora(
    deploy_count: u64,
    deploys: &[DeployFacts],
    links: &[DeployFailure],
    incidents: &[impl Borrow<IncidentFacts>],
    period: Period,
    drills: bool,
) -> Dora {
    FailureIndex::new(deploys, incidents, drills).dora(links, deploy_count, period)
}

/// Deploys and incidents by id, built once for a period and all its weeks.
struct FailureIndex<'a> {
    deploys: HashMap<i64, &'a DeployFacts>,
    incidents: HashMap<IncidentNumber, &'a IncidentFacts>,
    drills: bool,
}

impl<'a> FailureIndex<'a> {
    fn new(
        deploys: &'a [DeployFacts],
        incidents: &'a [impl Borrow<IncidentFacts>],
        drills: bool,
    ) -> Self {
        let mut by_id = HashMap::with_capacity(deploys.len());
        for deploy in deploys {
            by_id.entry(deploy.id).or_insert(deploy);
        }
        let mut by_number = HashMap::with_capacity(incidents.len());
        for incident in incidents {
            let incident: &IncidentFacts = incident.borrow();
            by_number.entry(incident.number).or_insert(incident);
        }
        FailureIndex {
            deploys: by_id,
            incidents: by_number,
            drills,
        }
    }

    /// The DORA figures of `period` from `links` (every link of a deploy made in the period,
    /// and any others, which count for nothing).
    fn dora<'l>(
        &self,
        links: impl IntoIterator<Item = &'l DeployFailure>,
        deploy_count: u64,
        period: Period,
    ) -> Dora {
        // Each failed deploy once, found by id; put in order of time, then id, at the end
        // (the links nearly always come in that order, which the sort takes in one pass).
        let links = links.into_iter();
        let mut failures: Vec<FailedDeploy> = Vec::with_capacity(links.size_hint().0);
        let mut at: HashMap<i64, usize> = HashMap::with_capacity(links.size_hint().0);
        for link in links {
            let Some((deploy, incident)) = self.counted(link, period) else {
                continue;
            };
            let index = *at.entry(deploy.id).or_insert_with(|| {
                failures.push(FailedDeploy {
                    deploy: deploy.id,
                    service: deploy.service.clone(),
                    at: deploy.at,
                    incidents: Vec::new(),
                    rolled_back: false,
                    mitigated_at: None,
                    recovery: None,
                });
                failures.len() - 1
            });
            let failure = &mut failures[index];
            if !failure.incidents.contains(&link.incident) {
                failure.incidents.push(link.incident);
                failure.incidents.sort_unstable();
            }
            failure.rolled_back |= link.link == FailureLink::RolledBack;
            if let Some(mitigated) = incident.and_then(|i| i.mitigation()) {
                let earliest = failure.mitigated_at.map_or(mitigated, |m| m.min(mitigated));
                failure.mitigated_at = Some(earliest);
                failure.recovery = Some(seconds_between(deploy.at, earliest));
            }
        }
        failures.sort_by_key(|f| (f.at, f.deploy));
        let figures = DoraFigures::new(
            deploy_count,
            failures.len() as u64,
            failures.iter().filter_map(|f| f.recovery),
        );
        Dora {
            deploys: figures.deploys,
            failed_deploys: figures.failed_deploys,
            change_failure_rate: figures.change_failure_rate,
            recovery: figures.recovery,
            failures,
        }
    }

    /// The same figures as [`Self::dora`] without the list of failed deploys: a week of the
    /// trend shows only the figures, and a two-year trend would otherwise build and drop a
    /// list entry, with its service name and incidents, for each of ~90,000 failure links.
    fn figures<'l>(
        &self,
        links: impl IntoIterator<Item = &'l DeployFailure>,
        deploy_count: u64,
        period: Period,
    ) -> DoraFigures {
        // Each failed deploy's time and the earliest mitigation of its incidents.
        let mut failed: HashMap<i64, (Timestamp, Option<Timestamp>)> = HashMap::new();
        for link in links {
            let Some((deploy, incident)) = self.counted(link, period) else {
                continue;
            };
            let (_, earliest) = failed.entry(deploy.id).or_insert((deploy.at, None));
            if let Some(mitigated) = incident.and_then(|i| i.mitigation()) {
                *earliest = Some(earliest.map_or(mitigated, |m| m.min(mitigated)));
            }
        }
        DoraFigures::new(
            deploy_count,
            failed.len() as u64,
            failed
                .values()
                .filter_map(|&(at, m)| m.map(|m| seconds_between(at, m))),
        )
    }

    /// The deploy `link` fails, and its incident when known, if the link counts in `period`:
    /// its deploy is known, made in the period and not a rollback, and its incident (when
    /// known) counts with or without drills as asked.
    fn counted(
        &self,
        link: &DeployFailure,
        period: Period,
    ) -> Option<(&'a DeployFacts, Option<&'a IncidentFacts>)> {
        let deploy = *self.deploys.get(&link.deploy)?;
        let incident = self.incidents.get(&link.incident).copied();
        let counts = !deploy.rollback
            && period.contains(deploy.at)
            && incident.is_none_or(|i| i.counts(self.drills));
        counts.then_some((deploy, incident))
    }
}

/// The DORA figures of a period without the failed deploys listed: what each week of the
/// trend shows.
#[derive(Debug, Clone, PartialEq)]
pub struct DoraFigures {
    /// Deploys in the period, rollbacks left out.
    pub deploys: u64,
    /// Deploys that led to at least one incident.
    pub failed_deploys: u64,
    /// `failed_deploys / deploys`, between 0 and 1; `None` without deploys.
    pub change_failure_rate: Option<f64>,
    /// Failed deployment recovery time, over the failed deploys whose incident is mitigated.
    pub recovery: Stat,
}

impl DoraFigures {
    /// The figures from the store's count of deploys, the failed deploys found, and their
    /// recovery times. Should the count miss a failed deploy (one recorded between the count
    /// and the read), the failed deploys are the floor of the deploys, so the rate never
    /// passes 1.
    fn new(
        deploy_count: u64,
        failed_deploys: u64,
        recoveries: impl IntoIterator<Item = i64>,
    ) -> Self {
        let deploys = deploy_count.max(failed_deploys);
        DoraFigures {
            deploys,
            failed_deploys,
            change_failure_rate: share(failed_deploys, deploys),
            recovery: Stat::of(recoveries),
        }
    }
}

impl From<&Dora> for DoraFigures {
    fn from(d: &Dora) -> Self {
        DoraFigures {
            deploys: d.deploys,
            failed_deploys: d.failed_deploys,
            change_failure_rate: d.change_failure_rate,
            recovery: d.recovery,
        }
    }
}

/// One bar of the weekly charts: an ISO week, Monday 00:00 to the next Monday 00:00 in the
/// report's time zone, cut to the period at either end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WeekSpan {
    /// The week's Monday, its label.
    pub monday: Date,
    pub start: Timestamp,
    pub end: Timestamp,
}

impl WeekSpan {
    pub fn period(&self) -> Period {
        Period {
            from: self.start,
            to: self.end,
        }
    }
}

/// The weeks that cover `period`, in order, in the time zone `tz`: contiguous, the first
/// starting at `period.from` and the last ending at `period.to`. A week is 167 or 169 hours when
/// a DST change falls in it. An empty period has no weeks.
pub fn week_spans(period: Period, tz: &TimeZone) -> Vec<WeekSpan> {
    let mut weeks = Vec::new();
    if period.from >= period.to {
        return weeks;
    }
    let first = period.from.to_zoned(tz.clone()).date();
    let back = i64::from(first.weekday().to_monday_zero_offset());
    // At the very start of time the first week's Monday is before the first date: the week
    // is then labelled by the first date.
    let mut monday = first.checked_sub(back.days()).unwrap_or(first);
    let mut next = first.checked_add((7 - back).days()).ok();
    let mut start = period.from;
    while start < period.to {
        // At the end of time the week ends where the period does.
        let end = next
            .and_then(|d| local_midnight(d, tz).ok())
            .filter(|&end| end > start);
        weeks.push(WeekSpan {
            monday,
            start,
            end: end.map_or(period.to, |end| end.min(period.to)),
        });
        let (Some(n), Some(e)) = (next, end) else {
            break;
        };
        (monday, start, next) = (n, e, n.checked_add(7.days()).ok());
    }
    weeks
}

/// The first instant of `date` in `tz` (00:00, or the end of a gap that skips midnight).
fn local_midnight(date: Date, tz: &TimeZone) -> Result<Timestamp, jiff::Error> {
    Ok(date.to_zoned(tz.clone())?.timestamp())
}

/// Incidents of one severity in a week.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeverityCount {
    pub severity: String,
    pub incidents: u64,
}

/// One week of the trend charts.
#[derive(Debug, Clone, PartialEq)]
pub struct Week {
    pub span: WeekSpan,
    /// Incidents detected in the week.
    pub incidents: u64,
    /// Every severity seen in any week of the trend, in natural order, with 0 where the week
    /// had none, so that the chart's series line up.
    pub by_severity: Vec<SeverityCount>,
    /// Time to acknowledge of the week's incidents (p50 and mean for the chart).
    pub acknowledge: Stat,
    /// Time to resolve of the week's incidents.
    pub resolve: Stat,
    /// The DORA figures of the week's deploys, its change failure rate among them.
    pub dora: DoraFigures,
}

/// The weekly trend: for each week (from [`week_spans`]) with the count of its deploys that the
/// store made (rollbacks left out), the incidents detected in it and the DORA figures of the
/// deploys made in it. `incidents`, `deploys` and `links` are as for [`dora`]: every incident of
/// the weeks and every incident and deploy a link names.
pub fn weekly_trend(
    weeks: &[(WeekSpan, u64)],
    incidents: &[impl Borrow<IncidentFacts>],
    deploys: &[DeployFacts],
    links: &[DeployFailure],
    drills: bool,
) -> Vec<Week> {
    let index = FailureIndex::new(deploys, incidents, drills);
    // Each incident and each link is put in its week once: the trend is linear in them,
    // however many weeks it has.
    let mut per_week: Vec<Vec<&IncidentFacts>> = vec![Vec::new(); weeks.len()];
    for incident in counted(incidents, everything(), drills) {
        if let Some(w) = week_of(weeks, incident.detected_at) {
            per_week[w].push(incident);
        }
    }
    let mut links_of: Vec<Vec<&DeployFailure>> = vec![Vec::new(); weeks.len()];
    for link in links {
        if let Some(w) = index
            .deploys
            .get(&link.deploy)
            .and_then(|d| week_of(weeks, d.at))
        {
            links_of[w].push(link);
        }
    }
    // The few severities seen, then put in natural order.
    let seen: HashSet<&str> = per_week
        .iter()
        .flatten()
        .map(|i| i.severity.as_str())
        .collect();
    let mut severities: Vec<GroupKey> = seen
        .into_iter()
        .map(|s| GroupKey::Severity(s.to_string()))
        .collect();
    severities.sort();
    weeks
        .iter()
        .zip(per_week)
        .zip(links_of)
        .map(|(((span, deploy_count), members), links)| {
            let mut by_severity: BTreeMap<&str, u64> = BTreeMap::new();
            for i in &members {
                *by_severity.entry(i.severity.as_str()).or_default() += 1;
            }
            Week {
                span: *span,
                incidents: members.len() as u64,
                by_severity: severities
                    .iter()
                    .map(|key| SeverityCount {
                        severity: key.label().to_string(),
                        incidents: by_severity.get(key.label()).copied().unwrap_or(0),
                    })
                    .collect(),
                acknowledge: Stat::of(members.iter().filter_map(|i| i.time_to_acknowledge())),
                resolve: Stat::of(members.iter().filter_map(|i| i.time_to_resolve())),
                dora: index.figures(links, *deploy_count, span.period()),
            }
        })
        .collect()
}

/// All of time, for reading every incident once.
fn everything() -> Period {
    Period {
        from: Timestamp::MIN,
        to: Timestamp::MAX,
    }
}

/// The index of the week of `weeks` (in order, not overlapping, as [`week_spans`] gives them)
/// that holds `t`, if any.
fn week_of(weeks: &[(WeekSpan, u64)], t: Timestamp) -> Option<usize> {
    let i = weeks
        .partition_point(|(span, _)| span.start <= t)
        .checked_sub(1)?;
    weeks[i].0.period().contains(t).then_some(i)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn at(s: i64) -> Timestamp {
        // Monday 2027-01-18 00:00 UTC.
        Timestamp::from_second(1_800_230_400 + s).unwrap()
    }

    fn name(s: &str) -> Name {
        Name::parse(s).unwrap()
    }

    fn incident(number: i64, severity: &str, services: &[&str]) -> IncidentFacts {
        IncidentFacts {
            number: IncidentNumber(number),
            severity: severity.into(),
            services: services.iter().map(|s| name(s)).collect(),
            drill: false,
            detected_at: at(0),
            acknowledged_at: None,
            mitigated_at: None,
            resolved_at: None,
            postmortem_published: false,
        }
    }

    fn everything() -> Period {
        Period {
            from: Timestamp::MIN,
            to: Timestamp::MAX,
        }
    }

    fn today() -> Date {
        jiff::civil::date(2030, 1, 1)
    }

    #[test]
    fn percentiles_are_nearest_rank() {
        let v = [15, 20, 35, 40, 50];
        assert_eq!(nearest_rank(&v, 5), Some(15));
        assert_eq!(nearest_rank(&v, 30), Some(20));
        assert_eq!(nearest_rank(&v, 40), Some(20));
        assert_eq!(nearest_rank(&v, 50), Some(35));
        assert_eq!(nearest_rank(&v, 90), Some(50));
        assert_eq!(nearest_rank(&v, 100), Some(50));
        assert_eq!(nearest_rank(&v, 0), Some(15));
        assert_eq!(nearest_rank(&v, 1000), Some(50));
        assert_eq!(nearest_rank(&[], 50), None);
        assert_eq!(nearest_rank(&[7], 90), Some(7));
        // Ten values: the median is the 5th, the 90th percentile the 9th.
        let ten: Vec<i64> = (1..=10).collect();
        assert_eq!(nearest_rank(&ten, 50), Some(5));
        assert_eq!(nearest_rank(&ten, 90), Some(9));
    }

    #[test]
    fn stats_round_the_mean_half_up_and_are_empty_without_values() {
        assert_eq!(
            Stat::of([3, 1, 2, 2]),
            Stat {
                count: 4,
                mean: Some(2),
                p50: Some(2),
                p90: Some(3),
                min: Some(1),
                max: Some(3),
            }
        );
        assert_eq!(Stat::of([1, 2]).mean, Some(2));
        assert_eq!(Stat::of([-1, -2]).mean, Some(-1));
        assert_eq!(Stat::of([i64::MAX, i64::MAX]).mean, Some(i64::MAX));
        assert_eq!(Stat::of([i64::MIN, i64::MAX]).mean, Some(0));
        assert_eq!(Stat::of([]), Stat::default());
        assert_eq!(Stat::default().count, 0);
        assert_eq!(Stat::default().p50, None);
    }

    #[test]
    fn durations_start_at_detection_and_are_never_negative() {
        let mut i = incident(1, "SEV1", &[]);
        assert_eq!(i.time_to_acknowledge(), None);
        assert_eq!(i.time_to_mitigate(), None);
        assert_eq!(i.time_to_resolve(), None);
        i.acknowledged_at = Some(at(-30));
        assert_eq!(i.time_to_acknowledge(), Some(0));
        i.resolved_at = Some(at(600));
        assert_eq!(i.time_to_mitigate(), Some(600), "resolution stands in");
        i.mitigated_at = Some(at(120));
        assert_eq!(i.time_to_mitigate(), Some(120));
        assert_eq!(i.time_to_resolve(), Some(600));
        // Sub-second parts are dropped, not rounded.
        i.acknowledged_at = Some(
            at(5)
                .checked_add(jiff::SignedDuration::from_millis(999))
                .unwrap(),
        );
        assert_eq!(i.time_to_acknowledge(), Some(5));
    }

    #[test]
    fn severities_sort_naturally_and_services_by_name_with_none_last() {
        let mut keys: Vec<GroupKey> = ["SEV10", "SEV2", "SEV1", "SEV01", "minor", "P1"]
            .into_iter()
            .map(|s| GroupKey::Severity(s.into()))
            .collect();
        keys.sort();
        let labels: Vec<&str> = keys.iter().map(GroupKey::label).collect();
        assert_eq!(labels, ["P1", "SEV01", "SEV1", "SEV2", "SEV10", "minor"]);
        let mut keys = [
            GroupKey::NoService,
            GroupKey::Service(name("search")),
            GroupKey::Service(name("checkout")),
        ];
        keys.sort();
        assert_eq!(
            keys.iter().map(ToString::to_string).collect::<Vec<_>>(),
            ["checkout", "search", "no service"]
        );
        assert_eq!(severity_order("SEV1", "SEV1"), Ordering::Equal);
        assert_eq!(severity_order("SEV", "SEV1"), Ordering::Less);
        assert_eq!(severity_order("é1", "é2"), Ordering::Less);
    }

    #[test]
    fn an_incident_of_several_services_counts_in_each_and_one_of_none_in_no_service() {
        let mut a = incident(1, "SEV1", &["checkout", "search", "checkout"]);
        a.acknowledged_at = Some(at(60));
        let b = incident(2, "SEV2", &[]);
        let groups = incident_groups(
            &[a.clone(), b, a],
            &[],
            everything(),
            today(),
            GroupBy::Service,
            false,
        );
        let summary: Vec<(&str, u64, u64)> = groups
            .iter()
            .map(|g| (g.key.label(), g.incidents, g.acknowledge.count))
            .collect();
        assert_eq!(
            summary,
            [("checkout", 1, 1), ("search", 1, 1), ("no service", 1, 0)]
        );
    }

    #[test]
    fn groups_count_only_the_period_and_skip_drills_unless_asked() {
        let mut before = incident(1, "SEV1", &[]);
        before.detected_at = at(-1);
        let inside = incident(2, "SEV1", &[]);
        let mut drill = incident(3, "SEV1", &[]);
        drill.drill = true;
        let mut at_the_end = incident(4, "SEV1", &[]);
        at_the_end.detected_at = at(100);
        let facts = [before, inside, drill, at_the_end];
        let period = Period {
            from: at(0),
            to: at(100),
        };
        let numbers = |drills| {
            incident_groups(&facts, &[], period, today(), GroupBy::All, drills)[0]
                .numbers
                .clone()
        };
        assert_eq!(numbers(false), [IncidentNumber(2)]);
        assert_eq!(numbers(true), [IncidentNumber(2), IncidentNumber(3)]);
    }

    #[test]
    fn nothing_to_report_gives_an_empty_all_group_and_no_other() {
        let none: [IncidentFacts; 0] = [];
        let all = incident_groups(&none, &[], everything(), today(), GroupBy::All, false);
        assert_eq!(
            all,
            [Group {
                key: GroupKey::All,
                incidents: 0,
                acknowledge: Stat::default(),
                mitigate: Stat::default(),
                resolve: Stat::default(),
                resolved: 0,
                postmortems_published: 0,
                postmortem_share: None,
                action_items: ActionItemCounts::default(),
                numbers: vec![],
            }]
        );
        for by in [GroupBy::Service, GroupBy::Severity] {
            assert!(incident_groups(&none, &[], everything(), today(), by, true).is_empty());
        }
        let backwards = Period {
            from: at(10),
            to: at(0),
        };
        let one = [incident(1, "SEV1", &[])];
        assert_eq!(
            incident_groups(&one, &[], backwards, today(), GroupBy::All, false)[0].incidents,
            0
        );
        let d = dora(0, &[], &[], &none, everything(), false);
        assert_eq!((d.deploys, d.failed_deploys), (0, 0));
        assert_eq!(d.change_failure_rate, None);
        assert_eq!(d.recovery, Stat::default());
        assert!(d.failures.is_empty());
    }

    fn deploy(id: i64, service: &str, at_s: i64, rollback: bool) -> DeployFacts {
        DeployFacts {
            id,
            service: name(service),
            at: at(at_s),
            rollback,
        }
    }

    fn link(deploy: i64, incident: i64, link: FailureLink) -> DeployFailure {
        DeployFailure {
            deploy,
            incident: IncidentNumber(incident),
            link,
        }
    }

    #[test]
    fn links_that_count_for_nothing() {
        let period = Period {
            from: at(0),
            to: at(1000),
        };
        let deploys = [
            deploy(1, "checkout", -10, false),
            deploy(2, "checkout", 10, true),
            deploy(3, "checkout", 1000, false),
            deploy(4, "checkout", 20, false),
        ];
        let mut mitigated_first = incident(1, "SEV1", &[]);
        mitigated_first.detected_at = at(30);
        mitigated_first.mitigated_at = Some(at(5));
        let links = [
            link(1, 1, FailureLink::Suspect),     // before the period
            link(2, 1, FailureLink::Suspect),     // a rollback
            link(3, 1, FailureLink::Suspect),     // at the period's end
            link(99, 1, FailureLink::Suspect),    // no facts for the deploy
            link(4, 42, FailureLink::RolledBack), // no facts for the incident
            link(4, 1, FailureLink::Suspect),     // mitigated before the deploy: bad clocks
        ];
        let d = dora(1, &deploys, &links, &[mitigated_first], period, false);
        assert_eq!(d.failed_deploys, 1);
        assert_eq!(d.change_failure_rate, Some(1.0));
        let f = &d.failures[0];
        assert_eq!(f.deploy, 4);
        assert_eq!(f.incidents, [IncidentNumber(1), IncidentNumber(42)]);
        assert!(f.rolled_back);
        assert_eq!(f.mitigated_at, Some(at(5)));
        assert_eq!(f.recovery, Some(0));
        // The count missed a failed deploy: the rate stays at most 1.
        let none: [IncidentFacts; 0] = [];
        let d = dora(0, &deploys, &links, &none, period, false);
        assert_eq!((d.deploys, d.failed_deploys), (1, 1));
        assert_eq!(d.change_failure_rate, Some(1.0));
        assert_eq!(d.recovery.count, 0);
    }

    #[test]
    fn action_items_opened_done_and_overdue() {
        let period = Period {
            from: at(0),
            to: at(100),
        };
        let today = jiff::civil::date(2027, 1, 10);
        let item = |created: i64, due: Date, done: Option<i64>, closed: bool| ActionItemFacts {
            incident: None,
            drill: false,
            created_at: at(created),
            due,
            done_at: done.map(at),
            closed,
        };
        let yesterday = jiff::civil::date(2027, 1, 9);
        let items = [
            item(0, yesterday, None, false),      // opened, overdue
            item(100, yesterday, None, false),    // overdue (opened after)
            item(-5, today, Some(50), true),      // done
            item(50, yesterday, None, true),      // opened, dropped
            item(50, today, None, false),         // opened, due today: not overdue
            item(-5, yesterday, Some(100), true), // done after the period
            item(10, yesterday, Some(20), false), // done though not marked closed
        ];
        assert_eq!(
            action_item_counts(&items, period, today, false),
            ActionItemCounts {
                opened: 4,
                done: 2,
                overdue: 2,
            }
        );
        let mut drill = items[0].clone();
        drill.drill = true;
        assert_eq!(
            action_item_counts([&drill], period, today, false),
            ActionItemCounts::default()
        );
        assert_eq!(action_item_counts([&drill], period, today, true).overdue, 1);
    }

    /// The scenario: a week of production, Monday 2027-01-18 00:00 UTC (T0) to the next
    /// Monday; the report is read on that next Monday. Times are hours (h) after T0 or seconds
    /// (s) after detection.
    ///
    /// | inc | sev  | services           | detected | ack    | mitigated | resolved | postmortem |
    /// |-----|------|--------------------|----------|--------|-----------|----------|------------|
    /// | 1   | SEV1 | checkout           | 41h      | 120 s  | 1800 s    | 3600 s   | published  |
    /// | 2   | SEV1 | checkout, payments | 42h      | 300 s  | 2400 s    | 7200 s   | published  |
    /// | 3   | SEV1 | payments           | 61h      | 60 s   | —         | 5400 s   | draft      |
    /// | 4   | SEV2 | search             | 73h      | 600 s  | 1200 s    | 2400 s   | published  |
    /// | 5   | SEV2 | search             | 89h      | never  | —         | open     | —          |
    /// | 6   | SEV2 | checkout           | 10h      | 240 s  | 900 s     | 1800 s   | draft      |
    /// | 7   | SEV2 | payments           | 109h     | −30 s  | 600 s     | 1200 s   | published  |
    /// | 8   | SEV3 | search             | 21h      | 900 s  | 3000 s    | open     | —          |
    /// | 9   | SEV3 | (none)             | 130h     | 1500 s | 3600 s    | 10800 s  | draft      |
    /// | 10  | SEV1 | checkout (drill)   | 101h     | 30 s   | 60 s      | 90 s     | —          |
    ///
    /// Incident 7's ack was recorded 30 s before its detection (a bad clock): it counts as 0.
    /// Incident 3 was resolved without a recorded mitigation: its resolution (5400 s) is its
    /// mitigation. Deploy k (1 to 30) is at k × 4h; 12, 20 and 27 are rollbacks: 12 undid 10,
    /// 20 undid 18. Links: 10 → 1 (suspect and rolled back), 10 → 2, 15 → 3, 18 → 4 (rolled
    /// back), 22 → 5, 5 → 8, 25 → 10 (the drill), 27 → 7 (27 is itself a rollback).
    fn scenario() -> (Vec<IncidentFacts>, Vec<DeployFacts>, Vec<DeployFailure>) {
        use FailureLink::{RolledBack, Suspect};
        const H: i64 = 3600;
        let row = |number: i64,
                   severity: &str,
                   services: &[&str],
                   detected_h: i64,
                   ack: Option<i64>,
                   mitigated: Option<i64>,
                   resolved: Option<i64>,
                   postmortem: bool| {
            let detected = detected_h * H;
            IncidentFacts {
                detected_at: at(detected),
                acknowledged_at: ack.map(|s| at(detected + s)),
                mitigated_at: mitigated.map(|s| at(detected + s)),
                resolved_at: resolved.map(|s| at(detected + s)),
                postmortem_published: postmortem,
                ..incident(number, severity, services)
            }
        };
        let mut incidents = vec![
            row(
                1,
                "SEV1",
                &["checkout"],
                41,
                Some(120),
                Some(1800),
                Some(3600),
                true,
            ),
            row(
                2,
                "SEV1",
                &["checkout", "payments"],
                42,
                Some(300),
                Some(2400),
                Some(7200),
                true,
            ),
            row(
                3,
                "SEV1",
                &["payments"],
                61,
                Some(60),
                None,
                Some(5400),
                false,
            ),
            row(
                4,
                "SEV2",
                &["search"],
                73,
                Some(600),
                Some(1200),
                Some(2400),
                true,
            ),
            row(5, "SEV2", &["search"], 89, None, None, None, false),
            row(
                6,
                "SEV2",
                &["checkout"],
                10,
                Some(240),
                Some(900),
                Some(1800),
                false,
            ),
            row(
                7,
                "SEV2",
                &["payments"],
                109,
                Some(-30),
                Some(600),
                Some(1200),
                true,
            ),
            row(
                8,
                "SEV3",
                &["search"],
                21,
                Some(900),
                Some(3000),
                None,
                false,
            ),
            row(
                9,
                "SEV3",
                &[],
                130,
                Some(1500),
                Some(3600),
                Some(10800),
                false,
            ),
            row(
                10,
                "SEV1",
                &["checkout"],
                101,
                Some(30),
                Some(60),
                Some(90),
                false,
            ),
        ];
        incidents[9].drill = true;
        let services = ["checkout", "search", "payments"];
        let deploys = (1..=30)
            .map(|k| {
                deploy(
                    k,
                    services[(k % 3) as usize],
                    k * 4 * H,
                    [12, 20, 27].contains(&k),
                )
            })
            .collect();
        let links = vec![
            link(10, 1, Suspect),
            link(10, 1, RolledBack),
            link(10, 2, Suspect),
            link(15, 3, Suspect),
            link(18, 4, RolledBack),
            link(22, 5, Suspect),
            link(5, 8, Suspect),
            link(25, 10, Suspect),
            link(27, 7, Suspect),
        ];
        (incidents, deploys, links)
    }

    fn scenario_period() -> Period {
        Period {
            from: at(0),
            to: at(7 * 24 * 3600),
        }
    }

    fn stat(count: u64, mean: i64, p50: i64, p90: i64, min: i64, max: i64) -> Stat {
        Stat {
            count,
            mean: Some(mean),
            p50: Some(p50),
            p90: Some(p90),
            min: Some(min),
            max: Some(max),
        }
    }

    #[test]
    fn scenario_response_times_by_severity_and_overall() {
        let (incidents, _, _) = scenario();
        let period = scenario_period();
        let today = jiff::civil::date(2027, 1, 11);
        let groups = |by, drills| incident_groups(&incidents, &[], period, today, by, drills);

        // All, drills left out: incidents 1 to 9.
        // Ack: 120, 300, 60, 600, 240, 0 (7), 900, 1500; 5 never acked. Sorted:
        //   0, 60, 120, 240, 300, 600, 900, 1500; n = 8, sum = 3720, mean = 465;
        //   p50 = rank ceil(0.5 × 8) = 4 → 240; p90 = rank ceil(0.9 × 8) = ceil(7.2) = 8 → 1500.
        // Mitigate: 1800, 2400, 5400 (3, its resolution), 1200, 900, 600, 3000, 3600. Sorted:
        //   600, 900, 1200, 1800, 2400, 3000, 3600, 5400; n = 8, sum = 18900,
        //   mean = 2362.5 → 2363 (halves up); p50 = rank 4 → 1800; p90 = rank 8 → 5400.
        // Resolve: 3600, 7200, 5400, 2400, 1800, 1200, 10800; 5 and 8 open. Sorted:
        //   1200, 1800, 2400, 3600, 5400, 7200, 10800; n = 7, sum = 32400,
        //   mean = 4628.57 → 4629; p50 = rank ceil(3.5) = 4 → 3600;
        //   p90 = rank ceil(6.3) = 7 → 10800.
        // Postmortems: resolved 1, 2, 3, 4, 6, 7, 9 = 7; published among them 1, 2, 4, 7 = 4.
        let all = &groups(GroupBy::All, false)[0];
        assert_eq!(all.key, GroupKey::All);
        assert_eq!(all.incidents, 9);
        assert_eq!(all.numbers, (1..=9).map(IncidentNumber).collect::<Vec<_>>());
        assert_eq!(all.acknowledge, stat(8, 465, 240, 1500, 0, 1500));
        assert_eq!(all.mitigate, stat(8, 2363, 1800, 5400, 600, 5400));
        assert_eq!(all.resolve, stat(7, 4629, 3600, 10800, 1200, 10800));
        assert_eq!((all.resolved, all.postmortems_published), (7, 4));
        assert_eq!(all.postmortem_share, Some(4.0 / 7.0));

        let by_severity = groups(GroupBy::Severity, false);
        let labels: Vec<&str> = by_severity.iter().map(|g| g.key.label()).collect();
        assert_eq!(labels, ["SEV1", "SEV2", "SEV3"]);
        let [sev1, sev2, sev3] = &by_severity[..] else {
            panic!("three severities")
        };
        // SEV1 (1, 2, 3): ack 60, 120, 300: sum 480, mean 160; p50 rank ceil(1.5) = 2 → 120;
        //   p90 rank ceil(2.7) = 3 → 300. Mitigate 1800, 2400, 5400: sum 9600, mean 3200,
        //   p50 2400, p90 5400. Resolve 3600, 5400, 7200: sum 16200, mean 5400, p50 5400,
        //   p90 7200. Postmortems 2 of 3 resolved.
        assert_eq!(sev1.incidents, 3);
        assert_eq!(sev1.acknowledge, stat(3, 160, 120, 300, 60, 300));
        assert_eq!(sev1.mitigate, stat(3, 3200, 2400, 5400, 1800, 5400));
        assert_eq!(sev1.resolve, stat(3, 5400, 5400, 7200, 3600, 7200));
        assert_eq!(sev1.postmortem_share, Some(2.0 / 3.0));
        // SEV2 (4, 5, 6, 7; 5 open and never acked): ack 0, 240, 600: sum 840, mean 280,
        //   p50 rank 2 → 240, p90 rank 3 → 600. Mitigate 600, 900, 1200: mean 900, p50 900,
        //   p90 1200. Resolve 1200, 1800, 2400: mean 1800, p50 1800, p90 2400. Postmortems
        //   4 and 7 of resolved 4, 6, 7.
        assert_eq!(sev2.incidents, 4);
        assert_eq!(sev2.acknowledge, stat(3, 280, 240, 600, 0, 600));
        assert_eq!(sev2.mitigate, stat(3, 900, 900, 1200, 600, 1200));
        assert_eq!(sev2.resolve, stat(3, 1800, 1800, 2400, 1200, 2400));
        assert_eq!((sev2.resolved, sev2.postmortems_published), (3, 2));
        // SEV3 (8, 9): ack 900, 1500: mean 1200, p50 rank ceil(1.0) = 1 → 900, p90 rank
        //   ceil(1.8) = 2 → 1500. Mitigate 3000, 3600: mean 3300. Resolve only 9: 10800.
        //   No postmortem published: share 0 of 1.
        assert_eq!(sev3.incidents, 2);
        assert_eq!(sev3.acknowledge, stat(2, 1200, 900, 1500, 900, 1500));
        assert_eq!(sev3.mitigate, stat(2, 3300, 3000, 3600, 3000, 3600));
        assert_eq!(sev3.resolve, stat(1, 10800, 10800, 10800, 10800, 10800));
        assert_eq!(sev3.postmortem_share, Some(0.0));
        assert_eq!(
            sev1.incidents + sev2.incidents + sev3.incidents,
            all.incidents
        );

        // With the drill, SEV1 gains incident 10: ack 30, 60, 120, 300: sum 510,
        // mean 127.5 → 128; p50 rank 2 → 60; p90 rank ceil(3.6) = 4 → 300.
        let with_drill = groups(GroupBy::Severity, true);
        assert_eq!(with_drill[0].incidents, 4);
        assert_eq!(with_drill[0].acknowledge, stat(4, 128, 60, 300, 30, 300));

        // By service: checkout 1, 2, 6 (ack 120, 300, 240: mean 220, p50 rank 2 → 240,
        // p90 300); payments 2, 3, 7; search 4, 5, 8; no service 9. Incident 2 counts in
        // checkout and payments, so the groups hold 10 places for 9 incidents.
        let by_service = groups(GroupBy::Service, false);
        let summary: Vec<(&str, Vec<i64>)> = by_service
            .iter()
            .map(|g| (g.key.label(), g.numbers.iter().map(|n| n.0).collect()))
            .collect();
        assert_eq!(
            summary,
            [
                ("checkout", vec![1, 2, 6]),
                ("payments", vec![2, 3, 7]),
                ("search", vec![4, 5, 8]),
                ("no service", vec![9]),
            ]
        );
        assert_eq!(by_service[0].acknowledge, stat(3, 220, 240, 300, 120, 300));
    }

    #[test]
    fn scenario_action_items_by_severity() {
        let (incidents, _, _) = scenario();
        let period = scenario_period();
        // Read on the Monday after the period.
        let today = jiff::civil::date(2027, 1, 25);
        let day = |d: i64| at(d * 24 * 3600);
        let date = |m, d| jiff::civil::date(2027, m, d);
        let item =
            |incident: Option<i64>, created: i64, due: Date, done: Option<i64>| ActionItemFacts {
                incident: incident.map(IncidentNumber),
                drill: incident == Some(10),
                created_at: day(created),
                due,
                done_at: done.map(day),
                closed: done.is_some(),
            };
        let mut dropped = item(None, 5, date(1, 17), None);
        dropped.closed = true;
        let items = [
            // a. SEV1: opened day 1, done day 3.
            item(Some(1), 1, date(1, 30), Some(3)),
            // b. SEV1: opened day 2, due 20 January, open: overdue.
            item(Some(2), 2, date(1, 20), None),
            // c. SEV2: opened before the period, done day 4.
            item(Some(4), -3, date(2, 1), Some(4)),
            // d. The drill's: opened day 1, overdue; left out without drills.
            item(Some(10), 1, date(1, 21), None),
            // e. Of no incident: opened day 5, dropped, so not overdue though past due.
            dropped,
            // f. SEV2: opened day 6, due today: not overdue yet.
            item(Some(6), 6, date(1, 25), None),
        ];
        // The period: opened a, b, e, f = 4; done a, c = 2; overdue b = 1.
        assert_eq!(
            action_item_counts(&items, period, today, false),
            ActionItemCounts {
                opened: 4,
                done: 2,
                overdue: 1,
            }
        );
        // By severity, only the items of the period's incidents: SEV1 a, b; SEV2 c, f.
        let by_severity =
            incident_groups(&incidents, &items, period, today, GroupBy::Severity, false);
        let counts: Vec<ActionItemCounts> = by_severity.iter().map(|g| g.action_items).collect();
        assert_eq!(
            counts,
            [
                ActionItemCounts {
                    opened: 2,
                    done: 1,
                    overdue: 1,
                },
                ActionItemCounts {
                    opened: 1,
                    done: 1,
                    overdue: 0,
                },
                ActionItemCounts::default(),
            ]
        );
        let all = incident_groups(&incidents, &items, period, today, GroupBy::All, true);
        assert_eq!(
            all[0].action_items,
            ActionItemCounts {
                opened: 4,
                done: 2,
                overdue: 2,
            },
            "with drills: a, b, d, f opened; a, c done; b, d overdue"
        );
    }

    #[test]
    fn scenario_change_failure_rate_and_recovery() {
        let (incidents, deploys, links) = scenario();
        let period = scenario_period();
        // What the store counts: 30 deploys, less the rollbacks 12, 20 and 27.
        let deploy_count = deploys
            .iter()
            .filter(|d| !d.rollback && period.contains(d.at))
            .count() as u64;
        assert_eq!(deploy_count, 27);

        // Failed: 5 (→ 8), 10 (→ 1 twice and 2: once), 15 (→ 3), 18 (→ 4), 22 (→ 5). The drill's
        // 25 is left out, and 27 → 7 is a rollback. CFR = 5 / 27.
        // Recovery, from the deploy to the earliest mitigation:
        //   5:  deploy 20h, 8 mitigated 21h + 3000 s = 21h50m → 1h50m = 6600 s
        //   10: deploy 40h, 1 mitigated 41h + 1800 s = 41h30m (2 only at 42h40m) → 5400 s
        //   15: deploy 60h, 3 resolved (no mitigation) 61h + 5400 s = 62h30m → 9000 s
        //   18: deploy 72h, 4 mitigated 73h + 1200 s = 73h20m → 4800 s
        //   22: deploy 88h, 5 still open → listed, no recovery
        // Sorted 4800, 5400, 6600, 9000: n = 4, sum 25800, mean 6450; p50 rank 2 → 5400;
        // p90 rank ceil(3.6) = 4 → 9000.
        let d = dora(deploy_count, &deploys, &links, &incidents, period, false);
        assert_eq!((d.deploys, d.failed_deploys), (27, 5));
        assert_eq!(d.change_failure_rate, Some(5.0 / 27.0));
        assert_eq!(d.recovery, stat(4, 6450, 5400, 9000, 4800, 9000));
        let listed: Vec<(i64, Vec<i64>, bool, Option<i64>)> = d
            .failures
            .iter()
            .map(|f| {
                let numbers = f.incidents.iter().map(|n| n.0).collect();
                (f.deploy, numbers, f.rolled_back, f.recovery)
            })
            .collect();
        assert_eq!(
            listed,
            [
                (5, vec![8], false, Some(6600)),
                (10, vec![1, 2], true, Some(5400)),
                (15, vec![3], false, Some(9000)),
                (18, vec![4], true, Some(4800)),
                (22, vec![5], false, None),
            ]
        );
        assert_eq!(d.failures[1].service, name("search"));
        assert_eq!(d.failures[1].mitigated_at, Some(at(41 * 3600 + 1800)));
        assert_eq!(d.failures[4].mitigated_at, None);

        // With drills, 25 (→ 10) fails too: 10 detected 101h, mitigated 60 s later, deploy at
        // 100h → 3660 s. CFR = 6 / 27. Recovery 3660, 4800, 5400, 6600, 9000: sum 29460,
        // mean 5892; p50 rank ceil(2.5) = 3 → 5400; p90 rank ceil(4.5) = 5 → 9000.
        let d = dora(deploy_count, &deploys, &links, &incidents, period, true);
        assert_eq!((d.deploys, d.failed_deploys), (27, 6));
        assert_eq!(d.change_failure_rate, Some(6.0 / 27.0));
        assert_eq!(d.recovery, stat(5, 5892, 5400, 9000, 3660, 9000));
    }

    #[test]
    fn scenario_by_week_in_utc() {
        let (incidents, deploys, links) = scenario();
        let period = Period {
            from: at(0),
            to: at(14 * 24 * 3600),
        };
        let spans = week_spans(period, &TimeZone::UTC);
        // T0 is a Monday: two whole weeks, the second without incidents or deploys.
        assert_eq!(spans.len(), 2);
        assert_eq!(spans[0].monday, jiff::civil::date(2027, 1, 18));
        assert_eq!(spans[1].start, at(7 * 24 * 3600));
        let weeks: Vec<(WeekSpan, u64)> = spans
            .iter()
            .map(|s| {
                let n = deploys
                    .iter()
                    .filter(|d| !d.rollback && s.period().contains(d.at))
                    .count();
                (*s, n as u64)
            })
            .collect();
        let trend = weekly_trend(&weeks, &incidents, &deploys, &links, false);
        let [first, second] = &trend[..] else {
            panic!("two weeks")
        };
        // The first week is the scenario's period: the same figures as above.
        assert_eq!(first.incidents, 9);
        let counts: Vec<u64> = first.by_severity.iter().map(|s| s.incidents).collect();
        assert_eq!(counts, [3, 4, 2]);
        assert_eq!(first.acknowledge, stat(8, 465, 240, 1500, 0, 1500));
        assert_eq!(first.resolve, stat(7, 4629, 3600, 10800, 1200, 10800));
        assert_eq!(first.dora.change_failure_rate, Some(5.0 / 27.0));
        assert_eq!(first.dora.recovery, stat(4, 6450, 5400, 9000, 4800, 9000));
        // The second lists the same severities, at 0, so the chart's series line up.
        let labels: Vec<&str> = second
            .by_severity
            .iter()
            .map(|s| s.severity.as_str())
            .collect();
        assert_eq!(labels, ["SEV1", "SEV2", "SEV3"]);
        assert!(second.by_severity.iter().all(|s| s.incidents == 0));
        assert_eq!(second.incidents, 0);
        assert_eq!(second.acknowledge, Stat::default());
        assert_eq!((second.dora.deploys, second.dora.failed_deploys), (0, 0));
        assert_eq!(second.dora.change_failure_rate, None);
    }

    fn berlin() -> TimeZone {
        TimeZone::get("Europe/Berlin").unwrap()
    }

    fn utc(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    #[test]
    fn weeks_start_on_local_mondays_across_dst() {
        // Berlin moves to summer time on Sunday 2025-03-30: the week of 24 March is 167 hours.
        let period = Period {
            from: utc("2025-03-20T00:00:00Z"),
            to: utc("2025-04-05T00:00:00Z"),
        };
        let spans = week_spans(period, &berlin());
        let date = |m, d| jiff::civil::date(2025, m, d);
        assert_eq!(
            spans,
            [
                WeekSpan {
                    monday: date(3, 17),
                    start: period.from,
                    end: utc("2025-03-23T23:00:00Z"),
                },
                WeekSpan {
                    monday: date(3, 24),
                    start: utc("2025-03-23T23:00:00Z"),
                    end: utc("2025-03-30T22:00:00Z"),
                },
                WeekSpan {
                    monday: date(3, 31),
                    start: utc("2025-03-30T22:00:00Z"),
                    end: period.to,
                },
            ]
        );
        assert_eq!(spans[1].end.duration_since(spans[1].start).as_hours(), 167);

        // Sunday 23:30 in Berlin and Monday 00:30 are both Sunday in UTC, yet fall in
        // different weeks; so does Sunday 23:30 local of the week before (22:30 UTC).
        let mut sunday_night = incident(1, "SEV1", &[]);
        sunday_night.detected_at = utc("2025-03-30T21:30:00Z");
        sunday_night.acknowledged_at = Some(utc("2025-03-30T21:40:00Z"));
        let mut monday_morning = incident(2, "SEV2", &[]);
        monday_morning.detected_at = utc("2025-03-30T22:30:00Z");
        let mut week_before = incident(3, "SEV1", &[]);
        week_before.detected_at = utc("2025-03-23T22:30:00Z");
        let mut one_minute_in = incident(4, "SEV1", &[]);
        one_minute_in.detected_at = utc("2025-03-23T23:01:00Z");
        let weeks: Vec<(WeekSpan, u64)> = spans.iter().map(|s| (*s, 0)).collect();
        let trend = weekly_trend(
            &weeks,
            &[sunday_night, monday_morning, week_before, one_minute_in],
            &[],
            &[],
            false,
        );
        let per_week: Vec<Vec<u64>> = trend
            .iter()
            .map(|w| w.by_severity.iter().map(|s| s.incidents).collect())
            .collect();
        assert_eq!(per_week, [vec![1, 0], vec![2, 0], vec![0, 1]]);
        assert_eq!(trend[1].acknowledge, stat(1, 600, 600, 600, 600, 600));
        assert_eq!(trend[0].acknowledge, Stat::default());
        assert!(trend.iter().all(|w| w.dora.change_failure_rate.is_none()));

        // Back to winter time on Sunday 2025-10-26: the week of 20 October is 169 hours.
        let autumn = week_spans(
            Period {
                from: utc("2025-10-19T22:00:00Z"),
                to: utc("2025-10-26T23:00:00Z"),
            },
            &berlin(),
        );
        assert_eq!(autumn.len(), 1);
        assert_eq!(autumn[0].monday, jiff::civil::date(2025, 10, 20));
        assert_eq!(autumn[0].end, utc("2025-10-26T23:00:00Z"));
        assert_eq!(
            autumn[0].end.duration_since(autumn[0].start).as_hours(),
            169
        );
    }

    #[test]
    fn an_incident_handed_over_twice_counts_once_as_first_handed_over() {
        let first = incident(39, "SEV1", &[]);
        let mut again = first.clone();
        again.detected_at = at(7 * 24 * 3600);
        again.severity = "SEV2".into();
        let facts = [first, again];
        let period = Period {
            from: at(0),
            to: at(14 * 24 * 3600),
        };
        let weeks: Vec<(WeekSpan, u64)> = week_spans(period, &TimeZone::UTC)
            .into_iter()
            .map(|s| (s, 0))
            .collect();
        let trend = weekly_trend(&weeks, &facts, &[], &[], false);
        let per_week: Vec<u64> = trend.iter().map(|w| w.incidents).collect();
        assert_eq!(per_week, [1, 0]);
        let groups = incident_groups(&facts, &[], period, today(), GroupBy::Severity, false);
        assert_eq!(groups.len(), 1);
        assert_eq!(groups[0].key, GroupKey::Severity("SEV1".into()));
    }

    #[test]
    fn an_empty_period_has_no_weeks() {
        let t = utc("2025-03-20T00:00:00Z");
        for to in [t, utc("2025-03-19T00:00:00Z")] {
            assert!(week_spans(Period { from: t, to }, &berlin()).is_empty());
        }
        assert!(weekly_trend(&[], &[incident(1, "SEV1", &[])], &[], &[], true).is_empty());
        let one = Period {
            from: t,
            to: utc("2025-03-20T00:00:01Z"),
        };
        assert_eq!(week_spans(one, &berlin()).len(), 1);
        // The first and last weeks of time are cut where time starts and ends.
        let month = jiff::SignedDuration::from_hours(30 * 24);
        for tz in [TimeZone::UTC, berlin()] {
            let start = Period {
                from: Timestamp::MIN,
                to: Timestamp::MIN.checked_add(month).unwrap(),
            };
            let weeks = week_spans(start, &tz);
            assert_eq!(weeks.first().map(|w| w.start), Some(Timestamp::MIN));
            assert_eq!(weeks.last().map(|w| w.end), Some(start.to));
            let end = Period {
                from: Timestamp::MAX.checked_sub(month).unwrap(),
                to: Timestamp::MAX,
            };
            let weeks = week_spans(end, &tz);
            assert_eq!(weeks.first().map(|w| w.start), Some(end.from));
            assert_eq!(weeks.last().map(|w| w.end), Some(Timestamp::MAX));
            assert!(weeks.windows(2).all(|w| w[0].end == w[1].start));
        }
    }

    const ZONES: [&str; 5] = [
        "UTC",
        "Europe/Berlin",
        "America/Santiago",
        "Australia/Lord_Howe",
        "Asia/Kathmandu",
    ];

    fn any_facts() -> impl Strategy<Value = IncidentFacts> {
        let offset = || prop::option::of(-100_000i64..1_000_000);
        (
            1i64..40,
            prop::sample::select(vec!["SEV1", "SEV2", "SEV3", "SEV10"]),
            prop::collection::vec(
                prop::sample::select(vec!["checkout", "search", "api"]),
                0..3,
            ),
            any::<bool>(),
            0i64..10_000_000,
            (offset(), offset(), offset()),
            any::<bool>(),
        )
            .prop_map(
                |(number, severity, services, drill, detected, (ack, mit, res), pm)| {
                    IncidentFacts {
                        number: IncidentNumber(number),
                        severity: severity.into(),
                        services: services.into_iter().map(name).collect(),
                        drill,
                        detected_at: at(detected),
                        acknowledged_at: ack.map(|s| at(detected + s)),
                        mitigated_at: mit.map(|s| at(detected + s)),
                        resolved_at: res.map(|s| at(detected + s)),
                        postmortem_published: pm,
                    }
                },
            )
    }

    /// The deploys (of `api`) and links a property test generated, as facts.
    fn generated(
        deploys: Vec<(i64, i64, bool)>,
        links: Vec<(i64, i64, bool)>,
    ) -> (Vec<DeployFacts>, Vec<DeployFailure>) {
        let deploys = deploys
            .into_iter()
            .map(|(id, at_s, rollback)| deploy(id, "api", at_s, rollback))
            .collect();
        let links = links
            .into_iter()
            .map(|(d, i, rolled_back)| {
                let kind = if rolled_back {
                    FailureLink::RolledBack
                } else {
                    FailureLink::Suspect
                };
                link(d, i, kind)
            })
            .collect();
        (deploys, links)
    }

    proptest! {
        #[test]
        fn percentiles_are_inputs_within_the_range_in_order(
            values in prop::collection::vec(any::<i64>(), 0..200),
        ) {
            let s = Stat::of(values.clone());
            prop_assert_eq!(s.count, values.len() as u64);
            if values.is_empty() {
                prop_assert_eq!(s, Stat::default());
            } else {
                let (min, max) = (s.min.unwrap(), s.max.unwrap());
                prop_assert_eq!(Some(min), values.iter().min().copied());
                prop_assert_eq!(Some(max), values.iter().max().copied());
                for p in [s.p50.unwrap(), s.p90.unwrap(), s.mean.unwrap()] {
                    prop_assert!(min <= p && p <= max);
                }
                prop_assert!(values.contains(&s.p50.unwrap()));
                prop_assert!(values.contains(&s.p90.unwrap()));
                prop_assert!(s.p50 <= s.p90);
            }
        }

        #[test]
        fn durations_are_never_negative_and_groups_add_up(
            facts in prop::collection::vec(any_facts(), 0..30),
            drills in any::<bool>(),
            from in 0i64..5_000_000,
            len in 0i64..10_000_000,
        ) {
            for f in &facts {
                for d in [f.time_to_acknowledge(), f.time_to_mitigate(), f.time_to_resolve()] {
                    prop_assert!(d.unwrap_or(0) >= 0);
                }
            }
            let period = Period { from: at(from), to: at(from + len) };
            let all = incident_groups(&facts, &[], period, today(), GroupBy::All, drills);
            prop_assert_eq!(all.len(), 1);
            let all = &all[0];
            let by_severity =
                incident_groups(&facts, &[], period, today(), GroupBy::Severity, drills);
            let sum = |f: fn(&Group) -> u64| by_severity.iter().map(f).sum::<u64>();
            prop_assert_eq!(sum(|g| g.incidents), all.incidents);
            prop_assert_eq!(sum(|g| g.acknowledge.count), all.acknowledge.count);
            prop_assert_eq!(sum(|g| g.mitigate.count), all.mitigate.count);
            prop_assert_eq!(sum(|g| g.resolve.count), all.resolve.count);
            prop_assert_eq!(sum(|g| g.resolved), all.resolved);
            prop_assert_eq!(sum(|g| g.postmortems_published), all.postmortems_published);
            prop_assert!(all.resolve.count <= all.mitigate.count);
            let by_service =
                incident_groups(&facts, &[], period, today(), GroupBy::Service, drills);
            prop_assert!(sum(|g| g.incidents) <= by_service.iter().map(|g| g.incidents).sum());
            for g in by_severity.iter().chain(&by_service).chain([all]) {
                for s in [g.acknowledge, g.mitigate, g.resolve] {
                    prop_assert!(s.min.unwrap_or(0) >= 0);
                    prop_assert!(s.count <= g.incidents);
                    prop_assert!(s.p50 <= s.p90);
                }
                prop_assert!(g.postmortem_share.is_none_or(|s| (0.0..=1.0).contains(&s)));
                prop_assert!(g.numbers.windows(2).all(|w| w[0] < w[1]));
                let not_drills = g
                    .numbers
                    .iter()
                    .all(|&n| facts.iter().any(|f| f.number == n && !f.drill));
                prop_assert!(drills || not_drills);
            }
        }

        #[test]
        fn the_change_failure_rate_is_a_share_of_the_counted_deploys(
            deploys in prop::collection::vec((1i64..50, 0i64..2_000, any::<bool>()), 0..60),
            links in prop::collection::vec((1i64..60, 1i64..40, any::<bool>()), 0..60),
            facts in prop::collection::vec(any_facts(), 0..30),
            drills in any::<bool>(),
            wrong_count in 0u64..5,
        ) {
            let (deploys, links) = generated(deploys, links);
            let period = Period { from: at(500), to: at(1_500) };
            // Count as the store would: each deploy once (the first of an id wins here too).
            let mut seen = std::collections::BTreeSet::new();
            let count = deploys
                .iter()
                .filter(|d| seen.insert(d.id) && !d.rollback && period.contains(d.at))
                .count() as u64;
            let d = dora(count, &deploys, &links, &facts, period, drills);
            prop_assert!(d.failed_deploys <= count);
            prop_assert_eq!(d.deploys, count);
            prop_assert_eq!(d.failures.len() as u64, d.failed_deploys);
            prop_assert!(d.change_failure_rate.is_none_or(|r| (0.0..=1.0).contains(&r)));
            prop_assert!(d.recovery.min.unwrap_or(0) >= 0);
            prop_assert!(d.recovery.p50 <= d.recovery.p90);
            for f in &d.failures {
                prop_assert!(period.contains(f.at));
                prop_assert!(!f.incidents.is_empty());
            }
            // A count that misses deploys still gives a rate of at most 1.
            let d = dora(wrong_count, &deploys, &links, &facts, period, drills);
            prop_assert!(d.change_failure_rate.is_none_or(|r| (0.0..=1.0).contains(&r)));
        }

        #[test]
        fn weeks_tile_the_period_from_local_mondays(
            from in -1_000_000_000i64..1_000_000_000,
            len in 0i64..100_000_000,
            zone in prop::sample::select(ZONES.to_vec()),
            facts in prop::collection::vec(any_facts(), 0..20),
        ) {
            let tz = TimeZone::get(zone).unwrap();
            let period = Period { from: at(from), to: at(from + len) };
            let spans = week_spans(period, &tz);
            prop_assert_eq!(spans.is_empty(), len == 0);
            if let (Some(first), Some(last)) = (spans.first(), spans.last()) {
                prop_assert_eq!(first.start, period.from);
                prop_assert_eq!(last.end, period.to);
            }
            for w in spans.windows(2) {
                prop_assert_eq!(w[0].end, w[1].start);
                prop_assert_eq!(w[0].monday.checked_add(7.days()).unwrap(), w[1].monday);
                let local = w[1].start.to_zoned(tz.clone());
                prop_assert_eq!(local.date(), w[1].monday);
                prop_assert_eq!(local.weekday(), jiff::civil::Weekday::Monday);
            }
            for s in &spans {
                prop_assert!(s.start < s.end);
                prop_assert!(s.end.duration_since(s.start).as_hours() <= 7 * 24 + 1);
            }
            let weeks: Vec<(WeekSpan, u64)> = spans.iter().map(|s| (*s, 1)).collect();
            let trend = weekly_trend(&weeks, &facts, &[], &[], true);
            let all = incident_groups(&facts, &[], period, today(), GroupBy::All, true);
            let total = all[0].incidents;
            prop_assert_eq!(trend.iter().map(|w| w.incidents).sum::<u64>(), total);
        }

        #[test]
        fn each_week_of_the_trend_is_the_report_of_that_week_alone(
            deploys in prop::collection::vec((1i64..50, 0i64..3_000_000, any::<bool>()), 0..60),
            links in prop::collection::vec((1i64..60, 1i64..40, any::<bool>()), 0..80),
            facts in prop::collection::vec(any_facts(), 0..40),
            from in 0i64..1_000_000,
            len in 1i64..3_000_000,
            drills in any::<bool>(),
        ) {
            let (deploys, links) = generated(deploys, links);
            let period = Period { from: at(from), to: at(from + len) };
            let weeks: Vec<(WeekSpan, u64)> = week_spans(period, &TimeZone::UTC)
                .into_iter()
                .enumerate()
                .map(|(n, s)| (s, 10 + n as u64))
                .collect();
            let trend = weekly_trend(&weeks, &facts, &deploys, &links, drills);
            prop_assert_eq!(trend.len(), weeks.len());
            for (week, (span, count)) in trend.iter().zip(&weeks) {
                // Worked out for the week on its own, from every fact.
                let alone = incident_groups(
                    &facts, &[], span.period(), today(), GroupBy::All, drills,
                );
                let alone = &alone[0];
                prop_assert_eq!(week.incidents, alone.incidents);
                prop_assert_eq!(week.acknowledge, alone.acknowledge);
                prop_assert_eq!(week.resolve, alone.resolve);
                let severities: u64 = week.by_severity.iter().map(|c| c.incidents).sum();
                prop_assert_eq!(severities, alone.incidents);
                prop_assert_eq!(
                    &week.dora,
                    &DoraFigures::from(&dora(*count, &deploys, &links, &facts, span.period(), drills))
                );
            }
        }
    }
}
