package chainlog

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"testing"
)

// memSource is an in-memory chainSource. rows are in commit order; heads in
// any order. It sorts as the interface contract says, and clobbers the row
// it passed to fn after each call, so a verifier that keeps the pointer
// fails.
type memSource struct {
	rows     []StoredEvent
	heads    []Head
	headsErr error
	scanErr  error // returned by ScanChains after scanAt rows
	scanAt   int
	unsorted bool // hand out rows in commit order, breaking the contract

	headsArg, scanArg []string // the nodeID of every call

	amends    []AmendmentScan // in seq order
	amendHead *Head
}

func (s *memSource) AmendmentHead(ctx context.Context) (*Head, error) { return s.amendHead, nil }

func (s *memSource) ScanAmendments(ctx context.Context, fn func(*AmendmentScan) error) error {
	for i := range s.amends {
		a := s.amends[i]
		if err := fn(&a); err != nil {
			return err
		}
	}
	return nil
}

func (s *memSource) AmendmentHashAt(ctx context.Context, seq int64) (string, bool, error) {
	for _, a := range s.amends {
		if a.Seq == seq {
			return a.Hash, true, nil
		}
	}
	return "", false, nil
}

func (s *memSource) Heads(ctx context.Context, nodeID string) ([]Head, error) {
	s.headsArg = append(s.headsArg, nodeID)
	if s.headsErr != nil {
		return nil, s.headsErr
	}
	var out []Head
	for _, h := range s.heads {
		if nodeID == "" || h.NodeID == nodeID {
			out = append(out, h)
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].NodeID < out[j].NodeID })
	return out, nil
}

func (s *memSource) ScanChains(ctx context.Context, nodeID string, fn func(*StoredEvent) error) error {
	s.scanArg = append(s.scanArg, nodeID)
	var idx []int
	for i := range s.rows {
		if nodeID == "" || s.rows[i].NodeID == nodeID {
			idx = append(idx, i)
		}
	}
	if !s.unsorted {
		// node_id, then chain_seq with NULL (0) first, then commit order.
		sort.SliceStable(idx, func(i, j int) bool {
			a, b := &s.rows[idx[i]], &s.rows[idx[j]]
			if a.NodeID != b.NodeID {
				return a.NodeID < b.NodeID
			}
			return a.Seq < b.Seq
		})
	}
	var cur StoredEvent
	for n, i := range idx {
		if s.scanErr != nil && n == s.scanAt {
			return s.scanErr
		}
		cur = s.rows[i]
		if err := fn(&cur); err != nil {
			return err
		}
		cur = StoredEvent{Event: Event{ID: "clobbered", NodeID: "clobbered"}, Seq: -1, PrevHash: "clobbered", Hash: "clobbered"}
	}
	if s.scanErr != nil && len(idx) <= s.scanAt {
		return s.scanErr
	}
	return nil
}

// chainEvent returns the identity of event i of node.
func chainEvent(node string, i int) Event {
	return Event{
		ID: fmt.Sprintf("%s/ev-%d", node, i), AgentType: "claude_code", NodeID: node, AgentID: "main",
		SessionID: sp("s-1"), WorkspaceID: sp("ws-1"), EventType: "tool_call",
		TS: fmt.Sprintf("2026-01-01T00:00:%02dZ", i),
	}
}

// stamp returns e stamped as seq, linked to prev.
func stamp(e Event, seq int64, prev string) StoredEvent {
	return StoredEvent{Event: e, CreatedAt: "2026-01-01 00:00:00", Seq: seq, PrevHash: prev, Hash: ChainHash(prev, &e)}
}

// buildChain returns a valid chain of n rows for node.
func buildChain(node string, n int) []StoredEvent {
	rows := make([]StoredEvent, 0, n)
	prev := GenesisHash
	for i := 1; i <= n; i++ {
		rows = append(rows, stamp(chainEvent(node, i), int64(i), prev))
		prev = rows[i-1].Hash
	}
	return rows
}

// preChain returns n pre-chain rows for node.
func preChain(node string, n int) []StoredEvent {
	var rows []StoredEvent
	for i := 1; i <= n; i++ {
		e := chainEvent(node, i)
		e.ID = fmt.Sprintf("%s/old-%d", node, i)
		rows = append(rows, StoredEvent{Event: e})
	}
	return rows
}

// headsOf returns the head each node of rows should have.
func headsOf(rows []StoredEvent) []Head {
	last := map[string]StoredEvent{}
	for _, r := range rows {
		if r.Stamped() && r.Seq > last[r.NodeID].Seq {
			last[r.NodeID] = r
		}
	}
	var heads []Head
	for node, r := range last {
		heads = append(heads, Head{NodeID: node, Hash: r.Hash, Seq: r.Seq, UpdatedAt: r.CreatedAt})
	}
	return heads
}

// newStore returns a store of rows with correct heads.
func newStore(rows ...[]StoredEvent) *memSource {
	var all []StoredEvent
	for _, r := range rows {
		all = append(all, r...)
	}
	return &memSource{rows: all, heads: headsOf(all)}
}

func (s *memSource) row(tb testing.TB, id string) *StoredEvent {
	tb.Helper()
	for i := range s.rows {
		if s.rows[i].ID == id {
			return &s.rows[i]
		}
	}
	tb.Fatalf("no row %q", id)
	return nil
}

func (s *memSource) deleteRow(tb testing.TB, id string) {
	tb.Helper()
	for i := range s.rows {
		if s.rows[i].ID == id {
			s.rows = append(s.rows[:i:i], s.rows[i+1:]...)
			return
		}
	}
	tb.Fatalf("no row %q", id)
}

func (s *memSource) setHead(node, hash string, seq int64) {
	for i := range s.heads {
		if s.heads[i].NodeID == node {
			s.heads[i].Hash, s.heads[i].Seq = hash, seq
			return
		}
	}
	s.heads = append(s.heads, Head{NodeID: node, Hash: hash, Seq: seq})
}

func (s *memSource) deleteHead(node string) {
	var kept []Head
	for _, h := range s.heads {
		if h.NodeID != node {
			kept = append(kept, h)
		}
	}
	s.heads = kept
}

func mustVerify(tb testing.TB, src chainSource, nodeID string) *Report {
	tb.Helper()
	rep, err := verifyChains(context.Background(), src, nodeID, nil)
	if err != nil {
		tb.Fatalf("Verify(%q): got error %v, want nil", nodeID, err)
	}
	if rep == nil {
		tb.Fatalf("Verify(%q): got nil report", nodeID)
	}
	checkOnePass(tb, src, nodeID)
	return rep
}

// checkReportConsistent checks what every report must satisfy.
func checkReportConsistent(t *testing.T, rep *Report) {
	t.Helper()
	var checked, pre int64
	var first *Break
	for _, n := range rep.Nodes {
		checked += n.Checked
		pre += n.PreChain
		if n.Break != nil && first == nil {
			first = n.Break
		}
		if (n.Status == StatusInvalid) != (n.Break != nil) {
			t.Errorf("node %q: got status %q with break %v", n.NodeID, n.Status, n.Break)
		}
	}
	if rep.Checked != checked || rep.PreChain != pre {
		t.Errorf("totals: got checked %d pre_chain %d, want the nodes' sums %d %d", rep.Checked, rep.PreChain, checked, pre)
	}
	if rep.BrokenAt != first {
		t.Errorf("BrokenAt: got %v, want the first node's break %v", rep.BrokenAt, first)
	}
	switch {
	case rep.BrokenAt != nil:
		if rep.Status != StatusInvalid || rep.Error == nil || *rep.Error != rep.BrokenAt.Error() {
			t.Errorf("invalid report: got status %q error %v, want %q and %q", rep.Status, rep.Error, StatusInvalid, rep.BrokenAt.Error())
		}
	case rep.Error != nil:
		t.Errorf("Error: got %q, want nil without a break", *rep.Error)
	}
	if rep.Nodes == nil {
		t.Error("Nodes: got nil, want a non-nil slice (JSON [])")
	}
	if !sort.SliceIsSorted(rep.Nodes, func(i, j int) bool { return rep.Nodes[i].NodeID < rep.Nodes[j].NodeID }) {
		t.Errorf("Nodes: got %v, want sorted by node_id", nodeSummaries(rep))
	}
}

func checkBreak(t *testing.T, got, want *Break, detail string) {
	t.Helper()
	if got == nil || want == nil {
		if got != want {
			t.Fatalf("break: got %v, want %v", got, want)
		}
		return
	}
	g, w := *got, *want
	g.Detail, w.Detail = "", ""
	if g != w {
		t.Errorf("break:\n got %+v\nwant %+v", g, w)
	}
	if !strings.Contains(got.Detail, detail) {
		t.Errorf("break detail: got %q, want it to contain %q", got.Detail, detail)
	}
}

// nodeSummaries is a one-line summary per node report.
func nodeSummaries(rep *Report) []string {
	var out []string
	for _, n := range rep.Nodes {
		s := fmt.Sprintf("%s %s checked=%d pre=%d", n.NodeID, n.Status, n.Checked, n.PreChain)
		if n.Break != nil {
			s += fmt.Sprintf(" seq=%d %s", n.Break.Seq, reasonName(n.Break.Reason))
		}
		out = append(out, s)
	}
	return out
}

func reasonName(r string) string {
	for name, reason := range map[string]string{
		"hash": ReasonHashMismatch, "prev": ReasonPrevMismatch, "gap": ReasonSeqGap, "fork": ReasonFork,
		"hidden": ReasonHiddenRow, "noseq": ReasonNoSeq, "head": ReasonHeadMismatch,
		"headmissing": ReasonHeadMissing, "orphan": ReasonHeadOrphan,
	} {
		if r == reason {
			return name
		}
	}
	return r
}

func TestVerifyTampering(t *testing.T) {
	const node = "node-a"
	// orig is the valid chain every case starts from: seq 1..5.
	orig := buildChain(node, 5)
	forge := func(id string, seq int64, prev string) StoredEvent {
		e := chainEvent(node, 99)
		e.ID = id
		return stamp(e, seq, prev)
	}
	alter := func(edit func(*Event)) func(*memSource) {
		return func(s *memSource) { edit(&s.rows[2].Event) }
	}
	// hashBreak is the break of an altered row 3 (index 2).
	hashBreak := func(s *memSource) *Break {
		r := s.rows[2]
		return &Break{NodeID: node, Seq: 3, EventID: r.ID, Reason: ReasonHashMismatch,
			Expected: storedHash(orig[1].Hash, &r.Event), Found: orig[2].Hash}
	}
	bogus := strings.Repeat("f", 64)

	tests := []struct {
		name         string
		tamper       func(s *memSource)
		status       string
		checked, pre int64
		want         func(s *memSource) *Break // nil: no break
		detail       string                    // a substring of the break's Detail
		nodes        []string                  // when set, the wanted nodeSummaries
	}{
		{name: "untouched", tamper: func(*memSource) {}, status: StatusValid, checked: 5},
		{name: "physical order shuffled", tamper: func(s *memSource) {
			s.rows[0], s.rows[4], s.rows[1], s.rows[3] = s.rows[4], s.rows[0], s.rows[3], s.rows[1]
		}, status: StatusValid, checked: 5},
		{name: "mutable fields rewritten", tamper: func(s *memSource) {
			s.rows[2].Data, s.rows[2].CostUSD, s.rows[2].TokenCount, s.rows[2].Model = json.RawMessage(`{"x":1}`), fp(9), ip(9), sp("m")
			s.rows[2].CreatedAt = "1999-01-01"
		}, status: StatusValid, checked: 5},
		// A store holds the defaults themselves: blanking one out is an
		// alteration, although a decoder would default "" back.
		{name: "agent_id emptied where it is the default", tamper: alter(func(e *Event) { e.AgentID = "" }),
			status: StatusInvalid, checked: 5, want: hashBreak},

		// Every identity field altered.
		{name: "id altered", tamper: alter(func(e *Event) { e.ID = "node-a/ev-x" }),
			status: StatusInvalid, checked: 5, want: hashBreak},
		{name: "agent_type altered", tamper: alter(func(e *Event) { e.AgentType = "cursor" }),
			status: StatusInvalid, checked: 5, want: hashBreak},
		{name: "agent_type emptied", tamper: alter(func(e *Event) { e.AgentType = "" }),
			status: StatusInvalid, checked: 5, want: hashBreak},
		{name: "agent_id altered", tamper: alter(func(e *Event) { e.AgentID = "mallory" }),
			status: StatusInvalid, checked: 5, want: hashBreak},
		{name: "session_id altered", tamper: alter(func(e *Event) { e.SessionID = sp("s-2") }),
			status: StatusInvalid, checked: 5, want: hashBreak},
		{name: "session_id nulled", tamper: alter(func(e *Event) { e.SessionID = nil }),
			status: StatusInvalid, checked: 5, want: hashBreak},
		{name: "workspace_id altered", tamper: alter(func(e *Event) { e.WorkspaceID = sp("ws-1 ") }),
			status: StatusInvalid, checked: 5, want: hashBreak},
		{name: "workspace_id emptied", tamper: alter(func(e *Event) { e.WorkspaceID = sp("") }),
			status: StatusInvalid, checked: 5, want: hashBreak},
		{name: "event_type altered", tamper: alter(func(e *Event) { e.EventType = "tool.call" }),
			status: StatusInvalid, checked: 5, want: hashBreak},
		{name: "ts altered", tamper: alter(func(e *Event) { e.TS = "2026-01-01T00:00:03.000Z" }),
			status: StatusInvalid, checked: 5, want: hashBreak},
		{name: "node_id altered to a later node", tamper: alter(func(e *Event) { e.NodeID = "node-b" }),
			status: StatusInvalid, checked: 5,
			want: func(s *memSource) *Break {
				return &Break{NodeID: node, Seq: 4, EventID: orig[3].ID, Reason: ReasonSeqGap, Expected: "3", Found: "4"}
			},
			detail: "expected seq 3, found seq 4",
			nodes:  []string{"node-a invalid checked=4 pre=0 seq=4 gap", "node-b invalid checked=1 pre=0 seq=3 gap"}},
		{name: "node_id of the first row altered to an earlier node", tamper: func(s *memSource) { s.rows[0].NodeID = "node-0" },
			status: StatusInvalid, checked: 5,
			want: func(s *memSource) *Break {
				return &Break{NodeID: "node-0", Seq: 1, EventID: orig[0].ID, Reason: ReasonHashMismatch,
					Expected: ChainHash(GenesisHash, &s.rows[0].Event), Found: orig[0].Hash}
			},
			nodes: []string{"node-0 invalid checked=1 pre=0 seq=1 hash", "node-a invalid checked=4 pre=0 seq=2 gap"}},
		{name: "identity altered and hash recomputed", tamper: func(s *memSource) {
			s.rows[2].TS = "forged"
			s.rows[2].Hash = ChainHash(s.rows[2].PrevHash, &s.rows[2].Event)
		}, status: StatusInvalid, checked: 5,
			want: func(s *memSource) *Break {
				return &Break{NodeID: node, Seq: 4, EventID: orig[3].ID, Reason: ReasonPrevMismatch, Expected: s.rows[2].Hash, Found: orig[2].Hash}
			}},
		{name: "first row altered", tamper: func(s *memSource) { s.rows[0].EventType = "x" },
			status: StatusInvalid, checked: 5,
			want: func(s *memSource) *Break {
				return &Break{NodeID: node, Seq: 1, EventID: orig[0].ID, Reason: ReasonHashMismatch,
					Expected: ChainHash(GenesisHash, &s.rows[0].Event), Found: orig[0].Hash}
			}},
		{name: "last row altered", tamper: func(s *memSource) { s.rows[4].EventType = "x" },
			status: StatusInvalid, checked: 5,
			want: func(s *memSource) *Break {
				return &Break{NodeID: node, Seq: 5, EventID: orig[4].ID, Reason: ReasonHashMismatch,
					Expected: ChainHash(orig[3].Hash, &s.rows[4].Event), Found: orig[4].Hash}
			}},

		// Deleted rows.
		{name: "first row deleted", tamper: func(s *memSource) { s.deleteRow(t, orig[0].ID) },
			status: StatusInvalid, checked: 4, detail: "expected seq 1, found seq 2",
			want: func(*memSource) *Break {
				return &Break{NodeID: node, Seq: 2, EventID: orig[1].ID, Reason: ReasonSeqGap, Expected: "1", Found: "2"}
			}},
		{name: "middle row deleted", tamper: func(s *memSource) { s.deleteRow(t, orig[2].ID) },
			status: StatusInvalid, checked: 4, detail: "expected seq 3, found seq 4",
			want: func(*memSource) *Break {
				return &Break{NodeID: node, Seq: 4, EventID: orig[3].ID, Reason: ReasonSeqGap, Expected: "3", Found: "4"}
			}},
		{name: "middle row deleted and later rows renumbered", tamper: func(s *memSource) {
			s.deleteRow(t, orig[2].ID)
			s.rows[2].Seq, s.rows[3].Seq = 3, 4
			s.setHead(node, orig[4].Hash, 4)
		}, status: StatusInvalid, checked: 4,
			want: func(*memSource) *Break {
				return &Break{NodeID: node, Seq: 3, EventID: orig[3].ID, Reason: ReasonPrevMismatch, Expected: orig[1].Hash, Found: orig[2].Hash}
			}},
		{name: "last row deleted", tamper: func(s *memSource) { s.deleteRow(t, orig[4].ID) },
			status: StatusInvalid, checked: 4, detail: "last row is seq 4, head says seq 5",
			want: func(*memSource) *Break {
				return &Break{NodeID: node, Seq: 4, EventID: orig[3].ID, Reason: ReasonHeadMismatch, Expected: orig[3].Hash, Found: orig[4].Hash}
			}},
		// What a chain inside the store cannot show: the newest rows gone
		// with the head rewound to match. Signed checkpoints kept outside
		// the store are what catch this.
		{name: "last row deleted and head rewound (needs checkpoints)", tamper: func(s *memSource) {
			s.deleteRow(t, orig[4].ID)
			s.setHead(node, orig[3].Hash, 4)
		}, status: StatusValid, checked: 4},
		{name: "all rows deleted, head kept", tamper: func(s *memSource) { s.rows = nil },
			status: StatusInvalid, checked: 0, detail: "head is at seq 5",
			want: func(*memSource) *Break {
				return &Break{NodeID: node, Seq: 5, Reason: ReasonHeadOrphan, Expected: GenesisHash, Found: orig[4].Hash}
			}},

		// Reordered rows.
		{name: "two rows' contents swapped", tamper: func(s *memSource) {
			s.rows[1].Event, s.rows[2].Event = s.rows[2].Event, s.rows[1].Event
		}, status: StatusInvalid, checked: 5,
			want: func(*memSource) *Break {
				return &Break{NodeID: node, Seq: 2, EventID: orig[2].ID, Reason: ReasonHashMismatch,
					Expected: ChainHash(orig[0].Hash, &orig[2].Event), Found: orig[1].Hash}
			}},
		{name: "two rows' seqs swapped", tamper: func(s *memSource) {
			s.rows[1].Seq, s.rows[2].Seq = s.rows[2].Seq, s.rows[1].Seq
		}, status: StatusInvalid, checked: 5,
			want: func(*memSource) *Break {
				return &Break{NodeID: node, Seq: 2, EventID: orig[2].ID, Reason: ReasonPrevMismatch, Expected: orig[0].Hash, Found: orig[1].Hash}
			}},
		{name: "first two rows' seqs swapped", tamper: func(s *memSource) {
			s.rows[0].Seq, s.rows[1].Seq = s.rows[1].Seq, s.rows[0].Seq
		}, status: StatusInvalid, checked: 5,
			want: func(*memSource) *Break {
				return &Break{NodeID: node, Seq: 1, EventID: orig[1].ID, Reason: ReasonPrevMismatch, Expected: GenesisHash, Found: orig[0].Hash}
			}},

		// Forged rows.
		{name: "forged row at start, same seq", tamper: func(s *memSource) {
			s.rows = append(s.rows, forge("forged", 1, GenesisHash))
		}, status: StatusInvalid, checked: 6, detail: "seq 1 appears twice",
			want: func(s *memSource) *Break {
				return &Break{NodeID: node, Seq: 1, EventID: "forged", Reason: ReasonFork, Expected: orig[0].Hash, Found: s.row(t, "forged").Hash}
			}},
		{name: "forged row at start, rows renumbered", tamper: func(s *memSource) {
			for i := range s.rows {
				s.rows[i].Seq++
			}
			s.rows = append(s.rows, forge("forged", 1, GenesisHash))
			s.setHead(node, orig[4].Hash, 6)
		}, status: StatusInvalid, checked: 6, detail: "seq 1 and seq 2 both follow " + GenesisHash,
			want: func(s *memSource) *Break {
				return &Break{NodeID: node, Seq: 2, EventID: orig[0].ID, Reason: ReasonFork, Expected: s.row(t, "forged").Hash, Found: GenesisHash}
			}},
		{name: "forged row in the middle, rows renumbered", tamper: func(s *memSource) {
			for i := 2; i < 5; i++ {
				s.rows[i].Seq++
			}
			s.rows = append(s.rows, forge("forged", 3, orig[1].Hash))
			s.setHead(node, orig[4].Hash, 6)
		}, status: StatusInvalid, checked: 6, detail: "seq 3 and seq 4 both follow",
			want: func(s *memSource) *Break {
				return &Break{NodeID: node, Seq: 4, EventID: orig[2].ID, Reason: ReasonFork, Expected: s.row(t, "forged").Hash, Found: orig[1].Hash}
			}},
		{name: "forged row in the middle with a made-up hash", tamper: func(s *memSource) {
			for i := 2; i < 5; i++ {
				s.rows[i].Seq++
			}
			f := forge("forged", 3, orig[1].Hash)
			f.Hash = bogus
			s.rows = append(s.rows, f)
		}, status: StatusInvalid, checked: 6,
			want: func(s *memSource) *Break {
				f := s.row(t, "forged")
				return &Break{NodeID: node, Seq: 3, EventID: "forged", Reason: ReasonHashMismatch, Expected: ChainHash(orig[1].Hash, &f.Event), Found: bogus}
			}},
		{name: "forged row at end, head kept", tamper: func(s *memSource) {
			s.rows = append(s.rows, forge("forged", 6, orig[4].Hash))
		}, status: StatusInvalid, checked: 6, detail: "last row is seq 6, head says seq 5",
			want: func(s *memSource) *Break {
				return &Break{NodeID: node, Seq: 6, EventID: "forged", Reason: ReasonHeadMismatch, Expected: s.row(t, "forged").Hash, Found: orig[4].Hash}
			}},
		// A well-formed append with the head moved is indistinguishable
		// from a real one: checkpoints again.
		{name: "forged row at end, head moved (needs checkpoints)", tamper: func(s *memSource) {
			f := forge("forged", 6, orig[4].Hash)
			s.rows = append(s.rows, f)
			s.setHead(node, f.Hash, 6)
		}, status: StatusValid, checked: 6},
		{name: "forged row at end with a made-up hash", tamper: func(s *memSource) {
			f := forge("forged", 6, orig[4].Hash)
			f.Hash = bogus
			s.rows = append(s.rows, f)
			s.setHead(node, bogus, 6)
		}, status: StatusInvalid, checked: 6,
			want: func(s *memSource) *Break {
				f := s.row(t, "forged")
				return &Break{NodeID: node, Seq: 6, EventID: "forged", Reason: ReasonHashMismatch, Expected: ChainHash(orig[4].Hash, &f.Event), Found: bogus}
			}},

		// Forks.
		{name: "fork: two rows with the same seq", tamper: func(s *memSource) {
			s.rows = append(s.rows, forge("fork", 3, orig[1].Hash))
		}, status: StatusInvalid, checked: 6, detail: "seq 3 appears twice",
			want: func(s *memSource) *Break {
				return &Break{NodeID: node, Seq: 3, EventID: "fork", Reason: ReasonFork, Expected: orig[2].Hash, Found: s.row(t, "fork").Hash}
			}},
		{name: "fork: last row and a new one share a predecessor", tamper: func(s *memSource) {
			f := forge("fork", 6, orig[3].Hash)
			s.rows = append(s.rows, f)
			s.setHead(node, f.Hash, 6)
		}, status: StatusInvalid, checked: 6, detail: "seq 5 and seq 6 both follow " + orig[3].Hash,
			want: func(s *memSource) *Break {
				return &Break{NodeID: node, Seq: 6, EventID: "fork", Reason: ReasonFork, Expected: orig[4].Hash, Found: orig[3].Hash}
			}},

		// Chain columns NULLed.
		{name: "chain_hash NULL on a stamped row", tamper: func(s *memSource) { s.rows[2].Hash = "" },
			status: StatusInvalid, checked: 5,
			want: func(*memSource) *Break {
				return &Break{NodeID: node, Seq: 3, EventID: orig[2].ID, Reason: ReasonHiddenRow, Expected: orig[2].Hash, Found: ""}
			}},
		{name: "chain_prev_hash NULL on a stamped row", tamper: func(s *memSource) { s.rows[2].PrevHash = "" },
			status: StatusInvalid, checked: 5,
			want: func(*memSource) *Break {
				return &Break{NodeID: node, Seq: 3, EventID: orig[2].ID, Reason: ReasonPrevMismatch, Expected: orig[1].Hash, Found: ""}
			}},
		{name: "chain_seq NULL on a stamped row", tamper: func(s *memSource) { s.rows[2].Seq = 0 },
			status: StatusInvalid, checked: 5,
			want: func(*memSource) *Break {
				return &Break{NodeID: node, Seq: 0, EventID: orig[2].ID, Reason: ReasonNoSeq, Expected: "1", Found: ""}
			}},
		{name: "all chain columns NULL on a middle row", tamper: func(s *memSource) {
			s.rows[2].Seq, s.rows[2].PrevHash, s.rows[2].Hash = 0, "", ""
		}, status: StatusInvalid, checked: 4, pre: 1, detail: "expected seq 3, found seq 4",
			want: func(*memSource) *Break {
				return &Break{NodeID: node, Seq: 4, EventID: orig[3].ID, Reason: ReasonSeqGap, Expected: "3", Found: "4"}
			}},
		{name: "all chain columns NULL on the last row", tamper: func(s *memSource) {
			s.rows[4].Seq, s.rows[4].PrevHash, s.rows[4].Hash = 0, "", ""
		}, status: StatusInvalid, checked: 4, pre: 1,
			want: func(*memSource) *Break {
				return &Break{NodeID: node, Seq: 4, EventID: orig[3].ID, Reason: ReasonHeadMismatch, Expected: orig[3].Hash, Found: orig[4].Hash}
			}},
		// Pre-chain rows are counted, not checked: hiding the newest row
		// as pre-chain with the head rewound, or adding a forged pre-chain
		// row, shows only in pre_chain.
		{name: "last row hidden as pre-chain, head rewound (shows only in pre_chain)", tamper: func(s *memSource) {
			s.rows[4].Seq, s.rows[4].PrevHash, s.rows[4].Hash = 0, "", ""
			s.rows[4].EventType = "altered"
			s.setHead(node, orig[3].Hash, 4)
		}, status: StatusValid, checked: 4, pre: 1},
		{name: "forged pre-chain row (shows only in pre_chain)", tamper: func(s *memSource) {
			s.rows = append(s.rows, preChain(node, 1)...)
		}, status: StatusValid, checked: 5, pre: 1},

		// Heads.
		{name: "head missing", tamper: func(s *memSource) { s.deleteHead(node) },
			status: StatusInvalid, checked: 5,
			want: func(*memSource) *Break {
				return &Break{NodeID: node, Seq: 5, EventID: orig[4].ID, Reason: ReasonHeadMissing, Expected: orig[4].Hash, Found: ""}
			}},
		{name: "head hash disagrees", tamper: func(s *memSource) { s.setHead(node, bogus, 5) },
			status: StatusInvalid, checked: 5, detail: "last row is seq 5, head says seq 5",
			want: func(*memSource) *Break {
				return &Break{NodeID: node, Seq: 5, EventID: orig[4].ID, Reason: ReasonHeadMismatch, Expected: orig[4].Hash, Found: bogus}
			}},
		{name: "head seq disagrees", tamper: func(s *memSource) { s.setHead(node, orig[4].Hash, 7) },
			status: StatusInvalid, checked: 5, detail: "head says seq 7",
			want: func(*memSource) *Break {
				return &Break{NodeID: node, Seq: 5, EventID: orig[4].ID, Reason: ReasonHeadMismatch, Expected: orig[4].Hash, Found: orig[4].Hash}
			}},
		{name: "head rewound", tamper: func(s *memSource) { s.setHead(node, orig[2].Hash, 3) },
			status: StatusInvalid, checked: 5, detail: "last row is seq 5, head says seq 3",
			want: func(*memSource) *Break {
				return &Break{NodeID: node, Seq: 5, EventID: orig[4].ID, Reason: ReasonHeadMismatch, Expected: orig[4].Hash, Found: orig[2].Hash}
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newStore(orig)
			s.rows = append([]StoredEvent(nil), orig...)
			tt.tamper(s)
			rep := mustVerify(t, s, "")
			checkReportConsistent(t, rep)
			if rep.Status != tt.status || rep.NodeID != ScopeAll {
				t.Errorf("report: got status %q scope %q, want %q %q", rep.Status, rep.NodeID, tt.status, ScopeAll)
			}
			if rep.Checked != tt.checked || rep.PreChain != tt.pre {
				t.Errorf("counts: got checked %d pre_chain %d, want %d %d", rep.Checked, rep.PreChain, tt.checked, tt.pre)
			}
			var want *Break
			if tt.want != nil {
				want = tt.want(s)
			}
			checkBreak(t, rep.BrokenAt, want, tt.detail)
			if tt.nodes != nil {
				if got := nodeSummaries(rep); strings.Join(got, "\n") != strings.Join(tt.nodes, "\n") {
					t.Errorf("nodes:\n got %q\nwant %q", got, tt.nodes)
				}
			} else if len(rep.Nodes) != 1 || rep.Nodes[0].NodeID != node {
				t.Errorf("nodes: got %q, want only %s", nodeSummaries(rep), node)
			}
		})
	}
}

func TestVerifyNodes(t *testing.T) {
	a, b, c := buildChain("node-a", 3), buildChain("node-b", 4), buildChain("node-c", 2)
	tests := []struct {
		name   string
		src    func() *memSource
		nodeID string
		status string
		nodes  []string
	}{
		{"empty store", func() *memSource { return &memSource{} }, "", StatusEmpty, nil},
		{"only pre-chain rows", func() *memSource { return newStore(preChain("node-a", 2), preChain("node-b", 1)) }, "", StatusEmpty,
			[]string{"node-a empty checked=0 pre=2", "node-b empty checked=0 pre=1"}},
		{"pre-chain rows counted per node", func() *memSource {
			return newStore(a, preChain("node-a", 2), b, preChain("node-c", 1), c)
		}, "", StatusValid,
			[]string{"node-a valid checked=3 pre=2", "node-b valid checked=4 pre=0", "node-c valid checked=2 pre=1"}},
		{"break in one node does not hide the others", func() *memSource {
			s := newStore(a, b, c, preChain("node-c", 1))
			s.row(t, "node-b/ev-2").TS = "x"
			return s
		}, "", StatusInvalid,
			[]string{"node-a valid checked=3 pre=0", "node-b invalid checked=4 pre=0 seq=2 hash", "node-c valid checked=2 pre=1"}},
		{"breaks in several nodes", func() *memSource {
			s := newStore(a, b, c)
			s.deleteHead("node-c")
			s.row(t, "node-b/ev-4").Hash = ""
			return s
		}, "", StatusInvalid,
			[]string{"node-a valid checked=3 pre=0", "node-b invalid checked=4 pre=0 seq=4 hidden", "node-c invalid checked=2 pre=0 seq=2 headmissing"}},
		{"orphan heads before, between and after", func() *memSource {
			s := newStore(a, c)
			s.setHead("node-0", GenesisHash, 1)
			s.setHead("node-b", b[3].Hash, 4)
			s.setHead("node-z", c[0].Hash, 9)
			return s
		}, "", StatusInvalid,
			[]string{"node-0 invalid checked=0 pre=0 seq=1 orphan", "node-a valid checked=3 pre=0",
				"node-b invalid checked=0 pre=0 seq=4 orphan", "node-c valid checked=2 pre=0", "node-z invalid checked=0 pre=0 seq=9 orphan"}},
		{"head on a node with only pre-chain rows", func() *memSource {
			s := newStore(a, preChain("node-b", 2))
			s.setHead("node-b", b[0].Hash, 1)
			return s
		}, "", StatusInvalid,
			[]string{"node-a valid checked=3 pre=0", "node-b invalid checked=0 pre=2 seq=1 orphan"}},
		{"row moved to an empty node_id", func() *memSource {
			s := newStore(a, b)
			s.row(t, "node-a/ev-1").NodeID = ""
			return s
		}, "", StatusInvalid,
			[]string{" invalid checked=1 pre=0 seq=1 hash", "node-a invalid checked=2 pre=0 seq=2 gap", "node-b valid checked=4 pre=0"}},

		// Scoped to one node.
		{"scoped to a valid node beside a broken one", func() *memSource {
			s := newStore(a, b, c)
			s.row(t, "node-b/ev-2").TS = "x"
			s.setHead("node-0", GenesisHash, 1)
			return s
		}, "node-a", StatusValid, []string{"node-a valid checked=3 pre=0"}},
		{"scoped to a broken node", func() *memSource {
			s := newStore(a, b, preChain("node-b", 3), c)
			s.row(t, "node-b/ev-2").TS = "x"
			return s
		}, "node-b", StatusInvalid, []string{"node-b invalid checked=4 pre=3 seq=2 hash"}},
		{"scoped to an unknown node", func() *memSource { return newStore(a, b) }, "node-x", StatusEmpty, nil},
		{"scoped to an orphan head", func() *memSource {
			s := newStore(a)
			s.setHead("node-0", GenesisHash, 1)
			return s
		}, "node-0", StatusInvalid, []string{"node-0 invalid checked=0 pre=0 seq=1 orphan"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := tt.src()
			rep := mustVerify(t, s, tt.nodeID)
			checkReportConsistent(t, rep)
			wantScope := tt.nodeID
			if wantScope == "" {
				wantScope = ScopeAll
			}
			if rep.Status != tt.status || rep.NodeID != wantScope {
				t.Errorf("report: got status %q scope %q, want %q %q", rep.Status, rep.NodeID, tt.status, wantScope)
			}
			if got := nodeSummaries(rep); strings.Join(got, "\n") != strings.Join(tt.nodes, "\n") {
				t.Errorf("nodes:\n got %q\nwant %q", got, tt.nodes)
			}
			for i, arg := range append(s.headsArg, s.scanArg...) {
				// Besides the scope, a scoped walk reads the anchor
				// node's rows, last: the trail's anchors are verified
				// whatever the scope, as the trail is.
				last := i == len(s.headsArg)+len(s.scanArg)-1
				if arg != tt.nodeID && !(last && tt.nodeID != "" && arg == AnchorNode) {
					t.Errorf("source called with node %q, want %q", arg, tt.nodeID)
				}
			}
		})
	}
}

func TestVerifyEmptyReportJSON(t *testing.T) {
	rep := mustVerify(t, &memSource{}, "")
	b, err := json.Marshal(rep)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"status":"empty","node_id":"all","checked":0,"pre_chain":0,"payloads_checked":0,"payloads_unsealed":0,"broken_at":null,"error":null,"amendments":{"status":"empty","checked":0,"head_seq":0,"broken_at":null},"nodes":[]}`
	if got := string(b); got != want {
		t.Errorf("JSON:\n got %s\nwant %s", got, want)
	}
}

func TestVerifySourceErrors(t *testing.T) {
	errDB := errors.New("database is locked")
	rows := buildChain("node-a", 3)
	tests := []struct {
		name    string
		src     *memSource
		wantErr error  // errors.Is target, or nil to match msg only
		msg     string // a substring of the error
	}{
		{"heads fail", &memSource{rows: rows, headsErr: errDB}, errDB, "read chain heads"},
		{"scan fails at once", &memSource{rows: rows, scanErr: errDB, scanAt: 0}, errDB, "scan events"},
		{"scan fails midway", &memSource{rows: rows, scanErr: errDB, scanAt: 2}, errDB, "scan events"},
		{"scan fails at the end", &memSource{rows: rows, scanErr: errDB, scanAt: 3}, errDB, "scan events"},
		{"rows out of node order", &memSource{rows: append(buildChain("node-b", 1), rows...), unsorted: true}, nil, "rows out of node order"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rep, err := verifyChains(context.Background(), tt.src, "", nil)
			if err == nil {
				t.Fatalf("Verify: got report %+v, want an error", rep)
			}
			if rep != nil {
				t.Errorf("Verify: got report %+v with error, want nil", rep)
			}
			if tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
				t.Errorf("Verify: got %v, want it to wrap %v", err, tt.wantErr)
			}
			if !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("Verify: got %q, want it to contain %q", err, tt.msg)
			}
		})
	}
}

func TestNodeVerifierCountsAfterBreak(t *testing.T) {
	rows := buildChain("n", 6)
	rows[1].TS = "x"
	v := newNodeVerifier("n", nil)
	for i := range rows {
		v.Add(&rows[i])
	}
	for _, r := range preChain("n", 2) {
		v.Add(&r)
	}
	head := Head{NodeID: "n", Hash: "bad", Seq: 1}
	rep := v.Finish(&head)
	if rep.Checked != 6 || rep.PreChain != 2 || rep.Status != StatusInvalid {
		t.Errorf("report: got checked %d pre %d status %q, want 6 2 %q", rep.Checked, rep.PreChain, rep.Status, StatusInvalid)
	}
	if rep.Break == nil || rep.Break.Seq != 2 || rep.Break.Reason != ReasonHashMismatch {
		t.Errorf("break: got %+v, want the first one, seq 2 hash mismatch (not the head's)", rep.Break)
	}
	if rep.HeadSeq != 1 || rep.HeadHash != "bad" {
		t.Errorf("head: got seq %d hash %q, want 1 %q", rep.HeadSeq, rep.HeadHash, "bad")
	}
}

func TestBreakError(t *testing.T) {
	tests := []struct {
		name string
		b    Break
		want string
	}{
		{"with detail", Break{NodeID: "n", Seq: 4, EventID: "e", Reason: ReasonSeqGap, Detail: "expected seq 3, found seq 4", Expected: "3", Found: "4"},
			`node "n" seq 4 event "e": ` + ReasonSeqGap + ` (expected seq 3, found seq 4): expected 3, found 4`},
		{"NULL found", Break{NodeID: "n", Seq: 5, Reason: ReasonHeadMissing, Expected: "abc"},
			`node "n" seq 5 event "": ` + ReasonHeadMissing + `: expected abc, found NULL`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.b.Error(); got != tt.want {
				t.Errorf("Error():\n got %s\nwant %s", got, tt.want)
			}
		})
	}
}

// storedHash is the hash the verifier recomputes for a stored row: identity
// fields exactly as stored, no defaults.
func storedHash(prev string, e *Event) string {
	var h Hasher
	return h.SumStored(prev, e)
}
