-- Image posts, their hashtags, caption search and idempotent creation.

CREATE TABLE posts (
    id           TEXT PRIMARY KEY NOT NULL,
    author_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    caption      TEXT NOT NULL DEFAULT '',
    -- Space-separated hashtags for output; post_tags answers tag filters.
    tags         TEXT NOT NULL DEFAULT '',
    -- Bumped on every change; the ETag is derived from it.
    version      BIGINT NOT NULL DEFAULT 1,
    created_at   BIGINT NOT NULL,
    updated_at   BIGINT NOT NULL,
    -- Where the renditions live (driver, keys, provider metadata) as JSON; base_key is unique so that
    -- reconciliation can match storage to rows.
    image        TEXT NOT NULL,
    base_key     TEXT NOT NULL UNIQUE,
    width        BIGINT NOT NULL,
    height       BIGINT NOT NULL,
    bytes        BIGINT NOT NULL,
    content_type TEXT NOT NULL,
    sha256       TEXT NOT NULL,
    blurhash     TEXT NOT NULL,
    -- Caption search; `simple` neither stems nor drops words, like SQLite's unicode61 tokenizer.
    search       TSVECTOR GENERATED ALWAYS AS (to_tsvector('simple', caption)) STORED
);

CREATE INDEX posts_author_idx ON posts (author_id, id);
-- Quotas sum a user's recent uploads.
CREATE INDEX posts_author_created_idx ON posts (author_id, created_at);
CREATE INDEX posts_search_idx ON posts USING GIN (search);

CREATE TABLE post_tags (
    post_id TEXT NOT NULL REFERENCES posts (id) ON DELETE CASCADE,
    tag     TEXT NOT NULL,
    PRIMARY KEY (post_id, tag)
);

CREATE INDEX post_tags_tag_idx ON post_tags (tag, post_id);

-- Idempotency-Key records, per user. A row without a response is an attempt in progress.
CREATE TABLE idempotency_keys (
    user_id         TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    key             TEXT NOT NULL,
    request_hash    TEXT NOT NULL,
    response_status BIGINT,
    response_body   TEXT,
    created_at      BIGINT NOT NULL,
    PRIMARY KEY (user_id, key)
);
