package watch

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"chainlog"
)

// waitIDs waits until the sink holds want (in any order).
func waitIDs(t *testing.T, m *memSink, want ...string) {
	t.Helper()
	slices.Sort(want)
	deadline := time.Now().Add(10 * time.Second)
	for {
		got := m.ids()
		slices.Sort(got)
		if slices.Equal(got, want) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("stored %v, want %v", got, want)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestRunThreeFolders runs the watcher on three folders of their own
// layouts, with file notifications and, in a second run, rescans only:
// files and subfolders created while it runs are followed, only
// matching names are read, and on cancel it commits and returns nil.
func TestRunThreeFolders(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name     string
		noNotify bool
		poll     time.Duration
	}{
		{"notify", false, time.Hour}, // the rescan never comes: notifications alone
		{"rescan only", true, 10 * time.Millisecond},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			root := t.TempDir()
			claude, codex, openclaw := filepath.Join(root, "projects"), filepath.Join(root, "sessions"), filepath.Join(root, "agents")
			for _, d := range []string{claude, codex, openclaw} {
				if err := os.MkdirAll(d, 0o755); err != nil {
					t.Fatal(err)
				}
			}
			sink := newMemSink()
			w, err := New(Config{
				Folders: []Folder{
					{Source: "claude_code", Dir: claude, NewParser: newTestParser},
					{Source: "codex", Dir: codex, NewParser: newTestParser, Match: func(rel string) bool {
						return strings.HasPrefix(filepath.Base(rel), "rollout-") && strings.HasSuffix(rel, ".jsonl")
					}},
					{Source: "openclaw", Dir: openclaw, NewParser: newTestParser, Match: func(rel string) bool {
						return filepath.Base(filepath.Dir(rel)) == "sessions" && strings.HasSuffix(rel, ".jsonl")
					}},
				},
				Sink: sink, Poll: tc.poll, BatchWait: time.Millisecond, NoNotify: tc.noNotify,
			})
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(t.Context())
			done := make(chan error, 1)
			go func() { done <- w.Run(ctx) }()
			// Files written after the start: the watcher must have set up
			// its watches, so write, wait, and write again.
			write := func(path, text string) {
				t.Helper()
				if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
					t.Fatal(err)
				}
				appendFile(t, path, text)
			}
			time.Sleep(20 * time.Millisecond)
			write(filepath.Join(claude, "-home-u-proj", "s1.jsonl"), rec("k1"))
			write(filepath.Join(codex, "2026", "03", "01", "rollout-2026-03-01T10-00-00-x.jsonl"), rec("x1"))
			write(filepath.Join(codex, "2026", "03", "01", "other.jsonl"), rec("no1"))
			write(filepath.Join(openclaw, "main", "sessions", "o.jsonl"), rec("o1"))
			write(filepath.Join(openclaw, "main", "o.jsonl"), rec("no2"))
			waitIDs(t, sink, "k1", "x1", "o1")
			write(filepath.Join(claude, "-home-u-proj", "s1.jsonl"), rec("k2"))
			write(filepath.Join(openclaw, "main", "sessions", "o.jsonl"), rec("o2"))
			waitIDs(t, sink, "k1", "x1", "o1", "k2", "o2")
			cancel()
			if err := <-done; err != nil {
				t.Errorf("Run after cancel: %v", err)
			}
			cs, err := sink.Cursors(t.Context(), "")
			if err != nil || len(cs) != 3 {
				t.Errorf("cursors = %+v, %v; want one for each of the 3 transcripts", cs, err)
			}
		})
	}
}

// TestOnce reads what is present, takes every file as finished and
// returns; a second Once with the same store reads nothing again.
func TestOnce(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	appendFile(t, filepath.Join(dir, "a.jsonl"), rec("a1")+held("a2"))
	appendFile(t, filepath.Join(dir, "b.jsonl"), rec("b1")+`{"id":"b2"}`)
	sink := newMemSink()
	once := func() Stats {
		t.Helper()
		w, err := New(Config{Folders: []Folder{{Source: "test", Dir: dir, NewParser: newTestParser}}, Sink: sink})
		if err != nil {
			t.Fatal(err)
		}
		st, err := w.Once(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		return st
	}
	st := once()
	if st.Inserted != 4 || st.Files != 2 || st.Lines != 4 {
		t.Errorf("first Once: %+v; want 4 inserted from 4 lines of 2 files", st)
	}
	waitIDs(t, sink, "a1", "a2", "b1", "b2")
	st = once()
	if st.Lines != 0 || st.Events != 0 || st.Resumed != 2 {
		t.Errorf("second Once: %+v; want nothing read, 2 files resumed", st)
	}
}

// fakeDaemon answers POST /v1/events like the daemon: it counts new ids
// and duplicates; down makes it answer 503.
type fakeDaemon struct {
	mu       sync.Mutex
	ids      map[string]bool
	down     bool
	auth     string
	requests int
}

func (d *fakeDaemon) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.auth = r.Header.Get("Authorization")
	d.requests++
	if d.down || r.URL.Path != "/v1/events" {
		http.Error(w, "down", http.StatusServiceUnavailable)
		return
	}
	body, _ := io.ReadAll(r.Body)
	var acc, dup int
	for _, line := range strings.Split(strings.TrimSpace(string(body)), "\n") {
		e, err := chainlog.DecodeEvent([]byte(line), "")
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		if d.ids[e.ID] {
			dup++
		} else {
			d.ids[e.ID] = true
			acc++
		}
	}
	json.NewEncoder(w).Encode(map[string]int{"accepted": acc, "duplicates": dup})
}

// TestHTTPSink: the cursors are written to the state file only after the
// daemon acknowledged the events; a refused batch leaves the file as it
// was, and a new sink on the same file resumes from it.
func TestHTTPSink(t *testing.T) {
	t.Parallel()
	d := &fakeDaemon{ids: map[string]bool{}}
	srv := httptest.NewServer(d)
	defer srv.Close()
	state := filepath.Join(t.TempDir(), "state", "watch.json")
	s := &HTTPSink{URL: srv.URL + "/", Token: "tok", StateFile: state}
	p := &testParser{path: "x"}
	c1 := chainlog.Cursor{Source: "codex", Path: "/s/x.jsonl", Offset: 10, FileID: "1:2", Size: 10}
	res, err := s.Commit(t.Context(), []chainlog.Event{p.event("h1"), p.event("h2")}, c1)
	if err != nil || res.Inserted != 2 {
		t.Fatalf("Commit = %+v, %v; want 2 inserted", res, err)
	}
	if d.auth != "Bearer tok" {
		t.Errorf("Authorization = %q", d.auth)
	}
	d.mu.Lock()
	d.down = true
	d.mu.Unlock()
	c2 := c1
	c2.Offset = 20
	if _, err := s.Commit(t.Context(), []chainlog.Event{p.event("h3")}, c2); err == nil {
		t.Fatal("Commit to a daemon answering 503: no error")
	}
	fresh := &HTTPSink{URL: srv.URL, StateFile: state}
	cs, err := fresh.Cursors(t.Context(), "codex")
	if err != nil || !slices.Equal(cs, []chainlog.Cursor{c1}) {
		t.Errorf("state after a refused batch: %+v, %v; want [%+v]", cs, err, c1)
	}
	other := &HTTPSink{URL: "http://elsewhere.example", StateFile: state}
	if cs, err := other.Cursors(t.Context(), ""); err != nil || len(cs) != 0 {
		t.Errorf("cursors of another daemon: %+v, %v; want none", cs, err)
	}
	d.mu.Lock()
	d.down = false
	d.mu.Unlock()
	// Sent again after a crash between acknowledgement and state: the
	// daemon drops the repeated events.
	res, err = fresh.Commit(t.Context(), []chainlog.Event{p.event("h2"), p.event("h3")}, c2)
	if err != nil || res.Inserted != 1 || res.Duplicates != 1 {
		t.Errorf("Commit again = %+v, %v; want 1 inserted, 1 duplicate", res, err)
	}
	if cs, _ := fresh.Cursors(t.Context(), ""); !slices.Equal(cs, []chainlog.Cursor{c2}) {
		t.Errorf("state after the retry: %+v; want [%+v]", cs, c2)
	}

	// A batch larger than MaxBody goes in several requests.
	small := &HTTPSink{URL: srv.URL, StateFile: state, MaxBody: 400}
	var evs []chainlog.Event
	for i := range 6 {
		evs = append(evs, p.event(fmt.Sprint("m", i)))
	}
	d.mu.Lock()
	before := d.requests
	d.mu.Unlock()
	res, err = small.Commit(t.Context(), evs)
	d.mu.Lock()
	n := d.requests - before
	d.mu.Unlock()
	if err != nil || res.Inserted != 6 || n < 3 {
		t.Errorf("Commit of 6 events with MaxBody 400 = %+v, %v in %d requests; want 6 inserted in 3 or more", res, err, n)
	}
}
