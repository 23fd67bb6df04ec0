//! The paging commands: a user's contact methods and their test pages
//! (`/api/v1/users/{handle}/contact-methods`), escalation policies (`/api/v1/escalation-policies`)
//! and the escalations of an incident or an alert with every page sent (`/api/v1/escalations`).
//!
//! "You" is the user the token acts for (`GET /api/v1/me`); `--user` names someone else, which
//! only admins may do. `contact add --type webhook` prints the signing secret alone on `out`, so
//! `SECRET=$(firebreak contact add ...)` works; the contact method's id and the warning that the
//! secret is shown once go to `err`. `contact test` prints what the receiver answered and fails
//! (exit 1) when it did not take the page.

use std::io::Write;

use reqwest::Method;
use serde_json::{Value, json};

use crate::cli::{ClientArgs, ContactCommand, EscalationCommand, PolicyCommand};
use crate::client::ApiClient;
use crate::error::CliError;
use crate::ops::print_page;
use crate::{client_for, items, render, write_json};

/// The handle of the user the token acts for. A token that belongs to no user (its actor is
/// `token:NAME`) has no "you": that is a usage error, and `fix` says what to do instead.
pub(crate) async fn my_handle(api: &ApiClient, fix: &str) -> Result<String, CliError> {
    let me = api.get(&["me"], &[]).await?;
    let actor = me.get("actor").and_then(Value::as_str).unwrap_or("").trim();
    if actor.is_empty() || actor.starts_with("token:") {
        return Err(CliError::Usage(format!(
            "this token acts for no user ({}), so Firebreak cannot tell who you are; {fix}",
            render::text(me.get("actor"))
        )));
    }
    Ok(actor.to_string())
}

/// `--user`, or else the user the token acts for.
async fn whose(api: &ApiClient, user: Option<&str>) -> Result<String, CliError> {
    match user.map(str::trim).filter(|u| !u.is_empty()) {
        Some(u) => Ok(u.to_string()),
        None => {
            my_handle(
                api,
                "name the user with --user HANDLE, or use a token that acts for you \
                 (firebreak token create --user HANDLE)",
            )
            .await
        }
    }
}

/// ` --user HANDLE` when the command named the user, for the commands suggested next.
fn user_flag(user: Option<&str>) -> String {
    user.map(str::trim)
        .filter(|u| !u.is_empty())
        .map(|u| format!(" --user {}", render::printable(u)))
        .unwrap_or_default()
}

/// Run a `contact` subcommand. Server and token are resolved with [`crate::resolve`].
///
/// `contact test` writes what the receiver answered to `out` even when the page was not
/// delivered, and then returns an error.
pub async fn execute_contact(
    cmd: ContactCommand,
    args: &ClientArgs,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<(), CliError> {
    let api = client_for(args)?;
    let json = args.json;
    match cmd {
        ContactCommand::Add {
            kind,
            target,
            name,
            ntfy_token,
            user,
        } => {
            if ntfy_token.is_some() && kind != "ntfy" {
                return Err(CliError::Usage(format!(
                    "--ntfy-token is only for --type ntfy; a {kind} contact method takes no token"
                )));
            }
            let handle = whose(&api, user.as_deref()).await?;
            let mut body = json!({ "type": kind, "target": target.trim() });
            if let Some(n) = name {
                body["name"] = json!(n.trim());
            }
            if let Some(t) = ntfy_token {
                body["token"] = json!(t.trim());
            }
            let c = api
                .send(Method::POST, &["users", &handle, "contact-methods"], &body)
                .await?;
            if json {
                return write_json(out, &c);
            }
            let t = |k: &str| render::text(c.get(k));
            let (id, flag) = (t("id"), user_flag(user.as_deref()));
            if kind == "webhook" {
                let secret = c
                    .get("secret")
                    .and_then(Value::as_str)
                    .filter(|s| !s.is_empty())
                    .ok_or_else(|| {
                        CliError::Other(format!(
                            "the server's answer has no signing secret; remove the contact method \
                             (firebreak contact remove {id}{flag}) and add it again to get one"
                        ))
                    })?;
                writeln!(out, "{}", render::printable(secret))?;
                writeln!(
                    err,
                    "Added webhook contact method {id} ({}) for {}: pages are POSTed to {}\n\
                     The secret printed above is shown only this once and cannot be shown again; \
                     keep it in your secret store.\n\
                     Your receiver verifies each page with it as Standard Webhooks says: the \
                     webhook-signature header signs the webhook-id, webhook-timestamp and body.\n\
                     Send a test page: firebreak contact test {id}{flag}",
                    t("name"),
                    t("user"),
                    render::url_without_query(&t("target")),
                )?;
            } else {
                writeln!(out, "{id}")?;
                writeln!(
                    err,
                    "Added {} contact method {id} ({}) for {}: {}\n\
                     Send a test page: firebreak contact test {id}{flag}",
                    t("type"),
                    t("name"),
                    t("user"),
                    render::contact_target(&c),
                )?;
            }
            Ok(())
        }
        ContactCommand::List { user } => {
            let handle = whose(&api, user.as_deref()).await?;
            let page = api.get(&["users", &handle, "contact-methods"], &[]).await?;
            let shown = render::printable(&handle);
            print_page(
                out,
                json,
                &page,
                &format!(
                    "{shown} has no contact methods, so pages cannot reach them. Add one with: \
                     firebreak contact add --type email ADDRESS{}",
                    user_flag(user.as_deref())
                ),
                render::contacts_table,
                "firebreak contact list",
            )
        }
        ContactCommand::Test { id, user } => {
            let handle = whose(&api, user.as_deref()).await?;
            let id = id.trim();
            let t = api
                .request(
                    Method::POST,
                    &["users", &handle, "contact-methods", id, "test"],
                    &[],
                    None,
                )
                .await?;
            let delivered = t.get("delivered").and_then(Value::as_bool) == Some(true);
            if json {
                write_json(out, &t)?;
            } else {
                writeln!(out, "{}", render::test_outcome(&t))?;
            }
            if delivered {
                return Ok(());
            }
            Err(CliError::Other(format!(
                "the test page to {} was not delivered; fix the receiver, or remove the contact \
                 method and add it with the right target",
                render::printable(id)
            )))
        }
        ContactCommand::Remove { id, user } => {
            let handle = whose(&api, user.as_deref()).await?;
            let id = id.trim();
            api.request(
                Method::DELETE,
                &["users", &handle, "contact-methods", id],
                &[],
                None,
            )
            .await?;
            if json {
                // The server answers 204 with no body; scripts still get an object to read.
                return write_json(out, &json!({ "id": id, "user": handle, "removed": true }));
            }
            writeln!(
                out,
                "Removed contact method {} of {}: Firebreak no longer pages them this way.",
                render::printable(id),
                render::printable(&handle)
            )?;
            Ok(())
        }
    }
}

/// Run a `policy` subcommand. Server and token are resolved with [`crate::resolve`].
pub async fn execute_policy(
    cmd: PolicyCommand,
    args: &ClientArgs,
    out: &mut dyn Write,
) -> Result<(), CliError> {
    let api = client_for(args)?;
    let json = args.json;
    match cmd {
        PolicyCommand::List => {
            let page = api.get(&["escalation-policies"], &[]).await?;
            print_page(
                out,
                json,
                &page,
                "No escalation policies. Declare them under escalation_policies: in \
                 firebreak.yaml, or POST /api/v1/escalation-policies.",
                render::policies_table,
                "firebreak policy list",
            )
        }
        PolicyCommand::Show { name } => {
            let p = api.get(&["escalation-policies", name.trim()], &[]).await?;
            if json {
                return write_json(out, &p);
            }
            writeln!(out, "{}", render::policy_detail(&p))?;
            Ok(())
        }
    }
}

/// Run an `escalation` subcommand. Server and token are resolved with [`crate::resolve`].
pub async fn execute_escalation(
    cmd: EscalationCommand,
    args: &ClientArgs,
    out: &mut dyn Write,
) -> Result<(), CliError> {
    let api = client_for(args)?;
    match cmd {
        EscalationCommand::List { incident, alert } => {
            let (query, about) = match (incident, alert) {
                (Some(i), None) => {
                    let i = i.trim().to_string();
                    let about = render::printable(&i);
                    (vec![("incident", i)], about)
                }
                (None, Some(a)) => (vec![("alert", a.to_string())], format!("alert {a}")),
                _ => {
                    return Err(CliError::Usage(
                        "give --incident INC-n or --alert ID (one of the two)".into(),
                    ));
                }
            };
            let page = api.get(&["escalations"], &query).await?;
            let list = items(&page);
            if list.is_empty() {
                // The server lists nothing for an incident or alert that does not exist: ask
                // for it, so a typo is "not found" rather than "nobody was paged".
                let (path, id) = &query[0];
                let path = if *path == "incident" {
                    "incidents"
                } else {
                    "alerts"
                };
                api.get(&[path, id], &[]).await?;
            }
            if args.json {
                return write_json(out, &page);
            }
            if list.is_empty() {
                writeln!(
                    out,
                    "No escalations for {about}: nobody has been paged for it. (Paging starts when \
                     its service has an escalation policy and its severity pages.)"
                )?;
                return Ok(());
            }
            writeln!(out, "{}", render::escalations_table(&list))?;
            for e in &list {
                let pages = e
                    .get("notifications")
                    .and_then(Value::as_array)
                    .cloned()
                    .unwrap_or_default();
                writeln!(
                    out,
                    "\nPages of {} (policy {}):",
                    render::text(e.get("id")),
                    render::text(e.get("policy"))
                )?;
                if pages.is_empty() {
                    writeln!(out, "None sent yet.")?;
                } else {
                    writeln!(out, "{}", render::notifications_table(&pages))?;
                }
            }
            Ok(())
        }
    }
}
