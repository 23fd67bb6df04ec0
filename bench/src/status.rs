//! The public status page's JSON under load: `wrk` against Firebreak's
//! `/status/api/v2/summary.json` and against stock nginx serving the same bytes as a static
//! file, in one run, with the same client settings.
//!
//! The page is realistic: 20 components (five groups of three, five alone) over 20 services,
//! three open public incidents with ten public updates each, and 90 days of history (a
//! resolved public incident every few days), built on a manual clock that walks through those
//! 90 days. Then the clock stands at "now" and wrk runs. wrk and nginx come from Debian's
//! packages (`apt-get install wrk nginx-light`).
//!
//! Run: `cargo run --release -p firebreak-bench -- status --seconds 10`

use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use firebreak_domain::config::ComponentSpec;
use firebreak_domain::status_page::{Audience, PublicStatus};
use firebreak_domain::{Config, Name, NewIncident, Service};
use firebreak_engine::status_page::UpdateInput;
use firebreak_engine::{Clock, ManualClock, Principal};
use jiff::{SignedDuration, Timestamp};

#[derive(clap::Args)]
pub struct StatusArgs {
    /// How long wrk loads each server.
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// wrk's connections.
    #[arg(long, default_value_t = 32)]
    connections: usize,
    /// wrk's threads.
    #[arg(long, default_value_t = 2)]
    threads: usize,
}

/// What wrk reported.
struct Load {
    requests_per_s: f64,
    p50_ms: f64,
    p99_ms: f64,
    non_2xx: u64,
    errors: String,
}

fn config() -> Config {
    let mut config = Config::default();
    let mut components = Vec::new();
    for n in 0..20 {
        let service = format!("svc-{n:02}");
        config.services.push(Service {
            name: Name::parse(&service).unwrap(),
            description: String::new(),
            team: None,
            runbook: None,
            integrations: vec![],
            grouping: Default::default(),
            escalation_policy: None,
            manager: None,
        });
        components.push(ComponentSpec {
            name: format!("Component {n:02}"),
            description: Some(format!("What component {n:02} does for customers")),
            group: (n < 15).then(|| format!("Group {}", n / 3)),
            services: vec![Name::parse(&service).unwrap()],
        });
    }
    config.status_page.title = "Benchmark Status".into();
    config.status_page.url = Some("https://status.example.com".into());
    config.status_page.components = components;
    config
}

async fn declare(
    app: &firebreak_engine::Firebreak,
    who: &Principal,
    title: String,
    severity: &str,
    service: &str,
) -> anyhow::Result<firebreak_domain::IncidentNumber> {
    let incident = app
        .declare_paging(
            who,
            NewIncident {
                title,
                severity: severity.into(),
                services: vec![Name::parse(service).unwrap()],
                ..Default::default()
            },
            Some(false),
        )
        .await
        .map_err(anyhow::Error::new)?;
    Ok(incident.number)
}

async fn update(
    app: &firebreak_engine::Firebreak,
    who: &Principal,
    number: firebreak_domain::IncidentNumber,
    status: PublicStatus,
    body: String,
) -> anyhow::Result<()> {
    app.post_status_update(
        who,
        number,
        UpdateInput {
            audience: Audience::Public,
            status: Some(status),
            body: Some(body),
            template: None,
            components: Default::default(),
            notify: None,
        },
    )
    .await
    .map_err(anyhow::Error::new)?;
    Ok(())
}

/// Builds the page: 90 days of resolved incidents, then three open ones.
async fn populate(app: &firebreak_engine::Firebreak, clock: &ManualClock) -> anyhow::Result<()> {
    let who = Principal::local("bench");
    for day in 0..30 {
        let service = format!("svc-{:02}", (day * 7) % 20);
        let n = declare(app, &who, format!("Past incident {day}"), "SEV2", &service).await?;
        update(
            app,
            &who,
            n,
            PublicStatus::Investigating,
            "We are looking into errors.".into(),
        )
        .await?;
        clock.advance(SignedDuration::from_mins(40));
        update(
            app,
            &who,
            n,
            PublicStatus::Resolved,
            "Everything works again.".into(),
        )
        .await?;
        app.patch(
            &who,
            n,
            firebreak_engine::incidents::IncidentPatch {
                status: Some(firebreak_domain::Status::Resolved),
                public_update: firebreak_engine::incidents::OnResolve::Skip,
                ..Default::default()
            },
        )
        .await
        .map_err(anyhow::Error::new)?;
        clock.advance(SignedDuration::from_hours(3 * 24) - SignedDuration::from_mins(40));
    }
    for (k, severity) in ["SEV1", "SEV2", "SEV3"].into_iter().enumerate() {
        let service = format!("svc-{:02}", k * 4);
        let n = declare(app, &who, format!("Open incident {k}"), severity, &service).await?;
        for u in 0..10 {
            let status = match u {
                0..=3 => PublicStatus::Investigating,
                4..=7 => PublicStatus::Identified,
                _ => PublicStatus::Monitoring,
            };
            update(
                app,
                &who,
                n,
                status,
                format!(
                    "Update {u}: what we know now about open incident {k}, what customers see, \
                     and when we will post next. Requests to the affected component may fail \
                     or take several seconds; retrying is safe."
                ),
            )
            .await?;
            clock.advance(SignedDuration::from_mins(7));
        }
    }
    Ok(())
}

fn nginx(root: &std::path::Path, port: u16) -> anyhow::Result<Child> {
    nginx_with(root, port, "")
}

/// nginx on `127.0.0.1:port` serving `root/www`, with `http_extra` (directives such as
/// `gzip on;`) added to its `http` block. Its config, pid file and error log live in `root`.
pub(crate) fn nginx_with(
    root: &std::path::Path,
    port: u16,
    http_extra: &str,
) -> anyhow::Result<Child> {
    let conf = root.join("nginx.conf");
    std::fs::write(
        &conf,
        format!(
            "daemon off;\nworker_processes auto;\npid {pid};\nerror_log {err} warn;\n\
             events {{ worker_connections 1024; }}\n\
             http {{\n  access_log off;\n  include /etc/nginx/mime.types;\n  sendfile on;\n  keepalive_requests 100000;\n  {http_extra}\n\
               server {{\n    listen 127.0.0.1:{port};\n    root {root};\n  }}\n}}\n",
            pid = root.join("nginx.pid").display(),
            err = root.join("error.log").display(),
            root = root.join("www").display(),
        ),
    )?;
    let child = Command::new("nginx")
        .args(["-c", conf.to_str().unwrap(), "-p", root.to_str().unwrap()])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| anyhow::anyhow!("could not start nginx (apt-get install nginx-light): {e}"))?;
    Ok(child)
}

fn wrk(url: &str, args: &StatusArgs) -> anyhow::Result<Load> {
    let out = Command::new("wrk")
        .args([
            "-t",
            &args.threads.to_string(),
            "-c",
            &args.connections.to_string(),
            "-d",
            &format!("{}s", args.seconds),
            "--latency",
            url,
        ])
        .output()
        .map_err(|e| anyhow::anyhow!("could not run wrk (apt-get install wrk): {e}"))?;
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let number_after = |label: &str| -> Option<String> {
        text.lines()
            .find(|l| l.trim_start().starts_with(label))
            .and_then(|l| l.split_whitespace().nth(1).map(String::from))
    };
    let ms = |s: &str| -> f64 {
        let s = s.trim();
        if let Some(v) = s.strip_suffix("us") {
            v.parse::<f64>().unwrap_or(f64::NAN) / 1000.0
        } else if let Some(v) = s.strip_suffix("ms") {
            v.parse::<f64>().unwrap_or(f64::NAN)
        } else if let Some(v) = s.strip_suffix('s') {
            v.parse::<f64>().unwrap_or(f64::NAN) * 1000.0
        } else {
            f64::NAN
        }
    };
    let rps = number_after("Requests/sec:")
        .and_then(|v| v.parse::<f64>().ok())
        .ok_or_else(|| anyhow::anyhow!("wrk printed no rate:\n{text}"))?;
    let non_2xx = text
        .lines()
        .find(|l| l.contains("Non-2xx or 3xx responses:"))
        .and_then(|l| l.rsplit(':').next())
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    let errors = text
        .lines()
        .find(|l| l.contains("Socket errors:"))
        .unwrap_or("")
        .trim()
        .to_string();
    Ok(Load {
        requests_per_s: rps,
        p50_ms: number_after("50%").map(|v| ms(&v)).unwrap_or(f64::NAN),
        p99_ms: number_after("99%").map(|v| ms(&v)).unwrap_or(f64::NAN),
        non_2xx,
        errors,
    })
}

pub async fn main(args: StatusArgs) -> anyhow::Result<()> {
    let dir = tempfile::tempdir_in(".")?;
    let store = firebreak_store_sqlite::SqliteStore::open(&dir.path().join("bench.db")).await?;
    let start = Timestamp::now() - SignedDuration::from_hours(92 * 24);
    let clock = Arc::new(ManualClock::new(start));
    let running = firebreak::start("127.0.0.1:0", Arc::new(store), config(), clock.clone()).await?;
    populate(&running.app, &clock).await?;
    // The clock stands near now for the run.
    let now = Timestamp::now();
    if now > clock.now() {
        clock.advance(now.duration_since(clock.now()));
    }
    let url = format!("http://{}/status/api/v2/summary.json", running.addr);
    let body = reqwest::get(&url).await?.bytes().await?;
    let summary: serde_json::Value = serde_json::from_slice(&body)?;
    anyhow::ensure!(
        summary["components"].as_array().map(Vec::len) == Some(25)
            && summary["incidents"].as_array().map(Vec::len) == Some(3),
        "the page is not what the benchmark built: {}",
        summary
    );
    let www = dir.path().join("nginx/www/status/api/v2");
    std::fs::create_dir_all(&www)?;
    std::fs::write(www.join("summary.json"), &body)?;
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0")?;
        l.local_addr()?.port()
    };
    // Stopped by SIGTERM when the guard drops, so its workers stop with it (a SIGKILL to
    // the master leaves them running).
    let server = crate::ingest::Guard::new(nginx(&dir.path().join("nginx"), port)?, "nginx");
    let nginx_url = format!("http://127.0.0.1:{port}/status/api/v2/summary.json");
    let mut ready = false;
    for _ in 0..50 {
        if reqwest::get(&nginx_url)
            .await
            .is_ok_and(|r| r.status() == 200)
        {
            ready = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    anyhow::ensure!(ready, "nginx did not answer on port {port}");

    let probe_before = crate::flush_probe();
    println!(
        "summary.json: {} bytes, {} components (with groups), {} open incidents with {} updates, 90 days of history",
        body.len(),
        summary["components"].as_array().map(Vec::len).unwrap_or(0),
        summary["incidents"].as_array().map(Vec::len).unwrap_or(0),
        summary["incidents"][0]["incident_updates"]
            .as_array()
            .map(Vec::len)
            .unwrap_or(0)
    );
    let args = Arc::new(args);
    let (a, u) = (args.clone(), url.clone());
    let ours = tokio::task::spawn_blocking(move || wrk(&u, &a)).await??;
    let a = args.clone();
    let theirs = tokio::task::spawn_blocking(move || wrk(&nginx_url, &a)).await??;
    let probe_after = crate::flush_probe();
    drop(server);
    for (name, l) in [("firebreak", &ours), ("nginx", &theirs)] {
        println!(
            "{name:9} requests/s={:9.0} p50={:6.2}ms p99={:6.2}ms non_2xx={} {}",
            l.requests_per_s, l.p50_ms, l.p99_ms, l.non_2xx, l.errors
        );
    }
    println!(
        "ratio firebreak/nginx = {:.2}  (target >= 1.0, p99 under 10 ms)  flush_probe_before={:.2}ms after={:.2}ms",
        ours.requests_per_s / theirs.requests_per_s,
        probe_before.as_secs_f64() * 1e3,
        probe_after.as_secs_f64() * 1e3,
    );
    crate::stop(running).await;
    Ok(())
}
