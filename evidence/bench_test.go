package evidence_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"testing"

	"chainlog"
	"chainlog/evidence"
	"chainlog/internal/chainlogtest"
	"chainlog/sqlite"

	"golang.org/x/mod/sumdb/note"
)

// benchStore is a store of 20,000 events on two nodes, one session of
// 10,000 events interleaved with another on node n1, and a checkpoint.
func benchStore(b *testing.B) (*sqlite.Store, []byte, note.Verifier) {
	b.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(b.TempDir(), "s.db"), sqlite.Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	evs := make([]chainlog.Event, 0, 1000)
	for i := range 20000 {
		node, session := "n1", "s1"
		switch i % 4 {
		case 1:
			session = "s2"
		case 3:
			node, session = "n2", "s3"
		}
		evs = append(evs, chainlog.Event{ID: fmt.Sprintf("ev-%05d", i), AgentType: "claude-code", NodeID: node,
			AgentID: "main", SessionID: chainlogtest.Ptr(session), EventType: "llm_usage",
			TS:   fmt.Sprintf("2026-01-01T%02d:%02d:%02dZ", i/3600%24, i/60%60, i%60),
			Data: json.RawMessage(fmt.Sprintf(`{"input_tokens":%d,"output_tokens":%d,"text":"a line of output"}`, i, i*2))})
		if len(evs) == cap(evs) {
			if _, err := st.Ingest(ctx, evs); err != nil {
				b.Fatal(err)
			}
			evs = evs[:0]
		}
	}
	signer, verifier := chainlogtest.NewKey(b, "bench/evidence")
	signed, err := st.Checkpoint(ctx, signer, nil)
	if err != nil {
		b.Fatal(err)
	}
	return st, signed, verifier
}

// BenchmarkPack10k builds and encodes the pack of a 10,000-event session.
func BenchmarkPack10k(b *testing.B) {
	st, signed, _ := benchStore(b)
	var buf bytes.Buffer
	var hashes int
	for b.Loop() {
		p, err := evidence.Build(context.Background(), st, evidence.Filter{SessionID: "s1"}, signed)
		if err != nil {
			b.Fatal(err)
		}
		if len(p.Events) != 10000 {
			b.Fatalf("%d events, want 10000", len(p.Events))
		}
		hashes = len(p.Hashes)
		buf.Reset()
		if err := evidence.Encode(&buf, p); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(buf.Len()), "pack-bytes")
	b.ReportMetric(float64(hashes), "tree-hashes")
}

// BenchmarkVerify10k decodes and verifies the pack of a 10,000-event
// session.
func BenchmarkVerify10k(b *testing.B) {
	st, signed, verifier := benchStore(b)
	p, err := evidence.Build(context.Background(), st, evidence.Filter{SessionID: "s1"}, signed)
	if err != nil {
		b.Fatal(err)
	}
	var buf bytes.Buffer
	if err := evidence.Encode(&buf, p); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		q, err := evidence.Decode(buf.Bytes())
		if err != nil {
			b.Fatal(err)
		}
		if _, err := evidence.Verify(q, evidence.Options{Verifiers: []note.Verifier{verifier}}); err != nil {
			b.Fatal(err)
		}
	}
}
