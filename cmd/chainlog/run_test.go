package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"chainlog"

	"zombiezen.com/go/sqlite"
	"zombiezen.com/go/sqlite/sqlitex"
)

// cliResult is what one in-process run of the CLI did.
type cliResult struct {
	code           int
	stdout, stderr string
	panicked       any
}

// runCLI calls run in-process with an isolated environment: vars are the
// only environment variables the command sees, stdin its standard input.
func runCLI(t *testing.T, vars map[string]string, stdin string, args ...string) (res cliResult) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	e := &env{
		stdin:      strings.NewReader(stdin),
		stdout:     &stdout,
		stderr:     &stderr,
		getenv:     func(k string) string { return vars[k] },
		isTerminal: func(io.Writer) bool { return false },
	}
	defer func() {
		res.panicked = recover()
		res.stdout, res.stderr = stdout.String(), stderr.String()
	}()
	res.code = run(context.Background(), e, args)
	return res
}

// writeFile writes a file in dir and returns its path.
func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// execSQL runs statements on a SQLite file, creating it when missing.
func execSQL(t *testing.T, path string, stmts ...string) {
	t.Helper()
	conn, err := sqlite.OpenConn(path, sqlite.OpenReadWrite, sqlite.OpenCreate)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	for _, q := range stmts {
		if err := sqlitex.ExecuteTransient(conn, q, nil); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
}

const vectorsFile = "../../testdata/chain-vectors.events.ndjson"

// TestExitCodes pins the documented exit codes: 0 success (verify: valid or
// empty), 1 tampering found or input lines rejected, 2 store unreadable or
// usage wrong.
func TestExitCodes(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	valid := filepath.Join(dir, "valid.db")
	if r := runCLI(t, nil, "", "ingest", "--store", valid, vectorsFile); r.code != exitOK {
		t.Fatalf("ingest: exit %d\n%s", r.code, r.stderr)
	}
	tampered := filepath.Join(dir, "tampered.db")
	if r := runCLI(t, nil, "", "ingest", "--store", tampered, vectorsFile); r.code != exitOK {
		t.Fatalf("ingest: exit %d\n%s", r.code, r.stderr)
	}
	execSQL(t, tampered, `UPDATE events SET ts = '1999-01-01' WHERE id = 'ev-1-0003'`)
	empty := filepath.Join(dir, "empty.db")
	if r := runCLI(t, nil, "", "ingest", "--store", empty, "-"); r.code != exitOK {
		t.Fatalf("ingest: exit %d\n%s", r.code, r.stderr)
	}
	good := writeFile(t, dir, "good.ndjson", `{"id":"g1","node_id":"n","event_type":"x","ts":"t"}`+"\n")
	bad := writeFile(t, dir, "bad.ndjson", `{"id":"g2","node_id":"n","event_type":"x","ts":"t"}`+"\n{\n")
	notDB := writeFile(t, dir, "notes.txt", "not a database\n")

	tests := []struct {
		name string
		args []string
		want int
		out  string // a substring of stdout+stderr
	}{
		{"help", []string{"help"}, exitOK, "Exit codes:"},
		{"no args", nil, exitError, "Usage:"},
		{"unknown command", []string{"nope"}, exitError, `unknown command "nope"`},
		{"ingest -h", []string{"ingest", "-h"}, exitOK, "Usage: chainlog ingest"},
		{"verify -help", []string{"verify-integrity", "-help"}, exitOK, "Usage: chainlog verify-integrity"},
		{"unknown flag", []string{"verify-integrity", "--store", valid, "--nope"}, exitError, "flag provided but not defined: -nope"},
		{"extra argument", []string{"export", "--store", valid, "x"}, exitError, `unexpected argument "x"`},
		{"ingest valid", []string{"ingest", "--store", filepath.Join(dir, "g.db"), good}, exitOK, "inserted 1,"},
		{"ingest invalid", []string{"ingest", "--store", filepath.Join(dir, "b.db"), bad}, exitInvalid, "line 2:"},
		{"ingest skip-invalid", []string{"ingest", "--skip-invalid", "--store", filepath.Join(dir, "b.db"), bad}, exitInvalid, "inserted 1, duplicates 0, rejected 1"},
		{"ingest missing input", []string{"ingest", "--store", filepath.Join(dir, "m.db"), filepath.Join(dir, "nope.ndjson")}, exitError, "open input"},
		{"ingest into non-store", []string{"ingest", "--store", notDB, good}, exitError, "chainlog ingest: "},
		{"verify valid", []string{"verify-integrity", "--store", valid}, exitOK, "Result:    VALID"},
		{"verify empty", []string{"verify-integrity", "--store", empty}, exitOK, "Result:    EMPTY"},
		{"verify tampered", []string{"verify-integrity", "--store", tampered}, exitInvalid, "Result:    INVALID"},
		{"verify tampered json", []string{"verify-integrity", "--json", "--store", tampered}, exitInvalid, `"status": "invalid"`},
		{"verify missing store", []string{"verify-integrity", "--store", filepath.Join(dir, "nope.db")}, exitError, "no such file or directory"},
		{"verify not SQLite", []string{"verify-integrity", "--store", notDB}, exitError, "not a chainlog store"},
		{"export valid", []string{"export", "--store", valid}, exitOK, `"chain_hash":`},
		{"export missing store", []string{"export", "--store", filepath.Join(dir, "nope.db")}, exitError, "no such file or directory"},
		{"backfill", []string{"backfill-costs", "--store", valid}, exitOK, "costed 0 events"},
		{"backfill not SQLite", []string{"backfill-costs", "--store", notDB}, exitError, "chainlog backfill-costs: "},
		{"history", []string{"history", "--store", valid, "ev-1-0002"}, exitOK, "Amendments: none"},
		{"history unknown id", []string{"history", "--store", valid, "nope"}, exitError, `no event with id "nope"`},
		{"history missing store", []string{"history", "--store", filepath.Join(dir, "nope.db"), "x"}, exitError, "no such file or directory"},
		{"history not SQLite", []string{"history", "--store", notDB, "x"}, exitError, "not a chainlog store"},
		{"amend no reason", []string{"amend", "--store", valid, "--actor", "a", "--model", "m", "ev-1-0002"}, exitError, "--reason and --actor are required"},
		{"amend no field", []string{"amend", "--store", valid, "--reason", "r", "--actor", "a", "ev-1-0002"}, exitError, "nothing to change"},
		{"amend unknown id", []string{"amend", "--store", valid, "--reason", "r", "--actor", "a", "--model", "m", "nope"}, exitError, `no event with id "nope"`},
		{"amend not SQLite", []string{"amend", "--store", notDB, "--reason", "r", "--actor", "a", "--model", "m", "x"}, exitError, "not a chainlog store"},
		{"redact other field", []string{"redact", "--store", valid, "--reason", "r", "--actor", "a", "--model", "m", "ev-1-0002"}, exitError, "flag provided but not defined: -model"},
		{"amend", []string{"amend", "--store", valid, "--reason", "r", "--actor", "a", "--model", "m", "ev-1-0002"}, exitOK, "amendment #1 on ev-1-0002: amend [model]"},
		{"redact", []string{"redact", "--store", valid, "--reason", "r", "--actor", "a", "ev-1-0002"}, exitOK, "amendment #2 on ev-1-0002: redact [data]"},
		{"verify after amend", []string{"verify-integrity", "--store", valid}, exitOK, "Amendments: 2 records, trail VALID, anchored in the tree up to #2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := runCLI(t, nil, "", tt.args...)

			if r.panicked != nil {
				t.Fatalf("chainlog %q panicked: %v", tt.args, r.panicked)
			}
			if r.code != tt.want {
				t.Errorf("chainlog %q: exit %d, want %d\nstdout:\n%s\nstderr:\n%s", tt.args, r.code, tt.want, r.stdout, r.stderr)
			}
			if !strings.Contains(r.stdout+r.stderr, tt.out) {
				t.Errorf("chainlog %q: output does not contain %q\nstdout:\n%s\nstderr:\n%s", tt.args, tt.out, r.stdout, r.stderr)
			}
		})
	}
}

// TestChangingCommandsNeedAStore: commands that change stored events refuse a
// path with no store instead of creating an empty one there.
func TestChangingCommandsNeedAStore(t *testing.T) {
	for _, args := range [][]string{
		{"backfill-costs"},
		{"amend", "--reason", "r", "--actor", "a", "--model", "m", "ev-1"},
		{"amend", "--reason", "r", "--actor", "a", "--data", "null", "--json", "ev-1"},
		{"redact", "--reason", "r", "--actor", "a", "ev-1"},
		{"redact", "--reason", "r", "--actor", "a", "--data", "{}", "ev-1"},
	} {
		store := filepath.Join(t.TempDir(), "typo.db")
		r := runCLI(t, nil, "", append(args, "--store", store)...)
		if r.code != exitError || !strings.Contains(r.stderr, "no such file or directory") {
			t.Errorf("chainlog %q: exit %d, stderr %q; want exit 2 naming the missing store", args, r.code, r.stderr)
		}
		if _, err := os.Stat(store); err == nil {
			t.Errorf("chainlog %q created a store at a mistyped path", args)
		}
		// Nor its directory, nor the default store under $HOME.
		dir := filepath.Join(t.TempDir(), "missing")
		r = runCLI(t, nil, "", append(args, "--store", filepath.Join(dir, "s.db"))...)
		if _, err := os.Stat(dir); r.code != exitError || err == nil {
			t.Errorf("chainlog %q --store in a missing directory: exit %d, directory created: %v", args, r.code, err == nil)
		}
		home := t.TempDir()
		r = runCLI(t, map[string]string{"HOME": home}, "", args...)
		if r.code != exitError || !strings.Contains(r.stderr, filepath.Join(home, ".chainlog", "chainlog.db")) {
			t.Errorf("chainlog %q with the default store: exit %d, stderr %q; want exit 2 naming it", args, r.code, r.stderr)
		}
		if _, err := os.Stat(filepath.Join(home, ".chainlog")); err == nil {
			t.Errorf("chainlog %q created ~/.chainlog", args)
		}
		if r.stdout != "" {
			t.Errorf("chainlog %q: unexpected stdout %q", args, r.stdout)
		}
	}
}

// TestChangingCommandsNeedAChainlogStore: the commands that change stored
// events refuse a file that exists but is no chainlog store (another
// application's SQLite database, an empty file) and leave it as it was,
// instead of installing chainlog's schema in it.
func TestChangingCommandsNeedAChainlogStore(t *testing.T) {
	for _, args := range [][]string{
		{"backfill-costs"},
		{"amend", "--reason", "r", "--actor", "a", "--model", "m", "ev-1"},
		{"redact", "--reason", "r", "--actor", "a", "ev-1"},
	} {
		dir := t.TempDir()
		other := filepath.Join(dir, "other.db")
		execSQL(t, other, `CREATE TABLE notes (body TEXT)`, `INSERT INTO notes VALUES ('hi')`)
		zero := writeFile(t, dir, "zero.db", "")
		for _, store := range []string{other, zero} {
			before, err := os.ReadFile(store)
			if err != nil {
				t.Fatal(err)
			}
			r := runCLI(t, nil, "", append(args, "--store", store)...)
			if r.panicked != nil {
				t.Fatalf("chainlog %q --store %s panicked: %v", args, store, r.panicked)
			}
			if r.code != exitError || !strings.Contains(r.stderr, "not a chainlog store") {
				t.Errorf("chainlog %q --store %s: exit %d, want 2 and \"not a chainlog store\"\nstderr:\n%s", args, store, r.code, r.stderr)
			}
			after, err := os.ReadFile(store)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(before, after) {
				t.Errorf("chainlog %q changed %s", args, store)
			}
		}
	}
}

// TestVerifySQLiteButNotStore: a SQLite file without chainlog's schema
// (another application's database, or an empty file) is "not a chainlog
// store", exit 2, for the read-only commands; the file is left alone.
func TestVerifySQLiteButNotStore(t *testing.T) {
	dir := t.TempDir()
	other := filepath.Join(dir, "other.db")
	execSQL(t, other, `CREATE TABLE notes (body TEXT)`, `INSERT INTO notes VALUES ('hi')`)
	zero := writeFile(t, dir, "zero.db", "")
	for _, store := range []string{other, zero} {
		before, err := os.ReadFile(store)
		if err != nil {
			t.Fatal(err)
		}
		for _, cmd := range []string{"verify-integrity", "export"} {
			r := runCLI(t, nil, "", cmd, "--store", store)
			if r.panicked != nil {
				t.Fatalf("chainlog %s --store %s panicked: %v", cmd, store, r.panicked)
			}
			if r.code != exitError || !strings.Contains(r.stderr, "not a chainlog store") {
				t.Errorf("chainlog %s --store %s: exit %d, want 2 and \"not a chainlog store\"\nstderr:\n%s", cmd, store, r.code, r.stderr)
			}
		}
		after, err := os.ReadFile(store)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(before, after) {
			t.Errorf("%s changed", store)
		}
	}
}

// TestParseFlags: flags may come before or after the positional
// arguments, and "--" ends the flags: everything after it is positional.
func TestParseFlags(t *testing.T) {
	tests := []struct {
		args    []string
		wantPos []string
		wantJ   bool
		wantS   string
		wantErr bool
	}{
		{args: nil, wantPos: nil},
		{args: []string{"a"}, wantPos: []string{"a"}},
		{args: []string{"--json", "a"}, wantPos: []string{"a"}, wantJ: true},
		{args: []string{"a", "--json"}, wantPos: []string{"a"}, wantJ: true},
		{args: []string{"a", "--store", "s", "b"}, wantPos: []string{"a", "b"}, wantS: "s"},
		{args: []string{"-", "--json"}, wantPos: []string{"-"}, wantJ: true},
		{args: []string{"--store=--", "a"}, wantPos: []string{"a"}, wantS: "--"},
		{args: []string{"--", "--json"}, wantPos: []string{"--json"}},
		{args: []string{"--json", "--", "-a", "--store", "x"}, wantPos: []string{"-a", "--store", "x"}, wantJ: true},
		{args: []string{"a", "--", "-b", "--json"}, wantPos: []string{"a", "-b", "--json"}},
		{args: []string{"a", "--json", "--", "--"}, wantPos: []string{"a", "--"}, wantJ: true},
		{args: []string{"--nope"}, wantErr: true},
		{args: []string{"a", "--nope"}, wantErr: true},
	}
	for _, tt := range tests {
		fs := flag.NewFlagSet("test", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		j := fs.Bool("json", false, "")
		s := fs.String("store", "", "")
		pos, err := parseFlags(fs, tt.args)
		if (err != nil) != tt.wantErr {
			t.Errorf("parseFlags(%q): error %v, want error %v", tt.args, err, tt.wantErr)
			continue
		}
		if tt.wantErr {
			continue
		}
		if !reflect.DeepEqual(pos, tt.wantPos) || *j != tt.wantJ || *s != tt.wantS {
			t.Errorf("parseFlags(%q) = %q, json=%v, store=%q; want %q, json=%v, store=%q",
				tt.args, pos, *j, *s, tt.wantPos, tt.wantJ, tt.wantS)
		}
	}
}

// TestIngestDashDash: after "--" a name that looks like a flag is an input,
// and a flag is no longer a flag.
func TestIngestDashDash(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	writeFile(t, dir, "--json", `{"id":"d1","node_id":"n","event_type":"x","ts":"t"}`+"\n")
	store := filepath.Join(dir, "s.db")
	r := runCLI(t, nil, "", "ingest", "--store", store, "--", "--json")
	if r.code != exitOK || r.stdout != "inserted 1, duplicates 0, rejected 0\n" {
		t.Errorf("ingest -- --json: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	// Two inputs after "--" are a usage error, not one input and a flag.
	r = runCLI(t, nil, "", "ingest", "--store", store, "--", "--json", "--skip-invalid")
	if r.code != exitError || !strings.Contains(r.stderr, "want exactly one input") {
		t.Errorf("ingest -- --json --skip-invalid: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
}

// TestAmendJSONRecord: the record amend --json prints is the one stored:
// history --json returns it field for field, its hash recomputes from its
// prev_hash and canonical form, the records link in seq order, and the
// head is the last record.
func TestAmendJSONRecord(t *testing.T) {
	t.Parallel()
	store := filepath.Join(t.TempDir(), "s.db")
	ingest(t, store, vectorsFile)
	steps := [][]string{
		{"amend", "--reason", "price fix", "--actor", "ops", "--cost-usd", "0.5", "ev-1-0002"},
		{"amend", "--reason", "several", "--actor", "ops", "--token-count", "9", "--model", "", "--data", `{"a": [1, 2]}`, "ev-1-0003"},
		{"redact", "--reason", "GDPR \"erasure\"\n#7", "--actor", "dpo ✓", "ev-1-0002"},
		{"amend", "--reason", "clear", "--actor", "ops", "--cost-usd", "", "--data", "null", "ev-1-0002"},
	}
	var printed []chainlog.Amendment
	for i, args := range steps {
		r := runCLI(t, nil, "", append(args, "--store", store, "--json")...)
		if r.code != exitOK || r.stderr != "" {
			t.Fatalf("chainlog %q: exit %d\n%s", args, r.code, r.stderr)
		}
		var rec chainlog.Amendment
		dec := json.NewDecoder(strings.NewReader(r.stdout))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&rec); err != nil {
			t.Fatalf("chainlog %q: %v\n%s", args, err, r.stdout)
		}
		if rec.Seq != int64(i+1) {
			t.Errorf("step %d: seq %d, want %d", i, rec.Seq, i+1)
		}
		wantPrev := chainlog.GenesisHash
		if i > 0 {
			wantPrev = printed[i-1].Hash
		}
		if rec.PrevHash != wantPrev {
			t.Errorf("step %d: prev_hash %s, want %s", i, rec.PrevHash, wantPrev)
		}
		if got := chainlog.AmendmentHash(rec.PrevHash, &rec); got != rec.Hash {
			t.Errorf("step %d: hash %s, recomputed %s", i, rec.Hash, got)
		}
		if _, err := time.Parse(time.RFC3339Nano, rec.At); err != nil || !strings.HasSuffix(rec.At, "Z") {
			t.Errorf("step %d: at %q is not a UTC RFC 3339 time (%v)", i, rec.At, err)
		}
		if rec.EventID != args[len(args)-1] || rec.Reason != args[2] || rec.Actor != args[4] {
			t.Errorf("step %d: record %+v does not carry the event id, reason and actor given", i, rec)
		}
		printed = append(printed, rec)
	}
	if want := []string{"token_count", "model", "data"}; !reflect.DeepEqual(printed[1].Fields, want) {
		t.Errorf("fields %q, want %q (the order given)", printed[1].Fields, want)
	}
	if printed[2].Kind != chainlog.KindRedact || !reflect.DeepEqual(printed[2].Fields, []string{"data"}) {
		t.Errorf("redact record: kind %q fields %q", printed[2].Kind, printed[2].Fields)
	}
	// Each record of an event starts from the previous one's digest.
	if printed[2].DigestBefore != printed[0].DigestAfter || printed[3].DigestBefore != printed[2].DigestAfter {
		t.Errorf("digest_before does not follow the event's previous digest_after")
	}

	// history --json holds the same records, oldest first.
	byEvent := map[string][]chainlog.Amendment{}
	for _, rec := range printed {
		byEvent[rec.EventID] = append(byEvent[rec.EventID], rec)
	}
	for id, want := range byEvent {
		r := runCLI(t, nil, "", "history", "--store", store, "--json", id)
		if r.code != exitOK {
			t.Fatalf("history %s: exit %d\n%s", id, r.code, r.stderr)
		}
		var h struct {
			Event      map[string]any       `json:"event"`
			Amendments []chainlog.Amendment `json:"amendments"`
		}
		if err := json.Unmarshal([]byte(r.stdout), &h); err != nil {
			t.Fatalf("history %s: %v", id, err)
		}
		if !reflect.DeepEqual(h.Amendments, want) {
			t.Errorf("history %s amendments:\n got %+v\nwant %+v", id, h.Amendments, want)
		}
		// The event object has every exported column.
		for _, col := range []string{"id", "agent_type", "node_id", "agent_id", "session_id", "workspace_id", "event_type", "ts",
			"data", "cost_usd", "token_count", "model", "created_at", "chain_seq", "chain_prev_hash", "chain_hash", "payload_digest", "leaf_index"} {
			if _, ok := h.Event[col]; !ok {
				t.Errorf("history %s: event has no %q", id, col)
			}
		}
		if len(h.Event) != 18 {
			t.Errorf("history %s: event has %d keys, want 18", id, len(h.Event))
		}
	}

	// The head is the last record, and the store verifies.
	conn, err := sqlite.OpenConn(store, sqlite.OpenReadOnly)
	if err != nil {
		t.Fatal(err)
	}
	var headSeq int64
	var headHash string
	err = sqlitex.ExecuteTransient(conn, "SELECT seq, hash FROM amendment_head", &sqlitex.ExecOptions{
		ResultFunc: func(stmt *sqlite.Stmt) error {
			headSeq, headHash = stmt.ColumnInt64(0), stmt.ColumnText(1)
			return nil
		},
	})
	conn.Close()
	if err != nil {
		t.Fatal(err)
	}
	if last := printed[len(printed)-1]; headSeq != last.Seq || headHash != last.Hash {
		t.Errorf("amendment head is seq %d %s, want seq %d %s", headSeq, headHash, last.Seq, last.Hash)
	}
	r := runCLI(t, nil, "", "verify-integrity", "--store", store)
	if r.code != exitOK || !strings.Contains(r.stdout, "Amendments: 4 records, trail VALID, anchored in the tree up to #4 (4 anchor events on chainlog:amendments)\n") {
		t.Errorf("verify-integrity: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
}

// TestHistoryReadOnlyStore: history opens the store read-only, so it works
// on a store whose file and directory the user cannot write, and leaves
// them byte for byte as they were; amend and redact fail cleanly there.
func TestHistoryReadOnlyStore(t *testing.T) {
	t.Parallel()
	bin := sharedBinary(t)
	dir := sharedTempDir(t)
	store := filepath.Join(dir, "s.db")
	ingest(t, store, vectorsFile)
	for _, args := range [][]string{
		{"amend", "--reason", "price fix", "--actor", "ops", "--cost-usd", "0.5", "ev-1-0002"},
		{"redact", "--reason", "erasure", "--actor", "dpo", "ev-1-0002"},
	} {
		if r := runCLI(t, nil, "", append(args, "--store", store)...); r.code != exitOK {
			t.Fatalf("chainlog %q: exit %d\n%s", args, r.code, r.stderr)
		}
	}
	makeReadOnly(t, dir, store)
	before := fileSums(t, dir)

	r := runBinary(t, bin, "history", "--store", store, "ev-1-0002")
	if r.code != exitOK || !strings.Contains(r.stdout, "Data:      {\"redacted\":true}\n") ||
		!strings.Contains(r.stdout, " redact by dpo: data\n") || !strings.Contains(r.stdout, " amend by ops: cost_usd\n") {
		t.Fatalf("history on a read-only store: exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	r = runBinary(t, bin, "history", "--json", "--store", store, "ev-1-0001")
	if r.code != exitOK || !strings.Contains(r.stdout, `"amendments": []`) {
		t.Fatalf("history --json on a read-only store: exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	r = runBinary(t, bin, "history", "--store", store, "nope")
	if r.code != exitError || !strings.Contains(r.stderr, `no event with id "nope"`) {
		t.Errorf("history of an unknown id on a read-only store: exit %d\nstderr:\n%s", r.code, r.stderr)
	}
	r = runBinary(t, bin, "verify-integrity", "--store", store)
	if r.code != exitOK || !strings.Contains(r.stdout, "Amendments: 2 records, trail VALID, anchored in the tree up to #2 (2 anchor events on chainlog:amendments)\n") {
		t.Errorf("verify-integrity on a read-only store: exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	for _, args := range [][]string{
		{"amend", "--reason", "r", "--actor", "a", "--model", "m", "ev-1-0002"},
		{"redact", "--reason", "r", "--actor", "a", "ev-1-0001"},
	} {
		r = runBinary(t, bin, append(args, "--store", store)...)
		if r.code != exitError || !strings.HasPrefix(r.stderr, "chainlog "+args[0]+": ") || r.stdout != "" {
			t.Errorf("chainlog %q on a read-only store: exit %d, want 2\nstdout:\n%s\nstderr:\n%s", args, r.code, r.stdout, r.stderr)
		}
	}
	if after := fileSums(t, dir); !equalSums(before, after) {
		t.Errorf("the store directory changed:\nbefore %v\nafter  %v", before, after)
	}
}
