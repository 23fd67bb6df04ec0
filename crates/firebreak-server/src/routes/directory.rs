//! `/api/v1/services` and `/api/v1/users`. Everyone may read; only admins change them.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use firebreak_domain::{AccessRole, Name};
use firebreak_engine::Firebreak;
use firebreak_engine::directory::ServiceFields;
use firebreak_store::UserRecord;
use serde::Deserialize;
use utoipa::ToSchema;

use crate::extract::{Admin, ApiJson, Caller, Viewer};
use crate::problem::{ApiError, Problem};
use crate::routes::incidents::{PageQuery, page_by_key};
use crate::wire::{ListBody, ServiceBody, UserBody};

fn service_name(name: &str) -> Result<Name, ApiError> {
    Name::parse(name)
        .map_err(|_| ApiError::not_found(format!("there is no service named `{name}`")))
}

fn user_handle(handle: &str) -> Result<Name, ApiError> {
    Name::parse(handle).map_err(|_| ApiError::not_found(format!("there is no user `{handle}`")))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ServiceRequest {
    pub name: String,
    pub description: Option<String>,
    pub team: Option<String>,
    /// An http(s) link to the service's runbook.
    pub runbook: Option<String>,
}

#[utoipa::path(get, path = "/api/v1/services", tag = "services", params(PageQuery), responses((status = 200, body = ListBody<ServiceBody>)))]
pub async fn list_services(
    _c: Caller<Viewer>,
    State(app): State<Firebreak>,
    query: Result<Query<PageQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<ListBody<ServiceBody>>, ApiError> {
    let services = app
        .store
        .list_services()
        .await
        .map_err(firebreak_engine::EngineError::from)?;
    let (page, next) = page_by_key(services, |s| s.name.to_string(), query)?;
    Ok(Json(ListBody::keyed(
        page.into_iter().map(Into::into).collect(),
        next,
    )))
}

#[utoipa::path(post, path = "/api/v1/services", tag = "services", request_body = ServiceRequest,
    responses((status = 201, body = ServiceBody), (status = 409, body = Problem)))]
pub async fn create_service(
    caller: Caller<Admin>,
    State(app): State<Firebreak>,
    ApiJson(req): ApiJson<ServiceRequest>,
) -> Result<(StatusCode, Json<ServiceBody>), ApiError> {
    let name = Name::parse(&req.name).map_err(|e| ApiError::invalid("name", e.to_string()))?;
    let fields = ServiceFields {
        description: req.description,
        team: req.team,
        runbook: req.runbook,
    };
    let service = app.create_service(&caller.principal, name, fields).await?;
    Ok((StatusCode::CREATED, Json(service.into())))
}

#[utoipa::path(get, path = "/api/v1/services/{name}", tag = "services", params(("name" = String, Path)),
    responses((status = 200, body = ServiceBody), (status = 404, body = Problem)))]
pub async fn show_service(
    _c: Caller<Viewer>,
    State(app): State<Firebreak>,
    Path(name): Path<String>,
) -> Result<Json<ServiceBody>, ApiError> {
    Ok(Json(app.service(&service_name(&name)?).await?.into()))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ServicePatch {
    pub description: Option<String>,
    pub team: Option<String>,
    pub runbook: Option<String>,
}

#[utoipa::path(patch, path = "/api/v1/services/{name}", tag = "services", params(("name" = String, Path)),
    request_body = ServicePatch, responses((status = 200, body = ServiceBody)))]
pub async fn update_service(
    caller: Caller<Admin>,
    State(app): State<Firebreak>,
    Path(name): Path<String>,
    ApiJson(req): ApiJson<ServicePatch>,
) -> Result<Json<ServiceBody>, ApiError> {
    let fields = ServiceFields {
        description: req.description,
        team: req.team,
        runbook: req.runbook,
    };
    Ok(Json(
        app.update_service(&caller.principal, &service_name(&name)?, fields)
            .await?
            .into(),
    ))
}

#[utoipa::path(delete, path = "/api/v1/services/{name}", tag = "services", params(("name" = String, Path)),
    responses((status = 204), (status = 409, body = Problem)))]
pub async fn delete_service(
    caller: Caller<Admin>,
    State(app): State<Firebreak>,
    Path(name): Path<String>,
) -> Result<StatusCode, ApiError> {
    app.delete_service(&caller.principal, &service_name(&name)?)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UserRequest {
    pub handle: String,
    pub name: String,
    pub email: Option<String>,
    /// An IANA time zone such as Europe/Berlin.
    pub time_zone: Option<String>,
    /// viewer, responder (default) or admin.
    pub role: Option<String>,
}

fn check_user_fields(email: &Option<String>, tz: &Option<String>) -> Result<(), ApiError> {
    if let Some(e) = email {
        let ok = e
            .split_once('@')
            .is_some_and(|(a, b)| !a.is_empty() && b.contains('.'));
        if !ok {
            return Err(ApiError::invalid("email", "is not an email address"));
        }
    }
    if let Some(tz) = tz {
        jiff::tz::TimeZone::get(tz).map_err(|_| {
            ApiError::invalid("time_zone", format!("`{tz}` is not a known time zone"))
        })?;
    }
    Ok(())
}

#[utoipa::path(get, path = "/api/v1/users", tag = "users", params(PageQuery), responses((status = 200, body = ListBody<UserBody>)))]
pub async fn list_users(
    _c: Caller<Viewer>,
    State(app): State<Firebreak>,
    query: Result<Query<PageQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<ListBody<UserBody>>, ApiError> {
    let users = app
        .store
        .list_users()
        .await
        .map_err(firebreak_engine::EngineError::from)?;
    let (page, next) = page_by_key(users, |u| u.handle.to_string(), query)?;
    Ok(Json(ListBody::keyed(
        page.into_iter().map(Into::into).collect(),
        next,
    )))
}

#[utoipa::path(post, path = "/api/v1/users", tag = "users", request_body = UserRequest,
    responses((status = 201, body = UserBody), (status = 409, body = Problem)))]
pub async fn create_user(
    caller: Caller<Admin>,
    State(app): State<Firebreak>,
    ApiJson(req): ApiJson<UserRequest>,
) -> Result<(StatusCode, Json<UserBody>), ApiError> {
    let handle =
        Name::parse(&req.handle).map_err(|e| ApiError::invalid("handle", e.to_string()))?;
    check_user_fields(&req.email, &req.time_zone)?;
    let role = match req.role.as_deref() {
        None => AccessRole::Responder,
        Some(r) => r
            .parse()
            .map_err(|e: firebreak_domain::access::BadAccessRole| {
                ApiError::invalid("role", e.to_string())
            })?,
    };
    if req.name.trim().is_empty() {
        return Err(ApiError::invalid("name", "must not be empty"));
    }
    let user = UserRecord {
        handle,
        name: req.name,
        email: req.email,
        time_zone: req.time_zone,
        role,
        from_config: false,
        created_at: app.clock.now(),
    };
    Ok((
        StatusCode::CREATED,
        Json(app.create_user(&caller.principal, user).await?.into()),
    ))
}

#[utoipa::path(get, path = "/api/v1/users/{handle}", tag = "users", params(("handle" = String, Path)),
    responses((status = 200, body = UserBody), (status = 404, body = Problem)))]
pub async fn show_user(
    _c: Caller<Viewer>,
    State(app): State<Firebreak>,
    Path(handle): Path<String>,
) -> Result<Json<UserBody>, ApiError> {
    Ok(Json(app.user(&user_handle(&handle)?).await?.into()))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UserPatch {
    pub name: Option<String>,
    pub email: Option<String>,
    pub time_zone: Option<String>,
    pub role: Option<String>,
}

#[utoipa::path(patch, path = "/api/v1/users/{handle}", tag = "users", params(("handle" = String, Path)),
    request_body = UserPatch, responses((status = 200, body = UserBody)))]
pub async fn update_user(
    caller: Caller<Admin>,
    State(app): State<Firebreak>,
    Path(handle): Path<String>,
    ApiJson(req): ApiJson<UserPatch>,
) -> Result<Json<UserBody>, ApiError> {
    check_user_fields(&req.email, &req.time_zone)?;
    let mut user = app.user(&user_handle(&handle)?).await?;
    if let Some(n) = req.name {
        user.name = n;
    }
    if req.email.is_some() {
        user.email = req.email;
    }
    if req.time_zone.is_some() {
        user.time_zone = req.time_zone;
    }
    if let Some(r) = req.role {
        user.role = r
            .parse()
            .map_err(|e: firebreak_domain::access::BadAccessRole| {
                ApiError::invalid("role", e.to_string())
            })?;
    }
    Ok(Json(app.update_user(&caller.principal, user).await?.into()))
}
