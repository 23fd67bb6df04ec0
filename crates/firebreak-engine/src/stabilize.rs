//! Stabilizing safely: change freezes (from open incidents and declared windows), break-glass
//! grants, and the audit log's hash chain.
//!
//! A break-glass grant raises its user's role while it is in force
//! ([`firebreak_domain::access::effective_role`], which every request goes through). It is
//! announced on the incident's timeline and channels and paged to the Incident Commander; it
//! ends by itself at its expiry (a durable timer writes that on the timeline) or when its
//! incident resolves (in the resolving unit of work), and can be revoked early.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use firebreak_domain::audit::{Broken, Verifier};
use firebreak_domain::break_glass::{Grant, GrantState, check_request};
use firebreak_domain::config::COMMANDER;
use firebreak_domain::freeze::{self, Freeze, FreezeReason, FreezeVerdict};
use firebreak_domain::{AccessRole, Actor, Incident, IncidentNumber, Name, Status, TimelineEvent};
use firebreak_store::{
    AuditEntry, IncidentFilter, Message, NewMessage, Outcome, Priority, Result as StoreResult,
    StoreError, TimelineDraft, Tx,
};
use jiff::{SignedDuration, Timestamp};

use crate::paging::escalate::About;
use crate::paging::render::PageKind;
use crate::{EngineError, Firebreak, Principal, invalid};

/// The outbox kind of a grant's expiry timer.
pub const GRANT_EXPIRY: &str = "grant_expiry";

/// The grants that are, or may become, in force, in memory: every request of a user consults
/// them. Reloaded after any change to grants (on this instance at once, on others from the
/// feed); a reader takes a copy only when nothing changed since it was loaded.
#[derive(Default)]
pub struct GrantCache {
    changes: AtomicU64,
    loaded: RwLock<Option<(u64, Arc<Vec<Grant>>)>>,
}

impl GrantCache {
    /// Something changed: the next reader reloads.
    pub fn changed(&self) {
        self.changes.fetch_add(1, Ordering::SeqCst);
    }
}

fn rfc3339(t: Timestamp) -> String {
    t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// `30m`, `1h`, `1h30m`, `2s`, `1m30s`.
pub(crate) fn spoken(d: SignedDuration) -> String {
    let s = d.as_secs().max(0);
    let (h, m, sec) = (s / 3600, (s % 3600) / 60, s % 60);
    let mut out = String::new();
    for (n, unit) in [(h, "h"), (m, "m"), (sec, "s")] {
        if n > 0 {
            out.push_str(&format!("{n}{unit}"));
        }
    }
    if out.is_empty() { "0s".into() } else { out }
}

#[cfg(test)]
mod spoken_tests {
    #[test]
    fn durations_are_said_to_the_second() {
        for (secs, said) in [
            (2, "2s"),
            (60, "1m"),
            (90, "1m30s"),
            (1800, "30m"),
            (3600, "1h"),
            (5400, "1h30m"),
            (0, "0s"),
        ] {
            assert_eq!(super::spoken(jiff::SignedDuration::from_secs(secs)), said);
        }
    }
}

fn expiry_timer(grant: &Grant, now: Timestamp) -> Option<NewMessage> {
    let due = grant.expires_at()?;
    Some(NewMessage {
        kind: GRANT_EXPIRY.into(),
        subject: grant.incident.to_string(),
        idempotency_key: format!("grant:{}:expiry", grant.id),
        payload: serde_json::json!({"grant": grant.id}).to_string(),
        due_at: due,
        deadline_at: due + SignedDuration::from_hours(24 * 30),
        created_at: now,
        priority: Priority::Page,
    })
}

fn ended_event(grant: &Grant, why: &str) -> TimelineEvent {
    TimelineEvent::BreakGlassEnded {
        grant: grant.id,
        user: grant.user.to_string(),
        why: why.to_string(),
    }
}

/// Ends every grant of `number` still in force or waiting, in the unit of work that resolves
/// it, with the timeline saying so.
pub(crate) async fn end_grants_in(
    tx: &mut (dyn Tx + '_),
    number: IncidentNumber,
    now: Timestamp,
) -> StoreResult<()> {
    let grants = tx.lock_open_grants(number).await?;
    let mut events = Vec::new();
    for mut g in grants {
        if g.state(now) == GrantState::Ended {
            continue;
        }
        g.ended_at = Some(now);
        g.end_reason = Some("incident resolved".into());
        tx.save_grant(&g).await?;
        events.push(TimelineDraft {
            at: now,
            actor: Actor::system().0,
            event: ended_event(&g, "incident resolved"),
        });
    }
    if !events.is_empty() {
        tx.append_timeline(number, events).await?;
    }
    Ok(())
}

/// A grant and its incident, both held until commit.
async fn lock_grant_with_incident(
    tx: &mut (dyn Tx + '_),
    id: i64,
) -> StoreResult<Option<(Grant, Incident)>> {
    let Some(g) = tx.lock_grant(id).await? else {
        return Ok(None);
    };
    Ok(tx.lock_incident(g.incident).await?.map(|i| (g, i)))
}

/// What `audit verify` found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditReport {
    pub rows: u64,
    /// The hash of the last row that verified.
    pub head: Option<String>,
    pub broken: Option<Broken>,
}

impl Firebreak {
    /// The user's grants that are, or may become, in force.
    pub(crate) async fn grants_of(&self, user: &Name) -> Result<Vec<Grant>, EngineError> {
        let cache = &self.grants;
        let seen = cache.changes.load(Ordering::SeqCst);
        let current = cache
            .loaded
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
            .filter(|(at, _)| *at == seen)
            .map(|(_, g)| g.clone());
        let all = match current {
            Some(all) => all,
            None => {
                let all = Arc::new(self.store.live_grants(self.clock.now()).await?);
                let mut slot = cache.loaded.write().unwrap_or_else(|p| p.into_inner());
                if cache.changes.load(Ordering::SeqCst) == seen {
                    *slot = Some((seen, all.clone()));
                }
                all
            }
        };
        Ok(all.iter().filter(|g| &g.user == user).cloned().collect())
    }

    // ---- change freezes ----

    /// Whether `service` (or, with none, any deploy) is frozen now, and why. A rollback is
    /// never frozen: the answer lists the reasons but says `frozen: false`.
    pub async fn freeze_status(
        &self,
        service: Option<&Name>,
        rollback: bool,
    ) -> Result<FreezeVerdict, EngineError> {
        if let Some(s) = service
            && self.store.get_service(s).await?.is_none()
        {
            return Err(invalid(
                "service",
                format!("there is no service named `{s}`"),
            ));
        }
        let now = self.clock.now();
        let open = self.open_incidents().await?;
        let windows = self.store.list_freezes(now).await?;
        let mut verdict = freeze::check(
            service.map(Name::as_str),
            now,
            open.iter()
                .map(|i| (i, self.config.freeze_policy(&i.severity))),
            &windows,
        );
        if rollback {
            verdict.frozen = false;
        }
        Ok(verdict)
    }

    async fn open_incidents(&self) -> Result<Vec<Incident>, EngineError> {
        let filter = IncidentFilter {
            open: Some(true),
            ..Default::default()
        };
        self.all_incidents(&filter).await
    }

    /// Every incident `filter` matches, read page by page.
    pub(crate) async fn all_incidents(
        &self,
        filter: &IncidentFilter,
    ) -> Result<Vec<Incident>, EngineError> {
        let mut all = Vec::new();
        let mut before = None;
        loop {
            let page = self.store.list_incidents(filter, before, 500).await?;
            all.extend(page.items);
            match page.next {
                Some(next) => before = Some(next),
                None => return Ok(all),
            }
        }
    }

    /// Declared freezes that have not ended.
    pub async fn list_freezes(&self) -> Result<Vec<Freeze>, EngineError> {
        Ok(self.store.list_freezes(self.clock.now()).await?)
    }

    /// Declares a freeze window: a holiday, a launch.
    pub async fn add_freeze(
        &self,
        who: &Principal,
        starts_at: Option<Timestamp>,
        ends_at: Timestamp,
        services: Vec<Name>,
        reason: &str,
    ) -> Result<Freeze, EngineError> {
        let now = self.clock.now();
        let starts_at = starts_at.unwrap_or(now);
        if ends_at <= now {
            return Err(invalid("ends_at", "must be in the future"));
        }
        if ends_at <= starts_at {
            return Err(invalid("ends_at", "must be after starts_at"));
        }
        let reason = reason.trim();
        if reason.is_empty() {
            return Err(invalid("reason", "must say why the freeze holds"));
        }
        for s in &services {
            if self.store.get_service(s).await?.is_none() {
                return Err(invalid(
                    "services",
                    format!("there is no service named `{s}`"),
                ));
            }
        }
        let mut services = services;
        services.sort();
        services.dedup();
        let freeze = Freeze {
            id: 0,
            starts_at,
            ends_at,
            services,
            reason: reason.to_string(),
            created_by: who.actor.0.clone(),
            created_at: now,
            ended_at: None,
        };
        let audit = self.audit(who, "freeze.create", "freeze");
        Ok(self
            .write(1, || {
                let (freeze, audit) = (freeze.clone(), audit.clone());
                move |tx| {
                    Box::pin(async move {
                        let stored = tx.create_freeze(&freeze).await?;
                        tx.audit(audit.naming(stored.id)).await?;
                        Ok(stored)
                    })
                }
            })
            .await?)
    }

    /// Lifts a declared freeze before its end.
    pub async fn lift_freeze(&self, who: &Principal, id: i64) -> Result<Freeze, EngineError> {
        let now = self.clock.now();
        let audit = self.audit(who, "freeze.lift", format!("freeze/{id}"));
        self.write(1, || {
            let audit = audit.clone();
            move |tx| {
                Box::pin(async move {
                    let Some(mut f) = tx.lock_freeze(id).await? else {
                        return Ok(Err(EngineError::NotFound(format!(
                            "there is no freeze {id}"
                        ))));
                    };
                    if f.end() <= now {
                        return Ok(Ok(f));
                    }
                    tx.end_freeze(id, now).await?;
                    f.ended_at = Some(now);
                    tx.audit(audit).await?;
                    Ok(Ok(f))
                })
            }
        })
        .await?
    }

    /// An emergency deploy during a freeze, recorded on the incident's timeline: the caller
    /// deploys anyway, and everyone can see who and why.
    pub async fn freeze_exemption(
        &self,
        who: &Principal,
        number: IncidentNumber,
        service: Option<&Name>,
        reason: &str,
    ) -> Result<FreezeVerdict, EngineError> {
        let reason = reason.trim();
        if reason.is_empty() {
            return Err(invalid("reason", "must say why this deploy cannot wait"));
        }
        let verdict = self.freeze_status(service, false).await?;
        let now = self.clock.now();
        let event = TimelineEvent::FreezeExemption {
            service: service.map(|s| s.to_string()),
            by: who.actor.0.clone(),
            reason: reason.to_string(),
        };
        let audit = self.audit(
            who,
            "freeze.exemption",
            format!(
                "{number}: {}",
                service.map_or("every service".to_string(), |s| s.to_string())
            ),
        );
        let actor = who.actor.0.clone();
        self.write(1, || {
            let (event, audit, actor) = (event.clone(), audit.clone(), actor.clone());
            move |tx| {
                Box::pin(async move {
                    let Some(incident) = tx.lock_incident(number).await? else {
                        return Ok(Err(EngineError::NotFound(format!(
                            "there is no incident {number}"
                        ))));
                    };
                    if incident.status == Status::Resolved {
                        return Ok(Err(EngineError::Conflict(format!(
                            "{number} is resolved; name the open incident this deploy is for"
                        ))));
                    }
                    tx.append_timeline(
                        number,
                        vec![TimelineDraft {
                            at: now,
                            actor,
                            event,
                        }],
                    )
                    .await?;
                    tx.audit(audit).await?;
                    Ok(Ok(()))
                })
            }
        })
        .await??;
        Ok(verdict)
    }

    /// The reasons a deploy of `service` reported now falls in a freeze, and the incidents
    /// whose freeze it is, for flagging the deploy.
    pub(crate) async fn freeze_flags(
        &self,
        service: &Name,
    ) -> Result<(Vec<String>, Vec<IncidentNumber>), EngineError> {
        let verdict = self.freeze_status(Some(service), false).await?;
        let incidents = verdict
            .reasons
            .iter()
            .filter_map(|r| match r {
                FreezeReason::Incident { number, .. } => Some(*number),
                FreezeReason::Window(_) => None,
            })
            .collect();
        Ok((
            verdict.reasons.iter().map(FreezeReason::describe).collect(),
            incidents,
        ))
    }

    // ---- break-glass ----

    /// Asks for break-glass access on an open incident. Granted at once, or, with
    /// `break_glass.approval`, once the Incident Commander approves.
    pub async fn request_break_glass(
        &self,
        who: &Principal,
        number: IncidentNumber,
        role: AccessRole,
        duration: SignedDuration,
        reason: &str,
    ) -> Result<Grant, EngineError> {
        let Some(user) = who.user.clone() else {
            return Err(EngineError::Forbidden(
                "break-glass access is for people: use a token that belongs to a user".into(),
            ));
        };
        let policy = self.config.break_glass;
        let incident = self
            .store
            .get_incident(number)
            .await?
            .ok_or_else(|| EngineError::NotFound(format!("there is no incident {number}")))?;
        check_request(
            &policy,
            number,
            incident.status == Status::Resolved,
            who.role,
            role,
            duration,
            reason,
        )
        .map_err(|e| {
            use firebreak_domain::break_glass::GrantError;
            match e {
                // The request is well formed; the state of things refuses it.
                GrantError::Resolved(_) | GrantError::NotHigher { .. } => {
                    EngineError::Conflict(e.to_string())
                }
                GrantError::TooLong { .. } | GrantError::TooShort => {
                    invalid("duration", e.to_string())
                }
                GrantError::NoReason => invalid("reason", e.to_string()),
            }
        })?;
        let now = self.clock.now();
        let grant = Grant {
            id: 0,
            incident: number,
            user,
            role,
            reason: reason.trim().to_string(),
            requested_at: now,
            duration,
            granted_at: (!policy.approval).then_some(now),
            approved_by: None,
            ended_at: None,
            end_reason: None,
        };
        let audit = self.audit(who, "break_glass.request", format!("{number}: grant"));
        let stored = self
            .write(3, || {
                let (grant, audit, app) = (grant.clone(), audit.clone(), self.clone());
                move |tx| {
                    Box::pin(async move {
                        let Some(incident) = tx.lock_incident(number).await? else {
                            return Err(StoreError::NotFound);
                        };
                        if incident.status == Status::Resolved {
                            return Err(StoreError::Conflict(format!(
                                "{number} was resolved meanwhile; break-glass access is only for open incidents"
                            )));
                        }
                        let stored = tx.create_grant(&grant).await?;
                        tx.audit(audit.naming(stored.id)).await?;
                        app.announce_in(tx, &incident, &stored, None, now).await?;
                        Ok(stored)
                    })
                }
            })
            .await
            .map_err(|e| match e {
                StoreError::NotFound => EngineError::NotFound(format!("there is no incident {number}")),
                other => other.into(),
            })?;
        self.grants.changed();
        Ok(stored)
    }

    /// Writes what a grant's request or approval means: the timeline, the channels, a page to
    /// the Incident Commander, and the expiry timer once it is in force.
    async fn announce_in(
        &self,
        tx: &mut (dyn Tx + '_),
        incident: &Incident,
        grant: &Grant,
        approved_by: Option<&str>,
        now: Timestamp,
    ) -> StoreResult<()> {
        let event = match grant.expires_at() {
            Some(expires) => TimelineEvent::BreakGlassGranted {
                grant: grant.id,
                user: grant.user.to_string(),
                role: grant.role.to_string(),
                expires_at: rfc3339(expires),
                reason: grant.reason.clone(),
                approved_by: approved_by.map(str::to_string),
            },
            None => TimelineEvent::BreakGlassRequested {
                grant: grant.id,
                user: grant.user.to_string(),
                role: grant.role.to_string(),
                duration: spoken(grant.duration),
                reason: grant.reason.clone(),
            },
        };
        let actor = approved_by.unwrap_or(grant.user.as_str()).to_string();
        let mut messages =
            self.comms_news(incident, &[], std::slice::from_ref(&event), &actor, now);
        messages.extend(self.commander_notice(incident, grant, now));
        if let Some(timer) = expiry_timer(grant, now) {
            messages.push(timer);
        }
        if !messages.is_empty() {
            tx.enqueue(messages).await?;
        }
        tx.append_timeline(
            incident.number,
            vec![TimelineDraft {
                at: now,
                actor,
                event,
            }],
        )
        .await?;
        Ok(())
    }

    /// A page to the Incident Commander about a grant (none when the IC is the grantee, or
    /// there is no IC).
    fn commander_notice(
        &self,
        incident: &Incident,
        grant: &Grant,
        now: Timestamp,
    ) -> Vec<NewMessage> {
        let Some(ic) = incident
            .roles
            .get(COMMANDER)
            .and_then(|h| Name::parse(h).ok())
            .filter(|ic| ic != &grant.user)
        else {
            return vec![];
        };
        let text = match grant.expires_at() {
            Some(expires) => format!(
                "Break-glass on {}: {} holds {} until {} ({})",
                incident.number,
                grant.user,
                grant.role,
                rfc3339(expires),
                grant.reason
            ),
            None => format!(
                "Break-glass on {}: {} asks for {} for {} ({}); approve with `firebreak break-glass approve {}`",
                incident.number,
                grant.user,
                grant.role,
                spoken(grant.duration),
                grant.reason,
                grant.id
            ),
        };
        let about = About::of_incident(incident.clone());
        let mut view = self.paging.view(&about, PageKind::Notice, ic.as_str(), now);
        view.reminder = Some(text);
        let stage = if grant.granted_at.is_some() {
            "granted"
        } else {
            "requested"
        };
        self.paging
            .index()
            .contacts_of(&ic)
            .iter()
            .filter_map(|c| {
                let key = format!("grant:{}:{stage}:{}", grant.id, c.id);
                self.paging
                    .page_message(&view, c, key, incident.number.to_string(), now)
                    .ok()
            })
            .collect()
    }

    /// The Incident Commander approves a waiting grant; it takes effect now.
    pub async fn approve_break_glass(
        &self,
        who: &Principal,
        id: i64,
    ) -> Result<Grant, EngineError> {
        let now = self.clock.now();
        let audit = self.audit(who, "break_glass.approve", format!("grant/{id}"));
        let approver = who.user.clone();
        // A standing admin: admin held through break-glass does not count here.
        let is_admin = who.role >= AccessRole::Admin && who.break_glass.is_none();
        let granted = self
            .write(3, || {
                let (audit, app, approver) = (audit.clone(), self.clone(), approver.clone());
                move |tx| {
                    Box::pin(async move {
                        let Some((mut g, incident)) = lock_grant_with_incident(tx, id).await?
                        else {
                            return Ok(Err(EngineError::NotFound(format!("there is no grant {id}"))));
                        };
                        if g.state(now) != GrantState::PendingApproval {
                            return Ok(Err(EngineError::Conflict(format!(
                                "grant {id} is {}; only a waiting grant can be approved",
                                g.state(now).as_str()
                            ))));
                        }
                        if incident.status == Status::Resolved {
                            return Ok(Err(EngineError::Conflict(format!(
                                "{} is resolved; the grant can no longer be approved",
                                incident.number
                            ))));
                        }
                        let ic = incident.roles.get(COMMANDER);
                        let allowed = match (&approver, ic) {
                            (Some(a), _) if *a == g.user => false,
                            (Some(a), Some(ic)) => a.as_str() == ic || is_admin,
                            (Some(_), None) => is_admin,
                            (None, _) => false,
                        };
                        if !allowed {
                            return Ok(Err(EngineError::Forbidden(format!(
                                "only {}'s Incident Commander (or an admin when it has none) may approve, and never the requester",
                                incident.number
                            ))));
                        }
                        let by = approver.as_ref().map(|a| a.to_string());
                        g.granted_at = Some(now);
                        g.approved_by = by.clone();
                        tx.save_grant(&g).await?;
                        tx.audit(audit).await?;
                        app.announce_in(tx, &incident, &g, by.as_deref(), now).await?;
                        Ok(Ok(g))
                    })
                }
            })
            .await??;
        self.grants.changed();
        Ok(granted)
    }

    /// Ends a grant early. The holder, the Incident Commander or an admin may.
    pub async fn revoke_break_glass(&self, who: &Principal, id: i64) -> Result<Grant, EngineError> {
        let now = self.clock.now();
        let audit = self.audit(who, "break_glass.revoke", format!("grant/{id}"));
        let caller = who.user.clone();
        // A standing admin: admin held through break-glass does not count here.
        let is_admin = who.role >= AccessRole::Admin && who.break_glass.is_none();
        let actor = who.actor.0.clone();
        let ended = self
            .write(2, || {
                let (audit, caller, actor) = (audit.clone(), caller.clone(), actor.clone());
                move |tx| {
                    Box::pin(async move {
                        let Some((mut g, incident)) = lock_grant_with_incident(tx, id).await?
                        else {
                            return Ok(Err(EngineError::NotFound(format!("there is no grant {id}"))));
                        };
                        let ic = incident.roles.get(COMMANDER);
                        let allowed = is_admin
                            || caller.as_ref().is_some_and(|c| {
                                *c == g.user || ic.is_some_and(|ic| ic == c.as_str())
                            });
                        if !allowed {
                            return Ok(Err(EngineError::Forbidden(
                                "only the grant's holder, the Incident Commander or an admin may revoke it".into(),
                            )));
                        }
                        if g.state(now) == GrantState::Ended {
                            return Ok(Ok(g));
                        }
                        let why = if g.granted_at.is_some() { "revoked" } else { "refused" };
                        g.ended_at = Some(now);
                        g.end_reason = Some(format!("{why} by {actor}"));
                        tx.save_grant(&g).await?;
                        tx.audit(audit).await?;
                        tx.append_timeline(
                            g.incident,
                            vec![TimelineDraft {
                                at: now,
                                actor: actor.clone(),
                                event: ended_event(&g, why),
                            }],
                        )
                        .await?;
                        Ok(Ok(g))
                    })
                }
            })
            .await??;
        self.grants.changed();
        Ok(ended)
    }

    pub async fn grant(&self, id: i64) -> Result<Grant, EngineError> {
        self.store
            .get_grant(id)
            .await?
            .ok_or_else(|| EngineError::NotFound(format!("there is no grant {id}")))
    }

    /// The grants of an incident, or every grant that is or may become in force.
    pub async fn list_grants(
        &self,
        incident: Option<IncidentNumber>,
    ) -> Result<Vec<Grant>, EngineError> {
        Ok(match incident {
            Some(n) => {
                if self.store.get_incident(n).await?.is_none() {
                    return Err(EngineError::NotFound(format!("there is no incident {n}")));
                }
                self.store.incident_grants(n).await?
            }
            None => self.store.live_grants(self.clock.now()).await?,
        })
    }

    /// A grant's expiry timer fired: if it ran out (rather than being ended), the timeline and
    /// the audit log say so.
    pub(crate) async fn fire_grant_expiry(&self, message: &Message) -> Outcome {
        match self.expire_grant(message).await {
            Ok(()) => Outcome::Delivered,
            Err(e) => {
                tracing::warn!(error = %e, "could not record a break-glass grant's expiry; trying again shortly");
                Outcome::RetryAt(self.clock.now() + SignedDuration::from_secs(5))
            }
        }
    }

    async fn expire_grant(&self, message: &Message) -> Result<(), EngineError> {
        let id = serde_json::from_str::<serde_json::Value>(&message.payload)
            .ok()
            .and_then(|v| v["grant"].as_i64())
            .ok_or_else(|| invalid("payload", "a grant expiry timer without a grant"))?;
        let now = self.clock.now();
        let audit = self.audit(
            &Principal::local("firebreak"),
            "break_glass.expire",
            format!("grant/{id}"),
        );
        self.write(2, || {
            let audit = audit.clone();
            move |tx| {
                Box::pin(async move {
                    let Some(mut g) = tx.lock_grant(id).await? else {
                        return Ok(());
                    };
                    let Some(end) = g.expires_at() else {
                        return Ok(());
                    };
                    if g.ended_at.is_some() || now < end {
                        return Ok(());
                    }
                    g.ended_at = Some(end);
                    g.end_reason = Some("expired".into());
                    tx.save_grant(&g).await?;
                    tx.audit(audit).await?;
                    tx.append_timeline(
                        g.incident,
                        vec![TimelineDraft {
                            at: now,
                            actor: Actor::system().0,
                            event: ended_event(&g, "expired"),
                        }],
                    )
                    .await?;
                    Ok(())
                })
            }
        })
        .await?;
        self.grants.changed();
        Ok(())
    }

    // ---- the audit log ----

    /// Rows of the audit log oldest first, after `after` (and written since `since`).
    pub async fn audit_rows(
        &self,
        after: i64,
        since: Option<Timestamp>,
        limit: u32,
    ) -> Result<Vec<AuditEntry>, EngineError> {
        Ok(self.store.audit_after(after, since, limit).await?)
    }

    /// Recomputes the whole chain and names the first row that does not match.
    pub async fn verify_audit(&self) -> Result<AuditReport, EngineError> {
        let mut verifier = Verifier::new();
        let mut after = 0;
        loop {
            let rows = self.store.audit_after(after, None, 1000).await?;
            let Some(last) = rows.last() else {
                break;
            };
            after = last.id;
            for row in &rows {
                if let Err(broken) = verifier.check(
                    &row.content(),
                    row.prev_hash.as_deref(),
                    row.hash.as_deref(),
                ) {
                    return Ok(AuditReport {
                        rows: verifier.rows(),
                        head: verifier.head().map(str::to_string),
                        broken: Some(broken),
                    });
                }
            }
        }
        Ok(AuditReport {
            rows: verifier.rows(),
            head: verifier.head().map(str::to_string),
            broken: None,
        })
    }
}
