-- Token signing keys. The row with `retired_at` NULL signs; retired rows stay
-- published in the JWKS until every token they signed has expired.
CREATE TABLE signing_keys (
    kid        TEXT   PRIMARY KEY,
    alg        TEXT   NOT NULL,
    secret     BYTEA  NOT NULL,
    created_at BIGINT NOT NULL,
    retired_at BIGINT
);

-- At most one signing key at a time, even if two issuers start together.
CREATE UNIQUE INDEX signing_keys_one_current ON signing_keys ((true)) WHERE retired_at IS NULL;
