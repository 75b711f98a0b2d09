package bench

import (
	"bufio"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"chainlog"
	"chainlog/sqlite"

	zs "zombiezen.com/go/sqlite"
	"zombiezen.com/go/sqlite/sqlitex"
)

// tinyConfig is a run of a few hundred events over several batches, the
// last one short.
func tinyConfig(payload string) Config {
	return Config{Events: 350, Runs: 1, Batch: 100, Nodes: 3, Payload: payload}
}

// queryInt returns the integer the query's first row holds.
func queryInt(t *testing.T, path, query string) int64 {
	t.Helper()
	conn, err := zs.OpenConn(path, zs.OpenReadOnly)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	var n int64
	err = sqlitex.ExecuteTransient(conn, query, &sqlitex.ExecOptions{
		ResultFunc: func(stmt *zs.Stmt) error { n = stmt.ColumnInt64(0); return nil }})
	if err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return n
}

func queryText(t *testing.T, path, query string) string {
	t.Helper()
	conn, err := zs.OpenConn(path, zs.OpenReadOnly)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	var s string
	err = sqlitex.ExecuteTransient(conn, query, &sqlitex.ExecOptions{
		ResultFunc: func(stmt *zs.Stmt) error { s = stmt.ColumnText(0); return nil }})
	if err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return s
}

// TestBareWrite: every event is a row of a table with no index, in a WAL
// database with the store's page size.
func TestBareWrite(t *testing.T) {
	for _, payload := range []string{PayloadSmall, PayloadRealistic} {
		t.Run(payload, func(t *testing.T) {
			cfg := tinyConfig(payload)
			path := filepath.Join(t.TempDir(), "bare.db")
			rate, err := bareWriteRun(cfg, path)
			if err != nil {
				t.Fatal(err)
			}
			if rate <= 0 {
				t.Errorf("rate %v, want > 0", rate)
			}
			if got := queryInt(t, path, "SELECT count(DISTINCT id) FROM events"); got != int64(cfg.Events) {
				t.Errorf("%d distinct ids written, want %d", got, cfg.Events)
			}
			if got := queryInt(t, path, "SELECT count(*) FROM sqlite_schema WHERE type = 'index'"); got != 0 {
				t.Errorf("%d indexes, want none", got)
			}
			if got := queryText(t, path, "PRAGMA journal_mode"); got != "wal" {
				t.Errorf("journal_mode %q, want wal", got)
			}
			if got := queryInt(t, path, "PRAGMA page_size"); got != 16384 {
				t.Errorf("page_size %d, want the store's 16384", got)
			}
			if got := queryText(t, path, "SELECT typeof(data) FROM events LIMIT 1"); got != "text" {
				t.Errorf("data stored as %s, want text as the store stores it", got)
			}
		})
	}
}

// TestPKChain: every event is a row, each chain checks with the root
// package's rule, and the table refuses a repeated id.
func TestPKChain(t *testing.T) {
	cfg := tinyConfig(PayloadRealistic)
	path := filepath.Join(t.TempDir(), "pk.db")
	rate, err := pkChainRun(cfg, path)
	if err != nil {
		t.Fatal(err)
	}
	if rate <= 0 {
		t.Errorf("rate %v, want > 0", rate)
	}
	conn, err := zs.OpenConn(path, zs.OpenReadWrite)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	checks := map[string]*chainlog.ChainCheck{}
	rows := 0
	err = sqlitex.ExecuteTransient(conn, `SELECT id, agent_type, node_id, agent_id, session_id, workspace_id,
		event_type, ts, chain_prev_hash, chain_hash FROM events ORDER BY rowid`, &sqlitex.ExecOptions{
		ResultFunc: func(stmt *zs.Stmt) error {
			var e chainlog.StoredEvent
			e.ID, e.AgentType, e.NodeID, e.AgentID = stmt.ColumnText(0), stmt.ColumnText(1), stmt.ColumnText(2), stmt.ColumnText(3)
			if stmt.ColumnType(4) != zs.TypeNull {
				s := stmt.ColumnText(4)
				e.SessionID = &s
			}
			e.EventType, e.TS, e.PrevHash, e.Hash = stmt.ColumnText(6), stmt.ColumnText(7), stmt.ColumnText(8), stmt.ColumnText(9)
			c := checks[e.NodeID]
			if c == nil {
				c = chainlog.NewChainCheck(e.NodeID, 0, chainlog.GenesisHash)
				checks[e.NodeID] = c
			}
			seq, _, _ := c.Last()
			e.Seq = seq + 1
			if brk := c.Next(&e); brk != nil {
				t.Errorf("row %d: %+v", rows+1, brk)
			}
			rows++
			return nil
		}})
	if err != nil {
		t.Fatal(err)
	}
	if rows != cfg.Events || len(checks) != cfg.Nodes {
		t.Errorf("%d rows in %d chains, want %d in %d", rows, len(checks), cfg.Events, cfg.Nodes)
	}
	err = sqlitex.ExecuteTransient(conn, `INSERT INTO events (id, agent_type, node_id, agent_id, event_type, ts, created_at)
		SELECT id, agent_type, node_id, agent_id, event_type, ts, created_at FROM events LIMIT 1`, nil)
	if zs.ErrCode(err) != zs.ResultConstraintPrimaryKey {
		t.Errorf("a repeated id: %v, want a PRIMARY KEY constraint error", err)
	}
}

// TestJSONL: one line per event, each an exported event of the run's
// events, in order.
func TestJSONL(t *testing.T) {
	cfg := tinyConfig(PayloadRealistic)
	path := filepath.Join(t.TempDir(), "events.jsonl")
	rate, err := jsonlRun(cfg, path)
	if err != nil {
		t.Fatal(err)
	}
	if rate <= 0 {
		t.Errorf("rate %v, want > 0", rate)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	gen := cfg.events()
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	lines := 0
	for sc.Scan() {
		lines++
		se, err := chainlog.DecodeStoredEvent(sc.Bytes())
		if err != nil {
			t.Fatalf("line %d: %v", lines, err)
		}
		var want chainlog.Event
		gen.next(&want)
		if se.ID != want.ID || string(se.Data) != string(want.Data) {
			t.Fatalf("line %d: event %s %s, want %s %s", lines, se.ID, se.Data, want.ID, want.Data)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if lines != cfg.Events {
		t.Errorf("%d lines, want %d", lines, cfg.Events)
	}
}

// TestBareRead: the verified columns exist in a store with everything
// on, and every row is stepped through.
func TestBareRead(t *testing.T) {
	cfg := tinyConfig(PayloadRealistic)
	path := filepath.Join(t.TempDir(), "on.db")
	if _, err := ingestRun(t.Context(), cfg, path, sqlite.Options{}, nil); err != nil {
		t.Fatal(err)
	}
	rate, err := bareReadRun(t.Context(), path, cfg.Events)
	if err != nil {
		t.Fatal(err)
	}
	if rate <= 0 {
		t.Errorf("rate %v, want > 0", rate)
	}
	if _, err := bareReadRun(t.Context(), path, cfg.Events+1); err == nil || !strings.Contains(err.Error(), "stepped 350 rows") {
		t.Errorf("a store one row short: %v, want the count in an error", err)
	}
}

// TestLimitRatios: each ratio is the run's path over the run's limit.
func TestLimitRatios(t *testing.T) {
	var l limitRuns
	for run, lim := range [][4]float64{{100, 50, 80, 1000}, {200, 100, 160, 2000}} {
		l.bareWrite, l.pkChain = append(l.bareWrite, lim[0]), append(l.pkChain, lim[1])
		l.jsonl, l.bareRead = append(l.jsonl, lim[2]), append(l.bareRead, lim[3])
		f := float64(run + 1)
		l.ratios(90*f, 40*f, 20*f, 1500*f)
	}
	want := map[string]float64{
		"ratio ingest integrity off / bare write":      0.9,
		"ratio ingest everything on / bare write":      0.4,
		"ratio ingest everything on / ClawMetry's way": 0.8,
		"ratio ingest everything on / JSONL":           0.5,
		"ratio chainlog ingest / bare write":           0.2,
		"ratio chainlog ingest / ingest everything on": 0.5,
		"ratio ClawMetry's way / bare write":           0.5,
		"ratio verify-integrity / bare read":           1.5,
	}
	for _, m := range l.measures() {
		w, ok := want[m.Name]
		if !ok {
			continue
		}
		delete(want, m.Name)
		if m.Median != w || m.Min != w || m.Max != w {
			t.Errorf("%s: %v, want %v in each run", m.Name, m.Runs, w)
		}
	}
	for name := range want {
		t.Errorf("no measure %q", name)
	}
}
