package agentsrc

import (
	"chainlog"
	"chainlog/pricing"
)

func (t *Transcript) openclawLine(rec obj) []chainlog.Event {
	typ := getStr(rec, "type")
	msg := getObj(rec, "message")
	ts := t.recordTS(rec["timestamp"], msg["timestamp"])
	id := getStr(rec, "id")
	switch typ {
	case "session":
		if id != "" {
			t.session = id
		}
		id = "" // the session's id is not the header record's key
	case "model_change":
		if m := getStr(rec, "modelId"); m != "" {
			t.model = m
		}
	}
	f := t.newFields(orDefault(typ, "record"), ts, t.session)
	if typ != "message" {
		return []chainlog.Event{t.recordEvent(f, rec, kindRecord, id)}
	}
	switch getStr(msg, "role") {
	case "user":
		f.eventType = "user_prompt"
	case "toolResult":
		f.eventType = "tool_result"
		if call := getStr(msg, "toolCallId"); call != "" {
			return []chainlog.Event{t.recordEvent(f, rec, kindToolResult, call)}
		}
	case "assistant":
		return t.openclawAssistant(rec, msg, f, id)
	}
	return []chainlog.Event{t.recordEvent(f, rec, kindRecord, id)}
}

// openclawAssistant maps an assistant message: a tool_use event per tool
// call, and the message's event with its usage and cost.
func (t *Transcript) openclawAssistant(rec, msg obj, f eventFields, id string) []chainlog.Event {
	var evs []chainlog.Event
	bs, _ := blocks(msg)
	for _, b := range bs {
		if getStr(b, "type") != "toolCall" {
			continue
		}
		call := getStr(b, "id")
		tf := f
		tf.eventType = "tool_use"
		evs = append(evs, t.partEvent(tf, obj{"tool_use_id": call, "tool_name": getStr(b, "name"),
			"block": b, "entry_id": id}, kindToolUse, call))
	}
	f.eventType = "assistant_message"
	model := orDefault(getStr(msg, "model"), t.model)
	if u := getObj(msg, "usage"); u != nil {
		var pu pricing.Usage
		pu.InputTokens, _ = getCount(u, "input")
		pu.OutputTokens, _ = getCount(u, "output")
		pu.CacheReadTokens, _ = getCount(u, "cacheRead")
		pu.CacheWriteTokens, _ = getCount(u, "cacheWrite")
		total, ok := getCount(u, "totalTokens")
		if !ok {
			total = pu.Total()
		}
		cost, hasCost := getNum(u, "cost", "total")
		t.usageCost(&f, pu, total, model, cost, hasCost)
	} else {
		f.model = model
	}
	return append(evs, t.recordEvent(f, rec, kindRecord, id))
}
