//! Fan-out of one incident's live events: 1,000 clients on
//! `GET /api/v1/incidents/{id}/events` (Bearer token, `?after=` the last seq, so they start
//! live), then notes posted through the API one at a time, and per client the time until it
//! has read the `timeline` event carrying each note: from the POST's 201, and from just before
//! the POST was sent.
//!
//! Firebreak runs as its own process (the release `firebreak serve` on SQLite in a temp
//! `--data-dir`, `--listen 127.0.0.1:0`; its address, first admin token and setup link are read
//! from its stderr), so its resident memory (VmRSS from `/proc/PID/status`) is the server's
//! alone: read idle, and with every client connected, divided by the client count. Its CPU time
//! per note (utime + stime from `/proc/PID/stat`) is read too, with no client and with all of
//! them: the engine reads the store once per connection per change (the timeline after the
//! connection's last seq, then the incident), so that is what fan-out costs.
//!
//! Peer, in the same run and with the same client code: a minimal fan-out on raw tokio in this
//! process (a broadcast channel, HTTP/1.1 written by hand, no store, no framework), the floor
//! for delivering one event to N connections on this machine.
//!
//! The clients run in this process on the same 2 cores as the server, so their own wake-up and
//! parsing is in the figures. Each needs a file descriptor, as does each of the server's
//! connections: the open-file limit (`ulimit -n`) must exceed the client count.
//!
//! Run: `cargo run --release -p firebreak-bench -- sse --clients 1000 --notes 10`

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use comfy_table::{Table, presets::UTF8_FULL_CONDENSED};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt};
use tokio::sync::{Notify, Semaphore, broadcast};
use tokio_util::sync::CancellationToken;

use crate::ingest::{Guard, mib, rss_kib};
use crate::web::{self, thousands};

#[derive(clap::Args)]
pub struct SseArgs {
    /// Concurrent clients; several counts (`100,1000`) run one after the other, each on a fresh
    /// server.
    #[arg(long, value_delimiter = ',', default_value = "1000")]
    clients: Vec<usize>,
    /// Notes posted while every client is connected.
    #[arg(long, default_value_t = 10)]
    notes: usize,
    /// Time from one note's POST to the next.
    #[arg(long, default_value_t = 1000)]
    interval_ms: u64,
    /// The Firebreak release binary (`cargo build --release -p firebreak`).
    #[arg(long, default_value = "target/release/firebreak")]
    firebreak_bin: PathBuf,
    /// Connections opened at the same time while connecting.
    #[arg(long, default_value_t = 50)]
    connect_parallel: usize,
    /// Leave out the minimal fan-out peer.
    #[arg(long)]
    no_peer: bool,
}

/// Where the clients connect and the notes go.
struct Target {
    name: String,
    events_url: String,
    note_url: String,
    token: Option<String>,
    /// The tokens the clients stream with, client `i` with the `i % len`-th: one token may
    /// hold only 20 streams open on a server, so 1,000 clients need 50 (like 1,000 people
    /// each with their own session). Empty: the clients use `token`.
    stream_tokens: Vec<String>,
    /// The server's process, when it is one of its own.
    pid: Option<u32>,
}

/// How many streams one token may hold open on a server (`STREAMS_PER_CREDENTIAL` in
/// `crates/firebreak-server/src/routes/streams.rs`).
const STREAMS_PER_TOKEN: usize = 20;

/// Viewer tokens enough for `clients` streams, made with the admin's token.
async fn stream_tokens(
    http: &reqwest::Client,
    base: &str,
    admin: &str,
    clients: usize,
) -> anyhow::Result<Vec<String>> {
    let mut tokens = Vec::new();
    for i in 0..clients.div_ceil(STREAMS_PER_TOKEN) {
        let r = http
            .post(format!("{base}/api/v1/tokens"))
            .bearer_auth(admin)
            .json(&json!({ "name": format!("sse bench {i}"), "role": "viewer" }))
            .send()
            .await?;
        if r.status() != 201 {
            bail!("making a token: {}: {}", r.status(), r.text().await?);
        }
        let body: serde_json::Value = r.json().await?;
        let Some(token) = body["token"].as_str() else {
            bail!("a new token's answer has no token: {body}");
        };
        tokens.push(token.to_string());
    }
    Ok(tokens)
}

/// What one fan-out run measured.
struct Fanout {
    clients: usize,
    connect: Duration,
    /// Delivery latencies in ms, over every client and note.
    from_201: Vec<f64>,
    from_send: Vec<f64>,
    /// The POST's own latency, per note.
    post: Vec<f64>,
    /// The last client's delivery after the 201, per note.
    last: Vec<f64>,
    missing: usize,
    /// Bytes each client read per note, on average.
    bytes_per_note: f64,
    /// Server CPU per note, ms (own process only).
    cpu_per_note: Option<f64>,
    cpu_per_note_idle: Option<f64>,
    post_idle: Vec<f64>,
    rss_idle: Option<u64>,
    rss_connected: Option<u64>,
    rss_after: Option<(u64, u64)>,
    fds: Option<usize>,
}

pub async fn main(args: SseArgs) -> anyhow::Result<()> {
    let limit = open_file_limit("self");
    let most = args.clients.iter().copied().max().unwrap_or(0);
    if let Some(l) = limit
        && l < (most as u64) * 2 + 200
    {
        bail!(
            "the open-file limit is {l}; {most} clients and the peer need about {} (run `ulimit -n 20000` first)",
            most * 2 + 200
        );
    }
    let mut results: Vec<(String, Fanout)> = Vec::new();
    let probe_before = crate::flush_probe();
    let load_before = crate::room::loadavg();
    for &clients in &args.clients {
        let dir = tempfile::tempdir_in(".")?;
        let served = start_server(&args.firebreak_bin, dir.path(), &[]).await?;
        eprintln!(
            "firebreak (pid {}) on {}; setup link {}",
            served.guard.pid(),
            served.base,
            served.setup_link
        );
        let http = reqwest::Client::new();
        let n = web::declare(&http, &served.base, &served.token, "Checkout errors").await?;
        let last = web::fill(&http, &served.base, &served.token, n, 20).await?;
        let target = Target {
            name: "firebreak".into(),
            events_url: format!("{}/api/v1/incidents/{n}/events?after={last}", served.base),
            note_url: format!("{}/api/v1/incidents/{n}/notes", served.base),
            token: Some(served.token.clone()),
            stream_tokens: stream_tokens(&http, &served.base, &served.token, clients).await?,
            pid: Some(served.guard.pid()),
        };
        if let Some(l) = open_file_limit(&served.guard.pid().to_string()) {
            eprintln!("the server's open-file limit: {l}");
        }
        let f = fan_out(&target, clients, &args).await?;
        results.push((format!("Firebreak, {} clients", thousands(clients)), f));
        drop(served);
        if !args.no_peer {
            let cancel = CancellationToken::new();
            let base = floor_server(cancel.clone()).await?;
            let peer = Target {
                name: "peer".into(),
                events_url: format!("{base}/events"),
                note_url: format!("{base}/note"),
                token: None,
                stream_tokens: Vec::new(),
                pid: None,
            };
            let f = fan_out(&peer, clients, &args).await?;
            cancel.cancel();
            results.push((
                format!("minimal tokio fan-out, {} clients", thousands(clients)),
                f,
            ));
        }
    }
    let probe_after = crate::flush_probe();
    let load_after = crate::room::loadavg();

    let mut table = Table::new();
    table.load_preset(UTF8_FULL_CONDENSED);
    table.set_header(vec![
        "target",
        "connect all",
        "deliveries",
        "from the 201: p50 / p99 / max",
        "from before the POST: p50 / p99 / max",
        "last client per note (p50 / max)",
        "POST p50 / max",
        "bytes per client per note",
    ]);
    for (name, f) in &results {
        let (p, m) = (pcts(&f.from_201), pcts(&f.from_send));
        let l = pcts(&f.last);
        let post = pcts(&f.post);
        table.add_row(vec![
            name.clone(),
            format!("{:.2} s", f.connect.as_secs_f64()),
            format!(
                "{} of {}",
                thousands(f.from_201.len()),
                thousands(f.from_201.len() + f.missing)
            ),
            format!("{:.1} / {:.1} / {:.1} ms", p.0, p.1, p.2),
            format!("{:.1} / {:.1} / {:.1} ms", m.0, m.1, m.2),
            format!("{:.1} / {:.1} ms", l.0, l.2),
            format!("{:.2} / {:.2} ms", post.0, post.2),
            format!("{:.0}", f.bytes_per_note),
        ]);
    }
    println!("\n{table}");
    for (name, f) in &results {
        if let (Some(idle), Some(conn)) = (f.rss_idle, f.rss_connected) {
            let (after, hwm) = f.rss_after.unwrap_or_default();
            println!(
                "{name}: RSS idle {:.1} MiB, with every client connected {:.1} MiB ({:.1} KiB per connection), \
                 after the notes {:.1} MiB, peak {:.1} MiB; {} open fds",
                mib(idle),
                mib(conn),
                (conn as f64 - idle as f64) / f.clients as f64,
                mib(after),
                mib(hwm),
                f.fds.unwrap_or(0)
            );
        }
        if let (Some(busy), Some(idle)) = (f.cpu_per_note, f.cpu_per_note_idle) {
            let post_idle = pcts(&f.post_idle);
            println!(
                "{name}: server CPU per note {busy:.1} ms with every client connected ({:.1} µs per connection), \
                 {idle:.1} ms with none (POST p50 {:.2} ms with none)",
                (busy - idle) * 1e3 / f.clients as f64,
                post_idle.0
            );
        }
    }
    for (name, f) in &results {
        if name.starts_with("Firebreak") {
            let p99 = pcts(&f.from_201).1;
            println!(
                "target: {} clients all receive a note within p99 500 ms (from the 201): {} (p99 {p99:.1} ms{})",
                thousands(f.clients),
                if p99 < 500.0 && f.missing == 0 {
                    "met"
                } else {
                    "NOT met"
                },
                if f.missing > 0 {
                    format!(", {} deliveries missing", f.missing)
                } else {
                    String::new()
                }
            );
        }
    }
    for pair in results.chunks(2) {
        if let [(a, fa), (b, fb)] = pair {
            // From before the POST: the peer often delivers before its 201 is read, so its
            // figures from the 201 are near zero or negative.
            println!(
                "{a} / {b}: p50 {:.1}x, p99 {:.1}x (from before the POST)",
                pcts(&fa.from_send).0 / pcts(&fb.from_send).0,
                pcts(&fa.from_send).1 / pcts(&fb.from_send).1,
            );
        }
    }
    crate::print_conditions(probe_before, probe_after, &load_before, &load_after);
    Ok(())
}

/// p50, p99 and max of `v` (ms).
fn pcts(v: &[f64]) -> (f64, f64, f64) {
    if v.is_empty() {
        return (f64::NAN, f64::NAN, f64::NAN);
    }
    let mut s = v.to_vec();
    s.sort_by(|a, b| a.total_cmp(b));
    let at = |p: f64| s[((s.len() as f64 * p).ceil() as usize).clamp(1, s.len()) - 1];
    (at(0.5), at(0.99), s[s.len() - 1])
}

fn since(later: Instant, earlier: Instant) -> f64 {
    if later >= earlier {
        (later - earlier).as_secs_f64() * 1e3
    } else {
        -((earlier - later).as_secs_f64() * 1e3)
    }
}

async fn post_note(
    http: &reqwest::Client,
    target: &Target,
    body: &str,
) -> anyhow::Result<(Instant, Instant)> {
    let mut req = http.post(&target.note_url).json(&json!({ "body": body }));
    if let Some(t) = &target.token {
        req = req.bearer_auth(t);
    }
    let sent = Instant::now();
    let r = req.send().await?;
    let answered = Instant::now();
    if r.status() != 201 {
        bail!("posting a note: {}: {}", r.status(), r.text().await?);
    }
    let _ = r.bytes().await?;
    Ok((sent, answered))
}

async fn fan_out(target: &Target, clients: usize, args: &SseArgs) -> anyhow::Result<Fanout> {
    let http = reqwest::Client::new();
    let run = format!("{}{}", target.name, std::process::id());
    // Notes with no client, for the POST's latency and the server's CPU per note alone.
    let mut post_idle = Vec::new();
    let ticks_before = target.pid.map(cpu_ms);
    for k in 0..args.notes {
        let (s, a) = post_note(&http, target, &format!("warm-up note {k} of {run}")).await?;
        post_idle.push(since(a, s));
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let cpu_per_note_idle = match (target.pid, ticks_before) {
        (Some(pid), Some(Some(before))) => {
            cpu_ms(pid).map(|after| (after - before) / args.notes as f64)
        }
        _ => None,
    };
    tokio::time::sleep(Duration::from_millis(500)).await;
    let rss_idle = target.pid.and_then(|p| rss_kib(p).ok()).map(|r| r.0);

    let markers: Arc<Vec<String>> = Arc::new(
        (0..args.notes)
            .map(|k| format!("fanout-{run}-note-{k:04}-end"))
            .collect(),
    );
    let got: Arc<Vec<AtomicUsize>> =
        Arc::new((0..args.notes).map(|_| AtomicUsize::new(0)).collect());
    let connected = Arc::new((AtomicUsize::new(0), Notify::new()));
    let gate = Arc::new(Semaphore::new(args.connect_parallel));
    let stream_http = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()?;
    let stop = CancellationToken::new();
    let started = Instant::now();
    let mut tasks = Vec::with_capacity(clients);
    for i in 0..clients {
        let c = Client {
            http: stream_http.clone(),
            url: target.events_url.clone(),
            token: match target.stream_tokens.len() {
                0 => target.token.clone(),
                n => Some(target.stream_tokens[i % n].clone()),
            },
            markers: markers.clone(),
            got: got.clone(),
            connected: connected.clone(),
            gate: gate.clone(),
        };
        tasks.push(tokio::spawn(c.run(stop.clone())));
    }
    let deadline = Instant::now() + Duration::from_secs(120);
    while connected.0.load(Ordering::SeqCst) < clients {
        if Instant::now() > deadline {
            stop.cancel();
            bail!(
                "only {} of {clients} clients connected within 120 s",
                connected.0.load(Ordering::SeqCst)
            );
        }
        if tasks.iter().any(|t| t.is_finished()) {
            stop.cancel();
            let mut first = String::new();
            for t in tasks {
                if t.is_finished()
                    && let Ok(Err(e)) = t.await
                {
                    first = format!("{e:#}");
                    break;
                }
            }
            bail!("a client stopped while connecting: {first}");
        }
        let _ = tokio::time::timeout(Duration::from_millis(100), connected.1.notified()).await;
    }
    let connect = started.elapsed();
    eprintln!(
        "{}: {clients} clients connected in {:.2} s",
        target.name,
        connect.as_secs_f64()
    );
    tokio::time::sleep(Duration::from_secs(2)).await;
    let rss_connected = target.pid.and_then(|p| rss_kib(p).ok()).map(|r| r.0);
    let fds = target
        .pid
        .and_then(|p| std::fs::read_dir(format!("/proc/{p}/fd")).ok())
        .map(|d| d.count());

    let mut sends = Vec::new();
    let mut cpu = 0.0;
    for (k, marker) in markers.iter().enumerate() {
        let before = target.pid.and_then(cpu_ms);
        let (sent, answered) = post_note(&http, target, &format!("Update {k}: {marker}")).await?;
        let wait_until = Instant::now() + Duration::from_secs(10);
        while got[k].load(Ordering::SeqCst) < clients && Instant::now() < wait_until {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        if let (Some(pid), Some(b)) = (target.pid, before) {
            // The work a note causes ends when the last client has it.
            cpu += cpu_ms(pid).unwrap_or(b) - b;
        }
        sends.push((sent, answered));
        let next = sent + Duration::from_millis(args.interval_ms);
        if let Some(rest) = next.checked_duration_since(Instant::now()) {
            tokio::time::sleep(rest).await;
        }
    }
    let rss_after = target.pid.and_then(|p| rss_kib(p).ok());
    stop.cancel();
    let mut from_201 = Vec::new();
    let mut from_send = Vec::new();
    let mut last = vec![f64::MIN; args.notes];
    let mut missing = 0;
    let mut bytes = 0usize;
    for t in tasks {
        match t.await? {
            Ok((seen, b)) => {
                bytes += b;
                for (k, at) in seen.iter().enumerate() {
                    match at {
                        Some(at) => {
                            let (sent, answered) = sends[k];
                            let d = since(*at, answered);
                            from_201.push(d);
                            from_send.push(since(*at, sent));
                            last[k] = last[k].max(d);
                        }
                        None => missing += 1,
                    }
                }
            }
            Err(_) => missing += args.notes,
        }
    }
    Ok(Fanout {
        clients,
        connect,
        from_201,
        from_send,
        post: sends.iter().map(|(s, a)| since(*a, *s)).collect(),
        last,
        missing,
        bytes_per_note: bytes as f64 / (clients * args.notes) as f64,
        cpu_per_note: target.pid.map(|_| cpu / args.notes as f64),
        cpu_per_note_idle,
        post_idle,
        rss_idle,
        rss_connected,
        rss_after,
        fds,
    })
}

/// One SSE client.
struct Client {
    http: reqwest::Client,
    url: String,
    token: Option<String>,
    markers: Arc<Vec<String>>,
    got: Arc<Vec<AtomicUsize>>,
    connected: Arc<(AtomicUsize, Notify)>,
    gate: Arc<Semaphore>,
}

impl Client {
    /// Connects, counts itself connected once it has the response headers, then reads
    /// events until it has seen every note or is stopped. Returns when it read each note's `timeline` event
    /// and how many bytes it read after connecting.
    async fn run(self, stop: CancellationToken) -> anyhow::Result<(Vec<Option<Instant>>, usize)> {
        let permit = self.gate.acquire().await?;
        let mut req = self
            .http
            .get(&self.url)
            .header("accept", "text/event-stream");
        if let Some(t) = &self.token {
            req = req.bearer_auth(t);
        }
        let mut r = tokio::select! {
            r = req.send() => r?,
            _ = stop.cancelled() => bail!("stopped while connecting"),
        };
        if r.status() != 200 {
            bail!("{}: {}", self.url, r.status());
        }
        drop(permit);
        self.connected.0.fetch_add(1, Ordering::SeqCst);
        self.connected.1.notify_one();
        let mut seen: Vec<Option<Instant>> = vec![None; self.markers.len()];
        let mut remaining = self.markers.len();
        let mut buf = String::new();
        let mut bytes = 0;
        while remaining > 0 {
            let chunk = tokio::select! {
                c = r.chunk() => c?,
                // Stopped: what was seen so far counts, the rest is missing.
                _ = stop.cancelled() => break,
            };
            let Some(chunk) = chunk else {
                bail!("the stream ended");
            };
            let now = Instant::now();
            bytes += chunk.len();
            buf.push_str(&String::from_utf8_lossy(&chunk));
            while let Some(end) = buf.find("\n\n") {
                let block: String = buf.drain(..end + 2).collect();
                let timeline = block
                    .lines()
                    .any(|l| l.strip_prefix("event:").map(str::trim) == Some("timeline"));
                if !timeline {
                    continue;
                }
                for (k, m) in self.markers.iter().enumerate() {
                    if seen[k].is_none() && block.contains(m.as_str()) {
                        seen[k] = Some(now);
                        remaining -= 1;
                        self.got[k].fetch_add(1, Ordering::SeqCst);
                    }
                }
            }
        }
        Ok((seen, bytes))
    }
}

/// A Firebreak server process and what it printed at start.
pub(crate) struct Served {
    pub(crate) guard: Guard,
    pub(crate) base: String,
    pub(crate) token: String,
    setup_link: String,
}

/// Starts `firebreak serve` on a fresh data dir and a free loopback port (`127.0.0.1:0`), and
/// reads its address, first admin token and setup link from its stderr. `env` is set for it.
pub(crate) async fn start_server(
    bin: &Path,
    dir: &Path,
    env: &[(&str, &str)],
) -> anyhow::Result<Served> {
    let log = dir.join("firebreak.log");
    let mut child = Command::new(bin)
        .arg("serve")
        .arg("--data-dir")
        .arg(dir.join("data"))
        .arg("--listen")
        .arg("127.0.0.1:0")
        .env("FIREBREAK_LOG", "warn")
        .env_remove("FIREBREAK_DATABASE_URL")
        .env_remove("FIREBREAK_CONFIG")
        .env_remove("FIREBREAK_DATA_DIR")
        .env_remove("FIREBREAK_PUBLIC_URL")
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| {
            format!(
                "could not start {}; build it first: cargo build --release -p firebreak",
                bin.display()
            )
        })?;
    let stderr = child.stderr.take().context("the server's stderr")?;
    let mut guard = Guard::new(child, "firebreak");
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    let log_path = log.clone();
    std::thread::spawn(move || {
        use std::io::{BufRead, Write};
        let mut file = std::fs::File::create(&log_path).ok();
        for line in std::io::BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            if let Some(f) = file.as_mut() {
                let _ = writeln!(f, "{line}");
            }
            let _ = tx.send(line);
        }
    });
    let (mut base, mut token, mut link) = (None, None, None);
    let deadline = Instant::now() + Duration::from_secs(30);
    while base.is_none() || token.is_none() || link.is_none() {
        if Instant::now() > deadline || guard.exited() {
            bail!(
                "the server printed no address, token and setup link:\n{}",
                crate::ingest::log_tail(&log)
            );
        }
        match rx.recv_timeout(Duration::from_millis(100)) {
            Ok(line) => {
                let words: Vec<&str> = line.split_whitespace().collect();
                for w in words.windows(2) {
                    match w[0] {
                        "--server" => base = Some(w[1].to_string()),
                        "--token" => token = Some(w[1].to_string()),
                        _ => {}
                    }
                }
                if let Some(w) = words.iter().find(|w| w.contains("/invite/")) {
                    link = Some(w.to_string());
                }
            }
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
            Err(_) => bail!(
                "the server closed its stderr:\n{}",
                crate::ingest::log_tail(&log)
            ),
        }
    }
    let base = base.unwrap_or_default();
    crate::ingest::wait_ready(&mut guard, &format!("{base}/readyz"), &log).await?;
    Ok(Served {
        guard,
        base,
        token: token.unwrap_or_default(),
        setup_link: link.unwrap_or_default(),
    })
}

/// A process's CPU time so far (user + system), ms.
pub(crate) fn cpu_ms(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &stat[stat.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    // Fields 14 and 15 of stat; `rest` starts at field 3.
    let ticks: f64 = f.get(11)?.parse::<f64>().ok()? + f.get(12)?.parse::<f64>().ok()?;
    Some(ticks * 1000.0 / clock_ticks())
}

fn clock_ticks() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
        .unwrap_or(100.0)
}

/// The soft open-file limit of a process (`self` or a PID).
fn open_file_limit(pid: &str) -> Option<u64> {
    std::fs::read_to_string(format!("/proc/{pid}/limits"))
        .ok()?
        .lines()
        .find(|l| l.starts_with("Max open files"))?
        .split_whitespace()
        .nth(3)?
        .parse()
        .ok()
}

/// The peer: a minimal SSE fan-out on raw tokio. `GET /events` subscribes a connection to a
/// broadcast channel and writes every event to it; `POST /note` with `{"body": ...}` sends a
/// `timeline` event shaped like Firebreak's, then answers 201. No store, no framework.
async fn floor_server(cancel: CancellationToken) -> anyhow::Result<String> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let (tx, _) = broadcast::channel::<Arc<String>>(1024);
    let seq = Arc::new(AtomicI64::new(0));
    tokio::spawn(async move {
        loop {
            let accepted = tokio::select! {
                a = listener.accept() => a,
                _ = cancel.cancelled() => return,
            };
            let Ok((sock, _)) = accepted else { continue };
            let (tx, seq, cancel) = (tx.clone(), seq.clone(), cancel.clone());
            tokio::spawn(async move {
                tokio::select! {
                    _ = floor_connection(sock, tx, seq) => {}
                    _ = cancel.cancelled() => {}
                }
            });
        }
    });
    Ok(format!("http://{addr}"))
}

async fn floor_connection(
    sock: tokio::net::TcpStream,
    tx: broadcast::Sender<Arc<String>>,
    seq: Arc<AtomicI64>,
) -> std::io::Result<()> {
    let _ = sock.set_nodelay(true);
    let (rd, mut wr) = sock.into_split();
    let mut rd = tokio::io::BufReader::new(rd);
    loop {
        let mut line = String::new();
        if rd.read_line(&mut line).await? == 0 {
            return Ok(());
        }
        let mut parts = line.split_whitespace();
        let method = parts.next().unwrap_or("").to_string();
        let path = parts.next().unwrap_or("").to_string();
        let mut len = 0usize;
        loop {
            let mut h = String::new();
            if rd.read_line(&mut h).await? == 0 {
                return Ok(());
            }
            if h == "\r\n" || h == "\n" {
                break;
            }
            if let Some(v) = h.to_ascii_lowercase().strip_prefix("content-length:") {
                len = v.trim().parse().unwrap_or(0);
            }
        }
        let mut body = vec![0u8; len];
        rd.read_exact(&mut body).await?;
        if method == "GET" && path.starts_with("/events") {
            let mut rx = tx.subscribe();
            wr.write_all(
                b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncache-control: no-cache\r\nconnection: close\r\n\r\n",
            )
            .await?;
            loop {
                match rx.recv().await {
                    Ok(event) => wr.write_all(event.as_bytes()).await?,
                    Err(broadcast::error::RecvError::Lagged(_)) => continue,
                    Err(broadcast::error::RecvError::Closed) => return Ok(()),
                }
            }
        } else if method == "POST" && path == "/note" {
            let v: Value = serde_json::from_slice(&body).unwrap_or_default();
            let s = seq.fetch_add(1, Ordering::SeqCst) + 1;
            let data = json!({
                "seq": s,
                "at": jiff::Timestamp::now().to_string(),
                "actor": "admin",
                "kind": "note",
                "data": {"body": v["body"]},
            });
            let _ = tx.send(Arc::new(format!(
                "id: {s}\nevent: timeline\ndata: {data}\n\n"
            )));
            wr.write_all(b"HTTP/1.1 201 Created\r\ncontent-length: 0\r\n\r\n")
                .await?;
        } else {
            wr.write_all(b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n")
                .await?;
        }
    }
}
