//! The reports page: how the response went over the last 30, 90 or 365 days. Weekly trends as
//! server-drawn SVG charts (`charts.rs`: time to acknowledge and resolve, incidents by
//! severity, change failure rate), and the tables behind them: response times per severity and
//! per service, the DORA figures with the failed deploys and their incidents, and the action
//! items. The engine computes every figure; this page only lays them out.

use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use firebreak_domain::report::{Group, GroupBy, Stat, Week};
use firebreak_engine::Firebreak;
use firebreak_engine::review::reports::ReportQuery;
use jiff::SignedDuration;
use serde::Deserialize;

use super::charts::{self, Chart, Series};
use super::session::Signed;
use super::{Frame, Query, WebError, html, when};
use crate::extract::Viewer;

/// The periods the page offers, in days.
const PERIODS: [i64; 3] = [30, 90, 365];
/// How many colours the severity series have; more severities reuse them.
const SEVERITY_COLOURS: usize = 6;

/// A duration in seconds as a person reads it: `45s`, `4m 10s`, `2h 5m`, `3d 4h`; `–` for none.
pub fn human(secs: Option<i64>) -> String {
    let Some(s) = secs else {
        return "–".into();
    };
    let s = s.max(0);
    match s {
        s if s < 60 => format!("{s}s"),
        s if s < 600 => match s % 60 {
            0 => format!("{}m", s / 60),
            r => format!("{}m {r}s", s / 60),
        },
        s if s < 3600 => format!("{}m", s / 60),
        s if s < 86_400 => match (s % 3600) / 60 {
            0 => format!("{}h", s / 3600),
            m => format!("{}h {m}m", s / 3600),
        },
        s => match (s % 86_400) / 3600 {
            0 => format!("{}d", s / 86_400),
            h => format!("{}d {h}h", s / 86_400),
        },
    }
}

/// A share (0 to 1) as a whole percentage: `50%`; `–` for none.
pub fn percent(share: Option<f64>) -> String {
    match share.filter(|s| s.is_finite()) {
        Some(s) => format!("{:.0}%", (s * 100.0).clamp(0.0, 100.0)),
        None => "–".into(),
    }
}

/// A statistic as the tables show it: mean, p50 and p90.
pub struct StatCell {
    mean: String,
    p50: String,
    p90: String,
    count: u64,
}

impl StatCell {
    fn of(s: &Stat) -> StatCell {
        StatCell {
            mean: human(s.mean),
            p50: human(s.p50),
            p90: human(s.p90),
            count: s.count,
        }
    }
}

pub struct GroupRow {
    label: String,
    incidents: u64,
    acknowledge: StatCell,
    mitigate: StatCell,
    resolve: StatCell,
    resolved: u64,
    published: u64,
    share: String,
}

impl GroupRow {
    fn of(g: &Group) -> GroupRow {
        GroupRow {
            label: g.key.label().to_string(),
            incidents: g.incidents,
            acknowledge: StatCell::of(&g.acknowledge),
            mitigate: StatCell::of(&g.mitigate),
            resolve: StatCell::of(&g.resolve),
            resolved: g.resolved,
            published: g.postmortems_published,
            share: percent(g.postmortem_share),
        }
    }
}

pub struct FailedRow {
    service: String,
    version: String,
    at: String,
    /// (number for the link, name).
    incidents: Vec<IncidentLink>,
    rolled_back: bool,
    recovery: String,
}

pub struct IncidentLink {
    id: i64,
    name: String,
}

/// A drawn chart and its legend, as the template shows it.
pub struct ChartView {
    svg: String,
    legend: Vec<charts::Legend>,
}

impl From<Chart> for ChartView {
    fn from(c: Chart) -> Self {
        ChartView {
            svg: c.svg,
            legend: c.legend,
        }
    }
}

#[derive(Template)]
#[template(path = "web/reports.html")]
struct ReportsPage {
    frame: Frame,
    days: i64,
    periods: Vec<i64>,
    from: String,
    to: String,
    times: ChartView,
    severities: ChartView,
    failure_rate: ChartView,
    by_severity: Vec<GroupRow>,
    by_service: Vec<GroupRow>,
    deploys: u64,
    failed_deploys: u64,
    change_failure_rate: String,
    recovery: StatCell,
    failed: Vec<FailedRow>,
    items_opened: u64,
    items_done: u64,
    items_overdue: u64,
    gamedays: Vec<GameDayRow>,
    /// The share of targets each finished game day passed, oldest first; `None` without one.
    gameday_trend: Option<ChartView>,
}

/// A game day of the period, as the reports page lists it.
pub struct GameDayRow {
    name: String,
    service: String,
    started: String,
    /// `5 of 7 passed`, or `running` while it is not finished.
    score: String,
    all_passed: bool,
    incident: Option<IncidentLink>,
}

/// How many game days the reports page lists at most.
const GAMEDAYS_SHOWN: u32 = 50;

impl GameDayRow {
    fn of(g: &firebreak_store::GameDayRecord) -> GameDayRow {
        GameDayRow {
            name: g.name.clone(),
            service: g.service.to_string(),
            started: when(g.started_at),
            score: match &g.card {
                Some(card) => format!("{} of {} passed", card.passed(), card.total()),
                None => "running".into(),
            },
            all_passed: g.card.as_ref().is_some_and(|c| c.all_passed()),
            incident: g.incident.map(|n| IncidentLink {
                id: n.0,
                name: n.to_string(),
            }),
        }
    }
}

/// The finished game days' scores as bars, oldest first: the share of targets each passed.
fn gameday_trend(gamedays: &[firebreak_store::GameDayRecord]) -> Option<Chart> {
    let finished: Vec<_> = gamedays
        .iter()
        .rev()
        .filter_map(|g| g.card.as_ref().map(|c| (g, c)))
        .collect();
    if finished.is_empty() {
        return None;
    }
    let labels: Vec<String> = finished
        .iter()
        .map(|(g, _)| g.started_at.strftime("%b %-d").to_string())
        .collect();
    Some(charts::bars(
        &charts::Frame {
            id: "chart-gamedays",
            title: "Game days: the share of targets each one passed, oldest first",
            unit: "%",
            x_labels: &labels,
        },
        &Series {
            label: "Targets passed".into(),
            class: "c-ack".into(),
            values: finished
                .iter()
                .map(|(_, c)| (c.total() > 0).then(|| c.passed() as f64 * 100.0 / c.total() as f64))
                .collect(),
        },
        10.0,
    ))
}

#[derive(Deserialize, Default)]
pub struct ReportsQuery {
    /// 30, 90 or 365.
    days: Option<i64>,
}

/// Minutes, for the time chart.
fn minutes(secs: Option<i64>) -> Option<f64> {
    secs.map(|s| s as f64 / 60.0)
}

/// The three weekly charts.
fn weekly_charts(weeks: &[Week]) -> (Chart, Chart, Chart) {
    let labels: Vec<String> = weeks
        .iter()
        .map(|w| w.span.monday.strftime("%b %-d").to_string())
        .collect();
    let times = charts::lines(
        &charts::Frame {
            id: "chart-times",
            title: "Weekly median time to acknowledge (MTTA) and to resolve (MTTR), in minutes",
            unit: "min",
            x_labels: &labels,
        },
        &[
            Series {
                label: "MTTA p50".into(),
                class: "c-ack".into(),
                values: weeks.iter().map(|w| minutes(w.acknowledge.p50)).collect(),
            },
            Series {
                label: "MTTR p50".into(),
                class: "c-resolve".into(),
                values: weeks.iter().map(|w| minutes(w.resolve.p50)).collect(),
            },
        ],
    );
    // Every week lists the same severities, in the same order.
    let names: Vec<String> = weeks
        .first()
        .map(|w| w.by_severity.iter().map(|s| s.severity.clone()).collect())
        .unwrap_or_default();
    let series: Vec<Series> = names
        .iter()
        .enumerate()
        .map(|(i, name)| Series {
            label: name.clone(),
            class: format!("c-sev-{}", i % SEVERITY_COLOURS),
            values: weeks
                .iter()
                .map(|w| {
                    w.by_severity
                        .iter()
                        .find(|s| s.severity == *name)
                        .map(|s| s.incidents as f64)
                })
                .collect(),
        })
        .collect();
    let severities = charts::stacked_bars(
        &charts::Frame {
            id: "chart-severities",
            title: "Incidents per week by severity",
            unit: "incidents",
            x_labels: &labels,
        },
        &series,
        true,
    );
    let failure_rate = charts::bars(
        &charts::Frame {
            id: "chart-cfr",
            title: "Change failure rate per week: the share of deploys that led to an incident",
            unit: "%",
            x_labels: &labels,
        },
        &Series {
            label: "Change failure rate".into(),
            class: "c-cfr".into(),
            values: weeks
                .iter()
                .map(|w| w.dora.change_failure_rate.map(|r| r * 100.0))
                .collect(),
        },
        10.0,
    );
    (times, severities, failure_rate)
}

/// `GET /reports?days=30|90|365`.
pub async fn page(
    State(app): State<Firebreak>,
    Query(q): Query<ReportsQuery>,
    Signed { me, csrf, .. }: Signed<Viewer>,
) -> Result<Response, WebError> {
    let days = q.days.unwrap_or(PERIODS[0]);
    if !PERIODS.contains(&days) {
        return Err(WebError::Invalid(format!(
            "days: a report covers the last 30, 90 or 365 days, not {days}"
        )));
    }
    let now = app.clock.now();
    let query = ReportQuery {
        from: Some(now - SignedDuration::from_hours(24 * days)),
        to: Some(now),
        drills: false,
    };
    let (by_severity, by_service, dora, gamedays) = tokio::try_join!(
        app.incident_report(&query, GroupBy::Severity),
        app.incident_report(&query, GroupBy::Service),
        app.dora_report(&query, None),
        // Those started in the period, up to and including this instant.
        app.list_gamedays(query.from, None, GAMEDAYS_SHOWN),
    )?;
    let (times, severities, failure_rate) = weekly_charts(&by_severity.weeks);
    let failed = dora
        .dora
        .failures
        .iter()
        .map(|f| FailedRow {
            service: f.service.to_string(),
            version: dora.versions.get(&f.deploy).cloned().unwrap_or_default(),
            at: when(f.at),
            incidents: f
                .incidents
                .iter()
                .map(|n| IncidentLink {
                    id: n.0,
                    name: n.to_string(),
                })
                .collect(),
            rolled_back: f.rolled_back,
            recovery: human(f.recovery),
        })
        .collect();
    Ok(html(
        StatusCode::OK,
        ReportsPage {
            frame: Frame::new(&me, &csrf, "reports"),
            days,
            periods: PERIODS.to_vec(),
            from: when(by_severity.period.from),
            to: when(by_severity.period.to),
            times: times.into(),
            severities: severities.into(),
            failure_rate: failure_rate.into(),
            by_severity: by_severity.groups.iter().map(GroupRow::of).collect(),
            by_service: by_service.groups.iter().map(GroupRow::of).collect(),
            deploys: dora.dora.deploys,
            failed_deploys: dora.dora.failed_deploys,
            change_failure_rate: percent(dora.dora.change_failure_rate),
            recovery: StatCell::of(&dora.dora.recovery),
            failed,
            items_opened: by_severity.action_items.opened,
            items_done: by_severity.action_items.done,
            items_overdue: by_severity.action_items.overdue,
            gameday_trend: gameday_trend(&gamedays).map(ChartView::from),
            gamedays: gamedays.iter().map(GameDayRow::of).collect(),
        }
        .render(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_in_the_largest_units_that_fit() {
        assert_eq!(human(None), "–");
        assert_eq!(human(Some(-5)), "0s");
        assert_eq!(human(Some(45)), "45s");
        assert_eq!(human(Some(250)), "4m 10s");
        assert_eq!(human(Some(240)), "4m");
        assert_eq!(human(Some(1_830)), "30m");
        assert_eq!(human(Some(7_500)), "2h 5m");
        assert_eq!(human(Some(7_200)), "2h");
        assert_eq!(human(Some(3 * 86_400 + 4 * 3600 + 59)), "3d 4h");
    }

    #[test]
    fn shares_are_whole_percentages() {
        assert_eq!(percent(Some(0.5)), "50%");
        assert_eq!(percent(Some(1.0 / 3.0)), "33%");
        assert_eq!(percent(None), "–");
        assert_eq!(percent(Some(f64::NAN)), "–");
    }
}
