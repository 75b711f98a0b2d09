package sqlite

import (
	"encoding/hex"

	"zombiezen.com/go/sqlite"
)

// Since schema version 9 the events table keeps its three hashes
// (chain_prev_hash, chain_hash and payload_digest) as 32-byte blobs, half
// the bytes of the 64-character hex text that ClawMetry stores and that
// the chain rule, the leaves, exports and proofs are written in. The
// columns keep their names and their declared TEXT type, so a value is
// either:
//   - a 32-byte blob: the hash, read back as lowercase hex;
//   - text: read as it is, as a store from before version 9 (or
//     ClawMetry's, opened read-only) holds it, and as anything written
//     outside chainlog is read. Text that spells a hash in lowercase hex
//     is the same hash as its blob; any other text matches no hash the
//     verifier computes;
//   - NULL, on a pre-chain row;
//   - a blob of another length, which chainlog never writes: the verifier
//     reports it as a storage fault (see storageFault).
//
// In SQL, lower(hex(chain_hash)) shows a blob as the hex the rest of
// chainlog uses.

// hashLen is the length of a stored hash blob.
const hashLen = 32

// hashBytes returns the 32 bytes that h spells when h is 64 characters of
// lowercase hex, the only form chainlog's hashes take. Anything else,
// upper-case hex included, is not a hash's canonical text: converting it
// would turn a value that matches no recomputed hash into one that
// matches.
func hashBytes(h string) (b [hashLen]byte, ok bool) {
	if len(h) != 2*hashLen {
		return b, false
	}
	bad := byte(0)
	for i := range b {
		hi, lo := lowerHex[h[2*i]], lowerHex[h[2*i+1]]
		bad |= hi | lo
		b[i] = hi<<4 | lo&0x0f
	}
	return b, bad&0x10 == 0
}

// lowerHex maps a lowercase hex digit to its value and any other byte to
// 0x10, one decoding and checking pass for hashBytes.
var lowerHex = func() (t [256]byte) {
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

// bindHash binds h to parameter i: as a 32-byte blob when it is a hash's
// lowercase hex, as text otherwise, and as NULL when it is "".
func bindHash(stmt *sqlite.Stmt, i int, h string) {
	if h == "" {
		stmt.BindNull(i)
		return
	}
	if b, ok := hashBytes(h); ok {
		stmt.BindBytes(i, b[:])
		return
	}
	stmt.BindText(i, h)
}

// hashText returns column col as the text the chain rule compares: a blob
// as lowercase hex, text as it is, NULL as "".
func hashText(stmt *sqlite.Stmt, col int) string {
	if stmt.ColumnType(col) != sqlite.TypeBlob {
		return stmt.ColumnText(col)
	}
	return string(appendBlobHex(make([]byte, 0, 2*hashLen), stmt, col))
}

// hash appends column col to the reader's buffer as hashText reads it,
// and returns where it is.
func (t *textReader) hash(col int) span {
	if t.stmt.ColumnType(col) != sqlite.TypeBlob {
		return t.text(col)
	}
	off := len(t.buf)
	t.buf = appendBlobHex(t.buf, t.stmt, col)
	return span{off, len(t.buf)}
}

// appendBlobHex appends blob column col to dst as lowercase hex.
func appendBlobHex(dst []byte, stmt *sqlite.Stmt, col int) []byte {
	var raw [hashLen]byte
	src := raw[:]
	if n := stmt.ColumnLen(col); n != hashLen {
		src = make([]byte, n)
	}
	stmt.ColumnBytes(col, src)
	return hex.AppendEncode(dst, src)
}
