use super::*;

fn name(s: &str) -> Name {
    Name::parse(s).unwrap()
}

fn t(secs: i64) -> Timestamp {
    Timestamp::from_second(1_800_000_000 + secs).unwrap()
}

fn step(delay: i64, targets: &[&str]) -> Step {
    Step {
        delay: SignedDuration::from_secs(delay),
        targets: targets
            .iter()
            .map(|t| match t.strip_prefix("schedule:") {
                Some(s) => Target::Schedule(name(s)),
                None => Target::User(name(t)),
            })
            .collect(),
    }
}

fn policy(repeat: u32, steps: Vec<Step>) -> Policy {
    Policy::new(name("ops"), repeat, steps).unwrap()
}

fn pos(round: u32, step: u32) -> Position {
    Position { round, step }
}

#[test]
fn steps_fire_in_order_then_the_policy_is_exhausted() {
    let p = policy(0, vec![step(300, &["alice"]), step(600, &["bob"])]);
    let mut e = Escalation::start("esc_1".into(), p, Some(7), None, false, t(0));
    assert_eq!(e.next, Some(pos(0, 0)));
    assert_eq!(e.next_at, Some(t(0)));
    match e.fire(pos(0, 0), t(0)) {
        Fired::Page {
            targets,
            next,
            next_at,
            ..
        } => {
            assert_eq!(targets, vec![Target::User(name("alice"))]);
            assert_eq!(next, pos(0, 1));
            assert_eq!(next_at, t(300));
        }
        other => panic!("{other:?}"),
    }
    // The same timer again does nothing.
    assert_eq!(e.fire(pos(0, 0), t(1)), Fired::Nothing);
    match e.fire(pos(0, 1), t(300)) {
        Fired::Page { next, next_at, .. } => {
            assert_eq!(next, pos(0, 2));
            assert_eq!(next_at, t(900));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(e.step(), 1);
    assert_eq!(e.fire(pos(0, 2), t(900)), Fired::Exhausted);
    assert_eq!(e.status, EscalationStatus::Exhausted);
    assert_eq!(e.ended_at, Some(t(900)));
    assert_eq!(e.next, None);
    // Exhausted is the end: nothing fires.
    assert_eq!(e.fire(pos(0, 2), t(901)), Fired::Nothing);
}

#[test]
fn repeat_runs_the_steps_again_before_exhaustion() {
    let p = policy(2, vec![step(60, &["alice"]), step(60, &["bob"])]);
    let mut e = Escalation::start("esc_1".into(), p, None, None, false, t(0));
    let mut at = 0;
    let mut paged = Vec::new();
    loop {
        let next = e.next.unwrap();
        match e.fire(next, t(at)) {
            Fired::Page {
                position, next_at, ..
            } => {
                paged.push((position.round, position.step));
                at = next_at.as_second() - 1_800_000_000;
            }
            Fired::Exhausted => break,
            Fired::Nothing => panic!("a due timer did nothing"),
        }
    }
    assert_eq!(paged, vec![(0, 0), (0, 1), (1, 0), (1, 1), (2, 0), (2, 1)]);
    assert_eq!(at, 360);
    assert_eq!(e.round(), 2);
}

#[test]
fn an_acknowledgement_stops_the_timer() {
    let p = policy(1, vec![step(300, &["alice"]), step(300, &["bob"])]);
    let mut e = Escalation::start("esc_1".into(), p, None, None, false, t(0));
    e.fire(pos(0, 0), t(0));
    assert!(e.acknowledge("alice", t(10)));
    assert_eq!(e.status, EscalationStatus::Acknowledged);
    assert_eq!(e.acknowledged_by.as_deref(), Some("alice"));
    assert_eq!(e.fire(pos(0, 1), t(300)), Fired::Nothing);
    // A second acknowledgement keeps the first.
    assert!(!e.acknowledge("bob", t(20)));
    assert_eq!(e.acknowledged_at, Some(t(10)));
    // Resolving an acknowledged escalation ends it.
    assert!(e.resolve(t(30)));
    assert_eq!(e.status, EscalationStatus::Resolved);
    assert!(!e.resolve(t(40)));
}

#[test]
fn a_resolve_stops_an_active_escalation() {
    let p = policy(0, vec![step(300, &["alice"]), step(300, &["bob"])]);
    let mut e = Escalation::start("esc_1".into(), p, None, None, false, t(0));
    e.fire(pos(0, 0), t(0));
    assert!(e.resolve(t(100)));
    assert_eq!(e.fire(pos(0, 1), t(300)), Fired::Nothing);
    assert!(!e.acknowledge("bob", t(400)));
}

#[test]
fn an_exhausted_escalation_can_still_be_acknowledged() {
    let p = policy(0, vec![step(1, &["alice"])]);
    let mut e = Escalation::start("esc_1".into(), p, None, None, false, t(0));
    e.fire(pos(0, 0), t(0));
    assert_eq!(e.fire(pos(0, 1), t(1)), Fired::Exhausted);
    assert!(e.acknowledge("alice", t(5)));
    assert_eq!(e.status, EscalationStatus::Acknowledged);
}

#[test]
fn a_resolve_leaves_an_exhausted_escalation_exhausted() {
    let p = policy(0, vec![step(1, &["alice"])]);
    let mut e = Escalation::start("esc_1".into(), p, None, None, false, t(0));
    e.fire(pos(0, 0), t(0));
    assert_eq!(e.fire(pos(0, 1), t(1)), Fired::Exhausted);
    assert!(!e.resolve(t(50)));
    assert_eq!(e.status, EscalationStatus::Exhausted);
    assert_eq!(e.ended_at, Some(t(1)));
}

#[test]
fn policies_are_checked() {
    let err = |repeat, steps| Policy::new(name("p"), repeat, steps).unwrap_err().field;
    assert_eq!(err(0, vec![]), "steps");
    assert_eq!(err(0, vec![step(0, &["alice"])]), "steps[0].delay");
    assert_eq!(err(0, vec![step(86_401, &["alice"])]), "steps[0].delay");
    assert_eq!(err(0, vec![step(5, &[])]), "steps[0].targets");
    assert_eq!(
        err(0, vec![step(5, &["alice"]), step(5, &["bob", "bob"])]),
        "steps[1].targets[1]"
    );
    assert_eq!(err(21, vec![step(5, &["alice"])]), "repeat");
    let ok = policy(
        0,
        vec![
            step(5, &["alice", "schedule:primary"]),
            step(5, &["schedule:primary", "schedule:db"]),
        ],
    );
    assert_eq!(ok.schedules(), vec![&name("primary"), &name("db")]);
    assert_eq!(ok.users(), vec![&name("alice")]);
}
