package agentsrc

import (
	"encoding/json"
	"fmt"
	"strings"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"

	"chainlog"
	"chainlog/pricing"
)

// Mapper maps OTLP payloads to events.
type Mapper struct {
	NodeID string         // node_id when the resource has no host.name
	Prices *pricing.Table // fills cost_usd when the source reports none; nil = pricing.Default()
}

func (m *Mapper) prices() *pricing.Table {
	if m == nil || m.Prices == nil {
		return pricing.Default()
	}
	return m.Prices
}

// The agents whose OTLP events are recognised by their event name's prefix.
const (
	agentClaudeCode = "claude_code"
	agentCodex      = "codex"
	agentGemini     = "gemini_cli"
)

// serviceAgents maps the service.name that an agent's exporter sets to the
// agent type.
var serviceAgents = map[string]string{
	"claude-code": agentClaudeCode, "claude_code": agentClaudeCode,
	"codex-cli": agentCodex, "codex": agentCodex, "codex_cli_rs": agentCodex,
	"gemini-cli": agentGemini, "gemini_cli": agentGemini,
}

// resourceInfo is what every record of one resource shares.
type resourceInfo struct {
	attrs     json.RawMessage // the attributes as JSON, encoded once
	agentType string          // from service.name: the agent, or the service's own name
	node      string
	tooDeep   bool
}

func (m *Mapper) resource(r pcommon.Resource) resourceInfo {
	a := r.Attributes()
	attrs, ok := mapAny(a, 0)
	ri := resourceInfo{attrs: marshalData(attrs), tooDeep: !ok, node: attrStr(a, "host.name")}
	if ri.node == "" && m != nil {
		ri.node = m.NodeID
	}
	svc := attrStr(a, "service.name")
	if t, ok := serviceAgents[strings.ToLower(svc)]; ok {
		ri.agentType = t
	} else {
		ri.agentType = orDefault(svc, "otel")
	}
	return ri
}

// scopeJSON is the scope's name, version and attributes, encoded once for
// all its records. Attributes nested too deeply are left out.
func scopeJSON(s pcommon.InstrumentationScope) json.RawMessage {
	out := map[string]any{"name": s.Name(), "version": s.Version()}
	if s.Attributes().Len() > 0 {
		if a, ok := mapAny(s.Attributes(), 0); ok {
			out["attributes"] = a
		}
	}
	return marshalData(out)
}

// rejects counts the records that cannot be stored and keeps the first
// reason.
type rejects struct {
	n      int64
	reason string
}

func (r *rejects) add(format string, args ...any) {
	if r.n == 0 {
		r.reason = fmt.Sprintf(format, args...)
	}
	r.n++
}

// Logs maps every log record. rejected counts records that can never be
// stored, reason says why (first reason, with the record's index), for
// OTLP partial_success.
func (m *Mapper) Logs(ld plog.Logs) (events []chainlog.Event, rejected int64, reason string) {
	prices := m.prices()
	var rej rejects
	idx := 0
	rls := ld.ResourceLogs()
	for i := range rls.Len() {
		rl := rls.At(i)
		ri := m.resource(rl.Resource())
		sls := rl.ScopeLogs()
		for j := range sls.Len() {
			sl := sls.At(j)
			scope := scopeJSON(sl.Scope())
			lrs := sl.LogRecords()
			for k := range lrs.Len() {
				ev, err := mapLog(&ri, scope, lrs.At(k), prices)
				if err != nil {
					rej.add("log record %d: %v", idx, err)
				} else {
					events = append(events, ev)
				}
				idx++
			}
		}
	}
	return events, rej.n, rej.reason
}

// logAgent tells the agent from the event name's prefix, else from the
// resource.
func logAgent(name string, ri *resourceInfo) (agent, eventType string) {
	for _, a := range []string{agentClaudeCode, agentCodex, agentGemini} {
		if rest, ok := strings.CutPrefix(name, a+"."); ok && rest != "" {
			return a, rest
		}
	}
	return ri.agentType, name
}

// sessionKeys are the attributes that carry the session, by agent.
var sessionKeys = map[string][]string{
	agentClaudeCode: {"session.id"},
	agentCodex:      {"conversation.id", "session.id"},
	agentGemini:     {"session.id"},
}

var genericSessionKeys = []string{"session.id", "gen_ai.conversation.id", "conversation.id", "session_id"}

func sessionOf(agent string, a pcommon.Map) string {
	if keys, ok := sessionKeys[agent]; ok {
		if s := attrStr(a, keys...); s != "" {
			return s
		}
	}
	return attrStr(a, genericSessionKeys...)
}

// naturalKeys names, per event type, the attributes that identify an event
// of that type across sources and retries, and the id kind it gets.
var naturalKeys = map[string]struct {
	kind string
	keys []string
}{
	"api_request":   {kindAPIRequest, []string{"request_id"}},
	"api_error":     {kindAPIError, []string{"request_id"}},
	"tool_result":   {kindToolResult, []string{"tool_use_id", "call_id"}},
	"tool_decision": {kindToolDecide, []string{"tool_use_id", "call_id"}},
	"user_prompt":   {kindPrompt, []string{"prompt.id", "prompt_id"}},
}

func mapLog(ri *resourceInfo, scope json.RawMessage, lr plog.LogRecord, prices *pricing.Table) (chainlog.Event, error) {
	if ri.tooDeep {
		return chainlog.Event{}, errTooDeep{"resource attributes"}
	}
	a := lr.Attributes()
	name := lr.EventName()
	if name == "" {
		name = attrStr(a, "event.name")
	}
	f := eventFields{node: ri.node}
	f.agentType, f.eventType = logAgent(name, ri)
	f.eventType = orDefault(f.eventType, "log")
	f.session = sessionOf(f.agentType, a)
	f.agentID = attrStr(a, "gen_ai.agent.id", "gen_ai.agent.name")
	ts, ok := logTime(lr)
	if !ok {
		return chainlog.Event{}, fmt.Errorf("no time: event.timestamp, time_unix_nano and observed_time_unix_nano are all missing")
	}
	f.ts = ts
	data, err := logData(ri, scope, lr, name)
	if err != nil {
		return chainlog.Event{}, err
	}
	f.id = naturalID(f.agentType, f.session, f.eventType, a)
	if f.id == "" {
		f.id = eventID(f.agentType, f.session, kindContent, contentKey(data))
	}
	if obs := lr.ObservedTimestamp(); obs != 0 {
		data = appendMember(data, "observed_time", formatTS(obs.AsTime()))
	}
	f.data = data
	attrUsage(a).apply(&f, prices)
	return f.event(), nil
}

// naturalID is the id from the event's natural key, or "" when the event
// type has none or the record lacks it.
func naturalID(agent, session, eventType string, a pcommon.Map) string {
	nk, ok := naturalKeys[eventType]
	if !ok {
		return ""
	}
	key := attrStr(a, nk.keys...)
	if key == "" {
		return ""
	}
	return eventID(agent, session, nk.kind, key)
}

// logTime is the event's own time: event.timestamp, else the record's
// time, else the time the collector observed it.
func logTime(lr plog.LogRecord) (string, bool) {
	if s := attrStr(lr.Attributes(), "event.timestamp"); s != "" {
		if t, ok := parseTS(s); ok {
			return formatTS(t), true
		}
	}
	for _, t := range []pcommon.Timestamp{lr.Timestamp(), lr.ObservedTimestamp()} {
		if t != 0 {
			return formatTS(t.AsTime()), true
		}
	}
	return "", false
}

// logData is the record's data object without its observed time, which a
// retried export may change: the content the fallback id is hashed from.
func logData(ri *resourceInfo, scope json.RawMessage, lr plog.LogRecord, name string) (json.RawMessage, error) {
	attrs, ok := mapAny(lr.Attributes(), 0)
	if !ok {
		return nil, errTooDeep{"attributes"}
	}
	body, ok := valueAny(lr.Body(), 0)
	if !ok {
		return nil, errTooDeep{"body"}
	}
	d := map[string]any{
		"attributes": attrs,
		"resource":   ri.attrs,
		"scope":      scope,
	}
	if body != nil {
		d["body"] = body
	}
	if name != "" {
		d["event_name"] = name
	}
	if t := lr.Timestamp(); t != 0 {
		d["time"] = formatTS(t.AsTime())
	}
	if s := lr.SeverityText(); s != "" {
		d["severity_text"] = s
	}
	if n := lr.SeverityNumber(); n != 0 {
		d["severity_number"] = int32(n)
	}
	if id := lr.TraceID(); !id.IsEmpty() {
		d["trace_id"] = id.String()
	}
	if id := lr.SpanID(); !id.IsEmpty() {
		d["span_id"] = id.String()
	}
	return marshalData(d), nil
}

// appendMember adds "key":"value" at the end of a JSON object whose keys do
// not include key.
func appendMember(obj json.RawMessage, key, value string) json.RawMessage {
	k, _ := json.Marshal(key)
	v, _ := json.Marshal(value)
	out := make([]byte, 0, len(obj)+len(k)+len(v)+2)
	out = append(out, obj[:len(obj)-1]...)
	if len(obj) > 2 {
		out = append(out, ',')
	}
	out = append(out, k...)
	out = append(out, ':')
	out = append(out, v...)
	return append(out, '}')
}
