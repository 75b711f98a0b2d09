package chainlog_test

import (
	"encoding/hex"
	"strings"
	"testing"

	"chainlog"
)

// TestParseHash: ParseHash takes exactly 64 characters of lowercase hex,
// as encoding/hex decodes them, and nothing else.
func TestParseHash(t *testing.T) {
	good := strings.Repeat("0123456789abcdef", 4)
	for _, tc := range []struct {
		in string
		ok bool
	}{
		{good, true},
		{strings.Repeat("f", 64), true},
		{strings.Repeat("0", 64), true},
		{strings.ToUpper(good), false},
		{good[:63] + "A", false},
		{good[:63] + "g", false},
		{good[:63], false},
		{good + "0", false},
		{"", false},
		{good[:62] + "\x000", false},
		{good[:62] + "é", false},
	} {
		b, ok := chainlog.ParseHash(tc.in)
		if ok != tc.ok {
			t.Errorf("ParseHash(%q) ok = %v; want %v", tc.in, ok, tc.ok)
			continue
		}
		if ok {
			want, err := hex.DecodeString(tc.in)
			if err != nil || string(want) != string(b[:]) {
				t.Errorf("ParseHash(%q) = %x; want %x", tc.in, b, want)
			}
		}
	}
}

// FuzzParseHash holds ParseHash to encoding/hex on lowercase input, and
// to refusing anything else.
func FuzzParseHash(f *testing.F) {
	f.Add(strings.Repeat("0123456789abcdef", 4))
	f.Add(strings.Repeat("A", 64))
	f.Fuzz(func(t *testing.T, s string) {
		b, ok := chainlog.ParseHash(s)
		canonical := len(s) == 64 && strings.Trim(s, "0123456789abcdef") == ""
		if ok != canonical {
			t.Fatalf("ParseHash(%q) ok = %v; want %v", s, ok, canonical)
		}
		if ok {
			want, _ := hex.DecodeString(s)
			if string(want) != string(b[:]) {
				t.Fatalf("ParseHash(%q) = %x; want %x", s, b, want)
			}
			if hex.EncodeToString(b[:]) != s {
				t.Fatalf("round trip of %q gave %x", s, b)
			}
		}
	})
}
