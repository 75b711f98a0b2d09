package archive

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"chainlog"
	"chainlog/retention"

	"golang.org/x/mod/sumdb/note"
)

// TestRetentionArchiver prunes through retention.Prune with an Archiver:
// the archive is written and verified before the prune, and checks
// against the store after it. A failed checkpoint prunes nothing.
func TestRetentionArchiver(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			ctx := context.Background()
			st, vk, cp := setup(t, b)
			dir := filepath.Join(t.TempDir(), "archive")
			a := &Archiver{Source: st, Dir: dir, Options: Options{Verifiers: []note.Verifier{vk}}}
			req := retention.Request{Before: day(6), Reason: "policy", Actor: "ops", Archiver: a}

			a.Checkpoint = func(context.Context) ([]byte, error) { return nil, errors.New("no key") }
			if _, err := retention.Prune(ctx, st, req); err == nil {
				t.Fatal("prune with a failing archive: no error")
			}
			if recs, _ := st.Prunes(ctx); len(recs) != 0 {
				t.Fatalf("a failed archive pruned: %+v", recs)
			}
			if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
				t.Fatalf("a failed archive left %s: %v", dir, err)
			}

			a.Checkpoint = func(context.Context) ([]byte, error) { return cp, nil }
			res, err := retention.Prune(ctx, st, req)
			if err != nil {
				t.Fatal(err)
			}
			if res.Archive != dir || len(res.Records) != 2 {
				t.Fatalf("result %+v", res)
			}
			if err := CheckStore(ctx, dir, st); err != nil {
				t.Fatal(err)
			}
			verifyOK(t, dir, vk)
			rep, err := chainlog.VerifyStore(ctx, st, chainlog.VerifyOptions{})
			if err != nil || rep.Status != chainlog.StatusValid || rep.Pruned != 10 {
				t.Fatalf("store: %v %+v", err, rep)
			}
		})
	}
}

func TestSameCuts(t *testing.T) {
	nodes := []Node{{NodeID: "a", FirstSeq: 1, LastSeq: 5, Anchor: "x"}, {NodeID: "b", FirstSeq: 3, LastSeq: 4, Anchor: "y"}}
	for _, tc := range []struct {
		name string
		cuts []chainlog.PruneCut
		ok   bool
	}{
		{"same", []chainlog.PruneCut{{NodeID: "b", FirstSeq: 3, LastSeq: 4, Anchor: "y"}, {NodeID: "a", FirstSeq: 1, LastSeq: 5, Anchor: "x"}}, true},
		{"one fewer", []chainlog.PruneCut{{NodeID: "a", FirstSeq: 1, LastSeq: 5, Anchor: "x"}}, false},
		{"other last seq", []chainlog.PruneCut{{NodeID: "a", FirstSeq: 1, LastSeq: 4, Anchor: "x"}, {NodeID: "b", FirstSeq: 3, LastSeq: 4, Anchor: "y"}}, false},
		{"other anchor", []chainlog.PruneCut{{NodeID: "a", FirstSeq: 1, LastSeq: 5, Anchor: "z"}, {NodeID: "b", FirstSeq: 3, LastSeq: 4, Anchor: "y"}}, false},
		{"other node", []chainlog.PruneCut{{NodeID: "a", FirstSeq: 1, LastSeq: 5, Anchor: "x"}, {NodeID: "c", FirstSeq: 3, LastSeq: 4, Anchor: "y"}}, false},
	} {
		if err := sameCuts(nodes, tc.cuts); (err == nil) != tc.ok {
			t.Errorf("%s: %v", tc.name, err)
		}
	}
}

// retention.Prune takes an *Archiver.
var _ retention.Archiver = (*Archiver)(nil)
