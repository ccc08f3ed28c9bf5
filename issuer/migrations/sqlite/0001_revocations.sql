-- Identifies this database: feed cursors carry it, so a cursor from another
-- database (or a wiped one) is recognised and answered with a snapshot.
CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

-- The revocation log. `seq` is the feed cursor; SQLite has one writer at a
-- time, so seq order is commit order.
CREATE TABLE revocations (
    seq    INTEGER PRIMARY KEY AUTOINCREMENT,
    kind   TEXT    NOT NULL CHECK (kind IN ('sid', 'jti')),
    target BLOB    NOT NULL,
    until  INTEGER NOT NULL
);

CREATE INDEX revocations_until ON revocations (until);
