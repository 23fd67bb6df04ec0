-- Firebreak's PostgreSQL schema. Timestamps are BIGINT milliseconds since the Unix epoch.

CREATE TABLE counters (
    name  TEXT PRIMARY KEY,
    value BIGINT NOT NULL
);
INSERT INTO counters (name, value) VALUES ('incident', 0);

CREATE TABLE incidents (
    number           BIGINT PRIMARY KEY,
    title            TEXT NOT NULL,
    severity         TEXT NOT NULL,
    status           TEXT NOT NULL,
    summary          TEXT NOT NULL,
    customer_impact  TEXT NOT NULL,
    drill            BOOLEAN NOT NULL,
    detected_at      BIGINT NOT NULL,
    declared_at      BIGINT NOT NULL,
    acknowledged_at  BIGINT,
    mitigated_at     BIGINT,
    resolved_at      BIGINT,
    updated_at       BIGINT NOT NULL,
    declared_by      TEXT NOT NULL,
    roles            JSONB NOT NULL,
    checklist        JSONB NOT NULL,
    version          BIGINT NOT NULL,
    timeline_seq     BIGINT NOT NULL
);
CREATE INDEX incidents_status ON incidents (status);

CREATE TABLE incident_services (
    number   BIGINT NOT NULL REFERENCES incidents (number),
    position INTEGER NOT NULL,
    service  TEXT NOT NULL,
    PRIMARY KEY (number, position)
);
CREATE INDEX incident_services_service ON incident_services (service, number);

CREATE TABLE timeline_entries (
    number BIGINT NOT NULL REFERENCES incidents (number),
    seq    BIGINT NOT NULL,
    at     BIGINT NOT NULL,
    actor  TEXT NOT NULL,
    kind   TEXT NOT NULL,
    data   JSONB NOT NULL,
    PRIMARY KEY (number, seq)
);

CREATE TABLE audit_log (
    id     BIGSERIAL PRIMARY KEY,
    actor  TEXT NOT NULL,
    action TEXT NOT NULL,
    target TEXT NOT NULL,
    at     BIGINT NOT NULL,
    source TEXT
);

CREATE TABLE services (
    name        TEXT PRIMARY KEY,
    description TEXT NOT NULL,
    team        TEXT,
    runbook     TEXT,
    from_config BOOLEAN NOT NULL DEFAULT FALSE,
    created_at  BIGINT NOT NULL
);

CREATE TABLE users (
    handle      TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    email       TEXT,
    time_zone   TEXT,
    role        TEXT NOT NULL,
    from_config BOOLEAN NOT NULL DEFAULT FALSE,
    created_at  BIGINT NOT NULL
);

CREATE TABLE tokens (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    role        TEXT NOT NULL,
    user_handle TEXT,
    hash        TEXT NOT NULL UNIQUE,
    created_at  BIGINT NOT NULL,
    revoked_at  BIGINT
);

-- The timeline and the audit log are append-only, enforced by the database itself.
CREATE FUNCTION firebreak_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% entries are append-only', TG_ARGV[0]
        USING ERRCODE = 'restrict_violation';
END;
$$;

CREATE TRIGGER timeline_entries_append_only
    BEFORE UPDATE OR DELETE ON timeline_entries
    FOR EACH ROW EXECUTE FUNCTION firebreak_append_only('timeline');
CREATE TRIGGER timeline_entries_no_truncate
    BEFORE TRUNCATE ON timeline_entries
    FOR EACH STATEMENT EXECUTE FUNCTION firebreak_append_only('timeline');
CREATE TRIGGER audit_log_append_only
    BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION firebreak_append_only('audit log');
CREATE TRIGGER audit_log_no_truncate
    BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION firebreak_append_only('audit log');
