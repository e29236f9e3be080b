-- Image posts, their hashtags, caption search and idempotent creation.

CREATE TABLE posts (
    -- SQLite only: a stable integer key for the full-text index (implicit rowids may change on VACUUM).
    seq          INTEGER PRIMARY KEY,
    id           TEXT NOT NULL UNIQUE,
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
    blurhash     TEXT NOT NULL
);

CREATE INDEX posts_author_idx ON posts (author_id, id);
-- Quotas sum a user's recent uploads.
CREATE INDEX posts_author_created_idx ON posts (author_id, created_at);

CREATE TABLE post_tags (
    post_id TEXT NOT NULL REFERENCES posts (id) ON DELETE CASCADE,
    tag     TEXT NOT NULL,
    PRIMARY KEY (post_id, tag)
);

CREATE INDEX post_tags_tag_idx ON post_tags (tag, post_id);

-- Caption search. Diacritics are kept so that results match PostgreSQL's `simple` configuration.
CREATE VIRTUAL TABLE posts_fts USING fts5 (
    caption,
    content = 'posts',
    content_rowid = 'seq',
    tokenize = 'unicode61 remove_diacritics 0'
);

CREATE TRIGGER posts_fts_insert AFTER INSERT ON posts BEGIN
    INSERT INTO posts_fts (rowid, caption) VALUES (new.seq, new.caption);
END;

CREATE TRIGGER posts_fts_delete AFTER DELETE ON posts BEGIN
    INSERT INTO posts_fts (posts_fts, rowid, caption) VALUES ('delete', old.seq, old.caption);
END;

CREATE TRIGGER posts_fts_update AFTER UPDATE OF caption ON posts BEGIN
    INSERT INTO posts_fts (posts_fts, rowid, caption) VALUES ('delete', old.seq, old.caption);
    INSERT INTO posts_fts (rowid, caption) VALUES (new.seq, new.caption);
END;

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
