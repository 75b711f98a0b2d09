// Command mkfixtures writes the store fixtures of package sqlite's tests.
//
// Run it from the module root:
//
//	go run ./sqlite/internal/mkfixtures
//
// It writes two files, each deterministic and a single file with no -wal,
// -shm or -journal beside it:
//
//   - sqlite/testdata/clawmetry-v0.db: a store as ClawMetry left it before
//     hash chains. Only the original events table (the columns of
//     migrations/0001_events.sql, frozen here as ClawMetry created them), no
//     chain columns, no chain_heads, PRAGMA user_version 0. It holds 20
//     events over two nodes, with realistic values: one NULL session_id, a
//     non-ASCII workspace, some llm_usage rows with usage but no cost. It is
//     a plain rollback-journal SQLite file (journal_mode DELETE, vacuumed).
//
//   - sqlite/testdata/chainlog-v2.db: a store as chainlog left it at schema
//     version 2, before payload digests and the amendment trail: the events
//     table of migration 1 with the chain columns added by migration 2,
//     chain_heads and the unique (node_id, chain_seq) index (both frozen
//     here as migration 2 created them), PRAGMA user_version 2, no
//     payload_digest column, no amendments tables. It holds 16 events over
//     two nodes: 3 pre-chain rows from before chains, 12 stamped rows
//     (7 + 5) whose chain hashes are computed with chainlog.ChainHash, one
//     pre-chain row written with integrity off in the middle, and a head per
//     node. Some llm_usage rows, pre-chain and stamped, have usage but no
//     cost. The file is in WAL mode, as chainlog writes, checkpointed and
//     vacuumed.
package main

import (
	"errors"
	"flag"
	"fmt"
	"log"
	"os"

	"chainlog"

	"zombiezen.com/go/sqlite"
	"zombiezen.com/go/sqlite/sqlitex"
)

// clawMetryV0Schema is ClawMetry's events table before hash chains.
const clawMetryV0Schema = `
CREATE TABLE events (
    id           TEXT PRIMARY KEY,
    agent_type   TEXT NOT NULL DEFAULT 'openclaw',
    node_id      TEXT NOT NULL,
    agent_id     TEXT NOT NULL DEFAULT 'main',
    session_id   TEXT,
    workspace_id TEXT,
    event_type   TEXT NOT NULL,
    ts           TEXT NOT NULL,
    data         TEXT,
    cost_usd     REAL,
    token_count  INTEGER,
    model        TEXT,
    created_at   TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);`

type row struct {
	id, agentType, node, agentID string
	session, workspace           any // nil is NULL
	eventType, ts                string
	data                         any
	cost                         any
	tokens                       any
	model                        any
	createdAt                    string
}

// rows are the fixture's events in insertion order: 12 on mac-studio.local,
// 8 on ci-runner-03, interleaved.
var rows = []row{
	{"0f8e6a1c-0001", "openclaw", "mac-studio.local", "main", "sess-7f3a", "~/code/billing-api", "session.start", "2025-11-03T09:14:02.118Z",
		`{"cwd":"/Users/ana/code/billing-api","git_branch":"main"}`, nil, nil, nil, "2025-11-03T09:14:02.201Z"},
	{"0f8e6a1c-0002", "openclaw", "mac-studio.local", "main", "sess-7f3a", "~/code/billing-api", "tool_call", "2025-11-03T09:14:05.440Z",
		`{"tool":"read_file","args":{"path":"src/invoice.ts"}}`, nil, nil, nil, "2025-11-03T09:14:05.512Z"},
	{"4c21d9e0-0001", "claude_code", "ci-runner-03", "main", "ci-run-18842", "/srv/ci/workspace/chainlog", "session.start", "2025-11-03T09:15:00Z",
		`{"trigger":"pull_request","pr":412}`, nil, nil, nil, "2025-11-03T09:15:00.087Z"},
	{"0f8e6a1c-0003", "openclaw", "mac-studio.local", "main", "sess-7f3a", "~/code/billing-api", "llm_usage", "2025-11-03T09:14:09.902Z",
		`{"model":"claude-sonnet-4-20250514","usage":{"input_tokens":18231,"output_tokens":642,"cache_read_input_tokens":12000}}`, 0.0765, 30873, "claude-sonnet-4-20250514", "2025-11-03T09:14:09.990Z"},
	{"0f8e6a1c-0004", "openclaw", "mac-studio.local", "main", "sess-7f3a", "~/code/billing-api", "tool_call", "2025-11-03T09:14:12.006Z",
		`{"tool":"edit_file","args":{"path":"src/invoice.ts","lines":"40-58"}}`, nil, nil, nil, "2025-11-03T09:14:12.077Z"},
	{"4c21d9e0-0002", "claude_code", "ci-runner-03", "reviewer", "ci-run-18842", "/srv/ci/workspace/chainlog", "tool_call", "2025-11-03T09:15:03.5+00:00",
		`{"tool":"bash","args":{"cmd":"go test ./..."}}`, nil, nil, nil, "2025-11-03T09:15:03.561Z"},
	{"4c21d9e0-0003", "claude_code", "ci-runner-03", "reviewer", "ci-run-18842", "/srv/ci/workspace/chainlog", "llm_usage", "2025-11-03T09:15:41.250Z",
		`{"message":{"model":"claude-3-5-haiku-20241022","usage":{"input_tokens":5120,"output_tokens":380}}}`, nil, nil, nil, "2025-11-03T09:15:41.300Z"},
	{"0f8e6a1c-0005", "openclaw", "mac-studio.local", "main", "sess-7f3a", "~/code/billing-api", "tool_result", "2025-11-03T09:14:12.880Z",
		`{"tool":"edit_file","ok":true}`, nil, nil, nil, "2025-11-03T09:14:12.951Z"},
	// A background event with no session.
	{"0f8e6a1c-0006", "openclaw", "mac-studio.local", "indexer", nil, "~/code/billing-api", "index.refresh", "2025-11-03T09:20:00Z",
		`{"files":1284,"took_ms":912}`, nil, nil, nil, "2025-11-03T09:20:00.004Z"},
	{"0f8e6a1c-0007", "openclaw", "mac-studio.local", "main", "sess-81c0", "~/Documents/Rapports/Été 2025 — Zoë", "session.start", "2025-11-03T10:02:44.310Z",
		`{"cwd":"/Users/ana/Documents/Rapports/Été 2025 — Zoë"}`, nil, nil, nil, "2025-11-03T10:02:44.390Z"},
	{"4c21d9e0-0004", "claude_code", "ci-runner-03", "reviewer", "ci-run-18842", "/srv/ci/workspace/chainlog", "tool_result", "2025-11-03T09:16:10.000Z",
		`{"tool":"bash","exit_code":1,"stderr":"--- FAIL: TestVerify (0.01s)\n"}`, nil, nil, nil, "2025-11-03T09:16:10.042Z"},
	{"0f8e6a1c-0008", "openclaw", "mac-studio.local", "main", "sess-81c0", "~/Documents/Rapports/Été 2025 — Zoë", "llm_usage", "2025-11-03T10:02:51.020Z",
		`{"model":"gpt-4o-2024-08-06","usage":{"prompt_tokens":2200,"completion_tokens":410,"prompt_tokens_details":{"cached_tokens":1024}}}`, nil, nil, "gpt-4o-2024-08-06", "2025-11-03T10:02:51.101Z"},
	{"4c21d9e0-0005", "claude_code", "ci-runner-03", "reviewer", "ci-run-18842", "/srv/ci/workspace/chainlog", "llm_usage", "2025-11-03T09:16:30.775Z",
		`{"model":"claude-sonnet-4","usage":{"input_tokens":9000,"output_tokens":1500}}`, 0.0495, 10500, "claude-sonnet-4", "2025-11-03T09:16:30.820Z"},
	{"0f8e6a1c-0009", "openclaw", "mac-studio.local", "main", "sess-81c0", "~/Documents/Rapports/Été 2025 — Zoë", "tool_call", "2025-11-03T10:03:02.663Z",
		`{"tool":"write_file","args":{"path":"résumé.md"}}`, nil, nil, nil, "2025-11-03T10:03:02.700Z"},
	{"0f8e6a1c-0010", "openclaw", "mac-studio.local", "main", "sess-81c0", "~/Documents/Rapports/Été 2025 — Zoë", "tool_result", "2025-11-03T10:03:02.901Z",
		`{"tool":"write_file","ok":true,"bytes":5311}`, nil, nil, nil, "2025-11-03T10:03:02.950Z"},
	{"4c21d9e0-0006", "claude_code", "ci-runner-03", "reviewer", "ci-run-18842", "/srv/ci/workspace/chainlog", "tool_call", "2025-11-03T09:17:02.140Z",
		`{"tool":"gh","args":{"cmd":"pr comment 412"}}`, nil, nil, nil, "2025-11-03T09:17:02.199Z"},
	{"4c21d9e0-0007", "claude_code", "ci-runner-03", "reviewer", "", "/srv/ci/workspace/chainlog", "ci.annotation", "2025-11-03T09:17:05.000Z",
		nil, nil, nil, nil, "2025-11-03T09:17:05.010Z"},
	{"0f8e6a1c-0011", "openclaw", "mac-studio.local", "main", "sess-81c0", nil, "llm_usage", "2025-11-03T10:04:40.118Z",
		`{"model":"claude-opus-4","usage":{"input_tokens":3100,"output_tokens":2200}}`, nil, 5300, nil, "2025-11-03T10:04:40.166Z"},
	{"4c21d9e0-0008", "claude_code", "ci-runner-03", "main", "ci-run-18842", "/srv/ci/workspace/chainlog", "session.end", "2025-11-03T09:17:30.000Z",
		`{"status":"failed","duration_s":150}`, nil, nil, nil, "2025-11-03T09:17:30.031Z"},
	{"0f8e6a1c-0012", "openclaw", "mac-studio.local", "main", "sess-81c0", nil, "session.end", "2025-11-03T10:05:00Z",
		`{"status":"ok"}`, nil, nil, nil, "2025-11-03T10:05:00.052Z"},
}

func main() {
	out := flag.String("o", "sqlite/testdata/clawmetry-v0.db", "output file of the ClawMetry v0 store")
	outV2 := flag.String("v2", "sqlite/testdata/chainlog-v2.db", "output file of the chainlog schema-version-2 store")
	flag.Parse()
	if err := write(*out); err != nil {
		log.Fatalf("mkfixtures: %v", err)
	}
	fmt.Printf("wrote %s (%d events)\n", *out, len(rows))
	if err := writeV2(*outV2); err != nil {
		log.Fatalf("mkfixtures: %v", err)
	}
	fmt.Printf("wrote %s (%d events)\n", *outV2, len(v2Rows))
}

func write(path string) (err error) {
	for _, suffix := range []string{"", "-journal", "-wal", "-shm"} {
		if err := os.Remove(path + suffix); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
	}
	conn, err := sqlite.OpenConn(path, sqlite.OpenReadWrite, sqlite.OpenCreate)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := conn.Close(); err == nil {
			err = cerr
		}
	}()
	for _, q := range []string{"PRAGMA page_size = 4096", "PRAGMA journal_mode = DELETE", "PRAGMA user_version = 0"} {
		if err := sqlitex.ExecuteTransient(conn, q, nil); err != nil {
			return fmt.Errorf("%s: %w", q, err)
		}
	}
	if err := insertRows(conn); err != nil {
		return err
	}
	if err := sqlitex.ExecuteTransient(conn, "VACUUM", nil); err != nil {
		return fmt.Errorf("vacuum: %w", err)
	}
	for _, suffix := range []string{"-journal", "-wal", "-shm"} {
		if _, err := os.Stat(path + suffix); err == nil {
			return fmt.Errorf("%s%s exists: the fixture must be a single file", path, suffix)
		}
	}
	return nil
}

func insertRows(conn *sqlite.Conn) (err error) {
	defer sqlitex.Save(conn)(&err)
	if err := sqlitex.ExecuteScript(conn, clawMetryV0Schema, nil); err != nil {
		return fmt.Errorf("schema: %w", err)
	}
	for _, r := range rows {
		err := sqlitex.Execute(conn, `INSERT INTO events (id, agent_type, node_id, agent_id, session_id, workspace_id,
			event_type, ts, data, cost_usd, token_count, model, created_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, &sqlitex.ExecOptions{
			Args: []any{r.id, r.agentType, r.node, r.agentID, r.session, r.workspace,
				r.eventType, r.ts, r.data, r.cost, r.tokens, r.model, r.createdAt},
		})
		if err != nil {
			return fmt.Errorf("insert %s: %w", r.id, err)
		}
	}
	return nil
}

// chainlogV1Schema is the events table of chainlog's migration 1 (ClawMetry's
// table), and chainlogV2Chain what migration 2 added to it: the chain
// columns (added only where missing, hence ALTER TABLE), chain_heads and the
// unique index. Frozen here as chainlog created them at schema version 2.
const (
	chainlogV1Schema = `
CREATE TABLE IF NOT EXISTS events (
    id           TEXT PRIMARY KEY,
    agent_type   TEXT NOT NULL DEFAULT 'openclaw',
    node_id      TEXT NOT NULL,
    agent_id     TEXT NOT NULL DEFAULT 'main',
    session_id   TEXT,
    workspace_id TEXT,
    event_type   TEXT NOT NULL,
    ts           TEXT NOT NULL,
    data         TEXT,
    cost_usd     REAL,
    token_count  INTEGER,
    model        TEXT,
    created_at   TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);`
	chainlogV2Chain = `
ALTER TABLE events ADD COLUMN chain_prev_hash TEXT;
ALTER TABLE events ADD COLUMN chain_hash TEXT;
ALTER TABLE events ADD COLUMN chain_seq INTEGER;
CREATE TABLE IF NOT EXISTS chain_heads (
    node_id    TEXT PRIMARY KEY,
    chain_hash TEXT NOT NULL,
    seq        INTEGER NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS events_node_seq ON events (node_id, chain_seq);`
)

// v2Row is one event of the schema-version-2 fixture. Stamped rows get
// their chain columns from their node's chain; the others stay pre-chain.
type v2Row struct {
	ev        chainlog.Event
	stamped   bool
	createdAt string
}

func str(s string) *string   { return &s }
func f64(f float64) *float64 { return &f }
func i64(n int64) *int64     { return &n }
func raw(s string) []byte    { return []byte(s) }
func v2ev(id, node, agentType, agentID string, session, workspace *string, eventType, ts string) chainlog.Event {
	return chainlog.Event{ID: id, AgentType: agentType, NodeID: node, AgentID: agentID,
		SessionID: session, WorkspaceID: workspace, EventType: eventType, TS: ts}
}

func withMutable(e chainlog.Event, data string, cost *float64, tokens *int64, model *string) chainlog.Event {
	if data != "" {
		e.Data = raw(data)
	}
	e.CostUSD, e.TokenCount, e.Model = cost, tokens, model
	return e
}

// Node names of the schema-version-2 fixture.
const (
	v2NodeDev = "dev-laptop.lan"
	v2NodeCI  = "ci-runner-07"
)

// v2Rows are the schema-version-2 fixture's events in insertion order: three
// pre-chain rows written before migration 2, then 7 stamped rows on
// dev-laptop.lan and 5 on ci-runner-07, interleaved, with one row written
// with integrity off among them.
var v2Rows = []v2Row{
	// Before chains (schema version 1).
	{withMutable(v2ev("7a1e0c52-0001", v2NodeDev, "claude_code", "main", str("sess-d1"), str("~/src/ledger"), "session.start", "2025-12-01T08:00:00.100Z"),
		`{"cwd":"/home/ana/src/ledger"}`, nil, nil, nil), false, "2025-12-01T08:00:00.180Z"},
	{withMutable(v2ev("7a1e0c52-0002", v2NodeDev, "claude_code", "main", str("sess-d1"), str("~/src/ledger"), "llm_usage", "2025-12-01T08:00:04.512Z"),
		`{"message":{"model":"claude-3-5-haiku-20241022","usage":{"input_tokens":4200,"output_tokens":310}}}`, nil, nil, nil), false, "2025-12-01T08:00:04.600Z"},
	{withMutable(v2ev("b3f09d11-0001", v2NodeCI, "openclaw", "main", str("ci-9931"), str("/srv/ci/ledger"), "session.start", "2025-12-01T08:01:00Z"),
		`{"trigger":"push","ref":"refs/heads/main"}`, nil, nil, nil), false, "2025-12-01T08:01:00.020Z"},

	// Chained (schema version 2).
	{withMutable(v2ev("7a1e0c52-0003", v2NodeDev, "claude_code", "main", str("sess-d2"), str("~/src/ledger"), "tool_call", "2025-12-02T09:10:00.001Z"),
		`{"tool":"read_file","args":{"path":"cmd/ledger/main.go"}}`, nil, nil, nil), true, "2025-12-02T09:10:00.052311Z"},
	{withMutable(v2ev("b3f09d11-0002", v2NodeCI, "openclaw", "main", str("ci-9932"), str("/srv/ci/ledger"), "tool_call", "2025-12-02T09:10:01Z"),
		`{"tool":"bash","args":{"cmd":"make test"}}`, nil, nil, nil), true, "2025-12-02T09:10:01.004120Z"},
	// Usage, no cost, no token count, model only in the payload.
	{withMutable(v2ev("7a1e0c52-0004", v2NodeDev, "claude_code", "main", str("sess-d2"), str("~/src/ledger"), "llm_usage", "2025-12-02T09:10:07.730Z"),
		`{"model":"claude-sonnet-4-20250514","usage":{"input_tokens":15210,"output_tokens":880,"cache_read_input_tokens":9000}}`, nil, nil, nil), true, "2025-12-02T09:10:07.801906Z"},
	{withMutable(v2ev("7a1e0c52-0005", v2NodeDev, "claude_code", "main", str("sess-d2"), str("~/src/ledger"), "tool_result", "2025-12-02T09:10:08.002Z"),
		`{"tool":"read_file","ok":true,"bytes":2291}`, nil, nil, nil), true, "2025-12-02T09:10:08.040017Z"},
	// Usage, no cost, no token count, model column set.
	{withMutable(v2ev("b3f09d11-0003", v2NodeCI, "openclaw", "reviewer", str("ci-9932"), str("/srv/ci/ledger"), "llm_usage", "2025-12-02T09:10:30.5+00:00"),
		`{"model":"gpt-4o-mini-2024-07-18","usage":{"prompt_tokens":3100,"completion_tokens":420}}`, nil, nil, str("gpt-4o-mini-2024-07-18")), true, "2025-12-02T09:10:30.566000Z"},
	// Written with integrity off: pre-chain, among stamped rows.
	{withMutable(v2ev("7a1e0c52-0099", v2NodeDev, "claude_code", "watchdog", nil, nil, "heartbeat", "2025-12-02T09:11:00Z"),
		"", nil, nil, nil), false, "2025-12-02T09:11:00.000500Z"},
	// Already costed.
	{withMutable(v2ev("7a1e0c52-0006", v2NodeDev, "claude_code", "main", str("sess-d2"), str("~/src/ledger"), "llm_usage", "2025-12-02T09:11:12.300Z"),
		`{"model":"claude-sonnet-4","usage":{"input_tokens":4600,"output_tokens":500}}`, f64(0.0213), i64(5100), str("claude-sonnet-4")), true, "2025-12-02T09:11:12.344871Z"},
	{withMutable(v2ev("b3f09d11-0004", v2NodeCI, "openclaw", "reviewer", nil, str("/srv/ci/ledger"), "tool_result", "2025-12-02T09:11:40.000Z"),
		`{"tool":"bash","exit_code":2,"stderr":"résumé.txt: fichier introuvable\n"}`, nil, nil, nil), true, "2025-12-02T09:11:40.031000Z"},
	{withMutable(v2ev("7a1e0c52-0007", v2NodeDev, "claude_code", "main", str("sess-d2"), str("~/Projets/Données clients"), "tool_call", "2025-12-02T09:12:02.118Z"),
		`{"tool":"write_file","args":{"path":"~/Projets/Données clients/export.csv"}}`, nil, nil, nil), true, "2025-12-02T09:12:02.150300Z"},
	// Usage and a token count, but no cost.
	{withMutable(v2ev("b3f09d11-0005", v2NodeCI, "openclaw", "reviewer", str("ci-9932"), str("/srv/ci/ledger"), "llm_usage", "2025-12-02T09:12:10.250Z"),
		`{"model":"claude-opus-4","usage":{"input_tokens":2800,"output_tokens":1200}}`, nil, i64(4000), str("claude-opus-4")), true, "2025-12-02T09:12:10.290555Z"},
	{withMutable(v2ev("7a1e0c52-0008", v2NodeDev, "claude_code", "main", str(""), str("~/Projets/Données clients"), "tool_result", "2025-12-02T09:12:02.990Z"),
		`{"tool":"write_file","ok":true}`, nil, nil, nil), true, "2025-12-02T09:12:03.010004Z"},
	{withMutable(v2ev("b3f09d11-0006", v2NodeCI, "openclaw", "main", str("ci-9932"), str("/srv/ci/ledger"), "session.end", "2025-12-02T09:13:00Z"),
		`{"status":"failed","duration_s":119}`, nil, nil, nil), true, "2025-12-02T09:13:00.008800Z"},
	{withMutable(v2ev("7a1e0c52-0009", v2NodeDev, "claude_code", "main", str("sess-d2"), str("~/src/ledger"), "session.end", "2025-12-02T09:14:30.000Z"),
		`{"status":"ok"}`, nil, nil, nil), true, "2025-12-02T09:14:30.020900Z"},
}

func writeV2(path string) (err error) {
	for _, suffix := range []string{"", "-journal", "-wal", "-shm"} {
		if err := os.Remove(path + suffix); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
	}
	conn, err := sqlite.OpenConn(path, sqlite.OpenReadWrite, sqlite.OpenCreate)
	if err != nil {
		return err
	}
	closed := false
	defer func() {
		if !closed {
			conn.Close()
		}
	}()
	for _, q := range []string{"PRAGMA page_size = 4096", "PRAGMA journal_mode = DELETE"} {
		if err := sqlitex.ExecuteTransient(conn, q, nil); err != nil {
			return fmt.Errorf("%s: %w", q, err)
		}
	}
	if err := insertV2Rows(conn); err != nil {
		return err
	}
	// VACUUM in rollback mode, then switch to WAL as chainlog's Open does;
	// closing the only connection checkpoints and removes -wal and -shm.
	for _, q := range []string{"VACUUM", "PRAGMA journal_mode = WAL"} {
		if err := sqlitex.ExecuteTransient(conn, q, nil); err != nil {
			return fmt.Errorf("%s: %w", q, err)
		}
	}
	closed = true
	if err := conn.Close(); err != nil {
		return err
	}
	for _, suffix := range []string{"-journal", "-wal", "-shm"} {
		if _, err := os.Stat(path + suffix); err == nil {
			return fmt.Errorf("%s%s exists: the fixture must be a single file", path, suffix)
		}
	}
	return nil
}

// insertV2Rows creates the schema-version-2 tables and rows in one
// transaction: version 1 and its pre-chain rows, then migration 2 and the
// stamped rows with their heads.
func insertV2Rows(conn *sqlite.Conn) (err error) {
	defer sqlitex.Save(conn)(&err)
	if err := sqlitex.ExecuteScript(conn, chainlogV1Schema, nil); err != nil {
		return fmt.Errorf("schema v1: %w", err)
	}
	const insert = `INSERT INTO events (id, agent_type, node_id, agent_id, session_id, workspace_id,
		event_type, ts, data, cost_usd, token_count, model, created_at%s) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?%s)`
	i := 0
	for ; i < len(v2Rows) && !v2Rows[i].stamped; i++ {
		r := &v2Rows[i]
		if err := sqlitex.Execute(conn, fmt.Sprintf(insert, "", ""), &sqlitex.ExecOptions{Args: v2Args(r)}); err != nil {
			return fmt.Errorf("insert %s: %w", r.ev.ID, err)
		}
	}
	if err := sqlitex.ExecuteScript(conn, chainlogV2Chain, nil); err != nil {
		return fmt.Errorf("schema v2: %w", err)
	}
	heads := map[string]chainlog.Head{}
	var nodes []string
	for ; i < len(v2Rows); i++ {
		r := &v2Rows[i]
		if !r.stamped {
			if err := sqlitex.Execute(conn, fmt.Sprintf(insert, "", ""), &sqlitex.ExecOptions{Args: v2Args(r)}); err != nil {
				return fmt.Errorf("insert %s: %w", r.ev.ID, err)
			}
			continue
		}
		head, ok := heads[r.ev.NodeID]
		if !ok {
			head.Hash = chainlog.GenesisHash
			nodes = append(nodes, r.ev.NodeID)
		}
		next := chainlog.Head{NodeID: r.ev.NodeID, Hash: chainlog.ChainHash(head.Hash, &r.ev), Seq: head.Seq + 1, UpdatedAt: r.createdAt}
		args := append(v2Args(r), head.Hash, next.Hash, next.Seq)
		if err := sqlitex.Execute(conn, fmt.Sprintf(insert, ", chain_prev_hash, chain_hash, chain_seq", ", ?, ?, ?"),
			&sqlitex.ExecOptions{Args: args}); err != nil {
			return fmt.Errorf("insert %s: %w", r.ev.ID, err)
		}
		heads[r.ev.NodeID] = next
	}
	for _, node := range nodes {
		h := heads[node]
		if err := sqlitex.Execute(conn, `INSERT INTO chain_heads (node_id, chain_hash, seq, updated_at) VALUES (?, ?, ?, ?)`,
			&sqlitex.ExecOptions{Args: []any{h.NodeID, h.Hash, h.Seq, h.UpdatedAt}}); err != nil {
			return fmt.Errorf("head of %s: %w", node, err)
		}
	}
	return sqlitex.ExecuteTransient(conn, "PRAGMA user_version = 2", nil)
}

// v2Args are the bind arguments of r's identity, mutable fields and
// created_at, NULLs as nil.
func v2Args(r *v2Row) []any {
	e := &r.ev
	opt := func(s *string) any {
		if s == nil {
			return nil
		}
		return *s
	}
	var data, cost, tokens any
	if e.Data != nil {
		data = string(e.Data)
	}
	if e.CostUSD != nil {
		cost = *e.CostUSD
	}
	if e.TokenCount != nil {
		tokens = *e.TokenCount
	}
	return []any{e.ID, e.AgentType, e.NodeID, e.AgentID, opt(e.SessionID), opt(e.WorkspaceID),
		e.EventType, e.TS, data, cost, tokens, opt(e.Model), r.createdAt}
}
