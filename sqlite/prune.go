package sqlite

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"chainlog"

	"zombiezen.com/go/sqlite"
	"zombiezen.com/go/sqlite/sqlitex"
)

// prunesVersion is the schema version that adds the prune_ranges table.
const prunesVersion = 7

// pruneCols are the prune range of an amendment record a (NULL for every
// other kind), joined from prune_ranges r; pruneJoin is the join. A store
// from before prunes has none.
func (s *Store) pruneCols() (cols, join string) {
	if !s.hasPrunes {
		return `NULL, NULL, NULL, NULL, NULL, NULL`, ``
	}
	return `r.node_id, r.first_seq, r.last_seq, r.count, r.anchor, r.before`,
		` LEFT JOIN prune_ranges r ON r.seq = a.seq`
}

// readPruneCols reads pruneCols from col on into a.Prune.
func readPruneCols(stmt *sqlite.Stmt, col int, a *chainlog.Amendment) {
	if stmt.ColumnType(col) == sqlite.TypeNull {
		a.Prune = nil
		return
	}
	a.Prune = &chainlog.PruneRange{NodeID: stmt.ColumnText(col), FirstSeq: stmt.ColumnInt64(col + 1),
		LastSeq: stmt.ColumnInt64(col + 2), Count: stmt.ColumnInt64(col + 3),
		Anchor: stmt.ColumnText(col + 4), Before: stmt.ColumnText(col + 5)}
}

// huskCond is true of a row that is not a husk (chainlog.StoredEvent.Husk):
// the columns a prune empties. Readers that give events to users (export, queries, proofs)
// leave husks out; the verifier's scans read them.
const huskCond = `event_type <> ''`

// Prunes returns the trail's prune records in seq order, read from the
// trail itself, not through an index. It implements chainlog.PruneSource.
func (s *Store) Prunes(ctx context.Context) ([]chainlog.Amendment, error) {
	var out []chainlog.Amendment
	if !s.hasAmendments {
		return out, nil
	}
	cols, join := s.pruneCols()
	q := `SELECT a.seq, a.event_id, a.kind, a.fields, a.digest_before, a.digest_after, a.reason, a.actor, a.at,
		a.prev_hash, a.hash, ` + cols + ` FROM amendments a NOT INDEXED` + join + ` WHERE a.kind = 'prune' ORDER BY a.seq`
	err := s.withConn(ctx, func(conn *sqlite.Conn) error {
		return sqlitex.Execute(conn, q, &sqlitex.ExecOptions{ResultFunc: func(stmt *sqlite.Stmt) error {
			var a chainlog.Amendment
			readAmendment(stmt, &a)
			readPruneCols(stmt, 11, &a)
			out = append(out, a)
			return nil
		}})
	})
	return out, err
}

// prunedThrough returns, per node, the last seq its prune records cover.
func prunedThrough(conn *sqlite.Conn) (map[string]int64, error) {
	out := map[string]int64{}
	err := sqlitex.Execute(conn, `SELECT node_id, max(last_seq) FROM prune_ranges GROUP BY node_id`, &sqlitex.ExecOptions{
		ResultFunc: func(stmt *sqlite.Stmt) error {
			out[stmt.ColumnText(0)] = stmt.ColumnInt64(1)
			return nil
		}})
	return out, err
}

// PlanPrune returns the cuts a prune before the time would make: for
// each node (or only nodeID), the longest run of its chain after its last
// prune whose ts are all before the cut. It implements chainlog.Pruner.
func (s *Store) PlanPrune(ctx context.Context, before time.Time, nodeID string) ([]chainlog.PruneCut, error) {
	if !s.hasPrunes || !s.hasChain {
		return nil, fmt.Errorf("plan prune: the store's schema (version before %d) cannot record prunes: open it for writing once to migrate it", prunesVersion)
	}
	var cuts []chainlog.PruneCut
	err := s.withConn(ctx, func(conn *sqlite.Conn) (err error) {
		end := sqlitex.Transaction(conn) // one read snapshot
		defer end(&err)
		through, err := prunedThrough(conn)
		if err != nil {
			return err
		}
		heads, err := readHeads(conn, nodeID)
		if err != nil {
			return err
		}
		for _, h := range heads {
			if strings.HasPrefix(h.NodeID, chainlog.ReservedNodePrefix) {
				continue
			}
			c, ok, err := planNode(conn, h, through[h.NodeID], before)
			if err != nil {
				return fmt.Errorf("plan prune: node %q: %w", h.NodeID, err)
			}
			if ok {
				cuts = append(cuts, c)
			}
		}
		return nil
	})
	return cuts, err
}

// planNode walks node h's chain from the seq after done while the events
// are older than before.
func planNode(conn *sqlite.Conn, h chainlog.Head, done int64, before time.Time) (chainlog.PruneCut, bool, error) {
	c := chainlog.PruneCut{NodeID: h.NodeID, FirstSeq: done + 1, LastSeq: done}
	stmt := conn.Prep(`SELECT chain_seq, ts, chain_hash FROM events WHERE node_id = ?1 AND chain_seq > ?2 ORDER BY chain_seq`)
	defer stmt.Reset()
	stmt.BindText(1, h.NodeID)
	stmt.BindInt64(2, done)
	for {
		ok, err := stmt.Step()
		if err != nil {
			return c, false, err
		}
		if !ok {
			break
		}
		seq := stmt.ColumnInt64(0)
		if seq != c.LastSeq+1 {
			return c, false, fmt.Errorf("seq %d follows seq %d: the chain has a gap; run verify-integrity", seq, c.LastSeq)
		}
		ts, err := chainlog.ParseTS(stmt.ColumnText(1))
		if err != nil || !ts.Before(before) {
			break
		}
		c.LastSeq, c.Anchor = seq, hashText(stmt, 2)
	}
	return c, c.LastSeq >= c.FirstSeq, nil
}

// Prune makes husks of the cuts' events and appends one prune record per
// cut to the amendment trail, with the anchor event of the trail's new
// head, in one transaction: the events' identity fields other than id and
// node_id become empty and their mutable fields NULL; their chain
// columns, payload digest and leaf stay, so that the tree, its
// checkpoints and the remaining events' proofs still verify. Each cut
// must follow the node's last prune, and its anchor must be what the
// surviving chain links to (chainlog.CheckPruneRange); otherwise nothing
// is changed. It implements chainlog.Pruner.
//
// After the commit the WAL is truncated, as after a redaction, so that
// the pruned text does not stay in its older frames; the database file
// keeps its size (freed pages are zeroed and reused) until VACUUM.
func (s *Store) Prune(ctx context.Context, req chainlog.PruneRequest) ([]chainlog.Amendment, error) {
	if s.readOnly {
		return nil, fmt.Errorf("prune: %w", chainlog.ErrReadOnly)
	}
	if err := req.Check(); err != nil {
		return nil, fmt.Errorf("prune: %w", err)
	}
	if !s.hasPrunes {
		return nil, fmt.Errorf("prune: the store's schema cannot record prunes")
	}
	var recs []chainlog.Amendment
	err := s.withConn(ctx, func(conn *sqlite.Conn) error {
		if err := s.files.check(); err != nil {
			return err
		}
		var a appended
		err := func() (err error) {
			end, err := sqlitex.ImmediateTransaction(conn)
			if err != nil {
				return err
			}
			defer end(&err)
			recs, a, err = s.pruneTx(conn, &req)
			return err
		}()
		if err == nil {
			s.amendCommitted(recs, a)
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	if err := s.truncateWAL(ctx); err != nil {
		s.opts.Logger.Error("prune committed, but the pruned text remains in the WAL", "amendment", recs[len(recs)-1].Seq, "err", err)
		return recs, fmt.Errorf("prune committed (amendment #%d), but %w", recs[len(recs)-1].Seq, err)
	}
	return recs, nil
}

func (s *Store) pruneTx(conn *sqlite.Conn, req *chainlog.PruneRequest) ([]chainlog.Amendment, appended, error) {
	var a appended
	if err := s.recheckSchema(conn); err != nil {
		return nil, a, fmt.Errorf("prune: %w", err)
	}
	head, err := readAmendmentHead(conn)
	if err != nil {
		return nil, a, err
	}
	if h := s.amendHead; behind(h.Seq, h.Hash, head.Seq, head.Hash) {
		return nil, a, fmt.Errorf("prune: %w: the amendment head moved back from seq %d (%s) to seq %d (%s)",
			ErrTampered, h.Seq, orNone(h.Hash), head.Seq, orNone(head.Hash))
	}
	s.amendHead = head
	old := head
	now := s.timestamp()
	before := chainlog.FormatPruneTime(req.Before)
	cuts := slices.Clone(req.Cuts)
	slices.SortFunc(cuts, func(x, y chainlog.PruneCut) int { return strings.Compare(x.NodeID, y.NodeID) })
	recs := make([]chainlog.Amendment, 0, len(cuts))
	for i, c := range cuts {
		if i > 0 && cuts[i-1].NodeID == c.NodeID {
			return nil, a, fmt.Errorf("prune: node %q has two cuts", c.NodeID)
		}
		r, err := s.pruneCut(conn, c, before)
		if err != nil {
			return nil, a, fmt.Errorf("prune: node %q: %w", c.NodeID, err)
		}
		rec := chainlog.Amendment{Seq: head.Seq + 1, Kind: chainlog.KindPrune, Fields: []string{},
			Reason: req.Reason, Actor: req.Actor, At: now, Prune: r, PrevHash: head.Prev()}
		rec.Hash = chainlog.AmendmentHash(rec.PrevHash, &rec)
		if err := insertAmendment(conn, &rec); err != nil {
			return nil, a, fmt.Errorf("prune: node %q: record: %w", c.NodeID, err)
		}
		if err := sqlitex.Execute(conn, `INSERT INTO prune_ranges (seq, node_id, first_seq, last_seq, count, anchor, before)
			VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)`, &sqlitex.ExecOptions{
			Args: []any{rec.Seq, r.NodeID, r.FirstSeq, r.LastSeq, r.Count, r.Anchor, r.Before}}); err != nil {
			return nil, a, fmt.Errorf("prune: node %q: range: %w", c.NodeID, err)
		}
		head = chainlog.Head{Hash: rec.Hash, Seq: rec.Seq, UpdatedAt: now}
		recs = append(recs, rec)
	}
	if err := casAmendmentHead(conn, old, head); err != nil {
		return nil, a, err
	}
	a, err = s.anchorTx(conn, head, now)
	return recs, a, err
}

// pruneCut checks cut against the store (the prefix rule) and makes husks
// of its events.
func (s *Store) pruneCut(conn *sqlite.Conn, c chainlog.PruneCut, before string) (*chainlog.PruneRange, error) {
	if err := chainlog.CheckUserNodeID(c.NodeID); err != nil {
		return nil, err
	}
	r := &chainlog.PruneRange{NodeID: c.NodeID, FirstSeq: c.FirstSeq, LastSeq: c.LastSeq,
		Count: c.LastSeq - c.FirstSeq + 1, Anchor: c.Anchor, Before: before}
	through, err := prunedThrough(conn)
	if err != nil {
		return nil, err
	}
	var prev *chainlog.PruneRange
	if t, ok := through[c.NodeID]; ok {
		prev = &chainlog.PruneRange{LastSeq: t}
	}
	next, err := attestedAnchor(conn, c.NodeID, c.LastSeq)
	if err != nil {
		return nil, err
	}
	if err := chainlog.CheckPruneRange(r, prev, next); err != nil {
		return nil, err
	}
	err = sqlitex.Execute(conn, `UPDATE events SET agent_type = '', agent_id = '', event_type = '', ts = '',
		session_id = NULL, workspace_id = NULL, data = NULL, cost_usd = NULL, token_count = NULL, model = NULL
		WHERE node_id = ?1 AND chain_seq BETWEEN ?2 AND ?3`, &sqlitex.ExecOptions{Args: []any{c.NodeID, c.FirstSeq, c.LastSeq}})
	if err != nil {
		return nil, err
	}
	if n := int64(conn.Changes()); n != r.Count {
		return nil, fmt.Errorf("%w: seq %d-%d holds %d events, not %d", ErrTampered, c.FirstSeq, c.LastSeq, n, r.Count)
	}
	return r, nil
}

// attestedAnchor is what the surviving chain of node says the hash of its
// event at seq is: the chain_prev_hash of the event after it, or the
// node's head hash when seq is the head.
func attestedAnchor(conn *sqlite.Conn, node string, seq int64) (string, error) {
	var next string
	found := false
	err := sqlitex.Execute(conn, `SELECT chain_prev_hash FROM events WHERE node_id = ?1 AND chain_seq = ?2`, &sqlitex.ExecOptions{
		Args: []any{node, seq + 1},
		ResultFunc: func(stmt *sqlite.Stmt) error {
			next, found = hashText(stmt, 0), true
			return nil
		}})
	if err != nil || found {
		return next, err
	}
	heads, err := readHeads(conn, node)
	if err != nil {
		return "", err
	}
	if len(heads) == 1 && heads[0].Seq == seq {
		return heads[0].Hash, nil
	}
	return "", nil
}

// Vacuum rebuilds the database file without its free pages (SQLite's
// VACUUM), and returns the store's size in bytes, page count times page
// size, before and after. A prune frees the pages its husks no longer
// fill; they are zeroed (secure_delete) and reused by later writes, and
// only VACUUM gives them back to the file system. It needs free disk space
// the size of the store, and holds the write lock while it runs.
func (s *Store) Vacuum(ctx context.Context) (before, after int64, err error) {
	if s.readOnly {
		return 0, 0, fmt.Errorf("vacuum: %w", chainlog.ErrReadOnly)
	}
	err = s.withConn(ctx, func(conn *sqlite.Conn) error {
		if err := s.files.check(); err != nil {
			return err
		}
		if before, err = dbBytes(conn); err != nil {
			return err
		}
		if err := sqlitex.ExecuteTransient(conn, "VACUUM", nil); err != nil {
			return fmt.Errorf("vacuum: %w", err)
		}
		after, err = dbBytes(conn)
		return err
	})
	if err != nil {
		return 0, 0, err
	}
	// VACUUM wrote the whole database through the WAL.
	if err := s.truncateWAL(ctx); err != nil {
		return before, after, err
	}
	return before, after, nil
}

// dbBytes is the database's size: its page count times its page size.
func dbBytes(conn *sqlite.Conn) (int64, error) {
	var n int64
	err := sqlitex.ExecuteTransient(conn, "SELECT page_count * page_size FROM pragma_page_count(), pragma_page_size()", &sqlitex.ExecOptions{
		ResultFunc: func(stmt *sqlite.Stmt) error { n = stmt.ColumnInt64(0); return nil }})
	return n, err
}
