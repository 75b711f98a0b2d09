package chainlog

import (
	"errors"
	"fmt"
)

// Cursor is how far a watcher has read one source file: every event of the
// lines before Offset is committed. A store keeps one cursor per (Source,
// Path) and writes it in the same transaction as the events read up to it
// (Store.Ingest), so that after a crash the watcher resumes exactly where
// the committed events end: no line is skipped, and a line read again
// yields events the store drops as duplicates by id.
//
// A cursor is upserted, never checked for moving forward: a file that was
// truncated or replaced is read again from 0, and its cursor goes back.
type Cursor struct {
	// Source is the file's format, as the watcher names it ("claude_code",
	// "codex", "openclaw").
	Source string
	// Path is the file's path as the watcher found it.
	Path string
	// Offset is the byte offset just past the last line whose events are
	// committed.
	Offset int64
	// FileID identifies the file the offset belongs to (on Unix, device
	// and inode): a file at Path with another identity was replaced, and
	// is read from 0. Empty when unknown.
	FileID string
	// Size is the file's size when the cursor was written; a file found
	// smaller than Offset was truncated, and is read from 0.
	Size int64
}

// ErrCursor is wrapped by the error for a cursor a store refuses (Validate).
var ErrCursor = errors.New("invalid cursor")

// Validate checks that c names its source and path and that its offsets
// are not negative, naming the field that is not.
func (c *Cursor) Validate() error {
	switch {
	case c.Source == "":
		return fmt.Errorf("%w: source is empty (path %q)", ErrCursor, c.Path)
	case c.Path == "":
		return fmt.Errorf("%w: path is empty (source %q)", ErrCursor, c.Source)
	case c.Offset < 0:
		return fmt.Errorf("%w: offset %d of %s is negative", ErrCursor, c.Offset, c.Path)
	case c.Size < 0:
		return fmt.Errorf("%w: size %d of %s is negative", ErrCursor, c.Size, c.Path)
	}
	return nil
}
