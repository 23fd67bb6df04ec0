//! The outbox, delivery attempts and webhook subscriptions on PostgreSQL.
//!
//! Several Firebreak instances share one outbox. A claim takes due messages with
//! `FOR UPDATE SKIP LOCKED`, so claimers running at the same moment take different messages, and
//! marks them `sending` under a lease whose end becomes the message's `due_at`: a message whose
//! lease expired (its instance died) is due again, so every message is delivered at least once.
//! Settling a message (`complete`, `retry_at`, `fail`) only acts while the settler still holds
//! the lease, and records the attempt in the same statement.

use async_trait::async_trait;
use firebreak_store::feed::Topic;
use firebreak_store::{
    Attempt, Change, Lease, Message, MessageStatus, NewMessage, OutboxStats, OutboxStore,
    OutboxWrites, Outcome, Page, Priority, Result, StoreError, Subscription, codec,
};
use jiff::Timestamp;
use sqlx::AssertSqlSafe;
use sqlx::postgres::{PgConnection, PgRow};

use crate::PostgresStore;
use crate::error::{conflict_message, db};
use crate::rows::{self, get, ms_opt, ts, ts_opt};
use crate::tx::PgTx;

const MESSAGE_COLUMNS: &str = "id, kind, subject, idempotency_key, payload, status, due_at, \
     deadline_at, attempts, lease_owner, last_error, created_at, finished_at";
const SUBSCRIPTION_COLUMNS: &str = "id, url, events, description, secret, created_by, \
     created_at, failing_since, disabled_at, disabled_reason";

fn message(row: &PgRow) -> Result<Message> {
    let status: String = get(row, "status")?;
    Ok(Message {
        id: get(row, "id")?,
        kind: get(row, "kind")?,
        subject: get(row, "subject")?,
        idempotency_key: get(row, "idempotency_key")?,
        payload: get(row, "payload")?,
        status: codec::word("message status", &status)?,
        due_at: ts(get(row, "due_at")?)?,
        deadline_at: ts(get(row, "deadline_at")?)?,
        attempts: get(row, "attempts")?,
        lease_owner: get(row, "lease_owner")?,
        last_error: get(row, "last_error")?,
        created_at: ts(get(row, "created_at")?)?,
        finished_at: ts_opt(get(row, "finished_at")?)?,
    })
}

fn subscription(row: &PgRow) -> Result<Subscription> {
    let events: String = get(row, "events")?;
    Ok(Subscription {
        id: get(row, "id")?,
        url: get(row, "url")?,
        events: serde_json::from_str(&events).map_err(|e| {
            StoreError::backend(format!("stored subscription events are unreadable: {e}"))
        })?,
        description: get(row, "description")?,
        secret: get(row, "secret")?,
        created_by: get(row, "created_by")?,
        created_at: ts(get(row, "created_at")?)?,
        failing_since: ts_opt(get(row, "failing_since")?)?,
        disabled_at: ts_opt(get(row, "disabled_at")?)?,
        disabled_reason: get(row, "disabled_reason")?,
    })
}

fn attempt(row: &PgRow) -> Result<(i64, Attempt)> {
    let code: Option<i32> = get(row, "status_code")?;
    Ok((
        get(row, "message")?,
        Attempt {
            at: ts(get(row, "at")?)?,
            status_code: code.and_then(|c| u16::try_from(c).ok()),
            error: get(row, "error")?,
            duration_ms: get(row, "duration_ms")?,
        },
    ))
}

async fn select_message(conn: &mut PgConnection, id: i64, lock: bool) -> Result<Option<Message>> {
    let lock = if lock { " FOR UPDATE" } else { "" };
    sqlx::query(AssertSqlSafe(format!(
        "SELECT {MESSAGE_COLUMNS} FROM outbox WHERE id = $1{lock}"
    )))
    .bind(id)
    .fetch_optional(conn)
    .await
    .map_err(db)?
    .as_ref()
    .map(message)
    .transpose()
}

impl PgTx<'_> {
    /// Moves a message its owner holds to `status` and records the attempt, in one statement;
    /// false (and nothing changes) when the owner no longer holds it.
    async fn settle(
        &mut self,
        id: i64,
        owner: &str,
        status: MessageStatus,
        due: Option<Timestamp>,
        attempt: &Attempt,
    ) -> Result<bool> {
        let finished = match status {
            MessageStatus::Pending | MessageStatus::Sending => None,
            _ => Some(codec::millis(attempt.ended())),
        };
        let recorded = sqlx::query(
            "WITH s AS (UPDATE outbox SET status = $3, due_at = COALESCE($4, due_at),
                   lease_owner = NULL, last_error = $5, finished_at = $6
                 WHERE id = $1 AND status = 'sending' AND lease_owner = $2 RETURNING id)
             INSERT INTO outbox_attempts (message, n, at, status_code, error, duration_ms)
             SELECT s.id,
                 (SELECT COALESCE(max(n), 0) + 1 FROM outbox_attempts WHERE message = s.id),
                 $7, $8, $5, $9
             FROM s",
        )
        .bind(id)
        .bind(owner)
        .bind(status.as_str())
        .bind(ms_opt(due))
        .bind(attempt.error.as_deref())
        .bind(finished)
        .bind(codec::millis(attempt.at))
        .bind(attempt.status_code.map(i32::from))
        .bind(attempt.duration_ms)
        .execute(&mut *self.conn)
        .await
        .map_err(db)?
        .rows_affected();
        if recorded == 0 {
            return Ok(false);
        }
        if let Some(due) = due {
            self.changed(Change::Outbox { due });
        }
        Ok(true)
    }
}

#[async_trait]
impl OutboxWrites for PgTx<'_> {
    async fn enqueue(&mut self, messages: Vec<NewMessage>) -> Result<u64> {
        if messages.is_empty() {
            return Ok(0);
        }
        let added: Vec<i64> = sqlx::query_scalar(
            "INSERT INTO outbox (kind, subject, idempotency_key, payload, status, due_at,
                 deadline_at, attempts, created_at, priority)
             SELECT k, s, i, p, 'pending', d, l, 0, c, r
             FROM UNNEST($1::TEXT[], $2::TEXT[], $3::TEXT[], $4::TEXT[], $5::BIGINT[],
                 $6::BIGINT[], $7::BIGINT[], $8::SMALLINT[])
                 WITH ORDINALITY AS m(k, s, i, p, d, l, c, r, o)
             ORDER BY o
             ON CONFLICT (idempotency_key) DO NOTHING
             RETURNING due_at",
        )
        .bind(messages.iter().map(|m| m.kind.as_str()).collect::<Vec<_>>())
        .bind(
            messages
                .iter()
                .map(|m| m.subject.as_str())
                .collect::<Vec<_>>(),
        )
        .bind(
            messages
                .iter()
                .map(|m| m.idempotency_key.as_str())
                .collect::<Vec<_>>(),
        )
        .bind(
            messages
                .iter()
                .map(|m| m.payload.as_str())
                .collect::<Vec<_>>(),
        )
        .bind(
            messages
                .iter()
                .map(|m| codec::millis(m.due_at))
                .collect::<Vec<_>>(),
        )
        .bind(
            messages
                .iter()
                .map(|m| codec::millis(m.deadline_at))
                .collect::<Vec<_>>(),
        )
        .bind(
            messages
                .iter()
                .map(|m| codec::millis(m.created_at))
                .collect::<Vec<_>>(),
        )
        .bind(
            messages
                .iter()
                .map(|m| m.priority.rank())
                .collect::<Vec<_>>(),
        )
        .fetch_all(&mut *self.conn)
        .await
        .map_err(db)?;
        for due in &added {
            self.changed(Change::Outbox { due: ts(*due)? });
        }
        Ok(added.len() as u64)
    }

    async fn claim_due(
        &mut self,
        now: Timestamp,
        lease: &Lease,
        limit: u32,
        priorities: &[Priority],
    ) -> Result<Vec<Message>> {
        // One range of the claim index per priority, pages first: a single scan ordered by
        // priority would walk past every page-priority timer not yet due (an escalation's
        // next step, a reminder) before reaching due bulk messages.
        let sql = format!(
            "WITH due AS MATERIALIZED (
                 SELECT id, due_at, priority FROM outbox
                 WHERE priority = $5 AND status IN ('pending', 'sending') AND due_at <= $3
                 ORDER BY due_at, id LIMIT $4
                 FOR UPDATE SKIP LOCKED)
             UPDATE outbox o SET status = 'sending', lease_owner = $1, due_at = $2,
                 attempts = o.attempts + 1
             FROM due WHERE o.id = due.id
             RETURNING {}, due.due_at AS was_due, due.priority AS rank",
            MESSAGE_COLUMNS
                .split(", ")
                .map(|c| format!("o.{c}"))
                .collect::<Vec<_>>()
                .join(", ")
        );
        let mut found = Vec::new();
        for priority in priorities {
            let left = i64::from(limit) - found.len() as i64;
            if left <= 0 {
                break;
            }
            found.extend(
                sqlx::query(AssertSqlSafe(sql.as_str()))
                    .bind(&lease.owner)
                    .bind(codec::millis(lease.until))
                    .bind(codec::millis(now))
                    .bind(left)
                    .bind(priority.rank())
                    .fetch_all(&mut *self.conn)
                    .await
                    .map_err(db)?,
            );
        }
        let mut claimed = found
            .iter()
            .map(|row| {
                Ok((
                    (get::<i16>(row, "rank")?, get::<i64>(row, "was_due")?),
                    message(row)?,
                ))
            })
            .collect::<Result<Vec<_>>>()?;
        // Pages first, then soonest due, as they were chosen.
        claimed.sort_by_key(|(order, m)| (*order, m.id));
        Ok(claimed.into_iter().map(|(_, m)| m).collect())
    }

    async fn complete(&mut self, id: i64, owner: &str, attempt: &Attempt) -> Result<bool> {
        self.settle(id, owner, MessageStatus::Delivered, None, attempt)
            .await
    }

    async fn retry_at(
        &mut self,
        id: i64,
        owner: &str,
        at: Timestamp,
        attempt: &Attempt,
    ) -> Result<bool> {
        self.settle(id, owner, MessageStatus::Pending, Some(at), attempt)
            .await
    }

    async fn fail(&mut self, id: i64, owner: &str, dead: bool, attempt: &Attempt) -> Result<bool> {
        let status = if dead {
            MessageStatus::Dead
        } else {
            MessageStatus::Failed
        };
        self.settle(id, owner, status, None, attempt).await
    }

    /// One statement for the whole batch: the worker records hundreds of outcomes at a time,
    /// and one round trip each bounded delivery to a few thousand a second.
    async fn settle_all(
        &mut self,
        owner: &str,
        outcomes: &[(i64, Outcome, Attempt)],
    ) -> Result<Vec<bool>> {
        if outcomes.is_empty() {
            return Ok(Vec::new());
        }
        let (status, due): (Vec<&str>, Vec<Option<i64>>) = outcomes
            .iter()
            .map(|(_, o, _)| match o {
                Outcome::Delivered => (MessageStatus::Delivered.as_str(), None),
                Outcome::RetryAt(at) => (MessageStatus::Pending.as_str(), Some(codec::millis(*at))),
                Outcome::Failed => (MessageStatus::Failed.as_str(), None),
                Outcome::Dead => (MessageStatus::Dead.as_str(), None),
            })
            .unzip();
        let finished: Vec<Option<i64>> = outcomes
            .iter()
            .map(|(_, o, a)| match o {
                Outcome::RetryAt(_) => None,
                _ => Some(codec::millis(a.ended())),
            })
            .collect();
        let settled: Vec<i64> = sqlx::query_scalar(
            "WITH o AS (
                 SELECT * FROM UNNEST($2::BIGINT[], $3::TEXT[], $4::BIGINT[], $5::TEXT[],
                     $6::BIGINT[], $7::BIGINT[], $8::INT[], $9::BIGINT[])
                     AS o(id, status, due, error, finished, at, code, duration)),
             s AS (UPDATE outbox m SET status = o.status, due_at = COALESCE(o.due, m.due_at),
                     lease_owner = NULL, last_error = o.error, finished_at = o.finished
                   FROM o
                   WHERE m.id = o.id AND m.status = 'sending' AND m.lease_owner = $1
                   RETURNING m.id),
             a AS (INSERT INTO outbox_attempts (message, n, at, status_code, error, duration_ms)
                   SELECT o.id,
                       (SELECT COALESCE(max(n), 0) + 1 FROM outbox_attempts WHERE message = o.id),
                       o.at, o.code, o.error, o.duration
                   FROM o JOIN s ON s.id = o.id)
             SELECT id FROM s",
        )
        .bind(owner)
        .bind(outcomes.iter().map(|(id, _, _)| *id).collect::<Vec<_>>())
        .bind(status)
        .bind(&due)
        .bind(
            outcomes
                .iter()
                .map(|(_, _, a)| a.error.as_deref())
                .collect::<Vec<_>>(),
        )
        .bind(finished)
        .bind(
            outcomes
                .iter()
                .map(|(_, _, a)| codec::millis(a.at))
                .collect::<Vec<_>>(),
        )
        .bind(
            outcomes
                .iter()
                .map(|(_, _, a)| a.status_code.map(i32::from))
                .collect::<Vec<_>>(),
        )
        .bind(
            outcomes
                .iter()
                .map(|(_, _, a)| a.duration_ms)
                .collect::<Vec<_>>(),
        )
        .fetch_all(&mut *self.conn)
        .await
        .map_err(db)?;
        let settled: std::collections::HashSet<i64> = settled.into_iter().collect();
        let mut held = Vec::with_capacity(outcomes.len());
        for (id, outcome, _) in outcomes {
            let was_held = settled.contains(id);
            if was_held && let Outcome::RetryAt(due) = outcome {
                self.changed(Change::Outbox { due: *due });
            }
            held.push(was_held);
        }
        Ok(held)
    }

    async fn release(&mut self, owner: &str, now: Timestamp) -> Result<u64> {
        let n = sqlx::query(
            "UPDATE outbox SET status = 'pending', lease_owner = NULL, due_at = $2
             WHERE status = 'sending' AND lease_owner = $1",
        )
        .bind(owner)
        .bind(codec::millis(now))
        .execute(&mut *self.conn)
        .await
        .map_err(db)?
        .rows_affected();
        if n > 0 {
            self.changed(Change::Outbox { due: now });
        }
        Ok(n)
    }

    async fn redeliver(&mut self, id: i64, due: Timestamp, deadline: Timestamp) -> Result<Message> {
        let current = select_message(self.conn, id, true)
            .await?
            .ok_or(StoreError::NotFound)?;
        if current.status == MessageStatus::Sending {
            return Err(StoreError::Conflict(
                "that delivery is being sent right now; wait for it to finish".into(),
            ));
        }
        let row = sqlx::query(AssertSqlSafe(format!(
            "UPDATE outbox SET status = 'pending', due_at = $2, deadline_at = $3,
                 lease_owner = NULL, finished_at = NULL
             WHERE id = $1 RETURNING {MESSAGE_COLUMNS}"
        )))
        .bind(id)
        .bind(codec::millis(due))
        .bind(codec::millis(deadline))
        .fetch_one(&mut *self.conn)
        .await
        .map_err(db)?;
        self.changed(Change::Outbox { due });
        message(&row)
    }

    async fn purge_finished(&mut self, before: Timestamp) -> Result<u64> {
        Ok(
            sqlx::query("DELETE FROM outbox WHERE finished_at IS NOT NULL AND finished_at < $1")
                .bind(codec::millis(before))
                .execute(&mut *self.conn)
                .await
                .map_err(db)?
                .rows_affected(),
        )
    }

    async fn create_subscription(&mut self, s: &Subscription) -> Result<()> {
        let events = serde_json::to_string(&s.events).map_err(StoreError::backend)?;
        let added = sqlx::query(
            "INSERT INTO webhook_subscriptions (id, url, events, description, secret, created_by,
                 created_at, failing_since, disabled_at, disabled_reason)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT DO NOTHING",
        )
        .bind(&s.id)
        .bind(&s.url)
        .bind(events)
        .bind(s.description.as_deref())
        .bind(&s.secret)
        .bind(&s.created_by)
        .bind(codec::millis(s.created_at))
        .bind(ms_opt(s.failing_since))
        .bind(ms_opt(s.disabled_at))
        .bind(s.disabled_reason.as_deref())
        .execute(&mut *self.conn)
        .await
        .map_err(db)?
        .rows_affected();
        if added == 0 {
            return Err(StoreError::Conflict(conflict_message(
                "webhook_subscriptions_pkey",
                &s.id,
            )));
        }
        self.changed(Change::Directory(Topic::Subscriptions));
        Ok(())
    }

    async fn delete_subscription(&mut self, id: &str) -> Result<()> {
        let done = sqlx::query("DELETE FROM webhook_subscriptions WHERE id = $1")
            .bind(id)
            .execute(&mut *self.conn)
            .await
            .map_err(db)?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        self.changed(Change::Directory(Topic::Subscriptions));
        Ok(())
    }

    async fn lock_subscription(&mut self, id: &str) -> Result<Option<Subscription>> {
        sqlx::query(AssertSqlSafe(format!(
            "SELECT {SUBSCRIPTION_COLUMNS} FROM webhook_subscriptions WHERE id = $1 FOR UPDATE"
        )))
        .bind(id)
        .fetch_optional(&mut *self.conn)
        .await
        .map_err(db)?
        .as_ref()
        .map(subscription)
        .transpose()
    }

    async fn save_subscription_health(&mut self, s: &Subscription) -> Result<()> {
        let done = sqlx::query(
            "UPDATE webhook_subscriptions SET failing_since = $2, disabled_at = $3,
                 disabled_reason = $4
             WHERE id = $1",
        )
        .bind(&s.id)
        .bind(ms_opt(s.failing_since))
        .bind(ms_opt(s.disabled_at))
        .bind(s.disabled_reason.as_deref())
        .execute(&mut *self.conn)
        .await
        .map_err(db)?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        self.changed(Change::Directory(Topic::Subscriptions));
        Ok(())
    }
}

#[async_trait]
impl OutboxStore for PostgresStore {
    async fn get_message(&self, id: i64) -> Result<Option<Message>> {
        let mut conn = self.pool.acquire().await.map_err(db)?;
        select_message(&mut conn, id, false).await
    }

    async fn list_messages(
        &self,
        kind: &str,
        subject: &str,
        before: Option<i64>,
        limit: u32,
    ) -> Result<Page<Message>> {
        let found = sqlx::query(AssertSqlSafe(format!(
            "SELECT {MESSAGE_COLUMNS} FROM outbox WHERE kind = $1 AND subject = $2
               AND ($3::BIGINT IS NULL OR id < $3)
             ORDER BY id DESC LIMIT $4"
        )))
        .bind(kind)
        .bind(subject)
        .bind(before)
        .bind(i64::from(limit) + 1)
        .fetch_all(&self.pool)
        .await
        .map_err(db)?;
        let mut items = found.iter().map(message).collect::<Result<Vec<_>>>()?;
        let next = rows::trim_page(&mut items, limit, |m| m.id);
        Ok(Page { items, next })
    }

    async fn messages_about(&self, kind: &str, subjects: &[String]) -> Result<Vec<Message>> {
        if subjects.is_empty() {
            return Ok(vec![]);
        }
        sqlx::query(AssertSqlSafe(format!(
            "SELECT {MESSAGE_COLUMNS} FROM outbox WHERE kind = $1 AND subject = ANY($2) ORDER BY id"
        )))
        .bind(kind)
        .bind(subjects)
        .fetch_all(&self.pool)
        .await
        .map_err(db)?
        .iter()
        .map(message)
        .collect()
    }

    async fn attempts_of(&self, messages: &[i64]) -> Result<Vec<(i64, Attempt)>> {
        if messages.is_empty() {
            return Ok(vec![]);
        }
        sqlx::query(
            "SELECT message, at, status_code, error, duration_ms FROM outbox_attempts
             WHERE message = ANY($1) ORDER BY message, n",
        )
        .bind(messages)
        .fetch_all(&self.pool)
        .await
        .map_err(db)?
        .iter()
        .map(attempt)
        .collect()
    }

    async fn outbox_stats(&self, now: Timestamp) -> Result<Vec<OutboxStats>> {
        sqlx::query(
            "SELECT kind, count(*) AS depth,
                 count(*) FILTER (WHERE due_at <= $1) AS overdue,
                 min(due_at) FILTER (WHERE due_at <= $1) AS oldest_due
             FROM outbox WHERE status IN ('pending', 'sending')
             GROUP BY kind ORDER BY kind",
        )
        .bind(codec::millis(now))
        .fetch_all(&self.pool)
        .await
        .map_err(db)?
        .iter()
        .map(|r| {
            Ok(OutboxStats {
                kind: get(r, "kind")?,
                depth: get(r, "depth")?,
                overdue: get(r, "overdue")?,
                oldest_due: ts_opt(get(r, "oldest_due")?)?,
            })
        })
        .collect()
    }

    async fn tidy_outbox(&self) -> Result<()> {
        // VACUUM takes a lock that lets claims and writes go on; ANALYZE keeps the claim's
        // plan on the index as the table grows. Two instances doing it at once queue.
        sqlx::query("VACUUM (ANALYZE) outbox")
            .execute(&self.pool)
            .await
            .map_err(db)?;
        Ok(())
    }

    async fn next_due_of(&self, priorities: &[Priority]) -> Result<Option<Timestamp>> {
        let ranks: Vec<i16> = priorities.iter().map(|p| p.rank()).collect();
        let due: Option<i64> = sqlx::query_scalar(
            // One index seek per priority (the claim index leads with it).
            "SELECT MIN(m) FROM unnest($1::int2[]) AS p(rank), LATERAL (\
               SELECT MIN(due_at) AS m FROM outbox \
               WHERE priority = p.rank AND status IN ('pending', 'sending')) AS d",
        )
        .bind(ranks)
        .fetch_one(&self.pool)
        .await
        .map_err(db)?;
        ts_opt(due)
    }

    async fn list_subscriptions(&self) -> Result<Vec<Subscription>> {
        sqlx::query(AssertSqlSafe(format!(
            "SELECT {SUBSCRIPTION_COLUMNS} FROM webhook_subscriptions ORDER BY created_at, id"
        )))
        .fetch_all(&self.pool)
        .await
        .map_err(db)?
        .iter()
        .map(subscription)
        .collect()
    }
}
