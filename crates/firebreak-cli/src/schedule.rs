//! The `schedule` and `oncall` commands: on-call schedules, their final shifts, overrides, and
//! who is on call now (`/api/v1/schedules`). Everyone may read; responders add and remove
//! overrides. `oncall --me` asks each schedule about the token's user (`/api/v1/me`).

use std::io::Write;

use reqwest::Method;
use serde_json::{Value, json};

use crate::cli::{ClientArgs, OncallArgs, OverrideCommand, ScheduleCommand};
use crate::client::ApiClient;
use crate::error::CliError;
use crate::ops::print_page;
use crate::paging::my_handle;
use crate::{client_for, items, render, write_json};

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
        ScheduleCommand::Override(OverrideCommand::List { name }) => {
            let name = name.trim();
            let page = api.get(&["schedules", name, "overrides"], &[]).await?;
            print_page(
                out,
                json,
                &page,
                &format!(
                    "No overrides on {name} now or to come. Add one: firebreak schedule override add {name} --user HANDLE --start TIME --end TIME"
                ),
                render::overrides_table,
                &format!("firebreak schedule override list {name}"),
            )
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

/// The schedule `--schedule` names, or every schedule.
async fn schedule_names(api: &ApiClient, only: Option<&str>) -> Result<Vec<String>, CliError> {
    Ok(match only {
        Some(s) => vec![s.trim().to_string()],
        None => api
            .get(&["schedules"], &[])
            .await?
            .get("items")
            .and_then(Value::as_array)
            .map(|items| items.iter().map(|i| render::text(i.get("name"))).collect())
            .unwrap_or_default(),
    })
}

/// Run `oncall`: who is on call on one schedule or on each; with `--me`, where the token's
/// user is on call and their shifts over the next seven days.
pub async fn execute_oncall(
    on: OncallArgs,
    args: &ClientArgs,
    out: &mut dyn Write,
    _err: &mut dyn Write,
) -> Result<(), CliError> {
    let api = client_for(args)?;
    if on.me {
        return oncall_me(&api, on, args.json, out).await;
    }
    let names = schedule_names(&api, on.schedule.as_deref()).await?;
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

/// How far ahead `oncall --me` lists shifts.
const MY_SHIFTS_AHEAD: jiff::SignedDuration = jiff::SignedDuration::from_hours(7 * 24);

/// `oncall --me`: the schedules (of `--schedule`, or all) whose on-call at `--at` (or now) is
/// the token's user, and that user's shifts on them from then over the next seven days (the
/// next hour on a schedule that hands off too often to list a week of it), in order of start.
/// JSON: `{user, at, on_call: [on-call answers], shifts: [shifts]}`, each with
/// its `schedule`.
async fn oncall_me(
    api: &ApiClient,
    on: OncallArgs,
    json: bool,
    out: &mut dyn Write,
) -> Result<(), CliError> {
    let at =
        on.at
            .as_deref()
            .map(|a| {
                let a = a.trim();
                a.parse::<jiff::Timestamp>().map(|t| (a.to_string(), t)).map_err(|_| {
                CliError::Usage(format!(
                    "--at `{a}` is not an RFC 3339 time; write it like 2026-11-24T09:00:00Z \
                     (UTC) or 2026-11-24T10:00:00+01:00"
                ))
            })
            })
            .transpose()?;
    let me = my_handle(
        api,
        "--me needs a token made for you (firebreak token create --user HANDLE); \
         or look at a schedule's shifts: firebreak schedule shifts NAME",
    )
    .await?;
    let names = schedule_names(api, on.schedule.as_deref()).await?;
    let (mut on_call_query, mut shifts_query) = (Vec::new(), Vec::new());
    if let Some((text, t)) = &at {
        let to = t
            .checked_add(MY_SHIFTS_AHEAD)
            .map_err(|_| CliError::Usage(format!("--at `{text}` is too far in the future")))?;
        on_call_query.push(("at", text.clone()));
        shifts_query.push(("from", text.clone()));
        shifts_query.push(("to", to.to_string()));
    }
    let (mut on_call, mut shifts, mut when) = (Vec::new(), Vec::new(), Value::Null);
    // Schedules listed for their next hour only: they hand off too often to list a week.
    let mut hour_only: Vec<&str> = Vec::new();
    for name in &names {
        let mut answer = api
            .get(&["schedules", name, "on-call"], &on_call_query)
            .await?;
        if when.is_null() {
            when = answer.get("at").cloned().unwrap_or(Value::Null);
        }
        let mine = answer
            .get("users")
            .and_then(Value::as_array)
            .is_some_and(|users| users.iter().any(|u| u.as_str() == Some(me.as_str())));
        if mine {
            answer["schedule"] = json!(name);
            on_call.push(answer);
        }
        let page = match api.get(&["schedules", name, "shifts"], &shifts_query).await {
            Ok(page) => page,
            // A rotation of seconds or minutes hands off too often to list a week of it:
            // list its next hour instead.
            Err(CliError::Problem { status: 422, .. }) => {
                let from = at.as_ref().map_or_else(jiff::Timestamp::now, |(_, t)| *t);
                let hour = from.checked_add(jiff::SignedDuration::from_hours(1));
                let short = vec![
                    ("from", from.to_string()),
                    ("to", hour.unwrap_or(from).to_string()),
                ];
                match api.get(&["schedules", name, "shifts"], &short).await {
                    Ok(page) => {
                        // Named below only where the user has shifts in that hour.
                        if items(&page)
                            .iter()
                            .any(|s| s.get("user").and_then(Value::as_str) == Some(me.as_str()))
                        {
                            hour_only.push(name.as_str());
                        }
                        page
                    }
                    Err(CliError::Problem { status: 422, .. }) => continue,
                    Err(e) => return Err(e),
                }
            }
            Err(e) => return Err(e),
        };
        for mut shift in items(&page) {
            if shift.get("user").and_then(Value::as_str) == Some(me.as_str()) {
                shift["schedule"] = json!(name);
                shifts.push(shift);
            }
        }
    }
    let start = |s: &Value| {
        s.get("start")
            .and_then(Value::as_str)
            .and_then(|t| t.parse::<jiff::Timestamp>().ok())
    };
    shifts.sort_by_key(|s| start(s));
    if json {
        return write_json(
            out,
            &json!({ "user": me, "at": when, "on_call": on_call, "shifts": shifts }),
        );
    }
    let who = render::printable(&me);
    if names.is_empty() {
        writeln!(
            out,
            "No schedules, so {who} is on call nowhere. Declare them under schedules: in \
             firebreak.yaml, or POST /api/v1/schedules."
        )?;
        return Ok(());
    }
    let (now, from) = match &at {
        Some((text, _)) => (
            format!("at {}", render::printable(text)),
            render::printable(text),
        ),
        None => ("now".to_string(), "now".to_string()),
    };
    if on_call.is_empty() {
        writeln!(out, "{who} is not on call {now} on any schedule.")?;
    } else {
        let list: Vec<String> = on_call
            .iter()
            .map(|o| {
                format!(
                    "{} (layer {})",
                    render::text(o.get("schedule")),
                    render::text(o.get("layer"))
                )
            })
            .collect();
        writeln!(out, "{who} is on call {now} on: {}", list.join(", "))?;
    }
    if shifts.is_empty() {
        writeln!(out, "{who} has no shifts in the 7 days from {from}.")?;
    } else {
        // Shifts are cut to the range asked for: the first shift on a schedule where they are
        // on call already began before it.
        let mut rows = shifts.clone();
        for o in &on_call {
            if let Some(first) = rows
                .iter_mut()
                .find(|s| s.get("schedule") == o.get("schedule"))
            {
                let started = format!("{}\n(already on call)", render::text(first.get("start")));
                first["start"] = json!(started);
            }
        }
        writeln!(out, "\nShifts of {who} in the 7 days from {from}:")?;
        writeln!(out, "{}", render::my_shifts_table(&rows))?;
    }
    if !hour_only.is_empty() {
        writeln!(
            out,
            "Only the next hour of {}: it hands off too often to list a week.",
            hour_only.join(", ")
        )?;
    }
    Ok(())
}
