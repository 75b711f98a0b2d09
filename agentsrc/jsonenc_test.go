package agentsrc

import (
	"bytes"
	"encoding/json"
	"math"
	"testing"
)

// stdJSON is what appendJSON must match: encoding/json without HTML
// escaping, less the newline.
func stdJSON(v any) ([]byte, bool) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, false
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), true
}

func TestAppendJSONMatchesEncodingJSON(t *testing.T) {
	t.Parallel()
	values := []any{
		nil, "", "plain", "quote\" back\\slash", "ctl\x00\x01\x1f\b\f\n\r\t\x7f", "<html>&amp;",
		"bad\xffutf8\xc3", "sep\u2028\u2029", "日本語 🎉", true, false,
		int64(0), int64(-9223372036854775808), 42, int32(-7),
		0.0, math.Copysign(0, -1), 1.5, 1e-7, 1e-6, 123456789e12, 1e21, 1e20, 5e-324, math.MaxFloat64, 0.1 + 0.2, -2.5e-9,
		json.Number("12"), json.Number("-0.5e+10"), json.Number(""),
		json.RawMessage(`{ "a" : [1, 2] }`), json.RawMessage(nil),
		[]byte("bytes\x00"), []byte(nil), []byte{},
		map[string]any{"b": 1.0, "a": []any{"x", nil, map[string]any{}}, "é": "v", "A": int64(3), "": false},
		map[string]any(nil), []any(nil), []any{},
		map[string]string{"z": "1", "a": "<"}, []string{"fallback"}, struct{ X int }{1},
	}
	for _, v := range values {
		want, wok := stdJSON(v)
		got, gok := appendJSON(nil, v)
		if wok != gok || wok && !bytes.Equal(got, want) {
			t.Errorf("appendJSON(%#v) = %s, %v; encoding/json gives %s, %v", v, got, gok, want, wok)
		}
	}
	for _, bad := range []any{math.NaN(), math.Inf(1), json.Number("1.2.3"), json.Number(" 1"), json.Number("01"), json.Number("true"), json.RawMessage(`{`)} {
		if _, ok := appendJSON(nil, bad); ok {
			t.Errorf("appendJSON(%#v) succeeded; encoding/json refuses it", bad)
		}
		if _, ok := stdJSON(bad); ok {
			t.Errorf("encoding/json accepts %#v", bad)
		}
	}
}

// FuzzAppendJSON decodes arbitrary JSON as the transcript mapper does
// (numbers as json.Number) and as plain values, and holds appendJSON to
// encoding/json's bytes for both, and for the input as a string.
func FuzzAppendJSON(f *testing.F) {
	for _, s := range []string{`{"a":1,"b":[true,null,"x\u2028"]}`, `"\u0000<>&"`, `[1e-7,1e21,-0,0.1]`, `{"é":{"":{}}}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		check := func(v any) {
			want, wok := stdJSON(v)
			got, gok := appendJSON(nil, v)
			if wok != gok || wok && !bytes.Equal(got, want) {
				t.Fatalf("appendJSON(%#v) = %s, %v; encoding/json gives %s, %v", v, got, gok, want, wok)
			}
		}
		check(string(b))
		check(b)
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.UseNumber()
		var v any
		if dec.Decode(&v) == nil {
			check(v)
		}
		var w any
		if json.Unmarshal(b, &w) == nil {
			check(w)
		}
	})
}
