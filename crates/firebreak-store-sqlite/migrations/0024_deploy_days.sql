-- Deploys counted per UTC day, service and kind (drill or real), rollbacks left out. The
-- reports count a long period's deploys from these rows (one per day and service) and read
-- `deployments` only for the partial days at the period's ends, so a year's count reads about
-- 7,300 rows instead of every deploy. The store adds to the day's row in the unit of work
-- that records a deploy; deploys are never changed or deleted. Mirrors the PostgreSQL schema.
CREATE TABLE deploy_days (
    drill   INTEGER NOT NULL,
    day     INTEGER NOT NULL,   -- the day's first millisecond, UTC
    service TEXT    NOT NULL,
    deploys INTEGER NOT NULL,
    PRIMARY KEY (drill, day, service)
) WITHOUT ROWID;

INSERT INTO deploy_days (drill, day, service, deploys)
SELECT drill, at - (at % 86400000), service, count(*) FROM deployments
WHERE rollback = 0
GROUP BY drill, at - (at % 86400000), service;
