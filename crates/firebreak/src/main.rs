//! `firebreak`: the server and its command-line client in one binary.

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::{CommandFactory, FromArgMatches as _, Parser, Subcommand};
use firebreak::{StoreOptions, start_with, system_clock};
use firebreak_domain::{AccessRole, Name};
use firebreak_engine::Principal;

/// mimalloc instead of the system allocator: the write path allocates many small, short-lived
/// values on several threads, where glibc's malloc spent a fifth of the server's CPU time
/// (docs/adr/0009).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Debug, Parser)]
#[command(
    name = "firebreak",
    version,
    about = "Incident response in one binary: declare, run and resolve incidents."
)]
struct Cli {
    #[command(flatten)]
    client: firebreak_cli::ClientArgs,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Start the server (SQLite in ./firebreak-data unless --database-url says otherwise).
    Serve {
        #[command(flatten)]
        store: StoreOptions,
        /// Address to listen on.
        #[arg(long, env = "FIREBREAK_LISTEN", default_value = "127.0.0.1:8080")]
        listen: String,
        /// Log lines as JSON instead of text.
        #[arg(long, env = "FIREBREAK_LOG_JSON")]
        log_json: bool,
        /// Serve HTTPS with this PEM certificate (then any intermediates); needs --tls-key.
        /// Wins over server.tls in the config. Reloaded within seconds when the file changes.
        #[arg(
            long,
            env = "FIREBREAK_TLS_CERT",
            value_name = "FILE",
            requires = "tls_key"
        )]
        tls_cert: Option<std::path::PathBuf>,
        /// The PEM private key of --tls-cert.
        #[arg(
            long,
            env = "FIREBREAK_TLS_KEY",
            value_name = "FILE",
            requires = "tls_cert"
        )]
        tls_key: Option<std::path::PathBuf>,
    },
    /// Create or upgrade the database schema, then exit.
    Migrate {
        #[command(flatten)]
        store: StoreOptions,
    },
    /// Validate a firebreak.yaml; exits 1 with file:line:column errors when it is wrong.
    Check {
        /// The file to check; defaults to --config.
        file: Option<std::path::PathBuf>,
        #[command(flatten)]
        store: StoreOptions,
    },
    /// Manage API tokens. Works offline against the store unless --server is given (with no
    /// database here and a server in use, it says to add --server).
    Token {
        #[command(subcommand)]
        command: TokenCommand,
        #[command(flatten)]
        store: StoreOptions,
    },
    /// Declare, inspect and change incidents on a running server.
    #[command(subcommand)]
    Incident(firebreak_cli::IncidentCommand),
    /// List, inspect, acknowledge and resolve alerts on a running server.
    #[command(
        subcommand,
        after_help = "\
Examples:
  firebreak alert list --status open
  firebreak alert show 42
  firebreak alert ack 42
  firebreak alert resolve 42"
    )]
    Alert(firebreak_cli::AlertCommand),
    /// Mute matching alerts for a while (maintenance, known problems), and end silences early.
    #[command(
        subcommand,
        after_help = "\
Examples:
  firebreak silence add --match 'alertname=\"DiskFull\"' --duration 2h --comment 'cleaning /var/log'
  firebreak silence list
  firebreak silence expire 12"
    )]
    Silence(firebreak_cli::SilenceCommand),
    /// Create integrations (the keys monitoring tools send alerts with), rotate and revoke keys.
    #[command(
        subcommand,
        after_help = "\
Examples:
  firebreak integration create --service checkout --name prometheus
  firebreak integration list --service checkout
  firebreak integration rotate int_abc123
  firebreak integration revoke-key int_abc123 key_old456"
    )]
    Integration(firebreak_cli::IntegrationCommand),
    /// Heartbeats: a URL that cron jobs, backups and Alertmanager's Watchdog ping; a missed
    /// ping opens an alert.
    #[command(
        subcommand,
        after_help = "\
Examples:
  firebreak heartbeat add --name nightly-backup --service db --period 1d --grace 1h
  firebreak heartbeat list
  firebreak heartbeat ping https://firebreak.example.com/api/v1/heartbeats/KEY
  firebreak heartbeat ping KEY --fail --reason \"disk full\"
  firebreak heartbeat remove 3"
    )]
    Heartbeat(firebreak_cli::HeartbeatCommand),
    /// Game days: rehearse an incident in drill mode from a scenario file and get a score card.
    #[command(
        subcommand,
        after_help = "\
Examples:
  firebreak gameday check examples/gamedays/failed-deploy.yaml
  firebreak gameday run examples/gamedays/failed-deploy.yaml --speed 10
  firebreak gameday run scenario.yaml --until 30m --json
  firebreak gameday list"
    )]
    Gameday(firebreak_cli::GamedayCommand),
    /// Uptime checks: Firebreak asks a URL or a port whether it answers, every interval; N
    /// failed runs in a row open an alert.
    #[command(
        subcommand,
        after_help = "\
Examples:
  firebreak uptime add --name api-health --service api --target https://api.example.com/healthz --interval 30s
  firebreak uptime add --name db-port --service db --kind tcp --target db.internal:5432
  firebreak uptime list
  firebreak uptime show api-health
  firebreak uptime results api-health --limit 10
  firebreak uptime remove api-health"
    )]
    Uptime(firebreak_cli::UptimeCommand),
    /// Record deployments from CI and list them, so responders see what changed.
    #[command(
        subcommand,
        after_help = "\
Examples:
  firebreak deploy record --service checkout --version 1.4.2 --commit \"$CI_COMMIT_SHA\"
  firebreak deploy list --service checkout"
    )]
    Deploy(firebreak_cli::DeployCommand),
    /// Send incident, alert and deploy events to other systems (ticket trackers, chat bots).
    #[command(
        subcommand,
        after_help = "\
Examples:
  SECRET=$(firebreak webhook add https://hooks.example.com/firebreak --event incident.declared --event alert.opened)
  firebreak webhook list
  firebreak webhook deliveries wh_abc123
  firebreak webhook redeliver wh_abc123 17
  firebreak webhook remove wh_abc123

These need an admin token. A receiver that verifies the signatures:
examples/webhook-receiver.py in the Firebreak repository."
    )]
    Webhook(firebreak_cli::WebhookCommand),
    /// On-call schedules: layers, final shifts, and overrides when someone covers.
    #[command(
        subcommand,
        after_help = "\
Examples:
  firebreak schedule list
  firebreak schedule shifts primary --from 2026-12-01T00:00:00Z --to 2026-12-08T00:00:00Z
  firebreak schedule override add primary --user carol --start 2026-12-05T18:00:00Z --end 2026-12-06T08:00:00Z
  firebreak schedule override remove primary ovr_5c1d0e2a9f3b

Schedules are declared under schedules: in firebreak.yaml or added by an admin through the API;
responders may add and remove overrides."
    )]
    Schedule(firebreak_cli::ScheduleCommand),
    /// Who is on call now, or at --at, on each schedule or on --schedule; --me for just you.
    #[command(after_help = "\
Examples:
  firebreak oncall
  firebreak oncall --schedule primary --at 2026-12-24T20:00:00Z
  firebreak oncall --me                               # am I on call, and when next?
  firebreak oncall --me --at 2026-12-24T20:00:00Z     # on call then, and the 7 days after")]
    Oncall(firebreak_cli::OncallArgs),
    /// How Firebreak reaches you when you are paged: add, list, test and remove contact methods.
    #[command(
        subcommand,
        after_help = "\
Examples:
  firebreak contact add --type email alice@example.com
  firebreak contact add --type slack https://hooks.slack.com/services/T000/B000/XXXX
  firebreak contact list
  firebreak contact test cm_3f9c2a1b7e40
  firebreak contact remove cm_3f9c2a1b7e40

They are yours: the user your token acts for. Admins may pass --user HANDLE for someone else."
    )]
    Contact(firebreak_cli::ContactCommand),
    /// Escalation policies: who is paged first, who next, and how long each step waits for an ack.
    #[command(
        subcommand,
        after_help = "\
Examples:
  firebreak policy list
  firebreak policy show ops

Policies are declared under escalation_policies: in firebreak.yaml or added by an admin through
the API; a service names its policy with escalation_policy."
    )]
    Policy(firebreak_cli::PolicyCommand),
    /// What the public status page says now.
    #[command(
        subcommand,
        after_help = "\
Example:
  firebreak status show

Post to the page with `firebreak incident update INC-n --public`."
    )]
    Status(firebreak_cli::StatusCommand),
    /// The status page's components: list them, or set and clear a status by hand.
    #[command(
        subcommand,
        after_help = "\
Examples:
  firebreak component list
  firebreak component set \"Checkout API\" major_outage
  firebreak component clear \"Checkout API\"

Components are declared under status_page.components in firebreak.yaml, or added by an admin
through the API."
    )]
    Component(firebreak_cli::ComponentCommand),
    /// Scheduled maintenance: shown on the status page, with its components' alerts quiet.
    #[command(
        subcommand,
        after_help = "\
Examples:
  firebreak maintenance schedule \"Database upgrade\" --component \"Checkout API\" --end 1h
  firebreak maintenance list
  firebreak maintenance cancel 3"
    )]
    Maintenance(firebreak_cli::MaintenanceCommand),
    /// Runbooks: list them, show one, and find alerts that have none.
    #[command(
        subcommand,
        after_help = "\
Examples:
  firebreak runbook list
  firebreak runbook show checkout-errors
  firebreak runbook coverage"
    )]
    Runbook(firebreak_cli::RunbookCommand),
    /// Run a runbook's action on an incident: dry run, approval, output on the timeline.
    #[command(
        subcommand,
        after_help = "\
Examples:
  firebreak action run rollback --incident INC-7 --dry-run
  firebreak action run rollback --incident INC-7 --param namespace=shop
  firebreak action approve 12

Follow-up work after an incident (owner, due date, ticket) is `firebreak action-item`."
    )]
    Action(firebreak_cli::ActionCommand),
    /// Run a command here and record it on an incident's timeline.
    Exec(firebreak_cli::ExecArgs),
    /// Change freezes: the deploy gate for CI (`freeze check`), and declared freezes.
    #[command(
        subcommand,
        after_help = "\
Examples:
  firebreak freeze check --service checkout      # exit 0 free, 1 frozen, 3 unknown
  firebreak freeze add --end 72h --reason \"Holidays\"
  firebreak freeze list"
    )]
    Freeze(firebreak_cli::FreezeCommand),
    /// Take a higher role during an open incident, for a short time, loudly.
    #[command(name = "break-glass")]
    BreakGlass(firebreak_cli::BreakGlassArgs),
    /// The audit log's hash chain: verify it, or export it as JSON lines.
    #[command(
        subcommand,
        after_help = "\
Examples:
  firebreak audit verify
  firebreak audit export --since 2026-12-01T00:00:00Z > audit.jsonl"
    )]
    Audit(firebreak_cli::AuditCommand),
    /// Postmortems: draft, read, edit in your editor, check for blaming language, publish, export.
    #[command(
        subcommand,
        after_help = "\
Examples:
  firebreak postmortem draft INC-7
  firebreak postmortem show INC-7
  firebreak postmortem edit INC-7          # in $VISUAL or $EDITOR
  firebreak postmortem check INC-7         # exit 1 while blaming language is flagged
  firebreak postmortem publish INC-7
  firebreak postmortem export INC-7 -o INC-7.md

Resolving an incident drafts its postmortem by itself."
    )]
    Postmortem(firebreak_cli::PostmortemCommand),
    /// Follow-up work after an incident, each with an owner, a due date and a ticket.
    #[command(
        subcommand,
        name = "action-item",
        after_help = "\
Examples:
  firebreak action-item add --incident INC-7 --title \"Alert on pool saturation\" --owner alice --due 2026-12-15
  firebreak action-item list --overdue
  firebreak action-item done 12
  firebreak action-item wont-do 12 --reason \"the service is retired\"

Not to be confused with `firebreak action`, which runs a runbook's action on an incident."
    )]
    ActionItem(firebreak_cli::ActionItemCommand),
    /// Response metrics (MTTA, MTTR, time to mitigate) and DORA figures, as tables, JSON or CSV.
    #[command(
        subcommand,
        after_help = "\
Examples:
  firebreak report incidents --group-by service
  firebreak report incidents --from 2026-10-01 --to 2027-01-01 --csv > q4.csv
  firebreak report dora --service checkout"
    )]
    Report(firebreak_cli::ReportCommand),
    /// Who was paged for an incident or an alert, step by step, and whether each page got through.
    #[command(
        subcommand,
        after_help = "\
Examples:
  firebreak escalation list --incident INC-7
  firebreak escalation list --alert 42

To stop the paging: firebreak incident ack INC-7, or firebreak alert ack 42."
    )]
    Escalation(firebreak_cli::EscalationCommand),
    /// Add people who can hold incident roles and own tokens; change their role; disable them.
    #[command(
        subcommand,
        after_help = "\
Examples:
  firebreak user add alice --name 'Alice Example' --email alice@example.com
  firebreak user list
  firebreak user set-role alice admin
  firebreak user disable alice     # her tokens stop working at once
  firebreak token create --server https://firebreak.example.com --name alice-laptop \
    --role responder --user alice --expires 90d

Changes need an admin token. People declared under users: in firebreak.yaml are added at start."
    )]
    User(firebreak_cli::UserCommand),
    /// Export the running server's configuration as a firebreak.yaml, integration keys left out.
    #[command(subcommand)]
    Config(firebreak_cli::ConfigCommand),
    /// Save a server URL and token for later commands (mode 0600 in your config directory).
    Login(firebreak_cli::LoginArgs),
    /// Print shell completions.
    Completions { shell: clap_complete::Shell },
}

#[derive(Debug, Subcommand)]
enum TokenCommand {
    /// Create a token and print it alone on stdout. It is shown only this once.
    Create {
        /// What the token is for, shown in `token list`, e.g. ci-deploys or alice-laptop.
        #[arg(long)]
        name: String,
        /// What it may do: viewer reads, responder runs incidents, admin manages everything.
        #[arg(long, value_parser = ["viewer", "responder", "admin"])]
        role: String,
        /// The user the token acts for; it can do no more than they can, and stops working
        /// when they are disabled.
        #[arg(long)]
        user: Option<String>,
        /// Make the token stop working after this long: 12h, 90d, 2w.
        #[arg(long, value_parser = parse_lifetime)]
        expires: Option<jiff::SignedDuration>,
    },
    /// List tokens (never their secrets).
    List,
    /// Revoke a token by its id (tok_...).
    Revoke { id: String },
}

fn init_logs(json: bool) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("FIREBREAK_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,sqlx=warn"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if json {
        builder.json().init();
    } else {
        builder.with_ansi(std::io::stderr().is_terminal()).init();
    }
}

fn fail(e: anyhow::Error) -> ExitCode {
    eprintln!("error: {e:#}");
    ExitCode::FAILURE
}

/// Listens for SIGTERM and SIGINT from the moment it is called, so a signal that arrives
/// while the server is still starting is not lost (or fatal).
fn shutdown_signal() -> anyhow::Result<impl std::future::Future<Output = ()>> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut term = signal(SignalKind::terminate())?;
        let mut int = signal(SignalKind::interrupt())?;
        Ok(async move {
            tokio::select! { _ = term.recv() => {}, _ = int.recv() => {} }
        })
    }
    #[cfg(not(unix))]
    Ok(async {
        let _ = tokio::signal::ctrl_c().await;
    })
}

async fn serve(
    store_opts: StoreOptions,
    listen: String,
    tls_flags: Option<firebreak::TlsFiles>,
) -> anyhow::Result<()> {
    let stop = shutdown_signal()?;
    let config = store_opts.load_config()?;
    // Certificate files that cannot be used stop the start before any database is touched.
    if let Some(files) = firebreak::tls_files(&config, tls_flags.clone()) {
        firebreak_server::tls::load(&files)?;
    }
    let store = store_opts.open_store().await?;
    let running = start_with(&listen, store.clone(), config, system_clock(), tls_flags).await?;
    if let Some(token) = &running.initial_admin_token {
        eprintln!(
            "\n  This is a new Firebreak. An admin user `admin` was created with this API token:\n\n    {token}\n\n  \
             It is shown only now; keep it somewhere safe. Try:\n    firebreak login --server {} --token {token}\n",
            running.base_url()
        );
    }
    // While nobody can sign in to the web pages with a password, every start prints a fresh
    // one-time link to create the first admin.
    match running.app.first_admin_link().await {
        Ok(Some(link)) => {
            use secrecy::ExposeSecret;
            let url = match &running.app.config.server.public_url {
                Some(_) => link.url.expose_secret().to_string(),
                None => format!("{}{}", running.base_url(), link.path.expose_secret()),
            };
            eprintln!(
                "\n  Nobody can sign in to the web pages yet. Open this one-time link within 24 hours to\n  \
                 create the first admin (it works once; a restart prints a new one):\n\n    {url}\n"
            );
        }
        Ok(None) => {}
        Err(e) => tracing::warn!(error = %e, "could not make the first admin's setup link"),
    }
    tracing::info!(
        backend = store.backend(),
        "Firebreak listening on {}",
        running.base_url()
    );
    if let Some(at) = running.metrics_addr {
        tracing::info!("Prometheus metrics without a token at http://{at}/metrics");
    }
    let mut running = running;
    tokio::select! {
        _ = stop => {
            tracing::info!("shutting down: in-flight requests and deliveries finish, leases are given back");
            running.stop().await?;
        }
        result = &mut running.task => {
            result??;
            running.runtime.shutdown(std::time::Duration::from_secs(10)).await;
            running.app.store.close().await;
        }
    }
    tracing::info!("stopped");
    Ok(())
}

async fn token_offline(cmd: TokenCommand, store_opts: StoreOptions) -> anyhow::Result<()> {
    let config = store_opts.load_config()?;
    let store = store_opts.open_store().await?;
    let app = firebreak::application(store, std::sync::Arc::new(config), system_clock())?;
    let who = Principal::local(&format!("cli:{}", whoami()));
    match cmd {
        TokenCommand::Create {
            name,
            role,
            user,
            expires,
        } => {
            let role: AccessRole = role.parse()?;
            let user = user.map(|u| Name::parse(&u)).transpose()?;
            let expires_at = expires.map(|lifetime| app.clock.now() + lifetime);
            let issued = app
                .create_token(&who, &name, role, user, expires_at)
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            println!("{}", firebreak_engine::tokens::reveal(&issued.secret));
        }
        TokenCommand::List => {
            let tokens = app.list_tokens().await?;
            let rows: Vec<serde_json::Value> = tokens
                .into_iter()
                .map(|t| {
                    serde_json::json!({
                        "id": t.id,
                        "name": t.name,
                        "role": t.role.as_str(),
                        "user": t.user.map(|u| u.to_string()),
                        "created_at": t.created_at.to_string(),
                        "revoked_at": t.revoked_at.map(|r| r.to_string()),
                        "expires_at": t.expires_at.map(|r| r.to_string()),
                    })
                })
                .collect();
            println!("{}", firebreak_cli::render::tokens_table(&rows));
        }
        TokenCommand::Revoke { id } => {
            let t = app.revoke_token(&who, &id).await?;
            eprintln!("revoked {} ({})", t.id, t.name);
        }
    }
    Ok(())
}

fn parse_lifetime(text: &str) -> Result<jiff::SignedDuration, String> {
    firebreak_domain::access::token_lifetime(text).ok_or_else(|| {
        format!("`{text}` is not a lifetime; write hours, days or weeks, like 12h, 90d or 2w (at most 5 years)")
    })
}

fn whoami() -> String {
    std::env::var("USER").unwrap_or_else(|_| "local".into())
}

fn check(file: Option<std::path::PathBuf>, store: StoreOptions) -> ExitCode {
    let Some(path) = file.or(store.config) else {
        eprintln!(
            "error: name the file to check: firebreak check firebreak.yaml (or pass --config)"
        );
        return ExitCode::from(2);
    };
    let source = match std::fs::read_to_string(&path) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: cannot read {}: {e}", path.display());
            return ExitCode::FAILURE;
        }
    };
    // A key kept in the environment of the server (`key: {env: NAME}`) need not be set where
    // the file is checked, e.g. in CI: check with a stand-in and say which ones `serve` needs.
    let unset = std::cell::RefCell::new(std::collections::BTreeSet::new());
    let env = |name: &str| {
        std::env::var(name).ok().or_else(|| {
            unset.borrow_mut().insert(name.to_string());
            // A stand-in of the right shape: an SMTP URL for the SMTP URL, a key for a key.
            Some(if name == firebreak_config::ENV_SMTP_URL {
                "smtp://stand-in.invalid".to_string()
            } else {
                firebreak_engine::tokens::hash_token(name)[..32].to_string()
            })
        })
    };
    match firebreak_config::parse_with_env(&source, &path.display().to_string(), &env) {
        Ok(config) => {
            let actions: usize = config.runbooks.iter().map(|r| r.actions.len()).sum();
            println!(
                "{} is valid: {} severities, {} roles, {} checklists, {} services, {} users, \
                 {} runbooks with {} actions",
                path.display(),
                config.severities.len(),
                config.roles.len(),
                config.checklists.len(),
                config.services.len(),
                config.users.len(),
                config.runbooks.len(),
                actions
            );
            for name in unset.borrow().iter() {
                eprintln!(
                    "note: {name} is not set here; `firebreak serve` needs it set to the secret it names (an integration key, a channel URL, the OpenID client secret...)"
                );
            }
            if let Some(warning) = stakeholders_without_email(&config, &path.display().to_string())
            {
                eprintln!("{warning}");
            }
            ExitCode::SUCCESS
        }
        Err(errors) => {
            eprintln!("{errors}");
            ExitCode::FAILURE
        }
    }
}

/// What `check` says when `comms.stakeholders` lists people but nothing can email them: no
/// `email:` section (its `smtp_url` and `from`) and neither variable that sets them here.
fn stakeholders_without_email(config: &firebreak_domain::Config, file: &str) -> Option<String> {
    let set = |name: &str| std::env::var(name).is_ok_and(|v| !v.trim().is_empty());
    let smtp = config.email.smtp_url.is_some() || set(firebreak_config::ENV_SMTP_URL);
    let from = config.email.from.is_some() || set(firebreak_config::ENV_EMAIL_FROM);
    let n = config.comms.stakeholders.len();
    (n > 0 && !(smtp && from)).then(|| {
        format!(
            "warning: {file}: comms.stakeholders lists {n} {people} to email, and there is no \
             email: section to send through: add email: with smtp_url and from (or set {} and \
             {} where `firebreak serve` runs), or their emails will fail",
            firebreak_config::ENV_SMTP_URL,
            firebreak_config::ENV_EMAIL_FROM,
            people = if n == 1 { "person" } else { "people" },
        )
    })
}

/// The server this machine's CLI talks to when no `--server` is typed: `FIREBREAK_SERVER`, else
/// the saved `firebreak login`.
fn server_in_use() -> Option<String> {
    firebreak_cli::resolve_server(&firebreak_cli::ClientArgs::default()).ok()
}

/// Why a command that works on a local database should not run here: a server is in use
/// ([`server_in_use`]) and the SQLite database the command would open does not exist, so it
/// would quietly make a new, empty one that no server reads. `through` says what `--server`
/// would do instead (empty when the command has no remote form).
fn no_database_here(store: &StoreOptions, through: &str) -> Option<String> {
    let Ok(firebreak::StoreLocation::Sqlite(file)) = store.location() else {
        return None;
    };
    if file.exists() {
        return None;
    }
    let server = server_in_use()?;
    let remote = if through.is_empty() {
        format!("The server at {server} keeps its own database and migrates it when it starts")
    } else {
        format!("To {through} the server at {server}, add --server {server}")
    };
    Some(format!(
        "error: there is no Firebreak database at {}. {remote}; to use the database \
         `firebreak serve` uses, give its --data-dir (or --database-url).",
        file.display()
    ))
}

/// Where the value of `--server` came from, on whichever subcommand it was given.
fn server_source(matches: &clap::ArgMatches) -> Option<clap::parser::ValueSource> {
    let mut at = matches;
    loop {
        if let Ok(Some(_)) = at.try_get_raw("server")
            && let Some(source) = at.value_source("server")
        {
            return Some(source);
        }
        match at.subcommand() {
            Some((_, sub)) => at = sub,
            None => return None,
        }
    }
}

fn main() -> ExitCode {
    firebreak::allocator::tune();
    let matches = Cli::command().get_matches();
    // Whether --server was typed on this command line, not only exported for other commands.
    let server_typed = matches!(
        server_source(&matches),
        Some(clap::parser::ValueSource::CommandLine)
    );
    let cli = match Cli::from_arg_matches(&matches) {
        Ok(cli) => cli,
        Err(e) => e.exit(),
    };
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(r) => r,
        Err(e) => return fail(e.into()),
    };
    match cli.command {
        Command::Serve {
            store,
            listen,
            log_json,
            tls_cert,
            tls_key,
        } => {
            init_logs(log_json);
            let tls_flags = match (tls_cert, tls_key) {
                (Some(cert), Some(key)) => Some(firebreak::TlsFiles {
                    cert,
                    key,
                    set_by: firebreak::SetBy::Flags,
                }),
                _ => None,
            };
            match runtime.block_on(serve(store, listen, tls_flags)) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => fail(e),
            }
        }
        Command::Migrate { store } => {
            if let Some(refusal) = no_database_here(&store, "") {
                // The server in use migrates its own database when it starts; migrating here
                // would only make a new, empty database nobody serves.
                eprintln!("{refusal}");
                return ExitCode::from(2);
            }
            match runtime.block_on(store.open_store()) {
                Ok(s) => {
                    eprintln!("the {} database is up to date", s.backend());
                    ExitCode::SUCCESS
                }
                Err(e) => fail(e),
            }
        }
        Command::Check { file, store } => check(file, store),
        Command::Token { command, store } => {
            // Offline against the store unless --server was given on the command line (not just
            // exported for other commands) and no database was named.
            let remote = server_typed && store.database_url.is_none();
            if remote {
                let cmd = match command {
                    TokenCommand::Create {
                        name,
                        role,
                        user,
                        expires,
                    } => firebreak_cli::TokenCommand::Create {
                        name,
                        role,
                        user,
                        expires: expires.map(|e| jiff::Timestamp::now() + e),
                    },
                    TokenCommand::List => firebreak_cli::TokenCommand::List,
                    TokenCommand::Revoke { id } => firebreak_cli::TokenCommand::Revoke { id },
                };
                runtime.block_on(firebreak_cli::run_token_api(cmd, &cli.client))
            } else if let Some(refusal) = no_database_here(&store, "make the token through") {
                // A server is in use (FIREBREAK_SERVER, or a saved `firebreak login`), and there
                // is no database here: a token made here would go into a new, empty database
                // nobody serves.
                eprintln!("{refusal}");
                ExitCode::from(2)
            } else {
                match runtime.block_on(token_offline(command, store)) {
                    Ok(()) => ExitCode::SUCCESS,
                    Err(e) => fail(e),
                }
            }
        }
        Command::Incident(cmd) => runtime.block_on(firebreak_cli::run_incident(cmd, &cli.client)),
        Command::Alert(cmd) => runtime.block_on(firebreak_cli::run_alert(cmd, &cli.client)),
        Command::Silence(cmd) => runtime.block_on(firebreak_cli::run_silence(cmd, &cli.client)),
        Command::Integration(cmd) => {
            runtime.block_on(firebreak_cli::run_integration(cmd, &cli.client))
        }
        Command::Heartbeat(cmd) => runtime.block_on(firebreak_cli::run_heartbeat(cmd, &cli.client)),
        Command::Gameday(cmd) => runtime.block_on(firebreak_cli::run_gameday(cmd, &cli.client)),
        Command::Uptime(cmd) => runtime.block_on(firebreak_cli::run_uptime(cmd, &cli.client)),
        Command::Deploy(cmd) => runtime.block_on(firebreak_cli::run_deploy(cmd, &cli.client)),
        Command::Webhook(cmd) => runtime.block_on(firebreak_cli::run_webhook(cmd, &cli.client)),
        Command::Schedule(cmd) => runtime.block_on(firebreak_cli::run_schedule(cmd, &cli.client)),
        Command::Oncall(on) => runtime.block_on(firebreak_cli::run_oncall(on, &cli.client)),
        Command::Contact(cmd) => runtime.block_on(firebreak_cli::run_contact(cmd, &cli.client)),
        Command::Policy(cmd) => runtime.block_on(firebreak_cli::run_policy(cmd, &cli.client)),
        Command::Status(cmd) => runtime.block_on(firebreak_cli::run_status(cmd, &cli.client)),
        Command::Component(cmd) => runtime.block_on(firebreak_cli::run_component(cmd, &cli.client)),
        Command::Maintenance(cmd) => {
            runtime.block_on(firebreak_cli::run_maintenance(cmd, &cli.client))
        }
        Command::Runbook(cmd) => runtime.block_on(firebreak_cli::run_runbook(cmd, &cli.client)),
        Command::Action(cmd) => runtime.block_on(firebreak_cli::run_action(cmd, &cli.client)),
        Command::Exec(cmd) => runtime.block_on(firebreak_cli::run_exec(cmd, &cli.client)),
        Command::Freeze(cmd) => runtime.block_on(firebreak_cli::run_freeze(cmd, &cli.client)),
        Command::BreakGlass(cmd) => {
            runtime.block_on(firebreak_cli::run_break_glass(cmd, &cli.client))
        }
        Command::Audit(cmd) => runtime.block_on(firebreak_cli::run_audit(cmd, &cli.client)),
        Command::Postmortem(cmd) => {
            runtime.block_on(firebreak_cli::run_postmortem(cmd, &cli.client))
        }
        Command::ActionItem(cmd) => {
            runtime.block_on(firebreak_cli::run_action_item(cmd, &cli.client))
        }
        Command::Report(cmd) => runtime.block_on(firebreak_cli::run_report(cmd, &cli.client)),
        Command::Escalation(cmd) => {
            runtime.block_on(firebreak_cli::run_escalation(cmd, &cli.client))
        }
        Command::User(cmd) => runtime.block_on(firebreak_cli::run_user(cmd, &cli.client)),
        Command::Config(cmd) => runtime.block_on(firebreak_cli::run_config(cmd, &cli.client)),
        Command::Login(args) => runtime.block_on(firebreak_cli::run_login(args)),
        Command::Completions { shell } => {
            clap_complete::generate(
                shell,
                &mut Cli::command(),
                "firebreak",
                &mut std::io::stdout(),
            );
            ExitCode::SUCCESS
        }
    }
}
