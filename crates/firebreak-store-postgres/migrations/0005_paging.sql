-- Firebreak PostgreSQL schema, version 5: paging. Mirrors the SQLite schema's version 5:
-- contact methods, escalation policies (kept as JSON text in the API's shape, as the shared
-- codec writes it), the policy and manager of each service, escalations, the secrets Firebreak
-- keeps for itself, and which outbox messages are claimed first.

CREATE TABLE contact_methods (
    id          TEXT    PRIMARY KEY,
    user_handle TEXT    NOT NULL,
    kind        TEXT    NOT NULL,
    name        TEXT    NOT NULL,
    target      TEXT    NOT NULL,
    -- A webhook's signing secret (whsec_...) or an ntfy bearer token.
    secret      TEXT,
    created_at  BIGINT NOT NULL,
    UNIQUE (user_handle, name)
);

CREATE TABLE escalation_policies (
    name        TEXT PRIMARY KEY,
    definition  TEXT    NOT NULL,
    from_config BOOLEAN NOT NULL DEFAULT FALSE,
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL
);

ALTER TABLE services ADD COLUMN escalation_policy TEXT, ADD COLUMN manager TEXT;

-- `snapshot` is the policy as it was when the escalation started. `paged_*` is the last
-- position paged, `next_*` where the timer fires next.
CREATE TABLE escalations (
    id              TEXT    PRIMARY KEY,
    alert_id        BIGINT,
    incident_number BIGINT,
    policy          TEXT    NOT NULL,
    snapshot        TEXT    NOT NULL,
    status          TEXT    NOT NULL,
    paged_round     BIGINT,
    paged_step      BIGINT,
    next_round      BIGINT,
    next_step       BIGINT,
    next_at         BIGINT,
    started_at      BIGINT NOT NULL,
    acknowledged_at BIGINT,
    acknowledged_by TEXT,
    ended_at        BIGINT,
    drill           BOOLEAN NOT NULL DEFAULT FALSE
);
CREATE INDEX escalations_alert ON escalations (alert_id) WHERE alert_id IS NOT NULL;
CREATE INDEX escalations_incident ON escalations (incident_number) WHERE incident_number IS NOT NULL;

-- Secrets Firebreak makes for itself, such as the key that signs acknowledge links.
CREATE TABLE secrets (
    name       TEXT    PRIMARY KEY,
    value      TEXT    NOT NULL,
    created_at BIGINT NOT NULL
);

-- Pages (0) are claimed before bulk work (1) that is due at the same time.
ALTER TABLE outbox ADD COLUMN priority SMALLINT NOT NULL DEFAULT 1;
DROP INDEX outbox_due;
CREATE INDEX outbox_due ON outbox(priority, due_at, id) WHERE status IN ('pending', 'sending');
