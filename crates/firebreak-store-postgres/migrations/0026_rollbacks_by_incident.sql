-- The rollbacks run for an incident, by incident: the reports read an incident's failure links
-- again when it changes, without reading every rollback. Mirrors the SQLite schema.
CREATE INDEX deployments_incident ON deployments(incident) INCLUDE (rolls_back)
    WHERE rollback AND incident IS NOT NULL;
