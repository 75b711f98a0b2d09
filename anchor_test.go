package chainlog

import (
	"errors"
	"strings"
	"testing"
)

func TestAnchorEventRoundTrip(t *testing.T) {
	hash := strings.Repeat("ab", 32)
	e := AnchorEvent(12, hash, "2026-03-01T10:00:00.000000Z")
	if e.ID != "amendments:12:"+hash || e.NodeID != AnchorNode || e.EventType != AnchorEventType ||
		e.AgentType != AnchorAgentType || e.AgentID != AnchorAgentType || e.TS != "2026-03-01T10:00:00.000000Z" {
		t.Errorf("AnchorEvent = %+v", e)
	}
	if got, want := string(e.Data), `{"seq":12,"hash":"`+hash+`"}`; got != want {
		t.Errorf("data = %s; want %s", got, want)
	}
	if seq, h, ok := ParseAnchor(&e); !ok || seq != 12 || h != hash {
		t.Errorf("ParseAnchor = %d, %s, %v; want 12, %s", seq, h, ok, hash)
	}
}

func TestParseAnchorRefuses(t *testing.T) {
	hash := strings.Repeat("0f", 32)
	good := AnchorEvent(3, hash, "t")
	tests := []struct {
		name string
		edit func(e *Event)
	}{
		{"another node", func(e *Event) { e.NodeID = "node-a" }},
		{"another event type", func(e *Event) { e.EventType = "tool_call" }},
		{"another agent type", func(e *Event) { e.AgentType = "openclaw" }},
		{"no prefix", func(e *Event) { e.ID = "3:" + hash }},
		{"no hash", func(e *Event) { e.ID = "amendments:3" }},
		{"short hash", func(e *Event) { e.ID = "amendments:3:" + hash[2:] }},
		{"uppercase hash", func(e *Event) { e.ID = "amendments:3:" + strings.ToUpper(hash) }},
		{"seq zero", func(e *Event) { e.ID = "amendments:0:" + hash }},
		{"seq with a leading zero", func(e *Event) { e.ID = "amendments:03:" + hash }},
		{"seq with a sign", func(e *Event) { e.ID = "amendments:+3:" + hash }},
		{"seq not a number", func(e *Event) { e.ID = "amendments:x:" + hash }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := good
			tt.edit(&e)
			if seq, h, ok := ParseAnchor(&e); ok {
				t.Errorf("ParseAnchor(%q on %q) = %d, %s; want not an anchor", e.ID, e.NodeID, seq, h)
			}
		})
	}
}

func TestCheckUserNodeID(t *testing.T) {
	for _, node := range []string{AnchorNode, "chainlog:", "chainlog:prunes"} {
		var fe *FieldError
		if err := CheckUserNodeID(node); !errors.As(err, &fe) || fe.Field != "node_id" {
			t.Errorf("CheckUserNodeID(%q) = %v; want a FieldError naming node_id", node, err)
		}
	}
	for _, node := range []string{"node-a", "chainlog", "Chainlog:amendments", "x:chainlog:"} {
		if err := CheckUserNodeID(node); err != nil {
			t.Errorf("CheckUserNodeID(%q) = %v; want nil", node, err)
		}
	}
}

// FuzzParseAnchor: whatever ParseAnchor accepts, AnchorEvent rebuilds:
// one anchor identity per trail head.
func FuzzParseAnchor(f *testing.F) {
	f.Add("amendments:1:"+strings.Repeat("a", 64), AnchorNode)
	f.Add("amendments:18446744073709551616:"+strings.Repeat("0", 64), AnchorNode)
	f.Add("amendments:7:x", AnchorNode)
	f.Add("amendments:7:"+strings.Repeat("a", 64), "node-a")
	f.Fuzz(func(t *testing.T, id, node string) {
		e := Event{ID: id, NodeID: node, AgentType: AnchorAgentType, AgentID: AnchorAgentType, EventType: AnchorEventType, TS: "t"}
		seq, hash, ok := ParseAnchor(&e)
		if !ok {
			return
		}
		if seq < 1 || len(hash) != 64 {
			t.Fatalf("ParseAnchor(%q) = %d, %q", id, seq, hash)
		}
		if got := AnchorEvent(seq, hash, "t"); got.ID != id || got.NodeID != node {
			t.Fatalf("AnchorEvent(%d, %s) = %q on %q; parsed from %q on %q", seq, hash, got.ID, got.NodeID, id, node)
		}
	})
}
