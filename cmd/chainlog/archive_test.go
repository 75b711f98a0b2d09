package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"chainlog"
	"chainlog/archive"
	"chainlog/sqlite"

	"golang.org/x/mod/sumdb/note"
)

// newArchive writes a store of two nodes, archives their events of June
// 1-5 and, when asked, prunes them; it returns the store's path, the
// archive and the verifier key's text.
func newArchive(t *testing.T, pruned bool) (store, dir, vkey string) {
	t.Helper()
	ctx := context.Background()
	store = filepath.Join(t.TempDir(), "s.db")
	st, err := sqlite.Open(ctx, store, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var evs []chainlog.Event
	for i := 1; i <= 10; i++ {
		for _, node := range []string{"node-a", "node-b"} {
			ts := time.Date(2026, 6, i, 12, 0, 0, 0, time.UTC).Format(time.RFC3339)
			e, err := chainlog.DecodeEvent(fmt.Appendf(nil, `{"id":"%s/%d","node_id":%q,"event_type":"tool_call","ts":%q,"data":{"i":%d}}`, node, i, node, ts, i), "")
			if err != nil {
				t.Fatal(err)
			}
			evs = append(evs, e)
		}
	}
	if _, err := st.Ingest(ctx, evs); err != nil {
		t.Fatal(err)
	}
	skey, vkey, err := note.GenerateKey(rand.Reader, "test/cli-archive")
	if err != nil {
		t.Fatal(err)
	}
	signer, _ := note.NewSigner(skey)
	cp, err := st.Checkpoint(ctx, signer, nil)
	if err != nil {
		t.Fatal(err)
	}
	before := time.Date(2026, 6, 6, 0, 0, 0, 0, time.UTC)
	cuts, err := st.PlanPrune(ctx, before, "")
	if err != nil {
		t.Fatal(err)
	}
	dir = filepath.Join(t.TempDir(), "archive")
	if _, err := archive.Write(ctx, st, dir, cuts, cp); err != nil {
		t.Fatal(err)
	}
	if !pruned {
		return store, dir, vkey
	}
	if _, err := st.Prune(ctx, chainlog.PruneRequest{Cuts: cuts, Before: before, Reason: "policy", Actor: "ops"}); err != nil {
		t.Fatal(err)
	}
	return store, dir, vkey
}

func TestVerifyArchive(t *testing.T) {
	t.Parallel()
	store, dir, vkey := newArchive(t, true)
	_, otherKey, _ := note.GenerateKey(rand.Reader, "test/cli-archive")
	keyFile := writeFile(t, t.TempDir(), "key.pub", vkey+"\n")
	// An archive with node-a's seq 3 edited, its digest written anew.
	edited := filepath.Join(t.TempDir(), "edited")
	if err := os.CopyFS(edited, os.DirFS(dir)); err != nil {
		t.Fatal(err)
	}
	events := filepath.Join(edited, archive.EventsFile)
	data, _ := os.ReadFile(events)
	os.WriteFile(events, bytes.Replace(data, []byte(`"data":{"i":3}`), []byte(`"data":{"i":4}`), 1), 0o644)
	// Another store, where nothing was pruned.
	other, _, _ := newArchive(t, false)
	tests := []struct {
		name string
		args []string
		code int
		out  []string // substrings of stdout
		err  string   // substring of stderr
	}{
		{"valid", []string{"--key", vkey, dir}, exitOK, []string{"Result:    VALID", "node-a seq 1-5 (5 events), from genesis"}, ""},
		{"key file, with the store", []string{"--key", keyFile, "--store", store, dir}, exitOK,
			[]string{"the archive is exactly what the store's prune records name", "Result:    VALID"}, ""},
		{"json", []string{"--json", "--key", vkey, dir}, exitOK, []string{`"status": "valid"`, `"events": 10`}, ""},
		{"edited", []string{"--key", vkey, edited}, exitInvalid, []string{"Result:    INVALID", `event "node-a/3" (node node-a, seq 3)`}, ""},
		{"edited, json", []string{"--json", "--key", vkey, edited}, exitInvalid, []string{`"status": "invalid"`, `"event_id": "node-a/3"`}, ""},
		{"another key", []string{"--key", otherKey, dir}, exitInvalid, []string{"checkpoint: ", "Result:    INVALID"}, ""},
		{"another store", []string{"--key", vkey, "--store", other, dir}, exitInvalid, []string{"no prune record of the node from seq 1"}, ""},
		{"no key", []string{dir}, exitError, nil, "want --key"},
		{"no dir", []string{"--key", vkey, filepath.Join(dir, "missing")}, exitError, nil, "no such file"},
		{"quorum without witnesses", []string{"--key", vkey, "--quorum", "1", dir}, exitError, nil, "--quorum needs --witness-key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := runCLI(t, nil, "", append([]string{"verify-archive"}, tt.args...)...)
			if res.panicked != nil || res.code != tt.code {
				t.Fatalf("exit %d (panic %v), want %d\nstdout: %s\nstderr: %s", res.code, res.panicked, tt.code, res.stdout, res.stderr)
			}
			for _, s := range tt.out {
				if !strings.Contains(res.stdout, s) {
					t.Errorf("stdout lacks %q:\n%s", s, res.stdout)
				}
			}
			if !strings.Contains(res.stderr, tt.err) {
				t.Errorf("stderr lacks %q:\n%s", tt.err, res.stderr)
			}
			if strings.Contains(strings.Join(tt.args, " "), "--json") && !json.Valid([]byte(res.stdout)) {
				t.Errorf("--json printed no JSON document:\n%s", res.stdout)
			}
		})
	}
}
