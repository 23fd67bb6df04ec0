//! The outbox, delivery attempts and webhook subscriptions on SQLite. Claims go through the one
//! writer like every write, so two claims never take the same message.

use async_trait::async_trait;
use firebreak_store::feed::Topic;
use firebreak_store::{
    Attempt, Change, Lease, Message, MessageStatus, NewMessage, OutboxStats, OutboxStore,
    OutboxWrites, Page, Priority, Result, StoreError, Subscription,
};
use jiff::Timestamp;
use rusqlite::{Connection, Row, params};

use crate::SqliteStore;
use crate::rows::{self, db, get, ms, opt_ms, opt_ts, ts};
use crate::tx::SqliteTx;

const MESSAGE_COLUMNS: &str = "id, kind, subject, idempotency_key, payload, status, due_at, \
     deadline_at, attempts, lease_owner, last_error, created_at, finished_at";
const SUBSCRIPTION_COLUMNS: &str = "id, url, events, description, secret, created_by, \
     created_at, failing_since, disabled_at, disabled_reason";

fn message(row: &Row<'_>) -> Result<Message> {
    let status: String = get(row, "status")?;
    Ok(Message {
        id: get(row, "id")?,
        kind: get(row, "kind")?,
        subject: get(row, "subject")?,
        idempotency_key: get(row, "idempotency_key")?,
        payload: get(row, "payload")?,
        status: status
            .parse::<MessageStatus>()
            .map_err(StoreError::backend)?,
        due_at: ts(row, "due_at")?,
        deadline_at: ts(row, "deadline_at")?,
        attempts: get(row, "attempts")?,
        lease_owner: get(row, "lease_owner")?,
        last_error: get(row, "last_error")?,
        created_at: ts(row, "created_at")?,
        finished_at: opt_ts(row, "finished_at")?,
    })
}

fn subscription(row: &Row<'_>) -> Result<Subscription> {
    let events: String = get(row, "events")?;
    Ok(Subscription {
        id: get(row, "id")?,
        url: get(row, "url")?,
        events: serde_json::from_str(&events).map_err(StoreError::backend)?,
        description: get(row, "description")?,
        secret: get(row, "secret")?,
        created_by: get(row, "created_by")?,
        created_at: ts(row, "created_at")?,
        failing_since: opt_ts(row, "failing_since")?,
        disabled_at: opt_ts(row, "disabled_at")?,
        disabled_reason: get(row, "disabled_reason")?,
    })
}

fn attempt(row: &Row<'_>) -> Result<(i64, Attempt)> {
    Ok((
        get(row, "message")?,
        Attempt {
            at: ts(row, "at")?,
            status_code: get::<Option<i64>>(row, "status_code")?.map(|c| c as u16),
            error: get(row, "error")?,
            duration_ms: get(row, "duration_ms")?,
        },
    ))
}

fn select_message(conn: &Connection, id: i64) -> Result<Option<Message>> {
    let sql = format!("SELECT {MESSAGE_COLUMNS} FROM outbox WHERE id = ?1");
    rows::one(conn, &sql, [id], message)
}

impl SqliteTx<'_> {
    fn record_attempt(&self, id: i64, attempt: &Attempt) -> Result<()> {
        self.exec(
            "INSERT INTO outbox_attempts (message, n, at, status_code, error, duration_ms) \
             VALUES (?1, (SELECT COALESCE(MAX(n), 0) + 1 FROM outbox_attempts WHERE message = ?1), ?2, ?3, ?4, ?5)",
            params![
                id,
                ms(attempt.at),
                attempt.status_code.map(i64::from),
                attempt.error,
                attempt.duration_ms
            ],
        )?;
        Ok(())
    }

    /// Moves a message its owner holds to `status`; false when the owner no longer holds it.
    fn settle(
        &mut self,
        id: i64,
        owner: &str,
        status: MessageStatus,
        due: Option<Timestamp>,
        attempt: &Attempt,
    ) -> Result<bool> {
        let finished = match status {
            MessageStatus::Pending | MessageStatus::Sending => None,
            _ => Some(ms(attempt.ended())),
        };
        let done = self.exec(
            "UPDATE outbox SET status = ?1, due_at = COALESCE(?2, due_at), lease_owner = NULL, \
             last_error = ?3, finished_at = ?4 \
             WHERE id = ?5 AND status = 'sending' AND lease_owner = ?6",
            params![
                status.as_str(),
                opt_ms(due),
                attempt.error,
                finished,
                id,
                owner
            ],
        )?;
        if done == 0 {
            return Ok(false);
        }
        self.record_attempt(id, attempt)?;
        if let Some(due) = due {
            self.changed(Change::Outbox { due });
        }
        Ok(true)
    }
}

#[async_trait]
impl OutboxWrites for SqliteTx<'_> {
    async fn enqueue(&mut self, messages: Vec<NewMessage>) -> Result<u64> {
        let mut added = 0;
        for m in &messages {
            let n = self.exec(
                "INSERT INTO outbox (kind, subject, idempotency_key, payload, status, due_at, deadline_at, \
                 attempts, created_at, priority) VALUES (?1, ?2, ?3, ?4, 'pending', ?5, ?6, 0, ?7, ?8) \
                 ON CONFLICT (idempotency_key) DO NOTHING",
                params![
                    m.kind,
                    m.subject,
                    m.idempotency_key,
                    m.payload,
                    ms(m.due_at),
                    ms(m.deadline_at),
                    ms(m.created_at),
                    m.priority.rank()
                ],
            )?;
            if n > 0 {
                added += 1;
                self.changed(Change::Outbox { due: m.due_at });
            }
        }
        Ok(added)
    }

    async fn claim_due(
        &mut self,
        now: Timestamp,
        lease: &Lease,
        limit: u32,
        priorities: &[Priority],
    ) -> Result<Vec<Message>> {
        // Pages first, then soonest due: take the order before the claim moves `due_at` to
        // the lease end. One range of the claim index per priority: a single scan ordered by
        // priority would walk past every page-priority timer not yet due (an escalation's
        // next step, a reminder) before reaching due bulk messages.
        let mut order = Vec::new();
        for priority in priorities {
            let left = limit.saturating_sub(order.len() as u32);
            if left == 0 {
                break;
            }
            order.extend(rows::all(
                self.conn(),
                "SELECT id FROM outbox WHERE priority = ?3 AND status IN ('pending', 'sending') \
                 AND due_at <= ?1 ORDER BY due_at, id LIMIT ?2",
                params![ms(now), left, priority.rank()],
                |r| get::<i64>(r, "id"),
            )?);
        }
        if order.is_empty() {
            return Ok(vec![]);
        }
        let ids = serde_json::to_string(&order).map_err(StoreError::backend)?;
        let sql = format!(
            "UPDATE outbox SET status = 'sending', lease_owner = ?1, due_at = ?2, attempts = attempts + 1 \
             WHERE id IN (SELECT value FROM json_each(?3)) RETURNING {MESSAGE_COLUMNS}"
        );
        let mut claimed = rows::all(
            self.conn(),
            &sql,
            params![lease.owner, ms(lease.until), ids],
            message,
        )?;
        let rank: std::collections::HashMap<i64, usize> =
            order.iter().enumerate().map(|(i, id)| (*id, i)).collect();
        claimed.sort_by_key(|m| rank.get(&m.id).copied());
        Ok(claimed)
    }

    async fn complete(&mut self, id: i64, owner: &str, attempt: &Attempt) -> Result<bool> {
        self.settle(id, owner, MessageStatus::Delivered, None, attempt)
    }

    async fn retry_at(
        &mut self,
        id: i64,
        owner: &str,
        at: Timestamp,
        attempt: &Attempt,
    ) -> Result<bool> {
        self.settle(id, owner, MessageStatus::Pending, Some(at), attempt)
    }

    async fn fail(&mut self, id: i64, owner: &str, dead: bool, attempt: &Attempt) -> Result<bool> {
        let status = if dead {
            MessageStatus::Dead
        } else {
            MessageStatus::Failed
        };
        self.settle(id, owner, status, None, attempt)
    }

    async fn release(&mut self, owner: &str, now: Timestamp) -> Result<u64> {
        let n = self.exec(
            "UPDATE outbox SET status = 'pending', lease_owner = NULL, due_at = ?1 \
             WHERE status = 'sending' AND lease_owner = ?2",
            params![ms(now), owner],
        )?;
        if n > 0 {
            self.changed(Change::Outbox { due: now });
        }
        Ok(n as u64)
    }

    async fn redeliver(&mut self, id: i64, due: Timestamp, deadline: Timestamp) -> Result<Message> {
        let current = select_message(self.conn(), id)?.ok_or(StoreError::NotFound)?;
        if current.status == MessageStatus::Sending {
            return Err(StoreError::Conflict(
                "that delivery is being sent right now; wait for it to finish".into(),
            ));
        }
        self.exec(
            "UPDATE outbox SET status = 'pending', due_at = ?1, deadline_at = ?2, lease_owner = NULL, \
             finished_at = NULL WHERE id = ?3",
            params![ms(due), ms(deadline), id],
        )?;
        self.changed(Change::Outbox { due });
        select_message(self.conn(), id)?.ok_or(StoreError::NotFound)
    }

    async fn purge_finished(&mut self, before: Timestamp) -> Result<u64> {
        self.exec(
            "DELETE FROM outbox WHERE finished_at IS NOT NULL AND finished_at < ?1",
            [ms(before)],
        )
        .map(|n| n as u64)
    }

    async fn create_subscription(&mut self, s: &Subscription) -> Result<()> {
        let events = serde_json::to_string(&s.events).map_err(StoreError::backend)?;
        self.exec_unique(
            "INSERT INTO webhook_subscriptions (id, url, events, description, secret, created_by, \
             created_at, failing_since, disabled_at, disabled_reason) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
            params![
                s.id,
                s.url,
                events,
                s.description,
                s.secret,
                s.created_by,
                ms(s.created_at),
                opt_ms(s.failing_since),
                opt_ms(s.disabled_at),
                s.disabled_reason
            ],
            || format!("a webhook subscription with the id {} exists", s.id),
        )?;
        self.changed(Change::Directory(Topic::Subscriptions));
        Ok(())
    }

    async fn delete_subscription(&mut self, id: &str) -> Result<()> {
        if self.exec("DELETE FROM webhook_subscriptions WHERE id = ?1", [id])? == 0 {
            return Err(StoreError::NotFound);
        }
        self.changed(Change::Directory(Topic::Subscriptions));
        Ok(())
    }

    async fn lock_subscription(&mut self, id: &str) -> Result<Option<Subscription>> {
        let sql = format!("SELECT {SUBSCRIPTION_COLUMNS} FROM webhook_subscriptions WHERE id = ?1");
        rows::one(self.conn(), &sql, [id], subscription)
    }

    async fn save_subscription_health(&mut self, s: &Subscription) -> Result<()> {
        let done = self.exec(
            "UPDATE webhook_subscriptions SET failing_since = ?1, disabled_at = ?2, disabled_reason = ?3 \
             WHERE id = ?4",
            params![
                opt_ms(s.failing_since),
                opt_ms(s.disabled_at),
                s.disabled_reason,
                s.id
            ],
        )?;
        if done == 0 {
            return Err(StoreError::NotFound);
        }
        self.changed(Change::Directory(Topic::Subscriptions));
        Ok(())
    }
}

#[async_trait]
impl OutboxStore for SqliteStore {
    async fn get_message(&self, id: i64) -> Result<Option<Message>> {
        self.read(move |conn| select_message(conn, id)).await
    }

    async fn list_messages(
        &self,
        kind: &str,
        subject: &str,
        before: Option<i64>,
        limit: u32,
    ) -> Result<Page<Message>> {
        let (kind, subject) = (kind.to_string(), subject.to_string());
        self.read(move |conn| {
            let sql = format!(
                "SELECT {MESSAGE_COLUMNS} FROM outbox WHERE kind = ?1 AND subject = ?2 \
                 AND (?3 IS NULL OR id < ?3) ORDER BY id DESC LIMIT ?4"
            );
            let items = rows::all(
                conn,
                &sql,
                params![kind, subject, before, i64::from(limit) + 1],
                message,
            )?;
            Ok(rows::page(items, limit, |m| m.id))
        })
        .await
    }

    async fn messages_about(&self, kind: &str, subjects: &[String]) -> Result<Vec<Message>> {
        if subjects.is_empty() {
            return Ok(vec![]);
        }
        let kind = kind.to_string();
        let subjects = serde_json::to_string(subjects).map_err(StoreError::backend)?;
        self.read(move |conn| {
            // One seek on `outbox_subject` per subject.
            let sql = format!(
                "SELECT {MESSAGE_COLUMNS} FROM outbox WHERE kind = ?1 \
                 AND subject IN (SELECT value FROM json_each(?2)) ORDER BY id"
            );
            rows::all(conn, &sql, params![kind, subjects], message)
        })
        .await
    }

    async fn attempts_of(&self, messages: &[i64]) -> Result<Vec<(i64, Attempt)>> {
        if messages.is_empty() {
            return Ok(vec![]);
        }
        let ids = serde_json::to_string(messages).map_err(StoreError::backend)?;
        self.read(move |conn| {
            rows::all(
                conn,
                "SELECT message, at, status_code, error, duration_ms FROM outbox_attempts \
                 WHERE message IN (SELECT value FROM json_each(?1)) ORDER BY message, n",
                [ids],
                attempt,
            )
        })
        .await
    }

    async fn tidy_outbox(&self) -> Result<()> {
        // SQLite updates rows in place and its indexes hold no dead entries: nothing to do.
        Ok(())
    }

    async fn outbox_stats(&self, now: Timestamp) -> Result<Vec<OutboxStats>> {
        self.read(move |conn| {
            rows::all(
                conn,
                "SELECT kind, COUNT(*) AS depth, \
                 SUM(CASE WHEN due_at <= ?1 THEN 1 ELSE 0 END) AS overdue, \
                 MIN(CASE WHEN due_at <= ?1 THEN due_at END) AS oldest_due \
                 FROM outbox WHERE status IN ('pending', 'sending') GROUP BY kind ORDER BY kind",
                [ms(now)],
                |r| {
                    Ok(OutboxStats {
                        kind: get(r, "kind")?,
                        depth: get(r, "depth")?,
                        overdue: get(r, "overdue")?,
                        oldest_due: opt_ts(r, "oldest_due")?,
                    })
                },
            )
        })
        .await
    }

    async fn next_due_of(&self, priorities: &[Priority]) -> Result<Option<Timestamp>> {
        let ranks: Vec<i16> = priorities.iter().map(|p| p.rank()).collect();
        self.read(move |conn| {
            let mut earliest: Option<i64> = None;
            // One index seek per priority (the claim index leads with it).
            for rank in ranks {
                let due: Option<Option<i64>> = rows::one(
                    conn,
                    "SELECT MIN(due_at) FROM outbox WHERE priority = ?1 \
                     AND status IN ('pending', 'sending')",
                    [rank],
                    |r| r.get(0).map_err(db),
                )?;
                if let Some(due) = due.flatten() {
                    earliest = Some(earliest.map_or(due, |e| e.min(due)));
                }
            }
            firebreak_store::codec::opt_timestamp(earliest)
        })
        .await
    }

    async fn list_subscriptions(&self) -> Result<Vec<Subscription>> {
        self.read(|conn| {
            let sql = format!(
                "SELECT {SUBSCRIPTION_COLUMNS} FROM webhook_subscriptions ORDER BY created_at, id"
            );
            rows::all(conn, &sql, [], subscription)
        })
        .await
    }
}
