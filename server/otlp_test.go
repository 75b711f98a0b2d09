package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"chainlog"
	"chainlog/agentsrc"
	"chainlog/server"
	"chainlog/sqlite"

	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	rpcstatus "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
)

const (
	ctProto = "application/x-protobuf"
	ctJSON  = "application/json"
)

// newOTLPDaemon runs a daemon whose OTLP receiver maps with testMapper.
func newOTLPDaemon(t testing.TB, cfg daemonConfig) *daemon {
	t.Helper()
	cfg.OTLP = testMapper{}
	if cfg.NodeID == "" {
		cfg.NodeID = "n-default"
	}
	return newDaemon(t, cfg)
}

// otlpPost sends body to path with Content-Type ct.
func (d *daemon) otlpPost(t *testing.T, path, ct string, body []byte, hdr ...string) response {
	t.Helper()
	return d.do(t, http.MethodPost, path, body, append([]string{"Content-Type", ct}, hdr...)...)
}

func readTestdata(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "otlp", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// logsProto re-encodes an OTLP/JSON logs body as protobuf.
func logsProto(t *testing.T, jsonBody []byte) []byte {
	t.Helper()
	req := plogotlp.NewExportRequest()
	if err := req.UnmarshalJSON(jsonBody); err != nil {
		t.Fatalf("UnmarshalJSON: %v", err)
	}
	b, err := req.MarshalProto()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func tracesProto(t *testing.T, jsonBody []byte) []byte {
	t.Helper()
	req := ptraceotlp.NewExportRequest()
	if err := req.UnmarshalJSON(jsonBody); err != nil {
		t.Fatalf("UnmarshalJSON: %v", err)
	}
	b, err := req.MarshalProto()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// partial is an Export*ServiceResponse's partial_success.
type partial struct {
	rejected int64
	msg      string
}

// wantExported checks that r is a 200 with an Export*ServiceResponse in
// the encoding of ct, and returns its partial_success.
func wantExported(t *testing.T, r response, path, ct string) partial {
	t.Helper()
	if r.status != http.StatusOK {
		t.Fatalf("POST %s = %s; want 200", path, r)
	}
	if got := r.header.Get("Content-Type"); got != ct {
		t.Errorf("Content-Type = %q; want %q", got, ct)
	}
	unmarshal := func(fromProto, fromJSON func([]byte) error) {
		t.Helper()
		var err error
		if ct == ctJSON {
			err = fromJSON(r.body)
		} else {
			err = fromProto(r.body)
		}
		if err != nil {
			t.Fatalf("response %q: %v", r.body, err)
		}
	}
	if path == "/v1/logs" {
		resp := plogotlp.NewExportResponse()
		unmarshal(resp.UnmarshalProto, resp.UnmarshalJSON)
		return partial{resp.PartialSuccess().RejectedLogRecords(), resp.PartialSuccess().ErrorMessage()}
	}
	resp := ptraceotlp.NewExportResponse()
	unmarshal(resp.UnmarshalProto, resp.UnmarshalJSON)
	return partial{resp.PartialSuccess().RejectedSpans(), resp.PartialSuccess().ErrorMessage()}
}

// wantRefused checks r's status and that its body is a google.rpc.Status
// in the encoding of ct (JSON when ct is neither OTLP type), and returns
// it.
func wantRefused(t *testing.T, r response, status int, ct string) *rpcstatus.Status {
	t.Helper()
	if r.status != status {
		t.Fatalf("status = %s; want %d", r, status)
	}
	if ct != ctProto {
		ct = ctJSON
	}
	if got := r.header.Get("Content-Type"); got != ct {
		t.Errorf("Content-Type = %q; want %q", got, ct)
	}
	st := &rpcstatus.Status{}
	var err error
	if ct == ctJSON {
		err = protojson.Unmarshal(r.body, st)
	} else {
		err = proto.Unmarshal(r.body, st)
	}
	if err != nil {
		t.Fatalf("error body %q is not a google.rpc.Status: %v", r.body, err)
	}
	if st.Message == "" || st.Code == 0 {
		t.Errorf("Status %v: want a code and a message", st)
	}
	return st
}

// storedEvents returns every stored event in commit order.
func storedEvents(t *testing.T, path string) []chainlog.StoredEvent {
	t.Helper()
	st, err := sqlite.OpenReadOnly(t.Context(), path)
	if err != nil {
		t.Fatalf("OpenReadOnly: %v", err)
	}
	defer st.Close()
	var out []chainlog.StoredEvent
	err = st.Export(t.Context(), "", func(e *chainlog.StoredEvent) error {
		out = append(out, *e)
		return nil
	})
	if err != nil {
		t.Fatalf("Export: %v", err)
	}
	return out
}

// TestOTLPJSONBodies posts the OTLP/JSON examples in testdata/otlp, as
// JSON and re-encoded as protobuf, and checks the answer and what is
// stored; the same export sent again stores nothing new.
func TestOTLPJSONBodies(t *testing.T) {
	for _, tc := range []struct {
		file, path   string
		stored       int
		rejected     int64
		reasonPrefix string
	}{
		{"logs.json", "/v1/logs", 3, 0, ""},
		{"logs_partial.json", "/v1/logs", 2, 1, "log record 1: no time"},
		{"traces.json", "/v1/traces", 2, 0, ""},
	} {
		for _, ct := range []string{ctJSON, ctProto} {
			t.Run(tc.file+"/"+ct, func(t *testing.T) {
				d := newOTLPDaemon(t, daemonConfig{Token: "tok"})
				body := readTestdata(t, tc.file)
				if ct == ctProto && tc.path == "/v1/logs" {
					body = logsProto(t, body)
				} else if ct == ctProto {
					body = tracesProto(t, body)
				}
				for try := range 2 {
					got := wantExported(t, d.otlpPost(t, tc.path, ct, body), tc.path, ct)
					if got.rejected != tc.rejected || !strings.HasPrefix(got.msg, tc.reasonPrefix) || (tc.rejected == 0) != (got.msg == "") {
						t.Errorf("try %d: partial_success = %+v; want %d rejected, message %q...", try, got, tc.rejected, tc.reasonPrefix)
					}
					if n := len(storedIDs(t, d.path)); n != tc.stored {
						t.Fatalf("try %d: %d events stored; want %d", try, n, tc.stored)
					}
				}
			})
		}
	}
}

// TestOTLPMappedFields checks what the receiver adds to the mapper's
// events: the default node_id, and nothing else.
func TestOTLPMappedFields(t *testing.T) {
	d := newOTLPDaemon(t, daemonConfig{})
	wantExported(t, d.otlpPost(t, "/v1/logs", ctJSON, readTestdata(t, "logs.json")), "/v1/logs", ctJSON)
	evs := storedEvents(t, d.path)
	if len(evs) != 3 {
		t.Fatalf("%d events stored; want 3", len(evs))
	}
	for i, want := range []struct{ agent, node, typ, ts string }{
		{"claude-code", "build-01", "claude_code.user_prompt", "2026-01-01T10:00:00.123Z"},
		{"claude-code", "build-01", "claude_code.api_request", "2026-01-01T10:00:01.5Z"},
		{"codex", "n-default", "log", "2026-01-01T10:01:40Z"},
	} {
		e := evs[i].Event
		if e.AgentType != want.agent || e.NodeID != want.node || e.EventType != want.typ || e.TS != want.ts {
			t.Errorf("event %d = %s %s %s %s; want %+v", i, e.AgentType, e.NodeID, e.EventType, e.TS, want)
		}
	}
	if !json.Valid(evs[1].Data) || !bytes.Contains(evs[1].Data, []byte(`"input_tokens":"1200"`)) {
		t.Errorf("event 1 data = %s", evs[1].Data)
	}
	if rep := verifyPath(t, d.path, ""); rep.Status != chainlog.StatusValid {
		t.Errorf("verify = %+v; want VALID", rep)
	}
}

// nested returns an OTLP/JSON logs body of one record whose attribute
// value nests n kvlists deep.
func nested(n int) []byte {
	var b bytes.Buffer
	b.WriteString(`{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"timeUnixNano":"1767261600000000000","attributes":[{"key":"deep","value":`)
	for range n {
		b.WriteString(`{"kvlistValue":{"values":[{"key":"k","value":`)
	}
	b.WriteString(`{"stringValue":"leaf"}`)
	for range n {
		b.WriteString(`}]}}`)
	}
	b.WriteString(`}]}]}]}]}`)
	return b.Bytes()
}

// TestOTLPBadInput: every bad request gets its status and a
// google.rpc.Status, or partial_success, and nothing of it is stored.
func TestOTLPBadInput(t *testing.T) {
	good := readTestdata(t, "logs.json")
	big := append(bytes.Repeat([]byte(" "), 70<<10), good...) // valid JSON, past the limit
	for _, tc := range []struct {
		name, path, ct string
		body           []byte
		hdr            []string
		status         int
		code           int32 // the Status's gRPC code
		rejected       int64 // for a 200: partial_success
		msg            string
	}{
		{name: "malformed protobuf", path: "/v1/logs", ct: ctProto, body: []byte{0x0a, 0xff, 0x01}, status: 400, code: 3, msg: "protobuf body does not decode"},
		{name: "protobuf of another message", path: "/v1/traces", ct: ctProto, body: []byte("\x0a\x05hello"), status: 400, code: 3},
		{name: "JSON, wrong shape", path: "/v1/logs", ct: ctJSON, body: []byte(`{"resourceLogs":"all of them"}`), status: 400, code: 3, msg: "JSON body does not decode"},
		{name: "JSON, an array", path: "/v1/traces", ct: ctJSON, body: []byte(`[{"resourceSpans":[]}]`), status: 400, code: 3},
		{name: "JSON, truncated", path: "/v1/logs", ct: ctJSON, body: good[:len(good)/2], status: 400, code: 3},
		{name: "JSON as protobuf", path: "/v1/logs", ct: ctProto, body: good, status: 400, code: 3},
		{name: "gzip header, not gzip", path: "/v1/logs", ct: ctJSON, body: good, hdr: []string{"Content-Encoding", "gzip"}, status: 400, code: 3, msg: "gzip"},
		{name: "gzip, truncated", path: "/v1/logs", ct: ctJSON, body: gzipped(t, string(good))[:40], hdr: []string{"Content-Encoding", "gzip"}, status: 400, code: 3},
		{name: "too large", path: "/v1/logs", ct: ctJSON, body: big, status: 413, code: 8, msg: "larger than"},
		{name: "too large once decompressed", path: "/v1/logs", ct: ctJSON, body: gzipped(t, string(big)), hdr: []string{"Content-Encoding", "gzip"}, status: 413, code: 8},
		{name: "deeply nested protobuf", path: "/v1/logs", ct: ctProto, body: logsProto(t, nested(60)), status: 400, code: 3, msg: "recursion"},
		{name: "nested past the mapper's limit", path: "/v1/logs", ct: ctJSON, body: nested(maxDepth + 1), status: 200, rejected: 1, msg: "nested deeper"},
		{name: "wrong content type", path: "/v1/logs", ct: "text/plain", body: good, status: 415, code: 3, msg: "Content-Type"},
		{name: "no content type", path: "/v1/traces", ct: "", body: good, status: 415, code: 3},
		{name: "NDJSON content type", path: "/v1/logs", ct: "application/x-ndjson", body: good, status: 415, code: 3},
		{name: "unknown content encoding", path: "/v1/logs", ct: ctJSON, body: good, hdr: []string{"Content-Encoding", "br"}, status: 415, code: 3, msg: "Content-Encoding"},
		{name: "no token", path: "/v1/logs", ct: ctJSON, body: good, hdr: []string{"Authorization", ""}, status: 401, code: 16},
		{name: "wrong token", path: "/v1/traces", ct: ctProto, body: good, hdr: []string{"Authorization", "Bearer nope"}, status: 401, code: 16},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := newOTLPDaemon(t, daemonConfig{Token: "tok", MaxBodyBytes: 64 << 10})
			r := d.otlpPost(t, tc.path, tc.ct, tc.body, tc.hdr...)
			var msg string
			if tc.status == http.StatusOK {
				p := wantExported(t, r, tc.path, tc.ct)
				if p.rejected != tc.rejected {
					t.Errorf("rejected = %d; want %d", p.rejected, tc.rejected)
				}
				msg = p.msg
			} else {
				st := wantRefused(t, r, tc.status, tc.ct)
				if st.Code != tc.code {
					t.Errorf("Status code = %d; want %d", st.Code, tc.code)
				}
				msg = st.Message
			}
			if !strings.Contains(msg, tc.msg) {
				t.Errorf("message %q; want it to say %q", msg, tc.msg)
			}
			if ids := storedIDs(t, d.path); len(ids) != 0 {
				t.Errorf("stored %v; want nothing", ids)
			}
		})
	}
}

// TestOTLPDeepJSON: a JSON body nested far past any limit is refused
// before pdata decodes it, and one nested as deep as protobuf allows is
// decoded (and rejected by the mapper).
func TestOTLPDeepJSON(t *testing.T) {
	d := newOTLPDaemon(t, daemonConfig{MaxBodyBytes: 8 << 20})
	st := wantRefused(t, d.otlpPost(t, "/v1/logs", ctJSON, nested(100000)), http.StatusBadRequest, ctJSON)
	if !strings.Contains(st.Message, "deeper than 512") {
		t.Errorf("Status = %v; want it to name the limit", st)
	}
	p := wantExported(t, d.otlpPost(t, "/v1/logs", ctJSON, nested(99)), "/v1/logs", ctJSON)
	if p.rejected != 1 {
		t.Errorf("partial_success = %+v; want 1 rejected", p)
	}
	if ids := storedIDs(t, d.path); len(ids) != 0 {
		t.Errorf("stored %v; want nothing", ids)
	}
}

// countingBody counts the bytes read through it.
type countingBody struct {
	r io.Reader
	n atomic.Int64
}

func (c *countingBody) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	return n, err
}

// TestOTLPGzipBomb: a small gzip body that inflates to 2 GiB gets 413, and
// the server stops reading it soon after the limit of decompressed bytes.
func TestOTLPGzipBomb(t *testing.T) {
	const limit = 256 << 10
	d := newOTLPDaemon(t, daemonConfig{MaxBodyBytes: limit})
	member := gzipped(t, string(make([]byte, 1<<20))) // 1 MiB of zeros; gzip readers read members one after another
	bomb := bytes.Repeat(member, 2048)
	body := &countingBody{r: bytes.NewReader(bomb)}
	req := httptest.NewRequest(http.MethodPost, "/v1/logs", body)
	req.Header.Set("Content-Type", ctProto)
	req.Header.Set("Content-Encoding", "gzip")
	req.ContentLength = -1
	rec := httptest.NewRecorder()
	d.srv.ServeHTTP(rec, req)
	if rec.Code != http.StatusRequestEntityTooLarge {
		t.Fatalf("status = %d %s; want 413", rec.Code, rec.Body)
	}
	// limit+1 decompressed bytes lie in the first member; the reader may
	// buffer a few KiB more of the compressed stream.
	if n := body.n.Load(); n > int64(len(member))+64<<10 {
		t.Errorf("server read %d compressed bytes of %d; want it to stop near the first %d", n, len(bomb), len(member))
	}
	if ids := storedIDs(t, d.path); len(ids) != 0 {
		t.Errorf("stored %v; want nothing", ids)
	}
}

// TestOTLPGzip: a gzip body is decoded, in both encodings.
func TestOTLPGzip(t *testing.T) {
	d := newOTLPDaemon(t, daemonConfig{})
	body := readTestdata(t, "traces.json")
	wantExported(t, d.otlpPost(t, "/v1/traces", ctJSON, gzipped(t, string(body)), "Content-Encoding", "gzip"), "/v1/traces", ctJSON)
	wantExported(t, d.otlpPost(t, "/v1/traces", ctProto+"; charset=binary", gzipped(t, string(tracesProto(t, body))), "Content-Encoding", "gzip"), "/v1/traces", ctProto)
	if got, want := storedIDs(t, d.path), []string{"span:4bf92f3577b34da6a3ce929d0e0e473600f067aa0ba902b7", "span:4bf92f3577b34da6a3ce929d0e0e473653995c3f42cd8ad8"}; !slices.Equal(got, want) {
		t.Errorf("stored %v; want %v", got, want)
	}
}

// TestOTLPBackpressure: with the writer's queue full, or the in-flight
// byte budget spent by a request held in its commit, an export gets 503
// with a short Retry-After and a Status body, and nothing of it is
// stored.
func TestOTLPBackpressure(t *testing.T) {
	logs := readTestdata(t, "logs.json")
	padded := append(bytes.Repeat([]byte(" "), 40<<10), logs...) // valid OTLP/JSON of 40 KiB
	for _, tc := range []struct {
		name     string
		cfg      daemonConfig
		held     string // the body of the /v1/events request held in its commit
		ct       string
		body     []byte
		inStatus string
	}{
		{"queue full", daemonConfig{Writer: server.WriterConfig{Capacity: 1}}, ev("held"), ctProto, logsProto(t, logs), "queue is full"},
		{"budget spent", daemonConfig{MaxBodyBytes: 64 << 10, MaxInflightBytes: 64 << 10},
			ev("held", "data", `{"pad":"`+strings.Repeat("x", 40<<10)+`"}`), ctJSON, padded, "too many request bytes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFake(nil, true)
			tc.cfg.Wrap = func(server.Ingester) server.Ingester { return f }
			d := newOTLPDaemon(t, tc.cfg)
			done := make(chan response, 1)
			go func() {
				r, _ := d.tryDo(context.WithoutCancel(t.Context()), http.MethodPost, "/v1/events", []byte(tc.held), "Content-Type", ctJSON)
				done <- r
			}()
			f.waitEntered(t, 1)
			r := d.otlpPost(t, "/v1/logs", tc.ct, tc.body)
			st := wantRefused(t, r, http.StatusServiceUnavailable, tc.ct)
			if st.Code != 14 || !strings.Contains(st.Message, tc.inStatus) || !strings.Contains(st.Message, "retry later") {
				t.Errorf("Status = %v; want UNAVAILABLE, %s, retry later", st, tc.inStatus)
			}
			if ra := r.header.Get("Retry-After"); ra != "1" {
				t.Errorf("Retry-After = %q; want 1", ra)
			}
			f.open()
			if r := <-done; r.status != http.StatusOK {
				t.Errorf("the held request = %s", r)
			}
			if calls := f.Calls(); len(calls) != 1 {
				t.Errorf("commits %v; want only the held request's", calls)
			}
		})
	}
}

// TestOTLPMetrics: requests by signal and status, records and rejections.
func TestOTLPMetrics(t *testing.T) {
	d := newOTLPDaemon(t, daemonConfig{})
	wantExported(t, d.otlpPost(t, "/v1/logs", ctJSON, readTestdata(t, "logs_partial.json")), "/v1/logs", ctJSON)
	wantExported(t, d.otlpPost(t, "/v1/traces", ctJSON, readTestdata(t, "traces.json")), "/v1/traces", ctJSON)
	wantRefused(t, d.otlpPost(t, "/v1/logs", ctProto, []byte{0xff}), http.StatusBadRequest, ctProto)
	m := d.scrape(t)
	for name, want := range map[string]float64{
		`chainlog_otlp_requests_total{code="200",signal="logs"}`:   1,
		`chainlog_otlp_requests_total{code="400",signal="logs"}`:   1,
		`chainlog_otlp_requests_total{code="200",signal="traces"}`: 1,
		`chainlog_otlp_records_total{signal="logs"}`:               3,
		`chainlog_otlp_records_total{signal="traces"}`:             2,
		`chainlog_otlp_records_rejected_total{signal="logs"}`:      1,
		`chainlog_otlp_records_rejected_total{signal="traces"}`:    0,
		`chainlog_events_accepted_total`:                           4,
	} {
		if got := m[name]; got != want {
			t.Errorf("%s = %v; want %v", name, got, want)
		}
	}
}

// TestOTLPHandler: the OTLP listener's handler serves the receiver and
// /healthz, behind the token, and nothing else.
func TestOTLPHandler(t *testing.T) {
	d := newOTLPDaemon(t, daemonConfig{Token: "tok", Handler: func(s *server.Server) http.Handler { return s.OTLPHandler() }})
	wantExported(t, d.otlpPost(t, "/v1/traces", ctJSON, readTestdata(t, "traces.json")), "/v1/traces", ctJSON)
	wantExported(t, d.otlpPost(t, "/v1/logs", ctProto, logsProto(t, readTestdata(t, "logs.json"))), "/v1/logs", ctProto)
	if r := d.get(t, "/healthz"); r.status != http.StatusOK {
		t.Errorf("GET /healthz = %s", r)
	}
	wantRefused(t, d.otlpPost(t, "/v1/logs", ctJSON, nil, "Authorization", ""), http.StatusUnauthorized, ctJSON)
	for _, path := range []string{"/v1/events", "/metrics", "/v1/integrity"} {
		if r := d.get(t, path); r.status != http.StatusNotFound {
			t.Errorf("GET %s = %s; want 404", path, r)
		}
	}
	if r := d.post(t, ev("x")); r.status != http.StatusNotFound {
		t.Errorf("POST /v1/events = %s; want 404", r)
	}
	if n := len(storedIDs(t, d.path)); n != 5 {
		t.Errorf("%d events stored; want 5", n)
	}
}

// TestOTLPNoMapper: without a mapper the daemon serves no OTLP.
func TestOTLPNoMapper(t *testing.T) {
	d := newDaemon(t, daemonConfig{})
	if r := d.otlpPost(t, "/v1/logs", ctJSON, readTestdata(t, "logs.json")); r.status != http.StatusNotFound {
		t.Errorf("POST /v1/logs = %s; want 404", r)
	}
}

// TestOTLPRealFixtures posts the OTLP/JSON examples of the OTLP
// specification, from $CHAINLOG_REAL_FIXTURES/otlp.
func TestOTLPRealFixtures(t *testing.T) {
	dir := os.Getenv("CHAINLOG_REAL_FIXTURES")
	if dir == "" {
		t.Skip("CHAINLOG_REAL_FIXTURES is not set: skipping the OTLP specification's examples")
	}
	for _, tc := range []struct{ file, path string }{
		{"opentelemetry-proto_logs.json", "/v1/logs"},
		{"opentelemetry-proto_events.json", "/v1/logs"},
		{"opentelemetry-proto_trace.json", "/v1/traces"},
	} {
		body, err := os.ReadFile(filepath.Join(dir, "otlp", tc.file))
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range []struct {
			name string
			m    server.OTLPMapper
		}{{"test mapper", testMapper{}}, {"agentsrc", &agentsrc.Mapper{NodeID: "n-default"}}} {
			t.Run(tc.file+"/"+m.name, func(t *testing.T) {
				d := newDaemon(t, daemonConfig{OTLP: m.m, NodeID: "n-default"})
				if p := wantExported(t, d.otlpPost(t, tc.path, ctJSON, body), tc.path, ctJSON); p.rejected != 0 {
					t.Errorf("partial_success = %+v", p)
				}
				if len(storedIDs(t, d.path)) == 0 {
					t.Error("nothing stored")
				}
			})
		}
	}
}

// FuzzOTLPLogsBody: whatever the body, in either encoding, gzip or not,
// the receiver answers 200 or a 4xx and never panics. The writer commits
// to a fake store, to keep the iterations fast.
func FuzzOTLPLogsBody(f *testing.F) {
	for _, name := range []string{"logs.json", "logs_partial.json"} {
		b, err := os.ReadFile(filepath.Join("testdata", "otlp", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b, false, false)
		req := plogotlp.NewExportRequest()
		if err := req.UnmarshalJSON(b); err != nil {
			f.Fatal(err)
		}
		p, _ := req.MarshalProto()
		f.Add(p, true, false)
	}
	f.Add([]byte{0x1f, 0x8b, 0x08}, true, true)
	f.Add([]byte(`{"resourceLogs":[{"scopeLogs":[{"logRecords":[{}]}]}]}`), false, false)
	d := newOTLPDaemon(f, daemonConfig{Wrap: func(server.Ingester) server.Ingester { return newFake(nil, false) }})
	f.Fuzz(func(t *testing.T, body []byte, protobuf, gz bool) {
		req := httptest.NewRequest(http.MethodPost, "/v1/logs", bytes.NewReader(body))
		req.Header.Set("Content-Type", ctJSON)
		if protobuf {
			req.Header.Set("Content-Type", ctProto)
		}
		if gz {
			req.Header.Set("Content-Encoding", "gzip")
		}
		rec := httptest.NewRecorder()
		d.srv.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK && (rec.Code < 400 || rec.Code > 499) {
			t.Fatalf("status %d %q; want 200 or 4xx", rec.Code, rec.Body)
		}
	})
}

// TestOTLPAgentsrcMapper: the receiver with the mapper the daemon uses,
// over the testdata bodies, protobuf and JSON, each sent twice.
func TestOTLPAgentsrcMapper(t *testing.T) {
	for _, tc := range []struct {
		file, path string
		stored     int
		rejected   int64
	}{
		{"logs.json", "/v1/logs", 3, 0},
		{"logs_partial.json", "/v1/logs", 2, 1},
		{"traces.json", "/v1/traces", 2, 0},
	} {
		t.Run(tc.file, func(t *testing.T) {
			d := newDaemon(t, daemonConfig{OTLP: &agentsrc.Mapper{NodeID: "n-default"}})
			body := readTestdata(t, tc.file)
			proto := tracesProto
			if tc.path == "/v1/logs" {
				proto = logsProto
			}
			for _, req := range []struct {
				ct   string
				body []byte
			}{{ctJSON, body}, {ctProto, proto(t, body)}} {
				if p := wantExported(t, d.otlpPost(t, tc.path, req.ct, req.body), tc.path, req.ct); p.rejected != tc.rejected {
					t.Errorf("%s: partial_success = %+v; want %d rejected", req.ct, p, tc.rejected)
				}
			}
			if n := len(storedIDs(t, d.path)); n != tc.stored {
				t.Errorf("%d events stored; want %d", n, tc.stored)
			}
		})
	}
}

// TestOTLPRoot: on the OTLP listener, an OTLP/JSON export posted to the
// root (an exporter given one URL for every signal) goes to the signal
// its first key names; metrics, protobuf and other bodies are refused,
// and nothing of them is stored.
func TestOTLPRoot(t *testing.T) {
	d := newOTLPDaemon(t, daemonConfig{Token: "tok", Handler: func(s *server.Server) http.Handler { return s.OTLPHandler() }})
	wantExported(t, d.otlpPost(t, "/", ctJSON, readTestdata(t, "logs.json")), "/v1/logs", ctJSON)
	if n := len(storedIDs(t, d.path)); n != 3 {
		t.Fatalf("%d events stored after the logs; want 3", n)
	}
	wantExported(t, d.otlpPost(t, "/", ctJSON, readTestdata(t, "traces.json")), "/v1/traces", ctJSON)
	if n := len(storedIDs(t, d.path)); n != 5 {
		t.Fatalf("%d events stored after the spans; want 5", n)
	}
	for _, tc := range []struct {
		name, ct string
		body     []byte
		status   int
		msg      string
	}{
		{"metrics", ctJSON, []byte(`{"resourceMetrics":[]}`), http.StatusNotFound, "metrics are not stored"},
		{"protobuf", ctProto, logsProto(t, readTestdata(t, "logs.json")), http.StatusBadRequest, "POST it to /v1/logs or /v1/traces"},
		{"not an export", ctJSON, []byte(`{"hello":1}`), http.StatusBadRequest, "not an OTLP/JSON export"},
		{"not JSON", ctJSON, []byte(`resourceLogs`), http.StatusBadRequest, "not an OTLP/JSON export"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := wantRefused(t, d.otlpPost(t, "/", tc.ct, tc.body), tc.status, tc.ct)
			if !strings.Contains(st.GetMessage(), tc.msg) {
				t.Errorf("message %q; want it to say %q", st.GetMessage(), tc.msg)
			}
		})
	}
	if n := len(storedIDs(t, d.path)); n != 5 {
		t.Errorf("%d events stored; want still 5", n)
	}
	// The daemon's main listener has no such route.
	main := newOTLPDaemon(t, daemonConfig{Token: "tok"})
	if r := main.otlpPost(t, "/", ctJSON, readTestdata(t, "logs.json")); r.status != http.StatusNotFound && r.status != http.StatusMethodNotAllowed {
		t.Errorf("POST / on the main listener = %s; want 404 or 405", r)
	}
}

// TestOTLPReservedNode: a resource whose host.name is one of chainlog's
// own nodes cannot be stored; its record is rejected through
// partial_success, and the rest of the export is stored.
func TestOTLPReservedNode(t *testing.T) {
	d := newOTLPDaemon(t, daemonConfig{})
	body := []byte(`{"resourceLogs":[
 {"resource":{"attributes":[{"key":"host.name","value":{"stringValue":"chainlog:amendments"}}]},
  "scopeLogs":[{"logRecords":[{"timeUnixNano":"1767261600000000000","body":{"stringValue":"forged"}}]}]},
 {"resource":{"attributes":[{"key":"host.name","value":{"stringValue":"laptop"}}]},
  "scopeLogs":[{"logRecords":[{"timeUnixNano":"1767261600000000000","body":{"stringValue":"fine"}}]}]}]}`)
	for _, ct := range []string{ctJSON, ctProto} {
		b := body
		if ct == ctProto {
			b = logsProto(t, body)
		}
		got := wantExported(t, d.otlpPost(t, "/v1/logs", ct, b), "/v1/logs", ct)
		if got.rejected != 1 || !strings.Contains(got.msg, `"chainlog:amendments" is reserved`) {
			t.Errorf("%s: partial_success = %+v; want 1 rejected for the reserved node", ct, got)
		}
	}
	evs := storedEvents(t, d.path)
	if len(evs) != 1 || evs[0].NodeID != "laptop" {
		t.Fatalf("stored %+v; want the laptop's event alone", evs)
	}
}
