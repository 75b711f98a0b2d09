package main

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"zombiezen.com/go/sqlite"
	"zombiezen.com/go/sqlite/sqlitex"
)

// TestRedactReportsTextLeftOnDisk runs chainlog redact while another
// connection holds a read snapshot through the whole retry window: the
// redaction is committed and printed, but the command says on stderr that
// the removed text may remain on disk and exits 1. Without the snapshot,
// the next redaction exits 0 and says nothing.
func TestRedactReportsTextLeftOnDisk(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "s.db")
	events := writeFile(t, dir, "events.ndjson",
		`{"id":"p-1","node_id":"n","agent_type":"a","event_type":"e","ts":"2026-01-01T00:00:00Z","data":{"email":"alice@example.com"}}`+"\n"+
			`{"id":"p-2","node_id":"n","agent_type":"a","event_type":"e","ts":"2026-01-01T00:00:01Z","data":{"email":"bob@example.com"}}`+"\n")
	if r := runCLI(t, nil, "", "ingest", "--store", path, events); r.code != exitOK {
		t.Fatalf("ingest: exit %d, stderr %s", r.code, r.stderr)
	}

	reader, err := sqlite.OpenConn(path, sqlite.OpenReadOnly)
	if err != nil {
		t.Fatal(err)
	}
	defer reader.Close()
	for _, q := range []string{"BEGIN", "SELECT count(*) FROM events"} {
		if err := sqlitex.ExecuteTransient(reader, q, nil); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	r := runCLI(t, nil, "", "redact", "--store", path, "--reason", "erasure", "--actor", "dpo", "--wal-wait", "200ms", "--json", "p-1")
	if r.code != exitInvalid {
		t.Errorf("redact under a held snapshot: exit %d, want %d; stderr %s", r.code, exitInvalid, r.stderr)
	}
	var rec struct {
		Seq     int64  `json:"seq"`
		EventID string `json:"event_id"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &rec); err != nil || rec.Seq != 1 || rec.EventID != "p-1" {
		t.Errorf("stdout %q: want the committed record #1 on p-1 (%v)", r.stdout, err)
	}
	for _, want := range []string{"redaction committed (amendment #1)", "may remain on disk", path + "-wal", "do not redact it again"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("stderr %q does not say %q", r.stderr, want)
		}
	}
	if err := sqlitex.ExecuteTransient(reader, "COMMIT", nil); err != nil {
		t.Fatal(err)
	}

	r = runCLI(t, nil, "", "redact", "--store", path, "--reason", "erasure", "--actor", "dpo", "--wal-wait", "200ms", "p-2")
	if r.code != exitOK || r.stderr != "" {
		t.Errorf("redact without a reader: exit %d, stderr %q; want 0 and nothing", r.code, r.stderr)
	}
	if r := runCLI(t, nil, "", "verify-integrity", "--store", path); r.code != exitOK {
		t.Errorf("verify-integrity after the redactions: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
}
