-- Passkeys (WebAuthn credentials) and the ceremonies that register and use them.

-- One row per registered credential. `credential` is webauthn-rs's record of it as JSON: the public
-- key, the algorithm and the signature counter (which the server raises after every use, so an
-- assertion from a cloned authenticator with an older counter is refused). No secret is stored.
CREATE TABLE passkeys (
    id            TEXT PRIMARY KEY NOT NULL,
    user_id       TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    credential_id TEXT NOT NULL UNIQUE,
    name          TEXT NOT NULL,
    credential    TEXT NOT NULL,
    created_at    BIGINT NOT NULL,
    last_used_at  BIGINT
);

CREATE INDEX passkeys_user_idx ON passkeys (user_id);

-- The server's half of a registration or authentication in progress (its challenge), kept here so
-- that any instance can finish it. Single-use, five minutes, bound to the client that started it;
-- stored under the SHA-256 of the id handed to the client.
CREATE TABLE webauthn_ceremonies (
    hash        TEXT PRIMARY KEY NOT NULL,
    user_id     TEXT REFERENCES users (id) ON DELETE CASCADE,
    purpose     TEXT NOT NULL CHECK (purpose IN ('register', 'second_factor', 'sign_in')),
    state       TEXT NOT NULL,
    client_hash TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL,
    used_at     BIGINT
);
