-- chainlog's PostgreSQL schema, version 1. The columns and their text are
-- the SQLite store's (docs/store.md), so that a row hashes the same in
-- both; leaf_index is also the commit order, since every row is a leaf.

CREATE TABLE events (
    leaf_index      BIGINT PRIMARY KEY,
    id              TEXT COLLATE "C" NOT NULL UNIQUE,
    agent_type      TEXT NOT NULL,
    node_id         TEXT COLLATE "C" NOT NULL,
    agent_id        TEXT NOT NULL,
    session_id      TEXT,
    workspace_id    TEXT,
    event_type      TEXT NOT NULL,
    ts              TEXT NOT NULL,
    data            TEXT,
    cost_usd        DOUBLE PRECISION,
    token_count     BIGINT,
    model           TEXT,
    created_at      TEXT NOT NULL,
    chain_seq       BIGINT NOT NULL,
    chain_prev_hash TEXT NOT NULL,
    chain_hash      TEXT NOT NULL,
    payload_digest  TEXT NOT NULL
);
CREATE INDEX events_node_seq ON events (node_id, chain_seq);

CREATE TABLE chain_heads (
    node_id    TEXT COLLATE "C" PRIMARY KEY,
    chain_hash TEXT NOT NULL,
    seq        BIGINT NOT NULL,
    updated_at TEXT NOT NULL
);

-- The counter row: the tree's size is the next leaf index. A writer locks
-- it last in its transaction and holds it until commit.
CREATE TABLE tree_head (
    id         INTEGER PRIMARY KEY CHECK (id = 1),
    size       BIGINT NOT NULL,
    root       BYTEA NOT NULL,
    updated_at TEXT NOT NULL
);
INSERT INTO tree_head (id, size, root, updated_at)
    VALUES (1, 0, '\xe3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855', '');

-- The tree's stored hashes (tlog.StoredHashIndex order), one segment per
-- batch: hashes holds the 32-byte hashes from index start on.
CREATE TABLE tree_segments (
    start  BIGINT PRIMARY KEY,
    hashes BYTEA NOT NULL
);

CREATE TABLE amendments (
    seq           BIGINT PRIMARY KEY,
    event_id      TEXT COLLATE "C" NOT NULL,
    kind          TEXT NOT NULL,
    fields        TEXT NOT NULL,
    digest_before TEXT NOT NULL,
    digest_after  TEXT NOT NULL,
    reason        TEXT NOT NULL,
    actor         TEXT NOT NULL,
    at            TEXT NOT NULL,
    prev_hash     TEXT NOT NULL,
    hash          TEXT NOT NULL,
    prune         TEXT
);
CREATE INDEX amendments_event ON amendments (event_id, seq);

CREATE TABLE amendment_head (
    id         INTEGER PRIMARY KEY CHECK (id = 1),
    hash       TEXT NOT NULL,
    seq        BIGINT NOT NULL,
    updated_at TEXT NOT NULL
);
INSERT INTO amendment_head (id, hash, seq, updated_at) VALUES (1, '', 0, '');

CREATE TABLE checkpoint_latest (
    id         INTEGER PRIMARY KEY CHECK (id = 1),
    size       BIGINT NOT NULL,
    note       TEXT NOT NULL,
    updated_at TEXT NOT NULL
);

CREATE TABLE cursors (
    source     TEXT COLLATE "C" NOT NULL,
    path       TEXT COLLATE "C" NOT NULL,
    byte_offset BIGINT NOT NULL,
    file_id    TEXT NOT NULL,
    size       BIGINT NOT NULL,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (source, path)
);
