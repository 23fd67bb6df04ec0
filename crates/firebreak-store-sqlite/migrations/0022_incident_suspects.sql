-- Each incident keeps its newest earlier deploy: the newest deploy (not a rollback) of any of
-- its services at or before its detection. Whatever window a report uses, an incident's suspect
-- deploy is that one if it falls inside the window, or none; so the reports read suspects from
-- an index range over `suspect_at` instead of looking each incident's deploys up at read time.
-- The store keeps both columns true in the unit of work that records a deploy, declares an
-- incident or changes its services or detection time. Mirrors the PostgreSQL schema.
ALTER TABLE incidents ADD COLUMN suspect_deploy INTEGER;   -- deployments.id
ALTER TABLE incidents ADD COLUMN suspect_at INTEGER;       -- that deploy's time

UPDATE incidents SET (suspect_deploy, suspect_at) = (
    SELECT d.id, d.at FROM incident_services s
    JOIN deployments d ON d.id = (
        SELECT c.id FROM deployments c INDEXED BY deployments_service_at_id
        WHERE c.service = s.service AND c.rollback = 0 AND c.at <= incidents.detected_at
        ORDER BY c.at DESC, c.id DESC LIMIT 1)
    WHERE s.number = incidents.number
    ORDER BY d.at DESC, d.id DESC LIMIT 1);

-- The reports' failed deploys: the suspects of a period, with what the answer needs.
CREATE INDEX incidents_suspect ON incidents(suspect_at, suspect_deploy, number, detected_at,
    severity, drill, mitigated_at, resolved_at) WHERE suspect_deploy IS NOT NULL;
