//! The `schedule` and `oncall` commands: on-call schedules, their final shifts, overrides, and
//! who is on call now (`/api/v1/schedules`). Everyone may read; responders add and remove
//! overrides.

use std::io::Write;

use reqwest::Method;
use serde_json::{Value, json};

use crate::cli::{ClientArgs, OncallArgs, OverrideCommand, ScheduleCommand};
use crate::error::CliError;
use crate::ops::print_page;
use crate::{client_for, render, write_json};

/// Run a `schedule` subcommand. Server and token are resolved with [`crate::resolve`].
pub async fn execute_schedule(
    cmd: ScheduleCommand,
    args: &ClientArgs,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<(), CliError> {
    let api = client_for(args)?;
    let json = args.json;
    match cmd {
        ScheduleCommand::List => {
            let page = api.get(&["schedules"], &[]).await?;
            print_page(
                out,
                json,
                &page,
                "No schedules. Declare them under schedules: in firebreak.yaml, or POST /api/v1/schedules.",
                render::schedules_table,
                "firebreak schedule list",
            )
        }
        ScheduleCommand::Show { name } => {
            let s = api.get(&["schedules", name.trim()], &[]).await?;
            if json {
                return write_json(out, &s);
            }
            writeln!(out, "{}", render::schedule_detail(&s))?;
            Ok(())
        }
        ScheduleCommand::Shifts { name, from, to } => {
            let mut query = Vec::new();
            if let Some(f) = from {
                query.push(("from", f.trim().to_string()));
            }
            if let Some(t) = to {
                query.push(("to", t.trim().to_string()));
            }
            let name = name.trim();
            let page = api.get(&["schedules", name, "shifts"], &query).await?;
            print_page(
                out,
                json,
                &page,
                "Nobody is on call in that range: every layer is empty or restricted there.",
                render::shifts_table,
                &format!("firebreak schedule shifts {name}"),
            )
        }
        ScheduleCommand::Override(OverrideCommand::Add {
            name,
            user,
            start,
            end,
        }) => {
            let name = name.trim();
            let body = json!({"user": user.trim(), "start": start.trim(), "end": end.trim()});
            let o = api
                .send(Method::POST, &["schedules", name, "overrides"], &body)
                .await?;
            if json {
                return write_json(out, &o);
            }
            let t = |k: &str| render::text(o.get(k));
            writeln!(out, "{}", t("id"))?;
            writeln!(
                err,
                "{} covers {name} from {} to {}.\nRemove it with: firebreak schedule override remove {name} {}",
                t("user"),
                t("start"),
                t("end"),
                t("id"),
            )?;
            Ok(())
        }
        ScheduleCommand::Override(OverrideCommand::Remove { name, id }) => {
            let (name, id) = (name.trim(), id.trim());
            api.request(
                Method::DELETE,
                &["schedules", name, "overrides", id],
                &[],
                None,
            )
            .await?;
            if json {
                return write_json(out, &json!({"removed": id}));
            }
            writeln!(out, "Removed override {id} from {name}.")?;
            Ok(())
        }
    }
}

/// Run `oncall`: who is on call on one schedule or on each.
pub async fn execute_oncall(
    on: OncallArgs,
    args: &ClientArgs,
    out: &mut dyn Write,
    _err: &mut dyn Write,
) -> Result<(), CliError> {
    let api = client_for(args)?;
    let names: Vec<String> = match &on.schedule {
        Some(s) => vec![s.trim().to_string()],
        None => api
            .get(&["schedules"], &[])
            .await?
            .get("items")
            .and_then(Value::as_array)
            .map(|items| items.iter().map(|i| render::text(i.get("name"))).collect())
            .unwrap_or_default(),
    };
    let mut query = Vec::new();
    if let Some(at) = &on.at {
        query.push(("at", at.trim().to_string()));
    }
    let mut rows = Vec::with_capacity(names.len());
    for name in &names {
        let mut answer = api.get(&["schedules", name, "on-call"], &query).await?;
        answer["schedule"] = json!(name);
        rows.push(answer);
    }
    if args.json {
        return write_json(out, &json!({ "items": rows }));
    }
    if rows.is_empty() {
        writeln!(
            out,
            "No schedules. Declare them under schedules: in firebreak.yaml, or POST /api/v1/schedules."
        )?;
        return Ok(());
    }
    writeln!(out, "{}", render::oncall_table(&rows))?;
    Ok(())
}
