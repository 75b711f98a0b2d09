package main

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestPruneCrash kills "chainlog prune" with SIGKILL at several points,
// each time on a fresh copy of one store. After each kill the store
// verifies, with its checkpoints, and the prune happened whole (every
// planned event pruned, one record per node) or not at all; running it
// again then finishes it.
func TestPruneCrash(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a 20,000-event store")
	}
	t.Parallel()
	bin := chainlogBinary(t)
	dir := t.TempDir()
	skey, vkey := makeSignerKey(t, bin, dir)
	env := serveEnv(t, "CHAINLOG_SIGNER_KEY="+skey)

	// 20,000 events of two nodes over 40 days; the prune takes the first
	// 30 days of each.
	var events bytes.Buffer
	const perNode = 10000
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range perNode {
		ts := start.Add(time.Duration(i) * (40 * 24 * time.Hour / perNode)).Format(time.RFC3339Nano)
		for _, node := range []string{"node-a", "node-b"} {
			fmt.Fprintf(&events, `{"id":"%s-%d","node_id":%q,"agent_type":"claude_code","event_type":"tool_call","ts":%q,"data":{"tool":"bash","args":{"cmd":"make test %d"}},"cost_usd":0.01}`+"\n",
				node, i, node, ts, i)
		}
	}
	tmpl := filepath.Join(dir, "tmpl")
	if err := os.Mkdir(tmpl, 0o755); err != nil {
		t.Fatal(err)
	}
	src := writeFile(t, dir, "events.ndjson", events.String())
	if r := runChainlog(t, bin, env, "ingest", "--store", filepath.Join(tmpl, "s.db"), src); r.code != 0 {
		t.Fatalf("ingest: %d\n%s", r.code, r.stderr)
	}
	const planned = 2 * perNode * 30 / 40
	args := []string{"prune", "--before", "2026-01-31", "--reason", "retention: policy 30d", "--actor", "ops", "--no-archive"}

	// One run to the end tells how long a prune takes here; the kills
	// land from its start to just past its end.
	copyDir(t, tmpl, filepath.Join(dir, "full"))
	began := time.Now()
	if r := runChainlog(t, bin, env, append(args, "--store", filepath.Join(dir, "full", "s.db"))...); r.code != 0 {
		t.Fatalf("prune: %d\n%s", r.code, r.stderr)
	}
	took := time.Since(began)
	whole, none := 0, 0
	for i, frac := range []float64{0.05, 0.25, 0.5, 0.7, 0.85, 0.95, 1.0, 1.1} {
		delay := time.Duration(frac * float64(took))
		kdir := filepath.Join(dir, fmt.Sprint("kill", i))
		copyDir(t, tmpl, kdir)
		store := filepath.Join(kdir, "s.db")
		cmd := exec.Command(bin, append(args, "--store", store)...)
		cmd.Env = env
		var stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = io.Discard, &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(delay)
		_ = cmd.Process.Signal(syscall.SIGKILL)
		err := cmd.Wait()
		ws, _ := cmd.ProcessState.Sys().(syscall.WaitStatus)
		killed := ws.Signaled()
		if !killed && err != nil {
			t.Fatalf("kill %d: prune failed before the kill: %v\n%s", i, err, stderr.String())
		}

		rep := requireValid(t, bin, env, store, "--checkpoint", store+".checkpoints", "--key", vkey)
		switch {
		case rep.Pruned == planned && len(rep.Prunes) == 2:
			whole++
		case rep.Pruned == 0 && len(rep.Prunes) == 0:
			none++
		default:
			t.Fatalf("kill %d after %v: %d events pruned, %d records; want %d and 2, or none", i, delay, rep.Pruned, len(rep.Prunes), planned)
		}
		t.Logf("kill %d after %v: killed %v, %d pruned", i, delay, killed, rep.Pruned)
		// Running it again completes what the kill stopped, and nothing twice.
		if r := runChainlog(t, bin, env, append(args, "--store", store)...); r.code != 0 {
			t.Fatalf("kill %d: prune again: %d\n%s", i, r.code, r.stderr)
		}
		rep = requireValid(t, bin, env, store, "--checkpoint", store+".checkpoints", "--key", vkey)
		if rep.Pruned != planned || len(rep.Prunes) != 2 {
			t.Fatalf("kill %d: after the second run, %d pruned in %d records; want %d in 2", i, rep.Pruned, len(rep.Prunes), planned)
		}
	}
	t.Logf("%d kills left the prune whole, %d left it undone", whole, none)
}

// copyDir copies the files of src into a new directory dst.
func copyDir(t *testing.T, src, dst string) {
	t.Helper()
	if err := os.MkdirAll(dst, 0o755); err != nil {
		t.Fatal(err)
	}
	ents, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), ".") || e.IsDir() {
			continue
		}
		b, err := os.ReadFile(filepath.Join(src, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dst, e.Name()), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
}
