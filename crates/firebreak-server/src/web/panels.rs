//! The incident room's working panels: the freeze banner and break-glass grants, status
//! updates with their templates, the linked alerts, the suspect deploys, who was paged, and the
//! runbooks with their actions and runs. They reload together when the incident changes.

use std::collections::BTreeMap;

use super::Path;
use askama::Template;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use firebreak_domain::status_page::{Audience, PublicStatus};
use firebreak_domain::{AccessRole, AlertAction, AlertStatus, Incident, IncidentNumber};
use firebreak_engine::Firebreak;
use firebreak_engine::accounts::SessionPrincipal;
use firebreak_engine::actions::shown_line;
use firebreak_engine::status_page::UpdateInput;
use firebreak_store::AlertFilter;
use serde::Deserialize;

use super::session::{Posted, Signed};
use super::{WebError, age, html, when};
use crate::extract::{Responder, Viewer};

pub struct AlertRow {
    pub id: i64,
    pub summary: String,
    pub severity: &'static str,
    pub status: &'static str,
    pub service: String,
    pub count: i64,
    pub last_seen: String,
    pub open: bool,
    pub acknowledged: bool,
    pub incident: Option<i64>,
}

impl AlertRow {
    pub fn of(a: &firebreak_domain::Alert, now: jiff::Timestamp) -> AlertRow {
        AlertRow {
            id: a.id,
            summary: a.summary.clone(),
            severity: a.severity.as_str(),
            status: a.status.as_str(),
            service: a.service.to_string(),
            count: a.count,
            last_seen: format!("{} ago", age(a.last_seen, now)),
            open: a.status != AlertStatus::Resolved,
            acknowledged: a.acknowledged_at.is_some(),
            incident: a.incident.map(|n| n.0),
        }
    }
}

pub(crate) struct DeployRow {
    pub(crate) service: String,
    pub(crate) version: String,
    pub(crate) at: String,
    pub(crate) suspect: bool,
    pub(crate) rollback_to: String,
    pub(crate) link: String,
}

pub(crate) struct PageRow {
    pub(crate) user: String,
    pub(crate) method: String,
    pub(crate) status: &'static str,
    pub(crate) error: String,
}

pub(crate) struct EscalationRow {
    pub(crate) policy: String,
    pub(crate) status: &'static str,
    pub(crate) started: String,
    pub(crate) pages: Vec<PageRow>,
}

pub(crate) struct UpdateRow {
    pub(crate) audience: &'static str,
    pub(crate) status: String,
    pub(crate) body: String,
    pub(crate) at: String,
    pub(crate) by: String,
}

pub(crate) struct ParamView {
    pub(crate) name: String,
    pub(crate) pattern: String,
}

pub(crate) struct ActionView {
    pub(crate) runbook: String,
    pub(crate) name: String,
    pub(crate) description: String,
    pub(crate) params: Vec<ParamView>,
    pub(crate) approval: bool,
    pub(crate) allowed: bool,
}

pub(crate) struct RunRow {
    pub(crate) id: i64,
    pub(crate) action: String,
    pub(crate) status: &'static str,
    pub(crate) shown: String,
    pub(crate) by: String,
    pub(crate) output: String,
    pub(crate) error: String,
    pub(crate) waiting: bool,
    pub(crate) can_approve: bool,
}

pub(crate) struct GrantRow {
    pub(crate) user: String,
    pub(crate) role: String,
    pub(crate) state: &'static str,
    pub(crate) until: String,
    pub(crate) reason: String,
}

pub(crate) struct TemplateOption {
    pub(crate) status: &'static str,
}

pub struct PanelsView {
    pub(crate) id: i64,
    pub(crate) csrf: String,
    pub(crate) responder: bool,
    pub(crate) open: bool,
    pub(crate) drill: bool,
    pub(crate) freeze: Vec<String>,
    pub(crate) grants: Vec<GrantRow>,
    pub(crate) updates: Vec<UpdateRow>,
    pub(crate) templates: Vec<TemplateOption>,
    pub(crate) alerts: Vec<AlertRow>,
    pub(crate) deploys: Vec<DeployRow>,
    pub(crate) escalations: Vec<EscalationRow>,
    pub(crate) actions: Vec<ActionView>,
    pub(crate) links: Vec<(String, String)>,
    pub(crate) runs: Vec<RunRow>,
}

/// Whether `href` is an http(s) link, the only kind a page makes clickable.
fn is_web_link(href: &str) -> bool {
    let lower = href.trim_start().to_ascii_lowercase();
    lower.starts_with("https://") || lower.starts_with("http://")
}

pub async fn panels_view(
    app: &Firebreak,
    incident: &Incident,
    me: &SessionPrincipal,
    csrf: &str,
) -> Result<PanelsView, WebError> {
    let now = app.clock.now();
    let n = incident.number;
    let mut freeze: Vec<String> = Vec::new();
    if incident.status.is_open() {
        let services: Vec<Option<&firebreak_domain::Name>> = if incident.services.is_empty() {
            vec![None]
        } else {
            incident.services.iter().map(Some).collect()
        };
        for s in services {
            for reason in app.freeze_status(s, false).await?.reasons {
                let line = reason.describe();
                if !freeze.contains(&line) {
                    freeze.push(line);
                }
            }
        }
    }
    let grants = app
        .list_grants(Some(n))
        .await?
        .into_iter()
        .filter(|g| g.state(now) != firebreak_domain::break_glass::GrantState::Ended)
        .map(|g| GrantRow {
            user: g.user.to_string(),
            role: g.role.to_string(),
            state: g.state(now).as_str(),
            until: g.expires_at().map(when).unwrap_or_default(),
            reason: g.reason.clone(),
        })
        .collect();
    let updates = app
        .status_updates(n)
        .await?
        .into_iter()
        .rev()
        .filter_map(|e| match e.event {
            firebreak_domain::TimelineEvent::StatusUpdate(u) => Some(UpdateRow {
                audience: u.audience.as_str(),
                status: u.status.map(|s| s.as_str().to_string()).unwrap_or_default(),
                body: u.body,
                at: when(e.at),
                by: e.actor,
            }),
            _ => None,
        })
        .collect();
    let alerts = app
        .list_alerts(
            &AlertFilter {
                incident: Some(n),
                ..Default::default()
            },
            None,
            50,
        )
        .await?
        .items
        .iter()
        .map(|a| AlertRow::of(a, now))
        .collect();
    let view = app.incident_view(incident.clone()).await?;
    let deploys = view
        .suspects
        .iter()
        .take(5)
        .map(|s| DeployRow {
            service: s.deployment.service.to_string(),
            version: s.deployment.version.clone(),
            at: when(s.deployment.at),
            suspect: s.suspect,
            rollback_to: s.rollback_to.clone().unwrap_or_default(),
            link: s
                .deployment
                .link
                .clone()
                .filter(|l| is_web_link(l))
                .unwrap_or_default(),
        })
        .collect();
    let escalations = app
        .escalations(None, Some(n))
        .await?
        .into_iter()
        .map(|e| EscalationRow {
            policy: e.escalation.policy.name.to_string(),
            status: e.escalation.status.as_str(),
            started: when(e.escalation.started_at),
            pages: e
                .notifications
                .into_iter()
                .map(|p| PageRow {
                    user: p.user,
                    method: p.method,
                    status: p.status,
                    error: p.last_error.unwrap_or_default(),
                })
                .collect(),
        })
        .collect();
    let runbooks = app.incident_runbooks(n).await?;
    let role = me.principal.role;
    let actions = runbooks
        .runbooks
        .iter()
        .flat_map(|c| {
            c.runbook.actions.iter().map(move |a| ActionView {
                runbook: c.runbook.name.to_string(),
                name: a.name.to_string(),
                description: a.description.clone(),
                params: a
                    .params
                    .iter()
                    .map(|(k, p)| ParamView {
                        name: k.clone(),
                        pattern: p.pattern.clone(),
                    })
                    .collect(),
                approval: a.approval,
                allowed: role.allows(a.role),
            })
        })
        .collect();
    let links = runbooks
        .links
        .iter()
        // Only web links are links: a `javascript:` or `data:` href from a sender is not.
        .filter(|l| is_web_link(&l.href))
        .map(|l| {
            (
                l.href.clone(),
                l.text.clone().unwrap_or_else(|| l.href.clone()),
            )
        })
        .collect();
    let me_actor = me.principal.actor.0.clone();
    let runs = app
        .incident_runs(n)
        .await?
        .into_iter()
        .rev()
        .take(20)
        .map(|r| {
            let waiting = r.status == firebreak_domain::action::RunStatus::PendingApproval;
            RunRow {
                id: r.id,
                action: r.action.clone(),
                status: r.status.as_str(),
                shown: shown_line(&r.shown),
                can_approve: waiting && r.requested_by != me_actor,
                by: r.requested_by,
                output: r.output,
                error: r.error.unwrap_or_default(),
                waiting,
            }
        })
        .collect();
    Ok(PanelsView {
        id: n.0,
        csrf: csrf.to_string(),
        responder: role.allows(AccessRole::Responder),
        open: incident.status.is_open(),
        drill: incident.drill,
        freeze,
        grants,
        updates,
        templates: [
            PublicStatus::Investigating,
            PublicStatus::Identified,
            PublicStatus::Monitoring,
            PublicStatus::Resolved,
        ]
        .into_iter()
        .map(|s| TemplateOption { status: s.as_str() })
        .collect(),
        alerts,
        deploys,
        escalations,
        actions,
        links,
        runs,
    })
}

#[derive(Template)]
#[template(path = "web/incident_panels.html")]
pub struct PanelsFragment {
    pub p: PanelsView,
}

fn number(n: &str) -> Result<IncidentNumber, WebError> {
    n.parse()
        .map_err(|_| WebError::NotFound(format!("`{n}` is not an incident number")))
}

/// `GET /incidents/{n}/panels`: the working panels, for htmx to swap in on a change.
pub async fn panels(
    State(app): State<Firebreak>,
    Path(n): Path<String>,
    Signed { me, csrf, .. }: Signed<Viewer>,
) -> Result<Response, WebError> {
    let incident = app.incident(number(&n)?).await?;
    let p = panels_view(&app, &incident, &me, &csrf).await?;
    Ok(html(StatusCode::OK, PanelsFragment { p }.render()))
}

/// A message shown in the page's message area after an htmx action.
#[derive(Template)]
#[template(path = "web/flash.html")]
struct Flash<'a> {
    title: &'a str,
    lines: Vec<String>,
}

fn flash(title: &str, lines: Vec<String>) -> Response {
    let mut r = html(StatusCode::OK, Flash { title, lines }.render());
    r.headers_mut()
        .insert("hx-retarget", HeaderValue::from_static("#flash"));
    r.headers_mut()
        .insert("hx-reswap", HeaderValue::from_static("innerHTML"));
    r
}

fn back(n: IncidentNumber, htmx: bool) -> Response {
    if htmx {
        StatusCode::NO_CONTENT.into_response()
    } else {
        axum::response::Redirect::to(&format!("/incidents/{}", n.0)).into_response()
    }
}

#[derive(Deserialize)]
pub struct UpdateForm {
    pub(crate) audience: String,
    #[serde(default)]
    pub(crate) status: String,
    #[serde(default)]
    pub(crate) body: String,
    /// `1` fills an empty body from the status's template.
    #[serde(default)]
    pub(crate) template: String,
    /// `1` tells subscribers (public updates).
    #[serde(default)]
    pub(crate) notify: String,
}

fn public_status(s: &str) -> Result<Option<PublicStatus>, WebError> {
    if s.is_empty() {
        return Ok(None);
    }
    PublicStatus::parse(s).map(Some).ok_or_else(|| {
        WebError::Invalid(format!(
            "status: `{s}` is not investigating, identified, monitoring or resolved"
        ))
    })
}

/// `POST /incidents/{n}/updates`: a public or internal status update.
pub async fn post_update(
    State(app): State<Firebreak>,
    Path(n): Path<String>,
    Posted { me, form, htmx, .. }: Posted<Responder, UpdateForm>,
) -> Result<Response, WebError> {
    let n = number(&n)?;
    let audience = Audience::parse(&form.audience)
        .ok_or_else(|| WebError::Invalid("audience: choose public or internal".into()))?;
    let status = public_status(&form.status)?;
    let body = form.body.trim().to_string();
    let use_template = body.is_empty() || form.template == "1";
    let input = UpdateInput {
        audience,
        status,
        template: if use_template && body.is_empty() {
            Some(status.unwrap_or(PublicStatus::Investigating))
        } else {
            None
        },
        body: (!body.is_empty()).then_some(body),
        components: BTreeMap::new(),
        notify: Some(form.notify == "1"),
    };
    app.post_status_update(&me.principal, n, input).await?;
    Ok(back(n, htmx))
}

/// `POST /incidents/{n}/runs`: runs (or dry-runs) a runbook action. The form's `p_NAME`
/// fields are its parameters.
pub async fn run_action(
    State(app): State<Firebreak>,
    Path(n): Path<String>,
    Posted { me, form, htmx, .. }: Posted<Responder, BTreeMap<String, String>>,
) -> Result<Response, WebError> {
    let n = number(&n)?;
    let action = form
        .get("action")
        .cloned()
        .ok_or_else(|| WebError::Invalid("action: which action to run".into()))?;
    let dry_run = form.get("dry_run").map(String::as_str) == Some("1");
    let params: BTreeMap<String, String> = form
        .iter()
        .filter_map(|(k, v)| k.strip_prefix("p_").map(|k| (k.to_string(), v.clone())))
        .collect();
    let outcome = app
        .run_action(&me.principal, n, &action, params, dry_run)
        .await?;
    let line = shown_line(&outcome.run.shown);
    if dry_run {
        return Ok(flash(
            "Dry run: nothing was run",
            vec![format!("{action} would run: {line}")],
        ));
    }
    if htmx {
        let title = if outcome.run.status == firebreak_domain::action::RunStatus::PendingApproval {
            "Waiting for a second person to approve"
        } else {
            "Started"
        };
        return Ok(flash(title, vec![format!("{action}: {line}")]));
    }
    Ok(back(n, false))
}

/// `POST /incidents/{n}/runs/{id}/approve`: a second person approves a waiting run.
pub async fn approve_run(
    State(app): State<Firebreak>,
    Path((n, id)): Path<(String, i64)>,
    Posted { me, htmx, .. }: Posted<Responder, super::pages::Empty>,
) -> Result<Response, WebError> {
    let n = number(&n)?;
    app.approve_run(&me.principal, n, id).await?;
    Ok(back(n, htmx))
}

/// `POST /alerts/{id}/ack` and `/alerts/{id}/resolve`.
pub async fn alert_action(
    State(app): State<Firebreak>,
    Path((id, what)): Path<(i64, String)>,
    Posted { me, htmx, .. }: Posted<Responder, super::pages::Empty>,
) -> Result<Response, WebError> {
    let action = match what.as_str() {
        "ack" => AlertAction::Acknowledge,
        "resolve" => AlertAction::Resolve,
        _ => {
            return Err(WebError::NotFound(format!(
                "there is no alert action `{what}`"
            )));
        }
    };
    let alert = app.act_on_alert(&me.principal, id, action).await?;
    if htmx {
        return Ok(StatusCode::NO_CONTENT.into_response());
    }
    let to = match alert.incident {
        Some(n) => format!("/incidents/{}", n.0),
        None => "/alerts".to_string(),
    };
    Ok(axum::response::Redirect::to(&to).into_response())
}
