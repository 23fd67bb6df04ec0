//! Outbox delivery benchmark: how fast committed webhook events reach a local receiver.
//!
//! For each store (SQLite in a fresh temp dir, PostgreSQL in a fresh schema), Firebreak runs
//! in-process with one subscription to `alert.opened` pointing at a receiver on loopback that
//! answers 200 at once.
//!
//! 1. **Throughput.** The background workers are stopped, `--messages` alerts are ingested
//!    (batches of 100), so the outbox holds that many committed messages; then the workers start
//!    and the clock runs until the receiver has every one. Signed, over real HTTP, with every
//!    attempt recorded.
//! 2. **Latency when idle.** With the workers running and nothing else to do, one alert at a
//!    time is sent (PagerDuty Events v2) and the time from sending the request to the receiver
//!    getting its webhook is measured; the next goes `--gap-ms` after that arrival. The figure
//!    includes the ingest request and its commit, so it is an upper bound on enqueue to arrival.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use firebreak_engine::runtime::Runtime;
use firebreak_store::Store;

use crate::ingest::{Target, Times, firebreak_config, load_open_alerts, ms, outbox_depth};
use crate::receiver::Receiver;

#[derive(clap::Args)]
pub struct OutboxArgs {
    /// Messages in the outbox when the workers start.
    #[arg(long, default_value_t = 20_000)]
    messages: usize,
    /// Single alerts sent one at a time for the idle latency.
    #[arg(long, default_value_t = 500)]
    probes: usize,
    /// Pause after each probe's webhook arrives before the next probe is sent.
    #[arg(long, default_value_t = 20)]
    gap_ms: u64,
    /// PostgreSQL to measure; skipped when empty or unreachable.
    #[arg(
        long,
        env = "FIREBREAK_TEST_POSTGRES_URL",
        default_value = "postgres://postgres@127.0.0.1:5432/test"
    )]
    postgres: String,
    /// Which stores to measure: any of sqlite, postgres.
    #[arg(long, value_delimiter = ',', default_value = "sqlite,postgres")]
    targets: Vec<String>,
}

pub async fn main(args: OutboxArgs) -> anyhow::Result<()> {
    println!(
        "outbox benchmark: {} queued webhooks, then {} single alerts one at a time, loopback",
        args.messages, args.probes
    );
    let wants = |t: &str| args.targets.iter().any(|x| x == t);
    if wants("sqlite") {
        let dir = tempfile::tempdir_in(".")?;
        let store = firebreak_store_sqlite::SqliteStore::open(&dir.path().join("bench.db")).await?;
        run("sqlite", Arc::new(store), &args).await?;
    }
    if wants("postgres") && !args.postgres.is_empty() {
        let schema = format!("bench_outbox_{}", std::process::id());
        match firebreak_store_postgres::PostgresStore::connect_with_schema(&args.postgres, &schema)
            .await
        {
            Err(e) => println!(
                "postgres skipped: could not connect to {}: {e}",
                args.postgres
            ),
            Ok(pg) => {
                pg.migrate().await?;
                let pg = Arc::new(pg);
                let result = run("postgres", pg.clone(), &args).await;
                pg.drop_schema().await?;
                result?;
            }
        }
    }
    Ok(())
}

async fn run(name: &str, store: Arc<dyn Store>, args: &OutboxArgs) -> anyhow::Result<()> {
    let running = firebreak::start(
        "127.0.0.1:0",
        store,
        firebreak_config()?,
        firebreak::system_clock(),
    )
    .await?;
    let mut receiver = Receiver::start().await?;
    crate::subscribe(&running.app, &receiver.url(), "alert.opened").await?;
    let target = Target::Firebreak {
        base: format!("http://{}", running.addr),
    };

    // 1. Throughput: fill the outbox with the workers stopped, then start them.
    running.runtime.shutdown(Duration::from_secs(10)).await;
    let probe_before = crate::flush_probe();
    load_open_alerts(&target, args.messages, 8).await?;
    let queued = outbox_depth(&running.app).await?;
    if queued < args.messages as i64 {
        bail!(
            "expected {} queued messages, the outbox holds {queued}",
            args.messages
        );
    }
    let already = receiver.count();
    let started = Instant::now();
    let runtime = Runtime::start(&running.app);
    let mut first = None;
    let deadline = started + Duration::from_secs(300);
    while receiver.count() - already < args.messages as u64 {
        if first.is_none() && receiver.count() > already {
            first = Some(started.elapsed());
        }
        if Instant::now() > deadline {
            bail!(
                "{name}: only {} of {} webhooks arrived in 300 s",
                receiver.count() - already,
                args.messages
            );
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let drained = started.elapsed();
    let probe_after = crate::flush_probe();
    println!(
        "{name:8} throughput: {} webhooks in {:.2} s = {:.0} webhooks/s (first arrival after {:.1} ms) flush_probe_before={:.2}ms after={:.2}ms",
        args.messages,
        drained.as_secs_f64(),
        args.messages as f64 / drained.as_secs_f64(),
        ms(first.unwrap_or_default()),
        ms(probe_before),
        ms(probe_after),
    );

    // Let the workers record the last attempts before the idle part.
    tokio::time::sleep(Duration::from_secs(2)).await;
    receiver.clear();

    // 2. Latency when idle: one alert at a time.
    let http = reqwest::Client::new();
    let times = Times::current();
    let mut latencies = Vec::with_capacity(args.probes);
    for i in 0..args.probes {
        let body = target.body(&[format!("{name}-probe-{i}")], 1, &times);
        let sent = Instant::now();
        let answer = http
            .post(target.url(1))
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await?;
        if !answer.status().is_success() {
            bail!("probe {i}: {}", answer.status());
        }
        let (arrived, _, _) =
            tokio::time::timeout(Duration::from_secs(10), receiver.arrivals.recv())
                .await
                .with_context(|| format!("probe {i}: no webhook within 10 s"))?
                .context("the receiver stopped")?;
        latencies.push(arrived.saturating_duration_since(sent));
        tokio::time::sleep(Duration::from_millis(args.gap_ms)).await;
    }
    latencies.sort();
    let pct = |p: f64| latencies[((latencies.len() as f64 * p) as usize).min(latencies.len() - 1)];
    println!(
        "{name:8} idle latency, request sent to webhook received, {} probes: p50={:.2}ms p99={:.2}ms max={:.2}ms",
        latencies.len(),
        ms(pct(0.50)),
        ms(pct(0.99)),
        ms(*latencies.last().expect("probes")),
    );

    runtime.shutdown(Duration::from_secs(10)).await;
    crate::stop(running).await;
    Ok(())
}
