package watch

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"chainlog"
	"chainlog/internal/chainlogtest"
)

// testParser is a transcript format for the tests: each line is a JSON
// object {"id": ..., "hold": bool}. A line with hold set keeps its event
// back until the next line (a tool call waiting for its result); every
// event's data counts the records before it in the file, so that a parser
// resumed without its state would give other data.
type testParser struct {
	path   string
	count  int // records seen
	held   *chainlog.Event
	heldAt int64 // the start of the held line
	safe   int64
	last   int64 // the end of the last line
}

func newTestParser(path string) Parser { return &testParser{path: path} }

func (p *testParser) Line(line []byte, end int64) ([]chainlog.Event, error) {
	start := p.last
	p.last = end
	var rec struct {
		ID   string `json:"id"`
		Hold bool   `json:"hold"`
	}
	if err := json.Unmarshal(line, &rec); err != nil || rec.ID == "" {
		if p.held == nil {
			p.safe = end
		}
		return nil, fmt.Errorf("not a record: %q", line)
	}
	e := p.event(rec.ID)
	p.count++
	var out []chainlog.Event
	if p.held != nil {
		out = append(out, *p.held)
		p.held = nil
	}
	if rec.Hold {
		p.held, p.heldAt, p.safe = &e, start, start
	} else {
		out = append(out, e)
		p.safe = end
	}
	return out, nil
}

func (p *testParser) event(id string) chainlog.Event {
	line := fmt.Sprintf(`{"id":%q,"node_id":"n","event_type":"rec","ts":"2026-03-01T00:00:00Z","session_id":%q,"data":{"before":%d}}`,
		id, filepath.Base(p.path), p.count)
	e, err := chainlog.DecodeEvent([]byte(line), "")
	if err != nil {
		panic(err)
	}
	return e
}

func (p *testParser) Flush() []chainlog.Event {
	if p.held == nil {
		return nil
	}
	e := *p.held
	p.held, p.safe = nil, p.last
	return []chainlog.Event{e}
}

func (p *testParser) Safe() int64 { return p.safe }

// memSink is the test kit's in-memory store behind a lock, so that a test
// can read it while Run writes; fail makes the next commits fail.
type memSink struct {
	mu      sync.Mutex
	st      *chainlogtest.Source
	fail    int // commits still to fail
	commits int
}

func newMemSink() *memSink { return &memSink{st: chainlogtest.NewSource()} }

func (m *memSink) Commit(ctx context.Context, events []chainlog.Event, cursors ...chainlog.Cursor) (chainlog.IngestResult, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.fail > 0 {
		m.fail--
		return chainlog.IngestResult{}, fmt.Errorf("injected commit failure")
	}
	m.commits++
	return m.st.Ingest(ctx, slices.Clone(events), cursors...)
}

func (m *memSink) Cursors(ctx context.Context, source string) ([]chainlog.Cursor, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.st.Cursors(ctx, source)
}

// events returns "id data" of every stored event, in commit order.
func (m *memSink) events() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []string
	for _, r := range m.st.Rows {
		out = append(out, r.ID+" "+string(r.Data))
	}
	return out
}

func (m *memSink) ids() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []string
	for _, r := range m.st.Rows {
		out = append(out, r.ID)
	}
	return out
}

func (m *memSink) cursor(t *testing.T, path string) (chainlog.Cursor, bool) {
	t.Helper()
	cs, err := m.Cursors(t.Context(), "")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cs {
		if c.Path == path {
			return c, true
		}
	}
	return chainlog.Cursor{}, false
}

// clock is a settable clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// logBuffer collects a logger's output.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// harness is a watcher on one folder, stepped by hand (poll) on a
// settable clock.
type harness struct {
	t    *testing.T
	dir  string
	sink *memSink
	clk  *clock
	logs *logBuffer
	w    *Watcher
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	h := &harness{t: t, dir: t.TempDir(), sink: newMemSink(), clk: newClock(), logs: &logBuffer{}}
	h.w = h.watcher()
	return h
}

// watcher returns a new watcher on the harness's folder and sink, started
// (its cursors read back), as a restarted process would have.
func (h *harness) watcher() *Watcher {
	h.t.Helper()
	w, err := New(Config{
		Folders: []Folder{{Source: "test", Dir: h.dir, NewParser: newTestParser}},
		Sink:    h.sink, Now: h.clk.Now, Idle: 5 * time.Second, Dormant: 10 * time.Minute, BatchEvents: 4, BatchWait: time.Second,
		Logger: slog.New(slog.NewTextHandler(h.logs, nil)), NoNotify: true,
	})
	if err != nil {
		h.t.Fatal(err)
	}
	if err := w.start(h.t.Context()); err != nil {
		h.t.Fatal(err)
	}
	h.t.Cleanup(w.closeAll)
	return w
}

// poll runs one rescan and commits what it read.
func (h *harness) poll() {
	h.t.Helper()
	if err := h.w.poll(h.t.Context(), false); err != nil {
		h.t.Fatalf("poll: %v", err)
	}
	if err := h.w.commit(h.t.Context()); err != nil {
		h.t.Fatalf("commit: %v", err)
	}
}

func (h *harness) path(name string) string { return filepath.Join(h.dir, name) }

// write creates or replaces a file.
func (h *harness) write(name, text string) {
	h.t.Helper()
	p := h.path(name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		h.t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		h.t.Fatal(err)
	}
}

// appendTo appends text to a file.
func (h *harness) appendTo(name, text string) {
	h.t.Helper()
	p := h.path(name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		h.t.Fatal(err)
	}
	appendFile(h.t, p, text)
}

func appendFile(t testing.TB, path, text string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString(text); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

func (h *harness) wantIDs(what string, want ...string) {
	h.t.Helper()
	if got := h.sink.ids(); !slices.Equal(got, want) {
		h.t.Errorf("%s: stored %v, want %v", what, got, want)
	}
}

func (h *harness) wantCursor(what, name string, offset int64) {
	h.t.Helper()
	c, ok := h.sink.cursor(h.t, h.path(name))
	if !ok || c.Offset != offset {
		h.t.Errorf("%s: cursor of %s = %+v (found %v), want offset %d", what, name, c, ok, offset)
	}
}

func rec(id string) string { return fmt.Sprintf(`{"id":%q}`, id) + "\n" }

func held(id string) string { return fmt.Sprintf(`{"id":%q,"hold":true}`, id) + "\n" }
