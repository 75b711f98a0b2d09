// The sources the verifiers read, and what each promises: row order,
// lifetime of what is passed, and what an error means. A store implements
// them (see Store in store.go); the optional ones add checks of the store
// as a whole that VerifyStore makes when a source offers them.

package chainlog

import (
	"context"
	"errors"

	"golang.org/x/mod/sumdb/tlog"
)

// ChainSource is what the verifier reads. Implementations stream rows; they
// must not buffer the whole store.
type ChainSource interface {
	// Heads returns the recorded chain heads, ordered by node_id. With a
	// non-empty nodeID it returns at most that node's head.
	Heads(ctx context.Context, nodeID string) ([]Head, error)

	// ScanChains calls fn for every row of the events table (restricted to
	// nodeID when it is not empty), ordered by node_id, then chain_seq with
	// NULLs first, then commit order. Each row carries its identity, chain
	// and mutable columns, its ingest payload digest and the latest
	// amendment's digest. The *StoredEvent passed to fn is only valid during
	// the call. An error returned by fn stops the scan and is returned.
	ScanChains(ctx context.Context, nodeID string, fn func(*StoredEvent) error) error

	// AmendmentHead returns the amendment trail's recorded head, or nil
	// when none is recorded.
	AmendmentHead(ctx context.Context) (*Head, error)

	// ScanAmendments calls fn for every amendment record in seq order, each
	// with the digest its event had just before it by the store's account.
	// The *AmendmentScan is only valid during the call.
	ScanAmendments(ctx context.Context, fn func(*AmendmentScan) error) error
}

// TreeSource is what the tree verifier reads.
type TreeSource interface {
	// ScanLeaves calls fn for every leaf in leaf order, recomputed from
	// the events' columns (not from stored tree hashes).
	ScanLeaves(ctx context.Context, fn func(index int64, l *Leaf) error) error
	// StoredTree returns the stored tree head: its size and root.
	StoredTree(ctx context.Context) (size int64, root tlog.Hash, err error)
	// AmendmentHashAt returns the hash of amendment record seq; found is
	// false when there is none.
	AmendmentHashAt(ctx context.Context, seq int64) (hash string, found bool, err error)
}

// CommitOrderSource is what VerifyStore reads: a ChainSource and a
// TreeSource that can also stream the whole events table in commit order.
type CommitOrderSource interface {
	ChainSource
	TreeSource
	// ScanCommitOrder reads every row of the events table, all nodes, in
	// commit (rowid) order, batch after batch: it fills rows from the
	// start of buf (at most len(buf) of them) and passes the filled rows
	// to fn, which returns the batch to fill next. A batch belongs to fn
	// from the call until fn returns it, for this or a later fill; the
	// source overwrites every field of a row it fills, reusing the row's
	// Data and Buf, so that the strings of a row fn gave back may change.
	// fn is called from one goroutine, in order. An error
	// returned by fn stops the scan and is returned. ErrNoCommitOrder says
	// that the store cannot be read this way; VerifyStore then walks it as
	// Verify and VerifyTree do.
	ScanCommitOrder(ctx context.Context, buf []CommitRow, fn func(filled []CommitRow) (next []CommitRow, err error)) error
}

// ErrNoCommitOrder is returned by ScanCommitOrder when the store's schema
// does not allow one commit-order pass.
var ErrNoCommitOrder = errors.New("the store cannot be read in one commit-order pass")

// RangeSource is what a Monitor reads: short scans of new rows, bounded by
// heads read first, so that rows committed meanwhile wait for the next
// round and no read transaction is held for long.
type RangeSource interface {
	Heads(ctx context.Context, nodeID string) ([]Head, error)
	// Nodes lists every node_id that has rows, in byte order.
	Nodes(ctx context.Context) ([]string, error)
	// CountPreChain counts nodeID's rows without chain columns.
	CountPreChain(ctx context.Context, nodeID string) (int64, error)
	// ScanChainRange calls fn for nodeID's stamped rows with
	// afterSeq < chain_seq <= uptoSeq, in chain_seq order. With afterSeq
	// < 0 (a walk from genesis) it first calls fn for the node's rows whose
	// chain_seq is NULL, in commit order, as ScanChains orders them: the
	// pre-chain rows, and rows given a chain hash without a seq.
	ScanChainRange(ctx context.Context, nodeID string, afterSeq, uptoSeq int64, fn func(*StoredEvent) error) error
	AmendmentHead(ctx context.Context) (*Head, error)
	ScanAmendmentRange(ctx context.Context, afterSeq, uptoSeq int64, fn func(*AmendmentScan) error) error
	StoredTree(ctx context.Context) (size int64, root tlog.Hash, err error)
	// ScanLeafRange calls fn for the leaves with afterLeaf < index <
	// uptoLeaf, in commit order.
	ScanLeafRange(ctx context.Context, afterLeaf, uptoLeaf int64, fn func(index int64, l *Leaf) error) error
}

// StoreChecker is implemented by a source that can check the store's
// structure beyond what its rows show: that its file is sound, and that
// its schema holds every object its version requires and nothing that
// could change what is read or written. VerifyStore calls it within the
// same read transaction. An error says the store cannot be read (a corrupt
// file); a fault found is returned as a Break.
type StoreChecker interface {
	CheckStore(ctx context.Context) (*Break, error)
}

// TreeKeeper is implemented by a source whose schema keeps the Merkle
// tree. In such a store every stamped row is a leaf: the tree is written
// in the transaction that stamps the row, and the migration that added
// the tree made a leaf of every row stamped before it. A stamped row that
// is not a leaf is one that no checkpoint will ever cover.
type TreeKeeper interface {
	KeepsTree() bool
}

// IDChecker is implemented by a source that can tell whether an event id
// is stored on more than one row. Ids are unique by the store's own rule
// (an event delivered twice is stored once), which an id index enforces
// at ingest; the verifier checks the rows themselves, since the index can
// lose rows.
type IDChecker interface {
	// DuplicateID returns an id stored on more than one row, with how
	// many rows hold it; "" when every id is unique.
	DuplicateID(ctx context.Context) (id string, rows int64, err error)
}

// StoredHashSource is implemented by a source that keeps the tree's own
// hashes, in tlog's stored order, for appends and proofs. The tree
// verifier then compares them with the hashes it recomputes from the
// events: a stored hash that differs would make the next append, or a
// proof, wrong, while the tree head still looked right.
type StoredHashSource interface {
	// ReadStoredHashes returns the stored hashes at indexes; a hash that
	// is not stored is an error wrapping ErrNotFound.
	ReadStoredHashes(ctx context.Context, indexes []int64) ([]tlog.Hash, error)
	// ScanStoredHashes calls fn with the first n stored hashes, in order,
	// a chunk at a time; first is the index of hs[0]. Fewer than n hashes
	// stored is an error wrapping ErrNotFound.
	ScanStoredHashes(ctx context.Context, n int64, fn func(first int64, hs []tlog.Hash) error) error
}
