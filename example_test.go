package chainlog_test

import (
	"context"
	"fmt"

	"chainlog"
	"chainlog/internal/chainlogtest"
)

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

func ExampleVerifyStore() {
	// An in-memory store, as the tests use; a real one is sqlite.Open's.
	st := chainlogtest.NewSource()
	var events []chainlog.Event
	for i, ts := range []string{"2026-01-01T00:00:00Z", "2026-01-01T00:00:01Z", "2026-01-01T00:00:02Z"} {
		events = append(events, chainlog.Event{ID: fmt.Sprintf("ev:%02d", i), NodeID: "node-a", EventType: "tool_call", TS: ts,
			AgentType: chainlog.DefaultAgentType, AgentID: chainlog.DefaultAgentID})
	}
	if _, err := st.Ingest(context.Background(), events); err != nil {
		panic(err)
	}

	rep, err := chainlog.VerifyStore(context.Background(), st, chainlog.VerifyOptions{})
	if err != nil {
		panic(err)
	}
	fmt.Println(rep.Status, rep.Checked, rep.Nodes[0].HeadSeq)

	// Rewrite an identity field of the middle event.
	st.Rows[1].EventType = "file_read"
	rep, err = chainlog.VerifyStore(context.Background(), st, chainlog.VerifyOptions{})
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
