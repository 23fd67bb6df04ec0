//! Alert ingestion and the things around it: integration keys, routing rules, silences,
//! maintenance windows and the per-key rate limit.
//!
//! A request is authenticated by its integration key against an in-memory index (keys are
//! hashed; the index also holds the routing rules, silences and maintenance windows, reloaded
//! after every change and every few seconds). Each event is routed and checked for
//! suppression, then the whole request is handed to the store as one transaction: the alert,
//! its dedup state and any incident it attaches to or declares commit together, and the
//! sender is answered only after that commit.

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use firebreak_domain::rules::{
    self, GroupDecision, Grouping, MaintenanceWindow, Route, Routed, Silence,
};
use firebreak_domain::{
    Actor, Alert, AlertAction, AlertEvent, AlertStatus, Applied, Config, Destination, Incident,
    IncidentNumber, Matcher, Name, TimelineEvent,
};
use firebreak_store::{
    AlertFilter, AlertTx, AuditDraft, IngestEffect, IngestOutcome, IntegrationKey,
    IntegrationRecord, Page, RouteRecord, StoreError, TimelineDraft,
};
use governor::clock::{Clock as _, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use jiff::{SignedDuration, Timestamp};
use secrecy::SecretString;

use crate::tokens::hash_token;
use crate::{EngineError, Firebreak, Principal, invalid};

/// Integration keys are 32 characters from this alphabet, like PagerDuty routing keys.
const KEY_ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
pub const KEY_LEN: usize = 32;
/// How often the index is reloaded even without local changes (other Firebreak processes
/// may share the database).
pub const INDEX_REFRESH: Duration = Duration::from_secs(5);

/// True when `text` has the shape of an integration key.
pub fn is_key_shaped(text: &str) -> bool {
    text.len() == KEY_LEN && text.bytes().all(|b| b.is_ascii_alphanumeric())
}

/// The last four characters of a key, shown so people can tell keys apart.
fn key_hint(key: &str) -> String {
    let skip = key.chars().count().saturating_sub(4);
    key.chars().skip(skip).collect()
}

/// A new random integration key.
pub fn new_key() -> Result<String, EngineError> {
    let mut out = String::with_capacity(KEY_LEN);
    let mut buf = [0u8; 64];
    while out.len() < KEY_LEN {
        getrandom::fill(&mut buf).map_err(|e| EngineError::Store(StoreError::backend(e)))?;
        // 248 = 4 * 62: reject the top bytes so every character is equally likely.
        for b in buf.iter().filter(|b| **b < 248) {
            if out.len() == KEY_LEN {
                break;
            }
            out.push(KEY_ALPHABET[(*b % 62) as usize] as char);
        }
    }
    Ok(out)
}

fn short_id(prefix: &str) -> Result<String, EngineError> {
    let mut buf = [0u8; 6];
    getrandom::fill(&mut buf).map_err(|e| EngineError::Store(StoreError::backend(e)))?;
    Ok(format!("{prefix}_{}", hex::encode(buf)))
}

/// The integration a request authenticated as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sender {
    pub integration: String,
    pub name: String,
    pub service: Name,
}

/// An integration key as issued: shown once, then only its hash is kept.
pub struct IssuedKey {
    pub integration: IntegrationRecord,
    pub key_id: String,
    pub key: SecretString,
}

#[derive(Default)]
struct Snapshot {
    /// Which reload produced it; a reload that started earlier never replaces a later one.
    generation: u64,
    keys: HashMap<String, Sender>,
    routes: Vec<Route>,
    silences: Vec<Silence>,
    windows: Vec<MaintenanceWindow>,
}

/// What ingestion reads on every request, kept in memory.
pub struct AlertIndex {
    snapshot: RwLock<Arc<Snapshot>>,
    /// Numbers each reload in the order they start.
    reloads: AtomicU64,
    loaded: RwLock<Option<Instant>>,
    limiter: DefaultKeyedRateLimiter<String>,
}

impl AlertIndex {
    pub fn new(config: &Config) -> AlertIndex {
        let per_second =
            NonZeroU32::new(config.alerting.rate_limit_per_second).unwrap_or(NonZeroU32::MIN);
        let burst = NonZeroU32::new(config.alerting.rate_limit_burst).unwrap_or(per_second);
        AlertIndex {
            snapshot: RwLock::new(Arc::new(Snapshot::default())),
            reloads: AtomicU64::new(0),
            loaded: RwLock::new(None),
            limiter: RateLimiter::keyed(Quota::per_second(per_second).allow_burst(burst)),
        }
    }

    fn current(&self) -> Arc<Snapshot> {
        self.snapshot
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    fn stale(&self) -> bool {
        self.loaded
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .is_none_or(|at| at.elapsed() >= INDEX_REFRESH)
    }
}

/// A request over its integration's rate limit; retry after this long.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Throttled {
    pub retry_after: Duration,
}

/// What to do with one event once routed.
struct Planned {
    event: AlertEvent,
    dedup_key: String,
    to: Destination,
    grouping: Grouping,
}

impl Firebreak {
    /// Reloads the keys, routing rules, silences and maintenance windows ingestion uses.
    pub async fn refresh_alert_index(&self) -> Result<(), EngineError> {
        // Two reloads can overlap (a periodic one and one after a change); the one that began
        // reading first may finish last, and must not put its older view back.
        let generation = self.alerts.reloads.fetch_add(1, Ordering::SeqCst) + 1;
        let now = self.clock.now();
        let integrations = self.store.list_integrations().await?;
        let mut keys = HashMap::new();
        for i in integrations {
            let sender = Sender {
                integration: i.id.clone(),
                name: i.name.clone(),
                service: i.service.clone(),
            };
            for k in i.keys.iter().filter(|k| k.revoked_at.is_none()) {
                keys.insert(k.hash.clone(), sender.clone());
            }
        }
        let mut routes = self.config.alerting.routes.clone();
        routes.extend(self.store.list_routes().await?.into_iter().map(|r| r.route));
        let snapshot = Snapshot {
            generation,
            keys,
            routes,
            silences: self.store.list_silences(now).await?,
            windows: self.store.list_maintenance(now).await?,
        };
        let mut current = self
            .alerts
            .snapshot
            .write()
            .unwrap_or_else(|e| e.into_inner());
        if current.generation > generation {
            return Ok(());
        }
        *current = Arc::new(snapshot);
        drop(current);
        *self
            .alerts
            .loaded
            .write()
            .unwrap_or_else(|e| e.into_inner()) = Some(Instant::now());
        Ok(())
    }

    /// Reloads the index if it is older than [`INDEX_REFRESH`].
    pub async fn refresh_alert_index_if_stale(&self) -> Result<(), EngineError> {
        if self.alerts.stale() {
            self.refresh_alert_index().await?;
        }
        Ok(())
    }

    /// The integration `key` belongs to, if it is a live key.
    pub fn sender_for_key(&self, key: &str) -> Option<Sender> {
        if !is_key_shaped(key) {
            return None;
        }
        self.alerts.current().keys.get(&hash_token(key)).cloned()
    }

    /// Counts one request against the integration's rate limit.
    pub fn check_rate(&self, sender: &Sender) -> Result<(), Throttled> {
        self.alerts
            .limiter
            .check_key(&sender.integration)
            .map_err(|not_until| Throttled {
                retry_after: not_until
                    .wait_time_from(DefaultClock::default().now())
                    .max(Duration::from_secs(1)),
            })
    }

    /// Routes, suppresses and stores `events` from `sender` in one transaction. Returns one
    /// outcome per event, in order, after the commit.
    pub async fn ingest(
        &self,
        sender: &Sender,
        events: Vec<AlertEvent>,
    ) -> Result<Vec<IngestOutcome>, EngineError> {
        let now = self.clock.now();
        let index = self.alerts.current();
        let mut outcomes: Vec<Option<IngestOutcome>> = Vec::with_capacity(events.len());
        let mut planned = Vec::with_capacity(events.len());
        for mut event in events {
            let dedup_key = match &event.dedup_key {
                Some(k) => k.clone(),
                None => hex::encode(uuid_bytes()?),
            };
            match rules::route(&mut event, &sender.service, &index.routes) {
                Routed::Dropped(rule) => {
                    tracing::debug!(rule, integration = %sender.integration, "routing rule dropped an alert");
                    outcomes.push(Some(IngestOutcome {
                        dedup_key,
                        effect: IngestEffect::Dropped,
                        alert: None,
                        incident: None,
                    }));
                }
                Routed::To(service) => {
                    let suppressed =
                        rules::suppression(&event, &service, &index.silences, &index.windows, now);
                    let grouping = self
                        .config
                        .service(&service)
                        .map(|s| s.grouping.clone())
                        .unwrap_or_default();
                    outcomes.push(None);
                    planned.push(Planned {
                        event,
                        dedup_key,
                        to: Destination {
                            integration: sender.integration.clone(),
                            service,
                            suppressed,
                        },
                        grouping,
                    });
                }
            }
        }
        if !planned.is_empty() {
            let config = self.config.clone();
            let actor = format!("{}:{}", sender_kind(&planned), sender.name);
            let stored = self.run_ingest(planned, config, actor, now).await?;
            let mut stored = stored.into_iter();
            for slot in outcomes.iter_mut().filter(|o| o.is_none()) {
                *slot = stored.next();
            }
        }
        Ok(outcomes.into_iter().flatten().collect())
    }

    async fn run_ingest(
        &self,
        planned: Vec<Planned>,
        config: Arc<Config>,
        actor: String,
        now: Timestamp,
    ) -> Result<Vec<IngestOutcome>, EngineError> {
        let planned = Arc::new(planned);
        // SQLite never conflicts (one writer); on Postgres two racing senders can, so retry.
        let mut attempt = 0;
        loop {
            attempt += 1;
            let (p, c, a) = (planned.clone(), config.clone(), actor.clone());
            let result = self
                .store
                .ingest(Box::new(move |tx| {
                    Box::pin(async move {
                        let mut out = Vec::with_capacity(p.len());
                        let mut incidents = OpenIncidents::new();
                        for item in p.iter() {
                            out.push(ingest_one(tx, item, &c, &a, now, &mut incidents).await?);
                        }
                        Ok(out)
                    })
                }))
                .await;
            match result {
                Err(StoreError::Conflict(_)) if attempt < 3 => continue,
                other => return Ok(other?),
            }
        }
    }

    pub async fn alert(&self, id: i64) -> Result<Alert, EngineError> {
        self.store
            .get_alert(id)
            .await?
            .ok_or_else(|| EngineError::NotFound(format!("there is no alert {id}")))
    }

    pub async fn list_alerts(
        &self,
        filter: &AlertFilter,
        before: Option<i64>,
        limit: u32,
    ) -> Result<Page<Alert>, EngineError> {
        Ok(self.store.list_alerts(filter, before, limit).await?)
    }

    /// A person acknowledges or resolves an alert. Doing what is already done changes nothing.
    pub async fn act_on_alert(
        &self,
        who: &Principal,
        id: i64,
        action: AlertAction,
    ) -> Result<Alert, EngineError> {
        let now = self.clock.now();
        let actor = who.actor.0.clone();
        let audit = self.audit(who, &format!("alert.{action}"), format!("alert/{id}"));
        self.store
            .ingest(Box::new(move |tx| {
                Box::pin(async move {
                    let alert = tx.alert(id).await?.ok_or(StoreError::NotFound)?;
                    let effect = match alert.act(action, &actor, now) {
                        Applied::Acknowledged(a) => {
                            tx.update_alert(&a).await?;
                            IngestEffect::Acknowledged
                        }
                        Applied::Resolved(a) => {
                            tx.update_alert(&a).await?;
                            note_resolution(tx, &a, &actor, now).await?;
                            IngestEffect::Resolved
                        }
                        _ => IngestEffect::Ignored,
                    };
                    if effect != IngestEffect::Ignored {
                        tx.audit(audit).await?;
                    }
                    Ok(vec![IngestOutcome {
                        dedup_key: String::new(),
                        effect,
                        alert: Some(id),
                        incident: None,
                    }])
                })
            }))
            .await
            .map_err(|e| match e {
                StoreError::NotFound => EngineError::NotFound(format!("there is no alert {id}")),
                other => other.into(),
            })?;
        self.alert(id).await
    }

    /// The ids of the alerts attached to each incident, and whether all of them are resolved.
    pub async fn alerts_of(
        &self,
        incidents: &[IncidentNumber],
    ) -> Result<HashMap<IncidentNumber, (Vec<i64>, bool)>, EngineError> {
        let mut out: HashMap<IncidentNumber, (Vec<i64>, bool)> = HashMap::new();
        for (n, id, status) in self.store.alerts_of_incidents(incidents).await? {
            let entry = out.entry(n).or_insert((vec![], true));
            entry.0.push(id);
            entry.1 &= status == AlertStatus::Resolved;
        }
        Ok(out)
    }

    // --- integrations -------------------------------------------------------------------

    fn issue_key(&self) -> Result<(IntegrationKey, SecretString), EngineError> {
        let key = new_key()?;
        let record = IntegrationKey {
            id: short_id("key")?,
            hash: hash_token(&key),
            hint: key_hint(&key),
            created_at: self.clock.now(),
            revoked_at: None,
        };
        Ok((record, SecretString::from(key)))
    }

    pub async fn create_integration(
        &self,
        who: &Principal,
        service: &Name,
        name: &str,
    ) -> Result<IssuedKey, EngineError> {
        let name = name.trim();
        if name.is_empty() || name.chars().count() > 100 {
            return Err(invalid("name", "must be 1 to 100 characters"));
        }
        if self.store.get_service(service).await?.is_none() {
            return Err(EngineError::NotFound(format!(
                "there is no service named `{service}`; add it under services: in firebreak.yaml, or create it with POST /api/v1/services"
            )));
        }
        let (key, secret) = self.issue_key()?;
        let key_id = key.id.clone();
        let record = IntegrationRecord {
            id: short_id("int")?,
            service: service.clone(),
            name: name.to_string(),
            from_config: false,
            created_at: self.clock.now(),
            keys: vec![key],
        };
        let audit = self.audit(
            who,
            "integration.create",
            format!("integration/{}", record.id),
        );
        let integration = self.store.create_integration(record, audit).await?;
        self.refresh_alert_index().await?;
        Ok(IssuedKey {
            integration,
            key_id,
            key: secret,
        })
    }

    pub async fn list_integrations(&self) -> Result<Vec<IntegrationRecord>, EngineError> {
        Ok(self.store.list_integrations().await?)
    }

    /// Adds a new key to an integration. The old keys keep working until revoked.
    pub async fn rotate_integration(
        &self,
        who: &Principal,
        id: &str,
    ) -> Result<IssuedKey, EngineError> {
        let (key, secret) = self.issue_key()?;
        let key_id = key.id.clone();
        let audit = self.audit(who, "integration.rotate", format!("integration/{id}"));
        let integration = self
            .store
            .add_integration_key(id, key, audit)
            .await
            .map_err(|e| not_found(e, || format!("there is no integration {id}")))?;
        self.refresh_alert_index().await?;
        Ok(IssuedKey {
            integration,
            key_id,
            key: secret,
        })
    }

    pub async fn revoke_integration_key(
        &self,
        who: &Principal,
        id: &str,
        key_id: &str,
    ) -> Result<IntegrationRecord, EngineError> {
        let audit = self.audit(
            who,
            "integration.revoke_key",
            format!("integration/{id}/keys/{key_id}"),
        );
        let record = self
            .store
            .revoke_integration_key(id, key_id, self.clock.now(), audit)
            .await
            .map_err(|e| {
                not_found(e, || {
                    format!("integration {id} has no key {key_id} that is still live")
                })
            })?;
        self.refresh_alert_index().await?;
        Ok(record)
    }

    /// Stores the config file's integrations and their keys.
    pub async fn sync_integrations(&self, config: &Config) -> Result<(), EngineError> {
        let now = self.clock.now();
        let mut wanted = vec![];
        for service in &config.services {
            for spec in &service.integrations {
                wanted.push(IntegrationRecord {
                    id: short_id("int")?,
                    service: service.name.clone(),
                    name: spec.name.clone(),
                    from_config: true,
                    created_at: now,
                    keys: vec![IntegrationKey {
                        id: short_id("key")?,
                        hash: hash_token(&spec.key),
                        hint: key_hint(&spec.key),
                        created_at: now,
                        revoked_at: None,
                    }],
                });
            }
        }
        if !wanted.is_empty() {
            self.store.sync_integrations(wanted).await?;
        }
        Ok(())
    }

    // --- silences, maintenance windows, routes ----------------------------------------------

    pub async fn create_silence(
        &self,
        who: &Principal,
        matchers: &[String],
        starts_at: Option<Timestamp>,
        ends_at: Timestamp,
        comment: &str,
    ) -> Result<Silence, EngineError> {
        let now = self.clock.now();
        let matchers = parse_matchers(matchers)?;
        if matchers.is_empty() {
            return Err(invalid(
                "matchers",
                "give at least one matcher, like alertname=\"DiskFull\"; a silence of everything is not allowed",
            ));
        }
        let comment = check_comment(comment)?;
        let starts_at = starts_at.unwrap_or(now);
        if ends_at <= starts_at.max(now) {
            return Err(invalid(
                "ends_at",
                "must be after the start and in the future",
            ));
        }
        let silence = Silence {
            id: 0,
            matchers,
            starts_at,
            ends_at,
            comment,
            created_by: who.actor.0.clone(),
            created_at: now,
        };
        let audit = self.audit(who, "silence.create", "silence");
        let silence = self.store.create_silence(silence, audit).await?;
        self.refresh_alert_index().await?;
        Ok(silence)
    }

    pub async fn expire_silence(&self, who: &Principal, id: i64) -> Result<Silence, EngineError> {
        let audit = self.audit(who, "silence.expire", format!("silence/{id}"));
        let silence = self
            .store
            .expire_silence(id, self.clock.now(), audit)
            .await
            .map_err(|e| not_found(e, || format!("there is no active silence {id}")))?;
        self.refresh_alert_index().await?;
        Ok(silence)
    }

    /// Silences that have not ended, and those that ended in the last day.
    pub async fn list_silences(&self, include_expired: bool) -> Result<Vec<Silence>, EngineError> {
        let now = self.clock.now();
        let after = if include_expired {
            now - SignedDuration::from_hours(24)
        } else {
            now
        };
        Ok(self.store.list_silences(after).await?)
    }

    pub async fn create_maintenance(
        &self,
        who: &Principal,
        service: &Name,
        starts_at: Timestamp,
        ends_at: Timestamp,
        comment: &str,
    ) -> Result<MaintenanceWindow, EngineError> {
        let now = self.clock.now();
        if self.store.get_service(service).await?.is_none() {
            return Err(EngineError::NotFound(format!(
                "there is no service named `{service}`"
            )));
        }
        if ends_at <= starts_at || ends_at <= now {
            return Err(invalid(
                "ends_at",
                "must be after starts_at and in the future",
            ));
        }
        let window = MaintenanceWindow {
            id: 0,
            service: service.clone(),
            starts_at,
            ends_at,
            comment: check_comment(comment)?,
            created_by: who.actor.0.clone(),
            created_at: now,
        };
        let audit = self.audit(who, "maintenance.create", "maintenance");
        let window = self.store.create_maintenance(window, audit).await?;
        self.refresh_alert_index().await?;
        Ok(window)
    }

    pub async fn end_maintenance(
        &self,
        who: &Principal,
        id: i64,
    ) -> Result<MaintenanceWindow, EngineError> {
        let audit = self.audit(who, "maintenance.end", format!("maintenance/{id}"));
        let window = self
            .store
            .end_maintenance(id, self.clock.now(), audit)
            .await
            .map_err(|e| {
                not_found(e, || {
                    format!("there is no current or future maintenance window {id}")
                })
            })?;
        self.refresh_alert_index().await?;
        Ok(window)
    }

    pub async fn list_maintenance(&self) -> Result<Vec<MaintenanceWindow>, EngineError> {
        Ok(self.store.list_maintenance(self.clock.now()).await?)
    }

    pub async fn create_route(
        &self,
        who: &Principal,
        route: Route,
    ) -> Result<RouteRecord, EngineError> {
        if route.drop
            && (route.service.is_some() || route.severity.is_some() || route.urgency.is_some())
        {
            return Err(invalid(
                "drop",
                "a rule that drops alerts cannot also set service, severity or urgency",
            ));
        }
        if let Some(service) = &route.service
            && self.store.get_service(service).await?.is_none()
        {
            return Err(invalid(
                "service",
                format!("there is no service named `{service}`"),
            ));
        }
        let record = RouteRecord {
            id: 0,
            route,
            created_by: who.actor.0.clone(),
            created_at: self.clock.now(),
        };
        let audit = self.audit(who, "route.create", "route");
        let record = self.store.create_route(record, audit).await?;
        self.refresh_alert_index().await?;
        Ok(record)
    }

    pub async fn delete_route(&self, who: &Principal, id: i64) -> Result<(), EngineError> {
        let audit = self.audit(who, "route.delete", format!("route/{id}"));
        self.store
            .delete_route(id, audit)
            .await
            .map_err(|e| not_found(e, || format!("there is no routing rule {id}")))?;
        self.refresh_alert_index().await
    }

    /// Config rules first (id `None`), then the API's, in the order they are tried.
    pub async fn list_routes(&self) -> Result<Vec<(Option<RouteRecord>, Route)>, EngineError> {
        let mut out: Vec<(Option<RouteRecord>, Route)> = self
            .config
            .alerting
            .routes
            .iter()
            .map(|r| (None, r.clone()))
            .collect();
        for r in self.store.list_routes().await? {
            let route = r.route.clone();
            out.push((Some(r), route));
        }
        Ok(out)
    }
}

/// Parses matcher strings, naming the one that is wrong.
pub fn parse_matchers(written: &[String]) -> Result<Vec<Matcher>, EngineError> {
    written
        .iter()
        .enumerate()
        .map(|(i, m)| {
            Matcher::parse(m).map_err(|e| invalid(&format!("matchers[{i}]"), e.to_string()))
        })
        .collect()
}

fn check_comment(comment: &str) -> Result<String, EngineError> {
    let c = comment.trim();
    if c.is_empty() {
        return Err(invalid(
            "comment",
            "say why, so the next person on call knows",
        ));
    }
    if c.chars().count() > 1000 {
        return Err(invalid("comment", "must be at most 1000 characters"));
    }
    Ok(c.to_string())
}

fn not_found(e: StoreError, message: impl FnOnce() -> String) -> EngineError {
    match e {
        StoreError::NotFound => EngineError::NotFound(message()),
        other => other.into(),
    }
}

fn uuid_bytes() -> Result<[u8; 16], EngineError> {
    let mut b = [0u8; 16];
    getrandom::fill(&mut b).map_err(|e| EngineError::Store(StoreError::backend(e)))?;
    Ok(b)
}

fn sender_kind(planned: &[Planned]) -> &'static str {
    planned
        .first()
        .map(|p| p.event.format.as_str())
        .unwrap_or("alert")
}

/// Records on the incident that one of its alerts resolved, and whether all now are.
async fn note_resolution(
    tx: &mut (dyn AlertTx + '_),
    alert: &Alert,
    actor: &str,
    now: Timestamp,
) -> Result<(), StoreError> {
    let Some(number) = alert.incident else {
        return Ok(());
    };
    let open = tx.unresolved_alerts_of(number).await?;
    tx.append_timeline(
        number,
        vec![TimelineDraft {
            at: now,
            actor: actor.to_string(),
            event: TimelineEvent::AlertResolved {
                alert: alert.id,
                summary: alert.summary.clone(),
                all_resolved: open == 0,
            },
        }],
    )
    .await
}

fn attached(alert: &Alert, actor: &str, now: Timestamp) -> TimelineDraft {
    TimelineDraft {
        at: now,
        actor: actor.to_string(),
        event: TimelineEvent::AlertAttached {
            alert: alert.id,
            summary: alert.summary.clone(),
            severity: alert.severity.to_string(),
            service: alert.service.to_string(),
        },
    }
}

/// The open incident of each service, as far as this transaction has seen: a request's alerts
/// mostly share a service, so it is looked up once per request.
type OpenIncidents = HashMap<Name, Option<rules::OpenIncident>>;

fn outcome_of(item: &Planned, effect: IngestEffect, alert: &Alert) -> IngestOutcome {
    IngestOutcome {
        dedup_key: item.dedup_key.clone(),
        effect,
        alert: Some(alert.id),
        incident: alert.incident,
    }
}

/// One event inside the ingestion transaction. Most triggers open a new alert, so a trigger
/// first tries to store one; only when the dedup index says an open alert already holds the key
/// is that alert read and updated.
async fn ingest_one(
    tx: &mut (dyn AlertTx + '_),
    item: &Planned,
    config: &Config,
    actor: &str,
    now: Timestamp,
    incidents: &mut OpenIncidents,
) -> Result<IngestOutcome, StoreError> {
    if item.event.action == AlertAction::Trigger
        && let Applied::Opened(alert) =
            Alert::apply(None, &item.event, &item.dedup_key, &item.to, actor, now)
    {
        match open_new(tx, item, alert, config, actor, now, incidents).await {
            Err(StoreError::Conflict(_)) => {} // a repeat: handled below
            other => return other,
        }
    }
    let open = tx.open_alert(&item.to.integration, &item.dedup_key).await?;
    match Alert::apply(open, &item.event, &item.dedup_key, &item.to, actor, now) {
        Applied::Opened(alert) => open_new(tx, item, alert, config, actor, now, incidents).await,
        Applied::Repeated(alert) => {
            tx.update_alert(&alert).await?;
            Ok(outcome_of(item, IngestEffect::Repeated, &alert))
        }
        Applied::Acknowledged(alert) => {
            tx.update_alert(&alert).await?;
            Ok(outcome_of(item, IngestEffect::Acknowledged, &alert))
        }
        Applied::Resolved(alert) => {
            tx.update_alert(&alert).await?;
            note_resolution(tx, &alert, actor, now).await?;
            Ok(outcome_of(item, IngestEffect::Resolved, &alert))
        }
        Applied::Ignored => Ok(IngestOutcome {
            dedup_key: item.dedup_key.clone(),
            effect: IngestEffect::Ignored,
            alert: None,
            incident: None,
        }),
    }
}

/// Stores a new alert and groups it. The alert is inserted before anything else is written, so
/// a `Conflict` from the dedup index leaves nothing behind.
async fn open_new(
    tx: &mut (dyn AlertTx + '_),
    item: &Planned,
    mut alert: Alert,
    config: &Config,
    actor: &str,
    now: Timestamp,
    incidents: &mut OpenIncidents,
) -> Result<IngestOutcome, StoreError> {
    if alert.status == AlertStatus::Suppressed {
        alert.id = tx.insert_alert(&alert).await?;
        return Ok(outcome_of(item, IngestEffect::Suppressed, &alert));
    }
    let open_incident = match incidents.get(&alert.service) {
        Some(known) => known.clone(),
        None => {
            let found = tx.open_incident_for(&alert.service).await?;
            incidents.insert(alert.service.clone(), found.clone());
            found
        }
    };
    match rules::group(&alert, open_incident.as_ref(), &item.grouping, now) {
        GroupDecision::Attach(number) => {
            alert.incident = Some(number);
            alert.id = tx.insert_alert(&alert).await?;
            tx.append_timeline(number, vec![attached(&alert, actor, now)])
                .await?;
            incidents.insert(
                alert.service.clone(),
                Some(rules::OpenIncident {
                    number,
                    last_activity: now,
                }),
            );
            Ok(outcome_of(item, IngestEffect::Attached, &alert))
        }
        GroupDecision::Declare(new) => {
            alert.id = tx.insert_alert(&alert).await?;
            let system = Actor::system();
            let (incident, events) = match Incident::declare(new, config, &system, now) {
                Ok(declared) => declared,
                Err(e) => {
                    tracing::error!(error = %e, alert = alert.id, "a grouping rule could not declare an incident");
                    return Ok(outcome_of(item, IngestEffect::Opened, &alert));
                }
            };
            let mut drafts: Vec<TimelineDraft> = events
                .into_iter()
                .map(|event| TimelineDraft {
                    at: now,
                    actor: system.0.clone(),
                    event,
                })
                .collect();
            drafts.push(attached(&alert, &system.0, now));
            let audit = AuditDraft {
                actor: system.0.clone(),
                action: "incident.declare".into(),
                target: format!("alert/{}", alert.id),
                at: now,
                source: Some(actor.to_string()),
            };
            let incident = tx.create_incident(incident, drafts, audit).await?;
            alert.incident = Some(incident.number);
            tx.update_alert(&alert).await?;
            incidents.insert(
                alert.service.clone(),
                Some(rules::OpenIncident {
                    number: incident.number,
                    last_activity: now,
                }),
            );
            Ok(outcome_of(item, IngestEffect::Declared, &alert))
        }
        GroupDecision::Leave => {
            alert.id = tx.insert_alert(&alert).await?;
            Ok(outcome_of(item, IngestEffect::Opened, &alert))
        }
    }
}
