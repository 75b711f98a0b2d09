// The two sources the verifiers read, and what each promises: row order,
// lifetime of what is passed, and what an error means. Source is the whole
// store, for VerifyStore; RangeSource is short scans of new rows, for the
// Monitor. A store implements both (see Store in store.go).

package chainlog

import (
	"context"
	"errors"

	"golang.org/x/mod/sumdb/tlog"
)

// Source is a whole store as VerifyStore reads it. A store implements it
// (see Store); so may a read-only view of another tool's database. Every
// scan streams: it never buffers the whole store. The value passed to a
// scan's fn is only valid during the call, unless the method says
// otherwise, and an error returned by fn stops the scan and is returned.
// VerifyStore makes every call in one read transaction of the caller's.
type Source interface {
	// Heads returns the recorded chain heads, ordered by node_id. With a
	// non-empty nodeID it returns at most that node's head.
	Heads(ctx context.Context, nodeID string) ([]Head, error)

	// ScanChains calls fn for every row of the events table (restricted to
	// nodeID when it is not empty), ordered by node_id, then chain_seq with
	// NULLs first, then commit order. Each row carries its identity, chain
	// and mutable columns, its ingest payload digest and the latest
	// amendment's digest.
	ScanChains(ctx context.Context, nodeID string, fn func(*StoredEvent) error) error

	// AmendmentHead returns the amendment trail's recorded head, or nil
	// when none is recorded.
	AmendmentHead(ctx context.Context) (*Head, error)

	// ScanAmendments calls fn for every amendment record in seq order, each
	// with the digest its event had just before it by the store's account.
	ScanAmendments(ctx context.Context, fn func(*AmendmentScan) error) error

	// AmendmentHashAt returns the hash of amendment record seq; found is
	// false when there is none.
	AmendmentHashAt(ctx context.Context, seq int64) (hash string, found bool, err error)

	// ScanLeaves calls fn for every leaf in leaf order, recomputed from
	// the events' columns (not from stored tree hashes).
	ScanLeaves(ctx context.Context, fn func(index int64, l *Leaf) error) error

	// StoredTree returns the stored tree head: its size and root; 0 and
	// the zero hash for a store that keeps no tree.
	StoredTree(ctx context.Context) (size int64, root tlog.Hash, err error)

	// ReadStoredHashes returns the tree's stored hashes (tlog's stored
	// order) at indexes; a hash that is not stored is an error wrapping
	// ErrNotFound. The tree verifier compares them with the hashes it
	// recomputes: a stored hash that differs would make the next append,
	// or a proof, wrong, while the tree head still looked right.
	ReadStoredHashes(ctx context.Context, indexes []int64) ([]tlog.Hash, error)

	// ScanStoredHashes calls fn with the first n stored hashes, in order,
	// a chunk at a time; first is the index of hs[0]. Fewer than n hashes
	// stored is an error wrapping ErrNotFound.
	ScanStoredHashes(ctx context.Context, n int64, fn func(first int64, hs []tlog.Hash) error) error

	// ScanCommitOrder reads every row of the events table, all nodes, in
	// commit order, batch after batch: it fills rows from the start of buf
	// (at most len(buf) of them) and passes the filled rows to fn, which
	// returns the batch to fill next. A batch belongs to fn from the call
	// until fn returns it, for this or a later fill; the source overwrites
	// every field of a row it fills, reusing the row's Data and Buf, so
	// that the strings of a row fn gave back may change. fn is called from
	// one goroutine, in order. ErrNoCommitOrder says that the store cannot
	// be read this way; VerifyStore then walks it node by node and leaf by
	// leaf, with the same report.
	ScanCommitOrder(ctx context.Context, buf []CommitRow, fn func(filled []CommitRow) (next []CommitRow, err error)) error

	// CheckStore checks the store's structure beyond what its rows show:
	// that its file is sound, and that its schema holds every object its
	// version requires and nothing that could change what is read or
	// written. An error says the store cannot be read (a corrupt file); a
	// fault found is returned as a Break; nil, nil when it is sound.
	CheckStore(ctx context.Context) (*Break, error)

	// KeepsTree reports whether the schema keeps the Merkle tree: its
	// stored hashes, and the rule that every stamped row is a leaf (the
	// tree is written in the transaction that stamps the row, and the
	// migration that added the tree made a leaf of every row stamped
	// before it). A store that does not keep it has no stored hashes.
	KeepsTree() bool

	// DuplicateID returns an id stored on more than one row, with how
	// many rows hold it; "" when every id is unique. It reads the rows
	// themselves, not an index: the index that enforces unique ids at
	// ingest can lose rows.
	DuplicateID(ctx context.Context) (id string, rows int64, err error)
}

// chainSource and treeSource are the parts of a Source that the node walk
// and the leaf walk read.
type chainSource interface {
	Heads(ctx context.Context, nodeID string) ([]Head, error)
	ScanChains(ctx context.Context, nodeID string, fn func(*StoredEvent) error) error
	AmendmentHead(ctx context.Context) (*Head, error)
	ScanAmendments(ctx context.Context, fn func(*AmendmentScan) error) error
	AmendmentHashAt(ctx context.Context, seq int64) (hash string, found bool, err error)
}

type treeSource interface {
	ScanLeaves(ctx context.Context, fn func(index int64, l *Leaf) error) error
	StoredTree(ctx context.Context) (size int64, root tlog.Hash, err error)
	AmendmentHashAt(ctx context.Context, seq int64) (hash string, found bool, err error)
}

// storedHashSource is the part of a Source that keeps the tree's hashes;
// the leaf walk compares them when its source keeps the tree.
type storedHashSource interface {
	KeepsTree() bool
	ReadStoredHashes(ctx context.Context, indexes []int64) ([]tlog.Hash, error)
	ScanStoredHashes(ctx context.Context, n int64, fn func(first int64, hs []tlog.Hash) error) error
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
	// AmendmentHashAt returns the hash of amendment record seq; found is
	// false when there is none. Anchor events are compared with it.
	AmendmentHashAt(ctx context.Context, seq int64) (hash string, found bool, err error)
	StoredTree(ctx context.Context) (size int64, root tlog.Hash, err error)
	// ScanLeafRange calls fn for the leaves with afterLeaf < index <
	// uptoLeaf, in commit order.
	ScanLeafRange(ctx context.Context, afterLeaf, uptoLeaf int64, fn func(index int64, l *Leaf) error) error
}
