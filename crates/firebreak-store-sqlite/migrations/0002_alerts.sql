-- Firebreak SQLite schema, version 2: alert ingestion. Integrations and their keys, alerts,
-- silences, maintenance windows, API routing rules and deployments.

CREATE TABLE integrations (
    id          TEXT    PRIMARY KEY,              -- int_<hex>
    service     TEXT    NOT NULL,
    name        TEXT    NOT NULL,
    from_config INTEGER NOT NULL,
    created_at  INTEGER NOT NULL,
    UNIQUE (service, name)
);

CREATE TABLE integration_keys (
    id          TEXT    PRIMARY KEY,              -- key_<hex>
    integration TEXT    NOT NULL REFERENCES integrations(id),
    hash        TEXT    NOT NULL UNIQUE,          -- hex SHA-256 of the key
    hint        TEXT    NOT NULL,                 -- last four characters
    created_at  INTEGER NOT NULL,
    revoked_at  INTEGER
);
CREATE INDEX integration_keys_integration ON integration_keys(integration);

CREATE TABLE alerts (
    id                INTEGER PRIMARY KEY AUTOINCREMENT,
    integration       TEXT    NOT NULL,
    service           TEXT    NOT NULL,
    dedup_key         TEXT    NOT NULL,
    format            TEXT    NOT NULL,
    status            TEXT    NOT NULL,           -- open, acknowledged, resolved, suppressed
    severity          TEXT    NOT NULL,
    urgency           TEXT    NOT NULL,
    summary           TEXT    NOT NULL,
    source            TEXT    NOT NULL,
    labels            TEXT    NOT NULL,           -- JSON object of strings
    details           TEXT    NOT NULL,           -- JSON
    links             TEXT    NOT NULL,           -- JSON array of {href,text}
    images            TEXT    NOT NULL,           -- JSON array of {src,href,alt}
    started_at        INTEGER,
    ended_at          INTEGER,
    first_seen        INTEGER NOT NULL,
    last_seen         INTEGER NOT NULL,
    count             INTEGER NOT NULL,
    acknowledged_at   INTEGER,
    acknowledged_by   TEXT,
    resolved_at       INTEGER,
    resolved_by       TEXT,
    suppressed_reason TEXT,
    incident          INTEGER REFERENCES incidents(number),
    raw               TEXT    NOT NULL            -- the sender's JSON, secrets removed
);
-- At most one unresolved alert per (integration, dedup key): the dedup guarantee.
CREATE UNIQUE INDEX alerts_open_dedup ON alerts(integration, dedup_key) WHERE status <> 'resolved';
CREATE INDEX alerts_status ON alerts(status, id);
CREATE INDEX alerts_service ON alerts(service, id);
CREATE INDEX alerts_incident ON alerts(incident, id) WHERE incident IS NOT NULL;

CREATE TABLE silences (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    matchers   TEXT    NOT NULL,                  -- JSON array of matcher strings
    starts_at  INTEGER NOT NULL,
    ends_at    INTEGER NOT NULL,
    comment    TEXT    NOT NULL,
    created_by TEXT    NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE INDEX silences_ends ON silences(ends_at);

CREATE TABLE maintenance_windows (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    service    TEXT    NOT NULL,
    starts_at  INTEGER NOT NULL,
    ends_at    INTEGER NOT NULL,
    comment    TEXT    NOT NULL,
    created_by TEXT    NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE INDEX maintenance_windows_ends ON maintenance_windows(ends_at);

CREATE TABLE routes (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    matchers   TEXT    NOT NULL,                  -- JSON array of matcher strings
    service    TEXT,
    severity   TEXT,
    urgency    TEXT,
    drop_event INTEGER NOT NULL,
    created_by TEXT    NOT NULL,
    created_at INTEGER NOT NULL
);

CREATE TABLE deployments (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    service          TEXT    NOT NULL,
    version          TEXT    NOT NULL,
    previous_version TEXT,
    commit_sha       TEXT,
    author           TEXT,
    link             TEXT,
    at               INTEGER NOT NULL,
    source           TEXT    NOT NULL,
    summary          TEXT,
    created_at       INTEGER NOT NULL
);
CREATE INDEX deployments_service_at ON deployments(service, at);
