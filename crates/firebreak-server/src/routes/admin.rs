//! Tokens, the audit log, the effective config and "who am I".

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use firebreak_domain::{AccessRole, Name};
use firebreak_engine::tokens::reveal;
use firebreak_engine::{EngineError, Firebreak};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::extract::{Admin, ApiJson, Caller, Viewer};
use crate::problem::{ApiError, Problem};
use crate::routes::incidents::{PageQuery, cursor, limit, page_by_key};
use crate::wire::{AuditEntryBody, ConfigBody, ListBody, TokenBody};

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TokenRequest {
    pub name: String,
    /// viewer, responder or admin.
    pub role: String,
    /// The user the token acts for; its actions are recorded under this handle.
    pub user: Option<String>,
}

#[utoipa::path(get, path = "/api/v1/tokens", tag = "tokens", params(PageQuery), responses((status = 200, body = ListBody<TokenBody>)))]
pub async fn list_tokens(
    _c: Caller<Admin>,
    State(app): State<Firebreak>,
    query: Result<Query<PageQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<ListBody<TokenBody>>, ApiError> {
    let tokens = app.list_tokens().await?;
    let (page, next) = page_by_key(tokens, |t| t.id.clone(), query)?;
    Ok(Json(ListBody::keyed(
        page.into_iter().map(Into::into).collect(),
        next,
    )))
}

#[utoipa::path(post, path = "/api/v1/tokens", tag = "tokens", request_body = TokenRequest,
    responses((status = 201, body = TokenBody, description = "`token` holds the secret; it is shown only here")))]
pub async fn create_token(
    caller: Caller<Admin>,
    State(app): State<Firebreak>,
    ApiJson(req): ApiJson<TokenRequest>,
) -> Result<(StatusCode, Json<TokenBody>), ApiError> {
    let role: AccessRole =
        req.role
            .parse()
            .map_err(|e: firebreak_domain::access::BadAccessRole| {
                ApiError::invalid("role", e.to_string())
            })?;
    let user = match req.user {
        None => None,
        Some(u) => {
            let handle = Name::parse(&u).map_err(|e| ApiError::invalid("user", e.to_string()))?;
            app.user(&handle)
                .await
                .map_err(|_| ApiError::invalid("user", format!("there is no user `{u}`")))?;
            Some(handle)
        }
    };
    let issued = app
        .create_token(&caller.principal, &req.name, role, user)
        .await?;
    let mut body = TokenBody::from(issued.record);
    body.token = Some(reveal(&issued.secret).to_string());
    Ok((StatusCode::CREATED, Json(body)))
}

#[utoipa::path(delete, path = "/api/v1/tokens/{id}", tag = "tokens", params(("id" = String, Path)),
    responses((status = 200, body = TokenBody), (status = 404, body = Problem)))]
pub async fn revoke_token(
    caller: Caller<Admin>,
    State(app): State<Firebreak>,
    Path(id): Path<String>,
) -> Result<Json<TokenBody>, ApiError> {
    Ok(Json(app.revoke_token(&caller.principal, &id).await?.into()))
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct AuditQuery {
    pub limit: Option<u32>,
    pub cursor: Option<String>,
}

#[utoipa::path(get, path = "/api/v1/audit", tag = "audit", params(AuditQuery),
    responses((status = 200, body = ListBody<AuditEntryBody>)))]
pub async fn audit(
    _c: Caller<Admin>,
    State(app): State<Firebreak>,
    query: Result<Query<AuditQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<ListBody<AuditEntryBody>>, ApiError> {
    let Query(q) = query.map_err(|e| ApiError::invalid("query", e.body_text()))?;
    let page = app
        .store
        .list_audit(cursor(q.cursor.as_deref())?, limit(q.limit)?)
        .await
        .map_err(EngineError::from)?;
    Ok(Json(ListBody::new(
        page.items.into_iter().map(Into::into).collect(),
        page.next,
    )))
}

#[utoipa::path(get, path = "/api/v1/config", tag = "config", responses((status = 200, body = ConfigBody)))]
pub async fn config(_c: Caller<Viewer>, State(app): State<Firebreak>) -> Json<ConfigBody> {
    Json(ConfigBody::from(app.config.as_ref()))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MeBody {
    pub actor: String,
    pub role: String,
}

#[utoipa::path(get, path = "/api/v1/me", tag = "config", responses((status = 200, body = MeBody)))]
pub async fn me(caller: Caller<Viewer>) -> Json<MeBody> {
    Json(MeBody {
        actor: caller.principal.actor.0,
        role: caller.principal.role.to_string(),
    })
}
