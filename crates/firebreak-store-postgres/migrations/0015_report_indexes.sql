-- The reports over a long history. A deploy undone by a rollback run for an incident is found
-- from the rollbacks stamped since shortly before the period began (a rollback is at most
-- minutes earlier than the deploy it undid; the reads allow a day), rather than from every
-- rollback ever recorded; the index holds what the join needs, so the rollback's row is never
-- read. Mirrors the SQLite schema.
CREATE INDEX deployments_rollbacks_at ON deployments(at) INCLUDE (rolls_back, incident)
    WHERE rollback AND rolls_back IS NOT NULL AND incident IS NOT NULL;
