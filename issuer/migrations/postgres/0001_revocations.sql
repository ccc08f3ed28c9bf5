-- Identifies this database: feed cursors carry it, so a cursor from another
-- database (or a wiped one) is recognised and answered with a snapshot.
CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

-- The revocation log. `seq` is the feed cursor. Every insert first takes
-- the advisory lock in store/postgres.rs, so seq order is commit order even
-- with several issuer processes (see docs/issuer.md).
CREATE TABLE revocations (
    seq    BIGSERIAL PRIMARY KEY,
    kind   TEXT      NOT NULL CHECK (kind IN ('sid', 'jti')),
    target UUID      NOT NULL,
    until  BIGINT    NOT NULL
);

CREATE INDEX revocations_until ON revocations (until);
