//! Runbooks next to the alerts, and their actions: production changes, recorded.
//!
//! **At most once.** A run is started by a person (and approved by a second one when its
//! action asks); it is written as `running` in the unit of work that starts it, and only then
//! executed, once, by this process. Nothing retries it: a run whose process stopped is found by
//! its stale heartbeat and marked `interrupted`, with the timeline saying so, and a person
//! decides what to do. This is the opposite of pages, which are at least once.
//!
//! Commands are an argv list, never a shell string, run in their own process group with an
//! explicit environment; the timeout kills the whole group. Secrets come from
//! `FIREBREAK_SECRET_<NAME>` or the secrets file (mode 0600) at the moment of the run, are
//! masked wherever a run is shown, and are redacted from captured output, also base64- and
//! URL-encoded.

use std::collections::BTreeMap;
use std::process::Stdio;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use base64::Engine as _;
use firebreak_domain::action::{ActionRun, RunStatus, Shown, ShownRequest};
use firebreak_domain::alert::{Alert, Link};
use firebreak_domain::runbook::{self, Action, ActionKind, Runbook, Values};
use firebreak_domain::{AccessRole, Actor, Incident, IncidentNumber, Name, TimelineEvent};
use firebreak_store::{AlertFilter, TimelineDraft};
use jiff::{SignedDuration, Timestamp};
use tokio::io::AsyncReadExt;

use crate::deployments::NewDeployment;
use crate::{EngineError, Firebreak, Principal, invalid};

/// Output kept per run (the end of it, when there is more).
pub const OUTPUT_CAP: usize = 64 * 1024;
/// Output shown on the timeline.
const TAIL: usize = 2000;
/// How often a running action says it is alive.
pub const HEARTBEAT_EVERY: SignedDuration = SignedDuration::from_secs(3);
/// A running action silent this long belongs to a process that stopped.
pub const STALE_AFTER: SignedDuration = SignedDuration::from_secs(15);

/// Every runbook, in memory: those of `firebreak.yaml` and those added through the API.
/// Reloaded after a change (here at once, elsewhere from the feed).
#[derive(Default)]
pub struct RunbookCache {
    changes: AtomicU64,
    loaded: RwLock<Option<(u64, Arc<Vec<Runbook>>)>>,
}

impl RunbookCache {
    pub fn changed(&self) {
        self.changes.fetch_add(1, Ordering::SeqCst);
    }
}

/// A runbook that covers something, with the service it covers it for.
#[derive(Debug, Clone)]
pub struct Covering {
    pub runbook: Runbook,
    pub service: Option<Name>,
}

/// The one-step rollback an incident offers: its suspect deploy has a previous version and a
/// runbook covering the service has an action named `rollback`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RollbackOffer {
    pub runbook: String,
    pub action: String,
    pub service: Name,
    pub version: String,
    pub previous_version: String,
    /// The suspect deploy the rollback undoes.
    pub deploy: i64,
}

/// The runbooks for an incident or an alert.
#[derive(Debug, Clone)]
pub struct RunbooksFor {
    pub runbooks: Vec<Covering>,
    /// Runbooks kept elsewhere: the senders' runbook links and the services' `runbook` URL.
    pub links: Vec<Link>,
    pub rollback: Option<RollbackOffer>,
}

/// An alert name seen with no runbook.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Uncovered {
    pub service: Name,
    pub alertname: String,
    pub alerts: u64,
    pub last_seen: Timestamp,
}

/// What a request to run an action became.
#[derive(Debug, Clone)]
pub struct RunOutcome {
    pub run: ActionRun,
    pub dry_run: bool,
}

fn secret_env_name(name: &str) -> String {
    format!(
        "FIREBREAK_SECRET_{}",
        name.to_uppercase().replace(['-', '.'], "_")
    )
}

/// Every spelling of a secret that could show in output.
fn spellings(secret: &str) -> Vec<String> {
    let b = secret.as_bytes();
    let mut all = vec![
        secret.to_string(),
        base64::engine::general_purpose::STANDARD.encode(b),
        base64::engine::general_purpose::STANDARD_NO_PAD.encode(b),
        base64::engine::general_purpose::URL_SAFE.encode(b),
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b),
        percent_encoded(secret, false),
        percent_encoded(secret, true),
    ];
    // Inside a longer encoded value (`user:SECRET` in a Basic header, a JSON blob holding it),
    // the secret starts one or two bytes into a group of three and its characters differ.
    // Each offset gives a run of characters that only the secret's bytes decide.
    for engine in [
        base64::engine::general_purpose::STANDARD_NO_PAD,
        base64::engine::general_purpose::URL_SAFE_NO_PAD,
    ] {
        for offset in 1..3usize {
            let mut shifted = vec![0u8; offset];
            shifted.extend_from_slice(b);
            let encoded = engine.encode(&shifted);
            // The characters that hold prefix bits, and a last one that holds what follows.
            let start = (offset * 4).div_ceil(3);
            let end = if shifted.len().is_multiple_of(3) {
                encoded.len()
            } else {
                encoded.len() - 1
            };
            if end > start + 5 {
                all.push(encoded[start..end].to_string());
            }
        }
        // At offset 0 the last character may hold bits of what follows, too.
        let encoded = engine.encode(b);
        if !b.len().is_multiple_of(3) && encoded.len() > 6 {
            all.push(encoded[..encoded.len() - 1].to_string());
        }
    }
    all.sort_by_key(|s| std::cmp::Reverse(s.len()));
    all.dedup();
    all
}

/// `value` percent-encoded as a URL component (`form`: spaces as `+`).
fn percent_encoded(value: &str, form: bool) -> String {
    let mut out = String::new();
    for byte in value.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(byte as char)
            }
            b' ' if form => out.push('+'),
            _ => out.push_str(&format!("%{byte:02X}")),
        }
    }
    out
}

/// Secrets in play for one run: their values, and how to hide them.
#[derive(Default, Clone)]
struct Redactor {
    spellings: Vec<String>,
}

impl Redactor {
    fn add(&mut self, secret: &str) {
        // A secret of a few characters would blank out ordinary words.
        if secret.len() >= 4 {
            self.spellings.extend(spellings(secret));
            self.spellings.sort_by_key(|s| std::cmp::Reverse(s.len()));
            self.spellings.dedup();
        }
    }

    fn redact(&self, text: &str) -> String {
        let mut out = text.to_string();
        for s in &self.spellings {
            if out.contains(s.as_str()) {
                out = out.replace(s.as_str(), "[redacted]");
            }
        }
        out
    }
}

/// What is kept of a run's output: redacted whole first, then its last [`OUTPUT_CAP`] bytes
/// from the start of a line, so a secret cut in two cannot survive in part.
fn kept_output(redactor: &Redactor, text: &str) -> String {
    let redacted = redactor.redact(text);
    if redacted.len() <= OUTPUT_CAP {
        return redacted;
    }
    from_line_start(&tail(&redacted, OUTPUT_CAP))
}

/// `text` from just after its first newline (all of it when it has none).
fn from_line_start(text: &str) -> String {
    match text.find('\n') {
        Some(i) => text[i + 1..].to_string(),
        None => text.to_string(),
    }
}

/// Runbooks are code the server runs: changing them needs a standing admin. Break-glass access
/// runs them; it does not rewrite them.
fn refuse_under_break_glass(who: &Principal) -> Result<(), EngineError> {
    match who.break_glass {
        Some(grant) => Err(EngineError::Forbidden(format!(
            "runbooks are changed by a standing admin; break-glass grant {grant} runs them but does not change them"
        ))),
        None => Ok(()),
    }
}

/// The end of `text`, at most `max` bytes, cut at a character boundary.
fn tail(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_string();
    }
    let mut start = text.len() - max;
    while !text.is_char_boundary(start) {
        start += 1;
    }
    text[start..].to_string()
}

/// One line showing what a run does.
pub fn shown_line(shown: &Shown) -> String {
    match shown {
        Shown::Command { argv, env, .. } => {
            let mut parts: Vec<String> = env.clone();
            parts.extend(argv.iter().map(|a| {
                if a.is_empty() || a.contains(|c: char| c.is_whitespace() || "'\"\\$`".contains(c))
                {
                    format!("'{}'", a.replace('\'', "'\\''"))
                } else {
                    a.clone()
                }
            }));
            parts.join(" ")
        }
        Shown::Http(r) => format!("{} {}", r.method, r.url),
    }
}

/// What a prepared run will do: shown (masked) and executable (with the secrets).
struct Prepared {
    shown: Shown,
    exec: Exec,
    redactor: Redactor,
    timeout: SignedDuration,
}

enum Exec {
    Command {
        argv: Vec<String>,
        env: Vec<(String, String)>,
        cwd: Option<String>,
    },
    Http {
        method: String,
        url: String,
        headers: Vec<(String, String)>,
        body: Option<String>,
    },
}

impl Firebreak {
    // ---- runbooks ----

    /// Every runbook: those in `firebreak.yaml`, then those added through the API, by name.
    pub async fn runbooks(&self) -> Result<Arc<Vec<Runbook>>, EngineError> {
        let cache = &self.runbooks;
        let seen = cache.changes.load(Ordering::SeqCst);
        if let Some((at, all)) = cache
            .loaded
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
            && *at == seen
        {
            return Ok(all.clone());
        }
        let mut all: Vec<Runbook> = self.config.runbooks.clone();
        for r in self.store.list_runbooks().await? {
            if self.config.runbook(r.runbook.name.as_str()).is_none() {
                all.push(r.runbook);
            }
        }
        let all = Arc::new(all);
        let mut slot = cache.loaded.write().unwrap_or_else(|p| p.into_inner());
        if cache.changes.load(Ordering::SeqCst) == seen {
            *slot = Some((seen, all.clone()));
        }
        Ok(all)
    }

    pub async fn runbook(&self, name: &str) -> Result<Runbook, EngineError> {
        self.runbooks()
            .await?
            .iter()
            .find(|r| r.name.as_str() == name)
            .cloned()
            .ok_or_else(|| {
                EngineError::NotFound(format!(
                    "there is no runbook named `{name}`; `firebreak runbook list` shows them"
                ))
            })
    }

    /// Adds or replaces a runbook through the API. One declared in `firebreak.yaml` is changed
    /// there, not here. Returns whether it was added.
    pub async fn put_runbook(
        &self,
        who: &Principal,
        runbook: Runbook,
    ) -> Result<bool, EngineError> {
        refuse_under_break_glass(who)?;
        let name = runbook.name.to_string();
        if self.config.runbook(&name).is_some() {
            return Err(EngineError::Conflict(format!(
                "the runbook `{name}` is declared in firebreak.yaml; change it there"
            )));
        }
        let now = self.clock.now();
        let record = firebreak_store::RunbookRecord {
            runbook,
            created_by: who.actor.0.clone(),
            created_at: now,
            updated_at: now,
        };
        let audit = self.audit(who, "runbook.put", format!("runbook/{name}"));
        let added = self
            .write(1, || {
                let (record, audit) = (record.clone(), audit.clone());
                move |tx| {
                    Box::pin(async move {
                        let added = tx.put_runbook(&record).await?;
                        tx.audit(audit).await?;
                        Ok(added)
                    })
                }
            })
            .await?;
        self.runbooks.changed();
        Ok(added)
    }

    /// Removes a runbook added through the API.
    pub async fn delete_runbook(&self, who: &Principal, name: &str) -> Result<(), EngineError> {
        refuse_under_break_glass(who)?;
        if self.config.runbook(name).is_some() {
            return Err(EngineError::Conflict(format!(
                "the runbook `{name}` is declared in firebreak.yaml; remove it there"
            )));
        }
        let audit = self.audit(who, "runbook.delete", format!("runbook/{name}"));
        let owned = name.to_string();
        self.write(1, || {
            let (audit, name) = (audit.clone(), owned.clone());
            move |tx| {
                Box::pin(async move {
                    tx.delete_runbook(&name).await?;
                    tx.audit(audit).await
                })
            }
        })
        .await
        .map_err(|e| match e {
            firebreak_store::StoreError::NotFound => {
                EngineError::NotFound(format!("there is no runbook named `{name}` to remove"))
            }
            other => other.into(),
        })?;
        self.runbooks.changed();
        Ok(())
    }

    fn service_links(&self, services: &[Name]) -> Vec<Link> {
        services
            .iter()
            .filter_map(|s| {
                let url = self
                    .config
                    .services
                    .iter()
                    .find(|c| &c.name == s)?
                    .runbook
                    .clone()?;
                Some(Link {
                    href: url,
                    text: Some(format!("Runbook for {s}")),
                })
            })
            .collect()
    }

    /// The runbooks for an incident: those covering its services or its alerts, the runbook
    /// links of its alerts and services, and the one-step rollback when there is one.
    pub async fn incident_runbooks(
        &self,
        number: IncidentNumber,
    ) -> Result<RunbooksFor, EngineError> {
        let incident = self.incident(number).await?;
        let alerts = self.alerts_of(number).await?;
        let all = self.runbooks().await?;
        let mut runbooks: Vec<Covering> = all
            .iter()
            .filter(|r| r.covers_incident(&incident.services, &alerts))
            .map(|r| Covering {
                service: incident
                    .services
                    .iter()
                    .chain(alerts.iter().map(|a| &a.service))
                    .find(|s| r.services.contains(s))
                    .cloned(),
                runbook: r.clone(),
            })
            .collect();
        runbooks.dedup_by(|a, b| a.runbook.name == b.runbook.name);
        let mut links: Vec<Link> = alerts
            .iter()
            .flat_map(|a| runbook::linked_runbooks(a).cloned())
            .collect();
        links.extend(self.service_links(&incident.services));
        links.dedup_by(|a, b| a.href == b.href);
        let rollback = self.rollback_offer(&incident, &runbooks).await?;
        Ok(RunbooksFor {
            runbooks,
            links,
            rollback,
        })
    }

    async fn alerts_of(&self, number: IncidentNumber) -> Result<Vec<Alert>, EngineError> {
        let filter = AlertFilter {
            incident: Some(number),
            ..Default::default()
        };
        let mut all = Vec::new();
        let mut before = None;
        loop {
            let page = self.store.list_alerts(&filter, before, 500).await?;
            all.extend(page.items);
            match page.next {
                Some(next) if all.len() < 5000 => before = Some(next),
                _ => return Ok(all),
            }
        }
    }

    async fn rollback_offer(
        &self,
        incident: &Incident,
        runbooks: &[Covering],
    ) -> Result<Option<RollbackOffer>, EngineError> {
        let suspects = self.suspects_of(std::slice::from_ref(incident)).await?;
        let Some(suspect) = suspects
            .get(&incident.number)
            .and_then(|s| s.iter().find(|s| s.suspect))
        else {
            return Ok(None);
        };
        let Some(previous) = suspect.rollback_to.clone() else {
            return Ok(None);
        };
        let service = &suspect.deployment.service;
        Ok(runbooks
            .iter()
            .find(|c| {
                c.runbook.services.contains(service)
                    && c.runbook.action(runbook::ROLLBACK).is_some()
            })
            .map(|c| RollbackOffer {
                runbook: c.runbook.name.to_string(),
                action: runbook::ROLLBACK.to_string(),
                service: service.clone(),
                version: suspect.deployment.version.clone(),
                previous_version: previous,
                deploy: suspect.deployment.id,
            }))
    }

    /// The runbooks for an alert: those covering it, and its runbook links.
    pub async fn alert_runbooks(&self, id: i64) -> Result<RunbooksFor, EngineError> {
        let alert = self.alert(id).await?;
        let all = self.runbooks().await?;
        let runbooks = all
            .iter()
            .filter(|r| r.covers_alert(&alert))
            .map(|r| Covering {
                runbook: r.clone(),
                service: Some(alert.service.clone()),
            })
            .collect();
        let mut links: Vec<Link> = runbook::linked_runbooks(&alert).cloned().collect();
        links.extend(self.service_links(std::slice::from_ref(&alert.service)));
        Ok(RunbooksFor {
            runbooks,
            links,
            rollback: None,
        })
    }

    /// The alert names seen in the last `days` days whose alerts had no runbook: none of the
    /// configured runbooks covers them, and neither the sender nor the service linked one.
    pub async fn runbook_coverage(&self, days: i64) -> Result<Vec<Uncovered>, EngineError> {
        let since = self.clock.now() - SignedDuration::from_hours(24 * days);
        let all = self.runbooks().await?;
        let mut found: BTreeMap<(Name, String), Uncovered> = BTreeMap::new();
        let mut before = None;
        'pages: loop {
            let page = self
                .store
                .list_alerts(&AlertFilter::default(), before, 500)
                .await?;
            for alert in &page.items {
                if alert.last_seen < since {
                    continue;
                }
                let covered = all.iter().any(|r| r.covers_alert(alert))
                    || runbook::linked_runbooks(alert).next().is_some()
                    || !self
                        .service_links(std::slice::from_ref(&alert.service))
                        .is_empty();
                if covered {
                    continue;
                }
                let name = alert
                    .labels
                    .get("alertname")
                    .cloned()
                    .unwrap_or_else(|| alert.summary.chars().take(80).collect());
                let entry = found
                    .entry((alert.service.clone(), name.clone()))
                    .or_insert(Uncovered {
                        service: alert.service.clone(),
                        alertname: name,
                        alerts: 0,
                        last_seen: alert.last_seen,
                    });
                entry.alerts += 1;
                entry.last_seen = entry.last_seen.max(alert.last_seen);
            }
            // Alerts come newest first by id; one opened before the window and quiet since ends it.
            let old = page
                .items
                .last()
                .is_some_and(|a| a.first_seen < since && a.last_seen < since);
            match page.next {
                Some(next) if !old => before = Some(next),
                _ => break 'pages,
            }
        }
        let mut all: Vec<Uncovered> = found.into_values().collect();
        all.sort_by(|a, b| b.alerts.cmp(&a.alerts).then(a.alertname.cmp(&b.alertname)));
        Ok(all)
    }

    // ---- secrets ----

    /// A secret by name, from `FIREBREAK_SECRET_<NAME>` or the secrets file.
    fn secret(&self, name: &str) -> Result<String, EngineError> {
        let env = secret_env_name(name);
        if let Ok(value) = std::env::var(&env)
            && !value.is_empty()
        {
            return Ok(value);
        }
        let missing = || {
            invalid(
                "secrets",
                format!(
                    "the secret `{name}` is not set: set {env} in the server's environment, or add `{name}: ...` to the secrets file (secrets.file, mode 0600)"
                ),
            )
        };
        let Some(path) = &self.config.secrets.file else {
            return Err(missing());
        };
        let meta = std::fs::metadata(path).map_err(|e| {
            invalid(
                "secrets",
                format!("cannot read the secrets file {path}: {e}"),
            )
        })?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            if meta.permissions().mode() & 0o077 != 0 {
                return Err(invalid(
                    "secrets",
                    format!(
                        "the secrets file {path} can be read by others; run `chmod 600 {path}`"
                    ),
                ));
            }
        }
        let text = std::fs::read_to_string(path).map_err(|e| {
            invalid(
                "secrets",
                format!("cannot read the secrets file {path}: {e}"),
            )
        })?;
        for line in text.lines() {
            let line = line.trim();
            if line.starts_with('#') {
                continue;
            }
            if let Some((k, v)) = line.split_once(':')
                && k.trim() == name
            {
                let v = v.trim();
                let v = v
                    .strip_prefix('"')
                    .and_then(|v| v.strip_suffix('"'))
                    .or_else(|| v.strip_prefix('\'').and_then(|v| v.strip_suffix('\'')))
                    .unwrap_or(v);
                return Ok(v.to_string());
            }
        }
        Err(missing())
    }

    // ---- actions ----

    /// The action `name` among the runbooks covering the incident.
    async fn find_action(
        &self,
        incident: &Incident,
        name: &str,
    ) -> Result<(Covering, Action), EngineError> {
        let covering = self.incident_runbooks(incident.number).await?;
        for c in covering.runbooks {
            if let Some(a) = c.runbook.action(name) {
                let a = a.clone();
                return Ok((c, a));
            }
        }
        // Say why, when a runbook has the action but does not cover this incident.
        let elsewhere: Vec<String> = self
            .runbooks()
            .await?
            .iter()
            .filter(|r| r.action(name).is_some())
            .map(|r| {
                let services = r
                    .services
                    .iter()
                    .map(|s| s.to_string())
                    .collect::<Vec<_>>()
                    .join(", ");
                if r.matchers.is_empty() {
                    format!("`{}` covers incidents on {services}", r.name)
                } else {
                    format!(
                        "`{}` covers incidents on {services} only when an attached alert matches its `match` ({})",
                        r.name,
                        r.matchers
                            .iter()
                            .map(|m| m.to_string())
                            .collect::<Vec<_>>()
                            .join(", ")
                    )
                }
            })
            .collect();
        if !elsewhere.is_empty() {
            let services = incident
                .services
                .iter()
                .map(|s| s.to_string())
                .collect::<Vec<_>>()
                .join(", ");
            return Err(EngineError::NotFound(format!(
                "no runbook that covers {} (services: {}) has an action named `{name}`: {}",
                incident.number,
                if services.is_empty() {
                    "none"
                } else {
                    &services
                },
                elsewhere.join("; ")
            )));
        }
        Err(EngineError::NotFound(format!(
            "no runbook for {} has an action named `{name}`; `firebreak runbook list` shows the actions",
            incident.number
        )))
    }

    /// The values Firebreak fills in: the service, the suspect deploy's versions, the incident.
    /// The values Firebreak fills in: the service, the suspect deploy's versions, the
    /// incident, and the action's declared parameters that its alerts carry as labels (a
    /// Kubernetes alert's `namespace`, say), the newest alert's first.
    async fn known_values(
        &self,
        incident: &Incident,
        service: Option<&Name>,
        action: &Action,
    ) -> Result<BTreeMap<String, String>, EngineError> {
        let mut known = BTreeMap::new();
        known.insert("incident".to_string(), incident.number.to_string());
        if let Some(s) = service {
            known.insert("service".to_string(), s.to_string());
            let suspects = self.suspects_of(std::slice::from_ref(incident)).await?;
            if let Some(newest) = suspects
                .get(&incident.number)
                .and_then(|list| list.iter().find(|d| &d.deployment.service == s))
            {
                known.insert("version".to_string(), newest.deployment.version.clone());
                if let Some(prev) = &newest.deployment.previous_version {
                    known.insert("previous_version".to_string(), prev.clone());
                }
            }
        }
        if !action.params.is_empty() {
            let alerts = self.alerts_of(incident.number).await?;
            for name in action.params.keys() {
                if known.contains_key(name) {
                    continue;
                }
                let label = alerts
                    .iter()
                    .filter(|a| service.is_none_or(|s| &a.service == s))
                    .find_map(|a| a.labels.get(name));
                if let Some(value) = label {
                    known.insert(name.clone(), value.clone());
                }
            }
        }
        Ok(known)
    }

    fn prepare(&self, action: &Action, values: &Values) -> Result<Prepared, EngineError> {
        let render = |field: &str, t: &str| {
            runbook::render(t, values)
                .map_err(|e| invalid(&format!("params.{field}"), e.to_string()))
        };
        let mut redactor = Redactor::default();
        match &action.kind {
            ActionKind::Command { run, cwd, env } => {
                let argv = run
                    .iter()
                    .map(|a| render("run", a))
                    .collect::<Result<Vec<_>, _>>()?;
                let mut shown_env = Vec::new();
                let mut exec_env = Vec::new();
                for (k, v) in env {
                    match v {
                        runbook::Value::Text(t) => {
                            shown_env.push(format!("{k}={t}"));
                            exec_env.push((k.clone(), t.clone()));
                        }
                        runbook::Value::Secret(name) => {
                            let value = self.secret(name.as_str())?;
                            redactor.add(&value);
                            shown_env.push(format!("{k}=<secret {name}>"));
                            exec_env.push((k.clone(), value));
                        }
                    }
                }
                Ok(Prepared {
                    shown: Shown::Command {
                        argv: argv.clone(),
                        env: shown_env,
                        cwd: cwd.clone(),
                    },
                    exec: Exec::Command {
                        argv,
                        env: exec_env,
                        cwd: cwd.clone(),
                    },
                    redactor,
                    timeout: action.timeout,
                })
            }
            ActionKind::Http {
                method,
                url,
                headers,
                body,
            } => {
                // A value in a URL is one path segment or query value: `/`, `?`, `@`, `#` and
                // the rest are encoded, so it can change neither the host nor the path.
                let encoded = values.mapped(|v| percent_encoded(v, false));
                let url = runbook::render(url, &encoded)
                    .map_err(|e| invalid("params.url", e.to_string()))?;
                let body = body.as_deref().map(|b| render("body", b)).transpose()?;
                let mut shown_headers = Vec::new();
                let mut exec_headers = Vec::new();
                for (k, v) in headers {
                    match v {
                        runbook::Value::Text(t) => {
                            shown_headers.push((k.clone(), t.clone()));
                            exec_headers.push((k.clone(), t.clone()));
                        }
                        runbook::Value::Secret(name) => {
                            let value = self.secret(name.as_str())?;
                            redactor.add(&value);
                            // `Bearer xyz` as a secret is still hidden when only `xyz` shows.
                            if let Some((_, token)) = value.split_once(' ') {
                                redactor.add(token);
                            }
                            shown_headers.push((k.clone(), format!("<secret {name}>")));
                            exec_headers.push((k.clone(), value));
                        }
                    }
                }
                Ok(Prepared {
                    shown: Shown::Http(ShownRequest {
                        method: method.clone(),
                        url: url.clone(),
                        headers: shown_headers,
                        body: body.clone(),
                    }),
                    exec: Exec::Http {
                        method: method.clone(),
                        url,
                        headers: exec_headers,
                        body,
                    },
                    redactor,
                    timeout: action.timeout,
                })
            }
        }
    }

    /// Records a refused request or approval on the incident's timeline and in the audit log,
    /// and answers the refusal. Refusals are on the record like everything else done with an
    /// action; if the record cannot be written, the refusal stands all the same.
    async fn deny(
        &self,
        who: &Principal,
        number: IncidentNumber,
        run: Option<i64>,
        action: &str,
        why: String,
    ) -> EngineError {
        let now = self.clock.now();
        let target = match run {
            Some(run) => format!("{number}: run/{run}"),
            None => format!("{number}: action/{action}"),
        };
        let audit = self.audit(who, "action.denied", target);
        let entry = TimelineDraft {
            at: now,
            actor: who.actor.0.clone(),
            event: TimelineEvent::ActionDenied {
                run,
                action: action.to_string(),
                by: who.actor.0.clone(),
                why: why.clone(),
            },
        };
        let written = self
            .write(1, || {
                let (audit, entry) = (audit.clone(), entry.clone());
                move |tx| {
                    Box::pin(async move {
                        tx.append_timeline(number, vec![entry]).await?;
                        tx.audit(audit).await?;
                        Ok(())
                    })
                }
            })
            .await;
        if let Err(e) = written {
            tracing::warn!(incident = %number, error = %e, "could not record a refused action request");
        }
        EngineError::Forbidden(why)
    }

    /// Asks to run `action` on an incident. With `dry_run`, only shows the exact argv or
    /// request (secrets masked) and records nothing. Otherwise records the request and either
    /// waits for approval or starts it at once.
    pub async fn run_action(
        &self,
        who: &Principal,
        number: IncidentNumber,
        action_name: &str,
        params: BTreeMap<String, String>,
        dry_run: bool,
    ) -> Result<RunOutcome, EngineError> {
        let incident = self.incident(number).await?;
        let (covering, action) = self.find_action(&incident, action_name).await?;
        if !who.role.allows(action.role) {
            return Err(self
                .deny(
                    who,
                    number,
                    None,
                    action_name,
                    format!(
                        "`{action_name}` needs the {} role; you have {}",
                        action.role, who.role
                    ),
                )
                .await);
        }
        if incident.status == firebreak_domain::Status::Resolved && !dry_run {
            return Err(invalid(
                "incident",
                format!("{number} is resolved; actions run on open incidents"),
            ));
        }
        let known = self
            .known_values(&incident, covering.service.as_ref(), &action)
            .await?;
        let values =
            Values::check(&action, known, &params, &covering.runbook.services).map_err(|e| {
                let field = match &e {
                    runbook::TemplateError::Refused { name, .. }
                    | runbook::TemplateError::Unknown(name)
                    | runbook::TemplateError::Missing(name) => format!("params.{name}"),
                };
                invalid(&field, e.to_string())
            })?;
        let prepared = self.prepare(&action, &values)?;
        let now = self.clock.now();
        let run = ActionRun {
            id: 0,
            incident: number,
            runbook: covering.runbook.name.to_string(),
            action: action_name.to_string(),
            requested_by: who.actor.0.clone(),
            params,
            shown: prepared.shown.clone(),
            status: if action.approval {
                RunStatus::PendingApproval
            } else {
                RunStatus::Running
            },
            requested_at: now,
            approve_by: action.approval.then(|| now + action.approval_within),
            approved_by: None,
            started_at: (!action.approval).then_some(now),
            finished_at: None,
            heartbeat_at: (!action.approval).then_some(now),
            exit_code: None,
            output: String::new(),
            error: None,
            break_glass: who.break_glass,
        };
        if dry_run {
            return Ok(RunOutcome { run, dry_run: true });
        }
        let audit = self.audit(who, "action.request", format!("{number}: {action_name}"));
        let actor = who.actor.0.clone();
        let stored = self
            .write(3, || {
                let (run, audit, actor) = (run.clone(), audit.clone(), actor.clone());
                move |tx| {
                    Box::pin(async move {
                        let open = tx.lock_open_runs(number, &run.action).await?;
                        if let Some(other) = open.first() {
                            return Ok(Err(EngineError::Conflict(format!(
                                "run {} of `{}` on {number} is {}; one run of an action at a time",
                                other.id,
                                run.action,
                                other.status.as_str()
                            ))));
                        }
                        let stored = tx.create_run(&run).await?;
                        let mut events = vec![TimelineEvent::ActionRequested {
                            run: stored.id,
                            action: stored.action.clone(),
                            shown: shown_line(&stored.shown),
                            needs_approval: stored.status == RunStatus::PendingApproval,
                        }];
                        if stored.status == RunStatus::Running {
                            events.push(TimelineEvent::ActionStarted {
                                run: stored.id,
                                action: stored.action.clone(),
                            });
                        }
                        tx.append_timeline(number, crate::incidents::drafts(&actor, now, events))
                            .await?;
                        tx.audit(audit.naming(stored.id)).await?;
                        Ok(Ok(stored))
                    })
                }
            })
            .await??;
        if stored.status == RunStatus::Running {
            self.execute(stored.clone(), prepared);
        }
        Ok(RunOutcome {
            run: stored,
            dry_run: false,
        })
    }

    /// A second person approves a waiting run: not its requester, holding at least the
    /// action's role, before its time runs out. A late approval refuses the run.
    pub async fn approve_run(
        &self,
        who: &Principal,
        number: IncidentNumber,
        id: i64,
    ) -> Result<ActionRun, EngineError> {
        let run = self.action_run(number, id).await?;
        let incident = self.incident(number).await?;
        if incident.status == firebreak_domain::Status::Resolved {
            return Err(EngineError::Conflict(format!(
                "{number} is resolved; a run waiting for approval no longer runs"
            )));
        }
        // The very runbook and action the run was asked of, not another of the same name.
        let runbook = self.runbook(&run.runbook).await.map_err(|_| {
            EngineError::Conflict(format!(
                "the runbook `{}` is gone since the run was asked for; ask again",
                run.runbook
            ))
        })?;
        let action = runbook.action(&run.action).cloned().ok_or_else(|| {
            EngineError::Conflict(format!(
                "`{}` is no longer an action of `{}`; ask again",
                run.action, run.runbook
            ))
        })?;
        let why = if !who.role.allows(action.role) {
            Some(format!(
                "approving `{}` needs the {} role; you have {}",
                run.action, action.role, who.role
            ))
        } else if run.requested_by == who.actor.0 {
            Some("a run is approved by a second person, never by the one who asked for it".into())
        } else if who.user.is_none() {
            // A token of no user could be held by anyone, the requester included.
            Some(format!(
                "a run is approved by a person: sign in, or use a token that belongs to a user \
                 (`firebreak token create --user HANDLE`); {} belongs to nobody",
                who.actor
            ))
        } else {
            None
        };
        if let Some(why) = why {
            return Err(self.deny(who, number, Some(id), &run.action, why).await);
        }
        // Prepared again now (the secrets are read at the moment the run starts), and it must
        // be exactly what the approver was shown: if the runbook or a value (a new deploy, a
        // new alert) changed since, the request is asked again.
        let service = incident
            .services
            .iter()
            .find(|s| runbook.services.contains(s))
            .cloned();
        let known = self
            .known_values(&incident, service.as_ref(), &action)
            .await?;
        let values = Values::check(&action, known, &run.params, &runbook.services)
            .map_err(|e| invalid("params", e.to_string()))?;
        let prepared = self.prepare(&action, &values)?;
        if prepared.shown != run.shown {
            return Err(EngineError::Conflict(format!(
                "what run {id} would run changed since it was asked for (the runbook or a value \
                 such as the suspect deploy); ask for a new run"
            )));
        }
        let now = self.clock.now();
        let audit = self.audit(who, "action.approve", format!("{number}: run/{id}"));
        let actor = who.actor.0.clone();
        let (run, started) = self
            .write(3, || {
                let (audit, actor) = (audit.clone(), actor.clone());
                move |tx| {
                    Box::pin(async move {
                        let Some(mut run) = tx.lock_run(id).await? else {
                            return Ok(Err(EngineError::NotFound(format!("there is no run {id}"))));
                        };
                        if run.status != RunStatus::PendingApproval {
                            return Ok(Err(EngineError::Conflict(format!(
                                "run {id} is {}; only a run waiting for approval can be approved",
                                run.status.as_str()
                            ))));
                        }
                        if run.approval_expired(now) {
                            run.status = RunStatus::Refused;
                            run.finished_at = Some(now);
                            run.error = Some("the approval came too late".into());
                            tx.save_run(&run).await?;
                            let event = TimelineEvent::ActionRefused {
                                run: id,
                                action: run.action.clone(),
                                why: "the approval came too late".into(),
                            };
                            tx.append_timeline(
                                number,
                                crate::incidents::drafts(&actor, now, vec![event]),
                            )
                            .await?;
                            let mut audit = audit;
                            audit.action = "action.refused".into();
                            tx.audit(audit).await?;
                            return Ok(Ok((run, false)));
                        }
                        run.status = RunStatus::Running;
                        run.approved_by = Some(actor.clone());
                        run.started_at = Some(now);
                        run.heartbeat_at = Some(now);
                        tx.save_run(&run).await?;
                        let events = vec![
                            TimelineEvent::ActionApproved {
                                run: id,
                                action: run.action.clone(),
                                by: actor.clone(),
                            },
                            TimelineEvent::ActionStarted {
                                run: id,
                                action: run.action.clone(),
                            },
                        ];
                        tx.append_timeline(number, crate::incidents::drafts(&actor, now, events))
                            .await?;
                        tx.audit(audit).await?;
                        Ok(Ok((run, true)))
                    })
                }
            })
            .await??;
        if started {
            self.execute(run.clone(), prepared);
        } else {
            return Err(EngineError::Conflict(format!(
                "run {id} was refused: its approval had to come by {}",
                run.approve_by.map(|t| t.to_string()).unwrap_or_default()
            )));
        }
        Ok(run)
    }

    pub async fn action_run(
        &self,
        number: IncidentNumber,
        id: i64,
    ) -> Result<ActionRun, EngineError> {
        self.store
            .get_run(id)
            .await?
            .filter(|r| r.incident == number)
            .ok_or_else(|| EngineError::NotFound(format!("{number} has no action run {id}")))
    }

    /// A run by its id alone.
    pub async fn run_by_id(&self, id: i64) -> Result<ActionRun, EngineError> {
        self.store
            .get_run(id)
            .await?
            .ok_or_else(|| EngineError::NotFound(format!("there is no action run {id}")))
    }

    pub async fn incident_runs(
        &self,
        number: IncidentNumber,
    ) -> Result<Vec<ActionRun>, EngineError> {
        self.incident(number).await?;
        Ok(self.store.incident_runs(number).await?)
    }

    /// Runs the prepared action once, in the background, and records how it ended.
    fn execute(&self, run: ActionRun, prepared: Prepared) {
        let app = self.clone();
        tokio::spawn(async move {
            let started = std::time::Instant::now();
            let output = Arc::new(Mutex::new(String::new()));
            let timeout = prepared.timeout;
            let beat = app.heartbeat(run.clone(), output.clone(), prepared.redactor.clone());
            let work = async {
                match prepared.exec {
                    Exec::Command { argv, env, cwd } => {
                        run_command(argv, env, cwd, timeout, output.clone()).await
                    }
                    Exec::Http {
                        method,
                        url,
                        headers,
                        body,
                    } => app.run_http(&method, &url, &headers, body, timeout).await,
                }
            };
            let ended = tokio::select! {
                ended = work => ended,
                _ = beat => unreachable!("the heartbeat runs until the work ends"),
            };
            let captured = output.lock().unwrap_or_else(|p| p.into_inner()).clone();
            let mut text = captured;
            if let Some(extra) = &ended.output {
                text.push_str(extra);
            }
            let text = kept_output(&prepared.redactor, &text);
            let error = ended.error.as_deref().map(|e| prepared.redactor.redact(e));
            if let Err(e) = app
                .finish_run(
                    run,
                    ended.ok,
                    ended.exit_code,
                    text,
                    error,
                    started.elapsed(),
                )
                .await
            {
                tracing::error!(error = %e, "could not record how an action run ended; it will show as interrupted");
            }
        });
    }

    /// Says the run is alive every few seconds, with its output so far, until dropped.
    async fn heartbeat(&self, run: ActionRun, output: Arc<Mutex<String>>, redactor: Redactor) {
        loop {
            let next = self.clock.now() + HEARTBEAT_EVERY;
            self.clock.sleep_until(next).await;
            let now = self.clock.now();
            let so_far = kept_output(&redactor, &output.lock().unwrap_or_else(|p| p.into_inner()));
            let id = run.id;
            let saved = self
                .write(1, || {
                    let so_far = so_far.clone();
                    move |tx| {
                        Box::pin(async move {
                            if let Some(mut r) = tx.lock_run(id).await?
                                && r.status == RunStatus::Running
                            {
                                r.heartbeat_at = Some(now);
                                r.output = so_far;
                                tx.save_run(&r).await?;
                            }
                            Ok(())
                        })
                    }
                })
                .await;
            if let Err(e) = saved {
                tracing::warn!(error = %e, run = id, "could not record an action run's heartbeat");
            }
        }
    }

    async fn run_http(
        &self,
        method: &str,
        url: &str,
        headers: &[(String, String)],
        body: Option<String>,
        timeout: SignedDuration,
    ) -> Ended {
        let mut map = http::HeaderMap::new();
        for (k, v) in headers {
            match (
                http::HeaderName::from_bytes(k.as_bytes()),
                http::HeaderValue::from_str(v),
            ) {
                (Ok(k), Ok(v)) => {
                    map.insert(k, v);
                }
                _ => {
                    return Ended::failed(format!("the header `{k}` cannot be sent"));
                }
            }
        }
        if body.is_some() && !map.contains_key(http::header::CONTENT_TYPE) {
            map.insert(
                http::header::CONTENT_TYPE,
                http::HeaderValue::from_static("application/json"),
            );
        }
        let Ok(method) = http::Method::from_bytes(method.as_bytes()) else {
            return Ended::failed(format!("`{method}` is not an HTTP method"));
        };
        let limit = Duration::try_from(timeout).unwrap_or(Duration::from_secs(300));
        let sent = tokio::time::timeout(
            limit,
            self.outbound
                .send(method, url, &map, body.unwrap_or_default().into_bytes()),
        )
        .await;
        match sent {
            Err(_) => Ended::failed(format!(
                "no answer within {}",
                crate::stabilize::spoken(timeout)
            )),
            Ok(Err(e)) => Ended::failed(e.message().to_string()),
            Ok(Ok(answer)) => Ended {
                ok: answer.status.is_success(),
                exit_code: None,
                output: Some(format!(
                    "HTTP {}\n{}",
                    answer.status.as_u16(),
                    answer.body_excerpt
                )),
                error: (!answer.status.is_success())
                    .then(|| format!("the server answered {}", answer.status)),
            },
        }
    }

    async fn finish_run(
        &self,
        run: ActionRun,
        ok: bool,
        exit_code: Option<i32>,
        output: String,
        error: Option<String>,
        took: Duration,
    ) -> Result<(), EngineError> {
        let now = self.clock.now();
        let id = run.id;
        let number = run.incident;
        let status = if ok {
            RunStatus::Succeeded
        } else {
            RunStatus::Failed
        };
        let rollback = ok && run.action == runbook::ROLLBACK;
        let audit = firebreak_store::AuditDraft {
            actor: run.requested_by.clone(),
            action: format!("action.{}", status.as_str()),
            target: format!("{number}: run/{id}"),
            at: now,
            source: None,
            break_glass: run.break_glass,
        };
        self.write(3, || {
            let (audit, output, error) = (audit.clone(), output.clone(), error.clone());
            move |tx| {
                Box::pin(async move {
                    let Some(mut r) = tx.lock_run(id).await? else {
                        return Ok(());
                    };
                    // Marked interrupted meanwhile (a heartbeat was late)? The end it had wins.
                    r.status = status;
                    r.finished_at = Some(now);
                    r.exit_code = exit_code;
                    r.output = output.clone();
                    r.error = error;
                    tx.save_run(&r).await?;
                    let mut events = vec![TimelineEvent::ActionFinished {
                        run: id,
                        action: r.action.clone(),
                        status: status.as_str().to_string(),
                        exit_code,
                        duration_ms: Some(took.as_millis() as i64),
                        output_tail: tail(&output, TAIL),
                    }];
                    if rollback && let Some(mut incident) = tx.lock_incident(number).await? {
                        let ticks = incident.tick_rollback_considered(&r.requested_by, now);
                        if !ticks.is_empty() {
                            incident.version += 1;
                            incident.updated_at = now;
                            tx.update_incident(&incident, vec![]).await?;
                            events.extend(ticks);
                        }
                    }
                    tx.append_timeline(
                        number,
                        crate::incidents::drafts(&Actor::system().0, now, events),
                    )
                    .await?;
                    tx.audit(audit).await?;
                    Ok(())
                })
            }
        })
        .await?;
        if rollback {
            self.record_rollback(&run).await;
        }
        Ok(())
    }

    /// A rollback that succeeded becomes a deploy of the version rolled back to.
    async fn record_rollback(&self, run: &ActionRun) {
        let Ok(incident) = self.incident(run.incident).await else {
            return;
        };
        let Ok(covering) = self.incident_runbooks(run.incident).await else {
            return;
        };
        let Some(offer) = covering.rollback else {
            return;
        };
        let who = Principal {
            actor: Actor(run.requested_by.clone()),
            user: Name::parse(&run.requested_by).ok(),
            role: AccessRole::Responder,
            source: Some(format!("action run {}", run.id)),
            break_glass: run.break_glass,
        };
        let new = NewDeployment {
            service: offer.service.clone(),
            version: offer.previous_version.clone(),
            previous_version: Some(offer.version.clone()),
            commit: None,
            author: Some(run.requested_by.clone()),
            link: None,
            at: None,
            summary: Some(format!(
                "Rollback of {} on {} (action run {})",
                offer.service, incident.number, run.id
            )),
            rollback: true,
            rolls_back: Some(offer.deploy),
            incident: Some(run.incident),
            drill: incident.drill,
        };
        if let Err(e) = self.record_deployment(&who, new, "firebreak").await {
            tracing::warn!(error = %e, run = run.id, "could not record the rollback as a deploy");
        }
    }

    /// Records a command someone ran from their own machine (`firebreak exec`).
    #[allow(clippy::too_many_arguments)]
    pub async fn record_command(
        &self,
        who: &Principal,
        number: IncidentNumber,
        argv: Vec<String>,
        exit_code: i32,
        duration_ms: i64,
        output_tail: String,
        host: Option<String>,
    ) -> Result<(), EngineError> {
        if argv.is_empty() || argv.len() > 100 {
            return Err(invalid(
                "argv",
                "must hold the command and at most 99 arguments",
            ));
        }
        self.incident(number).await?;
        let now = self.clock.now();
        // The audit row names the program only: arguments can hold what the CLI could not
        // recognise as a secret, and audit rows are kept for ever.
        let audit = self.audit(
            who,
            "command.run",
            format!(
                "{number}: {}",
                argv[0].chars().take(200).collect::<String>()
            ),
        );
        let event = TimelineEvent::CommandRun {
            argv,
            exit_code,
            duration_ms,
            output_tail: tail(&output_tail, TAIL),
            host,
        };
        let actor = who.actor.0.clone();
        self.write(2, || {
            let (audit, event, actor) = (audit.clone(), event.clone(), actor.clone());
            move |tx| {
                Box::pin(async move {
                    tx.append_timeline(number, crate::incidents::drafts(&actor, now, vec![event]))
                        .await?;
                    tx.audit(audit).await
                })
            }
        })
        .await?;
        Ok(())
    }

    /// Marks runs whose process stopped as `interrupted` and refuses approvals that came too
    /// late. Never starts anything: at most once.
    pub async fn sweep_runs(&self) -> Result<(), EngineError> {
        let now = self.clock.now();
        for run in self.store.stale_runs(now - STALE_AFTER, now).await? {
            let id = run.id;
            let number = run.incident;
            let audit = firebreak_store::AuditDraft {
                actor: Actor::system().0,
                action: "action.interrupted".into(),
                target: format!("{number}: run/{id}"),
                at: now,
                source: None,
                break_glass: None,
            };
            self.write(2, || {
                let audit = audit.clone();
                move |tx| {
                    Box::pin(async move {
                        let Some(mut r) = tx.lock_run(id).await? else {
                            return Ok(());
                        };
                        let event = if r.status == RunStatus::Running
                            && r.heartbeat_at.is_none_or(|h| h < now - STALE_AFTER)
                        {
                            r.status = RunStatus::Interrupted;
                            r.finished_at = Some(now);
                            r.error = Some(
                                "Firebreak stopped while this ran, and stopped its processes with it; it may have done part of its work, and it is not run again by itself".into(),
                            );
                            TimelineEvent::ActionFinished {
                                run: id,
                                action: r.action.clone(),
                                status: "interrupted".into(),
                                exit_code: None,
                                duration_ms: None,
                                output_tail: tail(&r.output, TAIL),
                            }
                        } else if r.approval_expired(now) {
                            r.status = RunStatus::Refused;
                            r.finished_at = Some(now);
                            r.error = Some("nobody approved it in time".into());
                            TimelineEvent::ActionRefused {
                                run: id,
                                action: r.action.clone(),
                                why: "nobody approved it in time".into(),
                            }
                        } else {
                            return Ok(());
                        };
                        let refused = matches!(event, TimelineEvent::ActionRefused { .. });
                        tx.save_run(&r).await?;
                        tx.append_timeline(
                            number,
                            vec![TimelineDraft {
                                at: now,
                                actor: Actor::system().0,
                                event,
                            }],
                        )
                        .await?;
                        let mut audit = audit;
                        if refused {
                            audit.action = "action.refused".into();
                        }
                        tx.audit(audit).await?;
                        Ok(())
                    })
                }
            })
            .await?;
        }
        Ok(())
    }
}

/// Refuses the runs of `number` still waiting for approval, in the unit of work that resolves
/// it: a rollback approved an hour after the incident ended must not run.
pub(crate) async fn refuse_waiting_in(
    tx: &mut (dyn firebreak_store::Tx + '_),
    number: IncidentNumber,
    now: Timestamp,
) -> firebreak_store::Result<()> {
    let waiting = tx.lock_waiting_runs(number).await?;
    let mut events = Vec::new();
    for mut r in waiting {
        r.status = RunStatus::Refused;
        r.finished_at = Some(now);
        r.error = Some("the incident was resolved before anyone approved it".into());
        tx.save_run(&r).await?;
        events.push(TimelineDraft {
            at: now,
            actor: Actor::system().0,
            event: TimelineEvent::ActionRefused {
                run: r.id,
                action: r.action.clone(),
                why: "the incident was resolved before anyone approved it".into(),
            },
        });
    }
    if !events.is_empty() {
        tx.append_timeline(number, events).await?;
    }
    Ok(())
}

/// How a run ended.
struct Ended {
    ok: bool,
    exit_code: Option<i32>,
    /// Output to add after what was captured.
    output: Option<String>,
    error: Option<String>,
}

impl Ended {
    fn failed(error: String) -> Ended {
        Ended {
            ok: false,
            exit_code: None,
            output: None,
            error: Some(error),
        }
    }
}

/// Appends what `reader` yields to `output`, keeping at most twice the cap in memory.
async fn capture(mut reader: impl tokio::io::AsyncRead + Unpin, output: Arc<Mutex<String>>) {
    let mut buf = vec![0u8; 8192];
    loop {
        match reader.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => {
                let mut out = output.lock().unwrap_or_else(|p| p.into_inner());
                out.push_str(&String::from_utf8_lossy(&buf[..n]));
                if out.len() > 2 * OUTPUT_CAP {
                    // Cut at a line's start, so no secret is left in pieces that redaction
                    // would no longer recognise.
                    let kept = from_line_start(&tail(&out, OUTPUT_CAP + 4096));
                    *out = kept;
                }
            }
        }
    }
}

/// The shell that leads an action's process group: it runs the action in the background and
/// waits for it, and on SIGTERM kills its whole group. The kernel sends it SIGTERM when
/// Firebreak dies (`PR_SET_PDEATHSIG`), even by SIGKILL, so an action never outlives the server
/// that would record it: a run marked `interrupted` after a restart is really over, and the
/// next run of the same action cannot start beside it.
const GROUP_LEADER: &str = r#"trap 'kill -KILL 0' TERM; "$@" & wait $!"#;

/// Whether `program` can be started: a path to an executable file, or a name found on `path`.
fn findable(program: &str, path: &str) -> bool {
    use std::os::unix::fs::PermissionsExt as _;
    let runnable = |p: &std::path::Path| {
        std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    };
    if program.contains('/') {
        return runnable(std::path::Path::new(program));
    }
    std::env::split_paths(path).any(|dir| runnable(&dir.join(program)))
}

/// Runs argv in its own process group with exactly `env` (and `PATH`), and kills the whole
/// group at the timeout, or when Firebreak dies.
async fn run_command(
    argv: Vec<String>,
    env: Vec<(String, String)>,
    cwd: Option<String>,
    timeout: SignedDuration,
    output: Arc<Mutex<String>>,
) -> Ended {
    let Some((program, args)) = argv.split_first() else {
        return Ended::failed("the command is empty".into());
    };
    let path = std::env::var("PATH").unwrap_or_else(|_| "/usr/local/bin:/usr/bin:/bin".into());
    if !findable(program, &path) {
        return Ended::failed(format!(
            "could not start `{program}`: no such executable (on PATH {path})"
        ));
    }
    let server = std::process::id() as libc::pid_t;
    let mut cmd = tokio::process::Command::new("/bin/sh");
    cmd.arg("-c")
        .arg(GROUP_LEADER)
        .arg(program)
        .arg(program)
        .args(args)
        .env_clear()
        .env("PATH", &path)
        .envs(env)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true);
    if let Some(dir) = &cwd {
        cmd.current_dir(dir);
    }
    // SAFETY: only async-signal-safe calls between fork and exec: prctl, getppid, _exit.
    unsafe {
        cmd.pre_exec(move || {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            // Firebreak died between the fork and the prctl: nothing would stop the action.
            if libc::getppid() != server {
                libc::_exit(1);
            }
            Ok(())
        });
    }
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => return Ended::failed(format!("could not start `{program}`: {e}")),
    };
    let pid = child.id();
    let out = child
        .stdout
        .take()
        .map(|s| tokio::spawn(capture(s, output.clone())));
    let err = child
        .stderr
        .take()
        .map(|s| tokio::spawn(capture(s, output.clone())));
    let limit = Duration::try_from(timeout).unwrap_or(Duration::from_secs(300));
    let waited = tokio::time::timeout(limit, child.wait()).await;
    let ended = match waited {
        Ok(Ok(status)) => Ended {
            ok: status.success(),
            exit_code: status.code(),
            output: None,
            error: (!status.success()).then(|| match status.code() {
                Some(c) => format!("exited with {c}"),
                None => "killed by a signal".to_string(),
            }),
        },
        Ok(Err(e)) => Ended::failed(format!("could not wait for `{program}`: {e}")),
        Err(_) => {
            if let Some(pid) = pid {
                kill_group(pid);
            }
            let _ = child.wait().await;
            Ended::failed(format!(
                "timed out after {}; its process group was killed",
                crate::stabilize::spoken(timeout)
            ))
        }
    };
    // The readers end when every process holding the pipes has gone.
    for reader in [out, err].into_iter().flatten() {
        let _ = tokio::time::timeout(Duration::from_secs(2), reader).await;
    }
    ended
}

/// Kills every process in the group `pid` leads.
fn kill_group(pid: u32) {
    // SAFETY: kill(2) with a negative pid signals a process group; it touches no memory.
    let rc = unsafe { libc::kill(-(pid as libc::pid_t), libc::SIGKILL) };
    if rc != 0 {
        tracing::warn!(pid, "could not kill an action's process group");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_redacted_in_every_spelling() {
        let mut r = Redactor::default();
        r.add("s3cr3t/+token value");
        let b64 = base64::engine::general_purpose::STANDARD.encode("s3cr3t/+token value");
        let url = percent_encoded("s3cr3t/+token value", false);
        let form = percent_encoded("s3cr3t/+token value", true);
        let text = format!("raw s3cr3t/+token value b64 {b64} url {url} form {form}");
        let out = r.redact(&text);
        assert!(!out.contains("s3cr3t"), "{out}");
        assert!(!out.contains(&b64), "{out}");
        assert!(!out.contains(&url), "{out}");
        assert!(!out.contains(&form), "{out}");
        assert_eq!(out.matches("[redacted]").count(), 4, "{out}");
    }

    #[test]
    fn a_secret_inside_a_longer_encoded_value_is_redacted() {
        let secret = "CANARYkubeSECRET42";
        let mut r = Redactor::default();
        r.add(secret);
        for around in [
            format!("user:{secret}"),
            format!("x{secret}"),
            format!("{{\"password\":\"{secret}\",\"user\":\"a\"}}"),
            format!("ab{secret}c"),
        ] {
            for engine in [
                base64::engine::general_purpose::STANDARD,
                base64::engine::general_purpose::URL_SAFE_NO_PAD,
            ] {
                let encoded = engine.encode(around.as_bytes());
                let out = r.redact(&format!("Authorization: Basic {encoded}"));
                assert!(out.contains("[redacted]"), "{around}: {out}");
                // The characters redacted cover the secret but for its edge bytes.
                let before = "Authorization: Basic ".len() + encoded.len();
                let removed = before + "[redacted]".len() - out.len();
                assert!(removed >= (secret.len() - 3) * 4 / 3, "{around}: {out}");
            }
        }
        // Ordinary words are left alone.
        assert_eq!(r.redact("all good here"), "all good here");
    }

    #[test]
    fn the_shown_line_quotes_what_a_shell_would_split() {
        let shown = Shown::Command {
            argv: vec!["kubectl".into(), "deployment/api --all".into()],
            env: vec!["KUBECONFIG=<secret kubeconfig>".into()],
            cwd: None,
        };
        assert_eq!(
            shown_line(&shown),
            "KUBECONFIG=<secret kubeconfig> kubectl 'deployment/api --all'"
        );
        assert_eq!(tail("héllo", 4), "llo");
    }
}
