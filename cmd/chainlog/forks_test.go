package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"chainlog"
	"chainlog/sqlite"
)

// forkedCollector makes a collector store at path that holds node n1's
// chain from one machine and fork evidence from another claiming n1.
func forkedCollector(t *testing.T, dir string) string {
	t.Helper()
	ctx := t.Context()
	col := filepath.Join(dir, "collector.db")
	rows := func(name, prefix string) []chainlog.StoredEvent {
		st, err := sqlite.Open(ctx, filepath.Join(dir, name), sqlite.Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		var evs []chainlog.Event
		for i := range 3 {
			e, err := chainlog.DecodeEvent(fmt.Appendf(nil, `{"id":"%s-%d","node_id":"n1","event_type":"tool.call","ts":"2026-03-01T12:00:00Z"}`, prefix, i), "")
			if err != nil {
				t.Fatal(err)
			}
			evs = append(evs, e)
		}
		if _, err := st.Ingest(ctx, evs); err != nil {
			t.Fatal(err)
		}
		var out []chainlog.StoredEvent
		if err := st.Export(ctx, "n1", func(e *chainlog.StoredEvent) error { out = append(out, *e); return nil }); err != nil {
			t.Fatal(err)
		}
		return out
	}
	first, second := rows("host-a.db", "a"), rows("host-b.db", "b")
	st, err := sqlite.Open(ctx, col, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if _, err := st.Replicate(ctx, first); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Replicate(ctx, second); !errors.Is(err, chainlog.ErrForked) {
		t.Fatalf("Replicate(a second history) = %v; want fork evidence", err)
	}
	return col
}

func TestForksCommand(t *testing.T) {
	col := forkedCollector(t, t.TempDir())
	r := runCLI(t, nil, "", "forks", "--store", col)
	if r.code != exitInvalid || !strings.Contains(r.stdout, "Fork 1:    node n1, seq 1") || !strings.Contains(r.stdout, "UNRESOLVED: the node is quarantined") {
		t.Fatalf("forks: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	r = runCLI(t, nil, "", "verify-integrity", "--store", col)
	if r.code != exitInvalid || !strings.Contains(r.stdout, "fork evidence") || !strings.Contains(r.stdout, "Forks:     1 fork evidence records") {
		t.Fatalf("verify-integrity with an unresolved fork: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}

	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"--actor", "a", "--reason", "r"}, "--node-id is required"},
		{[]string{"--node-id", "n1", "--reason", "r"}, "--actor is required"},
		{[]string{"--node-id", "n1", "--actor", "a"}, "--reason is required"},
	} {
		r := runCLI(t, nil, "", append([]string{"forks", "resolve", "--store", col}, tt.args...)...)
		if r.code != exitError || !strings.Contains(r.stderr, tt.want) {
			t.Errorf("forks resolve %v: exit %d, %s; want 2 and %q", tt.args, r.code, r.stderr, tt.want)
		}
	}
	r = runCLI(t, nil, "", "forks", "resolve", "--store", col, "--node-id", "n1", "--actor", "alice", "--reason", "host-b renamed")
	if r.code != exitOK || !strings.Contains(r.stdout, "Resolved 1 fork(s) of node n1") {
		t.Fatalf("forks resolve: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	r = runCLI(t, nil, "", "forks", "--store", col, "--json")
	var forks []chainlog.Fork
	if err := json.Unmarshal([]byte(r.stdout), &forks); err != nil || r.code != exitOK || len(forks) != 1 ||
		forks[0].ResolvedBy != "alice" || forks[0].Resolution != "host-b renamed" || forks[0].ResolvedAt == "" {
		t.Fatalf("forks --json after resolving: exit %d, %v\n%s", r.code, err, r.stdout)
	}
	if r := runCLI(t, nil, "", "verify-integrity", "--store", col); r.code != exitOK {
		t.Fatalf("verify-integrity after resolving: exit %d\n%s", r.code, r.stdout)
	}
	r = runCLI(t, nil, "", "forks", "--store", col, "--node-id", "n2")
	if r.code != exitOK || !strings.Contains(r.stdout, "No fork evidence.") {
		t.Fatalf("forks --node-id n2: exit %d\n%s", r.code, r.stdout)
	}
}
