//! Tokens, the audit log, the effective config and "who am I".

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use firebreak_engine::Firebreak;
use firebreak_engine::tokens::reveal;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::extract::{Admin, ApiJson, ApiQuery, Caller, Viewer};
use crate::fields::{AccessRoleName, IdCursor, Label, Limit, NameText, Time};
use crate::problem::{ApiError, Problem};
use crate::routes::incidents::{IdPageQuery, PageQuery, page_by_key};
use crate::wire::{AuditEntryBody, ListBody, TokenBody};

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TokenRequest {
    pub name: Label,
    pub role: AccessRoleName,
    /// The user the token acts for (an enabled user whose role is at least `role`); its
    /// actions are recorded under this handle, and it can do no more than the user can.
    pub user: Option<NameText>,
    /// When the token stops working, e.g. 90 days from now; must be in the future.
    pub expires_at: Option<Time>,
}

#[utoipa::path(get, path = "/api/v1/tokens", tag = "tokens", params(PageQuery),
    security(("bearer" = ["admin"])), responses((status = 200, body = ListBody<TokenBody>)))]
pub async fn list_tokens(
    _c: Caller<Admin>,
    State(app): State<Firebreak>,
    ApiQuery(query): ApiQuery<PageQuery>,
) -> Result<Json<ListBody<TokenBody>>, ApiError> {
    let tokens = app.list_tokens().await?;
    let (page, next) = page_by_key(tokens, |t| t.id.clone(), query);
    Ok(Json(ListBody::keyed(
        page.into_iter().map(Into::into).collect(),
        next,
    )))
}

#[utoipa::path(post, path = "/api/v1/tokens", tag = "tokens", request_body = TokenRequest,
    security(("bearer" = ["admin"])),
    responses((status = 201, body = TokenBody, description = "`token` holds the secret; it is shown only here")))]
pub async fn create_token(
    caller: Caller<Admin>,
    State(app): State<Firebreak>,
    ApiJson(req): ApiJson<TokenRequest>,
) -> Result<(StatusCode, Json<TokenBody>), ApiError> {
    let issued = app
        .create_token(
            &caller.principal,
            &req.name.0,
            req.role.into(),
            req.user.map(|u| u.0),
            req.expires_at.map(|t| t.0),
        )
        .await?;
    let mut body = TokenBody::from(issued.record);
    body.token = Some(reveal(&issued.secret).to_string());
    Ok((StatusCode::CREATED, Json(body)))
}

#[utoipa::path(delete, path = "/api/v1/tokens/{id}", tag = "tokens", params(("id" = String, Path)),
    security(("bearer" = ["admin"])),
    responses((status = 200, body = TokenBody), (status = 404, body = Problem)))]
pub async fn revoke_token(
    caller: Caller<Admin>,
    State(app): State<Firebreak>,
    Path(id): Path<String>,
) -> Result<Json<TokenBody>, ApiError> {
    Ok(Json(app.revoke_token(&caller.principal, &id).await?.into()))
}

#[utoipa::path(get, path = "/api/v1/audit", tag = "audit", params(IdPageQuery),
    security(("bearer" = ["admin"])),
    responses((status = 200, body = ListBody<AuditEntryBody>)))]
pub async fn audit(
    _c: Caller<Admin>,
    State(app): State<Firebreak>,
    ApiQuery(q): ApiQuery<IdPageQuery>,
) -> Result<Json<ListBody<AuditEntryBody>>, ApiError> {
    let page = app
        .list_audit(IdCursor::of(q.cursor), Limit::or_default(q.limit))
        .await?;
    Ok(Json(ListBody::new(
        page.items.into_iter().map(Into::into).collect(),
        page.next,
    )))
}

/// The running configuration in the same model and keys as `firebreak.yaml` (severities,
/// roles, checklists, services, users, schedules, alerting, outbound), with integration keys left out:
/// each appears as `{env: NAME}`. `firebreak config export` writes it back as YAML.
#[utoipa::path(get, path = "/api/v1/config", tag = "config",
    security(("bearer" = ["viewer"])),
    responses((status = 200, body = Object, description = "The firebreak.yaml model as JSON")))]
pub async fn config(_c: Caller<Viewer>, State(app): State<Firebreak>) -> Json<serde_json::Value> {
    Json(firebreak_config::to_document(app.config.as_ref()))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MeBody {
    pub actor: String,
    pub role: String,
    /// The user the token acts as; null for a token that belongs to no user.
    pub user: Option<String>,
}

#[utoipa::path(get, path = "/api/v1/me", tag = "config", security(("bearer" = ["viewer"])), responses((status = 200, body = MeBody)))]
pub async fn me(caller: Caller<Viewer>) -> Json<MeBody> {
    Json(MeBody {
        actor: caller.principal.actor.0,
        role: caller.principal.role.to_string(),
        user: caller.principal.user.map(|u| u.to_string()),
    })
}
