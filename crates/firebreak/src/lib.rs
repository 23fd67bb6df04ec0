//! The `firebreak` binary's wiring: choosing the store from the URL, loading the config,
//! starting the server and shutting it down. Kept as a library so tests can start the real
//! server in-process on a random port.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, bail};
use firebreak_domain::Config;
use firebreak_engine::{Clock, Firebreak, SystemClock};
use firebreak_store::Store;
use firebreak_store_postgres::PostgresStore;
use firebreak_store_sqlite::SqliteStore;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// Where the data lives and which config applies: shared by `serve`, `migrate`, `token` and `check`.
#[derive(Debug, Clone, clap::Args)]
pub struct StoreOptions {
    /// Directory for the embedded SQLite database, used when no --database-url is given.
    #[arg(
        long,
        env = "FIREBREAK_DATA_DIR",
        default_value = "firebreak-data",
        global = true
    )]
    pub data_dir: PathBuf,
    /// postgres://user@host/db for PostgreSQL, or sqlite:///path/to/file.db. Overrides --data-dir.
    #[arg(
        long,
        env = "FIREBREAK_DATABASE_URL",
        global = true,
        hide_env_values = true
    )]
    pub database_url: Option<String>,
    /// firebreak.yaml with severities, roles, checklists, services and users. Defaults apply without one.
    #[arg(long, env = "FIREBREAK_CONFIG", global = true)]
    pub config: Option<PathBuf>,
}

/// Which database a set of options points at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreLocation {
    Sqlite(PathBuf),
    Postgres(String),
}

impl StoreOptions {
    pub fn location(&self) -> anyhow::Result<StoreLocation> {
        let Some(url) = self.database_url.as_deref().filter(|u| !u.is_empty()) else {
            return Ok(StoreLocation::Sqlite(self.data_dir.join("firebreak.db")));
        };
        let scheme = url.split_once(':').map(|(s, _)| s).unwrap_or("");
        match scheme {
            "postgres" | "postgresql" => Ok(StoreLocation::Postgres(url.to_string())),
            "sqlite" => {
                let path = url.trim_start_matches("sqlite:").trim_start_matches("//");
                let path = path.split('?').next().unwrap_or(path);
                if path.is_empty() {
                    bail!(
                        "the database URL `sqlite:` names no file; use sqlite:///path/to/firebreak.db"
                    );
                }
                Ok(StoreLocation::Sqlite(PathBuf::from(path)))
            }
            _ => bail!(
                "unsupported database URL scheme `{}`: use postgres://user@host/database for PostgreSQL, \
                 sqlite:///path/to/firebreak.db for SQLite, or leave --database-url unset to use SQLite in --data-dir",
                if scheme.is_empty() { url } else { scheme }
            ),
        }
    }

    /// Opens the store and brings its schema up to date.
    pub async fn open_store(&self) -> anyhow::Result<Arc<dyn Store>> {
        match self.location()? {
            StoreLocation::Sqlite(path) => {
                let store = SqliteStore::open(&path).await.with_context(|| {
                    format!("could not open the SQLite database at {}", path.display())
                })?;
                Ok(Arc::new(store))
            }
            StoreLocation::Postgres(url) => {
                let store = PostgresStore::connect(&url).await.with_context(|| {
                    format!("could not connect to PostgreSQL at {}", redact_url(&url))
                })?;
                store
                    .migrate()
                    .await
                    .context("could not migrate the PostgreSQL database")?;
                Ok(Arc::new(store))
            }
        }
    }

    pub fn load_config(&self) -> anyhow::Result<Config> {
        match &self.config {
            None => Ok(Config::default()),
            Some(path) => load_config(path),
        }
    }
}

pub fn load_config(path: &Path) -> anyhow::Result<Config> {
    firebreak_config::load(path).map_err(|errors| anyhow::anyhow!("{errors}"))
}

/// Hides the password in a database URL so it can be logged.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(start), Some(at)) if at > start => {
            let creds = &url[start + 3..at];
            match creds.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..start + 3], &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

/// A server started by [`start`].
pub struct Running {
    pub addr: SocketAddr,
    pub app: Firebreak,
    pub shutdown: CancellationToken,
    pub task: tokio::task::JoinHandle<std::io::Result<()>>,
    /// The admin token created on first start of an empty store, if this start created one.
    pub initial_admin_token: Option<String>,
}

/// Opens the store, applies the config, creates the first admin if needed and starts serving.
pub async fn start(
    listen: &str,
    store: Arc<dyn Store>,
    config: Config,
    clock: Arc<dyn Clock>,
) -> anyhow::Result<Running> {
    let config = Arc::new(config);
    let app = Firebreak::new(store, clock, config.clone());
    app.sync_config(&config)
        .await
        .context("could not store the services and users from the config")?;
    app.sync_integrations(&config)
        .await
        .context("could not store the integrations from the config")?;
    app.refresh_alert_index()
        .await
        .context("could not load integration keys, silences and routing rules")?;
    let initial_admin_token = app
        .bootstrap_admin()
        .await
        .context("could not create the first admin token")?
        .map(|s| firebreak_engine::tokens::reveal(&s).to_string());
    let listener = TcpListener::bind(listen)
        .await
        .with_context(|| format!("could not listen on {listen}; is another process using it? Choose another with --listen"))?;
    let addr = listener.local_addr()?;
    let shutdown = CancellationToken::new();
    let task = tokio::spawn(firebreak_server::serve(
        listener,
        app.clone(),
        shutdown.clone(),
    ));
    // Keeps silences, maintenance windows and keys current: they start and end with time, and
    // another Firebreak process on the same database may change them.
    let refresher = app.clone();
    let stop = shutdown.clone();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(firebreak_engine::alerts::INDEX_REFRESH);
        loop {
            tokio::select! {
                _ = stop.cancelled() => break,
                _ = tick.tick() => {
                    if let Err(e) = refresher.refresh_alert_index().await {
                        tracing::warn!(error = %e, "could not reload integration keys and silences");
                    }
                }
            }
        }
    });
    Ok(Running {
        addr,
        app,
        shutdown,
        task,
        initial_admin_token,
    })
}

pub fn system_clock() -> Arc<dyn Clock> {
    Arc::new(SystemClock)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(url: Option<&str>) -> StoreOptions {
        StoreOptions {
            data_dir: "d".into(),
            database_url: url.map(String::from),
            config: None,
        }
    }

    #[test]
    fn the_url_scheme_chooses_the_store() {
        assert_eq!(
            opts(None).location().unwrap(),
            StoreLocation::Sqlite("d/firebreak.db".into())
        );
        assert_eq!(
            opts(Some("sqlite:///tmp/x.db")).location().unwrap(),
            StoreLocation::Sqlite("/tmp/x.db".into())
        );
        assert!(matches!(
            opts(Some("postgres://h/db")).location().unwrap(),
            StoreLocation::Postgres(_)
        ));
        let err = opts(Some("mysql://h/db"))
            .location()
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("unsupported database URL scheme `mysql`"),
            "{err}"
        );
    }

    #[test]
    fn passwords_are_hidden() {
        assert_eq!(
            redact_url("postgres://u:secret@h/db"),
            "postgres://u:***@h/db"
        );
        assert_eq!(redact_url("postgres://h/db"), "postgres://h/db");
    }
}
