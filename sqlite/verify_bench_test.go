package sqlite_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"chainlog"
	"chainlog/sqlite"

	"github.com/google/uuid"
)

// The verification benchmarks run on a generated store shaped like the
// bench command's: ids "evt_" and a random UUID, 4 nodes, ~100-byte JSON
// payloads, committed in batches of 1,000. CHAINLOG_BENCH_EVENTS sets its
// size (default 100,000); CHAINLOG_BENCH_STORE, when set, is the path of a
// store to reuse (built there when missing), so that a large store is built
// once across runs:
//
//	CHAINLOG_BENCH_EVENTS=1000000 CHAINLOG_BENCH_STORE=/path/to/v1m.db \
//	    go test ./sqlite -run '^$' -bench Verify -benchtime 3x -count 5

func benchStore(b *testing.B) (path string, events int) {
	b.Helper()
	events = 100_000
	if s := os.Getenv("CHAINLOG_BENCH_EVENTS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n <= 0 {
			b.Fatalf("CHAINLOG_BENCH_EVENTS=%q: want a positive integer", s)
		}
		events = n
	}
	path = os.Getenv("CHAINLOG_BENCH_STORE")
	if path == "" {
		path = filepath.Join(b.TempDir(), "bench.db")
	}
	if _, err := os.Stat(path); err == nil {
		return path, events
	}
	b.Logf("building a store of %d events at %s", events, path)
	if err := buildBenchStore(b.Context(), path, events); err != nil {
		os.Remove(path)
		b.Fatal(err)
	}
	return path, events
}

func buildBenchStore(ctx context.Context, path string, events int) error {
	st, err := sqlite.Open(ctx, path, sqlite.Options{})
	if err != nil {
		return err
	}
	defer st.Close()
	rng := rand.New(rand.NewPCG(1, 2))
	nodes := []string{"node-00", "node-01", "node-02", "node-03"}
	eventTypes := []string{"tool_call", "tool.result", "prompt.submitted", "model.completed", "llm_usage"}
	agentTypes := []string{"claude_code", "cursor", "codex", "openclaw"}
	tools := []string{"bash", "read", "edit", "grep", "web_fetch"}
	ts := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	batch := make([]chainlog.Event, 0, 1000)
	for i := range events {
		ts = ts.Add(time.Duration(rng.IntN(2000)) * time.Millisecond)
		session := fmt.Sprintf("sess-%04d", i/500)
		batch = append(batch, chainlog.Event{
			ID:        "evt_" + uuid.NewString(),
			AgentType: agentTypes[rng.IntN(len(agentTypes))],
			NodeID:    nodes[rng.IntN(len(nodes))],
			AgentID:   "main",
			SessionID: &session,
			EventType: eventTypes[rng.IntN(len(eventTypes))],
			TS:        ts.Format("2006-01-02T15:04:05.000Z"),
			Data: fmt.Appendf(nil, `{"tool":%q,"args":{"path":"src/pkg/file_%d.go","line":%d},"ok":true}`,
				tools[rng.IntN(len(tools))], rng.IntN(400), rng.IntN(2000)),
		})
		if len(batch) == cap(batch) || i == events-1 {
			if _, err := st.Ingest(ctx, batch); err != nil {
				return err
			}
			batch = batch[:0]
		}
	}
	return st.Close()
}

// BenchmarkVerifyExact measures the node-ordered walk and the separate tree
// pass, as verify-integrity ran before the one-pass verifier.
func BenchmarkVerifyExact(b *testing.B) {
	path, events := benchStore(b)
	st, err := sqlite.OpenReadOnly(b.Context(), path)
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	b.ResetTimer()
	for b.Loop() {
		err := st.Snapshot(b.Context(), func() error {
			rep, err := chainlog.VerifyStore(b.Context(), st, chainlog.VerifyOptions{Walk: true})
			if err != nil {
				return err
			}
			if rep.Status != chainlog.StatusValid || rep.Checked != int64(events) {
				return fmt.Errorf("verify says %s after %d events", rep.Status, rep.Checked)
			}
			return err
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(events)*float64(b.N)/b.Elapsed().Seconds(), "events/s")
}

// BenchmarkVerifyStore measures chainlog.VerifyStore, the one-pass
// verification verify-integrity runs.
func BenchmarkVerifyStore(b *testing.B) {
	path, events := benchStore(b)
	st, err := sqlite.OpenReadOnly(b.Context(), path)
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	b.ResetTimer()
	for b.Loop() {
		err := st.Snapshot(b.Context(), func() error {
			rep, err := chainlog.VerifyStore(b.Context(), st, chainlog.VerifyOptions{})
			if err != nil {
				return err
			}
			if rep.Status != chainlog.StatusValid || rep.Checked != int64(events) || rep.Tree.Leaves != int64(events) {
				return fmt.Errorf("verify says %s after %d events", rep.Status, rep.Checked)
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(events)*float64(b.N)/b.Elapsed().Seconds(), "events/s")
}
