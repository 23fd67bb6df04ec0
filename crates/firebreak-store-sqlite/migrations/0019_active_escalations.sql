-- Home pages list the escalations still waiting for an acknowledgement, oldest first.
CREATE INDEX escalations_active ON escalations (started_at, id) WHERE status = 'active';
