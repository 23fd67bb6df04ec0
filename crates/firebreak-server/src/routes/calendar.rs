//! Calendar feeds of on-call shifts. The API hands out a feed's URL (`/feed` under a schedule
//! or a user); the feed itself (`/ical/{token}`) is outside the API, because calendar apps
//! cannot send a token header: the secret is in the URL.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use firebreak_domain::Name;
use firebreak_engine::calendar::Feed;
use firebreak_engine::{EngineError, Firebreak};
use serde::Serialize;
use utoipa::ToSchema;

use crate::extract::{Caller, Viewer};
use crate::fields::NameText;
use crate::problem::{ApiError, Problem};
use crate::routes::ingest::with_shape;

#[derive(Debug, Serialize, ToSchema)]
pub struct FeedBody {
    /// Subscribe to this URL in a calendar app. It holds its own secret: share it like a
    /// password.
    pub url: String,
}

#[utoipa::path(get, path = "/api/v1/schedules/{name}/feed", tag = "schedules",
    params(("name" = NameText, Path)), security(("bearer" = ["viewer"])),
    responses((status = 200, body = FeedBody, description = "The schedule's iCalendar feed"),
        (status = 404, body = Problem)))]
pub async fn schedule_feed(
    caller: Caller<Viewer>,
    State(app): State<Firebreak>,
    Path(name): Path<String>,
) -> Result<Json<FeedBody>, ApiError> {
    let name = Name::parse(&name)
        .map_err(|_| ApiError::not_found(format!("there is no schedule named `{name}`")))?;
    let url = app
        .feed_url(&caller.principal, &Feed::Schedule(name))
        .await?;
    Ok(Json(FeedBody { url }))
}

#[utoipa::path(get, path = "/api/v1/users/{handle}/feed", tag = "users",
    params(("handle" = NameText, Path)), security(("bearer" = ["viewer"])),
    responses((status = 200, body = FeedBody, description = "The user's shifts on every schedule, as an iCalendar feed"),
        (status = 404, body = Problem)))]
pub async fn user_feed(
    caller: Caller<Viewer>,
    State(app): State<Firebreak>,
    Path(handle): Path<String>,
) -> Result<Json<FeedBody>, ApiError> {
    let user = Name::parse(&handle)
        .map_err(|_| ApiError::not_found(format!("there is no user `{handle}`")))?;
    let url = app.feed_url(&caller.principal, &Feed::User(user)).await?;
    Ok(Json(FeedBody { url }))
}

/// The feed, as `text/calendar`.
pub async fn feed(State(app): State<Firebreak>, Path(token): Path<String>) -> Response {
    let response = match app.feed(&token).await {
        Ok(ics) => {
            let mut r = ics.into_response();
            r.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/calendar; charset=utf-8"),
            );
            r.headers_mut().insert(
                header::CACHE_CONTROL,
                HeaderValue::from_static("private, max-age=300"),
            );
            r
        }
        Err(EngineError::NotFound(m)) => (StatusCode::NOT_FOUND, m).into_response(),
        Err(EngineError::Unavailable(_)) => (
            StatusCode::SERVICE_UNAVAILABLE,
            "the database cannot be reached right now; the calendar app will try again",
        )
            .into_response(),
        Err(e) => {
            tracing::error!(error = %e, "a calendar feed failed");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "the feed could not be made",
            )
                .into_response()
        }
    };
    with_shape(response)
}
