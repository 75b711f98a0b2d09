package evidence_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"chainlog/evidence"
)

func TestDecodeRefuses(t *testing.T) {
	const head = `{"format":"chainlog-evidence@v1"`
	var many strings.Builder
	for i := range 40 {
		fmt.Fprintf(&many, `"%d":"AA==",`, i)
	}
	tests := []struct {
		name, doc, reason string
	}{
		{"a repeated key", head + `,"origin":"a","origin":"b"}`, `key "origin" appears twice`},
		{"a repeated key in an event", head + `,"events":[{"id":"a","ts":"x","id":"b"}]}`, `key "id" appears twice`},
		{"a repeated hash index past 32 keys", head + `,"hashes":{` + many.String() + `"7":"AA=="}}`, `key "7" appears twice`},
		{"a name in another case", head + `,"Origin":"a"}`, `key "Origin": names are lowercase`},
		{"an escaped name", head + `,"orig\u0069n":"a"}`, `key "orig\\u0069n": names are lowercase`},
		{"an unknown field", head + `,"extra":1}`, `unknown field "extra"`},
		{"another format", `{"format":"chainlog-evidence@v2"}`, `field "format": want`},
		{"data after the pack", head + `} {}`, "data after the pack's object"},
		{"invalid UTF-8", head + ",\"origin\":\"\xff\"}", "invalid UTF-8"},
		{"not JSON", "format: x", "evidence pack: invalid character"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := evidence.Decode([]byte(tt.doc))
			if !errors.Is(err, evidence.ErrFormat) || !strings.Contains(err.Error(), tt.reason) {
				t.Errorf("got %v, want an ErrFormat saying %q", err, tt.reason)
			}
		})
	}
	// Keys that only look alike in strings are fine.
	if _, err := evidence.Decode([]byte(head + `,"origin":"\"origin\": {,"}`)); err != nil {
		t.Errorf("a value holding quotes, braces and a key's name: %v", err)
	}
}
