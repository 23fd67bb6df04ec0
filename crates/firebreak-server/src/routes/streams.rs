//! Server-sent event streams: one incident's timeline and state, and every incident and alert
//! change. They take an API token or a signed-in browser's session (EventSource sends the
//! cookie and no other header).

use std::collections::VecDeque;
use std::convert::Infallible;
use std::time::Duration;

use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use firebreak_engine::Firebreak;
use firebreak_engine::live::LiveChange;
use futures_util::Stream;
use serde::Deserialize;
use utoipa::IntoParams;

use crate::extract::{Caller, Viewer};
use crate::problem::{ApiError, Problem};
use crate::routes::incidents::number;
use crate::wire::{AlertBody, IncidentBody, TimelineEntryBody};

/// A comment line every 15 s keeps proxies from closing a quiet stream.
const KEEP_ALIVE: Duration = Duration::from_secs(15);

#[derive(Debug, Deserialize, IntoParams)]
pub struct EventsQuery {
    /// Start after this timeline `seq` (0: the whole timeline). `Last-Event-ID` wins when a
    /// client reconnects.
    pub after: Option<i64>,
}

fn json_event(kind: &str, body: impl serde::Serialize) -> Event {
    Event::default()
        .event(kind)
        .data(serde_json::to_string(&body).unwrap_or_else(|_| "{}".into()))
}

/// One incident, live: each timeline entry as a `timeline` event whose id is its `seq`, and
/// the incident itself as an `incident` event when it changes. A client that reconnects with
/// `Last-Event-ID` gets every entry after it, so nothing is lost.
#[utoipa::path(get, path = "/api/v1/incidents/{id}/events", tag = "incidents",
    params(("id" = String, Path, description = "INC-7 or 7"), EventsQuery,
        ("Last-Event-ID" = Option<i64>, Header, description = "The last timeline seq received")),
    security(("bearer" = ["viewer"])),
    responses((status = 200, content_type = "text/event-stream", body = String,
        description = "`timeline` events (data: a timeline entry, id: its seq) and `incident` events (data: the incident)"),
        (status = 404, body = Problem)))]
pub async fn incident_events(
    _caller: Caller<Viewer>,
    State(app): State<Firebreak>,
    Path(id): Path<String>,
    Query(q): Query<EventsQuery>,
    headers: HeaderMap,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    let n = number(&id)?;
    let from = crate::web::room::resume_from(&headers, q.after);
    let watch = app.watch_incident(n, from).await?;
    let config = app.config.clone();
    let stream = futures_util::stream::unfold(
        (watch, VecDeque::<Event>::new()),
        move |(mut watch, mut queue)| {
            let config = config.clone();
            async move {
                loop {
                    if let Some(event) = queue.pop_front() {
                        return Some((Ok(event), (watch, queue)));
                    }
                    match watch.next().await {
                        Ok(Some(batch)) => {
                            for e in batch.entries {
                                let seq = e.seq;
                                queue.push_back(
                                    json_event("timeline", TimelineEntryBody::from(e))
                                        .id(seq.to_string()),
                                );
                            }
                            if let Some(i) = batch.incident {
                                queue.push_back(json_event(
                                    "incident",
                                    IncidentBody::from(i, &config),
                                ));
                            }
                        }
                        Ok(None) => return None,
                        Err(e) => {
                            tracing::warn!(error = %e, "an events stream stopped; the client reconnects");
                            return None;
                        }
                    }
                }
            }
        },
    );
    Ok(Sse::new(stream).keep_alive(KeepAlive::new().interval(KEEP_ALIVE)))
}

/// Every incident and alert change from now on: `incident` and `alert` events with the
/// object as it is after the change.
#[utoipa::path(get, path = "/api/v1/events", tag = "incidents",
    security(("bearer" = ["viewer"])),
    responses((status = 200, content_type = "text/event-stream", body = String,
        description = "`incident` events (data: the incident) and `alert` events (data: the alert)")))]
pub async fn all_events(
    _caller: Caller<Viewer>,
    State(app): State<Firebreak>,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let watch = app.watch_changes();
    let config = app.config.clone();
    let stream = futures_util::stream::unfold(
        (watch, VecDeque::<Event>::new()),
        move |(mut watch, mut queue)| {
            let config = config.clone();
            async move {
                loop {
                    if let Some(event) = queue.pop_front() {
                        return Some((Ok(event), (watch, queue)));
                    }
                    match watch.next().await {
                        Ok(Some(changes)) => {
                            for c in changes {
                                queue.push_back(match c {
                                    LiveChange::Incident(i) => {
                                        json_event("incident", IncidentBody::from(i, &config))
                                    }
                                    LiveChange::Alert(a) => json_event("alert", AlertBody::from(a)),
                                });
                            }
                        }
                        Ok(None) => return None,
                        Err(e) => {
                            tracing::warn!(error = %e, "an events stream stopped; the client reconnects");
                            return None;
                        }
                    }
                }
            }
        },
    );
    Sse::new(stream).keep_alive(KeepAlive::new().interval(KEEP_ALIVE))
}
