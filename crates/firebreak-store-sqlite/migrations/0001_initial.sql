-- Firebreak SQLite schema, version 1. The Postgres backend mirrors these table and column
-- names. Timestamps are INTEGER epoch milliseconds; JSON columns hold TEXT.
-- Timeline entries and the audit log are append-only, enforced by triggers.

CREATE TABLE incidents (
    number          INTEGER PRIMARY KEY,          -- INC-n, assigned max(number)+1 in the write tx
    title           TEXT    NOT NULL,
    severity        TEXT    NOT NULL,
    status          TEXT    NOT NULL,             -- Status::as_str
    summary         TEXT    NOT NULL,
    customer_impact TEXT    NOT NULL,
    drill           INTEGER NOT NULL,             -- 0/1
    detected_at     INTEGER NOT NULL,
    declared_at     INTEGER NOT NULL,
    acknowledged_at INTEGER,
    mitigated_at    INTEGER,
    resolved_at     INTEGER,
    updated_at      INTEGER NOT NULL,
    declared_by     TEXT    NOT NULL,
    roles           TEXT    NOT NULL,             -- JSON object: role key -> user handle
    checklist       TEXT    NOT NULL,             -- JSON array of {id,text,done,done_by,done_at(ms)}
    version         INTEGER NOT NULL,
    timeline_seq    INTEGER NOT NULL              -- highest seq used in timeline_entries
);
CREATE INDEX incidents_status ON incidents(status, number);
CREATE INDEX incidents_severity ON incidents(severity, number);

-- One row per entry of Incident::services, in order (position 0..); used for the service filter.
CREATE TABLE incident_services (
    number   INTEGER NOT NULL REFERENCES incidents(number),
    position INTEGER NOT NULL,
    service  TEXT    NOT NULL,
    PRIMARY KEY (number, position)
);
CREATE INDEX incident_services_service ON incident_services(service, number);

CREATE TABLE timeline_entries (
    number INTEGER NOT NULL REFERENCES incidents(number),
    seq    INTEGER NOT NULL,                      -- 1.. per incident
    at     INTEGER NOT NULL,
    actor  TEXT    NOT NULL,
    kind   TEXT    NOT NULL,                      -- TimelineEvent serde tag
    data   TEXT    NOT NULL,                      -- JSON: TimelineEvent serde content
    PRIMARY KEY (number, seq)
);

CREATE TRIGGER timeline_entries_no_update BEFORE UPDATE ON timeline_entries
BEGIN
    SELECT RAISE(ABORT, 'timeline entries are append-only');
END;
CREATE TRIGGER timeline_entries_no_delete BEFORE DELETE ON timeline_entries
BEGIN
    SELECT RAISE(ABORT, 'timeline entries are append-only');
END;

CREATE TABLE audit_log (
    id     INTEGER PRIMARY KEY AUTOINCREMENT,
    actor  TEXT    NOT NULL,
    action TEXT    NOT NULL,
    target TEXT    NOT NULL,
    at     INTEGER NOT NULL,
    source TEXT
);

CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'audit log entries are append-only');
END;
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'audit log entries are append-only');
END;

CREATE TABLE services (
    name        TEXT    PRIMARY KEY,
    description TEXT    NOT NULL,
    team        TEXT,
    runbook     TEXT,
    from_config INTEGER NOT NULL,
    created_at  INTEGER NOT NULL
);

CREATE TABLE users (
    handle      TEXT    PRIMARY KEY,
    name        TEXT    NOT NULL,
    email       TEXT,
    time_zone   TEXT,
    role        TEXT    NOT NULL,                 -- AccessRole::as_str
    from_config INTEGER NOT NULL,
    created_at  INTEGER NOT NULL
);

CREATE TABLE tokens (
    id         TEXT    PRIMARY KEY,
    name       TEXT    NOT NULL,
    role       TEXT    NOT NULL,
    "user"     TEXT,
    hash       TEXT    NOT NULL UNIQUE,           -- hex SHA-256 of the secret
    created_at INTEGER NOT NULL,
    revoked_at INTEGER
);
