package chainlog

import (
	"crypto/sha256"
	"encoding/hex"
	"unicode/utf8"
)

// AppendCanonical appends the canonical identity text of e to dst and returns
// the extended slice.
//
// The text is the JSON object of the eight identity fields with keys in byte
// order and no whitespace, encoded as Python's
// json.dumps(obj, sort_keys=True, separators=(",", ":")) with ensure_ascii:
// every byte outside printable ASCII is escaped, with lowercase hex and UTF-16
// surrogate pairs above U+FFFF. Defaults for agent_type and agent_id are
// applied here, so a caller may pass an event as decoded.
func AppendCanonical(dst []byte, e *Event) []byte {
	return appendCanonical(dst, e, true)
}

// appendCanonical encodes e; without defaults, empty agent_id and
// agent_type are encoded as stored, so that a stored row whose default was
// blanked out does not hash like the original.
func appendCanonical(dst []byte, e *Event, defaults bool) []byte {
	agentID, agentType := e.AgentID, e.AgentType
	if defaults {
		agentID, agentType = orDefault(agentID, DefaultAgentID), orDefault(agentType, DefaultAgentType)
	}
	dst = append(dst, `{"agent_id":`...)
	dst = appendPyString(dst, agentID)
	dst = append(dst, `,"agent_type":`...)
	dst = appendPyString(dst, agentType)
	dst = append(dst, `,"event_type":`...)
	dst = appendPyString(dst, e.EventType)
	dst = append(dst, `,"id":`...)
	dst = appendPyString(dst, e.ID)
	dst = append(dst, `,"node_id":`...)
	dst = appendPyString(dst, e.NodeID)
	dst = append(dst, `,"session_id":`...)
	dst = appendPyNullable(dst, e.SessionID)
	dst = append(dst, `,"ts":`...)
	dst = appendPyString(dst, e.TS)
	dst = append(dst, `,"workspace_id":`...)
	dst = appendPyNullable(dst, e.WorkspaceID)
	return append(dst, '}')
}

// Canonical returns the canonical identity text of e.
func Canonical(e *Event) string {
	return string(AppendCanonical(nil, e))
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func appendPyNullable(dst []byte, s *string) []byte {
	if s == nil {
		return append(dst, "null"...)
	}
	return appendPyString(dst, *s)
}

const lowerHex = "0123456789abcdef"

// appendPyString appends s as a JSON string the way Python's json.dumps does
// with ensure_ascii=True. Invalid UTF-8 bytes are encoded as U+FFFD; the
// decoder rejects such input before it gets here.
func appendPyString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	for i := 0; i < len(s); {
		// A run of printable ASCII without quote or backslash, which is
		// most text, is copied at once.
		j := i
		for j < len(s) && pyPlain[s[j]] {
			j++
		}
		dst = append(dst, s[i:j]...)
		if i = j; i == len(s) {
			break
		}
		c := s[i]
		if c == '"' || c == '\\' {
			dst = append(dst, '\\', c)
			i++
			continue
		}
		if c < 0x80 {
			dst = appendASCIIControl(dst, c)
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		i += size
		if r > 0xffff {
			r -= 0x10000
			dst = appendU4(dst, 0xd800+(r>>10))
			dst = appendU4(dst, 0xdc00+(r&0x3ff))
			continue
		}
		dst = appendU4(dst, r)
	}
	return append(dst, '"')
}

// pyPlain is the bytes appendPyString copies as they are: printable ASCII
// but quote and backslash.
var pyPlain = func() (plain [256]bool) {
	for c := 0x20; c < 0x7f; c++ {
		plain[c] = c != '"' && c != '\\'
	}
	return plain
}()

func appendASCIIControl(dst []byte, c byte) []byte {
	switch c {
	case '\b':
		return append(dst, `\b`...)
	case '\f':
		return append(dst, `\f`...)
	case '\n':
		return append(dst, `\n`...)
	case '\r':
		return append(dst, `\r`...)
	case '\t':
		return append(dst, `\t`...)
	}
	return appendU4(dst, rune(c))
}

func appendU4(dst []byte, r rune) []byte {
	return append(dst, '\\', 'u',
		lowerHex[r>>12&0xf], lowerHex[r>>8&0xf], lowerHex[r>>4&0xf], lowerHex[r&0xf])
}

// Hasher computes chain hashes, reusing its buffer between calls. It is not
// safe for concurrent use; the zero value is ready.
type Hasher struct {
	buf []byte
}

// Sum returns chain_hash = hex(SHA-256(prevHash + "|" + canonical(e))).
func (h *Hasher) Sum(prevHash string, e *Event) string {
	h.buf = append(h.buf[:0], prevHash...)
	h.buf = append(h.buf, '|')
	h.buf = AppendCanonical(h.buf, e)
	sum := sha256.Sum256(h.buf)
	return hex.EncodeToString(sum[:])
}

// SumStored is Sum for a row read back from a store: the identity fields
// are hashed exactly as stored, with no defaults applied.
func (h *Hasher) SumStored(prevHash string, e *Event) string {
	h.buf = append(h.buf[:0], prevHash...)
	h.buf = append(h.buf, '|')
	h.buf = appendCanonical(h.buf, e, false)
	sum := sha256.Sum256(h.buf)
	return hex.EncodeToString(sum[:])
}

// ChainHash returns the chain hash of e linked to prevHash.
func ChainHash(prevHash string, e *Event) string {
	var h Hasher
	return h.Sum(prevHash, e)
}
