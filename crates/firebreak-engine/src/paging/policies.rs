//! Escalation policies: declared in `firebreak.yaml` (synced at start) or made through the API
//! by admins. A policy's targets must exist when it is saved; a running escalation keeps the
//! copy it started with, so editing a policy never changes one already paging.

use firebreak_domain::Name;
use firebreak_domain::escalation::{Policy, Target};
use firebreak_store::{PolicyRecord, StoreError};

use crate::{EngineError, Firebreak, Principal, invalid};

/// A policy and the services that name it.
#[derive(Debug, Clone)]
pub struct PolicyView {
    pub record: PolicyRecord,
    pub services: Vec<Name>,
}

impl Firebreak {
    /// Every user and schedule a policy pages must exist.
    async fn check_targets(&self, policy: &Policy) -> Result<(), EngineError> {
        for (i, step) in policy.steps.iter().enumerate() {
            for (j, target) in step.targets.iter().enumerate() {
                let field = format!("steps[{i}].targets[{j}]");
                match target {
                    Target::User(u) if self.store.get_user(u).await?.is_none() => {
                        return Err(invalid(&field, format!("there is no user `{u}`")));
                    }
                    Target::Schedule(s) if self.store.get_schedule(s).await?.is_none() => {
                        return Err(invalid(
                            &field,
                            format!(
                                "there is no schedule named `{s}`; create it first (POST /api/v1/schedules)"
                            ),
                        ));
                    }
                    _ => {}
                }
            }
        }
        Ok(())
    }

    async fn policy_view(&self, record: PolicyRecord) -> Result<PolicyView, EngineError> {
        let services = self
            .store
            .list_services()
            .await?
            .into_iter()
            .filter(|s| s.escalation_policy.as_ref() == Some(&record.policy.name))
            .map(|s| s.name)
            .collect();
        Ok(PolicyView { record, services })
    }

    pub async fn policies(&self) -> Result<Vec<PolicyView>, EngineError> {
        let services = self.store.list_services().await?;
        Ok(self
            .store
            .list_policies()
            .await?
            .into_iter()
            .map(|record| PolicyView {
                services: services
                    .iter()
                    .filter(|s| s.escalation_policy.as_ref() == Some(&record.policy.name))
                    .map(|s| s.name.clone())
                    .collect(),
                record,
            })
            .collect())
    }

    pub async fn policy(&self, name: &Name) -> Result<PolicyView, EngineError> {
        let record = self.store.get_policy(name).await?.ok_or_else(|| {
            EngineError::NotFound(format!("there is no escalation policy named `{name}`"))
        })?;
        self.policy_view(record).await
    }

    /// Creates a policy, or with `replace` replaces the one of that name (a policy declared in
    /// firebreak.yaml is changed there, not through the API).
    pub async fn save_policy(
        &self,
        who: &Principal,
        policy: Policy,
        replace: bool,
    ) -> Result<PolicyView, EngineError> {
        self.check_targets(&policy).await?;
        let name = policy.name.clone();
        let now = self.clock.now();
        let existing = self.store.get_policy(&name).await?;
        if replace {
            match &existing {
                None => {
                    return Err(EngineError::NotFound(format!(
                        "there is no escalation policy named `{name}`"
                    )));
                }
                Some(p) if p.from_config => {
                    return Err(EngineError::Conflict(format!(
                        "escalation policy `{name}` is declared in firebreak.yaml; change it there instead"
                    )));
                }
                Some(_) => {}
            }
        }
        let record = PolicyRecord {
            policy,
            from_config: false,
            created_at: existing.as_ref().map(|p| p.created_at).unwrap_or(now),
            updated_at: now,
        };
        let action = if replace {
            "policy.replace"
        } else {
            "policy.create"
        };
        let audit = self.audit(who, action, format!("policy {name}"));
        let stored = record.clone();
        self.write(2, || {
            let (stored, audit) = (stored.clone(), audit.clone());
            move |tx| {
                Box::pin(async move {
                    if replace {
                        tx.replace_policy(&stored).await?;
                    } else {
                        tx.create_policy(&stored).await?;
                    }
                    tx.audit(audit).await
                })
            }
        })
        .await?;
        self.paging_changed().await;
        self.policy_view(record).await
    }

    /// Removes a policy no service names.
    pub async fn delete_policy(&self, who: &Principal, name: &Name) -> Result<(), EngineError> {
        let view = self.policy(name).await?;
        if view.record.from_config {
            return Err(EngineError::Conflict(format!(
                "escalation policy `{name}` is declared in firebreak.yaml; remove it there instead"
            )));
        }
        if !view.services.is_empty() {
            let names: Vec<String> = view.services.iter().map(|s| s.to_string()).collect();
            return Err(EngineError::Conflict(format!(
                "escalation policy `{name}` pages for {}; point them at another policy first (PATCH /api/v1/services/{{name}})",
                names.join(", ")
            )));
        }
        if self.paging.default_policy.as_ref() == Some(name) {
            return Err(EngineError::Conflict(format!(
                "escalation policy `{name}` is paging.default_policy in firebreak.yaml"
            )));
        }
        let audit = self.audit(who, "policy.delete", format!("policy {name}"));
        let name_ = name.clone();
        self.write(2, || {
            let (name, audit) = (name_.clone(), audit.clone());
            move |tx| {
                Box::pin(async move {
                    tx.delete_policy(&name).await?;
                    tx.audit(audit).await
                })
            }
        })
        .await
        .map_err(|e| match e {
            StoreError::NotFound => {
                EngineError::NotFound(format!("there is no escalation policy named `{name}`"))
            }
            other => other.into(),
        })?;
        self.paging_changed().await;
        Ok(())
    }
}
