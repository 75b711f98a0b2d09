package chainlog

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"sort"
	"strings"
	"testing"
	"unicode/utf16"
	"unicode/utf8"
)

// The known-answer vectors of the chain-format spec, copied into testdata/
// so that the tests pass on a fresh clone.
const (
	vectorEvents   = "testdata/chain-vectors.events.ndjson"
	vectorExpected = "testdata/chain-vectors.expected.ndjson"
	vectorHeads    = "testdata/chain-vectors.heads.json"
)

// specIdentityFields are the identity field names, in the spec's order.
var specIdentityFields = []string{"id", "agent_type", "node_id", "agent_id", "session_id", "workspace_id", "event_type", "ts"}

// expectedLine is one line of chain-vectors.expected.ndjson.
type expectedLine struct {
	ID        string `json:"id"`
	NodeID    string `json:"node_id"`
	Canonical string `json:"canonical"`
	PrevHash  string `json:"chain_prev_hash"`
	Hash      string `json:"chain_hash"`
}

// readLines returns the non-empty lines of a testdata file.
func readLines(tb testing.TB, path string) [][]byte {
	tb.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		tb.Fatalf("read %s: %v", path, err)
	}
	var lines [][]byte
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		if len(bytes.TrimSpace(sc.Bytes())) > 0 {
			lines = append(lines, bytes.Clone(sc.Bytes()))
		}
	}
	if err := sc.Err(); err != nil {
		tb.Fatalf("scan %s: %v", path, err)
	}
	return lines
}

func mustDecode(tb testing.TB, line string) Event {
	tb.Helper()
	ev, err := DecodeEvent([]byte(line), "")
	if err != nil {
		tb.Fatalf("DecodeEvent(%s): got error %v, want nil", line, err)
	}
	return ev
}

func sp(s string) *string { return &s }

func TestKnownAnswerVectors(t *testing.T) {
	events := readLines(t, vectorEvents)
	expected := readLines(t, vectorExpected)
	if got, want := len(events), 40; got != want {
		t.Fatalf("%s: got %d events, want %d", vectorEvents, got, want)
	}
	if got, want := len(expected), len(events); got != want {
		t.Fatalf("%s: got %d lines, want %d", vectorExpected, got, want)
	}

	heads := map[string]string{} // node_id -> chain_hash of its last event
	var h Hasher                 // reused across lines on purpose
	for i := range events {
		var want expectedLine
		if err := json.Unmarshal(expected[i], &want); err != nil {
			t.Fatalf("%s line %d: %v", vectorExpected, i+1, err)
		}
		ev, err := DecodeEvent(events[i], "")
		if err != nil {
			t.Errorf("line %d: DecodeEvent: got error %v, want nil", i+1, err)
			continue
		}
		prev, ok := heads[ev.NodeID]
		if !ok {
			prev = GenesisHash
		}
		t.Run(fmt.Sprintf("line%02d_%s", i+1, want.ID), func(t *testing.T) {
			if ev.ID != want.ID || ev.NodeID != want.NodeID {
				t.Fatalf("identity: got id %q node %q, want id %q node %q", ev.ID, ev.NodeID, want.ID, want.NodeID)
			}
			if got := Canonical(&ev); got != want.Canonical {
				t.Errorf("Canonical:\n got %s\nwant %s", got, want.Canonical)
			}
			if prev != want.PrevHash {
				t.Errorf("chain_prev_hash: got %s, want %s", prev, want.PrevHash)
			}
			if got := h.Sum(prev, &ev); got != want.Hash {
				t.Errorf("Hasher.Sum: got %s, want %s", got, want.Hash)
			}
			if got := ChainHash(prev, &ev); got != want.Hash {
				t.Errorf("ChainHash: got %s, want %s", got, want.Hash)
			}
		})
		// Link to the expected hash, not the computed one, so that one bad
		// line is reported once instead of breaking every later line.
		heads[ev.NodeID] = want.Hash
	}

	data, err := os.ReadFile(vectorHeads)
	if err != nil {
		t.Fatal(err)
	}
	var wantHeads map[string]string
	if err := json.Unmarshal(data, &wantHeads); err != nil {
		t.Fatalf("%s: %v", vectorHeads, err)
	}
	if got, want := len(heads), len(wantHeads); got != want {
		t.Errorf("heads: got %d nodes %v, want %d %v", got, heads, want, wantHeads)
	}
	for node, want := range wantHeads {
		if got := heads[node]; got != want {
			t.Errorf("head of %q: got %s, want %s", node, got, want)
		}
	}
}

func TestSpecVectors(t *testing.T) {
	ev0 := mustDecode(t, `{"id":"ev:00","node_id":"node-a","event_type":"tool_call","ts":"2026-01-01T00:00:00Z"}`)
	ev1 := mustDecode(t, `{"id":"ev:01","node_id":"node-a","agent_type":"claude_code","session_id":"s-1","workspace_id":"wé<>&\u2028😀","event_type":"tool.call","ts":"2026-01-01T00:00:01.123Z"}`)

	const (
		canon0 = `{"agent_id":"main","agent_type":"openclaw","event_type":"tool_call","id":"ev:00","node_id":"node-a","session_id":null,"ts":"2026-01-01T00:00:00Z","workspace_id":null}`
		hash0  = "31dbdd8ccc2359868524630c80387d35096ba90cc93784c4fcd6d81255e6d978"
		tail1  = `"workspace_id":"w\u00e9<>&\u2028\ud83d\ude00"}`
		canon1 = `{"agent_id":"main","agent_type":"claude_code","event_type":"tool.call","id":"ev:01","node_id":"node-a","session_id":"s-1","ts":"2026-01-01T00:00:01.123Z",` + tail1
		hash1  = "4fe87e37300934aa7595aaf198102a6d779091344e85a4d8b214013d27e8034d"
	)
	if got := Canonical(&ev0); got != canon0 {
		t.Errorf("ev:00 canonical:\n got %s\nwant %s", got, canon0)
	}
	if got := ChainHash(GenesisHash, &ev0); got != hash0 {
		t.Errorf("ev:00 chain_hash: got %s, want %s", got, hash0)
	}
	got1 := Canonical(&ev1)
	if !strings.HasSuffix(got1, tail1) {
		t.Errorf("ev:01 canonical: got %s, want it to end with %s", got1, tail1)
	}
	if got1 != canon1 {
		t.Errorf("ev:01 canonical:\n got %s\nwant %s", got1, canon1)
	}
	if got := ChainHash(hash0, &ev1); got != hash1 {
		t.Errorf("ev:01 chain_hash: got %s, want %s", got, hash1)
	}
	if got, want := len(GenesisHash), 64; got != want || strings.Trim(GenesisHash, "0") != "" {
		t.Errorf("GenesisHash: got %q, want 64 zeros", GenesisHash)
	}
}

func TestAppendPyString(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"empty", "", `""`},
		{"plain", "tool_call", `"tool_call"`},
		{"space and tilde raw", " ~", `" ~"`},
		{"quote", `a"b`, `"a\"b"`},
		{"backslash", `a\b`, `"a\\b"`},
		{"backslash before u", `\u00e9`, `"\\u00e9"`},
		{"backspace", "\b", `"\b"`},
		{"form feed", "\f", `"\f"`},
		{"newline", "\n", `"\n"`},
		{"carriage return", "\r", `"\r"`},
		{"tab", "\t", `"\t"`},
		{"NUL", "\x00", `"\u0000"`},
		{"SOH", "\x01", `"\u0001"`},
		{"vertical tab", "\v", `"\u000b"`},
		{"ESC", "\x1b", `"\u001b"`},
		{"unit separator", "\x1f", `"\u001f"`},
		{"DEL", "\x7f", `"\u007f"`},
		{"slash and html raw", "/<>&", `"/<>&"`},
		{"script tag raw", "</script>", `"</script>"`},
		{"U+0080", "\u0080", `"\u0080"`},
		{"e acute lowercase hex", "é", `"\u00e9"`},
		{"nbsp", "\u00a0", `"\u00a0"`},
		{"U+00AB lowercase hex", "«", `"\u00ab"`},
		{"line separator", "\u2028", `"\u2028"`},
		{"paragraph separator", "\u2029", `"\u2029"`},
		{"CJK", "日本語", `"\u65e5\u672c\u8a9e"`},
		{"U+ABCD lowercase hex", "\uabcd", `"\uabcd"`},
		{"private use", "\ue000", `"\ue000"`},
		{"BOM", "\ufeff", `"\ufeff"`},
		{"replacement char", "\ufffd", `"\ufffd"`},
		{"U+FFFF", "\uffff", `"\uffff"`},
		{"first non-BMP", "\U00010000", `"\ud800\udc00"`},
		{"emoji surrogate pair", "😀", `"\ud83d\ude00"`},
		{"test tube and lock", "🧪🔒", `"\ud83e\uddea\ud83d\udd12"`},
		{"last code point", "\U0010ffff", `"\udbff\udfff"`},
		{"mixed", "wé<>&\u2028😀", `"w\u00e9<>&\u2028\ud83d\ude00"`},
		{"controls in text", "ctl\x01\x1f", `"ctl\u0001\u001f"`},
		{"invalid byte as U+FFFD", "a\xffb", `"a\ufffdb"`},
		{"truncated sequence as U+FFFD", "\xe2\x82", `"\ufffd\ufffd"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := string(appendPyString(nil, tt.in)); got != tt.want {
				t.Errorf("appendPyString(%q): got %s, want %s", tt.in, got, tt.want)
			}
			if got := refPyString(tt.in); got != tt.want {
				t.Errorf("refPyString(%q): got %s, want %s (reference encoder disagrees with the table)", tt.in, got, tt.want)
			}
		})
	}
}

func TestCanonical(t *testing.T) {
	base := func() Event {
		return Event{ID: "e", NodeID: "n", EventType: "t", TS: "1"}
	}
	const tail = `"event_type":"t","id":"e","node_id":"n",`
	tests := []struct {
		name string
		edit func(*Event)
		want string
	}{
		{"defaults when empty", func(*Event) {},
			`{"agent_id":"main","agent_type":"openclaw",` + tail + `"session_id":null,"ts":"1","workspace_id":null}`},
		{"explicit agent fields", func(e *Event) { e.AgentType, e.AgentID = "cursor", "planner" },
			`{"agent_id":"planner","agent_type":"cursor",` + tail + `"session_id":null,"ts":"1","workspace_id":null}`},
		{"explicit defaults are the same", func(e *Event) { e.AgentType, e.AgentID = DefaultAgentType, DefaultAgentID },
			`{"agent_id":"main","agent_type":"openclaw",` + tail + `"session_id":null,"ts":"1","workspace_id":null}`},
		{"empty session and workspace stay empty", func(e *Event) { e.SessionID, e.WorkspaceID = sp(""), sp("") },
			`{"agent_id":"main","agent_type":"openclaw",` + tail + `"session_id":"","ts":"1","workspace_id":""}`},
		{"string null is not null", func(e *Event) { e.SessionID, e.WorkspaceID = sp("null"), sp("null") },
			`{"agent_id":"main","agent_type":"openclaw",` + tail + `"session_id":"null","ts":"1","workspace_id":"null"}`},
		{"escapes in every field", func(e *Event) {
			e.ID, e.AgentType, e.NodeID, e.AgentID = "i\"", "a\\", "n\n", "g\x00"
			e.SessionID, e.WorkspaceID, e.EventType, e.TS = sp("é"), sp("😀"), "<&>", "\u2028"
		}, `{"agent_id":"g\u0000","agent_type":"a\\","event_type":"<&>","id":"i\"","node_id":"n\n","session_id":"\u00e9","ts":"\u2028","workspace_id":"\ud83d\ude00"}`},
		{"ts verbatim", func(e *Event) { e.TS = "2026-02-30T25:61:00Z" },
			`{"agent_id":"main","agent_type":"openclaw",` + tail + `"session_id":null,"ts":"2026-02-30T25:61:00Z","workspace_id":null}`},
		{"mutable fields not hashed", func(e *Event) {
			e.Data, e.CostUSD, e.Model = json.RawMessage(`{"x":1}`), new(float64), sp("m")
		}, `{"agent_id":"main","agent_type":"openclaw",` + tail + `"session_id":null,"ts":"1","workspace_id":null}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev := base()
			tt.edit(&ev)
			if got := Canonical(&ev); got != tt.want {
				t.Errorf("Canonical:\n got %s\nwant %s", got, tt.want)
			}
			if got := refCanonical(&ev); got != tt.want {
				t.Errorf("refCanonical:\n got %s\nwant %s", got, tt.want)
			}
		})
	}
}

func TestAppendCanonicalAppends(t *testing.T) {
	ev := Event{ID: "e", NodeID: "n", EventType: "t", TS: "1"}
	prefix := []byte("prefix|")
	got := AppendCanonical(prefix, &ev)
	if want := "prefix|" + Canonical(&ev); string(got) != want {
		t.Errorf("AppendCanonical: got %s, want %s", got, want)
	}
}

func TestHasherReuse(t *testing.T) {
	a := Event{ID: "a-long-identifier-to-grow-the-buffer", NodeID: "n", EventType: "t", TS: "1", WorkspaceID: sp(strings.Repeat("é", 100))}
	b := Event{ID: "b", NodeID: "n", EventType: "t", TS: "2"}
	var h Hasher
	for i, step := range []struct {
		prev string
		ev   *Event
	}{{GenesisHash, &a}, {"x", &b}, {GenesisHash, &a}, {"", &b}} {
		if got, want := h.Sum(step.prev, step.ev), ChainHash(step.prev, step.ev); got != want {
			t.Errorf("step %d: Hasher.Sum got %s, want %s", i, got, want)
		}
	}
	if got := ChainHash(GenesisHash, &a); got == ChainHash(GenesisHash, &b) {
		t.Errorf("different events: got equal hashes %s", got)
	}
	if got := ChainHash(GenesisHash, &a); len(got) != 64 || strings.ToLower(got) != got {
		t.Errorf("ChainHash: got %q, want 64 lowercase hex digits", got)
	}
}

// refPyString is an independent, deliberately naive reading of the spec:
// Python's json.dumps with ensure_ascii=True, rune by rune.
func refPyString(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s { // invalid bytes come out as U+FFFD
		switch {
		case r == '"':
			b.WriteString(`\"`)
		case r == '\\':
			b.WriteString(`\\`)
		case r == '\b':
			b.WriteString(`\b`)
		case r == '\f':
			b.WriteString(`\f`)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r == '\t':
			b.WriteString(`\t`)
		case r < 0x20 || r >= 0x7f:
			if r > 0xffff {
				hi, lo := utf16.EncodeRune(r)
				fmt.Fprintf(&b, `\u%04x\u%04x`, hi, lo)
			} else {
				fmt.Fprintf(&b, `\u%04x`, r)
			}
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}

// identityMap is the spec's view of an event's identity: the eight fields
// after the defaults, nil for JSON null.
func identityMap(e *Event) map[string]*string {
	agentType, agentID := e.AgentType, e.AgentID
	if agentType == "" {
		agentType = "openclaw"
	}
	if agentID == "" {
		agentID = "main"
	}
	return map[string]*string{
		"id": &e.ID, "agent_type": &agentType, "node_id": &e.NodeID, "agent_id": &agentID,
		"session_id": e.SessionID, "workspace_id": e.WorkspaceID, "event_type": &e.EventType, "ts": &e.TS,
	}
}

// refCanonical builds the canonical text from identityMap, sorting the keys
// itself.
func refCanonical(e *Event) string {
	m := identityMap(e)
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	b.WriteByte('{')
	for i, k := range keys {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(refPyString(k) + ":")
		if m[k] == nil {
			b.WriteString("null")
		} else {
			b.WriteString(refPyString(*m[k]))
		}
	}
	b.WriteByte('}')
	return b.String()
}

// checkCanonicalText checks the spec's rules on the canonical text of ev
// without using the implementation's encoder.
func checkCanonicalText(t *testing.T, ev *Event, got string) {
	t.Helper()
	for i := 0; i < len(got); i++ {
		if c := got[i]; c < 0x20 || c > 0x7e {
			t.Fatalf("byte %d of %q: got 0x%02x, want printable ASCII", i, got, c)
		}
	}
	if !json.Valid([]byte(got)) {
		t.Fatalf("canonical %s: not valid JSON", got)
	}
	// Keys in byte order, exactly the eight identity fields.
	dec := json.NewDecoder(strings.NewReader(got))
	var keys []string
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		t.Fatalf("canonical %s: got first token %v (%v), want {", got, tok, err)
	}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			t.Fatalf("canonical %s: %v", got, err)
		}
		keys = append(keys, tok.(string))
		if _, err := dec.Token(); err != nil { // the value: a string or null
			t.Fatalf("canonical %s: %v", got, err)
		}
	}
	wantKeys := []string{"agent_id", "agent_type", "event_type", "id", "node_id", "session_id", "ts", "workspace_id"}
	if strings.Join(keys, ",") != strings.Join(wantKeys, ",") {
		t.Errorf("keys: got %v, want %v", keys, wantKeys)
	}
	// Round trip: the same strings, defaults applied, nulls preserved.
	var back map[string]*string
	if err := json.Unmarshal([]byte(got), &back); err != nil {
		t.Fatalf("unmarshal canonical %s: %v", got, err)
	}
	for k, want := range identityMap(ev) {
		switch b := back[k]; {
		case want == nil && b != nil:
			t.Errorf("%s: got %q, want null", k, *b)
		case want != nil && b == nil:
			t.Errorf("%s: got null, want %q", k, *want)
		case want != nil && *b != *want:
			t.Errorf("%s: got %q, want %q", k, *b, *want)
		}
	}
	// <, > and & are never escaped; every \u escape is lowercase hex and
	// stands for a character that needs it.
	for _, esc := range []string{`\u003c`, `\u003e`, `\u0026`, `\/`} {
		if strings.Contains(got, esc) {
			t.Errorf("canonical %s: got escape %s, want the character raw", got, esc)
		}
	}
	for i := 0; i < len(got); i++ {
		if got[i] != '\\' {
			continue
		}
		i++
		if got[i] != 'u' {
			if !strings.ContainsRune(`"\bfnrt`, rune(got[i])) {
				t.Errorf("canonical %s: got escape \\%c, want one of \\\" \\\\ \\b \\f \\n \\r \\t \\u", got, got[i])
			}
			continue
		}
		hex := got[i+1 : i+5]
		if strings.Trim(hex, "0123456789abcdef") != "" {
			t.Errorf("canonical %s: got escape \\u%s, want lowercase hex", got, hex)
		}
		var r rune
		fmt.Sscanf(hex, "%x", &r)
		if r >= 0x20 && r < 0x7f {
			t.Errorf("canonical %s: got escape \\u%s for printable ASCII, want it raw", got, hex)
		}
		if r == '\b' || r == '\f' || r == '\n' || r == '\r' || r == '\t' {
			t.Errorf("canonical %s: got \\u%s, want the short escape", got, hex)
		}
		i += 4
	}
	if want := refCanonical(ev); got != want {
		t.Errorf("canonical:\n got %s\nwant %s (reference encoder)", got, want)
	}
}

func FuzzCanonical(f *testing.F) {
	// Seed with every string of the vectors, one field at a time and all
	// together, plus the awkward characters of the spec.
	var seeds []string
	for _, line := range readLines(f, vectorEvents) {
		var obj map[string]any
		if err := json.Unmarshal(line, &obj); err != nil {
			f.Fatal(err)
		}
		for _, k := range specIdentityFields {
			if s, ok := obj[k].(string); ok {
				seeds = append(seeds, s)
			}
		}
		if d, ok := obj["data"].(map[string]any); ok {
			if s, ok := d["text"].(string); ok {
				seeds = append(seeds, s)
			}
		}
	}
	seeds = append(seeds, "", "\"\\", "\b\f\n\r\t", "\x00\x1f\x7f\u0080", "/<>&", "\u2028\u2029", "\U0010ffff", "\ufeff\uffff")
	sort.Strings(seeds)
	seeds = slices.Compact(seeds)
	for i, s := range seeds {
		f.Add(s, "", "n", "", s, false, "", true, "t", "ts")
		f.Add("id", s, "n", s, "", i%2 == 0, s, i%3 == 0, s, s)
	}

	f.Fuzz(func(t *testing.T, id, agentType, nodeID, agentID, sessionID string, sessionNull bool, workspaceID string, workspaceNull bool, eventType, ts string) {
		ev := Event{ID: id, AgentType: agentType, NodeID: nodeID, AgentID: agentID, EventType: eventType, TS: ts}
		if !sessionNull {
			ev.SessionID = &sessionID
		}
		if !workspaceNull {
			ev.WorkspaceID = &workspaceID
		}
		got := Canonical(&ev)
		for _, s := range []string{id, agentType, nodeID, agentID, sessionID, workspaceID, eventType, ts} {
			if !utf8.ValidString(s) {
				// The decoder rejects invalid UTF-8; the encoder still
				// must be total and repair it as U+FFFD, rune by rune.
				if want := refCanonical(&ev); got != want {
					t.Fatalf("invalid UTF-8 input:\n got %s\nwant %s", got, want)
				}
				return
			}
		}
		checkCanonicalText(t, &ev, got)
	})
}
