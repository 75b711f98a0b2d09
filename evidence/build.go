package evidence

import (
	"context"
	"fmt"
	"math"
	"slices"

	"chainlog"

	"golang.org/x/mod/sumdb/tlog"
)

// Source is what Build reads from a store. *sqlite.Store implements it.
type Source interface {
	// Events returns one page of events matching q in commit order, with
	// their leaf indexes, and the cursor of the next page (0 at the end).
	Events(ctx context.Context, q chainlog.EventFilter) ([]chainlog.StoredEvent, int64, error)
	// ChainEvents streams a node's stamped events with fromSeq <= seq <=
	// toSeq in seq order, with their leaf indexes; the event is reused.
	ChainEvents(ctx context.Context, nodeID string, fromSeq, toSeq int64, fn func(*chainlog.StoredEvent) error) error
	// ScanAmendmentRange streams the trail's records with after < seq <=
	// upto in seq order.
	ScanAmendmentRange(ctx context.Context, afterSeq, uptoSeq int64, fn func(*chainlog.AmendmentScan) error) error
	// ReadStoredHashes returns the stored tree hashes at indexes.
	ReadStoredHashes(ctx context.Context, indexes []int64) ([]tlog.Hash, error)
}

// Build makes the pack of the events f selects, proven against the signed
// checkpoint. Events that are not leaves of the checkpoint's tree
// (pre-chain, or newer) are left out and counted in Unproven.
func Build(ctx context.Context, src Source, f Filter, signed []byte) (*Pack, error) {
	cp, err := chainlog.ParseSignedCheckpoint(signed)
	if err != nil {
		return nil, err // it names the checkpoint
	}
	p := &Pack{Format: Format, Origin: cp.Origin, Checkpoint: string(signed), Filter: f,
		Events: []Event{}, Context: []Event{}, Anchors: []Event{}, Amendments: []chainlog.Amendment{}, Ranges: []Range{}}
	if err := p.selectEvents(ctx, src, cp.Size); err != nil {
		return nil, err
	}
	if err := p.addRanges(ctx, src, cp.Size); err != nil {
		return nil, err
	}
	if err := p.addAmendments(ctx, src, cp.Size); err != nil {
		return nil, err
	}
	if err := p.addHashes(ctx, src, cp.Size); err != nil {
		return nil, err
	}
	return p, nil
}

func inTree(e *chainlog.StoredEvent, size int64) bool {
	return e.Seq > 0 && e.LeafIndex != nil && *e.LeafIndex < size
}

func (p *Pack) selectEvents(ctx context.Context, src Source, size int64) error {
	q := chainlog.EventFilter{NodeID: p.Filter.NodeID, SessionID: p.Filter.SessionID, AgentID: p.Filter.AgentID,
		Since: p.Filter.Since, Until: p.Filter.Until}
	for {
		page, next, err := src.Events(ctx, q)
		if err != nil {
			return fmt.Errorf("select events: %w", err)
		}
		for i := range page {
			if !inTree(&page[i], size) {
				p.Unproven++
				continue
			}
			if page[i].CostUSD != nil && (math.IsNaN(*page[i].CostUSD) || math.IsInf(*page[i].CostUSD, 0)) {
				return fmt.Errorf("event %q: cost_usd %v has no JSON form", page[i].ID, *page[i].CostUSD)
			}
			p.Events = append(p.Events, fromStored(&page[i], true))
		}
		if next == 0 {
			return nil
		}
		q.After = next
	}
}

// addRanges adds, per node, the range from its first to its last selected
// seq: the events in it the filter does not select, and the bounds.
func (p *Pack) addRanges(ctx context.Context, src Source, size int64) error {
	type span struct{ lo, hi int64 }
	spans := map[string]*span{}
	selected := map[string]map[int64]bool{}
	for _, e := range p.Events {
		s := spans[e.NodeID]
		if s == nil {
			s = &span{e.ChainSeq, e.ChainSeq}
			spans[e.NodeID] = s
			selected[e.NodeID] = map[int64]bool{}
		}
		s.lo, s.hi = min(s.lo, e.ChainSeq), max(s.hi, e.ChainSeq)
		selected[e.NodeID][e.ChainSeq] = true
	}
	nodes := make([]string, 0, len(spans))
	for n := range spans {
		nodes = append(nodes, n)
	}
	slices.Sort(nodes)
	var prunes []chainlog.Amendment
	if ps, ok := src.(chainlog.PruneSource); ok {
		var err error
		if prunes, err = ps.Prunes(ctx); err != nil {
			return fmt.Errorf("read the prune records: %w", err)
		}
	}
	for _, node := range nodes {
		s := spans[node]
		r := Range{NodeID: node, FirstSeq: s.lo, LastSeq: s.hi, OpenEnd: true}
		for _, a := range prunes {
			if a.Prune != nil && a.Prune.NodeID == node && a.Prune.LastSeq == s.lo-1 {
				// The event before the range is a husk: the prune
				// record's anchor bounds it.
				r.PrunedThrough = s.lo - 1
				p.pruneSeqs = append(p.pruneSeqs, a.Seq)
			}
		}
		err := src.ChainEvents(ctx, node, s.lo-1, s.hi+1, func(e *chainlog.StoredEvent) error {
			if selected[node][e.Seq] && e.Seq >= s.lo && e.Seq <= s.hi {
				return nil
			}
			if !inTree(e, size) {
				return nil // after the checkpoint: the range stays open
			}
			if e.Seq == s.hi+1 {
				r.OpenEnd = false
			}
			p.Context = append(p.Context, fromStored(e, false))
			return nil
		})
		if err != nil {
			return fmt.Errorf("node %q: read the chain: %w", node, err)
		}
		p.Ranges = append(p.Ranges, r)
	}
	return nil
}

// addAmendments adds every trail record of the selected events, and the
// records after each up to the first anchor that commits to the trail's
// head past it, with those anchors.
func (p *Pack) addAmendments(ctx context.Context, src Source, size int64) error {
	ids := make(map[string]bool, len(p.Events))
	for _, e := range p.Events {
		ids[e.ID] = true
	}
	var seqs []int64
	err := src.ScanAmendmentRange(ctx, 0, math.MaxInt64, func(a *chainlog.AmendmentScan) error {
		if ids[a.EventID] {
			seqs = append(seqs, a.Seq)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("read the amendment trail: %w", err)
	}
	seqs = append(seqs, p.pruneSeqs...)
	slices.Sort(seqs)
	seqs = slices.Compact(seqs)
	if len(seqs) == 0 {
		return nil
	}
	anchors := map[int64]Event{}
	var anchorSeqs []int64
	err = src.ChainEvents(ctx, chainlog.AnchorNode, 1, math.MaxInt64, func(e *chainlog.StoredEvent) error {
		if seq, _, ok := chainlog.ParseAnchor(&e.Event); ok && inTree(e, size) {
			anchors[seq] = fromStored(e, false)
			anchorSeqs = append(anchorSeqs, seq)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("read the anchors: %w", err)
	}
	slices.Sort(anchorSeqs)
	var runs [][2]int64 // [lo, hi], hi an anchored seq
	for _, s := range seqs {
		i, _ := slices.BinarySearch(anchorSeqs, s)
		if i == len(anchorSeqs) {
			return fmt.Errorf("amendment %d is not yet anchored in the checkpoint's tree: sign a newer checkpoint first", s)
		}
		hi := anchorSeqs[i]
		if n := len(runs); n > 0 && s <= runs[n-1][1]+1 {
			runs[n-1][1] = max(runs[n-1][1], hi)
			continue
		}
		runs = append(runs, [2]int64{s, hi})
	}
	held := make(map[string]bool, len(p.Events)+len(p.Context))
	for _, list := range [][]Event{p.Events, p.Context} {
		for _, e := range list {
			held[e.ID] = true
		}
	}
	for _, r := range runs {
		if a := anchors[r[1]]; !held[a.ID] { // an anchor the filter selects is among the events
			p.Anchors = append(p.Anchors, a)
		}
		err := src.ScanAmendmentRange(ctx, r[0]-1, r[1], func(a *chainlog.AmendmentScan) error {
			p.Amendments = append(p.Amendments, a.Amendment)
			return nil
		})
		if err != nil {
			return fmt.Errorf("read amendments %d-%d: %w", r[0], r[1], err)
		}
	}
	return nil
}

// addHashes adds the stored hashes that the inclusion proofs of every
// event of the pack read, each once.
func (p *Pack) addHashes(ctx context.Context, src Source, size int64) error {
	rec := &recorder{seen: map[int64]bool{}}
	for _, list := range [][]Event{p.Events, p.Context, p.Anchors} {
		for i := range list {
			if _, err := tlog.ProveRecord(size, list[i].LeafIndex, rec); err != nil {
				return fmt.Errorf("event %q: %w", list[i].ID, err)
			}
		}
	}
	slices.Sort(rec.indexes)
	p.Hashes = make(map[int64]string, len(rec.indexes))
	const chunk = 4096
	for i := 0; i < len(rec.indexes); i += chunk {
		idx := rec.indexes[i:min(i+chunk, len(rec.indexes))]
		hs, err := src.ReadStoredHashes(ctx, idx)
		if err != nil {
			return fmt.Errorf("read the tree's hashes: %w", err)
		}
		for j, h := range hs {
			p.Hashes[idx[j]] = encodeHash(h)
		}
	}
	return nil
}

// recorder is a tlog.HashReader that notes the indexes read and returns
// zero hashes: the proofs' shapes, not their values.
type recorder struct {
	seen    map[int64]bool
	indexes []int64
}

func (r *recorder) ReadHashes(indexes []int64) ([]tlog.Hash, error) {
	for _, i := range indexes {
		if !r.seen[i] {
			r.seen[i] = true
			r.indexes = append(r.indexes, i)
		}
	}
	return make([]tlog.Hash, len(indexes)), nil
}
