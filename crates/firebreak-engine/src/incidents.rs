//! Incident use cases. Each change is one unit of work: lock the incident, let the domain
//! decide, save it with its timeline entries, its audit record and the events it causes.

use std::sync::Arc;

use firebreak_domain::status_page::{Audience, PublicStatus, StatusUpdate};
use firebreak_domain::{Actor, Incident, IncidentNumber, Name, NewIncident, Status, TimelineEvent};
use firebreak_store::{AuditDraft, IncidentFilter, Page, StoreError, TimelineDraft, TimelineEntry};
use jiff::Timestamp;
use serde_json::json;

use crate::events::EventType;
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
    /// The name the status page shows; empty clears it.
    pub public_title: Option<String>,
    /// What resolving posts on the status page.
    pub public_update: OnResolve,
    /// The version the person changing it last saw: a different stored version refuses the
    /// change (`Conflict`) instead of applying it to a state they have not seen.
    pub expected_version: Option<i64>,
}

/// What resolving an incident posts on the public status page.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum OnResolve {
    /// The `resolved` template, when the incident has public updates.
    #[default]
    Template,
    /// This text as the `resolved` update.
    Text(String),
    /// Nothing: the page keeps its public status (say, monitoring) a while longer.
    Skip,
}

/// What a change did on the public status page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PublicOutcome {
    /// A `resolved` update was posted.
    Posted { body: String },
    /// Asked not to: the page still says this.
    Kept { status: PublicStatus },
    /// The incident has no public updates, so the page was left alone.
    NotPublic,
    /// The page already said resolved.
    AlreadyResolved,
}

/// A changed incident, and what the change did on the status page when it resolved it.
#[derive(Debug, Clone, PartialEq)]
pub struct Patched {
    pub incident: Incident,
    pub public: Option<PublicOutcome>,
}

pub(crate) fn drafts(actor: &str, at: Timestamp, events: Vec<TimelineEvent>) -> Vec<TimelineDraft> {
    events
        .into_iter()
        .map(|event| TimelineDraft {
            at,
            actor: actor.to_string(),
            event,
        })
        .collect()
}

/// What a change did, so the right event goes out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Effect {
    Updated,
    RoleAssigned,
}

type Decide =
    dyn Fn(&mut Incident, Timestamp) -> Result<Vec<TimelineEvent>, EngineError> + Send + Sync;

impl Firebreak {
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
        self.declare_paging(who, new, None).await
    }

    /// Declares an incident and pages as its severity says (`page` overrides: `Some(false)`
    /// pages nobody, `Some(true)` pages on-call for a severity that normally does not page).
    pub async fn declare_paging(
        &self,
        who: &Principal,
        new: NewIncident,
        page: Option<bool>,
    ) -> Result<Incident, EngineError> {
        self.check_services(&new.services).await?;
        let now = self.clock.now();
        let (mut incident, events) =
            Incident::declare(new, &self.config, &who.actor, who.user.as_ref(), now)?;
        let audit = self.audit(who, "incident.declare", incident.title.clone());
        // Firebreak ticks what it already knows: the severity, and a suspect deploy.
        let suspect = !self
            .suspects_of(std::slice::from_ref(&incident))
            .await?
            .values()
            .all(Vec::is_empty);
        let (config, pager) = (self.config.clone(), self.pager().await);
        let index = pager
            .as_ref()
            .map(|p| p.index.clone())
            .unwrap_or_else(|| self.paging.index());
        // Naming the declarer IC counts as taking the incident on, unless the declare pages
        // someone: then the first acknowledgement of those pages sets `acknowledged_at` (and
        // ticks "page acknowledged and IC declared").
        if !crate::paging::escalate::declared_policies(&incident, &config, &index, page)?.is_empty()
        {
            incident.acknowledged_at = None;
        }
        let ticks = incident.tick_known(suspect, now);
        let mut drafts = drafts(&who.actor.0, now, events);
        drafts.extend(self::drafts(&Actor::system().0, now, ticks));
        let emitter = self.events.emitter(now);
        let news: Vec<TimelineEvent> = drafts.iter().map(|d| d.event.clone()).collect();
        let (app, actor) = (self.clone(), who.actor.0.clone());
        let created = self
            .write(1, || {
                let (incident, drafts, audit, emitter, config, index, pager) = (
                    incident.clone(),
                    drafts.clone(),
                    audit.clone(),
                    emitter.clone(),
                    config.clone(),
                    index.clone(),
                    pager.clone(),
                );
                let (app, news, actor) = (app.clone(), news.clone(), actor.clone());
                move |tx| {
                    Box::pin(async move {
                        let created = tx.create_incident(incident, drafts).await?;
                        tx.audit(audit.naming_incident(created.number)).await?;
                        let posts = app.comms_news(&created, &[], &news, &actor, now);
                        if !posts.is_empty() {
                            tx.enqueue(posts).await?;
                        }
                        crate::paging::escalate::page_declared(
                            tx,
                            &created,
                            &config,
                            &index,
                            pager.as_ref(),
                            page,
                            now,
                        )
                        .await?;
                        crate::paging::reminders::arm_in(tx, &created, &config, now).await?;
                        emitter
                            .emit(
                                tx,
                                EventType::IncidentDeclared,
                                |r| json!({"incident": r.incident(&created)}),
                            )
                            .await?;
                        Ok(created)
                    })
                }
            })
            .await?;
        Ok(created)
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

    /// The newest `limit` timeline entries before `before` (the end when `None`), ascending;
    /// `next` is the `before` of the older page, if any. Reads only what it returns, however
    /// long the timeline.
    pub async fn timeline_tail(
        &self,
        number: IncidentNumber,
        before: Option<i64>,
        limit: u32,
    ) -> Result<Page<TimelineEntry>, EngineError> {
        self.incident(number).await?;
        Ok(self.store.timeline_tail(number, before, limit).await?)
    }

    /// Applies `decide` to the locked incident and saves it with its events in one unit of
    /// work. A change that produces no events saves nothing.
    async fn change(
        &self,
        who: &Principal,
        number: IncidentNumber,
        action: &str,
        effect: Effect,
        decide: Arc<Decide>,
    ) -> Result<Incident, EngineError> {
        let now = self.clock.now();
        let actor = who.actor.0.clone();
        let audit = self.audit(who, action, number.to_string());
        let emitter = self.events.emitter(now);
        let config = self.config.clone();
        let app = self.clone();
        self.write(1, || {
            let (decide, actor, audit, emitter, config, app) = (
                decide.clone(),
                actor.clone(),
                audit.clone(),
                emitter.clone(),
                config.clone(),
                app.clone(),
            );
            move |tx| {
                Box::pin(async move {
                    let Some(mut incident) = tx.lock_incident(number).await? else {
                        return Ok(Err(EngineError::NotFound(format!(
                            "there is no incident {number}"
                        ))));
                    };
                    let before = incident.status;
                    let reach = crate::comms::Reach::of(&incident);
                    let version = incident.version;
                    let events = match decide(&mut incident, now) {
                        Ok(e) => e,
                        Err(refused) => return Ok(Err(refused)),
                    };
                    if events.is_empty() {
                        return Ok(Ok(incident));
                    }
                    // One change is one version, however many fields it set.
                    incident.version = version + 1;
                    let severity_changed = events
                        .iter()
                        .any(|e| matches!(e, TimelineEvent::SeverityChanged { .. }));
                    // A resolution goes to everyone who was told about the incident, at any
                    // reach it had, however long ago it moved out of theirs.
                    let resolves = incident.status == Status::Resolved
                        && events
                            .iter()
                            .any(|e| matches!(e, TimelineEvent::StatusChanged { .. }));
                    let mut reaches = vec![reach];
                    if resolves && app.has_comms() {
                        reaches.extend(crate::comms::earlier_reaches(tx, number).await?);
                    }
                    let posts = app.comms_news(&incident, &reaches, &events, &actor, now);
                    if !posts.is_empty() {
                        tx.enqueue(posts).await?;
                    }
                    let mut written = drafts(&actor, now, events);
                    let ticks = incident.tick_known(false, now);
                    written.extend(drafts(&Actor::system().0, now, ticks));
                    let entries = tx.update_incident(&incident, written).await?;
                    // A public update posted with the change (resolving) goes to subscribers.
                    let fanouts: Vec<_> = entries
                        .iter()
                        .filter(|e| {
                            matches!(&e.event, TimelineEvent::StatusUpdate(u)
                                if u.audience == firebreak_domain::status_page::Audience::Public
                                    && u.notify)
                        })
                        .filter(|_| !incident.drill)
                        .map(|e| app.fanout(number, e.seq, now))
                        .collect();
                    if !fanouts.is_empty() {
                        tx.enqueue(fanouts).await?;
                    }
                    if severity_changed {
                        crate::paging::reminders::arm_in(tx, &incident, &config, now).await?;
                    }
                    if incident.status == Status::Resolved && before != Status::Resolved {
                        let filter = firebreak_store::EscalationFilter {
                            incident: Some(number),
                            ..Default::default()
                        };
                        crate::paging::escalate::resolve_in(tx, filter, now).await?;
                        crate::stabilize::end_grants_in(tx, number, now).await?;
                        crate::actions::refuse_waiting_in(tx, number, now).await?;
                        crate::review::schedule_draft_in(tx, number, now).await?;
                    } else if incident.status == Status::Mitigated && before != Status::Mitigated {
                        // A postmortem drafted while it was open gets the mitigation's facts.
                        crate::review::schedule_refresh_in(tx, number, now).await?;
                    }
                    tx.audit(audit).await?;
                    let kind = if incident.status == Status::Resolved && before != Status::Resolved
                    {
                        EventType::IncidentResolved
                    } else if effect == Effect::RoleAssigned {
                        EventType::IncidentRoleAssigned
                    } else {
                        EventType::IncidentUpdated
                    };
                    emitter
                        .emit(tx, kind, |r| json!({"incident": r.incident(&incident)}))
                        .await?;
                    Ok(Ok(incident))
                })
            }
        })
        .await
        .map_err(|e| not_found(e, number))?
    }

    pub async fn patch(
        &self,
        who: &Principal,
        number: IncidentNumber,
        patch: IncidentPatch,
    ) -> Result<Patched, EngineError> {
        if let Some(services) = &patch.services {
            self.check_services(services).await?;
        }
        if patch.reason.is_some() && patch.severity.is_none() {
            return Err(crate::invalid(
                "reason",
                "goes with a severity change; send `severity` too",
            ));
        }
        let (resolve_update, public) = self.on_resolve(number, &patch).await?;
        let public_title = patch.public_title.is_some();
        let config = self.config.clone();
        let decide = move |i: &mut Incident, now: Timestamp| {
            if let Some(seen) = patch.expected_version
                && seen != i.version
            {
                return Err(EngineError::Conflict(format!(
                    "someone else changed {} since you loaded it: it is now {} and {}; look at the latest and try again",
                    i.number, i.severity, i.status
                )));
            }
            let mut events = Vec::new();
            if let Some(t) = &patch.title {
                events.extend(i.set_title(t, now)?);
            }
            if let Some(t) = &patch.public_title {
                events.extend(i.set_public_title(t, now)?);
            }
            if let Some(s) = &patch.summary {
                events.extend(i.set_summary(s, now)?);
            }
            if let Some(s) = &patch.customer_impact {
                events.extend(i.set_customer_impact(s, now)?);
            }
            if let Some(s) = &patch.severity {
                events.extend(i.set_severity(&config, s, patch.reason.clone(), now)?);
            }
            if let Some(s) = &patch.services {
                events.extend(i.set_services(s.clone(), now)?);
            }
            if let Some(s) = patch.status {
                let moved = i.set_status(s, now)?;
                if !moved.is_empty()
                    && let Some(u) = &resolve_update
                {
                    events.extend(moved);
                    events.push(TimelineEvent::StatusUpdate(u.clone()));
                } else {
                    events.extend(moved);
                }
            }
            Ok(events)
        };
        let incident = self
            .change(
                who,
                number,
                "incident.update",
                Effect::Updated,
                Arc::new(decide),
            )
            .await?;
        if public.is_some() || public_title {
            self.status.changed();
        }
        Ok(Patched { incident, public })
    }

    /// When `patch` resolves the incident: the public update to post with it, and what to
    /// report. An incident with public updates gets the `resolved` template (or the text the
    /// request gave) unless the request opted out.
    async fn on_resolve(
        &self,
        number: IncidentNumber,
        patch: &IncidentPatch,
    ) -> Result<(Option<StatusUpdate>, Option<PublicOutcome>), EngineError> {
        if patch.status != Some(Status::Resolved) {
            if patch.public_update != OnResolve::Template {
                return Err(crate::invalid(
                    "public_update",
                    "goes with resolving: send \"status\": \"resolved\" too",
                ));
            }
            return Ok((None, None));
        }
        let incident = self.incident(number).await?;
        if incident.status == Status::Resolved {
            return Ok((None, None));
        }
        if incident.drill && matches!(patch.public_update, OnResolve::Text(_)) {
            return Err(crate::invalid(
                "public_update",
                format!(
                    "{number} is a drill, and drills never reach the public status page; resolve it without public_update"
                ),
            ));
        }
        let current = self.public_status_of(&incident).await?;
        if current.is_none() && matches!(patch.public_update, OnResolve::Text(_)) {
            return Err(crate::invalid(
                "public_update",
                format!(
                    "{number} has never been public, so resolving it posts nothing on the status page; \
                     to make it public, post a public status update first \
                     (POST /api/v1/incidents/{number}/status-updates with \"audience\": \"public\", \
                     or firebreak incident update {number} --public), after setting \"public_title\" \
                     if its title is not for customers; or resolve it without public_update"
                ),
            ));
        }
        let resolved = |body: String| StatusUpdate {
            audience: Audience::Public,
            status: Some(PublicStatus::Resolved),
            body,
            components: Default::default(),
            notify: true,
        };
        let body = match (&patch.public_update, current) {
            (OnResolve::Skip, Some(status)) => {
                return Ok((None, Some(PublicOutcome::Kept { status })));
            }
            (_, None) => {
                return Ok((None, Some(PublicOutcome::NotPublic)));
            }
            (OnResolve::Template, Some(PublicStatus::Resolved)) => {
                return Ok((None, Some(PublicOutcome::AlreadyResolved)));
            }
            (OnResolve::Text(text), _) => text.clone(),
            (OnResolve::Template, Some(_)) => {
                self.template_body(&incident, PublicStatus::Resolved, &Default::default())
                    .await?
            }
        };
        let components = self.store.list_components().await?;
        let names: Vec<&str> = components.iter().map(|c| c.name.as_str()).collect();
        let update = resolved(body.clone())
            .check(&incident, current, &names)
            .map_err(|e| crate::invalid("public_update", e.message))?;
        Ok((Some(update), Some(PublicOutcome::Posted { body })))
    }

    pub async fn assign_role(
        &self,
        who: &Principal,
        number: IncidentNumber,
        role: &str,
        user: &Name,
    ) -> Result<Incident, EngineError> {
        if self.store.get_user(user).await?.is_none() {
            return Err(crate::invalid(
                "user",
                format!(
                    "there is no user `{user}`; a role is held by a known user (add them under users: in firebreak.yaml, or POST /api/v1/users)"
                ),
            ));
        }
        let (config, role, user) = (self.config.clone(), role.to_string(), user.clone());
        let decide =
            move |i: &mut Incident, now: Timestamp| Ok(i.assign_role(&config, &role, &user, now)?);
        self.change(
            who,
            number,
            "incident.role.assign",
            Effect::RoleAssigned,
            Arc::new(decide),
        )
        .await
    }

    pub async fn remove_role(
        &self,
        who: &Principal,
        number: IncidentNumber,
        role: &str,
    ) -> Result<Incident, EngineError> {
        let (config, role) = (self.config.clone(), role.to_string());
        let decide =
            move |i: &mut Incident, now: Timestamp| Ok(i.remove_role(&config, &role, now)?);
        self.change(
            who,
            number,
            "incident.role.remove",
            Effect::Updated,
            Arc::new(decide),
        )
        .await
    }

    pub async fn set_checklist_item(
        &self,
        who: &Principal,
        number: IncidentNumber,
        item: u32,
        done: bool,
    ) -> Result<Incident, EngineError> {
        let actor = who.actor.clone();
        let decide = move |i: &mut Incident, now: Timestamp| {
            Ok(i.set_checklist_item(item, done, &actor, now)?)
        };
        self.change(
            who,
            number,
            "incident.checklist",
            Effect::Updated,
            Arc::new(decide),
        )
        .await
    }

    pub async fn add_note(
        &self,
        who: &Principal,
        number: IncidentNumber,
        body: &str,
    ) -> Result<TimelineEntry, EngineError> {
        let event = Incident::note(body)?;
        let now = self.clock.now();
        let audit = self.audit(who, "incident.note", number.to_string());
        let drafts = drafts(&who.actor.0, now, vec![event]);
        let emitter = self.events.emitter(now);
        let entry = self
            .write(1, || {
                let (drafts, audit, emitter) = (drafts.clone(), audit.clone(), emitter.clone());
                move |tx| {
                    Box::pin(async move {
                        let mut entries = tx.append_timeline(number, drafts).await?;
                        tx.audit(audit).await?;
                        let entry = entries
                            .pop()
                            .ok_or_else(|| StoreError::backend("a note was not stored"))?;
                        if emitter.wants(EventType::IncidentNoteAdded) {
                            let incident =
                                tx.lock_incident(number).await?.ok_or(StoreError::NotFound)?;
                            emitter
                                .emit(tx, EventType::IncidentNoteAdded, |r| {
                                    json!({"incident": r.incident(&incident), "note": r.note(&entry)})
                                })
                                .await?;
                        }
                        Ok(entry)
                    })
                }
            })
            .await
            .map_err(|e| not_found(e, number))?;
        Ok(entry)
    }
}

fn not_found(e: StoreError, number: IncidentNumber) -> EngineError {
    match e {
        StoreError::NotFound => EngineError::NotFound(format!("there is no incident {number}")),
        other => other.into(),
    }
}

/// An incident's audit target once its number is known.
trait NamingIncident {
    fn naming_incident(self, number: IncidentNumber) -> AuditDraft;
}

impl NamingIncident for AuditDraft {
    fn naming_incident(mut self, number: IncidentNumber) -> AuditDraft {
        self.target = format!("{number}: {}", self.target);
        self
    }
}
