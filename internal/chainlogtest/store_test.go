package chainlogtest_test

import (
	"context"
	"fmt"
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
		}
	})
}
