//! Integrations and their keys, silences, maintenance windows and API routing rules. Each
//! change reloads the ingest index at once, so the next alert sees it.

use firebreak_domain::rules::{MaintenanceWindow, Route, Silence};
use firebreak_domain::{Config, Matcher, Name};
use firebreak_store::{IntegrationKey, IntegrationRecord, RouteRecord, StoreError, StoreWrites};
use jiff::{SignedDuration, Timestamp};
use secrecy::SecretString;

use super::{IssuedKey, key_hint, new_key};
use crate::tokens::hash_token;
use crate::{EngineError, Firebreak, Principal, invalid, short_id};

impl Firebreak {
    // --- integrations -------------------------------------------------------------------

    fn issue_key(&self) -> Result<(IntegrationKey, SecretString), EngineError> {
        let key = new_key()?;
        let record = IntegrationKey {
            id: short_id("key")?,
            hash: hash_token(&key),
            hint: key_hint(&key),
            created_at: self.clock.now(),
            revoked_at: None,
        };
        Ok((record, SecretString::from(key)))
    }

    pub async fn create_integration(
        &self,
        who: &Principal,
        service: &Name,
        name: &str,
    ) -> Result<IssuedKey, EngineError> {
        let name = name.trim();
        if name.is_empty() || name.chars().count() > 100 {
            return Err(invalid("name", "must be 1 to 100 characters"));
        }
        if self.store.get_service(service).await?.is_none() {
            return Err(EngineError::NotFound(format!(
                "there is no service named `{service}`; add it under services: in firebreak.yaml, or create it with POST /api/v1/services"
            )));
        }
        let (key, secret) = self.issue_key()?;
        let key_id = key.id.clone();
        let record = IntegrationRecord {
            id: short_id("int")?,
            service: service.clone(),
            name: name.to_string(),
            from_config: false,
            created_at: self.clock.now(),
            keys: vec![key],
        };
        let audit = self.audit(
            who,
            "integration.create",
            format!("integration/{}", record.id),
        );
        let integration = self.store.create_integration(record, audit).await?;
        self.refresh_alert_index().await?;
        Ok(IssuedKey {
            integration,
            key_id,
            key: secret,
        })
    }

    pub async fn list_integrations(&self) -> Result<Vec<IntegrationRecord>, EngineError> {
        Ok(self.store.list_integrations().await?)
    }

    /// Adds a new key to an integration. The old keys keep working until revoked.
    pub async fn rotate_integration(
        &self,
        who: &Principal,
        id: &str,
    ) -> Result<IssuedKey, EngineError> {
        let (key, secret) = self.issue_key()?;
        let key_id = key.id.clone();
        let audit = self.audit(who, "integration.rotate", format!("integration/{id}"));
        let integration = self
            .store
            .add_integration_key(id, key, audit)
            .await
            .map_err(|e| not_found(e, || format!("there is no integration {id}")))?;
        self.refresh_alert_index().await?;
        Ok(IssuedKey {
            integration,
            key_id,
            key: secret,
        })
    }

    pub async fn revoke_integration_key(
        &self,
        who: &Principal,
        id: &str,
        key_id: &str,
    ) -> Result<IntegrationRecord, EngineError> {
        let audit = self.audit(
            who,
            "integration.revoke_key",
            format!("integration/{id}/keys/{key_id}"),
        );
        let record = self
            .store
            .revoke_integration_key(id, key_id, self.clock.now(), audit)
            .await
            .map_err(|e| {
                not_found(e, || {
                    format!("integration {id} has no key {key_id} that is still live")
                })
            })?;
        self.refresh_alert_index().await?;
        Ok(record)
    }

    /// Stores the config file's integrations and their keys.
    pub async fn sync_integrations(&self, config: &Config) -> Result<(), EngineError> {
        let now = self.clock.now();
        let mut wanted = vec![];
        for service in &config.services {
            for spec in &service.integrations {
                wanted.push(IntegrationRecord {
                    id: short_id("int")?,
                    service: service.name.clone(),
                    name: spec.name.clone(),
                    from_config: true,
                    created_at: now,
                    keys: vec![IntegrationKey {
                        id: short_id("key")?,
                        hash: hash_token(&spec.key),
                        hint: key_hint(&spec.key),
                        created_at: now,
                        revoked_at: None,
                    }],
                });
            }
        }
        if !wanted.is_empty() {
            self.store.sync_integrations(wanted).await?;
        }
        Ok(())
    }

    // --- silences, maintenance windows, routes ----------------------------------------------

    pub async fn create_silence(
        &self,
        who: &Principal,
        matchers: &[String],
        starts_at: Option<Timestamp>,
        ends_at: Timestamp,
        comment: &str,
    ) -> Result<Silence, EngineError> {
        let now = self.clock.now();
        let matchers = parse_matchers(matchers)?;
        if matchers.is_empty() {
            return Err(invalid(
                "matchers",
                "give at least one matcher, like alertname=\"DiskFull\"; a silence of everything is not allowed",
            ));
        }
        let comment = check_comment(comment)?;
        let starts_at = starts_at.unwrap_or(now);
        for (field, t) in [("starts_at", starts_at), ("ends_at", ends_at)] {
            if !firebreak_domain::instant::in_accepted_range(t) {
                return Err(invalid(
                    field,
                    "must be between the years 2000 and 2200; a silence of years is better as a routing rule",
                ));
            }
        }
        if ends_at <= starts_at.max(now) {
            return Err(invalid(
                "ends_at",
                "must be after the start and in the future",
            ));
        }
        let silence = Silence {
            id: 0,
            matchers,
            starts_at,
            ends_at,
            comment,
            created_by: who.actor.0.clone(),
            created_at: now,
        };
        let audit = self.audit(who, "silence.create", "silence");
        let silence = self.store.create_silence(silence, audit).await?;
        self.refresh_alert_index().await?;
        Ok(silence)
    }

    pub async fn expire_silence(&self, who: &Principal, id: i64) -> Result<Silence, EngineError> {
        let audit = self.audit(who, "silence.expire", format!("silence/{id}"));
        let silence = self
            .store
            .expire_silence(id, self.clock.now(), audit)
            .await
            .map_err(|e| not_found(e, || format!("there is no active silence {id}")))?;
        self.refresh_alert_index().await?;
        Ok(silence)
    }

    /// Silences that have not ended, and those that ended in the last day.
    pub async fn list_silences(&self, include_expired: bool) -> Result<Vec<Silence>, EngineError> {
        let now = self.clock.now();
        let after = if include_expired {
            now - SignedDuration::from_hours(24)
        } else {
            now
        };
        Ok(self.store.list_silences(after).await?)
    }

    pub async fn create_maintenance(
        &self,
        who: &Principal,
        service: &Name,
        starts_at: Timestamp,
        ends_at: Timestamp,
        comment: &str,
    ) -> Result<MaintenanceWindow, EngineError> {
        let now = self.clock.now();
        if self.store.get_service(service).await?.is_none() {
            return Err(EngineError::NotFound(format!(
                "there is no service named `{service}`"
            )));
        }
        if ends_at <= starts_at || ends_at <= now {
            return Err(invalid(
                "ends_at",
                "must be after starts_at and in the future",
            ));
        }
        let window = MaintenanceWindow {
            id: 0,
            service: service.clone(),
            starts_at,
            ends_at,
            comment: check_comment(comment)?,
            created_by: who.actor.0.clone(),
            created_at: now,
        };
        let audit = self.audit(who, "maintenance.create", "maintenance");
        let window = self.store.create_maintenance(window, audit).await?;
        self.refresh_alert_index().await?;
        Ok(window)
    }

    pub async fn end_maintenance(
        &self,
        who: &Principal,
        id: i64,
    ) -> Result<MaintenanceWindow, EngineError> {
        let audit = self.audit(who, "maintenance.end", format!("maintenance/{id}"));
        let window = self
            .store
            .end_maintenance(id, self.clock.now(), audit)
            .await
            .map_err(|e| {
                not_found(e, || {
                    format!("there is no current or future maintenance window {id}")
                })
            })?;
        self.refresh_alert_index().await?;
        Ok(window)
    }

    pub async fn list_maintenance(&self) -> Result<Vec<MaintenanceWindow>, EngineError> {
        Ok(self.store.list_maintenance(self.clock.now()).await?)
    }

    pub async fn create_route(
        &self,
        who: &Principal,
        route: Route,
    ) -> Result<RouteRecord, EngineError> {
        if route.drop
            && (route.service.is_some() || route.severity.is_some() || route.urgency.is_some())
        {
            return Err(invalid(
                "drop",
                "a rule that drops alerts cannot also set service, severity or urgency",
            ));
        }
        if let Some(service) = &route.service
            && self.store.get_service(service).await?.is_none()
        {
            return Err(invalid(
                "service",
                format!("there is no service named `{service}`"),
            ));
        }
        let record = RouteRecord {
            id: 0,
            route,
            created_by: who.actor.0.clone(),
            created_at: self.clock.now(),
        };
        let audit = self.audit(who, "route.create", "route");
        let record = self.store.create_route(record, audit).await?;
        self.refresh_alert_index().await?;
        Ok(record)
    }

    pub async fn delete_route(&self, who: &Principal, id: i64) -> Result<(), EngineError> {
        let audit = self.audit(who, "route.delete", format!("route/{id}"));
        self.store
            .delete_route(id, audit)
            .await
            .map_err(|e| not_found(e, || format!("there is no routing rule {id}")))?;
        self.refresh_alert_index().await
    }

    /// Config rules first (id `None`), then the API's, in the order they are tried.
    pub async fn list_routes(&self) -> Result<Vec<(Option<RouteRecord>, Route)>, EngineError> {
        let mut out: Vec<(Option<RouteRecord>, Route)> = self
            .config
            .alerting
            .routes
            .iter()
            .map(|r| (None, r.clone()))
            .collect();
        for r in self.store.list_routes().await? {
            let route = r.route.clone();
            out.push((Some(r), route));
        }
        Ok(out)
    }
}

/// Parses matcher strings, naming the one that is wrong.
pub fn parse_matchers(written: &[String]) -> Result<Vec<Matcher>, EngineError> {
    written
        .iter()
        .enumerate()
        .map(|(i, m)| {
            Matcher::parse(m).map_err(|e| invalid(&format!("matchers[{i}]"), e.to_string()))
        })
        .collect()
}

fn check_comment(comment: &str) -> Result<String, EngineError> {
    let c = comment.trim();
    if c.is_empty() {
        return Err(invalid(
            "comment",
            "say why, so the next person on call knows",
        ));
    }
    if c.chars().count() > 1000 {
        return Err(invalid("comment", "must be at most 1000 characters"));
    }
    Ok(c.to_string())
}

fn not_found(e: StoreError, message: impl FnOnce() -> String) -> EngineError {
    match e {
        StoreError::NotFound => EngineError::NotFound(message()),
        other => other.into(),
    }
}
