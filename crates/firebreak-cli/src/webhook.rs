//! The `webhook` commands: subscribe a URL to Firebreak's events, list subscriptions and their
//! deliveries, send a delivery again, turn a disabled subscription back on, and remove one
//! (`/api/v1/webhooks`, admins only).
//!
//! `webhook add` prints the signing secret alone on `out`, so `SECRET=$(firebreak webhook add
//! ...)` works; the subscription id and the warning that the secret is shown once go to `err`.

use std::io::Write;

use reqwest::Method;
use serde_json::{Value, json};

use crate::cli::{ClientArgs, WebhookCommand};
use crate::error::CliError;
use crate::ops::print_page;
use crate::{all_pages, client_for, render, write_json};

/// Run a `webhook` subcommand. Server and token are resolved with [`crate::resolve`].
pub async fn execute_webhook(
    cmd: WebhookCommand,
    args: &ClientArgs,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<(), CliError> {
    let api = client_for(args)?;
    let json = args.json;
    match cmd {
        WebhookCommand::Add {
            url,
            events,
            description,
        } => {
            let mut body = json!({ "url": url.trim(), "events": events });
            if let Some(d) = description {
                body["description"] = json!(d);
            }
            let w = api.send(Method::POST, &["webhooks"], &body).await?;
            if json {
                return write_json(out, &w);
            }
            let secret = w
                .get("secret")
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
                .ok_or_else(|| {
                    CliError::Other(
                        "the server's answer has no signing secret; remove the subscription and \
                         add it again to get one"
                            .into(),
                    )
                })?;
            writeln!(out, "{}", render::printable(secret))?;
            let id = render::text(w.get("id"));
            writeln!(
                err,
                "Created webhook {id}: sends {} to {}\n\
                 The secret printed above is shown only this once; keep it in your secret store.\n\
                 The receiver checks each delivery's webhook-signature header with it.\n\
                 Deliveries and their answers: firebreak webhook deliveries {id}",
                render::text(w.get("events")),
                render::url_without_query(&render::text(w.get("url"))),
            )?;
            Ok(())
        }
        WebhookCommand::List => {
            let all = all_pages(&api, &["webhooks"], "subscriptions").await?;
            let page = json!({ "items": all, "next_cursor": null });
            print_page(
                out,
                json,
                &page,
                "No webhook subscriptions. Add one with: firebreak webhook add URL --event TYPE",
                render::webhooks_table,
                "firebreak webhook list",
            )
        }
        WebhookCommand::Deliveries { id, limit, cursor } => {
            let id = id.trim();
            let mut query = Vec::new();
            if let Some(l) = limit {
                query.push(("limit", l.to_string()));
            }
            if let Some(c) = cursor.filter(|c| !c.trim().is_empty()) {
                query.push(("cursor", c));
            }
            let page = api.get(&["webhooks", id, "deliveries"], &query).await?;
            let mut hint = format!("firebreak webhook deliveries {id}");
            if let Some(l) = limit {
                hint.push_str(&format!(" --limit {l}"));
            }
            print_page(
                out,
                json,
                &page,
                "No deliveries yet: nothing the subscription asks for has happened since it was added.",
                render::deliveries_table,
                &hint,
            )
        }
        WebhookCommand::Redeliver { id, delivery } => {
            let (id, delivery) = (id.trim(), delivery.to_string());
            let d = api
                .request(
                    Method::POST,
                    &["webhooks", id, "deliveries", &delivery, "redeliver"],
                    &[],
                    None,
                )
                .await?;
            if json {
                return write_json(out, &d);
            }
            let t = |k: &str| render::text(d.get(k));
            writeln!(
                out,
                "Queued delivery {} of webhook {id} again: {} {}, with the same webhook-id.\n\
                 Follow it with: firebreak webhook deliveries {id}",
                t("id"),
                t("event_type"),
                t("event_id"),
            )?;
            Ok(())
        }
        WebhookCommand::Enable { id } => {
            let id = id.trim();
            let w = api
                .request(Method::POST, &["webhooks", id, "enable"], &[], None)
                .await?;
            if json {
                return write_json(out, &w);
            }
            writeln!(
                out,
                "Enabled webhook {id}: events from now on are sent to {}.\n\
                 Deliveries that failed while it was off: firebreak webhook deliveries {id}, then\n\
                 firebreak webhook redeliver {id} DELIVERY for each one to send again.",
                render::text(w.get("url")),
            )?;
            Ok(())
        }
        WebhookCommand::Remove { id } => {
            let id = id.trim();
            api.request(Method::DELETE, &["webhooks", id], &[], None)
                .await?;
            if json {
                // The server answers 204 with no body; scripts still get an object to read.
                return write_json(out, &json!({ "id": id, "removed": true }));
            }
            writeln!(
                out,
                "Removed webhook {id}; deliveries still queued for it will not be sent."
            )?;
            Ok(())
        }
    }
}
