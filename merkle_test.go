package chainlog

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"testing"

	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
	"github.com/transparency-dev/merkle/testonly"
	"golang.org/x/mod/sumdb/tlog"
)

// memHashes is an in-memory tlog.HashReader: the stored hashes of a tree,
// laid out as tlog.StoredHashIndex says (as the store's merkle_hashes).
type memHashes []tlog.Hash

func (m memHashes) ReadHashes(indexes []int64) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(indexes))
	for i, x := range indexes {
		if x < 0 || x >= int64(len(m)) {
			return nil, fmt.Errorf("memHashes: no stored hash %d (have %d)", x, len(m))
		}
		out[i] = m[x]
	}
	return out, nil
}

// appendRecord appends the record with leaf hash h as record n, which must
// be the next one.
func (m *memHashes) appendRecord(tb testing.TB, n int64, h tlog.Hash) {
	tb.Helper()
	if got, want := int64(len(*m)), tlog.StoredHashCount(n); got != want {
		tb.Fatalf("appendRecord(%d): have %d stored hashes, want %d", n, got, want)
	}
	hs, err := tlog.StoredHashesForRecordHash(n, h, *m)
	if err != nil {
		tb.Fatalf("StoredHashesForRecordHash(%d): %v", n, err)
	}
	*m = append(*m, hs...)
}

// storeOf returns the stored hashes of a tree with the given leaf hashes.
func storeOf(tb testing.TB, leaves []tlog.Hash) memHashes {
	tb.Helper()
	var m memHashes
	for i, h := range leaves {
		m.appendRecord(tb, int64(i), h)
	}
	return m
}

// merkleLeaf returns a deterministic, varied leaf for index i: several
// nodes, some leaves without a payload digest.
func merkleLeaf(i int) Leaf {
	ch := sha256.Sum256([]byte(fmt.Sprintf("chain %d", i)))
	l := Leaf{NodeID: fmt.Sprintf("node-%c", 'a'+i%5), Seq: int64(i/5 + 1), ChainHash: hex.EncodeToString(ch[:])}
	if i%3 != 0 {
		pd := sha256.Sum256([]byte(fmt.Sprintf("payload %d", i)))
		l.PayloadDigest = hex.EncodeToString(pd[:])
	}
	return l
}

// merkleLeafHashes returns the leaf hashes of merkleLeaf(0..n-1).
func merkleLeafHashes(n int) []tlog.Hash {
	hs := make([]tlog.Hash, n)
	for i := range hs {
		l := merkleLeaf(i)
		hs[i] = LeafHash(&l)
	}
	return hs
}

func mustHash(tb testing.TB, s string) tlog.Hash {
	tb.Helper()
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != tlog.HashSize {
		tb.Fatalf("bad hex hash %q", s)
	}
	return tlog.Hash(b)
}

const (
	kaChainHash = "31dbdd8ccc2359868524630c80387d35096ba90cc93784c4fcd6d81255e6d978"
	kaDigest    = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
)

// knownLeaves are leaves whose data is written out by hand from
// docs/merkle.md, and whose hashes were computed outside Go with
// `{ printf '\x00'; printf '<data>'; } | sha256sum`.
var knownLeaves = []struct {
	name string
	leaf Leaf
	data string
	hash string
}{
	{
		name: "no payload digest",
		leaf: Leaf{NodeID: "node-a", Seq: 1, ChainHash: kaChainHash},
		data: "chainlog-leaf-v1\n6:node-a;1:1;64:" + kaChainHash + ";N;",
		hash: "c5b1c4ca30bc418bba989911db2d58147eba5d2b541a17fb1638862e29c15d56",
	},
	{
		name: "UTF-8 node and payload digest",
		leaf: Leaf{NodeID: "nœud-7", Seq: 12345, ChainHash: kaChainHash, PayloadDigest: kaDigest},
		data: "chainlog-leaf-v1\n7:nœud-7;5:12345;64:" + kaChainHash + ";64:" + kaDigest + ";",
		hash: "3ce7948e1b8a73d0cc25be9758395828ab882f70ec52aea4f03eb2b60a9c87b0",
	},
	{
		name: "separators in node id, max seq, empty chain hash",
		leaf: Leaf{NodeID: "a;b:c", Seq: 9223372036854775807},
		data: "chainlog-leaf-v1\n5:a;b:c;19:9223372036854775807;0:;N;",
		hash: "1ce137573ae3b4509380926a51a5e4c013e1340d36f0e367918504e59b9ecc2d",
	},
}

func TestLeafKnownAnswers(t *testing.T) {
	for _, tt := range knownLeaves {
		t.Run(tt.name, func(t *testing.T) {
			if got, want := string(AppendLeafData(nil, &tt.leaf)), tt.data; got != want {
				t.Errorf("AppendLeafData:\n got %q\nwant %q", got, want)
			}
			prefix := []byte("prefix")
			if got, want := string(AppendLeafData(prefix, &tt.leaf)), "prefix"+tt.data; got != want {
				t.Errorf("AppendLeafData(prefix):\n got %q\nwant %q", got, want)
			}
			got := LeafHash(&tt.leaf)
			if want := mustHash(t, tt.hash); got != want {
				t.Errorf("LeafHash: got %x, want %x", got, want)
			}
			if want := tlog.Hash(sha256.Sum256(append([]byte{0}, tt.data...))); got != want {
				t.Errorf("LeafHash: got %x, want SHA-256(0x00 || data) = %x", got, want)
			}
		})
	}
}

// TestLeafDataInjective checks that leaves differing in one field, including
// by moving bytes between fields, have different data.
func TestLeafDataInjective(t *testing.T) {
	leaves := []Leaf{
		{NodeID: "a", Seq: 1, ChainHash: "b"},
		{NodeID: "a", Seq: 1, ChainHash: "b", PayloadDigest: "N"},
		{NodeID: "a", Seq: 11, ChainHash: "b"},
		{NodeID: "a1", Seq: 1, ChainHash: "b"},
		{NodeID: "a;1:1", Seq: 1, ChainHash: "b"},
		{NodeID: "a", Seq: 1, ChainHash: "b;N"},
		{NodeID: "a", Seq: 1, ChainHash: "b", PayloadDigest: "c"},
		{NodeID: "a", Seq: 1, ChainHash: "bc"},
		{NodeID: "a", Seq: -1, ChainHash: "b"},
		{NodeID: "", Seq: 1, ChainHash: "b"},
	}
	seen := map[string]int{}
	for i := range leaves {
		d := string(AppendLeafData(nil, &leaves[i]))
		if j, ok := seen[d]; ok {
			t.Errorf("leaves %d (%+v) and %d (%+v) have the same data %q", j, leaves[j], i, leaves[i], d)
		}
		seen[d] = i
	}
}

func TestTreeBuilderKnownRoots(t *testing.T) {
	hs := make([]tlog.Hash, len(knownLeaves))
	for i, kl := range knownLeaves {
		hs[i] = mustHash(t, kl.hash)
	}
	// Roots computed outside Go with sha256sum over 0x01 || left || right.
	tests := []struct {
		size int
		root string
	}{
		{0, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
		{1, knownLeaves[0].hash},
		{2, "6f242855bf86f1c64e4a6db35bc5897292236df2c0af62a32441e3b4029ae9ee"},
		{3, "6fa1c2d3ff50711953fbfa18534504cd692c7c5633d3b5c38135eee5eb9c7ce7"},
	}
	for _, tt := range tests {
		var b TreeBuilder
		for _, h := range hs[:tt.size] {
			b.Add(h)
		}
		if got, want := b.Size(), int64(tt.size); got != want {
			t.Errorf("size %d: Size() = %d, want %d", tt.size, got, want)
		}
		if got, want := b.Root(), mustHash(t, tt.root); got != want {
			t.Errorf("size %d: root got %x, want %x", tt.size, got, want)
		}
	}
}

func TestTreeBuilderEmpty(t *testing.T) {
	var b TreeBuilder
	want := tlog.Hash(sha256.Sum256(nil))
	if got := b.Root(); got != want {
		t.Errorf("empty root: got %x, want SHA-256(\"\") = %x", got, want)
	}
	if got := b.Size(); got != 0 {
		t.Errorf("empty size: got %d, want 0", got)
	}
	th, err := tlog.TreeHash(0, memHashes(nil))
	if err != nil {
		t.Fatal(err)
	}
	if th != want {
		t.Errorf("tlog.TreeHash(0): got %x, want %x", th, want)
	}
	// Root must not change the builder.
	b.Root()
	b.Add(tlog.Hash{1})
	if got, want := b.Root(), (tlog.Hash{1}); got != want {
		t.Errorf("one leaf after Root: got %x, want %x", got, want)
	}
}

// TestTreeBuilderMatchesTlog compares the streaming builder with tlog's tree
// over stored hashes, at every size from 0 to 300.
func TestTreeBuilderMatchesTlog(t *testing.T) {
	const max = 300
	var (
		b     TreeBuilder
		store memHashes
	)
	check := func(size int64) {
		t.Helper()
		want, err := tlog.TreeHash(size, store)
		if err != nil {
			t.Fatalf("TreeHash(%d): %v", size, err)
		}
		if got := b.Root(); got != want {
			t.Fatalf("size %d: TreeBuilder root %x, tlog.TreeHash %x", size, got, want)
		}
		if got := b.Size(); got != size {
			t.Fatalf("size %d: Size() = %d", size, got)
		}
	}
	check(0)
	for i := 0; i < max; i++ {
		l := merkleLeaf(i)
		data := AppendLeafData(nil, &l)
		hs, err := tlog.StoredHashes(int64(i), data, store)
		if err != nil {
			t.Fatalf("StoredHashes(%d): %v", i, err)
		}
		if got, want := hs[0], LeafHash(&l); got != want {
			t.Fatalf("leaf %d: tlog record hash %x, LeafHash %x", i, got, want)
		}
		store = append(store, hs...)
		b.Add(LeafHash(&l))
		check(int64(i + 1))
	}
}

// rfc6962Vectors is testdata/rfc6962-vectors.json: the RFC 6962 test vectors
// of the Certificate Transparency reference implementation (an 8-leaf tree,
// its roots at every size, and some inclusion and consistency proofs).
type rfc6962Vectors struct {
	Leaves    []string `json:"leaves"`      // hex leaf inputs
	LeafHash  []string `json:"leaf_hashes"` // hex
	Roots     []string `json:"roots"`       // hex, by tree size from 0
	Inclusion []struct {
		Index int64    `json:"index"`
		Size  int64    `json:"size"`
		Proof []string `json:"proof"`
	} `json:"inclusion"`
	Consistency []struct {
		Old   int64    `json:"old"`
		New   int64    `json:"new"`
		Proof []string `json:"proof"`
	} `json:"consistency"`
}

func loadRFC6962Vectors(tb testing.TB) *rfc6962Vectors {
	tb.Helper()
	data, err := os.ReadFile("testdata/rfc6962-vectors.json")
	if err != nil {
		tb.Fatal(err)
	}
	var v rfc6962Vectors
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&v); err != nil {
		tb.Fatalf("rfc6962-vectors.json: %v", err)
	}
	if len(v.Leaves) != 8 || len(v.LeafHash) != 8 || len(v.Roots) != 9 {
		tb.Fatalf("rfc6962-vectors.json: %d leaves, %d leaf hashes, %d roots; want 8, 8, 9", len(v.Leaves), len(v.LeafHash), len(v.Roots))
	}
	return &v
}

func hashList(tb testing.TB, hexes []string) []tlog.Hash {
	tb.Helper()
	out := make([]tlog.Hash, 0, len(hexes))
	for _, s := range hexes {
		out = append(out, mustHash(tb, s))
	}
	return out
}

func TestRFC6962Vectors(t *testing.T) {
	v := loadRFC6962Vectors(t)
	var (
		b      TreeBuilder
		store  memHashes
		hashes []tlog.Hash
	)
	if got, want := b.Root(), mustHash(t, v.Roots[0]); got != want {
		t.Errorf("root 0: got %x, want %x", got, want)
	}
	for i, lx := range v.Leaves {
		data, err := hex.DecodeString(lx)
		if err != nil {
			t.Fatal(err)
		}
		h := tlog.RecordHash(data)
		if want := mustHash(t, v.LeafHash[i]); h != want {
			t.Errorf("leaf %d: hash %x, want %x", i, h, want)
		}
		hashes = append(hashes, h)
		store.appendRecord(t, int64(i), h)
		b.Add(h)
		want := mustHash(t, v.Roots[i+1])
		if got := b.Root(); got != want {
			t.Errorf("root %d: TreeBuilder %x, want %x", i+1, got, want)
		}
		if got, err := tlog.TreeHash(int64(i+1), store); err != nil || got != want {
			t.Errorf("root %d: tlog.TreeHash %x, %v; want %x", i+1, got, err, want)
		}
	}
	for _, tt := range v.Inclusion {
		want := hashList(t, tt.Proof)
		p, err := tlog.ProveRecord(tt.Size, tt.Index, store)
		if err != nil {
			t.Errorf("ProveRecord(%d, %d): %v", tt.Size, tt.Index, err)
			continue
		}
		if !equalHashes(p, want) {
			t.Errorf("ProveRecord(%d, %d):\n got %x\nwant %x", tt.Size, tt.Index, p, want)
		}
		if err := tlog.CheckRecord(want, tt.Size, mustHash(t, v.Roots[tt.Size]), tt.Index, hashes[tt.Index]); err != nil {
			t.Errorf("CheckRecord(vector %d in %d): %v", tt.Index, tt.Size, err)
		}
	}
	for _, tt := range v.Consistency {
		want := hashList(t, tt.Proof)
		p, err := tlog.ProveTree(tt.New, tt.Old, store)
		if err != nil {
			t.Errorf("ProveTree(%d, %d): %v", tt.New, tt.Old, err)
			continue
		}
		if !equalHashes(p, want) {
			t.Errorf("ProveTree(%d, %d):\n got %x\nwant %x", tt.New, tt.Old, p, want)
		}
		cp := &ConsistencyProof{Old: tt.Old, New: tt.New, Proof: want}
		older := Checkpoint{Origin: "example.com/log", Size: tt.Old, Root: mustHash(t, v.Roots[tt.Old])}
		newer := Checkpoint{Origin: "example.com/log", Size: tt.New, Root: mustHash(t, v.Roots[tt.New])}
		if err := VerifyConsistency(cp, older, newer); err != nil {
			t.Errorf("VerifyConsistency(vector %d -> %d): %v", tt.Old, tt.New, err)
		}
	}
}

func equalHashes(a, b []tlog.Hash) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func toBytes(hs []tlog.Hash) [][]byte {
	out := make([][]byte, len(hs))
	for i := range hs {
		out[i] = hs[i][:]
	}
	return out
}

func fromBytes(tb testing.TB, bs [][]byte) []tlog.Hash {
	tb.Helper()
	out := make([]tlog.Hash, len(bs))
	for i, b := range bs {
		if len(b) != tlog.HashSize {
			tb.Fatalf("hash %d has %d bytes", i, len(b))
		}
		out[i] = tlog.Hash(b)
	}
	return out
}

// TestCrossCheckTransparencyDev compares the tree, tlog's proofs and our
// TreeBuilder with an independent RFC 6962 implementation,
// github.com/transparency-dev/merkle: its hasher, compact ranges, reference
// tree, proof builder and verifiers.
func TestCrossCheckTransparencyDev(t *testing.T) {
	const max = 140
	hasher := rfc6962.DefaultHasher
	rf := &compact.RangeFactory{Hash: hasher.HashChildren}
	cr := rf.NewEmptyRange(0)
	ref := testonly.New(hasher)
	var (
		b     TreeBuilder
		store memHashes
		roots []tlog.Hash
	)
	if got, want := b.Root(), tlog.Hash(hasher.EmptyRoot()); got != want {
		t.Errorf("empty root: got %x, transparency-dev %x", got, want)
	}
	roots = append(roots, b.Root())
	for i := 0; i < max; i++ {
		l := merkleLeaf(i)
		h := LeafHash(&l)
		if want := hasher.HashLeaf(AppendLeafData(nil, &l)); !bytes.Equal(h[:], want) {
			t.Fatalf("leaf %d: LeafHash %x, transparency-dev HashLeaf %x", i, h, want)
		}
		b.Add(h)
		store.appendRecord(t, int64(i), h)
		if err := cr.Append(h[:], nil); err != nil {
			t.Fatal(err)
		}
		ref.Append(h[:])
		crRoot, err := cr.GetRootHash(nil)
		if err != nil {
			t.Fatal(err)
		}
		got := b.Root()
		if !bytes.Equal(got[:], crRoot) {
			t.Fatalf("size %d: TreeBuilder root %x, compact range root %x", i+1, got, crRoot)
		}
		if want := ref.Hash(); !bytes.Equal(got[:], want) {
			t.Fatalf("size %d: TreeBuilder root %x, reference tree root %x", i+1, got, want)
		}
		roots = append(roots, got)
	}

	sizes := []int64{1, 2, 3, 4, 5, 7, 8, 9, 15, 16, 17, 31, 32, 33, 63, 64, 65, 100, 127, 128, 129, max}
	for _, size := range sizes {
		root := roots[size]
		for n := int64(0); n < size; n++ {
			leaf := ref.LeafHash(uint64(n))
			// tlog's proof verifies with their verifier, and is the
			// same as their proof, which verifies with tlog.
			p, err := tlog.ProveRecord(size, n, store)
			if err != nil {
				t.Fatalf("ProveRecord(%d, %d): %v", size, n, err)
			}
			if err := proof.VerifyInclusion(hasher, uint64(n), uint64(size), leaf, toBytes(p), root[:]); err != nil {
				t.Errorf("leaf %d of %d: tlog proof fails transparency-dev VerifyInclusion: %v", n, size, err)
			}
			theirs, err := ref.InclusionProof(uint64(n), uint64(size))
			if err != nil {
				t.Fatalf("InclusionProof(%d, %d): %v", n, size, err)
			}
			if tp := fromBytes(t, theirs); !equalHashes(p, tp) {
				t.Errorf("leaf %d of %d: tlog proof %x, transparency-dev proof %x", n, size, p, tp)
			} else if err := tlog.CheckRecord(tp, size, root, n, tlog.Hash(leaf)); err != nil {
				t.Errorf("leaf %d of %d: transparency-dev proof fails CheckRecord: %v", n, size, err)
			}
			// A tampered tlog proof fails their verifier too.
			if len(p) > 0 {
				bad := append(tlog.RecordProof(nil), p...)
				bad[int(n)%len(bad)][int(n)%tlog.HashSize] ^= 1 << (n % 8)
				if err := proof.VerifyInclusion(hasher, uint64(n), uint64(size), leaf, toBytes(bad), root[:]); err == nil {
					t.Errorf("leaf %d of %d: tampered tlog proof passes transparency-dev VerifyInclusion", n, size)
				}
			}
		}
		for old := int64(1); old <= size; old++ {
			p, err := tlog.ProveTree(size, old, store)
			if err != nil {
				t.Fatalf("ProveTree(%d, %d): %v", size, old, err)
			}
			if err := proof.VerifyConsistency(hasher, uint64(old), uint64(size), toBytes(p), roots[old][:], root[:]); err != nil {
				t.Errorf("%d -> %d: tlog proof fails transparency-dev VerifyConsistency: %v", old, size, err)
			}
			theirs, err := ref.ConsistencyProof(uint64(old), uint64(size))
			if err != nil {
				t.Fatalf("ConsistencyProof(%d, %d): %v", old, size, err)
			}
			tp := fromBytes(t, theirs)
			if !equalHashes(p, tp) {
				t.Errorf("%d -> %d: tlog proof %x, transparency-dev proof %x", old, size, p, tp)
			}
			cp := &ConsistencyProof{Old: old, New: size, Proof: tp}
			older := Checkpoint{Origin: "o", Size: old, Root: roots[old]}
			newer := Checkpoint{Origin: "o", Size: size, Root: root}
			if err := VerifyConsistency(cp, older, newer); err != nil {
				t.Errorf("%d -> %d: transparency-dev proof fails VerifyConsistency: %v", old, size, err)
			}
			if len(p) > 0 {
				bad := append(tlog.TreeProof(nil), p...)
				bad[int(old)%len(bad)][int(old)%tlog.HashSize] ^= 1 << (old % 8)
				if err := proof.VerifyConsistency(hasher, uint64(old), uint64(size), toBytes(bad), roots[old][:], root[:]); err == nil {
					t.Errorf("%d -> %d: tampered tlog proof passes transparency-dev VerifyConsistency", old, size)
				}
			}
		}
	}
}
