//! Paging on PostgreSQL: contact methods, escalation policies (JSON text in the shared codec's
//! shape), escalations (with their policy as it was when they started) and kept secrets.
//! Locks are `FOR UPDATE` rows.

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
use sqlx::AssertSqlSafe;
use sqlx::postgres::PgRow;

use crate::PostgresStore;
use crate::error::{conflict_message, db, db_for};
use crate::rows::{self, found, get, ms_opt};
use crate::tx::PgTx;

const CONTACT_COLUMNS: &str = "id, user_handle, kind, name, target, secret, created_at";
const POLICY_COLUMNS: &str = "name, definition, from_config, created_at, updated_at";
const ESCALATION_COLUMNS: &str = "id, alert_id, incident_number, policy, snapshot, status, \
     paged_round, paged_step, next_round, next_step, next_at, started_at, acknowledged_at, \
     acknowledged_by, ended_at, drill";
/// With neither alert nor incident, nothing matches.
const FILTER: &str = "(($1::BIGINT IS NOT NULL AND alert_id = $1) \
     OR ($2::BIGINT IS NOT NULL AND incident_number = $2)) \
     AND (NOT $3 OR status IN ('active', 'acknowledged'))";

fn contact(row: &PgRow) -> Result<ContactRecord> {
    let kind: String = get(row, "kind")?;
    Ok(ContactRecord {
        id: get(row, "id")?,
        user: rows::name(&get::<String>(row, "user_handle")?)?,
        kind: ContactKind::parse(&kind)
            .ok_or_else(|| StoreError::backend(format!("unknown contact kind {kind:?}")))?,
        name: get(row, "name")?,
        target: get(row, "target")?,
        secret: get(row, "secret")?,
        created_at: rows::ts(get(row, "created_at")?)?,
    })
}

fn policy(row: &PgRow) -> Result<PolicyRecord> {
    let name: String = get(row, "name")?;
    let definition: String = get(row, "definition")?;
    Ok(PolicyRecord {
        policy: policy_from_json(&name, &definition)?,
        from_config: get(row, "from_config")?,
        created_at: rows::ts(get(row, "created_at")?)?,
        updated_at: rows::ts(get(row, "updated_at")?)?,
    })
}

fn position(row: &PgRow, round: &str, step: &str) -> Result<Option<Position>> {
    let round: Option<i64> = get(row, round)?;
    let step: Option<i64> = get(row, step)?;
    Ok(match (round, step) {
        (Some(round), Some(step)) => Some(Position {
            round: u32::try_from(round).map_err(StoreError::backend)?,
            step: u32::try_from(step).map_err(StoreError::backend)?,
        }),
        _ => None,
    })
}

fn escalation(row: &PgRow) -> Result<Escalation> {
    let policy: String = get(row, "policy")?;
    let snapshot: String = get(row, "snapshot")?;
    let status: String = get(row, "status")?;
    Ok(Escalation {
        id: get(row, "id")?,
        alert: get(row, "alert_id")?,
        incident: get::<Option<i64>>(row, "incident_number")?.map(IncidentNumber),
        policy: policy_from_json(&policy, &snapshot)?,
        status: EscalationStatus::parse(&status)
            .ok_or_else(|| StoreError::backend(format!("unknown escalation status {status:?}")))?,
        paged: position(row, "paged_round", "paged_step")?,
        next: position(row, "next_round", "next_step")?,
        next_at: rows::ts_opt(get(row, "next_at")?)?,
        started_at: rows::ts(get(row, "started_at")?)?,
        acknowledged_at: rows::ts_opt(get(row, "acknowledged_at")?)?,
        acknowledged_by: get(row, "acknowledged_by")?,
        ended_at: rows::ts_opt(get(row, "ended_at")?)?,
        drill: get(row, "drill")?,
    })
}

#[async_trait]
impl PagingWrites for PgTx<'_> {
    async fn create_contact(&mut self, c: &ContactRecord) -> Result<()> {
        sqlx::query(
            "INSERT INTO contact_methods (id, user_handle, kind, name, target, secret, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(&c.id)
        .bind(c.user.as_str())
        .bind(c.kind.as_str())
        .bind(&c.name)
        .bind(&c.target)
        .bind(c.secret.as_deref())
        .bind(c.created_at.as_millisecond())
        .execute(&mut *self.conn)
        .await
        .map_err(db_for(&c.name))?;
        self.changed(Change::Directory(Topic::Contacts));
        Ok(())
    }

    async fn delete_contact(&mut self, user: &Name, id: &str) -> Result<ContactRecord> {
        let row = sqlx::query(AssertSqlSafe(format!(
            "DELETE FROM contact_methods WHERE user_handle = $1 AND id = $2
             RETURNING {CONTACT_COLUMNS}"
        )))
        .bind(user.as_str())
        .bind(id)
        .fetch_optional(&mut *self.conn)
        .await
        .map_err(db)?
        .ok_or(StoreError::NotFound)?;
        self.changed(Change::Directory(Topic::Contacts));
        contact(&row)
    }

    async fn create_policy(&mut self, p: &PolicyRecord) -> Result<()> {
        let name = p.policy.name.as_str();
        let added = sqlx::query(
            "INSERT INTO escalation_policies (name, definition, from_config, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
        )
        .bind(name)
        .bind(policy_to_json(&p.policy))
        .bind(p.from_config)
        .bind(p.created_at.as_millisecond())
        .bind(p.updated_at.as_millisecond())
        .execute(&mut *self.conn)
        .await
        .map_err(db)?
        .rows_affected();
        if added == 0 {
            return Err(StoreError::Conflict(conflict_message(
                "escalation_policies_pkey",
                name,
            )));
        }
        self.changed(Change::Directory(Topic::Policies));
        Ok(())
    }

    async fn replace_policy(&mut self, p: &PolicyRecord) -> Result<()> {
        let changed = sqlx::query(
            "UPDATE escalation_policies SET definition = $2, updated_at = $3 WHERE name = $1",
        )
        .bind(p.policy.name.as_str())
        .bind(policy_to_json(&p.policy))
        .bind(p.updated_at.as_millisecond())
        .execute(&mut *self.conn)
        .await
        .map_err(db)?
        .rows_affected();
        found(changed)?;
        self.changed(Change::Directory(Topic::Policies));
        Ok(())
    }

    async fn delete_policy(&mut self, name: &Name) -> Result<()> {
        let deleted = sqlx::query("DELETE FROM escalation_policies WHERE name = $1")
            .bind(name.as_str())
            .execute(&mut *self.conn)
            .await
            .map_err(db)?
            .rows_affected();
        found(deleted)?;
        self.changed(Change::Directory(Topic::Policies));
        Ok(())
    }

    async fn sync_policies(&mut self, policies: Vec<PolicyRecord>) -> Result<()> {
        for p in &policies {
            sqlx::query(
                "INSERT INTO escalation_policies (name, definition, from_config, created_at, updated_at)
                 VALUES ($1, $2, TRUE, $3, $3)
                 ON CONFLICT (name) DO UPDATE SET definition = EXCLUDED.definition,
                     from_config = TRUE,
                     updated_at = CASE WHEN escalation_policies.definition = EXCLUDED.definition
                         THEN escalation_policies.updated_at ELSE EXCLUDED.updated_at END",
            )
            .bind(p.policy.name.as_str())
            .bind(policy_to_json(&p.policy))
            .bind(p.updated_at.as_millisecond())
            .execute(&mut *self.conn)
            .await
            .map_err(db)?;
        }
        self.changed(Change::Directory(Topic::Policies));
        Ok(())
    }

    async fn create_escalation(&mut self, e: &Escalation) -> Result<()> {
        sqlx::query(AssertSqlSafe(format!(
            "INSERT INTO escalations ({ESCALATION_COLUMNS}) VALUES
             ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)"
        )))
        .bind(&e.id)
        .bind(e.alert)
        .bind(e.incident.map(|n| n.0))
        .bind(e.policy.name.as_str())
        .bind(policy_to_json(&e.policy))
        .bind(e.status.as_str())
        .bind(e.paged.map(|p| i64::from(p.round)))
        .bind(e.paged.map(|p| i64::from(p.step)))
        .bind(e.next.map(|p| i64::from(p.round)))
        .bind(e.next.map(|p| i64::from(p.step)))
        .bind(ms_opt(e.next_at))
        .bind(e.started_at.as_millisecond())
        .bind(ms_opt(e.acknowledged_at))
        .bind(e.acknowledged_by.as_deref())
        .bind(ms_opt(e.ended_at))
        .bind(e.drill)
        .execute(&mut *self.conn)
        .await
        .map_err(db_for(&e.id))?;
        Ok(())
    }

    async fn create_escalations(&mut self, es: &[Escalation]) -> Result<()> {
        match es {
            [] => return Ok(()),
            [one] => return self.create_escalation(one).await,
            _ => {}
        }
        let round =
            |p: Option<firebreak_domain::escalation::Position>| p.map(|p| i64::from(p.round));
        let step = |p: Option<firebreak_domain::escalation::Position>| p.map(|p| i64::from(p.step));
        sqlx::query(AssertSqlSafe(format!(
            "INSERT INTO escalations ({ESCALATION_COLUMNS})
             SELECT * FROM UNNEST($1::TEXT[], $2::BIGINT[], $3::BIGINT[], $4::TEXT[], $5::TEXT[],
                 $6::TEXT[], $7::BIGINT[], $8::BIGINT[], $9::BIGINT[], $10::BIGINT[],
                 $11::BIGINT[], $12::BIGINT[], $13::BIGINT[], $14::TEXT[], $15::BIGINT[],
                 $16::BOOLEAN[])"
        )))
        .bind(es.iter().map(|e| e.id.as_str()).collect::<Vec<_>>())
        .bind(es.iter().map(|e| e.alert).collect::<Vec<_>>())
        .bind(
            es.iter()
                .map(|e| e.incident.map(|n| n.0))
                .collect::<Vec<_>>(),
        )
        .bind(
            es.iter()
                .map(|e| e.policy.name.as_str())
                .collect::<Vec<_>>(),
        )
        .bind(
            es.iter()
                .map(|e| policy_to_json(&e.policy))
                .collect::<Vec<_>>(),
        )
        .bind(es.iter().map(|e| e.status.as_str()).collect::<Vec<_>>())
        .bind(es.iter().map(|e| round(e.paged)).collect::<Vec<_>>())
        .bind(es.iter().map(|e| step(e.paged)).collect::<Vec<_>>())
        .bind(es.iter().map(|e| round(e.next)).collect::<Vec<_>>())
        .bind(es.iter().map(|e| step(e.next)).collect::<Vec<_>>())
        .bind(es.iter().map(|e| ms_opt(e.next_at)).collect::<Vec<_>>())
        .bind(
            es.iter()
                .map(|e| e.started_at.as_millisecond())
                .collect::<Vec<_>>(),
        )
        .bind(
            es.iter()
                .map(|e| ms_opt(e.acknowledged_at))
                .collect::<Vec<_>>(),
        )
        .bind(
            es.iter()
                .map(|e| e.acknowledged_by.as_deref())
                .collect::<Vec<_>>(),
        )
        .bind(es.iter().map(|e| ms_opt(e.ended_at)).collect::<Vec<_>>())
        .bind(es.iter().map(|e| e.drill).collect::<Vec<_>>())
        .execute(&mut *self.conn)
        .await
        .map_err(db_for(&es[0].id))?;
        Ok(())
    }

    async fn lock_escalation(&mut self, id: &str) -> Result<Option<Escalation>> {
        sqlx::query(AssertSqlSafe(format!(
            "SELECT {ESCALATION_COLUMNS} FROM escalations WHERE id = $1 FOR UPDATE"
        )))
        .bind(id)
        .fetch_optional(&mut *self.conn)
        .await
        .map_err(db)?
        .map(|r| escalation(&r))
        .transpose()
    }

    async fn save_escalation(&mut self, e: &Escalation) -> Result<()> {
        let changed = sqlx::query(
            "UPDATE escalations SET incident_number = $2, status = $3, paged_round = $4,
                 paged_step = $5, next_round = $6, next_step = $7, next_at = $8,
                 acknowledged_at = $9, acknowledged_by = $10, ended_at = $11 WHERE id = $1",
        )
        .bind(&e.id)
        .bind(e.incident.map(|n| n.0))
        .bind(e.status.as_str())
        .bind(e.paged.map(|p| i64::from(p.round)))
        .bind(e.paged.map(|p| i64::from(p.step)))
        .bind(e.next.map(|p| i64::from(p.round)))
        .bind(e.next.map(|p| i64::from(p.step)))
        .bind(ms_opt(e.next_at))
        .bind(ms_opt(e.acknowledged_at))
        .bind(e.acknowledged_by.as_deref())
        .bind(ms_opt(e.ended_at))
        .execute(&mut *self.conn)
        .await
        .map_err(db)?
        .rows_affected();
        found(changed)
    }

    async fn lock_escalations(&mut self, filter: EscalationFilter) -> Result<Vec<Escalation>> {
        sqlx::query(AssertSqlSafe(format!(
            "SELECT {ESCALATION_COLUMNS} FROM escalations WHERE {FILTER}
             ORDER BY started_at, id FOR UPDATE"
        )))
        .bind(filter.alert)
        .bind(filter.incident.map(|n| n.0))
        .bind(filter.open_only)
        .fetch_all(&mut *self.conn)
        .await
        .map_err(db)?
        .iter()
        .map(escalation)
        .collect()
    }

    async fn keep_secret(&mut self, name: &str, value: &str, at: Timestamp) -> Result<String> {
        sqlx::query(
            "INSERT INTO secrets (name, value, created_at) VALUES ($1, $2, $3)
             ON CONFLICT (name) DO NOTHING",
        )
        .bind(name)
        .bind(value)
        .bind(at.as_millisecond())
        .execute(&mut *self.conn)
        .await
        .map_err(db)?;
        sqlx::query_scalar("SELECT value FROM secrets WHERE name = $1")
            .bind(name)
            .fetch_one(&mut *self.conn)
            .await
            .map_err(db)
    }
}

#[async_trait]
impl PagingStore for PostgresStore {
    async fn contacts_of(&self, user: &Name) -> Result<Vec<ContactRecord>> {
        self.contacts_of_users(std::slice::from_ref(user)).await
    }

    async fn contacts_of_users(&self, users: &[Name]) -> Result<Vec<ContactRecord>> {
        sqlx::query(AssertSqlSafe(format!(
            "SELECT {CONTACT_COLUMNS} FROM contact_methods WHERE user_handle = ANY($1)
             ORDER BY user_handle, created_at, id"
        )))
        .bind(users.iter().map(Name::as_str).collect::<Vec<_>>())
        .fetch_all(&self.pool)
        .await
        .map_err(db)?
        .iter()
        .map(contact)
        .collect()
    }

    async fn get_contact(&self, id: &str) -> Result<Option<ContactRecord>> {
        sqlx::query(AssertSqlSafe(format!(
            "SELECT {CONTACT_COLUMNS} FROM contact_methods WHERE id = $1"
        )))
        .bind(id)
        .fetch_optional(&self.pool)
        .await
        .map_err(db)?
        .map(|r| contact(&r))
        .transpose()
    }

    async fn list_policies(&self) -> Result<Vec<PolicyRecord>> {
        sqlx::query(AssertSqlSafe(format!(
            "SELECT {POLICY_COLUMNS} FROM escalation_policies ORDER BY name"
        )))
        .fetch_all(&self.pool)
        .await
        .map_err(db)?
        .iter()
        .map(policy)
        .collect()
    }

    async fn get_policy(&self, name: &Name) -> Result<Option<PolicyRecord>> {
        sqlx::query(AssertSqlSafe(format!(
            "SELECT {POLICY_COLUMNS} FROM escalation_policies WHERE name = $1"
        )))
        .bind(name.as_str())
        .fetch_optional(&self.pool)
        .await
        .map_err(db)?
        .map(|r| policy(&r))
        .transpose()
    }

    async fn get_escalation(&self, id: &str) -> Result<Option<Escalation>> {
        sqlx::query(AssertSqlSafe(format!(
            "SELECT {ESCALATION_COLUMNS} FROM escalations WHERE id = $1"
        )))
        .bind(id)
        .fetch_optional(&self.pool)
        .await
        .map_err(db)?
        .map(|r| escalation(&r))
        .transpose()
    }

    async fn list_escalations(&self, filter: EscalationFilter) -> Result<Vec<Escalation>> {
        sqlx::query(AssertSqlSafe(format!(
            "SELECT {ESCALATION_COLUMNS} FROM escalations WHERE {FILTER} ORDER BY started_at, id"
        )))
        .bind(filter.alert)
        .bind(filter.incident.map(|n| n.0))
        .bind(filter.open_only)
        .fetch_all(&self.pool)
        .await
        .map_err(db)?
        .iter()
        .map(escalation)
        .collect()
    }

    async fn active_escalations(&self, limit: u32) -> Result<Vec<Escalation>> {
        sqlx::query(AssertSqlSafe(format!(
            "SELECT {ESCALATION_COLUMNS} FROM escalations WHERE status = 'active' \
             ORDER BY started_at, id LIMIT $1"
        )))
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await
        .map_err(db)?
        .iter()
        .map(escalation)
        .collect()
    }
}
