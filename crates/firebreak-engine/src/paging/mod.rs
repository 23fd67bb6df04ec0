//! Paging: contact methods, escalation policies, escalations and the pages they send.

pub mod render;
