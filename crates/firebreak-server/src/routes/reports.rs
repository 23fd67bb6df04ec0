//! The reports: incident response times (MTTA, time to mitigate, MTTR) per period, service
//! and severity, and the DORA recovery metrics. Durations are whole seconds; every figure comes
//! with the incidents or deploys it counted.

use axum::Json;
use axum::extract::State;
use axum::response::IntoResponse;
use firebreak_domain::report::{GroupBy, Stat};
use firebreak_engine::Firebreak;
use firebreak_engine::review::reports::{DoraReport, IncidentReport, ReportQuery};
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::extract::{ApiQuery, Caller, Viewer};
use crate::fields::{NameText, Time};
use crate::problem::ApiError;

/// How to split a period's incidents.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum GroupByName {
    Service,
    Severity,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct IncidentReportQuery {
    /// The start of the period (inclusive); 30 days before `to` when left out.
    pub from: Option<Time>,
    /// The end of the period (exclusive); now when left out.
    pub to: Option<Time>,
    /// One group per service or per severity; one group `all` when left out.
    pub group_by: Option<GroupByName>,
    /// Count drills too (they are left out otherwise).
    pub drills: Option<bool>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DoraQuery {
    /// The start of the period (inclusive); 30 days before `to` when left out.
    pub from: Option<Time>,
    /// The end of the period (exclusive); now when left out.
    pub to: Option<Time>,
    /// The deploys of one service only.
    pub service: Option<NameText>,
    /// Count incidents that are drills too (they are left out otherwise).
    pub drills: Option<bool>,
}

/// Durations in seconds: how many values, their mean, nearest-rank p50 and p90, min and max.
/// Null when there is no value.
#[derive(Debug, Serialize, ToSchema)]
pub struct StatBody {
    pub count: u64,
    pub mean: Option<i64>,
    pub p50: Option<i64>,
    pub p90: Option<i64>,
    pub min: Option<i64>,
    pub max: Option<i64>,
}

impl From<&Stat> for StatBody {
    fn from(s: &Stat) -> Self {
        StatBody {
            count: s.count,
            mean: s.mean,
            p50: s.p50,
            p90: s.p90,
            min: s.min,
            max: s.max,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ItemCountsBody {
    /// Created in the period.
    pub opened: u64,
    /// Done in the period.
    pub done: u64,
    /// Open now and due before today.
    pub overdue: u64,
}

/// One group of incidents: a service, a severity, or `all`.
#[derive(Debug, Serialize, ToSchema)]
pub struct GroupBody {
    /// The service, the severity, `all`, or `no service`.
    pub key: String,
    /// Incidents detected in the period.
    pub incidents: u64,
    pub resolved: u64,
    /// From detection (the first alert, or the declaration) to the first acknowledgement.
    pub mtta: StatBody,
    /// From detection to mitigation (resolution when no mitigation was recorded).
    pub time_to_mitigate: StatBody,
    /// From detection to resolution.
    pub mttr: StatBody,
    /// Resolved incidents whose postmortem is published.
    pub postmortems_published: u64,
    /// `postmortems_published / resolved`; null when none resolved.
    pub postmortem_share: Option<f64>,
    /// The action items of the group's incidents.
    pub action_items: ItemCountsBody,
    /// The incidents counted (`INC-n`).
    pub numbers: Vec<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SeverityCountBody {
    pub severity: String,
    pub incidents: u64,
}

/// One week of the trend, Monday 00:00 UTC to the next, cut to the period.
#[derive(Debug, Serialize, ToSchema)]
pub struct WeekBody {
    /// The week's Monday, `YYYY-MM-DD`.
    pub week: String,
    #[schema(value_type = String, format = DateTime)]
    pub start: Timestamp,
    #[schema(value_type = String, format = DateTime)]
    pub end: Timestamp,
    pub incidents: u64,
    pub by_severity: Vec<SeverityCountBody>,
    pub mtta: StatBody,
    pub mttr: StatBody,
    pub deploys: u64,
    pub failed_deploys: u64,
    pub change_failure_rate: Option<f64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct IncidentReportBody {
    #[schema(value_type = String, format = DateTime)]
    pub from: Timestamp,
    #[schema(value_type = String, format = DateTime)]
    pub to: Timestamp,
    /// `service`, `severity`, or null for one group `all`.
    pub group_by: Option<GroupByName>,
    pub drills: bool,
    pub groups: Vec<GroupBody>,
    /// Every action item of the period, with or without an incident.
    pub action_items: ItemCountsBody,
    pub weeks: Vec<WeekBody>,
}

/// A deploy that led to an incident.
#[derive(Debug, Serialize, ToSchema)]
pub struct FailedDeployBody {
    pub deploy: i64,
    pub service: String,
    pub version: String,
    #[schema(value_type = String, format = DateTime)]
    pub at: Timestamp,
    /// The incidents it led to (`INC-n`).
    pub incidents: Vec<String>,
    /// True when a rollback undid it (otherwise it is an incident's suspect deploy).
    pub rolled_back: bool,
    /// The earliest mitigation of its incidents.
    #[schema(value_type = Option<String>, format = DateTime)]
    pub mitigated_at: Option<Timestamp>,
    /// Seconds from the deploy to that mitigation; null while none is mitigated.
    pub recovery_seconds: Option<i64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ServiceDeploysBody {
    pub service: String,
    /// Deploys in the period, rollbacks left out.
    pub deploys: u64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DoraBody {
    #[schema(value_type = String, format = DateTime)]
    pub from: Timestamp,
    #[schema(value_type = String, format = DateTime)]
    pub to: Timestamp,
    pub service: Option<String>,
    pub drills: bool,
    /// Deploys in the period; rollbacks are remediation and counted in neither figure.
    pub deploys: u64,
    /// Deploys that led to at least one incident.
    pub failed_deploys: u64,
    /// `failed_deploys / deploys`, 0 to 1; null without deploys.
    pub change_failure_rate: Option<f64>,
    /// Failed deployment recovery time: from each failed deploy to its incident's mitigation.
    pub recovery: StatBody,
    pub failures: Vec<FailedDeployBody>,
    pub deploys_by_service: Vec<ServiceDeploysBody>,
}

fn query(from: Option<Time>, to: Option<Time>, drills: Option<bool>) -> ReportQuery {
    ReportQuery {
        from: from.map(|t| t.0),
        to: to.map(|t| t.0),
        drills: drills.unwrap_or(false),
    }
}

#[cfg(test)]
fn failures(
    d: &firebreak_domain::report::Dora,
    versions: &foldhash::HashMap<i64, String>,
) -> Vec<FailedDeployBody> {
    d.failures
        .iter()
        .map(|f| FailedDeployBody {
            deploy: f.deploy,
            service: f.service.to_string(),
            version: versions.get(&f.deploy).cloned().unwrap_or_default(),
            at: f.at,
            incidents: f.incidents.iter().map(|n| n.to_string()).collect(),
            rolled_back: f.rolled_back,
            mitigated_at: f.mitigated_at,
            recovery_seconds: f.recovery,
        })
        .collect()
}

fn incident_body(r: IncidentReport, group_by: Option<GroupByName>) -> IncidentReportBody {
    let counts = |c: &firebreak_domain::report::ActionItemCounts| ItemCountsBody {
        opened: c.opened,
        done: c.done,
        overdue: c.overdue,
    };
    IncidentReportBody {
        from: r.period.from,
        to: r.period.to,
        group_by,
        drills: r.drills,
        groups: r
            .groups
            .iter()
            .map(|g| GroupBody {
                key: g.key.label().to_string(),
                incidents: g.incidents,
                resolved: g.resolved,
                mtta: (&g.acknowledge).into(),
                time_to_mitigate: (&g.mitigate).into(),
                mttr: (&g.resolve).into(),
                postmortems_published: g.postmortems_published,
                postmortem_share: g.postmortem_share,
                action_items: counts(&g.action_items),
                numbers: g.numbers.iter().map(|n| n.to_string()).collect(),
            })
            .collect(),
        action_items: counts(&r.action_items),
        weeks: r
            .weeks
            .iter()
            .map(|w| WeekBody {
                week: w.span.monday.to_string(),
                start: w.span.start,
                end: w.span.end,
                incidents: w.incidents,
                by_severity: w
                    .by_severity
                    .iter()
                    .map(|s| SeverityCountBody {
                        severity: s.severity.clone(),
                        incidents: s.incidents,
                    })
                    .collect(),
                mtta: (&w.acknowledge).into(),
                mttr: (&w.resolve).into(),
                deploys: w.dora.deploys,
                failed_deploys: w.dora.failed_deploys,
                change_failure_rate: w.dora.change_failure_rate,
            })
            .collect(),
    }
}

#[cfg(test)]
fn dora_body(r: DoraReport) -> DoraBody {
    DoraBody {
        from: r.period.from,
        to: r.period.to,
        service: r.service.map(|s| s.to_string()),
        drills: r.drills,
        deploys: r.dora.deploys,
        failed_deploys: r.dora.failed_deploys,
        change_failure_rate: r.dora.change_failure_rate,
        recovery: (&r.dora.recovery).into(),
        failures: failures(&r.dora, &r.versions),
        deploys_by_service: r
            .deploys_by_service
            .into_iter()
            .map(|(service, deploys)| ServiceDeploysBody {
                service: service.to_string(),
                deploys,
            })
            .collect(),
    }
}

/// The DORA answer as written: [`DoraBody`]'s fields in its order, borrowed from the report.
/// Two years list ~90,000 failed deploys; copying each one's service, version and incident
/// labels into owned strings first cost more than writing them.
#[derive(Serialize)]
struct DoraView<'a> {
    from: Timestamp,
    to: Timestamp,
    service: Option<&'a str>,
    drills: bool,
    deploys: u64,
    failed_deploys: u64,
    change_failure_rate: Option<f64>,
    recovery: StatBody,
    failures: FailuresView<'a>,
    deploys_by_service: Vec<ServiceDeploysView<'a>>,
}

/// [`FailedDeployBody`], borrowed.
#[derive(Serialize)]
struct FailedDeployView<'a> {
    deploy: i64,
    service: &'a str,
    version: &'a str,
    at: Timestamp,
    incidents: Labels<'a>,
    rolled_back: bool,
    mitigated_at: Option<Timestamp>,
    recovery_seconds: Option<i64>,
}

/// [`ServiceDeploysBody`], borrowed.
#[derive(Serialize)]
struct ServiceDeploysView<'a> {
    service: &'a str,
    deploys: u64,
}

/// The failed deploys of a report, each written as it is reached.
struct FailuresView<'a>(&'a DoraReport);

impl Serialize for FailuresView<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeSeq;
        let r = self.0;
        let mut seq = serializer.serialize_seq(Some(r.dora.failures.len()))?;
        for f in &r.dora.failures {
            seq.serialize_element(&FailedDeployView {
                deploy: f.deploy,
                service: f.service.as_str(),
                version: r.versions.get(&f.deploy).map_or("", String::as_str),
                at: f.at,
                incidents: Labels(&f.incidents),
                rolled_back: f.rolled_back,
                mitigated_at: f.mitigated_at,
                recovery_seconds: f.recovery,
            })?;
        }
        seq.end()
    }
}

/// Incident numbers written as their labels (`INC-n`).
struct Labels<'a>(&'a [firebreak_domain::IncidentNumber]);

impl Serialize for Labels<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.0.iter().map(|n| Label(*n)))
    }
}

struct Label(firebreak_domain::IncidentNumber);

impl Serialize for Label {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(&self.0)
    }
}

fn dora_view(r: &DoraReport) -> DoraView<'_> {
    DoraView {
        from: r.period.from,
        to: r.period.to,
        service: r.service.as_ref().map(|s| s.as_str()),
        drills: r.drills,
        deploys: r.dora.deploys,
        failed_deploys: r.dora.failed_deploys,
        change_failure_rate: r.dora.change_failure_rate,
        recovery: (&r.dora.recovery).into(),
        failures: FailuresView(r),
        deploys_by_service: r
            .deploys_by_service
            .iter()
            .map(|(service, deploys)| ServiceDeploysView {
                service: service.as_str(),
                deploys: *deploys,
            })
            .collect(),
    }
}

/// Incident response times and follow-through over a period: count, MTTA, time to mitigate,
/// MTTR (mean, p50, p90), the share with a published postmortem, action items, and a weekly
/// trend. Drills are left out unless `drills=true`.
#[utoipa::path(get, path = "/api/v1/reports/incidents", tag = "reports", params(IncidentReportQuery),
    security(("bearer" = ["viewer"])),
    responses((status = 200, body = IncidentReportBody)))]
pub async fn incidents(
    _c: Caller<Viewer>,
    State(app): State<Firebreak>,
    ApiQuery(q): ApiQuery<IncidentReportQuery>,
) -> Result<Json<IncidentReportBody>, ApiError> {
    let group_by = match q.group_by {
        None => GroupBy::All,
        Some(GroupByName::Service) => GroupBy::Service,
        Some(GroupByName::Severity) => GroupBy::Severity,
    };
    let report = app
        .incident_report(&query(q.from, q.to, q.drills), group_by)
        .await?;
    Ok(Json(incident_body(report, q.group_by)))
}

/// The DORA recovery metrics of the deploys made in a period: the change failure rate (deploys
/// that led to an incident, as its suspect deploy or undone by a rollback, over all deploys;
/// rollbacks count in neither) and the failed deployment recovery time, with the failed
/// deploys and their incidents listed.
#[utoipa::path(get, path = "/api/v1/reports/dora", tag = "reports", params(DoraQuery),
    security(("bearer" = ["viewer"])),
    responses((status = 200, body = DoraBody)))]
pub async fn dora(
    _c: Caller<Viewer>,
    State(app): State<Firebreak>,
    ApiQuery(q): ApiQuery<DoraQuery>,
) -> Result<impl IntoResponse, ApiError> {
    let report = app
        .dora_report(&query(q.from, q.to, q.drills), q.service.map(|s| s.0))
        .await?;
    // A failed deploy is about 200 bytes of JSON, and two years list ~90,000: written into a
    // buffer of about the right size, not one grown (and copied) from 128 bytes.
    let mut out = Vec::with_capacity(1024 + report.dora.failures.len() * 224);
    serde_json::to_writer(&mut out, &dora_view(&report)).map_err(|e| {
        tracing::error!(error = %e, "the DORA report could not be written as JSON");
        ApiError::internal()
    })?;
    Ok((
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        out,
    ))
}

#[cfg(test)]
mod tests {
    use firebreak_domain::report::{Dora, FailedDeploy, Period};
    use firebreak_domain::{IncidentNumber, Name};

    use super::*;

    #[test]
    fn the_written_dora_answer_is_the_documented_body() {
        let at = |s: i64| Timestamp::from_second(1_800_000_000 + s).unwrap();
        let name = |s: &str| Name::parse(s).unwrap();
        let failed =
            |deploy: i64, service: &str, incidents: &[i64], recovery: Option<i64>| FailedDeploy {
                deploy,
                service: name(service),
                at: at(deploy),
                incidents: incidents.iter().map(|n| IncidentNumber(*n)).collect(),
                rolled_back: deploy % 2 == 0,
                mitigated_at: recovery.map(|r| at(deploy + r)),
                recovery,
            };
        for service in [None, Some(name("checkout"))] {
            let report = DoraReport {
                period: Period {
                    from: at(0),
                    to: at(86_400),
                },
                service: service.clone(),
                drills: service.is_some(),
                dora: Dora {
                    deploys: 7,
                    failed_deploys: 3,
                    change_failure_rate: Some(3.0 / 7.0),
                    recovery: Stat::of([60, 3600]),
                    failures: vec![
                        failed(1, "checkout", &[4], Some(60)),
                        failed(2, "checkout", &[5, 12], Some(3600)),
                        failed(3, "search", &[], None),
                    ],
                },
                deploys_by_service: vec![(name("checkout"), 5), (name("search"), 2)],
                versions: [(1, "v1".to_string()), (2, "v2 \"rc\" \u{e9}".to_string())]
                    .into_iter()
                    .collect(),
            };
            let written = serde_json::to_string(&dora_view(&report)).unwrap();
            let documented = serde_json::to_string(&dora_body(report)).unwrap();
            assert_eq!(written, documented);
        }
    }
}
