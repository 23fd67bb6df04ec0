-- Runs of runbook actions. At most once: a run is never retried by itself, and one that was
-- running when its process stopped is marked interrupted (found by its stale heartbeat).
CREATE TABLE action_runs (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    incident      INTEGER NOT NULL REFERENCES incidents(number),
    runbook       TEXT    NOT NULL,
    action        TEXT    NOT NULL,
    requested_by  TEXT    NOT NULL,
    params        TEXT    NOT NULL,   -- JSON object
    shown         TEXT    NOT NULL,   -- JSON: the argv or request, secrets masked
    status        TEXT    NOT NULL,
    requested_at  INTEGER NOT NULL,
    approve_by    INTEGER,
    approved_by   TEXT,
    started_at    INTEGER,
    finished_at   INTEGER,
    heartbeat_at  INTEGER,
    exit_code     INTEGER,
    output        TEXT    NOT NULL,
    error         TEXT,
    break_glass   INTEGER
);
CREATE INDEX action_runs_incident ON action_runs(incident, id);
CREATE INDEX action_runs_status ON action_runs(status);
