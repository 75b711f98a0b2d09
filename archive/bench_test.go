package archive

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"chainlog"
	"chainlog/internal/chainlogtest"
	"chainlog/sqlite"

	"golang.org/x/mod/sumdb/note"
)

// benchEvents is how many events the benchmarks archive: 10,000, or
// CHAINLOG_BENCH_ARCHIVE_EVENTS (1000000 for the figure in
// docs/archive.md).
func benchEvents(b *testing.B) int {
	n := 10000
	if s := os.Getenv("CHAINLOG_BENCH_ARCHIVE_EVENTS"); s != "" {
		v, err := strconv.Atoi(s)
		if err != nil || v < 1 {
			b.Fatalf("CHAINLOG_BENCH_ARCHIVE_EVENTS=%q: want a positive count", s)
		}
		n = v
	}
	return n
}

// benchStore is a SQLite store of 2n events on two nodes, interleaved:
// n1's n events are from 2026, n2's from 2027, and the cuts of a prune
// before 2027 (n1's every event, each leaf between two of n2's, the most
// tree hashes an archive can need), with a checkpoint.
func benchStore(b *testing.B, n int) (*sqlite.Store, []chainlog.PruneCut, []byte, note.Verifier) {
	b.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(b.TempDir(), "s.db"), sqlite.Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	evs := make([]chainlog.Event, 0, 5000)
	for i := range 2 * n {
		node, year := "n1", 2026
		if i%2 == 1 {
			node, year = "n2", 2027
		}
		evs = append(evs, chainlog.Event{ID: fmt.Sprintf("ev-%08d", i), AgentType: "claude-code", NodeID: node,
			AgentID: "main", SessionID: chainlogtest.Ptr("s1"), EventType: "llm_usage",
			TS:   fmt.Sprintf("%d-01-01T%02d:%02d:%02dZ", year, i/3600%24, i/60%60, i%60),
			Data: json.RawMessage(fmt.Sprintf(`{"input_tokens":%d,"output_tokens":%d,"text":"a line of output"}`, i, i*2))})
		if len(evs) == cap(evs) || i == 2*n-1 {
			if _, err := st.Ingest(ctx, evs); err != nil {
				b.Fatal(err)
			}
			evs = evs[:0]
		}
	}
	signer, verifier := chainlogtest.NewKey(b, "bench/archive")
	signed, err := st.Checkpoint(ctx, signer, nil)
	if err != nil {
		b.Fatal(err)
	}
	cuts, err := st.PlanPrune(ctx, time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC), "")
	if err != nil || len(cuts) != 1 || cuts[0].LastSeq != int64(n) {
		b.Fatalf("plan: %v %+v", err, cuts)
	}
	return st, cuts, signed, verifier
}

// rss returns the process's resident set size and its peak since the
// last resetPeak, in bytes (Linux; 0 elsewhere).
func rss() (now, peak int64) {
	data, _ := os.ReadFile("/proc/self/status")
	for _, l := range strings.Split(string(data), "\n") {
		f := strings.Fields(l)
		if len(f) < 2 {
			continue
		}
		v, _ := strconv.ParseInt(f[1], 10, 64)
		switch f[0] {
		case "VmRSS:":
			now = v << 10
		case "VmHWM:":
			peak = v << 10
		}
	}
	return now, peak
}

// resetPeak resets the peak RSS to the current RSS (Linux's clear_refs).
func resetPeak() { os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) }

// reportRSS reports the RSS before the measured loop and its peak during.
func reportRSS(b *testing.B, before int64) {
	_, peak := rss()
	b.ReportMetric(float64(before)/(1<<20), "rss-before-MB")
	b.ReportMetric(float64(peak)/(1<<20), "rss-peak-MB")
}

// BenchmarkWrite archives n1's n events from a store of 2n.
func BenchmarkWrite(b *testing.B) {
	n := benchEvents(b)
	st, cuts, signed, _ := benchStore(b, n)
	b.Run(fmt.Sprint(n), func(b *testing.B) {
		parent := b.TempDir()
		var m *Manifest
		resetPeak()
		before, _ := rss()
		i := 0
		for b.Loop() {
			dir := filepath.Join(parent, fmt.Sprint(i))
			i++
			var err error
			if m, err = Write(context.Background(), st, dir, cuts, signed); err != nil {
				b.Fatal(err)
			}
			b.StopTimer()
			os.RemoveAll(dir)
			b.StartTimer()
		}
		reportRSS(b, before)
		b.ReportMetric(float64(m.Files[0].Bytes+m.Files[1].Bytes+m.Files[2].Bytes+m.Files[3].Bytes), "archive-bytes")
		b.ReportMetric(float64(m.TreeHashes), "tree-hashes")
	})
}

// BenchmarkVerify verifies the archive of n events.
func BenchmarkVerify(b *testing.B) {
	n := benchEvents(b)
	st, cuts, signed, verifier := benchStore(b, n)
	dir := filepath.Join(b.TempDir(), "a")
	if _, err := Write(context.Background(), st, dir, cuts, signed); err != nil {
		b.Fatal(err)
	}
	st.Close()
	b.Run(fmt.Sprint(n), func(b *testing.B) {
		resetPeak()
		before, _ := rss()
		for b.Loop() {
			rep, err := Verify(context.Background(), dir, Options{Verifiers: []note.Verifier{verifier}})
			if err != nil || rep.Events != int64(n) {
				b.Fatalf("verify: %v", err)
			}
		}
		reportRSS(b, before)
	})
}
