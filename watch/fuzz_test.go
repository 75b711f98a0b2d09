package watch

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"chainlog"
)

// recorder is a parser that records the lines it gets.
type recorder struct {
	got  *[]string
	safe int64
}

func (r *recorder) Line(line []byte, end int64) ([]chainlog.Event, error) {
	*r.got = append(*r.got, fmt.Sprintf("%d:%s", end, line))
	r.safe = end
	return nil, nil
}
func (r *recorder) Flush() []chainlog.Event { return nil }
func (r *recorder) Safe() int64             { return r.safe }

// wantLines is what the reader must give for text: every complete,
// non-blank line with the offset past its newline, and, when final, a last
// line without one that is valid JSON.
func wantLines(text []byte, final bool) []string {
	var out []string
	off := 0
	for {
		i := bytes.IndexByte(text[off:], '\n')
		if i < 0 {
			break
		}
		if line := text[off : off+i]; len(bytes.TrimSpace(line)) > 0 {
			out = append(out, fmt.Sprintf("%d:%s", off+i+1, line))
		}
		off += i + 1
	}
	if rest := text[off:]; final && len(rest) > 0 && len(bytes.TrimSpace(rest)) > 0 && json.Valid(rest) {
		out = append(out, fmt.Sprintf("%d:%s", len(text), rest))
	}
	return out
}

// FuzzLines writes text in the pieces cuts gives, reading after each with
// tiny read chunks, and checks that the parser got exactly the complete
// lines, each once, at their offsets; then the idle rule adds a last line
// without a newline if it is valid JSON.
func FuzzLines(f *testing.F) {
	f.Add([]byte("{\"a\":1}\n{\"b\":2}\n"), []byte{3, 9}, uint8(2))
	f.Add([]byte("x\n\n  \nlonger line here\n{\"c\":3}"), []byte{1, 1, 30}, uint8(1))
	f.Add([]byte("no newline at all"), []byte{5}, uint8(4))
	f.Fuzz(func(t *testing.T, text, cuts []byte, chunk uint8) {
		if len(text) > 4096 || len(cuts) > 64 {
			return
		}
		dir := t.TempDir()
		var got []string
		w, err := New(Config{
			Folders: []Folder{{Source: "fuzz", Dir: dir, NewParser: func(string) Parser { return &recorder{got: &got} }}},
			Sink:    newMemSink(), Logger: slog.New(slog.DiscardHandler), NoNotify: true,
		})
		if err != nil {
			t.Fatal(err)
		}
		w.chunk = 1 + int(chunk%16)
		if err := w.start(t.Context()); err != nil {
			t.Fatal(err)
		}
		defer w.closeAll()
		path := filepath.Join(dir, "f.jsonl")
		if err := os.WriteFile(path, nil, 0o644); err != nil {
			t.Fatal(err)
		}
		off := 0
		for _, c := range append(cuts, 255) {
			n := min(off+1+int(c), len(text))
			appendFile(t, path, string(text[off:n]))
			off = n
			if err := w.poll(t.Context(), false); err != nil {
				t.Fatal(err)
			}
			if off == len(text) {
				break
			}
		}
		if off < len(text) {
			appendFile(t, path, string(text[off:]))
		}
		if err := w.poll(t.Context(), false); err != nil {
			t.Fatal(err)
		}
		if want := wantLines(text, false); !slices.Equal(got, want) {
			t.Fatalf("lines read:\n%q\nwant\n%q", got, want)
		}
		if err := w.poll(t.Context(), true); err != nil {
			t.Fatal(err)
		}
		if want := wantLines(text, true); !slices.Equal(got, want) {
			t.Fatalf("lines read after the idle rule:\n%q\nwant\n%q", got, want)
		}
	})
}
