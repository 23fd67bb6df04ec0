//! Incident use cases. Changes are read-decide-write with the incident's version, retried a
//! few times when another writer got there first.

use firebreak_domain::{Incident, IncidentNumber, Name, NewIncident, Status, TimelineEvent};
use firebreak_store::{IncidentFilter, Page, StoreError, TimelineDraft, TimelineEntry};

use crate::{EngineError, Firebreak, Principal};

/// A partial update of an incident. Absent fields are left alone.
#[derive(Debug, Clone, Default)]
pub struct IncidentPatch {
    pub title: Option<String>,
    pub summary: Option<String>,
    pub customer_impact: Option<String>,
    pub severity: Option<String>,
    pub reason: Option<String>,
    pub status: Option<Status>,
    pub services: Option<Vec<Name>>,
}

const RETRIES: usize = 5;

impl Firebreak {
    fn drafts(&self, who: &Principal, events: Vec<TimelineEvent>) -> Vec<TimelineDraft> {
        let at = self.clock.now();
        events
            .into_iter()
            .map(|event| TimelineDraft {
                at,
                actor: who.actor.0.clone(),
                event,
            })
            .collect()
    }

    async fn check_services(&self, services: &[Name]) -> Result<(), EngineError> {
        for s in services {
            if self.store.get_service(s).await?.is_none() {
                return Err(crate::invalid(
                    "services",
                    format!(
                        "there is no service named `{s}`; create it first (POST /api/v1/services) or declare it in firebreak.yaml"
                    ),
                ));
            }
        }
        Ok(())
    }

    pub async fn declare(
        &self,
        who: &Principal,
        new: NewIncident,
    ) -> Result<Incident, EngineError> {
        self.check_services(&new.services).await?;
        let (incident, events) =
            Incident::declare(new, &self.config, &who.actor, self.clock.now())?;
        let audit = self.audit(who, "incident.declare", incident.title.clone());
        let drafts = self.drafts(who, events);
        Ok(self.store.create_incident(incident, drafts, audit).await?)
    }

    pub async fn incident(&self, number: IncidentNumber) -> Result<Incident, EngineError> {
        self.store
            .get_incident(number)
            .await?
            .ok_or_else(|| EngineError::NotFound(format!("there is no incident {number}")))
    }

    pub async fn list_incidents(
        &self,
        filter: &IncidentFilter,
        before: Option<i64>,
        limit: u32,
    ) -> Result<Page<Incident>, EngineError> {
        Ok(self.store.list_incidents(filter, before, limit).await?)
    }

    pub async fn timeline(
        &self,
        number: IncidentNumber,
        after: Option<i64>,
        limit: u32,
    ) -> Result<Page<TimelineEntry>, EngineError> {
        self.incident(number).await?;
        Ok(self.store.timeline(number, after, limit).await?)
    }

    /// Applies `change` to the current incident and saves it with its events, retrying on a
    /// concurrent write. A change that produces no events saves nothing.
    async fn change<F>(
        &self,
        who: &Principal,
        number: IncidentNumber,
        action: &str,
        change: F,
    ) -> Result<Incident, EngineError>
    where
        F: Fn(&mut Incident, &Firebreak) -> Result<Vec<TimelineEvent>, EngineError>,
    {
        for _ in 0..RETRIES {
            let mut incident = self.incident(number).await?;
            let version = incident.version;
            let events = change(&mut incident, self)?;
            if events.is_empty() {
                return Ok(incident);
            }
            incident.version = version + 1;
            let audit = self.audit(who, action, number.to_string());
            match self
                .store
                .update_incident(&incident, self.drafts(who, events), audit)
                .await
            {
                Ok(()) => return Ok(incident),
                Err(StoreError::Conflict(_)) => continue,
                Err(StoreError::NotFound) => {
                    return Err(EngineError::NotFound(format!(
                        "there is no incident {number}"
                    )));
                }
                Err(e) => return Err(e.into()),
            }
        }
        Err(EngineError::Conflict(format!(
            "{number} is being changed by others right now; try again"
        )))
    }

    pub async fn patch(
        &self,
        who: &Principal,
        number: IncidentNumber,
        patch: IncidentPatch,
    ) -> Result<Incident, EngineError> {
        if let Some(services) = &patch.services {
            self.check_services(services).await?;
        }
        if patch.reason.is_some() && patch.severity.is_none() {
            return Err(crate::invalid(
                "reason",
                "goes with a severity change; send `severity` too",
            ));
        }
        self.change(who, number, "incident.update", |i, app| {
            let now = app.clock.now();
            let mut events = Vec::new();
            if let Some(t) = &patch.title {
                events.extend(i.set_title(t, now)?);
            }
            if let Some(s) = &patch.summary {
                events.extend(i.set_summary(s, now)?);
            }
            if let Some(s) = &patch.customer_impact {
                events.extend(i.set_customer_impact(s, now)?);
            }
            if let Some(s) = &patch.severity {
                events.extend(i.set_severity(&app.config, s, patch.reason.clone(), now)?);
            }
            if let Some(s) = &patch.services {
                events.extend(i.set_services(s.clone(), now)?);
            }
            if let Some(s) = patch.status {
                events.extend(i.set_status(s, now)?);
            }
            Ok(events)
        })
        .await
    }

    pub async fn assign_role(
        &self,
        who: &Principal,
        number: IncidentNumber,
        role: &str,
        user: &Name,
    ) -> Result<Incident, EngineError> {
        self.change(who, number, "incident.role.assign", |i, app| {
            Ok(i.assign_role(&app.config, role, user, app.clock.now())?)
        })
        .await
    }

    pub async fn remove_role(
        &self,
        who: &Principal,
        number: IncidentNumber,
        role: &str,
    ) -> Result<Incident, EngineError> {
        self.change(who, number, "incident.role.remove", |i, app| {
            Ok(i.remove_role(&app.config, role, app.clock.now())?)
        })
        .await
    }

    pub async fn set_checklist_item(
        &self,
        who: &Principal,
        number: IncidentNumber,
        item: u32,
        done: bool,
    ) -> Result<Incident, EngineError> {
        self.change(who, number, "incident.checklist", |i, app| {
            Ok(i.set_checklist_item(item, done, &who.actor, app.clock.now())?)
        })
        .await
    }

    pub async fn add_note(
        &self,
        who: &Principal,
        number: IncidentNumber,
        body: &str,
    ) -> Result<TimelineEntry, EngineError> {
        let event = Incident::note(body)?;
        let audit = self.audit(who, "incident.note", number.to_string());
        let mut entries = self
            .store
            .append_timeline(number, self.drafts(who, vec![event]), audit)
            .await
            .map_err(|e| match e {
                StoreError::NotFound => {
                    EngineError::NotFound(format!("there is no incident {number}"))
                }
                other => other.into(),
            })?;
        entries
            .pop()
            .ok_or_else(|| EngineError::Store(StoreError::Backend("note was not stored".into())))
    }
}
