//! `/metrics`: Firebreak's own Prometheus metrics, in the text exposition format.
//!
//! One recorder (`metrics-exporter-prometheus`, without its own listener) is installed per
//! process and holds what the crates count as they work: ingested events, page deliveries,
//! escalation timer lateness, the SQLite writer's group sizes, and each request's latency by
//! route template (recorded by [`track`]). The outbox and open incident gauges are read from
//! the engine at each scrape and set on a recorder made for that scrape alone, so they always
//! describe this instance's database and a kind or severity that is gone leaves no stale
//! series behind.
//!
//! On the main listener `/metrics` needs a token or session of any role; `metrics.listen` in
//! the config serves it without one on a listener of its own, which has no other route. It is
//! not in the OpenAPI document: like the calendar feed, it is not JSON.

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderValue, Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use firebreak_engine::Firebreak;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

use crate::extract::{Caller, Viewer};
use crate::problem::ApiError;

/// Each request's latency, by method, route template and status.
pub const HTTP_DURATION: &str = "firebreak_http_request_duration_seconds";
/// The content type of the text exposition format.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";
/// The buckets of [`HTTP_DURATION`], in seconds.
const DURATION_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];
/// How often histogram samples are folded into their buckets between scrapes, so memory
/// stays flat when nobody scrapes.
const UPKEEP: Duration = Duration::from_secs(5);

/// A histogram recorded below the server (by a store), with its buckets.
pub type Buckets = (&'static str, &'static [f64]);

static RECORDER: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// Installs the process's recorder once, with explicit buckets for every histogram the
/// server and engine record and for `more` (the store's): later calls return the first's.
/// `None` when another recorder was installed first (then `/metrics` shows only the gauges).
pub fn install(more: &[Buckets]) -> Option<&'static PrometheusHandle> {
    RECORDER
        .get_or_init(|| match recorder(more).and_then(PrometheusBuilder::install_recorder) {
            Ok(handle) => {
                describe();
                keep_up(handle.clone());
                Some(handle)
            }
            Err(e) => {
                tracing::warn!(error = %e, "could not install the metrics recorder; /metrics shows only the figures read at scrape time");
                None
            }
        })
        .as_ref()
}

fn recorder(
    more: &[Buckets],
) -> Result<PrometheusBuilder, metrics_exporter_prometheus::BuildError> {
    let own: [Buckets; 3] = [
        (HTTP_DURATION, DURATION_BUCKETS),
        (
            firebreak_engine::metrics::ESCALATION_LATENESS,
            firebreak_engine::metrics::LATENESS_BUCKETS,
        ),
        (
            firebreak_engine::metrics::CHECK_LATENCY,
            firebreak_engine::metrics::CHECK_LATENCY_BUCKETS,
        ),
    ];
    own.iter()
        .chain(more)
        .try_fold(PrometheusBuilder::new(), |builder, (name, buckets)| {
            builder.set_buckets_for_metric(Matcher::Full((*name).to_string()), buckets)
        })
}

fn describe() {
    firebreak_engine::metrics::describe();
    metrics::describe_histogram!(
        HTTP_DURATION,
        metrics::Unit::Seconds,
        "Time to answer an HTTP request (until the answer's head; a stream's body is not \
         counted), by method, route template (unmatched when no route matched) and status."
    );
}

/// Folds histogram samples into buckets every few seconds, on a thread of its own, as the
/// recorder is the process's and outlives any runtime.
fn keep_up(handle: PrometheusHandle) {
    let started = std::thread::Builder::new()
        .name("metrics-upkeep".into())
        .spawn(move || {
            loop {
                std::thread::sleep(UPKEEP);
                handle.run_upkeep();
            }
        });
    if let Err(e) = started {
        tracing::warn!(error = %e, "could not start the metrics upkeep thread; histograms are folded at each scrape only");
    }
}

/// Records each request's latency by method, route template and status. Never the raw path:
/// paths can hold secrets (acknowledge links, integration keys, calendar feeds).
pub async fn track(req: Request, next: Next) -> Response {
    let method = method_label(req.method());
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_string(), |p| p.as_str().to_string());
    let started = Instant::now();
    let response = next.run(req).await;
    metrics::histogram!(
        HTTP_DURATION,
        "method" => method,
        "route" => route,
        "status" => response.status().as_u16().to_string(),
    )
    .record(started.elapsed().as_secs_f64());
    response
}

/// The method as a label: the standard ones by name, any other as `other`, so a client
/// cannot add series by inventing methods.
fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

/// `GET /metrics` on the main listener: any role may read it.
pub async fn scrape_signed(_c: Caller<Viewer>, app: State<Firebreak>) -> Response {
    scrape(app).await
}

/// `GET /metrics`: the process's counters and histograms, then the gauges read now. While the
/// database cannot be read the answer is an error, so the scrape fails and `up` says so.
pub async fn scrape(State(app): State<Firebreak>) -> Response {
    let figures = match app.figures().await {
        Ok(f) => f,
        Err(e) => return ApiError::from(e).into_response(),
    };
    let mut body = install(&[])
        .map(PrometheusHandle::render)
        .unwrap_or_default();
    let now = PrometheusBuilder::new().build_recorder();
    metrics::with_local_recorder(&now, || figures.record());
    body.push_str(&now.handle().render());
    let mut response = body.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invented_methods_share_one_label() {
        assert_eq!(method_label(&Method::GET), "GET");
        let invented = Method::from_bytes(b"BREW").unwrap();
        assert_eq!(method_label(&invented), "other");
    }

    #[test]
    fn every_histogram_has_buckets() {
        assert!(recorder(&[("firebreak_test_sizes", &[1.0, 2.0])]).is_ok());
        assert!(recorder(&[("firebreak_test_sizes", &[])]).is_err());
    }
}
