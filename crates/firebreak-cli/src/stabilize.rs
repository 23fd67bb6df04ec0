//! `firebreak freeze`, `firebreak break-glass` and `firebreak audit`: the deploy gate for CI,
//! emergency access, and checking the audit log's hash chain.

use std::io::Write;
use std::process::ExitCode;

use clap::{Args, Subcommand};
use firebreak_domain::audit::{AuditContent, Verifier};
use reqwest::Method;
use serde_json::{Value, json};

use crate::error::CliError;
use crate::render::{printable, table};
use crate::{ClientArgs, client_for, write_json};

fn text(v: &Value) -> String {
    crate::render::text(Some(v))
}

/// `firebreak freeze ...`
#[derive(Debug, Clone, Subcommand)]
pub enum FreezeCommand {
    /// The deploy gate for CI: exit 0 when the service is free, 1 when frozen, 3 when unknown
    #[command(after_help = "\
Exit codes: 0 the service may be deployed; 1 it is frozen (the reasons are printed);
3 Firebreak could not tell (unreachable, or the token was refused), so the pipeline
decides whether that fails the build; 2 the command line is wrong.

While a SEV1 or SEV2 is open its services are frozen until it is mitigated, and declared
freezes (firebreak freeze add) hold through their window. Rollbacks are always allowed
(--rollback). An emergency deploy during a freeze needs --emergency with the incident it
is for and a reason; it is recorded on that incident's timeline.

Examples:
  firebreak freeze check --service checkout
  firebreak freeze check --service checkout --rollback
  firebreak freeze check --service checkout --emergency --incident INC-7 \\
      --reason \"hotfix for the outage itself\"")]
    Check {
        /// The service about to be deployed; leave out to ask about any freeze
        #[arg(long)]
        service: Option<String>,
        /// The deploy is a rollback: always allowed
        #[arg(long)]
        rollback: bool,
        /// Deploy anyway during a freeze, recorded on --incident's timeline
        #[arg(long, requires_all = ["incident", "reason"])]
        emergency: bool,
        /// The open incident an emergency deploy is for (INC-7)
        #[arg(long, requires = "emergency")]
        incident: Option<String>,
        /// Why the emergency deploy cannot wait
        #[arg(long, requires = "emergency")]
        reason: Option<String>,
    },
    /// List declared freezes that have not ended
    List,
    /// Declare a freeze: a holiday, a launch
    #[command(after_help = "\
--end is RFC 3339 (2026-12-24T00:00:00Z) or a duration from the start (72h). Without
--service the freeze covers every service.

Examples:
  firebreak freeze add --end 2026-12-27T00:00:00Z --reason \"Holidays: skeleton crew\"
  firebreak freeze add --service checkout --start 2026-11-27T00:00:00Z --end 96h \\
      --reason \"Black Friday\"")]
    Add {
        /// A service it covers; repeat for more; leave out for every service
        #[arg(long = "service", value_name = "NAME")]
        services: Vec<String>,
        /// When it starts (RFC 3339); now when left out
        #[arg(long, value_name = "TIME")]
        start: Option<String>,
        /// When it ends: RFC 3339, or a duration from the start
        #[arg(long, value_name = "TIME")]
        end: String,
        /// Why
        #[arg(long)]
        reason: String,
    },
    /// Lift a declared freeze before its end
    Lift {
        /// Its id, from `firebreak freeze list`
        id: u64,
    },
}

/// `firebreak break-glass ...`
#[derive(Debug, Clone, Args)]
#[command(
    args_conflicts_with_subcommands = true,
    after_help = "\
Takes a higher role while an incident is open, for at most break_glass.max (1h by
default). The grant is announced on the incident's timeline and channels and paged to
the Incident Commander; everything done under it is tagged with its id in the audit log.
It ends by itself at expiry or when the incident resolves. With break_glass.approval the
Incident Commander approves it first (firebreak break-glass approve ID).

Examples:
  firebreak break-glass --incident INC-7 --role admin --for 30m --reason \"rotate the leaked key\"
  firebreak break-glass list
  firebreak break-glass revoke 3"
)]
pub struct BreakGlassArgs {
    #[command(subcommand)]
    pub command: Option<BreakGlassCommand>,
    /// The open incident it is for (INC-7)
    #[arg(long)]
    pub incident: Option<String>,
    /// The role to take: responder or admin
    #[arg(long)]
    pub role: Option<String>,
    /// How long: 30m, 1h
    #[arg(long = "for", value_name = "DURATION")]
    pub duration: Option<String>,
    /// Why: recorded on the timeline and in the audit log
    #[arg(long)]
    pub reason: Option<String>,
}

#[derive(Debug, Clone, Subcommand)]
pub enum BreakGlassCommand {
    /// List grants in force or waiting (or every grant of --incident)
    List {
        #[arg(long)]
        incident: Option<String>,
    },
    /// Approve a waiting grant (the Incident Commander)
    Approve { id: u64 },
    /// End a grant now (its holder, the Incident Commander or an admin)
    Revoke { id: u64 },
}

/// `firebreak audit ...`
#[derive(Debug, Clone, Subcommand)]
pub enum AuditCommand {
    /// Recompute the audit log's hash chain; exit 1 and name the first bad row on tampering
    #[command(after_help = "\
Downloads the log (firebreak audit export) and recomputes every row's hash here, so a
server that was tampered with cannot vouch for itself. --file checks an export kept
elsewhere instead, without a server.

The chain shows any row changed, removed or reordered, except the newest rows removed
together with every row after them: only a copy kept elsewhere shows that. --against
checks that every row of such a copy (an earlier export) is still in the log, unchanged.

Exits 0 when it verifies, 1 on tampering, 2 on a bad command line and 3 when it cannot
tell (the server is unreachable or refused the token).

Examples:
  firebreak audit verify
  firebreak audit verify --against audit-2026-12.jsonl
  firebreak audit verify --file audit-2026-12.jsonl")]
    Verify {
        /// Check this export (JSON lines) instead of the server's log
        #[arg(long, value_name = "FILE")]
        file: Option<std::path::PathBuf>,
        /// An earlier export whose rows must all still be in the log, unchanged
        #[arg(long, value_name = "FILE")]
        against: Option<std::path::PathBuf>,
    },
    /// Write the audit log as JSON lines with each row's hashes, for write-once storage
    #[command(after_help = "\
Examples:
  firebreak audit export > audit.jsonl
  firebreak audit export --since 2026-12-01T00:00:00Z >> audit-2026-12.jsonl")]
    Export {
        /// Only rows written at or after this time (RFC 3339)
        #[arg(long, value_name = "TIME")]
        since: Option<String>,
    },
}

fn reasons(v: &Value) -> Vec<String> {
    v["reasons"]
        .as_array()
        .map(|a| a.iter().map(|r| text(&r["text"])).collect())
        .unwrap_or_default()
}

/// `freeze check`: its own exit codes, since CI reads them.
pub async fn run_freeze_check(cmd: FreezeCommand, args: &ClientArgs) -> ExitCode {
    let FreezeCommand::Check {
        service,
        rollback,
        emergency,
        incident,
        reason,
    } = cmd
    else {
        unreachable!("run_freeze_check takes `freeze check`");
    };
    let mut out = std::io::stdout().lock();
    let api = match client_for(args) {
        Ok(api) => api,
        Err(e) => {
            let code = e.exit_code();
            eprintln!("error: {e}");
            return ExitCode::from(if code == 2 { 2 } else { 3 });
        }
    };
    let mut emergency = emergency;
    let mut answer = if emergency {
        let mut body = json!({
            "incident": incident.clone().unwrap_or_default(),
            "reason": reason.clone().unwrap_or_default(),
        });
        if let Some(s) = &service {
            body["service"] = json!(s);
        }
        api.send(Method::POST, &["freeze", "exemptions"], &body)
            .await
    } else {
        let mut query = Vec::new();
        if let Some(s) = &service {
            query.push(("service", s.clone()));
        }
        if rollback {
            query.push(("rollback", "true".to_string()));
        }
        api.get(&["freeze"], &query).await
    };
    if emergency
        && matches!(&answer, Err(CliError::Problem { status, .. }) if *status != 404 && *status != 422)
    {
        // The server answered and refused the exemption (a viewer's token, a resolved
        // incident): no exemption holds, so the freeze decides, as without --emergency.
        if let Err(e) = answer {
            eprintln!("error: {}", answer_error(e));
        }
        eprintln!("the emergency exemption was refused; checking the freeze without it");
        emergency = false;
        let mut query = Vec::new();
        if let Some(s) = &service {
            query.push(("service", s.clone()));
        }
        answer = api.get(&["freeze"], &query).await;
    }
    let v = match answer {
        Ok(v) => v,
        Err(
            e @ CliError::Problem {
                status: 404 | 422, ..
            },
        ) => {
            // The question was wrong (no such service or incident): a usage error.
            eprintln!("error: {}", answer_error(e));
            return ExitCode::from(2);
        }
        Err(e) => {
            eprintln!("error: {e}");
            eprintln!("cannot tell whether deploys are frozen (exit 3)");
            return ExitCode::from(3);
        }
    };
    if args.json {
        let _ = write_json(&mut out, &v);
    }
    let what = service.as_deref().unwrap_or("deploys");
    let frozen = v["frozen"].as_bool().unwrap_or(false);
    let listed = reasons(&v);
    if emergency {
        if !args.json {
            let _ = writeln!(
                out,
                "EMERGENCY: {what} may deploy during the freeze; recorded on {}'s timeline",
                printable(incident.as_deref().unwrap_or(""))
            );
            for r in &listed {
                let _ = writeln!(out, "  overriding: {r}");
            }
        }
        return ExitCode::SUCCESS;
    }
    if !args.json {
        if frozen {
            let _ = writeln!(out, "FROZEN: {what} must not be deployed now");
            for r in &listed {
                let _ = writeln!(out, "  - {r}");
            }
            let _ = writeln!(
                out,
                "A rollback is always allowed (--rollback). An emergency deploy needs --emergency --incident INC-n --reason \"...\"."
            );
        } else if rollback && !listed.is_empty() {
            let _ = writeln!(out, "OK: rollbacks are always allowed, even now:");
            for r in &listed {
                let _ = writeln!(out, "  - {r}");
            }
        } else {
            let _ = writeln!(out, "OK: {what} may be deployed");
        }
    }
    if frozen {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

fn answer_error(e: CliError) -> String {
    let mut line = e.to_string();
    if let CliError::Problem { errors, .. } = &e {
        for f in errors {
            line.push_str(&format!("\n  {}: {}", f.field, f.message));
        }
    }
    line
}

pub async fn execute_freeze(
    cmd: FreezeCommand,
    args: &ClientArgs,
    out: &mut dyn Write,
) -> Result<(), CliError> {
    let api = client_for(args)?;
    match cmd {
        FreezeCommand::Check { .. } => Err(CliError::Usage(
            "freeze check runs through run_freeze_check".into(),
        )),
        FreezeCommand::List => {
            let v = api.get(&["freezes"], &[]).await?;
            if args.json {
                return write_json(out, &v);
            }
            let items = v["items"].as_array().cloned().unwrap_or_default();
            if items.is_empty() {
                writeln!(out, "No declared freezes.")?;
                return Ok(());
            }
            let mut t = table(&["ID", "FROM", "UNTIL", "SERVICES", "REASON", "BY"]);
            for f in &items {
                let services = f["services"]
                    .as_array()
                    .map(|a| a.iter().map(text).collect::<Vec<_>>().join(", "))
                    .filter(|s| !s.is_empty())
                    .unwrap_or_else(|| "all".into());
                t.add_row(vec![
                    text(&f["id"]),
                    text(&f["starts_at"]),
                    text(&f["ends_at"]),
                    printable(&services),
                    (text(&f["reason"])),
                    (text(&f["created_by"])),
                ]);
            }
            writeln!(out, "{t}")?;
            Ok(())
        }
        FreezeCommand::Add {
            services,
            start,
            end,
            reason,
        } => {
            let ends_at = crate::status::end_time(&end, start.as_deref())?;
            let mut body = json!({"ends_at": ends_at, "reason": reason, "services": services});
            if let Some(s) = start {
                body["starts_at"] = json!(s);
            }
            let v = api.send(Method::POST, &["freezes"], &body).await?;
            if args.json {
                return write_json(out, &v);
            }
            writeln!(
                out,
                "Freeze {} holds from {} until {}.",
                text(&v["id"]),
                text(&v["starts_at"]),
                text(&v["ends_at"])
            )?;
            Ok(())
        }
        FreezeCommand::Lift { id } => {
            let v = api
                .request(Method::DELETE, &["freezes", &id.to_string()], &[], None)
                .await?;
            if args.json {
                return write_json(out, &v);
            }
            writeln!(out, "Freeze {id} lifted.")?;
            Ok(())
        }
    }
}

fn grant_table(items: &[Value]) -> String {
    let mut t = table(&[
        "ID", "INCIDENT", "USER", "ROLE", "STATUS", "EXPIRES", "REASON",
    ]);
    for g in items {
        t.add_row(vec![
            text(&g["id"]),
            text(&g["incident"]),
            (text(&g["user"])),
            text(&g["role"]),
            text(&g["status"]),
            match &g["expires_at"] {
                Value::Null => "-".into(),
                v => text(v),
            },
            (text(&g["reason"])),
        ]);
    }
    t.to_string()
}

pub async fn execute_break_glass(
    cmd: BreakGlassArgs,
    args: &ClientArgs,
    out: &mut dyn Write,
) -> Result<(), CliError> {
    let api = client_for(args)?;
    let v = match cmd.command {
        Some(BreakGlassCommand::List { incident }) => {
            let v = match &incident {
                Some(i) => api.get(&["incidents", i, "break-glass"], &[]).await?,
                None => api.get(&["break-glass"], &[]).await?,
            };
            if args.json {
                return write_json(out, &v);
            }
            let items = v["items"].as_array().cloned().unwrap_or_default();
            if items.is_empty() {
                writeln!(out, "No break-glass grants.")?;
            } else {
                writeln!(out, "{}", grant_table(&items))?;
            }
            return Ok(());
        }
        Some(BreakGlassCommand::Approve { id }) => {
            api.send(
                Method::POST,
                &["break-glass", &id.to_string(), "approve"],
                &json!({}),
            )
            .await?
        }
        Some(BreakGlassCommand::Revoke { id }) => {
            api.send(
                Method::POST,
                &["break-glass", &id.to_string(), "revoke"],
                &json!({}),
            )
            .await?
        }
        None => {
            let missing: Vec<&str> = [
                ("--incident", cmd.incident.is_none()),
                ("--role", cmd.role.is_none()),
                ("--for", cmd.duration.is_none()),
                ("--reason", cmd.reason.is_none()),
            ]
            .into_iter()
            .filter_map(|(f, m)| m.then_some(f))
            .collect();
            if !missing.is_empty() {
                return Err(CliError::Usage(format!(
                    "break-glass needs {}; e.g. firebreak break-glass --incident INC-7 --role admin --for 30m --reason \"...\"",
                    missing.join(", ")
                )));
            }
            let incident = cmd.incident.unwrap_or_default();
            api.send(
                Method::POST,
                &["incidents", &incident, "break-glass"],
                &json!({
                    "role": cmd.role.unwrap_or_default().trim().to_lowercase(),
                    "duration": cmd.duration.unwrap_or_default(),
                    "reason": cmd.reason.unwrap_or_default(),
                }),
            )
            .await?
        }
    };
    if args.json {
        return write_json(out, &v);
    }
    match text(&v["status"]).as_str() {
        "active" => writeln!(
            out,
            "Grant {}: {} holds {} on {} until {}. Everything you do is tagged break_glass: {} in the audit log.",
            text(&v["id"]),
            (text(&v["user"])),
            text(&v["role"]),
            text(&v["incident"]),
            text(&v["expires_at"]),
            text(&v["id"]),
        )?,
        "pending_approval" => writeln!(
            out,
            "Grant {} waits for {}'s Incident Commander: firebreak break-glass approve {}",
            text(&v["id"]),
            text(&v["incident"]),
            text(&v["id"]),
        )?,
        _ => writeln!(
            out,
            "Grant {} ended ({}).",
            text(&v["id"]),
            (text(&v["end_reason"]))
        )?,
    }
    Ok(())
}

/// Whether every row of `kept` (an earlier export) is in `log`, with the same hash: the
/// chain alone cannot show its newest rows removed.
fn still_there(kept: &str, log: &str) -> Result<(), String> {
    let hashes = |body: &str| -> Result<std::collections::HashMap<i64, String>, String> {
        body.lines()
            .enumerate()
            .filter(|(_, l)| !l.trim().is_empty())
            .map(|(n, l)| {
                let row: Value = serde_json::from_str(l)
                    .map_err(|e| format!("line {}: not an audit row: {e}", n + 1))?;
                match (row["id"].as_i64(), row["hash"].as_str()) {
                    (Some(id), Some(hash)) => Ok((id, hash.to_string())),
                    _ => Err(format!("line {}: an audit row needs id and hash", n + 1)),
                }
            })
            .collect()
    };
    let now = hashes(log)?;
    let mut earlier: Vec<(i64, String)> = hashes(kept)?.into_iter().collect();
    earlier.sort();
    for (id, hash) in earlier {
        match now.get(&id) {
            None => return Err(format!("row {id} is gone from the log")),
            Some(h) if *h != hash => {
                return Err(format!("row {id} is not the row that was exported"));
            }
            Some(_) => {}
        }
    }
    Ok(())
}

/// Checks JSON lines of audit rows; the first row may continue an earlier export.
fn verify_lines(body: &str, whole: bool) -> Result<(u64, Option<String>), CliError> {
    let mut v = if whole {
        Verifier::new()
    } else {
        Verifier::after()
    };
    for (n, line) in body.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let row: Value = serde_json::from_str(line)
            .map_err(|e| CliError::Other(format!("line {}: not an audit row: {e}", n + 1)))?;
        let s = |k: &str| row[k].as_str();
        let (Some(id), Some(at_ms), Some(actor), Some(action), Some(target)) = (
            row["id"].as_i64(),
            row["at_ms"].as_i64(),
            s("actor"),
            s("action"),
            s("target"),
        ) else {
            return Err(CliError::Other(format!(
                "line {}: an audit row needs id, at_ms, actor, action and target",
                n + 1
            )));
        };
        let content = AuditContent {
            id,
            at_ms,
            actor,
            action,
            target,
            source: s("source"),
            break_glass: row["break_glass"].as_i64(),
        };
        if let Err(broken) = v.check(&content, s("prev_hash"), s("hash")) {
            return Err(CliError::Other(format!(
                "the audit log does not verify: {broken}"
            )));
        }
    }
    Ok((v.rows(), v.head().map(str::to_string)))
}

pub async fn execute_audit(
    cmd: AuditCommand,
    args: &ClientArgs,
    out: &mut dyn Write,
) -> Result<(), CliError> {
    match cmd {
        AuditCommand::Verify { file, against } => {
            let kept = match &against {
                Some(path) => Some(std::fs::read_to_string(path).map_err(|e| {
                    CliError::Usage(format!("cannot read {}: {e}", path.display()))
                })?),
                None => None,
            };
            let (body, whole) = match &file {
                Some(path) => (
                    std::fs::read_to_string(path).map_err(|e| {
                        CliError::Usage(format!("cannot read {}: {e}", path.display()))
                    })?,
                    false,
                ),
                None => (
                    client_for(args)?
                        .get_text(&["audit", "export"], &[])
                        .await?,
                    true,
                ),
            };
            let (rows, head) = verify_lines(&body, whole)?;
            if let (Some(kept), Some(path)) = (&kept, &against) {
                still_there(kept, &body).map_err(|broken| {
                    CliError::Other(format!(
                        "the audit log does not verify against {}: {broken}",
                        path.display()
                    ))
                })?;
            }
            if args.json {
                return write_json(out, &json!({"ok": true, "rows": rows, "head": head}));
            }
            writeln!(
                out,
                "The audit log verifies: {rows} rows, head {}",
                head.as_deref().unwrap_or("(empty)")
            )?;
            Ok(())
        }
        AuditCommand::Export { since } => {
            let mut query = Vec::new();
            if let Some(s) = since {
                if s.trim().parse::<jiff::Timestamp>().is_err() {
                    return Err(CliError::Usage(format!(
                        "--since {s:?}: expected a time like 2026-12-01T00:00:00Z"
                    )));
                }
                query.push(("since", s));
            }
            let body = client_for(args)?
                .get_text(&["audit", "export"], &query)
                .await?;
            out.write_all(body.as_bytes())?;
            Ok(())
        }
    }
}
