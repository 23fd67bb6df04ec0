//! The public status page: its components (from `firebreak.yaml` and the API), status updates
//! on incidents, and the in-memory snapshot the public page and its JSON are served from.
//!
//! The snapshot ([`StatusView`]) is rebuilt when something public may have changed: the change
//! feed marks it stale (components, any incident), and the next reader rebuilds it with a fixed
//! number of reads. On PostgreSQL the feed carries other instances' changes too, so every
//! instance's snapshot follows. Maintenance moves from scheduled to in progress to completed by
//! the clock alone, so a snapshot is stale from the next such boundary (by the injected
//! clock), and everyone waits for its rebuild as after a change. A snapshot is also rebuilt
//! once it is a minute old; while one reader does that, the others keep reading the
//! minute-old view instead of waiting.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use firebreak_domain::status_page::{
    Audience, Component, ComponentStatus, DayStatus, Impact, PostedUpdate, PublicIncident,
    PublicMaintenance, PublicStatus, StatusUpdate, component_statuses, components_of,
    daily_history, fill_template, group_status, indicator,
};
use firebreak_domain::{Actor, Config, IncidentNumber, Name, TimelineEvent};
use firebreak_store::{StoreError, TimelineEntry};
use jiff::{SignedDuration, Timestamp};
use sha2::{Digest, Sha256};

use crate::incidents::drafts;
use crate::{EngineError, Firebreak, Principal, invalid};

/// How far back the page shows history.
pub const HISTORY: SignedDuration = SignedDuration::from_hours(90 * 24);
/// A snapshot older than this is rebuilt even when nothing was written.
const MAX_AGE: SignedDuration = SignedDuration::from_secs(60);
/// After a failed rebuild, how long readers get the last view without trying again.
const FAILED_BACKOFF: std::time::Duration = std::time::Duration::from_secs(5);
/// The checklist item the first public update ticks.
const CHECKLIST_ITEM: &str = "status page updated";

/// A public id of 12 hex digits, stable for what it names. For things named in public
/// (components, groups, the page); what has an internal number uses [`PublicIds`].
pub fn public_id(kind: &str, key: &str) -> String {
    let digest = Sha256::digest(format!("firebreak-status:{kind}:{key}"));
    hex::encode(&digest[..6])
}

/// The public ids of things with internal numbers: incidents, their updates and scheduled
/// maintenance. Each is an HMAC under a key Firebreak keeps in the store, so the same on every
/// instance and across restarts, but nobody outside can tell an incident's number (nor how
/// many incidents there were, nor how many internal notes came between two updates) from it.
#[derive(Clone, PartialEq, Eq)]
pub struct PublicIds {
    key: Arc<Vec<u8>>,
}

impl std::fmt::Debug for PublicIds {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PublicIds(..)")
    }
}

impl PublicIds {
    pub fn new(key: Arc<Vec<u8>>) -> Self {
        PublicIds { key }
    }

    fn of(&self, kind: &str, key: &str) -> String {
        let mac = crate::paging::links::mac(
            &self.key,
            format!("firebreak-status:{kind}:{key}").as_bytes(),
        );
        hex::encode(&mac[..6])
    }

    pub fn incident(&self, number: IncidentNumber) -> String {
        self.of("incident", &number.0.to_string())
    }

    pub fn update(&self, number: IncidentNumber, seq: i64) -> String {
        self.of("update", &format!("{}:{seq}", number.0))
    }

    pub fn maintenance(&self, id: i64) -> String {
        self.of("maintenance", &id.to_string())
    }

    pub fn maintenance_update(&self, id: i64) -> String {
        self.of("maintenance-update", &id.to_string())
    }
}

/// A component's public id: it follows its name.
pub fn component_id(name: &str) -> String {
    public_id("component", name)
}

/// A component as shown, with the status it shows now.
#[derive(Debug, Clone, PartialEq)]
pub struct ComponentView {
    pub component: Component,
    pub status: ComponentStatus,
    /// When what it shows last changed: its own changes, and what incidents and maintenance
    /// made it show (the stored `component.updated_at` knows only the first).
    pub updated_at: Timestamp,
    /// Its group's public id, if it has a group.
    pub group_id: Option<String>,
}

/// A group of components: shown as a component with `group: true`.
#[derive(Debug, Clone, PartialEq)]
pub struct GroupView {
    pub id: String,
    pub name: String,
    pub status: ComponentStatus,
    /// Its members' ids, in page order.
    pub members: Vec<String>,
    pub position: u32,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// A component an update changed: from what the incident showed before it to after it.
#[derive(Debug, Clone, PartialEq)]
pub struct AffectedComponent {
    pub id: String,
    pub name: String,
    pub old_status: ComponentStatus,
    pub new_status: ComponentStatus,
}

#[derive(Debug, Clone, PartialEq)]
pub struct UpdateView {
    pub id: String,
    pub status: PublicStatus,
    pub body: String,
    pub at: Timestamp,
    /// `None` when the update changed no component.
    pub affected: Option<Vec<AffectedComponent>>,
    pub notify: bool,
}

/// A public incident as the page shows it. Internal fields stay out: only the public name,
/// the public status, the impact, the components and the public updates.
#[derive(Debug, Clone, PartialEq)]
pub struct IncidentView {
    pub id: String,
    pub name: String,
    pub status: PublicStatus,
    pub impact: Impact,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub started_at: Timestamp,
    pub monitoring_at: Option<Timestamp>,
    pub resolved_at: Option<Timestamp>,
    /// Public updates, newest first; never empty.
    pub updates: Vec<UpdateView>,
    /// The ids of its components, in page order.
    pub components: Vec<String>,
    /// Whether it is still unresolved on the page (its latest public update is not
    /// `resolved`), so it still sets its components and the indicator, whatever its status
    /// inside Firebreak.
    pub unresolved: bool,
}

/// What the page says now.
#[derive(Debug, Clone, PartialEq)]
pub struct StatusView {
    /// Bumped each time the snapshot is rebuilt; the edges key their caches on it.
    pub generation: u64,
    pub built_at: Timestamp,
    /// The next instant the clock alone changes what the page says (a maintenance starts or
    /// ends), if any: the snapshot is stale from then, however young.
    pub next_boundary: Option<Timestamp>,
    pub page: PageInfo,
    pub components: Vec<ComponentView>,
    pub groups: Vec<GroupView>,
    /// Newest first.
    pub incidents: Vec<IncidentView>,
    pub maintenances: Vec<PublicMaintenance>,
    pub indicator: Impact,
    pub description: &'static str,
    /// The days of the history, oldest first, as dates in the page's time zone.
    pub days: Vec<jiff::civil::Date>,
    /// Each component's history over `days`, by component id.
    pub history: BTreeMap<String, Vec<DayStatus>>,
    /// How incidents, updates and maintenance are named in public.
    pub ids: PublicIds,
}

#[derive(Debug, Clone, PartialEq)]
pub struct PageInfo {
    pub id: String,
    pub name: String,
    pub url: String,
    pub time_zone: String,
    pub logo_url: Option<String>,
    pub site_url: Option<String>,
    /// When anything shown last changed.
    pub updated_at: Timestamp,
}

impl StatusView {
    pub fn component(&self, id: &str) -> Option<&ComponentView> {
        self.components.iter().find(|c| c.component.id == id)
    }
}

/// The snapshot, how many changes it has seen, and the subscribe form's limit per address.
///
/// Every change bumps `changes`; a snapshot records the count it was built after. A reader
/// takes the snapshot only when no change came since, so a rebuild in progress never lets
/// anyone read the view from before it.
pub struct StatusPageCache {
    /// The view, with the change count read before it was built.
    current: RwLock<Option<(u64, Arc<StatusView>)>>,
    changes: AtomicU64,
    /// When a rebuild last failed: for a few seconds after, readers get the last view at once
    /// instead of each waiting on the database.
    failed_at: std::sync::Mutex<Option<std::time::Instant>>,
    generation: AtomicU64,
    rebuild: tokio::sync::Mutex<()>,
    /// 20 subscribe submissions an hour per client address.
    subscribe_limit: governor::DefaultKeyedRateLimiter<std::net::IpAddr>,
    /// 10 "report a problem" submissions an hour per client address.
    report_limit: governor::DefaultKeyedRateLimiter<std::net::IpAddr>,
    /// Confirmation emails to every address together, so the form cannot mail the world.
    confirm_limit: governor::DefaultDirectRateLimiter,
    /// When the form limits last forgot idle addresses.
    pruned_at: std::sync::Mutex<std::time::Instant>,
    /// The key of incidents', updates' and maintenance's public ids, once read.
    ids_key: RwLock<Option<Arc<Vec<u8>>>>,
}

/// Addresses the form limits hold before they forget the idle ones (at most once a minute).
const LIMIT_KEYS: usize = 10_000;
/// The name of the kept secret that keys public ids.
const IDS_KEY_NAME: &str = "status-page-ids";

impl Default for StatusPageCache {
    fn default() -> Self {
        let per_hour = governor::Quota::with_period(std::time::Duration::from_secs(180))
            .expect("a positive period")
            .allow_burst(std::num::NonZeroU32::new(20).expect("20 is not zero"));
        StatusPageCache {
            current: RwLock::new(None),
            changes: AtomicU64::new(1),
            failed_at: std::sync::Mutex::new(None),
            generation: AtomicU64::new(0),
            rebuild: tokio::sync::Mutex::new(()),
            subscribe_limit: governor::RateLimiter::keyed(per_hour),
            report_limit: governor::RateLimiter::keyed(
                governor::Quota::with_period(std::time::Duration::from_secs(360))
                    .expect("a positive period")
                    .allow_burst(std::num::NonZeroU32::new(10).expect("10 is not zero")),
            ),
            confirm_limit: governor::RateLimiter::direct(
                governor::Quota::with_period(std::time::Duration::from_secs(
                    crate::subscribers::CONFIRMATION_EVERY_SECS,
                ))
                .expect("a positive period")
                .allow_burst(
                    std::num::NonZeroU32::new(crate::subscribers::CONFIRMATION_BURST)
                        .expect("the burst is not zero"),
                ),
            ),
            pruned_at: std::sync::Mutex::new(std::time::Instant::now()),
            ids_key: RwLock::new(None),
        }
    }
}

impl StatusPageCache {
    /// Whether `ip` may submit the subscribe form now; if not, how long until it may. An
    /// IPv6 address counts with the rest of its /64.
    pub fn subscribe_allowed(&self, ip: std::net::IpAddr) -> Result<(), std::time::Duration> {
        self.allowed(&self.subscribe_limit, ip)
    }

    /// Whether `ip` may submit the "report a problem" form now; if not, how long until it may.
    pub fn report_allowed(&self, ip: std::net::IpAddr) -> Result<(), std::time::Duration> {
        self.allowed(&self.report_limit, ip)
    }

    /// Whether one more confirmation email may go now, to any address; if not, how long
    /// until one may.
    pub fn confirmation_allowed(&self) -> Result<(), std::time::Duration> {
        use governor::clock::Clock as _;
        self.confirm_limit.check().map_err(|not_until| {
            not_until.wait_time_from(governor::clock::DefaultClock::default().now())
        })
    }

    /// Forgets the addresses whose form limits have refilled, so the limits' memory follows
    /// the addresses seen in the last hour, not every address ever seen.
    pub fn forget_idle(&self) {
        for limit in [&self.subscribe_limit, &self.report_limit] {
            limit.retain_recent();
            limit.shrink_to_fit();
        }
        *self.pruned_at.lock().unwrap_or_else(|p| p.into_inner()) = std::time::Instant::now();
    }

    fn allowed(
        &self,
        limit: &governor::DefaultKeyedRateLimiter<std::net::IpAddr>,
        ip: std::net::IpAddr,
    ) -> Result<(), std::time::Duration> {
        use governor::clock::Clock as _;
        // Many addresses within the hour (a spread of IPv6 networks): forget the idle ones
        // sooner than the janitor would, at most once a minute.
        if limit.len() > LIMIT_KEYS {
            let due = self
                .pruned_at
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .elapsed()
                > std::time::Duration::from_secs(60);
            if due {
                self.forget_idle();
            }
        }
        let group = firebreak_domain::address::source_group(ip);
        limit.check_key(&group).map_err(|not_until| {
            not_until.wait_time_from(governor::clock::DefaultClock::default().now())
        })
    }
}

impl StatusPageCache {
    /// Something public may have changed: the next reader rebuilds.
    pub fn changed(&self) {
        self.changes.fetch_add(1, Ordering::AcqRel);
    }

    fn fresh(&self, now: Timestamp) -> Option<Arc<StatusView>> {
        self.unchanged(now)
            .filter(|current| now.duration_since(current.built_at) < MAX_AGE)
    }

    /// The view when only its age makes it stale: nothing public changed since it was built,
    /// and no maintenance started or ended since (the clock changed what the page says, so
    /// nobody reads the view from before that either).
    fn unchanged(&self, now: Timestamp) -> Option<Arc<StatusView>> {
        let (seen, current) = self.current.read().expect("status cache lock").clone()?;
        (seen == self.changes.load(Ordering::Acquire)
            && current.next_boundary.is_none_or(|b| now < b))
        .then_some(current)
    }

    fn last(&self) -> Option<Arc<StatusView>> {
        self.current
            .read()
            .expect("status cache lock")
            .clone()
            .map(|(_, v)| v)
    }

    /// The last view, when a rebuild failed less than `FAILED_BACKOFF` ago (real time: it
    /// spares the database, and has nothing to do with what the page says).
    fn backing_off(&self) -> Option<Arc<StatusView>> {
        let failed = (*self.failed_at.lock().expect("status failure lock"))?;
        (failed.elapsed() < FAILED_BACKOFF)
            .then(|| self.last())
            .flatten()
    }
}

/// A component as a person gives it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ComponentInput {
    pub name: String,
    pub description: Option<String>,
    pub group: Option<String>,
    pub services: Vec<Name>,
}

/// A change to a component. `status: Some(None)` clears a status set by hand.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ComponentPatch {
    pub status: Option<Option<ComponentStatus>>,
    pub description: Option<Option<String>>,
    pub group: Option<Option<String>>,
    pub services: Option<Vec<Name>>,
}

/// An update as a person posts it: a body, or a template by status.
#[derive(Debug, Clone, PartialEq)]
pub struct UpdateInput {
    pub audience: Audience,
    pub status: Option<PublicStatus>,
    pub body: Option<String>,
    /// Fill the body from this status's template (the status too, when none is given).
    pub template: Option<PublicStatus>,
    pub components: BTreeMap<String, ComponentStatus>,
    pub notify: Option<bool>,
}

/// A posted update with its place on the timeline.
#[derive(Debug, Clone, PartialEq)]
pub struct Posted {
    pub incident: IncidentNumber,
    pub entry: TimelineEntry,
    pub update: StatusUpdate,
    /// Whether the first public update ticked the checklist.
    pub ticked: bool,
}

impl Firebreak {
    /// What the public page says now, rebuilt first if anything changed.
    pub async fn status_view(&self) -> Result<Arc<StatusView>, EngineError> {
        let now = self.clock.now();
        if let Some(v) = self.status.fresh(now) {
            return Ok(v);
        }
        if let Some(v) = self.status.backing_off() {
            return Ok(v);
        }
        // Only a minute old, with nothing changed: one reader rebuilds, and the others keep
        // reading the view they have meanwhile, so a busy page never stalls every minute.
        // After a change or a maintenance boundary, everyone waits for the rebuild: nobody
        // reads the view from before.
        let _one = match self.status.unchanged(now) {
            Some(v) => match self.status.rebuild.try_lock() {
                Ok(one) => one,
                Err(_) => return Ok(v),
            },
            None => self.status.rebuild.lock().await,
        };
        if let Some(v) = self.status.fresh(now) {
            return Ok(v);
        }
        if let Some(v) = self.status.backing_off() {
            return Ok(v);
        }
        // Read before the store is, so a change committed while this rebuild reads leaves the
        // new view behind the count, and the next reader rebuilds again.
        let seen = self.status.changes.load(Ordering::Acquire);
        match self.build_status_view(now).await {
            Ok(view) => {
                let view = Arc::new(view);
                *self.status.current.write().expect("status cache lock") =
                    Some((seen, view.clone()));
                *self.status.failed_at.lock().expect("status failure lock") = None;
                Ok(view)
            }
            Err(e) => {
                *self.status.failed_at.lock().expect("status failure lock") =
                    Some(std::time::Instant::now());
                // A page that is a little stale is better than none while the database is away.
                match self.status.last() {
                    Some(last) => {
                        tracing::warn!(error = %e, "could not rebuild the status page; serving the last snapshot");
                        Ok(last)
                    }
                    None => Err(e),
                }
            }
        }
    }

    async fn build_status_view(&self, now: Timestamp) -> Result<StatusView, EngineError> {
        let components = self.store.list_components().await?;
        let since = now - HISTORY;
        let updates = self.store.status_updates_since(since).await?;
        let mut by_incident: BTreeMap<IncidentNumber, Vec<PostedUpdate>> = BTreeMap::new();
        for (number, entry) in updates {
            if let TimelineEvent::StatusUpdate(update) = entry.event
                && update.audience == Audience::Public
            {
                by_incident.entry(number).or_default().push(PostedUpdate {
                    seq: entry.seq,
                    at: entry.at,
                    update,
                });
            }
        }
        let mut incidents = Vec::with_capacity(by_incident.len());
        for (number, updates) in by_incident {
            let Some(incident) = self.store.get_incident(number).await? else {
                continue;
            };
            if incident.drill {
                continue;
            }
            incidents.push(PublicIncident { incident, updates });
        }
        // One cancelled before it started was dropped: it ends where it starts, and shows nowhere.
        let maintenances: Vec<PublicMaintenance> = self
            .store
            .list_scheduled_maintenances(since)
            .await?
            .into_iter()
            .filter(|m| m.ends_at > m.starts_at)
            .collect();
        let config = &self.config;
        let statuses = component_statuses(
            &components,
            &incidents,
            &maintenances,
            |s| config.public_effect(s),
            now,
        );
        let (days, spans) = history_days(&config.status_page.time_zone, now);
        let mut history: BTreeMap<String, Vec<DayStatus>> = components
            .iter()
            .map(|c| {
                (
                    c.id.clone(),
                    daily_history(
                        c,
                        &incidents,
                        &maintenances,
                        |s| config.public_effect(s),
                        &spans,
                        now,
                    ),
                )
            })
            .collect();
        // The uptime checks linked to a component count in its bars, by UTC day.
        if let Some(first) = days.first() {
            for (component, day) in self.store.component_check_days(*first).await? {
                if let Some(h) = history.get_mut(&component)
                    && let Some(i) = days.iter().position(|d| *d == day.day)
                    && let Some(slot) = h.get_mut(i)
                {
                    *slot = slot.with_checks(day.successes, day.total);
                }
            }
        }
        let ids = self.public_ids().await?;
        let mut view = assemble(
            config,
            ids,
            &self.status_page_url(),
            components,
            &statuses,
            incidents,
            maintenances,
            self.status.generation.fetch_add(1, Ordering::AcqRel) + 1,
            now,
        );
        view.days = days;
        view.history = history;
        Ok(view)
    }

    /// The key of public ids, kept in the store so every instance and every restart gives the
    /// same ids; made on first use. Its own secret: rotating the key of acknowledge links
    /// does not rename every incident on the page.
    async fn public_ids(&self) -> Result<PublicIds, EngineError> {
        if let Some(key) = self
            .status
            .ids_key
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
        {
            return Ok(PublicIds::new(key));
        }
        let fresh = hex::encode(crate::random_bytes::<32>()?);
        let now = self.clock.now();
        let kept = self
            .write(1, || {
                let fresh = fresh.clone();
                move |tx| Box::pin(async move { tx.keep_secret(IDS_KEY_NAME, &fresh, now).await })
            })
            .await?;
        let key = Arc::new(kept.into_bytes());
        *self
            .status
            .ids_key
            .write()
            .unwrap_or_else(|p| p.into_inner()) = Some(key.clone());
        Ok(PublicIds::new(key))
    }

    /// Where the public page lives: `status_page.url`, else `server.public_url` + `/status`.
    pub fn status_page_url(&self) -> String {
        if let Some(url) = &self.config.status_page.url {
            return url.trim_end_matches('/').to_string();
        }
        match &self.config.server.public_url {
            Some(base) => format!("{}/status", base.trim_end_matches('/')),
            None => "/status".to_string(),
        }
    }

    /// Makes the components in `firebreak.yaml` exist, keeping what people set by hand.
    pub async fn sync_components(&self, config: &Config) -> Result<(), EngineError> {
        let now = self.clock.now();
        let components: Vec<Component> = config
            .status_page
            .components
            .iter()
            .enumerate()
            .map(|(i, c)| Component {
                id: component_id(&c.name),
                name: c.name.clone(),
                description: c.description.clone().filter(|d| !d.trim().is_empty()),
                group: c.group.clone(),
                services: c.services.clone(),
                position: i as u32 + 1,
                manual: None,
                from_config: true,
                created_at: now,
                updated_at: now,
            })
            .collect();
        let rows = components.len().max(1);
        self.write(rows, || {
            let components = components.clone();
            move |tx| Box::pin(async move { tx.sync_components(components).await })
        })
        .await?;
        self.status.changed();
        Ok(())
    }

    pub async fn list_components(&self) -> Result<Vec<ComponentView>, EngineError> {
        Ok(self.status_view().await?.components.clone())
    }

    async fn check_component_services(&self, services: &[Name]) -> Result<(), EngineError> {
        for s in services {
            if self.store.get_service(s).await?.is_none() {
                return Err(invalid(
                    "services",
                    format!(
                        "there is no service `{s}`; add it under services: in firebreak.yaml, or POST /api/v1/services"
                    ),
                ));
            }
        }
        Ok(())
    }

    pub async fn create_component(
        &self,
        who: &Principal,
        input: ComponentInput,
    ) -> Result<ComponentView, EngineError> {
        self.check_component_services(&input.services).await?;
        let now = self.clock.now();
        let existing = self.store.list_components().await?;
        if let Some(g) = &input.group
            && existing.iter().any(|c| &c.name == g)
        {
            return Err(invalid(
                "group",
                format!("`{g}` is a component; a group and a component cannot share a name"),
            ));
        }
        if existing
            .iter()
            .any(|c| c.group.as_deref() == Some(input.name.as_str()))
        {
            return Err(invalid(
                "name",
                format!(
                    "`{}` is the name of a group; a group and a component cannot share a name",
                    input.name
                ),
            ));
        }
        let component = Component {
            id: component_id(&input.name),
            name: input.name,
            description: input.description.filter(|d| !d.trim().is_empty()),
            group: input.group,
            services: dedup(input.services),
            position: existing.iter().map(|c| c.position).max().unwrap_or(0) + 1,
            manual: None,
            from_config: false,
            created_at: now,
            updated_at: now,
        };
        component.check().map_err(|e| invalid(e.field, e.message))?;
        let audit = self.audit(who, "status_page.component.create", component.name.clone());
        let stored = component.clone();
        self.write(1, || {
            let (c, audit) = (stored.clone(), audit.clone());
            move |tx| {
                Box::pin(async move {
                    tx.create_component(&c).await?;
                    tx.audit(audit).await
                })
            }
        })
        .await?;
        self.status.changed();
        self.component_view(&component.id).await
    }

    async fn component_view(&self, id: &str) -> Result<ComponentView, EngineError> {
        self.status_view()
            .await?
            .component(id)
            .cloned()
            .ok_or_else(|| no_component(id))
    }

    pub async fn update_component(
        &self,
        who: &Principal,
        id: &str,
        patch: ComponentPatch,
    ) -> Result<ComponentView, EngineError> {
        if let Some(services) = &patch.services {
            self.check_component_services(services).await?;
        }
        let now = self.clock.now();
        let audit = self.audit(who, "status_page.component.update", id.to_string());
        let id = id.to_string();
        let outcome = self
            .write(1, || {
                let (patch, audit, id) = (patch.clone(), audit.clone(), id.clone());
                move |tx| {
                    Box::pin(async move {
                        let Some(mut c) = tx.lock_component(&id).await? else {
                            return Ok(Err(no_component(&id)));
                        };
                        if let Some(status) = patch.status {
                            c.manual = status;
                        }
                        if let Some(d) = patch.description {
                            c.description = d.filter(|d| !d.trim().is_empty());
                        }
                        if let Some(g) = patch.group {
                            c.group = g.filter(|g| !g.trim().is_empty());
                        }
                        if let Some(s) = patch.services {
                            c.services = dedup(s);
                        }
                        if let Err(e) = c.check() {
                            return Ok(Err(invalid(e.field, e.message)));
                        }
                        c.updated_at = now;
                        tx.save_component(&c).await?;
                        tx.audit(audit).await?;
                        Ok(Ok(()))
                    })
                }
            })
            .await?;
        outcome?;
        self.status.changed();
        self.component_view(&id).await
    }

    /// Removes a component made through the API (admins). One declared in `firebreak.yaml`
    /// would come back at the next start, so it is refused: it is removed from the file.
    pub async fn delete_component(&self, who: &Principal, id: &str) -> Result<(), EngineError> {
        let audit = self.audit(who, "status_page.component.delete", id.to_string());
        let id = id.to_string();
        let outcome = self
            .write(1, || {
                let (audit, id) = (audit.clone(), id.clone());
                move |tx| {
                    Box::pin(async move {
                        let Some(c) = tx.lock_component(&id).await? else {
                            return Ok(Err(no_component(&id)));
                        };
                        if c.from_config {
                            return Ok(Err(EngineError::Conflict(format!(
                                "component `{}` is declared in firebreak.yaml; remove it from status_page.components there instead",
                                c.name
                            ))));
                        }
                        tx.delete_component(&id).await?;
                        tx.audit(audit).await?;
                        Ok(Ok(()))
                    })
                }
            })
            .await
            .map_err(|e| match e {
                StoreError::NotFound => no_component(&id),
                other => other.into(),
            })?;
        outcome?;
        self.status.changed();
        Ok(())
    }

    /// The incident's public updates so far, oldest first.
    async fn public_updates_of(
        &self,
        number: IncidentNumber,
        since: Timestamp,
    ) -> Result<Vec<StatusUpdate>, EngineError> {
        Ok(self
            .store
            .status_updates_since(since)
            .await?
            .into_iter()
            .filter(|(n, _)| *n == number)
            .filter_map(|(_, e)| match e.event {
                TimelineEvent::StatusUpdate(u) if u.audience == Audience::Public => Some(u),
                _ => None,
            })
            .collect())
    }

    /// The names of the components an incident touches, for templates.
    async fn component_names_for(
        &self,
        incident: &firebreak_domain::Incident,
        explicit: &BTreeMap<String, ComponentStatus>,
    ) -> Result<Vec<String>, EngineError> {
        let components = self.store.list_components().await?;
        Ok(components
            .iter()
            .filter(|c| {
                explicit.contains_key(&c.name)
                    || incident.services.iter().any(|s| c.services.contains(s))
            })
            .map(|c| c.name.clone())
            .collect())
    }

    /// The body a template gives an update of `status` on `incident`.
    pub async fn template_body(
        &self,
        incident: &firebreak_domain::Incident,
        status: PublicStatus,
        explicit: &BTreeMap<String, ComponentStatus>,
    ) -> Result<String, EngineError> {
        // The components earlier public updates named count too.
        let mut named = explicit.clone();
        for u in self
            .public_updates_of(incident.number, incident.declared_at)
            .await?
        {
            named.extend(u.components);
        }
        let names = self.component_names_for(incident, &named).await?;
        Ok(fill_template(
            self.config.status_page.template(status),
            &names,
        ))
    }

    /// Posts a status update on an incident: public (the status page) or internal. The first
    /// public update ticks the "status page updated" checklist item. Every update is on the
    /// timeline and counts for the severity's update cadence.
    pub async fn post_status_update(
        &self,
        who: &Principal,
        number: IncidentNumber,
        input: UpdateInput,
    ) -> Result<Posted, EngineError> {
        let incident = self.incident(number).await?;
        let earlier = self.public_updates_of(number, incident.declared_at).await?;
        let current = earlier.iter().rev().find_map(|u| u.status);
        // A template gives a public update its status too; an internal one has none.
        let status = match input.audience {
            Audience::Public => input.status.or(input.template),
            Audience::Internal => input.status,
        };
        let body = match (&input.body, input.template) {
            (Some(b), _) if !b.trim().is_empty() => b.clone(),
            (_, Some(t)) => self.template_body(&incident, t, &input.components).await?,
            _ => {
                return Err(invalid(
                    "body",
                    format!(
                        "is required: say what people should know, or name a template (one of {})",
                        PublicStatus::expected()
                    ),
                ));
            }
        };
        let components = self.store.list_components().await?;
        let names: Vec<&str> = components.iter().map(|c| c.name.as_str()).collect();
        let update = StatusUpdate {
            audience: input.audience,
            status,
            body,
            components: input.components,
            notify: input.notify.unwrap_or(input.audience == Audience::Public),
        }
        .check(&incident, current, &names)
        .map_err(|e| invalid(e.field, e.message))?;
        let now = self.clock.now();
        let actor = who.actor.0.clone();
        let audit = self.audit(
            who,
            &format!("incident.status_update.{}", update.audience.as_str()),
            number.to_string(),
        );
        let posted = update.clone();
        let app = self.clone();
        let (entry, ticked) = self
            .write(2, || {
                let (update, actor, audit, app) =
                    (posted.clone(), actor.clone(), audit.clone(), app.clone());
                move |tx| {
                    Box::pin(async move {
                        let mut incident = tx
                            .lock_incident(number)
                            .await?
                            .ok_or(StoreError::NotFound)?;
                        let public = update.audience == Audience::Public;
                        let notify = update.notify;
                        let mut events = vec![TimelineEvent::StatusUpdate(update)];
                        let posts = app.comms_news(&incident, &[], &events, &actor, now);
                        if !posts.is_empty() {
                            tx.enqueue(posts).await?;
                        }
                        let mut ticks = Vec::new();
                        if public {
                            for item in incident.checklist.iter_mut().filter(|i| {
                                !i.done && i.text.trim().eq_ignore_ascii_case(CHECKLIST_ITEM)
                            }) {
                                item.done = true;
                                item.done_by = Some(Actor::system().0);
                                item.done_at = Some(now);
                                ticks.push(TimelineEvent::ChecklistItemDone {
                                    item: item.id,
                                    text: item.text.clone(),
                                });
                            }
                        }
                        let ticked = !ticks.is_empty();
                        let mut written = drafts(&actor, now, std::mem::take(&mut events));
                        let entries = if ticked {
                            incident.updated_at = now;
                            incident.version += 1;
                            written.extend(drafts(&Actor::system().0, now, ticks));
                            tx.update_incident(&incident, written).await?
                        } else {
                            tx.append_timeline(number, written).await?
                        };
                        tx.audit(audit).await?;
                        let entry = entries
                            .into_iter()
                            .next()
                            .ok_or_else(|| StoreError::backend("a status update was not stored"))?;
                        if public && notify && !incident.drill {
                            tx.enqueue(vec![app.fanout(number, entry.seq, now)]).await?;
                        }
                        Ok((entry, ticked))
                    })
                }
            })
            .await
            .map_err(|e| match e {
                StoreError::NotFound => {
                    EngineError::NotFound(format!("there is no incident {number}"))
                }
                other => other.into(),
            })?;
        self.status.changed();
        Ok(Posted {
            incident: number,
            entry,
            update,
            ticked,
        })
    }

    /// The status updates of an incident, oldest first: public and internal.
    pub async fn status_updates(
        &self,
        number: IncidentNumber,
    ) -> Result<Vec<TimelineEntry>, EngineError> {
        let incident = self.incident(number).await?;
        Ok(self
            .store
            .status_updates_since(incident.declared_at)
            .await?
            .into_iter()
            .filter(|(n, _)| *n == number)
            .map(|(_, e)| e)
            .collect())
    }

    /// The public status an incident shows, if it has any public update.
    pub async fn public_status_of(
        &self,
        incident: &firebreak_domain::Incident,
    ) -> Result<Option<PublicStatus>, EngineError> {
        let earlier = self
            .public_updates_of(incident.number, incident.declared_at)
            .await?;
        Ok(earlier.iter().rev().find_map(|u| u.status))
    }
}

/// A scheduled maintenance as a person gives it.
#[derive(Debug, Clone, PartialEq)]
pub struct MaintenanceInput {
    pub name: String,
    pub body: Option<String>,
    pub components: Vec<String>,
    pub starts_at: Timestamp,
    pub ends_at: Timestamp,
}

/// The longest a scheduled maintenance may run.
const LONGEST_MAINTENANCE: SignedDuration = SignedDuration::from_hours(14 * 24);

impl Firebreak {
    /// The maintenance windows scheduled maintenance makes: one per service of each component,
    /// for what has not ended by `now`. Ingestion suppresses by them like by any window.
    pub(crate) async fn scheduled_windows(
        &self,
        now: Timestamp,
    ) -> Result<Vec<firebreak_domain::rules::MaintenanceWindow>, EngineError> {
        let planned = self.store.list_scheduled_maintenances(now).await?;
        if planned.is_empty() {
            return Ok(vec![]);
        }
        let components = self.store.list_components().await?;
        let mut windows = Vec::new();
        for m in planned {
            let mut services: Vec<&Name> = components
                .iter()
                .filter(|c| m.components.contains(&c.name))
                .flat_map(|c| c.services.iter())
                .collect();
            services.sort();
            services.dedup();
            for s in services {
                windows.push(firebreak_domain::rules::MaintenanceWindow {
                    id: m.id,
                    service: s.clone(),
                    starts_at: m.starts_at,
                    ends_at: m.ends_at,
                    comment: format!("scheduled maintenance \"{}\"", m.name),
                    created_by: m.created_by.clone(),
                    created_at: m.created_at,
                });
            }
        }
        Ok(windows)
    }

    /// Schedules maintenance: shown on the status page as upcoming, then in progress, then
    /// completed; while it runs, alerts on its components' services are suppressed.
    pub async fn schedule_maintenance(
        &self,
        who: &Principal,
        input: MaintenanceInput,
    ) -> Result<PublicMaintenance, EngineError> {
        let now = self.clock.now();
        if input.ends_at <= now {
            return Err(invalid("ends_at", "must be in the future"));
        }
        if input.ends_at.duration_since(input.starts_at) > LONGEST_MAINTENANCE {
            return Err(invalid(
                "ends_at",
                "a maintenance may last at most 14 days; schedule a longer one in parts",
            ));
        }
        let components = self.store.list_components().await?;
        let names: Vec<&str> = components.iter().map(|c| c.name.as_str()).collect();
        let mut listed = input.components.clone();
        listed.dedup();
        let mut m = PublicMaintenance {
            id: 0,
            name: input.name.trim().to_string(),
            body: input.body.unwrap_or_default(),
            components: listed,
            starts_at: input.starts_at,
            ends_at: input.ends_at,
            created_by: who.actor.0.clone(),
            created_at: now,
        };
        m.check(&names).map_err(|e| invalid(e.field, e.message))?;
        let audit = self.audit(who, "maintenance.schedule", m.name.clone());
        let stored = m.clone();
        m.id = self
            .write(1, || {
                let (m, audit) = (stored.clone(), audit.clone());
                move |tx| {
                    Box::pin(async move {
                        let id = tx.create_scheduled_maintenance(&m).await?;
                        tx.audit(audit).await?;
                        Ok(id)
                    })
                }
            })
            .await?;
        self.status.changed();
        self.refresh_alert_index().await?;
        Ok(m)
    }

    /// Scheduled maintenance that has not ended, and what ended in the last 90 days.
    pub async fn list_scheduled_maintenances(&self) -> Result<Vec<PublicMaintenance>, EngineError> {
        Ok(self
            .store
            .list_scheduled_maintenances(self.clock.now() - HISTORY)
            .await?)
    }

    /// Ends a maintenance now, or drops one that has not started.
    pub async fn cancel_maintenance(
        &self,
        who: &Principal,
        id: i64,
    ) -> Result<PublicMaintenance, EngineError> {
        let now = self.clock.now();
        let audit = self.audit(who, "maintenance.cancel", format!("maintenance/{id}"));
        let outcome = self
            .write(1, || {
                let audit = audit.clone();
                move |tx| {
                    Box::pin(async move {
                        let Some(m) = tx.lock_scheduled_maintenance(id).await? else {
                            return Ok(Err(EngineError::NotFound(format!(
                                "there is no scheduled maintenance {id}; `firebreak maintenance list` shows them"
                            ))));
                        };
                        let Some(ended) = m.end_early(now) else {
                            return Ok(Err(EngineError::Conflict(format!(
                                "maintenance {id} is already over"
                            ))));
                        };
                        tx.save_scheduled_maintenance_span(&ended).await?;
                        tx.audit(audit).await?;
                        Ok(Ok(ended))
                    })
                }
            })
            .await?;
        let ended = outcome?;
        self.status.changed();
        self.refresh_alert_index().await?;
        Ok(ended)
    }
}

/// The 90 days of history in the page's time zone, oldest first: their dates, and each
/// day's start and end.
fn history_days(
    time_zone: &str,
    now: Timestamp,
) -> (Vec<jiff::civil::Date>, Vec<(Timestamp, Timestamp)>) {
    let tz = jiff::tz::TimeZone::get(time_zone).unwrap_or(jiff::tz::TimeZone::UTC);
    let today = now.to_zoned(tz.clone()).date();
    let mut dates = Vec::with_capacity(90);
    let mut spans = Vec::with_capacity(90);
    for back in (0..90).rev() {
        let Ok(date) = today.checked_sub(jiff::Span::new().days(back)) else {
            continue;
        };
        let start = date.to_zoned(tz.clone()).map(|z| z.timestamp());
        let end = date
            .tomorrow()
            .and_then(|d| d.to_zoned(tz.clone()))
            .map(|z| z.timestamp());
        if let (Ok(start), Ok(end)) = (start, end) {
            dates.push(date);
            spans.push((start, end));
        }
    }
    (dates, spans)
}

fn no_component(id: &str) -> EngineError {
    EngineError::NotFound(format!(
        "there is no status page component with the id `{id}`; GET /api/v1/status-page/components lists them"
    ))
}

fn dedup(mut names: Vec<Name>) -> Vec<Name> {
    let mut seen = BTreeSet::new();
    names.retain(|n| seen.insert(n.clone()));
    names
}

/// Builds the page from what was read: component statuses, groups, and each public incident
/// with its updates and the components each update changed.
#[allow(clippy::too_many_arguments)]
fn assemble(
    config: &Config,
    ids: PublicIds,
    url: &str,
    components: Vec<Component>,
    statuses: &BTreeMap<String, ComponentStatus>,
    incidents: Vec<PublicIncident>,
    maintenances: Vec<PublicMaintenance>,
    generation: u64,
    now: Timestamp,
) -> StatusView {
    let page = &config.status_page;
    let by_name: HashMap<&str, &Component> =
        components.iter().map(|c| (c.name.as_str(), c)).collect();
    let mut shown: Vec<IncidentView> = incidents
        .iter()
        .map(|i| incident_view(config, &ids, i, &components, &by_name))
        .collect();
    shown.sort_by(|a, b| b.created_at.cmp(&a.created_at).then(b.id.cmp(&a.id)));
    let changed_at = status_changed_at(&components, &shown, &maintenances, now);
    let changed = |c: &Component| {
        changed_at
            .get(c.id.as_str())
            .copied()
            .unwrap_or(c.updated_at)
    };

    // Groups, in the order their first member appears.
    let mut groups: Vec<GroupView> = Vec::new();
    for c in &components {
        let Some(g) = &c.group else { continue };
        let status = statuses
            .get(&c.id)
            .copied()
            .unwrap_or(ComponentStatus::Operational);
        match groups.iter_mut().find(|x| &x.name == g) {
            Some(x) => {
                x.members.push(c.id.clone());
                x.status = group_status([x.status, status]);
                x.created_at = x.created_at.min(c.created_at);
                x.updated_at = x.updated_at.max(changed(c));
            }
            None => groups.push(GroupView {
                id: public_id("group", g),
                name: g.clone(),
                status,
                members: vec![c.id.clone()],
                position: c.position,
                created_at: c.created_at,
                updated_at: changed(c),
            }),
        }
    }
    let views: Vec<ComponentView> = components
        .iter()
        .map(|c| ComponentView {
            status: statuses
                .get(&c.id)
                .copied()
                .unwrap_or(ComponentStatus::Operational),
            group_id: c.group.as_ref().map(|g| public_id("group", g)),
            updated_at: changed(c),
            component: c.clone(),
        })
        .collect();

    let leaves: Vec<ComponentStatus> = views.iter().map(|v| v.status).collect();
    let impacts: Vec<Impact> = shown
        .iter()
        .filter(|i| i.unresolved)
        .map(|i| i.impact)
        .collect();
    let (indicator, description) = indicator(&leaves, &impacts);
    let updated_at = views
        .iter()
        .map(|v| v.updated_at)
        .chain(shown.iter().map(|i| i.updated_at))
        .max()
        .unwrap_or(now);
    let next_boundary = maintenances
        .iter()
        .flat_map(|m| [m.starts_at, m.ends_at])
        .filter(|t| *t > now)
        .min();
    StatusView {
        generation,
        built_at: now,
        next_boundary,
        page: PageInfo {
            id: public_id("page", &page.title),
            name: page.title.clone(),
            url: url.to_string(),
            time_zone: page.time_zone.clone(),
            logo_url: page.logo_url.clone(),
            site_url: page.site_url.clone(),
            updated_at,
        },
        components: views,
        groups,
        incidents: shown,
        maintenances,
        indicator,
        description,
        days: vec![],
        history: BTreeMap::new(),
        ids,
    }
}

/// When what each component shows last changed, by id: the latest of a change to the
/// component itself (a status set by hand, or cleared), an update of a public incident that
/// changed what the incident makes it show (its first update, one that set it, the public
/// `resolved`), and the start or end of a maintenance on it, so far. A component with a status
/// set by hand shows nothing else, so only its own changes count. Read from what the snapshot
/// already holds: no query.
fn status_changed_at<'a>(
    components: &'a [Component],
    incidents: &[IncidentView],
    maintenances: &[PublicMaintenance],
    now: Timestamp,
) -> HashMap<&'a str, Timestamp> {
    let mut at: HashMap<&str, Timestamp> = components
        .iter()
        .map(|c| (c.id.as_str(), c.updated_at))
        .collect();
    let derived: HashMap<&str, &Component> = components
        .iter()
        .filter(|c| c.manual.is_none())
        .map(|c| (c.id.as_str(), c))
        .collect();
    let mut moved = |id: &str, when: Timestamp| {
        if derived.contains_key(id)
            && when <= now
            && let Some(t) = at.get_mut(id)
        {
            *t = (*t).max(when);
        }
    };
    for i in incidents {
        for u in &i.updates {
            for a in u.affected.iter().flatten() {
                moved(&a.id, u.at);
            }
        }
    }
    for m in maintenances {
        for c in components.iter().filter(|c| m.components.contains(&c.name)) {
            moved(&c.id, m.starts_at);
            moved(&c.id, m.ends_at);
        }
    }
    at
}

fn incident_view(
    config: &Config,
    ids: &PublicIds,
    i: &PublicIncident,
    components: &[Component],
    by_name: &HashMap<&str, &Component>,
) -> IncidentView {
    let mine = components_of(i, components);
    let effect = config.public_effect(&i.incident.severity);
    let by_service = |c: &Component| i.incident.services.iter().any(|s| c.services.contains(s));
    // What this incident shows for each of its components after each update.
    let mut shown: BTreeMap<String, ComponentStatus> = BTreeMap::new();
    let mut explicit: BTreeMap<String, ComponentStatus> = BTreeMap::new();
    let mut updates = Vec::with_capacity(i.updates.len());
    let mut status = PublicStatus::Investigating;
    for u in &i.updates {
        status = u.update.status.unwrap_or(status);
        explicit.extend(u.update.components.iter().map(|(k, v)| (k.clone(), *v)));
        let mut affected = Vec::new();
        for c in &mine {
            let now_shows = if status == PublicStatus::Resolved {
                ComponentStatus::Operational
            } else if let Some(s) = explicit.get(&c.name) {
                *s
            } else if by_service(c) {
                effect
                    .as_ref()
                    .map(|e| e.component_status)
                    .unwrap_or(ComponentStatus::Operational)
            } else {
                ComponentStatus::Operational
            };
            let before = shown
                .get(&c.name)
                .copied()
                .unwrap_or(ComponentStatus::Operational);
            if before != now_shows || u.update.components.contains_key(&c.name) {
                affected.push(AffectedComponent {
                    id: c.id.clone(),
                    name: c.name.clone(),
                    old_status: before,
                    new_status: now_shows,
                });
            }
            shown.insert(c.name.clone(), now_shows);
        }
        // Names no longer on the page are left out: a removed component shows nowhere.
        affected.retain(|a| by_name.contains_key(a.name.as_str()));
        updates.push(UpdateView {
            id: ids.update(i.incident.number, u.seq),
            status,
            body: u.update.body.clone(),
            at: u.at,
            affected: (!affected.is_empty()).then_some(affected),
            notify: u.update.notify,
        });
    }
    updates.reverse();
    let first = i
        .updates
        .first()
        .map(|u| u.at)
        .unwrap_or(i.incident.declared_at);
    let last = i.updates.last().map(|u| u.at).unwrap_or(first);
    IncidentView {
        id: ids.incident(i.incident.number),
        name: i.name().to_string(),
        status: i.status(),
        impact: effect.map(|e| e.impact).unwrap_or(Impact::Minor),
        created_at: first,
        updated_at: last,
        // When it went public, as Statuspage has it unless someone backdates it: the internal
        // detection time is not the page's to tell.
        started_at: first,
        monitoring_at: i.monitoring_at(),
        resolved_at: i.resolved_at(),
        updates,
        components: mine.iter().map(|c| c.id.clone()).collect(),
        // The page follows the public updates alone: resolving inside Firebreak without a
        // public update keeps it on the page, its components and the indicator with it,
        // until someone says resolved.
        unresolved: i.affecting(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn confirmation_emails_go_in_one_burst_then_at_a_pace() {
        let cache = StatusPageCache::default();
        for n in 0..crate::subscribers::CONFIRMATION_BURST {
            assert!(cache.confirmation_allowed().is_ok(), "email {n}");
        }
        let wait = cache
            .confirmation_allowed()
            .expect_err("the burst is spent");
        assert!(
            wait <= std::time::Duration::from_secs(crate::subscribers::CONFIRMATION_EVERY_SECS),
            "{wait:?}"
        );
    }

    #[test]
    fn form_limits_count_an_ipv6_network_once_and_forget_idle_addresses() {
        let cache = StatusPageCache::default();
        let one: std::net::IpAddr = "2001:db8:1:2::1".parse().unwrap();
        let same_64: std::net::IpAddr = "2001:db8:1:2:ffff::9".parse().unwrap();
        for _ in 0..10 {
            assert!(cache.subscribe_allowed(one).is_ok());
            assert!(cache.subscribe_allowed(same_64).is_ok());
        }
        assert!(cache.subscribe_allowed(one).is_err(), "20 an hour per /64");
        assert!(
            cache
                .subscribe_allowed("2001:db8:1:3::1".parse().unwrap())
                .is_ok()
        );
        assert_eq!(cache.subscribe_limit.len(), 2);
        // Nothing is idle yet: forgetting keeps both.
        cache.forget_idle();
        assert_eq!(cache.subscribe_limit.len(), 2);
    }

    #[test]
    fn public_ids_depend_on_the_key() {
        let a = PublicIds::new(Arc::new(b"one key".to_vec()));
        let b = PublicIds::new(Arc::new(b"another".to_vec()));
        let n = IncidentNumber(7);
        assert_eq!(a.incident(n), a.incident(n), "stable");
        assert_ne!(a.incident(n), b.incident(n));
        assert_ne!(a.incident(n), public_id("incident", "7"));
        assert_ne!(a.incident(n), a.update(n, 1));
        assert_eq!(a.incident(n).len(), 12);
        assert_eq!(format!("{a:?}"), "PublicIds(..)", "the key never shows");
    }
}
