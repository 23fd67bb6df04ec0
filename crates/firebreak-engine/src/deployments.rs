//! Deploy records, from CI (`POST /api/v1/deployments`, `firebreak deploy record`) and from
//! PagerDuty change events, and the suspects an incident shows: its services' deploys in the
//! window before detection, newest first, the newest flagged with the version to roll back to.
//!
//! A rollback may name the deploy it undid (`rolls_back`) and the incident it was run for
//! (`incident`); the change failure rate counts that deploy as failed. Both are checked here, for
//! every reporter: the deploy must be an earlier change of the same service (not itself a
//! rollback), and the incident must exist.

use std::collections::HashMap;

use firebreak_domain::{Incident, IncidentNumber, Name};
use firebreak_store::{DeploymentRecord, Page};
use jiff::{SignedDuration, Timestamp};
use serde_json::json;

use crate::events::EventType;
use crate::{EngineError, Firebreak, Principal, invalid};

/// What a deploy reporter supplies.
#[derive(Debug, Clone)]
pub struct NewDeployment {
    pub service: Name,
    pub version: String,
    pub previous_version: Option<String>,
    pub commit: Option<String>,
    pub author: Option<String>,
    pub link: Option<String>,
    pub at: Option<Timestamp>,
    pub summary: Option<String>,
    /// A rollback is never flagged as a deploy during a freeze, and is remediation: it counts
    /// in no change failure rate.
    pub rollback: bool,
    /// The deploy a rollback undid, when known: a deploy of the same service recorded before
    /// this one (and, when `at` is given, deployed at or before it), not itself a rollback.
    /// Only a rollback names one.
    pub rolls_back: Option<i64>,
    /// The incident a rollback was run for, when known. Only a rollback names one.
    pub incident: Option<IncidentNumber>,
    /// A deploy a game day rehearses: it counts in DORA only when drills are asked for, is flagged during no
    /// freeze, and is a suspect of drill incidents only. A drill rollback undoes a drill deploy.
    pub drill: bool,
}

/// A deploy shown on an incident.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Suspect {
    pub deployment: DeploymentRecord,
    /// True for the newest deploy before detection: the first thing to consider rolling back.
    pub suspect: bool,
    /// The version to roll back to (the suspect's previous version), when known.
    pub rollback_to: Option<String>,
}

fn short(field: &str, value: Option<String>, max: usize) -> Result<Option<String>, EngineError> {
    let value = value
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty());
    if value.as_ref().is_some_and(|v| v.chars().count() > max) {
        return Err(invalid(field, format!("must be at most {max} characters")));
    }
    Ok(value)
}

impl Firebreak {
    pub async fn record_deployment(
        &self,
        who: &Principal,
        new: NewDeployment,
        source: &str,
    ) -> Result<DeploymentRecord, EngineError> {
        let now = self.clock.now();
        let version = short("version", Some(new.version), 200)?
            .ok_or_else(|| invalid("version", "must not be empty"))?;
        let link = short("link", new.link, 2000)?;
        if let Some(l) = &link
            && !(l.starts_with("https://") || l.starts_with("http://"))
        {
            return Err(invalid("link", "must be an http:// or https:// URL"));
        }
        let at = new.at.unwrap_or(now);
        if at > now + SignedDuration::from_mins(5) {
            return Err(invalid("at", "must not be in the future"));
        }
        if self.store.get_service(&new.service).await?.is_none() {
            return Err(invalid(
                "service",
                format!(
                    "there is no service named `{}`; create it first (POST /api/v1/services) or declare it in firebreak.yaml",
                    new.service
                ),
            ));
        }
        self.check_rollback_links(
            &new.service,
            new.rollback,
            new.rolls_back,
            new.incident,
            new.at,
            new.drill,
        )
        .await?;
        // A drill deploy touches no real incident's timeline: a freeze holds real changes.
        let (freeze_reasons, freezing) = if new.rollback || new.drill {
            (Vec::new(), Vec::new())
        } else {
            self.freeze_flags(&new.service).await?
        };
        let record = DeploymentRecord {
            id: 0,
            service: new.service,
            version,
            previous_version: short("previous_version", new.previous_version, 200)?,
            commit: short("commit", new.commit, 100)?,
            author: short("author", new.author, 200)?,
            link,
            at,
            source: source.to_string(),
            summary: short("summary", new.summary, 1024)?,
            created_at: now,
            freeze_reasons,
            rollback: new.rollback,
            rolls_back: new.rolls_back,
            incident: new.incident,
            drill: new.drill,
        };
        let audit = self.audit(who, "deployment.record", "deployment");
        let emitter = self.events.emitter(now);
        Ok(self
            .write(1 + freezing.len(), || {
                let (record, audit, emitter, freezing) = (
                    record.clone(),
                    audit.clone(),
                    emitter.clone(),
                    freezing.clone(),
                );
                let actor = who.actor.0.clone();
                move |tx| {
                    Box::pin(async move {
                        let stored = tx.record_deployment(record).await?;
                        tx.audit(audit.naming(stored.id)).await?;
                        for number in freezing {
                            let event = firebreak_domain::TimelineEvent::DeployDuringFreeze {
                                deployment: stored.id,
                                service: stored.service.to_string(),
                                version: stored.version.clone(),
                                reasons: stored.freeze_reasons.clone(),
                            };
                            let draft = firebreak_store::TimelineDraft {
                                at: now,
                                actor: actor.clone(),
                                event,
                            };
                            match tx.append_timeline(number, vec![draft]).await {
                                Ok(_) | Err(firebreak_store::StoreError::NotFound) => {}
                                Err(e) => return Err(e),
                            }
                        }
                        emitter
                            .emit(
                                tx,
                                EventType::DeploymentRecorded,
                                |r| json!({"deployment": r.deployment(&stored)}),
                            )
                            .await?;
                        Ok(stored)
                    })
                }
            })
            .await?)
    }

    /// Checks what a rollback says it undid and why, so a wrong link never counts a deploy as
    /// failed: `rolls_back` must be an earlier deploy of the same service that is not itself a
    /// rollback, and `incident` an incident that exists. Neither goes on a deploy that is not a
    /// rollback.
    async fn check_rollback_links(
        &self,
        service: &Name,
        rollback: bool,
        rolls_back: Option<i64>,
        incident: Option<IncidentNumber>,
        at: Option<Timestamp>,
        drill: bool,
    ) -> Result<(), EngineError> {
        for (field, given, what) in [
            (
                "rolls_back",
                rolls_back.is_some(),
                "the deploy a rollback undid",
            ),
            (
                "incident",
                incident.is_some(),
                "the incident a rollback was run for",
            ),
        ] {
            if given && !rollback {
                return Err(invalid(
                    field,
                    format!("names {what}; only a rollback has one (set `rollback` to true)"),
                ));
            }
        }
        let mut undone_at = None;
        if let Some(id) = rolls_back {
            let undone = self.deployment_by_id(Some(service), id).await?;
            let Some(undone) = undone else {
                let elsewhere = self.deployment_by_id(None, id).await?;
                return Err(invalid(
                    "rolls_back",
                    match elsewhere {
                        Some(d) => format!(
                            "deployment {id} is of `{}`, not `{}`; a rollback undoes a deploy of its own service",
                            d.service, service
                        ),
                        None => format!("there is no deployment {id}"),
                    },
                ));
            };
            if undone.rollback {
                return Err(invalid(
                    "rolls_back",
                    format!(
                        "deployment {id} is itself a rollback; name the deploy that brought the change being undone"
                    ),
                ));
            }
            if undone.drill != drill {
                return Err(invalid(
                    "rolls_back",
                    if drill {
                        format!(
                            "deployment {id} is a real deploy; a drill rollback undoes only a deploy its drill recorded"
                        )
                    } else {
                        format!(
                            "deployment {id} was recorded by a drill; a real rollback undoes a real deploy (set `drill` to true for a rehearsed one)"
                        )
                    },
                ));
            }
            // A rollback recorded now undoes a deploy recorded before it, even one stamped a
            // little ahead by a pipeline's clock; one reported with its own time must not say
            // it came first.
            if let Some(at) = at
                && undone.at > at
            {
                return Err(invalid(
                    "rolls_back",
                    format!(
                        "deployment {id} was deployed at {}, after this rollback ({at}); a rollback undoes an earlier deploy",
                        undone.at
                    ),
                ));
            }
            undone_at = Some(undone.at);
        }
        if let Some(number) = incident {
            let Some(found) = self.store.get_incident(number).await? else {
                return Err(invalid(
                    "incident",
                    format!("there is no incident {number}"),
                ));
            };
            // The deploy a rollback undid counts as the incident's failed deploy, so it must be
            // one that can have led to it: not one made after the incident began.
            if let (Some(id), Some(deployed)) = (rolls_back, undone_at)
                && !firebreak_domain::report::deploy_can_lead_to(
                    deployed,
                    found.detected_at,
                    found.declared_at,
                )
            {
                return Err(invalid(
                    "rolls_back",
                    format!(
                        "deployment {id} was deployed at {deployed}, after {number} began (detected \
                         at {}, declared at {}), so it did not lead to {number} and cannot count \
                         as its failed deploy; name the deploy that led to it, or record this \
                         rollback without `incident`",
                        found.detected_at, found.declared_at
                    ),
                ));
            }
        }
        Ok(())
    }

    /// Deployment `id` (when it is of `service`, if given), read as the first of a listing
    /// that starts just after it.
    async fn deployment_by_id(
        &self,
        service: Option<&Name>,
        id: i64,
    ) -> Result<Option<DeploymentRecord>, EngineError> {
        let Some(after) = id.checked_add(1).filter(|_| id > 0) else {
            return Ok(None);
        };
        let page = self.store.list_deployments(service, Some(after), 1).await?;
        Ok(page.items.into_iter().next().filter(|d| d.id == id))
    }

    pub async fn list_deployments(
        &self,
        service: Option<&Name>,
        before: Option<i64>,
        limit: u32,
    ) -> Result<Page<DeploymentRecord>, EngineError> {
        Ok(self.store.list_deployments(service, before, limit).await?)
    }

    /// The deploys of each incident's services in the suspect window before it was
    /// detected, newest first, read with one query for the whole list.
    pub async fn suspects_of(
        &self,
        incidents: &[Incident],
    ) -> Result<HashMap<IncidentNumber, Vec<Suspect>>, EngineError> {
        let window = self.config.alerting.suspect_window;
        let mut services: Vec<Name> = incidents.iter().flat_map(|i| i.services.clone()).collect();
        services.sort();
        services.dedup();
        let (Some(from), Some(to)) = (
            incidents.iter().map(|i| i.detected_at - window).min(),
            incidents.iter().map(|i| i.detected_at).max(),
        ) else {
            return Ok(HashMap::new());
        };
        let deploys = self.store.deployments_between(&services, from, to).await?;
        Ok(incidents
            .iter()
            .map(|incident| (incident.number, suspects(incident, window, &deploys)))
            .collect())
    }
}

/// The deploys (from a list newest first) of the incident's services in the window before it
/// was detected, of its kind (a drill incident sees the deploys its drill recorded, a real one
/// real deploys); the newest that is not a rollback is the suspect, with the version to roll
/// back to. (A rollback undoes a change; it is not one. The change failure rate links the same
/// suspect.)
fn suspects(
    incident: &Incident,
    window: SignedDuration,
    deploys: &[DeploymentRecord],
) -> Vec<Suspect> {
    let to = incident.detected_at;
    let from = to - window;
    let mut found = false;
    deploys
        .iter()
        .filter(|d| {
            d.drill == incident.drill
                && d.at >= from
                && d.at <= to
                && incident.services.contains(&d.service)
        })
        .map(|d| {
            let suspect = !found && !d.rollback;
            found |= suspect;
            Suspect {
                suspect,
                rollback_to: if suspect {
                    d.previous_version.clone()
                } else {
                    None
                },
                deployment: d.clone(),
            }
        })
        .collect()
}
