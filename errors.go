package chainlog

import (
	"errors"

	"golang.org/x/mod/sumdb/tlog"
)

// The errors every store returns, whatever its backend; callers test them
// with errors.Is. A store wraps them with the context of the call.
var (
	// ErrNotFound is returned when a requested event does not exist.
	ErrNotFound = errors.New("not found")

	// ErrConflict is returned when a chain head moved under a writer:
	// another writer committed to the same node since the head was read.
	ErrConflict = errors.New("chain head moved concurrently")

	// ErrReadOnly is returned by every write to a store opened read-only.
	ErrReadOnly = errors.New("store is open read-only")

	// ErrNotInTree is returned when an event has no leaf in the tree (it
	// is pre-chain) or lies beyond the requested tree size.
	ErrNotInTree = errors.New("event is not in the tree")

	// ErrPruned is returned for an event that a prune removed: only its
	// husk (its id, chain stamp and leaf) remains.
	ErrPruned = errors.New("the event was pruned")

	// ErrFilesReplaced is returned by a writer once the store's files were
	// deleted or replaced while it was open: its connection still writes
	// to the files it opened, which no longer are the store at its path.
	// Nothing is written after that; the store must be closed and opened
	// again.
	ErrFilesReplaced = errors.New("the store's files were deleted or replaced while it was open")

	// ErrInconsistent is returned when the store's tree, or its amendment
	// trail, does not extend a checkpoint it signed before: the store was
	// truncated, rolled back or rewritten, and signing its tree would make
	// two inconsistent checkpoints. The error is an *InconsistencyError.
	ErrInconsistent = errors.New("the store's tree is not consistent with its last checkpoint")
)

// InconsistencyError is the evidence of ErrInconsistent: the store's tree
// head and trail head, and the checkpoint they do not extend.
type InconsistencyError struct {
	Size       int64     // the store's tree size
	Root       tlog.Hash // the store's tree root
	Trail      Head      // the store's amendment trail head (Seq, Hash)
	Checkpoint Checkpoint
	Reason     string // what disagrees
}

func (e *InconsistencyError) Error() string { return ErrInconsistent.Error() + ": " + e.Reason }

// Is makes errors.Is(err, ErrInconsistent) hold.
func (e *InconsistencyError) Is(target error) bool { return target == ErrInconsistent }

// OpenError is a store that could not be opened: Path is the store's path
// (empty when the message leaves it out) and Err the cause. A missing
// store file is an OpenError whose Err wraps fs.ErrNotExist.
type OpenError struct {
	Path string
	Err  error
}

func (e *OpenError) Error() string {
	if e.Path == "" {
		return "open store: " + e.Err.Error()
	}
	return "open store " + e.Path + ": " + e.Err.Error()
}

func (e *OpenError) Unwrap() error { return e.Err }
