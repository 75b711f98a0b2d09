package chainlogtest

import (
	"bytes"
	"cmp"
	"context"
	"fmt"
	"slices"

	"chainlog"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

// The methods below make Source a chainlog.Store, kept in memory, so that
// it passes the conformance suite (chainlog/storetest) as every backend
// must. It has one writer: it is not safe for concurrent writes.

func (s *Source) hashReader() tlog.HashReader {
	return tlog.HashReaderFunc(func(indexes []int64) ([]tlog.Hash, error) {
		out := make([]tlog.Hash, len(indexes))
		for i, x := range indexes {
			if x < 0 || x >= int64(len(s.hashes)) {
				return nil, fmt.Errorf("stored hash %d: %w", x, chainlog.ErrNotFound)
			}
			out[i] = s.hashes[x]
		}
		return out, nil
	})
}

// Ingest stamps events in slice order; an id already stored, or earlier in
// the slice, is a duplicate. The cursors are checked before anything
// changes, then upserted with the events.
func (s *Source) Ingest(ctx context.Context, events []chainlog.Event, cursors ...chainlog.Cursor) (chainlog.IngestResult, error) {
	var res chainlog.IngestResult
	for _, e := range events {
		if err := chainlog.CheckUserNodeID(e.NodeID); err != nil {
			return res, fmt.Errorf("ingest: event %q: %w", e.ID, err)
		}
	}
	for i := range cursors {
		if err := cursors[i].Validate(); err != nil {
			return res, fmt.Errorf("ingest: %w", err)
		}
	}
	seen := make(map[string]bool, len(s.Rows)+len(events))
	for i := range s.Rows {
		seen[s.Rows[i].ID] = true
	}
	for _, e := range events {
		if seen[e.ID] {
			res.Duplicates++
			continue
		}
		seen[e.ID] = true
		s.stamp(e)
		res.Inserted++
	}
	for _, c := range cursors {
		i := slices.IndexFunc(s.CursorRows, func(o chainlog.Cursor) bool { return o.Source == c.Source && o.Path == c.Path })
		if i < 0 {
			s.CursorRows = append(s.CursorRows, c)
		} else {
			s.CursorRows[i] = c
		}
	}
	return res, nil
}

// Cursors returns the cursors of source (all when empty), ordered by
// source, then path.
func (s *Source) Cursors(ctx context.Context, source string) ([]chainlog.Cursor, error) {
	var out []chainlog.Cursor
	for _, c := range s.CursorRows {
		if source == "" || c.Source == source {
			out = append(out, c)
		}
	}
	slices.SortFunc(out, func(a, b chainlog.Cursor) int {
		return cmp.Or(cmp.Compare(a.Source, b.Source), cmp.Compare(a.Path, b.Path))
	})
	return out, nil
}

// Event returns a copy of the stored event with id, or chainlog.ErrNotFound.
func (s *Source) Event(ctx context.Context, id string) (*chainlog.StoredEvent, error) {
	i := slices.IndexFunc(s.Rows, func(r chainlog.StoredEvent) bool { return r.ID == id })
	if i < 0 {
		return nil, fmt.Errorf("event %q: %w", id, chainlog.ErrNotFound)
	}
	r := s.Rows[i]
	if r.Husk() {
		return nil, fmt.Errorf("event %q: %w", id, chainlog.ErrPruned)
	}
	return &r, nil
}

// Export streams the rows (of nodeID, when not empty) in commit order,
// husks left out.
func (s *Source) Export(ctx context.Context, nodeID string, fn func(*chainlog.StoredEvent) error) error {
	for _, r := range s.Rows {
		if (nodeID == "" || r.NodeID == nodeID) && !r.Husk() {
			if err := pass(r, fn); err != nil {
				return err
			}
		}
	}
	return nil
}

// Amendments returns eventID's records, oldest first.
func (s *Source) Amendments(ctx context.Context, eventID string) ([]chainlog.Amendment, error) {
	var out []chainlog.Amendment
	for _, a := range s.Amends {
		if a.EventID == eventID {
			out = append(out, a.Amendment)
		}
	}
	return out, nil
}

// ScanCommitOrder is not offered: the tree's leaves are kept apart from
// the rows (so that tests can tamper with either), and VerifyStore walks
// the chains node by node and the leaves in leaf order.
func (s *Source) ScanCommitOrder(ctx context.Context, buf []chainlog.CommitRow, fn func([]chainlog.CommitRow) ([]chainlog.CommitRow, error)) error {
	return chainlog.ErrNoCommitOrder
}

// CheckStore finds nothing: an in-memory store has no file or schema.
func (s *Source) CheckStore(ctx context.Context) (*chainlog.Break, error) { return nil, nil }

// KeepsTree is true: every stamped row is a leaf.
func (s *Source) KeepsTree() bool { return true }

// DuplicateID returns an id that more than one row holds.
func (s *Source) DuplicateID(ctx context.Context) (string, int64, error) {
	count := map[string]int64{}
	for i := range s.Rows {
		count[s.Rows[i].ID]++
	}
	for i := range s.Rows {
		if n := count[s.Rows[i].ID]; n > 1 {
			return s.Rows[i].ID, n, nil
		}
	}
	return "", 0, nil
}

// ReadStoredHashes returns the tree's stored hashes at indexes.
func (s *Source) ReadStoredHashes(ctx context.Context, indexes []int64) ([]tlog.Hash, error) {
	return s.hashReader().ReadHashes(indexes)
}

// ScanStoredHashes passes the first n stored hashes in one chunk.
func (s *Source) ScanStoredHashes(ctx context.Context, n int64, fn func(int64, []tlog.Hash) error) error {
	if n > int64(len(s.hashes)) {
		return fmt.Errorf("stored hashes: %d of %d: %w", len(s.hashes), n, chainlog.ErrNotFound)
	}
	return fn(0, s.hashes[:n])
}

// ProveEvent proves the event with id in the tree of the given size.
func (s *Source) ProveEvent(ctx context.Context, id string, size int64) (chainlog.ProvenEvent, int64, tlog.RecordProof, error) {
	r, err := s.Event(ctx, id)
	if err != nil {
		return chainlog.ProvenEvent{}, 0, nil, fmt.Errorf("prove: %w", err)
	}
	if r.LeafIndex == nil || *r.LeafIndex >= size || size > s.tree.Size() {
		return chainlog.ProvenEvent{}, 0, nil, fmt.Errorf("prove %q: not in the tree of size %d", id, size)
	}
	pe := chainlog.ProvenOf(r)
	proof, err := tlog.ProveRecord(size, *r.LeafIndex, s.hashReader())
	if err != nil {
		return chainlog.ProvenEvent{}, 0, nil, fmt.Errorf("prove %q: %w", id, err)
	}
	return pe, *r.LeafIndex, proof, nil
}

// ProveConsistency proves that the tree of size newSize extends that of
// size oldSize.
func (s *Source) ProveConsistency(ctx context.Context, oldSize, newSize int64) (tlog.TreeProof, error) {
	if newSize > s.tree.Size() {
		return nil, fmt.Errorf("prove consistency: the tree has %d leaves, not %d", s.tree.Size(), newSize)
	}
	p, err := tlog.ProveTree(newSize, oldSize, s.hashReader())
	if err != nil {
		return nil, fmt.Errorf("prove consistency %d -> %d: %w", oldSize, newSize, err)
	}
	return p, nil
}

// Checkpoint signs the tree head and the amendment trail's head when they
// differ from the latest checkpoint's, after proving that the tree extends
// it and published.
func (s *Source) Checkpoint(ctx context.Context, signer note.Signer, published []byte) ([]byte, error) {
	size, root := s.tree.Size(), s.tree.Root()
	var seq int64
	var hash string
	if s.AmendHead != nil {
		seq, hash = s.AmendHead.Seq, s.AmendHead.Hash
	}
	c := chainlog.Checkpoint{Origin: signer.Name(), Size: size, Root: root}.WithAmendments(seq, hash)
	storedCurrent, publishedCurrent := false, false
	for i, n := range [][]byte{s.signed, published} {
		if n == nil {
			continue
		}
		last, err := chainlog.ParseSignedCheckpoint(n)
		if err != nil {
			return nil, fmt.Errorf("checkpoint: %w", err)
		}
		if last.Origin != c.Origin {
			return nil, fmt.Errorf("checkpoint: the signing key is for %q, the checkpoints are for %q", c.Origin, last.Origin)
		}
		p, err := s.ProveConsistency(ctx, last.Size, size)
		if err != nil {
			return nil, fmt.Errorf("checkpoint: %w", err)
		}
		if err := tlog.CheckTree(p, size, root, last.Size, last.Root); err != nil {
			return nil, fmt.Errorf("checkpoint: the tree does not extend checkpoint %d: %w", last.Size, err)
		}
		if last == c {
			storedCurrent, publishedCurrent = storedCurrent || i == 0, publishedCurrent || i == 1
		}
	}
	switch {
	case storedCurrent && (published == nil || publishedCurrent):
		return nil, nil
	case storedCurrent:
		return bytes.Clone(s.signed), nil
	}
	signed, err := chainlog.SignCheckpoint(c, signer)
	if err != nil {
		return nil, fmt.Errorf("checkpoint: %w", err)
	}
	s.signed = signed
	return bytes.Clone(signed), nil
}

// LatestCheckpoint returns the latest checkpoint Checkpoint signed, or nil.
func (s *Source) LatestCheckpoint(ctx context.Context) ([]byte, error) {
	return bytes.Clone(s.signed), nil
}

// Close does nothing: the Source stays readable.
func (s *Source) Close() error { return nil }

// ReadOnly returns a view of s that reads it and refuses every write.
func (s *Source) ReadOnly() *ReadOnly { return &ReadOnly{s} }

// ReadOnly is a Source opened read-only: Ingest, AmendPatch, Prune and
// Checkpoint fail and change nothing.
type ReadOnly struct{ *Source }

// Ingest refuses.
func (r *ReadOnly) Ingest(ctx context.Context, events []chainlog.Event, cursors ...chainlog.Cursor) (chainlog.IngestResult, error) {
	return chainlog.IngestResult{}, fmt.Errorf("ingest: %w", chainlog.ErrReadOnly)
}

// AmendPatch refuses.
func (r *ReadOnly) AmendPatch(id string, p chainlog.Patch, reason, actor string) (chainlog.Amendment, error) {
	return chainlog.Amendment{}, fmt.Errorf("amend: %w", chainlog.ErrReadOnly)
}

// Checkpoint refuses.
func (r *ReadOnly) Checkpoint(ctx context.Context, signer note.Signer, published []byte) ([]byte, error) {
	return nil, fmt.Errorf("checkpoint: %w", chainlog.ErrReadOnly)
}

// Prune refuses.
func (r *ReadOnly) Prune(ctx context.Context, req chainlog.PruneRequest) ([]chainlog.Amendment, error) {
	return nil, fmt.Errorf("prune: %w", chainlog.ErrReadOnly)
}

var (
	_ chainlog.Store       = (*Source)(nil)
	_ chainlog.Store       = (*ReadOnly)(nil)
	_ chainlog.Pruner      = (*Source)(nil)
	_ chainlog.PruneSource = (*Source)(nil)
)
