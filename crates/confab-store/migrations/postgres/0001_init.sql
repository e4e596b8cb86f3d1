-- Confab's schema for PostgreSQL. Every id is a 64-bit integer (Snowflake-style for events).

CREATE TABLE users (
    id            BIGINT PRIMARY KEY,
    username      TEXT   NOT NULL UNIQUE,
    password_hash TEXT   NOT NULL,
    created_at    BIGINT NOT NULL
);

-- Session tokens are stored as SHA-256 hashes: a leaked database does not leak sessions.
CREATE TABLE tokens (
    token_hash BYTEA  PRIMARY KEY,
    user_id    BIGINT NOT NULL REFERENCES users (id),
    created_at BIGINT NOT NULL
);
CREATE INDEX tokens_user ON tokens (user_id);

CREATE TABLE channels (
    id             BIGINT PRIMARY KEY,
    kind           TEXT   NOT NULL,            -- 'direct' | 'group'
    name           TEXT,
    direct_key     TEXT   UNIQUE,              -- 'lo:hi' user ids of a direct channel: one per pair
    last_seq       BIGINT NOT NULL DEFAULT 0,  -- seq of the newest event; assigned in the event's transaction
    pruned_through BIGINT NOT NULL DEFAULT 0,  -- events with seq <= this were removed by retention
    member_count   BIGINT NOT NULL DEFAULT 0,  -- maintained in the same transaction as members
    created_at     BIGINT NOT NULL
);

CREATE TABLE members (
    channel_id BIGINT NOT NULL REFERENCES channels (id),
    user_id    BIGINT NOT NULL REFERENCES users (id),
    role       TEXT   NOT NULL,                -- 'owner' | 'admin' | 'member'
    read_seq   BIGINT NOT NULL DEFAULT 0,
    joined_seq BIGINT NOT NULL,                -- seq of the event that made them a member
    PRIMARY KEY (channel_id, user_id)
);
CREATE INDEX members_user ON members (user_id, channel_id);

CREATE TABLE events (
    channel_id BIGINT NOT NULL,
    seq        BIGINT NOT NULL,
    id         BIGINT NOT NULL,
    ts         BIGINT NOT NULL,
    author_id  BIGINT NOT NULL,
    kind       TEXT   NOT NULL,                -- the event's `type`
    payload    TEXT   NOT NULL,                -- the event body as JSON
    PRIMARY KEY (channel_id, seq)
);

-- Idempotency records: (sender, client_id) -> the original ack. Kept when retention prunes the
-- message itself, so a late retry still gets its original ack and stores nothing.
CREATE TABLE sends (
    sender_id  BIGINT NOT NULL,
    client_id  TEXT   NOT NULL,
    channel_id BIGINT NOT NULL,
    seq        BIGINT NOT NULL,
    id         BIGINT NOT NULL,
    ts         BIGINT NOT NULL,
    PRIMARY KEY (sender_id, client_id)
);
