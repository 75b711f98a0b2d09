-- Per-node hash chains. The chain columns themselves (chain_prev_hash,
-- chain_hash, chain_seq) are added by the migration code only where they are
-- missing, so that a ClawMetry store that already has some of them upgrades
-- too. Rows that exist before this migration keep NULL chain columns and
-- count as pre-chain.
CREATE TABLE IF NOT EXISTS chain_heads (
    node_id    TEXT PRIMARY KEY,
    chain_hash TEXT NOT NULL,
    seq        INTEGER NOT NULL,
    updated_at TEXT NOT NULL
);

-- One row per (node, seq); NULL seqs (pre-chain rows) may repeat. The index
-- also serves the verifier's walk in chain order.
CREATE UNIQUE INDEX IF NOT EXISTS events_node_seq ON events (node_id, chain_seq);
