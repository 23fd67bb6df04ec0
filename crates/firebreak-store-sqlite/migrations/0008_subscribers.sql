-- Firebreak SQLite schema, version 8: the status page's subscribers. The token in their
-- confirm and unsubscribe links is kept only as its SHA-256.

CREATE TABLE status_subscribers (
    id             TEXT    PRIMARY KEY,
    kind           TEXT    NOT NULL,             -- email | webhook
    target         TEXT    NOT NULL,             -- a lowercase address, or a URL
    secret         TEXT,                         -- a webhook subscriber's signing secret
    components     TEXT,                         -- JSON array of component names; NULL: all
    token_hash     TEXT    NOT NULL UNIQUE,
    created_at     INTEGER NOT NULL,
    confirmed_at   INTEGER,
    last_mailed_at INTEGER,
    UNIQUE (kind, target)
);
