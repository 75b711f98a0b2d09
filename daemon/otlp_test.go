package daemon

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"chainlog"
	"chainlog/sqlite"

	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/ptrace"
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
	if got := storedIDs(t, cfg.Store); strings.Join(got, ",") != "o1,o2,m1" {
		t.Errorf("stored %v; want o1, o2, m1", got)
	}
}

// storedIDs returns the ids in the store at path, in commit order.
func storedIDs(t *testing.T, path string) []string {
	t.Helper()
	ro, err := sqlite.OpenReadOnly(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	var ids []string
	if err := ro.Export(t.Context(), "", func(e *chainlog.StoredEvent) error {
		ids = append(ids, e.ID)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return ids
}
