//! The route handlers, one module per area of the API.

pub mod ack;
pub mod actions;
pub mod admin;
pub mod alerts;
pub mod calendar;
pub mod directory;
pub mod heartbeats;
pub mod incidents;
pub mod ingest;
pub mod opsgenie;
pub mod paging;
pub mod public_page;
pub mod public_status;
pub mod reports;
pub mod review;
pub mod schedules;
pub mod stabilize;
pub mod status_page;
pub mod streams;
pub mod system;
pub mod webhooks;

/// A numeric id from a path: one that is not a number names nothing, so it is a 404 naming
/// `what` (`heartbeat`), like an id that does not exist.
pub(crate) fn id_in_path(id: &str, what: &str) -> Result<i64, crate::problem::ApiError> {
    id.parse()
        .map_err(|_| crate::problem::ApiError::not_found(format!("there is no {what} {id}")))
}
