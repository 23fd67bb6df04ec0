//! The `alert`, `silence`, `integration` and `deploy` commands: the alerting
//! side of the API.
//!
//! Each `execute_*` function writes its result to `out` (standard output)
//! and any guidance meant for a human to `err` (standard error), so that
//! commands whose output is captured by scripts (`integration create`,
//! `integration rotate`, `deploy record`) print exactly one value on `out`.

use std::io::Write;

use reqwest::Method;
use serde_json::{Value, json};

use crate::cli::{AlertCommand, ClientArgs, DeployCommand, IntegrationCommand, SilenceCommand};
use crate::client::ApiClient;
use crate::error::CliError;
use crate::{items, next_cursor, render, resolve, write_json};

fn push(query: &mut Vec<(&'static str, String)>, key: &'static str, value: Option<String>) {
    if let Some(v) = value.filter(|v| !v.trim().is_empty()) {
        query.push((key, v));
    }
}

/// Check that `value` of `--flag` looks like an RFC 3339 time with a zone
/// (`2026-11-24T09:00:00Z`, `2026-11-24T10:00:00+01:00`) before sending it,
/// so a typo is a usage error naming the flag. The server parses it.
fn rfc3339(flag: &str, value: Option<String>) -> Result<Option<String>, CliError> {
    let Some(v) = value else { return Ok(None) };
    let t = v.trim();
    let b = t.as_bytes();
    let digits =
        |r: std::ops::Range<usize>| b.get(r).is_some_and(|d| d.iter().all(u8::is_ascii_digit));
    let date = digits(0..4)
        && b.get(4) == Some(&b'-')
        && digits(5..7)
        && b.get(7) == Some(&b'-')
        && digits(8..10);
    let time =
        matches!(b.get(10), Some(b'T' | b't' | b' ')) && digits(11..13) && b.get(13) == Some(&b':');
    let zone = t.ends_with(['Z', 'z']) || {
        let tb = &b[b.len().saturating_sub(6)..];
        tb.len() == 6
            && matches!(tb[0], b'+' | b'-')
            && tb[3] == b':'
            && tb[1..3].iter().chain(&tb[4..6]).all(u8::is_ascii_digit)
    };
    if date && time && zone {
        Ok(Some(t.to_string()))
    } else {
        Err(CliError::Usage(format!(
            "{flag} `{v}` is not an RFC 3339 time; write it like 2026-11-24T09:00:00Z (UTC) \
             or 2026-11-24T10:00:00+01:00"
        )))
    }
}

/// Set `body[key]` when `value` is given.
fn put(body: &mut Value, key: &str, value: Option<String>) {
    if let Some(v) = value {
        body[key] = json!(v);
    }
}

fn array(v: &Value, key: &str) -> Vec<Value> {
    v.get(key)
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default()
}

/// Print a listing page: JSON, or a table (or `empty` when there are no
/// rows) followed by how to get the next page.
pub(crate) fn print_page(
    out: &mut dyn Write,
    json: bool,
    page: &Value,
    empty: &str,
    table: fn(&[Value]) -> String,
    next_hint: &str,
) -> Result<(), CliError> {
    if json {
        return write_json(out, page);
    }
    let list = items(page);
    if list.is_empty() {
        writeln!(out, "{empty}")?;
    } else {
        writeln!(out, "{}", table(&list))?;
    }
    if let Some(c) = next_cursor(page) {
        writeln!(out, "More on the next page: {next_hint} --cursor {c}")?;
    }
    Ok(())
}

/// Run an `alert` subcommand. Server and token are resolved with
/// [`resolve`].
pub async fn execute_alert(
    cmd: AlertCommand,
    args: &ClientArgs,
    out: &mut dyn Write,
) -> Result<(), CliError> {
    let r = resolve(args)?;
    let api = ApiClient::new(&r.server, &r.token)?;
    let json = args.json;
    match cmd {
        AlertCommand::List {
            status,
            service,
            incident,
            limit,
            cursor,
        } => {
            let mut query = Vec::new();
            push(&mut query, "status", status.clone());
            push(&mut query, "service", service.clone());
            push(&mut query, "incident", incident.clone());
            push(&mut query, "limit", limit.map(|l| l.to_string()));
            push(&mut query, "cursor", cursor);
            let page = api.get(&["alerts"], &query).await?;
            let mut hint = String::from("firebreak alert list");
            for (flag, v) in [
                ("--status", status),
                ("--service", service),
                ("--incident", incident),
                ("--limit", limit.map(|l| l.to_string())),
            ] {
                if let Some(v) = v {
                    hint.push_str(&format!(" {flag} {v}"));
                }
            }
            print_page(out, json, &page, "No alerts.", render::alerts_table, &hint)
        }
        AlertCommand::Show { id } => {
            let alert = api.get(&["alerts", id.trim()], &[]).await?;
            if json {
                return write_json(out, &alert);
            }
            writeln!(out, "{}", render::alert_details(&alert))?;
            writeln!(out, "\nLabels")?;
            writeln!(out, "{}", render::labels_table(alert.get("labels")))?;
            let (links, images) = (array(&alert, "links"), array(&alert, "images"));
            if !links.is_empty() || !images.is_empty() {
                writeln!(out, "\nLinks")?;
                writeln!(out, "{}", render::links_table(&links, &images))?;
            }
            match alert.get("details") {
                None | Some(Value::Null) => {}
                Some(Value::Object(m)) if m.is_empty() => {}
                Some(d) => {
                    writeln!(out, "\nDetails")?;
                    write_json(out, d)?;
                }
            }
            Ok(())
        }
        AlertCommand::Ack { id } => {
            let alert = api
                .request(
                    Method::POST,
                    &["alerts", id.trim(), "acknowledge"],
                    &[],
                    None,
                )
                .await?;
            print_alert_change(out, json, "Acknowledged", &alert)
        }
        AlertCommand::Resolve { id } => {
            let alert = api
                .request(Method::POST, &["alerts", id.trim(), "resolve"], &[], None)
                .await?;
            print_alert_change(out, json, "Resolved", &alert)
        }
    }
}

fn print_alert_change(
    out: &mut dyn Write,
    json: bool,
    verb: &str,
    alert: &Value,
) -> Result<(), CliError> {
    if json {
        return write_json(out, alert);
    }
    let t = |k: &str| render::text(alert.get(k));
    let mut line = format!(
        "{verb} alert {} [{}, {}] {}: now {}",
        t("id"),
        t("service"),
        t("severity"),
        t("summary"),
        t("status")
    );
    if let Some(inc) = alert.get("incident").and_then(Value::as_str) {
        line.push_str(&format!(" (incident {inc})"));
    }
    writeln!(out, "{line}")?;
    Ok(())
}

/// Run a `silence` subcommand.
pub async fn execute_silence(
    cmd: SilenceCommand,
    args: &ClientArgs,
    out: &mut dyn Write,
) -> Result<(), CliError> {
    let r = resolve(args)?;
    let api = ApiClient::new(&r.server, &r.token)?;
    let json = args.json;
    match cmd {
        SilenceCommand::Add {
            matchers,
            duration,
            until,
            starts,
            comment,
        } => {
            if comment.trim().is_empty() {
                return Err(CliError::Usage(
                    "--comment must say why the alerts are silenced".into(),
                ));
            }
            let mut body = json!({ "matchers": matchers, "comment": comment });
            put(&mut body, "starts_at", rfc3339("--starts", starts)?);
            put(&mut body, "ends_at", rfc3339("--until", until)?);
            put(&mut body, "duration", duration);
            let s = api.send(Method::POST, &["silences"], &body).await?;
            if json {
                return write_json(out, &s);
            }
            let t = |k: &str| render::text(s.get(k));
            if s.get("active").and_then(Value::as_bool) == Some(false) {
                writeln!(
                    out,
                    "Created silence {}: starts {}, ends {}",
                    t("id"),
                    t("starts_at"),
                    t("ends_at")
                )?;
            } else {
                writeln!(out, "Created silence {}: ends {}", t("id"), t("ends_at"))?;
            }
            Ok(())
        }
        SilenceCommand::List { expired } => {
            let query = if expired {
                vec![("expired", "true".to_string())]
            } else {
                Vec::new()
            };
            let page = api.get(&["silences"], &query).await?;
            let empty = if expired {
                "No silences in force, scheduled or ended in the last 24 hours."
            } else {
                "No silences in force or scheduled."
            };
            print_page(
                out,
                json,
                &page,
                empty,
                render::silences_table,
                "firebreak silence list",
            )
        }
        SilenceCommand::Expire { id } => {
            let s = api
                .request(Method::DELETE, &["silences", id.trim()], &[], None)
                .await?;
            if json {
                return write_json(out, &s);
            }
            writeln!(
                out,
                "Expired silence {}: ended {}",
                render::text(s.get("id")),
                render::text(s.get("ends_at"))
            )?;
            Ok(())
        }
    }
}

/// Run an `integration` subcommand. New keys go alone to `out`; where to
/// use them and how to revoke old ones goes to `err`.
pub async fn execute_integration(
    cmd: IntegrationCommand,
    args: &ClientArgs,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<(), CliError> {
    let r = resolve(args)?;
    let api = ApiClient::new(&r.server, &r.token)?;
    let json = args.json;
    match cmd {
        IntegrationCommand::Create { service, name } => {
            let i = api
                .send(
                    Method::POST,
                    &["services", service.trim(), "integrations"],
                    &json!({ "name": name }),
                )
                .await?;
            if json {
                return write_json(out, &i);
            }
            writeln!(out, "{}", key_of(&i)?)?;
            let t = |k: &str| render::text(i.get(k));
            writeln!(
                err,
                "Created integration {} ({}) for service {}, key id {}.\n\
                 The key printed above is shown only this once; keep it in your secret store.\n\
                 Send alerts with it (put the key where <KEY> is):\n\
                 \x20 Alertmanager  {root}/api/v1/ingest/alertmanager/<KEY>\n\
                 \x20 Grafana       {root}/api/v1/ingest/grafana/<KEY>\n\
                 \x20 Generic JSON  {root}/api/v1/ingest/generic/<KEY>\n\
                 \x20               (or {root}/api/v1/ingest/generic with Authorization: Bearer <KEY>)\n\
                 \x20 PagerDuty     {root}/v2/enqueue with \"routing_key\": \"<KEY>\"\n\
                 \x20 Opsgenie      {root}/v2/alerts with Authorization: GenieKey <KEY>",
                t("id"),
                t("name"),
                t("service"),
                t("key_id"),
                root = r.server,
            )?;
            Ok(())
        }
        IntegrationCommand::List { service } => {
            let page = match service.filter(|s| !s.trim().is_empty()) {
                Some(s) => {
                    api.get(&["services", s.trim(), "integrations"], &[])
                        .await?
                }
                None => api.get(&["integrations"], &[]).await?,
            };
            print_page(
                out,
                json,
                &page,
                "No integrations. Create one with: firebreak integration create --service SERVICE --name NAME",
                render::integrations_table,
                "firebreak integration list",
            )
        }
        IntegrationCommand::Rotate { id } => {
            let id = id.trim();
            let i = api
                .request(Method::POST, &["integrations", id, "rotate"], &[], None)
                .await?;
            if json {
                return write_json(out, &i);
            }
            writeln!(out, "{}", key_of(&i)?)?;
            let new_id = render::text(i.get("key_id"));
            writeln!(
                err,
                "New key {new_id} for integration {id}; it is shown only this once.\n\
                 The old keys keep working until you revoke them."
            )?;
            let old = render::other_live_key_ids(&i, &new_id);
            if !old.is_empty() {
                writeln!(
                    err,
                    "Once every sender uses the new key, revoke the old one{}:",
                    if old.len() > 1 { "s" } else { "" }
                )?;
                for k in old {
                    writeln!(err, "  firebreak integration revoke-key {id} {k}")?;
                }
            }
            Ok(())
        }
        IntegrationCommand::RevokeKey { id, key_id } => {
            let (id, key_id) = (id.trim(), key_id.trim());
            let i = api
                .request(
                    Method::DELETE,
                    &["integrations", id, "keys", key_id],
                    &[],
                    None,
                )
                .await?;
            if json {
                return write_json(out, &i);
            }
            let live = render::live_key_count(&i);
            writeln!(
                out,
                "Revoked key {key_id} of integration {id}; {live} live key{} left",
                if live == 1 { "" } else { "s" }
            )?;
            if live == 0 {
                writeln!(
                    err,
                    "warning: integration {id} has no live key now, so nothing can send alerts \
                     through it; issue one with: firebreak integration rotate {id}"
                )?;
            }
            Ok(())
        }
    }
}

fn key_of(i: &Value) -> Result<&str, CliError> {
    i.get("key")
        .and_then(Value::as_str)
        .filter(|k| !k.is_empty())
        .ok_or_else(|| {
            CliError::Other(
                "the server's answer has no key; rotate the integration to get one".into(),
            )
        })
}

/// Run a `deploy` subcommand. `deploy record` prints the deployment id alone
/// on `out` and a summary on `err`.
pub async fn execute_deploy(
    cmd: DeployCommand,
    args: &ClientArgs,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<(), CliError> {
    let r = resolve(args)?;
    let api = ApiClient::new(&r.server, &r.token)?;
    let json = args.json;
    match cmd {
        DeployCommand::Record {
            service,
            version,
            previous_version,
            commit,
            author,
            link,
            at,
            summary,
            rollback,
            rolls_back,
            incident,
            drill,
        } => {
            let mut body = json!({ "service": service, "version": version, "source": "cli" });
            if drill {
                body["drill"] = json!(true);
            }
            if rollback || rolls_back.is_some() {
                body["rollback"] = json!(true);
            }
            if let Some(id) = rolls_back {
                body["rolls_back"] = json!(id);
            }
            put(&mut body, "incident", incident);
            put(&mut body, "previous_version", previous_version);
            put(&mut body, "commit", commit);
            put(&mut body, "author", author);
            put(&mut body, "link", link);
            put(&mut body, "at", rfc3339("--at", at)?);
            put(&mut body, "summary", summary);
            let d = api.send(Method::POST, &["deployments"], &body).await?;
            if json {
                return write_json(out, &d);
            }
            let t = |k: &str| render::text(d.get(k));
            writeln!(out, "{}", t("id"))?;
            let mut line = format!(
                "Recorded deployment {} of {} {}",
                t("id"),
                t("service"),
                t("version")
            );
            if let Some(p) = d.get("previous_version").and_then(Value::as_str) {
                line.push_str(&format!(" (was {p})"));
            }
            line.push_str(&format!(" at {}", t("at")));
            if d.get("rollback").and_then(Value::as_bool) == Some(true) {
                line.push_str(", a rollback");
                if let Some(undone) = d.get("rolls_back").and_then(Value::as_i64) {
                    line.push_str(&format!(" of deployment {undone}"));
                }
                if let Some(n) = d.get("incident").and_then(Value::as_str) {
                    line.push_str(&format!(" for {n}"));
                }
            }
            writeln!(err, "{line}")?;
            Ok(())
        }
        DeployCommand::List {
            service,
            limit,
            cursor,
        } => {
            let mut query = Vec::new();
            push(&mut query, "service", service.clone());
            push(&mut query, "limit", limit.map(|l| l.to_string()));
            push(&mut query, "cursor", cursor);
            let page = api.get(&["deployments"], &query).await?;
            let mut hint = String::from("firebreak deploy list");
            if let Some(s) = service {
                hint.push_str(&format!(" --service {s}"));
            }
            if let Some(l) = limit {
                hint.push_str(&format!(" --limit {l}"));
            }
            print_page(
                out,
                json,
                &page,
                "No deployments.",
                render::deployments_table,
                &hint,
            )
        }
    }
}
