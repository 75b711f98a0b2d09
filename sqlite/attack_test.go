package sqlite_test

import (
	"errors"
	"os"
	"strconv"
	"strings"
	"testing"

	"chainlog"
	"chainlog/internal/chainlogtest"
	"chainlog/sqlite"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

// The attacks a hash chain kept inside its own database cannot see, each
// against a real store: the store is built in batches, a checkpoint is
// signed after each batch and collected as the checkpoint file outside the
// store would collect it, the file is attacked through a raw connection or
// by copying it, and the tree is verified read-only against the collected
// checkpoints, as verify-integrity --checkpoint does.

// testOrigin is the fixtures' log name, the signer key's name.
const testOrigin = "chainlog/test-host/chainlog"

// treeFixture is a store built in four batches over three nodes, with the
// checkpoint signed after each batch and a copy of the file after each.
//
//	batch 1: a0 a1 b0 b1 a2   leaves  0..4   checkpoint size  5
//	batch 2: b2 a3 b3 c0      leaves  5..8   checkpoint size  9
//	batch 3: a4 b4 c1 a5      leaves  9..12  checkpoint size 13
//	batch 4: b5 a6 c2 c3      leaves 13..16  checkpoint size 17
//
// node-c's last two events are the tree's last two leaves; node-a's last
// event is followed by other nodes' leaves.
type treeFixture struct {
	path      string
	signer    note.Signer
	verifier  note.Verifier
	notes     [][]byte // the signed checkpoint after each batch
	snapshots []string // a copy of the store file after each batch
	leaves    []string // event ids in leaf order
	a, b, c   []chainlog.Event
}

var fixtureSizes = []int64{5, 9, 13, 17}

func (f *treeFixture) batches() [][]chainlog.Event {
	a, b, c := f.a, f.b, f.c
	return [][]chainlog.Event{
		{a[0], a[1], b[0], b[1], a[2]},
		{b[2], a[3], b[3], c[0]},
		{a[4], b[4], c[1], a[5]},
		{b[5], a[6], c[2], c[3]},
	}
}

func newTreeFixture(t *testing.T) *treeFixture {
	t.Helper()
	f := &treeFixture{path: newStorePath(t),
		a: mkEvents(t, "node-a", 0, 7), b: mkEvents(t, "node-b", 0, 6), c: mkEvents(t, "node-c", 0, 4)}
	f.signer, f.verifier = chainlogtest.NewKey(t, testOrigin)
	clock := testClock()
	for i, batch := range f.batches() {
		st := openStore(t, f.path, sqlite.Options{Now: clock})
		ingest(t, st, batch...)
		signed, err := st.Checkpoint(t.Context(), f.signer, f.last())
		if err != nil {
			t.Fatalf("batch %d: Checkpoint: %v", i+1, err)
		}
		if signed == nil {
			t.Fatalf("batch %d: Checkpoint signed nothing", i+1)
		}
		// Nothing new: a second call signs nothing.
		if again, err := st.Checkpoint(t.Context(), f.signer, signed); err != nil || again != nil {
			t.Fatalf("batch %d: second Checkpoint = %q, %v; want nil, nil", i+1, again, err)
		}
		closeStore(t, st)
		f.notes = append(f.notes, signed)
		for _, e := range batch {
			f.leaves = append(f.leaves, e.ID)
		}
		f.snapshots = append(f.snapshots, copyStore(t, f.path))
		if c := f.open(t, signed); c.Size != fixtureSizes[i] {
			t.Fatalf("batch %d: checkpoint size %d; want %d", i+1, c.Size, fixtureSizes[i])
		}
	}
	wantValid(t, verifyPath(t, f.path, ""), 17, 0)
	f.wantTree(t, f.path, f.cps(t), chainlog.StatusValid, nil, "", "", "", "")
	return f
}

// last returns the newest collected checkpoint, nil before the first.
func (f *treeFixture) last() []byte {
	if len(f.notes) == 0 {
		return nil
	}
	return f.notes[len(f.notes)-1]
}

func (f *treeFixture) open(t *testing.T, signed []byte) chainlog.Checkpoint {
	t.Helper()
	c, err := chainlog.OpenCheckpoint(signed, f.verifier)
	if err != nil {
		t.Fatalf("OpenCheckpoint: %v\n%s", err, signed)
	}
	return c
}

// cps returns the collected checkpoints, their signatures checked with the
// original verifier key.
func (f *treeFixture) cps(t *testing.T) []chainlog.SourcedCheckpoint {
	t.Helper()
	var cps []chainlog.SourcedCheckpoint
	for i, n := range f.notes {
		cps = append(cps, chainlog.SourcedCheckpoint{Checkpoint: f.open(t, n), Source: "checkpoints #" + strconv.Itoa(i+1)})
	}
	return cps
}

// copyStore copies the closed store at path (and its WAL, if any) to a new
// directory and returns the copy's path.
func copyStore(t *testing.T, path string) string {
	t.Helper()
	dst := newStorePath(t)
	for _, suffix := range []string{"", "-wal"} {
		b, err := os.ReadFile(path + suffix)
		if errors.Is(err, os.ErrNotExist) && suffix != "" {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(dst+suffix, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dst
}

// verifyTree verifies the tree of the store at path read-only against cps.
func verifyTree(t *testing.T, path string, cps []chainlog.SourcedCheckpoint) chainlog.TreeReport {
	t.Helper()
	st := openRO(t, path)
	defer st.Close()
	rep, err := chainlog.VerifyStore(t.Context(), st, chainlog.VerifyOptions{Checkpoints: cps, Walk: true})
	if err != nil {
		t.Fatalf("VerifyStore: %v", err)
	}
	checkOnePass(t, path, "", cps)
	return *rep.Tree
}

// wantTree verifies the store at path against cps and checks the report:
// its status, each checkpoint's status (nil: all as the report's status;
// "" in reasons: no reason), and the first break's reason (prefix) when
// the status is invalid.
func (f *treeFixture) wantTree(t *testing.T, path string, cps []chainlog.SourcedCheckpoint, status string,
	cpStatus []string, breakReason string, reasons ...string) chainlog.TreeReport {
	t.Helper()
	rep := verifyTree(t, path, cps)
	if rep.Status != status {
		t.Errorf("tree status = %q; want %q (break %+v, checkpoints %+v)", rep.Status, status, rep.Break, rep.Checkpoints)
	}
	if len(rep.Checkpoints) != len(cps) {
		t.Fatalf("%d checkpoint reports; want %d", len(rep.Checkpoints), len(cps))
	}
	for i, cr := range rep.Checkpoints {
		want := status
		if cpStatus != nil {
			want = cpStatus[i]
		}
		if cr.Status != want {
			t.Errorf("checkpoint %d (size %d): status %q (%s); want %q", i+1, cr.Size, cr.Status, cr.Reason, want)
		}
		if i < len(reasons) && reasons[i] != "" && !strings.HasPrefix(cr.Reason, reasons[i]) {
			t.Errorf("checkpoint %d (size %d): reason %q; want %q", i+1, cr.Size, cr.Reason, reasons[i])
		}
		if cr.Status == chainlog.StatusValid && cr.Reason != "" {
			t.Errorf("checkpoint %d: valid with reason %q", i+1, cr.Reason)
		}
	}
	switch {
	case status == chainlog.StatusInvalid && rep.Break == nil:
		t.Errorf("invalid tree without a break")
	case status == chainlog.StatusInvalid && rep.Break.Trail != chainlog.TrailTree:
		t.Errorf("break trail %q; want %q", rep.Break.Trail, chainlog.TrailTree)
	case status == chainlog.StatusInvalid && !strings.HasPrefix(rep.Break.Reason, breakReason):
		t.Errorf("break reason %q; want %q", rep.Break.Reason, breakReason)
	case status != chainlog.StatusInvalid && rep.Break != nil:
		t.Errorf("status %q with break %+v", rep.Status, rep.Break)
	}
	return rep
}

// wantChainValid checks that the hash chains alone see nothing wrong.
func wantChainValid(t *testing.T, path string, checked int64) {
	t.Helper()
	wantValid(t, verifyPath(t, path, ""), checked, 0)
}

// checkpointErr opens the store at path for writing and asks it to sign
// a checkpoint, with published as the last published one.
func checkpointErr(t *testing.T, path string, signer note.Signer, published []byte) ([]byte, error) {
	t.Helper()
	st := openStore(t, path, sqlite.Options{})
	defer closeStore(t, st)
	return st.Checkpoint(t.Context(), signer, published)
}

func wantInconsistent(t *testing.T, path string, signer note.Signer, published []byte) {
	t.Helper()
	signed, err := checkpointErr(t, path, signer, published)
	if !errors.Is(err, chainlog.ErrInconsistent) {
		t.Errorf("Checkpoint = %q, %v; want ErrInconsistent", signed, err)
	}
}

// The attacker's tools.

// rewindHeads points each node's chain head at its last remaining row, or
// deletes the head of a node with no rows left.
func rewindHeads(nodes ...string) []rawStmt {
	var stmts []rawStmt
	for _, n := range nodes {
		stmts = append(stmts,
			rawSQL(`UPDATE chain_heads SET
				chain_hash = (SELECT lower(hex(chain_hash)) FROM events WHERE node_id = ?1 ORDER BY chain_seq DESC LIMIT 1),
				seq = (SELECT max(chain_seq) FROM events WHERE node_id = ?1)
				WHERE node_id = ?1 AND EXISTS (SELECT 1 FROM events WHERE node_id = ?1)`, n),
			rawSQL(`DELETE FROM chain_heads WHERE node_id = ?1 AND NOT EXISTS (SELECT 1 FROM events WHERE node_id = ?1)`, n))
	}
	return stmts
}

// memHashes is a tlog.HashReader over stored hashes held in memory.
type memHashes []tlog.Hash

func (m memHashes) ReadHashes(indexes []int64) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(indexes))
	for i, idx := range indexes {
		if idx < 0 || idx >= int64(len(m)) {
			return nil, errors.New("hash index out of range")
		}
		out[i] = m[idx]
	}
	return out, nil
}

// forgedTree is a tree an attacker recomputed from the events.
type forgedTree struct {
	size   int64
	root   tlog.Hash
	hashes memHashes
}

// forgeTree is what an attacker without the signing key does after editing
// events: recompute every leaf from the events' own columns, in rowid
// order (renumbering leaf_index when renumber is set), replace the stored
// hashes with one segment and write the matching tree head. Afterwards the
// store is consistent with itself.
func forgeTree(t *testing.T, path string, renumber bool) forgedTree {
	t.Helper()
	rows := rawQuery(t, path, `SELECT rowid, leaf_index, node_id, chain_seq, chain_hash, payload_digest
		FROM events WHERE leaf_index IS NOT NULL ORDER BY rowid`)
	var ft forgedTree
	var stmts []rawStmt
	for i, r := range rows {
		seq, err := strconv.ParseInt(r[3], 10, 64)
		if err != nil {
			t.Fatal(err)
		}
		l := chainlog.Leaf{NodeID: r[2], Seq: seq, ChainHash: r[4], PayloadDigest: r[5]}
		if l.PayloadDigest == "<NULL>" {
			l.PayloadDigest = ""
		}
		if renumber {
			stmts = append(stmts, rawSQL(`UPDATE events SET leaf_index = ? WHERE rowid = ?`, i, r[0]))
		} else if r[1] != strconv.Itoa(i) {
			t.Fatalf("row %s has leaf %s at position %d; renumber", r[0], r[1], i)
		}
		hs, err := tlog.StoredHashesForRecordHash(int64(i), chainlog.LeafHash(&l), ft.hashes)
		if err != nil {
			t.Fatal(err)
		}
		ft.hashes = append(ft.hashes, hs...)
	}
	ft.size = int64(len(rows))
	root, err := tlog.TreeHash(ft.size, ft.hashes)
	if err != nil {
		t.Fatal(err)
	}
	ft.root = root
	blob := make([]byte, 0, len(ft.hashes)*tlog.HashSize)
	for _, h := range ft.hashes {
		blob = append(blob, h[:]...)
	}
	stmts = append(stmts, rawSQL(`DELETE FROM merkle_segments`), rawSQL(`DELETE FROM tree_head`))
	if ft.size > 0 {
		stmts = append(stmts,
			rawSQL(`INSERT INTO merkle_segments (start, hashes) VALUES (0, ?)`, blob),
			rawSQL(`INSERT INTO tree_head (id, size, root, updated_at) VALUES (1, ?, ?, '2026-03-01T12:00:00.000000Z')`, ft.size, ft.root[:]))
	}
	attack(t, path, stmts...)
	return ft
}

// wantStoredTree checks that the store's own tree head and stored hashes
// agree with ft, as the attacker meant them to.
func wantStoredTree(t *testing.T, path string, ft forgedTree) {
	t.Helper()
	st := openRO(t, path)
	defer st.Close()
	th, err := st.TreeHead(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if th.Size != ft.size || th.Root != ft.root {
		t.Fatalf("tree head = %d %x; want the forged %d %x", th.Size, th.Root, ft.size, ft.root)
	}
	if ft.size > 0 {
		if r, err := st.StoredRoot(t.Context(), ft.size); err != nil || r != ft.root {
			t.Fatalf("StoredRoot(%d) = %x, %v; want %x", ft.size, r, err, ft.root)
		}
	}
}

// recomputeChain rewrites node's chain from seq from on: every chain_prev_hash
// and chain_hash is recomputed from the stored identity fields, and the head
// moved to the last one. Payload digests are left as they are (they do not
// depend on the chain).
func recomputeChain(t *testing.T, path, node string, from int64) []rawStmt {
	t.Helper()
	chain := chainOf(t, path, node)
	prev := chainlog.GenesisHash
	var stmts []rawStmt
	for _, r := range chain {
		if r.Seq >= from {
			h := chainlog.ChainHash(prev, &r.Event)
			stmts = append(stmts, rawSQL(`UPDATE events SET chain_prev_hash = ?, chain_hash = ? WHERE id = ?`, prev, h, r.ID))
			prev = h
		} else {
			prev = r.Hash
		}
	}
	return append(stmts, rawSQL(`UPDATE chain_heads SET chain_hash = ?, seq = ? WHERE node_id = ?`, prev, len(chain), node))
}

// TestAttackTruncateTailOneNode deletes node-c's two newest events, which
// are the tree's last two leaves, and rewinds node-c's head: the chains
// cannot tell. The tree head still says 17 leaves; once the attacker
// rewinds the tree too, only the checkpoint outside the store shows it.
func TestAttackTruncateTailOneNode(t *testing.T) {
	t.Parallel()
	f := newTreeFixture(t)
	attack(t, f.path, append([]rawStmt{rawSQL(`DELETE FROM events WHERE id IN (?, ?)`, f.c[2].ID, f.c[3].ID)},
		rewindHeads("node-c")...)...)
	wantChainValid(t, f.path, 15)
	if h := headsPath(t, f.path)["node-c"]; h.Seq != 2 {
		t.Fatalf("node-c head seq %d; want 2", h.Seq)
	}
	cps := f.cps(t)
	valid, invalid := chainlog.StatusValid, chainlog.StatusInvalid
	// The stored tree head was left at 17.
	rep := f.wantTree(t, f.path, cps, invalid, []string{valid, valid, valid, invalid},
		chainlog.ReasonTreeHeadMismatch, "", "", "", chainlog.ReasonTruncated)
	if rep.Leaves != 15 {
		t.Errorf("leaves = %d; want 15", rep.Leaves)
	}
	// The attacker rewinds the tree as well: the store is consistent with
	// itself, and the last checkpoint names the truncation.
	ft := forgeTree(t, f.path, false)
	if ft.size != 15 {
		t.Fatalf("forged tree size %d; want 15", ft.size)
	}
	wantStoredTree(t, f.path, ft)
	wantChainValid(t, f.path, 15)
	rep = f.wantTree(t, f.path, cps, invalid, []string{valid, valid, valid, invalid},
		chainlog.ReasonTruncated, "", "", "", chainlog.ReasonTruncated)
	if b := rep.Break; b.Seq != 17 || b.Expected != "17 leaves" || b.Found != "15 leaves" {
		t.Errorf("break = %+v; want seq 17, expected 17 leaves, found 15", b)
	}
	// Without the checkpoints, nothing is wrong.
	f.wantTree(t, f.path, nil, chainlog.StatusValid, nil, "")
	// The store refuses to sign its shorter tree, whether the last
	// checkpoint comes from outside or from its own copy.
	wantInconsistent(t, f.path, f.signer, f.last())
	wantInconsistent(t, f.path, f.signer, nil)
	// The refusal carries its evidence: the store's tree and the
	// checkpoint it does not extend.
	_, err := checkpointErr(t, f.path, f.signer, f.last())
	var ie *chainlog.InconsistencyError
	if !errors.As(err, &ie) {
		t.Fatalf("Checkpoint = %v; want an *InconsistencyError", err)
	}
	if want := f.open(t, f.last()); ie.Size != ft.size || ie.Root != ft.root || ie.Checkpoint.Size != want.Size || ie.Checkpoint.Root != want.Root {
		t.Errorf("evidence: tree %d %v, checkpoint %d %v; want tree %d %v, checkpoint %d %v",
			ie.Size, ie.Root, ie.Checkpoint.Size, ie.Checkpoint.Root, ft.size, ft.root, want.Size, want.Root)
	}
	// ... even once it has grown past the checkpoint's size again.
	st := openStore(t, f.path, sqlite.Options{})
	ingest(t, st, mkEvents(t, "node-c", 10, 14)...)
	if signed, err := st.Checkpoint(t.Context(), f.signer, f.last()); !errors.Is(err, chainlog.ErrInconsistent) {
		t.Errorf("Checkpoint after regrowing = %q, %v; want ErrInconsistent", signed, err)
	}
	closeStore(t, st)
	f.wantTree(t, f.path, cps, invalid, []string{valid, valid, valid, invalid},
		chainlog.ReasonRootMismatch, "", "", "", chainlog.ReasonRootMismatch)
}

// TestAttackTruncateTailOneNodeInterleaved deletes node-a's newest event,
// which other nodes' leaves follow: the leaf numbers have a gap.
func TestAttackTruncateTailOneNodeInterleaved(t *testing.T) {
	t.Parallel()
	f := newTreeFixture(t)
	attack(t, f.path, append([]rawStmt{rawSQL(`DELETE FROM events WHERE id = ?`, f.a[6].ID)},
		rewindHeads("node-a")...)...)
	wantChainValid(t, f.path, 16)
	cps := f.cps(t)
	valid, invalid := chainlog.StatusValid, chainlog.StatusInvalid
	rep := f.wantTree(t, f.path, cps, invalid, []string{valid, valid, valid, invalid},
		chainlog.ReasonLeafMissing, "", "", "", chainlog.ReasonLeafMissing)
	if b := rep.Break; b.Seq != 14 || b.Expected != "14" || b.Found != "15" {
		t.Errorf("break = %+v; want leaf 14 missing, 15 found", b)
	}
	// Renumbering the leaves and rebuilding the tree closes the gap; the
	// tree is then shorter than the last checkpoint and its last leaves
	// moved.
	ft := forgeTree(t, f.path, true)
	wantStoredTree(t, f.path, ft)
	f.wantTree(t, f.path, cps, invalid, []string{valid, valid, valid, invalid},
		chainlog.ReasonTruncated, "", "", "", chainlog.ReasonTruncated)
	wantInconsistent(t, f.path, f.signer, f.last())
}

// TestAttackTruncateTailAllNodes deletes the last batch, the newest events
// of every node, and rewinds every head and the tree: what is left is
// exactly the store as it was after batch 3.
func TestAttackTruncateTailAllNodes(t *testing.T) {
	t.Parallel()
	f := newTreeFixture(t)
	last := f.batches()[3]
	var del []rawStmt
	for _, e := range last {
		del = append(del, rawSQL(`DELETE FROM events WHERE id = ?`, e.ID))
	}
	attack(t, f.path, append(del, rewindHeads("node-a", "node-b", "node-c")...)...)
	wantChainValid(t, f.path, 13)
	ft := forgeTree(t, f.path, false)
	if ft.size != 13 || ft.root != f.open(t, f.notes[2]).Root {
		t.Fatalf("forged tree = %d %x; want checkpoint 3's tree", ft.size, ft.root)
	}
	// The stored checkpoint is rewound too.
	attack(t, f.path, rawSQL(`UPDATE checkpoint_latest SET size = 13, note = ?`, string(f.notes[2])))
	cps := f.cps(t)
	valid, invalid := chainlog.StatusValid, chainlog.StatusInvalid
	f.wantTree(t, f.path, cps, invalid, []string{valid, valid, valid, invalid},
		chainlog.ReasonTruncated, "", "", "", chainlog.ReasonTruncated)
	// Against the store's own (rewound) copy alone, nothing shows.
	f.wantTree(t, f.path, cps[2:3], valid, nil, "")
	// Only the published checkpoint stops the store from signing.
	wantInconsistent(t, f.path, f.signer, f.last())
	if signed, err := checkpointErr(t, f.path, f.signer, nil); err != nil || signed != nil {
		t.Errorf("Checkpoint with no published checkpoint = %q, %v; want nil, nil (nothing new for all it knows)", signed, err)
	}
}

// TestAttackRollback replaces the store with the copy taken after batch 2
// and verifies it against the checkpoint from batch 4.
func TestAttackRollback(t *testing.T) {
	t.Parallel()
	f := newTreeFixture(t)
	old := f.snapshots[1]
	wantChainValid(t, old, 9)
	cps := f.cps(t)
	valid, invalid := chainlog.StatusValid, chainlog.StatusInvalid
	f.wantTree(t, old, cps[3:], invalid, nil, chainlog.ReasonTruncated, chainlog.ReasonTruncated)
	f.wantTree(t, old, cps, invalid, []string{valid, valid, invalid, invalid},
		chainlog.ReasonTruncated, "", "", chainlog.ReasonTruncated, chainlog.ReasonTruncated)
	// The old copy's own checkpoint is batch 2's, and it matches.
	st := openRO(t, old)
	own, err := st.LatestCheckpoint(t.Context())
	closeStore(t, st)
	if err != nil || string(own) != string(f.notes[1]) {
		t.Fatalf("rolled-back store's checkpoint = %q, %v; want batch 2's", own, err)
	}
	// It refuses to sign given the published checkpoint, before and after
	// it grows past the published size.
	wantInconsistent(t, old, f.signer, f.last())
	st = openStore(t, old, sqlite.Options{})
	ingest(t, st, mkEvents(t, "node-d", 0, 10)...)
	if signed, err := st.Checkpoint(t.Context(), f.signer, f.last()); !errors.Is(err, chainlog.ErrInconsistent) {
		t.Errorf("Checkpoint of the regrown old copy = %q, %v; want ErrInconsistent", signed, err)
	}
	closeStore(t, st)
	f.wantTree(t, old, cps, invalid, []string{valid, valid, invalid, invalid},
		chainlog.ReasonRootMismatch, "", "", chainlog.ReasonRootMismatch, chainlog.ReasonRootMismatch)
}

// TestAttackDeleteNode deletes node-b: its events and its chain head.
func TestAttackDeleteNode(t *testing.T) {
	t.Parallel()
	f := newTreeFixture(t)
	attack(t, f.path, rawSQL(`DELETE FROM events WHERE node_id = 'node-b'`), rawSQL(`DELETE FROM chain_heads WHERE node_id = 'node-b'`))
	rep := verifyPath(t, f.path, "")
	wantValid(t, rep, 11, 0)
	if len(rep.Nodes) != 2 {
		t.Errorf("nodes = %+v; want node-a and node-c only", rep.Nodes)
	}
	cps := f.cps(t)
	invalid := chainlog.StatusInvalid
	// b0 was leaf 2.
	tr := f.wantTree(t, f.path, cps, invalid, nil, chainlog.ReasonLeafMissing,
		chainlog.ReasonLeafMissing, chainlog.ReasonLeafMissing, chainlog.ReasonLeafMissing, chainlog.ReasonLeafMissing)
	if tr.Break.Seq != 2 {
		t.Errorf("break at leaf %d; want 2", tr.Break.Seq)
	}
	// Renumbered, with the tree rebuilt: every checkpoint's root differs
	// (the first one is of size 5, and 11 leaves are left).
	wantStoredTree(t, f.path, forgeTree(t, f.path, true))
	f.wantTree(t, f.path, cps, invalid, nil, chainlog.ReasonRootMismatch,
		chainlog.ReasonRootMismatch, chainlog.ReasonRootMismatch, chainlog.ReasonTruncated, chainlog.ReasonTruncated)
	wantInconsistent(t, f.path, f.signer, f.last())
}

// TestAttackRecomputeWithForgedKey alters an identity field, recomputes the
// node's chain, its head and the whole tree, and signs the forged tree with
// a new key of the same name. Everything in the store agrees with
// everything else; only the original verifier key tells.
func TestAttackRecomputeWithForgedKey(t *testing.T) {
	t.Parallel()
	f := newTreeFixture(t)
	victim := f.a[1] // node-a seq 2, leaf 1
	attack(t, f.path, rawSQL(`UPDATE events SET event_type = 'forged' WHERE id = ?`, victim.ID))
	attack(t, f.path, recomputeChain(t, f.path, "node-a", 2)...)
	wantChainValid(t, f.path, 17)
	ft := forgeTree(t, f.path, false)
	wantStoredTree(t, f.path, ft)
	if ft.size != 17 || ft.root == f.open(t, f.last()).Root {
		t.Fatalf("forged tree = %d %x; want 17 leaves and another root", ft.size, ft.root)
	}
	forgedSigner, forgedVerifier := chainlogtest.NewKey(t, testOrigin)
	forged, err := chainlog.SignCheckpoint(chainlog.Checkpoint{Origin: testOrigin, Size: ft.size, Root: ft.root}, forgedSigner)
	if err != nil {
		t.Fatal(err)
	}
	attack(t, f.path, rawSQL(`UPDATE checkpoint_latest SET size = ?, note = ?`, ft.size, string(forged)))

	// The forged checkpoint fails with the original key...
	if _, err := chainlog.OpenCheckpoint(forged, f.verifier); !errors.Is(err, chainlog.ErrCheckpointSignature) {
		t.Errorf("OpenCheckpoint(forged, original key) = %v; want ErrCheckpointSignature", err)
	}
	// ... and matches the store with the forger's key: the store is
	// consistent with itself.
	fc, err := chainlog.OpenCheckpoint(forged, forgedVerifier)
	if err != nil {
		t.Fatal(err)
	}
	f.wantTree(t, f.path, []chainlog.SourcedCheckpoint{{Checkpoint: fc, Source: "forged"}}, chainlog.StatusValid, nil, "")
	// The original checkpoints all fail: leaf 1 changed.
	cps := f.cps(t)
	f.wantTree(t, f.path, cps, chainlog.StatusInvalid, nil, chainlog.ReasonRootMismatch,
		chainlog.ReasonRootMismatch, chainlog.ReasonRootMismatch, chainlog.ReasonRootMismatch, chainlog.ReasonRootMismatch)
	// Verifying the store's own copy with the original key flags its
	// signature; the copy passed as is (not opened) matches.
	sc := chainlog.SourcedCheckpoint{Checkpoint: fc, Source: "store"}
	if _, err := chainlog.OpenCheckpoint(forged, f.verifier); err != nil {
		sc.Invalid = err.Error()
	}
	f.wantTree(t, f.path, []chainlog.SourcedCheckpoint{sc}, chainlog.StatusInvalid, nil, chainlog.ErrCheckpointSignature.Error(),
		chainlog.ErrCheckpointSignature.Error())

	// The real key is never made to sign the rewritten history: not now,
	// not after the store grows. (The store's own copy is the forged
	// checkpoint, which matches the forged tree; the published checkpoint
	// must still be checked.)
	wantInconsistent(t, f.path, f.signer, f.last())
	st := openStore(t, f.path, sqlite.Options{})
	ingest(t, st, mkEvents(t, "node-a", 7, 9)...)
	if signed, err := st.Checkpoint(t.Context(), f.signer, f.last()); !errors.Is(err, chainlog.ErrInconsistent) {
		t.Errorf("Checkpoint of the grown forged store = %q, %v; want ErrInconsistent", signed, err)
	}
	closeStore(t, st)
}

// TestAttackRecomputeKeepsStoredCheckpoint is the same rewrite with the
// store's own checkpoint left alone: the store itself refuses to sign.
func TestAttackRecomputeKeepsStoredCheckpoint(t *testing.T) {
	t.Parallel()
	f := newTreeFixture(t)
	attack(t, f.path, rawSQL(`UPDATE events SET ts = '2026-01-01T00:00:00.000Z' WHERE id = ?`, f.b[4].ID))
	attack(t, f.path, recomputeChain(t, f.path, "node-b", 5)...)
	wantChainValid(t, f.path, 17)
	wantStoredTree(t, f.path, forgeTree(t, f.path, false))
	valid, invalid := chainlog.StatusValid, chainlog.StatusInvalid
	// b4 is leaf 10: the first two checkpoints still match.
	f.wantTree(t, f.path, f.cps(t), invalid, []string{valid, valid, invalid, invalid},
		chainlog.ReasonRootMismatch, "", "", chainlog.ReasonRootMismatch, chainlog.ReasonRootMismatch)
	wantInconsistent(t, f.path, f.signer, nil)
	wantInconsistent(t, f.path, f.signer, f.last())
	// Older published checkpoints that the rewrite did not reach do not
	// stop it; the store's own copy does.
	wantInconsistent(t, f.path, f.signer, f.notes[1])
}

// TestAttackCheckpointFromAnotherKey swaps in checkpoints signed by another
// key with the same name, and tampers with real ones.
func TestAttackCheckpointFromAnotherKey(t *testing.T) {
	t.Parallel()
	f := newTreeFixture(t)
	c := f.open(t, f.last())
	other, _ := chainlogtest.NewKey(t, testOrigin)
	swapped, err := chainlog.SignCheckpoint(c, other)
	if err != nil {
		t.Fatal(err)
	}
	// Same body, same origin, another key: not signed by the verifier.
	if _, err := chainlog.OpenCheckpoint(swapped, f.verifier); !errors.Is(err, chainlog.ErrCheckpointSignature) {
		t.Errorf("OpenCheckpoint(another key) = %v; want ErrCheckpointSignature", err)
	}
	// A real checkpoint with its size edited, and with its signature
	// edited.
	lines := strings.SplitN(string(f.last()), "\n", 3)
	edited := []byte(lines[0] + "\n18\n" + lines[2])
	if _, err := chainlog.OpenCheckpoint(edited, f.verifier); !errors.Is(err, chainlog.ErrCheckpointSignature) {
		t.Errorf("OpenCheckpoint(size edited) = %v; want ErrCheckpointSignature", err)
	}
	sig := []byte(string(f.last()))
	i := len(sig) - 10
	if sig[i] == 'A' {
		sig[i] = 'B'
	} else {
		sig[i] = 'A'
	}
	if _, err := chainlog.OpenCheckpoint(sig, f.verifier); !errors.Is(err, chainlog.ErrCheckpointSignature) {
		t.Errorf("OpenCheckpoint(signature edited) = %v; want ErrCheckpointSignature", err)
	}
	// A key of another name.
	_, otherName := chainlogtest.NewKey(t, "chainlog/elsewhere/chainlog")
	if _, err := chainlog.OpenCheckpoint(f.last(), otherName); !errors.Is(err, chainlog.ErrCheckpointSignature) {
		t.Errorf("OpenCheckpoint(verifier of another log) = %v; want ErrCheckpointSignature", err)
	}
	// The key's name must be the origin line.
	named, _ := chainlogtest.NewKey(t, "chainlog/elsewhere/chainlog")
	if _, err := chainlog.SignCheckpoint(c, named); err == nil {
		t.Error("SignCheckpoint with a key of another name: no error")
	}
	// The store refuses a signer of another name.
	_, err = checkpointErr(t, f.path, named, f.last())
	if err == nil || errors.Is(err, chainlog.ErrInconsistent) {
		t.Errorf("Checkpoint with a key for another log = %v; want an origin error", err)
	}
}

// TestAttackTwoInconsistentCheckpoints signs, with the real key, the tree
// of a fork: a copy of the store after batch 3 that took other events at
// the positions of batch 4.
func TestAttackTwoInconsistentCheckpoints(t *testing.T) {
	t.Parallel()
	f := newTreeFixture(t)
	fork := copyStore(t, f.snapshots[2])
	st := openStore(t, fork, sqlite.Options{})
	ingest(t, st, mkEvents(t, "node-x", 0, 4)...)
	// The fork knows only its own checkpoints; it signs.
	forkNote, err := st.Checkpoint(t.Context(), f.signer, f.notes[2])
	if err != nil || forkNote == nil {
		t.Fatalf("Checkpoint of the fork = %q, %v", forkNote, err)
	}
	// Given the published checkpoint of the real tree, it refuses.
	if signed, err := st.Checkpoint(t.Context(), f.signer, f.last()); !errors.Is(err, chainlog.ErrInconsistent) {
		t.Errorf("Checkpoint of the fork given the real checkpoint = %q, %v; want ErrInconsistent", signed, err)
	}
	closeStore(t, st)
	fc := f.open(t, forkNote)
	if fc.Size != 17 {
		t.Fatalf("fork checkpoint size %d; want 17", fc.Size)
	}
	cps := append(f.cps(t), chainlog.SourcedCheckpoint{Checkpoint: fc, Source: "fork"})
	valid, invalid := chainlog.StatusValid, chainlog.StatusInvalid
	// Against the real store: the fork's checkpoint has another root, and
	// two checkpoints of size 17 disagree.
	f.wantTree(t, f.path, cps, invalid, []string{valid, valid, valid, invalid, invalid},
		chainlog.ReasonEquivocation, "", "", "", chainlog.ReasonEquivocation, chainlog.ReasonEquivocation)
	// Against the fork, the same.
	f.wantTree(t, fork, cps, invalid, []string{valid, valid, valid, invalid, invalid},
		chainlog.ReasonEquivocation, "", "", "", chainlog.ReasonEquivocation, chainlog.ReasonEquivocation)
	// Each store alone with the other's checkpoint: a root mismatch.
	f.wantTree(t, f.path, cps[4:], invalid, nil, chainlog.ReasonRootMismatch, chainlog.ReasonRootMismatch)
	f.wantTree(t, fork, cps[3:4], invalid, nil, chainlog.ReasonRootMismatch, chainlog.ReasonRootMismatch)
	// No consistency proof links them.
	for _, path := range []string{f.path, fork} {
		st := openRO(t, path)
		proof, err := st.ProveConsistency(t.Context(), 13, 17)
		closeStore(t, st)
		if err != nil {
			t.Fatal(err)
		}
		p := chainlog.ConsistencyProof{Old: 13, New: 17, Proof: proof}
		real4, real3 := f.open(t, f.notes[3]), f.open(t, f.notes[2])
		other := real4
		if path == f.path {
			other = fc
		}
		if err := chainlog.VerifyConsistency(&p, real3, other); !errors.Is(err, chainlog.ErrProof) {
			t.Errorf("%s: consistency proof 13 -> the other tree's 17 = %v; want ErrProof", path, err)
		}
	}

	// A fork of another size: a root mismatch, no equivocation.
	fork2 := copyStore(t, f.snapshots[2])
	st = openStore(t, fork2, sqlite.Options{})
	ingest(t, st, mkEvents(t, "node-y", 0, 2)...)
	fork2Note, err := st.Checkpoint(t.Context(), f.signer, nil)
	closeStore(t, st)
	if err != nil {
		t.Fatal(err)
	}
	cps = append(f.cps(t), chainlog.SourcedCheckpoint{Checkpoint: f.open(t, fork2Note), Source: "fork2"})
	f.wantTree(t, f.path, cps, invalid, []string{valid, valid, valid, valid, invalid},
		chainlog.ReasonRootMismatch, "", "", "", "", chainlog.ReasonRootMismatch)
}

// TestCheckpointNothingNew: Checkpoint signs nothing while the tree has not
// grown, including after a batch of duplicates, and signs again once it
// grows.
func TestCheckpointNothingNew(t *testing.T) {
	t.Parallel()
	f := newTreeFixture(t)
	st := openStore(t, f.path, sqlite.Options{})
	for _, published := range [][]byte{nil, f.last()} {
		if signed, err := st.Checkpoint(t.Context(), f.signer, published); err != nil || signed != nil {
			t.Errorf("Checkpoint(published %v) = %q, %v; want nil, nil", published != nil, signed, err)
		}
	}
	if res := ingest(t, st, f.batches()[3]...); res.Inserted != 0 || res.Duplicates != 4 {
		t.Fatalf("re-ingest = %+v; want 4 duplicates", res)
	}
	if signed, err := st.Checkpoint(t.Context(), f.signer, f.last()); err != nil || signed != nil {
		t.Errorf("Checkpoint after duplicates = %q, %v; want nil, nil", signed, err)
	}
	// An older published checkpoint (as after a failed publish): the
	// store hands its current checkpoint out again rather than sign the
	// same tree twice.
	if signed, err := st.Checkpoint(t.Context(), f.signer, f.notes[0]); err != nil || string(signed) != string(f.last()) {
		t.Errorf("Checkpoint(older published) = %q, %v; want the stored checkpoint again", signed, err)
	}
	ingest(t, st, mkEvent(t, "node-a", 7))
	signed, err := st.Checkpoint(t.Context(), f.signer, f.last())
	if err != nil || signed == nil {
		t.Fatalf("Checkpoint after growth = %q, %v", signed, err)
	}
	if c := f.open(t, signed); c.Size != 18 {
		t.Errorf("size %d; want 18", c.Size)
	}
	if own, err := st.LatestCheckpoint(t.Context()); err != nil || string(own) != string(signed) {
		t.Errorf("LatestCheckpoint = %q, %v; want the new checkpoint", own, err)
	}
	closeStore(t, st)
	// A read-only store does not sign.
	ro := openRO(t, f.path)
	if _, err := ro.Checkpoint(t.Context(), f.signer, nil); err == nil {
		t.Error("Checkpoint on a read-only store: no error")
	}
}

// TestAttackEraseAmendment: checkpoints record the amendment trail's head,
// so deleting the trail and putting the ingested payload back (which the
// chains, the payload digests and the tree alone cannot see) is caught by
// the checkpoint signed after the amendment.
func TestAttackEraseAmendment(t *testing.T) {
	t.Parallel()
	f := newTreeFixture(t)
	victim := f.a[0]
	st := openStore(t, f.path, sqlite.Options{})
	mustAmend(t, st, amendReq(victim.ID, "price correction", chainlog.Patch{Set: []string{chainlog.FieldModel},
		Values: chainlog.Mutable{Model: ptr("claude-opus-4")}}))
	// The trail grew, and the tree with its anchor event: a new checkpoint
	// records both.
	signed, err := st.Checkpoint(t.Context(), f.signer, f.last())
	if err != nil || signed == nil {
		t.Fatalf("Checkpoint after an amendment = %q, %v; want a new checkpoint", signed, err)
	}
	if seq, _, ok, _ := f.open(t, signed).Amendments(); !ok || seq != 1 {
		t.Fatalf("the new checkpoint records trail seq %d (%v); want 1", seq, ok)
	}
	f.notes = append(f.notes, signed)
	// Nothing new after that.
	if again, err := st.Checkpoint(t.Context(), f.signer, f.last()); err != nil || again != nil {
		t.Fatalf("Checkpoint again = %q, %v; want nil, nil", again, err)
	}
	closeStore(t, st)
	attack(t, f.path, rawSQL(`DELETE FROM amendments`), rawSQL(`DELETE FROM amendment_head`),
		rawSQL(`UPDATE events SET model = NULL WHERE id = ?`, victim.ID))
	// Chains, payloads and the (empty) trail alone look fine; the anchor
	// event the amendment appended (a leaf, covered by the checkpoint)
	// names a record that is gone.
	rep := verifyPath(t, f.path, "")
	if a := rep.Amendments; rep.Checked != 17+1 || a.Break == nil || a.Break.Reason != chainlog.ReasonAnchorNoRecord || a.Break.Seq != 1 {
		t.Errorf("checked %d, amendments %+v; want 17+1 rows and the anchor of seq 1 without its record", rep.Checked, a)
	}
	cps := f.cps(t)
	statuses := make([]string, len(cps))
	for i := range statuses {
		statuses[i] = chainlog.StatusValid
	}
	statuses[len(statuses)-1] = chainlog.StatusInvalid
	reasons := make([]string, len(cps))
	reasons[len(reasons)-1] = chainlog.ReasonTrailRewritten
	f.wantTree(t, f.path, cps, chainlog.StatusInvalid, statuses, chainlog.ReasonTrailRewritten, reasons...)

	// And the store refuses to sign past the erased trail.
	st = openStore(t, f.path, sqlite.Options{})
	defer closeStore(t, st)
	if _, err := st.Checkpoint(t.Context(), f.signer, f.last()); !errors.Is(err, chainlog.ErrInconsistent) {
		t.Errorf("Checkpoint after the trail was erased: %v; want ErrInconsistent", err)
	}
}
