package agentsrc

import (
	"math"
	"os"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"

	"chainlog"
)

func readLogsJSON(t testing.TB, path string) plog.Logs {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	req := plogotlp.NewExportRequest()
	if err := req.UnmarshalJSON(b); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return req.Logs()
}

func readTracesJSON(t testing.TB, path string) ptrace.Traces {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	req := ptraceotlp.NewExportRequest()
	if err := req.UnmarshalJSON(b); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return req.Traces()
}

// want is the expected identity and usage of one mapped event.
type want struct {
	id, agentType, node, agentID, eventType, ts string
	session                                     any // string or nil
	tokens                                      any // int64 or nil
	cost                                        any // float64 or nil
	model                                       any // string or nil
}

func checkEvent(t *testing.T, i int, ev chainlog.Event, w want) {
	t.Helper()
	checkValid(t, ev)
	got := want{ev.ID, ev.AgentType, ev.NodeID, ev.AgentID, ev.EventType, ev.TS,
		ptrVal(ev.SessionID), ptrVal(ev.TokenCount), ptrVal(ev.CostUSD), ptrVal(ev.Model)}
	if c, ok := got.cost.(float64); ok {
		if wc, ok := w.cost.(float64); ok && math.Abs(c-wc) < 1e-12 {
			got.cost = w.cost
		}
	}
	if got != w {
		t.Errorf("event %d:\n got %+v\nwant %+v", i, got, w)
	}
}

const ccSession = "5f1c2a8e-7d3b-4c10-9a6e-2b4d8f0e1a77"

func TestLogsClaudeCodeJSON(t *testing.T) {
	m := &Mapper{NodeID: "fallback"}
	evs, rejected, reason := m.Logs(readLogsJSON(t, "testdata/otlp/claude_code_logs.json"))
	if rejected != 1 || !strings.HasPrefix(reason, "log record 4: no time") {
		t.Errorf("rejected %d, reason %q; want 1, log record 4: no time", rejected, reason)
	}
	ws := []want{
		{eventID("claude_code", ccSession, kindPrompt, "p-0001"), "claude_code", "dev-laptop", "main",
			"user_prompt", "2026-02-03T03:30:49.829Z", ccSession, nil, nil, nil},
		{eventID("claude_code", ccSession, kindAPIRequest, "req_011CXk9aB1"), "claude_code", "dev-laptop", "main",
			"api_request", "2026-02-03T03:30:55.12Z", ccSession, int64(21500), 0.0123, "claude-sonnet-4-20250514"},
		{eventID("claude_code", ccSession, kindToolResult, "toolu_01Hq7"), "claude_code", "dev-laptop", "main",
			"tool_result", "2026-02-03T03:30:56Z", ccSession, nil, nil, nil},
	}
	if len(evs) != 4 {
		t.Fatalf("got %d events, want 4", len(evs))
	}
	for i, w := range ws {
		checkEvent(t, i, evs[i], w)
	}
	// The api_error has no request_id: its id is its content's hash, and its
	// time the observed time.
	e := evs[3]
	checkValid(t, e)
	if !strings.HasPrefix(e.ID, kindContent+":") || e.EventType != "api_error" || e.TS != "2026-02-03T03:30:57Z" {
		t.Errorf("api_error: id %s type %s ts %s", e.ID, e.EventType, e.TS)
	}
	if got := dataField(t, evs[1], "scope").(map[string]any)["name"]; got != "com.anthropic.claude_code.events" {
		t.Errorf("scope name %v", got)
	}
	if got := dataField(t, evs[0], "resource").(map[string]any)["service.version"]; got != "2.1.30" {
		t.Errorf("resource service.version %v", got)
	}
}

// newLogs builds a one-record payload; attrs values are strings, int64,
// float64 or bool.
func newLogs(res map[string]any, name string, ts time.Time, attrs map[string]any) (plog.Logs, plog.LogRecord) {
	ld := plog.NewLogs()
	rl := ld.ResourceLogs().AppendEmpty()
	rl.Resource().Attributes().FromRaw(res)
	lr := rl.ScopeLogs().AppendEmpty().LogRecords().AppendEmpty()
	if name != "" {
		lr.SetEventName(name)
	}
	if !ts.IsZero() {
		lr.SetTimestamp(pcommon.NewTimestampFromTime(ts))
	}
	lr.Attributes().FromRaw(attrs)
	return ld, lr
}

var t0 = time.Date(2026, 2, 3, 4, 5, 6, 789_000_000, time.UTC)

func TestLogsAgents(t *testing.T) {
	tests := []struct {
		name  string
		res   map[string]any
		event string
		attrs map[string]any
		want  want
	}{
		{"codex tool result keyed by call_id", map[string]any{"service.name": "codex-cli"}, "codex.tool_result",
			map[string]any{"conversation.id": "c-1", "call_id": "call_7", "tool_name": "shell", "success": "true"},
			want{eventID("codex", "c-1", kindToolResult, "call_7"), "codex", "n0", "main", "tool_result",
				"2026-02-03T04:05:06.789Z", "c-1", nil, nil, nil}},
		{"codex sse usage: cached tokens inside input", map[string]any{"service.name": "codex-cli", "host.name": "h"}, "codex.sse_event",
			map[string]any{"conversation.id": "c-1", "model": "gpt-4.1", "input_token_count": int64(1000),
				"cached_token_count": "400", "output_token_count": 100.0, "reasoning_token_count": int64(30)},
			// 600 input at 2, 400 cached at 0.5, 100 output at 8 per 1M
			want{"", "codex", "h", "main", "sse_event", "2026-02-03T04:05:06.789Z", "c-1", int64(1100),
				(600*2 + 400*0.5 + 100*8) / 1e6, "gpt-4.1"}},
		{"gemini api_response", map[string]any{"service.name": "gemini-cli"}, "gemini_cli.api_response",
			map[string]any{"session.id": "g-1", "model": "gemini-2.5-pro", "input_token_count": int64(10),
				"output_token_count": int64(5), "thoughts_token_count": int64(7), "total_token_count": int64(22)},
			want{"", "gemini_cli", "n0", "main", "api_response", "2026-02-03T04:05:06.789Z", "g-1", int64(22), nil, "gemini-2.5-pro"}},
		{"event name attribute with prefix", map[string]any{"service.name": "x"}, "",
			map[string]any{"event.name": "claude_code.tool_decision", "session.id": "s", "tool_use_id": "tu", "decision": "accept"},
			want{eventID("claude_code", "s", kindToolDecide, "tu"), "claude_code", "n0", "main", "tool_decision",
				"2026-02-03T04:05:06.789Z", "s", nil, nil, nil}},
		{"unknown event: service name, event name", map[string]any{"service.name": "my-svc"}, "deploy.finished",
			map[string]any{"gen_ai.agent.name": "planner"},
			want{"", "my-svc", "n0", "planner", "deploy.finished", "2026-02-03T04:05:06.789Z", nil, nil, nil, nil}},
		{"no name, no service", map[string]any{}, "", map[string]any{"k": "v"},
			want{"", "otel", "n0", "main", "log", "2026-02-03T04:05:06.789Z", nil, nil, nil, nil}},
		{"event.timestamp in epoch ms wins over the record time", map[string]any{}, "claude_code.user_prompt",
			map[string]any{"event.timestamp": "1770000000123", "session.id": "s"},
			want{"", "claude_code", "n0", "main", "user_prompt", "2026-02-02T02:40:00.123Z", "s", nil, nil, nil}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ld, _ := newLogs(tt.res, tt.event, t0, tt.attrs)
			evs, rej, reason := (&Mapper{NodeID: "n0"}).Logs(ld)
			if rej != 0 || len(evs) != 1 {
				t.Fatalf("got %d events, %d rejected (%s)", len(evs), rej, reason)
			}
			if tt.want.id == "" {
				tt.want.id = evs[0].ID
				if !strings.HasPrefix(evs[0].ID, kindContent+":") {
					t.Errorf("id %s, want a content id", evs[0].ID)
				}
			}
			checkEvent(t, 0, evs[0], tt.want)
		})
	}
}

func TestLogsRetrySameID(t *testing.T) {
	ld, lr := newLogs(map[string]any{"service.name": "svc"}, "", t0, map[string]any{"a": int64(1)})
	lr.Body().SetStr("hello")
	lr.SetObservedTimestamp(pcommon.NewTimestampFromTime(t0.Add(time.Second)))
	first, _, _ := (&Mapper{}).Logs(ld)
	lr.SetObservedTimestamp(pcommon.NewTimestampFromTime(t0.Add(time.Minute)))
	again, _, _ := (&Mapper{}).Logs(ld)
	if first[0].ID != again[0].ID {
		t.Errorf("a retry with another observed time changed the id: %s, %s", first[0].ID, again[0].ID)
	}
	if got := dataField(t, again[0], "observed_time"); got != "2026-02-03T04:06:06.789Z" {
		t.Errorf("observed_time %v", got)
	}
	lr.Body().SetStr("hello!")
	other, _, _ := (&Mapper{}).Logs(ld)
	if other[0].ID == first[0].ID {
		t.Error("another body kept the id")
	}
	checkValid(t, first[0])
}

func TestLogsTimeFallbacks(t *testing.T) {
	ld, lr := newLogs(map[string]any{}, "x", time.Time{}, map[string]any{"event.timestamp": "not a time"})
	lr.SetObservedTimestamp(pcommon.NewTimestampFromTime(t0))
	evs, rej, _ := (&Mapper{}).Logs(ld)
	if rej != 0 || evs[0].TS != "2026-02-03T04:05:06.789Z" || evs[0].NodeID != unknownNode {
		t.Fatalf("got %+v, %d rejected", evs, rej)
	}
	lr.SetObservedTimestamp(0)
	evs, rej, reason := (&Mapper{}).Logs(ld)
	if len(evs) != 0 || rej != 1 || !strings.Contains(reason, "log record 0: no time") {
		t.Errorf("got %d events, %d rejected, %q", len(evs), rej, reason)
	}
}

// nested returns a map nested depth levels deep.
func nested(depth int) map[string]any {
	m := map[string]any{"leaf": "x"}
	for range depth - 1 {
		m = map[string]any{"n": m}
	}
	return m
}

func TestLogsDepthLimit(t *testing.T) {
	tests := []struct {
		name    string
		build   func(plog.Logs, plog.LogRecord)
		reason  string
		dropped bool
	}{
		{"attributes at the limit", func(_ plog.Logs, lr plog.LogRecord) {
			lr.Attributes().PutEmptyMap("m").FromRaw(nested(maxDepth))
		}, "", false},
		{"attributes too deep", func(_ plog.Logs, lr plog.LogRecord) {
			lr.Attributes().PutEmptyMap("m").FromRaw(nested(maxDepth + 1))
		}, "log record 0: attributes: value nested deeper than 32 levels", true},
		{"body too deep, in a slice", func(_ plog.Logs, lr plog.LogRecord) {
			lr.Body().SetEmptySlice().AppendEmpty().SetEmptyMap().FromRaw(nested(maxDepth))
		}, "log record 0: body: value nested deeper than 32 levels", true},
		{"resource too deep", func(ld plog.Logs, _ plog.LogRecord) {
			ld.ResourceLogs().At(0).Resource().Attributes().PutEmptyMap("r").FromRaw(nested(maxDepth + 1))
		}, "log record 0: resource attributes: value nested deeper than 32 levels", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ld, lr := newLogs(map[string]any{}, "x", t0, map[string]any{})
			tt.build(ld, lr)
			evs, rej, reason := (&Mapper{}).Logs(ld)
			if tt.dropped != (rej == 1) || reason != tt.reason || len(evs)+int(rej) != 1 {
				t.Errorf("got %d events, %d rejected, %q; want reason %q", len(evs), rej, reason, tt.reason)
			}
			for _, ev := range evs {
				checkValid(t, ev)
			}
		})
	}
}

func TestLogsOddValues(t *testing.T) {
	ld, lr := newLogs(map[string]any{"service.name": "s\xffvc"}, "claude_code.api_request", t0, map[string]any{
		"session.id": "bad\xfe", "cost_usd": "-1", "input_tokens": "12.5", "output_tokens": "7",
		"nan": math.NaN(), "inf": math.Inf(-1), "bytes": []byte{1, 2}, "model": "no-such-model",
	})
	lr.Body().SetStr("\x00\u2028<tag>")
	evs, rej, reason := (&Mapper{}).Logs(ld)
	if rej != 0 {
		t.Fatalf("rejected: %s", reason)
	}
	ev := evs[0]
	checkValid(t, ev)
	if *ev.SessionID != "bad\uFFFD" || ev.CostUSD != nil || *ev.TokenCount != 7 {
		t.Errorf("session %q cost %v tokens %v", *ev.SessionID, ptrVal(ev.CostUSD), ptrVal(ev.TokenCount))
	}
	if got := dataField(t, ev, "attributes").(map[string]any)["nan"]; got != "NaN" {
		t.Errorf("NaN as %v", got)
	}
}

func TestTracesGenAIJSON(t *testing.T) {
	m := &Mapper{NodeID: "fallback"}
	evs, rejected, reason := m.Traces(readTracesJSON(t, "testdata/otlp/genai_trace.json"))
	if rejected != 1 || !strings.HasPrefix(reason, "span 3: no time") {
		t.Errorf("rejected %d, reason %q", rejected, reason)
	}
	const trace = "5b8efff798038103d269b633813fc60c"
	ws := []want{
		{eventID("support-bot", "conv-9", kindSpan, trace, "eee19b7ec3c1b174"), "support-bot", "worker-3", "agent-billing",
			"chat", "2026-02-02T02:40:00Z", "conv-9", int64(1200), (1000*2.5 + 200*10) / 1e6, "gpt-4o-2024-08-06"},
		{eventID("support-bot", "", kindSpan, trace, "eee19b7ec3c1b175"), "support-bot", "worker-3", "main",
			"chat", "2026-02-02T02:40:02Z", nil, int64(550), (500*0.15 + 50*0.6) / 1e6, "gpt-4o-mini"},
		{eventID("support-bot", "conv-9", kindSpan, trace, "eee19b7ec3c1b176"), "support-bot", "worker-3", "main",
			"execute_tool", "2026-02-02T02:40:03.1Z", "conv-9", nil, nil, nil},
	}
	if len(evs) != len(ws) {
		t.Fatalf("got %d events, want %d", len(evs), len(ws))
	}
	for i, w := range ws {
		checkEvent(t, i, evs[i], w)
	}
	checks := []struct {
		ev         int
		field, key string
		want       any
	}{
		{0, "kind", "", "Client"},
		{1, "kind", "", "Client"},
		{1, "status", "code", "Error"},
		{1, "status", "message", "rate limited"},
		{0, "end_time", "", "2026-02-02T02:40:01.5Z"},
		{0, "parent_span_id", "", "eee19b7ec3c1b173"},
		{2, "attributes", "gen_ai.tool.call.id", "call_1"},
	}
	for _, c := range checks {
		got := dataField(t, evs[c.ev], c.field)
		if c.key != "" {
			got = got.(map[string]any)[c.key]
		}
		if got != c.want {
			t.Errorf("event %d data %s %s = %v, want %v", c.ev, c.field, c.key, got, c.want)
		}
	}
	if evs := dataField(t, evs[0], "events").([]any); len(evs) != 1 || evs[0].(map[string]any)["name"] != "gen_ai.choice" {
		t.Errorf("span events %v", evs)
	}
}

func TestTracesNoIDs(t *testing.T) {
	td := ptrace.NewTraces()
	sp := td.ResourceSpans().AppendEmpty().ScopeSpans().AppendEmpty().Spans().AppendEmpty()
	sp.SetName("orphan")
	sp.SetEndTimestamp(pcommon.NewTimestampFromTime(t0))
	evs, rej, _ := (&Mapper{NodeID: "n"}).Traces(td)
	if rej != 0 || len(evs) != 1 {
		t.Fatalf("%d events, %d rejected", len(evs), rej)
	}
	ev := evs[0]
	checkValid(t, ev)
	if !strings.HasPrefix(ev.ID, kindContent+":") || ev.EventType != "orphan" || ev.TS != "2026-02-03T04:05:06.789Z" {
		t.Errorf("got id %s type %s ts %s", ev.ID, ev.EventType, ev.TS)
	}
}

func TestPricesOverride(t *testing.T) {
	ld, _ := newLogs(map[string]any{}, "gemini_cli.api_response", t0, map[string]any{
		"model": "tiny-1", "input_token_count": int64(1_000_000), "output_token_count": int64(0)})
	m := &Mapper{Prices: &pricingTable}
	evs, _, _ := m.Logs(ld)
	if evs[0].CostUSD == nil || *evs[0].CostUSD != 2 {
		t.Errorf("cost %v, want 2", ptrVal(evs[0].CostUSD))
	}
}
