-- Pruning ended sign-in rows: sessions and invitation links are deleted a while after they
-- ended, failed sign-in counts once no backoff counts them. Each condition of the hourly
-- delete has an index, so a batch reads only the rows it deletes.

CREATE INDEX sessions_revoked ON sessions(revoked_at) WHERE revoked_at IS NOT NULL;
CREATE INDEX sessions_expires ON sessions(expires_at);
CREATE INDEX sessions_last_seen ON sessions(last_seen_at);

CREATE INDEX invitations_used ON invitations(used_at) WHERE used_at IS NOT NULL;
CREATE INDEX invitations_expires ON invitations(expires_at);

CREATE INDEX login_failures_last ON login_failures(last_at);
