//! Drafting a postmortem from what Firebreak recorded: the facts are prefilled, and every
//! question only people can answer is a prompt. The draft states what happened to systems and
//! what the record shows, never who is to blame.

use std::collections::BTreeMap;

use jiff::civil::Date;
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};

use super::{Fences, PROMPT, Section, section_heading, table, tidy};
use crate::config::{ResponseTarget, Severity};
use crate::incident::Incident;
use crate::runbook::ROLLBACK;
use crate::status_page::{Audience, PublicStatus};
use crate::timeline::TimelineEvent;

/// One timeline entry, as the draft reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub seq: i64,
    pub at: Timestamp,
    pub actor: String,
    pub event: TimelineEvent,
}

/// An alert attached to the incident, with how often it fired.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttachedAlert {
    pub id: i64,
    pub summary: String,
    pub service: String,
    /// When the sender says the problem started (`startsAt`), if it said.
    pub started_at: Option<Timestamp>,
    pub first_seen: Timestamp,
    pub last_seen: Timestamp,
    /// Triggers and repeats.
    pub count: i64,
}

/// A deploy suspected of starting the incident.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SuspectDeploy {
    pub service: String,
    pub version: String,
    /// The version it replaced, when known.
    pub previous: Option<String>,
    pub at: Timestamp,
}

/// Where an action item stands, as its line shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ItemState {
    Open,
    Done,
    WontDo { reason: String },
}

/// An action item of the incident: one line of the Action items section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ItemLine {
    pub id: i64,
    pub title: String,
    /// The owner's handle.
    pub owner: String,
    pub due: Date,
    pub state: ItemState,
    pub ticket_url: Option<String>,
}

/// What the engine gathers for a draft.
#[derive(Debug, Clone)]
pub struct DraftInput {
    pub incident: Incident,
    /// The incident's whole timeline, in order.
    pub entries: Vec<Entry>,
    pub alerts: Vec<AttachedAlert>,
    /// The status page components of the incident's services, by name.
    pub components: Vec<String>,
    pub deploys: Vec<SuspectDeploy>,
    pub items: Vec<ItemLine>,
    /// The incident's severity as configured, for its response targets; `None` when it is no
    /// longer configured.
    pub severity: Option<Severity>,
    /// The zone times are shown in.
    pub zone: TimeZone,
}

impl DraftInput {
    /// The incident alone, times in UTC.
    pub fn new(incident: Incident) -> DraftInput {
        DraftInput {
            incident,
            entries: Vec::new(),
            alerts: Vec::new(),
            components: Vec::new(),
            deploys: Vec::new(),
            items: Vec::new(),
            severity: None,
            zone: TimeZone::UTC,
        }
    }
}

/// Drafts every section, in [`super::SECTIONS`] order.
pub fn draft(input: &DraftInput) -> Vec<Section> {
    let clock = Clock::new(&input.zone, input.incident.detected_at);
    let record = Record::read(input);
    let cx = Cx {
        input,
        clock: &clock,
        record: &record,
    };
    [
        ("summary", summary(&cx)),
        ("impact", impact(&cx)),
        ("timeline", timeline(&cx)),
        ("contributing_factors", contributing_factors(&cx)),
        ("went_well", went_well(&cx)),
        ("went_poorly", went_poorly(&cx)),
        ("action_items", action_items(&cx)),
        ("security_review", security_review(&cx)),
    ]
    .into_iter()
    .map(|(key, blocks)| Section::new(key, tidy(&blocks.join("\n\n"))))
    .collect()
}

/// How times are shown: in the display zone, with the date only where it is not the day the
/// incident was detected.
pub(super) struct Clock {
    zone: TimeZone,
    day: Date,
}

impl Clock {
    pub(super) fn new(zone: &TimeZone, detected: Timestamp) -> Clock {
        Clock {
            zone: zone.clone(),
            day: detected.to_zoned(zone.clone()).date(),
        }
    }

    pub(super) fn date(&self, at: Timestamp) -> Date {
        at.to_zoned(self.zone.clone()).date()
    }

    /// `14:02`.
    pub(super) fn hm(&self, at: Timestamp) -> String {
        at.to_zoned(self.zone.clone()).strftime("%H:%M").to_string()
    }

    /// `2026-03-14 14:02`.
    pub(super) fn date_hm(&self, at: Timestamp) -> String {
        at.to_zoned(self.zone.clone())
            .strftime("%Y-%m-%d %H:%M")
            .to_string()
    }

    /// `14:02 UTC`, or `2026-03-15 01:10 UTC` on another day than detection.
    fn at(&self, at: Timestamp) -> String {
        if self.date(at) == self.day {
            at.to_zoned(self.zone.clone())
                .strftime("%H:%M %Z")
                .to_string()
        } else {
            self.full(at)
        }
    }

    /// `2026-03-14 14:02 UTC`.
    fn full(&self, at: Timestamp) -> String {
        at.to_zoned(self.zone.clone())
            .strftime("%Y-%m-%d %H:%M %Z")
            .to_string()
    }

    /// The zone's name for a column header: `Europe/Berlin`, `UTC`.
    pub(super) fn zone_name(&self, at: Timestamp) -> String {
        match self.zone.iana_name() {
            Some(name) => name.to_string(),
            None => at.to_zoned(self.zone.clone()).strftime("%Z").to_string(),
        }
    }
}

/// A duration as people say it: `45 s`, `42 min`, `1 h 12 min`, `2 d 3 h`.
pub(super) fn span(d: SignedDuration) -> String {
    let s = d.as_secs().max(0);
    let pair = |big: i64, unit: &str, small: i64, small_unit: &str| match small {
        0 => format!("{big} {unit}"),
        _ => format!("{big} {unit} {small} {small_unit}"),
    };
    match s {
        s if s < 60 => format!("{s} s"),
        s if s < 3600 => format!("{} min", s / 60),
        s if s < 86_400 => pair(s / 3600, "h", (s % 3600) / 60, "min"),
        s => pair(s / 86_400, "d", (s % 86_400) / 3600, "h"),
    }
}

/// Text on one line: runs of whitespace, line breaks included, become one space.
pub(super) fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Free text people wrote during the incident, made safe to sit inside a section: a `## `
/// heading becomes `###` (a `## ` line would start a section in the export) and a code fence
/// left open is closed.
fn inert(text: &str) -> String {
    let mut fences = Fences::default();
    let mut lines: Vec<String> = Vec::new();
    for (i, line) in tidy(text).split('\n').enumerate() {
        let is_code = fences.is_code(line, i + 1);
        match section_heading(line) {
            Some(title) if !is_code => lines.push(format!("### {title}")),
            _ => lines.push(line.to_string()),
        }
    }
    if let Some((mark, len, _)) = fences.open {
        lines.push(mark.to_string().repeat(len));
    }
    lines.join("\n")
}

/// A prompt for what only people know.
fn prompt(question: &str) -> String {
    format!("{PROMPT} {question}")
}

/// A Markdown list, or `None` when there is nothing to list.
fn list(items: &[String]) -> Option<String> {
    (!items.is_empty()).then(|| {
        items
            .iter()
            .map(|i| format!("- {i}"))
            .collect::<Vec<_>>()
            .join("\n")
    })
}

/// Inline code that survives backticks inside it.
pub(super) fn code(s: &str) -> String {
    let longest = s.split(|c| c != '`').map(str::len).max().unwrap_or(0);
    let ticks = "`".repeat(longest + 1);
    if longest == 0 {
        format!("`{s}`")
    } else {
        format!("{ticks} {s} {ticks}")
    }
}

/// Pages that failed, each with why: `bob by sms (carrier rejected the number)`.
pub(super) fn failed_pages(failed: &[(&str, &str, &str)]) -> String {
    failed
        .iter()
        .map(|(user, method, reason)| format!("{user} by {method} ({})", one_line(reason)))
        .collect::<Vec<_>>()
        .join("; ")
}

/// `n thing` or `n things`.
fn count(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

struct Cx<'a> {
    input: &'a DraftInput,
    clock: &'a Clock,
    record: &'a Record<'a>,
}

impl Cx<'_> {
    fn incident(&self) -> &Incident {
        &self.input.incident
    }

    fn after_detection(&self, at: Timestamp) -> String {
        span(at.duration_since(self.incident().detected_at))
    }
}

/// What the timeline says, gathered in one pass for the sections that state facts.
#[derive(Default)]
struct Record<'a> {
    public_updates: Vec<(Timestamp, Option<PublicStatus>, &'a str)>,
    any_update: bool,
    paged: usize,
    delivered: usize,
    failed: Vec<(&'a str, &'a str, &'a str)>,
    nobody: Vec<(&'a str, &'a str)>,
    exhausted: Vec<(Timestamp, &'a str)>,
    reminders: Vec<(Timestamp, &'a [String], &'a str)>,
    freeze_deploys: Vec<(&'a str, &'a str, &'a [String])>,
    exemptions: Vec<(Option<&'a str>, &'a str, &'a str)>,
    grants: BTreeMap<i64, Grant<'a>>,
    commands: Vec<&'a Entry>,
    runs: BTreeMap<i64, Run<'a>>,
}

#[derive(Default)]
struct Grant<'a> {
    user: &'a str,
    role: &'a str,
    reason: &'a str,
    asked_for: Option<&'a str>,
    granted_at: Option<Timestamp>,
    expires_at: Option<&'a str>,
    approved_by: Option<&'a str>,
    ended: Option<(Timestamp, &'a str)>,
}

#[derive(Default)]
struct Run<'a> {
    action: &'a str,
    asked_at: Option<Timestamp>,
    asked_by: &'a str,
    shown: &'a str,
    approved_by: Option<&'a str>,
    refused: Option<&'a str>,
    finished: Option<Finished<'a>>,
}

struct Finished<'a> {
    at: Timestamp,
    status: &'a str,
    exit_code: Option<i32>,
    duration_ms: Option<i64>,
}

impl<'a> Record<'a> {
    fn read(input: &'a DraftInput) -> Record<'a> {
        use TimelineEvent as E;
        let mut r = Record::default();
        for entry in &input.entries {
            let at = entry.at;
            match &entry.event {
                E::StatusUpdate(u) => {
                    r.any_update = true;
                    if u.audience == Audience::Public {
                        r.public_updates.push((at, u.status, &u.body));
                    }
                }
                E::Paged { .. } => r.paged += 1,
                E::PageDelivered { .. } => r.delivered += 1,
                E::PageFailed {
                    user,
                    method,
                    reason,
                    ..
                } => r.failed.push((user, method, reason)),
                E::NobodyPaged { target, reason, .. } => r.nobody.push((target, reason)),
                E::EscalationExhausted { policy, .. } => r.exhausted.push((at, policy)),
                E::UpdateReminder { to, quiet_for, .. } => r.reminders.push((at, to, quiet_for)),
                E::DeployDuringFreeze {
                    service,
                    version,
                    reasons,
                    ..
                } => r.freeze_deploys.push((service, version, reasons)),
                E::FreezeExemption {
                    service,
                    by,
                    reason,
                } => r.exemptions.push((service.as_deref(), by, reason)),
                E::BreakGlassRequested {
                    grant,
                    user,
                    role,
                    duration,
                    reason,
                } => {
                    let g = r.grants.entry(*grant).or_default();
                    (g.user, g.role, g.reason) = (user.as_str(), role.as_str(), reason.as_str());
                    g.asked_for = Some(duration);
                }
                E::BreakGlassGranted {
                    grant,
                    user,
                    role,
                    expires_at,
                    reason,
                    approved_by,
                } => {
                    let g = r.grants.entry(*grant).or_default();
                    (g.user, g.role, g.reason) = (user.as_str(), role.as_str(), reason.as_str());
                    g.granted_at = Some(at);
                    g.expires_at = Some(expires_at);
                    g.approved_by = approved_by.as_deref();
                }
                E::BreakGlassEnded { grant, user, why } => {
                    let g = r.grants.entry(*grant).or_default();
                    if g.user.is_empty() {
                        g.user = user;
                    }
                    g.ended = Some((at, why));
                }
                E::CommandRun { .. } => r.commands.push(entry),
                E::ActionRequested {
                    run, action, shown, ..
                } => {
                    let run = r.runs.entry(*run).or_default();
                    run.action = action;
                    run.asked_at = Some(at);
                    run.asked_by = &entry.actor;
                    run.shown = shown;
                }
                E::ActionApproved { run, action, by } => {
                    let run = r.runs.entry(*run).or_default();
                    run.action = action;
                    run.approved_by = Some(by);
                }
                E::ActionRefused { run, action, why } => {
                    let run = r.runs.entry(*run).or_default();
                    run.action = action;
                    run.refused = Some(why);
                }
                E::ActionFinished {
                    run,
                    action,
                    status,
                    exit_code,
                    duration_ms,
                    ..
                } => {
                    let run = r.runs.entry(*run).or_default();
                    run.action = action;
                    run.finished = Some(Finished {
                        at,
                        status,
                        exit_code: *exit_code,
                        duration_ms: *duration_ms,
                    });
                }
                _ => {}
            }
        }
        r
    }
}

fn summary(cx: &Cx) -> Vec<String> {
    let i = cx.incident();
    let services = services(i);
    let duration = match i.resolved_at {
        Some(resolved) => format!(
            "{}, from detection at {} to resolution at {}",
            cx.after_detection(resolved),
            cx.clock.full(i.detected_at),
            cx.clock.at(resolved)
        ),
        None => format!(
            "still open ({}); detected at {}",
            i.status,
            cx.clock.full(i.detected_at)
        ),
    };
    let mut facts = vec![
        format!("**Severity:** {}", i.severity),
        format!("**Services:** {services}"),
        format!("**Duration:** {duration}"),
    ];
    if i.drill {
        facts.push("**Drill:** this incident was a drill, not a real outage".to_string());
    }
    let mut blocks = vec![format!("**{}**", one_line(&i.title))];
    blocks.extend(list(&facts));
    if !i.summary.trim().is_empty() {
        blocks.push(inert(&i.summary));
    }
    if !i.customer_impact.trim().is_empty() {
        blocks.push(format!(
            "**Customer impact:** {}",
            inert(&i.customer_impact)
        ));
    }
    blocks.push(prompt(
        "In two or three sentences, for someone who was not there: what happened, who was \
         affected, and how it was brought back.",
    ));
    blocks
}

fn services(i: &Incident) -> String {
    if i.services.is_empty() {
        "none recorded".to_string()
    } else {
        i.services
            .iter()
            .map(|s| s.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    }
}

fn impact(cx: &Cx) -> Vec<String> {
    let i = cx.incident();
    let components = if cx.input.components.is_empty() {
        "none (no status page component covers these services)".to_string()
    } else {
        cx.input.components.join(", ")
    };
    let since = |label: &str, at: Option<Timestamp>| match at {
        Some(at) => format!(
            "**{label}:** {}, {} after detection",
            cx.clock.at(at),
            cx.after_detection(at)
        ),
        None => format!("**{label}:** not recorded"),
    };
    let facts = vec![
        format!("**Services:** {}", services(i)),
        format!("**Status page components:** {components}"),
        format!("**Detected:** {}", cx.clock.at(i.detected_at)),
        since("Mitigated", i.mitigated_at),
        since("Resolved", i.resolved_at),
    ];
    let mut blocks: Vec<String> = list(&facts).into_iter().collect();
    if !i.customer_impact.trim().is_empty() {
        blocks.push(format!(
            "**Customer impact, as recorded during the incident:** {}",
            inert(&i.customer_impact)
        ));
    }
    let updates: Vec<String> = cx
        .record
        .public_updates
        .iter()
        .map(|(at, status, body)| match status {
            Some(s) => format!("{} *{}*: {}", cx.clock.at(*at), s.label(), one_line(body)),
            None => format!("{}: {}", cx.clock.at(*at), one_line(body)),
        })
        .collect();
    match list(&updates) {
        Some(l) => blocks.push(format!("**What the status page said:**\n\n{l}")),
        None => blocks.push("No public status update was posted.".to_string()),
    }
    blocks.push(prompt(
        "What did customers see, and for how long? Who was affected (which customers, regions \
         or plans), what failed or slowed down, and how much: requests, orders, tickets.",
    ));
    blocks
}

fn timeline(cx: &Cx) -> Vec<String> {
    vec![
        table::render(cx.input, cx.clock),
        prompt(
            "Add what Firebreak could not see: when people first noticed, what they tried, and \
             the decisions made in chat or on calls.",
        ),
    ]
}

fn contributing_factors(cx: &Cx) -> Vec<String> {
    let i = cx.incident();
    let mut facts: Vec<String> = cx
        .input
        .deploys
        .iter()
        .map(|d| {
            let when = match d.at.duration_since(i.detected_at) {
                gap if gap.is_negative() => format!("{} before detection", span(-gap)),
                gap if gap.is_zero() => "at detection".to_string(),
                gap => format!("{} after detection", span(gap)),
            };
            let previous = d
                .previous
                .as_ref()
                .map(|p| format!(" (previous {p})"))
                .unwrap_or_default();
            format!("{} {} was deployed {when}{previous}.", d.service, d.version)
        })
        .collect();
    for (service, version, reasons) in &cx.record.freeze_deploys {
        let why = match reasons.is_empty() {
            true => String::new(),
            false => format!(" ({})", one_line(&reasons.join("; "))),
        };
        facts.push(format!(
            "{service} {version} was deployed while the incident froze its service{why}."
        ));
    }
    for (service, by, reason) in &cx.record.exemptions {
        facts.push(format!(
            "{by} deployed {} during the freeze by exemption: {}",
            service.unwrap_or("a service"),
            one_line(reason)
        ));
    }
    let mut blocks = Vec::new();
    match list(&facts) {
        Some(l) => blocks.push(format!("Changes Firebreak recorded:\n\n{l}")),
        None => blocks.push(
            "Firebreak recorded no deploy before detection and none during the freeze.".to_string(),
        ),
    }
    blocks.push(prompt(
        "What conditions made this incident possible? Look at changes, defaults, limits, \
         missing safeguards, gaps in alerting and the pressures of the moment. Ask \"what made \
         this possible?\" and \"why did it make sense at the time?\", not \"who did it?\". \
         Don't write *human error* as a cause: name the condition that made the slip easy.",
    ));
    blocks
}

/// Acknowledged within or beyond the severity's target: `(within, sentence)`.
fn acknowledgement(cx: &Cx) -> Option<(bool, String)> {
    let i = cx.incident();
    let severity = cx.input.severity.as_ref()?;
    let ResponseTarget::Within(target) = severity.respond_within else {
        return None;
    };
    let Some(ack) = i.acknowledged_at else {
        return (cx.record.paged > 0).then(|| {
            (
                false,
                format!(
                    "Nobody acknowledged the pages; the {} response target is {}.",
                    severity.name,
                    span(target)
                ),
            )
        });
    };
    let took = ack.duration_since(i.detected_at);
    let within = took <= target;
    Some((
        within,
        format!(
            "Acknowledged {} after detection, {} the {} response target of {}.",
            span(took),
            if within { "within" } else { "beyond" },
            severity.name,
            span(target)
        ),
    ))
}

/// What rollbacks did: `(succeeded, sentence)`.
fn rollbacks<'a>(cx: &'a Cx) -> impl Iterator<Item = (bool, String)> + 'a {
    cx.record
        .runs
        .values()
        .filter(|r| r.action == ROLLBACK)
        .map(|r| match (&r.finished, r.refused) {
            (Some(f), _) => (
                f.status == "succeeded",
                format!(
                    "The rollback {} at {}{}.",
                    f.status,
                    cx.clock.at(f.at),
                    outcome_detail(f)
                ),
            ),
            (None, Some(why)) => (
                false,
                format!("The rollback was refused: {}.", one_line(why)),
            ),
            (None, None) => (
                false,
                "The rollback was asked for but never ran.".to_string(),
            ),
        })
}

/// ` (exit 0, 42 s)`.
fn outcome_detail(f: &Finished) -> String {
    let parts: Vec<String> = [
        f.exit_code.map(|c| format!("exit {c}")),
        f.duration_ms
            .map(|ms| span(SignedDuration::from_millis(ms))),
    ]
    .into_iter()
    .flatten()
    .collect();
    match parts.is_empty() {
        true => String::new(),
        false => format!(" ({})", parts.join(", ")),
    }
}

fn went_well(cx: &Cx) -> Vec<String> {
    let i = cx.incident();
    let r = cx.record;
    let mut facts = Vec::new();
    if let Some((true, sentence)) = acknowledgement(cx) {
        facts.push(sentence);
    }
    if r.paged > 0 && r.failed.is_empty() && r.nobody.is_empty() {
        facts.push(format!(
            "Every page went out: {} sent, {} confirmed delivered.",
            r.paged, r.delivered
        ));
    }
    if let Some((at, _, _)) = r.public_updates.first() {
        facts.push(format!(
            "The status page was first updated {} after detection.",
            cx.after_detection(*at)
        ));
    }
    if let Some(every) = cx.input.severity.as_ref().and_then(|s| s.update_every)
        && r.reminders.is_empty()
        && r.any_update
    {
        facts.push(format!(
            "Updates kept to the {} cadence of one every {}: no reminder was needed.",
            i.severity,
            span(every)
        ));
    }
    facts.extend(rollbacks(cx).filter(|(ok, _)| *ok).map(|(_, s)| s));
    facts_then(
        facts,
        "What helped? Alerts, dashboards, runbooks, tools, and the knowledge and decisions that \
         shortened the incident: name them so the team keeps them.",
    )
}

fn went_poorly(cx: &Cx) -> Vec<String> {
    let r = cx.record;
    let mut facts = Vec::new();
    if let Some((false, sentence)) = acknowledgement(cx) {
        facts.push(sentence);
    }
    for (at, policy) in &r.exhausted {
        facts.push(format!(
            "Paging ran out of steps with nobody acknowledging ({policy}, {}).",
            cx.clock.at(*at)
        ));
    }
    if !r.failed.is_empty() {
        facts.push(format!(
            "{} could not be delivered: {}.",
            count(r.failed.len(), "page", "pages"),
            failed_pages(&r.failed)
        ));
    }
    for (target, reason) in &r.nobody {
        facts.push(format!(
            "Nobody could be paged through {target}: {}.",
            one_line(reason)
        ));
    }
    if let Some((_, to, quiet_for)) = r.reminders.first() {
        let to = match to.is_empty() {
            true => "nobody (no one held the role)".to_string(),
            false => to.join(", "),
        };
        facts.push(format!(
            "Updates lapsed: Firebreak sent {} after {quiet_for} without an update (to {to}).",
            count(r.reminders.len(), "update reminder", "update reminders"),
        ));
    }
    facts.extend(rollbacks(cx).filter(|(ok, _)| !*ok).map(|(_, s)| s));
    for run in r.runs.values().filter(|r| r.action != ROLLBACK) {
        if let Some(f) = &run.finished
            && f.status != "succeeded"
        {
            facts.push(format!(
                "Runbook action {} {} at {}{}.",
                run.action,
                f.status,
                cx.clock.at(f.at),
                outcome_detail(f)
            ));
        }
    }
    facts_then(
        facts,
        "Where did the response struggle? Gaps in alerting, access, tooling, documentation or \
         coordination: describe the conditions that made it hard.",
    )
}

fn facts_then(facts: Vec<String>, question: &str) -> Vec<String> {
    let mut blocks = Vec::new();
    if let Some(l) = list(&facts) {
        blocks.push(format!("From the record:\n\n{l}"));
    }
    blocks.push(prompt(question));
    blocks
}

fn action_items(cx: &Cx) -> Vec<String> {
    let lines: Vec<String> = cx
        .input
        .items
        .iter()
        .map(|item| {
            let title = one_line(&item.title);
            let ticket = item
                .ticket_url
                .as_ref()
                .map(|t| format!(" ({t})"))
                .unwrap_or_default();
            match &item.state {
                ItemState::Open => {
                    format!("[ ] {title} — {}, due {}{ticket}", item.owner, item.due)
                }
                ItemState::Done => {
                    format!("[x] {title} — {}, due {}{ticket}", item.owner, item.due)
                }
                ItemState::WontDo { reason } if reason.trim().is_empty() => {
                    format!("[x] ~~{title}~~ — {}, won't do{ticket}", item.owner)
                }
                ItemState::WontDo { reason } => format!(
                    "[x] ~~{title}~~ — {}, won't do: {}{ticket}",
                    item.owner,
                    one_line(reason)
                ),
            }
        })
        .collect();
    match list(&lines) {
        Some(l) => vec![l],
        None => vec![prompt(
            "What will make this less likely, or less harmful, next time? Add each as an action \
             item with one owner and a due date.",
        )],
    }
}

fn security_review(cx: &Cx) -> Vec<String> {
    let r = cx.record;
    let grants: Vec<String> = r.grants.values().map(|g| grant_line(cx, g)).collect();
    let commands: Vec<String> = r
        .commands
        .iter()
        .filter_map(|e| match &e.event {
            TimelineEvent::CommandRun {
                argv,
                exit_code,
                host,
                ..
            } => Some(format!(
                "{} {}{}: {} (exit {exit_code})",
                cx.clock.at(e.at),
                e.actor,
                host.as_ref()
                    .map(|h| format!(" on {h}"))
                    .unwrap_or_default(),
                code(&shell_line(argv))
            )),
            _ => None,
        })
        .collect();
    let runs: Vec<String> = r.runs.values().map(|run| run_line(cx, run)).collect();
    let mut blocks = Vec::new();
    let mut part = |title: &str, lines: &[String], none: &str| {
        blocks.push(match list(lines) {
            Some(l) => format!("**{title}:**\n\n{l}"),
            None => format!("**{title}:** {none}"),
        })
    };
    part(
        "Emergency access (break-glass)",
        &grants,
        "none was asked for.",
    );
    part(
        "Commands run from laptops (`firebreak exec`)",
        &commands,
        "none recorded.",
    );
    part("Runbook actions", &runs, "none ran.");
    for (question, hint) in [
        (
            "Were any credentials exposed, or rotated?",
            "Secrets pasted into chat, shown in a command's output or a screen share, or \
             rotated during the response, and whether each exposed one has been rotated since.",
        ),
        (
            "Was any sensitive data exposed?",
            "Customer or personal data seen, copied or exported while diagnosing, and where it \
             is now.",
        ),
        (
            "Does any access need revoking?",
            "Access granted during the incident that outlived it: break-glass roles, temporary \
             accounts, keys, firewall openings.",
        ),
    ] {
        blocks.push(format!("**{question}**\n\n{}", prompt(hint)));
    }
    blocks
}

fn grant_line(cx: &Cx, g: &Grant) -> String {
    let reason = one_line(g.reason);
    let approved = g
        .approved_by
        .map(|a| format!(", approved by {a}"))
        .unwrap_or_default();
    match g.granted_at {
        Some(from) => {
            let held = match g.ended {
                Some((until, why)) => format!(
                    "for {} ({} to {}, ended: {why})",
                    span(until.duration_since(from)),
                    cx.clock.at(from),
                    cx.clock.at(until)
                ),
                None => format!(
                    "from {} until {} (no end recorded)",
                    cx.clock.at(from),
                    g.expires_at
                        .and_then(|e| e.parse::<Timestamp>().ok())
                        .map(|e| cx.clock.at(e))
                        .unwrap_or_else(|| g.expires_at.unwrap_or("?").to_string())
                ),
            };
            format!(
                "{} held {} {held}{approved}. Reason: {reason}",
                g.user, g.role
            )
        }
        None => format!(
            "{} asked for {} for {}; it was not granted{}. Reason: {reason}",
            g.user,
            g.role,
            g.asked_for.unwrap_or("a while"),
            g.ended
                .map(|(_, why)| format!(" ({why})"))
                .unwrap_or_default()
        ),
    }
}

fn run_line(cx: &Cx, run: &Run) -> String {
    let asked = match run.asked_at {
        Some(at) => format!(
            "{} {}, asked by {}",
            cx.clock.at(at),
            run.action,
            run.asked_by
        ),
        None => run.action.to_string(),
    };
    let approved = run
        .approved_by
        .map(|a| format!(", approved by {a}"))
        .unwrap_or_default();
    let outcome = match (&run.finished, run.refused) {
        (Some(f), _) => format!("{}{}", f.status, outcome_detail(f)),
        (None, Some(why)) => format!("refused: {}", one_line(why)),
        (None, None) => "no result recorded".to_string(),
    };
    let shown = match run.shown.trim().is_empty() {
        true => String::new(),
        false => format!(" — {}", code(&one_line(run.shown))),
    };
    format!("{asked}{approved}: {outcome}{shown}")
}

/// A command line as a shell would read it back: arguments with spaces or quotes are quoted.
pub(super) fn shell_line(argv: &[String]) -> String {
    argv.iter()
        .map(|a| {
            if !a.is_empty()
                && a.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_./=:,@%+".contains(c))
            {
                a.clone()
            } else {
                format!("'{}'", a.replace('\'', r"'\''"))
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}
