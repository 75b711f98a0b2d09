package watch

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"os"
	"time"

	"chainlog"
)

// file is one transcript being followed.
type file struct {
	folder *Folder
	path   string
	id     string   // the identity of the file off belongs to
	h      *os.File // open while the file is live; nil when idle or dormant
	// parser is nil while the file is dormant: resumed from a cursor and
	// not grown past it, so its lines need not be read again yet.
	parser   Parser
	off      int64 // just past the last line fed to the parser
	size     int64 // the size at the last look
	line     int   // the number of the last line fed
	replayTo int64 // lines ending at or before it rebuild the parser's state only
	changed  time.Time
	finished bool // the idle rule ran since the file last grew
	skipping bool // inside a line longer than MaxLine

	committed    chainlog.Cursor // the cursor last committed, or resumed from
	hasCommitted bool
}

// cursor is where a restart would resume f: the parser's Safe offset.
func (f *file) cursor() chainlog.Cursor {
	c := chainlog.Cursor{Source: f.folder.Source, Path: f.path, Offset: f.committed.Offset, FileID: f.id, Size: f.size}
	if f.parser != nil {
		c.Offset = f.parser.Safe()
	}
	return c
}

// moved reports whether f's cursor differs from the one committed.
func (f *file) moved() bool {
	c := f.cursor()
	return !f.hasCommitted || c.Offset != f.committed.Offset || c.FileID != f.committed.FileID
}

func (f *file) closeHandle() {
	if f.h != nil {
		f.h.Close()
		f.h = nil
	}
}

// restart makes f read its file from 0 with a new parser.
func (w *Watcher) restart(f *file, why string) {
	w.log.Info("reading a transcript again from the start", "file", f.path, "reason", why, "offset", f.off)
	w.stats.Restarts++
	f.closeHandle()
	f.parser = f.folder.NewParser(f.path)
	f.off, f.line, f.replayTo, f.skipping, f.size = 0, 0, 0, false, 0
	w.touch(f) // its cursor goes back to 0
}

// look stats f's path and reads what was added. It returns false when the
// file is gone (and forgotten).
func (w *Watcher) look(ctx context.Context, f *file) (bool, error) {
	fi, err := os.Stat(f.path)
	if errors.Is(err, fs.ErrNotExist) {
		w.forget(f)
		return false, nil
	}
	if err != nil {
		return true, err
	}
	if id := fileID(fi); id != f.id {
		if f.id != "" && id != "" {
			if f.h != nil && f.parser != nil {
				// Rotated or replaced: what the old file got last is
				// read first, through the handle still open on it.
				if hi, err := f.h.Stat(); err == nil {
					if err := w.readLines(ctx, f, hi.Size()); err != nil {
						return true, err
					}
				}
			}
			w.restart(f, "replaced")
		}
		f.id = id
	}
	size := fi.Size()
	if size < f.off || (f.parser == nil && size < f.committed.Offset) {
		if f.parser == nil {
			f.off = 0
		}
		w.restart(f, "truncated")
	}
	if size != f.size {
		f.changed, f.finished = w.cfg.Now(), false
		f.size = size
	}
	if f.parser == nil {
		if size <= f.off {
			return true, nil // dormant: nothing past the cursor
		}
		f.parser = f.folder.NewParser(f.path)
		f.replayTo, f.off, f.line = f.off, 0, 0
	}
	if size > f.off {
		return true, w.readLines(ctx, f, size)
	}
	return true, nil
}

// readLines feeds the complete lines of f between f.off and size to its
// parser, committing whenever a batch fills.
func (w *Watcher) readLines(ctx context.Context, f *file, size int64) error {
	if f.h == nil {
		h, err := os.Open(f.path)
		if err != nil {
			return err
		}
		f.h = h
	}
	chunk := int64(w.chunk)
	for f.off < size {
		if len(w.batch) >= w.cfg.BatchEvents {
			if err := w.commit(ctx); err != nil {
				return err
			}
		}
		n := min(chunk, size-f.off)
		// A fresh buffer each time: a parser may keep parts of a line
		// in the events it returns.
		buf := make([]byte, n)
		m, err := f.h.ReadAt(buf, f.off)
		if err != nil && !errors.Is(err, io.EOF) {
			return err
		}
		buf = buf[:m]
		used := w.lines(f, buf)
		switch {
		case used > 0:
		case f.skipping: // the rest of a line too long to read
			f.off += int64(m)
		case m == 0 || f.off+int64(m) >= size: // a last line without its newline
			w.replayPartial(f, buf)
			return nil
		case chunk >= int64(w.cfg.MaxLine):
			w.log.Warn("line too long: skipped", "file", f.path, "line", f.line+1, "max_bytes", w.cfg.MaxLine)
			w.stats.BadLines++
			f.skipping = true
			f.off += int64(m)
		default: // one line longer than the chunk
			chunk *= 2
		}
	}
	return nil
}

// lines feeds every complete line of buf (which starts at f.off) and
// returns the bytes used.
func (w *Watcher) lines(f *file, buf []byte) int {
	used := 0
	for {
		i := bytes.IndexByte(buf[used:], '\n')
		if i < 0 {
			return used
		}
		line := buf[used : used+i]
		used += i + 1
		if f.skipping {
			f.skipping = false
			f.off += int64(i + 1)
			f.line++
			continue
		}
		w.feed(f, line, f.off+int64(i+1))
	}
}

// replayPartial feeds a last line without a newline when a stored cursor
// ends just past it: the idle rule took it as complete before the restart.
func (w *Watcher) replayPartial(f *file, rest []byte) {
	if len(rest) > 0 && f.off+int64(len(rest)) == f.replayTo {
		w.feed(f, rest, f.replayTo)
	}
}

// feed gives one line to f's parser.
func (w *Watcher) feed(f *file, line []byte, end int64) {
	f.line++
	f.off = end
	if len(bytes.TrimSpace(line)) == 0 {
		return
	}
	replay := end <= f.replayTo
	evs, err := f.parser.Line(line, end)
	if replay {
		w.stats.Replayed += int64(len(line)) + 1
		return
	}
	w.stats.Lines++
	if err != nil {
		w.stats.BadLines++
		w.log.Warn("line skipped", "file", f.path, "line", f.line, "err", err)
	}
	w.add(f, evs)
}

// finish applies the idle rule to f: a last line without a newline that
// is valid JSON is complete, and the parser gives what it held back.
func (w *Watcher) finish(f *file) error {
	if f.parser == nil || f.finished {
		return nil
	}
	f.finished = true
	defer f.closeHandle()
	if f.off < f.size && !f.skipping && f.size-f.off <= int64(w.cfg.MaxLine) {
		h := f.h
		if h == nil {
			var err error
			if h, err = os.Open(f.path); err != nil {
				return err
			}
			defer h.Close()
		}
		rest := make([]byte, f.size-f.off)
		n, err := h.ReadAt(rest, f.off)
		if err != nil && !errors.Is(err, io.EOF) {
			return err
		}
		rest = rest[:n]
		if bytes.IndexByte(rest, '\n') < 0 && json.Valid(rest) {
			w.feed(f, rest, f.off+int64(n))
		}
	}
	w.add(f, f.parser.Flush())
	return nil
}

// sleep drops the parser of a file finished and unchanged for Dormant,
// whose cursor is committed: the file is dormant until it grows past it.
func (w *Watcher) sleep(f *file, now time.Time) {
	if f.parser == nil || !f.finished || f.moved() || now.Sub(f.changed) < w.cfg.Dormant {
		return
	}
	f.closeHandle()
	f.off, f.parser, f.skipping = f.committed.Offset, nil, false
}
