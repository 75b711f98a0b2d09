package main

import (
	"bytes"
	"context"
	"flag"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

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
	} {
		store := filepath.Join(t.TempDir(), "typo.db")
		r := runCLI(t, nil, "", append(args, "--store", store)...)
		if r.code != exitError || !strings.Contains(r.stderr, "no such file or directory") {
			t.Errorf("chainlog %q: exit %d, stderr %q; want exit 2 naming the missing store", args, r.code, r.stderr)
		}
		if _, err := os.Stat(store); err == nil {
			t.Errorf("chainlog %q created a store at a mistyped path", args)
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
