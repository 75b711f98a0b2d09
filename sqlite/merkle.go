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

// appendLog holds the hashes that appending leaves size, size+1, ... to a
// stored tree adds: they have contiguous indexes from
// tlog.StoredHashIndex(0, size). Older hashes come from older: the
// database, or only the tree's frontier (frontierReader), which is all
// that appending needs.
type appendLog struct {
	older   tlog.HashReader
	size    int64       // leaves, those appended included
	base    int64       // stored index of pending[0]
	pending []tlog.Hash // the hashes the appended leaves store
}

func newAppendLog(size int64, older tlog.HashReader) appendLog {
	return appendLog{older: older, size: size, base: tlog.StoredHashIndex(0, size)}
}

// ReadHashes implements tlog.HashReader over the appended hashes and older.
func (l *appendLog) ReadHashes(indexes []int64) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(indexes))
	for i, idx := range indexes {
		if j := idx - l.base; j >= 0 && j < int64(len(l.pending)) {
			out[i] = l.pending[j]
			continue
		}
		h, err := l.older.ReadHashes(indexes[i : i+1])
		if err != nil {
			return nil, err
		}
		out[i] = h[0]
	}
	return out, nil
}

// appendHash adds the leaf whose hash is leafHash and returns its index.
func (l *appendLog) appendHash(leafHash tlog.Hash) (int64, error) {
	n := l.size
	hashes, err := tlog.StoredHashesForRecordHash(n, leafHash, l)
	if err != nil {
		return 0, fmt.Errorf("merkle leaf %d: %w", n, err)
	}
	if got, want := l.base+int64(len(l.pending)), tlog.StoredHashIndex(0, n); got != want {
		return 0, fmt.Errorf("merkle leaf %d: stored hash index %d, want %d", n, got, want)
	}
	l.pending = append(l.pending, hashes...)
	l.size++
	return n, nil
}

// ErrTreeMismatch is returned when the stored tree's hashes disagree with
// its recorded head: merkle_segments or tree_head was changed outside the
// writer.
var ErrTreeMismatch = errors.New("the stored Merkle tree disagrees with tree_head")

// checkFrontier checks, before a batch appends to the tree, that the
// frontier read from merkle_segments (every stored hash an append reads)
// gives the root that tree_head records at its size. A writer's head th
// that another writer has since moved still passes: stored hashes never
// change, so the frontier at th.Size still gives th.Root, and the batch
// then fails its compare-and-swap and is retried on the new head.
func checkFrontier(th TreeHead, fr *frontierReader) error {
	if th.Size == 0 {
		return nil
	}
	root, err := tlog.TreeHash(th.Size, fr)
	if err != nil {
		return fmt.Errorf("check the tree's frontier: %w", err)
	}
	if root != th.Root {
		return fmt.Errorf("%w: at size %d, the root recomputed from merkle_segments' %d frontier hashes is %x, tree_head's root is %x: merkle_segments or tree_head was altered; nothing was written",
			ErrTreeMismatch, th.Size, len(fr.hashes), root[:], th.Root[:])
	}
	return nil
}

// treeWriter appends leaves to the stored Merkle tree inside one write
// transaction: the appended hashes are kept in memory and written as
// segments by flush; older hashes are read from the database.
type treeWriter struct {
	conn *sqlite.Conn
	appendLog
}

func newTreeWriter(conn *sqlite.Conn, size int64) *treeWriter {
	return &treeWriter{conn: conn, appendLog: newAppendLog(size, &storedReader{conn: conn})}
}

// append adds the leaf and returns its index.
func (w *treeWriter) append(l *chainlog.Leaf) (int64, error) {
	return w.appendHash(chainlog.LeafHash(l))
}

// segmentHashes is the most hashes one segment row holds: 2,016 bytes, so
// that a segment fits in one database page and reading a hash reads one
// page, and the rows fill the pages: with their cell and record headers,
// eight of them fit a 16 KiB page (two a 4 KiB one), where seven rows of
// 64 hashes left 12% of every page empty. Segments written before hold 64;
// readers take any length.
const segmentHashes = 63

// flush writes the pending hashes as segments of at most segmentHashes.
func (w *treeWriter) flush() error {
	stmt := w.conn.Prep(`INSERT INTO merkle_segments (start, hashes) VALUES (?1, ?2)`)
	blob := make([]byte, 0, segmentHashes*tlog.HashSize)
	for len(w.pending) > 0 {
		n := min(len(w.pending), segmentHashes)
		blob = blob[:0]
		for _, h := range w.pending[:n] {
			blob = append(blob, h[:]...)
		}
		stmt.BindInt64(1, w.base)
		stmt.BindBytes(2, blob)
		_, err := stmt.Step()
		stmt.Reset()
		if err != nil {
			if sqlite.ErrCode(err).ToPrimary() == sqlite.ResultConstraint {
				return fmt.Errorf("%w: merkle segment %d exists: %v", chainlog.ErrConflict, w.base, err)
			}
			return err
		}
		if err := oneRowChanged(w.conn, "merkle_segments"); err != nil {
			return fmt.Errorf("merkle segment %d: %w", w.base, err)
		}
		w.base += int64(n)
		w.pending = w.pending[n:]
	}
	w.pending = nil
	return nil
}

// root returns the tree head at the writer's size.
func (w *treeWriter) root() (tlog.Hash, error) {
	return tlog.TreeHash(w.size, w)
}

// storedReader reads stored hashes from the segments that hold them. Its
// statement is prepared once: conn.Prep, on every reuse, clears the
// bindings, which makes SQLite compile this statement again (its plan
// depends on the bound value).
type storedReader struct {
	conn *sqlite.Conn
	stmt *sqlite.Stmt
}

// read returns stored hash idx.
func (r *storedReader) read(idx int64) (tlog.Hash, error) {
	var h tlog.Hash
	if r.stmt == nil {
		stmt, err := r.conn.Prepare(`SELECT start, length(hashes), substr(hashes, (?1 - start) * 32 + 1, 32)
			FROM merkle_segments WHERE start <= ?1 ORDER BY start DESC LIMIT 1`)
		if err != nil {
			return h, err
		}
		r.stmt = stmt
	}
	stmt := r.stmt
	defer stmt.Reset()
	stmt.BindInt64(1, idx)
	ok, err := stmt.Step()
	if err != nil {
		return h, err
	}
	if !ok {
		return h, fmt.Errorf("%w: merkle hash %d is missing", chainlog.ErrNotFound, idx)
	}
	if stmt.ColumnLen(2) != tlog.HashSize {
		return h, fmt.Errorf("%w: merkle hash %d is missing (the segment at %d holds %d bytes)", chainlog.ErrNotFound, idx, stmt.ColumnInt64(0), stmt.ColumnInt64(1))
	}
	stmt.ColumnBytes(2, h[:])
	return h, nil
}

// close finalizes the reader's statement.
func (r *storedReader) close() {
	if r.stmt != nil {
		r.stmt.Finalize()
	}
}

// ReadHashes implements tlog.HashReader.
func (r *storedReader) ReadHashes(indexes []int64) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(indexes))
	for i, idx := range indexes {
		h, err := r.read(idx)
		if err != nil {
			return nil, err
		}
		out[i] = h
	}
	return out, nil
}

// TreeHead is the stored tree's size and root.
type TreeHead struct {
	Size int64
	Root tlog.Hash
}

func readTreeHead(conn *sqlite.Conn) (TreeHead, error) {
	var th TreeHead
	th.Root = tlog.Hash(emptyRoot())
	err := sqlitex.Execute(conn, `SELECT size, root FROM tree_head WHERE id = 1`, &sqlitex.ExecOptions{
		ResultFunc: func(stmt *sqlite.Stmt) error {
			th.Size = stmt.ColumnInt64(0)
			if stmt.ColumnLen(1) != len(th.Root) {
				return fmt.Errorf("tree_head root is %d bytes", stmt.ColumnLen(1))
			}
			stmt.ColumnBytes(1, th.Root[:])
			return nil
		},
	})
	return th, err
}

func emptyRoot() tlog.Hash {
	var b chainlog.TreeBuilder
	return b.Root()
}

// casTreeHead moves the tree head from old to next.
func casTreeHead(conn *sqlite.Conn, old, next TreeHead, now string) error {
	if old.Size == next.Size {
		return nil
	}
	var was []any
	if old.Size != 0 {
		was = []any{old.Size, old.Root[:]}
	}
	return casRow(conn, "tree head",
		`INSERT INTO tree_head (id, size, root, updated_at) VALUES (1, ?1, ?2, ?3)
			ON CONFLICT (id) DO NOTHING`,
		`UPDATE tree_head SET size = ?1, root = ?2, updated_at = ?3
			WHERE id = 1 AND size = ?4 AND root = ?5`,
		[]any{next.Size, next.Root[:], now}, was)
}

// addLeafColumn adds events.leaf_index where it is missing.
func addLeafColumn(conn *sqlite.Conn) error {
	return addColumns(conn, "events", [][2]string{{"leaf_index", "INTEGER"}})
}

// buildTree is migration 4's code: it gives every stamped row a leaf, in
// commit order, and stores the tree.
func buildTree(conn *sqlite.Conn) error {
	type row struct {
		rowid int64
		leaf  chainlog.Leaf
	}
	var rows []row
	// Reading all stamped rows of an old store at once keeps the migration
	// simple; it runs once per store.
	err := sqlitex.Execute(conn, `SELECT rowid, node_id, chain_seq, chain_hash, payload_digest FROM events
		WHERE chain_hash IS NOT NULL AND chain_seq IS NOT NULL AND leaf_index IS NULL ORDER BY rowid`,
		&sqlitex.ExecOptions{ResultFunc: func(stmt *sqlite.Stmt) error {
			rows = append(rows, row{stmt.ColumnInt64(0), chainlog.Leaf{NodeID: stmt.ColumnText(1),
				Seq: stmt.ColumnInt64(2), ChainHash: hashText(stmt, 3), PayloadDigest: hashText(stmt, 4)}})
			return nil
		}})
	if err != nil || len(rows) == 0 {
		return err
	}
	w := newTreeWriter(conn, 0)
	set := conn.Prep(`UPDATE events SET leaf_index = ?1 WHERE rowid = ?2`)
	for _, r := range rows {
		idx, err := w.append(&r.leaf)
		if err != nil {
			return err
		}
		if len(w.pending) >= migrationSegment {
			if err := w.flush(); err != nil {
				return err
			}
		}
		set.BindInt64(1, idx)
		set.BindInt64(2, r.rowid)
		_, err = set.Step()
		set.Reset()
		if err != nil {
			return err
		}
	}
	root, err := w.root()
	if err != nil {
		return err
	}
	if err := w.flush(); err != nil {
		return err
	}
	return casTreeHead(conn, TreeHead{}, TreeHead{Size: w.size, Root: root}, "migration")
}

// migrationSegment bounds the hashes of one segment written by the
// migration.
const migrationSegment = 4096

// TreeHead returns the stored tree's size and root.
func (s *Store) TreeHead(ctx context.Context) (TreeHead, error) {
	var th TreeHead
	if !s.hasTree {
		return TreeHead{Root: emptyRoot()}, nil
	}
	err := s.withConn(ctx, func(conn *sqlite.Conn) error {
		var err error
		th, err = readTreeHead(conn)
		return err
	})
	return th, err
}

// StoredRoot returns the root of the stored tree at size, computed from the
// stored hashes.
func (s *Store) StoredRoot(ctx context.Context, size int64) (tlog.Hash, error) {
	var root tlog.Hash
	err := s.withConn(ctx, func(conn *sqlite.Conn) error {
		var err error
		root, err = tlog.TreeHash(size, &storedReader{conn: conn})
		return err
	})
	return root, err
}

// ProveEvent returns the event with id as a proof bundle's event, its leaf
// index, and its inclusion proof in the tree of the given size. An unknown
// id is chainlog.ErrNotFound; an event with no leaf in that tree is
// chainlog.ErrNotInTree.
func (s *Store) ProveEvent(ctx context.Context, id string, size int64) (chainlog.ProvenEvent, int64, tlog.RecordProof, error) {
	var pe chainlog.ProvenEvent
	var idx int64 = -1
	var proof tlog.RecordProof
	if !s.hasTree {
		return pe, 0, nil, chainlog.ErrNotInTree
	}
	err := s.withConn(ctx, func(conn *sqlite.Conn) error {
		rid, ok, err := s.rowidOf(conn, id)
		if err != nil || !ok {
			if err == nil {
				err = chainlog.ErrNotFound
			}
			return err
		}
		err = sqlitex.Execute(conn, `SELECT `+identityCols+`, chain_seq, chain_prev_hash, chain_hash,
			payload_digest, leaf_index FROM events WHERE rowid = ?1`, &sqlitex.ExecOptions{
			Args: []any{rid},
			ResultFunc: func(stmt *sqlite.Stmt) error {
				var e chainlog.Event
				readIdentity(stmt, 0, &e)
				pe = chainlog.ProvenEvent{ID: e.ID, AgentType: e.AgentType, NodeID: e.NodeID, AgentID: e.AgentID,
					SessionID: e.SessionID, WorkspaceID: e.WorkspaceID, EventType: e.EventType, TS: e.TS,
					ChainSeq: stmt.ColumnInt64(8), ChainPrevHash: hashText(stmt, 9), ChainHash: hashText(stmt, 10),
					PayloadDigest: hashText(stmt, 11)}
				idx = -2
				if e.EventType == "" {
					idx = -3 // a husk
				}
				if stmt.ColumnType(12) != sqlite.TypeNull && idx == -2 {
					idx = stmt.ColumnInt64(12)
				}
				return nil
			}})
		switch {
		case err != nil:
			return err
		case idx == -1:
			return chainlog.ErrNotFound
		case idx == -3:
			return fmt.Errorf("event %q: %w", id, chainlog.ErrPruned)
		case idx < 0 || idx >= size:
			return chainlog.ErrNotInTree
		}
		th, err := readTreeHead(conn)
		if err != nil {
			return err
		}
		if size > th.Size {
			return fmt.Errorf("the checkpoint is for a tree of %d leaves, the store's tree has %d: the store is behind it", size, th.Size)
		}
		proof, err = tlog.ProveRecord(size, idx, &storedReader{conn: conn})
		return err
	})
	return pe, idx, proof, err
}

// ProveConsistency returns the proof that the tree of size newSize extends
// the tree of size oldSize.
func (s *Store) ProveConsistency(ctx context.Context, oldSize, newSize int64) (tlog.TreeProof, error) {
	if oldSize == 0 {
		return tlog.TreeProof{}, nil
	}
	var p tlog.TreeProof
	err := s.withConn(ctx, func(conn *sqlite.Conn) error {
		th, err := readTreeHead(conn)
		if err != nil {
			return err
		}
		if newSize > th.Size {
			return fmt.Errorf("the store's tree has %d leaves, fewer than %d", th.Size, newSize)
		}
		p, err = tlog.ProveTree(newSize, oldSize, &storedReader{conn: conn})
		return err
	})
	return p, err
}

// ScanLeaves streams every leaf in commit (rowid) order, which is leaf
// order in an untampered store, recomputed from the events' columns. It
// implements chainlog.Source; the verifier checks the leaf numbers.
func (s *Store) ScanLeaves(ctx context.Context, fn func(index int64, l *chainlog.Leaf) error) error {
	if !s.hasTree {
		return nil
	}
	return s.withConn(ctx, func(conn *sqlite.Conn) error {
		stmt, err := conn.Prepare(`SELECT leaf_index, node_id, chain_seq, chain_hash, payload_digest FROM events NOT INDEXED
			WHERE leaf_index IS NOT NULL ORDER BY rowid`)
		if err != nil {
			return err
		}
		defer stmt.Reset()
		var l chainlog.Leaf
		for {
			ok, err := stmt.Step()
			if err != nil || !ok {
				return err
			}
			l = chainlog.Leaf{NodeID: stmt.ColumnText(1), Seq: stmt.ColumnInt64(2),
				ChainHash: hashText(stmt, 3), PayloadDigest: hashText(stmt, 4)}
			if err := fn(stmt.ColumnInt64(0), &l); err != nil {
				return err
			}
		}
	})
}

// ReadStoredHashes implements chainlog.Source.
func (s *Store) ReadStoredHashes(ctx context.Context, indexes []int64) ([]tlog.Hash, error) {
	var out []tlog.Hash
	err := s.withConn(ctx, func(conn *sqlite.Conn) error {
		r := storedReader{conn: conn}
		defer r.close()
		var err error
		out, err = r.ReadHashes(indexes)
		return err
	})
	return out, err
}

// ScanStoredHashes implements chainlog.Source: it reads the
// segments in order, and fails with chainlog.ErrNotFound where they leave
// a gap, overlap, or end before n hashes.
func (s *Store) ScanStoredHashes(ctx context.Context, n int64, fn func(first int64, hs []tlog.Hash) error) error {
	if !s.hasTree {
		return nil
	}
	return s.withConn(ctx, func(conn *sqlite.Conn) error {
		stmt, err := conn.Prepare(`SELECT start, hashes FROM merkle_segments ORDER BY start`)
		if err != nil {
			return err
		}
		defer stmt.Reset()
		var next int64
		var hs []tlog.Hash
		var blob []byte
		for next < n {
			ok, err := stmt.Step()
			if err != nil {
				return err
			}
			start := stmt.ColumnInt64(0)
			switch {
			case !ok:
				return fmt.Errorf("%w: the stored tree ends at hash %d, the events make %d", chainlog.ErrNotFound, next, n)
			case stmt.ColumnType(1) != sqlite.TypeBlob || stmt.ColumnLen(1)%tlog.HashSize != 0:
				return fmt.Errorf("%w: merkle segment %d does not hold whole hashes", chainlog.ErrNotFound, start)
			case start != next:
				return fmt.Errorf("%w: merkle segment %d, where hash %d should start one", chainlog.ErrNotFound, start, next)
			}
			blob = append(blob[:0], make([]byte, stmt.ColumnLen(1))...)
			stmt.ColumnBytes(1, blob)
			hs = hs[:0]
			for i := 0; i < len(blob) && next < n; i += tlog.HashSize {
				hs = append(hs, tlog.Hash(blob[i:i+tlog.HashSize]))
				next++
			}
			if err := fn(start, hs); err != nil {
				return err
			}
		}
		return nil
	})
}

// StoredTree implements chainlog.Source: the stored tree head.
func (s *Store) StoredTree(ctx context.Context) (int64, tlog.Hash, error) {
	th, err := s.TreeHead(ctx)
	return th.Size, th.Root, err
}
