//! The reports over a large history: `GET /api/v1/reports/incidents` and
//! `GET /api/v1/reports/dora` with 100,000 incidents and 1,000,000 deploys, on SQLite and on
//! PostgreSQL.
//!
//! Set-up per backend: a fresh store (SQLite opened as `firebreak serve` opens it, WAL and
//! `synchronous=FULL` in a temp dir; PostgreSQL in a scratch schema dropped afterwards), its
//! schema migrated by Firebreak, then seeded straight through SQL in bulk (setup, not what is
//! measured) with the rows Firebreak itself writes: 20 services; two years of incidents ending
//! now (SEV1–SEV4, 2% drills, one to three services each, detection, declaration,
//! acknowledgement, mitigation and resolution times, some never acknowledged and the most
//! recent still open); postmortems with their revisions for most resolved SEV1/SEV2 incidents
//! and action items on them; and 1,000,000 deploys over the same two years, some of them
//! rollbacks (`rollback`, `rolls_back`, and `incident` for those run during an incident). The
//! data comes from a fixed seed, so both backends hold the same rows. PostgreSQL is vacuumed
//! and analysed after the load, as autovacuum would; SQLite is left as Firebreak leaves it.
//!
//! Then the release binary is started as people run it (`firebreak serve --database-url`, its
//! own process with its own allocator, on a loopback port), a viewer token is made with
//! `firebreak token create`, and each query shape is loaded by a few concurrent closed-loop
//! clients in this process until it has `--requests` answers or `--seconds` have passed, after
//! one warm-up request per client. Every answer must be 200; the bodies of each shape are
//! compared between the two backends. The server's resident memory is read after its shapes.
//!
//! Run: `cargo build --release -p firebreak && cargo run --release -p firebreak-bench -- reports`

use std::collections::{BTreeMap, HashMap};
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use comfy_table::{Table, presets::UTF8_FULL_CONDENSED};
use jiff::{SignedDuration, Timestamp};
use sqlx::postgres::PgPoolCopyExt;

use crate::web::{Measured, ms, pct, thousands};

#[derive(clap::Args)]
pub struct ReportsArgs {
    /// Incidents seeded.
    #[arg(long, default_value_t = 100_000)]
    incidents: usize,
    /// Deploys seeded (rollbacks included).
    #[arg(long, default_value_t = 1_000_000)]
    deploys: usize,
    /// Concurrent clients per query shape.
    #[arg(long, default_value_t = 4)]
    clients: usize,
    /// Answers measured per query shape (the run of a shape also ends after `--seconds`).
    #[arg(long, default_value_t = 300)]
    requests: usize,
    /// The longest a query shape is loaded.
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// PostgreSQL to measure; skipped when empty.
    #[arg(
        long,
        env = "FIREBREAK_TEST_POSTGRES_URL",
        default_value = "postgres://postgres@127.0.0.1:5432/test"
    )]
    postgres: String,
    /// Only seed a SQLite database at this path (it must not exist yet) and stop, to read
    /// query plans against it.
    #[arg(long)]
    seed_only: Option<std::path::PathBuf>,
    /// Only seed PostgreSQL (at `--postgres`) into this new schema and stop, leaving it there
    /// to read query plans against (drop it afterwards: `DROP SCHEMA name CASCADE`).
    #[arg(long)]
    seed_only_postgres: Option<String>,
    /// The Firebreak release binary measured, run as `firebreak serve` on the seeded store.
    #[arg(long, default_value = "target/release/firebreak")]
    firebreak_bin: PathBuf,
}

/// How far back the seeded history goes.
const HISTORY: SignedDuration = SignedDuration::from_hours(24 * 730);
const DAY: i64 = 86_400_000;
const MINUTE: i64 = 60_000;

const SERVICES: [&str; 20] = [
    "checkout",
    "payments",
    "search",
    "login",
    "orders",
    "catalog",
    "cart",
    "inventory",
    "shipping",
    "notifications",
    "recommendations",
    "pricing",
    "reviews",
    "accounts",
    "billing",
    "gateway",
    "media",
    "analytics",
    "support",
    "fraud",
];
const PEOPLE: [&str; 8] = [
    "alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi",
];
const TITLES: [&str; 8] = [
    "Elevated 5xx on",
    "Latency above SLO on",
    "Timeouts calling",
    "Error budget burn on",
    "Queue backlog in",
    "Failed card payments through",
    "Stale cache served by",
    "Certificate expiring for",
];

/// A small deterministic generator (xorshift64*), so both backends get the same rows.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    /// Uniform in [0, 1).
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }
    /// Exponentially distributed with mean `mean_ms`, at least 1 s.
    fn exp_ms(&mut self, mean_ms: f64) -> i64 {
        ((-(1.0 - self.unit()).ln() * mean_ms) as i64).max(1000)
    }
    /// A service, the first few far more often than the rest.
    fn service(&mut self, weights: &[f64]) -> usize {
        let total = weights.last().copied().unwrap_or(1.0);
        let x = self.unit() * total;
        weights.partition_point(|w| *w <= x).min(weights.len() - 1)
    }
    fn person(&mut self) -> &'static str {
        PEOPLE[self.below(PEOPLE.len() as u64) as usize]
    }
}

/// One column value, written as each backend stores it.
enum V {
    I(i64),
    T(String),
    B(bool),
    N,
}

fn opt_i(v: Option<i64>) -> V {
    v.map_or(V::N, V::I)
}

fn opt_t(v: Option<String>) -> V {
    v.map_or(V::N, V::T)
}

struct Incident {
    severity: &'static str,
    drill: bool,
    services: Vec<usize>,
    detected: i64,
    declared: i64,
    acknowledged: Option<i64>,
    mitigated: Option<i64>,
    resolved: Option<i64>,
    declared_by: &'static str,
    commander: &'static str,
}

struct Postmortem {
    number: i64,
    status: &'static str,
    version: i64,
    created: i64,
    updated: i64,
    by: &'static str,
}

struct Item {
    incident: i64,
    owner: &'static str,
    due: jiff::civil::Date,
    status: &'static str,
    created: i64,
    closed: Option<i64>,
}

struct Deploy {
    service: usize,
    at: i64,
    /// The position of this deploy among its service's deploys that are not rollbacks.
    seq: u32,
    /// For a rollback: the index (in the sorted list) of the deploy it undid.
    rolls_back: Option<usize>,
    incident: Option<i64>,
}

/// The seeded history, ending at `end` (epoch ms).
struct Data {
    end: i64,
    incidents: Vec<Incident>,
    postmortems: Vec<Postmortem>,
    items: Vec<Item>,
    /// By time; a deploy's id is its index + 1.
    deploys: Vec<Deploy>,
}

fn severity(r: &mut Rng) -> &'static str {
    match r.below(100) {
        0..5 => "SEV1",
        5..25 => "SEV2",
        25..70 => "SEV3",
        _ => "SEV4",
    }
}

/// Mean minutes to acknowledge, mitigate and resolve, by severity.
fn means(sev: &str) -> (f64, f64, f64) {
    match sev {
        "SEV1" => (2.0, 45.0, 120.0),
        "SEV2" => (5.0, 90.0, 240.0),
        "SEV3" => (15.0, 240.0, 720.0),
        _ => (30.0, 480.0, 1440.0),
    }
}

fn seed(incidents: usize, deploys: usize, end: i64) -> Data {
    let mut r = Rng(0x5EED_F1BE_B4EA_4B01);
    let start = end - HISTORY.as_millis() as i64;
    let mut weights = Vec::with_capacity(SERVICES.len());
    let mut total = 0.0;
    for k in 0..SERVICES.len() {
        total += 1.0 / ((k + 1) as f64).powf(0.8);
        weights.push(total);
    }
    let mut detected: Vec<i64> = (0..incidents)
        .map(|_| start + r.below((end - start) as u64) as i64)
        .collect();
    detected.sort_unstable();
    let after = |t: i64, cap: i64| Some(t).filter(|t| *t < cap);
    let mut list = Vec::with_capacity(incidents);
    for &det in &detected {
        let sev = severity(&mut r);
        let (ack_m, mit_m, res_m) = means(sev);
        let mut services = vec![r.service(&weights)];
        let extra = match r.below(100) {
            0..3 => 2,
            3..20 => 1,
            _ => 0,
        };
        for _ in 0..extra {
            let s = r.service(&weights);
            if !services.contains(&s) {
                services.push(s);
            }
        }
        let declared = (det + r.exp_ms(4.0 * MINUTE as f64)).min(end - 1);
        let acknowledged = if r.chance(0.03) {
            None
        } else {
            after(declared + r.exp_ms(ack_m * MINUTE as f64), end)
        };
        let mitigated = if r.chance(0.04) {
            None
        } else {
            after(
                acknowledged.unwrap_or(declared) + r.exp_ms(mit_m * MINUTE as f64),
                end,
            )
        };
        let resolved = mitigated.and_then(|m| after(m + r.exp_ms(res_m * MINUTE as f64), end));
        list.push(Incident {
            severity: sev,
            drill: r.chance(0.02),
            services,
            detected: det,
            declared,
            acknowledged,
            mitigated,
            resolved,
            declared_by: r.person(),
            commander: r.person(),
        });
    }

    // Postmortems for most resolved SEV1/SEV2 incidents, with action items.
    let mut postmortems = Vec::new();
    let mut items = Vec::new();
    for (i, inc) in list.iter().enumerate() {
        let Some(resolved) = inc.resolved else {
            continue;
        };
        if !matches!(inc.severity, "SEV1" | "SEV2") || inc.drill || !r.chance(0.85) {
            continue;
        }
        let number = i as i64 + 1;
        let created = resolved + MINUTE;
        if created >= end {
            continue;
        }
        let updated = (created + r.exp_ms(3.0 * DAY as f64)).min(end - 1);
        let (status, version) = match r.below(100) {
            0..75 if updated - created > DAY => ("published", 5),
            0..85 => ("in_review", 3),
            _ => ("draft", 1),
        };
        postmortems.push(Postmortem {
            number,
            status,
            version,
            created,
            updated,
            by: inc.commander,
        });
        for _ in 0..r.below(4) {
            let made = (created + r.exp_ms(DAY as f64)).min(end - 1);
            let due_ms = made + (7 + r.below(40) as i64) * DAY;
            let due = Timestamp::from_millisecond(due_ms)
                .expect("a time")
                .to_zoned(jiff::tz::TimeZone::UTC)
                .date();
            let overdue = due_ms < end;
            let roll = r.below(100);
            let status = match (overdue, roll) {
                (true, 0..70) | (false, 0..30) => "done",
                (true, 70..80) => "wont_do",
                _ => "open",
            };
            let closed = (status != "open").then(|| {
                let span = due_ms.min(end) - made;
                made + r.below(span.max(1) as u64) as i64
            });
            items.push(Item {
                incident: number,
                owner: r.person(),
                due,
                status,
                created: made,
                closed,
            });
        }
    }

    // Deploys: the ones that are not rollbacks, then rollbacks for about a third of the
    // SEV1/SEV2 incidents (undoing the service's last deploy before detection) and a few
    // more run without an incident.
    let plain = deploys - deploys / 100;
    let mut ds: Vec<(i64, usize)> = (0..plain)
        .map(|_| {
            (
                start + r.below((end - start) as u64) as i64,
                r.service(&weights),
            )
        })
        .collect();
    ds.sort_unstable();
    let mut by_service: Vec<Vec<(i64, usize)>> = vec![Vec::new(); SERVICES.len()];
    let mut seqs = vec![0u32; SERVICES.len()];
    let mut all: Vec<Deploy> = Vec::with_capacity(deploys);
    for (i, &(at, s)) in ds.iter().enumerate() {
        by_service[s].push((at, i));
        all.push(Deploy {
            service: s,
            at,
            seq: seqs[s],
            rolls_back: None,
            incident: None,
        });
        seqs[s] += 1;
    }
    let mut rollbacks = Vec::new();
    while rollbacks.len() < deploys - plain {
        let i = r.below(list.len() as u64) as usize;
        let inc = &list[i];
        let by_incident = matches!(inc.severity, "SEV1" | "SEV2") && r.chance(0.9);
        // An incident's rollback undoes the service's last deploy before detection.
        let (service, at, before, incident) = if by_incident {
            let at = inc.detected + r.exp_ms(20.0 * MINUTE as f64);
            (inc.services[0], at, inc.detected, Some(i as i64 + 1))
        } else {
            let s = r.service(&weights);
            let at = start + r.below((end - start) as u64) as i64;
            (s, at, at, None)
        };
        let undone = by_service[service].partition_point(|(t, _)| *t < before);
        if undone == 0 || at >= end {
            continue;
        }
        let (_, target) = by_service[service][undone - 1];
        rollbacks.push(Deploy {
            service,
            at,
            seq: all[target].seq,
            rolls_back: Some(target),
            incident,
        });
    }
    // Merge by time; the rollbacks' targets move to their new places.
    let mut order: Vec<(i64, bool, usize)> = (0..all.len())
        .map(|i| (all[i].at, false, i))
        .chain((0..rollbacks.len()).map(|i| (rollbacks[i].at, true, i)))
        .collect();
    order.sort_unstable();
    let mut place = vec![0usize; all.len()];
    for (pos, &(_, rb, i)) in order.iter().enumerate() {
        if !rb {
            place[i] = pos;
        }
    }
    let mut plain_slots: Vec<Option<Deploy>> = all.into_iter().map(Some).collect();
    let mut rb_slots: Vec<Option<Deploy>> = rollbacks.into_iter().map(Some).collect();
    let mut merged = Vec::with_capacity(order.len());
    for &(_, rb, i) in &order {
        let mut d = if rb {
            rb_slots[i].take().expect("each rollback once")
        } else {
            plain_slots[i].take().expect("each deploy once")
        };
        d.rolls_back = d.rolls_back.map(|t| place[t]);
        merged.push(d);
    }
    Data {
        end,
        incidents: list,
        postmortems,
        items,
        deploys: merged,
    }
}

fn version(seq: u32) -> String {
    format!("2.{}.{}", seq / 100, seq % 100)
}

fn sections_json(number: i64) -> String {
    let sections: Vec<serde_json::Value> = firebreak_domain::postmortem::SECTIONS
        .iter()
        .map(|(key, title)| {
            serde_json::json!({
                "key": key,
                "title": title,
                "markdown": format!("Notes on INC-{number}: {}.", title.to_lowercase()),
            })
        })
        .collect();
    serde_json::Value::Array(sections).to_string()
}

/// A table's rows, produced one at a time so a million deploys are never all in memory as
/// values.
struct Rows<'a> {
    table: &'static str,
    columns: &'static [&'static str],
    rows: Box<dyn Iterator<Item = Vec<V>> + 'a>,
}

fn tables(d: &Data) -> Vec<Rows<'_>> {
    let services = Rows {
        table: "services",
        columns: &["name", "description", "team", "from_config", "created_at"],
        rows: Box::new(SERVICES.iter().map(move |s| {
            vec![
                V::T((*s).into()),
                V::T(format!("The {s} service")),
                V::T("platform".into()),
                V::B(false),
                V::I(d.end - HISTORY.as_millis() as i64 - DAY),
            ]
        })),
    };
    let incidents = Rows {
        table: "incidents",
        columns: &[
            "number",
            "title",
            "severity",
            "status",
            "summary",
            "customer_impact",
            "drill",
            "detected_at",
            "declared_at",
            "acknowledged_at",
            "mitigated_at",
            "resolved_at",
            "updated_at",
            "declared_by",
            "roles",
            "checklist",
            "version",
            "timeline_seq",
        ],
        rows: Box::new(d.incidents.iter().enumerate().map(|(i, inc)| {
            let status = match (inc.resolved, inc.mitigated, inc.acknowledged) {
                (Some(_), _, _) => "resolved",
                (None, Some(_), _) => "mitigated",
                (None, None, Some(_)) => "identified",
                _ => "investigating",
            };
            let times = [inc.acknowledged, inc.mitigated, inc.resolved];
            let updated = times
                .iter()
                .flatten()
                .max()
                .copied()
                .unwrap_or(inc.declared);
            let changes = times.iter().flatten().count() as i64;
            let roles = match inc.acknowledged {
                Some(_) => {
                    serde_json::json!({ firebreak_domain::config::COMMANDER: inc.commander })
                }
                None => serde_json::json!({}),
            };
            vec![
                V::I(i as i64 + 1),
                V::T(format!(
                    "{} {}",
                    TITLES[i % TITLES.len()],
                    SERVICES[inc.services[0]]
                )),
                V::T(inc.severity.into()),
                V::T(status.into()),
                V::T(String::new()),
                V::T(String::new()),
                V::B(inc.drill),
                V::I(inc.detected),
                V::I(inc.declared),
                opt_i(inc.acknowledged),
                opt_i(inc.mitigated),
                opt_i(inc.resolved),
                V::I(updated),
                V::T(inc.declared_by.into()),
                V::T(roles.to_string()),
                V::T("[]".into()),
                V::I(1 + changes),
                V::I(0),
            ]
        })),
    };
    let incident_services = Rows {
        table: "incident_services",
        columns: &["number", "position", "service"],
        rows: Box::new(d.incidents.iter().enumerate().flat_map(|(i, inc)| {
            inc.services.iter().enumerate().map(move |(p, s)| {
                vec![
                    V::I(i as i64 + 1),
                    V::I(p as i64),
                    V::T(SERVICES[*s].into()),
                ]
            })
        })),
    };
    let postmortems = Rows {
        table: "postmortems",
        columns: &[
            "number",
            "status",
            "version",
            "sections",
            "dismissed",
            "created_at",
            "updated_at",
            "updated_by",
            "published_at",
        ],
        rows: Box::new(d.postmortems.iter().map(|p| {
            vec![
                V::I(p.number),
                V::T(p.status.into()),
                V::I(p.version),
                V::T(sections_json(p.number)),
                V::T("[]".into()),
                V::I(p.created),
                V::I(p.updated),
                V::T(p.by.into()),
                opt_i((p.status == "published").then_some(p.updated)),
            ]
        })),
    };
    let revisions = Rows {
        table: "postmortem_revisions",
        columns: &["number", "version", "at", "actor", "status", "sections"],
        rows: Box::new(d.postmortems.iter().flat_map(|p| {
            (1..=p.version).map(move |v| {
                let status = match v {
                    1 | 2 => "draft",
                    3 | 4 => "in_review",
                    _ => "published",
                };
                let at = if v == p.version {
                    p.updated
                } else {
                    p.created + (p.updated - p.created) * (v - 1) / p.version
                };
                let actor = if v == 1 { "firebreak" } else { p.by };
                vec![
                    V::I(p.number),
                    V::I(v),
                    V::I(at),
                    V::T(actor.into()),
                    V::T(status.into()),
                    V::T(sections_json(p.number)),
                ]
            })
        })),
    };
    let items = Rows {
        table: "action_items",
        columns: &[
            "id",
            "incident",
            "title",
            "owner",
            "due",
            "ticket_url",
            "status",
            "reason",
            "created_at",
            "created_by",
            "updated_at",
            "closed_at",
            "reminded_on",
            "version",
        ],
        rows: Box::new(d.items.iter().enumerate().map(|(i, it)| {
            let id = i as i64 + 1;
            vec![
                V::I(id),
                V::I(it.incident),
                V::T(format!("Follow up on INC-{}: add an alert", it.incident)),
                V::T(it.owner.into()),
                V::T(it.due.to_string()),
                opt_t((id % 3 == 0).then(|| format!("https://tickets.example.com/OPS-{id}"))),
                V::T(it.status.into()),
                opt_t((it.status == "wont_do").then(|| "superseded".to_string())),
                V::I(it.created),
                V::T(it.owner.into()),
                V::I(it.closed.unwrap_or(it.created)),
                opt_i(it.closed),
                V::N,
                V::I(if it.closed.is_some() { 2 } else { 1 }),
            ]
        })),
    };
    let deploys = Rows {
        table: "deployments",
        columns: &[
            "id",
            "service",
            "version",
            "previous_version",
            "commit_sha",
            "author",
            "link",
            "at",
            "source",
            "summary",
            "created_at",
            "freeze_reasons",
            "rollback",
            "rolls_back",
            "incident",
        ],
        rows: Box::new(d.deploys.iter().enumerate().map(|(i, dep)| {
            let id = i as i64 + 1;
            let (ver, prev) = match dep.rolls_back {
                // A rollback goes back to the version before the one it undid.
                Some(_) => (version(dep.seq.saturating_sub(1)), Some(version(dep.seq))),
                None => (version(dep.seq), dep.seq.checked_sub(1).map(version)),
            };
            let mut h = std::collections::hash_map::DefaultHasher::new();
            id.hash(&mut h);
            vec![
                V::I(id),
                V::T(SERVICES[dep.service].into()),
                V::T(ver),
                opt_t(prev),
                V::T(format!("{:016x}{:016x}", h.finish(), id)),
                V::T(PEOPLE[i % PEOPLE.len()].into()),
                V::T(format!("https://ci.example.com/runs/{id}")),
                V::I(dep.at),
                V::T("ci".into()),
                V::N,
                V::I(dep.at),
                V::N,
                V::B(dep.rolls_back.is_some()),
                opt_i(dep.rolls_back.map(|t| t as i64 + 1)),
                opt_i(dep.incident),
            ]
        })),
    };
    vec![
        services,
        incidents,
        incident_services,
        postmortems,
        revisions,
        items,
        deploys,
    ]
}

fn seed_sqlite(path: &Path, d: &Data) -> anyhow::Result<()> {
    use rusqlite::types::Value;
    let mut conn = rusqlite::Connection::open(path)?;
    conn.busy_timeout(Duration::from_secs(30))?;
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    for t in tables(d) {
        let marks: Vec<String> = (1..=t.columns.len()).map(|i| format!("?{i}")).collect();
        let sql = format!(
            "INSERT INTO {} ({}) VALUES ({})",
            t.table,
            t.columns.join(", "),
            marks.join(", ")
        );
        let mut st = tx.prepare(&sql)?;
        for row in t.rows {
            st.execute(rusqlite::params_from_iter(row.into_iter().map(
                |v| match v {
                    V::I(i) => Value::Integer(i),
                    V::T(s) => Value::Text(s),
                    V::B(b) => Value::Integer(b as i64),
                    V::N => Value::Null,
                },
            )))
            .with_context(|| format!("seeding {}", t.table))?;
        }
    }
    // What the store keeps on every deploy and incident write: each incident's newest earlier
    // deploy of its kind (migrations 0022, 0023 and 0025).
    tx.execute_batch(
        "UPDATE incidents SET (suspect_deploy, suspect_at, suspect_service, suspect_version) = ( \
           SELECT d.id, d.at, d.service, d.version FROM incident_services s \
           JOIN deployments d ON d.id = ( \
             SELECT c.id FROM deployments c INDEXED BY deployments_service_at_id \
             WHERE c.drill = incidents.drill AND c.service = s.service AND c.rollback = 0 \
               AND c.at <= incidents.detected_at \
             ORDER BY c.at DESC, c.id DESC LIMIT 1) \
           WHERE s.number = incidents.number \
           ORDER BY d.at DESC, d.id DESC LIMIT 1)",
    )
    .context("keeping each incident's suspect")?;
    // What the store keeps on every deploy: the deploys per day (migration 0024).
    tx.execute_batch(
        "INSERT INTO deploy_days (drill, day, service, deploys) \
         SELECT drill, at - (at % 86400000), service, count(*) FROM deployments \
         WHERE rollback = 0 GROUP BY drill, at - (at % 86400000), service",
    )
    .context("counting deploys per day")?;
    tx.commit()?;
    Ok(())
}

/// A value in PostgreSQL's COPY text format.
fn copy_text(v: V, out: &mut String) {
    match v {
        V::I(i) => out.push_str(&i.to_string()),
        V::B(b) => out.push(if b { 't' } else { 'f' }),
        V::N => out.push_str("\\N"),
        V::T(s) => {
            for c in s.chars() {
                match c {
                    '\\' => out.push_str("\\\\"),
                    '\t' => out.push_str("\\t"),
                    '\n' => out.push_str("\\n"),
                    '\r' => out.push_str("\\r"),
                    c => out.push(c),
                }
            }
        }
    }
}

async fn seed_postgres(pool: &sqlx::PgPool, d: &Data) -> anyhow::Result<()> {
    for t in tables(d) {
        let mut copy = pool
            .copy_in_raw(&format!(
                "COPY {} ({}) FROM STDIN",
                t.table,
                t.columns.join(", ")
            ))
            .await?;
        let mut buf = String::with_capacity(1 << 20);
        for row in t.rows {
            for (i, v) in row.into_iter().enumerate() {
                if i > 0 {
                    buf.push('\t');
                }
                copy_text(v, &mut buf);
            }
            buf.push('\n');
            if buf.len() >= 1 << 20 {
                copy.send(buf.as_bytes()).await?;
                buf.clear();
            }
        }
        if !buf.is_empty() {
            copy.send(buf.as_bytes()).await?;
        }
        copy.finish()
            .await
            .with_context(|| format!("seeding {}", t.table))?;
    }
    for q in [
        "UPDATE counters SET value = (SELECT max(number) FROM incidents) WHERE name = 'incident'",
        "SELECT setval(pg_get_serial_sequence('deployments', 'id'), (SELECT max(id) FROM deployments))",
        "SELECT setval(pg_get_serial_sequence('action_items', 'id'), (SELECT coalesce(max(id), 1) FROM action_items))",
        // What the store keeps on every deploy and incident write: each incident's newest
        // earlier deploy of its kind (migrations 0022, 0023 and 0025).
        "UPDATE incidents i SET (suspect_deploy, suspect_at, suspect_service, suspect_version) = ( \
           SELECT c.id, c.at, c.service, c.version FROM incident_services s \
           CROSS JOIN LATERAL ( \
             SELECT c.id, c.at, c.service, c.version FROM deployments c \
             WHERE c.drill = i.drill AND c.service = s.service AND NOT c.rollback \
               AND c.at <= i.detected_at \
             ORDER BY c.at DESC, c.id DESC LIMIT 1) c \
           WHERE s.number = i.number \
           ORDER BY c.at DESC, c.id DESC LIMIT 1)",
        // What the store keeps on every deploy: the deploys per day (migration 0024).
        "INSERT INTO deploy_days (drill, day, service, deploys) \
         SELECT drill, at - (at % 86400000), service, count(*) FROM deployments \
         WHERE NOT rollback GROUP BY drill, at - (at % 86400000), service",
        "VACUUM ANALYZE",
    ] {
        sqlx::query(q).execute(pool).await?;
    }
    Ok(())
}

/// One query shape: a label and the request path with its query.
struct Shape {
    label: String,
    path: String,
}

fn shapes(end: Timestamp) -> Vec<Shape> {
    let at = |days: i64| (end - SignedDuration::from_hours(24 * days)).to_string();
    let to = end.to_string();
    let mut list = Vec::new();
    for group in ["service", "severity"] {
        list.push(Shape {
            label: format!("incidents, default period (30 days), by {group}"),
            path: format!("/api/v1/reports/incidents?group_by={group}"),
        });
        for (days, name) in [(90, "90 days"), (365, "1 year"), (731, "2 years (all)")] {
            list.push(Shape {
                label: format!("incidents, {name}, by {group}"),
                path: format!(
                    "/api/v1/reports/incidents?from={}&to={to}&group_by={group}",
                    at(days)
                ),
            });
        }
    }
    list.push(Shape {
        label: "DORA, default period (30 days)".into(),
        path: "/api/v1/reports/dora".into(),
    });
    for (days, name) in [(365, "1 year"), (731, "2 years (all)")] {
        list.push(Shape {
            label: format!("DORA, {name}"),
            path: format!("/api/v1/reports/dora?from={}&to={to}", at(days)),
        });
    }
    list.push(Shape {
        label: format!("DORA, 1 year, service={}", SERVICES[0]),
        path: format!(
            "/api/v1/reports/dora?from={}&to={to}&service={}",
            at(365),
            SERVICES[0]
        ),
    });
    list
}

/// What one shape measured on one backend, and a hash of its answer's body.
struct Outcome {
    measured: Measured,
    body_hash: u64,
    body_len: usize,
}

/// `clients` loops over one GET until `requests` answers are counted or `seconds` pass; each
/// client's first request warms up and is not counted.
async fn load(
    http: &reqwest::Client,
    url: &str,
    token: &str,
    clients: usize,
    requests: usize,
    seconds: u64,
) -> anyhow::Result<Outcome> {
    let first = http.get(url).bearer_auth(token).send().await?;
    if first.status() != 200 {
        bail!("{url}: {}: {}", first.status(), first.text().await?);
    }
    let body = first.bytes().await?;
    let mut h = std::collections::hash_map::DefaultHasher::new();
    body.hash(&mut h);
    let left = Arc::new(AtomicUsize::new(requests));
    let end = Instant::now() + Duration::from_secs(seconds);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..clients {
        let (http, url, token, left) = (
            http.clone(),
            url.to_string(),
            token.to_string(),
            left.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let mut times = Vec::new();
            let (mut errors, mut first_error) = (0u64, None);
            let mut warm = false;
            // A shape slower than the time bound still gets one measured answer per client.
            while Instant::now() < end || times.is_empty() {
                if warm
                    && left
                        .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1))
                        .is_err()
                {
                    break;
                }
                let t = Instant::now();
                let ok = match http.get(&url).bearer_auth(&token).send().await {
                    Ok(r) if r.status() == 200 => r.bytes().await.map_err(|e| e.to_string()),
                    Ok(r) => Err(format!("status {}", r.status())),
                    Err(e) => Err(e.to_string()),
                };
                match ok {
                    Ok(_) if warm => times.push(t.elapsed()),
                    Ok(_) => warm = true,
                    Err(e) => {
                        errors += 1;
                        first_error.get_or_insert(e);
                    }
                }
            }
            (times, errors, first_error)
        }));
    }
    let mut latencies = Vec::new();
    let (mut errors, mut first_error) = (0, None);
    for t in tasks {
        let (l, e, f) = t.await?;
        latencies.extend(l);
        errors += e;
        first_error = first_error.or(f);
    }
    latencies.sort();
    Ok(Outcome {
        measured: Measured {
            per_s: latencies.len() as f64 / started.elapsed().as_secs_f64(),
            latencies,
            bytes: body.len(),
            errors,
            first_error,
        },
        body_hash: h.finish(),
        body_len: body.len(),
    })
}

/// Starts `firebreak serve` on `database_url`, measures every shape, stops it; also returns
/// the server's resident memory after the shapes (VmRSS and VmHWM, KiB).
async fn measure(
    database_url: &str,
    dir: &Path,
    shapes: &[Shape],
    args: &ReportsArgs,
) -> anyhow::Result<(Vec<Outcome>, (u64, u64))> {
    let token =
        crate::ingest::create_token(&args.firebreak_bin, dir, Some(database_url), "viewer")?;
    let (guard, base) =
        crate::ingest::start_firebreak_on(&args.firebreak_bin, dir, Some(database_url), None)
            .await?;
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(args.clients)
        .build()?;
    let mut out = Vec::new();
    for s in shapes {
        let r = load(
            &http,
            &format!("{base}{}", s.path),
            &token,
            args.clients,
            args.requests,
            args.seconds,
        )
        .await?;
        eprintln!(
            "  {}: {} answers, p50 {:.1} ms, p99 {:.1} ms, {} bytes",
            s.label,
            r.measured.latencies.len(),
            ms(r.measured.pct(0.50)),
            ms(r.measured.pct(0.99)),
            thousands(r.body_len)
        );
        out.push(r);
    }
    let memory = crate::ingest::rss_kib(guard.pid())?;
    drop(guard);
    Ok((out, memory))
}

pub async fn main(args: ReportsArgs) -> anyhow::Result<()> {
    let now = Timestamp::now();
    let end = now.as_millisecond() - now.as_millisecond() % MINUTE;
    let t = Instant::now();
    let data = seed(args.incidents, args.deploys, end);
    let rollbacks = data
        .deploys
        .iter()
        .filter(|d| d.rolls_back.is_some())
        .count();
    eprintln!(
        "generated {} incidents, {} postmortems, {} action items, {} deploys ({} rollbacks) in {:.1} s",
        thousands(data.incidents.len()),
        thousands(data.postmortems.len()),
        thousands(data.items.len()),
        thousands(data.deploys.len()),
        thousands(rollbacks),
        t.elapsed().as_secs_f64()
    );
    if let Some(path) = &args.seed_only {
        anyhow::ensure!(!path.exists(), "{} exists already", path.display());
        let store = firebreak_store_sqlite::SqliteStore::open(path).await?;
        tokio::task::block_in_place(|| seed_sqlite(path, &data))?;
        drop(store);
        eprintln!(
            "seeded {}; the data ends at {}",
            path.display(),
            Timestamp::from_millisecond(end)?
        );
        return Ok(());
    }
    if let Some(schema) = &args.seed_only_postgres {
        let pg =
            firebreak_store_postgres::PostgresStore::connect_with_schema(&args.postgres, schema)
                .await?;
        pg.migrate().await?;
        seed_postgres(pg.pool(), &data).await?;
        eprintln!(
            "seeded schema {schema}; the data ends at {}",
            Timestamp::from_millisecond(end)?
        );
        return Ok(());
    }
    let shapes = shapes(Timestamp::from_millisecond(end)?);
    let mut results: BTreeMap<&str, Vec<Outcome>> = BTreeMap::new();
    let mut seeding: HashMap<&str, f64> = HashMap::new();
    let mut memory: HashMap<&str, (u64, u64)> = HashMap::new();

    let probe_before = crate::flush_probe();
    let dir = tempfile::tempdir_in(".")?;
    let path = dir.path().join("firebreak.db");
    // Migrated by Firebreak's own store, which is then closed: the server opens the file.
    let sqlite = firebreak_store_sqlite::SqliteStore::open(&path).await?;
    let t = Instant::now();
    {
        let (path, data) = (path.clone(), &data);
        tokio::task::block_in_place(|| seed_sqlite(&path, data))?;
    }
    drop(sqlite);
    seeding.insert("sqlite", t.elapsed().as_secs_f64());
    eprintln!("sqlite: seeded in {:.1} s", t.elapsed().as_secs_f64());
    let url = format!("sqlite://{}", std::path::absolute(&path)?.display());
    let (outcomes, rss) = measure(&url, dir.path(), &shapes, &args).await?;
    results.insert("sqlite", outcomes);
    memory.insert("sqlite", rss);

    if !args.postgres.is_empty() {
        let schema = format!("bench_reports_{}", std::process::id());
        let pg =
            firebreak_store_postgres::PostgresStore::connect_with_schema(&args.postgres, &schema)
                .await?;
        let pg = Arc::new(pg);
        let measured = async {
            pg.migrate().await?;
            let t = Instant::now();
            seed_postgres(pg.pool(), &data).await?;
            seeding.insert("postgres", t.elapsed().as_secs_f64());
            eprintln!("postgres: seeded in {:.1} s", t.elapsed().as_secs_f64());
            let url = crate::ingest::postgres_in_schema(&args.postgres, &schema);
            measure(&url, dir.path(), &shapes, &args).await
        }
        .await;
        pg.drop_schema().await?;
        let (outcomes, rss) = measured?;
        results.insert("postgres", outcomes);
        memory.insert("postgres", rss);
    }
    let probe_after = crate::flush_probe();

    let mut table = Table::new();
    table.load_preset(UTF8_FULL_CONDENSED);
    let backends: Vec<&str> = ["sqlite", "postgres"]
        .into_iter()
        .filter(|b| results.contains_key(b))
        .collect();
    let mut header = vec!["query shape".to_string(), "body".to_string()];
    for b in &backends {
        header.push(format!("{b} p50 / p99 (answers)"));
    }
    table.set_header(header);
    let mut over = Vec::new();
    let mut differ = Vec::new();
    for (i, s) in shapes.iter().enumerate() {
        let mut row = vec![
            s.label.clone(),
            format!("{} B", thousands(results[backends[0]][i].body_len)),
        ];
        for b in &backends {
            let r = &results[b][i];
            let m = &r.measured;
            if m.errors > 0 {
                bail!(
                    "{b}, {}: {} errors, the first: {}",
                    s.label,
                    m.errors,
                    m.first_error.as_deref().unwrap_or("?")
                );
            }
            let p99 = m.pct(0.99);
            if p99 >= Duration::from_millis(200) {
                over.push(format!("{b}, {}: p99 {:.0} ms", s.label, ms(p99)));
            }
            row.push(format!(
                "{:.1} / {:.1} ms ({})",
                ms(pct(&m.latencies, 0.50)),
                ms(p99),
                m.latencies.len()
            ));
        }
        if backends.len() == 2 && results["sqlite"][i].body_hash != results["postgres"][i].body_hash
        {
            differ.push(s.label.clone());
        }
        table.add_row(row);
    }
    println!(
        "\nReports over {} incidents and {} deploys ({} clients per shape, up to {} answers or {} s)",
        thousands(args.incidents),
        thousands(args.deploys),
        args.clients,
        args.requests,
        args.seconds
    );
    println!("{table}");
    for b in &backends {
        let (rss, hwm) = memory[b];
        println!(
            "{b}: seeded in {:.1} s; the server's RSS after its shapes {:.1} MiB (peak {:.1} MiB)",
            seeding[b],
            rss as f64 / 1024.0,
            hwm as f64 / 1024.0
        );
    }
    println!(
        "flush_probe_before={:.2}ms after={:.2}ms",
        ms(probe_before),
        ms(probe_after)
    );
    if over.is_empty() {
        println!("every shape answered within the target (p99 under 200 ms)");
    } else {
        println!("over the target (p99 under 200 ms):");
        for o in &over {
            println!("  {o}");
        }
    }
    if !differ.is_empty() {
        // The default period follows the clock, so its answers may differ by a minute's data.
        println!("answers that differ between SQLite and PostgreSQL: {differ:?}");
    }
    drop(dir);
    Ok(())
}
