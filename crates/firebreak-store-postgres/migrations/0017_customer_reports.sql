-- Customer reports: what support tools pass on, about one status page component or one
-- service. The reporter's address is personal data, shown to admins only. Mirrors the
-- SQLite schema.

CREATE TABLE customer_reports (
    id              BIGSERIAL PRIMARY KEY,
    subject         TEXT    NOT NULL,         -- component/ID | service/NAME: what it counts for
    component_id    TEXT,
    component_name  TEXT,
    service         TEXT    NOT NULL,         -- where its alert goes
    summary         TEXT    NOT NULL,
    reporter        TEXT,
    created_by      TEXT    NOT NULL,
    at              BIGINT  NOT NULL
);

-- Counting a subject's reports within the window, and listing them.
CREATE INDEX customer_reports_subject_at ON customer_reports(subject, at);
-- Listing one service's reports, newest first.
CREATE INDEX customer_reports_service ON customer_reports(service, id);
