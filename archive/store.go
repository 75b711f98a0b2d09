package archive

import (
	"context"
	"fmt"

	"chainlog"
)

// Store is what CheckStore reads from a store: its prune records and its
// amendment trail. *sqlite.Store and the in-memory test store implement
// it.
type Store interface {
	chainlog.PruneSource
	// AmendmentHashAt returns the hash of amendment record seq; found is
	// false when there is none.
	AmendmentHashAt(ctx context.Context, seq int64) (hash string, found bool, err error)
}

// CheckStore checks the archive in dir against st, after the prune: the
// archive's cuts are exactly the ranges of one prune of st (its records,
// one per node, written together), node, first and last seq, count and
// anchor, no more and no less; a cut after an earlier prune starts at
// that prune's anchor; and every amendment record of the archive is the
// store's record of the same seq. Verify checks the archive itself; run
// it first. A mismatch is an *Error naming the node or the record.
func CheckStore(ctx context.Context, dir string, st Store) error {
	m, err := readManifest(dir)
	if err != nil {
		return err
	}
	recs, err := st.Prunes(ctx)
	if err != nil {
		return fmt.Errorf("read the store's prune records: %w", err)
	}
	matched, err := matchCuts(m, recs)
	if err != nil {
		return err
	}
	if err := sameOperation(m, recs, matched); err != nil {
		return err
	}
	return checkTrail(ctx, dir, st)
}

// matchCuts finds, for each cut, the prune record of its node that starts
// at its first seq, and compares the two; it returns the records' indexes.
func matchCuts(m *Manifest, recs []chainlog.Amendment) ([]int, error) {
	out := make([]int, len(m.Nodes))
	for i := range m.Nodes {
		n := &m.Nodes[i]
		out[i] = -1
		prevAnchor := chainlog.GenesisHash
		for j := range recs {
			r := recs[j].Prune
			if r == nil || r.NodeID != n.NodeID {
				continue
			}
			if r.LastSeq == n.FirstSeq-1 {
				prevAnchor = r.Anchor
			}
			if r.FirstSeq == n.FirstSeq {
				out[i] = j
			}
		}
		bad := func(reason, expected, found string) error {
			return &Error{File: ManifestFile, NodeID: n.NodeID, Reason: reason, Expected: expected, Found: found}
		}
		if out[i] < 0 {
			return nil, bad(fmt.Sprintf("the store has no prune record of the node from seq %d: the archive is not of a prune of this store", n.FirstSeq), "", "")
		}
		a := &recs[out[i]]
		r := a.Prune
		switch want := fmt.Sprintf("seq %d-%d, %d events, anchor %s", r.FirstSeq, r.LastSeq, r.Count, r.Anchor); {
		case r.LastSeq != n.LastSeq || r.Count != n.Count || r.Anchor != n.Anchor:
			return nil, bad(fmt.Sprintf("the cut is not what the store's prune record %d names", a.Seq), want,
				fmt.Sprintf("seq %d-%d, %d events, anchor %s", n.FirstSeq, n.LastSeq, n.Count, n.Anchor))
		case n.PrevAnchor != prevAnchor:
			return nil, bad("the cut does not start where the store's previous prune of the node ended", prevAnchor, n.PrevAnchor)
		}
	}
	return out, nil
}

// sameOperation checks that the matched records are one prune, whole: a
// run of consecutive trail records with one time, actor and reason, and
// that the records next to the run are not of the same prune.
func sameOperation(m *Manifest, recs []chainlog.Amendment, matched []int) error {
	lo, hi := matched[0], matched[0]
	for _, j := range matched {
		lo, hi = min(lo, j), max(hi, j)
	}
	same := func(a, b *chainlog.Amendment) bool {
		return a.At == b.At && a.Actor == b.Actor && a.Reason == b.Reason && a.Prune.Before == b.Prune.Before && a.Seq == b.Seq+1
	}
	first := &recs[lo]
	for j := lo + 1; j <= hi; j++ {
		if !same(&recs[j], &recs[j-1]) {
			return &Error{File: ManifestFile, NodeID: recs[j].Prune.NodeID,
				Reason: fmt.Sprintf("the archive's cuts are of more than one prune of the store: records %d and %d", first.Seq, recs[j].Seq)}
		}
	}
	if hi-lo+1 != len(m.Nodes) {
		return &Error{File: ManifestFile, Reason: fmt.Sprintf("the store's prune (records %d-%d) pruned more nodes than the archive's cuts", first.Seq, recs[hi].Seq),
			Expected: fmt.Sprintf("%d cuts", hi-lo+1), Found: fmt.Sprintf("%d cuts", len(m.Nodes))}
	}
	var also *chainlog.Amendment
	switch {
	case lo > 0 && same(&recs[lo], &recs[lo-1]):
		also = &recs[lo-1]
	case hi+1 < len(recs) && same(&recs[hi+1], &recs[hi]):
		also = &recs[hi+1]
	}
	if also != nil {
		r := also.Prune
		return &Error{File: ManifestFile, NodeID: r.NodeID,
			Reason: fmt.Sprintf("the store's prune (record %d) also pruned the node, seq %d-%d, which the archive lacks", also.Seq, r.FirstSeq, r.LastSeq)}
	}
	return nil
}

// checkTrail compares every amendment record of the archive with the
// store's record of the same seq.
func checkTrail(ctx context.Context, dir string, st Store) error {
	v := &verifier{dir: dir, digests: map[string]File{}}
	return v.lines(AmendmentsFile, func(n int64, line []byte) error {
		a, err := decodeAmendment(line)
		if err != nil {
			return &Error{File: AmendmentsFile, Line: n, Reason: err.Error()}
		}
		hash, found, err := st.AmendmentHashAt(ctx, a.Seq)
		if err != nil {
			return fmt.Errorf("read amendment %d: %w", a.Seq, err)
		}
		if !found || hash != a.Hash {
			return &Error{File: AmendmentsFile, Line: n, Reason: fmt.Sprintf("amendment %d of event %q is not the store's record %d", a.Seq, a.EventID, a.Seq),
				Expected: orNone(hash), Found: a.Hash}
		}
		return nil
	})
}
