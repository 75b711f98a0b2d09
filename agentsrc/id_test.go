package agentsrc

import "testing"

// TestEventIDExamples pins the id rule: these are the examples in
// docs/sources.md. A change here changes every stored id.
func TestEventIDExamples(t *testing.T) {
	tests := []struct {
		agent, session, kind string
		key                  []string
		want                 string
	}{
		{"claude_code", "5f1c2a8e-7d3b-4c10-9a6e-2b4d8f0e1a77", kindToolResult, []string{"toolu_01Hq7"}, "tool_result:9c3ef00abf51d95ca9ce144f9ab86889"},
		{"claude_code", "5f1c2a8e-7d3b-4c10-9a6e-2b4d8f0e1a77", kindAPIRequest, []string{"req_011CXk9aB1"}, "api_request:a82d2e40670e19579e59be81d2a9d118"},
		{"codex", "0199aaaa-bbbb-7ccc-8ddd-eeeeffff0001", kindUsage, []string{"2500/1200/80/10/2580"}, "usage:490fb30fc97dd01398d582a0aa42d9b4"},
		{"support-bot", "conv-9", kindSpan, []string{"5b8efff798038103d269b633813fc60c", "eee19b7ec3c1b174"}, "span:7ea03af9c48d3417295922d64d3d6ecf"},
	}
	for _, tt := range tests {
		if got := eventID(tt.agent, tt.session, tt.kind, tt.key...); got != tt.want {
			t.Errorf("eventID(%s, %s, %s, %v) = %s, want %s", tt.agent, tt.session, tt.kind, tt.key, got, tt.want)
		}
	}
	// The length prefixes keep the parts apart.
	if eventID("a", "bc", kindRecord) == eventID("ab", "c", kindRecord) {
		t.Error("(a, bc) and (ab, c) share an id")
	}
	if eventID("a", "", kindRecord, "x", "y") == eventID("a", "", kindRecord, "xy") {
		t.Error("keys (x, y) and (xy) share an id")
	}
}
