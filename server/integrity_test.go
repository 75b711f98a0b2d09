package server_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"chainlog"
	"chainlog/server"
	"chainlog/sqlite"
)

// countingReader is the daemon's read-only store, counting the rows the
// Monitor reads through the range scans.
type countingReader struct {
	*sqlite.Store
	chainRows atomic.Int64
	leafRows  atomic.Int64
	wholeRows atomic.Int64 // rows read by whole-store verifications
}

func (c *countingReader) ScanCommitOrder(ctx context.Context, buf []chainlog.CommitRow, fn func([]chainlog.CommitRow) ([]chainlog.CommitRow, error)) error {
	return c.Store.ScanCommitOrder(ctx, buf, func(rows []chainlog.CommitRow) ([]chainlog.CommitRow, error) {
		c.wholeRows.Add(int64(len(rows)))
		return fn(rows)
	})
}

func (c *countingReader) ScanChainRange(ctx context.Context, nodeID string, afterSeq, uptoSeq int64, fn func(*chainlog.StoredEvent) error) error {
	return c.Store.ScanChainRange(ctx, nodeID, afterSeq, uptoSeq, func(e *chainlog.StoredEvent) error {
		c.chainRows.Add(1)
		return fn(e)
	})
}

func (c *countingReader) ScanLeafRange(ctx context.Context, afterLeaf, uptoLeaf int64, fn func(int64, *chainlog.Leaf) error) error {
	return c.Store.ScanLeafRange(ctx, afterLeaf, uptoLeaf, func(i int64, l *chainlog.Leaf) error {
		c.leafRows.Add(1)
		return fn(i, l)
	})
}

func getReport(t *testing.T, d *daemon, query string) (*chainlog.Report, []byte) {
	t.Helper()
	r := d.get(t, "/v1/integrity"+query)
	if r.status != http.StatusOK {
		t.Fatalf("GET /v1/integrity%s = %s", query, r)
	}
	var rep chainlog.Report
	decodeJSON(t, r, &rep)
	return &rep, r.body
}

// integrityFixture posts events of three nodes and amends two of them.
func integrityFixture(t *testing.T, cfg daemonConfig) *daemon {
	t.Helper()
	d := newDaemon(t, cfg)
	for _, batch := range [][]spec{specs("n1", 0, 12), specs("n2", 0, 7), specs("n3", 0, 4), specs("n1", 12, 20)} {
		wantPosted(t, d.post(t, specArray(batch)), postResult{len(batch), 0})
	}
	model := "m2"
	for _, id := range []string{"n1/3", "n2/5"} {
		_, err := d.store.Amend(t.Context(), sqlite.AmendRequest{EventID: id, Kind: chainlog.KindAmend,
			Patch:  chainlog.Patch{Set: []string{chainlog.FieldModel}, Values: chainlog.Mutable{Model: &model}},
			Reason: "model was wrong", Actor: "test"})
		if err != nil {
			t.Fatalf("Amend(%s): %v", id, err)
		}
	}
	return d
}

// TestIntegrityReport: the daemon's report is verify-integrity --json's,
// field for field, for the whole store and for one node.
func TestIntegrityReport(t *testing.T) {
	t.Parallel()
	d := integrityFixture(t, daemonConfig{})
	for _, q := range []struct{ query, node string }{
		{"", ""}, {"?node_id=n2", "n2"}, {"?node_id=n3", "n3"},
		{"?full=1", ""}, {"?full=1&node_id=n1", "n1"},
	} {
		t.Run(q.query, func(t *testing.T) {
			_, body := getReport(t, d, q.query)
			var fields map[string]json.RawMessage
			if err := json.Unmarshal(body, &fields); err != nil {
				t.Fatal(err)
			}
			for _, f := range []string{"status", "node_id", "checked", "pre_chain", "payloads_checked",
				"payloads_unsealed", "broken_at", "error", "amendments", "tree", "nodes"} {
				if _, ok := fields[f]; !ok {
					t.Errorf("report has no %q: %s", f, body)
				}
			}
			wantReportJSON(t, body, verifyPath(t, d.path, q.node))
		})
	}
	// 31 events and the two amendments' anchor events, on their own node.
	rep, _ := getReport(t, d, "")
	if rep.Status != chainlog.StatusValid || rep.NodeID != chainlog.ScopeAll || rep.Checked != 33 ||
		rep.Amendments.Checked != 2 || rep.Amendments.Anchors != 2 || rep.Tree == nil || rep.Tree.Leaves != 33 || len(rep.Nodes) != 4 ||
		rep.BrokenAt != nil || rep.Error != nil || rep.PayloadsChecked != 33 {
		t.Errorf("report = %+v; want valid, all, 33 checked, 2 amendments and their anchors, 33 leaves, 4 nodes", rep)
	}
	rep, _ = getReport(t, d, "?node_id=n3")
	if rep.NodeID != "n3" || rep.Checked != 4 || len(rep.Nodes) != 1 || rep.Status != chainlog.StatusValid {
		t.Errorf("n3 report = %+v; want n3, 4 checked, valid", rep)
	}
	// A node the store does not have is 404, with the nodes it has.
	r := d.get(t, "/v1/integrity?node_id=ghost")
	if b := wantError(t, r, http.StatusNotFound); b.Error != `no such node: "ghost"; nodes in the store: chainlog:amendments, n1, n2, n3` {
		t.Errorf("ghost: error %q", b.Error)
	}
}

// TestIntegrityIncremental: after k new events, a check reads about k rows;
// ?full=1 reads them all again.
func TestIntegrityIncremental(t *testing.T) {
	t.Parallel()
	var cr *countingReader
	d := integrityFixture(t, daemonConfig{Reader: func(st *sqlite.Store) server.Reader {
		cr = &countingReader{Store: st}
		return cr
	}})
	check := func(query string, wantChecked, wantRead, wantLeaves int64) {
		t.Helper()
		before, leavesBefore, wholeBefore := cr.chainRows.Load(), cr.leafRows.Load(), cr.wholeRows.Load()
		rep, _ := getReport(t, d, query)
		if rep.Status != chainlog.StatusValid || rep.Checked != wantChecked {
			t.Fatalf("GET /v1/integrity%s: %s, %d checked; want valid, %d", query, rep.Status, rep.Checked, wantChecked)
		}
		// ?full=1 verifies the whole store as verify-integrity does, in one
		// pass over the table; the incremental checks never do.
		wantWhole := int64(0)
		if strings.Contains(query, "full=1") {
			wantWhole, wantRead, wantLeaves = wantRead, 0, 0
		}
		if got := cr.wholeRows.Load() - wholeBefore; got != wantWhole {
			t.Errorf("GET /v1/integrity%s read %d rows in a whole-store pass; want %d", query, got, wantWhole)
		}
		if got := cr.chainRows.Load() - before; got != wantRead {
			t.Errorf("GET /v1/integrity%s read %d chain rows; want %d", query, got, wantRead)
		}
		if got := cr.leafRows.Load() - leavesBefore; got != wantLeaves {
			t.Errorf("GET /v1/integrity%s read %d leaves; want %d", query, got, wantLeaves)
		}
	}
	// 31 events and 2 anchor events.
	check("", 33, 33, 33) // the first check starts at genesis
	check("", 33, 0, 0)
	for _, k := range []int{1, 7, 40} {
		wantPosted(t, d.post(t, specArray(specs("n2", 100*k, 100*k+k))), postResult{k, 0})
		total := int64(33)
		for _, x := range []int{1, 7, 40} {
			total += int64(x)
			if x == k {
				break
			}
		}
		check("", total, int64(k), int64(k))
	}
	check("?node_id=n3", 4, 0, 0) // a scoped check still advances only over new rows
	check("?full=1", 81, 81, 81)
	check("", 81, 0, 0)
	check("?full=1&node_id=n2", 55, 81, 81)
}

// TestIntegrityTamper changes the store through a separate connection
// while the daemon runs: an incremental check does not re-read what it
// verified, ?full=1 does and reports what verify-integrity reports.
func TestIntegrityTamper(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		sql   []string
		trail string
		node  string
		seq   int64
		event string
		why   string
		// cli, when set, is verify-integrity's break where it differs
		// from the daemon's; else the two reports must be identical.
		cli *chainlog.Break
	}{
		{name: "identity altered", sql: []string{`UPDATE events SET agent_id = 'mallory' WHERE id = 'n1/4'`},
			node: "n1", seq: 5, event: "n1/4", why: chainlog.ReasonHashMismatch},
		{name: "payload altered", sql: []string{`UPDATE events SET cost_usd = 99 WHERE id = 'n2/1'`},
			node: "n2", seq: 2, event: "n2/1", why: chainlog.ReasonPayloadChanged},
		{name: "amended payload altered", sql: []string{`UPDATE events SET model = 'm3' WHERE id = 'n1/3'`},
			node: "n1", seq: 4, event: "n1/3", why: chainlog.ReasonPayloadChanged},
		{name: "row deleted", sql: []string{`DELETE FROM events WHERE id = 'n3/1'`},
			node: "n3", seq: 3, event: "n3/2", why: chainlog.ReasonSeqGap},
		{name: "row hidden", sql: []string{`UPDATE events SET chain_hash = NULL WHERE id = 'n2/6'`},
			node: "n2", seq: 7, event: "n2/6", why: chainlog.ReasonHiddenRow},
		{name: "amendment edited", sql: []string{`UPDATE amendments SET reason = 'nothing to see' WHERE seq = 1`},
			trail: chainlog.TrailAmendments, seq: 1, event: "n1/3", why: chainlog.ReasonAmendHash},
		{name: "forged row without seq", sql: []string{`INSERT INTO events (id, node_id, event_type, ts, created_at, chain_prev_hash, chain_hash)
			VALUES ('forged', 'n2', 'tool_call', 't', 'c', '` + chainlog.GenesisHash + `', 'abc')`},
			node: "n2", seq: 0, event: "forged", why: chainlog.ReasonNoSeq},
		// A rewritten row hidden from the (node_id, chain_seq) index, with
		// a copy of the original taking its place there: the whole-store
		// verification reads the table, not the index.
		{name: "row rewritten and hidden from the chain index", sql: []string{
			`DROP INDEX events_node_seq`,
			`INSERT INTO events (id, agent_type, node_id, agent_id, session_id, workspace_id, event_type, ts, data, cost_usd,
				token_count, model, created_at, chain_seq, chain_prev_hash, chain_hash, payload_digest)
				SELECT id, agent_type, node_id, agent_id, session_id, workspace_id, event_type, ts, data, cost_usd,
				token_count, model, created_at, chain_seq, chain_prev_hash, chain_hash, payload_digest FROM events WHERE id = 'n1/2'`,
			`UPDATE events SET agent_id = 'mallory' WHERE rowid = (SELECT min(rowid) FROM events WHERE id = 'n1/2')`,
			`CREATE UNIQUE INDEX events_node_seq ON events (node_id, chain_seq) WHERE agent_id != 'mallory'`,
			`PRAGMA writable_schema = ON`,
			`UPDATE sqlite_master SET sql = 'CREATE UNIQUE INDEX events_node_seq ON events (node_id, chain_seq)' WHERE name = 'events_node_seq'`,
		}, node: "n1", seq: 3, event: "n1/2", why: chainlog.ReasonHashMismatch},
		{name: "leaf renumbered", sql: []string{`UPDATE events SET leaf_index = leaf_index + 1000 WHERE id = 'n3/0'`},
			trail: chainlog.TrailTree, seq: 19, why: chainlog.ReasonLeafMissing},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			d := integrityFixture(t, daemonConfig{})
			if rep, _ := getReport(t, d, ""); rep.Status != chainlog.StatusValid {
				t.Fatalf("before tampering: %s", rep.Status)
			}
			execSQL(t, rawConn(t, d.path), tt.sql...)
			// More traffic after the tampering is still verified.
			wantPosted(t, d.post(t, specArray(specs("n4", 0, 3))), postResult{3, 0})
			// 34 events and the fixture's two anchor events.
			if rep, _ := getReport(t, d, ""); rep.Checked != 34+2 {
				t.Errorf("incremental check after tampering: %d checked; want 34+2", rep.Checked)
			}
			rep, body := getReport(t, d, "?full=1")
			b := rep.BrokenAt
			if rep.Status != chainlog.StatusInvalid || b == nil || rep.Error == nil {
				t.Fatalf("full check: %s; want invalid", body)
			}
			if b.Trail != tt.trail || b.NodeID != tt.node || b.Seq != tt.seq || b.EventID != tt.event || b.Reason != tt.why {
				t.Errorf("broken_at = %+v; want trail %q node %q seq %d event %q: %s", b, tt.trail, tt.node, tt.seq, tt.event, tt.why)
			}
			if tt.cli == nil {
				wantReportJSON(t, body, verifyPath(t, d.path, ""))
			} else if c := verifyPath(t, d.path, "").BrokenAt; c == nil || c.Trail != tt.cli.Trail || c.Seq != tt.cli.Seq || c.Reason != tt.cli.Reason {
				t.Errorf("verify-integrity broken_at = %+v; want %+v", c, tt.cli)
			}
			// The break stays reported by the incremental checks that follow.
			if rep, _ := getReport(t, d, ""); rep.Status != chainlog.StatusInvalid {
				t.Errorf("incremental check after a full one found the break: %s; want invalid", rep.Status)
			}
		})
	}
}

// TestIntegrityTamperedCopy tampers with a closed store file, then starts
// a daemon on it: its first check, from genesis, finds the break.
func TestIntegrityTamperedCopy(t *testing.T) {
	t.Parallel()
	d := integrityFixture(t, daemonConfig{})
	path := d.path
	d.ts.Close()
	d.writer.Close()
	d.ro.Close()
	if err := d.store.Close(); err != nil {
		t.Fatal(err)
	}
	conn := rawConn(t, path)
	execSQL(t, conn, `UPDATE events SET ts = '2020-01-01T00:00:00Z' WHERE id = 'n2/3'`)
	conn.Close()

	d2 := newDaemonAt(t, path, daemonConfig{})
	rep, body := getReport(t, d2, "")
	if rep.Status != chainlog.StatusInvalid || rep.BrokenAt == nil || rep.BrokenAt.EventID != "n2/3" ||
		rep.BrokenAt.Reason != chainlog.ReasonHashMismatch {
		t.Fatalf("report = %s; want invalid at n2/3, hash mismatch", body)
	}
	wantReportJSON(t, body, verifyPath(t, path, ""))
	if rep, _ := getReport(t, d2, "?node_id=n1"); rep.Status != chainlog.StatusValid {
		t.Errorf("node n1, untouched: %s; want valid", rep.Status)
	}
	if rep, _ := getReport(t, d2, "?node_id=n2"); rep.Status != chainlog.StatusInvalid {
		t.Errorf("node n2: %s; want invalid", rep.Status)
	}
	if got := storedIDs(t, path); !slices.Contains(got, "n2/3") {
		t.Errorf("the tampered row is gone")
	}
}

// TestIntegrityPreChainRows runs the daemon on a store whose first rows
// were written without integrity (as an upgraded ClawMetry store has them):
// the daemon's report is verify-integrity's, an amended pre-chain row's
// payload included, and a full check sees such a payload changed.
func TestIntegrityPreChainRows(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "chainlog.db")
	st, err := sqlite.Open(t.Context(), path, sqlite.Options{DisableIntegrity: true})
	if err != nil {
		t.Fatal(err)
	}
	var pre []chainlog.Event
	for _, s := range append(specs("n1", 0, 3), specs("old", 0, 2)...) {
		e, err := chainlog.DecodeEvent([]byte(s.JSON()), "")
		if err != nil {
			t.Fatal(err)
		}
		pre = append(pre, e)
	}
	if _, err := st.Ingest(t.Context(), pre); err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}

	d := newDaemonAt(t, path, daemonConfig{})
	wantPosted(t, d.post(t, specArray(specs("n1", 3, 6))), postResult{3, 0})
	model := "m9"
	for _, id := range []string{"n1/1", "old/0", "n1/4"} {
		_, err := d.store.Amend(t.Context(), sqlite.AmendRequest{EventID: id, Kind: chainlog.KindAmend,
			Patch: chainlog.Patch{Set: []string{chainlog.FieldModel}, Values: chainlog.Mutable{Model: &model}}, Reason: "fix", Actor: "test"})
		if err != nil {
			t.Fatalf("Amend(%s): %v", id, err)
		}
	}
	rep, body := getReport(t, d, "")
	if rep.Status != chainlog.StatusValid || rep.Checked != 3+3 || rep.PreChain != 5 || rep.PayloadsChecked != 5+3 || rep.Amendments.Anchors != 3 {
		t.Errorf("report = %s; want valid, 3+3 checked (and the 3 anchors), 5 pre-chain, 5+3 payloads (3 stamped, 2 amended pre-chain, 3 anchors)", body)
	}
	wantReportJSON(t, body, verifyPath(t, path, ""))
	_, body = getReport(t, d, "?node_id=old")
	wantReportJSON(t, body, verifyPath(t, path, "old"))

	execSQL(t, rawConn(t, path), `UPDATE events SET model = 'evil' WHERE id = 'old/0'`)
	rep, body = getReport(t, d, "?full=1")
	if b := rep.BrokenAt; rep.Status != chainlog.StatusInvalid || b == nil || b.EventID != "old/0" || b.Reason != chainlog.ReasonPayloadChanged {
		t.Errorf("full check = %s; want invalid at old/0, payload changed", body)
	}
	wantReportJSON(t, body, verifyPath(t, path, ""))
}

// amendingReader amends an event from inside the Monitor's scan of node,
// as `chainlog amend` could while the daemon verifies.
type amendingReader struct {
	*sqlite.Store
	writer *sqlite.Store
	node   string
	id     string
	done   bool
	err    error
}

func (a *amendingReader) ScanChainRange(ctx context.Context, nodeID string, afterSeq, uptoSeq int64, fn func(*chainlog.StoredEvent) error) error {
	return a.Store.ScanChainRange(ctx, nodeID, afterSeq, uptoSeq, func(e *chainlog.StoredEvent) error {
		if nodeID == a.node && !a.done {
			a.done = true
			model := "amended"
			_, a.err = a.writer.Amend(ctx, sqlite.AmendRequest{EventID: a.id, Kind: chainlog.KindAmend,
				Patch:  chainlog.Patch{Set: []string{chainlog.FieldModel}, Values: chainlog.Mutable{Model: &model}},
				Reason: "enrich", Actor: "test"})
		}
		return fn(e)
	})
}

// TestIntegrityFirstAmendmentDuringScan: the store's first amendment
// commits while a long check scans (its rows are read in chunks, each its
// own read transaction); the amended row, read after, is still verified
// against the amendment's digest, not reported as changed.
func TestIntegrityFirstAmendmentDuringScan(t *testing.T) {
	t.Parallel()
	const n = 10050 // more than one scan chunk
	var ar *amendingReader
	d := newDaemon(t, daemonConfig{Reader: func(st *sqlite.Store) server.Reader {
		ar = &amendingReader{Store: st, node: "big", id: fmt.Sprint("big/", n-1)}
		return ar
	}})
	ar.writer = d.store
	for from := 0; from < n; from += 2000 {
		batch := specs("big", from, min(from+2000, n))
		wantPosted(t, d.do(t, http.MethodPost, "/v1/events", []byte(ndjson(batch)), "Content-Type", "application/x-ndjson"), postResult{len(batch), 0})
	}
	rep, body := getReport(t, d, "")
	if ar.err != nil || !ar.done {
		t.Fatalf("amend during the scan: done %v, %v", ar.done, ar.err)
	}
	if rep.Status != chainlog.StatusValid {
		t.Errorf("check during the first amendment: %s", body)
	}
	if rep, _ := getReport(t, d, "?full=1"); rep.Status != chainlog.StatusValid || rep.Amendments.Checked != 1 {
		t.Errorf("full check after: %s, %d amendments; want valid, 1", rep.Status, rep.Amendments.Checked)
	}
}
