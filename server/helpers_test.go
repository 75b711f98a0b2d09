package server_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"chainlog"
	"chainlog/server"
	"chainlog/sqlite"

	zsqlite "zombiezen.com/go/sqlite"
	zsqlitex "zombiezen.com/go/sqlite/sqlitex"
)

// These helpers run the daemon's handler as cmd/chainlog/serve.go wires it:
// a writable sqlite.Store behind the Writer, a second OpenReadOnly store as
// the Reader, both on a real file in t.TempDir(), served by httptest.

// testClock returns a clock for sqlite.Options.Now that starts at a fixed
// instant and moves one millisecond a call.
func testClock() func() time.Time {
	var mu sync.Mutex
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	n := 0
	return func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		n++
		return t0.Add(time.Duration(n) * time.Millisecond)
	}
}

// daemonConfig configures newDaemon. The zero value is a daemon without a
// token, with default limits.
type daemonConfig struct {
	Token        string
	MaxBodyBytes int64
	// MaxInflightBytes, MaxEventBytes and PageBytes are the Config's.
	MaxInflightBytes int64
	MaxEventBytes    int
	PageBytes        int64
	NodeID           string
	Writer           server.WriterConfig // Metrics is set by newDaemon
	// Wrap, when set, wraps the writable store given to the Writer (to
	// block, fail or count commits).
	Wrap func(server.Ingester) server.Ingester
	// Reader, when set, wraps the read-only store given to the handlers.
	Reader func(*sqlite.Store) server.Reader
	// ReadTimeout is the http.Server's; 0 is none.
	ReadTimeout time.Duration
	// OTLP is the OTLP receiver's mapper; nil serves no OTLP.
	OTLP server.OTLPMapper
	// Handler, when set, wraps the handler the test server serves.
	Handler func(*server.Server) http.Handler
}

// daemon is one running daemon under test.
type daemon struct {
	path    string
	store   *sqlite.Store // the writer's
	ro      *sqlite.Store // the reader's
	writer  *server.Writer
	metrics *server.Metrics
	monitor *chainlog.Monitor
	srv     *server.Server
	ts      *httptest.Server
	client  *http.Client
	token   string
}

func newDaemon(t testing.TB, cfg daemonConfig) *daemon {
	t.Helper()
	return newDaemonAt(t, filepath.Join(t.TempDir(), "chainlog.db"), cfg)
}

// newDaemonAt runs a daemon on the store at path, creating it if missing.
func newDaemonAt(t testing.TB, path string, cfg daemonConfig) *daemon {
	t.Helper()
	st, err := sqlite.Open(t.Context(), path, sqlite.Options{Now: testClock()})
	if err != nil {
		t.Fatalf("sqlite.Open(%s): %v", path, err)
	}
	t.Cleanup(func() { st.Close() })
	ro, err := sqlite.OpenReadOnly(t.Context(), path)
	if err != nil {
		t.Fatalf("sqlite.OpenReadOnly(%s): %v", path, err)
	}
	t.Cleanup(func() { ro.Close() })
	d := &daemon{path: path, store: st, ro: ro, metrics: server.NewMetrics(), monitor: chainlog.NewMonitor(), token: cfg.Token}
	var ing server.Ingester = st
	if cfg.Wrap != nil {
		ing = cfg.Wrap(st)
	}
	wcfg := cfg.Writer
	wcfg.Metrics = d.metrics
	d.writer = server.NewWriter(ing, wcfg)
	// As serve does: the writer's context outlives the requests.
	go d.writer.Run(context.WithoutCancel(t.Context()))
	t.Cleanup(d.writer.Close)
	var reader server.Reader = ro
	if cfg.Reader != nil {
		reader = cfg.Reader(ro)
	}
	d.srv = server.New(server.Config{Writer: d.writer, Reader: reader, Monitor: d.monitor, Metrics: d.metrics,
		Token: cfg.Token, MaxBodyBytes: cfg.MaxBodyBytes, MaxInflightBytes: cfg.MaxInflightBytes,
		MaxEventBytes: cfg.MaxEventBytes, PageBytes: cfg.PageBytes, NodeID: cfg.NodeID, OTLP: cfg.OTLP})
	var h http.Handler = d.srv
	if cfg.Handler != nil {
		h = cfg.Handler(d.srv)
	}
	d.ts = httptest.NewUnstartedServer(h)
	d.ts.Config.ReadTimeout = cfg.ReadTimeout
	d.ts.Start()
	t.Cleanup(d.ts.Close)
	d.client = &http.Client{
		Transport: &http.Transport{MaxIdleConns: 256, MaxIdleConnsPerHost: 256},
		Timeout:   30 * time.Second,
	}
	t.Cleanup(d.client.CloseIdleConnections)
	return d
}

// response is one HTTP answer, body read.
type response struct {
	status int
	header http.Header
	body   []byte
}

func (r response) String() string { return fmt.Sprintf("%d %s", r.status, bytes.TrimSpace(r.body)) }

// do sends a request. hdr is name, value pairs; the daemon's token is sent
// unless hdr sets Authorization (to "" for none).
func (d *daemon) do(t *testing.T, method, path string, body []byte, hdr ...string) response {
	t.Helper()
	r, err := d.tryDo(t.Context(), method, path, body, hdr...)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	return r
}

// tryDo is do for goroutines other than the test's: it returns errors.
func (d *daemon) tryDo(ctx context.Context, method, path string, body []byte, hdr ...string) (response, error) {
	req, err := http.NewRequestWithContext(ctx, method, d.ts.URL+path, bytes.NewReader(body))
	if err != nil {
		return response{}, err
	}
	if d.token != "" {
		req.Header.Set("Authorization", "Bearer "+d.token)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		if hdr[i+1] == "" {
			req.Header.Del(hdr[i])
		} else {
			req.Header.Set(hdr[i], hdr[i+1])
		}
	}
	resp, err := d.client.Do(req)
	if err != nil {
		return response{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return response{}, err
	}
	return response{status: resp.StatusCode, header: resp.Header, body: b}, nil
}

// post sends body to POST /v1/events as JSON.
func (d *daemon) post(t *testing.T, body string, hdr ...string) response {
	t.Helper()
	return d.do(t, http.MethodPost, "/v1/events", []byte(body), append([]string{"Content-Type", "application/json"}, hdr...)...)
}

func (d *daemon) get(t *testing.T, path string, hdr ...string) response {
	t.Helper()
	return d.do(t, http.MethodGet, path, nil, hdr...)
}

// postResult is the body of a 200 answer to POST /v1/events.
type postResult struct {
	Accepted   int `json:"accepted"`
	Duplicates int `json:"duplicates"`
}

// wantPosted checks that r is a 200 with exactly {"accepted":..,"duplicates":..}.
func wantPosted(t *testing.T, r response, want postResult) {
	t.Helper()
	if r.status != http.StatusOK {
		t.Fatalf("POST /v1/events = %s; want 200", r)
	}
	var got map[string]int
	if err := json.Unmarshal(r.body, &got); err != nil {
		t.Fatalf("200 body %q: %v", r.body, err)
	}
	if w := map[string]int{"accepted": want.Accepted, "duplicates": want.Duplicates}; !mapsEqual(got, w) {
		t.Errorf("200 body = %v; want %v", got, w)
	}
}

func mapsEqual(a, b map[string]int) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if bv, ok := b[k]; !ok || bv != v {
			return false
		}
	}
	return true
}

// errorBody is the body of a 4xx or 5xx answer.
type errorBody struct {
	Error  string              `json:"error"`
	Errors []server.EventError `json:"errors"`
}

// wantError checks r's status and that its body is a JSON error, and
// returns the body.
func wantError(t *testing.T, r response, status int) errorBody {
	t.Helper()
	if r.status != status {
		t.Fatalf("status = %s; want %d", r, status)
	}
	if ct := r.header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type = %q; want application/json", ct)
	}
	var b errorBody
	if err := json.Unmarshal(r.body, &b); err != nil {
		t.Fatalf("error body %q: %v", r.body, err)
	}
	if b.Error == "" {
		t.Errorf("error body %q has no error message", r.body)
	}
	return b
}

func decodeJSON(t *testing.T, r response, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("decode %q: %v", r.body, err)
	}
}

// ev returns the JSON of a valid event with id. kv overrides fields with
// raw JSON values ("-" removes the field). The defaults are node_id "n1",
// event_type "tool_call" and a fixed ts.
func ev(id string, kv ...string) string {
	fields := [][2]string{
		{"id", strconv.Quote(id)}, {"node_id", `"n1"`}, {"event_type", `"tool_call"`},
		{"ts", `"2026-02-01T09:00:00.000Z"`},
	}
	for i := 0; i+1 < len(kv); i += 2 {
		j := slices.IndexFunc(fields, func(f [2]string) bool { return f[0] == kv[i] })
		switch {
		case j >= 0 && kv[i+1] == "-":
			fields = slices.Delete(fields, j, j+1)
		case j >= 0:
			fields[j][1] = kv[i+1]
		case kv[i+1] == "-":
		default:
			fields = append(fields, [2]string{kv[i], kv[i+1]})
		}
	}
	var b strings.Builder
	b.WriteByte('{')
	for i, f := range fields {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, "%q:%s", f[0], f[1])
	}
	b.WriteByte('}')
	return b.String()
}

// array returns a JSON array of the objects.
func array(objs ...string) string { return "[" + strings.Join(objs, ",") + "]" }

// spec describes the i-th generated event of a node; its fields vary so
// that every query filter selects a proper subset.
type spec struct {
	ID, Node, Agent, Type, TS string
	Session                   *string
}

var eventTypes = []string{"session.start", "tool_call", "llm_usage"}

func mkSpec(node string, i int) spec {
	s := spec{
		ID: fmt.Sprintf("%s/%d", node, i), Node: node, Agent: fmt.Sprintf("agent-%d", i%3),
		Type: eventTypes[i%len(eventTypes)],
		TS:   time.Date(2026, 2, 1, 9, 0, 0, 0, time.UTC).Add(time.Duration(i) * time.Minute).Format("2006-01-02T15:04:05.000Z"),
	}
	if i%5 != 4 {
		sess := fmt.Sprintf("sess-%d", i%4)
		s.Session = &sess
	}
	return s
}

func (s spec) JSON() string {
	sess := "null"
	if s.Session != nil {
		sess = strconv.Quote(*s.Session)
	}
	return fmt.Sprintf(`{"id":%q,"node_id":%q,"agent_id":%q,"session_id":%s,"event_type":%q,"ts":%q,"data":{"k":%q},"cost_usd":0.25,"token_count":12,"model":"m"}`,
		s.ID, s.Node, s.Agent, sess, s.Type, s.TS, s.ID)
}

// specs returns events from..to-1 of node.
func specs(node string, from, to int) []spec {
	var out []spec
	for i := from; i < to; i++ {
		out = append(out, mkSpec(node, i))
	}
	return out
}

// ndjson returns the events as NDJSON.
func ndjson(ss []spec) string {
	var b strings.Builder
	for _, s := range ss {
		b.WriteString(s.JSON())
		b.WriteByte('\n')
	}
	return b.String()
}

// specArray returns the events as a JSON array.
func specArray(ss []spec) string {
	objs := make([]string, len(ss))
	for i, s := range ss {
		objs[i] = s.JSON()
	}
	return array(objs...)
}

// storedIDs returns the ids of every stored row in commit order, read
// through a fresh read-only open of path.
func storedIDs(t *testing.T, path string) []string {
	t.Helper()
	st, err := sqlite.OpenReadOnly(t.Context(), path)
	if err != nil {
		t.Fatalf("OpenReadOnly: %v", err)
	}
	defer st.Close()
	var ids []string
	err = st.Export(t.Context(), "", func(e *chainlog.StoredEvent) error {
		ids = append(ids, e.ID)
		return nil
	})
	if err != nil {
		t.Fatalf("Export: %v", err)
	}
	return ids
}

// verifyPath runs verify-integrity's check (chains, trail and tree, in one
// snapshot) on a fresh read-only open of path and returns the report.
func verifyPath(t *testing.T, path, nodeID string) *chainlog.Report {
	t.Helper()
	st, err := sqlite.OpenReadOnly(t.Context(), path)
	if err != nil {
		t.Fatalf("OpenReadOnly: %v", err)
	}
	defer st.Close()
	var rep *chainlog.Report
	err = st.Snapshot(t.Context(), func() error {
		var err error
		rep, err = chainlog.VerifyStore(t.Context(), st, chainlog.VerifyOptions{NodeID: nodeID})
		return err
	})
	if err != nil {
		t.Fatalf("verify %s: %v", path, err)
	}
	return rep
}

// scrape reads GET /metrics into a map from sample name (with its labels,
// as printed) to value.
func (d *daemon) scrape(t *testing.T) map[string]float64 {
	t.Helper()
	r := d.get(t, "/metrics")
	if r.status != http.StatusOK {
		t.Fatalf("GET /metrics = %s", r)
	}
	out := map[string]float64{}
	sc := bufio.NewScanner(bytes.NewReader(r.body))
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			t.Fatalf("metrics line %q: %v", line, err)
		}
		out[line[:i]] = v
	}
	return out
}

// waitFor polls cond until it holds, failing the test after 10s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// fakeIngester stands in for the store behind a Writer: it records every
// commit's groups, can hold each commit until the test lets it go, and can
// fail chosen commits. With next set it commits through next; otherwise
// every event counts as inserted.
type fakeIngester struct {
	next server.Ingester
	// gate, when not nil, holds each commit until it receives a token (or
	// the channel is closed).
	gate chan struct{}
	// entered receives one value as each commit starts (dropped when full).
	entered chan int

	mu    sync.Mutex
	fail  map[int]error       // commit number (from 1) -> error returned, nothing committed
	calls [][]int             // each commit's group sizes
	curs  [][]chainlog.Cursor // each commit's cursors
	done  int                 // commits finished (successfully or not)
}

func newFake(next server.Ingester, gated bool) *fakeIngester {
	f := &fakeIngester{next: next, entered: make(chan int, 1024), fail: map[int]error{}}
	if gated {
		f.gate = make(chan struct{})
	}
	return f
}

var errInjected = errors.New("injected commit failure")

func (f *fakeIngester) IngestGroups(ctx context.Context, groups [][]chainlog.Event, cursors ...chainlog.Cursor) ([]chainlog.IngestResult, error) {
	f.mu.Lock()
	sizes := make([]int, len(groups))
	for i, g := range groups {
		sizes[i] = len(g)
	}
	f.calls = append(f.calls, sizes)
	f.curs = append(f.curs, slices.Clone(cursors))
	n := len(f.calls)
	err := f.fail[n]
	f.mu.Unlock()
	select {
	case f.entered <- n:
	default:
	}
	if f.gate != nil {
		<-f.gate
	}
	defer func() {
		f.mu.Lock()
		f.done++
		f.mu.Unlock()
	}()
	if err != nil {
		return nil, err
	}
	if f.next != nil {
		return f.next.IngestGroups(ctx, groups, cursors...)
	}
	res := make([]chainlog.IngestResult, len(groups))
	for i, g := range groups {
		res[i].Inserted = len(g)
	}
	return res, nil
}

// failOn makes commit n fail.
func (f *fakeIngester) failOn(n int, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.fail[n] = err
}

// Calls returns each commit's group sizes so far.
func (f *fakeIngester) Calls() [][]int {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([][]int, len(f.calls))
	for i, c := range f.calls {
		out[i] = slices.Clone(c)
	}
	return out
}

// Cursors returns each commit's cursors so far.
func (f *fakeIngester) Cursors() [][]chainlog.Cursor {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.curs)
}

func (f *fakeIngester) Done() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.done
}

// waitEntered waits until commit n has started.
func (f *fakeIngester) waitEntered(t *testing.T, n int) {
	t.Helper()
	waitFor(t, fmt.Sprintf("commit %d to start", n), func() bool { return len(f.Calls()) >= n })
}

// open lets every held and future commit through.
func (f *fakeIngester) open() { close(f.gate) }

// step lets one held commit through.
func (f *fakeIngester) step() { f.gate <- struct{}{} }

// rawConn opens a plain read-write connection to the store file, as
// another process with write access would.
func rawConn(t *testing.T, path string) *zsqlite.Conn {
	t.Helper()
	conn, err := zsqlite.OpenConn(path, zsqlite.OpenReadWrite)
	if err != nil {
		t.Fatalf("open %s: %v", path, err)
	}
	conn.SetBusyTimeout(10 * time.Second)
	t.Cleanup(func() { conn.Close() })
	return conn
}

// execSQL runs statements on conn in one transaction.
func execSQL(t *testing.T, conn *zsqlite.Conn, stmts ...string) {
	t.Helper()
	err := func() (err error) {
		defer zsqlitex.Save(conn)(&err)
		for _, q := range stmts {
			if err := zsqlitex.ExecuteTransient(conn, q, nil); err != nil {
				return fmt.Errorf("%s: %w", q, err)
			}
		}
		return nil
	}()
	if err != nil {
		t.Fatalf("raw SQL: %v", err)
	}
}

// httptestRecord serves one request with h and returns the recording.
func httptestRecord(h http.Handler, method, path, body string) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(method, path, strings.NewReader(body)))
	return rec
}

// waitQueued waits until w counts events queued and holds jobs requests
// in its queue channel (the commit in progress holds none).
func waitQueued(t *testing.T, w *server.Writer, events int64, jobs int) {
	t.Helper()
	waitFor(t, fmt.Sprintf("%d events in %d queued requests", events, jobs), func() bool {
		return w.Queued() == events && w.JobsWaiting() == jobs
	})
}
