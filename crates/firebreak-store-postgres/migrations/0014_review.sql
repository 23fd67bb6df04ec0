-- Reviewing and improving: postmortems and their revisions, action items, rollbacks marked on
-- deploys, and the indexes the reports read through. Mirrors the SQLite schema.

CREATE TABLE postmortems (
    number       BIGINT PRIMARY KEY REFERENCES incidents(number),
    status       TEXT    NOT NULL,             -- draft | in_review | published
    version      BIGINT NOT NULL,
    sections     TEXT    NOT NULL,             -- JSON array of {key, title, markdown}
    dismissed    TEXT    NOT NULL,             -- JSON array of {key, reason, by, at_ms}
    created_at   BIGINT NOT NULL,
    updated_at   BIGINT NOT NULL,
    updated_by   TEXT    NOT NULL,
    published_at BIGINT
);

-- Every saved version of a postmortem, so no edit is lost and each can be read back.
CREATE TABLE postmortem_revisions (
    number   BIGINT NOT NULL REFERENCES postmortems(number),
    version  BIGINT NOT NULL,
    at       BIGINT NOT NULL,
    actor    TEXT    NOT NULL,
    status   TEXT    NOT NULL,
    sections TEXT    NOT NULL,
    PRIMARY KEY (number, version)
);

-- The commander is reminded once of a missing postmortem.
CREATE TABLE postmortem_reminders (
    number BIGINT PRIMARY KEY REFERENCES incidents(number),
    at     BIGINT NOT NULL
);

CREATE TABLE action_items (
    id          BIGSERIAL PRIMARY KEY,
    incident    BIGINT REFERENCES incidents(number),
    title       TEXT    NOT NULL,
    owner       TEXT    NOT NULL,
    due         TEXT    NOT NULL,              -- YYYY-MM-DD
    ticket_url  TEXT,
    status      TEXT    NOT NULL,              -- open | done | wont_do
    reason      TEXT,
    created_at  BIGINT NOT NULL,
    created_by  TEXT    NOT NULL,
    updated_at  BIGINT NOT NULL,
    closed_at   BIGINT,
    reminded_on TEXT,                          -- YYYY-MM-DD of the last overdue reminder
    version     BIGINT NOT NULL
);
CREATE INDEX action_items_owner ON action_items(owner, status, due, id);
CREATE INDEX action_items_status ON action_items(status, due, id);
CREATE INDEX action_items_incident ON action_items(incident);
CREATE INDEX action_items_created ON action_items(created_at);
CREATE INDEX action_items_closed ON action_items(closed_at) WHERE closed_at IS NOT NULL;

ALTER TABLE deployments ADD COLUMN rollback BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE deployments ADD COLUMN rolls_back BIGINT;                   -- the deploy a rollback undid
ALTER TABLE deployments ADD COLUMN incident BIGINT;                     -- the incident it was run for

-- Reports read incidents by detection time with every column they need in the index, so the
-- wide rows (roles, checklist) are never read; deploys are counted by time from an index alone.
CREATE INDEX incidents_detected ON incidents(detected_at)
    INCLUDE (number, severity, drill, acknowledged_at, mitigated_at, resolved_at);
CREATE INDEX incidents_resolved ON incidents(resolved_at) WHERE resolved_at IS NOT NULL;
CREATE INDEX deployments_at ON deployments(at, rollback, service);
CREATE INDEX deployments_service_at_id ON deployments(service, at, id, rollback);
CREATE INDEX deployments_rolls_back ON deployments(rolls_back) WHERE rolls_back IS NOT NULL;
