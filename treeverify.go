package chainlog

import (
	"context"
	"encoding/base64"
	"fmt"
	"slices"
	"sort"

	"golang.org/x/mod/sumdb/tlog"
)

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

// Reasons a tree or a checkpoint fails verification.
const (
	ReasonLeafMissing      = "leaf missing: stamped events were deleted or renumbered"
	ReasonTreeHeadMismatch = "the stored tree head does not match the events: the tree or the events were rewritten"
	ReasonTruncated        = "the store has fewer events than the checkpoint: the tail was truncated or the store was rolled back"
	ReasonRootMismatch     = "the store's tree at the checkpoint's size does not have the checkpoint's root: history was rewritten, rolled back to another copy, or events were deleted"
	ReasonEquivocation     = "two checkpoints of the same size have different roots"
	ReasonWrongOrigin      = "the checkpoint names another log"
	ReasonTrailRewritten   = "the amendment trail does not hold the record the checkpoint recorded: amendments were deleted, edited or rewritten"
)

// TrailTree names the Merkle tree in a Break.
const TrailTree = "tree"

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
func VerifyTree(ctx context.Context, src TreeSource, origin string, cps []SourcedCheckpoint) (TreeReport, error) {
	order := make([]int, len(cps))
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(a, b int) bool { return cps[order[a]].Size < cps[order[b]].Size })
	rep := TreeReport{Checkpoints: make([]CheckpointReport, len(cps))}
	for i, c := range cps {
		rep.Checkpoints[i] = CheckpointReport{Source: c.Source, Origin: c.Origin, Size: c.Size,
			Root: base64.StdEncoding.EncodeToString(c.Root[:])}
		if c.Invalid != "" {
			rep.Checkpoints[i].Status, rep.Checkpoints[i].Reason = StatusInvalid, c.Invalid
		}
	}
	order = slices.DeleteFunc(order, func(i int) bool { return cps[i].Invalid != "" })
	var b TreeBuilder
	next := 0 // position in order
	settle := func() {
		for next < len(order) && cps[order[next]].Size == b.Size() {
			rep.Checkpoints[order[next]].settle(cps[order[next]].Root, b.Root(), origin)
			next++
		}
	}
	settle()
	err := src.ScanLeaves(ctx, func(index int64, l *Leaf) error {
		if index != b.Size() {
			if rep.Break == nil {
				rep.Break = &Break{Trail: TrailTree, Seq: b.Size(), Reason: ReasonLeafMissing,
					Detail:   fmt.Sprintf("expected leaf %d, found leaf %d (node %s seq %d)", b.Size(), index, l.NodeID, l.Seq),
					Expected: fmt.Sprint(b.Size()), Found: fmt.Sprint(index)}
			}
			return errStopScan
		}
		b.Add(LeafHash(l))
		settle()
		return nil
	})
	if err != nil && err != errStopScan {
		return rep, fmt.Errorf("scan leaves: %w", err)
	}
	rep.Leaves = b.Size()
	root := b.Root()
	rep.Root = base64.StdEncoding.EncodeToString(root[:])
	for ; next < len(order); next++ {
		cr := &rep.Checkpoints[order[next]]
		cr.Status, cr.Reason = StatusInvalid, ReasonTruncated
		if rep.Break != nil { // the walk stopped at a gap
			cr.Reason = fmt.Sprintf("%s (leaf %d is missing)", ReasonLeafMissing, rep.Break.Seq)
		}
	}
	if rep.Break == nil {
		if err := compareStoredTree(ctx, src, &b, &rep); err != nil {
			return rep, err
		}
	}
	if err := checkTrails(ctx, src, cps, &rep); err != nil {
		return rep, err
	}
	checkEquivocation(cps, &rep)
	rep.finish()
	return rep, nil
}

// checkTrails compares the amendment trail head each checkpoint records
// with the store's trail.
func checkTrails(ctx context.Context, src TreeSource, cps []SourcedCheckpoint, rep *TreeReport) error {
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

func compareStoredTree(ctx context.Context, src TreeSource, b *TreeBuilder, rep *TreeReport) error {
	size, root, err := src.StoredTree(ctx)
	if err != nil {
		return fmt.Errorf("read stored tree: %w", err)
	}
	if got := b.Root(); size != b.Size() || root != got {
		rep.Break = &Break{Trail: TrailTree, Seq: size, Reason: ReasonTreeHeadMismatch,
			Detail:   fmt.Sprintf("the events make a tree of %d leaves, the stored head says %d", b.Size(), size),
			Expected: base64.StdEncoding.EncodeToString(got[:]), Found: base64.StdEncoding.EncodeToString(root[:])}
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
