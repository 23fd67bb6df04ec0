//! Uptime checks. `/api/v1/checks`: admins add and remove them; anyone signed in lists them,
//! reads one, its recent results (newest first) and its uptime per UTC day.
//!
//! `{id}` in a path is the check's id or its name. Bad settings are a 422 naming the field and
//! what to do, and store nothing; so is a target the SSRF guard refuses, with the way to allow
//! an internal network (`checks.allow`).

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use firebreak_domain::AccessRole;
use firebreak_domain::check::{Check, CheckResult, DayUptime};
use firebreak_domain::heartbeat::span_text;
use firebreak_engine::checks::{NewCheck, shown_target};
use firebreak_engine::{Firebreak, invalid};
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::extract::{Admin, ApiJson, ApiQuery, Caller, Viewer};
use crate::fields::{Limit, NameText};
use crate::problem::{ApiError, Problem};
use crate::routes::incidents::{PageQuery, page_by_key};
use crate::wire::ListBody;

/// What an HTTP answer must be for a run to pass.
#[derive(Debug, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ExpectBody {
    /// The status it must have; any 2xx when left out.
    #[schema(example = 200)]
    pub status: Option<i64>,
    /// Text the body must contain (GET only).
    pub body: Option<String>,
    /// A regular expression the body must match (GET only), checked when the check is made.
    pub body_regex: Option<String>,
    /// The slowest answer that still passes, e.g. `2s`; at most the timeout.
    pub max_latency: Option<String>,
}

/// Certificate settings; left out, the `checks.tls` defaults of `firebreak.yaml` apply.
#[derive(Debug, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TlsBody {
    /// How long before the certificate expires its low-urgency warning opens (default 14d).
    pub warn_before: Option<String>,
    /// A PEM file on the Firebreak host with the private CA that signs the target's certificate.
    pub ca_file: Option<String>,
}

/// A check as the API shows it.
#[derive(Debug, Serialize, ToSchema)]
pub struct CheckBody {
    pub id: i64,
    pub name: String,
    pub service: String,
    /// `http` or `tcp`.
    #[schema(example = "http")]
    pub kind: String,
    /// A URL for `http`, `host:port` for `tcp`.
    pub target: String,
    /// `GET` or `HEAD` (http only).
    pub method: String,
    /// How often it runs: `30s`, `1m`.
    pub interval: String,
    pub timeout: String,
    /// Failed runs in a row that open the alert.
    pub failures_before_alert: u32,
    pub expect: ExpectBody,
    pub tls: TlsBody,
    /// The status page component whose bars show this check's uptime.
    pub component: Option<String>,
    /// `new` (not run yet), `up` or `down` (its alert is open).
    #[schema(example = "up")]
    pub status: String,
    pub consecutive_failures: u32,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub last_run: Option<Timestamp>,
    /// The last run's error, while failing.
    pub last_error: Option<String>,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub down_since: Option<Timestamp>,
    #[schema(value_type = String, format = DateTime)]
    pub next_run_at: Timestamp,
    /// The HTTPS certificate's expiry, as last seen.
    #[schema(value_type = Option<String>, format = DateTime)]
    pub certificate_expires_at: Option<Timestamp>,
    /// True while the certificate's expiry warning is open.
    pub certificate_warning: bool,
    pub created_by: String,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
}

impl CheckBody {
    /// The check as `role` may see it: a URL's credentials and query (which may hold tokens)
    /// are shown to admins only, as alerts never show them.
    fn shown_to(c: Check, role: AccessRole) -> Self {
        let target = if role.allows(AccessRole::Admin) {
            c.spec.target.clone()
        } else {
            shown_target(&c.spec)
        };
        let s = c.spec;
        CheckBody {
            id: c.id,
            name: s.name.to_string(),
            service: s.service.to_string(),
            kind: s.kind.as_str().into(),
            target,
            method: s.method.as_str().into(),
            interval: span_text(s.interval),
            timeout: span_text(s.timeout),
            failures_before_alert: s.failures_before_alert,
            expect: ExpectBody {
                status: s.expect.status.map(i64::from),
                body: s.expect.body,
                body_regex: s.expect.body_regex,
                max_latency: s.expect.max_latency.map(span_text),
            },
            tls: TlsBody {
                warn_before: s.tls.warn_before.map(span_text),
                ca_file: s.tls.ca_file,
            },
            component: s.component,
            status: c.state.as_str().into(),
            consecutive_failures: c.consecutive_failures,
            last_run: c.last_run,
            last_error: c.last_error,
            down_since: c.down_since,
            next_run_at: c.next_due,
            certificate_expires_at: c.tls_expires_at,
            certificate_warning: c.tls_warning,
            created_by: c.created_by,
            created_at: c.created_at,
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UptimeCheckRequest {
    /// Unique among checks.
    pub name: NameText,
    /// A service that exists: the check's alerts are for it.
    pub service: NameText,
    /// `http` (the target is a URL) or `tcp` (the target is `host:port`).
    #[schema(example = "http")]
    pub kind: String,
    #[schema(example = "https://api.example.com/healthz")]
    pub target: String,
    /// `GET` (the default) or `HEAD`.
    pub method: Option<String>,
    /// How often it runs: at least `10s`, at most `24h`.
    #[schema(example = "30s")]
    pub interval: String,
    /// How long a run may take: at least `1s`, shorter than the interval, at most `60s`.
    #[schema(example = "10s")]
    pub timeout: String,
    /// Failed runs in a row that open the alert: 1 to 100 (default 3).
    #[schema(minimum = 1, maximum = 100)]
    #[serde(default, deserialize_with = "crate::fields::optional_whole_i64")]
    pub failures_before_alert: Option<i64>,
    pub expect: Option<ExpectBody>,
    pub tls: Option<TlsBody>,
    /// The public id of a status page component whose bars show this check's uptime.
    pub component: Option<String>,
}

/// One run.
#[derive(Debug, Serialize, ToSchema)]
pub struct ResultBody {
    #[schema(value_type = String, format = DateTime)]
    pub at: Timestamp,
    pub ok: bool,
    /// The HTTP status, when it answered.
    pub status_code: Option<u16>,
    pub latency_ms: i64,
    pub error: Option<String>,
}

impl From<CheckResult> for ResultBody {
    fn from(r: CheckResult) -> Self {
        ResultBody {
            at: r.at,
            ok: r.ok,
            status_code: r.status,
            latency_ms: r.latency_ms,
            error: r.error,
        }
    }
}

/// One UTC day of runs.
#[derive(Debug, Serialize, ToSchema)]
pub struct DayBody {
    #[schema(value_type = String, format = Date)]
    pub day: jiff::civil::Date,
    pub successes: i64,
    pub total: i64,
    /// The share of runs that passed, in percent.
    pub uptime_percent: f64,
}

impl From<DayUptime> for DayBody {
    fn from(d: DayUptime) -> Self {
        DayBody {
            day: d.day,
            successes: d.successes,
            total: d.total,
            uptime_percent: percent(d.ratio()),
        }
    }
}

fn percent(ratio: f64) -> f64 {
    (ratio * 100_000.0).round() / 1_000.0
}

/// A check's uptime per UTC day; days with no run are left out.
#[derive(Debug, Serialize, ToSchema)]
pub struct UptimeBody {
    pub check_id: i64,
    pub days: Vec<DayBody>,
    /// Over every run of those days, in percent; null when none ran.
    pub uptime_percent: Option<f64>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ResultsQuery {
    /// How many results, newest first (1 to 500, default 50).
    pub limit: Option<Limit>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct UptimeQuery {
    /// How many days back, today included: 1 to 400 (default 90).
    #[param(minimum = 1, maximum = 400)]
    pub days: Option<i64>,
}

#[utoipa::path(get, path = "/api/v1/checks", tag = "checks", params(PageQuery),
    security(("bearer" = ["viewer"])),
    responses((status = 200, body = ListBody<CheckBody>)))]
pub async fn list_checks(
    caller: Caller<Viewer>,
    State(app): State<Firebreak>,
    ApiQuery(query): ApiQuery<PageQuery>,
) -> Result<Json<ListBody<CheckBody>>, ApiError> {
    let all = app.list_checks().await?;
    let (page, next) = page_by_key(all, |c| c.spec.name.to_string(), query);
    Ok(Json(ListBody::keyed(
        page.into_iter()
            .map(|c| CheckBody::shown_to(c, caller.principal.role))
            .collect(),
        next,
    )))
}

#[utoipa::path(post, path = "/api/v1/checks", tag = "checks", request_body = UptimeCheckRequest,
    security(("bearer" = ["admin"])),
    responses((status = 201, body = CheckBody, description = "Made; its first run is due at once"),
        (status = 409, body = Problem, description = "A check with that name exists")))]
pub async fn create_check(
    caller: Caller<Admin>,
    State(app): State<Firebreak>,
    ApiJson(req): ApiJson<UptimeCheckRequest>,
) -> Result<(StatusCode, Json<CheckBody>), ApiError> {
    let expect = req.expect.unwrap_or_default();
    let tls = req.tls.unwrap_or_default();
    let new = NewCheck {
        name: req.name.0.to_string(),
        service: req.service.0.to_string(),
        kind: req.kind,
        target: req.target,
        method: req.method,
        interval: req.interval,
        timeout: req.timeout,
        failures_before_alert: req.failures_before_alert,
        expect_status: expect.status,
        expect_body: expect.body,
        expect_body_regex: expect.body_regex,
        expect_max_latency: expect.max_latency,
        tls_warn_before: tls.warn_before,
        tls_ca_file: tls.ca_file,
        component: req.component,
    };
    let created = app.create_check(&caller.principal, new).await?;
    Ok((
        StatusCode::CREATED,
        Json(CheckBody::shown_to(created, caller.principal.role)),
    ))
}

#[utoipa::path(get, path = "/api/v1/checks/{id}", tag = "checks",
    params(("id" = String, Path, description = "The check's id or name")),
    security(("bearer" = ["viewer"])),
    responses((status = 200, body = CheckBody), (status = 404, body = Problem)))]
pub async fn show_check(
    caller: Caller<Viewer>,
    State(app): State<Firebreak>,
    Path(id): Path<String>,
) -> Result<Json<CheckBody>, ApiError> {
    Ok(Json(CheckBody::shown_to(
        app.find_check(&id).await?,
        caller.principal.role,
    )))
}

#[utoipa::path(delete, path = "/api/v1/checks/{id}", tag = "checks",
    params(("id" = String, Path, description = "The check's id or name")),
    security(("bearer" = ["admin"])),
    responses((status = 204, description = "Deleted with its history; its open alerts are resolved"),
        (status = 404, body = Problem)))]
pub async fn delete_check(
    caller: Caller<Admin>,
    State(app): State<Firebreak>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let check = app.find_check(&id).await?;
    app.delete_check(&caller.principal, check.id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(get, path = "/api/v1/checks/{id}/results", tag = "checks",
    params(("id" = String, Path, description = "The check's id or name"), ResultsQuery),
    security(("bearer" = ["viewer"])),
    responses((status = 200, body = Vec<ResultBody>, description = "Newest first; kept for 7 days"),
        (status = 404, body = Problem)))]
pub async fn check_results(
    _c: Caller<Viewer>,
    State(app): State<Firebreak>,
    Path(id): Path<String>,
    ApiQuery(query): ApiQuery<ResultsQuery>,
) -> Result<Json<Vec<ResultBody>>, ApiError> {
    let check = app.find_check(&id).await?;
    let results = app
        .check_results(check.id, Limit::or_default(query.limit))
        .await?;
    Ok(Json(results.into_iter().map(Into::into).collect()))
}

#[utoipa::path(get, path = "/api/v1/checks/{id}/uptime", tag = "checks",
    params(("id" = String, Path, description = "The check's id or name"), UptimeQuery),
    security(("bearer" = ["viewer"])),
    responses((status = 200, body = UptimeBody), (status = 404, body = Problem)))]
pub async fn check_uptime(
    _c: Caller<Viewer>,
    State(app): State<Firebreak>,
    Path(id): Path<String>,
    ApiQuery(query): ApiQuery<UptimeQuery>,
) -> Result<Json<UptimeBody>, ApiError> {
    let days = query.days.unwrap_or(90);
    if !(1..=firebreak_engine::checks::DAYS_MAX).contains(&days) {
        return Err(invalid("days", "must be from 1 to 400, e.g. 90").into());
    }
    let check = app.find_check(&id).await?;
    let found = app.check_uptime(check.id, days).await?;
    let (ok, total) = found
        .iter()
        .fold((0, 0), |(o, t), d| (o + d.successes, t + d.total));
    Ok(Json(UptimeBody {
        check_id: check.id,
        uptime_percent: (total > 0).then(|| percent(ok as f64 / total as f64)),
        days: found.into_iter().map(Into::into).collect(),
    }))
}
