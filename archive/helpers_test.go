package archive

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"chainlog"
	"chainlog/internal/chainlogtest"
	"chainlog/sqlite"

	"golang.org/x/mod/sumdb/note"
)

// testStore is what the tests need of a backend: a store that prunes.
type testStore interface {
	chainlog.Store
	chainlog.Pruner
	chainlog.PruneSource
	ScanAmendmentRange(ctx context.Context, afterSeq, uptoSeq int64, fn func(*chainlog.AmendmentScan) error) error
}

// backend opens an empty store and gives its amend call.
type backend struct {
	name  string
	open  func(t testing.TB) testStore
	amend func(t testing.TB, st testStore, id, model string)
}

var backends = []backend{
	{
		name: "memory",
		open: func(t testing.TB) testStore { return chainlogtest.NewSource() },
		amend: func(t testing.TB, st testStore, id, model string) {
			p := chainlog.Patch{Set: []string{chainlog.FieldModel}, Values: chainlog.Mutable{Model: &model}}
			if _, err := st.(*chainlogtest.Source).AmendPatch(id, p, "fix", "test"); err != nil {
				t.Fatal(err)
			}
		},
	},
	{
		name: "sqlite",
		open: func(t testing.TB) testStore {
			st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "s.db"), sqlite.Options{})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { st.Close() })
			return st
		},
		amend: func(t testing.TB, st testStore, id, model string) {
			req := sqlite.AmendRequest{EventID: id, Kind: chainlog.KindAmend, Reason: "fix", Actor: "test",
				Patch: chainlog.Patch{Set: []string{chainlog.FieldModel}, Values: chainlog.Mutable{Model: &model}}}
			if _, err := st.(*sqlite.Store).Amend(context.Background(), req); err != nil {
				t.Fatal(err)
			}
		},
	},
}

// day returns noon of day d of June 2026.
func day(d int) time.Time { return time.Date(2026, 6, d, 12, 0, 0, 0, time.UTC) }

// fill ingests, one a day and interleaved, node-a's events on June 1-20,
// node-b's on June 1-10 and node-c's in July (never pruned here), ids
// "node/i".
func fill(t testing.TB, st testStore) {
	t.Helper()
	var evs []chainlog.Event
	for i := 1; i <= 20; i++ {
		for _, node := range []string{"node-a", "node-b", "node-c"} {
			if node == "node-b" && i > 10 || node == "node-c" && i%3 != 0 {
				continue
			}
			ts := day(i)
			if node == "node-c" {
				ts = ts.AddDate(0, 1, 0)
			}
			line := fmt.Sprintf(`{"id":"%s/%d","node_id":%q,"agent_type":"claude_code","agent_id":"a","session_id":"s-%d","event_type":"tool_call","ts":%q,"data":{"i":%d,"html":"<b>&</b>"},"cost_usd":0.25}`,
				node, i, node, i%3, ts.Format(time.RFC3339), i)
			if i == 4 {
				// data a JSON string, which export writes as it would
				// write text that is not JSON
				line = strings.Replace(line, fmt.Sprintf(`{"i":%d,"html":"<b>&</b>"}`, i), `"plain text"`, 1)
			}
			e, err := chainlog.DecodeEvent([]byte(line), "")
			if err != nil {
				t.Fatal(err)
			}
			evs = append(evs, e)
		}
	}
	if _, err := st.Ingest(context.Background(), evs); err != nil {
		t.Fatal(err)
	}
}

// setup returns a filled store with two amended events, its key and a
// checkpoint of its tree.
func setup(t testing.TB, b backend) (testStore, note.Verifier, []byte) {
	t.Helper()
	st := b.open(t)
	fill(t, st)
	b.amend(t, st, "node-a/3", "m-3")
	b.amend(t, st, "node-b/2", "m-2")
	b.amend(t, st, "node-a/3", "m-3b")
	signer, verifier := chainlogtest.NewKey(t, "test/archive")
	cp, err := st.Checkpoint(context.Background(), signer, nil)
	if err != nil || cp == nil {
		t.Fatalf("checkpoint: %v, %q", err, cp)
	}
	return st, verifier, cp
}

// plan returns the store's cuts before the day.
func plan(t testing.TB, st testStore, d int) []chainlog.PruneCut {
	t.Helper()
	cuts, err := st.PlanPrune(context.Background(), day(d), "")
	if err != nil || len(cuts) == 0 {
		t.Fatalf("plan: %v, %v", err, cuts)
	}
	return cuts
}

func prune(t testing.TB, st testStore, cuts []chainlog.PruneCut, d int) {
	t.Helper()
	req := chainlog.PruneRequest{Cuts: cuts, Before: day(d), Reason: "retention", Actor: "test"}
	if _, err := st.Prune(context.Background(), req); err != nil {
		t.Fatal(err)
	}
}

// refreshDigests writes the files' sizes and digests into the manifest,
// as someone who edits an archive would.
func refreshDigests(t testing.TB, dir string) {
	t.Helper()
	m := readTestManifest(t, dir)
	for i, f := range m.Files {
		data, err := os.ReadFile(filepath.Join(dir, f.Name))
		if err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(data)
		m.Files[i].Bytes, m.Files[i].SHA256 = int64(len(data)), hex.EncodeToString(sum[:])
	}
	writeTestManifest(t, dir, m)
}

func readTestManifest(t testing.TB, dir string) *Manifest {
	t.Helper()
	m, err := readManifest(dir)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func writeTestManifest(t testing.TB, dir string, m *Manifest) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, ManifestFile), encodeManifest(m), 0o644); err != nil {
		t.Fatal(err)
	}
}

// copyDir copies an archive's files into a new directory.
func copyDir(t testing.TB, src string) string {
	t.Helper()
	dst := filepath.Join(t.TempDir(), "copy")
	if err := os.CopyFS(dst, os.DirFS(src)); err != nil {
		t.Fatal(err)
	}
	return dst
}

var errNotExist = os.ErrNotExist
