//! `firebreak runbook`, `firebreak action` and `firebreak exec`: the runbooks next to an
//! incident, running their actions (dry run, approval), and recording commands run from a
//! laptop on the incident's timeline.

use std::io::{Read, Write};
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use clap::{Args, Subcommand};
use reqwest::Method;
use serde_json::{Value, json};

use crate::error::CliError;
use crate::render::{printable, table};
use crate::{ApiClient, ClientArgs, client_for, resolve, write_json};

fn text(v: &Value) -> String {
    crate::render::text(Some(v))
}

/// `firebreak runbook ...`
#[derive(Debug, Clone, Subcommand)]
pub enum RunbookCommand {
    /// List the runbooks, their services and actions
    List,
    /// Show a runbook: its body and its actions
    Show {
        /// The runbook's name
        name: String,
    },
    /// List alert names seen lately that have no runbook
    #[command(after_help = "\
If an alert has no runbook, it is a tuning problem, not a paging problem. An alert counts
as covered when a runbook covers its service (and matches it), when its sender linked a
runbook (Alertmanager's runbook_url annotation, a PagerDuty link named runbook), or when its
service has a runbook URL.

Examples:
  firebreak runbook coverage
  firebreak runbook coverage --days 7")]
    Coverage {
        /// How many days back to look
        #[arg(long, default_value_t = 30)]
        days: u16,
    },
}

/// `firebreak action ...`
#[derive(Debug, Clone, Subcommand)]
pub enum ActionCommand {
    /// Run a runbook action on an incident (or show exactly what it would run)
    #[command(after_help = "\
Firebreak fills in {service}, {version}, {previous_version} and {incident} from the
incident and its suspect deploy; give other parameters with --param. Each value must match
its pattern and becomes exactly one argument. --dry-run prints the exact argv or request,
secrets masked, and runs nothing. An action with approval waits for a second person:
firebreak action approve RUN.

Examples:
  firebreak action run rollback --incident INC-7 --param namespace=shop --dry-run
  firebreak action run rollback --incident INC-7 --param namespace=shop")]
    Run {
        /// The action's name, from `firebreak runbook list`
        name: String,
        #[arg(long)]
        incident: String,
        /// A parameter, NAME=VALUE; repeat for more
        #[arg(long = "param", value_name = "NAME=VALUE")]
        params: Vec<String>,
        /// Show the exact argv or request, secrets masked, and run nothing
        #[arg(long)]
        dry_run: bool,
        /// Return at once instead of waiting for the run to end
        #[arg(long)]
        no_wait: bool,
    },
    /// Approve a run that waits for a second person (never your own)
    Approve {
        /// The run's id
        run: i64,
    },
    /// Show a run: its status, exit code and output
    Show {
        /// The run's id
        run: i64,
    },
    /// List an incident's action runs
    List {
        #[arg(long)]
        incident: String,
    },
}

/// `firebreak exec ...`
#[derive(Debug, Clone, Args)]
#[command(after_help = "\
Runs the command here, as given (no shell), with your terminal, and records on the incident's
timeline what ran, its exit code, how long it took and the end of its output, with values of
secret-looking environment variables (..._TOKEN, ..._SECRET, ..._PASSWORD, ..._KEY) redacted.
Exits with the command's own exit code. If Firebreak cannot be reached the command still runs;
the record is kept and sent by the next `firebreak exec`.

Examples:
  firebreak exec --incident INC-7 -- kubectl rollout undo deployment/api
  firebreak exec --incident INC-7 -- psql -c 'select pg_cancel_backend(4242)'")]
pub struct ExecArgs {
    /// The incident the command is for
    #[arg(long)]
    pub incident: String,
    /// The command and its arguments, after --
    #[arg(last = true, required = true, value_name = "COMMAND")]
    pub command: Vec<String>,
}

fn params_object(params: &[String]) -> Result<Value, CliError> {
    let mut map = serde_json::Map::new();
    for p in params {
        let (k, v) = p
            .split_once('=')
            .ok_or_else(|| CliError::Usage(format!("--param {p:?}: write it as NAME=VALUE")))?;
        map.insert(k.trim().to_string(), json!(v));
    }
    Ok(Value::Object(map))
}

fn print_run(out: &mut dyn Write, r: &Value) -> Result<(), CliError> {
    if r["dry_run"] == true {
        writeln!(
            out,
            "Dry run of {} on {}: nothing ran. It would run:",
            text(&r["action"]),
            text(&r["incident"])
        )?;
    } else {
        writeln!(
            out,
            "Run {} of {} on {}: {}",
            text(&r["id"]),
            text(&r["action"]),
            text(&r["incident"]),
            text(&r["status"])
        )?;
    }
    if let Some(argv) = r["argv"].as_array() {
        for e in r["env"].as_array().into_iter().flatten() {
            writeln!(out, "  env  {}", text(e))?;
        }
        let args: Vec<String> = argv.iter().map(|a| format!("{:?}", text(a))).collect();
        writeln!(out, "  argv [{}]", args.join(", "))?;
    }
    if let Some(req) = r["request"].as_object() {
        writeln!(
            out,
            "  {} {}",
            text(&req["method"]),
            printable(&text(&req["url"]))
        )?;
        for (k, v) in req["headers"].as_object().into_iter().flatten() {
            writeln!(out, "  {k}: {}", text(v))?;
        }
        if let Some(b) = req["body"].as_str() {
            writeln!(out, "  body {}", printable(b))?;
        }
    }
    if r["status"] == "pending_approval" {
        writeln!(
            out,
            "Waits for a second person until {}: firebreak action approve {}",
            text(&r["approve_by"]),
            text(&r["id"])
        )?;
    }
    if let Some(code) = r["exit_code"].as_i64() {
        writeln!(out, "  exit code {code}")?;
    }
    if let Some(e) = r["error"].as_str() {
        writeln!(out, "  {}", printable(e))?;
    }
    if let Some(o) = r["output"].as_str().filter(|o| !o.is_empty()) {
        writeln!(out, "--- output ---")?;
        for line in o.lines() {
            writeln!(out, "{}", printable(line))?;
        }
    }
    Ok(())
}

pub async fn execute_runbook(
    cmd: RunbookCommand,
    args: &ClientArgs,
    out: &mut dyn Write,
) -> Result<(), CliError> {
    let api = client_for(args)?;
    match cmd {
        RunbookCommand::List => {
            let v = api.get(&["runbooks"], &[]).await?;
            if args.json {
                return write_json(out, &v);
            }
            let items = v["items"].as_array().cloned().unwrap_or_default();
            if items.is_empty() {
                writeln!(
                    out,
                    "No runbooks. Add them under runbooks: in firebreak.yaml."
                )?;
                return Ok(());
            }
            let mut t = table(&["RUNBOOK", "SERVICES", "MATCH", "ACTIONS"]);
            for r in &items {
                let actions: Vec<String> = r["actions"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|a| {
                        let mut s = text(&a["name"]);
                        if a["approval"] == true {
                            s.push_str(" (approval)");
                        }
                        s
                    })
                    .collect();
                t.add_row(vec![
                    text(&r["name"]),
                    text(&r["services"]),
                    text(&r["match"]),
                    if actions.is_empty() {
                        "-".into()
                    } else {
                        actions.join(", ")
                    },
                ]);
            }
            writeln!(out, "{t}")?;
            Ok(())
        }
        RunbookCommand::Show { name } => {
            let r = api.get(&["runbooks", &name], &[]).await?;
            if args.json {
                return write_json(out, &r);
            }
            writeln!(
                out,
                "{} (services: {})",
                text(&r["name"]),
                text(&r["services"])
            )?;
            if let Some(u) = r["url"].as_str() {
                writeln!(out, "{}", printable(u))?;
            }
            writeln!(out)?;
            for line in r["body"].as_str().unwrap_or_default().lines() {
                writeln!(out, "{}", printable(line))?;
            }
            for a in r["actions"].as_array().into_iter().flatten() {
                writeln!(
                    out,
                    "\naction {} ({}, role {}{}): {}",
                    text(&a["name"]),
                    text(&a["kind"]),
                    text(&a["role"]),
                    if a["approval"] == true {
                        ", needs approval"
                    } else {
                        ""
                    },
                    text(&a["run"]).replace(", ", " ")
                )?;
            }
            Ok(())
        }
        RunbookCommand::Coverage { days } => {
            let v = api
                .get(&["runbooks", "coverage"], &[("days", days.to_string())])
                .await?;
            if args.json {
                return write_json(out, &v);
            }
            let items = v["items"].as_array().cloned().unwrap_or_default();
            if items.is_empty() {
                writeln!(out, "Every alert of the last {days} days had a runbook.")?;
                return Ok(());
            }
            writeln!(
                out,
                "Alert names of the last {days} days with no runbook (a tuning problem, not a paging problem):"
            )?;
            let mut t = table(&["SERVICE", "ALERT", "ALERTS", "LAST SEEN"]);
            for u in &items {
                t.add_row(vec![
                    text(&u["service"]),
                    text(&u["alertname"]),
                    text(&u["alerts"]),
                    text(&u["last_seen"]),
                ]);
            }
            writeln!(out, "{t}")?;
            Ok(())
        }
    }
}

/// Waits until a run is no longer running (or pending approval, which needs someone else).
async fn wait_for(api: &ApiClient, mut r: Value) -> Result<Value, CliError> {
    let started = Instant::now();
    while r["status"] == "running" && started.elapsed() < Duration::from_secs(3600) {
        tokio::time::sleep(Duration::from_millis(500)).await;
        r = api.get(&["runs", &text(&r["id"])], &[]).await?;
    }
    Ok(r)
}

pub async fn execute_action(
    cmd: ActionCommand,
    args: &ClientArgs,
    out: &mut dyn Write,
) -> Result<(), CliError> {
    let api = client_for(args)?;
    let r = match cmd {
        ActionCommand::Run {
            name,
            incident,
            params,
            dry_run,
            no_wait,
        } => {
            let body = json!({"params": params_object(&params)?, "dry_run": dry_run});
            let r = api
                .send(
                    Method::POST,
                    &["incidents", &incident, "actions", &name, "runs"],
                    &body,
                )
                .await?;
            if dry_run || no_wait {
                r
            } else {
                wait_for(&api, r).await?
            }
        }
        ActionCommand::Approve { run } => {
            let r = api
                .send(
                    Method::POST,
                    &["runs", &run.to_string(), "approve"],
                    &json!({}),
                )
                .await?;
            wait_for(&api, r).await?
        }
        ActionCommand::Show { run } => api.get(&["runs", &run.to_string()], &[]).await?,
        ActionCommand::List { incident } => {
            let v = api.get(&["incidents", &incident, "runs"], &[]).await?;
            if args.json {
                return write_json(out, &v);
            }
            let items = v["items"].as_array().cloned().unwrap_or_default();
            if items.is_empty() {
                writeln!(out, "No action runs on {incident}.")?;
                return Ok(());
            }
            let mut t = table(&["RUN", "ACTION", "STATUS", "BY", "APPROVED BY", "EXIT"]);
            for r in &items {
                t.add_row(vec![
                    text(&r["id"]),
                    text(&r["action"]),
                    text(&r["status"]),
                    printable(&text(&r["requested_by"])),
                    printable(&text(&r["approved_by"])),
                    text(&r["exit_code"]),
                ]);
            }
            writeln!(out, "{t}")?;
            return Ok(());
        }
    };
    if args.json {
        return write_json(out, &r);
    }
    print_run(out, &r)?;
    match r["status"].as_str() {
        Some("failed") | Some("interrupted") | Some("refused") => Err(CliError::Other(format!(
            "run {} {}",
            text(&r["id"]),
            text(&r["status"])
        ))),
        _ => Ok(()),
    }
}

// --- exec ------------------------------------------------------------------------------------

const SPOOL: &str = "pending-commands.jsonl";
const TAIL_BYTES: usize = 4000;

/// Values in the environment that look like secrets, to redact from what is recorded.
fn secret_values() -> Vec<String> {
    let mut values: Vec<String> = std::env::vars()
        .filter(|(k, v)| {
            let k = k.to_uppercase();
            v.len() >= 4
                && ["TOKEN", "SECRET", "PASSWORD", "PASSWD", "KEY", "CREDENTIAL"]
                    .iter()
                    .any(|w| k.contains(w))
        })
        .map(|(_, v)| v)
        .collect();
    values.sort_by_key(|v| std::cmp::Reverse(v.len()));
    values
}

/// The arguments with the values of secret-looking options masked: `--password=x`,
/// `--token x`, `--secret-access-key x`, `-H 'Authorization: Bearer x'`, curl's `-u user:x`,
/// `--from-literal=password=x`, MySQL's `-px`, and `user:password@` in URLs.
fn mask_arguments(argv: &[String]) -> Vec<String> {
    const SECRET_WORDS: [&str; 9] = [
        "password",
        "passwd",
        "token",
        "secret",
        "api-key",
        "api_key",
        "apikey",
        "credential",
        "private-key",
    ];
    let secret_name = |name: &str| {
        let name = name.trim_start_matches('-').to_lowercase();
        SECRET_WORDS.iter().any(|w| name.contains(w)) || name == "auth" || name.ends_with("-auth")
    };
    let secret_flag = |a: &str| a.starts_with("--") && secret_name(a);
    let program = argv
        .first()
        .map(|p| p.rsplit('/').next().unwrap_or(p).to_string())
        .unwrap_or_default();
    let mysql = matches!(
        program.as_str(),
        "mysql" | "mysqldump" | "mysqladmin" | "mariadb" | "mariadb-dump"
    );
    let mut out = Vec::with_capacity(argv.len());
    let mut mask_next = false;
    let mut user_next = false;
    for a in argv {
        if mask_next {
            out.push("[redacted]".to_string());
            mask_next = false;
            continue;
        }
        if user_next {
            // curl -u user:password
            user_next = false;
            if let Some((user, _)) = a.split_once(':') {
                out.push(format!("{user}:[redacted]"));
                continue;
            }
        }
        if let Some((flag, value)) = a.split_once('=') {
            if secret_flag(flag) {
                out.push(format!("{flag}=[redacted]"));
                continue;
            }
            // kubectl create secret --from-literal=password=x, env-style KEY=value.
            if let Some((key, _)) = value.split_once('=')
                && secret_name(key)
            {
                out.push(format!("{flag}={key}=[redacted]"));
                continue;
            }
            if !flag.starts_with('-') && secret_name(flag) {
                out.push(format!("{flag}=[redacted]"));
                continue;
            }
        }
        if secret_flag(a) {
            mask_next = true;
            out.push(a.clone());
            continue;
        }
        if a == "-u" || a == "--user" {
            user_next = true;
            out.push(a.clone());
            continue;
        }
        if mysql && a.starts_with("-p") && a.len() > 2 && !a.starts_with("--") {
            out.push("-p[redacted]".to_string());
            continue;
        }
        let lower = a.to_lowercase();
        if lower.starts_with("authorization:") || lower.starts_with("x-api-key:") {
            let name = a.split(':').next().unwrap_or_default();
            out.push(format!("{name}: [redacted]"));
            continue;
        }
        // user:password@host in a URL.
        if let Some(scheme) = a.find("://")
            && let Some(at) = a[scheme + 3..].find('@')
            && a[scheme + 3..scheme + 3 + at].contains(':')
        {
            let userinfo = &a[scheme + 3..scheme + 3 + at];
            let user = userinfo.split(':').next().unwrap_or_default();
            out.push(format!(
                "{}{user}:[redacted]{}",
                &a[..scheme + 3],
                &a[scheme + 3 + at..]
            ));
            continue;
        }
        out.push(a.clone());
    }
    out
}

fn redact(text: &str, secrets: &[String]) -> String {
    let mut out = text.to_string();
    for s in secrets {
        out = out.replace(s.as_str(), "[redacted]");
    }
    out
}

/// Copies a child's stream to ours, keeping the last bytes for the record.
fn tee(
    mut from: impl Read + Send + 'static,
    mut to: impl Write + Send + 'static,
    kept: Arc<Mutex<Vec<u8>>>,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let mut buf = [0u8; 8192];
        loop {
            match from.read(&mut buf) {
                Ok(0) | Err(_) => return,
                Ok(n) => {
                    let _ = to.write_all(&buf[..n]);
                    let _ = to.flush();
                    let mut k = kept.lock().unwrap_or_else(|p| p.into_inner());
                    k.extend_from_slice(&buf[..n]);
                    if k.len() > 4 * TAIL_BYTES {
                        let cut = k.len() - TAIL_BYTES;
                        k.drain(..cut);
                    }
                }
            }
        }
    })
}

fn spool_path() -> Option<std::path::PathBuf> {
    crate::config_dir().map(|d| d.join(SPOOL))
}

/// Sends records kept while Firebreak could not be reached. Quiet unless something is sent.
async fn flush_spool(api: &ApiClient) {
    let Some(path) = spool_path() else {
        return;
    };
    let Ok(text) = std::fs::read_to_string(&path) else {
        return;
    };
    let mut kept = Vec::new();
    let mut sent = 0;
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let Ok(v) = serde_json::from_str::<Value>(line) else {
            continue;
        };
        let incident = text_of(&v["incident"]);
        match api
            .send(
                Method::POST,
                &["incidents", &incident, "commands"],
                &v["body"],
            )
            .await
        {
            Ok(_) => sent += 1,
            Err(CliError::Problem { status, .. })
                if (400..500).contains(&status) && status != 401 && status != 403 =>
            {
                eprintln!(
                    "firebreak: dropped a kept command record for {incident}: the server refused it ({status})"
                );
            }
            Err(_) => kept.push(line.to_string()),
        }
    }
    let rest = if kept.is_empty() {
        String::new()
    } else {
        kept.join("\n") + "\n"
    };
    if rest.is_empty() {
        let _ = std::fs::remove_file(&path);
    } else {
        let _ = std::fs::write(&path, rest);
    }
    if sent > 0 {
        eprintln!("firebreak: recorded {sent} command(s) kept while Firebreak was unreachable");
    }
}

fn text_of(v: &Value) -> String {
    v.as_str().unwrap_or_default().to_string()
}

fn keep(incident: &str, body: &Value) -> Option<std::path::PathBuf> {
    let path = spool_path()?;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).ok()?;
    }
    let line = json!({"incident": incident, "body": body}).to_string() + "\n";
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .ok()?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600));
    }
    f.write_all(line.as_bytes()).ok()?;
    Some(path)
}

fn host() -> Option<String> {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
}

/// `firebreak exec`: runs the command here, whatever happens to Firebreak, and records it.
pub async fn run_exec(cmd: ExecArgs, args: &ClientArgs) -> ExitCode {
    let api = resolve(args)
        .ok()
        .and_then(|r| ApiClient::new(&r.server, &r.token).ok());
    if let Some(api) = &api {
        flush_spool(api).await;
    }
    let Some((program, rest)) = cmd.command.split_first() else {
        eprintln!("error: give the command after --");
        return ExitCode::from(2);
    };
    let started = Instant::now();
    let child = std::process::Command::new(program)
        .args(rest)
        .stdin(std::process::Stdio::inherit())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn();
    let (code, kept) = match child {
        Err(e) => {
            eprintln!("firebreak: could not start {program:?}: {e}");
            (127, format!("could not start: {e}").into_bytes())
        }
        Ok(mut child) => {
            let kept = Arc::new(Mutex::new(Vec::new()));
            let out = child
                .stdout
                .take()
                .map(|s| tee(s, std::io::stdout(), kept.clone()));
            let err = child
                .stderr
                .take()
                .map(|s| tee(s, std::io::stderr(), kept.clone()));
            let status = child.wait();
            for t in [out, err].into_iter().flatten() {
                let _ = t.join();
            }
            let code = match status {
                Ok(s) => s.code().unwrap_or_else(|| {
                    #[cfg(unix)]
                    {
                        use std::os::unix::process::ExitStatusExt;
                        128 + s.signal().unwrap_or(0)
                    }
                    #[cfg(not(unix))]
                    {
                        1
                    }
                }),
                Err(_) => 1,
            };
            let kept = kept.lock().unwrap_or_else(|p| p.into_inner()).clone();
            (code, kept)
        }
    };
    let took = started.elapsed();
    let secrets = secret_values();
    let output = String::from_utf8_lossy(&kept);
    let tail_text = {
        let t = output.as_ref();
        let mut start = t.len().saturating_sub(TAIL_BYTES);
        while !t.is_char_boundary(start) {
            start += 1;
        }
        redact(&t[start..], &secrets)
    };
    let body = json!({
        "argv": mask_arguments(&cmd.command).iter().map(|a| redact(a, &secrets)).collect::<Vec<_>>(),
        "exit_code": code,
        "duration_ms": took.as_millis().min(i32::MAX as u128) as u64,
        "output_tail": tail_text,
        "host": host(),
    });
    let recorded = match &api {
        Some(api) => api
            .send(Method::POST, &["incidents", &cmd.incident, "commands"], &body)
            .await
            .map(|_| ()),
        None => Err(CliError::Usage(
            "no Firebreak server is configured (firebreak login, or FIREBREAK_SERVER and FIREBREAK_TOKEN)".into(),
        )),
    };
    match recorded {
        Ok(()) => eprintln!(
            "firebreak: recorded on {}'s timeline (exit {code}, {} ms)",
            cmd.incident,
            took.as_millis()
        ),
        Err(CliError::Problem {
            status,
            title,
            detail,
            ..
        }) if (400..500).contains(&status) && status != 401 && status != 403 => {
            eprintln!(
                "firebreak: the command ran, but Firebreak refused the record: {title}{}",
                detail.map(|d| format!(": {d}")).unwrap_or_default()
            );
        }
        Err(e) => match keep(&cmd.incident, &body) {
            Some(path) => eprintln!(
                "firebreak: the command ran, but it could not be recorded ({e}); kept in {} and sent by the next `firebreak exec`",
                path.display()
            ),
            None => eprintln!("firebreak: the command ran, but it could not be recorded: {e}"),
        },
    }
    ExitCode::from(u8::try_from(code.clamp(0, 255)).unwrap_or(1))
}

#[cfg(test)]
mod tests {
    use super::mask_arguments;

    #[test]
    fn secret_looking_arguments_are_masked() {
        let argv: Vec<String> = [
            "curl",
            "-H",
            "Authorization: Bearer abc123",
            "--token",
            "t0ken",
            "--db-password=hunter2",
            "https://ops:pa55@db.example.com/x",
            "--namespace",
            "shop",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let masked = mask_arguments(&argv).join(" ");
        for secret in ["abc123", "t0ken", "hunter2", "pa55"] {
            assert!(!masked.contains(secret), "{masked}");
        }
        assert!(masked.contains("--namespace shop"), "{masked}");
        assert!(
            masked.contains("https://ops:[redacted]@db.example.com/x"),
            "{masked}"
        );
    }

    #[test]
    fn credentials_in_the_usual_shapes_are_masked() {
        let cases: [&[&str]; 5] = [
            &["curl", "-u", "admin:hunter2", "https://x"],
            &[
                "kubectl",
                "create",
                "secret",
                "generic",
                "db",
                "--from-literal=password=hunter3",
            ],
            &["mysql", "-phunter4", "-h", "db"],
            &["aws", "--secret-access-key", "hunter5", "s3", "ls"],
            &["env", "DB_PASSWORD=hunter6", "./migrate"],
        ];
        for argv in cases {
            let argv: Vec<String> = argv.iter().map(|s| s.to_string()).collect();
            let masked = mask_arguments(&argv).join(" ");
            assert!(!masked.contains("hunter"), "{masked}");
            assert!(masked.contains("[redacted]"), "{masked}");
        }
        let plain: Vec<String> = ["kubectl", "rollout", "undo", "deployment/api", "-n", "shop"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(mask_arguments(&plain), plain);
        // `-p` means a port or a path to most programs: only MySQL's is a password.
        let port: Vec<String> = ["ssh", "-p2222", "host"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(mask_arguments(&port), port);
    }
}
