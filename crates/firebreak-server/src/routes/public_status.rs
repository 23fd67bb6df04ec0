//! The public status page's JSON, in Atlassian Statuspage's v2 shapes, so the widgets,
//! exporters and pollers that read Statuspage read Firebreak unchanged. No token: these are
//! public. Served under `/status/api/v2/` on the main listener, and at `/api/v2/` on the
//! status page's own listener.
//!
//! Every answer comes from the engine's snapshot, rendered once per snapshot and kept as
//! bytes with an `ETag`; `If-None-Match` gets a 304. Rules real clients depend on: times
//! always have milliseconds; `status`, `impact` and `name` are never null; every incident has
//! at least one update, newest first; groups are components with `group: true`.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use firebreak_domain::status_page::{MaintenancePhase, PublicMaintenance};
use firebreak_engine::Firebreak;
use firebreak_engine::status_page::{ComponentView, GroupView, IncidentView, StatusView};
use jiff::Timestamp;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::problem::ApiError;

/// The JSON documents, by path under `api/v2/`.
const DOCUMENTS: [&str; 9] = [
    "summary.json",
    "status.json",
    "components.json",
    "incidents.json",
    "incidents/unresolved.json",
    "incidents/resolved.json",
    "scheduled-maintenances.json",
    "scheduled-maintenances/upcoming.json",
    "scheduled-maintenances/active.json",
];

/// How long clients and caches may keep an answer.
const CACHE_CONTROL: &str = "public, max-age=10";

/// One snapshot's documents, rendered.
struct Rendered {
    generation: u64,
    documents: HashMap<&'static str, (Bytes, HeaderValue)>,
}

/// The rendered documents of the latest snapshot.
#[derive(Clone, Default)]
pub struct PublicCache(Arc<RwLock<Option<Arc<Rendered>>>>);

impl PublicCache {
    fn get(&self, view: &StatusView) -> Arc<Rendered> {
        if let Some(r) = self.0.read().expect("public cache lock").as_ref()
            && r.generation == view.generation
        {
            return r.clone();
        }
        let mut slot = self.0.write().expect("public cache lock");
        if let Some(r) = slot.as_ref()
            && r.generation == view.generation
        {
            return r.clone();
        }
        let rendered = Arc::new(render_all(view));
        *slot = Some(rendered.clone());
        rendered
    }
}

/// The JSON routes, relative to where they are mounted (`/api/v2/...`).
pub fn json_routes() -> Router<Firebreak> {
    let cache = PublicCache::default();
    let mut router = Router::new();
    for doc in DOCUMENTS {
        let cache = cache.clone();
        router = router.route(
            &format!("/api/v2/{doc}"),
            get(move |State(app): State<Firebreak>, req: Request| {
                let cache = cache.clone();
                async move { serve(app, cache, doc, req.headers()).await }
            }),
        );
    }
    router
}

async fn serve(
    app: Firebreak,
    cache: PublicCache,
    doc: &'static str,
    headers: &HeaderMap,
) -> Response {
    let view = match app.status_view().await {
        Ok(v) => v,
        Err(e) => return ApiError::from(e).into_response(),
    };
    let rendered = cache.get(&view);
    let Some((body, etag)) = rendered.documents.get(doc).cloned() else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let matches = headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|t| {
            let t = t.trim();
            t == "*" || t.trim_start_matches("W/") == etag.to_str().unwrap_or_default()
        });
    let mut response = if matches {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        (StatusCode::OK, body).into_response()
    };
    let h = response.headers_mut();
    if !matches {
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json; charset=utf-8"),
        );
    }
    h.insert(header::ETAG, etag);
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static(CACHE_CONTROL),
    );
    h.insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    h.insert(
        header::ACCESS_CONTROL_EXPOSE_HEADERS,
        HeaderValue::from_static("ETag"),
    );
    h.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    response
}

/// An instant as Statuspage writes it: UTC, always with milliseconds.
pub fn time(t: Timestamp) -> String {
    let ms = t.as_millisecond();
    let secs = Timestamp::from_second(ms.div_euclid(1000)).unwrap_or(t);
    format!(
        "{}.{:03}Z",
        secs.strftime("%Y-%m-%dT%H:%M:%S"),
        ms.rem_euclid(1000)
    )
}

fn opt_time(t: Option<Timestamp>) -> Value {
    t.map(|t| Value::String(time(t))).unwrap_or(Value::Null)
}

fn render_all(view: &StatusView) -> Rendered {
    let page = page(view);
    let components = components(view);
    let by_id: HashMap<&str, &ComponentView> = view
        .components
        .iter()
        .map(|c| (c.component.id.as_str(), c))
        .collect();
    let incident = |i: &IncidentView| incident(view, i, &by_id);
    let all: Vec<Value> = view.incidents.iter().take(50).map(incident).collect();
    let unresolved: Vec<Value> = view
        .incidents
        .iter()
        .filter(|i| i.unresolved)
        .map(incident)
        .collect();
    let resolved: Vec<Value> = view
        .incidents
        .iter()
        .filter(|i| !i.unresolved)
        .take(50)
        .map(incident)
        .collect();
    let now = view.built_at;
    let maintenance = |m: &PublicMaintenance| maintenance(view, m, &by_id);
    let phase = |p: MaintenancePhase| {
        view.maintenances
            .iter()
            .filter(|m| m.phase(now) == p)
            .map(maintenance)
            .collect::<Vec<_>>()
    };
    let upcoming = phase(MaintenancePhase::Scheduled);
    let active = phase(MaintenancePhase::InProgress);
    let all_maintenance: Vec<Value> = view.maintenances.iter().map(maintenance).collect();
    let status = json!({"indicator": view.indicator.as_str(), "description": view.description});
    let mut summary_maintenance = active.clone();
    summary_maintenance.extend(upcoming.iter().cloned());
    let docs: [(&'static str, Value); 9] = [
        (
            "summary.json",
            json!({"page": page, "status": status, "components": components,
                   "incidents": unresolved, "scheduled_maintenances": summary_maintenance}),
        ),
        ("status.json", json!({"page": page, "status": status})),
        (
            "components.json",
            json!({"page": page, "components": components}),
        ),
        ("incidents.json", json!({"page": page, "incidents": all})),
        (
            "incidents/unresolved.json",
            json!({"page": page, "incidents": unresolved}),
        ),
        (
            "incidents/resolved.json",
            json!({"page": page, "incidents": resolved}),
        ),
        (
            "scheduled-maintenances.json",
            json!({"page": page, "scheduled_maintenances": all_maintenance}),
        ),
        (
            "scheduled-maintenances/upcoming.json",
            json!({"page": page, "scheduled_maintenances": upcoming}),
        ),
        (
            "scheduled-maintenances/active.json",
            json!({"page": page, "scheduled_maintenances": active}),
        ),
    ];
    let documents = docs
        .into_iter()
        .map(|(name, value)| {
            let bytes = serde_json::to_vec(&value).expect("JSON values always serialise");
            let digest = Sha256::digest(&bytes);
            let etag = HeaderValue::from_str(&format!("\"{}\"", hex::encode(&digest[..12])))
                .expect("hex is a valid header value");
            (name, (Bytes::from(bytes), etag))
        })
        .collect();
    Rendered {
        generation: view.generation,
        documents,
    }
}

fn page(view: &StatusView) -> Value {
    json!({
        "id": view.page.id,
        "name": view.page.name,
        "url": view.page.url,
        "time_zone": view.page.time_zone,
        "updated_at": time(view.page.updated_at),
    })
}

fn component(view: &StatusView, c: &ComponentView, position: u32) -> Value {
    let x = &c.component;
    json!({
        "id": x.id,
        "name": x.name,
        "status": c.status.as_str(),
        "created_at": time(x.created_at),
        // When what it shows last changed, derived status included: pollers diff on it.
        "updated_at": time(c.updated_at),
        "position": position,
        "description": x.description,
        "showcase": true,
        "start_date": x.created_at.strftime("%Y-%m-%d").to_string(),
        "group_id": c.group_id,
        "page_id": view.page.id,
        "group": false,
        "only_show_if_degraded": false,
    })
}

fn group(view: &StatusView, g: &GroupView, position: u32) -> Value {
    json!({
        "id": g.id,
        "name": g.name,
        "status": g.status.as_str(),
        "created_at": time(g.created_at),
        "updated_at": time(g.updated_at),
        "position": position,
        "description": null,
        "showcase": false,
        "start_date": null,
        "group_id": null,
        "page_id": view.page.id,
        "group": true,
        "only_show_if_degraded": false,
        "components": g.members,
    })
}

/// Every component and group in page order: a group where its first member stands, then its
/// members (numbered within the group).
fn components(view: &StatusView) -> Vec<Value> {
    let mut out = Vec::new();
    let mut top = 0;
    let mut shown_groups: Vec<&str> = Vec::new();
    for c in &view.components {
        match &c.group_id {
            None => {
                top += 1;
                out.push(component(view, c, top));
            }
            Some(gid) if !shown_groups.contains(&gid.as_str()) => {
                shown_groups.push(gid);
                let Some(g) = view.groups.iter().find(|g| &g.id == gid) else {
                    continue;
                };
                top += 1;
                out.push(group(view, g, top));
                for (i, member) in view
                    .components
                    .iter()
                    .filter(|m| m.group_id.as_deref() == Some(gid))
                    .enumerate()
                {
                    out.push(component(view, member, i as u32 + 1));
                }
            }
            Some(_) => {}
        }
    }
    out
}

fn position_of(view: &StatusView, id: &str) -> u32 {
    let Some(c) = view.component(id) else {
        return 1;
    };
    match &c.group_id {
        Some(g) => view
            .components
            .iter()
            .filter(|m| m.group_id.as_ref() == Some(g))
            .position(|m| m.component.id == id)
            .map(|p| p as u32 + 1)
            .unwrap_or(1),
        None => view
            .components
            .iter()
            .filter(|m| m.group_id.is_none())
            .position(|m| m.component.id == id)
            .map(|p| p as u32 + 1)
            .unwrap_or(1),
    }
}

fn incident(view: &StatusView, i: &IncidentView, by_id: &HashMap<&str, &ComponentView>) -> Value {
    let updates: Vec<Value> = i
        .updates
        .iter()
        .map(|u| {
            let affected = u.affected.as_ref().map(|list| {
                list.iter()
                    .map(|a| {
                        json!({"code": a.id, "name": a.name,
                               "old_status": a.old_status.as_str(), "new_status": a.new_status.as_str()})
                    })
                    .collect::<Vec<_>>()
            });
            json!({
                "id": u.id,
                "status": u.status.as_str(),
                "body": u.body,
                "incident_id": i.id,
                "created_at": time(u.at),
                "updated_at": time(u.at),
                "display_at": time(u.at),
                "affected_components": affected,
                "deliver_notifications": u.notify,
                "custom_tweet": null,
                "tweet_id": null,
            })
        })
        .collect();
    let components: Vec<Value> = i
        .components
        .iter()
        .filter_map(|id| by_id.get(id.as_str()))
        .map(|c| component(view, c, position_of(view, &c.component.id)))
        .collect();
    json!({
        "id": i.id,
        "name": i.name,
        "status": i.status.as_str(),
        "created_at": time(i.created_at),
        "updated_at": time(i.updated_at),
        "monitoring_at": opt_time(i.monitoring_at),
        "resolved_at": opt_time(i.resolved_at),
        "impact": i.impact.as_str(),
        "shortlink": format!("{}/incidents/{}", view.page.url, i.id),
        "started_at": time(i.started_at),
        "page_id": view.page.id,
        "incident_updates": updates,
        "components": components,
    })
}

fn maintenance(
    view: &StatusView,
    m: &PublicMaintenance,
    by_id: &HashMap<&str, &ComponentView>,
) -> Value {
    let id = view.ids.maintenance(m.id);
    let status = m.phase(view.built_at).as_str();
    let components: Vec<&ComponentView> = view
        .components
        .iter()
        .filter(|c| m.components.contains(&c.component.name))
        .collect();
    let _ = by_id;
    let body = if m.body.trim().is_empty() {
        format!("Scheduled maintenance: {}.", m.name)
    } else {
        m.body.clone()
    };
    json!({
        "id": id,
        "name": m.name,
        "status": status,
        "created_at": time(m.created_at),
        // It moves on as the maintenance goes scheduled, in progress, completed.
        "updated_at": time(m.updated_at(view.built_at)),
        "monitoring_at": null,
        "resolved_at": if status == "completed" { Value::String(time(m.ends_at)) } else { Value::Null },
        "impact": "maintenance",
        // Maintenance has no page of its own: the link is the status page.
        "shortlink": view.page.url.clone(),
        "started_at": time(m.created_at),
        "page_id": view.page.id,
        "incident_updates": [{
            "id": view.ids.maintenance_update(m.id),
            "status": "scheduled",
            "body": body,
            "incident_id": id,
            "created_at": time(m.created_at),
            "updated_at": time(m.created_at),
            "display_at": time(m.created_at),
            "affected_components": components.iter().map(|c| json!({
                "code": c.component.id, "name": c.component.name,
                "old_status": "operational", "new_status": "operational"})).collect::<Vec<_>>(),
            "deliver_notifications": true,
            "custom_tweet": null,
            "tweet_id": null,
        }],
        "components": components.iter().map(|c| component(view, c, position_of(view, &c.component.id))).collect::<Vec<_>>(),
        "scheduled_for": time(m.starts_at),
        "scheduled_until": time(m.ends_at),
    })
}
