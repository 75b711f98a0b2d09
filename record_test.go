package chainlog

import (
	"bytes"
	"encoding/json"
	"testing"
)

func TestStoredEventJSON(t *testing.T) {
	sess, cost, leaf := "s<1>", 0.5, int64(7)
	tests := []struct {
		name string
		e    StoredEvent
		want string
	}{
		{"pre-chain row with NULLs",
			StoredEvent{Event: Event{ID: "a", AgentType: "t", NodeID: "n", AgentID: "m", EventType: "e", TS: "1"}, CreatedAt: "c"},
			`{"id":"a","agent_type":"t","node_id":"n","agent_id":"m","session_id":null,"workspace_id":null,"event_type":"e","ts":"1","data":null,"cost_usd":null,"token_count":null,"model":null,"created_at":"c","chain_seq":null,"chain_prev_hash":null,"chain_hash":null,"payload_digest":null,"leaf_index":null}`},
		{"stamped row, HTML characters kept as stored",
			StoredEvent{Event: Event{ID: "a&b", AgentType: "t", NodeID: "n", AgentID: "m", SessionID: &sess, EventType: "e", TS: "1",
				Data: json.RawMessage(`{"q":"<x>&"}`), CostUSD: &cost}, CreatedAt: "c", Seq: 2, PrevHash: "p", Hash: "h", PayloadDigest: "d", LeafIndex: &leaf},
			`{"id":"a&b","agent_type":"t","node_id":"n","agent_id":"m","session_id":"s<1>","workspace_id":null,"event_type":"e","ts":"1","data":{"q":"<x>&"},"cost_usd":0.5,"token_count":null,"model":null,"created_at":"c","chain_seq":2,"chain_prev_hash":"p","chain_hash":"h","payload_digest":"d","leaf_index":7}`},
		{"data that is not JSON is a string",
			StoredEvent{Event: Event{ID: "a", Data: json.RawMessage(`plain <text>`)}},
			`{"id":"a","agent_type":"","node_id":"","agent_id":"","session_id":null,"workspace_id":null,"event_type":"","ts":"","data":"plain <text>","cost_usd":null,"token_count":null,"model":null,"created_at":"","chain_seq":null,"chain_prev_hash":null,"chain_hash":null,"payload_digest":null,"leaf_index":null}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Through an encoder that does not escape HTML, as export
			// writes, the bytes are the stored ones.
			var buf bytes.Buffer
			enc := json.NewEncoder(&buf)
			enc.SetEscapeHTML(false)
			if err := enc.Encode(&tt.e); err != nil {
				t.Fatal(err)
			}
			if got := string(bytes.TrimSuffix(buf.Bytes(), []byte("\n"))); got != tt.want {
				t.Errorf("got  %s\nwant %s", got, tt.want)
			}
		})
	}
}
