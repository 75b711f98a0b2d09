package agentsrc

import (
	"bytes"
	"encoding/json"
	"strings"

	"chainlog"
)

// eventFields collects one event's fields while a mapper works them out.
type eventFields struct {
	id, agentType, node, agentID, session, eventType, ts string
	data                                                 json.RawMessage
	cost                                                 *float64
	tokens                                               *int64
	model                                                string
}

// event builds the chainlog event. Identity strings are made valid UTF-8
// (an invalid byte becomes U+FFFD), so that the canonical form that the
// chain hashes is the one every reader decodes; empty optional fields take
// chainlog's defaults.
func (f *eventFields) event() chainlog.Event {
	ev := chainlog.Event{
		ID:         clean(f.id),
		AgentType:  orDefault(clean(f.agentType), "otel"),
		NodeID:     orDefault(clean(f.node), unknownNode),
		AgentID:    orDefault(clean(f.agentID), chainlog.DefaultAgentID),
		EventType:  orDefault(clean(f.eventType), "event"),
		TS:         f.ts,
		Data:       f.data,
		CostUSD:    f.cost,
		TokenCount: f.tokens,
	}
	if f.session != "" {
		s := clean(f.session)
		ev.SessionID = &s
	}
	if f.model != "" {
		m := clean(f.model)
		ev.Model = &m
	}
	return ev
}

// unknownNode is the node_id of an event whose source names no host, mapped
// by a Mapper with no NodeID.
const unknownNode = "unknown"

func clean(s string) string { return strings.ToValidUTF8(s, "\uFFFD") }

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// marshalData encodes an event's data object, without HTML escaping. The
// input is built from decoded JSON or pdata values, which always encode;
// keys come out sorted, so that equal content gives equal bytes.
func marshalData(v any) json.RawMessage {
	if b, ok := appendJSON(nil, v); ok {
		return b
	}
	// What appendJSON refuses, encoding/json refuses too: say why.
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		buf.Reset()
		enc.Encode(map[string]string{"error": "data not encodable: " + err.Error()})
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
}
