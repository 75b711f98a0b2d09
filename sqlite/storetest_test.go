package sqlite_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"

	"chainlog"
	"chainlog/sqlite"
	"chainlog/storetest"
)

var (
	_ chainlog.Store   = (*sqlite.Store)(nil)
	_ chainlog.Amender = (*sqlite.Store)(nil)
)

// TestStoreContract runs the conformance suite on a fresh store file per
// subtest; two Stores opened on one file are two writers.
func TestStoreContract(t *testing.T) {
	t.Parallel()
	storetest.Run(t, func(t *testing.T) storetest.Backend {
		path := newStorePath(t)
		return storetest.Backend{
			Open: func(t *testing.T) chainlog.Store {
				st, err := sqlite.Open(t.Context(), path, sqlite.Options{Now: testClock()})
				if err != nil {
					t.Fatalf("Open(%s): %v", path, err)
				}
				return st
			},
			OpenReadOnly: func(t *testing.T) chainlog.Store {
				st, err := sqlite.OpenReadOnly(t.Context(), path)
				if err != nil {
					t.Fatalf("OpenReadOnly(%s): %v", path, err)
				}
				return st
			},
			Amend: func(ctx context.Context, s chainlog.Store, id string, p chainlog.Patch, reason, actor string) (chainlog.Amendment, error) {
				st, ok := s.(*sqlite.Store)
				if !ok {
					return chainlog.Amendment{}, fmt.Errorf("amend: %T is not a *sqlite.Store", s)
				}
				return st.Amend(ctx, sqlite.AmendRequest{EventID: id, Patch: p, Kind: chainlog.KindAmend, Reason: reason, Actor: actor})
			},
			SharedWriters: true,
			RewriteTrail: func(t *testing.T, recs []chainlog.Amendment, head chainlog.Head) {
				var stmts []rawStmt
				for _, a := range recs {
					fields, err := json.Marshal(a.Fields)
					if err != nil {
						t.Fatal(err)
					}
					stmts = append(stmts, rawSQL(`UPDATE amendments SET event_id = ?, kind = ?, fields = ?, digest_before = ?, digest_after = ?,
						reason = ?, actor = ?, at = ?, prev_hash = ?, hash = ? WHERE seq = ?`, a.EventID, a.Kind, string(fields),
						a.DigestBefore, a.DigestAfter, a.Reason, a.Actor, a.At, a.PrevHash, a.Hash, a.Seq))
				}
				stmts = append(stmts, rawSQL(`UPDATE amendment_head SET seq = ?, hash = ?, updated_at = ?`, head.Seq, head.Hash, head.UpdatedAt))
				attack(t, path, stmts...)
			},
			DeleteEvent: func(t *testing.T, id string) {
				attack(t, path, rawSQL(`DELETE FROM events WHERE id = ?`, id))
			},
		}
	})
}
