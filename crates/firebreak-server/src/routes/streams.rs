//! Server-sent event streams: one incident's timeline and state, and every incident and alert
//! change. They take an API token or a signed-in browser's session (EventSource sends the
//! cookie and no other header).

use std::collections::VecDeque;
use std::convert::Infallible;
use std::time::Duration;

use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use firebreak_engine::live::{ChangeWatch, IncidentWatch, LiveChange};
use firebreak_engine::{EngineError, Firebreak};
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

/// A source of server-sent events, a batch at a time; `None` when it has ended (the server is
/// stopping).
pub(crate) trait Batches: Send + 'static {
    fn next_batch(
        &mut self,
    ) -> impl Future<Output = Result<Option<Vec<Event>>, EngineError>> + Send;
}

/// An event stream from `source`, with a comment every 15 s so proxies keep it open. A
/// failure ends the stream; the client reconnects (and resumes, where the events have ids).
pub(crate) fn event_stream<B: Batches>(
    source: B,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let stream = futures_util::stream::unfold(
        (source, VecDeque::<Event>::new()),
        |(mut source, mut queue)| async move {
            loop {
                if let Some(event) = queue.pop_front() {
                    return Some((Ok(event), (source, queue)));
                }
                match source.next_batch().await {
                    Ok(Some(events)) => queue.extend(events),
                    Ok(None) => return None,
                    Err(e) => {
                        tracing::warn!(error = %e, "an event stream stopped; the client reconnects");
                        return None;
                    }
                }
            }
        },
    );
    Sse::new(stream).keep_alive(KeepAlive::new().interval(KEEP_ALIVE))
}

fn json_event(kind: &str, body: impl serde::Serialize) -> Event {
    Event::default()
        .event(kind)
        .data(serde_json::to_string(&body).unwrap_or_else(|_| "{}".into()))
}

struct IncidentEvents {
    watch: IncidentWatch,
    config: std::sync::Arc<firebreak_domain::Config>,
}

impl Batches for IncidentEvents {
    async fn next_batch(&mut self) -> Result<Option<Vec<Event>>, EngineError> {
        let Some(batch) = self.watch.next().await? else {
            return Ok(None);
        };
        let mut events: Vec<Event> = batch
            .entries
            .into_iter()
            .map(|e| {
                let seq = e.seq;
                json_event("timeline", TimelineEntryBody::from(e)).id(seq.to_string())
            })
            .collect();
        if let Some(i) = batch.incident {
            events.push(json_event("incident", IncidentBody::from(i, &self.config)));
        }
        Ok(Some(events))
    }
}

struct ChangeEvents {
    watch: ChangeWatch,
    config: std::sync::Arc<firebreak_domain::Config>,
}

impl Batches for ChangeEvents {
    async fn next_batch(&mut self) -> Result<Option<Vec<Event>>, EngineError> {
        let Some(changes) = self.watch.next().await? else {
            return Ok(None);
        };
        Ok(Some(
            changes
                .into_iter()
                .map(|c| match c {
                    LiveChange::Incident(i) => {
                        json_event("incident", IncidentBody::from(i, &self.config))
                    }
                    LiveChange::Alert(a) => json_event("alert", AlertBody::from(a)),
                })
                .collect(),
        ))
    }
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
    Ok(event_stream(IncidentEvents {
        watch,
        config: app.config.clone(),
    }))
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
    event_stream(ChangeEvents {
        watch: app.watch_changes(),
        config: app.config.clone(),
    })
}
