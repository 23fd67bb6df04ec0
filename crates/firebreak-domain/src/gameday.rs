//! Game days: a rehearsed incident, injected in drill mode, scored against the team's own
//! targets.
//!
//! A game day names a service, a severity (whose `respond_within` is the response time
//! target) and the targets the team means to meet. The engine gathers [`Facts`] from what the
//! team did (the game day's alerts, the drill incidents they declared or joined, and drill
//! incidents declared by hand on its service during the run) and [`score`] turns them into
//! a [`ScoreCard`]: each target pending, passed, failed or not met, with its measured time.
//!
//! Every target is measured from the start of the incident: the first injected alert, or the
//! start of the game day when it injected none yet. People answer in real time, so the
//! targets are never compressed.

use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};

use crate::heartbeat::span_text;

/// The longest target a game day accepts: a day.
pub const TARGET_MAX: SignedDuration = SignedDuration::from_hours(24);
/// The longest game day name, in characters.
pub const NAME_MAX: usize = 200;

/// What a game day expects of the team. `None` (or `false`) leaves a target out.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Targets {
    /// The severity's `respond_within`, from the first injected alert to the first
    /// acknowledgement.
    #[serde(default)]
    pub response_time: bool,
    #[serde(default, with = "span_opt")]
    pub acknowledged_within: Option<SignedDuration>,
    #[serde(default, with = "span_opt")]
    pub declared_within: Option<SignedDuration>,
    #[serde(default, with = "span_opt")]
    pub ic_assigned_within: Option<SignedDuration>,
    #[serde(default, with = "span_opt")]
    pub first_status_update_within: Option<SignedDuration>,
    #[serde(default, with = "span_opt")]
    pub mitigated_within: Option<SignedDuration>,
    /// A postmortem drafted before the game day finishes.
    #[serde(default)]
    pub postmortem_drafted: bool,
}

/// Spans are kept as people write them (`5m`), in the stored form and in the API.
mod span_opt {
    use jiff::SignedDuration;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &Option<SignedDuration>, s: S) -> Result<S::Ok, S::Error> {
        match v {
            Some(d) => s.serialize_str(&crate::heartbeat::span_text(*d)),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<SignedDuration>, D::Error> {
        let text: Option<String> = Option::deserialize(d)?;
        text.map(|t| {
            crate::heartbeat::parse_span("target", &t)
                .map_err(|e| serde::de::Error::custom(e.message))
        })
        .transpose()
    }
}

/// Which target a result is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TargetKind {
    ResponseTime,
    AcknowledgedWithin,
    DeclaredWithin,
    IcAssignedWithin,
    FirstStatusUpdateWithin,
    MitigatedWithin,
    PostmortemDrafted,
}

impl TargetKind {
    pub fn as_str(self) -> &'static str {
        match self {
            TargetKind::ResponseTime => "response_time",
            TargetKind::AcknowledgedWithin => "acknowledged_within",
            TargetKind::DeclaredWithin => "declared_within",
            TargetKind::IcAssignedWithin => "ic_assigned_within",
            TargetKind::FirstStatusUpdateWithin => "first_status_update_within",
            TargetKind::MitigatedWithin => "mitigated_within",
            TargetKind::PostmortemDrafted => "postmortem_drafted",
        }
    }

    /// What people read on the score card.
    pub fn label(self) -> &'static str {
        match self {
            TargetKind::ResponseTime => "Response time (severity target)",
            TargetKind::AcknowledgedWithin => "Acknowledged",
            TargetKind::DeclaredWithin => "Incident declared",
            TargetKind::IcAssignedWithin => "Incident Commander assigned",
            TargetKind::FirstStatusUpdateWithin => "First status update",
            TargetKind::MitigatedWithin => "Mitigated",
            TargetKind::PostmortemDrafted => "Postmortem drafted",
        }
    }
}

/// Where a target stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Not done yet, and there is still time.
    Pending,
    Passed,
    /// Done too late, or its time ran out while the game day went on.
    Failed,
    /// Still pending when the game day finished.
    #[serde(rename = "not met")]
    NotMet,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Pending => "pending",
            Outcome::Passed => "passed",
            Outcome::Failed => "failed",
            Outcome::NotMet => "not met",
        }
    }

    /// Passed or failed: nothing the team does now changes it.
    pub fn settled(self) -> bool {
        matches!(self, Outcome::Passed | Outcome::Failed)
    }
}

/// One target on the score card.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TargetResult {
    pub target: TargetKind,
    /// The limit, as written (`5m`); none for "postmortem drafted".
    pub limit: Option<String>,
    /// How long it took from the start of the incident, when it happened.
    pub measured: Option<String>,
    pub outcome: Outcome,
}

/// What the team did, for the score card.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Activity {
    /// The drill incidents of the game day, as `INC-12`.
    pub incidents: Vec<String>,
    /// `Incident Commander: alice`, in the order they were filled.
    pub roles: Vec<String>,
    /// Checklist items ticked.
    pub checklist: Vec<String>,
    /// Runbook actions run (`restart-checkout: succeeded`) and commands run by hand.
    pub runbook_actions: Vec<String>,
    /// Status updates posted, each as `public: investigating` or `internal: ...`.
    pub status_updates: Vec<String>,
    /// Who was paged (distinct, in order).
    pub paged: Vec<String>,
    /// Who acknowledged (distinct, in order).
    pub acknowledged: Vec<String>,
}

/// When things happened during a game day, as the engine read them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Facts {
    pub started_at: Timestamp,
    /// When the first injected alert arrived.
    pub first_alert: Option<Timestamp>,
    pub first_ack: Option<Timestamp>,
    pub declared: Option<Timestamp>,
    pub ic_assigned: Option<Timestamp>,
    pub first_status_update: Option<Timestamp>,
    pub mitigated: Option<Timestamp>,
    pub postmortem_drafted: Option<Timestamp>,
    pub activity: Activity,
}

/// A game day's score, live or final.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScoreCard {
    pub name: String,
    pub service: String,
    pub severity: String,
    pub started_at: Timestamp,
    /// Set once the game day finished.
    pub finished_at: Option<Timestamp>,
    pub targets: Vec<TargetResult>,
    pub activity: Activity,
}

impl ScoreCard {
    pub fn passed(&self) -> usize {
        self.targets
            .iter()
            .filter(|t| t.outcome == Outcome::Passed)
            .count()
    }

    pub fn total(&self) -> usize {
        self.targets.len()
    }

    /// Every target passed or failed: the run has nothing left to wait for.
    pub fn settled(&self) -> bool {
        self.targets.iter().all(|t| t.outcome.settled())
    }

    /// Every target passed.
    pub fn all_passed(&self) -> bool {
        self.targets.iter().all(|t| t.outcome == Outcome::Passed)
    }

    /// The score card in Markdown, as attached to the drill incident. User text (the name,
    /// roles, checklist items) is kept on one line and its table pipes escaped.
    pub fn markdown(&self) -> String {
        let cell = |s: &str| s.replace(['\n', '\r'], " ").replace('|', "\\|");
        let mut out = format!(
            "## Game day score card: {}\n\nService `{}`, severity {}, started {}{}.\n\n\
             **{} of {} targets passed.**\n\n| Target | Limit | Measured | Result |\n|---|---|---|---|\n",
            cell(&self.name),
            self.service,
            cell(&self.severity),
            self.started_at,
            self.finished_at
                .map(|f| format!(", finished {f}"))
                .unwrap_or_default(),
            self.passed(),
            self.total(),
        );
        for t in &self.targets {
            out.push_str(&format!(
                "| {} | {} | {} | {} |\n",
                t.target.label(),
                t.limit.as_deref().unwrap_or("during the run"),
                t.measured.as_deref().unwrap_or("—"),
                t.outcome.as_str(),
            ));
        }
        let a = &self.activity;
        out.push_str("\n### What the team did\n\n");
        for (title, items) in [
            ("Incidents", &a.incidents),
            ("Paged", &a.paged),
            ("Acknowledged by", &a.acknowledged),
            ("Roles filled", &a.roles),
            ("Checklist items ticked", &a.checklist),
            ("Runbook actions used", &a.runbook_actions),
            ("Status updates", &a.status_updates),
        ] {
            let list = if items.is_empty() {
                "none".to_string()
            } else {
                items.iter().map(|i| cell(i)).collect::<Vec<_>>().join("; ")
            };
            out.push_str(&format!("- **{title}:** {list}\n"));
        }
        out
    }
}

/// What a game day is, as started.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GameDaySpec {
    pub name: String,
    pub service: String,
    pub severity: String,
    /// The severity's `respond_within`, when it is a time (not "next business day").
    pub respond_within: Option<SignedDuration>,
    pub targets: Targets,
}

/// Why a game day cannot start.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct Invalid {
    pub field: &'static str,
    pub message: String,
}

/// Checks a game day before it starts: a name, at least one target, targets of a second to a
/// day, and a response time only when the severity has one in time.
pub fn check(spec: &GameDaySpec) -> Result<(), Invalid> {
    let name = spec.name.trim();
    if name.is_empty() || name.chars().count() > NAME_MAX || name.chars().any(char::is_control) {
        return Err(Invalid {
            field: "name",
            message: format!("must be one line of 1 to {NAME_MAX} characters"),
        });
    }
    let t = &spec.targets;
    if t.response_time && spec.respond_within.is_none() {
        return Err(Invalid {
            field: "targets.response_time",
            message: format!(
                "severity {} has no response time in minutes; pick another severity or leave \
                 response_time out",
                spec.severity
            ),
        });
    }
    for (field, span) in spans(t) {
        if let Some(span) = span
            && (span < SignedDuration::from_secs(1) || span > TARGET_MAX)
        {
            return Err(Invalid {
                field,
                message: "must be between 1s and 1d".into(),
            });
        }
    }
    if kinds(t).is_empty() {
        return Err(Invalid {
            field: "targets",
            message: "set at least one target (for example acknowledged_within: 5m)".into(),
        });
    }
    Ok(())
}

fn spans(t: &Targets) -> [(&'static str, Option<SignedDuration>); 5] {
    [
        ("targets.acknowledged_within", t.acknowledged_within),
        ("targets.declared_within", t.declared_within),
        ("targets.ic_assigned_within", t.ic_assigned_within),
        (
            "targets.first_status_update_within",
            t.first_status_update_within,
        ),
        ("targets.mitigated_within", t.mitigated_within),
    ]
}

/// The targets set, in the order the score card lists them.
fn kinds(t: &Targets) -> Vec<TargetKind> {
    let mut out = Vec::new();
    if t.response_time {
        out.push(TargetKind::ResponseTime);
    }
    let timed = [
        (TargetKind::AcknowledgedWithin, t.acknowledged_within),
        (TargetKind::DeclaredWithin, t.declared_within),
        (TargetKind::IcAssignedWithin, t.ic_assigned_within),
        (
            TargetKind::FirstStatusUpdateWithin,
            t.first_status_update_within,
        ),
        (TargetKind::MitigatedWithin, t.mitigated_within),
    ];
    out.extend(timed.iter().filter(|(_, s)| s.is_some()).map(|(k, _)| *k));
    if t.postmortem_drafted {
        out.push(TargetKind::PostmortemDrafted);
    }
    out
}

/// Scores a game day at `now`. `finished` is true for the final card: targets still pending
/// become `not met`.
pub fn score(spec: &GameDaySpec, facts: &Facts, now: Timestamp, finished: bool) -> ScoreCard {
    let origin = facts.first_alert.unwrap_or(facts.started_at);
    let t = &spec.targets;
    let targets = kinds(t)
        .into_iter()
        .map(|kind| {
            let (limit, happened) = match kind {
                TargetKind::ResponseTime => (spec.respond_within, facts.first_ack),
                TargetKind::AcknowledgedWithin => (t.acknowledged_within, facts.first_ack),
                TargetKind::DeclaredWithin => (t.declared_within, facts.declared),
                TargetKind::IcAssignedWithin => (t.ic_assigned_within, facts.ic_assigned),
                TargetKind::FirstStatusUpdateWithin => {
                    (t.first_status_update_within, facts.first_status_update)
                }
                TargetKind::MitigatedWithin => (t.mitigated_within, facts.mitigated),
                TargetKind::PostmortemDrafted => (None, facts.postmortem_drafted),
            };
            judge(kind, limit, happened, origin, now, finished)
        })
        .collect();
    ScoreCard {
        name: spec.name.clone(),
        service: spec.service.clone(),
        severity: spec.severity.clone(),
        started_at: facts.started_at,
        finished_at: finished.then_some(now),
        targets,
        activity: facts.activity.clone(),
    }
}

fn judge(
    kind: TargetKind,
    limit: Option<SignedDuration>,
    happened: Option<Timestamp>,
    origin: Timestamp,
    now: Timestamp,
    finished: bool,
) -> TargetResult {
    // Something done before the incident started (a hand-declared drill before the first
    // alert) took no time.
    let measured = happened.map(|at| at.duration_since(origin).max(SignedDuration::ZERO));
    let outcome = match (limit, measured) {
        (Some(limit), Some(m)) if m <= limit => Outcome::Passed,
        (Some(_), Some(_)) => Outcome::Failed,
        (None, Some(_)) => Outcome::Passed,
        (Some(limit), None) if now.duration_since(origin) > limit => Outcome::Failed,
        _ if finished => Outcome::NotMet,
        _ => Outcome::Pending,
    };
    TargetResult {
        target: kind,
        limit: limit.map(span_text),
        measured: measured.map(span_text),
        outcome,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn at(secs: i64) -> Timestamp {
        Timestamp::from_second(1_800_000_000 + secs).unwrap()
    }

    fn spec() -> GameDaySpec {
        GameDaySpec {
            name: "Failed deploy".into(),
            service: "checkout".into(),
            severity: "SEV2".into(),
            respond_within: Some(SignedDuration::from_mins(15)),
            targets: Targets {
                response_time: true,
                acknowledged_within: Some(SignedDuration::from_mins(5)),
                declared_within: Some(SignedDuration::from_mins(10)),
                ic_assigned_within: None,
                first_status_update_within: Some(SignedDuration::from_mins(15)),
                mitigated_within: Some(SignedDuration::from_mins(30)),
                postmortem_drafted: true,
            },
        }
    }

    fn outcomes(card: &ScoreCard) -> Vec<(&'static str, Outcome)> {
        card.targets
            .iter()
            .map(|t| (t.target.as_str(), t.outcome))
            .collect()
    }

    #[test]
    fn targets_are_measured_from_the_first_alert() {
        let facts = Facts {
            started_at: at(0),
            first_alert: Some(at(30)),
            first_ack: Some(at(30 + 240)),
            declared: Some(at(30 + 660)),
            ..Facts::default()
        };
        let card = score(&spec(), &facts, at(800), false);
        assert_eq!(
            outcomes(&card),
            vec![
                ("response_time", Outcome::Passed),
                ("acknowledged_within", Outcome::Passed),
                ("declared_within", Outcome::Failed),
                ("first_status_update_within", Outcome::Pending),
                ("mitigated_within", Outcome::Pending),
                ("postmortem_drafted", Outcome::Pending),
            ]
        );
        assert_eq!(card.targets[1].measured.as_deref(), Some("4m"));
        assert_eq!(card.targets[2].measured.as_deref(), Some("11m"));
        assert_eq!(card.passed(), 2);
        assert!(!card.settled());
    }

    #[test]
    fn time_running_out_fails_and_finishing_leaves_the_rest_not_met() {
        let facts = Facts {
            started_at: at(0),
            first_alert: Some(at(0)),
            ..Facts::default()
        };
        let live = score(&spec(), &facts, at(6 * 60 + 1), false);
        assert_eq!(live.targets[1].outcome, Outcome::Failed);
        assert_eq!(live.targets[0].outcome, Outcome::Pending);
        let done = score(&spec(), &facts, at(7 * 60), true);
        assert_eq!(done.targets[0].outcome, Outcome::NotMet);
        assert_eq!(done.targets[1].outcome, Outcome::Failed);
        assert_eq!(done.targets[5].outcome, Outcome::NotMet);
        assert_eq!(done.finished_at, Some(at(7 * 60)));
        assert!(!done.all_passed());
        let md = done.markdown();
        assert!(md.contains("| Acknowledged | 5m | — | failed |"), "{md}");
        assert!(md.contains("**0 of 6 targets passed.**"), "{md}");
    }

    #[test]
    fn a_team_that_does_everything_passes() {
        let facts = Facts {
            started_at: at(0),
            first_alert: Some(at(10)),
            first_ack: Some(at(20)),
            declared: Some(at(5)),
            first_status_update: Some(at(60)),
            mitigated: Some(at(120)),
            postmortem_drafted: Some(at(130)),
            ..Facts::default()
        };
        let card = score(&spec(), &facts, at(140), true);
        assert!(card.all_passed(), "{card:?}");
        // Declared before the first alert: it took no time.
        assert_eq!(card.targets[2].measured.as_deref(), Some("0s"));
    }

    #[test]
    fn checks_refuse_what_cannot_be_scored() {
        let mut s = spec();
        s.respond_within = None;
        assert_eq!(check(&s).unwrap_err().field, "targets.response_time");
        let mut s = spec();
        s.targets = Targets::default();
        assert_eq!(check(&s).unwrap_err().field, "targets");
        let mut s = spec();
        s.targets.mitigated_within = Some(SignedDuration::from_hours(25));
        assert_eq!(check(&s).unwrap_err().field, "targets.mitigated_within");
        let mut s = spec();
        s.name = "two\nlines".into();
        assert_eq!(check(&s).unwrap_err().field, "name");
        assert!(check(&spec()).is_ok());
    }

    #[test]
    fn markdown_escapes_table_cells() {
        let mut s = spec();
        s.name = "a | b".into();
        let card = score(&s, &Facts::default(), at(0), false);
        assert!(card.markdown().contains("a \\| b"));
    }

    proptest! {
        /// Whatever happened when, a finished card has nothing pending, a passed timed target
        /// was measured within its limit, and nothing passes that did not happen.
        #[test]
        fn finished_cards_settle_everything(
            alert in proptest::option::of(0i64..600),
            ack in proptest::option::of(0i64..3600),
            declared in proptest::option::of(0i64..3600),
            mitigated in proptest::option::of(0i64..7200),
            end in 0i64..7200,
        ) {
            let facts = Facts {
                started_at: at(0),
                first_alert: alert.map(at),
                first_ack: ack.map(at),
                declared: declared.map(at),
                mitigated: mitigated.map(at),
                ..Facts::default()
            };
            let card = score(&spec(), &facts, at(end), true);
            for t in &card.targets {
                prop_assert_ne!(t.outcome, Outcome::Pending);
                if t.outcome == Outcome::Passed {
                    prop_assert!(t.measured.is_some());
                }
                if t.measured.is_none() {
                    prop_assert_ne!(t.outcome, Outcome::Passed);
                }
            }
            let live = score(&spec(), &facts, at(end), false);
            for (l, f) in live.targets.iter().zip(&card.targets) {
                if l.outcome.settled() {
                    prop_assert_eq!(l.outcome, f.outcome);
                }
            }
        }
    }
}
