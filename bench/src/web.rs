//! What the web UI benchmarks (`room`, `sse`, `weight`) share: a user with a password signed
//! in through `POST /login`, an incident whose timeline is filled with notes through the API,
//! a closed-loop HTTP load with latency percentiles, nginx as a subprocess for the static peer,
//! and gzip sizes.

use std::future::Future;
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde_json::{Value, json};

use crate::ingest::Guard;

/// The user the pages are rendered for (a responder, so the room shows its forms).
pub(crate) const USER: &str = "bench";
const PASSWORD: &str = "bench-password-for-the-room";

/// How notes begin: what responders write.
const OPENINGS: [&str; 8] = [
    "Error rate on checkout is {n}% above baseline since the deploy;",
    "Rolled back checkout to v2.31.{n};",
    "Support reports {n} tickets about failed card payments;",
    "DB primary CPU at {n}%, replication lag under 1 s;",
    "Paged the payments on-call;",
    "Feature flag new-pricing-engine off for {n}% of traffic;",
    "Grafana checkout-overview shows the step clearly, error budget burn {n}x;",
    "Status page updated, next update in {n} minutes;",
];

/// Words the rest of a note is drawn from, so that the notes are not a few sentences
/// repeated (which gzip would shrink far more than real notes).
const WORDS: &str = "\
    the a we it and but not still now after before since looks seems checked restarted scaled \
    drained paused watching waiting rolled back forward deploy release canary pods nodes \
    cluster region eu-west-1 us-east-2 database replica primary queue consumer backlog latency \
    p99 errors timeouts retries 5xx 429s cache hit ratio dropped recovered spiking flat normal \
    again customers merchants cards payments refunds orders search login tokens certificate \
    expired DNS load balancer config flag traffic shifted to from for minutes hour ticket \
    vendor status call bridge owner team alice bob carol dave next step rollback mitigated \
    cause unknown confirmed";

/// The `n`th note's text: an opening and 6 to 20 words drawn from [`WORDS`], 60 to 200
/// characters.
pub(crate) fn note_text(n: usize) -> String {
    let mut x = (n as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut next = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let mut text = OPENINGS[n % OPENINGS.len()].replace("{n}", &(n % 97).to_string());
    let vocabulary: Vec<&str> = WORDS.split_whitespace().collect();
    let words = 6 + (next() % 15) as usize;
    for _ in 0..words {
        text.push(' ');
        text.push_str(vocabulary[(next() % vocabulary.len() as u64) as usize]);
    }
    text.push('.');
    text
}

/// Creates the benchmark user with a password (with the admin token) and signs in through
/// the sign-in form. Returns the `Cookie` header value with the session.
pub(crate) async fn sign_in(base: &str, admin: &str) -> anyhow::Result<String> {
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()?;
    let r = http
        .post(format!("{base}/api/v1/users"))
        .bearer_auth(admin)
        .json(&json!({"handle": USER, "name": "Bench Responder", "role": "responder"}))
        .send()
        .await?;
    if r.status() != 201 {
        bail!("creating the user: {}: {}", r.status(), r.text().await?);
    }
    let r = http
        .put(format!("{base}/api/v1/users/{USER}/password"))
        .bearer_auth(admin)
        .json(&json!({ "password": PASSWORD }))
        .send()
        .await?;
    if !r.status().is_success() {
        bail!("setting the password: {}: {}", r.status(), r.text().await?);
    }
    let form = format!("login={USER}&password={PASSWORD}&next=%2F");
    let r = http
        .post(format!("{base}/login"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form)
        .send()
        .await?;
    let cookie = r
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("firebreak_session="))
        .and_then(|v| v.split(';').next())
        .map(str::to_string);
    match cookie {
        Some(c) if r.status().is_redirection() => Ok(c),
        _ => bail!("signing in: {} without a session cookie", r.status()),
    }
}

/// Declares an incident through the API; returns its number.
pub(crate) async fn declare(
    http: &reqwest::Client,
    base: &str,
    token: &str,
    title: &str,
) -> anyhow::Result<i64> {
    let r = http
        .post(format!("{base}/api/v1/incidents"))
        .bearer_auth(token)
        .json(&json!({"title": title, "severity": "SEV2"}))
        .send()
        .await?;
    if r.status() != 201 {
        bail!("declaring: {}: {}", r.status(), r.text().await?);
    }
    let body: Value = r.json().await?;
    body["number"]
        .as_i64()
        .context("the declared incident has no number")
}

/// How many entries the incident's timeline has and the last one's seq, read through the
/// API in pages of 500 (the API's largest page).
pub(crate) async fn timeline_len(
    http: &reqwest::Client,
    base: &str,
    token: &str,
    number: i64,
) -> anyhow::Result<(usize, i64)> {
    let mut cursor = String::new();
    let (mut count, mut last) = (0, 0);
    loop {
        let r = http
            .get(format!(
                "{base}/api/v1/incidents/{number}/timeline?limit=500&cursor={cursor}"
            ))
            .bearer_auth(token)
            .send()
            .await?;
        if r.status() != 200 {
            bail!("reading the timeline: {}: {}", r.status(), r.text().await?);
        }
        let page: Value = r.json().await?;
        let items = page["items"].as_array().cloned().unwrap_or_default();
        count += items.len();
        if let Some(seq) = items.last().and_then(|e| e["seq"].as_i64()) {
            last = seq;
        }
        match page["next_cursor"].as_str() {
            Some(c) => cursor = c.to_string(),
            None => return Ok((count, last)),
        }
    }
}

/// Adds notes through the API (8 at a time) until the incident's timeline has `entries`
/// entries. Returns the last entry's seq.
pub(crate) async fn fill(
    http: &reqwest::Client,
    base: &str,
    token: &str,
    number: i64,
    entries: usize,
) -> anyhow::Result<i64> {
    let (have, _) = timeline_len(http, base, token, number).await?;
    let need = entries.saturating_sub(have);
    let next = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let (http, base, token, next) = (
            http.clone(),
            base.to_string(),
            token.to_string(),
            next.clone(),
        );
        tasks.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= need {
                    return Ok::<_, anyhow::Error>(());
                }
                let r = http
                    .post(format!("{base}/api/v1/incidents/{number}/notes"))
                    .bearer_auth(&token)
                    .json(&json!({ "body": note_text(i) }))
                    .send()
                    .await?;
                if r.status() != 201 {
                    bail!("adding a note: {}: {}", r.status(), r.text().await?);
                }
            }
        }));
    }
    for t in tasks {
        t.await??;
    }
    let (count, last) = timeline_len(http, base, token, number).await?;
    anyhow::ensure!(
        count == entries.max(have),
        "the timeline has {count} entries, not {entries}"
    );
    Ok(last)
}

/// What a [`Job`] returns: the body bytes read.
pub(crate) type JobFuture = Pin<Box<dyn Future<Output = anyhow::Result<usize>> + Send>>;

/// One request (or a short chain of requests) of a load.
pub(crate) type Job = Arc<dyn Fn(reqwest::Client) -> JobFuture + Send + Sync>;

/// A GET of `url` with `headers`, reading the whole body; an answer other than 200 fails.
pub(crate) fn get_job(url: String, headers: Vec<(&'static str, String)>) -> Job {
    let url = Arc::new(url);
    let headers = Arc::new(headers);
    Arc::new(move |http: reqwest::Client| -> JobFuture {
        let (url, headers) = (url.clone(), headers.clone());
        Box::pin(async move {
            let mut req = http.get(url.as_str());
            for (k, v) in headers.iter() {
                req = req.header(*k, v);
            }
            let r = req.send().await?;
            if r.status() != 200 {
                bail!("{url}: {}", r.status());
            }
            Ok(r.bytes().await?.len())
        })
    })
}

/// What a closed-loop load measured.
pub(crate) struct Measured {
    /// Sorted.
    pub(crate) latencies: Vec<Duration>,
    pub(crate) per_s: f64,
    pub(crate) bytes: usize,
    pub(crate) errors: u64,
    pub(crate) first_error: Option<String>,
}

impl Measured {
    pub(crate) fn pct(&self, p: f64) -> Duration {
        pct(&self.latencies, p)
    }

    pub(crate) fn max(&self) -> Duration {
        self.latencies.last().copied().unwrap_or_default()
    }

    /// `p50 / p99 / max` in ms.
    pub(crate) fn line(&self) -> String {
        format!(
            "{:.2} / {:.2} / {:.2} ms",
            ms(self.pct(0.50)),
            ms(self.pct(0.99)),
            ms(self.max())
        )
    }
}

/// The `p` quantile of sorted `v` (nearest rank).
pub(crate) fn pct(v: &[Duration], p: f64) -> Duration {
    if v.is_empty() {
        return Duration::ZERO;
    }
    let i = ((v.len() as f64 * p).ceil() as usize).clamp(1, v.len()) - 1;
    v[i]
}

pub(crate) fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// `clients` loops, each sending `job` again as soon as it is answered, for `warmup` (not
/// counted) and then `seconds`. Each client has its own connection.
pub(crate) async fn closed_loop(
    job: &Job,
    clients: usize,
    warmup: Duration,
    seconds: Duration,
) -> anyhow::Result<Measured> {
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(clients)
        .build()?;
    let start = Instant::now() + warmup;
    let end = start + seconds;
    let mut tasks = Vec::new();
    for _ in 0..clients {
        let (job, http) = (job.clone(), http.clone());
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let (mut errors, mut bytes, mut first_error) = (0u64, 0usize, None);
            loop {
                let t = Instant::now();
                if t >= end {
                    break;
                }
                let r = job(http.clone()).await;
                let done = Instant::now();
                match r {
                    Ok(n) => {
                        bytes = n;
                        if t >= start && done <= end {
                            latencies.push(done - t);
                        }
                    }
                    Err(e) => {
                        errors += 1;
                        first_error.get_or_insert_with(|| format!("{e:#}"));
                    }
                }
            }
            (latencies, errors, bytes, first_error)
        }));
    }
    let mut all = Vec::new();
    let (mut errors, mut bytes, mut first_error) = (0, 0, None);
    for t in tasks {
        let (l, e, b, f) = t.await?;
        all.extend(l);
        errors += e;
        bytes = bytes.max(b);
        if first_error.is_none() {
            first_error = f;
        }
    }
    all.sort();
    Ok(Measured {
        per_s: all.len() as f64 / seconds.as_secs_f64(),
        latencies: all,
        bytes,
        errors,
        first_error,
    })
}

/// nginx as a subprocess serving `root/www` on a free loopback port, stopped by PID when the
/// guard drops. `http_extra` goes into its `http` block. Returns the guard and the base URL.
pub(crate) async fn start_nginx(root: &Path, http_extra: &str) -> anyhow::Result<(Guard, String)> {
    let port = crate::ingest::free_port()?;
    let child = crate::status::nginx_with(root, port, http_extra)?;
    let mut guard = Guard::new(child, "nginx");
    let base = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::new();
    for _ in 0..100 {
        if guard.exited() {
            bail!(
                "nginx exited while starting:\n{}",
                crate::ingest::log_tail(&root.join("error.log"))
            );
        }
        // Any answer means it listens (the root may have no index).
        if http.get(format!("{base}/")).send().await.is_ok() {
            eprintln!("started nginx (pid {}) on {base}", guard.pid());
            return Ok((guard, base));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    bail!("nginx did not answer on {base}")
}

/// The size of `bytes` compressed by `gzip -<level>` (the command, as a server that
/// compresses would send them).
pub(crate) fn gzip_size(bytes: &[u8], level: u32) -> anyhow::Result<usize> {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let mut child = Command::new("gzip")
        .args([format!("-{level}"), "-c".into(), "-n".into()])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .context("could not run gzip")?;
    let mut stdin = child.stdin.take().context("gzip's stdin")?;
    let input = bytes.to_vec();
    let writer = std::thread::spawn(move || stdin.write_all(&input));
    let out = child.wait_with_output()?;
    writer
        .join()
        .map_err(|_| anyhow::anyhow!("writing to gzip"))??;
    anyhow::ensure!(out.status.success(), "gzip failed");
    Ok(out.stdout.len())
}

/// A SQLite Firebreak in-process on a loopback port (durable, as in the other benchmarks),
/// with the benchmark user signed in. The temp dir must outlive the server.
pub(crate) struct Site {
    pub(crate) running: firebreak::Running,
    pub(crate) base: String,
    /// The first admin's API token.
    pub(crate) admin: String,
    /// `firebreak_session=...`, for the `Cookie` header.
    pub(crate) cookie: String,
}

pub(crate) async fn start_site(dir: &Path) -> anyhow::Result<Site> {
    let store = firebreak_store_sqlite::SqliteStore::open(&dir.join("bench.db")).await?;
    let running = firebreak::start(
        "127.0.0.1:0",
        Arc::new(store),
        firebreak_domain::Config::default(),
        firebreak::system_clock(),
    )
    .await?;
    let admin = running
        .initial_admin_token
        .clone()
        .context("a fresh store made no admin token")?;
    let base = format!("http://{}", running.addr);
    let cookie = sign_in(&base, &admin).await?;
    Ok(Site {
        running,
        base,
        admin,
        cookie,
    })
}

/// Thousands separators: 12345 -> 12,345.
pub(crate) fn thousands(n: usize) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}
