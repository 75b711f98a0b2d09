package sqlite

import (
	"chainlog"

	"zombiezen.com/go/sqlite"
)

// ChainLayout is how a store's events table holds its chains, as a store
// opened read-only finds it. A store opened for writing is always migrated
// to ChainsNumbered.
type ChainLayout int

// The layouts of the chain columns.
const (
	// ChainsNumbered: chain_seq, chain_prev_hash and chain_hash, chainlog's
	// schema from version 2.
	ChainsNumbered ChainLayout = iota
	// ChainsNone: no chain column, a store from before chains. Every row
	// is pre-chain.
	ChainsNone
	// ChainsUnnumbered: chain_prev_hash and chain_hash but no chain_seq, a
	// ClawMetry store that hashes its events. Each node's chain is its
	// stamped rows in insertion order, numbered as migration 2 would
	// number them (see readUnnumberedHeads and unnumberedSeq).
	ChainsUnnumbered
	// ChainsIncomplete: some chain columns but neither of the layouts
	// above, which neither chainlog nor ClawMetry writes. The rows are read
	// without their chain columns, as pre-chain.
	ChainsIncomplete
)

// ChainLayout returns the layout of the store's chain columns.
func (s *Store) ChainLayout() ChainLayout {
	if !s.readOnly {
		return ChainsNumbered
	}
	return s.chainLayout
}

// chainLayoutOf classifies the columns of an events table.
func chainLayoutOf(cols map[string]bool) ChainLayout {
	seq, prev, hash := cols["chain_seq"], cols["chain_prev_hash"], cols["chain_hash"]
	switch {
	case seq && prev && hash:
		return ChainsNumbered
	case !seq && !prev && !hash:
		return ChainsNone
	case !seq && prev && hash:
		return ChainsUnnumbered
	}
	return ChainsIncomplete
}

// unnumbered reports whether the store's chains are ClawMetry's, without
// chain_seq.
func (s *Store) unnumbered() bool {
	return s.readOnly && s.chainLayout == ChainsUnnumbered
}

// unnumberedSeq is the chain_seq that migration 2 (adoptClawMetryChains)
// gives a row of a ClawMetry store: its place among its node's rows that
// have a chain_hash, in insertion (rowid) order, from 1; NULL when the row
// has no chain_hash. It must be evaluated over all of a node's rows (no
// WHERE but one on node_id).
const unnumberedSeq = `CASE WHEN chain_hash IS NOT NULL THEN
	ROW_NUMBER() OVER (PARTITION BY node_id, chain_hash IS NULL ORDER BY rowid) END`

// unnumberedChainCols is chainCols for a ClawMetry store, with the seq
// as migration 2 would number it; unnumberedOrder is ScanChains' order
// over them: node_id, chain_seq with NULLs first, then commit order.
const (
	unnumberedChainCols = unnumberedSeq + ` AS derived_seq, chain_prev_hash, chain_hash`
	unnumberedOrder     = `node_id, derived_seq, rowid`
)

// readUnnumberedHeads returns the heads of a ClawMetry store's chains as
// migration 2 records them: the chain_heads row of a node when the store
// has that table, and otherwise the node's last row with a chain_hash,
// with its place in the chain as the seq. ClawMetry keeps no head: such a
// head always agrees with the rows, so rows deleted from the end of a
// chain cannot be seen, read-only as after an upgrade.
func readUnnumberedHeads(conn *sqlite.Conn, nodeID string) ([]chainlog.Head, error) {
	kept, err := columns(conn, "chain_heads")
	if err != nil {
		return nil, err
	}
	q := `SELECT node_id, chain_hash, n, '' FROM (
		SELECT node_id, chain_hash, COUNT(*) OVER (PARTITION BY node_id) AS n,
			ROW_NUMBER() OVER (PARTITION BY node_id ORDER BY rowid DESC) AS back
		FROM events WHERE chain_hash IS NOT NULL AND (?1 = '' OR node_id = ?1))
		WHERE back = 1`
	if len(kept) > 0 {
		q += ` AND node_id NOT IN (SELECT node_id FROM chain_heads)
		UNION ALL
		SELECT node_id, chain_hash, seq, updated_at FROM chain_heads WHERE ?1 = '' OR node_id = ?1`
	}
	return queryHeads(conn, q+` ORDER BY 1`, nodeID)
}
