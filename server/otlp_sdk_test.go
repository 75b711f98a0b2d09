package server_test

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"chainlog/server"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlplog/otlploghttp"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/log"
	sdklog "go.opentelemetry.io/otel/sdk/log"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
)

// These tests point the OpenTelemetry Go SDK's own OTLP/HTTP exporters at
// the receiver.

var sdkResource = resource.NewSchemaless(attribute.String("service.name", "claude-code"), attribute.String("host.name", "dev-1"))

// logCollector is an sdk/log Processor that keeps every record emitted, so
// that a test can hand them to an exporter and see its error.
type logCollector struct {
	mu   sync.Mutex
	recs []sdklog.Record
}

func (c *logCollector) Enabled(context.Context, sdklog.EnabledParameters) bool { return true }
func (c *logCollector) Shutdown(context.Context) error                         { return nil }
func (c *logCollector) ForceFlush(context.Context) error                       { return nil }

func (c *logCollector) OnEmit(_ context.Context, r *sdklog.Record) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.recs = append(c.recs, r.Clone())
	return nil
}

var sdkT0 = time.Date(2026, 1, 2, 8, 0, 0, 0, time.UTC)

// sdkLogs emits n records through an sdk/log LoggerProvider and returns
// them as its processors receive them.
func sdkLogs(t *testing.T, n int) []sdklog.Record {
	c := &logCollector{}
	lp := sdklog.NewLoggerProvider(sdklog.WithProcessor(c), sdklog.WithResource(sdkResource))
	defer lp.Shutdown(t.Context())
	lg := lp.Logger("com.anthropic.claude_code.events")
	for i := range n {
		var r log.Record
		r.SetEventName("claude_code.tool_result")
		r.SetTimestamp(sdkT0.Add(time.Duration(i) * time.Second))
		r.SetBody(attribute.StringValue("claude_code.tool_result"))
		r.AddAttributes(attribute.String("tool_use_id", fmt.Sprintf("toolu_%03d", i)), attribute.Int("duration_ms", 10*i))
		lg.Emit(t.Context(), r)
	}
	return c.recs
}

// sdkSpans ends a root span and n children through an sdk/trace
// TracerProvider and returns them, with the ids testMapper gives them.
// With zeroStart, the last child starts at the Unix epoch: 0 on the wire.
func sdkSpans(t *testing.T, n int, zeroStart bool) ([]sdktrace.ReadOnlySpan, []string) {
	sr := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(sr), sdktrace.WithResource(sdkResource))
	defer tp.Shutdown(t.Context())
	tr := tp.Tracer("agent")
	ctx, root := tr.Start(t.Context(), "invoke_agent planner", trace.WithTimestamp(sdkT0))
	for i := range n {
		start := sdkT0.Add(time.Duration(i+1) * time.Second)
		if zeroStart && i == n-1 {
			start = time.Unix(0, 0)
		}
		_, sp := tr.Start(ctx, "chat", trace.WithTimestamp(start),
			trace.WithAttributes(attribute.String("gen_ai.operation.name", "chat"), attribute.Int("gen_ai.usage.input_tokens", 100+i)))
		sp.End(trace.WithTimestamp(start.Add(time.Second)))
	}
	root.End()
	spans := sr.Ended()
	var ids []string
	for _, s := range spans {
		if s.StartTime().UnixNano() != 0 {
			ids = append(ids, "span:"+s.SpanContext().TraceID().String()+s.SpanContext().SpanID().String())
		}
	}
	slices.Sort(ids)
	return spans, ids
}

// exchange is one request the receiver answered.
type exchange struct {
	path, contentType, encoding, auth string
	status                            int
	retryAfter                        string
}

// watcher wraps the daemon's handler and records every exchange; first
// receives the first answer with status watch.
type watcher struct {
	mu    sync.Mutex
	seen  []exchange
	watch int
	first chan struct{}
	once  sync.Once
}

func newWatcher(watch int) *watcher { return &watcher{watch: watch, first: make(chan struct{})} }

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (s *statusWriter) WriteHeader(code int) { s.status = code; s.ResponseWriter.WriteHeader(code) }

func (wt *watcher) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		h.ServeHTTP(sw, r)
		wt.mu.Lock()
		wt.seen = append(wt.seen, exchange{r.URL.Path, r.Header.Get("Content-Type"), r.Header.Get("Content-Encoding"),
			r.Header.Get("Authorization"), sw.status, sw.Header().Get("Retry-After")})
		wt.mu.Unlock()
		if sw.status == wt.watch {
			wt.once.Do(func() { close(wt.first) })
		}
	})
}

func (wt *watcher) exchanges() []exchange {
	wt.mu.Lock()
	defer wt.mu.Unlock()
	return slices.Clone(wt.seen)
}

var tokenHeader = map[string]string{"Authorization": "Bearer tok"}

// TestOTLPSDKTraces: otlptracehttp, protobuf and JSON, gzip, the token in
// its headers; a span with no start time comes back as partial success.
func TestOTLPSDKTraces(t *testing.T) {
	for _, tc := range []struct {
		name string
		enc  otlptracehttp.Encoding
		ct   string
	}{
		{"protobuf", otlptracehttp.EncodingProtobuf, ctProto},
		{"json", otlptracehttp.EncodingJSON, ctJSON},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wt := newWatcher(0)
			d := newOTLPDaemon(t, daemonConfig{Token: "tok", Handler: func(s *server.Server) http.Handler { return wt.wrap(s) }})
			exp, err := otlptracehttp.New(t.Context(), otlptracehttp.WithEndpointURL(d.ts.URL+"/v1/traces"),
				otlptracehttp.WithCompression(otlptracehttp.GzipCompression), otlptracehttp.WithHeaders(tokenHeader),
				otlptracehttp.WithEncoding(tc.enc))
			if err != nil {
				t.Fatal(err)
			}
			defer exp.Shutdown(context.WithoutCancel(t.Context()))
			spans, want := sdkSpans(t, 5, false)
			if err := exp.ExportSpans(t.Context(), spans); err != nil {
				t.Fatalf("ExportSpans: %v", err)
			}
			got := storedIDs(t, d.path)
			slices.Sort(got)
			if !slices.Equal(got, want) {
				t.Errorf("stored %v; want %v", got, want)
			}
			// The same spans again: acknowledged, nothing new stored.
			if err := exp.ExportSpans(t.Context(), spans); err != nil {
				t.Fatalf("ExportSpans again: %v", err)
			}
			if n := len(storedIDs(t, d.path)); n != len(want) {
				t.Errorf("%d events after the same export again; want %d", n, len(want))
			}
			more, wantMore := sdkSpans(t, 3, true)
			err = exp.ExportSpans(t.Context(), more)
			if err == nil || !strings.Contains(err.Error(), "1 spans rejected") {
				t.Errorf("ExportSpans with a span starting at 0 = %v; want a partial success of 1 rejected", err)
			}
			if n := len(storedIDs(t, d.path)); n != len(want)+len(wantMore) {
				t.Errorf("%d events stored; want %d", n, len(want)+len(wantMore))
			}
			for _, x := range wt.exchanges() {
				if x.path != "/v1/traces" || x.contentType != tc.ct || x.encoding != "gzip" || x.auth != "Bearer tok" || x.status != 200 {
					t.Errorf("exchange %+v; want POST /v1/traces, %s, gzip, the token, 200", x, tc.ct)
				}
			}
		})
	}
}

// TestOTLPSDKLogs: otlploghttp with sdk/log records, protobuf and gzip,
// the token in its headers.
func TestOTLPSDKLogs(t *testing.T) {
	wt := newWatcher(0)
	d := newOTLPDaemon(t, daemonConfig{Token: "tok", Handler: func(s *server.Server) http.Handler { return wt.wrap(s) }})
	exp, err := otlploghttp.New(t.Context(), otlploghttp.WithEndpointURL(d.ts.URL+"/v1/logs"),
		otlploghttp.WithCompression(otlploghttp.GzipCompression), otlploghttp.WithHeaders(tokenHeader))
	if err != nil {
		t.Fatal(err)
	}
	defer exp.Shutdown(context.WithoutCancel(t.Context()))
	recs := sdkLogs(t, 20)
	for range 2 { // the second export is a retry: nothing new is stored
		if err := exp.Export(t.Context(), recs); err != nil {
			t.Fatalf("Export: %v", err)
		}
		if n := len(storedIDs(t, d.path)); n != 20 {
			t.Fatalf("%d events stored; want 20", n)
		}
	}
	evs := storedEvents(t, d.path)
	if e := evs[3].Event; e.AgentType != "claude-code" || e.NodeID != "dev-1" || e.EventType != "claude_code.tool_result" ||
		e.TS != "2026-01-02T08:00:03Z" || !strings.Contains(string(e.Data), `"tool_use_id":"toolu_003"`) {
		t.Errorf("event 3 = %+v %s", e, e.Data)
	}
	for _, x := range wt.exchanges() {
		if x.contentType != ctProto || x.encoding != "gzip" || x.auth != "Bearer tok" || x.status != 200 {
			t.Errorf("exchange %+v; want protobuf, gzip, the token, 200", x)
		}
	}
}

// TestOTLPSDKRetry: while the writer's queue is full the receiver answers
// 503 with Retry-After; each exporter retries after it, and its records
// are stored exactly once.
func TestOTLPSDKRetry(t *testing.T) {
	for _, signal := range []string{"logs", "traces"} {
		t.Run(signal, func(t *testing.T) {
			wt := newWatcher(http.StatusServiceUnavailable)
			f := newFake(nil, true)
			d := newOTLPDaemon(t, daemonConfig{Token: "tok", Writer: server.WriterConfig{Capacity: 1},
				Wrap:    func(st server.Ingester) server.Ingester { f.next = st; return f },
				Handler: func(s *server.Server) http.Handler { return wt.wrap(s) }})
			// One request held in its commit fills the queue.
			held := make(chan response, 1)
			go func() {
				r, _ := d.tryDo(context.WithoutCancel(t.Context()), http.MethodPost, "/v1/events", []byte(ev("held")), "Content-Type", ctJSON)
				held <- r
			}()
			f.waitEntered(t, 1)
			go func() {
				<-wt.first
				f.open()
			}()
			var want int
			var err error
			switch signal {
			case "logs":
				exp, nerr := otlploghttp.New(t.Context(), otlploghttp.WithEndpointURL(d.ts.URL+"/v1/logs"),
					otlploghttp.WithCompression(otlploghttp.GzipCompression), otlploghttp.WithHeaders(tokenHeader),
					otlploghttp.WithRetry(otlploghttp.RetryConfig{Enabled: true, InitialInterval: 10 * time.Millisecond,
						MaxInterval: 100 * time.Millisecond, MaxElapsedTime: 20 * time.Second}))
				if nerr != nil {
					t.Fatal(nerr)
				}
				defer exp.Shutdown(context.WithoutCancel(t.Context()))
				want = 8
				err = exp.Export(t.Context(), sdkLogs(t, want))
			case "traces":
				exp, nerr := otlptracehttp.New(t.Context(), otlptracehttp.WithEndpointURL(d.ts.URL+"/v1/traces"),
					otlptracehttp.WithCompression(otlptracehttp.GzipCompression), otlptracehttp.WithHeaders(tokenHeader),
					otlptracehttp.WithRetry(otlptracehttp.RetryConfig{Enabled: true, InitialInterval: 10 * time.Millisecond,
						MaxInterval: 100 * time.Millisecond, MaxElapsedTime: 20 * time.Second}))
				if nerr != nil {
					t.Fatal(nerr)
				}
				defer exp.Shutdown(context.WithoutCancel(t.Context()))
				spans, ids := sdkSpans(t, 4, false)
				want = len(ids)
				err = exp.ExportSpans(t.Context(), spans)
			}
			if err != nil {
				t.Fatalf("export: %v", err)
			}
			if r := <-held; r.status != http.StatusOK {
				t.Errorf("the held request = %s", r)
			}
			var refused, ok int
			for _, x := range wt.exchanges() {
				switch {
				case x.path == "/v1/events":
				case x.status == http.StatusServiceUnavailable && x.retryAfter == "1":
					refused++
				case x.status == http.StatusOK:
					ok++
				default:
					t.Errorf("exchange %+v", x)
				}
			}
			if refused == 0 || ok != 1 {
				t.Errorf("%d refused with Retry-After, %d acknowledged; want at least 1, and 1", refused, ok)
			}
			ids := storedIDs(t, d.path)
			if len(ids) != want+1 {
				t.Errorf("%d events stored; want %d and the held one", len(ids), want)
			}
		})
	}
}
