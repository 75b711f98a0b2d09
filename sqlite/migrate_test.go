package sqlite_test

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"testing"

	"chainlog"
	"chainlog/pricing"
	"chainlog/sqlite"

	zsqlite "zombiezen.com/go/sqlite"
)

// clawMetryV0 is a store as ClawMetry left it before hash chains; remake it
// with `go run ./sqlite/internal/mkfixtures`.
const clawMetryV0 = "testdata/clawmetry-v0.db"

// What the fixture holds.
const (
	v0Rows         = 20
	v0NodeMac      = "mac-studio.local"
	v0NodeCI       = "ci-runner-03"
	v0MacRows      = 12
	v0CIRows       = 8
	v0NullSession  = "0f8e6a1c-0006" // the row with a NULL session_id
	v0Unicode      = "~/Documents/Rapports/Été 2025 — Zoë"
	v0EmptySession = "4c21d9e0-0007" // session_id "" (not NULL) and data NULL
)

// copyFixture copies a testdata file into a fresh temp dir.
func copyFixture(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), filepath.Base(name))
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func userVersion(t *testing.T, path string) int {
	t.Helper()
	v, err := strconv.Atoi(rawValue(t, path, `PRAGMA user_version`))
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func tableColumns(t *testing.T, path, table string) map[string]bool {
	t.Helper()
	cols := map[string]bool{}
	for _, r := range rawQuery(t, path, `SELECT name FROM pragma_table_info(?)`, table) {
		cols[r[0]] = true
	}
	return cols
}

// TestFixtureIsPlainClawMetryV0 pins what the committed fixture is, so a
// regenerated one cannot silently drift.
func TestFixtureIsPlainClawMetryV0(t *testing.T) {
	t.Parallel()
	for _, suffix := range []string{"-wal", "-shm", "-journal"} {
		if fileExists(clawMetryV0 + suffix) {
			t.Errorf("%s%s exists; the fixture must be a single plain file", clawMetryV0, suffix)
		}
	}
	b, err := os.ReadFile(clawMetryV0)
	if err != nil {
		t.Fatal(err)
	}
	// Bytes 18 and 19 of the header are 1 for a rollback journal, 2 for WAL.
	if string(b[:16]) != "SQLite format 3\x00" || b[18] != 1 || b[19] != 1 {
		t.Fatalf("header = %q, read/write versions %d/%d; want a SQLite file in rollback-journal mode", b[:16], b[18], b[19])
	}
	path := copyFixture(t, clawMetryV0)
	if v := userVersion(t, path); v != 0 {
		t.Errorf("user_version = %d; want 0", v)
	}
	want := map[string]bool{"id": true, "agent_type": true, "node_id": true, "agent_id": true,
		"session_id": true, "workspace_id": true, "event_type": true, "ts": true, "data": true,
		"cost_usd": true, "token_count": true, "model": true, "created_at": true}
	if got := tableColumns(t, path, "events"); !reflect.DeepEqual(got, want) {
		t.Errorf("events columns = %v; want ClawMetry's original %v", got, want)
	}
	if got := rawValue(t, path, `SELECT group_concat(name) FROM sqlite_master WHERE type = 'table'`); got != "events" {
		t.Errorf("tables = %s; want only events", got)
	}
	for _, c := range []struct{ q, want string }{
		{`SELECT count(*) FROM events`, fmt.Sprint(v0Rows)},
		{`SELECT count(*) FROM events WHERE node_id = '` + v0NodeMac + `'`, fmt.Sprint(v0MacRows)},
		{`SELECT count(*) FROM events WHERE node_id = '` + v0NodeCI + `'`, fmt.Sprint(v0CIRows)},
		{`SELECT group_concat(id) FROM events WHERE session_id IS NULL`, v0NullSession},
		{`SELECT count(*) FROM events WHERE workspace_id = '` + v0Unicode + `'`, "4"},
		{`SELECT id FROM events WHERE session_id = '' AND data IS NULL`, v0EmptySession},
	} {
		if got := rawValue(t, path, c.q); got != c.want {
			t.Errorf("%s = %s; want %s", c.q, got, c.want)
		}
	}
}

func TestMigrateClawMetryV0(t *testing.T) {
	t.Parallel()
	path := copyFixture(t, clawMetryV0)

	// 1. Read-only: everything is pre-chain, nothing is written.
	sum := fileSHA(t, path)
	st := openRO(t, path)
	rep, err := chainlog.VerifyStore(t.Context(), st, chainlog.VerifyOptions{Walk: true})
	if err != nil {
		t.Fatalf("VerifyStore: %v", err)
	}
	rep = chainsOf(rep)
	oldRows := exportStore(t, st, "")
	heads := headsOf(t, st)
	closeStore(t, st)
	if rep.Status != chainlog.StatusEmpty || rep.Checked != 0 || rep.PreChain != v0Rows || rep.BrokenAt != nil {
		t.Errorf("read-only verify: status, checked, pre_chain, broken_at = %q, %d, %d, %v; want empty, 0, %d, nil",
			rep.Status, rep.Checked, rep.PreChain, rep.BrokenAt, v0Rows)
	}
	if got := nodeReport(t, rep, v0NodeMac).PreChain; got != v0MacRows {
		t.Errorf("%s pre_chain = %d; want %d", v0NodeMac, got, v0MacRows)
	}
	if len(oldRows) != v0Rows || len(heads) != 0 {
		t.Errorf("read-only: %d rows, %d heads; want %d rows, 0 heads", len(oldRows), len(heads), v0Rows)
	}
	for _, r := range oldRows {
		if r.Stamped() {
			t.Errorf("%s: stamped (%d, %q, %q) in a store without chain columns", r.ID, r.Seq, r.PrevHash, r.Hash)
		}
	}
	if fileSHA(t, path) != sum {
		t.Fatal("OpenReadOnly changed the fixture's bytes")
	}
	for _, suffix := range []string{"-wal", "-shm"} {
		if fileExists(path + suffix) {
			t.Errorf("read-only open left %s%s behind", filepath.Base(path), suffix)
		}
	}

	// 2. Open upgrades in place.
	st = openStore(t, path, sqlite.Options{})
	closeStore(t, st)
	if v := userVersion(t, path); v != sqlite.SchemaVersion {
		t.Errorf("user_version = %d; want SchemaVersion %d", v, sqlite.SchemaVersion)
	}
	cols := tableColumns(t, path, "events")
	for _, c := range []string{"chain_seq", "chain_prev_hash", "chain_hash"} {
		if !cols[c] {
			t.Errorf("events has no %s column after the upgrade", c)
		}
	}
	if len(tableColumns(t, path, "chain_heads")) == 0 {
		t.Error("no chain_heads table after the upgrade")
	}
	if got := exportPath(t, path, ""); !reflect.DeepEqual(got, oldRows) {
		t.Errorf("old rows changed by the upgrade:\n got  %+v\n want %+v", got, oldRows)
	}
	rep = verifyPath(t, path, "")
	if rep.Status != chainlog.StatusEmpty || rep.PreChain != v0Rows {
		t.Errorf("after upgrade: status, pre_chain = %q, %d; want empty, %d", rep.Status, rep.PreChain, v0Rows)
	}

	// 3. New events chain from genesis on every node, old or new.
	st = openStore(t, path, sqlite.Options{})
	newEvents := append(mkEvents(t, v0NodeMac, 0, 3), mkEvents(t, v0NodeCI, 0, 2)...)
	newEvents = append(newEvents, mkEvents(t, "node-new", 0, 2)...)
	if res := ingest(t, st, newEvents...); res.Inserted != len(newEvents) {
		t.Errorf("inserted %d; want %d", res.Inserted, len(newEvents))
	}
	closeStore(t, st)
	for node, n := range map[string]int{v0NodeMac: 3, v0NodeCI: 2, "node-new": 2} {
		chain := chainOf(t, path, node)
		if len(chain) != n || chain[0].Seq != 1 || chain[0].PrevHash != chainlog.GenesisHash {
			t.Errorf("node %q: %d stamped rows, first (seq %d, %s); want %d, (seq 1, genesis)",
				node, len(chain), chain[0].Seq, chain[0].PrevHash, n)
		}
	}
	rep = verifyPath(t, path, "")
	wantValid(t, rep, int64(len(newEvents)), v0Rows)
	for _, w := range []struct {
		node              string
		checked, preChain int64
	}{{v0NodeMac, 3, v0MacRows}, {v0NodeCI, 2, v0CIRows}, {"node-new", 2, 0}} {
		if n := nodeReport(t, rep, w.node); n.Checked != w.checked || n.PreChain != w.preChain || n.Status != chainlog.StatusValid {
			t.Errorf("node %q: status, checked, pre_chain = %q, %d, %d; want valid, %d, %d",
				w.node, n.Status, n.Checked, n.PreChain, w.checked, w.preChain)
		}
	}

	// 4. Costing the old rows touches no chain.
	st = openStore(t, path, sqlite.Options{})
	res, err := st.BackfillCosts(t.Context(), pricing.Default())
	if err != nil {
		t.Fatalf("BackfillCosts: %v", err)
	}
	closeStore(t, st)
	if res.Costed != 3 || res.TokensFilled != 2 {
		t.Errorf("backfill costed %d, filled tokens of %d; want 3 old llm_usage rows, 2 without a token_count", res.Costed, res.TokensFilled)
	}
	wantValidAnchored(t, verifyPath(t, path, ""), int64(len(newEvents)), v0Rows, 1)

	// 5. Opening again migrates nothing and changes nothing.
	before := exportPath(t, path, "")
	closeStore(t, openStore(t, path, sqlite.Options{}))
	if got := exportPath(t, path, ""); !reflect.DeepEqual(got, before) {
		t.Error("a second Open changed the rows")
	}
	wantValidAnchored(t, verifyPath(t, path, ""), int64(len(newEvents)), v0Rows, 1)
}

// clawMetryChained builds, with raw SQL, a store as a ClawMetry version
// that stamped chain_prev_hash and chain_hash (but had no chain_seq and no
// heads table) left it: pre-chain rows first, then stamped rows
// interleaved over two nodes, and one row written with integrity off in
// the middle of node-a's chain. It returns the path and each node's
// stamped events in chain order.
func clawMetryChained(t *testing.T) (string, map[string][]chainlog.Event) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "clawmetry-chained.db")
	stmts := []rawStmt{rawSQL(`CREATE TABLE events (
		id TEXT PRIMARY KEY, agent_type TEXT NOT NULL DEFAULT 'openclaw', node_id TEXT NOT NULL,
		agent_id TEXT NOT NULL DEFAULT 'main', session_id TEXT, workspace_id TEXT, event_type TEXT NOT NULL,
		ts TEXT NOT NULL, data TEXT, cost_usd REAL, token_count INTEGER, model TEXT,
		created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
		chain_prev_hash TEXT, chain_hash TEXT)`)}
	insert := func(e chainlog.Event, prev, hash any) rawStmt {
		return rawSQL(`INSERT INTO events (id, agent_type, node_id, agent_id, session_id, workspace_id, event_type, ts,
			data, chain_prev_hash, chain_hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			e.ID, e.AgentType, e.NodeID, e.AgentID, nullable(e.SessionID), nullable(e.WorkspaceID),
			e.EventType, e.TS, string(e.Data), prev, hash)
	}
	// Two pre-chain rows from before ClawMetry turned hashing on.
	for _, e := range []chainlog.Event{mkEvent(t, "node-a", 100), mkEvent(t, "node-b", 100)} {
		stmts = append(stmts, insert(e, nil, nil))
	}
	order := []struct {
		node string
		i    int
	}{{"node-a", 0}, {"node-b", 0}, {"node-a", 1}, {"node-a", 2}, {"node-b", 1}, {"node-a", -1}, {"node-a", 3}, {"node-b", 2}}
	heads := map[string]string{}
	chains := map[string][]chainlog.Event{}
	for _, o := range order {
		if o.i < 0 { // integrity off for one event: not stamped, chain unchanged
			stmts = append(stmts, insert(mkEvent(t, o.node, 101), nil, nil))
			continue
		}
		e := mkEvent(t, o.node, o.i)
		prev, ok := heads[o.node]
		if !ok {
			prev = chainlog.GenesisHash
		}
		heads[o.node] = chainlog.ChainHash(prev, &e)
		stmts = append(stmts, insert(e, prev, heads[o.node]))
		chains[o.node] = append(chains[o.node], e)
	}
	conn, err := zsqlite.OpenConn(path, zsqlite.OpenReadWrite, zsqlite.OpenCreate)
	if err != nil {
		t.Fatal(err)
	}
	conn.Close()
	attack(t, path, stmts...)
	return path, chains
}

func TestMigrateClawMetryChainedStore(t *testing.T) {
	t.Parallel()
	path, chains := clawMetryChained(t)

	// Read-only, before the upgrade: the chains are walked as the upgrade
	// numbers them, and the file is not written.
	sum := fileSHA(t, path)
	wantValid(t, verifyPath(t, path, ""), 7, 3)
	if fileSHA(t, path) != sum {
		t.Fatal("a read-only verification changed the file")
	}

	closeStore(t, openStore(t, path, sqlite.Options{}))
	if v := userVersion(t, path); v != sqlite.SchemaVersion {
		t.Errorf("user_version = %d; want %d", v, sqlite.SchemaVersion)
	}
	heads := headsPath(t, path)
	for node, evs := range chains {
		chain := chainOf(t, path, node)
		if len(chain) != len(evs) {
			t.Fatalf("node %q: %d stamped rows; want %d", node, len(chain), len(evs))
		}
		for i, r := range chain {
			if r.ID != evs[i].ID || r.Seq != int64(i+1) {
				t.Errorf("node %q position %d: (%s, seq %d); want (%s, seq %d)", node, i, r.ID, r.Seq, evs[i].ID, i+1)
			}
		}
		last := chain[len(chain)-1]
		if h := heads[node]; h.Seq != last.Seq || h.Hash != last.Hash {
			t.Errorf("head of %q = (seq %d, %s); want (seq %d, %s)", node, h.Seq, h.Hash, last.Seq, last.Hash)
		}
	}
	if got := rawValue(t, path, `SELECT count(*) FROM events WHERE chain_hash IS NULL AND chain_seq IS NOT NULL`); got != "0" {
		t.Errorf("%s unstamped rows got a chain_seq; want 0", got)
	}
	wantValid(t, verifyPath(t, path, ""), 7, 3)

	// New events continue the adopted chains.
	st := openStore(t, path, sqlite.Options{})
	ingest(t, st, mkEvent(t, "node-a", 4), mkEvent(t, "node-b", 3), mkEvent(t, "node-c", 0))
	closeStore(t, st)
	for node, evs := range chains {
		chain := chainOf(t, path, node)
		prevLast := chain[len(evs)-1]
		next := chain[len(evs)]
		if next.Seq != prevLast.Seq+1 || next.PrevHash != prevLast.Hash {
			t.Errorf("node %q: new row (seq %d, prev %s); want (seq %d, prev %s)", node, next.Seq, next.PrevHash, prevLast.Seq+1, prevLast.Hash)
		}
	}
	wantValid(t, verifyPath(t, path, ""), 10, 3)
}

// Adopting a ClawMetry chain must not launder tampering done before the
// upgrade.
func TestMigrateClawMetryChainedStoreKeepsEarlierTampering(t *testing.T) {
	t.Parallel()
	path, chains := clawMetryChained(t)
	victim := chains["node-a"][1]
	attack(t, path, rawSQL(`UPDATE events SET event_type = 'edited' WHERE id = ?`, victim.ID))
	closeStore(t, openStore(t, path, sqlite.Options{}))

	row := chainOf(t, path, "node-a")[1]
	tampered := victim
	tampered.EventType = "edited"
	wantBreak(t, verifyPath(t, path, ""), chainlog.Break{NodeID: "node-a", Seq: 2, EventID: victim.ID,
		Reason: chainlog.ReasonHashMismatch, Expected: chainlog.ChainHash(row.PrevHash, &tampered), Found: row.Hash})
}

func TestOpenRefusesNewerSchema(t *testing.T) {
	t.Parallel()
	path := buildStore(t, sqlite.Options{}, mkEvents(t, "node-a", 0, 2))
	attack(t, path, rawSQL(fmt.Sprintf(`PRAGMA user_version = %d`, sqlite.SchemaVersion+1)))
	sum := fileSHA(t, path)
	for name, open := range map[string]func() (*sqlite.Store, error){
		"Open":         func() (*sqlite.Store, error) { return sqlite.Open(t.Context(), path, sqlite.Options{}) },
		"OpenReadOnly": func() (*sqlite.Store, error) { return sqlite.OpenReadOnly(t.Context(), path) },
	} {
		st, err := open()
		if err == nil {
			st.Close()
			t.Errorf("%s of a schema newer than %d: no error", name, sqlite.SchemaVersion)
		}
	}
	if fileSHA(t, path) != sum {
		t.Error("refused open changed the file")
	}
}
