-- Heartbeats: a secret URL that cron jobs, backups and Alertmanager's Watchdog ping. Only the
-- key's SHA-256 is kept. Mirrors the PostgreSQL schema.

CREATE TABLE heartbeats (
    id          INTEGER PRIMARY KEY,
    name        TEXT    NOT NULL UNIQUE,
    service     TEXT    NOT NULL,
    period_ms   INTEGER NOT NULL,
    grace_ms    INTEGER NOT NULL,
    key_hash    TEXT    NOT NULL UNIQUE,      -- hex SHA-256 of the key
    key_hint    TEXT    NOT NULL,             -- the key's last four characters
    state       TEXT    NOT NULL,             -- new | up | down
    last_ping   INTEGER,
    due_at      INTEGER,                      -- while up: last ping + period + grace
    down_since  INTEGER,
    reason      TEXT,
    created_by  TEXT    NOT NULL,
    created_at  INTEGER NOT NULL
);

-- The watcher reads the soonest due of those that are up.
CREATE INDEX heartbeats_due ON heartbeats(due_at) WHERE state = 'up';
