package archive

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"chainlog"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

func verifyOK(t *testing.T, dir string, vk note.Verifier) *Report {
	t.Helper()
	rep, err := Verify(context.Background(), dir, Options{Verifiers: []note.Verifier{vk}})
	if err != nil {
		t.Fatalf("verify: %v", err)
	}
	return rep
}

// TestWriteVerifyPrune archives two prunes in turn, each checked alone
// and against the store after its prune; the store stays valid.
func TestWriteVerifyPrune(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			ctx := context.Background()
			st, vk, cp := setup(t, b)
			var prev []Node
			for i, d := range []int{6, 9} {
				cuts := plan(t, st, d)
				dir := filepath.Join(t.TempDir(), "archive")
				m, err := Write(ctx, st, dir, cuts, cp)
				if err != nil {
					t.Fatal(err)
				}
				rep := verifyOK(t, dir, vk)
				if rep.Events != m.Events || len(rep.Nodes) != 2 {
					t.Fatalf("report %+v, manifest %+v", rep, m)
				}
				if err := CheckStore(ctx, dir, st); err == nil {
					t.Fatalf("prune %d: CheckStore before the prune: no error", i)
				}
				prune(t, st, cuts, d)
				if err := CheckStore(ctx, dir, st); err != nil {
					t.Fatalf("prune %d: CheckStore: %v", i, err)
				}
				for j, n := range rep.Nodes {
					switch {
					case i == 0 && (n.FirstSeq != 1 || n.PrevAnchor != chainlog.GenesisHash):
						t.Errorf("first prune, node %s: %+v", n.NodeID, n)
					case i == 1 && (n.FirstSeq != prev[j].LastSeq+1 || n.PrevAnchor != prev[j].Anchor):
						t.Errorf("second prune, node %s: %+v after %+v", n.NodeID, n, prev[j])
					}
				}
				if want := int64(2); i == 0 && m.Amendments != want+1 {
					t.Errorf("first archive: %d amendments, want 3", m.Amendments)
				}
				prev = rep.Nodes
				vr, err := chainlog.VerifyStore(ctx, st, chainlog.VerifyOptions{})
				if err != nil || vr.Status != chainlog.StatusValid {
					t.Fatalf("store after prune %d: %v %+v", i, err, vr)
				}
			}
		})
	}
}

func TestWriteRefuses(t *testing.T) {
	ctx := context.Background()
	st, _, cp := setup(t, backends[0])
	cuts := plan(t, st, 6)
	dir := filepath.Join(t.TempDir(), "a")
	if _, err := Write(ctx, st, dir, cuts, cp); err != nil {
		t.Fatal(err)
	}
	bad := cuts[0]
	bad.Anchor = cuts[1].Anchor
	for _, tc := range []struct {
		name string
		dir  string
		cuts []chainlog.PruneCut
	}{
		{"non-empty dir", dir, cuts},
		{"no cuts", filepath.Join(t.TempDir(), "b"), nil},
		{"anchor not the store's", filepath.Join(t.TempDir(), "c"), []chainlog.PruneCut{bad}},
		{"two cuts of a node", filepath.Join(t.TempDir(), "d"), []chainlog.PruneCut{cuts[0], cuts[0]}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := Write(ctx, st, tc.dir, tc.cuts, cp); err == nil {
				t.Fatal("no error")
			}
			if tc.dir != dir {
				if _, err := readManifest(tc.dir); !errors.Is(err, errNotExist) {
					t.Fatalf("a failed write left %s: %v", tc.dir, err)
				}
			}
		})
	}
}

// TestEventsAsExport: events.jsonl holds the cuts' rows exactly as
// export's encoder writes them, in commit order.
func TestEventsAsExport(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			ctx := context.Background()
			st, _, cp := setup(t, b)
			cuts := plan(t, st, 6)
			dir := filepath.Join(t.TempDir(), "a")
			if _, err := Write(ctx, st, dir, cuts, cp); err != nil {
				t.Fatal(err)
			}
			var want bytes.Buffer
			enc := json.NewEncoder(&want)
			enc.SetEscapeHTML(false) // as cmd/chainlog's export
			err := st.Export(ctx, "", func(e *chainlog.StoredEvent) error {
				for _, c := range cuts {
					if e.NodeID == c.NodeID && e.Seq >= c.FirstSeq && e.Seq <= c.LastSeq {
						return enc.Encode(e)
					}
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			got, err := os.ReadFile(filepath.Join(dir, EventsFile))
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want.Bytes()) {
				t.Fatalf("events.jsonl:\n%s\nexport:\n%s", got, want.Bytes())
			}
		})
	}
}

// failingHashes is a source whose tree hashes cannot be read.
type failingHashes struct{ Source }

func (failingHashes) ReadStoredHashes(context.Context, []int64) ([]tlog.Hash, error) {
	return nil, errors.New("disk error")
}

// TestWriteFailsWhole: a write that fails half way leaves nothing at the
// archive's path, and nothing beside it.
func TestWriteFailsWhole(t *testing.T) {
	ctx := context.Background()
	st, _, cp := setup(t, backends[0])
	parent := t.TempDir()
	dir := filepath.Join(parent, "a")
	if _, err := Write(ctx, failingHashes{st}, dir, plan(t, st, 6), cp); err == nil || !strings.Contains(err.Error(), "disk error") {
		t.Fatalf("got %v, want the source's error", err)
	}
	if ents, err := os.ReadDir(parent); err != nil || len(ents) != 0 {
		t.Fatalf("left %v (%v)", ents, err)
	}
}
