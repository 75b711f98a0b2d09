package chainlog

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"
	"testing"
	"testing/iotest"
)

// readResult is what one Reader.Next call gave: an event id, a line error,
// or another error.
type readResult struct {
	Line  int    // Reader.Line() after the call
	ID    string // the event's id, when Next returned one
	Field string // the LineError's field
	Err   string // a substring of the LineError's Msg
}

// readAll calls Next until io.EOF and returns what it got, failing on any
// error that is not a *LineError.
func readAll(t *testing.T, r *Reader) []readResult {
	t.Helper()
	var got []readResult
	for i := 0; ; i++ {
		if i > 1000 {
			t.Fatal("Next: no io.EOF after 1000 calls")
		}
		ev, err := r.Next()
		if err == io.EOF {
			return got
		}
		res := readResult{Line: r.Line(), ID: ev.ID}
		var le *LineError
		switch {
		case errors.As(err, &le):
			if le.Line != r.Line() {
				t.Errorf("LineError.Line: got %d, want Reader.Line() %d", le.Line, r.Line())
			}
			res.Field, res.Err = le.Field, le.Msg
		case err != nil:
			t.Fatalf("Next: got %T %v, want an event, a *LineError or io.EOF", err, err)
		}
		got = append(got, res)
	}
}

// checkResults compares results, matching Err as a substring.
func checkResults(t *testing.T, got, want []readResult) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("results: got %d %+v, want %d %+v", len(got), got, len(want), want)
	}
	for i := range want {
		g, w := got[i], want[i]
		if g.Line != w.Line || g.ID != w.ID || g.Field != w.Field || (w.Err == "") != (g.Err == "") || !strings.Contains(g.Err, w.Err) {
			t.Errorf("result %d: got %+v, want %+v", i, g, w)
		}
	}
}

// ev returns a valid one-line event with the given id.
func ev(id string) string {
	return fmt.Sprintf(`{"id":%q,"node_id":"n","event_type":"t","ts":"1"}`, id)
}

// evOfLen returns a valid event with the given id padded with data to
// exactly n bytes.
func evOfLen(t *testing.T, id string, n int) string {
	t.Helper()
	s := fmt.Sprintf(`{"id":%q,"node_id":"n","event_type":"t","ts":"1","data":""}`, id)
	if len(s) > n {
		t.Fatalf("evOfLen(%d): minimum is %d", n, len(s))
	}
	s = s[:len(s)-2] + strings.Repeat("x", n-len(s)) + `"}`
	if len(s) != n {
		t.Fatalf("evOfLen: got %d bytes, want %d", len(s), n)
	}
	return s
}

func TestReader(t *testing.T) {
	const tooLong = "longer than the"
	tests := []struct {
		name    string
		input   string
		maxLine int
		want    []readResult
	}{
		{"empty input", "", 0, nil},
		{"only blank lines", "\n\n \t\n\r\n", 0, nil},
		{"one line", ev("a") + "\n", 0, []readResult{{Line: 1, ID: "a"}}},
		{"last line without newline", ev("a") + "\n" + ev("b"), 0,
			[]readResult{{Line: 1, ID: "a"}, {Line: 2, ID: "b"}}},
		{"line numbers count blank lines", "\n" + ev("a") + "\n\n   \n" + ev("b") + "\n\n", 0,
			[]readResult{{Line: 2, ID: "a"}, {Line: 5, ID: "b"}}},
		{"bad lines reported and skipped", ev("a") + "\n{\n\n" + `{"id":""}` + "\n" + ev("b") + "\n", 0,
			[]readResult{{Line: 1, ID: "a"}, {Line: 2, Err: "invalid JSON"}, {Line: 4, Field: "id", Err: "required field is empty"}, {Line: 5, ID: "b"}}},
		{"CRLF", ev("a") + "\r\n\r\n" + ev("b") + "\r\n", 0,
			[]readResult{{Line: 1, ID: "a"}, {Line: 3, ID: "b"}}},
		{"CRLF last line without newline", ev("a") + "\r\n" + ev("b") + "\r", 0,
			[]readResult{{Line: 1, ID: "a"}, {Line: 2, ID: "b"}}},
		{"lone CR is not a line end", ev("a") + "\r" + ev("b") + "\n", 0,
			[]readResult{{Line: 1, Err: "invalid JSON"}}},
		{"blank line of spaces", "  \t  \n" + ev("a"), 0, []readResult{{Line: 2, ID: "a"}}},
		{"exactly at the limit", ev("a") + "\n", len(ev("a")), []readResult{{Line: 1, ID: "a"}}},
		{"exactly at the limit with CRLF", ev("a") + "\r\n", len(ev("a")), []readResult{{Line: 1, ID: "a"}}},
		{"exactly at the limit at EOF", ev("a"), len(ev("a")), []readResult{{Line: 1, ID: "a"}}},
		{"one byte over", ev("a") + " \n" + ev("b") + "\n", len(ev("a")),
			[]readResult{{Line: 1, Err: tooLong}, {Line: 2, ID: "b"}}},
		{"one byte over with CRLF", ev("a") + " \r\n" + ev("b") + "\r\n", len(ev("a")),
			[]readResult{{Line: 1, Err: tooLong}, {Line: 2, ID: "b"}}},
		{"one byte over at EOF", ev("b") + "\n" + ev("a") + " ", len(ev("a")),
			[]readResult{{Line: 1, ID: "b"}, {Line: 2, Err: tooLong}}},
		{"CR inside the line counts", ev("a") + "\r\r\n", len(ev("a")),
			[]readResult{{Line: 1, Err: tooLong}}},
		{"blank line over the limit", strings.Repeat(" ", 60) + "\n" + ev("a"), len(ev("a")) - 1,
			[]readResult{{Line: 1, Err: tooLong}, {Line: 2, Err: tooLong}}},
		{"limit one", "\n{\n\n", 1, []readResult{{Line: 2, Err: "invalid JSON"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := NewReader(strings.NewReader(tt.input), tt.maxLine, "")
			checkResults(t, readAll(t, r), tt.want)
			if got, want := r.BytesRead(), int64(len(tt.input)); got != want {
				t.Errorf("BytesRead at EOF: got %d, want %d", got, want)
			}
			if _, err := r.Next(); err != io.EOF {
				t.Errorf("Next after EOF: got %v, want io.EOF", err)
			}
		})
	}
}

func TestReaderLongLines(t *testing.T) {
	const bufSize = 64 << 10 // the Reader's internal buffer
	limit := 3*bufSize + 17
	huge := `{"id":"huge","data":"` + strings.Repeat("y", 5<<20) + `"}`
	tests := []struct {
		name    string
		input   string
		maxLine int
		want    []readResult
	}{
		{"at a limit bigger than the buffer", evOfLen(t, "a", limit) + "\n" + ev("b") + "\n", limit,
			[]readResult{{Line: 1, ID: "a"}, {Line: 2, ID: "b"}}},
		{"at a limit bigger than the buffer with CRLF", evOfLen(t, "a", limit) + "\r\n" + ev("b"), limit,
			[]readResult{{Line: 1, ID: "a"}, {Line: 2, ID: "b"}}},
		{"one over a limit bigger than the buffer", evOfLen(t, "a", limit+1) + "\n" + ev("b") + "\n", limit,
			[]readResult{{Line: 1, Err: "longer than the"}, {Line: 2, ID: "b"}}},
		{"at the default limit", evOfLen(t, "a", DefaultMaxLineBytes) + "\n" + ev("b"), 0,
			[]readResult{{Line: 1, ID: "a"}, {Line: 2, ID: "b"}}},
		{"one over the default limit", evOfLen(t, "a", DefaultMaxLineBytes+1) + "\n" + ev("b"), -1,
			[]readResult{{Line: 1, Err: fmt.Sprintf("longer than the %d-byte limit", DefaultMaxLineBytes)}, {Line: 2, ID: "b"}}},
		{"huge line then more", ev("a") + "\n\n" + huge + "\n" + ev("b") + "\n" + huge + "\n" + ev("c") + "\n", 0,
			[]readResult{{Line: 1, ID: "a"}, {Line: 3, Err: "longer than the"}, {Line: 4, ID: "b"}, {Line: 5, Err: "longer than the"}, {Line: 6, ID: "c"}}},
		{"huge line at EOF", ev("a") + "\n" + huge, 0,
			[]readResult{{Line: 1, ID: "a"}, {Line: 2, Err: "longer than the"}}},
		{"huge blank line", strings.Repeat(" ", 3<<20) + "\n" + ev("a"), 0,
			[]readResult{{Line: 1, Err: "longer than the"}, {Line: 2, ID: "a"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := NewReader(strings.NewReader(tt.input), tt.maxLine, "")
			checkResults(t, readAll(t, r), tt.want)
			if got, want := r.BytesRead(), int64(len(tt.input)); got != want {
				t.Errorf("BytesRead at EOF: got %d, want %d", got, want)
			}
		})
	}
}

func TestReaderMatchesDecodeEvent(t *testing.T) {
	lines := readLines(t, vectorEvents)
	input := bytes.Join(lines, []byte("\n"))
	// Every way a reader may hand out its bytes gives the same events.
	readers := []struct {
		name string
		r    io.Reader
	}{
		{"whole", bytes.NewReader(input)},
		{"one byte at a time", iotest.OneByteReader(bytes.NewReader(input))},
		{"half reads", iotest.HalfReader(bytes.NewReader(input))},
		{"EOF with data", iotest.DataErrReader(bytes.NewReader(input))},
	}
	for _, tt := range readers {
		t.Run(tt.name, func(t *testing.T) {
			r := NewReader(tt.r, 0, "")
			var events []Event
			for i := range lines {
				got, err := r.Next()
				if err != nil {
					t.Fatalf("line %d: got error %v, want nil", i+1, err)
				}
				if got, want := r.Line(), i+1; got != want {
					t.Errorf("Line(): got %d, want %d", got, want)
				}
				events = append(events, got)
			}
			// Compared after reading on: no event shares the Reader's buffer.
			for i, line := range lines {
				want, err := DecodeEvent(line, "")
				if err != nil {
					t.Fatal(err)
				}
				if !reflect.DeepEqual(events[i], want) {
					t.Errorf("line %d:\n got %s\nwant %s", i+1, dumpEvent(events[i]), dumpEvent(want))
				}
			}
			if _, err := r.Next(); err != io.EOF {
				t.Errorf("Next at the end: got %v, want io.EOF", err)
			}
			if got, want := r.BytesRead(), int64(len(input)); got != want {
				t.Errorf("BytesRead: got %d, want %d", got, want)
			}
		})
	}
}

func TestReaderBytesReadProgress(t *testing.T) {
	a, b := ev("a")+"\r\n", "\n"+ev("b")+"\n"
	r := NewReader(strings.NewReader(a+b), 0, "")
	if _, err := r.Next(); err != nil {
		t.Fatal(err)
	}
	if got, want := r.BytesRead(), int64(len(a)); got != want {
		t.Errorf("BytesRead after line 1: got %d, want %d (not what bufio read ahead)", got, want)
	}
	if _, err := r.Next(); err != nil {
		t.Fatal(err)
	}
	if got, want := r.BytesRead(), int64(len(a+b)); got != want {
		t.Errorf("BytesRead after line 3: got %d, want %d", got, want)
	}
}

func TestReaderDefaultNodeID(t *testing.T) {
	input := `{"id":"a","event_type":"t","ts":"1"}` + "\n" + `{"id":"b","node_id":"own","event_type":"t","ts":"1"}` + "\n"
	r := NewReader(strings.NewReader(input), 0, "dflt")
	for _, want := range []string{"dflt", "own"} {
		ev, err := r.Next()
		if err != nil {
			t.Fatal(err)
		}
		if ev.NodeID != want {
			t.Errorf("event %s: got node_id %q, want %q", ev.ID, ev.NodeID, want)
		}
	}
}

// errAfter is a reader that yields data, then err.
type errAfter struct {
	data []byte
	err  error
}

func (r *errAfter) Read(p []byte) (int, error) {
	if len(r.data) == 0 {
		return 0, r.err
	}
	n := copy(p, r.data)
	r.data = r.data[n:]
	return n, nil
}

func TestReaderUnderlyingError(t *testing.T) {
	errBoom := errors.New("disk on fire")
	tests := []struct {
		name   string
		data   string
		wantID []string // events before the error
	}{
		{"at once", "", nil},
		{"after a line", ev("a") + "\n", []string{"a"}},
		{"inside a line", ev("a") + "\n" + `{"id":"b"`, []string{"a"}},
		{"inside a long line", ev("a") + "\n" + strings.Repeat("z", 200<<10), []string{"a"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := NewReader(&errAfter{data: []byte(tt.data), err: errBoom}, 100<<10, "")
			for _, id := range tt.wantID {
				ev, err := r.Next()
				if err != nil || ev.ID != id {
					t.Fatalf("Next: got %q, %v, want %q, nil", ev.ID, err, id)
				}
			}
			_, err := r.Next()
			if err != errBoom {
				t.Errorf("Next: got %T %v, want the reader's error itself", err, err)
			}
			var le *LineError
			if errors.As(err, &le) {
				t.Errorf("Next: got *LineError %v, want the reader's error", le)
			}
		})
	}
	t.Run("iotest.ErrReader", func(t *testing.T) {
		r := NewReader(iotest.ErrReader(errBoom), 0, "")
		if _, err := r.Next(); !errors.Is(err, errBoom) {
			t.Errorf("Next: got %v, want %v", err, errBoom)
		}
	})
}

func TestLineError(t *testing.T) {
	tests := []struct {
		name     string
		err      LineError
		want     string
		wantJSON string
	}{
		{"no field", LineError{Line: 3, Msg: "invalid JSON"}, "line 3: invalid JSON", `{"line":3,"error":"invalid JSON"}`},
		{"field", LineError{Line: 12, Field: "id", Msg: "required field is missing"},
			`line 12: field "id": required field is missing`, `{"line":12,"field":"id","error":"required field is missing"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.err.Error(); got != tt.want {
				t.Errorf("Error(): got %q, want %q", got, tt.want)
			}
			b, err := json.Marshal(&tt.err)
			if err != nil {
				t.Fatal(err)
			}
			if got := string(b); got != tt.wantJSON {
				t.Errorf("JSON: got %s, want %s", got, tt.wantJSON)
			}
		})
	}
}

// refLines splits data the way the Reader documents: lines end at "\n",
// then lose one trailing "\r"; a last line without "\n" counts if it is
// not empty.
func refLines(data []byte) [][]byte {
	if len(data) == 0 {
		return nil
	}
	lines := bytes.Split(data, []byte("\n"))
	if len(lines[len(lines)-1]) == 0 {
		lines = lines[:len(lines)-1]
	}
	for i, l := range lines {
		lines[i] = bytes.TrimSuffix(l, []byte("\r"))
	}
	return lines
}

func FuzzReader(f *testing.F) {
	f.Add([]byte(ev("a")+"\n\n"+ev("b")+"\r\n{bad\n"+ev("c")), uint16(0))
	f.Add([]byte(ev("a")+" \n"+ev("b")), uint16(len(ev("a"))))
	f.Add([]byte("\r\n\r\r\n\n \n"), uint16(1))
	f.Add(bytes.Join(readLines(f, vectorEvents), []byte("\r\n")), uint16(200))

	f.Fuzz(func(t *testing.T, data []byte, max uint16) {
		maxLine := int(max)
		limit := maxLine
		if limit <= 0 {
			limit = DefaultMaxLineBytes
		}
		// The reference: what each line must give.
		type want struct {
			line int
			ev   *Event
		}
		var wants []want
		for i, l := range refLines(data) {
			switch {
			case len(l) > limit:
				wants = append(wants, want{line: i + 1})
			case len(bytes.TrimSpace(l)) == 0:
			default:
				ev, err := DecodeEvent(l, "dflt")
				if err != nil {
					wants = append(wants, want{line: i + 1})
				} else {
					wants = append(wants, want{line: i + 1, ev: &ev})
				}
			}
		}

		r := NewReader(bytes.NewReader(data), maxLine, "dflt")
		last := 0
		for n := 0; ; n++ {
			if n > len(data)+1 {
				t.Fatalf("no io.EOF after %d calls", n)
			}
			got, err := r.Next()
			if err == io.EOF {
				if n != len(wants) {
					t.Fatalf("got io.EOF after %d results, want %d", n, len(wants))
				}
				break
			}
			if r.Line() <= last {
				t.Fatalf("Line(): got %d after %d, want increasing", r.Line(), last)
			}
			last = r.Line()
			if n >= len(wants) {
				t.Fatalf("result %d at line %d: got %v, want io.EOF", n, r.Line(), err)
			}
			w := wants[n]
			if r.Line() != w.line {
				t.Fatalf("result %d: got line %d, want %d", n, r.Line(), w.line)
			}
			var le *LineError
			switch {
			case err != nil && !errors.As(err, &le):
				t.Fatalf("line %d: got %T %v, want a *LineError", w.line, err, err)
			case le != nil && le.Line != w.line:
				t.Fatalf("LineError.Line: got %d, want %d", le.Line, w.line)
			case (err == nil) != (w.ev != nil):
				t.Fatalf("line %d: got error %v, want event %v", w.line, err, w.ev)
			case err == nil && !reflect.DeepEqual(got, *w.ev):
				t.Fatalf("line %d:\n got %s\nwant %s", w.line, dumpEvent(got), dumpEvent(*w.ev))
			}
		}
		if got, want := r.BytesRead(), int64(len(data)); got != want {
			t.Errorf("BytesRead at EOF: got %d, want %d", got, want)
		}
	})
}
