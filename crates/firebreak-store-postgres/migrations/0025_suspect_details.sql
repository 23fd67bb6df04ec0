-- Each incident keeps its suspect deploy's service and version beside its id and time, so the
-- reports read a period's failed deploys as one range of `incidents_suspect`, with no lookup
-- of each deploy by its id (48,000 of them over a year of a busy history). Kept by the store
-- wherever it keeps `suspect_deploy`. Mirrors the SQLite schema.
ALTER TABLE incidents ADD COLUMN suspect_service TEXT;
ALTER TABLE incidents ADD COLUMN suspect_version TEXT;

UPDATE incidents i SET (suspect_service, suspect_version) = (
    SELECT d.service, d.version FROM deployments d WHERE d.id = i.suspect_deploy)
WHERE suspect_deploy IS NOT NULL;

DROP INDEX incidents_suspect;
CREATE INDEX incidents_suspect ON incidents(suspect_at)
    INCLUDE (suspect_deploy, number, detected_at, severity, drill, mitigated_at, resolved_at,
             suspect_service, suspect_version)
    WHERE suspect_deploy IS NOT NULL;
