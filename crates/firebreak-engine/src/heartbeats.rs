//! Heartbeats: a dead man's switch for cron jobs, backups and Alertmanager's `Watchdog`.
//!
//! A heartbeat has a secret key (shown once; only its SHA-256 is stored, as integration keys
//! are), a period and a grace. A ping (`GET` or `POST /api/v1/heartbeats/{key}`) marks it up;
//! a failure ping (`/fail`) takes it down at once; the watcher ([`Firebreak::check_heartbeats`],
//! run by the runtime) takes down every heartbeat whose last ping is older than its period plus
//! grace. A new heartbeat is never late before its first ping.
//!
//! Going down triggers the heartbeat's alert, and coming back up resolves it, through the same
//! ingest pipeline every sender uses (routing rules, silences, maintenance windows, grouping
//! and paging), with one dedup key per heartbeat. The alert is written in the unit of work that
//! changes the heartbeat's state, under the heartbeat's lock, looked at again under it: a
//! restart, or two instances watching one database, open it once per miss.

use std::collections::BTreeMap;
use std::sync::Arc;

use firebreak_domain::heartbeat::{self, Beat, Heartbeat, HeartbeatState, span_text};
use firebreak_domain::{AlertAction, AlertEvent, AlertFormat, AlertSeverity, Name};
use firebreak_store::feed::Topic;
use firebreak_store::{AuditDraft, Change, IngestOutcome, StoreError, Tx};
use jiff::Timestamp;
use secrecy::SecretString;
use serde_json::json;

use crate::alerts::{Planned, Sender, is_key_shaped, key_hint, new_key, store_events};
use crate::tokens::hash_token;
use crate::{EngineError, Firebreak, Principal, invalid};

/// The integration every heartbeat's alert is stored under.
pub const INTEGRATION: &str = "heartbeats";
/// How many overdue heartbeats one round of the watcher takes down at most.
const ROUND: u32 = 100;

/// What a new heartbeat needs, as people write it.
#[derive(Debug, Clone)]
pub struct NewHeartbeat {
    pub name: String,
    pub service: String,
    /// `5m`, `1h`, `1d`, ...: at least a minute.
    pub period: String,
    /// Defaults to none.
    pub grace: Option<String>,
}

/// A heartbeat just made, with its key: shown once, never again.
pub struct IssuedHeartbeat {
    pub heartbeat: Heartbeat,
    pub key: SecretString,
}

/// What a job reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Signal {
    /// It ran: the heartbeat is up.
    Ping,
    /// It failed, perhaps saying why: the heartbeat is down at once.
    Fail(Option<String>),
}

/// The dedup key of a heartbeat's alert.
pub fn dedup_key(id: i64) -> String {
    format!("heartbeat/{id}")
}

/// A heartbeat's alert events, routed and ready for a unit of work: the trigger for going
/// down and the resolve for coming back up (`None` when a routing rule dropped it).
struct AlertPlan {
    planned: Vec<Planned>,
    trigger: Option<usize>,
    resolve: Option<usize>,
}

impl AlertPlan {
    /// Stores what `beat` asks of the alert, in `tx`.
    async fn store(
        &self,
        tx: &mut (dyn Tx + '_),
        beat: &Beat,
    ) -> Result<Vec<IngestOutcome>, StoreError> {
        let which = match beat {
            Beat::Quiet(_) => None,
            Beat::Down(_) => self.trigger,
            Beat::Recovered(_) => self.resolve,
        };
        match which {
            Some(i) => store_events(tx, &self.planned[i..i + 1]).await,
            None => Ok(Vec::new()),
        }
    }
}

fn beat_heartbeat(beat: Beat) -> Heartbeat {
    match beat {
        Beat::Quiet(h) | Beat::Down(h) | Beat::Recovered(h) => h,
    }
}

/// The alert event for `h` (as it is once down, for a trigger).
fn alert_event(h: &Heartbeat, action: AlertAction, now: Timestamp) -> AlertEvent {
    let failed = h
        .reason
        .as_deref()
        .is_some_and(|r| r != "no ping within the period and grace");
    let summary = match (&h.reason, failed) {
        (Some(reason), true) => format!("Heartbeat {} failed: {reason}", h.name),
        _ => match h.last_ping {
            Some(last) => format!(
                "Heartbeat {} missed: no ping since {last} (period {}, grace {})",
                h.name,
                span_text(h.period),
                span_text(h.grace)
            ),
            None => format!("Heartbeat {} missed", h.name),
        },
    };
    let summary: String = summary
        .chars()
        .take(firebreak_domain::alert::SUMMARY_MAX)
        .collect();
    let details = json!({
        "heartbeat": h.name.as_str(),
        "heartbeat_id": h.id,
        "service": h.service.as_str(),
        "period": span_text(h.period),
        "grace": span_text(h.grace),
        "last_ping": h.last_ping.map(|t| t.to_string()),
        "down_since": h.down_since.map(|t| t.to_string()),
        "reason": h.reason,
    })
    .to_string();
    let labels = BTreeMap::from([
        (
            "alertname".to_string(),
            if failed {
                "HeartbeatFailed"
            } else {
                "HeartbeatMissed"
            }
            .to_string(),
        ),
        ("heartbeat".to_string(), h.name.to_string()),
        ("service".to_string(), h.service.to_string()),
    ]);
    AlertEvent {
        format: AlertFormat::Heartbeat,
        action,
        dedup_key: Some(dedup_key(h.id)),
        severity: AlertSeverity::Critical,
        urgency: None,
        summary,
        source: format!("heartbeat {}", h.name),
        labels,
        details: details.clone(),
        links: Vec::new(),
        images: Vec::new(),
        starts_at: h.down_since,
        ends_at: (action == AlertAction::Resolve).then_some(now),
        raw: details,
    }
}

impl Firebreak {
    /// Makes a heartbeat. Its key is in the answer and nowhere else.
    pub async fn create_heartbeat(
        &self,
        who: &Principal,
        new: NewHeartbeat,
    ) -> Result<IssuedHeartbeat, EngineError> {
        let name = Name::parse(new.name.trim()).map_err(|e| invalid("name", e.to_string()))?;
        let service =
            Name::parse(new.service.trim()).map_err(|e| invalid("service", e.to_string()))?;
        let period = heartbeat::parse_span("period", &new.period)
            .map_err(|e| invalid(e.field, e.message))?;
        let grace = match &new.grace {
            Some(g) => {
                heartbeat::parse_span("grace", g).map_err(|e| invalid(e.field, e.message))?
            }
            None => jiff::SignedDuration::ZERO,
        };
        heartbeat::check_spans(period, grace).map_err(|e| invalid(e.field, e.message))?;
        if self.store.get_service(&service).await?.is_none() {
            return Err(invalid(
                "service",
                format!("there is no service named `{service}`"),
            ));
        }
        let key = new_key()?;
        let now = self.clock.now();
        let h = Heartbeat::new(
            name,
            service,
            period,
            grace,
            key_hint(&key),
            who.actor.0.clone(),
            now,
        )
        .map_err(|e| invalid(e.field, e.message))?;
        let hash = hash_token(&key);
        let audit = self.audit(who, "heartbeat.create", "heartbeat");
        let created = self
            .write(1, || {
                let (h, hash, audit) = (h.clone(), hash.clone(), audit.clone());
                move |tx| {
                    Box::pin(async move {
                        let created = tx.create_heartbeat(&h, &hash).await?;
                        tx.audit(audit.naming(created.id)).await?;
                        Ok(created)
                    })
                }
            })
            .await?;
        Ok(IssuedHeartbeat {
            heartbeat: created,
            key: SecretString::from(key),
        })
    }

    /// Every heartbeat, by name.
    pub async fn list_heartbeats(&self) -> Result<Vec<Heartbeat>, EngineError> {
        Ok(self.store.list_heartbeats().await?)
    }

    /// The heartbeat a path names: by its key (what its ping URL holds), or by its id. A key is
    /// never repeated back, even to whoever sent it.
    pub async fn find_heartbeat(&self, reference: &str) -> Result<Heartbeat, EngineError> {
        if is_key_shaped(reference) {
            return self
                .store
                .heartbeat_by_key(&hash_token(reference))
                .await?
                .ok_or_else(|| EngineError::NotFound("no heartbeat has this key".into()));
        }
        let found = match reference.parse::<i64>() {
            Ok(id) => self.store.get_heartbeat(id).await?,
            Err(_) => None,
        };
        found.ok_or_else(|| EngineError::NotFound(format!("there is no heartbeat {reference}")))
    }

    /// Deletes a heartbeat. If it was down, its alert is resolved in the same unit of work.
    pub async fn delete_heartbeat(&self, who: &Principal, id: i64) -> Result<(), EngineError> {
        let missing = || EngineError::NotFound(format!("there is no heartbeat {id}"));
        let h = self.store.get_heartbeat(id).await?.ok_or_else(missing)?;
        let now = self.clock.now();
        let plan = Arc::new(self.plan_alert(&h, now).await?);
        let audit: AuditDraft = self.audit(who, "heartbeat.delete", format!("heartbeat/{id}"));
        self.write(2, || {
            let (plan, audit) = (plan.clone(), audit.clone());
            move |tx| {
                Box::pin(async move {
                    let locked = tx.lock_heartbeat(id).await?.ok_or(StoreError::NotFound)?;
                    if locked.state == HeartbeatState::Down {
                        plan.store(tx, &Beat::Recovered(locked)).await?;
                    }
                    tx.delete_heartbeat(id).await?;
                    tx.audit(audit).await
                })
            }
        })
        .await
        .map_err(|e| match e {
            StoreError::NotFound => missing(),
            other => other.into(),
        })
    }

    /// A ping or failure from the job that holds `key`. An unknown key changes nothing.
    pub async fn heartbeat_signal(
        &self,
        key: &str,
        signal: Signal,
    ) -> Result<Heartbeat, EngineError> {
        let unknown = || EngineError::NotFound("no heartbeat has this key".into());
        if !is_key_shaped(key) {
            return Err(unknown());
        }
        let h = self
            .store
            .heartbeat_by_key(&hash_token(key))
            .await?
            .ok_or_else(unknown)?;
        self.check_rate_of(&format!("heartbeat/{}", h.id))
            .map_err(|t| EngineError::Throttled {
                message: "pings for this heartbeat are arriving too quickly".into(),
                retry_after: t.retry_after.as_secs().max(1),
            })?;
        let now = self.clock.now();
        let apply = move |h: &Heartbeat| match &signal {
            Signal::Ping => h.ping(now),
            Signal::Fail(reason) => h.fail(now, reason.clone()),
        };
        // The alert event is planned from the heartbeat as read; the unit of work decides
        // under the lock whether it is stored.
        let plan = Arc::new(self.plan_alert(&beat_heartbeat(apply(&h)), now).await?);
        let apply = Arc::new(apply);
        let id = h.id;
        let (h, outcomes) = self
            .write(2, || {
                let (plan, apply) = (plan.clone(), apply.clone());
                move |tx| {
                    Box::pin(async move {
                        let locked = tx.lock_heartbeat(id).await?.ok_or(StoreError::NotFound)?;
                        let beat = apply(&locked);
                        let outcomes = plan.store(tx, &beat).await?;
                        let h = beat_heartbeat(beat);
                        tx.save_heartbeat(&h).await?;
                        if h.state != locked.state {
                            tx.publish(Change::Directory(Topic::Heartbeats));
                        }
                        Ok((h, outcomes))
                    })
                }
            })
            .await
            .map_err(|e| match e {
                StoreError::NotFound => unknown(),
                other => other.into(),
            })?;
        if !outcomes.is_empty() {
            crate::metrics::ingested("heartbeat", 1, &Ok::<_, EngineError>(outcomes));
        }
        Ok(h)
    }

    /// Takes down every heartbeat whose last ping is older than its period plus grace, each in
    /// its own unit of work with its alert. Returns how many went down.
    pub async fn check_heartbeats(&self) -> Result<usize, EngineError> {
        let now = self.clock.now();
        let mut downs = 0;
        let mut failed = None;
        for h in self.store.overdue_heartbeats(now, ROUND).await? {
            match self.take_down(&h, now).await {
                Ok(true) => downs += 1,
                Ok(false) => {}
                Err(e) => {
                    tracing::warn!(error = %e, heartbeat = %h.name, "could not take a missed heartbeat down");
                    failed = Some(e);
                }
            }
        }
        match failed {
            Some(e) if downs == 0 => Err(e),
            _ => Ok(downs),
        }
    }

    /// Takes one overdue heartbeat down with its alert, unless, under its lock, it is no longer
    /// overdue (pinged meanwhile, or already taken down by another instance).
    async fn take_down(&self, h: &Heartbeat, now: Timestamp) -> Result<bool, EngineError> {
        let plan = Arc::new(self.plan_alert(&beat_heartbeat(h.check(now)), now).await?);
        let id = h.id;
        let outcomes = self
            .write(2, || {
                let plan = plan.clone();
                move |tx| {
                    Box::pin(async move {
                        let Some(locked) = tx.lock_heartbeat(id).await? else {
                            return Ok(None);
                        };
                        let beat = locked.check(now);
                        let Beat::Down(down) = &beat else {
                            return Ok(None);
                        };
                        tx.save_heartbeat(down).await?;
                        tx.publish(Change::Directory(Topic::Heartbeats));
                        plan.store(tx, &beat).await.map(Some)
                    })
                }
            })
            .await?;
        let Some(outcomes) = outcomes else {
            return Ok(false);
        };
        tracing::info!(heartbeat = %h.name, "a heartbeat missed its period and grace");
        if !outcomes.is_empty() {
            crate::metrics::ingested("heartbeat", 1, &Ok::<_, EngineError>(outcomes));
        }
        Ok(true)
    }

    /// The soonest instant a heartbeat that is up becomes overdue.
    pub async fn next_heartbeat_due(&self) -> Result<Option<Timestamp>, EngineError> {
        Ok(self.store.next_heartbeat_due().await?)
    }

    /// Routes the trigger and the resolve of `h`'s alert, as the ingest pipeline does for any
    /// sender.
    async fn plan_alert(&self, h: &Heartbeat, now: Timestamp) -> Result<AlertPlan, EngineError> {
        let sender = Sender {
            integration: INTEGRATION.to_string(),
            name: h.name.to_string(),
            service: h.service.clone(),
            drill: firebreak_domain::Drill::Real,
        };
        let events = vec![
            alert_event(h, AlertAction::Trigger, now),
            alert_event(h, AlertAction::Resolve, now),
        ];
        let (outcomes, planned) = self.plan(&sender, events, now).await?;
        let mut next = 0;
        let mut slots = outcomes.iter().map(|dropped| {
            dropped.is_none().then(|| {
                next += 1;
                next - 1
            })
        });
        let trigger = slots.next().flatten();
        let resolve = slots.next().flatten();
        Ok(AlertPlan {
            planned,
            trigger,
            resolve,
        })
    }
}
