-- The payload digest and the amendment trail. events.payload_digest (added
-- by the migration code where missing) is the SHA-256 of the mutable fields'
-- canonical form at ingest; rows from before this migration keep NULL and
-- are counted as unsealed.
CREATE TABLE IF NOT EXISTS amendments (
    seq           INTEGER PRIMARY KEY,   -- 1, 2, 3, ... in commit order
    event_id      TEXT NOT NULL,
    kind          TEXT NOT NULL,         -- 'amend' or 'redact'
    fields        TEXT NOT NULL,         -- JSON array of the changed field names
    digest_before TEXT NOT NULL,
    digest_after  TEXT NOT NULL,
    reason        TEXT NOT NULL,
    actor         TEXT NOT NULL,
    at            TEXT NOT NULL,
    prev_hash     TEXT NOT NULL,
    hash          TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS amendments_event ON amendments (event_id, seq);

-- The amendment chain's head: one row.
CREATE TABLE IF NOT EXISTS amendment_head (
    id         INTEGER PRIMARY KEY CHECK (id = 1),
    hash       TEXT NOT NULL,
    seq        INTEGER NOT NULL,
    updated_at TEXT NOT NULL
);
