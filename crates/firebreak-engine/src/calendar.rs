//! iCalendar feeds of on-call shifts, one per schedule and one per user, so shifts show in
//! Google Calendar or Outlook. A feed's URL carries its own secret token: an HMAC of what the
//! feed is ("schedule primary", "user alice") under a key Firebreak keeps in the store, so
//! one feed's token opens no other feed, and every instance accepts the tokens any of them
//! made. Calendar apps cannot send an `Authorization` header, which is why the token is in
//! the URL.
//!
//! The text is written here rather than with a crate (docs/adr/0010): a feed is a list of
//! VEVENTs with UTC times, and the rules that matter (escaping, CRLF, folding lines at 75
//! octets) are tested below.

use std::fmt::Write as _;
use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use firebreak_domain::Name;
use firebreak_domain::schedule::Shift;
use hmac::{Hmac, KeyInit, Mac};
use jiff::{SignedDuration, Timestamp};
use sha2::Sha256;

use crate::{EngineError, Firebreak, Principal, random_bytes};

/// The name of the kept secret that signs feed tokens.
const KEY_NAME: &str = "calendar-feeds";
/// How far back and ahead a feed reaches.
const PAST: SignedDuration = SignedDuration::from_hours(24 * 14);
const AHEAD: SignedDuration = SignedDuration::from_hours(24 * 90);

/// What a feed shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Feed {
    Schedule(Name),
    User(Name),
}

impl Feed {
    fn claim(&self) -> String {
        match self {
            Feed::Schedule(s) => format!("s:{s}"),
            Feed::User(u) => format!("u:{u}"),
        }
    }

    fn from_claim(text: &str) -> Option<Feed> {
        let (kind, name) = text.split_once(':')?;
        let name = Name::parse(name).ok()?;
        match kind {
            "s" => Some(Feed::Schedule(name)),
            "u" => Some(Feed::User(name)),
            _ => None,
        }
    }
}

fn mac(key: &[u8], data: &[u8]) -> Hmac<Sha256> {
    let mut m = <Hmac<Sha256> as KeyInit>::new_from_slice(key).expect("HMAC takes any key length");
    m.update(data);
    m
}

impl Firebreak {
    async fn calendar_key(&self) -> Result<Arc<Vec<u8>>, EngineError> {
        let fresh = hex::encode(random_bytes::<32>()?);
        let now = self.clock.now();
        let kept = self
            .write(1, || {
                let fresh = fresh.clone();
                move |tx| Box::pin(async move { tx.keep_secret(KEY_NAME, &fresh, now).await })
            })
            .await?;
        Ok(Arc::new(kept.into_bytes()))
    }

    /// The URL of a feed. Everyone may have a schedule's; a user's is for admins and the user.
    pub async fn feed_url(&self, who: &Principal, feed: &Feed) -> Result<String, EngineError> {
        match feed {
            Feed::Schedule(s) => {
                self.schedule(s).await?;
            }
            Feed::User(u) => {
                if who.role != firebreak_domain::AccessRole::Admin && who.user.as_ref() != Some(u) {
                    return Err(EngineError::Forbidden(format!(
                        "only an admin or {u} may have {u}'s calendar feed"
                    )));
                }
                self.user(u).await?;
            }
        }
        let claim = URL_SAFE_NO_PAD.encode(feed.claim());
        let key = self.calendar_key().await?;
        let sig = URL_SAFE_NO_PAD.encode(mac(&key, claim.as_bytes()).finalize().into_bytes());
        Ok(format!("{}/ical/{claim}.{sig}.ics", self.paging.public_url))
    }

    /// The feed a token opens, as iCalendar text.
    pub async fn feed(&self, token: &str) -> Result<String, EngineError> {
        let refused = || {
            EngineError::NotFound(
                "no calendar feed here; copy the feed's URL again (GET /api/v1/schedules/{name}/feed)".into(),
            )
        };
        let token = token.strip_suffix(".ics").unwrap_or(token);
        let (claim, sig) = token.split_once('.').ok_or_else(refused)?;
        let sig = URL_SAFE_NO_PAD.decode(sig).map_err(|_| refused())?;
        mac(&self.calendar_key().await?, claim.as_bytes())
            .verify_slice(&sig)
            .map_err(|_| refused())?;
        let feed = URL_SAFE_NO_PAD
            .decode(claim)
            .ok()
            .and_then(|c| String::from_utf8(c).ok())
            .and_then(|c| Feed::from_claim(&c))
            .ok_or_else(refused)?;
        let now = self.clock.now();
        let mut events: Vec<(Name, Shift)> = Vec::new();
        let name = match &feed {
            Feed::Schedule(s) => {
                for shift in self.feed_shifts(s, now).await? {
                    events.push((s.clone(), shift));
                }
                format!("On call: {s}")
            }
            Feed::User(u) => {
                for record in self.schedules().await? {
                    let s = record.schedule.name.clone();
                    // One schedule that cannot be listed must not empty a person's whole feed.
                    let shifts = match self.feed_shifts(&s, now).await {
                        Ok(shifts) => shifts,
                        Err(EngineError::NotFound(_)) => continue,
                        Err(EngineError::Invalid { message, .. }) => {
                            tracing::warn!(schedule = %s, reason = %message, "left a schedule out of a calendar feed");
                            continue;
                        }
                        Err(e) => return Err(e),
                    };
                    for shift in shifts {
                        if &shift.user == u {
                            events.push((s.clone(), shift));
                        }
                    }
                }
                format!("On call: {u}")
            }
        };
        Ok(calendar(&name, &events, now))
    }
}

impl Firebreak {
    /// A schedule's shifts for its feed: two weeks back and ninety days ahead, or a shorter
    /// window when a fast rotation (every few minutes, as in drills) hands off too often for
    /// that one. The window starts at a whole UTC day (or hour, for the short ones), so the
    /// first shift, cut at the window's start, keeps its UID between fetches.
    async fn feed_shifts(&self, name: &Name, now: Timestamp) -> Result<Vec<Shift>, EngineError> {
        let day = SignedDuration::from_hours(24);
        let hour = SignedDuration::from_hours(1);
        // (back, ahead, the whole unit the start is cut to)
        let windows = [
            (PAST, AHEAD, 86_400),
            (day, 7 * day, 86_400),
            (hour, day, 3_600),
            (SignedDuration::ZERO, hour, 3_600),
        ];
        let mut last = None;
        for (back, ahead, unit) in windows {
            let from = whole(now - back, unit);
            match self.shifts(name, from, now + ahead).await {
                Err(e @ EngineError::Invalid { .. }) => last = Some(e),
                other => return other,
            }
        }
        Err(last.unwrap_or_else(|| crate::invalid("to", "no window fits")))
    }
}

/// `t` cut down to a whole `unit` of seconds (a UTC day or hour).
fn whole(t: Timestamp, unit: i64) -> Timestamp {
    let s = t.as_second();
    Timestamp::from_second(s - s.rem_euclid(unit)).unwrap_or(t)
}

/// Text for a property value: backslash, semicolon, comma and newlines escaped (RFC 5545).
fn text(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            ';' => out.push_str("\\;"),
            ',' => out.push_str("\\,"),
            '\n' => out.push_str("\\n"),
            '\r' => {}
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

/// One content line, folded at 75 octets (never inside a character), ending in CRLF.
fn line(out: &mut String, content: &str) {
    let mut width = 0;
    for c in content.chars() {
        let n = c.len_utf8();
        if width + n > 75 {
            out.push_str("\r\n ");
            width = 1;
        }
        out.push(c);
        width += n;
    }
    out.push_str("\r\n");
}

fn stamp(t: Timestamp) -> String {
    t.strftime("%Y%m%dT%H%M%SZ").to_string()
}

/// A VCALENDAR with one VEVENT per shift.
fn calendar(name: &str, shifts: &[(Name, Shift)], now: Timestamp) -> String {
    let mut out = String::new();
    line(&mut out, "BEGIN:VCALENDAR");
    line(&mut out, "VERSION:2.0");
    line(&mut out, "PRODID:-//Firebreak//On-call//EN");
    line(&mut out, "CALSCALE:GREGORIAN");
    line(&mut out, "METHOD:PUBLISH");
    line(&mut out, &format!("X-WR-CALNAME:{}", text(name)));
    line(&mut out, "REFRESH-INTERVAL;VALUE=DURATION:PT1H");
    line(&mut out, "X-PUBLISHED-TTL:PT1H");
    for (schedule, shift) in shifts {
        line(&mut out, "BEGIN:VEVENT");
        let mut uid = String::new();
        let _ = write!(
            uid,
            "{schedule}-{}-{}-{}@firebreak",
            shift.layer,
            shift.user,
            shift.start.as_second()
        );
        line(&mut out, &format!("UID:{}", text(&uid)));
        line(&mut out, &format!("DTSTAMP:{}", stamp(now)));
        line(&mut out, &format!("DTSTART:{}", stamp(shift.start)));
        line(&mut out, &format!("DTEND:{}", stamp(shift.end)));
        line(
            &mut out,
            &format!(
                "SUMMARY:{}",
                text(&format!("On call: {} ({schedule})", shift.user))
            ),
        );
        line(
            &mut out,
            &format!(
                "DESCRIPTION:{}",
                text(&format!(
                    "{} is on call on {schedule} (layer {}).",
                    shift.user, shift.layer
                ))
            ),
        );
        line(&mut out, "TRANSP:TRANSPARENT");
        line(&mut out, "END:VEVENT");
    }
    line(&mut out, "END:VCALENDAR");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shift(user: &str, layer: &str, from: i64, to: i64) -> Shift {
        Shift {
            user: Name::parse(user).unwrap(),
            start: Timestamp::from_second(from).unwrap(),
            end: Timestamp::from_second(to).unwrap(),
            layer: layer.into(),
        }
    }

    #[test]
    fn a_feed_is_crlf_lines_folded_at_75_octets_with_escaped_text() {
        let s = Name::parse("primary").unwrap();
        let ics = calendar(
            "On call: primary",
            &[(
                s,
                shift("alice", "week; days, nights", 1_800_000_000, 1_800_604_800),
            )],
            Timestamp::from_second(1_799_000_000).unwrap(),
        );
        assert!(ics.starts_with("BEGIN:VCALENDAR\r\nVERSION:2.0\r\n"));
        assert!(ics.ends_with("END:VCALENDAR\r\n"));
        assert!(ics.contains("DTSTART:20270115T080000Z\r\n"), "{ics}");
        assert!(
            ics.contains("SUMMARY:On call: alice (primary)\r\n"),
            "{ics}"
        );
        assert!(ics.contains("week\\; days\\, nights"), "{ics}");
        for l in ics.split("\r\n") {
            assert!(l.len() <= 75, "a line longer than 75 octets: {l:?}");
            assert!(!l.contains('\n'), "a bare newline: {l:?}");
        }
        // Unfolding gives back the long line.
        let unfolded = ics.replace("\r\n ", "");
        assert!(
            unfolded.contains(
                "DESCRIPTION:alice is on call on primary (layer week\\; days\\, nights)."
            )
        );
    }

    #[test]
    fn folding_never_splits_a_character() {
        let mut out = String::new();
        line(&mut out, &format!("SUMMARY:{}", "ü".repeat(80)));
        for l in out.split("\r\n") {
            assert!(l.len() <= 75);
        }
        assert_eq!(
            out.replace("\r\n ", "").trim_end(),
            format!("SUMMARY:{}", "ü".repeat(80))
        );
    }

    #[test]
    fn claims_read_back() {
        for feed in [
            Feed::Schedule(Name::parse("db-oncall").unwrap()),
            Feed::User(Name::parse("alice").unwrap()),
        ] {
            assert_eq!(Feed::from_claim(&feed.claim()), Some(feed));
        }
        assert_eq!(Feed::from_claim("x:alice"), None);
        assert_eq!(Feed::from_claim("s:Not A Name"), None);
    }
}
