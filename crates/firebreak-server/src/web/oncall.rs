//! The on-call page: who is on call now for each schedule, the next handoffs, my shifts, a
//! week of each schedule's final shifts, and "add override".

use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use firebreak_domain::Name;
use firebreak_engine::Firebreak;
use jiff::{SignedDuration, Timestamp};
use serde::Deserialize;

use super::session::{Posted, Signed};
use super::{Frame, WebError, html};
use crate::extract::{Responder, Viewer};

/// How far ahead the page looks.
const WEEK: SignedDuration = SignedDuration::from_hours(24 * 7);

pub struct ShiftRow {
    pub schedule: String,
    pub user: String,
    pub start: String,
    pub end: String,
    pub mine: bool,
}

pub(crate) struct ScheduleView {
    name: String,
    time_zone: String,
    now: String,
    until: String,
    week: Vec<ShiftRow>,
}

#[derive(Template)]
#[template(path = "web/oncall.html")]
struct OnCallPage {
    frame: Frame,
    schedules: Vec<ScheduleView>,
    mine: Vec<ShiftRow>,
    users: Vec<String>,
    notice: Option<String>,
}

/// A shift's edge in the schedule's own time zone: `Mon 09:00`, or with the date when it is
/// not this week.
fn local(at: Timestamp, tz: &jiff::tz::TimeZone) -> String {
    at.to_zoned(tz.clone())
        .strftime("%a %b %-d %H:%M")
        .to_string()
}

/// The final shifts of every schedule over the next week, and who is on call now.
pub(crate) async fn week(
    app: &Firebreak,
    me: &str,
) -> Result<Vec<(ScheduleView, Vec<ShiftRow>)>, WebError> {
    let now = app.clock.now();
    let end = now.saturating_add(WEEK).unwrap_or(now);
    let mut out = Vec::new();
    for record in app.schedules().await? {
        let schedule = &record.schedule;
        let tz = schedule.time_zone.clone();
        let shifts = app.shifts(&schedule.name, now, end).await?;
        let current = shifts.iter().find(|s| s.start <= now && now < s.end);
        let rows: Vec<ShiftRow> = shifts
            .iter()
            .map(|s| ShiftRow {
                schedule: schedule.name.to_string(),
                user: s.user.to_string(),
                start: local(s.start, &tz),
                end: local(s.end, &tz),
                mine: s.user.as_str() == me,
            })
            .collect();
        let mine = rows
            .iter()
            .filter(|r| r.mine)
            .map(|r| ShiftRow {
                schedule: r.schedule.clone(),
                user: r.user.clone(),
                start: r.start.clone(),
                end: r.end.clone(),
                mine: true,
            })
            .collect();
        out.push((
            ScheduleView {
                name: schedule.name.to_string(),
                time_zone: schedule.time_zone_name.clone(),
                now: current.map(|s| s.user.to_string()).unwrap_or_default(),
                until: current.map(|s| local(s.end, &tz)).unwrap_or_default(),
                week: rows,
            },
            mine,
        ));
    }
    Ok(out)
}

#[derive(Deserialize, Default)]
pub struct OnCallQuery {
    covered: Option<String>,
}

/// `GET /oncall`.
pub async fn page(
    State(app): State<Firebreak>,
    super::Query(q): super::Query<OnCallQuery>,
    Signed { me, csrf, .. }: Signed<Viewer>,
) -> Result<Response, WebError> {
    let handle = me.session.user.to_string();
    let mut schedules = Vec::new();
    let mut mine = Vec::new();
    for (view, my) in week(&app, &handle).await? {
        schedules.push(view);
        mine.extend(my);
    }
    let users = app
        .list_users()
        .await?
        .into_iter()
        .filter(|u| u.disabled_at.is_none())
        .map(|u| u.handle.to_string())
        .collect();
    Ok(html(
        StatusCode::OK,
        OnCallPage {
            frame: Frame::new(&me, &csrf, "oncall"),
            schedules,
            mine,
            users,
            notice: q
                .covered
                .filter(|s| Name::parse(s).is_ok())
                .map(|s| format!("The override on {s} is in place.")),
        }
        .render(),
    ))
}

#[derive(Deserialize)]
pub struct OverrideForm {
    schedule: String,
    user: String,
    /// When the cover starts, `YYYY-MM-DDTHH:MM` in UTC; empty for now.
    #[serde(default)]
    start: String,
    /// How long, in hours.
    hours: String,
}

/// `POST /oncall/overrides`: someone covers a schedule for a while.
pub async fn add_override(
    State(app): State<Firebreak>,
    Posted { me, form, .. }: Posted<Responder, OverrideForm>,
) -> Result<Response, WebError> {
    let schedule = Name::parse(form.schedule.trim())
        .map_err(|_| WebError::Invalid("schedule: choose a schedule".into()))?;
    let user = Name::parse(form.user.trim())
        .map_err(|_| WebError::Invalid("user: choose who covers".into()))?;
    let start = if form.start.trim().is_empty() {
        app.clock.now()
    } else {
        let text = form.start.trim();
        jiff::civil::DateTime::strptime("%Y-%m-%dT%H:%M", text)
            .ok()
            .and_then(|dt| dt.to_zoned(jiff::tz::TimeZone::UTC).ok())
            .map(|z| z.timestamp())
            .ok_or_else(|| {
                WebError::Invalid(format!(
                    "start: `{text}` is not a time like 2026-12-24T18:00 (UTC)"
                ))
            })?
    };
    let hours: i64 = form
        .hours
        .trim()
        .parse()
        .ok()
        .filter(|h| (1..=24 * 31).contains(h))
        .ok_or_else(|| WebError::Invalid("hours: a whole number from 1 to 744".into()))?;
    let end = start
        .saturating_add(SignedDuration::from_hours(hours))
        .map_err(|_| WebError::Invalid("hours: too long".into()))?;
    app.add_override(&me.principal, &schedule, user, start, end)
        .await?;
    Ok(Redirect::to(&format!("/oncall?covered={schedule}")).into_response())
}
