// Package storetest is the conformance suite of chainlog.Store: what every
// storage backend must do, checked through the interface alone. A backend's
// tests call Run with a function that makes a fresh, empty storage for each
// subtest:
//
//	func TestStore(t *testing.T) {
//		storetest.Run(t, func(t *testing.T) storetest.Backend { ... })
//	}
//
// The suite covers ingest and de-duplication, the chain hashes against the
// known-answer vectors in the module's testdata, heads, durability across a
// reopen, and two writers on one storage, watcher cursors committed with
// the events, the tree and its proofs, checkpoints, amendments, read-only
// refusal, commit order and not-found behaviour, retention (a backend that
// is a chainlog.Pruner), a collector's side of forwarding
// (chainlog.Replicator), and VerifyStore finds what each subtest wrote
// VALID.
package storetest

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"chainlog"
	"chainlog/internal/chainlogtest"

	"golang.org/x/mod/sumdb/tlog"
)

// Backend opens one storage, fresh and empty, in the ways the suite needs.
// The suite closes every store it opens.
type Backend struct {
	// Open opens the storage for writing. Each call opens another writer
	// on the same storage.
	Open func(t *testing.T) chainlog.Store
	// OpenReadOnly opens the same storage read-only: it must never write.
	OpenReadOnly func(t *testing.T) chainlog.Store
	// Amend applies one change (chainlog.KindAmend) to a stored event's
	// mutable fields through the backend's sanctioned amend call, and
	// returns the trail's new record.
	Amend func(ctx context.Context, s chainlog.Store, id string, p chainlog.Patch, reason, actor string) (chainlog.Amendment, error)
	// SharedWriters says that two stores opened for writing on one storage
	// may write at once (two processes on one file).
	SharedWriters bool

	// RewriteTrail and DeleteEvent change the storage as someone who can
	// write it would, behind the store's back: RewriteTrail replaces the
	// stored amendment records of recs' seqs with recs, and the trail's
	// head with head; DeleteEvent deletes the row of event id, and nothing
	// else (not its chain's head, nor the tree's stored hashes).
	RewriteTrail func(t *testing.T, recs []chainlog.Amendment, head chainlog.Head)
	DeleteEvent  func(t *testing.T, id string)
}

// Run runs the conformance suite, each subtest on a storage newBackend makes.
func Run(t *testing.T, newBackend func(t *testing.T) Backend) {
	tests := []struct {
		name string
		fn   func(t *testing.T, b Backend)
	}{
		{"Vectors", testVectors},
		{"Duplicates", testDuplicates},
		{"Heads", testHeads},
		{"Reopen", testReopen},
		{"SharedWriters", testSharedWriters},
		{"CommitOrder", testCommitOrder},
		{"TreeAndProofs", testTreeAndProofs},
		{"Checkpoint", testCheckpoint},
		{"Amendments", testAmendments},
		{"Anchors", testAnchors},
		{"AnchorTrailRewritten", testAnchorTrailRewritten},
		{"AnchorDeleted", testAnchorDeleted},
		{"ReadOnly", testReadOnly},
		{"Cursors", testCursors},
		{"CursorsAtomic", testCursorsAtomic},
		{"NotFound", testNotFound},
		{"Prune", testPrune},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.fn(t, newBackend(t))
		})
	}
	t.Run("Replicate", func(t *testing.T) { testReplicate(t, newBackend) })
}

func open(t *testing.T, b Backend) chainlog.Store {
	t.Helper()
	return closedAtEnd(t, b.Open(t), "Close")
}

func openRO(t *testing.T, b Backend) chainlog.Store {
	t.Helper()
	return closedAtEnd(t, b.OpenReadOnly(t), "Close (read-only)")
}

// closedAtEnd closes s when the test ends, and fails the test if that fails.
func closedAtEnd(t *testing.T, s chainlog.Store, what string) chainlog.Store {
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("%s: %v", what, err)
		}
	})
	return s
}

// event decodes one event of node with id, as the ingest path would.
func event(t *testing.T, node, id string) chainlog.Event {
	t.Helper()
	line := fmt.Sprintf(`{"id":%q,"node_id":%q,"event_type":"tool.call","ts":"2026-03-01T12:00:00Z","agent_id":"a-1","data":{"n":%q},"model":"m-1","token_count":7}`, id, node, id)
	e, err := chainlog.DecodeEvent([]byte(line), "")
	if err != nil {
		t.Fatalf("DecodeEvent(%s): %v", line, err)
	}
	return e
}

func events(t *testing.T, node string, ids ...string) []chainlog.Event {
	t.Helper()
	evs := make([]chainlog.Event, len(ids))
	for i, id := range ids {
		evs[i] = event(t, node, id)
	}
	return evs
}

func ingest(t *testing.T, s chainlog.Store, evs []chainlog.Event, want chainlog.IngestResult) {
	t.Helper()
	got, err := s.Ingest(t.Context(), evs)
	if err != nil {
		t.Fatalf("Ingest(%d events): %v", len(evs), err)
	}
	if got != want {
		t.Fatalf("Ingest(%d events) = %+v, want %+v", len(evs), got, want)
	}
}

func export(t *testing.T, s chainlog.Store, nodeID string) []chainlog.StoredEvent {
	t.Helper()
	var rows []chainlog.StoredEvent
	err := s.Export(t.Context(), nodeID, func(e *chainlog.StoredEvent) error {
		rows = append(rows, *e)
		return nil
	})
	if err != nil {
		t.Fatalf("Export(%q): %v", nodeID, err)
	}
	return rows
}

func ids(rows []chainlog.StoredEvent) []string {
	out := make([]string, len(rows))
	for i := range rows {
		out[i] = rows[i].ID
	}
	return out
}

func heads(t *testing.T, s chainlog.Store, nodeID string) []chainlog.Head {
	t.Helper()
	hs, err := s.Heads(t.Context(), nodeID)
	if err != nil {
		t.Fatalf("Heads(%q): %v", nodeID, err)
	}
	return hs
}

// wantHeads checks that the heads are the last stamped rows of each node in
// rows, in node_id order.
func wantHeads(t *testing.T, got []chainlog.Head, rows []chainlog.StoredEvent) {
	t.Helper()
	last := map[string]chainlog.StoredEvent{}
	for _, r := range rows {
		last[r.NodeID] = r
	}
	nodes := make([]string, 0, len(last))
	for n := range last {
		nodes = append(nodes, n)
	}
	slices.Sort(nodes)
	if len(got) != len(nodes) {
		t.Fatalf("heads = %+v, want one for each of %v", got, nodes)
	}
	for i, n := range nodes {
		h, r := got[i], last[n]
		if h.NodeID != n || h.Seq != r.Seq || h.Hash != r.Hash {
			t.Errorf("head %d = {%s %d %s}, want {%s %d %s} (event %s)", i, h.NodeID, h.Seq, h.Hash, n, r.Seq, r.Hash, r.ID)
		}
	}
}

// wantChains checks that each node's rows are numbered from 1 without a gap
// and linked by their hashes, from the genesis hash.
func wantChains(t *testing.T, rows []chainlog.StoredEvent) {
	t.Helper()
	prev := map[string]chainlog.Head{}
	for _, r := range rows {
		h := prev[r.NodeID]
		if r.Seq != h.Seq+1 || r.PrevHash != h.Prev() {
			t.Fatalf("event %s of %s: seq %d prev %s, want seq %d prev %s", r.ID, r.NodeID, r.Seq, r.PrevHash, h.Seq+1, h.Prev())
		}
		if want := chainlog.ChainHash(r.PrevHash, &r.Event); r.Hash != want {
			t.Fatalf("event %s: chain_hash %s, want %s", r.ID, r.Hash, want)
		}
		prev[r.NodeID] = chainlog.Head{NodeID: r.NodeID, Seq: r.Seq, Hash: r.Hash}
	}
}

// verifyValid runs VerifyStore on a read-only open of the storage and wants
// it VALID with checked events.
func verifyValid(t *testing.T, b Backend, checked int64) *chainlog.Report {
	t.Helper()
	rep := verify(t, b)
	if rep.Status != chainlog.StatusValid || rep.Checked != checked {
		j, _ := json.Marshal(rep)
		t.Fatalf("VerifyStore = %s, want %s with %d checked", j, chainlog.StatusValid, checked)
	}
	return rep
}

// verify runs VerifyStore on a read-only open of the storage.
func verify(t *testing.T, b Backend) *chainlog.Report {
	t.Helper()
	rep, err := chainlog.VerifyStore(t.Context(), openRO(t, b), chainlog.VerifyOptions{})
	if err != nil {
		t.Fatalf("VerifyStore: %v", err)
	}
	return rep
}

// testdata returns the path of a file in the module's testdata directory.
func testdata(t *testing.T, name string) string {
	t.Helper()
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		t.Fatal("cannot locate the storetest package's source")
	}
	return filepath.Join(filepath.Dir(file), "..", "testdata", name)
}

// testVectors ingests the known-answer events in batches and wants exactly
// the expected chain hashes and heads.
func testVectors(t *testing.T, b Backend) {
	evPath := testdata(t, "chain-vectors.events.ndjson")
	f, err := os.Open(evPath)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var evs []chainlog.Event
	for r := chainlog.NewReader(f, 0, ""); ; {
		e, err := r.Next()
		if err != nil {
			if !errors.Is(err, io.EOF) {
				t.Fatalf("%s: %v", evPath, err)
			}
			break
		}
		evs = append(evs, e)
	}
	type expected struct {
		ID       string `json:"id"`
		NodeID   string `json:"node_id"`
		PrevHash string `json:"chain_prev_hash"`
		Hash     string `json:"chain_hash"`
	}
	var want []expected
	expPath := testdata(t, "chain-vectors.expected.ndjson")
	ef, err := os.Open(expPath)
	if err != nil {
		t.Fatal(err)
	}
	defer ef.Close()
	for sc := bufio.NewScanner(ef); sc.Scan(); {
		var e expected
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			t.Fatalf("%s: %v", expPath, err)
		}
		want = append(want, e)
	}
	hb, err := os.ReadFile(testdata(t, "chain-vectors.heads.json"))
	if err != nil {
		t.Fatal(err)
	}
	var wantHeadHash map[string]string
	if err := json.Unmarshal(hb, &wantHeadHash); err != nil {
		t.Fatalf("chain-vectors.heads.json: %v", err)
	}
	if len(evs) == 0 || len(evs) != len(want) {
		t.Fatalf("%d vector events, %d expected rows", len(evs), len(want))
	}

	s := open(t, b)
	for i := 0; i < len(evs); i += 7 {
		batch := evs[i:min(i+7, len(evs))]
		ingest(t, s, batch, chainlog.IngestResult{Inserted: len(batch)})
	}
	rows := export(t, s, "")
	if len(rows) != len(want) {
		t.Fatalf("exported %d rows, want %d", len(rows), len(want))
	}
	for i, r := range rows {
		w := want[i]
		if r.ID != w.ID || r.NodeID != w.NodeID || r.PrevHash != w.PrevHash || r.Hash != w.Hash {
			t.Fatalf("row %d = {%s %s prev %s hash %s}, want {%s %s prev %s hash %s}", i, r.ID, r.NodeID, r.PrevHash, r.Hash, w.ID, w.NodeID, w.PrevHash, w.Hash)
		}
	}
	hs := heads(t, s, "")
	if len(hs) != len(wantHeadHash) {
		t.Fatalf("heads = %+v, want %v", hs, wantHeadHash)
	}
	for _, h := range hs {
		if h.Hash != wantHeadHash[h.NodeID] {
			t.Errorf("head of %s = %s, want %s", h.NodeID, h.Hash, wantHeadHash[h.NodeID])
		}
	}
	wantHeads(t, hs, rows)
	verifyValid(t, b, int64(len(evs)))
}

// testDuplicates: an id already stored, or repeated earlier in a batch, is a
// duplicate and changes nothing, not even the stored event's fields.
func testDuplicates(t *testing.T, b Backend) {
	s := open(t, b)
	ingest(t, s, events(t, "n1", "a", "b", "a"), chainlog.IngestResult{Inserted: 2, Duplicates: 1})
	before := export(t, s, "")

	again := events(t, "n1", "b", "c")
	again[0].Data = []byte(`{"changed":true}`)
	other := "other"
	again[0].Model = &other
	ingest(t, s, again, chainlog.IngestResult{Inserted: 1, Duplicates: 1})
	// The same id on another node is the same event: a duplicate.
	ingest(t, s, events(t, "n2", "a"), chainlog.IngestResult{Duplicates: 1})

	rows := export(t, s, "")
	if got, want := ids(rows), []string{"a", "b", "c"}; !slices.Equal(got, want) {
		t.Fatalf("exported ids %v, want %v", got, want)
	}
	for i := range before {
		if g, w := rows[i], before[i]; g.Hash != w.Hash || string(g.Data) != string(w.Data) || !ptrEq(g.Model, w.Model) || g.PayloadDigest != w.PayloadDigest {
			t.Errorf("event %s changed by a duplicate: %+v, was %+v", w.ID, g, w)
		}
	}
	wantChains(t, rows)
	wantHeads(t, heads(t, s, ""), rows)
	verifyValid(t, b, 3)
}

// testHeads: each batch moves the heads of the nodes it holds, and only those;
// Heads with a node id returns that node's head alone.
func testHeads(t *testing.T, b Backend) {
	s := open(t, b)
	if hs := heads(t, s, ""); len(hs) != 0 {
		t.Fatalf("heads of an empty store = %+v", hs)
	}
	b1 := append(events(t, "y", "y1", "y2"), events(t, "x", "x1")...)
	ingest(t, s, b1, chainlog.IngestResult{Inserted: 3})
	wantHeads(t, heads(t, s, ""), export(t, s, ""))
	y := heads(t, s, "y")

	ingest(t, s, events(t, "x", "x2", "x3"), chainlog.IngestResult{Inserted: 2})
	rows := export(t, s, "")
	hs := heads(t, s, "")
	wantHeads(t, hs, rows)
	if hs[0].NodeID != "x" || hs[0].Seq != 3 {
		t.Errorf("head of x = %+v, want seq 3", hs[0])
	}
	if y2 := heads(t, s, "y"); len(y2) != 1 || y2[0] != y[0] {
		t.Errorf("head of y moved with a batch of x: %+v, was %+v", y2, y)
	}
	if x := heads(t, s, "x"); len(x) != 1 || x[0].NodeID != "x" || x[0] != hs[0] {
		t.Errorf("Heads(x) = %+v, want [%+v]", x, hs[0])
	}
	wantChains(t, rows)
	verifyValid(t, b, 5)
}

// testReopen: what a closed writer committed is durable, and a writer opened
// afterwards continues each chain from its stored head.
func testReopen(t *testing.T, b Backend) {
	first := b.Open(t)
	ingest(t, first, append(events(t, "x", "o1", "o2"), events(t, "y", "o3")...), chainlog.IngestResult{Inserted: 3})
	if err := first.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	s := open(t, b)
	if got := ids(export(t, s, "")); !slices.Equal(got, []string{"o1", "o2", "o3"}) {
		t.Fatalf("after reopening, exported ids %v, want [o1 o2 o3]", got)
	}
	ingest(t, s, events(t, "x", "o4", "o1"), chainlog.IngestResult{Inserted: 1, Duplicates: 1})
	rows := export(t, s, "")
	wantChains(t, rows)
	wantHeads(t, heads(t, s, ""), rows)
	if n, _ := storedTree(t, s); n != 4 {
		t.Errorf("tree size after reopening = %d, want 4", n)
	}
	verifyValid(t, b, 4)
}

// testSharedWriters: two writers on one storage append to the same chain at
// once; a head moved by the other is a conflict the store resolves by
// stamping on the fresh head, so the chain stays whole.
func testSharedWriters(t *testing.T, b Backend) {
	if !b.SharedWriters {
		t.Skip("the backend has one writer per storage")
	}
	w := [2]chainlog.Store{open(t, b), open(t, b)}
	const batches, size = 15, 4
	var wg sync.WaitGroup
	errs := make(chan error, len(w))
	for k := range w {
		wg.Go(func() {
			for i := range batches {
				evs := make([]chainlog.Event, size)
				for j := range evs {
					evs[j] = event(t, "shared", fmt.Sprintf("w%d-%02d-%d", k, i, j))
				}
				res, err := w[k].Ingest(context.Background(), evs)
				if err == nil && res.Inserted != size {
					err = fmt.Errorf("inserted %d of %d", res.Inserted, size)
				}
				if err != nil {
					errs <- fmt.Errorf("writer %d, batch %d: %w", k, i, err)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	const n = 2 * batches * size
	rows := export(t, openRO(t, b), "")
	if len(rows) != n {
		t.Fatalf("exported %d rows, want %d", len(rows), n)
	}
	wantChains(t, rows)
	for k := range w {
		wantHeads(t, heads(t, w[k], ""), rows)
	}
	verifyValid(t, b, n)
}

// testCommitOrder: Export returns rows in commit order across batches and
// nodes, and a node's rows in that order when asked for one node.
func testCommitOrder(t *testing.T, b Backend) {
	s := open(t, b)
	b1 := []chainlog.Event{event(t, "x", "9-x1"), event(t, "y", "1-y1"), event(t, "x", "5-x2")}
	b2 := []chainlog.Event{event(t, "z", "0-z1"), event(t, "x", "3-x3"), event(t, "y", "7-y2")}
	ingest(t, s, b1, chainlog.IngestResult{Inserted: 3})
	ingest(t, s, b2, chainlog.IngestResult{Inserted: 3})
	want := []string{"9-x1", "1-y1", "5-x2", "0-z1", "3-x3", "7-y2"}
	if got := ids(export(t, s, "")); !slices.Equal(got, want) {
		t.Errorf("Export ids %v, want %v", got, want)
	}
	if got, want := ids(export(t, s, "x")), []string{"9-x1", "5-x2", "3-x3"}; !slices.Equal(got, want) {
		t.Errorf("Export(x) ids %v, want %v", got, want)
	}
	var scanned []string
	err := s.ScanCommitOrder(t.Context(), make([]chainlog.CommitRow, 2), func(filled []chainlog.CommitRow) ([]chainlog.CommitRow, error) {
		for _, r := range filled {
			scanned = append(scanned, strings.Clone(r.ID)) // the source reuses the row's text
		}
		return filled[:cap(filled)], nil
	})
	if err != nil && !errors.Is(err, chainlog.ErrNoCommitOrder) {
		t.Fatalf("ScanCommitOrder: %v", err)
	}
	if err == nil && !slices.Equal(scanned, want) {
		t.Errorf("ScanCommitOrder ids %v, want %v", scanned, want)
	}
	verifyValid(t, b, 6)
}

func leafHashes(t *testing.T, rows []chainlog.StoredEvent) []tlog.Hash {
	t.Helper()
	hs := make([]tlog.Hash, len(rows))
	for i := range rows {
		r := &rows[i]
		if r.LeafIndex != nil && *r.LeafIndex != int64(i) {
			t.Fatalf("event %s: leaf %d, want %d (commit order)", r.ID, *r.LeafIndex, i)
		}
		hs[i] = chainlog.LeafHash(&chainlog.Leaf{NodeID: r.NodeID, Seq: r.Seq, ChainHash: r.Hash, PayloadDigest: r.PayloadDigest})
	}
	return hs
}

// treeRoot computes the RFC 6962 root of the leaf hashes.
func treeRoot(t *testing.T, leaves []tlog.Hash) tlog.Hash {
	t.Helper()
	var stored []tlog.Hash
	for i, h := range leaves {
		hs, err := tlog.StoredHashesForRecordHash(int64(i), h, tlog.HashReaderFunc(func(idx []int64) ([]tlog.Hash, error) {
			out := make([]tlog.Hash, len(idx))
			for j, x := range idx {
				out[j] = stored[x]
			}
			return out, nil
		}))
		if err != nil {
			t.Fatal(err)
		}
		stored = append(stored, hs...)
	}
	root, err := tlog.TreeHash(int64(len(leaves)), tlog.HashReaderFunc(func(idx []int64) ([]tlog.Hash, error) {
		out := make([]tlog.Hash, len(idx))
		for j, x := range idx {
			out[j] = stored[x]
		}
		return out, nil
	}))
	if err != nil {
		t.Fatal(err)
	}
	return root
}

func storedTree(t *testing.T, s chainlog.Store) (int64, tlog.Hash) {
	t.Helper()
	n, root, err := s.StoredTree(t.Context())
	if err != nil {
		t.Fatalf("StoredTree: %v", err)
	}
	return n, root
}

// testTreeAndProofs: every stamped event is a leaf, in commit order; the
// tree's root is the RFC 6962 root of the leaves; each event's inclusion
// proof and the consistency proof between two sizes check with tlog.
func testTreeAndProofs(t *testing.T, b Backend) {
	s := open(t, b)
	if n, _ := storedTree(t, s); n != 0 {
		t.Fatalf("tree size of an empty store = %d", n)
	}
	ingest(t, s, append(events(t, "x", "t1", "t2", "t3"), events(t, "y", "t4", "t5")...), chainlog.IngestResult{Inserted: 5})
	n1, root1 := storedTree(t, s)
	rows1 := export(t, s, "")
	if n1 != 5 || root1 != treeRoot(t, leafHashes(t, rows1)) {
		t.Fatalf("tree = %d %s, want 5 leaves with root %s", n1, root1, treeRoot(t, leafHashes(t, rows1)))
	}

	ingest(t, s, events(t, "x", "t6", "t7", "t8"), chainlog.IngestResult{Inserted: 3})
	n2, root2 := storedTree(t, s)
	rows := export(t, s, "")
	leaves := leafHashes(t, rows)
	if n2 != 8 || root2 != treeRoot(t, leaves) {
		t.Fatalf("tree = %d %s, want 8 leaves with root %s", n2, root2, treeRoot(t, leaves))
	}
	for i, r := range rows {
		pe, idx, proof, err := s.ProveEvent(t.Context(), r.ID, n2)
		if err != nil {
			t.Fatalf("ProveEvent(%s, %d): %v", r.ID, n2, err)
		}
		if idx != int64(i) || pe.ID != r.ID || pe.ChainHash != r.Hash || pe.ChainSeq != r.Seq || pe.PayloadDigest != r.PayloadDigest {
			t.Fatalf("ProveEvent(%s) = leaf %d %+v, want leaf %d of %+v", r.ID, idx, pe, i, r)
		}
		l := pe.Leaf()
		if err := tlog.CheckRecord(proof, n2, root2, idx, chainlog.LeafHash(&l)); err != nil {
			t.Errorf("inclusion proof of %s in tree %d: %v", r.ID, n2, err)
		}
		if err := tlog.CheckRecord(proof, n2, root2, idx, leaves[(i+1)%len(leaves)]); err == nil {
			t.Errorf("inclusion proof of %s also proves another leaf", r.ID)
		}
	}
	// A proof in the older tree, for an event it holds.
	pe, idx, proof, err := s.ProveEvent(t.Context(), "t2", n1)
	if err != nil {
		t.Fatalf("ProveEvent(t2, %d): %v", n1, err)
	}
	l := pe.Leaf()
	if err := tlog.CheckRecord(proof, n1, root1, idx, chainlog.LeafHash(&l)); err != nil {
		t.Errorf("inclusion proof of t2 in tree %d: %v", n1, err)
	}

	cp, err := s.ProveConsistency(t.Context(), n1, n2)
	if err != nil {
		t.Fatalf("ProveConsistency(%d, %d): %v", n1, n2, err)
	}
	if err := tlog.CheckTree(cp, n2, root2, n1, root1); err != nil {
		t.Errorf("consistency proof %d -> %d: %v", n1, n2, err)
	}
	if err := tlog.CheckTree(cp, n2, root2, n1, root2); err == nil {
		t.Error("consistency proof checks against a wrong older root")
	}
	verifyValid(t, b, 8)
}

// testCheckpoint: a checkpoint signs the current tree, is kept in the store,
// and is not signed again while the tree has not grown.
func testCheckpoint(t *testing.T, b Backend) {
	const origin = "chainlog.example/storetest"
	signer, verifier := chainlogtest.NewKey(t, origin)
	s := open(t, b)
	ingest(t, s, events(t, "x", "c1", "c2", "c3"), chainlog.IngestResult{Inserted: 3})
	signed, err := s.Checkpoint(t.Context(), signer, nil)
	if err != nil || signed == nil {
		t.Fatalf("Checkpoint = %q, %v; want a signed checkpoint", signed, err)
	}
	c, err := chainlog.OpenCheckpoint(signed, verifier)
	if err != nil {
		t.Fatalf("OpenCheckpoint: %v\n%s", err, signed)
	}
	n, root := storedTree(t, s)
	if c.Origin != origin || c.Size != n || c.Root != root {
		t.Fatalf("checkpoint %s %d %s, want %s %d %s", c.Origin, c.Size, c.Root, origin, n, root)
	}
	latest, err := s.LatestCheckpoint(t.Context())
	if err != nil || string(latest) != string(signed) {
		t.Fatalf("LatestCheckpoint = %q, %v; want %q", latest, err, signed)
	}
	if again, err := s.Checkpoint(t.Context(), signer, signed); err != nil || again != nil {
		t.Fatalf("Checkpoint with nothing new = %q, %v; want nil", again, err)
	}

	ingest(t, s, events(t, "y", "c4"), chainlog.IngestResult{Inserted: 1})
	next, err := s.Checkpoint(t.Context(), signer, signed)
	if err != nil || next == nil {
		t.Fatalf("Checkpoint after ingest = %q, %v", next, err)
	}
	c2, err := chainlog.OpenCheckpoint(next, verifier)
	if err != nil {
		t.Fatalf("OpenCheckpoint: %v", err)
	}
	if c2.Size != 4 {
		t.Fatalf("checkpoint size %d, want 4", c2.Size)
	}
	proof, err := s.ProveConsistency(t.Context(), c.Size, c2.Size)
	if err != nil {
		t.Fatalf("ProveConsistency: %v", err)
	}
	if err := tlog.CheckTree(proof, c2.Size, c2.Root, c.Size, c.Root); err != nil {
		t.Errorf("checkpoints %d and %d: %v", c.Size, c2.Size, err)
	}
	if latest, err := s.LatestCheckpoint(t.Context()); err != nil || string(latest) != string(next) {
		t.Fatalf("LatestCheckpoint = %q, %v; want %q", latest, err, next)
	}
	verifyValid(t, b, 4)
}

// testAmendments: an amendment changes the event's mutable fields, appends
// one record to the hash-chained trail, and leaves the chain as it was.
func testAmendments(t *testing.T, b Backend) {
	s := open(t, b)
	ingest(t, s, events(t, "x", "m1", "m2"), chainlog.IngestResult{Inserted: 2})
	orig, err := s.Event(t.Context(), "m1")
	if err != nil {
		t.Fatalf("Event(m1): %v", err)
	}
	cost, model := 0.25, "m-2"
	p1 := chainlog.Patch{Set: []string{chainlog.FieldCostUSD}, Values: chainlog.Mutable{CostUSD: &cost}}
	p2 := chainlog.Patch{Set: []string{chainlog.FieldData, chainlog.FieldModel}, Values: chainlog.Mutable{Data: []byte(`{"redone":1}`), Model: &model}}
	var recs []chainlog.Amendment
	for i, p := range []chainlog.Patch{p1, p2} {
		rec, err := b.Amend(t.Context(), s, "m1", p, fmt.Sprintf("reason %d", i), "storetest")
		if err != nil {
			t.Fatalf("amend %d of m1: %v", i, err)
		}
		recs = append(recs, rec)
	}

	got, err := s.Event(t.Context(), "m1")
	if err != nil {
		t.Fatalf("Event(m1): %v", err)
	}
	if got.CostUSD == nil || *got.CostUSD != cost || string(got.Data) != `{"redone":1}` || !ptrEq(got.Model, &model) {
		t.Errorf("amended event = cost %v data %s model %v", got.CostUSD, got.Data, got.Model)
	}
	if got.Hash != orig.Hash || got.Seq != orig.Seq || got.PayloadDigest != orig.PayloadDigest {
		t.Errorf("amending moved the chain stamp: %+v, was %+v", got, orig)
	}
	trail, err := s.Amendments(t.Context(), "m1")
	if err != nil {
		t.Fatalf("Amendments(m1): %v", err)
	}
	if len(trail) != 2 {
		t.Fatalf("trail of m1 = %+v, want 2 records", trail)
	}
	for i, a := range trail {
		if a.Seq != int64(i+1) || a.EventID != "m1" || a.Hash != recs[i].Hash || a.Reason != fmt.Sprintf("reason %d", i) || a.Actor != "storetest" {
			t.Errorf("record %d = %+v, want seq %d as returned: %+v", i, a, i+1, recs[i])
		}
		if want := chainlog.AmendmentHash(a.PrevHash, &a); a.Hash != want {
			t.Errorf("record %d: hash %s, want %s", i, a.Hash, want)
		}
	}
	if trail[0].PrevHash != chainlog.GenesisHash || trail[1].PrevHash != trail[0].Hash {
		t.Errorf("trail not linked: %+v", trail)
	}
	if trail[0].DigestBefore != orig.PayloadDigest || trail[0].DigestAfter != trail[1].DigestBefore {
		t.Errorf("trail digests do not follow the payload: %+v, ingest digest %s", trail, orig.PayloadDigest)
	}
	m := got.Mutable()
	if want := chainlog.PayloadDigest(&m); trail[1].DigestAfter != want {
		t.Errorf("last digest_after %s, want the payload's digest %s", trail[1].DigestAfter, want)
	}
	if h, err := s.AmendmentHead(t.Context()); err != nil || h == nil || h.Seq != 2 || h.Hash != trail[1].Hash {
		t.Errorf("AmendmentHead = %+v, %v; want seq 2 hash %s", h, err, trail[1].Hash)
	}
	if other, err := s.Amendments(t.Context(), "m2"); err != nil || len(other) != 0 {
		t.Errorf("Amendments(m2) = %+v, %v; want none", other, err)
	}
	verifyValid(t, b, 2+2) // and the two amendments' anchors
}

// testReadOnly: a store opened read-only reads what the writer committed,
// refuses every write, and changes nothing.
func testReadOnly(t *testing.T, b Backend) {
	w := open(t, b)
	ingest(t, w, events(t, "x", "r1", "r2"), chainlog.IngestResult{Inserted: 2})
	want := export(t, w, "")
	r := openRO(t, b)

	// Every write is refused with chainlog.ErrReadOnly.
	if res, err := r.Ingest(t.Context(), events(t, "x", "r3")); !errors.Is(err, chainlog.ErrReadOnly) {
		t.Errorf("Ingest on a read-only store = %+v, %v; want an error wrapping ErrReadOnly", res, err)
	}
	signer, _ := chainlogtest.NewKey(t, "chainlog.example/ro")
	if cp, err := r.Checkpoint(t.Context(), signer, nil); !errors.Is(err, chainlog.ErrReadOnly) {
		t.Errorf("Checkpoint on a read-only store = %q, %v; want an error wrapping ErrReadOnly", cp, err)
	}
	cost := 1.0
	p := chainlog.Patch{Set: []string{chainlog.FieldCostUSD}, Values: chainlog.Mutable{CostUSD: &cost}}
	if rec, err := b.Amend(t.Context(), r, "r1", p, "ro", "storetest"); !errors.Is(err, chainlog.ErrReadOnly) {
		t.Errorf("amend on a read-only store = %+v, %v; want an error wrapping ErrReadOnly", rec, err)
	}

	for name, s := range map[string]chainlog.Store{"read-only": r, "writer": w} {
		got := export(t, s, "")
		if !slices.EqualFunc(got, want, func(a, b chainlog.StoredEvent) bool {
			return a.ID == b.ID && a.Hash == b.Hash && string(a.Data) == string(b.Data) && ptrEq(a.CostUSD, b.CostUSD)
		}) {
			t.Errorf("%s store after refused writes: %v, want %v", name, ids(got), ids(want))
		}
		wantHeads(t, heads(t, s, ""), want)
		if a, err := s.Amendments(t.Context(), "r1"); err != nil || len(a) != 0 {
			t.Errorf("%s store: Amendments(r1) = %+v, %v; want none", name, a, err)
		}
		if cp, err := s.LatestCheckpoint(t.Context()); err != nil || cp != nil {
			t.Errorf("%s store: LatestCheckpoint = %q, %v; want none", name, cp, err)
		}
	}
	verifyValid(t, b, 2)
}

func ptrEq[T comparable](a, b *T) bool {
	return (a == nil) == (b == nil) && (a == nil || *a == *b)
}

// testNotFound: an unknown id is ErrNotFound where one event is asked for,
// and an empty list where a list is.
func testNotFound(t *testing.T, b Backend) {
	s := open(t, b)
	ingest(t, s, events(t, "x", "f1"), chainlog.IngestResult{Inserted: 1})
	n, _ := storedTree(t, s)
	if e, err := s.Event(t.Context(), "nope"); !errors.Is(err, chainlog.ErrNotFound) {
		t.Errorf("Event(nope) = %+v, %v; want ErrNotFound", e, err)
	}
	if _, _, _, err := s.ProveEvent(t.Context(), "nope", n); !errors.Is(err, chainlog.ErrNotFound) {
		t.Errorf("ProveEvent(nope) = %v, want ErrNotFound", err)
	}
	cost := 1.0
	p := chainlog.Patch{Set: []string{chainlog.FieldCostUSD}, Values: chainlog.Mutable{CostUSD: &cost}}
	if _, err := b.Amend(t.Context(), s, "nope", p, "r", "storetest"); !errors.Is(err, chainlog.ErrNotFound) {
		t.Errorf("amend nope = %v, want ErrNotFound", err)
	}
	if a, err := s.Amendments(t.Context(), "nope"); err != nil || len(a) != 0 {
		t.Errorf("Amendments(nope) = %+v, %v; want none", a, err)
	}
	if h := heads(t, s, "nope"); len(h) != 0 {
		t.Errorf("Heads(nope) = %+v, want none", h)
	}
	if rows := export(t, s, "nope"); len(rows) != 0 {
		t.Errorf("Export(nope) = %v, want none", ids(rows))
	}
	if e, err := s.Event(t.Context(), "f1"); err != nil || e.ID != "f1" {
		t.Errorf("Event(f1) = %+v, %v", e, err)
	}
	verifyValid(t, b, 1)
}

// amendTwice ingests a1 and a2 and amends each once, in two commits, and
// returns the two records.
func amendTwice(t *testing.T, b Backend, s chainlog.Store) [2]chainlog.Amendment {
	t.Helper()
	ingest(t, s, events(t, "x", "a1", "a2"), chainlog.IngestResult{Inserted: 2})
	var recs [2]chainlog.Amendment
	for i, id := range []string{"a1", "a2"} {
		cost := float64(i + 1)
		rec, err := b.Amend(t.Context(), s, id, chainlog.Patch{Set: []string{chainlog.FieldCostUSD}, Values: chainlog.Mutable{CostUSD: &cost}}, "priced", "storetest")
		if err != nil {
			t.Fatalf("amend %s: %v", id, err)
		}
		recs[i] = rec
	}
	return recs
}

// testAnchors: each amendment appends, in its own commit, one anchor event
// on chainlog.AnchorNode whose identity commits to the trail's new head.
// The anchor is chained on its node and is a leaf of the tree, proved in
// the next checkpoint. Users cannot write on the reserved node.
func testAnchors(t *testing.T, b Backend) {
	const origin = "chainlog.example/storetest"
	signer, verifier := chainlogtest.NewKey(t, origin)
	s := open(t, b)
	ingest(t, s, events(t, "x", "a0"), chainlog.IngestResult{Inserted: 1})
	n0, _ := storedTree(t, s)
	cost := 0.5
	rec, err := b.Amend(t.Context(), s, "a0", chainlog.Patch{Set: []string{chainlog.FieldCostUSD}, Values: chainlog.Mutable{CostUSD: &cost}}, "priced", "storetest")
	if err != nil {
		t.Fatalf("amend a0: %v", err)
	}
	// Committed with the record: the anchor is there when Amend returns.
	id := chainlog.AnchorID(rec.Seq, rec.Hash)
	anchor, err := s.Event(t.Context(), id)
	if err != nil {
		t.Fatalf("Event(%s) right after the amendment: %v", id, err)
	}
	if seq, hash, ok := chainlog.ParseAnchor(&anchor.Event); !ok || seq != rec.Seq || hash != rec.Hash {
		t.Errorf("ParseAnchor(%+v) = %d, %s, %v; want %d, %s", anchor.Event, seq, hash, ok, rec.Seq, rec.Hash)
	}
	if want := chainlog.AnchorEvent(rec.Seq, rec.Hash, anchor.TS); chainlog.Canonical(&anchor.Event) != chainlog.Canonical(&want) {
		t.Errorf("anchor identity %s; want %s", chainlog.Canonical(&anchor.Event), chainlog.Canonical(&want))
	}
	if anchor.Seq != 1 || anchor.LeafIndex == nil || *anchor.LeafIndex != n0 {
		t.Errorf("anchor at chain seq %d, leaf %v; want seq 1, leaf %d", anchor.Seq, anchor.LeafIndex, n0)
	}
	if h := heads(t, s, chainlog.AnchorNode); len(h) != 1 || h[0].Seq != 1 || h[0].Hash != anchor.Hash {
		t.Errorf("anchor node's head = %+v; want seq 1 at the anchor", h)
	}
	n1, _ := storedTree(t, s)
	if n1 != n0+1 {
		t.Errorf("tree size %d after the amendment; want %d", n1, n0+1)
	}

	// The next checkpoint covers the anchor: its inclusion proof checks.
	signed, err := s.Checkpoint(t.Context(), signer, nil)
	if err != nil || signed == nil {
		t.Fatalf("Checkpoint = %q, %v", signed, err)
	}
	c, err := chainlog.OpenCheckpoint(signed, verifier)
	if err != nil {
		t.Fatalf("OpenCheckpoint: %v", err)
	}
	pe, idx, proof, err := s.ProveEvent(t.Context(), id, c.Size)
	if err != nil {
		t.Fatalf("ProveEvent(%s, %d): %v", id, c.Size, err)
	}
	l := pe.Leaf()
	if err := tlog.CheckRecord(proof, c.Size, c.Root, idx, chainlog.LeafHash(&l)); err != nil || idx != n0 || pe.ChainHash != anchor.Hash {
		t.Errorf("inclusion of the anchor (leaf %d, chain hash %s) in checkpoint %d: %v", idx, pe.ChainHash, c.Size, err)
	}

	// Events from users may not use the reserved node, and the anchors
	// cannot be amended.
	forged := chainlog.AnchorEvent(2, strings.Repeat("0", 64), anchor.TS)
	if res, err := s.Ingest(t.Context(), []chainlog.Event{forged}); err == nil {
		t.Errorf("Ingest of an event on %s = %+v; want an error", chainlog.AnchorNode, res)
	}
	if a, err := b.Amend(t.Context(), s, id, chainlog.Patch{Set: []string{chainlog.FieldData}, Values: chainlog.Mutable{Data: []byte(`{}`)}}, "r", "storetest"); err == nil {
		t.Errorf("amending the anchor %s = %+v; want an error", id, a)
	}
	rep := verifyValid(t, b, 1+1)
	if a := rep.Amendments; a.Anchors != 1 || a.AnchoredSeq != 1 {
		t.Errorf("amendments report = %+v; want 1 anchor of seq 1", a)
	}
}

// testAnchorTrailRewritten: a trail record rewritten after it was anchored,
// and every later record hashed again so that the trail is consistent in
// itself, no longer matches its anchor: INVALID, with the evidence.
func testAnchorTrailRewritten(t *testing.T, b Backend) {
	if b.RewriteTrail == nil {
		t.Fatal("the backend has no RewriteTrail")
	}
	s := open(t, b)
	recs := amendTwice(t, b, s)
	forged := recs
	forged[0].Reason = "routine"
	forged[0].Hash = chainlog.AmendmentHash(forged[0].PrevHash, &forged[0])
	forged[1].PrevHash = forged[0].Hash
	forged[1].Hash = chainlog.AmendmentHash(forged[1].PrevHash, &forged[1])
	b.RewriteTrail(t, forged[:], chainlog.Head{Seq: 2, Hash: forged[1].Hash, UpdatedAt: forged[1].At})
	rep := verify(t, b)
	want := chainlog.Break{Trail: chainlog.TrailAmendments, NodeID: chainlog.AnchorNode, Seq: 1, EventID: chainlog.AnchorID(1, recs[0].Hash),
		Reason: chainlog.ReasonAnchorMismatch, Expected: recs[0].Hash, Found: forged[0].Hash}
	got := rep.Amendments.Break
	if rep.Status != chainlog.StatusInvalid || got == nil {
		t.Fatalf("status %s, amendments %+v; want invalid", rep.Status, rep.Amendments)
	}
	g := *got
	g.Detail = ""
	if g != want {
		t.Errorf("amendments broken_at = %+v; want %+v", g, want)
	}
}

// testAnchorDeleted: deleting an anchor's row leaves a gap in the tree's
// leaves (and in its node's chain): INVALID.
func testAnchorDeleted(t *testing.T, b Backend) {
	if b.DeleteEvent == nil {
		t.Fatal("the backend has no DeleteEvent")
	}
	s := open(t, b)
	recs := amendTwice(t, b, s)
	b.DeleteEvent(t, chainlog.AnchorID(1, recs[0].Hash))
	rep := verify(t, b)
	if rep.Status != chainlog.StatusInvalid || rep.Tree == nil || rep.Tree.Break == nil ||
		!strings.HasPrefix(rep.Tree.Break.Reason, chainlog.ReasonLeafMissing) {
		j, _ := json.Marshal(rep)
		t.Fatalf("VerifyStore = %s; want invalid with a missing leaf", j)
	}
}

func cursors(t *testing.T, s chainlog.Store, source string) []chainlog.Cursor {
	t.Helper()
	cs, err := s.Cursors(t.Context(), source)
	if err != nil {
		t.Fatalf("Cursors(%q): %v", source, err)
	}
	return cs
}

func wantCursors(t *testing.T, what string, got, want []chainlog.Cursor) {
	t.Helper()
	if !slices.Equal(got, want) {
		t.Errorf("%s: cursors = %+v, want %+v", what, got, want)
	}
}

// testCursors: cursors are committed with events, read back by source in
// (source, path) order, upserted (a later one for the same file wins, even
// one that goes back), committed by a batch without events, kept across a
// reopen, and read but never written by a read-only store.
func testCursors(t *testing.T, b Backend) {
	s := open(t, b)
	wantCursors(t, "empty store", cursors(t, s, ""), nil)
	a1 := chainlog.Cursor{Source: "codex", Path: "/s/b.jsonl", Offset: 120, FileID: "1:7", Size: 130}
	a2 := chainlog.Cursor{Source: "claude_code", Path: "/p/z.jsonl", Offset: 40, FileID: "1:8", Size: 40}
	a3 := chainlog.Cursor{Source: "codex", Path: "/s/a.jsonl", Offset: 9, Size: 9}
	res, err := s.Ingest(t.Context(), events(t, "x", "c1", "c2"), a1, a2, a3)
	if err != nil || res != (chainlog.IngestResult{Inserted: 2}) {
		t.Fatalf("Ingest with cursors = %+v, %v; want 2 inserted", res, err)
	}
	wantCursors(t, "all", cursors(t, s, ""), []chainlog.Cursor{a2, a3, a1})
	wantCursors(t, "codex", cursors(t, s, "codex"), []chainlog.Cursor{a3, a1})
	wantCursors(t, "unknown source", cursors(t, s, "openclaw"), nil)

	// Upsert: the last cursor of a file in a batch wins, a truncated file's
	// cursor goes back, and a batch of duplicates and cursors alone commits
	// its cursors.
	back := chainlog.Cursor{Source: "codex", Path: "/s/b.jsonl", Offset: 0, FileID: "1:9", Size: 0}
	mid := a3
	mid.Offset, mid.Size = 50, 60
	last := a3
	last.Offset, last.Size = 70, 70
	res, err = s.Ingest(t.Context(), events(t, "x", "c1"), back, mid, last)
	if err != nil || res != (chainlog.IngestResult{Duplicates: 1}) {
		t.Fatalf("Ingest of a duplicate with cursors = %+v, %v; want 1 duplicate", res, err)
	}
	wantCursors(t, "after upsert", cursors(t, s, "codex"), []chainlog.Cursor{last, back})
	if _, err := s.Ingest(t.Context(), nil, a1); err != nil {
		t.Fatalf("Ingest of a cursor alone: %v", err)
	}
	wantCursors(t, "cursor alone", cursors(t, s, "codex"), []chainlog.Cursor{last, a1})
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = open(t, b)
	want := []chainlog.Cursor{a2, last, a1}
	wantCursors(t, "after reopen", cursors(t, s, ""), want)

	r := openRO(t, b)
	wantCursors(t, "read-only", cursors(t, r, ""), want)
	moved := a2
	moved.Offset = 99
	if _, err := r.Ingest(t.Context(), nil, moved); !errors.Is(err, chainlog.ErrReadOnly) {
		t.Errorf("Ingest of a cursor on a read-only store: %v; want an error wrapping ErrReadOnly", err)
	}
	wantCursors(t, "after the refused write", cursors(t, s, ""), want)
	verifyValid(t, b, 2)
}

// testCursorsAtomic: a batch that fails (one of its cursors is invalid)
// commits neither its events nor any of its cursors, and the error names
// the field.
func testCursorsAtomic(t *testing.T, b Backend) {
	s := open(t, b)
	old := chainlog.Cursor{Source: "openclaw", Path: "/a/s.jsonl", Offset: 10, Size: 10}
	ingest(t, s, events(t, "x", "k1"), chainlog.IngestResult{Inserted: 1})
	if _, err := s.Ingest(t.Context(), nil, old); err != nil {
		t.Fatal(err)
	}
	next := old
	next.Offset, next.Size = 30, 30
	for _, tc := range []struct {
		bad   chainlog.Cursor
		field string
	}{
		{chainlog.Cursor{Path: "/a/t.jsonl"}, "source"},
		{chainlog.Cursor{Source: "openclaw"}, "path"},
		{chainlog.Cursor{Source: "openclaw", Path: "/a/t.jsonl", Offset: -1}, "offset"},
		{chainlog.Cursor{Source: "openclaw", Path: "/a/t.jsonl", Size: -1}, "size"},
	} {
		res, err := s.Ingest(t.Context(), events(t, "x", "k2", "k3"), next, tc.bad)
		if !errors.Is(err, chainlog.ErrCursor) || !strings.Contains(err.Error(), tc.field) {
			t.Errorf("Ingest with a cursor lacking a valid %s = %+v, %v; want an error wrapping ErrCursor naming it", tc.field, res, err)
		}
	}
	wantCursors(t, "after failed batches", cursors(t, s, ""), []chainlog.Cursor{old})
	if got := ids(export(t, s, "")); !slices.Equal(got, []string{"k1"}) {
		t.Errorf("events after failed batches: %v, want [k1]", got)
	}
	verifyValid(t, b, 1)
}

// dayEvent is event id of node at noon of day d of March 2026.
func dayEvent(t *testing.T, node, id string, d int) chainlog.Event {
	t.Helper()
	line := fmt.Sprintf(`{"id":%q,"node_id":%q,"event_type":"tool.call","ts":"2026-03-%02dT12:00:00Z","agent_id":"a-1","session_id":"s","data":{"secret":%q}}`, id, node, d, id)
	e, err := chainlog.DecodeEvent([]byte(line), "")
	if err != nil {
		t.Fatalf("DecodeEvent(%s): %v", line, err)
	}
	return e
}

// testPrune: a prune makes husks of a prefix of each chain, records it,
// and the store verifies, with the pruned events counted and gone from
// every reader; a middle or unattested cut, and a read-only store, are
// refused with nothing changed.
func testPrune(t *testing.T, b Backend) {
	w := open(t, b)
	p, ok := w.(chainlog.Pruner)
	if !ok {
		t.Skip("the backend does not implement chainlog.Pruner")
	}
	var evs []chainlog.Event
	for d := 1; d <= 6; d++ {
		evs = append(evs, dayEvent(t, "a", fmt.Sprintf("a%d", d), d), dayEvent(t, "b", fmt.Sprintf("b%d", d), d+3))
	}
	ingest(t, w, evs, chainlog.IngestResult{Inserted: 12})
	march := func(d int) time.Time { return time.Date(2026, 3, d, 0, 0, 0, 0, time.UTC) }
	before := export(t, w, "")

	// A middle range and a wrong anchor are refused.
	for _, c := range []chainlog.PruneCut{
		{NodeID: "a", FirstSeq: 2, LastSeq: 3, Anchor: before[4].Hash},
		{NodeID: "a", FirstSeq: 1, LastSeq: 2, Anchor: before[0].Hash},
	} {
		if recs, err := p.Prune(t.Context(), chainlog.PruneRequest{Cuts: []chainlog.PruneCut{c}, Before: march(9), Reason: "r", Actor: "x"}); err == nil {
			t.Errorf("Prune(%+v) = %+v; want the prefix rule's refusal", c, recs)
		}
	}
	if ro, ok := openRO(t, b).(chainlog.Pruner); ok {
		cuts, _ := p.PlanPrune(t.Context(), march(9), "")
		if _, err := ro.Prune(t.Context(), chainlog.PruneRequest{Cuts: cuts, Before: march(9), Reason: "r", Actor: "x"}); !errors.Is(err, chainlog.ErrReadOnly) {
			t.Errorf("Prune on a read-only store: %v; want ErrReadOnly", err)
		}
	}
	if got := export(t, w, ""); len(got) != len(before) {
		t.Fatalf("refused prunes changed the store: %d events, want %d", len(got), len(before))
	}

	// Before March 4: a1-a3, and none of b (its first event is March 4).
	cuts, err := p.PlanPrune(t.Context(), march(4), "")
	if err != nil {
		t.Fatal(err)
	}
	if len(cuts) != 1 || cuts[0] != (chainlog.PruneCut{NodeID: "a", FirstSeq: 1, LastSeq: 3, Anchor: before[4].Hash}) {
		t.Fatalf("PlanPrune(March 4) = %+v; want a seq 1-3 anchored at a3's hash", cuts)
	}
	recs, err := p.Prune(t.Context(), chainlog.PruneRequest{Cuts: cuts, Before: march(4), Reason: "policy 90d", Actor: "retention"})
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 1 || recs[0].Kind != chainlog.KindPrune || recs[0].Prune == nil || recs[0].Prune.Count != 3 ||
		recs[0].Prune.Anchor != before[4].Hash || recs[0].Hash != chainlog.AmendmentHash(recs[0].PrevHash, &recs[0]) {
		t.Fatalf("prune records = %+v", recs)
	}
	if _, err := w.Event(t.Context(), "a2"); !errors.Is(err, chainlog.ErrPruned) {
		t.Errorf("Event(a2) after the prune: %v; want ErrPruned", err)
	}
	if _, err := w.Event(t.Context(), "a4"); err != nil {
		t.Errorf("Event(a4) after the prune: %v", err)
	}
	for _, e := range export(t, w, "") {
		if e.NodeID == "a" && e.Seq <= 3 {
			t.Errorf("export after the prune holds pruned event %s", e.ID)
		}
	}
	rep := verify(t, b)
	if rep.Status != chainlog.StatusValid || rep.Pruned != 3 || len(rep.Prunes) != 1 {
		j, _ := json.Marshal(rep)
		t.Fatalf("after the prune: %s; want valid with 3 pruned and one record", j)
	}
	if ps, ok := openRO(t, b).(chainlog.PruneSource); !ok {
		t.Error("the backend prunes, but is not a chainlog.PruneSource: the verifier could not know where chains resume")
	} else if got, err := ps.Prunes(t.Context()); err != nil || len(got) != 1 || got[0].Hash != recs[0].Hash || *got[0].Prune != *recs[0].Prune {
		t.Errorf("Prunes = %+v, %v; want %+v", got, err, recs)
	}

	// A second prune continues each chain where the last one ended, up
	// to the whole chain.
	cuts, err = p.PlanPrune(t.Context(), march(30), "")
	if err != nil {
		t.Fatal(err)
	}
	if len(cuts) != 2 || cuts[0].FirstSeq != 4 || cuts[0].LastSeq != 6 || cuts[1].FirstSeq != 1 || cuts[1].LastSeq != 6 {
		t.Fatalf("PlanPrune(March 30) = %+v; want a 4-6 and b 1-6", cuts)
	}
	if _, err := p.Prune(t.Context(), chainlog.PruneRequest{Cuts: cuts, Before: march(30), Reason: "all", Actor: "retention"}); err != nil {
		t.Fatal(err)
	}
	// The chains go on after a prune of everything.
	ingest(t, w, []chainlog.Event{dayEvent(t, "b", "b7", 31)}, chainlog.IngestResult{Inserted: 1})
	rep = verify(t, b)
	if rep.Status != chainlog.StatusValid || rep.Pruned != 12 || len(rep.Prunes) != 3 {
		j, _ := json.Marshal(rep)
		t.Fatalf("after pruning everything: %s; want valid with 12 pruned and three records", j)
	}
}
