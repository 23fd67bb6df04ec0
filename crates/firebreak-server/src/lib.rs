//! The HTTP face of Firebreak: the JSON API under `/api/v1`, health checks, the OpenAPI
//! document and Prometheus `/metrics`. This is the only crate that knows HTTP. Handlers
//! authorise first, translate the wire format to engine calls, and map every failure to
//! `application/problem+json`.

pub mod events;
pub mod extract;
pub mod fields;
pub mod metrics;
pub mod openapi;
pub mod problem;
pub mod routes;
pub mod tls;
pub mod web;
pub mod wire;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request};
use axum::response::IntoResponse;
use axum::serve::ListenerExt;
use firebreak_engine::Firebreak;
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::trace::TraceLayer;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::problem::ApiError;
use crate::routes::{
    ack, actions, admin, alerts, calendar, directory, heartbeats, incidents, ingest, paging,
    public_page, public_status, review, schedules, stabilize, status_page, system, webhooks,
};

/// Marks a request that came over TLS (the HTTPS listener inserts it), so cookies are set
/// `Secure`.
#[derive(Debug, Clone, Copy)]
pub struct Tls;

/// Request bodies larger than this are refused with 413.
pub const BODY_LIMIT: usize = 1024 * 1024;

/// All routes with their OpenAPI description, before state is attached.
pub(crate) fn api() -> OpenApiRouter<Firebreak> {
    OpenApiRouter::with_openapi(openapi::ApiDoc::openapi())
        .routes(routes!(system::healthz))
        .routes(routes!(system::readyz))
        .routes(routes!(system::openapi))
        .routes(routes!(incidents::declare, incidents::list))
        .routes(routes!(incidents::show, incidents::patch))
        .routes(routes!(incidents::assign, incidents::unassign))
        .routes(routes!(incidents::checklist))
        .routes(routes!(incidents::check_item))
        .routes(routes!(incidents::timeline))
        .routes(routes!(incidents::note))
        .routes(routes!(routes::streams::incident_events))
        .routes(routes!(routes::streams::all_events))
        .routes(routes!(status_page::post_update, status_page::list_updates))
        .routes(routes!(
            status_page::list_components,
            status_page::create_component
        ))
        .routes(routes!(
            status_page::show_component,
            status_page::update_component,
            status_page::delete_component
        ))
        .routes(routes!(
            status_page::list_maintenances,
            status_page::schedule_maintenance
        ))
        .routes(routes!(status_page::cancel_maintenance))
        .routes(routes!(
            status_page::list_subscribers,
            status_page::add_subscriber
        ))
        .routes(routes!(status_page::remove_subscriber))
        .routes(routes!(directory::list_services, directory::create_service))
        .routes(routes!(
            directory::show_service,
            directory::update_service,
            directory::delete_service
        ))
        .routes(routes!(directory::list_users, directory::create_user))
        .routes(routes!(directory::show_user, directory::update_user))
        .routes(routes!(directory::invite_user))
        .routes(routes!(directory::set_password))
        .routes(routes!(directory::revoke_sessions))
        .routes(routes!(
            schedules::list_schedules,
            schedules::create_schedule
        ))
        .routes(routes!(
            schedules::show_schedule,
            schedules::replace_schedule,
            schedules::delete_schedule
        ))
        .routes(routes!(schedules::on_call))
        .routes(routes!(schedules::shifts))
        .routes(routes!(schedules::add_override, schedules::list_overrides))
        .routes(routes!(schedules::remove_override))
        .routes(routes!(paging::list_contacts, paging::add_contact))
        .routes(routes!(paging::remove_contact))
        .routes(routes!(paging::test_contact))
        .routes(routes!(paging::list_policies, paging::create_policy))
        .routes(routes!(
            paging::show_policy,
            paging::replace_policy,
            paging::delete_policy
        ))
        .routes(routes!(paging::list_escalations))
        .routes(routes!(calendar::schedule_feed))
        .routes(routes!(calendar::user_feed))
        .routes(routes!(paging::acknowledge_incident))
        .routes(routes!(alerts::ack_alert))
        .routes(routes!(admin::list_tokens, admin::create_token))
        .routes(routes!(admin::revoke_token))
        .routes(routes!(admin::audit))
        .routes(routes!(stabilize::export_audit))
        .routes(routes!(stabilize::verify_audit))
        .routes(routes!(stabilize::freeze_status))
        .routes(routes!(stabilize::list_freezes, stabilize::add_freeze))
        .routes(routes!(stabilize::lift_freeze))
        .routes(routes!(stabilize::exemption))
        .routes(routes!(
            stabilize::request_grant,
            stabilize::incident_grants
        ))
        .routes(routes!(stabilize::live_grants))
        .routes(routes!(stabilize::show_grant))
        .routes(routes!(stabilize::approve_grant))
        .routes(routes!(stabilize::revoke_grant))
        .routes(routes!(actions::list_runbooks, actions::create_runbook))
        .routes(routes!(actions::coverage))
        .routes(routes!(
            actions::show_runbook,
            actions::put_runbook,
            actions::delete_runbook
        ))
        .routes(routes!(actions::incident_runbooks))
        .routes(routes!(actions::alert_runbooks))
        .routes(routes!(actions::run_action))
        .routes(routes!(actions::show_run))
        .routes(routes!(actions::approve_run))
        .routes(routes!(actions::incident_runs))
        .routes(routes!(actions::show_run_by_id))
        .routes(routes!(actions::approve_run_by_id))
        .routes(routes!(actions::record_command))
        .routes(routes!(admin::config))
        .routes(routes!(admin::me))
        .routes(routes!(alerts::list_alerts))
        .routes(routes!(alerts::show_alert))
        .routes(routes!(alerts::acknowledge_alert))
        .routes(routes!(alerts::resolve_alert))
        .routes(routes!(
            alerts::list_service_integrations,
            alerts::create_integration
        ))
        .routes(routes!(alerts::list_integrations))
        .routes(routes!(alerts::rotate_integration))
        .routes(routes!(alerts::revoke_integration_key))
        .routes(routes!(alerts::list_silences, alerts::create_silence))
        .routes(routes!(alerts::expire_silence))
        .routes(routes!(
            alerts::list_maintenance,
            alerts::create_maintenance
        ))
        .routes(routes!(alerts::end_maintenance))
        .routes(routes!(alerts::list_routes, alerts::create_route))
        .routes(routes!(alerts::delete_route))
        .routes(routes!(alerts::list_deployments, alerts::record_deployment))
        .routes(routes!(webhooks::list_webhooks, webhooks::create_webhook))
        .routes(routes!(webhooks::delete_webhook))
        .routes(routes!(webhooks::enable_webhook))
        .routes(routes!(webhooks::list_deliveries))
        .routes(routes!(webhooks::redeliver))
        .routes(routes!(webhooks::outbox_stats))
        .routes(routes!(
            heartbeats::list_heartbeats,
            heartbeats::create_heartbeat
        ))
        .routes(routes!(
            heartbeats::ping,
            heartbeats::ping_by_post,
            heartbeats::delete_heartbeat
        ))
        .routes(routes!(heartbeats::fail, heartbeats::fail_by_post))
        .routes(routes!(
            crate::routes::checks::list_checks,
            crate::routes::checks::create_check
        ))
        .routes(routes!(
            crate::routes::checks::show_check,
            crate::routes::checks::delete_check
        ))
        .routes(routes!(crate::routes::checks::check_results))
        .routes(routes!(crate::routes::checks::check_uptime))
        .routes(routes!(
            crate::routes::customer_reports::list_reports,
            crate::routes::customer_reports::record_report
        ))
        .routes(routes!(
            crate::routes::gamedays::list_gamedays,
            crate::routes::gamedays::start_gameday
        ))
        .routes(routes!(crate::routes::gamedays::show_gameday))
        .routes(routes!(crate::routes::gamedays::finish_gameday))
        .routes(routes!(crate::routes::reports::incidents))
        .routes(routes!(crate::routes::reports::dora))
        .merge(
            OpenApiRouter::new()
                .routes(routes!(
                    review::draft_postmortem,
                    review::show_postmortem,
                    review::edit_postmortem
                ))
                .routes(routes!(review::check_postmortem))
                .layer(DefaultBodyLimit::max(review::POSTMORTEM_BODY_LIMIT))
                .layer(axum::Extension(crate::extract::BodyLimit(
                    review::POSTMORTEM_BODY_LIMIT,
                ))),
        )
        .routes(routes!(review::refresh_postmortem))
        .routes(routes!(review::publish_postmortem))
        .routes(routes!(review::dismiss_finding))
        .routes(routes!(review::postmortem_revisions))
        .routes(routes!(review::postmortem_markdown))
        .routes(routes!(review::add_action_item, review::list_action_items))
        .routes(routes!(
            review::show_action_item,
            review::change_action_item
        ))
}

/// The OpenAPI document for every route, without a server's configured severities.
pub fn openapi_document() -> serde_json::Value {
    openapi::document()
}

/// Refuses a request whose query string holds a NUL character: no stored text can hold one,
/// so no filter can match it, and the database must never see it.
async fn refuse_nul(req: Request, next: axum::middleware::Next) -> axum::response::Response {
    let nul_param = req.uri().query().and_then(|q| {
        q.split('&').find_map(|pair| {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            let lower = value.to_ascii_lowercase();
            (lower.contains("%00") || name.to_ascii_lowercase().contains("%00"))
                .then(|| name.to_string())
        })
    });
    if let Some(name) = nul_param {
        return ApiError::invalid(name, "must not contain the NUL character (%00)").into_response();
    }
    if req.uri().path().contains("%00") {
        return system::not_found(req.uri().clone()).await.into_response();
    }
    next.run(req).await
}

/// Collapses repeated slashes in a path (`//v2/alerts` from a base URL with a trailing slash
/// becomes `/v2/alerts`) before routing, so clients configured that way still work.
fn collapse_slashes(mut req: Request) -> Request {
    let path = req.uri().path();
    if !path.contains("//") {
        return req;
    }
    let mut collapsed = String::with_capacity(path.len());
    for c in path.chars() {
        if !(c == '/' && collapsed.ends_with('/')) {
            collapsed.push(c);
        }
    }
    let with_query = match req.uri().query() {
        Some(q) => format!("{collapsed}?{q}"),
        None => collapsed,
    };
    if let Ok(pq) = with_query.parse::<axum::http::uri::PathAndQuery>() {
        let mut parts = req.uri().clone().into_parts();
        parts.path_and_query = Some(pq);
        if let Ok(uri) = axum::http::Uri::from_parts(parts) {
            *req.uri_mut() = uri;
        }
    }
    req
}

pub fn router(app: Firebreak) -> Router {
    let (router, _) = api().split_for_parts();
    let doc = openapi::Served::new(app.config.clone());
    let api = router
        .merge(ingest::router())
        .merge(web::router())
        .route(
            "/ack/{token}",
            axum::routing::get(ack::show).post(ack::acknowledge),
        )
        .route("/ical/{token}", axum::routing::get(calendar::feed))
        .route(
            "/metrics",
            axum::routing::get(crate::metrics::scrape_signed),
        )
        .fallback(system::not_found)
        .method_not_allowed_fallback(system::method_not_allowed)
        .layer(axum::middleware::from_fn_with_state(
            Arc::new(routes::streams::StreamSlots::default()),
            routes::streams::limit_streams,
        ))
        .layer(axum::middleware::from_fn(refuse_nul))
        .layer(axum::middleware::map_response(problem::as_problem))
        .layer(axum::Extension(doc))
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .layer(CatchPanicLayer::custom(|_| {
            tracing::error!("a request handler panicked");
            ApiError::internal().into_response()
        }))
        .layer(
            // Logs the route template, never the raw path or headers, so secrets in either stay out of logs.
            TraceLayer::new_for_http().make_span_with(|req: &Request| {
                let route = req
                    .extensions()
                    .get::<MatchedPath>()
                    .map(|p| p.as_str().to_owned())
                    .unwrap_or_else(|| "unmatched".into());
                tracing::info_span!("request", method = %req.method(), route)
            }),
        );
    // The public page is the hottest path and reads nothing from the request but its path:
    // it goes around the API's request tracing and query checks, with its own light layers.
    Router::new()
        .nest("/status", public_routes("/status"))
        .merge(api)
        .layer(axum::middleware::from_fn(crate::metrics::track))
        .with_state(app)
}

/// The public page's routes (HTML, feeds, stylesheet and JSON), for links that start with
/// `base`.
fn public_routes(base: &'static str) -> Router<Firebreak> {
    public_status::json_routes()
        .merge(public_page::page_routes(base))
        .layer(axum::middleware::map_response(problem::as_problem))
        .layer(DefaultBodyLimit::max(PUBLIC_BODY_LIMIT))
        .layer(CatchPanicLayer::custom(|_| {
            tracing::error!("a status page handler panicked");
            ApiError::internal().into_response()
        }))
}

/// The largest body a public route takes: the subscribe form.
const PUBLIC_BODY_LIMIT: usize = 16 * 1024;

/// The status page's own listener (`status_page.listen`): the public page's routes and
/// nothing else, so it can face the internet while the API stays private. The JSON is at the
/// host root (`/api/v2/summary.json`, where Statuspage's embed script and exporters look) and
/// under `/status` too.
pub fn status_router(app: Firebreak) -> Router {
    Router::new()
        .merge(public_routes(""))
        .nest("/status", public_routes("/status"))
        .fallback(system::not_found)
        .method_not_allowed_fallback(system::method_not_allowed)
        .layer(axum::middleware::map_response(problem::as_problem))
        .layer(axum::middleware::from_fn(crate::metrics::track))
        .with_state(app)
}

/// The metrics' own listener (`metrics.listen`): `/metrics` without a token, and nothing
/// else, so Prometheus can scrape it from a private network without holding a token.
pub fn metrics_router(app: Firebreak) -> Router {
    Router::new()
        .route("/metrics", axum::routing::get(crate::metrics::scrape))
        .fallback(system::not_found)
        .method_not_allowed_fallback(system::method_not_allowed)
        .layer(axum::middleware::map_response(problem::as_problem))
        .layer(axum::middleware::from_fn(crate::metrics::track))
        .with_state(app)
}

/// Serves the metrics' own listener until `shutdown` is cancelled.
pub async fn serve_metrics(
    listener: TcpListener,
    app: Firebreak,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    serve_router(plain(listener), metrics_router(app), shutdown, false).await
}

/// Serves the status page's own listener until `shutdown` is cancelled.
pub async fn serve_status(
    listener: TcpListener,
    app: Firebreak,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    serve_router(plain(listener), status_router(app), shutdown, false).await
}

/// Serves until `shutdown` is cancelled, then lets in-flight requests finish (up to 30 s).
pub async fn serve(
    listener: TcpListener,
    app: Firebreak,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    end_streams_on(&app, &shutdown);
    serve_router(plain(listener), router(app), shutdown, false).await
}

/// Plain TCP connections, each sending its writes at once (see [`no_delay`]).
fn plain(listener: TcpListener) -> impl axum::serve::Listener<Addr = SocketAddr> {
    listener.tap_io(|s| no_delay(s))
}

/// Sends each write at once. With Nagle's algorithm on, the tail of an answer that did not
/// leave in one write waits for the client's acknowledgement of the first part, which a
/// client may delay by 40 ms: a fast answer then arrives 40 ms late.
pub(crate) fn no_delay(stream: &TcpStream) {
    if let Err(e) = stream.set_nodelay(true) {
        tracing::debug!(error = %e, "could not set TCP_NODELAY on a connection");
    }
}

/// Event streams never end by themselves: when the server stops, they end, so the requests in
/// flight can finish.
fn end_streams_on(app: &Firebreak, shutdown: &CancellationToken) {
    let (streams, shutdown) = (app.streams.clone(), shutdown.clone());
    tokio::spawn(async move {
        shutdown.cancelled().await;
        streams.cancel();
    });
}

/// [`serve`] over HTTPS with `certificate`, which is reloaded when its files change. Every
/// request carries the [`Tls`] marker.
pub async fn serve_tls(
    listener: TcpListener,
    app: Firebreak,
    certificate: tls::Certificate,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    let config = certificate.server_config().map_err(std::io::Error::other)?;
    let listener = tls::TlsListener::new(listener, config)?;
    let watching = tokio::spawn(certificate.keep_fresh(shutdown.clone()));
    end_streams_on(&app, &shutdown);
    let served = serve_router(listener, router(app), shutdown, true).await;
    watching.abort();
    served
}

/// How long a client may take to send a request's head. hyper enforces it only when given a
/// timer, which `axum::serve` does not give it: without one, a client that sends its headers a
/// byte at a time holds a connection (and a task) for as long as it likes, and enough of them
/// exhaust the server.
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);

/// How long in-flight requests may take to finish once the server is stopping.
const DRAIN: Duration = Duration::from_secs(30);

async fn serve_router<L>(
    mut listener: L,
    router: Router,
    shutdown: CancellationToken,
    tls: bool,
) -> std::io::Result<()>
where
    L: axum::serve::Listener<Addr = SocketAddr>,
{
    // Slashes are collapsed around the router, so routing sees the cleaned path.
    let service = tower::ServiceBuilder::new()
        .map_request(collapse_slashes)
        .map_request(move |mut req: Request| {
            if tls {
                req.extensions_mut().insert(Tls);
            }
            req
        })
        .service(router);
    let connections = tokio_util::task::TaskTracker::new();
    loop {
        let (io, peer) = tokio::select! {
            () = shutdown.cancelled() => break,
            accepted = listener.accept() => accepted,
        };
        let service = service.clone();
        let shutdown = shutdown.clone();
        connections.spawn(async move {
            // Each request carries the peer's address, as `ConnectInfo<SocketAddr>`.
            let service =
                hyper::service::service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                    let mut req = req.map(axum::body::Body::new);
                    req.extensions_mut()
                        .insert(axum::extract::ConnectInfo(peer));
                    tower::ServiceExt::oneshot(service.clone(), req)
                });
            let mut http = hyper::server::conn::http1::Builder::new();
            http.timer(hyper_util::rt::TokioTimer::new())
                .header_read_timeout(HEADER_READ_TIMEOUT);
            let connection = http
                .serve_connection(hyper_util::rt::TokioIo::new(io), service)
                .with_upgrades();
            let mut connection = std::pin::pin!(connection);
            tokio::select! {
                served = connection.as_mut() => {
                    if let Err(e) = served {
                        tracing::trace!(%peer, error = %e, "connection ended with an error");
                    }
                }
                () = shutdown.cancelled() => {
                    // Finish the request in flight, take no new one.
                    connection.as_mut().graceful_shutdown();
                    let _ = connection.await;
                }
            }
        });
    }
    connections.close();
    if tokio::time::timeout(DRAIN, connections.wait())
        .await
        .is_err()
    {
        tracing::warn!("in-flight requests did not finish within 30 s; stopping anyway");
    }
    Ok(())
}
