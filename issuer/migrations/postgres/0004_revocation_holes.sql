-- Closing the holes of issue 10.

-- `keys withdraw`: a withdrawn key leaves the JWKS at once and is trusted by
-- nobody. The key-set version (meta 'keys_version', set in code) changes in
-- the same transaction as any key change, and every feed page names it.
ALTER TABLE signing_keys ADD COLUMN withdrawn_at BIGINT;

-- The latest `exp` of any access token issued to the session: a revocation's
-- `until` must cover it whatever the TTL setting is now, or on another replica.
ALTER TABLE sessions ADD COLUMN access_exp BIGINT NOT NULL DEFAULT 0;

-- One session, one live refresh token: the database's rule, not only the code's.
CREATE UNIQUE INDEX refresh_tokens_one_live ON refresh_tokens (session_id) WHERE rotated_at IS NULL;
