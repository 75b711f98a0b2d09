package watch

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"chainlog"
	"chainlog/sqlite"
)

// countingSink counts the events committed through it to next (nil: the
// events are discarded).
type countingSink struct {
	next   Sink
	events atomic.Int64
}

func (c *countingSink) Commit(ctx context.Context, events []chainlog.Event, cursors ...chainlog.Cursor) (chainlog.IngestResult, error) {
	var res chainlog.IngestResult
	if c.next != nil {
		var err error
		if res, err = c.next.Commit(ctx, events, cursors...); err != nil {
			return res, err
		}
	}
	c.events.Add(int64(len(events)))
	return res, nil
}

func (c *countingSink) Cursors(ctx context.Context, source string) ([]chainlog.Cursor, error) {
	if c.next == nil {
		return nil, nil
	}
	return c.next.Cursors(ctx, source)
}

// BenchmarkWatch50Files appends b.N lines, one write each, round-robin
// over 50 files as fast as one writer can, while Run follows them, and
// reports the lines per second committed: to a sink that discards the
// events (the watcher alone) and to a SQLite store (end to end). The
// parser is the tests' (one JSON decode and one event per line).
func BenchmarkWatch50Files(b *testing.B) {
	for _, name := range []string{"discard", "sqlite"} {
		b.Run(name, func(b *testing.B) {
			dir := b.TempDir()
			sink := &countingSink{}
			if name == "sqlite" {
				st, err := sqlite.Open(b.Context(), filepath.Join(b.TempDir(), "s.db"), sqlite.Options{})
				if err != nil {
					b.Fatal(err)
				}
				defer st.Close()
				sink.next = StoreSink{st}
			}
			files := make([]*os.File, 50)
			for i := range files {
				f, err := os.OpenFile(filepath.Join(dir, fmt.Sprintf("s%02d.jsonl", i)), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
				if err != nil {
					b.Fatal(err)
				}
				defer f.Close()
				files[i] = f
			}
			w, err := New(Config{Folders: []Folder{{Source: "test", Dir: dir, NewParser: newTestParser}}, Sink: sink})
			if err != nil {
				b.Fatal(err)
			}
			ctx, cancel := context.WithCancel(b.Context())
			done := make(chan error, 1)
			go func() { done <- w.Run(ctx) }()
			time.Sleep(50 * time.Millisecond) // the watches are set
			b.ResetTimer()
			start := time.Now()
			for i := range b.N {
				line := fmt.Sprintf(`{"id":"e-%d","pad":"0123456789012345678901234567890123456789012345678901234567890123456789"}`+"\n", i)
				if _, err := files[i%50].WriteString(line); err != nil {
					b.Fatal(err)
				}
			}
			wrote := time.Since(start)
			for sink.events.Load() < int64(b.N) {
				time.Sleep(time.Millisecond)
			}
			elapsed := time.Since(start)
			b.StopTimer()
			cancel()
			if err := <-done; err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(float64(b.N)/elapsed.Seconds(), "lines/s")
			b.ReportMetric(float64(b.N)/wrote.Seconds(), "written/s")
		})
	}
}
