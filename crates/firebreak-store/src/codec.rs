//! How both backends store the values that have no column type of their own: instants as epoch
//! milliseconds, the checklist and roles as JSON, and a timeline event as its `kind` plus a JSON
//! `data` object. One encoding, so a database can move between backends unchanged.

use std::collections::BTreeMap;

use firebreak_domain::escalation::{Policy, Step, Target};
use firebreak_domain::schedule::{
    Every, Layer, Restriction, Rotation, Schedule, WeekdayKey, format_local_start,
    format_time_of_day, parse_local_start, parse_time_of_day,
};
use firebreak_domain::{AccessRole, ChecklistItem, Image, Link, Matcher, Name, TimelineEvent};
use jiff::Timestamp;
use serde_json::{Value, json};

use crate::{Result, StoreError};

fn bad(what: &str, e: impl std::fmt::Display) -> StoreError {
    StoreError::backend(format!("stored {what} is unreadable: {e}"))
}

pub fn millis(t: Timestamp) -> i64 {
    t.as_millisecond()
}

pub fn opt_millis(t: Option<Timestamp>) -> Option<i64> {
    t.map(millis)
}

pub fn timestamp(ms: i64) -> Result<Timestamp> {
    Timestamp::from_millisecond(ms).map_err(|e| bad("timestamp", e))
}

pub fn opt_timestamp(ms: Option<i64>) -> Result<Option<Timestamp>> {
    ms.map(timestamp).transpose()
}

pub fn name(s: &str) -> Result<Name> {
    Name::parse(s).map_err(|e| bad("name", e))
}

pub fn access_role(s: &str) -> Result<AccessRole> {
    s.parse().map_err(|e| bad("role", e))
}

pub fn roles_to_json(roles: &BTreeMap<String, String>) -> Value {
    json!(roles)
}

pub fn roles_from_json(v: Value) -> Result<BTreeMap<String, String>> {
    serde_json::from_value(v).map_err(|e| bad("roles", e))
}

pub fn checklist_to_json(items: &[ChecklistItem]) -> Value {
    items
        .iter()
        .map(|i| {
            json!({
                "id": i.id,
                "text": i.text,
                "done": i.done,
                "done_by": i.done_by,
                "done_at": opt_millis(i.done_at),
            })
        })
        .collect()
}

pub fn checklist_from_json(v: Value) -> Result<Vec<ChecklistItem>> {
    let Value::Array(items) = v else {
        return Err(bad("checklist", "not an array"));
    };
    items
        .iter()
        .map(|v| {
            Ok(ChecklistItem {
                id: v["id"]
                    .as_u64()
                    .and_then(|n| u32::try_from(n).ok())
                    .ok_or_else(|| bad("checklist", "item without id"))?,
                text: v["text"]
                    .as_str()
                    .ok_or_else(|| bad("checklist", "item without text"))?
                    .to_string(),
                done: v["done"].as_bool().unwrap_or(false),
                done_by: v["done_by"].as_str().map(String::from),
                done_at: opt_timestamp(v["done_at"].as_i64())?,
            })
        })
        .collect()
}

/// An event as its `kind` column and `data` JSON.
/// What an action run does, as stored: `{"command": {"argv", "env", "cwd"}}` or
/// `{"http": {"method", "url", "headers": [[name, value]], "body"}}`.
pub fn shown_to_json(shown: &firebreak_domain::action::Shown) -> String {
    use firebreak_domain::action::Shown;
    let v = match shown {
        Shown::Command { argv, env, cwd } => {
            serde_json::json!({"command": {"argv": argv, "env": env, "cwd": cwd}})
        }
        Shown::Http(r) => serde_json::json!({"http": {
            "method": r.method, "url": r.url, "headers": r.headers, "body": r.body,
        }}),
    };
    v.to_string()
}

pub fn shown_from_json(text: &str) -> Result<firebreak_domain::action::Shown> {
    use firebreak_domain::action::{Shown, ShownRequest};
    let v: Value = serde_json::from_str(text).map_err(StoreError::backend)?;
    let strings = |v: &Value| -> Vec<String> {
        v.as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|s| s.as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default()
    };
    if let Some(c) = v.get("command") {
        return Ok(Shown::Command {
            argv: strings(&c["argv"]),
            env: strings(&c["env"]),
            cwd: c["cwd"].as_str().map(String::from),
        });
    }
    let h = v.get("http").ok_or_else(|| {
        StoreError::backend("an action run shows neither a command nor a request")
    })?;
    Ok(Shown::Http(ShownRequest {
        method: h["method"].as_str().unwrap_or("POST").to_string(),
        url: h["url"].as_str().unwrap_or_default().to_string(),
        headers: h["headers"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|p| Some((p[0].as_str()?.to_string(), p[1].as_str()?.to_string())))
                    .collect()
            })
            .unwrap_or_default(),
        body: h["body"].as_str().map(String::from),
    }))
}

/// A deploy's freeze reasons as stored: `NULL` when it was not frozen, else a JSON array.
pub fn freeze_reasons_to(reasons: &[String]) -> Result<Option<String>> {
    if reasons.is_empty() {
        return Ok(None);
    }
    serde_json::to_string(reasons)
        .map(Some)
        .map_err(StoreError::backend)
}

pub fn freeze_reasons_from(stored: Option<&str>) -> Result<Vec<String>> {
    match stored {
        None => Ok(Vec::new()),
        Some(text) => serde_json::from_str(text).map_err(StoreError::backend),
    }
}

pub fn event_to_json(event: &TimelineEvent) -> Result<(&'static str, Value)> {
    let mut value = serde_json::to_value(event)
        .map_err(|e| StoreError::backend(format!("cannot encode event: {e}")))?;
    let data = value
        .get_mut("data")
        .map(Value::take)
        .unwrap_or(Value::Null);
    Ok((event.kind(), data))
}

pub fn event_from_json(kind: &str, data: Value) -> Result<TimelineEvent> {
    serde_json::from_value(json!({ "kind": kind, "data": data }))
        .map_err(|e| bad("timeline event", e))
}

/// Alert labels as a JSON object of strings.
pub fn labels_json(labels: &BTreeMap<String, String>) -> String {
    serde_json::to_string(labels).expect("string maps always serialise")
}

pub fn labels_from(text: &str) -> Result<BTreeMap<String, String>> {
    serde_json::from_str(text).map_err(|e| bad("labels", e))
}

pub fn links_json(links: &[Link]) -> String {
    serde_json::to_string(links).expect("links always serialise")
}

pub fn links_from(text: &str) -> Result<Vec<Link>> {
    serde_json::from_str(text).map_err(|e| bad("links", e))
}

pub fn images_json(images: &[Image]) -> String {
    serde_json::to_string(images).expect("images always serialise")
}

pub fn images_from(text: &str) -> Result<Vec<Image>> {
    serde_json::from_str(text).map_err(|e| bad("images", e))
}

/// Matchers as a JSON array of their written form (`env="prod"`).
pub fn matchers_json(matchers: &[Matcher]) -> String {
    serde_json::to_string(&matchers.iter().map(|m| m.to_string()).collect::<Vec<_>>())
        .expect("strings always serialise")
}

pub fn matchers_from(text: &str) -> Result<Vec<Matcher>> {
    let written: Vec<String> = serde_json::from_str(text).map_err(|e| bad("matchers", e))?;
    written
        .iter()
        .map(|m| Matcher::parse(m).map_err(|e| bad("matcher", e)))
        .collect()
}

/// Parses one of the domain's string enums (`AlertStatus`, `AlertSeverity`, ...).
pub fn word<T: std::str::FromStr<Err = String>>(what: &str, text: &str) -> Result<T> {
    text.parse().map_err(|e: String| bad(what, e))
}

/// A schedule's definition (time zone and layers) as JSON, in the API's shape.
pub fn schedule_to_json(s: &Schedule) -> String {
    json!({
        "time_zone": s.time_zone_name,
        "layers": s.layers.iter().map(|l| json!({
            "name": l.name,
            "members": l.members.iter().map(Name::as_str).collect::<Vec<_>>(),
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
    .to_string()
}

/// Reads back what [`schedule_to_json`] wrote, checking it again.
pub fn schedule_from_json(name: &str, text: &str) -> Result<Schedule> {
    let v: Value = serde_json::from_str(text).map_err(|e| bad("schedule", e))?;
    let text_at = |v: &Value, key: &str| -> Result<String> {
        v[key]
            .as_str()
            .map(str::to_string)
            .ok_or_else(|| bad("schedule", format!("{key} is missing")))
    };
    let list =
        |v: &Value, key: &str| -> Vec<Value> { v[key].as_array().cloned().unwrap_or_default() };
    let mut layers = Vec::new();
    for l in list(&v, "layers") {
        let members = list(&l, "members")
            .iter()
            .map(|m| self::name(m.as_str().unwrap_or_default()))
            .collect::<Result<Vec<_>>>()?;
        let every = Every::parse(&text_at(&l["rotation"], "every")?)
            .ok_or_else(|| bad("schedule", "rotation.every is unreadable"))?;
        let start = parse_local_start(&text_at(&l["rotation"], "start")?)
            .ok_or_else(|| bad("schedule", "rotation.start is unreadable"))?;
        let mut restrict = Vec::new();
        for r in list(&l, "restrict") {
            let days = list(&r, "days")
                .iter()
                .map(|d| WeekdayKey::parse(d.as_str().unwrap_or_default()))
                .collect::<Option<_>>()
                .ok_or_else(|| bad("schedule", "a restriction's day is unreadable"))?;
            let time = |key: &str| -> Result<_> {
                parse_time_of_day(&text_at(&r, key)?)
                    .ok_or_else(|| bad("schedule", format!("a restriction's {key} is unreadable")))
            };
            restrict.push(Restriction {
                days,
                from: time("from")?,
                to: time("to")?,
            });
        }
        layers.push(Layer {
            name: text_at(&l, "name")?,
            members,
            rotation: Rotation { every, start },
            restrict,
        });
    }
    Schedule::new(self::name(name)?, &text_at(&v, "time_zone")?, layers)
        .map_err(|e| bad("schedule", e))
}

/// An escalation policy's steps and repeat as JSON (delays in seconds).
pub fn policy_to_json(p: &Policy) -> String {
    json!({
        "repeat": p.repeat,
        "steps": p.steps.iter().map(|s| json!({
            "delay_seconds": s.delay.as_secs(),
            "targets": s.targets.iter().map(|t| match t {
                Target::User(u) => json!({"user": u.as_str()}),
                Target::Schedule(s) => json!({"schedule": s.as_str()}),
            }).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
    })
    .to_string()
}

/// Reads back what [`policy_to_json`] wrote, checking it again.
pub fn policy_from_json(name: &str, text: &str) -> Result<Policy> {
    let v: Value = serde_json::from_str(text).map_err(|e| bad("policy", e))?;
    let repeat = v["repeat"]
        .as_u64()
        .and_then(|r| u32::try_from(r).ok())
        .ok_or_else(|| bad("policy", "repeat is unreadable"))?;
    let mut steps = Vec::new();
    for s in v["steps"].as_array().cloned().unwrap_or_default() {
        let delay = s["delay_seconds"]
            .as_i64()
            .ok_or_else(|| bad("policy", "a step's delay is unreadable"))?;
        let mut targets = Vec::new();
        for t in s["targets"].as_array().cloned().unwrap_or_default() {
            targets.push(match (t["user"].as_str(), t["schedule"].as_str()) {
                (Some(u), None) => Target::User(self::name(u)?),
                (None, Some(s)) => Target::Schedule(self::name(s)?),
                _ => return Err(bad("policy", "a step's target is unreadable")),
            });
        }
        steps.push(Step {
            delay: jiff::SignedDuration::from_secs(delay),
            targets,
        });
    }
    Policy::new(self::name(name)?, repeat, steps).map_err(|e| bad("policy", e))
}

/// A runbook as stored: its definition as JSON, read back through the domain's checks.
pub fn runbook_to_json(r: &firebreak_domain::runbook::Runbook) -> String {
    use firebreak_domain::runbook::{ActionKind, Value as Setting};
    let setting = |v: &Setting| match v {
        Setting::Text(t) => json!({"text": t}),
        Setting::Secret(n) => json!({"secret": n.as_str()}),
    };
    let settings = |m: &BTreeMap<String, Setting>| -> Value {
        Value::Object(m.iter().map(|(k, v)| (k.clone(), setting(v))).collect())
    };
    let actions: Vec<Value> = r
        .actions
        .iter()
        .map(|a| {
            let mut v = json!({
                "name": a.name.as_str(),
                "description": a.description,
                "params": a.params.iter().map(|(k, p)| (k.clone(), json!(p.pattern))).collect::<serde_json::Map<_, _>>(),
                "timeout_ms": a.timeout.as_millis() as i64,
                "role": a.role.as_str(),
                "approval": a.approval,
                "approval_within_ms": a.approval_within.as_millis() as i64,
            });
            match &a.kind {
                ActionKind::Command { run, cwd, env } => {
                    v["command"] = json!({"run": run, "cwd": cwd, "env": settings(env)});
                }
                ActionKind::Http {
                    method,
                    url,
                    headers,
                    body,
                } => {
                    v["http"] = json!({"method": method, "url": url, "headers": settings(headers), "body": body});
                }
            }
            v
        })
        .collect();
    json!({
        "name": r.name.as_str(),
        "services": r.services.iter().map(Name::as_str).collect::<Vec<_>>(),
        "match": r.matchers.iter().map(|m| m.to_string()).collect::<Vec<_>>(),
        "body": r.body,
        "url": r.url,
        "actions": actions,
    })
    .to_string()
}

pub fn runbook_from_json(text: &str) -> Result<firebreak_domain::runbook::Runbook> {
    use firebreak_domain::runbook::{Action, ActionKind, Param, Runbook, Value as Setting};
    let bad = |what: &str| StoreError::backend(format!("a stored runbook has a bad {what}"));
    let v: Value = serde_json::from_str(text).map_err(StoreError::backend)?;
    let s = |v: &Value, what: &str| v.as_str().map(String::from).ok_or_else(|| bad(what));
    let name_of = |v: &Value, what: &str| {
        v.as_str()
            .and_then(|n| Name::parse(n).ok())
            .ok_or_else(|| bad(what))
    };
    let settings = |v: &Value| -> Result<BTreeMap<String, Setting>> {
        let mut out = BTreeMap::new();
        for (k, x) in v.as_object().into_iter().flatten() {
            let setting = match (x.get("text"), x.get("secret")) {
                (Some(t), _) => Setting::Text(s(t, "setting")?),
                (None, Some(n)) => Setting::Secret(name_of(n, "secret name")?),
                _ => return Err(bad("setting")),
            };
            out.insert(k.clone(), setting);
        }
        Ok(out)
    };
    let ms = |v: &Value, what: &str| {
        v.as_i64()
            .map(jiff::SignedDuration::from_millis)
            .ok_or_else(|| bad(what))
    };
    let mut actions = Vec::new();
    for a in v["actions"].as_array().into_iter().flatten() {
        let kind = if let Some(c) = a.get("command") {
            ActionKind::Command {
                run: c["run"]
                    .as_array()
                    .ok_or_else(|| bad("run"))?
                    .iter()
                    .map(|x| s(x, "run"))
                    .collect::<Result<_>>()?,
                cwd: c["cwd"].as_str().map(String::from),
                env: settings(&c["env"])?,
            }
        } else if let Some(h) = a.get("http") {
            ActionKind::Http {
                method: s(&h["method"], "method")?,
                url: s(&h["url"], "url")?,
                headers: settings(&h["headers"])?,
                body: h["body"].as_str().map(String::from),
            }
        } else {
            return Err(bad("action"));
        };
        let mut params = BTreeMap::new();
        for (k, p) in a["params"].as_object().into_iter().flatten() {
            let pattern = s(p, "param")?;
            params.insert(k.clone(), Param::new(&pattern).map_err(|_| bad("param"))?);
        }
        actions.push(Action {
            name: name_of(&a["name"], "action name")?,
            description: a["description"].as_str().unwrap_or_default().to_string(),
            kind,
            params,
            timeout: ms(&a["timeout_ms"], "timeout")?,
            role: s(&a["role"], "role")?.parse().map_err(|_| bad("role"))?,
            approval: a["approval"].as_bool().unwrap_or(false),
            approval_within: ms(&a["approval_within_ms"], "approval_within")?,
        });
    }
    Ok(Runbook {
        name: name_of(&v["name"], "name")?,
        services: v["services"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|x| name_of(x, "service"))
            .collect::<Result<_>>()?,
        matchers: v["match"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|m| {
                m.as_str()
                    .and_then(|m| Matcher::parse(m).ok())
                    .ok_or_else(|| bad("matcher"))
            })
            .collect::<Result<_>>()?,
        body: v["body"].as_str().unwrap_or_default().to_string(),
        url: v["url"].as_str().map(String::from),
        actions,
    })
}

/// A game day's targets in their stored form.
pub fn targets_json(targets: &firebreak_domain::gameday::Targets) -> String {
    serde_json::to_string(targets).expect("targets serialise")
}

pub fn targets_from(text: &str) -> Result<firebreak_domain::gameday::Targets> {
    serde_json::from_str(text).map_err(|e| bad("game day targets", e))
}

/// A game day's score card in its stored form.
pub fn card_json(card: &firebreak_domain::gameday::ScoreCard) -> String {
    serde_json::to_string(card).expect("score cards serialise")
}

pub fn card_from(text: Option<&str>) -> Result<Option<firebreak_domain::gameday::ScoreCard>> {
    text.map(|t| serde_json::from_str(t).map_err(|e| bad("score card", e)))
        .transpose()
}
