-- Runbooks added through the API (those in firebreak.yaml live in the file). The definition is
-- the shared codec's JSON, read back through the domain's checks.
CREATE TABLE runbooks (
    name       TEXT    PRIMARY KEY,
    definition TEXT    NOT NULL,
    created_by TEXT    NOT NULL,
    created_at BIGINT  NOT NULL,
    updated_at BIGINT  NOT NULL
);
