package postgres

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"

	"chainlog"

	"github.com/jackc/pgx/v5"
	"golang.org/x/mod/sumdb/tlog"
)

// eventColumns are the events table's columns in the order COPY writes them.
var eventColumns = []string{"leaf_index", "id", "agent_type", "node_id", "agent_id", "session_id", "workspace_id",
	"event_type", "ts", "data", "cost_usd", "token_count", "model", "created_at", "chain_seq", "chain_prev_hash",
	"chain_hash", "payload_digest"}

// Ingest commits events in one transaction (see chainlog.Store). Another
// writer's commit that this one collides with (the same id, or the first
// event of a node) makes it try again on the fresh state.
func (s *Store) Ingest(ctx context.Context, events []chainlog.Event, cursors ...chainlog.Cursor) (chainlog.IngestResult, error) {
	res, err := s.IngestGroups(ctx, [][]chainlog.Event{events}, cursors...)
	if err != nil {
		return chainlog.IngestResult{}, err
	}
	return res[0], nil
}

// appendTx stores events after their nodes' heads, as the next leaves of
// the tree, in tx: it locks the heads of the events' nodes in node_id
// order, stamps the events and moves the heads, and then, last, locks the
// tree's counter row, which it holds until tx ends, so that the leaves it
// appends follow every leaf committed before and precede every leaf
// committed after. An id already stored, or repeated in events, is a
// duplicate.
func (s *Store) appendTx(ctx context.Context, tx pgx.Tx, events []chainlog.Event, now string) (chainlog.IngestResult, error) {
	var res chainlog.IngestResult
	fresh, err := newEvents(ctx, tx, events)
	if err != nil {
		return res, err
	}
	res.Inserted, res.Duplicates = len(fresh), len(events)-len(fresh)
	rows, err := stampRows(ctx, tx, fresh, now)
	if err != nil || len(rows) == 0 {
		return res, err
	}
	return res, appendTree(ctx, tx, rows, now)
}

// newEvents returns the events whose id is neither stored nor earlier in
// events, in order.
func newEvents(ctx context.Context, tx pgx.Tx, events []chainlog.Event) ([]*chainlog.Event, error) {
	if len(events) == 0 {
		return nil, nil
	}
	ids := make([]string, len(events))
	for i := range events {
		ids[i] = events[i].ID
	}
	stored := make(map[string]bool)
	rows, err := tx.Query(ctx, `SELECT id FROM events WHERE id = ANY($1)`, ids)
	if err != nil {
		return nil, err
	}
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return nil, err
		}
		stored[id] = true
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	fresh := make([]*chainlog.Event, 0, len(events))
	for i := range events {
		if !stored[events[i].ID] {
			stored[events[i].ID] = true
			fresh = append(fresh, &events[i])
		}
	}
	return fresh, nil
}

// row is an event stamped for insertion.
type row struct {
	e      *chainlog.Event
	head   chainlog.Head // the node's head after e
	prev   string
	digest string
}

// stampRows locks the heads of the events' nodes in node_id order, stamps
// the events in order, and moves the heads. A node's first event inserts
// its head; when another writer inserted it meanwhile, the result is
// chainlog.ErrConflict, and the transaction is tried again.
func stampRows(ctx context.Context, tx pgx.Tx, events []*chainlog.Event, now string) ([]row, error) {
	if len(events) == 0 {
		return nil, nil
	}
	var nodes []string
	for _, e := range events {
		nodes = append(nodes, e.NodeID)
	}
	slices.Sort(nodes)
	nodes = slices.Compact(nodes)
	heads, err := lockHeads(ctx, tx, nodes)
	if err != nil {
		return nil, err
	}
	stored := make(map[string]bool, len(heads))
	for n := range heads {
		stored[n] = true
	}
	var hs chainlog.Hasher
	rows := make([]row, len(events))
	for i, e := range events {
		h := heads[e.NodeID]
		m := e.Mutable()
		rows[i] = row{e: e, head: h.Next(&hs, e, now), prev: h.Prev(), digest: hs.PayloadSum(&m)}
		heads[e.NodeID] = rows[i].head
	}
	var upd, ins [4][]any
	for _, n := range nodes {
		h := heads[n]
		if stored[n] {
			upd[0], upd[1], upd[2], upd[3] = append(upd[0], n), append(upd[1], h.Hash), append(upd[2], h.Seq), append(upd[3], now)
		} else {
			ins[0], ins[1], ins[2], ins[3] = append(ins[0], n), append(ins[1], h.Hash), append(ins[2], h.Seq), append(ins[3], now)
		}
	}
	if len(upd[0]) > 0 {
		tag, err := tx.Exec(ctx, `UPDATE chain_heads AS h SET chain_hash = n.hash, seq = n.seq, updated_at = n.at
			FROM unnest($1::text[], $2::text[], $3::bigint[], $4::text[]) AS n(node, hash, seq, at)
			WHERE h.node_id = n.node`, upd[0], upd[1], upd[2], upd[3])
		if err != nil {
			return nil, fmt.Errorf("move chain heads: %w", err)
		}
		if tag.RowsAffected() != int64(len(upd[0])) {
			return nil, fmt.Errorf("move chain heads: %d of %d rows changed", tag.RowsAffected(), len(upd[0]))
		}
	}
	if len(ins[0]) > 0 {
		tag, err := tx.Exec(ctx, `INSERT INTO chain_heads (node_id, chain_hash, seq, updated_at)
			SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[], $4::text[])
			ON CONFLICT (node_id) DO NOTHING`, ins[0], ins[1], ins[2], ins[3])
		if err != nil {
			return nil, fmt.Errorf("insert chain heads: %w", err)
		}
		if tag.RowsAffected() != int64(len(ins[0])) {
			return nil, fmt.Errorf("%w: another writer began a chain of %v", chainlog.ErrConflict, ins[0])
		}
	}
	return rows, nil
}

// lockHeads locks the stored heads of nodes (sorted), in node_id order, and
// returns them; a node without a head is missing from the map.
func lockHeads(ctx context.Context, tx pgx.Tx, nodes []string) (map[string]chainlog.Head, error) {
	rows, err := tx.Query(ctx, `SELECT node_id, chain_hash, seq, updated_at FROM chain_heads
		WHERE node_id = ANY($1) ORDER BY node_id FOR UPDATE`, nodes)
	if err != nil {
		return nil, fmt.Errorf("lock chain heads: %w", err)
	}
	heads := make(map[string]chainlog.Head, len(nodes))
	for rows.Next() {
		var h chainlog.Head
		if err := rows.Scan(&h.NodeID, &h.Hash, &h.Seq, &h.UpdatedAt); err != nil {
			rows.Close()
			return nil, err
		}
		heads[h.NodeID] = h
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("lock chain heads: %w", err)
	}
	return heads, nil
}

// appendTree locks the counter row, then writes rows as the next leaves:
// the events with their leaf indexes (through COPY), the tree's new stored
// hashes, and its new head.
func appendTree(ctx context.Context, tx pgx.Tx, rows []row, now string) error {
	var size int64
	var root []byte
	if err := tx.QueryRow(ctx, `SELECT size, root FROM tree_head WHERE id = 1 FOR UPDATE`).Scan(&size, &root); err != nil {
		return fmt.Errorf("lock the tree's counter: %w", err)
	}
	t, err := openTreeAppend(ctx, tx, size, root)
	if err != nil {
		return err
	}
	for i := range rows {
		r := &rows[i]
		l := chainlog.Leaf{NodeID: r.e.NodeID, Seq: r.head.Seq, ChainHash: r.head.Hash, PayloadDigest: r.digest}
		if err := t.add(chainlog.LeafHash(&l)); err != nil {
			return err
		}
	}
	n, err := tx.CopyFrom(ctx, pgx.Identifier{"events"}, eventColumns, pgx.CopyFromSlice(len(rows), func(i int) ([]any, error) {
		r := &rows[i]
		e := r.e
		var data any
		if e.Data != nil {
			data = string(e.Data)
		}
		return []any{size + int64(i), e.ID, e.AgentType, e.NodeID, e.AgentID, e.SessionID, e.WorkspaceID, e.EventType, e.TS,
			data, e.CostUSD, e.TokenCount, e.Model, now, r.head.Seq, r.prev, r.head.Hash, r.digest}, nil
	}))
	if err != nil {
		return fmt.Errorf("copy events: %w", err)
	}
	if n != int64(len(rows)) {
		return fmt.Errorf("copy events: %d of %d rows written", n, len(rows))
	}
	return t.flush(ctx, tx, now)
}

// writeCursors upserts cursors, the last one for a (source, path) winning,
// in key order.
func writeCursors(ctx context.Context, tx pgx.Tx, cursors []chainlog.Cursor, now string) error {
	if len(cursors) == 0 {
		return nil
	}
	last := map[[2]string]chainlog.Cursor{}
	for _, c := range cursors {
		last[[2]string{c.Source, c.Path}] = c
	}
	keys := make([][2]string, 0, len(last))
	for k := range last {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b [2]string) int { return cmp.Or(strings.Compare(a[0], b[0]), strings.Compare(a[1], b[1])) })
	for _, k := range keys {
		c := last[k]
		if _, err := tx.Exec(ctx, `INSERT INTO cursors (source, path, byte_offset, file_id, size, updated_at)
			VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (source, path) DO UPDATE
			SET byte_offset = $3, file_id = $4, size = $5, updated_at = $6`,
			c.Source, c.Path, c.Offset, c.FileID, c.Size, now); err != nil {
			return fmt.Errorf("cursor %s %s: %w", c.Source, c.Path, err)
		}
	}
	return nil
}

// Cursors returns the stored cursors of source (all when empty), ordered by
// source, then path.
func (s *Store) Cursors(ctx context.Context, source string) ([]chainlog.Cursor, error) {
	var out []chainlog.Cursor
	err := s.read(ctx, func(q querier) error {
		rows, err := q.Query(ctx, `SELECT source, path, byte_offset, file_id, size FROM cursors
			WHERE $1 = '' OR source = $1 ORDER BY source COLLATE "C", path COLLATE "C"`, source)
		if err != nil {
			return err
		}
		out, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (chainlog.Cursor, error) {
			var c chainlog.Cursor
			err := r.Scan(&c.Source, &c.Path, &c.Offset, &c.FileID, &c.Size)
			return c, err
		})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("cursors: %w", err)
	}
	return out, nil
}

// treeAppend appends leaves to a tree of size, holding the hashes that the
// appends read (the tree's frontier) and those they store.
type treeAppend struct {
	size    int64
	base    int64 // stored index of pending[0]
	known   map[int64]tlog.Hash
	pending []tlog.Hash
}

// openTreeAppend reads the frontier of the tree of size and checks that it
// gives root: a stored tree altered behind the store is not appended to.
func openTreeAppend(ctx context.Context, q querier, size int64, root []byte) (*treeAppend, error) {
	t := &treeAppend{size: size, base: tlog.StoredHashIndex(0, size), known: map[int64]tlog.Hash{}}
	idx := chainlog.FrontierIndexes(size)
	hs, err := readHashes(ctx, q, idx)
	if err != nil {
		return nil, fmt.Errorf("read the tree's frontier: %w", err)
	}
	for i, x := range idx {
		t.known[x] = hs[i]
	}
	got, err := tlog.TreeHash(size, t)
	if err != nil {
		return nil, fmt.Errorf("check the tree's frontier: %w", err)
	}
	if string(got[:]) != string(root) {
		return nil, fmt.Errorf("%w: at size %d, the root from tree_segments' frontier is %x, tree_head's is %x; nothing was written",
			ErrTreeMismatch, size, got[:], root)
	}
	return t, nil
}

// ErrTreeMismatch says that the stored tree disagrees with tree_head.
var ErrTreeMismatch = fmt.Errorf("the stored Merkle tree disagrees with tree_head")

// ReadHashes serves the hashes the appends read: the frontier read first,
// and those appended since.
func (t *treeAppend) ReadHashes(indexes []int64) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(indexes))
	for i, x := range indexes {
		if j := x - t.base; j >= 0 && j < int64(len(t.pending)) {
			out[i] = t.pending[j]
			continue
		}
		h, ok := t.known[x]
		if !ok {
			return nil, fmt.Errorf("stored hash %d: %w", x, chainlog.ErrNotFound)
		}
		out[i] = h
	}
	return out, nil
}

func (t *treeAppend) add(leaf tlog.Hash) error {
	hs, err := tlog.StoredHashesForRecordHash(t.size, leaf, t)
	if err != nil {
		return fmt.Errorf("merkle leaf %d: %w", t.size, err)
	}
	t.pending = append(t.pending, hs...)
	t.size++
	return nil
}

// flush writes the appended hashes as one segment and the tree's new head.
func (t *treeAppend) flush(ctx context.Context, tx pgx.Tx, now string) error {
	root, err := tlog.TreeHash(t.size, t)
	if err != nil {
		return fmt.Errorf("tree root at %d: %w", t.size, err)
	}
	blob := make([]byte, 0, len(t.pending)*tlog.HashSize)
	for _, h := range t.pending {
		blob = append(blob, h[:]...)
	}
	if _, err := tx.CopyFrom(ctx, pgx.Identifier{"tree_segments"}, []string{"start", "hashes"},
		pgx.CopyFromRows([][]any{{t.base, blob}})); err != nil {
		return fmt.Errorf("copy tree hashes: %w", err)
	}
	if _, err := tx.Exec(ctx, `UPDATE tree_head SET size = $1, root = $2, updated_at = $3 WHERE id = 1`, t.size, root[:], now); err != nil {
		return fmt.Errorf("move the tree head: %w", err)
	}
	return nil
}

// readHashes reads the stored hashes at indexes; one that is not stored is
// an error wrapping chainlog.ErrNotFound.
func readHashes(ctx context.Context, q querier, indexes []int64) ([]tlog.Hash, error) {
	if len(indexes) == 0 {
		return nil, nil
	}
	rows, err := q.Query(ctx, `SELECT n.i, substring(s.hashes FROM (n.i - s.start)::int * 32 + 1 FOR 32)
		FROM unnest($1::bigint[]) WITH ORDINALITY AS n(i, ord)
		LEFT JOIN LATERAL (SELECT start, hashes FROM tree_segments WHERE start <= n.i ORDER BY start DESC LIMIT 1) s ON true
		ORDER BY n.ord`, indexes)
	if err != nil {
		return nil, err
	}
	out := make([]tlog.Hash, 0, len(indexes))
	for rows.Next() {
		var i int64
		var b []byte
		if err := rows.Scan(&i, &b); err != nil {
			rows.Close()
			return nil, err
		}
		if len(b) != tlog.HashSize {
			rows.Close()
			return nil, fmt.Errorf("stored hash %d: %w", i, chainlog.ErrNotFound)
		}
		out = append(out, tlog.Hash(b))
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	return out, nil
}
