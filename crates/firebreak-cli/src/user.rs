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
                writeln!(
                    err,
                    "{handle} can now hold incident roles. A token that acts as them: \
                     firebreak token create --name {handle}-laptop --role {} --user {handle}",
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
            let password = read_new_password(err)?;
            api.send(
                Method::PUT,
                &["users", &handle, "password"],
                &json!({ "password": password }),
            )
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

/// Reads a new password: twice from the terminal without echo, or the first line of
/// standard input when it is not a terminal. Never from the command line, where other users
/// of the machine and the shell history would see it.
fn read_new_password(err: &mut dyn Write) -> Result<String, CliError> {
    use std::io::IsTerminal;
    let invalid = |m: &str| CliError::Usage(m.to_string());
    let password = if std::io::stdin().is_terminal() {
        let first = rpassword::prompt_password("New password: ")?;
        let again = rpassword::prompt_password("The same password again: ")?;
        if first != again {
            return Err(invalid("the two passwords differ; nothing was changed"));
        }
        first
    } else {
        let mut line = String::new();
        std::io::stdin().read_line(&mut line)?;
        line.trim_end_matches(['\r', '\n']).to_string()
    };
    if password.is_empty() {
        writeln!(err, "no password given")?;
        return Err(invalid("no password was given; nothing was changed"));
    }
    Ok(password)
}
