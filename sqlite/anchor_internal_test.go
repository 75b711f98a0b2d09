package sqlite

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"chainlog"

	"zombiezen.com/go/sqlite"
	"zombiezen.com/go/sqlite/sqlitex"
)

// forgeEvents appends events through the store's own append path, past
// Ingest's refusal of the reserved node: what someone who can write the
// file and runs chainlog's code could do. Each is chained on its node and
// becomes a leaf, so the tree stays consistent.
func forgeEvents(t *testing.T, s *Store, events ...chainlog.Event) {
	t.Helper()
	err := s.withConn(t.Context(), func(conn *sqlite.Conn) error {
		a, err := func() (a appended, err error) {
			end, err := sqlitex.ImmediateTransaction(conn)
			if err != nil {
				return a, err
			}
			defer end(&err)
			if err := s.reloadHeads(conn); err != nil {
				return a, err
			}
			return s.appendTx(conn, [][]chainlog.Event{events}, nil, s.timestamp())
		}()
		if err == nil {
			s.committed(a)
		}
		return err
	})
	if err != nil {
		t.Fatalf("forge events: %v", err)
	}
}

// TestAnchorForged: anchor events that were not written by the amendment
// path are INVALID, whatever the chains and the tree say: one naming a
// record that does not match, one naming a seq the trail never reached,
// one that repeats an anchored seq, and a row on the anchor node that is
// no anchor at all.
func TestAnchorForged(t *testing.T) {
	t.Parallel()
	other := strings.Repeat("e", 64)
	cases := []struct {
		name   string
		forge  func(rec chainlog.Amendment, ts string) chainlog.Event
		reason string
		seq    int64
	}{
		{"wrong hash for a later seq", func(rec chainlog.Amendment, ts string) chainlog.Event {
			return chainlog.AnchorEvent(2, other, ts)
		}, chainlog.ReasonAnchorNoRecord, 2},
		{"an anchored seq again", func(rec chainlog.Amendment, ts string) chainlog.Event {
			return chainlog.AnchorEvent(1, other, ts)
		}, chainlog.ReasonAnchorOrder, 1},
		{"not an anchor", func(rec chainlog.Amendment, ts string) chainlog.Event {
			return chainlog.Event{ID: "note", AgentType: "chainlog", NodeID: chainlog.AnchorNode, AgentID: "chainlog",
				EventType: "note", TS: ts, Data: json.RawMessage(`{}`)}
		}, chainlog.ReasonAnchorMalformed, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(t.TempDir(), "store.db")
			s, err := Open(t.Context(), path, Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			ev := chainlog.Event{ID: "e1", AgentType: "claude_code", NodeID: "node-a", AgentID: "main", EventType: "tool_call",
				TS: "2026-02-01T09:00:00Z", Data: json.RawMessage(`{"n":1}`)}
			if _, err := s.Ingest(t.Context(), []chainlog.Event{ev}); err != nil {
				t.Fatal(err)
			}
			model := "m2"
			rec, err := s.Amend(t.Context(), AmendRequest{EventID: "e1", Kind: chainlog.KindAmend, Reason: "fix", Actor: "test",
				Patch: chainlog.Patch{Set: []string{chainlog.FieldModel}, Values: chainlog.Mutable{Model: &model}}})
			if err != nil {
				t.Fatal(err)
			}
			forged := c.forge(rec, rec.At)
			forgeEvents(t, s, forged)

			rep, err := chainlog.VerifyStore(t.Context(), s, chainlog.VerifyOptions{})
			if err != nil {
				t.Fatal(err)
			}
			b := rep.Amendments.Break
			if rep.Status != chainlog.StatusInvalid || b == nil {
				t.Fatalf("status %s, amendments %+v; want invalid", rep.Status, rep.Amendments)
			}
			if b.Reason != c.reason || b.EventID != forged.ID || b.Seq != c.seq || b.NodeID != chainlog.AnchorNode {
				t.Errorf("amendments broken_at = %+v; want %s at %s seq %d", b, c.reason, forged.ID, c.seq)
			}
			if tr := rep.Tree; tr == nil || tr.Break != nil {
				t.Errorf("tree = %+v; want it consistent: the forgery went through the append path", tr)
			}
		})
	}
}
