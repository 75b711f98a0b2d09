package sqlite

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"sync"

	"chainlog"

	"zombiezen.com/go/sqlite"
	"zombiezen.com/go/sqlite/sqlitex"
)

// fileWatch remembers which files a writer opened: the database file, and
// the -wal and -shm files once they exist (SQLite creates them at the
// first transaction and keeps them while a connection is open).
type fileWatch struct {
	mu     sync.Mutex
	path   string
	ids    [3]fs.FileInfo // database, -wal, -shm; nil until seen
	failed error          // sticky: the first change seen
}

var watchedSuffixes = [3]string{"", "-wal", "-shm"}

func newFileWatch(path string) *fileWatch {
	w := &fileWatch{path: path}
	_ = w.check() // records what exists; nothing can have changed yet
	return w
}

// check compares each file at its path with the file first seen there
// (device and inode on Unix), and records the files seen for the first
// time. A file that was seen and is gone, or is another file, is an error,
// and stays one. It costs one stat call a file.
func (w *fileWatch) check() error {
	if w == nil {
		return nil
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.failed != nil {
		return w.failed
	}
	for i, suffix := range watchedSuffixes {
		name := w.path + suffix
		fi, err := os.Stat(name)
		switch {
		case errors.Is(err, fs.ErrNotExist) && w.ids[i] == nil:
			continue // not created yet
		case errors.Is(err, fs.ErrNotExist):
			w.failed = fmt.Errorf("%w: %s was deleted", chainlog.ErrFilesReplaced, name)
		case err != nil:
			return fmt.Errorf("check the store's files: %w", err)
		case w.ids[i] == nil:
			w.ids[i] = fi
			continue
		case !os.SameFile(w.ids[i], fi):
			w.failed = fmt.Errorf("%w: %s is another file than the one opened (it was replaced)", chainlog.ErrFilesReplaced, name)
		default:
			continue
		}
		return w.failed
	}
	return nil
}

// CheckFiles reports whether the store's files are still the ones a writer
// opened: an error wrapping chainlog.ErrFilesReplaced once one was deleted or
// replaced. Ingest checks before it writes and before it returns; a
// daemon's health check calls it between commits. It does not wait for
// the writer's connection. A read-only store has nothing to check.
func (s *Store) CheckFiles() error {
	return s.files.check()
}

// CheckpointWAL copies the WAL's committed frames into the database file
// (a PASSIVE checkpoint: it never waits for readers, and copies what no
// reader still needs). SQLite's automatic checkpoints ignore their errors;
// a daemon calls this between commits so that a checkpoint that keeps
// failing is seen, and so that its events do not live only in the -wal
// file. An error is returned when the checkpoint failed, or the store's
// files were deleted or replaced.
func (s *Store) CheckpointWAL(ctx context.Context) error {
	if s.readOnly {
		return fmt.Errorf("checkpoint the WAL: %w", chainlog.ErrReadOnly)
	}
	if err := s.files.check(); err != nil {
		return err
	}
	err := s.withConn(ctx, func(conn *sqlite.Conn) error {
		return sqlitex.ExecuteTransient(conn, "PRAGMA wal_checkpoint(PASSIVE)", nil)
	})
	if err != nil {
		return fmt.Errorf("checkpoint the WAL: %w", err)
	}
	return nil
}
