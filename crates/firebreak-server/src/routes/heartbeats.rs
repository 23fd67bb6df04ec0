//! Heartbeats. `/api/v1/heartbeats`: admins add and remove them, everyone lists them. The pings
//! take no token (they are in the OpenAPI document with no security requirement): a job
//! authenticates by the secret key in the URL, and
//!
//! - `GET` or `POST /api/v1/heartbeats/{key}` is a ping: the heartbeat is up;
//! - `GET` or `POST /api/v1/heartbeats/{key}/fail` is a failure: the heartbeat is down at once,
//!   with the body's first 1,000 characters (if any) as the reason.
//!
//! `DELETE /api/v1/heartbeats/{id}` takes the heartbeat's id or its key, so the one path template
//! names a heartbeat the same way for every method.
//!
//! An unknown key is a 404 that changes nothing. Each heartbeat's pings count against a rate
//! limit (the ingest endpoints'), and only the first [`FAIL_BODY_LIMIT`] bytes of a failure's body
//! are read.
//! Keys in paths never reach the logs: the access log records the route template only.

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use firebreak_domain::heartbeat::{Heartbeat, reason_from, span_text};
use firebreak_engine::Firebreak;
use firebreak_engine::heartbeats::{IssuedHeartbeat, NewHeartbeat, Signal};
use jiff::Timestamp;
use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::extract::{Admin, ApiJson, ApiQuery, Caller, Viewer};
use crate::fields::{HeartbeatSpan, NameText};
use crate::problem::{ApiError, Problem};
use crate::routes::incidents::{PageQuery, page_by_key};
use crate::wire::ListBody;

/// A failure ping's body is read up to this many bytes; the rest of a longer one is ignored.
pub const FAIL_BODY_LIMIT: usize = 16 * 1024;

/// A heartbeat as the API shows it. Its key is shown only in the answer that created it.
#[derive(Debug, Serialize, ToSchema)]
pub struct HeartbeatBody {
    pub id: i64,
    pub name: String,
    pub service: String,
    /// How often it expects a ping: `5m`, `1h`, `1d`.
    pub period: String,
    /// How long after a missed period it waits before going down.
    pub grace: String,
    /// `new` (never pinged: never late), `up` or `down` (its alert is open).
    #[schema(example = "up")]
    pub status: String,
    /// The key's last four characters, to tell keys apart.
    pub key_hint: String,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub last_ping: Option<Timestamp>,
    /// When the next ping is expected, while up.
    #[schema(value_type = Option<String>, format = DateTime)]
    pub next_expected_at: Option<Timestamp>,
    /// When it goes down unless pinged (the next ping expected, plus the grace), while up.
    #[schema(value_type = Option<String>, format = DateTime)]
    pub due_at: Option<Timestamp>,
    /// When it went down, while down.
    #[schema(value_type = Option<String>, format = DateTime)]
    pub down_since: Option<Timestamp>,
    /// Why it is down: a failure's reason, or the missed ping.
    pub reason: Option<String>,
    pub created_by: String,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
    /// The key, shown only in the answer that created the heartbeat.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// The URL to ping (`GET` or `POST`), with the key: shown only when created.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ping_url: Option<String>,
    /// The URL that reports a failure, with the key: shown only when created.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fail_url: Option<String>,
}

impl From<Heartbeat> for HeartbeatBody {
    fn from(h: Heartbeat) -> Self {
        HeartbeatBody {
            id: h.id,
            name: h.name.to_string(),
            service: h.service.to_string(),
            period: span_text(h.period),
            grace: span_text(h.grace),
            status: h.state.as_str().to_string(),
            key_hint: h.key_hint.clone(),
            last_ping: h.last_ping,
            next_expected_at: h.next_expected(),
            due_at: h.due_at,
            down_since: h.down_since,
            reason: h.reason,
            created_by: h.created_by,
            created_at: h.created_at,
            key: None,
            ping_url: None,
            fail_url: None,
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct HeartbeatRequest {
    /// Unique among heartbeats.
    pub name: NameText,
    /// A service that exists: the heartbeat's alert is for it.
    pub service: NameText,
    /// How often a ping is expected: at least `1m`, at most `366d`.
    pub period: HeartbeatSpan,
    /// How long after a missed period to wait before going down: `0s` (the default) to `366d`.
    pub grace: Option<HeartbeatSpan>,
}

#[utoipa::path(get, path = "/api/v1/heartbeats", tag = "heartbeats", params(PageQuery),
    security(("bearer" = ["viewer"])),
    responses((status = 200, body = ListBody<HeartbeatBody>)))]
pub async fn list_heartbeats(
    _c: Caller<Viewer>,
    State(app): State<Firebreak>,
    ApiQuery(query): ApiQuery<PageQuery>,
) -> Result<Json<ListBody<HeartbeatBody>>, ApiError> {
    let all = app.list_heartbeats().await?;
    let (page, next) = page_by_key(all, |h| h.name.to_string(), query);
    Ok(Json(ListBody::keyed(
        page.into_iter().map(Into::into).collect(),
        next,
    )))
}

#[utoipa::path(post, path = "/api/v1/heartbeats", tag = "heartbeats", request_body = HeartbeatRequest,
    security(("bearer" = ["admin"])),
    responses((status = 201, body = HeartbeatBody, description = "The key and ping URL are shown only in this answer"),
        (status = 409, body = Problem, description = "A heartbeat with that name exists")))]
pub async fn create_heartbeat(
    caller: Caller<Admin>,
    State(app): State<Firebreak>,
    ApiJson(req): ApiJson<HeartbeatRequest>,
) -> Result<(StatusCode, Json<HeartbeatBody>), ApiError> {
    let new = NewHeartbeat {
        name: req.name.0.to_string(),
        service: req.service.0.to_string(),
        period: req.period.0,
        grace: req.grace.map(|g| g.0),
    };
    let IssuedHeartbeat { heartbeat, key } = app.create_heartbeat(&caller.principal, new).await?;
    let ping_url = format!(
        "{}/api/v1/heartbeats/{}",
        app.paging.public_url,
        key.expose_secret()
    );
    let mut body = HeartbeatBody::from(heartbeat);
    body.key = Some(key.expose_secret().to_string());
    body.fail_url = Some(format!("{ping_url}/fail"));
    body.ping_url = Some(ping_url);
    Ok((StatusCode::CREATED, Json(body)))
}

#[utoipa::path(delete, path = "/api/v1/heartbeats/{id}", tag = "heartbeats",
    params(("id" = String, Path, description = "The heartbeat's id, or its key (what its `ping_url` ends with)")),
    security(("bearer" = ["admin"])),
    responses((status = 204, description = "Deleted; an open alert of it is resolved"), (status = 404, body = Problem)))]
pub async fn delete_heartbeat(
    caller: Caller<Admin>,
    State(app): State<Firebreak>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let heartbeat = app.find_heartbeat(&id).await?;
    app.delete_heartbeat(&caller.principal, heartbeat.id)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// What a ping is answered with: where the heartbeat now stands.
#[derive(Debug, Serialize, ToSchema)]
pub struct PingBody {
    pub name: String,
    /// `up` after a ping, `down` after a failure.
    #[schema(example = "up")]
    pub status: &'static str,
}

impl From<Heartbeat> for PingBody {
    fn from(h: Heartbeat) -> Self {
        PingBody {
            name: h.name.to_string(),
            status: h.state.as_str(),
        }
    }
}

async fn signal(app: &Firebreak, key: &str, signal: Signal) -> Result<Json<PingBody>, ApiError> {
    Ok(Json(app.heartbeat_signal(key, signal).await?.into()))
}

/// Reads a failure's reason: the body's text, its first [`FAIL_BODY_LIMIT`] bytes. A longer
/// body (a cron job piping its whole log) is cut, never refused: refusing it would lose the
/// failure itself.
async fn reason(body: Body) -> Result<Option<String>, ApiError> {
    use futures_util::StreamExt as _;
    let mut bytes = Vec::new();
    let mut stream = body.into_data_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|_| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "the failure's body could not be read; send it again",
            )
        })?;
        let room = FAIL_BODY_LIMIT - bytes.len();
        bytes.extend_from_slice(&chunk[..chunk.len().min(room)]);
        if bytes.len() == FAIL_BODY_LIMIT {
            break;
        }
    }
    Ok(reason_from(&String::from_utf8_lossy(&bytes)))
}

/// A ping: the heartbeat is up. No token: the key in the path is the credential.
#[utoipa::path(get, path = "/api/v1/heartbeats/{id}", tag = "heartbeats", security(()),
    params(("id" = String, Path, description = "The heartbeat's key, from its `ping_url`")),
    responses((status = 200, body = PingBody), (status = 404, body = Problem, description = "No heartbeat has this key"),
        (status = 429, body = Problem, description = "Pings for this heartbeat arrive too quickly"),
        (status = 503, body = Problem, description = "The database cannot be reached; nothing was recorded. Retry after `Retry-After` seconds")))]
pub async fn ping(
    State(app): State<Firebreak>,
    Path(key): Path<String>,
) -> Result<Json<PingBody>, ApiError> {
    signal(&app, &key, Signal::Ping).await
}

/// A ping by `POST` (Alertmanager's webhook, `curl -X POST`). The body is not read: whatever
/// the sender posts (an Alertmanager notification of any size) pings alike.
#[utoipa::path(post, path = "/api/v1/heartbeats/{id}", tag = "heartbeats", security(()),
    params(("id" = String, Path, description = "The heartbeat's key, from its `ping_url`")),
    request_body(content = Option<String>, content_type = "text/plain", description = "Ignored"),
    responses((status = 200, body = PingBody), (status = 404, body = Problem, description = "No heartbeat has this key"),
        (status = 429, body = Problem, description = "Pings for this heartbeat arrive too quickly"),
        (status = 503, body = Problem, description = "The database cannot be reached; nothing was recorded. Retry after `Retry-After` seconds")))]
pub async fn ping_by_post(
    State(app): State<Firebreak>,
    Path(key): Path<String>,
) -> Result<Json<PingBody>, ApiError> {
    signal(&app, &key, Signal::Ping).await
}

/// A failure: the heartbeat is down at once and its alert opens.
#[utoipa::path(get, path = "/api/v1/heartbeats/{id}/fail", tag = "heartbeats", security(()),
    params(("id" = String, Path, description = "The heartbeat's key, from its `ping_url`")),
    responses((status = 200, body = PingBody), (status = 404, body = Problem, description = "No heartbeat has this key"),
        (status = 429, body = Problem, description = "Pings for this heartbeat arrive too quickly"),
        (status = 503, body = Problem, description = "The database cannot be reached; nothing was recorded. Retry after `Retry-After` seconds")))]
pub async fn fail(
    State(app): State<Firebreak>,
    Path(key): Path<String>,
) -> Result<Json<PingBody>, ApiError> {
    signal(&app, &key, Signal::Fail(None)).await
}

/// A failure with the reason in the body (its first 1,000 characters are kept).
#[utoipa::path(post, path = "/api/v1/heartbeats/{id}/fail", tag = "heartbeats", security(()),
    params(("id" = String, Path, description = "The heartbeat's key, from its `ping_url`")),
    request_body(content = Option<String>, content_type = "text/plain", description = "Why it failed (optional; its first 16 KiB are read and the first 1,000 characters kept)"),
    responses((status = 200, body = PingBody), (status = 404, body = Problem, description = "No heartbeat has this key"),
        (status = 413, body = Problem, description = "The body is over the ingest endpoints' limit (512 KB)"), (status = 429, body = Problem, description = "Pings for this heartbeat arrive too quickly"),
        (status = 503, body = Problem, description = "The database cannot be reached; nothing was recorded. Retry after `Retry-After` seconds")))]
pub async fn fail_by_post(
    State(app): State<Firebreak>,
    Path(key): Path<String>,
    body: Body,
) -> Result<Json<PingBody>, ApiError> {
    let why = reason(body).await?;
    signal(&app, &key, Signal::Fail(why)).await
}
