//! On-call schedules and their overrides on PostgreSQL. A schedule's definition is JSON text in
//! the shared codec's shape; overrides are rows ordered by `seq`, the order they were added.

use async_trait::async_trait;
use firebreak_domain::Name;
use firebreak_domain::schedule::Override;
use firebreak_store::codec::{schedule_from_json, schedule_to_json};
use firebreak_store::feed::Topic;
use firebreak_store::{
    Change, OverrideRecord, Result, ScheduleRecord, ScheduleStore, ScheduleWrites, StoreError,
};
use jiff::Timestamp;
use sqlx::AssertSqlSafe;
use sqlx::postgres::PgRow;

use crate::PostgresStore;
use crate::error::{conflict_message, db};
use crate::rows::{self, found, get};
use crate::tx::PgTx;

const SCHEDULE_COLUMNS: &str = "name, definition, from_config, created_at, updated_at";
const OVERRIDE_COLUMNS: &str =
    "id, schedule, user_handle, starts_at, ends_at, created_at, created_by";

fn schedule(row: &PgRow) -> Result<ScheduleRecord> {
    let name: String = get(row, "name")?;
    let definition: String = get(row, "definition")?;
    Ok(ScheduleRecord {
        schedule: schedule_from_json(&name, &definition)?,
        from_config: get(row, "from_config")?,
        created_at: rows::ts(get(row, "created_at")?)?,
        updated_at: rows::ts(get(row, "updated_at")?)?,
    })
}

fn cover(row: &PgRow) -> Result<OverrideRecord> {
    Ok(OverrideRecord {
        schedule: rows::name(&get::<String>(row, "schedule")?)?,
        cover: Override {
            id: get(row, "id")?,
            user: rows::name(&get::<String>(row, "user_handle")?)?,
            start: rows::ts(get(row, "starts_at")?)?,
            end: rows::ts(get(row, "ends_at")?)?,
        },
        created_at: rows::ts(get(row, "created_at")?)?,
        created_by: get(row, "created_by")?,
    })
}

#[async_trait]
impl ScheduleWrites for PgTx<'_> {
    async fn create_schedule(&mut self, s: &ScheduleRecord) -> Result<()> {
        let name = s.schedule.name.as_str();
        let added = sqlx::query(
            "INSERT INTO schedules (name, definition, from_config, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
        )
        .bind(name)
        .bind(schedule_to_json(&s.schedule))
        .bind(s.from_config)
        .bind(s.created_at.as_millisecond())
        .bind(s.updated_at.as_millisecond())
        .execute(&mut *self.conn)
        .await
        .map_err(db)?
        .rows_affected();
        if added == 0 {
            return Err(StoreError::Conflict(conflict_message(
                "schedules_pkey",
                name,
            )));
        }
        self.changed(Change::Directory(Topic::Schedules));
        Ok(())
    }

    async fn replace_schedule(&mut self, s: &ScheduleRecord) -> Result<()> {
        let changed =
            sqlx::query("UPDATE schedules SET definition = $2, updated_at = $3 WHERE name = $1")
                .bind(s.schedule.name.as_str())
                .bind(schedule_to_json(&s.schedule))
                .bind(s.updated_at.as_millisecond())
                .execute(&mut *self.conn)
                .await
                .map_err(db)?
                .rows_affected();
        if changed == 0 {
            return Err(StoreError::NotFound);
        }
        self.changed(Change::Directory(Topic::Schedules));
        Ok(())
    }

    async fn delete_schedule(&mut self, name: &Name) -> Result<()> {
        let gone = sqlx::query("DELETE FROM schedules WHERE name = $1")
            .bind(name.as_str())
            .execute(&mut *self.conn)
            .await
            .map_err(db)?
            .rows_affected();
        found(gone)?;
        self.changed(Change::Directory(Topic::Schedules));
        Ok(())
    }

    async fn sync_schedules(&mut self, schedules: Vec<ScheduleRecord>) -> Result<()> {
        for s in &schedules {
            sqlx::query(
                "INSERT INTO schedules (name, definition, from_config, created_at, updated_at)
                 VALUES ($1, $2, TRUE, $3, $3)
                 ON CONFLICT (name) DO UPDATE SET definition = excluded.definition,
                 from_config = TRUE,
                 updated_at = CASE WHEN schedules.definition = excluded.definition
                 THEN schedules.updated_at ELSE excluded.updated_at END",
            )
            .bind(s.schedule.name.as_str())
            .bind(schedule_to_json(&s.schedule))
            .bind(s.updated_at.as_millisecond())
            .execute(&mut *self.conn)
            .await
            .map_err(db)?;
        }
        self.changed(Change::Directory(Topic::Schedules));
        Ok(())
    }

    async fn add_override(&mut self, o: &OverrideRecord) -> Result<()> {
        // Held until commit, so the schedule cannot be removed under the new override.
        let known = sqlx::query("SELECT 1 FROM schedules WHERE name = $1 FOR KEY SHARE")
            .bind(o.schedule.as_str())
            .fetch_optional(&mut *self.conn)
            .await
            .map_err(db)?;
        if known.is_none() {
            return Err(StoreError::NotFound);
        }
        let added = sqlx::query(
            "INSERT INTO schedule_overrides
             (id, schedule, user_handle, starts_at, ends_at, created_at, created_by)
             VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING",
        )
        .bind(&o.cover.id)
        .bind(o.schedule.as_str())
        .bind(o.cover.user.as_str())
        .bind(o.cover.start.as_millisecond())
        .bind(o.cover.end.as_millisecond())
        .bind(o.created_at.as_millisecond())
        .bind(&o.created_by)
        .execute(&mut *self.conn)
        .await
        .map_err(db)?
        .rows_affected();
        if added == 0 {
            return Err(StoreError::Conflict(conflict_message(
                "schedule_overrides_id_key",
                &o.cover.id,
            )));
        }
        self.changed(Change::Directory(Topic::Schedules));
        Ok(())
    }

    async fn remove_override(&mut self, schedule: &Name, id: &str) -> Result<OverrideRecord> {
        let row = sqlx::query(AssertSqlSafe(format!(
            "DELETE FROM schedule_overrides WHERE schedule = $1 AND id = $2
             RETURNING {OVERRIDE_COLUMNS}"
        )))
        .bind(schedule.as_str())
        .bind(id)
        .fetch_optional(&mut *self.conn)
        .await
        .map_err(db)?
        .ok_or(StoreError::NotFound)?;
        self.changed(Change::Directory(Topic::Schedules));
        cover(&row)
    }
}

#[async_trait]
impl ScheduleStore for PostgresStore {
    async fn list_schedules(&self) -> Result<Vec<ScheduleRecord>> {
        sqlx::query(AssertSqlSafe(format!(
            "SELECT {SCHEDULE_COLUMNS} FROM schedules ORDER BY name"
        )))
        .fetch_all(&self.pool)
        .await
        .map_err(db)?
        .iter()
        .map(schedule)
        .collect()
    }

    async fn get_schedule(&self, name: &Name) -> Result<Option<ScheduleRecord>> {
        sqlx::query(AssertSqlSafe(format!(
            "SELECT {SCHEDULE_COLUMNS} FROM schedules WHERE name = $1"
        )))
        .bind(name.as_str())
        .fetch_optional(&self.pool)
        .await
        .map_err(db)?
        .as_ref()
        .map(schedule)
        .transpose()
    }

    async fn overrides_of(
        &self,
        schedule: &Name,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<Vec<OverrideRecord>> {
        sqlx::query(AssertSqlSafe(format!(
            "SELECT {OVERRIDE_COLUMNS} FROM schedule_overrides
             WHERE schedule = $1 AND ends_at > $2 AND starts_at < $3 ORDER BY seq"
        )))
        .bind(schedule.as_str())
        .bind(from.as_millisecond())
        .bind(to.as_millisecond())
        .fetch_all(&self.pool)
        .await
        .map_err(db)?
        .iter()
        .map(cover)
        .collect()
    }
}
