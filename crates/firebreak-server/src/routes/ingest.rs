//! The endpoints monitoring tools post to, each answering in the shape its sender expects:
//!
//! - `POST /v2/enqueue` and `POST /v2/change/enqueue`: PagerDuty Events API v2 and change events;
//! - the Opsgenie Alert API ([`super::opsgenie`]);
//! - `POST /api/v1/ingest/{alertmanager|grafana|generic}/{key}`, or without `/{key}` and the key
//!   as `Authorization: Bearer <key>`.
//!
//! Every request is authenticated by an integration key and counted against that key's rate
//! limit before its body is read. An event is answered 2xx only after it has committed. Keys in
//! paths never reach the logs: the access log records the route template only.

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, get, post};
use firebreak_domain::AlertEvent;
use firebreak_engine::alerts::{Sender, Throttled};
use firebreak_engine::deployments::NewDeployment;
use firebreak_engine::{EngineError, Firebreak, Principal};
use firebreak_ingest::{Rejected, alertmanager, generic, grafana, pagerduty};

use super::gamedays::DrillQuery;
use super::opsgenie;
use firebreak_store::IngestOutcome;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::problem::ApiError;

/// Alert bodies larger than this are refused with 413, as PagerDuty does.
pub const INGEST_BODY_LIMIT: usize = 512 * 1024;
/// The limit for the batch formats (`/api/v1/ingest/{format}`: Alertmanager, Grafana and the
/// generic batch): room for the most alerts one request may carry (1,000), each with real
/// labels, annotations and links. A storm's batch refused for its bytes would page nobody.
pub const BATCH_BODY_LIMIT: usize = 8 * 1024 * 1024;

/// Marks an answer whose error shape belongs to a sender's API (PagerDuty, Opsgenie), so the
/// problem+json layer leaves it alone.
#[derive(Clone, Copy)]
pub struct SenderShape;

/// Every sender endpoint: `(method, path template)`. The router is built from this list, and
/// the route-table test walks it, so no sender endpoint can exist unlisted.
pub const ROUTES: &[(&str, &str)] = &[
    ("POST", "/v2/enqueue"),
    ("POST", "/v2/change/enqueue"),
    ("POST", "/v2/alerts"),
    ("POST", "/v2/alerts/{identifier}/acknowledge"),
    ("POST", "/v2/alerts/{identifier}/close"),
    ("GET", "/v2/alerts/requests/{request_id}"),
    ("GET", "/v2/alerts/{identifier}"),
    ("POST", "/api/v1/ingest/{format}/{key}"),
    ("POST", "/api/v1/ingest/{format}"),
];

fn handler(method: &str, path: &str) -> MethodRouter<Firebreak> {
    match (method, path) {
        ("POST", "/v2/enqueue") => post(pagerduty_event),
        ("POST", "/v2/change/enqueue") => post(pagerduty_change),
        ("POST", "/v2/alerts") => post(opsgenie::create),
        ("POST", "/v2/alerts/{identifier}/acknowledge") => post(opsgenie::acknowledge),
        ("POST", "/v2/alerts/{identifier}/close") => post(opsgenie::close),
        ("GET", "/v2/alerts/requests/{request_id}") => get(opsgenie::request_status),
        ("GET", "/v2/alerts/{identifier}") => get(opsgenie::get_alert),
        ("POST", "/api/v1/ingest/{format}/{key}") => post(ingest_with_path_key),
        ("POST", "/api/v1/ingest/{format}") => post(ingest_with_bearer_key),
        _ => MethodRouter::new(),
    }
}

pub fn router() -> Router<Firebreak> {
    ROUTES.iter().fold(Router::new(), |router, (method, path)| {
        router.route(path, handler(method, path))
    })
}

/// Why a body could not be read.
pub(super) enum BodyError {
    /// Larger than [`INGEST_BODY_LIMIT`].
    TooLarge,
    /// The client stopped sending, or sent something that is not a body.
    Unreadable(String),
}

/// Reads the body up to `limit` bytes.
pub(super) async fn read_body(body: Body, limit: usize) -> Result<Bytes, BodyError> {
    axum::body::to_bytes(body, limit).await.map_err(|e| {
        let too_large = std::error::Error::source(&e)
            .is_some_and(|s| s.is::<http_body_util::LengthLimitError>());
        if too_large {
            BodyError::TooLarge
        } else {
            BodyError::Unreadable(e.to_string())
        }
    })
}

pub(super) fn with_shape(mut response: Response) -> Response {
    response.extensions_mut().insert(SenderShape);
    response
}

pub(super) fn retry_after(mut response: Response, t: Throttled) -> Response {
    let secs = t.retry_after.as_secs_f64().ceil().max(1.0) as u64;
    if let Ok(v) = HeaderValue::from_str(&secs.to_string()) {
        response.headers_mut().insert(header::RETRY_AFTER, v);
    }
    response
}

/// Looks the key up, reloading the index once if it is stale (a key made by another process).
pub(super) async fn authenticate(
    app: &Firebreak,
    key: &str,
) -> Result<Option<Sender>, EngineError> {
    if let Some(s) = app.sender_for_key(key) {
        return Ok(Some(s));
    }
    app.refresh_alert_index_if_stale().await?;
    Ok(app.sender_for_key(key))
}

/// Puts `sender` in the drill mode its URL asks for (`?drill=true`, `?gameday=ID`); a bad
/// value, or a game day that is unknown or finished, is a 422 naming the parameter.
pub(super) async fn in_drill_mode(
    app: &Firebreak,
    mut sender: Sender,
    query: Option<&str>,
) -> Result<Sender, Response> {
    let asked = DrillQuery::parse(query).map_err(IntoResponse::into_response)?;
    sender.drill = asked.mode(app).await.map_err(IntoResponse::into_response)?;
    Ok(sender)
}

// --- PagerDuty ------------------------------------------------------------------------------

fn pd(status: StatusCode, body: Value) -> Response {
    with_shape((status, axum::Json(body)).into_response())
}

fn pd_invalid(rejected: &Rejected) -> Response {
    pd(
        StatusCode::BAD_REQUEST,
        json!({
            "status": "invalid event",
            "message": "Event object is invalid",
            "errors": rejected.errors.iter().map(|e| e.to_string()).collect::<Vec<_>>(),
        }),
    )
}

fn pd_unknown_key() -> Response {
    pd(
        StatusCode::NOT_FOUND,
        json!({
            "status": "invalid routing key",
            "message": "No integration has this routing_key. Create one with `firebreak integration create` and use its key.",
            "errors": ["'routing_key' is not a known integration key"],
        }),
    )
}

fn pd_too_large() -> Response {
    pd(
        StatusCode::PAYLOAD_TOO_LARGE,
        json!({
            "status": "invalid event",
            "message": "Request body is larger than 512 KB",
            "errors": ["the body must be at most 524288 bytes"],
        }),
    )
}

fn pd_throttled(t: Throttled) -> Response {
    retry_after(
        pd(
            StatusCode::TOO_MANY_REQUESTS,
            json!({
                "status": "throttle event",
                "message": "Requests for this routing key are arriving too quickly. Retry after the Retry-After header's seconds.",
            }),
        ),
        t,
    )
}

/// A storage failure: 503 with `Retry-After` while the database is away, 500 otherwise.
/// Either way the event was not accepted, and PagerDuty clients retry a 5xx.
fn pd_failed(e: EngineError) -> Response {
    if let EngineError::Unavailable(cause) = &e {
        tracing::warn!(error = %cause, "the database is unavailable; refusing an event");
        let mut r = pd(
            StatusCode::SERVICE_UNAVAILABLE,
            json!({
                "status": "error",
                "message": "Firebreak cannot reach its database right now; the event was not accepted. Retry.",
            }),
        );
        r.headers_mut()
            .insert(header::RETRY_AFTER, crate::problem::RETRY_AFTER_SECS.into());
        return r;
    }
    tracing::error!(error = %e, "storing an event failed");
    pd(
        StatusCode::INTERNAL_SERVER_ERROR,
        json!({
            "status": "error",
            "message": "Firebreak could not store the event; it was not accepted. Retry.",
        }),
    )
}

/// Just the routing key of a PagerDuty body, read without building the event.
#[derive(Deserialize)]
struct RoutingKey<'a> {
    #[serde(borrow, default)]
    routing_key: Option<std::borrow::Cow<'a, str>>,
}

/// What both PagerDuty endpoints do first: read the body, find the routing key, authenticate
/// it (404 when unknown, as PagerDuty answers) and count it against the rate limit, all before
/// the event itself is parsed. A body that fails validation gets its 400 only after that, so
/// unknown senders learn nothing and cost little.
async fn pagerduty_preamble<T>(
    app: &Firebreak,
    body: Body,
    parse: fn(&[u8]) -> Result<T, pagerduty::EventError>,
) -> Result<(Sender, T), Response> {
    let bytes = match read_body(body, INGEST_BODY_LIMIT).await {
        Ok(b) => b,
        Err(BodyError::TooLarge) => return Err(pd_too_large()),
        Err(BodyError::Unreadable(why)) => {
            return Err(pd(
                StatusCode::BAD_REQUEST,
                json!({"status": "invalid event", "message": "The request body could not be read",
                       "errors": [why]}),
            ));
        }
    };
    let key = serde_json::from_slice::<RoutingKey>(&bytes)
        .ok()
        .and_then(|k| k.routing_key)
        .map(|k| k.into_owned());
    let Some(key) = key else {
        // No key to judge the sender by: say what is wrong with the body.
        return Err(match parse(&bytes) {
            Err(e) => pd_invalid(&e.rejected),
            Ok(_) => pd_unknown_key(),
        });
    };
    let sender = match authenticate(app, &key).await {
        Ok(Some(s)) => s,
        Ok(None) => return Err(pd_unknown_key()),
        Err(e) => return Err(pd_failed(e)),
    };
    if let Err(t) = app.check_rate(&sender) {
        return Err(pd_throttled(t));
    }
    match parse(&bytes) {
        Ok(p) => Ok((sender, p)),
        Err(e) => Err(pd_invalid(&e.rejected)),
    }
}

async fn pagerduty_event(
    State(app): State<Firebreak>,
    RawQuery(query): RawQuery,
    body: Body,
) -> Response {
    let (sender, event) = match pagerduty_preamble(&app, body, pagerduty::parse_event).await {
        Ok(ok) => ok,
        Err(response) => return response,
    };
    let sender = match in_drill_mode(&app, sender, query.as_deref()).await {
        Ok(s) => s,
        Err(response) => return response,
    };
    match app.ingest(&sender, vec![event.event]).await {
        Ok(outcomes) => {
            let dedup_key = outcomes
                .first()
                .map(|o| o.dedup_key.clone())
                .unwrap_or_default();
            pd(
                StatusCode::ACCEPTED,
                json!({"status": "success", "message": "Event processed", "dedup_key": dedup_key}),
            )
        }
        Err(e) => pd_failed(e),
    }
}

async fn pagerduty_change(
    State(app): State<Firebreak>,
    RawQuery(query): RawQuery,
    body: Body,
) -> Response {
    let (sender, change) = match pagerduty_preamble(&app, body, pagerduty::parse_change).await {
        Ok(ok) => ok,
        Err(response) => return response,
    };
    // A change event sent in drill mode records a drill deploy.
    let sender = match in_drill_mode(&app, sender, query.as_deref()).await {
        Ok(s) => s,
        Err(response) => return response,
    };
    let who = Principal {
        actor: firebreak_domain::Actor(format!("pagerduty:{}", sender.name)),
        user: None,
        role: firebreak_domain::AccessRole::Responder,
        source: change.source.clone(),
        break_glass: None,
    };
    let new = NewDeployment {
        service: sender.service.clone(),
        version: change.version,
        previous_version: change.previous_version,
        commit: change.commit,
        author: change.author,
        link: change.link,
        at: change.at,
        summary: Some(change.summary),
        rollback: false,
        rolls_back: None,
        incident: None,
        drill: sender.drill.is_drill(),
    };
    match app.record_deployment(&who, new, "pagerduty").await {
        Ok(_) => pd(
            StatusCode::ACCEPTED,
            json!({"status": "success", "message": "Change event processed"}),
        ),
        Err(EngineError::Invalid { field, message }) => pd(
            StatusCode::BAD_REQUEST,
            json!({"status": "invalid event", "message": "Event object is invalid", "errors": [format!("'{field}' {message}")]}),
        ),
        Err(e) => pd_failed(e),
    }
}

// --- Alertmanager, Grafana, generic -----------------------------------------------------------

#[derive(Debug, Clone, Copy)]
enum Format {
    Alertmanager,
    Grafana,
    Generic,
}

impl Format {
    fn parse(text: &str) -> Option<Format> {
        match text {
            "alertmanager" | "prometheus" => Some(Format::Alertmanager),
            "grafana" => Some(Format::Grafana),
            "generic" => Some(Format::Generic),
            _ => None,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Format::Alertmanager => "alertmanager",
            Format::Grafana => "grafana",
            Format::Generic => "generic",
        }
    }

    fn events(self, body: &[u8]) -> Result<Vec<AlertEvent>, Rejected> {
        match self {
            Format::Alertmanager => alertmanager::parse_webhook(body),
            Format::Grafana => grafana::parse_webhook(body),
            Format::Generic => generic::parse(body),
        }
    }
}

fn outcome_json(o: &IngestOutcome) -> Value {
    json!({
        "dedup_key": o.dedup_key,
        "result": firebreak_engine::metrics::effect_name(o.effect),
        "alert": o.alert,
        "incident": o.incident.map(|n| n.to_string()),
    })
}

fn rejected_problem(rejected: &Rejected) -> Response {
    let mut e = ApiError::new(
        StatusCode::BAD_REQUEST,
        format!("the alert body is invalid: {rejected}"),
    );
    for i in &rejected.errors {
        e = e.with_error(&i.field, &i.message);
    }
    e.into_response()
}

async fn ingest_as(
    app: Firebreak,
    format: &str,
    key: Option<&str>,
    query: Option<&str>,
    body: Body,
) -> Response {
    let Some(format) = Format::parse(format) else {
        return ApiError::not_found(format!(
            "there is no ingest endpoint for `{format}`; use alertmanager, grafana or generic"
        ))
        .into_response();
    };
    let Some(key) = key else {
        return ApiError::unauthorized(
            "send the integration key in the path (/api/v1/ingest/<format>/<key>) or as `Authorization: Bearer <key>`",
        )
        .into_response();
    };
    let sender = match authenticate(&app, key).await {
        Ok(Some(s)) => s,
        Ok(None) => {
            return ApiError::unauthorized(
                "the integration key is unknown or revoked; check the URL the sender posts to",
            )
            .into_response();
        }
        Err(e) => return ApiError::from(e).into_response(),
    };
    if let Err(t) = app.check_rate(&sender) {
        return retry_after(
            ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "this integration key is over its rate limit; retry after the Retry-After header's seconds",
            )
            .into_response(),
            t,
        );
    }
    let sender = match in_drill_mode(&app, sender, query).await {
        Ok(s) => s,
        Err(response) => return response,
    };
    let bytes = match read_body(body, BATCH_BODY_LIMIT).await {
        Ok(b) => b,
        Err(BodyError::TooLarge) => {
            tracing::warn!(
                format = format.name(),
                limit_bytes = BATCH_BODY_LIMIT,
                "refused an alert batch larger than the limit; the sender will drop it"
            );
            return ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "the alert body is larger than the 8 MiB limit; send fewer alerts per request",
            )
            .into_response();
        }
        Err(BodyError::Unreadable(why)) => {
            return ApiError::bad_request(format!("the alert body could not be read: {why}"))
                .into_response();
        }
    };
    let events = match format.events(&bytes) {
        Ok(events) => events,
        Err(rejected) => {
            // Senders drop a batch refused with a 4xx and never send it again: say so where
            // the operator looks.
            if let Some(first) = rejected.errors.first() {
                tracing::warn!(
                    format = format.name(),
                    problems = rejected.errors.len(),
                    field = %first.field,
                    problem = %first.message,
                    "refused an alert batch; the sender will drop it"
                );
            }
            return rejected_problem(&rejected);
        }
    };
    match app.ingest(&sender, events).await {
        Ok(outcomes) => (
            StatusCode::ACCEPTED,
            axum::Json(json!({
                "status": "accepted",
                "alerts": outcomes.iter().map(outcome_json).collect::<Vec<_>>(),
            })),
        )
            .into_response(),
        Err(e) => ApiError::from(e).into_response(),
    }
}

async fn ingest_with_path_key(
    State(app): State<Firebreak>,
    Path((format, key)): Path<(String, String)>,
    RawQuery(query): RawQuery,
    body: Body,
) -> Response {
    ingest_as(app, &format, Some(&key), query.as_deref(), body).await
}

async fn ingest_with_bearer_key(
    State(app): State<Firebreak>,
    Path(format): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let key = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(|k| k.trim().to_string());
    ingest_as(app, &format, key.as_deref(), query.as_deref(), body).await
}
