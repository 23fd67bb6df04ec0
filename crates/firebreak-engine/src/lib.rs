//! The use cases of Firebreak, between the edges (HTTP, CLI) and the store: declare an
//! incident, change it, ingest alerts, manage tokens, services and webhook subscriptions.
//! Each use case is one unit of work: it reads what it needs through the transaction handle,
//! asks the domain what changes, and writes the new state, its timeline events, its audit
//! record and the outbox messages it causes, all committed together ([`Firebreak::write`]).
//! All time comes from the injected [`Clock`].
//!
//! The background work (outbox delivery, the indexes that follow the change feed, clean-up)
//! runs under one supervisor in [`runtime`].

pub mod accounts;
pub mod actions;
pub mod alerts;
pub mod calendar;
pub mod checks;
pub mod clock;
pub mod comms;
pub mod customer_reports;
pub mod delivery;
pub mod deployments;
pub mod directory;
pub mod events;
pub mod gamedays;
pub mod heartbeats;
pub mod incidents;
pub mod live;
pub mod metrics;
pub mod oidc;
pub mod paging;
pub mod review;
pub mod runtime;
pub mod schedules;
pub mod stabilize;
pub mod status_page;
pub mod subscribers;
pub mod tokens;
pub mod views;
pub mod webhooks;

use std::sync::Arc;
use std::time::Duration;

pub use clock::{Clock, ManualClock, SystemClock};
use firebreak_domain::{AccessRole, Actor, Config, IncidentError, Name};
use firebreak_outbound::client::{OutboundClient, Timeouts};
use firebreak_outbound::guard::OutboundPolicy;
use firebreak_store::{AuditDraft, Store, StoreError, Tx};
use futures_util::future::BoxFuture;

/// Who is making a request, as established by the token they presented.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub actor: Actor,
    /// The user this principal acts as; `None` for a token that belongs to no user.
    pub user: Option<Name>,
    pub role: AccessRole,
    /// The peer address the request came from, for the audit log.
    pub source: Option<String>,
    /// The break-glass grant `role` comes from, if it does: tagged on every audit record.
    pub break_glass: Option<i64>,
}

impl Principal {
    /// Refuses `what` under break-glass access: a grant is for mending production during its
    /// incident and ends with it, so nothing done under it may outlast it as access (a token,
    /// a user, a role, a password).
    pub fn outside_break_glass(&self, what: &str) -> Result<(), EngineError> {
        match self.break_glass {
            Some(grant) => Err(EngineError::Forbidden(format!(
                "break-glass access (grant {grant}) cannot {what}: access made under a grant would outlast it; \
                 ask an admin without a grant"
            ))),
            None => Ok(()),
        }
    }

    pub fn local(name: &str) -> Principal {
        Principal {
            actor: Actor(name.to_string()),
            user: None,
            role: AccessRole::Admin,
            source: Some("local".into()),
            break_glass: None,
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
    /// The caller's role allows the route, but not this object (another user's contact methods).
    #[error("{0}")]
    Forbidden(String),
    /// The caller did not prove who they are (a wrong password).
    #[error("{0}")]
    Unauthorized(String),
    /// Too many attempts: refused unheard for `retry_after` seconds.
    #[error("{message}")]
    Throttled { message: String, retry_after: u64 },
    /// The database is down or overloaded: nothing was written; retry after a moment.
    #[error("storage unavailable")]
    Unavailable(#[source] StoreError),
    #[error("storage failure")]
    Store(#[source] StoreError),
}

impl From<StoreError> for EngineError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Conflict(m) => EngineError::Conflict(m),
            StoreError::NotFound => EngineError::NotFound("not found".into()),
            e @ (StoreError::Unavailable(_) | StoreError::Retryable(_)) => {
                EngineError::Unavailable(e)
            }
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

/// How often a unit of work that met a serialization failure or deadlock is run again.
const RETRIES: u32 = 4;

/// The running application: store, clock and effective config. Cloning it is one reference
/// count: every request's handler gets a clone, and a clone per field would make each request
/// touch a dozen shared counters.
#[derive(Clone)]
pub struct Firebreak(Arc<App>);

impl std::ops::Deref for Firebreak {
    type Target = App;

    fn deref(&self) -> &App {
        &self.0
    }
}

/// What [`Firebreak`] holds.
pub struct App {
    pub store: Arc<dyn Store>,
    pub clock: Arc<dyn Clock>,
    pub config: Arc<Config>,
    /// Integration keys, routing rules, silences and rate limits, in memory for ingestion.
    pub alerts: Arc<alerts::AlertIndex>,
    /// Concurrent ingest requests waiting to share a unit of work.
    pub ingest_queue: Arc<alerts::IngestQueue>,
    /// Outgoing events: who subscribes to what, and how bodies are written.
    pub events: Arc<events::Events>,
    /// Who a token is, remembered for a few seconds.
    pub tokens: Arc<tokens::TokenCache>,
    /// Every outbound request goes through this client and its SSRF guard.
    pub outbound: Arc<OutboundClient>,
    /// Policies in memory, paging settings and the key of acknowledge links.
    pub paging: Arc<paging::Paging>,
    /// The public status page's snapshot.
    pub status: Arc<status_page::StatusPageCache>,
    /// The facts the reports are computed from, followed through the change feed.
    pub reports: Arc<review::cache::ReportCache>,
    /// Break-glass grants in force or waiting, for every request.
    pub grants: Arc<stabilize::GrantCache>,
    /// Runbooks from the file and the API.
    pub runbooks: Arc<actions::RunbookCache>,
    /// One sign-in at a time per account.
    pub sign_in_locks: Arc<accounts::SignInLocks>,
    /// Cancelled when the server stops: live event streams end then.
    pub streams: tokio_util::sync::CancellationToken,
    /// One reader per watched incident, whose reads its watchers share.
    pub followers: Arc<live::Followers>,
    /// Single sign-on, when `oidc` is configured.
    pub oidc: Option<Arc<oidc::OidcProvider>>,
    /// Uptime checks' probes, under the SSRF guard with `outbound.allow` and `checks.allow`.
    pub prober: Arc<firebreak_outbound::probe::Prober>,
}

impl Firebreak {
    /// The application on `store`. Outbound requests may reach the addresses in `allow` even
    /// when they are private (`outbound.allow` and `FIREBREAK_OUTBOUND_ALLOW`).
    pub fn new(
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
        config: Arc<Config>,
        allow: Vec<ipnet::IpNet>,
    ) -> Result<Firebreak, EngineError> {
        let outbound_clock = clock.clone();
        let outbound = OutboundClient::new(OutboundPolicy::new(allow.clone()), Timeouts::default())
            .map_err(|e| EngineError::Store(StoreError::backend(e.to_string())))?
            .with_clock(move || outbound_clock.now());
        // Pages get their own client: one attempt may take `paging.attempt_timeout`.
        let attempt =
            Duration::try_from(config.paging.attempt_timeout).unwrap_or(Duration::from_secs(10));
        let page_clock = clock.clone();
        let prober = Arc::new(firebreak_outbound::probe::Prober::new(OutboundPolicy::new(
            allow.iter().chain(&config.checks.allow).copied().collect(),
        )));
        let oidc = config
            .oidc
            .clone()
            .map(|o| Arc::new(oidc::OidcProvider::new(o, allow.clone())));
        let pages = OutboundClient::new(
            OutboundPolicy::new(allow),
            Timeouts {
                connect: attempt.min(Duration::from_secs(5)),
                total: attempt,
            },
        )
        .map_err(|e| EngineError::Store(StoreError::backend(e.to_string())))?
        .with_clock(move || page_clock.now());
        Ok(Firebreak(Arc::new(App {
            store,
            clock,
            alerts: Arc::new(alerts::AlertIndex::new(&config)),
            ingest_queue: Arc::default(),
            events: Arc::new(events::Events::new(&config)),
            tokens: Arc::new(tokens::TokenCache::default()),
            outbound: Arc::new(outbound),
            paging: Arc::new(paging::Paging::new(&config, Arc::new(pages))),
            status: Arc::default(),
            reports: Arc::default(),
            grants: Arc::default(),
            runbooks: Arc::default(),
            sign_in_locks: Arc::default(),
            streams: tokio_util::sync::CancellationToken::new(),
            followers: Arc::default(),
            oidc,
            prober,
            config,
        })))
    }

    /// Uses `renderer` to write the objects in outgoing event bodies (the API's own shapes).
    pub fn with_renderer(self, renderer: Arc<dyn events::EventRenderer>) -> Firebreak {
        let mut events = events::Events::new(&self.config);
        events.renderer = renderer;
        let app = &self.0;
        Firebreak(Arc::new(App {
            store: app.store.clone(),
            clock: app.clock.clone(),
            config: app.config.clone(),
            alerts: app.alerts.clone(),
            ingest_queue: app.ingest_queue.clone(),
            events: Arc::new(events),
            tokens: app.tokens.clone(),
            outbound: app.outbound.clone(),
            paging: app.paging.clone(),
            status: app.status.clone(),
            reports: app.reports.clone(),
            grants: app.grants.clone(),
            runbooks: app.runbooks.clone(),
            sign_in_locks: app.sign_in_locks.clone(),
            streams: app.streams.clone(),
            followers: app.followers.clone(),
            oidc: app.oidc.clone(),
            prober: app.prober.clone(),
        }))
    }

    /// Runs one unit of work and returns its result once committed. `work` builds the unit;
    /// it is called again when the store reports a serialization failure or deadlock, so it
    /// must not have effects outside its transaction handle.
    pub async fn write<T, W>(&self, rows: usize, work: impl Fn() -> W) -> Result<T, StoreError>
    where
        T: Send + 'static,
        W: for<'t> FnOnce(&'t mut (dyn Tx + 't)) -> BoxFuture<'t, Result<T, StoreError>>
            + Send
            + 'static,
    {
        let mut attempt = 0;
        loop {
            match firebreak_store::transact_rows(&*self.store, rows, work()).await {
                Err(StoreError::Retryable(cause)) if attempt < RETRIES => {
                    attempt += 1;
                    tracing::debug!(error = %cause, attempt, "a unit of work met a conflict; running it again");
                    // A little spread so two retrying writers do not collide again.
                    let spread = 5 * u64::from(attempt) + u64::from(jitter_ms());
                    tokio::time::sleep(Duration::from_millis(spread)).await;
                }
                other => return other,
            }
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
            break_glass: who.break_glass,
        }
    }
}

/// `N` random bytes from the operating system.
pub(crate) fn random_bytes<const N: usize>() -> Result<[u8; N], EngineError> {
    let mut buf = [0u8; N];
    getrandom::fill(&mut buf)
        .map_err(|e| EngineError::Store(StoreError::backend(e.to_string())))?;
    Ok(buf)
}

/// A public id: `prefix_` and 12 random hex digits, e.g. `int_3f9c2a1b7e40`.
pub(crate) fn short_id(prefix: &str) -> Result<String, EngineError> {
    Ok(format!("{prefix}_{}", hex::encode(random_bytes::<6>()?)))
}

/// A public id that sorts by the time it was made: `prefix_` then 12 hex digits of epoch
/// milliseconds and 8 random ones. Rows made together sit together in every index that leads
/// with the id, so a unit of work that makes many of them touches few pages.
pub(crate) fn time_ordered_id(prefix: &str, now: jiff::Timestamp) -> Result<String, EngineError> {
    let ms = now.as_millisecond().clamp(0, (1 << 48) - 1);
    Ok(format!(
        "{prefix}_{ms:012x}{}",
        hex::encode(random_bytes::<4>()?)
    ))
}

/// The incident's page in the web UI under `base` (a public URL, with or without a trailing
/// slash): where a person who follows a link from a chat post or a page lands.
pub(crate) fn incident_page_url(base: &str, number: firebreak_domain::IncidentNumber) -> String {
    format!("{}/incidents/{number}", base.trim_end_matches('/'))
}

/// A few random milliseconds, to spread retries.
fn jitter_ms() -> u8 {
    let mut b = [0u8; 1];
    let _ = getrandom::fill(&mut b);
    b[0] % 16
}

#[cfg(test)]
mod ids {
    use super::time_ordered_id;

    #[test]
    fn time_ordered_ids_sort_by_the_time_they_were_made() {
        let earlier = jiff::Timestamp::from_millisecond(1_795_184_405_083).unwrap();
        let later = jiff::Timestamp::from_millisecond(1_795_184_405_084).unwrap();
        let a = time_ordered_id("esc", earlier).unwrap();
        let b = time_ordered_id("esc", later).unwrap();
        assert!(a.starts_with("esc_01a1f9") && a.len() == 4 + 12 + 8, "{a}");
        assert!(a < b, "{a} sorts before {b}");
        assert_ne!(
            time_ordered_id("esc", earlier).unwrap(),
            a,
            "ids made in the same millisecond still differ"
        );
    }
}
