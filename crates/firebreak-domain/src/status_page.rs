//! The public status page's rules: components and their statuses, public incident updates, what
//! a component shows (derived from open public incidents, scheduled maintenance and a status set
//! by hand), and the page's overall indicator in Statuspage's terms.
//!
//! Nothing here knows JSON or HTTP; the server renders these into Statuspage-compatible JSON,
//! HTML and feeds.

use std::collections::BTreeMap;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::{Incident, Name};

/// A component's status, ordered from best to worst: where several things set one component,
/// the worst wins.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ComponentStatus {
    Operational,
    UnderMaintenance,
    DegradedPerformance,
    PartialOutage,
    MajorOutage,
}

impl ComponentStatus {
    pub const ALL: [ComponentStatus; 5] = [
        ComponentStatus::Operational,
        ComponentStatus::DegradedPerformance,
        ComponentStatus::PartialOutage,
        ComponentStatus::MajorOutage,
        ComponentStatus::UnderMaintenance,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ComponentStatus::Operational => "operational",
            ComponentStatus::UnderMaintenance => "under_maintenance",
            ComponentStatus::DegradedPerformance => "degraded_performance",
            ComponentStatus::PartialOutage => "partial_outage",
            ComponentStatus::MajorOutage => "major_outage",
        }
    }

    pub fn parse(s: &str) -> Option<ComponentStatus> {
        Self::ALL.into_iter().find(|c| c.as_str() == s)
    }

    /// How the status page says it to people.
    pub fn label(self) -> &'static str {
        match self {
            ComponentStatus::Operational => "Operational",
            ComponentStatus::UnderMaintenance => "Under maintenance",
            ComponentStatus::DegradedPerformance => "Degraded performance",
            ComponentStatus::PartialOutage => "Partial outage",
            ComponentStatus::MajorOutage => "Major outage",
        }
    }

    /// The words the API's errors list.
    pub fn expected() -> String {
        Self::ALL.map(|s| s.as_str()).join(", ")
    }
}

/// The status a public update gives its incident, as Statuspage names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PublicStatus {
    Investigating,
    Identified,
    Monitoring,
    Resolved,
}

impl PublicStatus {
    pub const ALL: [PublicStatus; 4] = [
        PublicStatus::Investigating,
        PublicStatus::Identified,
        PublicStatus::Monitoring,
        PublicStatus::Resolved,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            PublicStatus::Investigating => "investigating",
            PublicStatus::Identified => "identified",
            PublicStatus::Monitoring => "monitoring",
            PublicStatus::Resolved => "resolved",
        }
    }

    pub fn parse(s: &str) -> Option<PublicStatus> {
        Self::ALL.into_iter().find(|c| c.as_str() == s)
    }

    /// The label feeds and the page show (`<strong>Resolved</strong>`).
    pub fn label(self) -> &'static str {
        match self {
            PublicStatus::Investigating => "Investigating",
            PublicStatus::Identified => "Identified",
            PublicStatus::Monitoring => "Monitoring",
            PublicStatus::Resolved => "Resolved",
        }
    }

    pub fn expected() -> String {
        Self::ALL.map(|s| s.as_str()).join(", ")
    }
}

/// Who an update is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Audience {
    /// The status page, its feeds and its subscribers.
    Public,
    /// The incident channels and stakeholders.
    Internal,
}

impl Audience {
    pub fn as_str(self) -> &'static str {
        match self {
            Audience::Public => "public",
            Audience::Internal => "internal",
        }
    }

    pub fn parse(s: &str) -> Option<Audience> {
        match s {
            "public" => Some(Audience::Public),
            "internal" => Some(Audience::Internal),
            _ => None,
        }
    }
}

/// An incident's or the page's impact, in Statuspage's words, least first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Impact {
    None,
    Maintenance,
    Minor,
    Major,
    Critical,
}

impl Impact {
    pub const ALL: [Impact; 5] = [
        Impact::None,
        Impact::Maintenance,
        Impact::Minor,
        Impact::Major,
        Impact::Critical,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Impact::None => "none",
            Impact::Maintenance => "maintenance",
            Impact::Minor => "minor",
            Impact::Major => "major",
            Impact::Critical => "critical",
        }
    }

    pub fn parse(s: &str) -> Option<Impact> {
        Self::ALL.into_iter().find(|c| c.as_str() == s)
    }
}

/// A component of the public page. Its `name` is how bodies and config refer to it; `id` is
/// its stable public id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Component {
    pub id: String,
    pub name: String,
    pub description: Option<String>,
    /// The group it is shown under, by name.
    pub group: Option<String>,
    /// The services it stands for: their incidents set its status.
    pub services: Vec<Name>,
    /// Order on the page, from 1.
    pub position: u32,
    /// A status set by hand (`PATCH`), which holds until it is cleared.
    pub manual: Option<ComponentStatus>,
    pub from_config: bool,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// Why a component or update is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct StatusPageError {
    pub field: &'static str,
    pub message: String,
}

fn refuse(field: &'static str, message: impl Into<String>) -> StatusPageError {
    StatusPageError {
        field,
        message: message.into(),
    }
}

/// The longest component name, group or description.
pub const MAX_NAME: usize = 100;
pub const MAX_DESCRIPTION: usize = 1_000;
/// The longest update body.
pub const MAX_BODY: usize = 20_000;

impl Component {
    /// Checks what a person gave for a component.
    pub fn check(&self) -> Result<(), StatusPageError> {
        let name = self.name.trim();
        if name.is_empty() {
            return Err(refuse("name", "must not be empty"));
        }
        if name != self.name {
            return Err(refuse("name", "must not start or end with spaces"));
        }
        if name.chars().count() > MAX_NAME {
            return Err(refuse(
                "name",
                format!("is longer than {MAX_NAME} characters"),
            ));
        }
        if name.chars().any(char::is_control) {
            return Err(refuse("name", "must not contain control characters"));
        }
        if let Some(g) = &self.group {
            if g.trim().is_empty()
                || g.chars().count() > MAX_NAME
                || g.chars().any(char::is_control)
            {
                return Err(refuse(
                    "group",
                    format!("must be 1 to {MAX_NAME} characters, with no control characters"),
                ));
            }
            if g == &self.name {
                return Err(refuse("group", "must differ from the component's own name"));
            }
        }
        if let Some(d) = &self.description
            && d.chars().count() > MAX_DESCRIPTION
        {
            return Err(refuse(
                "description",
                format!("is longer than {MAX_DESCRIPTION} characters"),
            ));
        }
        Ok(())
    }
}

/// One public or internal update, as the timeline stores it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusUpdate {
    pub audience: Audience,
    /// The public status it gives the incident. Public updates always have one.
    pub status: Option<PublicStatus>,
    pub body: String,
    /// Components this update sets, by name.
    #[serde(default)]
    pub components: BTreeMap<String, ComponentStatus>,
    /// Whether subscribers are told.
    pub notify: bool,
}

impl StatusUpdate {
    /// Checks an update for `incident`, given the incident's current public status (`None` if
    /// it has no public update yet). A public update needs a status: one given, else the current
    /// one, else `investigating`.
    pub fn check(
        mut self,
        incident: &Incident,
        current: Option<PublicStatus>,
        known_components: &[&str],
    ) -> Result<StatusUpdate, StatusPageError> {
        if self.body.trim().is_empty() {
            return Err(refuse(
                "body",
                "must not be empty: say what people should know",
            ));
        }
        if self.body.chars().count() > MAX_BODY {
            return Err(refuse(
                "body",
                format!("is longer than {MAX_BODY} characters"),
            ));
        }
        for name in self.components.keys() {
            if !known_components.contains(&name.as_str()) {
                return Err(refuse(
                    "components",
                    format!(
                        "there is no component `{name}` on the status page; the components are: {}",
                        if known_components.is_empty() {
                            "none yet (add them under status_page.components, or POST /api/v1/status-page/components)".to_string()
                        } else {
                            known_components.join(", ")
                        }
                    ),
                ));
            }
        }
        match self.audience {
            Audience::Public => {
                if incident.drill {
                    return Err(refuse(
                        "audience",
                        format!(
                            "{} is a drill, and drills never reach the public status page; post it with \"audience\": \"internal\"",
                            incident.number
                        ),
                    ));
                }
                if self.status.is_none() {
                    self.status = Some(current.unwrap_or(PublicStatus::Investigating));
                }
            }
            Audience::Internal => {
                if !self.components.is_empty() {
                    return Err(refuse(
                        "components",
                        "only a public update sets components; post it with \"audience\": \"public\"",
                    ));
                }
                if self.status.is_some() {
                    return Err(refuse(
                        "status",
                        "is the public status; an internal update has none (change the incident's own status with PATCH)",
                    ));
                }
            }
        }
        Ok(self)
    }
}

/// A public incident as the page needs it: the incident and its public updates, oldest first.
#[derive(Debug, Clone, PartialEq)]
pub struct PublicIncident {
    pub incident: Incident,
    pub updates: Vec<PostedUpdate>,
}

/// A stored public update, with its place on the timeline.
#[derive(Debug, Clone, PartialEq)]
pub struct PostedUpdate {
    /// The timeline entry's sequence number within its incident.
    pub seq: i64,
    pub at: Timestamp,
    pub update: StatusUpdate,
}

impl PublicIncident {
    /// The status of the latest public update.
    pub fn status(&self) -> PublicStatus {
        self.updates
            .iter()
            .rev()
            .find_map(|u| u.update.status)
            .unwrap_or(PublicStatus::Investigating)
    }

    /// Its public name: `public_title` if set, else its title.
    pub fn name(&self) -> &str {
        self.incident
            .public_title
            .as_deref()
            .filter(|t| !t.trim().is_empty())
            .unwrap_or(&self.incident.title)
    }

    /// Whether it still sets components and counts as unresolved on the page: not yet
    /// resolved in public. The page follows the public status, not the internal one: an
    /// incident resolved inside Firebreak with its public update held back (to keep
    /// "monitoring" in public a while) still shows until a public `resolved` update.
    pub fn affecting(&self) -> bool {
        self.status() != PublicStatus::Resolved
    }

    /// When the first public update said `monitoring`, and the last said `resolved`.
    pub fn monitoring_at(&self) -> Option<Timestamp> {
        self.updates
            .iter()
            .find(|u| u.update.status == Some(PublicStatus::Monitoring))
            .map(|u| u.at)
    }

    pub fn resolved_at(&self) -> Option<Timestamp> {
        match self.updates.last() {
            Some(u) if self.status() == PublicStatus::Resolved => Some(u.at),
            _ => None,
        }
    }
}

/// A scheduled maintenance: shown on the page, and while it runs the services of its
/// components have their alerts suppressed.
#[derive(Debug, Clone, PartialEq)]
pub struct PublicMaintenance {
    pub id: i64,
    pub name: String,
    pub body: String,
    /// Component names.
    pub components: Vec<String>,
    pub starts_at: Timestamp,
    pub ends_at: Timestamp,
    pub created_by: String,
    pub created_at: Timestamp,
}

/// Where a maintenance is, from the clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MaintenancePhase {
    Scheduled,
    InProgress,
    Completed,
}

impl MaintenancePhase {
    pub fn as_str(self) -> &'static str {
        match self {
            MaintenancePhase::Scheduled => "scheduled",
            MaintenancePhase::InProgress => "in_progress",
            MaintenancePhase::Completed => "completed",
        }
    }
}

impl PublicMaintenance {
    /// Checks what a person gave: a name, an end after the start, known components.
    pub fn check(&self, known_components: &[&str]) -> Result<(), StatusPageError> {
        let name = self.name.trim();
        if name.is_empty() || name.chars().count() > 200 {
            return Err(refuse("name", "must be 1 to 200 characters"));
        }
        if self.body.chars().count() > MAX_BODY {
            return Err(refuse(
                "body",
                format!("is longer than {MAX_BODY} characters"),
            ));
        }
        if self.ends_at <= self.starts_at {
            return Err(refuse("ends_at", "must be after starts_at"));
        }
        if self.components.is_empty() {
            return Err(refuse(
                "components",
                "name at least one component the maintenance affects",
            ));
        }
        for c in &self.components {
            if !known_components.contains(&c.as_str()) {
                return Err(refuse(
                    "components",
                    format!(
                        "there is no component `{c}` on the status page; the components are: {}",
                        known_components.join(", ")
                    ),
                ));
            }
        }
        Ok(())
    }

    /// The maintenance ended early at `at` (emptied if it has not started), or `None` if it is
    /// over.
    pub fn end_early(&self, at: Timestamp) -> Option<PublicMaintenance> {
        let (starts_at, ends_at) = crate::rules::end_span_early(self.starts_at, self.ends_at, at)?;
        Some(PublicMaintenance {
            starts_at,
            ends_at,
            ..self.clone()
        })
    }

    /// When its phase last moved by `now`: made, started, ended (or ended early).
    pub fn updated_at(&self, now: Timestamp) -> Timestamp {
        [self.starts_at, self.ends_at]
            .into_iter()
            .filter(|t| *t <= now)
            .fold(self.created_at, Timestamp::max)
    }

    pub fn phase(&self, now: Timestamp) -> MaintenancePhase {
        if now < self.starts_at {
            MaintenancePhase::Scheduled
        } else if now < self.ends_at {
            MaintenancePhase::InProgress
        } else {
            MaintenancePhase::Completed
        }
    }
}

/// How a subscriber hears about public updates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SubscriberKind {
    Email,
    /// A JSON POST signed per Standard Webhooks.
    Webhook,
}

impl SubscriberKind {
    pub fn as_str(self) -> &'static str {
        match self {
            SubscriberKind::Email => "email",
            SubscriberKind::Webhook => "webhook",
        }
    }

    pub fn parse(s: &str) -> Option<SubscriberKind> {
        match s {
            "email" => Some(SubscriberKind::Email),
            "webhook" => Some(SubscriberKind::Webhook),
            _ => None,
        }
    }
}

/// Someone who asked to hear about the status page's public updates. Nothing is sent to an
/// email subscriber before they confirm.
#[derive(Clone, PartialEq, Eq)]
pub struct Subscriber {
    /// `sub_...`.
    pub id: String,
    pub kind: SubscriberKind,
    /// An email address (lowercase) or a URL.
    pub target: String,
    /// A webhook subscriber's signing secret (`whsec_...`).
    pub secret: Option<String>,
    /// The components they follow, by name; `None` follows all.
    pub components: Option<Vec<String>>,
    /// The SHA-256 (hex) of the token in their confirm and unsubscribe links.
    pub token_hash: String,
    pub created_at: Timestamp,
    pub confirmed_at: Option<Timestamp>,
    /// When the last confirmation email went out, for the once-per-10-minutes rule.
    pub last_mailed_at: Option<Timestamp>,
}

impl std::fmt::Debug for Subscriber {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Subscriber")
            .field("id", &self.id)
            .field("kind", &self.kind)
            .field("components", &self.components)
            .field("confirmed_at", &self.confirmed_at)
            .finish_non_exhaustive()
    }
}

impl Subscriber {
    /// Whether an update touching `components` (names) goes to this subscriber. An update
    /// that names no component goes to everyone.
    pub fn wants(&self, components: &[String]) -> bool {
        match &self.components {
            None => true,
            Some(mine) => components.is_empty() || components.iter().any(|c| mine.contains(c)),
        }
    }
}

/// What each severity does to a public page: the status it gives its components and the
/// impact it shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeverityEffect {
    pub component_status: ComponentStatus,
    pub impact: Impact,
}

/// The usual effect of a severity by its rank (0 is the most severe): SEV1 a major outage and
/// critical impact, SEV2 a partial outage and major impact, anything lower degraded
/// performance and minor impact.
pub fn default_effect(rank: usize) -> SeverityEffect {
    match rank {
        0 => SeverityEffect {
            component_status: ComponentStatus::MajorOutage,
            impact: Impact::Critical,
        },
        1 => SeverityEffect {
            component_status: ComponentStatus::PartialOutage,
            impact: Impact::Major,
        },
        _ => SeverityEffect {
            component_status: ComponentStatus::DegradedPerformance,
            impact: Impact::Minor,
        },
    }
}

/// What each component shows now, by component id. A status set by hand wins; otherwise the
/// worst of: what each affecting incident's latest update set for it, else that incident's
/// severity where it touches one of the component's services; and `under_maintenance` while a
/// maintenance on it is in progress.
pub fn component_statuses(
    components: &[Component],
    incidents: &[PublicIncident],
    maintenances: &[PublicMaintenance],
    effect: impl Fn(&str) -> Option<SeverityEffect>,
    now: Timestamp,
) -> BTreeMap<String, ComponentStatus> {
    let mut out = BTreeMap::new();
    for c in components {
        if let Some(manual) = c.manual {
            out.insert(c.id.clone(), manual);
            continue;
        }
        let mut worst = ComponentStatus::Operational;
        for i in incidents
            .iter()
            .filter(|i| i.affecting() && !i.incident.drill)
        {
            let explicit = i
                .updates
                .iter()
                .rev()
                .find_map(|u| u.update.components.get(&c.name).copied());
            let status = explicit.or_else(|| {
                i.incident
                    .services
                    .iter()
                    .any(|s| c.services.contains(s))
                    .then(|| effect(&i.incident.severity).map(|e| e.component_status))
                    .flatten()
            });
            if let Some(s) = status {
                worst = worst.max(s);
            }
        }
        if maintenances
            .iter()
            .any(|m| m.phase(now) == MaintenancePhase::InProgress && m.components.contains(&c.name))
        {
            worst = worst.max(ComponentStatus::UnderMaintenance);
        }
        out.insert(c.id.clone(), worst);
    }
    out
}

/// One day of a component's history: the worst it showed, and how much of the day counted as
/// down.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DayStatus {
    pub worst: ComponentStatus,
    /// Milliseconds of the day down, weighted as Statuspage weighs them: a major outage counts
    /// whole, a partial outage 30%, anything else not at all.
    pub down_ms: f64,
    /// Milliseconds of the day that have passed (a future part of today does not count).
    pub counted_ms: f64,
    /// The runs of the uptime checks linked to the component that day: `(passed, total)`.
    pub checks: Option<(i64, i64)>,
}

impl DayStatus {
    /// Counts the day's runs of the component's uptime checks in: the day is down for at least
    /// the share of runs that failed, and a day with failed runs shows at least degraded
    /// performance (a partial outage below 95% of runs passing, a major one below 50%).
    pub fn with_checks(mut self, passed: i64, total: i64) -> DayStatus {
        if total <= 0 {
            return self;
        }
        let passed = passed.clamp(0, total);
        self.checks = Some((passed, total));
        let ratio = passed as f64 / total as f64;
        self.down_ms = self.down_ms.max((1.0 - ratio) * self.counted_ms);
        let shown = if passed == total {
            ComponentStatus::Operational
        } else if ratio >= 0.95 {
            ComponentStatus::DegradedPerformance
        } else if ratio >= 0.5 {
            ComponentStatus::PartialOutage
        } else {
            ComponentStatus::MajorOutage
        };
        self.worst = self.worst.max(shown);
        self
    }

    /// The share of the day's check runs that passed, from 0 to 1, if any ran.
    pub fn check_uptime(&self) -> Option<f64> {
        self.checks.map(|(p, t)| p as f64 / t as f64)
    }

    /// The share of the day it was up, from 0 to 1.
    pub fn uptime(&self) -> f64 {
        if self.counted_ms <= 0.0 {
            1.0
        } else {
            (1.0 - self.down_ms / self.counted_ms).clamp(0.0, 1.0)
        }
    }
}

fn weight(s: ComponentStatus) -> f64 {
    match s {
        ComponentStatus::MajorOutage => 1.0,
        ComponentStatus::PartialOutage => 0.3,
        _ => 0.0,
    }
}

/// What an incident made a component show, and when: one span per stretch between two public
/// updates, at the status the component showed after the first of them, as the page showed
/// it. A `resolved` update ends what was shown (an incident reopened in public, with an update
/// after `resolved`, shows again from then); resolving the incident inside Firebreak does not,
/// as the page keeps showing it until the public `resolved`. Nothing counts after `now`.
fn affected_spans(
    i: &PublicIncident,
    c: &Component,
    effect: &impl Fn(&str) -> Option<SeverityEffect>,
    now: Timestamp,
) -> Vec<(Timestamp, Timestamp, ComponentStatus)> {
    let by_service = i.incident.services.iter().any(|s| c.services.contains(s));
    let from_severity = if by_service {
        effect(&i.incident.severity).map(|e| e.component_status)
    } else {
        None
    };
    let cap = now;
    // What an update set for the component holds until another sets it, as on the page.
    let mut explicit: Option<ComponentStatus> = None;
    // An update with no status keeps the one before: a note after `resolved` reopens nothing.
    let mut status = PublicStatus::Investigating;
    let mut spans = Vec::new();
    // What the component shows since the last update, if anything.
    let mut showing: Option<(Timestamp, ComponentStatus)> = None;
    for u in &i.updates {
        if let Some((start, shows)) = showing.take() {
            spans.push((start, u.at.min(cap), shows));
        }
        if let Some(s) = u.update.components.get(&c.name) {
            explicit = Some(*s);
        }
        status = u.update.status.unwrap_or(status);
        if status != PublicStatus::Resolved {
            showing = explicit.or(from_severity).map(|shows| (u.at, shows));
        }
    }
    if let Some((start, shows)) = showing {
        spans.push((start, cap, shows));
    }
    // An update posted a moment ago still counts on today's bar (a span of no length).
    spans.retain(|(s, e, _)| e >= s);
    spans
}

/// A component's history over `days` (each a start and an end), from its public incidents
/// and maintenance.
pub fn daily_history(
    c: &Component,
    incidents: &[PublicIncident],
    maintenances: &[PublicMaintenance],
    effect: impl Fn(&str) -> Option<SeverityEffect>,
    days: &[(Timestamp, Timestamp)],
    now: Timestamp,
) -> Vec<DayStatus> {
    let mut spans: Vec<(Timestamp, Timestamp, ComponentStatus)> = incidents
        .iter()
        .filter(|i| !i.incident.drill)
        .flat_map(|i| affected_spans(i, c, &effect, now))
        .collect();
    spans.extend(
        maintenances
            .iter()
            .filter(|m| m.components.contains(&c.name))
            .map(|m| {
                (
                    m.starts_at,
                    m.ends_at.min(now),
                    ComponentStatus::UnderMaintenance,
                )
            })
            .filter(|(s, e, _)| e >= s),
    );
    days.iter()
        .map(|&(start, day_end)| {
            let end = day_end.min(now);
            let counted = if end > start {
                end.duration_since(start).as_millis_f64()
            } else {
                0.0
            };
            let mut day = DayStatus {
                worst: ComponentStatus::Operational,
                down_ms: 0.0,
                counted_ms: counted,
                checks: None,
            };
            for &(s, e, status) in &spans {
                let (from, to) = (s.max(start), e.min(end));
                if to > from {
                    day.worst = day.worst.max(status);
                    day.down_ms += weight(status) * to.duration_since(from).as_millis_f64();
                } else if s == e && start <= s && s < day_end {
                    // It began this instant: it shows, with no downtime counted yet.
                    day.worst = day.worst.max(status);
                }
            }
            day.down_ms = day.down_ms.min(counted);
            day
        })
        .collect()
}

/// The status a group shows: the worst of its members'.
pub fn group_status(members: impl IntoIterator<Item = ComponentStatus>) -> ComponentStatus {
    members
        .into_iter()
        .max()
        .unwrap_or(ComponentStatus::Operational)
}

/// The page's overall indicator and its description, one of Statuspage's seven strings.
pub fn indicator(
    statuses: &[ComponentStatus],
    incident_impacts: &[Impact],
) -> (Impact, &'static str) {
    let worst = statuses.iter().copied().max();
    let all_down =
        !statuses.is_empty() && statuses.iter().all(|s| *s == ComponentStatus::MajorOutage);
    let from_components = match worst {
        Some(ComponentStatus::MajorOutage) if all_down => (Impact::Critical, "Major System Outage"),
        Some(ComponentStatus::MajorOutage) => (Impact::Critical, "Major Service Outage"),
        Some(ComponentStatus::PartialOutage) => (Impact::Major, "Partial System Outage"),
        Some(ComponentStatus::DegradedPerformance) => (Impact::Minor, "Partially Degraded Service"),
        Some(ComponentStatus::UnderMaintenance) => {
            (Impact::Maintenance, "Service Under Maintenance")
        }
        Some(ComponentStatus::Operational) | None => (Impact::None, "All Systems Operational"),
    };
    let from_incidents = match incident_impacts.iter().copied().max() {
        Some(Impact::Critical) => (Impact::Critical, "Major Service Outage"),
        Some(Impact::Major) => (Impact::Major, "Partial System Outage"),
        Some(Impact::Minor) => (Impact::Minor, "Minor Service Outage"),
        _ => (Impact::None, "All Systems Operational"),
    };
    if from_incidents.0 > from_components.0 {
        from_incidents
    } else {
        from_components
    }
}

/// The default templates for public updates, by status. `{components}` becomes the names of
/// the incident's components (or "some of our services").
pub fn default_template(status: PublicStatus) -> &'static str {
    match status {
        PublicStatus::Investigating => {
            "We are investigating reports of problems with {components}. We will post an update as soon as we know more."
        }
        PublicStatus::Identified => {
            "We have identified the cause of the problems with {components} and are working on a fix."
        }
        PublicStatus::Monitoring => {
            "A fix for the problems with {components} is in place, and we are watching the results."
        }
        PublicStatus::Resolved => {
            "This incident has been resolved. Service is back to normal for {components}."
        }
    }
}

/// Fills a template's `{components}`.
pub fn fill_template(template: &str, component_names: &[String]) -> String {
    let names = match component_names {
        [] => "some of our services".to_string(),
        [one] => one.clone(),
        [rest @ .., last] => format!("{} and {last}", rest.join(", ")),
    };
    template.replace("{components}", &names)
}

/// The components an incident touches: those it set explicitly, and those standing for one of
/// its services, in page order.
pub fn components_of<'a>(
    incident: &PublicIncident,
    components: &'a [Component],
) -> Vec<&'a Component> {
    components
        .iter()
        .filter(|c| {
            incident
                .updates
                .iter()
                .any(|u| u.update.components.contains_key(&c.name))
                || incident
                    .incident
                    .services
                    .iter()
                    .any(|s| c.services.contains(s))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Status;

    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn component(name: &str, services: &[&str]) -> Component {
        Component {
            id: format!("id-{name}"),
            name: name.into(),
            description: None,
            group: None,
            services: services.iter().map(|s| Name::parse(s).unwrap()).collect(),
            position: 1,
            manual: None,
            from_config: false,
            created_at: ts("2026-01-01T00:00:00Z"),
            updated_at: ts("2026-01-01T00:00:00Z"),
        }
    }

    fn incident(severity: &str, services: &[&str], updates: Vec<StatusUpdate>) -> PublicIncident {
        let config = crate::Config::default();
        let (mut incident, _) = Incident::declare(
            crate::NewIncident {
                title: "Checkout is slow".into(),
                severity: severity.into(),
                services: services.iter().map(|s| Name::parse(s).unwrap()).collect(),
                ..Default::default()
            },
            &config,
            &crate::Actor("alice".into()),
            None,
            ts("2026-11-20T14:00:00Z"),
        )
        .unwrap();
        incident.number = crate::IncidentNumber(1);
        PublicIncident {
            incident,
            updates: updates
                .into_iter()
                .enumerate()
                .map(|(i, update)| PostedUpdate {
                    seq: i as i64 + 2,
                    at: ts("2026-11-20T14:05:00Z"),
                    update,
                })
                .collect(),
        }
    }

    fn public(status: PublicStatus, components: &[(&str, ComponentStatus)]) -> StatusUpdate {
        StatusUpdate {
            audience: Audience::Public,
            status: Some(status),
            body: "We are looking into it.".into(),
            components: components
                .iter()
                .map(|(n, s)| (n.to_string(), *s))
                .collect(),
            notify: true,
        }
    }

    fn effect(severity: &str) -> Option<SeverityEffect> {
        let rank = ["SEV1", "SEV2", "SEV3"]
            .iter()
            .position(|s| *s == severity)?;
        Some(default_effect(rank))
    }

    const NOW: &str = "2026-11-20T15:00:00Z";

    /// `update`, posted at `t` as the `seq`th timeline entry.
    fn at(t: &str, update: StatusUpdate, seq: i64) -> PostedUpdate {
        PostedUpdate {
            seq,
            at: ts(t),
            update,
        }
    }

    #[test]
    fn an_open_public_incident_sets_its_services_components_by_severity() {
        let components = [
            component("Checkout", &["checkout"]),
            component("Search", &["search"]),
        ];
        let incidents = [incident(
            "SEV2",
            &["checkout"],
            vec![public(PublicStatus::Investigating, &[])],
        )];
        let got = component_statuses(&components, &incidents, &[], effect, ts(NOW));
        assert_eq!(got["id-Checkout"], ComponentStatus::PartialOutage);
        assert_eq!(got["id-Search"], ComponentStatus::Operational);
    }

    #[test]
    fn an_explicit_component_status_in_the_latest_update_wins_over_the_severity() {
        let components = [component("Checkout", &["checkout"])];
        let incidents = [incident(
            "SEV1",
            &["checkout"],
            vec![
                public(
                    PublicStatus::Investigating,
                    &[("Checkout", ComponentStatus::MajorOutage)],
                ),
                public(
                    PublicStatus::Monitoring,
                    &[("Checkout", ComponentStatus::DegradedPerformance)],
                ),
            ],
        )];
        let got = component_statuses(&components, &incidents, &[], effect, ts(NOW));
        assert_eq!(got["id-Checkout"], ComponentStatus::DegradedPerformance);
    }

    #[test]
    fn resolved_in_public_no_longer_sets_components_but_resolved_inside_alone_still_does() {
        let components = [component("Checkout", &["checkout"])];
        let mut resolved_inside = incident(
            "SEV1",
            &["checkout"],
            vec![public(PublicStatus::Investigating, &[])],
        );
        resolved_inside.incident.status = Status::Resolved;
        let got = component_statuses(&components, &[resolved_inside], &[], effect, ts(NOW));
        assert_eq!(got["id-Checkout"], ComponentStatus::MajorOutage);
        let mut resolved_in_public = incident(
            "SEV1",
            &["checkout"],
            vec![
                public(PublicStatus::Investigating, &[]),
                public(PublicStatus::Resolved, &[]),
            ],
        );
        for open_inside in [true, false] {
            if !open_inside {
                resolved_in_public.incident.status = Status::Resolved;
            }
            let got = component_statuses(
                &components,
                std::slice::from_ref(&resolved_in_public),
                &[],
                effect,
                ts(NOW),
            );
            assert_eq!(got["id-Checkout"], ComponentStatus::Operational);
        }
    }

    #[test]
    fn a_status_set_by_hand_holds_over_everything() {
        let mut c = component("Checkout", &["checkout"]);
        c.manual = Some(ComponentStatus::DegradedPerformance);
        let incidents = [incident(
            "SEV1",
            &["checkout"],
            vec![public(PublicStatus::Investigating, &[])],
        )];
        let got = component_statuses(&[c], &incidents, &[], effect, ts(NOW));
        assert_eq!(got["id-Checkout"], ComponentStatus::DegradedPerformance);
    }

    #[test]
    fn maintenance_in_progress_shows_under_maintenance_but_an_outage_is_worse() {
        let components = [
            component("Checkout", &["checkout"]),
            component("Search", &["search"]),
        ];
        let m = PublicMaintenance {
            id: 1,
            name: "DB upgrade".into(),
            body: String::new(),
            components: vec!["Checkout".into(), "Search".into()],
            starts_at: ts("2026-11-20T14:30:00Z"),
            ends_at: ts("2026-11-20T15:30:00Z"),
            created_by: "alice".into(),
            created_at: ts("2026-11-19T00:00:00Z"),
        };
        let incidents = [incident(
            "SEV3",
            &["checkout"],
            vec![public(PublicStatus::Investigating, &[])],
        )];
        let got = component_statuses(
            &components,
            &incidents,
            std::slice::from_ref(&m),
            effect,
            ts(NOW),
        );
        assert_eq!(got["id-Checkout"], ComponentStatus::DegradedPerformance);
        assert_eq!(got["id-Search"], ComponentStatus::UnderMaintenance);
        let later = component_statuses(&components, &[], &[m], effect, ts("2026-11-20T16:00:00Z"));
        assert_eq!(later["id-Search"], ComponentStatus::Operational);
    }

    #[test]
    fn history_weighs_outages_as_statuspage_does() {
        let c = component("Checkout", &["checkout"]);
        // The first update is at 14:05; resolved at 14:17, in public and inside (12 minutes of
        // major outage).
        let mut i = incident("SEV1", &["checkout"], vec![]);
        i.updates = vec![
            at(
                "2026-11-20T14:05:00Z",
                public(PublicStatus::Investigating, &[]),
                2,
            ),
            at(
                "2026-11-20T14:17:00Z",
                public(PublicStatus::Resolved, &[]),
                3,
            ),
        ];
        i.incident.status = Status::Resolved;
        i.incident.resolved_at = Some(ts("2026-11-20T14:17:00Z"));
        let days = [
            (ts("2026-11-20T00:00:00Z"), ts("2026-11-21T00:00:00Z")),
            (ts("2026-11-21T00:00:00Z"), ts("2026-11-22T00:00:00Z")),
        ];
        let h = daily_history(&c, &[i], &[], effect, &days, ts("2026-11-21T12:00:00Z"));
        assert_eq!(h[0].worst, ComponentStatus::MajorOutage);
        assert!((h[0].down_ms - 12.0 * 60_000.0).abs() < 1.0, "{:?}", h[0]);
        assert!((h[0].uptime() - (1.0 - 12.0 / 1440.0)).abs() < 1e-9);
        assert_eq!(h[1].worst, ComponentStatus::Operational);
        assert_eq!(h[1].uptime(), 1.0);
        assert!(
            (h[1].counted_ms - 12.0 * 3_600_000.0).abs() < 1.0,
            "only the part of today that passed"
        );
    }

    #[test]
    fn an_incident_reopened_in_public_counts_each_outage() {
        let c = component("Checkout", &["checkout"]);
        let mut note = public(PublicStatus::Resolved, &[]);
        note.status = None;
        let mut i = incident("SEV1", &["checkout"], vec![]);
        i.updates = vec![
            // 10 minutes of major outage...
            at(
                "2026-11-20T14:00:00Z",
                public(PublicStatus::Investigating, &[]),
                2,
            ),
            at(
                "2026-11-20T14:10:00Z",
                public(PublicStatus::Resolved, &[]),
                3,
            ),
            // ...a note with no status reopens nothing...
            at("2026-11-20T14:30:00Z", note, 4),
            // ...then it comes back: 20 minutes of partial outage, set by hand.
            at(
                "2026-11-20T15:00:00Z",
                public(
                    PublicStatus::Investigating,
                    &[("Checkout", ComponentStatus::PartialOutage)],
                ),
                5,
            ),
            at(
                "2026-11-20T15:20:00Z",
                public(PublicStatus::Resolved, &[]),
                6,
            ),
        ];
        let days = [(ts("2026-11-20T00:00:00Z"), ts("2026-11-21T00:00:00Z"))];
        let h = daily_history(
            &c,
            &[i.clone()],
            &[],
            effect,
            &days,
            ts("2026-11-20T18:00:00Z"),
        );
        assert_eq!(h[0].worst, ComponentStatus::MajorOutage);
        let weighted = 10.0 * 60_000.0 * weight(ComponentStatus::MajorOutage)
            + 20.0 * 60_000.0 * weight(ComponentStatus::PartialOutage);
        assert!((h[0].down_ms - weighted).abs() < 1.0, "{:?}", h[0]);

        // Still open in public after the reopen, it runs until now, even though Firebreak
        // resolved it at 15:30: the page showed it all along.
        i.updates.pop();
        i.incident.status = Status::Resolved;
        i.incident.resolved_at = Some(ts("2026-11-20T15:30:00Z"));
        let h = daily_history(&c, &[i], &[], effect, &days, ts("2026-11-20T18:00:00Z"));
        let weighted = 10.0 * 60_000.0 * weight(ComponentStatus::MajorOutage)
            + 180.0 * 60_000.0 * weight(ComponentStatus::PartialOutage);
        assert!((h[0].down_ms - weighted).abs() < 1.0, "{:?}", h[0]);
    }

    #[test]
    fn bars_end_when_the_incident_resolved_in_public_and_weigh_each_stretch() {
        let c = component("Checkout", &["checkout"]);
        let days = [(ts("2026-11-20T00:00:00Z"), ts("2026-11-21T00:00:00Z"))];
        let now = ts("2026-11-20T20:00:00Z");
        let minutes = |n: f64, s: ComponentStatus| n * 60_000.0 * weight(s);

        // Resolved inside Firebreak at 14:10, said in public at 16:00: 120 minutes count, as
        // the page showed the outage until the public `resolved`.
        let mut i = incident("SEV1", &["checkout"], vec![]);
        i.updates = vec![
            at(
                "2026-11-20T14:00:00Z",
                public(PublicStatus::Investigating, &[]),
                2,
            ),
            at(
                "2026-11-20T16:00:00Z",
                public(PublicStatus::Resolved, &[]),
                3,
            ),
        ];
        i.incident.status = Status::Resolved;
        i.incident.resolved_at = Some(ts("2026-11-20T14:10:00Z"));
        let h = daily_history(&c, &[i], &[], effect, &days, now);
        let want = minutes(120.0, ComponentStatus::MajorOutage);
        assert!((h[0].down_ms - want).abs() < 1.0, "{:?}", h[0]);

        // Each stretch counts at what it showed: 60 minutes of partial outage, then 30 of
        // major outage once an update set it.
        let mut i = incident("SEV2", &["checkout"], vec![]);
        i.updates = vec![
            at(
                "2026-11-20T14:00:00Z",
                public(PublicStatus::Investigating, &[]),
                2,
            ),
            at(
                "2026-11-20T15:00:00Z",
                public(
                    PublicStatus::Identified,
                    &[("Checkout", ComponentStatus::MajorOutage)],
                ),
                3,
            ),
            at(
                "2026-11-20T15:30:00Z",
                public(PublicStatus::Resolved, &[]),
                4,
            ),
        ];
        let h = daily_history(&c, &[i], &[], effect, &days, now);
        assert_eq!(h[0].worst, ComponentStatus::MajorOutage);
        let want = minutes(60.0, ComponentStatus::PartialOutage)
            + minutes(30.0, ComponentStatus::MajorOutage);
        assert!((h[0].down_ms - want).abs() < 1.0, "{:?}", h[0]);
    }

    #[test]
    fn the_indicator_uses_statuspages_words() {
        use ComponentStatus::*;
        assert_eq!(
            indicator(&[Operational, Operational], &[]),
            (Impact::None, "All Systems Operational")
        );
        assert_eq!(
            indicator(&[Operational, DegradedPerformance], &[]).0,
            Impact::Minor
        );
        assert_eq!(
            indicator(&[Operational, PartialOutage], &[]).0,
            Impact::Major
        );
        assert_eq!(
            indicator(&[Operational, MajorOutage], &[]).0,
            Impact::Critical
        );
        assert_eq!(indicator(&[MajorOutage], &[]).1, "Major System Outage");
        assert_eq!(indicator(&[UnderMaintenance], &[]).0, Impact::Maintenance);
        assert_eq!(
            indicator(&[Operational], &[Impact::Minor]),
            (Impact::Minor, "Minor Service Outage")
        );
        assert_eq!(
            indicator(&[], &[]),
            (Impact::None, "All Systems Operational")
        );
        let seven = [
            "All Systems Operational",
            "Partially Degraded Service",
            "Minor Service Outage",
            "Partial System Outage",
            "Major Service Outage",
            "Major System Outage",
            "Service Under Maintenance",
        ];
        for c in [
            Operational,
            DegradedPerformance,
            PartialOutage,
            MajorOutage,
            UnderMaintenance,
        ] {
            for i in Impact::ALL {
                assert!(seven.contains(&indicator(&[c, Operational], &[i]).1));
            }
        }
    }

    #[test]
    fn a_public_update_on_a_drill_is_refused_and_says_why() {
        let mut i = incident("SEV2", &["checkout"], vec![]);
        i.incident.drill = true;
        let err = public(PublicStatus::Investigating, &[])
            .check(&i.incident, None, &[])
            .unwrap_err();
        assert_eq!(err.field, "audience");
        assert!(err.message.contains("drill"), "{err}");
        let mut internal = public(PublicStatus::Investigating, &[]);
        internal.audience = Audience::Internal;
        internal.status = None;
        assert!(internal.check(&i.incident, None, &[]).is_ok());
    }

    #[test]
    fn a_public_update_keeps_the_current_status_when_it_gives_none() {
        let i = incident("SEV2", &["checkout"], vec![]);
        let mut u = public(PublicStatus::Investigating, &[]);
        u.status = None;
        let checked = u
            .clone()
            .check(&i.incident, Some(PublicStatus::Identified), &[])
            .unwrap();
        assert_eq!(checked.status, Some(PublicStatus::Identified));
        let first = u.check(&i.incident, None, &[]).unwrap();
        assert_eq!(first.status, Some(PublicStatus::Investigating));
    }

    #[test]
    fn an_unknown_component_is_refused_with_the_known_ones() {
        let i = incident("SEV2", &["checkout"], vec![]);
        let u = public(
            PublicStatus::Investigating,
            &[("Chekout", ComponentStatus::MajorOutage)],
        );
        let err = u
            .check(&i.incident, None, &["Checkout", "Search"])
            .unwrap_err();
        assert!(err.message.contains("Checkout, Search"), "{err}");
    }

    #[test]
    fn templates_name_the_components() {
        let t = default_template(PublicStatus::Investigating);
        assert!(
            fill_template(t, &["Checkout".into(), "Search".into(), "API".into()]).starts_with(
                "We are investigating reports of problems with Checkout, Search and API."
            )
        );
        assert!(fill_template(t, &[]).contains("some of our services"));
    }

    #[test]
    fn a_day_with_failed_check_runs_shows_them() {
        let day = DayStatus {
            worst: ComponentStatus::Operational,
            down_ms: 0.0,
            counted_ms: 1_000.0,
            checks: None,
        };
        assert_eq!(day.with_checks(0, 0), day, "no runs change nothing");
        let all = day.with_checks(10, 10);
        assert_eq!(all.worst, ComponentStatus::Operational);
        assert_eq!(all.check_uptime(), Some(1.0));
        assert_eq!(all.uptime(), 1.0);
        let some = day.with_checks(97, 100);
        assert_eq!(some.worst, ComponentStatus::DegradedPerformance);
        assert!((some.uptime() - 0.97).abs() < 1e-9);
        assert_eq!(
            day.with_checks(80, 100).worst,
            ComponentStatus::PartialOutage
        );
        assert_eq!(day.with_checks(1, 4).worst, ComponentStatus::MajorOutage);
        // An incident's worse status and downtime stay.
        let outage = DayStatus {
            worst: ComponentStatus::MajorOutage,
            down_ms: 500.0,
            ..day
        }
        .with_checks(99, 100);
        assert_eq!(outage.worst, ComponentStatus::MajorOutage);
        assert_eq!(outage.down_ms, 500.0);
    }
}
