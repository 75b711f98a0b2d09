package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"chainlog"
)

// TestProveAnchor: an auditor proves the amendment trail's head with the
// anchor event's id: `chainlog prove --id amendments:<seq>:<hash>` gives a
// bundle that verify-proof checks against the signed checkpoint with no
// store, and whose event names the record's seq and hash.
func TestProveAnchor(t *testing.T) {
	dir := t.TempDir()
	key := filepath.Join(dir, "signer.key")
	res := runCLI(t, nil, "", "keygen", "--origin", "test/anchor", "--out", key)
	if res.code != exitOK {
		t.Fatalf("keygen: %d %s", res.code, res.stderr)
	}
	vkey := writeFile(t, dir, "verifier.key", res.stdout)
	store := filepath.Join(dir, "s.db")
	vars := map[string]string{"CHAINLOG_SIGNER_KEY": key}
	in := writeFile(t, dir, "e.ndjson", `{"id":"e-1","node_id":"n","event_type":"llm_usage","ts":"2026-03-01T10:00:00Z"}`+"\n")
	if res := runCLI(t, vars, "", "ingest", "--store", store, in); res.code != exitOK {
		t.Fatalf("ingest: %d %s", res.code, res.stderr)
	}
	res = runCLI(t, vars, "", "amend", "--store", store, "--reason", "r", "--actor", "a", "--model", "m", "--json", "e-1")
	if res.code != exitOK {
		t.Fatalf("amend: %d %s", res.code, res.stderr)
	}
	var rec chainlog.Amendment
	if err := json.Unmarshal([]byte(res.stdout), &rec); err != nil {
		t.Fatalf("amend --json: %v\n%s", err, res.stdout)
	}
	id := chainlog.AnchorID(rec.Seq, rec.Hash)
	bundle := filepath.Join(dir, "anchor.tlog-proof")
	if res := runCLI(t, vars, "", "prove", "--store", store, "--id", id, "--out", bundle); res.code != exitOK {
		t.Fatalf("prove --id %s: %d %s", id, res.code, res.stderr)
	}
	res = runCLI(t, nil, "", "verify-proof", "--key", vkey, "--json", bundle)
	if res.code != exitOK {
		t.Fatalf("verify-proof: %d %s%s", res.code, res.stdout, res.stderr)
	}
	for _, want := range []string{`"status": "valid"`, `"id": "` + id + `"`, `"node_id": "` + chainlog.AnchorNode + `"`, `"event_type": "` + chainlog.AnchorEventType + `"`} {
		if !strings.Contains(res.stdout, want) {
			t.Errorf("verify-proof output lacks %s:\n%s", want, res.stdout)
		}
	}
	// A bundle for a head the trail never had does not exist.
	if res := runCLI(t, vars, "", "prove", "--store", store, "--id", chainlog.AnchorID(rec.Seq, strings.Repeat("0", 64))); res.code == exitOK {
		t.Errorf("prove of an anchor that was never written: exit 0\n%s", res.stdout)
	}
	if _, err := os.Stat(store + ".checkpoints"); err != nil {
		t.Errorf("checkpoint file: %v", err)
	}
}
