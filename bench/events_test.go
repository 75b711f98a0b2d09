package bench

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"chainlog"
	"chainlog/sqlite"
)

// TestRealisticPayload: a Claude Code tool call with its input, usage
// with four token counts, the model; the event's token count is their sum.
func TestRealisticPayload(t *testing.T) {
	cfg := tinyConfig(PayloadRealistic)
	gen := cfg.events()
	tools := map[string]bool{}
	for i := range 200 {
		var e chainlog.Event
		gen.next(&e)
		var d struct {
			Model   string `json:"model"`
			ToolUse struct {
				Name  string         `json:"name"`
				Input map[string]any `json:"input"`
			} `json:"tool_use"`
			Usage map[string]int64 `json:"usage"`
		}
		if err := json.Unmarshal(e.Data, &d); err != nil {
			t.Fatalf("event %d: data %s: %v", i, e.Data, err)
		}
		if n := len(e.Data); n < 300 || n > 800 {
			t.Errorf("event %d: %d bytes of data, want a few hundred", i, n)
		}
		var sum int64
		for _, k := range []string{"input_tokens", "output_tokens", "cache_creation_input_tokens", "cache_read_input_tokens"} {
			v, ok := d.Usage[k]
			if !ok {
				t.Fatalf("event %d: usage %v has no %s", i, d.Usage, k)
			}
			sum += v
		}
		if e.TokenCount == nil || *e.TokenCount != sum {
			t.Errorf("event %d: token_count %v, want %d", i, e.TokenCount, sum)
		}
		if e.Model == nil || *e.Model != d.Model || e.CostUSD == nil || *e.CostUSD <= 0 {
			t.Errorf("event %d: model %v (data %q), cost %v", i, e.Model, d.Model, e.CostUSD)
		}
		if len(d.ToolUse.Input) == 0 {
			t.Errorf("event %d: tool %q without input", i, d.ToolUse.Name)
		}
		tools[d.ToolUse.Name] = true
	}
	if len(tools) != 4 {
		t.Errorf("tools %v, want Bash, Read, Edit and Grep", tools)
	}
}

// TestGeneratorRepeats: two sources of one run give the same events, ids
// included; another seed gives other ids.
func TestGeneratorRepeats(t *testing.T) {
	cfg := tinyConfig(PayloadSmall)
	a, b, other := cfg.events(), cfg.events(), cfg.generated(cfg.Nodes, 2)
	for i := range 50 {
		var ea, eb, eo chainlog.Event
		a.next(&ea)
		b.next(&eb)
		other.next(&eo)
		if !reflect.DeepEqual(ea, eb) {
			t.Fatalf("event %d: %+v and %+v", i, ea, eb)
		}
		if ea.ID == eo.ID {
			t.Fatalf("event %d: seed 2 repeats id %s", i, ea.ID)
		}
	}
}

// TestLoadEvents: a store's export is read back as the events that were
// ingested, without their chain stamps, and a run measures them.
func TestLoadEvents(t *testing.T) {
	dir := t.TempDir()
	cfg := tinyConfig(PayloadRealistic)
	st, err := sqlite.Open(t.Context(), filepath.Join(dir, "src.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	gen := cfg.events()
	want := make([]chainlog.Event, cfg.Events)
	for i := range want {
		gen.next(&want[i])
	}
	if _, err := st.Ingest(t.Context(), want); err != nil {
		t.Fatal(err)
	}
	var export bytes.Buffer
	err = st.Export(t.Context(), "", func(e *chainlog.StoredEvent) error {
		line, err := e.MarshalJSON()
		export.Write(line)
		export.WriteByte('\n')
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, "export.ndjson")
	if err := os.WriteFile(file, export.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	got, err := LoadEvents(file)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("loaded %d events, want the %d ingested", len(got), len(want))
	}

	run := Config{Runs: 1, Batch: 100, Nodes: 1, EventsFile: file}
	if err := run.loadEvents(); err != nil {
		t.Fatal(err)
	}
	if run.Events != cfg.Events || run.payloadName() != "file" {
		t.Errorf("events %d, payload %q; want the file's %d", run.Events, run.payloadName(), cfg.Events)
	}
	path := filepath.Join(dir, "bare.db")
	if _, err := bareWriteRun(run, path); err != nil {
		t.Fatal(err)
	}
	if n := queryInt(t, path, "SELECT count(*) FROM events WHERE data LIKE '%tool_use%'"); n != int64(cfg.Events) {
		t.Errorf("%d of the file's events written, want %d", n, cfg.Events)
	}
}

func TestReadEventsRefuses(t *testing.T) {
	gen := tinyConfig(PayloadSmall).events()
	var e chainlog.Event
	gen.next(&e)
	line, err := chainlog.StoredEvent{Event: e}.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	own := e
	own.NodeID = chainlog.ReservedNodePrefix + "trail"
	ownLine, err := chainlog.StoredEvent{Event: own}.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, input, want string
	}{
		{"empty", "", "no events"},
		{"not an export", `{"id":"a","node_id":"n","event_type":"x","ts":"t"}` + "\n", "line 1: not an exported event"},
		{"repeated id", string(line) + "\n" + string(line) + "\n", "line 2: id"},
		{"the store's own node", string(line) + "\n" + string(ownLine), "line 2:"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := readEvents(strings.NewReader(tc.input))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err %v, want %q", err, tc.want)
			}
		})
	}
	evs, err := readEvents(bytes.NewReader(line)) // no final newline
	if err != nil || len(evs) != 1 || evs[0].ID != e.ID {
		t.Errorf("one line without a newline: %v %v", evs, err)
	}
}

// FuzzReadEvents: readEvents returns events or an error, and the events
// it returns are exported again as the lines it read.
func FuzzReadEvents(f *testing.F) {
	gen := tinyConfig(PayloadRealistic).events()
	var buf bytes.Buffer
	for range 3 {
		var e chainlog.Event
		gen.next(&e)
		line, _ := chainlog.StoredEvent{Event: e}.MarshalJSON()
		buf.Write(line)
		buf.WriteByte('\n')
		f.Add(bytes.Clone(buf.Bytes()))
	}
	f.Add([]byte("{}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		evs, err := readEvents(bytes.NewReader(data))
		if err != nil {
			return
		}
		ids := map[string]bool{}
		for _, e := range evs {
			if ids[e.ID] {
				t.Fatalf("id %s twice", e.ID)
			}
			ids[e.ID] = true
			if err := chainlog.CheckUserNodeID(e.NodeID); err != nil {
				t.Fatal(err)
			}
		}
	})
}
