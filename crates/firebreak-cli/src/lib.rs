//! Client side of the `firebreak` binary: clap types for the `incident`,
//! `alert`, `silence`, `integration`, `deploy`, `webhook`, `schedule`, `oncall`,
//! `contact`, `policy`, `escalation`, `postmortem`, `action-item`, `report`,
//! `config`, `token` and `login` commands,
//! and async runners that talk to a Firebreak server over its HTTP API and
//! print tables or JSON.
//!
//! Every `run_*` function prints to stdout/stderr and returns an
//! [`ExitCode`] (0 success, 1 server refused or unreachable, 2 usage error).
//! The `execute_*` functions do the same work against any writer and return
//! a [`CliError`] instead, for tests and embedding.

mod actions;
mod cli;
mod client;
mod config;
mod credentials;
mod error;
mod gameday;
mod heartbeat;
mod ops;
mod paging;
pub mod render;
mod report;
mod review;
mod schedule;
mod stabilize;
mod status;
mod uptime;
mod user;
mod webhook;

use std::io::{Read, Write};
use std::path::Path;
use std::process::ExitCode;

use reqwest::Method;
use serde_json::{Value, json};

pub use actions::{ActionCommand, ExecArgs, RunbookCommand, run_exec};
pub use cli::{ActionItemCommand, PostmortemCommand, ReportCommand, ReportGroupBy, ReportPeriod};
pub use cli::{
    AlertCommand, CONTACT_TYPES, ChecklistAction, ClientArgs, ConfigCommand, ContactCommand,
    DeployCommand, EscalationCommand, IncidentCommand, IntegrationCommand, LoginArgs, OncallArgs,
    OverrideCommand, PolicyCommand, ScheduleCommand, SilenceCommand, TokenCommand, UserCommand,
    WEBHOOK_EVENTS, WebhookCommand,
};
pub use cli::{ComponentCommand, MaintenanceCommand, StatusCommand};
pub use client::ApiClient;
pub use config::execute_config;
pub use credentials::{
    Credentials, ENV_CONFIG_DIR, ENV_SERVER, ENV_TOKEN, Resolved, config_dir, credentials_path,
    load as load_credentials, resolve, resolve_server, resolve_with, save as save_credentials,
};
pub use error::{CliError, FieldError};
pub use gameday::{GamedayCommand, execute_gameday};
pub use heartbeat::{HeartbeatCommand, execute_heartbeat};
pub use ops::{execute_alert, execute_deploy, execute_integration, execute_silence};
pub use paging::{execute_contact, execute_escalation, execute_policy};
pub use report::{csv_field, csv_row, execute_report, human_duration};
pub use review::{Editor, execute_action_item, execute_postmortem};
pub use schedule::{execute_oncall, execute_schedule};
pub use stabilize::{AuditCommand, BreakGlassArgs, BreakGlassCommand, FreezeCommand};
pub use uptime::{UptimeCommand, execute_uptime};
pub use user::execute_user;
pub use webhook::execute_webhook;

/// Print `result` to stdout and map it to an exit code.
fn finish(result: Result<Vec<u8>, CliError>) -> ExitCode {
    match result {
        Ok(out) => {
            let mut stdout = std::io::stdout().lock();
            if let Err(e) = stdout.write_all(&out).and_then(|()| stdout.flush()) {
                if e.kind() == std::io::ErrorKind::BrokenPipe {
                    return ExitCode::SUCCESS;
                }
                return CliError::from(e).print_and_exit_code();
            }
            ExitCode::SUCCESS
        }
        Err(e) => e.print_and_exit_code(),
    }
}

/// Print what a command wrote for standard error (after its standard
/// output, so a captured value comes first on a terminal), then finish.
fn finish_with_notes(result: Result<Vec<u8>, CliError>, notes: &[u8]) -> ExitCode {
    let code = match result {
        Ok(out) => finish(Ok(out)),
        Err(e) => {
            let _ = std::io::stderr().write_all(notes);
            return e.print_and_exit_code();
        }
    };
    let _ = std::io::stderr().write_all(notes);
    code
}

/// Print everything a command wrote, then finish: unlike [`finish_with_notes`], what it wrote
/// on `out` is printed even when it failed (`contact test` shows the receiver's answer, then
/// exits 1).
fn finish_all(result: Result<(), CliError>, out: Vec<u8>, notes: &[u8]) -> ExitCode {
    let Err(e) = result else {
        return finish_with_notes(Ok(out), notes);
    };
    let mut stdout = std::io::stdout().lock();
    let _ = stdout.write_all(&out).and_then(|()| stdout.flush());
    let _ = std::io::stderr().write_all(notes);
    e.print_and_exit_code()
}

/// Run a `contact` subcommand: results on stdout (a webhook's secret alone), guidance on stderr.
pub async fn run_contact(cmd: ContactCommand, args: &ClientArgs) -> ExitCode {
    let (mut out, mut notes) = (Vec::new(), Vec::new());
    let r = execute_contact(cmd, args, &mut out, &mut notes).await;
    finish_all(r, out, &notes)
}

/// Run a `policy` subcommand, printing its output.
pub async fn run_policy(cmd: PolicyCommand, args: &ClientArgs) -> ExitCode {
    let mut out = Vec::new();
    let r = execute_policy(cmd, args, &mut out).await;
    finish(r.map(|()| out))
}

/// Run a `status` subcommand, printing its output.
pub async fn run_status(cmd: StatusCommand, args: &ClientArgs) -> ExitCode {
    let mut out = Vec::new();
    let r = status::execute_status(cmd, args, &mut out).await;
    finish(r.map(|()| out))
}

/// Run a `component` subcommand, printing its output.
pub async fn run_component(cmd: ComponentCommand, args: &ClientArgs) -> ExitCode {
    let mut out = Vec::new();
    let r = status::execute_component(cmd, args, &mut out).await;
    finish(r.map(|()| out))
}

/// Run a `freeze` subcommand. `freeze check` has its own exit codes: 0 free, 1 frozen, 3
/// unknown.
pub async fn run_freeze(cmd: FreezeCommand, args: &ClientArgs) -> ExitCode {
    if matches!(cmd, FreezeCommand::Check { .. }) {
        return stabilize::run_freeze_check(cmd, args).await;
    }
    let mut out = Vec::new();
    let r = stabilize::execute_freeze(cmd, args, &mut out).await;
    finish(r.map(|()| out))
}

/// Run a `runbook` subcommand, printing its output.
pub async fn run_runbook(cmd: RunbookCommand, args: &ClientArgs) -> ExitCode {
    let mut out = Vec::new();
    let r = actions::execute_runbook(cmd, args, &mut out).await;
    finish(r.map(|()| out))
}

/// Run an `action` subcommand, printing its output.
pub async fn run_action(cmd: ActionCommand, args: &ClientArgs) -> ExitCode {
    let mut out = Vec::new();
    let r = actions::execute_action(cmd, args, &mut out).await;
    let code = finish(Ok(out));
    match r {
        Ok(()) => code,
        Err(e) => e.print_and_exit_code(),
    }
}

/// Run `break-glass`, printing its output.
pub async fn run_break_glass(cmd: BreakGlassArgs, args: &ClientArgs) -> ExitCode {
    let mut out = Vec::new();
    let r = stabilize::execute_break_glass(cmd, args, &mut out).await;
    finish(r.map(|()| out))
}

/// Run an `audit` subcommand, printing its output.
pub async fn run_audit(cmd: AuditCommand, args: &ClientArgs) -> ExitCode {
    let verify = matches!(cmd, AuditCommand::Verify { .. });
    let mut out = Vec::new();
    let r = stabilize::execute_audit(cmd, args, &mut out).await;
    match r {
        // `verify` keeps 1 for tampering: a script must tell a broken chain from a check
        // that could not be made.
        Err(e @ (CliError::Unreachable { .. } | CliError::Problem { .. })) if verify => {
            eprintln!("error: {e}");
            eprintln!("cannot tell whether the audit log verifies (exit 3)");
            ExitCode::from(3)
        }
        r => finish(r.map(|()| out)),
    }
}

/// Run a `maintenance` subcommand, printing its output.
pub async fn run_maintenance(cmd: MaintenanceCommand, args: &ClientArgs) -> ExitCode {
    let mut out = Vec::new();
    let r = status::execute_maintenance(cmd, args, &mut out).await;
    finish(r.map(|()| out))
}

/// Run a `postmortem` subcommand. `postmortem check` exits 1 when it lists findings, so CI can
/// gate on it; what the editor flow says on the way goes to standard error at once.
pub async fn run_postmortem(cmd: PostmortemCommand, args: &ClientArgs) -> ExitCode {
    let mut out = Vec::new();
    let r = execute_postmortem(
        cmd,
        args,
        &mut out,
        &mut std::io::stderr(),
        &Editor::from_env(),
    )
    .await;
    finish_all(r, out, &[])
}

/// Run an `action-item` subcommand, printing its output.
pub async fn run_action_item(cmd: ActionItemCommand, args: &ClientArgs) -> ExitCode {
    let mut out = Vec::new();
    let r = execute_action_item(cmd, args, &mut out).await;
    finish(r.map(|()| out))
}

/// Run a `report` subcommand, printing its output.
pub async fn run_report(cmd: ReportCommand, args: &ClientArgs) -> ExitCode {
    let mut out = Vec::new();
    let r = execute_report(cmd, args, &mut out).await;
    finish(r.map(|()| out))
}

/// Run an `escalation` subcommand, printing its output.
pub async fn run_escalation(cmd: EscalationCommand, args: &ClientArgs) -> ExitCode {
    let mut out = Vec::new();
    let r = execute_escalation(cmd, args, &mut out).await;
    finish(r.map(|()| out))
}

/// Run an `alert` subcommand, printing its output.
pub async fn run_alert(cmd: AlertCommand, args: &ClientArgs) -> ExitCode {
    let mut out = Vec::new();
    let r = execute_alert(cmd, args, &mut out).await;
    finish(r.map(|()| out))
}

/// Run a `silence` subcommand, printing its output.
pub async fn run_silence(cmd: SilenceCommand, args: &ClientArgs) -> ExitCode {
    let mut out = Vec::new();
    let r = execute_silence(cmd, args, &mut out).await;
    finish(r.map(|()| out))
}

/// Run an `integration` subcommand: keys on stdout, guidance on stderr.
pub async fn run_integration(cmd: IntegrationCommand, args: &ClientArgs) -> ExitCode {
    let (mut out, mut notes) = (Vec::new(), Vec::new());
    let r = execute_integration(cmd, args, &mut out, &mut notes).await;
    finish_with_notes(r.map(|()| out), &notes)
}

/// Run a `heartbeat` subcommand: the ping URL of `add` on stdout, guidance on stderr.
pub async fn run_heartbeat(cmd: HeartbeatCommand, args: &ClientArgs) -> ExitCode {
    let (mut out, mut notes) = (Vec::new(), Vec::new());
    let r = execute_heartbeat(cmd, args, &mut out, &mut notes).await;
    finish_with_notes(r.map(|()| out), &notes)
}

/// Run a `gameday` subcommand. `run` shows its progress on stderr as it goes and exits 1
/// when any target failed or was not met.
pub async fn run_gameday(cmd: GamedayCommand, args: &ClientArgs) -> ExitCode {
    let mut out = Vec::new();
    let mut err = std::io::stderr();
    match execute_gameday(cmd, args, &mut out, &mut err).await {
        Ok(passed) => match finish(Ok(out)) {
            code if code == ExitCode::SUCCESS && !passed => ExitCode::from(1),
            code => code,
        },
        Err(e) => e.print_and_exit_code(),
    }
}

/// Run an `uptime` subcommand.
pub async fn run_uptime(cmd: UptimeCommand, args: &ClientArgs) -> ExitCode {
    let mut out = Vec::new();
    let r = execute_uptime(cmd, args, &mut out).await;
    finish_with_notes(r.map(|()| out), &[])
}

/// Run a `user` subcommand: the user on stdout, guidance on stderr.
pub async fn run_user(cmd: UserCommand, args: &ClientArgs) -> ExitCode {
    let (mut out, mut notes) = (Vec::new(), Vec::new());
    let r = execute_user(cmd, args, &mut out, &mut notes).await;
    finish_with_notes(r.map(|()| out), &notes)
}

/// Run a `webhook` subcommand: the secret of `webhook add` alone on stdout,
/// the subscription id and guidance on stderr.
pub async fn run_webhook(cmd: WebhookCommand, args: &ClientArgs) -> ExitCode {
    let (mut out, mut notes) = (Vec::new(), Vec::new());
    let r = execute_webhook(cmd, args, &mut out, &mut notes).await;
    finish_with_notes(r.map(|()| out), &notes)
}

/// Run a `schedule` subcommand: tables or JSON on stdout, guidance on stderr.
pub async fn run_schedule(cmd: ScheduleCommand, args: &ClientArgs) -> ExitCode {
    let (mut out, mut notes) = (Vec::new(), Vec::new());
    let r = execute_schedule(cmd, args, &mut out, &mut notes).await;
    finish_with_notes(r.map(|()| out), &notes)
}

/// Run `oncall`: who is on call, per schedule.
pub async fn run_oncall(on: OncallArgs, args: &ClientArgs) -> ExitCode {
    let (mut out, mut notes) = (Vec::new(), Vec::new());
    let r = execute_oncall(on, args, &mut out, &mut notes).await;
    finish_with_notes(r.map(|()| out), &notes)
}

/// Run a `deploy` subcommand: the deployment id on stdout, a summary on
/// stderr.
pub async fn run_deploy(cmd: DeployCommand, args: &ClientArgs) -> ExitCode {
    let (mut out, mut notes) = (Vec::new(), Vec::new());
    let r = execute_deploy(cmd, args, &mut out, &mut notes).await;
    finish_with_notes(r.map(|()| out), &notes)
}

/// Run a `config` subcommand: the file on stdout (or in `--output`), the
/// key variables to set on stderr.
pub async fn run_config(cmd: ConfigCommand, args: &ClientArgs) -> ExitCode {
    let (mut out, mut notes) = (Vec::new(), Vec::new());
    let r = execute_config(cmd, args, &mut out, &mut notes).await;
    finish_with_notes(r.map(|()| out), &notes)
}

/// Run an `incident` subcommand, printing its output.
pub async fn run_incident(cmd: IncidentCommand, args: &ClientArgs) -> ExitCode {
    let mut out = Vec::new();
    let r = execute_incident(cmd, args, &mut out).await;
    finish(r.map(|()| out))
}

/// Run a `token` subcommand over the HTTP API, printing its output.
pub async fn run_token_api(cmd: TokenCommand, args: &ClientArgs) -> ExitCode {
    let mut out = Vec::new();
    let r = execute_token_api(cmd, args, &mut out).await;
    finish(r.map(|()| out))
}

/// Run `login`: verify the token with `GET /me` and store it in
/// [`config_dir`] (`$FIREBREAK_CONFIG_DIR` or `<config dir>/firebreak`).
///
/// `--server`/`--token` also read `FIREBREAK_SERVER` / `FIREBREAK_TOKEN`.
pub async fn run_login(login: LoginArgs) -> ExitCode {
    let Some(dir) = config_dir() else {
        return CliError::Other("cannot find a config directory; set FIREBREAK_CONFIG_DIR".into())
            .print_and_exit_code();
    };
    let mut out = Vec::new();
    let r = execute_login(login, &ClientArgs::default(), &dir, &mut out).await;
    finish(r.map(|()| out))
}

/// Write a JSON value pretty-printed, followed by a newline.
fn write_json(out: &mut dyn Write, v: &Value) -> Result<(), CliError> {
    let s = serde_json::to_string_pretty(v).map_err(|e| CliError::Other(e.to_string()))?;
    writeln!(out, "{s}")?;
    Ok(())
}

fn items(v: &Value) -> Vec<Value> {
    match v {
        Value::Array(a) => a.clone(),
        _ => v
            .get("items")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default(),
    }
}

fn client_for(args: &ClientArgs) -> Result<ApiClient, CliError> {
    let r = resolve(args)?;
    ApiClient::new(&r.server, &r.token)
}

fn read_body(body: String) -> Result<String, CliError> {
    if body != "-" {
        return Ok(body);
    }
    let mut s = String::new();
    std::io::stdin()
        .read_to_string(&mut s)
        .map_err(|e| CliError::Other(format!("cannot read standard input: {e}")))?;
    let s = s.trim_end().to_string();
    if s.trim().is_empty() {
        return Err(CliError::Usage(
            "the note read from standard input is empty".into(),
        ));
    }
    Ok(s)
}

/// Print one incident after a change, as JSON or a summary table.
fn print_incident(
    out: &mut dyn Write,
    json: bool,
    verb: &str,
    inc: &Value,
) -> Result<(), CliError> {
    if json {
        return write_json(out, inc);
    }
    writeln!(
        out,
        "{verb} {}: {}",
        render::text(inc.get("id")),
        render::text(inc.get("title"))
    )?;
    writeln!(
        out,
        "{}",
        render::incidents_table(std::slice::from_ref(inc))
    )?;
    Ok(())
}

/// Run an `incident` subcommand with an explicit output writer.
///
/// Server and token are resolved with [`resolve`].
pub async fn execute_incident(
    cmd: IncidentCommand,
    args: &ClientArgs,
    out: &mut dyn Write,
) -> Result<(), CliError> {
    let api = client_for(args)?;
    execute_incident_with(&api, cmd, args.json, out).await
}

/// Run an `incident` subcommand against a given client.
pub async fn execute_incident_with(
    api: &ApiClient,
    cmd: IncidentCommand,
    json: bool,
    out: &mut dyn Write,
) -> Result<(), CliError> {
    match cmd {
        IncidentCommand::Declare {
            title,
            severity,
            services,
            summary,
            drill,
        } => {
            let mut body = json!({ "title": title, "severity": severity });
            if !services.is_empty() {
                body["services"] = json!(services);
            }
            if let Some(s) = summary {
                body["summary"] = json!(s);
            }
            if drill {
                body["drill"] = json!(true);
            }
            let inc = api.send(Method::POST, &["incidents"], &body).await?;
            print_incident(out, json, "Declared", &inc)
        }
        IncidentCommand::List {
            status,
            severity,
            service,
            open,
            closed,
            drill,
            limit,
            all,
        } => {
            let mut query: Vec<(&str, String)> = Vec::new();
            if let Some(s) = status {
                query.push(("status", s));
            }
            if let Some(s) = severity {
                query.push(("severity", s));
            }
            if let Some(s) = service {
                query.push(("service", s));
            }
            if open {
                query.push(("open", "true".into()));
            } else if closed {
                query.push(("open", "false".into()));
            }
            if let Some(d) = drill {
                query.push(("drill", d.to_string()));
            }
            if let Some(l) = limit {
                query.push(("limit", l.to_string()));
            }
            let first = api.get(&["incidents"], &query).await?;
            let page = if all {
                let mut collected = items(&first);
                let mut cursor = next_cursor(&first);
                let mut pages = 1usize;
                while let Some(c) = cursor {
                    pages += 1;
                    if pages > 10_000 {
                        return Err(CliError::Other("too many pages; giving up".into()));
                    }
                    let mut q = query.clone();
                    q.push(("cursor", c));
                    let next = api.get(&["incidents"], &q).await?;
                    collected.extend(items(&next));
                    cursor = next_cursor(&next);
                }
                json!({ "items": collected, "next_cursor": null })
            } else {
                first
            };
            if json {
                return write_json(out, &page);
            }
            let list = items(&page);
            if list.is_empty() {
                writeln!(out, "No incidents.")?;
            } else {
                writeln!(out, "{}", render::incidents_table(&list))?;
            }
            if let Some(c) = next_cursor(&page) {
                writeln!(out, "More incidents: use --all, or cursor {c}")?;
            }
            Ok(())
        }
        IncidentCommand::Show { id } => {
            let inc = api.get(&["incidents", &id], &[]).await?;
            if json {
                return write_json(out, &inc);
            }
            let timeline = all_timeline(api, &id).await?;
            writeln!(out, "{}", render::incident_details(&inc))?;
            writeln!(out, "\nRoles")?;
            writeln!(out, "{}", render::roles_table(&inc))?;
            writeln!(out, "\nChecklist")?;
            let checklist = inc
                .get("checklist")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            writeln!(out, "{}", render::checklist_table(&checklist))?;
            writeln!(out, "\nTimeline")?;
            writeln!(out, "{}", render::timeline_table(&timeline))?;
            Ok(())
        }
        IncidentCommand::Status {
            id,
            status,
            public_update,
            no_public_update,
        } => {
            let mut body = json!({ "status": status });
            if let Some(text) = public_update {
                body["public_update"] = json!(read_body(text)?);
            } else if no_public_update {
                body["public_update"] = json!(false);
            }
            let inc = api.send(Method::PATCH, &["incidents", &id], &body).await?;
            print_incident(out, json, "Updated", &inc)?;
            if !json {
                status::print_public_outcome(out, &inc)?;
            }
            Ok(())
        }
        IncidentCommand::Update {
            id,
            public,
            internal: _,
            status,
            template,
            components,
            quiet,
            public_title,
            message,
        } => {
            let body = status::update_body(public, status, template, components, quiet, message)?;
            if let Some(t) = public_title {
                api.send(
                    Method::PATCH,
                    &["incidents", &id],
                    &json!({ "public_title": t }),
                )
                .await?;
            }
            let posted = api
                .send(Method::POST, &["incidents", &id, "status-updates"], &body)
                .await?;
            if json {
                return write_json(out, &posted);
            }
            status::print_posted(out, &id, &posted)?;
            if public {
                let inc = api.get(&["incidents", &id], &[]).await?;
                let shown = inc
                    .get("public_title")
                    .filter(|t| t.is_string())
                    .or(inc.get("title"));
                writeln!(
                    out,
                    "The status page shows it as {:?}{}",
                    render::text(shown),
                    if inc["public_title"].is_string() {
                        ""
                    } else {
                        " (its title; give it another with --public-title)"
                    }
                )?;
            }
            Ok(())
        }
        IncidentCommand::Severity {
            id,
            severity,
            reason,
        } => {
            let mut body = json!({ "severity": severity });
            if let Some(r) = reason {
                body["reason"] = json!(r);
            }
            let inc = api.send(Method::PATCH, &["incidents", &id], &body).await?;
            print_incident(out, json, "Updated", &inc)
        }
        IncidentCommand::Assign {
            id,
            role,
            user,
            remove,
        } => {
            let path = ["incidents", id.as_str(), "roles", role.as_str()];
            let inc = if remove {
                api.request(Method::DELETE, &path, &[], None).await?
            } else {
                let user = user.ok_or_else(|| CliError::Usage("USER is required".into()))?;
                api.send(Method::PUT, &path, &json!({ "user": user }))
                    .await?
            };
            print_incident(
                out,
                json,
                if remove { "Unassigned" } else { "Assigned" },
                &inc,
            )
        }
        IncidentCommand::Ack { id } => {
            let inc = api
                .request(Method::POST, &["incidents", id.trim(), "ack"], &[], None)
                .await?;
            if json {
                return write_json(out, &inc);
            }
            let shown = render::text(inc.get("id"));
            writeln!(
                out,
                "Acknowledged {shown}: {}\n\
                 Its escalations page nobody more. Who was paged: firebreak escalation list --incident {shown}",
                render::text(inc.get("title")),
            )?;
            writeln!(
                out,
                "{}",
                render::incidents_table(std::slice::from_ref(&inc))
            )?;
            Ok(())
        }
        IncidentCommand::Note { id, body } => {
            let body = read_body(body)?;
            let entry = api
                .send(
                    Method::POST,
                    &["incidents", &id, "notes"],
                    &json!({ "body": body }),
                )
                .await?;
            if json {
                return write_json(out, &entry);
            }
            writeln!(out, "Added note to {id}")?;
            writeln!(
                out,
                "{}",
                render::timeline_table(std::slice::from_ref(&entry))
            )?;
            Ok(())
        }
        IncidentCommand::Checklist { id, action, item } => match (action, item) {
            (Some(action), Some(item)) => {
                let item = item.to_string();
                let done = action == ChecklistAction::Done;
                let inc = api
                    .send(
                        Method::PUT,
                        &["incidents", &id, "checklist", &item],
                        &json!({ "done": done }),
                    )
                    .await?;
                if json {
                    return write_json(out, &inc);
                }
                let checklist = inc
                    .get("checklist")
                    .and_then(Value::as_array)
                    .cloned()
                    .unwrap_or_default();
                writeln!(out, "{}", render::checklist_table(&checklist))?;
                Ok(())
            }
            (None, None) => {
                let list = api.get(&["incidents", &id, "checklist"], &[]).await?;
                if json {
                    return write_json(out, &list);
                }
                writeln!(out, "{}", render::checklist_table(&items(&list)))?;
                Ok(())
            }
            _ => Err(CliError::Usage(
                "usage: firebreak incident checklist ID [done|undo ITEM]".into(),
            )),
        },
    }
}

/// Every item of a short directory list (`users`, `webhooks`), following `next_cursor` page by
/// page; `what` names the items in the error if the server never stops paging.
async fn all_pages(api: &ApiClient, path: &[&str], what: &str) -> Result<Vec<Value>, CliError> {
    all_pages_where(api, path, &[], what).await
}

/// [`all_pages`] of a filtered list: `filter` is sent with every page.
async fn all_pages_where(
    api: &ApiClient,
    path: &[&str],
    filter: &[(&str, String)],
    what: &str,
) -> Result<Vec<Value>, CliError> {
    const PAGE: &str = "500";
    const MAX_PAGES: usize = 1_000;
    let mut all = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..MAX_PAGES {
        let mut query = filter.to_vec();
        query.push(("limit", PAGE.to_string()));
        if let Some(c) = cursor.take() {
            query.push(("cursor", c));
        }
        let page = api.get(path, &query).await?;
        all.extend(items(&page));
        cursor = next_cursor(&page);
        if cursor.is_none() {
            return Ok(all);
        }
    }
    Err(CliError::Other(format!(
        "the server sent more than {MAX_PAGES} pages of {what}; giving up"
    )))
}

fn next_cursor(page: &Value) -> Option<String> {
    page.get("next_cursor")
        .and_then(Value::as_str)
        .filter(|c| !c.is_empty())
        .map(str::to_string)
}

async fn all_timeline(api: &ApiClient, id: &str) -> Result<Vec<Value>, CliError> {
    let mut collected = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..10_000 {
        let query: Vec<(&str, String)> = cursor.iter().map(|c| ("cursor", c.clone())).collect();
        let page = api.get(&["incidents", id, "timeline"], &query).await?;
        collected.extend(items(&page));
        cursor = next_cursor(&page);
        if cursor.is_none() {
            break;
        }
    }
    Ok(collected)
}

/// Run a `token` subcommand over HTTP with an explicit output writer.
pub async fn execute_token_api(
    cmd: TokenCommand,
    args: &ClientArgs,
    out: &mut dyn Write,
) -> Result<(), CliError> {
    let api = client_for(args)?;
    let json = args.json;
    match cmd {
        TokenCommand::Create {
            name,
            role,
            user,
            expires,
        } => {
            let mut body = json!({ "name": name, "role": role });
            if let Some(user) = user {
                body["user"] = json!(user);
            }
            if let Some(at) = expires {
                body["expires_at"] = json!(at.to_string());
            }
            let tok = api.send(Method::POST, &["tokens"], &body).await?;
            if json {
                return write_json(out, &tok);
            }
            // The token alone on stdout, so `T=$(firebreak token create ...)` works; it is shown only once.
            writeln!(out, "{}", render::text(tok.get("token")))?;
            Ok(())
        }
        TokenCommand::List => {
            let list = api.get(&["tokens"], &[]).await?;
            if json {
                return write_json(out, &list);
            }
            writeln!(out, "{}", render::tokens_table(&items(&list)))?;
            Ok(())
        }
        TokenCommand::Revoke { id } => {
            let tok = api
                .request(Method::DELETE, &["tokens", &id], &[], None)
                .await?;
            if json {
                return write_json(out, &tok);
            }
            writeln!(out, "Revoked token {id}")?;
            writeln!(out, "{}", render::tokens_table(std::slice::from_ref(&tok)))?;
            Ok(())
        }
    }
}

/// Run `login` with an explicit config directory and output writer.
///
/// Server and token come from `login`, then `args` (flags or environment);
/// both are required. The token is checked with `GET /me` before being
/// written to `dir/credentials.json`.
pub async fn execute_login(
    login: LoginArgs,
    args: &ClientArgs,
    dir: &Path,
    out: &mut dyn Write,
) -> Result<(), CliError> {
    let pick = |a: Option<String>, b: Option<String>| {
        a.filter(|s| !s.trim().is_empty())
            .or(b.filter(|s| !s.trim().is_empty()))
    };
    let usage = || CliError::Usage("usage: run firebreak login --server URL --token TOKEN".into());
    let server = pick(login.server, args.server.clone()).ok_or_else(usage)?;
    let token = pick(login.token, args.token.clone()).ok_or_else(usage)?;
    let server = server.trim().trim_end_matches('/').to_string();
    let api = ApiClient::new(&server, &token)?;
    let me = api.get(&["me"], &[]).await?;
    let path = save_credentials(
        dir,
        &Credentials {
            server: server.clone(),
            token,
        },
    )?;
    if args.json {
        return write_json(
            out,
            &json!({ "server": server, "actor": me.get("actor"), "role": me.get("role"), "path": path }),
        );
    }
    writeln!(
        out,
        "Logged in to {server} as {} (role {}); credentials saved to {}",
        render::text(me.get("actor")),
        render::text(me.get("role")),
        path.display()
    )?;
    Ok(())
}
