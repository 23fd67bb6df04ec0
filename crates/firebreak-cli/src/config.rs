//! The `config` commands: `config export` asks the server for its running configuration
//! (`GET /api/v1/config`, the document `firebreak_config::to_document` writes) and prints it as
//! a `firebreak.yaml` that `firebreak check` accepts. Integration keys never reach the client:
//! the server writes each as `{env: NAME}`, and the names to set go to standard error.

use std::io::Write;

use serde_json::Value;

use crate::cli::{ClientArgs, ConfigCommand};
use crate::error::CliError;
use crate::{client_for, write_json};

/// Run a `config` subcommand: the file on `out` (or in `--output`), guidance on `err`.
pub async fn execute_config(
    cmd: ConfigCommand,
    args: &ClientArgs,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<(), CliError> {
    match cmd {
        ConfigCommand::Export { output } => {
            let api = client_for(args)?;
            let doc = api.get(&["config"], &[]).await?;
            // Older servers answer with a summary in another shape; writing that out would
            // make a file that silently drops sections.
            if !doc.get("alerting").is_some_and(Value::is_object) {
                return Err(CliError::Other(format!(
                    "{} did not answer with the configuration in the firebreak.yaml model (it \
                     has no alerting section); the server is probably older than this client",
                    api.url(&["config"])
                )));
            }
            let text = if args.json {
                let mut buf = Vec::new();
                write_json(&mut buf, &doc)?;
                buf
            } else {
                firebreak_config::json_to_yaml(&doc).into_bytes()
            };
            match &output {
                Some(path) => {
                    std::fs::write(path, &text).map_err(|e| {
                        CliError::Other(format!("cannot write {}: {e}", path.display()))
                    })?;
                    writeln!(err, "Wrote the running configuration to {}", path.display())?;
                }
                None => out.write_all(&text)?,
            }
            let variables = key_variables(&doc);
            if !variables.is_empty() {
                writeln!(
                    err,
                    "Integration keys and channel URLs are not exported. Where this file is \
                     checked or served, set: {}",
                    variables.join(", ")
                )?;
            }
            Ok(())
        }
    }
}

/// The environment variables the document's integration keys and channel URLs are read from,
/// in order.
fn key_variables(doc: &Value) -> Vec<String> {
    let list = |v: &Value, key: &str| v.get(key).and_then(Value::as_array).cloned();
    list(doc, "services")
        .unwrap_or_default()
        .iter()
        .flat_map(|s| list(s, "integrations").unwrap_or_default())
        .filter_map(|i| {
            i.pointer("/key/env")
                .and_then(Value::as_str)
                .map(String::from)
        })
        .chain(
            doc.pointer("/comms/channels")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default()
                .iter()
                .filter_map(|c| {
                    c.pointer("/url/env")
                        .and_then(Value::as_str)
                        .map(String::from)
                }),
        )
        .collect()
}
