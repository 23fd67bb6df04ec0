//! Reading the times senders put in events, and the range of instants Firebreak accepts.
//!
//! A time is never a reason to refuse an event: one that can't be read, or that lies outside
//! [`ACCEPTED_EARLIEST`]..=[`ACCEPTED_LATEST`], is dropped with a note (see
//! [`NOTE_KEY`](crate::NOTE_KEY)) and the engine uses the receive time instead. Refusing a
//! trigger over its timestamp would be a page that never goes out.

use jiff::Timestamp;
use jiff::fmt::temporal::{Pieces, PiecesOffset};
use jiff::tz::Offset;
use serde_json::Value;

use crate::util::{self, Notes, Object};

pub use firebreak_domain::instant::{ACCEPTED_EARLIEST, ACCEPTED_LATEST, in_accepted_range};

/// Go's zero time, `0001-01-01T00:00:00Z`: what Go senders (Alertmanager, Grafana) send for a
/// time that is not set, such as "no end yet".
const GO_ZERO_TIME: Timestamp = Timestamp::constant(-62_135_596_800, 0);

/// How much of an unreadable value a note quotes.
const QUOTE_MAX: usize = 64;

/// Why a time was not used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Unusable {
    Unreadable,
    OutOfRange,
    /// Go's zero time: the sender did not set the time.
    GoZero,
}

/// Reads a time: RFC 3339; ISO 8601 without an offset (`2026-11-20T14:05:00`, also with a space
/// for the `T`) as UTC; and an offset followed by a redundant `Z` (`...+00:00Z`, as the
/// `pagerduty` Python client sends). Go's zero time is [`Unusable::GoZero`].
pub(crate) fn parse_time(text: &str) -> Result<Timestamp, Unusable> {
    let text = text.trim();
    let pieces = match Pieces::parse(text) {
        Ok(pieces) => pieces,
        Err(_) => text
            .strip_suffix(['Z', 'z'])
            .and_then(|rest| Pieces::parse(rest).ok())
            .filter(|p| matches!(p.offset(), Some(PiecesOffset::Numeric(_))))
            .ok_or(Unusable::Unreadable)?,
    };
    // A date alone is not a time of day.
    let time = pieces.time().ok_or(Unusable::Unreadable)?;
    let offset = match pieces.offset() {
        Some(offset) => offset.to_numeric_offset(),
        // A named zone without an offset would need the time zone database; not guessed.
        None if pieces.time_zone_annotation().is_some() => return Err(Unusable::Unreadable),
        None => Offset::UTC,
    };
    // The civil time was read; only its instant is beyond what jiff can represent.
    let ts = offset
        .to_timestamp(pieces.date().to_datetime(time))
        .map_err(|_| Unusable::OutOfRange)?;
    if ts == GO_ZERO_TIME {
        Err(Unusable::GoZero)
    } else if in_accepted_range(ts) {
        Ok(ts)
    } else {
        Err(Unusable::OutOfRange)
    }
}

/// An optional time field of when something happened (an alert's start, an event's timestamp).
/// Absent, `null` or blank give `None` silently; anything else that is not a usable time,
/// Go's zero time included, gives `None` and a note naming `field`: the receive time is used.
pub(crate) fn read_time(
    obj: &Object,
    key: &str,
    field: &str,
    notes: &mut Notes,
) -> Option<Timestamp> {
    read(obj, key, field, notes, false)
}

/// An optional end time (`endsAt`, `ends_at`), where Go's zero time is how Alertmanager and
/// Grafana say "no end yet": like [`read_time`], but the zero time gives `None` silently.
pub(crate) fn read_end_time(
    obj: &Object,
    key: &str,
    field: &str,
    notes: &mut Notes,
) -> Option<Timestamp> {
    read(obj, key, field, notes, true)
}

fn read(
    obj: &Object,
    key: &str,
    field: &str,
    notes: &mut Notes,
    zero_is_unset: bool,
) -> Option<Timestamp> {
    let value = obj.get(key)?;
    let problem = match value {
        Value::Null => return None,
        Value::String(s) if s.trim().is_empty() => return None,
        Value::String(s) => match parse_time(s) {
            Ok(ts) => return Some(ts),
            Err(Unusable::GoZero) if zero_is_unset => return None,
            Err(problem) => problem,
        },
        _ => Unusable::Unreadable,
    };
    let quoted = quote(value);
    notes.add(match problem {
        Unusable::GoZero => {
            format!("{field} {quoted} is Go's zero time (not set); the receive time was used")
        }
        Unusable::Unreadable => {
            format!("{field} {quoted} could not be read as a time; the receive time was used")
        }
        Unusable::OutOfRange => {
            format!("{field} {quoted} is outside the years 2000 to 2200; the receive time was used")
        }
    });
    None
}

/// The value as JSON text, strings cut to [`QUOTE_MAX`] characters first.
fn quote(value: &Value) -> String {
    match value {
        Value::String(s) if util::too_long(s, QUOTE_MAX) => {
            Value::String(format!("{}…", util::truncate(s, QUOTE_MAX))).to_string()
        }
        Value::Array(_) => "(an array)".to_string(),
        Value::Object(_) => "(an object)".to_string(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> Timestamp {
        text.parse().unwrap()
    }

    #[test]
    fn rfc3339_and_offsets() {
        assert_eq!(
            parse_time("2026-11-20T14:05:00Z"),
            Ok(at("2026-11-20T14:05:00Z"))
        );
        assert_eq!(
            parse_time(" 2026-11-20T16:05:00.5+02:00 "),
            Ok(at("2026-11-20T14:05:00.5Z"))
        );
        assert_eq!(
            parse_time("2026-11-20t14:05:00z"),
            Ok(at("2026-11-20T14:05:00Z"))
        );
    }

    #[test]
    fn without_an_offset_is_utc() {
        for text in [
            "2026-11-20T14:05:00",
            "2026-11-20 14:05:00",
            "2026-11-20T14:05",
        ] {
            assert_eq!(parse_time(text), Ok(at("2026-11-20T14:05:00Z")), "{text}");
        }
        assert_eq!(
            parse_time("2026-11-20T14:05:00.123"),
            Ok(at("2026-11-20T14:05:00.123Z"))
        );
    }

    #[test]
    fn offset_then_redundant_z() {
        assert_eq!(
            parse_time("2026-11-20T14:05:00.123456+00:00Z"),
            Ok(at("2026-11-20T14:05:00.123456Z"))
        );
        assert_eq!(
            parse_time("2026-11-20T16:05:00+02:00Z"),
            Ok(at("2026-11-20T14:05:00Z"))
        );
        assert_eq!(
            parse_time("2026-11-20T14:05:00ZZ"),
            Err(Unusable::Unreadable)
        );
        assert_eq!(parse_time("2026-11-20Z"), Err(Unusable::Unreadable));
    }

    #[test]
    fn go_zero_time_is_told_apart() {
        assert_eq!(parse_time("0001-01-01T00:00:00Z"), Err(Unusable::GoZero));
        assert_eq!(parse_time("0001-01-01T00:00:00"), Err(Unusable::GoZero));
    }

    #[test]
    fn range_is_2000_to_2200() {
        assert_eq!(parse_time("2000-01-01T00:00:00Z"), Ok(ACCEPTED_EARLIEST));
        assert_eq!(
            parse_time("2200-12-31T23:59:59.999999999Z"),
            Ok(ACCEPTED_LATEST)
        );
        assert!(parse_time("2200-12-31T23:59:59Z").is_ok());
        for text in [
            "1999-12-31T23:59:59.999Z",
            "2000-01-01T00:30:00+01:00",
            "2201-01-01T00:00:00Z",
            "1970-01-01T00:00:00Z",
            "0001-01-01T00:00:01Z",
            "9999-12-31T23:59:59Z",
            "9999-12-31T23:59:59-23:59",
            "-009999-01-01T00:00:00Z",
            "-009999-01-01T00:00:00+23:59",
            "+009999-12-31T23:59:59Z",
        ] {
            assert_eq!(parse_time(text), Err(Unusable::OutOfRange), "{text}");
        }
        assert!(in_accepted_range(at("2026-11-20T14:05:00Z")));
        assert!(!in_accepted_range(Timestamp::MIN));
        assert!(!in_accepted_range(Timestamp::MAX));
    }

    #[test]
    fn unreadable() {
        for text in [
            "garbage",
            "2026-11-20",
            "2026-13-40T99:00:00Z",
            "1763647500",
            "Fri, 20 Nov 2026 14:05:00 GMT",
            "2026-11-20T14:05:00[Europe/Paris]",
            "2026-11-20T14:05:00Z trailing",
            "\u{0}",
        ] {
            assert_eq!(parse_time(text), Err(Unusable::Unreadable), "{text}");
        }
    }

    #[test]
    fn notes_quote_the_value_and_name_the_field() {
        let obj: Object = serde_json::from_str(
            r#"{"a":"garbage","b":"2201-01-01T00:00:00Z","c":5,"d":{"x":1},"e":null,"f":" ",
                "g":"0001-01-01T00:00:00Z","h":"2026-11-20T14:05:00Z"}"#,
        )
        .unwrap();
        let mut notes = Notes::default();
        for key in ["a", "b", "c", "d", "e", "f", "g", "missing"] {
            assert_eq!(read_time(&obj, key, &format!("x.{key}"), &mut notes), None);
        }
        assert_eq!(
            read_time(&obj, "h", "x.h", &mut notes),
            Some(at("2026-11-20T14:05:00Z"))
        );
        assert_eq!(
            notes.into_text().unwrap(),
            "x.a \"garbage\" could not be read as a time; the receive time was used; \
             x.b \"2201-01-01T00:00:00Z\" is outside the years 2000 to 2200; the receive time \
             was used; x.c 5 could not be read as a time; the receive time was used; \
             x.d (an object) could not be read as a time; the receive time was used; \
             x.g \"0001-01-01T00:00:00Z\" is Go's zero time (not set); the receive time was used"
        );
        // An end time at Go's zero time is "no end yet": silent.
        let mut notes = Notes::default();
        assert_eq!(read_end_time(&obj, "g", "x.g", &mut notes), None);
        assert_eq!(read_end_time(&obj, "a", "x.a", &mut notes), None);
        assert_eq!(
            notes.into_text().unwrap(),
            "x.a \"garbage\" could not be read as a time; the receive time was used"
        );
        let long = Value::String("9".repeat(100));
        assert_eq!(quote(&long), format!("\"{}…\"", "9".repeat(64)));
    }
}
