package chainlogtest

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"slices"

	"chainlog"

	"golang.org/x/mod/sumdb/tlog"
)

// Source is an in-memory store: a chainlog.RangeSource, ChainSource and
// TreeSource, so that the Monitor, Verify and VerifyTree can check the same
// state. It stamps events as every writer does (chainlog.Head.Next), counts
// the rows each scan passes, and can run a hook right after a method has
// read its state, to commit rows "concurrently" at that point of a check.
// Its exported fields are its state, for tests to tamper with. It is not
// safe for concurrent writes.
type Source struct {
	Rows      []chainlog.StoredEvent // commit order
	HeadOf    map[string]chainlog.Head
	Amends    []chainlog.AmendmentScan
	AmendHead *chainlog.Head
	Leaves    []LeafAt // commit order
	TreeSize  int64
	TreeRoot  tlog.Hash
	// CursorRows are the watcher cursors Ingest keeps, in first-write order.
	CursorRows []chainlog.Cursor
	// ForkRows are the fork evidence Replicate records, by id.
	ForkRows []chainlog.Fork
	tree     chainlog.TreeBuilder
	hashes   []tlog.Hash // the tree's stored hashes, in tlog's layout
	hasher   chainlog.Hasher
	n        int
	signed   []byte // the latest checkpoint (see Checkpoint)

	ChainRead, AmendRead, LeafRead int
	Scans                          []string          // "node after upto" of each ScanChainRange
	Hooks                          map[string]func() // run once, after the named method
}

// LeafAt is one leaf of a Source's tree with its index.
type LeafAt struct {
	Index int64
	Leaf  chainlog.Leaf
}

// NewSource returns an empty Source.
func NewSource() *Source {
	s := &Source{HeadOf: map[string]chainlog.Head{}, Hooks: map[string]func(){}}
	s.TreeRoot = s.tree.Root() // the empty tree's
	return s
}

// Reads returns the rows, amendments and leaves the range scans have read
// so far.
func (s *Source) Reads() [3]int { return [3]int{s.ChainRead, s.AmendRead, s.LeafRead} }

func (s *Source) hook(method string) {
	if f := s.Hooks[method]; f != nil {
		delete(s.Hooks, method)
		f()
	}
}

// NewEvent returns a new event of node with id; each call gets its own ts
// and data.
func (s *Source) NewEvent(node, id string) chainlog.Event {
	s.n++
	model := "m"
	return chainlog.Event{ID: id, AgentType: "claude_code", NodeID: node, AgentID: "main", EventType: "tool_call",
		TS: fmt.Sprintf("2026-02-01T09:00:%02d.000Z", s.n%60), Data: json.RawMessage(fmt.Sprintf(`{"n":%d}`, s.n)), Model: &model}
}

// Commit stamps and stores events of node with the given ids, in order,
// each a leaf of the tree.
func (s *Source) Commit(node string, ids ...string) {
	for _, id := range ids {
		s.stamp(s.NewEvent(node, id))
	}
}

// stamp stores e after its node's head, as the next leaf.
func (s *Source) stamp(e chainlog.Event) {
	head := s.HeadOf[e.NodeID]
	next := head.Next(&s.hasher, &e, "u")
	m := e.Mutable()
	row := chainlog.StoredEvent{Event: e, CreatedAt: "c", Seq: next.Seq, PrevHash: head.Prev(),
		Hash: next.Hash, PayloadDigest: chainlog.PayloadDigest(&m)}
	row.LeafIndex = Ptr(s.tree.Size())
	s.Rows = append(s.Rows, row)
	s.HeadOf[e.NodeID] = next
	s.AddLeaf(chainlog.Leaf{NodeID: row.NodeID, Seq: row.Seq, ChainHash: row.Hash, PayloadDigest: row.PayloadDigest})
}

// AddLeaf appends l to the tree.
func (s *Source) AddLeaf(l chainlog.Leaf) {
	s.Leaves = append(s.Leaves, LeafAt{Index: s.tree.Size(), Leaf: l})
	h := chainlog.LeafHash(&l)
	hs, err := tlog.StoredHashesForRecordHash(s.tree.Size(), h, s.hashReader())
	if err != nil {
		panic(err) // the reader holds every hash the layout asks for
	}
	s.hashes = append(s.hashes, hs...)
	s.tree.Add(h)
	s.TreeSize, s.TreeRoot = s.tree.Size(), s.tree.Root()
}

// PreChain stores unstamped rows, as a store written without integrity has.
func (s *Source) PreChain(node string, ids ...string) {
	for _, id := range ids {
		s.Rows = append(s.Rows, chainlog.StoredEvent{Event: s.NewEvent(node, id), CreatedAt: "c"})
	}
}

// Row returns the stored row with id; it panics when there is none.
func (s *Source) Row(id string) *chainlog.StoredEvent {
	for i := range s.Rows {
		if s.Rows[i].ID == id {
			return &s.Rows[i]
		}
	}
	panic("no row " + id)
}

// Amend changes id's model through the amendment trail.
func (s *Source) Amend(id, model string) {
	p := chainlog.Patch{Set: []string{chainlog.FieldModel}, Values: chainlog.Mutable{Model: &model}}
	if _, err := s.AmendPatch(id, p, "fix", "test"); err != nil {
		panic(err)
	}
}

// AmendPatch applies p to the stored event id through the amendment trail,
// as sqlite.Store's Amend does, and returns the new record. An unknown id
// is chainlog.ErrNotFound.
func (s *Source) AmendPatch(id string, p chainlog.Patch, reason, actor string) (chainlog.Amendment, error) {
	i := slices.IndexFunc(s.Rows, func(r chainlog.StoredEvent) bool { return r.ID == id })
	if i < 0 {
		return chainlog.Amendment{}, fmt.Errorf("amend %q: %w", id, chainlog.ErrNotFound)
	}
	r := &s.Rows[i]
	if r.Husk() {
		return chainlog.Amendment{}, fmt.Errorf("amend %q: %w", id, chainlog.ErrPruned)
	}
	if err := chainlog.CheckUserNodeID(r.NodeID); err != nil {
		return chainlog.Amendment{}, fmt.Errorf("amend %q: the store's own events cannot be amended: %w", id, err)
	}
	m := r.Mutable()
	before := r.LastDigest
	if before == "" {
		before = chainlog.PayloadDigest(&m)
	}
	m, err := p.Apply(m)
	if err != nil {
		return chainlog.Amendment{}, fmt.Errorf("amend %q: %w", id, err)
	}
	r.SetMutable(m)
	prev := chainlog.GenesisHash
	if s.AmendHead != nil {
		prev = s.AmendHead.Hash
	}
	a := chainlog.Amendment{Seq: int64(len(s.Amends) + 1), EventID: id, Kind: chainlog.KindAmend,
		Fields: slices.Clone(p.Set), DigestBefore: before, DigestAfter: chainlog.PayloadDigest(&m),
		Reason: reason, Actor: actor, At: "a", PrevHash: prev}
	a.Hash = chainlog.AmendmentHash(prev, &a)
	s.Amends = append(s.Amends, chainlog.AmendmentScan{Amendment: a, ExpectedBefore: before, EventExists: true})
	r.LastDigest = a.DigestAfter
	s.AmendHead = &chainlog.Head{Hash: a.Hash, Seq: a.Seq}
	// In the same commit, as every store: the anchor of the new head.
	s.stamp(chainlog.AnchorEvent(a.Seq, a.Hash, a.At))
	return a, nil
}

// RangeSource.

func (s *Source) Heads(ctx context.Context, nodeID string) ([]chainlog.Head, error) {
	var out []chainlog.Head
	for _, h := range s.HeadOf {
		if nodeID == "" || h.NodeID == nodeID {
			out = append(out, h)
		}
	}
	slices.SortFunc(out, func(a, b chainlog.Head) int { return cmp.Compare(a.NodeID, b.NodeID) })
	s.hook("Heads")
	return out, nil
}

func (s *Source) Nodes(ctx context.Context) ([]string, error) {
	var nodes []string
	for _, r := range s.Rows {
		if !slices.Contains(nodes, r.NodeID) {
			nodes = append(nodes, r.NodeID)
		}
	}
	slices.Sort(nodes)
	s.hook("Nodes")
	return nodes, nil
}

func (s *Source) CountPreChain(ctx context.Context, nodeID string) (int64, error) {
	var n int64
	for _, r := range s.Rows {
		if r.NodeID == nodeID && !r.Stamped() {
			n++
		}
	}
	return n, nil
}

// pass calls fn with a copy of r and clobbers the copy afterwards, so that
// a caller that keeps the pointer sees garbage.
func pass(r chainlog.StoredEvent, fn func(*chainlog.StoredEvent) error) error {
	c := r
	err := fn(&c)
	c = chainlog.StoredEvent{Event: chainlog.Event{ID: "clobbered"}}
	return err
}

func (s *Source) ScanChainRange(ctx context.Context, nodeID string, afterSeq, uptoSeq int64, fn func(*chainlog.StoredEvent) error) error {
	s.hook("ScanChainRange " + nodeID)
	s.Scans = append(s.Scans, fmt.Sprintf("%s %d %d", nodeID, afterSeq, uptoSeq))
	var sel []chainlog.StoredEvent
	if afterSeq < 0 {
		for _, r := range s.Rows {
			if r.NodeID == nodeID && r.Seq == 0 {
				sel = append(sel, r)
			}
		}
	}
	var stamped []chainlog.StoredEvent
	for _, r := range s.Rows {
		if r.NodeID == nodeID && r.Seq != 0 && r.Seq > afterSeq && r.Seq <= uptoSeq {
			stamped = append(stamped, r)
		}
	}
	slices.SortStableFunc(stamped, func(a, b chainlog.StoredEvent) int { return cmp.Compare(a.Seq, b.Seq) })
	for _, r := range append(sel, stamped...) {
		s.ChainRead++
		if err := pass(r, fn); err != nil {
			return err
		}
	}
	return nil
}

func (s *Source) AmendmentHead(ctx context.Context) (*chainlog.Head, error) {
	var h *chainlog.Head
	if s.AmendHead != nil {
		c := *s.AmendHead
		h = &c
	}
	s.hook("AmendmentHead")
	return h, nil
}

func (s *Source) ScanAmendmentRange(ctx context.Context, afterSeq, uptoSeq int64, fn func(*chainlog.AmendmentScan) error) error {
	for _, a := range s.Amends {
		if a.Seq > afterSeq && a.Seq <= uptoSeq {
			s.AmendRead++
			c := a
			if err := fn(&c); err != nil {
				return err
			}
		}
	}
	return nil
}

func (s *Source) StoredTree(ctx context.Context) (int64, tlog.Hash, error) {
	size, root := s.TreeSize, s.TreeRoot
	s.hook("StoredTree")
	return size, root, nil
}

// ScanLeafRange walks as sqlite.Store does: from the row holding leaf
// afterLeaf (the start when there is none) in commit order, stopping at
// the first leaf not below uptoLeaf.
func (s *Source) ScanLeafRange(ctx context.Context, afterLeaf, uptoLeaf int64, fn func(int64, *chainlog.Leaf) error) error {
	start := 0
	if afterLeaf >= 0 {
		if i := slices.IndexFunc(s.Leaves, func(l LeafAt) bool { return l.Index == afterLeaf }); i >= 0 {
			start = i + 1
		}
	}
	for _, l := range s.Leaves[start:] {
		if l.Index >= uptoLeaf {
			return nil
		}
		s.LeafRead++
		c := l.Leaf
		if err := fn(l.Index, &c); err != nil {
			return err
		}
	}
	return nil
}

// ChainSource and TreeSource, for Verify and VerifyTree.

func (s *Source) ScanChains(ctx context.Context, nodeID string, fn func(*chainlog.StoredEvent) error) error {
	rows := slices.Clone(s.Rows)
	slices.SortStableFunc(rows, func(a, b chainlog.StoredEvent) int {
		return cmp.Or(cmp.Compare(a.NodeID, b.NodeID), cmp.Compare(a.Seq, b.Seq))
	})
	for _, r := range rows {
		if nodeID == "" || r.NodeID == nodeID {
			if err := pass(r, fn); err != nil {
				return err
			}
		}
	}
	return nil
}

func (s *Source) ScanAmendments(ctx context.Context, fn func(*chainlog.AmendmentScan) error) error {
	for _, a := range s.Amends {
		c := a
		if err := fn(&c); err != nil {
			return err
		}
	}
	return nil
}

func (s *Source) ScanLeaves(ctx context.Context, fn func(int64, *chainlog.Leaf) error) error {
	for _, l := range s.Leaves {
		c := l.Leaf
		if err := fn(l.Index, &c); err != nil {
			return err
		}
	}
	return nil
}

func (s *Source) AmendmentHashAt(ctx context.Context, seq int64) (string, bool, error) {
	for _, a := range s.Amends {
		if a.Seq == seq {
			return a.Hash, true, nil
		}
	}
	return "", false, nil
}

var (
	_ chainlog.RangeSource = (*Source)(nil)
	_ chainlog.Source      = (*Source)(nil)
)
