//! The `schedules` section: on-call schedules, their layers, rotations and restrictions.
//! The rules of a schedule (who is on call when) live in `firebreak_domain::schedule`; this
//! reads the file's shape and points at the line of each problem.

use std::collections::BTreeSet;

use firebreak_domain::schedule::{
    Every, Layer, Restriction, Rotation, Schedule, WeekdayKey, parse_local_start, parse_time_of_day,
};

use super::Reader;
use crate::node::{Node, Value};

pub(crate) const SCHEDULE_KEYS: &[&str] = &["name", "time_zone", "layers"];
pub(crate) const LAYER_KEYS: &[&str] = &["name", "members", "rotation", "restrict"];
pub(crate) const ROTATION_KEYS: &[&str] = &["every", "start"];
pub(crate) const RESTRICT_KEYS: &[&str] = &["days", "from", "to"];

const EVERY_HINT: &str = "expected a number and a unit, like 8h, 12h, 1d or 1w (s, m and h are exact spans; d and w are calendar days that keep the local handoff time)";
const START_HINT: &str = "expected the local date and time of the first handoff, like 2026-03-23T09:00 (no zone: the schedule's time_zone applies)";
const TIME_HINT: &str = "expected a local time like 09:00 or 17:30";
const DAYS_HINT: &str = "[mon, tue, wed, thu, fri]";

impl Reader<'_> {
    /// One schedule. `users` are the handles the file declares: every member must be one.
    pub(super) fn schedule(
        &mut self,
        node: &Node,
        path: &str,
        seen: &mut Vec<(String, u64)>,
        users: &[String],
    ) -> Option<Schedule> {
        let f = self.fields(
            node,
            path,
            SCHEDULE_KEYS,
            "a schedule mapping with name, time_zone and layers",
        )?;
        let name = self.unique_name(&f, seen, "schedule");
        let mut ok = true;
        let time_zone = match self.required_text(&f, "time_zone") {
            Some((tz, tz_node)) if jiff::tz::TimeZone::get(&tz).is_err() => {
                self.error_at(
                    &tz_node,
                    &f.path("time_zone"),
                    format!("unknown time zone \"{tz}\"; expected an IANA name like Europe/Berlin or America/New_York"),
                );
                None
            }
            Some((tz, _)) => Some(tz),
            None => None,
        };
        let mut layers = Vec::new();
        match f.get("layers") {
            None => {
                self.error_at(f.node, &f.path, "missing required key \"layers\"");
                ok = false;
            }
            Some(list) => match &list.value {
                Value::Seq(items) if !items.is_empty() => {
                    let mut layer_names = Vec::new();
                    for (i, item) in items.iter().enumerate() {
                        let at = format!("{}[{i}]", f.path("layers"));
                        match self.layer(item, &at, &mut layer_names, users) {
                            Some(l) => layers.push(l),
                            None => ok = false,
                        }
                    }
                }
                Value::Seq(_) => {
                    self.error_at(list, &f.path("layers"), "expected at least one layer");
                    ok = false;
                }
                _ => {
                    self.wrong_type(list, &f.path("layers"), "a list of layers");
                    ok = false;
                }
            },
        }
        let (name, _) = name?;
        let time_zone = time_zone?;
        if !ok {
            return None;
        }
        match Schedule::new(name, &time_zone, layers) {
            Ok(s) => Some(s),
            Err(e) => {
                self.error_at(node, &format!("{path}.{}", e.field), e.message);
                None
            }
        }
    }

    fn layer(
        &mut self,
        node: &Node,
        path: &str,
        seen: &mut Vec<(String, u64)>,
        users: &[String],
    ) -> Option<Layer> {
        let f = self.fields(
            node,
            path,
            LAYER_KEYS,
            "a layer mapping with name, members, rotation and restrict",
        )?;
        let mut ok = true;
        let name = self.required_text(&f, "name");
        if let Some((name, name_node)) = &name {
            if name == firebreak_domain::schedule::OVERRIDE_LAYER {
                self.error_at(
                    name_node,
                    &f.path("name"),
                    "\"override\" is the name shifts from overrides carry; choose another",
                );
                ok = false;
            }
            self.unique(seen, name, name_node, &f.path("name"), "layer", name);
        }
        let mut members = Vec::new();
        match self.text_list(&f, "members", "[alice, bob]") {
            None if f.get("members").is_none() => {
                self.error_at(f.node, &f.path, "missing required key \"members\"");
                ok = false;
            }
            None => ok = false,
            Some(list) if list.is_empty() => {
                self.error_at(
                    f.get("members").unwrap_or(f.node),
                    &f.path("members"),
                    "expected at least one member, in rotation order",
                );
                ok = false;
            }
            Some(list) => {
                for (handle, member_node, member_path) in list {
                    if !users.iter().any(|u| u == &handle) {
                        self.error_at(
                            &member_node,
                            &member_path,
                            format!("unknown user \"{handle}\"; declare them under users:, with this handle"),
                        );
                        ok = false;
                        continue;
                    }
                    match firebreak_domain::Name::parse(&handle) {
                        Ok(h) => members.push(h),
                        Err(e) => {
                            self.error_at(&member_node, &member_path, e.to_string());
                            ok = false;
                        }
                    }
                }
            }
        }
        let rotation = match f.get("rotation") {
            Some(r) => self.rotation(r, &f.path("rotation")),
            None => {
                self.error_at(
                    f.node,
                    &f.path,
                    "missing required key \"rotation\" (with every and start)",
                );
                None
            }
        };
        let mut restrict = Vec::new();
        if let Some(list) = f.get("restrict") {
            match &list.value {
                Value::Seq(items) => {
                    for (i, item) in items.iter().enumerate() {
                        match self.restriction(item, &format!("{}[{i}]", f.path("restrict"))) {
                            Some(r) => restrict.push(r),
                            None => ok = false,
                        }
                    }
                }
                _ => {
                    self.wrong_type(
                        list,
                        &f.path("restrict"),
                        "a list like [{days: [mon, tue, wed, thu, fri], from: \"09:00\", to: \"17:00\"}]",
                    );
                    ok = false;
                }
            }
        }
        let (name, _) = name?;
        let rotation = rotation?;
        if !ok {
            return None;
        }
        Some(Layer {
            name,
            members,
            rotation,
            restrict,
        })
    }

    fn rotation(&mut self, node: &Node, path: &str) -> Option<Rotation> {
        let f = self.fields(
            node,
            path,
            ROTATION_KEYS,
            "a rotation mapping with every and start",
        )?;
        let every = self.required_text(&f, "every").and_then(|(text, n)| {
            let every = Every::parse(&text);
            if every.is_none() {
                self.error_at(
                    &n,
                    &f.path("every"),
                    format!("invalid rotation length \"{text}\"; {EVERY_HINT}"),
                );
            }
            every
        });
        let start =
            self.required_text(&f, "start")
                .and_then(|(text, n)| match parse_local_start(&text) {
                    Some(dt) if (2000..=2199).contains(&dt.year()) => Some(dt),
                    Some(_) => {
                        self.error_at(
                            &n,
                            &f.path("start"),
                            "the first handoff must be between the years 2000 and 2199",
                        );
                        None
                    }
                    None => {
                        self.error_at(
                            &n,
                            &f.path("start"),
                            format!("invalid start \"{text}\"; {START_HINT}"),
                        );
                        None
                    }
                });
        Some(Rotation {
            every: every?,
            start: start?,
        })
    }

    fn restriction(&mut self, node: &Node, path: &str) -> Option<Restriction> {
        let f = self.fields(
            node,
            path,
            RESTRICT_KEYS,
            "a restriction mapping with days, from and to",
        )?;
        let mut ok = true;
        let mut days = BTreeSet::new();
        match self.text_list(&f, "days", DAYS_HINT) {
            None if f.get("days").is_none() => {
                self.error_at(
                    f.node,
                    &f.path,
                    format!("missing required key \"days\", like {DAYS_HINT}"),
                );
                ok = false;
            }
            None => ok = false,
            Some(list) if list.is_empty() => {
                self.error_at(
                    f.get("days").unwrap_or(f.node),
                    &f.path("days"),
                    format!("expected at least one day, like {DAYS_HINT}"),
                );
                ok = false;
            }
            Some(list) => {
                for (text, day_node, day_path) in list {
                    match WeekdayKey::parse(&text) {
                        Some(d) => {
                            days.insert(d);
                        }
                        None => {
                            self.error_at(
                                &day_node,
                                &day_path,
                                format!("unknown day \"{text}\"; expected mon, tue, wed, thu, fri, sat or sun"),
                            );
                            ok = false;
                        }
                    }
                }
            }
        }
        let mut time = |key: &str| {
            let (text, n) = self.required_text(&f, key)?;
            let t = parse_time_of_day(&text);
            if t.is_none() {
                self.error_at(
                    &n,
                    &f.path(key),
                    format!("invalid time \"{text}\"; {TIME_HINT}"),
                );
            }
            t
        };
        let from = time("from");
        let to = time("to");
        if !ok {
            return None;
        }
        Some(Restriction {
            days,
            from: from?,
            to: to?,
        })
    }
}
