package console_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"testing"
	"time"

	"chainlog/console"
	"chainlog/sqlite"
)

// benchStore returns a store of n demo events: the one at
// CHAINLOG_BENCH_STORE when it exists (it is written there otherwise), or
// a new one for the benchmark.
func benchStore(b *testing.B, n int) string {
	b.Helper()
	path := os.Getenv("CHAINLOG_BENCH_STORE")
	if path != "" {
		if _, err := os.Stat(path); err == nil {
			return path
		}
	} else {
		path = b.TempDir() + "/bench.db"
	}
	st, err := sqlite.Open(context.Background(), path, sqlite.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	now := time.Now()
	for from := 0; from < n; from += 10000 {
		evs := demoRange(b, from, min(n, from+10000), n, now)
		if _, err := st.Ingest(context.Background(), evs); err != nil {
			b.Fatal(err)
		}
	}
	return path
}

// BenchmarkEventsPage renders console pages over a store of a million
// events: the events page unfiltered (first and a deep page) and with
// filters, which read one window of rows each.
func BenchmarkEventsPage(b *testing.B) {
	if testing.Short() {
		b.Skip("builds a store of a million events")
	}
	const n = 1_000_000
	path := benchStore(b, n)
	st, err := sqlite.OpenReadOnly(context.Background(), path)
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	c, err := console.New(console.Config{Store: st})
	if err != nil {
		b.Fatal(err)
	}
	for _, bc := range []struct{ name, url string }{
		{"first", "/events"},
		{"deep", "/events?after=900000"},
		{"node", "/events?node=laptop-ana&after=500000"},
		{"session", "/events?session=sess-ci-runner-20000&after=480000"},
		{"type_agent", "/events?type=tool_call&agent=reviewer"},
		{"no_match", "/events?agent=nobody&after=700000"},
		{"session_page", "/session?id=sess-ci-runner-20000&after=430000"},
		{"costs", "/costs"},
		{"event", "/event?id=ev-500000"},
		{"overview", "/"},
	} {
		b.Run(bc.name, func(b *testing.B) {
			for b.Loop() {
				w := httptest.NewRecorder()
				c.ServeHTTP(w, httptest.NewRequest("GET", bc.url, nil))
				if w.Code != http.StatusOK {
					b.Fatalf("GET %s: %d", bc.url, w.Code)
				}
			}
		})
	}
}
