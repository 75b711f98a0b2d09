package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"chainlog"
	"chainlog/internal/chainlogtest"
)

// events returns n NDJSON events with ids prefix-0 ... prefix-(n-1).
func events(prefix string, n int) string {
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, `{"id": "%s-%d", "node_id": "node-a", "event_type": "tool.result", "ts": "2026-06-13T03:58:%02d.000Z"}`+"\n", prefix, i, i%60)
	}
	return b.String()
}

// TestWitnessCLI runs the commands against a real witness (litewitness):
// ingest waits for its cosignature, and the verifiers require it.
func TestWitnessCLI(t *testing.T) {
	lw := chainlogtest.StartLitewitness(t)
	dir := t.TempDir()
	const origin = "chainlog/test/cli"
	key := filepath.Join(dir, "signer.key")
	res := runCLI(t, nil, "", "keygen", "--origin", origin, "--out", key)
	if res.code != exitOK {
		t.Fatalf("keygen: %d %s", res.code, res.stderr)
	}
	vkey := strings.TrimSpace(res.stdout)
	lw.AddLog(t, origin, vkey)
	store := filepath.Join(dir, "s.db")
	cosigned := store + ".cosigned"
	vars := map[string]string{"CHAINLOG_WITNESS": lw.URL + "=" + lw.VKey, "CHAINLOG_SIGNER_KEY": key}
	ingest := func(t *testing.T, vars map[string]string, store, name, data string, args ...string) cliResult {
		t.Helper()
		f := writeFile(t, dir, name, data)
		return runCLI(t, vars, "", append(append([]string{"ingest", "--store", store}, args...), f)...)
	}
	expect := func(t *testing.T, res cliResult, code int, stderr ...string) {
		t.Helper()
		if res.code != code || res.panicked != nil {
			t.Fatalf("exit %d (panic %v); want %d\nstdout: %s\nstderr: %s", res.code, res.panicked, code, res.stdout, res.stderr)
		}
		for _, s := range stderr {
			if !strings.Contains(res.stderr+res.stdout, s) {
				t.Errorf("output lacks %q:\nstdout: %s\nstderr: %s", s, res.stdout, res.stderr)
			}
		}
	}

	expect(t, ingest(t, vars, store, "a.ndjson", events("a", 40)), exitOK)
	first, err := os.ReadFile(cosigned)
	if err != nil {
		t.Fatal(err)
	}
	oldFile := writeFile(t, dir, "old.cosigned", string(first))
	expect(t, ingest(t, vars, store, "b.ndjson", events("b", 3)), exitOK)
	notes := chainlog.SplitNotes(mustRead(t, cosigned))
	if len(notes) != 2 {
		t.Fatalf("%s holds %d notes; want 2", cosigned, len(notes))
	}
	t.Logf("cosigned checkpoint:\n%s", notes[1])
	// A second witness key the checkpoints do not carry.
	_, otherVKey := chainlogtest.NewWitnessKey(t, "other.example/witness")

	t.Run("verify-integrity", func(t *testing.T) {
		expect(t, runCLI(t, nil, "", "verify-integrity", "--store", store, "--checkpoint", cosigned, "--key", vkey,
			"--witness-key", lw.VKey), exitOK, "Result:    VALID")
		// The plain checkpoint file has no cosignatures.
		expect(t, runCLI(t, nil, "", "verify-integrity", "--store", store, "--checkpoint", store+".checkpoints", "--key", vkey,
			"--witness-key", lw.VKey), exitInvalid, "missing from witness.example/test", "Result:    INVALID")
		expect(t, runCLI(t, nil, "", "verify-integrity", "--store", store, "--checkpoint", cosigned, "--key", vkey,
			"--witness-key", lw.VKey, "--witness-key", otherVKey), exitInvalid, "fewer than the quorum of 2: missing from other.example/witness")
		expect(t, runCLI(t, nil, "", "verify-integrity", "--store", store, "--checkpoint", cosigned, "--key", vkey,
			"--witness-key", lw.VKey, "--witness-key", otherVKey, "--quorum", "1"), exitOK, "Result:    VALID")
		expect(t, runCLI(t, nil, "", "verify-integrity", "--store", store, "--witness-key", lw.VKey), exitError, "--witness-key needs --checkpoint")
	})
	t.Run("verify-proof", func(t *testing.T) {
		bundle := filepath.Join(dir, "p.tlog-proof")
		expect(t, runCLI(t, nil, "", "prove", "--store", store, "--id", "b-1", "--checkpoint", cosigned, "--out", bundle), exitOK)
		expect(t, runCLI(t, nil, "", "verify-proof", "--key", vkey, "--witness-key", lw.VKey, bundle), exitOK, "Result:    VALID")
		expect(t, runCLI(t, nil, "", "verify-proof", "--key", vkey, "--witness-key", otherVKey, bundle), exitInvalid,
			"missing from other.example/witness")
		plain := filepath.Join(dir, "plain.tlog-proof")
		expect(t, runCLI(t, nil, "", "prove", "--store", store, "--id", "b-1", "--out", plain), exitOK)
		expect(t, runCLI(t, nil, "", "verify-proof", "--key", vkey, plain), exitOK, "Result:    VALID")
		expect(t, runCLI(t, nil, "", "verify-proof", "--key", vkey, "--witness-key", lw.VKey, plain), exitInvalid,
			"missing from witness.example/test")
	})
	t.Run("consistency", func(t *testing.T) {
		proof := filepath.Join(dir, "c.proof")
		expect(t, runCLI(t, nil, "", "consistency", "--store", store, "--out", proof, oldFile, cosigned), exitOK)
		expect(t, runCLI(t, nil, "", "consistency", "--verify", "--proof", proof, "--key", vkey, "--witness-key", lw.VKey,
			oldFile, cosigned), exitOK, "Result:    VALID")
		expect(t, runCLI(t, nil, "", "consistency", "--verify", "--proof", proof, "--key", vkey, "--witness-key", lw.VKey,
			oldFile, store+".checkpoints"), exitInvalid, "missing from witness.example/test")
	})
	t.Run("a forked store is refused and ingest fails", func(t *testing.T) {
		fork := filepath.Join(dir, "fork.db")
		res := ingest(t, vars, fork, "fork.ndjson", events("fork", 50))
		expect(t, res, exitError, "50 new events committed, but witnesses", "422", "level=ERROR")
		if _, err := os.Stat(fork + ".cosigned"); !os.IsNotExist(err) {
			t.Errorf("the fork has a cosigned file (%v); want none", err)
		}
	})
	t.Run("a dead witness: ingest commits, then fails at the timeout", func(t *testing.T) {
		dead := map[string]string{"CHAINLOG_WITNESS": "http://127.0.0.1:1=" + lw.VKey, "CHAINLOG_SIGNER_KEY": key,
			"CHAINLOG_WITNESS_TIMEOUT": "300ms"}
		other := filepath.Join(dir, "dead.db")
		expect(t, ingest(t, dead, other, "d.ndjson", events("d", 5)), exitError,
			"5 new events committed, but witnesses: the checkpoint of size 5 was cosigned by 0 of 1 witnesses")
		expect(t, runCLI(t, nil, "", "verify-integrity", "--store", other), exitOK, "Checked:   5 events")
	})
	t.Run("quorum of one of two", func(t *testing.T) {
		two := map[string]string{"CHAINLOG_WITNESS": "http://127.0.0.1:1=" + otherVKey + "," + lw.URL + "=" + lw.VKey,
			"CHAINLOG_WITNESS_QUORUM": "1", "CHAINLOG_SIGNER_KEY": key}
		expect(t, ingest(t, two, store, "e.ndjson", events("e", 2)), exitOK)
		expect(t, runCLI(t, nil, "", "verify-integrity", "--store", store, "--checkpoint", cosigned, "--key", vkey,
			"--witness-key", lw.VKey), exitOK, "Result:    VALID")
	})
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
