//! Reads `firebreak.yaml` (configuration as code) into a [`firebreak_domain::Config`].
//!
//! Every section (`severities`, `roles`, `checklists`, `services`, `users`, `alerting`) is
//! optional; a missing section keeps the default from [`Config::default`] (services and users
//! default to empty). The whole file is checked before anything is returned, and every problem
//! is reported with its file, line, column and key path:
//!
//! ```text
//! firebreak.yaml:12:19: severities[1].update_every: invalid duration "5 mins"; expected a duration like 90s, 15m, 2h or 1h30m
//! ```
//!
//! A service may list its `integrations` (a `name` and a `key` of exactly 32 letters or digits,
//! unique across the file; messages never repeat a key) and its `grouping` of alerts into
//! incidents (a `window` and `declare` rules, each with `match`, an incident `severity` and an
//! optional `title`). The `alerting` section holds the ingest `rate_limit` (`per_second`,
//! `burst`), the `suspect_window` for deploys, and `routes`: rules tried in order, each with a
//! `match` list of matchers such as `severity="critical"` and either `drop: true` or any of a
//! `service` defined in the file, an alert `severity` and an `urgency`.
//!
//! See `examples/firebreak.yaml` in this crate for a complete file.

mod error;
mod node;
mod read;

use std::path::Path;

use firebreak_domain::config::Config;

pub use error::{ConfigError, ConfigErrors};
pub use read::parse_duration;

/// Reads and checks the configuration file at `path`.
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

/// Parses and checks configuration text; `file_name` is used in error messages.
pub fn parse(source: &str, file_name: &str) -> Result<Config, ConfigErrors> {
    let mut reader = read::Reader::new(file_name);
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
