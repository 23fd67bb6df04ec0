//! The everyday writes, each one unit of work built from [`Tx`](crate::Tx) calls, written once
//! for every backend. The engine composes bigger units of work itself; these cover the writes
//! that are one change plus its audit record.

use async_trait::async_trait;
use firebreak_domain::rules::{MaintenanceWindow, Silence};
use firebreak_domain::{Incident, IncidentNumber, Name};
use futures_util::future::BoxFuture;
use jiff::Timestamp;

use crate::outbox::{Attempt, Lease, Message, NewMessage, Priority};
use crate::{
    AuditDraft, DeploymentRecord, IntegrationKey, IntegrationRecord, Result, RouteRecord,
    ServiceRecord, Store, StoreError, TimelineDraft, TimelineEntry, TokenRecord, UserRecord,
    transact,
};

#[async_trait]
pub trait StoreWrites {
    /// Stores a declared incident with the next sequential number, its first timeline entries
    /// and its audit record.
    async fn create_incident(
        &self,
        incident: Incident,
        events: Vec<TimelineDraft>,
        audit: AuditDraft,
    ) -> Result<Incident>;
    /// Saves a changed incident. `incident.version` is the new version; the stored one must be
    /// `incident.version - 1`, or the call fails with `Conflict` and changes nothing.
    async fn update_incident(
        &self,
        incident: &Incident,
        events: Vec<TimelineDraft>,
        audit: AuditDraft,
    ) -> Result<()>;
    /// Appends entries that change no incident field (notes). `NotFound` if there is no such incident.
    async fn append_timeline(
        &self,
        number: IncidentNumber,
        events: Vec<TimelineDraft>,
        audit: AuditDraft,
    ) -> Result<Vec<TimelineEntry>>;

    async fn create_service(
        &self,
        service: ServiceRecord,
        audit: AuditDraft,
    ) -> Result<ServiceRecord>;
    async fn update_service(
        &self,
        service: ServiceRecord,
        audit: AuditDraft,
    ) -> Result<ServiceRecord>;
    async fn delete_service(&self, name: &Name, audit: AuditDraft) -> Result<()>;
    /// Makes the config file's services and users present and current. Never deletes.
    async fn sync_config(&self, services: Vec<ServiceRecord>, users: Vec<UserRecord>)
    -> Result<()>;
    async fn create_user(&self, user: UserRecord, audit: AuditDraft) -> Result<UserRecord>;
    async fn update_user(&self, user: UserRecord, audit: AuditDraft) -> Result<UserRecord>;

    async fn create_token(&self, token: TokenRecord, audit: AuditDraft) -> Result<TokenRecord>;
    async fn revoke_token(&self, id: &str, at: Timestamp, audit: AuditDraft)
    -> Result<TokenRecord>;
    /// On a store with no admin user, creates `user` and `token` together and returns true.
    /// Otherwise changes nothing and returns false. Safe to race.
    async fn bootstrap_admin(
        &self,
        user: UserRecord,
        token: TokenRecord,
        audit: AuditDraft,
    ) -> Result<bool>;

    async fn create_integration(
        &self,
        integration: IntegrationRecord,
        audit: AuditDraft,
    ) -> Result<IntegrationRecord>;
    async fn add_integration_key(
        &self,
        integration: &str,
        key: IntegrationKey,
        audit: AuditDraft,
    ) -> Result<IntegrationRecord>;
    async fn revoke_integration_key(
        &self,
        integration: &str,
        key: &str,
        at: Timestamp,
        audit: AuditDraft,
    ) -> Result<IntegrationRecord>;
    async fn sync_integrations(&self, integrations: Vec<IntegrationRecord>) -> Result<()>;

    /// `audit`'s target gets the new id appended ([`AuditDraft::naming`]), here and in the
    /// other creates whose id the store assigns (maintenance windows, routes, deployments).
    async fn create_silence(&self, silence: Silence, audit: AuditDraft) -> Result<Silence>;
    /// Ends a silence at `at` ([`Silence::end_early`]). `NotFound` if it does not exist or has
    /// already ended.
    async fn expire_silence(&self, id: i64, at: Timestamp, audit: AuditDraft) -> Result<Silence>;
    async fn create_maintenance(
        &self,
        window: MaintenanceWindow,
        audit: AuditDraft,
    ) -> Result<MaintenanceWindow>;
    /// Ends a window at `at`, emptying one that has not started. `NotFound` if unknown or over.
    async fn end_maintenance(
        &self,
        id: i64,
        at: Timestamp,
        audit: AuditDraft,
    ) -> Result<MaintenanceWindow>;
    async fn create_route(&self, route: RouteRecord, audit: AuditDraft) -> Result<RouteRecord>;
    async fn delete_route(&self, id: i64, audit: AuditDraft) -> Result<()>;
    async fn record_deployment(
        &self,
        deployment: DeploymentRecord,
        audit: AuditDraft,
    ) -> Result<DeploymentRecord>;

    async fn enqueue(&self, messages: Vec<NewMessage>) -> Result<u64>;
    /// Claims due messages of every priority, pages first.
    async fn claim_due(&self, now: Timestamp, lease: Lease, limit: u32) -> Result<Vec<Message>> {
        self.claim_due_of(&Priority::CLAIM_ORDER, now, lease, limit)
            .await
    }
    /// Claims due messages of `priorities` only, in that order.
    async fn claim_due_of(
        &self,
        priorities: &[Priority],
        now: Timestamp,
        lease: Lease,
        limit: u32,
    ) -> Result<Vec<Message>>;
    async fn complete(&self, id: i64, owner: &str, attempt: Attempt) -> Result<bool>;
    async fn retry_at(&self, id: i64, owner: &str, at: Timestamp, attempt: Attempt)
    -> Result<bool>;
    async fn fail(&self, id: i64, owner: &str, dead: bool, attempt: Attempt) -> Result<bool>;
    async fn release(&self, owner: &str, now: Timestamp) -> Result<u64>;
}

/// Runs `work` and records `audit` after it, in one unit of work.
async fn audited<S, T, F>(store: &S, audit: AuditDraft, work: F) -> Result<T>
where
    S: Store + ?Sized,
    T: Send + 'static,
    F: for<'t> FnOnce(&'t mut (dyn crate::Tx + 't)) -> BoxFuture<'t, Result<T>> + Send + 'static,
{
    transact(store, move |tx| {
        Box::pin(async move {
            let value = work(&mut *tx).await?;
            tx.audit(audit).await?;
            Ok(value)
        })
    })
    .await
}

#[async_trait]
impl<S: Store + ?Sized> StoreWrites for S {
    async fn create_incident(
        &self,
        incident: Incident,
        events: Vec<TimelineDraft>,
        audit: AuditDraft,
    ) -> Result<Incident> {
        audited(self, audit, move |tx| {
            Box::pin(async move { tx.create_incident(incident, events).await })
        })
        .await
    }

    async fn update_incident(
        &self,
        incident: &Incident,
        events: Vec<TimelineDraft>,
        audit: AuditDraft,
    ) -> Result<()> {
        let incident = incident.clone();
        audited(self, audit, move |tx| {
            Box::pin(async move { tx.update_incident(&incident, events).await.map(|_| ()) })
        })
        .await
    }

    async fn append_timeline(
        &self,
        number: IncidentNumber,
        events: Vec<TimelineDraft>,
        audit: AuditDraft,
    ) -> Result<Vec<TimelineEntry>> {
        audited(self, audit, move |tx| {
            Box::pin(async move { tx.append_timeline(number, events).await })
        })
        .await
    }

    async fn create_service(
        &self,
        service: ServiceRecord,
        audit: AuditDraft,
    ) -> Result<ServiceRecord> {
        audited(self, audit, move |tx| {
            Box::pin(async move {
                tx.create_service(&service).await?;
                Ok(service)
            })
        })
        .await
    }

    async fn update_service(
        &self,
        service: ServiceRecord,
        audit: AuditDraft,
    ) -> Result<ServiceRecord> {
        audited(self, audit, move |tx| {
            Box::pin(async move { tx.update_service(&service).await })
        })
        .await
    }

    async fn delete_service(&self, name: &Name, audit: AuditDraft) -> Result<()> {
        let name = name.clone();
        audited(self, audit, move |tx| {
            Box::pin(async move { tx.delete_service(&name).await })
        })
        .await
    }

    async fn sync_config(
        &self,
        services: Vec<ServiceRecord>,
        users: Vec<UserRecord>,
    ) -> Result<()> {
        transact(self, move |tx| {
            Box::pin(async move { tx.sync_config(services, users).await })
        })
        .await
    }

    async fn create_user(&self, user: UserRecord, audit: AuditDraft) -> Result<UserRecord> {
        audited(self, audit, move |tx| {
            Box::pin(async move {
                tx.create_user(&user).await?;
                Ok(user)
            })
        })
        .await
    }

    async fn update_user(&self, user: UserRecord, audit: AuditDraft) -> Result<UserRecord> {
        audited(self, audit, move |tx| {
            Box::pin(async move { tx.update_user(&user).await })
        })
        .await
    }

    async fn create_token(&self, token: TokenRecord, audit: AuditDraft) -> Result<TokenRecord> {
        audited(self, audit, move |tx| {
            Box::pin(async move {
                tx.create_token(&token).await?;
                Ok(token)
            })
        })
        .await
    }

    async fn revoke_token(
        &self,
        id: &str,
        at: Timestamp,
        audit: AuditDraft,
    ) -> Result<TokenRecord> {
        let id = id.to_string();
        audited(self, audit, move |tx| {
            Box::pin(async move { tx.revoke_token(&id, at).await })
        })
        .await
    }

    async fn bootstrap_admin(
        &self,
        user: UserRecord,
        token: TokenRecord,
        audit: AuditDraft,
    ) -> Result<bool> {
        let created = transact(self, move |tx| {
            Box::pin(async move {
                tx.lock_name("bootstrap-admin").await?;
                if tx.any_admin().await? {
                    return Ok(false);
                }
                tx.create_user(&user).await?;
                tx.create_token(&token).await?;
                tx.audit(audit).await?;
                Ok(true)
            })
        })
        .await;
        match created {
            // Another instance created the admin user first.
            Err(StoreError::Conflict(_)) => Ok(false),
            other => other,
        }
    }

    async fn create_integration(
        &self,
        integration: IntegrationRecord,
        audit: AuditDraft,
    ) -> Result<IntegrationRecord> {
        audited(self, audit, move |tx| {
            Box::pin(async move {
                tx.create_integration(&integration).await?;
                Ok(integration)
            })
        })
        .await
    }

    async fn add_integration_key(
        &self,
        integration: &str,
        key: IntegrationKey,
        audit: AuditDraft,
    ) -> Result<IntegrationRecord> {
        let integration = integration.to_string();
        audited(self, audit, move |tx| {
            Box::pin(async move { tx.add_integration_key(&integration, &key).await })
        })
        .await
    }

    async fn revoke_integration_key(
        &self,
        integration: &str,
        key: &str,
        at: Timestamp,
        audit: AuditDraft,
    ) -> Result<IntegrationRecord> {
        let (integration, key) = (integration.to_string(), key.to_string());
        audited(self, audit, move |tx| {
            Box::pin(async move { tx.revoke_integration_key(&integration, &key, at).await })
        })
        .await
    }

    async fn sync_integrations(&self, integrations: Vec<IntegrationRecord>) -> Result<()> {
        transact(self, move |tx| {
            Box::pin(async move { tx.sync_integrations(integrations).await })
        })
        .await
    }

    async fn create_silence(&self, silence: Silence, audit: AuditDraft) -> Result<Silence> {
        transact(self, move |tx| {
            Box::pin(async move {
                let stored = tx.create_silence(silence).await?;
                tx.audit(audit.naming(stored.id)).await?;
                Ok(stored)
            })
        })
        .await
    }

    async fn expire_silence(&self, id: i64, at: Timestamp, audit: AuditDraft) -> Result<Silence> {
        transact(self, move |tx| {
            Box::pin(async move {
                let silence = tx.lock_silence(id).await?.ok_or(StoreError::NotFound)?;
                let ended = silence.end_early(at).ok_or(StoreError::NotFound)?;
                tx.save_silence_span(&ended).await?;
                tx.audit(audit).await?;
                Ok(ended)
            })
        })
        .await
    }

    async fn create_maintenance(
        &self,
        window: MaintenanceWindow,
        audit: AuditDraft,
    ) -> Result<MaintenanceWindow> {
        transact(self, move |tx| {
            Box::pin(async move {
                let stored = tx.create_maintenance(window).await?;
                tx.audit(audit.naming(stored.id)).await?;
                Ok(stored)
            })
        })
        .await
    }

    async fn end_maintenance(
        &self,
        id: i64,
        at: Timestamp,
        audit: AuditDraft,
    ) -> Result<MaintenanceWindow> {
        transact(self, move |tx| {
            Box::pin(async move {
                let window = tx.lock_maintenance(id).await?.ok_or(StoreError::NotFound)?;
                let ended = window.end_early(at).ok_or(StoreError::NotFound)?;
                tx.save_maintenance_span(&ended).await?;
                tx.audit(audit).await?;
                Ok(ended)
            })
        })
        .await
    }

    async fn create_route(&self, route: RouteRecord, audit: AuditDraft) -> Result<RouteRecord> {
        transact(self, move |tx| {
            Box::pin(async move {
                let stored = tx.create_route(route).await?;
                tx.audit(audit.naming(stored.id)).await?;
                Ok(stored)
            })
        })
        .await
    }

    async fn delete_route(&self, id: i64, audit: AuditDraft) -> Result<()> {
        audited(self, audit, move |tx| {
            Box::pin(async move { tx.delete_route(id).await })
        })
        .await
    }

    async fn record_deployment(
        &self,
        deployment: DeploymentRecord,
        audit: AuditDraft,
    ) -> Result<DeploymentRecord> {
        transact(self, move |tx| {
            Box::pin(async move {
                let stored = tx.record_deployment(deployment).await?;
                tx.audit(audit.naming(stored.id)).await?;
                Ok(stored)
            })
        })
        .await
    }

    async fn enqueue(&self, messages: Vec<NewMessage>) -> Result<u64> {
        transact(self, move |tx| {
            Box::pin(async move { tx.enqueue(messages).await })
        })
        .await
    }

    async fn claim_due_of(
        &self,
        priorities: &[Priority],
        now: Timestamp,
        lease: Lease,
        limit: u32,
    ) -> Result<Vec<Message>> {
        let priorities = priorities.to_vec();
        crate::transact_rows(self, limit as usize, move |tx| {
            Box::pin(async move { tx.claim_due(now, &lease, limit, &priorities).await })
        })
        .await
    }

    async fn complete(&self, id: i64, owner: &str, attempt: Attempt) -> Result<bool> {
        let owner = owner.to_string();
        transact(self, move |tx| {
            Box::pin(async move { tx.complete(id, &owner, &attempt).await })
        })
        .await
    }

    async fn retry_at(
        &self,
        id: i64,
        owner: &str,
        at: Timestamp,
        attempt: Attempt,
    ) -> Result<bool> {
        let owner = owner.to_string();
        transact(self, move |tx| {
            Box::pin(async move { tx.retry_at(id, &owner, at, &attempt).await })
        })
        .await
    }

    async fn fail(&self, id: i64, owner: &str, dead: bool, attempt: Attempt) -> Result<bool> {
        let owner = owner.to_string();
        transact(self, move |tx| {
            Box::pin(async move { tx.fail(id, &owner, dead, &attempt).await })
        })
        .await
    }

    async fn release(&self, owner: &str, now: Timestamp) -> Result<u64> {
        let owner = owner.to_string();
        transact(self, move |tx| {
            Box::pin(async move { tx.release(&owner, now).await })
        })
        .await
    }
}
