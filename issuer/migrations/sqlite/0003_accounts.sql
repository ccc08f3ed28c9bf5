-- Users, their device sessions, and refresh tokens (stored only as SHA-256).

CREATE TABLE users (
    id            BLOB    PRIMARY KEY,
    email         TEXT    NOT NULL UNIQUE,
    name          TEXT    NOT NULL,
    password_hash TEXT    NOT NULL,
    is_admin      INTEGER NOT NULL DEFAULT 0,
    active        INTEGER NOT NULL DEFAULT 1,
    created_at    INTEGER NOT NULL
);

-- One row per login of one device. `revoked_at` set means logged out; the
-- same transaction appended its `sid` to the revocation log.
CREATE TABLE sessions (
    id            BLOB    PRIMARY KEY,
    user_id       BLOB    NOT NULL REFERENCES users (id),
    device_id     TEXT    NOT NULL,
    device_type   TEXT    NOT NULL,
    created_at    INTEGER NOT NULL,
    last_used_at  INTEGER NOT NULL,
    expires_at    INTEGER NOT NULL,
    refresh_count INTEGER NOT NULL DEFAULT 0,
    revoked_at    INTEGER
);

CREATE INDEX sessions_user ON sessions (user_id);
-- At most one live session per device of a user.
CREATE UNIQUE INDEX sessions_one_per_device ON sessions (user_id, device_id) WHERE revoked_at IS NULL;

-- Every refresh token a session was given. The current one has `rotated_at`
-- NULL; presenting a rotated one is reuse, and revokes the session.
CREATE TABLE refresh_tokens (
    hash       BLOB    PRIMARY KEY,
    session_id BLOB    NOT NULL REFERENCES sessions (id),
    created_at INTEGER NOT NULL,
    rotated_at INTEGER
);

CREATE INDEX refresh_tokens_session ON refresh_tokens (session_id);

-- The issuer checks its own Bearer tokens against the log by sid or jti.
CREATE INDEX revocations_target ON revocations (target);
