//! Paging on SQLite: contact methods, escalation policies (JSON text in the shared codec's
//! shape), escalations (with their policy as it was when they started) and kept secrets.

use async_trait::async_trait;
use firebreak_domain::contact::ContactKind;
use firebreak_domain::escalation::{Escalation, EscalationStatus, Position};
use firebreak_domain::{IncidentNumber, Name};
use firebreak_store::codec::{policy_from_json, policy_to_json};
use firebreak_store::feed::Topic;
use firebreak_store::{
    Change, ContactRecord, EscalationFilter, PagingStore, PagingWrites, PolicyRecord, Result,
    StoreError,
};
use jiff::Timestamp;
use rusqlite::{Row, params};

use crate::SqliteStore;
use crate::rows::{self, ms, opt_ms, unique};
use crate::tx::SqliteTx;

const CONTACT_COLUMNS: &str = "id, user_handle, kind, name, target, secret, created_at";
const POLICY_COLUMNS: &str = "name, definition, from_config, created_at, updated_at";
const ESCALATION_COLUMNS: &str = "id, alert_id, incident_number, policy, snapshot, status, \
     paged_round, paged_step, next_round, next_step, next_at, started_at, acknowledged_at, \
     acknowledged_by, ended_at, drill";

fn contact(row: &Row<'_>) -> Result<ContactRecord> {
    let kind: String = rows::get(row, "kind")?;
    Ok(ContactRecord {
        id: rows::get(row, "id")?,
        user: rows::name_at(row, "user_handle")?,
        kind: ContactKind::parse(&kind)
            .ok_or_else(|| StoreError::backend(format!("unknown contact kind {kind:?}")))?,
        name: rows::get(row, "name")?,
        target: rows::get(row, "target")?,
        secret: rows::get(row, "secret")?,
        created_at: rows::ts(row, "created_at")?,
    })
}

fn policy(row: &Row<'_>) -> Result<PolicyRecord> {
    let name: String = rows::get(row, "name")?;
    let definition: String = rows::get(row, "definition")?;
    Ok(PolicyRecord {
        policy: policy_from_json(&name, &definition)?,
        from_config: rows::get(row, "from_config")?,
        created_at: rows::ts(row, "created_at")?,
        updated_at: rows::ts(row, "updated_at")?,
    })
}

fn position(row: &Row<'_>, round: &str, step: &str) -> Result<Option<Position>> {
    let round: Option<i64> = rows::get(row, round)?;
    let step: Option<i64> = rows::get(row, step)?;
    Ok(match (round, step) {
        (Some(round), Some(step)) => Some(Position {
            round: u32::try_from(round).map_err(StoreError::backend)?,
            step: u32::try_from(step).map_err(StoreError::backend)?,
        }),
        _ => None,
    })
}

fn escalation(row: &Row<'_>) -> Result<Escalation> {
    let policy: String = rows::get(row, "policy")?;
    let snapshot: String = rows::get(row, "snapshot")?;
    let status: String = rows::get(row, "status")?;
    Ok(Escalation {
        id: rows::get(row, "id")?,
        alert: rows::get(row, "alert_id")?,
        incident: rows::get::<Option<i64>>(row, "incident_number")?.map(IncidentNumber),
        policy: policy_from_json(&policy, &snapshot)?,
        status: EscalationStatus::parse(&status)
            .ok_or_else(|| StoreError::backend(format!("unknown escalation status {status:?}")))?,
        paged: position(row, "paged_round", "paged_step")?,
        next: position(row, "next_round", "next_step")?,
        next_at: rows::opt_ts(row, "next_at")?,
        started_at: rows::ts(row, "started_at")?,
        acknowledged_at: rows::opt_ts(row, "acknowledged_at")?,
        acknowledged_by: rows::get(row, "acknowledged_by")?,
        ended_at: rows::opt_ts(row, "ended_at")?,
        drill: rows::get(row, "drill")?,
    })
}

/// The `WHERE` clause and parameters of a filter; with neither alert nor incident, nothing.
fn filter_sql(f: EscalationFilter) -> (String, Option<i64>, Option<i64>) {
    let mut clause =
        "((?1 IS NOT NULL AND alert_id = ?1) OR (?2 IS NOT NULL AND incident_number = ?2))"
            .to_string();
    if f.open_only {
        clause.push_str(" AND status IN ('active', 'acknowledged')");
    }
    (clause, f.alert, f.incident.map(|n| n.0))
}

#[async_trait]
impl PagingWrites for SqliteTx<'_> {
    async fn create_contact(&mut self, c: &ContactRecord) -> Result<()> {
        self.conn()
            .prepare_cached(
                "INSERT INTO contact_methods (id, user_handle, kind, name, target, secret, created_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            )
            .and_then(|mut st| {
                st.execute(params![
                    c.id,
                    c.user.as_str(),
                    c.kind.as_str(),
                    c.name,
                    c.target,
                    c.secret,
                    ms(c.created_at)
                ])
            })
            .map_err(|e| {
                unique(e, || {
                    format!(
                        "{} already has a contact method named {:?}",
                        c.user, c.name
                    )
                })
            })?;
        self.changed(Change::Directory(Topic::Contacts));
        Ok(())
    }

    async fn delete_contact(&mut self, user: &Name, id: &str) -> Result<ContactRecord> {
        let sql = format!(
            "DELETE FROM contact_methods WHERE user_handle = ?1 AND id = ?2 \
             RETURNING {CONTACT_COLUMNS}"
        );
        let removed = rows::one(self.conn(), &sql, params![user.as_str(), id], contact)?
            .ok_or(StoreError::NotFound)?;
        self.changed(Change::Directory(Topic::Contacts));
        Ok(removed)
    }

    async fn create_policy(&mut self, p: &PolicyRecord) -> Result<()> {
        let name = &p.policy.name;
        self.conn()
            .prepare_cached(
                "INSERT INTO escalation_policies (name, definition, from_config, created_at, updated_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5)",
            )
            .and_then(|mut st| {
                st.execute(params![
                    name.as_str(),
                    policy_to_json(&p.policy),
                    p.from_config,
                    ms(p.created_at),
                    ms(p.updated_at)
                ])
            })
            .map_err(|e| unique(e, || format!("a policy named {name} already exists")))?;
        self.changed(Change::Directory(Topic::Policies));
        Ok(())
    }

    async fn replace_policy(&mut self, p: &PolicyRecord) -> Result<()> {
        let changed = self.exec(
            "UPDATE escalation_policies SET definition = ?2, updated_at = ?3 WHERE name = ?1",
            params![
                p.policy.name.as_str(),
                policy_to_json(&p.policy),
                ms(p.updated_at)
            ],
        )?;
        if changed == 0 {
            return Err(StoreError::NotFound);
        }
        self.changed(Change::Directory(Topic::Policies));
        Ok(())
    }

    async fn delete_policy(&mut self, name: &Name) -> Result<()> {
        if self.exec(
            "DELETE FROM escalation_policies WHERE name = ?1",
            [name.as_str()],
        )? == 0
        {
            return Err(StoreError::NotFound);
        }
        self.changed(Change::Directory(Topic::Policies));
        Ok(())
    }

    async fn sync_policies(&mut self, policies: Vec<PolicyRecord>) -> Result<()> {
        for p in &policies {
            self.exec(
                "INSERT INTO escalation_policies (name, definition, from_config, created_at, updated_at) \
                 VALUES (?1, ?2, 1, ?3, ?3) \
                 ON CONFLICT (name) DO UPDATE SET definition = excluded.definition, \
                 from_config = 1, \
                 updated_at = CASE WHEN escalation_policies.definition = excluded.definition \
                 THEN escalation_policies.updated_at ELSE excluded.updated_at END",
                params![
                    p.policy.name.as_str(),
                    policy_to_json(&p.policy),
                    ms(p.updated_at)
                ],
            )?;
        }
        self.changed(Change::Directory(Topic::Policies));
        Ok(())
    }

    async fn create_escalations(&mut self, escalations: &[Escalation]) -> Result<()> {
        // One prepared insert per row costs no round trip on SQLite.
        for e in escalations {
            self.create_escalation(e).await?;
        }
        Ok(())
    }

    async fn create_escalation(&mut self, e: &Escalation) -> Result<()> {
        self.conn()
            .prepare_cached(&format!(
                "INSERT INTO escalations ({ESCALATION_COLUMNS}) VALUES \
                 (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)"
            ))
            .and_then(|mut st| {
                st.execute(params![
                    e.id,
                    e.alert,
                    e.incident.map(|n| n.0),
                    e.policy.name.as_str(),
                    policy_to_json(&e.policy),
                    e.status.as_str(),
                    e.paged.map(|p| p.round),
                    e.paged.map(|p| p.step),
                    e.next.map(|p| p.round),
                    e.next.map(|p| p.step),
                    opt_ms(e.next_at),
                    ms(e.started_at),
                    opt_ms(e.acknowledged_at),
                    e.acknowledged_by,
                    opt_ms(e.ended_at),
                    e.drill
                ])
            })
            .map_err(|err| unique(err, || format!("an escalation {} already exists", e.id)))?;
        Ok(())
    }

    async fn lock_escalation(&mut self, id: &str) -> Result<Option<Escalation>> {
        let sql = format!("SELECT {ESCALATION_COLUMNS} FROM escalations WHERE id = ?1");
        rows::one(self.conn(), &sql, [id], escalation)
    }

    async fn save_escalation(&mut self, e: &Escalation) -> Result<()> {
        let changed = self.exec(
            "UPDATE escalations SET incident_number = ?2, status = ?3, paged_round = ?4, \
             paged_step = ?5, next_round = ?6, next_step = ?7, next_at = ?8, \
             acknowledged_at = ?9, acknowledged_by = ?10, ended_at = ?11 WHERE id = ?1",
            params![
                e.id,
                e.incident.map(|n| n.0),
                e.status.as_str(),
                e.paged.map(|p| p.round),
                e.paged.map(|p| p.step),
                e.next.map(|p| p.round),
                e.next.map(|p| p.step),
                opt_ms(e.next_at),
                opt_ms(e.acknowledged_at),
                e.acknowledged_by,
                opt_ms(e.ended_at)
            ],
        )?;
        if changed == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    async fn lock_escalations(&mut self, filter: EscalationFilter) -> Result<Vec<Escalation>> {
        let (clause, alert, incident) = filter_sql(filter);
        let sql = format!(
            "SELECT {ESCALATION_COLUMNS} FROM escalations WHERE {clause} ORDER BY started_at, id"
        );
        rows::all(self.conn(), &sql, params![alert, incident], escalation)
    }

    async fn keep_secret(&mut self, name: &str, value: &str, at: Timestamp) -> Result<String> {
        self.exec(
            "INSERT INTO secrets (name, value, created_at) VALUES (?1, ?2, ?3) \
             ON CONFLICT (name) DO NOTHING",
            params![name, value, ms(at)],
        )?;
        rows::one(
            self.conn(),
            "SELECT value FROM secrets WHERE name = ?1",
            [name],
            |r| rows::get(r, "value"),
        )?
        .ok_or_else(|| StoreError::backend("a kept secret vanished"))
    }
}

#[async_trait]
impl PagingStore for SqliteStore {
    async fn contacts_of(&self, user: &Name) -> Result<Vec<ContactRecord>> {
        self.contacts_of_users(std::slice::from_ref(user)).await
    }

    async fn contacts_of_users(&self, users: &[Name]) -> Result<Vec<ContactRecord>> {
        let users = serde_json::to_string(&users.iter().map(Name::as_str).collect::<Vec<_>>())
            .map_err(StoreError::backend)?;
        self.read(move |conn| {
            let sql = format!(
                "SELECT {CONTACT_COLUMNS} FROM contact_methods \
                 WHERE user_handle IN (SELECT value FROM json_each(?1)) \
                 ORDER BY user_handle, created_at, id"
            );
            rows::all(conn, &sql, [users], contact)
        })
        .await
    }

    async fn get_contact(&self, id: &str) -> Result<Option<ContactRecord>> {
        let id = id.to_string();
        self.read(move |conn| {
            let sql = format!("SELECT {CONTACT_COLUMNS} FROM contact_methods WHERE id = ?1");
            rows::one(conn, &sql, [id], contact)
        })
        .await
    }

    async fn list_policies(&self) -> Result<Vec<PolicyRecord>> {
        self.read(|conn| {
            let sql = format!("SELECT {POLICY_COLUMNS} FROM escalation_policies ORDER BY name");
            rows::all(conn, &sql, [], policy)
        })
        .await
    }

    async fn get_policy(&self, name: &Name) -> Result<Option<PolicyRecord>> {
        let name = name.to_string();
        self.read(move |conn| {
            let sql = format!("SELECT {POLICY_COLUMNS} FROM escalation_policies WHERE name = ?1");
            rows::one(conn, &sql, [name], policy)
        })
        .await
    }

    async fn get_escalation(&self, id: &str) -> Result<Option<Escalation>> {
        let id = id.to_string();
        self.read(move |conn| {
            let sql = format!("SELECT {ESCALATION_COLUMNS} FROM escalations WHERE id = ?1");
            rows::one(conn, &sql, [id], escalation)
        })
        .await
    }

    async fn list_escalations(&self, filter: EscalationFilter) -> Result<Vec<Escalation>> {
        self.read(move |conn| {
            let (clause, alert, incident) = filter_sql(filter);
            let sql = format!(
                "SELECT {ESCALATION_COLUMNS} FROM escalations WHERE {clause} \
                 ORDER BY started_at, id"
            );
            rows::all(conn, &sql, params![alert, incident], escalation)
        })
        .await
    }

    async fn active_escalations(&self, limit: u32) -> Result<Vec<Escalation>> {
        self.read(move |conn| {
            let sql = format!(
                "SELECT {ESCALATION_COLUMNS} FROM escalations INDEXED BY escalations_active \
                 WHERE status = 'active' ORDER BY started_at, id LIMIT ?1"
            );
            rows::all(conn, &sql, params![limit], escalation)
        })
        .await
    }
}
