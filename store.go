package chainlog

import (
	"context"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

// Store is what every chainlog backend provides: the writer's side (Ingest,
// Checkpoint), the reader's (Heads, Event, Export, Amendments, the tree and
// its proofs) and the verifier's sources (Source). The package
// chainlog/storetest is its conformance suite; every backend runs it.
//
// The contract, for every method:
//   - A write is durable once it returns without error: a store opened
//     afterwards, by this process or another, sees it. A write that returns
//     an error has changed nothing.
//   - A write is atomic: every event of an Ingest batch is committed, or
//     none is.
//   - Methods are safe for concurrent use. Two stores opened for writing on
//     the same storage (two processes) may write at once, where the backend
//     allows it: a chain head moved by the other writer is detected by
//     compare-and-swap, and the batch is stamped again on the fresh head,
//     never forked.
//   - A store opened read-only never writes: Ingest, Amend and Checkpoint
//     fail, and change nothing.
//   - Rows come in commit order (the order Ingest committed them, across
//     batches and nodes) unless the method says otherwise.
//   - An unknown event id is ErrNotFound (errors.Is), where the method
//     returns one event; a method returning a list returns an empty one.
//
// Amending an event is part of the contract too (the trail's records and
// the payload they change), but its request type is the backend's own; the
// suite takes it as a function.
type Store interface {
	Source

	// Ingest commits events in one transaction, in slice order, which is
	// the chain order of each node: each stamped event's head moves in the
	// same commit. An event whose id is already stored, or repeated
	// earlier in the slice, is counted as a duplicate and changes nothing.
	// Events must already be validated (DecodeEvent).
	//
	// The cursors are upserted in the same transaction, keyed by (Source,
	// Path), the last one for a key winning: they commit with the events,
	// or neither does. A call with cursors and no events commits the
	// cursors. A cursor that fails Validate fails the whole call, with an
	// error wrapping ErrCursor.
	Ingest(ctx context.Context, events []Event, cursors ...Cursor) (IngestResult, error)

	// Cursors returns the stored cursors of source (of every source when
	// source is empty), ordered by source, then path; an empty list when
	// there are none.
	Cursors(ctx context.Context, source string) ([]Cursor, error)

	// Event returns the stored event with id, or ErrNotFound.
	Event(ctx context.Context, id string) (*StoredEvent, error)

	// Export calls fn for every stored event (of nodeID, when not empty)
	// with all its columns, in commit order. The *StoredEvent passed to fn
	// is only valid during the call.
	Export(ctx context.Context, nodeID string, fn func(*StoredEvent) error) error

	// Amendments returns an event's amendment trail, oldest (lowest seq)
	// first; empty when the event was never amended or is unknown.
	Amendments(ctx context.Context, eventID string) ([]Amendment, error)

	// ProveEvent returns the event with id as a proof bundle's event, its
	// leaf index, and its inclusion proof in the tree of the given size.
	// An unknown id is ErrNotFound.
	ProveEvent(ctx context.Context, id string, size int64) (ProvenEvent, int64, tlog.RecordProof, error)

	// ProveConsistency returns the proof that the tree of size newSize
	// extends the tree of size oldSize.
	ProveConsistency(ctx context.Context, oldSize, newSize int64) (tlog.TreeProof, error)

	// Checkpoint signs the current tree head with signer, after proving
	// that the tree extends the checkpoint kept in the store and published
	// (the last one published outside it; nil if unknown), and keeps it in
	// the store. It returns nil when there is nothing new to sign.
	Checkpoint(ctx context.Context, signer note.Signer, published []byte) ([]byte, error)

	// LatestCheckpoint returns the signed checkpoint kept in the store,
	// or nil.
	LatestCheckpoint(ctx context.Context) ([]byte, error)

	// Close releases the store. Writes already returned stay durable.
	Close() error
}
