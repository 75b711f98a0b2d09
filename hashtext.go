package chainlog

import "crypto/sha256"

// ParseHash returns the bytes that h spells when h is a hash's canonical
// text: 64 characters of lowercase hex, the only form chainlog writes a
// hash in (chain hashes, payload digests, anchors). Anything else,
// upper-case hex included, is not a hash's canonical text: reading it as
// one would turn a value that matches no recomputed hash into one that
// matches.
func ParseHash(h string) (b [sha256.Size]byte, ok bool) {
	if len(h) != 2*sha256.Size {
		return b, false
	}
	bad := byte(0)
	for i := range b {
		hi, lo := hexValue[h[2*i]], hexValue[h[2*i+1]]
		bad |= hi | lo
		b[i] = hi<<4 | lo&0x0f
	}
	return b, bad&0x10 == 0
}

// hexValue maps a lowercase hex digit to its value and any other byte to
// 0x10, so that ParseHash decodes and checks in one pass.
var hexValue = func() (t [256]byte) {
	for i := range t {
		t[i] = 0x10
	}
	for c := '0'; c <= '9'; c++ {
		t[c] = byte(c - '0')
	}
	for c := 'a'; c <= 'f'; c++ {
		t[c] = byte(c - 'a' + 10)
	}
	return t
}()

// isHex64 reports whether s is a hash's canonical text (see ParseHash).
func isHex64(s string) bool {
	_, ok := ParseHash(s)
	return ok
}
