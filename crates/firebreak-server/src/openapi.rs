//! The OpenAPI document. utoipa builds it from the handlers; this module completes it in one
//! place with what operations share, so a new route is documented like the others without
//! anyone remembering to:
//!
//! - every error answer is `application/problem+json` with the `Problem` schema;
//! - an operation with a token (its `security` names the role it needs) can answer 401, 500 and
//!   503 (with `Retry-After`), and 403 when it needs more than a viewer;
//! - an operation with a request body can answer 400 (not JSON), 413 (over 1 MB) and 422;
//! - an operation with query parameters can answer 422 naming the parameter.
//!
//! Answers that depend on the route (404, 409) are declared by the handler. The severities and
//! time zones a server accepts come from its configuration and its time zone database, so
//! [`for_server`] writes them into the document it serves.

use std::sync::{Arc, OnceLock};

use axum::body::Bytes;
use serde_json::{Map, Value, json};
use utoipa::OpenApi;

use crate::fields::{
    AlertState, IdCursor, IncidentId, IncidentStatus, Limit, NameText, SeverityName,
};
use crate::problem::Problem;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Firebreak API",
        description = "Incident response: declare, run and resolve incidents.\n\n\
            Every error is `application/problem+json`. A field that breaks the rules written here \
            is a 422 naming it; a body that is not JSON is a 400. No text may hold the NUL \
            character (U+0000). Rules that depend on stored objects or on the time now (a \
            service that must exist, an end that must be in the future) are also 422s and are \
            described on their fields."
    ),
    modifiers(&BearerAuth),
    security(("bearer" = [])),
    // Types that only parameters use are not collected with the bodies.
    components(schemas(
        Problem, IncidentId, NameText, Limit, IdCursor, AlertState, IncidentStatus, SeverityName
    ))
)]
pub(crate) struct ApiDoc;

struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "An API token (`fbt_...`). Each operation's requirement names the least \
                         role it needs: viewer, responder or admin.",
                    ))
                    .build(),
            ),
        );
    }
}

const PROBLEM_JSON: &str = "application/problem+json";
const METHODS: [&str; 5] = ["get", "put", "post", "patch", "delete"];

fn problem(description: &str) -> Value {
    json!({
        "description": description,
        "content": {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}}
    })
}

/// The shared error answers, by status, as `components.responses` entries.
fn shared_responses() -> Vec<(&'static str, &'static str, Value)> {
    let mut unauthorized = problem("No token, or a token that is unknown, revoked or expired.");
    unauthorized["headers"] = json!({
        "WWW-Authenticate": {"schema": {"type": "string"}, "description": "`Bearer realm=\"firebreak\"`"}
    });
    let mut unavailable = problem(
        "The database cannot be reached or is overloaded; nothing was changed. Retry after \
         `Retry-After` seconds.",
    );
    unavailable["headers"] = json!({
        "Retry-After": {"schema": {"type": "integer", "minimum": 0}, "description": "Seconds to wait before retrying."}
    });
    vec![
        (
            "400",
            "MalformedBody",
            problem("The body is not JSON (or could not be read)."),
        ),
        ("401", "Unauthorized", unauthorized),
        (
            "403",
            "Forbidden",
            problem("The token's role is lower than the operation needs."),
        ),
        (
            "413",
            "BodyTooLarge",
            problem("The body is larger than 1 MB."),
        ),
        (
            "422",
            "InvalidField",
            problem("A field or parameter breaks its rules; `errors` names it."),
        ),
        (
            "500",
            "InternalError",
            problem("Firebreak failed; the server log has the cause."),
        ),
        ("503", "Unavailable", unavailable),
    ]
}

/// The document for every route, completed as this module describes, without a server's
/// configuration.
pub fn document() -> Value {
    let (_, doc) = crate::api().split_for_parts();
    let mut doc = serde_json::to_value(&doc).unwrap_or_default();
    complete(&mut doc);
    doc
}

/// The document a running server serves, built on its first request and kept as bytes.
/// Most servers are never asked for it, and building it walks every route's and body's
/// description (about 280 KB of JSON), so an idle server does not hold or build it.
#[derive(Clone)]
pub struct Served {
    config: Arc<firebreak_domain::Config>,
    doc: Arc<OnceLock<Bytes>>,
}

impl Served {
    pub fn new(config: Arc<firebreak_domain::Config>) -> Self {
        Self {
            config,
            doc: Arc::default(),
        }
    }

    /// The document as JSON bytes, built the first time it is asked for.
    pub fn bytes(&self) -> Bytes {
        self.doc
            .get_or_init(|| {
                Bytes::from(serde_json::to_vec(&for_server(&self.config)).unwrap_or_default())
            })
            .clone()
    }
}

/// The document a server serves: [`document`] with the severities it is configured with.
pub fn for_server(config: &firebreak_domain::Config) -> Value {
    let mut doc = document();
    let names: Vec<Value> = config
        .severities
        .iter()
        .map(|s| Value::String(s.name.clone()))
        .collect();
    if let Some(schema) = doc.pointer_mut("/components/schemas/Severity") {
        *schema = json!({
            "type": "string",
            "enum": names,
            "description": "A severity configured on this server (`severities:` in firebreak.yaml)."
        });
    }
    doc
}

/// A field that is present and not null: what `Option` reads as `Some`.
fn given(field: &str) -> Value {
    json!({"required": [field], "properties": {field: {"not": {"type": "null"}}}})
}

/// Rules between the fields of a body, which utoipa's derive cannot write, by schema name.
/// Each names the code that enforces it.
fn cross_field_rules() -> Vec<(&'static str, Value)> {
    vec![
        // routes::alerts::create_silence
        (
            "SilenceRequest",
            json!({"oneOf": [given("ends_at"), given("duration")]}),
        ),
        // firebreak_engine::incidents::patch
        (
            "PatchRequest",
            json!({"if": given("reason"), "then": given("severity")}),
        ),
        // firebreak_engine::alerts::create_route
        (
            "RouteRequest",
            json!({
                "if": {"required": ["drop"], "properties": {"drop": {"const": true}}},
                "then": {"properties": {
                    "service": {"type": "null"},
                    "severity": {"type": "null"},
                    "urgency": {"type": "null"}
                }}
            }),
        ),
    ]
}

fn complete(doc: &mut Value) {
    for (name, rule) in cross_field_rules() {
        if let Some(Value::Object(schema)) = doc.pointer_mut(&format!("/components/schemas/{name}"))
            && let Value::Object(rule) = rule
        {
            schema.extend(rule);
        }
    }
    let shared = shared_responses();
    let components = doc
        .as_object_mut()
        .map(|d| d.entry("components").or_insert_with(|| json!({})));
    if let Some(Value::Object(components)) = components {
        let responses = components
            .entry("responses")
            .or_insert_with(|| json!({}))
            .as_object_mut();
        if let Some(responses) = responses {
            for (_, name, response) in &shared {
                responses.insert(name.to_string(), response.clone());
            }
        }
    }
    let global_security = doc.get("security").cloned().unwrap_or(json!([]));
    let Some(paths) = doc.get_mut("paths").and_then(Value::as_object_mut) else {
        return;
    };
    for item in paths.values_mut() {
        for method in METHODS {
            if let Some(Value::Object(op)) = item.get_mut(method) {
                complete_operation(op, &global_security, &shared);
            }
        }
    }
}

/// The least role an operation's security requirement names, or `None` when it needs no token.
fn required_role(op: &Map<String, Value>, global: &Value) -> Option<String> {
    let security = op.get("security").unwrap_or(global).as_array()?;
    if security.is_empty()
        || security
            .iter()
            .any(|r| r.as_object().is_some_and(|o| o.is_empty()))
    {
        return None;
    }
    let scopes = security
        .iter()
        .find_map(|r| r.get("bearer"))
        .and_then(Value::as_array);
    Some(
        scopes
            .and_then(|s| s.first())
            .and_then(Value::as_str)
            .unwrap_or("viewer")
            .to_string(),
    )
}

fn complete_operation(
    op: &mut Map<String, Value>,
    global_security: &Value,
    shared: &[(&str, &str, Value)],
) {
    let role = required_role(op, global_security);
    let has_body = op.contains_key("requestBody");
    let has_query = op
        .get("parameters")
        .and_then(Value::as_array)
        .is_some_and(|ps| ps.iter().any(|p| p["in"] == "query"));
    let mut statuses: Vec<&str> = vec!["500"];
    if let Some(role) = &role {
        statuses.extend(["401", "503"]);
        if role != "viewer" {
            statuses.push("403");
        }
    }
    if has_body {
        statuses.extend(["400", "413", "422"]);
    }
    if has_query {
        statuses.push("422");
    }
    // A body that may be left out is either sent or not: it is never `null`.
    if let Some(body) = op.get_mut("requestBody")
        && body.get("required") != Some(&Value::Bool(true))
        && let Some(Value::Object(content)) = body.get_mut("content")
    {
        for media in content.values_mut() {
            if let Some(schema) = media.get_mut("schema") {
                not_null(schema);
            }
        }
    }
    if let Some(Value::Array(params)) = op.get_mut("parameters") {
        for p in params.iter_mut() {
            if let Some(schema) = p.get_mut("schema") {
                not_null(schema);
            }
        }
    }
    let responses = op
        .entry("responses")
        .or_insert_with(|| json!({}))
        .as_object_mut();
    let Some(responses) = responses else { return };
    for status in statuses {
        if responses.contains_key(status) {
            continue;
        }
        if let Some((_, name, _)) = shared.iter().find(|(s, _, _)| *s == status) {
            responses.insert(
                status.to_string(),
                json!({"$ref": format!("#/components/responses/{name}")}),
            );
        }
    }
    // Errors a handler declared itself are problems too.
    for (status, response) in responses.iter_mut() {
        if !(status.starts_with('4') || status.starts_with('5')) {
            continue;
        }
        if let Some(Value::Object(content)) = response.get_mut("content")
            && let Some(json_body) = content.remove("application/json")
        {
            content.insert(PROBLEM_JSON.to_string(), json_body);
        }
    }
    // Every answer has a description, as OpenAPI requires.
    for (status, response) in responses.iter_mut() {
        let Value::Object(r) = response else { continue };
        if r.contains_key("$ref")
            || r.get("description")
                .and_then(Value::as_str)
                .is_some_and(|d| !d.is_empty())
        {
            continue;
        }
        let description = shared
            .iter()
            .find(|(s, _, _)| s == status)
            .and_then(|(_, _, shared)| shared["description"].as_str().map(str::to_string))
            .or_else(|| {
                status
                    .parse::<u16>()
                    .ok()
                    .and_then(|s| axum::http::StatusCode::from_u16(s).ok())
                    .and_then(|s| s.canonical_reason())
                    .map(str::to_string)
            })
            .unwrap_or_else(|| status.clone());
        r.insert("description".into(), Value::String(description));
    }
}

/// A parameter is either sent or not: its schema does not admit `null`.
fn not_null(schema: &mut Value) {
    if let Some(Value::Array(types)) = schema.get_mut("type") {
        types.retain(|t| t != "null");
        if types.len() == 1 {
            let only = types[0].clone();
            schema["type"] = only;
        }
    }
    let one_of = schema
        .get("oneOf")
        .and_then(Value::as_array)
        .map(|branches| {
            branches
                .iter()
                .filter(|b| b.get("type") != Some(&json!("null")))
                .cloned()
                .collect::<Vec<_>>()
        });
    if let Some(rest) = one_of
        && rest.len() == 1
    {
        *schema = rest[0].clone();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn operations(doc: &Value) -> Vec<(String, String, Value)> {
        let mut out = vec![];
        for (path, item) in doc["paths"].as_object().unwrap() {
            for m in METHODS {
                if let Some(op) = item.get(m) {
                    out.push((m.to_string(), path.clone(), op.clone()));
                }
            }
        }
        out
    }

    #[test]
    fn every_operation_with_a_token_documents_401_and_503_and_errors_are_problems() {
        let doc = document();
        for (method, path, op) in operations(&doc) {
            let responses = op["responses"].as_object().unwrap();
            // Heartbeat pings take the key in the path, no token, and need the database.
            let ping = path.starts_with("/api/v1/heartbeats/{id}") && method != "delete";
            let public = path == "/healthz" || path == "/readyz" || ping;
            for status in ["401", "503"] {
                assert_eq!(
                    responses.contains_key(status),
                    !public || (status == "503" && (path == "/readyz" || ping)),
                    "{method} {path} {status}"
                );
            }
            for (status, r) in responses {
                if status.starts_with('4') || status.starts_with('5') {
                    assert!(
                        r.get("$ref").is_some() || r["content"].get(PROBLEM_JSON).is_some(),
                        "{method} {path} {status}: {r}"
                    );
                }
            }
            if op.get("requestBody").is_some() {
                for status in ["400", "413", "422"] {
                    assert!(responses.contains_key(status), "{method} {path} {status}");
                }
            }
            if path.contains('{') {
                assert!(responses.contains_key("404"), "{method} {path} 404");
            }
        }
    }

    #[test]
    fn every_operation_with_a_token_names_its_role() {
        let doc = document();
        for (method, path, op) in operations(&doc) {
            // Heartbeat pings carry the heartbeat's key in the path instead of a token.
            let ping = path.starts_with("/api/v1/heartbeats/{id}") && method != "delete";
            if path == "/healthz" || path == "/readyz" || ping {
                assert_eq!(op["security"], json!([{}]), "{method} {path}");
                continue;
            }
            let role = op["security"][0]["bearer"][0].as_str();
            assert!(
                matches!(role, Some("viewer" | "responder" | "admin")),
                "{method} {path} names no role: {}",
                op["security"]
            );
        }
    }

    #[test]
    fn parameters_are_never_null_and_query_parameters_are_in_the_query() {
        let doc = document();
        for (method, path, op) in operations(&doc) {
            for p in op["parameters"].as_array().into_iter().flatten() {
                let text = p["schema"].to_string();
                assert!(!text.contains("\"null\""), "{method} {path}: {p}");
                if p["in"] == "path" {
                    assert!(
                        path.contains(&format!("{{{}}}", p["name"].as_str().unwrap())),
                        "{method} {path}: {p}"
                    );
                }
            }
        }
    }

    #[test]
    fn cross_field_rules_land_on_their_schemas() {
        let doc = document();
        for (name, rule) in cross_field_rules() {
            let schema = &doc["components"]["schemas"][name];
            for key in rule.as_object().unwrap().keys() {
                assert!(schema.get(key).is_some(), "{name} lacks {key}");
            }
        }
    }

    #[test]
    fn every_reference_resolves() {
        fn refs(v: &Value, out: &mut Vec<String>) {
            match v {
                Value::Object(m) => {
                    if let Some(Value::String(r)) = m.get("$ref") {
                        out.push(r.clone());
                    }
                    m.values().for_each(|v| refs(v, out));
                }
                Value::Array(a) => a.iter().for_each(|v| refs(v, out)),
                _ => {}
            }
        }
        let doc = document();
        let mut all = vec![];
        refs(&doc, &mut all);
        for r in all {
            let pointer = r.trim_start_matches('#');
            assert!(doc.pointer(pointer).is_some(), "{r} does not resolve");
        }
    }

    #[test]
    fn the_served_document_lists_the_configured_severities() {
        let doc = for_server(&firebreak_domain::Config::default());
        assert_eq!(
            doc["components"]["schemas"]["Severity"]["enum"],
            json!(["SEV1", "SEV2", "SEV3"])
        );
    }
}
