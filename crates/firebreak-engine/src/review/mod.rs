//! Reviewing and improving: blameless postmortems drafted from the record, action items that
//! are chased until done, and the reports that show whether the team is getting better.
//!
//! A postmortem is drafted when its incident resolves (a durable outbox message queued in the
//! resolving unit of work, so a crash right after resolving still drafts it) or on demand.
//! People edit its sections in Markdown; every save names the version it started from, so two
//! editors never overwrite each other, and every saved version is kept. Publishing with open
//! blameless-language findings needs a confirmation.

pub mod cache;
pub mod items;
pub mod reports;

#[cfg(test)]
mod tests {
    use super::without_prompts;

    #[test]
    fn prompts_are_blanked_in_place() {
        let md = "Ünïcode first.\n> **To fill in:** don't write human error.\nWe said human error.";
        let masked = without_prompts(md);
        assert_eq!(masked.chars().count(), md.chars().count());
        assert!(!masked.contains("To fill in"));
        let at = md.rfind("human error").unwrap();
        assert_eq!(&masked[masked.len() - (md.len() - at)..], &md[at..]);
    }

    #[test]
    fn settings_come_from_the_review_section() {
        let mut config = firebreak_domain::Config::default();
        let settings = super::ReviewSettings::from_config(&config);
        assert_eq!(settings.remind_severities, ["SEV1", "SEV2"]);
        assert_eq!(settings.remind_after, jiff::SignedDuration::from_hours(120));
        config.review.remind_after = jiff::SignedDuration::from_hours(24);
        config.review.remind_severities = Some(vec!["SEV3".into()]);
        config.review.blameless_disable = vec!["fault".into()];
        let settings = super::ReviewSettings::from_config(&config);
        assert_eq!(settings.remind_severities, ["SEV3"]);
        assert_eq!(settings.remind_after, jiff::SignedDuration::from_hours(24));
        assert_eq!(settings.blameless_disable, ["fault"]);
    }
}

use std::collections::BTreeSet;

use firebreak_domain::blameless::{self, Finding};
use firebreak_domain::config::COMMANDER;
use firebreak_domain::postmortem::{self, PostmortemStatus, Section};
use firebreak_domain::{Actor, Incident, IncidentNumber, Name, TimelineEvent};
use firebreak_store::{
    Dismissal, Message, NewMessage, Outcome, PostmortemRecord, Priority, Result as StoreResult,
    Revision, TimelineDraft, Tx,
};
use jiff::{SignedDuration, Timestamp};

use crate::paging::escalate::About;
use crate::paging::render::PageKind;
use crate::{EngineError, Firebreak, Principal, invalid};

/// The outbox kind that drafts a resolved incident's postmortem.
pub const DRAFT: &str = "postmortem.draft";
/// How a refresh's conflict starts when someone saved between its read and its write, so it
/// reads again.
const CHANGED: &str = "saved meanwhile";
/// How many missing postmortems one reminder round looks at.
const REMIND_BATCH: u32 = 100;

/// A postmortem with what its readers need beside it.
#[derive(Debug, Clone)]
pub struct PostmortemView {
    pub record: PostmortemRecord,
    pub incident: Incident,
    /// Blameless-language findings nobody dismissed.
    pub findings: Vec<Finding>,
    /// Sections that still hold prompts only people can answer, with how many.
    pub prompts: Vec<(String, usize)>,
}

/// Queues the drafting of an incident's postmortem, inside the unit of work that resolves it:
/// the worker drafts it, or refreshes the facts of the one drafted before (see
/// [`Firebreak::refresh_postmortem`]). Keyed by the incident and the resolving instant, so a
/// unit of work run again queues one message, and resolving again after a reopen refreshes.
pub(crate) async fn schedule_draft_in(
    tx: &mut (dyn Tx + '_),
    number: IncidentNumber,
    now: Timestamp,
) -> StoreResult<()> {
    schedule_in(tx, number, now, "postmortem", "{}").await
}

/// Queues a refresh of an incident's postmortem, if it has one, inside the unit of work that
/// mitigates it. It never drafts one.
pub(crate) async fn schedule_refresh_in(
    tx: &mut (dyn Tx + '_),
    number: IncidentNumber,
    now: Timestamp,
) -> StoreResult<()> {
    schedule_in(tx, number, now, "postmortem-refresh", REFRESH_ONLY).await
}

/// The payload of a draft message that only refreshes.
const REFRESH_ONLY: &str = r#"{"refresh_only":true}"#;

async fn schedule_in(
    tx: &mut (dyn Tx + '_),
    number: IncidentNumber,
    now: Timestamp,
    what: &str,
    payload: &str,
) -> StoreResult<()> {
    tx.enqueue(vec![NewMessage {
        kind: DRAFT.into(),
        subject: number.to_string(),
        idempotency_key: format!("{number}:{what}:{}", now.as_millisecond()),
        payload: payload.into(),
        due_at: now,
        deadline_at: now + SignedDuration::from_hours(24 * 7),
        created_at: now,
        priority: Priority::Bulk,
    }])
    .await?;
    Ok(())
}

fn not_drafted(number: IncidentNumber) -> EngineError {
    EngineError::NotFound(format!(
        "{number} has no postmortem yet; draft one with POST /api/v1/incidents/{number}/postmortem \
         or `firebreak postmortem draft {number}`"
    ))
}

impl Firebreak {
    /// Fires one claimed draft message: drafts the postmortem, or when it exists refreshes
    /// the sections Firebreak wrote and nobody changed. A refresh-only message (mitigating)
    /// drafts nothing.
    pub(crate) async fn fire_postmortem_draft(&self, message: &Message) -> Outcome {
        let Ok(number) = message.subject.parse::<IncidentNumber>() else {
            return Outcome::Failed;
        };
        let firebreak = crate::Principal::local(&Actor::system().0);
        let refresh_only = message.payload.contains("refresh_only");
        let done = match self.store.get_postmortem(number).await {
            Ok(Some(_)) => self
                .refresh_postmortem(&firebreak, number)
                .await
                .map(|_| ()),
            Ok(None) if refresh_only => Ok(()),
            Ok(None) => self.draft_postmortem(&firebreak, number).await.map(|_| ()),
            Err(e) => Err(e.into()),
        };
        match done {
            // A postmortem drafted meanwhile, a published one (left as it is), or no incident.
            Ok(_) | Err(EngineError::Conflict(_)) | Err(EngineError::NotFound(_)) => {
                Outcome::Delivered
            }
            Err(e) => {
                tracing::warn!(incident = %number, error = %e, "could not draft a postmortem; trying again shortly");
                Outcome::RetryAt(self.clock.now() + SignedDuration::from_secs(30))
            }
        }
    }

    /// What the draft is made from: the incident, its whole timeline, its alerts, the status
    /// page components of its services, its suspect deploys and its action items.
    async fn draft_sections(&self, incident: &Incident) -> Result<Vec<Section>, EngineError> {
        let number = incident.number;
        let mut entries = Vec::new();
        let mut after = None;
        loop {
            let page = self.store.timeline(number, after, 1000).await?;
            entries.extend(page.items);
            match page.next {
                Some(n) if entries.len() < 100_000 => after = Some(n),
                _ => break,
            }
        }
        let alert_filter = firebreak_store::AlertFilter {
            incident: Some(number),
            ..Default::default()
        };
        let alerts = self
            .store
            .list_alerts(&alert_filter, None, 500)
            .await?
            .items;
        let components: Vec<String> = self
            .list_components()
            .await?
            .into_iter()
            .filter(|c| {
                c.component
                    .services
                    .iter()
                    .any(|s| incident.services.contains(s))
            })
            .map(|c| c.component.name.clone())
            .collect();
        let suspects = self
            .suspects_of(std::slice::from_ref(incident))
            .await?
            .remove(&number)
            .unwrap_or_default();
        let items = items::of_incident(self, number).await?;
        Ok(drafting::draft(
            self,
            incident,
            &entries,
            &alerts,
            &components,
            &suspects,
            &items,
        ))
    }

    /// Drafts an incident's postmortem from what Firebreak recorded. `Conflict` if it has one.
    pub async fn draft_postmortem(
        &self,
        who: &Principal,
        number: IncidentNumber,
    ) -> Result<PostmortemView, EngineError> {
        let incident = self.incident(number).await?;
        if let Some(existing) = self.store.get_postmortem(number).await? {
            return Err(EngineError::Conflict(format!(
                "{number} already has a postmortem ({}, version {}); read it with GET \
                 /api/v1/incidents/{number}/postmortem, change it with PUT, or refresh what \
                 Firebreak filled in with POST /api/v1/incidents/{number}/postmortem/refresh",
                existing.status.as_str(),
                existing.version
            )));
        }
        let sections = self.draft_sections(&incident).await?;
        let now = self.clock.now();
        let record = PostmortemRecord {
            number,
            status: PostmortemStatus::Draft,
            version: 1,
            sections,
            dismissed: Vec::new(),
            created_at: now,
            updated_at: now,
            updated_by: who.actor.0.clone(),
            published_at: None,
        };
        let audit = self.audit(who, "postmortem.draft", number.to_string());
        let actor = who.actor.0.clone();
        self.write(3, || {
            let (record, audit, actor) = (record.clone(), audit.clone(), actor.clone());
            move |tx| {
                Box::pin(async move {
                    tx.create_postmortem(&record).await?;
                    tx.append_timeline(
                        number,
                        vec![TimelineDraft {
                            at: now,
                            actor,
                            event: TimelineEvent::PostmortemDrafted { version: 1 },
                        }],
                    )
                    .await?;
                    tx.audit(audit).await?;
                    Ok(())
                })
            }
        })
        .await?;
        self.view_of(record, incident).await
    }

    /// Refreshes what Firebreak filled in from the record as it is now: each section whose
    /// text is still exactly what Firebreak last generated is regenerated (the duration,
    /// mitigation and resolution, the timeline's key moments, what went well or poorly against
    /// the targets, ...); a section anyone changed is left as it is. The new version is saved
    /// as by `firebreak` (the audit log names who asked), with the refreshed sections on the
    /// timeline. Nothing changes, and no version is made, when no section would. `Conflict`
    /// for a published postmortem: move it back to draft first.
    pub async fn refresh_postmortem(
        &self,
        who: &Principal,
        number: IncidentNumber,
    ) -> Result<(PostmortemView, Vec<String>), EngineError> {
        let mut tries = 0;
        loop {
            tries += 1;
            match self.refresh_once(who, number).await {
                Err(EngineError::Conflict(m)) if tries < 3 && m.starts_with(CHANGED) => continue,
                done => return done,
            }
        }
    }

    async fn refresh_once(
        &self,
        who: &Principal,
        number: IncidentNumber,
    ) -> Result<(PostmortemView, Vec<String>), EngineError> {
        let view = self.postmortem(number).await?;
        if view.record.status == PostmortemStatus::Published {
            return Err(EngineError::Conflict(format!(
                "the postmortem of {number} is published; move it back to draft (`firebreak \
                 postmortem edit {number} --status draft`) to refresh it"
            )));
        }
        let fresh = self.draft_sections(&view.incident).await?;
        let revisions = self.store.postmortem_revisions(number).await?;
        let system = Actor::system().0;
        let mut history: Vec<postmortem::Saved<'_>> = revisions
            .iter()
            .filter(|r| r.version < view.record.version)
            .map(|r| postmortem::Saved {
                generated: r.version == 1 || r.actor == system,
                sections: &r.sections,
            })
            .collect();
        history.push(postmortem::Saved {
            generated: view.record.version == 1 || view.record.updated_by == system,
            sections: &view.record.sections,
        });
        let (sections, changed) = postmortem::refresh(&history, &fresh);
        if changed.is_empty() {
            return Ok((view, changed));
        }
        let version = view.record.version;
        let titles: Vec<String> = changed
            .iter()
            .map(|k| postmortem::title_of(k).unwrap_or(k).to_string())
            .collect();
        let saved = self
            .save_postmortem_as(
                who,
                &system,
                number,
                version,
                "postmortem.refresh",
                move |p, _| {
                    p.sections = sections.clone();
                    Ok(vec![TimelineEvent::PostmortemEdited {
                        version: p.version,
                        sections: titles.clone(),
                    }])
                },
            )
            .await
            .map_err(|e| match e {
                EngineError::Conflict(m) if m.contains("changed since") => {
                    EngineError::Conflict(format!("{CHANGED}: {m}"))
                }
                e => e,
            })?;
        Ok((saved, changed))
    }

    /// The handles and display names of the team, so the blameless check knows who a
    /// sentence's subject is.
    async fn people(&self) -> Result<Vec<String>, EngineError> {
        let mut people = Vec::new();
        for u in self.store.list_users().await? {
            people.push(u.handle.to_string());
            if !u.name.trim().is_empty() {
                people.push(u.name.clone());
            }
        }
        Ok(people)
    }

    fn blameless_rules(&self) -> Result<blameless::Rules, EngineError> {
        let review = self.review_settings();
        blameless::Rules::configured(&review.blameless_disable, &review.blameless_rules)
            .map_err(|e| EngineError::Store(firebreak_store::StoreError::backend(e.to_string())))
    }

    /// The review settings: `review:` in firebreak.yaml.
    fn review_settings(&self) -> ReviewSettings {
        ReviewSettings::from_config(&self.config)
    }

    /// The findings in `sections` that were not dismissed.
    async fn findings(
        &self,
        sections: &[Section],
        dismissed: &[Dismissal],
    ) -> Result<Vec<Finding>, EngineError> {
        let rules = self.blameless_rules()?;
        let people = self.people().await?;
        let people: Vec<&str> = people.iter().map(String::as_str).collect();
        // Prompts are Firebreak's words, not the team's: blanked out (keeping every character's
        // position) so advice such as "don't write human error" is not flagged.
        let masked: Vec<String> = sections
            .iter()
            .map(|s| without_prompts(&s.markdown))
            .collect();
        let texts: Vec<(&str, &str)> = sections
            .iter()
            .zip(&masked)
            .map(|(s, m)| (s.key.as_str(), m.as_str()))
            .collect();
        let gone: BTreeSet<&str> = dismissed.iter().map(|d| d.key.as_str()).collect();
        Ok(blameless::check(&rules, &texts, &people)
            .into_iter()
            .filter(|f| !gone.contains(f.key().as_str()))
            .collect())
    }

    async fn view_of(
        &self,
        record: PostmortemRecord,
        incident: Incident,
    ) -> Result<PostmortemView, EngineError> {
        let findings = self.findings(&record.sections, &record.dismissed).await?;
        let prompts = postmortem::open_prompts(&record.sections)
            .into_iter()
            .map(|(k, n)| (k.to_string(), n))
            .collect();
        Ok(PostmortemView {
            record,
            incident,
            findings,
            prompts,
        })
    }

    pub async fn postmortem(&self, number: IncidentNumber) -> Result<PostmortemView, EngineError> {
        let incident = self.incident(number).await?;
        let record = self
            .store
            .get_postmortem(number)
            .await?
            .ok_or_else(|| not_drafted(number))?;
        self.view_of(record, incident).await
    }

    pub async fn postmortem_revisions(
        &self,
        number: IncidentNumber,
    ) -> Result<Vec<Revision>, EngineError> {
        self.incident(number).await?;
        Ok(self.store.postmortem_revisions(number).await?)
    }

    /// Checks text against the blameless rules: the stored sections, or `sections` (unsaved
    /// text from an editor) when given. Dismissed findings are left out.
    pub async fn check_postmortem(
        &self,
        number: IncidentNumber,
        sections: Option<Vec<Section>>,
    ) -> Result<Vec<Finding>, EngineError> {
        let view = self.postmortem(number).await?;
        match sections {
            None => Ok(view.findings),
            Some(edit) => {
                let merged = postmortem::apply_edit(&view.record.sections, &edit)
                    .map_err(|e| invalid("sections", e.to_string()))?
                    .0;
                self.findings(&merged, &view.record.dismissed).await
            }
        }
    }

    /// Saves edited sections and, when given, a new status, from `version`. Sections left out
    /// keep their text. A published postmortem must be moved back to `draft` to be edited.
    pub async fn edit_postmortem(
        &self,
        who: &Principal,
        number: IncidentNumber,
        version: i64,
        sections: Vec<Section>,
        status: Option<PostmortemStatus>,
    ) -> Result<PostmortemView, EngineError> {
        self.save_postmortem(who, number, version, "postmortem.edit", move |p, _| {
            let from = p.status;
            if let Some(to) = status
                && to != from
            {
                if to == PostmortemStatus::Published {
                    return Err(EngineError::Conflict(format!(
                        "publish with POST /api/v1/incidents/{number}/postmortem/publish, \
                             which checks the blameless findings first"
                    )));
                }
                postmortem::check_move(from, to)
                    .map_err(|e| EngineError::Conflict(e.to_string()))?;
                p.status = to;
                // `published_at` is when the current text was published: a postmortem moved
                // back to draft is not published (its revisions keep when it was).
                if to != PostmortemStatus::Published {
                    p.published_at = None;
                }
            }
            let (merged, changed) = postmortem::apply_edit(&p.sections, &sections)
                .map_err(|e| invalid("sections", e.to_string()))?;
            // A published postmortem sent back unchanged (a read, then a write of the same
            // body) is fine; changing its text needs it back in draft first.
            if p.status == PostmortemStatus::Published && !changed.is_empty() {
                return Err(EngineError::Conflict(format!(
                    "the postmortem of {number} is published; move it back to draft (status \
                     `draft`) to edit it"
                )));
            }
            p.sections = merged;
            let mut events = Vec::new();
            if !changed.is_empty() {
                events.push(TimelineEvent::PostmortemEdited {
                    version: p.version,
                    sections: changed,
                });
            }
            if p.status != from {
                events.push(TimelineEvent::PostmortemStatusChanged {
                    from: from.as_str().into(),
                    to: p.status.as_str().into(),
                });
            }
            Ok(events)
        })
        .await
    }

    /// Publishes the postmortem. With open blameless findings it needs `confirm`.
    pub async fn publish_postmortem(
        &self,
        who: &Principal,
        number: IncidentNumber,
        confirm: bool,
        read: Option<i64>,
    ) -> Result<PostmortemView, EngineError> {
        let view = self.postmortem(number).await?;
        if let Some(v) = read
            && v != view.record.version
        {
            return Err(EngineError::Conflict(format!(
                "the postmortem of {number} changed since version {v} (it is at version {}); \
                 read it again before publishing",
                view.record.version
            )));
        }
        if !confirm && !view.findings.is_empty() {
            let first = &view.findings[0];
            return Err(EngineError::Conflict(format!(
                "{} blameless-language finding{} still open (first: \"{}\" in {}: {}); review them \
                 with `firebreak postmortem check {number}`, reword or dismiss them with a reason, \
                 or publish anyway with {{\"confirm\": true}} (`--confirm`)",
                view.findings.len(),
                if view.findings.len() == 1 {
                    " is"
                } else {
                    "s are"
                },
                first.text,
                first.section,
                first.reason
            )));
        }
        let version = view.record.version;
        self.save_postmortem(who, number, version, "postmortem.publish", move |p, now| {
            let from = p.status;
            postmortem::check_move(from, PostmortemStatus::Published)
                .map_err(|e| EngineError::Conflict(e.to_string()))?;
            p.status = PostmortemStatus::Published;
            p.published_at = Some(now);
            Ok(vec![TimelineEvent::PostmortemStatusChanged {
                from: from.as_str().into(),
                to: p.status.as_str().into(),
            }])
        })
        .await
    }

    /// Dismisses one finding (by its key) with a reason.
    pub async fn dismiss_finding(
        &self,
        who: &Principal,
        number: IncidentNumber,
        key: String,
        reason: String,
    ) -> Result<PostmortemView, EngineError> {
        let reason = reason.trim().to_string();
        if reason.is_empty() {
            return Err(invalid(
                "reason",
                "say why the wording is fine, e.g. \"a quote from the customer's report\"",
            ));
        }
        if reason.chars().count() > 1000 {
            return Err(invalid("reason", "must be at most 1000 characters"));
        }
        let view = self.postmortem(number).await?;
        if !view.findings.iter().any(|f| f.key() == key) {
            return Err(EngineError::NotFound(format!(
                "the postmortem of {number} has no open finding `{key}`; `firebreak postmortem \
                 check {number}` lists them with their keys"
            )));
        }
        let by = who.actor.0.clone();
        let version = view.record.version;
        self.save_postmortem(who, number, version, "postmortem.dismiss", move |p, now| {
            p.dismissed.push(Dismissal {
                key: key.clone(),
                reason: reason.clone(),
                by: by.clone(),
                at_ms: now.as_millisecond(),
            });
            Ok(Vec::new())
        })
        .await
    }

    /// Locks the postmortem, checks `version`, applies `change`, and saves it with its
    /// timeline events and audit record in one unit of work.
    async fn save_postmortem<F>(
        &self,
        who: &Principal,
        number: IncidentNumber,
        version: i64,
        action: &str,
        change: F,
    ) -> Result<PostmortemView, EngineError>
    where
        F: Fn(&mut PostmortemRecord, Timestamp) -> Result<Vec<TimelineEvent>, EngineError>
            + Send
            + Sync
            + 'static,
    {
        let actor = who.actor.0.clone();
        self.save_postmortem_as(who, &actor, number, version, action, change)
            .await
    }

    /// [`Self::save_postmortem`], with the version saved as by `actor` (the audit record names
    /// `who`).
    async fn save_postmortem_as<F>(
        &self,
        who: &Principal,
        actor: &str,
        number: IncidentNumber,
        version: i64,
        action: &str,
        change: F,
    ) -> Result<PostmortemView, EngineError>
    where
        F: Fn(&mut PostmortemRecord, Timestamp) -> Result<Vec<TimelineEvent>, EngineError>
            + Send
            + Sync
            + 'static,
    {
        let incident = self.incident(number).await?;
        let now = self.clock.now();
        let audit = self.audit(who, action, number.to_string());
        let actor = actor.to_string();
        let change = std::sync::Arc::new(change);
        let saved = self
            .write(3, || {
                let (audit, actor, change) = (audit.clone(), actor.clone(), change.clone());
                move |tx| {
                    Box::pin(async move {
                        let Some(mut p) = tx.lock_postmortem(number).await? else {
                            return Ok(Err(not_drafted(number)));
                        };
                        if p.version != version {
                            return Ok(Err(EngineError::Conflict(format!(
                                "the postmortem of {number} changed since version {version}: it \
                                 is at version {}, saved by {}; read it again and reapply your \
                                 edit",
                                p.version, p.updated_by
                            ))));
                        }
                        let events = match change(&mut p, now) {
                            Ok(e) => e,
                            Err(refused) => return Ok(Err(refused)),
                        };
                        p.version += 1;
                        p.updated_at = now;
                        p.updated_by = actor.clone();
                        tx.save_postmortem(&p, &actor).await?;
                        if !events.is_empty() {
                            tx.append_timeline(
                                number,
                                events
                                    .into_iter()
                                    .map(|event| TimelineDraft {
                                        at: now,
                                        actor: actor.clone(),
                                        event,
                                    })
                                    .collect(),
                            )
                            .await?;
                        }
                        tx.audit(audit).await?;
                        Ok(Ok(p))
                    })
                }
            })
            .await??;
        self.view_of(saved, incident).await
    }

    /// The postmortem as one Markdown document.
    pub async fn postmortem_markdown(&self, number: IncidentNumber) -> Result<String, EngineError> {
        let view = self.postmortem(number).await?;
        Ok(postmortem::to_markdown(
            number,
            &view.incident.title,
            view.record.status,
            &view.record.sections,
        ))
    }

    /// Reminds the Incident Commander (or else the declarer) of each resolved incident of a
    /// reminded severity that has had no published postmortem for `review.remind_after`: once
    /// per incident. Returns how many were reminded.
    pub async fn remind_missing_postmortems(&self) -> Result<u64, EngineError> {
        let review = self.review_settings();
        let severities = review.remind_severities;
        if severities.is_empty() {
            return Ok(0);
        }
        let now = self.clock.now();
        let missing = self
            .store
            .postmortems_missing(&severities, now - review.remind_after, REMIND_BATCH)
            .await?;
        let mut reminded = 0;
        for number in missing {
            let Some(incident) = self.store.get_incident(number).await? else {
                continue;
            };
            let who = incident
                .roles
                .get(COMMANDER)
                .and_then(|h| Name::parse(h).ok())
                .or_else(|| Name::parse(&incident.declared_by).ok());
            let days = (now
                .duration_since(incident.resolved_at.unwrap_or(now))
                .as_hours()
                / 24)
                .max(0);
            let text = format!(
                "{number} ({}) resolved {days} day{} ago and has no published postmortem: \
                 finish and publish it (`firebreak postmortem show {number}`)",
                incident.severity,
                if days == 1 { "" } else { "s" }
            );
            let mut pages = Vec::new();
            if let Some(who) = &who {
                let mut view = self.paging.view(
                    &About::of_incident(incident.clone()),
                    PageKind::Reminder,
                    who.as_str(),
                    now,
                );
                view.reminder = Some(text.clone());
                for c in self.paging.index().contacts_of(who) {
                    let key = format!("{number}:postmortem-reminder:{}", c.id);
                    pages.push(
                        self.paging
                            .page_message(&view, c, key, number.to_string(), now)?,
                    );
                }
            }
            let note = TimelineEvent::Note {
                body: format!(
                    "Reminder sent to {}: {text}",
                    who.as_ref()
                        .map_or("nobody (no commander)".to_string(), |w| w.to_string())
                ),
            };
            let first = self
                .write(pages.len() + 2, || {
                    let (pages, note) = (pages.clone(), note.clone());
                    move |tx| {
                        Box::pin(async move {
                            if !tx.note_postmortem_reminder(number, now).await? {
                                return Ok(false);
                            }
                            if !pages.is_empty() {
                                tx.enqueue(pages).await?;
                            }
                            tx.append_timeline(
                                number,
                                vec![TimelineDraft {
                                    at: now,
                                    actor: Actor::system().0,
                                    event: note,
                                }],
                            )
                            .await?;
                            Ok(true)
                        })
                    }
                })
                .await?;
            reminded += u64::from(first);
        }
        Ok(reminded)
    }
}

/// `markdown` with each prompt line (`> **To fill in:** ...`) replaced by as many spaces, so
/// offsets into it are offsets into the original.
fn without_prompts(markdown: &str) -> String {
    markdown
        .split('\n')
        .map(|line| {
            if line.trim_start().starts_with(postmortem::PROMPT) {
                " ".repeat(line.chars().count())
            } else {
                line.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Turning what the engine gathered into the domain's draft.
mod drafting {
    use firebreak_domain::action_item::{ActionItem, ItemStatus};
    use firebreak_domain::postmortem::{
        self, AttachedAlert, DraftInput, Entry, ItemLine, ItemState, Section, SuspectDeploy,
    };
    use firebreak_domain::{Alert, Incident};
    use firebreak_store::TimelineEntry;

    use crate::Firebreak;
    use crate::deployments::Suspect;

    pub(super) fn draft(
        app: &Firebreak,
        incident: &Incident,
        entries: &[TimelineEntry],
        alerts: &[Alert],
        components: &[String],
        suspects: &[Suspect],
        items: &[ActionItem],
    ) -> Vec<Section> {
        let mut input = DraftInput::new(incident.clone());
        input.entries = entries
            .iter()
            .map(|e| Entry {
                seq: e.seq,
                at: e.at,
                actor: e.actor.clone(),
                event: e.event.clone(),
            })
            .collect();
        input.alerts = alerts
            .iter()
            .map(|a| AttachedAlert {
                id: a.id,
                summary: a.summary.clone(),
                service: a.service.to_string(),
                started_at: a.started_at,
                first_seen: a.first_seen,
                last_seen: a.last_seen,
                count: a.count,
            })
            .collect();
        input.components = components.to_vec();
        // The suspect first, then the other deploys of the window, newest first.
        input.deploys = suspects
            .iter()
            .filter(|s| s.suspect)
            .chain(suspects.iter().filter(|s| !s.suspect))
            .map(|s| SuspectDeploy {
                service: s.deployment.service.to_string(),
                version: s.deployment.version.clone(),
                previous: s.deployment.previous_version.clone(),
                at: s.deployment.at,
            })
            .collect();
        input.items = items
            .iter()
            .map(|i| ItemLine {
                id: i.id,
                title: i.title.clone(),
                owner: i.owner.to_string(),
                due: i.due,
                state: match i.status {
                    ItemStatus::Open => ItemState::Open,
                    ItemStatus::Done => ItemState::Done,
                    ItemStatus::WontDo => ItemState::WontDo {
                        reason: i.reason.clone().unwrap_or_default(),
                    },
                },
                ticket_url: i.ticket_url.clone(),
            })
            .collect();
        input.severity = app.config.severity(&incident.severity).cloned();
        postmortem::draft(&input)
    }
}

/// How postmortems are reviewed and chased.
#[derive(Debug, Clone)]
pub struct ReviewSettings {
    /// After how long a resolved incident with no published postmortem reminds its commander.
    pub remind_after: SignedDuration,
    /// The severities whose incidents need a postmortem.
    pub remind_severities: Vec<String>,
    pub blameless_disable: Vec<String>,
    pub blameless_rules: Vec<blameless::ExtraRule>,
}

impl ReviewSettings {
    /// The `review` section of `config`; its severities left out are the two most severe.
    pub fn from_config(config: &firebreak_domain::Config) -> ReviewSettings {
        let review = &config.review;
        ReviewSettings {
            remind_after: review.remind_after,
            remind_severities: review.remind_severities.clone().unwrap_or_else(|| {
                config
                    .severities
                    .iter()
                    .take(2)
                    .map(|s| s.name.clone())
                    .collect()
            }),
            blameless_disable: review.blameless_disable.clone(),
            blameless_rules: review.blameless_rules.clone(),
        }
    }
}
