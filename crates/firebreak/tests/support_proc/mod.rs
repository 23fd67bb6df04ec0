//! Shared by the subprocess tests (`alertmanager.rs`, `durability.rs`, `webhook_crash.rs`,
//! `postgres_outage.rs`): child processes that are killed by PID when the test ends (even on
//! panic), `firebreak serve` started from the built binary, and a few HTTP helpers against its
//! API.
//!
//! Cargo also builds this file as a test target of its own; it holds no tests.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

pub const BIN: &str = env!("CARGO_BIN_EXE_firebreak");

/// A child process this test started. Dropping it kills it (SIGKILL, by its PID) and reaps it.
pub struct Proc {
    pub name: &'static str,
    pub child: Child,
    /// The last lines the process wrote to stderr, for failure messages.
    pub log: Arc<Mutex<Vec<String>>>,
}

impl Proc {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends SIGKILL to this process (by PID only) and waits for it to be gone.
    pub fn kill9(&mut self) {
        if self.child.try_wait().ok().flatten().is_some() {
            return;
        }
        let status = Command::new("kill")
            .args(["-9", &self.pid().to_string()])
            .status()
            .expect("run kill -9");
        assert!(status.success(), "kill -9 {} failed", self.pid());
        let _ = self.child.wait();
    }

    /// Sends SIGTERM to this process (by PID only) and waits up to `patience` for it to exit.
    /// Returns its exit status, or `None` if it was still running (it is then killed by Drop).
    pub fn terminate(&mut self, patience: Duration) -> Option<std::process::ExitStatus> {
        if let Some(status) = self.child.try_wait().ok().flatten() {
            return Some(status);
        }
        let sent = Command::new("kill")
            .args(["-TERM", &self.pid().to_string()])
            .status()
            .expect("run kill -TERM");
        assert!(sent.success(), "kill -TERM {} failed", self.pid());
        let deadline = Instant::now() + patience;
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait().ok().flatten() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }

    /// Everything the process wrote on stderr so far (a token it printed on first start is
    /// left out).
    pub fn log(&self) -> String {
        self.log.lock().unwrap().join("\n")
    }

    /// The captured tail of the process's stderr.
    pub fn tail(&self) -> String {
        let log = self.log.lock().unwrap();
        let from = log.len().saturating_sub(40);
        format!(
            "--- last lines of {} (pid {}) ---\n{}",
            self.name,
            self.pid(),
            log[from..].join("\n")
        )
    }

    /// Fails when the process has already exited, showing what it wrote.
    pub fn assert_running(&mut self) {
        if let Some(status) = self.child.try_wait().ok().flatten() {
            panic!("{} exited early with {status}\n{}", self.name, self.tail());
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        // Child::kill sends SIGKILL to exactly this PID.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Keeps reading `stream` line by line into `log` (the last 2000 lines) until it closes, so
/// the child never blocks on a full pipe.
pub fn drain(stream: impl Read + Send + 'static, log: Arc<Mutex<Vec<String>>>) {
    drain_lines(BufReader::new(stream).lines(), log);
}

/// Like [`drain`], for a stream already being read line by line.
pub fn drain_lines(
    lines: impl Iterator<Item = std::io::Result<String>> + Send + 'static,
    log: Arc<Mutex<Vec<String>>>,
) {
    std::thread::spawn(move || {
        for line in lines {
            let Ok(line) = line else { break };
            let mut log = log.lock().unwrap();
            if log.len() >= 2000 {
                log.drain(..1000);
            }
            log.push(line);
        }
    });
}

/// A port that was free a moment ago on 127.0.0.1.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind an ephemeral port")
        .local_addr()
        .unwrap()
        .port()
}

/// A running `firebreak serve`.
pub struct Firebreak {
    pub proc: Proc,
    /// `http://127.0.0.1:<port>`.
    pub url: String,
    /// The admin token printed on a first start; `None` on a restart.
    pub first_token: Option<String>,
}

/// Starts `firebreak serve` on `data_dir` with `config`, listening on `listen` (e.g.
/// `127.0.0.1:0`), and waits until it says where it listens.
pub fn serve(data_dir: &Path, config: &Path, listen: &str) -> Firebreak {
    serve_with(data_dir, config, listen, &[])
}

/// Like [`serve`], with extra environment variables (`FIREBREAK_DATABASE_URL`,
/// `FIREBREAK_OUTBOUND_ALLOW`, ...).
pub fn serve_with(data_dir: &Path, config: &Path, listen: &str, env: &[(&str, &str)]) -> Firebreak {
    let mut command = Command::new(BIN);
    command
        .args(["serve", "--listen", listen, "--data-dir"])
        .arg(data_dir)
        .arg("--config")
        .arg(config)
        .env_remove("FIREBREAK_DATABASE_URL")
        .env_remove("FIREBREAK_CONFIG")
        .env_remove("FIREBREAK_LISTEN")
        .env_remove("FIREBREAK_LOG_JSON")
        .env_remove("FIREBREAK_OUTBOUND_ALLOW")
        .env(
            "FIREBREAK_LOG",
            "warn,firebreak=info,firebreak_server=debug,tower_http=debug",
        );
    for (name, value) in env {
        command.env(name, value);
    }
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("firebreak serve starts");
    let stderr = child.stderr.take().unwrap();
    let log = Arc::new(Mutex::new(Vec::new()));
    let mut proc = Proc {
        name: "firebreak serve",
        child,
        log: log.clone(),
    };
    let mut lines = BufReader::new(stderr).lines();
    let (mut url, mut token) = (None, None);
    let deadline = Instant::now() + Duration::from_secs(60);
    while url.is_none() && Instant::now() < deadline {
        let Some(Ok(line)) = lines.next() else { break };
        let trimmed = line.trim();
        if trimmed.starts_with("fbt_") && token.is_none() {
            token = Some(trimmed.to_string());
        }
        if let Some(at) = line.find("listening on http://") {
            url = line[at + "listening on ".len()..]
                .split_whitespace()
                .next()
                .map(String::from);
        }
        // Keep what it said (minus the secret) for failure messages.
        if !trimmed.starts_with("fbt_") && !trimmed.contains("--token") {
            log.lock().unwrap().push(line);
        }
    }
    let Some(url) = url else {
        proc.assert_running();
        panic!(
            "firebreak serve did not say where it listens within 60s\n{}",
            proc.tail()
        );
    };
    drain_lines(lines, log);
    Firebreak {
        proc,
        url,
        first_token: token,
    }
}

/// Creates an admin token offline (before the server starts), printed alone on stdout.
pub fn offline_admin_token(data_dir: &Path, config: &Path) -> String {
    let out = Command::new(BIN)
        .args([
            "token",
            "create",
            "--name",
            "test",
            "--role",
            "admin",
            "--data-dir",
        ])
        .arg(data_dir)
        .arg("--config")
        .arg(config)
        .env_remove("FIREBREAK_DATABASE_URL")
        .env_remove("FIREBREAK_SERVER")
        .env_remove("FIREBREAK_CONFIG")
        .output()
        .expect("run firebreak token create");
    assert!(
        out.status.success(),
        "firebreak token create failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let token = String::from_utf8_lossy(&out.stdout).trim().to_string();
    assert!(
        token.starts_with("fbt_"),
        "unexpected token output {token:?}"
    );
    token
}

pub fn http() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

/// GET `url` with the bearer `token`; panics unless it answers 200 with JSON.
pub async fn get_json(http: &reqwest::Client, url: &str, token: &str) -> Value {
    let response = http
        .get(url)
        .bearer_auth(token)
        .send()
        .await
        .unwrap_or_else(|e| panic!("GET {url}: {e}"));
    let status = response.status();
    let text = response.text().await.unwrap_or_default();
    assert_eq!(status, 200, "GET {url}: {text}");
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("GET {url}: {e}: {text}"))
}

/// Every alert matching `query` (like `status=open`), following `next_cursor` with pages of
/// 500.
pub async fn all_alerts(
    http: &reqwest::Client,
    base: &str,
    token: &str,
    query: &str,
) -> Vec<Value> {
    let mut out = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut url = format!("{base}/api/v1/alerts?limit=500");
        if !query.is_empty() {
            url.push('&');
            url.push_str(query);
        }
        if let Some(c) = &cursor {
            url.push_str("&cursor=");
            url.push_str(c);
        }
        let page = get_json(http, &url, token).await;
        let items = page["items"]
            .as_array()
            .unwrap_or_else(|| panic!("GET {url}: no items in {page}"));
        out.extend(items.iter().cloned());
        match page["next_cursor"].as_str() {
            Some(c) if !items.is_empty() => cursor = Some(c.to_string()),
            _ => return out,
        }
    }
}

/// 32 random letters and digits, the shape of an integration key.
pub fn random_key() -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
        ^ (u64::from(std::process::id()) << 32);
    static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    seed ^= COUNTER
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        .wrapping_mul(0x9E37_79B9_7F4A_7C15);
    (0..32)
        .map(|_| {
            // xorshift64*
            seed ^= seed >> 12;
            seed ^= seed << 25;
            seed ^= seed >> 27;
            let r = seed.wrapping_mul(0x2545_F491_4F6C_DD1D);
            ALPHABET[(r >> 32) as usize % ALPHABET.len()] as char
        })
        .collect()
}
