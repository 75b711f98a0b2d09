package agentsrc

import (
	"encoding/json"
	"fmt"

	"go.opentelemetry.io/collector/pdata/ptrace"

	"chainlog"
	"chainlog/pricing"
)

// Traces maps every span. rejected counts spans that can never be stored,
// reason says why (first reason, with the span's index), for OTLP
// partial_success.
func (m *Mapper) Traces(td ptrace.Traces) (events []chainlog.Event, rejected int64, reason string) {
	prices := m.prices()
	var rej rejects
	idx := 0
	rss := td.ResourceSpans()
	for i := range rss.Len() {
		rs := rss.At(i)
		ri := m.resource(rs.Resource())
		sss := rs.ScopeSpans()
		for j := range sss.Len() {
			ss := sss.At(j)
			scope := scopeJSON(ss.Scope())
			spans := ss.Spans()
			for k := range spans.Len() {
				ev, err := mapSpan(&ri, scope, spans.At(k), prices)
				if err != nil {
					rej.add("span %d: %v", idx, err)
				} else {
					events = append(events, ev)
				}
				idx++
			}
		}
	}
	return events, rej.n, rej.reason
}

// spanOperation is the span's event type: the GenAI operation name, else
// OpenLLMetry's older request type or span kind, else the span's name.
func spanOperation(sp ptrace.Span) string {
	a := sp.Attributes()
	if op := attrStr(a, "gen_ai.operation.name", "llm.request.type", "traceloop.span.kind"); op != "" {
		return op
	}
	return orDefault(sp.Name(), "span")
}

func mapSpan(ri *resourceInfo, scope json.RawMessage, sp ptrace.Span, prices *pricing.Table) (chainlog.Event, error) {
	if ri.tooDeep {
		return chainlog.Event{}, errTooDeep{"resource attributes"}
	}
	a := sp.Attributes()
	f := eventFields{node: ri.node, agentType: ri.agentType, eventType: spanOperation(sp)}
	f.session = sessionOf(f.agentType, a)
	f.agentID = attrStr(a, "gen_ai.agent.id", "gen_ai.agent.name")
	start := sp.StartTimestamp()
	if start == 0 {
		start = sp.EndTimestamp()
	}
	if start == 0 {
		return chainlog.Event{}, fmt.Errorf("no time: start_time_unix_nano and end_time_unix_nano are both missing")
	}
	f.ts = formatTS(start.AsTime())
	data, err := spanData(ri, scope, sp)
	if err != nil {
		return chainlog.Event{}, err
	}
	f.data = data
	if tid, sid := sp.TraceID(), sp.SpanID(); !tid.IsEmpty() && !sid.IsEmpty() {
		f.id = eventID(f.agentType, f.session, kindSpan, tid.String(), sid.String())
	} else {
		f.id = eventID(f.agentType, f.session, kindContent, contentKey(data))
	}
	attrUsage(a).apply(&f, prices)
	return f.event(), nil
}

func spanData(ri *resourceInfo, scope json.RawMessage, sp ptrace.Span) (json.RawMessage, error) {
	attrs, ok := mapAny(sp.Attributes(), 0)
	if !ok {
		return nil, errTooDeep{"attributes"}
	}
	d := map[string]any{
		"attributes": attrs,
		"resource":   ri.attrs,
		"scope":      scope,
		"name":       sp.Name(),
		"kind":       sp.Kind().String(),
		"trace_id":   sp.TraceID().String(),
		"span_id":    sp.SpanID().String(),
		"status":     map[string]any{"code": sp.Status().Code().String(), "message": sp.Status().Message()},
	}
	if id := sp.ParentSpanID(); !id.IsEmpty() {
		d["parent_span_id"] = id.String()
	}
	if t := sp.StartTimestamp(); t != 0 {
		d["start_time"] = formatTS(t.AsTime())
	}
	if t := sp.EndTimestamp(); t != 0 {
		d["end_time"] = formatTS(t.AsTime())
	}
	if s := sp.TraceState().AsRaw(); s != "" {
		d["trace_state"] = s
	}
	evs, err := spanEvents(sp.Events())
	if err != nil {
		return nil, err
	}
	if len(evs) > 0 {
		d["events"] = evs
	}
	links, err := spanLinks(sp.Links())
	if err != nil {
		return nil, err
	}
	if len(links) > 0 {
		d["links"] = links
	}
	return marshalData(d), nil
}

func spanEvents(es ptrace.SpanEventSlice) ([]any, error) {
	out := make([]any, 0, es.Len())
	for i := range es.Len() {
		e := es.At(i)
		attrs, ok := mapAny(e.Attributes(), 0)
		if !ok {
			return nil, errTooDeep{fmt.Sprintf("event %d attributes", i)}
		}
		ev := map[string]any{"name": e.Name(), "attributes": attrs}
		if t := e.Timestamp(); t != 0 {
			ev["time"] = formatTS(t.AsTime())
		}
		out = append(out, ev)
	}
	return out, nil
}

func spanLinks(ls ptrace.SpanLinkSlice) ([]any, error) {
	out := make([]any, 0, ls.Len())
	for i := range ls.Len() {
		l := ls.At(i)
		attrs, ok := mapAny(l.Attributes(), 0)
		if !ok {
			return nil, errTooDeep{fmt.Sprintf("link %d attributes", i)}
		}
		out = append(out, map[string]any{
			"trace_id": l.TraceID().String(), "span_id": l.SpanID().String(), "attributes": attrs,
		})
	}
	return out, nil
}
