//! Alert ingestion benchmark: Firebreak (durable: every 2xx after its commit) against the real
//! Prometheus Alertmanager (in memory), on loopback, with the same client count, duration and
//! alerts.
//!
//! Scenarios, each with N concurrent senders in a closed loop (send, wait for the answer, send):
//!
//! 1. one alert per request: PagerDuty Events v2 (`POST /v2/enqueue`) into Firebreak,
//!    `POST /api/v2/alerts` with a one-element array into Alertmanager;
//! 2. 100 alerts per request: the Alertmanager webhook (`POST /api/v1/ingest/alertmanager/{key}`)
//!    into Firebreak, `POST /api/v2/alerts` with 100 alerts into Alertmanager;
//! 3. and 4. the same with 30% of the alerts repeating a key the sender already sent (still
//!    open, never resolved): a repeated dedup key / fingerprint for Firebreak, the same label set
//!    for Alertmanager.
//!
//! Firebreak runs as people run it, the release binary (`--firebreak-bin`) as a subprocess:
//! `firebreak serve` on SQLite in a fresh temp dir (the real file store, WAL with
//! `synchronous=FULL`) and, when reachable, on PostgreSQL in a fresh schema (its
//! `--database-url` sets `search_path`). Alertmanager runs as a subprocess with a temp storage
//! path and no cluster. Both are loaded from this process.
//!
//! Every Firebreak target has one outgoing-webhook subscription to `alert.opened` pointing at a
//! receiver on loopback, so every new alert also writes an outbox message in its unit of work
//! and the worker delivers it during the run (`--no-webhook` leaves it out, for comparison).
//! The subscription is made through the API with an admin token from `firebreak token create`.
//! Between scenarios the bench waits for the outbox to drain (`GET /api/v1/outbox/stats`) and
//! reports how long that took.
//!
//! Memory: a fresh Firebreak (the release binary as a subprocess, SQLite) and a fresh
//! Alertmanager each get 100,000 open alerts in batches of 100; VmRSS is read from /proc.
//!
//! Every subprocess is held by a guard that stops it by PID when dropped (on success, error
//! and Ctrl-C alike).

use std::collections::HashSet;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use comfy_table::{Cell, Table, presets::UTF8_FULL_CONDENSED};
use firebreak_domain::config::IntegrationSpec;
use firebreak_domain::{Config, Name, Service};
use serde_json::{Value, json};

/// The integration key every Firebreak target uses (32 letters or digits).
const KEY: &str = "BenchKey000000000000000000000001";

#[derive(clap::Args)]
pub struct IngestArgs {
    /// Concurrent senders.
    #[arg(long, default_value_t = 32)]
    clients: usize,
    /// How long each scenario is measured, after the warm-up.
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// Load before each scenario's measurement that is not counted.
    #[arg(long, default_value_t = 2)]
    warmup: u64,
    /// PostgreSQL to measure; skipped when empty or unreachable.
    #[arg(
        long,
        env = "FIREBREAK_TEST_POSTGRES_URL",
        default_value = "postgres://postgres@127.0.0.1:5432/test"
    )]
    postgres: String,
    /// The Alertmanager binary to compare against; skipped when empty.
    #[arg(long, default_value = "/usr/bin/prometheus-alertmanager")]
    alertmanager: String,
    /// The Firebreak release binary, run as a subprocess for every Firebreak figure.
    #[arg(long, default_value = "target/release/firebreak")]
    firebreak_bin: PathBuf,
    /// Open alerts loaded into each server for the memory figures; 0 skips that part.
    #[arg(long, default_value_t = 100_000)]
    memory_alerts: usize,
    /// Which targets to load: any of sqlite, postgres, alertmanager.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "sqlite,postgres,alertmanager"
    )]
    targets: Vec<String>,
    /// Leave out the outgoing-webhook subscription to `alert.opened` (for comparison only; the
    /// targets are measured with it).
    #[arg(long)]
    no_webhook: bool,
    /// Which scenarios to run (1 to 4); all by default.
    #[arg(long, value_delimiter = ',')]
    scenarios: Vec<usize>,
}

#[derive(Clone, Copy)]
pub(crate) struct Scenario {
    pub(crate) name: &'static str,
    pub(crate) batch: usize,
    pub(crate) repeat_pct: u64,
}

pub(crate) const SCENARIOS: [Scenario; 4] = [
    Scenario {
        name: "1 alert/request",
        batch: 1,
        repeat_pct: 0,
    },
    Scenario {
        name: "100 alerts/request",
        batch: 100,
        repeat_pct: 0,
    },
    Scenario {
        name: "1 alert/request, 30% repeats",
        batch: 1,
        repeat_pct: 30,
    },
    Scenario {
        name: "100 alerts/request, 30% repeats",
        batch: 100,
        repeat_pct: 30,
    },
];

/// Where alerts go and in which wire format.
#[derive(Clone)]
pub(crate) enum Target {
    /// Firebreak: PagerDuty Events v2 for single alerts, the Alertmanager webhook for batches.
    Firebreak { base: String },
    /// Alertmanager's own API.
    Alertmanager { base: String },
}

impl Target {
    pub(crate) fn url(&self, batch: usize) -> String {
        match self {
            Target::Firebreak { base } if batch == 1 => format!("{base}/v2/enqueue"),
            Target::Firebreak { base } => format!("{base}/api/v1/ingest/alertmanager/{KEY}"),
            Target::Alertmanager { base } => format!("{base}/api/v2/alerts"),
        }
    }

    /// The request body for these alert ids (each id is the dedup key / fingerprint and the
    /// `instance` label, so a repeated id is the same alert in both systems).
    pub(crate) fn body(&self, ids: &[String], batch: usize, times: &Times) -> Vec<u8> {
        let labels = |id: &str| json!({"alertname": "BenchAlert", "instance": id, "job": "bench", "severity": "critical"});
        let summary = |id: &str| format!("bench alert {id} is firing");
        let value = match self {
            Target::Firebreak { .. } if batch == 1 => json!({
                "routing_key": KEY,
                "event_action": "trigger",
                "dedup_key": ids[0],
                "payload": {"summary": summary(&ids[0]), "source": "bench", "severity": "critical"},
            }),
            Target::Firebreak { .. } => json!({
                "version": "4",
                "status": "firing",
                "receiver": "r",
                "groupKey": "g",
                "alerts": ids.iter().map(|id| json!({
                    "status": "firing",
                    "labels": labels(id),
                    "annotations": {"summary": summary(id)},
                    "startsAt": times.now,
                    "endsAt": "0001-01-01T00:00:00Z",
                    "fingerprint": id,
                })).collect::<Vec<_>>(),
            }),
            Target::Alertmanager { .. } => Value::Array(
                ids.iter()
                    .map(|id| {
                        json!({
                            "labels": labels(id),
                            "annotations": {"summary": summary(id)},
                            "startsAt": times.now,
                            "endsAt": times.in_an_hour,
                        })
                    })
                    .collect(),
            ),
        };
        serde_json::to_vec(&value).expect("JSON")
    }
}

pub(crate) struct Times {
    now: String,
    in_an_hour: String,
}

impl Times {
    pub(crate) fn current() -> Times {
        let now = jiff::Timestamp::now();
        Times {
            now: now.to_string(),
            in_an_hour: (now + jiff::SignedDuration::from_hours(1)).to_string(),
        }
    }
}

/// One scenario's figures on one target.
#[derive(Clone, Default)]
pub(crate) struct Figures {
    pub(crate) alerts: u64,
    requests: usize,
    pub(crate) errors: u64,
    pub(crate) rate: f64,
    pub(crate) p50: Duration,
    pub(crate) p99: Duration,
    first_error: Option<String>,
}

struct Xorshift(u64);

impl Xorshift {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }
}

pub(crate) struct Load {
    pub(crate) clients: usize,
    pub(crate) warmup: Duration,
    pub(crate) measure: Duration,
}

/// Runs one scenario: `clients` senders in a closed loop for the warm-up plus the measured
/// time. Only requests answered inside the measured window are counted.
pub(crate) async fn run_scenario(
    target: &Target,
    scenario: Scenario,
    load: &Load,
    tag: &str,
) -> Figures {
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(load.clients)
        .build()
        .expect("HTTP client");
    let url = target.url(scenario.batch);
    let times = Arc::new(Times::current());
    let start = Instant::now();
    let measure_from = start + load.warmup;
    let end = measure_from + load.measure;
    let mut tasks = Vec::new();
    for c in 0..load.clients {
        let (http, url, target, times, tag) = (
            http.clone(),
            url.clone(),
            target.clone(),
            times.clone(),
            tag.to_string(),
        );
        tasks.push(tokio::spawn(async move {
            let mut rng = Xorshift(0x9E37_79B9_7F4A_7C15 ^ (c as u64 + 1));
            let mut sent: Vec<String> = Vec::new();
            let mut next = 0u64;
            let mut f = Figures::default();
            let mut latencies = Vec::new();
            while Instant::now() < end {
                let mut ids = Vec::with_capacity(scenario.batch);
                let mut fresh = Vec::with_capacity(scenario.batch);
                let mut repeated = HashSet::new();
                for _ in 0..scenario.batch {
                    if !sent.is_empty() && rng.next() % 100 < scenario.repeat_pct {
                        let i = (rng.next() % sent.len() as u64) as usize;
                        if repeated.insert(i) {
                            ids.push(sent[i].clone());
                            continue;
                        }
                    }
                    let id = format!("{tag}-{c}-{next}");
                    next += 1;
                    fresh.push(id.clone());
                    ids.push(id);
                }
                let body = target.body(&ids, scenario.batch, &times);
                let t = Instant::now();
                let res = http
                    .post(&url)
                    .header("content-type", "application/json")
                    .body(body)
                    .send()
                    .await;
                let (ok, detail) = match res {
                    Ok(r) => {
                        let status = r.status();
                        let text = r.text().await.unwrap_or_default();
                        (status.is_success(), format!("{status}: {text}"))
                    }
                    Err(e) => (false, e.to_string()),
                };
                let done = Instant::now();
                if ok {
                    sent.extend(fresh);
                }
                // Counted by completion time inside the measured window, so slow batches
                // sent during the warm-up still count when they finish in it.
                if done < measure_from || done > end {
                    continue;
                }
                if ok {
                    latencies.push(done - t);
                    f.alerts += ids.len() as u64;
                } else {
                    f.errors += 1;
                    if f.first_error.is_none() {
                        f.first_error = Some(detail.chars().take(300).collect());
                    }
                }
            }
            (f, latencies)
        }));
    }
    let mut total = Figures::default();
    let mut all = Vec::new();
    for t in tasks {
        let (f, l) = t.await.expect("sender task");
        total.alerts += f.alerts;
        total.errors += f.errors;
        total.first_error = total.first_error.or(f.first_error);
        all.extend(l);
    }
    all.sort();
    let pct = |p: f64| {
        all.get(((all.len() as f64 * p) as usize).min(all.len().saturating_sub(1)))
            .copied()
            .unwrap_or_default()
    };
    total.requests = all.len();
    total.rate = total.alerts as f64 / load.measure.as_secs_f64();
    total.p50 = pct(0.50);
    total.p99 = pct(0.99);
    total
}

pub(crate) fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

pub(crate) fn print_line(target: &str, scenario: Scenario, f: &Figures, clients: usize) {
    println!(
        "{target:13} {:34} clients={clients:3} requests={:7} alerts={:8} errors={} rate={:8.0} alerts/s p50={:7.2}ms p99={:7.2}ms",
        scenario.name,
        f.requests,
        f.alerts,
        f.errors,
        f.rate,
        ms(f.p50),
        ms(f.p99),
    );
    if let Some(e) = &f.first_error {
        println!("{:13} first error: {e}", "");
    }
}

/// A subprocess stopped by PID when dropped: SIGTERM, then SIGKILL after 5 s.
pub(crate) struct Guard {
    child: Child,
    name: &'static str,
}

impl Guard {
    /// Holds `child`, named `name` in messages, until dropped.
    pub(crate) fn new(child: Child, name: &'static str) -> Guard {
        Guard { child, name }
    }

    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    pub(crate) fn exited(&mut self) -> bool {
        !matches!(self.child.try_wait(), Ok(None))
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        if !self.exited() {
            let _ = Command::new("kill")
                .args(["-TERM", &self.child.id().to_string()])
                .status();
            let deadline = Instant::now() + Duration::from_secs(5);
            while Instant::now() < deadline && !self.exited() {
                std::thread::sleep(Duration::from_millis(50));
            }
            if !self.exited() {
                let _ = self.child.kill();
            }
        }
        let _ = self.child.wait();
        eprintln!("stopped {} (pid {})", self.name, self.child.id());
    }
}

pub(crate) fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

pub(crate) fn log_tail(path: &Path) -> String {
    let mut s = String::new();
    if let Ok(mut f) = std::fs::File::open(path) {
        let _ = f.read_to_string(&mut s);
    }
    let lines: Vec<&str> = s.lines().collect();
    lines[lines.len().saturating_sub(15)..].join("\n")
}

/// Waits until `url` answers 200, failing early if the process exits.
pub(crate) async fn wait_ready(guard: &mut Guard, url: &str, log: &Path) -> anyhow::Result<()> {
    let http = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if guard.exited() {
            bail!("{} exited while starting:\n{}", guard.name, log_tail(log));
        }
        if let Ok(r) = http.get(url).send().await
            && r.status() == 200
        {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    bail!(
        "{} was not ready within 30 s:\n{}",
        guard.name,
        log_tail(log)
    )
}

/// Starts Alertmanager on a free loopback port with a temp storage path, no cluster, and one
/// route to a receiver without integrations.
async fn start_alertmanager(bin: &str, dir: &Path) -> anyhow::Result<(Guard, String)> {
    start_alertmanager_with(
        bin,
        dir,
        "route:\n  receiver: blackhole\nreceivers:\n  - name: blackhole\n",
    )
    .await
}

/// Starts Alertmanager with `config_text` as its configuration.
pub(crate) async fn start_alertmanager_with(
    bin: &str,
    dir: &Path,
    config_text: &str,
) -> anyhow::Result<(Guard, String)> {
    let config = dir.join("alertmanager.yml");
    std::fs::write(&config, config_text)?;
    let storage = dir.join("data");
    std::fs::create_dir_all(&storage)?;
    let port = free_port()?;
    let log = dir.join("alertmanager.log");
    let child = Command::new(bin)
        .arg(format!("--config.file={}", config.display()))
        .arg(format!("--storage.path={}", storage.display()))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .arg("--cluster.listen-address=")
        .arg("--log.level=warn")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log)?)
        .spawn()
        .with_context(|| format!("could not start {bin}"))?;
    let mut guard = Guard {
        child,
        name: "alertmanager",
    };
    let base = format!("http://127.0.0.1:{port}");
    wait_ready(&mut guard, &format!("{base}/-/ready"), &log).await?;
    eprintln!("started alertmanager (pid {}) on {base}", guard.pid());
    Ok((guard, base))
}

/// The config every Firebreak target uses: defaults plus one service with the bench key and a
/// rate limit far above what the machine can send.
pub(crate) fn firebreak_config() -> anyhow::Result<Config> {
    let mut config = Config::default();
    config.services.push(Service {
        name: Name::parse("bench").map_err(|e| anyhow::anyhow!("{e}"))?,
        description: "load benchmark".into(),
        team: None,
        runbook: None,
        integrations: vec![IntegrationSpec {
            name: "bench".into(),
            key: KEY.into(),
            key_env: None,
        }],
        grouping: Default::default(),
        escalation_policy: None,
        manager: None,
    });
    config.alerting.rate_limit_per_second = 1_000_000;
    config.alerting.rate_limit_burst = 1_000_000;
    // The webhook receiver listens on loopback, which the SSRF guard refuses unless allowed.
    config.outbound.allow = vec!["127.0.0.1/32".parse()?];
    Ok(config)
}

/// The same as [`firebreak_config`], as a firebreak.yaml for the subprocess.
const FIREBREAK_YAML: &str = "services:
  - name: bench
    description: load benchmark
    integrations:
      - name: bench
        key: BenchKey000000000000000000000001
alerting:
  rate_limit:
    per_second: 1000000
    burst: 1000000
outbound:
  allow: [127.0.0.1/32]
";

/// The database URL of PostgreSQL at `url` with every table in `schema`.
pub(crate) fn postgres_in_schema(url: &str, schema: &str) -> String {
    let sep = if url.contains('?') { '&' } else { '?' };
    format!("{url}{sep}options=-c%20search_path%3D{schema}")
}

/// The arguments that put a `firebreak` command on the store of `dir` (or `database_url`).
fn store_args(cmd: &mut Command, dir: &Path, database_url: Option<&str>) {
    cmd.arg("--data-dir").arg(dir.join("data"));
    if let Some(url) = database_url {
        cmd.arg("--database-url").arg(url);
    }
    cmd.env_remove("FIREBREAK_DATABASE_URL")
        .env_remove("FIREBREAK_CONFIG")
        .env_remove("FIREBREAK_DATA_DIR")
        .env_remove("FIREBREAK_SERVER")
        .env_remove("FIREBREAK_TOKEN")
        .env_remove("FIREBREAK_PUBLIC_URL");
}

/// A token made with `firebreak token create` on the store of `dir` (or `database_url`), as an
/// admin would.
pub(crate) fn create_token(
    bin: &Path,
    dir: &Path,
    database_url: Option<&str>,
    role: &str,
) -> anyhow::Result<String> {
    let mut cmd = Command::new(bin);
    cmd.args(["token", "create", "--name", "bench", "--role", role]);
    store_args(&mut cmd, dir, database_url);
    let out = cmd
        .env("FIREBREAK_LOG", "warn")
        .stdin(Stdio::null())
        .output()
        .with_context(|| {
            format!(
                "could not run {}; build it first: cargo build --release -p firebreak",
                bin.display()
            )
        })?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    match stdout.split_whitespace().find(|w| w.starts_with("fbt_")) {
        Some(token) if out.status.success() => Ok(token.to_string()),
        _ => bail!(
            "`firebreak token create` gave no token ({}):\n{stdout}{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        ),
    }
}

async fn start_firebreak_process(bin: &Path, dir: &Path) -> anyhow::Result<(Guard, String)> {
    start_firebreak_on(bin, dir, None, Some(FIREBREAK_YAML)).await
}

/// `firebreak serve` on the store of `dir` (or `database_url`), with `config` as its
/// firebreak.yaml (or the defaults), on a free loopback port; returns when it is ready.
pub(crate) async fn start_firebreak_on(
    bin: &Path,
    dir: &Path,
    database_url: Option<&str>,
    config: Option<&str>,
) -> anyhow::Result<(Guard, String)> {
    let port = free_port()?;
    let log = dir.join("firebreak.log");
    let mut cmd = Command::new(bin);
    cmd.arg("serve");
    store_args(&mut cmd, dir, database_url);
    if let Some(yaml) = config {
        let path = dir.join("firebreak.yaml");
        std::fs::write(&path, yaml)?;
        cmd.arg("--config").arg(path);
    }
    let child = cmd
        .arg("--listen")
        .arg(format!("127.0.0.1:{port}"))
        .env("FIREBREAK_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log)?)
        .spawn()
        .with_context(|| {
            format!(
                "could not start {}; build it first: cargo build --release -p firebreak",
                bin.display()
            )
        })?;
    let mut guard = Guard {
        child,
        name: "firebreak",
    };
    let base = format!("http://127.0.0.1:{port}");
    wait_ready(&mut guard, &format!("{base}/readyz"), &log).await?;
    eprintln!("started firebreak (pid {}) on {base}", guard.pid());
    Ok((guard, base))
}

/// VmRSS and VmHWM of a process, in KiB.
pub(crate) fn rss_kib(pid: u32) -> anyhow::Result<(u64, u64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next()?.parse().ok())
            .unwrap_or(0)
    };
    Ok((field("VmRSS:"), field("VmHWM:")))
}

pub(crate) fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

/// Sends `total` distinct open alerts in batches of 100 from `clients` senders.
pub(crate) async fn load_open_alerts(
    target: &Target,
    total: usize,
    clients: usize,
) -> anyhow::Result<()> {
    let http = reqwest::Client::new();
    let url = target.url(100);
    let times = Arc::new(Times::current());
    let batches = total.div_ceil(100);
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for _ in 0..clients {
        let (http, url, target, times, next) = (
            http.clone(),
            url.clone(),
            target.clone(),
            times.clone(),
            next.clone(),
        );
        tasks.push(tokio::spawn(async move {
            loop {
                let b = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if b >= batches {
                    return Ok::<_, anyhow::Error>(());
                }
                let ids: Vec<String> = (b * 100..((b + 1) * 100).min(total))
                    .map(|i| format!("mem-{i}"))
                    .collect();
                let r = http
                    .post(&url)
                    .header("content-type", "application/json")
                    .body(target.body(&ids, 100, &times))
                    .send()
                    .await?;
                let status = r.status();
                if !status.is_success() {
                    bail!(
                        "batch {b}: {status}: {}",
                        r.text().await.unwrap_or_default()
                    );
                }
            }
        }));
    }
    for t in tasks {
        t.await??;
    }
    Ok(())
}

struct Memory {
    name: &'static str,
    idle: (u64, u64),
    loaded: (u64, u64),
    settled: (u64, u64),
    load_seconds: f64,
}

async fn measure_memory(
    name: &'static str,
    guard: &Guard,
    target: &Target,
    args: &IngestArgs,
) -> anyhow::Result<Memory> {
    tokio::time::sleep(Duration::from_secs(1)).await;
    let idle = rss_kib(guard.pid())?;
    let t = Instant::now();
    load_open_alerts(target, args.memory_alerts, args.clients).await?;
    let load_seconds = t.elapsed().as_secs_f64();
    let loaded = rss_kib(guard.pid())?;
    tokio::time::sleep(Duration::from_secs(5)).await;
    let settled = rss_kib(guard.pid())?;
    let m = Memory {
        name,
        idle,
        loaded,
        settled,
        load_seconds,
    };
    println!(
        "memory {name:12} pid={} alerts={} idle={:.1} MiB after_load={:.1} MiB after_5s={:.1} MiB peak(VmHWM)={:.1} MiB load_time={:.1}s",
        guard.pid(),
        args.memory_alerts,
        mib(idle.0),
        mib(loaded.0),
        mib(settled.0),
        mib(settled.1),
        load_seconds
    );
    Ok(m)
}

/// Measures every scenario against `firebreak serve` in its own process on the store of a
/// fresh temp dir, or on `database_url`.
async fn firebreak_process(
    name: &str,
    database_url: Option<&str>,
    args: &IngestArgs,
    scenarios: &[(usize, Scenario)],
    load: &Load,
) -> anyhow::Result<Vec<Figures>> {
    let dir = tempfile::tempdir_in(".")?;
    let admin = create_token(&args.firebreak_bin, dir.path(), database_url, "admin")?;
    let (guard, base) = start_firebreak_on(
        &args.firebreak_bin,
        dir.path(),
        database_url,
        Some(FIREBREAK_YAML),
    )
    .await?;
    let http = reqwest::Client::new();
    // One outgoing-webhook subscription to alert.opened, so every new alert also writes an
    // outbox message in its unit of work, and the worker delivers it during the run.
    let receiver = crate::receiver::Receiver::counting().await?;
    if !args.no_webhook {
        let r = http
            .post(format!("{base}/api/v1/webhooks"))
            .bearer_auth(&admin)
            .json(&json!({
                "url": receiver.url(),
                "events": ["alert.opened"],
                "description": "benchmark receiver",
            }))
            .send()
            .await?;
        if !r.status().is_success() {
            bail!(
                "subscribing the receiver: {}: {}",
                r.status(),
                r.text().await?
            );
        }
    }
    let target = Target::Firebreak { base: base.clone() };
    let probe_before = crate::flush_probe();
    let mut out = Vec::new();
    for (i, s) in scenarios {
        let before = receiver.count();
        let f = run_scenario(&target, *s, load, &format!("{name}{i}")).await;
        print_line(name, *s, &f, args.clients);
        println!(
            "{name:13} webhooks delivered during the scenario: {}",
            receiver.count() - before
        );
        // Each scenario starts with an empty outbox: the backlog one leaves is delivered (and
        // timed) before the next begins, so it does not share the next one's CPU.
        let t = Instant::now();
        let left = drain_api(&http, &base, &admin, Duration::from_secs(300)).await?;
        println!(
            "{name:13} outbox drained after the scenario in {:.1} s ({left} left)",
            t.elapsed().as_secs_f64()
        );
        out.push(f);
    }
    let probe_after = crate::flush_probe();
    let (rss, hwm) = rss_kib(guard.pid())?;
    println!(
        "{name:13} flush_probe_before={:.2}ms after={:.2}ms; RSS {:.1} MiB (peak {:.1} MiB)",
        ms(probe_before),
        ms(probe_after),
        mib(rss),
        mib(hwm)
    );
    drop(guard);
    Ok(out)
}

/// Waits until nothing is left in the outbox of the server at `base` (as
/// `GET /api/v1/outbox/stats` tells), or `patience` is up; returns what is left.
async fn drain_api(
    http: &reqwest::Client,
    base: &str,
    admin: &str,
    patience: Duration,
) -> anyhow::Result<i64> {
    let until = Instant::now() + patience;
    loop {
        let stats: Value = http
            .get(format!("{base}/api/v1/outbox/stats"))
            .bearer_auth(admin)
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        let depth: i64 = stats["kinds"]
            .as_array()
            .context("outbox stats without `kinds`")?
            .iter()
            .filter_map(|k| k["depth"].as_i64())
            .sum();
        if depth == 0 || Instant::now() > until {
            return Ok(depth);
        }
        // Each look counts the outbox's unfinished messages: look once a second, not to slow
        // the delivery it waits for.
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// Messages in the outbox not yet finished, of every kind.
pub(crate) async fn outbox_depth(app: &firebreak_engine::Firebreak) -> anyhow::Result<i64> {
    Ok(app
        .outbox_stats()
        .await
        .map_err(anyhow::Error::new)?
        .iter()
        .map(|s| s.depth)
        .sum())
}

pub async fn main(args: IngestArgs) -> anyhow::Result<()> {
    let scenarios: Vec<(usize, Scenario)> = SCENARIOS
        .iter()
        .enumerate()
        .map(|(i, s)| (i + 1, *s))
        .filter(|(i, _)| args.scenarios.is_empty() || args.scenarios.contains(i))
        .collect();
    let wants = |t: &str| args.targets.iter().any(|x| x == t);
    let load = Load {
        clients: args.clients,
        warmup: Duration::from_secs(args.warmup),
        measure: Duration::from_secs(args.seconds),
    };
    println!(
        "ingest benchmark: {} senders, {} s warm-up + {} s measured per scenario, loopback",
        args.clients, args.warmup, args.seconds
    );
    let mut columns: Vec<(String, Vec<Figures>)> = Vec::new();

    if wants("sqlite") {
        let f = firebreak_process("fb-sqlite", None, &args, &scenarios, &load).await?;
        columns.push(("Firebreak SQLite".into(), f));
    }
    if wants("postgres") && !args.postgres.is_empty() {
        let schema = format!("bench_ingest_{}", std::process::id());
        match firebreak_store_postgres::PostgresStore::connect_with_schema(&args.postgres, &schema)
            .await
        {
            Err(e) => println!(
                "postgres skipped: could not connect to {}: {e}",
                args.postgres
            ),
            Ok(pg) => {
                // The server migrates the schema when it starts; this connection only made
                // it, and drops it afterwards.
                let url = postgres_in_schema(&args.postgres, &schema);
                let result =
                    firebreak_process("fb-postgres", Some(&url), &args, &scenarios, &load).await;
                pg.drop_schema().await?;
                columns.push(("Firebreak PostgreSQL".into(), result?));
            }
        }
    }
    let mut alertmanager = None;
    if wants("alertmanager") && !args.alertmanager.is_empty() {
        let dir = tempfile::tempdir()?;
        let (guard, base) = start_alertmanager(&args.alertmanager, dir.path()).await?;
        let target = Target::Alertmanager { base };
        let mut out = Vec::new();
        for (i, s) in &scenarios {
            let f = run_scenario(&target, *s, &load, &format!("am{i}")).await;
            print_line("alertmanager", *s, &f, args.clients);
            out.push(f);
        }
        let (rss, hwm) = rss_kib(guard.pid())?;
        println!(
            "alertmanager  RSS after the throughput scenarios: {:.1} MiB (peak {:.1} MiB)",
            mib(rss),
            mib(hwm)
        );
        drop(guard);
        alertmanager = Some(out.clone());
        columns.push(("Alertmanager 0.25 (in memory)".into(), out));
    }

    // The comparison table.
    let mut table = Table::new();
    table.load_preset(UTF8_FULL_CONDENSED);
    let mut header = vec![Cell::new("scenario")];
    for (name, _) in &columns {
        header.push(Cell::new(format!("{name}\nalerts/s | p50 | p99")));
    }
    let firebreak_columns: Vec<&(String, Vec<Figures>)> = columns
        .iter()
        .filter(|(n, _)| n.starts_with("Firebreak"))
        .collect();
    if alertmanager.is_some() {
        for (name, _) in &firebreak_columns {
            header.push(Cell::new(format!(
                "{} / AM\nalerts/s",
                name.trim_start_matches("Firebreak ")
            )));
        }
    }
    table.set_header(header);
    for (row, (_, s)) in scenarios.iter().enumerate() {
        let mut cells = vec![Cell::new(s.name)];
        for (_, figures) in &columns {
            let f = &figures[row];
            cells.push(Cell::new(format!(
                "{:.0} | {:.2} ms | {:.2} ms{}",
                f.rate,
                ms(f.p50),
                ms(f.p99),
                if f.errors > 0 {
                    format!(" ({} errors)", f.errors)
                } else {
                    String::new()
                }
            )));
        }
        if let Some(am) = &alertmanager {
            for (_, figures) in &firebreak_columns {
                cells.push(Cell::new(format!(
                    "{:.2}",
                    figures[row].rate / am[row].rate.max(f64::MIN_POSITIVE)
                )));
            }
        }
        table.add_row(cells);
    }
    println!("\n{table}");

    // Memory with 100k open alerts, each server a fresh process of its own.
    if args.memory_alerts > 0 {
        let mut rows = Vec::new();
        {
            let dir = tempfile::tempdir_in(".")?;
            let (guard, base) = start_firebreak_process(&args.firebreak_bin, dir.path()).await?;
            rows.push(
                measure_memory("firebreak", &guard, &Target::Firebreak { base }, &args).await?,
            );
        }
        if !args.alertmanager.is_empty() {
            let dir = tempfile::tempdir()?;
            let (guard, base) = start_alertmanager(&args.alertmanager, dir.path()).await?;
            rows.push(
                measure_memory(
                    "alertmanager",
                    &guard,
                    &Target::Alertmanager { base },
                    &args,
                )
                .await?,
            );
        }
        let mut table = Table::new();
        table.load_preset(UTF8_FULL_CONDENSED);
        table.set_header(vec![
            "process",
            "idle RSS",
            &format!("RSS after {} alerts", args.memory_alerts),
            "RSS 5 s later",
            "peak (VmHWM)",
            "load time",
        ]);
        for m in &rows {
            table.add_row(vec![
                m.name.to_string(),
                format!("{:.1} MiB", mib(m.idle.0)),
                format!("{:.1} MiB", mib(m.loaded.0)),
                format!("{:.1} MiB", mib(m.settled.0)),
                format!("{:.1} MiB", mib(m.settled.1)),
                format!("{:.1} s", m.load_seconds),
            ]);
        }
        println!("\n{table}");
    }
    Ok(())
}
