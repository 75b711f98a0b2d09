package server_test

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"

	"chainlog"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// testMapper is a small OTLPMapper for the receiver's tests: one event a
// record. A span's id is its trace and span ids; a log record's id is a
// hash of its content, its observed time left out, so that a retried
// export maps to the same ids. agent_type is the resource's service.name,
// node_id its host.name (empty: the server's default). A record with no
// time at all, or with a value nested deeper than maxDepth, is rejected.
type testMapper struct{}

const maxDepth = 32

func (testMapper) Logs(ld plog.Logs) (events []chainlog.Event, rejected int64, reason string) {
	reject := func(i int, why string) {
		if rejected == 0 {
			reason = fmt.Sprintf("log record %d: %s", i, why)
		}
		rejected++
	}
	i := -1
	for _, rl := range ld.ResourceLogs().All() {
		res := rl.Resource().Attributes()
		for _, sl := range rl.ScopeLogs().All() {
			for _, lr := range sl.LogRecords().All() {
				i++
				ts := lr.Timestamp()
				if ts == 0 {
					ts = lr.ObservedTimestamp()
				}
				if ts == 0 {
					reject(i, "no time and no observed time")
					continue
				}
				if depth(lr.Body()) > maxDepth || mapDepth(lr.Attributes()) > maxDepth {
					reject(i, fmt.Sprintf("a value nested deeper than %d", maxDepth))
					continue
				}
				data, err := json.Marshal(map[string]any{"body": lr.Body().AsRaw(), "attributes": lr.Attributes().AsRaw()})
				if err != nil {
					reject(i, err.Error())
					continue
				}
				name := lr.EventName()
				if name == "" {
					name = "log"
				}
				sum := sha256.Sum256(fmt.Appendf(nil, "%s\x00%d\x00%s\x00%s\x00%s", name, lr.Timestamp(),
					lr.TraceID(), lr.SpanID(), data))
				events = append(events, event("log:"+hex.EncodeToString(sum[:16]), res, name, ts, data))
			}
		}
	}
	return events, rejected, reason
}

func (testMapper) Traces(td ptrace.Traces) (events []chainlog.Event, rejected int64, reason string) {
	i := -1
	for _, rs := range td.ResourceSpans().All() {
		res := rs.Resource().Attributes()
		for _, ss := range rs.ScopeSpans().All() {
			for _, sp := range ss.Spans().All() {
				i++
				if sp.StartTimestamp() == 0 || mapDepth(sp.Attributes()) > maxDepth {
					if rejected == 0 {
						reason = fmt.Sprintf("span %d: no start time, or a value nested too deep", i)
					}
					rejected++
					continue
				}
				data, _ := json.Marshal(map[string]any{"attributes": sp.Attributes().AsRaw(),
					"parent_span_id": sp.ParentSpanID().String(), "events": sp.Events().Len()})
				events = append(events, event("span:"+sp.TraceID().String()+sp.SpanID().String(), res, sp.Name(), sp.StartTimestamp(), data))
			}
		}
	}
	return events, rejected, reason
}

func event(id string, res pcommon.Map, eventType string, ts pcommon.Timestamp, data []byte) chainlog.Event {
	ev := chainlog.Event{ID: id, AgentType: "otel", AgentID: "main", EventType: eventType,
		TS: ts.AsTime().UTC().Format(time.RFC3339Nano), Data: data}
	if v, ok := res.Get("service.name"); ok {
		ev.AgentType = v.AsString()
	}
	if v, ok := res.Get("host.name"); ok {
		ev.NodeID = v.AsString()
	}
	return ev
}

// depth returns how deep v nests: 1 for a scalar.
func depth(v pcommon.Value) int {
	switch v.Type() {
	case pcommon.ValueTypeMap:
		return 1 + mapDepth(v.Map())
	case pcommon.ValueTypeSlice:
		d := 0
		for _, e := range v.Slice().All() {
			d = max(d, depth(e))
		}
		return 1 + d
	}
	return 1
}

func mapDepth(m pcommon.Map) int {
	d := 0
	for _, v := range m.All() {
		d = max(d, depth(v))
	}
	return d
}
