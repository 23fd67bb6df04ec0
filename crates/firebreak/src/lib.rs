//! The `firebreak` binary's wiring: choosing the store from the URL, loading the config,
//! starting the server and shutting it down. Kept as a library so tests can start the real
//! server in-process on a random port.

pub mod allocator;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, bail};
use firebreak_domain::Config;
use firebreak_engine::runtime::Runtime;
use firebreak_engine::{Clock, Firebreak, SystemClock};
use firebreak_server::tls::Certificate;
pub use firebreak_server::tls::{SetBy, TlsFiles};
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

    /// The config file (or the defaults), with `FIREBREAK_PUBLIC_URL`, `FIREBREAK_SMTP_URL`,
    /// `FIREBREAK_EMAIL_FROM` and `FIREBREAK_OUTBOUND_ALLOW` applied over it.
    pub fn load_config(&self) -> anyhow::Result<Config> {
        let mut config = match &self.config {
            None => {
                if Path::new("firebreak.yaml").is_file() {
                    tracing::warn!(
                        "firebreak.yaml is in this directory but is not read: start with \
                         --config firebreak.yaml (or set FIREBREAK_CONFIG) to use it; running \
                         on the defaults"
                    );
                }
                Config::default()
            }
            Some(path) => load_config(path)?,
        };
        firebreak_config::apply_process_env(&mut config).map_err(anyhow::Error::msg)?;
        Ok(config)
    }
}

pub fn load_config(path: &Path) -> anyhow::Result<Config> {
    firebreak_config::load(path).map_err(|errors| anyhow::anyhow!("{errors}"))
}

/// Hides the passwords in a database URL so it can be logged: the one after `user:` and any
/// `password=`, `sslpassword=` or similar query parameter.
pub fn redact_url(url: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let base = match (base.find("://"), base.rfind('@')) {
        (Some(start), Some(at)) if at > start => {
            let creds = &base[start + 3..at];
            match creds.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &base[..start + 3], &base[at..]),
                None => base.to_string(),
            }
        }
        _ => base.to_string(),
    };
    let Some(query) = query else {
        return base;
    };
    let query: Vec<String> = query
        .split('&')
        .map(|pair| match pair.split_once('=') {
            Some((name, _)) if name.to_ascii_lowercase().contains("password") => {
                format!("{name}=***")
            }
            _ => pair.to_string(),
        })
        .collect();
    format!("{base}?{}", query.join("&"))
}

/// A server started by [`start`].
pub struct Running {
    pub addr: SocketAddr,
    /// Whether the main listener serves HTTPS.
    pub tls: bool,
    pub app: Firebreak,
    /// Cancel to stop taking requests; in-flight ones finish.
    pub shutdown: CancellationToken,
    pub task: tokio::task::JoinHandle<std::io::Result<()>>,
    /// The status page's own listener, when `status_page.listen` asks for one.
    pub status_addr: Option<SocketAddr>,
    pub status_task: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
    /// The metrics' own listener, when `metrics.listen` asks for one.
    pub metrics_addr: Option<SocketAddr>,
    pub metrics_task: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
    /// The background workers (outbox delivery, the change follower, clean-up).
    pub runtime: Arc<Runtime>,
    /// The admin token created on first start of an empty store, if this start created one.
    pub initial_admin_token: Option<String>,
}

impl Running {
    /// The base URL of the main listener as it serves: `https://...` with TLS.
    pub fn base_url(&self) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        format!("{scheme}://{}", self.addr)
    }

    /// Stops in order: no new requests (in-flight ones finish), then the workers finish what
    /// they started and give back their leases, then the store closes.
    pub async fn stop(self) -> anyhow::Result<()> {
        let store = self.app.store.clone();
        let served = self.stop_keeping_store().await;
        store.close().await;
        served
    }

    /// [`Running::stop`] without closing the store, for a caller that still uses it (the
    /// benchmarks drop a PostgreSQL schema after).
    pub async fn stop_keeping_store(self) -> anyhow::Result<()> {
        self.shutdown.cancel();
        let served = self.task.await;
        if let Some(status) = self.status_task
            && let Ok(Err(e)) = status.await
        {
            tracing::warn!(error = %e, "the status page listener failed");
        }
        if let Some(metrics) = self.metrics_task
            && let Ok(Err(e)) = metrics.await
        {
            tracing::warn!(error = %e, "the metrics listener failed");
        }
        self.runtime
            .shutdown(std::time::Duration::from_secs(10))
            .await;
        served.context("the server task failed")??;
        Ok(())
    }
}

/// Where outbound requests may go besides public addresses: `outbound.allow` from the config
/// and `FIREBREAK_OUTBOUND_ALLOW` from the environment, together.
pub fn outbound_allow(config: &Config) -> anyhow::Result<Vec<ipnet::IpNet>> {
    let mut allow = config.outbound.allow.clone();
    if let Ok(text) = std::env::var(firebreak_config::ENV_OUTBOUND_ALLOW)
        && !text.trim().is_empty()
    {
        allow.extend(firebreak_config::parse_allow_env(&text).map_err(anyhow::Error::msg)?);
    }
    Ok(allow)
}

/// The application on `store` with `config`, outbound rules and event bodies in the API's shape.
pub fn application(
    store: Arc<dyn Store>,
    config: Arc<Config>,
    clock: Arc<dyn Clock>,
) -> anyhow::Result<Firebreak> {
    let allow = outbound_allow(&config)?;
    let app = Firebreak::new(store, clock, config.clone(), allow)
        .map_err(|e| anyhow::anyhow!("could not set up outbound requests: {e}"))?
        .with_renderer(Arc::new(firebreak_server::events::WireRenderer::new(
            config,
        )));
    Ok(app)
}

/// Opens the store, applies the config, creates the first admin if needed, starts the
/// background workers and starts serving: HTTPS when `server.tls` names the files.
pub async fn start(
    listen: &str,
    store: Arc<dyn Store>,
    config: Config,
    clock: Arc<dyn Clock>,
) -> anyhow::Result<Running> {
    start_with(listen, store, config, clock, None).await
}

/// The TLS files the server uses: those named on the command line (`tls_flags`) win over
/// `server.tls` in the config.
pub fn tls_files(config: &Config, tls_flags: Option<TlsFiles>) -> Option<TlsFiles> {
    tls_flags.or_else(|| {
        config.server.tls.as_ref().map(|t| TlsFiles {
            cert: PathBuf::from(&t.cert),
            key: PathBuf::from(&t.key),
            set_by: SetBy::Config,
        })
    })
}

/// [`start`], with the TLS files given on the command line, if any; they win over
/// `server.tls`.
pub async fn start_with(
    listen: &str,
    store: Arc<dyn Store>,
    config: Config,
    clock: Arc<dyn Clock>,
    tls_flags: Option<TlsFiles>,
) -> anyhow::Result<Running> {
    install_metrics();
    // The files are read before anything else, so a wrong path stops the start at once.
    let certificate = match tls_files(&config, tls_flags) {
        Some(files) => Some(Certificate::load(files)?),
        None => None,
    };
    let scheme = if certificate.is_some() {
        "https"
    } else {
        "http"
    };
    let listener = TcpListener::bind(listen)
        .await
        .with_context(|| format!("could not listen on {listen}; is another process using it? Choose another with --listen"))?;
    let addr = listener.local_addr()?;
    let status_listener = match &config.status_page.listen {
        Some(at) => Some(TcpListener::bind(at).await.with_context(|| {
            format!("could not listen on {at} for the status page; is another process using it? Change status_page.listen in firebreak.yaml")
        })?),
        None => None,
    };
    let status_addr = match &status_listener {
        Some(l) => Some(l.local_addr()?),
        None => None,
    };
    let metrics_listener = match &config.metrics.listen {
        Some(at) => Some(TcpListener::bind(at).await.with_context(|| {
            format!("could not listen on {at} for the metrics; is another process using it? Change metrics.listen in firebreak.yaml")
        })?),
        None => None,
    };
    let metrics_addr = match &metrics_listener {
        Some(l) => Some(l.local_addr()?),
        None => None,
    };
    let mut config = config;
    if config.server.public_url.is_none() {
        // Links in pages point at this server as it listens, until server.public_url says
        // where people reach it.
        config.server.public_url = Some(format!("{scheme}://{addr}"));
    }
    let config = Arc::new(config);
    let app = application(store, config.clone(), clock)?;
    app.sync_config(&config)
        .await
        .context("could not store the services and users from the config")?;
    app.sync_integrations(&config)
        .await
        .context("could not store the integrations from the config")?;
    app.refresh_alert_index()
        .await
        .context("could not load integration keys, silences and routing rules")?;
    app.reload_subscriptions()
        .await
        .context("could not load webhook subscriptions")?;
    app.reload_paging()
        .await
        .context("could not load escalation policies")?;
    let initial_admin_token = app
        .bootstrap_admin()
        .await
        .context("could not create the first admin token")?
        .map(|s| firebreak_engine::tokens::reveal(&s).to_string());
    let shutdown = CancellationToken::new();
    let runtime = Arc::new(Runtime::start(&app));
    let tls = certificate.is_some();
    let task = match certificate {
        Some(certificate) => tokio::spawn(firebreak_server::serve_tls(
            listener,
            app.clone(),
            certificate,
            shutdown.clone(),
        )),
        None => tokio::spawn(firebreak_server::serve(
            listener,
            app.clone(),
            shutdown.clone(),
        )),
    };
    let status_task = status_listener.map(|l| {
        tokio::spawn(firebreak_server::serve_status(
            l,
            app.clone(),
            shutdown.clone(),
        ))
    });
    let metrics_task = metrics_listener.map(|l| {
        tokio::spawn(firebreak_server::serve_metrics(
            l,
            app.clone(),
            shutdown.clone(),
        ))
    });
    Ok(Running {
        addr,
        tls,
        status_addr,
        status_task,
        metrics_addr,
        metrics_task,
        app,
        shutdown,
        task,
        runtime,
        initial_admin_token,
    })
}

/// Installs the process's metrics recorder (once), with the buckets of the SQLite writer's
/// histogram, which the server cannot know.
pub fn install_metrics() {
    use firebreak_store_sqlite::writer;
    firebreak_server::metrics::install(&[(writer::GROUP_SIZE, writer::GROUP_SIZE_BUCKETS)]);
    writer::describe_metrics();
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
        assert_eq!(
            redact_url("postgres://u@h/db?password=secret&sslmode=require"),
            "postgres://u@h/db?password=***&sslmode=require"
        );
        assert_eq!(
            redact_url("postgres://u:a@h/db?sslpassword=x"),
            "postgres://u:***@h/db?sslpassword=***"
        );
    }
}
