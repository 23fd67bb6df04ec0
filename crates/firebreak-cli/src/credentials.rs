//! Stored login credentials (`credentials.json` in the Firebreak config
//! directory) and the resolution of which server and token a command uses:
//! flags, then environment, then the stored login.

use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::cli::ClientArgs;
use crate::error::CliError;

/// Environment variable naming the server.
pub const ENV_SERVER: &str = "FIREBREAK_SERVER";
/// Environment variable holding the token.
pub const ENV_TOKEN: &str = "FIREBREAK_TOKEN";
/// Environment variable overriding the config directory.
pub const ENV_CONFIG_DIR: &str = "FIREBREAK_CONFIG_DIR";

const FILE_NAME: &str = "credentials.json";

/// What `firebreak login` stores.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Credentials {
    /// Base URL of the server.
    pub server: String,
    /// API token.
    pub token: String,
}

/// The server and token a command will use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    /// Base URL of the server, without a trailing slash.
    pub server: String,
    /// API token.
    pub token: String,
}

/// The config directory: `$FIREBREAK_CONFIG_DIR`, else
/// `dirs::config_dir()/firebreak`.
pub fn config_dir() -> Option<PathBuf> {
    match std::env::var_os(ENV_CONFIG_DIR) {
        Some(d) if !d.is_empty() => Some(PathBuf::from(d)),
        _ => dirs::config_dir().map(|d| d.join("firebreak")),
    }
}

/// Path of the credentials file inside `dir`.
pub fn credentials_path(dir: &Path) -> PathBuf {
    dir.join(FILE_NAME)
}

/// Read stored credentials from `dir`; `Ok(None)` when there are none.
pub fn load(dir: &Path) -> Result<Option<Credentials>, CliError> {
    let path = credentials_path(dir);
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            return Err(CliError::Other(format!(
                "cannot read {}: {e}",
                path.display()
            )));
        }
    };
    serde_json::from_str(&text).map(Some).map_err(|e| {
        CliError::Usage(format!(
            "{} is not valid ({e}); run firebreak login --server URL --token TOKEN",
            path.display()
        ))
    })
}

/// Write credentials to `dir` (created 0700) as `credentials.json` (0600),
/// atomically. Returns the file's path.
pub fn save(dir: &Path, creds: &Credentials) -> Result<PathBuf, CliError> {
    let io = |what: &str, p: &Path, e: std::io::Error| {
        CliError::Other(format!("cannot {what} {}: {e}", p.display()))
    };
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder
        .create(dir)
        .map_err(|e| io("create directory", dir, e))?;

    let path = credentials_path(dir);
    let tmp = dir.join(format!("{FILE_NAME}.tmp"));
    let _ = std::fs::remove_file(&tmp);
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut file = opts.open(&tmp).map_err(|e| io("create", &tmp, e))?;
    let mut body = serde_json::to_vec_pretty(creds).map_err(|e| CliError::Other(e.to_string()))?;
    body.push(b'\n');
    file.write_all(&body)
        .and_then(|()| file.sync_all())
        .map_err(|e| io("write", &tmp, e))?;
    drop(file);
    std::fs::rename(&tmp, &path).map_err(|e| io("write", &path, e))?;
    Ok(path)
}

fn normalize(server: &str) -> String {
    server.trim().trim_end_matches('/').to_string()
}

const HINT: &str = "run firebreak login --server URL --token TOKEN";

/// Decide which server and token to use.
///
/// Each of server and token comes from the flag, then `env`, then the
/// stored login. A stored token is only used with the stored server, so a
/// token is never sent to a server it was not stored for.
pub fn resolve_with(
    args: &ClientArgs,
    env: impl Fn(&str) -> Option<String>,
    stored: Option<&Credentials>,
) -> Result<Resolved, CliError> {
    let nonempty = |s: Option<String>| s.filter(|v| !v.trim().is_empty());
    let server = server_with(args, &env, stored)?;
    let token = nonempty(args.token.clone())
        .or_else(|| nonempty(env(ENV_TOKEN)))
        .or_else(|| {
            stored
                .filter(|c| normalize(&c.server) == server)
                .map(|c| c.token.clone())
        });
    let Some(token) = token else {
        return Err(CliError::Usage(format!("no token for {server}; {HINT}")));
    };
    Ok(Resolved { server, token })
}

/// The server from `--server`, then the environment, then the stored login.
fn server_with(
    args: &ClientArgs,
    env: &impl Fn(&str) -> Option<String>,
    stored: Option<&Credentials>,
) -> Result<String, CliError> {
    let nonempty = |s: Option<String>| s.filter(|v| !v.trim().is_empty());
    nonempty(args.server.clone())
        .or_else(|| nonempty(env(ENV_SERVER)))
        .or_else(|| stored.map(|c| c.server.clone()))
        .map(|s| normalize(&s))
        .ok_or_else(|| CliError::Usage(format!("no Firebreak server configured; {HINT}")))
}

/// The server alone, for what needs no token (a heartbeat ping carries its key in its URL).
pub fn resolve_server(args: &ClientArgs) -> Result<String, CliError> {
    server_with(args, &|k| std::env::var(k).ok(), stored_login()?.as_ref())
}

/// The login stored in [`config_dir`], if any.
fn stored_login() -> Result<Option<Credentials>, CliError> {
    match config_dir() {
        Some(dir) => load(&dir),
        None => Ok(None),
    }
}

/// [`resolve_with`] using the process environment and the stored login in
/// [`config_dir`].
pub fn resolve(args: &ClientArgs) -> Result<Resolved, CliError> {
    resolve_with(args, |k| std::env::var(k).ok(), stored_login()?.as_ref())
}
