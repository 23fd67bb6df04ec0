//! Reads `firebreak.yaml` (configuration as code) into a [`firebreak_domain::Config`].
//!
//! Every section (`severities`, `roles`, `checklists`, `services`, `users`, `schedules`,
//! `escalation_policies`, `paging`, `alerting`, `outbound`, `server`, `email`, `status_page`,
//! `comms`, `runbooks`, `break_glass`, `secrets`, `oidc`, `metrics`) is optional; a missing section keeps the default from [`Config::default`] (services, users,
//! schedules and escalation policies default to empty). The whole file is checked before
//! anything is returned, and every problem is reported with its file, line, column and key
//! path:
//!
//! ```text
//! firebreak.yaml:12:19: severities[1].update_every: invalid duration "5 mins"; expected a duration like 90s, 15m, 2h or 1h30m
//! ```
//!
//! A service may list its `integrations` (a `name` and a `key` of exactly 32 letters or digits,
//! unique across the file; messages never repeat a key). The key may instead be read from an
//! environment variable, `key: {env: FIREBREAK_KEY_CHECKOUT_PROMETHEUS}`, so the file can live
//! in version control; an unset variable is an error. A service may also list its `grouping`
//! of alerts into incidents (a `window` and `declare` rules, each with `match`, an incident
//! `severity` and an optional `title`). The `alerting` section holds the ingest `rate_limit` (`per_second`,
//! `burst`), the `suspect_window` for deploys, and `routes`: rules tried in order, each with a
//! `match` list of matchers such as `severity="critical"` and either `drop: true` or any of a
//! `service` defined in the file, an alert `severity` and an `urgency`. The `outbound`
//! section holds the networks webhooks may reach although they are private (`allow`) and the
//! `retry` delays of failed deliveries.
//!
//! `escalation_policies` say who is paged: each has a `name`, `steps` (each a `delay` and
//! `targets`, `{user: HANDLE}` or `{schedule: NAME}`, all declared in the same file) and how
//! many times it `repeat`s. A service names its `escalation_policy` and its `manager` (a user);
//! `paging` holds the `default_policy`, the `retry` delays of pages (like `outbound.retry`), the
//! `attempt_timeout` and the `ack_link_ttl`. `server.public_url` is the base of the links pages
//! carry, and `email` the `smtp_url` (which may be `{env: NAME}`, as it may hold a password)
//! and the `from` of every email. [`apply_env`] lets the environment override some of these.
//!
//! `status_page` describes the public status page: its `title`, `time_zone`, a separate
//! `listen` address, its public `url`, `logo_url` and `site_url`, the `components` it shows
//! (each a unique `name`, an optional `description` and `group`, and the `services` declared in
//! the file it stands for) and the `templates` of public updates by status (`investigating`,
//! `identified`, `monitoring`, `resolved`). A severity's `status_page` says what its public
//! incidents show: a `component_status` and an `impact`.
//!
//! `comms` lists the chat `channels` incident news is posted to: each has a unique `name`
//! (lowercase letters, digits, `-` and `_`), a `type` (`slack`, `mattermost` or `teams`), its
//! incoming webhook `url` (http or https; a secret, so it may be `{env: NAME}` like an
//! integration key) and the `severities` and `services` (declared in the file) of the incidents
//! it takes, any when left out. Its `stakeholders` are people emailed the internal news of the
//! incidents they take: each a unique `email`, an optional `name`, and the same `severities` and
//! `services` filter.
//!
//! A severity's `freeze` (`services`, `all` or `none`) and `freeze_until` (`mitigated` or
//! `resolved`) say what an open incident of it freezes, and until when; a key left out takes
//! the default for the severity's rank.
//!
//! `runbooks` lists runbooks: each a unique `name`, the `services` it covers (at least one,
//! declared in the file), an optional `match` list of matchers, its `body` (Markdown) or `url`
//! (or both) and its `actions`. An action has a unique `name`, a `kind` (`command`: `run`, an
//! argv list never given to a shell, `cwd` and `env`; `http`: `method`, `url`, `headers` and
//! `body`), `params` (name to the pattern its values must match), a `timeout`, the least `role`
//! that may run it (responder or admin), and whether each run needs `approval`, given within
//! `approval_within`. Every `{placeholder}` in `run`, `url` and `body` is a built-in one or a
//! declared parameter. Secrets are never written in the file: a value of `env` or `headers`
//! may be `{secret: NAME}`, read when the action runs from the environment or the file that
//! `secrets.file` names. `break_glass` says how long a break-glass grant may last (`max`, 1m to
//! 24h) and whether it waits for the incident commander's `approval`.
//!
//! `metrics.listen` is the address of a listener that serves only Firebreak's own Prometheus
//! `/metrics`, without a token (an IP address and a port, not the status page's).
//!
//! [`to_document`] and [`to_yaml`] go the other way: they write a [`Config`] in the same model
//! and key names, with integration keys and channel URLs left out (each written as
//! `{env: NAME}`), so the running configuration can be exported and read back.
//!
//! See `examples/firebreak.yaml` in this crate for a complete file.

mod error;
mod export;
mod node;
mod read;
mod yaml;

use std::path::Path;

use firebreak_domain::config::Config;
use ipnet::IpNet;

pub use error::{ConfigError, ConfigErrors};
pub use export::{to_document, to_yaml};
pub use read::gameday::{EventKind, Scenario, ScenarioEvent, ScenarioKey, SenderFormat};
pub use read::{format_duration, parse_duration, parse_network};
pub use yaml::json_to_yaml;

/// The environment variable that lists allowed outbound networks, in the form
/// [`parse_allow_env`] reads.
pub const ENV_OUTBOUND_ALLOW: &str = "FIREBREAK_OUTBOUND_ALLOW";

/// Parses `FIREBREAK_OUTBOUND_ALLOW`: networks separated by commas, each a CIDR like
/// `10.0.0.0/8` or a bare address (`/32` or `/128`); spaces around entries and empty entries
/// are ignored. The error names the bad entry, its position and the variable.
pub fn parse_allow_env(text: &str) -> Result<Vec<IpNet>, String> {
    let mut nets = Vec::new();
    for (i, entry) in text.split(',').enumerate() {
        if entry.trim().is_empty() {
            continue;
        }
        let net = parse_network(entry).map_err(|e| {
            let entry = entry.trim();
            let hint = if entry.contains([';', ' ', '\t']) {
                "; separate entries with commas"
            } else {
                ""
            };
            format!("{ENV_OUTBOUND_ALLOW}, entry {}: {e}{hint}", i + 1)
        })?;
        nets.push(net);
    }
    Ok(nets)
}

/// The environment variable that overrides `server.public_url`.
pub const ENV_PUBLIC_URL: &str = "FIREBREAK_PUBLIC_URL";
/// The environment variable that overrides `email.smtp_url`; also the variable an exported
/// SMTP URL with a password is read from (`smtp_url: {env: FIREBREAK_SMTP_URL}`).
pub const ENV_SMTP_URL: &str = "FIREBREAK_SMTP_URL";
/// The environment variable that overrides `email.from`.
pub const ENV_EMAIL_FROM: &str = "FIREBREAK_EMAIL_FROM";

/// Applies the environment to a configuration read from the file (or the defaults), with the
/// same checks the file gets: `FIREBREAK_OUTBOUND_ALLOW` adds networks to `outbound.allow`
/// (those not already there), and `FIREBREAK_PUBLIC_URL`, `FIREBREAK_SMTP_URL` and
/// `FIREBREAK_EMAIL_FROM` replace `server.public_url`, `email.smtp_url` and `email.from`.
/// A variable that is unset or blank changes nothing; values are trimmed.
///
/// `env` looks a variable up (`None`: not set), like [`parse_with_env`]'s. On error nothing is
/// changed, and the message has one line per problem, each naming its variable; no message
/// repeats the SMTP URL. An SMTP URL (from the file or the environment) without a sender is
/// an error.
pub fn apply_env(config: &mut Config, env: &dyn Fn(&str) -> Option<String>) -> Result<(), String> {
    let get = |name: &str| {
        env(name)
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
    };
    let mut next = config.clone();
    let mut problems = Vec::new();
    if let Some(text) = get(ENV_OUTBOUND_ALLOW) {
        match parse_allow_env(&text) {
            Ok(nets) => {
                for net in nets {
                    if !next.outbound.allow.contains(&net) {
                        next.outbound.allow.push(net);
                    }
                }
            }
            Err(e) => problems.push(e),
        }
    }
    if let Some(text) = get(ENV_PUBLIC_URL) {
        match read::check_public_url(&text) {
            Ok(url) => next.server.public_url = Some(url),
            Err(e) => problems.push(format!("{ENV_PUBLIC_URL}: {e}")),
        }
    }
    let smtp_from_env = get(ENV_SMTP_URL);
    if let Some(text) = &smtp_from_env {
        match read::check_smtp_url(text) {
            Ok(()) => next.email.smtp_url = Some(text.clone()),
            Err(e) => problems.push(format!("{ENV_SMTP_URL}: {e}")),
        }
    }
    if let Some(text) = get(ENV_EMAIL_FROM) {
        match read::check_email_from(&text) {
            Ok(()) => next.email.from = Some(text),
            Err(e) => problems.push(format!("{ENV_EMAIL_FROM}: {e}")),
        }
    }
    if problems.is_empty() && next.email.smtp_url.is_some() && next.email.from.is_none() {
        let source = if smtp_from_env.is_some() {
            ENV_SMTP_URL
        } else {
            "email.smtp_url"
        };
        problems.push(format!(
            "{source} is set but no sender is: set {ENV_EMAIL_FROM}, or email.from in the \
             configuration file, to a mailbox like Firebreak <firebreak@example.com>"
        ));
    }
    if problems.is_empty() {
        *config = next;
        Ok(())
    } else {
        Err(problems.join("\n"))
    }
}

/// [`apply_env`] with this process's environment.
pub fn apply_process_env(config: &mut Config) -> Result<(), String> {
    apply_env(config, &process_env)
}

/// Reads an environment variable of this process, for `key: {env: NAME}` and the like.
fn process_env(name: &str) -> Option<String> {
    // Not UTF-8: kept lossily, so it fails the key check instead of reading as unset.
    std::env::var_os(name).map(|v| v.to_string_lossy().into_owned())
}

/// Reads one runbook given to the API in the file's own shape (one `runbooks:` entry, as JSON),
/// checked exactly as the file's would be, against the services that exist. Each problem is
/// `(field, message)`, the field named inside the body (`actions[0].run`).
pub fn parse_runbook(
    body: &serde_json::Value,
    services: &[String],
) -> Result<firebreak_domain::runbook::Runbook, Vec<(String, String)>> {
    let doc = serde_json::json!({
        "services": services.iter().map(|s| serde_json::json!({"name": s})).collect::<Vec<_>>(),
        "runbooks": [body],
    });
    let yaml = json_to_yaml(&doc);
    match parse_with_env(&yaml, "request body", &|_| None) {
        Ok(mut config) => config
            .runbooks
            .pop()
            .ok_or_else(|| vec![(String::new(), "the body holds no runbook".to_string())]),
        Err(errors) => Err(errors
            .iter()
            .map(|e| {
                let field = e
                    .path
                    .strip_prefix("runbooks[0].")
                    .or_else(|| e.path.strip_prefix("runbooks[0]"))
                    .unwrap_or(&e.path)
                    .to_string();
                // Lines of the document made from the body mean nothing to its sender.
                let message = match e.message.find("; first on line") {
                    Some(cut) => e.message[..cut].to_string(),
                    None => e.message.clone(),
                };
                (field, message)
            })
            .collect()),
    }
}

/// Reads and checks the configuration file at `path`, with secrets (integration keys, channel
/// URLs, the SMTP URL) written as `{env: NAME}` read from this process's environment.
///
/// Errors name the file as `path` was given.
pub fn load(path: &Path) -> Result<Config, ConfigErrors> {
    let file_name = path.display().to_string();
    match std::fs::read_to_string(path) {
        Ok(source) => parse(&source, &file_name),
        Err(e) => Err(ConfigErrors::new(
            &file_name,
            "",
            vec![ConfigError {
                file: file_name.clone(),
                line: 0,
                column: 0,
                path: String::new(),
                message: format!("cannot read the configuration file: {e}"),
                span: None,
            }],
        )),
    }
}

/// Parses and checks configuration text; `file_name` is used in error messages. Secrets
/// (integration keys, channel URLs, the SMTP URL) written as `{env: NAME}` are read from this
/// process's environment.
pub fn parse(source: &str, file_name: &str) -> Result<Config, ConfigErrors> {
    parse_with_env(source, file_name, &process_env)
}

/// [`parse`], with secrets written as `{env: NAME}` looked up by `env` (`None`: the variable is
/// not set) instead of in this process's environment.
pub fn parse_with_env(
    source: &str,
    file_name: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Config, ConfigErrors> {
    let mut reader = read::Reader::new(file_name, env);
    let blank = source
        .lines()
        .all(|l| l.trim().is_empty() || l.trim_start().starts_with('#') || l.trim() == "---");
    let config = if blank {
        reader.config(&node::Node::null())
    } else {
        // YAML 1.2 booleans only, so checklist items like `no` or `y` stay text.
        let options = serde_saphyr::options! { strict_booleans: true };
        match serde_saphyr::from_str_with_options::<node::Node>(source, options) {
            Ok(root) => reader.config(&root),
            Err(e) => {
                let location = e.location();
                let (line, column) = location.map_or((0, 0), |l| (l.line(), l.column()));
                let span = location.and_then(|l| {
                    let s = l.span();
                    s.byte_offset()
                        .map(|o| (o as usize, s.byte_len().unwrap_or(0) as usize))
                });
                reader.errors.push(ConfigError {
                    file: file_name.to_string(),
                    line,
                    column,
                    path: String::new(),
                    message: format!("invalid YAML: {}", e.without_snippet()),
                    span,
                });
                Config::default()
            }
        }
    };
    if reader.errors.is_empty() {
        Ok(config)
    } else {
        Err(ConfigErrors::new(file_name, source, reader.errors))
    }
}

/// Reads and checks a game day scenario file (see `firebreak gameday check`). Integration keys
/// written `{env: NAME}` are read from this process's environment. Errors name the file as
/// `path` was given, with line, column and key path.
pub fn load_scenario(path: &Path) -> Result<Scenario, ConfigErrors> {
    let file_name = path.display().to_string();
    match std::fs::read_to_string(path) {
        Ok(source) => parse_scenario_with_env(&source, &file_name, &process_env),
        Err(e) => Err(ConfigErrors::new(
            &file_name,
            "",
            vec![ConfigError {
                file: file_name.clone(),
                line: 0,
                column: 0,
                path: String::new(),
                message: format!("cannot read the scenario file: {e}"),
                span: None,
            }],
        )),
    }
}

/// [`load_scenario`] on text, with `{env: NAME}` looked up by `env`.
pub fn parse_scenario_with_env(
    source: &str,
    file_name: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Scenario, ConfigErrors> {
    let mut reader = read::Reader::new(file_name, env);
    let options = serde_saphyr::options! { strict_booleans: true };
    let scenario = match serde_saphyr::from_str_with_options::<node::Node>(source, options) {
        Ok(root) => reader.scenario(&root),
        Err(e) => {
            let location = e.location();
            let (line, column) = location.map_or((0, 0), |l| (l.line(), l.column()));
            reader.errors.push(ConfigError {
                file: file_name.to_string(),
                line,
                column,
                path: String::new(),
                message: format!("invalid YAML: {}", e.without_snippet()),
                span: None,
            });
            None
        }
    };
    match scenario {
        Some(s) if reader.errors.is_empty() => Ok(s),
        _ => {
            if reader.errors.is_empty() {
                reader.errors.push(ConfigError {
                    file: file_name.to_string(),
                    line: 0,
                    column: 0,
                    path: String::new(),
                    message: "the scenario is empty".into(),
                    span: None,
                });
            }
            Err(ConfigErrors::new(file_name, source, reader.errors))
        }
    }
}
