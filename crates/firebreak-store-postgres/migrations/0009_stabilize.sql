-- Stabilizing safely: the audit log's hash chain, declared change freezes, break-glass grants,
-- and deploys flagged when they were reported during a freeze. Mirrors the SQLite schema.

-- Each audit row carries the hash of the row before it and its own (firebreak_domain::audit).
-- A row written before the chain existed is hashed once, after migrating; after that no row
-- may change. Rows are chained in one order by inserting under an advisory lock at commit.
ALTER TABLE audit_log ADD COLUMN break_glass BIGINT;
ALTER TABLE audit_log ADD COLUMN prev_hash TEXT;
ALTER TABLE audit_log ADD COLUMN hash TEXT;
DROP TRIGGER audit_log_append_only ON audit_log;
CREATE TRIGGER audit_log_no_update
    BEFORE UPDATE ON audit_log
    FOR EACH ROW WHEN (OLD.hash IS NOT NULL)
    EXECUTE FUNCTION firebreak_append_only('audit log');
CREATE TRIGGER audit_log_no_delete
    BEFORE DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION firebreak_append_only('audit log');

CREATE TABLE freezes (
    id         BIGSERIAL PRIMARY KEY,
    starts_at  BIGINT NOT NULL,
    ends_at    BIGINT NOT NULL,
    services   TEXT   NOT NULL,   -- JSON array of service names; empty means every service
    reason     TEXT   NOT NULL,
    created_by TEXT   NOT NULL,
    created_at BIGINT NOT NULL,
    ended_at   BIGINT
);
CREATE INDEX freezes_ends_at ON freezes(ends_at);

CREATE TABLE break_glass_grants (
    id           BIGSERIAL PRIMARY KEY,
    incident     BIGINT NOT NULL REFERENCES incidents(number),
    user_handle  TEXT   NOT NULL,
    role         TEXT   NOT NULL,
    reason       TEXT   NOT NULL,
    requested_at BIGINT NOT NULL,
    duration_ms  BIGINT NOT NULL,
    granted_at   BIGINT,
    approved_by  TEXT,
    ended_at     BIGINT,
    end_reason   TEXT
);
CREATE INDEX break_glass_grants_incident ON break_glass_grants(incident);
CREATE INDEX break_glass_grants_open ON break_glass_grants(ended_at);

ALTER TABLE deployments ADD COLUMN freeze_reasons TEXT;   -- JSON array; NULL when not frozen
