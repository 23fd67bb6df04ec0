//! A webhook receiver on loopback for the benchmarks: answers every POST with 200 at once,
//! counts the deliveries, and, when asked to ([`Receiver::start`]), tells a waiting benchmark
//! the moment each one arrives. A benchmark that only counts ([`Receiver::counting`]) keeps
//! nothing: holding every body it was sent grew the benchmark process by gigabytes during an
//! ingest run, and the page faults took CPU from the server under test.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

#[derive(Clone)]
struct Shared {
    count: Arc<AtomicU64>,
    /// Where arrivals go; `None` when the receiver only counts.
    arrivals: Option<mpsc::UnboundedSender<(Instant, String, axum::body::Bytes)>>,
}

/// A running receiver. Dropping it stops it.
pub struct Receiver {
    pub addr: SocketAddr,
    count: Arc<AtomicU64>,
    /// Each delivery as it arrived: when, its `webhook-id` (empty if none) and its body.
    pub arrivals: mpsc::UnboundedReceiver<(Instant, String, axum::body::Bytes)>,
    stop: CancellationToken,
}

impl Receiver {
    /// A receiver that records each arrival in [`Receiver::arrivals`].
    pub async fn start() -> anyhow::Result<Receiver> {
        Self::listen(true).await
    }

    /// A receiver that only counts: [`Receiver::arrivals`] stays empty.
    pub async fn counting() -> anyhow::Result<Receiver> {
        Self::listen(false).await
    }

    async fn listen(record: bool) -> anyhow::Result<Receiver> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let (tx, rx) = mpsc::unbounded_channel();
        let count = Arc::new(AtomicU64::new(0));
        let shared = Shared {
            count: count.clone(),
            arrivals: record.then_some(tx),
        };
        let app = Router::new().route("/hook", post(hook)).with_state(shared);
        let stop = CancellationToken::new();
        let token = stop.clone();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(token.cancelled_owned())
                .await;
        });
        Ok(Receiver {
            addr,
            count,
            arrivals: rx,
            stop,
        })
    }

    pub fn url(&self) -> String {
        format!("http://{}/hook", self.addr)
    }

    /// Deliveries received so far.
    pub fn count(&self) -> u64 {
        self.count.load(Ordering::Relaxed)
    }

    /// Forgets the arrivals recorded so far (the count stays).
    pub fn clear(&mut self) {
        while self.arrivals.try_recv().is_ok() {}
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

async fn hook(State(s): State<Shared>, headers: HeaderMap, body: axum::body::Bytes) -> StatusCode {
    let at = Instant::now();
    s.count.fetch_add(1, Ordering::Relaxed);
    let Some(arrivals) = &s.arrivals else {
        return StatusCode::OK;
    };
    let id = headers
        .get("webhook-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let _ = arrivals.send((at, id, body));
    StatusCode::OK
}
