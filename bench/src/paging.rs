//! Paging benchmarks, each on SQLite and (when reachable) PostgreSQL, Firebreak in-process on
//! the wall clock, pages going to a receiver on loopback.
//!
//! 1. **Alert to page.** One critical alert at a time (PagerDuty Events v2) on a service whose
//!    policy pages a user with a webhook contact method, no delay; the time from sending the
//!    request to the receiver getting the signed page. In the same run, Prometheus Alertmanager
//!    with `group_wait: 0s` and one group per alert posts to the same receiver; the time from
//!    posting the alert to its notification arriving. Both p50/p99, and the ratio.
//! 2. **Escalation timers.** `--escalations` alerts are sent in waves across `--spread-secs`;
//!    each starts an escalation whose step 0 reaches nobody (a user with no contact method,
//!    so the step costs only the timer of step 1) and whose step 1 pages the webhook user
//!    `--delay-secs` later. Step 0 fires in the alert's own unit of work, so step 1 is due
//!    `--delay-secs` after the escalation started; the page's `timestamp` says when it fired. Reports how late step 1 fired (p50/p99/max) and the
//!    process's CPU time over the window the timers fall due in.
//! 3. **Ingest with paging on.** The ingest benchmark's single-alert and 100-alert scenarios
//!    with paging off (no policy) and on (every alert starts an escalation that pages at once),
//!    in one run; the ratio on/off.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use firebreak_domain::contact::ContactKind;
use firebreak_domain::escalation::{Policy, Step, Target as PolicyTarget};
use firebreak_domain::{AccessRole, Name};
use firebreak_engine::Principal;
use firebreak_engine::directory::ServiceFields;
use firebreak_engine::paging::ContactDraft;
use firebreak_store::Store;
use jiff::SignedDuration;
use serde_json::Value;

use crate::ingest::{
    Load, SCENARIOS, Target, Times, firebreak_config, ms, print_line, run_scenario,
    start_alertmanager_with,
};

/// Waits until every page has gone out and nothing is overdue; timers due later (a policy's
/// next step or its exhaustion) may stay queued. Returns how long it took.
async fn settle(app: &firebreak_engine::Firebreak, patience: Duration) -> anyhow::Result<Duration> {
    let started = Instant::now();
    loop {
        let stats = app.outbox_stats().await.map_err(anyhow::Error::new)?;
        let pages: i64 = stats
            .iter()
            .filter(|s| s.kind == "page")
            .map(|s| s.depth)
            .sum();
        let overdue: i64 = stats.iter().map(|s| s.overdue).sum();
        if pages == 0 && overdue == 0 {
            return Ok(started.elapsed());
        }
        if started.elapsed() > patience {
            bail!("after {patience:?}, {pages} pages still queued and {overdue} messages overdue");
        }
        // Each look scans the outbox: look once a second, not to slow the drain it measures.
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}
use crate::receiver::Receiver;

#[derive(clap::Args)]
pub struct PagingArgs {
    /// Alerts sent one at a time for the alert-to-page latency, per system.
    #[arg(long, default_value_t = 300)]
    probes: usize,
    /// Pause after each page arrives before the next alert is sent.
    #[arg(long, default_value_t = 20)]
    gap_ms: u64,
    /// Concurrent escalations for the timer benchmark.
    #[arg(long, default_value_t = 10_000)]
    escalations: usize,
    /// Seconds over which the escalations start (so their steps fall due across this long).
    #[arg(long, default_value_t = 60)]
    spread_secs: u64,
    /// Delay from step 0 to step 1.
    #[arg(long, default_value_t = 30)]
    delay_secs: i64,
    /// Concurrent senders for the ingest comparison.
    #[arg(long, default_value_t = 32)]
    clients: usize,
    /// Seconds each ingest scenario is measured (after a 2 s warm-up).
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// The Alertmanager binary to compare against.
    #[arg(long, default_value = "/usr/bin/prometheus-alertmanager")]
    alertmanager: String,
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
    /// Which ingest scenarios to run, by alerts per request: any of 1, 100.
    #[arg(long, value_delimiter = ',', default_value = "1,100")]
    batches: Vec<usize>,
    /// Which parts to run: any of latency, timers, ingest.
    #[arg(long, value_delimiter = ',', default_value = "latency,timers,ingest")]
    parts: Vec<String>,
}

fn name(s: &str) -> Name {
    Name::parse(s).expect("a valid name")
}

/// Makes `user` (with a webhook contact at `url`, unless `url` is None) and a policy `policy`
/// whose steps page `steps` users after `delay` each; points the bench service at it.
async fn set_up_paging(
    app: &firebreak_engine::Firebreak,
    contacts: &[(&str, Option<&str>)],
    steps: &[&str],
    delay: SignedDuration,
) -> anyhow::Result<()> {
    let who = Principal::local("bench");
    for (user, url) in contacts {
        app.create_user(
            &who,
            firebreak_store::UserRecord {
                handle: name(user),
                name: user.to_string(),
                email: None,
                time_zone: None,
                role: AccessRole::Responder,
                from_config: false,
                created_at: app.clock.now(),
                disabled_at: None,
            },
        )
        .await
        .map_err(anyhow::Error::new)?;
        if let Some(url) = url {
            app.add_contact(
                &who,
                &name(user),
                ContactDraft {
                    kind: ContactKind::Webhook,
                    target: url.to_string(),
                    name: None,
                    token: None,
                },
            )
            .await
            .map_err(anyhow::Error::new)?;
        }
    }
    let policy = Policy::new(
        name("bench"),
        0,
        steps
            .iter()
            .map(|u| Step {
                delay,
                targets: vec![PolicyTarget::User(name(u))],
            })
            .collect(),
    )?;
    app.save_policy(&who, policy, false)
        .await
        .map_err(anyhow::Error::new)?;
    app.update_service(
        &who,
        &name("bench"),
        ServiceFields {
            escalation_policy: Some(Some(name("bench"))),
            ..Default::default()
        },
    )
    .await
    .map_err(anyhow::Error::new)?;
    Ok(())
}

fn percentiles(mut v: Vec<Duration>) -> (Duration, Duration, Duration) {
    v.sort();
    let pct = |p: f64| v[((v.len() as f64 * p) as usize).min(v.len() - 1)];
    (pct(0.50), pct(0.99), *v.last().expect("samples"))
}

async fn fresh_store(
    kind: &str,
    args: &PagingArgs,
    tag: &str,
) -> anyhow::Result<Option<(Arc<dyn Store>, Cleanup)>> {
    match kind {
        "sqlite" => {
            let dir = tempfile::tempdir_in(".")?;
            let store =
                firebreak_store_sqlite::SqliteStore::open(&dir.path().join("bench.db")).await?;
            Ok(Some((Arc::new(store), Cleanup::Dir(dir))))
        }
        _ => {
            if args.postgres.is_empty() {
                return Ok(None);
            }
            let schema = format!("bench_paging_{tag}_{}", std::process::id());
            match firebreak_store_postgres::PostgresStore::connect_with_schema(
                &args.postgres,
                &schema,
            )
            .await
            {
                Err(e) => {
                    println!(
                        "postgres skipped: could not connect to {}: {e}",
                        args.postgres
                    );
                    Ok(None)
                }
                Ok(pg) => {
                    pg.migrate().await?;
                    let pg = Arc::new(pg);
                    Ok(Some((pg.clone(), Cleanup::Schema(pg))))
                }
            }
        }
    }
}

enum Cleanup {
    Dir(#[allow(dead_code)] tempfile::TempDir),
    Schema(Arc<firebreak_store_postgres::PostgresStore>),
}

impl Cleanup {
    async fn done(self) -> anyhow::Result<()> {
        if let Cleanup::Schema(pg) = self {
            pg.drop_schema().await?;
        }
        Ok(())
    }
}

pub async fn main(args: PagingArgs) -> anyhow::Result<()> {
    let wants = |t: &str| args.targets.iter().any(|x| x == t);
    let part = |p: &str| args.parts.iter().any(|x| x == p);
    let probe_before = crate::flush_probe();
    println!(
        "paging benchmark, loopback; flush_probe_before={:.2}ms",
        ms(probe_before)
    );
    if part("latency") {
        let am = alertmanager_latency(&args).await?;
        for kind in ["sqlite", "postgres"] {
            if !wants(kind) {
                continue;
            }
            let Some((store, cleanup)) = fresh_store(kind, &args, "lat").await? else {
                continue;
            };
            let (p50, p99, max) = firebreak_latency(kind, store, &args).await?;
            println!(
                "{kind:8} alert to page, {} alerts one at a time: p50={:.2}ms p99={:.2}ms max={:.2}ms; \
                 alertmanager p50={:.2}ms p99={:.2}ms; p99 ratio firebreak/alertmanager={:.2}",
                args.probes,
                ms(p50),
                ms(p99),
                ms(max),
                ms(am.0),
                ms(am.1),
                p99.as_secs_f64() / am.1.as_secs_f64()
            );
            cleanup.done().await?;
        }
    }
    if part("timers") {
        for kind in ["sqlite", "postgres"] {
            if !wants(kind) {
                continue;
            }
            let Some((store, cleanup)) = fresh_store(kind, &args, "tim").await? else {
                continue;
            };
            timers(kind, store, &args).await?;
            cleanup.done().await?;
        }
    }
    if part("ingest") {
        for kind in ["sqlite", "postgres"] {
            if !wants(kind) {
                continue;
            }
            let mut rates = Vec::new();
            for paging in [false, true] {
                let Some((store, cleanup)) =
                    fresh_store(kind, &args, if paging { "on" } else { "off" }).await?
                else {
                    continue;
                };
                rates.push(ingest(kind, store, &args, paging).await?);
                cleanup.done().await?;
            }
            if let [off, on] = rates.as_slice() {
                for ((name, a), (_, b)) in off.iter().zip(on) {
                    println!(
                        "{kind:8} ingest {name}: paging off {a:.0} alerts/s, on {b:.0} alerts/s, on/off={:.2}",
                        b / a
                    );
                }
            }
        }
    }
    println!("flush_probe_after={:.2}ms", ms(crate::flush_probe()));
    Ok(())
}

/// Alertmanager with `group_wait: 0s`, one group per alert, posting to the receiver.
async fn alertmanager_latency(args: &PagingArgs) -> anyhow::Result<(Duration, Duration)> {
    let mut receiver = Receiver::start().await?;
    let dir = tempfile::tempdir_in(".")?;
    let config = format!(
        "route:\n  receiver: hook\n  group_by: ['...']\n  group_wait: 0s\n  group_interval: 1m\n  repeat_interval: 4h\n\
         receivers:\n  - name: hook\n    webhook_configs:\n      - url: {}\n        send_resolved: false\n",
        receiver.url()
    );
    let (_guard, base) = start_alertmanager_with(&args.alertmanager, dir.path(), &config)
        .await
        .with_context(|| format!("could not start {}", args.alertmanager))?;
    let http = reqwest::Client::new();
    let target = Target::Alertmanager { base };
    let times = Times::current();
    let mut latencies = Vec::with_capacity(args.probes);
    for i in 0..args.probes {
        let body = target.body(&[format!("am-probe-{i}")], 1, &times);
        let sent = Instant::now();
        let answer = http
            .post(target.url(1))
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await?;
        if !answer.status().is_success() {
            bail!("alertmanager probe {i}: {}", answer.status());
        }
        let (arrived, _, _) =
            tokio::time::timeout(Duration::from_secs(10), receiver.arrivals.recv())
                .await
                .with_context(|| format!("alertmanager probe {i}: no notification within 10 s"))?
                .context("the receiver stopped")?;
        latencies.push(arrived.saturating_duration_since(sent));
        tokio::time::sleep(Duration::from_millis(args.gap_ms)).await;
    }
    let (p50, p99, max) = percentiles(latencies);
    println!(
        "alertmanager alert to notification, {} alerts one at a time (group_wait 0s): p50={:.2}ms p99={:.2}ms max={:.2}ms",
        args.probes,
        ms(p50),
        ms(p99),
        ms(max)
    );
    Ok((p50, p99))
}

async fn firebreak_latency(
    kind: &str,
    store: Arc<dyn Store>,
    args: &PagingArgs,
) -> anyhow::Result<(Duration, Duration, Duration)> {
    let mut config = firebreak_config()?;
    config.outbound.allow = vec!["127.0.0.0/8".parse()?];
    let running = firebreak::start("127.0.0.1:0", store, config, firebreak::system_clock()).await?;
    let mut receiver = Receiver::start().await?;
    let url = receiver.url();
    set_up_paging(
        &running.app,
        &[("oncall", Some(&url))],
        &["oncall"],
        SignedDuration::from_hours(1),
    )
    .await?;
    let http = reqwest::Client::new();
    let target = Target::Firebreak {
        base: format!("http://{}", running.addr),
    };
    let times = Times::current();
    let mut latencies = Vec::with_capacity(args.probes);
    for i in 0..args.probes {
        let body = target.body(&[format!("{kind}-page-{i}")], 1, &times);
        let sent = Instant::now();
        let answer = http
            .post(target.url(1))
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await?;
        if !answer.status().is_success() {
            bail!("{kind} probe {i}: {}", answer.status());
        }
        let (arrived, _, _) =
            tokio::time::timeout(Duration::from_secs(10), receiver.arrivals.recv())
                .await
                .with_context(|| format!("{kind} probe {i}: no page within 10 s"))?
                .context("the receiver stopped")?;
        latencies.push(arrived.saturating_duration_since(sent));
        tokio::time::sleep(Duration::from_millis(args.gap_ms)).await;
    }
    crate::stop(running).await;
    Ok(percentiles(latencies))
}

/// CPU time this process has used (user + system).
fn cpu_time() -> Duration {
    let text = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command (which is in parentheses and may hold spaces).
    let rest = text.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<u64>().ok())
            .unwrap_or(0)
    };
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after the command.
    let total = ticks(11) + ticks(12);
    Duration::from_millis(total * 1000 / 100)
}

async fn timers(kind: &str, store: Arc<dyn Store>, args: &PagingArgs) -> anyhow::Result<()> {
    let mut config = firebreak_config()?;
    config.outbound.allow = vec!["127.0.0.0/8".parse()?];
    let running = firebreak::start(
        "127.0.0.1:0",
        store.clone(),
        config,
        firebreak::system_clock(),
    )
    .await?;
    let mut receiver = Receiver::start().await?;
    let url = receiver.url();
    let delay = SignedDuration::from_secs(args.delay_secs);
    set_up_paging(
        &running.app,
        &[("nobody", None), ("oncall", Some(&url))],
        &["nobody", "oncall"],
        delay,
    )
    .await?;
    let target = Target::Firebreak {
        base: format!("http://{}", running.addr),
    };
    let http = reqwest::Client::new();
    let times = Times::current();
    let batch = 100usize;
    let waves = args.escalations.div_ceil(batch);
    let gap = Duration::from_secs_f64(args.spread_secs as f64 / waves as f64);
    let started = Instant::now();
    let mut sent = 0;
    for w in 0..waves {
        let ids: Vec<String> = (0..batch.min(args.escalations - sent))
            .map(|i| format!("{kind}-timer-{w}-{i}"))
            .collect();
        sent += ids.len();
        let answer = http
            .post(target.url(batch))
            .header("content-type", "application/json")
            .body(target.body(&ids, batch, &times))
            .send()
            .await?;
        if !answer.status().is_success() {
            bail!("{kind} timer wave {w}: {}", answer.status());
        }
        let next = started + gap * (w as u32 + 1);
        tokio::time::sleep_until(next.into()).await;
    }
    let cpu_from = cpu_time();
    let window_from = Instant::now();
    // Every step 1 page, with the time it fired.
    let mut fired: Vec<(i64, jiff::Timestamp)> = Vec::with_capacity(args.escalations);
    let deadline = Instant::now() + Duration::from_secs(args.delay_secs as u64 + 300);
    while fired.len() < args.escalations {
        let left = deadline.saturating_duration_since(Instant::now());
        let Ok(Some((_, _, body))) = tokio::time::timeout(left, receiver.arrivals.recv()).await
        else {
            bail!(
                "{kind}: only {} of {} step-1 pages arrived",
                fired.len(),
                args.escalations
            );
        };
        let page: Value = serde_json::from_slice(&body)?;
        if page["step"] != 1 {
            continue;
        }
        let alert = page["alert"]["id"]
            .as_i64()
            .context("a page without its alert")?;
        let at: jiff::Timestamp = page["timestamp"]
            .as_str()
            .context("a page without its timestamp")?
            .parse()?;
        fired.push((alert, at));
    }
    let cpu = cpu_time().saturating_sub(cpu_from);
    let window = window_from.elapsed();
    // Step 1 was due `delay` after step 0 fired, and step 0 fired as the escalation started
    // (in the alert's own unit of work).
    let mut late = Vec::with_capacity(fired.len());
    for (alert, at) in &fired {
        let list = store
            .list_escalations(firebreak_store::EscalationFilter {
                alert: Some(*alert),
                ..Default::default()
            })
            .await?;
        let e = list.first().context("an alert without its escalation")?;
        let due = e.started_at + delay;
        let lateness = at.duration_since(due);
        late.push(Duration::try_from(lateness).unwrap_or(Duration::ZERO));
    }
    let (p50, p99, max) = percentiles(late);
    println!(
        "{kind:8} escalation timers: {} escalations started across {}s, step 1 due {}s after step 0; \
         step 1 fired late by p50={:.1}ms p99={:.1}ms max={:.1}ms; process CPU over the {:.1}s the steps fell due: {:.1}s ({:.0}% of one core)",
        args.escalations,
        args.spread_secs,
        args.delay_secs,
        ms(p50),
        ms(p99),
        ms(max),
        window.as_secs_f64(),
        cpu.as_secs_f64(),
        100.0 * cpu.as_secs_f64() / window.as_secs_f64()
    );
    settle(&running.app, Duration::from_secs(120)).await?;
    crate::stop(running).await;
    Ok(())
}

/// The ingest scenarios without repeats, with paging off or on; alerts/s per scenario.
async fn ingest(
    kind: &str,
    store: Arc<dyn Store>,
    args: &PagingArgs,
    paging: bool,
) -> anyhow::Result<Vec<(&'static str, f64)>> {
    let mut config = firebreak_config()?;
    config.outbound.allow = vec!["127.0.0.0/8".parse()?];
    let running = firebreak::start("127.0.0.1:0", store, config, firebreak::system_clock()).await?;
    let receiver = Receiver::counting().await?;
    crate::subscribe(&running.app, &receiver.url(), "alert.opened").await?;
    if paging {
        let url = receiver.url();
        set_up_paging(
            &running.app,
            &[("oncall", Some(&url))],
            &["oncall"],
            SignedDuration::from_hours(1),
        )
        .await?;
    }
    let target = Target::Firebreak {
        base: format!("http://{}", running.addr),
    };
    let load = Load {
        clients: args.clients,
        warmup: Duration::from_secs(2),
        measure: Duration::from_secs(args.seconds),
    };
    let tag = format!("{kind}{}", if paging { "on" } else { "off" });
    let mut rates = Vec::new();
    for (i, s) in SCENARIOS
        .iter()
        .enumerate()
        .filter(|(_, s)| s.repeat_pct == 0 && args.batches.contains(&s.batch))
    {
        let f = run_scenario(&target, *s, &load, &format!("{tag}{i}")).await;
        print_line(&tag, *s, &f, args.clients);
        rates.push((s.name, f.rate));
        let took = settle(&running.app, Duration::from_secs(300)).await?;
        println!(
            "{tag}: pages and webhooks the scenario caused were all sent {:.1} s after it ended",
            took.as_secs_f64()
        );
    }
    crate::stop(running).await;
    Ok(rates)
}
