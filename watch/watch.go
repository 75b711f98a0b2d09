// Package watch follows agents' session transcripts as they are written
// and commits the events a parser makes of their lines, with the position
// reached in each file (a chainlog.Cursor), through a Sink.
//
// # What it watches
//
// Each Folder is a directory tree of one format (Claude Code's
// ~/.claude/projects, Codex's ~/.codex/sessions, OpenClaw's
// ~/.openclaw/agents). Every directory of the tree is watched with
// fsnotify, new subdirectories and files as they appear, and the whole tree
// is rescanned every Config.Poll as well: fsnotify can miss events (queue
// overflow, network file systems) or be unavailable, and the rescan also
// drives the idle rule below.
//
// # Lines
//
// A file is read line by line as it grows. A last line without its newline
// is left until the newline arrives, unless the file stays unchanged for
// Config.Idle: a finished transcript whose last line never gets a newline
// must not be waited on for ever, so after Idle a trailing line that is
// valid JSON is taken as complete, and the parser's Flush gives the events
// it held back. A line the parser refuses is logged with its file and line
// number and skipped; the watcher never stops for a line.
//
// # Cursors and restarts
//
// Events are committed in batches across files (Config.BatchEvents, or
// after Config.BatchWait), each with the cursors of the files read into
// it: Cursor.Offset is the parser's Safe offset, up to which every line's
// events are in this batch or an earlier one. A Sink writes both in one
// transaction (a Store), or acknowledges the events before it records the
// cursors (HTTPSink). Run commits in a goroutine of its own, one batch
// while the next is read and parsed, in order; a commit that fails is
// retried (from one second, doubling up to 30) and reading waits for it. At start the cursors are read back from the Sink,
// and each file is resumed by the restart rule: a new parser is fed the
// lines before the offset again, their events discarded, to rebuild its
// state, and reading goes on from the offset. Events repeated after a crash
// carry the same ids, and the store drops them as duplicates. A file that
// has not grown past its cursor is not read at all until it does.
//
// # Truncation, replacement, deletion
//
// A file found smaller than the offset reached was truncated, and one whose
// identity (Cursor.FileID: device and inode on Unix) changed was replaced
// (rotation, or an editor's save): either is read again from 0 with a new
// parser; a replaced file's old handle is read to its end first. A file
// that disappears is forgotten, and its cursor is kept in the store: if a
// file appears at the path again it has another identity and is read from
// 0 (on a file system that reuses the inode at once, with a size not
// below the offset, it would be taken for the old file: a known limit).
// A file truncated and grown back past the offset between two looks is
// not detected either.
package watch

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"chainlog"
)

// Parser turns a transcript's lines into events (agentsrc.Transcript is
// one). Line gets one complete line without its newline and the offset
// just past it; an error means the line is not a record (the watcher logs
// it and goes on). Flush returns the events held back for a later line.
// Safe returns the offset up to which every line's events have been
// returned.
type Parser interface {
	Line(line []byte, end int64) ([]chainlog.Event, error)
	Flush() []chainlog.Event
	Safe() int64
}

// Folder is one directory tree of one transcript format.
type Folder struct {
	// Source names the format; it is the cursors' Source ("claude_code").
	Source string
	// Dir is the tree's root.
	Dir string
	// NewParser returns a parser for the file at path.
	NewParser func(path string) Parser
	// Match reports whether the file at rel (slash-separated, relative to
	// Dir) is a transcript; nil matches every *.jsonl file.
	Match func(rel string) bool
}

// Sink commits events and cursors. Commit returns once both are durable,
// with the store's counts, or with an error when the cursors were not
// recorded (events may have been: they are sent again, and dropped as
// duplicates). Cursors returns the cursors of source as last committed.
type Sink interface {
	Commit(ctx context.Context, events []chainlog.Event, cursors ...chainlog.Cursor) (chainlog.IngestResult, error)
	Cursors(ctx context.Context, source string) ([]chainlog.Cursor, error)
}

// Config configures a Watcher.
type Config struct {
	Folders []Folder
	Sink    Sink
	Logger  *slog.Logger     // default: discard
	Now     func() time.Time // the clock of the idle rule; default time.Now

	// Poll is how often every tree is rescanned; default 2s.
	Poll time.Duration
	// Idle is how long a file must stay unchanged before a last line
	// without a newline is taken as complete and the parser flushed;
	// default 5s.
	Idle time.Duration
	// Dormant is how long a file stays unchanged, after the idle rule ran
	// and its cursor was committed, before its parser is dropped to free
	// its memory; when the file grows again, a new parser is fed its lines
	// up to the cursor first (the restart rule). Default 10 minutes.
	Dormant time.Duration
	// BatchEvents is how many events a commit holds at most; default 512.
	BatchEvents int
	// BatchWait is how long read events wait for more before they are
	// committed; default 50ms.
	BatchWait time.Duration
	// MaxLine is the longest line read, in bytes; a longer one is logged
	// and skipped. Default 64 MiB.
	MaxLine int
	// NoNotify turns fsnotify off: only the rescans find changes.
	NoNotify bool
}

// Stats counts what a Watcher did.
type Stats struct {
	Files      int   `json:"files"`          // transcripts found
	Lines      int64 `json:"lines"`          // lines read (not counting lines read again to resume)
	BadLines   int64 `json:"bad_lines"`      // lines the parser refused, or too long
	Events     int64 `json:"events"`         // events committed
	Inserted   int64 `json:"inserted"`       // of which new to the store
	Duplicates int64 `json:"duplicates"`     // of which already stored
	Commits    int64 `json:"commits"`        // batches committed
	Restarts   int64 `json:"restarts"`       // files read again from 0 (truncated or replaced)
	Resumed    int   `json:"resumed"`        // files resumed from a stored cursor
	Replayed   int64 `json:"replayed_bytes"` // bytes read again to rebuild a resumed parser's state
}

func (c *Config) check() error {
	if c.Sink == nil {
		return errors.New("watch config: Sink is nil")
	}
	if len(c.Folders) == 0 {
		return errors.New("watch config: no folders")
	}
	for i, f := range c.Folders {
		switch {
		case f.Source == "":
			return fmt.Errorf("watch config: folder %d (%s): Source is empty", i, f.Dir)
		case f.Dir == "":
			return fmt.Errorf("watch config: folder %d (%s): Dir is empty", i, f.Source)
		case f.NewParser == nil:
			return fmt.Errorf("watch config: folder %s: NewParser is nil", f.Dir)
		}
	}
	return nil
}

func (c *Config) defaults() {
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Poll <= 0 {
		c.Poll = 2 * time.Second
	}
	if c.Idle <= 0 {
		c.Idle = 5 * time.Second
	}
	if c.Dormant <= 0 {
		c.Dormant = 10 * time.Minute
	}
	if c.BatchEvents <= 0 {
		c.BatchEvents = 512
	}
	if c.BatchWait <= 0 {
		c.BatchWait = 50 * time.Millisecond
	}
	if c.MaxLine <= 0 {
		c.MaxLine = 64 << 20
	}
}
