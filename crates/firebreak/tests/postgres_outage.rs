//! PostgreSQL goes away under load and comes back. A private cluster (initdb + pg_ctl, in a
//! temp dir, on a free loopback port) so the shared test database is left alone; `firebreak
//! serve` as a child process on it, answering a light stream of API requests and delivering
//! webhooks to a receiver that is failing before the outage.
//!
//! While the database is down every request is answered 503 with `Retry-After` within about
//! two seconds (none hangs) and `/readyz` is 503. When the database is back the same process
//! serves again, and every event committed before the stop is delivered. Nothing acknowledged
//! is lost, and nothing answered 503 was written.
//!
//! Needs the PostgreSQL server binaries (`initdb`, `pg_ctl`): under /usr/lib/postgresql/*/bin,
//! or in `FIREBREAK_TEST_PG_BIN`. Fails, never skips, without them.

mod support_proc;
mod support_receiver;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support_proc::{free_port, serve_with};
use support_receiver::{Receiver, Reply};

/// The directory holding `initdb` and `pg_ctl`.
fn pg_bin() -> PathBuf {
    if let Some(dir) = std::env::var_os("FIREBREAK_TEST_PG_BIN") {
        return PathBuf::from(dir);
    }
    let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let version = e.file_name().to_str()?.parse().ok()?;
            let bin = e.path().join("bin");
            bin.join("pg_ctl").exists().then_some((version, bin))
        })
        .collect();
    found.sort();
    found.pop().map(|(_, bin)| bin).unwrap_or_else(|| {
        panic!(
            "this test needs the PostgreSQL server binaries (initdb, pg_ctl): none under \
             /usr/lib/postgresql/*/bin. Install them or set FIREBREAK_TEST_PG_BIN."
        )
    })
}

/// A private PostgreSQL cluster. Dropping it stops the server (immediate mode) and, if that
/// fails, kills the postmaster by its PID.
struct Cluster {
    bin: PathBuf,
    data: PathBuf,
    log: PathBuf,
    port: u16,
    /// `initdb` refuses to run as root, so as root every command runs as `postgres`.
    as_postgres: bool,
    dir: tempfile::TempDir,
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

impl Cluster {
    fn create() -> Cluster {
        let bin = pg_bin();
        let dir = tempfile::tempdir().unwrap();
        let as_postgres = is_root();
        if as_postgres {
            let owned = Command::new("chown")
                .arg("postgres:")
                .arg(dir.path())
                .status()
                .expect("run chown");
            assert!(owned.success(), "cannot give {:?} to postgres", dir.path());
        }
        let cluster = Cluster {
            bin,
            data: dir.path().join("data"),
            log: dir.path().join("postgres.log"),
            port: free_port(),
            as_postgres,
            dir,
        };
        let out = cluster
            .command("initdb")
            .args([
                "-A",
                "trust",
                "-U",
                "postgres",
                "-E",
                "UTF8",
                "--no-sync",
                "-D",
            ])
            .arg(&cluster.data)
            .output()
            .expect("run initdb");
        assert!(
            out.status.success(),
            "initdb failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        cluster
    }

    fn command(&self, tool: &str) -> Command {
        let path = self.bin.join(tool);
        if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(path);
            c
        } else {
            Command::new(path)
        }
    }

    fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    fn start(&self) {
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=50",
            self.port,
            self.dir.path().display()
        );
        let out = self
            .command("pg_ctl")
            .args(["-w", "-t", "30", "-o", &options, "-l"])
            .arg(&self.log)
            .arg("-D")
            .arg(&self.data)
            .arg("start")
            .output()
            .expect("run pg_ctl start");
        assert!(
            out.status.success(),
            "pg_ctl start failed: {}\n{}",
            String::from_utf8_lossy(&out.stderr),
            std::fs::read_to_string(&self.log).unwrap_or_default()
        );
    }

    /// Stops the server at once, as a crash would: no checkpoint, connections cut.
    fn stop_immediately(&self) -> bool {
        self.command("pg_ctl")
            .args(["-w", "-m", "immediate", "-D"])
            .arg(&self.data)
            .arg("stop")
            .output()
            .map(|o| o.status.success())
            .unwrap_or(false)
    }

    fn postmaster_pid(&self) -> Option<u32> {
        std::fs::read_to_string(self.data.join("postmaster.pid"))
            .ok()?
            .lines()
            .next()?
            .trim()
            .parse()
            .ok()
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if self.postmaster_pid().is_some()
            && !self.stop_immediately()
            && let Some(pid) = self.postmaster_pid()
        {
            let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
        }
    }
}

/// One API request of the load and how it went.
#[derive(Debug, Clone)]
struct Sample {
    what: String,
    sent: Instant,
    took: Duration,
    /// The status, or `None` when no answer came (connection error or the client's 10 s timeout).
    status: Option<u16>,
    retry_after: bool,
    /// For a declaration: its title.
    title: Option<String>,
}

/// One client of a light load: a list or a declaration, then 100 ms of rest, until `stop`.
async fn load(
    name: usize,
    base: String,
    token: String,
    stop: Arc<AtomicBool>,
    samples: Arc<Mutex<Vec<Sample>>>,
) {
    let http = client(Duration::from_secs(10));
    let mut n = 0;
    while !stop.load(Ordering::Relaxed) {
        n += 1;
        let title = format!("Load incident {name}-{n}");
        let (what, request) = if n % 2 == 0 {
            (
                "GET /api/v1/incidents".to_string(),
                http.get(format!("{base}/api/v1/incidents?limit=5")),
            )
        } else {
            (
                format!("declare {title:?}"),
                http.post(format!("{base}/api/v1/incidents"))
                    .json(&json!({"title": title, "severity": "SEV3"})),
            )
        };
        let sent = Instant::now();
        let answer = request.bearer_auth(&token).send().await;
        let took = sent.elapsed();
        let (status, retry_after) = match &answer {
            Ok(r) => (
                Some(r.status().as_u16()),
                r.headers().contains_key("retry-after"),
            ),
            Err(_) => (None, false),
        };
        samples.lock().unwrap().push(Sample {
            what,
            sent,
            took,
            status,
            retry_after,
            title: (n % 2 == 1).then_some(title),
        });
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn client(timeout: Duration) -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder().timeout(timeout).build().unwrap()
}

async fn readyz(base: &str) -> u16 {
    client(Duration::from_secs(5))
        .get(format!("{base}/readyz"))
        .send()
        .await
        .map(|r| r.status().as_u16())
        .unwrap_or(0)
}

fn write_config(dir: &Path) -> PathBuf {
    let config = dir.join("firebreak.yaml");
    std::fs::write(
        &config,
        "outbound:\n  retry:\n    first_delay: 1s\n    max_delay: 2s\n",
    )
    .unwrap();
    config
}

/// Clients of the load, side by side.
const CLIENTS: usize = 3;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outage_is_answered_503_and_survived_without_a_restart() {
    let started = Instant::now();
    let cluster = Cluster::create();
    cluster.start();
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path());
    let url = cluster.url();
    let mut fb = serve_with(
        &dir.path().join("unused"),
        &config,
        "127.0.0.1:0",
        &[
            ("FIREBREAK_DATABASE_URL", &url),
            ("FIREBREAK_OUTBOUND_ALLOW", "127.0.0.0/8"),
        ],
    );
    let token = fb
        .first_token
        .clone()
        .expect("a first start prints the admin token");
    assert_eq!(readyz(&fb.url).await, 200);

    // The receiver fails until the database is back, so deliveries wait in the outbox.
    let receiver = Receiver::start(Reply::Status(503)).await;
    let r = client(Duration::from_secs(10))
        .post(format!("{}/api/v1/webhooks", fb.url))
        .bearer_auth(&token)
        .json(&json!({"url": receiver.url, "events": ["incident.declared"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);

    let stop = Arc::new(AtomicBool::new(false));
    let samples: Arc<Mutex<Vec<Sample>>> = Arc::default();
    let loaders: Vec<_> = (0..CLIENTS)
        .map(|name| {
            tokio::spawn(load(
                name,
                fb.url.clone(),
                token.clone(),
                stop.clone(),
                samples.clone(),
            ))
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(1500)).await;

    // The database goes away.
    let stopping = Instant::now();
    assert!(cluster.stop_immediately(), "pg_ctl stop failed");
    let stopped = Instant::now();
    tokio::time::sleep(Duration::from_secs(6)).await;
    let ready_during = readyz(&fb.url).await;
    fb.proc.assert_running();

    // It comes back; the same Firebreak process serves again.
    receiver.answer(Reply::OK);
    let restarting = Instant::now();
    cluster.start();
    let recovered = loop {
        let served = samples
            .lock()
            .unwrap()
            .iter()
            .any(|s| s.sent > restarting && s.status.is_some_and(|c| (200..300).contains(&c)));
        if served {
            break restarting.elapsed();
        }
        assert!(
            restarting.elapsed() < Duration::from_secs(60),
            "Firebreak did not serve again within 60 s of the database's return\n{}",
            fb.proc.tail()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let ready_after = readyz(&fb.url).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    stop.store(true, Ordering::Relaxed);
    for loader in loaders {
        loader.await.unwrap();
    }
    let mut samples = samples.lock().unwrap().clone();
    samples.sort_by_key(|s| s.sent);

    let summary = |s: &[Sample]| -> String {
        s.iter()
            .map(|s| {
                format!(
                    "{:?} after {:?}: {:?} in {:?}",
                    s.what,
                    s.sent - stopping,
                    s.status,
                    s.took
                )
            })
            .collect::<Vec<_>>()
            .join("\n")
    };
    // None hangs, whatever the phase.
    let slow: Vec<_> = samples
        .iter()
        .filter(|s| s.took > Duration::from_millis(2500))
        .cloned()
        .collect();
    assert!(
        slow.is_empty(),
        "answers took over 2.5 s:\n{}",
        summary(&slow)
    );
    // Before the stop: served. (A request still in flight when the database stops may rightly
    // get a 503; only those answered before the stop count here.)
    let before: Vec<_> = samples
        .iter()
        .filter(|s| s.sent + s.took < stopping)
        .collect();
    assert!(before.len() >= 5, "the load did not run before the stop");
    assert!(
        before.iter().all(|s| s.status.is_some_and(|c| c < 300)),
        "{}",
        summary(&before.into_iter().cloned().collect::<Vec<_>>())
    );
    // While it is down: 503 with Retry-After, every time.
    let down: Vec<_> = samples
        .iter()
        .filter(|s| s.sent > stopped && s.sent + s.took < restarting)
        .cloned()
        .collect();
    assert!(
        down.len() >= 2 * CLIENTS,
        "too few requests during the outage:\n{}",
        summary(&down)
    );
    let wrong: Vec<_> = down
        .iter()
        .filter(|s| s.status != Some(503) || !s.retry_after)
        .cloned()
        .collect();
    assert!(
        wrong.is_empty(),
        "during the outage every answer must be 503 with Retry-After:\n{}\n{}",
        summary(&wrong),
        fb.proc.tail()
    );
    // Around the stop and the start: an answer, never a bare 500.
    let errors: Vec<_> = samples
        .iter()
        .filter(|s| s.status.is_none_or(|c| c >= 500 && c != 503))
        .cloned()
        .collect();
    assert!(
        errors.is_empty(),
        "{}\n{}",
        summary(&errors),
        fb.proc.tail()
    );
    assert_eq!(ready_during, 503, "/readyz while the database is down");
    assert_eq!(ready_after, 200, "/readyz once the database is back");

    // Nothing lost: every declaration answered 201 is stored and delivered; none answered 503
    // during the outage was written.
    let http = client(Duration::from_secs(10));
    let listed: Value = http
        .get(format!("{}/api/v1/incidents?limit=500", fb.url))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let stored: BTreeSet<String> = listed["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["title"].as_str().unwrap().to_string())
        .collect();
    let acknowledged: BTreeSet<String> = samples
        .iter()
        .filter(|s| s.status == Some(201))
        .filter_map(|s| s.title.clone())
        .collect();
    let refused: BTreeSet<String> = down.iter().filter_map(|s| s.title.clone()).collect();
    let committed_before: BTreeSet<String> = samples
        .iter()
        .filter(|s| s.status == Some(201) && s.sent + s.took < stopping)
        .filter_map(|s| s.title.clone())
        .collect();
    assert!(!committed_before.is_empty());
    assert!(
        acknowledged.is_subset(&stored),
        "acknowledged but not stored: {:?}",
        acknowledged.difference(&stored).collect::<Vec<_>>()
    );
    assert!(
        refused.is_disjoint(&stored),
        "answered 503 yet stored: {:?}",
        refused.intersection(&stored).collect::<Vec<_>>()
    );
    let delivered_titles = |got: &[support_receiver::Received]| -> BTreeSet<String> {
        got.iter()
            .filter(|r| r.answered_ok())
            .filter_map(|r| {
                r.json()["data"]["incident"]["title"]
                    .as_str()
                    .map(String::from)
            })
            .collect()
    };
    let delivering = Instant::now();
    let all = receiver
        .wait_until(Duration::from_secs(80), |got| {
            delivered_titles(got).is_superset(&acknowledged)
        })
        .await;
    let delivered = delivered_titles(&receiver.received());
    assert!(
        all,
        "acknowledged events never delivered: {:?}\n{}",
        acknowledged.difference(&delivered).collect::<Vec<_>>(),
        fb.proc.tail()
    );
    eprintln!(
        "{} requests; {} during the outage, all 503 with Retry-After, slowest {:?}; served again \
         {recovered:?} after the database's restart; {} declarations acknowledged ({} before the \
         stop), all stored and delivered {:?} later; took {:?} in all",
        samples.len(),
        down.len(),
        down.iter().map(|s| s.took).max().unwrap_or_default(),
        acknowledged.len(),
        committed_before.len(),
        delivering.elapsed(),
        started.elapsed()
    );
    drop(fb);
    drop(cluster);
}
