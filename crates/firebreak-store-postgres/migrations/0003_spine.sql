-- Firebreak PostgreSQL schema, version 3: the outbox and its delivery attempts, webhook
-- subscriptions, sender requests kept for lookup, users that can be disabled and tokens that
-- expire. Mirrors the SQLite schema's version 3: timestamps are BIGINT milliseconds since the
-- Unix epoch, JSON is kept as TEXT exactly as the shared codec writes it.

ALTER TABLE users ADD COLUMN disabled_at BIGINT;
ALTER TABLE tokens ADD COLUMN expires_at BIGINT;

-- One row per message to send. `due_at` is when it can next be claimed: its due time while
-- pending, the end of its lease while sending.
CREATE TABLE outbox (
    id              BIGSERIAL PRIMARY KEY,
    kind            TEXT   NOT NULL,             -- what sends it, e.g. webhook
    subject         TEXT   NOT NULL,             -- what it belongs to, e.g. a subscription id
    idempotency_key TEXT   NOT NULL UNIQUE,
    payload         TEXT   NOT NULL,
    status          TEXT   NOT NULL,             -- pending, sending, delivered, failed, dead
    due_at          BIGINT NOT NULL,
    deadline_at     BIGINT NOT NULL,
    attempts        BIGINT NOT NULL,
    lease_owner     TEXT,
    last_error      TEXT,
    created_at      BIGINT NOT NULL,
    finished_at     BIGINT
);
CREATE INDEX outbox_due ON outbox (due_at, id) WHERE status IN ('pending', 'sending');
CREATE INDEX outbox_subject ON outbox (kind, subject, id);
CREATE INDEX outbox_finished ON outbox (finished_at) WHERE finished_at IS NOT NULL;

CREATE TABLE outbox_attempts (
    message     BIGINT  NOT NULL REFERENCES outbox (id) ON DELETE CASCADE,
    n           BIGINT  NOT NULL,                -- 1.. per message
    at          BIGINT  NOT NULL,
    status_code INTEGER,
    error       TEXT,
    duration_ms BIGINT  NOT NULL,
    PRIMARY KEY (message, n)
);

CREATE TABLE webhook_subscriptions (
    id              TEXT   PRIMARY KEY,          -- wh_<hex>
    url             TEXT   NOT NULL,
    events          TEXT   NOT NULL,             -- JSON array of event types
    description     TEXT,
    secret          TEXT   NOT NULL,             -- whsec_...; signs every delivery
    created_by      TEXT   NOT NULL,
    created_at      BIGINT NOT NULL,
    failing_since   BIGINT,
    disabled_at     BIGINT,
    disabled_reason TEXT
);

-- Sender requests (Opsgenie's requestId) kept so they can be looked up for a while.
CREATE TABLE ingest_requests (
    id          TEXT    PRIMARY KEY,
    integration TEXT    NOT NULL,
    action      TEXT    NOT NULL,
    success     BOOLEAN NOT NULL,
    status      TEXT    NOT NULL,
    alert       BIGINT,
    alias       TEXT,
    at          BIGINT  NOT NULL
);
CREATE INDEX ingest_requests_at ON ingest_requests (at);
