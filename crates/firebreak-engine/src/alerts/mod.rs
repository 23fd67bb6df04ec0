//! Alert ingestion and the things around it: integration keys, routing rules, silences,
//! maintenance windows and the per-key rate limit. [`ingest`] is the pipeline; [`admin`]
//! manages what it reads.
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

use firebreak_domain::rules::{MaintenanceWindow, Route, Silence};
use firebreak_domain::{Alert, Config, Drill, Name};
use firebreak_store::{AlertFilter, IntegrationRecord, Page};
use governor::clock::{Clock as _, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use secrecy::SecretString;

mod admin;
mod coalesce;
mod ingest;

pub use admin::parse_matchers;
pub use coalesce::IngestQueue;
pub use ingest::RequestNote;
pub(crate) use ingest::{Planned, store_events};

use crate::tokens::hash_token;
use crate::{EngineError, Firebreak};

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
pub(crate) fn key_hint(key: &str) -> String {
    let skip = key.chars().count().saturating_sub(4);
    key.chars().skip(skip).collect()
}

/// A new random integration key.
pub fn new_key() -> Result<String, EngineError> {
    let mut out = String::with_capacity(KEY_LEN);
    while out.len() < KEY_LEN {
        let buf = crate::random_bytes::<64>()?;
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

/// The integration a request authenticated as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sender {
    pub integration: String,
    pub name: String,
    pub service: Name,
    /// Whether this request is a rehearsal (`?drill=true`, `?gameday=ID`).
    pub drill: Drill,
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
                drill: Drill::Real,
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
            windows: {
                let mut windows = self.store.list_maintenance(now).await?;
                windows.extend(self.scheduled_windows(now).await?);
                windows
            },
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
        self.check_rate_of(&sender.integration)
    }

    /// Counts one request against the rate limit of `key` (an integration, a heartbeat).
    pub(crate) fn check_rate_of(&self, key: &str) -> Result<(), Throttled> {
        self.alerts
            .limiter
            .check_key(&key.to_string())
            .map_err(|not_until| Throttled {
                retry_after: not_until
                    .wait_time_from(DefaultClock::default().now())
                    .max(Duration::from_secs(1)),
            })
    }

    /// Routes, suppresses and stores `events` from `sender` in one transaction. Returns one
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

    /// A request a sender made through `sender`'s integration, by the id it was answered with.
    pub async fn sender_request(
        &self,
        sender: &Sender,
        id: &str,
    ) -> Result<Option<firebreak_store::IngestRequest>, EngineError> {
        Ok(self
            .store
            .get_request(id)
            .await?
            .filter(|r| r.integration == sender.integration))
    }

    /// The alert a sender names: by its id, or by its dedup key (the newest alert of that key
    /// on the sender's integration). Only alerts of the sender's own integration are found.
    pub async fn sender_alert(
        &self,
        sender: &Sender,
        id: Option<i64>,
        dedup_key: Option<&str>,
    ) -> Result<Option<Alert>, EngineError> {
        if let Some(id) = id {
            return Ok(self
                .store
                .get_alert(id)
                .await?
                .filter(|a| a.integration == sender.integration));
        }
        let Some(key) = dedup_key else {
            return Ok(None);
        };
        let filter = AlertFilter {
            integration: Some(sender.integration.clone()),
            dedup_key: Some(key.to_string()),
            ..Default::default()
        };
        Ok(self.store.list_alerts(&filter, None, 1).await?.items.pop())
    }
}
