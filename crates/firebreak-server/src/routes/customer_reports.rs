//! Customer reports. `POST /api/v1/reports`: a support tool passes on what a customer wrote,
//! about a status page component or a service; enough of them within the window open an alert
//! (see `firebreak_engine::customer_reports`). `GET /api/v1/reports` lists them.
//!
//! Recording takes a responder token, as recording a deploy does: a report can open an alert
//! and page people, which a viewer's read-only token must not, and a support tool needs no
//! admin powers. Give the tool a token of its own (`firebreak token create --role responder`),
//! so the audit log and each report name it.
//!
//! A reporter's address is a customer's personal data: only a caller whose effective role is
//! admin sees it, in the list and in the answer to a `POST`. Everyone else sees
//! `reporter_given` only. It is never put in the alert, the logs or an error.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use firebreak_domain::AccessRole;
use firebreak_domain::customer_report::CustomerReport;
use firebreak_domain::heartbeat::span_text;
use firebreak_engine::Firebreak;
use firebreak_engine::customer_reports::{NewReport, Recorded};
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::extract::{ApiJson, ApiQuery, Caller, Responder, Viewer};
use crate::fields::{ComponentName, IdCursor, Limit, NameText, ReportSummary, ReporterAddress};
use crate::problem::ApiError;
use crate::wire::ListBody;

/// A customer report as the API shows it.
#[derive(Debug, Serialize, ToSchema)]
pub struct CustomerReportBody {
    pub id: i64,
    /// The status page component it is about (its name when reported), if it names one.
    pub component: Option<String>,
    /// The component's id.
    pub component_id: Option<String>,
    /// The service its alert goes to.
    pub service: String,
    pub summary: String,
    /// The customer's address: shown to admins only, `null` for everyone else.
    pub reporter: Option<String>,
    /// Whether the report came with the customer's address.
    pub reporter_given: bool,
    /// Who passed it on: the token's name or its user.
    pub recorded_by: String,
    #[schema(value_type = String, format = DateTime)]
    pub at: Timestamp,
    /// A rehearsal's report, counted apart from real ones.
    pub drill: bool,
}

impl CustomerReportBody {
    /// The report as `role` may see it.
    fn shown_to(r: CustomerReport, role: AccessRole) -> Self {
        let (component_id, component) = match r.component {
            Some((id, name)) => (Some(id), Some(name)),
            None => (None, None),
        };
        CustomerReportBody {
            id: r.id,
            component,
            component_id,
            service: r.service.to_string(),
            summary: r.summary,
            reporter_given: r.reporter.is_some(),
            reporter: if role.allows(AccessRole::Admin) {
                r.reporter
            } else {
                None
            },
            recorded_by: r.created_by,
            at: r.at,
            drill: r.subject.starts_with("drill:"),
        }
    }
}

/// The alert a report opened or updated.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReportAlertBody {
    /// `null` when a routing rule dropped it.
    pub id: Option<i64>,
    /// One per component or service: `reports/component/ID` or `reports/service/NAME`.
    pub dedup_key: String,
    /// What the report did to it: `opened`, `repeated` (updated the open alert),
    /// `suppressed`, `attached`, `declared` or `dropped`.
    #[schema(example = "opened")]
    pub result: &'static str,
    /// The incident it belongs to, if any.
    pub incident: Option<i64>,
}

/// What a recorded report did.
#[derive(Debug, Serialize, ToSchema)]
pub struct RecordedReportBody {
    pub report: CustomerReportBody,
    /// The reports about its component or service within the window, itself included.
    pub count: u64,
    /// How many within the window open an alert (`reports.threshold`).
    pub threshold: u32,
    /// The window (`reports.window`): `10m`.
    pub window: String,
    /// The alert, once `count` reached `threshold`; `null` below it.
    pub alert: Option<ReportAlertBody>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReportRequest {
    /// A status page component, by its id or its name. Its alert goes to the service given,
    /// else to the component's first service. At least one of `component` and `service` is
    /// needed, and each given must exist (else 422 naming it).
    pub component: Option<ComponentName>,
    /// A service that exists. Without a component, the report is counted for the service.
    pub service: Option<NameText>,
    /// What the customer reported.
    pub summary: ReportSummary,
    /// The customer's address (an email address or a customer id), shown to admins only.
    pub reporter: Option<ReporterAddress>,
    /// A rehearsal: counted apart from real reports, and its alert is a drill.
    pub drill: Option<bool>,
    /// The game day it belongs to (a drill); it must still run.
    #[serde(default, deserialize_with = "crate::fields::optional_whole_i64")]
    pub gameday: Option<i64>,
}

#[utoipa::path(post, path = "/api/v1/reports", tag = "customer-reports", request_body = ReportRequest,
    security(("bearer" = ["responder"])),
    responses((status = 201, body = RecordedReportBody,
        description = "Recorded; once the reports within the window reach the threshold, the answer names the alert they opened or updated")))]
pub async fn record_report(
    caller: Caller<Responder>,
    State(app): State<Firebreak>,
    ApiJson(req): ApiJson<ReportRequest>,
) -> Result<(StatusCode, Json<RecordedReportBody>), ApiError> {
    let drill = app.drill_mode(req.drill, req.gameday).await?;
    let new = NewReport {
        component: req.component.map(ComponentName::into_inner),
        service: req.service.map(|s| s.0.to_string()),
        summary: req.summary.into_inner(),
        reporter: req.reporter.map(ReporterAddress::into_inner),
        drill,
    };
    let Recorded {
        report,
        count,
        alert,
    } = app.record_customer_report(&caller.principal, new).await?;
    let rule = app.config.reports;
    Ok((
        StatusCode::CREATED,
        Json(RecordedReportBody {
            report: CustomerReportBody::shown_to(report, caller.principal.role),
            count,
            threshold: rule.threshold,
            window: span_text(rule.window),
            alert: alert.map(|o| ReportAlertBody {
                id: o.alert,
                dedup_key: o.dedup_key,
                result: firebreak_engine::metrics::effect_name(o.effect),
                incident: o.incident.map(|n| n.0),
            }),
        }),
    ))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ReportQuery {
    /// Only reports about this status page component (its id or its name).
    pub component: Option<ComponentName>,
    /// Only reports whose alert goes to this service.
    pub service: Option<NameText>,
    pub limit: Option<Limit>,
    pub cursor: Option<IdCursor>,
}

#[utoipa::path(get, path = "/api/v1/reports", tag = "customer-reports", params(ReportQuery),
    security(("bearer" = ["viewer"])),
    responses((status = 200, body = ListBody<CustomerReportBody>,
        description = "Most recently recorded first; `reporter` is shown to admins only")))]
pub async fn list_reports(
    caller: Caller<Viewer>,
    State(app): State<Firebreak>,
    ApiQuery(q): ApiQuery<ReportQuery>,
) -> Result<Json<ListBody<CustomerReportBody>>, ApiError> {
    let service = q.service.map(|s| s.0);
    let page = app
        .list_customer_reports(
            q.component.as_ref().map(|c| c.0.as_str()),
            service.as_ref(),
            IdCursor::of(q.cursor),
            Limit::or_default(q.limit),
        )
        .await?;
    let role = caller.principal.role;
    Ok(Json(ListBody::new(
        page.items
            .into_iter()
            .map(|r| CustomerReportBody::shown_to(r, role))
            .collect(),
        page.next,
    )))
}
