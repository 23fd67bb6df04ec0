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

/// Go's zero time, `0001-01-01T00:00:00Z`: what Alertmanager sends for "no end yet".
const GO_ZERO_TIME: Timestamp = Timestamp::constant(-62_135_596_800, 0);

/// How much of an unreadable value a note quotes.
const QUOTE_MAX: usize = 64;

/// Why a time was not used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Unusable {
    Unreadable,
    OutOfRange,
}

/// Reads a time: RFC 3339; ISO 8601 without an offset (`2026-11-20T14:05:00`, also with a space
/// for the `T`) as UTC; and an offset followed by a redundant `Z` (`...+00:00Z`, as the
/// `pagerduty` Python client sends). Go's zero time gives `Ok(None)`.
pub(crate) fn parse_time(text: &str) -> Result<Option<Timestamp>, Unusable> {
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
        Ok(None)
    } else if in_accepted_range(ts) {
        Ok(Some(ts))
    } else {
        Err(Unusable::OutOfRange)
    }
}

/// An optional time field. Absent, `null`, blank or Go's zero time give `None` silently; anything
/// else that is not a usable time gives `None` and a note naming `field`.
pub(crate) fn read_time(
    obj: &Object,
    key: &str,
    field: &str,
    notes: &mut Notes,
) -> Option<Timestamp> {
    let value = obj.get(key)?;
    let problem = match value {
        Value::Null => return None,
        Value::String(s) if s.trim().is_empty() => return None,
        Value::String(s) => match parse_time(s) {
            Ok(ts) => return ts,
            Err(problem) => problem,
        },
        _ => Unusable::Unreadable,
    };
    let quoted = quote(value);
    notes.add(match problem {
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
            Ok(Some(at("2026-11-20T14:05:00Z")))
        );
        assert_eq!(
            parse_time(" 2026-11-20T16:05:00.5+02:00 "),
            Ok(Some(at("2026-11-20T14:05:00.5Z")))
        );
        assert_eq!(
            parse_time("2026-11-20t14:05:00z"),
            Ok(Some(at("2026-11-20T14:05:00Z")))
        );
    }

    #[test]
    fn without_an_offset_is_utc() {
        for text in [
            "2026-11-20T14:05:00",
            "2026-11-20 14:05:00",
            "2026-11-20T14:05",
        ] {
            assert_eq!(
                parse_time(text),
                Ok(Some(at("2026-11-20T14:05:00Z"))),
                "{text}"
            );
        }
        assert_eq!(
            parse_time("2026-11-20T14:05:00.123"),
            Ok(Some(at("2026-11-20T14:05:00.123Z")))
        );
    }

    #[test]
    fn offset_then_redundant_z() {
        assert_eq!(
            parse_time("2026-11-20T14:05:00.123456+00:00Z"),
            Ok(Some(at("2026-11-20T14:05:00.123456Z")))
        );
        assert_eq!(
            parse_time("2026-11-20T16:05:00+02:00Z"),
            Ok(Some(at("2026-11-20T14:05:00Z")))
        );
        assert_eq!(
            parse_time("2026-11-20T14:05:00ZZ"),
            Err(Unusable::Unreadable)
        );
        assert_eq!(parse_time("2026-11-20Z"), Err(Unusable::Unreadable));
    }

    #[test]
    fn go_zero_time_is_none() {
        assert_eq!(parse_time("0001-01-01T00:00:00Z"), Ok(None));
        assert_eq!(parse_time("0001-01-01T00:00:00"), Ok(None));
    }

    #[test]
    fn range_is_2000_to_2200() {
        assert_eq!(
            parse_time("2000-01-01T00:00:00Z"),
            Ok(Some(ACCEPTED_EARLIEST))
        );
        assert_eq!(
            parse_time("2200-12-31T23:59:59.999999999Z"),
            Ok(Some(ACCEPTED_LATEST))
        );
        assert!(parse_time("2200-12-31T23:59:59Z").unwrap().is_some());
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
             x.d (an object) could not be read as a time; the receive time was used"
        );
        let long = Value::String("9".repeat(100));
        assert_eq!(quote(&long), format!("\"{}…\"", "9".repeat(64)));
    }
}
