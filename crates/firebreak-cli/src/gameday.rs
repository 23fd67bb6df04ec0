//! The `gameday` commands: check a scenario file, run it against a server, and list past game
//! days with their scores.
//!
//! `gameday run` starts the game day (`POST /api/v1/gamedays`), then injects each event at its
//! offset through the real paths a sender uses: alerts to the integration URLs in the sender's
//! own format, check failures through the generic endpoint, deploys through the deploy API and
//! customer reports through the reports API, each marked with `?gameday=ID` (or `"gameday"` in
//! the report) so everything it opens is a drill. `--speed N` divides the waits between events;
//! the targets are never compressed, since people answer in real time. While it runs it shows
//! what was injected, who was paged, who acknowledged and what is still expected. It ends when
//! every event is injected and every target passed or failed, or at `--until`; then it finishes
//! the game day and prints the score card.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use clap::Subcommand;
use firebreak_config::{EventKind, Scenario, ScenarioEvent, SenderFormat};
use indicatif::{ProgressBar, ProgressStyle};
use reqwest::{Method, Url};
use serde_json::{Value, json};

use crate::cli::ClientArgs;
use crate::client::ApiClient;
use crate::error::CliError;
use crate::render::{table, text};
use crate::{client_for, write_json};

/// How often a running game day's score is read.
const POLL: Duration = Duration::from_millis(500);

/// `firebreak gameday ...`
#[derive(Debug, Clone, Subcommand)]
pub enum GamedayCommand {
    /// Check a scenario file: print what it would do, or its errors with file:line (exit 2)
    Check {
        /// The scenario file (YAML)
        file: PathBuf,
    },
    /// Run a scenario against the server in drill mode and print the score card
    #[command(after_help = "\
Exit status: 0 when every target passed, 1 when any failed or was not met,
2 on a bad scenario or bad arguments.

Examples:
  firebreak gameday run examples/gamedays/failed-deploy.yaml --speed 10
  firebreak gameday run scenario.yaml --until 30m --json")]
    Run {
        /// The scenario file (YAML)
        file: PathBuf,
        /// Divide the waits between events by N (the targets are not compressed)
        #[arg(long, value_name = "N", default_value = "1")]
        speed: f64,
        /// Stop waiting after this long (wall clock); targets still open are `not met`
        #[arg(long, value_name = "DURATION", default_value = "1h")]
        until: String,
        /// Print the score card as Markdown
        #[arg(long, conflicts_with = "json")]
        markdown: bool,
    },
    /// List game days, newest first, with their scores
    List,
}

/// Run a `gameday` subcommand. Returns whether the game day passed (for `run`; `true`
/// otherwise).
pub async fn execute_gameday(
    cmd: GamedayCommand,
    args: &ClientArgs,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<bool, CliError> {
    match cmd {
        GamedayCommand::Check { file } => {
            let scenario = load(&file)?;
            describe(&scenario, out)?;
            Ok(true)
        }
        GamedayCommand::Run {
            file,
            speed,
            until,
            markdown,
        } => {
            let scenario = load(&file)?;
            if !(speed.is_finite() && (0.01..=10_000.0).contains(&speed)) {
                return Err(CliError::Usage(
                    "--speed must be a number from 0.01 to 10000".into(),
                ));
            }
            let until = firebreak_config::parse_duration(&until)
                .and_then(|d| Duration::try_from(d).ok())
                .ok_or_else(|| {
                    CliError::Usage(format!(
                        "--until: invalid duration {until:?}; expected one like 90s, 15m or 1h"
                    ))
                })?;
            let api = client_for(args)?;
            let card = run(&api, &scenario, speed, until, err).await?;
            let passed = card
                .get("card")
                .and_then(|c| c.get("targets"))
                .and_then(Value::as_array)
                .is_some_and(|ts| {
                    ts.iter()
                        .all(|t| t.get("outcome").and_then(Value::as_str) == Some("passed"))
                });
            if args.json {
                write_json(out, &card)?;
            } else if markdown {
                writeln!(out, "{}", text(card.get("markdown")))?;
            } else {
                writeln!(out, "{}", score_table(&card))?;
            }
            Ok(passed)
        }
        GamedayCommand::List => {
            let api = client_for(args)?;
            let page = api
                .get(&["gamedays"], &[("limit", "200".to_string())])
                .await?;
            if args.json {
                write_json(out, &page)?;
                return Ok(true);
            }
            let items = page
                .get("items")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            if items.is_empty() {
                writeln!(
                    out,
                    "No game days yet. Run one with: firebreak gameday run examples/gamedays/failed-deploy.yaml"
                )?;
                return Ok(true);
            }
            let mut t = table(&[
                "ID", "NAME", "SERVICE", "STARTED", "STATUS", "SCORE", "INCIDENT",
            ]);
            for g in &items {
                let score = match (g.get("passed"), g.get("total")) {
                    (Some(Value::Number(p)), Some(Value::Number(n))) => format!("{p}/{n}"),
                    _ => "-".into(),
                };
                t.add_row(vec![
                    text(g.get("id")),
                    text(g.get("name")),
                    text(g.get("service")),
                    text(g.get("started_at")),
                    text(g.get("status")),
                    score,
                    text(g.get("incident")),
                ]);
            }
            writeln!(out, "{t}")?;
            Ok(true)
        }
    }
}

fn load(file: &std::path::Path) -> Result<Scenario, CliError> {
    firebreak_config::load_scenario(file).map_err(|e| CliError::Usage(e.to_string()))
}

/// What `gameday check` prints: the scenario, its events and its targets.
fn describe(s: &Scenario, out: &mut dyn Write) -> Result<(), CliError> {
    writeln!(
        out,
        "Scenario \"{}\": service {}, severity {}, {} events",
        s.name,
        s.service,
        s.severity,
        s.events.len()
    )?;
    for e in &s.events {
        writeln!(
            out,
            "  at {:>7}  {}",
            firebreak_config::format_duration(e.at),
            event_line(e)
        )?;
    }
    writeln!(out, "Targets:")?;
    let t = &s.targets;
    if t.response_time {
        writeln!(out, "  response time: the severity's respond_within")?;
    }
    for (label, span) in [
        ("acknowledged within", t.acknowledged_within),
        ("declared within", t.declared_within),
        ("IC assigned within", t.ic_assigned_within),
        ("first status update within", t.first_status_update_within),
        ("mitigated within", t.mitigated_within),
    ] {
        if let Some(d) = span {
            writeln!(out, "  {label} {}", firebreak_config::format_duration(d))?;
        }
    }
    if t.postmortem_drafted {
        writeln!(out, "  postmortem drafted during the run")?;
    }
    Ok(())
}

/// One line saying what an event injects.
fn event_line(e: &ScenarioEvent) -> String {
    match &e.kind {
        EventKind::Deploy(body) => format!("deploy {}", text(body.get("version"))),
        EventKind::Alert { id, sender, body } => format!(
            "alert ({}){}: {}",
            sender.as_str(),
            id.as_ref().map(|i| format!(" `{i}`")).unwrap_or_default(),
            summary_of(*sender, body)
        ),
        EventKind::Resolve {
            alert: Some(id), ..
        } => format!("resolve alert `{id}`"),
        EventKind::Resolve { sender, .. } => format!(
            "resolve ({})",
            sender.map(SenderFormat::as_str).unwrap_or("?")
        ),
        EventKind::CheckFailure { check, error, .. } => {
            format!("check {check} fails: {error}")
        }
        EventKind::Report { summary, count, .. } => {
            format!("{count} customer report(s): {summary}")
        }
    }
}

/// The summary a sender's body carries, as far as it can be told.
fn summary_of(sender: SenderFormat, body: &Value) -> String {
    let found = match sender {
        SenderFormat::Alertmanager | SenderFormat::Grafana => body
            .pointer("/commonAnnotations/summary")
            .or_else(|| body.pointer("/alerts/0/annotations/summary"))
            .or_else(|| body.pointer("/commonLabels/alertname")),
        SenderFormat::PagerDuty => body.pointer("/payload/summary"),
        SenderFormat::Opsgenie => body.get("message"),
        SenderFormat::Generic => body.get("summary"),
    };
    found.and_then(Value::as_str).unwrap_or("").to_string()
}

/// Shows progress: a spinner with the latest line on a terminal, plain lines otherwise.
struct Progress<'a> {
    bar: Option<ProgressBar>,
    err: &'a mut dyn Write,
    started: Instant,
}

impl Progress<'_> {
    fn line(&mut self, msg: &str) {
        let line = format!("[{:>6.1}s] {msg}", self.started.elapsed().as_secs_f64());
        match &self.bar {
            Some(bar) => bar.println(line),
            None => {
                let _ = writeln!(self.err, "{line}");
                let _ = self.err.flush();
            }
        }
    }

    fn status(&self, msg: String) {
        if let Some(bar) = &self.bar {
            bar.set_message(msg);
        }
    }
}

/// What the last look at the score showed, to say only what changed.
#[derive(Default)]
struct Seen {
    paged: Vec<String>,
    acknowledged: Vec<String>,
    settled: Vec<String>,
    incidents: Vec<String>,
}

impl Seen {
    fn report(&mut self, score: &Value, progress: &mut Progress<'_>) {
        let list = |key: &str| -> Vec<String> {
            score
                .pointer(&format!("/card/activity/{key}"))
                .and_then(Value::as_array)
                .map(|a| a.iter().map(|v| text(Some(v))).collect())
                .unwrap_or_default()
        };
        for (key, seen, verb) in [
            ("incidents", &mut self.incidents, "drill incident"),
            ("paged", &mut self.paged, "paged"),
            ("acknowledged", &mut self.acknowledged, "acknowledged by"),
        ] {
            for item in list(key) {
                if !seen.contains(&item) {
                    progress.line(&format!("{verb} {item}"));
                    seen.push(item);
                }
            }
        }
        let targets = score
            .pointer("/card/targets")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let mut expected = Vec::new();
        for t in &targets {
            let name = text(t.get("target"));
            let outcome = text(t.get("outcome"));
            if outcome == "pending" {
                expected.push(name);
            } else if !self.settled.contains(&name) {
                let measured = t
                    .get("measured")
                    .and_then(Value::as_str)
                    .map(|m| format!(" in {m}"))
                    .unwrap_or_default();
                progress.line(&format!("target {name}: {outcome}{measured}"));
                self.settled.push(name);
            }
        }
        progress.status(if expected.is_empty() {
            "every target settled".into()
        } else {
            format!("still expected: {}", expected.join(", "))
        });
    }
}

/// Runs a game day and returns the finished game day (`GET /api/v1/gamedays/{id}`'s body).
async fn run(
    api: &ApiClient,
    s: &Scenario,
    speed: f64,
    until: Duration,
    err: &mut dyn Write,
) -> Result<Value, CliError> {
    let started = api
        .send(
            Method::POST,
            &["gamedays"],
            &json!({
                "name": s.name,
                "service": s.service,
                "severity": s.severity,
                "targets": serde_json::to_value(&s.targets)
                    .map_err(|e| CliError::Other(e.to_string()))?,
            }),
        )
        .await?;
    let id = started
        .get("id")
        .and_then(Value::as_i64)
        .ok_or_else(|| CliError::Other("the server did not answer with a game day id".into()))?;
    let bar = std::io::stderr().is_terminal().then(|| {
        let bar = ProgressBar::new_spinner();
        bar.set_style(
            ProgressStyle::with_template("{spinner} {elapsed} {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        bar.enable_steady_tick(Duration::from_millis(120));
        bar
    });
    let mut progress = Progress {
        bar,
        err,
        started: Instant::now(),
    };
    progress.line(&format!(
        "game day {id} started: \"{}\" on {} ({}), speed x{speed}, until {}",
        s.name,
        s.service,
        s.severity,
        firebreak_config::format_duration(
            jiff::SignedDuration::try_from(until).unwrap_or_default()
        )
    ));
    let id_text = id.to_string();
    if let Err(e) = play(api, s, speed, until, &id_text, id, &mut progress).await {
        // Finish it, so it does not stay `running` with nobody injecting; the card then counts
        // what happened until now.
        let finished = api
            .request(Method::POST, &["gamedays", &id_text, "finish"], &[], None)
            .await
            .is_ok();
        if let Some(bar) = &progress.bar {
            bar.finish_and_clear();
        }
        let state = if finished {
            format!("game day {id} was finished early (`firebreak gameday list` shows it)")
        } else {
            format!(
                "game day {id} is still running; finish it with `POST /api/v1/gamedays/{id}/finish`"
            )
        };
        return Err(match e {
            // The server refused what the scenario sends (an integration key it does not
            // know, a service): the scenario is wrong, as for `gameday check`.
            CliError::Problem {
                status: 401 | 403 | 404 | 422,
                ..
            } => CliError::Usage(format!(
                "the scenario could not be played: {e}; {state}. Check the scenario's \
                 integrations: against `firebreak integration list`"
            )),
            other => CliError::Other(format!("{other}; {state}")),
        });
    }
    let done = api
        .request(Method::POST, &["gamedays", &id_text, "finish"], &[], None)
        .await?;
    if let Some(bar) = &progress.bar {
        bar.finish_and_clear();
    }
    let passed = text(done.get("passed"));
    let total = text(done.get("total"));
    progress.line(&format!(
        "game day {id} finished: {passed} of {total} targets passed"
    ));
    Ok(done)
}

/// Injects the scenario's events on time and follows the score until every target is settled
/// or `until` passes.
async fn play(
    api: &ApiClient,
    s: &Scenario,
    speed: f64,
    until: Duration,
    id_text: &str,
    id: i64,
    progress: &mut Progress<'_>,
) -> Result<(), CliError> {
    let mut seen = Seen::default();
    let start = Instant::now();
    let deadline = start + until;
    let mut injected = 0;
    for event in &s.events {
        let offset = Duration::try_from(event.at)
            .unwrap_or_default()
            .div_f64(speed);
        let due = start + offset;
        while Instant::now() < due {
            if Instant::now() >= deadline {
                break;
            }
            let score = api.get(&["gamedays", id_text], &[]).await?;
            seen.report(&score, progress);
            let wait = due
                .saturating_duration_since(Instant::now())
                .min(POLL)
                .min(deadline.saturating_duration_since(Instant::now()));
            tokio::time::sleep(wait).await;
        }
        if Instant::now() >= deadline {
            progress.line("--until reached before every event was injected");
            break;
        }
        inject(api, s, event, id).await?;
        injected += 1;
        progress.line(&format!("injected {}", event_line(event)));
    }
    if injected == s.events.len() {
        progress.line("every event injected; waiting for the team");
    }
    loop {
        let score = api.get(&["gamedays", id_text], &[]).await?;
        seen.report(&score, progress);
        if score.get("settled").and_then(Value::as_bool) == Some(true) {
            break;
        }
        let now = Instant::now();
        if now >= deadline {
            progress.line("--until reached; targets still open are not met");
            break;
        }
        tokio::time::sleep(POLL.min(deadline - now)).await;
    }
    Ok(())
}

/// Sends one event through the path a real sender (or support tool, or CI) uses.
async fn inject(
    api: &ApiClient,
    s: &Scenario,
    event: &ScenarioEvent,
    id: i64,
) -> Result<(), CliError> {
    match &event.kind {
        EventKind::Deploy(fields) => {
            let mut body = fields.clone();
            body["service"] = json!(s.service);
            body["source"] = json!("gameday");
            // A rehearsed deploy: the drill's suspect, counted in DORA only with drills.
            body["drill"] = json!(true);
            api.send(Method::POST, &["deployments"], &body).await?;
        }
        EventKind::Alert { sender, body, .. } => {
            send_alert(api, s, *sender, body.clone(), id).await?;
        }
        EventKind::Resolve {
            alert: Some(name), ..
        } => {
            let (sender, body) = s
                .events
                .iter()
                .find_map(|e| match &e.kind {
                    EventKind::Alert {
                        id: Some(i),
                        sender,
                        body,
                    } if i == name => Some((*sender, body.clone())),
                    _ => None,
                })
                .ok_or_else(|| CliError::Usage(format!("no alert has id `{name}`")))?;
            send_alert(api, s, sender, resolved(sender, body), id).await?;
        }
        EventKind::Resolve {
            sender: Some(sender),
            body: Some(body),
            ..
        } => {
            send_alert(api, s, *sender, body.clone(), id).await?;
        }
        EventKind::Resolve { .. } => {}
        EventKind::CheckFailure {
            check,
            error,
            severity,
        } => {
            let body = json!({
                "summary": format!("Check {check} is failing: {error}"),
                "severity": severity,
                "dedup_key": format!("check/{check}"),
                "status": "firing",
                "source": "uptime check",
                "labels": {"check": check, "service": s.service},
                "details": {"check": check, "error": error},
            });
            send_alert(api, s, SenderFormat::Generic, body, id).await?;
        }
        EventKind::Report {
            summary,
            component,
            service,
            reporter,
            count,
        } => {
            let mut body = json!({"summary": summary, "drill": true, "gameday": id});
            match (component, service) {
                (None, None) => body["service"] = json!(s.service),
                (c, sv) => {
                    if let Some(c) = c {
                        body["component"] = json!(c);
                    }
                    if let Some(sv) = sv {
                        body["service"] = json!(sv);
                    }
                }
            }
            if let Some(r) = reporter {
                body["reporter"] = json!(r);
            }
            for _ in 0..*count {
                api.send(Method::POST, &["reports"], &body).await?;
            }
        }
    }
    Ok(())
}

/// The body of an alert, resolved in its own format.
fn resolved(sender: SenderFormat, mut body: Value) -> Value {
    match sender {
        SenderFormat::Alertmanager | SenderFormat::Grafana => {
            body["status"] = json!("resolved");
            if let Some(alerts) = body.get_mut("alerts").and_then(Value::as_array_mut) {
                for a in alerts {
                    a["status"] = json!("resolved");
                }
            }
        }
        SenderFormat::Generic => body["status"] = json!("resolved"),
        SenderFormat::PagerDuty => body["event_action"] = json!("resolve"),
        // Refused when the scenario is checked.
        SenderFormat::Opsgenie => {}
    }
    body
}

/// Stamps the sender's own times with the moment of injection, as a real sender would: an
/// alert starts (or ends, when resolved) now, not at the time written in the scenario file, so
/// the drill incident is detected when its alert arrives and the deploy just before it is its
/// suspect.
fn stamped(sender: SenderFormat, mut body: Value, now: jiff::Timestamp) -> Value {
    let now = json!(now.to_string());
    match sender {
        SenderFormat::Alertmanager | SenderFormat::Grafana => {
            if let Some(alerts) = body.get_mut("alerts").and_then(Value::as_array_mut) {
                for a in alerts {
                    let resolved = a.get("status").and_then(Value::as_str) == Some("resolved");
                    if resolved {
                        a["endsAt"] = now.clone();
                    } else if a.get("startsAt").is_some() {
                        a["startsAt"] = now.clone();
                    }
                }
            }
        }
        SenderFormat::PagerDuty => {
            if let Some(payload) = body.get_mut("payload").and_then(Value::as_object_mut)
                && payload.contains_key("timestamp")
            {
                payload.insert("timestamp".into(), now);
            }
        }
        SenderFormat::Generic | SenderFormat::Opsgenie => {}
    }
    body
}

/// Sends an alert body to the sender's integration URL, in drill mode for game day `id`.
async fn send_alert(
    api: &ApiClient,
    s: &Scenario,
    sender: SenderFormat,
    body: Value,
    id: i64,
) -> Result<(), CliError> {
    let mut body = stamped(sender, body, jiff::Timestamp::now());
    let key = s.key_for(sender).ok_or_else(|| {
        CliError::Usage(format!(
            "the scenario has no integration key for {}",
            sender.as_str()
        ))
    })?;
    let (mut url, auth): (Url, Option<String>) = match sender {
        SenderFormat::PagerDuty => {
            body["routing_key"] = json!(key);
            (api.beside_api(&["v2", "enqueue"]), None)
        }
        SenderFormat::Opsgenie => (
            api.beside_api(&["v2", "alerts"]),
            Some(format!("GenieKey {key}")),
        ),
        other => (api.url(&["ingest", other.as_str(), key]), None),
    };
    url.query_pairs_mut()
        .append_pair("gameday", &id.to_string());
    api.post_sender(url, body.to_string(), auth).await?;
    Ok(())
}

/// The score card as a table, with what the team did below it.
fn score_table(done: &Value) -> String {
    let mut t = table(&["TARGET", "LIMIT", "MEASURED", "RESULT"]);
    let targets = done
        .pointer("/card/targets")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    for target in &targets {
        t.add_row(vec![
            text(target.get("target")),
            target
                .get("limit")
                .and_then(Value::as_str)
                .unwrap_or("during the run")
                .to_string(),
            text(target.get("measured")),
            text(target.get("outcome")),
        ]);
    }
    let mut out = format!(
        "Game day {} \"{}\": {} of {} targets passed\n{t}\n",
        text(done.get("id")),
        text(done.get("name")),
        text(done.get("passed")),
        text(done.get("total")),
    );
    for (key, label) in [
        ("incidents", "Drill incidents"),
        ("paged", "Paged"),
        ("acknowledged", "Acknowledged by"),
        ("roles", "Roles filled"),
        ("checklist", "Checklist items ticked"),
        ("runbook_actions", "Runbook actions used"),
        ("status_updates", "Status updates"),
    ] {
        let items: Vec<String> = done
            .pointer(&format!("/card/activity/{key}"))
            .and_then(Value::as_array)
            .map(|a| a.iter().map(|v| text(Some(v))).collect())
            .unwrap_or_default();
        let shown = if items.is_empty() {
            "none".to_string()
        } else {
            items.join("; ")
        };
        out.push_str(&format!("{label}: {shown}\n"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolving_keeps_the_senders_format() {
        let am = resolved(
            SenderFormat::Alertmanager,
            json!({"status": "firing", "alerts": [{"status": "firing"}]}),
        );
        assert_eq!(am["status"], "resolved");
        assert_eq!(am["alerts"][0]["status"], "resolved");
        let pd = resolved(SenderFormat::PagerDuty, json!({"event_action": "trigger"}));
        assert_eq!(pd["event_action"], "resolve");
    }

    #[test]
    fn alerts_start_and_end_when_they_are_injected() {
        let now: jiff::Timestamp = "2027-03-01T02:00:00Z".parse().unwrap();
        let firing = json!({"status": "firing", "alerts": [
            {"status": "firing", "startsAt": "2026-12-04T10:00:00Z",
             "endsAt": "0001-01-01T00:00:00Z"}]});
        let am = stamped(SenderFormat::Alertmanager, firing.clone(), now);
        assert_eq!(am["alerts"][0]["startsAt"], "2027-03-01T02:00:00Z");
        assert_eq!(am["alerts"][0]["endsAt"], "0001-01-01T00:00:00Z");
        let gone = stamped(
            SenderFormat::Alertmanager,
            resolved(SenderFormat::Alertmanager, firing),
            now,
        );
        assert_eq!(gone["alerts"][0]["startsAt"], "2026-12-04T10:00:00Z");
        assert_eq!(gone["alerts"][0]["endsAt"], "2027-03-01T02:00:00Z");
        let pd = stamped(
            SenderFormat::PagerDuty,
            json!({"payload": {"summary": "x", "timestamp": "2026-12-04T10:00:00Z"}}),
            now,
        );
        assert_eq!(pd["payload"]["timestamp"], "2027-03-01T02:00:00Z");
        let untimed = stamped(SenderFormat::PagerDuty, json!({"payload": {}}), now);
        assert_eq!(untimed, json!({"payload": {}}));
    }

    #[test]
    fn the_table_shows_each_target_and_what_the_team_did() {
        let t = score_table(&json!({
            "id": 3, "name": "Failed deploy", "passed": 1, "total": 2,
            "card": {"targets": [
                {"target": "acknowledged_within", "limit": "5m", "measured": "40s", "outcome": "passed"},
                {"target": "postmortem_drafted", "limit": null, "measured": null, "outcome": "not met"}
            ], "activity": {"paged": ["alice"], "roles": []}}
        }));
        assert!(t.contains("1 of 2 targets passed"), "{t}");
        assert!(t.contains("not met") && t.contains("during the run"), "{t}");
        assert!(
            t.contains("Paged: alice") && t.contains("Roles filled: none"),
            "{t}"
        );
    }
}
