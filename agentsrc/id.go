package agentsrc

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
)

// idVersion is hashed first into every id, so that a change of the rule
// gives ids that cannot collide with the old ones.
const idVersion = "chainlog/agentsrc/v1"

// Id kinds: the natural key an id is derived from. An event of one kind
// gets the same id from every source that knows its key.
const (
	kindAPIRequest = "api_request"   // key: the provider's request id
	kindAPIError   = "api_error"     // key: the provider's request id
	kindToolResult = "tool_result"   // key: the tool call id
	kindToolUse    = "tool_use"      // key: the tool call id
	kindToolDecide = "tool_decision" // key: the tool call id
	kindPrompt     = "user_prompt"   // key: the prompt id
	kindSpan       = "span"          // key: trace id, span id
	kindRecord     = "record"        // key: the transcript record's own id
	kindUsage      = "usage"         // key: the cumulative totals the usage was derived from
	kindContent    = "content"       // key: SHA-256 of the record's canonical content
)

// eventID derives an event id: the kind, a colon and the first 16 bytes of
// SHA-256 over the length-prefixed tuple (rule version, agent type,
// session, kind, key...), in hex. The length prefixes keep ("a","bc") and
// ("ab","c") apart.
func eventID(agentType, session, kind string, key ...string) string {
	h := sha256.New()
	var n [8]byte
	put := func(s string) {
		binary.BigEndian.PutUint64(n[:], uint64(len(s)))
		h.Write(n[:])
		h.Write([]byte(s))
	}
	put(idVersion)
	put(agentType)
	put(session)
	put(kind)
	for _, k := range key {
		put(k)
	}
	var sum [sha256.Size]byte
	h.Sum(sum[:0])
	return kind + ":" + hex.EncodeToString(sum[:16])
}

// contentKey is the hex SHA-256 of b, a record's canonical content.
func contentKey(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}
