package sqlite_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"chainlog"
	"chainlog/sqlite"
)

// clawForge inserts ev into a ClawMetry store at rowid, linked to prev with
// its correct hash, as someone who can write the file and compute hashes
// would.
func clawForge(ev chainlog.Event, prev string, rowid int64) rawStmt {
	return rawSQL(`INSERT INTO events (rowid, id, agent_type, node_id, agent_id, session_id, workspace_id,
		event_type, ts, data, chain_prev_hash, chain_hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		rowid, ev.ID, ev.AgentType, ev.NodeID, ev.AgentID, nullable(ev.SessionID), nullable(ev.WorkspaceID),
		ev.EventType, ev.TS, `{"forged":true}`, prev, chainlog.ChainHash(prev, &ev))
}

// chainlogHeadsTable is chain_heads as migration 2 creates it, for the
// cases of a ClawMetry-shaped store that already has one.
const chainlogHeadsTable = `CREATE TABLE chain_heads (node_id TEXT PRIMARY KEY, chain_hash TEXT NOT NULL,
	seq INTEGER NOT NULL, updated_at TEXT NOT NULL)`

// TestClawMetryReadOnlyMatchesUpgrade verifies ClawMetry stores (chain
// hashes, no chain_seq, no heads), intact and tampered, read-only and then
// after a write-open has upgraded a copy: both reports must agree on
// status, counts, every node's result and head, and the break (node, seq,
// event, reason, detail, expected, found), for the whole store and for each
// node; and the read-only one must not change the file.
func TestClawMetryReadOnlyMatchesUpgrade(t *testing.T) {
	t.Parallel()
	// clawMetryChained's rows in insertion order, rowid first:
	// 1 node-a/100 pre-chain, 2 node-b/100 pre-chain, 3 node-a/0, 4 node-b/0,
	// 5 node-a/1, 6 node-a/2, 7 node-b/1, 8 node-a/101 (no hash), 9 node-a/3,
	// 10 node-b/2.
	_, chains := clawMetryChained(t)
	a, b := chains["node-a"], chains["node-b"]
	hash := func(evs []chainlog.Event, i int) string {
		prev := chainlog.GenesisHash
		for _, e := range evs[:i+1] {
			prev = chainlog.ChainHash(prev, &e)
		}
		return prev
	}
	const zeros = "0000000000000000000000000000000000000000000000000000000000000000"
	forged := forgedEvent(t, "forged")
	tests := []struct {
		name            string
		attack          []rawStmt
		status          string
		checked, pre    int64
		node, event     string // the break, when status is invalid
		seq             int64
		reason          string
		expected, found string // checked when not empty
	}{
		{name: "untouched", status: chainlog.StatusValid, checked: 7, pre: 3},
		{name: "identity field altered",
			attack: []rawStmt{rawSQL(`UPDATE events SET event_type = 'edited' WHERE id = ?`, a[1].ID)},
			status: chainlog.StatusInvalid, checked: 7, pre: 3,
			node: "node-a", seq: 2, event: a[1].ID, reason: chainlog.ReasonHashMismatch, found: hash(a, 1)},
		{name: "node_id altered",
			attack: []rawStmt{rawSQL(`UPDATE events SET node_id = 'node-0' WHERE id = ?`, a[0].ID)},
			status: chainlog.StatusInvalid, checked: 7, pre: 3,
			node: "node-0", seq: 1, event: a[0].ID, reason: chainlog.ReasonHashMismatch, found: hash(a, 0)},
		{name: "row deleted from the middle",
			attack: []rawStmt{rawSQL(`DELETE FROM events WHERE id = ?`, a[1].ID)},
			status: chainlog.StatusInvalid, checked: 6, pre: 3,
			node: "node-a", seq: 2, event: a[2].ID, reason: chainlog.ReasonPrevMismatch, expected: hash(a, 0), found: hash(a, 1)},
		{name: "first row deleted",
			attack: []rawStmt{rawSQL(`DELETE FROM events WHERE id = ?`, b[0].ID)},
			status: chainlog.StatusInvalid, checked: 6, pre: 3,
			node: "node-b", seq: 1, event: b[1].ID, reason: chainlog.ReasonPrevMismatch, expected: zeros, found: hash(b, 0)},
		{name: "chain_hash altered",
			attack: []rawStmt{rawSQL(`UPDATE events SET chain_hash = ? WHERE id = ?`, strings.Repeat("ab", 32), b[1].ID)},
			status: chainlog.StatusInvalid, checked: 7, pre: 3,
			node: "node-b", seq: 2, event: b[1].ID, reason: chainlog.ReasonHashMismatch, expected: hash(b, 1), found: strings.Repeat("ab", 32)},
		{name: "chain_prev_hash altered",
			attack: []rawStmt{rawSQL(`UPDATE events SET chain_prev_hash = ? WHERE id = ?`, strings.Repeat("cd", 32), a[2].ID)},
			status: chainlog.StatusInvalid, checked: 7, pre: 3,
			node: "node-a", seq: 3, event: a[2].ID, reason: chainlog.ReasonPrevMismatch, expected: hash(a, 1), found: strings.Repeat("cd", 32)},
		// The upgrade numbers only rows with a chain_hash: the row keeps
		// its chain_prev_hash and no seq, and sorts first in its node.
		{name: "chain_hash set to NULL",
			attack: []rawStmt{rawSQL(`UPDATE events SET chain_hash = NULL WHERE id = ?`, a[2].ID)},
			status: chainlog.StatusInvalid, checked: 7, pre: 3,
			node: "node-a", seq: 0, event: a[2].ID, reason: chainlog.ReasonNoSeq},
		{name: "row hidden as pre-chain in the middle",
			attack: []rawStmt{rawSQL(`UPDATE events SET chain_hash = NULL, chain_prev_hash = NULL WHERE id = ?`, a[1].ID)},
			status: chainlog.StatusInvalid, checked: 6, pre: 4,
			node: "node-a", seq: 2, event: a[2].ID, reason: chainlog.ReasonPrevMismatch, expected: hash(a, 0), found: hash(a, 1)},
		{name: "rows reordered",
			attack: []rawStmt{
				rawSQL(`UPDATE events SET rowid = 0 WHERE rowid = 5`),
				rawSQL(`UPDATE events SET rowid = 5 WHERE rowid = 6`),
				rawSQL(`UPDATE events SET rowid = 6 WHERE rowid = 0`),
			},
			status: chainlog.StatusInvalid, checked: 7, pre: 3,
			node: "node-a", seq: 2, event: a[2].ID, reason: chainlog.ReasonPrevMismatch, expected: hash(a, 0), found: hash(a, 1)},
		{name: "forged row inserted in the middle",
			attack: []rawStmt{
				rawSQL(`UPDATE events SET rowid = rowid + 100 WHERE rowid >= 6`),
				clawForge(forged, hash(a, 1), 6),
			},
			status: chainlog.StatusInvalid, checked: 8, pre: 3,
			node: "node-a", seq: 4, event: a[2].ID, reason: chainlog.ReasonFork},
		{name: "fork at the end",
			attack: []rawStmt{clawForge(forged, hash(a, 2), 11)},
			status: chainlog.StatusInvalid, checked: 8, pre: 3,
			node: "node-a", seq: 5, event: forged.ID, reason: chainlog.ReasonFork},
		// ClawMetry keeps no head: a node's head is its last stamped row,
		// for the upgrade as for the read-only walk, so the loss of the
		// newest rows is not visible in the file (checkpoints kept outside
		// it show that, once the store is upgraded and signs them).
		{name: "last row deleted, no heads table",
			attack: []rawStmt{rawSQL(`DELETE FROM events WHERE id = ?`, a[3].ID)},
			status: chainlog.StatusValid, checked: 6, pre: 3},
		{name: "last row hidden as pre-chain, no heads table",
			attack: []rawStmt{rawSQL(`UPDATE events SET chain_hash = NULL, chain_prev_hash = NULL WHERE id = ?`, b[2].ID)},
			status: chainlog.StatusValid, checked: 6, pre: 4},
		// A ClawMetry-shaped store with a chain_heads table: its heads count.
		{name: "last row deleted, head kept",
			attack: []rawStmt{
				rawSQL(chainlogHeadsTable),
				rawSQL(`INSERT INTO chain_heads VALUES ('node-a', ?, 4, 't')`, hash(a, 3)),
				rawSQL(`DELETE FROM events WHERE id = ?`, a[3].ID),
			},
			status: chainlog.StatusInvalid, checked: 6, pre: 3,
			node: "node-a", seq: 3, event: a[2].ID, reason: chainlog.ReasonHeadMismatch, expected: hash(a, 2), found: hash(a, 3)},
		{name: "a node's head missing from the heads table",
			attack: []rawStmt{
				rawSQL(chainlogHeadsTable),
				rawSQL(`INSERT INTO chain_heads VALUES ('node-a', ?, 4, 't')`, hash(a, 3)),
			},
			status: chainlog.StatusValid, checked: 7, pre: 3},
		{name: "head of a node without rows",
			attack: []rawStmt{
				rawSQL(chainlogHeadsTable),
				rawSQL(`INSERT INTO chain_heads VALUES ('node-z', ?, 2, 't')`, hash(a, 1)),
			},
			status: chainlog.StatusInvalid, checked: 7, pre: 3,
			node: "node-z", seq: 2, reason: chainlog.ReasonHeadOrphan},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			path, _ := clawMetryChained(t)
			if len(tc.attack) > 0 {
				attack(t, path, tc.attack...)
			}
			upgraded := filepath.Join(t.TempDir(), "upgraded.db")
			copyFile(t, path, upgraded)
			closeStore(t, openStore(t, upgraded, sqlite.Options{}))

			sum := fileSHA(t, path)
			ro := verifyPath(t, path, "")
			if fileSHA(t, path) != sum {
				t.Fatal("the read-only verification changed the file")
			}
			if ro.Status != tc.status || ro.Checked != tc.checked || ro.PreChain != tc.pre {
				t.Fatalf("read-only: status, checked, pre_chain = %q, %d, %d; want %q, %d, %d\nbroken_at %+v",
					ro.Status, ro.Checked, ro.PreChain, tc.status, tc.checked, tc.pre, ro.BrokenAt)
			}
			if tc.status == chainlog.StatusInvalid {
				b := ro.BrokenAt
				if b.NodeID != tc.node || b.Seq != tc.seq || b.EventID != tc.event || b.Reason != tc.reason ||
					(tc.expected != "" && b.Expected != tc.expected) || (tc.found != "" && b.Found != tc.found) {
					t.Errorf("read-only break:\n got  %+v\n want node %q seq %d event %q reason %q expected %q found %q",
						b, tc.node, tc.seq, tc.event, tc.reason, tc.expected, tc.found)
				}
			}
			for _, scope := range []string{"", "node-a", "node-b", tc.node} {
				ro := verifyPath(t, path, scope)
				up := verifyPath(t, upgraded, scope)
				if !sameChainReport(ro, up) {
					g, _ := json.MarshalIndent(ro, "", " ")
					w, _ := json.MarshalIndent(up, "", " ")
					t.Errorf("scope %q: the read-only report differs from the upgraded store's:\nread-only %s\nupgraded  %s", scope, g, w)
				}
			}
			if fileSHA(t, path) != sum {
				t.Fatal("the read-only verifications changed the file")
			}
		})
	}
}

// sameChainReport compares what two reports say about the chains and
// payloads; the tree, which only an upgraded store has, is left out.
func sameChainReport(a, b *chainlog.Report) bool {
	a2, b2 := *a, *b
	a2.Tree, b2.Tree = nil, nil
	return reflect.DeepEqual(a2, b2)
}

// copyFile copies a closed store file.
func copyFile(t *testing.T, from, to string) {
	t.Helper()
	data, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestClawMetryReadOnlyReads: the other reads of a ClawMetry store opened
// read-only give the chain columns as stored, count as pre-chain only the
// rows without them, and leave verification to the node-ordered walk.
func TestClawMetryReadOnlyReads(t *testing.T) {
	t.Parallel()
	path, chains := clawMetryChained(t)
	st := openRO(t, path)
	if got := st.ChainLayout(); got != sqlite.ChainsUnnumbered {
		t.Errorf("ChainLayout = %v; want ChainsUnnumbered", got)
	}
	stamped := map[string]string{} // id -> prev
	for _, evs := range chains {
		prev := chainlog.GenesisHash
		for _, e := range evs {
			stamped[e.ID] = prev
			prev = chainlog.ChainHash(prev, &e)
		}
	}
	rows := exportStore(t, st, "")
	if len(rows) != 10 {
		t.Fatalf("export: %d rows; want 10", len(rows))
	}
	for _, r := range rows {
		prev, ok := stamped[r.ID]
		want := chainlog.StoredEvent{}
		if ok {
			want.PrevHash, want.Hash = prev, chainlog.ChainHash(prev, &r.Event)
		}
		if r.Seq != 0 || r.PrevHash != want.PrevHash || r.Hash != want.Hash {
			t.Errorf("export %s: seq, prev, hash = %d, %q, %q; want 0 (not stored), %q, %q", r.ID, r.Seq, r.PrevHash, r.Hash, want.PrevHash, want.Hash)
		}
	}
	for node, want := range map[string]int64{"node-a": 2, "node-b": 1} {
		n, err := st.CountPreChain(t.Context(), node)
		if err != nil || n != want {
			t.Errorf("CountPreChain(%q) = %d, %v; want %d", node, n, err, want)
		}
	}
	err := st.ScanCommitOrder(t.Context(), make([]chainlog.CommitRow, 4), func(r []chainlog.CommitRow) ([]chainlog.CommitRow, error) {
		return r, nil
	})
	if err != chainlog.ErrNoCommitOrder {
		t.Errorf("ScanCommitOrder: %v; want ErrNoCommitOrder", err)
	}
}

// TestChainLayout classifies the events tables a store opened read-only
// may have.
func TestChainLayout(t *testing.T) {
	t.Parallel()
	base := `CREATE TABLE events (id TEXT PRIMARY KEY, agent_type TEXT NOT NULL, node_id TEXT NOT NULL,
		agent_id TEXT NOT NULL, session_id TEXT, workspace_id TEXT, event_type TEXT NOT NULL, ts TEXT NOT NULL,
		data TEXT, cost_usd REAL, token_count INTEGER, model TEXT, created_at TEXT`
	for _, tc := range []struct {
		cols string
		want sqlite.ChainLayout
	}{
		{"", sqlite.ChainsNone},
		{", chain_prev_hash TEXT, chain_hash TEXT, chain_seq INTEGER", sqlite.ChainsNumbered},
		{", chain_prev_hash TEXT, chain_hash TEXT", sqlite.ChainsUnnumbered},
		{", chain_hash TEXT", sqlite.ChainsIncomplete},
		{", chain_hash TEXT, chain_seq INTEGER", sqlite.ChainsIncomplete},
		{", chain_seq INTEGER", sqlite.ChainsIncomplete},
	} {
		path := filepath.Join(t.TempDir(), "s.db")
		copyFile(t, clawMetryV0, path) // any SQLite file; its table is replaced
		attack(t, path, rawSQL(`DROP TABLE events`), rawSQL(base+tc.cols+`)`))
		if got := openRO(t, path).ChainLayout(); got != tc.want {
			t.Errorf("columns %q: ChainLayout = %v; want %v", tc.cols, got, tc.want)
		}
	}
	if got := openStore(t, newStorePath(t), sqlite.Options{}).ChainLayout(); got != sqlite.ChainsNumbered {
		t.Errorf("a store open for writing: ChainLayout = %v; want ChainsNumbered", got)
	}
}
