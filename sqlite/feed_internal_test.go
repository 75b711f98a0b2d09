package sqlite

import (
	"crypto/sha256"
	"fmt"
	"testing"

	"golang.org/x/mod/sumdb/tlog"
)

// memHashes is a whole stored tree in memory: hashes[i] is stored hash i.
type memHashes []tlog.Hash

func (m memHashes) ReadHashes(indexes []int64) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(indexes))
	for i, idx := range indexes {
		if idx < 0 || idx >= int64(len(m)) {
			return nil, fmt.Errorf("hash %d not stored", idx)
		}
		out[i] = m[idx]
	}
	return out, nil
}

// TestLeafTreeFromFrontier appends batches to trees of every size up to
// 130 and checks that a leafTree, which reads only the frontier, stores
// the same hashes as tlog reading the whole tree, and that the root
// matches.
func TestLeafTreeFromFrontier(t *testing.T) {
	t.Parallel()
	leaf := func(i int64) tlog.Hash { return sha256.Sum256(fmt.Appendf(nil, "leaf %d", i)) }
	var all memHashes
	for n := int64(0); n <= 130; n++ {
		for _, batch := range []int64{1, 2, 3, 7, 64, 65} {
			lt, err := newLeafTree(n, all)
			if err != nil {
				t.Fatalf("tree of %d: %v", n, err)
			}
			if len(lt.frontier) != len(frontierIndexes(n)) {
				t.Fatalf("tree of %d: frontier of %d hashes", n, len(lt.frontier))
			}
			want := append(memHashes(nil), all...)
			for i := n; i < n+batch; i++ {
				if err := lt.add(leaf(i)); err != nil {
					t.Fatalf("tree of %d, leaf %d: %v", n, i, err)
				}
				hs, err := tlog.StoredHashesForRecordHash(i, leaf(i), want)
				if err != nil {
					t.Fatal(err)
				}
				want = append(want, hs...)
			}
			if got := append(append(memHashes(nil), all...), lt.pending...); len(got) != len(want) {
				t.Fatalf("tree of %d + %d: %d stored hashes, want %d", n, batch, len(got), len(want))
			} else {
				for i := range want {
					if got[i] != want[i] {
						t.Fatalf("tree of %d + %d: stored hash %d differs", n, batch, i)
					}
				}
				gotRoot, err1 := tlog.TreeHash(n+batch, got)
				wantRoot, err2 := tlog.TreeHash(n+batch, want)
				if err1 != nil || err2 != nil || gotRoot != wantRoot {
					t.Fatalf("tree of %d + %d: root %v (%v), want %v (%v)", n, batch, gotRoot, err1, wantRoot, err2)
				}
			}
		}
		hs, err := tlog.StoredHashesForRecordHash(n, leaf(n), all)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, hs...)
	}
}

// TestLeafTreeNeedsItsFrontier checks that a hash neither in the batch nor
// on the frontier is an error, not a zero hash.
func TestLeafTreeNeedsItsFrontier(t *testing.T) {
	t.Parallel()
	lt := &leafTree{size: 7, base: tlog.StoredHashIndex(0, 7), frontier: map[int64]tlog.Hash{}}
	if err := lt.add(tlog.Hash{1}); err == nil {
		t.Fatal("adding leaf 7 without the frontier of 7: no error")
	}
}
