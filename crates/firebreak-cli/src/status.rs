//! `firebreak status`, `firebreak component` and the status-page side of `firebreak incident`:
//! what the public page says, components set by hand, and status updates.

use std::io::Write;

use reqwest::Method;
use serde_json::{Value, json};

use crate::error::CliError;
use crate::render::{printable, table, text};
use crate::{
    ClientArgs, ComponentCommand, MaintenanceCommand, StatusCommand, client_for, read_body,
    write_json,
};

const COMPONENT_STATUSES: [&str; 5] = [
    "operational",
    "degraded_performance",
    "partial_outage",
    "major_outage",
    "under_maintenance",
];
const PUBLIC_STATUSES: [&str; 4] = ["investigating", "identified", "monitoring", "resolved"];

fn one_of(what: &str, given: &str, allowed: &[&str]) -> Result<String, CliError> {
    let g = given.trim().to_lowercase().replace([' ', '-'], "_");
    if allowed.contains(&g.as_str()) {
        Ok(g)
    } else {
        Err(CliError::Usage(format!(
            "{what} {given:?} is not one of {}",
            allowed.join(", ")
        )))
    }
}

/// The body of `POST /incidents/{id}/status-updates` from the command line.
pub(crate) fn update_body(
    public: bool,
    status: Option<String>,
    template: Option<String>,
    components: Vec<String>,
    quiet: bool,
    message: Option<String>,
) -> Result<Value, CliError> {
    let mut body = json!({"audience": if public { "public" } else { "internal" }});
    if let Some(s) = status {
        body["status"] = json!(one_of("status", &s, &PUBLIC_STATUSES)?);
    }
    if let Some(t) = template {
        body["template"] = json!(one_of("template", &t, &PUBLIC_STATUSES)?);
    }
    match message {
        Some(m) => body["body"] = json!(read_body(m)?),
        None if body.get("template").is_none() => {
            return Err(CliError::Usage(
                "give the message, or --template STATUS to use that status's template".into(),
            ));
        }
        None => {}
    }
    if !components.is_empty() {
        let mut set = serde_json::Map::new();
        for c in components {
            let Some((name, status)) = c.rsplit_once('=') else {
                return Err(CliError::Usage(format!(
                    "--component {c:?}: expected NAME=STATUS, e.g. \"Checkout API=partial_outage\""
                )));
            };
            set.insert(
                name.trim().to_string(),
                json!(one_of("component status", status, &COMPONENT_STATUSES)?),
            );
        }
        body["components"] = Value::Object(set);
    }
    if quiet {
        body["notify"] = json!(false);
    }
    Ok(body)
}

pub(crate) fn print_posted(out: &mut dyn Write, id: &str, posted: &Value) -> Result<(), CliError> {
    let audience = text(posted.get("audience"));
    match posted.get("status").and_then(Value::as_str) {
        Some(status) => writeln!(out, "Posted a {audience} update on {id} ({status}):")?,
        None => writeln!(out, "Posted an {audience} update on {id}:")?,
    }
    writeln!(out, "{}", printable(&text(posted.get("body"))))?;
    if let Some(set) = posted.get("components").and_then(Value::as_object)
        && !set.is_empty()
    {
        for (name, status) in set {
            writeln!(out, "  {}: {}", printable(name), text(Some(status)))?;
        }
    }
    Ok(())
}

/// Says what resolving did on the status page, when the answer tells.
pub(crate) fn print_public_outcome(out: &mut dyn Write, inc: &Value) -> Result<(), CliError> {
    let Some(p) = inc.get("public_update") else {
        return Ok(());
    };
    match p.get("outcome").and_then(Value::as_str) {
        Some("posted") => writeln!(
            out,
            "The status page now says resolved: {}",
            printable(&text(p.get("body")))
        )?,
        Some("kept") => writeln!(
            out,
            "The status page still says {} (no public update was posted); post one with \
             `firebreak incident update {} --public --template resolved` when it is time.",
            text(p.get("status")),
            text(inc.get("id"))
        )?,
        Some("already_resolved") => writeln!(out, "The status page already said resolved.")?,
        Some("not_public") => writeln!(
            out,
            "The incident was never on the status page; nothing posted there."
        )?,
        _ => {}
    }
    Ok(())
}

fn label(status: &str) -> String {
    match status {
        "operational" => "operational".into(),
        "degraded_performance" => "degraded performance".into(),
        "partial_outage" => "PARTIAL OUTAGE".into(),
        "major_outage" => "MAJOR OUTAGE".into(),
        "under_maintenance" => "under maintenance".into(),
        other => other.into(),
    }
}

pub async fn execute_status(
    cmd: StatusCommand,
    args: &ClientArgs,
    out: &mut dyn Write,
) -> Result<(), CliError> {
    let api = client_for(args)?;
    match cmd {
        StatusCommand::Show => {
            let summary = api
                .get_public(&["status", "api", "v2", "summary.json"])
                .await?;
            if args.json {
                return write_json(out, &summary);
            }
            writeln!(
                out,
                "{}: {}",
                printable(&text(summary.pointer("/page/name"))),
                text(summary.pointer("/status/description"))
            )?;
            let mut t = table(&["COMPONENT", "STATUS"]);
            let components = summary["components"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            for c in &components {
                let indent = if c["group_id"].is_string() { "  " } else { "" };
                t.add_row(vec![
                    format!("{indent}{}", printable(&text(c.get("name")))),
                    label(c["status"].as_str().unwrap_or_default()),
                ]);
            }
            if components.is_empty() {
                writeln!(
                    out,
                    "No components yet: add them under status_page.components in firebreak.yaml, \
                     or with POST /api/v1/status-page/components."
                )?;
            } else {
                writeln!(out, "{t}")?;
            }
            let incidents = summary["incidents"].as_array().cloned().unwrap_or_default();
            for i in &incidents {
                writeln!(
                    out,
                    "\n{} ({}, impact {})",
                    printable(&text(i.get("name"))),
                    text(i.get("status")),
                    text(i.get("impact"))
                )?;
                if let Some(u) = i.pointer("/incident_updates/0") {
                    writeln!(
                        out,
                        "  {}  {}",
                        text(u.get("created_at")),
                        printable(&text(u.get("body")))
                    )?;
                }
            }
            if incidents.is_empty() {
                writeln!(out, "No unresolved incidents on the page.")?;
            }
            Ok(())
        }
    }
}

/// The id of the component named (or with the id) `given`.
async fn find_component(api: &crate::ApiClient, given: &str) -> Result<String, CliError> {
    let list = api.get(&["status-page", "components"], &[]).await?;
    let items = list["items"].as_array().cloned().unwrap_or_default();
    let found = items
        .iter()
        .find(|c| c["id"] == given || c["name"] == given)
        .or_else(|| {
            items.iter().find(|c| {
                c["name"]
                    .as_str()
                    .is_some_and(|n| n.eq_ignore_ascii_case(given.trim()))
            })
        });
    match found {
        Some(c) => Ok(text(c.get("id"))),
        None => Err(CliError::Usage(format!(
            "there is no component {given:?}; the components are: {}",
            items
                .iter()
                .map(|c| text(c.get("name")))
                .collect::<Vec<_>>()
                .join(", ")
        ))),
    }
}

fn components_table(items: &[Value]) -> String {
    let mut t = table(&["ID", "NAME", "GROUP", "SERVICES", "SHOWS", "SET BY HAND"]);
    for c in items {
        let services = c["services"]
            .as_array()
            .map(|s| {
                s.iter()
                    .map(|x| text(Some(x)))
                    .collect::<Vec<_>>()
                    .join(", ")
            })
            .unwrap_or_default();
        t.add_row(vec![
            text(c.get("id")),
            printable(&text(c.get("name"))),
            printable(&text(c.get("group"))),
            if services.is_empty() {
                "-".into()
            } else {
                services
            },
            label(c["status"].as_str().unwrap_or_default()),
            text(c.get("manual_status")),
        ]);
    }
    t.to_string()
}

pub async fn execute_component(
    cmd: ComponentCommand,
    args: &ClientArgs,
    out: &mut dyn Write,
) -> Result<(), CliError> {
    let api = client_for(args)?;
    let json = args.json;
    let changed = match cmd {
        ComponentCommand::List => {
            let list = api.get(&["status-page", "components"], &[]).await?;
            if json {
                return write_json(out, &list);
            }
            let items = list["items"].as_array().cloned().unwrap_or_default();
            if items.is_empty() {
                writeln!(
                    out,
                    "No components. Declare them under status_page.components in firebreak.yaml."
                )?;
            } else {
                writeln!(out, "{}", components_table(&items))?;
            }
            return Ok(());
        }
        ComponentCommand::Set { component, status } => {
            let status = one_of("status", &status, &COMPONENT_STATUSES)?;
            let id = find_component(&api, &component).await?;
            api.send(
                Method::PATCH,
                &["status-page", "components", &id],
                &json!({ "status": status }),
            )
            .await?
        }
        ComponentCommand::Clear { component } => {
            let id = find_component(&api, &component).await?;
            api.send(
                Method::PATCH,
                &["status-page", "components", &id],
                &json!({ "status": null }),
            )
            .await?
        }
    };
    if json {
        return write_json(out, &changed);
    }
    writeln!(
        out,
        "{} now shows {}{}",
        printable(&text(changed.get("name"))),
        label(changed["status"].as_str().unwrap_or_default()),
        if changed["manual_status"].is_null() {
            " (derived from incidents and maintenance)"
        } else {
            " (set by hand until `firebreak component clear`)"
        }
    )?;
    Ok(())
}

fn maintenances_table(items: &[Value]) -> String {
    let mut t = table(&["ID", "NAME", "STATUS", "STARTS", "ENDS", "COMPONENTS"]);
    for m in items {
        let components = m["components"]
            .as_array()
            .map(|c| {
                c.iter()
                    .map(|x| printable(&text(Some(x))))
                    .collect::<Vec<_>>()
                    .join(", ")
            })
            .unwrap_or_default();
        t.add_row(vec![
            text(m.get("id")),
            printable(&text(m.get("name"))),
            text(m.get("status")).replace('_', " "),
            text(m.get("starts_at")),
            text(m.get("ends_at")),
            components,
        ]);
    }
    t.to_string()
}

/// An end given as a duration from `start` (`90m`), or an instant as written.
pub(crate) fn end_time(end: &str, start: Option<&str>) -> Result<String, CliError> {
    let end = end.trim();
    if end.parse::<jiff::Timestamp>().is_ok() {
        return Ok(end.to_string());
    }
    let span: jiff::SignedDuration = end.parse().map_err(|_| {
        CliError::Usage(format!(
            "--end {end:?}: give a time like 2026-11-24T03:00:00Z or a duration like 90m or 2h"
        ))
    })?;
    let from = match start {
        Some(s) => s.trim().parse::<jiff::Timestamp>().map_err(|e| {
            CliError::Usage(format!(
                "--start {s:?}: expected a time like 2026-11-24T02:00:00Z: {e}"
            ))
        })?,
        None => jiff::Timestamp::now(),
    };
    let at = from
        .checked_add(span)
        .map_err(|e| CliError::Usage(format!("--end {end:?}: {e}")))?;
    Ok(at.to_string())
}

pub async fn execute_maintenance(
    cmd: MaintenanceCommand,
    args: &ClientArgs,
    out: &mut dyn Write,
) -> Result<(), CliError> {
    let api = client_for(args)?;
    let json = args.json;
    match cmd {
        MaintenanceCommand::Schedule {
            name,
            components,
            start,
            end,
            body,
        } => {
            let mut req = json!({
                "name": name,
                "components": components,
                "ends_at": end_time(&end, start.as_deref())?,
            });
            if let Some(s) = start {
                req["starts_at"] = json!(s.trim());
            }
            if let Some(b) = body {
                req["body"] = json!(read_body(b)?);
            }
            let m = api
                .send(Method::POST, &["scheduled-maintenances"], &req)
                .await?;
            if json {
                return write_json(out, &m);
            }
            writeln!(
                out,
                "Scheduled maintenance {}: {} ({})",
                text(m.get("id")),
                printable(&text(m.get("name"))),
                text(m.get("status")).replace('_', " ")
            )?;
            writeln!(out, "{}", maintenances_table(std::slice::from_ref(&m)))?;
            Ok(())
        }
        MaintenanceCommand::List => {
            let list = api.get(&["scheduled-maintenances"], &[]).await?;
            if json {
                return write_json(out, &list);
            }
            let items = list["items"].as_array().cloned().unwrap_or_default();
            if items.is_empty() {
                writeln!(out, "No scheduled maintenance.")?;
            } else {
                writeln!(out, "{}", maintenances_table(&items))?;
            }
            Ok(())
        }
        MaintenanceCommand::Cancel { id } => {
            let m = api
                .send(
                    Method::DELETE,
                    &["scheduled-maintenances", &id.to_string()],
                    &json!({}),
                )
                .await?;
            if json {
                return write_json(out, &m);
            }
            writeln!(
                out,
                "Maintenance {} ({}) ends now; the status page shows it completed.",
                text(m.get("id")),
                printable(&text(m.get("name")))
            )?;
            Ok(())
        }
    }
}
