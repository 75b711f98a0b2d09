package chainlog_test

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"chainlog"
	"chainlog/internal/chainlogtest"
)

func monCheck(t *testing.T, m *chainlog.Monitor, src *chainlogtest.Source) *chainlog.Report {
	t.Helper()
	rep, err := m.Check(t.Context(), src)
	if err != nil {
		t.Fatalf("Check: %v", err)
	}
	if m.Last() != rep {
		t.Errorf("Last() is not the report Check returned")
	}
	return rep
}

// fullVerify is verify-integrity's check of src: chains, trail and tree.
func fullVerify(t *testing.T, src *chainlogtest.Source) *chainlog.Report {
	t.Helper()
	hooks := src.Hooks
	src.Hooks = nil
	defer func() { src.Hooks = hooks }()
	rep, err := chainlog.VerifyStore(t.Context(), src, chainlog.VerifyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

// wantSameReport checks that the Monitor's report is Verify's, as JSON.
func wantSameReport(t *testing.T, got, want *chainlog.Report) {
	t.Helper()
	g, _ := json.Marshal(got)
	w, _ := json.Marshal(want)
	if string(g) != string(w) {
		t.Errorf("Monitor report =\n%s\nVerify report =\n%s", g, w)
	}
}

func wantMonBreak(t *testing.T, rep *chainlog.Report, trail, node, event string, seq int64, reason string) {
	t.Helper()
	b := rep.BrokenAt
	if rep.Status != chainlog.StatusInvalid || b == nil {
		t.Fatalf("status %s, broken_at %+v; want invalid", rep.Status, b)
	}
	if b.Trail != trail || b.NodeID != node || b.EventID != event || b.Seq != seq || b.Reason != reason {
		t.Errorf("broken_at = %+v; want trail %q node %q event %q seq %d: %s", b, trail, node, event, seq, reason)
	}
}

// TestMonitorIncremental: each Check reads only what was committed since
// the last one, and reports what a full verification reports.
func TestMonitorIncremental(t *testing.T) {
	src := chainlogtest.NewSource()
	m := chainlog.NewMonitor()
	steps := []struct {
		name        string
		change      func()
		wantStatus  string
		wantChecked int64
		wantReads   [3]int // rows, amendments, leaves read by this Check
		wantScans   []string
	}{
		{"empty", func() {}, chainlog.StatusEmpty, 0, [3]int{}, nil},
		{"first rows", func() { src.Commit("n1", "a", "b", "c"); src.Commit("n2", "x") },
			chainlog.StatusValid, 4, [3]int{4, 0, 4}, []string{"n1 -1 3", "n2 -1 1"}},
		{"nothing new", func() {}, chainlog.StatusValid, 4, [3]int{}, []string{"n1 3 3", "n2 1 1"}},
		{"more rows, a new node", func() { src.Commit("n1", "d"); src.Commit("n3", "y", "z"); src.Commit("n1", "e") },
			chainlog.StatusValid, 8, [3]int{4, 0, 4}, []string{"n1 3 5", "n2 1 1", "n3 -1 2"}},
		// Each amendment appends its anchor event, a row and a leaf.
		{"amendments", func() { src.Amend("a", "m2"); src.Amend("y", "m2"); src.Commit("n2", "w") },
			chainlog.StatusValid, 9 + 2, [3]int{1 + 2, 2, 1 + 2}, []string{chainlog.AnchorNode + " -1 2", "n1 5 5", "n2 1 2", "n3 2 2"}},
		{"an amendment of a verified row", func() { src.Amend("a", "m3") },
			chainlog.StatusValid, 9 + 3, [3]int{0 + 1, 1, 0 + 1}, []string{chainlog.AnchorNode + " 2 3", "n1 5 5", "n2 2 2", "n3 2 2"}},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			st.change()
			before := src.Reads()
			src.Scans = nil
			rep := monCheck(t, m, src)
			if rep.Status != st.wantStatus || rep.Checked != st.wantChecked {
				t.Errorf("status %s, %d checked; want %s, %d", rep.Status, rep.Checked, st.wantStatus, st.wantChecked)
			}
			after := src.Reads()
			if got := [3]int{after[0] - before[0], after[1] - before[1], after[2] - before[2]}; got != st.wantReads {
				t.Errorf("read %v rows, amendments, leaves; want %v", got, st.wantReads)
			}
			if st.wantScans != nil && !slices.Equal(src.Scans, st.wantScans) {
				t.Errorf("ScanChainRange calls = %q; want %q", src.Scans, st.wantScans)
			}
			wantSameReport(t, rep, fullVerify(t, src))
		})
	}
}

// TestMonitorReset: rows verified once are not read again, so a change to
// them goes unseen until Reset makes the next Check start from genesis.
func TestMonitorReset(t *testing.T) {
	src := chainlogtest.NewSource()
	src.Commit("n1", "a", "b", "c", "d")
	src.Commit("n2", "x", "y")
	m := chainlog.NewMonitor()
	if rep := monCheck(t, m, src); rep.Status != chainlog.StatusValid {
		t.Fatalf("status %s; want valid", rep.Status)
	}
	src.Row("b").AgentID = "mallory"
	before := src.Reads()
	if rep := monCheck(t, m, src); rep.Status != chainlog.StatusValid || src.Reads() != before {
		t.Fatalf("incremental check after tampering with a verified row: %s, reads %v -> %v; want valid, nothing read",
			rep.Status, before, src.Reads())
	}
	m.Reset()
	rep := monCheck(t, m, src)
	wantMonBreak(t, rep, "", "n1", "b", 2, chainlog.ReasonHashMismatch)
	if got := src.Reads(); got[0]-before[0] != 6 || got[2]-before[2] != 6 {
		t.Errorf("reads after Reset %v -> %v; want all 6 rows and leaves again", before, got)
	}
	wantSameReport(t, rep, fullVerify(t, src))
	// The break stays reported, and the broken node is not read again.
	src.Commit("n1", "e")
	before = src.Reads()
	rep = monCheck(t, m, src)
	wantMonBreak(t, rep, "", "n1", "b", 2, chainlog.ReasonHashMismatch)
	if got := src.Reads(); got[0] != before[0] {
		t.Errorf("read %d rows of a broken node; want none", got[0]-before[0])
	}
	// Repaired and reset: valid again.
	src.Row("b").AgentID = "main"
	m.Reset()
	if rep := monCheck(t, m, src); rep.Status != chainlog.StatusValid || rep.Checked != 7 {
		t.Errorf("after repair and Reset: %s, %d checked; want valid, 7", rep.Status, rep.Checked)
	}
}

// TestMonitorFromGenesis: a Check from genesis finds what Verify finds.
func TestMonitorFromGenesis(t *testing.T) {
	tests := []struct {
		name   string
		build  func(s *chainlogtest.Source)
		status string
		trail  string
		node   string
		event  string
		seq    int64
		reason string
	}{
		{name: "valid with pre-chain rows", status: chainlog.StatusValid, build: func(s *chainlogtest.Source) {
			s.PreChain("n1", "p1", "p2")
			s.Commit("n1", "a", "b")
			s.PreChain("old", "q")
			s.Amend("p2", "m2")
		}},
		{name: "node without a head", build: func(s *chainlogtest.Source) {
			s.Commit("n1", "a")
			s.Commit("n2", "x", "y")
			delete(s.HeadOf, "n2")
		}, node: "n2", event: "y", seq: 2, reason: chainlog.ReasonHeadMissing},
		{name: "head without rows", build: func(s *chainlogtest.Source) {
			s.Commit("n1", "a")
			s.Commit("n2", "x")
			s.HeadOf["ghost"] = chainlog.Head{NodeID: "ghost", Hash: "abc", Seq: 3} // sorts before n1
		}, node: "ghost", seq: 3, reason: chainlog.ReasonHeadOrphan},
		{name: "heads without rows around others", build: func(s *chainlogtest.Source) {
			s.Commit("b", "x")
			s.Commit("d", "y")
			for _, n := range []string{"a", "c", "e"} {
				s.HeadOf[n] = chainlog.Head{NodeID: n, Hash: "abc", Seq: 1}
			}
		}, node: "a", seq: 1, reason: chainlog.ReasonHeadOrphan},
		{name: "head ahead of the rows", build: func(s *chainlogtest.Source) {
			s.Commit("n1", "a", "b")
			h := s.HeadOf["n1"]
			h.Seq = 5
			s.HeadOf["n1"] = h
		}, node: "n1", event: "b", seq: 2, reason: chainlog.ReasonHeadMismatch},
		{name: "row deleted", build: func(s *chainlogtest.Source) {
			s.Commit("n1", "a", "b", "c")
			s.Rows = slices.DeleteFunc(s.Rows, func(r chainlog.StoredEvent) bool { return r.ID == "b" })
		}, node: "n1", event: "c", seq: 3, reason: chainlog.ReasonSeqGap},
		{name: "payload changed", build: func(s *chainlogtest.Source) {
			s.Commit("n1", "a", "b")
			s.Row("a").Data = json.RawMessage(`{"n":0}`)
		}, node: "n1", event: "a", seq: 1, reason: chainlog.ReasonPayloadChanged},
		{name: "amended pre-chain payload changed", build: func(s *chainlogtest.Source) {
			s.PreChain("n1", "p")
			s.Commit("n1", "a")
			s.Amend("p", "m2")
			s.Row("p").Data = nil
		}, node: "n1", event: "p", reason: chainlog.ReasonPayloadChanged},
		{name: "hash without seq", build: func(s *chainlogtest.Source) {
			s.Commit("n1", "a", "b")
			s.Rows = append(s.Rows, chainlog.StoredEvent{Event: s.NewEvent("n1", "forged"), PrevHash: chainlog.GenesisHash, Hash: "abc"})
		}, node: "n1", event: "forged", reason: chainlog.ReasonNoSeq},
		{name: "seq without hash", build: func(s *chainlogtest.Source) {
			s.Commit("n1", "a", "b")
			s.Row("b").Hash = ""
		}, node: "n1", event: "b", seq: 2, reason: chainlog.ReasonHiddenRow},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := chainlogtest.NewSource()
			tt.build(src)
			rep := monCheck(t, chainlog.NewMonitor(), src)
			if tt.status == chainlog.StatusValid {
				if rep.Status != chainlog.StatusValid {
					t.Errorf("status %s (%v); want valid", rep.Status, rep.BrokenAt)
				}
			} else {
				wantMonBreak(t, rep, tt.trail, tt.node, tt.event, tt.seq, tt.reason)
			}
			wantSameReport(t, rep, fullVerify(t, src))
		})
	}
}

// TestMonitorConcurrentCommits commits rows at each point of a Check, as
// the daemon's writer does while the Monitor reads: rows beyond the heads
// (or tree size, or trail head) read first are left for the next round,
// so a Check never mistakes them for tampering, and the next round reads
// them.
func TestMonitorConcurrentCommits(t *testing.T) {
	for _, method := range []string{"Nodes", "Heads", "AmendmentHead", "StoredTree"} {
		t.Run("after "+method, func(t *testing.T) {
			src := chainlogtest.NewSource()
			src.Commit("n1", "a", "b")
			src.Commit("n2", "x")
			src.Amend("a", "m2")
			m := chainlog.NewMonitor()
			monCheck(t, m, src)
			src.Hooks[method] = func() {
				src.Commit("n1", "c", "d")
				src.Commit("a0", "new") // a node's first rows, sorting before the others
				src.Amend("x", "m2")
			}
			rep := monCheck(t, m, src)
			if rep.Status != chainlog.StatusValid {
				t.Fatalf("check with commits during it: %s (%v); want valid", rep.Status, rep.BrokenAt)
			}
			// 3 rows and an anchor, then 3 rows and an anchor.
			if rep.Checked > 8 || rep.Tree.Leaves > 8 || rep.Amendments.Checked > 2 {
				t.Errorf("checked %d rows, %d leaves, %d amendments; want no more than were committed", rep.Checked, rep.Tree.Leaves, rep.Amendments.Checked)
			}
			before := src.Reads()
			rep = monCheck(t, m, src)
			wantSameReport(t, rep, fullVerify(t, src))
			if rep.Status != chainlog.StatusValid || rep.Checked != 8 || rep.Tree.Leaves != 8 || rep.Amendments.Checked != 2 || rep.Amendments.Anchors != 2 {
				t.Errorf("next round: %s, %d checked, %d leaves, %d amendments, %d anchors; want valid, 8, 8, 2, 2", rep.Status, rep.Checked, rep.Tree.Leaves, rep.Amendments.Checked, rep.Amendments.Anchors)
			}
			after := src.Reads()
			if after[0]-before[0] > 4 || after[2]-before[2] > 4 || after[1]-before[1] > 1 {
				t.Errorf("next round read %v -> %v; want only what the last round left", before, after)
			}
		})
	}
}

// TestMonitorTree: the tree is checked incrementally, and a gap in the
// leaves or a wrong stored head breaks it.
func TestMonitorTree(t *testing.T) {
	t.Run("gap from genesis", func(t *testing.T) {
		src := chainlogtest.NewSource()
		src.Commit("n1", "a", "b", "c", "d")
		src.Leaves = slices.Delete(src.Leaves, 2, 3)
		rep := monCheck(t, chainlog.NewMonitor(), src)
		wantMonBreak(t, rep, chainlog.TrailTree, "", "", 2, chainlog.ReasonLeafMissing)
		wantSameReport(t, rep, fullVerify(t, src))
	})
	t.Run("gap in new leaves", func(t *testing.T) {
		src := chainlogtest.NewSource()
		src.Commit("n1", "a", "b")
		m := chainlog.NewMonitor()
		if rep := monCheck(t, m, src); rep.Status != chainlog.StatusValid {
			t.Fatalf("status %s; want valid", rep.Status)
		}
		src.Commit("n2", "x", "y", "z")
		src.Leaves = slices.Delete(src.Leaves, 3, 4) // leaf 3, of y
		rep := monCheck(t, m, src)
		wantMonBreak(t, rep, chainlog.TrailTree, "", "", 3, chainlog.ReasonLeafMissing)
		if rep.Tree.Leaves != 3 {
			t.Errorf("tree leaves = %d; want 3, up to the gap", rep.Tree.Leaves)
		}
		// The break is kept, and no more leaves are read.
		src.Commit("n2", "w")
		before := src.Reads()
		rep = monCheck(t, m, src)
		wantMonBreak(t, rep, chainlog.TrailTree, "", "", 3, chainlog.ReasonLeafMissing)
		if src.Reads()[2] != before[2] {
			t.Errorf("read leaves after the break")
		}
		m.Reset()
		wantSameReport(t, monCheck(t, m, src), fullVerify(t, src))
	})
	t.Run("leaves out of order", func(t *testing.T) {
		src := chainlogtest.NewSource()
		src.Commit("n1", "a", "b", "c")
		src.Leaves[0], src.Leaves[1] = src.Leaves[1], src.Leaves[0]
		rep := monCheck(t, chainlog.NewMonitor(), src)
		wantMonBreak(t, rep, chainlog.TrailTree, "", "", 0, chainlog.ReasonLeafMissing)
		wantSameReport(t, rep, fullVerify(t, src))
	})
	t.Run("stored root wrong", func(t *testing.T) {
		src := chainlogtest.NewSource()
		src.Commit("n1", "a", "b", "c")
		m := chainlog.NewMonitor()
		monCheck(t, m, src)
		src.Commit("n1", "d")
		src.TreeRoot[0] ^= 1
		rep := monCheck(t, m, src)
		wantMonBreak(t, rep, chainlog.TrailTree, "", "", 4, chainlog.ReasonTreeHeadMismatch)
		wantSameReport(t, rep, fullVerify(t, src))
	})
	t.Run("leaf altered", func(t *testing.T) {
		src := chainlogtest.NewSource()
		src.Commit("n1", "a", "b", "c")
		src.Leaves[1].Leaf.PayloadDigest = "0000"
		rep := monCheck(t, chainlog.NewMonitor(), src)
		wantMonBreak(t, rep, chainlog.TrailTree, "", "", 3, chainlog.ReasonTreeHeadMismatch)
		wantSameReport(t, rep, fullVerify(t, src))
	})
}

// TestMonitorAmendments: the trail is verified incrementally; a bad record
// breaks it for good (until Reset), and every kind of break Verify finds
// the Monitor finds.
func TestMonitorAmendments(t *testing.T) {
	src := chainlogtest.NewSource()
	src.Commit("n1", "a", "b", "c")
	src.Amend("a", "m2")
	src.Amend("b", "m2")
	m := chainlog.NewMonitor()
	step := func(wantStatus string, wantChecked int64, wantRead int) *chainlog.Report {
		t.Helper()
		before := src.AmendRead
		rep := monCheck(t, m, src)
		if rep.Amendments.Status != wantStatus || rep.Amendments.Checked != wantChecked {
			t.Errorf("amendments %s, %d checked; want %s, %d", rep.Amendments.Status, rep.Amendments.Checked, wantStatus, wantChecked)
		}
		if got := src.AmendRead - before; got != wantRead {
			t.Errorf("read %d amendment records; want %d", got, wantRead)
		}
		return rep
	}
	step(chainlog.StatusValid, 2, 2)
	src.Amend("a", "m3")
	step(chainlog.StatusValid, 3, 1)
	step(chainlog.StatusValid, 3, 0)
	src.Amend("c", "m2")
	src.Amends[3].Reason = "edited"
	rep := step(chainlog.StatusInvalid, 4, 1)
	wantMonBreak(t, rep, chainlog.TrailAmendments, "", "c", 4, chainlog.ReasonAmendHash)
	src.Amends[3].Reason = "fix"
	src.Amend("b", "m4")
	step(chainlog.StatusInvalid, 4, 0) // broken: not read further
	m.Reset()
	rep = step(chainlog.StatusValid, 5, 5)
	wantSameReport(t, rep, fullVerify(t, src))

	tests := []struct {
		name   string
		change func(s *chainlogtest.Source)
		seq    int64
		event  string
		reason string
	}{
		{"head missing", func(s *chainlogtest.Source) { s.AmendHead = nil }, 2, "", chainlog.ReasonAmendHeadMissing},
		{"head ahead", func(s *chainlogtest.Source) { s.AmendHead.Seq = 3 }, 2, "", chainlog.ReasonAmendHeadMismatch},
		{"head rewritten", func(s *chainlogtest.Source) { s.AmendHead.Hash = "feed" }, 2, "", chainlog.ReasonAmendHeadMismatch},
		{"record deleted", func(s *chainlogtest.Source) { s.Amends = slices.Delete(s.Amends, 0, 1) }, 2, "b", chainlog.ReasonAmendSeq},
		{"digest_before wrong", func(s *chainlogtest.Source) { s.Amends[1].ExpectedBefore = "feed" }, 2, "b", chainlog.ReasonAmendBefore},
		{"event gone", func(s *chainlogtest.Source) { s.Amends[1].EventExists = false }, 2, "b", chainlog.ReasonAmendNoEvent},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := chainlogtest.NewSource()
			src.Commit("n1", "a", "b")
			src.Amend("a", "m2")
			src.Amend("b", "m2")
			tt.change(src)
			rep := monCheck(t, chainlog.NewMonitor(), src)
			wantMonBreak(t, rep, chainlog.TrailAmendments, "", tt.event, tt.seq, tt.reason)
			wantSameReport(t, rep, fullVerify(t, src))
		})
	}
}

// TestMonitorConcurrentUse: Checks, Resets and Last from many goroutines
// (run with -race).
func TestMonitorConcurrentUse(t *testing.T) {
	src := chainlogtest.NewSource()
	src.Commit("n1", "a", "b", "c")
	src.Commit("n2", "x")
	m := chainlog.NewMonitor()
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			for range 20 {
				if i%4 == 0 {
					m.Reset()
				}
				rep, err := m.Check(context.Background(), src)
				if err != nil || rep.Status != chainlog.StatusValid || rep.Checked != 4 {
					t.Errorf("Check = %+v, %v; want valid, 4", rep, err)
					return
				}
				if m.Last() == nil {
					t.Error("Last() = nil after a Check")
				}
			}
		})
	}
	wg.Wait()
}

// rewriteTrail replaces src's trail from record seq on: edit changes
// record seq, and every later record is linked and hashed again, as
// someone who can write the store and knows the format would. The head
// follows.
func rewriteTrail(src *chainlogtest.Source, seq int64, edit func(*chainlog.Amendment)) {
	prev := chainlog.GenesisHash
	for i := range src.Amends {
		a := &src.Amends[i].Amendment
		if a.Seq == seq {
			edit(a)
		}
		if a.Seq >= seq {
			a.PrevHash = prev
			a.Hash = chainlog.AmendmentHash(prev, a)
		}
		prev = a.Hash
	}
	last := src.Amends[len(src.Amends)-1].Amendment
	src.AmendHead = &chainlog.Head{Seq: last.Seq, Hash: last.Hash}
}

// TestMonitorAnchors: the anchor events hold the trail to what was
// committed. A trail rewritten and hashed forward is consistent in
// itself, but no longer matches its anchors; a record appended without
// an anchor runs past the last one. The Monitor and VerifyStore agree.
func TestMonitorAnchors(t *testing.T) {
	build := func() (*chainlogtest.Source, []chainlog.Amendment) {
		src := chainlogtest.NewSource()
		src.Commit("n1", "a", "b")
		src.Amend("a", "m2")
		src.Amend("b", "m2")
		var recs []chainlog.Amendment
		for _, a := range src.Amends {
			recs = append(recs, a.Amendment)
		}
		return src, recs
	}
	tests := []struct {
		name   string
		tamper func(*chainlogtest.Source, []chainlog.Amendment) (event string, seq int64, reason, expected, found string)
	}{
		{"first record rewritten", func(s *chainlogtest.Source, recs []chainlog.Amendment) (string, int64, string, string, string) {
			rewriteTrail(s, 1, func(a *chainlog.Amendment) { a.Reason = "routine" })
			return chainlog.AnchorID(1, recs[0].Hash), 1, chainlog.ReasonAnchorMismatch, recs[0].Hash, s.Amends[0].Hash
		}},
		{"last record deleted with the head", func(s *chainlogtest.Source, recs []chainlog.Amendment) (string, int64, string, string, string) {
			s.Amends = s.Amends[:1]
			s.AmendHead = &chainlog.Head{Seq: 1, Hash: recs[0].Hash}
			s.Row("b").LastDigest = ""
			s.Row("b").Model = chainlogtest.Ptr("m")
			return chainlog.AnchorID(2, recs[1].Hash), 2, chainlog.ReasonAnchorNoRecord, recs[1].Hash, ""
		}},
		{"record appended without an anchor", func(s *chainlogtest.Source, recs []chainlog.Amendment) (string, int64, string, string, string) {
			a := recs[1]
			a.Seq, a.Reason, a.PrevHash = 3, "forged", recs[1].Hash
			a.DigestBefore = a.DigestAfter
			a.Hash = chainlog.AmendmentHash(a.PrevHash, &a)
			s.Amends = append(s.Amends, chainlog.AmendmentScan{Amendment: a, ExpectedBefore: a.DigestBefore, EventExists: true})
			s.AmendHead = &chainlog.Head{Seq: 3, Hash: a.Hash}
			return chainlog.AnchorID(2, recs[1].Hash), 3, chainlog.ReasonUnanchored, "trail head at seq 2", "trail head at seq 3"
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src, recs := build()
			m := chainlog.NewMonitor()
			if rep := monCheck(t, m, src); rep.Status != chainlog.StatusValid || rep.Amendments.Anchors != 2 || rep.Amendments.AnchoredSeq != 2 {
				t.Fatalf("before tampering: %s, %+v; want valid with 2 anchors", rep.Status, rep.Amendments)
			}
			event, seq, reason, expected, found := tt.tamper(src, recs)
			for name, rep := range map[string]*chainlog.Report{"Monitor": monCheck(t, chainlog.NewMonitor(), src), "VerifyStore": fullVerify(t, src)} {
				b := rep.Amendments.Break
				if rep.Status != chainlog.StatusInvalid || b == nil {
					t.Fatalf("%s: status %s, amendments %+v; want invalid", name, rep.Status, rep.Amendments)
				}
				if b.Trail != chainlog.TrailAmendments || b.NodeID != chainlog.AnchorNode || b.EventID != event || b.Seq != seq ||
					b.Reason != reason || b.Expected != expected || b.Found != found {
					t.Errorf("%s: amendments broken_at = %+v; want anchor %s seq %d: %s (expected %q, found %q)", name, b, event, seq, reason, expected, found)
				}
			}
		})
	}
}

// TestMonitorPrune: a node walked before is pruned, up to rows it has
// verified and up to rows it has not read yet, and a prune commits
// between the Check's read of the prune records and its read of the rows.
// Every Check is VALID, as the whole-store verification is.
func TestMonitorPrune(t *testing.T) {
	src := chainlogtest.NewSource()
	m := chainlog.NewMonitor()
	prune := func(last int64) {
		t.Helper()
		first := int64(1)
		if recs, _ := src.Prunes(t.Context()); len(recs) > 0 {
			first = recs[len(recs)-1].Prune.LastSeq + 1
		}
		anchor := src.Row(fmt.Sprintf("a%d", last)).Hash
		_, err := src.Prune(t.Context(), chainlog.PruneRequest{Cuts: []chainlog.PruneCut{{NodeID: "n1", FirstSeq: first, LastSeq: last, Anchor: anchor}},
			Before: time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC), Reason: "policy", Actor: "test"})
		if err != nil {
			t.Fatal(err)
		}
	}
	check := func(step string) {
		t.Helper()
		rep := monCheck(t, m, src)
		if rep.Status != chainlog.StatusValid {
			t.Fatalf("%s: Check %s at %v", step, rep.Status, rep.BrokenAt)
		}
		if full := fullVerify(t, src); full.Status != chainlog.StatusValid {
			t.Fatalf("%s: whole verification %s at %v", step, full.Status, full.BrokenAt)
		}
	}
	src.Commit("n1", "a1", "a2", "a3", "a4")
	check("first rows")
	// Verified rows, and one not read yet, are pruned.
	src.Commit("n1", "a5", "a6")
	prune(5)
	check("pruned past the last walk")
	// A prune commits after the Check read the records, before it reads
	// n1's rows: its husks are read without the records that cover them.
	src.Commit("n1", "a7", "a8", "a9")
	src.Hooks["ScanChainRange n1"] = func() { prune(8) }
	check("pruned during the check")
	// Husks that no record covers still break the chain.
	src.Commit("n1", "a10")
	src.Row("a10").MakeHusk()
	if rep := monCheck(t, m, src); rep.Status != chainlog.StatusInvalid || rep.BrokenAt.EventID != "a10" {
		t.Fatalf("an unrecorded husk: %s at %v; want INVALID at a10", rep.Status, rep.BrokenAt)
	}
}

// TestMonitorTrailBegunDuringCheck: the trail's first record, committed
// after the check read the trail's head (none yet), is not a trail
// without its head: the head is read again.
func TestMonitorTrailBegunDuringCheck(t *testing.T) {
	src := chainlogtest.NewSource()
	src.Commit("n1", "a", "b")
	m := chainlog.NewMonitor()
	if rep := monCheck(t, m, src); rep.Status != chainlog.StatusValid {
		t.Fatalf("first check: %s", rep.Status)
	}
	src.Hooks["AmendmentHead"] = func() { src.Amend("a", "m2") }
	rep := monCheck(t, m, src)
	if rep.Status != chainlog.StatusValid || rep.Amendments.Checked != 1 {
		t.Fatalf("check while the trail began: %s, %d records checked, break %+v; want VALID with the record", rep.Status, rep.Amendments.Checked, rep.BrokenAt)
	}
	// A trail whose head is gone is still a break.
	src.AmendHead = nil
	m.Reset()
	if rep := monCheck(t, m, src); rep.BrokenAt == nil || rep.BrokenAt.Reason != chainlog.ReasonAmendHeadMissing {
		t.Fatalf("trail without its head: %+v; want %q", rep.BrokenAt, chainlog.ReasonAmendHeadMissing)
	}
}
