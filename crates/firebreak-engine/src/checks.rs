//! Uptime checks: Firebreak asks a site or a port whether it answers, every interval, and
//! notices an outage no monitor reported.
//!
//! Admins make checks ([`Firebreak::create_check`]); every target passes the SSRF guard when the
//! check is made (its host resolved and judged; `checks.allow` and `outbound.allow` open
//! internal networks) and again on every run, after DNS, so a name that later points inside
//! gives a failed run, not a request.
//!
//! The runner ([`Firebreak::run_due_checks`], driven by the runtime at the soonest due time by
//! the injected clock) claims due checks under a lease, so each runs on one instance at a time,
//! probes up to [`CONCURRENCY`] at once, and records each run in one unit of work: the result,
//! its day's count, the check's new state and, when the state turns, its alert. A check goes
//! down after `failures_before_alert` failures in a row, which triggers its alert through the
//! same ingest pipeline every sender uses (routing, silences, maintenance, grouping, paging),
//! with one dedup key per check (`check/{id}`); the first success resolves it. An HTTPS
//! certificate that expires within `tls.warn_before` opens a second, low-urgency alert
//! (`check/{id}/tls`) that resolves once the certificate is renewed.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use firebreak_domain::check::{
    self, AlertMove, Check, CheckKind, CheckResult, CheckSpec, DayUptime, Expect, HISTORY, Method,
    Observation, Step, TlsSettings,
};
use firebreak_domain::heartbeat::{parse_span, span_text};
use firebreak_domain::{AlertAction, AlertEvent, AlertFormat, AlertSeverity, Name, Urgency};
use firebreak_outbound::probe::{HttpProbe, Prober, read_ca_file};
use firebreak_store::feed::Topic;
use firebreak_store::{IngestOutcome, Lease, StoreError, transact};
use jiff::{SignedDuration, Timestamp};
use serde_json::json;

use crate::alerts::{Planned, Sender, store_events};
use crate::{EngineError, Firebreak, Principal, invalid};

/// The integration every check's alert is stored under.
pub const INTEGRATION: &str = "checks";
/// How many checks are probed at once.
pub const CONCURRENCY: usize = 64;
/// How many due checks one round claims at most.
pub const ROUND: u32 = 256;
/// How long a claim holds a check: longer than the longest timeout, so a live runner never
/// loses a check it is probing, and short enough that a dead runner's checks run again soon.
const LEASE: SignedDuration = SignedDuration::from_secs(120);
/// Results read at most at once.
pub const RESULTS_MAX: u32 = 1_000;
/// Days of uptime read at most at once.
pub const DAYS_MAX: i64 = 400;
/// How many old results one clean-up deletes at most.
const PRUNE_BATCH: u32 = 10_000;

/// What a new check needs, as people write it.
#[derive(Debug, Clone, Default)]
pub struct NewCheck {
    pub name: String,
    pub service: String,
    /// `http` or `tcp`.
    pub kind: String,
    /// A URL for `http`, `host:port` for `tcp`.
    pub target: String,
    /// `GET` (the default) or `HEAD`.
    pub method: Option<String>,
    /// `30s`, `1m`, ...: at least 10s.
    pub interval: String,
    /// Shorter than the interval.
    pub timeout: String,
    /// Defaults to 3.
    pub failures_before_alert: Option<i64>,
    pub expect_status: Option<i64>,
    pub expect_body: Option<String>,
    pub expect_body_regex: Option<String>,
    pub expect_max_latency: Option<String>,
    pub tls_warn_before: Option<String>,
    pub tls_ca_file: Option<String>,
    /// The public id of a status page component.
    pub component: Option<String>,
}

/// The dedup key of a check's failure alert.
pub fn dedup_key(id: i64) -> String {
    format!("check/{id}")
}

/// The dedup key of a check's certificate expiry warning.
pub fn tls_dedup_key(id: i64) -> String {
    format!("check/{id}/tls")
}

/// A target as alerts and logs show it: a URL without its credentials or query, which may
/// hold tokens.
pub fn shown_target(spec: &CheckSpec) -> String {
    if spec.kind == CheckKind::Tcp {
        return spec.target.clone();
    }
    match url::Url::parse(&spec.target) {
        Ok(mut u) => {
            let _ = u.set_username("");
            let _ = u.set_password(None);
            let had_query = u.query().is_some();
            u.set_query(None);
            u.set_fragment(None);
            let mut text = u.to_string();
            if had_query {
                text.push_str("?…");
            }
            text
        }
        Err(_) => "(an invalid URL)".into(),
    }
}

fn span(field: &'static str, text: &str) -> Result<SignedDuration, EngineError> {
    parse_span(field, text).map_err(|e| invalid(field, e.message))
}

fn opt_span(
    field: &'static str,
    text: &Option<String>,
) -> Result<Option<SignedDuration>, EngineError> {
    text.as_deref().map(|t| span(field, t)).transpose()
}

/// One alert move of a run: the event, routed (or dropped by a rule).
struct AlertPlan {
    planned: Vec<Planned>,
}

impl Firebreak {
    /// The prober checks run through: the SSRF guard with `outbound.allow` and `checks.allow`.
    fn prober(&self) -> &Prober {
        &self.prober
    }

    /// Reads and checks a new check's settings, its target against the SSRF guard, its
    /// service, component and CA file.
    async fn check_spec(&self, new: &NewCheck) -> Result<CheckSpec, EngineError> {
        let name = Name::parse(new.name.trim()).map_err(|e| invalid("name", e.to_string()))?;
        let service =
            Name::parse(new.service.trim()).map_err(|e| invalid("service", e.to_string()))?;
        let kind = CheckKind::parse(new.kind.trim())
            .ok_or_else(|| invalid("kind", "must be http (a URL) or tcp (host:port)"))?;
        let method = match &new.method {
            Some(m) => Method::parse(m)
                .ok_or_else(|| invalid("method", "must be GET or HEAD: a check changes nothing"))?,
            None => Method::Get,
        };
        let failures = match new.failures_before_alert {
            Some(n) => u32::try_from(n).unwrap_or(0),
            None => check::DEFAULT_FAILURES,
        };
        let status = match new.expect_status {
            Some(s) => Some(
                u16::try_from(s)
                    .ok()
                    .filter(|s| (100..=599).contains(s))
                    .ok_or_else(|| {
                        invalid(
                            "expect.status",
                            "must be an HTTP status from 100 to 599, like 200",
                        )
                    })?,
            ),
            None => None,
        };
        let spec = CheckSpec {
            name,
            service,
            kind,
            target: new.target.clone(),
            method,
            interval: span("interval", &new.interval)?,
            timeout: span("timeout", &new.timeout)?,
            failures_before_alert: failures,
            expect: Expect {
                status,
                body: new.expect_body.clone(),
                body_regex: new.expect_body_regex.clone(),
                max_latency: opt_span("expect.max_latency", &new.expect_max_latency)?,
            },
            tls: TlsSettings {
                warn_before: opt_span("tls.warn_before", &new.tls_warn_before)?,
                ca_file: new.tls_ca_file.clone(),
            },
            component: new.component.clone(),
        };
        spec.validate().map_err(|e| invalid(e.field, e.message))?;
        if self.store.get_service(&spec.service).await?.is_none() {
            return Err(invalid(
                "service",
                format!(
                    "there is no service named `{}`; add it first (POST /api/v1/services)",
                    spec.service
                ),
            ));
        }
        if let Some(component) = &spec.component
            && !self
                .store
                .list_components()
                .await?
                .iter()
                .any(|c| &c.id == component)
        {
            return Err(invalid(
                "component",
                format!("there is no status page component `{component}`; use a component's id"),
            ));
        }
        if spec.kind == CheckKind::Http
            && let Some(ca) = self.config.checks.ca_file(&spec.tls)
        {
            read_ca_file(ca).map_err(|e| invalid("tls.ca_file", e))?;
        }
        self.guard_target(&spec).await?;
        Ok(spec)
    }

    /// Refuses a target the SSRF guard would refuse, saying how to allow it.
    async fn guard_target(&self, spec: &CheckSpec) -> Result<(), EngineError> {
        let host = match spec.kind {
            CheckKind::Http => {
                let url = self
                    .prober()
                    .policy()
                    .check_url(&spec.target)
                    .map_err(|e| refused(&e.to_string()))?;
                url.host_str()
                    .ok_or_else(|| invalid("target", "the URL has no host"))?
                    .to_string()
            }
            CheckKind::Tcp => check::split_host_port(&spec.target)
                .map(|(h, _)| h.to_string())
                .ok_or_else(|| invalid("target", "must be host:port"))?,
        };
        self.prober()
            .check_host(&host)
            .await
            .map_err(|e| refused(&e))
    }

    /// Makes a check; its first run is due at once.
    pub async fn create_check(&self, who: &Principal, new: NewCheck) -> Result<Check, EngineError> {
        let spec = self.check_spec(&new).await?;
        let now = self.clock.now();
        let c =
            Check::new(spec, who.actor.0.clone(), now).map_err(|e| invalid(e.field, e.message))?;
        let audit = self.audit(who, "check.create", "check");
        let created = self
            .write(1, || {
                let (c, audit) = (c.clone(), audit.clone());
                move |tx| {
                    Box::pin(async move {
                        let created = tx.create_check(&c).await?;
                        tx.audit(audit.naming(created.id)).await?;
                        Ok(created)
                    })
                }
            })
            .await?;
        Ok(created)
    }

    /// Every check, by name.
    pub async fn list_checks(&self) -> Result<Vec<Check>, EngineError> {
        Ok(self.store.list_checks().await?)
    }

    /// The check a path names: by its id or its name.
    pub async fn find_check(&self, reference: &str) -> Result<Check, EngineError> {
        let missing = || EngineError::NotFound(format!("there is no check {reference}"));
        if let Ok(id) = reference.parse::<i64>() {
            return self.store.get_check(id).await?.ok_or_else(missing);
        }
        self.store
            .list_checks()
            .await?
            .into_iter()
            .find(|c| c.spec.name.as_str() == reference)
            .ok_or_else(missing)
    }

    /// A check's results, newest first.
    pub async fn check_results(
        &self,
        id: i64,
        limit: u32,
    ) -> Result<Vec<CheckResult>, EngineError> {
        Ok(self
            .store
            .check_results(id, limit.clamp(1, RESULTS_MAX))
            .await?)
    }

    /// A check's uptime per UTC day over the last `days` days, oldest first; days with no run
    /// are left out.
    pub async fn check_uptime(&self, id: i64, days: i64) -> Result<Vec<DayUptime>, EngineError> {
        let days = days.clamp(1, DAYS_MAX);
        let today = check::day_of(self.clock.now());
        let first = today
            .checked_sub(jiff::Span::new().days(days - 1))
            .unwrap_or(today);
        Ok(self.store.check_days(id, first).await?)
    }

    /// Deletes a check with its history. Its open alerts are resolved in the same unit of work.
    pub async fn delete_check(&self, who: &Principal, id: i64) -> Result<(), EngineError> {
        let missing = || EngineError::NotFound(format!("there is no check {id}"));
        let c = self.store.get_check(id).await?.ok_or_else(missing)?;
        let now = self.clock.now();
        let mut resolves = Vec::new();
        if c.state == check::CheckState::Down {
            resolves.push(
                self.plan_move(&c, None, false, AlertMove::Resolve, now)
                    .await?,
            );
        }
        if c.tls_warning {
            resolves.push(
                self.plan_move(&c, None, true, AlertMove::Resolve, now)
                    .await?,
            );
        }
        let planned: Arc<Vec<Planned>> =
            Arc::new(resolves.into_iter().flat_map(|p| p.planned).collect());
        let audit = self.audit(who, "check.delete", format!("check/{id}"));
        self.write(2, || {
            let (planned, audit) = (planned.clone(), audit.clone());
            move |tx| {
                Box::pin(async move {
                    tx.lock_check(id).await?.ok_or(StoreError::NotFound)?;
                    store_events(tx, &planned).await?;
                    tx.delete_check(id).await?;
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

    /// The soonest instant a check can be claimed.
    pub async fn next_check_due(&self) -> Result<Option<Timestamp>, EngineError> {
        Ok(self.store.next_check_due().await?)
    }

    /// Claims up to `limit` checks due now as `owner`, under a lease: no other runner takes
    /// them until [`Firebreak::run_claimed_check`] records their run or the lease ends.
    pub async fn claim_due_checks(
        &self,
        owner: &str,
        limit: u32,
    ) -> Result<Vec<Check>, EngineError> {
        let now = self.clock.now();
        let lease = Lease {
            owner: owner.to_string(),
            until: now + LEASE,
        };
        Ok(transact(&*self.store, move |tx| {
            Box::pin(async move { tx.claim_checks(now, &lease, limit).await })
        })
        .await?)
    }

    /// Probes a check claimed by `owner` and records the run; a failure to record is logged
    /// (the lease ends and the check runs again).
    pub async fn run_claimed_check(&self, c: Check, owner: &str) {
        let name = c.spec.name.clone();
        if let Err(e) = self.run_check(c, owner).await {
            tracing::warn!(error = %e, check = %name, "could not record an uptime check run");
        }
    }

    /// Claims the checks due now (up to a round's worth) as `owner`, runs them, at most
    /// [`CONCURRENCY`] at once, waits for all of them and records each. Returns how many ran.
    /// The runtime's runner does not wait for a round: it claims more as runs finish.
    pub async fn run_due_checks(&self, owner: &str) -> Result<usize, EngineError> {
        let claimed = self.claim_due_checks(owner, ROUND).await?;
        let n = claimed.len();
        let permits = Arc::new(tokio::sync::Semaphore::new(CONCURRENCY));
        let mut runs = tokio::task::JoinSet::new();
        for c in claimed {
            let (app, owner, permits) = (self.clone(), owner.to_string(), permits.clone());
            runs.spawn(async move {
                let Ok(_permit) = permits.acquire_owned().await else {
                    return;
                };
                app.run_claimed_check(c, &owner).await;
            });
        }
        while runs.join_next().await.is_some() {}
        Ok(n)
    }

    /// Probes one claimed check and records the run, with its alerts when its state turns.
    async fn run_check(&self, c: Check, owner: &str) -> Result<(), EngineError> {
        let seen = self.probe(&c).await;
        let now = self.clock.now();
        let result = c.judge(&seen, now);
        crate::metrics::check_run(c.spec.kind.as_str(), result.ok, seen.latency.unsigned_abs());
        let warn = self.config.checks.warn_before(&c.spec.tls);
        let step = c.record(&result, seen.cert_not_after, warn, now);
        let planned = Arc::new(self.plan_step(&step, &result, now).await?);
        let (checked, result) = (step.check.clone(), result);
        let owner = owner.to_string();
        let outcomes = self
            .write(3, || {
                let (planned, checked, result, owner) = (
                    planned.clone(),
                    checked.clone(),
                    result.clone(),
                    owner.clone(),
                );
                move |tx| {
                    Box::pin(async move {
                        if !tx.record_check_run(&checked, &owner, &result).await? {
                            return Ok(None);
                        }
                        if planned.is_empty() {
                            return Ok(Some(Vec::new()));
                        }
                        tx.publish(firebreak_store::Change::Directory(Topic::Checks));
                        store_events(tx, &planned).await.map(Some)
                    })
                }
            })
            .await?;
        match outcomes {
            None => {
                tracing::info!(check = %c.spec.name, "another runner took this check over; its run is not recorded")
            }
            Some(o) if !o.is_empty() => {
                match step.alert {
                    AlertMove::Trigger => {
                        tracing::warn!(check = %c.spec.name, error = ?step.check.last_error, "an uptime check is failing")
                    }
                    AlertMove::Resolve => {
                        tracing::info!(check = %c.spec.name, "an uptime check recovered")
                    }
                    AlertMove::None => {}
                }
                crate::metrics::ingested(
                    "check",
                    o.len() as u64,
                    &Ok::<Vec<IngestOutcome>, EngineError>(o),
                );
            }
            Some(_) => {}
        }
        Ok(())
    }

    /// Probes a check's target as its settings say.
    async fn probe(&self, c: &Check) -> Observation {
        let spec = &c.spec;
        let timeout = spec.timeout.unsigned_abs();
        let probe = match spec.kind {
            CheckKind::Http => {
                let method = match spec.method {
                    Method::Get => http::Method::GET,
                    Method::Head => http::Method::HEAD,
                };
                self.prober()
                    .http(HttpProbe {
                        method,
                        url: &spec.target,
                        timeout,
                        read_body: if spec.reads_body() {
                            check::BODY_READ_MAX
                        } else {
                            0
                        },
                        ca_file: self.config.checks.ca_file(&spec.tls),
                    })
                    .await
            }
            CheckKind::Tcp => match check::split_host_port(&spec.target) {
                Some((host, port)) => self.prober().tcp(host, port, timeout).await,
                None => firebreak_outbound::probe::Probe {
                    error: Some("the target is not host:port".into()),
                    ..Default::default()
                },
            },
        };
        Observation {
            status: probe.status,
            latency: SignedDuration::try_from(probe.latency).unwrap_or(SignedDuration::MAX),
            body: probe.body,
            error: probe.error,
            cert_not_after: if spec.is_https() {
                probe.cert_not_after
            } else {
                None
            },
        }
    }

    /// The routed alert events a step asks for (none while nothing turns).
    async fn plan_step(
        &self,
        step: &Step,
        result: &CheckResult,
        now: Timestamp,
    ) -> Result<Vec<Planned>, EngineError> {
        let mut planned = Vec::new();
        if step.alert != AlertMove::None {
            let plan = self
                .plan_move(&step.check, Some(result), false, step.alert, now)
                .await?;
            planned.extend(plan.planned);
        }
        if step.tls != AlertMove::None {
            let plan = self
                .plan_move(&step.check, Some(result), true, step.tls, now)
                .await?;
            planned.extend(plan.planned);
        }
        Ok(planned)
    }

    /// Routes one move of one of a check's alerts, as the ingest pipeline does for any sender.
    async fn plan_move(
        &self,
        c: &Check,
        latest: Option<&CheckResult>,
        tls: bool,
        how: AlertMove,
        now: Timestamp,
    ) -> Result<AlertPlan, EngineError> {
        let action = match how {
            AlertMove::Trigger => AlertAction::Trigger,
            AlertMove::Resolve | AlertMove::None => AlertAction::Resolve,
        };
        let mut history = match latest {
            Some(r) => vec![r.clone()],
            None => Vec::new(),
        };
        history.extend(
            self.store
                .check_results(c.id, HISTORY as u32)
                .await?
                .into_iter()
                .take(HISTORY - history.len()),
        );
        let event = if tls {
            self.tls_event(c, action, now)
        } else {
            failure_event(c, latest, &history, action, now)
        };
        let sender = Sender {
            integration: INTEGRATION.to_string(),
            name: c.spec.name.to_string(),
            service: c.spec.service.clone(),
            drill: firebreak_domain::Drill::Real,
        };
        let (_, planned) = self.plan(&sender, vec![event], now).await?;
        Ok(AlertPlan { planned })
    }

    /// The certificate expiry warning of `c`.
    fn tls_event(&self, c: &Check, action: AlertAction, now: Timestamp) -> AlertEvent {
        let warn = self.config.checks.warn_before(&c.spec.tls);
        let summary = match c.tls_expires_at {
            Some(expires) => {
                let days = expires.duration_since(now).as_hours().div_euclid(24);
                let when = if expires <= now {
                    "has expired".to_string()
                } else {
                    format!("expires in {days} days")
                };
                format!(
                    "Certificate of {} {when}, on {}",
                    c.spec.name,
                    expires.strftime("%Y-%m-%d %H:%M UTC")
                )
            }
            None => format!("Certificate of {} is near its expiry", c.spec.name),
        };
        let details = json!({
            "check": c.spec.name.as_str(),
            "check_id": c.id,
            "service": c.spec.service.as_str(),
            "target": shown_target(&c.spec),
            "certificate_expires_at": c.tls_expires_at.map(|t| t.to_string()),
            "warn_before": span_text(warn),
        })
        .to_string();
        event(
            c,
            tls_dedup_key(c.id),
            "CertificateExpiring",
            AlertSeverity::Warning,
            Some(Urgency::Low),
            summary,
            details,
            action,
            c.tls_expires_at
                .map(|e| e - warn)
                .filter(|s| *s <= now)
                .or(Some(now)),
            now,
        )
    }
}

/// The 422 for a target the guard refuses.
fn refused(reason: &str) -> EngineError {
    invalid(
        "target",
        format!(
            "{reason}. Checks reach only public addresses unless allowed: to check an internal \
             service, add its address or network (e.g. 10.0.0.0/8) to checks.allow in \
             firebreak.yaml"
        ),
    )
}

/// The failure alert of `c` (as it is once down, for a trigger).
fn failure_event(
    c: &Check,
    latest: Option<&CheckResult>,
    history: &[CheckResult],
    action: AlertAction,
    now: Timestamp,
) -> AlertEvent {
    let error = c
        .last_error
        .clone()
        .or_else(|| latest.and_then(|r| r.error.clone()))
        .unwrap_or_else(|| "the check failed".into());
    let summary = format!(
        "Check {} failing: {error} ({} consecutive failure{})",
        c.spec.name,
        c.consecutive_failures,
        if c.consecutive_failures == 1 { "" } else { "s" }
    );
    let details = json!({
        "check": c.spec.name.as_str(),
        "check_id": c.id,
        "service": c.spec.service.as_str(),
        "kind": c.spec.kind.as_str(),
        "target": shown_target(&c.spec),
        "interval": span_text(c.spec.interval),
        "failures_before_alert": c.spec.failures_before_alert,
        "consecutive_failures": c.consecutive_failures,
        "last_error": c.last_error,
        "status": latest.and_then(|r| r.status),
        "latency_ms": latest.map(|r| r.latency_ms),
        "down_since": c.down_since.map(|t| t.to_string()),
        "history": history.iter().map(|r| json!({
            "at": r.at.to_string(),
            "ok": r.ok,
            "status": r.status,
            "latency_ms": r.latency_ms,
            "error": r.error,
        })).collect::<Vec<_>>(),
    })
    .to_string();
    event(
        c,
        dedup_key(c.id),
        "CheckFailing",
        AlertSeverity::Critical,
        None,
        summary,
        details,
        action,
        c.down_since,
        now,
    )
}

#[allow(clippy::too_many_arguments)]
fn event(
    c: &Check,
    dedup_key: String,
    alertname: &str,
    severity: AlertSeverity,
    urgency: Option<Urgency>,
    summary: String,
    details: String,
    action: AlertAction,
    starts_at: Option<Timestamp>,
    now: Timestamp,
) -> AlertEvent {
    let summary: String = summary
        .chars()
        .take(firebreak_domain::alert::SUMMARY_MAX)
        .collect();
    let labels = BTreeMap::from([
        ("alertname".to_string(), alertname.to_string()),
        ("check".to_string(), c.spec.name.to_string()),
        ("service".to_string(), c.spec.service.to_string()),
    ]);
    AlertEvent {
        format: AlertFormat::Check,
        action,
        dedup_key: Some(dedup_key),
        severity,
        urgency,
        summary,
        source: format!("check {}", c.spec.name),
        labels,
        details: details.clone(),
        links: Vec::new(),
        images: Vec::new(),
        starts_at,
        ends_at: (action == AlertAction::Resolve).then_some(now),
        raw: details,
    }
}

impl Firebreak {
    /// Deletes results older than a week and daily counts older than [`check::KEEP_DAYS`], a
    /// batch at a time. Returns how many rows went.
    pub async fn prune_check_history(&self) -> Result<u64, EngineError> {
        let now = self.clock.now();
        let before = now - check::KEEP_RESULTS;
        let today = check::day_of(now);
        let first_day = today
            .checked_sub(jiff::Span::new().days(check::KEEP_DAYS))
            .unwrap_or(today);
        let mut total = 0;
        loop {
            let pruned = transact(&*self.store, move |tx| {
                Box::pin(
                    async move { tx.prune_check_history(before, first_day, PRUNE_BATCH).await },
                )
            })
            .await?;
            total += pruned;
            if pruned < u64::from(PRUNE_BATCH) {
                return Ok(total);
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}
