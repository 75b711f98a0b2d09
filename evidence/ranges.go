package evidence

import (
	"fmt"
	"slices"

	"chainlog"
)

// checkRanges checks that each node of the selection has one range, that
// the range holds every seq from its first to its last, each linked to the
// one before, that the events in it the filter does not select and its
// bounds (the genesis link, or the events just outside it) do not match
// the filter, and that every event of the pack lies in or at a range.
func (v *verifier) checkRanges() error {
	ranges := map[string]*Range{}
	for i := range v.p.Ranges {
		r := &v.p.Ranges[i]
		subj := fmt.Sprintf("range of node %q", r.NodeID)
		if ranges[r.NodeID] != nil {
			return fail(subj, "the pack has two ranges for the node")
		}
		if r.FirstSeq < 1 || r.LastSeq < r.FirstSeq {
			return fail(subj, "seqs %d-%d are not a range", r.FirstSeq, r.LastSeq)
		}
		ranges[r.NodeID] = r
		if err := v.checkRange(r); err != nil {
			return err
		}
	}
	for li, list := range [][]Event{v.p.Events, v.p.Context} {
		for i := range list {
			e := &list[i]
			r := ranges[e.NodeID]
			lo, hi := int64(0), int64(-1)
			if r != nil {
				lo, hi = r.FirstSeq, r.LastSeq
				if li == 1 {
					lo, hi = lo-1, hi+1
				}
			}
			if e.ChainSeq < lo || e.ChainSeq > hi {
				return fail(eventSubject(e), "outside the pack's range of its node")
			}
		}
	}
	return nil
}

func (v *verifier) checkRange(r *Range) error {
	prev := chainlog.GenesisHash
	if r.PrunedThrough != 0 {
		if r.PrunedThrough != r.FirstSeq-1 {
			return fail(fmt.Sprintf("range of node %q", r.NodeID), "pruned through seq %d, but it starts at seq %d", r.PrunedThrough, r.FirstSeq)
		}
		i := slices.IndexFunc(v.p.Amendments, func(a chainlog.Amendment) bool {
			return a.Kind == chainlog.KindPrune && a.Prune != nil && a.Prune.NodeID == r.NodeID && a.Prune.LastSeq == r.PrunedThrough
		})
		if i < 0 {
			return fail(fmt.Sprintf("range of node %q", r.NodeID), "pruned through seq %d, but the pack holds no prune record of it", r.PrunedThrough)
		}
		prev = v.p.Amendments[i].Prune.Anchor
	} else if r.FirstSeq > 1 {
		b := v.bySeq[nodeSeq{r.NodeID, r.FirstSeq - 1}]
		if b == nil {
			return fail(fmt.Sprintf("range of node %q", r.NodeID),
				"the event before seq %d, which bounds the range, is missing", r.FirstSeq)
		}
		if v.p.Filter.Match(b) {
			return fail(eventSubject(b), "it bounds the range of its node, but the filter selects it: the range's first events are missing")
		}
		prev = b.ChainHash
	}
	for seq := r.FirstSeq; seq <= r.LastSeq; seq++ {
		e := v.bySeq[nodeSeq{r.NodeID, seq}]
		if e == nil {
			return fail(fmt.Sprintf("range of node %q", r.NodeID), "seq %d is missing between %d and %d", seq, r.FirstSeq, r.LastSeq)
		}
		if e.ChainPrevHash != prev {
			return fail(eventSubject(e), "chain_prev_hash %s is not the chain_hash of seq %d (%s)", e.ChainPrevHash, seq-1, prev)
		}
		if !v.selected[e.ID] && v.p.Filter.Match(e) {
			return fail(eventSubject(e), "the filter selects it, but the pack gives it only as context")
		}
		prev = e.ChainHash
	}
	if r.OpenEnd {
		return nil
	}
	b := v.bySeq[nodeSeq{r.NodeID, r.LastSeq + 1}]
	switch {
	case b == nil:
		return fail(fmt.Sprintf("range of node %q", r.NodeID), "the event after seq %d, which bounds the range, is missing", r.LastSeq)
	case b.ChainPrevHash != prev:
		return fail(eventSubject(b), "chain_prev_hash %s is not the chain_hash of seq %d (%s)", b.ChainPrevHash, r.LastSeq, prev)
	case v.p.Filter.Match(b):
		return fail(eventSubject(b), "it bounds the range of its node, but the filter selects it: the range's last events are missing")
	}
	return nil
}
