//! Game days: a rehearsed incident run through the real Firebreak, scored against the team's
//! own targets.
//!
//! `firebreak gameday run` starts a game day here, then injects its events through the real
//! ingest paths with `?gameday=ID`: every alert they open is a drill of this game day, groups
//! only with drill incidents, and pages with `[DRILL]`. The score is never stored while the
//! game day runs: [`Firebreak::gameday_score`] reads the facts (the game day's alerts, the
//! incidents they declared or joined, drill incidents declared on its service during the run,
//! and their timelines) and the domain scores them at the clock's now. Finishing scores them
//! once more, turns what is still pending into `not met`, stores the card and attaches it to
//! the drill incident's timeline, in one unit of work.

use std::collections::BTreeSet;

use firebreak_domain::gameday::{self, Activity, Facts, GameDaySpec, ScoreCard, Targets};
use firebreak_domain::{
    Drill, Incident, IncidentNumber, Name, ResponseTarget, TimelineEvent, config::COMMANDER,
};
use firebreak_store::{
    EscalationFilter, GameDayRecord, IncidentFilter, StoreError, TimelineDraft, TimelineEntry,
};
use jiff::Timestamp;

use crate::{EngineError, Firebreak, Principal, invalid};

/// The most drill incidents one game day's score reads.
const INCIDENTS_MAX: u32 = 20;
/// The most timeline entries read per incident.
const TIMELINE_MAX: u32 = 2_000;

/// A game day as a scenario starts it.
#[derive(Debug, Clone)]
pub struct NewGameDay {
    pub name: String,
    pub service: String,
    pub severity: String,
    pub targets: Targets,
}

impl Firebreak {
    /// What mode a sender's request is in, from `?drill=` and `?gameday=`: a game day must
    /// exist and still run (its alerts are drills), and `drill=false` cannot go with one.
    pub async fn drill_mode(
        &self,
        drill: Option<bool>,
        gameday: Option<i64>,
    ) -> Result<Drill, EngineError> {
        match (drill, gameday) {
            (Some(false), Some(_)) => Err(invalid(
                "drill",
                "a game day's events are always drills; leave drill out or set it to true",
            )),
            (_, Some(id)) => {
                let g = self
                    .store
                    .get_gameday(id)
                    .await?
                    .ok_or_else(|| invalid("gameday", format!("there is no game day {id}")))?;
                if g.finished_at.is_some() {
                    return Err(invalid(
                        "gameday",
                        format!("game day {id} has finished; start another to inject events"),
                    ));
                }
                Ok(Drill::GameDay(id))
            }
            (Some(true), None) => Ok(Drill::Drill),
            (_, None) => Ok(Drill::Real),
        }
    }

    /// Starts a game day on an existing service and severity.
    pub async fn start_gameday(
        &self,
        who: &Principal,
        new: NewGameDay,
    ) -> Result<(GameDayRecord, ScoreCard), EngineError> {
        let service =
            Name::parse(new.service.trim()).map_err(|e| invalid("service", e.to_string()))?;
        if self.store.get_service(&service).await?.is_none() {
            return Err(invalid(
                "service",
                format!(
                    "there is no service named `{service}` on this server; declare it in \
                     firebreak.yaml or pick one that exists"
                ),
            ));
        }
        let severity = self.config.severity(new.severity.trim()).ok_or_else(|| {
            invalid(
                "severity",
                format!(
                    "there is no severity `{}`; use one of {}",
                    new.severity.trim(),
                    self.config.severity_names()
                ),
            )
        })?;
        let now = self.clock.now();
        let record = GameDayRecord {
            id: 0,
            name: new.name.trim().to_string(),
            service,
            severity: severity.name.clone(),
            targets: new.targets,
            started_by: who.actor.0.clone(),
            started_at: now,
            finished_at: None,
            card: None,
            incident: None,
        };
        gameday::check(&self.spec(&record)).map_err(|e| invalid(e.field, e.message))?;
        let audit = self.audit(who, "gameday.start", "gameday");
        let created = self
            .write(1, || {
                let (record, audit) = (record.clone(), audit.clone());
                move |tx| {
                    Box::pin(async move {
                        let created = tx.create_gameday(&record).await?;
                        tx.audit(audit.naming(created.id)).await?;
                        Ok(created)
                    })
                }
            })
            .await?;
        let card = gameday::score(
            &self.spec(&created),
            &self.blank_facts(&created),
            now,
            false,
        );
        Ok((created, card))
    }

    /// A game day with its score: live while it runs (each target pending, passed or failed
    /// at the clock's now), the stored card once finished.
    pub async fn gameday_score(&self, id: i64) -> Result<(GameDayRecord, ScoreCard), EngineError> {
        let g = self.gameday(id).await?;
        if let Some(card) = &g.card {
            return Ok((g.clone(), card.clone()));
        }
        let now = self.clock.now();
        let (facts, _) = self.gameday_facts(&g, now).await?;
        let card = gameday::score(&self.spec(&g), &facts, now, false);
        Ok((g, card))
    }

    /// Finishes a game day: targets still pending are `not met`, the card is stored and
    /// attached to the game day's first drill incident as a timeline note. Finishing one
    /// already finished answers its card and changes nothing.
    pub async fn finish_gameday(
        &self,
        who: &Principal,
        id: i64,
    ) -> Result<(GameDayRecord, ScoreCard), EngineError> {
        let g = self.gameday(id).await?;
        if g.card.is_some() {
            return self.gameday_score(id).await;
        }
        let now = self.clock.now();
        let (facts, incidents) = self.gameday_facts(&g, now).await?;
        let card = gameday::score(&self.spec(&g), &facts, now, true);
        let incident = incidents.first().copied();
        let audit = self.audit(who, "gameday.finish", format!("gameday/{id}"));
        let actor = who.actor.0.clone();
        self.write(2, || {
            let (card, audit, actor) = (card.clone(), audit.clone(), actor.clone());
            move |tx| {
                Box::pin(async move {
                    let locked = tx.lock_gameday(id).await?.ok_or(StoreError::NotFound)?;
                    if locked.finished_at.is_some() {
                        // Another finish came first: its card stands.
                        return Ok(());
                    }
                    tx.finish_gameday(id, now, &card, incident).await?;
                    if let Some(number) = incident {
                        tx.append_timeline(
                            number,
                            vec![TimelineDraft {
                                at: now,
                                actor,
                                event: TimelineEvent::Note {
                                    body: card.markdown(),
                                },
                            }],
                        )
                        .await?;
                    }
                    tx.audit(audit).await
                })
            }
        })
        .await?;
        self.gameday_score(id).await
    }

    /// Game days started in `from..to`, newest first.
    pub async fn list_gamedays(
        &self,
        from: Option<Timestamp>,
        to: Option<Timestamp>,
        limit: u32,
    ) -> Result<Vec<GameDayRecord>, EngineError> {
        Ok(self.store.list_gamedays(from, to, limit).await?)
    }

    async fn gameday(&self, id: i64) -> Result<GameDayRecord, EngineError> {
        self.store
            .get_gameday(id)
            .await?
            .ok_or_else(|| EngineError::NotFound(format!("there is no game day {id}")))
    }

    fn spec(&self, g: &GameDayRecord) -> GameDaySpec {
        let respond_within =
            self.config
                .severity(&g.severity)
                .and_then(|s| match s.respond_within {
                    ResponseTarget::Within(d) => Some(d),
                    ResponseTarget::NextBusinessDay => None,
                });
        GameDaySpec {
            name: g.name.clone(),
            service: g.service.to_string(),
            severity: g.severity.clone(),
            respond_within,
            targets: g.targets.clone(),
        }
    }

    fn blank_facts(&self, g: &GameDayRecord) -> Facts {
        Facts {
            started_at: g.started_at,
            ..Facts::default()
        }
    }

    /// What the team did during game day `g` up to `now`, and its drill incidents (oldest
    /// first).
    async fn gameday_facts(
        &self,
        g: &GameDayRecord,
        now: Timestamp,
    ) -> Result<(Facts, Vec<IncidentNumber>), EngineError> {
        let alerts = self.store.gameday_alerts(g.id).await?;
        let mut numbers: BTreeSet<IncidentNumber> =
            alerts.iter().filter_map(|a| a.incident).collect();
        // Drills the team declared by hand on the game day's service while it ran.
        let filter = IncidentFilter {
            service: Some(g.service.clone()),
            drill: Some(true),
            ..IncidentFilter::default()
        };
        let declared = self
            .store
            .list_incidents(&filter, None, INCIDENTS_MAX)
            .await?;
        numbers.extend(
            declared
                .items
                .iter()
                .filter(|i| i.declared_at >= g.started_at && i.declared_at <= now)
                .map(|i| i.number),
        );
        let mut incidents: Vec<Incident> = Vec::new();
        for n in numbers.iter().take(INCIDENTS_MAX as usize) {
            if let Some(i) = self.store.get_incident(*n).await?
                && i.drill
            {
                incidents.push(i);
            }
        }
        let mut facts = Facts {
            started_at: g.started_at,
            first_alert: alerts.iter().map(|a| a.first_seen).min(),
            ..Facts::default()
        };
        let mut acks: Vec<Timestamp> = alerts.iter().filter_map(|a| a.acknowledged_at).collect();
        let mut acked_by: Vec<String> = alerts
            .iter()
            .filter_map(|a| a.acknowledged_by.clone())
            .collect();
        for a in &alerts {
            let filter = EscalationFilter {
                alert: Some(a.id),
                ..EscalationFilter::default()
            };
            for e in self.store.list_escalations(filter).await? {
                acks.extend(e.acknowledged_at);
                acked_by.extend(e.acknowledged_by);
            }
        }
        // Only what the team did while the game day ran counts: a drill alert may join a drill
        // incident left open by an earlier game day, whose declare, ack and mitigation were
        // someone else's work.
        let during = |t: &Timestamp| *t >= g.started_at && *t <= now;
        let mut activity = Activity::default();
        let mut entries: Vec<TimelineEntry> = Vec::new();
        for i in &incidents {
            activity.incidents.push(i.number.to_string());
            acks.extend(i.acknowledged_at);
            facts.declared = earliest(facts.declared, Some(i.declared_at).filter(during));
            facts.mitigated = earliest(facts.mitigated, i.mitigated_at.filter(during));
            let page = self.store.timeline(i.number, None, TIMELINE_MAX).await?;
            entries.extend(page.items);
        }
        entries.sort_by_key(|e| e.at);
        let mut ticked: Vec<String> = Vec::new();
        for e in entries.iter().filter(|e| during(&e.at)) {
            match &e.event {
                TimelineEvent::RoleAssigned {
                    role,
                    role_name,
                    user,
                    ..
                } => {
                    if role == COMMANDER {
                        facts.ic_assigned = earliest(facts.ic_assigned, Some(e.at));
                    }
                    activity.roles.push(format!("{role_name}: {user}"));
                }
                TimelineEvent::ChecklistItemDone { text, .. } => ticked.push(text.clone()),
                TimelineEvent::ChecklistItemUndone { text, .. } => ticked.retain(|t| t != text),
                TimelineEvent::ActionFinished { action, status, .. } => {
                    activity.runbook_actions.push(format!("{action}: {status}"));
                }
                TimelineEvent::CommandRun {
                    argv, exit_code, ..
                } => {
                    activity
                        .runbook_actions
                        .push(format!("command `{}`: exit {exit_code}", argv.join(" ")));
                }
                TimelineEvent::StatusUpdate(u) => {
                    facts.first_status_update = earliest(facts.first_status_update, Some(e.at));
                    let status = u
                        .status
                        .map(|s| format!(" ({})", s.as_str()))
                        .unwrap_or_default();
                    activity.status_updates.push(format!(
                        "{}{status}: {}",
                        u.audience.as_str(),
                        one_line(&u.body)
                    ));
                }
                TimelineEvent::Paged { user, .. } => push_new(&mut activity.paged, user),
                TimelineEvent::Acknowledged { by, .. } => {
                    acks.push(e.at);
                    acked_by.push(by.clone());
                }
                TimelineEvent::PostmortemDrafted { .. } => {
                    facts.postmortem_drafted = earliest(facts.postmortem_drafted, Some(e.at));
                }
                _ => {}
            }
        }
        activity.checklist = ticked;
        for who in &acked_by {
            push_new(&mut activity.acknowledged, who);
        }
        facts.first_ack = acks.into_iter().filter(during).min();
        facts.activity = activity;
        let numbers = incidents.iter().map(|i| i.number).collect();
        Ok((facts, numbers))
    }
}

fn earliest(a: Option<Timestamp>, b: Option<Timestamp>) -> Option<Timestamp> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

fn push_new(list: &mut Vec<String>, item: &str) {
    if !list.iter().any(|x| x == item) {
        list.push(item.to_string());
    }
}

/// A status update's body on one line, at most 120 characters.
fn one_line(text: &str) -> String {
    let flat = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if flat.chars().count() > 120 {
        flat.chars().take(119).collect::<String>() + "…"
    } else {
        flat
    }
}
