package agentsrc

import (
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"chainlog"
)

// wantEv is one expected transcript event: the line that returned it (0
// for Flush), its type, its id (a kind alone, as "content", for an id
// that must be of that kind), ts, and usage.
type wantEv struct {
	line      int
	eventType string
	id        string
	ts        string
	tokens    any // int64 or nil
	cost      any // float64 or nil
	model     any // string or nil
}

// feed maps the file and records which line returned each event, and the
// Safe offset after each line.
func feed(t *testing.T, f Format, path string) (evs []chainlog.Event, lineOf []int, safe []int64, errs map[int]string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	tr := NewTranscript(f, path, &Mapper{NodeID: "laptop"})
	errs = map[int]string{}
	for i, l := range splitLines(b) {
		got, err := tr.Line(l.text, l.end)
		if err != nil {
			errs[i+1] = err.Error()
		}
		for range got {
			lineOf = append(lineOf, i+1)
		}
		evs = append(evs, got...)
		safe = append(safe, tr.Safe())
	}
	got := tr.Flush()
	for range got {
		lineOf = append(lineOf, 0)
	}
	evs = append(evs, got...)
	safe = append(safe, tr.Safe())
	return evs, lineOf, safe, errs
}

func checkTranscript(t *testing.T, evs []chainlog.Event, lineOf []int, session, agentID string, ws []wantEv) {
	t.Helper()
	if len(evs) != len(ws) {
		for i, e := range evs {
			t.Logf("line %d: %s %s", lineOf[i], e.EventType, e.ID)
		}
		t.Fatalf("got %d events, want %d", len(evs), len(ws))
	}
	for i, w := range ws {
		e := evs[i]
		checkValid(t, e)
		gotID := e.ID
		if !strings.Contains(w.id, ":") {
			gotID, _, _ = strings.Cut(e.ID, ":")
		}
		got := wantEv{lineOf[i], e.EventType, gotID, e.TS, ptrVal(e.TokenCount), ptrVal(e.CostUSD), ptrVal(e.Model)}
		if c, ok := got.cost.(float64); ok {
			if wc, ok := w.cost.(float64); ok && math.Abs(c-wc) < 1e-12 {
				got.cost = w.cost
			}
		}
		if got != w {
			t.Errorf("event %d:\n got %+v\nwant %+v", i, got, w)
		}
		if ptrVal(e.SessionID) != session || e.AgentID != agentID || e.NodeID != "laptop" {
			t.Errorf("event %d: session %v agent %s node %s", i, ptrVal(e.SessionID), e.AgentID, e.NodeID)
		}
	}
}

const ccFile = "3f0c9b1e-2a4d-4e8f-9b7c-5d6e7f8a9b0c"

// copyWithTime copies a fixture to a temporary directory, with a fixed
// modification time.
func copyWithTime(t *testing.T, src string, mtime time.Time) string {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join(t.TempDir(), filepath.Base(src))
	if err := os.WriteFile(dst, b, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(dst, mtime, mtime); err != nil {
		t.Fatal(err)
	}
	return dst
}

func TestTranscriptClaudeCode(t *testing.T) {
	path := copyWithTime(t, "testdata/claude-code/"+ccFile+".jsonl", time.Date(2026, 1, 10, 10, 0, 0, 0, time.UTC))
	evs, lineOf, safe, errs := feed(t, ClaudeCode, path)
	id := func(kind, key string) string { return eventID("claude_code", ccFile, kind, key) }
	u := func(n int) string { return "aaaa0000-0000-4000-8000-00000000000" + string(rune('0'+n)) }
	const model = "claude-sonnet-4-20250514"
	checkTranscript(t, evs, lineOf, ccFile, "main", []wantEv{
		{1, "summary", "content", "2026-01-10T10:00:00Z", nil, nil, nil}, // no time: the file's
		{2, "user_prompt", id(kindRecord, u(1)), "2026-01-10T09:00:00Z", nil, nil, nil},
		{3, "assistant_message", id(kindRecord, u(2)), "2026-01-10T09:00:02Z", nil, nil, model},
		{4, "assistant_message", id(kindRecord, u(3)), "2026-01-10T09:00:03Z", nil, nil, model},
		{5, "tool_use", id(kindToolUse, "toolu_01R"), "2026-01-10T09:00:04Z", nil, nil, nil},
		{6, "tool_result", id(kindToolResult, "toolu_01R"), "2026-01-10T09:00:03.5Z", nil, nil, nil}, // out of order: kept
		{7, "file-history-snapshot", "content", "2026-01-10T08:59:59Z", nil, nil, nil},
		{8, "ai-title", "content", "2026-01-10T08:59:59Z", nil, nil, nil}, // the record before's time
		{10, "assistant_message", id(kindRecord, u(6)), "2026-01-10T09:00:06Z", nil, nil, model},
		// The response of lines 3-5: the last line's usage, once.
		{10, "api_request", id(kindAPIRequest, "req_01A"), "2026-01-10T09:00:02Z", int64(10 + 2000 + 30000 + 190),
			(10*3 + 190*15 + 30000*0.3 + 2000*3.75) / 1e6, model},
		{0, "api_request", id(kindAPIRequest, "req_01B"), "2026-01-10T09:00:06Z", int64(5 + 32000 + 20),
			(5*3 + 20*15 + 32000*0.3) / 1e6, model},
	})
	if msg := errs[9]; !strings.HasPrefix(msg, "line 9: not JSON") || len(errs) != 1 {
		t.Errorf("errors %v, want one for line 9", errs)
	}
	b, _ := os.ReadFile(path)
	lines := splitLines(b)
	wantSafe := []int64{lines[0].end, lines[1].end, lines[1].end, lines[1].end, lines[1].end, lines[1].end,
		lines[1].end, lines[1].end, lines[1].end, lines[8].end, int64(len(b))}
	for i := range wantSafe {
		if safe[i] != wantSafe[i] {
			t.Errorf("Safe after line %d = %d, want %d", i+1, safe[i], wantSafe[i])
		}
	}
	res := evs[5]
	if dataField(t, res, "is_error") != true || dataField(t, res, "tool_name") != "Read" ||
		dataField(t, res, "tool_use_result") != "Error: permission denied" {
		t.Errorf("tool_result data %s", res.Data)
	}
}

// TestTranscriptMatchesOTLP: the same tool result and API request, seen
// in a transcript and exported over OTLP, get the same ids.
func TestTranscriptMatchesOTLP(t *testing.T) {
	evs, _, _, _ := feed(t, ClaudeCode, "testdata/claude-code/"+ccFile+".jsonl")
	byType := map[string]string{}
	for _, e := range evs {
		if e.EventType == "tool_result" || (e.EventType == "api_request" && strings.Contains(string(e.Data), "req_01A")) {
			byType[e.EventType] = e.ID
		}
	}
	for _, tt := range []struct{ event, key, val string }{
		{"claude_code.tool_result", "tool_use_id", "toolu_01R"},
		{"claude_code.api_request", "request_id", "req_01A"},
	} {
		ld, _ := newLogs(map[string]any{"service.name": "claude-code"}, tt.event, t0,
			map[string]any{"session.id": ccFile, tt.key: tt.val})
		otlp, _, _ := (&Mapper{}).Logs(ld)
		if want := byType[otlp[0].EventType]; otlp[0].ID != want || want == "" {
			t.Errorf("%s: OTLP id %s, transcript id %s", tt.event, otlp[0].ID, want)
		}
	}
}

const codexSession = "0199aaaa-bbbb-7ccc-8ddd-eeeeffff0001"

func TestTranscriptCodex(t *testing.T) {
	evs, lineOf, _, errs := feed(t, Codex, "testdata/codex/rollout-2026-01-10T09-00-00-"+codexSession+".jsonl")
	if len(errs) != 0 {
		t.Errorf("errors %v", errs)
	}
	id := func(kind, key string) string { return eventID("codex", codexSession, kind, key) }
	checkTranscript(t, evs, lineOf, codexSession, "main", []wantEv{
		{1, "session_meta", "content", "2026-01-10T09:00:00.1Z", nil, nil, nil},
		{2, "turn_context", "content", "2026-01-10T09:00:00.2Z", nil, nil, nil},
		{3, "user_message", "content", "2026-01-10T09:00:00.3Z", nil, nil, nil},
		{4, "tool_use", id(kindToolUse, "call_A1"), "2026-01-10T09:00:01Z", nil, nil, nil},
		{5, "tool_result", id(kindToolResult, "call_A1"), "2026-01-10T09:00:01.5Z", nil, nil, nil},
		// line 6 has no usage (info null); line 8 repeats line 7's totals
		{7, "usage", id(kindUsage, "1000/200/50/10/1050"), "2026-01-10T09:00:02Z", int64(1050),
			(800*2 + 200*0.5 + 50*8) / 1e6, "gpt-4.1"},
		{9, "usage", id(kindUsage, "2500/1200/80/10/2580"), "2026-01-10T09:00:03Z", int64(1530),
			(500*2 + 1000*0.5 + 30*8) / 1e6, "gpt-4.1"},
		{10, "mystery_record", "content", "2026-01-10T09:00:03.1Z", nil, nil, nil},
		{11, "tool_use", id(kindToolUse, "call_B2"), "2026-01-10T09:00:04Z", nil, nil, nil},
	})
}

func TestTranscriptCodexExcerpt(t *testing.T) {
	const session = "0199aaaa-bbbb-7ccc-8ddd-eeeeffff0002"
	evs, lineOf, _, _ := feed(t, Codex, "testdata/codex/rollout-2026-01-11T10-00-00-"+session+".lines5-6.jsonl")
	checkTranscript(t, evs, lineOf, session, "main", []wantEv{
		// No earlier totals: the event's own last_token_usage, not the cumulative totals.
		{1, "usage", eventID("codex", session, kindUsage, "90000/80000/900/300/90900"), "2026-01-11T10:00:05Z", int64(12100), nil, nil},
		{2, "compacted", "content", "2026-01-11T10:00:06Z", nil, nil, nil},
	})
}

const clawSession = "7d1e2f30-4a5b-4c6d-8e9f-0a1b2c3d4e5f"

func TestTranscriptOpenClaw(t *testing.T) {
	evs, lineOf, _, errs := feed(t, OpenClaw, "testdata/openclaw/agents/planner/sessions/"+clawSession+".jsonl")
	if len(errs) != 0 {
		t.Errorf("errors %v", errs)
	}
	id := func(kind, key string) string { return eventID("openclaw", clawSession, kind, key) }
	checkTranscript(t, evs, lineOf, clawSession, "planner", []wantEv{
		{1, "session", "content", "2026-01-12T07:00:00Z", nil, nil, nil},
		{2, "model_change", id(kindRecord, "0a1b2c3d"), "2026-01-12T07:00:00.5Z", nil, nil, nil},
		{3, "user_prompt", id(kindRecord, "1b2c3d4e"), "2026-01-12T07:00:01Z", nil, nil, nil},
		{4, "tool_use", id(kindToolUse, "call_R9|fc_01"), "2026-01-12T07:00:02Z", nil, nil, nil},
		{4, "assistant_message", id(kindRecord, "2c3d4e5f"), "2026-01-12T07:00:02Z", int64(1120), 0.0009000000000000001, "claude-sonnet-4-20250514"},
		{5, "tool_result", id(kindToolResult, "call_R9|fc_01"), "2026-01-12T07:00:02.5Z", nil, nil, nil},
		// Older pi entries: no id, no totalTokens, no cost.
		{6, "assistant_message", "content", "2026-01-12T07:00:03Z", int64(2100), (2000*2.5 + 100*10) / 1e6, "gpt-4o"},
		{7, "assistant_message", id(kindRecord, "4e5f6071"), "2026-01-12T07:00:04Z", int64(0), 0.0, "qwen3:8b"},
		{8, "compaction", id(kindRecord, "5f607182"), "2026-01-12T07:00:05Z", nil, nil, nil},
		{9, "custom", id(kindRecord, "60718293"), "2026-01-12T07:00:06Z", nil, nil, nil},
	})
}

func TestTranscriptLineErrors(t *testing.T) {
	tests := []struct {
		line, want string
	}{
		{`{"type":`, "line 1: not JSON: unexpected EOF"},
		{`[1,2]`, "line 1: not a JSON object"},
		{`"text"`, "line 1: not a JSON object"},
		{`{"a":1} {"b":2}`, "line 1: not JSON: text after the value"},
		{`   `, ""},
		{`{"type":"user","message":{"content":7}}`, ""},
	}
	for _, tt := range tests {
		for _, f := range []Format{ClaudeCode, Codex, OpenClaw} {
			tr := NewTranscript(f, "x.jsonl", nil)
			evs, err := tr.Line([]byte(tt.line), int64(len(tt.line)+1))
			got := ""
			if err != nil {
				got = err.Error()
			}
			if got != tt.want {
				t.Errorf("%v %q: error %q, want %q", f, tt.line, got, tt.want)
			}
			for _, e := range evs {
				checkValid(t, e)
			}
			if tr.Safe() != int64(len(tt.line)+1) {
				t.Errorf("%v %q: Safe %d", f, tt.line, tr.Safe())
			}
		}
	}
}

func TestFormatString(t *testing.T) {
	for f, want := range map[Format]string{ClaudeCode: "claude_code", Codex: "codex", OpenClaw: "openclaw", 0: "Format(0)"} {
		if f.String() != want {
			t.Errorf("%d: %s, want %s", int(f), f, want)
		}
	}
}

// TestTranscriptRestart: for every cut, a reader that restarts from Safe
// gets every event of a straight read and no other id.
func TestTranscriptRestart(t *testing.T) {
	files := map[string]Format{
		"testdata/claude-code/" + ccFile + ".jsonl":                             ClaudeCode,
		"testdata/codex/rollout-2026-01-10T09-00-00-" + codexSession + ".jsonl": Codex,
		"testdata/openclaw/agents/planner/sessions/" + clawSession + ".jsonl":   OpenClaw,
	}
	for path, f := range files {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		lines := splitLines(b)
		want := idSet(mapAllLax(f, path, lines))
		for cut := range len(lines) + 1 {
			got := idSet(restartAt(t, f, path, lines, cut))
			if len(got) != len(want) {
				t.Errorf("%s: restart after line %d: %d ids, want %d", filepath.Base(path), cut, len(got), len(want))
			}
			for id := range got {
				if !want[id] {
					t.Errorf("%s: restart after line %d: new id %s", filepath.Base(path), cut, id)
				}
			}
		}
	}
}

// mapAllLax maps all lines, ignoring line errors.
func mapAllLax(f Format, path string, lines []fileLine) []chainlog.Event {
	tr := NewTranscript(f, path, nil)
	var evs []chainlog.Event
	for _, l := range lines {
		got, _ := tr.Line(l.text, l.end)
		evs = append(evs, got...)
	}
	return append(evs, tr.Flush()...)
}
