-- Firebreak PostgreSQL schema, version 4: on-call schedules and their overrides. Mirrors the
-- SQLite schema's version 4. A schedule's definition (time zone and layers) is kept as JSON
-- text in the API's shape, as the shared codec writes it; the domain checks it on the way in
-- and on the way out.

CREATE TABLE schedules (
    name        TEXT PRIMARY KEY,
    definition  TEXT    NOT NULL,
    from_config BOOLEAN NOT NULL DEFAULT FALSE,
    created_at  BIGINT  NOT NULL,
    updated_at  BIGINT  NOT NULL
);

-- `seq` orders overrides by when they were added: a later one wins where two overlap.
CREATE TABLE schedule_overrides (
    seq         BIGSERIAL PRIMARY KEY,
    id          TEXT   NOT NULL UNIQUE,
    schedule    TEXT   NOT NULL REFERENCES schedules (name) ON DELETE CASCADE,
    user_handle TEXT   NOT NULL,
    starts_at   BIGINT NOT NULL,
    ends_at     BIGINT NOT NULL,
    created_at  BIGINT NOT NULL,
    created_by  TEXT   NOT NULL
);
CREATE INDEX schedule_overrides_ends ON schedule_overrides (schedule, ends_at);
