//! The `uptime` commands: add an uptime check (Firebreak asks a URL or a port whether it
//! answers, every interval), list checks with where each stands, show one, print its recent
//! results, and remove one (`/api/v1/checks`; admins add and remove, everyone reads). The
//! command is `uptime` because `check` validates the config file.

use std::io::Write;

use clap::Subcommand;
use reqwest::Method;
use serde_json::{Value, json};

use crate::cli::ClientArgs;
use crate::error::CliError;
use crate::ops::print_page;
use crate::render::{table, text};
use crate::{all_pages, client_for, write_json};

/// `firebreak uptime ...`
#[derive(Debug, Clone, Subcommand)]
pub enum UptimeCommand {
    /// Add a check: an HTTP(S) URL or a TCP host:port, run every interval
    #[command(after_help = "\
The check runs at once, then every interval. After --failures failed runs in a
row (3 by default) it opens an alert on the service, which pages like any
alert; the first run that passes resolves it. For https targets, a certificate
that expires within 14 days (tls.warn_before) opens a low-urgency warning.
Internal addresses must be allowed in firebreak.yaml's checks.allow.

Examples:
  firebreak uptime add --name api-health --service api --target https://api.example.com/healthz
  firebreak uptime add --name api-health --service api --target https://api.example.com/healthz \\
      --interval 30s --timeout 5s --expect-status 200 --expect-body '\"ok\"' --max-latency 2s
  firebreak uptime add --name db-port --service db --kind tcp --target db.internal:5432 --interval 1m")]
    Add(Box<AddCheck>),
    /// List checks: status (new, up or down), target, interval and the last error
    List,
    /// Show one check by id or name
    Show {
        /// Check id or name
        check: String,
    },
    /// Print a check's recent results, newest first
    Results {
        /// Check id or name
        check: String,
        /// How many (1 to 500)
        #[arg(long, default_value_t = 20)]
        limit: u32,
    },
    /// Remove a check and its history; its open alerts are resolved
    Remove {
        /// Check id or name
        check: String,
    },
}

/// What `firebreak uptime add` takes.
#[derive(Debug, Clone, clap::Args)]
pub struct AddCheck {
    /// Unique name, e.g. api-health
    #[arg(long, value_name = "NAME")]
    pub name: String,
    /// The service its alerts are for
    #[arg(long, value_name = "SERVICE")]
    pub service: String,
    /// http (the target is a URL) or tcp (the target is host:port)
    #[arg(long, value_name = "KIND", default_value = "http")]
    pub kind: String,
    /// A URL (http) or host:port (tcp)
    #[arg(long, value_name = "TARGET")]
    pub target: String,
    /// How often it runs: at least 10s
    #[arg(long, value_name = "SPAN", default_value = "1m")]
    pub interval: String,
    /// How long a run may take: shorter than the interval
    #[arg(long, value_name = "SPAN", default_value = "10s")]
    pub timeout: String,
    /// Failed runs in a row that open the alert (default 3)
    #[arg(long, value_name = "N")]
    pub failures: Option<i64>,
    /// GET (the default) or HEAD
    #[arg(long, value_name = "METHOD")]
    pub method: Option<String>,
    /// The HTTP status the answer must have (default: any 2xx)
    #[arg(long, value_name = "CODE")]
    pub expect_status: Option<i64>,
    /// Text the body must contain
    #[arg(long, value_name = "TEXT")]
    pub expect_body: Option<String>,
    /// A regular expression the body must match
    #[arg(long, value_name = "REGEX")]
    pub expect_regex: Option<String>,
    /// The slowest answer that still passes, e.g. 2s
    #[arg(long, value_name = "SPAN")]
    pub max_latency: Option<String>,
    /// Warn this long before the certificate expires (default 14d)
    #[arg(long, value_name = "SPAN")]
    pub tls_warn_before: Option<String>,
    /// A PEM file (on the Firebreak host) of the private CA that signs the target
    #[arg(long, value_name = "PATH")]
    pub ca_file: Option<String>,
    /// The status page component whose bars show this check's uptime (its id)
    #[arg(long, value_name = "ID")]
    pub component: Option<String>,
}

/// Checks, by name.
fn checks_table(items: &[Value]) -> String {
    let mut t = table(&[
        "ID", "NAME", "SERVICE", "KIND", "TARGET", "EVERY", "STATUS", "LAST RUN", "ERROR",
    ]);
    for c in items {
        t.add_row(vec![
            text(c.get("id")),
            text(c.get("name")),
            text(c.get("service")),
            text(c.get("kind")),
            text(c.get("target")),
            text(c.get("interval")),
            text(c.get("status")),
            text(c.get("last_run")),
            text(c.get("last_error")),
        ]);
    }
    t.to_string()
}

/// Results, newest first.
fn results_table(items: &[Value]) -> String {
    let mut t = table(&["AT", "OK", "STATUS", "LATENCY", "ERROR"]);
    for r in items {
        t.add_row(vec![
            text(r.get("at")),
            if r["ok"] == true { "yes" } else { "NO" }.to_string(),
            text(r.get("status_code")),
            format!("{} ms", text(r.get("latency_ms"))),
            text(r.get("error")),
        ]);
    }
    t.to_string()
}

/// Run an `uptime` subcommand.
pub async fn execute_uptime(
    cmd: UptimeCommand,
    args: &ClientArgs,
    out: &mut dyn Write,
) -> Result<(), CliError> {
    let json = args.json;
    let api = client_for(args)?;
    match cmd {
        UptimeCommand::Add(add) => {
            let AddCheck {
                name,
                service,
                kind,
                target,
                interval,
                timeout,
                failures,
                method,
                expect_status,
                expect_body,
                expect_regex,
                max_latency,
                tls_warn_before,
                ca_file,
                component,
            } = *add;
            let mut body = json!({"name": name.trim(), "service": service.trim(),
                "kind": kind.trim(), "target": target.trim(), "interval": interval.trim(),
                "timeout": timeout.trim()});
            let mut put = |key: &str, value: Option<Value>| {
                if let Some(v) = value {
                    body[key] = v;
                }
            };
            put("failures_before_alert", failures.map(|n| json!(n)));
            put("method", method.map(|m| json!(m)));
            put("component", component.map(|c| json!(c)));
            let expect: serde_json::Map<String, Value> = [
                ("status", expect_status.map(|s| json!(s))),
                ("body", expect_body.map(|b| json!(b))),
                ("body_regex", expect_regex.map(|r| json!(r))),
                ("max_latency", max_latency.map(|l| json!(l))),
            ]
            .into_iter()
            .filter_map(|(k, v)| v.map(|v| (k.to_string(), v)))
            .collect();
            let tls: serde_json::Map<String, Value> = [
                ("warn_before", tls_warn_before.map(|w| json!(w))),
                ("ca_file", ca_file.map(|c| json!(c))),
            ]
            .into_iter()
            .filter_map(|(k, v)| v.map(|v| (k.to_string(), v)))
            .collect();
            if !expect.is_empty() {
                body["expect"] = Value::Object(expect);
            }
            if !tls.is_empty() {
                body["tls"] = Value::Object(tls);
            }
            let c = api.send(Method::POST, &["checks"], &body).await?;
            if json {
                return write_json(out, &c);
            }
            writeln!(
                out,
                "Added check {} ({}): {} {} every {}; {} failed runs in a row open an alert on {}",
                text(c.get("id")),
                text(c.get("name")),
                text(c.get("kind")),
                text(c.get("target")),
                text(c.get("interval")),
                text(c.get("failures_before_alert")),
                text(c.get("service")),
            )?;
            Ok(())
        }
        UptimeCommand::List => {
            let all = all_pages(&api, &["checks"], "checks").await?;
            let page = json!({ "items": all, "next_cursor": null });
            print_page(
                out,
                json,
                &page,
                "No uptime checks. Add one with: firebreak uptime add --name NAME --service SERVICE --target URL",
                checks_table,
                "firebreak uptime list",
            )
        }
        UptimeCommand::Show { check } => {
            let c = api.get(&["checks", check.trim()], &[]).await?;
            if json {
                return write_json(out, &c);
            }
            writeln!(out, "{}", checks_table(std::slice::from_ref(&c)))?;
            if let Some(expires) = c.get("certificate_expires_at").filter(|v| !v.is_null()) {
                let warn = if c["certificate_warning"] == true {
                    " (expiring soon: a warning is open)"
                } else {
                    ""
                };
                writeln!(out, "Certificate expires {}{warn}", text(Some(expires)))?;
            }
            writeln!(out, "Next run {}", text(c.get("next_run_at")))?;
            Ok(())
        }
        UptimeCommand::Results { check, limit } => {
            let r = api
                .get(
                    &["checks", check.trim(), "results"],
                    &[("limit", limit.to_string())],
                )
                .await?;
            if json {
                return write_json(out, &r);
            }
            let items = r.as_array().cloned().unwrap_or_default();
            if items.is_empty() {
                writeln!(out, "No results yet: the check has not run.")?;
            } else {
                writeln!(out, "{}", results_table(&items))?;
            }
            Ok(())
        }
        UptimeCommand::Remove { check } => {
            let check = check.trim();
            api.request(Method::DELETE, &["checks", check], &[], None)
                .await?;
            writeln!(out, "Removed check {check}")?;
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tables_show_where_each_check_stands() {
        let t = checks_table(&[json!({"id": 1, "name": "api-health", "service": "api",
            "kind": "http", "target": "https://api.example.com/healthz", "interval": "30s",
            "status": "down", "last_error": "HTTP 503, expected 2xx"})]);
        assert!(
            t.contains("api-health") && t.contains("HTTP 503, expected 2xx"),
            "{t}"
        );
        let r = results_table(&[
            json!({"at": "2026-11-23T03:00:00Z", "ok": false, "status_code": 503,
                   "latency_ms": 12, "error": "HTTP 503, expected 2xx"}),
            json!({"at": "2026-11-23T02:59:30Z", "ok": true, "status_code": 200,
                   "latency_ms": 9, "error": null}),
        ]);
        assert!(
            r.contains("NO") && r.contains("yes") && r.contains("12 ms"),
            "{r}"
        );
    }
}
