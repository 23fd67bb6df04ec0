-- Firebreak SQLite schema, version 6: the public status page. Components (from firebreak.yaml
-- or the API), the public name of an incident, and an index to find the status updates, which
-- are timeline entries of kind `status_update`.

ALTER TABLE incidents ADD COLUMN public_title TEXT;

CREATE TABLE status_components (
    id            TEXT    PRIMARY KEY,
    name          TEXT    NOT NULL UNIQUE,
    description   TEXT,
    group_name    TEXT,
    services      TEXT    NOT NULL,            -- JSON array of service names
    position      INTEGER NOT NULL,
    manual_status TEXT,                        -- a status set by hand, until cleared
    from_config   INTEGER NOT NULL DEFAULT 0,
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL
);

CREATE INDEX timeline_entries_kind ON timeline_entries(kind, at);
