//! `/api/v1/services` and `/api/v1/users`. Everyone may read; only admins change them.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use firebreak_domain::{AccessRole, Name};
use firebreak_engine::Firebreak;
use firebreak_engine::directory::ServiceFields;
use firebreak_store::UserRecord;
use serde::Deserialize;
use utoipa::ToSchema;

use crate::extract::{Admin, ApiJson, ApiQuery, Caller, Viewer};
use crate::fields::{AccessRoleName, Email, HttpLink, NameText, PersonName, TimeZoneName};
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
    pub name: NameText,
    pub description: Option<String>,
    pub team: Option<String>,
    /// An http(s) link to the service's runbook.
    pub runbook: Option<HttpLink>,
    /// The escalation policy paged for the service's alerts and incidents.
    pub escalation_policy: Option<NameText>,
    /// A user paged directly when a severity's `page` list names `manager`.
    pub manager: Option<NameText>,
}

#[utoipa::path(get, path = "/api/v1/services", tag = "services", params(PageQuery),
    security(("bearer" = ["viewer"])), responses((status = 200, body = ListBody<ServiceBody>)))]
pub async fn list_services(
    _c: Caller<Viewer>,
    State(app): State<Firebreak>,
    ApiQuery(query): ApiQuery<PageQuery>,
) -> Result<Json<ListBody<ServiceBody>>, ApiError> {
    let services = app.list_services().await?;
    let (page, next) = page_by_key(services, |s| s.name.to_string(), query);
    Ok(Json(ListBody::keyed(
        page.into_iter().map(Into::into).collect(),
        next,
    )))
}

#[utoipa::path(post, path = "/api/v1/services", tag = "services", request_body = ServiceRequest,
    security(("bearer" = ["admin"])),
    responses((status = 201, body = ServiceBody), (status = 409, body = Problem, description = "A service with that name exists")))]
pub async fn create_service(
    caller: Caller<Admin>,
    State(app): State<Firebreak>,
    ApiJson(req): ApiJson<ServiceRequest>,
) -> Result<(StatusCode, Json<ServiceBody>), ApiError> {
    let name = req.name.0;
    let fields = ServiceFields {
        description: req.description,
        team: req.team,
        runbook: req.runbook.map(HttpLink::into_inner),
        escalation_policy: Some(req.escalation_policy.map(|n| n.0)),
        manager: Some(req.manager.map(|n| n.0)),
    };
    let service = app.create_service(&caller.principal, name, fields).await?;
    Ok((StatusCode::CREATED, Json(service.into())))
}

#[utoipa::path(get, path = "/api/v1/services/{name}", tag = "services", params(("name" = NameText, Path)),
    security(("bearer" = ["viewer"])),
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
    pub runbook: Option<HttpLink>,
    /// The escalation policy paged for the service's alerts and incidents; `null` clears it.
    #[serde(default, deserialize_with = "crate::fields::nullable")]
    #[schema(value_type = Option<NameText>, nullable)]
    pub escalation_policy: Option<Option<NameText>>,
    /// A user paged directly when a severity's `page` list names `manager`; `null` clears it.
    #[serde(default, deserialize_with = "crate::fields::nullable")]
    #[schema(value_type = Option<NameText>, nullable)]
    pub manager: Option<Option<NameText>>,
}

#[utoipa::path(patch, path = "/api/v1/services/{name}", tag = "services", params(("name" = NameText, Path)),
    security(("bearer" = ["admin"])),
    request_body = ServicePatch, responses((status = 200, body = ServiceBody), (status = 404, body = Problem)))]
pub async fn update_service(
    caller: Caller<Admin>,
    State(app): State<Firebreak>,
    Path(name): Path<String>,
    ApiJson(req): ApiJson<ServicePatch>,
) -> Result<Json<ServiceBody>, ApiError> {
    let fields = ServiceFields {
        description: req.description,
        team: req.team,
        runbook: req.runbook.map(HttpLink::into_inner),
        escalation_policy: req.escalation_policy.map(|p| p.map(|n| n.0)),
        manager: req.manager.map(|m| m.map(|n| n.0)),
    };
    Ok(Json(
        app.update_service(&caller.principal, &service_name(&name)?, fields)
            .await?
            .into(),
    ))
}

#[utoipa::path(delete, path = "/api/v1/services/{name}", tag = "services", params(("name" = NameText, Path)),
    security(("bearer" = ["admin"])),
    responses((status = 204, description = "Deleted"), (status = 404, body = Problem),
        (status = 409, body = Problem, description = "The service is declared in firebreak.yaml, or still in use")))]
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
    pub handle: NameText,
    pub name: PersonName,
    pub email: Option<Email>,
    /// An IANA time zone such as Europe/Berlin.
    pub time_zone: Option<TimeZoneName>,
    /// Default responder.
    pub role: Option<AccessRoleName>,
}

#[utoipa::path(get, path = "/api/v1/users", tag = "users", params(PageQuery),
    security(("bearer" = ["viewer"])), responses((status = 200, body = ListBody<UserBody>)))]
pub async fn list_users(
    _c: Caller<Viewer>,
    State(app): State<Firebreak>,
    ApiQuery(query): ApiQuery<PageQuery>,
) -> Result<Json<ListBody<UserBody>>, ApiError> {
    let users = app.list_users().await?;
    let (page, next) = page_by_key(users, |u| u.handle.to_string(), query);
    Ok(Json(ListBody::keyed(
        page.into_iter().map(Into::into).collect(),
        next,
    )))
}

#[utoipa::path(post, path = "/api/v1/users", tag = "users", request_body = UserRequest,
    security(("bearer" = ["admin"])),
    responses((status = 201, body = UserBody), (status = 409, body = Problem, description = "A user with that handle exists")))]
pub async fn create_user(
    caller: Caller<Admin>,
    State(app): State<Firebreak>,
    ApiJson(req): ApiJson<UserRequest>,
) -> Result<(StatusCode, Json<UserBody>), ApiError> {
    let role = req.role.map_or(AccessRole::Responder, AccessRole::from);
    let user = UserRecord {
        handle: req.handle.0,
        name: req.name.into_inner(),
        email: req.email.map(Email::into_inner),
        time_zone: req.time_zone.map(|t| t.0),
        role,
        from_config: false,
        created_at: app.clock.now(),
        disabled_at: None,
    };
    Ok((
        StatusCode::CREATED,
        Json(app.create_user(&caller.principal, user).await?.into()),
    ))
}

#[utoipa::path(get, path = "/api/v1/users/{handle}", tag = "users", params(("handle" = NameText, Path)),
    security(("bearer" = ["viewer"])),
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
    pub name: Option<PersonName>,
    pub email: Option<Email>,
    pub time_zone: Option<TimeZoneName>,
    /// The user's tokens can do no more than this.
    pub role: Option<AccessRoleName>,
    /// True disables the user and every token that acts as them; false enables them again.
    pub disabled: Option<bool>,
}

#[utoipa::path(patch, path = "/api/v1/users/{handle}", tag = "users", params(("handle" = NameText, Path)),
    security(("bearer" = ["admin"])),
    request_body = UserPatch, responses((status = 200, body = UserBody), (status = 404, body = Problem),
        (status = 409, body = Problem)))]
pub async fn update_user(
    caller: Caller<Admin>,
    State(app): State<Firebreak>,
    Path(handle): Path<String>,
    ApiJson(req): ApiJson<UserPatch>,
) -> Result<Json<UserBody>, ApiError> {
    let mut user = app.user(&user_handle(&handle)?).await?;
    if let Some(n) = req.name {
        user.name = n.into_inner();
    }
    if let Some(e) = req.email {
        user.email = Some(e.into_inner());
    }
    if let Some(t) = req.time_zone {
        user.time_zone = Some(t.0);
    }
    if let Some(r) = req.role {
        user.role = r.into();
    }
    match req.disabled {
        Some(true) if user.disabled_at.is_none() => user.disabled_at = Some(app.clock.now()),
        Some(false) => user.disabled_at = None,
        _ => {}
    }
    Ok(Json(app.update_user(&caller.principal, user).await?.into()))
}

/// `POST /api/v1/users/{handle}/invitations`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InvitationRequest {
    /// How long the link works, like `72h` (the default) or `7d`; at most 14 days.
    pub expires_in: Option<crate::fields::Text100>,
}

#[derive(serde::Serialize, ToSchema)]
pub struct InvitationBody {
    pub user: String,
    /// The one-time link to send the user. Shown only now.
    pub url: String,
    pub expires_at: String,
}

fn lifetime(text: &str) -> Result<jiff::SignedDuration, ApiError> {
    let t = text.trim();
    let parsed = t
        .strip_suffix('d')
        .and_then(|days| days.parse::<i64>().ok())
        // Far past the 14-day limit, but small enough that no arithmetic overflows.
        .filter(|d| (1..=36_500).contains(d))
        .map(|d| jiff::SignedDuration::from_hours(d * 24))
        .or_else(|| t.parse::<jiff::SignedDuration>().ok());
    parsed.filter(|d| d.is_positive()).ok_or_else(|| {
        ApiError::invalid(
            "expires_in",
            format!("`{t}` is not a duration like 72h or 7d"),
        )
    })
}

/// Makes a one-time link for the user to set their password and sign in to the web pages.
/// An earlier link keeps working until it is used or expires.
#[utoipa::path(post, path = "/api/v1/users/{handle}/invitations", tag = "users",
    params(("handle" = NameText, Path)), security(("bearer" = ["admin"])),
    request_body(content = Option<InvitationRequest>, description = "No body (the link works for 72 hours), or `{\"expires_in\": \"24h\"}`"),
    responses((status = 201, body = InvitationBody), (status = 404, body = Problem),
        (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn invite_user(
    caller: Caller<Admin>,
    State(app): State<Firebreak>,
    Path(handle): Path<String>,
    body: axum::body::Bytes,
) -> Result<(StatusCode, Json<InvitationBody>), ApiError> {
    let handle = user_handle(&handle)?;
    // The body may be left out: the link then works for 72 hours.
    let req: InvitationRequest = if body.iter().all(u8::is_ascii_whitespace) {
        InvitationRequest { expires_in: None }
    } else {
        crate::extract::parse_json(&body)?
    };
    let ttl = match req.expires_in {
        Some(t) => Some(lifetime(&t.into_inner())?),
        None => None,
    };
    let link = app.invite(&caller.principal, &handle, ttl).await?;
    use secrecy::ExposeSecret;
    Ok((
        StatusCode::CREATED,
        Json(InvitationBody {
            user: handle.to_string(),
            url: link.url.expose_secret().to_string(),
            expires_at: link.invitation.expires_at.to_string(),
        }),
    ))
}

/// `PUT /api/v1/users/{handle}/password`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordRequest {
    /// At least 12 characters.
    #[schema(min_length = 12, max_length = 1024)]
    pub password: String,
    /// The user's current password: needed to change your own, unless you are an admin.
    #[schema(max_length = 1024)]
    pub current_password: Option<String>,
}

impl std::fmt::Debug for PasswordRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PasswordRequest { password: <secret> }")
    }
}

/// Sets a user's password for the web pages. An admin may set anyone's; a user may set their
/// own with their current password, through a token of their full role. Every browser signed
/// in as the user is signed out, and their unused invitation links end.
#[utoipa::path(put, path = "/api/v1/users/{handle}/password", tag = "users",
    params(("handle" = NameText, Path)), security(("bearer" = ["viewer"])),
    request_body = PasswordRequest,
    responses((status = 204), (status = 403, body = Problem), (status = 404, body = Problem),
        (status = 422, body = Problem)))]
pub async fn set_password(
    caller: Caller<Viewer>,
    State(app): State<Firebreak>,
    Path(handle): Path<String>,
    ApiJson(req): ApiJson<PasswordRequest>,
) -> Result<StatusCode, ApiError> {
    let handle = user_handle(&handle)?;
    let password = secrecy::SecretString::from(req.password);
    let current = req.current_password.map(secrecy::SecretString::from);
    app.set_password(&caller.principal, &handle, &password, current.as_ref())
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(serde::Serialize, ToSchema)]
pub struct SignedOutBody {
    /// How many browsers were signed out.
    pub signed_out: u64,
}

/// Signs out every browser of a user ("sign out everywhere"). A user may do it for
/// themselves; an admin for anyone.
#[utoipa::path(delete, path = "/api/v1/users/{handle}/sessions", tag = "users",
    params(("handle" = NameText, Path)), security(("bearer" = ["viewer"])),
    responses((status = 200, body = SignedOutBody), (status = 403, body = Problem),
        (status = 404, body = Problem)))]
pub async fn revoke_sessions(
    caller: Caller<Viewer>,
    State(app): State<Firebreak>,
    Path(handle): Path<String>,
) -> Result<Json<SignedOutBody>, ApiError> {
    let handle = user_handle(&handle)?;
    let n = app.revoke_user_sessions(&caller.principal, &handle).await?;
    Ok(Json(SignedOutBody { signed_out: n }))
}
