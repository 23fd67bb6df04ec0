//! Change freezes (the CI gate), break-glass grants, and the audit log's chain (verify and
//! export).

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use firebreak_domain::break_glass::Grant;
use firebreak_domain::freeze::{Freeze, FreezeReason, FreezeVerdict};
use firebreak_engine::Firebreak;
use firebreak_store::AuditEntry;
use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::extract::{Admin, ApiJson, ApiQuery, Caller, NoBody, Responder, Viewer};
use crate::fields::{AccessRoleName, Comment, NameText, Text100, Time};
use crate::problem::{ApiError, Problem};
use crate::routes::incidents::number;
use crate::wire::ListBody;

// --- freezes -------------------------------------------------------------------------------

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct FreezeQuery {
    /// The service about to be deployed; without it, any freeze counts.
    pub service: Option<NameText>,
    /// `true` for a rollback, which is always allowed: the answer still lists the reasons.
    pub rollback: Option<bool>,
}

/// One reason a service is frozen.
#[derive(Debug, Serialize, ToSchema)]
pub struct FreezeReasonBody {
    /// `incident` or `freeze`.
    pub kind: String,
    /// What a person reads in the CI log.
    pub text: String,
    /// The incident that freezes it (`INC-7`), for `incident`.
    pub incident: Option<String>,
    /// The declared freeze, for `freeze`.
    pub freeze: Option<i64>,
    /// When it ends, if known (declared freezes end at their window's end; an incident's ends
    /// when it is mitigated or resolved).
    #[schema(value_type = Option<String>, format = DateTime)]
    pub until: Option<Timestamp>,
}

/// The freeze gate's answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct FreezeStatusBody {
    pub frozen: bool,
    pub reasons: Vec<FreezeReasonBody>,
    /// When the last reason ends, if every reason has a known end.
    #[schema(value_type = Option<String>, format = DateTime)]
    pub until: Option<Timestamp>,
    /// True when the question was about a rollback, which is never frozen.
    pub rollback: bool,
}

fn verdict_body(v: FreezeVerdict, rollback: bool) -> FreezeStatusBody {
    FreezeStatusBody {
        frozen: v.frozen,
        until: v.until,
        rollback,
        reasons: v
            .reasons
            .iter()
            .map(|r| FreezeReasonBody {
                text: r.describe(),
                kind: match r {
                    FreezeReason::Incident { .. } => "incident".into(),
                    FreezeReason::Window(_) => "freeze".into(),
                },
                incident: match r {
                    FreezeReason::Incident { number, .. } => Some(number.to_string()),
                    FreezeReason::Window(_) => None,
                },
                freeze: match r {
                    FreezeReason::Window(f) => Some(f.id),
                    FreezeReason::Incident { .. } => None,
                },
                until: match r {
                    FreezeReason::Window(f) => Some(f.end()),
                    FreezeReason::Incident { .. } => None,
                },
            })
            .collect(),
    }
}

/// Whether a deploy may go ahead now. A SEV1 or SEV2 freezes its services until mitigated
/// (per severity: `freeze`, `freeze_until`), and declared freezes hold through their window.
#[utoipa::path(get, path = "/api/v1/freeze", tag = "freeze", params(FreezeQuery),
    security(("bearer" = ["viewer"])),
    responses((status = 200, body = FreezeStatusBody)))]
pub async fn freeze_status(
    _c: Caller<Viewer>,
    State(app): State<Firebreak>,
    ApiQuery(q): ApiQuery<FreezeQuery>,
) -> Result<Json<FreezeStatusBody>, ApiError> {
    let rollback = q.rollback.unwrap_or(false);
    let service = q.service.map(|s| s.0);
    let v = app.freeze_status(service.as_ref(), rollback).await?;
    Ok(Json(verdict_body(v, rollback)))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct FreezeBody {
    pub id: i64,
    #[schema(value_type = String, format = DateTime)]
    pub starts_at: Timestamp,
    #[schema(value_type = String, format = DateTime)]
    pub ends_at: Timestamp,
    /// The services it covers; empty means every service.
    pub services: Vec<String>,
    pub reason: String,
    pub created_by: String,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
    /// Set when it was lifted before its end.
    #[schema(value_type = Option<String>, format = DateTime)]
    pub ended_at: Option<Timestamp>,
}

impl From<Freeze> for FreezeBody {
    fn from(f: Freeze) -> Self {
        FreezeBody {
            id: f.id,
            starts_at: f.starts_at,
            ends_at: f.ends_at,
            services: f.services.iter().map(|s| s.to_string()).collect(),
            reason: f.reason,
            created_by: f.created_by,
            created_at: f.created_at,
            ended_at: f.ended_at,
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FreezeRequest {
    /// When it starts; now when absent.
    pub starts_at: Option<Time>,
    /// When it ends: after the start and in the future.
    pub ends_at: Time,
    /// The services it covers; absent or empty means every service.
    pub services: Option<Vec<NameText>>,
    /// Why: a holiday, a launch.
    pub reason: Comment,
}

#[utoipa::path(get, path = "/api/v1/freezes", tag = "freeze",
    security(("bearer" = ["viewer"])),
    responses((status = 200, body = ListBody<FreezeBody>)))]
pub async fn list_freezes(
    _c: Caller<Viewer>,
    State(app): State<Firebreak>,
) -> Result<Json<ListBody<FreezeBody>>, ApiError> {
    let items = app.list_freezes().await?;
    Ok(Json(ListBody::keyed(
        items.into_iter().map(Into::into).collect(),
        None,
    )))
}

#[utoipa::path(post, path = "/api/v1/freezes", tag = "freeze", request_body = FreezeRequest,
    security(("bearer" = ["responder"])),
    responses((status = 201, body = FreezeBody)))]
pub async fn add_freeze(
    caller: Caller<Responder>,
    State(app): State<Firebreak>,
    ApiJson(req): ApiJson<FreezeRequest>,
) -> Result<(StatusCode, Json<FreezeBody>), ApiError> {
    let services = req
        .services
        .unwrap_or_default()
        .into_iter()
        .map(|s| s.0)
        .collect();
    let f = app
        .add_freeze(
            &caller.principal,
            req.starts_at.map(|t| t.0),
            req.ends_at.0,
            services,
            &req.reason.into_inner(),
        )
        .await?;
    Ok((StatusCode::CREATED, Json(f.into())))
}

#[utoipa::path(delete, path = "/api/v1/freezes/{id}", tag = "freeze", params(("id" = i64, Path)),
    security(("bearer" = ["responder"])),
    responses((status = 200, body = FreezeBody), (status = 404, body = Problem)))]
pub async fn lift_freeze(
    caller: Caller<Responder>,
    State(app): State<Firebreak>,
    Path(id): Path<String>,
) -> Result<Json<FreezeBody>, ApiError> {
    let id: i64 = id
        .parse()
        .map_err(|_| ApiError::not_found(format!("there is no freeze {id}")))?;
    Ok(Json(app.lift_freeze(&caller.principal, id).await?.into()))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ExemptionRequest {
    /// The open incident this deploy is for (`INC-7`).
    pub incident: Text100,
    /// The service being deployed; absent for a deploy of no particular service.
    pub service: Option<NameText>,
    /// Why it cannot wait.
    pub reason: Comment,
}

/// Records an emergency deploy during a freeze on the incident's timeline. The answer is the
/// freeze status the deploy overrides.
#[utoipa::path(post, path = "/api/v1/freeze/exemptions", tag = "freeze", request_body = ExemptionRequest,
    security(("bearer" = ["responder"])),
    responses((status = 201, body = FreezeStatusBody), (status = 404, body = Problem),
        (status = 409, body = Problem, description = "The incident is resolved")))]
pub async fn exemption(
    caller: Caller<Responder>,
    State(app): State<Firebreak>,
    ApiJson(req): ApiJson<ExemptionRequest>,
) -> Result<(StatusCode, Json<FreezeStatusBody>), ApiError> {
    let n = number(&req.incident.into_inner())?;
    let service = req.service.map(|s| s.0);
    let v = app
        .freeze_exemption(
            &caller.principal,
            n,
            service.as_ref(),
            &req.reason.into_inner(),
        )
        .await?;
    Ok((StatusCode::CREATED, Json(verdict_body(v, false))))
}

// --- break-glass -----------------------------------------------------------------------------

#[derive(Debug, Serialize, ToSchema)]
pub struct GrantBody {
    pub id: i64,
    pub incident: String,
    pub user: String,
    pub role: String,
    /// `pending_approval`, `active` or `ended`.
    pub status: String,
    pub reason: String,
    /// How long it lasts once granted, e.g. `30m`.
    pub duration: String,
    #[schema(value_type = String, format = DateTime)]
    pub requested_at: Timestamp,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub granted_at: Option<Timestamp>,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub expires_at: Option<Timestamp>,
    pub approved_by: Option<String>,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub ended_at: Option<Timestamp>,
    pub end_reason: Option<String>,
}

fn grant_body(g: Grant, now: Timestamp) -> GrantBody {
    let mins = (g.duration.as_secs() + 59) / 60;
    let expired = g.expires_at().filter(|e| *e <= now);
    GrantBody {
        id: g.id,
        incident: g.incident.to_string(),
        user: g.user.to_string(),
        role: g.role.to_string(),
        status: g.state(now).as_str().to_string(),
        reason: g.reason.clone(),
        duration: match (mins / 60, mins % 60) {
            (0, m) => format!("{m}m"),
            (h, 0) => format!("{h}h"),
            (h, m) => format!("{h}h{m}m"),
        },
        requested_at: g.requested_at,
        granted_at: g.granted_at,
        expires_at: g.expires_at(),
        approved_by: g.approved_by,
        ended_at: g.ended_at.or(expired),
        end_reason: g
            .end_reason
            .or_else(|| expired.map(|_| "expired".to_string())),
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BreakGlassRequest {
    /// The role to hold: above the caller's own.
    pub role: AccessRoleName,
    /// How long, like `30m` or `1h`: at most `break_glass.max` (1h by default).
    pub duration: Text100,
    /// Why: recorded on the timeline and in the audit log.
    pub reason: Comment,
}

fn duration(text: &str) -> Result<SignedDuration, ApiError> {
    let t = text.trim();
    t.parse::<SignedDuration>()
        .ok()
        .filter(|d| d.is_positive())
        .ok_or_else(|| {
            ApiError::invalid(
                "duration",
                format!("`{t}` is not a duration like 30m, 1h or 1h30m"),
            )
        })
}

/// Raises the caller's role while the incident is open, for at most `break_glass.max`. The
/// grant is announced on the timeline, in the incident's channels and to the Incident
/// Commander; everything done under it is tagged with its id in the audit log.
#[utoipa::path(post, path = "/api/v1/incidents/{id}/break-glass", tag = "break-glass", request_body = BreakGlassRequest,
    params(("id" = String, Path, description = "INC-7 or 7")),
    security(("bearer" = ["responder"])),
    responses((status = 201, body = GrantBody), (status = 404, body = Problem),
        (status = 409, body = Problem, description = "The incident is resolved, or you already hold the role")))]
pub async fn request_grant(
    caller: Caller<Responder>,
    State(app): State<Firebreak>,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<BreakGlassRequest>,
) -> Result<(StatusCode, Json<GrantBody>), ApiError> {
    let n = number(&id)?;
    let d = duration(&req.duration.into_inner())?;
    let g = app
        .request_break_glass(
            &caller.principal,
            n,
            req.role.into(),
            d,
            &req.reason.into_inner(),
        )
        .await?;
    Ok((StatusCode::CREATED, Json(grant_body(g, app.clock.now()))))
}

#[utoipa::path(get, path = "/api/v1/incidents/{id}/break-glass", tag = "break-glass",
    params(("id" = String, Path, description = "INC-7 or 7")),
    security(("bearer" = ["viewer"])),
    responses((status = 200, body = ListBody<GrantBody>), (status = 404, body = Problem)))]
pub async fn incident_grants(
    _c: Caller<Viewer>,
    State(app): State<Firebreak>,
    Path(id): Path<String>,
) -> Result<Json<ListBody<GrantBody>>, ApiError> {
    let n = number(&id)?;
    let now = app.clock.now();
    let items = app.list_grants(Some(n)).await?;
    Ok(Json(ListBody::keyed(
        items.into_iter().map(|g| grant_body(g, now)).collect(),
        None,
    )))
}

/// Grants in force or waiting for approval.
#[utoipa::path(get, path = "/api/v1/break-glass", tag = "break-glass",
    security(("bearer" = ["viewer"])),
    responses((status = 200, body = ListBody<GrantBody>)))]
pub async fn live_grants(
    _c: Caller<Viewer>,
    State(app): State<Firebreak>,
) -> Result<Json<ListBody<GrantBody>>, ApiError> {
    let now = app.clock.now();
    let items = app.list_grants(None).await?;
    Ok(Json(ListBody::keyed(
        items.into_iter().map(|g| grant_body(g, now)).collect(),
        None,
    )))
}

fn grant_id(id: &str) -> Result<i64, ApiError> {
    id.parse()
        .map_err(|_| ApiError::not_found(format!("there is no grant {id}")))
}

#[utoipa::path(get, path = "/api/v1/break-glass/{id}", tag = "break-glass", params(("id" = i64, Path)),
    security(("bearer" = ["viewer"])),
    responses((status = 200, body = GrantBody), (status = 404, body = Problem)))]
pub async fn show_grant(
    _c: Caller<Viewer>,
    State(app): State<Firebreak>,
    Path(id): Path<String>,
) -> Result<Json<GrantBody>, ApiError> {
    let g = app.grant(grant_id(&id)?).await?;
    Ok(Json(grant_body(g, app.clock.now())))
}

/// The Incident Commander approves a waiting grant (with `break_glass.approval: true`).
#[utoipa::path(post, path = "/api/v1/break-glass/{id}/approve", tag = "break-glass", params(("id" = i64, Path)),
    security(("bearer" = ["responder"])),
    responses((status = 200, body = GrantBody), (status = 404, body = Problem), (status = 409, body = Problem)))]
pub async fn approve_grant(
    caller: Caller<Responder>,
    State(app): State<Firebreak>,
    Path(id): Path<String>,
    _b: NoBody,
) -> Result<Json<GrantBody>, ApiError> {
    let g = app
        .approve_break_glass(&caller.principal, grant_id(&id)?)
        .await?;
    Ok(Json(grant_body(g, app.clock.now())))
}

/// Ends a grant early (the holder, the Incident Commander or an admin).
#[utoipa::path(post, path = "/api/v1/break-glass/{id}/revoke", tag = "break-glass", params(("id" = i64, Path)),
    security(("bearer" = ["viewer"])),
    responses((status = 200, body = GrantBody), (status = 404, body = Problem)))]
pub async fn revoke_grant(
    caller: Caller<Viewer>,
    State(app): State<Firebreak>,
    Path(id): Path<String>,
    _b: NoBody,
) -> Result<Json<GrantBody>, ApiError> {
    let g = app
        .revoke_break_glass(&caller.principal, grant_id(&id)?)
        .await?;
    Ok(Json(grant_body(g, app.clock.now())))
}

// --- the audit chain -------------------------------------------------------------------------

/// One row of the audit log as exported: everything its hash covers, and the hashes.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuditRowBody {
    pub id: i64,
    #[schema(value_type = String, format = DateTime)]
    pub at: Timestamp,
    /// `at` in milliseconds since the Unix epoch, exactly as hashed.
    pub at_ms: i64,
    pub actor: String,
    pub action: String,
    pub target: String,
    pub source: Option<String>,
    pub break_glass: Option<i64>,
    pub prev_hash: Option<String>,
    pub hash: Option<String>,
}

impl From<AuditEntry> for AuditRowBody {
    fn from(a: AuditEntry) -> Self {
        AuditRowBody {
            id: a.id,
            at_ms: a.at.as_millisecond(),
            at: a.at,
            actor: a.actor,
            action: a.action,
            target: a.target,
            source: a.source,
            break_glass: a.break_glass,
            prev_hash: a.prev_hash,
            hash: a.hash,
        }
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ExportQuery {
    /// Only rows written at or after this instant.
    pub since: Option<Time>,
}

/// The audit log as JSON lines (`application/x-ndjson`), oldest first, with each row's hashes,
/// for shipping to write-once storage. `firebreak audit verify` checks such an export.
#[utoipa::path(get, path = "/api/v1/audit/export", tag = "audit", params(ExportQuery),
    security(("bearer" = ["admin"])),
    responses((status = 200, content_type = "application/x-ndjson", body = AuditRowBody,
        description = "One AuditRowBody per line")))]
pub async fn export_audit(
    _c: Caller<Admin>,
    State(app): State<Firebreak>,
    ApiQuery(q): ApiQuery<ExportQuery>,
) -> Result<Response, ApiError> {
    let since = q.since.map(|t| t.0);
    // The first page is read before answering, so a storage failure is a proper error.
    let first = app.audit_rows(0, since, EXPORT_PAGE).await?;
    let stream =
        futures_util::stream::unfold((app, Some(first), since), |(app, page, since)| async move {
            let rows = page?;
            let last = rows.last()?.id;
            let mut chunk = Vec::with_capacity(rows.len() * 256);
            for row in rows {
                if serde_json::to_writer(&mut chunk, &AuditRowBody::from(row)).is_ok() {
                    chunk.push(b'\n');
                }
            }
            // `since` chose the first row; every row after it follows, whatever its time.
            let next = match app.audit_rows(last, None, EXPORT_PAGE).await {
                Ok(rows) => Some(rows),
                Err(e) => {
                    tracing::warn!(error = %e, "the audit export stopped early: storage failed");
                    return Some((
                        Err(std::io::Error::other("the audit export stopped early")),
                        (app, None, since),
                    ));
                }
            };
            Some((Ok::<_, std::io::Error>(chunk), (app, next, since)))
        });
    Ok((
        [(header::CONTENT_TYPE, "application/x-ndjson")],
        Body::from_stream(stream),
    )
        .into_response())
}

const EXPORT_PAGE: u32 = 1000;

#[derive(Debug, Serialize, ToSchema)]
pub struct VerifyBody {
    /// True when every row's hash matches its content and the row before it.
    pub ok: bool,
    /// Rows that verified.
    pub rows: u64,
    /// The hash of the last row that verified: the chain's head.
    pub head: Option<String>,
    /// The first row that does not match, if any.
    pub first_bad_id: Option<i64>,
    /// What is wrong with it.
    pub problem: Option<String>,
}

/// Recomputes the audit log's hash chain on the server and names the first row that does not
/// match.
#[utoipa::path(get, path = "/api/v1/audit/verify", tag = "audit",
    security(("bearer" = ["admin"])),
    responses((status = 200, body = VerifyBody)))]
pub async fn verify_audit(
    _c: Caller<Admin>,
    State(app): State<Firebreak>,
) -> Result<Json<VerifyBody>, ApiError> {
    let r = app.verify_audit().await?;
    Ok(Json(VerifyBody {
        ok: r.broken.is_none(),
        rows: r.rows,
        head: r.head,
        first_bad_id: r.broken.as_ref().map(|b| b.id()),
        problem: r.broken.map(|b| b.to_string()),
    }))
}
