package agentsrc

import (
	"chainlog"
	"chainlog/pricing"
)

// ccResponse is one Claude Code API response, written over several lines
// (one per content block) that share message.id and requestId and each
// repeat the usage. Its api_request event is emitted once, with the last
// line's usage, when a line of another response arrives or on Flush.
type ccResponse struct {
	start      int64 // offset of the response's first line
	key        string
	messageID  string
	requestID  string
	session    string
	agentID    string
	ts         string
	model      string
	usage      obj
	stopReason any
	uuids      []any
}

func (t *Transcript) claudeLine(rec obj, start int64) []chainlog.Event {
	typ := getStr(rec, "type")
	// A record without a session (summary, file-history-snapshot) belongs
	// to the session of the records before it, else the file's.
	if s := getStr(rec, "sessionId"); s != "" {
		t.session = s
	}
	session := t.session
	ts := t.recordTS(rec["timestamp"], get(rec, "snapshot", "timestamp"))
	f := t.newFields(orDefault(typ, "record"), ts, session)
	if a := getStr(rec, "agentId"); a != "" {
		f.agentID = a
	}
	uuid := getStr(rec, "uuid")
	switch typ {
	case "assistant":
		return t.ccAssistant(rec, f, uuid, start)
	case "user":
		return t.ccUser(rec, f, uuid)
	case "system":
		if sub := getStr(rec, "subtype"); sub != "" {
			f.eventType = "system." + sub
		}
	}
	return []chainlog.Event{t.recordEvent(f, rec, kindRecord, uuid)}
}

// blocks is a message's content as a list of blocks; a plain string is
// one text block.
func blocks(msg obj) (bs []obj, text bool) {
	switch c := msg["content"].(type) {
	case string:
		return nil, true
	case []any:
		for _, b := range c {
			if m, ok := b.(obj); ok {
				bs = append(bs, m)
			}
		}
	}
	return bs, false
}

func (t *Transcript) ccAssistant(rec obj, f eventFields, uuid string, start int64) []chainlog.Event {
	var evs []chainlog.Event
	msg := getObj(rec, "message")
	model := getStr(msg, "model")
	bs, other := blocks(msg)
	for _, b := range bs {
		if getStr(b, "type") != "tool_use" {
			other = true
			continue
		}
		id, name := getStr(b, "id"), getStr(b, "name")
		if id != "" {
			t.tools[id] = name
		}
		tf := f
		tf.eventType = "tool_use"
		evs = append(evs, t.partEvent(tf, obj{
			"tool_use_id": id, "tool_name": name, "block": b, "uuid": uuid,
			"message_id": getStr(msg, "id"), "request_id": getStr(rec, "requestId"),
		}, kindToolUse, id))
	}
	if other || len(bs) == 0 {
		mf := f
		mf.eventType, mf.model = "assistant_message", model
		evs = append(evs, t.recordEvent(mf, rec, kindRecord, uuid))
	}
	return append(evs, t.ccResponsePart(rec, msg, f, uuid, start)...)
}

// ccResponsePart adds a line to the response it belongs to; it returns the
// previous response's api_request event when this line starts another.
func (t *Transcript) ccResponsePart(rec, msg obj, f eventFields, uuid string, start int64) []chainlog.Event {
	msgID, reqID, model := getStr(msg, "id"), getStr(rec, "requestId"), getStr(msg, "model")
	if model == "<synthetic>" || (msgID == "" && reqID == "") {
		return nil // written by the client, not a model call
	}
	key := msgID + "\x00" + reqID
	var evs []chainlog.Event
	if t.pending != nil && t.pending.key != key {
		evs = append(evs, t.pending.event(t))
		t.pending = nil
	}
	if t.pending == nil {
		t.pending = &ccResponse{start: start, key: key, messageID: msgID, requestID: reqID,
			session: f.session, agentID: f.agentID, ts: f.ts}
	}
	p := t.pending
	if u := getObj(msg, "usage"); u != nil {
		p.usage = u // the last line's usage; never the sum
	}
	if model != "" {
		p.model = model
	}
	if sr, ok := msg["stop_reason"]; ok && sr != nil {
		p.stopReason = sr
	}
	if uuid != "" {
		p.uuids = append(p.uuids, uuid)
	}
	return evs
}

// event is the response's api_request event: keyed by the request id (as
// Claude Code's claude_code.api_request OTLP event is), else the message
// id.
func (p *ccResponse) event(t *Transcript) chainlog.Event {
	f := t.newFields("api_request", p.ts, p.session)
	f.agentID = orDefault(p.agentID, t.agentID)
	key := p.requestID
	if key == "" {
		key = p.messageID
	}
	var u pricing.Usage
	for dst, k := range map[*int64]string{
		&u.InputTokens: "input_tokens", &u.OutputTokens: "output_tokens",
		&u.CacheReadTokens: "cache_read_input_tokens", &u.CacheWriteTokens: "cache_creation_input_tokens",
	} {
		*dst, _ = getCount(p.usage, k)
	}
	if p.usage != nil {
		t.usageCost(&f, u, u.Total(), p.model, 0, false)
	} else {
		f.model = p.model
	}
	data := obj{"message_id": p.messageID, "request_id": p.requestID, "model": p.model,
		"usage": p.usage, "uuids": p.uuids}
	if p.stopReason != nil {
		data["stop_reason"] = p.stopReason
	}
	return t.partEvent(f, data, kindAPIRequest, key)
}

func (t *Transcript) ccUser(rec obj, f eventFields, uuid string) []chainlog.Event {
	var evs []chainlog.Event
	msg := getObj(rec, "message")
	bs, other := blocks(msg)
	var results []obj
	for _, b := range bs {
		if getStr(b, "type") == "tool_result" {
			results = append(results, b)
		} else {
			other = true
		}
	}
	for _, b := range results {
		id := getStr(b, "tool_use_id")
		data := obj{"tool_use_id": id, "tool_name": t.tools[id], "block": b, "uuid": uuid}
		if isErr, ok := getBool(b, "is_error"); ok {
			data["is_error"], data["success"] = isErr, !isErr
		}
		if len(results) == 1 && rec["toolUseResult"] != nil {
			data["tool_use_result"] = rec["toolUseResult"]
		}
		tf := f
		tf.eventType = "tool_result"
		evs = append(evs, t.partEvent(tf, data, kindToolResult, id))
	}
	if other || len(bs) == 0 {
		meta, _ := getBool(rec, "isMeta")
		summary, _ := getBool(rec, "isCompactSummary")
		f.eventType = "user_prompt"
		if meta || summary {
			f.eventType = "user_message"
		}
		evs = append(evs, t.recordEvent(f, rec, kindRecord, uuid))
	}
	return evs
}
