package sqlite

import (
	"context"
	"errors"

	"chainlog"

	"zombiezen.com/go/sqlite"
	"zombiezen.com/go/sqlite/sqlitex"
)

// Snapshot runs fn inside one read transaction: every read the store makes
// during fn sees the same committed state, even while another process
// writes. verify-integrity uses it so that heads and rows agree. A snapshot
// holds back WAL checkpoints while it lasts; a long-running process should
// prefer the range scans, which read in short chunks.
func (s *Store) Snapshot(ctx context.Context, fn func() error) (err error) {
	if err := s.withConn(ctx, func(conn *sqlite.Conn) error {
		return sqlitex.ExecuteTransient(conn, "BEGIN", nil)
	}); err != nil {
		return err
	}
	defer func() {
		cerr := s.withConn(context.Background(), func(conn *sqlite.Conn) error {
			return sqlitex.ExecuteTransient(conn, "COMMIT", nil)
		})
		if err == nil {
			err = cerr
		}
	}()
	return fn()
}

// scanChunk is how many rows a range scan reads per statement. Between
// chunks the statement is reset, which ends its read transaction, so that a
// long scan does not hold back WAL checkpoints.
const scanChunk = 10000

// scanKeyset runs q, which must take its keyset cursor through bind and end
// with "LIMIT ?<limitParam>", chunk after chunk until a chunk comes back
// short. row is called for each row and must advance the cursor.
func scanKeyset(conn *sqlite.Conn, q string, limitParam int, bind func(*sqlite.Stmt), row func(*sqlite.Stmt) error) error {
	stmt := conn.Prep(q)
	for {
		bind(stmt)
		stmt.BindInt64(limitParam, scanChunk)
		n := 0
		for {
			ok, err := stmt.Step()
			if err != nil {
				stmt.Reset()
				return err
			}
			if !ok {
				break
			}
			n++
			if err := row(stmt); err != nil {
				stmt.Reset()
				return err
			}
		}
		if err := stmt.Reset(); err != nil {
			return err
		}
		if n < scanChunk {
			return nil
		}
	}
}

// ScanChainRange streams nodeID's stamped rows with afterSeq < chain_seq <=
// uptoSeq, in chain_seq order, in short chunks: it never holds a read
// transaction for long, whatever the range. The daemon's incremental
// verification reads new rows with it, bounded by a head read first, so
// that rows committed meanwhile are left for the next round. With afterSeq
// < 0 it first streams the node's rows whose chain_seq is NULL, in commit
// order, as ScanChains orders them.
func (s *Store) ScanChainRange(ctx context.Context, nodeID string, afterSeq, uptoSeq int64, fn func(*chainlog.StoredEvent) error) error {
	if !s.hasChain {
		return errors.New("scan chain range: the store has no chain columns")
	}
	// Not lastDigestColumn: its shortcut for an empty trail holds within
	// one read transaction only, and each chunk below is its own: the
	// first amendment may commit between them.
	last := "NULL"
	if s.hasAmendments {
		last = lastDigestExpr
	}
	return s.withConn(ctx, func(conn *sqlite.Conn) error {
		cols := `SELECT ` + identityCols + `, ` + chainCols + `, data, cost_usd, token_count, model, ` +
			s.payloadColumn() + `, ` + last + `, rowid FROM events`
		var e chainlog.StoredEvent
		if afterSeq < 0 {
			rowid := int64(0)
			err := scanKeyset(conn, cols+` WHERE node_id = ?1 AND chain_seq IS NULL AND rowid > ?2 ORDER BY rowid LIMIT ?3`, 3,
				func(stmt *sqlite.Stmt) {
					stmt.BindText(1, nodeID)
					stmt.BindInt64(2, rowid)
				}, func(stmt *sqlite.Stmt) error {
					e = chainlog.StoredEvent{}
					readChainRow(stmt, &e)
					rowid = stmt.ColumnInt64(17)
					return fn(&e)
				})
			if err != nil {
				return err
			}
			afterSeq = 0
		}
		q := cols + ` WHERE node_id = ?1 AND (chain_seq, rowid) > (?2, ?3) AND chain_seq <= ?4
			ORDER BY chain_seq, rowid LIMIT ?5`
		seq, rowid := afterSeq, int64(1<<63-1)
		return scanKeyset(conn, q, 5, func(stmt *sqlite.Stmt) {
			stmt.BindText(1, nodeID)
			stmt.BindInt64(2, seq)
			stmt.BindInt64(3, rowid)
			stmt.BindInt64(4, uptoSeq)
		}, func(stmt *sqlite.Stmt) error {
			e = chainlog.StoredEvent{}
			readChainRow(stmt, &e)
			seq, rowid = e.Seq, stmt.ColumnInt64(17)
			return fn(&e)
		})
	})
}

// readChainRow decodes the columns ScanChains and ScanChainRange select.
func readChainRow(stmt *sqlite.Stmt, e *chainlog.StoredEvent) {
	readIdentity(stmt, 0, &e.Event)
	readChain(stmt, 8, e)
	var m chainlog.Mutable
	readMutableCols(stmt, 11, &m)
	e.SetMutable(m)
	e.PayloadDigest = hashText(stmt, 15)
	e.LastDigest = stmt.ColumnText(16)
}

// ScanLeafRange streams the leaves with afterLeaf < leaf_index < uptoLeaf in
// commit order, in short chunks, recomputed from the events' columns.
func (s *Store) ScanLeafRange(ctx context.Context, afterLeaf, uptoLeaf int64, fn func(index int64, l *chainlog.Leaf) error) error {
	if !s.hasTree {
		return nil
	}
	return s.withConn(ctx, func(conn *sqlite.Conn) error {
		// Leaves are in rowid order: find where the range starts, then walk
		// by rowid.
		var after int64
		switch {
		case afterLeaf >= 0 && s.leafCursor.leaf == afterLeaf:
			// Where the last range scan stopped: no need to look the leaf
			// up (leaf_index has no index; the lookup would read the table).
			after = s.leafCursor.rowid
		case afterLeaf >= 0:
			var err error
			if after, err = leafRowid(conn, afterLeaf); err != nil {
				return err
			}
		}
		q := `SELECT leaf_index, node_id, chain_seq, chain_hash, payload_digest, rowid FROM events
			WHERE rowid > ?1 AND leaf_index IS NOT NULL ORDER BY rowid LIMIT ?2`
		var l chainlog.Leaf
		errDone := errors.New("done")
		err := scanKeyset(conn, q, 2, func(stmt *sqlite.Stmt) { stmt.BindInt64(1, after) }, func(stmt *sqlite.Stmt) error {
			after = stmt.ColumnInt64(5)
			idx := stmt.ColumnInt64(0)
			if idx >= uptoLeaf {
				return errDone
			}
			s.leafCursor = leafCursor{leaf: idx, rowid: after}
			l = chainlog.Leaf{NodeID: stmt.ColumnText(1), Seq: stmt.ColumnInt64(2),
				ChainHash: hashText(stmt, 3), PayloadDigest: hashText(stmt, 4)}
			return fn(idx, &l)
		})
		if err == errDone {
			return nil
		}
		return err
	})
}

// ScanAmendmentRange streams amendment records with afterSeq < seq <=
// uptoSeq, in short chunks, each with the digest its event had just before.
func (s *Store) ScanAmendmentRange(ctx context.Context, afterSeq, uptoSeq int64, fn func(*chainlog.AmendmentScan) error) error {
	if !s.hasAmendments {
		return nil
	}
	ingest := "NULL"
	if s.hasPayload {
		ingest = "e.payload_digest"
	}
	cols, join := s.pruneCols()
	q := `SELECT a.seq, a.event_id, a.kind, a.fields, a.digest_before, a.digest_after, a.reason, a.actor,
		a.at, a.prev_hash, a.hash,
		COALESCE((SELECT p.digest_after FROM amendments p WHERE p.event_id = a.event_id AND p.seq < a.seq
			ORDER BY p.seq DESC LIMIT 1), ` + ingest + `, ''),
		e.id IS NOT NULL, ` + cols + `
		FROM amendments a LEFT JOIN events e ON e.id = a.event_id` + join + `
		WHERE a.seq > ?1 AND a.seq <= ?2 ORDER BY a.seq LIMIT ?3`
	return s.withConn(ctx, func(conn *sqlite.Conn) error {
		seq := afterSeq
		var a chainlog.AmendmentScan
		return scanKeyset(conn, q, 3, func(stmt *sqlite.Stmt) {
			stmt.BindInt64(1, seq)
			stmt.BindInt64(2, uptoSeq)
		}, func(stmt *sqlite.Stmt) error {
			a = chainlog.AmendmentScan{}
			readAmendment(stmt, &a.Amendment)
			a.ExpectedBefore = hashText(stmt, 11)
			a.EventExists = stmt.ColumnBool(12)
			readPruneCols(stmt, 13, &a.Amendment)
			seq = a.Seq
			return fn(&a)
		})
	})
}

// Nodes lists every node_id that has rows, in byte order.
func (s *Store) Nodes(ctx context.Context) ([]string, error) {
	var nodes []string
	err := s.withConn(ctx, func(conn *sqlite.Conn) error {
		return sqlitex.Execute(conn, `SELECT DISTINCT node_id FROM events ORDER BY node_id`, &sqlitex.ExecOptions{
			ResultFunc: func(stmt *sqlite.Stmt) error { nodes = append(nodes, stmt.ColumnText(0)); return nil },
		})
	})
	return nodes, err
}

// CountPreChain counts nodeID's rows that carry no chain columns.
func (s *Store) CountPreChain(ctx context.Context, nodeID string) (int64, error) {
	var n int64
	q := `SELECT count(*) FROM events WHERE node_id = ?1`
	if s.hasChain {
		q += ` AND chain_seq IS NULL AND chain_hash IS NULL AND chain_prev_hash IS NULL`
	}
	if s.unnumbered() {
		q += ` AND chain_hash IS NULL AND chain_prev_hash IS NULL` // and so no seq
	}
	err := s.withConn(ctx, func(conn *sqlite.Conn) error {
		return sqlitex.Execute(conn, q, &sqlitex.ExecOptions{
			Args:       []any{nodeID},
			ResultFunc: func(stmt *sqlite.Stmt) error { n = stmt.ColumnInt64(0); return nil },
		})
	})
	return n, err
}

// Store implements chainlog.RangeSource.
var _ chainlog.RangeSource = (*Store)(nil)

// leafRowid returns the rowid of the row holding leaf, 0 when none does.
// Leaves are numbered in rowid order, so it searches by rowid, a few
// probes of the table's b-tree; leaf_index has no index of its own. Where
// the search misses (a store whose leaf numbers are out of rowid order,
// which verification reports), it reads the table for the exact row.
func leafRowid(conn *sqlite.Conn, leaf int64) (int64, error) {
	var lo, hi int64
	err := sqlitex.Execute(conn, `SELECT ifnull(min(rowid), 1), ifnull(max(rowid), 0) FROM events`, &sqlitex.ExecOptions{
		ResultFunc: func(stmt *sqlite.Stmt) error { lo, hi = stmt.ColumnInt64(0), stmt.ColumnInt64(1); return nil },
	})
	if err != nil {
		return 0, err
	}
	for lo <= hi {
		mid := lo + (hi-lo)/2
		var rowid, index int64
		found := false
		err := sqlitex.Execute(conn, `SELECT rowid, leaf_index FROM events
			WHERE rowid >= ?1 AND leaf_index IS NOT NULL ORDER BY rowid LIMIT 1`, &sqlitex.ExecOptions{
			Args: []any{mid},
			ResultFunc: func(stmt *sqlite.Stmt) error {
				rowid, index, found = stmt.ColumnInt64(0), stmt.ColumnInt64(1), true
				return nil
			},
		})
		switch {
		case err != nil:
			return 0, err
		case !found || index > leaf:
			hi = mid - 1
		case index == leaf:
			return rowid, nil
		default:
			lo = rowid + 1
		}
	}
	var rowid int64
	err = sqlitex.Execute(conn, `SELECT rowid FROM events WHERE leaf_index = ?1`, &sqlitex.ExecOptions{
		Args:       []any{leaf},
		ResultFunc: func(stmt *sqlite.Stmt) error { rowid = stmt.ColumnInt64(0); return nil },
	})
	return rowid, err
}
