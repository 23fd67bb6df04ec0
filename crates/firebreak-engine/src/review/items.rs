//! Action items: added from a postmortem or an incident, changed by their owner or anyone
//! responding, and chased. An open item past its due date reminds its owner through their
//! contact methods at most once a day (the day is a UTC date), and shows on their home page.

use firebreak_domain::action_item::{ActionItem, ItemChange, ItemStatus, NewItem};
use firebreak_domain::{IncidentNumber, Name, TimelineEvent};
use firebreak_store::{ActionItemFilter, Page, TimelineDraft};
use jiff::Timestamp;
use jiff::civil::Date;

use crate::paging::escalate::About;
use crate::paging::render::PageKind;
use crate::{EngineError, Firebreak, Principal, invalid};

/// How many overdue items one reminder round takes in one unit of work.
const REMIND_BATCH: u32 = 100;

/// Today as a UTC date: due dates are days, and a day ends at midnight UTC.
pub fn today(now: Timestamp) -> Date {
    now.to_zoned(jiff::tz::TimeZone::UTC).date()
}

fn item_error(e: firebreak_domain::action_item::ItemError) -> EngineError {
    invalid(e.field, e.message)
}

fn added(item: &ActionItem) -> TimelineEvent {
    TimelineEvent::ActionItemAdded {
        item: item.id,
        title: item.title.clone(),
        owner: item.owner.to_string(),
        due: item.due.to_string(),
    }
}

fn changed(item: &ActionItem) -> TimelineEvent {
    TimelineEvent::ActionItemChanged {
        item: item.id,
        title: item.title.clone(),
        status: item.status.as_str().to_string(),
        reason: item.reason.clone(),
    }
}

impl Firebreak {
    /// Refuses an owner who is not a user, or is disabled: nobody would ever be reminded.
    async fn check_owner(&self, owner: &Name) -> Result<(), EngineError> {
        match self.store.get_user(owner).await? {
            Some(u) if u.disabled_at.is_none() => Ok(()),
            Some(_) => Err(invalid(
                "owner",
                format!("`{owner}` is disabled; give the item to someone who is on the team"),
            )),
            None => Err(invalid(
                "owner",
                format!(
                    "there is no user `{owner}`; the owner must be a user's handle (see `firebreak user list`)"
                ),
            )),
        }
    }

    /// Adds an action item, on its incident's timeline when it has one.
    pub async fn add_action_item(
        &self,
        who: &Principal,
        new: NewItem,
    ) -> Result<ActionItem, EngineError> {
        let now = self.clock.now();
        self.check_owner(&new.owner).await?;
        if let Some(number) = new.incident
            && self.store.get_incident(number).await?.is_none()
        {
            return Err(invalid(
                "incident",
                format!("there is no incident {number}"),
            ));
        }
        let item = new
            .create(&who.actor.0, now, today(now))
            .map_err(item_error)?;
        let audit = self.audit(who, "action_item.add", "action_item");
        let actor = who.actor.0.clone();
        Ok(self
            .write(2, || {
                let (item, audit, actor) = (item.clone(), audit.clone(), actor.clone());
                move |tx| {
                    Box::pin(async move {
                        let stored = tx.create_action_item(&item).await?;
                        if let Some(number) = stored.incident {
                            tx.append_timeline(
                                number,
                                vec![TimelineDraft {
                                    at: now,
                                    actor,
                                    event: added(&stored),
                                }],
                            )
                            .await?;
                        }
                        tx.audit(audit.naming(stored.id)).await?;
                        Ok(stored)
                    })
                }
            })
            .await?)
    }

    pub async fn action_item(&self, id: i64) -> Result<ActionItem, EngineError> {
        self.store
            .get_action_item(id)
            .await?
            .ok_or_else(|| EngineError::NotFound(format!("there is no action item {id}")))
    }

    /// Changes an item. With `version`, the change applies only if nobody changed the item
    /// since that version.
    pub async fn change_action_item(
        &self,
        who: &Principal,
        id: i64,
        change: ItemChange,
        version: Option<i64>,
    ) -> Result<ActionItem, EngineError> {
        let now = self.clock.now();
        if let Some(owner) = &change.owner {
            self.check_owner(owner).await?;
        }
        let audit = self.audit(who, "action_item.change", format!("action_item/{id}"));
        let actor = who.actor.0.clone();
        self.write(2, || {
            let (change, audit, actor) = (change.clone(), audit.clone(), actor.clone());
            move |tx| {
                Box::pin(async move {
                    let Some(mut item) = tx.lock_action_item(id).await? else {
                        return Ok(Err(EngineError::NotFound(format!(
                            "there is no action item {id}"
                        ))));
                    };
                    if let Some(v) = version
                        && v != item.version
                    {
                        return Ok(Err(EngineError::Conflict(format!(
                            "action item {id} changed since version {v} (it is at version {}); \
                             read it again and repeat your change",
                            item.version
                        ))));
                    }
                    let moved = match item.apply(change, now) {
                        Ok(m) => m,
                        Err(e) => return Ok(Err(item_error(e))),
                    };
                    tx.save_action_item(&item).await?;
                    if moved && let Some(number) = item.incident {
                        tx.append_timeline(
                            number,
                            vec![TimelineDraft {
                                at: now,
                                actor,
                                event: changed(&item),
                            }],
                        )
                        .await?;
                    }
                    tx.audit(audit).await?;
                    Ok(Ok(item))
                })
            }
        })
        .await?
    }

    pub async fn list_action_items(
        &self,
        filter: &ActionItemFilter,
        after: Option<i64>,
        limit: u32,
    ) -> Result<Page<ActionItem>, EngineError> {
        // "No action items" for an incident that does not exist would hide a typo.
        if let Some(n) = filter.incident {
            self.incident(n).await?;
        }
        Ok(self.store.list_action_items(filter, after, limit).await?)
    }

    /// The open items of `owner` that are overdue today, soonest due first: for their home page.
    pub async fn overdue_items_of(&self, owner: &Name) -> Result<Vec<ActionItem>, EngineError> {
        let filter = ActionItemFilter {
            owner: Some(owner.clone()),
            overdue_on: Some(today(self.clock.now())),
            ..Default::default()
        };
        Ok(self.store.list_action_items(&filter, None, 50).await?.items)
    }

    /// Reminds the owners of overdue items, each at most once a day: in one unit of work per
    /// batch, the items are marked reminded today and the pages are queued. Returns how many
    /// items were reminded.
    pub async fn remind_overdue_items(&self) -> Result<u64, EngineError> {
        let mut reminded = 0;
        loop {
            let now = self.clock.now();
            let today = today(now);
            let app = self.clone();
            let batch = self
                .write(REMIND_BATCH as usize * 2, || {
                    let app = app.clone();
                    move |tx| {
                        Box::pin(async move {
                            let items = tx.lock_overdue_items(today, REMIND_BATCH).await?;
                            let mut pages = Vec::new();
                            for item in &items {
                                pages.extend(app.overdue_pages(item, today, now));
                            }
                            let ids: Vec<i64> = items.iter().map(|i| i.id).collect();
                            tx.note_items_reminded(&ids, today).await?;
                            if !pages.is_empty() {
                                tx.enqueue(pages).await?;
                            }
                            Ok(items.len() as u64)
                        })
                    }
                })
                .await?;
            reminded += batch;
            if batch < u64::from(REMIND_BATCH) {
                return Ok(reminded);
            }
        }
    }

    /// The reminder pages for one overdue item, one per contact method of its owner.
    fn overdue_pages(
        &self,
        item: &ActionItem,
        today: Date,
        now: Timestamp,
    ) -> Vec<firebreak_store::NewMessage> {
        let about = About {
            incident: None,
            alert: None,
            runbook: None,
        };
        let mut view = self
            .paging
            .view(&about, PageKind::Reminder, item.owner.as_str(), now);
        let from = item
            .incident
            .map(|n| format!(" (from {n})"))
            .unwrap_or_default();
        view.reminder = Some(format!(
            "Action item {} is overdue (due {}){from}: {}",
            item.id, item.due, item.title
        ));
        self.paging
            .index()
            .contacts_of(&item.owner)
            .iter()
            .filter_map(|c| {
                let key = format!("action_item:{}:overdue:{today}:{}", item.id, c.id);
                let subject = item
                    .incident
                    .map(|n| n.to_string())
                    .unwrap_or_else(|| format!("action_item/{}", item.id));
                self.paging
                    .page_message(&view, c, key, subject, now)
                    .map_err(|e| tracing::warn!(item = item.id, error = %e, "could not write an overdue reminder"))
                    .ok()
            })
            .collect()
    }
}

/// The action items of an incident, for its postmortem.
pub(crate) async fn of_incident(
    app: &Firebreak,
    number: IncidentNumber,
) -> Result<Vec<ActionItem>, EngineError> {
    let filter = ActionItemFilter {
        incident: Some(number),
        ..Default::default()
    };
    let mut all = Vec::new();
    let mut after = None;
    loop {
        let page = app.store.list_action_items(&filter, after, 500).await?;
        all.extend(page.items);
        match page.next {
            Some(n) if all.len() < 5000 => after = Some(n),
            _ => return Ok(all),
        }
    }
}

/// Reads a status from a query or a body, with an error that lists the accepted ones.
pub fn parse_status(s: &str) -> Result<ItemStatus, EngineError> {
    ItemStatus::parse(s).ok_or_else(|| {
        invalid(
            "status",
            format!(
                "`{s}` is not an action item status; use one of {}",
                ItemStatus::names()
            ),
        )
    })
}
