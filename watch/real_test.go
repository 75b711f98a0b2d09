package watch

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"chainlog/agentsrc"
)

// realFolders makes the agents' folder layout under root, for the real
// transcripts in fixtures ($CHAINLOG_REAL_FIXTURES), and returns the
// folders.
func realFolders(t *testing.T, fixtures, root string) []Folder {
	t.Helper()
	var out []Folder
	for _, fm := range []struct {
		dir, layout string
		format      agentsrc.Format
	}{
		{"claude-code", "projects/-home-dev-proj", agentsrc.ClaudeCode},
		{"codex", "sessions/2026/02/23", agentsrc.Codex},
		{"openclaw", "agents/main/sessions", agentsrc.OpenClaw},
	} {
		names, err := filepath.Glob(filepath.Join(fixtures, fm.dir, "*.jsonl"))
		if err != nil || len(names) == 0 {
			t.Fatalf("no transcripts in %s/%s (%v)", fixtures, fm.dir, err)
		}
		dir := filepath.Join(root, fm.layout)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		m := &agentsrc.Mapper{NodeID: "n1"}
		out = append(out, Folder{Source: fm.format.String(), Dir: filepath.Join(root, strings.Split(fm.layout, "/")[0]),
			NewParser: func(p string) Parser { return agentsrc.NewTranscript(fm.format, p, m) }})
	}
	return out
}

// appendPart appends to each real transcript's copy under root the lines
// from share from to share to of the original's (0 <= from < to <= 1).
func appendPart(t *testing.T, fixtures, root string, from, to float64) {
	t.Helper()
	for _, fm := range [][2]string{
		{"claude-code", "projects/-home-dev-proj"}, {"codex", "sessions/2026/02/23"}, {"openclaw", "agents/main/sessions"},
	} {
		names, _ := filepath.Glob(filepath.Join(fixtures, fm[0], "*.jsonl"))
		for _, n := range names {
			b, err := os.ReadFile(n)
			if err != nil {
				t.Fatal(err)
			}
			lines := bytes.SplitAfter(b, []byte("\n"))
			i, j := int(float64(len(lines))*from), int(float64(len(lines))*to)
			name := filepath.Base(n)
			if fm[0] == "codex" {
				name = "rollout-" + name
			}
			appendFile(t, filepath.Join(root, fm[1], name), string(bytes.Join(lines[i:j], nil)))
		}
	}
}

// TestRealTranscriptsResume reads the real transcripts (set
// CHAINLOG_REAL_FIXTURES) with the agentsrc parsers, once in one run, and
// again with a crash after a third and after two thirds of each file's
// lines: the events stored are the same, each once, with the same data.
func TestRealTranscriptsResume(t *testing.T) {
	fixtures := os.Getenv("CHAINLOG_REAL_FIXTURES")
	if fixtures == "" {
		t.Skip("CHAINLOG_REAL_FIXTURES is not set: no real transcripts to read")
	}
	t.Parallel()
	run := func(t *testing.T, shares ...float64) ([]string, Stats) {
		root := t.TempDir()
		folders := realFolders(t, fixtures, root)
		sink := newMemSink()
		clk := newClock()
		var st Stats
		newWatcher := func() *Watcher {
			w, err := New(Config{Folders: folders, Sink: sink, Now: clk.Now, NoNotify: true, BatchEvents: 37})
			if err != nil {
				t.Fatal(err)
			}
			if err := w.start(t.Context()); err != nil {
				t.Fatal(err)
			}
			return w
		}
		w := newWatcher()
		from := 0.0
		for _, share := range shares {
			appendPart(t, fixtures, root, from, share)
			from = share
			// Read, commit the full batches, then crash: the rest of the
			// batch is lost with the process, and a new watcher resumes
			// from the cursors.
			if err := w.poll(t.Context(), false); err != nil {
				t.Fatal(err)
			}
			w.closeAll()
			st.BadLines += w.Stats().BadLines
			w = newWatcher()
		}
		appendPart(t, fixtures, root, from, 1)
		clk.Add(time.Minute)
		if err := w.poll(t.Context(), true); err != nil {
			t.Fatal(err)
		}
		if err := w.commitNow(t.Context(), true); err != nil {
			t.Fatal(err)
		}
		w.closeAll()
		s := w.Stats()
		s.BadLines += st.BadLines
		got := sink.events()
		slices.Sort(got)
		return got, s
	}
	want, st := run(t)
	if len(want) == 0 || st.BadLines != 0 {
		t.Fatalf("one run: %d events, %d bad lines; want events and no bad line", len(want), st.BadLines)
	}
	t.Logf("one run: %d events from %d lines of %d files", len(want), st.Lines, st.Files)
	got, _ := run(t, 1.0/3, 2.0/3)
	if !slices.Equal(got, want) {
		t.Errorf("with crashes: %d events, want the %d of one run", len(got), len(want))
		for _, e := range want {
			if !slices.Contains(got, e) {
				t.Errorf("missing: %.200s", e)
			}
		}
	}
}
