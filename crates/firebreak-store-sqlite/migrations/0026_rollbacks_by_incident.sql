-- The rollbacks run for an incident, by incident: the reports read an incident's failure links
-- again when it changes, without reading every rollback. Mirrors the PostgreSQL schema.
CREATE INDEX deployments_incident ON deployments(incident, rolls_back)
    WHERE rollback = 1 AND incident IS NOT NULL;
