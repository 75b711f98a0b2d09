package sqlite_test

import (
	"context"
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"chainlog"
	"chainlog/sqlite"
)

// chainScanCounter counts the node-ordered walks made on a store.
type chainScanCounter struct {
	*sqlite.Store
	walks int
}

func (c *chainScanCounter) ScanChains(ctx context.Context, nodeID string, fn func(*chainlog.StoredEvent) error) error {
	c.walks++
	return c.Store.ScanChains(ctx, nodeID, fn)
}

// verifyBothWays verifies the store at path read-only, each in its own
// snapshot, walking the chains node by node and the leaves in leaf order
// (VerifyOptions.Walk) and in one commit-order pass, and fails unless both give the same report
// or the same error. It returns VerifyStore's report and error, and
// whether it walked the chains node by node.
func verifyBothWays(t *testing.T, path, nodeID string, cps []chainlog.SourcedCheckpoint) (*chainlog.Report, error, bool) {
	t.Helper()
	ctx := t.Context()
	st := &chainScanCounter{Store: openRO(t, path)}
	defer st.Close()
	var exact *chainlog.Report
	exactErr := st.Snapshot(ctx, func() error {
		var err error
		exact, err = chainlog.VerifyStore(ctx, st, chainlog.VerifyOptions{NodeID: nodeID, Checkpoints: cps, Walk: true})
		return err
	})
	st.walks = 0
	var got *chainlog.Report
	err := st.Snapshot(ctx, func() error {
		var err error
		got, err = chainlog.VerifyStore(ctx, st, chainlog.VerifyOptions{NodeID: nodeID, Checkpoints: cps})
		return err
	})
	// VerifyStore also checks the store as a whole: what it finds there
	// is added to what the walks report. Where the walks cannot read the
	// rows at all (a node_id stored as a blob), it still reports the fault.
	if err == nil && exactErr != nil && got.Store != nil && got.Status == chainlog.StatusInvalid {
		return got, err, st.walks > 0
	}
	if exact != nil && got != nil && got.Store != nil {
		b := *got.Store
		exact.AddStoreBreak(&b)
	}
	switch {
	case (err == nil) != (exactErr == nil) || (err != nil && err.Error() != exactErr.Error()):
		t.Fatalf("%s: VerifyStore(%q) error %v; the walk: %v", path, nodeID, err, exactErr)
	case err == nil && !reflect.DeepEqual(got, exact):
		g, _ := json.MarshalIndent(got, "", " ")
		w, _ := json.MarshalIndent(exact, "", " ")
		t.Fatalf("%s: VerifyStore(%q) report differs from the walk's:\ngot  %s\nwant %s", path, nodeID, g, w)
	}
	return got, err, st.walks > 0
}

// checkOnePass is called wherever the tests verify a store (verifyPath,
// verifyTree): VerifyStore must report on it exactly what Verify and
// VerifyTree report.
func checkOnePass(t *testing.T, path, nodeID string, cps []chainlog.SourcedCheckpoint) {
	t.Helper()
	verifyBothWays(t, path, nodeID, cps)
}

// TestVerifyStoreTampered runs attacks on the tamper fixture and checks
// that the one pass gives exactly the node-ordered walk's reports, for the
// whole store and for each node, and walks the chains only when a chain
// was touched.
func TestVerifyStoreTampered(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		attack func(f tamperFixture) []rawStmt
		walked bool   // the whole-store verification walks the chains
		status string // of the whole store
	}{
		{"untouched", func(tamperFixture) []rawStmt { return nil }, false, chainlog.StatusValid},
		{"identity field altered", func(f tamperFixture) []rawStmt {
			return []rawStmt{rawSQL(`UPDATE events SET ts = 'x' WHERE id = ?`, f.a[2].ID)}
		}, true, chainlog.StatusInvalid},
		{"payload altered", func(f tamperFixture) []rawStmt {
			return []rawStmt{rawSQL(`UPDATE events SET data = '{}' WHERE id = ?`, f.b[1].ID)}
		}, true, chainlog.StatusInvalid},
		{"middle row deleted", func(f tamperFixture) []rawStmt {
			return []rawStmt{rawSQL(`DELETE FROM events WHERE id = ?`, f.a[2].ID)}
		}, true, chainlog.StatusInvalid},
		{"seqs swapped", func(f tamperFixture) []rawStmt {
			return []rawStmt{
				rawSQL(`UPDATE events SET chain_seq = -1 WHERE id = ?`, f.a[1].ID),
				rawSQL(`UPDATE events SET chain_seq = 2 WHERE id = ?`, f.a[2].ID),
				rawSQL(`UPDATE events SET chain_seq = 3 WHERE id = ?`, f.a[1].ID),
			}
		}, true, chainlog.StatusInvalid},
		{"forged row in the middle", func(f tamperFixture) []rawStmt {
			ins, _ := forge(forgedEvent(t, "forged"), 3, f.a[1].Hash)
			return append(shiftSeqs("node-a", 2, 1), ins)
		}, true, chainlog.StatusInvalid},
		{"forged row at the end, head rewritten", func(f tamperFixture) []rawStmt {
			ins, hash := forge(forgedEvent(t, "forged"), 6, f.a[4].Hash)
			return []rawStmt{ins, rawSQL(`UPDATE chain_heads SET chain_hash = ?, seq = 6 WHERE node_id = 'node-a'`, hash)}
		}, false, chainlog.StatusInvalid}, // the forged row is no leaf
		{"chain hash nulled", func(f tamperFixture) []rawStmt {
			return []rawStmt{rawSQL(`UPDATE events SET chain_hash = NULL WHERE id = ?`, f.a[2].ID)}
		}, true, chainlog.StatusInvalid},
		{"chain columns nulled", func(f tamperFixture) []rawStmt {
			return []rawStmt{rawSQL(`UPDATE events SET chain_seq = NULL, chain_prev_hash = NULL, chain_hash = NULL WHERE id = ?`, f.b[3].ID)}
		}, true, chainlog.StatusInvalid},
		{"head rolled back", func(f tamperFixture) []rawStmt {
			return []rawStmt{rawSQL(`UPDATE chain_heads SET chain_hash = ?, seq = 4 WHERE node_id = 'node-a'`, f.a[3].Hash)}
		}, true, chainlog.StatusInvalid},
		{"node deleted, head kept", func(tamperFixture) []rawStmt {
			return []rawStmt{rawSQL(`DELETE FROM events WHERE node_id = 'node-b'`)}
		}, true, chainlog.StatusInvalid},
		{"rows moved in commit order", func(f tamperFixture) []rawStmt {
			// Rowids exchanged: commit order no longer follows node-a's
			// chain, which is intact; the leaves are out of order.
			x := rawValue(t, f.path, `SELECT rowid FROM events WHERE id = ?`, f.a[1].ID)
			y := rawValue(t, f.path, `SELECT rowid FROM events WHERE id = ?`, f.a[3].ID)
			return []rawStmt{
				rawSQL(`UPDATE events SET rowid = -1 WHERE rowid = ?`, x),
				rawSQL(`UPDATE events SET rowid = ? WHERE rowid = ?`, x, y),
				rawSQL(`UPDATE events SET rowid = ? WHERE rowid = -1`, y),
			}
		}, true, chainlog.StatusInvalid},
		{"leaf renumbered", func(f tamperFixture) []rawStmt {
			return []rawStmt{rawSQL(`UPDATE events SET leaf_index = leaf_index + 100 WHERE id = ?`, f.b[3].ID)}
		}, false, chainlog.StatusInvalid},
		// Storage classes the node-ordered walk sorts differently.
		{"chain_seq stored as text", func(f tamperFixture) []rawStmt {
			return []rawStmt{rawSQL(`UPDATE events SET chain_seq = '3x' WHERE id = ?`, f.a[2].ID)}
		}, true, chainlog.StatusInvalid},
		{"chain_seq stored as real", func(f tamperFixture) []rawStmt {
			return []rawStmt{rawSQL(`UPDATE events SET chain_seq = 2.5 WHERE id = ?`, f.a[2].ID)}
		}, true, chainlog.StatusInvalid},
		{"chain_seq stored as a blob that reads as the right number", func(f tamperFixture) []rawStmt {
			// The walk sorts the blob after every number; commit order
			// would put it in its place.
			return []rawStmt{rawSQL(`UPDATE events SET chain_seq = CAST('3' AS BLOB) WHERE id = ?`, f.a[2].ID)}
		}, true, chainlog.StatusInvalid},
		{"node_id stored as a blob", func(f tamperFixture) []rawStmt {
			return []rawStmt{rawSQL(`UPDATE events SET node_id = CAST(node_id AS BLOB) WHERE id = ?`, f.a[0].ID)}
		}, true, chainlog.StatusInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newTamperFixture(t)
			if stmts := tt.attack(f); len(stmts) > 0 {
				attack(t, f.path, stmts...)
			}
			rep, err, walked := verifyBothWays(t, f.path, "", nil)
			if walked != tt.walked {
				t.Errorf("walked the chains node by node: %v; want %v", walked, tt.walked)
			}
			switch {
			case tt.status == "" && err == nil:
				t.Errorf("verified: %s; want an error", rep.Status)
			case tt.status != "" && err != nil:
				t.Errorf("error %v; want status %s", err, tt.status)
			case err == nil && rep.Status != tt.status:
				t.Errorf("status %s (%v); want %s", rep.Status, rep.Error, tt.status)
			}
			for _, node := range []string{"node-a", "node-b", "node-c"} {
				verifyBothWays(t, f.path, node, nil)
			}
		})
	}
}

// TestScanCommitOrderDecodes checks that the commit-order scan decodes each
// row as ScanChains and ScanLeaves do: NULLs, pre-chain rows, amended
// payloads, numbers.
func TestScanCommitOrderDecodes(t *testing.T) {
	t.Parallel()
	path := newStorePath(t)
	st := openStore(t, path, sqlite.Options{DisableIntegrity: true})
	ingest(t, st, mkEvents(t, "node-a", 0, 3)...)
	closeStore(t, st)
	st = openStore(t, path, sqlite.Options{})
	ingest(t, st, append(mkEvents(t, "node-a", 3, 9), mkEvents(t, "node-b", 0, 7)...)...)
	mustAmend(t, st, amendReq("node-a/4", "fix", chainlog.Patch{Set: []string{chainlog.FieldCostUSD, chainlog.FieldTokenCount, chainlog.FieldModel},
		Values: chainlog.Mutable{CostUSD: ptr(0.25), TokenCount: ptr(int64(12)), Model: ptr("")}}))
	mustAmend(t, st, amendReq("node-b/2", "blank", chainlog.Patch{Set: []string{chainlog.FieldData}, Values: chainlog.Mutable{Data: []byte(`""`)}}))
	closeStore(t, st)
	attack(t, path, rawSQL(`UPDATE events SET data = NULL WHERE id = 'node-b/5'`), rawSQL(`UPDATE events SET data = '' WHERE id = 'node-b/6'`))

	ro := openRO(t, path)
	want := map[string]chainlog.StoredEvent{}
	if err := ro.ScanChains(t.Context(), "", func(e *chainlog.StoredEvent) error {
		want[e.ID] = *e
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	leaves := map[string]int64{}
	leafOf := map[string]string{} // node/seq -> id
	for id, e := range want {
		if e.Stamped() {
			leafOf[e.NodeID+"/"+fmtAny(e.Seq)] = id
		}
	}
	if err := ro.ScanLeaves(t.Context(), func(index int64, l *chainlog.Leaf) error {
		leaves[leafOf[l.NodeID+"/"+fmtAny(l.Seq)]] = index
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	var n int
	var ids []string
	buf := make([]chainlog.CommitRow, 4) // several batches
	err := ro.ScanCommitOrder(t.Context(), buf, func(rows []chainlog.CommitRow) ([]chainlog.CommitRow, error) {
		for i := range rows {
			r := &rows[i]
			n++
			ids = append(ids, strings.Clone(r.ID)) // r.ID is the batch's
			w, ok := want[r.ID]
			if !ok {
				t.Fatalf("row %q is not in ScanChains", r.ID)
			}
			got := commitEvent(r)
			if idx, ok := leaves[r.ID]; ok != (r.Has&chainlog.HasLeaf != 0) || (ok && idx != r.LeafIndex) {
				t.Errorf("row %q: leaf %d (has %v); ScanLeaves: %d (%v)", r.ID, r.LeafIndex, r.Has&chainlog.HasLeaf != 0, idx, ok)
			}
			if r.Irregular {
				t.Errorf("row %q is irregular", r.ID)
			}
			w.CreatedAt, w.LeafIndex = "", nil
			if !reflect.DeepEqual(got, w) {
				t.Errorf("row %q:\n got %+v\nwant %+v", r.ID, got, w)
			}
		}
		return rows[:cap(rows)], nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n != len(want) {
		t.Errorf("%d rows; ScanChains gives %d", n, len(want))
	}
	if exp := exportPath(t, path, ""); len(exp) == len(ids) {
		for i := range exp {
			if exp[i].ID != ids[i] {
				t.Errorf("row %d is %q; export (commit order) says %q", i, ids[i], exp[i].ID)
			}
		}
	}
	verifyBothWays(t, path, "", nil)
}

// commitEvent is the StoredEvent a CommitRow stands for.
func commitEvent(r *chainlog.CommitRow) chainlog.StoredEvent {
	e := chainlog.StoredEvent{Event: chainlog.Event{ID: r.ID, AgentType: r.AgentType, NodeID: r.NodeID, AgentID: r.AgentID,
		EventType: r.EventType, TS: r.TS},
		Seq: r.Seq, PrevHash: r.PrevHash, Hash: r.Hash, PayloadDigest: r.PayloadDigest, LastDigest: r.LastDigest}
	if r.Has&chainlog.HasSessionID != 0 {
		e.SessionID = ptr(r.SessionID)
	}
	if r.Has&chainlog.HasWorkspaceID != 0 {
		e.WorkspaceID = ptr(r.WorkspaceID)
	}
	if r.Has&chainlog.HasData != 0 {
		e.Data = append(json.RawMessage{}, r.Data...)
	}
	if r.Has&chainlog.HasCostUSD != 0 {
		e.CostUSD = ptr(r.CostUSD)
	}
	if r.Has&chainlog.HasTokenCount != 0 {
		e.TokenCount = ptr(r.TokenCount)
	}
	if r.Has&chainlog.HasModel != 0 {
		e.Model = ptr(r.Model)
	}
	return e
}

// TestVerifyStoreManyBatches verifies a store of more rows than the pass
// has batches in flight, so that batches are filled again while nodes
// still hold on to what they saw in them: node-c's last row is in the
// first batch. The untouched store must verify in the one pass, without
// walking the chains.
func TestVerifyStoreManyBatches(t *testing.T) {
	t.Parallel()
	path := newStorePath(t)
	st := openStore(t, path, sqlite.Options{})
	var evs []chainlog.Event
	for i := range 2600 {
		evs = append(evs, mkEvent(t, "node-a", i), mkEvent(t, "node-b", i))
		if i < 30 {
			evs = append(evs, mkEvent(t, "node-c", i))
		}
		if len(evs) >= 500 {
			ingest(t, st, evs...)
			evs = evs[:0]
		}
	}
	ingest(t, st, evs...)
	closeStore(t, st)
	for _, node := range []string{"", "node-a", "node-c"} {
		rep, err, walked := verifyBothWays(t, path, node, nil)
		if err != nil || rep.Status != chainlog.StatusValid || walked {
			t.Fatalf("VerifyStore(%q): %v, %v; walked the chains: %v", node, rep, err, walked)
		}
	}
	attack(t, path, rawSQL(`UPDATE events SET ts = 'x' WHERE id = ?`, mkEventID("node-a", 2500)))
	if rep, err, walked := verifyBothWays(t, path, "", nil); err != nil || rep.Status != chainlog.StatusInvalid || !walked {
		t.Fatalf("tampered: %v, %v; walked the chains: %v", rep, err, walked)
	}
}
