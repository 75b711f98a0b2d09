package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"chainlog"
	"chainlog/internal/pgtest"
)

// TestPostgresCommands runs the commands that open a store against a
// PostgreSQL schema, given by --store and by CHAINLOG_STORE: each works,
// the store verifies VALID after amend, redact and backfill, and the
// proofs it writes verify offline.
func TestPostgresCommands(t *testing.T) {
	t.Parallel()
	dsn := pgtest.Schema(t)
	home := t.TempDir()
	vars := map[string]string{"HOME": home}
	withEnv := map[string]string{"HOME": home, "CHAINLOG_STORE": dsn}
	must := func(vars map[string]string, args ...string) string {
		t.Helper()
		r := runCLI(t, vars, "", args...)
		if r.code != exitOK || r.panicked != nil {
			t.Fatalf("chainlog %s: exit %d, panic %v\nstdout: %s\nstderr: %s", strings.Join(args, " "), r.code, r.panicked, r.stdout, r.stderr)
		}
		return r.stdout
	}
	key := strings.TrimSpace(must(vars, "keygen", "--origin", "example.com/pg"))
	key = key[strings.LastIndex(key, "\n")+1:]
	must(vars, "ingest", "--store", dsn, vectorsFile)
	must(withEnv, "ingest", filepath.Join("testdata", "usage.ndjson"))
	out := must(withEnv, "export")
	if n := strings.Count(out, "\n"); n != 42 {
		t.Fatalf("export: %d lines, want 42", n)
	}
	var first struct{ ID string }
	if err := json.Unmarshal([]byte(out[:strings.Index(out, "\n")]), &first); err != nil {
		t.Fatal(err)
	}
	must(vars, "amend", "--store", dsn, "--model", "m-2", "--reason", "fix", "--actor", "t", first.ID)
	must(withEnv, "redact", "--reason", "erasure", "--actor", "dpo", first.ID)
	if h := must(withEnv, "history", first.ID); !strings.Contains(h, "redact by dpo") {
		t.Fatalf("history: %s", h)
	}
	if b := must(withEnv, "backfill-costs"); !strings.Contains(b, "costed 2 events") {
		t.Fatalf("backfill-costs: %s", b)
	}
	if v := must(withEnv, "verify-integrity", "--json"); !strings.Contains(v, `"status": "valid"`) {
		t.Fatalf("verify-integrity: %s", v)
	}
	proof := filepath.Join(home, "proof.json")
	must(withEnv, "prove", "--id", first.ID, "--out", proof)
	if v := must(vars, "verify-proof", "--key", key, proof); !strings.Contains(v, "VALID") {
		t.Fatalf("verify-proof: %s", v)
	}
	cps, err := filepath.Glob(filepath.Join(home, ".chainlog", "postgres", "*.checkpoints"))
	if err != nil || len(cps) != 1 {
		t.Fatalf("checkpoint files %v, %v; want one", cps, err)
	}
	notes := splitNotes(t, cps[0])
	old, cur := filepath.Join(home, "old.cp"), filepath.Join(home, "new.cp")
	for p, n := range map[string][]byte{old: notes[0], cur: notes[len(notes)-1]} {
		if err := os.WriteFile(p, n, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cons := filepath.Join(home, "cons.proof")
	must(withEnv, "consistency", "--out", cons, old, cur)
	must(vars, "consistency", "--verify", "--proof", cons, "--key", key, old, cur)
	must(withEnv, "export-tiles", filepath.Join(home, "tiles"))
	must(withEnv, "evidence", "--node", "node-a", "--out", filepath.Join(home, "pack.json"))
	must(vars, "verify-evidence", "--key", key, filepath.Join(home, "pack.json"))
}

func splitNotes(t *testing.T, path string) [][]byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	notes := chainlog.SplitNotes(b)
	if len(notes) < 2 {
		t.Fatalf("%s holds %d checkpoints, want at least 2", path, len(notes))
	}
	return notes
}

// TestPostgresTwoServes runs two "chainlog serve" processes, two
// collectors, on one PostgreSQL schema, posts batches to both at once,
// some for the same nodes, and wants every acknowledged event stored once
// and the store VALID, with a checkpoint signed by either.
func TestPostgresTwoServes(t *testing.T) {
	t.Parallel()
	dsn := pgtest.Schema(t)
	bin := chainlogBinary(t)
	skey, _ := makeSignerKey(t, bin, t.TempDir())
	var ds []*serveProc
	for i := range 2 {
		d := startDaemon(t, bin, append(serveEnv(t), "CHAINLOG_SIGNER_KEY="+skey), "",
			"--store", dsn, "--listen", "127.0.0.1:0", "--node-id", fmt.Sprintf("collector-%d", i), "--checkpoint-interval", "20ms")
		ds = append(ds, d)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for i, d := range ds {
		for w := range 2 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				p := newPoster(d.url, "")
				defer p.close()
				for b := range 10 {
					var lines []string
					for k := range 100 {
						node := []string{"shared", fmt.Sprintf("own-%d", i)}[(b+k)%2]
						lines = append(lines, testEvent(fmt.Sprintf("d%d-w%d-b%d-%d", i, w, b, k), node, k))
					}
					a, err := p.post(ctx, lines, false)
					if err != nil || a.status != http.StatusOK || a.accepted != len(lines) {
						errs <- fmt.Errorf("collector %d writer %d batch %d: %+v %v", i, w, b, a, err)
						return
					}
				}
			}()
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	for _, d := range ds {
		d.stop()
	}
	env := serveEnv(t)
	rep := requireValid(t, bin, env, dsn)
	if rep.Checked < 4000 {
		t.Fatalf("verify-integrity checked %d events, want at least the 4,000 posted", rep.Checked)
	}
	ids := exportIDs(t, bin, env, dsn)
	seen := map[string]bool{}
	for _, e := range ids {
		if seen[e.ID] {
			t.Fatalf("event %s exported twice", e.ID)
		}
		seen[e.ID] = true
	}
	if len(seen) != 4000 {
		t.Fatalf("%d events exported, want 4000", len(seen))
	}
}
