package chainlog

import (
	"reflect"
	"testing"
)

// BenchmarkDecodeEvent decodes typical agent event lines, as ingest and
// the daemon do for every event: a small one, and a tool call shaped as
// the transcript mapper stores it, with usage, the model and escapes.
func BenchmarkDecodeEvent(b *testing.B) {
	for _, bc := range []struct{ name, line string }{
		{"small", `{"id":"evt_8d0f4c52-52a4-4e4b-9d7e-3f0c2f8f7a11","agent_type":"claude_code","node_id":"node-01","agent_id":"main","session_id":"sess-0042","event_type":"tool_call","ts":"2026-01-01T00:00:42.000Z","data":{"tool":"bash","args":{"path":"src/pkg/file_12.go","line":1234},"ok":true}}`},
		{"tool_call", `{"agent_id":"main","agent_type":"claude_code","data":{"message_id":"msg_01IOpkjuPB0FmJ6UjsPTwmZX","model":"claude-sonnet-4-20250514","request_id":"req_01151JziUi3oowBxfcSw4gHX","tool_use":{"id":"toolu_01qdY7huQRkwshEk9PttoAHD","input":{"-n":true,"output_mode":"content","path":"/home/dev/src/project/sqlite/ingest.go","pattern":"func \\(s \\*Store\\) [A-Z]\\w+"},"name":"Grep","type":"tool_use"},"usage":{"cache_creation_input_tokens":3973,"cache_read_input_tokens":136898,"input_tokens":7,"output_tokens":584}},"event_type":"tool_use","id":"evt_dbe5882e-2579-4834-b2c1-bfc525454add","node_id":"node-02","session_id":"sess-0000","ts":"2026-01-01T00:00:01.755Z","cost_usd":0.0123,"token_count":591,"model":"claude-sonnet-4-20250514"}`},
	} {
		line := []byte(bc.line)
		b.Run(bc.name, func(b *testing.B) {
			b.SetBytes(int64(len(line)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := DecodeEvent(line, ""); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// FuzzDecodeFast checks the fast decoder against the general one: when
// the fast one takes a line, the general one must take it too and give the
// same event. Seeds cover every field in the fast shape, and the shapes it
// must leave to the general decoder.
func FuzzDecodeFast(f *testing.F) {
	for _, line := range readLines(f, vectorEvents) {
		f.Add(line, "")
	}
	for _, tt := range badInputs() {
		f.Add([]byte(tt.line), tt.defaultNode)
	}
	for _, s := range []string{
		`{"id":"a","node_id":"n","event_type":"t","ts":"1","agent_type":"x","agent_id":"y","session_id":"s","workspace_id":null,"data":{"k": [1, 2, {"q": "}"}]},"cost_usd":0.25,"token_count":12,"model":"m"}`,
		` { "id" : "a" , "event_type" : "t" , "ts" : "1" , "data" : [ ] , "cost_usd" : -0 , "model" : null } `,
		`{"id":"a","node_id":"n","event_type":"t","ts":"1","chain_seq":3,"chain_hash":"ab","created_at":"x","leaf_index":null}`,
		`{"id":"a","node_id":"n","event_type":"t","ts":"1","id":"b"}`,
		`{"id":"a\u0062","node_id":"n","event_type":"t","ts":"1"}`,
		`{"i\u0064":"a","node_id":"n","event_type":"t","ts":"1"}`,
		`{"ID":"a","node_id":"n","event_type":"t","ts":"1"}`,
		`{"id":"a","node_id":"","event_type":"t","ts":"1"}`,
		`{"id":"a","node_id":"n","event_type":"t","ts":"1","cost_usd":"1"}`,
		`{"id":"a","node_id":"n","event_type":"t","ts":"1","token_count":1.5}`,
		`{"id":"a","node_id":"n","event_type":"t","ts":"1","data":"\ud800"}`,
		`{"id":"a","node_id":"n","event_type":"t","ts":"1","data":{"a":{"a":1},"b":[{"a":2},{"a":"\ud83d\ude00"}]}}`,
		`{"id":"a","node_id":"n","event_type":"t","ts":"1","data":{"a":1,"\u0061":2}}`,
		`{"id":"a","node_id":"n","event_type":"t","ts":"1","data":{"k":[{"\udc00":1}]}}`,
		`{"id":"a","node_id":"n","event_type":"t","ts":"1","data":{"a":1,"b":2,"a":3}}`,
		`{"id":"a","node_id":"n","event_type":"t","ts":"1","chain_seq":1,"chain_seq":1}`,
		`{"id":"a","node_id":"n","event_type":"t","ts":"1","created_at":"\ud800"}`,
		`{"id":"a","node_id":"n","event_type":"t","ts":"1","created_at":"x\u0079"}`,
		`{"id":"a","node_id":"n","event_type":"t","ts":"1","leaf_index":{"x":1,"x":2}}`,
		`{"id":"a","node_id":"n","event_type":"t","ts":"1","data":` + manyKeys(40, "k39") + `}`,
		`{"id":"a","node_id":"n","event_type":"t","ts":"1","data":` + manyKeys(40, "") + `}`,
		`{"id":"a","event_type":"t","ts":"1"}`,
		`{"id":"a","node_id":"n","event_type":"t","ts":"1"} x`,
		`[{"id":"a","node_id":"n","event_type":"t","ts":"1"}]`,
		`{}`, `null`, ``,
	} {
		f.Add([]byte(s), "")
		f.Add([]byte(s), "dflt")
	}
	f.Fuzz(func(t *testing.T, line []byte, defaultNode string) {
		fast, ok := decodeEventFast(line, defaultNode)
		if !ok {
			return
		}
		slow, err := decodeEventSlow(line, defaultNode)
		if err != nil {
			t.Fatalf("fast decoder took %q, the general one says %v", line, err)
		}
		if !reflect.DeepEqual(fast, slow) {
			t.Fatalf("%q:\n fast    %+v\n general %+v", line, fast, slow)
		}
	})
}
