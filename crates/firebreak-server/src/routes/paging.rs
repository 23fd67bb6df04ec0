//! Paging over HTTP: users' contact methods (admins manage anyone's, a user their own),
//! escalation policies (admins change them, everyone reads), escalations with their pages,
//! and acknowledging an incident.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use firebreak_domain::contact::ContactKind;
use firebreak_domain::escalation::{Policy, Step, Target};
use firebreak_domain::{IncidentNumber, Name};
use firebreak_engine::Firebreak;
use firebreak_engine::paging::{ContactDraft, EscalationView, PolicyView, TestOutcome};
use firebreak_store::ContactRecord;
use jiff::{SignedDuration, Timestamp};
use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::extract::{Admin, ApiJson, ApiQuery, Caller, NoBody, Responder, Viewer};
use crate::fields::{Label, NameText, NoFields, StepDelay};
use crate::problem::{ApiError, Problem};
use crate::routes::incidents::{incident_body, number};
use crate::wire::{IncidentBody, ListBody};

fn user_handle(handle: &str) -> Result<Name, ApiError> {
    Name::parse(handle).map_err(|_| ApiError::not_found(format!("there is no user `{handle}`")))
}

fn policy_name(name: &str) -> Result<Name, ApiError> {
    Name::parse(name)
        .map_err(|_| ApiError::not_found(format!("there is no escalation policy named `{name}`")))
}

// --- contact methods ------------------------------------------------------------------------

/// How a contact method reaches its user.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ContactType {
    Email,
    Webhook,
    Slack,
    Mattermost,
    Teams,
    Ntfy,
}

impl ContactType {
    fn kind(self) -> ContactKind {
        match self {
            ContactType::Email => ContactKind::Email,
            ContactType::Webhook => ContactKind::Webhook,
            ContactType::Slack => ContactKind::Slack,
            ContactType::Mattermost => ContactKind::Mattermost,
            ContactType::Teams => ContactKind::Teams,
            ContactType::Ntfy => ContactKind::Ntfy,
        }
    }

    fn of(kind: ContactKind) -> ContactType {
        match kind {
            ContactKind::Email => ContactType::Email,
            ContactKind::Webhook => ContactType::Webhook,
            ContactKind::Slack => ContactType::Slack,
            ContactKind::Mattermost => ContactType::Mattermost,
            ContactKind::Teams => ContactType::Teams,
            ContactKind::Ntfy => ContactType::Ntfy,
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ContactRequest {
    #[serde(rename = "type")]
    pub kind: ContactType,
    /// An email address for `email`; the URL to post to for every other type (for `ntfy`,
    /// the topic's URL, like `https://ntfy.example.com/oncall-alice`).
    #[schema(min_length = 3, max_length = 2000)]
    pub target: String,
    /// Unique per user; defaults to the type.
    pub name: Option<Label>,
    /// For `ntfy` only: an access token (`tk_...`), sent as a bearer token.
    #[schema(min_length = 1, max_length = 200)]
    pub token: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ContactBody {
    /// e.g. `cm_3f9c2a1b7e40`.
    pub id: String,
    #[serde(rename = "type")]
    pub kind: ContactType,
    pub name: String,
    pub user: String,
    /// The email address or URL. Chat and ntfy URLs are secrets and are shown masked.
    pub target: String,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
    /// A webhook's signing secret (`whsec_...`): shown once, in the answer that created it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
}

impl From<ContactRecord> for ContactBody {
    fn from(c: ContactRecord) -> Self {
        ContactBody {
            target: c.shown_target(),
            id: c.id,
            kind: ContactType::of(c.kind),
            name: c.name,
            user: c.user.to_string(),
            created_at: c.created_at,
            secret: None,
        }
    }
}

fn check_text(field: &str, text: &str, max: usize) -> Result<(), ApiError> {
    if text.trim().is_empty() || text.chars().count() > max || text.chars().any(char::is_control) {
        return Err(ApiError::invalid(
            field,
            format!("must be 1 to {max} characters with no control characters"),
        ));
    }
    Ok(())
}

#[utoipa::path(post, path = "/api/v1/users/{handle}/contact-methods", tag = "paging",
    params(("handle" = NameText, Path)), request_body = ContactRequest,
    security(("bearer" = ["viewer"])),
    responses((status = 201, body = ContactBody), (status = 404, body = Problem),
        (status = 409, body = Problem, description = "The user has a contact method of that name, or too many")))]
pub async fn add_contact(
    caller: Caller<Viewer>,
    State(app): State<Firebreak>,
    Path(handle): Path<String>,
    ApiJson(req): ApiJson<ContactRequest>,
) -> Result<(StatusCode, Json<ContactBody>), ApiError> {
    check_text("target", &req.target, 2000)?;
    if let Some(token) = &req.token {
        check_text("token", token, 200)?;
    }
    let user = user_handle(&handle)?;
    let draft = ContactDraft {
        kind: req.kind.kind(),
        target: req.target,
        name: req.name.map(Label::into_inner),
        token: req.token,
    };
    let created = app.add_contact(&caller.principal, &user, draft).await?;
    let mut body = ContactBody::from(created.contact);
    body.secret = created.secret.map(|s| s.expose_secret().to_string());
    Ok((StatusCode::CREATED, Json(body)))
}

#[utoipa::path(get, path = "/api/v1/users/{handle}/contact-methods", tag = "paging",
    params(("handle" = NameText, Path)), security(("bearer" = ["viewer"])),
    responses((status = 200, body = ListBody<ContactBody>), (status = 404, body = Problem)))]
pub async fn list_contacts(
    caller: Caller<Viewer>,
    State(app): State<Firebreak>,
    Path(handle): Path<String>,
) -> Result<Json<ListBody<ContactBody>>, ApiError> {
    let contacts = app
        .contacts(&caller.principal, &user_handle(&handle)?)
        .await?;
    Ok(Json(ListBody::keyed(
        contacts.into_iter().map(Into::into).collect(),
        None,
    )))
}

#[utoipa::path(delete, path = "/api/v1/users/{handle}/contact-methods/{id}", tag = "paging",
    params(("handle" = NameText, Path), ("id" = String, Path)), security(("bearer" = ["viewer"])),
    responses((status = 204, description = "Removed"), (status = 404, body = Problem)))]
pub async fn remove_contact(
    caller: Caller<Viewer>,
    State(app): State<Firebreak>,
    Path((handle, id)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    app.remove_contact(&caller.principal, &user_handle(&handle)?, &id)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TestBody {
    /// True when the receiver accepted the test page.
    pub delivered: bool,
    /// The receiver's HTTP status, when it answered.
    pub status: Option<u16>,
    /// Why it was not delivered, or what the receiver said.
    pub detail: Option<String>,
    pub duration_ms: i64,
}

impl From<TestOutcome> for TestBody {
    fn from(t: TestOutcome) -> Self {
        TestBody {
            delivered: t.delivered,
            status: t.status,
            detail: t.detail,
            duration_ms: t.duration_ms,
        }
    }
}

#[utoipa::path(post, path = "/api/v1/users/{handle}/contact-methods/{id}/test", tag = "paging",
    params(("handle" = NameText, Path), ("id" = String, Path)), security(("bearer" = ["viewer"])),
    request_body(content = Option<NoFields>, description = "No body, or `{}`"),
    responses((status = 200, body = TestBody, description = "What the receiver answered; `delivered` says whether it took the page"),
        (status = 404, body = Problem)))]
pub async fn test_contact(
    caller: Caller<Viewer>,
    State(app): State<Firebreak>,
    Path((handle, id)): Path<(String, String)>,
    _: NoBody,
) -> Result<Json<TestBody>, ApiError> {
    let outcome = app
        .test_contact(&caller.principal, &user_handle(&handle)?, &id)
        .await?;
    Ok(Json(outcome.into()))
}

// --- escalation policies --------------------------------------------------------------------

/// Who a step pages: a user, or whoever is on call on a schedule when the step fires.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(untagged, deny_unknown_fields)]
pub enum TargetRequest {
    User { user: NameText },
    Schedule { schedule: NameText },
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StepRequest {
    /// How long after this step pages the next one does.
    pub delay: StepDelay,
    #[schema(min_items = 1, max_items = 20)]
    #[serde(deserialize_with = "targets")]
    pub targets: Vec<TargetRequest>,
}

/// Reads a step's targets one by one, so a wrong one is named by its place and the error says
/// what a target looks like (an untagged enum only says that nothing matched).
fn targets<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<TargetRequest>, D::Error> {
    use serde::de::Error as _;
    let values = <Vec<serde_json::Value> as Deserialize>::deserialize(d)?;
    values
        .into_iter()
        .enumerate()
        .map(|(i, value)| {
            let shape = || {
                D::Error::custom(format!(
                    "target {i} must be {{\"user\": HANDLE}} or {{\"schedule\": NAME}}, with exactly one of the two"
                ))
            };
            let serde_json::Value::Object(map) = value else {
                return Err(shape());
            };
            let mut entries = map.into_iter();
            let (Some((key, name)), None) = (entries.next(), entries.next()) else {
                return Err(shape());
            };
            let name = NameText::deserialize(name)
                .map_err(|e| D::Error::custom(format!("target {i}: `{key}` {e}")))?;
            match key.as_str() {
                "user" => Ok(TargetRequest::User { user: name }),
                "schedule" => Ok(TargetRequest::Schedule { schedule: name }),
                _ => Err(shape()),
            }
        })
        .collect()
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PolicyRequest {
    pub name: NameText,
    /// How many more times the steps run after the first round.
    #[serde(default, deserialize_with = "crate::fields::whole_u32")]
    #[schema(minimum = 0, maximum = 20)]
    pub repeat: u32,
    #[schema(min_items = 1, max_items = 20)]
    pub steps: Vec<StepRequest>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PolicyUpdate {
    #[serde(default, deserialize_with = "crate::fields::whole_u32")]
    #[schema(minimum = 0, maximum = 20)]
    pub repeat: u32,
    #[schema(min_items = 1, max_items = 20)]
    pub steps: Vec<StepRequest>,
}

fn into_policy(name: Name, repeat: u32, steps: Vec<StepRequest>) -> Result<Policy, ApiError> {
    let mut out = Vec::with_capacity(steps.len());
    for (i, s) in steps.into_iter().enumerate() {
        let delay = firebreak_config::parse_duration(&s.delay.0)
            .ok_or_else(|| ApiError::invalid(format!("steps[{i}].delay"), "is not a duration"))?;
        out.push(Step {
            delay,
            targets: s
                .targets
                .into_iter()
                .map(|t| match t {
                    TargetRequest::User { user } => Target::User(user.0),
                    TargetRequest::Schedule { schedule } => Target::Schedule(schedule.0),
                })
                .collect(),
        });
    }
    Policy::new(name, repeat, out).map_err(|e| ApiError::invalid(e.field, e.message))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TargetBody {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub schedule: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct StepBody {
    pub delay: String,
    pub targets: Vec<TargetBody>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PolicyBody {
    pub name: String,
    pub repeat: u32,
    pub steps: Vec<StepBody>,
    /// Services whose alerts and incidents this policy pages.
    pub services: Vec<String>,
    /// Declared in firebreak.yaml: change it there.
    pub from_config: bool,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: Timestamp,
}

/// `90s`, `5m`, `2h`: a delay in its largest whole unit.
fn delay_text(d: SignedDuration) -> String {
    let s = d.as_secs();
    if s % 3600 == 0 {
        format!("{}h", s / 3600)
    } else if s % 60 == 0 {
        format!("{}m", s / 60)
    } else {
        format!("{s}s")
    }
}

fn policy_body(v: PolicyView) -> PolicyBody {
    let p = v.record.policy;
    PolicyBody {
        name: p.name.to_string(),
        repeat: p.repeat,
        steps: p
            .steps
            .into_iter()
            .map(|s| StepBody {
                delay: delay_text(s.delay),
                targets: s
                    .targets
                    .into_iter()
                    .map(|t| match t {
                        Target::User(u) => TargetBody {
                            user: Some(u.to_string()),
                            schedule: None,
                        },
                        Target::Schedule(s) => TargetBody {
                            user: None,
                            schedule: Some(s.to_string()),
                        },
                    })
                    .collect(),
            })
            .collect(),
        services: v.services.into_iter().map(|s| s.to_string()).collect(),
        from_config: v.record.from_config,
        created_at: v.record.created_at,
        updated_at: v.record.updated_at,
    }
}

#[utoipa::path(get, path = "/api/v1/escalation-policies", tag = "paging",
    security(("bearer" = ["viewer"])), responses((status = 200, body = ListBody<PolicyBody>)))]
pub async fn list_policies(
    _c: Caller<Viewer>,
    State(app): State<Firebreak>,
) -> Result<Json<ListBody<PolicyBody>>, ApiError> {
    let policies = app.policies().await?;
    Ok(Json(ListBody::keyed(
        policies.into_iter().map(policy_body).collect(),
        None,
    )))
}

#[utoipa::path(post, path = "/api/v1/escalation-policies", tag = "paging", request_body = PolicyRequest,
    security(("bearer" = ["admin"])),
    responses((status = 201, body = PolicyBody), (status = 409, body = Problem, description = "A policy with that name exists")))]
pub async fn create_policy(
    caller: Caller<Admin>,
    State(app): State<Firebreak>,
    ApiJson(req): ApiJson<PolicyRequest>,
) -> Result<(StatusCode, Json<PolicyBody>), ApiError> {
    let policy = into_policy(req.name.0, req.repeat, req.steps)?;
    let saved = app.save_policy(&caller.principal, policy, false).await?;
    Ok((StatusCode::CREATED, Json(policy_body(saved))))
}

#[utoipa::path(get, path = "/api/v1/escalation-policies/{name}", tag = "paging",
    params(("name" = NameText, Path)), security(("bearer" = ["viewer"])),
    responses((status = 200, body = PolicyBody), (status = 404, body = Problem)))]
pub async fn show_policy(
    _c: Caller<Viewer>,
    State(app): State<Firebreak>,
    Path(name): Path<String>,
) -> Result<Json<PolicyBody>, ApiError> {
    Ok(Json(policy_body(app.policy(&policy_name(&name)?).await?)))
}

#[utoipa::path(put, path = "/api/v1/escalation-policies/{name}", tag = "paging",
    params(("name" = NameText, Path)), request_body = PolicyUpdate, security(("bearer" = ["admin"])),
    responses((status = 200, body = PolicyBody), (status = 404, body = Problem),
        (status = 409, body = Problem, description = "The policy is declared in firebreak.yaml")))]
pub async fn replace_policy(
    caller: Caller<Admin>,
    State(app): State<Firebreak>,
    Path(name): Path<String>,
    ApiJson(req): ApiJson<PolicyUpdate>,
) -> Result<Json<PolicyBody>, ApiError> {
    let policy = into_policy(policy_name(&name)?, req.repeat, req.steps)?;
    Ok(Json(policy_body(
        app.save_policy(&caller.principal, policy, true).await?,
    )))
}

#[utoipa::path(delete, path = "/api/v1/escalation-policies/{name}", tag = "paging",
    params(("name" = NameText, Path)), security(("bearer" = ["admin"])),
    responses((status = 204, description = "Removed"), (status = 404, body = Problem),
        (status = 409, body = Problem, description = "Declared in firebreak.yaml, or a service still names it")))]
pub async fn delete_policy(
    caller: Caller<Admin>,
    State(app): State<Firebreak>,
    Path(name): Path<String>,
) -> Result<StatusCode, ApiError> {
    app.delete_policy(&caller.principal, &policy_name(&name)?)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

// --- escalations ----------------------------------------------------------------------------

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct EscalationQuery {
    /// Escalations started by this alert.
    #[param(minimum = 1)]
    pub alert: Option<i64>,
    /// Escalations of this incident, `INC-12` or `12`.
    #[param(pattern = "^(INC-)?[1-9][0-9]{0,17}$")]
    pub incident: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct NotificationBody {
    pub id: i64,
    pub user: String,
    /// The contact method's type.
    #[serde(rename = "type")]
    pub kind: String,
    /// The contact method's name.
    pub contact: String,
    /// `pending`, `sending`, `delivered` or `failed`.
    pub status: String,
    pub attempts: i64,
    pub last_error: Option<String>,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub delivered_at: Option<Timestamp>,
    /// The 0-based step that sent it; null for a notice after exhaustion.
    pub step: Option<u32>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct EscalationBody {
    /// e.g. `esc_019a8b2c3d4e1f2a3b4c` (sorts by when it started).
    pub id: String,
    /// The alert that started it, if one did.
    pub alert: Option<i64>,
    /// The incident it belongs to, `INC-12`.
    pub incident: Option<String>,
    pub policy: String,
    /// `active`, `acknowledged`, `resolved` or `exhausted`.
    pub status: String,
    /// The 0-based step paged last (0 before any).
    pub step: u32,
    pub round: u32,
    #[schema(value_type = String, format = DateTime)]
    pub started_at: Timestamp,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub acknowledged_at: Option<Timestamp>,
    pub acknowledged_by: Option<String>,
    /// When the next step fires, while active.
    #[schema(value_type = Option<String>, format = DateTime)]
    pub next_step_at: Option<Timestamp>,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub ended_at: Option<Timestamp>,
    pub drill: bool,
    pub notifications: Vec<NotificationBody>,
}

fn escalation_body(v: EscalationView) -> EscalationBody {
    let e = v.escalation;
    EscalationBody {
        step: e.step(),
        round: e.round(),
        id: e.id,
        alert: e.alert,
        incident: e.incident.map(|n| n.to_string()),
        policy: e.policy.name.to_string(),
        status: e.status.to_string(),
        started_at: e.started_at,
        acknowledged_at: e.acknowledged_at,
        acknowledged_by: e.acknowledged_by,
        next_step_at: e.next_at,
        ended_at: e.ended_at,
        drill: e.drill,
        notifications: v
            .notifications
            .into_iter()
            .map(|n| NotificationBody {
                id: n.id,
                user: n.user,
                kind: n.method,
                contact: n.contact,
                status: n.status.to_string(),
                attempts: n.attempts,
                last_error: n.last_error,
                delivered_at: n.delivered_at,
                step: n.step,
            })
            .collect(),
    }
}

#[utoipa::path(get, path = "/api/v1/escalations", tag = "paging", params(EscalationQuery),
    security(("bearer" = ["viewer"])),
    responses((status = 200, body = ListBody<EscalationBody>),
        (status = 404, body = Problem, description = "No such alert or incident")))]
pub async fn list_escalations(
    _c: Caller<Viewer>,
    State(app): State<Firebreak>,
    ApiQuery(q): ApiQuery<EscalationQuery>,
) -> Result<Json<ListBody<EscalationBody>>, ApiError> {
    let incident: Option<IncidentNumber> = q.incident.as_deref().map(number).transpose()?;
    if q.alert.is_none() && incident.is_none() {
        return Err(ApiError::invalid(
            "alert",
            "give `alert` (an alert id) or `incident` (like INC-12)",
        ));
    }
    let list = app.escalations(q.alert, incident).await?;
    Ok(Json(ListBody::keyed(
        list.into_iter().map(escalation_body).collect(),
        None,
    )))
}

#[utoipa::path(post, path = "/api/v1/incidents/{id}/ack", tag = "paging", params(("id" = String, Path)),
    security(("bearer" = ["responder"])),
    request_body(content = Option<NoFields>, description = "No body, or `{}`"),
    responses((status = 200, body = IncidentBody, description = "Paging for the incident has stopped"),
        (status = 404, body = Problem)))]
pub async fn acknowledge_incident(
    caller: Caller<Responder>,
    State(app): State<Firebreak>,
    Path(id): Path<String>,
    headers: axum::http::HeaderMap,
    _: NoBody,
) -> Result<Json<IncidentBody>, ApiError> {
    // The timeline says how: the firebreak CLI names itself in its User-Agent.
    let from_cli = headers
        .get(axum::http::header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ua| ua.starts_with("firebreak-cli/"));
    let via = if from_cli { "cli" } else { "api" };
    let incident = app
        .acknowledge_incident(&caller.principal, number(&id)?, via)
        .await?;
    Ok(Json(incident_body(&app, incident).await?))
}
