package agentsrc

import (
	"os"
	"testing"

	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
)

func FuzzTranscriptLine(f *testing.F) {
	for _, path := range []string{
		"testdata/claude-code/" + ccFile + ".jsonl",
		"testdata/codex/rollout-2026-01-10T09-00-00-" + codexSession + ".jsonl",
		"testdata/openclaw/agents/planner/sessions/" + clawSession + ".jsonl",
	} {
		b, err := os.ReadFile(path)
		if err != nil {
			f.Fatal(err)
		}
		for _, l := range splitLines(b) {
			f.Add(l.text)
		}
	}
	f.Add([]byte(`{"type":"assistant","message":{"id":"m","content":"x","usage":{"input_tokens":1e300}},"requestId":"r"}`))
	f.Add([]byte("{\"type\":\"user\",\"sessionId\":\"\xff\",\"message\":{\"content\":[{\"type\":\"tool_result\"}]}}"))
	f.Fuzz(func(t *testing.T, line []byte) {
		for _, format := range []Format{ClaudeCode, Codex, OpenClaw} {
			tr := NewTranscript(format, "no-such-dir/s.jsonl", nil)
			// Twice: the second line meets the state the first one left.
			for i := range 2 {
				evs, _ := tr.Line(line, int64((i+1)*(len(line)+1)))
				for _, ev := range evs {
					checkValid(t, ev)
				}
			}
			for _, ev := range tr.Flush() {
				checkValid(t, ev)
			}
		}
	})
}

func FuzzLogsJSON(f *testing.F) {
	for _, path := range []string{"testdata/otlp/claude_code_logs.json"} {
		b, err := os.ReadFile(path)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(`{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"timeUnixNano":"1","body":{"kvlistValue":{"values":[{"key":"a","value":{"arrayValue":{"values":[{"doubleValue":"NaN"}]}}}]}}}]}]}]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		req := plogotlp.NewExportRequest()
		if req.UnmarshalJSON(b) != nil {
			return
		}
		ld := req.Logs()
		evs, rejected, reason := (&Mapper{NodeID: "n"}).Logs(ld)
		if int(rejected)+len(evs) != ld.LogRecordCount() {
			t.Fatalf("%d events + %d rejected, from %d records", len(evs), rejected, ld.LogRecordCount())
		}
		if (rejected == 0) != (reason == "") {
			t.Fatalf("rejected %d with reason %q", rejected, reason)
		}
		for _, ev := range evs {
			checkValid(t, ev)
		}
	})
}
