package watch

import (
	"os"
	"strings"
	"testing"
	"time"
)

// TestGrowLineByLine: lines are read as the file grows; a last line
// without its newline waits for it.
func TestGrowLineByLine(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.write("a.jsonl", rec("a1"))
	h.poll()
	h.wantIDs("first line", "a1")
	h.wantCursor("first line", "a.jsonl", int64(len(rec("a1"))))
	h.appendTo("a.jsonl", `{"id":"a2"}`)
	h.poll()
	h.wantIDs("partial second line", "a1")
	h.wantCursor("partial second line", "a.jsonl", int64(len(rec("a1"))))
	h.appendTo("a.jsonl", "\n"+rec("a3"))
	h.poll()
	h.wantIDs("completed second line", "a1", "a2", "a3")
	h.wantCursor("completed", "a.jsonl", int64(len(rec("a1")+rec("a2")+rec("a3"))))
	if s := h.w.Stats(); s.Lines != 3 || s.Files != 1 || s.Inserted != 3 {
		t.Errorf("stats = %+v; want 3 lines of 1 file, 3 inserted", s)
	}
}

// TestIdleLastLine: a finished file whose last line has no newline is read
// once it has been idle for Idle, if that line is valid JSON; a half-
// written line is not; held events are flushed on idle.
func TestIdleLastLine(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	text := rec("b1") + held("b2") + `{"id":"b3"}`
	h.write("b.jsonl", text)
	h.poll()
	h.wantIDs("before idle", "b1")
	h.wantCursor("before idle", "b.jsonl", int64(len(rec("b1"))))
	h.clk.Add(4 * time.Second)
	h.poll()
	h.wantIDs("4s idle", "b1")
	h.clk.Add(time.Second)
	h.poll()
	h.wantIDs("5s idle", "b1", "b2", "b3")
	h.wantCursor("5s idle", "b.jsonl", int64(len(text)))

	h.write("c.jsonl", held("c1")+`{"id":"c2",`)
	h.poll()
	h.clk.Add(10 * time.Second)
	h.poll()
	h.wantIDs("half a line idle", "b1", "b2", "b3", "c1")
	h.appendTo("c.jsonl", `"x":1}`+"\n")
	h.poll()
	h.wantIDs("line completed", "b1", "b2", "b3", "c1", "c2")

	// A file that grows again after the idle rule is read on.
	h.appendTo("b.jsonl", "\n"+rec("b4"))
	h.poll()
	h.wantIDs("grown after idle", "b1", "b2", "b3", "c1", "c2", "b4")
}

// TestTruncate: a file found smaller than the offset reached is read
// again from 0, and its cursor goes back.
func TestTruncate(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.write("t.jsonl", rec("t1")+rec("t2")+rec("t3"))
	h.poll()
	h.write("t.jsonl", rec("t4"))
	h.poll()
	h.wantIDs("after truncation", "t1", "t2", "t3", "t4")
	h.wantCursor("after truncation", "t.jsonl", int64(len(rec("t4"))))
	if s := h.w.Stats(); s.Restarts != 1 {
		t.Errorf("restarts = %d; want 1", s.Restarts)
	}
}

// TestRotate: a file replaced at its path is read from 0 after what the
// old one got last is read through the handle still open on it.
func TestRotate(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.write("r.jsonl", rec("r1"))
	h.poll()
	h.appendTo("r.jsonl", rec("r2"))
	away := t.TempDir() + "/old.jsonl"
	if err := os.Rename(h.path("r.jsonl"), away); err != nil {
		t.Fatal(err)
	}
	h.write("r.jsonl", rec("r3")+rec("r4"))
	h.poll()
	h.wantIDs("after rotation", "r1", "r2", "r3", "r4")
	h.wantCursor("after rotation", "r.jsonl", int64(len(rec("r3")+rec("r4"))))
	fi, err := os.Stat(h.path("r.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	if c, _ := h.sink.cursor(t, h.path("r.jsonl")); c.FileID != fileID(fi) {
		t.Errorf("cursor file id %q; want the new file's %q", c.FileID, fileID(fi))
	}
}

// TestDelete: a deleted file is forgotten, its cursor kept; a file created
// at its path later is read from 0.
func TestDelete(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.write("d.jsonl", rec("d1")+rec("d2"))
	h.write("e.jsonl", rec("e1"))
	h.poll()
	if err := os.Remove(h.path("d.jsonl")); err != nil {
		t.Fatal(err)
	}
	h.appendTo("e.jsonl", rec("e2"))
	h.poll()
	if s := h.w.Stats(); s.Files != 1 {
		t.Errorf("files followed after a deletion: %d; want 1", s.Files)
	}
	h.wantCursor("deleted file", "d.jsonl", int64(len(rec("d1")+rec("d2"))))
	h.write("d.jsonl", rec("d3"))
	h.poll()
	h.wantIDs("recreated", "d1", "d2", "e1", "e2", "d3")
	h.wantCursor("recreated", "d.jsonl", int64(len(rec("d3"))))
}

// TestNewFilesAndBadLines: files and subfolders that appear are found by
// the rescan, only matching names are read, and a bad line is logged with
// its file and line number and skipped.
func TestNewFilesAndBadLines(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.write("p/one.jsonl", rec("o1"))
	h.poll()
	h.write("p/q/two.jsonl", rec("w1")+"not json\n"+"\n"+rec("w2"))
	h.write("p/notes.txt", rec("x1"))
	h.poll()
	h.wantIDs("new files", "o1", "w1", "w2")
	logs := h.logs.String()
	if !strings.Contains(logs, "two.jsonl") || !strings.Contains(logs, "line=2") {
		t.Errorf("log of the bad line does not name file and line 2:\n%s", logs)
	}
	if s := h.w.Stats(); s.BadLines != 1 || s.Lines != 4 {
		t.Errorf("stats = %+v; want 1 bad line of 4", s)
	}
}

// TestCommitFailureKeepsBatch: a failed commit keeps its events and
// cursors for the next attempt, which waits for the retry time.
func TestCommitFailureKeepsBatch(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.sink.fail = 1
	h.write("f.jsonl", rec("f1")+rec("f2"))
	if err := h.w.poll(t.Context(), false); err != nil {
		t.Fatal(err)
	}
	if err := h.w.commit(t.Context()); err == nil {
		t.Fatal("commit with a failing sink: no error")
	}
	h.appendTo("f.jsonl", rec("f3"))
	if err := h.w.poll(t.Context(), false); err != nil {
		t.Fatal(err)
	}
	if err := h.w.commit(t.Context()); err == nil {
		t.Error("commit before the retry time: no error")
	}
	h.wantIDs("before the retry", []string{}...)
	h.clk.Add(time.Second)
	h.poll()
	h.wantIDs("after the retry", "f1", "f2", "f3")
	h.wantCursor("after the retry", "f.jsonl", int64(len(rec("f1")+rec("f2")+rec("f3"))))
}

// TestDormant: a file finished and unchanged for Dormant loses its
// parser; when it grows, a new parser rebuilds its state from the lines
// before the cursor (the events' data count the records before them) and
// the new lines are read, with their line numbers.
func TestDormant(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.write("z.jsonl", rec("z1")+rec("z2"))
	h.poll()
	h.clk.Add(5 * time.Second)
	h.poll() // finished
	f := h.w.files[h.path("z.jsonl")]
	if f.parser == nil {
		t.Fatal("parser dropped at once; want it kept until Dormant")
	}
	h.clk.Add(10 * time.Minute)
	h.poll()
	if f.parser != nil {
		t.Fatal("parser kept after Dormant")
	}
	h.appendTo("z.jsonl", rec("z3")+"bad\n")
	h.poll()
	h.wantIDs("woken", "z1", "z2", "z3")
	got := h.sink.events()
	if want := `z3 {"before":2}`; got[2] != want {
		t.Errorf("event after waking: %s, want %s (state rebuilt from 2 records)", got[2], want)
	}
	if logs := h.logs.String(); !strings.Contains(logs, "line=4") {
		t.Errorf("bad line logged without its line number 4:\n%s", logs)
	}
}
