-- A retried refresh (two browser tabs, a request repeated after a dropped connection) presents the
-- token it has just rotated. Within `auth.refresh_reuse_grace_secs`, from the same client, it gets the
-- same successor again instead of ending the session. These columns, set on the used token's row, make
-- that possible while the table still holds no usable token:
-- rotated_client: SHA-256 of the IP address and user agent of the client that rotated the token.
-- successor_hash: the lookup hash of the token it was rotated to (whether that one is used yet).
-- successor_sealed: that token, AES-256-GCM under a key derived from this row's own token, which only
-- its holder has; cleared once it can no longer be handed out, so that an old token and a copy of the
-- database do not lead to the current one.
ALTER TABLE refresh_tokens ADD COLUMN rotated_client TEXT;
ALTER TABLE refresh_tokens ADD COLUMN successor_hash TEXT;
ALTER TABLE refresh_tokens ADD COLUMN successor_sealed TEXT;

-- Housekeeping clears sealed successors past the grace period; only those rows are indexed.
CREATE INDEX refresh_tokens_sealed_idx ON refresh_tokens (used_at) WHERE successor_sealed IS NOT NULL;
