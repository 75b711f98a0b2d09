package agentsrc

import (
	"fmt"
	"os"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
)

// BenchmarkTranscriptClaudeCode maps the Claude Code fixture's lines over
// and over, with the uuids, message ids and tool ids varied so that every
// response and tool call is new; it reports lines/s.
func BenchmarkTranscriptClaudeCode(b *testing.B) {
	raw, err := os.ReadFile("testdata/claude-code/" + ccFile + ".jsonl")
	if err != nil {
		b.Fatal(err)
	}
	var lines [][]byte
	for _, l := range splitLines(raw) {
		lines = append(lines, l.text)
	}
	const rounds = 64 // distinct copies of the file
	var copies [][]byte
	for r := range rounds {
		for _, l := range lines {
			s := string(l)
			for _, old := range []string{"aaaa0000-0000-4000-8000-", "msg_01", "req_01", "toolu_01"} {
				s = replaceAll(s, old, fmt.Sprintf("%s%04d", old[:len(old)-1], r))
			}
			copies = append(copies, []byte(s))
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	n := 0
	tr := NewTranscript(ClaudeCode, "no-such-dir/"+ccFile+".jsonl", nil)
	var off int64
	for b.Loop() {
		l := copies[n%len(copies)]
		off += int64(len(l) + 1)
		tr.Line(l, off)
		n++
	}
	tr.Flush()
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "lines/s")
}

func replaceAll(s, old, new string) string {
	out := ""
	for {
		i := indexOf(s, old)
		if i < 0 {
			return out + s
		}
		out += s[:i] + new
		s = s[i+len(old):]
	}
}

func indexOf(s, sub string) int {
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			return i
		}
	}
	return -1
}

// BenchmarkLogs512 maps an export of 512 Claude Code events, as Claude
// Code's exporter batches them; it reports records/s.
func BenchmarkLogs512(b *testing.B) {
	ld := plog.NewLogs()
	rl := ld.ResourceLogs().AppendEmpty()
	rl.Resource().Attributes().FromRaw(map[string]any{"service.name": "claude-code", "host.name": "dev", "service.version": "2.1.30"})
	sl := rl.ScopeLogs().AppendEmpty()
	sl.Scope().SetName("com.anthropic.claude_code.events")
	start := time.Date(2026, 2, 3, 0, 0, 0, 0, time.UTC)
	names := []string{"claude_code.api_request", "claude_code.tool_result", "claude_code.user_prompt", "claude_code.tool_decision"}
	for i := range 512 {
		lr := sl.LogRecords().AppendEmpty()
		ts := start.Add(time.Duration(i) * time.Second)
		lr.SetTimestamp(pcommon.NewTimestampFromTime(ts))
		lr.SetObservedTimestamp(pcommon.NewTimestampFromTime(ts.Add(time.Second)))
		name := names[i%len(names)]
		lr.Body().SetStr(name)
		lr.Attributes().FromRaw(map[string]any{
			"event.name": name, "event.timestamp": ts.Format(time.RFC3339Nano), "event.sequence": int64(i),
			"session.id": "5f1c2a8e-7d3b-4c10-9a6e-2b4d8f0e1a77", "user.id": "u-4b1d", "organization.id": "org-77",
			"prompt.id": fmt.Sprintf("p-%d", i/4), "request_id": fmt.Sprintf("req_%d", i), "tool_use_id": fmt.Sprintf("toolu_%d", i),
			"model": "claude-sonnet-4-20250514", "input_tokens": "1200", "output_tokens": int64(300),
			"cache_read_tokens": "20000", "cache_creation_tokens": "0", "duration_ms": 5290.0, "success": "true", "tool_name": "Read",
		})
	}
	m := &Mapper{}
	b.ReportAllocs()
	for b.Loop() {
		evs, rej, _ := m.Logs(ld)
		if len(evs) != 512 || rej != 0 {
			b.Fatalf("%d events, %d rejected", len(evs), rej)
		}
	}
	b.ReportMetric(512*float64(b.N)/b.Elapsed().Seconds(), "records/s")
}
