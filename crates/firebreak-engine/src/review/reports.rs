//! The reports: incident response times per period, service and severity, action item
//! follow-through, weekly trends, and the DORA recovery metrics. The store reads the facts
//! (counting deploys in SQL, never loading them all); the domain's `report` module does the
//! math, so every figure can be checked against the lists it comes with. The incidents,
//! failure links and action items come from the facts kept in memory ([`super::cache`]); only
//! the deploy counts are read for each report.

use foldhash::{HashMapExt, HashSet, HashSetExt};

use firebreak_domain::Name;
use firebreak_domain::action_item::ItemStatus;
use firebreak_domain::report::{
    self, ActionItemCounts, ActionItemFacts, DeployFacts, DeployFailure, Dora, FailureLink, Group,
    GroupBy, IncidentFacts, Period, Week,
};
use firebreak_store::{DeployFailureRow, DeployLink};

use super::cache::ReportFacts;
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};

use crate::{EngineError, Firebreak, invalid};

/// The most weeks a trend shows: a longer period gives the trend of its last five years.
pub const MAX_WEEKS: usize = 261;
/// The period a report covers when none is given: the last 30 days.
pub const DEFAULT_PERIOD: SignedDuration = SignedDuration::from_hours(24 * 30);

/// What a report covers.
#[derive(Debug, Clone)]
pub struct ReportQuery {
    pub from: Option<Timestamp>,
    pub to: Option<Timestamp>,
    /// Drills are left out unless asked for.
    pub drills: bool,
}

/// The incident report of a period.
#[derive(Debug, Clone)]
pub struct IncidentReport {
    pub period: Period,
    pub group_by: GroupBy,
    pub drills: bool,
    pub groups: Vec<Group>,
    pub action_items: ActionItemCounts,
    pub weeks: Vec<Week>,
}

/// The DORA report of a period.
#[derive(Debug, Clone)]
pub struct DoraReport {
    pub period: Period,
    pub service: Option<Name>,
    pub drills: bool,
    pub dora: Dora,
    /// Deploys counted per service (rollbacks left out).
    pub deploys_by_service: Vec<(Name, u64)>,
    /// The version of each failed deploy, by id.
    pub versions: foldhash::HashMap<i64, String>,
}

/// The failure links and the deploys they name, as the domain's `dora` takes them, and the
/// incidents the links name that `listed` says the caller does not list already (a suspect's
/// incident detected just after the period, a rollback's before it). An incident missing
/// from the facts (it cannot be: both are read together) is made from the link's row.
fn failure_facts<'a>(
    rows: &[&DeployFailureRow],
    facts: &'a ReportFacts,
    listed: impl Fn(&IncidentFacts) -> bool,
) -> (
    Vec<DeployFacts>,
    Vec<DeployFailure>,
    Vec<&'a IncidentFacts>,
    Vec<IncidentFacts>,
) {
    // Sized up front: two years hold ~90,000 links, and growing these moves them several
    // times into freshly faulted memory.
    let mut deploys = Vec::with_capacity(rows.len());
    let mut seen = HashSet::with_capacity(rows.len());
    let mut links = Vec::with_capacity(rows.len());
    let mut named = HashSet::new();
    let mut linked = Vec::new();
    let mut missing = Vec::new();
    for r in rows {
        if seen.insert(r.deploy) {
            deploys.push(DeployFacts {
                id: r.deploy,
                service: r.service.clone(),
                at: r.at,
                rollback: false,
            });
        }
        links.push(DeployFailure {
            deploy: r.deploy,
            incident: r.incident,
            link: match r.link {
                DeployLink::Suspect => FailureLink::Suspect,
                DeployLink::RolledBack => FailureLink::RolledBack,
            },
        });
        match facts.incident(r.incident) {
            Some(i) if listed(i) => {}
            Some(i) => {
                if named.insert(r.incident) {
                    linked.push(i);
                }
            }
            None => {
                if named.insert(r.incident) {
                    missing.push(IncidentFacts {
                        number: r.incident,
                        severity: r.severity.clone(),
                        services: vec![r.service.clone()],
                        drill: r.drill,
                        detected_at: r.detected_at,
                        acknowledged_at: None,
                        mitigated_at: r.mitigated_at,
                        resolved_at: r.resolved_at,
                        postmortem_published: false,
                    });
                }
            }
        }
    }
    (deploys, links, linked, missing)
}

impl Firebreak {
    /// The period a query covers: `to` defaults to now, `from` to 30 days before `to`.
    fn period_of(&self, q: &ReportQuery) -> Result<Period, EngineError> {
        let to = q.to.unwrap_or_else(|| self.clock.now());
        let from = q.from.unwrap_or(to - DEFAULT_PERIOD);
        if from >= to {
            return Err(invalid(
                "from",
                format!("must be before `to` ({to}); the period is [from, to)"),
            ));
        }
        Ok(Period { from, to })
    }

    /// The time zone weeks start in: Monday 00:00 UTC, the same for every reader.
    fn report_zone(&self) -> TimeZone {
        TimeZone::UTC
    }

    /// Incidents of the period grouped by service, severity or not at all, with the action
    /// items and the weekly trend.
    pub async fn incident_report(
        &self,
        q: &ReportQuery,
        group_by: GroupBy,
    ) -> Result<IncidentReport, EngineError> {
        let period = self.period_of(q)?;
        let today = crate::review::items::today(self.clock.now());
        let mut spans = report::week_spans(period, &self.report_zone());
        if spans.len() > MAX_WEEKS {
            spans.drain(..spans.len() - MAX_WEEKS);
        }
        let bounds: Vec<(Timestamp, Timestamp)> = spans.iter().map(|s| (s.start, s.end)).collect();
        let (facts, counts) = tokio::try_join!(
            self.report_facts(),
            self.store.deploy_counts_per_span(&bounds, q.drills),
        )?;
        let mut incidents: Vec<&IncidentFacts> = facts.incidents_in(period).collect();
        let items: Vec<ActionItemFacts> = facts
            .items_in(period, today)
            .map(|r| ActionItemFacts {
                incident: r.incident,
                drill: r.drill,
                created_at: r.created_at,
                due: r.due,
                done_at: r.closed_at.filter(|_| r.status == ItemStatus::Done),
                closed: r.status != ItemStatus::Open,
            })
            .collect();
        let failure_rows: Vec<&DeployFailureRow> =
            facts.failures_in(period, None, q.drills).collect();
        let groups = report::incident_groups(&incidents, &items, period, today, group_by, q.drills);
        let action_items = report::action_item_counts(&items, period, today, q.drills);
        let weeks: Vec<_> = spans.into_iter().zip(counts).collect();
        let (deploys, links, linked, missing) =
            failure_facts(&failure_rows, &facts, |i| period.contains(i.detected_at));
        incidents.extend(linked);
        incidents.extend(&missing);
        let weeks = report::weekly_trend(&weeks, &incidents, &deploys, &links, q.drills);
        Ok(IncidentReport {
            period,
            group_by,
            drills: q.drills,
            groups,
            action_items,
            weeks,
        })
    }

    /// The change failure rate and failed deployment recovery time of the deploys made in the
    /// period (of one service, when given).
    pub async fn dora_report(
        &self,
        q: &ReportQuery,
        service: Option<Name>,
    ) -> Result<DoraReport, EngineError> {
        let period = self.period_of(q)?;
        if let Some(s) = &service
            && self.store.get_service(s).await?.is_none()
        {
            return Err(invalid("service", format!("there is no service `{s}`")));
        }
        let (counts, facts) = tokio::try_join!(
            self.store
                .deploy_counts(period.from, period.to, service.as_ref(), q.drills),
            self.report_facts(),
        )?;
        let failure_rows: Vec<&DeployFailureRow> = facts
            .failures_in(period, service.as_ref(), q.drills)
            .collect();
        let count: u64 = counts.iter().map(|(_, n)| n).sum();
        let (deploys, links, mut incidents, missing) =
            failure_facts(&failure_rows, &facts, |_| false);
        incidents.extend(&missing);
        let dora = report::dora(count, &deploys, &links, &incidents, period, q.drills);
        let mut versions = foldhash::HashMap::with_capacity(failure_rows.len());
        versions.extend(failure_rows.iter().map(|r| (r.deploy, r.version.clone())));
        Ok(DoraReport {
            period,
            service,
            drills: q.drills,
            dora,
            deploys_by_service: counts,
            versions,
        })
    }
}
