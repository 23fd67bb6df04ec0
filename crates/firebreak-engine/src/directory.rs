//! Services and users: created from the config file at start, or through the API by admins.

use firebreak_domain::{AccessRole, Config, Name};
use firebreak_store::{
    PolicyRecord, ScheduleRecord, ServiceRecord, StoreError, StoreWrites, UserRecord,
};

use crate::{EngineError, Firebreak, Principal, invalid};

/// The changeable fields of a service.
#[derive(Debug, Clone, Default)]
pub struct ServiceFields {
    pub description: Option<String>,
    pub team: Option<String>,
    pub runbook: Option<String>,
    /// `Some(None)` clears it.
    pub escalation_policy: Option<Option<Name>>,
    /// `Some(None)` clears it.
    pub manager: Option<Option<Name>>,
}

fn check_runbook(runbook: &Option<String>) -> Result<(), EngineError> {
    match runbook {
        Some(r) if !(r.starts_with("https://") || r.starts_with("http://")) => {
            Err(invalid("runbook", "must be an http:// or https:// link"))
        }
        _ => Ok(()),
    }
}

impl Firebreak {
    /// Makes the config file's services, users and schedules exist in the store, in one unit
    /// of work.
    pub async fn sync_config(&self, config: &Config) -> Result<(), EngineError> {
        let now = self.clock.now();
        let services: Vec<ServiceRecord> = config
            .services
            .iter()
            .map(|s| ServiceRecord {
                name: s.name.clone(),
                description: s.description.clone(),
                team: s.team.clone(),
                runbook: s.runbook.clone(),
                escalation_policy: s.escalation_policy.clone(),
                manager: s.manager.clone(),
                from_config: true,
                created_at: now,
            })
            .collect();
        let users: Vec<UserRecord> = config
            .users
            .iter()
            .map(|u| UserRecord {
                handle: u.handle.clone(),
                name: u.name.clone(),
                email: u.email.clone(),
                time_zone: u.time_zone.clone(),
                role: AccessRole::Responder,
                from_config: true,
                created_at: now,
                disabled_at: None,
            })
            .collect();
        let schedules: Vec<ScheduleRecord> = config
            .schedules
            .iter()
            .map(|s| ScheduleRecord {
                schedule: s.clone(),
                from_config: true,
                created_at: now,
                updated_at: now,
            })
            .collect();
        let policies: Vec<PolicyRecord> = config
            .escalation_policies
            .iter()
            .map(|p| PolicyRecord {
                policy: p.clone(),
                from_config: true,
                created_at: now,
                updated_at: now,
            })
            .collect();
        let rows = services.len() + users.len() + schedules.len() + policies.len();
        self.write(rows.max(1), || {
            let (services, users, schedules, policies) = (
                services.clone(),
                users.clone(),
                schedules.clone(),
                policies.clone(),
            );
            move |tx| {
                Box::pin(async move {
                    tx.sync_config(services, users).await?;
                    tx.sync_schedules(schedules).await?;
                    tx.sync_policies(policies).await
                })
            }
        })
        .await?;
        self.paging_changed().await;
        self.sync_components(config).await
    }

    pub async fn create_service(
        &self,
        who: &Principal,
        name: Name,
        fields: ServiceFields,
    ) -> Result<ServiceRecord, EngineError> {
        check_runbook(&fields.runbook)?;
        self.check_paging_fields(&fields).await?;
        let record = ServiceRecord {
            name: name.clone(),
            description: fields.description.unwrap_or_default(),
            team: fields.team,
            runbook: fields.runbook,
            escalation_policy: fields.escalation_policy.flatten(),
            manager: fields.manager.flatten(),
            from_config: false,
            created_at: self.clock.now(),
        };
        let audit = self.audit(who, "service.create", format!("service {name}"));
        let created = self.store.create_service(record, audit).await?;
        // The next alert on the service pages by its policy, without waiting for the feed.
        self.paging_changed().await;
        Ok(created)
    }

    /// A service's policy must exist, and its manager must be a user.
    async fn check_paging_fields(&self, fields: &ServiceFields) -> Result<(), EngineError> {
        if let Some(Some(policy)) = &fields.escalation_policy
            && self.store.get_policy(policy).await?.is_none()
        {
            return Err(invalid(
                "escalation_policy",
                format!(
                    "there is no escalation policy named `{policy}`; list them with GET /api/v1/escalation-policies"
                ),
            ));
        }
        if let Some(Some(manager)) = &fields.manager
            && self.store.get_user(manager).await?.is_none()
        {
            return Err(invalid("manager", format!("there is no user `{manager}`")));
        }
        Ok(())
    }

    pub async fn service(&self, name: &Name) -> Result<ServiceRecord, EngineError> {
        self.store
            .get_service(name)
            .await?
            .ok_or_else(|| EngineError::NotFound(format!("there is no service named `{name}`")))
    }

    pub async fn update_service(
        &self,
        who: &Principal,
        name: &Name,
        fields: ServiceFields,
    ) -> Result<ServiceRecord, EngineError> {
        check_runbook(&fields.runbook)?;
        let mut record = self.service(name).await?;
        self.check_paging_fields(&fields).await?;
        if let Some(d) = fields.description {
            record.description = d;
        }
        if fields.team.is_some() {
            record.team = fields.team;
        }
        if fields.runbook.is_some() {
            record.runbook = fields.runbook;
        }
        if let Some(policy) = fields.escalation_policy {
            record.escalation_policy = policy;
        }
        if let Some(manager) = fields.manager {
            record.manager = manager;
        }
        let audit = self.audit(who, "service.update", format!("service {name}"));
        let updated = self.store.update_service(record, audit).await?;
        self.paging_changed().await;
        Ok(updated)
    }

    pub async fn delete_service(&self, who: &Principal, name: &Name) -> Result<(), EngineError> {
        let record = self.service(name).await?;
        if record.from_config {
            return Err(EngineError::Conflict(format!(
                "service `{name}` is declared in firebreak.yaml; remove it there instead"
            )));
        }
        let audit = self.audit(who, "service.delete", format!("service {name}"));
        self.store
            .delete_service(name, audit)
            .await
            .map_err(|e| match e {
                StoreError::NotFound => {
                    EngineError::NotFound(format!("there is no service named `{name}`"))
                }
                other => other.into(),
            })?;
        self.paging_changed().await;
        Ok(())
    }

    pub async fn create_user(
        &self,
        who: &Principal,
        user: UserRecord,
    ) -> Result<UserRecord, EngineError> {
        who.outside_break_glass("add users")?;
        let audit = self.audit(who, "user.create", format!("user {}", user.handle));
        let created = self.store.create_user(user, audit).await?;
        self.paging_changed().await;
        Ok(created)
    }

    pub async fn user(&self, handle: &Name) -> Result<UserRecord, EngineError> {
        self.store
            .get_user(handle)
            .await?
            .ok_or_else(|| EngineError::NotFound(format!("there is no user `{handle}`")))
    }

    pub async fn update_user(
        &self,
        who: &Principal,
        user: UserRecord,
    ) -> Result<UserRecord, EngineError> {
        who.outside_break_glass("change users")?;
        let current = self.user(&user.handle).await?;
        let stays_admin = user.role == AccessRole::Admin && user.disabled_at.is_none();
        let was_admin = current.role == AccessRole::Admin && current.disabled_at.is_none();
        if was_admin && !stays_admin {
            let admins = self
                .store
                .list_users()
                .await?
                .into_iter()
                .filter(|u| u.role == AccessRole::Admin && u.disabled_at.is_none())
                .count();
            if admins <= 1 {
                return Err(EngineError::Conflict(format!(
                    "{} is the last admin; make another user an admin first, or nobody can manage Firebreak",
                    user.handle
                )));
            }
        }
        let action = match (current.disabled_at, user.disabled_at) {
            (None, Some(_)) => "user.disable",
            (Some(_), None) => "user.enable",
            _ => "user.update",
        };
        let audit = self.audit(who, action, format!("user {}", user.handle));
        // Disabling a user signs out every browser of theirs in the same unit of work.
        let disabling = current.disabled_at.is_none() && user.disabled_at.is_some();
        let now = self.clock.now();
        let stored = self
            .write(1, || {
                let (user, audit) = (user.clone(), audit.clone());
                move |tx| {
                    Box::pin(async move {
                        let stored = tx.update_user(&user).await?;
                        if disabling {
                            tx.revoke_sessions_of(&user.handle, None, now).await?;
                            tx.expire_invitations(
                                &firebreak_domain::session::InvitationFor::User(
                                    user.handle.clone(),
                                ),
                                now,
                            )
                            .await?;
                        }
                        tx.audit(audit).await?;
                        Ok(stored)
                    })
                }
            })
            .await?;
        // Their tokens act as them: what they may do changed now, not in a few seconds.
        self.tokens.clear();
        // A disabled user is paged no more from now on.
        self.paging_changed().await;
        Ok(stored)
    }
}

impl Firebreak {
    pub async fn list_services(&self) -> Result<Vec<ServiceRecord>, EngineError> {
        Ok(self.store.list_services().await?)
    }

    pub async fn list_users(&self) -> Result<Vec<UserRecord>, EngineError> {
        Ok(self.store.list_users().await?)
    }

    /// The audit log, newest first.
    pub async fn list_audit(
        &self,
        before: Option<i64>,
        limit: u32,
    ) -> Result<firebreak_store::Page<firebreak_store::AuditEntry>, EngineError> {
        Ok(self.store.list_audit(before, limit).await?)
    }

    /// Whether this instance can serve: the database answers and the writer is alive. The
    /// error says what is wrong, for `/readyz`.
    pub async fn ready(&self) -> Result<(), String> {
        let health = self.store.health();
        if !health.writer_alive {
            return Err(format!(
                "the {} writer has stopped; writes cannot be made (see the server log)",
                self.store.backend()
            ));
        }
        self.store.ping().await.map_err(|e| {
            tracing::warn!(error = %e, "readiness check failed");
            format!("the {} store is not answering", self.store.backend())
        })
    }
}
