//! Runbooks next to the alerts and incidents, runbook coverage, action runs (request, dry
//! run, approve) and commands recorded from laptops (`firebreak exec`).

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use firebreak_domain::action::{ActionRun, Shown};
use firebreak_domain::runbook::{ActionKind, Runbook};
use firebreak_engine::Firebreak;
use firebreak_engine::actions::{Covering, RunbooksFor};
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::extract::{Admin, ApiJson, ApiJsonValue, ApiQuery, Caller, NoBody, Responder, Viewer};
use crate::fields::{HttpLink, Label, LongText, NameText, Text100, Text200};
use crate::problem::{ApiError, Problem};
use crate::routes::incidents::number;
use crate::wire::{LinkBody, ListBody};

#[derive(Debug, Serialize, ToSchema)]
pub struct ActionSpecBody {
    pub name: String,
    pub description: String,
    /// `command` or `http`.
    pub kind: String,
    /// The least role that may run it.
    pub role: String,
    /// Whether a second person approves each run.
    pub approval: bool,
    /// How long a run waits for approval, e.g. `15m`.
    pub approval_within: String,
    pub timeout: String,
    /// Each parameter and the pattern its values must match.
    pub params: BTreeMap<String, String>,
    /// The command's argv templates (`command`), or the request's method and URL template.
    pub run: Vec<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RunbookBody {
    pub name: String,
    pub services: Vec<String>,
    /// Alertmanager-style matchers; empty covers every alert of its services.
    #[serde(rename = "match")]
    pub matchers: Vec<String>,
    /// Markdown.
    pub body: String,
    pub url: Option<String>,
    pub actions: Vec<ActionSpecBody>,
    /// For an incident or alert: the service it covers it for.
    pub service: Option<String>,
}

fn spoken(d: jiff::SignedDuration) -> String {
    let secs = d.as_secs();
    match (secs / 3600, secs / 60 % 60, secs % 60) {
        (0, 0, s) => format!("{s}s"),
        (0, m, 0) => format!("{m}m"),
        (h, 0, 0) => format!("{h}h"),
        (h, m, s) => format!("{h}h{m}m{s}s"),
    }
}

fn runbook_body(r: &Runbook, service: Option<String>) -> RunbookBody {
    RunbookBody {
        name: r.name.to_string(),
        services: r.services.iter().map(|s| s.to_string()).collect(),
        matchers: r.matchers.iter().map(|m| m.to_string()).collect(),
        body: r.body.clone(),
        url: r.url.clone(),
        service,
        actions: r
            .actions
            .iter()
            .map(|a| ActionSpecBody {
                name: a.name.to_string(),
                description: a.description.clone(),
                kind: match &a.kind {
                    ActionKind::Command { .. } => "command".into(),
                    ActionKind::Http { .. } => "http".into(),
                },
                role: a.role.to_string(),
                approval: a.approval,
                approval_within: spoken(a.approval_within),
                timeout: spoken(a.timeout),
                params: a
                    .params
                    .iter()
                    .map(|(k, p)| (k.clone(), p.pattern.clone()))
                    .collect(),
                run: match &a.kind {
                    ActionKind::Command { run, .. } => run.clone(),
                    ActionKind::Http { method, url, .. } => vec![method.clone(), url.clone()],
                },
            })
            .collect(),
    }
}

#[utoipa::path(get, path = "/api/v1/runbooks", tag = "runbooks",
    security(("bearer" = ["viewer"])),
    responses((status = 200, body = ListBody<RunbookBody>)))]
pub async fn list_runbooks(
    _c: Caller<Viewer>,
    State(app): State<Firebreak>,
) -> Result<Json<ListBody<RunbookBody>>, ApiError> {
    let all = app.runbooks().await?;
    Ok(Json(ListBody::keyed(
        all.iter().map(|r| runbook_body(r, None)).collect(),
        None,
    )))
}

#[utoipa::path(get, path = "/api/v1/runbooks/{name}", tag = "runbooks", params(("name" = String, Path)),
    security(("bearer" = ["viewer"])),
    responses((status = 200, body = RunbookBody), (status = 404, body = Problem)))]
pub async fn show_runbook(
    _c: Caller<Viewer>,
    State(app): State<Firebreak>,
    Path(name): Path<String>,
) -> Result<Json<RunbookBody>, ApiError> {
    Ok(Json(runbook_body(&app.runbook(&name).await?, None)))
}

/// A value in `env` or `headers`: text, or `{"secret": NAME}`, read when the action runs.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(untagged)]
pub enum SettingRequest {
    Text(Text200),
    Secret(SecretRef),
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SecretRef {
    /// The secret's name: `FIREBREAK_SECRET_<NAME>`, or a line of the secrets file.
    pub secret: NameText,
}

/// Who may run an action: never a viewer.
#[derive(Debug, Clone, Copy, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ActionRole {
    Responder,
    Admin,
}

#[derive(Debug, Clone, Copy, Deserialize, ToSchema)]
pub enum HttpMethod {
    #[serde(rename = "GET")]
    Get,
    #[serde(rename = "POST")]
    Post,
    #[serde(rename = "PUT")]
    Put,
    #[serde(rename = "PATCH")]
    Patch,
    #[serde(rename = "DELETE")]
    Delete,
}

/// A command action.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CommandAction {
    pub name: NameText,
    pub description: Option<Text200>,
    /// The program and its arguments, never a shell string; `{placeholders}` are filled in.
    #[schema(min_items = 1, max_items = 100)]
    pub run: Vec<Text200>,
    pub cwd: Option<Label>,
    /// The command's whole environment besides `PATH`.
    pub env: Option<BTreeMap<String, SettingRequest>>,
    /// Each parameter and the pattern its values must match in full.
    pub params: Option<BTreeMap<String, Text200>>,
    /// Like `2m`; 5m by default, at most 1h.
    pub timeout: Option<Text100>,
    pub role: Option<ActionRole>,
    pub approval: Option<bool>,
    /// Like `15m`; at most 24h.
    pub approval_within: Option<Text100>,
}

/// An HTTP action.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct HttpAction {
    pub name: NameText,
    pub description: Option<Text200>,
    pub method: Option<HttpMethod>,
    /// An http(s) URL; `{placeholders}` are filled in, and it goes through the outbound rules.
    pub url: HttpLink,
    pub headers: Option<BTreeMap<String, SettingRequest>>,
    pub body: Option<LongText>,
    pub params: Option<BTreeMap<String, Text200>>,
    pub timeout: Option<Text100>,
    pub role: Option<ActionRole>,
    pub approval: Option<bool>,
    pub approval_within: Option<Text100>,
}

/// An action: a command or an HTTP request, by `kind`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum ActionRequest {
    Command(CommandAction),
    Http(HttpAction),
}

/// A runbook in the same shape as an entry of `runbooks:` in `firebreak.yaml`, checked by the
/// same rules.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RunbookRequest {
    pub name: NameText,
    /// The services it covers; each must exist.
    #[schema(min_items = 1, max_items = 50)]
    pub services: Vec<NameText>,
    /// Alertmanager-style matchers: only the alerts they all select.
    #[serde(rename = "match")]
    #[schema(max_items = 20)]
    pub matchers: Option<Vec<Text200>>,
    /// Markdown. A runbook has a body, a `url`, or both.
    pub body: Option<LongText>,
    pub url: Option<HttpLink>,
    #[schema(max_items = 50)]
    pub actions: Option<Vec<ActionRequest>>,
}

/// Checks the body by the file's rules and returns the runbook.
async fn read_runbook(
    app: &Firebreak,
    body: &serde_json::Value,
) -> Result<firebreak_domain::runbook::Runbook, ApiError> {
    let services: Vec<String> = app
        .list_services()
        .await?
        .into_iter()
        .map(|s| s.name.to_string())
        .collect();
    firebreak_config::parse_runbook(body, &services).map_err(|problems| {
        let name = |f: String| if f.is_empty() { "body".to_string() } else { f };
        let mut problems = problems.into_iter();
        let (field, message) = problems.next().unwrap_or_default();
        let mut e = ApiError::invalid(name(field), message);
        for (field, message) in problems {
            e = e.with_error(&name(field), &message);
        }
        e
    })
}

/// Adds a runbook (admins). Runbooks in `firebreak.yaml` are changed there.
#[utoipa::path(post, path = "/api/v1/runbooks", tag = "runbooks", request_body = RunbookRequest,
    security(("bearer" = ["admin"])),
    responses((status = 201, body = RunbookBody), (status = 409, body = Problem)))]
pub async fn create_runbook(
    caller: Caller<Admin>,
    State(app): State<Firebreak>,
    ApiJsonValue(_req, body): ApiJsonValue<RunbookRequest>,
) -> Result<(StatusCode, Json<RunbookBody>), ApiError> {
    let runbook = read_runbook(&app, &body).await?;
    if app.runbook(runbook.name.as_str()).await.is_ok() {
        return Err(ApiError::conflict(format!(
            "there is already a runbook named `{}`; PUT /api/v1/runbooks/{} replaces it",
            runbook.name, runbook.name
        )));
    }
    app.put_runbook(&caller.principal, runbook.clone()).await?;
    Ok((StatusCode::CREATED, Json(runbook_body(&runbook, None))))
}

/// Adds or replaces the runbook named in the path (admins).
#[utoipa::path(put, path = "/api/v1/runbooks/{name}", tag = "runbooks", request_body = RunbookRequest,
    params(("name" = String, Path)),
    security(("bearer" = ["admin"])),
    responses((status = 200, body = RunbookBody), (status = 201, body = RunbookBody),
        (status = 404, body = Problem, description = "Not used: a PUT adds the runbook"),
        (status = 409, body = Problem)))]
pub async fn put_runbook(
    caller: Caller<Admin>,
    State(app): State<Firebreak>,
    Path(name): Path<String>,
    ApiJsonValue(_req, body): ApiJsonValue<RunbookRequest>,
) -> Result<(StatusCode, Json<RunbookBody>), ApiError> {
    let runbook = read_runbook(&app, &body).await?;
    if runbook.name.as_str() != name {
        return Err(ApiError::invalid(
            "name",
            format!("must be `{name}`, the name in the path"),
        ));
    }
    let added = app.put_runbook(&caller.principal, runbook.clone()).await?;
    let status = if added {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(runbook_body(&runbook, None))))
}

#[utoipa::path(delete, path = "/api/v1/runbooks/{name}", tag = "runbooks", params(("name" = String, Path)),
    security(("bearer" = ["admin"])),
    responses((status = 204, description = "Removed"), (status = 404, body = Problem), (status = 409, body = Problem)))]
pub async fn delete_runbook(
    caller: Caller<Admin>,
    State(app): State<Firebreak>,
    Path(name): Path<String>,
) -> Result<StatusCode, ApiError> {
    app.delete_runbook(&caller.principal, &name).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CoverageQuery {
    /// How many days back to look (1 to 365; 30 by default).
    #[param(minimum = 1, maximum = 365)]
    pub days: Option<u16>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct UncoveredBody {
    pub service: String,
    /// The alert's `alertname` label, or its summary when it has none.
    pub alertname: String,
    /// Alerts with this name and no runbook in the window.
    pub alerts: u64,
    #[schema(value_type = String, format = DateTime)]
    pub last_seen: Timestamp,
}

/// Alert names seen in the window whose alerts had no runbook: "if an alert has no runbook,
/// it is a tuning problem, not a paging problem".
#[utoipa::path(get, path = "/api/v1/runbooks/coverage", tag = "runbooks", params(CoverageQuery),
    security(("bearer" = ["viewer"])),
    responses((status = 200, body = ListBody<UncoveredBody>)))]
pub async fn coverage(
    _c: Caller<Viewer>,
    State(app): State<Firebreak>,
    ApiQuery(q): ApiQuery<CoverageQuery>,
) -> Result<Json<ListBody<UncoveredBody>>, ApiError> {
    let days = q.days.unwrap_or(30);
    if !(1..=365).contains(&days) {
        return Err(ApiError::invalid("days", "must be from 1 to 365"));
    }
    let found = app.runbook_coverage(i64::from(days)).await?;
    Ok(Json(ListBody::keyed(
        found
            .into_iter()
            .map(|u| UncoveredBody {
                service: u.service.to_string(),
                alertname: u.alertname,
                alerts: u.alerts,
                last_seen: u.last_seen,
            })
            .collect(),
        None,
    )))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RollbackBody {
    pub runbook: String,
    pub action: String,
    pub service: String,
    /// The suspect deploy's version.
    pub version: String,
    /// The version a rollback returns to.
    pub previous_version: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RunbooksForBody {
    pub items: Vec<RunbookBody>,
    /// Runbooks kept elsewhere: senders' runbook links and the services' `runbook` URL.
    pub links: Vec<LinkBody>,
    /// The one-step rollback, when the suspect deploy has a previous version and a runbook
    /// covering its service has an action named `rollback`.
    pub rollback: Option<RollbackBody>,
}

fn runbooks_for(r: RunbooksFor) -> RunbooksForBody {
    RunbooksForBody {
        items: r
            .runbooks
            .iter()
            .map(|Covering { runbook, service }| {
                runbook_body(runbook, service.as_ref().map(|s| s.to_string()))
            })
            .collect(),
        links: r
            .links
            .into_iter()
            .map(|l| LinkBody {
                href: l.href,
                text: l.text,
            })
            .collect(),
        rollback: r.rollback.map(|o| RollbackBody {
            runbook: o.runbook,
            action: o.action,
            service: o.service.to_string(),
            version: o.version,
            previous_version: o.previous_version,
        }),
    }
}

#[utoipa::path(get, path = "/api/v1/incidents/{id}/runbooks", tag = "runbooks",
    params(("id" = String, Path, description = "INC-7 or 7")),
    security(("bearer" = ["viewer"])),
    responses((status = 200, body = RunbooksForBody), (status = 404, body = Problem)))]
pub async fn incident_runbooks(
    _c: Caller<Viewer>,
    State(app): State<Firebreak>,
    Path(id): Path<String>,
) -> Result<Json<RunbooksForBody>, ApiError> {
    Ok(Json(runbooks_for(
        app.incident_runbooks(number(&id)?).await?,
    )))
}

#[utoipa::path(get, path = "/api/v1/alerts/{id}/runbooks", tag = "runbooks",
    params(("id" = i64, Path)),
    security(("bearer" = ["viewer"])),
    responses((status = 200, body = RunbooksForBody), (status = 404, body = Problem)))]
pub async fn alert_runbooks(
    _c: Caller<Viewer>,
    State(app): State<Firebreak>,
    Path(id): Path<String>,
) -> Result<Json<RunbooksForBody>, ApiError> {
    let id: i64 = id
        .parse()
        .map_err(|_| ApiError::not_found(format!("there is no alert {id}")))?;
    Ok(Json(runbooks_for(app.alert_runbooks(id).await?)))
}

// --- runs ------------------------------------------------------------------------------------

#[derive(Debug, Serialize, ToSchema)]
pub struct RequestShownBody {
    pub method: String,
    pub url: String,
    /// Header values; secrets show as `<secret NAME>`.
    pub headers: BTreeMap<String, String>,
    pub body: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RunBody {
    /// 0 for a dry run, which is not recorded.
    pub id: i64,
    pub incident: String,
    pub runbook: String,
    pub action: String,
    /// `pending_approval`, `running`, `succeeded`, `failed`, `interrupted` or `refused`
    /// (`dry_run` for a dry run).
    pub status: String,
    pub dry_run: bool,
    /// A command's argv exactly as it runs (each element one argument).
    pub argv: Option<Vec<String>>,
    /// The command's environment: `NAME=value`, secrets as `NAME=<secret NAME>`.
    pub env: Option<Vec<String>>,
    pub cwd: Option<String>,
    /// An HTTP action's request, secrets masked.
    pub request: Option<RequestShownBody>,
    pub params: BTreeMap<String, String>,
    pub requested_by: String,
    #[schema(value_type = String, format = DateTime)]
    pub requested_at: Timestamp,
    /// A run waiting for approval is refused after this.
    #[schema(value_type = Option<String>, format = DateTime)]
    pub approve_by: Option<Timestamp>,
    pub approved_by: Option<String>,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub started_at: Option<Timestamp>,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub finished_at: Option<Timestamp>,
    pub exit_code: Option<i32>,
    /// Captured output (the last 64 KiB), secrets redacted.
    pub output: String,
    pub error: Option<String>,
    /// The break-glass grant its requester held.
    pub break_glass: Option<i64>,
}

fn run_body(r: ActionRun, dry_run: bool) -> RunBody {
    let (argv, env, cwd, request) = match r.shown {
        Shown::Command { argv, env, cwd } => (Some(argv), Some(env), cwd, None),
        Shown::Http(req) => (
            None,
            None,
            None,
            Some(RequestShownBody {
                method: req.method,
                url: req.url,
                headers: req.headers.into_iter().collect(),
                body: req.body,
            }),
        ),
    };
    RunBody {
        id: r.id,
        incident: r.incident.to_string(),
        runbook: r.runbook,
        action: r.action,
        status: if dry_run {
            "dry_run".into()
        } else {
            r.status.as_str().into()
        },
        dry_run,
        argv,
        env,
        cwd,
        request,
        params: r.params,
        requested_by: r.requested_by,
        requested_at: r.requested_at,
        approve_by: r.approve_by,
        approved_by: r.approved_by,
        started_at: r.started_at,
        finished_at: r.finished_at,
        exit_code: r.exit_code,
        output: r.output,
        error: r.error,
        break_glass: r.break_glass,
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RunRequest {
    /// Values for the action's parameters (and `service`, `version`, `previous_version` to
    /// override what Firebreak fills in); each must match its pattern.
    pub params: Option<BTreeMap<String, Text200>>,
    /// Show the exact argv or request, secrets masked, and run nothing.
    pub dry_run: Option<bool>,
}

/// Runs a runbook action on an incident: 202 with the run (`running`, or `pending_approval`
/// when the action needs a second person); with `dry_run`, 200 with what it would run.
#[utoipa::path(post, path = "/api/v1/incidents/{id}/actions/{action}/runs", tag = "actions", request_body = RunRequest,
    params(("id" = String, Path, description = "INC-7 or 7"), ("action" = String, Path)),
    security(("bearer" = ["responder"])),
    responses((status = 202, body = RunBody), (status = 200, body = RunBody, description = "A dry run"),
        (status = 404, body = Problem), (status = 409, body = Problem)))]
pub async fn run_action(
    caller: Caller<Responder>,
    State(app): State<Firebreak>,
    Path((id, action)): Path<(String, String)>,
    ApiJson(req): ApiJson<RunRequest>,
) -> Result<(StatusCode, Json<RunBody>), ApiError> {
    let n = number(&id)?;
    let params = req
        .params
        .unwrap_or_default()
        .into_iter()
        .map(|(k, v)| (k, v.into_inner()))
        .collect();
    let outcome = app
        .run_action(
            &caller.principal,
            n,
            &action,
            params,
            req.dry_run.unwrap_or(false),
        )
        .await?;
    let status = if outcome.dry_run {
        StatusCode::OK
    } else {
        StatusCode::ACCEPTED
    };
    Ok((status, Json(run_body(outcome.run, outcome.dry_run))))
}

fn run_id(id: &str) -> Result<i64, ApiError> {
    id.parse()
        .map_err(|_| ApiError::not_found(format!("there is no run {id}")))
}

#[utoipa::path(get, path = "/api/v1/incidents/{id}/actions/{action}/runs/{run}", tag = "actions",
    params(("id" = String, Path), ("action" = String, Path), ("run" = i64, Path)),
    security(("bearer" = ["viewer"])),
    responses((status = 200, body = RunBody), (status = 404, body = Problem)))]
pub async fn show_run(
    _c: Caller<Viewer>,
    State(app): State<Firebreak>,
    Path((id, action, run)): Path<(String, String, String)>,
) -> Result<Json<RunBody>, ApiError> {
    let n = number(&id)?;
    let r = app.action_run(n, run_id(&run)?).await?;
    if r.action != action {
        return Err(ApiError::not_found(format!(
            "run {run} is a run of `{}`, not `{action}`",
            r.action
        )));
    }
    Ok(Json(run_body(r, false)))
}

#[utoipa::path(post, path = "/api/v1/incidents/{id}/actions/{action}/runs/{run}/approve", tag = "actions",
    params(("id" = String, Path), ("action" = String, Path), ("run" = i64, Path)),
    security(("bearer" = ["responder"])),
    responses((status = 200, body = RunBody), (status = 404, body = Problem), (status = 409, body = Problem)))]
pub async fn approve_run(
    caller: Caller<Responder>,
    State(app): State<Firebreak>,
    Path((id, _action, run)): Path<(String, String, String)>,
    _b: NoBody,
) -> Result<Json<RunBody>, ApiError> {
    let n = number(&id)?;
    let r = app.approve_run(&caller.principal, n, run_id(&run)?).await?;
    Ok(Json(run_body(r, false)))
}

#[utoipa::path(get, path = "/api/v1/runs/{run}", tag = "actions", params(("run" = i64, Path)),
    security(("bearer" = ["viewer"])),
    responses((status = 200, body = RunBody), (status = 404, body = Problem)))]
pub async fn show_run_by_id(
    _c: Caller<Viewer>,
    State(app): State<Firebreak>,
    Path(run): Path<String>,
) -> Result<Json<RunBody>, ApiError> {
    Ok(Json(run_body(app.run_by_id(run_id(&run)?).await?, false)))
}

/// Approves a waiting run by its id alone (`firebreak action approve RUN`).
#[utoipa::path(post, path = "/api/v1/runs/{run}/approve", tag = "actions", params(("run" = i64, Path)),
    security(("bearer" = ["responder"])),
    responses((status = 200, body = RunBody), (status = 404, body = Problem), (status = 409, body = Problem)))]
pub async fn approve_run_by_id(
    caller: Caller<Responder>,
    State(app): State<Firebreak>,
    Path(run): Path<String>,
    _b: NoBody,
) -> Result<Json<RunBody>, ApiError> {
    let r = app.run_by_id(run_id(&run)?).await?;
    let r = app.approve_run(&caller.principal, r.incident, r.id).await?;
    Ok(Json(run_body(r, false)))
}

/// Every action run of an incident, oldest first.
#[utoipa::path(get, path = "/api/v1/incidents/{id}/runs", tag = "actions",
    params(("id" = String, Path)),
    security(("bearer" = ["viewer"])),
    responses((status = 200, body = ListBody<RunBody>), (status = 404, body = Problem)))]
pub async fn incident_runs(
    _c: Caller<Viewer>,
    State(app): State<Firebreak>,
    Path(id): Path<String>,
) -> Result<Json<ListBody<RunBody>>, ApiError> {
    let runs = app.incident_runs(number(&id)?).await?;
    Ok(Json(ListBody::keyed(
        runs.into_iter().map(|r| run_body(r, false)).collect(),
        None,
    )))
}

// --- commands from laptops -------------------------------------------------------------------

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CommandRequest {
    /// The command and its arguments, as run.
    #[schema(min_items = 1, max_items = 100)]
    pub argv: Vec<Text200>,
    #[serde(deserialize_with = "crate::fields::whole_i32")]
    pub exit_code: i32,
    #[serde(deserialize_with = "crate::fields::whole_nonnegative_i32")]
    #[schema(minimum = 0)]
    pub duration_ms: i32,
    /// The end of its output, secrets already redacted by the CLI.
    pub output_tail: Option<LongText>,
    /// The machine it ran on.
    pub host: Option<Text200>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CommandBody {
    pub incident: String,
    pub argv: Vec<String>,
    pub exit_code: i32,
}

/// Records a command someone ran from their own machine (`firebreak exec`) on the incident's
/// timeline and in the audit log.
#[utoipa::path(post, path = "/api/v1/incidents/{id}/commands", tag = "actions", request_body = CommandRequest,
    params(("id" = String, Path)),
    security(("bearer" = ["responder"])),
    responses((status = 201, body = CommandBody), (status = 404, body = Problem)))]
pub async fn record_command(
    caller: Caller<Responder>,
    State(app): State<Firebreak>,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<CommandRequest>,
) -> Result<(StatusCode, Json<CommandBody>), ApiError> {
    let n = number(&id)?;
    let argv: Vec<String> = req.argv.into_iter().map(Text200::into_inner).collect();
    app.record_command(
        &caller.principal,
        n,
        argv.clone(),
        req.exit_code,
        i64::from(req.duration_ms),
        req.output_tail
            .map(LongText::into_inner)
            .unwrap_or_default(),
        req.host.map(Text200::into_inner),
    )
    .await?;
    Ok((
        StatusCode::CREATED,
        Json(CommandBody {
            incident: n.to_string(),
            argv,
            exit_code: req.exit_code,
        }),
    ))
}
