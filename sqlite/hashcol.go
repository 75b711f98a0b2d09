package sqlite

import (
	"crypto/sha256"
	"encoding/hex"

	"chainlog"

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
const hashLen = sha256.Size

// bindHash binds h to parameter i: as a 32-byte blob when it is a hash's
// lowercase hex, as text otherwise, and as NULL when it is "".
func bindHash(stmt *sqlite.Stmt, i int, h string) {
	if h == "" {
		stmt.BindNull(i)
		return
	}
	if b, ok := chainlog.ParseHash(h); ok {
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
