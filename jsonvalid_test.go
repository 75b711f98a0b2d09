package chainlog

import (
	"encoding/json"
	"strings"
	"testing"
)

var validJSONCases = []string{
	``, ` `, `null`, ` true `, `false`, `nul`, `nulls`, `0`, `-0`, `01`, `-`, `1.`, `1.5`, `1e`, `1e+`, `1E-7`, `-12.5e10`,
	`""`, `"a\"b"`, `"\u00e9"`, `"\u00g9"`, `"\x"`, `"` + "\x01" + `"`, `"\/"`, `"unterminated`, "\"\xff\"",
	`{}`, `{ }`, `[]`, `[ ]`, `[1,]`, `[,1]`, `[1 2]`, `{"a":1}`, `{"a" : [1, {"b": null}], "c": "d"}`, `{"a"}`, `{"a":}`,
	`{a:1}`, `{"a":1,}`, `{"a":1 "b":2}`, `[[[]]]`, `[[]`, `[]]`, `{}{}`, `{"a":1}}`, "\t[\n1\r]\n",
	strings.Repeat("[", 10000) + strings.Repeat("]", 10000),
	strings.Repeat("[", 10001) + strings.Repeat("]", 10001),
	strings.Repeat(`{"a":`, 200) + "1" + strings.Repeat("}", 200),
}

func TestValidJSON(t *testing.T) {
	for _, c := range validJSONCases {
		if got, want := validJSON([]byte(c)), json.Valid([]byte(c)); got != want {
			t.Errorf("validJSON(%.60q) = %v; json.Valid says %v", c, got, want)
		}
	}
}

// FuzzValidJSON holds validJSON to encoding/json's Valid.
func FuzzValidJSON(f *testing.F) {
	for _, c := range validJSONCases {
		if len(c) < 1000 {
			f.Add([]byte(c))
		}
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if got, want := validJSON(b), json.Valid(b); got != want {
			t.Fatalf("validJSON(%q) = %v; json.Valid says %v", b, got, want)
		}
	})
}

func BenchmarkValidJSON(b *testing.B) {
	line := []byte(`{"id":"evt_0b1c","node_id":"n1","event_type":"tool.call","ts":"2026-03-01T12:00:00Z","data":{"type":"tool_use","name":"Bash","input":{"command":"go test ./... -run TestX -count=1","description":"run the tests"},"usage":{"input_tokens":12,"output_tokens":345,"cache_read_input_tokens":6789}},"model":"m","token_count":7}`)
	b.Run("validJSON", func(b *testing.B) {
		b.SetBytes(int64(len(line)))
		for b.Loop() {
			validJSON(line)
		}
	})
	b.Run("json.Valid", func(b *testing.B) {
		b.SetBytes(int64(len(line)))
		for b.Loop() {
			json.Valid(line)
		}
	})
}
