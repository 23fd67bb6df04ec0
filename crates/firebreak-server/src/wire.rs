//! The JSON shapes of the API. Domain types are not serialised directly: these are the
//! published contract, mapped from the domain here and nowhere else.

use std::collections::BTreeMap;

use firebreak_domain::rules::{MaintenanceWindow, Silence};
use firebreak_domain::{Alert, Config, Incident};
use firebreak_engine::deployments::Suspect;
use firebreak_engine::views::IncidentView;
use firebreak_store::{
    AuditEntry, DeploymentRecord, IntegrationRecord, RouteRecord, ServiceRecord, TimelineEntry,
    TokenRecord, UserRecord,
};
use jiff::Timestamp;
use serde::Serialize;
use utoipa::ToSchema;

#[derive(Debug, Serialize, ToSchema)]
pub struct ListBody<T: ToSchema> {
    pub items: Vec<T>,
    /// Pass as `cursor` to get the next page; null on the last page.
    pub next_cursor: Option<String>,
}

impl<T: ToSchema> ListBody<T> {
    pub fn new(items: Vec<T>, next: Option<i64>) -> Self {
        ListBody {
            items,
            next_cursor: next.map(|n| n.to_string()),
        }
    }

    pub fn keyed(items: Vec<T>, next_cursor: Option<String>) -> Self {
        ListBody { items, next_cursor }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RoleAssignmentBody {
    /// The role's key, usable in `/roles/{role}`.
    pub role: String,
    pub name: String,
    pub user: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ChecklistItemBody {
    pub id: u32,
    pub text: String,
    pub done: bool,
    pub done_by: Option<String>,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub done_at: Option<Timestamp>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct IncidentBody {
    /// The human id, e.g. `INC-7`.
    pub id: String,
    pub number: i64,
    pub title: String,
    /// The name the public status page shows instead of the title; null shows the title.
    pub public_title: Option<String>,
    pub severity: String,
    /// investigating, identified, mitigated or resolved.
    pub status: String,
    /// The status of the incident's postmortem, beside its lifecycle `status`: draft,
    /// in_review or published; null when it has no postmortem (yet). Left out of the incidents
    /// in event webhooks and event streams, which do not look it up.
    pub postmortem_status: Option<String>,
    pub services: Vec<String>,
    pub summary: String,
    pub customer_impact: String,
    pub drill: bool,
    /// Role name -> user handle.
    pub roles: BTreeMap<String, String>,
    pub role_assignments: Vec<RoleAssignmentBody>,
    pub checklist: Vec<ChecklistItemBody>,
    #[schema(value_type = String, format = DateTime)]
    pub detected_at: Timestamp,
    #[schema(value_type = String, format = DateTime)]
    pub declared_at: Timestamp,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub acknowledged_at: Option<Timestamp>,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub mitigated_at: Option<Timestamp>,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub resolved_at: Option<Timestamp>,
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: Timestamp,
    pub declared_by: String,
    /// Ids of the alerts attached to this incident, oldest first.
    pub alerts: Vec<i64>,
    /// True when every attached alert has resolved (recovery verified by monitoring); null
    /// when no alert is attached.
    pub alerts_resolved: Option<bool>,
    /// Deploys of the incident's services in the window before detection, newest first.
    /// The first one is the suspect.
    pub suspect_deploys: Vec<SuspectBody>,
}

/// A deploy shown on an incident.
#[derive(Debug, Serialize, ToSchema)]
pub struct SuspectBody {
    pub id: i64,
    pub service: String,
    pub version: String,
    pub previous_version: Option<String>,
    pub commit: Option<String>,
    pub author: Option<String>,
    pub link: Option<String>,
    #[schema(value_type = String, format = DateTime)]
    pub at: Timestamp,
    /// True for the newest deploy before detection.
    pub suspect: bool,
    /// The version to roll back to, for the suspect.
    pub rollback_to: Option<String>,
}

impl IncidentBody {
    /// An incident with its alerts and suspect deploys, as the engine viewed it.
    pub fn from_view(view: IncidentView, config: &Config) -> IncidentBody {
        let mut body = IncidentBody::from(view.incident, config);
        body.alerts = view.alerts;
        body.alerts_resolved = view.alerts_resolved;
        body.suspect_deploys = view.suspects.into_iter().map(Into::into).collect();
        body.postmortem_status = view.postmortem.map(|p| p.as_str().to_string());
        body
    }
}

impl From<Suspect> for SuspectBody {
    fn from(s: Suspect) -> Self {
        let d = s.deployment;
        SuspectBody {
            id: d.id,
            service: d.service.to_string(),
            version: d.version,
            previous_version: d.previous_version,
            commit: d.commit,
            author: d.author,
            link: d.link,
            at: d.at,
            suspect: s.suspect,
            rollback_to: s.rollback_to,
        }
    }
}

impl IncidentBody {
    pub fn from(i: Incident, config: &Config) -> IncidentBody {
        let name_of = |key: &str| {
            config
                .roles
                .iter()
                .find(|r| r.key == key)
                .map(|r| r.name.clone())
                .unwrap_or_else(|| key.to_string())
        };
        IncidentBody {
            id: i.number.to_string(),
            number: i.number.0,
            title: i.title,
            public_title: i.public_title,
            severity: i.severity,
            status: i.status.to_string(),
            postmortem_status: None,
            services: i.services.iter().map(|s| s.to_string()).collect(),
            summary: i.summary,
            customer_impact: i.customer_impact,
            drill: i.drill,
            roles: i
                .roles
                .iter()
                .map(|(k, u)| (name_of(k), u.clone()))
                .collect(),
            role_assignments: i
                .roles
                .iter()
                .map(|(k, u)| RoleAssignmentBody {
                    role: k.clone(),
                    name: name_of(k),
                    user: u.clone(),
                })
                .collect(),
            checklist: i
                .checklist
                .into_iter()
                .map(|c| ChecklistItemBody {
                    id: c.id,
                    text: c.text,
                    done: c.done,
                    done_by: c.done_by,
                    done_at: c.done_at,
                })
                .collect(),
            detected_at: i.detected_at,
            declared_at: i.declared_at,
            acknowledged_at: i.acknowledged_at,
            mitigated_at: i.mitigated_at,
            resolved_at: i.resolved_at,
            updated_at: i.updated_at,
            declared_by: i.declared_by,
            alerts: vec![],
            alerts_resolved: None,
            suspect_deploys: vec![],
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TimelineEntryBody {
    pub seq: i64,
    #[schema(value_type = String, format = DateTime)]
    pub at: Timestamp,
    pub actor: String,
    pub kind: String,
    #[schema(value_type = Object)]
    pub data: serde_json::Value,
}

impl From<TimelineEntry> for TimelineEntryBody {
    fn from(e: TimelineEntry) -> Self {
        let mut v = serde_json::to_value(&e.event).unwrap_or_default();
        let data = v
            .get_mut("data")
            .map(serde_json::Value::take)
            .unwrap_or_default();
        TimelineEntryBody {
            seq: e.seq,
            at: e.at,
            actor: e.actor,
            kind: e.event.kind().to_string(),
            data,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ServiceBody {
    pub name: String,
    pub description: String,
    pub team: Option<String>,
    pub runbook: Option<String>,
    /// The escalation policy paged for the service's alerts and incidents (else
    /// `paging.default_policy`).
    pub escalation_policy: Option<String>,
    /// A user paged directly when a severity's `page` list names `manager`.
    pub manager: Option<String>,
    /// Declared in firebreak.yaml.
    pub from_config: bool,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
}

impl From<ServiceRecord> for ServiceBody {
    fn from(s: ServiceRecord) -> Self {
        ServiceBody {
            name: s.name.to_string(),
            description: s.description,
            team: s.team,
            runbook: s.runbook,
            escalation_policy: s.escalation_policy.map(|n| n.to_string()),
            manager: s.manager.map(|n| n.to_string()),
            from_config: s.from_config,
            created_at: s.created_at,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct UserBody {
    pub handle: String,
    pub name: String,
    pub email: Option<String>,
    pub time_zone: Option<String>,
    pub role: String,
    pub from_config: bool,
    /// True when the user (and every token acting as them) may not act.
    pub disabled: bool,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub disabled_at: Option<Timestamp>,
}

impl From<UserRecord> for UserBody {
    fn from(u: UserRecord) -> Self {
        UserBody {
            handle: u.handle.to_string(),
            name: u.name,
            email: u.email,
            time_zone: u.time_zone,
            role: u.role.to_string(),
            from_config: u.from_config,
            disabled: u.disabled_at.is_some(),
            disabled_at: u.disabled_at,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TokenBody {
    pub id: String,
    pub name: String,
    pub role: String,
    pub user: Option<String>,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub revoked_at: Option<Timestamp>,
    /// When the token stops working, if it expires.
    #[schema(value_type = Option<String>, format = DateTime)]
    pub expires_at: Option<Timestamp>,
    /// The secret, present only in the answer that created the token.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
}

impl From<TokenRecord> for TokenBody {
    fn from(t: TokenRecord) -> Self {
        TokenBody {
            id: t.id,
            name: t.name,
            role: t.role.to_string(),
            user: t.user.map(|u| u.to_string()),
            created_at: t.created_at,
            revoked_at: t.revoked_at,
            expires_at: t.expires_at,
            token: None,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AuditEntryBody {
    pub id: i64,
    pub actor: String,
    pub action: String,
    pub target: String,
    #[schema(value_type = String, format = DateTime)]
    pub at: Timestamp,
    pub source: Option<String>,
}

impl From<AuditEntry> for AuditEntryBody {
    fn from(a: AuditEntry) -> Self {
        AuditEntryBody {
            id: a.id,
            actor: a.actor,
            action: a.action,
            target: a.target,
            at: a.at,
            source: a.source,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct LinkBody {
    pub href: String,
    pub text: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ImageBody {
    pub src: String,
    pub href: Option<String>,
    pub alt: Option<String>,
}

/// An alert as the API shows it.
#[derive(Debug, Serialize, ToSchema)]
pub struct AlertBody {
    pub id: i64,
    pub dedup_key: String,
    /// open, acknowledged, resolved or suppressed.
    pub status: String,
    /// critical, error, warning or info.
    pub severity: String,
    /// high or low. Low-urgency alerts never start paging.
    pub urgency: String,
    pub summary: String,
    pub source: String,
    /// The service's name.
    pub service: String,
    /// The integration the alert came through.
    pub integration: String,
    /// pagerduty, opsgenie, alertmanager, grafana, generic or heartbeat.
    pub format: String,
    /// The incident this alert belongs to (`INC-7`), or null.
    pub incident: Option<String>,
    /// How many events this alert has received.
    pub count: i64,
    #[schema(value_type = String, format = DateTime)]
    pub first_seen: Timestamp,
    #[schema(value_type = String, format = DateTime)]
    pub last_seen: Timestamp,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub started_at: Option<Timestamp>,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub ended_at: Option<Timestamp>,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub acknowledged_at: Option<Timestamp>,
    pub acknowledged_by: Option<String>,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub resolved_at: Option<Timestamp>,
    pub resolved_by: Option<String>,
    /// Why a suppressed alert was not paged.
    pub suppressed_reason: Option<String>,
    pub labels: BTreeMap<String, String>,
    /// The sender's details, as JSON.
    #[schema(value_type = Object)]
    pub details: Box<serde_json::value::RawValue>,
    pub links: Vec<LinkBody>,
    pub images: Vec<ImageBody>,
    /// A rehearsal: it groups only with drills and its pages say `[DRILL]`.
    pub drill: bool,
    /// The game day that injected it, if one did.
    pub gameday: Option<i64>,
}

impl AlertBody {
    pub fn from(a: Alert) -> AlertBody {
        AlertBody {
            id: a.id,
            dedup_key: a.dedup_key,
            status: a.status.to_string(),
            severity: a.severity.to_string(),
            urgency: a.urgency.to_string(),
            summary: a.summary,
            source: a.source,
            service: a.service.to_string(),
            integration: a.integration,
            format: a.format.to_string(),
            incident: a.incident.map(|n| n.to_string()),
            count: a.count,
            first_seen: a.first_seen,
            last_seen: a.last_seen,
            started_at: a.started_at,
            ended_at: a.ended_at,
            acknowledged_at: a.acknowledged_at,
            acknowledged_by: a.acknowledged_by,
            resolved_at: a.resolved_at,
            resolved_by: a.resolved_by,
            suppressed_reason: a.suppressed_reason,
            labels: a.labels,
            // Stored as JSON text: passed through as it is, not parsed into a tree and written
            // out again for every alert of a list or an event.
            details: serde_json::value::RawValue::from_string(a.details)
                .unwrap_or_else(|_| serde_json::value::RawValue::NULL.to_owned()),
            links: a
                .links
                .into_iter()
                .map(|l| LinkBody {
                    href: l.href,
                    text: l.text,
                })
                .collect(),
            images: a
                .images
                .into_iter()
                .map(|i| ImageBody {
                    src: i.src,
                    href: i.href,
                    alt: i.alt,
                })
                .collect(),
            drill: a.drill,
            gameday: a.gameday,
        }
    }
}

/// [`AlertBody`] borrowed from an alert: the same JSON text, written without copying the
/// alert first. Every new alert's `alert.opened` body is written this way inside its unit of
/// work, so the copy (its raw record included) was paid on the writer for each one. The field
/// order and shapes must stay those of [`AlertBody`]; a test compares the two.
#[derive(Serialize)]
pub struct AlertView<'a> {
    id: i64,
    dedup_key: &'a str,
    status: &'static str,
    severity: &'static str,
    urgency: &'static str,
    summary: &'a str,
    source: &'a str,
    service: &'a str,
    integration: &'a str,
    format: &'static str,
    #[serde(serialize_with = "incident_text")]
    incident: Option<firebreak_domain::IncidentNumber>,
    count: i64,
    first_seen: Timestamp,
    last_seen: Timestamp,
    started_at: Option<Timestamp>,
    ended_at: Option<Timestamp>,
    acknowledged_at: Option<Timestamp>,
    acknowledged_by: Option<&'a str>,
    resolved_at: Option<Timestamp>,
    resolved_by: Option<&'a str>,
    suppressed_reason: Option<&'a str>,
    labels: &'a BTreeMap<String, String>,
    details: &'a serde_json::value::RawValue,
    #[serde(serialize_with = "link_bodies")]
    links: &'a [firebreak_domain::alert::Link],
    #[serde(serialize_with = "image_bodies")]
    images: &'a [firebreak_domain::alert::Image],
    drill: bool,
    gameday: Option<i64>,
}

impl<'a> AlertView<'a> {
    pub fn of(a: &'a Alert) -> AlertView<'a> {
        AlertView {
            id: a.id,
            dedup_key: &a.dedup_key,
            status: a.status.as_str(),
            severity: a.severity.as_str(),
            urgency: a.urgency.as_str(),
            summary: &a.summary,
            source: &a.source,
            service: a.service.as_str(),
            integration: &a.integration,
            format: a.format.as_str(),
            incident: a.incident,
            count: a.count,
            first_seen: a.first_seen,
            last_seen: a.last_seen,
            started_at: a.started_at,
            ended_at: a.ended_at,
            acknowledged_at: a.acknowledged_at,
            acknowledged_by: a.acknowledged_by.as_deref(),
            resolved_at: a.resolved_at,
            resolved_by: a.resolved_by.as_deref(),
            suppressed_reason: a.suppressed_reason.as_deref(),
            labels: &a.labels,
            details: serde_json::from_str(&a.details).unwrap_or(serde_json::value::RawValue::NULL),
            links: &a.links,
            images: &a.images,
            drill: a.drill,
            gameday: a.gameday,
        }
    }
}

fn incident_text<S: serde::Serializer>(
    n: &Option<firebreak_domain::IncidentNumber>,
    s: S,
) -> Result<S::Ok, S::Error> {
    match n {
        Some(n) => s.collect_str(n),
        None => s.serialize_none(),
    }
}

fn link_bodies<S: serde::Serializer>(
    links: &&[firebreak_domain::alert::Link],
    s: S,
) -> Result<S::Ok, S::Error> {
    #[derive(Serialize)]
    struct L<'a> {
        href: &'a str,
        text: Option<&'a str>,
    }
    s.collect_seq(links.iter().map(|l| L {
        href: &l.href,
        text: l.text.as_deref(),
    }))
}

fn image_bodies<S: serde::Serializer>(
    images: &&[firebreak_domain::alert::Image],
    s: S,
) -> Result<S::Ok, S::Error> {
    #[derive(Serialize)]
    struct I<'a> {
        src: &'a str,
        href: Option<&'a str>,
        alt: Option<&'a str>,
    }
    s.collect_seq(images.iter().map(|i| I {
        src: &i.src,
        href: i.href.as_deref(),
        alt: i.alt.as_deref(),
    }))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct IntegrationKeyBody {
    pub id: String,
    /// The key's last four characters.
    pub hint: String,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub revoked_at: Option<Timestamp>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct IntegrationBody {
    pub id: String,
    pub service: String,
    pub name: String,
    pub from_config: bool,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
    pub keys: Vec<IntegrationKeyBody>,
    /// The new key, shown only in the answer that created it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// The id of the new key, with `key`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_id: Option<String>,
}

impl From<IntegrationRecord> for IntegrationBody {
    fn from(i: IntegrationRecord) -> Self {
        IntegrationBody {
            id: i.id,
            service: i.service.to_string(),
            name: i.name,
            from_config: i.from_config,
            created_at: i.created_at,
            keys: i
                .keys
                .into_iter()
                .map(|k| IntegrationKeyBody {
                    id: k.id,
                    hint: k.hint,
                    created_at: k.created_at,
                    revoked_at: k.revoked_at,
                })
                .collect(),
            key: None,
            key_id: None,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SilenceBody {
    pub id: i64,
    /// Alertmanager-style matchers, e.g. `alertname="DiskFull"`.
    pub matchers: Vec<String>,
    #[schema(value_type = String, format = DateTime)]
    pub starts_at: Timestamp,
    #[schema(value_type = String, format = DateTime)]
    pub ends_at: Timestamp,
    pub comment: String,
    pub created_by: String,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
    /// True while the silence is in force.
    pub active: bool,
    /// pending (starts later), active or expired.
    pub state: String,
}

impl SilenceBody {
    pub fn from(s: Silence, now: Timestamp) -> SilenceBody {
        SilenceBody {
            id: s.id,
            matchers: s.matchers.iter().map(|m| m.to_string()).collect(),
            active: s.active(now),
            state: if s.active(now) {
                "active"
            } else if now < s.starts_at {
                "pending"
            } else {
                "expired"
            }
            .into(),
            starts_at: s.starts_at,
            ends_at: s.ends_at,
            comment: s.comment,
            created_by: s.created_by,
            created_at: s.created_at,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MaintenanceBody {
    pub id: i64,
    pub service: String,
    #[schema(value_type = String, format = DateTime)]
    pub starts_at: Timestamp,
    #[schema(value_type = String, format = DateTime)]
    pub ends_at: Timestamp,
    pub comment: String,
    pub created_by: String,
    pub active: bool,
}

impl MaintenanceBody {
    pub fn from(w: MaintenanceWindow, now: Timestamp) -> MaintenanceBody {
        MaintenanceBody {
            id: w.id,
            service: w.service.to_string(),
            active: w.active(now),
            starts_at: w.starts_at,
            ends_at: w.ends_at,
            comment: w.comment,
            created_by: w.created_by,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RouteBody {
    /// Null for rules from the config file, which cannot be deleted through the API.
    pub id: Option<i64>,
    pub matchers: Vec<String>,
    pub service: Option<String>,
    pub severity: Option<String>,
    pub urgency: Option<String>,
    pub drop: bool,
    pub from_config: bool,
}

impl RouteBody {
    pub fn from(record: Option<RouteRecord>, r: firebreak_domain::rules::Route) -> RouteBody {
        RouteBody {
            id: record.as_ref().map(|r| r.id),
            from_config: record.is_none(),
            matchers: r.matchers.iter().map(|m| m.to_string()).collect(),
            service: r.service.map(|s| s.to_string()),
            severity: r.severity.map(|s| s.to_string()),
            urgency: r.urgency.map(|u| u.to_string()),
            drop: r.drop,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DeploymentBody {
    pub id: i64,
    pub service: String,
    pub version: String,
    pub previous_version: Option<String>,
    pub commit: Option<String>,
    pub author: Option<String>,
    pub link: Option<String>,
    #[schema(value_type = String, format = DateTime)]
    pub at: Timestamp,
    /// Who reported it: `api`, `cli`, `ci` (or another word a pipeline chose), `pagerduty`
    /// for change events, `firebreak` for a rollback a runbook action ran.
    pub source: String,
    pub summary: Option<String>,
    /// True when the deploy was reported while its service was frozen.
    pub frozen: bool,
    /// Why it was frozen then: the open incidents and declared freezes.
    pub freeze_reasons: Vec<String>,
    /// True for a rollback: remediation, left out of the change failure rate.
    pub rollback: bool,
    /// The deploy a rollback undid: set by a runbook's rollback action, or by whoever reported
    /// the rollback (`rolls_back` in `POST /api/v1/deployments`).
    pub rolls_back: Option<i64>,
    /// The incident a rollback was run for (`INC-n`).
    pub incident: Option<String>,
    /// True for a deploy a game day rehearsed: counted in DORA only when drills are asked for.
    pub drill: bool,
}

impl From<DeploymentRecord> for DeploymentBody {
    fn from(d: DeploymentRecord) -> Self {
        DeploymentBody {
            id: d.id,
            service: d.service.to_string(),
            version: d.version,
            previous_version: d.previous_version,
            commit: d.commit,
            author: d.author,
            link: d.link,
            at: d.at,
            source: d.source,
            summary: d.summary,
            frozen: !d.freeze_reasons.is_empty(),
            freeze_reasons: d.freeze_reasons,
            rollback: d.rollback,
            rolls_back: d.rolls_back,
            incident: d.incident.map(|n| n.to_string()),
            drill: d.drill,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{AlertBody, AlertView};
    use firebreak_domain::alert::{Image, Link};
    use firebreak_domain::{
        Alert, AlertFormat, AlertSeverity, AlertStatus, IncidentNumber, Name, Urgency,
    };
    use jiff::Timestamp;

    fn at(s: &str) -> Timestamp {
        s.parse().expect("timestamp")
    }

    fn full() -> Alert {
        Alert {
            id: 42,
            integration: "int_1".into(),
            service: Name::parse("checkout").expect("name"),
            dedup_key: "disk \"full\" é".into(),
            format: AlertFormat::Alertmanager,
            status: AlertStatus::Acknowledged,
            severity: AlertSeverity::Critical,
            urgency: Urgency::High,
            summary: "Disk <full> on db-1\n".into(),
            source: "prometheus".into(),
            labels: [("alertname", "DiskFull"), ("instance", "db-1:9100")]
                .into_iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            details: r#" {"free": 0.5, "mounts": ["/", "/var"], "note": "\u00e9"} "#.into(),
            links: vec![
                Link {
                    href: "https://grafana.example/d/1".into(),
                    text: Some("Dashboard".into()),
                },
                Link {
                    href: "https://runbooks.example/disk".into(),
                    text: None,
                },
            ],
            images: vec![Image {
                src: "https://grafana.example/render/1.png".into(),
                href: None,
                alt: Some("disk".into()),
            }],
            started_at: Some(at("2026-12-05T09:00:00.123Z")),
            ended_at: None,
            first_seen: at("2026-12-05T09:00:01Z"),
            last_seen: at("2026-12-05T09:05:00.5Z"),
            count: 3,
            acknowledged_at: Some(at("2026-12-05T09:06:00Z")),
            acknowledged_by: Some("alice".into()),
            resolved_at: None,
            resolved_by: None,
            suppressed_reason: Some("silence 7".into()),
            incident: Some(IncidentNumber(7)),
            raw: r#"{"labels":{"alertname":"DiskFull"}}"#.into(),
            drill: true,
            gameday: Some(3),
        }
    }

    /// The borrowed view writes exactly what the API's alert shape writes, for a full alert
    /// and for one with nothing optional and details that are not JSON.
    #[test]
    fn the_alert_view_writes_the_same_text_as_the_alert_body() {
        let bare = Alert {
            links: vec![],
            images: vec![],
            started_at: None,
            acknowledged_at: None,
            acknowledged_by: None,
            suppressed_reason: None,
            incident: None,
            details: "not json".into(),
            labels: Default::default(),
            gameday: None,
            drill: false,
            status: AlertStatus::Open,
            ..full()
        };
        for alert in [full(), bare] {
            let body = serde_json::to_string(&AlertBody::from(alert.clone())).expect("body");
            let view = serde_json::to_string(&AlertView::of(&alert)).expect("view");
            assert_eq!(view, body);
        }
    }
}
