// Command mkfixtures writes the store fixtures of package sqlite's tests.
//
// Run it from the module root:
//
//	go run ./sqlite/internal/mkfixtures
//
// It writes sqlite/testdata/clawmetry-v0.db: a store as ClawMetry left it
// before hash chains. Only the original events table (the columns of
// migrations/0001_events.sql, frozen here as ClawMetry created them), no
// chain columns, no chain_heads, PRAGMA user_version 0. It holds 20 events
// over two nodes, with realistic values: one NULL session_id, a non-ASCII
// workspace, some llm_usage rows with usage but no cost. The file is a plain
// rollback-journal SQLite file (journal_mode DELETE, vacuumed), with no -wal
// or -shm beside it, and its content is deterministic.
package main

import (
	"errors"
	"flag"
	"fmt"
	"log"
	"os"

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
	out := flag.String("o", "sqlite/testdata/clawmetry-v0.db", "output file")
	flag.Parse()
	if err := write(*out); err != nil {
		log.Fatalf("mkfixtures: %v", err)
	}
	fmt.Printf("wrote %s (%d events)\n", *out, len(rows))
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
