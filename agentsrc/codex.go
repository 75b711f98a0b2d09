package agentsrc

import (
	"fmt"

	"chainlog"
	"chainlog/pricing"
)

// codexUsage is one token_count's usage: OpenAI counts, where input
// includes the cached input and output includes the reasoning.
type codexUsage struct {
	in, cached, out, reasoning, total int64
}

func readCodexUsage(o obj) (codexUsage, bool) {
	if o == nil {
		return codexUsage{}, false
	}
	var u codexUsage
	for dst, k := range map[*int64]string{
		&u.in: "input_tokens", &u.cached: "cached_input_tokens", &u.out: "output_tokens",
		&u.reasoning: "reasoning_output_tokens", &u.total: "total_tokens",
	} {
		*dst, _ = getCount(o, k)
	}
	return u, true
}

func (u codexUsage) minus(p codexUsage) (codexUsage, bool) {
	d := codexUsage{u.in - p.in, u.cached - p.cached, u.out - p.out, u.reasoning - p.reasoning, u.total - p.total}
	ok := d.in >= 0 && d.cached >= 0 && d.out >= 0 && d.reasoning >= 0 && d.total >= 0
	return d, ok
}

func (u codexUsage) obj() obj {
	return obj{"input_tokens": u.in, "cached_input_tokens": u.cached, "output_tokens": u.out,
		"reasoning_output_tokens": u.reasoning, "total_tokens": u.total}
}

// codexTotals is the last cumulative usage a rollout reported.
type codexTotals struct {
	known bool
	last  codexUsage
}

// codexToolKinds gives the event type and id kind of the response items
// that are tool calls and their outputs, keyed by call_id.
var codexToolKinds = map[string][2]string{
	"function_call":           {"tool_use", kindToolUse},
	"custom_tool_call":        {"tool_use", kindToolUse},
	"local_shell_call":        {"tool_use", kindToolUse},
	"function_call_output":    {"tool_result", kindToolResult},
	"custom_tool_call_output": {"tool_result", kindToolResult},
}

func (t *Transcript) codexLine(rec obj) []chainlog.Event {
	typ, p := getStr(rec, "type"), getObj(rec, "payload")
	ts := t.recordTS(rec["timestamp"], get(p, "timestamp"))
	switch typ {
	case "session_meta":
		if id := getStr(p, "id"); id != "" {
			t.session = id
		}
	case "turn_context":
		if m := getStr(p, "model"); m != "" {
			t.model = m
		}
	}
	f := t.newFields(orDefault(typ, "record"), ts, t.session)
	ptype := getStr(p, "type")
	switch typ {
	case "response_item":
		if k, ok := codexToolKinds[ptype]; ok {
			f.eventType = k[0]
			return []chainlog.Event{t.recordEvent(f, rec, k[1], getStr(p, "call_id"))}
		}
		f.eventType = orDefault(ptype, typ)
	case "event_msg":
		if ptype == "token_count" {
			return t.codexTokens(f, p)
		}
		f.eventType = orDefault(ptype, typ)
	}
	return []chainlog.Event{t.recordEvent(f, rec, kindContent, "")}
}

// codexTokens maps a token_count event. Codex repeats the cumulative
// totals, often unchanged: usage is emitted only when the totals change,
// as the difference from the previous totals (or, when there are none, or
// the totals went down, as the event's last_token_usage). The id is keyed
// by the cumulative totals, so it does not depend on where reading began.
func (t *Transcript) codexTokens(f eventFields, p obj) []chainlog.Event {
	info := getObj(p, "info")
	tot, ok := readCodexUsage(getObj(info, "total_token_usage"))
	if !ok || (t.codex.known && tot == t.codex.last) {
		return nil // no usage, or a repeat
	}
	last, hasLast := readCodexUsage(getObj(info, "last_token_usage"))
	delta, ok := tot.minus(t.codex.last)
	if !t.codex.known || !ok {
		delta = tot
		if hasLast {
			delta = last
		}
	}
	t.codex = codexTotals{known: true, last: tot}
	f.eventType = "usage"
	cached := min(delta.cached, delta.in)
	u := pricing.Usage{InputTokens: delta.in - cached, CacheReadTokens: cached, OutputTokens: delta.out}
	t.usageCost(&f, u, delta.in+delta.out, t.model, 0, false)
	data := obj{"total_token_usage": tot.obj(), "usage": delta.obj(), "model": t.model}
	if hasLast {
		data["last_token_usage"] = last.obj()
	}
	for _, k := range []string{"model_context_window"} {
		if v, ok := info[k]; ok {
			data[k] = v
		}
	}
	if rl, ok := p["rate_limits"]; ok {
		data["rate_limits"] = rl
	}
	key := fmt.Sprintf("%d/%d/%d/%d/%d", tot.in, tot.cached, tot.out, tot.reasoning, tot.total)
	return []chainlog.Event{t.partEvent(f, data, kindUsage, key)}
}
