-- Stabilizing safely: the audit log's hash chain, declared change freezes, break-glass grants,
-- and deploys flagged when they were reported during a freeze.

-- Each audit row carries the hash of the row before it and its own (firebreak_domain::audit).
-- A row written before the chain existed is hashed once, when the store opens; after that no
-- row may change.
ALTER TABLE audit_log ADD COLUMN break_glass INTEGER;
ALTER TABLE audit_log ADD COLUMN prev_hash TEXT;
ALTER TABLE audit_log ADD COLUMN hash TEXT;
DROP TRIGGER audit_log_no_update;
CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
WHEN OLD.hash IS NOT NULL
BEGIN
    SELECT RAISE(ABORT, 'audit log entries are append-only');
END;

CREATE TABLE freezes (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    starts_at  INTEGER NOT NULL,
    ends_at    INTEGER NOT NULL,
    services   TEXT    NOT NULL,   -- JSON array of service names; empty means every service
    reason     TEXT    NOT NULL,
    created_by TEXT    NOT NULL,
    created_at INTEGER NOT NULL,
    ended_at   INTEGER
);
CREATE INDEX freezes_ends_at ON freezes(ends_at);

CREATE TABLE break_glass_grants (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    incident     INTEGER NOT NULL REFERENCES incidents(number),
    user_handle  TEXT    NOT NULL,
    role         TEXT    NOT NULL,
    reason       TEXT    NOT NULL,
    requested_at INTEGER NOT NULL,
    duration_ms  INTEGER NOT NULL,
    granted_at   INTEGER,
    approved_by  TEXT,
    ended_at     INTEGER,
    end_reason   TEXT
);
CREATE INDEX break_glass_grants_incident ON break_glass_grants(incident);
CREATE INDEX break_glass_grants_open ON break_glass_grants(ended_at);

ALTER TABLE deployments ADD COLUMN freeze_reasons TEXT;   -- JSON array; NULL when not frozen
