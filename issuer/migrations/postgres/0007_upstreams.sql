-- Upstream identity providers (docs/upstream.md).

-- Revocations become issuer-scoped. tollgate's own entries keep `target`
-- (a UUID) and no `iss`; an upstream's name its `iss` and keep the
-- provider's opaque id in `subject`. Kind `sub` and `email` are subject
-- cut-offs: every token of the subject issued at or before `cutoff`.
ALTER TABLE revocations DROP CONSTRAINT revocations_kind_check;
ALTER TABLE revocations ALTER COLUMN target DROP NOT NULL;
ALTER TABLE revocations
    ADD COLUMN iss     TEXT,
    ADD COLUMN subject TEXT,
    ADD COLUMN cutoff  BIGINT,
    ADD CONSTRAINT revocations_kind_check CHECK (kind IN ('sid', 'jti', 'sub', 'email')),
    ADD CONSTRAINT revocations_shape CHECK (
        (target IS NOT NULL AND iss IS NULL AND subject IS NULL AND kind IN ('sid', 'jti'))
        OR (target IS NULL AND subject IS NOT NULL AND (iss IS NOT NULL OR kind IN ('sub', 'email')))),
    ADD CONSTRAINT revocations_cutoff CHECK ((cutoff IS NOT NULL) = (kind IN ('sub', 'email')));

-- Each provider's JWKS as last fetched, shared by every replica. A change
-- of `digest` moves the key-set version in the same transaction.
CREATE TABLE upstream_keys (
    name       TEXT   PRIMARY KEY,
    jwks       TEXT   NOT NULL,
    digest     TEXT   NOT NULL,
    fetched_at BIGINT NOT NULL
);

-- The `jti` of every accepted logout token and security event, until the
-- token could not be accepted anyway: a second delivery is a replay.
CREATE TABLE upstream_events (
    upstream   TEXT   NOT NULL,
    jti        TEXT   NOT NULL,
    keep_until BIGINT NOT NULL,
    PRIMARY KEY (upstream, jti)
);
CREATE INDEX upstream_events_keep_until ON upstream_events (keep_until);
