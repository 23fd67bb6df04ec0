//! The change feed: after each commit, the committer publishes what was committed. Workers wake
//! on it, in-memory indexes follow it, and live pages will stream it.
//!
//! In process it is a broadcast channel. On PostgreSQL the committer also sends a compact
//! `NOTIFY` in the same transaction, and every instance re-publishes what it hears, marked
//! [`Committed::remote`]; alert-level changes stay local (they are too many to broadcast), so a
//! remote listener learns about incidents, outbox work and directory changes.
//!
//! A slow subscriber may miss changes (the channel is bounded); it sees `Lagged` and must
//! reload whatever it keeps, which is why every consumer can also rebuild from the store.

use std::sync::Arc;

use firebreak_domain::{AlertStatus, IncidentNumber, Name};
use jiff::Timestamp;
use tokio::sync::broadcast;

/// Which directory data changed, so caches reload only what they hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Topic {
    Services,
    Users,
    Tokens,
    Integrations,
    Silences,
    Maintenance,
    Routes,
    Subscriptions,
    Deployments,
    Schedules,
    /// Escalation policies.
    Policies,
    /// Users' contact methods.
    Contacts,
    /// The status page's components.
    StatusPage,
    /// Declared change freezes.
    Freezes,
    /// Break-glass grants.
    Grants,
    /// Runbooks added through the API.
    Runbooks,
    /// Action items.
    ActionItems,
    /// Heartbeats: added, removed, or gone up or down.
    Heartbeats,
    /// Uptime checks: added or removed.
    Checks,
}

impl Topic {
    pub const ALL: [Topic; 19] = [
        Topic::Services,
        Topic::Users,
        Topic::Tokens,
        Topic::Integrations,
        Topic::Silences,
        Topic::Maintenance,
        Topic::Routes,
        Topic::Subscriptions,
        Topic::Deployments,
        Topic::Schedules,
        Topic::Policies,
        Topic::Contacts,
        Topic::StatusPage,
        Topic::Freezes,
        Topic::Grants,
        Topic::Runbooks,
        Topic::ActionItems,
        Topic::Heartbeats,
        Topic::Checks,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Topic::Services => "services",
            Topic::Users => "users",
            Topic::Tokens => "tokens",
            Topic::Integrations => "integrations",
            Topic::Silences => "silences",
            Topic::Maintenance => "maintenance",
            Topic::Routes => "routes",
            Topic::Subscriptions => "subscriptions",
            Topic::Deployments => "deployments",
            Topic::Schedules => "schedules",
            Topic::Policies => "policies",
            Topic::Contacts => "contacts",
            Topic::StatusPage => "status_page",
            Topic::Freezes => "freezes",
            Topic::Grants => "grants",
            Topic::Runbooks => "runbooks",
            Topic::ActionItems => "action_items",
            Topic::Heartbeats => "heartbeats",
            Topic::Checks => "checks",
        }
    }

    pub fn parse(s: &str) -> Option<Topic> {
        Topic::ALL.into_iter().find(|t| t.as_str() == s)
    }
}

/// One thing a commit changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// An incident was declared or changed, or its timeline grew.
    Incident { number: IncidentNumber },
    /// An alert was opened, repeated, acknowledged, resolved or attached.
    Alert {
        id: i64,
        service: Name,
        status: AlertStatus,
        incident: Option<IncidentNumber>,
    },
    /// An outbox message became due (or will be) at `due`.
    Outbox { due: Timestamp },
    /// Directory data of one kind changed.
    Directory(Topic),
}

impl Change {
    /// The compact form sent over `NOTIFY`, or `None` for changes that stay in process.
    pub fn to_wire(&self) -> Option<String> {
        match self {
            Change::Incident { number } => Some(format!("i{}", number.0)),
            Change::Outbox { due } => Some(format!("o{}", due.as_millisecond())),
            Change::Directory(t) => Some(format!("d{}", t.as_str())),
            Change::Alert { .. } => None,
        }
    }

    /// Reads one entry of the compact form; `None` for anything unknown.
    pub fn from_wire(s: &str) -> Option<Change> {
        let (tag, rest) = s.split_at_checked(1)?;
        match tag {
            "i" => Some(Change::Incident {
                number: IncidentNumber(rest.parse().ok()?),
            }),
            "o" => Some(Change::Outbox {
                due: Timestamp::from_millisecond(rest.parse().ok()?).ok()?,
            }),
            "d" => Topic::parse(rest).map(Change::Directory),
            _ => None,
        }
    }
}

/// Everything one commit (or one notification from another instance) changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Committed {
    pub changes: Vec<Change>,
    /// True when another Firebreak instance made the commit.
    pub remote: bool,
}

impl Committed {
    /// The compact form of the changes that leave the process, joined by spaces, or `None`
    /// when there is nothing to send. Repeated entries are sent once.
    pub fn to_wire(&self) -> Option<String> {
        let mut parts: Vec<String> = Vec::new();
        let mut earliest_outbox: Option<Timestamp> = None;
        for c in &self.changes {
            if let Change::Outbox { due } = c {
                earliest_outbox = Some(earliest_outbox.map_or(*due, |e| e.min(*due)));
                continue;
            }
            if let Some(w) = c.to_wire()
                && !parts.contains(&w)
            {
                parts.push(w);
            }
        }
        if let Some(due) = earliest_outbox {
            parts.push(format!("o{}", due.as_millisecond()));
        }
        (!parts.is_empty()).then(|| parts.join(" "))
    }

    pub fn from_wire(text: &str) -> Committed {
        Committed {
            changes: text.split(' ').filter_map(Change::from_wire).collect(),
            remote: true,
        }
    }

    /// The earliest outbox due time this commit announced, if any.
    pub fn outbox_due(&self) -> Option<Timestamp> {
        self.changes
            .iter()
            .filter_map(|c| match c {
                Change::Outbox { due } => Some(*due),
                _ => None,
            })
            .min()
    }

    pub fn touches(&self, topic: Topic) -> bool {
        self.changes.contains(&Change::Directory(topic))
    }
}

/// The in-process feed. Cheap to clone; every clone publishes to the same subscribers.
#[derive(Clone)]
pub struct ChangeFeed {
    sender: broadcast::Sender<Arc<Committed>>,
}

impl Default for ChangeFeed {
    fn default() -> Self {
        ChangeFeed::new()
    }
}

impl ChangeFeed {
    /// Commits a subscriber may fall behind by before it sees `Lagged`.
    pub const CAPACITY: usize = 4096;

    pub fn new() -> ChangeFeed {
        let (sender, _) = broadcast::channel(Self::CAPACITY);
        ChangeFeed { sender }
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Committed>> {
        self.sender.subscribe()
    }

    /// Publishes one commit's changes; does nothing when there are none.
    pub fn publish(&self, committed: Committed) {
        if committed.changes.is_empty() {
            return;
        }
        // No subscriber is not an error: nothing is listening yet.
        let _ = self.sender.send(Arc::new(committed));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_wire_form_round_trips_what_leaves_the_process() {
        let due = Timestamp::from_millisecond(1_800_000_000_123).unwrap();
        let committed = Committed {
            changes: vec![
                Change::Incident {
                    number: IncidentNumber(7),
                },
                Change::Alert {
                    id: 1,
                    service: Name::parse("checkout").unwrap(),
                    status: AlertStatus::Open,
                    incident: None,
                },
                Change::Incident {
                    number: IncidentNumber(7),
                },
                Change::Outbox {
                    due: due + jiff::SignedDuration::from_secs(5),
                },
                Change::Outbox { due },
                Change::Directory(Topic::Tokens),
            ],
            remote: false,
        };
        let wire = committed.to_wire().unwrap();
        assert_eq!(wire, "i7 dtokens o1800000000123");
        let back = Committed::from_wire(&wire);
        assert!(back.remote);
        assert_eq!(
            back.changes,
            vec![
                Change::Incident {
                    number: IncidentNumber(7)
                },
                Change::Directory(Topic::Tokens),
                Change::Outbox { due },
            ]
        );
        assert_eq!(Committed::from_wire("x1 i y o-").changes, vec![]);
    }
}
