-- Firebreak PostgreSQL schema, version 8: the status page's subscribers. The token in their
-- confirm and unsubscribe links is kept only as its SHA-256.

CREATE TABLE status_subscribers (
    id             TEXT   PRIMARY KEY,
    kind           TEXT   NOT NULL,
    target         TEXT   NOT NULL,
    secret         TEXT,
    components     TEXT[],
    token_hash     TEXT   NOT NULL UNIQUE,
    created_at     BIGINT NOT NULL,
    confirmed_at   BIGINT,
    last_mailed_at BIGINT,
    UNIQUE (kind, target)
);
