package chainlog

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"golang.org/x/mod/sumdb/tlog"
)

// commitMem is a Source over a memSource: its rows, in commit
// order, are also the leaves (those with a LeafIndex), and the stored tree
// head is kept apart so that it can disagree with them.
type commitMem struct {
	*memSource
	storedSize int64
	storedRoot tlog.Hash
	trail      map[int64]string // amendment seq -> hash
	irregular  map[string]bool  // ids of rows given as Irregular

	noCommitOrder bool  // ScanCommitOrder says ErrNoCommitOrder
	commitErr     error // returned by ScanCommitOrder after commitErrAt rows
	commitErrAt   int
	commitScans   int // calls of ScanCommitOrder
}

// newCommitMem returns a source over rows in commit order, with correct
// heads, the stamped rows numbered as leaves, and the matching tree head.
func newCommitMem(rows ...[]StoredEvent) *commitMem {
	s := &commitMem{memSource: newStore(rows...)}
	var b TreeBuilder
	for i := range s.rows {
		r := &s.rows[i]
		if !r.Stamped() {
			continue
		}
		idx := b.Size()
		r.LeafIndex = &idx
		l := treeLeaf(r)
		b.Add(LeafHash(&l))
	}
	s.storedSize, s.storedRoot = b.Size(), b.Root()
	return s
}

// commitOf wraps a memSource whose rows are not leaves (as the chain tests
// build them), with the tree head an empty tree has.
func commitOf(ms *memSource) *commitMem {
	var b TreeBuilder
	return &commitMem{memSource: ms, storedRoot: b.Root()}
}

func (s *commitMem) ScanCommitOrder(ctx context.Context, buf []CommitRow, fn func([]CommitRow) ([]CommitRow, error)) error {
	s.commitScans++
	if s.noCommitOrder {
		return ErrNoCommitOrder
	}
	n := 0
	for i := range s.rows {
		if s.commitErr != nil && i == s.commitErrAt {
			return s.commitErr
		}
		toCommitRow(&s.rows[i], &buf[n])
		buf[n].Irregular = s.irregular[s.rows[i].ID]
		if n++; n == len(buf) {
			var err error
			if buf, err = fn(buf); err != nil {
				return err
			}
			n = 0
		}
	}
	if n > 0 {
		if _, err := fn(buf[:n]); err != nil {
			return err
		}
	}
	if s.commitErr != nil && len(s.rows) <= s.commitErrAt {
		return s.commitErr
	}
	return nil
}

// toCommitRow fills r from e as a store would, reusing r's Data buffer.
func toCommitRow(e *StoredEvent, r *CommitRow) {
	data := r.Data[:0]
	*r = CommitRow{ID: e.ID, AgentType: e.AgentType, NodeID: e.NodeID, AgentID: e.AgentID, EventType: e.EventType, TS: e.TS,
		Seq: e.Seq, PrevHash: e.PrevHash, Hash: e.Hash, PayloadDigest: e.PayloadDigest, LastDigest: e.LastDigest}
	if e.SessionID != nil {
		r.SessionID, r.Has = *e.SessionID, r.Has|HasSessionID
	}
	if e.WorkspaceID != nil {
		r.WorkspaceID, r.Has = *e.WorkspaceID, r.Has|HasWorkspaceID
	}
	r.Data = data
	if e.Data != nil {
		r.Data, r.Has = append(data, e.Data...), r.Has|HasData
	}
	if e.CostUSD != nil {
		r.CostUSD, r.Has = *e.CostUSD, r.Has|HasCostUSD
	}
	if e.TokenCount != nil {
		r.TokenCount, r.Has = *e.TokenCount, r.Has|HasTokenCount
	}
	if e.Model != nil {
		r.Model, r.Has = *e.Model, r.Has|HasModel
	}
	if e.LeafIndex != nil {
		r.LeafIndex, r.Has = *e.LeafIndex, r.Has|HasLeaf
	}
}

func (s *commitMem) ScanLeaves(ctx context.Context, fn func(int64, *Leaf) error) error {
	for i := range s.rows {
		if r := &s.rows[i]; r.LeafIndex != nil {
			l := treeLeaf(r)
			if err := fn(*r.LeafIndex, &l); err != nil {
				return err
			}
		}
	}
	return nil
}

// The store checks: commitMem keeps no tree of its own beyond its head,
// and its rows' ids are checked by the pass.

func (s *commitMem) CheckStore(ctx context.Context) (*Break, error) { return nil, nil }
func (s *commitMem) KeepsTree() bool                                { return false }

func (s *commitMem) DuplicateID(ctx context.Context) (string, int64, error) {
	n := map[string]int64{}
	for i := range s.rows {
		n[s.rows[i].ID]++
	}
	for i := range s.rows {
		if c := n[s.rows[i].ID]; c > 1 {
			return s.rows[i].ID, c, nil
		}
	}
	return "", 0, nil
}

func (s *commitMem) ReadStoredHashes(ctx context.Context, indexes []int64) ([]tlog.Hash, error) {
	return nil, fmt.Errorf("no stored hashes: %w", ErrNotFound)
}

func (s *commitMem) ScanStoredHashes(ctx context.Context, n int64, fn func(int64, []tlog.Hash) error) error {
	return fmt.Errorf("no stored hashes: %w", ErrNotFound)
}

func (s *commitMem) StoredTree(ctx context.Context) (int64, tlog.Hash, error) {
	return s.storedSize, s.storedRoot, nil
}

func (s *commitMem) AmendmentHashAt(ctx context.Context, seq int64) (string, bool, error) {
	h, ok := s.trail[seq]
	return h, ok, nil
}

// verifyBothWays verifies src with VerifyStore and with Verify and
// VerifyTree, fails unless both give the same report (or the same error),
// and returns VerifyStore's report and whether it walked the chains node
// by node.
func verifyBothWays(tb testing.TB, src *commitMem, nodeID string, cps []SourcedCheckpoint) (*Report, bool) {
	tb.Helper()
	ctx := context.Background()
	exact, exactErr := verifyChains(ctx, src, nodeID, nil)
	if exactErr == nil {
		var tree TreeReport
		tree, exactErr = verifyTree(ctx, src, treeOrigin, cps)
		exact.AddTree(tree)
	}
	scans := len(src.scanArg)
	got, err := VerifyStore(ctx, src, VerifyOptions{NodeID: nodeID, Origin: treeOrigin, Checkpoints: cps})
	walked := len(src.scanArg) > scans
	// VerifyStore also checks the store as a whole, which the walks do
	// not: what it finds there is added to what they report. (The rows of
	// these in-memory sources are in node order, not commit order, so
	// pre-chain rows often follow chained ones.)
	if exact != nil && got != nil && got.Store != nil {
		b := *got.Store
		exact.AddStoreBreak(&b)
	}
	switch {
	case (err == nil) != (exactErr == nil) || (err != nil && err.Error() != exactErr.Error()):
		tb.Fatalf("VerifyStore(%q): error %v; Verify and VerifyTree: %v", nodeID, err, exactErr)
	case err == nil && !reflect.DeepEqual(got, exact):
		g, _ := json.MarshalIndent(got, "", " ")
		w, _ := json.MarshalIndent(exact, "", " ")
		tb.Fatalf("VerifyStore(%q) report differs from Verify and VerifyTree:\ngot  %s\nwant %s", nodeID, g, w)
	}
	return got, walked
}

// checkOnePass is called by mustVerify: VerifyStore must report on src
// what Verify (and VerifyTree) report.
func checkOnePass(tb testing.TB, src chainSource, nodeID string) {
	tb.Helper()
	ms, ok := src.(*memSource)
	if !ok || ms.unsorted || ms.scanErr != nil || ms.headsErr != nil {
		return
	}
	// A copy, so that the calls made here are not recorded in src.
	verifyBothWays(tb, commitOf(&memSource{rows: ms.rows, heads: ms.heads, amends: ms.amends, amendHead: ms.amendHead}), nodeID, nil)
}

// manyNodes returns chains of n rows for each node, interleaved in commit
// order, with payload digests.
func manyNodes(n int, nodes ...string) []StoredEvent {
	var rows []StoredEvent
	chains := make([][]StoredEvent, len(nodes))
	for i, node := range nodes {
		chains[i] = buildChain(node, n)
	}
	for i := range n {
		for j := range nodes {
			r := chains[(i+j)%len(nodes)][i]
			r.Data = json.RawMessage(fmt.Sprintf(`{"i":%d}`, i))
			m := r.Mutable()
			r.PayloadDigest = PayloadDigest(&m)
			rows = append(rows, r)
		}
	}
	return rows
}

func TestVerifyStore(t *testing.T) {
	bogus := strings.Repeat("f", 64)
	rowOf := func(s *commitMem, node string, seq int64) *StoredEvent {
		for i := range s.rows {
			if s.rows[i].NodeID == node && s.rows[i].Seq == seq {
				return &s.rows[i]
			}
		}
		t.Fatalf("no row %s seq %d", node, seq)
		return nil
	}
	indexOf := func(s *commitMem, node string, seq int64) int {
		r := rowOf(s, node, seq)
		for i := range s.rows {
			if &s.rows[i] == r {
				return i
			}
		}
		return -1
	}
	tests := []struct {
		name   string
		rows   int // per node, on nodes a, b, c
		tamper func(s *commitMem)
		nodeID string
		walked bool   // the chains must be walked node by node
		status string // the report's
	}{
		{name: "valid", rows: 5, status: StatusValid},
		{name: "valid, many batches", rows: 1500, status: StatusValid},
		{name: "valid, one node", rows: 700, nodeID: "b", status: StatusValid},
		{name: "one node that has no rows", rows: 3, nodeID: "zz", status: StatusEmpty},
		{name: "empty store", rows: 0, status: StatusEmpty},
		{name: "pre-chain rows among the chained", rows: 4, tamper: func(s *commitMem) {
			old := preChain("b", 3)
			m := Mutable{Data: json.RawMessage(`{}`)}
			old[1].Data, old[1].PayloadDigest = m.Data, PayloadDigest(&m)
			s.rows = append(append(s.rows[:5:5], old...), s.rows[5:]...)
		}, status: StatusInvalid}, // rows without a chain after the chains began
		{name: "an unsealed node", rows: 4, tamper: func(s *commitMem) {
			for i := range s.rows {
				if s.rows[i].NodeID == "c" {
					s.rows[i].PayloadDigest = ""
				}
			}
			s.storedRoot = rootsOf(s.rows)[len(s.rows)] // as the store made it
		}, status: StatusValid},
		{name: "amended payload", rows: 4, tamper: func(s *commitMem) {
			r := rowOf(s, "a", 2)
			r.Data = json.RawMessage(`{"amended":true}`)
			m := r.Mutable()
			r.LastDigest = PayloadDigest(&m)
		}, status: StatusValid},
		{name: "identity altered", rows: 4, tamper: func(s *commitMem) { rowOf(s, "b", 2).TS = "x" },
			walked: true, status: StatusInvalid},
		{name: "identity altered, other node scoped", rows: 4, nodeID: "a", tamper: func(s *commitMem) { rowOf(s, "b", 2).TS = "x" },
			status: StatusValid},
		{name: "payload altered", rows: 4, tamper: func(s *commitMem) { rowOf(s, "c", 3).Data = json.RawMessage(`{}`) },
			walked: true, status: StatusInvalid},
		{name: "payload altered on a pre-chain row", rows: 2, tamper: func(s *commitMem) {
			old := preChain("a", 1)
			old[0].PayloadDigest = bogus
			s.rows = append(s.rows, old...)
		}, walked: true, status: StatusInvalid},
		{name: "digest removed after sealed rows", rows: 4, tamper: func(s *commitMem) { rowOf(s, "a", 3).PayloadDigest = "" },
			walked: true, status: StatusInvalid},
		{name: "rows swapped in commit order", rows: 4, tamper: func(s *commitMem) {
			i, j := indexOf(s, "a", 2), indexOf(s, "a", 3)
			s.rows[i], s.rows[j] = s.rows[j], s.rows[i]
			s.rows[i].LeafIndex, s.rows[j].LeafIndex = s.rows[j].LeafIndex, s.rows[i].LeafIndex
			s.storedRoot = rootsOf(s.rows)[len(s.rows)] // rewritten to match
		}, walked: true, status: StatusValid},
		{name: "row deleted", rows: 4, tamper: func(s *commitMem) { s.deleteRow(t, rowOf(s, "b", 2).ID) },
			walked: true, status: StatusInvalid},
		{name: "last row deleted", rows: 4, tamper: func(s *commitMem) { s.deleteRow(t, rowOf(s, "b", 4).ID) },
			walked: true, status: StatusInvalid},
		{name: "head rewritten", rows: 4, tamper: func(s *commitMem) { s.setHead("c", bogus, 4) },
			walked: true, status: StatusInvalid},
		{name: "head of a node without rows", rows: 2, tamper: func(s *commitMem) { s.setHead("0-orphan", bogus, 1) },
			walked: true, status: StatusInvalid},
		{name: "chain hash nulled", rows: 3, tamper: func(s *commitMem) { rowOf(s, "a", 2).Hash = "" },
			walked: true, status: StatusInvalid},
		{name: "seq nulled", rows: 3, tamper: func(s *commitMem) { rowOf(s, "a", 3).Seq = 0 },
			walked: true, status: StatusInvalid},
		{name: "fork", rows: 3, tamper: func(s *commitMem) {
			f := stamp(chainEvent("a", 9), 2, rowOf(s, "a", 1).Hash)
			s.rows = append(s.rows, f)
		}, walked: true, status: StatusInvalid},
		{name: "an irregular row", rows: 3, tamper: func(s *commitMem) { s.irregular = map[string]bool{rowOf(s, "b", 1).ID: true} },
			walked: true, status: StatusValid},
		{name: "a leaf missing, chains intact", rows: 4, tamper: func(s *commitMem) {
			for i := range s.rows {
				if r := &s.rows[i]; r.LeafIndex != nil && *r.LeafIndex >= 5 {
					idx := *r.LeafIndex + 1
					r.LeafIndex = &idx
				}
			}
		}, status: StatusInvalid},
		{name: "stored tree head rewritten", rows: 4, tamper: func(s *commitMem) { s.storedSize-- }, status: StatusInvalid},
		{name: "no commit-order pass", rows: 4, tamper: func(s *commitMem) { s.noCommitOrder = true },
			walked: true, status: StatusValid},
		{name: "no commit-order pass, tampered", rows: 4, tamper: func(s *commitMem) {
			s.noCommitOrder = true
			rowOf(s, "a", 1).ID = "x"
		}, walked: true, status: StatusInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newCommitMem(manyNodes(tt.rows, "c", "a", "b"))
			if tt.tamper != nil {
				tt.tamper(s)
			}
			rep, walked := verifyBothWays(t, s, tt.nodeID, nil)
			if walked != tt.walked {
				t.Errorf("walked the chains node by node: %v; want %v", walked, tt.walked)
			}
			if rep.Status != tt.status {
				t.Errorf("status %q (%v); want %q", rep.Status, rep.Error, tt.status)
			}
			if s.commitScans != 1 {
				t.Errorf("%d commit-order scans; want 1", s.commitScans)
			}
		})
	}
}

func TestVerifyStoreCheckpoints(t *testing.T) {
	s := newCommitMem(manyNodes(200, "a", "b"))
	roots := rootsOf(s.rows)
	cps := []SourcedCheckpoint{
		sourced("ok", 300, roots[300]),
		sourced("ok at 0", 0, roots[0]),
		sourced("all", 400, roots[400]),
		sourced("wrong root", 100, roots[99]),
		sourced("too large", 401, roots[400]),
	}
	rep, walked := verifyBothWays(t, s, "", cps)
	if walked || rep.Status != StatusInvalid || rep.Tree.Break == nil || rep.Tree.Break.Reason != ReasonRootMismatch {
		t.Errorf("walked %v, status %q, tree break %+v; want one pass, invalid, root mismatch", walked, rep.Status, rep.Tree.Break)
	}
}

func TestVerifyStoreSourceErrors(t *testing.T) {
	errDB := errors.New("database is locked")
	tests := []struct {
		name   string
		src    func() *commitMem
		walked bool
	}{
		{"commit scan fails at once", func() *commitMem {
			s := newCommitMem(manyNodes(3, "a"))
			s.commitErr = errDB
			return s
		}, true},
		{"commit scan fails midway", func() *commitMem {
			s := newCommitMem(manyNodes(1000, "a"))
			s.commitErr, s.commitErrAt = errDB, 700
			return s
		}, true},
		{"both fail", func() *commitMem {
			s := newCommitMem(manyNodes(3, "a"))
			s.commitErr, s.scanErr = errDB, errDB
			return s
		}, true},
		{"heads fail", func() *commitMem {
			s := newCommitMem(manyNodes(3, "a"))
			s.headsErr = errDB
			return s
		}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := tt.src()
			_, walked := verifyBothWays(t, s, "", nil)
			if walked != tt.walked {
				t.Errorf("walked the chains node by node: %v; want %v", walked, tt.walked)
			}
		})
	}
}

func TestVerifyStoreCancelled(t *testing.T) {
	s := newCommitMem(manyNodes(2000, "a", "b"))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if rep, err := VerifyStore(ctx, s, VerifyOptions{}); !errors.Is(err, context.Canceled) {
		t.Errorf("VerifyStore with a cancelled context: %+v, %v; want context.Canceled", rep, err)
	}
	// Cancelled while the rows flow: fn sees the cancellation.
	ctx, cancel = context.WithCancel(context.Background())
	s.commitErr, s.commitErrAt = nil, 0
	calls := 0
	src := &cancelAfter{commitMem: s, n: 2, cancel: cancel, calls: &calls}
	if rep, err := VerifyStore(ctx, src, VerifyOptions{}); !errors.Is(err, context.Canceled) {
		t.Errorf("VerifyStore cancelled midway: %+v, %v; want context.Canceled", rep, err)
	}
}

// cancelAfter cancels the verification after n batches.
type cancelAfter struct {
	*commitMem
	n      int
	cancel func()
	calls  *int
}

func (c *cancelAfter) ScanCommitOrder(ctx context.Context, buf []CommitRow, fn func([]CommitRow) ([]CommitRow, error)) error {
	return c.commitMem.ScanCommitOrder(ctx, buf, func(rows []CommitRow) ([]CommitRow, error) {
		if *c.calls++; *c.calls == c.n {
			c.cancel()
		}
		return fn(rows)
	})
}

func TestPassLeafHash(t *testing.T) {
	var h passHasher
	for _, l := range []Leaf{
		{NodeID: "node-a", Seq: 1, ChainHash: strings.Repeat("a", 64), PayloadDigest: strings.Repeat("b", 64)},
		{NodeID: "", Seq: 0, ChainHash: "", PayloadDigest: ""},
		{NodeID: "n\x00é", Seq: -7, ChainHash: "short", PayloadDigest: ""},
		{NodeID: strings.Repeat("long-node-", 20), Seq: 1 << 62, ChainHash: "x", PayloadDigest: "y"},
	} {
		r := CommitRow{NodeID: l.NodeID, Seq: l.Seq, Hash: l.ChainHash, PayloadDigest: l.PayloadDigest}
		if got, want := h.leafHash(&r), LeafHash(&l); got != want {
			t.Errorf("leafHash(%+v) = %x; want LeafHash's %x", l, got, want)
		}
	}
}

func TestHexEqual(t *testing.T) {
	sum := sha256.Sum256([]byte("chainlog"))
	good := hex.EncodeToString(sum[:])
	tests := []struct {
		s    string
		want bool
	}{
		{good, true},
		{strings.ToUpper(good), false},
		{good[:63], false},
		{good + "0", false},
		{"", false},
		{good[:62] + "00", good[62:] == "00"},
		{strings.Repeat("0", 64), false},
	}
	for _, tt := range tests {
		if got := hexEqual(sum, tt.s); got != tt.want {
			t.Errorf("hexEqual(%x, %q) = %v; want %v", sum, tt.s, got, tt.want)
		}
	}
}

func TestCommitRowStored(t *testing.T) {
	rows := manyNodes(1, "a")
	e := rows[0]
	e.Data, e.CostUSD, e.TokenCount, e.Model = json.RawMessage(``), fp(0.5), ip(7), sp("")
	e.WorkspaceID = nil
	idx := int64(3)
	e.LeafIndex = &idx
	var r CommitRow
	toCommitRow(&e, &r)
	var got StoredEvent
	r.stored(&got)
	got.LeafIndex, e.CreatedAt = &idx, got.CreatedAt
	if !reflect.DeepEqual(got, e) {
		t.Errorf("stored() = %+v; want %+v", got, e)
	}
	if got.Data == nil {
		t.Errorf("stored(): empty data became NULL")
	}
}
