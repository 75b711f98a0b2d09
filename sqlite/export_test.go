package sqlite_test

import (
	"errors"
	"reflect"
	"testing"
	"time"

	"chainlog"
	"chainlog/pricing"
	"chainlog/sqlite"
)

func TestExportCommitOrder(t *testing.T) {
	t.Parallel()
	// Arrival order differs from node order, id order and ts order.
	batches := [][]chainlog.Event{
		{mkEvent(t, "node-c", 0), mkEvent(t, "node-a", 5), mkEvent(t, "node-b", 1)},
		{mkEvent(t, "node-a", 0)},
		{mkEvent(t, "node-b", 0), mkEvent(t, "node-c", 3), mkEvent(t, "node-a", 9)},
	}
	var want []string
	for _, b := range batches {
		for _, e := range b {
			want = append(want, e.ID)
		}
	}
	path := buildStore(t, sqlite.Options{}, batches...)

	for _, tc := range []struct {
		node string
		want []string
	}{
		{"", want},
		{"node-a", []string{"node-a/5", "node-a/0", "node-a/9"}},
		{"node-b", []string{"node-b/1", "node-b/0"}},
		{"node-c", []string{"node-c/0", "node-c/3"}},
		{"node-none", nil},
	} {
		t.Run("node="+tc.node, func(t *testing.T) {
			var got []string
			for _, r := range exportPath(t, path, tc.node) {
				got = append(got, r.ID)
				if tc.node != "" && r.NodeID != tc.node {
					t.Errorf("%s: node %q in an export of %q", r.ID, r.NodeID, tc.node)
				}
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("export order = %q; want %q", got, tc.want)
			}
		})
	}
}

// TestExportAllColumns checks that Export gives back every column exactly
// as stored: identity, mutable fields, created_at and the chain stamp, with
// NULL and "" kept apart.
func TestExportAllColumns(t *testing.T) {
	t.Parallel()
	start := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	tick := 0
	clock := func() time.Time { tick++; return start.Add(time.Duration(tick) * time.Second) }

	full := decode(t, `{"id":"full","node_id":"node-a","agent_type":"claude_code","agent_id":"planner",`+
		`"session_id":"s-1","workspace_id":"/w/é","event_type":"llm_usage","ts":"2026-02-01T10:00:00.5+01:00",`+
		`"data":{"b": [1, 2], "a": "x"},"cost_usd":0.0125,"token_count":4096,"model":"claude-sonnet-4"}`)
	bare := decode(t, `{"id":"bare","node_id":"node-a","event_type":"ping","ts":"2026-02-01T10:00:01Z"}`)
	empty := decode(t, `{"id":"empty","node_id":"node-a","event_type":"ping","ts":"2026-02-01T10:00:02Z",`+
		`"session_id":"","workspace_id":"","model":"","data":"","cost_usd":0,"token_count":0}`)
	offRow := decode(t, `{"id":"off","node_id":"node-b","event_type":"ping","ts":"2026-02-01T10:00:03Z"}`)

	path := newStorePath(t)
	// A row written with integrity off comes before the chains begin.
	st := openStore(t, path, sqlite.Options{Now: clock, DisableIntegrity: true})
	ingest(t, st, offRow)
	closeStore(t, st)
	st = openStore(t, path, sqlite.Options{Now: clock})
	ingest(t, st, full, bare, empty)
	closeStore(t, st)

	h1 := chainlog.ChainHash(chainlog.GenesisHash, &full)
	h2 := chainlog.ChainHash(h1, &bare)
	h3 := chainlog.ChainHash(h2, &empty)
	// created_at is the time of the batch's transaction.
	want := []chainlog.StoredEvent{
		{Event: offRow, CreatedAt: "2026-03-01T12:00:01.000000Z"},
		{Event: full, CreatedAt: "2026-03-01T12:00:02.000000Z", Seq: 1, PrevHash: chainlog.GenesisHash, Hash: h1},
		{Event: bare, CreatedAt: "2026-03-01T12:00:02.000000Z", Seq: 2, PrevHash: h1, Hash: h2},
		{Event: empty, CreatedAt: "2026-03-01T12:00:02.000000Z", Seq: 3, PrevHash: h2, Hash: h3},
	}
	got := exportPath(t, path, "")
	if len(got) != len(want) {
		t.Fatalf("exported %d rows; want %d", len(got), len(want))
	}
	for i, w := range want {
		g := got[i]
		if !reflect.DeepEqual(g.Event, w.Event) || g.CreatedAt != w.CreatedAt ||
			g.Seq != w.Seq || g.PrevHash != w.PrevHash || g.Hash != w.Hash {
			t.Errorf("row %s:\n got  %s\n want %s", w.ID, dump(g), dump(w))
		}
	}
	// Spot-check the NULL/"" distinction in the columns themselves.
	for _, c := range []struct{ q, want string }{
		{`SELECT quote(session_id) || quote(workspace_id) || quote(model) || quote(data) || quote(cost_usd) || quote(token_count) FROM events WHERE id = 'bare'`,
			"NULLNULLNULLNULLNULLNULL"},
		{`SELECT quote(session_id) || quote(workspace_id) || quote(model) || quote(data) || quote(cost_usd) || quote(token_count) FROM events WHERE id = 'empty'`,
			`''` + `''` + `''` + `'""'` + `0.0` + `0`},
		{`SELECT quote(chain_seq) || quote(chain_prev_hash) || quote(chain_hash) FROM events WHERE id = 'off'`, "NULLNULLNULL"},
		{`SELECT data FROM events WHERE id = 'full'`, `{"b":[1,2],"a":"x"}`},
	} {
		if got := rawValue(t, path, c.q); got != c.want {
			t.Errorf("%s = %s; want %s", c.q, got, c.want)
		}
	}
}

func dump(e chainlog.StoredEvent) string {
	s := func(p *string) string {
		if p == nil {
			return "NULL"
		}
		return "'" + *p + "'"
	}
	return "id=" + e.ID + " agent_type=" + e.AgentType + " node=" + e.NodeID + " agent_id=" + e.AgentID +
		" session=" + s(e.SessionID) + " workspace=" + s(e.WorkspaceID) + " type=" + e.EventType + " ts=" + e.TS +
		" data=" + string(e.Data) + " cost=" + fmtAny(fmtPtr(e.CostUSD)) + " tokens=" + fmtAny(fmtPtr(e.TokenCount)) +
		" model=" + s(e.Model) + " created=" + e.CreatedAt + " seq=" + fmtAny(e.Seq) + " prev=" + e.PrevHash + " hash=" + e.Hash
}

func TestExportStopsOnCallbackError(t *testing.T) {
	t.Parallel()
	path := buildStore(t, sqlite.Options{}, mkEvents(t, "node-a", 0, 5))
	st := openRO(t, path)
	stop := errors.New("stop")
	n := 0
	err := st.Export(t.Context(), "", func(*chainlog.StoredEvent) error {
		n++
		if n == 2 {
			return stop
		}
		return nil
	})
	if !errors.Is(err, stop) || n != 2 {
		t.Errorf("Export returned %v after %d rows; want the callback's error after 2", err, n)
	}
	// The store is usable afterwards.
	if rows := exportStore(t, st, ""); len(rows) != 5 {
		t.Errorf("next export gave %d rows; want 5", len(rows))
	}
}

// TestBackfillCostsAcrossChunks backfills more rows than one backfill
// transaction handles, with rows that need no cost in between.
func TestBackfillCostsAcrossChunks(t *testing.T) {
	t.Parallel()
	const n = 2100
	usage := `{"model":"claude-sonnet-4","usage":{"input_tokens":1000,"output_tokens":200}}`
	var evs []chainlog.Event
	for i := range n {
		line := `{"id":"e` + fmtAny(i) + `","node_id":"node-` + fmtAny(i%3) + `","event_type":"llm_usage","ts":"2026-02-01T10:00:00Z","data":` + usage
		if i%10 == 0 { // already costed
			line += `,"cost_usd":1`
		}
		evs = append(evs, decode(t, line+`}`))
	}
	path := newStorePath(t)
	st := openStore(t, path, sqlite.Options{})
	ingest(t, st, evs...)
	res, err := st.BackfillCosts(t.Context(), pricing.Default())
	if err != nil {
		t.Fatalf("BackfillCosts: %v", err)
	}
	if want := (sqlite.BackfillResult{Costed: n - n/10, TokensFilled: n - n/10}); res != want {
		t.Errorf("backfill result = %+v; want %+v", res, want)
	}
	// A second run finds nothing left to do.
	res, err = st.BackfillCosts(t.Context(), pricing.Default())
	if err != nil || res != (sqlite.BackfillResult{}) {
		t.Errorf("second backfill = %+v, %v; want nothing done", res, err)
	}
	closeStore(t, st)
	if got := rawValue(t, path, `SELECT count(*) FROM events WHERE node_id != ? AND (cost_usd IS NULL OR (token_count IS NULL AND cost_usd != 1))`, chainlog.AnchorNode); got != "0" {
		t.Errorf("%s rows left without cost or tokens; want 0", got)
	}
	// One anchor a chunk that amended: 1,890 rows without a cost, 1,000 a
	// chunk.
	wantValidAnchored(t, verifyPath(t, path, ""), n, 0, 2)
}
