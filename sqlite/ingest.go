package sqlite

import (
	"context"
	"errors"
	"fmt"

	"chainlog"

	"golang.org/x/mod/sumdb/tlog"
	"zombiezen.com/go/sqlite"
	"zombiezen.com/go/sqlite/sqlitex"
)

const insertEvent = `
INSERT INTO events (id, agent_type, node_id, agent_id, session_id, workspace_id, event_type, ts,
    data, cost_usd, token_count, model, created_at, chain_seq, chain_prev_hash, chain_hash, payload_digest,
    leaf_index)
VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18)`

// maxConflictRetries bounds how often Ingest re-reads the chain heads after
// another writer moved them.
const maxConflictRetries = 5

// Ingest commits events in one transaction, in slice order, which is the
// chain order of each node. An event whose id is already stored, or repeated
// earlier in the slice, is counted as a duplicate and changes nothing.
//
// Chains are stamped in the same transaction as the insert, and each node's
// head moves by compare-and-swap in it; the in-memory heads move only after
// the commit. When another process moved a head in between, the batch is
// rolled back and retried on the fresh heads. Events must already be
// validated (chainlog.DecodeEvent). The cursors are upserted in the same
// transaction (see chainlog.Store).
func (s *Store) Ingest(ctx context.Context, events []chainlog.Event, cursors ...chainlog.Cursor) (chainlog.IngestResult, error) {
	res, err := s.IngestGroups(ctx, [][]chainlog.Event{events}, cursors...)
	if err != nil {
		return chainlog.IngestResult{}, err
	}
	return res[0], nil
}

// IngestGroups is Ingest for several groups of events (the requests a
// daemon merges into one commit): all groups are committed in one
// transaction, in order, and each gets its own counts. The cursors are
// upserted in that transaction, after the events, in order.
func (s *Store) IngestGroups(ctx context.Context, groups [][]chainlog.Event, cursors ...chainlog.Cursor) ([]chainlog.IngestResult, error) {
	if s.readOnly {
		return nil, fmt.Errorf("ingest: %w", chainlog.ErrReadOnly)
	}
	for _, g := range groups {
		for i := range g {
			if err := chainlog.CheckUserNodeID(g[i].NodeID); err != nil {
				return nil, fmt.Errorf("ingest: event %q: %w", g[i].ID, err)
			}
		}
	}
	var res []chainlog.IngestResult
	err := s.writeAppending(ctx, nil, func(conn *sqlite.Conn) (appended, error) {
		a, err := s.appendTx(conn, groups, cursors, s.timestamp())
		res = a.res
		return a, err
	})
	if err != nil {
		return nil, fmt.Errorf("ingest: %w", err)
	}
	return res, nil
}

// writeAppending runs tx in one immediate write transaction on the store's
// connection: the way every write whose events go through appendTx
// commits (Ingest, a collector's Replicate). The files are checked before
// it, and again before the commit is acknowledged (see
// chainlog.ErrFilesReplaced). When another process moved a chain head or
// the tree (chainlog.ErrConflict), the transaction is rolled back, the
// heads are read again, and tx runs again from the start. The in-memory
// heads, tree head and id tail move to what tx appended only after the
// commit (committed); a tx that appended nothing returns an appended whose
// res is nil. An error for which keep reports true is committed with what
// tx wrote, and returned; any other error rolls the transaction back.
func (s *Store) writeAppending(ctx context.Context, keep func(error) bool, tx func(conn *sqlite.Conn) (appended, error)) error {
	return s.withConn(ctx, func(conn *sqlite.Conn) error {
		// Never write to files that are no longer the store (see
		// chainlog.ErrFilesReplaced), and check again before a commit is
		// acknowledged.
		if err := s.files.check(); err != nil {
			return err
		}
		for attempt := 0; ; attempt++ {
			a, err := s.appendingTx(conn, keep, tx)
			if errors.Is(err, chainlog.ErrConflict) && attempt < maxConflictRetries {
				if err := s.reloadHeads(conn); err != nil {
					return err
				}
				s.opts.Logger.Warn("chain head moved by another writer; retrying batch", "attempt", attempt+1)
				continue
			}
			if err != nil && (keep == nil || !keep(err)) {
				return err
			}
			if a.res != nil {
				s.committed(a)
			}
			if err := s.files.check(); err != nil {
				return fmt.Errorf("the batch was committed to a file that is no longer the store, and is not acknowledged: %w", err)
			}
			if len(s.tail.ids) >= s.opts.IDTailMergeAt {
				// The batch is committed whatever happens here; a tail
				// left long is merged by a later batch.
				if err := s.mergeTail(conn); err != nil {
					s.opts.Logger.Warn("merging the id index's tail failed; will retry", "err", err)
				}
			}
			return err // nil, or the kept error of a committed transaction
		}
	})
}

// appendingTx runs tx in one immediate transaction, after checking the
// schema again, and commits it when tx returns nil or an error keep
// reports true for (then returned after the commit).
func (s *Store) appendingTx(conn *sqlite.Conn, keep func(error) bool, tx func(conn *sqlite.Conn) (appended, error)) (a appended, err error) {
	end, err := sqlitex.ImmediateTransaction(conn)
	if err != nil {
		return a, err
	}
	var kept error
	defer func() {
		end(&err)
		if err == nil {
			err = kept
		}
	}()
	if err := s.recheckSchema(conn); err != nil {
		return a, err
	}
	a, err = tx(conn)
	if err != nil && keep != nil && keep(err) {
		kept, err = err, nil
	}
	return a, err
}

// appended is what one appendTx wrote: each group's counts, the chain heads
// it moved, the new tree head and the id index's new rows. The in-memory
// state takes it only after the commit (committed).
type appended struct {
	res   []chainlog.IngestResult
	moved map[string]chainlog.Head
	tree  TreeHead
	added []idRow
}

// committed moves the in-memory heads, tree head and id tail to what a
// committed appendTx wrote.
func (s *Store) committed(a appended) {
	for node, h := range a.moved {
		s.heads[node] = h
	}
	s.tree = a.tree
	s.tail.add(a.added)
}

// appendTx stamps and appends groups inside the caller's write transaction,
// at time now: the one path that writes events, for Ingest and for the
// anchor events of amendTx. It drops duplicates, inserts the rows, upserts
// the cursors (Ingest's; the anchors have none), writes
// the tree's hashes and moves every chain head and the tree head by
// compare-and-swap. The caller commits, then calls committed.
func (s *Store) appendTx(conn *sqlite.Conn, groups [][]chainlog.Event, cursors []chainlog.Cursor, now string) (a appended, err error) {
	if err := s.tail.sync(conn); err != nil {
		return a, err
	}
	if s.opts.DisableIntegrity {
		if err := refuseUnchained(conn); err != nil {
			return a, err
		}
	}
	if t := &s.tail; t.keys == nil {
		for _, g := range groups {
			t.lookups += len(g)
		}
		if t.lookups >= s.opts.IDKeySetAfter {
			if err := t.loadKeys(conn); err != nil {
				return a, err
			}
		}
	}
	tw := newTreeWriter(conn, s.tree.Size)
	var lt *appendLog // the feed's, on the tree's frontier
	if !s.opts.DisableIntegrity && !s.opts.DisableTree {
		fr, err := readFrontier(s.tree.Size, tw)
		if err != nil {
			return a, err
		}
		if err := checkFrontier(s.tree, fr); err != nil {
			return a, err
		}
		log := newAppendLog(s.tree.Size, fr)
		lt = &log
	}
	f := s.startFeed(groups, now, lt)
	defer func() {
		for range f.ready { // wait for the feed's goroutine to end
		}
	}()
	stmt := conn.Prep(insertEvent)
	var added []idRow
	i := 0
	for avail := range f.ready {
		for ; i < avail; i++ {
			r := &f.rows[i]
			if err := insertRow(conn, stmt, r.e, now, r.st); err != nil {
				return a, fmt.Errorf("event %q: %w", r.e.ID, err)
			}
			added = append(added, idRow{r.e.ID, conn.LastInsertRowID()})
		}
	}
	if f.err != nil {
		return a, f.err
	}
	if err := s.writeCursors(conn, cursors, now); err != nil {
		return a, err
	}
	if lt != nil {
		tw.pending, tw.size = lt.pending, lt.size
	}
	for node, next := range f.moved {
		if err := casHead(conn, s.heads[node], next); err != nil {
			return a, err
		}
	}
	tree := s.tree
	if tw.size != s.tree.Size {
		root, err := tw.root()
		if err != nil {
			return a, err
		}
		if err := tw.flush(); err != nil {
			return a, err
		}
		tree = TreeHead{Size: tw.size, Root: root}
		if err := casTreeHead(conn, s.tree, tree, now); err != nil {
			return a, err
		}
	}
	return appended{res: f.res, moved: f.moved, tree: tree, added: added}, nil
}

// stamp is what integrity adds to a row: the chain head it creates and
// the hash it follows, its payload digest, and its leaf index (-1 for
// none) and leaf hash.
type stamp struct {
	head     chainlog.Head
	prev     string
	digest   string
	leaf     int64
	leafHash tlog.Hash
}

func (s *Store) stampFor(h *chainlog.Hasher, head chainlog.Head, e *chainlog.Event, now string, leaf int64) stamp {
	st := stamp{head: head.Next(h, e, now), prev: head.Prev(), leaf: leaf}
	if !s.opts.DisablePayloadDigest {
		m := e.Mutable()
		st.digest = h.PayloadSum(&m)
	}
	if s.opts.DisableTree {
		st.leaf = -1
	} else {
		l := chainlog.Leaf{NodeID: e.NodeID, Seq: st.head.Seq, ChainHash: st.head.Hash, PayloadDigest: st.digest}
		st.leafHash = chainlog.LeafHash(&l)
	}
	return st
}

// insertRow inserts e, with the chain stamp st unless it is zero.
func insertRow(conn *sqlite.Conn, stmt *sqlite.Stmt, e *chainlog.Event, now string, st stamp) error {
	defer stmt.Reset()
	stmt.BindText(1, e.ID)
	stmt.BindText(2, e.AgentType)
	stmt.BindText(3, e.NodeID)
	stmt.BindText(4, e.AgentID)
	bindNullableText(stmt, 5, e.SessionID)
	bindNullableText(stmt, 6, e.WorkspaceID)
	stmt.BindText(7, e.EventType)
	stmt.BindText(8, e.TS)
	m := e.Mutable()
	bindMutable(stmt, 9, &m)
	stmt.BindText(13, now)
	if st.head.Seq == 0 {
		for i := 14; i <= 18; i++ {
			stmt.BindNull(i)
		}
	} else {
		stmt.BindInt64(14, st.head.Seq)
		bindHash(stmt, 15, st.prev)
		bindHash(stmt, 16, st.head.Hash)
		bindHash(stmt, 17, st.digest)
		if st.leaf < 0 {
			stmt.BindNull(18)
		} else {
			stmt.BindInt64(18, st.leaf)
		}
	}
	if _, err := stmt.Step(); err != nil {
		if sqlite.ErrCode(err) == sqlite.ResultConstraintUnique {
			// (node_id, chain_seq) or leaf_index is taken: another writer
			// extended the chain or the tree.
			return fmt.Errorf("%w: %v", chainlog.ErrConflict, err)
		}
		return err
	}
	return oneRowChanged(conn, "events")
}

func bindNullableText(stmt *sqlite.Stmt, i int, s *string) {
	if s == nil {
		stmt.BindNull(i)
		return
	}
	stmt.BindText(i, *s)
}

// casHead moves node's head from old to next, failing with ErrConflict when
// the stored head is not old. A head is written as hex text; one held as
// its hash's 32-byte blob (set outside chainlog) is read as that hash (see
// queryHeads), so it is compared as one too.
func casHead(conn *sqlite.Conn, old, next chainlog.Head) error {
	var was []any
	if old.Seq != 0 {
		was = []any{old.Hash, old.Seq}
	}
	return casRow(conn, fmt.Sprintf("chain head of node %q", next.NodeID),
		`INSERT INTO chain_heads (node_id, chain_hash, seq, updated_at)
			VALUES (?1, ?2, ?3, ?4) ON CONFLICT (node_id) DO NOTHING`,
		`UPDATE chain_heads SET chain_hash = ?2, seq = ?3, updated_at = ?4
			WHERE node_id = ?1 AND seq = ?6 AND (chain_hash = ?5
				OR typeof(chain_hash) = 'blob' AND lower(hex(chain_hash)) = ?5)`,
		[]any{next.NodeID, next.Hash, next.Seq, next.UpdatedAt}, was)
}

// reloadHeads reads the heads and the tree head again after a conflict. A
// head or tree found behind what this writer last committed (fewer rows,
// or as many with another hash) is not another writer's work: it is
// ErrTampered, and the cache keeps what was committed.
func (s *Store) reloadHeads(conn *sqlite.Conn) error {
	heads, tree := s.heads, s.tree
	if err := s.loadHeadsLocked(conn); err != nil {
		return err
	}
	var err error
	for node, h := range heads {
		if now := s.heads[node]; behind(h.Seq, h.Hash, now.Seq, now.Hash) {
			err = fmt.Errorf("%w: the chain head of node %q moved back from seq %d (%s) to seq %d (%s)",
				ErrTampered, node, h.Seq, h.Hash, now.Seq, orNone(now.Hash))
			break
		}
	}
	if err == nil && behind(tree.Size, tree.Root, s.tree.Size, s.tree.Root) {
		err = fmt.Errorf("%w: the tree head moved back from size %d to size %d", ErrTampered, tree.Size, s.tree.Size)
	}
	if err != nil {
		s.heads, s.tree = heads, tree
		return err
	}
	return nil
}

// loadHeads reads every chain head into the in-memory cache.
func (s *Store) loadHeads() error {
	return s.loadHeadsLocked(s.conn)
}

func (s *Store) loadHeadsLocked(conn *sqlite.Conn) error {
	heads, err := readHeads(conn, "")
	if err != nil {
		return fmt.Errorf("load chain heads: %w", err)
	}
	if s.tree, err = readTreeHead(conn); err != nil {
		return fmt.Errorf("load tree head: %w", err)
	}
	s.heads = make(map[string]chainlog.Head, len(heads))
	for _, h := range heads {
		s.heads[h.NodeID] = h
	}
	return nil
}

// ErrChainsBegan refuses a write with integrity off to a store whose
// chains have begun.
var ErrChainsBegan = errors.New("integrity cannot be turned off on a store whose chains have begun")

// refuseUnchained fails when the store has a chain head. A row without
// chain columns is pre-chain only when it was written before any chain
// began; after that, verify-integrity reports it as a row slipped in
// outside the chain, so the writer does not write one.
func refuseUnchained(conn *sqlite.Conn) error {
	var began bool
	err := sqlitex.ExecuteTransient(conn, `SELECT EXISTS (SELECT 1 FROM chain_heads)`, &sqlitex.ExecOptions{
		ResultFunc: func(stmt *sqlite.Stmt) error { began = stmt.ColumnBool(0); return nil },
	})
	if err != nil {
		return err
	}
	if began {
		return fmt.Errorf("%w: rows written without a chain after it began are reported as tampering; unset CHAINLOG_INTEGRITY", ErrChainsBegan)
	}
	return nil
}
