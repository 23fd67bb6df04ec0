-- Drills and game days. A drill alert is a rehearsal: it groups only with drill incidents, and
-- a game day's alerts name the game day. Mirrors the SQLite schema.

ALTER TABLE alerts ADD COLUMN drill BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE alerts ADD COLUMN gameday BIGINT;                     -- the game day that injected it

-- A game day's alerts, for its score.
CREATE INDEX alerts_gameday ON alerts(gameday, id) WHERE gameday IS NOT NULL;

CREATE TABLE gamedays (
    id           BIGSERIAL PRIMARY KEY,
    name         TEXT    NOT NULL,
    service      TEXT    NOT NULL,
    severity     TEXT    NOT NULL,
    targets      TEXT    NOT NULL,            -- JSON: the targets as the scenario set them
    started_by   TEXT    NOT NULL,
    started_at   BIGINT  NOT NULL,
    finished_at  BIGINT,
    card         TEXT,                        -- JSON: the score card, once finished
    passed       INTEGER,                     -- targets passed, once finished
    total        INTEGER,                     -- targets, once finished
    incident     BIGINT                       -- the drill incident the card was attached to
);

-- History, newest first, by when they started.
CREATE INDEX gamedays_started ON gamedays(started_at, id);
