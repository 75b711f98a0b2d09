package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// eventLines returns n events as NDJSON, spread over two nodes.
func eventLines(n int) string {
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, `{"id":"ev-%05d","node_id":"node-%c","event_type":"tool_call","ts":"2026-03-01T12:00:00.%06dZ","data":{"tool":"bash","line":%d}}`+"\n",
			i, 'a'+rune(i%2), i, i)
	}
	return b.String()
}

// TestVerifyTruncatedStore: a store of a few thousand events cut by 8 KiB
// is unreadable (exit 2), with --integrity-check or without, never VALID
// nor INVALID.
func TestVerifyTruncatedStore(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	store := filepath.Join(dir, "s.db")
	ingest(t, store, writeFile(t, dir, "events.ndjson", eventLines(4000)))
	requireNoFile(t, store+"-wal")
	if r := runCLI(t, nil, "", "verify-integrity", "--store", store); r.code != exitOK {
		t.Fatalf("verify-integrity before the cut: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	fi, err := os.Stat(store)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(store, fi.Size()-8192); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"verify-integrity", "--store", store},
		{"verify-integrity", "--integrity-check", "--store", store},
		{"verify-integrity", "--json", "--store", store},
	} {
		r := runCLI(t, nil, "", args...)
		if r.code != exitError || r.panicked != nil || strings.Contains(r.stdout, "VALID") || strings.Contains(r.stdout, `"valid"`) {
			t.Errorf("%v: exit %d, panic %v; want exit %d\nstdout:\n%s\nstderr:\n%s", args, r.code, r.panicked, exitError, r.stdout, r.stderr)
		}
		if !strings.Contains(r.stderr, "corrupt") {
			t.Errorf("%v: stderr %q does not say the file is corrupt", args, r.stderr)
		}
	}
}

// TestIngestUnrelatedDatabase: ingest refuses a database with tables but
// no events table (exit 2, file unchanged) unless --init is given.
func TestIngestUnrelatedDatabase(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	store := filepath.Join(dir, "other.db")
	execSQL(t, store, `CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)`, `INSERT INTO notes (body) VALUES ('hi')`)
	before, err := os.ReadFile(store)
	if err != nil {
		t.Fatal(err)
	}
	input := writeFile(t, dir, "events.ndjson", eventLines(3))
	r := runCLI(t, nil, "", "ingest", "--store", store, input)
	if r.code != exitError || !strings.Contains(r.stderr, "no events table") || !strings.Contains(r.stderr, "--init") {
		t.Fatalf("ingest into another database: exit %d; want %d and a message naming --init\n%s", r.code, exitError, r.stderr)
	}
	if after, err := os.ReadFile(store); err != nil || string(after) != string(before) {
		t.Fatalf("the refused ingest changed the file (%v)", err)
	}
	if r := runCLI(t, nil, "", "ingest", "--init", "--store", store, input); r.code != exitOK {
		t.Fatalf("ingest --init: exit %d\n%s", r.code, r.stderr)
	}
	if r := runCLI(t, nil, "", "verify-integrity", "--store", store); r.code != exitOK || !strings.Contains(r.stdout, "Checked:   3 events") {
		t.Fatalf("verify-integrity after --init: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
}

// TestTriggerOnStore: a trigger that drops some inserts makes the store
// INVALID (exit 1, naming the trigger), and ingest refuses it (exit 2)
// without changing the file.
func TestTriggerOnStore(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	store := filepath.Join(dir, "s.db")
	ingest(t, store, writeFile(t, dir, "events.ndjson", eventLines(10)))
	execSQL(t, store, `CREATE TRIGGER drop_some BEFORE INSERT ON events WHEN NEW.node_id = 'node-b' BEGIN SELECT RAISE(IGNORE); END`)
	r := runCLI(t, nil, "", "verify-integrity", "--store", store)
	if r.code != exitInvalid || !strings.Contains(r.stdout, "Result:    INVALID") || !strings.Contains(r.stdout, "trigger drop_some on events") {
		t.Errorf("verify-integrity: exit %d; want %d naming the trigger\n%s%s", r.code, exitInvalid, r.stdout, r.stderr)
	}
	before, err := os.ReadFile(store)
	if err != nil {
		t.Fatal(err)
	}
	r = runCLI(t, nil, "", "ingest", "--store", store, writeFile(t, dir, "more.ndjson", eventLines(12)))
	if r.code != exitError || !strings.Contains(r.stderr, "trigger drop_some on events") {
		t.Errorf("ingest: exit %d; want %d naming the trigger\n%s", r.code, exitError, r.stderr)
	}
	if after, err := os.ReadFile(store); err != nil || string(after) != string(before) {
		t.Errorf("the refused ingest changed the file (%v)", err)
	}
}
