//! The `heartbeat` commands: add a heartbeat (a dead man's switch for a cron job, a backup or
//! Alertmanager's `Watchdog`), list them with where each stands, ping one, and remove one
//! (`/api/v1/heartbeats`; admins add and remove, everyone lists).
//!
//! `heartbeat add` prints the ping URL alone on `out`, so `URL=$(firebreak heartbeat add ...)`
//! works; it holds the key, which is shown only this once. `heartbeat ping` needs no token:
//! the key in the URL is the credential.

use std::io::Write;

use clap::Subcommand;
use reqwest::{Method, Url};
use serde_json::{Value, json};

use crate::cli::ClientArgs;
use crate::client::ApiClient;
use crate::credentials::resolve_server;
use crate::error::CliError;
use crate::ops::print_page;
use crate::render::{table, text};
use crate::{all_pages, client_for, write_json};

/// `firebreak heartbeat ...`
#[derive(Debug, Clone, Subcommand)]
pub enum HeartbeatCommand {
    /// Add a heartbeat and print its ping URL (it holds the key, shown only once)
    #[command(after_help = "\
The ping URL is printed alone on standard output. A new heartbeat waits for
its first ping and is never late before it; after that, a period plus grace
with no ping opens an alert on the service, and the next ping resolves it.

Examples:
  firebreak heartbeat add --name nightly-backup --service db --period 1d --grace 1h
  URL=$(firebreak heartbeat add --name watchdog --service monitoring --period 5m --grace 5m)")]
    Add {
        /// Unique name, e.g. nightly-backup
        #[arg(long, value_name = "NAME")]
        name: String,
        /// The service its alert is for
        #[arg(long, value_name = "SERVICE")]
        service: String,
        /// How often a ping is expected: 5m, 1h, 1d, 1w (at least 1m)
        #[arg(long, value_name = "SPAN")]
        period: String,
        /// How long past a missed period to wait before opening the alert (default 0s)
        #[arg(long, value_name = "SPAN")]
        grace: Option<String>,
    },
    /// List heartbeats: status (new, up or down), last ping and when each is due
    List,
    /// Ping a heartbeat (or report a failure) by its ping URL or key; needs no token
    #[command(after_help = "\
Examples:
  firebreak heartbeat ping https://firebreak.example.com/api/v1/heartbeats/KEY
  firebreak heartbeat ping KEY --fail --reason \"pg_dump exited 1\"")]
    Ping {
        /// The ping URL `heartbeat add` printed, or just its key
        target: String,
        /// Report a failure: the alert opens at once
        #[arg(long)]
        fail: bool,
        /// Why it failed (with --fail), up to 1,000 characters
        #[arg(long, value_name = "TEXT", requires = "fail")]
        reason: Option<String>,
    },
    /// Remove a heartbeat; an open alert of it is resolved
    Remove {
        /// Heartbeat id, from `firebreak heartbeat list`
        id: String,
    },
}

/// Heartbeats, by name.
fn heartbeats_table(items: &[Value]) -> String {
    let mut t = table(&[
        "ID",
        "NAME",
        "SERVICE",
        "STATUS",
        "PERIOD",
        "GRACE",
        "LAST PING",
        "DUE",
        "KEY",
    ]);
    for h in items {
        let due = match h.get("status").and_then(Value::as_str) {
            Some("down") => format!("down since {}", text(h.get("down_since"))),
            _ => text(h.get("due_at")),
        };
        t.add_row(vec![
            text(h.get("id")),
            text(h.get("name")),
            text(h.get("service")),
            text(h.get("status")),
            text(h.get("period")),
            text(h.get("grace")),
            text(h.get("last_ping")),
            due,
            format!("…{}", text(h.get("key_hint"))),
        ]);
    }
    t.to_string()
}

/// The URL to ping for `target`: the URL itself, or the key below the configured server.
fn ping_url(target: &str, args: &ClientArgs) -> Result<Url, CliError> {
    let target = target.trim();
    if target.starts_with("http://") || target.starts_with("https://") {
        return Url::parse(target)
            .map_err(|_| CliError::Usage("the ping URL is not a valid URL".into()));
    }
    // A ping needs no token, so the usual "firebreak login" advice does not fit.
    let server = resolve_server(args).map_err(|e| match e {
        CliError::Usage(_) => CliError::Usage(
            "give the whole ping URL that `heartbeat add` printed \
             (https://HOST/api/v1/heartbeats/KEY), or --server URL with the key"
                .into(),
        ),
        other => other,
    })?;
    let api = ApiClient::new(&server, "")?;
    Ok(api.url(&["heartbeats", target]))
}

/// Run a `heartbeat` subcommand. The ping URL of `add` goes alone to `out`; guidance to `err`.
pub async fn execute_heartbeat(
    cmd: HeartbeatCommand,
    args: &ClientArgs,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<(), CliError> {
    let json = args.json;
    match cmd {
        HeartbeatCommand::Add {
            name,
            service,
            period,
            grace,
        } => {
            let api = client_for(args)?;
            let mut body =
                json!({"name": name.trim(), "service": service.trim(), "period": period.trim()});
            if let Some(g) = grace {
                body["grace"] = json!(g.trim());
            }
            let h = api.send(Method::POST, &["heartbeats"], &body).await?;
            if json {
                return write_json(out, &h);
            }
            let url = text(h.get("ping_url"));
            writeln!(out, "{url}")?;
            writeln!(
                err,
                "Added heartbeat {} ({}) for service {}: a ping every {} with {} grace.\n\
                 The URL printed above holds its key and is shown only this once.\n\
                 Ping it after each run, and report failures at its /fail:\n\
                 \x20 0 3 * * * /usr/local/bin/backup.sh && curl -fsS -m 10 --retry 3 -o /dev/null <URL> \
                 || curl -fsS -m 10 --retry 3 -o /dev/null <URL>/fail",
                text(h.get("id")),
                text(h.get("name")),
                text(h.get("service")),
                text(h.get("period")),
                text(h.get("grace")),
            )?;
            Ok(())
        }
        HeartbeatCommand::List => {
            let api = client_for(args)?;
            let all = all_pages(&api, &["heartbeats"], "heartbeats").await?;
            let page = json!({ "items": all, "next_cursor": null });
            print_page(
                out,
                json,
                &page,
                "No heartbeats. Add one with: firebreak heartbeat add --name NAME --service SERVICE --period 1h",
                heartbeats_table,
                "firebreak heartbeat list",
            )
        }
        HeartbeatCommand::Ping {
            target,
            fail,
            reason,
        } => {
            let mut url = ping_url(&target, args)?;
            if fail {
                url.path_segments_mut()
                    .map_err(|_| CliError::Usage("the ping URL is not a valid URL".into()))?
                    .pop_if_empty()
                    .push("fail");
            }
            let origin = url.origin().ascii_serialization();
            let api = ApiClient::new(&origin, "")?;
            let answer = api.post_keyed(url, reason.unwrap_or_default()).await?;
            if json {
                return write_json(out, &answer);
            }
            writeln!(
                out,
                "Heartbeat {} is {}",
                text(answer.get("name")),
                text(answer.get("status"))
            )?;
            Ok(())
        }
        HeartbeatCommand::Remove { id } => {
            let api = client_for(args)?;
            let id = id.trim();
            api.request(Method::DELETE, &["heartbeats", id], &[], None)
                .await?;
            writeln!(out, "Removed heartbeat {id}")?;
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_shows_where_each_heartbeat_stands() {
        let t = heartbeats_table(&[
            json!({"id": 1, "name": "backup", "service": "db", "status": "down",
                   "period": "1d", "grace": "1h", "down_since": "2026-11-23T04:00:00Z",
                   "key_hint": "abcd"}),
            json!({"id": 2, "name": "watchdog", "service": "monitoring", "status": "new",
                   "period": "5m", "grace": "5m", "key_hint": "wxyz"}),
        ]);
        assert!(t.contains("down since 2026-11-23T04:00:00Z"), "{t}");
        assert!(t.contains("…wxyz") && t.contains("new"), "{t}");
    }
}
