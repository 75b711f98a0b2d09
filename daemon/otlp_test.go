package daemon

import (
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"chainlog"
	"chainlog/sqlite"

	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlplog/otlploghttp"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	otellog "go.opentelemetry.io/otel/log"
	sdklog "go.opentelemetry.io/otel/sdk/log"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
)

// bodyMapper maps each log record to one event whose id is its body; it
// maps no spans.
type bodyMapper struct{}

func (bodyMapper) Logs(ld plog.Logs) ([]chainlog.Event, int64, string) {
	var out []chainlog.Event
	for _, rl := range ld.ResourceLogs().All() {
		for _, sl := range rl.ScopeLogs().All() {
			for _, lr := range sl.LogRecords().All() {
				out = append(out, chainlog.Event{ID: lr.Body().AsString(), AgentType: "otel", AgentID: "main",
					EventType: "log", TS: lr.Timestamp().AsTime().UTC().Format("2006-01-02T15:04:05Z")})
			}
		}
	}
	return out, 0, ""
}

func (bodyMapper) Traces(ptrace.Traces) ([]chainlog.Event, int64, string) { return nil, 0, "" }

func logsBody(ids ...string) string {
	var recs []string
	for _, id := range ids {
		recs = append(recs, `{"timeUnixNano":"1767261600000000000","body":{"stringValue":"`+id+`"}}`)
	}
	return `{"resourceLogs":[{"scopeLogs":[{"logRecords":[` + strings.Join(recs, ",") + `]}]}]}`
}

func do(t *testing.T, method, url, ct, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", ct)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestRunOTLPListener: the OTLP listener serves the receiver and /healthz
// only; the main listener serves the receiver too; what both acknowledged
// is in the store after shutdown.
func TestRunOTLPListener(t *testing.T) {
	cfg := testConfig(t)
	cfg.OTLPListen, cfg.OTLP = "127.0.0.1:0", bodyMapper{}
	d := start(t, cfg)
	if d.otlp == "" || d.otlp == d.url {
		t.Fatalf("OTLP listener at %q, main at %q", d.otlp, d.url)
	}
	for _, tc := range []struct {
		method, url, ct, body string
		want                  int
	}{
		{"POST", d.otlp + "/v1/logs", "application/json", logsBody("o1", "o2"), 200},
		{"POST", d.url + "/v1/logs", "application/json", logsBody("m1"), 200},
		{"POST", d.otlp + "/v1/traces", "application/json", `{}`, 200},
		{"GET", d.otlp + "/healthz", "", "", 200},
		{"POST", d.otlp + "/v1/events", "application/json", `{"id":"x","event_type":"x","ts":"t"}`, 404},
		{"GET", d.otlp + "/v1/events", "", "", 404},
		{"GET", d.otlp + "/metrics", "", "", 404},
	} {
		if code, body := do(t, tc.method, tc.url, tc.ct, tc.body); code != tc.want {
			t.Errorf("%s %s = %d %s; want %d", tc.method, tc.url, code, body, tc.want)
		}
	}
	if err := d.stop(t); err != nil {
		t.Fatalf("Run: %v\n%s", err, d.log)
	}
	if _, err := http.Get(d.otlp + "/healthz"); err == nil {
		t.Error("the OTLP listener still answers after Run returned")
	}
	if got := storedIDs(t, cfg.Store); strings.Join(got, ",") != "m1,o1,o2" { // sorted
		t.Errorf("stored %v; want m1, o1, o2", got)
	}
}

// TestRunOTLPEndToEnd: the OpenTelemetry SDK's exporters, protobuf and
// gzip with the token, send Claude Code's events and GenAI spans to the
// daemon's OTLP listener, mapped by its default mapper (agentsrc). A
// repeated export stores nothing new, and the store verifies VALID.
func TestRunOTLPEndToEnd(t *testing.T) {
	cfg := testConfig(t)
	cfg.OTLPListen, cfg.Token = "127.0.0.1:0", "s3cret"
	d := start(t, cfg)
	ctx := t.Context()
	res := resource.NewSchemaless(attribute.String("service.name", "claude-code"), attribute.String("host.name", "laptop-3"))
	hdr := map[string]string{"Authorization": "Bearer s3cret"}

	var logs logCollector
	lp := sdklog.NewLoggerProvider(sdklog.WithProcessor(&logs), sdklog.WithResource(res))
	t0 := time.Date(2026, 2, 3, 10, 0, 0, 0, time.UTC)
	for i, name := range []string{"claude_code.user_prompt", "claude_code.api_request", "claude_code.tool_result"} {
		var r otellog.Record
		r.SetEventName(name)
		r.SetTimestamp(t0.Add(time.Duration(i) * time.Second))
		r.SetBody(attribute.StringValue(name))
		r.AddAttributes(attribute.String("session.id", "sess-e2e"), attribute.String("prompt.id", "p-1"),
			attribute.String("request_id", "req_01"), attribute.String("model", "claude-sonnet-4-5"),
			attribute.Int("input_tokens", 1000), attribute.Int("output_tokens", 200), attribute.Float64("cost_usd", 0.05),
			attribute.String("tool_use_id", "toolu_01"), attribute.String("tool_name", "Bash"))
		lp.Logger("com.anthropic.claude_code.events").Emit(ctx, r)
	}
	lexp, err := otlploghttp.New(ctx, otlploghttp.WithEndpointURL(d.otlp+"/v1/logs"),
		otlploghttp.WithCompression(otlploghttp.GzipCompression), otlploghttp.WithHeaders(hdr))
	if err != nil {
		t.Fatal(err)
	}
	defer lexp.Shutdown(context.WithoutCancel(ctx))

	sr := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(sr), sdktrace.WithResource(res))
	sctx, root := tp.Tracer("agent").Start(ctx, "invoke_agent main", trace.WithTimestamp(t0))
	_, chat := tp.Tracer("agent").Start(sctx, "chat claude-sonnet-4-5", trace.WithTimestamp(t0.Add(time.Second)),
		trace.WithAttributes(attribute.String("gen_ai.operation.name", "chat"), attribute.String("gen_ai.request.model", "claude-sonnet-4-5"),
			attribute.Int("gen_ai.usage.input_tokens", 10), attribute.Int("gen_ai.usage.output_tokens", 5)))
	chat.End(trace.WithTimestamp(t0.Add(2 * time.Second)))
	root.End(trace.WithTimestamp(t0.Add(3 * time.Second)))
	texp, err := otlptracehttp.New(ctx, otlptracehttp.WithEndpointURL(d.otlp+"/v1/traces"),
		otlptracehttp.WithCompression(otlptracehttp.GzipCompression), otlptracehttp.WithHeaders(hdr))
	if err != nil {
		t.Fatal(err)
	}
	defer texp.Shutdown(context.WithoutCancel(ctx))

	for range 2 { // the second round is a retry of the first
		if err := lexp.Export(ctx, logs.recs); err != nil {
			t.Fatalf("logs export: %v", err)
		}
		if err := texp.ExportSpans(ctx, sr.Ended()); err != nil {
			t.Fatalf("traces export: %v", err)
		}
	}
	if err := d.stop(t); err != nil {
		t.Fatalf("Run: %v\n%s", err, d.log)
	}
	evs := storedEvents(t, cfg.Store)
	if len(evs) != 5 {
		t.Fatalf("%d events stored; want 3 log records and 2 spans", len(evs))
	}
	types := map[string]chainlog.StoredEvent{}
	for _, e := range evs {
		types[e.EventType] = e
		if e.AgentType != "claude_code" || e.NodeID != "laptop-3" {
			t.Errorf("event %s: agent_type %q node_id %q; want claude_code, laptop-3", e.ID, e.AgentType, e.NodeID)
		}
	}
	if e, ok := types["api_request"]; !ok || e.SessionID == nil || *e.SessionID != "sess-e2e" ||
		e.TokenCount == nil || *e.TokenCount != 1200 || e.CostUSD == nil || *e.CostUSD != 0.05 {
		t.Errorf("api_request = %+v; want session sess-e2e, 1200 tokens, cost 0.05", e)
	}
	for _, want := range []string{"user_prompt", "tool_result", "chat", "invoke_agent main"} {
		if _, ok := types[want]; !ok {
			t.Errorf("no %s event among %v", want, types)
		}
	}
	if rep := verifyStore(t, cfg.Store); rep.Status != chainlog.StatusValid || rep.Checked != 5 {
		t.Errorf("verify: %s, %d checked; want VALID, 5", rep.Status, rep.Checked)
	}
}

// logCollector is an sdk/log Processor that keeps every record emitted.
type logCollector struct{ recs []sdklog.Record }

func (c *logCollector) Enabled(context.Context, sdklog.EnabledParameters) bool { return true }
func (c *logCollector) Shutdown(context.Context) error                         { return nil }
func (c *logCollector) ForceFlush(context.Context) error                       { return nil }
func (c *logCollector) OnEmit(_ context.Context, r *sdklog.Record) error {
	c.recs = append(c.recs, r.Clone())
	return nil
}

// storedEvents returns the events in the store at path, in commit order.
func storedEvents(t *testing.T, path string) []chainlog.StoredEvent {
	t.Helper()
	ro, err := sqlite.OpenReadOnly(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	var out []chainlog.StoredEvent
	if err := ro.Export(t.Context(), "", func(e *chainlog.StoredEvent) error {
		out = append(out, *e)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestRunOTLPShutdownAnswersInFlight: a request on the OTLP listener that
// is being read when the daemon is asked to stop still gets its answer
// and its events are committed, while the listener already refuses new
// connections: every listener stops taking requests before the writer
// drains.
func TestRunOTLPShutdownAnswersInFlight(t *testing.T) {
	cfg := testConfig(t)
	cfg.OTLPListen, cfg.OTLP = "127.0.0.1:0", bodyMapper{}
	d := start(t, cfg)
	pr, pw := io.Pipe()
	req, err := http.NewRequest(http.MethodPost, d.otlp+"/v1/logs", pr)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	// With Expect: 100-continue the client sends the body only once the
	// handler reads it: the first write below returns when the request is
	// in the handler.
	req.Header.Set("Expect", "100-continue")
	client := &http.Client{Transport: &http.Transport{ExpectContinueTimeout: time.Minute}}
	type answer struct {
		code int
		err  error
	}
	answers := make(chan answer, 1)
	go func() {
		resp, err := client.Do(req)
		if err != nil {
			answers <- answer{0, err}
			return
		}
		resp.Body.Close()
		answers <- answer{resp.StatusCode, nil}
	}()
	body := logsBody("in-flight")
	if _, err := pw.Write([]byte(body[:20])); err != nil {
		t.Fatal(err)
	}
	d.cancel()
	addr := strings.TrimPrefix(d.otlp, "http://")
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(time.Millisecond) {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			break // the listener is closed
		}
		c.Close()
		if time.Now().After(deadline) {
			t.Fatal("the OTLP listener still accepts 30s after the daemon was asked to stop")
		}
	}
	if _, err := pw.Write([]byte(body[20:])); err != nil {
		t.Fatal(err)
	}
	pw.Close()
	if a := <-answers; a.err != nil || a.code != http.StatusOK {
		t.Fatalf("the in-flight export: %d %v; want 200", a.code, a.err)
	}
	if err := d.stop(t); err != nil {
		t.Fatalf("Run: %v\n%s", err, d.log)
	}
	if got := storedIDs(t, cfg.Store); len(got) != 1 || got[0] != "in-flight" {
		t.Errorf("stored %v; want [in-flight]", got)
	}
}
