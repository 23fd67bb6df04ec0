//! The postmortem's timeline: the incident's record as a Markdown table a reader can follow,
//! with the noise folded and the key moments marked.
//!
//! What folds:
//! - every alert event of one alert makes one row, which says how often the alert fired;
//! - paging makes one row per burst: the pages of one step and round of one escalation, with
//!   whom they reached, how many were delivered and which failed and why;
//! - update reminders make one row until somebody posts an update, a note or a status change.
//!
//! Postmortem events are left out: the postmortem does not describe itself.

use std::collections::BTreeMap;

use jiff::Timestamp;

use super::draft::{Clock, DraftInput, Entry, code, failed_pages, one_line, shell_line};
use crate::timeline::TimelineEvent;

/// A moment a reader looks for first, in the order an incident passes them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Moment {
    Detected,
    Declared,
    Acknowledged,
    Mitigated,
    Resolved,
}

impl Moment {
    fn label(self) -> &'static str {
        match self {
            Moment::Detected => "Detected",
            Moment::Declared => "Declared",
            Moment::Acknowledged => "Acknowledged",
            Moment::Mitigated => "Mitigated",
            Moment::Resolved => "Resolved",
        }
    }

    /// The kinds of row that stand for the moment when several share its instant.
    fn kinds(self) -> &'static [&'static str] {
        match self {
            Moment::Detected => &["alert_attached", "declared"],
            Moment::Declared => &["declared"],
            Moment::Acknowledged => &["acknowledged", "declared"],
            Moment::Mitigated | Moment::Resolved => &["status_changed"],
        }
    }
}

#[derive(Debug, Clone)]
pub(super) struct Row {
    pub(super) at: Timestamp,
    kind: &'static str,
    moments: Vec<Moment>,
    pub(super) what: String,
    who: String,
}

/// A burst of paging: one step and round of one escalation.
struct Burst<'a> {
    row: usize,
    escalation: &'a str,
    /// `(step, round)`; `None` for the start of an escalation before its first page.
    step: Option<(u32, u32)>,
    paged: Vec<(&'a str, &'a str)>,
    delivered: usize,
    failed: Vec<(&'a str, &'a str, &'a str)>,
    nobody: Vec<(&'a str, &'a str)>,
}

struct Reminders<'a> {
    row: usize,
    count: usize,
    last: Timestamp,
    to: Vec<&'a str>,
    quiet_for: &'a str,
}

/// The timeline's rows, folded and marked, in time order.
pub(super) fn rows(input: &DraftInput, clock: &Clock) -> Vec<Row> {
    use TimelineEvent as E;
    let mut entries: Vec<&Entry> = input.entries.iter().collect();
    entries.sort_by_key(|e| e.seq);
    let mut rows: Vec<Row> = Vec::new();
    let mut alerts: BTreeMap<i64, (usize, usize)> = BTreeMap::new();
    let mut policies: BTreeMap<&str, &str> = BTreeMap::new();
    let mut bursts: Vec<Burst> = Vec::new();
    let mut reminders: Option<Reminders> = None;
    for entry in entries {
        let row = |what: String| Row {
            at: entry.at,
            kind: entry.event.kind(),
            moments: Vec::new(),
            what,
            who: entry.actor.clone(),
        };
        match &entry.event {
            E::PostmortemDrafted { .. }
            | E::PostmortemEdited { .. }
            | E::PostmortemStatusChanged { .. } => {}
            E::AlertAttached { alert, .. } => match alerts.get_mut(alert) {
                Some((_, times)) => *times += 1,
                None => {
                    alerts.insert(*alert, (rows.len(), 1));
                    rows.push(row(entry.event.describe()));
                }
            },
            E::EscalationStarted {
                escalation, policy, ..
            } => {
                policies.insert(escalation, policy);
                bursts.push(Burst::new(rows.len(), escalation, None));
                rows.push(row(String::new()));
            }
            E::Paged {
                escalation,
                step,
                round,
                user,
                method,
                ..
            } => {
                let b = burst(&mut bursts, &mut rows, row, escalation, (*step, *round));
                b.paged.push((user, method));
            }
            E::NobodyPaged {
                escalation,
                step,
                round,
                target,
                reason,
            } => {
                let b = burst(&mut bursts, &mut rows, row, escalation, (*step, *round));
                b.nobody.push((target, reason));
            }
            E::PageDelivered {
                escalation,
                user,
                method,
                ..
            } => delivery(&mut bursts, &mut rows, row, escalation, (user, method)).delivered += 1,
            E::PageFailed {
                escalation,
                user,
                method,
                reason,
                ..
            } => delivery(&mut bursts, &mut rows, row, escalation, (user, method))
                .failed
                .push((user, method, reason)),
            E::UpdateReminder { to, quiet_for, .. } => match &mut reminders {
                Some(r) => {
                    r.count += 1;
                    r.last = entry.at;
                    for t in to {
                        if !r.to.contains(&t.as_str()) {
                            r.to.push(t);
                        }
                    }
                }
                None => {
                    reminders = Some(Reminders {
                        row: rows.len(),
                        count: 1,
                        last: entry.at,
                        to: to.iter().map(String::as_str).collect(),
                        quiet_for,
                    });
                    rows.push(row(entry.event.describe()));
                }
            },
            other => {
                if matches!(
                    other,
                    E::StatusUpdate(_)
                        | E::Note { .. }
                        | E::StatusChanged { .. }
                        | E::Reopened { .. }
                ) {
                    // An update: the next reminder starts a new quiet spell.
                    if let Some(r) = reminders.take() {
                        rows[r.row].what = r.describe(clock, &rows[r.row]);
                    }
                }
                rows.push(row(sentence(other, clock)));
            }
        }
    }
    if let Some(r) = reminders {
        rows[r.row].what = r.describe(clock, &rows[r.row]);
    }
    for b in &bursts {
        rows[b.row].what = b.describe(policies.get(b.escalation).copied());
    }
    for (id, (row, times)) in alerts {
        if let Some(a) = input.alerts.iter().find(|a| a.id == id) {
            let fired = match a.count {
                n if n > 1 => format!(
                    "fired {n} times ({} to {})",
                    stamp(clock, &rows[row], a.first_seen),
                    stamp(clock, &rows[row], a.last_seen)
                ),
                _ => "fired".to_string(),
            };
            rows[row].what = format!(
                "alert {id} {fired}: {} ({})",
                one_line(&a.summary),
                a.service
            );
        } else if times > 1 {
            rows[row]
                .what
                .push_str(&format!(" (attached {times} times)"));
        }
    }
    mark(input, &mut rows);
    rows
}

/// What a row says of an event: its sentence, with the whole command a person ran and
/// a grant's end in the display zone, which the one-line sentences leave out.
fn sentence(event: &TimelineEvent, clock: &Clock) -> String {
    match event {
        TimelineEvent::CommandRun {
            argv,
            exit_code,
            host,
            ..
        } => format!(
            "ran {}{} (exit {exit_code})",
            code(&shell_line(argv)),
            host.as_ref()
                .map(|h| format!(" on {h}"))
                .unwrap_or_default()
        ),
        TimelineEvent::BreakGlassGranted {
            user,
            role,
            expires_at,
            approved_by,
            ..
        } => match expires_at.parse::<Timestamp>() {
            Ok(until) => format!(
                "{user} has {role} until {} (break-glass){}",
                clock.hm(until),
                approved_by
                    .as_ref()
                    .map(|a| format!(", approved by {a}"))
                    .unwrap_or_default()
            ),
            Err(_) => event.describe(),
        },
        other => other.describe(),
    }
}

/// An instant inside a row's text: `14:02`, with its date when that is not the row's.
fn stamp(clock: &Clock, row: &Row, at: Timestamp) -> String {
    if clock.date(at) == clock.date(row.at) {
        clock.hm(at)
    } else {
        clock.date_hm(at)
    }
}

impl<'a> Burst<'a> {
    fn new(row: usize, escalation: &'a str, step: Option<(u32, u32)>) -> Burst<'a> {
        Burst {
            row,
            escalation,
            step,
            paged: Vec::new(),
            delivered: 0,
            failed: Vec::new(),
            nobody: Vec::new(),
        }
    }

    fn describe(&self, policy: Option<&str>) -> String {
        let mut head = format!("paging ({}", policy.unwrap_or(self.escalation));
        if let Some((step, round)) = self.step {
            head.push_str(&format!(", step {}", step + 1));
            if round > 0 {
                head.push_str(&format!(", round {}", round + 1));
            }
        }
        head.push(')');
        if self.paged.is_empty() && self.nobody.is_empty() && self.failed.is_empty() {
            return match self.delivered {
                0 => format!("{head} started"),
                n => format!("{head}: {n} delivered"),
            };
        }
        // Who was paged, each with their methods, in the order they were paged.
        let mut who: Vec<(&str, Vec<&str>)> = Vec::new();
        for (user, method) in &self.paged {
            match who.iter_mut().find(|(u, _)| u == user) {
                Some((_, methods)) if !methods.contains(method) => methods.push(method),
                Some(_) => {}
                None => who.push((user, vec![method])),
            }
        }
        let who: Vec<String> = who
            .into_iter()
            .map(|(u, m)| format!("{u} by {}", m.join(" and ")))
            .collect();
        let mut outcome = Vec::new();
        if self.delivered > 0 {
            outcome.push(format!("{} delivered", self.delivered));
        }
        if !self.failed.is_empty() {
            outcome.push(format!(
                "{} failed: {}",
                self.failed.len(),
                failed_pages(&self.failed)
            ));
        }
        let unconfirmed = self
            .paged
            .len()
            .saturating_sub(self.delivered + self.failed.len());
        if unconfirmed > 0 {
            outcome.push(format!("{unconfirmed} with no delivery report"));
        }
        for (target, reason) in &self.nobody {
            outcome.push(format!("could not page {target}: {}", one_line(reason)));
        }
        let mut line = head;
        if !who.is_empty() {
            line.push_str(&format!(": {}", who.join(", ")));
        }
        if !outcome.is_empty() {
            line.push_str(&format!(" — {}", outcome.join("; ")));
        }
        line
    }
}

impl Reminders<'_> {
    fn describe(&self, clock: &Clock, row: &Row) -> String {
        let to = match self.to.is_empty() {
            true => "nobody".to_string(),
            false => self.to.join(", "),
        };
        let mut line = format!("no update for {}; reminded {to}", self.quiet_for);
        if self.count > 1 {
            line.push_str(&format!(
                " ({} times, the last at {})",
                self.count,
                stamp(clock, row, self.last)
            ));
        }
        line
    }
}

/// The burst a page of `step` joins: the escalation's current one for that step, else a new
/// one (whose row is where the step began).
fn burst<'a, 'b>(
    bursts: &'b mut Vec<Burst<'a>>,
    rows: &mut Vec<Row>,
    row: impl FnOnce(String) -> Row,
    escalation: &'a str,
    step: (u32, u32),
) -> &'b mut Burst<'a> {
    let current = bursts
        .iter()
        .rposition(|b| b.escalation == escalation)
        .filter(|&i| bursts[i].step.is_none_or(|s| s == step));
    let i = match current {
        Some(i) => i,
        None => {
            bursts.push(Burst::new(rows.len(), escalation, Some(step)));
            rows.push(row(String::new()));
            bursts.len() - 1
        }
    };
    let b = &mut bursts[i];
    b.step = Some(step);
    b
}

/// The burst a delivery report joins: the latest one that paged that contact, else the
/// escalation's latest, else a new one.
fn delivery<'a, 'b>(
    bursts: &'b mut Vec<Burst<'a>>,
    rows: &mut Vec<Row>,
    row: impl FnOnce(String) -> Row,
    escalation: &'a str,
    contact: (&'a str, &'a str),
) -> &'b mut Burst<'a> {
    let found = bursts
        .iter()
        .rposition(|b| b.escalation == escalation && b.paged.contains(&contact))
        .or_else(|| bursts.iter().rposition(|b| b.escalation == escalation));
    let i = match found {
        Some(i) => i,
        None => {
            bursts.push(Burst::new(rows.len(), escalation, None));
            rows.push(row(String::new()));
            bursts.len() - 1
        }
    };
    &mut bursts[i]
}

/// Marks the key moments: each on the row of its instant that stands for it (the first
/// acknowledgement, the status change to mitigated), or on a row of its own when nothing was
/// recorded at that instant.
fn mark(input: &DraftInput, rows: &mut Vec<Row>) {
    let i = &input.incident;
    for (moment, at) in [
        (Moment::Detected, Some(i.detected_at)),
        (Moment::Declared, Some(i.declared_at)),
        (Moment::Acknowledged, i.acknowledged_at),
        (Moment::Mitigated, i.mitigated_at),
        (Moment::Resolved, i.resolved_at),
    ] {
        let Some(at) = at else { continue };
        let same: Vec<usize> = (0..rows.len()).filter(|&r| rows[r].at == at).collect();
        let chosen = same
            .iter()
            .copied()
            .find(|&r| moment.kinds().contains(&rows[r].kind))
            .or(same.first().copied());
        match chosen {
            Some(r) => rows[r].moments.push(moment),
            None => {
                let what = match moment {
                    // Detection came from an alert only when one started then; otherwise the
                    // declarer gave it (when the problem was first noticed).
                    Moment::Detected
                        if input
                            .alerts
                            .iter()
                            .any(|a| a.started_at.unwrap_or(a.first_seen) == at) =>
                    {
                        "the first alert started"
                    }
                    Moment::Detected if at < i.declared_at => {
                        "first noticed (the time given when declaring)"
                    }
                    _ => "",
                };
                let place = rows.iter().position(|r| r.at > at).unwrap_or(rows.len());
                rows.insert(
                    place,
                    Row {
                        at,
                        kind: "",
                        moments: vec![moment],
                        what: match what {
                            "" => moment.label().to_lowercase(),
                            w => w.to_string(),
                        },
                        who: String::new(),
                    },
                );
            }
        }
    }
}

/// The table, times in the display zone: `HH:MM`, with the date on the first row and
/// wherever it changes.
pub(super) fn render(input: &DraftInput, clock: &Clock) -> String {
    let rows = rows(input, clock);
    let mut out = format!(
        "| Time ({}) | Moment | What happened | Who |\n| --- | --- | --- | --- |",
        clock.zone_name(input.incident.detected_at)
    );
    let mut day = None;
    for r in &rows {
        let date = clock.date(r.at);
        let time = if day == Some(date) {
            clock.hm(r.at)
        } else {
            clock.date_hm(r.at)
        };
        day = Some(date);
        let moments = r
            .moments
            .iter()
            .map(|m| format!("**{}**", m.label()))
            .collect::<Vec<_>>()
            .join(", ");
        out.push_str(&format!(
            "\n| {time} | {moments} | {} | {} |",
            cell(&r.what),
            cell(&r.who)
        ));
    }
    out
}

/// Text made safe for one table cell: `|` escaped, line breaks as `<br>`.
pub(super) fn cell(s: &str) -> String {
    s.trim()
        .replace("\r\n", "\n")
        .replace('|', "\\|")
        .replace('\n', "<br>")
}
