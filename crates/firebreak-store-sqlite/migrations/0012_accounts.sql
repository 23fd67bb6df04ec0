-- Signing in: users' password hashes, browser sessions, invitation links and counts of failed
-- sign-ins. Secrets are stored only as hashes: argon2id PHC strings for passwords, hex SHA-256
-- for session ids and invitation tokens. Users are never deleted, so nothing cascades.

CREATE TABLE user_passwords (
    user_handle TEXT    PRIMARY KEY REFERENCES users(handle),
    hash        TEXT    NOT NULL,   -- argon2id PHC string
    set_at      INTEGER NOT NULL
);

CREATE TABLE sessions (
    id_hash      TEXT    PRIMARY KEY,   -- hex SHA-256 of the id in the browser's cookie
    user_handle  TEXT    NOT NULL,
    method       TEXT    NOT NULL,      -- SignInMethod::as_str
    created_at   INTEGER NOT NULL,
    last_seen_at INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL,      -- the absolute end
    revoked_at   INTEGER,
    source       TEXT                   -- the peer address that signed in
);
CREATE INDEX sessions_user ON sessions(user_handle);

CREATE TABLE invitations (
    token_hash  TEXT    PRIMARY KEY,    -- hex SHA-256 of the link's secret
    user_handle TEXT,                   -- NULL: the invitation to create the first admin
    created_by  TEXT    NOT NULL,
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL,
    used_at     INTEGER
);

-- Failed sign-ins per key (`user:alice`, `ip:203.0.113.9`), counted by one upsert.
CREATE TABLE login_failures (
    key     TEXT    PRIMARY KEY,
    count   INTEGER NOT NULL,
    last_at INTEGER NOT NULL
);
