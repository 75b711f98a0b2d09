package chainlog

import (
	"strings"
	"unicode/utf8"
)

// decodeEventFast decodes the common shape of an event line without the
// generic JSON machinery: a valid UTF-8, valid JSON object whose keys are
// known fields written without escapes, each at most once, whose string
// values have no escapes, whose data has no repeated key or lone surrogate
// (checkJSON), and whose values are all acceptable. It reports
// false for anything else, and DecodeEvent then decodes the line the slow
// way, which also finds the error to report. When it reports true, the
// Event is the one the slow way returns (FuzzDecodeFast checks this).
func decodeEventFast(line []byte, defaultNodeID string) (Event, bool) {
	var ev Event
	if !utf8.Valid(line) || !validJSON(line) {
		return ev, false
	}
	// The line is valid JSON: the scan below need not check syntax.
	var raw [numFastFields][]byte
	var seen uint32 // bit f is set once field f is read
	i := skipSpace(line, 0)
	if i >= len(line) || line[i] != '{' {
		return ev, false
	}
	i = skipSpace(line, i+1)
	if i < len(line) && line[i] == '}' {
		i++
	} else {
		for {
			// key
			end := stringEnd(line, i)
			key := line[i+1 : end-1]
			if hasEscape(key) {
				return ev, false
			}
			f := fastField(key)
			if f < 0 {
				return ev, false // unknown: the slow way names it
			}
			i = skipSpace(line, end)
			i = skipSpace(line, i+1) // past ':'
			end = valueEnd(line, i)
			if seen&(1<<f) != 0 {
				return ev, false // a repeated key: the slow way names it
			}
			seen |= 1 << f
			if f < numFastFields {
				raw[f] = line[i:end]
			} else if !plainValue(line[i:end]) {
				return ev, false // the slow way checks what it holds
			}
			i = skipSpace(line, end)
			if line[i] == '}' {
				i++
				break
			}
			i = skipSpace(line, i+1) // past ','
		}
	}
	if skipSpace(line, i) != len(line) {
		return ev, false
	}

	var ok bool
	if ev.ID, ok = fastString(raw[fID]); !ok || ev.ID == "" {
		return ev, false
	}
	if raw[fNodeID] == nil && defaultNodeID != "" {
		ev.NodeID = defaultNodeID
	} else if ev.NodeID, ok = fastString(raw[fNodeID]); !ok || ev.NodeID == "" {
		return ev, false
	}
	if strings.HasPrefix(ev.NodeID, ReservedNodePrefix) {
		return ev, false // reserved: the slow way names it
	}
	if ev.EventType, ok = fastString(raw[fEventType]); !ok || ev.EventType == "" {
		return ev, false
	}
	if ev.TS, ok = fastString(raw[fTS]); !ok || ev.TS == "" {
		return ev, false
	}
	if ev.AgentType, ok = fastOptional(raw[fAgentType]); !ok {
		return ev, false
	}
	ev.AgentType = orDefault(ev.AgentType, DefaultAgentType)
	if ev.AgentID, ok = fastOptional(raw[fAgentID]); !ok {
		return ev, false
	}
	ev.AgentID = orDefault(ev.AgentID, DefaultAgentID)
	if ev.SessionID, ok = fastNullable(raw[fSessionID]); !ok {
		return ev, false
	}
	if ev.WorkspaceID, ok = fastNullable(raw[fWorkspaceID]); !ok {
		return ev, false
	}
	if r := raw[fData]; r != nil && string(r) != "null" {
		if checkJSONField(dataKey, r) != nil {
			return ev, false
		}
		ev.Data = compactJSON(r)
	}
	var err error
	if ev.CostUSD, err = decodeCost(raw[fCostUSD]); err != nil {
		return ev, false
	}
	if ev.TokenCount, err = decodeTokens(raw[fTokenCount]); err != nil {
		return ev, false
	}
	if ev.Model, ok = fastNullable(raw[fModel]); !ok {
		return ev, false
	}
	return ev, true
}

const (
	fID = iota
	fAgentType
	fNodeID
	fAgentID
	fSessionID
	fWorkspaceID
	fEventType
	fTS
	fData
	fCostUSD
	fTokenCount
	fModel
	numFastFields
	// export-only fields, accepted and ignored
	fCreatedAt
	fChainSeq
	fChainPrevHash
	fChainHash
	fPayloadDigest
	fLeafIndex
)

// fastField returns key's index in the raw values, an index above
// numFastFields for an export-only field, or -1 for an unknown one.
func fastField(key []byte) int {
	switch string(key) {
	case "id":
		return fID
	case "agent_type":
		return fAgentType
	case "node_id":
		return fNodeID
	case "agent_id":
		return fAgentID
	case "session_id":
		return fSessionID
	case "workspace_id":
		return fWorkspaceID
	case "event_type":
		return fEventType
	case "ts":
		return fTS
	case "data":
		return fData
	case "cost_usd":
		return fCostUSD
	case "token_count":
		return fTokenCount
	case "model":
		return fModel
	case "created_at":
		return fCreatedAt
	case "chain_seq":
		return fChainSeq
	case "chain_prev_hash":
		return fChainPrevHash
	case "chain_hash":
		return fChainHash
	case "payload_digest":
		return fPayloadDigest
	case "leaf_index":
		return fLeafIndex
	}
	return -1
}

var dataKey = []byte("data")

// plainValue reports whether a JSON value is a number, true, false, null
// or a string without escapes: one checkJSON has nothing to find in.
func plainValue(raw []byte) bool {
	switch raw[0] {
	case '{', '[':
		return false
	case '"':
		return !hasEscape(raw)
	}
	return true
}

// fastString returns a JSON string value without escapes.
func fastString(raw []byte) (string, bool) {
	if len(raw) < 2 || raw[0] != '"' || hasEscape(raw[1:len(raw)-1]) {
		return "", false
	}
	return string(raw[1 : len(raw)-1]), true
}

// fastOptional is fastString for a field that may be missing or null ("").
func fastOptional(raw []byte) (string, bool) {
	if raw == nil || string(raw) == "null" {
		return "", true
	}
	return fastString(raw)
}

// fastNullable is fastString for a field that is nil when missing or null.
func fastNullable(raw []byte) (*string, bool) {
	if raw == nil || string(raw) == "null" {
		return nil, true
	}
	s, ok := fastString(raw)
	if !ok {
		return nil, false
	}
	return &s, true
}

func hasEscape(b []byte) bool {
	for _, c := range b {
		if c == '\\' {
			return true
		}
	}
	return false
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// stringEnd returns the index after the JSON string that starts at i.
func stringEnd(b []byte, i int) int {
	for j := i + 1; j < len(b); j++ {
		switch b[j] {
		case '\\':
			j++
		case '"':
			return j + 1
		}
	}
	return len(b)
}

// valueEnd returns the index after the JSON value that starts at i, in a
// document already known to be valid.
func valueEnd(b []byte, i int) int {
	switch b[i] {
	case '"':
		return stringEnd(b, i)
	case '{', '[':
		depth := 0
		for j := i; j < len(b); j++ {
			switch b[j] {
			case '"':
				j = stringEnd(b, j) - 1
			case '{', '[':
				depth++
			case '}', ']':
				if depth--; depth == 0 {
					return j + 1
				}
			}
		}
		return len(b)
	default: // a number, true, false or null
		j := i
		for j < len(b) && b[j] != ',' && b[j] != '}' && b[j] != ']' && b[j] != ' ' && b[j] != '\t' && b[j] != '\n' && b[j] != '\r' {
			j++
		}
		return j
	}
}
