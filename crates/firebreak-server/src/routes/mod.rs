//! The route handlers, one module per area of the API.

pub mod ack;
pub mod actions;
pub mod admin;
pub mod alerts;
pub mod calendar;
pub mod checks;
pub mod customer_reports;
pub mod directory;
pub mod gamedays;
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
