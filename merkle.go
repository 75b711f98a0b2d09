package chainlog

import (
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
	size  int64
	stack []tlog.Hash // perfect subtree roots, largest first
}

// Size returns the number of leaves added.
func (b *TreeBuilder) Size() int64 { return b.size }

// Add appends a leaf hash.
func (b *TreeBuilder) Add(h tlog.Hash) {
	b.stack = append(b.stack, h)
	for n := b.size; n&1 == 1; n >>= 1 {
		top := len(b.stack)
		b.stack = append(b.stack[:top-2], tlog.NodeHash(b.stack[top-2], b.stack[top-1]))
	}
	b.size++
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
