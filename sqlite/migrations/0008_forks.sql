-- Fork evidence of a collector (see chainlog.Replicate): one row per
-- contradiction a node's forwarded batch showed, with both rows as export
-- writes them. A node with an unresolved fork (resolved_at NULL) is
-- quarantined; an operator resolves it, and the resolution is kept. Rows
-- are never deleted.
CREATE TABLE IF NOT EXISTS forks (
    id          INTEGER PRIMARY KEY,  -- 1, 2, 3, ... in detection order
    node_id     TEXT NOT NULL,
    seq         INTEGER NOT NULL,     -- the contradicted chain_seq
    stored_id   TEXT NOT NULL,        -- the collector's row's id; '' none
    event_id    TEXT NOT NULL,        -- the arriving row's id
    expected    TEXT NOT NULL,        -- the hash the collector holds
    found       TEXT NOT NULL,        -- the hash the node sent
    detail      TEXT NOT NULL,
    stored_row  TEXT NOT NULL,        -- JSON, as export writes it; '' none
    arrived_row TEXT NOT NULL,        -- JSON, as export writes it
    detected_at TEXT NOT NULL,
    resolved_at TEXT,                 -- NULL until an operator resolves it
    resolved_by TEXT,
    resolution  TEXT
);
CREATE INDEX IF NOT EXISTS forks_node ON forks (node_id);
