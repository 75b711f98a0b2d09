package sqlite_test

import (
	"reflect"
	"testing"

	"chainlog"
	"chainlog/sqlite"
)

func TestIngestRedeliveryIsNoOp(t *testing.T) {
	t.Parallel()
	path := newStorePath(t)
	st := openStore(t, path, sqlite.Options{})
	first := append(mkEvents(t, "node-a", 0, 3), mkEvents(t, "node-b", 0, 2)...)
	ingest(t, st, first...)
	wantHeads := headsOf(t, st)
	wantRows := exportStore(t, st, "")

	// Re-deliver every stored id, each with different content in every
	// field but the id: another node, other identity fields, other
	// mutable fields.
	changed := make([]chainlog.Event, len(first))
	for i, e := range first {
		changed[i] = decode(t, `{"id":"`+e.ID+`","node_id":"node-z","agent_type":"cursor","agent_id":"x",`+
			`"session_id":"other","workspace_id":"other","event_type":"changed","ts":"1999-01-01T00:00:00Z",`+
			`"data":{"changed":true},"cost_usd":9.5,"token_count":99,"model":"gpt-4o"}`)
	}
	for _, tc := range []struct {
		name   string
		events []chainlog.Event
	}{
		{"same content", first},
		{"different content", changed},
		{"one event", changed[2:3]},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := ingest(t, st, tc.events...)
			if want := (chainlog.IngestResult{Duplicates: len(tc.events)}); res != want {
				t.Errorf("ingest result = %+v; want %+v", res, want)
			}
			if got := headsOf(t, st); !reflect.DeepEqual(got, wantHeads) {
				t.Errorf("heads moved:\n got  %+v\n want %+v", got, wantHeads)
			}
			if got := exportStore(t, st, ""); !reflect.DeepEqual(got, wantRows) {
				t.Errorf("export changed:\n got  %+v\n want %+v", got, wantRows)
			}
		})
	}

	// The chain goes on from the unmoved head.
	ingest(t, st, mkEvent(t, "node-a", 3))
	if h := headsOf(t, st)["node-a"]; h.Seq != 4 {
		t.Errorf("node-a head seq after a new event = %d; want 4", h.Seq)
	}
	closeStore(t, st)
	wantValid(t, verifyPath(t, path, ""), 6, 0)
	if got := rawValue(t, path, `SELECT count(*) FROM events WHERE node_id = 'node-z'`); got != "0" {
		t.Errorf("re-delivery created %s node-z rows; want 0", got)
	}
}

func TestIngestDuplicatesInOneBatch(t *testing.T) {
	t.Parallel()
	a0, a1, a2 := mkEvent(t, "node-a", 0), mkEvent(t, "node-a", 1), mkEvent(t, "node-a", 2)
	a0again := a0
	a0again.EventType = "changed"
	a0again.Data = []byte(`{"second":true}`)

	path := newStorePath(t)
	st := openStore(t, path, sqlite.Options{})
	res := ingest(t, st, a0, a1, a0again, a1, a2, a2)
	if want := (chainlog.IngestResult{Inserted: 3, Duplicates: 3}); res != want {
		t.Errorf("ingest result = %+v; want %+v", res, want)
	}
	closeStore(t, st)

	rows := exportPath(t, path, "")
	var ids []string
	for i, r := range rows {
		ids = append(ids, r.ID)
		if r.Seq != int64(i+1) {
			t.Errorf("%s: seq = %d; want %d", r.ID, r.Seq, i+1)
		}
	}
	if want := []string{a0.ID, a1.ID, a2.ID}; !reflect.DeepEqual(ids, want) {
		t.Errorf("stored ids = %q; want %q", ids, want)
	}
	// The first delivery wins.
	if rows[0].EventType != a0.EventType || string(rows[0].Data) != string(a0.Data) {
		t.Errorf("stored %s = (%q, %s); want the first delivery (%q, %s)", a0.ID, rows[0].EventType, rows[0].Data, a0.EventType, a0.Data)
	}
	if h := headsPath(t, path)["node-a"]; h.Seq != 3 || h.Hash != rows[2].Hash {
		t.Errorf("head = (seq %d, %s); want (seq 3, %s)", h.Seq, h.Hash, rows[2].Hash)
	}
	wantValid(t, verifyPath(t, path, ""), 3, 0)
}

func TestIngestMixedBatchAcrossNodes(t *testing.T) {
	t.Parallel()
	path := newStorePath(t)
	st := openStore(t, path, sqlite.Options{})
	ingest(t, st, append(mkEvents(t, "node-a", 0, 3), mkEvents(t, "node-b", 0, 2)...)...)
	before := headsOf(t, st)

	batch := []chainlog.Event{
		mkEvent(t, "node-a", 1), // dup
		mkEvent(t, "node-b", 2), // new
		mkEvent(t, "node-c", 0), // new node
		mkEvent(t, "node-b", 0), // dup
		mkEvent(t, "node-a", 3), // new
		mkEvent(t, "node-c", 0), // dup within the batch
		mkEvent(t, "node-a", 2), // dup
		mkEvent(t, "node-c", 1), // new
	}
	res := ingest(t, st, batch...)
	if want := (chainlog.IngestResult{Inserted: 4, Duplicates: 4}); res != want {
		t.Errorf("ingest result = %+v; want %+v", res, want)
	}
	heads := headsOf(t, st)
	closeStore(t, st)

	for _, w := range []struct {
		node string
		ids  []string
	}{
		{"node-a", []string{"node-a/0", "node-a/1", "node-a/2", "node-a/3"}},
		{"node-b", []string{"node-b/0", "node-b/1", "node-b/2"}},
		{"node-c", []string{"node-c/0", "node-c/1"}},
	} {
		chain := chainOf(t, path, w.node)
		var ids []string
		for i, r := range chain {
			ids = append(ids, r.ID)
			if r.Seq != int64(i+1) {
				t.Errorf("%s: seq = %d; want %d", r.ID, r.Seq, i+1)
			}
		}
		if !reflect.DeepEqual(ids, w.ids) {
			t.Errorf("node %q chain = %q; want %q", w.node, ids, w.ids)
		}
		last := chain[len(chain)-1]
		if h := heads[w.node]; h.Seq != int64(len(w.ids)) || h.Hash != last.Hash {
			t.Errorf("head of %q = (seq %d, %s); want (seq %d, %s)", w.node, h.Seq, h.Hash, len(w.ids), last.Hash)
		}
	}
	// node-a's new row links to its head from before the batch.
	if got, want := chainOf(t, path, "node-a")[3].PrevHash, before["node-a"].Hash; got != want {
		t.Errorf("node-a seq 4 chain_prev_hash = %s; want the old head %s", got, want)
	}
	wantValid(t, verifyPath(t, path, ""), 9, 0)
}

func TestIngestEmptyBatch(t *testing.T) {
	t.Parallel()
	path := newStorePath(t)
	st := openStore(t, path, sqlite.Options{})
	for _, evs := range [][]chainlog.Event{nil, {}} {
		if res := ingest(t, st, evs...); res != (chainlog.IngestResult{}) {
			t.Errorf("Ingest(%v) = %+v; want nothing done", evs, res)
		}
	}
	if heads := headsOf(t, st); len(heads) != 0 {
		t.Errorf("empty batches made heads %+v", heads)
	}
	closeStore(t, st)
	if rep := verifyPath(t, path, ""); rep.Status != chainlog.StatusEmpty {
		t.Errorf("status = %q; want %q", rep.Status, chainlog.StatusEmpty)
	}
}
