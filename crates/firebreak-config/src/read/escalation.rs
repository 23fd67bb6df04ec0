//! The `escalation_policies` section: who is paged, in which order, and how long each step
//! waits before the next. The rules of a policy live in `firebreak_domain::escalation`; this
//! reads the file's shape, checks every target against the users and schedules the file
//! declares, and points at the line of each problem.

use firebreak_domain::escalation::{MAX_REPEAT, Policy, Step, Target, check_delay};

use super::{DURATION_HINT, Declared, Reader, locate, parse_duration_or_zero};
use crate::node::{Node, Value};

pub(crate) const POLICY_KEYS: &[&str] = &["name", "repeat", "steps"];
pub(crate) const STEP_KEYS: &[&str] = &["delay", "targets"];
/// A target names exactly one of these.
pub(crate) const TARGET_KEYS: &[&str] = &["user", "schedule"];

const TARGETS_EXAMPLE: &str = "[{user: alice}, {schedule: primary}]";

impl Reader<'_> {
    /// One escalation policy. Its targets must be users and schedules `declared` in the file.
    pub(super) fn escalation_policy(
        &mut self,
        node: &Node,
        path: &str,
        seen: &mut Vec<(String, u64)>,
        declared: &Declared,
    ) -> Option<Policy> {
        let f = self.fields(
            node,
            path,
            POLICY_KEYS,
            "an escalation policy mapping with name, repeat and steps",
        )?;
        let name = self.unique_name(&f, seen, "escalation policy");
        let repeat = self.repeat(f.get("repeat"), &f.path("repeat"));
        let mut ok = true;
        let mut steps = Vec::new();
        match f.get("steps") {
            None => {
                self.error_at(
                    f.node,
                    &f.path,
                    "missing required key \"steps\": a list of steps, each with a delay and \
                     targets, like [{delay: 5m, targets: [{user: alice}]}]",
                );
                ok = false;
            }
            Some(list) => match &list.value {
                Value::Seq(items) if !items.is_empty() => {
                    for (i, item) in items.iter().enumerate() {
                        let at = format!("{}[{i}]", f.path("steps"));
                        match self.step(item, &at, declared) {
                            Some(step) => steps.push(step),
                            None => ok = false,
                        }
                    }
                }
                Value::Seq(_) => {
                    self.error_at(
                        list,
                        &f.path("steps"),
                        "expected at least one step, like [{delay: 5m, targets: [{user: alice}]}]",
                    );
                    ok = false;
                }
                _ => {
                    self.wrong_type(
                        list,
                        &f.path("steps"),
                        "a list of steps, each with delay and targets",
                    );
                    ok = false;
                }
            },
        }
        let (name, _) = name?;
        let repeat = repeat?;
        if !ok {
            return None;
        }
        // What the reader has not checked itself: the number of steps and targets, and a
        // target named twice in one step.
        match Policy::new(name, repeat, steps) {
            Ok(policy) => Some(policy),
            Err(e) => {
                self.error_at(
                    locate(node, &e.field),
                    &format!("{path}.{}", e.field),
                    e.message,
                );
                None
            }
        }
    }

    /// `repeat`: how many more rounds after the first, 0 when absent.
    fn repeat(&mut self, node: Option<&Node>, path: &str) -> Option<u32> {
        let Some(node) = node else {
            return Some(0);
        };
        let expected = format!(
            "a whole number from 0 to {MAX_REPEAT}: how many more times the steps run after the \
             first round"
        );
        match node.value {
            Value::Int(n) => match u32::try_from(n) {
                Ok(n) if n <= MAX_REPEAT => Some(n),
                _ => {
                    self.error_at(node, path, format!("expected {expected}, found {n}"));
                    None
                }
            },
            _ => {
                self.wrong_type(node, path, &expected);
                None
            }
        }
    }

    fn step(&mut self, node: &Node, path: &str, declared: &Declared) -> Option<Step> {
        let f = self.fields(
            node,
            path,
            STEP_KEYS,
            "a step mapping with delay and targets",
        )?;
        let delay = match f.get("delay") {
            Some(n) => self.step_delay(n, &f.path("delay")),
            None => {
                self.error_at(
                    f.node,
                    &f.path,
                    "missing required key \"delay\": how long after this step pages the next \
                     one does, like 5m",
                );
                None
            }
        };
        let targets = match f.get("targets") {
            None => {
                self.error_at(
                    f.node,
                    &f.path,
                    format!("missing required key \"targets\", like targets: {TARGETS_EXAMPLE}"),
                );
                None
            }
            Some(list) => match &list.value {
                Value::Seq(items) if !items.is_empty() => {
                    let mut ok = true;
                    let mut targets = Vec::new();
                    for (i, item) in items.iter().enumerate() {
                        let at = format!("{}[{i}]", f.path("targets"));
                        match self.target(item, &at, declared) {
                            Some(t) => targets.push(t),
                            None => ok = false,
                        }
                    }
                    ok.then_some(targets)
                }
                Value::Seq(_) => {
                    self.error_at(
                        list,
                        &f.path("targets"),
                        format!(
                            "expected at least one target: a user or a schedule, like \
                             {TARGETS_EXAMPLE}"
                        ),
                    );
                    None
                }
                _ => {
                    self.wrong_type(
                        list,
                        &f.path("targets"),
                        &format!("a list of targets like {TARGETS_EXAMPLE}"),
                    );
                    None
                }
            },
        };
        Some(Step {
            delay: delay?,
            targets: targets?,
        })
    }

    /// A step's delay: a duration from 1s to 24h.
    fn step_delay(&mut self, node: &Node, path: &str) -> Option<jiff::SignedDuration> {
        let text = self.text_of(node, path)?;
        let Some(delay) = parse_duration_or_zero(&text) else {
            self.error_at(
                node,
                path,
                format!("invalid duration \"{text}\"; {DURATION_HINT}"),
            );
            return None;
        };
        if let Err(e) = check_delay(delay) {
            self.error_at(
                node,
                path,
                format!("{e}, found {text}; expected a delay from 1s to 24h, like 5m"),
            );
            return None;
        }
        Some(delay)
    }

    /// A target: `{user: HANDLE}` or `{schedule: NAME}`, exactly one of them.
    fn target(&mut self, node: &Node, path: &str, declared: &Declared) -> Option<Target> {
        let f = self.fields(
            node,
            path,
            TARGET_KEYS,
            &format!("a target mapping with user or schedule, like {TARGETS_EXAMPLE}"),
        )?;
        match (f.get("user"), f.get("schedule")) {
            (Some(_), None) => self.user_ref(&f, "user", declared).map(Target::User),
            (None, Some(_)) => self
                .schedule_ref(&f, "schedule", declared)
                .map(Target::Schedule),
            (Some(_), Some(_)) => {
                self.error_at(
                    node,
                    path,
                    "a target is either a user or a schedule, not both; write them as two \
                     targets, like {user: alice} and {schedule: primary}",
                );
                None
            }
            (None, None) => {
                self.error_at(
                    node,
                    path,
                    "missing user or schedule; expected a target like {user: alice} or \
                     {schedule: primary}",
                );
                None
            }
        }
    }
}
