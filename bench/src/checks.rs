//! Uptime checks benchmark: what 1,000 HTTP checks every 30 s cost Firebreak.
//!
//! A small HTTP target on loopback answers `GET /healthz` with 200 and counts requests.
//! Firebreak (the release binary, as `firebreak serve` on SQLite, with
//! `FIREBREAK_OUTBOUND_ALLOW=127.0.0.0/8` so checks may reach loopback) gets one service and
//! `--checks` HTTP checks at `--interval` through the API. After `--warmup` seconds (every
//! check has run and the runs have spread over the interval), the server's CPU time
//! (utime + stime from `/proc/PID/stat`) is read, again `--seconds` later, and the difference
//! is reported as a share of one core, with the runs the target saw in that window. The
//! target: under 10% of one core.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde_json::json;

use crate::sse::{cpu_ms, start_server};

#[derive(clap::Args)]
pub struct ChecksArgs {
    /// The Firebreak binary to run (build it first: cargo build --release -p firebreak).
    #[arg(long, default_value = "target/release/firebreak")]
    firebreak_bin: PathBuf,
    /// How many HTTP checks.
    #[arg(long, default_value_t = 1_000)]
    checks: usize,
    /// Their interval.
    #[arg(long, default_value = "30s")]
    interval: String,
    /// Seconds to wait after adding them before measuring.
    #[arg(long, default_value_t = 60)]
    warmup: u64,
    /// Seconds measured.
    #[arg(long, default_value_t = 180)]
    seconds: u64,
}

pub async fn main(args: ChecksArgs) -> anyhow::Result<()> {
    println!(
        "uptime checks benchmark: {} HTTP checks every {} against a loopback target, \
         {} s warm-up, {} s measured",
        args.checks, args.interval, args.warmup, args.seconds
    );
    let hits = Arc::new(AtomicU64::new(0));
    let counted = hits.clone();
    let app = axum::Router::new().route(
        "/healthz",
        axum::routing::get(move || {
            counted.fetch_add(1, Ordering::Relaxed);
            async { "ok" }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let target = format!("http://{}/healthz", listener.local_addr()?);
    tokio::spawn(async move { axum::serve(listener, app).await });

    let dir = tempfile::tempdir_in(".")?;
    let served = start_server(
        &args.firebreak_bin,
        dir.path(),
        &[("FIREBREAK_OUTBOUND_ALLOW", "127.0.0.0/8")],
    )
    .await?;
    let pid = served.guard.pid();
    let http = {
        let _ = rustls::crypto::ring::default_provider().install_default();
        reqwest::Client::new()
    };
    let post = |path: &str, body: serde_json::Value| {
        http.post(format!("{}{path}", served.base))
            .bearer_auth(&served.token)
            .json(&body)
            .send()
    };
    let made = post("/api/v1/services", json!({"name": "bench"})).await?;
    if !made.status().is_success() {
        bail!("could not add the service: {}", made.text().await?);
    }
    let started = Instant::now();
    for i in 0..args.checks {
        let made = post(
            "/api/v1/checks",
            json!({"name": format!("check-{i:04}"), "service": "bench", "kind": "http",
                   "target": format!("{target}?n={i}"), "interval": args.interval,
                   "timeout": "5s", "expect": {"status": 200, "body": "ok"}}),
        )
        .await?;
        if !made.status().is_success() {
            bail!("could not add check {i}: {}", made.text().await?);
        }
    }
    println!(
        "added {} checks in {:.1} s",
        args.checks,
        started.elapsed().as_secs_f64()
    );
    tokio::time::sleep(Duration::from_secs(args.warmup)).await;
    let probe_before = crate::flush_probe();
    let cpu0 = cpu_ms(pid).context("the server's CPU time")?;
    let hits0 = hits.load(Ordering::Relaxed);
    let t0 = Instant::now();
    tokio::time::sleep(Duration::from_secs(args.seconds)).await;
    let cpu1 = cpu_ms(pid).context("the server's CPU time")?;
    let wall = t0.elapsed().as_secs_f64();
    let runs = hits.load(Ordering::Relaxed) - hits0;
    let probe_after = crate::flush_probe();
    let share = (cpu1 - cpu0) / (wall * 1000.0) * 100.0;
    println!(
        "measured {wall:.0} s: {runs} check runs ({:.1}/s), Firebreak CPU {:.1} s = {share:.2}% of one core (target: under 10%)",
        runs as f64 / wall,
        (cpu1 - cpu0) / 1000.0
    );
    println!(
        "flush probe (4 KiB write + fsync): {:.2} ms before, {:.2} ms after",
        probe_before.as_secs_f64() * 1000.0,
        probe_after.as_secs_f64() * 1000.0
    );
    let results = http
        .get(format!(
            "{}/api/v1/checks/check-0000/results?limit=5",
            served.base
        ))
        .bearer_auth(&served.token)
        .send()
        .await?
        .text()
        .await?;
    println!("check-0000's last results: {results}");
    drop(served);
    Ok(())
}
