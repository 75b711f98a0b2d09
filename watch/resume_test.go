package watch

import (
	"fmt"
	"slices"
	"testing"
)

// resumeSteps are appends to three files, in order; some end inside a
// line, some lines hold their event back, one line is not a record, and
// the last line of c has no newline.
var resumeSteps = [][2]string{
	{"a.jsonl", rec("a1") + held("a2")},
	{"p/b.jsonl", rec("b1") + rec("b2") + rec("b3")},
	{"a.jsonl", rec("a3") + `{"id":"a4",`},
	{"q/r/c.jsonl", held("c1") + "garbage\n" + rec("c2")},
	{"a.jsonl", `"hold":true}` + "\n" + rec("a5") + rec("a6")},
	{"p/b.jsonl", held("b4") + held("b5") + rec("b6")},
	{"q/r/c.jsonl", rec("c3") + rec("c4") + held("c5")},
	{"a.jsonl", rec("a7") + rec("a8") + rec("a9")},
	{"q/r/c.jsonl", `{"id":"c6"}`},
}

// finishAll reads everything with the idle rule applied, and commits.
func (h *harness) finishAll() {
	h.t.Helper()
	if err := h.w.poll(h.t.Context(), true); err != nil {
		h.t.Fatal(err)
	}
	if err := h.w.commitNow(h.t.Context(), true); err != nil {
		h.t.Fatal(err)
	}
}

// TestCrashResume stops the watcher after every step, without its last
// commit and without a flush, as a crash would, and starts a new one on the
// same store: the events stored at the end are those of one uninterrupted
// run, each once, with the same data (the resumed parsers rebuilt their
// state from the lines before the cursor).
func TestCrashResume(t *testing.T) {
	t.Parallel()
	one := newHarness(t)
	for _, s := range resumeSteps {
		one.appendTo(s[0], s[1])
	}
	one.finishAll()
	want := one.sink.events()
	slices.Sort(want)
	if len(want) != 21 {
		t.Fatalf("an uninterrupted run stored %d events: %v; want 21", len(want), want)
	}
	for crash := range len(resumeSteps) {
		t.Run(fmt.Sprint("crash after step ", crash+1), func(t *testing.T) {
			t.Parallel()
			h := newHarness(t)
			for i, s := range resumeSteps {
				h.appendTo(s[0], s[1])
				if err := h.w.poll(t.Context(), false); err != nil {
					t.Fatal(err)
				}
				if i == crash {
					// The batch in memory is lost with the process.
					h.w.closeAll()
					h.w = h.watcher()
					continue
				}
				if err := h.w.commit(t.Context()); err != nil {
					t.Fatal(err)
				}
			}
			h.finishAll()
			got := h.sink.events()
			slices.Sort(got)
			if !slices.Equal(got, want) {
				t.Errorf("after a crash at step %d:\n got %v\nwant %v", crash+1, got, want)
			}
		})
	}
}
