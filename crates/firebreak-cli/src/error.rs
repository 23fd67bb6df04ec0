//! The error type of client commands and how each kind maps to an exit code
//! and a line on standard error.

use std::process::ExitCode;

/// One field-level complaint from a problem+json `errors` array.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    /// The offending field.
    pub field: String,
    /// What is wrong with it.
    pub message: String,
}

/// Why a client command failed.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// The command line or configuration is unusable (exit 2).
    #[error("{0}")]
    Usage(String),
    /// The server answered with an error (exit 1).
    #[error("{}", problem_line(.title, .detail))]
    Problem {
        /// HTTP status code.
        status: u16,
        /// Problem title.
        title: String,
        /// Problem detail, if any.
        detail: Option<String>,
        /// Field errors, if any.
        errors: Vec<FieldError>,
    },
    /// The server could not be reached (exit 1).
    #[error("could not reach Firebreak at {url}: {reason}")]
    Unreachable {
        /// The URL that was tried.
        url: String,
        /// Why it failed.
        reason: String,
    },
    /// Anything else: bad responses, I/O failures (exit 1).
    #[error("{0}")]
    Other(String),
}

fn problem_line(title: &str, detail: &Option<String>) -> String {
    match detail {
        Some(d) if !d.is_empty() => format!("{title}: {d}"),
        _ => title.to_string(),
    }
}

impl CliError {
    /// The process exit code for this error: 2 for usage errors, else 1.
    pub fn exit_code(&self) -> u8 {
        match self {
            CliError::Usage(_) => 2,
            _ => 1,
        }
    }

    /// The full message for standard error, `error: ...` plus any field
    /// errors on following lines.
    pub fn report(&self) -> String {
        let mut s = format!("error: {self}");
        if let CliError::Problem { errors, detail, .. } = self {
            let detail = detail.as_deref().unwrap_or("");
            for e in errors {
                // Some answers repeat a lone field error in `detail`; say it once.
                if detail.contains(&format!("{}: {}", e.field, e.message)) {
                    continue;
                }
                s.push_str(&format!("\n  {}: {}", e.field, e.message));
            }
        }
        s
    }

    /// Print the report to standard error and return the exit code.
    pub fn print_and_exit_code(&self) -> ExitCode {
        eprintln!("{}", self.report());
        ExitCode::from(self.exit_code())
    }
}

impl From<std::io::Error> for CliError {
    fn from(e: std::io::Error) -> Self {
        CliError::Other(e.to_string())
    }
}
