//! The `user` commands: add people who can hold incident roles and own tokens, list them,
//! change their access role, and disable or enable them (`/api/v1/users`; changes need an
//! admin token). Disabling a user stops every token that acts as them.

use std::io::Write;

use reqwest::Method;
use serde_json::json;

use crate::cli::{ClientArgs, UserCommand};
use crate::error::CliError;
use crate::{all_pages, client_for, render, write_json};

/// Run a `user` subcommand. Server and token are resolved with [`crate::resolve`].
pub async fn execute_user(
    cmd: UserCommand,
    args: &ClientArgs,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<(), CliError> {
    let api = client_for(args)?;
    let json = args.json;
    let show = |out: &mut dyn Write, user: &serde_json::Value| -> Result<(), CliError> {
        if json {
            return write_json(out, user);
        }
        writeln!(out, "{}", render::users_table(std::slice::from_ref(user)))?;
        Ok(())
    };
    match cmd {
        UserCommand::Add {
            handle,
            name,
            email,
            time_zone,
            role,
        } => {
            let mut body = json!({
                "handle": handle,
                "name": name.unwrap_or_else(|| handle.clone()),
                "role": role,
            });
            if let Some(e) = email {
                body["email"] = json!(e);
            }
            if let Some(tz) = time_zone {
                body["time_zone"] = json!(tz);
            }
            let user = api.send(Method::POST, &["users"], &body).await?;
            show(out, &user)?;
            if !json {
                // The token is made by the same server (`token create` without `--server`
                // works on a local database).
                let server = crate::credentials::resolve_server(args)?;
                writeln!(
                    err,
                    "{handle} can now hold incident roles. A token that acts as them: \
                     firebreak token create --server {server} --name {handle}-laptop \
                     --role {} --user {handle}",
                    render::text(user.get("role"))
                )?;
            }
            Ok(())
        }
        UserCommand::List => {
            let all = all_pages(&api, &["users"], "users").await?;
            if json {
                return write_json(out, &json!({ "items": all }));
            }
            writeln!(out, "{}", render::users_table(&all))?;
            Ok(())
        }
        UserCommand::Show { handle } => {
            let user = api.get(&["users", &handle], &[]).await?;
            show(out, &user)
        }
        UserCommand::SetRole { handle, role } => {
            let user = api
                .send(Method::PATCH, &["users", &handle], &json!({ "role": role }))
                .await?;
            show(out, &user)
        }
        UserCommand::Disable { handle } => {
            let user = api
                .send(
                    Method::PATCH,
                    &["users", &handle],
                    &json!({ "disabled": true }),
                )
                .await?;
            show(out, &user)?;
            if !json {
                writeln!(err, "{handle} is disabled; their tokens stopped working")?;
            }
            Ok(())
        }
        UserCommand::SetPassword { handle } => {
            // Your own password needs the current one, unless you are an admin.
            let me = api.get(&["me"], &[]).await?;
            let own = me.get("user").and_then(|u| u.as_str()) == Some(handle.as_str());
            let admin = me.get("role").and_then(|r| r.as_str()) == Some("admin");
            let mut lines = Lines::new();
            let current = if own && !admin {
                Some(lines.secret("Current password: ")?)
            } else {
                None
            };
            let password = read_new_password(&mut lines, err)?;
            let mut body = json!({ "password": password });
            if let Some(c) = current {
                body["current_password"] = json!(c);
            }
            api.send(Method::PUT, &["users", &handle, "password"], &body)
                .await?;
            writeln!(
                err,
                "{handle}'s password is set; every browser signed in as them was signed out"
            )?;
            Ok(())
        }
        UserCommand::Invite { handle, expires } => {
            let mut body = json!({});
            if let Some(e) = expires {
                body["expires_in"] = json!(e);
            }
            let link = api
                .send(Method::POST, &["users", &handle, "invitations"], &body)
                .await?;
            if json {
                return write_json(out, &link);
            }
            writeln!(out, "{}", render::text(link.get("url")))?;
            writeln!(
                err,
                "Send this link to {handle} privately. It works once, until {}.",
                render::text(link.get("expires_at"))
            )?;
            Ok(())
        }
        UserCommand::SignOut { handle } => {
            let done = api
                .send(Method::DELETE, &["users", &handle, "sessions"], &json!({}))
                .await?;
            if json {
                return write_json(out, &done);
            }
            writeln!(
                err,
                "signed out {} browser(s) of {handle}",
                render::text(done.get("signed_out"))
            )?;
            Ok(())
        }
        UserCommand::Enable { handle } => {
            let user = api
                .send(
                    Method::PATCH,
                    &["users", &handle],
                    &json!({ "disabled": false }),
                )
                .await?;
            show(out, &user)
        }
    }
}

/// Where passwords are read from: the terminal without echo, or lines of standard input
/// when it is not a terminal. Never the command line, where other users of the machine and
/// the shell history would see them.
struct Lines {
    terminal: bool,
}

impl Lines {
    fn new() -> Lines {
        use std::io::IsTerminal;
        Lines {
            terminal: std::io::stdin().is_terminal(),
        }
    }

    fn secret(&mut self, prompt: &str) -> Result<String, CliError> {
        if self.terminal {
            return Ok(rpassword::prompt_password(prompt)?);
        }
        let mut line = String::new();
        std::io::stdin().read_line(&mut line)?;
        Ok(line.trim_end_matches(['\r', '\n']).to_string())
    }
}

/// Reads a new password: twice on the terminal, once from standard input otherwise.
fn read_new_password(lines: &mut Lines, err: &mut dyn Write) -> Result<String, CliError> {
    let invalid = |m: &str| CliError::Usage(m.to_string());
    let password = lines.secret("New password: ")?;
    if lines.terminal && lines.secret("The same password again: ")? != password {
        return Err(invalid("the two passwords differ; nothing was changed"));
    }
    if password.is_empty() {
        writeln!(err, "no password given")?;
        return Err(invalid("no password was given; nothing was changed"));
    }
    Ok(password)
}
