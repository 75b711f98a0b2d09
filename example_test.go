package chainlog_test

import (
	"context"
	"fmt"

	"chainlog"
)

// sliceSource is a ChainSource over rows already in ScanChains order: by
// node_id, then chain_seq.
type sliceSource struct {
	rows  []chainlog.StoredEvent
	heads []chainlog.Head // by node_id
}

func (s *sliceSource) Heads(ctx context.Context, nodeID string) ([]chainlog.Head, error) {
	var out []chainlog.Head
	for _, h := range s.heads {
		if nodeID == "" || h.NodeID == nodeID {
			out = append(out, h)
		}
	}
	return out, nil
}

func (s *sliceSource) ScanChains(ctx context.Context, nodeID string, fn func(*chainlog.StoredEvent) error) error {
	for i := range s.rows {
		if nodeID == "" || s.rows[i].NodeID == nodeID {
			if err := fn(&s.rows[i]); err != nil {
				return err
			}
		}
	}
	return nil
}

func (s *sliceSource) AmendmentHead(ctx context.Context) (*chainlog.Head, error) { return nil, nil }

func (s *sliceSource) ScanAmendments(ctx context.Context, fn func(*chainlog.AmendmentScan) error) error {
	return nil
}

func ExampleChainHash() {
	ev, err := chainlog.DecodeEvent([]byte(`{"id":"ev:00","node_id":"node-a","event_type":"tool_call","ts":"2026-01-01T00:00:00Z"}`), "")
	if err != nil {
		panic(err)
	}
	fmt.Println(chainlog.Canonical(&ev))
	fmt.Println(chainlog.ChainHash(chainlog.GenesisHash, &ev))
	// Output:
	// {"agent_id":"main","agent_type":"openclaw","event_type":"tool_call","id":"ev:00","node_id":"node-a","session_id":null,"ts":"2026-01-01T00:00:00Z","workspace_id":null}
	// 31dbdd8ccc2359868524630c80387d35096ba90cc93784c4fcd6d81255e6d978
}

func ExampleVerify() {
	// Stamp three events on node-a as a store does on ingest.
	src := &sliceSource{}
	prev := chainlog.GenesisHash
	for i, ts := range []string{"2026-01-01T00:00:00Z", "2026-01-01T00:00:01Z", "2026-01-01T00:00:02Z"} {
		ev := chainlog.Event{ID: fmt.Sprintf("ev:%02d", i), NodeID: "node-a", EventType: "tool_call", TS: ts,
			AgentType: chainlog.DefaultAgentType, AgentID: chainlog.DefaultAgentID}
		hash := chainlog.ChainHash(prev, &ev)
		src.rows = append(src.rows, chainlog.StoredEvent{Event: ev, Seq: int64(i + 1), PrevHash: prev, Hash: hash})
		prev = hash
	}
	src.heads = []chainlog.Head{{NodeID: "node-a", Hash: prev, Seq: 3}}

	rep, err := chainlog.Verify(context.Background(), src, "")
	if err != nil {
		panic(err)
	}
	fmt.Println(rep.Status, rep.Checked, rep.Nodes[0].HeadSeq)

	// Rewrite an identity field of the middle event.
	src.rows[1].EventType = "file_read"
	rep, err = chainlog.Verify(context.Background(), src, "")
	if err != nil {
		panic(err)
	}
	fmt.Println(rep.Status, rep.BrokenAt.Seq, rep.BrokenAt.EventID)
	fmt.Println(rep.BrokenAt.Reason)
	// Output:
	// valid 3 3
	// invalid 2 ev:01
	// chain_hash does not match the recomputed hash: an identity field was altered or the row was forged
}
