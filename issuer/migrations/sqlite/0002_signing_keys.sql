-- Token signing keys. The row with `retired_at` NULL signs; retired rows stay
-- published in the JWKS until every token they signed has expired.
CREATE TABLE signing_keys (
    kid        TEXT    PRIMARY KEY,
    alg        TEXT    NOT NULL,
    secret     BLOB    NOT NULL,
    created_at INTEGER NOT NULL,
    retired_at INTEGER
);

-- At most one signing key at a time.
CREATE UNIQUE INDEX signing_keys_one_current ON signing_keys (retired_at IS NULL) WHERE retired_at IS NULL;
