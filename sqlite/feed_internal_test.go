package sqlite

import (
	"crypto/sha256"
	"fmt"
	"testing"

	"chainlog"

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

// TestAppendLogFromFrontier appends batches to trees of every size up to
// 130 and checks that an appendLog that reads only the frontier stores
// the same hashes as tlog reading the whole tree, and that the root
// matches.
func TestAppendLogFromFrontier(t *testing.T) {
	t.Parallel()
	leaf := func(i int64) tlog.Hash { return sha256.Sum256(fmt.Appendf(nil, "leaf %d", i)) }
	var all memHashes
	for n := int64(0); n <= 130; n++ {
		for _, batch := range []int64{1, 2, 3, 7, 64, 65} {
			fr, err := readFrontier(n, all)
			if err != nil {
				t.Fatalf("tree of %d: %v", n, err)
			}
			if len(fr.hashes) != len(chainlog.FrontierIndexes(n)) {
				t.Fatalf("tree of %d: frontier of %d hashes", n, len(fr.hashes))
			}
			lt := newAppendLog(n, fr)
			want := append(memHashes(nil), all...)
			for i := n; i < n+batch; i++ {
				if _, err := lt.appendHash(leaf(i)); err != nil {
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

// TestAppendLogNeedsItsFrontier checks that a hash neither in the batch nor
// on the frontier is an error, not a zero hash.
func TestAppendLogNeedsItsFrontier(t *testing.T) {
	t.Parallel()
	lt := newAppendLog(7, &frontierReader{size: 7, hashes: map[int64]tlog.Hash{}})
	if _, err := lt.appendHash(tlog.Hash{1}); err == nil {
		t.Fatal("adding leaf 7 without the frontier of 7: no error")
	}
}
