package chainlogtest

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"chainlog"
)

// Prunes returns the trail's prune records in seq order
// (chainlog.PruneSource).
func (s *Source) Prunes(ctx context.Context) ([]chainlog.Amendment, error) {
	var out []chainlog.Amendment
	for _, a := range s.Amends {
		if a.Kind == chainlog.KindPrune {
			out = append(out, a.Amendment)
		}
	}
	return out, nil
}

// prunedThrough is the last seq of node that a prune record covers.
func (s *Source) prunedThrough(node string) int64 {
	var last int64
	for _, a := range s.Amends {
		if a.Prune != nil && a.Prune.NodeID == node {
			last = max(last, a.Prune.LastSeq)
		}
	}
	return last
}

// nodeRows returns node's stamped rows in seq order.
func (s *Source) nodeRows(node string) []*chainlog.StoredEvent {
	var out []*chainlog.StoredEvent
	for i := range s.Rows {
		if r := &s.Rows[i]; r.NodeID == node && r.Seq > 0 {
			out = append(out, r)
		}
	}
	slices.SortFunc(out, func(a, b *chainlog.StoredEvent) int { return cmp.Compare(a.Seq, b.Seq) })
	return out
}

// PlanPrune is sqlite.Store's PlanPrune over the rows (chainlog.Pruner).
func (s *Source) PlanPrune(ctx context.Context, before time.Time, nodeID string) ([]chainlog.PruneCut, error) {
	heads, err := s.Heads(ctx, nodeID)
	if err != nil {
		return nil, err
	}
	var cuts []chainlog.PruneCut
	for _, h := range heads {
		if strings.HasPrefix(h.NodeID, chainlog.ReservedNodePrefix) {
			continue
		}
		done := s.prunedThrough(h.NodeID)
		c := chainlog.PruneCut{NodeID: h.NodeID, FirstSeq: done + 1, LastSeq: done}
		for _, r := range s.nodeRows(h.NodeID) {
			if r.Seq <= done {
				continue
			}
			if r.Seq != c.LastSeq+1 {
				return nil, fmt.Errorf("plan prune: node %q: seq %d follows seq %d: the chain has a gap", h.NodeID, r.Seq, c.LastSeq)
			}
			ts, err := chainlog.ParseTS(r.TS)
			if err != nil || !ts.Before(before) {
				break
			}
			c.LastSeq, c.Anchor = r.Seq, r.Hash
		}
		if c.LastSeq >= c.FirstSeq {
			cuts = append(cuts, c)
		}
	}
	return cuts, nil
}

// Prune is sqlite.Store's Prune over the rows (chainlog.Pruner): every
// cut is checked before anything changes.
func (s *Source) Prune(ctx context.Context, req chainlog.PruneRequest) ([]chainlog.Amendment, error) {
	if err := req.Check(); err != nil {
		return nil, fmt.Errorf("prune: %w", err)
	}
	cuts := slices.Clone(req.Cuts)
	slices.SortFunc(cuts, func(x, y chainlog.PruneCut) int { return strings.Compare(x.NodeID, y.NodeID) })
	before := chainlog.FormatPruneTime(req.Before)
	ranges := make([]*chainlog.PruneRange, len(cuts))
	for i, c := range cuts {
		if i > 0 && cuts[i-1].NodeID == c.NodeID {
			return nil, fmt.Errorf("prune: node %q has two cuts", c.NodeID)
		}
		if err := chainlog.CheckUserNodeID(c.NodeID); err != nil {
			return nil, fmt.Errorf("prune: %w", err)
		}
		r := &chainlog.PruneRange{NodeID: c.NodeID, FirstSeq: c.FirstSeq, LastSeq: c.LastSeq,
			Count: c.LastSeq - c.FirstSeq + 1, Anchor: c.Anchor, Before: before}
		var prev *chainlog.PruneRange
		if t := s.prunedThrough(c.NodeID); t > 0 {
			prev = &chainlog.PruneRange{LastSeq: t}
		}
		next := ""
		for _, row := range s.nodeRows(c.NodeID) {
			if row.Seq == c.LastSeq+1 {
				next = row.PrevHash
			}
		}
		if h, ok := s.HeadOf[c.NodeID]; ok && next == "" && h.Seq == c.LastSeq {
			next = h.Hash
		}
		if err := chainlog.CheckPruneRange(r, prev, next); err != nil {
			return nil, fmt.Errorf("prune: %w", err)
		}
		ranges[i] = r
	}
	var recs []chainlog.Amendment
	for _, r := range ranges {
		for _, row := range s.nodeRows(r.NodeID) {
			if row.Seq >= r.FirstSeq && row.Seq <= r.LastSeq {
				row.MakeHusk()
			}
		}
		prev := chainlog.GenesisHash
		if s.AmendHead != nil {
			prev = s.AmendHead.Hash
		}
		a := chainlog.Amendment{Seq: int64(len(s.Amends) + 1), Kind: chainlog.KindPrune, Fields: []string{},
			Reason: req.Reason, Actor: req.Actor, At: "p", Prune: r, PrevHash: prev}
		a.Hash = chainlog.AmendmentHash(prev, &a)
		s.Amends = append(s.Amends, chainlog.AmendmentScan{Amendment: a})
		s.AmendHead = &chainlog.Head{Hash: a.Hash, Seq: a.Seq}
		recs = append(recs, a)
	}
	last := recs[len(recs)-1]
	s.stamp(chainlog.AnchorEvent(last.Seq, last.Hash, last.At))
	return recs, nil
}
