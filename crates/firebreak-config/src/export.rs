//! Writes a [`Config`] back in the model of `firebreak.yaml`: the same sections, key names
//! and spellings the reader accepts (`respond_within: 1h30m` or `next business day`, matchers
//! as text), so `GET /api/v1/config` and `firebreak config export` describe the running
//! configuration exactly as a file would, and the file reads back into the same config.
//!
//! Secrets are left out. An integration's key is written as `key: {env: NAME}`: the variable
//! it was read from, or `FIREBREAK_KEY_<SERVICE>_<INTEGRATION>` for a key that was written in
//! the file. A chat channel's webhook URL is written the same way, as `url: {env: NAME}`: the
//! variable it was read from, or `FIREBREAK_CHANNEL_<NAME>_URL` for a URL that was written in
//! the file; the export never holds a channel's URL. The SMTP URL is treated the same way when it may hold a secret (a user or
//! password, or a query parameter other than `tls`): it is written as
//! `smtp_url: {env: FIREBREAK_SMTP_URL}`, the variable that also overrides it (see
//! [`crate::apply_env`]), so the export never carries a password and the file reads back into
//! the same configuration wherever that variable is set. Masking the password instead would
//! write a URL that reads back as a different, wrong one. A URL with nothing secret in it
//! (`smtp://127.0.0.1:2525`, `smtp://mail.example.com:587?tls=required`) is written as is. Every key is present in every mapping, `null` when it has no value, so the
//! document has one shape; the YAML writer leaves the `null`s out. The `status_page` section is
//! `null` while it is all defaults, and so is a severity's `status_page` when it has none; the
//! `templates` of the status page have a key for every public status, in the statuses' order.
//! The `comms` section is `null` while there are no channels and no stakeholders, either list
//! is `null` while empty, and a channel's or a stakeholder's `severities` and `services` are
//! `null` when it takes any.
//!
//! A severity's `freeze` and `freeze_until` are both written when it has a freeze policy, and
//! both `null` when it uses the default for its rank. The `runbooks` section is `null` while
//! there are none, `break_glass` while it is at its defaults and `secrets` while it names no
//! file. A runbook action is written with every key of its kind, defaults included (`timeout`,
//! `role`, `approval`, `approval_within`, an http action's `method`), and `null` for the keys
//! of the other kind; a secret it uses is written as `{secret: NAME}`, as in the file: the
//! configuration never holds an action's secrets, only their names. The `metrics` section is
//! `null` while it names no listener, and `review` while it is at its defaults; its
//! `remind_severities` is `null` while it is the two most severe severities. The `reports`
//! section is `null` while it is at its defaults (3 reports within 10m, low urgency, no form).

use std::collections::HashSet;

use serde_json::{Value, json};

use std::collections::BTreeMap;

use firebreak_domain::break_glass::BreakGlassPolicy;
use firebreak_domain::config::{
    Alerting, Channel, Checklist, Comms, ComponentSpec, Config, Email, Metrics, Oidc, Outbound,
    OutboundRetry, PageTarget, Paging, ResponseTarget, Review, Role, Secrets, Service, Severity,
    Stakeholder, StatusPage, User,
};
use firebreak_domain::customer_report::ReportRule;
use firebreak_domain::escalation::{Policy, Target};
use firebreak_domain::matcher::Matcher;
use firebreak_domain::rules::{DeclareRule, Grouping, Route};
use firebreak_domain::runbook::{Action, ActionKind, Runbook, Value as Setting};
use firebreak_domain::schedule::{Schedule, format_local_start, format_time_of_day};
use firebreak_domain::status_page::{PublicStatus, SeverityEffect};

use crate::ENV_SMTP_URL;
use crate::read::{format_duration, smtp_url_is_secret};
use crate::yaml::json_to_yaml;

/// The whole configuration as a JSON document in the model of `firebreak.yaml`, with
/// integration keys, channel webhook URLs and an SMTP URL that may hold a password left out.
pub fn to_document(config: &Config) -> Value {
    let Variables { keys, channels } = variables(config);
    json!({
        "severities": config.severities.iter().map(severity).collect::<Vec<_>>(),
        "roles": config.roles.iter().map(role).collect::<Vec<_>>(),
        "checklists": config.checklists.iter().map(checklist).collect::<Vec<_>>(),
        "services": config
            .services
            .iter()
            .zip(&keys)
            .map(|(s, vars)| service(s, vars))
            .collect::<Vec<_>>(),
        "users": config.users.iter().map(user).collect::<Vec<_>>(),
        "schedules": config.schedules.iter().map(schedule).collect::<Vec<_>>(),
        "escalation_policies": config.escalation_policies.iter().map(policy).collect::<Vec<_>>(),
        "paging": paging(&config.paging),
        "alerting": alerting(&config.alerting),
        "outbound": outbound(&config.outbound),
        "server": {
            "public_url": config.server.public_url,
            "tls": config.server.tls.as_ref().map(|t| json!({ "cert": t.cert, "key": t.key })),
            "trusted_proxies": config
                .server
                .trusted_proxies
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>(),
        },
        "email": email(&config.email),
        "status_page": status_page(&config.status_page),
        "comms": comms(&config.comms, &channels),
        "runbooks": runbooks(&config.runbooks),
        "break_glass": break_glass(&config.break_glass),
        "secrets": secrets(&config.secrets),
        "oidc": config.oidc.as_ref().map(oidc),
        "metrics": metrics(&config.metrics),
        "review": review(&config.review),
        "reports": reports(&config.reports),
        "checks": checks(&config.checks),
    })
}

/// The whole configuration as `firebreak.yaml` text that `firebreak check` accepts (once the
/// integration key variables are set), with a comment saying where it came from.
pub fn to_yaml(config: &Config) -> String {
    json_to_yaml(&to_document(config))
}

fn severity(s: &Severity) -> Value {
    let respond_within = match s.respond_within {
        ResponseTarget::Within(d) => format_duration(d),
        ResponseTarget::NextBusinessDay => "next business day".to_string(),
    };
    let page: Vec<&str> = s
        .page
        .iter()
        .map(|p| match p {
            PageTarget::OnCall => "on-call",
            PageTarget::Manager => "manager",
        })
        .collect();
    json!({
        "name": s.name,
        "description": s.description,
        "respond_within": respond_within,
        "page": page,
        "update_every": s.update_every.map(format_duration),
        "requires_commander": s.requires_commander,
        // Absent: the default for the severity's rank.
        "status_page": s.public.as_ref().map(severity_effect),
        // Both or neither: absent, the default for the severity's rank.
        "freeze": s.freeze.map(|f| f.scope.as_str()),
        "freeze_until": s.freeze.map(|f| f.until.as_str()),
    })
}

fn severity_effect(e: &SeverityEffect) -> Value {
    json!({ "component_status": e.component_status.as_str(), "impact": e.impact.as_str() })
}

fn role(r: &Role) -> Value {
    json!({ "name": r.name, "key": r.key, "duty": r.duty })
}

fn checklist(c: &Checklist) -> Value {
    json!({ "name": c.name, "severities": c.severities, "items": c.items })
}

fn service(s: &Service, key_variables: &[String]) -> Value {
    let integrations: Vec<Value> = s
        .integrations
        .iter()
        .zip(key_variables)
        .map(|(i, var)| json!({ "name": i.name, "key": { "env": var } }))
        .collect();
    json!({
        "name": s.name.as_str(),
        "description": s.description,
        "team": s.team,
        "runbook": s.runbook,
        "escalation_policy": s.escalation_policy.as_ref().map(|p| p.as_str()),
        "manager": s.manager.as_ref().map(|m| m.as_str()),
        "integrations": integrations,
        "grouping": grouping(&s.grouping),
    })
}

fn grouping(g: &Grouping) -> Value {
    json!({
        "window": g.window.map(format_duration),
        "declare": g.declare.iter().map(declare_rule).collect::<Vec<_>>(),
    })
}

fn declare_rule(d: &DeclareRule) -> Value {
    json!({ "match": matchers(&d.matchers), "severity": d.severity, "title": d.title })
}

fn matchers(matchers: &[Matcher]) -> Vec<String> {
    matchers.iter().map(ToString::to_string).collect()
}

fn user(u: &User) -> Value {
    json!({
        "handle": u.handle.as_str(),
        "name": u.name,
        "email": u.email,
        "time_zone": u.time_zone,
    })
}

fn schedule(s: &Schedule) -> Value {
    json!({
        "name": s.name.as_str(),
        "time_zone": s.time_zone_name,
        "layers": s.layers.iter().map(|l| json!({
            "name": l.name,
            "members": l.members.iter().map(|m| m.as_str()).collect::<Vec<_>>(),
            "rotation": {
                "every": l.rotation.every.to_string(),
                "start": format_local_start(l.rotation.start),
            },
            "restrict": l.restrict.iter().map(|r| json!({
                "days": r.days.iter().map(|d| d.short()).collect::<Vec<_>>(),
                "from": format_time_of_day(r.from),
                "to": format_time_of_day(r.to),
            })).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
    })
}

fn alerting(a: &Alerting) -> Value {
    json!({
        "rate_limit": { "per_second": a.rate_limit_per_second, "burst": a.rate_limit_burst },
        "suspect_window": format_duration(a.suspect_window),
        "routes": a.routes.iter().map(route).collect::<Vec<_>>(),
    })
}

fn route(r: &Route) -> Value {
    json!({
        "match": matchers(&r.matchers),
        "service": r.service.as_ref().map(|s| s.as_str()),
        "severity": r.severity.map(|s| s.as_str()),
        "urgency": r.urgency.map(|u| u.as_str()),
        "drop": r.drop,
    })
}

fn outbound(o: &Outbound) -> Value {
    json!({
        "allow": o.allow.iter().map(ToString::to_string).collect::<Vec<_>>(),
        "retry": retry(&o.retry),
    })
}

fn retry(r: &OutboundRetry) -> Value {
    json!({
        "first_delay": format_duration(r.first_delay),
        "max_delay": format_duration(r.max_delay),
        "give_up_after": format_duration(r.give_up_after),
    })
}

fn policy(p: &Policy) -> Value {
    json!({
        "name": p.name.as_str(),
        "repeat": p.repeat,
        "steps": p.steps.iter().map(|s| json!({
            "delay": format_duration(s.delay),
            // Both keys, one null, so every target has the same shape.
            "targets": s.targets.iter().map(|t| match t {
                Target::User(u) => json!({ "user": u.as_str(), "schedule": null }),
                Target::Schedule(s) => json!({ "user": null, "schedule": s.as_str() }),
            }).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
    })
}

fn paging(p: &Paging) -> Value {
    json!({
        "default_policy": p.default_policy.as_ref().map(|d| d.as_str()),
        // Absent: pages are retried by `outbound.retry`.
        "retry": p.retry.as_ref().map(retry),
        "attempt_timeout": format_duration(p.attempt_timeout),
        "ack_link_ttl": format_duration(p.ack_link_ttl),
    })
}

/// The `email` section; an SMTP URL that may hold a secret is written as
/// `{env: FIREBREAK_SMTP_URL}` (see the module's comment).
fn email(e: &Email) -> Value {
    let smtp_url = match &e.smtp_url {
        None => Value::Null,
        Some(url) if smtp_url_is_secret(url) => json!({ "env": ENV_SMTP_URL }),
        Some(url) => json!(url),
    };
    json!({ "smtp_url": smtp_url, "from": e.from })
}

/// The `status_page` section, or `null` (left out of the YAML) when it is all defaults.
fn status_page(p: &StatusPage) -> Value {
    if *p == StatusPage::default() {
        return Value::Null;
    }
    // Every status a key, `null` where the default template is used.
    let templates: serde_json::Map<String, Value> = PublicStatus::ALL
        .into_iter()
        .map(|status| {
            let text = p
                .templates
                .iter()
                .find(|(s, _)| *s == status)
                .map(|(_, t)| t.as_str());
            (status.as_str().to_string(), json!(text))
        })
        .collect();
    json!({
        "title": p.title,
        "time_zone": p.time_zone,
        "listen": p.listen,
        "url": p.url,
        "logo_url": p.logo_url,
        "site_url": p.site_url,
        "components": p.components.iter().map(component).collect::<Vec<_>>(),
        "templates": templates,
    })
}

fn component(c: &ComponentSpec) -> Value {
    json!({
        "name": c.name,
        "description": c.description,
        "group": c.group,
        "services": c.services.iter().map(|s| s.as_str()).collect::<Vec<_>>(),
    })
}

/// The `comms` section, or `null` (left out of the YAML) when there are no channels and no
/// stakeholders. `variables` are the environment variables the channels' URLs are exported as.
fn comms(c: &Comms, variables: &[String]) -> Value {
    if c.channels.is_empty() && c.stakeholders.is_empty() {
        return Value::Null;
    }
    // An empty list is `null`, so left out of the YAML.
    let channels = (!c.channels.is_empty()).then(|| {
        c.channels
            .iter()
            .zip(variables)
            .map(|(ch, var)| channel(ch, var))
            .collect::<Vec<_>>()
    });
    let stakeholders = (!c.stakeholders.is_empty())
        .then(|| c.stakeholders.iter().map(stakeholder).collect::<Vec<_>>());
    json!({
        "channels": channels,
        "stakeholders": stakeholders,
    })
}

/// A stakeholder, with `null` for what it leaves out.
fn stakeholder(s: &Stakeholder) -> Value {
    let severities = (!s.severities.is_empty()).then_some(&s.severities);
    let services =
        (!s.services.is_empty()).then(|| s.services.iter().map(|s| s.as_str()).collect::<Vec<_>>());
    json!({
        "email": s.email,
        "name": s.name,
        "severities": severities,
        "services": services,
    })
}

/// A channel, its URL written as `{env: NAME}` (never the URL itself: it is a secret).
fn channel(c: &Channel, url_variable: &str) -> Value {
    // Absent: any severity, any service.
    let severities = (!c.severities.is_empty()).then_some(&c.severities);
    let services =
        (!c.services.is_empty()).then(|| c.services.iter().map(|s| s.as_str()).collect::<Vec<_>>());
    json!({
        "name": c.name,
        "type": c.kind.as_str(),
        "url": { "env": url_variable },
        "severities": severities,
        "services": services,
    })
}

/// The `runbooks` section, or `null` (left out of the YAML) when there are none.
fn runbooks(runbooks: &[Runbook]) -> Value {
    if runbooks.is_empty() {
        return Value::Null;
    }
    json!(runbooks.iter().map(runbook).collect::<Vec<_>>())
}

fn runbook(r: &Runbook) -> Value {
    json!({
        "name": r.name.as_str(),
        "services": r.services.iter().map(|s| s.as_str()).collect::<Vec<_>>(),
        // Absent: every alert of its services.
        "match": (!r.matchers.is_empty()).then(|| matchers(&r.matchers)),
        "body": (!r.body.is_empty()).then_some(&r.body),
        "url": r.url,
        "actions": (!r.actions.is_empty())
            .then(|| r.actions.iter().map(action).collect::<Vec<_>>()),
    })
}

/// An action, with every key: those of the other kind `null`.
fn action(a: &Action) -> Value {
    let mut doc = json!({
        "name": a.name.as_str(),
        "description": (!a.description.is_empty()).then_some(&a.description),
        "kind": null,
        "run": null,
        "cwd": null,
        "env": null,
        "method": null,
        "url": null,
        "headers": null,
        "body": null,
        "params": (!a.params.is_empty()).then(|| {
            a.params
                .iter()
                .map(|(name, p)| (name.clone(), json!(p.pattern)))
                .collect::<serde_json::Map<_, _>>()
        }),
        "timeout": format_duration(a.timeout),
        "role": a.role.as_str(),
        "approval": a.approval,
        "approval_within": format_duration(a.approval_within),
    });
    let fields = match &a.kind {
        ActionKind::Command { run, cwd, env } => json!({
            "kind": "command",
            "run": run,
            "cwd": cwd,
            "env": settings(env),
        }),
        ActionKind::Http {
            method,
            url,
            headers,
            body,
        } => json!({
            "kind": "http",
            "method": method,
            "url": url,
            "headers": settings(headers),
            "body": body,
        }),
    };
    if let (Value::Object(doc), Value::Object(fields)) = (&mut doc, fields) {
        doc.extend(fields);
    }
    doc
}

/// A command's `env` or a request's `headers`, `null` when empty; a secret as
/// `{secret: NAME}`.
fn settings(values: &BTreeMap<String, Setting>) -> Value {
    if values.is_empty() {
        return Value::Null;
    }
    values
        .iter()
        .map(|(name, value)| {
            let value = match value {
                Setting::Text(text) => json!(text),
                Setting::Secret(secret) => json!({ "secret": secret.as_str() }),
            };
            (name.clone(), value)
        })
        .collect::<serde_json::Map<_, _>>()
        .into()
}

/// The `break_glass` section, or `null` (left out of the YAML) when it is at its defaults.
fn break_glass(b: &BreakGlassPolicy) -> Value {
    if *b == BreakGlassPolicy::default() {
        return Value::Null;
    }
    json!({ "max": format_duration(b.max), "approval": b.approval })
}

/// The `secrets` section, or `null` (left out of the YAML) when it names no file.
fn secrets(s: &Secrets) -> Value {
    match &s.file {
        Some(file) => json!({ "file": file }),
        None => Value::Null,
    }
}

/// The `metrics` section, or `null` (left out of the YAML) when it names no listener.
fn metrics(m: &Metrics) -> Value {
    match &m.listen {
        Some(listen) => json!({ "listen": listen }),
        None => Value::Null,
    }
}

/// The `review` section, or `null` (left out of the YAML) when it is at its defaults.
fn review(r: &Review) -> Value {
    if *r == Review::default() {
        return Value::Null;
    }
    let rules: Vec<Value> = r
        .blameless_rules
        .iter()
        .map(|rule| {
            json!({
                "id": rule.id,
                "pattern": rule.pattern,
                "reason": rule.reason,
                "suggestion": rule.suggestion,
            })
        })
        .collect();
    json!({
        "remind_after": format_duration(r.remind_after),
        "remind_severities": r.remind_severities,
        "blameless": { "disable": r.blameless_disable, "rules": rules },
    })
}

/// The `reports` section, or `null` (left out of the YAML) when it is at its defaults.
fn reports(r: &ReportRule) -> Value {
    if *r == ReportRule::default() {
        return Value::Null;
    }
    json!({
        "threshold": r.threshold,
        "window": format_duration(r.window),
        "urgency": r.urgency.as_str(),
        "status_page_form": r.status_page_form,
    })
}

/// The `checks` section, or `null` (left out of the YAML) when it is at its defaults.
fn checks(c: &firebreak_domain::check::ChecksConfig) -> Value {
    if *c == firebreak_domain::check::ChecksConfig::default() {
        return Value::Null;
    }
    let mut tls = serde_json::Map::new();
    if let Some(warn) = c.tls.warn_before {
        tls.insert("warn_before".into(), json!(format_duration(warn)));
    }
    if let Some(ca) = &c.tls.ca_file {
        tls.insert("ca_file".into(), json!(ca));
    }
    let mut out = serde_json::Map::new();
    out.insert(
        "allow".into(),
        json!(c.allow.iter().map(ToString::to_string).collect::<Vec<_>>()),
    );
    if !tls.is_empty() {
        out.insert("tls".into(), Value::Object(tls));
    }
    Value::Object(out)
}

/// The `oidc` section; the client secret is written as the variable it was read from.
fn oidc(o: &Oidc) -> Value {
    let default = match o.default_role {
        Some(role) => role.as_str(),
        None => "refuse",
    };
    json!({
        "issuer": o.issuer,
        "name": o.name,
        "client_id": o.client_id,
        "client_secret": {
            "env": o.client_secret_env.as_deref().unwrap_or("FIREBREAK_OIDC_CLIENT_SECRET")
        },
        "scopes": o.scopes,
        "roles": {
            "claim": o.role_claim,
            "admin": o.admin,
            "responder": o.responder,
            "viewer": o.viewer,
            "default": default,
        },
    })
}

/// The environment variables the secrets of a configuration are exported as.
struct Variables {
    /// Each integration's key, per service.
    keys: Vec<Vec<String>>,
    /// Each channel's webhook URL.
    channels: Vec<String>,
}

/// The environment variable each secret is exported as: the one it was read from, else one
/// named after it, in capitals with `_` for anything else (`FIREBREAK_KEY_<SERVICE>_<INTEGRATION>`
/// for an integration's key, `FIREBREAK_CHANNEL_<NAME>_URL` for a channel's webhook URL), made
/// unique with `_2`, `_3`, ... (two secrets in one variable would be one secret).
fn variables(config: &Config) -> Variables {
    let integrations = || config.services.iter().flat_map(|s| &s.integrations);
    let mut used: HashSet<String> = integrations()
        .filter_map(|i| i.key_env.clone())
        .chain(
            config
                .comms
                .channels
                .iter()
                .filter_map(|c| c.url_env.clone()),
        )
        .collect();
    let mut fresh = |words: &[&str]| {
        let base = words
            .iter()
            .map(|w| env_word(w))
            .filter(|w| !w.is_empty())
            .collect::<Vec<_>>()
            .join("_");
        let mut var = base.clone();
        let mut n = 2;
        while used.contains(&var) {
            var = format!("{base}_{n}");
            n += 1;
        }
        used.insert(var.clone());
        var
    };
    let keys = config
        .services
        .iter()
        .map(|s| {
            s.integrations
                .iter()
                .map(|i| match &i.key_env {
                    Some(var) => var.clone(),
                    None => fresh(&["FIREBREAK_KEY", s.name.as_str(), &i.name]),
                })
                .collect()
        })
        .collect();
    let channels = config
        .comms
        .channels
        .iter()
        .map(|c| match &c.url_env {
            Some(var) => var.clone(),
            None => fresh(&["FIREBREAK_CHANNEL", &c.name, "URL"]),
        })
        .collect();
    Variables { keys, channels }
}

/// `search-api` as `SEARCH_API`: ASCII letters and digits in capitals, words joined by `_`.
fn env_word(text: &str) -> String {
    text.split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_ascii_uppercase)
        .collect::<Vec<_>>()
        .join("_")
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use firebreak_domain::config::IntegrationSpec;
    use firebreak_domain::ids::Name;

    use super::*;
    use crate::read::keys::*;

    const EXAMPLE: &str = include_str!("../examples/firebreak.yaml");

    /// The environment the shipped example is read with.
    fn example_env(name: &str) -> Option<String> {
        match name {
            "FIREBREAK_KEY_SEARCH_API_GRAFANA" => Some("EXAMPLEKEYsearchApiGrafana000003".into()),
            "FIREBREAK_CHANNEL_INCIDENTS_URL" => Some(INCIDENTS_URL.into()),
            "FIREBREAK_OIDC_CLIENT_SECRET" => Some("example-oidc-client-secret".into()),
            _ => None,
        }
    }

    fn example() -> Config {
        crate::parse_with_env(EXAMPLE, "firebreak.yaml", &example_env)
            .unwrap_or_else(|e| panic!("{e}"))
    }

    const INCIDENTS_URL: &str = "https://hooks.slack.com/services/T0EXAMPLE/B0EXAMPLE/t0k3nEXAMPLE";

    /// The example with its `comms` section, which it shows commented out, in use.
    fn example_with_comms() -> Config {
        let mut source = String::new();
        let mut inside = false;
        for line in EXAMPLE.lines() {
            inside = line == "# comms:" || (inside && line.starts_with("#   "));
            source.push_str(if inside { &line[2..] } else { line });
            source.push('\n');
        }
        let env = |name: &str| {
            (name == "FIREBREAK_CHANNEL_INCIDENTS_URL")
                .then(|| INCIDENTS_URL.to_string())
                .or_else(|| example_env(name))
        };
        let config = crate::parse_with_env(&source, "firebreak.yaml", &env)
            .unwrap_or_else(|e| panic!("{e}\n{source}"));
        assert!(!config.comms.channels.is_empty(), "{source}");
        config
    }

    /// The secrets of `config` (integration keys, channel URLs), by the variable the document
    /// names for each.
    fn keys_by_variable(config: &Config) -> Vec<(String, String)> {
        let doc = to_document(config);
        let mut out = Vec::new();
        for (service, s) in config
            .services
            .iter()
            .zip(doc["services"].as_array().unwrap())
        {
            for (spec, i) in service
                .integrations
                .iter()
                .zip(s["integrations"].as_array().unwrap())
            {
                out.push((
                    i["key"]["env"].as_str().unwrap().to_string(),
                    spec.key.clone(),
                ));
            }
        }
        if let Some(channels) = doc["comms"]["channels"].as_array() {
            for (channel, c) in config.comms.channels.iter().zip(channels) {
                out.push((
                    c["url"]["env"].as_str().unwrap().to_string(),
                    channel.url.clone(),
                ));
            }
        }
        if let Some(oidc) = &config.oidc {
            out.push((
                doc["oidc"]["client_secret"]["env"]
                    .as_str()
                    .unwrap()
                    .to_string(),
                oidc.client_secret.clone(),
            ));
        }
        out
    }

    /// Reads `yaml` back with each exported variable holding the key it stands for.
    fn read_back(yaml: &str, keys: &[(String, String)]) -> Config {
        let env = |name: &str| keys.iter().find(|(v, _)| v == name).map(|(_, k)| k.clone());
        crate::parse_with_env(yaml, "exported.yaml", &env).unwrap_or_else(|e| panic!("{e}\n{yaml}"))
    }

    /// `config` with every integration key and channel URL, and their variables, blanked.
    fn without_secrets(mut config: Config) -> Config {
        for s in &mut config.services {
            for i in &mut s.integrations {
                i.key.clear();
                i.key_env = None;
            }
        }
        for c in &mut config.comms.channels {
            c.url.clear();
            c.url_env = None;
        }
        config
    }

    #[test]
    fn the_example_reads_back_from_its_export() {
        let config = example();
        let yaml = to_yaml(&config);
        let back = read_back(&yaml, &keys_by_variable(&config));
        assert_eq!(
            without_secrets(back.clone()),
            without_secrets(config.clone()),
            "{yaml}"
        );
        // Keys come back whole, and a variable named in the file keeps its name.
        let keys = |c: &Config| -> Vec<String> {
            c.services
                .iter()
                .flat_map(|s| &s.integrations)
                .map(|i| i.key.clone())
                .collect()
        };
        assert_eq!(keys(&back), keys(&config));
        assert_eq!(
            back.services[1].integrations[0].key_env.as_deref(),
            Some("FIREBREAK_KEY_SEARCH_API_GRAFANA")
        );
        assert_eq!(
            back.services[0].integrations[0].key_env.as_deref(),
            Some("FIREBREAK_KEY_CHECKOUT_PROMETHEUS")
        );
        // And once read back, exporting again changes nothing.
        assert_eq!(to_yaml(&back), yaml);
    }

    #[test]
    fn the_defaults_read_back_from_their_export() {
        let config = Config::default();
        let yaml = to_yaml(&config);
        assert_eq!(read_back(&yaml, &[]), config, "{yaml}");
        assert!(!yaml.contains("Integration keys"), "{yaml}");
    }

    #[test]
    fn durations_and_targets_are_spelled_the_way_the_file_spells_them() {
        let doc = to_document(&example());
        assert_eq!(doc["severities"][1]["respond_within"], "15m");
        assert_eq!(doc["severities"][1]["update_every"], "1h30m");
        assert_eq!(doc["severities"][2]["respond_within"], "next business day");
        assert_eq!(doc["severities"][2]["update_every"], Value::Null);
        assert_eq!(doc["severities"][0]["page"], json!(["on-call", "manager"]));
        assert_eq!(doc["alerting"]["suspect_window"], "2h");
        assert_eq!(doc["services"][0]["grouping"]["window"], "30m");
        assert_eq!(
            doc["alerting"]["routes"][1]["match"],
            json!(["team=\"payments\"", "severity=~\"critical|error\""])
        );
        assert_eq!(doc["outbound"]["retry"]["give_up_after"], "24h");
        assert_eq!(doc["outbound"]["allow"][1], "192.168.1.20/32");
        let payments = &doc["escalation_policies"][0];
        assert_eq!(payments["repeat"], 2);
        assert_eq!(payments["steps"][1]["delay"], "10m");
        assert_eq!(
            payments["steps"][1]["targets"],
            json!([{ "user": "alice", "schedule": null }, { "user": "bob", "schedule": null }])
        );
        assert_eq!(doc["paging"]["retry"]["max_delay"], "1m");
        assert_eq!(doc["paging"]["ack_link_ttl"], "24h");
        assert_eq!(doc["services"][0]["escalation_policy"], "payments");
        assert_eq!(doc["services"][1]["escalation_policy"], Value::Null);
        let yaml = to_yaml(&example());
        assert!(
            yaml.contains("        targets: [{schedule: primary}, {user: chandra.s}]\n"),
            "{yaml}"
        );
        assert!(
            yaml.contains("email:\n  smtp_url: smtp://mail.example.com:587?tls=required\n"),
            "{yaml}"
        );
    }

    /// The example with `email.smtp_url` set to `url`.
    fn with_smtp_url(url: &str) -> Config {
        let mut config = example();
        config.email.smtp_url = Some(url.to_string());
        config
    }

    #[test]
    fn an_smtp_url_with_a_password_is_left_out() {
        let url = "smtp://firebreak:hunter2@mail.example.com:587?tls=required";
        let config = with_smtp_url(url);
        let doc = to_document(&config);
        assert_eq!(
            doc["email"]["smtp_url"],
            json!({ "env": "FIREBREAK_SMTP_URL" })
        );
        let yaml = to_yaml(&config);
        for shown in [doc.to_string(), yaml.clone()] {
            assert!(!shown.contains("hunter2"), "{shown}");
        }
        assert!(
            yaml.contains("  smtp_url: {env: FIREBREAK_SMTP_URL}\n"),
            "{yaml}"
        );
        assert!(yaml.contains("# The SMTP URL is left out"), "{yaml}");
        // It reads back from the variable, like an integration key.
        let mut keys = keys_by_variable(&config);
        keys.push(("FIREBREAK_SMTP_URL".into(), url.into()));
        let back = read_back(&yaml, &keys);
        assert_eq!(without_secrets(back), without_secrets(config));
        // A URL with nothing secret in it is written as it is.
        let config = with_smtp_url("smtp://127.0.0.1:2525");
        let yaml = to_yaml(&config);
        assert!(
            yaml.contains("  smtp_url: smtp://127.0.0.1:2525\n"),
            "{yaml}"
        );
        assert!(!yaml.contains("# The SMTP URL is left out"), "{yaml}");
        let back = read_back(&yaml, &keys_by_variable(&config));
        assert_eq!(without_secrets(back), without_secrets(config));
    }

    #[test]
    fn paging_left_at_its_defaults_reads_back() {
        let mut config = example();
        config.paging = firebreak_domain::config::Paging::default();
        config.email = firebreak_domain::config::Email::default();
        config.server = firebreak_domain::config::Server::default();
        let yaml = to_yaml(&config);
        assert!(!yaml.contains("default_policy"), "{yaml}");
        assert!(!yaml.contains("public_url"), "{yaml}");
        let back = read_back(&yaml, &keys_by_variable(&config));
        assert_eq!(without_secrets(back), without_secrets(config));
    }

    #[test]
    fn the_status_page_reads_back_from_its_export() {
        let source = "\
severities:
  - name: SEV1
    respond_within: 5m
    status_page: {component_status: major_outage, impact: critical}
  - name: SEV2
    respond_within: 15m
services:
  - name: checkout
  - name: search
status_page:
  title: 'Status: Example'
  time_zone: America/New_York
  listen: 127.0.0.1:8081
  url: https://status.example.com/
  logo_url: https://example.com/logo.png
  site_url: https://example.com
  components:
    - name: Checkout
      description: 'POST /v1/checkout # and refunds'
      group: Shop
      services: [checkout, search]
    - name: '{components}'
    - name: API
      description: ''
      services: []
  templates:
    investigating: 'We are looking into problems with {components}.'
    resolved: |-
      Resolved.
      {components} work again.
";
        let config = crate::parse(source, "firebreak.yaml").unwrap_or_else(|e| panic!("{e}"));
        assert_ne!(config.status_page, StatusPage::default());
        let yaml = to_yaml(&config);
        let back = read_back(&yaml, &[]);
        assert_eq!(back, config, "{yaml}");
        assert_eq!(to_yaml(&back), yaml);
        assert!(
            yaml.contains(
                "  - name: SEV1\n    description: ''\n    respond_within: 5m\n    page: []\n    requires_commander: \
                 false\n    status_page:\n      component_status: major_outage\n      impact: \
                 critical\n"
            ),
            "{yaml}"
        );
        // SEV2 has none: the key is left out, not written as the default for its rank.
        assert_eq!(
            to_document(&config)["severities"][1]["status_page"],
            Value::Null
        );
        assert_eq!(yaml.matches("status_page:").count(), 2, "{yaml}");
        assert!(
            yaml.contains(
                "\nstatus_page:\n  title: 'Status: Example'\n  time_zone: America/New_York\n"
            ),
            "{yaml}"
        );

        // Templates are read and written in the statuses' order, whatever the file's.
        let mut reordered = config.clone();
        reordered.status_page.templates.reverse();
        let back = read_back(&to_yaml(&reordered), &[]);
        for status in PublicStatus::ALL {
            assert_eq!(
                back.status_page.template(status),
                reordered.status_page.template(status)
            );
        }

        // Only what differs from the defaults makes the section appear.
        let mut config = Config::default();
        config.status_page.time_zone = "Europe/Berlin".into();
        let yaml = to_yaml(&config);
        assert!(
            yaml.ends_with("\nstatus_page:\n  title: Status\n  time_zone: Europe/Berlin\n  components: []\n  templates: {}\n"),
            "{yaml}"
        );
        assert_eq!(read_back(&yaml, &[]), config);
        let yaml = to_yaml(&Config::default());
        assert!(!yaml.contains("status_page"), "{yaml}");
    }

    #[test]
    fn integration_keys_are_left_out() {
        let config = example();
        let doc = to_document(&config);
        let yaml = to_yaml(&config);
        let json = doc.to_string();
        for spec in config.services.iter().flat_map(|s| &s.integrations) {
            assert!(!json.contains(&spec.key), "{json}");
            assert!(!yaml.contains(&spec.key), "{yaml}");
        }
        assert_eq!(
            doc["services"][0]["integrations"][1],
            json!({ "name": "stripe-status", "key": { "env": "FIREBREAK_KEY_CHECKOUT_STRIPE_STATUS" } })
        );
        assert!(
            yaml.contains("key: {env: FIREBREAK_KEY_CHECKOUT_STRIPE_STATUS}"),
            "{yaml}"
        );
    }

    #[test]
    fn exported_key_variables_are_unique() {
        let spec = |name: &str, key: &str, env: Option<&str>| IntegrationSpec {
            name: name.into(),
            key: key.into(),
            key_env: env.map(String::from),
        };
        let mut config = Config::default();
        config.services.push(Service {
            name: Name::parse("search-api").unwrap(),
            description: String::new(),
            team: None,
            runbook: None,
            integrations: vec![
                spec("grafana", "K0000000000000000000000000000001", None),
                spec("Grafana!", "K0000000000000000000000000000002", None),
                spec(
                    "other",
                    "K0000000000000000000000000000003",
                    Some("FIREBREAK_KEY_SEARCH_API_GRAFANA_2"),
                ),
            ],
            grouping: Grouping::default(),
            escalation_policy: None,
            manager: None,
        });
        let vars: Vec<String> = keys_by_variable(&config)
            .into_iter()
            .map(|(v, _)| v)
            .collect();
        assert_eq!(
            vars,
            [
                "FIREBREAK_KEY_SEARCH_API_GRAFANA",
                "FIREBREAK_KEY_SEARCH_API_GRAFANA_3",
                "FIREBREAK_KEY_SEARCH_API_GRAFANA_2",
            ]
        );
        let yaml = to_yaml(&config);
        let back = read_back(&yaml, &keys_by_variable(&config));
        assert_eq!(without_secrets(back), without_secrets(config));
    }

    /// Channels of every kind: one with its URL in the file, one read from a variable.
    const CHANNELS: &str = "\
severities:
  - name: SEV1
    respond_within: 5m
  - name: SEV2
    respond_within: 15m
services:
  - name: checkout
  - name: search-api
comms:
  channels:
    - name: incidents
      type: slack
      url: https://hooks.slack.com/services/T0PATHPART/B0PATHPART/t0k3nS3CR3T?thread=1
      severities: [sev1, SEV2]
      services: [checkout]
    - name: search_team
      type: mattermost
      url: {env: SEARCH_HOOK}
      services: [search-api]
    - name: all
      type: teams
      url: https://prod-01.westus.logic.azure.com:443/workflows/w0rkfl0w/triggers/manual/paths/invoke?sig=s1gS3CR3T
";

    const SEARCH_HOOK: &str = "http://mattermost.internal:8065/hooks/m4tt3rm0stS3CR3T";

    fn channels() -> Config {
        let env = |name: &str| (name == "SEARCH_HOOK").then(|| SEARCH_HOOK.to_string());
        crate::parse_with_env(CHANNELS, "firebreak.yaml", &env).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn channel_urls_are_left_out() {
        let config = channels();
        let doc = to_document(&config);
        let yaml = to_yaml(&config);
        let json = doc.to_string();
        for shown in [&json, &yaml] {
            for secret in [
                // The URLs whole, and each part of them that could be a secret.
                config.comms.channels[0].url.as_str(),
                config.comms.channels[2].url.as_str(),
                SEARCH_HOOK,
                "hooks.slack.com",
                "/services/",
                "T0PATHPART",
                "B0PATHPART",
                "t0k3nS3CR3T",
                "thread=1",
                "w0rkfl0w",
                "s1gS3CR3T",
                "m4tt3rm0stS3CR3T",
                "mattermost.internal",
                "https://",
                "http://",
            ] {
                assert!(!shown.contains(secret), "{secret}: {shown}");
            }
        }
        assert_eq!(
            doc["comms"]["channels"][0],
            json!({
                "name": "incidents",
                "type": "slack",
                "url": { "env": "FIREBREAK_CHANNEL_INCIDENTS_URL" },
                // As the file's severities spell them.
                "severities": ["SEV1", "SEV2"],
                "services": ["checkout"],
            })
        );
        assert!(
            yaml.contains(
                "# Chat channel URLs are left out: each is read from the environment variable \
                 named\n# under its url (url: {env: NAME}); set those where Firebreak runs.\n"
            ),
            "{yaml}"
        );
        assert!(
            yaml.ends_with(
                "\ncomms:
  channels:
    - name: incidents
      type: slack
      url: {env: FIREBREAK_CHANNEL_INCIDENTS_URL}
      severities: [SEV1, SEV2]
      services: [checkout]
    - name: search_team
      type: mattermost
      url: {env: SEARCH_HOOK}
      services: [search-api]
    - name: all
      type: teams
      url: {env: FIREBREAK_CHANNEL_ALL_URL}
"
            ),
            "{yaml}"
        );

        // With the variables set, the export reads back into the same channels, each URL now
        // read from the variable it was exported as.
        let vars = keys_by_variable(&config);
        assert_eq!(
            vars,
            [
                (
                    "FIREBREAK_CHANNEL_INCIDENTS_URL".to_string(),
                    config.comms.channels[0].url.clone()
                ),
                ("SEARCH_HOOK".to_string(), SEARCH_HOOK.to_string()),
                (
                    "FIREBREAK_CHANNEL_ALL_URL".to_string(),
                    config.comms.channels[2].url.clone()
                ),
            ]
        );
        let back = read_back(&yaml, &vars);
        let mut expected = config.clone();
        expected.comms.channels[0].url_env = Some("FIREBREAK_CHANNEL_INCIDENTS_URL".into());
        expected.comms.channels[2].url_env = Some("FIREBREAK_CHANNEL_ALL_URL".into());
        assert_eq!(back, expected, "{yaml}");
        assert_eq!(back.comms, expected.comms);
        // And once read back, exporting again changes nothing.
        assert_eq!(to_yaml(&back), yaml);
        // Read from the variables in the first place, it reads back exactly.
        assert_eq!(read_back(&to_yaml(&back), &vars), back);
    }

    #[test]
    fn the_example_with_channels_reads_back_from_its_export() {
        let config = example_with_comms();
        let yaml = to_yaml(&config);
        assert!(!yaml.contains(INCIDENTS_URL), "{yaml}");
        assert!(
            yaml.contains("      url: {env: FIREBREAK_CHANNEL_INCIDENTS_URL}\n"),
            "{yaml}"
        );
        let back = read_back(&yaml, &keys_by_variable(&config));
        // Integration keys written in the file come back from variables; channels are equal.
        assert_eq!(back.comms, config.comms, "{yaml}");
        assert_eq!(without_secrets(back), without_secrets(config));
    }

    #[test]
    fn channels_are_written_only_when_there_are_some() {
        let mut config = channels();
        config.comms.channels.clear();
        let yaml = to_yaml(&config);
        assert_eq!(to_document(&config)["comms"], Value::Null);
        assert!(!yaml.contains("comms:"), "{yaml}");
        assert!(!yaml.contains("Chat channel URLs"), "{yaml}");
        assert_eq!(read_back(&yaml, &[]), config);
    }

    #[test]
    fn stakeholders_read_back_from_their_export() {
        let mut config = channels();
        config.comms.channels.clear();
        config.comms.stakeholders = crate::parse(
            "severities:\n  - name: SEV1\n    respond_within: 5m\nservices:\n  - name: checkout\n\
             comms:\n  stakeholders:\n    - email: cto@example.com\n      name: Dana (CTO)\n\
             \x20     severities: [sev1]\n    - email: pay@example.com\n      services: [checkout]\n",
            "firebreak.yaml",
        )
        .unwrap_or_else(|e| panic!("{e}"))
        .comms
        .stakeholders;
        let doc = to_document(&config);
        assert_eq!(doc["comms"]["channels"], Value::Null);
        assert_eq!(
            doc["comms"]["stakeholders"][0],
            json!({"email": "cto@example.com", "name": "Dana (CTO)", "severities": ["SEV1"],
                   "services": null})
        );
        let yaml = to_yaml(&config);
        assert!(!yaml.contains("channels"), "{yaml}");
        assert!(!yaml.contains("Chat channel URLs"), "{yaml}");
        assert_eq!(read_back(&yaml, &[]), config);
    }

    #[test]
    fn exported_channel_variables_are_unique() {
        let channel =
            |name: &str, url: &str, env: Option<&str>| firebreak_domain::config::Channel {
                name: name.into(),
                kind: firebreak_domain::config::ChannelKind::Slack,
                url: url.into(),
                url_env: env.map(String::from),
                services: vec![],
                severities: vec![],
            };
        let mut config = Config::default();
        config.comms.channels = vec![
            channel("a-b", "https://hooks.example.com/1", None),
            channel("a_b", "https://hooks.example.com/2", None),
            channel(
                "other",
                "https://hooks.example.com/3",
                Some("FIREBREAK_CHANNEL_A_B_URL_2"),
            ),
        ];
        let vars: Vec<String> = keys_by_variable(&config)
            .into_iter()
            .map(|(v, _)| v)
            .collect();
        assert_eq!(
            vars,
            [
                "FIREBREAK_CHANNEL_A_B_URL",
                "FIREBREAK_CHANNEL_A_B_URL_3",
                "FIREBREAK_CHANNEL_A_B_URL_2",
            ]
        );
        let yaml = to_yaml(&config);
        let back = read_back(&yaml, &keys_by_variable(&config));
        let urls = |c: &Config| -> Vec<String> {
            c.comms.channels.iter().map(|c| c.url.clone()).collect()
        };
        assert_eq!(urls(&back), urls(&config));
        assert_eq!(without_secrets(back), without_secrets(config));
    }

    /// Every mapping in the document has exactly the keys the reader accepts there.
    #[test]
    fn the_document_has_the_readers_keys() {
        fn keys(v: &Value) -> BTreeSet<&str> {
            v.as_object().unwrap().keys().map(String::as_str).collect()
        }
        fn check(v: &Value, allowed: &[&str], what: &str) {
            let expected: BTreeSet<&str> = allowed.iter().copied().collect();
            assert_eq!(keys(v), expected, "{what}: {v}");
        }
        fn each<'v>(v: &'v Value, key: &str) -> &'v [Value] {
            let items = v[key].as_array().unwrap();
            assert!(!items.is_empty(), "the example should have some {key}");
            items
        }
        let doc = to_document(&example());
        check(&doc, TOP_KEYS, "top");
        for s in each(&doc, "severities") {
            check(s, SEVERITY_KEYS, "severity");
        }
        for r in each(&doc, "roles") {
            check(r, ROLE_KEYS, "role");
        }
        for c in each(&doc, "checklists") {
            check(c, CHECKLIST_KEYS, "checklist");
        }
        for s in each(&doc, "services") {
            check(s, SERVICE_KEYS, "service");
            check(&s["grouping"], GROUPING_KEYS, "grouping");
            for d in s["grouping"]["declare"].as_array().unwrap() {
                check(d, DECLARE_KEYS, "declare rule");
            }
            for i in s["integrations"].as_array().unwrap() {
                check(i, INTEGRATION_KEYS, "integration");
                check(&i["key"], KEY_SOURCE_KEYS, "integration key");
            }
        }
        for u in each(&doc, "users") {
            check(u, USER_KEYS, "user");
        }
        let mut restrictions = 0;
        for s in each(&doc, "schedules") {
            check(s, SCHEDULE_KEYS, "schedule");
            for l in each(s, "layers") {
                check(l, LAYER_KEYS, "layer");
                check(&l["rotation"], ROTATION_KEYS, "rotation");
                for r in l["restrict"].as_array().unwrap() {
                    check(r, RESTRICT_KEYS, "restriction");
                    restrictions += 1;
                }
            }
        }
        assert!(
            restrictions > 0,
            "the example should have a restricted layer"
        );
        let alerting = &doc["alerting"];
        check(alerting, ALERTING_KEYS, "alerting");
        check(&alerting["rate_limit"], RATE_LIMIT_KEYS, "rate_limit");
        for r in each(alerting, "routes") {
            check(r, ROUTE_KEYS, "route");
        }
        check(&doc["outbound"], OUTBOUND_KEYS, "outbound");
        check(&doc["checks"], CHECKS_KEYS, "checks");
        // The example leaves out ca_file, which must name a readable file.
        assert!(
            keys(&doc["checks"]["tls"])
                .iter()
                .all(|k| CHECK_TLS_KEYS.contains(k)),
            "checks tls: {}",
            doc["checks"]["tls"]
        );
        check(&doc["outbound"]["retry"], RETRY_KEYS, "retry");
        for s in each(&doc, "services") {
            assert!(s["escalation_policy"].is_string() || s["escalation_policy"].is_null());
        }
        let (mut users, mut schedules) = (0, 0);
        for p in each(&doc, "escalation_policies") {
            check(p, POLICY_KEYS, "escalation policy");
            for s in each(p, "steps") {
                check(s, STEP_KEYS, "step");
                for t in each(s, "targets") {
                    check(t, TARGET_KEYS, "target");
                    // Exactly one of them has a value.
                    let named: Vec<&str> = TARGET_KEYS
                        .iter()
                        .copied()
                        .filter(|k| !t[*k].is_null())
                        .collect();
                    match named.as_slice() {
                        ["user"] => users += 1,
                        ["schedule"] => schedules += 1,
                        _ => panic!("a target names one user or schedule: {t}"),
                    }
                }
            }
        }
        assert!(users > 0 && schedules > 0, "the example should page both");
        check(&doc["paging"], PAGING_KEYS, "paging");
        check(&doc["paging"]["retry"], RETRY_KEYS, "paging retry");
        check(&doc["server"], SERVER_KEYS, "server");
        check(&doc["server"]["tls"], TLS_KEYS, "server tls");
        check(&doc["email"], EMAIL_KEYS, "email");
        let mut effects = 0;
        for s in each(&doc, "severities") {
            if !s["status_page"].is_null() {
                check(&s["status_page"], EFFECT_KEYS, "severity status_page");
                effects += 1;
            }
        }
        assert!(
            effects > 0,
            "the example should set a severity's status_page"
        );
        let page = &doc["status_page"];
        check(page, STATUS_PAGE_KEYS, "status_page");
        check(&page["templates"], TEMPLATE_KEYS, "templates");
        for c in each(page, "components") {
            check(c, COMPONENT_KEYS, "component");
        }
        // Left at its defaults, the section is null, and so left out of the YAML.
        let mut config = example();
        config.status_page = StatusPage::default();
        assert_eq!(to_document(&config)["status_page"], Value::Null);
        // Without channels, so is comms.
        let mut config = example();
        config.comms = Default::default();
        assert_eq!(to_document(&config)["comms"], Value::Null);
        let doc = to_document(&example_with_comms());
        check(&doc, TOP_KEYS, "top, with comms");
        check(&doc["comms"], COMMS_KEYS, "comms");
        for c in each(&doc["comms"], "channels") {
            check(c, CHANNEL_KEYS, "channel");
            check(&c["url"], KEY_SOURCE_KEYS, "channel url");
            assert!(
                c["severities"].is_array() && c["services"].is_array(),
                "{c}"
            );
        }
        for s in each(&doc["comms"], "stakeholders") {
            check(s, STAKEHOLDER_KEYS, "stakeholder");
        }
        check(
            &to_document(&with_smtp_url("smtps://u:p@mail.example.com"))["email"]["smtp_url"],
            KEY_SOURCE_KEYS,
            "smtp_url",
        );

        let doc = to_document(&example());
        let mut freezes = 0;
        for s in each(&doc, "severities") {
            // Both or neither.
            assert_eq!(s["freeze"].is_null(), s["freeze_until"].is_null(), "{s}");
            freezes += usize::from(!s["freeze"].is_null());
        }
        assert!(freezes > 0, "the example should set a severity's freeze");
        let (mut commands, mut requests, mut secrets) = (0, 0, 0);
        for r in each(&doc, "runbooks") {
            check(r, RUNBOOK_KEYS, "runbook");
            for a in each(r, "actions") {
                check(a, ACTION_KEYS, "action");
                // The keys of the other kind are null.
                let (own, other) = match a["kind"].as_str() {
                    Some("command") => (
                        ["run", "cwd", "env"].as_slice(),
                        ["method", "url", "headers", "body"].as_slice(),
                    ),
                    Some("http") => (
                        ["method", "url", "headers", "body"].as_slice(),
                        ["run", "cwd", "env"].as_slice(),
                    ),
                    kind => panic!("an action's kind is command or http, not {kind:?}: {a}"),
                };
                assert!(other.iter().all(|k| a[*k].is_null()), "{a}");
                assert!(!a[own[0]].is_null(), "{a}");
                if own.len() == 3 {
                    commands += 1;
                } else {
                    requests += 1;
                }
                for values in [&a["env"], &a["headers"]] {
                    for value in values.as_object().into_iter().flat_map(|m| m.values()) {
                        if value.is_object() {
                            check(value, SECRET_REF_KEYS, "secret");
                            secrets += 1;
                        }
                    }
                }
            }
        }
        assert!(
            commands > 0 && requests > 0 && secrets > 0,
            "the example should have command and http actions, with secrets"
        );
        check(&doc["break_glass"], BREAK_GLASS_KEYS, "break_glass");
        check(&doc["secrets"], SECRETS_KEYS, "secrets");
        check(&doc["oidc"], OIDC_KEYS, "oidc");
        check(&doc["oidc"]["roles"], OIDC_ROLE_KEYS, "oidc roles");
        check(&doc["metrics"], METRICS_KEYS, "metrics");
        // The client secret is never exported, only the variable that holds it.
        assert_eq!(
            doc["oidc"]["client_secret"],
            json!({"env": "FIREBREAK_OIDC_CLIENT_SECRET"})
        );
        assert!(!doc.to_string().contains("example-oidc-client-secret"));
        // Left out, each of the new sections is null.
        let mut config = example();
        config.runbooks.clear();
        config.break_glass = Default::default();
        config.secrets = Default::default();
        config.oidc = None;
        config.metrics = Default::default();
        config.checks = Default::default();
        let doc = to_document(&config);
        check(&doc, TOP_KEYS, "top, without the new sections");
        for key in [
            "runbooks",
            "break_glass",
            "secrets",
            "oidc",
            "metrics",
            "review",
            "reports",
            "checks",
        ] {
            assert_eq!(doc[key], Value::Null, "{key}");
        }
    }

    /// Runbooks with every key: a multi-line body, both kinds of action, secrets, params and
    /// placeholders, and an action with nothing but the required keys.
    const RUNBOOKS: &str = r#"
services:
  - name: checkout
  - name: search
runbooks:
  - name: checkout-errors
    services: [checkout, search]
    match: ['alertname="HighErrorRate"']
    body: |
      1. Check the error rate panel.

      2. Roll back: `kubectl rollout undo`.
    url: https://wiki.example.com/checkout
    actions:
      - name: rollback
        description: 'Roll back: the last deploy'
        kind: command
        run: [kubectl, rollout, undo, "deployment/{service}", -n, "{namespace}", "{ literal }"]
        cwd: /srv/ops
        env: {KUBECONFIG: {secret: kubeconfig}, MODE: fast, 'TRUE': 'true', EMPTY: ''}
        params: {namespace: "^[a-z0-9-]{1,63}$", region: 'eu|us'}
        timeout: 90s
        role: admin
        approval: true
        approval_within: 1h30m
      - name: restart-via-deploy-api
        kind: http
        method: PATCH
        url: https://deploy.example.com/api/{service}?incident={incident}
        headers: {Authorization: {secret: deploy_token}, X-Requested-By: firebreak}
        body: |-
          {"service": "{service}",
            "to": "{previous_version}"}
  - name: search-slow
    services: [search]
    url: https://wiki.example.com/search
    actions:
      - name: ping
        kind: http
        url: https://search.example.com/ping
"#;

    #[test]
    fn runbooks_read_back_from_their_export() {
        let config = crate::parse(RUNBOOKS, "firebreak.yaml").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(config.runbooks.len(), 2);
        let yaml = to_yaml(&config);
        let back = read_back(&yaml, &[]);
        assert_eq!(back, config, "{yaml}");
        assert_eq!(back.runbooks, config.runbooks);
        // And once read back, exporting again changes nothing.
        assert_eq!(to_yaml(&back), yaml);
        assert!(
            yaml.ends_with(
                r#"
runbooks:
  - name: checkout-errors
    match: ['alertname="HighErrorRate"']
    url: https://wiki.example.com/checkout
    services: [checkout, search]
    body: |
      1. Check the error rate panel.

      2. Roll back: `kubectl rollout undo`.
    actions:
      - name: rollback
        description: 'Roll back: the last deploy'
        kind: command
        run: [kubectl, rollout, undo, 'deployment/{service}', '-n', '{namespace}', '{ literal }']
        cwd: /srv/ops
        env:
          EMPTY: ''
          KUBECONFIG: {secret: kubeconfig}
          MODE: fast
          'TRUE': 'true'
        params:
          namespace: ^[a-z0-9-]{1,63}$
          region: eu|us
        timeout: 1m30s
        role: admin
        approval: true
        approval_within: 1h30m
      - name: restart-via-deploy-api
        kind: http
        method: PATCH
        url: https://deploy.example.com/api/{service}?incident={incident}
        headers:
          Authorization: {secret: deploy_token}
          X-Requested-By: firebreak
        body: |-
          {"service": "{service}",
            "to": "{previous_version}"}
        timeout: 5m
        role: responder
        approval: false
        approval_within: 15m
  - name: search-slow
    url: https://wiki.example.com/search
    services: [search]
    actions:
      - name: ping
        kind: http
        method: POST
        url: https://search.example.com/ping
        timeout: 5m
        role: responder
        approval: false
        approval_within: 15m
"#
            ),
            "{yaml}"
        );
        // Secrets are written by name, as in the file.
        let doc = to_document(&config);
        assert_eq!(
            doc["runbooks"][0]["actions"][0]["env"]["KUBECONFIG"],
            json!({ "secret": "kubeconfig" })
        );
        assert_eq!(
            doc["runbooks"][0]["actions"][1]["headers"]["X-Requested-By"],
            "firebreak"
        );
        // Without runbooks, the section is left out.
        let mut config = config;
        config.runbooks.clear();
        let yaml = to_yaml(&config);
        assert!(!yaml.contains("runbooks"), "{yaml}");
        assert_eq!(read_back(&yaml, &[]), config);
    }

    #[test]
    fn freeze_policies_are_written_both_or_neither() {
        let source = "\
severities:
  - name: SEV1
    respond_within: 5m
    freeze_until: resolved
  - name: SEV2
    respond_within: 15m
  - name: SEV3
    respond_within: 1h
    freeze: all
";
        let config = crate::parse(source, "firebreak.yaml").unwrap_or_else(|e| panic!("{e}"));
        let doc = to_document(&config);
        // The half left out is written as it was read: the default for the rank.
        assert_eq!(doc["severities"][0]["freeze"], "services");
        assert_eq!(doc["severities"][0]["freeze_until"], "resolved");
        assert_eq!(doc["severities"][1]["freeze"], Value::Null);
        assert_eq!(doc["severities"][1]["freeze_until"], Value::Null);
        assert_eq!(doc["severities"][2]["freeze"], "all");
        assert_eq!(doc["severities"][2]["freeze_until"], "mitigated");
        let yaml = to_yaml(&config);
        assert!(
            yaml.contains(
                "  - name: SEV1\n    description: ''\n    respond_within: 5m\n    page: []\n    \
                 requires_commander: false\n    freeze: services\n    freeze_until: resolved\n"
            ),
            "{yaml}"
        );
        assert_eq!(yaml.matches("freeze:").count(), 2, "{yaml}");
        let back = read_back(&yaml, &[]);
        assert_eq!(back, config, "{yaml}");
        // Written out in full, a policy no longer depends on its severity's rank.
        let mut reordered = back.clone();
        reordered.severities.swap(1, 2);
        let back = read_back(&to_yaml(&reordered), &[]);
        assert_eq!(back.freeze_policy("SEV3"), config.freeze_policy("SEV3"));
        assert_eq!(back.freeze_policy("SEV1"), config.freeze_policy("SEV1"));
    }

    #[test]
    fn metrics_are_written_only_with_a_listener() {
        let mut config = Config::default();
        assert!(!to_yaml(&config).contains("metrics"));
        config.metrics.listen = Some("127.0.0.1:9464".into());
        let yaml = to_yaml(&config);
        assert!(
            yaml.ends_with("\nmetrics:\n  listen: '127.0.0.1:9464'\n"),
            "{yaml}"
        );
        assert_eq!(read_back(&yaml, &[]), config);
    }

    #[test]
    fn review_is_written_only_when_set_and_reads_back() {
        let mut config = Config::default();
        assert!(!to_yaml(&config).contains("review"));
        config.review.remind_after = jiff::SignedDuration::from_hours(24 * 3);
        let yaml = to_yaml(&config);
        assert!(yaml.contains("\nreview:\n"), "{yaml}");
        assert!(yaml.contains("\n  remind_after: 72h\n"), "{yaml}");
        assert!(!yaml.contains("remind_severities"), "{yaml}");
        assert_eq!(read_back(&yaml, &[]), config);
        config.review.remind_severities = Some(vec!["SEV1".into()]);
        config.review.blameless_disable = vec!["should-have".into()];
        config.review.blameless_rules = vec![firebreak_domain::blameless::ExtraRule {
            id: "rockstar".into(),
            pattern: r"\brockstar\b".into(),
            reason: "Praises one person for what a team did.".into(),
            suggestion: "Name what the team did.".into(),
        }];
        let doc = to_document(&config);
        let keys = |v: &Value| {
            v.as_object()
                .unwrap()
                .keys()
                .cloned()
                .collect::<BTreeSet<_>>()
        };
        let set = |k: &[&str]| k.iter().map(|k| k.to_string()).collect::<BTreeSet<_>>();
        assert_eq!(keys(&doc["review"]), set(REVIEW_KEYS));
        assert_eq!(keys(&doc["review"]["blameless"]), set(BLAMELESS_KEYS));
        let rule = &doc["review"]["blameless"]["rules"][0];
        assert_eq!(keys(rule), set(BLAMELESS_RULE_KEYS));
        assert_eq!(read_back(&to_yaml(&config), &[]), config);
        // No severities at all is not the default (the two most severe): it is written.
        config.review.remind_severities = Some(Vec::new());
        assert_eq!(read_back(&to_yaml(&config), &[]), config);
    }

    #[test]
    fn reports_are_written_only_when_set_and_read_back() {
        let mut config = Config::default();
        assert!(!to_yaml(&config).contains("reports"));
        config.reports.threshold = 5;
        config.reports.window = jiff::SignedDuration::from_mins(15);
        config.reports.urgency = firebreak_domain::Urgency::High;
        config.reports.status_page_form = true;
        let yaml = to_yaml(&config);
        assert!(yaml.contains("\nreports:\n"), "{yaml}");
        assert!(yaml.contains("\n  window: 15m\n"), "{yaml}");
        assert!(yaml.contains("\n  urgency: high\n"), "{yaml}");
        let doc = to_document(&config);
        let keys: BTreeSet<String> = doc["reports"]
            .as_object()
            .unwrap()
            .keys()
            .cloned()
            .collect();
        let expected: BTreeSet<String> = REPORTS_KEYS.iter().map(|k| k.to_string()).collect();
        assert_eq!(keys, expected);
        assert_eq!(read_back(&yaml, &[]), config);
    }

    #[test]
    fn break_glass_and_secrets_are_written_only_when_set() {
        let mut config = Config::default();
        let yaml = to_yaml(&config);
        assert!(!yaml.contains("break_glass"), "{yaml}");
        assert!(!yaml.contains("secrets"), "{yaml}");
        config.break_glass.max = jiff::SignedDuration::from_mins(90);
        config.secrets.file = Some("/etc/firebreak/secrets.yaml".into());
        let yaml = to_yaml(&config);
        assert!(
            yaml.ends_with(
                "\nbreak_glass:\n  max: 1h30m\n  approval: false\n\nsecrets:\n  file: \
                 /etc/firebreak/secrets.yaml\n"
            ),
            "{yaml}"
        );
        assert_eq!(read_back(&yaml, &[]), config);
        config.break_glass = Default::default();
        config.break_glass.approval = true;
        let yaml = to_yaml(&config);
        assert!(
            yaml.contains("\nbreak_glass:\n  max: 1h\n  approval: true\n"),
            "{yaml}"
        );
        assert_eq!(read_back(&yaml, &[]), config);
    }
}
