//! The JSON shapes of the API. Domain types are not serialised directly: these are the
//! published contract, mapped from the domain here and nowhere else.

use std::collections::BTreeMap;

use firebreak_domain::{Config, Incident, ResponseTarget};
use firebreak_store::{AuditEntry, ServiceRecord, TimelineEntry, TokenRecord, UserRecord};
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
    pub severity: String,
    /// investigating, identified, mitigated or resolved.
    pub status: String,
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
            severity: i.severity,
            status: i.status.to_string(),
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
pub struct SeverityBody {
    pub name: String,
    pub description: String,
    /// Minutes, or null for "next business day".
    pub respond_within_minutes: Option<i64>,
    pub respond_within: String,
    pub page: Vec<String>,
    pub update_every_minutes: Option<i64>,
    pub requires_commander: bool,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RoleBody {
    pub key: String,
    pub name: String,
    pub duty: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ChecklistBody {
    pub name: String,
    pub severities: Vec<String>,
    pub items: Vec<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ConfigBody {
    pub severities: Vec<SeverityBody>,
    pub roles: Vec<RoleBody>,
    pub checklists: Vec<ChecklistBody>,
    pub services: Vec<String>,
    pub users: Vec<String>,
}

impl From<&Config> for ConfigBody {
    fn from(c: &Config) -> Self {
        ConfigBody {
            severities: c
                .severities
                .iter()
                .map(|s| {
                    let (mins, text) = match &s.respond_within {
                        ResponseTarget::Within(d) => {
                            (Some(d.as_mins()), format!("{}m", d.as_mins()))
                        }
                        ResponseTarget::NextBusinessDay => (None, "next business day".into()),
                    };
                    SeverityBody {
                        name: s.name.clone(),
                        description: s.description.clone(),
                        respond_within_minutes: mins,
                        respond_within: text,
                        page: s
                            .page
                            .iter()
                            .map(|p| match p {
                                firebreak_domain::config::PageTarget::OnCall => {
                                    "on-call".to_string()
                                }
                                firebreak_domain::config::PageTarget::Manager => {
                                    "manager".to_string()
                                }
                            })
                            .collect(),
                        update_every_minutes: s.update_every.map(|d| d.as_mins()),
                        requires_commander: s.requires_commander,
                    }
                })
                .collect(),
            roles: c
                .roles
                .iter()
                .map(|r| RoleBody {
                    key: r.key.clone(),
                    name: r.name.clone(),
                    duty: r.duty.clone(),
                })
                .collect(),
            checklists: c
                .checklists
                .iter()
                .map(|l| ChecklistBody {
                    name: l.name.clone(),
                    severities: l.severities.clone(),
                    items: l.items.clone(),
                })
                .collect(),
            services: c.services.iter().map(|s| s.name.to_string()).collect(),
            users: c.users.iter().map(|u| u.handle.to_string()).collect(),
        }
    }
}
