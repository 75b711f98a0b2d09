package chainlog

import (
	"context"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"sort"

	"golang.org/x/mod/sumdb/tlog"
)

// CheckpointReport is the result of comparing one checkpoint with the store.
type CheckpointReport struct {
	Source string `json:"source"` // where the checkpoint came from
	Origin string `json:"origin"`
	Size   int64  `json:"size"`
	Root   string `json:"root"`
	Status string `json:"status"`
	Reason string `json:"reason,omitempty"`
	// StoreRoot is the root of the store's tree at Size, when the store
	// has that many leaves.
	StoreRoot string `json:"store_root,omitempty"`
}

// TreeReport is the result of verifying the Merkle tree and checkpoints.
type TreeReport struct {
	Status      string             `json:"status"`
	Leaves      int64              `json:"leaves"`
	Root        string             `json:"root"`
	Checkpoints []CheckpointReport `json:"checkpoints"`
	Break       *Break             `json:"broken_at"`
}

// SourcedCheckpoint is a checkpoint whose signature has been checked (or,
// for the copy kept in the store, not), with where it came from. Invalid,
// when not empty, says why it was rejected before any comparison (a bad
// signature, say); such a checkpoint is reported and not compared.
type SourcedCheckpoint struct {
	Checkpoint
	Source  string
	Invalid string
}

// VerifyTree recomputes the Merkle tree from the events in one streaming
// pass, compares it with the stored tree head, and compares each checkpoint
// with the tree at the checkpoint's size. origin, when not empty, is the
// store's own origin; checkpoints naming another log fail.
func verifyTree(ctx context.Context, src treeSource, origin string, cps []SourcedCheckpoint) (TreeReport, error) {
	t := newTreeVerifier(origin, cps)
	err := src.ScanLeaves(ctx, func(index int64, l *Leaf) error {
		if !t.add(index, LeafHash(l), l.NodeID, l.Seq) {
			return errStopScan
		}
		return nil
	})
	if err != nil && err != errStopScan {
		return t.rep, fmt.Errorf("scan leaves: %w", err)
	}
	return t.finish(ctx, src)
}

// treeVerifier is VerifyTree's state between leaves: the tree so far and
// the checkpoints not yet reached, smallest first.
type treeVerifier struct {
	rep    TreeReport
	cps    []SourcedCheckpoint
	order  []int // valid checkpoints by size
	next   int   // position in order
	origin string
	b      TreeBuilder
}

func newTreeVerifier(origin string, cps []SourcedCheckpoint) *treeVerifier {
	order := make([]int, len(cps))
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(a, b int) bool { return cps[order[a]].Size < cps[order[b]].Size })
	t := &treeVerifier{rep: TreeReport{Checkpoints: make([]CheckpointReport, len(cps))}, cps: cps, origin: origin}
	for i, c := range cps {
		t.rep.Checkpoints[i] = CheckpointReport{Source: c.Source, Origin: c.Origin, Size: c.Size,
			Root: base64.StdEncoding.EncodeToString(c.Root[:])}
		if c.Invalid != "" {
			t.rep.Checkpoints[i].Status, t.rep.Checkpoints[i].Reason = StatusInvalid, c.Invalid
		}
	}
	t.order = slices.DeleteFunc(order, func(i int) bool { return cps[i].Invalid != "" })
	t.b.digests = newBlockDigests() // for compareStoredHashes
	t.settle()
	return t
}

// settle compares every checkpoint of the tree's current size.
func (t *treeVerifier) settle() {
	for t.next < len(t.order) && t.cps[t.order[t.next]].Size == t.b.Size() {
		t.rep.Checkpoints[t.order[t.next]].settle(t.cps[t.order[t.next]].Root, t.b.Root(), t.origin)
		t.next++
	}
}

// add adds the leaf hash h of leaf index, which belongs to node's seq. It
// returns false when the leaf is not the next one: the tree breaks there
// and no further leaf may be added.
func (t *treeVerifier) add(index int64, h tlog.Hash, node string, seq int64) bool {
	if index != t.b.Size() {
		if t.rep.Break == nil {
			t.rep.Break = leafGap(t.b.Size(), index, node, seq)
		}
		return false
	}
	t.b.Add(h)
	t.settle()
	return true
}

// finish closes the walk: the checkpoints beyond the tree, the stored tree
// head, the trail heads the checkpoints record, and equivocation.
func (t *treeVerifier) finish(ctx context.Context, src treeSource) (TreeReport, error) {
	rep := &t.rep
	rep.Leaves = t.b.Size()
	root := t.b.Root()
	rep.Root = base64.StdEncoding.EncodeToString(root[:])
	for ; t.next < len(t.order); t.next++ {
		cr := &rep.Checkpoints[t.order[t.next]]
		cr.Status, cr.Reason = StatusInvalid, ReasonTruncated
		if rep.Break != nil { // the walk stopped at a gap
			cr.Reason = fmt.Sprintf("%s (leaf %d is missing)", ReasonLeafMissing, rep.Break.Seq)
		}
	}
	if rep.Break == nil {
		if err := compareStoredTree(ctx, src, &t.b, rep); err != nil {
			return *rep, err
		}
	}
	if rep.Break == nil {
		if err := compareStoredHashes(ctx, src, &t.b, rep); err != nil {
			return *rep, err
		}
	}
	if err := checkTrails(ctx, src, t.cps, rep); err != nil {
		return *rep, err
	}
	checkEquivocation(t.cps, rep)
	rep.finish()
	return *rep, nil
}

// checkTrails compares the amendment trail head each checkpoint records
// with the store's trail.
func checkTrails(ctx context.Context, src treeSource, cps []SourcedCheckpoint, rep *TreeReport) error {
	for i, c := range cps {
		if c.Invalid != "" || rep.Checkpoints[i].Status == StatusInvalid {
			continue
		}
		seq, hash, ok, err := c.Amendments()
		if err != nil || !ok {
			continue
		}
		got, found, err := src.AmendmentHashAt(ctx, seq)
		if err != nil {
			return fmt.Errorf("read amendment %d: %w", seq, err)
		}
		if !found || got != hash {
			cr := &rep.Checkpoints[i]
			cr.Status, cr.Reason = StatusInvalid, ReasonTrailRewritten+fmt.Sprintf(" (record %d)", seq)
		}
	}
	return nil
}

var errStopScan = fmt.Errorf("stop scan")

func (cr *CheckpointReport) settle(want, got tlog.Hash, origin string) {
	cr.StoreRoot = base64.StdEncoding.EncodeToString(got[:])
	switch {
	case origin != "" && cr.Origin != origin:
		cr.Status, cr.Reason = StatusInvalid, ReasonWrongOrigin+fmt.Sprintf(" (%q, the store is %q)", cr.Origin, origin)
	case want != got:
		cr.Status, cr.Reason = StatusInvalid, ReasonRootMismatch
	default:
		cr.Status = StatusValid
	}
}

func compareStoredTree(ctx context.Context, src treeSource, b *TreeBuilder, rep *TreeReport) error {
	size, root, err := src.StoredTree(ctx)
	if err != nil {
		return fmt.Errorf("read stored tree: %w", err)
	}
	rep.Break = treeHeadBreak(b, size, root)
	return nil
}

// leafGap is the break of a tree of size leaves whose next leaf, of node's
// seq, has index instead.
func leafGap(size, index int64, node string, seq int64) *Break {
	return &Break{Trail: TrailTree, Seq: size, Reason: ReasonLeafMissing,
		Detail:   fmt.Sprintf("expected leaf %d, found leaf %d (node %s seq %d)", size, index, node, seq),
		Expected: fmt.Sprint(size), Found: fmt.Sprint(index)}
}

// treeHeadBreak compares the tree b recomputed from the events with the
// stored head (size, root), and returns the break, or nil.
func treeHeadBreak(b *TreeBuilder, size int64, root tlog.Hash) *Break {
	got := b.Root()
	if size == b.Size() && root == got {
		return nil
	}
	return &Break{Trail: TrailTree, Seq: size, Reason: ReasonTreeHeadMismatch,
		Detail:   fmt.Sprintf("the events make a tree of %d leaves, the stored head says %d", b.Size(), size),
		Expected: base64.StdEncoding.EncodeToString(got[:]), Found: base64.StdEncoding.EncodeToString(root[:])}
}

// compareStoredHashes compares the source's stored hashes with b's: the
// frontier, hash by hash, and, when b kept block digests, every stored
// hash, block by block.
func compareStoredHashes(ctx context.Context, src treeSource, b *TreeBuilder, rep *TreeReport) error {
	ss, ok := src.(storedHashSource)
	if !ok || !ss.KeepsTree() || b.Size() == 0 {
		return nil
	}
	brk := func(detail string, want, got tlog.Hash) {
		rep.Break = &Break{Trail: TrailTree, Seq: b.Size(), Reason: ReasonStoredHash, Detail: detail,
			Expected: base64.StdEncoding.EncodeToString(want[:]), Found: base64.StdEncoding.EncodeToString(got[:])}
	}
	idx := FrontierIndexes(b.Size())
	stored, err := ss.ReadStoredHashes(ctx, idx)
	if errors.Is(err, ErrNotFound) {
		rep.Break = &Break{Trail: TrailTree, Seq: b.Size(), Reason: ReasonStoredHash, Detail: err.Error()}
		return nil
	}
	if err != nil {
		return fmt.Errorf("read the stored tree: %w", err)
	}
	for i, h := range b.Frontier() {
		if stored[i] != h {
			brk(fmt.Sprintf("stored hash %d, on the frontier the next append reads", idx[i]), h, stored[i])
			return nil
		}
	}
	if b.digests == nil {
		return nil
	}
	want := b.digests.blocks()
	got := newBlockDigests()
	err = ss.ScanStoredHashes(ctx, b.digests.n, func(_ int64, hs []tlog.Hash) error {
		for _, h := range hs {
			got.add(h)
		}
		return nil
	})
	if errors.Is(err, ErrNotFound) {
		rep.Break = &Break{Trail: TrailTree, Seq: b.Size(), Reason: ReasonStoredHash, Detail: err.Error()}
		return nil
	}
	if err != nil {
		return fmt.Errorf("read the stored tree: %w", err)
	}
	for i, d := range got.blocks() {
		if d != want[i] {
			first := int64(i) * storedHashBlock
			last := min(first+storedHashBlock, b.digests.n) - 1
			rep.Break = &Break{Trail: TrailTree, Seq: b.Size(), Reason: ReasonStoredHash,
				Detail:   fmt.Sprintf("a stored hash with index %d to %d differs", first, last),
				Expected: hex.EncodeToString(want[i][:]), Found: hex.EncodeToString(d[:])}
			return nil
		}
	}
	return nil
}

func checkEquivocation(cps []SourcedCheckpoint, rep *TreeReport) {
	for i := range cps {
		for j := i + 1; j < len(cps); j++ {
			if cps[i].Invalid == "" && cps[j].Invalid == "" && cps[i].Size == cps[j].Size && cps[i].Origin == cps[j].Origin && cps[i].Root != cps[j].Root {
				for _, k := range []int{i, j} {
					rep.Checkpoints[k].Status = StatusInvalid
					rep.Checkpoints[k].Reason = ReasonEquivocation
				}
			}
		}
	}
}

func (rep *TreeReport) finish() {
	if rep.Break == nil {
		for _, c := range rep.Checkpoints {
			if c.Status != StatusInvalid {
				continue
			}
			rep.Break = &Break{Trail: TrailTree, Seq: c.Size, Reason: c.Reason,
				Detail: "checkpoint from " + c.Source, Expected: c.Root, Found: c.StoreRoot}
			if c.Reason == ReasonTruncated {
				rep.Break.Expected, rep.Break.Found = fmt.Sprintf("%d leaves", c.Size), fmt.Sprintf("%d leaves", rep.Leaves)
			}
			break
		}
	}
	rep.Status = statusOf(rep.Break, rep.Leaves+int64(len(rep.Checkpoints)))
}
