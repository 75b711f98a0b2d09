-- The Merkle tree (RFC 6962) over every stamped event in global commit
-- order, stored as golang.org/x/mod/sumdb/tlog lays it out: stored hash i is
-- tlog.StoredHashIndex(level, n). The hashes a batch of leaves adds have
-- contiguous indexes, so a batch writes them as a few segments: hashes
-- start, start+1, ... concatenated, 32 bytes each, at most 64 a segment. events.leaf_index (added by the
-- migration code where missing) is each stamped event's leaf; the migration
-- code also builds the tree for the rows already stamped. Leaves are
-- numbered in commit order, so they are in rowid order: the verifier walks
-- them by rowid and checks that the numbers run 0, 1, 2, ... (an index on
-- leaf_index would cost every insert another B-tree).
CREATE TABLE IF NOT EXISTS merkle_segments (
    start  INTEGER PRIMARY KEY,
    hashes BLOB NOT NULL
);

-- The tree's size and root, moved by compare-and-swap with every batch.
CREATE TABLE IF NOT EXISTS tree_head (
    id         INTEGER PRIMARY KEY CHECK (id = 1),
    size       INTEGER NOT NULL,
    root       BLOB NOT NULL,
    updated_at TEXT NOT NULL
);

-- The latest signed checkpoint (a C2SP signed note). The checkpoint file
-- kept outside the database is the one that counts; this copy serves
-- proofs and the daemon.
CREATE TABLE IF NOT EXISTS checkpoint_latest (
    id         INTEGER PRIMARY KEY CHECK (id = 1),
    size       INTEGER NOT NULL,
    note       TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
