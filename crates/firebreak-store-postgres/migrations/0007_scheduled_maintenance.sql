-- Firebreak PostgreSQL schema, version 7: scheduled maintenance. One object both shows on the
-- status page (upcoming, in progress, completed) and suppresses the alerts of the services of
-- its components while it runs, through the same index as maintenance windows.

CREATE TABLE scheduled_maintenances (
    id          BIGSERIAL PRIMARY KEY,
    name        TEXT    NOT NULL,
    body        TEXT    NOT NULL,
    components  TEXT[]  NOT NULL,
    starts_at   BIGINT  NOT NULL,
    ends_at     BIGINT  NOT NULL,
    created_by  TEXT    NOT NULL,
    created_at  BIGINT  NOT NULL
);
CREATE INDEX scheduled_maintenances_ends ON scheduled_maintenances (ends_at);
