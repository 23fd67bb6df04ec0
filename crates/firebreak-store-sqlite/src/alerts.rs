//! Alerts, integrations, silences, maintenance windows, routing rules, deployments and sender
//! requests on SQLite.
//!
//! Triggers are stored with one multi-row upsert per batch: a new key inserts, an open key
//! repeats in place (the partial unique index `alerts_open_dedup` decides which), and the
//! repeat writes no indexed column.

use std::collections::HashMap;

use async_trait::async_trait;
use firebreak_domain::rules::{MaintenanceWindow, Route, Silence};
use firebreak_domain::{Alert, AlertStatus, IncidentNumber, Name};
use firebreak_store::feed::Topic;
use firebreak_store::{
    AlertFilter, AlertStore, AlertWrites, Change, DeploymentRecord, IngestRequest, IntegrationKey,
    IntegrationRecord, OpenIncidentFacts, Page, Result, RouteRecord, StoreError, Upserted, codec,
};
use jiff::Timestamp;
use rusqlite::types::{ToSqlOutput, Value, ValueRef};
use rusqlite::{Connection, Row, params, params_from_iter};

use crate::SqliteStore;
use crate::rows::{self, ALERT_COLUMNS, db, get, ms, opt_ms, opt_ts, ts};
use crate::tx::SqliteTx;

/// Rows per upsert statement: well under SQLite's bound-parameter limit.
const UPSERT_CHUNK: usize = 100;

fn silence(row: &Row<'_>) -> Result<Silence> {
    Ok(Silence {
        id: get(row, "id")?,
        matchers: codec::matchers_from(&get::<String>(row, "matchers")?)?,
        starts_at: ts(row, "starts_at")?,
        ends_at: ts(row, "ends_at")?,
        comment: get(row, "comment")?,
        created_by: get(row, "created_by")?,
        created_at: ts(row, "created_at")?,
    })
}

fn window(row: &Row<'_>) -> Result<MaintenanceWindow> {
    Ok(MaintenanceWindow {
        id: get(row, "id")?,
        service: rows::name_at(row, "service")?,
        starts_at: ts(row, "starts_at")?,
        ends_at: ts(row, "ends_at")?,
        comment: get(row, "comment")?,
        created_by: get(row, "created_by")?,
        created_at: ts(row, "created_at")?,
    })
}

fn route(row: &Row<'_>) -> Result<RouteRecord> {
    let word = |col: &str| -> Result<Option<String>> { get(row, col) };
    Ok(RouteRecord {
        id: get(row, "id")?,
        route: Route {
            matchers: codec::matchers_from(&get::<String>(row, "matchers")?)?,
            service: word("service")?.map(|s| codec::name(&s)).transpose()?,
            severity: word("severity")?
                .map(|s| codec::word("severity", &s))
                .transpose()?,
            urgency: word("urgency")?
                .map(|s| codec::word("urgency", &s))
                .transpose()?,
            drop: get(row, "drop_event")?,
        },
        created_by: get(row, "created_by")?,
        created_at: ts(row, "created_at")?,
    })
}

fn deployment(row: &Row<'_>) -> Result<DeploymentRecord> {
    Ok(DeploymentRecord {
        id: get(row, "id")?,
        service: rows::name_at(row, "service")?,
        version: get(row, "version")?,
        previous_version: get(row, "previous_version")?,
        commit: get(row, "commit_sha")?,
        author: get(row, "author")?,
        link: get(row, "link")?,
        at: ts(row, "at")?,
        source: get(row, "source")?,
        summary: get(row, "summary")?,
        created_at: ts(row, "created_at")?,
        freeze_reasons: codec::freeze_reasons_from(
            get::<Option<String>>(row, "freeze_reasons")?.as_deref(),
        )?,
        rollback: get(row, "rollback")?,
        rolls_back: get(row, "rolls_back")?,
        incident: get::<Option<i64>>(row, "incident")?.map(IncidentNumber),
        drill: get(row, "drill")?,
    })
}

fn request(row: &Row<'_>) -> Result<IngestRequest> {
    Ok(IngestRequest {
        id: get(row, "id")?,
        integration: get(row, "integration")?,
        action: get(row, "action")?,
        success: get(row, "success")?,
        status: get(row, "status")?,
        alert: get(row, "alert")?,
        alias: get(row, "alias")?,
        at: ts(row, "at")?,
    })
}

fn integration_row(row: &Row<'_>) -> Result<IntegrationRecord> {
    Ok(IntegrationRecord {
        id: get(row, "id")?,
        service: rows::name_at(row, "service")?,
        name: get(row, "name")?,
        from_config: get(row, "from_config")?,
        created_at: ts(row, "created_at")?,
        keys: vec![],
    })
}

fn key_row(row: &Row<'_>) -> Result<IntegrationKey> {
    Ok(IntegrationKey {
        id: get(row, "id")?,
        hash: get(row, "hash")?,
        hint: get(row, "hint")?,
        created_at: ts(row, "created_at")?,
        revoked_at: opt_ts(row, "revoked_at")?,
    })
}

/// The integrations with `id` (every one if `None`), by service then name, with their keys.
fn integrations(conn: &Connection, id: Option<&str>) -> Result<Vec<IntegrationRecord>> {
    let mut out = rows::all(
        conn,
        "SELECT id, service, name, from_config, created_at FROM integrations \
         WHERE (?1 IS NULL OR id = ?1) ORDER BY service, name",
        [id],
        integration_row,
    )?;
    let keys = rows::all(
        conn,
        "SELECT id, integration, hash, hint, created_at, revoked_at FROM integration_keys \
         WHERE (?1 IS NULL OR integration = ?1) ORDER BY created_at, id",
        [id],
        |r| Ok((get::<String>(r, "integration")?, key_row(r)?)),
    )?;
    let mut by_owner: HashMap<String, Vec<IntegrationKey>> = HashMap::new();
    for (owner, key) in keys {
        by_owner.entry(owner).or_default().push(key);
    }
    for i in &mut out {
        i.keys = by_owner.remove(&i.id).unwrap_or_default();
    }
    Ok(out)
}

fn integration(conn: &Connection, id: &str) -> Result<IntegrationRecord> {
    integrations(conn, Some(id))?
        .pop()
        .ok_or(StoreError::NotFound)
}

fn insert_key(tx: &SqliteTx<'_>, integration: &str, key: &IntegrationKey) -> Result<()> {
    tx.exec_unique(
        "INSERT INTO integration_keys (id, integration, hash, hint, created_at, revoked_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![
            key.id,
            integration,
            key.hash,
            key.hint,
            ms(key.created_at),
            opt_ms(key.revoked_at)
        ],
        || "that integration key is already in use".into(),
    )?;
    Ok(())
}

fn insert_integration(tx: &SqliteTx<'_>, i: &IntegrationRecord) -> Result<()> {
    tx.exec_unique(
        "INSERT INTO integrations (id, service, name, from_config, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![i.id, i.service.as_str(), i.name, i.from_config, ms(i.created_at)],
        || format!("service {} already has an integration named {:?}", i.service, i.name),
    )?;
    for key in &i.keys {
        insert_key(tx, &i.id, key)?;
    }
    Ok(())
}

/// The columns an upsert inserts, in order; `id` is assigned.
const UPSERT_COLUMNS: &str = "integration, dedup_key, format, first_seen, service, status, \
     severity, urgency, summary, source, labels, details, links, images, started_at, ended_at, \
     last_seen, count, acknowledged_at, acknowledged_by, resolved_at, resolved_by, \
     suppressed_reason, incident, raw, drill, gameday";
const UPSERT_WIDTH: usize = 27;

/// What a repeat changes, as [`Alert::repeat`] says: the sender's latest view, links and images
/// only when the repeat carries some, one more to `count`. No indexed column.
const ON_REPEAT: &str = "ON CONFLICT (integration, dedup_key) WHERE status <> 'resolved' DO UPDATE SET \
     last_seen = excluded.last_seen, count = alerts.count + 1, severity = excluded.severity, \
     urgency = excluded.urgency, summary = excluded.summary, labels = excluded.labels, \
     details = excluded.details, \
     links = CASE WHEN excluded.links = '[]' THEN alerts.links ELSE excluded.links END, \
     images = CASE WHEN excluded.images = '[]' THEN alerts.images ELSE excluded.images END, \
     raw = excluded.raw";

fn upsert_sql(rows: usize) -> String {
    let one = format!("({})", vec!["?"; UPSERT_WIDTH].join(", "));
    format!(
        "INSERT INTO alerts ({UPSERT_COLUMNS}) VALUES {} {ON_REPEAT} \
         RETURNING id, integration, dedup_key, first_seen, count",
        vec![one; rows].join(", ")
    )
}

/// The upsert statement for `rows` rows, built the first time a batch of that size comes.
fn cached_upsert_sql(rows: usize) -> &'static str {
    static SQL: [std::sync::OnceLock<String>; UPSERT_CHUNK] =
        [const { std::sync::OnceLock::new() }; UPSERT_CHUNK];
    let rows = rows.clamp(1, UPSERT_CHUNK);
    SQL[rows - 1].get_or_init(|| upsert_sql(rows))
}

/// One alert's upsert parameters, borrowing its text rather than copying it.
fn alert_values<'a>(a: &'a Alert, out: &mut Vec<ToSqlOutput<'a>>) {
    fn text(s: &str) -> ToSqlOutput<'_> {
        ToSqlOutput::Borrowed(ValueRef::Text(s.as_bytes()))
    }
    fn owned(s: String) -> ToSqlOutput<'static> {
        ToSqlOutput::Owned(Value::Text(s))
    }
    fn opt_text(s: &Option<String>) -> ToSqlOutput<'_> {
        s.as_deref().map_or(ToSqlOutput::Owned(Value::Null), text)
    }
    fn int(v: i64) -> ToSqlOutput<'static> {
        ToSqlOutput::Owned(Value::Integer(v))
    }
    fn opt_int(v: Option<i64>) -> ToSqlOutput<'static> {
        ToSqlOutput::Owned(v.map_or(Value::Null, Value::Integer))
    }
    out.extend([
        text(&a.integration),
        text(&a.dedup_key),
        text(a.format.as_str()),
        int(ms(a.first_seen)),
        text(a.service.as_str()),
        text(a.status.as_str()),
        text(a.severity.as_str()),
        text(a.urgency.as_str()),
        text(&a.summary),
        text(&a.source),
        owned(codec::labels_json(&a.labels)),
        text(&a.details),
        owned(codec::links_json(&a.links)),
        owned(codec::images_json(&a.images)),
        opt_int(opt_ms(a.started_at)),
        opt_int(opt_ms(a.ended_at)),
        int(ms(a.last_seen)),
        int(a.count),
        opt_int(opt_ms(a.acknowledged_at)),
        opt_text(&a.acknowledged_by),
        opt_int(opt_ms(a.resolved_at)),
        opt_text(&a.resolved_by),
        opt_text(&a.suppressed_reason),
        opt_int(a.incident.map(|n| n.0)),
        text(&a.raw),
        int(i64::from(a.drill)),
        opt_int(a.gameday),
    ]);
}

fn upsert(conn: &Connection, alerts: Vec<Alert>) -> Result<Vec<Upserted>> {
    // What each row's upsert left: its id, and whether it was stored as given (new) or counted
    // onto an open alert (a repeat). A new alert is known without reading it back, and is
    // handed back as it came; a repeat is read, since the upsert merged it.
    let mut stored: Vec<Option<(i64, i64, i64)>> = vec![None; alerts.len()];
    {
        // RETURNING gives rows in no promised order: match them back by key.
        let index: HashMap<(&str, &str), usize> = alerts
            .iter()
            .enumerate()
            .map(|(n, a)| ((a.integration.as_str(), a.dedup_key.as_str()), n))
            .collect();
        for chunk in alerts.chunks(UPSERT_CHUNK) {
            let mut values = Vec::with_capacity(chunk.len() * UPSERT_WIDTH);
            for a in chunk {
                alert_values(a, &mut values);
            }
            for (integration, key, row) in rows::all(
                conn,
                cached_upsert_sql(chunk.len()),
                params_from_iter(values),
                |r| {
                    Ok((
                        get::<String>(r, "integration")?,
                        get::<String>(r, "dedup_key")?,
                        (
                            get::<i64>(r, "id")?,
                            get::<i64>(r, "first_seen")?,
                            get::<i64>(r, "count")?,
                        ),
                    ))
                },
            )? {
                if let Some(&n) = index.get(&(integration.as_str(), key.as_str())) {
                    stored[n] = Some(row);
                }
            }
        }
    }
    alerts
        .into_iter()
        .zip(stored)
        .map(|(a, row)| {
            // Two triggers with one key leave the first without its row.
            let (id, first_seen, count) = row.ok_or_else(|| {
                StoreError::backend("two triggers in one upsert shared a dedup key")
            })?;
            // A new alert is stored as given; a repeat has counted at least twice.
            let opened = first_seen == ms(a.first_seen) && count == a.count;
            let alert = if opened {
                as_stored(a, id)
            } else {
                select_alert(conn, id)?.ok_or(StoreError::NotFound)?
            };
            Ok(Upserted { alert, opened })
        })
        .collect()
}

/// `a` as the store keeps it once inserted with `id`: instants at millisecond precision.
fn as_stored(mut alert: Alert, id: i64) -> Alert {
    let milli = |t: Timestamp| Timestamp::from_millisecond(ms(t)).unwrap_or(t);
    alert.id = id;
    alert.first_seen = milli(alert.first_seen);
    alert.last_seen = milli(alert.last_seen);
    alert.started_at = alert.started_at.map(milli);
    alert.ended_at = alert.ended_at.map(milli);
    alert.acknowledged_at = alert.acknowledged_at.map(milli);
    alert.resolved_at = alert.resolved_at.map(milli);
    alert
}

fn alert_change(a: &Alert) -> Change {
    Change::Alert {
        id: a.id,
        service: a.service.clone(),
        status: a.status,
        incident: a.incident,
    }
}

fn select_alert(conn: &Connection, id: i64) -> Result<Option<Alert>> {
    let sql = format!("SELECT {ALERT_COLUMNS} FROM alerts WHERE id = ?1");
    rows::one(conn, &sql, [id], rows::alert)
}

const END_SPAN_SILENCE: &str = "UPDATE silences SET starts_at = ?1, ends_at = ?2 WHERE id = ?3";
const END_SPAN_WINDOW: &str =
    "UPDATE maintenance_windows SET starts_at = ?1, ends_at = ?2 WHERE id = ?3";

#[async_trait]
impl AlertWrites for SqliteTx<'_> {
    async fn upsert_triggers(&mut self, alerts: Vec<Alert>) -> Result<Vec<Upserted>> {
        let stored = upsert(self.conn(), alerts)?;
        for u in &stored {
            self.changed(alert_change(&u.alert));
        }
        Ok(stored)
    }

    async fn lock_open_alert(
        &mut self,
        integration: &str,
        dedup_key: &str,
    ) -> Result<Option<Alert>> {
        let sql = format!(
            "SELECT {ALERT_COLUMNS} FROM alerts WHERE integration = ?1 AND dedup_key = ?2 AND status <> 'resolved'"
        );
        rows::one(self.conn(), &sql, [integration, dedup_key], rows::alert)
    }

    async fn lock_alert(&mut self, id: i64) -> Result<Option<Alert>> {
        select_alert(self.conn(), id)
    }

    async fn update_alert(&mut self, a: &Alert) -> Result<()> {
        let done = self.exec(
            "UPDATE alerts SET service = ?1, status = ?2, severity = ?3, urgency = ?4, summary = ?5, \
             source = ?6, labels = ?7, details = ?8, links = ?9, images = ?10, started_at = ?11, \
             ended_at = ?12, last_seen = ?13, count = ?14, acknowledged_at = ?15, acknowledged_by = ?16, \
             resolved_at = ?17, resolved_by = ?18, suppressed_reason = ?19, incident = ?20, raw = ?21 \
             WHERE id = ?22",
            params![
                a.service.as_str(),
                a.status.as_str(),
                a.severity.as_str(),
                a.urgency.as_str(),
                a.summary,
                a.source,
                codec::labels_json(&a.labels),
                a.details,
                codec::links_json(&a.links),
                codec::images_json(&a.images),
                opt_ms(a.started_at),
                opt_ms(a.ended_at),
                ms(a.last_seen),
                a.count,
                opt_ms(a.acknowledged_at),
                a.acknowledged_by,
                opt_ms(a.resolved_at),
                a.resolved_by,
                a.suppressed_reason,
                a.incident.map(|n| n.0),
                a.raw,
                a.id,
            ],
        )?;
        if done == 0 {
            return Err(StoreError::NotFound);
        }
        self.changed(alert_change(a));
        Ok(())
    }

    async fn open_incidents(
        &mut self,
        services: &[Name],
        drill: bool,
    ) -> Result<Vec<OpenIncidentFacts>> {
        let mut out = Vec::with_capacity(services.len());
        for service in services {
            let found = rows::one(
                self.conn(),
                "SELECT i.number, i.declared_at, \
                 (SELECT MAX(a.last_seen) FROM alerts a WHERE a.incident = i.number) AS last_alert_seen \
                 FROM incidents i JOIN incident_services s ON s.number = i.number \
                 WHERE s.service = ?1 AND i.status <> 'resolved' AND i.drill = ?2 \
                 ORDER BY i.number DESC LIMIT 1",
                params![service.as_str(), drill],
                |r| {
                    Ok(OpenIncidentFacts {
                        service: service.clone(),
                        number: IncidentNumber(get(r, "number")?),
                        declared_at: ts(r, "declared_at")?,
                        last_alert_seen: opt_ts(r, "last_alert_seen")?,
                    })
                },
            )?;
            out.extend(found);
        }
        Ok(out)
    }

    async fn unresolved_alerts_of(&mut self, number: IncidentNumber) -> Result<i64> {
        rows::one(
            self.conn(),
            "SELECT COUNT(*) FROM alerts WHERE incident = ?1 AND status <> 'resolved'",
            [number.0],
            |r| r.get(0).map_err(db),
        )
        .map(|n| n.unwrap_or(0))
    }

    async fn create_integration(&mut self, integration: &IntegrationRecord) -> Result<()> {
        insert_integration(self, integration)?;
        self.changed(Change::Directory(Topic::Integrations));
        Ok(())
    }

    async fn add_integration_key(
        &mut self,
        id: &str,
        key: &IntegrationKey,
    ) -> Result<IntegrationRecord> {
        integration(self.conn(), id)?;
        insert_key(self, id, key)?;
        self.changed(Change::Directory(Topic::Integrations));
        integration(self.conn(), id)
    }

    async fn revoke_integration_key(
        &mut self,
        id: &str,
        key: &str,
        at: Timestamp,
    ) -> Result<IntegrationRecord> {
        let done = self.exec(
            "UPDATE integration_keys SET revoked_at = ?1 \
             WHERE integration = ?2 AND id = ?3 AND revoked_at IS NULL",
            params![ms(at), id, key],
        )?;
        if done == 0 {
            return Err(StoreError::NotFound);
        }
        self.changed(Change::Directory(Topic::Integrations));
        integration(self.conn(), id)
    }

    async fn sync_integrations(&mut self, wanted: Vec<IntegrationRecord>) -> Result<()> {
        for w in wanted {
            let existing = rows::one(
                self.conn(),
                "SELECT id FROM integrations WHERE service = ?1 AND name = ?2",
                [w.service.as_str(), w.name.as_str()],
                |r| get::<String>(r, "id"),
            )?;
            let Some(id) = existing else {
                insert_integration(self, &w)?;
                continue;
            };
            self.exec(
                "UPDATE integrations SET from_config = 1 WHERE id = ?1",
                [&id],
            )?;
            for key in &w.keys {
                let owner = rows::one(
                    self.conn(),
                    "SELECT integration FROM integration_keys WHERE hash = ?1",
                    [&key.hash],
                    |r| get::<String>(r, "integration"),
                )?;
                match owner {
                    None => insert_key(self, &id, key)?,
                    Some(o) if o == id => {}
                    Some(_) => {
                        return Err(StoreError::Conflict(format!(
                            "the key of integration {:?} of service {} belongs to another integration",
                            w.name, w.service
                        )));
                    }
                }
            }
        }
        self.changed(Change::Directory(Topic::Integrations));
        Ok(())
    }

    async fn create_silence(&mut self, mut s: Silence) -> Result<Silence> {
        s.id = rows::one(
            self.conn(),
            "INSERT INTO silences (matchers, starts_at, ends_at, comment, created_by, created_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6) RETURNING id",
            params![
                codec::matchers_json(&s.matchers),
                ms(s.starts_at),
                ms(s.ends_at),
                s.comment,
                s.created_by,
                ms(s.created_at)
            ],
            |r| r.get(0).map_err(db),
        )?
        .ok_or_else(|| StoreError::backend("a new silence got no id"))?;
        self.changed(Change::Directory(Topic::Silences));
        Ok(s)
    }

    async fn lock_silence(&mut self, id: i64) -> Result<Option<Silence>> {
        rows::one(
            self.conn(),
            "SELECT * FROM silences WHERE id = ?1",
            [id],
            silence,
        )
    }

    async fn save_silence_span(&mut self, s: &Silence) -> Result<()> {
        if self.exec(
            END_SPAN_SILENCE,
            params![ms(s.starts_at), ms(s.ends_at), s.id],
        )? == 0
        {
            return Err(StoreError::NotFound);
        }
        self.changed(Change::Directory(Topic::Silences));
        Ok(())
    }

    async fn create_maintenance(&mut self, mut w: MaintenanceWindow) -> Result<MaintenanceWindow> {
        w.id = rows::one(
            self.conn(),
            "INSERT INTO maintenance_windows (service, starts_at, ends_at, comment, created_by, created_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6) RETURNING id",
            params![
                w.service.as_str(),
                ms(w.starts_at),
                ms(w.ends_at),
                w.comment,
                w.created_by,
                ms(w.created_at)
            ],
            |r| r.get(0).map_err(db),
        )?
        .ok_or_else(|| StoreError::backend("a new maintenance window got no id"))?;
        self.changed(Change::Directory(Topic::Maintenance));
        Ok(w)
    }

    async fn lock_maintenance(&mut self, id: i64) -> Result<Option<MaintenanceWindow>> {
        rows::one(
            self.conn(),
            "SELECT * FROM maintenance_windows WHERE id = ?1",
            [id],
            window,
        )
    }

    async fn save_maintenance_span(&mut self, w: &MaintenanceWindow) -> Result<()> {
        if self.exec(
            END_SPAN_WINDOW,
            params![ms(w.starts_at), ms(w.ends_at), w.id],
        )? == 0
        {
            return Err(StoreError::NotFound);
        }
        self.changed(Change::Directory(Topic::Maintenance));
        Ok(())
    }

    async fn create_route(&mut self, mut route: RouteRecord) -> Result<RouteRecord> {
        let r = &route.route;
        route.id = rows::one(
            self.conn(),
            "INSERT INTO routes (matchers, service, severity, urgency, drop_event, created_by, created_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) RETURNING id",
            params![
                codec::matchers_json(&r.matchers),
                r.service.as_ref().map(|s| s.as_str()),
                r.severity.map(|s| s.as_str()),
                r.urgency.map(|u| u.as_str()),
                r.drop,
                route.created_by,
                ms(route.created_at)
            ],
            |row| row.get(0).map_err(db),
        )?
        .ok_or_else(|| StoreError::backend("a new routing rule got no id"))?;
        self.changed(Change::Directory(Topic::Routes));
        Ok(route)
    }

    async fn delete_route(&mut self, id: i64) -> Result<()> {
        if self.exec("DELETE FROM routes WHERE id = ?1", [id])? == 0 {
            return Err(StoreError::NotFound);
        }
        self.changed(Change::Directory(Topic::Routes));
        Ok(())
    }

    async fn record_deployment(&mut self, mut d: DeploymentRecord) -> Result<DeploymentRecord> {
        d.id = rows::one(
            self.conn(),
            "INSERT INTO deployments (service, version, previous_version, commit_sha, author, link, at, \
             source, summary, created_at, freeze_reasons, rollback, rolls_back, incident, drill) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15) RETURNING id",
            params![
                d.service.as_str(),
                d.version,
                d.previous_version,
                d.commit,
                d.author,
                d.link,
                ms(d.at),
                d.source,
                d.summary,
                ms(d.created_at),
                codec::freeze_reasons_to(&d.freeze_reasons)?,
                d.rollback,
                d.rolls_back,
                d.incident.map(|n| n.0),
                d.drill
            ],
            |r| r.get(0).map_err(db),
        )?
        .ok_or_else(|| StoreError::backend("a new deployment got no id"))?;
        if !d.rollback {
            // The reports count long periods from the deploys per day.
            self.exec(
                "INSERT INTO deploy_days (drill, day, service, deploys) VALUES (?1, ?2, ?3, 1) \
                 ON CONFLICT (drill, day, service) DO UPDATE SET deploys = deploys + 1",
                params![
                    d.drill,
                    firebreak_store::deploy_day(d.at),
                    d.service.as_str()
                ],
            )?;
            // The deploy is the newest earlier deploy of every incident of its service and
            // kind (drill or real) detected at or after it whose suspect is older (a deploy
            // recorded late).
            // Those incidents changed: the reports' cache reads them again.
            let changed = rows::all(
                self.conn(),
                "UPDATE incidents SET suspect_deploy = ?1, suspect_at = ?2, suspect_service = ?3, \
                 suspect_version = ?5 \
                 WHERE detected_at >= ?2 AND drill = ?4 \
                   AND (suspect_at IS NULL OR suspect_at < ?2 \
                        OR (suspect_at = ?2 AND suspect_deploy < ?1)) \
                   AND EXISTS (SELECT 1 FROM incident_services s \
                               WHERE s.number = incidents.number AND s.service = ?3) \
                 RETURNING number",
                params![d.id, ms(d.at), d.service.as_str(), d.drill, d.version],
                |r| Ok(IncidentNumber(r.get(0).map_err(db)?)),
            )?;
            for number in changed {
                self.changed(Change::Incident { number });
            }
        }
        if let (true, Some(number)) = (d.rollback, d.incident) {
            // A rollback run for an incident is one of its failure links.
            self.changed(Change::Incident { number });
        }
        self.changed(Change::Directory(Topic::Deployments));
        Ok(d)
    }

    async fn record_request(&mut self, r: &IngestRequest) -> Result<()> {
        self.exec_unique(
            "INSERT INTO ingest_requests (id, integration, action, success, status, alert, alias, at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            params![r.id, r.integration, r.action, r.success, r.status, r.alert, r.alias, ms(r.at)],
            || format!("a request with the id {} is already recorded", r.id),
        )?;
        Ok(())
    }

    async fn purge_requests(&mut self, before: Timestamp) -> Result<u64> {
        self.exec("DELETE FROM ingest_requests WHERE at < ?1", [ms(before)])
            .map(|n| n as u64)
    }
}

/// A list bound as one JSON array parameter, for `IN (SELECT value FROM json_each(?))`.
fn json_list<T: serde::Serialize>(items: &[T]) -> Result<String> {
    serde_json::to_string(items).map_err(StoreError::backend)
}

#[async_trait]
impl AlertStore for SqliteStore {
    async fn list_integrations(&self) -> Result<Vec<IntegrationRecord>> {
        self.read(|conn| integrations(conn, None)).await
    }

    async fn get_alert(&self, id: i64) -> Result<Option<Alert>> {
        self.read(move |conn| select_alert(conn, id)).await
    }

    async fn list_alerts(
        &self,
        filter: &AlertFilter,
        before: Option<i64>,
        limit: u32,
    ) -> Result<Page<Alert>> {
        let filter = filter.clone();
        self.read(move |conn| {
            let sql = format!(
                "SELECT {ALERT_COLUMNS} FROM alerts WHERE (?1 IS NULL OR id < ?1) \
                 AND (?2 IS NULL OR status = ?2) AND (?3 IS NULL OR service = ?3) \
                 AND (?4 IS NULL OR incident = ?4) AND (?5 IS NULL OR integration = ?5) \
                 AND (?6 IS NULL OR dedup_key = ?6) ORDER BY id DESC LIMIT ?7"
            );
            let items = rows::all(
                conn,
                &sql,
                params![
                    before,
                    filter.status.map(|s| s.as_str()),
                    filter.service.as_ref().map(|s| s.as_str()),
                    filter.incident.map(|n| n.0),
                    filter.integration,
                    filter.dedup_key,
                    i64::from(limit) + 1
                ],
                rows::alert,
            )?;
            Ok(rows::page(items, limit, |a| a.id))
        })
        .await
    }

    async fn alerts_of_incidents(
        &self,
        incidents: &[IncidentNumber],
    ) -> Result<Vec<(IncidentNumber, i64, AlertStatus)>> {
        if incidents.is_empty() {
            return Ok(vec![]);
        }
        let numbers = json_list(&incidents.iter().map(|n| n.0).collect::<Vec<_>>())?;
        self.read(move |conn| {
            rows::all(
                conn,
                "SELECT incident, id, status FROM alerts \
                 WHERE incident IN (SELECT value FROM json_each(?1)) ORDER BY id",
                [numbers],
                |r| {
                    Ok((
                        IncidentNumber(get(r, "incident")?),
                        get(r, "id")?,
                        rows::word(r, "status")?,
                    ))
                },
            )
        })
        .await
    }

    async fn list_silences(&self, after: Timestamp) -> Result<Vec<Silence>> {
        self.read(move |conn| {
            rows::all(
                conn,
                "SELECT * FROM silences WHERE ends_at > ?1 ORDER BY id DESC",
                [ms(after)],
                silence,
            )
        })
        .await
    }

    async fn list_maintenance(&self, after: Timestamp) -> Result<Vec<MaintenanceWindow>> {
        self.read(move |conn| {
            rows::all(
                conn,
                "SELECT * FROM maintenance_windows WHERE ends_at > ?1 ORDER BY starts_at, id",
                [ms(after)],
                window,
            )
        })
        .await
    }

    async fn list_routes(&self) -> Result<Vec<RouteRecord>> {
        self.read(|conn| rows::all(conn, "SELECT * FROM routes ORDER BY id", [], route))
            .await
    }

    async fn list_deployments(
        &self,
        service: Option<&Name>,
        before: Option<i64>,
        limit: u32,
    ) -> Result<Page<DeploymentRecord>> {
        let service = service.map(|s| s.to_string());
        self.read(move |conn| {
            let items = rows::all(
                conn,
                "SELECT * FROM deployments WHERE (?1 IS NULL OR id < ?1) AND (?2 IS NULL OR service = ?2) \
                 ORDER BY id DESC LIMIT ?3",
                params![before, service, i64::from(limit) + 1],
                deployment,
            )?;
            Ok(rows::page(items, limit, |d| d.id))
        })
        .await
    }

    async fn deployments_between(
        &self,
        services: &[Name],
        from: Timestamp,
        to: Timestamp,
    ) -> Result<Vec<DeploymentRecord>> {
        if services.is_empty() {
            return Ok(vec![]);
        }
        let names = json_list(&services.iter().map(|s| s.as_str()).collect::<Vec<_>>())?;
        self.read(move |conn| {
            rows::all(
                conn,
                "SELECT * FROM deployments WHERE service IN (SELECT value FROM json_each(?1)) \
                 AND at >= ?2 AND at <= ?3 ORDER BY at DESC, id DESC",
                params![names, ms(from), ms(to)],
                deployment,
            )
        })
        .await
    }

    async fn get_request(&self, id: &str) -> Result<Option<IngestRequest>> {
        let id = id.to_string();
        self.read(move |conn| {
            rows::one(
                conn,
                "SELECT * FROM ingest_requests WHERE id = ?1",
                [id],
                request,
            )
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_upsert_statement_has_one_placeholder_per_column() {
        let sql = super::upsert_sql(3);
        assert_eq!(sql.matches('?').count(), 3 * super::UPSERT_WIDTH);
        assert_eq!(
            super::UPSERT_COLUMNS.split(',').count(),
            super::UPSERT_WIDTH
        );
    }
}
