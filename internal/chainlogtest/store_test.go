package chainlogtest_test

import (
	"context"
	"fmt"
	"slices"
	"testing"

	"chainlog"
	"chainlog/internal/chainlogtest"
	"chainlog/storetest"
)

// TestSourceContract runs the conformance suite on the in-memory Source, so
// that the tests written against it test a store that keeps the contract.
func TestSourceContract(t *testing.T) {
	storetest.Run(t, func(t *testing.T) storetest.Backend {
		src := chainlogtest.NewSource()
		return storetest.Backend{
			Open:         func(t *testing.T) chainlog.Store { return src },
			OpenReadOnly: func(t *testing.T) chainlog.Store { return src.ReadOnly() },
			Amend: func(ctx context.Context, s chainlog.Store, id string, p chainlog.Patch, reason, actor string) (chainlog.Amendment, error) {
				a, ok := s.(interface {
					AmendPatch(id string, p chainlog.Patch, reason, actor string) (chainlog.Amendment, error)
				})
				if !ok {
					return chainlog.Amendment{}, fmt.Errorf("amend: %T cannot amend", s)
				}
				return a.AmendPatch(id, p, reason, actor)
			},
			RewriteTrail: func(t *testing.T, recs []chainlog.Amendment, head chainlog.Head) {
				for _, r := range recs {
					i := slices.IndexFunc(src.Amends, func(a chainlog.AmendmentScan) bool { return a.Seq == r.Seq })
					if i < 0 {
						t.Fatalf("no amendment record %d", r.Seq)
					}
					src.Amends[i].Amendment = r
				}
				src.AmendHead = &head
			},
			DeleteEvent: func(t *testing.T, id string) {
				r := src.Row(id) // panics when there is none
				// The kit keeps the leaves apart from the rows; a store
				// reads them from the rows, so both go.
				node, seq := r.NodeID, r.Seq
				src.Rows = slices.DeleteFunc(src.Rows, func(r chainlog.StoredEvent) bool { return r.ID == id })
				src.Leaves = slices.DeleteFunc(src.Leaves, func(l chainlogtest.LeafAt) bool { return l.Leaf.NodeID == node && l.Leaf.Seq == seq })
			},
		}
	})
}
