-- Uptime checks: HTTP(S) and TCP checks Firebreak runs itself, their recent results and a count
-- per check and UTC day for the status page's bars. Mirrors the PostgreSQL schema.

CREATE TABLE checks (
    id                    INTEGER PRIMARY KEY,
    name                  TEXT    NOT NULL UNIQUE,
    service               TEXT    NOT NULL,
    kind                  TEXT    NOT NULL,             -- http | tcp
    target                TEXT    NOT NULL,             -- a URL, or host:port
    method                TEXT    NOT NULL,             -- GET | HEAD
    interval_ms           INTEGER NOT NULL,
    timeout_ms            INTEGER NOT NULL,
    failures_before_alert INTEGER NOT NULL,
    expect_status         INTEGER,
    expect_body           TEXT,
    expect_body_regex     TEXT,
    expect_max_latency_ms INTEGER,
    tls_warn_before_ms    INTEGER,
    tls_ca_file           TEXT,
    component             TEXT,                         -- a status page component's public id
    state                 TEXT    NOT NULL,             -- new | up | down
    consecutive_failures  INTEGER NOT NULL,
    last_run              INTEGER,
    last_error            TEXT,
    down_since            INTEGER,
    tls_expires_at        INTEGER,
    tls_warning           INTEGER NOT NULL DEFAULT 0,
    next_due              INTEGER NOT NULL,
    lease_owner           TEXT,                         -- the runner holding it, while it runs
    lease_until           INTEGER,
    created_by            TEXT    NOT NULL,
    created_at            INTEGER NOT NULL
);

-- Runners claim the soonest due.
CREATE INDEX checks_due ON checks(next_due);

CREATE TABLE check_results (
    id         INTEGER PRIMARY KEY,
    check_id   INTEGER NOT NULL REFERENCES checks(id) ON DELETE CASCADE,
    at         INTEGER NOT NULL,
    ok         INTEGER NOT NULL,
    status     INTEGER,
    latency_ms INTEGER NOT NULL,
    error      TEXT
);

-- A check's results newest first, and the week-old ones for the janitor.
CREATE INDEX check_results_check_at ON check_results(check_id, at);
CREATE INDEX check_results_at ON check_results(at);

CREATE TABLE check_days (
    check_id  INTEGER NOT NULL REFERENCES checks(id) ON DELETE CASCADE,
    day       INTEGER NOT NULL,                            -- UTC days since 1970-01-01
    successes INTEGER NOT NULL,
    total     INTEGER NOT NULL,
    PRIMARY KEY (check_id, day)
);

CREATE INDEX check_days_day ON check_days(day);
