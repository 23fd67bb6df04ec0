//! The use cases of Firebreak, between the edges (HTTP, CLI) and the store: declare an
//! incident, change it, manage tokens and services. Each use case asks the domain what
//! changes, then hands the store the new state, its timeline events and its audit record
//! to commit together. All time comes from the injected [`Clock`].

pub mod alerts;
pub mod clock;
pub mod deployments;
pub mod directory;
pub mod incidents;
pub mod tokens;

use std::sync::Arc;

pub use clock::{Clock, ManualClock, SystemClock};
use firebreak_domain::{AccessRole, Actor, Config, IncidentError};
use firebreak_store::{AuditDraft, Store, StoreError};

/// Who is making a request, as established by the token they presented.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub actor: Actor,
    pub role: AccessRole,
    /// The peer address the request came from, for the audit log.
    pub source: Option<String>,
}

impl Principal {
    pub fn local(name: &str) -> Principal {
        Principal {
            actor: Actor(name.to_string()),
            role: AccessRole::Admin,
            source: Some("local".into()),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("{0}")]
    NotFound(String),
    #[error("{field}: {message}")]
    Invalid { field: String, message: String },
    #[error("{0}")]
    Conflict(String),
    #[error("storage failure")]
    Store(#[source] StoreError),
}

impl From<StoreError> for EngineError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Conflict(m) => EngineError::Conflict(m),
            StoreError::NotFound => EngineError::NotFound("not found".into()),
            other => EngineError::Store(other),
        }
    }
}

impl From<IncidentError> for EngineError {
    fn from(e: IncidentError) -> Self {
        match e {
            IncidentError::Invalid { field, message } => EngineError::Invalid {
                field: field.to_string(),
                message,
            },
            IncidentError::Transition(t) => EngineError::Conflict(t.reason()),
            IncidentError::NotFound(m) => EngineError::NotFound(m),
        }
    }
}

pub fn invalid(field: &str, message: impl Into<String>) -> EngineError {
    EngineError::Invalid {
        field: field.into(),
        message: message.into(),
    }
}

/// The running application: store, clock and effective config.
#[derive(Clone)]
pub struct Firebreak {
    pub store: Arc<dyn Store>,
    pub clock: Arc<dyn Clock>,
    pub config: Arc<Config>,
    /// Integration keys, routing rules, silences and rate limits, in memory for ingestion.
    pub alerts: Arc<alerts::AlertIndex>,
}

impl Firebreak {
    pub fn new(store: Arc<dyn Store>, clock: Arc<dyn Clock>, config: Arc<Config>) -> Firebreak {
        Firebreak {
            store,
            clock,
            alerts: Arc::new(alerts::AlertIndex::new(&config)),
            config,
        }
    }

    pub(crate) fn audit(
        &self,
        who: &Principal,
        action: &str,
        target: impl Into<String>,
    ) -> AuditDraft {
        AuditDraft {
            actor: who.actor.0.clone(),
            action: action.to_string(),
            target: target.into(),
            at: self.clock.now(),
            source: who.source.clone(),
        }
    }
}
