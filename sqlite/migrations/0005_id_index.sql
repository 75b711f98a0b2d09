-- The id index in two tiers. Before this migration the events table's
-- PRIMARY KEY on id kept a B-tree keyed by random ids: every insert dirtied
-- about one index page of its own, so bulk ingest ran at a fraction of what
-- appending rows costs. The migration code rebuilds the events table
-- without that key (same columns, same rowids) before this file runs.
--
-- Ids are now unique by the store's own check, against two tiers:
--   * event_ids holds, for every row with rowid <= event_ids_upto.upto, the
--     first 8 bytes of SHA-256(id) as a signed integer and the row's rowid.
--     Its keys are 8 bytes rather than a 40-byte id, so the tree is small.
--   * the newer rows (the tail, rowid > upto) are found by the writer in
--     memory and by readers with a scan of the tail, which is kept short.
-- When the tail grows past a bound the writer moves it into event_ids in
-- one transaction, inserting in key order: each index page is then written
-- once per merge instead of once per event.
CREATE UNIQUE INDEX IF NOT EXISTS events_node_seq ON events (node_id, chain_seq);

CREATE TABLE IF NOT EXISTS event_ids (
    h   INTEGER NOT NULL,  -- first 8 bytes of SHA-256(id), big-endian, signed
    rid INTEGER NOT NULL,  -- events.rowid
    PRIMARY KEY (h, rid)
) WITHOUT ROWID;

-- One row: event_ids covers every events row with rowid <= upto.
CREATE TABLE IF NOT EXISTS event_ids_upto (
    id   INTEGER PRIMARY KEY CHECK (id = 1),
    upto INTEGER NOT NULL
);
