package sqlite_test

import (
	"math"
	"slices"
	"strings"
	"testing"

	"chainlog"
	"chainlog/pricing"
	"chainlog/sqlite"
)

// ClawMetry's ten acceptance tests for verify-integrity, run against real
// stores.

func TestClawMetryEmptyStore(t *testing.T) {
	t.Parallel()
	path := newStorePath(t)
	closeStore(t, openStore(t, path, sqlite.Options{}))

	rep := verifyPath(t, path, "")
	if rep.Status != chainlog.StatusEmpty {
		t.Errorf("status = %q; want %q", rep.Status, chainlog.StatusEmpty)
	}
	if rep.Checked != 0 || rep.PreChain != 0 || rep.BrokenAt != nil || len(rep.Nodes) != 0 {
		t.Errorf("report = %+v; want nothing checked, no nodes, no break", rep)
	}
	if rep.NodeID != chainlog.ScopeAll {
		t.Errorf("scope = %q; want %q", rep.NodeID, chainlog.ScopeAll)
	}
}

func TestClawMetryStampingOff(t *testing.T) {
	t.Parallel()
	evs := append(mkEvents(t, "node-a", 0, 3), mkEvents(t, "node-b", 0, 2)...)
	path := buildStore(t, sqlite.Options{DisableIntegrity: true}, evs)

	// The chain columns are SQL NULL, not empty strings or zeros.
	stamped := rawValue(t, path, `SELECT count(*) FROM events
		WHERE chain_seq IS NOT NULL OR chain_prev_hash IS NOT NULL OR chain_hash IS NOT NULL`)
	if stamped != "0" {
		t.Errorf("%s rows have a chain column set; want all NULL", stamped)
	}
	if got := rawValue(t, path, `SELECT count(*) FROM events`); got != "5" {
		t.Errorf("stored %s rows; want 5", got)
	}
	if got := rawValue(t, path, `SELECT count(*) FROM chain_heads`); got != "0" {
		t.Errorf("stamping off recorded %s heads; want 0", got)
	}

	rep := verifyPath(t, path, "")
	if rep.Status != chainlog.StatusEmpty || rep.Checked != 0 || rep.PreChain != 5 || rep.BrokenAt != nil {
		t.Errorf("status, checked, pre_chain, broken_at = %q, %d, %d, %v; want empty, 0, 5, nil",
			rep.Status, rep.Checked, rep.PreChain, rep.BrokenAt)
	}
	for _, n := range rep.Nodes {
		if n.Status != chainlog.StatusEmpty {
			t.Errorf("node %q status = %q; want %q", n.NodeID, n.Status, chainlog.StatusEmpty)
		}
	}
}

func TestClawMetrySingleEvent(t *testing.T) {
	t.Parallel()
	ev := mkEvent(t, "node-a", 0)
	path := buildStore(t, sqlite.Options{}, []chainlog.Event{ev})

	rows := exportPath(t, path, "")
	if len(rows) != 1 {
		t.Fatalf("got %d rows; want 1", len(rows))
	}
	got := rows[0]
	if want := chainlog.ChainHash(chainlog.GenesisHash, &ev); got.Seq != 1 || got.PrevHash != chainlog.GenesisHash || got.Hash != want {
		t.Errorf("stamp = (seq %d, %s, %s); want (seq 1, %s, %s)", got.Seq, got.PrevHash, got.Hash, chainlog.GenesisHash, want)
	}
	if h := headsPath(t, path)["node-a"]; h.Seq != 1 || h.Hash != got.Hash {
		t.Errorf("head = (seq %d, %s); want (seq 1, %s)", h.Seq, h.Hash, got.Hash)
	}
	rep := verifyPath(t, path, "")
	wantValid(t, rep, 1, 0)
	if n := nodeReport(t, rep, "node-a"); n.HeadSeq != 1 || n.HeadHash != got.Hash {
		t.Errorf("node report head = (seq %d, %s); want (seq 1, %s)", n.HeadSeq, n.HeadHash, got.Hash)
	}
}

func TestClawMetrySeveralEvents(t *testing.T) {
	t.Parallel()
	path := buildStore(t, sqlite.Options{},
		mkEvents(t, "node-a", 0, 4),
		append(mkEvents(t, "node-b", 0, 3), mkEvents(t, "node-a", 4, 6)...),
		mkEvents(t, "node-c", 0, 1),
	)
	rep := verifyPath(t, path, "")
	wantValid(t, rep, 10, 0)
	for node, n := range map[string]int64{"node-a": 6, "node-b": 3, "node-c": 1} {
		r := nodeReport(t, rep, node)
		if r.Status != chainlog.StatusValid || r.Checked != n || r.HeadSeq != n {
			t.Errorf("node %q: status, checked, head_seq = %q, %d, %d; want valid, %d, %d",
				node, r.Status, r.Checked, r.HeadSeq, n, n)
		}
	}
}

func TestClawMetryGenesisPrevIsZeros(t *testing.T) {
	t.Parallel()
	path := buildStore(t, sqlite.Options{},
		append(mkEvents(t, "node-a", 0, 2), mkEvents(t, "node-b", 0, 2)...),
		mkEvents(t, "node-c", 0, 1),
	)
	zeros := strings.Repeat("0", 64)
	for _, node := range []string{"node-a", "node-b", "node-c"} {
		chain := chainOf(t, path, node)
		if len(chain) == 0 {
			t.Fatalf("node %q has no stamped rows", node)
		}
		if got := chain[0]; got.Seq != 1 || got.PrevHash != zeros {
			t.Errorf("node %q first row: seq, chain_prev_hash = %d, %q; want 1, %q", node, got.Seq, got.PrevHash, zeros)
		}
	}
	// Raw check: exactly one genesis row per node, in the column itself,
	// which keeps the hash as 32 bytes since the upgrade.
	if got := rawValue(t, path, `SELECT count(*) FROM events WHERE chain_prev_hash = zeroblob(32)`); got != "3" {
		t.Errorf("%s rows link to genesis; want 3 (one per node)", got)
	}
}

func TestClawMetrySequentialLinks(t *testing.T) {
	t.Parallel()
	// Interleave two nodes across batches so each chain's links cross
	// batch boundaries and other nodes' rows.
	var batches [][]chainlog.Event
	for i := 0; i < 12; i += 3 {
		batches = append(batches, append(mkEvents(t, "node-a", i, i+3), mkEvents(t, "node-b", i/3, i/3+1)...))
	}
	path := buildStore(t, sqlite.Options{}, batches...)
	for node, n := range map[string]int{"node-a": 12, "node-b": 4} {
		chain := chainOf(t, path, node)
		if len(chain) != n {
			t.Fatalf("node %q: %d rows; want %d", node, len(chain), n)
		}
		prev := chainlog.GenesisHash
		for i, r := range chain {
			if r.Seq != int64(i+1) {
				t.Errorf("node %q row %d: seq = %d; want %d", node, i, r.Seq, i+1)
			}
			if r.PrevHash != prev {
				t.Errorf("node %q seq %d: chain_prev_hash = %s; want previous hash %s", node, r.Seq, r.PrevHash, prev)
			}
			if want := chainlog.ChainHash(prev, &r.Event); r.Hash != want {
				t.Errorf("node %q seq %d: chain_hash = %s; want %s", node, r.Seq, r.Hash, want)
			}
			prev = r.Hash
		}
	}
	wantValid(t, verifyPath(t, path, ""), 16, 0)
}

func TestClawMetryCostBackfillKeepsChainValid(t *testing.T) {
	t.Parallel()
	usage := `{"model":"claude-sonnet-4","usage":{"input_tokens":1000,"output_tokens":200}}`
	evs := []chainlog.Event{
		decode(t, `{"id":"u1","node_id":"node-a","event_type":"llm_usage","ts":"2026-02-01T10:00:00Z","data":`+usage+`}`),
		decode(t, `{"id":"u2","node_id":"node-b","event_type":"llm_usage","ts":"2026-02-01T10:00:01Z","session_id":"s-9","data":`+usage+`}`),
		decode(t, `{"id":"u3","node_id":"node-a","event_type":"llm_usage","ts":"2026-02-01T10:00:02Z","data":`+usage+`}`),
		// Already costed: left alone.
		decode(t, `{"id":"costed","node_id":"node-a","event_type":"llm_usage","ts":"2026-02-01T10:00:03Z","cost_usd":0.5,"token_count":7,"data":`+usage+`}`),
		// token_count already set: cost is filled, the count is kept.
		decode(t, `{"id":"counted","node_id":"node-b","event_type":"llm_usage","ts":"2026-02-01T10:00:04Z","token_count":1234,"data":`+usage+`}`),
		decode(t, `{"id":"no-usage","node_id":"node-a","event_type":"tool_call","ts":"2026-02-01T10:00:05Z","data":{"tool":"bash"}}`),
		decode(t, `{"id":"unknown-model","node_id":"node-b","event_type":"llm_usage","ts":"2026-02-01T10:00:06Z","data":{"model":"acme-9000","usage":{"input_tokens":5,"output_tokens":5}}}`),
	}
	path := newStorePath(t)
	st := openStore(t, path, sqlite.Options{})
	ingest(t, st, evs...)
	before := exportStore(t, st, "")
	res, err := st.BackfillCosts(t.Context(), pricing.Default())
	if err != nil {
		t.Fatalf("BackfillCosts: %v", err)
	}
	closeStore(t, st)
	if want := (sqlite.BackfillResult{Costed: 4, TokensFilled: 3, NoUsage: 1, UnknownModel: 1}); res != want {
		t.Errorf("backfill result = %+v; want %+v", res, want)
	}

	wantCost := 1000*3/1e6 + 200*15/1e6
	want := map[string]struct {
		cost   *float64
		tokens *int64
	}{
		"u1":            {&wantCost, ptr[int64](1200)},
		"u2":            {&wantCost, ptr[int64](1200)},
		"u3":            {&wantCost, ptr[int64](1200)},
		"costed":        {ptr(0.5), ptr[int64](7)},
		"counted":       {&wantCost, ptr[int64](1234)},
		"no-usage":      {nil, nil},
		"unknown-model": {nil, nil},
	}
	// The backfill's one transaction added one anchor event.
	after := slices.DeleteFunc(exportPath(t, path, ""), func(r chainlog.StoredEvent) bool { return r.NodeID == chainlog.AnchorNode })
	if len(after) != len(before) {
		t.Fatalf("export has %d rows after backfill; want %d", len(after), len(before))
	}
	for i, got := range after {
		w := want[got.ID]
		switch {
		case (got.CostUSD == nil) != (w.cost == nil):
			t.Errorf("%s: cost_usd = %v; want %v", got.ID, fmtPtr(got.CostUSD), fmtPtr(w.cost))
		case got.CostUSD != nil && math.Abs(*got.CostUSD-*w.cost) > 1e-12:
			t.Errorf("%s: cost_usd = %v; want %v", got.ID, *got.CostUSD, *w.cost)
		}
		if (got.TokenCount == nil) != (w.tokens == nil) || (got.TokenCount != nil && *got.TokenCount != *w.tokens) {
			t.Errorf("%s: token_count = %v; want %v", got.ID, fmtPtr(got.TokenCount), fmtPtr(w.tokens))
		}
		// Identity and chain columns are untouched.
		b := before[i]
		if got.Event.ID != b.ID || chainlog.Canonical(&got.Event) != chainlog.Canonical(&b.Event) ||
			got.Seq != b.Seq || got.PrevHash != b.PrevHash || got.Hash != b.Hash || got.CreatedAt != b.CreatedAt {
			t.Errorf("%s: identity or chain changed by backfill:\n got  %+v\n want %+v", got.ID, got, b)
		}
	}
	wantValidAnchored(t, verifyPath(t, path, ""), int64(len(evs)), 0, 1)
}

func fmtPtr[T any](p *T) any {
	if p == nil {
		return "NULL"
	}
	return *p
}

// TestClawMetryIdentityTamperCaught alters each of the eight identity
// fields of one stored row and expects verify to name that row.
func TestClawMetryIdentityTamperCaught(t *testing.T) {
	t.Parallel()
	// node-a: seq 1..5; seq 3 has a session and a workspace, seq 4 has
	// neither.
	evs := []chainlog.Event{
		decode(t, `{"id":"a1","node_id":"node-a","event_type":"session.start","ts":"2026-02-01T10:00:00Z","session_id":"s-1","workspace_id":"/w"}`),
		decode(t, `{"id":"b1","node_id":"node-b","event_type":"session.start","ts":"2026-02-01T10:00:00Z"}`),
		decode(t, `{"id":"a2","node_id":"node-a","event_type":"tool_call","ts":"2026-02-01T10:00:01Z","session_id":"s-1","workspace_id":"/w"}`),
		decode(t, `{"id":"a3","node_id":"node-a","agent_type":"claude_code","agent_id":"planner","event_type":"tool_call","ts":"2026-02-01T10:00:02.5+01:00","session_id":"s-1","workspace_id":"/w"}`),
		decode(t, `{"id":"a4","node_id":"node-a","event_type":"tool_result","ts":"2026-02-01T10:00:03Z"}`),
		decode(t, `{"id":"a5","node_id":"node-a","event_type":"session.end","ts":"2026-02-01T10:00:04Z","session_id":"s-1"}`),
	}
	for _, tc := range []struct {
		name   string
		id     string // row to tamper
		set    string // SQL assignment
		arg    any
		node   string // where the break is reported
		seq    int64
		edit   func(e *chainlog.Event) // the same change on the Go side
		detail string
	}{
		{name: "id", id: "a3", set: "id = ?", arg: "a3-renamed", node: "node-a", seq: 3,
			edit: func(e *chainlog.Event) { e.ID = "a3-renamed" }},
		{name: "agent_type", id: "a3", set: "agent_type = ?", arg: "openclaw", node: "node-a", seq: 3,
			edit: func(e *chainlog.Event) { e.AgentType = "openclaw" }},
		// The row moves to a node of its own; its hash there no longer
		// matches. (node-0 sorts first, so its break is the first one.)
		{name: "node_id", id: "a1", set: "node_id = ?", arg: "node-0", node: "node-0", seq: 1,
			edit: func(e *chainlog.Event) { e.NodeID = "node-0" }},
		// "" sorts before every node, and must not be taken for "all nodes".
		{name: "node_id to empty", id: "a1", set: "node_id = ?", arg: "", node: "", seq: 1,
			edit: func(e *chainlog.Event) { e.NodeID = "" }},
		{name: "agent_id", id: "a3", set: "agent_id = ?", arg: "main", node: "node-a", seq: 3,
			edit: func(e *chainlog.Event) { e.AgentID = "main" }},
		{name: "session_id", id: "a3", set: "session_id = ?", arg: "s-2", node: "node-a", seq: 3,
			edit: func(e *chainlog.Event) { e.SessionID = ptr("s-2") }},
		{name: "session_id value to NULL", id: "a3", set: "session_id = ?", arg: nil, node: "node-a", seq: 3,
			edit: func(e *chainlog.Event) { e.SessionID = nil }},
		{name: "session_id NULL to value", id: "a4", set: "session_id = ?", arg: "s-1", node: "node-a", seq: 4,
			edit: func(e *chainlog.Event) { e.SessionID = ptr("s-1") }},
		{name: "session_id value to empty", id: "a3", set: "session_id = ?", arg: "", node: "node-a", seq: 3,
			edit: func(e *chainlog.Event) { e.SessionID = ptr("") }},
		{name: "workspace_id", id: "a3", set: "workspace_id = ?", arg: "/other", node: "node-a", seq: 3,
			edit: func(e *chainlog.Event) { e.WorkspaceID = ptr("/other") }},
		{name: "workspace_id value to NULL", id: "a3", set: "workspace_id = ?", arg: nil, node: "node-a", seq: 3,
			edit: func(e *chainlog.Event) { e.WorkspaceID = nil }},
		{name: "workspace_id NULL to value", id: "a4", set: "workspace_id = ?", arg: "/w", node: "node-a", seq: 4,
			edit: func(e *chainlog.Event) { e.WorkspaceID = ptr("/w") }},
		{name: "event_type", id: "a3", set: "event_type = ?", arg: "tool_result", node: "node-a", seq: 3,
			edit: func(e *chainlog.Event) { e.EventType = "tool_result" }},
		// A store holds the defaults themselves; blanking one out is an
		// alteration even though a decoder would default "" back.
		{name: "agent_type default blanked", id: "a4", set: "agent_type = ?", arg: "", node: "node-a", seq: 4,
			edit: func(e *chainlog.Event) { e.AgentType = "" }},
		{name: "agent_id default blanked", id: "a4", set: "agent_id = ?", arg: "", node: "node-a", seq: 4,
			edit: func(e *chainlog.Event) { e.AgentID = "" }},
		// The same instant written differently is still a different ts.
		{name: "ts reformatted", id: "a3", set: "ts = ?", arg: "2026-02-01T09:00:02.500Z", node: "node-a", seq: 3,
			edit: func(e *chainlog.Event) { e.TS = "2026-02-01T09:00:02.500Z" }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			path := buildStore(t, sqlite.Options{}, evs)
			var victim chainlog.StoredEvent
			for _, r := range exportPath(t, path, "") {
				if r.ID == tc.id {
					victim = r
				}
			}
			attack(t, path, rawSQL(`UPDATE events SET `+tc.set+` WHERE id = ?`, tc.arg, tc.id))

			tampered := victim.Event
			tc.edit(&tampered)
			rep := verifyPath(t, path, "")
			wantBreak(t, rep, chainlog.Break{
				NodeID: tc.node, Seq: tc.seq, EventID: tampered.ID, Reason: chainlog.ReasonHashMismatch,
				Expected: storedHash(victim.PrevHash, &tampered), Found: victim.Hash,
			})
			if n := nodeReport(t, rep, "node-b"); n.Status != chainlog.StatusValid {
				t.Errorf("untouched node-b: status = %q; want valid", n.Status)
			}
			if tc.node != "node-a" {
				// The chain the row left has lost its first row.
				n := nodeReport(t, rep, "node-a")
				if n.Break == nil || n.Break.Reason != chainlog.ReasonSeqGap || n.Break.Seq != 2 {
					t.Errorf("node-a after losing its seq 1: break = %+v; want a seq gap at seq 2", n.Break)
				}
			}
		})
	}
}

func TestClawMetryPerNodeScoping(t *testing.T) {
	t.Parallel()
	path := buildStore(t, sqlite.Options{},
		append(mkEvents(t, "node-a", 0, 4), mkEvents(t, "node-b", 0, 3)...))
	victim := chainOf(t, path, "node-a")[1]
	attack(t, path, rawSQL(`UPDATE events SET event_type = 'forged' WHERE id = ?`, victim.ID))

	repB := verifyPath(t, path, "node-b")
	wantValid(t, repB, 3, 0)
	if repB.NodeID != "node-b" || len(repB.Nodes) != 1 || repB.Nodes[0].NodeID != "node-b" {
		t.Errorf("scope, nodes = %q, %+v; want only node-b", repB.NodeID, repB.Nodes)
	}

	tampered := victim.Event
	tampered.EventType = "forged"
	wantA := chainlog.Break{NodeID: "node-a", Seq: 2, EventID: victim.ID, Reason: chainlog.ReasonHashMismatch,
		Expected: chainlog.ChainHash(victim.PrevHash, &tampered), Found: victim.Hash}
	repA := verifyPath(t, path, "node-a")
	wantBreak(t, repA, wantA)
	if len(repA.Nodes) != 1 || repA.Checked != 4 {
		t.Errorf("node-a scope: %d nodes, checked %d; want 1 node, 4 checked", len(repA.Nodes), repA.Checked)
	}
	wantBreak(t, verifyPath(t, path, ""), wantA)

	// A node that does not exist is empty, not an error.
	if rep := verifyPath(t, path, "node-zzz"); rep.Status != chainlog.StatusEmpty {
		t.Errorf("unknown node: status = %q; want %q", rep.Status, chainlog.StatusEmpty)
	}
}

func TestClawMetryPreChainCounting(t *testing.T) {
	t.Parallel()
	path := newStorePath(t)
	off := openStore(t, path, sqlite.Options{DisableIntegrity: true})
	ingest(t, off, append(mkEvents(t, "node-a", 0, 3), mkEvents(t, "node-b", 0, 2)...)...)
	closeStore(t, off)

	on := openStore(t, path, sqlite.Options{})
	ingest(t, on, append(mkEvents(t, "node-a", 3, 7), mkEvents(t, "node-c", 0, 2)...)...)
	closeStore(t, on)

	rep := verifyPath(t, path, "")
	wantValid(t, rep, 6, 5)
	for _, w := range []struct {
		node              string
		checked, preChain int64
		status            string
	}{
		{"node-a", 4, 3, chainlog.StatusValid},
		{"node-b", 0, 2, chainlog.StatusEmpty},
		{"node-c", 2, 0, chainlog.StatusValid},
	} {
		n := nodeReport(t, rep, w.node)
		if n.Checked != w.checked || n.PreChain != w.preChain || n.Status != w.status {
			t.Errorf("node %q: checked, pre_chain, status = %d, %d, %q; want %d, %d, %q",
				w.node, n.Checked, n.PreChain, n.Status, w.checked, w.preChain, w.status)
		}
	}
	// The first stamped row of node-a starts its chain at genesis.
	if first := chainOf(t, path, "node-a")[0]; first.ID != "node-a/3" || first.Seq != 1 || first.PrevHash != chainlog.GenesisHash {
		t.Errorf("first stamped node-a row = (%s, seq %d, %s); want (node-a/3, seq 1, genesis)", first.ID, first.Seq, first.PrevHash)
	}
	// Scoped counts too.
	wantValid(t, verifyPath(t, path, "node-a"), 4, 3)
}

// storedHash is the hash the verifier recomputes for a stored row: its
// identity fields exactly as stored.
func storedHash(prev string, e *chainlog.Event) string {
	var h chainlog.Hasher
	return h.SumStored(prev, e)
}
