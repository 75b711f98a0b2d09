package sqlite_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"chainlog"
	"chainlog/sqlite"
)

// dayEvents returns n events of node, the i-th at day i of June 2026, with
// a payload to prune.
func dayEvents(t *testing.T, node string, from, n int) []chainlog.Event {
	t.Helper()
	var evs []chainlog.Event
	for i := from; i < from+n; i++ {
		ts := time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC).AddDate(0, 0, i).Format(time.RFC3339)
		evs = append(evs, decode(t, fmt.Sprintf(`{"id":"%s/%d","node_id":%q,"agent_type":"claude_code","agent_id":"a",`+
			`"session_id":"s-%d","event_type":"tool_call","ts":%q,"data":{"prompt":"secret %d"},"cost_usd":0.5}`,
			node, i, node, i/5, ts, i)))
	}
	return evs
}

// June returns midnight of the given day of June 2026.
func june(day int) time.Time { return time.Date(2026, 6, day, 0, 0, 0, 0, time.UTC) }

// prunedStore has nodes a (20 events) and b (10), interleaved, one of a's
// early events amended, and a prune before June 11: a seq 1-10 and b seq
// 1-10 (all of b).
func prunedStore(t *testing.T) (string, []chainlog.Amendment) {
	t.Helper()
	path := newStorePath(t)
	st := openStore(t, path, sqlite.Options{})
	ingest(t, st, dayEvents(t, "node-a", 0, 10)...)
	ingest(t, st, dayEvents(t, "node-b", 0, 10)...)
	ingest(t, st, dayEvents(t, "node-a", 10, 10)...)
	mustAmend(t, st, amendReq("node-a/3", "enrich", chainlog.Patch{Set: []string{"model"}, Values: chainlog.Mutable{Model: ptr("m1")}}))
	cuts, err := st.PlanPrune(t.Context(), june(11), "")
	if err != nil {
		t.Fatal(err)
	}
	want := []chainlog.PruneCut{{NodeID: "node-a", FirstSeq: 1, LastSeq: 10}, {NodeID: "node-b", FirstSeq: 1, LastSeq: 10}}
	if len(cuts) != 2 || cuts[0].NodeID != want[0].NodeID || cuts[0].LastSeq != 10 || cuts[1].LastSeq != 10 || cuts[0].FirstSeq != 1 {
		t.Fatalf("PlanPrune = %+v; want %+v", cuts, want)
	}
	recs, err := st.Prune(t.Context(), chainlog.PruneRequest{Cuts: cuts, Before: june(11), Reason: "policy 180d", Actor: "retention"})
	if err != nil {
		t.Fatal(err)
	}
	closeStore(t, st)
	return path, recs
}

func TestPruneVerifies(t *testing.T) {
	t.Parallel()
	path, recs := prunedStore(t)
	if len(recs) != 2 || recs[0].Kind != chainlog.KindPrune || recs[0].Prune == nil || recs[0].Prune.Count != 10 {
		t.Fatalf("records = %+v", recs)
	}
	rep := verifyPath(t, path, "")
	if rep.Status != chainlog.StatusValid {
		t.Fatalf("after prune: %s (%v)", rep.Status, rep.BrokenAt)
	}
	// 10 of a's events remain, and the two anchors of the amend and the
	// prune.
	if rep.Pruned != 20 || rep.Checked != 12 || len(rep.Prunes) != 2 {
		t.Errorf("pruned %d, checked %d, prunes %+v; want 20, 12, 2 records", rep.Pruned, rep.Checked, rep.Prunes)
	}
	if s := rep.Prunes[0].String(); !strings.Contains(s, "10 events (node-a seq 1-10, before 2026-06-11T00:00:00Z)") || !strings.Contains(s, "by retention: policy 180d") {
		t.Errorf("summary %q", s)
	}
	if got := nodeReport(t, rep, "node-b"); got.Status != chainlog.StatusValid || got.Pruned != 10 || got.HeadSeq != 10 {
		t.Errorf("node-b: %+v; want valid, 10 pruned", got)
	}
	// Walked node by node, the same.
	ro := openRO(t, path)
	defer closeStore(t, ro)
	walk, err := chainlog.VerifyStore(t.Context(), ro, chainlog.VerifyOptions{Walk: true})
	if err != nil || walk.Status != chainlog.StatusValid || walk.Pruned != 20 {
		t.Errorf("walk: %v, %+v", err, walk)
	}
	// The data is gone; the husks keep no payload, and readers leave
	// them out.
	if n := rawValue(t, path, `SELECT count(*) FROM events WHERE data LIKE '%secret%' AND node_id = 'node-b'`); n != "0" {
		t.Errorf("%s of node-b's payloads remain", n)
	}
	if _, err := ro.Event(t.Context(), "node-a/3"); !errors.Is(err, chainlog.ErrPruned) {
		t.Errorf("Event(pruned) = %v; want ErrPruned", err)
	}
	if _, _, _, err := ro.ProveEvent(t.Context(), "node-a/3", 100); !errors.Is(err, chainlog.ErrPruned) {
		t.Errorf("ProveEvent(pruned) = %v; want ErrPruned", err)
	}
	if got := exportStore(t, ro, ""); len(got) != 12 {
		t.Errorf("export: %d events; want 12 (10 of node-a, 2 anchors)", len(got))
	}
	// A second prune continues the first; a plan with nothing to prune
	// is empty.
	st := openStore(t, path, sqlite.Options{})
	defer closeStore(t, st)
	if _, err := st.Prune(t.Context(), chainlog.PruneRequest{Cuts: []chainlog.PruneCut{{NodeID: "node-a", FirstSeq: 1, LastSeq: 12, Anchor: rawValue(t, path, `SELECT chain_hash FROM events WHERE node_id = 'node-a' AND chain_seq = 12`)}},
		Before: june(14), Reason: "again", Actor: "x"}); err == nil || !strings.Contains(err.Error(), "prefix") {
		t.Errorf("prune of pruned seqs: %v; want the prefix rule", err)
	}
	cuts, err := st.PlanPrune(t.Context(), june(14), "node-a")
	if err != nil || len(cuts) != 1 || cuts[0].FirstSeq != 11 || cuts[0].LastSeq != 13 {
		t.Fatalf("second plan = %+v, %v; want node-a 11-13", cuts, err)
	}
	if _, err := st.Prune(t.Context(), chainlog.PruneRequest{Cuts: cuts, Before: june(14), Reason: "policy", Actor: "retention"}); err != nil {
		t.Fatal(err)
	}
	if cuts, err := st.PlanPrune(t.Context(), june(14), ""); err != nil || len(cuts) != 0 {
		t.Errorf("third plan = %+v, %v; want none", cuts, err)
	}
	closeStore(t, st)
	if rep := verifyPath(t, path, ""); rep.Status != chainlog.StatusValid || rep.Pruned != 23 {
		t.Errorf("after the second prune: %s, %d pruned (%v)", rep.Status, rep.Pruned, rep.BrokenAt)
	}
}

// TestPruneRefusesMiddle: only a prefix can be pruned, and the anchor must
// be what the surviving chain links to.
func TestPruneRefusesMiddle(t *testing.T) {
	t.Parallel()
	path := newStorePath(t)
	st := openStore(t, path, sqlite.Options{})
	defer closeStore(t, st)
	ingest(t, st, dayEvents(t, "n", 0, 10)...)
	hash := func(seq int) string {
		return rawValue(t, path, `SELECT chain_hash FROM events WHERE chain_seq = ?1`, seq)
	}
	for _, tt := range []struct {
		name string
		cut  chainlog.PruneCut
		msg  string
	}{
		{"middle", chainlog.PruneCut{NodeID: "n", FirstSeq: 4, LastSeq: 6, Anchor: hash(6)}, "only a prefix"},
		{"wrong anchor", chainlog.PruneCut{NodeID: "n", FirstSeq: 1, LastSeq: 6, Anchor: hash(5)}, "is not what the surviving chain links to"},
		{"beyond the head", chainlog.PruneCut{NodeID: "n", FirstSeq: 1, LastSeq: 11, Anchor: hash(10)}, "is not what the surviving chain links to"},
		{"reserved node", chainlog.PruneCut{NodeID: chainlog.AnchorNode, FirstSeq: 1, LastSeq: 1, Anchor: hash(1)}, "reserved"},
	} {
		_, err := st.Prune(t.Context(), chainlog.PruneRequest{Cuts: []chainlog.PruneCut{tt.cut}, Before: june(30), Reason: "r", Actor: "a"})
		if err == nil || !strings.Contains(err.Error(), tt.msg) {
			t.Errorf("%s: %v; want an error containing %q", tt.name, err, tt.msg)
		}
	}
	if rep := verifyPath(t, path, ""); rep.Status != chainlog.StatusValid || rep.Pruned != 0 || rep.Checked != 10 {
		t.Errorf("after refused prunes: %s, %d pruned, %d checked", rep.Status, rep.Pruned, rep.Checked)
	}
}

// TestPruneTampering: a pruned store is VALID only as the prune left it.
func TestPruneTampering(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name   string
		stmts  func(t *testing.T, path string) []rawStmt
		reason string
		trail  string // the trail's own break, when the chains break first
	}{
		{"husk deleted", func(t *testing.T, path string) []rawStmt {
			return []rawStmt{rawSQL(`DELETE FROM events WHERE node_id = 'node-a' AND chain_seq = 4`)}
		}, chainlog.ReasonSeqGap, ""},
		{"surviving event deleted", func(t *testing.T, path string) []rawStmt {
			return []rawStmt{rawSQL(`DELETE FROM events WHERE node_id = 'node-a' AND chain_seq = 15`)}
		}, chainlog.ReasonSeqGap, ""},
		{"events deleted without a record", func(t *testing.T, path string) []rawStmt {
			return []rawStmt{rawSQL(`DELETE FROM events WHERE node_id = 'node-a' AND chain_seq BETWEEN 11 AND 13`)}
		}, chainlog.ReasonSeqGap, ""},
		{"range extended", func(t *testing.T, path string) []rawStmt {
			return []rawStmt{rawSQL(`UPDATE prune_ranges SET last_seq = 12, count = 12 WHERE node_id = 'node-a'`)}
		}, chainlog.ReasonPrunedContent, chainlog.ReasonAmendHash},
		{"range deleted", func(t *testing.T, path string) []rawStmt {
			return []rawStmt{rawSQL(`DELETE FROM prune_ranges WHERE node_id = 'node-a'`)}
		}, chainlog.ReasonHashMismatch, chainlog.ReasonAmendHash},
		{"record deleted", func(t *testing.T, path string) []rawStmt {
			return []rawStmt{rawSQL(`DELETE FROM amendments WHERE kind = 'prune'`), rawSQL(`DELETE FROM prune_ranges`)}
		}, chainlog.ReasonHashMismatch, chainlog.ReasonAmendHeadMismatch},
		{"husk hash rewritten", func(t *testing.T, path string) []rawStmt {
			return []rawStmt{rawSQL(`UPDATE events SET chain_hash = ?1 WHERE node_id = 'node-a' AND chain_seq = 10`, strings.Repeat("ab", 32))}
		}, chainlog.ReasonPruneAnchor, ""},
		{"pruned row restored", func(t *testing.T, path string) []rawStmt {
			return []rawStmt{rawSQL(`UPDATE events SET agent_type = 'claude_code', agent_id = 'a', event_type = 'tool_call',
				ts = '2026-06-04T12:00:00Z', session_id = 's-0', data = '{"prompt":"secret 3"}', cost_usd = 0.5
				WHERE node_id = 'node-a' AND chain_seq = 4`)}
		}, chainlog.ReasonPrunedContent, ""},
		{"records reordered", func(t *testing.T, path string) []rawStmt {
			// Records #2 and #3 swap places, in the trail and in its index.
			return []rawStmt{rawSQL(`UPDATE amendments SET seq = -seq WHERE kind = 'prune'`),
				rawSQL(`UPDATE amendments SET seq = 5 + seq WHERE seq < 0`),
				rawSQL(`UPDATE prune_ranges SET seq = -seq`), rawSQL(`UPDATE prune_ranges SET seq = 5 + seq`)}
		}, chainlog.ReasonAmendPrev, chainlog.ReasonAmendPrev},
		{"anchor moved", func(t *testing.T, path string) []rawStmt {
			return []rawStmt{rawSQL(`UPDATE prune_ranges SET last_seq = 9, count = 9, anchor = (SELECT lower(hex(chain_hash)) FROM events WHERE node_id = 'node-a' AND chain_seq = 9) WHERE node_id = 'node-a'`)}
		}, chainlog.ReasonHashMismatch, chainlog.ReasonAmendHash},
		{"live event turned husk", func(t *testing.T, path string) []rawStmt {
			return []rawStmt{rawSQL(`UPDATE events SET event_type = '', ts = '', data = NULL WHERE node_id = 'node-a' AND chain_seq = 11`)}
		}, chainlog.ReasonHashMismatch, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			path, _ := prunedStore(t)
			attack(t, path, tt.stmts(t, path)...)
			rep := verifyPath(t, path, "")
			if rep.Status != chainlog.StatusInvalid || rep.BrokenAt == nil {
				t.Fatalf("status %s; want invalid", rep.Status)
			}
			if rep.BrokenAt.Reason != tt.reason {
				t.Errorf("broken at %v; want reason %q", rep.BrokenAt, tt.reason)
			}
			if b := rep.Amendments.Break; tt.trail != "" && (b == nil || b.Reason != tt.trail) {
				t.Errorf("trail broken at %v; want reason %q", b, tt.trail)
			}
		})
	}
}

// TestPruneForgedRecord: someone who can write the file, but not sign,
// writes a prune record of a prefix that was never pruned, with a valid
// hash and the trail's head moved: the trail then runs past its last
// anchor event, which only the store's path writes in the tree.
func TestPruneForgedRecord(t *testing.T) {
	t.Parallel()
	path, _ := prunedStore(t)
	recs, head := allAmendments(t, path)
	anchor := rawValue(t, path, `SELECT chain_hash FROM events WHERE node_id = 'node-a' AND chain_seq = 12`)
	rec := chainlog.Amendment{Seq: head.Seq + 1, Kind: chainlog.KindPrune, Fields: []string{}, Reason: "r", Actor: "a",
		At: recs[len(recs)-1].At, PrevHash: head.Hash,
		Prune: &chainlog.PruneRange{NodeID: "node-a", FirstSeq: 11, LastSeq: 12, Count: 2, Anchor: anchor, Before: "2026-06-13T00:00:00Z"}}
	rec.Hash = chainlog.AmendmentHash(rec.PrevHash, &rec)
	attack(t, path,
		rawSQL(`UPDATE events SET agent_type = '', agent_id = '', event_type = '', ts = '', session_id = NULL, workspace_id = NULL,
			data = NULL, cost_usd = NULL, token_count = NULL, model = NULL WHERE node_id = 'node-a' AND chain_seq IN (11, 12)`),
		rawSQL(`INSERT INTO amendments (seq, event_id, kind, fields, digest_before, digest_after, reason, actor, at, prev_hash, hash)
			VALUES (?1, '', 'prune', '[]', '', '', 'r', 'a', ?2, ?3, ?4)`, rec.Seq, rec.At, rec.PrevHash, rec.Hash),
		rawSQL(`INSERT INTO prune_ranges VALUES (?1, 'node-a', 11, 12, 2, ?2, '2026-06-13T00:00:00Z')`, rec.Seq, anchor),
		rawSQL(`UPDATE amendment_head SET seq = ?1, hash = ?2`, rec.Seq, rec.Hash))
	rep := verifyPath(t, path, "")
	if rep.Status != chainlog.StatusInvalid || rep.BrokenAt == nil || rep.BrokenAt.Reason != chainlog.ReasonUnanchored {
		t.Fatalf("forged prune record: %s, %v; want invalid, %q", rep.Status, rep.BrokenAt, chainlog.ReasonUnanchored)
	}
}
