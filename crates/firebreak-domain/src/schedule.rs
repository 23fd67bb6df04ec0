//! On-call schedules: who is on call at an instant, and the final shifts over a range.
//!
//! A schedule has a time zone and layers. Each layer rotates its members: `every` is either an
//! exact span (`8h`, `12h`, `30m`, `3s`), so handoffs are that far apart in real time, or a
//! number of calendar days (`1d`, `1w`), so the handoff keeps its local time of day across DST.
//! The first handoff is at the layer's `start`, a local date and time; before it the layer has
//! nobody. Restrictions (`mon`–`fri` 09:00–17:00) limit a layer to windows of local time; a
//! window whose end is not after its start runs past midnight (`17:00`–`09:00`, and
//! `00:00`–`00:00` is the whole day).
//!
//! Where layers overlap, the later layer in the list wins; where it has nobody, the one below
//! shows. Overrides win over every layer, and a later override over an earlier one.
//!
//! Local times that do not exist (a DST gap) move forward by the gap; local times that occur
//! twice (a DST repeat) mean the first. This is jiff's "compatible" rule, the one RFC 5545
//! (iCalendar) uses, so the feed and the schedule agree.

use std::collections::BTreeSet;
use std::fmt;

use jiff::civil::{Date, DateTime, Time, Weekday};
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp, ToSpan};

use crate::Name;
use crate::instant::{ACCEPTED_EARLIEST, ACCEPTED_LATEST};

/// The `layer` of a shift that comes from an override.
pub const OVERRIDE_LAYER: &str = "override";

/// A schedule that is wrong, with the field that is wrong (`layers[0].rotation.every`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct ScheduleError {
    pub field: String,
    pub message: String,
}

fn bad(field: impl Into<String>, message: impl Into<String>) -> ScheduleError {
    ScheduleError {
        field: field.into(),
        message: message.into(),
    }
}

/// How often a layer hands off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Every {
    /// An exact span of real time.
    Exact(SignedDuration),
    /// A number of calendar days in the schedule's time zone.
    Days(u32),
}

impl Every {
    /// Reads `3s`, `30m`, `8h`, `12h` (exact) and `1d`, `2d`, `1w` (calendar days).
    pub fn parse(text: &str) -> Option<Every> {
        let text = text.trim();
        let split = text.find(|c: char| !c.is_ascii_digit())?;
        let (digits, unit) = text.split_at(split);
        let n: u32 = digits.parse().ok().filter(|n| *n > 0)?;
        let secs = |per: i64| Some(Every::Exact(SignedDuration::from_secs(i64::from(n) * per)));
        match unit {
            "s" => secs(1),
            "m" => secs(60),
            "h" => secs(3_600),
            "d" if n <= 999 => Some(Every::Days(n)),
            "w" if n <= 999 => Some(Every::Days(n * 7)),
            _ => None,
        }
    }
}

impl fmt::Display for Every {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Every::Days(n) if n % 7 == 0 => write!(f, "{}w", n / 7),
            Every::Days(n) => write!(f, "{n}d"),
            Every::Exact(d) => {
                let s = d.as_secs();
                if s % 3_600 == 0 {
                    write!(f, "{}h", s / 3_600)
                } else if s % 60 == 0 {
                    write!(f, "{}m", s / 60)
                } else {
                    write!(f, "{s}s")
                }
            }
        }
    }
}

/// A window of local time on some days of the week.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Restriction {
    /// Days the window starts on.
    pub days: BTreeSet<WeekdayKey>,
    pub from: Time,
    /// Not after `from` means the next day.
    pub to: Time,
}

/// A weekday that sorts Monday first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct WeekdayKey(pub i8);

impl WeekdayKey {
    pub fn weekday(self) -> Weekday {
        Weekday::from_monday_one_offset(self.0).unwrap_or(Weekday::Monday)
    }

    pub fn of(day: Weekday) -> WeekdayKey {
        WeekdayKey(day.to_monday_one_offset())
    }

    /// Reads `mon`, `Monday`, `tue`, ... (any case).
    pub fn parse(text: &str) -> Option<WeekdayKey> {
        let t = text.trim().to_ascii_lowercase();
        let days = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
        let full = [
            "monday",
            "tuesday",
            "wednesday",
            "thursday",
            "friday",
            "saturday",
            "sunday",
        ];
        (0..7)
            .find(|&i| t == days[i] || t == full[i])
            .map(|i| WeekdayKey(i as i8 + 1))
    }

    /// `mon`, `tue`, ...
    pub fn short(self) -> &'static str {
        ["mon", "tue", "wed", "thu", "fri", "sat", "sun"][(self.0.clamp(1, 7) - 1) as usize]
    }
}

/// Reads a local time of day, `HH:MM`. `24:00` is midnight at the end of a day.
pub fn parse_time_of_day(text: &str) -> Option<Time> {
    let t = text.trim();
    if t == "24:00" {
        return Some(Time::midnight());
    }
    if t.len() != 5 || t.as_bytes().get(2) != Some(&b':') {
        return None;
    }
    t.parse::<Time>().ok()
}

/// Writes a time of day the way [`parse_time_of_day`] reads it: `09:00`.
pub fn format_time_of_day(t: Time) -> String {
    t.strftime("%H:%M").to_string()
}

/// Reads the local date and time of a layer's first handoff: `2026-03-23T09:00`, with
/// seconds if wanted, or a date alone for midnight. A zone or offset is refused: the
/// schedule's time zone says where.
pub fn parse_local_start(text: &str) -> Option<DateTime> {
    let t = text.trim();
    match t.len() {
        10 => t
            .parse::<Date>()
            .ok()
            .map(|d| d.to_datetime(Time::midnight())),
        16 | 19 if t.as_bytes()[10] == b'T' && !t[11..].contains(['+', '-', 'Z']) => {
            t.parse::<DateTime>().ok()
        }
        _ => None,
    }
}

/// Writes a layer's first handoff the way [`parse_local_start`] reads it:
/// `2026-03-23T09:00:00`.
pub fn format_local_start(dt: DateTime) -> String {
    dt.strftime("%Y-%m-%dT%H:%M:%S").to_string()
}

/// A layer's rotation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rotation {
    pub every: Every,
    /// The local date and time of the first handoff.
    pub start: DateTime,
}

/// One layer of a schedule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layer {
    pub name: String,
    /// In rotation order.
    pub members: Vec<Name>,
    pub rotation: Rotation,
    /// Empty: the layer is never restricted.
    pub restrict: Vec<Restriction>,
}

/// Someone covering a schedule from `start` to `end`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Override {
    pub id: String,
    pub user: Name,
    pub start: Timestamp,
    pub end: Timestamp,
}

/// A stretch of time one person is on call, and the layer (or `override`) that put them there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shift {
    pub user: Name,
    pub start: Timestamp,
    pub end: Timestamp,
    pub layer: String,
}

/// A schedule, checked.
#[derive(Debug, Clone, PartialEq)]
pub struct Schedule {
    pub name: Name,
    /// The IANA name, as written (`Europe/Berlin`).
    pub time_zone_name: String,
    pub time_zone: TimeZone,
    pub layers: Vec<Layer>,
}

impl Schedule {
    /// Checks a schedule. Field names in errors follow the API and `firebreak.yaml` shapes.
    pub fn new(name: Name, time_zone: &str, layers: Vec<Layer>) -> Result<Schedule, ScheduleError> {
        let tz = TimeZone::get(time_zone).map_err(|_| {
            bad(
                "time_zone",
                format!(
                    "`{time_zone}` is not a time zone Firebreak knows; use an IANA name such as Europe/Berlin or America/New_York"
                ),
            )
        })?;
        if layers.is_empty() {
            return Err(bad("layers", "a schedule needs at least one layer"));
        }
        let mut names = BTreeSet::new();
        for (i, layer) in layers.iter().enumerate() {
            let at = |f: &str| format!("layers[{i}].{f}");
            if layer.name.trim().is_empty() || layer.name.chars().count() > 100 {
                return Err(bad(
                    at("name"),
                    "a layer needs a name of 1 to 100 characters",
                ));
            }
            if layer.name == OVERRIDE_LAYER {
                return Err(bad(at("name"), "`override` is reserved for overrides"));
            }
            if !names.insert(layer.name.as_str()) {
                return Err(bad(
                    at("name"),
                    format!("two layers are named `{}`", layer.name),
                ));
            }
            if layer.members.is_empty() {
                return Err(bad(at("members"), "a layer needs at least one member"));
            }
            if layer.members.len() > 500 {
                return Err(bad(at("members"), "a layer has at most 500 members"));
            }
            let year = layer.rotation.start.year();
            if !(2000..=2199).contains(&year) {
                return Err(bad(
                    at("rotation.start"),
                    "the first handoff must be between the years 2000 and 2199",
                ));
            }
            if let Every::Exact(d) = layer.rotation.every
                && d < SignedDuration::from_secs(1)
            {
                return Err(bad(
                    at("rotation.every"),
                    "a rotation is at least one second",
                ));
            }
            for (j, r) in layer.restrict.iter().enumerate() {
                if r.days.is_empty() {
                    return Err(bad(
                        format!("layers[{i}].restrict[{j}].days"),
                        "name at least one day (mon, tue, wed, thu, fri, sat, sun)",
                    ));
                }
            }
        }
        Ok(Schedule {
            name,
            time_zone_name: time_zone.to_string(),
            time_zone: tz,
            layers,
        })
    }

    /// Who is on call at `at`, and from which layer.
    pub fn on_call(&self, at: Timestamp, overrides: &[Override]) -> Option<Shift> {
        let end = at.checked_add(SignedDuration::from_nanos(1)).ok()?;
        self.shifts(at, end, overrides, 8)
            .ok()?
            .into_iter()
            .find(|s| s.start <= at && at < s.end)
    }

    /// The final shifts between `from` and `to`: layers and overrides resolved, in time order,
    /// never overlapping, cut at `from` and `to`. Fails when the range would hold more than
    /// `limit` shifts in some layer, so a caller can ask for less.
    pub fn shifts(
        &self,
        from: Timestamp,
        to: Timestamp,
        overrides: &[Override],
        limit: usize,
    ) -> Result<Vec<Shift>, ScheduleError> {
        let (from, to) = (from.max(ACCEPTED_EARLIEST), to.min(ACCEPTED_LATEST));
        if from >= to {
            return Ok(Vec::new());
        }
        let mut layers = Vec::with_capacity(self.layers.len());
        for layer in &self.layers {
            layers.push(layer_segments(layer, &self.time_zone, from, to, limit)?);
        }
        let overrides: Vec<&Override> = overrides
            .iter()
            .filter(|o| o.start < to && o.end > from && o.start < o.end)
            .collect();
        let mut cuts: Vec<Timestamp> = vec![from, to];
        for segs in &layers {
            for s in segs {
                cuts.push(s.start);
                cuts.push(s.end);
            }
        }
        for o in &overrides {
            cuts.push(o.start.max(from));
            cuts.push(o.end.min(to));
        }
        cuts.sort();
        cuts.dedup();
        let mut cursors = vec![0usize; layers.len()];
        let mut out: Vec<Shift> = Vec::new();
        for pair in cuts.windows(2) {
            let (a, b) = (pair[0], pair[1]);
            let winner = overrides
                .iter()
                .rev()
                .find(|o| o.start <= a && b <= o.end)
                .map(|o| (&o.user, OVERRIDE_LAYER))
                .or_else(|| {
                    let mut found = None;
                    for (i, segs) in layers.iter().enumerate() {
                        while cursors[i] < segs.len() && segs[cursors[i]].end <= a {
                            cursors[i] += 1;
                        }
                        if let Some(s) = segs.get(cursors[i])
                            && s.start <= a
                            && b <= s.end
                        {
                            found = Some((s.user, self.layers[i].name.as_str()));
                        }
                    }
                    found
                });
            let Some((user, layer)) = winner else {
                continue;
            };
            match out.last_mut() {
                Some(last) if last.end == a && &last.user == user && last.layer == layer => {
                    last.end = b;
                }
                _ => out.push(Shift {
                    user: user.clone(),
                    start: a,
                    end: b,
                    layer: layer.to_string(),
                }),
            }
        }
        Ok(out)
    }
}

/// One member's stretch in one layer.
#[derive(Debug, Clone, Copy)]
struct Segment<'a> {
    user: &'a Name,
    start: Timestamp,
    end: Timestamp,
}

/// A local date and time as an instant in `tz` (gaps move forward, repeats take the first).
fn instant(tz: &TimeZone, dt: DateTime) -> Option<Timestamp> {
    tz.to_ambiguous_timestamp(dt).compatible().ok()
}

impl Layer {
    /// The `k`th handoff (the first is 0).
    fn handoff(&self, tz: &TimeZone, k: i64) -> Option<Timestamp> {
        match self.rotation.every {
            Every::Exact(d) => {
                // Exact rotations are whole seconds (see `Every::parse`).
                let first = instant(tz, self.rotation.start)?;
                let step = SignedDuration::from_secs(d.as_secs().checked_mul(k)?);
                first.checked_add(step).ok()
            }
            Every::Days(n) => {
                let days = i64::from(n).checked_mul(k)?;
                let local = self.rotation.start.checked_add(days.days()).ok()?;
                instant(tz, local)
            }
        }
    }

    /// The rotation period holding `t`: the largest `k` with `handoff(k) <= t`, or `None`
    /// before the first handoff.
    fn period(&self, tz: &TimeZone, t: Timestamp) -> Option<i64> {
        let first = instant(tz, self.rotation.start)?;
        if t < first {
            return None;
        }
        let mut k = match self.rotation.every {
            Every::Exact(d) => {
                let elapsed = t.duration_since(first).as_secs();
                elapsed / d.as_secs().max(1)
            }
            Every::Days(n) => {
                let local = t.to_zoned(tz.clone()).date();
                let days = i64::from(self.rotation.start.date().until(local).ok()?.get_days());
                days.div_euclid(i64::from(n))
            }
        };
        while k > 0 && self.handoff(tz, k)? > t {
            k -= 1;
        }
        while self.handoff(tz, k + 1)? <= t {
            k += 1;
        }
        Some(k)
    }

    fn member(&self, k: i64) -> &Name {
        let n = self.members.len() as i64;
        &self.members[k.rem_euclid(n) as usize]
    }

    /// Whether the restrictions let this layer be on call at `t` (always, without any).
    fn allows(&self, tz: &TimeZone, t: Timestamp) -> bool {
        if self.restrict.is_empty() {
            return true;
        }
        let today = t.to_zoned(tz.clone()).date();
        let Ok(yesterday) = today.yesterday() else {
            return false;
        };
        self.restrict.iter().any(|r| {
            [yesterday, today]
                .into_iter()
                .any(|d| window(tz, r, d).is_some_and(|(start, end)| start <= t && t < end))
        })
    }

    /// Who this layer puts on call at `t`, judged at that instant alone.
    pub fn member_at(&self, tz: &TimeZone, t: Timestamp) -> Option<&Name> {
        if !self.allows(tz, t) {
            return None;
        }
        self.period(tz, t).map(|k| self.member(k))
    }
}

/// The window `r` opens on local date `day`, if `day` is one of its days.
fn window(tz: &TimeZone, r: &Restriction, day: Date) -> Option<(Timestamp, Timestamp)> {
    if !r.days.contains(&WeekdayKey::of(day.weekday())) {
        return None;
    }
    let end_day = if r.to <= r.from {
        day.tomorrow().ok()?
    } else {
        day
    };
    let start = instant(tz, day.to_datetime(r.from))?;
    let end = instant(tz, end_day.to_datetime(r.to))?;
    (start < end).then_some((start, end))
}

/// The layer's stretches between `from` and `to`, in order, cut to its restrictions.
fn layer_segments<'a>(
    layer: &'a Layer,
    tz: &TimeZone,
    from: Timestamp,
    to: Timestamp,
    limit: usize,
) -> Result<Vec<Segment<'a>>, ScheduleError> {
    let too_many = || {
        bad(
            "to",
            format!(
                "layer `{}` hands off more than {limit} times in this range; ask for a shorter one",
                layer.name
            ),
        )
    };
    let mut rotation = Vec::new();
    let mut k = layer.period(tz, from).unwrap_or_default();
    while let Some(start) = layer.handoff(tz, k) {
        if start >= to {
            break;
        }
        let Some(end) = layer.handoff(tz, k + 1) else {
            break;
        };
        if end > from {
            if rotation.len() >= limit {
                return Err(too_many());
            }
            rotation.push(Segment {
                user: layer.member(k),
                start: start.max(from),
                end: end.min(to),
            });
        }
        k += 1;
    }
    if layer.restrict.is_empty() {
        return Ok(rotation);
    }
    // The restriction windows touching the range, merged.
    let mut windows: Vec<(Timestamp, Timestamp)> = Vec::new();
    let first = from.to_zoned(tz.clone()).date().yesterday().ok();
    let last = to.to_zoned(tz.clone()).date();
    let mut day = first;
    while let Some(d) = day {
        if d > last {
            break;
        }
        for r in &layer.restrict {
            if let Some((s, e)) = window(tz, r, d)
                && s < to
                && e > from
            {
                windows.push((s.max(from), e.min(to)));
            }
        }
        if windows.len() > limit.saturating_mul(4) {
            return Err(too_many());
        }
        day = d.tomorrow().ok();
    }
    windows.sort();
    let mut merged: Vec<(Timestamp, Timestamp)> = Vec::with_capacity(windows.len());
    for (s, e) in windows {
        match merged.last_mut() {
            Some(last) if s <= last.1 => last.1 = last.1.max(e),
            _ => merged.push((s, e)),
        }
    }
    // Both lists are sorted: intersect them in one pass.
    let mut out = Vec::new();
    let (mut i, mut j) = (0, 0);
    while i < rotation.len() && j < merged.len() {
        let seg = rotation[i];
        let (ws, we) = merged[j];
        let (s, e) = (seg.start.max(ws), seg.end.min(we));
        if s < e {
            if out.len() >= limit {
                return Err(too_many());
            }
            out.push(Segment {
                user: seg.user,
                start: s,
                end: e,
            });
        }
        if seg.end <= we {
            i += 1;
        } else {
            j += 1;
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests;
