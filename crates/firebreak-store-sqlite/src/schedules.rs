//! On-call schedules and their overrides on SQLite. A schedule's definition is JSON text in
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
use rusqlite::{Row, params};

use crate::SqliteStore;
use crate::rows::{self, ms, unique};
use crate::tx::SqliteTx;

const SCHEDULE_COLUMNS: &str = "name, definition, from_config, created_at, updated_at";
const OVERRIDE_COLUMNS: &str =
    "id, schedule, user_handle, starts_at, ends_at, created_at, created_by";

fn schedule(row: &Row<'_>) -> Result<ScheduleRecord> {
    let name: String = rows::get(row, "name")?;
    let definition: String = rows::get(row, "definition")?;
    Ok(ScheduleRecord {
        schedule: schedule_from_json(&name, &definition)?,
        from_config: rows::get(row, "from_config")?,
        created_at: rows::ts(row, "created_at")?,
        updated_at: rows::ts(row, "updated_at")?,
    })
}

fn cover(row: &Row<'_>) -> Result<OverrideRecord> {
    Ok(OverrideRecord {
        schedule: rows::name_at(row, "schedule")?,
        cover: Override {
            id: rows::get(row, "id")?,
            user: rows::name_at(row, "user_handle")?,
            start: rows::ts(row, "starts_at")?,
            end: rows::ts(row, "ends_at")?,
        },
        created_at: rows::ts(row, "created_at")?,
        created_by: rows::get(row, "created_by")?,
    })
}

#[async_trait]
impl ScheduleWrites for SqliteTx<'_> {
    async fn create_schedule(&mut self, s: &ScheduleRecord) -> Result<()> {
        let name = &s.schedule.name;
        self.conn()
            .prepare_cached(
                "INSERT INTO schedules (name, definition, from_config, created_at, updated_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5)",
            )
            .and_then(|mut st| {
                st.execute(params![
                    name.as_str(),
                    schedule_to_json(&s.schedule),
                    s.from_config,
                    ms(s.created_at),
                    ms(s.updated_at)
                ])
            })
            .map_err(|e| unique(e, || format!("a schedule named {name} already exists")))?;
        self.changed(Change::Directory(Topic::Schedules));
        Ok(())
    }

    async fn replace_schedule(&mut self, s: &ScheduleRecord) -> Result<()> {
        let changed = self.exec(
            "UPDATE schedules SET definition = ?2, updated_at = ?3 WHERE name = ?1",
            params![
                s.schedule.name.as_str(),
                schedule_to_json(&s.schedule),
                ms(s.updated_at)
            ],
        )?;
        if changed == 0 {
            return Err(StoreError::NotFound);
        }
        self.changed(Change::Directory(Topic::Schedules));
        Ok(())
    }

    async fn delete_schedule(&mut self, name: &Name) -> Result<()> {
        if self.exec("DELETE FROM schedules WHERE name = ?1", [name.as_str()])? == 0 {
            return Err(StoreError::NotFound);
        }
        self.changed(Change::Directory(Topic::Schedules));
        Ok(())
    }

    async fn sync_schedules(&mut self, schedules: Vec<ScheduleRecord>) -> Result<()> {
        for s in &schedules {
            self.exec(
                "INSERT INTO schedules (name, definition, from_config, created_at, updated_at) \
                 VALUES (?1, ?2, 1, ?3, ?3) \
                 ON CONFLICT (name) DO UPDATE SET definition = excluded.definition, \
                 from_config = 1, \
                 updated_at = CASE WHEN schedules.definition = excluded.definition \
                 THEN schedules.updated_at ELSE excluded.updated_at END",
                params![
                    s.schedule.name.as_str(),
                    schedule_to_json(&s.schedule),
                    ms(s.updated_at)
                ],
            )?;
        }
        self.changed(Change::Directory(Topic::Schedules));
        Ok(())
    }

    async fn add_override(&mut self, o: &OverrideRecord) -> Result<()> {
        let known = rows::one(
            self.conn(),
            "SELECT 1 FROM schedules WHERE name = ?1",
            [o.schedule.as_str()],
            |_| Ok(()),
        )?;
        if known.is_none() {
            return Err(StoreError::NotFound);
        }
        self.conn()
            .prepare_cached(
                "INSERT INTO schedule_overrides \
                 (id, schedule, user_handle, starts_at, ends_at, created_at, created_by) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            )
            .and_then(|mut st| {
                st.execute(params![
                    o.cover.id,
                    o.schedule.as_str(),
                    o.cover.user.as_str(),
                    ms(o.cover.start),
                    ms(o.cover.end),
                    ms(o.created_at),
                    o.created_by
                ])
            })
            .map_err(|e| unique(e, || format!("an override {} already exists", o.cover.id)))?;
        self.changed(Change::Directory(Topic::Schedules));
        Ok(())
    }

    async fn remove_override(&mut self, schedule: &Name, id: &str) -> Result<OverrideRecord> {
        let sql = format!(
            "DELETE FROM schedule_overrides WHERE schedule = ?1 AND id = ?2 \
             RETURNING {OVERRIDE_COLUMNS}"
        );
        let removed = rows::one(self.conn(), &sql, params![schedule.as_str(), id], cover)?
            .ok_or(StoreError::NotFound)?;
        self.changed(Change::Directory(Topic::Schedules));
        Ok(removed)
    }
}

#[async_trait]
impl ScheduleStore for SqliteStore {
    async fn list_schedules(&self) -> Result<Vec<ScheduleRecord>> {
        self.read(|conn| {
            let sql = format!("SELECT {SCHEDULE_COLUMNS} FROM schedules ORDER BY name");
            rows::all(conn, &sql, [], schedule)
        })
        .await
    }

    async fn get_schedule(&self, name: &Name) -> Result<Option<ScheduleRecord>> {
        let name = name.to_string();
        self.read(move |conn| {
            let sql = format!("SELECT {SCHEDULE_COLUMNS} FROM schedules WHERE name = ?1");
            rows::one(conn, &sql, [name], schedule)
        })
        .await
    }

    async fn overrides_of(
        &self,
        schedule: &Name,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<Vec<OverrideRecord>> {
        let schedule = schedule.to_string();
        self.read(move |conn| {
            let sql = format!(
                "SELECT {OVERRIDE_COLUMNS} FROM schedule_overrides \
                 WHERE schedule = ?1 AND ends_at > ?2 AND starts_at < ?3 ORDER BY seq"
            );
            rows::all(conn, &sql, params![schedule, ms(from), ms(to)], cover)
        })
        .await
    }
}
