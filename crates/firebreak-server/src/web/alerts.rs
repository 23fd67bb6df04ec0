//! The alerts page: a live list with acknowledge and resolve, and a silence made from an
//! alert with its matchers filled in.

use std::convert::Infallible;

use super::{Path, Query};
use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::sse::{Event, Sse};
use axum::response::{IntoResponse, Redirect, Response};
use firebreak_domain::{AlertStatus, Name};
use firebreak_engine::Firebreak;
use firebreak_store::AlertFilter;
use futures_util::Stream;
use jiff::SignedDuration;
use serde::Deserialize;

use super::panels::AlertRow;
use super::session::{Posted, Signed};
use super::{Frame, WebError, html, when};
use crate::extract::{Responder, Viewer};

#[derive(Deserialize, Default, Clone)]
pub struct AlertsQuery {
    /// `open` (default: triggered and acknowledged), `triggered`, `resolved` or `all`.
    show: Option<String>,
    service: Option<String>,
}

struct AlertsList {
    rows: Vec<AlertRow>,
    csrf: String,
    responder: bool,
    query: String,
}

#[derive(Template)]
#[template(path = "web/alerts.html")]
struct AlertsPage {
    frame: Frame,
    list: AlertsList,
    show: String,
    service: String,
    services: Vec<String>,
    /// The silences in force or waiting to start.
    silences: Vec<SilenceRow>,
}

/// A silence as the alerts page lists it.
struct SilenceRow {
    id: i64,
    matchers: Vec<String>,
    /// `until 2026-12-03 16:40 UTC`, or `from ... until ...` for one that has not started.
    when: String,
    comment: String,
    by: String,
}

#[derive(Template)]
#[template(path = "web/alerts_list.html")]
struct AlertsListFragment {
    list: AlertsList,
}

async fn alerts_list(
    app: &Firebreak,
    q: &AlertsQuery,
    csrf: &str,
    responder: bool,
) -> Result<AlertsList, WebError> {
    let now = app.clock.now();
    let show = q.show.clone().unwrap_or_else(|| "open".into());
    let status = match show.as_str() {
        "triggered" => Some(AlertStatus::Open),
        "resolved" => Some(AlertStatus::Resolved),
        _ => None,
    };
    let service = q
        .service
        .clone()
        .filter(|s| !s.is_empty())
        .map(|s| {
            Name::parse(&s).map_err(|_| WebError::Invalid(format!("`{s}` is not a service name")))
        })
        .transpose()?;
    let filter = AlertFilter {
        status,
        service: service.clone(),
        ..Default::default()
    };
    let rows = app
        .list_alerts(&filter, None, 200)
        .await?
        .items
        .iter()
        .filter(|a| show != "open" || a.status != AlertStatus::Resolved)
        .map(|a| AlertRow::of(a, now))
        .collect();
    let query = serde_urlencoded::to_string([
        ("show", show.as_str()),
        (
            "service",
            service.as_ref().map(|s| s.as_str()).unwrap_or(""),
        ),
    ])
    .unwrap_or_default();
    Ok(AlertsList {
        rows,
        csrf: csrf.to_string(),
        responder,
        query,
    })
}

/// `GET /alerts`.
pub async fn page(
    State(app): State<Firebreak>,
    Query(q): Query<AlertsQuery>,
    Signed { me, csrf, .. }: Signed<Viewer>,
) -> Result<Response, WebError> {
    let frame = Frame::new(&me, &csrf, "alerts");
    let list = alerts_list(&app, &q, &csrf, frame.responder).await?;
    let services = app
        .list_services()
        .await?
        .into_iter()
        .map(|s| s.name.to_string())
        .collect();
    let now = app.clock.now();
    let silences = app
        .list_silences(false)
        .await?
        .into_iter()
        .map(|s| SilenceRow {
            id: s.id,
            matchers: s.matchers.iter().map(|m| m.to_string()).collect(),
            when: if s.starts_at > now {
                format!("from {} until {}", when(s.starts_at), when(s.ends_at))
            } else {
                format!("until {}", when(s.ends_at))
            },
            comment: s.comment,
            by: s.created_by,
        })
        .collect();
    Ok(html(
        StatusCode::OK,
        AlertsPage {
            frame,
            list,
            show: q.show.clone().unwrap_or_else(|| "open".into()),
            service: q.service.clone().unwrap_or_default(),
            services,
            silences,
        }
        .render(),
    ))
}

/// `GET /alerts/list`: the list alone, for htmx to swap in when alerts change.
pub async fn list(
    State(app): State<Firebreak>,
    Query(q): Query<AlertsQuery>,
    Signed { me, csrf, .. }: Signed<Viewer>,
) -> Result<Response, WebError> {
    let responder = me
        .principal
        .role
        .allows(firebreak_domain::AccessRole::Responder);
    let list = alerts_list(&app, &q, &csrf, responder).await?;
    Ok(html(StatusCode::OK, AlertsListFragment { list }.render()))
}

/// `GET /alerts/live`: a `changed` event whenever an alert changes.
pub async fn live(
    State(app): State<Firebreak>,
    headers: axum::http::HeaderMap,
    _signed: Signed<Viewer>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, WebError> {
    let access =
        crate::routes::streams::Access::of(&app, &headers, firebreak_domain::AccessRole::Viewer)
            .ok_or(WebError::SignIn {
                next: "/alerts".into(),
            })?;
    Ok(crate::routes::streams::event_stream(
        AlertEvents {
            watch: app.watch_changes(),
            pace: crate::routes::streams::Pace::new(std::time::Duration::from_secs(1)),
        },
        access,
    ))
}

/// `changed` when a commit changed an alert: at once, then at most once a second during a
/// storm, and always once after the last change.
struct AlertEvents {
    watch: firebreak_engine::live::ChangeWatch,
    pace: crate::routes::streams::Pace,
}

impl crate::routes::streams::Batches for AlertEvents {
    async fn next_batch(&mut self) -> Result<Option<Vec<Event>>, firebreak_engine::EngineError> {
        let changed = || vec![Event::default().event("changed").data("alerts")];
        loop {
            let Ok(next) = self.pace.or_due(self.watch.next()).await else {
                return Ok(Some(changed()));
            };
            let Some(changes) = next? else {
                return Ok(None);
            };
            if changes
                .iter()
                .any(|c| matches!(c, firebreak_engine::live::LiveChange::Alert(_)))
                && self.pace.changed()
            {
                return Ok(Some(changed()));
            }
        }
    }
}

#[derive(Template)]
#[template(path = "web/silence.html")]
struct SilencePage {
    frame: Frame,
    id: i64,
    summary: String,
    matchers: String,
}

/// `GET /alerts/{id}/silence`: a silence form with the alert's matchers filled in.
pub async fn silence_form(
    State(app): State<Firebreak>,
    Path(id): Path<i64>,
    Signed { me, csrf, .. }: Signed<Responder>,
) -> Result<Response, WebError> {
    let alert = app.alert(id).await?;
    let mut matchers = vec![format!("service=\"{}\"", alert.service)];
    for key in ["alertname", "instance", "job"] {
        if let Some(v) = alert.labels.get(key) {
            matchers.push(format!(
                "{key}=\"{}\"",
                v.replace('\\', "\\\\").replace('"', "\\\"")
            ));
        }
    }
    Ok(html(
        StatusCode::OK,
        SilencePage {
            frame: Frame::new(&me, &csrf, "alerts"),
            id,
            summary: alert.summary,
            matchers: matchers.join("\n"),
        }
        .render(),
    ))
}

#[derive(Deserialize)]
pub struct SilenceForm {
    matchers: String,
    /// `1h`, `4h`, `1d`...
    duration: String,
    comment: String,
}

/// `POST /silences`: creates a silence from the form.
pub async fn create_silence(
    State(app): State<Firebreak>,
    Posted { me, form, .. }: Posted<Responder, SilenceForm>,
) -> Result<Response, WebError> {
    let matchers: Vec<String> = form
        .matchers
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect();
    let duration = form
        .duration
        .trim()
        .parse::<SignedDuration>()
        .ok()
        .filter(|d| d.is_positive() && *d <= SignedDuration::from_hours(24 * 90))
        .ok_or_else(|| {
            WebError::Invalid("duration: choose how long the silence lasts, at most 90 days".into())
        })?;
    let ends = app
        .clock
        .now()
        .saturating_add(duration)
        .map_err(|_| WebError::Invalid("duration: too long".into()))?;
    app.create_silence(&me.principal, &matchers, None, ends, &form.comment)
        .await?;
    Ok(Redirect::to("/alerts#silences").into_response())
}
