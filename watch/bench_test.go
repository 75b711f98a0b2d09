package watch

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"chainlog"
	"chainlog/agentsrc"
	"chainlog/sqlite"
)

// countingSink counts the events committed through it to next (nil: the
// events are discarded).
type countingSink struct {
	next   Sink
	events atomic.Int64
	mu     sync.Mutex
	offset map[string]int64 // the cursors committed
}

// reached reports whether every file's committed cursor is at least its
// target.
func (c *countingSink) reached(target map[string]int64) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	for p, t := range target {
		if c.offset[p] < t {
			return false
		}
	}
	return true
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
	c.mu.Lock()
	for _, cu := range cursors {
		c.offset[cu.Path] = cu.Offset
	}
	c.mu.Unlock()
	return res, nil
}

func (c *countingSink) Cursors(ctx context.Context, source string) ([]chainlog.Cursor, error) {
	if c.next == nil {
		return nil, nil
	}
	return c.next.Cursors(ctx, source)
}

// claudeLine is a Claude Code transcript line (a user's message or an
// assistant's answer, alternately), unique by i.
func claudeLine(i int) string {
	if i%2 == 0 {
		return fmt.Sprintf(`{"parentUuid":null,"isSidechain":false,"cwd":"/home/dev/proj","sessionId":"e2b1c5a0-1111-4222-8333-444455556666","version":"2.1.12","type":"user","message":{"role":"user","content":"question %d"},"uuid":"bbbb0000-0000-4000-8000-%012d","timestamp":"2026-01-10T10:00:00.000Z"}`+"\n", i, i)
	}
	return fmt.Sprintf(`{"parentUuid":"bbbb0000-0000-4000-8000-%012d","isSidechain":false,"sessionId":"e2b1c5a0-1111-4222-8333-444455556666","version":"2.1.12","message":{"model":"claude-sonnet-4-20250514","id":"msg_%d","type":"message","role":"assistant","content":[{"type":"text","text":"answer %d"}],"stop_reason":"end_turn","usage":{"input_tokens":12,"cache_creation_input_tokens":0,"cache_read_input_tokens":4000,"output_tokens":9}},"requestId":"req_%d","type":"assistant","uuid":"bbbb0000-0000-4000-8000-%012d","timestamp":"2026-01-10T10:00:02.000Z"}`+"\n", i-1, i, i, i, i)
}

// BenchmarkWatch50Files appends b.N lines, one write each, round-robin
// over 50 files as fast as one writer can, while Run follows them, and
// reports the lines per second committed: to a sink that discards the
// events (the watcher alone) and to a SQLite store (end to end), with the
// tests' parser (one JSON decode and one event per line), and end to end
// with the Claude Code parser on Claude Code lines.
func BenchmarkWatch50Files(b *testing.B) {
	for _, name := range []string{"discard", "sqlite", "claude_code-discard", "claude_code-sqlite"} {
		b.Run(name, func(b *testing.B) {
			dir := b.TempDir()
			sink := &countingSink{offset: map[string]int64{}}
			if strings.HasSuffix(name, "sqlite") {
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
			folder := Folder{Source: "test", Dir: dir, NewParser: newTestParser}
			line := func(i int) string {
				return fmt.Sprintf(`{"id":"e-%d","pad":"0123456789012345678901234567890123456789012345678901234567890123456789"}`+"\n", i)
			}
			if strings.HasPrefix(name, "claude_code") {
				m := &agentsrc.Mapper{NodeID: "n1"}
				folder = Folder{Source: "claude_code", Dir: dir, NewParser: func(p string) Parser { return agentsrc.NewTranscript(agentsrc.ClaudeCode, p, m) }}
				line = claudeLine
			}
			w, err := New(Config{Folders: []Folder{folder}, Sink: sink})
			if err != nil {
				b.Fatal(err)
			}
			ctx, cancel := context.WithCancel(b.Context())
			done := make(chan error, 1)
			go func() { done <- w.Run(ctx) }()
			time.Sleep(50 * time.Millisecond) // the watches are set
			// Done when every file's cursor has passed all its lines but
			// the last, whose events a parser may hold back until more
			// comes or the file is idle.
			target, sizes := map[string]int64{}, map[string]int64{}
			b.ResetTimer()
			start := time.Now()
			for i := range b.N {
				// Lines i and i+1 go to the same file: a question and its
				// answer.
				f, l := files[(i/2)%50], line(i)
				if _, err := f.WriteString(l); err != nil {
					b.Fatal(err)
				}
				target[f.Name()] += int64(len(l))
				if i+1 == b.N || ((i+1)/2)%50 != (i/2)%50 {
					// Not counting this file's last line so far.
					sizes[f.Name()] = target[f.Name()] - int64(len(l))
				}
			}
			wrote := time.Since(start)
			for !sink.reached(sizes) {
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
