//! Walks every route with no token and with each role, and checks the answers against one
//! table. Also checks that the OpenAPI document lists exactly the routes in the table.

mod common;

use std::collections::BTreeSet;

use common::spawn;
use reqwest::Method;
use serde_json::{Value, json};

#[derive(Clone, Copy, PartialEq, PartialOrd)]
enum Needs {
    Nobody,
    Viewer,
    Responder,
    Admin,
    /// An admin, or the user the path names (`val`, the viewer's user): a user's own contact
    /// methods and calendar feed.
    OwnerOrAdmin,
}

struct Route {
    method: Method,
    /// The OpenAPI template.
    template: &'static str,
    /// A concrete path for the walk.
    path: &'static str,
    body: Option<Value>,
    needs: Needs,
}

fn table() -> Vec<Route> {
    use Needs::*;
    let r = |method: Method, template, path, body: Option<Value>, needs| Route {
        method,
        template,
        path,
        body,
        needs,
    };
    vec![
        r(Method::GET, "/healthz", "/healthz", None, Nobody),
        r(Method::GET, "/readyz", "/readyz", None, Nobody),
        r(
            Method::GET,
            "/api/v1/openapi.json",
            "/api/v1/openapi.json",
            None,
            Viewer,
        ),
        r(Method::GET, "/api/v1/me", "/api/v1/me", None, Viewer),
        r(
            Method::GET,
            "/api/v1/config",
            "/api/v1/config",
            None,
            Viewer,
        ),
        r(
            Method::GET,
            "/api/v1/incidents",
            "/api/v1/incidents",
            None,
            Viewer,
        ),
        r(
            Method::POST,
            "/api/v1/incidents",
            "/api/v1/incidents",
            Some(json!({"title": "t", "severity": "SEV3"})),
            Responder,
        ),
        r(
            Method::GET,
            "/api/v1/incidents/{id}",
            "/api/v1/incidents/INC-1",
            None,
            Viewer,
        ),
        r(
            Method::PATCH,
            "/api/v1/incidents/{id}",
            "/api/v1/incidents/INC-1",
            Some(json!({"summary": "s"})),
            Responder,
        ),
        r(
            Method::PUT,
            "/api/v1/incidents/{id}/roles/{role}",
            "/api/v1/incidents/INC-1/roles/scribe",
            Some(json!({"user": "bob"})),
            Responder,
        ),
        r(
            Method::DELETE,
            "/api/v1/incidents/{id}/roles/{role}",
            "/api/v1/incidents/INC-1/roles/scribe",
            None,
            Responder,
        ),
        r(
            Method::GET,
            "/api/v1/incidents/{id}/checklist",
            "/api/v1/incidents/INC-1/checklist",
            None,
            Viewer,
        ),
        r(
            Method::PUT,
            "/api/v1/incidents/{id}/checklist/{item}",
            "/api/v1/incidents/INC-1/checklist/1",
            Some(json!({"done": true})),
            Responder,
        ),
        r(
            Method::GET,
            "/api/v1/incidents/{id}/timeline",
            "/api/v1/incidents/INC-1/timeline",
            None,
            Viewer,
        ),
        r(
            Method::GET,
            "/api/v1/incidents/{id}/events",
            "/api/v1/incidents/INC-1/events",
            None,
            Viewer,
        ),
        r(
            Method::GET,
            "/api/v1/events",
            "/api/v1/events",
            None,
            Viewer,
        ),
        r(
            Method::POST,
            "/api/v1/incidents/{id}/notes",
            "/api/v1/incidents/INC-1/notes",
            Some(json!({"body": "n"})),
            Responder,
        ),
        r(
            Method::POST,
            "/api/v1/incidents/{id}/status-updates",
            "/api/v1/incidents/INC-1/status-updates",
            Some(json!({"audience": "internal", "body": "u"})),
            Responder,
        ),
        r(
            Method::GET,
            "/api/v1/incidents/{id}/status-updates",
            "/api/v1/incidents/INC-1/status-updates",
            None,
            Viewer,
        ),
        r(
            Method::GET,
            "/api/v1/status-page/subscribers",
            "/api/v1/status-page/subscribers",
            None,
            Admin,
        ),
        r(
            Method::POST,
            "/api/v1/status-page/subscribers",
            "/api/v1/status-page/subscribers",
            Some(json!({"url": "https://hooks.example.com/status"})),
            Admin,
        ),
        r(
            Method::DELETE,
            "/api/v1/status-page/subscribers/{id}",
            "/api/v1/status-page/subscribers/sub_nope",
            None,
            Admin,
        ),
        r(
            Method::GET,
            "/api/v1/scheduled-maintenances",
            "/api/v1/scheduled-maintenances",
            None,
            Viewer,
        ),
        r(
            Method::POST,
            "/api/v1/scheduled-maintenances",
            "/api/v1/scheduled-maintenances",
            Some(json!({"name": "m", "ends_at": "2026-11-23T04:00:00Z", "components": ["Nope"]})),
            Responder,
        ),
        r(
            Method::DELETE,
            "/api/v1/scheduled-maintenances/{id}",
            "/api/v1/scheduled-maintenances/999",
            None,
            Responder,
        ),
        r(
            Method::GET,
            "/api/v1/status-page/components",
            "/api/v1/status-page/components",
            None,
            Viewer,
        ),
        r(
            Method::POST,
            "/api/v1/status-page/components",
            "/api/v1/status-page/components",
            Some(json!({"name": "Walk"})),
            Admin,
        ),
        r(
            Method::GET,
            "/api/v1/status-page/components/{id}",
            "/api/v1/status-page/components/nope",
            None,
            Viewer,
        ),
        r(
            Method::PATCH,
            "/api/v1/status-page/components/{id}",
            "/api/v1/status-page/components/nope",
            Some(json!({"status": "major_outage"})),
            Responder,
        ),
        r(
            Method::DELETE,
            "/api/v1/status-page/components/{id}",
            "/api/v1/status-page/components/nope",
            None,
            Admin,
        ),
        r(
            Method::GET,
            "/api/v1/services",
            "/api/v1/services",
            None,
            Viewer,
        ),
        r(
            Method::POST,
            "/api/v1/services",
            "/api/v1/services",
            Some(json!({"name": "svc-new"})),
            Admin,
        ),
        r(
            Method::GET,
            "/api/v1/services/{name}",
            "/api/v1/services/checkout",
            None,
            Viewer,
        ),
        r(
            Method::PATCH,
            "/api/v1/services/{name}",
            "/api/v1/services/checkout",
            Some(json!({"team": "t"})),
            Admin,
        ),
        r(
            Method::DELETE,
            "/api/v1/services/{name}",
            "/api/v1/services/doomed",
            None,
            Admin,
        ),
        r(Method::GET, "/api/v1/users", "/api/v1/users", None, Viewer),
        r(
            Method::POST,
            "/api/v1/users",
            "/api/v1/users",
            Some(json!({"handle": "carol", "name": "Carol"})),
            Admin,
        ),
        r(
            Method::GET,
            "/api/v1/users/{handle}",
            "/api/v1/users/admin",
            None,
            Viewer,
        ),
        r(
            Method::PATCH,
            "/api/v1/users/{handle}",
            "/api/v1/users/admin",
            Some(json!({"name": "Admin"})),
            Admin,
        ),
        r(
            Method::POST,
            "/api/v1/users/{handle}/invitations",
            "/api/v1/users/val/invitations",
            None,
            Admin,
        ),
        r(
            Method::PUT,
            "/api/v1/users/{handle}/password",
            "/api/v1/users/val/password",
            Some(json!({"password": "correct horse battery"})),
            OwnerOrAdmin,
        ),
        r(
            Method::DELETE,
            "/api/v1/users/{handle}/sessions",
            "/api/v1/users/val/sessions",
            None,
            OwnerOrAdmin,
        ),
        r(Method::GET, "/api/v1/tokens", "/api/v1/tokens", None, Admin),
        r(
            Method::POST,
            "/api/v1/tokens",
            "/api/v1/tokens",
            Some(json!({"name": "x", "role": "viewer"})),
            Admin,
        ),
        r(
            Method::DELETE,
            "/api/v1/tokens/{id}",
            "/api/v1/tokens/tok_missing",
            None,
            Admin,
        ),
        r(Method::GET, "/api/v1/audit", "/api/v1/audit", None, Admin),
        r(
            Method::POST,
            "/api/v1/runbooks",
            "/api/v1/runbooks",
            Some(json!({"name": "walk-rb", "services": ["nope"], "body": "b"})),
            Admin,
        ),
        r(
            Method::PUT,
            "/api/v1/runbooks/{name}",
            "/api/v1/runbooks/walk-rb",
            Some(json!({"name": "walk-rb", "services": ["nope"], "body": "b"})),
            Admin,
        ),
        r(
            Method::DELETE,
            "/api/v1/runbooks/{name}",
            "/api/v1/runbooks/walk-rb",
            None,
            Admin,
        ),
        r(
            Method::GET,
            "/api/v1/runbooks",
            "/api/v1/runbooks",
            None,
            Viewer,
        ),
        r(
            Method::GET,
            "/api/v1/runbooks/coverage",
            "/api/v1/runbooks/coverage",
            None,
            Viewer,
        ),
        r(
            Method::GET,
            "/api/v1/runbooks/{name}",
            "/api/v1/runbooks/nope",
            None,
            Viewer,
        ),
        r(
            Method::GET,
            "/api/v1/incidents/{id}/runbooks",
            "/api/v1/incidents/INC-1/runbooks",
            None,
            Viewer,
        ),
        r(
            Method::GET,
            "/api/v1/alerts/{id}/runbooks",
            "/api/v1/alerts/999/runbooks",
            None,
            Viewer,
        ),
        r(
            Method::POST,
            "/api/v1/incidents/{id}/actions/{action}/runs",
            "/api/v1/incidents/INC-1/actions/rollback/runs",
            Some(json!({"dry_run": true})),
            Responder,
        ),
        r(
            Method::GET,
            "/api/v1/incidents/{id}/actions/{action}/runs/{run}",
            "/api/v1/incidents/INC-1/actions/rollback/runs/999",
            None,
            Viewer,
        ),
        r(
            Method::POST,
            "/api/v1/incidents/{id}/actions/{action}/runs/{run}/approve",
            "/api/v1/incidents/INC-1/actions/rollback/runs/999/approve",
            None,
            Responder,
        ),
        r(
            Method::GET,
            "/api/v1/incidents/{id}/runs",
            "/api/v1/incidents/INC-1/runs",
            None,
            Viewer,
        ),
        r(
            Method::GET,
            "/api/v1/runs/{run}",
            "/api/v1/runs/999",
            None,
            Viewer,
        ),
        r(
            Method::POST,
            "/api/v1/runs/{run}/approve",
            "/api/v1/runs/999/approve",
            None,
            Responder,
        ),
        r(
            Method::POST,
            "/api/v1/incidents/{id}/commands",
            "/api/v1/incidents/INC-1/commands",
            Some(json!({"argv": ["true"], "exit_code": 0, "duration_ms": 1})),
            Responder,
        ),
        r(
            Method::GET,
            "/api/v1/audit/export",
            "/api/v1/audit/export",
            None,
            Admin,
        ),
        r(
            Method::GET,
            "/api/v1/audit/verify",
            "/api/v1/audit/verify",
            None,
            Admin,
        ),
        r(
            Method::GET,
            "/api/v1/freeze",
            "/api/v1/freeze",
            None,
            Viewer,
        ),
        r(
            Method::GET,
            "/api/v1/freezes",
            "/api/v1/freezes",
            None,
            Viewer,
        ),
        r(
            Method::POST,
            "/api/v1/freezes",
            "/api/v1/freezes",
            Some(json!({"ends_at": "2100-01-01T00:00:00Z", "reason": "launch"})),
            Responder,
        ),
        r(
            Method::DELETE,
            "/api/v1/freezes/{id}",
            "/api/v1/freezes/999",
            None,
            Responder,
        ),
        r(
            Method::POST,
            "/api/v1/freeze/exemptions",
            "/api/v1/freeze/exemptions",
            Some(json!({"incident": "INC-999", "reason": "hotfix"})),
            Responder,
        ),
        // A viewer role is never above anyone's: refused with 422 once allowed, so the walk
        // raises nobody.
        r(
            Method::POST,
            "/api/v1/incidents/{id}/break-glass",
            "/api/v1/incidents/INC-1/break-glass",
            Some(json!({"role": "viewer", "duration": "30m", "reason": "x"})),
            Responder,
        ),
        r(
            Method::GET,
            "/api/v1/incidents/{id}/break-glass",
            "/api/v1/incidents/INC-1/break-glass",
            None,
            Viewer,
        ),
        r(
            Method::GET,
            "/api/v1/break-glass",
            "/api/v1/break-glass",
            None,
            Viewer,
        ),
        r(
            Method::GET,
            "/api/v1/break-glass/{id}",
            "/api/v1/break-glass/999",
            None,
            Viewer,
        ),
        r(
            Method::POST,
            "/api/v1/break-glass/{id}/approve",
            "/api/v1/break-glass/999/approve",
            None,
            Responder,
        ),
        r(
            Method::POST,
            "/api/v1/break-glass/{id}/revoke",
            "/api/v1/break-glass/999/revoke",
            None,
            Viewer,
        ),
        r(
            Method::GET,
            "/api/v1/alerts",
            "/api/v1/alerts",
            None,
            Viewer,
        ),
        r(
            Method::GET,
            "/api/v1/alerts/{id}",
            "/api/v1/alerts/1",
            None,
            Viewer,
        ),
        r(
            Method::POST,
            "/api/v1/alerts/{id}/acknowledge",
            "/api/v1/alerts/1/acknowledge",
            None,
            Responder,
        ),
        r(
            Method::POST,
            "/api/v1/alerts/{id}/resolve",
            "/api/v1/alerts/1/resolve",
            None,
            Responder,
        ),
        r(
            Method::GET,
            "/api/v1/services/{service}/integrations",
            "/api/v1/services/checkout/integrations",
            None,
            Viewer,
        ),
        r(
            Method::POST,
            "/api/v1/services/{service}/integrations",
            "/api/v1/services/checkout/integrations",
            Some(json!({"name": "walk"})),
            Admin,
        ),
        r(
            Method::GET,
            "/api/v1/integrations",
            "/api/v1/integrations",
            None,
            Viewer,
        ),
        r(
            Method::POST,
            "/api/v1/integrations/{id}/rotate",
            "/api/v1/integrations/int_missing/rotate",
            None,
            Admin,
        ),
        r(
            Method::DELETE,
            "/api/v1/integrations/{id}/keys/{key}",
            "/api/v1/integrations/int_missing/keys/key_missing",
            None,
            Admin,
        ),
        r(
            Method::GET,
            "/api/v1/silences",
            "/api/v1/silences",
            None,
            Viewer,
        ),
        r(
            Method::POST,
            "/api/v1/silences",
            "/api/v1/silences",
            Some(json!({"matchers": ["alertname=\"x\""], "duration": "1h", "comment": "walk"})),
            Responder,
        ),
        r(
            Method::DELETE,
            "/api/v1/silences/{id}",
            "/api/v1/silences/999",
            None,
            Responder,
        ),
        r(
            Method::GET,
            "/api/v1/maintenance-windows",
            "/api/v1/maintenance-windows",
            None,
            Viewer,
        ),
        r(
            Method::POST,
            "/api/v1/maintenance-windows",
            "/api/v1/maintenance-windows",
            Some(
                json!({"service": "checkout", "ends_at": "2026-11-23T04:00:00Z", "comment": "walk"}),
            ),
            Responder,
        ),
        r(
            Method::DELETE,
            "/api/v1/maintenance-windows/{id}",
            "/api/v1/maintenance-windows/999",
            None,
            Responder,
        ),
        r(
            Method::GET,
            "/api/v1/routing-rules",
            "/api/v1/routing-rules",
            None,
            Viewer,
        ),
        r(
            Method::POST,
            "/api/v1/routing-rules",
            "/api/v1/routing-rules",
            Some(json!({"matchers": ["env=\"dev\""], "drop": true})),
            Admin,
        ),
        r(
            Method::DELETE,
            "/api/v1/routing-rules/{id}",
            "/api/v1/routing-rules/999",
            None,
            Admin,
        ),
        r(
            Method::GET,
            "/api/v1/deployments",
            "/api/v1/deployments",
            None,
            Viewer,
        ),
        r(
            Method::POST,
            "/api/v1/deployments",
            "/api/v1/deployments",
            Some(json!({"service": "checkout", "version": "v1"})),
            Responder,
        ),
        r(
            Method::GET,
            "/api/v1/webhooks",
            "/api/v1/webhooks",
            None,
            Admin,
        ),
        r(
            Method::POST,
            "/api/v1/webhooks",
            "/api/v1/webhooks",
            Some(
                json!({"url": "https://hooks.example.com/firebreak", "events": ["incident.declared"]}),
            ),
            Admin,
        ),
        r(
            Method::DELETE,
            "/api/v1/webhooks/{id}",
            "/api/v1/webhooks/wh_missing",
            None,
            Admin,
        ),
        r(
            Method::POST,
            "/api/v1/webhooks/{id}/enable",
            "/api/v1/webhooks/wh_missing/enable",
            None,
            Admin,
        ),
        r(
            Method::GET,
            "/api/v1/webhooks/{id}/deliveries",
            "/api/v1/webhooks/wh_missing/deliveries",
            None,
            Admin,
        ),
        r(
            Method::POST,
            "/api/v1/webhooks/{id}/deliveries/{delivery}/redeliver",
            "/api/v1/webhooks/wh_missing/deliveries/1/redeliver",
            None,
            Admin,
        ),
        r(
            Method::GET,
            "/api/v1/outbox/stats",
            "/api/v1/outbox/stats",
            None,
            Admin,
        ),
        r(
            Method::GET,
            "/api/v1/schedules",
            "/api/v1/schedules",
            None,
            Viewer,
        ),
        r(
            Method::POST,
            "/api/v1/schedules",
            "/api/v1/schedules",
            Some(
                json!({"name": "walk", "time_zone": "UTC", "layers": [{"name": "a", "members": ["missing"], "rotation": {"every": "1d", "start": "2026-01-01"}}]}),
            ),
            Admin,
        ),
        r(
            Method::GET,
            "/api/v1/schedules/{name}",
            "/api/v1/schedules/missing",
            None,
            Viewer,
        ),
        r(
            Method::DELETE,
            "/api/v1/schedules/{name}",
            "/api/v1/schedules/missing",
            None,
            Admin,
        ),
        r(
            Method::GET,
            "/api/v1/schedules/{name}/on-call",
            "/api/v1/schedules/missing/on-call",
            None,
            Viewer,
        ),
        r(
            Method::GET,
            "/api/v1/schedules/{name}/shifts",
            "/api/v1/schedules/missing/shifts",
            None,
            Viewer,
        ),
        r(
            Method::POST,
            "/api/v1/schedules/{name}/overrides",
            "/api/v1/schedules/missing/overrides",
            Some(
                json!({"user": "missing", "start": "2026-01-01T00:00:00Z", "end": "2026-01-02T00:00:00Z"}),
            ),
            Responder,
        ),
        r(
            Method::GET,
            "/api/v1/schedules/{name}/overrides",
            "/api/v1/schedules/missing/overrides",
            None,
            Viewer,
        ),
        r(
            Method::DELETE,
            "/api/v1/schedules/{name}/overrides/{id}",
            "/api/v1/schedules/missing/overrides/ovr_missing",
            None,
            Responder,
        ),
        r(
            Method::PUT,
            "/api/v1/schedules/{name}",
            "/api/v1/schedules/missing",
            Some(
                json!({"time_zone": "UTC", "layers": [{"name": "a", "members": ["val"],
                "rotation": {"every": "1d", "start": "2026-01-01T09:00"}}]}),
            ),
            Admin,
        ),
        r(
            Method::GET,
            "/api/v1/schedules/{name}/feed",
            "/api/v1/schedules/missing/feed",
            None,
            Viewer,
        ),
        r(
            Method::GET,
            "/api/v1/users/{handle}/feed",
            "/api/v1/users/val/feed",
            None,
            OwnerOrAdmin,
        ),
        r(
            Method::GET,
            "/api/v1/users/{handle}/contact-methods",
            "/api/v1/users/val/contact-methods",
            None,
            OwnerOrAdmin,
        ),
        r(
            Method::POST,
            "/api/v1/users/{handle}/contact-methods",
            "/api/v1/users/val/contact-methods",
            Some(json!({"type": "webhook", "target": "https://hooks.example.com/val"})),
            OwnerOrAdmin,
        ),
        r(
            Method::DELETE,
            "/api/v1/users/{handle}/contact-methods/{id}",
            "/api/v1/users/val/contact-methods/cm_missing",
            None,
            OwnerOrAdmin,
        ),
        r(
            Method::POST,
            "/api/v1/users/{handle}/contact-methods/{id}/test",
            "/api/v1/users/val/contact-methods/cm_missing/test",
            None,
            OwnerOrAdmin,
        ),
        r(
            Method::GET,
            "/api/v1/escalation-policies",
            "/api/v1/escalation-policies",
            None,
            Viewer,
        ),
        r(
            Method::POST,
            "/api/v1/escalation-policies",
            "/api/v1/escalation-policies",
            Some(
                json!({"name": "p1", "steps": [{"delay": "5m", "targets": [{"user": "missing"}]}]}),
            ),
            Admin,
        ),
        r(
            Method::GET,
            "/api/v1/escalation-policies/{name}",
            "/api/v1/escalation-policies/missing",
            None,
            Viewer,
        ),
        r(
            Method::PUT,
            "/api/v1/escalation-policies/{name}",
            "/api/v1/escalation-policies/missing",
            Some(json!({"steps": [{"delay": "5m", "targets": [{"user": "val"}]}]})),
            Admin,
        ),
        r(
            Method::DELETE,
            "/api/v1/escalation-policies/{name}",
            "/api/v1/escalation-policies/missing",
            None,
            Admin,
        ),
        r(
            Method::GET,
            "/api/v1/escalations",
            "/api/v1/escalations?incident=INC-1",
            None,
            Viewer,
        ),
        r(
            Method::POST,
            "/api/v1/incidents/{id}/ack",
            "/api/v1/incidents/INC-1/ack",
            None,
            Responder,
        ),
        r(
            Method::POST,
            "/api/v1/alerts/{id}/ack",
            "/api/v1/alerts/1/ack",
            None,
            Responder,
        ),
        r(
            Method::POST,
            "/api/v1/incidents/{id}/postmortem",
            "/api/v1/incidents/INC-1/postmortem",
            None,
            Responder,
        ),
        r(
            Method::GET,
            "/api/v1/incidents/{id}/postmortem",
            "/api/v1/incidents/INC-1/postmortem",
            None,
            Viewer,
        ),
        r(
            Method::PUT,
            "/api/v1/incidents/{id}/postmortem",
            "/api/v1/incidents/INC-1/postmortem",
            Some(json!({"version": 1, "sections": []})),
            Responder,
        ),
        r(
            Method::POST,
            "/api/v1/incidents/{id}/postmortem/check",
            "/api/v1/incidents/INC-1/postmortem/check",
            None,
            Viewer,
        ),
        r(
            Method::POST,
            "/api/v1/incidents/{id}/postmortem/refresh",
            "/api/v1/incidents/INC-1/postmortem/refresh",
            None,
            Responder,
        ),
        r(
            Method::POST,
            "/api/v1/incidents/{id}/postmortem/publish",
            "/api/v1/incidents/INC-1/postmortem/publish",
            None,
            Responder,
        ),
        r(
            Method::POST,
            "/api/v1/incidents/{id}/postmortem/dismiss",
            "/api/v1/incidents/INC-1/postmortem/dismiss",
            Some(json!({"key": "human-error:human error", "reason": "a quote"})),
            Responder,
        ),
        r(
            Method::GET,
            "/api/v1/incidents/{id}/postmortem/revisions",
            "/api/v1/incidents/INC-1/postmortem/revisions",
            None,
            Viewer,
        ),
        r(
            Method::GET,
            "/api/v1/incidents/{id}/postmortem.md",
            "/api/v1/incidents/INC-1/postmortem.md",
            None,
            Viewer,
        ),
        r(
            Method::POST,
            "/api/v1/action-items",
            "/api/v1/action-items",
            Some(json!({"title": "Add a canary", "owner": "riley", "due": "2026-12-01"})),
            Responder,
        ),
        r(
            Method::GET,
            "/api/v1/action-items",
            "/api/v1/action-items",
            None,
            Viewer,
        ),
        r(
            Method::GET,
            "/api/v1/action-items/{id}",
            "/api/v1/action-items/1",
            None,
            Viewer,
        ),
        r(
            Method::PATCH,
            "/api/v1/action-items/{id}",
            "/api/v1/action-items/1",
            Some(json!({"status": "done"})),
            Responder,
        ),
        r(
            Method::GET,
            "/api/v1/reports/incidents",
            "/api/v1/reports/incidents?group_by=severity",
            None,
            Viewer,
        ),
        r(
            Method::GET,
            "/api/v1/reports/dora",
            "/api/v1/reports/dora",
            None,
            Viewer,
        ),
        r(
            Method::GET,
            "/api/v1/heartbeats",
            "/api/v1/heartbeats",
            None,
            Viewer,
        ),
        r(
            Method::POST,
            "/api/v1/heartbeats",
            "/api/v1/heartbeats",
            Some(json!({"name": "walk-heartbeat", "service": "checkout", "period": "1h"})),
            Admin,
        ),
        r(
            Method::DELETE,
            "/api/v1/heartbeats/{id}",
            "/api/v1/heartbeats/1",
            None,
            Admin,
        ),
        // Uptime checks: admins make and delete them, everyone reads them
        // (tests/checks.rs).
        r(
            Method::GET,
            "/api/v1/checks",
            "/api/v1/checks",
            None,
            Viewer,
        ),
        r(
            Method::POST,
            "/api/v1/checks",
            "/api/v1/checks",
            Some(
                json!({"name": "walk-check", "service": "checkout", "kind": "tcp",
                        "target": "192.0.2.10:443", "interval": "1m", "timeout": "5s"}),
            ),
            Admin,
        ),
        r(
            Method::GET,
            "/api/v1/checks/{id}",
            "/api/v1/checks/walk-check",
            None,
            Viewer,
        ),
        r(
            Method::GET,
            "/api/v1/checks/{id}/results",
            "/api/v1/checks/walk-check/results",
            None,
            Viewer,
        ),
        r(
            Method::GET,
            "/api/v1/checks/{id}/uptime",
            "/api/v1/checks/walk-check/uptime",
            None,
            Viewer,
        ),
        r(
            Method::DELETE,
            "/api/v1/checks/{id}",
            "/api/v1/checks/walk-check",
            None,
            Admin,
        ),
        // Game days: responders run them, everyone reads the scores (tests/gamedays.rs).
        r(
            Method::GET,
            "/api/v1/gamedays",
            "/api/v1/gamedays",
            None,
            Viewer,
        ),
        r(
            Method::POST,
            "/api/v1/gamedays",
            "/api/v1/gamedays",
            Some(
                json!({"name": "walk", "service": "checkout", "severity": "SEV2",
                        "targets": {"acknowledged_within": "5m"}}),
            ),
            Responder,
        ),
        r(
            Method::GET,
            "/api/v1/gamedays/{id}",
            "/api/v1/gamedays/1",
            None,
            Viewer,
        ),
        r(
            Method::POST,
            "/api/v1/gamedays/{id}/finish",
            "/api/v1/gamedays/1/finish",
            None,
            Responder,
        ),
        // Customer reports: support tools record them with a responder token; reporters'
        // addresses in the list are for admins only (tests/customer_reports.rs).
        r(
            Method::GET,
            "/api/v1/reports",
            "/api/v1/reports",
            None,
            Viewer,
        ),
        r(
            Method::POST,
            "/api/v1/reports",
            "/api/v1/reports",
            Some(json!({"service": "checkout", "summary": "checkout is down"})),
            Responder,
        ),
        // Pings take the heartbeat's key in the path, never a token.
        r(
            Method::GET,
            "/api/v1/heartbeats/{id}",
            "/api/v1/heartbeats/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
            None,
            Nobody,
        ),
        r(
            Method::POST,
            "/api/v1/heartbeats/{id}",
            "/api/v1/heartbeats/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
            None,
            Nobody,
        ),
        r(
            Method::GET,
            "/api/v1/heartbeats/{id}/fail",
            "/api/v1/heartbeats/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA/fail",
            None,
            Nobody,
        ),
        r(
            Method::POST,
            "/api/v1/heartbeats/{id}/fail",
            "/api/v1/heartbeats/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA/fail",
            None,
            Nobody,
        ),
    ]
}

#[tokio::test]
async fn every_route_answers_each_role_as_the_table_says() {
    let s = spawn().await;
    s.call(
        Method::POST,
        "/api/v1/services",
        Some(&s.admin),
        Some(json!({"name": "checkout"})),
    )
    .await
    .expect(201);
    s.declare("walk", "SEV2").await;
    let roles = [
        (Needs::Viewer, s.viewer.clone()),
        (Needs::Responder, s.responder.clone()),
        (Needs::Admin, s.admin.clone()),
    ];
    for route in table() {
        if route.needs != Needs::Nobody {
            let a = s
                .call(route.method.clone(), route.path, None, route.body.clone())
                .await;
            assert_eq!(
                a.status, 401,
                "{} {} without a token: {}",
                route.method, route.path, a.body
            );
            assert_eq!(a.content_type, "application/problem+json");
        }
        for (role, token) in &roles {
            // Recreate what a previous allowed call deleted or used up, so every call meets a live target.
            if route.path == "/api/v1/services/doomed" {
                s.call(
                    Method::POST,
                    "/api/v1/services",
                    Some(&s.admin),
                    Some(json!({"name": "doomed"})),
                )
                .await;
            }
            if route.method == Method::POST && route.path == "/api/v1/services" {
                s.call(
                    Method::DELETE,
                    "/api/v1/services/svc-new",
                    Some(&s.admin),
                    None,
                )
                .await;
            }
            // An event stream never ends: its status and headers are the answer.
            let a = if route.template.ends_with("/events") {
                let res = s
                    .http
                    .get(format!("{}{}", s.base, route.path))
                    .bearer_auth(token)
                    .send()
                    .await
                    .unwrap();
                let status = res.status();
                let content_type = res.headers()["content-type"].to_str().unwrap().to_string();
                let body = if status.is_success() {
                    Value::Null
                } else {
                    res.json().await.unwrap_or(Value::Null)
                };
                common::Answer {
                    status,
                    content_type,
                    body,
                }
            } else {
                s.call(
                    route.method.clone(),
                    route.path,
                    Some(token),
                    route.body.clone(),
                )
                .await
            };
            let code = a.status.as_u16();
            let allowed = match route.needs {
                Needs::OwnerOrAdmin => matches!(role, Needs::Viewer | Needs::Admin),
                needs => *role >= needs,
            };
            if allowed {
                assert!(
                    code != 401 && code != 403,
                    "{} {} as {:?} should be allowed, got {code}: {}",
                    route.method,
                    route.path,
                    role_name(*role),
                    a.body
                );
                assert!(code < 500, "{} {}: {code}", route.method, route.path);
            } else {
                assert_eq!(
                    code,
                    403,
                    "{} {} as {} should be refused: {}",
                    route.method,
                    route.path,
                    role_name(*role),
                    a.body
                );
                assert_eq!(a.content_type, "application/problem+json");
            }
        }
    }
}

fn role_name(r: Needs) -> &'static str {
    match r {
        Needs::Nobody => "nobody",
        Needs::Viewer => "viewer",
        Needs::Responder => "responder",
        Needs::Admin => "admin",
        // The document names the least role; the engine also checks whose they are.
        Needs::OwnerOrAdmin => "viewer",
    }
}

#[tokio::test]
async fn the_openapi_document_lists_every_route() {
    let s = spawn().await;
    let doc = s
        .call(Method::GET, "/api/v1/openapi.json", Some(&s.viewer), None)
        .await
        .body;
    let mut documented = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for method in ["get", "post", "put", "patch", "delete"] {
            if item.get(method).is_some() {
                documented.insert(format!("{} {path}", method.to_uppercase()));
            }
        }
    }
    let walked: BTreeSet<String> = table()
        .iter()
        .map(|r| format!("{} {}", r.method, r.template))
        .collect();
    assert_eq!(
        documented, walked,
        "the OpenAPI document and the route table must list the same routes"
    );
    for r in table() {
        let op = &doc["paths"][r.template][r.method.as_str().to_lowercase()];
        let documented_role = match &op["security"][0]["bearer"][0] {
            Value::String(role) => role.as_str(),
            _ => "nobody",
        };
        assert_eq!(
            documented_role,
            role_name(r.needs),
            "{} {} documents the wrong role",
            r.method,
            r.template
        );
        if r.needs != Needs::Nobody {
            assert!(
                op["responses"]["401"].is_object(),
                "{} {}",
                r.method,
                r.template
            );
        }
    }
    assert!(doc["components"]["schemas"]["IncidentBody"].is_object());
}

/// The sender endpoints authenticate by integration key, not by API token: walk every one of
/// them (the list the server builds its routes from) without a key, with an API token in the
/// key's place, and with a real key.
#[tokio::test]
async fn every_sender_endpoint_takes_an_integration_key_and_nothing_else() {
    let s = spawn().await;
    s.call(
        Method::POST,
        "/api/v1/services",
        Some(&s.admin),
        Some(json!({"name": "checkout"})),
    )
    .await
    .expect(201);
    let created = s
        .call(
            Method::POST,
            "/api/v1/services/checkout/integrations",
            Some(&s.admin),
            Some(json!({"name": "walk"})),
        )
        .await;
    let key = created.body["key"].as_str().expect("a key").to_string();
    let api_token = s.admin.clone();
    let http = common::client();
    let url = |p: &str| format!("{}{p}", s.base);
    let mut walked = BTreeSet::new();
    let mut walk = |method: &str, template: &str| {
        walked.insert((method.to_string(), template.to_string()));
    };

    let trigger = |k: &str| {
        json!({"routing_key": k, "event_action": "trigger",
               "payload": {"summary": "disk full", "source": "db-1", "severity": "critical"}})
    };
    walk("POST", "/v2/enqueue");
    let no_key = http
        .post(url("/v2/enqueue"))
        .json(&json!({"event_action": "trigger"}))
        .send()
        .await
        .unwrap();
    assert_eq!(no_key.status(), 400);
    let token_as_key = http
        .post(url("/v2/enqueue"))
        .json(&trigger(&api_token))
        .send()
        .await
        .unwrap();
    assert_eq!(
        token_as_key.status(),
        404,
        "an API token is not a routing key"
    );
    let ok = http
        .post(url("/v2/enqueue"))
        .json(&trigger(&key))
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 202);

    walk("POST", "/v2/change/enqueue");
    let change =
        |k: &str| json!({"routing_key": k, "payload": {"summary": "deploy v2", "source": "ci"}});
    let refused = http
        .post(url("/v2/change/enqueue"))
        .json(&change(&api_token))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 404);
    let ok = http
        .post(url("/v2/change/enqueue"))
        .json(&change(&key))
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 202, "{}", ok.text().await.unwrap());

    let genie = |k: &str| format!("GenieKey {k}");
    let create = json!({"message": "Disk full on db-1", "alias": "disk-db-1", "priority": "P1"});
    walk("POST", "/v2/alerts");
    let no_key = http
        .post(url("/v2/alerts"))
        .json(&create)
        .send()
        .await
        .unwrap();
    assert_eq!(no_key.status(), 401);
    let token_key = http
        .post(url("/v2/alerts"))
        .header("authorization", genie(&api_token))
        .json(&create)
        .send()
        .await
        .unwrap();
    assert_eq!(token_key.status(), 401);
    let created: Value = http
        .post(url("/v2/alerts"))
        .header("authorization", genie(&key))
        .json(&create)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let request_id = created["requestId"].as_str().unwrap().to_string();

    walk("GET", "/v2/alerts/requests/{request_id}");
    let status = http
        .get(url(&format!("/v2/alerts/requests/{request_id}")))
        .header("authorization", genie(&api_token))
        .send()
        .await
        .unwrap();
    assert_eq!(status.status(), 401);
    let status: Value = http
        .get(url(&format!("/v2/alerts/requests/{request_id}")))
        .header("authorization", genie(&key))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(status["data"]["success"], true, "{status}");
    assert_eq!(status["data"]["action"], "Create");
    let alert_id = status["data"]["alertId"]
        .as_str()
        .expect("ids are strings")
        .to_string();

    walk("GET", "/v2/alerts/{identifier}");
    let alert: Value = http
        .get(url(&format!("/v2/alerts/{alert_id}")))
        .header("authorization", genie(&key))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(alert["data"]["id"], alert_id.as_str());
    assert_eq!(alert["data"]["message"], "Disk full on db-1");
    assert_eq!(alert["data"]["priority"], "P1");
    let by_alias = http
        .get(url("/v2/alerts/disk-db-1?identifierType=alias"))
        .header("authorization", genie(&key))
        .send()
        .await
        .unwrap();
    assert_eq!(by_alias.status(), 200);

    for (action, template) in [
        ("acknowledge", "/v2/alerts/{identifier}/acknowledge"),
        ("close", "/v2/alerts/{identifier}/close"),
    ] {
        walk("POST", template);
        let path = url(&format!(
            "/v2/alerts/disk-db-1/{action}?identifierType=alias"
        ));
        let refused = http
            .post(&path)
            .header("authorization", genie(&api_token))
            .json(&json!({}))
            .send()
            .await
            .unwrap();
        assert_eq!(refused.status(), 401);
        let ok = http
            .post(&path)
            .header("authorization", genie(&key))
            .json(&json!({"user": "alice"}))
            .send()
            .await
            .unwrap();
        assert_eq!(ok.status(), 202, "{action}");
    }
    let closed: Value = http
        .get(url(&format!("/v2/alerts/{alert_id}")))
        .header("authorization", genie(&key))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(closed["data"]["status"], "closed");
    assert_eq!(closed["data"]["acknowledged"], true);

    let generic = json!({"summary": "backup failed", "dedup_key": "backup-1"});
    walk("POST", "/api/v1/ingest/{format}/{key}");
    let bad = http
        .post(url(&format!("/api/v1/ingest/generic/{api_token}")))
        .json(&generic)
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 401);
    let ok = http
        .post(url(&format!("/api/v1/ingest/generic/{key}")))
        .json(&generic)
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 202);

    walk("POST", "/api/v1/ingest/{format}");
    let none = http
        .post(url("/api/v1/ingest/generic"))
        .json(&generic)
        .send()
        .await
        .unwrap();
    assert_eq!(none.status(), 401);
    let bad = http
        .post(url("/api/v1/ingest/generic"))
        .bearer_auth(&api_token)
        .json(&generic)
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 401, "an API token does not send alerts");
    let ok = http
        .post(url("/api/v1/ingest/generic"))
        .bearer_auth(&key)
        .json(&generic)
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 202);

    let listed: BTreeSet<(String, String)> = firebreak_server::routes::ingest::ROUTES
        .iter()
        .map(|(m, p)| (m.to_string(), p.to_string()))
        .collect();
    assert_eq!(walked, listed, "every sender endpoint is walked");

    // A double slash from a base URL with a trailing slash reaches the same endpoint.
    let doubled = http
        .post(format!("{}//v2/alerts", s.base))
        .header("authorization", genie(&key))
        .json(&json!({"message": "doubled"}))
        .send()
        .await
        .unwrap();
    assert_eq!(doubled.status(), 202);
}
