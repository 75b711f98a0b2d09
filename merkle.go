package chainlog

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"math"
	"strconv"

	"golang.org/x/mod/sumdb/tlog"
)

// The Merkle tree (RFC 6962) covers every stamped event, one leaf per event
// in global commit order. A leaf commits to the event's node, chain_seq,
// chain_hash and ingest payload digest, so the tree fixes every chain's
// content and order, and every payload as ingested. See docs/merkle.md.

// LeafPrefix starts every leaf's data.
const LeafPrefix = "chainlog-leaf-v1\n"

// Leaf is what one tree leaf commits to.
type Leaf struct {
	NodeID        string
	Seq           int64
	ChainHash     string
	PayloadDigest string // "" when the event was stored without one
}

// AppendLeafData appends the leaf's data: the prefix, then node_id,
// chain_seq (decimal), chain_hash and payload_digest (hex), each as
// "<length>:<bytes>;" or "N;" for an absent payload digest.
func AppendLeafData(dst []byte, l *Leaf) []byte {
	dst = append(dst, LeafPrefix...)
	dst = appendNetField(dst, []byte(l.NodeID))
	var b [20]byte
	dst = appendNetField(dst, strconv.AppendInt(b[:0], l.Seq, 10))
	dst = appendNetField(dst, []byte(l.ChainHash))
	if l.PayloadDigest == "" {
		return append(dst, "N;"...)
	}
	return appendNetField(dst, []byte(l.PayloadDigest))
}

// LeafHash returns the RFC 6962 leaf hash, SHA-256(0x00 || leaf data).
func LeafHash(l *Leaf) tlog.Hash {
	return tlog.RecordHash(AppendLeafData(nil, l))
}

// TreeBuilder computes RFC 6962 tree heads from a stream of leaf hashes
// with O(log n) memory: it keeps the roots of the perfect subtrees that
// make up the tree so far.
type TreeBuilder struct {
	size    int64
	stack   []tlog.Hash // perfect subtree roots, largest first
	digests *blockDigests
}

// Size returns the number of leaves added.
func (b *TreeBuilder) Size() int64 { return b.size }

// Add appends a leaf hash.
func (b *TreeBuilder) Add(h tlog.Hash) {
	b.stack = append(b.stack, h)
	b.stored(h)
	for n := b.size; n&1 == 1; n >>= 1 {
		top := len(b.stack)
		b.stack = append(b.stack[:top-2], tlog.NodeHash(b.stack[top-2], b.stack[top-1]))
		b.stored(b.stack[len(b.stack)-1])
	}
	b.size++
}

// AddSubtree appends the root of a perfect subtree of 2^level leaves,
// standing for those leaves: the builder's size must be a multiple of
// 2^level (the subtree is aligned, as tlog.StoredHashIndex numbers the
// tree's stored hashes). A tree built from leaves and subtrees has the
// root of the tree built from the leaves alone. A builder that keeps
// stored-hash digests takes leaves only.
func (b *TreeBuilder) AddSubtree(level int, h tlog.Hash) error {
	switch {
	case level < 0 || level > 62:
		return fmt.Errorf("subtree level %d is out of range", level)
	case b.digests != nil:
		return errors.New("this tree builder takes leaves only")
	case b.size&(1<<level-1) != 0:
		return fmt.Errorf("a subtree of 2^%d leaves cannot start at leaf %d", level, b.size)
	case b.size > math.MaxInt64-(1<<level):
		return fmt.Errorf("a subtree of 2^%d leaves after leaf %d overflows the tree", level, b.size)
	}
	b.stack = append(b.stack, h)
	for n := b.size >> level; n&1 == 1; n >>= 1 {
		top := len(b.stack)
		b.stack = append(b.stack[:top-2], tlog.NodeHash(b.stack[top-2], b.stack[top-1]))
	}
	b.size += 1 << level
	return nil
}

// stored passes a hash the tree stores to the builder's digests, when
// they are kept: Add makes the hashes tlog.StoredHashes gives, in the
// same order, the leaf's hash first and then each parent it completes.
func (b *TreeBuilder) stored(h tlog.Hash) {
	if b.digests != nil {
		b.digests.add(h)
	}
}

// Frontier returns the roots of the perfect subtrees that make up the
// tree, largest first: the stored hashes at FrontierIndexes(Size()), which
// the next append reads.
func (b *TreeBuilder) Frontier() []tlog.Hash { return b.stack }

// FrontierIndexes returns the stored indexes (tlog.StoredHashIndex) of the
// roots of the perfect subtrees that make up a tree of size n, largest
// first.
func FrontierIndexes(n int64) []int64 {
	var idx []int64
	for level := 62; level >= 0; level-- {
		if n>>level&1 == 1 {
			idx = append(idx, tlog.StoredHashIndex(level, n>>level-1))
		}
	}
	return idx
}

// storedHashBlock is how many stored hashes one block digest covers.
const storedHashBlock = 4096

// blockDigests hashes a stream of stored hashes block by block: the
// SHA-256 of each storedHashBlock consecutive hashes. It keeps 32 bytes
// per 4,096 hashes, and one block's bytes, so that the stored tree can be
// compared with the recomputed one without keeping either.
type blockDigests struct {
	n    int64  // hashes added
	buf  []byte // the current block's hashes
	done [][sha256.Size]byte
}

func newBlockDigests() *blockDigests {
	return &blockDigests{buf: make([]byte, 0, storedHashBlock*tlog.HashSize)}
}

func (d *blockDigests) add(h tlog.Hash) {
	d.buf = append(d.buf, h[:]...)
	if d.n++; d.n%storedHashBlock == 0 {
		d.done = append(d.done, sha256.Sum256(d.buf))
		d.buf = d.buf[:0]
	}
}

// blocks returns the digest of every block, the last one possibly partial.
func (d *blockDigests) blocks() [][sha256.Size]byte {
	out := d.done
	if d.n%storedHashBlock != 0 {
		out = append(out[:len(out):len(out)], sha256.Sum256(d.buf))
	}
	return out
}

// Root returns the tree head of the leaves added so far.
func (b *TreeBuilder) Root() tlog.Hash {
	if len(b.stack) == 0 {
		return tlog.Hash(emptyTreeHash)
	}
	h := b.stack[len(b.stack)-1]
	for i := len(b.stack) - 2; i >= 0; i-- {
		h = tlog.NodeHash(b.stack[i], h)
	}
	return h
}

// emptyTreeHash is SHA-256 of the empty string, the RFC 6962 root of an
// empty tree.
var emptyTreeHash = [32]byte{
	0xe3, 0xb0, 0xc4, 0x42, 0x98, 0xfc, 0x1c, 0x14, 0x9a, 0xfb, 0xf4, 0xc8, 0x99, 0x6f, 0xb9, 0x24,
	0x27, 0xae, 0x41, 0xe4, 0x64, 0x9b, 0x93, 0x4c, 0xa4, 0x95, 0x99, 0x1b, 0x78, 0x52, 0xb8, 0x55,
}
