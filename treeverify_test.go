package chainlog

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"golang.org/x/mod/sumdb/tlog"
)

const treeOrigin = "chainlog/test-host/tree.db"

// memTree is a treeSource (and a chainSource) over events in memory, in
// commit order. Its leaves are recomputed from the events; indexes, when
// set, replaces the leaf indexes ScanLeaves reports; the stored tree head
// is kept apart so that it can disagree with the events.
type memTree struct {
	trail      map[int64]string // amendment seq -> hash
	events     []StoredEvent
	indexes    []int64 // nil: 0, 1, 2, ...
	skip       map[int]bool
	storedSize int64
	storedRoot tlog.Hash
	scanErr    error
	storedErr  error
}

// treeEvents returns n stamped events on three nodes, interleaved in commit
// order, sealed with their payload digest at ingest but for each node's
// first (written, say, before payload digests existed).
func treeEvents(n int) []StoredEvent {
	prev := map[string]string{}
	seq := map[string]int64{}
	var out []StoredEvent
	for i := 0; i < n; i++ {
		node := []string{"node-a", "node-b", "node-c"}[i%3]
		if prev[node] == "" {
			prev[node] = GenesisHash
		}
		seq[node]++
		e := Event{ID: fmt.Sprintf("%s/ev-%d", node, seq[node]), AgentType: "claude_code", NodeID: node, AgentID: "main",
			EventType: "tool_call", TS: fmt.Sprintf("2026-01-01T00:%02d:%02dZ", i/60, i%60)}
		se := StoredEvent{Event: e, CreatedAt: "2026-01-01 00:00:00", Seq: seq[node], PrevHash: prev[node]}
		var h Hasher
		se.Hash = h.SumStored(se.PrevHash, &se.Event)
		if i >= 3 {
			m := se.Mutable()
			se.PayloadDigest = PayloadDigest(&m)
		}
		prev[node] = se.Hash
		out = append(out, se)
	}
	return out
}

func treeLeaf(e *StoredEvent) Leaf {
	return Leaf{NodeID: e.NodeID, Seq: e.Seq, ChainHash: e.Hash, PayloadDigest: e.PayloadDigest}
}

// rootsOf returns the tree heads of the events' leaves at every size.
func rootsOf(events []StoredEvent) []tlog.Hash {
	var b TreeBuilder
	roots := []tlog.Hash{b.Root()}
	for i := range events {
		l := treeLeaf(&events[i])
		b.Add(LeafHash(&l))
		roots = append(roots, b.Root())
	}
	return roots
}

// newMemTree returns a consistent store of n events.
func newMemTree(n int) *memTree {
	events := treeEvents(n)
	roots := rootsOf(events)
	return &memTree{events: events, storedSize: int64(n), storedRoot: roots[n]}
}

func (m *memTree) ScanLeaves(ctx context.Context, fn func(int64, *Leaf) error) error {
	if m.scanErr != nil {
		return m.scanErr
	}
	for i := range m.events {
		if m.skip[i] {
			continue
		}
		idx := int64(i)
		if m.indexes != nil {
			idx = m.indexes[i]
		}
		l := treeLeaf(&m.events[i])
		if err := fn(idx, &l); err != nil {
			return err
		}
	}
	return nil
}

func (m *memTree) StoredTree(ctx context.Context) (int64, tlog.Hash, error) {
	return m.storedSize, m.storedRoot, m.storedErr
}

func (m *memTree) AmendmentHashAt(ctx context.Context, seq int64) (string, bool, error) {
	h, ok := m.trail[seq]
	return h, ok, nil
}

func (m *memTree) byNode() []StoredEvent {
	rows := slices.Clone(m.events)
	slices.SortStableFunc(rows, func(a, b StoredEvent) int {
		if c := strings.Compare(a.NodeID, b.NodeID); c != 0 {
			return c
		}
		return int(a.Seq - b.Seq)
	})
	return rows
}

func (m *memTree) Heads(ctx context.Context, nodeID string) ([]Head, error) {
	var heads []Head
	for _, r := range m.byNode() {
		if nodeID != "" && r.NodeID != nodeID {
			continue
		}
		if len(heads) == 0 || heads[len(heads)-1].NodeID != r.NodeID {
			heads = append(heads, Head{NodeID: r.NodeID})
		}
		heads[len(heads)-1].Seq, heads[len(heads)-1].Hash = r.Seq, r.Hash
	}
	return heads, nil
}

func (m *memTree) ScanChains(ctx context.Context, nodeID string, fn func(*StoredEvent) error) error {
	for _, r := range m.byNode() {
		if nodeID != "" && r.NodeID != nodeID {
			continue
		}
		if err := fn(&r); err != nil {
			return err
		}
	}
	return nil
}

func (m *memTree) AmendmentHead(ctx context.Context) (*Head, error) { return nil, nil }

func (m *memTree) ScanAmendments(ctx context.Context, fn func(*AmendmentScan) error) error {
	return nil
}

func b64(h tlog.Hash) string { return base64.StdEncoding.EncodeToString(h[:]) }

// sourced returns a checkpoint of the given size and root from source.
func sourced(source string, size int64, root tlog.Hash) SourcedCheckpoint {
	return SourcedCheckpoint{Checkpoint: Checkpoint{Origin: treeOrigin, Size: size, Root: root}, Source: source}
}

func mustVerifyTree(t *testing.T, src treeSource, origin string, cps []SourcedCheckpoint) TreeReport {
	t.Helper()
	rep, err := verifyTree(context.Background(), src, origin, cps)
	if err != nil {
		t.Fatalf("VerifyTree: %v", err)
	}
	if len(rep.Checkpoints) != len(cps) {
		t.Fatalf("VerifyTree: %d checkpoint reports for %d checkpoints", len(rep.Checkpoints), len(cps))
	}
	for i, c := range cps {
		cr := rep.Checkpoints[i]
		if cr.Source != c.Source || cr.Origin != c.Origin || cr.Size != c.Size || cr.Root != b64(c.Root) {
			t.Errorf("checkpoint report %d: got %+v, want source %q origin %q size %d root %s", i, cr, c.Source, c.Origin, c.Size, b64(c.Root))
		}
	}
	return rep
}

// wantCP is what one checkpoint report should say: its status, its reason
// (a prefix) and, when the store had that many leaves, the store's root.
type wantCP struct {
	status, reason string
	storeRoot      *tlog.Hash
}

func checkCheckpoints(t *testing.T, rep TreeReport, want []wantCP) {
	t.Helper()
	for i, w := range want {
		got := rep.Checkpoints[i]
		if got.Status != w.status {
			t.Errorf("checkpoint %d (%s, size %d): status %q (%s), want %q", i, got.Source, got.Size, got.Status, got.Reason, w.status)
		}
		if !strings.HasPrefix(got.Reason, w.reason) || (w.reason == "") != (got.Reason == "") {
			t.Errorf("checkpoint %d (%s, size %d): reason %q, want %q", i, got.Source, got.Size, got.Reason, w.reason)
		}
		wantRoot := ""
		if w.storeRoot != nil {
			wantRoot = b64(*w.storeRoot)
		}
		if got.StoreRoot != wantRoot {
			t.Errorf("checkpoint %d (%s, size %d): store root %q, want %q", i, got.Source, got.Size, got.StoreRoot, wantRoot)
		}
	}
}

func valid(root tlog.Hash) wantCP { return wantCP{status: StatusValid, storeRoot: &root} }

func TestVerifyTreeValid(t *testing.T) {
	src := newMemTree(20)
	roots := rootsOf(src.events)
	cps := []SourcedCheckpoint{
		sourced("file #1", 16, roots[16]),
		sourced("file #2", 0, roots[0]),
		sourced("file #3", 20, roots[20]),
		sourced("file #4", 1, roots[1]),
		sourced("file #5", 7, roots[7]),
		sourced("store", 7, roots[7]), // the same checkpoint twice
	}
	rep := mustVerifyTree(t, src, treeOrigin, cps)
	if rep.Status != StatusValid || rep.Break != nil {
		t.Fatalf("status %q, break %v; want valid", rep.Status, rep.Break)
	}
	if got, want := rep.Leaves, int64(20); got != want {
		t.Errorf("leaves: got %d, want %d", got, want)
	}
	if got, want := rep.Root, b64(roots[20]); got != want {
		t.Errorf("root: got %s, want %s", got, want)
	}
	checkCheckpoints(t, rep, []wantCP{valid(roots[16]), valid(roots[0]), valid(roots[20]), valid(roots[1]), valid(roots[7]), valid(roots[7])})

	// Without checkpoints, the tree alone.
	rep = mustVerifyTree(t, src, "", nil)
	if rep.Status != StatusValid || rep.Leaves != 20 || rep.Break != nil {
		t.Errorf("no checkpoints: got %+v, want valid with 20 leaves", rep)
	}
}

func TestVerifyTreeEmpty(t *testing.T) {
	src := newMemTree(0)
	if got, want := src.storedRoot, tlog.Hash(emptyTreeHash); got != want {
		t.Fatalf("fixture: empty stored root %x, want %x", got, want)
	}
	rep := mustVerifyTree(t, src, treeOrigin, nil)
	if rep.Status != StatusEmpty || rep.Leaves != 0 || rep.Root != b64(emptyTreeHash) || rep.Break != nil {
		t.Errorf("empty store: got %+v, want empty with the empty root", rep)
	}
	rep = mustVerifyTree(t, src, treeOrigin, []SourcedCheckpoint{sourced("f", 0, emptyTreeHash)})
	if rep.Status != StatusValid {
		t.Errorf("empty store, checkpoint of size 0: status %q, want valid", rep.Status)
	}
	checkCheckpoints(t, rep, []wantCP{valid(emptyTreeHash)})

	// A checkpoint of size 0 must have the empty root.
	rep = mustVerifyTree(t, src, treeOrigin, []SourcedCheckpoint{sourced("f", 0, tlog.Hash{})})
	if rep.Status != StatusInvalid {
		t.Errorf("checkpoint of size 0 with a zero root: status %q, want invalid", rep.Status)
	}
	empty := tlog.Hash(emptyTreeHash)
	checkCheckpoints(t, rep, []wantCP{{StatusInvalid, ReasonRootMismatch, &empty}})

	// An empty store with a checkpoint of size 1: rolled back.
	rep = mustVerifyTree(t, src, treeOrigin, []SourcedCheckpoint{sourced("f", 1, tlog.Hash{1})})
	checkCheckpoints(t, rep, []wantCP{{StatusInvalid, ReasonTruncated, nil}})
}

func TestVerifyTreeTruncated(t *testing.T) {
	full := newMemTree(25)
	roots := rootsOf(full.events)
	// The tail deleted and the tree head rewound to match.
	src := &memTree{events: full.events[:20], storedSize: 20, storedRoot: roots[20]}
	cps := []SourcedCheckpoint{
		sourced("old", 10, roots[10]),
		sourced("new", 25, roots[25]),
		sourced("at the cut", 20, roots[20]),
		sourced("newer", 21, roots[21]),
	}
	rep := mustVerifyTree(t, src, treeOrigin, cps)
	if rep.Status != StatusInvalid {
		t.Fatalf("status %q, want invalid", rep.Status)
	}
	checkCheckpoints(t, rep, []wantCP{valid(roots[10]), {StatusInvalid, ReasonTruncated, nil}, valid(roots[20]), {StatusInvalid, ReasonTruncated, nil}})
	want := &Break{Trail: TrailTree, Seq: 25, Reason: ReasonTruncated, Expected: "25 leaves", Found: "20 leaves"}
	checkTreeBreak(t, rep.Break, want, "new")
}

func checkTreeBreak(t *testing.T, got, want *Break, detail string) {
	t.Helper()
	if got == nil {
		t.Fatalf("break: got nil, want %+v", want)
	}
	g, w := *got, *want
	g.Detail, w.Detail = "", ""
	if g != w {
		t.Errorf("break:\n got %+v\nwant %+v", g, w)
	}
	if !strings.Contains(got.Detail, detail) {
		t.Errorf("break detail: got %q, want it to contain %q", got.Detail, detail)
	}
}

func TestVerifyTreeLeafAltered(t *testing.T) {
	const altered = 10
	orig := newMemTree(20)
	roots := rootsOf(orig.events)
	for _, tc := range []struct {
		name   string
		change func(e *StoredEvent)
	}{
		{"chain hash", func(e *StoredEvent) { e.Hash = flipStringBit(e.Hash) }},
		{"payload digest", func(e *StoredEvent) { e.PayloadDigest = flipStringBit(e.PayloadDigest) }},
		{"seq", func(e *StoredEvent) { e.Seq++ }},
		{"node", func(e *StoredEvent) { e.NodeID = "node-z" }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src := newMemTree(20)
			tc.change(&src.events[altered])
			newRoots := rootsOf(src.events)
			cps := []SourcedCheckpoint{
				sourced("covering", 11, roots[11]),
				sourced("before", 10, roots[10]),
				sourced("full", 20, roots[20]),
				sourced("small", 3, roots[3]),
			}
			rep := mustVerifyTree(t, src, treeOrigin, cps)
			checkCheckpoints(t, rep, []wantCP{
				{StatusInvalid, ReasonRootMismatch, &newRoots[11]},
				valid(roots[10]),
				{StatusInvalid, ReasonRootMismatch, &newRoots[20]},
				valid(roots[3]),
			})
			// The stored head still has the old root.
			want := &Break{Trail: TrailTree, Seq: 20, Reason: ReasonTreeHeadMismatch, Expected: b64(newRoots[20]), Found: b64(roots[20])}
			checkTreeBreak(t, rep.Break, want, "")
			if rep.Status != StatusInvalid {
				t.Errorf("status %q, want invalid", rep.Status)
			}

			// Everything recomputed, the tree head too: the checkpoints
			// still catch it.
			src.storedRoot = newRoots[20]
			rep = mustVerifyTree(t, src, treeOrigin, cps)
			want = &Break{Trail: TrailTree, Seq: 11, Reason: ReasonRootMismatch, Expected: b64(roots[11]), Found: b64(newRoots[11])}
			checkTreeBreak(t, rep.Break, want, "covering")
			if rep.Status != StatusInvalid {
				t.Errorf("recomputed: status %q, want invalid", rep.Status)
			}
		})
	}
}

func TestVerifyTreeLeafMissing(t *testing.T) {
	orig := newMemTree(20)
	roots := rootsOf(orig.events)
	cps := []SourcedCheckpoint{
		sourced("before the gap", 12, roots[12]),
		sourced("after the gap", 15, roots[15]),
		sourced("small", 5, roots[5]),
		sourced("full", 20, roots[20]),
	}
	for _, tc := range []struct {
		name  string
		mod   func(m *memTree)
		found string
	}{
		{"leaf deleted", func(m *memTree) { m.skip = map[int]bool{12: true} }, "13"},
		{"leaves deleted", func(m *memTree) { m.skip = map[int]bool{12: true, 13: true, 17: true} }, "14"},
		{"index repeated", func(m *memTree) {
			m.indexes = make([]int64, len(m.events))
			for i := range m.indexes {
				m.indexes[i] = int64(i)
			}
			m.indexes[12] = 11
		}, "11"},
		{"renumbered", func(m *memTree) {
			m.indexes = make([]int64, len(m.events))
			for i := range m.indexes {
				m.indexes[i] = int64(i)
				if i >= 12 {
					m.indexes[i] += 100
				}
			}
		}, "112"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src := newMemTree(20)
			tc.mod(src)
			rep := mustVerifyTree(t, src, treeOrigin, cps)
			if rep.Status != StatusInvalid {
				t.Errorf("status %q, want invalid", rep.Status)
			}
			if got, want := rep.Leaves, int64(12); got != want {
				t.Errorf("leaves: got %d, want %d", got, want)
			}
			missing := ReasonLeafMissing + " (leaf 12 is missing)"
			checkCheckpoints(t, rep, []wantCP{
				valid(roots[12]),
				{StatusInvalid, missing, nil},
				valid(roots[5]),
				{StatusInvalid, missing, nil},
			})
			want := &Break{Trail: TrailTree, Seq: 12, Reason: ReasonLeafMissing, Expected: "12", Found: tc.found}
			checkTreeBreak(t, rep.Break, want, "expected leaf 12, found leaf "+tc.found)
		})
	}
}

func TestVerifyTreeStoredHead(t *testing.T) {
	src := newMemTree(20)
	roots := rootsOf(src.events)
	cps := []SourcedCheckpoint{sourced("f", 20, roots[20]), sourced("g", 9, roots[9])}
	for _, tc := range []struct {
		name string
		size int64
		root tlog.Hash
	}{
		{"root altered", 20, flipBit(roots[20], 3)},
		{"rewound", 19, roots[19]},
		{"ahead", 21, roots[20]},
		{"zero", 0, tlog.Hash{}},
		{"empty", 0, emptyTreeHash},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src.storedSize, src.storedRoot = tc.size, tc.root
			rep := mustVerifyTree(t, src, treeOrigin, cps)
			if rep.Status != StatusInvalid {
				t.Errorf("status %q, want invalid", rep.Status)
			}
			want := &Break{Trail: TrailTree, Seq: tc.size, Reason: ReasonTreeHeadMismatch, Expected: b64(roots[20]), Found: b64(tc.root)}
			checkTreeBreak(t, rep.Break, want, fmt.Sprintf("tree of 20 leaves, the stored head says %d", tc.size))
			// The checkpoints themselves match the events.
			checkCheckpoints(t, rep, []wantCP{valid(roots[20]), valid(roots[9])})
		})
	}
}

func TestVerifyTreeEquivocation(t *testing.T) {
	src := newMemTree(20)
	roots := rootsOf(src.events)
	forged := flipBit(roots[8], 0)
	cps := []SourcedCheckpoint{
		sourced("a", 5, roots[5]),
		sourced("b", 8, roots[8]),
		sourced("c", 8, forged),
		sourced("d", 20, roots[20]),
	}
	rep := mustVerifyTree(t, src, treeOrigin, cps)
	if rep.Status != StatusInvalid {
		t.Fatalf("status %q, want invalid", rep.Status)
	}
	checkCheckpoints(t, rep, []wantCP{
		valid(roots[5]),
		{StatusInvalid, ReasonEquivocation, &roots[8]},
		{StatusInvalid, ReasonEquivocation, &roots[8]},
		valid(roots[20]),
	})
	want := &Break{Trail: TrailTree, Seq: 8, Reason: ReasonEquivocation, Expected: b64(roots[8]), Found: b64(roots[8])}
	checkTreeBreak(t, rep.Break, want, "b")

	// Two forged checkpoints of a size larger than the store equivocate too.
	cps = []SourcedCheckpoint{sourced("x", 30, tlog.Hash{1}), sourced("y", 30, tlog.Hash{2})}
	rep = mustVerifyTree(t, src, treeOrigin, cps)
	checkCheckpoints(t, rep, []wantCP{{StatusInvalid, ReasonEquivocation, nil}, {StatusInvalid, ReasonEquivocation, nil}})

	// Checkpoints of two different logs do not equivocate: each is
	// compared on its own (no origin given).
	other := sourced("other log", 8, forged)
	other.Origin = "chainlog/other-host/other.db"
	rep = mustVerifyTree(t, src, "", []SourcedCheckpoint{sourced("b", 8, roots[8]), other})
	checkCheckpoints(t, rep, []wantCP{valid(roots[8]), {StatusInvalid, ReasonRootMismatch, &roots[8]}})
}

func TestVerifyTreeInvalidCheckpoint(t *testing.T) {
	src := newMemTree(20)
	roots := rootsOf(src.events)
	const why = "checkpoint signature does not verify: not signed by chainlog/test-host/tree.db"
	bad := sourced("forged", 8, flipBit(roots[8], 9))
	bad.Invalid = why
	huge := sourced("forged huge", 1000, tlog.Hash{})
	huge.Invalid = why
	cps := []SourcedCheckpoint{sourced("good", 8, roots[8]), bad, huge, sourced("full", 20, roots[20])}
	rep := mustVerifyTree(t, src, treeOrigin, cps)
	if rep.Status != StatusInvalid {
		t.Fatalf("status %q, want invalid", rep.Status)
	}
	// Not compared: no store root, no equivocation with "good", no
	// truncation for the huge one.
	checkCheckpoints(t, rep, []wantCP{
		valid(roots[8]),
		{StatusInvalid, why, nil},
		{StatusInvalid, why, nil},
		valid(roots[20]),
	})
	want := &Break{Trail: TrailTree, Seq: 8, Reason: why, Expected: b64(bad.Root), Found: ""}
	checkTreeBreak(t, rep.Break, want, "forged")
	if rep.Checkpoints[1].Reason != why || rep.Checkpoints[2].Reason != why {
		t.Errorf("reasons %q, %q; want %q", rep.Checkpoints[1].Reason, rep.Checkpoints[2].Reason, why)
	}
}

func TestVerifyTreeOrigin(t *testing.T) {
	src := newMemTree(12)
	roots := rootsOf(src.events)
	other := sourced("other", 6, roots[6])
	other.Origin = "chainlog/other-host/tree.db"
	cps := []SourcedCheckpoint{sourced("mine", 6, roots[6]), other}

	rep := mustVerifyTree(t, src, treeOrigin, cps)
	if rep.Status != StatusInvalid {
		t.Errorf("status %q, want invalid", rep.Status)
	}
	checkCheckpoints(t, rep, []wantCP{valid(roots[6]), {StatusInvalid, ReasonWrongOrigin, &roots[6]}})
	if r := rep.Checkpoints[1].Reason; !strings.Contains(r, other.Origin) || !strings.Contains(r, treeOrigin) {
		t.Errorf("reason %q, want it to name both origins", r)
	}
	checkTreeBreak(t, rep.Break, &Break{Trail: TrailTree, Seq: 6, Reason: rep.Checkpoints[1].Reason, Expected: b64(roots[6]), Found: b64(roots[6])}, "other")

	// Without an origin, any origin is accepted.
	rep = mustVerifyTree(t, src, "", cps)
	if rep.Status != StatusValid {
		t.Errorf("no origin: status %q, want valid", rep.Status)
	}
	checkCheckpoints(t, rep, []wantCP{valid(roots[6]), valid(roots[6])})
}

func TestVerifyTreeSourceErrors(t *testing.T) {
	boom := errors.New("disk on fire")
	src := newMemTree(5)
	src.scanErr = boom
	if _, err := verifyTree(context.Background(), src, "", nil); !errors.Is(err, boom) {
		t.Errorf("scan error: got %v, want %v", err, boom)
	}
	src = newMemTree(5)
	src.storedErr = boom
	if _, err := verifyTree(context.Background(), src, "", nil); !errors.Is(err, boom) {
		t.Errorf("stored tree error: got %v, want %v", err, boom)
	}
}

func TestReportAddTree(t *testing.T) {
	ctx := context.Background()
	src := newMemTree(15)
	roots := rootsOf(src.events)
	rep, err := verifyChains(ctx, src, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Status != StatusValid || rep.BrokenAt != nil || rep.Checked != 15 {
		t.Fatalf("chains: status %q, checked %d, break %v; want valid, 15", rep.Status, rep.Checked, rep.BrokenAt)
	}

	good := mustVerifyTree(t, src, treeOrigin, []SourcedCheckpoint{sourced("f", 15, roots[15])})
	r := *rep
	r.AddTree(good)
	if r.Status != StatusValid || r.BrokenAt != nil || r.Error != nil {
		t.Errorf("valid tree: status %q, break %v, error %v; want valid", r.Status, r.BrokenAt, r.Error)
	}
	if r.Tree == nil || r.Tree.Status != StatusValid {
		t.Errorf("valid tree: Tree = %+v", r.Tree)
	}

	bad := mustVerifyTree(t, src, treeOrigin, []SourcedCheckpoint{sourced("f", 16, roots[15])})
	if bad.Break == nil {
		t.Fatal("truncated tree has no break")
	}
	r = *rep
	r.AddTree(bad)
	if r.Status != StatusInvalid {
		t.Errorf("invalid tree: status %q, want invalid", r.Status)
	}
	if r.BrokenAt == nil || *r.BrokenAt != *bad.Break {
		t.Errorf("invalid tree: BrokenAt %+v, want the tree's %+v", r.BrokenAt, bad.Break)
	}
	if r.Error == nil || !strings.Contains(*r.Error, ReasonTruncated) || !strings.HasPrefix(*r.Error, TrailTree+" ") {
		t.Errorf("invalid tree: error %v, want the tree's break", r.Error)
	}
	if r.Tree == nil || r.Tree.Status != StatusInvalid {
		t.Errorf("invalid tree: Tree = %+v", r.Tree)
	}

	// A chain broken first keeps its break.
	src.events[4].TS = "2027-01-01T00:00:00Z"
	chainBroken, err := verifyChains(ctx, src, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	if chainBroken.BrokenAt == nil || chainBroken.BrokenAt.Reason != ReasonHashMismatch {
		t.Fatalf("altered event: break %+v, want %q", chainBroken.BrokenAt, ReasonHashMismatch)
	}
	chainBreak := *chainBroken.BrokenAt
	chainBroken.AddTree(bad)
	if chainBroken.Status != StatusInvalid || chainBroken.BrokenAt == nil || *chainBroken.BrokenAt != chainBreak {
		t.Errorf("chain broken first: status %q, break %+v; want invalid with the chain's break %+v", chainBroken.Status, chainBroken.BrokenAt, chainBreak)
	}
}

func TestVerifyTreeAmendmentTrail(t *testing.T) {
	src := newMemTree(5)
	src.trail = map[int64]string{1: strings.Repeat("a", 64), 2: strings.Repeat("b", 64)}
	size, root, _ := src.StoredTree(context.Background())
	base := Checkpoint{Origin: cpOrigin, Size: size, Root: root}
	tests := []struct {
		name   string
		cp     Checkpoint
		status string
	}{
		{"no trail recorded", base, StatusValid},
		{"trail head matches", base.WithAmendments(2, strings.Repeat("b", 64)), StatusValid},
		{"an older trail head still held", base.WithAmendments(1, strings.Repeat("a", 64)), StatusValid},
		{"record edited", base.WithAmendments(2, strings.Repeat("c", 64)), StatusInvalid},
		{"records deleted", base.WithAmendments(3, strings.Repeat("d", 64)), StatusInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rep := mustVerifyTree(t, src, "", []SourcedCheckpoint{{Checkpoint: tt.cp, Source: "test"}})
			if rep.Status != tt.status {
				t.Fatalf("status %q, want %q (%+v)", rep.Status, tt.status, rep.Checkpoints)
			}
			if tt.status == StatusInvalid && !strings.HasPrefix(rep.Checkpoints[0].Reason, ReasonTrailRewritten) {
				t.Errorf("reason %q, want %q", rep.Checkpoints[0].Reason, ReasonTrailRewritten)
			}
		})
	}
}
