package chainlog

import (
	"fmt"
	"strconv"
)

// The chain rule, written once: how a writer stamps an event after a head
// (Head.Next), and how a verifier checks that a row is the next link of
// its chain (nextLink). Every writer stamps with the first, and both
// verifiers, the node-ordered walk and the one commit-order pass, check
// with the second.

// GenesisHash is the chain_prev_hash of a node's first event.
const GenesisHash = "0000000000000000000000000000000000000000000000000000000000000000"

// Prev is the chain_prev_hash of the event stamped after h: h's hash, or
// GenesisHash when h is the zero head of a chain not yet begun.
func (h Head) Prev() string {
	if h.Seq == 0 {
		return GenesisHash
	}
	return h.Hash
}

// Next returns the head after e is stamped onto h: the next seq, and the
// hash of e linked to h.Prev(). updatedAt is the new head's time.
func (h Head) Next(hs *Hasher, e *Event, updatedAt string) Head {
	return Head{NodeID: e.NodeID, Hash: hs.Sum(h.Prev(), e), Seq: h.Seq + 1, UpdatedAt: updatedAt}
}

// link is what a verifier keeps of the last row it accepted in a chain.
type link struct {
	seq        int64
	hash, prev string // the row's chain_hash and chain_prev_hash
	id         string
}

// nextLink checks that e is the row after last in node's chain: a seq and
// a hash set, the next seq, linked to last's hash, and its chain hash the
// hash of its identity linked to its predecessor. hashed, when not nil,
// says whether that hash matches, computed already; otherwise the hash is
// computed here. It returns the break, or nil.
func nextLink(node string, last link, e *StoredEvent, hashed *bool, hs *Hasher) *Break {
	brk := func(reason, detail, expected, found string) *Break {
		return &Break{NodeID: node, Seq: e.Seq, EventID: e.ID, Reason: reason,
			Detail: detail, Expected: expected, Found: found}
	}
	want := last.seq + 1
	switch {
	case e.Seq == 0:
		return brk(ReasonNoSeq, "", fmt.Sprint(want), "")
	case e.Hash == "":
		return brk(ReasonHiddenRow, "", hs.SumStored(e.PrevHash, &e.Event), "")
	case last.seq > 0 && e.Seq == last.seq:
		return brk(ReasonFork, fmt.Sprintf("seq %d appears twice", e.Seq), last.hash, e.Hash)
	case e.Seq != want:
		return brk(ReasonSeqGap, fmt.Sprintf("expected seq %d, found seq %d", want, e.Seq), fmt.Sprint(want), fmt.Sprint(e.Seq))
	case e.PrevHash != last.hash && last.seq > 0 && e.PrevHash == last.prev:
		return brk(ReasonFork, fmt.Sprintf("seq %d and seq %d both follow %s", last.seq, e.Seq, e.PrevHash), last.hash, e.PrevHash)
	case e.PrevHash != last.hash:
		return brk(ReasonPrevMismatch, "", last.hash, e.PrevHash)
	}
	if hashed != nil && *hashed {
		return nil
	}
	if got := hs.SumStored(e.PrevHash, &e.Event); got != e.Hash {
		return brk(ReasonHashMismatch, "", got, e.Hash)
	}
	return nil
}

// huskLink checks that e, a husk (a row a prune record covers, whose
// identity is gone), is the row after last in node's chain: the next seq,
// linked to last's hash, and, as the last pruned row, the record's anchor.
// A husk's own hash cannot be recomputed: the tree, whose leaf commits to
// it, vouches for it. It returns the break, or nil.
func huskLink(node string, last link, e *StoredEvent, cut pruneCut) *Break {
	brk := func(reason, detail, expected, found string) *Break {
		return &Break{NodeID: node, Seq: e.Seq, EventID: e.ID, Reason: reason,
			Detail: detail, Expected: expected, Found: found}
	}
	want := last.seq + 1
	switch {
	case e.Hash == "":
		return brk(ReasonHiddenRow, "a pruned row", "a chain hash", "")
	case last.seq > 0 && e.Seq == last.seq:
		return brk(ReasonFork, fmt.Sprintf("seq %d appears twice", e.Seq), last.hash, e.Hash)
	case e.Seq != want:
		return brk(ReasonSeqGap, fmt.Sprintf("pruned rows: expected seq %d, found seq %d", want, e.Seq), fmt.Sprint(want), fmt.Sprint(e.Seq))
	case e.PrevHash != last.hash:
		return brk(ReasonPrevMismatch, "pruned rows", last.hash, e.PrevHash)
	case e.Seq == cut.last && e.Hash != cut.anchor:
		return brk(ReasonPruneAnchor, fmt.Sprintf("the prune record's last seq is %d", cut.last), cut.anchor, e.Hash)
	case !e.bareHusk():
		return brk(ReasonPrunedContent, "", "a husk: id, node_id and chain stamp only", "event_type "+strconv.Quote(e.EventType)+", ts "+strconv.Quote(e.TS))
	}
	return nil
}

// ChainCheck checks a run of one node's chain, row after row, with the
// chain rule (nextLink): each row must be the next seq, linked to the row
// before, its chain hash the hash of its identity fields. It starts at
// genesis, or after a row already trusted (a prune record's anchor), and
// keeps O(1) state. An archive of pruned events is checked with it.
type ChainCheck struct {
	node string
	last link
	hs   Hasher
}

// NewChainCheck returns a check of node's chain that resumes after seq,
// whose chain hash is hash: seq 0 and GenesisHash for a chain checked
// from its first event.
func NewChainCheck(node string, seq int64, hash string) *ChainCheck {
	return &ChainCheck{node: node, last: link{seq: seq, hash: hash}}
}

// Next checks that e is the chain's next row, and returns the break, or
// nil when it is; only then does the check move past e.
func (c *ChainCheck) Next(e *StoredEvent) *Break {
	if b := nextLink(c.node, c.last, e, nil, &c.hs); b != nil {
		return b
	}
	c.last = link{seq: e.Seq, hash: e.Hash, prev: e.PrevHash, id: e.ID}
	return nil
}

// Last returns the seq, chain hash and id of the last row accepted (the
// starting point, with no id, before any).
func (c *ChainCheck) Last() (seq int64, hash, id string) {
	return c.last.seq, c.last.hash, c.last.id
}
