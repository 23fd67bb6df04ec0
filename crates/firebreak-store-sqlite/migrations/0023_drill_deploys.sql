-- Deploys recorded by a game day are drills. They count in the DORA figures only when drills
-- are asked for, and
-- drills and real work never mix: a drill deploy is a suspect of drill incidents only, and a
-- real deploy of real incidents only. The reports' indexes lead with `drill`, so every count
-- and every suspect lookup names the kind it reads. Mirrors the PostgreSQL schema.
ALTER TABLE deployments ADD COLUMN drill INTEGER NOT NULL DEFAULT 0;

DROP INDEX deployments_at;
CREATE INDEX deployments_at ON deployments(drill, at, rollback, service);
DROP INDEX deployments_service_at_id;
CREATE INDEX deployments_service_at_id ON deployments(drill, service, at, id, rollback);

-- Until now every deploy was real, so a drill incident had none of its own kind.
UPDATE incidents SET suspect_deploy = NULL, suspect_at = NULL
WHERE drill = 1 AND suspect_deploy IS NOT NULL;
