//! Server-sent event streams: one incident's timeline and state, and every incident and alert
//! change. They take an API token or a signed-in browser's session (EventSource sends the
//! cookie and no other header). One session or token may hold at most
//! [`STREAMS_PER_CREDENTIAL`] streams open on an instance ([`limit_streams`]).

use std::collections::{HashMap, VecDeque};
use std::convert::Infallible;
use std::sync::{Arc, Mutex};
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

/// Paces a "reload" signal to a page: the first at once, then at most one per `every`, and
/// always one after the last change (so the page ends on the final state, and a storm of
/// changes costs each browser one reload per `every`, not one per change).
pub(crate) struct Pace {
    every: std::time::Duration,
    last: Option<tokio::time::Instant>,
    due: Option<tokio::time::Instant>,
}

impl Pace {
    pub(crate) fn new(every: std::time::Duration) -> Pace {
        Pace {
            every,
            last: None,
            due: None,
        }
    }

    /// Something changed: true to signal now; otherwise a signal is due later.
    pub(crate) fn changed(&mut self) -> bool {
        let now = tokio::time::Instant::now();
        match self.last {
            Some(last) if now < last + self.every => {
                self.due.get_or_insert(last + self.every);
                false
            }
            _ => {
                self.last = Some(now);
                self.due = None;
                true
            }
        }
    }

    /// Waits for `next`, or for a signal that fell due meanwhile (`Err(())`: send it).
    pub(crate) async fn or_due<T>(
        &mut self,
        next: impl std::future::Future<Output = T>,
    ) -> Result<T, ()> {
        let Some(due) = self.due else {
            return Ok(next.await);
        };
        tokio::select! {
            value = next => Ok(value),
            () = tokio::time::sleep_until(due) => {
                self.last = Some(tokio::time::Instant::now());
                self.due = None;
                Err(())
            }
        }
    }
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

impl Credential {
    /// The credential a request came with: a bearer token, else the session cookie.
    fn of(headers: &HeaderMap) -> Option<Credential> {
        let bearer = headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|h| {
                h.strip_prefix("Bearer ")
                    .or_else(|| h.strip_prefix("bearer "))
            })
            .map(|t| Credential::Token(t.trim().to_string()));
        bearer.or_else(|| {
            crate::web::session::session_cookie(headers).map(|c| Credential::Session(c.to_string()))
        })
    }

    /// The SHA-256 of the secret: what streams are counted by, so no secret is kept for it.
    fn key(&self) -> [u8; 32] {
        use sha2::Digest;
        let secret = match self {
            Credential::Token(t) => t,
            Credential::Session(s) => s,
        };
        sha2::Sha256::digest(secret.as_bytes()).into()
    }
}

impl Access {
    /// The credential the request came with (a bearer token, else the session cookie), for
    /// a stream whose readers need `role`.
    pub(crate) fn of(app: &Firebreak, headers: &HeaderMap, role: AccessRole) -> Option<Access> {
        Some(Access {
            app: app.clone(),
            credential: Credential::of(headers)?,
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

/// How many event streams one browser session, or one API token, may hold open on one
/// instance: a few tabs on a few incidents each, with room to spare, but not an unbounded
/// number of subscriptions to the change feed.
pub const STREAMS_PER_CREDENTIAL: usize = 20;

/// The event streams open on this instance, counted per credential (by its SHA-256).
#[derive(Debug, Default)]
pub(crate) struct StreamSlots {
    open: Mutex<HashMap<[u8; 32], usize>>,
}

impl StreamSlots {
    /// A slot for one more stream of `key`, or `None` when it holds the most already.
    fn take(self: &Arc<Self>, key: [u8; 32]) -> Option<StreamSlot> {
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        let count = open.entry(key).or_default();
        if *count >= STREAMS_PER_CREDENTIAL {
            return None;
        }
        *count += 1;
        Some(StreamSlot {
            slots: Arc::clone(self),
            key,
        })
    }
}

/// One open stream's place in [`StreamSlots`], given back when the stream's body is dropped:
/// when the stream ends, the client goes away or the server stops.
struct StreamSlot {
    slots: Arc<StreamSlots>,
    key: [u8; 32],
}

impl Drop for StreamSlot {
    fn drop(&mut self) {
        let mut open = self.slots.open.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(count) = open.get_mut(&self.key) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                open.remove(&self.key);
            }
        }
    }
}

/// Counts every event stream an answer opens (any route whose answer is
/// `text/event-stream`: the API's and the pages' live streams) against the session or token
/// that opened it, and answers 429 instead when that credential holds
/// [`STREAMS_PER_CREDENTIAL`] already. The slot is held by the answer's body, so it is free
/// again once the stream is gone.
pub(crate) async fn limit_streams(
    State(slots): State<Arc<StreamSlots>>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    let key = Credential::of(req.headers()).map(|c| c.key());
    let res = next.run(req).await;
    let streams = res
        .headers()
        .get(axum::http::header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"text/event-stream"));
    let Some(key) = key.filter(|_| streams) else {
        return res;
    };
    let Some(slot) = slots.take(key) else {
        tracing::info!(
            limit = STREAMS_PER_CREDENTIAL,
            "refused an event stream: its session or token holds the most open already"
        );
        return ApiError::new(
            axum::http::StatusCode::TOO_MANY_REQUESTS,
            format!(
                "This sign-in already has {STREAMS_PER_CREDENTIAL} live streams open on this \
                 server, the most it may. Close other Firebreak tabs or windows (or stop other \
                 programs streaming with this token), then reload this page."
            ),
        )
        .into_response();
    };
    let (parts, body) = res.into_parts();
    use futures_util::StreamExt;
    let body = axum::body::Body::from_stream(body.into_data_stream().map(move |chunk| {
        let _held = &slot;
        chunk
    }));
    axum::response::Response::from_parts(parts, body)
}

fn json_event(kind: &str, body: impl serde::Serialize) -> Event {
    Event::default()
        .event(kind)
        .data(serde_json::to_string(&body).unwrap_or_else(|_| "{}".into()))
}

/// An incident as a stream shows it: the API's body less `postmortem_status`, which a stream
/// does not look up (a null there would read as "no postmortem").
fn incident_event(i: firebreak_domain::Incident, config: &firebreak_domain::Config) -> Event {
    let mut body = serde_json::to_value(IncidentBody::from(i, config)).unwrap_or_default();
    if let serde_json::Value::Object(fields) = &mut body {
        fields.remove("postmortem_status");
    }
    json_event("incident", body)
}

struct IncidentEvents {
    watch: IncidentWatch,
    config: std::sync::Arc<firebreak_domain::Config>,
    /// The version of the incident this client has: an `incident` event is sent only when
    /// the incident's own fields changed, not for every note.
    version: i64,
    /// How much of each running action's output this client was sent.
    output_sent: std::collections::HashMap<i64, usize>,
}

/// What of `output` comes after the `sent` bytes a client has: all of it when the kept output
/// no longer reaches back that far (its start was cut).
fn output_after(output: &str, sent: usize) -> &str {
    if sent > output.len() {
        return output;
    }
    let mut from = sent;
    while !output.is_char_boundary(from) {
        from += 1;
    }
    &output[from..]
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
        if let Some(i) = batch.incident.filter(|i| i.version != self.version) {
            self.version = i.version;
            events.push(incident_event(i, &self.config));
        }
        // Running actions' output as it grows (the heartbeat stores it every few seconds).
        // Not resumable: `GET /api/v1/runs/{id}` has all of it.
        for run in batch.running {
            let sent = self.output_sent.get(&run.id).copied().unwrap_or(0);
            let more = output_after(&run.output, sent);
            if more.is_empty() {
                continue;
            }
            events.push(json_event(
                "output",
                serde_json::json!({"run": run.id, "action": run.action, "output": more}),
            ));
            self.output_sent.insert(run.id, run.output.len());
        }
        // Empty when the client has seen it all: the stream then waits for the next change.
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
                    LiveChange::Incident(i) => incident_event(i, &self.config),
                    LiveChange::Alert(a) => json_event("alert", AlertBody::from(a)),
                })
                .collect(),
        ))
    }
}

/// One incident, live: each timeline entry as a `timeline` event whose id is its `seq`, and
/// the incident itself as an `incident` event when it changes, and the output of its running
/// actions as it grows (`output` events). A client that reconnects with `Last-Event-ID` gets
/// every entry after it, so nothing is lost.
#[utoipa::path(get, path = "/api/v1/incidents/{id}/events", tag = "incidents",
    params(("id" = String, Path, description = "INC-7 or 7"), EventsQuery,
        ("Last-Event-ID" = Option<i64>, Header, description = "The last timeline seq received")),
    security(("bearer" = ["viewer"])),
    responses((status = 200, content_type = "text/event-stream", body = String,
        description = "`timeline` events (data: a timeline entry, id: its seq), `incident` events (data: the incident) and `output` events (data: `{run, action, output}`, a running action's output since the last one)"),
        (status = 404, body = Problem),
        (status = 429, body = Problem, description = "This token or session holds the most streams open already")))]
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
            version: watch.version_at_start(),
            watch,
            config: app.config.clone(),
            output_sent: std::collections::HashMap::new(),
        },
        access,
    ))
}

/// Every incident and alert change from now on: `incident` and `alert` events with the
/// object as it is after the change.
#[utoipa::path(get, path = "/api/v1/events", tag = "incidents",
    security(("bearer" = ["viewer"])),
    responses((status = 200, content_type = "text/event-stream", body = String,
        description = "`incident` events (data: the incident) and `alert` events (data: the alert)"),
        (status = 429, body = Problem, description = "This token or session holds the most streams open already")))]
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

#[cfg(test)]
mod tests {
    use super::Pace;
    use std::time::Duration;

    #[tokio::test]
    async fn a_paced_signal_goes_at_once_then_once_per_period_and_after_the_last_change() {
        let every = Duration::from_millis(200);
        let mut pace = Pace::new(every);
        assert!(pace.changed(), "the first change signals at once");
        assert!(!pace.changed(), "the next within the period waits");
        assert!(!pace.changed());
        // Nothing else happens: the waiting signal goes out when the period ends.
        let started = tokio::time::Instant::now();
        assert_eq!(pace.or_due(std::future::pending::<()>()).await, Err(()));
        let waited = started.elapsed();
        assert!(waited >= every / 2 && waited < every * 3, "{waited:?}");
        // A change right after it waits again; what arrives first is returned meanwhile.
        assert!(!pace.changed());
        assert_eq!(pace.or_due(async { 7 }).await, Ok(7));
        assert_eq!(pace.or_due(std::future::pending::<()>()).await, Err(()));
        // With nothing waiting, `or_due` just waits for what it is given.
        assert_eq!(pace.or_due(async { 8 }).await, Ok(8));
        tokio::time::sleep(every).await;
        assert!(
            pace.changed(),
            "after a quiet period the next change signals at once"
        );
    }
}
