-- Users, their device sessions, and refresh tokens (stored only as SHA-256).

CREATE TABLE users (
    id            UUID    PRIMARY KEY,
    email         TEXT    NOT NULL UNIQUE,
    name          TEXT    NOT NULL,
    password_hash TEXT    NOT NULL,
    is_admin      BOOLEAN NOT NULL DEFAULT false,
    active        BOOLEAN NOT NULL DEFAULT true,
    created_at    BIGINT  NOT NULL
);

-- One row per login of one device. `revoked_at` set means logged out; the
-- same transaction appended its `sid` to the revocation log.
CREATE TABLE sessions (
    id            UUID    PRIMARY KEY,
    user_id       UUID    NOT NULL REFERENCES users (id),
    device_id     TEXT    NOT NULL,
    device_type   TEXT    NOT NULL,
    created_at    BIGINT  NOT NULL,
    last_used_at  BIGINT  NOT NULL,
    expires_at    BIGINT  NOT NULL,
    refresh_count BIGINT  NOT NULL DEFAULT 0,
    revoked_at    BIGINT
);

CREATE INDEX sessions_user ON sessions (user_id);
-- At most one live session per device of a user.
CREATE UNIQUE INDEX sessions_one_per_device ON sessions (user_id, device_id) WHERE revoked_at IS NULL;

-- Every refresh token a session was given. The current one has `rotated_at`
-- NULL; presenting a rotated one is reuse, and revokes the session.
CREATE TABLE refresh_tokens (
    hash       BYTEA   PRIMARY KEY,
    session_id UUID    NOT NULL REFERENCES sessions (id),
    created_at BIGINT  NOT NULL,
    rotated_at BIGINT
);

CREATE INDEX refresh_tokens_session ON refresh_tokens (session_id);

-- The issuer checks its own Bearer tokens against the log by sid or jti.
CREATE INDEX revocations_target ON revocations (target);
