package postgres_test

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"chainlog"
	"chainlog/internal/pgtest"
	"chainlog/postgres"
	"chainlog/storetest"
)

// testClock is a clock that moves one millisecond per reading; it is safe
// for concurrent use, as a store's clock must be.
func testClock() func() time.Time {
	var mu sync.Mutex
	t := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	return func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		t = t.Add(time.Millisecond)
		return t
	}
}

func openStore(t *testing.T, dsn string) *postgres.Store {
	t.Helper()
	st, err := postgres.Open(t.Context(), dsn, postgres.Options{Now: testClock(), MaxConns: 4})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return st
}

// TestStoreContract runs the conformance suite on a fresh schema per
// subtest; two Stores opened on one schema are two writers.
func TestStoreContract(t *testing.T) {
	t.Parallel()
	storetest.Run(t, func(t *testing.T) storetest.Backend {
		dsn := pgtest.Schema(t)
		return storetest.Backend{
			Open: func(t *testing.T) chainlog.Store { return openStore(t, dsn) },
			OpenReadOnly: func(t *testing.T) chainlog.Store {
				st, err := postgres.OpenReadOnly(t.Context(), dsn)
				if err != nil {
					t.Fatalf("OpenReadOnly: %v", err)
				}
				return st
			},
			Amend: func(ctx context.Context, s chainlog.Store, id string, p chainlog.Patch, reason, actor string) (chainlog.Amendment, error) {
				a, ok := s.(chainlog.Amender)
				if !ok {
					return chainlog.Amendment{}, fmt.Errorf("amend: %T is not a chainlog.Amender", s)
				}
				return a.Amend(ctx, chainlog.AmendRequest{EventID: id, Patch: p, Kind: chainlog.KindAmend, Reason: reason, Actor: actor})
			},
			SharedWriters: true,
			RewriteTrail: func(t *testing.T, recs []chainlog.Amendment, head chainlog.Head) {
				for _, a := range recs {
					fields, err := json.Marshal(a.Fields)
					if err != nil {
						t.Fatal(err)
					}
					pgtest.Exec(t, dsn, `UPDATE amendments SET event_id = $1, kind = $2, fields = $3, digest_before = $4, digest_after = $5,
						reason = $6, actor = $7, at = $8, prev_hash = $9, hash = $10 WHERE seq = $11`, a.EventID, a.Kind, string(fields),
						a.DigestBefore, a.DigestAfter, a.Reason, a.Actor, a.At, a.PrevHash, a.Hash, a.Seq)
				}
				pgtest.Exec(t, dsn, `UPDATE amendment_head SET seq = $1, hash = $2, updated_at = $3`, head.Seq, head.Hash, head.UpdatedAt)
			},
			DeleteEvent: func(t *testing.T, id string) {
				pgtest.Exec(t, dsn, `DELETE FROM events WHERE id = $1`, id)
			},
		}
	})
}
