package chainlog

import (
	"fmt"

	"golang.org/x/mod/sumdb/tlog"
)

// StoreHeads is what a store's checkpoint signs: the tree's size and root,
// and the amendment trail's head.
type StoreHeads struct {
	Size  int64
	Root  tlog.Hash
	Trail Head
}

// CheckpointAction is what a store's Checkpoint does next (NextCheckpoint).
type CheckpointAction int

const (
	// CheckpointNothing: the stored checkpoint is current and published.
	CheckpointNothing CheckpointAction = iota
	// CheckpointStored: the stored checkpoint is current but was not
	// published (a publish failed): hand it out again rather than sign the
	// tree twice.
	CheckpointStored
	// CheckpointSign: sign the returned checkpoint and keep it.
	CheckpointSign
)

// NextCheckpoint is the rule every store's Checkpoint follows, in its
// write transaction. The tree and trail of heads must extend every
// checkpoint known: the copy kept in the store (stored) and the last one
// published outside it (published, which someone who rewrote the store
// could not rewrite); nil is unknown. It proves that from the store's
// hashes and checks that the trail still holds the record each recorded
// (hashAt returns a record's hash, found false when there is none), and
// fails with an *InconsistencyError naming both sides otherwise, so that a
// store never signs two inconsistent checkpoints. It returns the checkpoint
// of heads for origin, and what to do with it.
func NextCheckpoint(origin string, heads StoreHeads, stored, published []byte, hashes tlog.HashReader,
	hashAt func(seq int64) (string, bool, error)) (Checkpoint, CheckpointAction, error) {
	var storedCurrent, publishedCurrent bool
	for i, n := range [][]byte{stored, published} {
		if n == nil {
			continue
		}
		last, err := ParseSignedCheckpoint(n)
		if err != nil {
			return Checkpoint{}, 0, err
		}
		if last.Origin != origin {
			return Checkpoint{}, 0, fmt.Errorf("the signing key is for %q, the store's checkpoints are for %q", origin, last.Origin)
		}
		if err := trailExtends(heads, last, hashAt); err != nil {
			return Checkpoint{}, 0, err
		}
		if last.Size == heads.Size && last.Root == heads.Root && sameTrail(last, heads.Trail) {
			storedCurrent, publishedCurrent = storedCurrent || i == 0, publishedCurrent || i == 1
			continue
		}
		if last.Size == heads.Size && last.Root == heads.Root {
			continue // only the trail grew
		}
		if err := treeExtends(heads, last, hashes); err != nil {
			return Checkpoint{}, 0, err
		}
	}
	c := Checkpoint{Origin: origin, Size: heads.Size, Root: heads.Root}.WithAmendments(heads.Trail.Seq, heads.Trail.Hash)
	switch {
	case storedCurrent && (published == nil || publishedCurrent):
		return c, CheckpointNothing, nil
	case storedCurrent:
		return c, CheckpointStored, nil
	}
	return c, CheckpointSign, nil
}

// inconsistent is the evidence that heads do not extend checkpoint c.
func inconsistent(heads StoreHeads, c Checkpoint, format string, args ...any) error {
	return &InconsistencyError{Size: heads.Size, Root: heads.Root, Trail: heads.Trail, Checkpoint: c, Reason: fmt.Sprintf(format, args...)}
}

// treeExtends proves from the stored hashes that the tree of heads extends
// c's.
func treeExtends(heads StoreHeads, c Checkpoint, hashes tlog.HashReader) error {
	switch {
	case heads.Size < c.Size:
		return inconsistent(heads, c, "the tree has %d leaves, the last checkpoint %d (truncated or rolled back)", heads.Size, c.Size)
	case c.Size == 0:
		return nil
	case heads.Size == c.Size:
		return inconsistent(heads, c, "same size %d, different root", c.Size)
	}
	oldRoot, err := tlog.TreeHash(c.Size, hashes)
	if err != nil {
		return err
	}
	proof, err := tlog.ProveTree(heads.Size, c.Size, hashes)
	if err != nil {
		return err
	}
	if oldRoot != c.Root || tlog.CheckTree(proof, heads.Size, heads.Root, c.Size, c.Root) != nil {
		return inconsistent(heads, c, "the tree at size %d no longer has the checkpoint's root", c.Size)
	}
	return nil
}

// sameTrail reports whether c records the trail head ah.
func sameTrail(c Checkpoint, ah Head) bool {
	seq, hash, _, _ := c.Amendments()
	return seq == ah.Seq && (seq == 0 || hash == ah.Hash)
}

// trailExtends checks that the trail still holds the record checkpoint c
// recorded, and has not shrunk below it.
func trailExtends(heads StoreHeads, c Checkpoint, hashAt func(seq int64) (string, bool, error)) error {
	seq, hash, ok, err := c.Amendments()
	if err != nil || !ok {
		return err
	}
	if heads.Trail.Seq < seq {
		return inconsistent(heads, c, "the amendment trail has %d records, the last checkpoint %d", heads.Trail.Seq, seq)
	}
	got, found, err := hashAt(seq)
	if err != nil {
		return err
	}
	if !found || got != hash {
		return inconsistent(heads, c, "amendment %d no longer has the checkpoint's hash", seq)
	}
	return nil
}
