-- Uptime checks: HTTP(S) and TCP checks Firebreak runs itself, their recent results and a count
-- per check and UTC day for the status page's bars. Mirrors the SQLite schema.

CREATE TABLE checks (
    id                    BIGSERIAL PRIMARY KEY,
    name                  TEXT    NOT NULL UNIQUE,
    service               TEXT    NOT NULL,
    kind                  TEXT    NOT NULL,             -- http | tcp
    target                TEXT    NOT NULL,             -- a URL, or host:port
    method                TEXT    NOT NULL,             -- GET | HEAD
    interval_ms           BIGINT  NOT NULL,
    timeout_ms            BIGINT  NOT NULL,
    failures_before_alert BIGINT  NOT NULL,
    expect_status         BIGINT,
    expect_body           TEXT,
    expect_body_regex     TEXT,
    expect_max_latency_ms BIGINT,
    tls_warn_before_ms    BIGINT,
    tls_ca_file           TEXT,
    component             TEXT,                         -- a status page component's public id
    state                 TEXT    NOT NULL,             -- new | up | down
    consecutive_failures  BIGINT  NOT NULL,
    last_run              BIGINT,
    last_error            TEXT,
    down_since            BIGINT,
    tls_expires_at        BIGINT,
    tls_warning           BOOLEAN NOT NULL DEFAULT FALSE,
    next_due              BIGINT  NOT NULL,
    lease_owner           TEXT,                         -- the runner holding it, while it runs
    lease_until           BIGINT,
    created_by            TEXT    NOT NULL,
    created_at            BIGINT  NOT NULL
);

-- Runners claim the soonest due.
CREATE INDEX checks_due ON checks(next_due);

CREATE TABLE check_results (
    id         BIGSERIAL PRIMARY KEY,
    check_id   BIGINT  NOT NULL REFERENCES checks(id) ON DELETE CASCADE,
    at         BIGINT  NOT NULL,
    ok         BOOLEAN NOT NULL,
    status     BIGINT,
    latency_ms BIGINT  NOT NULL,
    error      TEXT
);

-- A check's results newest first, and the week-old ones for the janitor.
CREATE INDEX check_results_check_at ON check_results(check_id, at);
CREATE INDEX check_results_at ON check_results(at);

CREATE TABLE check_days (
    check_id  BIGINT NOT NULL REFERENCES checks(id) ON DELETE CASCADE,
    day       BIGINT NOT NULL,                            -- UTC days since 1970-01-01
    successes BIGINT NOT NULL,
    total     BIGINT NOT NULL,
    PRIMARY KEY (check_id, day)
);

CREATE INDEX check_days_day ON check_days(day);
