//! The admin pages: users and invitations, tokens, services and their integration keys,
//! webhook subscriptions with their delivery logs, change freezes, and the audit log with its
//! verification. A secret (a token, an integration key, an invitation link) is shown once, on
//! the page that made it.

use super::Path;
use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use firebreak_domain::{AccessRole, Name};
use firebreak_engine::Firebreak;
use firebreak_store::UserRecord;
use jiff::SignedDuration;
use secrecy::ExposeSecret;
use serde::Deserialize;

use super::session::{Posted, Signed};
use super::{Frame, WebError, html, when};
use crate::extract::Admin;

struct UserRow {
    handle: String,
    name: String,
    role: String,
    email: String,
    disabled: bool,
}

struct TokenRow {
    id: String,
    name: String,
    role: String,
    user: String,
    created: String,
    state: String,
}

struct IntegrationRow {
    id: String,
    service: String,
    name: String,
    /// The live keys, masked to their last four characters: `…a1b2`.
    keys: Vec<String>,
}

struct WebhookRow {
    id: String,
    url: String,
    events: String,
    state: String,
}

struct FreezeRow {
    id: i64,
    window: String,
    services: String,
    reason: String,
    by: String,
}

#[derive(Template)]
#[template(path = "web/admin.html")]
struct AdminPage {
    frame: Frame,
    users: Vec<UserRow>,
    tokens: Vec<TokenRow>,
    services: Vec<String>,
    integrations: Vec<IntegrationRow>,
    webhooks: Vec<WebhookRow>,
    freezes: Vec<FreezeRow>,
}

/// `GET /admin`.
pub async fn page(
    State(app): State<Firebreak>,
    Signed { me, csrf, .. }: Signed<Admin>,
) -> Result<Response, WebError> {
    let now = app.clock.now();
    let users = app
        .list_users()
        .await?
        .into_iter()
        .map(|u| UserRow {
            handle: u.handle.to_string(),
            name: u.name,
            role: u.role.to_string(),
            email: u.email.unwrap_or_default(),
            disabled: u.disabled_at.is_some(),
        })
        .collect();
    let tokens = app
        .list_tokens()
        .await?
        .into_iter()
        .map(|t| TokenRow {
            state: match (t.revoked_at, t.expires_at) {
                (Some(at), _) => format!("revoked {}", when(at)),
                (None, Some(end)) if end <= now => format!("expired {}", when(end)),
                (None, Some(end)) => format!("until {}", when(end)),
                (None, None) => "active".into(),
            },
            id: t.id,
            name: t.name,
            role: t.role.to_string(),
            user: t.user.map(|u| u.to_string()).unwrap_or_default(),
            created: when(t.created_at),
        })
        .collect();
    let services = app
        .list_services()
        .await?
        .into_iter()
        .map(|s| s.name.to_string())
        .collect();
    let integrations = app
        .list_integrations()
        .await?
        .into_iter()
        .map(|i| IntegrationRow {
            keys: i
                .keys
                .iter()
                .filter(|k| k.revoked_at.is_none())
                .map(|k| format!("…{}", k.hint))
                .collect(),
            id: i.id,
            service: i.service.to_string(),
            name: i.name,
        })
        .collect();
    let webhooks = app
        .list_webhooks()
        .await?
        .into_iter()
        .map(|w| WebhookRow {
            state: match (w.disabled_at, w.failing_since) {
                (Some(at), _) => format!("disabled {}", when(at)),
                (None, Some(at)) => format!("failing since {}", when(at)),
                (None, None) => "delivering".into(),
            },
            id: w.id,
            url: w.url,
            events: w.events.join(", "),
        })
        .collect();
    let freezes = app
        .list_freezes()
        .await?
        .into_iter()
        .map(|f| FreezeRow {
            id: f.id,
            window: format!("{} → {}", when(f.starts_at), when(f.ends_at)),
            services: if f.services.is_empty() {
                "every service".into()
            } else {
                f.services
                    .iter()
                    .map(|s| s.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            },
            reason: f.reason,
            by: f.created_by,
        })
        .collect();
    Ok(html(
        StatusCode::OK,
        AdminPage {
            frame: Frame::new(&me, &csrf, "admin"),
            users,
            tokens,
            services,
            integrations,
            webhooks,
            freezes,
        }
        .render(),
    ))
}

#[derive(Template)]
#[template(path = "web/admin_secret.html")]
struct SecretPage {
    frame: Frame,
    title: String,
    secret: String,
    hint: String,
}

fn shown_once(frame: Frame, title: String, secret: String, hint: String) -> Response {
    html(
        StatusCode::CREATED,
        SecretPage {
            frame,
            title,
            secret,
            hint,
        }
        .render(),
    )
}

fn role(text: &str) -> Result<AccessRole, WebError> {
    text.parse()
        .map_err(|_| WebError::Invalid("role: choose viewer, responder or admin".into()))
}

fn handle(text: &str) -> Result<Name, WebError> {
    Name::parse(text.trim()).map_err(|_| {
        WebError::Invalid(format!(
            "handle: `{}` is not a handle; use lowercase letters, digits, '-', '_' or '.'",
            text.trim()
        ))
    })
}

#[derive(Deserialize)]
pub struct UserForm {
    handle: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    email: String,
    role: String,
}

/// `POST /admin/users`: adds a user and shows their invitation link.
pub async fn add_user(
    State(app): State<Firebreak>,
    Posted { me, form, csrf, .. }: Posted<Admin, UserForm>,
) -> Result<Response, WebError> {
    let h = handle(&form.handle)?;
    let email = form.email.trim().to_string();
    if !email.is_empty() && !email.contains('@') {
        return Err(WebError::Invalid(
            "email: must be an address like sam@example.com".into(),
        ));
    }
    let user = UserRecord {
        handle: h.clone(),
        name: if form.name.trim().is_empty() {
            h.to_string()
        } else {
            form.name.trim().to_string()
        },
        email: (!email.is_empty()).then_some(email),
        time_zone: None,
        role: role(&form.role)?,
        from_config: false,
        created_at: app.clock.now(),
        disabled_at: None,
    };
    app.create_user(&me.principal, user).await?;
    let link = app.invite(&me.principal, &h, None).await?;
    Ok(shown_once(
        Frame::new(&me, &csrf, "admin"),
        format!("{h} was added. Send them this invitation link"),
        link.url.expose_secret().to_string(),
        format!(
            "It works once, until {}. It signs in whoever opens it first, so send it privately.",
            when(link.invitation.expires_at)
        ),
    ))
}

#[derive(Deserialize)]
pub struct HandleForm {
    handle: String,
}

/// `POST /admin/invitations`: a new invitation link for an existing user.
pub async fn invite(
    State(app): State<Firebreak>,
    Posted { me, form, csrf, .. }: Posted<Admin, HandleForm>,
) -> Result<Response, WebError> {
    let h = handle(&form.handle)?;
    let link = app.invite(&me.principal, &h, None).await?;
    Ok(shown_once(
        Frame::new(&me, &csrf, "admin"),
        format!("An invitation link for {h}"),
        link.url.expose_secret().to_string(),
        format!(
            "It works once, until {}. Send it privately.",
            when(link.invitation.expires_at)
        ),
    ))
}

#[derive(Deserialize)]
pub struct TokenForm {
    name: String,
    role: String,
    #[serde(default)]
    user: String,
    /// Days until it expires; empty for never.
    #[serde(default)]
    days: String,
}

/// `POST /admin/tokens`: makes a token and shows it once.
pub async fn add_token(
    State(app): State<Firebreak>,
    Posted { me, form, csrf, .. }: Posted<Admin, TokenForm>,
) -> Result<Response, WebError> {
    let user = if form.user.trim().is_empty() {
        None
    } else {
        Some(handle(&form.user)?)
    };
    let expires_at = match form.days.trim() {
        "" => None,
        d => {
            let days: i64 = d
                .parse()
                .ok()
                .filter(|d| (1..=3650).contains(d))
                .ok_or_else(|| WebError::Invalid("days: a whole number from 1 to 3650".into()))?;
            Some(
                app.clock
                    .now()
                    .saturating_add(SignedDuration::from_hours(24 * days))
                    .map_err(|_| WebError::Invalid("days: too many".into()))?,
            )
        }
    };
    let issued = app
        .create_token(
            &me.principal,
            &form.name,
            role(&form.role)?,
            user,
            expires_at,
        )
        .await?;
    Ok(shown_once(
        Frame::new(&me, &csrf, "admin"),
        format!("Token {} ({})", issued.record.name, issued.record.role),
        firebreak_engine::tokens::reveal(&issued.secret).to_string(),
        "Copy it now: it is shown only once. Use it as `Authorization: Bearer <token>`, or `firebreak login --token`.".into(),
    ))
}

/// `POST /admin/tokens/{id}/revoke`.
pub async fn revoke_token(
    State(app): State<Firebreak>,
    Path(id): Path<String>,
    Posted { me, .. }: Posted<Admin, super::pages::Empty>,
) -> Result<Response, WebError> {
    app.revoke_token(&me.principal, &id).await?;
    Ok(Redirect::to("/admin#tokens").into_response())
}

#[derive(Deserialize)]
pub struct IntegrationForm {
    service: String,
    name: String,
}

/// `POST /admin/integrations`: an integration key for a service, shown once.
pub async fn add_integration(
    State(app): State<Firebreak>,
    Posted { me, form, csrf, .. }: Posted<Admin, IntegrationForm>,
) -> Result<Response, WebError> {
    let service = Name::parse(form.service.trim())
        .map_err(|_| WebError::Invalid("service: choose a service".into()))?;
    let issued = app
        .create_integration(&me.principal, &service, &form.name)
        .await?;
    let key = issued.key.expose_secret().to_string();
    Ok(shown_once(
        Frame::new(&me, &csrf, "admin"),
        format!("Integration {} for {service}", issued.integration.name),
        key,
        format!(
            "Copy it now: it is shown only once. Alertmanager sends to {}/api/v1/ingest/alertmanager with this key as its bearer credential; PagerDuty senders use it as the routing key at /v2/enqueue.",
            app.paging.public_url
        ),
    ))
}

#[derive(Deserialize)]
pub struct FreezeForm {
    hours: String,
    #[serde(default)]
    services: String,
    reason: String,
}

/// `POST /admin/freezes`: declares a freeze window from now.
pub async fn add_freeze(
    State(app): State<Firebreak>,
    Posted { me, form, .. }: Posted<Admin, FreezeForm>,
) -> Result<Response, WebError> {
    let hours: i64 = form
        .hours
        .trim()
        .parse()
        .ok()
        .filter(|h| (1..=24 * 31).contains(h))
        .ok_or_else(|| WebError::Invalid("hours: a whole number from 1 to 744".into()))?;
    let services = form
        .services
        .split([',', ' '])
        .filter(|s| !s.trim().is_empty())
        .map(|s| {
            Name::parse(s.trim())
                .map_err(|_| WebError::Invalid(format!("services: `{s}` is not a service name")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let ends = app
        .clock
        .now()
        .saturating_add(SignedDuration::from_hours(hours))
        .map_err(|_| WebError::Invalid("hours: too many".into()))?;
    app.add_freeze(&me.principal, None, ends, services, &form.reason)
        .await?;
    Ok(Redirect::to("/admin#freezes").into_response())
}

/// `POST /admin/freezes/{id}/lift`.
pub async fn lift_freeze(
    State(app): State<Firebreak>,
    Path(id): Path<i64>,
    Posted { me, .. }: Posted<Admin, super::pages::Empty>,
) -> Result<Response, WebError> {
    app.lift_freeze(&me.principal, id).await?;
    Ok(Redirect::to("/admin#freezes").into_response())
}

struct DeliveryRow {
    event: String,
    status: &'static str,
    attempts: Vec<String>,
    at: String,
}

#[derive(Template)]
#[template(path = "web/admin_webhook.html")]
struct WebhookPage {
    frame: Frame,
    id: String,
    url: String,
    deliveries: Vec<DeliveryRow>,
}

/// `GET /admin/webhooks/{id}`: a subscription's delivery log.
pub async fn webhook(
    State(app): State<Firebreak>,
    Path(id): Path<String>,
    Signed { me, csrf, .. }: Signed<Admin>,
) -> Result<Response, WebError> {
    let sub = app
        .list_webhooks()
        .await?
        .into_iter()
        .find(|w| w.id == id)
        .ok_or_else(|| WebError::NotFound(format!("there is no webhook subscription {id}")))?;
    let deliveries = app
        .webhook_deliveries(&id, None, 100)
        .await?
        .items
        .into_iter()
        .map(|d| DeliveryRow {
            event: format!("{} {}", d.event_type, d.event_id),
            status: d.message.status.as_str(),
            at: when(d.message.created_at),
            attempts: d
                .attempts
                .iter()
                .map(|a| {
                    format!(
                        "{}: {}{} in {} ms",
                        when(a.at),
                        a.status_code
                            .map(|c| format!("HTTP {c}"))
                            .unwrap_or_else(|| "no answer".into()),
                        a.error
                            .as_deref()
                            .map(|e| format!(" ({e})"))
                            .unwrap_or_default(),
                        a.duration_ms
                    )
                })
                .collect(),
        })
        .collect();
    Ok(html(
        StatusCode::OK,
        WebhookPage {
            frame: Frame::new(&me, &csrf, "admin"),
            id,
            url: sub.url,
            deliveries,
        }
        .render(),
    ))
}

struct AuditRow {
    id: i64,
    at: String,
    actor: String,
    action: String,
    target: String,
    source: String,
    break_glass: String,
}

#[derive(Template)]
#[template(path = "web/admin_audit.html")]
struct AuditPage {
    frame: Frame,
    rows: Vec<AuditRow>,
    verified: String,
    broken: String,
}

/// `GET /admin/audit`: the newest audit records and the chain's verification.
pub async fn audit(
    State(app): State<Firebreak>,
    Signed { me, csrf, .. }: Signed<Admin>,
) -> Result<Response, WebError> {
    let report = app.verify_audit().await?;
    let rows = app
        .list_audit(None, 200)
        .await?
        .items
        .into_iter()
        .map(|a| AuditRow {
            id: a.id,
            at: when(a.at),
            actor: a.actor,
            action: a.action,
            target: a.target,
            source: a.source.unwrap_or_default(),
            break_glass: a
                .break_glass
                .map(|g| format!("grant {g}"))
                .unwrap_or_default(),
        })
        .collect();
    Ok(html(
        StatusCode::OK,
        AuditPage {
            frame: Frame::new(&me, &csrf, "admin"),
            rows,
            verified: format!(
                "{} records; the chain's head is {}",
                report.rows,
                report
                    .head
                    .as_deref()
                    .map(|h| &h[..h.len().min(16)])
                    .unwrap_or("empty")
            ),
            broken: report.broken.map(|b| b.to_string()).unwrap_or_default(),
        }
        .render(),
    ))
}
