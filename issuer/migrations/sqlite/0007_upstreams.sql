-- Upstream identity providers (docs/upstream.md).

-- Revocations become issuer-scoped. tollgate's own entries keep `target`
-- (a UUID) and no `iss`; an upstream's name its `iss` and keep the
-- provider's opaque id in `subject`. Kind `sub` and `email` are subject
-- cut-offs: every token of the subject issued at or before `cutoff`.
-- SQLite cannot alter a CHECK, so the table is rebuilt with its rows and
-- their `seq` (the feed cursors stay valid).
CREATE TABLE revocations_new (
    seq     INTEGER PRIMARY KEY AUTOINCREMENT,
    kind    TEXT    NOT NULL CHECK (kind IN ('sid', 'jti', 'sub', 'email')),
    target  BLOB,
    iss     TEXT,
    subject TEXT,
    cutoff  INTEGER,
    until   INTEGER NOT NULL,
    CHECK ((target IS NOT NULL AND iss IS NULL AND subject IS NULL AND kind IN ('sid', 'jti'))
        OR (target IS NULL AND subject IS NOT NULL AND (iss IS NOT NULL OR kind IN ('sub', 'email')))),
    CHECK ((cutoff IS NOT NULL) = (kind IN ('sub', 'email')))
);
INSERT INTO revocations_new (seq, kind, target, until)
    SELECT seq, kind, target, until FROM revocations ORDER BY seq;
DROP TABLE revocations;
ALTER TABLE revocations_new RENAME TO revocations;
-- DROP TABLE took the old table's indexes with it.
CREATE INDEX revocations_until ON revocations (until);
CREATE INDEX revocations_target ON revocations (target);

-- Each provider's JWKS as last fetched, shared by every replica. A change
-- of `digest` moves the key-set version in the same transaction.
CREATE TABLE upstream_keys (
    name       TEXT    PRIMARY KEY,
    jwks       TEXT    NOT NULL,
    digest     TEXT    NOT NULL,
    fetched_at INTEGER NOT NULL
);

-- The `jti` of every accepted logout token and security event, until the
-- token could not be accepted anyway: a second delivery is a replay.
CREATE TABLE upstream_events (
    upstream   TEXT    NOT NULL,
    jti        TEXT    NOT NULL,
    keep_until INTEGER NOT NULL,
    PRIMARY KEY (upstream, jti)
);
CREATE INDEX upstream_events_keep_until ON upstream_events (keep_until);
