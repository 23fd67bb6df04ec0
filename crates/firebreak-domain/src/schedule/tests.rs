use super::*;
use proptest::prelude::*;

fn name(s: &str) -> Name {
    Name::parse(s).unwrap()
}

fn ts(s: &str) -> Timestamp {
    s.parse().unwrap()
}

fn layer(name: &str, members: &[&str], every: &str, start: &str) -> Layer {
    Layer {
        name: name.to_string(),
        members: members.iter().map(|m| self::name(m)).collect(),
        rotation: Rotation {
            every: Every::parse(every).unwrap(),
            start: parse_local_start(start).unwrap(),
        },
        restrict: vec![],
    }
}

fn restrict(days: &[&str], from: &str, to: &str) -> Restriction {
    Restriction {
        days: days.iter().map(|d| WeekdayKey::parse(d).unwrap()).collect(),
        from: parse_time_of_day(from).unwrap(),
        to: parse_time_of_day(to).unwrap(),
    }
}

fn schedule(tz: &str, layers: Vec<Layer>) -> Schedule {
    Schedule::new(name("primary"), tz, layers).unwrap()
}

fn who(s: &Schedule, at: &str, overrides: &[Override]) -> Option<String> {
    s.on_call(ts(at), overrides).map(|x| x.user.to_string())
}

fn who_layer(s: &Schedule, at: &str) -> Option<(String, String)> {
    s.on_call(ts(at), &[])
        .map(|x| (x.user.to_string(), x.layer))
}

fn spans(shifts: &[Shift]) -> Vec<(String, String, String)> {
    shifts
        .iter()
        .map(|s| (s.user.to_string(), s.start.to_string(), s.end.to_string()))
        .collect()
}

#[test]
fn a_weekly_rotation_keeps_its_local_handoff_across_the_spring_change() {
    // Berlin moves to summer time on 2026-03-29; the handoff stays at 09:00 local.
    let s = schedule(
        "Europe/Berlin",
        vec![layer("week", &["alice", "bob"], "1w", "2026-03-23T09:00")],
    );
    assert_eq!(
        who(&s, "2026-03-23T07:59:59Z", &[]),
        None,
        "before the first handoff"
    );
    assert_eq!(
        who(&s, "2026-03-23T08:00:00Z", &[]).as_deref(),
        Some("alice")
    );
    assert_eq!(
        who(&s, "2026-03-30T06:59:59Z", &[]).as_deref(),
        Some("alice")
    );
    assert_eq!(who(&s, "2026-03-30T07:00:00Z", &[]).as_deref(), Some("bob"));
    assert_eq!(
        who(&s, "2026-04-06T07:00:00Z", &[]).as_deref(),
        Some("alice")
    );
    let shifts = s
        .shifts(ts("2026-03-25T00:00Z"), ts("2026-04-02T00:00Z"), &[], 100)
        .unwrap();
    assert_eq!(
        spans(&shifts),
        vec![
            (
                "alice".into(),
                "2026-03-25T00:00:00Z".into(),
                "2026-03-30T07:00:00Z".into()
            ),
            (
                "bob".into(),
                "2026-03-30T07:00:00Z".into(),
                "2026-04-02T00:00:00Z".into()
            ),
        ]
    );
    assert!(shifts.iter().all(|s| s.layer == "week"));
}

#[test]
fn a_daily_handoff_in_the_spring_gap_moves_forward_by_the_gap() {
    // 02:30 does not exist in Berlin on 2026-03-29: that handoff is at 03:30 CEST (01:30Z).
    let s = schedule(
        "Europe/Berlin",
        vec![layer("day", &["alice", "bob"], "1d", "2026-03-28T02:30")],
    );
    assert_eq!(
        who(&s, "2026-03-29T01:29:59Z", &[]).as_deref(),
        Some("alice")
    );
    assert_eq!(who(&s, "2026-03-29T01:30:00Z", &[]).as_deref(), Some("bob"));
    // The next day is back at 02:30 local, now CEST (00:30Z): a 23-hour shift.
    assert_eq!(who(&s, "2026-03-30T00:29:59Z", &[]).as_deref(), Some("bob"));
    assert_eq!(
        who(&s, "2026-03-30T00:30:00Z", &[]).as_deref(),
        Some("alice")
    );
}

#[test]
fn a_daily_handoff_in_the_autumn_repeat_takes_the_first_one() {
    // 02:30 happens twice in Berlin on 2026-10-25: the first is 00:30Z (CEST).
    let s = schedule(
        "Europe/Berlin",
        vec![layer("day", &["alice", "bob"], "1d", "2026-10-24T02:30")],
    );
    assert_eq!(
        who(&s, "2026-10-25T00:29:59Z", &[]).as_deref(),
        Some("alice")
    );
    assert_eq!(who(&s, "2026-10-25T00:30:00Z", &[]).as_deref(), Some("bob"));
    // That shift lasts 25 hours, to 02:30 CET on the 26th (01:30Z).
    assert_eq!(who(&s, "2026-10-26T01:29:59Z", &[]).as_deref(), Some("bob"));
    assert_eq!(
        who(&s, "2026-10-26T01:30:00Z", &[]).as_deref(),
        Some("alice")
    );
}

#[test]
fn new_york_keeps_its_morning_handoff_across_both_changes() {
    let s = schedule(
        "America/New_York",
        vec![layer(
            "day",
            &["alice", "bob", "carol"],
            "1d",
            "2026-03-07T09:00",
        )],
    );
    // 09:00 EST is 14:00Z; after 2026-03-08 09:00 EDT is 13:00Z.
    assert_eq!(
        who(&s, "2026-03-07T14:00:00Z", &[]).as_deref(),
        Some("alice")
    );
    assert_eq!(who(&s, "2026-03-08T13:00:00Z", &[]).as_deref(), Some("bob"));
    assert_eq!(
        who(&s, "2026-03-08T12:59:59Z", &[]).as_deref(),
        Some("alice")
    );
    // 01:30 repeats on 2026-11-01; a handoff there means the first (EDT, 05:30Z).
    let s = schedule(
        "America/New_York",
        vec![layer("night", &["alice", "bob"], "1d", "2026-10-31T01:30")],
    );
    assert_eq!(
        who(&s, "2026-11-01T05:29:59Z", &[]).as_deref(),
        Some("alice")
    );
    assert_eq!(who(&s, "2026-11-01T05:30:00Z", &[]).as_deref(), Some("bob"));
    // The gap: 02:30 on 2026-03-08 does not exist, so it is 03:30 EDT (07:30Z).
    let s = schedule(
        "America/New_York",
        vec![layer("night", &["alice", "bob"], "1d", "2026-03-07T02:30")],
    );
    assert_eq!(
        who(&s, "2026-03-08T07:29:59Z", &[]).as_deref(),
        Some("alice")
    );
    assert_eq!(who(&s, "2026-03-08T07:30:00Z", &[]).as_deref(), Some("bob"));
}

#[test]
fn hour_based_rotations_are_exact_spans_even_across_dst() {
    let s = schedule(
        "Europe/Berlin",
        vec![layer(
            "shift",
            &["alice", "bob", "carol"],
            "8h",
            "2026-03-28T20:00",
        )],
    );
    let shifts = s
        .shifts(ts("2026-03-28T19:00Z"), ts("2026-03-30T19:00Z"), &[], 100)
        .unwrap();
    assert_eq!(shifts.len(), 6);
    for shift in &shifts {
        assert_eq!(
            shift.end.duration_since(shift.start),
            SignedDuration::from_hours(8)
        );
    }
    let users: Vec<_> = shifts.iter().map(|s| s.user.to_string()).collect();
    assert_eq!(users, ["alice", "bob", "carol", "alice", "bob", "carol"]);
}

#[test]
fn a_restricted_layer_has_nobody_outside_its_hours_and_the_layer_below_shows() {
    let mut business = layer("business", &["dave"], "1w", "2026-01-05T00:00");
    business.restrict = vec![restrict(
        &["mon", "tue", "wed", "thu", "fri"],
        "09:00",
        "17:00",
    )];
    let base = layer("base", &["alice", "bob"], "1d", "2026-01-05T00:00");
    let s = schedule("UTC", vec![base, business.clone()]);
    // Monday 2026-01-05.
    assert_eq!(
        who_layer(&s, "2026-01-05T10:00:00Z"),
        Some(("dave".into(), "business".into()))
    );
    assert_eq!(
        who_layer(&s, "2026-01-05T17:00:00Z"),
        Some(("alice".into(), "base".into()))
    );
    // Saturday: only the base layer.
    assert_eq!(
        who_layer(&s, "2026-01-10T10:00:00Z"),
        Some(("bob".into(), "base".into()))
    );
    // The restricted layer alone leaves gaps.
    let alone = schedule("UTC", vec![business]);
    assert_eq!(who(&alone, "2026-01-10T10:00:00Z", &[]), None);
    assert_eq!(who(&alone, "2026-01-05T08:59:59Z", &[]), None);
    let shifts = alone
        .shifts(ts("2026-01-05T00:00Z"), ts("2026-01-12T00:00Z"), &[], 100)
        .unwrap();
    assert_eq!(shifts.len(), 5, "one shift per weekday: {shifts:?}");
}

#[test]
fn an_overnight_window_runs_past_midnight() {
    let mut nights = layer("nights", &["alice"], "1w", "2026-01-05T00:00");
    nights.restrict = vec![restrict(&["fri"], "22:00", "06:00")];
    let s = schedule("UTC", vec![nights]);
    // Friday 2026-01-09 22:00 to Saturday 06:00.
    assert_eq!(who(&s, "2026-01-09T21:59:59Z", &[]), None);
    assert_eq!(
        who(&s, "2026-01-09T22:00:00Z", &[]).as_deref(),
        Some("alice")
    );
    assert_eq!(
        who(&s, "2026-01-10T05:59:59Z", &[]).as_deref(),
        Some("alice")
    );
    assert_eq!(who(&s, "2026-01-10T06:00:00Z", &[]), None);
    // 00:00 to 00:00 is the whole day.
    let mut weekend = layer("weekend", &["bob"], "1w", "2026-01-05T00:00");
    weekend.restrict = vec![restrict(&["sat", "sun"], "00:00", "00:00")];
    let s = schedule("UTC", vec![weekend]);
    let shifts = s
        .shifts(ts("2026-01-05T00:00Z"), ts("2026-01-12T00:00Z"), &[], 100)
        .unwrap();
    assert_eq!(
        spans(&shifts),
        vec![(
            "bob".into(),
            "2026-01-10T00:00:00Z".into(),
            "2026-01-12T00:00:00Z".into()
        )]
    );
}

#[test]
fn overrides_win_over_every_layer_and_the_later_one_wins() {
    let s = schedule(
        "UTC",
        vec![layer("week", &["alice", "bob"], "1w", "2026-01-05T09:00")],
    );
    let carol = Override {
        id: "ovr_1".into(),
        user: name("carol"),
        start: ts("2026-01-06T00:00Z"),
        end: ts("2026-01-07T00:00Z"),
    };
    assert_eq!(who(&s, "2026-01-06T12:00Z", &[]).as_deref(), Some("alice"));
    assert_eq!(
        who(&s, "2026-01-06T12:00Z", std::slice::from_ref(&carol)).as_deref(),
        Some("carol")
    );
    // Removed: the layer shows again.
    assert_eq!(who(&s, "2026-01-06T12:00Z", &[]).as_deref(), Some("alice"));
    // Replaced by a later one for the afternoon.
    let dave = Override {
        id: "ovr_2".into(),
        user: name("dave"),
        start: ts("2026-01-06T12:00Z"),
        end: ts("2026-01-06T18:00Z"),
    };
    let both = [carol.clone(), dave];
    let shifts = s
        .shifts(ts("2026-01-06T00:00Z"), ts("2026-01-07T06:00Z"), &both, 100)
        .unwrap();
    let got: Vec<_> = shifts
        .iter()
        .map(|s| (s.user.to_string(), s.layer.clone(), s.start.to_string()))
        .collect();
    assert_eq!(
        got,
        vec![
            (
                "carol".into(),
                "override".into(),
                "2026-01-06T00:00:00Z".into()
            ),
            (
                "dave".into(),
                "override".into(),
                "2026-01-06T12:00:00Z".into()
            ),
            (
                "carol".into(),
                "override".into(),
                "2026-01-06T18:00:00Z".into()
            ),
            ("alice".into(), "week".into(), "2026-01-07T00:00:00Z".into()),
        ]
    );
    // An override covers a gap where no layer has anyone.
    assert_eq!(
        who(
            &s,
            "2026-01-01T00:00Z",
            &[Override {
                id: "ovr_3".into(),
                user: name("erin"),
                start: ts("2025-12-31T00:00Z"),
                end: ts("2026-01-02T00:00Z"),
            }]
        )
        .as_deref(),
        Some("erin")
    );
}

#[test]
fn a_range_with_too_many_handoffs_is_refused_with_a_way_out() {
    let s = schedule(
        "UTC",
        vec![layer("fast", &["a", "b"], "3s", "2026-01-01T00:00")],
    );
    let err = s
        .shifts(ts("2026-01-01T00:00Z"), ts("2026-02-01T00:00Z"), &[], 1_000)
        .unwrap_err();
    assert!(err.message.contains("shorter"), "{err}");
    // A short range is fine, and seconds are a valid rotation.
    let shifts = s
        .shifts(
            ts("2026-01-01T00:00Z"),
            ts("2026-01-01T00:00:09Z"),
            &[],
            1_000,
        )
        .unwrap();
    assert_eq!(shifts.len(), 3);
}

#[test]
fn bad_schedules_name_the_field() {
    let err = Schedule::new(
        name("p"),
        "Mars/Olympus",
        vec![layer("a", &["x"], "1d", "2026-01-01")],
    )
    .unwrap_err();
    assert_eq!(err.field, "time_zone");
    assert!(err.message.contains("IANA"));
    let mut empty = layer("a", &["x"], "1d", "2026-01-01");
    empty.members.clear();
    let err = Schedule::new(name("p"), "UTC", vec![empty]).unwrap_err();
    assert_eq!(err.field, "layers[0].members");
    let err = Schedule::new(
        name("p"),
        "UTC",
        vec![
            layer("a", &["x"], "1d", "2026-01-01"),
            layer("a", &["y"], "1d", "2026-01-01"),
        ],
    )
    .unwrap_err();
    assert_eq!(err.field, "layers[1].name");
    let err = Schedule::new(
        name("p"),
        "UTC",
        vec![layer("a", &["x"], "1d", "1990-01-01")],
    )
    .unwrap_err();
    assert_eq!(err.field, "layers[0].rotation.start");
    assert_eq!(
        Schedule::new(name("p"), "UTC", vec![]).unwrap_err().field,
        "layers"
    );
}

#[test]
fn rotation_lengths_read_and_write_back() {
    for (text, every) in [
        ("8h", Every::Exact(SignedDuration::from_hours(8))),
        ("12h", Every::Exact(SignedDuration::from_hours(12))),
        ("90m", Every::Exact(SignedDuration::from_mins(90))),
        ("3s", Every::Exact(SignedDuration::from_secs(3))),
        ("1d", Every::Days(1)),
        ("1w", Every::Days(7)),
        ("2w", Every::Days(14)),
    ] {
        assert_eq!(Every::parse(text), Some(every), "{text}");
        assert_eq!(Every::parse(&every.to_string()), Some(every), "{text}");
    }
    for bad in ["", "0d", "h", "1y", "1.5h", "-1h", "1h30m", "99999d"] {
        assert_eq!(Every::parse(bad), None, "{bad}");
    }
    assert_eq!(parse_local_start("2026-03-23T09:00").unwrap().hour(), 9);
    assert!(parse_local_start("2026-03-23T09:00Z").is_none());
    assert!(parse_local_start("2026-03-23T09:00+01:00").is_none());
    assert_eq!(parse_time_of_day("24:00"), Some(Time::midnight()));
    assert!(parse_time_of_day("9:00").is_none());
    assert_eq!(WeekdayKey::parse("Friday").map(|d| d.short()), Some("fri"));
}

// Property: the final shifts are sorted and never overlap; at each instant the shift that
// covers it names exactly who the layers and overrides put there, judged at that instant
// alone; and where no shift covers an instant, every layer is empty or restricted there.

const ZONES: [&str; 5] = [
    "UTC",
    "Europe/Berlin",
    "America/New_York",
    "Asia/Kolkata",
    "Australia/Lord_Howe",
];
const EVERY: [&str; 7] = ["1h", "90m", "8h", "12h", "1d", "2d", "1w"];
const PEOPLE: [&str; 4] = ["alice", "bob", "carol", "dave"];
/// 2026-01-01T00:00:00Z.
const YEAR_START: i64 = 1_767_225_600;

fn arb_restriction() -> impl Strategy<Value = Restriction> {
    (
        proptest::collection::btree_set(1i8..=7, 1..4),
        0u32..48,
        0u32..48,
    )
        .prop_map(|(days, from, to)| Restriction {
            days: days.into_iter().map(WeekdayKey).collect(),
            from: Time::new((from / 2) as i8, ((from % 2) * 30) as i8, 0, 0).unwrap(),
            to: Time::new((to / 2) as i8, ((to % 2) * 30) as i8, 0, 0).unwrap(),
        })
}

fn arb_layer(i: usize) -> impl Strategy<Value = Layer> {
    (
        proptest::collection::vec(0usize..4, 1..4),
        0usize..EVERY.len(),
        0i64..(300 * 24 * 2),
        proptest::collection::vec(arb_restriction(), 0..3),
    )
        .prop_map(move |(members, every, start, restrict)| {
            let start = jiff::civil::date(2026, 1, 1)
                .to_datetime(Time::midnight())
                .checked_add((start * 30).minutes())
                .unwrap();
            Layer {
                name: format!("layer{i}"),
                members: members.into_iter().map(|m| name(PEOPLE[m])).collect(),
                rotation: Rotation {
                    every: Every::parse(EVERY[every]).unwrap(),
                    start,
                },
                restrict,
            }
        })
}

fn arb_override() -> impl Strategy<Value = Override> {
    (0usize..4, 0i64..(330 * 86_400), 60i64..(3 * 86_400)).prop_map(|(who, start, len)| {
        let start = Timestamp::from_second(YEAR_START + start).unwrap();
        Override {
            id: format!("ovr_{start}"),
            user: name(PEOPLE[who]),
            start,
            end: start.checked_add(SignedDuration::from_secs(len)).unwrap(),
        }
    })
}

fn arb_case() -> impl Strategy<Value = (Schedule, Vec<Override>, Timestamp, Timestamp)> {
    (
        0usize..ZONES.len(),
        (arb_layer(0), arb_layer(1), arb_layer(2), 1usize..=3),
        proptest::collection::vec(arb_override(), 0..3),
        0i64..(330 * 86_400),
        3_600i64..(20 * 86_400),
    )
        .prop_map(|(zone, (l0, l1, l2, n), overrides, from, len)| {
            let layers = [l0, l1, l2].into_iter().take(n).collect();
            let s = Schedule::new(name("prop"), ZONES[zone], layers).unwrap();
            let from = Timestamp::from_second(YEAR_START + from).unwrap();
            let to = from.checked_add(SignedDuration::from_secs(len)).unwrap();
            (s, overrides, from, to)
        })
}

/// Who the layers and overrides put on call at `t`, judged at `t` alone.
fn expected(s: &Schedule, overrides: &[Override], t: Timestamp) -> Option<(String, String)> {
    if let Some(o) = overrides.iter().rev().find(|o| o.start <= t && t < o.end) {
        return Some((o.user.to_string(), OVERRIDE_LAYER.to_string()));
    }
    s.layers.iter().rev().find_map(|l| {
        l.member_at(&s.time_zone, t)
            .map(|m| (m.to_string(), l.name.clone()))
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn final_shifts_agree_with_the_layers_at_every_instant(
        (s, overrides, from, to) in arb_case(),
        probes in proptest::collection::vec(0.0f64..1.0, 24),
    ) {
        let shifts = s.shifts(from, to, &overrides, 100_000).unwrap();
        for pair in shifts.windows(2) {
            prop_assert!(pair[0].end <= pair[1].start, "overlap: {:?}", pair);
        }
        for shift in &shifts {
            prop_assert!(shift.start < shift.end);
            prop_assert!(from <= shift.start && shift.end <= to);
        }
        let span = to.duration_since(from).as_secs();
        let mut instants: Vec<Timestamp> = probes
            .iter()
            .map(|p| from.checked_add(SignedDuration::from_secs((span as f64 * p) as i64)).unwrap())
            .collect();
        // The edges of every shift, where mistakes live.
        for shift in &shifts {
            instants.push(shift.start);
            if let Ok(t) = shift.end.checked_sub(SignedDuration::from_secs(1)) {
                instants.push(t);
            }
        }
        for t in instants {
            if t < from || t >= to {
                continue;
            }
            let covering: Vec<&Shift> = shifts.iter().filter(|x| x.start <= t && t < x.end).collect();
            prop_assert!(covering.len() <= 1, "two people on call at {t}");
            let got = covering.first().map(|x| (x.user.to_string(), x.layer.clone()));
            prop_assert_eq!(got, expected(&s, &overrides, t), "at {}", t);
        }
    }
}
