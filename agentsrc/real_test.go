package agentsrc

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"chainlog"
)

// fileLine is one line of a transcript and the offset past its newline.
type fileLine struct {
	text []byte
	end  int64
}

// splitLines splits a file as a tailer reads it: the last line counts
// even without a trailing newline (the file is finished).
func splitLines(b []byte) []fileLine {
	var out []fileLine
	var off int64
	for len(b) > 0 {
		i := bytes.IndexByte(b, '\n')
		n := i + 1
		text := b[:max(i, 0)]
		if i < 0 {
			n, text = len(b), b
		}
		off += int64(n)
		out = append(out, fileLine{bytes.TrimSuffix(text, []byte("\r")), off})
		b = b[n:]
	}
	return out
}

// mapAll feeds every line to a new transcript and flushes it.
func mapAll(t testing.TB, f Format, path string, lines []fileLine) []chainlog.Event {
	t.Helper()
	tr := NewTranscript(f, path, &Mapper{NodeID: "node-1"})
	var evs []chainlog.Event
	for i, l := range lines {
		got, err := tr.Line(l.text, l.end)
		if err != nil {
			t.Errorf("%s: line %d: %v", filepath.Base(path), i+1, err)
		}
		evs = append(evs, got...)
	}
	evs = append(evs, tr.Flush()...)
	if tr.Safe() != lines[len(lines)-1].end {
		t.Errorf("%s: Safe %d after Flush, want %d", filepath.Base(path), tr.Safe(), lines[len(lines)-1].end)
	}
	return evs
}

// restartAt reads lines[:cut], then restarts as a reader does: a new
// transcript fed the lines before Safe (events discarded), then the rest.
func restartAt(t testing.TB, f Format, path string, lines []fileLine, cut int) []chainlog.Event {
	t.Helper()
	first := NewTranscript(f, path, &Mapper{NodeID: "node-1"})
	var evs []chainlog.Event
	for _, l := range lines[:cut] {
		got, _ := first.Line(l.text, l.end)
		evs = append(evs, got...)
	}
	safe := first.Safe()
	again := NewTranscript(f, path, &Mapper{NodeID: "node-1"})
	for _, l := range lines {
		got, _ := again.Line(l.text, l.end)
		if l.end > safe {
			evs = append(evs, got...)
		}
	}
	return append(evs, again.Flush()...)
}

var realDirs = map[string]Format{"claude-code": ClaudeCode, "codex": Codex, "openclaw": OpenClaw}

func realFixtures(t *testing.T) string {
	dir := os.Getenv("CHAINLOG_REAL_FIXTURES")
	if dir == "" {
		t.Skip("CHAINLOG_REAL_FIXTURES is not set: the real agent telemetry samples are not here")
	}
	return dir
}

func TestRealTranscripts(t *testing.T) {
	root := realFixtures(t)
	for sub, format := range realDirs {
		paths, _ := filepath.Glob(filepath.Join(root, sub, "*.jsonl"))
		if len(paths) == 0 {
			t.Errorf("no transcripts in %s", sub)
		}
		for _, path := range paths {
			t.Run(sub+"/"+filepath.Base(path), func(t *testing.T) {
				b, err := os.ReadFile(path)
				if err != nil {
					t.Fatal(err)
				}
				lines := splitLines(b)
				evs := mapAll(t, format, path, lines)
				checkRealEvents(t, evs)
				if again := mapAll(t, format, path, lines); !reflect.DeepEqual(ids(again), ids(evs)) {
					t.Errorf("mapping the file again gave other ids")
				}
				want := idSet(evs)
				for _, cut := range []int{1, len(lines) / 3, len(lines) / 2, len(lines) - 1} {
					got := idSet(restartAt(t, format, path, lines, cut))
					if !reflect.DeepEqual(got, want) {
						t.Errorf("restart after line %d: %d ids, want the same %d ids", cut, len(got), len(want))
					}
				}
			})
		}
	}
}

func ids(evs []chainlog.Event) []string {
	out := make([]string, len(evs))
	for i, e := range evs {
		out[i] = e.ID
	}
	return out
}

func idSet(evs []chainlog.Event) map[string]bool {
	out := map[string]bool{}
	for _, e := range evs {
		out[e.ID] = true
	}
	return out
}

// checkRealEvents checks that every event is valid, and that two events
// share an id only when they are the same record: equal data but for
// where it was read.
func checkRealEvents(t *testing.T, evs []chainlog.Event) {
	t.Helper()
	if len(evs) == 0 {
		t.Fatal("no events")
	}
	seen := map[string]chainlog.Event{}
	for _, ev := range evs {
		checkValid(t, ev)
		if prev, ok := seen[ev.ID]; ok && !sameRecord(prev, ev) {
			t.Errorf("id %s given to two different records:\n%.600s\n%.600s", ev.ID, prev.Data, ev.Data)
		}
		seen[ev.ID] = ev
	}
}

func sameRecord(a, b chainlog.Event) bool {
	strip := func(d json.RawMessage) any {
		var m map[string]any
		json.Unmarshal(d, &m)
		delete(m, "transcript")
		return m
	}
	return a.EventType == b.EventType && reflect.DeepEqual(strip(a.Data), strip(b.Data))
}

func TestRealOTLP(t *testing.T) {
	root := realFixtures(t)
	m := &Mapper{NodeID: "node-1"}
	var evs []chainlog.Event
	for _, name := range []string{"otlp/opentelemetry-proto_logs.json", "otlp/opentelemetry-proto_events.json"} {
		got, rej, reason := m.Logs(readLogsJSON(t, filepath.Join(root, name)))
		if rej != 0 || len(got) == 0 {
			t.Errorf("%s: %d events, %d rejected (%s)", name, len(got), rej, reason)
		}
		evs = append(evs, got...)
	}
	for _, name := range []string{"otlp/opentelemetry-proto_trace.json", "genai-spans/clawmetry_langgraph_openllmetry_0_62_3_nothread.json"} {
		td := readTracesJSON(t, filepath.Join(root, name))
		got, rej, reason := m.Traces(td)
		if rej != 0 || len(got) != td.SpanCount() {
			t.Errorf("%s: %d events of %d spans, %d rejected (%s)", name, len(got), td.SpanCount(), rej, reason)
		}
		again, _, _ := m.Traces(td)
		if !reflect.DeepEqual(again, got) {
			t.Errorf("%s: mapping again differs", name)
		}
		evs = append(evs, got...)
	}
	// The OpenInference fixtures are flat attribute maps: one span each.
	flat, _ := filepath.Glob(filepath.Join(root, "genai-spans", "openinference-*.json"))
	for _, path := range flat {
		got := flatSpan(t, m, path)
		if strings.Contains(path, "tool_execution") && got.EventType != "execute_tool" {
			t.Errorf("%s: event type %s", path, got.EventType)
		}
		evs = append(evs, got)
	}
	checkRealEvents(t, evs)
}

func flatSpan(t *testing.T, m *Mapper, path string) chainlog.Event {
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var attrs map[string]any
	if err := json.Unmarshal(b, &attrs); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	td := ptrace.NewTraces()
	sp := td.ResourceSpans().AppendEmpty().ScopeSpans().AppendEmpty().Spans().AppendEmpty()
	sp.SetName(filepath.Base(path))
	sp.SetStartTimestamp(pcommon.NewTimestampFromTime(t0))
	if err := sp.Attributes().FromRaw(attrs); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	evs, rej, reason := m.Traces(td)
	if rej != 0 || len(evs) != 1 {
		t.Fatalf("%s: %d events, %d rejected (%s)", path, len(evs), rej, reason)
	}
	return evs[0]
}
