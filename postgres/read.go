package postgres

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"unsafe"

	"chainlog"

	"github.com/jackc/pgx/v5"
	"golang.org/x/mod/sumdb/tlog"
)

// storedCols are the columns of a stored event, as decodeStored reads
// them; the statement names the events table e, and the latest amendment's
// digest is the last column: from a LEFT JOIN LATERAL of the trail as l
// (lastDigestLookup) for a few rows, or NULL (noLastDigest) where the
// caller fills it in from lastDigests.
const storedCols = `e.id, e.agent_type, e.node_id, e.agent_id, e.session_id, e.workspace_id, e.event_type, e.ts,
	e.data, e.cost_usd, e.token_count, e.model, e.created_at, e.chain_seq, e.chain_prev_hash, e.chain_hash,
	e.payload_digest, e.leaf_index, `

const (
	lastDigestCol    = `l.digest_after`
	noLastDigest     = `NULL::text`
	lastDigestLookup = `LEFT JOIN LATERAL (SELECT digest_after FROM amendments a WHERE a.event_id = e.id ORDER BY a.seq DESC LIMIT 1) l ON true`
)

// lastDigests reads every amended event's latest digest_after from a scan
// of the trail itself (not from its index on event_id). Its memory grows
// with the number of amended events, not with the events: the scans of
// the whole table look each row up in it instead of joining the trail,
// which would make the server sort the table.
func lastDigests(ctx context.Context, q querier) (map[string]string, error) {
	rows, err := q.Query(ctx, `SELECT event_id, digest_after FROM amendments WHERE kind <> 'prune' ORDER BY seq`)
	if err != nil {
		return nil, fmt.Errorf("read the trail's digests: %w", err)
	}
	defer rows.Close()
	out := map[string]string{}
	for rows.Next() {
		var id, d string
		if err := rows.Scan(&id, &d); err != nil {
			return nil, err
		}
		out[id] = d
	}
	return out, rows.Err()
}

// wholeScan readies the transaction for a scan of the whole events table:
// it reads the amended events' last digests (lastDigests), and makes the
// scan walk an index in the order asked for rather than read the table and
// sort it (the rows are stored in leaf order, and a sort of the events
// table spills to disk).
func wholeScan(ctx context.Context, q querier) (map[string]string, error) {
	digests, err := lastDigests(ctx, q)
	if err != nil {
		return nil, err
	}
	if _, err := q.Exec(ctx, `SET LOCAL enable_sort = off`); err != nil {
		return nil, err
	}
	return digests, nil
}

// rawRow is one row's columns as the server sent them, with their formats.
type rawRow struct {
	vals    [][]byte
	formats []int16
}

func (r *rawRow) null(i int) bool { return r.vals[i] == nil }

func (r *rawRow) int(i int) (int64, error) {
	v := r.vals[i]
	if v == nil {
		return 0, nil
	}
	if r.formats[i] == pgx.BinaryFormatCode {
		if len(v) != 8 {
			return 0, fmt.Errorf("column %d: %d bytes, not an int8", i, len(v))
		}
		return int64(binary.BigEndian.Uint64(v)), nil
	}
	return strconv.ParseInt(string(v), 10, 64)
}

func (r *rawRow) float(i int) (float64, error) {
	v := r.vals[i]
	if r.formats[i] == pgx.BinaryFormatCode {
		if len(v) != 8 {
			return 0, fmt.Errorf("column %d: %d bytes, not a float8", i, len(v))
		}
		return math.Float64frombits(binary.BigEndian.Uint64(v)), nil
	}
	return strconv.ParseFloat(string(v), 64)
}

func newRaw(rows pgx.Rows) *rawRow {
	fds := rows.FieldDescriptions()
	r := &rawRow{formats: make([]int16, len(fds))}
	for i, fd := range fds {
		r.formats[i] = fd.Format
	}
	return r
}

// decodeStored fills e from a row of storedCols, copying its text.
func decodeStored(r *rawRow, e *chainlog.StoredEvent) error {
	str := func(i int) string { return string(r.vals[i]) }
	opt := func(i int) *string {
		if r.null(i) {
			return nil
		}
		s := str(i)
		return &s
	}
	*e = chainlog.StoredEvent{Event: chainlog.Event{ID: str(0), AgentType: str(1), NodeID: str(2), AgentID: str(3),
		SessionID: opt(4), WorkspaceID: opt(5), EventType: str(6), TS: str(7), Model: opt(11)},
		CreatedAt: str(12), PrevHash: str(14), Hash: str(15), PayloadDigest: str(16), LastDigest: str(18)}
	if !r.null(8) {
		e.Data = json.RawMessage(str(8))
	}
	var err error
	if !r.null(9) {
		v, ferr := r.float(9)
		e.CostUSD, err = &v, ferr
	}
	if !r.null(10) && err == nil {
		v, ierr := r.int(10)
		e.TokenCount, err = &v, ierr
	}
	if err == nil {
		e.Seq, err = r.int(13)
	}
	if err == nil {
		var leaf int64
		leaf, err = r.int(17)
		e.LeafIndex = &leaf
	}
	if err != nil {
		return fmt.Errorf("event %q: %w", e.ID, err)
	}
	return nil
}

// scanStored runs q and calls fn with each row, reusing one StoredEvent.
// A row's LastDigest comes from digests when it is not nil.
func scanStored(ctx context.Context, qr querier, q string, args []any, digests map[string]string, fn func(*chainlog.StoredEvent) error) error {
	rows, err := qr.Query(ctx, q, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	r := newRaw(rows)
	var e chainlog.StoredEvent
	for rows.Next() {
		r.vals = rows.RawValues()
		if err := decodeStored(r, &e); err != nil {
			return err
		}
		if digests != nil {
			e.LastDigest = digests[e.ID]
		}
		if err := fn(&e); err != nil {
			return err
		}
	}
	return rows.Err()
}

// Heads returns the chain heads (of nodeID, when not empty), ordered by
// node_id.
func (s *Store) Heads(ctx context.Context, nodeID string) ([]chainlog.Head, error) {
	var out []chainlog.Head
	err := s.read(ctx, func(q querier) error {
		rows, err := q.Query(ctx, `SELECT node_id, chain_hash, seq, updated_at FROM chain_heads
			WHERE $1 = '' OR node_id = $1 ORDER BY node_id`, nodeID)
		if err != nil {
			return err
		}
		out, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (chainlog.Head, error) {
			var h chainlog.Head
			err := r.Scan(&h.NodeID, &h.Hash, &h.Seq, &h.UpdatedAt)
			return h, err
		})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("heads: %w", err)
	}
	return out, nil
}

// ScanChains streams the events (of nodeID) by node_id, then chain_seq,
// then commit order.
func (s *Store) ScanChains(ctx context.Context, nodeID string, fn func(*chainlog.StoredEvent) error) error {
	return s.read(ctx, func(q querier) error {
		digests, err := wholeScan(ctx, q)
		if err != nil {
			return err
		}
		return scanStored(ctx, q, `SELECT `+storedCols+noLastDigest+` FROM events e
			WHERE $1 = '' OR e.node_id = $1 ORDER BY e.node_id, e.chain_seq, e.leaf_index`, []any{nodeID}, digests, fn)
	})
}

// Export streams the events (of nodeID) in commit order, husks left out.
func (s *Store) Export(ctx context.Context, nodeID string, fn func(*chainlog.StoredEvent) error) error {
	err := s.read(ctx, func(q querier) error {
		digests, err := wholeScan(ctx, q)
		if err != nil {
			return err
		}
		return scanStored(ctx, q, `SELECT `+storedCols+noLastDigest+` FROM events e
			WHERE ($1 = '' OR e.node_id = $1) AND e.event_type <> '' ORDER BY e.leaf_index`, []any{nodeID}, digests, fn)
	})
	if err != nil {
		return fmt.Errorf("export: %w", err)
	}
	return nil
}

// Event returns the stored event with id: chainlog.ErrNotFound when there
// is none, chainlog.ErrPruned when it is a husk.
func (s *Store) Event(ctx context.Context, id string) (*chainlog.StoredEvent, error) {
	var found *chainlog.StoredEvent
	err := s.read(ctx, func(q querier) error {
		return scanStored(ctx, q, `SELECT `+storedCols+lastDigestCol+` FROM events e `+lastDigestLookup+`
			WHERE e.id = $1`, []any{id}, nil, func(e *chainlog.StoredEvent) error {
			c := *e
			found = &c
			return nil
		})
	})
	switch {
	case err != nil:
		return nil, fmt.Errorf("event %q: %w", id, err)
	case found == nil:
		return nil, fmt.Errorf("event %q: %w", id, chainlog.ErrNotFound)
	case found.Husk():
		return nil, fmt.Errorf("event %q: %w", id, chainlog.ErrPruned)
	}
	return found, nil
}

// AmendmentHead returns the trail's recorded head, or nil when no record
// was ever appended.
func (s *Store) AmendmentHead(ctx context.Context) (*chainlog.Head, error) {
	var h chainlog.Head
	err := s.read(ctx, func(q querier) error {
		return q.QueryRow(ctx, `SELECT hash, seq, updated_at FROM amendment_head WHERE id = 1`).Scan(&h.Hash, &h.Seq, &h.UpdatedAt)
	})
	if errors.Is(err, pgx.ErrNoRows) || (err == nil && h.Seq == 0 && h.Hash == "") {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("amendment head: %w", err)
	}
	return &h, nil
}

const amendmentCols = `a.seq, a.event_id, a.kind, a.fields, a.digest_before, a.digest_after, a.reason, a.actor, a.at, a.prev_hash, a.hash, a.prune`

func scanAmendment(r pgx.Row, a *chainlog.Amendment, extra ...any) error {
	var fields string
	var prune *string
	dst := append([]any{&a.Seq, &a.EventID, &a.Kind, &fields, &a.DigestBefore, &a.DigestAfter, &a.Reason, &a.Actor,
		&a.At, &a.PrevHash, &a.Hash, &prune}, extra...)
	if err := r.Scan(dst...); err != nil {
		return err
	}
	a.Fields = nil
	if err := json.Unmarshal([]byte(fields), &a.Fields); err != nil {
		a.Fields = []string{"invalid JSON: " + fields}
	}
	a.Prune = nil
	if prune != nil {
		a.Prune = new(chainlog.PruneRange)
		if err := json.Unmarshal([]byte(*prune), a.Prune); err != nil {
			return fmt.Errorf("amendment %d: prune range: %w", a.Seq, err)
		}
	}
	return nil
}

// scanTrail calls fn with the records with afterSeq < seq <= uptoSeq, in
// seq order, each with the digest its event had just before it by the
// store's account.
func scanTrail(ctx context.Context, q querier, afterSeq, uptoSeq int64, fn func(*chainlog.AmendmentScan) error) error {
	rows, err := q.Query(ctx, `SELECT `+amendmentCols+`,
			coalesce(lag(a.digest_after) OVER (PARTITION BY a.event_id ORDER BY a.seq), e.payload_digest, ''),
			e.id IS NOT NULL
		FROM amendments a LEFT JOIN events e ON e.id = a.event_id AND a.kind <> 'prune'
		WHERE a.seq > $1 AND a.seq <= $2 ORDER BY a.seq`, afterSeq, uptoSeq)
	if err != nil {
		return err
	}
	defer rows.Close()
	var a chainlog.AmendmentScan
	for rows.Next() {
		if err := scanAmendment(rows, &a.Amendment, &a.ExpectedBefore, &a.EventExists); err != nil {
			return err
		}
		if err := fn(&a); err != nil {
			return err
		}
	}
	return rows.Err()
}

// ScanAmendments streams the whole trail in seq order.
func (s *Store) ScanAmendments(ctx context.Context, fn func(*chainlog.AmendmentScan) error) error {
	return s.read(ctx, func(q querier) error { return scanTrail(ctx, q, 0, math.MaxInt64, fn) })
}

// ScanAmendmentRange streams the records with afterSeq < seq <= uptoSeq.
func (s *Store) ScanAmendmentRange(ctx context.Context, afterSeq, uptoSeq int64, fn func(*chainlog.AmendmentScan) error) error {
	return s.read(ctx, func(q querier) error { return scanTrail(ctx, q, afterSeq, uptoSeq, fn) })
}

// AmendmentHashAt returns the hash of record seq; found is false when
// there is none.
func (s *Store) AmendmentHashAt(ctx context.Context, seq int64) (hash string, found bool, err error) {
	err = s.read(ctx, func(q querier) error {
		hash, found, err = amendmentHashAt(ctx, q, seq)
		return err
	})
	return hash, found, err
}

// Amendments returns eventID's records, oldest first.
func (s *Store) Amendments(ctx context.Context, eventID string) ([]chainlog.Amendment, error) {
	out, err := s.records(ctx, `SELECT `+amendmentCols+` FROM amendments a WHERE a.event_id = $1 ORDER BY a.seq`, eventID)
	if err != nil {
		return nil, fmt.Errorf("amendments of %q: %w", eventID, err)
	}
	return out, nil
}

// Prunes returns the trail's prune records in seq order
// (chainlog.PruneSource).
func (s *Store) Prunes(ctx context.Context) ([]chainlog.Amendment, error) {
	out, err := s.records(ctx, `SELECT `+amendmentCols+` FROM amendments a WHERE a.kind = 'prune' ORDER BY a.seq`)
	if err != nil {
		return nil, fmt.Errorf("prune records: %w", err)
	}
	return out, nil
}

// records returns the trail's records that q selects.
func (s *Store) records(ctx context.Context, q string, args ...any) ([]chainlog.Amendment, error) {
	var out []chainlog.Amendment
	err := s.read(ctx, func(qr querier) error {
		rows, err := qr.Query(ctx, q, args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var a chainlog.Amendment
			if err := scanAmendment(rows, &a); err != nil {
				return err
			}
			out = append(out, a)
		}
		return rows.Err()
	})
	return out, err
}

// leafScan calls fn for each leaf with afterLeaf < index < uptoLeaf, in
// leaf order, recomputed from the events' columns.
func leafScan(ctx context.Context, q querier, afterLeaf, uptoLeaf int64, fn func(int64, *chainlog.Leaf) error) error {
	rows, err := q.Query(ctx, `SELECT leaf_index, node_id, chain_seq, chain_hash, payload_digest FROM events
		WHERE leaf_index > $1 AND leaf_index < $2 ORDER BY leaf_index`, afterLeaf, uptoLeaf)
	if err != nil {
		return err
	}
	defer rows.Close()
	var l chainlog.Leaf
	for rows.Next() {
		var idx int64
		if err := rows.Scan(&idx, &l.NodeID, &l.Seq, &l.ChainHash, &l.PayloadDigest); err != nil {
			return err
		}
		if err := fn(idx, &l); err != nil {
			return err
		}
	}
	return rows.Err()
}

// ScanLeaves streams every leaf in leaf order.
func (s *Store) ScanLeaves(ctx context.Context, fn func(int64, *chainlog.Leaf) error) error {
	return s.read(ctx, func(q querier) error { return leafScan(ctx, q, -1, math.MaxInt64, fn) })
}

// ScanLeafRange streams the leaves with afterLeaf < index < uptoLeaf.
func (s *Store) ScanLeafRange(ctx context.Context, afterLeaf, uptoLeaf int64, fn func(int64, *chainlog.Leaf) error) error {
	return s.read(ctx, func(q querier) error { return leafScan(ctx, q, afterLeaf, uptoLeaf, fn) })
}

// treeHead reads the tree's size and root.
func treeHead(ctx context.Context, q querier) (int64, tlog.Hash, error) {
	var size int64
	var root []byte
	if err := q.QueryRow(ctx, `SELECT size, root FROM tree_head WHERE id = 1`).Scan(&size, &root); err != nil {
		return 0, tlog.Hash{}, fmt.Errorf("tree head: %w", err)
	}
	if len(root) != tlog.HashSize {
		return 0, tlog.Hash{}, fmt.Errorf("tree head: a root of %d bytes", len(root))
	}
	return size, tlog.Hash(root), nil
}

// StoredTree returns the stored tree head.
func (s *Store) StoredTree(ctx context.Context) (size int64, root tlog.Hash, err error) {
	err = s.read(ctx, func(q querier) error {
		size, root, err = treeHead(ctx, q)
		return err
	})
	return size, root, err
}

// ReadStoredHashes returns the stored hashes at indexes.
func (s *Store) ReadStoredHashes(ctx context.Context, indexes []int64) ([]tlog.Hash, error) {
	var hs []tlog.Hash
	err := s.read(ctx, func(q querier) error {
		var err error
		hs, err = readHashes(ctx, q, indexes)
		return err
	})
	return hs, err
}

// ScanStoredHashes passes the first n stored hashes, a segment at a time.
func (s *Store) ScanStoredHashes(ctx context.Context, n int64, fn func(int64, []tlog.Hash) error) error {
	return s.read(ctx, func(q querier) error {
		rows, err := q.Query(ctx, `SELECT start, hashes FROM tree_segments WHERE start < $1 ORDER BY start`, n)
		if err != nil {
			return err
		}
		defer rows.Close()
		var next int64
		var hs []tlog.Hash
		r := newRaw(rows)
		for rows.Next() {
			// The segment's bytes are read in place, not copied: a
			// store's stored hashes are twice its leaves, 64 bytes an
			// event, and the verifier reads them all.
			r.vals = rows.RawValues()
			start, err := r.int(0)
			if err != nil {
				return err
			}
			b := r.vals[1]
			if r.formats[1] != pgx.BinaryFormatCode {
				return fmt.Errorf("stored hashes: segment %d in text format", start)
			}
			if start != next || len(b)%tlog.HashSize != 0 {
				return fmt.Errorf("stored hashes: a segment at %d (%d bytes), expected one at %d: %w", start, len(b), next, chainlog.ErrNotFound)
			}
			hs = hs[:0]
			for i := 0; i < len(b) && next < n; i += tlog.HashSize {
				hs = append(hs, tlog.Hash(b[i:i+tlog.HashSize]))
				next++
			}
			if err := fn(start, hs); err != nil {
				return err
			}
		}
		if err := rows.Err(); err != nil {
			return err
		}
		if next < n {
			return fmt.Errorf("stored hashes: %d of %d: %w", next, n, chainlog.ErrNotFound)
		}
		return nil
	})
}

// KeepsTree is true: every row is a leaf, written with the tree.
func (s *Store) KeepsTree() bool { return true }

// DuplicateID returns an id that more than one row holds; the unique
// constraint on id should make it impossible, and this reads the rows.
func (s *Store) DuplicateID(ctx context.Context) (string, int64, error) {
	var id string
	var n int64
	err := s.read(ctx, func(q querier) error {
		if _, err := q.Exec(ctx, `SET LOCAL enable_indexscan = off; SET LOCAL enable_indexonlyscan = off; SET LOCAL enable_bitmapscan = off`); err != nil {
			return err
		}
		err := q.QueryRow(ctx, `SELECT id, count(*) FROM events GROUP BY id HAVING count(*) > 1 LIMIT 1`).Scan(&id, &n)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil
		}
		return err
	})
	return id, n, err
}

// Nodes lists every node_id that has rows, in byte order.
func (s *Store) Nodes(ctx context.Context) ([]string, error) {
	var out []string
	err := s.read(ctx, func(q querier) error {
		rows, err := q.Query(ctx, `SELECT node_id FROM chain_heads ORDER BY node_id`)
		if err != nil {
			return err
		}
		out, err = pgx.CollectRows(rows, pgx.RowTo[string])
		return err
	})
	return out, err
}

// CountPreChain is 0: every row of this store is stamped.
func (s *Store) CountPreChain(ctx context.Context, nodeID string) (int64, error) { return 0, nil }

// ScanChainRange streams nodeID's rows with afterSeq < chain_seq <= uptoSeq
// in chain_seq order.
func (s *Store) ScanChainRange(ctx context.Context, nodeID string, afterSeq, uptoSeq int64, fn func(*chainlog.StoredEvent) error) error {
	return s.read(ctx, func(q querier) error {
		return scanStored(ctx, q, `SELECT `+storedCols+lastDigestCol+` FROM events e `+lastDigestLookup+`
			WHERE e.node_id = $1 AND e.chain_seq > $2 AND e.chain_seq <= $3 ORDER BY e.chain_seq, e.leaf_index`,
			[]any{nodeID, afterSeq, uptoSeq}, nil, fn)
	})
}

// ScanCommitOrder streams every row in commit order into buf's rows,
// their text kept in each row's Buf.
func (s *Store) ScanCommitOrder(ctx context.Context, buf []chainlog.CommitRow, fn func([]chainlog.CommitRow) ([]chainlog.CommitRow, error)) error {
	return s.read(ctx, func(q querier) error {
		digests, err := wholeScan(ctx, q)
		if err != nil {
			return err
		}
		rows, err := q.Query(ctx, `SELECT `+storedCols+noLastDigest+` FROM events e ORDER BY e.leaf_index`)
		if err != nil {
			return err
		}
		defer rows.Close()
		r := newRaw(rows)
		n := 0
		for rows.Next() {
			r.vals = rows.RawValues()
			if err := fillCommitRow(r, &buf[n]); err != nil {
				return err
			}
			if len(digests) > 0 {
				buf[n].LastDigest = digests[buf[n].ID]
			}
			if n++; n == len(buf) {
				if buf, err = fn(buf[:n]); err != nil {
					return err
				}
				n = 0
			}
		}
		if err := rows.Err(); err != nil {
			return err
		}
		if n > 0 {
			_, err = fn(buf[:n])
		}
		return err
	})
}

// textCols are the storedCols a CommitRow keeps as text, in its Buf.
var textCols = [...]int{0, 1, 2, 3, 4, 5, 6, 7, 8, 11, 14, 15, 16, 18}

// fillCommitRow sets c to the row r, its strings pointing into c.Buf.
func fillCommitRow(r *rawRow, c *chainlog.CommitRow) error {
	need := 0
	for _, i := range textCols {
		need += len(r.vals[i])
	}
	b := c.Buf[:0]
	if cap(b) < need {
		b = make([]byte, 0, need*2)
	}
	var at [19]int
	for _, i := range textCols {
		at[i] = len(b)
		b = append(b, r.vals[i]...)
	}
	c.Buf = b
	text := func(i int) string {
		if len(r.vals[i]) == 0 {
			return ""
		}
		return unsafe.String(&b[at[i]], len(r.vals[i]))
	}
	*c = chainlog.CommitRow{ID: text(0), AgentType: text(1), NodeID: text(2), AgentID: text(3), SessionID: text(4),
		WorkspaceID: text(5), EventType: text(6), TS: text(7), Model: text(11), PrevHash: text(14), Hash: text(15),
		PayloadDigest: text(16), LastDigest: text(18), Buf: b, Has: chainlog.HasLeaf}
	if !r.null(8) {
		c.Has |= chainlog.HasData
		c.Data = b[at[8] : at[8]+len(r.vals[8])]
	}
	if !r.null(4) {
		c.Has |= chainlog.HasSessionID
	}
	if !r.null(5) {
		c.Has |= chainlog.HasWorkspaceID
	}
	if !r.null(11) {
		c.Has |= chainlog.HasModel
	}
	var err error
	if !r.null(9) {
		c.Has |= chainlog.HasCostUSD
		c.CostUSD, err = r.float(9)
	}
	if !r.null(10) && err == nil {
		c.Has |= chainlog.HasTokenCount
		c.TokenCount, err = r.int(10)
	}
	if err == nil {
		c.Seq, err = r.int(13)
	}
	if err == nil {
		c.LeafIndex, err = r.int(17)
	}
	return err
}

// CheckStore checks the schema: its version, and that nothing on the
// tables can change what is read or written (triggers, rules, row
// security policies), nor leave rows out of what an index lookup finds
// (a partial or expression index, put in the place of chainlog's).
func (s *Store) CheckStore(ctx context.Context) (*chainlog.Break, error) {
	var b *chainlog.Break
	err := s.read(ctx, func(q querier) error {
		v, err := schemaVersion(ctx, q)
		if err != nil {
			return err
		}
		if v != SchemaVersion {
			b = &chainlog.Break{Reason: "chainlog_schema: the schema's version is not this chainlog's",
				Expected: fmt.Sprint(SchemaVersion), Found: fmt.Sprint(v)}
			return nil
		}
		var what string
		err = q.QueryRow(ctx, `SELECT coalesce(string_agg(w, ', '), '') FROM (
			SELECT 'trigger ' || t.tgname || ' on ' || c.relname AS w FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
				WHERE c.relnamespace = current_schema()::regnamespace AND NOT t.tgisinternal
			UNION ALL SELECT 'rule ' || rulename || ' on ' || tablename FROM pg_rules WHERE schemaname = current_schema()
			UNION ALL SELECT 'row security on ' || relname FROM pg_class
				WHERE relnamespace = current_schema()::regnamespace AND relrowsecurity
			UNION ALL SELECT 'partial or expression index ' || c.relname FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
				WHERE c.relnamespace = current_schema()::regnamespace AND (i.indpred IS NOT NULL OR i.indexprs IS NOT NULL)) f`).Scan(&what)
		if err != nil {
			return err
		}
		if what != "" {
			b = &chainlog.Break{Reason: "schema: an object chainlog does not create can change what is read or written",
				Expected: "only chainlog's tables and indexes", Found: what}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("check store: %w", err)
	}
	return b, nil
}
