//! Server-sent event streams: one incident's timeline and state, and every incident and alert
//! change. They take an API token or a signed-in browser's session (EventSource sends the
//! cookie and no other header).

use std::collections::VecDeque;
use std::convert::Infallible;
use std::time::Duration;

use firebreak_domain::AccessRole;

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

/// How often a stream checks again that whoever opened it may still read it.
const RECHECK: Duration = Duration::from_secs(5);

/// Who opened a stream: checked again while it runs, so signing out, a new password, a
/// revoked token, a disabled user or a lower role ends it.
pub(crate) struct Access {
    app: Firebreak,
    credential: Credential,
    role: AccessRole,
    checked: std::time::Instant,
}

enum Credential {
    Token(String),
    Session(String),
}

impl Access {
    /// The credential the request came with (a bearer token, else the session cookie), for
    /// a stream whose readers need `role`.
    pub(crate) fn of(app: &Firebreak, headers: &HeaderMap, role: AccessRole) -> Option<Access> {
        let bearer = headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|h| {
                h.strip_prefix("Bearer ")
                    .or_else(|| h.strip_prefix("bearer "))
            })
            .map(|t| Credential::Token(t.trim().to_string()));
        let credential = bearer.or_else(|| {
            crate::web::session::session_cookie(headers).map(|c| Credential::Session(c.to_string()))
        })?;
        Some(Access {
            app: app.clone(),
            credential,
            role,
            checked: std::time::Instant::now(),
        })
    }

    /// Whether the credential still allows the stream (checked at most every few seconds).
    async fn allowed(&mut self) -> bool {
        if self.checked.elapsed() < RECHECK {
            return true;
        }
        self.checked = std::time::Instant::now();
        let role = match &self.credential {
            Credential::Token(t) => self
                .app
                .authenticate(t, None)
                .await
                .ok()
                .flatten()
                .map(|p| p.role),
            Credential::Session(id) => self
                .app
                .session(id, None)
                .await
                .ok()
                .flatten()
                .map(|s| s.principal.role),
        };
        role.is_some_and(|r| r.allows(self.role))
    }
}

/// An event stream from `source`, with a comment every 15 s so proxies keep it open. It ends
/// when the server stops, when `access` no longer allows it (with a `signed-out` event), or
/// on a failure; the client reconnects (and resumes, where the events have ids).
pub(crate) fn event_stream<B: Batches>(
    source: B,
    access: Access,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let stopping = access.app.streams.clone().cancelled_owned();
    let stream = futures_util::stream::unfold(
        (source, access, VecDeque::<Event>::new(), false),
        |(mut source, mut access, mut queue, ended)| async move {
            loop {
                if let Some(event) = queue.pop_front() {
                    return Some((Ok(event), (source, access, queue, ended)));
                }
                if ended {
                    return None;
                }
                let batch = source.next_batch().await;
                if !access.allowed().await {
                    queue.push_back(
                        Event::default()
                            .event("signed-out")
                            .data("Your session ended or your access changed; reload the page to sign in again."),
                    );
                    return Some((Ok(queue.pop_front()?), (source, access, queue, true)));
                }
                match batch {
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
    use futures_util::StreamExt;
    Sse::new(stream.take_until(stopping)).keep_alive(KeepAlive::new().interval(KEEP_ALIVE))
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
    let access = Access::of(&app, &headers, AccessRole::Viewer)
        .ok_or_else(|| ApiError::unauthorized("send an API token or sign in"))?;
    Ok(event_stream(
        IncidentEvents {
            watch,
            config: app.config.clone(),
        },
        access,
    ))
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
    headers: HeaderMap,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    let access = Access::of(&app, &headers, AccessRole::Viewer)
        .ok_or_else(|| ApiError::unauthorized("send an API token or sign in"))?;
    Ok(event_stream(
        ChangeEvents {
            watch: app.watch_changes(),
            config: app.config.clone(),
        },
        access,
    ))
}
