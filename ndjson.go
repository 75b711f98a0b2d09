package chainlog

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
)

// DefaultMaxLineBytes is the longest NDJSON line a Reader accepts by default.
const DefaultMaxLineBytes = 1 << 20

// LineError is one rejected input line.
type LineError struct {
	Line  int    `json:"line"`
	Field string `json:"field,omitempty"`
	Msg   string `json:"error"`
}

func (e *LineError) Error() string {
	if e.Field == "" {
		return fmt.Sprintf("line %d: %s", e.Line, e.Msg)
	}
	return fmt.Sprintf("line %d: field %q: %s", e.Line, e.Field, e.Msg)
}

// Reader decodes NDJSON events, one JSON object a line. Blank lines are
// skipped. A bad line yields a *LineError and the Reader moves on to the
// next line, so a caller can list every bad line of an input.
type Reader struct {
	br            *bufio.Reader
	maxLine       int
	defaultNodeID string
	line          int
	bytes         int64
	buf           []byte
	raw           []byte
}

// NewReader returns a Reader of r that rejects lines longer than maxLine
// bytes (DefaultMaxLineBytes when maxLine <= 0). Events without node_id get
// defaultNodeID when it is not empty.
func NewReader(r io.Reader, maxLine int, defaultNodeID string) *Reader {
	if maxLine <= 0 {
		maxLine = DefaultMaxLineBytes
	}
	// A body already in memory (a daemon's request) needs no larger
	// buffer than itself: a 64 KiB buffer per single-event request was
	// most of the daemon's garbage.
	size := 64 << 10
	if l, ok := r.(interface{ Len() int }); ok {
		size = min(size, max(l.Len()+1, 16))
	}
	return &Reader{br: bufio.NewReaderSize(r, size), maxLine: maxLine, defaultNodeID: defaultNodeID}
}

// Line returns the number of the line last returned.
func (r *Reader) Line() int { return r.line }

// Raw returns the bytes of the line last returned, without its line end.
// They are valid until the next call to Next.
func (r *Reader) Raw() []byte { return r.raw }

// BytesRead returns how many input bytes have been consumed.
func (r *Reader) BytesRead() int64 { return r.bytes }

// Next returns the next event. At the end of input it returns io.EOF; a bad
// line gives a *LineError; any other error is the underlying reader's.
func (r *Reader) Next() (Event, error) {
	line, err := r.NextLine()
	if err != nil {
		return Event{}, err
	}
	return r.Decode(line, r.line)
}

// NextLine returns the next non-blank line, undecoded, without its line
// end; it is valid until the next call. A line over the limit gives a
// *LineError. With Decode, it lets a caller decode lines on several
// goroutines.
func (r *Reader) NextLine() ([]byte, error) {
	for {
		line, tooLong, err := r.readLine()
		if err != nil {
			return nil, err
		}
		if tooLong {
			return nil, &LineError{Line: r.line, Msg: fmt.Sprintf("line is longer than the %d-byte limit", r.maxLine)}
		}
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		r.raw = line
		return line, nil
	}
}

// Decode decodes line, which is input line lineNo, as Next does; a bad
// line gives a *LineError. It may be called from several goroutines.
func (r *Reader) Decode(line []byte, lineNo int) (Event, error) {
	ev, err := DecodeEvent(line, r.defaultNodeID)
	if err != nil {
		var fe *FieldError
		if errors.As(err, &fe) {
			return Event{}, &LineError{Line: lineNo, Field: fe.Field, Msg: fe.Msg}
		}
		return Event{}, &LineError{Line: lineNo, Msg: err.Error()}
	}
	return ev, nil
}

// readLine reads one line without its end-of-line bytes. A line longer than
// the limit is consumed and discarded, and reported as tooLong.
func (r *Reader) readLine() (line []byte, tooLong bool, err error) {
	r.buf = r.buf[:0]
	for {
		chunk, err := r.br.ReadSlice('\n')
		r.bytes += int64(len(chunk))
		if len(r.buf)+len(chunk) <= r.maxLine+2 { // room for "\r\n"
			r.buf = append(r.buf, chunk...)
		} else {
			tooLong = true
		}
		switch {
		case err == bufio.ErrBufferFull:
			continue
		case err == io.EOF && len(r.buf) == 0 && !tooLong:
			return nil, false, io.EOF
		case err != nil && err != io.EOF:
			return nil, false, err
		}
		r.line++
		line = bytes.TrimSuffix(bytes.TrimSuffix(r.buf, []byte("\n")), []byte("\r"))
		if len(line) > r.maxLine {
			tooLong = true
		}
		return line, tooLong, nil
	}
}
