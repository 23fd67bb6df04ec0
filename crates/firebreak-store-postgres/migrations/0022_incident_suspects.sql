-- Each incident keeps its newest earlier deploy: the newest deploy (not a rollback) of any of
-- its services at or before its detection. Whatever window a report uses, an incident's suspect
-- deploy is that one if it falls inside the window, or none; so the reports read suspects from
-- an index range over `suspect_at` instead of looking each incident's deploys up at read time.
-- The store keeps both columns true in the unit of work that records a deploy, declares an
-- incident or changes its services or detection time. Mirrors the SQLite schema.
ALTER TABLE incidents ADD COLUMN suspect_deploy BIGINT;   -- deployments.id
ALTER TABLE incidents ADD COLUMN suspect_at BIGINT;       -- that deploy's time

UPDATE incidents i SET (suspect_deploy, suspect_at) = (
    SELECT c.id, c.at FROM incident_services s
    CROSS JOIN LATERAL (
        SELECT c.id, c.at FROM deployments c
        WHERE c.service = s.service AND NOT c.rollback AND c.at <= i.detected_at
        ORDER BY c.at DESC, c.id DESC LIMIT 1) c
    WHERE s.number = i.number
    ORDER BY c.at DESC, c.id DESC LIMIT 1);

-- The reports' failed deploys: the suspects of a period, with what the answer needs.
CREATE INDEX incidents_suspect ON incidents(suspect_at)
    INCLUDE (suspect_deploy, number, detected_at, severity, drill, mitigated_at, resolved_at)
    WHERE suspect_deploy IS NOT NULL;
