//! The signed acknowledge link in every page. `GET /ack/{token}` only shows what the page is
//! about and a button: mail scanners and chat previews fetch links, and a fetch must never
//! acknowledge. `POST /ack/{token}` (the button) acknowledges, as the user the link was made
//! for. The answers are small HTML pages for a phone at 3 a.m., with a strict CSP.

use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use firebreak_engine::paging::render::escape_html as escape;
use firebreak_engine::{EngineError, Firebreak};

use crate::routes::ingest::with_shape;

const CSP: &str = "default-src 'none'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'";

fn page(status: StatusCode, title: &str, body: &str) -> Response {
    let html = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <meta name=\"referrer\" content=\"no-referrer\">\
         <title>{} · Firebreak</title></head><body><main><h1>{}</h1>{body}</main></body></html>",
        escape(title),
        escape(title)
    );
    let mut response = (status, html).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    with_shape(response)
}

fn refused(e: EngineError) -> Response {
    match e {
        EngineError::NotFound(m) => page(
            StatusCode::NOT_FOUND,
            "Link not valid",
            &format!("<p>{}</p>", escape(&m)),
        ),
        EngineError::Conflict(m) => page(
            StatusCode::GONE,
            "Link expired",
            &format!("<p>{}</p>", escape(&m)),
        ),
        EngineError::Forbidden(m) => page(
            StatusCode::FORBIDDEN,
            "Link's user is disabled",
            &format!("<p>{}</p>", escape(&m)),
        ),
        EngineError::Unavailable(_) => page(
            StatusCode::SERVICE_UNAVAILABLE,
            "Try again",
            "<p>Firebreak cannot reach its database right now. Reload this page in a moment.</p>",
        ),
        other => {
            tracing::error!(error = %other, "acknowledge link failed");
            page(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Something went wrong",
                "<p>Acknowledge with <code>firebreak incident ack</code> or through the API instead.</p>",
            )
        }
    }
}

fn about(e: &firebreak_domain::escalation::Escalation) -> String {
    match (e.incident, e.alert) {
        (Some(n), _) => n.to_string(),
        (None, Some(a)) => format!("alert {a}"),
        (None, None) => e.id.clone(),
    }
}

/// Shows what the link acknowledges and a button; changes nothing.
pub async fn show(State(app): State<Firebreak>, Path(token): Path<String>) -> Response {
    match app.ack_link_target(&token).await {
        Err(e) => refused(e),
        Ok((claim, e)) => {
            use firebreak_domain::escalation::EscalationStatus;
            let what = escape(&about(&e));
            let button = format!(
                "<form method=\"post\"><button type=\"submit\">Acknowledge as {}</button></form>\
                 <p>Acknowledging stops the escalation: nobody else is paged.</p>",
                escape(&claim.user)
            );
            // Only a running (or exhausted) escalation has anything left to acknowledge.
            let state = match e.status {
                EscalationStatus::Active | EscalationStatus::Exhausted => button,
                EscalationStatus::Acknowledged => format!(
                    "<p>It is already acknowledged by {}. Nobody else will be paged for it.</p>",
                    escape(e.acknowledged_by.as_deref().unwrap_or("someone"))
                ),
                EscalationStatus::Resolved => {
                    "<p>It is already resolved. Nobody else will be paged for it.</p>".to_string()
                }
            };
            page(
                StatusCode::OK,
                &format!("Acknowledge {}", about(&e)),
                &format!(
                    "<p>You were paged about {what} (policy {}).</p>{state}",
                    escape(e.policy.name.as_str()),
                ),
            )
        }
    }
}

/// Acknowledges, as the user the link was made for.
pub async fn acknowledge(State(app): State<Firebreak>, Path(token): Path<String>) -> Response {
    match app.acknowledge_by_link(&token).await {
        Err(e) => refused(e),
        Ok(e) if e.status == firebreak_domain::escalation::EscalationStatus::Resolved => page(
            StatusCode::OK,
            "Already resolved",
            &format!(
                "<p>{} was resolved before this acknowledgement. Nobody else will be paged for it.</p>",
                escape(&about(&e)),
            ),
        ),
        Ok(e) => page(
            StatusCode::OK,
            "Acknowledged",
            &format!(
                "<p>{} is acknowledged by {}. Nobody else will be paged for it.</p>",
                escape(&about(&e)),
                escape(e.acknowledged_by.as_deref().unwrap_or("you"))
            ),
        ),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn escapes_markup() {
        assert_eq!(
            super::escape("<script>\"x\" & 'y'"),
            "&lt;script&gt;&quot;x&quot; &amp; &#39;y&#39;"
        );
    }
}
