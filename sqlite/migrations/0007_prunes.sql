-- Retention: the range each prune record of the amendment trail names
-- (kind 'prune'), one row per record, keyed by the record's seq. The
-- record's hash covers these columns; the pruned rows themselves stay in
-- events as husks (id, node_id, chain columns, payload_digest, leaf_index).
CREATE TABLE IF NOT EXISTS prune_ranges (
    seq       INTEGER PRIMARY KEY,  -- the amendment record's seq
    node_id   TEXT NOT NULL,
    first_seq INTEGER NOT NULL,
    last_seq  INTEGER NOT NULL,
    count     INTEGER NOT NULL,
    anchor    TEXT NOT NULL,        -- chain_hash of the last pruned event
    before    TEXT NOT NULL         -- the cut time the range was planned with
);
