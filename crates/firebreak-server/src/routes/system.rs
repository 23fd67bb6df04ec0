//! Health checks, the OpenAPI document and the answers for unknown routes.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use firebreak_engine::Firebreak;
use serde::Serialize;
use utoipa::ToSchema;

use crate::extract::{Caller, Viewer};
use crate::problem::{ApiError, Problem};

#[derive(Debug, Serialize, ToSchema)]
pub struct HealthBody {
    pub status: String,
}

/// The process is up. No token needed.
#[utoipa::path(get, path = "/healthz", tag = "health", security(()), responses((status = 200, body = HealthBody)))]
pub async fn healthz() -> Json<HealthBody> {
    Json(HealthBody {
        status: "ok".into(),
    })
}

/// The store answers and its writer is alive. No token needed.
#[utoipa::path(get, path = "/readyz", tag = "health", security(()),
    responses((status = 200, body = HealthBody), (status = 503, body = Problem)))]
pub async fn readyz(State(app): State<Firebreak>) -> Result<Json<HealthBody>, ApiError> {
    match app.ready().await {
        Ok(()) => Ok(Json(HealthBody {
            status: "ok".into(),
        })),
        Err(why) => Err(ApiError::new(StatusCode::SERVICE_UNAVAILABLE, why)),
    }
}

/// This document.
#[utoipa::path(get, path = "/api/v1/openapi.json", tag = "config", security(("bearer" = ["viewer"])), responses((status = 200, description = "OpenAPI 3.1 document")))]
pub async fn openapi(
    _c: Caller<Viewer>,
    axum::Extension(doc): axum::Extension<crate::openapi::Served>,
) -> impl IntoResponse {
    (
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        doc.bytes(),
    )
}

pub async fn not_found(uri: axum::http::Uri) -> ApiError {
    ApiError::not_found(format!(
        "there is no route {}; see /api/v1/openapi.json",
        uri.path()
    ))
}

pub async fn method_not_allowed(method: axum::http::Method, uri: axum::http::Uri) -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        format!(
            "{} does not accept {method}; see /api/v1/openapi.json",
            uri.path()
        ),
    )
}
