package sqlite_test

import (
	"bufio"
	"encoding/json"
	"errors"
	"io"
	"os"
	"testing"

	"chainlog"
	"chainlog/sqlite"
)

// The known-answer vectors of the chain-format spec, copied into the
// module's testdata/.
const (
	vectorEvents   = "../testdata/chain-vectors.events.ndjson"
	vectorExpected = "../testdata/chain-vectors.expected.ndjson"
	vectorHeads    = "../testdata/chain-vectors.heads.json"
)

type vectorRow struct {
	ID        string `json:"id"`
	NodeID    string `json:"node_id"`
	Canonical string `json:"canonical"`
	PrevHash  string `json:"chain_prev_hash"`
	Hash      string `json:"chain_hash"`
}

func readVectorEvents(t *testing.T) []chainlog.Event {
	t.Helper()
	f, err := os.Open(vectorEvents)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r := chainlog.NewReader(f, 0, "")
	var evs []chainlog.Event
	for {
		e, err := r.Next()
		if errors.Is(err, io.EOF) {
			return evs
		}
		if err != nil {
			t.Fatalf("%s: %v", vectorEvents, err)
		}
		evs = append(evs, e)
	}
}

func readVectorExpected(t *testing.T) []vectorRow {
	t.Helper()
	f, err := os.Open(vectorExpected)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var rows []vectorRow
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var r vectorRow
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("%s line %d: %v", vectorExpected, len(rows)+1, err)
		}
		rows = append(rows, r)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return rows
}

func readVectorHeads(t *testing.T) map[string]string {
	t.Helper()
	b, err := os.ReadFile(vectorHeads)
	if err != nil {
		t.Fatal(err)
	}
	var heads map[string]string
	if err := json.Unmarshal(b, &heads); err != nil {
		t.Fatalf("%s: %v", vectorHeads, err)
	}
	return heads
}

// TestKnownAnswerVectors ingests the spec's 40 vector events and checks every
// stored stamp and every head against the expected files, whether the events
// arrive in one batch, in batches of 7, or one at a time.
func TestKnownAnswerVectors(t *testing.T) {
	t.Parallel()
	events := readVectorEvents(t)
	expected := readVectorExpected(t)
	wantHeads := readVectorHeads(t)
	if len(events) != 40 || len(expected) != len(events) {
		t.Fatalf("vectors: %d events, %d expected rows; want 40 each", len(events), len(expected))
	}
	// Seq of each expected row: its position in its node's chain.
	wantSeq := make([]int64, len(expected))
	count := map[string]int64{}
	for i, r := range expected {
		count[r.NodeID]++
		wantSeq[i] = count[r.NodeID]
	}

	for _, tc := range []struct {
		name  string
		batch int
	}{
		{"one batch", len(events)},
		{"batches of 7", 7},
		{"one at a time", 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			path := newStorePath(t)
			st := openStore(t, path, sqlite.Options{})
			var total chainlog.IngestResult
			for i := 0; i < len(events); i += tc.batch {
				total.Add(ingest(t, st, events[i:min(i+tc.batch, len(events))]...))
			}
			if want := (chainlog.IngestResult{Inserted: len(events)}); total != want {
				t.Errorf("ingest result = %+v; want %+v", total, want)
			}
			closeStore(t, st)

			rows := exportPath(t, path, "")
			if len(rows) != len(expected) {
				t.Fatalf("exported %d rows; want %d", len(rows), len(expected))
			}
			for i, got := range rows {
				want := expected[i]
				if got.ID != want.ID || got.NodeID != want.NodeID {
					t.Errorf("row %d: id, node = %q, %q; want %q, %q", i+1, got.ID, got.NodeID, want.ID, want.NodeID)
					continue
				}
				// The stored identity must read back exactly as ingested.
				if c := chainlog.Canonical(&got.Event); c != want.Canonical {
					t.Errorf("row %d (%s): canonical of stored identity\n got  %s\n want %s", i+1, got.ID, c, want.Canonical)
				}
				if got.PrevHash != want.PrevHash {
					t.Errorf("row %d (%s): chain_prev_hash = %s; want %s", i+1, got.ID, got.PrevHash, want.PrevHash)
				}
				if got.Hash != want.Hash {
					t.Errorf("row %d (%s): chain_hash = %s; want %s", i+1, got.ID, got.Hash, want.Hash)
				}
				if got.Seq != wantSeq[i] {
					t.Errorf("row %d (%s): chain_seq = %d; want %d", i+1, got.ID, got.Seq, wantSeq[i])
				}
			}

			heads := headsPath(t, path)
			if len(heads) != len(wantHeads) {
				t.Errorf("got %d heads; want %d", len(heads), len(wantHeads))
			}
			for node, hash := range wantHeads {
				h, ok := heads[node]
				if !ok {
					t.Errorf("no head for node %q", node)
					continue
				}
				if h.Hash != hash || h.Seq != count[node] {
					t.Errorf("head of %q = (%s, seq %d); want (%s, seq %d)", node, h.Hash, h.Seq, hash, count[node])
				}
			}

			wantValid(t, verifyPath(t, path, ""), int64(len(events)), 0)
		})
	}
}

// TestSpecInlineVectors checks the two vectors written out in the spec
// itself: defaults, genesis, and non-ASCII workspace text survive storage.
func TestSpecInlineVectors(t *testing.T) {
	t.Parallel()
	path := buildStore(t, sqlite.Options{}, []chainlog.Event{
		decode(t, `{"id":"ev:00","node_id":"node-a","event_type":"tool_call","ts":"2026-01-01T00:00:00Z"}`),
		decode(t, `{"id":"ev:01","node_id":"node-a","agent_type":"claude_code","session_id":"s-1","workspace_id":"wé<>&\u2028😀","event_type":"tool.call","ts":"2026-01-01T00:00:01.123Z"}`),
	})
	rows := exportPath(t, path, "")
	want := []struct{ prev, hash string }{
		{chainlog.GenesisHash, "31dbdd8ccc2359868524630c80387d35096ba90cc93784c4fcd6d81255e6d978"},
		{"31dbdd8ccc2359868524630c80387d35096ba90cc93784c4fcd6d81255e6d978", "4fe87e37300934aa7595aaf198102a6d779091344e85a4d8b214013d27e8034d"},
	}
	if len(rows) != len(want) {
		t.Fatalf("got %d rows; want %d", len(rows), len(want))
	}
	for i, w := range want {
		if rows[i].PrevHash != w.prev || rows[i].Hash != w.hash {
			t.Errorf("row %d: (prev, hash) = (%s, %s); want (%s, %s)", i+1, rows[i].PrevHash, rows[i].Hash, w.prev, w.hash)
		}
	}
	if got, want := rows[0].AgentType, chainlog.DefaultAgentType; got != want {
		t.Errorf("stored agent_type = %q; want the default %q", got, want)
	}
	if got, want := *rows[1].WorkspaceID, "wé<>&\u2028😀"; got != want {
		t.Errorf("stored workspace_id = %q; want %q", got, want)
	}
}
