-- Outbound mail and the single-use tokens mail carries.

-- Mail is written here in the same request that causes it and sent by a background sender, so it
-- survives a mail server that is down: nothing is lost, it goes out when the server is back.
CREATE TABLE outbox (
    id              TEXT PRIMARY KEY NOT NULL,
    to_address      TEXT NOT NULL,
    subject         TEXT NOT NULL,
    body_text       TEXT NOT NULL,
    created_at      BIGINT NOT NULL,
    attempts        BIGINT NOT NULL DEFAULT 0,
    next_attempt_at BIGINT NOT NULL,
    -- A sender holds a message until this instant while sending it, so instances never send twice.
    locked_until    BIGINT,
    sent_at         BIGINT,
    last_error      TEXT
);

CREATE INDEX outbox_due_idx ON outbox (sent_at, next_attempt_at);

-- Verification, reset and email-change tokens, stored only as SHA-256 hashes and bound to the user,
-- the purpose and the address they were sent to.
CREATE TABLE email_tokens (
    hash       TEXT PRIMARY KEY NOT NULL,
    user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    purpose    TEXT NOT NULL CHECK (purpose IN ('verify_email', 'reset_password', 'change_email')),
    email      TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at    BIGINT
);

CREATE INDEX email_tokens_user_idx ON email_tokens (user_id, purpose);
