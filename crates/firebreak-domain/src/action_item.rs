//! Action items: the follow-up work a review decides on, each with one owner and a due date.
//! They come from a postmortem or straight from an incident, and are chased until they are done
//! or someone says, with a reason, that they won't be.

use jiff::Timestamp;
use jiff::civil::Date;

use crate::ids::{IncidentNumber, Name};

pub const TITLE_MAX: usize = 200;
pub const REASON_MAX: usize = 2_000;
pub const URL_MAX: usize = 2_000;

/// Where an item stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ItemStatus {
    Open,
    Done,
    /// Decided against, with a reason.
    WontDo,
}

impl ItemStatus {
    pub const ALL: [ItemStatus; 3] = [ItemStatus::Open, ItemStatus::Done, ItemStatus::WontDo];
    pub fn as_str(self) -> &'static str {
        match self {
            ItemStatus::Open => "open",
            ItemStatus::Done => "done",
            ItemStatus::WontDo => "wont_do",
        }
    }
    pub fn parse(s: &str) -> Option<ItemStatus> {
        ItemStatus::ALL.into_iter().find(|k| k.as_str() == s)
    }
    /// The accepted values, for error messages.
    pub fn names() -> String {
        ItemStatus::ALL
            .iter()
            .map(|s| format!("`{}`", s.as_str()))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActionItem {
    /// Assigned by the store; 0 until then.
    pub id: i64,
    /// The incident it came from, if any.
    pub incident: Option<IncidentNumber>,
    pub title: String,
    /// The user who owns it.
    pub owner: Name,
    pub due: Date,
    pub ticket_url: Option<String>,
    pub status: ItemStatus,
    /// Why it won't be done (required for `wont_do`), or a note on closing.
    pub reason: Option<String>,
    pub created_at: Timestamp,
    pub created_by: String,
    pub updated_at: Timestamp,
    /// When it was done or dropped; `None` while open.
    pub closed_at: Option<Timestamp>,
    /// The day its owner was last reminded that it is overdue, so they hear at most once a day.
    pub reminded_on: Option<Date>,
    /// Bumped on every change.
    pub version: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct ItemError {
    pub field: &'static str,
    pub message: String,
}

fn invalid(field: &'static str, message: impl Into<String>) -> ItemError {
    ItemError {
        field,
        message: message.into(),
    }
}

/// A trimmed, non-empty title of at most [`TITLE_MAX`] characters.
pub fn check_title(title: &str) -> Result<String, ItemError> {
    let t = title.trim();
    if t.is_empty() {
        return Err(invalid("title", "must not be empty"));
    }
    if t.chars().count() > TITLE_MAX {
        return Err(invalid(
            "title",
            format!("must be at most {TITLE_MAX} characters"),
        ));
    }
    if t.contains(['\n', '\r']) {
        return Err(invalid("title", "must be one line"));
    }
    Ok(t.to_string())
}

/// An `http://` or `https://` link of at most [`URL_MAX`] characters; empty means none.
pub fn check_ticket_url(url: Option<&str>) -> Result<Option<String>, ItemError> {
    let Some(u) = url.map(str::trim).filter(|u| !u.is_empty()) else {
        return Ok(None);
    };
    if u.chars().count() > URL_MAX {
        return Err(invalid(
            "ticket_url",
            format!("must be at most {URL_MAX} characters"),
        ));
    }
    let lower = u.to_ascii_lowercase();
    let rest = lower
        .strip_prefix("https://")
        .or_else(|| lower.strip_prefix("http://"));
    match rest {
        Some(host)
            if !host.is_empty() && !host.starts_with('/') && !u.contains(char::is_whitespace) =>
        {
            Ok(Some(u.to_string()))
        }
        _ => Err(invalid(
            "ticket_url",
            "must be an http:// or https:// link to the ticket, such as https://tracker.example.com/OPS-42",
        )),
    }
}

fn check_reason(reason: Option<&str>) -> Result<Option<String>, ItemError> {
    let Some(r) = reason.map(str::trim).filter(|r| !r.is_empty()) else {
        return Ok(None);
    };
    if r.chars().count() > REASON_MAX {
        return Err(invalid(
            "reason",
            format!("must be at most {REASON_MAX} characters"),
        ));
    }
    Ok(Some(r.to_string()))
}

/// What someone changes on an item; `None` leaves a field as it is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ItemChange {
    pub title: Option<String>,
    pub owner: Option<Name>,
    pub due: Option<Date>,
    /// `Some(None)` removes the link.
    pub ticket_url: Option<Option<String>>,
    pub status: Option<ItemStatus>,
    pub reason: Option<String>,
}

impl ActionItem {
    /// True when it is still open and its due date has passed (`today` is after it).
    pub fn overdue(&self, today: Date) -> bool {
        self.status == ItemStatus::Open && self.due < today
    }

    /// Applies a change. Returns whether the status changed. Closing as `wont_do` needs a
    /// reason; reopening clears the closing time and reason.
    pub fn apply(&mut self, change: ItemChange, now: Timestamp) -> Result<bool, ItemError> {
        let title = change.title.as_deref().map(check_title).transpose()?;
        let ticket_url = match &change.ticket_url {
            Some(u) => Some(check_ticket_url(u.as_deref())?),
            None => None,
        };
        let reason = check_reason(change.reason.as_deref())?;
        let status = change.status.unwrap_or(self.status);
        if status == ItemStatus::WontDo && reason.is_none() && self.status != ItemStatus::WontDo {
            return Err(invalid(
                "reason",
                "is required to close an item as `wont_do`: say why it won't be done",
            ));
        }
        if let Some(t) = title {
            self.title = t;
        }
        if let Some(o) = change.owner {
            if o != self.owner {
                self.reminded_on = None;
            }
            self.owner = o;
        }
        if let Some(d) = change.due {
            if d != self.due {
                self.reminded_on = None;
            }
            self.due = d;
        }
        if let Some(u) = ticket_url {
            self.ticket_url = u;
        }
        let moved = status != self.status;
        if moved {
            self.status = status;
            match status {
                ItemStatus::Open => {
                    self.closed_at = None;
                    self.reason = None;
                    self.reminded_on = None;
                }
                ItemStatus::Done | ItemStatus::WontDo => self.closed_at = Some(now),
            }
        }
        if reason.is_some() {
            self.reason = reason;
        }
        self.updated_at = now;
        self.version += 1;
        Ok(moved)
    }
}

/// What a person supplies to add an item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewItem {
    pub title: String,
    pub owner: Name,
    pub due: Date,
    pub ticket_url: Option<String>,
    pub incident: Option<IncidentNumber>,
}

impl NewItem {
    /// The item as it is first stored. A due date before `today` is refused: it would be
    /// overdue the moment it exists.
    pub fn create(self, by: &str, now: Timestamp, today: Date) -> Result<ActionItem, ItemError> {
        let title = check_title(&self.title)?;
        let ticket_url = check_ticket_url(self.ticket_url.as_deref())?;
        if self.due < today {
            return Err(invalid(
                "due",
                format!("{} has passed; give a date from {today} on", self.due),
            ));
        }
        Ok(ActionItem {
            id: 0,
            incident: self.incident,
            title,
            owner: self.owner,
            due: self.due,
            ticket_url,
            status: ItemStatus::Open,
            reason: None,
            created_at: now,
            created_by: by.to_string(),
            updated_at: now,
            closed_at: None,
            reminded_on: None,
            version: 1,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::civil::date;

    fn now() -> Timestamp {
        "2026-12-03T10:00:00Z".parse().unwrap()
    }

    fn item() -> ActionItem {
        NewItem {
            title: "  Add a canary stage to the deploy pipeline ".into(),
            owner: Name::parse("alice").unwrap(),
            due: date(2026, 12, 10),
            ticket_url: Some("https://tracker.example.com/OPS-42".into()),
            incident: Some(IncidentNumber(7)),
        }
        .create("bob", now(), date(2026, 12, 3))
        .unwrap()
    }

    #[test]
    fn a_new_item_is_open_and_trimmed() {
        let i = item();
        assert_eq!(i.title, "Add a canary stage to the deploy pipeline");
        assert_eq!(i.status, ItemStatus::Open);
        assert_eq!(i.version, 1);
        assert!(!i.overdue(date(2026, 12, 10)));
        assert!(i.overdue(date(2026, 12, 11)));
    }

    #[test]
    fn bad_fields_name_themselves() {
        let mut new = NewItem {
            title: " ".into(),
            owner: Name::parse("alice").unwrap(),
            due: date(2026, 12, 10),
            ticket_url: None,
            incident: None,
        };
        assert_eq!(
            new.clone()
                .create("b", now(), date(2026, 12, 3))
                .unwrap_err()
                .field,
            "title"
        );
        new.title = "x".repeat(TITLE_MAX + 1);
        assert_eq!(
            new.clone()
                .create("b", now(), date(2026, 12, 3))
                .unwrap_err()
                .field,
            "title"
        );
        new.title = "ok".into();
        new.ticket_url = Some("ftp://x".into());
        assert_eq!(
            new.clone()
                .create("b", now(), date(2026, 12, 3))
                .unwrap_err()
                .field,
            "ticket_url"
        );
        new.ticket_url = Some("https://".into());
        assert_eq!(
            new.clone()
                .create("b", now(), date(2026, 12, 3))
                .unwrap_err()
                .field,
            "ticket_url"
        );
        new.ticket_url = Some("".into());
        let e = new
            .clone()
            .create("b", now(), date(2026, 12, 11))
            .unwrap_err();
        assert_eq!(e.field, "due");
        assert!(e.message.contains("2026-12-11"), "{e}");
        assert!(
            new.create("b", now(), date(2026, 12, 3))
                .unwrap()
                .ticket_url
                .is_none()
        );
    }

    #[test]
    fn wont_do_needs_a_reason_and_reopening_clears_it() {
        let mut i = item();
        let e = i
            .apply(
                ItemChange {
                    status: Some(ItemStatus::WontDo),
                    ..Default::default()
                },
                now(),
            )
            .unwrap_err();
        assert_eq!(e.field, "reason");
        assert_eq!(i.version, 1, "a refused change changes nothing");
        let later = now() + jiff::SignedDuration::from_hours(1);
        assert!(
            i.apply(
                ItemChange {
                    status: Some(ItemStatus::WontDo),
                    reason: Some("the service is being retired".into()),
                    ..Default::default()
                },
                later,
            )
            .unwrap()
        );
        assert_eq!(i.closed_at, Some(later));
        assert_eq!(i.version, 2);
        assert!(!i.overdue(date(2027, 1, 1)));
        assert!(
            i.apply(
                ItemChange {
                    status: Some(ItemStatus::Open),
                    ..Default::default()
                },
                later,
            )
            .unwrap()
        );
        assert_eq!(i.closed_at, None);
        assert_eq!(i.reason, None);
    }

    #[test]
    fn a_new_owner_or_date_is_reminded_afresh() {
        let mut i = item();
        i.reminded_on = Some(date(2026, 12, 11));
        i.apply(
            ItemChange {
                due: Some(date(2026, 12, 20)),
                ..Default::default()
            },
            now(),
        )
        .unwrap();
        assert_eq!(i.reminded_on, None);
        i.reminded_on = Some(date(2026, 12, 21));
        i.apply(
            ItemChange {
                ticket_url: Some(None),
                ..Default::default()
            },
            now(),
        )
        .unwrap();
        assert_eq!(i.reminded_on, Some(date(2026, 12, 21)));
        assert_eq!(i.ticket_url, None);
    }

    #[test]
    fn statuses_round_trip() {
        for s in ItemStatus::ALL {
            assert_eq!(ItemStatus::parse(s.as_str()), Some(s));
        }
        assert_eq!(ItemStatus::parse("closed"), None);
        assert_eq!(ItemStatus::names(), "`open`, `done`, `wont_do`");
    }
}
