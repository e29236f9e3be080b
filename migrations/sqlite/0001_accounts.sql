-- Accounts, sessions and the audit trail.
-- Instants are Unix milliseconds (BIGINT) and ids are UUIDv7 text, so the same queries run on SQLite and
-- PostgreSQL through one store layer.

CREATE TABLE users (
    id                TEXT PRIMARY KEY NOT NULL,
    -- Stored already normalised (lower case), so these unique constraints make uniqueness
    -- case-insensitive and race-safe: the database, not a prior SELECT, is the final judge.
    username          TEXT NOT NULL UNIQUE CHECK (username = lower(username)),
    email             TEXT NOT NULL UNIQUE CHECK (email = lower(email)),
    password_hash     TEXT NOT NULL,
    display_name      TEXT,
    bio               TEXT NOT NULL DEFAULT '',
    role              TEXT NOT NULL DEFAULT 'user' CHECK (role IN ('user', 'moderator', 'admin')),
    disabled_at       BIGINT,
    email_verified_at BIGINT,
    created_at        BIGINT NOT NULL,
    updated_at        BIGINT NOT NULL
);

-- Admin listings filter by role.
CREATE INDEX users_role_idx ON users (role, id);

-- A session is one signed-in device. Access tokens name it (`sid`) and every authenticated request
-- checks it, which is what makes logout and disabling take effect at once.
CREATE TABLE sessions (
    id                  TEXT PRIMARY KEY NOT NULL,
    user_id             TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at          BIGINT NOT NULL,
    last_used_at        BIGINT NOT NULL,
    idle_expires_at     BIGINT NOT NULL,
    absolute_expires_at BIGINT NOT NULL,
    revoked_at          BIGINT,
    revoke_reason       TEXT,
    ip                  TEXT,
    user_agent          TEXT,
    -- SHA-256 of the CSRF token when the refresh token lives in a cookie; NULL in body mode.
    csrf_hash           TEXT
);

CREATE INDEX sessions_user_idx ON sessions (user_id);

-- Refresh tokens are stored only as SHA-256 hashes. A used token stays (with used_at) so that a replay
-- can be recognised and the whole session revoked.
CREATE TABLE refresh_tokens (
    hash       TEXT PRIMARY KEY NOT NULL,
    session_id TEXT NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    created_at BIGINT NOT NULL,
    used_at    BIGINT
);

CREATE INDEX refresh_tokens_session_idx ON refresh_tokens (session_id);

CREATE TABLE audit_events (
    id         TEXT PRIMARY KEY NOT NULL,
    kind       TEXT NOT NULL,
    actor_id   TEXT,
    target_id  TEXT,
    ip         TEXT,
    user_agent TEXT,
    details    TEXT NOT NULL DEFAULT '{}',
    created_at BIGINT NOT NULL
);

CREATE INDEX audit_events_kind_idx ON audit_events (kind, id);
CREATE INDEX audit_events_target_idx ON audit_events (target_id, id);
