package daemon

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"chainlog"
	"chainlog/sqlite"
	"chainlog/watch"
)

// eventLines is a transcript format for the tests: each line is an event
// as the daemon's API takes it.
type eventLines struct{ safe int64 }

func (p *eventLines) Line(line []byte, end int64) ([]chainlog.Event, error) {
	p.safe = end
	e, err := chainlog.DecodeEvent(line, "n1")
	if err != nil {
		return nil, err
	}
	return []chainlog.Event{e}, nil
}

func (p *eventLines) Flush() []chainlog.Event { return nil }
func (p *eventLines) Safe() int64             { return p.safe }

func storedIDs(t *testing.T, path string) []string {
	t.Helper()
	st, err := sqlite.OpenReadOnly(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var ids []string
	err = st.Export(t.Context(), "", func(e *chainlog.StoredEvent) error {
		ids = append(ids, e.ID)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(ids)
	return ids
}

// TestRunWatch: the daemon follows a transcript folder: the events of its
// lines are committed through the writer beside the HTTP requests', with
// the file's cursor, and a restarted daemon resumes from that cursor.
func TestRunWatch(t *testing.T) {
	cfg := testConfig(t)
	dir := t.TempDir()
	cfg.Watch = []watch.Folder{{Source: "test", Dir: dir, NewParser: func(string) watch.Parser { return &eventLines{} }}}
	cfg.WatchPoll = 10 * time.Millisecond
	file := filepath.Join(dir, "s", "one.jsonl")
	if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
		t.Fatal(err)
	}
	line := func(id string) string {
		return `{"id":"` + id + `","event_type":"x","ts":"2026-01-01T00:00:00Z"}` + "\n"
	}
	if err := os.WriteFile(file, []byte(line("w1")+line("w2")), 0o644); err != nil {
		t.Fatal(err)
	}
	d := start(t, cfg)
	if code, body := d.post(t, "h1"); code != 200 {
		t.Fatalf("POST: %d %s", code, body)
	}
	f, err := os.OpenFile(file, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString(line("w3"))
	f.Close()
	want := []string{"h1", "w1", "w2", "w3"}
	for deadline := time.Now().Add(10 * time.Second); !slices.Equal(storedIDs(t, cfg.Store), want); {
		if time.Now().After(deadline) {
			t.Fatalf("stored %v, want %v\n%s", storedIDs(t, cfg.Store), want, d.log)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := d.stop(t); err != nil {
		t.Fatalf("Run: %v\n%s", err, d.log)
	}
	st, err := sqlite.OpenReadOnly(t.Context(), cfg.Store)
	if err != nil {
		t.Fatal(err)
	}
	cs, err := st.Cursors(t.Context(), "test")
	st.Close()
	size := int64(3 * len(line("w1")))
	if err != nil || len(cs) != 1 || cs[0].Path != file || cs[0].Offset != size {
		t.Fatalf("cursors = %+v, %v; want %s at %d", cs, err, file, size)
	}

	// Restarted: it resumes from the cursor and reads the new line.
	f, err = os.OpenFile(file, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString(line("w4"))
	f.Close()
	d = start(t, cfg)
	want = append(want, "w4")
	for deadline := time.Now().Add(10 * time.Second); !slices.Equal(storedIDs(t, cfg.Store), want); {
		if time.Now().After(deadline) {
			t.Fatalf("after restart: stored %v, want %v\n%s", storedIDs(t, cfg.Store), want, d.log)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := d.stop(t); err != nil {
		t.Fatalf("Run: %v\n%s", err, d.log)
	}
}

// TestWatchOverHTTP: a watcher posting to the daemon (watch.HTTPSink)
// stores its events there and keeps its cursors in the state file; run
// again, it sends nothing.
func TestWatchOverHTTP(t *testing.T) {
	cfg := testConfig(t)
	d := start(t, cfg)
	dir := t.TempDir()
	line := func(id string) string {
		return `{"id":"` + id + `","event_type":"x","ts":"2026-01-01T00:00:00Z"}` + "\n"
	}
	file := filepath.Join(dir, "one.jsonl")
	if err := os.WriteFile(file, []byte(line("p1")+line("p2")), 0o644); err != nil {
		t.Fatal(err)
	}
	state := filepath.Join(t.TempDir(), "state.json")
	once := func() watch.Stats {
		t.Helper()
		w, err := watch.New(watch.Config{
			Folders: []watch.Folder{{Source: "test", Dir: dir, NewParser: func(string) watch.Parser { return &eventLines{} }}},
			Sink:    &watch.HTTPSink{URL: d.url, StateFile: state},
		})
		if err != nil {
			t.Fatal(err)
		}
		st, err := w.Once(t.Context())
		if err != nil {
			t.Fatalf("Once: %v\n%s", err, d.log)
		}
		return st
	}
	if st := once(); st.Inserted != 2 {
		t.Errorf("first run: %+v; want 2 inserted", st)
	}
	if st := once(); st.Lines != 0 || st.Events != 0 {
		t.Errorf("second run: %+v; want nothing read", st)
	}
	if got, want := storedIDs(t, cfg.Store), []string{"p1", "p2"}; !slices.Equal(got, want) {
		t.Errorf("stored %v, want %v", got, want)
	}
}
