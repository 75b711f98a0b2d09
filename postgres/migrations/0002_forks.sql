-- Fork evidence a collector records: a node that sent a second history
-- (docs/scale.md). Both rows are kept as export writes them; a row is
-- never deleted, and an operator's resolution is recorded on it.
CREATE TABLE forks (
    id          BIGINT PRIMARY KEY,
    node_id     TEXT COLLATE "C" NOT NULL,
    seq         BIGINT NOT NULL,
    stored_id   TEXT NOT NULL,
    event_id    TEXT NOT NULL,
    expected    TEXT NOT NULL,
    found       TEXT NOT NULL,
    detail      TEXT NOT NULL,
    stored_row  TEXT NOT NULL,
    arrived_row TEXT NOT NULL,
    detected_at TEXT NOT NULL,
    resolved_at TEXT,
    resolved_by TEXT,
    resolution  TEXT
);
CREATE INDEX forks_node ON forks (node_id, id);
