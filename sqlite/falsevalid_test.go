package sqlite_test

import (
	"strings"
	"testing"

	"chainlog"
	"chainlog/sqlite"
)

// Attacks that once left verify-integrity saying VALID: a store written
// once by someone with the sqlite3 shell, no hashing key, and each attack
// now reported as INVALID by VerifyStore, the verifier the CLI and the
// daemon run, naming the row or object.

// verifyStorePath verifies the store at path read-only in one snapshot,
// with VerifyStore, as verify-integrity does.
func verifyStorePath(t *testing.T, path, nodeID string, cps []chainlog.SourcedCheckpoint) *chainlog.Report {
	t.Helper()
	st := openRO(t, path)
	defer st.Close()
	var rep *chainlog.Report
	err := st.Snapshot(t.Context(), func() error {
		var err error
		rep, err = chainlog.VerifyStore(t.Context(), st, chainlog.VerifyOptions{NodeID: nodeID, Checkpoints: cps})
		return err
	})
	if err != nil {
		t.Fatalf("VerifyStore(%q): %v", nodeID, err)
	}
	return rep
}

// wantInvalid checks that rep is invalid, that its first break has the
// reason and event (when not empty), and that its detail contains detail.
func wantInvalid(t *testing.T, rep *chainlog.Report, trail, reason, eventID, detail string) {
	t.Helper()
	if rep.Status != chainlog.StatusInvalid || rep.BrokenAt == nil {
		t.Fatalf("status %q, broken_at %+v; want invalid", rep.Status, rep.BrokenAt)
	}
	b := rep.BrokenAt
	if trail == chainlog.TrailStore && rep.Store != nil {
		// A fault of the store comes after any chain's break.
		b = rep.Store
	}
	if b.Trail != trail || b.Reason != reason || (eventID != "" && b.EventID != eventID) || !strings.Contains(b.Detail, detail) {
		t.Fatalf("broken at %+v;\nwant trail %q, reason %q, event %q, detail containing %q", b, trail, reason, eventID, detail)
	}
}

func TestFalseValids(t *testing.T) {
	t.Parallel()
	const store = chainlog.TrailStore
	tests := []struct {
		name                 string
		attack               func(t *testing.T, f tamperFixture) []rawStmt
		trail, reason, event string
		detail               string
	}{
		{name: "stamped row with no leaf, as a new node, head set", attack: func(t *testing.T, f tamperFixture) []rawStmt {
			ev := forgedEvent(t, "ghost")
			ev.NodeID = "node-z"
			ins, hash := forge(ev, 1, chainlog.GenesisHash)
			return []rawStmt{ins, rawSQL(`INSERT INTO chain_heads (node_id, chain_hash, seq, updated_at) VALUES ('node-z', ?, 1, 'x')`, hash)}
		}, trail: store, reason: chainlog.ReasonNotLeaf, event: "ghost", detail: "leaf_index is NULL"},
		{name: "stamped row with no leaf, appended, head moved", attack: func(t *testing.T, f tamperFixture) []rawStmt {
			ins, hash := forge(forgedEvent(t, "ghost"), 6, f.a[4].Hash)
			return []rawStmt{ins, rawSQL(`UPDATE chain_heads SET chain_hash = ?, seq = 6 WHERE node_id = 'node-a'`, hash)}
		}, trail: store, reason: chainlog.ReasonNotLeaf, event: "ghost"},
		{name: "a byte of a stored tree hash flipped", attack: func(t *testing.T, f tamperFixture) []rawStmt {
			return []rawStmt{rawSQL(`UPDATE merkle_segments SET hashes = substr(hashes, 1, 40) ||
				CASE WHEN substr(hashes, 41, 1) = X'00' THEN X'01' ELSE X'00' END || substr(hashes, 42)
				WHERE start = (SELECT min(start) FROM merkle_segments)`)}
		}, trail: chainlog.TrailTree, reason: chainlog.ReasonStoredHash},
		{name: "the newest stored tree hash flipped", attack: func(t *testing.T, f tamperFixture) []rawStmt {
			return []rawStmt{rawSQL(`UPDATE merkle_segments SET hashes = zeroblob(length(hashes))
				WHERE start = (SELECT max(start) FROM merkle_segments)`)}
		}, trail: chainlog.TrailTree, reason: chainlog.ReasonStoredHash, detail: "frontier"},
		{name: "row without chain columns after the chain began", attack: func(t *testing.T, f tamperFixture) []rawStmt {
			return []rawStmt{rawSQL(`INSERT INTO events (id, agent_type, node_id, agent_id, event_type, ts, created_at)
				VALUES ('slipped', 'x', 'node-a', 'y', 'tool_call', 'z', 'now')`)}
		}, trail: store, reason: chainlog.ReasonUnchainedRow, event: "slipped"},
		{name: "row without chain columns reusing a stored id", attack: func(t *testing.T, f tamperFixture) []rawStmt {
			return []rawStmt{rawSQL(`INSERT INTO events (id, agent_type, node_id, agent_id, event_type, ts, created_at)
				VALUES (?, 'x', 'node-a', 'y', 'tool_call', 'z', 'now')`, f.a[1].ID)}
		}, trail: store, reason: chainlog.ReasonUnchainedRow, event: "node-a/1"},
		{name: "chain_seq stored as a real", attack: func(t *testing.T, f tamperFixture) []rawStmt {
			return []rawStmt{rawSQL(`UPDATE events SET chain_seq = 2.5 WHERE id = ?`, f.a[1].ID)}
		}, trail: store, reason: chainlog.ReasonStorageClass, event: "node-a/1", detail: "chain_seq holds a real"},
		{name: "node_id stored as a blob", attack: func(t *testing.T, f tamperFixture) []rawStmt {
			return []rawStmt{rawSQL(`UPDATE events SET node_id = CAST(node_id AS BLOB) WHERE id = ?`, f.a[0].ID)}
		}, trail: store, reason: chainlog.ReasonStorageClass, event: "node-a/0", detail: "node_id holds a blob"},
		{name: "id cast to a blob", attack: func(t *testing.T, f tamperFixture) []rawStmt {
			return []rawStmt{rawSQL(`UPDATE events SET id = CAST(id AS BLOB) WHERE id = ?`, f.b[2].ID)}
		}, trail: store, reason: chainlog.ReasonStorageClass, event: "node-b/2", detail: "id holds a blob"},
		{name: "token_count stored as a real", attack: func(t *testing.T, f tamperFixture) []rawStmt {
			return []rawStmt{rawSQL(`UPDATE events SET token_count = 7.9 WHERE id = ?`, f.b[0].ID)}
		}, trail: store, reason: chainlog.ReasonStorageClass, event: "node-b/0", detail: "token_count holds a real"},
		{name: "cost_usd stored as text", attack: func(t *testing.T, f tamperFixture) []rawStmt {
			return []rawStmt{rawSQL(`UPDATE events SET cost_usd = 'free' WHERE id = ?`, f.b[0].ID)}
		}, trail: store, reason: chainlog.ReasonStorageClass, event: "node-b/0", detail: "cost_usd holds text"},
		{name: "an identity field's bytes made invalid UTF-8", attack: func(t *testing.T, f tamperFixture) []rawStmt {
			// The canonical form writes each invalid byte as U+FFFD: the
			// chain hash alone would not tell "ab\xff" from "ab\ufffd".
			return []rawStmt{rawSQL(`UPDATE events SET agent_id = CAST(X'6162FF' AS TEXT) WHERE id = ?`, f.b[1].ID)}
		}, trail: "", reason: chainlog.ReasonHashMismatch, event: "node-b/1"},
		{name: "an id stored twice", attack: func(t *testing.T, f tamperFixture) []rawStmt {
			// A copy of a stamped row under a fresh rowid, as re-ingesting
			// after the id index lost its rows would store it.
			return []rawStmt{rawSQL(`INSERT INTO events (id, agent_type, node_id, agent_id, session_id, workspace_id, event_type, ts,
				data, cost_usd, token_count, model, created_at)
				SELECT id, agent_type, 'node-q', agent_id, session_id, workspace_id, event_type, ts, data, cost_usd, token_count, model, created_at
				FROM events WHERE id = ?`, f.b[3].ID)}
		}, trail: store, reason: chainlog.ReasonUnchainedRow, event: "node-b/3"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newTamperFixture(t)
			attack(t, f.path, tt.attack(t, f)...)
			wantInvalid(t, verifyStorePath(t, f.path, "", nil), tt.trail, tt.reason, tt.event, tt.detail)
		})
	}
}

// Invalid UTF-8 in an identity field whose chain hash is unchanged: the
// stored bytes differ from those hashed, which the chain cannot show.
func TestFalseValidInvalidUTF8SameHash(t *testing.T) {
	t.Parallel()
	ev := decode(t, `{"id":"u","node_id":"node-a","agent_id":"ab\ufffd","event_type":"x","ts":"t"}`)
	path := buildStore(t, sqlite.Options{}, []chainlog.Event{ev})
	wantValid(t, verifyStorePath(t, path, "", nil), 1, 0)
	attack(t, path, rawSQL(`UPDATE events SET agent_id = CAST(X'6162FF' AS TEXT) WHERE id = 'u'`))
	wantInvalid(t, verifyStorePath(t, path, "", nil), chainlog.TrailStore, chainlog.ReasonInvalidText, "u", "agent_id")
}

// An id stored twice and nothing else wrong: a copy of a stored event,
// without chain columns, placed before the chains began in commit order,
// where a pre-chain row may stand.
func TestFalseValidDuplicateID(t *testing.T) {
	t.Parallel()
	f := newTamperFixture(t)
	attack(t, f.path, rawSQL(`INSERT INTO events (rowid, id, agent_type, node_id, agent_id, session_id, workspace_id, event_type, ts,
		data, cost_usd, token_count, model, created_at)
		SELECT -1, id, agent_type, node_id, agent_id, session_id, workspace_id, event_type, ts, data, cost_usd, token_count, model,
		created_at FROM events WHERE id = ?`, f.a[0].ID))
	rep := verifyStorePath(t, f.path, "", nil)
	wantInvalid(t, rep, chainlog.TrailStore, chainlog.ReasonDuplicateID, f.a[0].ID, "2 rows")
	if rep.BrokenAt != rep.Store {
		t.Errorf("broken at %+v; want the store's fault, the only one", rep.BrokenAt)
	}
}

// shapeIndex rebuilds index name as a partial index that leaves out the
// rows where, and puts its CREATE text back through writable_schema, so
// that the schema still shows the index chainlog made.
func shapeIndex(t *testing.T, path, name, on, where string) []rawStmt {
	t.Helper()
	orig := rawValue(t, path, `SELECT sql FROM sqlite_master WHERE name = ?`, name)
	unique := ""
	if strings.HasPrefix(orig, "CREATE UNIQUE") {
		unique = "UNIQUE "
	}
	return []rawStmt{
		rawSQL(`DROP INDEX ` + name),
		rawSQL(`CREATE ` + unique + `INDEX ` + name + ` ON ` + on + ` WHERE ` + where),
		rawSQL(`PRAGMA writable_schema = ON`),
		rawSQL(`UPDATE sqlite_master SET sql = ? WHERE name = ?`, orig, name),
	}
}

// A rewritten row hidden from the (node_id, chain_seq) index, with a copy
// of the original under a new rowid taking its place in the index: a walk
// through the index sees an intact chain. The verifier reads the table.
func TestFalseValidPartialChainIndex(t *testing.T) {
	t.Parallel()
	f := newTamperFixture(t)
	victim := f.a[2].ID
	shape := shapeIndex(t, f.path, "events_node_seq", "events (node_id, chain_seq)", "agent_id != 'mallory'")
	stmts := []rawStmt{
		shape[0], // DROP INDEX
		rawSQL(`INSERT INTO events (id, agent_type, node_id, agent_id, session_id, workspace_id, event_type, ts,
			data, cost_usd, token_count, model, created_at, chain_seq, chain_prev_hash, chain_hash, payload_digest)
			SELECT id, agent_type, node_id, agent_id, session_id, workspace_id, event_type, ts, data, cost_usd, token_count, model,
			created_at, chain_seq, chain_prev_hash, chain_hash, payload_digest FROM events WHERE id = ?`, victim),
		rawSQL(`UPDATE events SET agent_id = 'mallory', data = '{"evil":true}'
			WHERE rowid = (SELECT min(rowid) FROM events WHERE id = ?)`, victim),
	}
	attack(t, f.path, append(stmts, shape[1:]...)...)
	if got := rawValue(t, f.path, `SELECT count(*) FROM events INDEXED BY events_node_seq WHERE node_id = 'node-a'`); got != "5" {
		t.Fatalf("the shaped index gives %s rows of node-a; want 5 (the attack did not take)", got)
	}
	for _, scope := range []string{"", "node-a"} {
		rep := verifyStorePath(t, f.path, scope, nil)
		wantInvalid(t, rep, "", chainlog.ReasonHashMismatch, victim, "")
		// SQLite's own check sees the index short of its table's rows.
		if rep.Store == nil || rep.Store.Reason != sqlite.ReasonIndexRows || !strings.Contains(rep.Store.Detail, "events_node_seq") {
			t.Errorf("store fault %+v; want %q naming events_node_seq", rep.Store, sqlite.ReasonIndexRows)
		}
	}
}

// A redaction hidden from the amendments index, and the payload put back
// as it was ingested: a lookup through the index finds no amendment, and
// the payload matches its ingest digest. The verifier reads the trail.
func TestFalseValidPartialAmendmentIndex(t *testing.T) {
	t.Parallel()
	f := newTamperFixture(t)
	victim := f.a[1].ID
	st := openStore(t, f.path, sqlite.Options{})
	mustAmend(t, st, sqlite.AmendRequest{EventID: victim, Kind: chainlog.KindRedact, Reason: "erasure request", Actor: "dpo",
		Patch: chainlog.Patch{Set: []string{chainlog.FieldData}, Values: chainlog.Mutable{Data: []byte(`{"redacted":true}`)}}})
	closeStore(t, st)
	wantValidAnchored(t, verifyStorePath(t, f.path, "", nil), 9, 0, 1)
	original := string(f.a[1].Data)
	attack(t, f.path, rawSQL(`UPDATE events SET data = ? WHERE id = ?`, original, victim))
	attack(t, f.path, shapeIndex(t, f.path, "amendments_event", "amendments (event_id, seq)", "event_id != '"+victim+"'")...)
	if got := rawValue(t, f.path, `SELECT count(*) FROM amendments INDEXED BY amendments_event WHERE event_id = ?`, victim); got != "0" {
		t.Fatalf("the shaped index gives %s records of %s; want 0 (the attack did not take)", got, victim)
	}
	wantInvalid(t, verifyStorePath(t, f.path, "", nil), "", chainlog.ReasonPayloadChanged, victim, "")
	ro := openRO(t, f.path)
	defer ro.Close()
	recs, err := ro.Amendments(t.Context(), victim)
	if err != nil || len(recs) != 1 || recs[0].Kind != chainlog.KindRedact {
		t.Fatalf("history of %s: %d records (%v), %v; want the redaction", victim, len(recs), recs, err)
	}
}

// A stamped row with no leaf passes every signed checkpoint: they cover
// the tree, which the row is not in. The store's fault is reported all the
// same, and the next ingest would chain after the row.
func TestFalseValidNoLeafWithCheckpoints(t *testing.T) {
	t.Parallel()
	f := newTreeFixture(t)
	c := chainOf(t, f.path, "node-c")
	last := c[len(c)-1]
	ev := forgedEvent(t, "ghost")
	ev.NodeID = "node-c"
	ins, hash := forge(ev, last.Seq+1, last.Hash)
	attack(t, f.path, ins, rawSQL(`UPDATE chain_heads SET chain_hash = ?, seq = seq + 1 WHERE node_id = 'node-c'`, hash))
	rep := verifyStorePath(t, f.path, "", f.cps(t))
	if rep.Tree == nil || rep.Tree.Status != chainlog.StatusValid {
		t.Fatalf("tree %+v; want valid: the checkpoints cover only the leaves", rep.Tree)
	}
	wantInvalid(t, rep, chainlog.TrailStore, chainlog.ReasonNotLeaf, "ghost", "leaf_index is NULL")
}
