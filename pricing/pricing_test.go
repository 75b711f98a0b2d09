package pricing

import (
	"encoding/json"
	"math"
	"reflect"
	"strings"
	"testing"
)

func TestDefault(t *testing.T) {
	tab := Default()
	if tab.Currency != "USD" || tab.Unit != "per 1M tokens" || tab.AsOf != "2025-08" {
		t.Errorf("header: got %q %q %q, want USD, per 1M tokens, 2025-08", tab.Currency, tab.Unit, tab.AsOf)
	}
	if tab.Source == "" {
		t.Error("source: got empty, want a sentence")
	}
	seen := map[string]bool{}
	for _, p := range tab.Models {
		if p.Model != strings.ToLower(p.Model) {
			t.Errorf("model %q: got mixed case, want lowercase", p.Model)
		}
		if seen[p.Model] {
			t.Errorf("model %q: got duplicate, want unique", p.Model)
		}
		seen[p.Model] = true
		for _, v := range []float64{p.Input, p.Output, p.CacheRead, p.CacheWrite} {
			if v < 0 || math.IsNaN(v) || math.IsInf(v, 0) {
				t.Errorf("model %q: got price %v, want finite non-negative", p.Model, v)
			}
		}
	}
	if got, want := len(tab.Models), len(seen); got != want || got == 0 {
		t.Errorf("models: got %d, want %d unique and > 0", got, want)
	}
}

func TestDefaultIsCopy(t *testing.T) {
	a := Default()
	a.Models[0].Input = -1
	if got := Default().Models[0].Input; got < 0 {
		t.Errorf("Default after caller mutation: got input %v, want unchanged", got)
	}
}

func TestLookup(t *testing.T) {
	tab := Default()
	tests := []struct {
		name, model, want string // want "" means not found
	}{
		{"exact", "claude-sonnet-4", "claude-sonnet-4"},
		{"exact case-insensitive", "GPT-4o", "gpt-4o"},
		{"exact with space", "  o3 ", "o3"},
		{"dated anthropic", "claude-sonnet-4-20250514", "claude-sonnet-4"},
		{"dated openai", "gpt-4o-mini-2024-07-18", "gpt-4o-mini"},
		{"dated shorter entry", "gpt-4o-2024-08-06", "gpt-4o"},
		{"dated minor version", "claude-opus-4-1-20250805", "claude-opus-4-1"},
		{"latest alias", "claude-3-5-haiku-latest", "claude-3-5-haiku"},
		{"vertex at-version", "claude-sonnet-4@20250514", "claude-sonnet-4"},
		{"provider slash", "anthropic/claude-3-7-sonnet", "claude-3-7-sonnet"},
		{"provider slash dated", "openai/gpt-4.1-mini-2025-04-14", "gpt-4.1-mini"},
		{"router path", "openrouter/openai/o4-mini", "o4-mini"},
		{"bedrock", "anthropic.claude-3-haiku-20240307-v1:0", "claude-3-haiku"},
		{"bedrock region", "us.anthropic.claude-3-5-sonnet-20241022-v2:0", "claude-3-5-sonnet"},
		{"longest prefix nano", "gpt-4.1-nano-2025-04-14", "gpt-4.1-nano"},
		{"exact beats prefix", "o3-mini", "o3-mini"},
		{"unknown", "llama-3-70b", ""},
		{"empty", "", ""},
		{"no separator", "gpt-4omni", ""},
		{"shorter than entry", "gpt-4", ""},
		{"distinct model extending entry", "o3-pro", ""},
		{"newer minor version", "claude-opus-4-5-20251101", ""},
		{"separator only", "gpt-4o-", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, ok := tab.Lookup(tc.model)
			if got := p.Model; ok != (tc.want != "") || got != tc.want {
				t.Errorf("Lookup(%q): got %q, %v, want %q", tc.model, got, ok, tc.want)
			}
		})
	}
}

func TestLookupNilTable(t *testing.T) {
	var tab *Table
	if _, ok := tab.Lookup("gpt-4o"); ok {
		t.Error("nil table: got found, want not found")
	}
}

func TestCost(t *testing.T) {
	tab := Default()
	tests := []struct {
		name  string
		model string
		u     Usage
		want  float64
	}{
		{"zero usage", "gpt-4o", Usage{}, 0},
		{"one million each way", "gpt-4o", Usage{InputTokens: 1e6, OutputTokens: 1e6}, 12.50},
		// 1000*3 + 500*15 + 2000*0.30 + 100*3.75 = 11475 → 0.011475
		{"anthropic with cache", "claude-sonnet-4", Usage{1000, 500, 2000, 100}, 0.011475},
		// 1e6 cached reads at 0.075
		{"cache read only", "gpt-4o-mini", Usage{CacheReadTokens: 1e6}, 0.075},
		// 10000*15 + 2000*75 = 300000 → 0.30
		{"opus", "claude-opus-4", Usage{InputTokens: 10000, OutputTokens: 2000}, 0.30},
		// 4000*0.25 + 1000*1.25 + 8000*0.03 + 2000*0.30 = 1000+1250+240+600 → 0.00309
		{"haiku all four", "claude-3-haiku", Usage{4000, 1000, 8000, 2000}, 0.00309},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, ok := tab.Lookup(tc.model)
			if !ok {
				t.Fatalf("Lookup(%q): got not found, want found", tc.model)
			}
			if got := p.Cost(tc.u); math.Abs(got-tc.want) > 1e-12 {
				t.Errorf("Cost(%+v): got %v, want %v", tc.u, got, tc.want)
			}
		})
	}
}

func TestTotal(t *testing.T) {
	if got, want := (Usage{1, 20, 300, 4000}).Total(), int64(4321); got != want {
		t.Errorf("Total: got %d, want %d", got, want)
	}
}

func TestUsageFromPayload(t *testing.T) {
	tests := []struct {
		name      string
		payload   string
		want      Usage
		wantModel string
		wantOK    bool
	}{
		{"anthropic top level",
			`{"model":"claude-sonnet-4-20250514","usage":{"input_tokens":10,"output_tokens":20,"cache_read_input_tokens":30,"cache_creation_input_tokens":40}}`,
			Usage{10, 20, 30, 40}, "claude-sonnet-4-20250514", true},
		{"anthropic without cache fields",
			`{"usage":{"input_tokens":5,"output_tokens":7}}`,
			Usage{InputTokens: 5, OutputTokens: 7}, "", true},
		{"anthropic null cache field",
			`{"usage":{"input_tokens":5,"output_tokens":7,"cache_creation_input_tokens":null}}`,
			Usage{InputTokens: 5, OutputTokens: 7}, "", true},
		{"openai with cached tokens",
			`{"model":"gpt-4o-2024-08-06","usage":{"prompt_tokens":100,"completion_tokens":50,"total_tokens":150,"prompt_tokens_details":{"cached_tokens":60}}}`,
			Usage{InputTokens: 40, OutputTokens: 50, CacheReadTokens: 60}, "gpt-4o-2024-08-06", true},
		{"openai null details",
			`{"usage":{"prompt_tokens":100,"completion_tokens":50,"prompt_tokens_details":null}}`,
			Usage{InputTokens: 100, OutputTokens: 50}, "", true},
		{"openai responses api",
			`{"model":"o3","usage":{"input_tokens":100,"output_tokens":9,"input_tokens_details":{"cached_tokens":25}}}`,
			Usage{InputTokens: 75, OutputTokens: 9, CacheReadTokens: 25}, "o3", true},
		{"nested under response",
			`{"model":"outer","response":{"model":"gpt-4.1","usage":{"prompt_tokens":3,"completion_tokens":4}}}`,
			Usage{InputTokens: 3, OutputTokens: 4}, "gpt-4.1", true},
		{"nested under message",
			`{"type":"message_start","message":{"model":"claude-3-5-haiku-latest","usage":{"input_tokens":8,"output_tokens":1}}}`,
			Usage{InputTokens: 8, OutputTokens: 1}, "claude-3-5-haiku-latest", true},
		{"nested under result, model at top",
			`{"model":"o4-mini","result":{"usage":{"prompt_tokens":1,"completion_tokens":2}}}`,
			Usage{InputTokens: 1, OutputTokens: 2}, "o4-mini", true},
		{"top level wins over nested",
			`{"usage":{"input_tokens":1,"output_tokens":1},"response":{"usage":{"input_tokens":9,"output_tokens":9}}}`,
			Usage{InputTokens: 1, OutputTokens: 1}, "", true},
		{"non-string model ignored",
			`{"model":42,"usage":{"input_tokens":1,"output_tokens":1}}`,
			Usage{InputTokens: 1, OutputTokens: 1}, "", true},
		{"no usage", `{"model":"gpt-4o","text":"hi"}`, Usage{}, "", false},
		{"null usage", `{"usage":null}`, Usage{}, "", false},
		{"empty usage object", `{"usage":{}}`, Usage{}, "", false},
		{"usage too deep", `{"response":{"message":{"usage":{"input_tokens":1}}}}`, Usage{}, "", false},
		{"usage not object", `{"usage":"lots"}`, Usage{}, "", false},
		{"negative count", `{"usage":{"input_tokens":-1,"output_tokens":2}}`, Usage{}, "", false},
		{"fractional count", `{"usage":{"input_tokens":1.5,"output_tokens":2}}`, Usage{}, "", false},
		{"exponent count", `{"usage":{"input_tokens":1e3,"output_tokens":2}}`, Usage{}, "", false},
		{"string count", `{"usage":{"prompt_tokens":"10","completion_tokens":2}}`, Usage{}, "", false},
		{"bool count", `{"usage":{"input_tokens":true}}`, Usage{}, "", false},
		{"huge count", `{"usage":{"input_tokens":99999999999999999999}}`, Usage{}, "", false},
		{"cached exceeds prompt", `{"usage":{"prompt_tokens":5,"completion_tokens":1,"prompt_tokens_details":{"cached_tokens":6}}}`, Usage{}, "", false},
		{"details not object", `{"usage":{"prompt_tokens":5,"prompt_tokens_details":[1]}}`, Usage{}, "", false},
		{"null payload", `null`, Usage{}, "", false},
		{"array payload", `[{"usage":{"input_tokens":1}}]`, Usage{}, "", false},
		{"string payload", `"usage"`, Usage{}, "", false},
		{"number payload", `12`, Usage{}, "", false},
		{"empty payload", ``, Usage{}, "", false},
		{"invalid json", `{"usage":`, Usage{}, "", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			u, model, ok := UsageFromPayload([]byte(tc.payload))
			if u != tc.want || model != tc.wantModel || ok != tc.wantOK {
				t.Errorf("UsageFromPayload(%s): got %+v, %q, %v, want %+v, %q, %v",
					tc.payload, u, model, ok, tc.want, tc.wantModel, tc.wantOK)
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	const ok = `{"model":"m","input":1,"output":2,"cache_read":0.1,"cache_write":1.25}`
	tests := []struct {
		name, input, want string // want is a substring of the error
	}{
		{"not json", `{`, "pricing:"},
		{"not an object", `[]`, "pricing:"},
		{"trailing data", `{"models":[` + ok + `]} {}`, "trailing data"},
		{"unknown top field", `{"models":[` + ok + `],"extra":1}`, `unknown field "extra"`},
		{"unknown model field", `{"models":[{"model":"m","input":1,"output":2,"cache_read":0,"cache_write":0,"batch":1}]}`, `models[0]: json: unknown field "batch"`},
		{"wrong-case top field", `{"Models":[` + ok + `]}`, `unknown field "Models"`},
		{"wrong-case model field", `{"models":[{"model":"m","INPUT":1,"output":2,"cache_read":0,"cache_write":0}]}`, `models[0]: unknown field "INPUT"`},
		{"no models", `{"source":"x"}`, "no models"},
		{"empty models", `{"models":[]}`, "no models"},
		{"null model entry", `{"models":[null]}`, "models[0]: empty model name"},
		{"missing model name", `{"models":[{"input":1,"output":2,"cache_read":0,"cache_write":0}]}`, "models[0]: empty model name"},
		{"blank model name", `{"models":[{"model":" ","input":1,"output":2,"cache_read":0,"cache_write":0}]}`, "models[0]: empty model name"},
		{"padded model name", `{"models":[{"model":" m","input":1,"output":2,"cache_read":0,"cache_write":0}]}`, `model " m": name has surrounding space`},
		{"duplicate model", `{"models":[` + ok + `,` + ok + `]}`, `model "m": duplicate model`},
		{"duplicate model ignoring case", `{"models":[` + ok + `,` + strings.Replace(ok, `"m"`, `"M"`, 1) + `]}`, `model "M": duplicate model`},
		{"missing input", `{"models":[{"model":"x","output":2,"cache_read":0,"cache_write":0}]}`, `model "x": missing input price`},
		{"missing cache_write", `{"models":[{"model":"x","input":1,"output":2,"cache_read":0}]}`, `model "x": missing cache_write price`},
		{"null price", `{"models":[{"model":"x","input":null,"output":2,"cache_read":0,"cache_write":0}]}`, `model "x": missing input price`},
		{"negative input", `{"models":[{"model":"x","input":-1,"output":2,"cache_read":0,"cache_write":0}]}`, `model "x": negative input price`},
		{"negative cache_read", `{"models":[{"model":"x","input":1,"output":2,"cache_read":-0.1,"cache_write":0}]}`, `model "x": negative cache_read price`},
		{"string price", `{"models":[{"model":"x","input":"1","output":2,"cache_read":0,"cache_write":0}]}`, "models[0]"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tab, err := Parse([]byte(tc.input))
			if err == nil {
				t.Fatalf("Parse: got %+v, nil error, want error containing %q", tab, tc.want)
			}
			if got := err.Error(); !strings.Contains(got, tc.want) || !strings.HasPrefix(got, "pricing: ") {
				t.Errorf("Parse error: got %q, want it to start with \"pricing: \" and contain %q", got, tc.want)
			}
		})
	}
}

func TestParseValid(t *testing.T) {
	in := `{"source":"s","as_of":"2025-08","currency":"USD","unit":"per 1M tokens",
		"models":[{"model":"m","input":1,"output":2,"cache_read":0,"cache_write":1.25}]}`
	got, err := Parse([]byte(in))
	if err != nil {
		t.Fatalf("Parse: got error %v, want nil", err)
	}
	want := &Table{Source: "s", AsOf: "2025-08", Currency: "USD", Unit: "per 1M tokens",
		Models: []Price{{Model: "m", Input: 1, Output: 2, CacheRead: 0, CacheWrite: 1.25}}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Parse: got %+v, want %+v", got, want)
	}
}

func FuzzParse(f *testing.F) {
	f.Add(embedded)
	f.Add([]byte(`{"models":[{"model":"m","input":1,"output":2,"cache_read":0,"cache_write":0}]}`))
	f.Add([]byte(`{"models":[]}`))
	f.Add([]byte(`null`))
	f.Add([]byte(`{"models":[{"model":"x","input":-1e308}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		tab, err := Parse(data)
		if err != nil {
			if tab != nil {
				t.Fatalf("Parse: got table %+v with error %v, want nil table", tab, err)
			}
			return
		}
		checkTable(t, tab)
		b, err := json.Marshal(tab)
		if err != nil {
			t.Fatalf("Marshal: got %v, want nil", err)
		}
		again, err := Parse(b)
		if err != nil {
			t.Fatalf("Parse(Marshal(t)): got %v, want nil; json %s", err, b)
		}
		if !reflect.DeepEqual(tab, again) {
			t.Fatalf("round trip: got %+v, want %+v", again, tab)
		}
		for _, p := range tab.Models {
			if got, ok := tab.Lookup(p.Model); !ok || !strings.EqualFold(got.Model, p.Model) {
				t.Fatalf("Lookup(%q): got %q, %v, want itself", p.Model, got.Model, ok)
			}
		}
	})
}

func checkTable(t *testing.T, tab *Table) {
	t.Helper()
	if len(tab.Models) == 0 {
		t.Fatal("parsed table: got no models, want at least one")
	}
	seen := map[string]bool{}
	for _, p := range tab.Models {
		key := strings.ToLower(p.Model)
		if p.Model == "" || seen[key] {
			t.Fatalf("model %q: got empty or duplicate name, want unique", p.Model)
		}
		seen[key] = true
		if p.Input < 0 || p.Output < 0 || p.CacheRead < 0 || p.CacheWrite < 0 {
			t.Fatalf("model %q: got negative price %+v, want non-negative", p.Model, p)
		}
	}
}

func FuzzUsageFromPayload(f *testing.F) {
	for _, s := range []string{
		`{"model":"claude-sonnet-4","usage":{"input_tokens":10,"output_tokens":20,"cache_read_input_tokens":30,"cache_creation_input_tokens":40}}`,
		`{"usage":{"prompt_tokens":100,"completion_tokens":50,"prompt_tokens_details":{"cached_tokens":60}}}`,
		`{"response":{"usage":{"input_tokens":1,"input_tokens_details":{"cached_tokens":1}}}}`,
		`{"message":{"usage":{"input_tokens":9007199254740992,"cache_read_input_tokens":9007199254740992}}}`,
		`{"result":{"usage":{"prompt_tokens":-1}}}`,
		`null`, `[]`, `"x"`, `1.5`, ``,
	} {
		f.Add([]byte(s))
	}
	tab := Default()
	f.Fuzz(func(t *testing.T, data []byte) {
		u, model, ok := UsageFromPayload(data)
		if !ok {
			if u != (Usage{}) || model != "" {
				t.Fatalf("not ok: got %+v, %q, want zero values", u, model)
			}
			return
		}
		for _, n := range []int64{u.InputTokens, u.OutputTokens, u.CacheReadTokens, u.CacheWriteTokens} {
			if n < 0 || n > maxCount {
				t.Fatalf("usage %+v: got count %d, want 0..2^53", u, n)
			}
		}
		if total := u.Total(); total < 0 {
			t.Fatalf("usage %+v: got Total %d, want non-negative", u, total)
		}
		for _, p := range tab.Models {
			if c := p.Cost(u); c < 0 || math.IsNaN(c) || math.IsInf(c, 0) {
				t.Fatalf("Cost(%+v) at %q: got %v, want finite non-negative", u, p.Model, c)
			}
		}
		u2, model2, ok2 := UsageFromPayload(data)
		if u2 != u || model2 != model || !ok2 {
			t.Fatalf("second call: got %+v, %q, %v, want %+v, %q, true", u2, model2, ok2, u, model)
		}
	})
}
