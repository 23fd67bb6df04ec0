//! Comms cadence reminders. Each severity may have `update_every`. While an incident is open,
//! a durable timer (an outbox message of kind [`REMINDER`]) waits for the end of the cadence;
//! when it fires and the incident has had no status change or note (or reminder) for that
//! long, the Comms Lead, or else the Incident Commander, is paged with a reminder and the
//! timeline says so. A Comms Lead who cannot be reached (no contact methods, disabled) is
//! named on the timeline with the reason, and the IC is reminded instead. Then the timer waits one more cadence. Timers are keyed by their due
//! time, so a timer written twice for the same moment fires once.

use firebreak_domain::config::COMMANDER;
use firebreak_domain::escalation::Target;
use firebreak_domain::{Incident, IncidentNumber, Name, Status, TimelineEvent};
use firebreak_store::{
    Message, NewMessage, Outcome, Priority, Result as StoreResult, StoreError, Tx,
};
use jiff::{SignedDuration, Timestamp};

use super::escalate::About;
use super::render::PageKind;
use crate::{EngineError, Firebreak};

/// The outbox kind of an incident's reminder timer.
pub const REMINDER: &str = "reminder";
/// The role reminded first.
const COMMS_LEAD: &str = "comms-lead";

fn timer(number: IncidentNumber, due: Timestamp, now: Timestamp) -> NewMessage {
    NewMessage {
        kind: REMINDER.into(),
        subject: number.to_string(),
        idempotency_key: format!("{number}:remind:{}", due.as_millisecond()),
        payload: "{}".into(),
        due_at: due,
        deadline_at: due + SignedDuration::from_hours(24 * 30),
        created_at: now,
        priority: Priority::Page,
    }
}

/// Starts the reminder timer of an incident whose severity has a cadence, inside the unit of
/// work that declared it or changed its severity.
pub(crate) async fn arm_in(
    tx: &mut (dyn Tx + '_),
    incident: &Incident,
    config: &firebreak_domain::Config,
    now: Timestamp,
) -> StoreResult<()> {
    if incident.status == Status::Resolved {
        return Ok(());
    }
    if let Some(every) = config
        .severity(&incident.severity)
        .and_then(|s| s.update_every)
    {
        tx.enqueue(vec![timer(incident.number, now + every, now)])
            .await?;
    }
    Ok(())
}

/// `1h`, `90m`, `45s`: a cadence as people say it.
fn spoken(d: SignedDuration) -> String {
    let s = d.as_secs();
    if s % 3600 == 0 {
        format!("{}h", s / 3600)
    } else if s % 60 == 0 {
        format!("{}m", s / 60)
    } else {
        format!("{s}s")
    }
}

impl Firebreak {
    /// Fires one claimed reminder timer.
    pub(crate) async fn fire_reminder(&self, message: &Message) -> Outcome {
        match self.remind(message).await {
            Ok(()) => Outcome::Delivered,
            Err(e) => {
                tracing::warn!(incident = %message.subject, error = %e, "could not check an incident's update cadence; trying again shortly");
                Outcome::RetryAt(self.clock.now() + SignedDuration::from_secs(5))
            }
        }
    }

    /// When the incident last had a status change, a note, a status update or a reminder (or was
    /// declared).
    async fn last_update(&self, incident: &Incident) -> Result<Timestamp, EngineError> {
        let mut last = incident.declared_at;
        let mut after = None;
        loop {
            let page = self.store.timeline(incident.number, after, 500).await?;
            for entry in &page.items {
                if matches!(
                    entry.event,
                    TimelineEvent::StatusChanged { .. }
                        | TimelineEvent::Reopened { .. }
                        | TimelineEvent::Note { .. }
                        | TimelineEvent::StatusUpdate(_)
                        | TimelineEvent::UpdateReminder { .. }
                ) {
                    last = last.max(entry.at);
                }
            }
            match page.next {
                Some(next) => after = Some(next),
                None => return Ok(last),
            }
        }
    }

    async fn remind(&self, message: &Message) -> Result<(), EngineError> {
        let Ok(number) = message.subject.parse::<IncidentNumber>() else {
            return Ok(());
        };
        let Some(incident) = self.store.get_incident(number).await? else {
            return Ok(());
        };
        if incident.status == Status::Resolved {
            return Ok(());
        }
        let Some(every) = self
            .config
            .severity(&incident.severity)
            .and_then(|s| s.update_every)
        else {
            return Ok(());
        };
        let now = self.clock.now();
        let due = self.last_update(&incident).await? + every;
        if now < due {
            // Something was said since: wait for the end of the new cadence.
            self.write(1, move || {
                move |tx| {
                    Box::pin(
                        async move { tx.enqueue(vec![timer(number, due, now)]).await.map(|_| ()) },
                    )
                }
            })
            .await?;
            return Ok(());
        }
        // The Comms Lead, or else the IC: whoever of them can be reached first. Those who
        // cannot (no contact methods, disabled) are named on the timeline with the reason.
        let index = self.paging.index();
        let mut holders: Vec<Name> = Vec::new();
        for role in [COMMS_LEAD, COMMANDER] {
            if let Some(h) = incident.roles.get(role).and_then(|h| Name::parse(h).ok())
                && !holders.contains(&h)
            {
                holders.push(h);
            }
        }
        let mut who = None;
        let mut unreached = Vec::new();
        for holder in holders {
            let reach = index.reach(&[Target::User(holder)], now);
            match reach.users.into_iter().next() {
                Some(reached) => {
                    who = Some(reached);
                    break;
                }
                None => unreached.extend(reach.nobody.into_iter().map(|(_, why)| why)),
            }
        }
        let text = format!(
            "{number} has had no update for {}: post a status update or a note",
            spoken(every)
        );
        let mut pages = Vec::new();
        if let Some((who, contacts)) = &who {
            let about = About::of_incident(incident.clone());
            let mut view = self
                .paging
                .view(&about, PageKind::Reminder, who.as_str(), now);
            view.reminder = Some(text.clone());
            for c in contacts {
                let key = format!("{number}:reminder:{}:{}", due.as_millisecond(), c.id);
                pages.push(
                    self.paging
                        .page_message(&view, c, key, number.to_string(), now)?,
                );
            }
        }
        let event = TimelineEvent::UpdateReminder {
            to: who.iter().map(|(w, _)| w.to_string()).collect(),
            quiet_for: spoken(every),
            unreached,
        };
        self.write(pages.len() + 2, || {
            let (pages, event) = (pages.clone(), event.clone());
            move |tx| {
                Box::pin(async move {
                    tx.enqueue(pages).await?;
                    tx.enqueue(vec![timer(number, now + every, now)]).await?;
                    match tx
                        .append_timeline(
                            number,
                            vec![firebreak_store::TimelineDraft {
                                at: now,
                                actor: firebreak_domain::Actor::system().0,
                                event,
                            }],
                        )
                        .await
                    {
                        Ok(_) | Err(StoreError::NotFound) => Ok(()),
                        Err(e) => Err(e),
                    }
                })
            }
        })
        .await?;
        Ok(())
    }
}
