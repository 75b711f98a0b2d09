package sqlite_test

import (
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"testing"

	"chainlog"
	"chainlog/internal/chainlogtest"
	"chainlog/sqlite"

	"golang.org/x/mod/sumdb/tlog"
)

// The Merkle tree, checkpoints and proofs on untampered stores: every
// checkpoint the store signs extends the ones before, every event has a
// proof that verifies offline, and the stored tree is the tree of the
// events' own columns.

// signedStore is a store built in batches with a checkpoint after each.
type signedStore struct {
	path  string
	f     *treeFixture // the key; notes holds the checkpoints
	ids   []string     // event ids in ingest (leaf) order
	sizes []int64      // each checkpoint's size
}

// buildSigned ingests each batch into a fresh store and signs a
// checkpoint after each.
func buildSigned(t *testing.T, batches ...[]chainlog.Event) *signedStore {
	t.Helper()
	s := &signedStore{path: newStorePath(t), f: &treeFixture{}}
	s.f.signer, s.f.verifier = chainlogtest.NewKey(t, testOrigin)
	st := openStore(t, s.path, sqlite.Options{})
	for i, b := range batches {
		ingest(t, st, b...)
		signed, err := st.Checkpoint(t.Context(), s.f.signer, s.f.last())
		if err != nil || signed == nil {
			t.Fatalf("batch %d: Checkpoint = %q, %v", i+1, signed, err)
		}
		s.f.notes = append(s.f.notes, signed)
		for _, e := range b {
			s.ids = append(s.ids, e.ID)
		}
		if c := s.f.open(t, signed); c.Size != int64(len(s.ids)) {
			t.Fatalf("batch %d: checkpoint size %d; want %d", i+1, c.Size, len(s.ids))
		} else {
			s.sizes = append(s.sizes, c.Size)
		}
	}
	closeStore(t, st)
	return s
}

// interleave returns the events of each node's list taken in turn.
func interleave(lists ...[]chainlog.Event) []chainlog.Event {
	var out []chainlog.Event
	for i := 0; ; i++ {
		n := len(out)
		for _, l := range lists {
			if i < len(l) {
				out = append(out, l[i])
			}
		}
		if len(out) == n {
			return out
		}
	}
}

// forty returns 40 events over three nodes, in four batches of 1, 6, 13
// and 20.
func forty(t *testing.T) [][]chainlog.Event {
	t.Helper()
	all := interleave(mkEvents(t, "node-a", 0, 15), mkEvents(t, "node-b", 0, 15), mkEvents(t, "node-c", 0, 10))
	if len(all) != 40 {
		t.Fatalf("%d events", len(all))
	}
	return [][]chainlog.Event{all[:1], all[1:7], all[7:20], all[20:]}
}

func TestCheckpointsMutuallyConsistent(t *testing.T) {
	t.Parallel()
	// Batches that cross segment boundaries (64 hashes) and power-of-two
	// sizes.
	all := interleave(mkEvents(t, "node-a", 0, 80), mkEvents(t, "node-b", 0, 70))
	s := buildSigned(t, all[:1], all[1:2], all[2:4], all[4:8], all[8:75], all[75:76], all[76:150])
	st := openRO(t, s.path)
	cps := s.f.cps(t)
	for i := range cps {
		for j := i; j < len(cps); j++ {
			older, newer := cps[i].Checkpoint, cps[j].Checkpoint
			proof, err := st.ProveConsistency(t.Context(), older.Size, newer.Size)
			if err != nil {
				t.Fatalf("ProveConsistency(%d, %d): %v", older.Size, newer.Size, err)
			}
			p := &chainlog.ConsistencyProof{Old: older.Size, New: newer.Size, Proof: proof}
			parsed, err := chainlog.ParseConsistencyProof(p.Marshal())
			if err != nil || parsed.Old != p.Old || parsed.New != p.New || !slices.Equal(parsed.Proof, p.Proof) {
				t.Fatalf("ParseConsistencyProof(Marshal) = %+v, %v; want %+v", parsed, err, p)
			}
			if err := chainlog.VerifyConsistency(parsed, older, newer); err != nil {
				t.Errorf("VerifyConsistency(%d, %d): %v", older.Size, newer.Size, err)
			}
			if i == j {
				continue
			}
			// Swapped, or with a hash changed, it fails.
			if err := chainlog.VerifyConsistency(p, newer, older); !errors.Is(err, chainlog.ErrProof) {
				t.Errorf("VerifyConsistency(%d, %d) swapped = %v; want ErrProof", older.Size, newer.Size, err)
			}
			if len(proof) > 0 {
				bad := &chainlog.ConsistencyProof{Old: p.Old, New: p.New, Proof: append(tlog.TreeProof{}, proof...)}
				bad.Proof[0][0] ^= 1
				if err := chainlog.VerifyConsistency(bad, older, newer); !errors.Is(err, chainlog.ErrProof) {
					t.Errorf("VerifyConsistency(%d, %d) with a changed hash = %v; want ErrProof", older.Size, newer.Size, err)
				}
			}
		}
	}
	// Every tree extends the empty tree.
	empty := chainlog.Checkpoint{Origin: testOrigin, Root: emptyTreeRoot()}
	if err := chainlog.VerifyConsistency(&chainlog.ConsistencyProof{New: 150}, empty, cps[len(cps)-1].Checkpoint); err != nil {
		t.Errorf("VerifyConsistency(0, 150): %v", err)
	}
	if p, err := st.ProveConsistency(t.Context(), 0, 150); err != nil || len(p) != 0 {
		t.Errorf("ProveConsistency(0, 150) = %v, %v; want an empty proof", p, err)
	}
	// A tree larger than the store's cannot be proved.
	if _, err := st.ProveConsistency(t.Context(), 5, 151); err == nil {
		t.Error("ProveConsistency(5, 151): no error")
	}
	closeStore(t, st)
	// The store's own checkpoint is the last one signed, and the store
	// verifies against all of them.
	st = openRO(t, s.path)
	own, err := st.LatestCheckpoint(t.Context())
	closeStore(t, st)
	if err != nil || string(own) != string(s.f.last()) {
		t.Errorf("LatestCheckpoint = %q, %v; want the last one signed", own, err)
	}
	rep := s.f.wantTree(t, s.path, cps, chainlog.StatusValid, nil, "")
	if rep.Leaves != 150 {
		t.Errorf("leaves = %d; want 150", rep.Leaves)
	}
}

func emptyTreeRoot() tlog.Hash {
	var b chainlog.TreeBuilder
	return b.Root()
}

// storedRow returns the stored event id as the export gives it.
func storedRows(t *testing.T, path string) map[string]chainlog.StoredEvent {
	t.Helper()
	m := map[string]chainlog.StoredEvent{}
	for _, r := range exportPath(t, path, "") {
		m[r.ID] = r
	}
	return m
}

func TestProveEveryEvent(t *testing.T) {
	t.Parallel()
	s := buildSigned(t, forty(t)...)
	rows := storedRows(t, s.path)
	st := openRO(t, s.path)
	defer st.Close()
	for ci, signed := range s.f.notes {
		size := s.sizes[ci]
		for leaf, id := range s.ids {
			ev, idx, proof, err := st.ProveEvent(t.Context(), id, size)
			if int64(leaf) >= size {
				if !errors.Is(err, chainlog.ErrNotInTree) {
					t.Errorf("ProveEvent(%s, %d), leaf %d: %v; want ErrNotInTree", id, size, leaf, err)
				}
				continue
			}
			if err != nil {
				t.Fatalf("ProveEvent(%s, %d): %v", id, size, err)
			}
			if idx != int64(leaf) {
				t.Errorf("ProveEvent(%s): index %d; want %d", id, idx, leaf)
			}
			r := rows[id]
			want := chainlog.ProvenEvent{ID: r.ID, AgentType: r.AgentType, NodeID: r.NodeID, AgentID: r.AgentID,
				SessionID: r.SessionID, WorkspaceID: r.WorkspaceID, EventType: r.EventType, TS: r.TS,
				ChainSeq: r.Seq, ChainPrevHash: r.PrevHash, ChainHash: r.Hash, PayloadDigest: r.PayloadDigest}
			if !reflect.DeepEqual(ev, want) {
				t.Errorf("ProveEvent(%s) event:\n got  %+v\n want %+v", id, ev, want)
			}
			b := &chainlog.ProofBundle{Event: ev, Index: idx, Proof: proof, Checkpoint: signed}
			data, err := b.Marshal()
			if err != nil {
				t.Fatal(err)
			}
			parsed, err := chainlog.ParseProofBundle(data)
			if err != nil {
				t.Fatalf("ParseProofBundle: %v\n%s", err, data)
			}
			c, err := chainlog.VerifyProofBundle(parsed, s.f.verifier)
			if err != nil {
				t.Errorf("VerifyProofBundle(%s in checkpoint %d): %v", id, size, err)
			}
			if c.Size != size {
				t.Errorf("VerifyProofBundle returned checkpoint size %d; want %d", c.Size, size)
			}
		}
	}

	// What a bundle cannot survive. The last event, in the last checkpoint.
	last := s.ids[len(s.ids)-1]
	ev, idx, proof, err := st.ProveEvent(t.Context(), last, 40)
	if err != nil {
		t.Fatal(err)
	}
	_, otherVerifier := chainlogtest.NewKey(t, testOrigin)
	for _, c := range []struct {
		name    string
		edit    func(b *chainlog.ProofBundle)
		wantErr error
	}{
		{"identity field", func(b *chainlog.ProofBundle) { b.Event.EventType = "forged" }, chainlog.ErrProof},
		{"chain hash and identity recomputed", func(b *chainlog.ProofBundle) {
			b.Event.TS = "2026-01-01T00:00:00.000Z"
			e := b.Event.Identity()
			b.Event.ChainHash = chainlog.ChainHash(b.Event.ChainPrevHash, &e)
		}, chainlog.ErrProof},
		{"payload digest", func(b *chainlog.ProofBundle) { b.Event.PayloadDigest = chainlog.PayloadDigest(&chainlog.Mutable{}) }, chainlog.ErrProof},
		{"chain seq", func(b *chainlog.ProofBundle) { b.Event.ChainSeq++ }, chainlog.ErrProof},
		{"index", func(b *chainlog.ProofBundle) { b.Index-- }, chainlog.ErrProof},
		{"index beyond the tree", func(b *chainlog.ProofBundle) { b.Index = 40 }, chainlog.ErrProof},
		{"proof hash", func(b *chainlog.ProofBundle) { b.Proof[0][3] ^= 0x40 }, chainlog.ErrProof},
		{"proof shortened", func(b *chainlog.ProofBundle) { b.Proof = b.Proof[1:] }, chainlog.ErrProof},
		{"an older checkpoint", func(b *chainlog.ProofBundle) { b.Checkpoint = s.f.notes[2] }, chainlog.ErrProof},
	} {
		b := &chainlog.ProofBundle{Event: ev, Index: idx, Proof: append(tlog.RecordProof{}, proof...), Checkpoint: s.f.last()}
		c.edit(b)
		if _, err := chainlog.VerifyProofBundle(b, s.f.verifier); !errors.Is(err, c.wantErr) {
			t.Errorf("%s: VerifyProofBundle = %v; want %v", c.name, err, c.wantErr)
		}
	}
	b := &chainlog.ProofBundle{Event: ev, Index: idx, Proof: proof, Checkpoint: s.f.last()}
	if _, err := chainlog.VerifyProofBundle(b, otherVerifier); !errors.Is(err, chainlog.ErrCheckpointSignature) {
		t.Errorf("another key: VerifyProofBundle = %v; want ErrCheckpointSignature", err)
	}

	if _, _, _, err := st.ProveEvent(t.Context(), "no-such-event", 40); !errors.Is(err, chainlog.ErrNotFound) {
		t.Errorf("ProveEvent(unknown id) = %v; want ErrNotFound", err)
	}
}

func TestProvePreChainEvent(t *testing.T) {
	t.Parallel()
	path := newStorePath(t)
	st := openStore(t, path, sqlite.Options{DisableIntegrity: true})
	ingest(t, st, mkEvents(t, "node-a", 0, 3)...)
	closeStore(t, st)
	signer, verifier := chainlogtest.NewKey(t, testOrigin)
	st = openStore(t, path, sqlite.Options{})
	ingest(t, st, mkEvents(t, "node-a", 3, 6)...)
	signed, err := st.Checkpoint(t.Context(), signer, nil)
	if err != nil {
		t.Fatal(err)
	}
	c, err := chainlog.OpenCheckpoint(signed, verifier)
	if err != nil || c.Size != 3 {
		t.Fatalf("checkpoint = %+v, %v; want size 3 (pre-chain rows are not leaves)", c, err)
	}
	for i := range 3 {
		if _, _, _, err := st.ProveEvent(t.Context(), fmt.Sprintf("node-a/%d", i), c.Size); !errors.Is(err, chainlog.ErrNotInTree) {
			t.Errorf("ProveEvent(pre-chain node-a/%d) = %v; want ErrNotInTree", i, err)
		}
	}
	for i := 3; i < 6; i++ {
		ev, idx, proof, err := st.ProveEvent(t.Context(), fmt.Sprintf("node-a/%d", i), c.Size)
		if err != nil || idx != int64(i-3) || ev.ChainSeq != int64(i-2) {
			t.Fatalf("ProveEvent(node-a/%d) = index %d seq %d, %v; want leaf %d seq %d", i, idx, ev.ChainSeq, err, i-3, i-2)
		}
		if _, err := chainlog.VerifyProofBundle(&chainlog.ProofBundle{Event: ev, Index: idx, Proof: proof, Checkpoint: signed}, verifier); err != nil {
			t.Errorf("node-a/%d: %v", i, err)
		}
	}
	if _, _, _, err := st.ProveEvent(t.Context(), "nope", c.Size); !errors.Is(err, chainlog.ErrNotFound) {
		t.Errorf("ProveEvent(unknown id) = %v; want ErrNotFound", err)
	}
	closeStore(t, st)
	// Read-only, the same.
	ro := openRO(t, path)
	if _, _, _, err := ro.ProveEvent(t.Context(), "node-a/0", c.Size); !errors.Is(err, chainlog.ErrNotInTree) {
		t.Errorf("read-only ProveEvent(pre-chain) = %v; want ErrNotInTree", err)
	}
	if _, _, _, err := ro.ProveEvent(t.Context(), "nope", c.Size); !errors.Is(err, chainlog.ErrNotFound) {
		t.Errorf("read-only ProveEvent(unknown id) = %v; want ErrNotFound", err)
	}
	wantTreeMatchesBuilder(t, ro, 3)
}

// wantTreeMatchesBuilder checks that the stored tree head and the stored
// root at every size agree with a TreeBuilder over ScanLeaves, and that
// ScanLeaves numbers the leaves 0, 1, 2, ...
func wantTreeMatchesBuilder(t *testing.T, st *sqlite.Store, size int64) {
	t.Helper()
	var b chainlog.TreeBuilder
	roots := []tlog.Hash{b.Root()}
	err := st.ScanLeaves(t.Context(), func(index int64, l *chainlog.Leaf) error {
		if index != b.Size() {
			return fmt.Errorf("leaf %d at position %d", index, b.Size())
		}
		b.Add(chainlog.LeafHash(l))
		roots = append(roots, b.Root())
		return nil
	})
	if err != nil {
		t.Fatalf("ScanLeaves: %v", err)
	}
	if b.Size() != size {
		t.Fatalf("ScanLeaves gave %d leaves; want %d", b.Size(), size)
	}
	th, err := st.TreeHead(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if th.Size != size || th.Root != b.Root() {
		t.Errorf("TreeHead = %d %x; want %d %x", th.Size, th.Root, size, b.Root())
	}
	n, root, err := st.StoredTree(t.Context())
	if err != nil || n != th.Size || root != th.Root {
		t.Errorf("StoredTree = %d %x, %v; want the tree head", n, root, err)
	}
	for k := int64(0); k <= size; k++ {
		r, err := st.StoredRoot(t.Context(), k)
		if err != nil {
			t.Fatalf("StoredRoot(%d): %v", k, err)
		}
		if r != roots[k] {
			t.Errorf("StoredRoot(%d) = %x; want %x", k, r, roots[k])
		}
	}
}

func TestTreeHeadMatchesBuilder(t *testing.T) {
	t.Parallel()
	// One large batch (several segments), then small ones.
	all := interleave(mkEvents(t, "node-a", 0, 120), mkEvents(t, "node-b", 0, 60), mkEvents(t, "node-c", 0, 20))
	path := buildStore(t, sqlite.Options{}, all[:130], all[130:131], all[131:140], all[140:200])
	wantTreeMatchesBuilder(t, openRO(t, path), 200)
	st := openStore(t, path, sqlite.Options{})
	wantTreeMatchesBuilder(t, st, 200)
	// An empty store.
	empty := buildStore(t, sqlite.Options{}, nil)
	wantTreeMatchesBuilder(t, openRO(t, empty), 0)
	// A store with no tree (integrity off): no leaves.
	off := buildStore(t, sqlite.Options{DisableIntegrity: true}, all[:10])
	wantTreeMatchesBuilder(t, openRO(t, off), 0)
}

// TestMigratedStoreTree opens a store from schema version 2 (before the
// tree): migration 4 gives its stamped rows leaves in commit order, and
// checkpoints and proofs work on it.
func TestMigratedStoreTree(t *testing.T) {
	t.Parallel()
	path := copyFixture(t, chainlogV2)
	// Read-only, before the migration: no tree.
	ro := openRO(t, path)
	if th, err := ro.TreeHead(t.Context()); err != nil || th.Size != 0 || th.Root != emptyTreeRoot() {
		t.Errorf("v2 TreeHead = %+v, %v; want the empty tree", th, err)
	}
	if own, err := ro.LatestCheckpoint(t.Context()); err != nil || own != nil {
		t.Errorf("v2 LatestCheckpoint = %q, %v; want nil", own, err)
	}
	if _, _, _, err := ro.ProveEvent(t.Context(), "x", 1); !errors.Is(err, chainlog.ErrNotInTree) {
		t.Errorf("v2 ProveEvent = %v; want ErrNotInTree", err)
	}
	rep, err := chainlog.VerifyStore(t.Context(), ro, chainlog.VerifyOptions{Walk: true})
	if err != nil || rep.Tree.Status != chainlog.StatusEmpty || rep.Tree.Leaves != 0 {
		t.Errorf("v2 tree = %+v, %v; want empty", rep.Tree, err)
	}
	closeStore(t, ro)
	// The stamped rows in commit order, as the migration must number them.
	type want struct {
		id   string
		leaf chainlog.Leaf
	}
	var stamped []want
	var preChain []string
	for _, r := range rawQuery(t, path, `SELECT id, node_id, chain_seq, chain_hash FROM events ORDER BY rowid`) {
		if r[3] == "<NULL>" {
			preChain = append(preChain, r[0])
			continue
		}
		seq, _ := strconv.ParseInt(r[2], 10, 64)
		stamped = append(stamped, want{r[0], chainlog.Leaf{NodeID: r[1], Seq: seq, ChainHash: r[3]}})
	}
	if len(stamped) != v2Stamped || len(preChain) != v2PreChain {
		t.Fatalf("fixture: %d stamped, %d pre-chain rows", len(stamped), len(preChain))
	}
	var b chainlog.TreeBuilder
	for _, w := range stamped {
		b.Add(chainlog.LeafHash(&w.leaf))
	}

	st := openStore(t, path, sqlite.Options{})
	if v := userVersion(t, path); v != sqlite.SchemaVersion {
		t.Fatalf("user_version = %d; want %d", v, sqlite.SchemaVersion)
	}
	for i, w := range stamped {
		if got := rawValue(t, path, `SELECT leaf_index FROM events WHERE id = ?`, w.id); got != strconv.Itoa(i) {
			t.Errorf("%s: leaf_index %s; want %d (commit order)", w.id, got, i)
		}
	}
	for _, id := range preChain {
		if got := rawValue(t, path, `SELECT leaf_index FROM events WHERE id = ?`, id); got != "<NULL>" {
			t.Errorf("pre-chain %s: leaf_index %s; want NULL", id, got)
		}
	}
	th, err := st.TreeHead(t.Context())
	if err != nil || th.Size != v2Stamped || th.Root != b.Root() {
		t.Fatalf("TreeHead = %d %x, %v; want %d %x", th.Size, th.Root, err, v2Stamped, b.Root())
	}
	wantTreeMatchesBuilder(t, st, v2Stamped)

	// Checkpoints and proofs.
	f := &treeFixture{}
	f.signer, f.verifier = chainlogtest.NewKey(t, testOrigin)
	first, err := st.Checkpoint(t.Context(), f.signer, nil)
	if err != nil || first == nil {
		t.Fatalf("Checkpoint = %q, %v", first, err)
	}
	f.notes = append(f.notes, first)
	if c := f.open(t, first); c.Size != v2Stamped || c.Root != b.Root() {
		t.Errorf("checkpoint = %+v; want the migrated tree", c)
	}
	for i, w := range stamped {
		ev, idx, proof, err := st.ProveEvent(t.Context(), w.id, v2Stamped)
		if err != nil || idx != int64(i) {
			t.Fatalf("ProveEvent(%s) = %d, %v; want leaf %d", w.id, idx, err, i)
		}
		if ev.PayloadDigest != "" {
			t.Errorf("%s: payload digest %q; want none (stored before digests)", w.id, ev.PayloadDigest)
		}
		if _, err := chainlog.VerifyProofBundle(&chainlog.ProofBundle{Event: ev, Index: idx, Proof: proof, Checkpoint: first}, f.verifier); err != nil {
			t.Errorf("%s: %v", w.id, err)
		}
	}
	for _, id := range preChain {
		if _, _, _, err := st.ProveEvent(t.Context(), id, v2Stamped); !errors.Is(err, chainlog.ErrNotInTree) {
			t.Errorf("pre-chain %s: ProveEvent = %v; want ErrNotInTree", id, err)
		}
	}
	// New events extend the migrated tree.
	ingest(t, st, mkEvents(t, v2NodeCI, 100, 105)...)
	second, err := st.Checkpoint(t.Context(), f.signer, first)
	if err != nil || second == nil {
		t.Fatalf("second Checkpoint = %q, %v", second, err)
	}
	f.notes = append(f.notes, second)
	c1, c2 := f.open(t, first), f.open(t, second)
	if c2.Size != v2Stamped+5 {
		t.Errorf("second checkpoint size %d; want %d", c2.Size, v2Stamped+5)
	}
	proof, err := st.ProveConsistency(t.Context(), c1.Size, c2.Size)
	if err != nil {
		t.Fatal(err)
	}
	if err := chainlog.VerifyConsistency(&chainlog.ConsistencyProof{Old: c1.Size, New: c2.Size, Proof: proof}, c1, c2); err != nil {
		t.Errorf("VerifyConsistency: %v", err)
	}
	wantTreeMatchesBuilder(t, st, v2Stamped+5)
	closeStore(t, st)
	wantValid(t, verifyPath(t, path, ""), v2Stamped+5, v2PreChain)
	f.wantTree(t, path, f.cps(t), chainlog.StatusValid, nil, "")
	// Opening again does not build the tree twice.
	st = openStore(t, path, sqlite.Options{})
	wantTreeMatchesBuilder(t, st, v2Stamped+5)
	closeStore(t, st)
}
