package sqlite_test

import (
	"fmt"
	"testing"

	"chainlog"
	"chainlog/sqlite"
)

// The full tamper list. Each test builds a real store, closes it, changes
// the file through a raw connection as an attacker with write access would,
// and verifies it read-only.

// tamperFixture is a store with node-a at seq 1..5 and node-b at seq 1..4,
// ingested interleaved over three batches.
type tamperFixture struct {
	path string
	a, b []chainlog.StoredEvent // each node's rows by seq; a[0] is seq 1
}

func newTamperFixture(t *testing.T) tamperFixture {
	t.Helper()
	path := buildStore(t, sqlite.Options{},
		append(mkEvents(t, "node-a", 0, 2), mkEvents(t, "node-b", 0, 2)...),
		append(mkEvents(t, "node-b", 2, 3), mkEvents(t, "node-a", 2, 4)...),
		append(mkEvents(t, "node-a", 4, 5), mkEvents(t, "node-b", 3, 4)...),
	)
	f := tamperFixture{path: path, a: chainOf(t, path, "node-a"), b: chainOf(t, path, "node-b")}
	if len(f.a) != 5 || len(f.b) != 4 {
		t.Fatalf("fixture: node-a %d rows, node-b %d; want 5, 4", len(f.a), len(f.b))
	}
	wantValid(t, verifyPath(t, path, ""), 9, 0)
	return f
}

// verifyTampered verifies the tampered fixture, expects want as the first
// break, and expects node-b, which was not touched, to stay valid.
func (f tamperFixture) verifyTampered(t *testing.T, want chainlog.Break) *chainlog.Report {
	t.Helper()
	rep := verifyPath(t, f.path, "")
	wantBreak(t, rep, want)
	if n := nodeReport(t, rep, "node-b"); n.Status != chainlog.StatusValid || n.Checked != 4 {
		t.Errorf("untouched node-b: status, checked = %q, %d; want valid, 4", n.Status, n.Checked)
	}
	// Scoping to the broken node gives the same break.
	wantBreak(t, verifyPath(t, f.path, want.NodeID), want)
	return rep
}

func forgedEvent(t *testing.T, id string) chainlog.Event {
	t.Helper()
	return decode(t, fmt.Sprintf(`{"id":%q,"node_id":"node-a","agent_type":"claude_code","agent_id":"worker-0",`+
		`"session_id":"sess-node-a-0","workspace_id":"/home/dev/projects/api","event_type":"tool_call","ts":"2026-02-01T09:30:00.000Z"}`, id))
}

func TestTamperIdentityFieldAltered(t *testing.T) {
	t.Parallel()
	f := newTamperFixture(t)
	victim := f.a[2]
	attack(t, f.path, rawSQL(`UPDATE events SET ts = '2026-02-01T00:00:00.000Z' WHERE id = ?`, victim.ID))
	tampered := victim.Event
	tampered.TS = "2026-02-01T00:00:00.000Z"
	f.verifyTampered(t, chainlog.Break{NodeID: "node-a", Seq: 3, EventID: victim.ID,
		Reason: chainlog.ReasonHashMismatch, Expected: chainlog.ChainHash(victim.PrevHash, &tampered), Found: victim.Hash})
}

func TestTamperDeleteFirstRow(t *testing.T) {
	t.Parallel()
	f := newTamperFixture(t)
	attack(t, f.path, rawSQL(`DELETE FROM events WHERE id = ?`, f.a[0].ID))
	f.verifyTampered(t, chainlog.Break{NodeID: "node-a", Seq: 2, EventID: f.a[1].ID,
		Reason: chainlog.ReasonSeqGap, Expected: "1", Found: "2"})
}

func TestTamperDeleteMiddleRow(t *testing.T) {
	t.Parallel()
	f := newTamperFixture(t)
	attack(t, f.path, rawSQL(`DELETE FROM events WHERE id = ?`, f.a[2].ID))
	f.verifyTampered(t, chainlog.Break{NodeID: "node-a", Seq: 4, EventID: f.a[3].ID,
		Reason: chainlog.ReasonSeqGap, Expected: "3", Found: "4"})
}

// An attacker who also renumbers the rows after a deleted one still breaks
// the hash links.
func TestTamperDeleteMiddleRowAndRenumber(t *testing.T) {
	t.Parallel()
	f := newTamperFixture(t)
	attack(t, f.path, append([]rawStmt{rawSQL(`DELETE FROM events WHERE id = ?`, f.a[2].ID)},
		shiftSeqs("node-a", 3, -1)...)...)
	// head still says seq 5; the walk breaks first at the new seq 3.
	f.verifyTampered(t, chainlog.Break{NodeID: "node-a", Seq: 3, EventID: f.a[3].ID,
		Reason: chainlog.ReasonPrevMismatch, Expected: f.a[1].Hash, Found: f.a[2].Hash})
}

func TestTamperDeleteLastRow(t *testing.T) {
	t.Parallel()
	f := newTamperFixture(t)
	attack(t, f.path, rawSQL(`DELETE FROM events WHERE id = ?`, f.a[4].ID))
	f.verifyTampered(t, chainlog.Break{NodeID: "node-a", Seq: 4, EventID: f.a[3].ID,
		Reason: chainlog.ReasonHeadMismatch, Expected: f.a[3].Hash, Found: f.a[4].Hash})
}

func TestTamperReorderSwapSeq(t *testing.T) {
	t.Parallel()
	f := newTamperFixture(t)
	x, y := f.a[1], f.a[2] // seq 2 and 3
	attack(t, f.path,
		rawSQL(`UPDATE events SET chain_seq = -1 WHERE id = ?`, x.ID),
		rawSQL(`UPDATE events SET chain_seq = 2 WHERE id = ?`, y.ID),
		rawSQL(`UPDATE events SET chain_seq = 3 WHERE id = ?`, x.ID),
	)
	// Seq 2 is now y, which links to x's hash, not to seq 1's.
	f.verifyTampered(t, chainlog.Break{NodeID: "node-a", Seq: 2, EventID: y.ID,
		Reason: chainlog.ReasonPrevMismatch, Expected: f.a[0].Hash, Found: x.Hash})
}

func TestTamperReorderSwapIdentities(t *testing.T) {
	t.Parallel()
	f := newTamperFixture(t)
	x, y := f.a[1], f.a[2] // seq 2 and 3; their chain columns stay put
	set := `UPDATE events SET id = ?, agent_type = ?, agent_id = ?, session_id = ?, workspace_id = ?,
		event_type = ?, ts = ? WHERE id = ?`
	args := func(e chainlog.Event, id, where string) []any {
		return []any{id, e.AgentType, e.AgentID, nullable(e.SessionID), nullable(e.WorkspaceID), e.EventType, e.TS, where}
	}
	attack(t, f.path,
		rawSQL(set, args(y.Event, "swap-tmp", x.ID)...),
		rawSQL(set, args(x.Event, x.ID, y.ID)...),
		rawSQL(set, args(y.Event, y.ID, "swap-tmp")...),
	)
	// Seq 2 now holds y's identity under x's stamp.
	f.verifyTampered(t, chainlog.Break{NodeID: "node-a", Seq: 2, EventID: y.ID,
		Reason: chainlog.ReasonHashMismatch, Expected: chainlog.ChainHash(x.PrevHash, &y.Event), Found: x.Hash})
}

func TestTamperForgedRowAtStart(t *testing.T) {
	t.Parallel()
	f := newTamperFixture(t)
	ins, forgedHash := forge(forgedEvent(t, "forged"), 1, chainlog.GenesisHash)
	attack(t, f.path, append(shiftSeqs("node-a", 0, 1), ins)...)
	// The forged row links to genesis correctly; the real first row now
	// claims the same predecessor.
	f.verifyTampered(t, chainlog.Break{NodeID: "node-a", Seq: 2, EventID: f.a[0].ID,
		Reason: chainlog.ReasonFork, Expected: forgedHash, Found: chainlog.GenesisHash})
}

func TestTamperForgedRowInMiddle(t *testing.T) {
	t.Parallel()
	f := newTamperFixture(t)
	ins, forgedHash := forge(forgedEvent(t, "forged"), 3, f.a[1].Hash)
	attack(t, f.path, append(shiftSeqs("node-a", 2, 1), ins)...)
	f.verifyTampered(t, chainlog.Break{NodeID: "node-a", Seq: 4, EventID: f.a[2].ID,
		Reason: chainlog.ReasonFork, Expected: forgedHash, Found: f.a[1].Hash})
}

func TestTamperForgedRowAtEnd(t *testing.T) {
	t.Parallel()
	f := newTamperFixture(t)
	ins, forgedHash := forge(forgedEvent(t, "forged"), 6, f.a[4].Hash)
	attack(t, f.path, ins)
	// Every link holds, but the head was not moved. A head break names the
	// node's last row.
	f.verifyTampered(t, chainlog.Break{NodeID: "node-a", Seq: 6, EventID: "forged",
		Reason: chainlog.ReasonHeadMismatch, Expected: forgedHash, Found: f.a[4].Hash})
}

// A row appended with a correct hash AND a rewritten head is what a chain
// kept in the same file cannot show ("What a per-node chain alone cannot
// show"): the chain walk says valid. The row is no leaf of the tree,
// which the whole-store verification reports; a forger who also rewrites
// the tree is caught by signed checkpoints outside the store.
func TestTamperForgedRowAtEndWithHeadRewrite(t *testing.T) {
	t.Parallel()
	f := newTamperFixture(t)
	ins, forgedHash := forge(forgedEvent(t, "forged"), 6, f.a[4].Hash)
	attack(t, f.path, ins, rawSQL(`UPDATE chain_heads SET chain_hash = ?, seq = 6 WHERE node_id = 'node-a'`, forgedHash))
	wantValid(t, verifyPath(t, f.path, ""), 10, 0)
	wantInvalid(t, verifyStorePath(t, f.path, "", nil), chainlog.TrailStore, chainlog.ReasonNotLeaf, "forged", "")
}

func TestTamperForkSameSeq(t *testing.T) {
	t.Parallel()
	f := newTamperFixture(t)
	// A second row at seq 3 needs the unique (node_id, chain_seq) index gone.
	ins, forgedHash := forge(forgedEvent(t, "fork"), 3, f.a[1].Hash)
	attack(t, f.path, rawSQL(`DROP INDEX events_node_seq`), ins)
	f.verifyTampered(t, chainlog.Break{NodeID: "node-a", Seq: 3, EventID: "fork",
		Reason: chainlog.ReasonFork, Expected: f.a[2].Hash, Found: forgedHash})
}

func TestTamperForkFreshSeqAtEnd(t *testing.T) {
	t.Parallel()
	f := newTamperFixture(t)
	// A new last row that claims seq 5's predecessor: a branch off seq 4.
	ins, _ := forge(forgedEvent(t, "fork"), 6, f.a[3].Hash)
	attack(t, f.path, ins)
	f.verifyTampered(t, chainlog.Break{NodeID: "node-a", Seq: 6, EventID: "fork",
		Reason: chainlog.ReasonFork, Expected: f.a[4].Hash, Found: f.a[3].Hash})
}

func TestTamperBranchFromOldRowAtEnd(t *testing.T) {
	t.Parallel()
	f := newTamperFixture(t)
	// Branching off an older row (seq 2) is a plain broken link.
	ins, _ := forge(forgedEvent(t, "fork"), 6, f.a[1].Hash)
	attack(t, f.path, ins)
	f.verifyTampered(t, chainlog.Break{NodeID: "node-a", Seq: 6, EventID: "fork",
		Reason: chainlog.ReasonPrevMismatch, Expected: f.a[4].Hash, Found: f.a[1].Hash})
}

func TestTamperChainHashNulled(t *testing.T) {
	t.Parallel()
	f := newTamperFixture(t)
	victim := f.a[2]
	attack(t, f.path, rawSQL(`UPDATE events SET chain_hash = NULL WHERE id = ?`, victim.ID))
	f.verifyTampered(t, chainlog.Break{NodeID: "node-a", Seq: 3, EventID: victim.ID,
		Reason: chainlog.ReasonHiddenRow, Expected: victim.Hash, Found: ""})
}

func TestTamperChainSeqNulled(t *testing.T) {
	t.Parallel()
	f := newTamperFixture(t)
	victim := f.a[2]
	attack(t, f.path, rawSQL(`UPDATE events SET chain_seq = NULL WHERE id = ?`, victim.ID))
	// NULL seqs sort first, so the walk meets the row before seq 1.
	f.verifyTampered(t, chainlog.Break{NodeID: "node-a", Seq: 0, EventID: victim.ID,
		Reason: chainlog.ReasonNoSeq, Expected: "1", Found: ""})
}

// Nulling all three chain columns turns a row into a pre-chain row; the
// gap it leaves in the sequence gives it away.
func TestTamperAllChainColumnsNulledOnMiddleRow(t *testing.T) {
	t.Parallel()
	f := newTamperFixture(t)
	victim := f.a[2]
	attack(t, f.path, rawSQL(`UPDATE events SET chain_seq = NULL, chain_prev_hash = NULL, chain_hash = NULL WHERE id = ?`, victim.ID))
	rep := f.verifyTampered(t, chainlog.Break{NodeID: "node-a", Seq: 4, EventID: f.a[3].ID,
		Reason: chainlog.ReasonSeqGap, Expected: "3", Found: "4"})
	if n := nodeReport(t, rep, "node-a"); n.PreChain != 1 || n.Checked != 4 {
		t.Errorf("node-a: pre_chain, checked = %d, %d; want 1, 4", n.PreChain, n.Checked)
	}
}

func TestTamperHeadDeleted(t *testing.T) {
	t.Parallel()
	f := newTamperFixture(t)
	attack(t, f.path, rawSQL(`DELETE FROM chain_heads WHERE node_id = 'node-a'`))
	f.verifyTampered(t, chainlog.Break{NodeID: "node-a", Seq: 5, EventID: f.a[4].ID,
		Reason: chainlog.ReasonHeadMissing, Expected: f.a[4].Hash, Found: ""})
}

func TestTamperHeadHashEdited(t *testing.T) {
	t.Parallel()
	f := newTamperFixture(t)
	edited := "deadbeef" + f.a[4].Hash[8:]
	attack(t, f.path, rawSQL(`UPDATE chain_heads SET chain_hash = ? WHERE node_id = 'node-a'`, edited))
	f.verifyTampered(t, chainlog.Break{NodeID: "node-a", Seq: 5, EventID: f.a[4].ID,
		Reason: chainlog.ReasonHeadMismatch, Expected: f.a[4].Hash, Found: edited})
}

func TestTamperHeadRolledBack(t *testing.T) {
	t.Parallel()
	f := newTamperFixture(t)
	// A head moved back to an older, genuine position.
	attack(t, f.path, rawSQL(`UPDATE chain_heads SET chain_hash = ?, seq = 4 WHERE node_id = 'node-a'`, f.a[3].Hash))
	f.verifyTampered(t, chainlog.Break{NodeID: "node-a", Seq: 5, EventID: f.a[4].ID,
		Reason: chainlog.ReasonHeadMismatch, Expected: f.a[4].Hash, Found: f.a[3].Hash})
}

func TestTamperNodeRowsDeletedHeadKept(t *testing.T) {
	t.Parallel()
	f := newTamperFixture(t)
	attack(t, f.path, rawSQL(`DELETE FROM events WHERE node_id = 'node-a'`))
	rep := f.verifyTampered(t, chainlog.Break{NodeID: "node-a", Seq: 5, EventID: "",
		Reason: chainlog.ReasonHeadOrphan, Expected: chainlog.GenesisHash, Found: f.a[4].Hash})
	if n := nodeReport(t, rep, "node-a"); n.Checked != 0 || n.Status != chainlog.StatusInvalid {
		t.Errorf("node-a: checked, status = %d, %q; want 0, invalid", n.Checked, n.Status)
	}
}
