package sqlite_test

import (
	"errors"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"chainlog"
	"chainlog/internal/chainlogtest"
	"chainlog/pricing"
	"chainlog/sqlite"
)

func TestOpenReadOnlyLeavesFileUnchanged(t *testing.T) {
	t.Parallel()
	path := buildStore(t, sqlite.Options{},
		append(mkEvents(t, "node-a", 0, 5), mkEvents(t, "node-b", 0, 3)...))
	sum := fileSHA(t, path)

	st := openRO(t, path)
	wantValid(t, mustVerify(t, st, ""), 8, 0)
	wantValid(t, mustVerify(t, st, "node-b"), 3, 0)
	if rows := exportStore(t, st, ""); len(rows) != 8 {
		t.Errorf("exported %d rows; want 8", len(rows))
	}
	if heads := headsOf(t, st); len(heads) != 2 {
		t.Errorf("got %d heads; want 2", len(heads))
	}
	if _, err := st.Event(t.Context(), "node-a/2"); err != nil {
		t.Errorf("Event(node-a/2): %v", err)
	}
	if _, err := st.Event(t.Context(), "nope"); !errors.Is(err, chainlog.ErrNotFound) {
		t.Errorf("Event(nope) error = %v; want ErrNotFound", err)
	}
	if fileSHA(t, path) != sum {
		t.Error("file bytes changed while open read-only")
	}
	closeStore(t, st)
	if fileSHA(t, path) != sum {
		t.Error("file bytes changed by a read-only open and close")
	}
}

func mustVerify(t *testing.T, st *sqlite.Store, nodeID string) *chainlog.Report {
	t.Helper()
	rep, err := chainlog.VerifyStore(t.Context(), st, chainlog.VerifyOptions{NodeID: nodeID, Walk: true})
	if err != nil {
		t.Fatalf("VerifyStore(%q): %v", nodeID, err)
	}
	return chainsOf(rep)
}

func TestOpenReadOnlyMissingFile(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "missing", "chainlog.db")
	st, err := sqlite.OpenReadOnly(t.Context(), path)
	if err == nil {
		st.Close()
		t.Fatal("OpenReadOnly of a missing file: no error")
	}
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("error = %v; want one wrapping fs.ErrNotExist", err)
	}
	if !strings.Contains(err.Error(), "chainlog.db") {
		t.Errorf("error %q does not name the file", err)
	}
	if fileExists(path) || fileExists(filepath.Dir(path)) {
		t.Error("OpenReadOnly created the missing file or its directory")
	}
}

// TestOpenNotAStore opens files that are not chainlog stores, read-only and
// for writing: each gives an error wrapping ErrNotStore, never a panic, and
// leaves the file as it was. (The empty file and the foreign database used
// to panic in OpenReadOnly.)
func TestOpenNotAStore(t *testing.T) {
	t.Parallel()
	storeBytes, err := os.ReadFile(buildStore(t, sqlite.Options{}, mkEvents(t, "node-a", 0, 40)))
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	random := make([]byte, 8192)
	for i := range random {
		random[i] = byte(rng.UintN(256))
	}
	otherApp := filepath.Join(t.TempDir(), "other.db")
	attackCreate(t, otherApp, `CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)`, `INSERT INTO notes (body) VALUES ('hi')`)
	otherAppBytes, err := os.ReadFile(otherApp)
	if err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		name    string
		content []byte
		// open is what Open (for writing) must do: "refuse" (an error
		// wrapping ErrNotStore, file unchanged), "create" (SQLite takes the
		// file as an empty database) or "" (not checked).
		open string
	}{
		{name: "random bytes", content: random, open: "refuse"},
		{name: "text file", content: []byte("id,node_id,event_type\n1,node-a,tool_call\n"), open: "refuse"},
		{name: "NDJSON events", content: []byte(`{"id":"e1","node_id":"n","event_type":"x","ts":"t"}` + "\n"), open: "refuse"},
		{name: "magic only", content: storeBytes[:16], open: "refuse"},
		{name: "magic and zeros", content: append(append([]byte{}, storeBytes[:16]...), make([]byte, 4080)...), open: "refuse"},
		{name: "header only", content: storeBytes[:100], open: "refuse"},
		{name: "truncated store", content: storeBytes[:len(storeBytes)/2], open: "refuse"},
		{name: "empty file", content: []byte{}, open: "create"},
		// Open adds chainlog's tables to another application's database
		// only with Options.Init (TestOpenUnrelatedDatabase).
		{name: "another app's database", content: otherAppBytes, open: "refuse"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(t.TempDir(), "store.db")
			if err := os.WriteFile(path, tc.content, 0o600); err != nil {
				t.Fatal(err)
			}
			sum := fileSHA(t, path)

			st, err := sqlite.OpenReadOnly(t.Context(), path)
			if err == nil {
				st.Close()
				t.Fatal("OpenReadOnly: no error")
			}
			if !errors.Is(err, sqlite.ErrNotStore) {
				t.Errorf("OpenReadOnly error %q does not wrap ErrNotStore", err)
			}
			if fileSHA(t, path) != sum {
				t.Error("OpenReadOnly changed the file")
			}

			if tc.open == "" {
				return
			}
			st, err = sqlite.Open(t.Context(), path, sqlite.Options{})
			if tc.open == "create" {
				if err != nil {
					t.Fatalf("Open: %v", err)
				}
				st.Close()
				return
			}
			if err == nil {
				st.Close()
				t.Fatal("Open: no error")
			}
			if !errors.Is(err, sqlite.ErrNotStore) {
				t.Errorf("Open error %q does not wrap ErrNotStore", err)
			}
			if fileSHA(t, path) != sum {
				t.Error("a failed Open changed the file")
			}
		})
	}
}

// attackCreate creates a SQLite file at path with stmts run in it.
func attackCreate(t *testing.T, path string, stmts ...string) {
	t.Helper()
	if err := os.WriteFile(path, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	var raw []rawStmt
	for _, s := range stmts {
		raw = append(raw, rawSQL(s))
	}
	attack(t, path, raw...)
}

func TestReadOnlyStoreRefusesWrites(t *testing.T) {
	t.Parallel()
	usage := `{"model":"claude-sonnet-4","usage":{"input_tokens":10,"output_tokens":10}}`
	path := buildStore(t, sqlite.Options{}, []chainlog.Event{
		decode(t, `{"id":"u1","node_id":"node-a","event_type":"llm_usage","ts":"2026-02-01T10:00:00Z","data":`+usage+`}`),
	})
	sum := fileSHA(t, path)
	st := openRO(t, path)
	signer, _ := chainlogtest.NewKey(t, testOrigin)
	// Every write is refused with ErrReadOnly, whatever it is.
	for _, w := range []struct {
		name  string
		write func() error
	}{
		{"Ingest", func() error { _, err := st.Ingest(t.Context(), []chainlog.Event{mkEvent(t, "node-a", 1)}); return err }},
		{"BackfillCosts", func() error { _, err := st.BackfillCosts(t.Context(), pricing.Default()); return err }},
		{"Amend", func() error {
			_, err := st.Amend(t.Context(), sqlite.AmendRequest{EventID: "u1", Reason: "r", Patch: chainlog.Patch{Set: []string{chainlog.FieldModel}, Values: chainlog.Mutable{Model: ptr("m")}}})
			return err
		}},
		{"Checkpoint", func() error { _, err := st.Checkpoint(t.Context(), signer, nil); return err }},
		{"CheckpointWAL", func() error { return st.CheckpointWAL(t.Context()) }},
	} {
		if err := w.write(); !errors.Is(err, chainlog.ErrReadOnly) {
			t.Errorf("%s on a read-only store: error = %v; want ErrReadOnly", w.name, err)
		}
	}
	closeStore(t, st)
	if fileSHA(t, path) != sum {
		t.Error("refused writes changed the file")
	}
	rows := exportPath(t, path, "")
	if len(rows) != 1 || rows[0].CostUSD != nil {
		t.Errorf("rows after refused writes = %+v; want u1 alone, without a cost", rows)
	}
}

func TestOpenReadOnlyWhileWriterOpen(t *testing.T) {
	t.Parallel()
	path := newStorePath(t)
	w := openStore(t, path, sqlite.Options{})
	ingest(t, w, mkEvents(t, "node-a", 0, 4)...)
	if !fileExists(path + "-wal") {
		t.Fatal("no -wal file while the writer is open; the test needs one")
	}

	r := openRO(t, path)
	wantValid(t, mustVerify(t, r, ""), 4, 0)
	if rows := exportStore(t, r, ""); len(rows) != 4 {
		t.Errorf("reader sees %d rows; want 4", len(rows))
	}

	// Later commits are visible to the next read.
	ingest(t, w, mkEvents(t, "node-a", 4, 6)...)
	wantValid(t, mustVerify(t, r, ""), 6, 0)
	if h := headsOf(t, r)["node-a"]; h.Seq != 6 {
		t.Errorf("reader sees head seq %d; want 6", h.Seq)
	}
	closeStore(t, r)

	// The writer is unaffected by the reader.
	ingest(t, w, mkEvent(t, "node-a", 6))
	closeStore(t, w)
	wantValid(t, verifyPath(t, path, ""), 7, 0)
}

func TestClosedStore(t *testing.T) {
	t.Parallel()
	path := newStorePath(t)
	st := openStore(t, path, sqlite.Options{})
	closeStore(t, st)
	if err := st.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if _, err := st.Ingest(t.Context(), []chainlog.Event{mkEvent(t, "node-a", 0)}); err == nil {
		t.Error("Ingest on a closed store: no error")
	}
	if _, err := st.Heads(t.Context(), ""); err == nil {
		t.Error("Heads on a closed store: no error")
	}
}

// TestOpenReadOnlyInReadOnlyDirectory verifies a store that sits in a
// directory the reader cannot write to, so no -shm file can be created.
func TestOpenReadOnlyInReadOnlyDirectory(t *testing.T) {
	t.Parallel()
	if os.Geteuid() == 0 {
		t.Skip("root ignores directory permissions")
	}
	path := buildStore(t, sqlite.Options{}, mkEvents(t, "node-a", 0, 3))
	dir := filepath.Dir(path)
	if err := os.Chmod(dir, 0o500); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Chmod(dir, 0o700) })
	sum := fileSHA(t, path)
	wantValid(t, verifyPath(t, path, ""), 3, 0)
	if fileSHA(t, path) != sum {
		t.Error("file bytes changed")
	}
}

func TestOpenReadOnlyDirectoryPath(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	st, err := sqlite.OpenReadOnly(t.Context(), dir)
	if err == nil {
		st.Close()
		t.Fatal("OpenReadOnly of a directory: no error")
	}
	st, err = sqlite.Open(t.Context(), dir, sqlite.Options{})
	if err == nil {
		st.Close()
		t.Fatal("Open of a directory: no error")
	}
}
