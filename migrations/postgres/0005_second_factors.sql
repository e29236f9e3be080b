-- Second factors: a TOTP authenticator, single-use recovery codes and the sign-in challenge between
-- the password and the second factor. Sessions record how they were authenticated and when last.

-- One authenticator per account. The secret is sealed with AES-256-GCM under the key from
-- auth.mfa_key_file (base64 of nonce || ciphertext, the user id as associated data), never stored
-- in plaintext. An unconfirmed row is an enrolment waiting for its first code.
CREATE TABLE totp_factors (
    user_id      uuid PRIMARY KEY NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    secret       TEXT NOT NULL,
    created_at   timestamptz NOT NULL,
    confirmed_at timestamptz,
    -- The last accepted 30-second step: a code is accepted once, and never an older one.
    last_step    BIGINT
);

-- Recovery codes as SHA-256 hashes (each code carries 80 random bits).
CREATE TABLE recovery_codes (
    hash       TEXT PRIMARY KEY NOT NULL,
    user_id    uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at timestamptz NOT NULL,
    used_at    timestamptz
);

CREATE INDEX recovery_codes_user_idx ON recovery_codes (user_id);

-- A password that passed for an account with a second factor: single-use, short-lived, bound to the
-- account and to the client (a hash of its IP and user agent). Stored as the SHA-256 of the token.
CREATE TABLE mfa_challenges (
    hash        TEXT PRIMARY KEY NOT NULL,
    user_id     uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    client_hash TEXT NOT NULL,
    created_at  timestamptz NOT NULL,
    expires_at  timestamptz NOT NULL,
    attempts    BIGINT NOT NULL DEFAULT 0,
    used_at     timestamptz
);

CREATE INDEX mfa_challenges_user_idx ON mfa_challenges (user_id);

-- RFC 8176 method names, space-separated ("pwd", "pwd otp mfa", …).
ALTER TABLE sessions ADD COLUMN amr TEXT NOT NULL DEFAULT 'pwd';
-- The last strong authentication in this session: sign-in, or a step-up since.
ALTER TABLE sessions ADD COLUMN authenticated_at timestamptz;
UPDATE sessions SET authenticated_at = created_at;
ALTER TABLE sessions ALTER COLUMN authenticated_at SET NOT NULL;
