package chainlog

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"
)

// baseFields is a minimal valid event, as raw JSON values in a fixed order.
var baseFields = [][2]string{
	{"id", `"ev-1"`},
	{"node_id", `"node-a"`},
	{"event_type", `"tool_call"`},
	{"ts", `"2026-01-01T00:00:00Z"`},
}

// eventJSON returns the base event with kv applied: pairs of field name and
// raw JSON value. A value replaces the base one or is appended; the value
// "-" removes the field.
func eventJSON(kv ...string) string {
	if len(kv)%2 != 0 {
		panic("eventJSON: odd number of arguments")
	}
	fields := append([][2]string(nil), baseFields...)
	for i := 0; i < len(kv); i += 2 {
		name, val := kv[i], kv[i+1]
		found := false
		for j := range fields {
			if fields[j][0] == name {
				fields[j][1], found = val, true
			}
		}
		if !found {
			fields = append(fields, [2]string{name, val})
		}
	}
	var b strings.Builder
	b.WriteByte('{')
	n := 0
	for _, f := range fields {
		if f[1] == "-" {
			continue
		}
		if n > 0 {
			b.WriteByte(',')
		}
		n++
		b.WriteString(`"` + f[0] + `":` + f[1])
	}
	b.WriteByte('}')
	return b.String()
}

// baseEvent is eventJSON() decoded.
// manyKeys returns a JSON object with n keys, k0 to k(n-1), and then dup
// again when it is not empty.
func manyKeys(n int, dup string) string {
	var b strings.Builder
	b.WriteByte('{')
	for i := range n {
		fmt.Fprintf(&b, `"k%d":%d,`, i, i)
	}
	if dup != "" {
		fmt.Fprintf(&b, `%q:0,`, dup)
	}
	return strings.TrimSuffix(b.String(), ",") + "}"
}

func baseEvent() Event {
	return Event{ID: "ev-1", AgentType: "openclaw", NodeID: "node-a", AgentID: "main", EventType: "tool_call", TS: "2026-01-01T00:00:00Z"}
}

func fp(v float64) *float64 { return &v }
func ip(v int64) *int64     { return &v }

type badInput struct {
	name, line, defaultNode string
	field, msg              string // want FieldError.Field and a substring of Msg
}

func badInputs() []badInput {
	tests := []badInput{
		// Required fields.
		{name: "id missing", line: eventJSON("id", "-"), field: "id", msg: "required field is missing"},
		{name: "id null", line: eventJSON("id", "null"), field: "id", msg: "required field is missing"},
		{name: "id empty", line: eventJSON("id", `""`), field: "id", msg: "required field is empty"},
		{name: "node_id missing", line: eventJSON("node_id", "-"), field: "node_id", msg: "required field is missing"},
		{name: "node_id null", line: eventJSON("node_id", "null"), field: "node_id", msg: "required field is missing"},
		{name: "node_id empty", line: eventJSON("node_id", `""`), field: "node_id", msg: "required field is empty"},
		{name: "node_id null with default", line: eventJSON("node_id", "null"), defaultNode: "dflt", field: "node_id", msg: "required field is missing"},
		{name: "node_id empty with default", line: eventJSON("node_id", `""`), defaultNode: "dflt", field: "node_id", msg: "required field is empty"},
		{name: "node_id reserved for anchors", line: eventJSON("node_id", `"chainlog:amendments"`), field: "node_id", msg: "is reserved"},
		{name: "node_id reserved prefix", line: eventJSON("node_id", `"chainlog:prunes"`), field: "node_id", msg: "is reserved"},
		{name: "node_id reserved, escaped", line: eventJSON("node_id", `"chainlog\u003aamendments"`), field: "node_id", msg: "is reserved"},
		{name: "node_id reserved by default", line: eventJSON("node_id", "-"), defaultNode: "chainlog:amendments", field: "node_id", msg: "is reserved"},
		{name: "event_type missing", line: eventJSON("event_type", "-"), field: "event_type", msg: "required field is missing"},
		{name: "event_type null", line: eventJSON("event_type", "null"), field: "event_type", msg: "required field is missing"},
		{name: "event_type empty", line: eventJSON("event_type", `""`), field: "event_type", msg: "required field is empty"},
		{name: "ts missing", line: eventJSON("ts", "-"), field: "ts", msg: "required field is missing"},
		{name: "ts null", line: eventJSON("ts", "null"), field: "ts", msg: "required field is missing"},
		{name: "ts empty", line: eventJSON("ts", `""`), field: "ts", msg: "required field is empty"},

		// Not JSON, or not an object.
		{name: "empty input", line: "", msg: "invalid JSON"},
		{name: "truncated", line: `{"id":`, msg: "invalid JSON"},
		{name: "trailing comma", line: `{"id":"a",}`, msg: "invalid JSON at byte"},
		{name: "single quotes", line: `{'id':'a'}`, msg: "invalid JSON at byte"},
		{name: "two objects", line: eventJSON() + eventJSON(), msg: "invalid JSON"},
		{name: "garbage", line: "hello", msg: "invalid JSON"},
		{name: "array", line: `[1,2]`, msg: "not a JSON object"},
		{name: "array of event", line: "[" + eventJSON() + "]", msg: "not a JSON object"},
		{name: "string", line: `"event"`, msg: "not a JSON object"},
		{name: "number", line: `42`, msg: "not a JSON object"},
		{name: "boolean", line: `true`, msg: "not a JSON object"},
		{name: "null", line: `null`, msg: "event is null"},
		{name: "null padded", line: "  null \t", msg: "event is null"},

		// Invalid UTF-8.
		{name: "invalid UTF-8 in id", line: eventJSON("id", "\"a\xffb\""), field: "id", msg: "invalid UTF-8"},
		{name: "invalid UTF-8 in ts", line: eventJSON("ts", "\"2026\xc3\""), field: "ts", msg: "invalid UTF-8"},
		{name: "invalid UTF-8 in session_id", line: eventJSON("session_id", "\"\xed\xa0\x80\""), field: "session_id", msg: "invalid UTF-8"},
		{name: "invalid UTF-8 in data", line: eventJSON("data", "{\"k\":[\"\xfe\"]}"), field: "data", msg: "invalid UTF-8"},
		{name: "invalid UTF-8 in model", line: eventJSON("model", "\"\x80\""), field: "model", msg: "invalid UTF-8"},
		{name: "invalid UTF-8 in key", line: "{\"i\xffd\":\"x\"}", msg: "invalid UTF-8 at byte 4"},
		{name: "invalid UTF-8 outside values", line: "{\xff" + eventJSON()[1:], msg: "invalid UTF-8 at byte 2"},
		{name: "invalid UTF-8 after object", line: eventJSON() + "\xff", msg: "invalid UTF-8 at byte"},

		// Lone surrogates, which have no UTF-8 form.
		{name: "lone high surrogate", line: eventJSON("id", `"\ud800"`), field: "id", msg: `lone UTF-16 surrogate escape \ud800`},
		{name: "lone low surrogate", line: eventJSON("id", `"a\udc00"`), field: "id", msg: `lone UTF-16 surrogate escape \udc00`},
		{name: "uppercase lone surrogate", line: eventJSON("id", `"\uD83D"`), field: "id", msg: `lone UTF-16 surrogate escape \uD83D`},
		{name: "high then letter", line: eventJSON("id", `"\ud83dx"`), field: "id", msg: "lone UTF-16 surrogate"},
		{name: "high then non-surrogate escape", line: eventJSON("id", `"\ud83d\u0041"`), field: "id", msg: "lone UTF-16 surrogate"},
		{name: "two highs then low", line: eventJSON("id", `"\ud83d\ud83d\ude00"`), field: "id", msg: `lone UTF-16 surrogate escape \ud83d`},
		{name: "reversed pair", line: eventJSON("id", `"\ude00\ud83d"`), field: "id", msg: `lone UTF-16 surrogate escape \ude00`},
		{name: "pair then lone low", line: eventJSON("id", `"\ud83d\ude00\ude00"`), field: "id", msg: `lone UTF-16 surrogate escape \ude00`},
		{name: "after escaped backslash", line: eventJSON("id", `"\\\ud800"`), field: "id", msg: "lone UTF-16 surrogate"},
		{name: "after escaped quote", line: eventJSON("id", `"\"\udfff"`), field: "id", msg: "lone UTF-16 surrogate"},
		{name: "lone surrogate in model", line: eventJSON("model", `"\udbff"`), field: "model", msg: "lone UTF-16 surrogate"},
		{name: "lone surrogate in data", line: eventJSON("data", `"\ud800"`), field: "data", msg: `lone UTF-16 surrogate escape \ud800`},
		{name: "lone surrogate deep in data", line: eventJSON("data", `{"a" : [1, {"b":"x\udfffy"}]}`), field: "data", msg: `lone UTF-16 surrogate escape \udfff at data.a[1].b`},
		{name: "lone surrogate in a data key", line: eventJSON("data", `{"ok":{"\udc00":1}}`), field: "data", msg: `lone UTF-16 surrogate escape \udc00 in the key "\udc00" at data.ok`},
		{name: "lone surrogate in an export-only field", line: eventJSON("created_at", `"\ud800"`), field: "created_at", msg: "lone UTF-16 surrogate"},
		{name: "lone surrogate in an unknown key", line: eventJSON(`\ud800`, `1`), msg: `lone UTF-16 surrogate escape \ud800 in the key "\ud800"`},

		// Repeated keys, which a reader that takes the first one reads as
		// another event.
		{name: "id twice", line: `{"id":"a","node_id":"n","event_type":"t","ts":"1","id":"b"}`, field: "id", msg: "duplicate key"},
		{name: "id twice, same value", line: `{"id":"a","id":"a","node_id":"n","event_type":"t","ts":"1"}`, field: "id", msg: "duplicate key"},
		{name: "id twice, escaped", line: `{"id":"a","node_id":"n","event_type":"t","ts":"1","i\u0064":"b"}`, field: "id", msg: "duplicate key"},
		{name: "id twice, both escaped", line: `{"\u0069d":"a","node_id":"n","event_type":"t","ts":"1","i\u0064":"b"}`, field: "id", msg: "duplicate key"},
		{name: "node_id twice with default", line: `{"id":"a","node_id":"n","event_type":"t","ts":"1","node_id":"m"}`, defaultNode: "dflt", field: "node_id", msg: "duplicate key"},
		{name: "data twice", line: `{"id":"a","node_id":"n","event_type":"t","ts":"1","data":{},"data":{"x":1}}`, field: "data", msg: "duplicate key"},
		{name: "cost_usd twice", line: `{"id":"a","node_id":"n","event_type":"t","ts":"1","cost_usd":1,"cost_usd":2}`, field: "cost_usd", msg: "duplicate key"},
		{name: "export-only field twice", line: `{"id":"a","node_id":"n","event_type":"t","ts":"1","chain_seq":1,"chain_seq":2}`, field: "chain_seq", msg: "duplicate key"},
		{name: "unknown field twice", line: `{"id":"a","node_id":"n","event_type":"t","ts":"1","x":1,"x":2}`, field: "x", msg: "duplicate key"},
		{name: "key twice in data", line: eventJSON("data", `{"a":1,"b":2,"a":3}`), field: "data", msg: `duplicate key "a" in the object at data`},
		{name: "key twice deep in data", line: eventJSON("data", `{"x":[{"k":1},{"k":1,"\u006b":2}]}`), field: "data", msg: `duplicate key "k" in the object at data.x[1]`},
		{name: "key twice among many in data", line: eventJSON("data", manyKeys(100, "k7")), field: "data", msg: `duplicate key "k7" in the object at data`},
		{name: "empty key twice in data", line: eventJSON("data", `{"":1," ":2,"":3}`), field: "data", msg: `duplicate key "" in the object at data`},

		// Unknown fields.
		{name: "unknown field", line: eventJSON("extra", "1"), field: "extra", msg: "unknown field"},
		{name: "unknown field null", line: eventJSON("extra", "null"), field: "extra", msg: "unknown field"},
		{name: "field names are case-sensitive", line: eventJSON("ID", `"x"`), field: "ID", msg: "unknown field"},
		{name: "empty field name", line: eventJSON("", `"x"`), field: "", msg: "unknown field"},

		// Mutable fields.
		{name: "cost_usd string", line: eventJSON("cost_usd", `"0.5"`), field: "cost_usd", msg: "must be a number or null, got a string"},
		{name: "cost_usd boolean", line: eventJSON("cost_usd", `true`), field: "cost_usd", msg: "must be a number or null, got a boolean"},
		{name: "cost_usd object", line: eventJSON("cost_usd", `{}`), field: "cost_usd", msg: "must be a number or null, got an object"},
		{name: "cost_usd array", line: eventJSON("cost_usd", `[1]`), field: "cost_usd", msg: "must be a number or null, got an array"},
		{name: "cost_usd negative", line: eventJSON("cost_usd", `-0.01`), field: "cost_usd", msg: "must not be negative"},
		{name: "cost_usd huge", line: eventJSON("cost_usd", `1e400`), field: "cost_usd", msg: "number out of range"},
		{name: "cost_usd huge negative", line: eventJSON("cost_usd", `-1e400`), field: "cost_usd", msg: "number out of range"},
		{name: "token_count fractional", line: eventJSON("token_count", `1.5`), field: "token_count", msg: "must be an integer, got 1.5"},
		{name: "token_count exponent", line: eventJSON("token_count", `1e3`), field: "token_count", msg: "must be an integer, got 1e3"},
		{name: "token_count integral float", line: eventJSON("token_count", `10.0`), field: "token_count", msg: "must be an integer"},
		{name: "token_count negative", line: eventJSON("token_count", `-3`), field: "token_count", msg: "must not be negative"},
		{name: "token_count minus one", line: eventJSON("token_count", `-1`), field: "token_count", msg: "must not be negative"},
		{name: "token_count string", line: eventJSON("token_count", `"12"`), field: "token_count", msg: "must be an integer or null, got a string"},
		{name: "token_count boolean", line: eventJSON("token_count", `false`), field: "token_count", msg: "got a boolean"},
		{name: "token_count overflow", line: eventJSON("token_count", `9223372036854775808`), field: "token_count", msg: "must be an integer"},
		{name: "model number", line: eventJSON("model", `4`), field: "model", msg: "must be a string, got a number"},
		{name: "model object", line: eventJSON("model", `{"name":"x"}`), field: "model", msg: "must be a string, got an object"},
	}
	// Every identity field, with every non-string JSON kind.
	kinds := []struct{ raw, kind string }{
		{`12`, "a number"}, {`-1.5e3`, "a number"}, {`0`, "a number"},
		{`{}`, "an object"}, {`{"s":"x"}`, "an object"},
		{`true`, "a boolean"}, {`false`, "a boolean"},
		{`[]`, "an array"}, {`["x"]`, "an array"},
	}
	for _, field := range specIdentityFields {
		for _, k := range kinds {
			tests = append(tests, badInput{
				name: field + " is " + k.raw, line: eventJSON(field, k.raw),
				field: field, msg: "must be a string, got " + k.kind,
			})
		}
		tests = append(tests, badInput{
			name: field + " lone surrogate", line: eventJSON(field, `"x\ud800y"`),
			field: field, msg: "lone UTF-16 surrogate",
		})
	}
	return tests
}

func TestDecodeEventErrors(t *testing.T) {
	for _, tt := range badInputs() {
		t.Run(tt.name, func(t *testing.T) {
			_, err := DecodeEvent([]byte(tt.line), tt.defaultNode)
			if err == nil {
				t.Fatalf("DecodeEvent(%s): got nil error, want field %q: %q", tt.line, tt.field, tt.msg)
			}
			var fe *FieldError
			if !errors.As(err, &fe) {
				t.Fatalf("DecodeEvent(%s): got %T %v, want *FieldError", tt.line, err, err)
			}
			if fe.Field != tt.field {
				t.Errorf("Field: got %q, want %q (error %v)", fe.Field, tt.field, err)
			}
			if !strings.Contains(fe.Msg, tt.msg) {
				t.Errorf("Msg: got %q, want it to contain %q", fe.Msg, tt.msg)
			}
		})
	}
}

func TestDecodeEvent(t *testing.T) {
	withEdit := func(edit func(*Event)) Event {
		ev := baseEvent()
		edit(&ev)
		return ev
	}
	tests := []struct {
		name, line, defaultNode string
		want                    Event
	}{
		{"minimal with defaults", eventJSON(), "", baseEvent()},
		{"padded with whitespace", " \t" + eventJSON() + " \r", "", baseEvent()},
		{"spaces around null", `{ "id" : "ev-1" , "node_id":"node-a","event_type":"tool_call","ts":"2026-01-01T00:00:00Z", "session_id" : null , "model":	null }`, "", baseEvent()},
		{"agent fields empty get defaults", eventJSON("agent_type", `""`, "agent_id", `""`), "", baseEvent()},
		{"agent fields null get defaults", eventJSON("agent_type", "null", "agent_id", "null"), "", baseEvent()},
		{"agent fields kept", eventJSON("agent_type", `"cursor"`, "agent_id", `"planner"`), "",
			withEdit(func(e *Event) { e.AgentType, e.AgentID = "cursor", "planner" })},
		{"session and workspace null", eventJSON("session_id", "null", "workspace_id", "null"), "", baseEvent()},
		{"session and workspace empty stay empty", eventJSON("session_id", `""`, "workspace_id", `""`), "",
			withEdit(func(e *Event) { e.SessionID, e.WorkspaceID = sp(""), sp("") })},
		{"session and workspace set", eventJSON("session_id", `"s-1"`, "workspace_id", `"ws"`), "",
			withEdit(func(e *Event) { e.SessionID, e.WorkspaceID = sp("s-1"), sp("ws") })},
		{"ts verbatim", eventJSON("ts", `" 2026-02-30T25:61:00+05:30 "`), "",
			withEdit(func(e *Event) { e.TS = " 2026-02-30T25:61:00+05:30 " })},
		{"export-only fields ignored", eventJSON("chain_seq", "7", "chain_hash", `"abc"`, "chain_prev_hash", "null", "created_at", `"2026-01-02 03:04:05"`), "", baseEvent()},
		{"export-only fields of any type ignored", eventJSON("chain_seq", `"x"`, "chain_hash", `{}`, "created_at", `[1]`), "", baseEvent()},
		{"default node used when missing", eventJSON("node_id", "-"), "dflt", withEdit(func(e *Event) { e.NodeID = "dflt" })},
		{"default node ignored when present", eventJSON(), "dflt", baseEvent()},
		{"escaped surrogate pair", eventJSON("id", `"\ud83d\ude00"`), "", withEdit(func(e *Event) { e.ID = "😀" })},
		{"escaped surrogate pair uppercase", eventJSON("id", `"a\uD83D\uDE00b"`), "", withEdit(func(e *Event) { e.ID = "a😀b" })},
		{"first and last non-BMP", eventJSON("id", `"\ud800\udc00\udbff\udfff"`), "", withEdit(func(e *Event) { e.ID = "\U00010000\U0010ffff" })},
		{"escaped BMP characters", eventJSON("id", `"\u00e9\u2028\u0000\/"`), "", withEdit(func(e *Event) { e.ID = "é\u2028\x00/" })},
		{"escaped backslash then ud800 text", eventJSON("id", `"\\ud800"`), "", withEdit(func(e *Event) { e.ID = `\ud800` })},
		{"raw non-ASCII", eventJSON("workspace_id", `"wé<>& 😀"`), "", withEdit(func(e *Event) { e.WorkspaceID = sp("wé<>& 😀") })},
		{"escaped key", `{"\u0069d":"ev-1","node_id":"node-a","event_type":"tool_call","ts":"2026-01-01T00:00:00Z"}`, "", baseEvent()},
		{"data compacted", eventJSON("data", `{ "a" : [1, 2.50, -0] , "b" : "x<y&z\u00e9" }`), "",
			withEdit(func(e *Event) { e.Data = json.RawMessage(`{"a":[1,2.50,-0],"b":"x<y&z\u00e9"}`) })},
		{"data string", eventJSON("data", `"text"`), "", withEdit(func(e *Event) { e.Data = json.RawMessage(`"text"`) })},
		{"data empty object", eventJSON("data", `{}`), "", withEdit(func(e *Event) { e.Data = json.RawMessage(`{}`) })},
		{"data false", eventJSON("data", `false`), "", withEdit(func(e *Event) { e.Data = json.RawMessage(`false`) })},
		{"data null is nil", eventJSON("data", `null`), "", baseEvent()},
		{"data surrogate pair kept", eventJSON("data", `"\ud83d\ude00"`), "", withEdit(func(e *Event) { e.Data = json.RawMessage(`"\ud83d\ude00"`) })},
		{"data escaped backslash then ud800 text", eventJSON("data", `["\\ud800"]`), "", withEdit(func(e *Event) { e.Data = json.RawMessage(`["\\ud800"]`) })},
		{"data same key in different objects", eventJSON("data", `{"a":{"a":1},"b":[{"a":2},{"a":3}]}`), "",
			withEdit(func(e *Event) { e.Data = json.RawMessage(`{"a":{"a":1},"b":[{"a":2},{"a":3}]}`) })},
		{"data keys that differ only once unescaped differ", eventJSON("data", `{"a":1,"\\u0061":2,"A":3}`), "",
			withEdit(func(e *Event) { e.Data = json.RawMessage(`{"a":1,"\\u0061":2,"A":3}`) })},
		{"data many keys", eventJSON("data", manyKeys(100, "")), "", withEdit(func(e *Event) { e.Data = json.RawMessage(manyKeys(100, "")) })},
		{"mutable fields", eventJSON("cost_usd", `0.03327`, "token_count", `4103`, "model", `"claude-sonnet-4"`), "",
			withEdit(func(e *Event) { e.CostUSD, e.TokenCount, e.Model = fp(0.03327), ip(4103), sp("claude-sonnet-4") })},
		{"mutable fields zero", eventJSON("cost_usd", `0`, "token_count", `0`, "model", `""`), "",
			withEdit(func(e *Event) { e.CostUSD, e.TokenCount, e.Model = fp(0), ip(0), sp("") })},
		{"mutable fields null", eventJSON("cost_usd", `null`, "token_count", `null`, "model", `null`), "", baseEvent()},
		{"cost exponent", eventJSON("cost_usd", `1.5E-3`), "", withEdit(func(e *Event) { e.CostUSD = fp(0.0015) })},
		{"cost underflow is zero", eventJSON("cost_usd", `1e-400`), "", withEdit(func(e *Event) { e.CostUSD = fp(0) })},
		{"max float cost", eventJSON("cost_usd", `1.7976931348623157e308`), "", withEdit(func(e *Event) { e.CostUSD = fp(math.MaxFloat64) })},
		{"token_count minus zero", eventJSON("token_count", `-0`), "", withEdit(func(e *Event) { e.TokenCount = ip(0) })},
		{"max token count", eventJSON("token_count", `9223372036854775807`), "", withEdit(func(e *Event) { e.TokenCount = ip(math.MaxInt64) })},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := DecodeEvent([]byte(tt.line), tt.defaultNode)
			if err != nil {
				t.Fatalf("DecodeEvent(%s): got error %v, want nil", tt.line, err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("DecodeEvent(%s):\n got %s\nwant %s", tt.line, dumpEvent(got), dumpEvent(tt.want))
			}
		})
	}
}

func TestDecodeEventAllVectors(t *testing.T) {
	// Every vector line decodes, and its data is kept compact and verbatim.
	for i, line := range readLines(t, vectorEvents) {
		ev, err := DecodeEvent(line, "")
		if err != nil {
			t.Errorf("line %d: got error %v, want nil", i+1, err)
			continue
		}
		var obj map[string]json.RawMessage
		if err := json.Unmarshal(line, &obj); err != nil {
			t.Fatal(err)
		}
		var want bytes.Buffer
		if raw, ok := obj["data"]; ok {
			if err := json.Compact(&want, raw); err != nil {
				t.Fatal(err)
			}
		}
		if got := string(ev.Data); got != want.String() {
			t.Errorf("line %d data: got %s, want %s", i+1, got, want.String())
		}
	}
}

func TestFieldErrorError(t *testing.T) {
	tests := []struct {
		name string
		err  FieldError
		want string
	}{
		{"no field", FieldError{Msg: "event is not a JSON object"}, "event is not a JSON object"},
		{"field", FieldError{Field: "id", Msg: "required field is missing"}, `field "id": required field is missing`},
		{"field quoted", FieldError{Field: "a\"b", Msg: "unknown field"}, `field "a\"b": unknown field`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.err.Error(); got != tt.want {
				t.Errorf("Error(): got %q, want %q", got, tt.want)
			}
		})
	}
}

// dumpEvent formats an event with its pointers followed, for messages.
func dumpEvent(e Event) string {
	b, _ := json.Marshal(struct {
		Event
		Data string
	}{e, string(e.Data)})
	return string(b)
}

// checkDecoded checks the invariants of an accepted event.
func checkDecoded(t *testing.T, line []byte, defaultNode string, ev Event) {
	t.Helper()
	for name, s := range map[string]string{"id": ev.ID, "node_id": ev.NodeID, "event_type": ev.EventType, "ts": ev.TS, "agent_type": ev.AgentType, "agent_id": ev.AgentID} {
		if s == "" {
			t.Errorf("%s: got empty, want non-empty", name)
		}
		if !utf8.ValidString(s) {
			t.Errorf("%s: got invalid UTF-8 %q", name, s)
		}
	}
	for name, s := range map[string]*string{"session_id": ev.SessionID, "workspace_id": ev.WorkspaceID, "model": ev.Model} {
		if s != nil && !utf8.ValidString(*s) {
			t.Errorf("%s: got invalid UTF-8 %q", name, *s)
		}
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(line, &obj); err != nil {
		t.Fatalf("accepted line is not a JSON object: %v", err)
	}
	if strings.HasPrefix(ev.NodeID, ReservedNodePrefix) {
		t.Errorf("node_id: accepted the reserved %q", ev.NodeID)
	}
	if _, ok := obj["node_id"]; !ok && ev.NodeID != defaultNode {
		t.Errorf("node_id missing: got %q, want the default %q", ev.NodeID, defaultNode)
	}
	if ev.Data != nil {
		var buf bytes.Buffer
		if err := json.Compact(&buf, ev.Data); err != nil || !bytes.Equal(buf.Bytes(), ev.Data) {
			t.Errorf("data: got %q, want compact valid JSON (%v)", ev.Data, err)
		}
	}
	if c := ev.CostUSD; c != nil && (*c < 0 || math.IsInf(*c, 0) || math.IsNaN(*c)) {
		t.Errorf("cost_usd: got %v, want finite and non-negative", *c)
	}
	if n := ev.TokenCount; n != nil && *n < 0 {
		t.Errorf("token_count: got %d, want non-negative", *n)
	}
	checkCanonicalText(t, &ev, Canonical(&ev))

	// Re-encoding the event and decoding it again gives the same event.
	again, err := DecodeEvent(encodeEvent(t, &ev), "")
	if err != nil {
		t.Fatalf("decode re-encoded event: %v", err)
	}
	if !reflect.DeepEqual(again, ev) {
		t.Errorf("re-decoded:\n got %s\nwant %s", dumpEvent(again), dumpEvent(ev))
	}
}

// encodeEvent writes ev as an NDJSON event with encoding/json.
func encodeEvent(t *testing.T, ev *Event) []byte {
	t.Helper()
	obj := map[string]any{
		"id": ev.ID, "agent_type": ev.AgentType, "node_id": ev.NodeID, "agent_id": ev.AgentID,
		"session_id": ev.SessionID, "workspace_id": ev.WorkspaceID, "event_type": ev.EventType, "ts": ev.TS,
		"cost_usd": ev.CostUSD, "token_count": ev.TokenCount, "model": ev.Model,
	}
	if ev.Data != nil {
		obj["data"] = ev.Data
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(obj); err != nil {
		t.Fatalf("encode event: %v", err)
	}
	return buf.Bytes()
}

func FuzzDecodeEvent(f *testing.F) {
	for _, line := range readLines(f, vectorEvents) {
		f.Add(line, "")
	}
	for _, tt := range badInputs() {
		f.Add([]byte(tt.line), tt.defaultNode)
	}
	f.Add([]byte(eventJSON("node_id", "-")), "dflt")
	f.Add([]byte(eventJSON("node_id", `"chainlog:amendments"`)), "")
	f.Add([]byte(eventJSON("node_id", "-")), "chainlog:x")
	f.Add([]byte(eventJSON("id", `"\ud83d\ude00"`, "data", `{"a" : [1, "\ud800"]}`, "cost_usd", "-0")), "")

	f.Fuzz(func(t *testing.T, line []byte, defaultNode string) {
		if !utf8.ValidString(defaultNode) {
			// defaultNodeID is the caller's, not the input's: DecodeEvent
			// takes it as given.
			return
		}
		ev, err := DecodeEvent(line, defaultNode)
		if err != nil {
			var fe *FieldError
			if !errors.As(err, &fe) {
				t.Fatalf("got error %T %v, want *FieldError", err, err)
			}
			if fe.Msg == "" {
				t.Fatalf("got FieldError with empty Msg (field %q)", fe.Field)
			}
			return
		}
		checkDecoded(t, line, defaultNode, ev)
	})
}
