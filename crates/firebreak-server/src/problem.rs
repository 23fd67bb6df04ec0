//! The one error type of the API. Every error leaves as `application/problem+json` (RFC 9457)
//! with a status that means one thing. Storage failures are logged with their cause and reach
//! the client as a bare 500: no SQL text, no stack trace.

use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use firebreak_engine::EngineError;
use serde::Serialize;
use utoipa::ToSchema;

/// What a 503 asks clients to wait before retrying.
pub const RETRY_AFTER_SECS: u64 = 2;

#[derive(Debug, Serialize, ToSchema)]
pub struct Problem {
    #[serde(rename = "type")]
    pub kind: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    /// The fields or parameters that are wrong, on a 422.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    #[schema(required = false)]
    pub errors: Vec<FieldError>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    detail: String,
    errors: Vec<FieldError>,
    headers: Vec<(header::HeaderName, String)>,
}

impl ApiError {
    pub fn new(status: StatusCode, detail: impl Into<String>) -> ApiError {
        ApiError {
            status,
            detail: detail.into(),
            errors: vec![],
            headers: vec![],
        }
    }
    pub fn bad_request(detail: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, detail)
    }
    pub fn not_found(detail: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, detail)
    }
    pub fn unauthorized(detail: impl Into<String>) -> ApiError {
        let mut e = ApiError::new(StatusCode::UNAUTHORIZED, detail);
        e.headers.push((
            header::WWW_AUTHENTICATE,
            "Bearer realm=\"firebreak\"".into(),
        ));
        e
    }
    pub fn forbidden(detail: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::FORBIDDEN, detail)
    }
    pub fn conflict(detail: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::CONFLICT, detail)
    }
    /// 422 naming the field that is wrong.
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> ApiError {
        let field = field.into();
        let message = message.into();
        let mut e = ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            format!("{field}: {message}"),
        );
        e.errors.push(FieldError { field, message });
        e
    }
    pub fn internal() -> ApiError {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Firebreak could not complete the request; the server log has the cause. Retrying may help.",
        )
    }
    /// 503 with `Retry-After`: the database is down or overloaded and nothing was written.
    pub fn unavailable() -> ApiError {
        let mut e = ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "Firebreak cannot reach its database right now, or is overloaded; nothing was changed. Retry after the Retry-After seconds.",
        );
        e.headers
            .push((header::RETRY_AFTER, RETRY_AFTER_SECS.to_string()));
        e
    }
    pub fn status(&self) -> StatusCode {
        self.status
    }
    /// What went wrong, in words for the person who asked.
    pub fn detail(&self) -> &str {
        &self.detail
    }
    /// The headers the answer carries (`Retry-After`, `WWW-Authenticate`).
    pub fn headers(&self) -> &[(header::HeaderName, String)] {
        &self.headers
    }
    /// Adds a field error to the list, keeping the status and detail.
    pub fn with_error(mut self, field: &str, message: &str) -> ApiError {
        self.errors.push(FieldError {
            field: field.to_string(),
            message: message.to_string(),
        });
        self
    }
}

impl From<EngineError> for ApiError {
    fn from(e: EngineError) -> Self {
        match e {
            EngineError::NotFound(m) => ApiError::not_found(m),
            EngineError::Invalid { field, message } => ApiError::invalid(field, message),
            EngineError::Conflict(m) => ApiError::conflict(m),
            EngineError::Forbidden(m) => ApiError::forbidden(m),
            EngineError::Unauthorized(m) => ApiError::unauthorized(m),
            EngineError::Throttled {
                message,
                retry_after,
            } => {
                let mut e = ApiError::new(StatusCode::TOO_MANY_REQUESTS, message);
                e.headers
                    .push((header::RETRY_AFTER, retry_after.to_string()));
                e
            }
            EngineError::Unavailable(cause) => {
                tracing::warn!(error = %cause, "storage unavailable; answering 503");
                ApiError::unavailable()
            }
            EngineError::Store(cause) => {
                tracing::error!(error = %cause, "storage failure");
                ApiError::internal()
            }
        }
    }
}

fn title(status: StatusCode) -> &'static str {
    match status.as_u16() {
        400 => "Malformed request",
        401 => "Authentication required",
        403 => "Not allowed",
        404 => "Not found",
        405 => "Method not allowed",
        409 => "Conflict",
        413 => "Request body too large",
        415 => "Unsupported media type",
        422 => "Invalid field",
        429 => "Too many requests",
        503 => "Service unavailable",
        _ => status.canonical_reason().unwrap_or("Error"),
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = Problem {
            kind: "about:blank".into(),
            title: title(self.status).into(),
            status: self.status.as_u16(),
            detail: self.detail,
            errors: self.errors,
        };
        let json = serde_json::to_vec(&body).unwrap_or_default();
        let mut response = (
            self.status,
            [(header::CONTENT_TYPE, "application/problem+json")],
            json,
        )
            .into_response();
        for (name, value) in self.headers {
            if let Ok(v) = value.parse() {
                response.headers_mut().insert(name, v);
            }
        }
        response
    }
}

/// Turns any error answer that did not come from [`ApiError`] (a framework rejection, such as a
/// path that is not valid UTF-8) into `application/problem+json`, so clients see one error shape.
pub async fn as_problem(response: Response) -> Response {
    let status = response.status();
    let is_problem = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/problem+json"));
    // A web page's error is a page of its own, for a person.
    let is_page = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"text/html"));
    let sender_shaped = response
        .extensions()
        .get::<crate::routes::ingest::SenderShape>()
        .is_some();
    if !(status.is_client_error() || status.is_server_error())
        || is_problem
        || is_page
        || sender_shaped
    {
        return response;
    }
    let (parts, body) = response.into_parts();
    let text = axum::body::to_bytes(body, 64 * 1024)
        .await
        .unwrap_or_default();
    let detail = String::from_utf8_lossy(&text).trim().to_string();
    let mut problem = ApiError::new(
        status,
        if detail.is_empty() || status.is_server_error() {
            title(status).to_string()
        } else {
            detail
        },
    )
    .into_response();
    for (name, value) in parts.headers.iter() {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            problem.headers_mut().insert(name.clone(), value.clone());
        }
    }
    problem
}
