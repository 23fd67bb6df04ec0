//! Read models built for the edges: an incident with the ids of its alerts and its suspect
//! deploys and its postmortem's status, for one incident or a whole page, in a fixed number of
//! queries (never one per row).

use std::collections::HashMap;

use firebreak_domain::postmortem::PostmortemStatus;
use firebreak_domain::{AlertStatus, Incident, IncidentNumber};

use crate::deployments::Suspect;
use crate::{EngineError, Firebreak};

/// An incident as the API shows it.
#[derive(Debug, Clone)]
pub struct IncidentView {
    pub incident: Incident,
    /// The alerts attached to it, ascending by id.
    pub alerts: Vec<i64>,
    /// Whether every attached alert has resolved; `None` when it has none.
    pub alerts_resolved: Option<bool>,
    /// Its services' deploys before detection, newest first.
    pub suspects: Vec<Suspect>,
    /// Its postmortem's status; `None` when it has no postmortem.
    pub postmortem: Option<PostmortemStatus>,
}

impl Firebreak {
    /// Views of `incidents`, in the same order, with three queries for the whole list.
    pub async fn incident_views(
        &self,
        incidents: Vec<Incident>,
    ) -> Result<Vec<IncidentView>, EngineError> {
        let numbers: Vec<IncidentNumber> = incidents.iter().map(|i| i.number).collect();
        let mut alerts: HashMap<IncidentNumber, (Vec<i64>, bool)> = HashMap::new();
        for (n, id, status) in self.store.alerts_of_incidents(&numbers).await? {
            let entry = alerts.entry(n).or_insert((vec![], true));
            entry.0.push(id);
            entry.1 &= status == AlertStatus::Resolved;
        }
        let mut suspects = self.suspects_of(&incidents).await?;
        let mut postmortems: HashMap<IncidentNumber, PostmortemStatus> = self
            .store
            .postmortem_statuses(&numbers)
            .await?
            .into_iter()
            .collect();
        Ok(incidents
            .into_iter()
            .map(|incident| {
                let (ids, resolved) = match alerts.remove(&incident.number) {
                    Some((ids, all)) => (ids, Some(all)),
                    None => (vec![], None),
                };
                IncidentView {
                    suspects: suspects.remove(&incident.number).unwrap_or_default(),
                    alerts: ids,
                    alerts_resolved: resolved,
                    postmortem: postmortems.remove(&incident.number),
                    incident,
                }
            })
            .collect())
    }

    /// One incident's view.
    pub async fn incident_view(&self, incident: Incident) -> Result<IncidentView, EngineError> {
        let mut views = self.incident_views(vec![incident]).await?;
        views
            .pop()
            .ok_or_else(|| EngineError::NotFound("the incident has no view".into()))
    }
}
