package chainlog_test

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sync"
	"testing"

	"chainlog"

	"golang.org/x/mod/sumdb/tlog"
)

// monSource is an in-memory store for the Monitor: a chainlog.RangeSource
// (and a ChainSource and TreeSource, so that chainlog.Verify and VerifyTree
// can check the same state). It stamps events as sqlite.Store does, counts
// the rows each scan passes, and can run a hook right after a method has
// read its state, to commit rows "concurrently" at that point of a Check.
type monSource struct {
	rows      []chainlog.StoredEvent // commit order
	heads     map[string]chainlog.Head
	amends    []chainlog.AmendmentScan
	amendHead *chainlog.Head
	leaves    []monLeaf // commit order
	treeSize  int64
	treeRoot  tlog.Hash
	tree      chainlog.TreeBuilder
	hasher    chainlog.Hasher
	n         int

	chainRead, amendRead, leafRead int
	scans                          []string          // "node after upto" of each ScanChainRange
	hooks                          map[string]func() // run once, after the named method
}

type monLeaf struct {
	index int64
	leaf  chainlog.Leaf
}

func newMonSource() *monSource {
	s := &monSource{heads: map[string]chainlog.Head{}, hooks: map[string]func(){}}
	s.treeRoot = s.tree.Root() // the empty tree's
	return s
}

func (s *monSource) hook(method string) {
	if f := s.hooks[method]; f != nil {
		delete(s.hooks, method)
		f()
	}
}

func (s *monSource) event(node, id string) chainlog.Event {
	s.n++
	model := "m"
	return chainlog.Event{ID: id, AgentType: "claude_code", NodeID: node, AgentID: "main", EventType: "tool_call",
		TS: fmt.Sprintf("2026-02-01T09:00:%02d.000Z", s.n%60), Data: json.RawMessage(fmt.Sprintf(`{"n":%d}`, s.n)), Model: &model}
}

// commit stamps and stores events of node with the given ids, in order.
func (s *monSource) commit(node string, ids ...string) {
	for _, id := range ids {
		e := s.event(node, id)
		head := s.heads[node]
		prev := head.Hash
		if head.Seq == 0 {
			prev = chainlog.GenesisHash
		}
		m := e.Mutable()
		row := chainlog.StoredEvent{Event: e, CreatedAt: "c", Seq: head.Seq + 1, PrevHash: prev,
			Hash: s.hasher.Sum(prev, &e), PayloadDigest: chainlog.PayloadDigest(&m)}
		s.rows = append(s.rows, row)
		s.heads[node] = chainlog.Head{NodeID: node, Hash: row.Hash, Seq: row.Seq, UpdatedAt: "u"}
		s.addLeaf(chainlog.Leaf{NodeID: node, Seq: row.Seq, ChainHash: row.Hash, PayloadDigest: row.PayloadDigest})
	}
}

func (s *monSource) addLeaf(l chainlog.Leaf) {
	s.leaves = append(s.leaves, monLeaf{index: s.tree.Size(), leaf: l})
	s.tree.Add(chainlog.LeafHash(&l))
	s.treeSize, s.treeRoot = s.tree.Size(), s.tree.Root()
}

// preChain stores unstamped rows, as a store written without integrity has.
func (s *monSource) preChain(node string, ids ...string) {
	for _, id := range ids {
		s.rows = append(s.rows, chainlog.StoredEvent{Event: s.event(node, id), CreatedAt: "c"})
	}
}

func (s *monSource) row(id string) *chainlog.StoredEvent {
	for i := range s.rows {
		if s.rows[i].ID == id {
			return &s.rows[i]
		}
	}
	panic("no row " + id)
}

// amend changes id's model through the amendment trail.
func (s *monSource) amend(id, model string) {
	r := s.row(id)
	m := r.Mutable()
	before := r.LastDigest
	if before == "" {
		before = chainlog.PayloadDigest(&m)
	}
	m.Model = &model
	r.SetMutable(m)
	prev := chainlog.GenesisHash
	if s.amendHead != nil {
		prev = s.amendHead.Hash
	}
	a := chainlog.Amendment{Seq: int64(len(s.amends) + 1), EventID: id, Kind: chainlog.KindAmend,
		Fields: []string{chainlog.FieldModel}, DigestBefore: before, DigestAfter: chainlog.PayloadDigest(&m),
		Reason: "fix", Actor: "test", At: "a", PrevHash: prev}
	a.Hash = chainlog.AmendmentHash(prev, &a)
	s.amends = append(s.amends, chainlog.AmendmentScan{Amendment: a, ExpectedBefore: before, EventExists: true})
	r.LastDigest = a.DigestAfter
	s.amendHead = &chainlog.Head{Hash: a.Hash, Seq: a.Seq}
}

// RangeSource.

func (s *monSource) Heads(ctx context.Context, nodeID string) ([]chainlog.Head, error) {
	var out []chainlog.Head
	for _, h := range s.heads {
		if nodeID == "" || h.NodeID == nodeID {
			out = append(out, h)
		}
	}
	slices.SortFunc(out, func(a, b chainlog.Head) int { return cmp.Compare(a.NodeID, b.NodeID) })
	s.hook("Heads")
	return out, nil
}

func (s *monSource) Nodes(ctx context.Context) ([]string, error) {
	var nodes []string
	for _, r := range s.rows {
		if !slices.Contains(nodes, r.NodeID) {
			nodes = append(nodes, r.NodeID)
		}
	}
	slices.Sort(nodes)
	s.hook("Nodes")
	return nodes, nil
}

func (s *monSource) CountPreChain(ctx context.Context, nodeID string) (int64, error) {
	var n int64
	for _, r := range s.rows {
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

func (s *monSource) ScanChainRange(ctx context.Context, nodeID string, afterSeq, uptoSeq int64, fn func(*chainlog.StoredEvent) error) error {
	s.scans = append(s.scans, fmt.Sprintf("%s %d %d", nodeID, afterSeq, uptoSeq))
	var sel []chainlog.StoredEvent
	if afterSeq < 0 {
		for _, r := range s.rows {
			if r.NodeID == nodeID && r.Seq == 0 {
				sel = append(sel, r)
			}
		}
	}
	var stamped []chainlog.StoredEvent
	for _, r := range s.rows {
		if r.NodeID == nodeID && r.Seq != 0 && r.Seq > afterSeq && r.Seq <= uptoSeq {
			stamped = append(stamped, r)
		}
	}
	slices.SortStableFunc(stamped, func(a, b chainlog.StoredEvent) int { return cmp.Compare(a.Seq, b.Seq) })
	for _, r := range append(sel, stamped...) {
		s.chainRead++
		if err := pass(r, fn); err != nil {
			return err
		}
	}
	return nil
}

func (s *monSource) AmendmentHead(ctx context.Context) (*chainlog.Head, error) {
	var h *chainlog.Head
	if s.amendHead != nil {
		c := *s.amendHead
		h = &c
	}
	s.hook("AmendmentHead")
	return h, nil
}

func (s *monSource) ScanAmendmentRange(ctx context.Context, afterSeq, uptoSeq int64, fn func(*chainlog.AmendmentScan) error) error {
	for _, a := range s.amends {
		if a.Seq > afterSeq && a.Seq <= uptoSeq {
			s.amendRead++
			c := a
			if err := fn(&c); err != nil {
				return err
			}
		}
	}
	return nil
}

func (s *monSource) StoredTree(ctx context.Context) (int64, tlog.Hash, error) {
	size, root := s.treeSize, s.treeRoot
	s.hook("StoredTree")
	return size, root, nil
}

// ScanLeafRange walks as sqlite.Store does: from the row holding leaf
// afterLeaf (the start when there is none) in commit order, stopping at
// the first leaf not below uptoLeaf.
func (s *monSource) ScanLeafRange(ctx context.Context, afterLeaf, uptoLeaf int64, fn func(int64, *chainlog.Leaf) error) error {
	start := 0
	if afterLeaf >= 0 {
		if i := slices.IndexFunc(s.leaves, func(l monLeaf) bool { return l.index == afterLeaf }); i >= 0 {
			start = i + 1
		}
	}
	for _, l := range s.leaves[start:] {
		if l.index >= uptoLeaf {
			return nil
		}
		s.leafRead++
		c := l.leaf
		if err := fn(l.index, &c); err != nil {
			return err
		}
	}
	return nil
}

// ChainSource and TreeSource, for Verify and VerifyTree.

func (s *monSource) ScanChains(ctx context.Context, nodeID string, fn func(*chainlog.StoredEvent) error) error {
	rows := slices.Clone(s.rows)
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

func (s *monSource) ScanAmendments(ctx context.Context, fn func(*chainlog.AmendmentScan) error) error {
	for _, a := range s.amends {
		c := a
		if err := fn(&c); err != nil {
			return err
		}
	}
	return nil
}

func (s *monSource) ScanLeaves(ctx context.Context, fn func(int64, *chainlog.Leaf) error) error {
	for _, l := range s.leaves {
		c := l.leaf
		if err := fn(l.index, &c); err != nil {
			return err
		}
	}
	return nil
}

func (s *monSource) AmendmentHashAt(ctx context.Context, seq int64) (string, bool, error) {
	for _, a := range s.amends {
		if a.Seq == seq {
			return a.Hash, true, nil
		}
	}
	return "", false, nil
}

var (
	_ chainlog.RangeSource = (*monSource)(nil)
	_ chainlog.ChainSource = (*monSource)(nil)
	_ chainlog.TreeSource  = (*monSource)(nil)
)

// reads returns the rows, amendments and leaves read so far.
func (s *monSource) reads() [3]int { return [3]int{s.chainRead, s.amendRead, s.leafRead} }

func monCheck(t *testing.T, m *chainlog.Monitor, src *monSource) *chainlog.Report {
	t.Helper()
	rep, err := m.Check(t.Context(), src)
	if err != nil {
		t.Fatalf("Check: %v", err)
	}
	if m.Last() != rep {
		t.Errorf("Last() is not the report Check returned")
	}
	return rep
}

// fullVerify is verify-integrity's check of src: chains, trail and tree.
func fullVerify(t *testing.T, src *monSource) *chainlog.Report {
	t.Helper()
	hooks := src.hooks
	src.hooks = nil
	defer func() { src.hooks = hooks }()
	rep, err := chainlog.Verify(t.Context(), src, "")
	if err != nil {
		t.Fatal(err)
	}
	tree, err := chainlog.VerifyTree(t.Context(), src, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	rep.AddTree(tree)
	return rep
}

// wantSameReport checks that the Monitor's report is Verify's, as JSON.
func wantSameReport(t *testing.T, got, want *chainlog.Report) {
	t.Helper()
	g, _ := json.Marshal(got)
	w, _ := json.Marshal(want)
	if string(g) != string(w) {
		t.Errorf("Monitor report =\n%s\nVerify report =\n%s", g, w)
	}
}

func wantMonBreak(t *testing.T, rep *chainlog.Report, trail, node, event string, seq int64, reason string) {
	t.Helper()
	b := rep.BrokenAt
	if rep.Status != chainlog.StatusInvalid || b == nil {
		t.Fatalf("status %s, broken_at %+v; want invalid", rep.Status, b)
	}
	if b.Trail != trail || b.NodeID != node || b.EventID != event || b.Seq != seq || b.Reason != reason {
		t.Errorf("broken_at = %+v; want trail %q node %q event %q seq %d: %s", b, trail, node, event, seq, reason)
	}
}

// TestMonitorIncremental: each Check reads only what was committed since
// the last one, and reports what a full verification reports.
func TestMonitorIncremental(t *testing.T) {
	src := newMonSource()
	m := chainlog.NewMonitor()
	steps := []struct {
		name        string
		change      func()
		wantStatus  string
		wantChecked int64
		wantReads   [3]int // rows, amendments, leaves read by this Check
		wantScans   []string
	}{
		{"empty", func() {}, chainlog.StatusEmpty, 0, [3]int{}, nil},
		{"first rows", func() { src.commit("n1", "a", "b", "c"); src.commit("n2", "x") },
			chainlog.StatusValid, 4, [3]int{4, 0, 4}, []string{"n1 -1 3", "n2 -1 1"}},
		{"nothing new", func() {}, chainlog.StatusValid, 4, [3]int{}, []string{"n1 3 3", "n2 1 1"}},
		{"more rows, a new node", func() { src.commit("n1", "d"); src.commit("n3", "y", "z"); src.commit("n1", "e") },
			chainlog.StatusValid, 8, [3]int{4, 0, 4}, []string{"n1 3 5", "n2 1 1", "n3 -1 2"}},
		{"amendments", func() { src.amend("a", "m2"); src.amend("y", "m2"); src.commit("n2", "w") },
			chainlog.StatusValid, 9, [3]int{1, 2, 1}, []string{"n1 5 5", "n2 1 2", "n3 2 2"}},
		{"an amendment of a verified row", func() { src.amend("a", "m3") },
			chainlog.StatusValid, 9, [3]int{0, 1, 0}, nil},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			st.change()
			before := src.reads()
			src.scans = nil
			rep := monCheck(t, m, src)
			if rep.Status != st.wantStatus || rep.Checked != st.wantChecked {
				t.Errorf("status %s, %d checked; want %s, %d", rep.Status, rep.Checked, st.wantStatus, st.wantChecked)
			}
			after := src.reads()
			if got := [3]int{after[0] - before[0], after[1] - before[1], after[2] - before[2]}; got != st.wantReads {
				t.Errorf("read %v rows, amendments, leaves; want %v", got, st.wantReads)
			}
			if st.wantScans != nil && !slices.Equal(src.scans, st.wantScans) {
				t.Errorf("ScanChainRange calls = %q; want %q", src.scans, st.wantScans)
			}
			wantSameReport(t, rep, fullVerify(t, src))
		})
	}
}

// TestMonitorReset: rows verified once are not read again, so a change to
// them goes unseen until Reset makes the next Check start from genesis.
func TestMonitorReset(t *testing.T) {
	src := newMonSource()
	src.commit("n1", "a", "b", "c", "d")
	src.commit("n2", "x", "y")
	m := chainlog.NewMonitor()
	if rep := monCheck(t, m, src); rep.Status != chainlog.StatusValid {
		t.Fatalf("status %s; want valid", rep.Status)
	}
	src.row("b").AgentID = "mallory"
	before := src.reads()
	if rep := monCheck(t, m, src); rep.Status != chainlog.StatusValid || src.reads() != before {
		t.Fatalf("incremental check after tampering with a verified row: %s, reads %v -> %v; want valid, nothing read",
			rep.Status, before, src.reads())
	}
	m.Reset()
	rep := monCheck(t, m, src)
	wantMonBreak(t, rep, "", "n1", "b", 2, chainlog.ReasonHashMismatch)
	if got := src.reads(); got[0]-before[0] != 6 || got[2]-before[2] != 6 {
		t.Errorf("reads after Reset %v -> %v; want all 6 rows and leaves again", before, got)
	}
	wantSameReport(t, rep, fullVerify(t, src))
	// The break stays reported, and the broken node is not read again.
	src.commit("n1", "e")
	before = src.reads()
	rep = monCheck(t, m, src)
	wantMonBreak(t, rep, "", "n1", "b", 2, chainlog.ReasonHashMismatch)
	if got := src.reads(); got[0] != before[0] {
		t.Errorf("read %d rows of a broken node; want none", got[0]-before[0])
	}
	// Repaired and reset: valid again.
	src.row("b").AgentID = "main"
	m.Reset()
	if rep := monCheck(t, m, src); rep.Status != chainlog.StatusValid || rep.Checked != 7 {
		t.Errorf("after repair and Reset: %s, %d checked; want valid, 7", rep.Status, rep.Checked)
	}
}

// TestMonitorFromGenesis: a Check from genesis finds what Verify finds.
func TestMonitorFromGenesis(t *testing.T) {
	tests := []struct {
		name   string
		build  func(s *monSource)
		status string
		trail  string
		node   string
		event  string
		seq    int64
		reason string
	}{
		{name: "valid with pre-chain rows", status: chainlog.StatusValid, build: func(s *monSource) {
			s.preChain("n1", "p1", "p2")
			s.commit("n1", "a", "b")
			s.preChain("old", "q")
			s.amend("p2", "m2")
		}},
		{name: "node without a head", build: func(s *monSource) {
			s.commit("n1", "a")
			s.commit("n2", "x", "y")
			delete(s.heads, "n2")
		}, node: "n2", event: "y", seq: 2, reason: chainlog.ReasonHeadMissing},
		{name: "head without rows", build: func(s *monSource) {
			s.commit("n1", "a")
			s.commit("n2", "x")
			s.heads["ghost"] = chainlog.Head{NodeID: "ghost", Hash: "abc", Seq: 3} // sorts before n1
		}, node: "ghost", seq: 3, reason: chainlog.ReasonHeadOrphan},
		{name: "heads without rows around others", build: func(s *monSource) {
			s.commit("b", "x")
			s.commit("d", "y")
			for _, n := range []string{"a", "c", "e"} {
				s.heads[n] = chainlog.Head{NodeID: n, Hash: "abc", Seq: 1}
			}
		}, node: "a", seq: 1, reason: chainlog.ReasonHeadOrphan},
		{name: "head ahead of the rows", build: func(s *monSource) {
			s.commit("n1", "a", "b")
			h := s.heads["n1"]
			h.Seq = 5
			s.heads["n1"] = h
		}, node: "n1", event: "b", seq: 2, reason: chainlog.ReasonHeadMismatch},
		{name: "row deleted", build: func(s *monSource) {
			s.commit("n1", "a", "b", "c")
			s.rows = slices.DeleteFunc(s.rows, func(r chainlog.StoredEvent) bool { return r.ID == "b" })
		}, node: "n1", event: "c", seq: 3, reason: chainlog.ReasonSeqGap},
		{name: "payload changed", build: func(s *monSource) {
			s.commit("n1", "a", "b")
			s.row("a").Data = json.RawMessage(`{"n":0}`)
		}, node: "n1", event: "a", seq: 1, reason: chainlog.ReasonPayloadChanged},
		{name: "amended pre-chain payload changed", build: func(s *monSource) {
			s.preChain("n1", "p")
			s.commit("n1", "a")
			s.amend("p", "m2")
			s.row("p").Data = nil
		}, node: "n1", event: "p", reason: chainlog.ReasonPayloadChanged},
		{name: "hash without seq", build: func(s *monSource) {
			s.commit("n1", "a", "b")
			s.rows = append(s.rows, chainlog.StoredEvent{Event: s.event("n1", "forged"), PrevHash: chainlog.GenesisHash, Hash: "abc"})
		}, node: "n1", event: "forged", reason: chainlog.ReasonNoSeq},
		{name: "seq without hash", build: func(s *monSource) {
			s.commit("n1", "a", "b")
			s.row("b").Hash = ""
		}, node: "n1", event: "b", seq: 2, reason: chainlog.ReasonHiddenRow},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := newMonSource()
			tt.build(src)
			rep := monCheck(t, chainlog.NewMonitor(), src)
			if tt.status == chainlog.StatusValid {
				if rep.Status != chainlog.StatusValid {
					t.Errorf("status %s (%v); want valid", rep.Status, rep.BrokenAt)
				}
			} else {
				wantMonBreak(t, rep, tt.trail, tt.node, tt.event, tt.seq, tt.reason)
			}
			wantSameReport(t, rep, fullVerify(t, src))
		})
	}
}

// TestMonitorConcurrentCommits commits rows at each point of a Check, as
// the daemon's writer does while the Monitor reads: rows beyond the heads
// (or tree size, or trail head) read first are left for the next round,
// so a Check never mistakes them for tampering, and the next round reads
// them.
func TestMonitorConcurrentCommits(t *testing.T) {
	for _, method := range []string{"Nodes", "Heads", "AmendmentHead", "StoredTree"} {
		t.Run("after "+method, func(t *testing.T) {
			src := newMonSource()
			src.commit("n1", "a", "b")
			src.commit("n2", "x")
			src.amend("a", "m2")
			m := chainlog.NewMonitor()
			monCheck(t, m, src)
			src.hooks[method] = func() {
				src.commit("n1", "c", "d")
				src.commit("a0", "new") // a node's first rows, sorting before the others
				src.amend("x", "m2")
			}
			rep := monCheck(t, m, src)
			if rep.Status != chainlog.StatusValid {
				t.Fatalf("check with commits during it: %s (%v); want valid", rep.Status, rep.BrokenAt)
			}
			if rep.Checked > 6 || rep.Tree.Leaves > 6 || rep.Amendments.Checked > 2 {
				t.Errorf("checked %d rows, %d leaves, %d amendments; want no more than were committed", rep.Checked, rep.Tree.Leaves, rep.Amendments.Checked)
			}
			before := src.reads()
			rep = monCheck(t, m, src)
			wantSameReport(t, rep, fullVerify(t, src))
			if rep.Status != chainlog.StatusValid || rep.Checked != 6 || rep.Tree.Leaves != 6 || rep.Amendments.Checked != 2 {
				t.Errorf("next round: %s, %d checked, %d leaves, %d amendments; want valid, 6, 6, 2", rep.Status, rep.Checked, rep.Tree.Leaves, rep.Amendments.Checked)
			}
			after := src.reads()
			if after[0]-before[0] > 3 || after[2]-before[2] > 3 || after[1]-before[1] > 1 {
				t.Errorf("next round read %v -> %v; want only what the last round left", before, after)
			}
		})
	}
}

// TestMonitorTree: the tree is checked incrementally, and a gap in the
// leaves or a wrong stored head breaks it.
func TestMonitorTree(t *testing.T) {
	t.Run("gap from genesis", func(t *testing.T) {
		src := newMonSource()
		src.commit("n1", "a", "b", "c", "d")
		src.leaves = slices.Delete(src.leaves, 2, 3)
		rep := monCheck(t, chainlog.NewMonitor(), src)
		wantMonBreak(t, rep, chainlog.TrailTree, "", "", 2, chainlog.ReasonLeafMissing)
		wantSameReport(t, rep, fullVerify(t, src))
	})
	t.Run("gap in new leaves", func(t *testing.T) {
		src := newMonSource()
		src.commit("n1", "a", "b")
		m := chainlog.NewMonitor()
		if rep := monCheck(t, m, src); rep.Status != chainlog.StatusValid {
			t.Fatalf("status %s; want valid", rep.Status)
		}
		src.commit("n2", "x", "y", "z")
		src.leaves = slices.Delete(src.leaves, 3, 4) // leaf 3, of y
		rep := monCheck(t, m, src)
		wantMonBreak(t, rep, chainlog.TrailTree, "", "", 3, chainlog.ReasonLeafMissing)
		if rep.Tree.Leaves != 3 {
			t.Errorf("tree leaves = %d; want 3, up to the gap", rep.Tree.Leaves)
		}
		// The break is kept, and no more leaves are read.
		src.commit("n2", "w")
		before := src.reads()
		rep = monCheck(t, m, src)
		wantMonBreak(t, rep, chainlog.TrailTree, "", "", 3, chainlog.ReasonLeafMissing)
		if src.reads()[2] != before[2] {
			t.Errorf("read leaves after the break")
		}
		m.Reset()
		wantSameReport(t, monCheck(t, m, src), fullVerify(t, src))
	})
	t.Run("leaves out of order", func(t *testing.T) {
		src := newMonSource()
		src.commit("n1", "a", "b", "c")
		src.leaves[0], src.leaves[1] = src.leaves[1], src.leaves[0]
		rep := monCheck(t, chainlog.NewMonitor(), src)
		wantMonBreak(t, rep, chainlog.TrailTree, "", "", 0, chainlog.ReasonLeafMissing)
		wantSameReport(t, rep, fullVerify(t, src))
	})
	t.Run("stored root wrong", func(t *testing.T) {
		src := newMonSource()
		src.commit("n1", "a", "b", "c")
		m := chainlog.NewMonitor()
		monCheck(t, m, src)
		src.commit("n1", "d")
		src.treeRoot[0] ^= 1
		rep := monCheck(t, m, src)
		wantMonBreak(t, rep, chainlog.TrailTree, "", "", 4, chainlog.ReasonTreeHeadMismatch)
		wantSameReport(t, rep, fullVerify(t, src))
	})
	t.Run("leaf altered", func(t *testing.T) {
		src := newMonSource()
		src.commit("n1", "a", "b", "c")
		src.leaves[1].leaf.PayloadDigest = "0000"
		rep := monCheck(t, chainlog.NewMonitor(), src)
		wantMonBreak(t, rep, chainlog.TrailTree, "", "", 3, chainlog.ReasonTreeHeadMismatch)
		wantSameReport(t, rep, fullVerify(t, src))
	})
}

// TestMonitorAmendments: the trail is verified incrementally; a bad record
// breaks it for good (until Reset), and every kind of break Verify finds
// the Monitor finds.
func TestMonitorAmendments(t *testing.T) {
	src := newMonSource()
	src.commit("n1", "a", "b", "c")
	src.amend("a", "m2")
	src.amend("b", "m2")
	m := chainlog.NewMonitor()
	step := func(wantStatus string, wantChecked int64, wantRead int) *chainlog.Report {
		t.Helper()
		before := src.amendRead
		rep := monCheck(t, m, src)
		if rep.Amendments.Status != wantStatus || rep.Amendments.Checked != wantChecked {
			t.Errorf("amendments %s, %d checked; want %s, %d", rep.Amendments.Status, rep.Amendments.Checked, wantStatus, wantChecked)
		}
		if got := src.amendRead - before; got != wantRead {
			t.Errorf("read %d amendment records; want %d", got, wantRead)
		}
		return rep
	}
	step(chainlog.StatusValid, 2, 2)
	src.amend("a", "m3")
	step(chainlog.StatusValid, 3, 1)
	step(chainlog.StatusValid, 3, 0)
	src.amend("c", "m2")
	src.amends[3].Reason = "edited"
	rep := step(chainlog.StatusInvalid, 4, 1)
	wantMonBreak(t, rep, chainlog.TrailAmendments, "", "c", 4, chainlog.ReasonAmendHash)
	src.amends[3].Reason = "fix"
	src.amend("b", "m4")
	step(chainlog.StatusInvalid, 4, 0) // broken: not read further
	m.Reset()
	rep = step(chainlog.StatusValid, 5, 5)
	wantSameReport(t, rep, fullVerify(t, src))

	tests := []struct {
		name   string
		change func(s *monSource)
		seq    int64
		event  string
		reason string
	}{
		{"head missing", func(s *monSource) { s.amendHead = nil }, 2, "", chainlog.ReasonAmendHeadMissing},
		{"head ahead", func(s *monSource) { s.amendHead.Seq = 3 }, 2, "", chainlog.ReasonAmendHeadMismatch},
		{"head rewritten", func(s *monSource) { s.amendHead.Hash = "feed" }, 2, "", chainlog.ReasonAmendHeadMismatch},
		{"record deleted", func(s *monSource) { s.amends = slices.Delete(s.amends, 0, 1) }, 2, "b", chainlog.ReasonAmendSeq},
		{"digest_before wrong", func(s *monSource) { s.amends[1].ExpectedBefore = "feed" }, 2, "b", chainlog.ReasonAmendBefore},
		{"event gone", func(s *monSource) { s.amends[1].EventExists = false }, 2, "b", chainlog.ReasonAmendNoEvent},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := newMonSource()
			src.commit("n1", "a", "b")
			src.amend("a", "m2")
			src.amend("b", "m2")
			tt.change(src)
			rep := monCheck(t, chainlog.NewMonitor(), src)
			wantMonBreak(t, rep, chainlog.TrailAmendments, "", tt.event, tt.seq, tt.reason)
			wantSameReport(t, rep, fullVerify(t, src))
		})
	}
}

// TestMonitorConcurrentUse: Checks, Resets and Last from many goroutines
// (run with -race).
func TestMonitorConcurrentUse(t *testing.T) {
	src := newMonSource()
	src.commit("n1", "a", "b", "c")
	src.commit("n2", "x")
	m := chainlog.NewMonitor()
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			for range 20 {
				if i%4 == 0 {
					m.Reset()
				}
				rep, err := m.Check(context.Background(), src)
				if err != nil || rep.Status != chainlog.StatusValid || rep.Checked != 4 {
					t.Errorf("Check = %+v, %v; want valid, 4", rep, err)
					return
				}
				if m.Last() == nil {
					t.Error("Last() = nil after a Check")
				}
			}
		})
	}
	wg.Wait()
}
