//! Heartbeats: a dead man's switch. A cron job, a backup or Alertmanager's always-firing
//! `Watchdog` alert pings a secret URL; when no ping arrives within the period plus the grace,
//! the heartbeat is down and its alert opens. The next ping brings it back up and resolves the
//! alert. A failure ping (`/fail`) takes it down at once.
//!
//! A new heartbeat waits for its first ping and is never late before it (as healthchecks.io
//! does): a job added before its first run does not page anyone. Every rule here takes "now".

use jiff::{SignedDuration, Timestamp};

use crate::ids::Name;

/// The shortest period: a check more often than once a minute is a health check, not a
/// heartbeat.
pub const MIN_PERIOD: SignedDuration = SignedDuration::from_mins(1);
/// The longest period or grace: a year.
pub const MAX_SPAN: SignedDuration = SignedDuration::from_hours(366 * 24);
/// The longest failure reason kept, in characters; a longer body is cut.
pub const REASON_MAX: usize = 1_000;

/// Where a heartbeat stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeartbeatState {
    /// Never pinged: waiting for the first ping, never late.
    New,
    /// Pinged, and the next ping is not yet overdue.
    Up,
    /// Missed its period and grace, or reported a failure: its alert is open.
    Down,
}

impl HeartbeatState {
    pub fn as_str(self) -> &'static str {
        match self {
            HeartbeatState::New => "new",
            HeartbeatState::Up => "up",
            HeartbeatState::Down => "down",
        }
    }

    pub fn parse(text: &str) -> Option<HeartbeatState> {
        match text {
            "new" => Some(HeartbeatState::New),
            "up" => Some(HeartbeatState::Up),
            "down" => Some(HeartbeatState::Down),
            _ => None,
        }
    }
}

/// A heartbeat as stored. Its key is a secret: only its hash is kept (by the store), and
/// `key_hint`, its last four characters, is shown.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Heartbeat {
    /// Assigned by the store; 0 until then.
    pub id: i64,
    pub name: Name,
    pub service: Name,
    pub period: SignedDuration,
    pub grace: SignedDuration,
    pub key_hint: String,
    pub state: HeartbeatState,
    pub last_ping: Option<Timestamp>,
    /// When it goes down unless pinged: the last ping plus period plus grace, while up.
    pub due_at: Option<Timestamp>,
    /// When it went down, while down.
    pub down_since: Option<Timestamp>,
    /// Why it is down: the failure ping's reason, or that the ping was missed.
    pub reason: Option<String>,
    pub created_by: String,
    pub created_at: Timestamp,
}

/// What a ping, a failure or the clock did to a heartbeat, and so what its alert must do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Beat {
    /// Nothing the alert needs to hear (a ping while up or new).
    Quiet(Heartbeat),
    /// It went down (or failed again while down): trigger its alert.
    Down(Heartbeat),
    /// It came back up: resolve its alert.
    Recovered(Heartbeat),
}

/// Why a heartbeat's settings were refused: the field and what it must be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid {
    pub field: &'static str,
    pub message: String,
}

/// Reads a period or grace: `30s`, `5m`, `1h30m`, ISO 8601 `PT2H`, or whole days and weeks
/// (`1d`, `2w`).
pub fn parse_span(field: &'static str, text: &str) -> Result<SignedDuration, Invalid> {
    let t = text.trim();
    let invalid = || Invalid {
        field,
        message: format!("`{t}` is not a duration like 5m, 1h, 1h30m or 1d"),
    };
    let calendar = |unit: char, hours: i64| {
        t.strip_suffix(unit)
            .filter(|n| !n.is_empty() && n.len() <= 6 && n.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|n| n.parse::<i64>().ok())
            .map(|n| SignedDuration::from_hours(n * hours))
    };
    calendar('d', 24)
        .or_else(|| calendar('w', 7 * 24))
        .or_else(|| t.parse::<SignedDuration>().ok())
        .ok_or_else(invalid)
}

/// A span in the one unit that writes it whole, as [`parse_span`] reads it: `90s`, `5m`,
/// `1h`, `1d`, `2w`.
pub fn span_text(span: SignedDuration) -> String {
    let secs = span.as_secs();
    for (unit, size) in [("w", 7 * 86_400), ("d", 86_400), ("h", 3_600), ("m", 60)] {
        if secs != 0 && secs % size == 0 {
            return format!("{}{unit}", secs / size);
        }
    }
    format!("{secs}s")
}

/// Checks a heartbeat's period and grace.
pub fn check_spans(period: SignedDuration, grace: SignedDuration) -> Result<(), Invalid> {
    if period < MIN_PERIOD {
        return Err(Invalid {
            field: "period",
            message: "must be at least 1m".into(),
        });
    }
    if period > MAX_SPAN {
        return Err(Invalid {
            field: "period",
            message: "must be at most 366d".into(),
        });
    }
    if grace.is_negative() {
        return Err(Invalid {
            field: "grace",
            message: "must not be negative".into(),
        });
    }
    if grace > MAX_SPAN {
        return Err(Invalid {
            field: "grace",
            message: "must be at most 366d".into(),
        });
    }
    Ok(())
}

/// A failure reason as kept: control characters become spaces, trimmed, at most
/// [`REASON_MAX`] characters; `None` when nothing is left.
pub fn reason_from(text: &str) -> Option<String> {
    let cleaned: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(REASON_MAX)
        .collect();
    let trimmed = cleaned.trim();
    (!trimmed.is_empty()).then(|| trimmed.to_string())
}

impl Heartbeat {
    /// A new heartbeat, waiting for its first ping.
    pub fn new(
        name: Name,
        service: Name,
        period: SignedDuration,
        grace: SignedDuration,
        key_hint: String,
        created_by: String,
        now: Timestamp,
    ) -> Result<Heartbeat, Invalid> {
        check_spans(period, grace)?;
        Ok(Heartbeat {
            id: 0,
            name,
            service,
            period,
            grace,
            key_hint,
            state: HeartbeatState::New,
            last_ping: None,
            due_at: None,
            down_since: None,
            reason: None,
            created_by,
            created_at: now,
        })
    }

    /// When the next ping is expected (the last ping plus the period), while it is up.
    pub fn next_expected(&self) -> Option<Timestamp> {
        match (self.state, self.last_ping) {
            (HeartbeatState::Up, Some(last)) => last.checked_add(self.period).ok(),
            _ => None,
        }
    }

    /// A ping at `now`: up until the period and grace pass again.
    pub fn ping(&self, now: Timestamp) -> Beat {
        let was_down = self.state == HeartbeatState::Down;
        let up = Heartbeat {
            state: HeartbeatState::Up,
            last_ping: Some(now),
            due_at: now.checked_add(self.period + self.grace).ok(),
            down_since: None,
            reason: None,
            ..self.clone()
        };
        if was_down {
            Beat::Recovered(up)
        } else {
            Beat::Quiet(up)
        }
    }

    /// A failure reported at `now`: down at once, with `reason`.
    pub fn fail(&self, now: Timestamp, reason: Option<String>) -> Beat {
        Beat::Down(Heartbeat {
            state: HeartbeatState::Down,
            due_at: None,
            down_since: self.down_since.or(Some(now)),
            reason: Some(reason.unwrap_or_else(|| "the job reported a failure".into())),
            ..self.clone()
        })
    }

    /// True when it is up and its last ping is older than the period plus the grace.
    pub fn is_overdue(&self, now: Timestamp) -> bool {
        self.state == HeartbeatState::Up && self.due_at.is_some_and(|due| due <= now)
    }

    /// What the clock does at `now`: takes an overdue heartbeat down (once: a heartbeat that is
    /// down is not overdue); anything else is quiet.
    pub fn check(&self, now: Timestamp) -> Beat {
        if !self.is_overdue(now) {
            return Beat::Quiet(self.clone());
        }
        Beat::Down(Heartbeat {
            state: HeartbeatState::Down,
            down_since: self.due_at,
            due_at: None,
            reason: Some("no ping within the period and grace".into()),
            ..self.clone()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: i64) -> Timestamp {
        Timestamp::from_second(1_800_000_000 + s).unwrap()
    }

    fn beat() -> Heartbeat {
        Heartbeat::new(
            Name::parse("backup").unwrap(),
            Name::parse("db").unwrap(),
            SignedDuration::from_hours(1),
            SignedDuration::from_mins(5),
            "abcd".into(),
            "admin".into(),
            at(0),
        )
        .unwrap()
    }

    #[test]
    fn a_new_heartbeat_is_never_late_before_its_first_ping() {
        let b = beat();
        assert_eq!(b.state, HeartbeatState::New);
        assert_eq!(b.check(at(1_000_000)), Beat::Quiet(b.clone()));
    }

    #[test]
    fn a_missed_period_and_grace_takes_it_down_once_and_a_ping_brings_it_back() {
        let Beat::Quiet(up) = beat().ping(at(10)) else {
            panic!("the first ping is quiet")
        };
        assert_eq!(up.due_at, Some(at(10 + 3600 + 300)));
        assert_eq!(up.next_expected(), Some(at(10 + 3600)));
        assert!(matches!(up.check(at(10 + 3600 + 299)), Beat::Quiet(_)));
        let Beat::Down(down) = up.check(at(10 + 3600 + 300)) else {
            panic!("overdue at period plus grace")
        };
        assert_eq!(down.down_since, Some(at(10 + 3600 + 300)));
        assert!(
            matches!(down.check(at(99_999)), Beat::Quiet(_)),
            "down once per miss"
        );
        let Beat::Recovered(again) = down.ping(at(5000)) else {
            panic!("a ping recovers it")
        };
        assert_eq!(again.state, HeartbeatState::Up);
        assert_eq!(again.reason, None);
    }

    #[test]
    fn a_failure_takes_it_down_at_once_with_its_reason() {
        let Beat::Down(down) = beat().fail(at(3), reason_from("disk\u{1b}[31m full\n")) else {
            panic!("fail goes down")
        };
        assert_eq!(down.reason.as_deref(), Some("disk [31m full"));
        assert_eq!(down.down_since, Some(at(3)));
        assert_eq!(reason_from(&"x".repeat(5000)).unwrap().len(), REASON_MAX);
        assert_eq!(reason_from("  \n"), None);
    }

    #[test]
    fn spans_read_as_people_write_them() {
        assert_eq!(parse_span("period", "5m"), Ok(SignedDuration::from_mins(5)));
        assert_eq!(
            parse_span("period", "1d"),
            Ok(SignedDuration::from_hours(24))
        );
        assert_eq!(
            parse_span("period", "2w"),
            Ok(SignedDuration::from_hours(336))
        );
        assert_eq!(
            parse_span("period", "1h30m"),
            Ok(SignedDuration::from_mins(90))
        );
        assert_eq!(parse_span("grace", "nope").unwrap_err().field, "grace");
        for text in ["0s", "90s", "5m", "1h", "1d", "2w", "25h"] {
            assert_eq!(span_text(parse_span("period", text).unwrap()), text);
        }
        assert_eq!(
            check_spans(SignedDuration::from_secs(59), SignedDuration::ZERO)
                .unwrap_err()
                .field,
            "period"
        );
        assert_eq!(
            check_spans(MIN_PERIOD, SignedDuration::from_secs(-1))
                .unwrap_err()
                .field,
            "grace"
        );
    }
}
