package chainlog

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"
)

// hasRepeatedKey is checkJSON's repeated-key rule done with encoding/json's
// tokenizer, which unescapes keys.
func hasRepeatedKey(t *testing.T, b []byte) bool {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var value func() bool
	value = func() bool {
		tok, err := dec.Token()
		if err != nil {
			t.Fatalf("token: %v", err)
		}
		dup := false
		switch tok {
		case json.Delim('{'):
			keys := map[string]bool{}
			for dec.More() {
				k, err := dec.Token()
				if err != nil {
					t.Fatalf("key: %v", err)
				}
				dup = dup || keys[k.(string)]
				keys[k.(string)] = true
				dup = value() || dup
			}
			_, _ = dec.Token() // '}'
		case json.Delim('['):
			for dec.More() {
				dup = value() || dup
			}
			_, _ = dec.Token() // ']'
		}
		return dup
	}
	return value()
}

// FuzzCheckJSON compares checkJSON's repeated-key rule with one built on
// encoding/json, on any valid JSON: a repeated key it reports is one, and
// one it does not report is none, unless it reported a lone surrogate.
func FuzzCheckJSON(f *testing.F) {
	for _, s := range []string{
		`{}`, `[]`, `1`, `"x"`, `{"a":1,"a":2}`, `{"a":{"a":1},"b":[{"a":2},{"a":3}]}`,
		`{"a":1,"\u0061":2}`, `{"a":1,"\\u0061":2}`, `[{"x":[{"y":1,"y":2}]}]`,
		`{"k":"\ud800"}`, `{"\udc00":1}`, `{"k":"\ud83d\ude00"}`, ` { "a" : [ 1 , { } ] , "b" : null } `,
		manyKeys(40, ""), manyKeys(40, "k3"), `{"":1,"":2}`, `{"a":[],"b":{},"a":""}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if !json.Valid(b) || !utf8.Valid(b) {
			return
		}
		fe := checkJSON(b)
		want := hasRepeatedKey(t, b)
		switch {
		case fe == nil && want:
			t.Fatalf("checkJSON(%s) = nil; the object has a repeated key", b)
		case fe != nil && strings.Contains(fe.Msg, "duplicate key") && !want:
			t.Fatalf("checkJSON(%s) = %v; no key is repeated", b, fe)
		case fe != nil && !strings.Contains(fe.Msg, "duplicate key") && !strings.Contains(fe.Msg, "lone UTF-16 surrogate"):
			t.Fatalf("checkJSON(%s) = %v", b, fe)
		}
	})
}
