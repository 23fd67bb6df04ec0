//! The pure rules of Firebreak: incidents and their lifecycle, severities, roles, checklists,
//! the timeline's event kinds and who may do what. No I/O, no async, no clock: callers pass
//! "now" in, so every rule here can be tested exhaustively and fast.

pub mod access;
pub mod action;
pub mod action_item;
pub mod address;
pub mod alert;
pub mod audit;
pub mod blameless;
pub mod break_glass;
pub mod check;
pub mod config;
pub mod contact;
pub mod customer_report;
pub mod escalation;
pub mod freeze;
pub mod gameday;
pub mod heartbeat;
pub mod ids;
pub mod incident;
pub mod instant;
pub mod lifecycle;
pub mod matcher;
pub mod postmortem;
pub mod report;
pub mod rules;
pub mod runbook;
pub mod schedule;
pub mod session;
pub mod status_page;
pub mod timeline;

pub use access::AccessRole;
pub use alert::{
    Alert, AlertAction, AlertEvent, AlertFormat, AlertSeverity, AlertStatus, Applied, Destination,
    Drill, Image, Link, Urgency,
};
pub use config::{
    Checklist, Config, Outbound, OutboundRetry, ResponseTarget, Role, Service, Severity, User,
};
pub use ids::{IncidentNumber, Name, NameError};
pub use incident::{ChecklistItem, Incident, IncidentError, NewIncident};
pub use lifecycle::{Move, Status, TransitionError};
pub use matcher::{MatchOp, Matcher, MatcherError};
pub use timeline::{Actor, TimelineEvent};
