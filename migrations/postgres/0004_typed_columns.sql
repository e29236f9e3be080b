-- Native types on PostgreSQL: ids become uuid and instants timestamptz (they were UUIDv7 text and Unix
-- milliseconds, the format SQLite keeps). Existing rows are converted in place; a value that is not a
-- UUID stops the migration rather than being lost. Foreign keys are dropped and recreated around the
-- change because a key and its reference must change type together.

ALTER TABLE sessions DROP CONSTRAINT sessions_user_id_fkey;
ALTER TABLE refresh_tokens DROP CONSTRAINT refresh_tokens_session_id_fkey;
ALTER TABLE posts DROP CONSTRAINT posts_author_id_fkey;
ALTER TABLE post_tags DROP CONSTRAINT post_tags_post_id_fkey;
ALTER TABLE idempotency_keys DROP CONSTRAINT idempotency_keys_user_id_fkey;
ALTER TABLE email_tokens DROP CONSTRAINT email_tokens_user_id_fkey;

ALTER TABLE users
    ALTER COLUMN id TYPE uuid USING id::uuid,
    ALTER COLUMN disabled_at TYPE timestamptz USING to_timestamp(disabled_at / 1000.0),
    ALTER COLUMN email_verified_at TYPE timestamptz USING to_timestamp(email_verified_at / 1000.0),
    ALTER COLUMN created_at TYPE timestamptz USING to_timestamp(created_at / 1000.0),
    ALTER COLUMN updated_at TYPE timestamptz USING to_timestamp(updated_at / 1000.0);

ALTER TABLE sessions
    ALTER COLUMN id TYPE uuid USING id::uuid,
    ALTER COLUMN user_id TYPE uuid USING user_id::uuid,
    ALTER COLUMN created_at TYPE timestamptz USING to_timestamp(created_at / 1000.0),
    ALTER COLUMN last_used_at TYPE timestamptz USING to_timestamp(last_used_at / 1000.0),
    ALTER COLUMN idle_expires_at TYPE timestamptz USING to_timestamp(idle_expires_at / 1000.0),
    ALTER COLUMN absolute_expires_at TYPE timestamptz USING to_timestamp(absolute_expires_at / 1000.0),
    ALTER COLUMN revoked_at TYPE timestamptz USING to_timestamp(revoked_at / 1000.0);

ALTER TABLE refresh_tokens
    ALTER COLUMN session_id TYPE uuid USING session_id::uuid,
    ALTER COLUMN created_at TYPE timestamptz USING to_timestamp(created_at / 1000.0),
    ALTER COLUMN used_at TYPE timestamptz USING to_timestamp(used_at / 1000.0);

ALTER TABLE audit_events
    ALTER COLUMN id TYPE uuid USING id::uuid,
    ALTER COLUMN actor_id TYPE uuid USING actor_id::uuid,
    ALTER COLUMN target_id TYPE uuid USING target_id::uuid,
    ALTER COLUMN created_at TYPE timestamptz USING to_timestamp(created_at / 1000.0);

ALTER TABLE posts
    ALTER COLUMN id TYPE uuid USING id::uuid,
    ALTER COLUMN author_id TYPE uuid USING author_id::uuid,
    ALTER COLUMN created_at TYPE timestamptz USING to_timestamp(created_at / 1000.0),
    ALTER COLUMN updated_at TYPE timestamptz USING to_timestamp(updated_at / 1000.0);

ALTER TABLE post_tags
    ALTER COLUMN post_id TYPE uuid USING post_id::uuid;

ALTER TABLE idempotency_keys
    ALTER COLUMN user_id TYPE uuid USING user_id::uuid,
    ALTER COLUMN created_at TYPE timestamptz USING to_timestamp(created_at / 1000.0);

ALTER TABLE outbox
    ALTER COLUMN id TYPE uuid USING id::uuid,
    ALTER COLUMN created_at TYPE timestamptz USING to_timestamp(created_at / 1000.0),
    ALTER COLUMN next_attempt_at TYPE timestamptz USING to_timestamp(next_attempt_at / 1000.0),
    ALTER COLUMN locked_until TYPE timestamptz USING to_timestamp(locked_until / 1000.0),
    ALTER COLUMN sent_at TYPE timestamptz USING to_timestamp(sent_at / 1000.0);

ALTER TABLE email_tokens
    ALTER COLUMN user_id TYPE uuid USING user_id::uuid,
    ALTER COLUMN created_at TYPE timestamptz USING to_timestamp(created_at / 1000.0),
    ALTER COLUMN expires_at TYPE timestamptz USING to_timestamp(expires_at / 1000.0),
    ALTER COLUMN used_at TYPE timestamptz USING to_timestamp(used_at / 1000.0);

ALTER TABLE sessions ADD CONSTRAINT sessions_user_id_fkey
    FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE;
ALTER TABLE refresh_tokens ADD CONSTRAINT refresh_tokens_session_id_fkey
    FOREIGN KEY (session_id) REFERENCES sessions (id) ON DELETE CASCADE;
ALTER TABLE posts ADD CONSTRAINT posts_author_id_fkey
    FOREIGN KEY (author_id) REFERENCES users (id) ON DELETE CASCADE;
ALTER TABLE post_tags ADD CONSTRAINT post_tags_post_id_fkey
    FOREIGN KEY (post_id) REFERENCES posts (id) ON DELETE CASCADE;
ALTER TABLE idempotency_keys ADD CONSTRAINT idempotency_keys_user_id_fkey
    FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE;
ALTER TABLE email_tokens ADD CONSTRAINT email_tokens_user_id_fkey
    FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE;
