//! Load benchmarks against a real Firebreak server on loopback, on SQLite and on PostgreSQL,
//! with a disk flush probe beside each figure because this disk's fsync latency drifts.
//!
//! - `incidents` (the default): N concurrent clients declare incidents and add notes over HTTP.
//!   Reports durable mutations per second and p50/p99 latency.
//!   Run: `cargo run --release -p firebreak-bench -- --clients 32 --seconds 10`
//! - `ingest`: alert ingestion (PagerDuty Events v2 and the Alertmanager webhook) against the
//!   real Prometheus Alertmanager, plus resident memory with 100,000 open alerts; see
//!   [`ingest`]. Run: `cargo run --release -p firebreak-bench -- ingest --clients 32 --seconds 10`
//! - `outbox`: webhook delivery from the outbox to a receiver on loopback: webhooks per second
//!   from a full outbox, and request-to-arrival latency when idle; see [`outbox`].
//!   Run: `cargo run --release -p firebreak-bench -- outbox`
//! - `status`: the public status page's `summary.json` under wrk, beside nginx serving the
//!   same bytes as a file; see [`status`]. Run: `cargo run --release -p firebreak-bench -- status`
//! - `room`: the server-rendered incident room with 1,000 timeline entries, beside the API's
//!   timeline and nginx serving a file of the same size; see [`room`].
//!   Run: `cargo run --release -p firebreak-bench -- room --seconds 10`
//! - `sse`: 1,000 clients on one incident's event stream, the time until each has a new note,
//!   and the server's memory per connection; see [`sse`].
//!   Run: `cargo run --release -p firebreak-bench -- sse --clients 1000 --notes 10`
//! - `weight`: the incident room's page weight (HTML, CSS, JS; raw and gzip) and a cold first
//!   load beside nginx with gzip; see [`weight`].
//!   Run: `cargo run --release -p firebreak-bench -- weight`
//! - `reports`: the incident and DORA reports over 100,000 incidents and 1,000,000 deploys,
//!   p50/p99 per query shape on SQLite and PostgreSQL; see [`reports`].
//!   Run: `cargo run --release -p firebreak-bench -- reports`

use std::io::Write;
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::{Parser, Subcommand};
use firebreak_domain::{AccessRole, Config};
use firebreak_engine::Principal;
use firebreak_store::Store;
use serde_json::json;

/// mimalloc instead of the system allocator: the write path allocates many small, short-lived
/// values on several threads, where glibc's malloc spent a fifth of the server's CPU time
/// (docs/adr/0009).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod checks;
mod ingest;
mod outbox;
mod paging;
mod receiver;
mod reports;
mod room;
mod sse;
mod status;
mod web;
mod weight;

/// Load benchmarks of Firebreak over loopback HTTP.
#[derive(Parser)]
#[command(args_conflicts_with_subcommands = true)]
struct Cli {
    #[command(subcommand)]
    mode: Option<Mode>,
    /// Without a subcommand the incident benchmark runs with these flags.
    #[command(flatten)]
    incidents: Args,
}

#[derive(Subcommand)]
enum Mode {
    /// Incident mutations over HTTP (the default).
    Incidents(Args),
    /// Alert ingestion against Firebreak and the real Alertmanager, plus memory at 100k alerts.
    Ingest(ingest::IngestArgs),
    /// Webhook delivery from the outbox: throughput and latency when idle.
    Outbox(outbox::OutboxArgs),
    /// Paging: alert to page against Alertmanager, escalation timers, ingest with paging on.
    Paging(paging::PagingArgs),
    /// The public status page's summary.json under wrk, beside nginx serving the same file.
    Status(status::StatusArgs),
    /// The incident room with 1,000 timeline entries, beside the API and nginx.
    Room(room::RoomArgs),
    /// 1,000 clients on one incident's event stream: delivery latency and memory.
    Sse(sse::SseArgs),
    /// The incident room's page weight and a cold first load, beside nginx with gzip.
    Weight(weight::WeightArgs),
    /// The incident and DORA reports over 100,000 incidents and 1,000,000 deploys.
    Reports(reports::ReportsArgs),
    /// 1,000 HTTP uptime checks every 30 s against a loopback target: Firebreak's CPU.
    Checks(checks::ChecksArgs),
}

/// Flags of the incident benchmark.
#[derive(clap::Args)]
struct Args {
    /// Concurrent clients.
    #[arg(long, default_value_t = 32)]
    clients: usize,
    /// How long each backend is loaded.
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// Notes each client adds per incident it declares.
    #[arg(long, default_value_t = 4)]
    notes_per_incident: usize,
    /// PostgreSQL to measure; skipped when empty.
    #[arg(
        long,
        env = "FIREBREAK_TEST_POSTGRES_URL",
        default_value = "postgres://postgres@127.0.0.1:5432/test"
    )]
    postgres: String,
}

/// Stops the server and its background workers (so nothing is left sending while the next
/// target is measured) and leaves the store open (PostgreSQL's schema is dropped after).
pub(crate) async fn stop(running: firebreak::Running) {
    if let Err(e) = running.stop_keeping_store().await {
        eprintln!("the server did not stop cleanly: {e:#}");
    }
}

/// Subscribes `url` to one event type, as an admin would with `firebreak webhook add`.
pub(crate) async fn subscribe(
    app: &firebreak_engine::Firebreak,
    url: &str,
    event: &str,
) -> anyhow::Result<()> {
    app.create_webhook(
        &Principal::local("bench"),
        firebreak_engine::webhooks::NewSubscription {
            url: url.to_string(),
            events: vec![event.to_string()],
            description: Some("benchmark receiver".into()),
        },
    )
    .await
    .map_err(anyhow::Error::new)?;
    Ok(())
}

/// The closing line of the web benchmarks: the flush probe and the load average, before and
/// after the run.
pub(crate) fn print_conditions(
    probe_before: Duration,
    probe_after: Duration,
    load_before: &str,
    load_after: &str,
) {
    println!(
        "flush_probe_before={:.2}ms after={:.2}ms  load average before {load_before}, after {load_after}",
        probe_before.as_secs_f64() * 1e3,
        probe_after.as_secs_f64() * 1e3,
    );
}

/// Median time of a 4 KiB write + fsync in the current directory's file system.
pub(crate) fn flush_probe() -> Duration {
    let dir = tempfile::tempdir_in(".").expect("temp dir");
    let mut f = std::fs::File::create(dir.path().join("probe")).expect("probe file");
    let mut times: Vec<Duration> = (0..50)
        .map(|_| {
            let start = Instant::now();
            f.write_all(&[0u8; 4096]).unwrap();
            f.sync_data().unwrap();
            start.elapsed()
        })
        .collect();
    times.sort();
    times[times.len() / 2]
}

/// Starts Firebreak in-process on a loopback port (default config, the system clock) on
/// `store` and issues an API token with `role`. Returns the server, the token and the base URL.
pub(crate) async fn start_with_token(
    store: Arc<dyn Store>,
    role: AccessRole,
) -> anyhow::Result<(firebreak::Running, String, String)> {
    let running = firebreak::start(
        "127.0.0.1:0",
        store,
        Config::default(),
        firebreak::system_clock(),
    )
    .await?;
    let issued = running
        .app
        .create_token(&Principal::local("bench"), "bench", role, None, None)
        .await
        .map_err(anyhow::Error::new)?;
    let token = firebreak_engine::tokens::reveal(&issued.secret).to_string();
    let base = format!("http://{}", running.addr);
    Ok((running, token, base))
}

async fn run(name: &str, store: Arc<dyn Store>, args: &Args) -> anyhow::Result<()> {
    let (running, token, base) = start_with_token(store, AccessRole::Responder).await?;
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(args.clients)
        .build()?;
    let probe_before = flush_probe();
    let deadline = Instant::now() + Duration::from_secs(args.seconds);
    let mut tasks = Vec::new();
    for c in 0..args.clients {
        let (http, base, token) = (http.clone(), base.clone(), token.clone());
        let notes = args.notes_per_incident;
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut errors = 0u64;
            while Instant::now() < deadline {
                let t = Instant::now();
                let res = http
                    .post(format!("{base}/api/v1/incidents"))
                    .bearer_auth(&token)
                    .json(&json!({"title": format!("load {c}"), "severity": "SEV2"}))
                    .send()
                    .await;
                let Ok(res) = res else {
                    errors += 1;
                    continue;
                };
                if res.status() != 201 {
                    errors += 1;
                    continue;
                }
                latencies.push(t.elapsed());
                let body: serde_json::Value = res.json().await.unwrap_or_default();
                let id = body["id"].as_str().unwrap_or("INC-1").to_string();
                for n in 0..notes {
                    let t = Instant::now();
                    let ok = http
                        .post(format!("{base}/api/v1/incidents/{id}/notes"))
                        .bearer_auth(&token)
                        .json(&json!({"body": format!("note {n}")}))
                        .send()
                        .await
                        .map(|r| r.status() == 201)
                        .unwrap_or(false);
                    if ok {
                        latencies.push(t.elapsed())
                    } else {
                        errors += 1
                    }
                }
            }
            (latencies, errors)
        }));
    }
    let started = Instant::now();
    let mut all = Vec::new();
    let mut errors = 0;
    for t in tasks {
        let (l, e) = t.await?;
        all.extend(l);
        errors += e;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let probe_after = flush_probe();
    all.sort();
    let pct = |p: f64| {
        all.get(((all.len() as f64 * p) as usize).min(all.len().saturating_sub(1)))
            .copied()
            .unwrap_or_default()
    };
    println!(
        "{name:9} clients={:3} mutations={:7} errors={errors} rate={:8.0}/s p50={:6.2}ms p99={:6.2}ms flush_probe_before={:.2}ms after={:.2}ms",
        args.clients,
        all.len(),
        all.len() as f64 / elapsed,
        pct(0.50).as_secs_f64() * 1e3,
        pct(0.99).as_secs_f64() * 1e3,
        probe_before.as_secs_f64() * 1e3,
        probe_after.as_secs_f64() * 1e3,
    );
    crate::stop(running).await;
    Ok(())
}

fn main() -> anyhow::Result<()> {
    firebreak::allocator::tune();
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(run_bench())
}

async fn run_bench() -> anyhow::Result<()> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let cli = Cli::parse();
    match cli.mode {
        None => incidents(cli.incidents).await,
        Some(Mode::Incidents(args)) => incidents(args).await,
        // Ctrl-C ends the run through the normal error path, so every subprocess is stopped.
        Some(Mode::Ingest(args)) => tokio::select! {
            r = ingest::main(args) => r,
            _ = tokio::signal::ctrl_c() => Err(anyhow::anyhow!("interrupted")),
        },
        Some(Mode::Outbox(args)) => outbox::main(args).await,
        Some(Mode::Status(args)) => status::main(args).await,
        Some(Mode::Room(args)) => tokio::select! {
            r = room::main(args) => r,
            _ = tokio::signal::ctrl_c() => anyhow::bail!("interrupted"),
        },
        Some(Mode::Sse(args)) => tokio::select! {
            r = sse::main(args) => r,
            _ = tokio::signal::ctrl_c() => anyhow::bail!("interrupted"),
        },
        Some(Mode::Weight(args)) => tokio::select! {
            r = weight::main(args) => r,
            _ = tokio::signal::ctrl_c() => anyhow::bail!("interrupted"),
        },
        Some(Mode::Paging(args)) => tokio::select! {
            r = paging::main(args) => r,
            _ = tokio::signal::ctrl_c() => anyhow::bail!("interrupted"),
        },
        Some(Mode::Checks(args)) => tokio::select! {
            r = checks::main(args) => r,
            _ = tokio::signal::ctrl_c() => anyhow::bail!("interrupted"),
        },
        // Ctrl-C drops the temp dir; PostgreSQL's scratch schema is named after the process.
        Some(Mode::Reports(args)) => tokio::select! {
            r = reports::main(args) => r,
            _ = tokio::signal::ctrl_c() => anyhow::bail!("interrupted"),
        },
    }
}

async fn incidents(args: Args) -> anyhow::Result<()> {
    let dir = tempfile::tempdir_in(".")?;
    let sqlite = firebreak_store_sqlite::SqliteStore::open(&dir.path().join("bench.db")).await?;
    run("sqlite", Arc::new(sqlite), &args).await?;
    if !args.postgres.is_empty() {
        let schema = format!("bench_{}", std::process::id());
        let pg =
            firebreak_store_postgres::PostgresStore::connect_with_schema(&args.postgres, &schema)
                .await?;
        pg.migrate().await?;
        let pg = Arc::new(pg);
        run("postgres", pg.clone(), &args).await?;
        pg.drop_schema().await?;
    }
    Ok(())
}
