//! A webhook receiver for the delivery tests: a real HTTP server on 127.0.0.1 that records every
//! request (headers and body) and answers as the test tells it: a status, 429 with
//! `Retry-After`, a redirect, or never (it holds the request open).
#![allow(dead_code)]

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::Value;
use tokio::sync::Notify;
use tokio::task::JoinHandle;

/// How the receiver answers one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    Status(u16),
    /// 429 with `Retry-After: <seconds>`.
    TooMany {
        retry_after: u64,
    },
    /// 302 to this URL.
    Redirect(String),
    /// Never answers; the request stays open until the sender gives up or dies.
    Hold,
    /// A status with a text body, as Slack answers (`200 ok`, `404 channel_not_found`).
    Text(u16, &'static str),
    /// A status, after holding the request this long (real time).
    Slow(std::time::Duration, u16),
}

impl Reply {
    pub const OK: Reply = Reply::Status(200);
}

/// One request the receiver got.
#[derive(Debug, Clone)]
pub struct Received {
    /// The `webhook-id` header (empty when missing).
    pub id: String,
    pub headers: HeaderMap,
    pub body: Bytes,
    /// What it was answered.
    pub reply: Reply,
    pub at: Instant,
}

impl Received {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("a delivery body is not JSON ({e}): {:?}", self.body))
    }

    /// The event type in the body.
    pub fn kind(&self) -> String {
        self.json()["type"].as_str().unwrap_or_default().to_string()
    }

    pub fn answered_ok(&self) -> bool {
        matches!(self.reply, Reply::Status(code) if (200..300).contains(&code))
    }
}

struct Script {
    /// Answers for the next requests, in order; then `default`.
    next: VecDeque<Reply>,
    default: Reply,
    got: Vec<Received>,
}

struct Shared {
    script: Mutex<Script>,
    arrived: Notify,
}

pub struct Receiver {
    /// `http://127.0.0.1:<port>/hook`.
    pub url: String,
    pub port: u16,
    shared: Arc<Shared>,
    task: JoinHandle<()>,
}

impl Receiver {
    /// Starts a receiver on a free loopback port that answers `default` until told otherwise.
    pub async fn start(default: Reply) -> Receiver {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("the receiver binds a loopback port");
        let port = listener.local_addr().unwrap().port();
        let shared = Arc::new(Shared {
            script: Mutex::new(Script {
                next: VecDeque::new(),
                default,
                got: Vec::new(),
            }),
            arrived: Notify::new(),
        });
        let app = Router::new().fallback(receive).with_state(shared.clone());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Receiver {
            url: format!("http://127.0.0.1:{port}/hook"),
            port,
            shared,
            task,
        }
    }

    fn script(&self) -> std::sync::MutexGuard<'_, Script> {
        self.shared.script.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Answers `reply` from now on (after any queued one-off answers).
    pub fn answer(&self, reply: Reply) {
        self.script().default = reply;
    }

    /// Answers the next requests with `replies`, in order, then the default again.
    pub fn then(&self, replies: impl IntoIterator<Item = Reply>) {
        self.script().next.extend(replies);
    }

    /// Every request so far, in the order they arrived.
    pub fn received(&self) -> Vec<Received> {
        self.script().got.clone()
    }

    pub fn count(&self) -> usize {
        self.script().got.len()
    }

    /// How many requests carried each `webhook-id`.
    pub fn by_id(&self) -> BTreeMap<String, usize> {
        let mut ids = BTreeMap::new();
        for r in self.script().got.iter() {
            *ids.entry(r.id.clone()).or_default() += 1;
        }
        ids
    }

    /// Waits until `done` holds for the requests received, up to `within`; false if it never did.
    pub async fn wait_until(&self, within: Duration, done: impl Fn(&[Received]) -> bool) -> bool {
        let deadline = Instant::now() + within;
        loop {
            let arrived = self.shared.arrived.notified();
            tokio::pin!(arrived);
            arrived.as_mut().enable();
            if done(&self.script().got) {
                return true;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            // Also look again now and then: `done` may depend on something besides arrivals.
            let _ = tokio::time::timeout(left.min(Duration::from_millis(200)), arrived).await;
        }
    }

    /// Waits for at least `n` requests in all, up to `within`; panics naming what came.
    #[track_caller]
    pub fn wait_for(
        &self,
        n: usize,
        within: Duration,
    ) -> impl std::future::Future<Output = Vec<Received>> + '_ {
        let caller = std::panic::Location::caller();
        async move {
            if !self.wait_until(within, |got| got.len() >= n).await {
                panic!(
                    "{caller}: the receiver expected {n} requests within {within:?} and got {}: {:?}",
                    self.count(),
                    self.received()
                        .iter()
                        .map(|r| (r.id.clone(), r.kind(), r.reply.clone()))
                        .collect::<Vec<_>>()
                );
            }
            self.received()
        }
    }

    /// Lets `quiet` pass and checks that no request arrived beyond the `n` already counted.
    #[track_caller]
    pub fn expect_no_more(
        &self,
        n: usize,
        quiet: Duration,
    ) -> impl std::future::Future<Output = ()> + '_ {
        let caller = std::panic::Location::caller();
        async move {
            let more = self.wait_until(quiet, |got| got.len() > n).await;
            assert!(
                !more,
                "{caller}: expected no request beyond {n}, but got {:?}",
                self.received()
                    .iter()
                    .skip(n)
                    .map(|r| (r.id.clone(), r.kind(), r.reply.clone()))
                    .collect::<Vec<_>>()
            );
        }
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn receive(State(shared): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> Response {
    let reply = {
        let mut script = shared.script.lock().unwrap_or_else(|p| p.into_inner());
        let reply = script
            .next
            .pop_front()
            .unwrap_or_else(|| script.default.clone());
        let id = headers
            .get("webhook-id")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        script.got.push(Received {
            id,
            headers,
            body,
            reply: reply.clone(),
            at: Instant::now(),
        });
        reply
    };
    shared.arrived.notify_waiters();
    match reply {
        Reply::Status(code) => StatusCode::from_u16(code)
            .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
            .into_response(),
        Reply::TooMany { retry_after } => (
            StatusCode::TOO_MANY_REQUESTS,
            [(header::RETRY_AFTER, retry_after.to_string())],
            "slow down",
        )
            .into_response(),
        Reply::Redirect(to) => (StatusCode::FOUND, [(header::LOCATION, to)]).into_response(),
        Reply::Hold => std::future::pending().await,
        Reply::Slow(wait, code) => {
            tokio::time::sleep(wait).await;
            StatusCode::from_u16(code)
                .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
                .into_response()
        }
        Reply::Text(code, text) => (
            StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            text,
        )
            .into_response(),
    }
}
