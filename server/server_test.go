package server_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"

	"chainlog"
	"chainlog/server"
	"chainlog/sqlite"
)

func TestPostEventsAccepted(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		ctype   string
		body    string
		want    postResult
		wantIDs []string
	}{
		{"array", "application/json", array(ev("a"), ev("b"), ev("c")), postResult{3, 0}, []string{"a", "b", "c"}},
		{"single object", "application/json", ev("a"), postResult{1, 0}, []string{"a"}},
		{"concatenated objects", "application/json", ev("a") + "\n  " + ev("b") + ev("c") + "\n", postResult{3, 0}, []string{"a", "b", "c"}},
		{"no content type", "", ev("a") + ev("b"), postResult{2, 0}, []string{"a", "b"}},
		{"json with charset", "application/json; charset=utf-8", array(ev("a")), postResult{1, 0}, []string{"a"}},
		{"ndjson", "application/x-ndjson", ev("a") + "\n\n" + ev("b") + "\r\n" + ev("c"), postResult{3, 0}, []string{"a", "b", "c"}},
		{"jsonl", "application/jsonl", ev("a") + "\n" + ev("b") + "\n", postResult{2, 0}, []string{"a", "b"}},
		{"repeat inside one request", "application/json", array(ev("a"), ev("b"), ev("a")), postResult{2, 1}, []string{"a", "b"}},
		{"export-only fields ignored", "application/json", ev("a", "chain_seq", "99", "chain_hash", `"x"`, "created_at", `"y"`), postResult{1, 0}, []string{"a"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			d := newDaemon(t, daemonConfig{})
			r := d.do(t, http.MethodPost, "/v1/events", []byte(tt.body), "Content-Type", tt.ctype)
			wantPosted(t, r, tt.want)
			if got := storedIDs(t, d.path); !slices.Equal(got, tt.wantIDs) {
				t.Errorf("stored ids = %q; want %q", got, tt.wantIDs)
			}
			// Posting the same body again stores nothing more.
			r = d.do(t, http.MethodPost, "/v1/events", []byte(tt.body), "Content-Type", tt.ctype)
			wantPosted(t, r, postResult{0, tt.want.Accepted + tt.want.Duplicates})
			if got := storedIDs(t, d.path); !slices.Equal(got, tt.wantIDs) {
				t.Errorf("after re-post, stored ids = %q; want %q", got, tt.wantIDs)
			}
		})
	}
}

func TestPostEventsDefaultNodeID(t *testing.T) {
	t.Parallel()
	d := newDaemon(t, daemonConfig{NodeID: "daemon-host"})
	wantPosted(t, d.post(t, array(ev("a", "node_id", "-"), ev("b"))), postResult{2, 0})
	st, err := d.ro.Event(t.Context(), "a")
	if err != nil {
		t.Fatal(err)
	}
	if st.NodeID != "daemon-host" {
		t.Errorf("node_id of an event without one = %q; want the daemon's %q", st.NodeID, "daemon-host")
	}
	if st, _ := d.ro.Event(t.Context(), "b"); st == nil || st.NodeID != "n1" {
		t.Errorf("event with node_id n1 stored as %+v", st)
	}
}

// wantEventErrors compares the index and field of each listed error, and
// checks each has a message.
func wantEventErrors(t *testing.T, got []server.EventError, want []server.EventError) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("errors = %+v; want %d errors like %+v", got, len(want), want)
	}
	for i := range want {
		if got[i].Index != want[i].Index || got[i].Field != want[i].Field {
			t.Errorf("errors[%d] = %+v; want index %d field %q", i, got[i], want[i].Index, want[i].Field)
		}
		if got[i].Error == "" {
			t.Errorf("errors[%d] = %+v has no message", i, got[i])
		}
		if want[i].Error != "" && !strings.Contains(got[i].Error, want[i].Error) {
			t.Errorf("errors[%d].error = %q; want it to mention %q", i, got[i].Error, want[i].Error)
		}
	}
}

func TestPostEventsRejected(t *testing.T) {
	t.Parallel()
	type ee = server.EventError
	tests := []struct {
		name  string
		ctype string
		body  string
		want  []ee // nil: a plain error without a list
	}{
		{"invalid json object", "application/json", `{"id":"a",`, []ee{{Index: 0, Error: "invalid JSON"}}},
		{"invalid json array", "application/json", `[` + ev("a") + `,`, []ee{{Index: 0, Error: "invalid JSON array"}}},
		{"garbage after an object", "application/json", ev("a") + ` nope`, []ee{{Index: 1, Error: "invalid JSON"}}},
		{"number id", "application/json", ev("a", "id", "7"), []ee{{Index: 0, Field: "id", Error: "must be a string"}}},
		{"object ts", "application/json", array(ev("a", "ts", `{"s":1}`)), []ee{{Index: 0, Field: "ts", Error: "must be a string"}}},
		{"string token_count", "application/json", array(ev("a", "token_count", `"12"`)), []ee{{Index: 0, Field: "token_count"}}},
		{"missing event_type", "application/json", array(ev("a", "event_type", "-")), []ee{{Index: 0, Field: "event_type", Error: "missing"}}},
		{"missing id", "application/json", ev("a", "id", "-"), []ee{{Index: 0, Field: "id", Error: "missing"}}},
		{"empty ts", "application/json", ev("a", "ts", `""`), []ee{{Index: 0, Field: "ts", Error: "empty"}}},
		{"unknown field", "application/json", ev("a", "colour", `"red"`), []ee{{Index: 0, Field: "colour", Error: "unknown field"}}},
		{"invalid utf-8 in a string", "application/json", ev("a", "agent_id", "\"bad\xff\xfe\""), []ee{{Index: 0, Field: "agent_id", Error: "UTF-8"}}},
		{"invalid utf-8 in an array", "application/json", array(ev("a"), ev("b", "model", "\"m\xc3\"")), []ee{{Index: 1, Field: "model", Error: "UTF-8"}}},
		{"invalid utf-8 in ndjson", "application/x-ndjson", ev("a") + "\n" + ev("b", "session_id", "\"\xff\""), []ee{{Index: 1, Field: "session_id", Error: "line 2"}}},
		{"lone surrogate", "application/json", ev("a", "agent_id", `"\ud800"`), []ee{{Index: 0, Field: "agent_id", Error: "surrogate"}}},
		{"not objects", "application/json", `[1, "x", null]`, []ee{{Index: 0, Error: "not a JSON object"}, {Index: 1, Error: "not a JSON object"}, {Index: 2, Error: "null"}}},
		{"ndjson bad lines", "application/x-ndjson", ev("a") + "\n{oops\n" + ev("c") + "\n" + ev("d", "id", "1"), []ee{{Index: 1, Error: "line 2"}, {Index: 3, Field: "id", Error: "line 4"}}},
		{"empty body", "application/json", ``, nil},
		{"blank body", "application/json", " \n\t ", nil},
		{"empty array", "application/json", `[]`, nil},
		{"empty ndjson", "application/x-ndjson", "\n\n", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			d := newDaemon(t, daemonConfig{})
			r := d.do(t, http.MethodPost, "/v1/events", []byte(tt.body), "Content-Type", tt.ctype)
			b := wantError(t, r, http.StatusBadRequest)
			if tt.want == nil {
				if len(b.Errors) != 0 {
					t.Errorf("errors = %+v; want none", b.Errors)
				}
			} else {
				wantEventErrors(t, b.Errors, tt.want)
			}
			if ids := storedIDs(t, d.path); len(ids) != 0 {
				t.Errorf("a rejected request stored %q", ids)
			}
		})
	}
}

// TestPostEventsAtomic: a request with any invalid event is refused whole,
// with every invalid one listed, and stores nothing.
func TestPostEventsAtomic(t *testing.T) {
	t.Parallel()
	type ee = server.EventError
	good := func(i int) string { return ev(fmt.Sprint("good-", i)) }
	tests := []struct {
		name  string
		ctype string
		body  string
		want  []ee
	}{
		{"array", "application/json",
			array(good(0), ev("x", "id", "1"), good(2), ev("y", "ts", "-"), good(4), ev("z", "cost_usd", "-1")),
			[]ee{{Index: 1, Field: "id"}, {Index: 3, Field: "ts"}, {Index: 5, Field: "cost_usd"}}},
		{"concatenated", "application/json",
			good(0) + ev("x", "data", "-") + ev("y", "node_id", `""`) + good(3),
			[]ee{{Index: 2, Field: "node_id"}}},
		{"ndjson", "application/x-ndjson",
			good(0) + "\n" + good(1) + "\n" + ev("x", "event_type", "3") + "\n" + good(3) + "\n" + "[]" + "\n",
			[]ee{{Index: 2, Field: "event_type"}, {Index: 4, Error: "not a JSON object"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			d := newDaemon(t, daemonConfig{})
			wantPosted(t, d.post(t, ev("before")), postResult{1, 0})
			b := wantError(t, d.do(t, http.MethodPost, "/v1/events", []byte(tt.body), "Content-Type", tt.ctype), http.StatusBadRequest)
			wantEventErrors(t, b.Errors, tt.want)
			if !strings.Contains(b.Error, "nothing was stored") {
				t.Errorf("error = %q; want it to say nothing was stored", b.Error)
			}
			if got := storedIDs(t, d.path); !slices.Equal(got, []string{"before"}) {
				t.Errorf("stored ids = %q; want only the earlier event", got)
			}
			evs, next, err := d.ro.Events(t.Context(), chainlog.EventFilter{})
			if err != nil || len(evs) != 1 || next != 0 {
				t.Errorf("Reader.Events = %d events, next %d, %v; want the 1 earlier event", len(evs), next, err)
			}
		})
	}
}

func TestAuth(t *testing.T) {
	t.Parallel()
	const token = "s3cret-token"
	d := newDaemon(t, daemonConfig{Token: token})
	d.token = "" // send Authorization by hand
	tests := []struct {
		name   string
		method string
		path   string
		auth   string
		want   int
	}{
		{"post without token", http.MethodPost, "/v1/events", "", 401},
		{"post wrong token", http.MethodPost, "/v1/events", "Bearer nope", 401},
		{"post token prefix", http.MethodPost, "/v1/events", "Bearer s3cret", 401},
		{"post token with suffix", http.MethodPost, "/v1/events", "Bearer " + token + "x", 401},
		{"post basic auth", http.MethodPost, "/v1/events", "Basic " + token, 401},
		{"post bare token", http.MethodPost, "/v1/events", token, 401},
		{"post empty bearer", http.MethodPost, "/v1/events", "Bearer ", 401},
		{"get events without token", http.MethodGet, "/v1/events", "", 401},
		{"integrity without token", http.MethodGet, "/v1/integrity", "", 401},
		{"healthz without token", http.MethodGet, "/healthz", "", 401},
		{"metrics without token", http.MethodGet, "/metrics", "", 401},
		{"unknown path without token", http.MethodGet, "/nope", "", 401},
		{"post right token", http.MethodPost, "/v1/events", "Bearer " + token, 200},
		{"get events right token", http.MethodGet, "/v1/events", "Bearer " + token, 200},
		{"integrity right token", http.MethodGet, "/v1/integrity", "Bearer " + token, 200},
		{"healthz right token", http.MethodGet, "/healthz", "Bearer " + token, 200},
		{"metrics right token", http.MethodGet, "/metrics", "Bearer " + token, 200},
		{"unknown path right token", http.MethodGet, "/nope", "Bearer " + token, 404},
	}
	var stored string
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var body []byte
			if tt.method == http.MethodPost {
				id := fmt.Sprint("auth-", i)
				body = []byte(ev(id))
				if tt.want == http.StatusOK {
					stored = id
				}
			}
			r := d.do(t, tt.method, tt.path, body, "Authorization", tt.auth, "Content-Type", "application/json")
			if r.status != tt.want {
				t.Fatalf("%s %s with Authorization %q = %s; want %d", tt.method, tt.path, tt.auth, r, tt.want)
			}
			www := r.header.Get("WWW-Authenticate")
			if tt.want == http.StatusUnauthorized {
				wantError(t, r, http.StatusUnauthorized)
				if www != `Bearer realm="chainlog"` {
					t.Errorf("WWW-Authenticate = %q; want %q", www, `Bearer realm="chainlog"`)
				}
			} else if www != "" {
				t.Errorf("WWW-Authenticate = %q on a %d; want none", www, r.status)
			}
		})
	}
	// Only the request with the right token stored anything.
	if got := storedIDs(t, d.path); !slices.Equal(got, []string{stored}) {
		t.Errorf("stored ids = %q; want %q", got, stored)
	}
}

func TestBodyLimit(t *testing.T) {
	t.Parallel()
	const limit = 1024
	d := newDaemon(t, daemonConfig{MaxBodyBytes: limit})
	pad := func(obj string, n int) string { return obj + strings.Repeat(" ", n-len(obj)) }
	wantPosted(t, d.post(t, pad(ev("exact"), limit)), postResult{1, 0})
	b := wantError(t, d.post(t, pad(ev("over"), limit+1)), http.StatusRequestEntityTooLarge)
	if !strings.Contains(b.Error, "1024") {
		t.Errorf("413 error = %q; want it to name the limit", b.Error)
	}
	// Far over, and as NDJSON.
	var big strings.Builder
	for i := 0; big.Len() < 10*limit; i++ {
		big.WriteString(ev(fmt.Sprint("big-", i)) + "\n")
	}
	wantError(t, d.do(t, http.MethodPost, "/v1/events", []byte(big.String()), "Content-Type", "application/x-ndjson"), http.StatusRequestEntityTooLarge)
	if got := storedIDs(t, d.path); !slices.Equal(got, []string{"exact"}) {
		t.Errorf("stored ids = %q; want only the body within the limit", got)
	}
	if got := d.scrape(t)["chainlog_events_accepted_total"]; got != 1 {
		t.Errorf("accepted = %v; want 1", got)
	}
}

func TestRoutes(t *testing.T) {
	t.Parallel()
	d := newDaemon(t, daemonConfig{})
	tests := []struct {
		method, path string
		want         int
		allow        string // for 405, methods the Allow header must list
	}{
		{http.MethodGet, "/", 404, ""},
		{http.MethodGet, "/v1", 404, ""},
		{http.MethodGet, "/v1/events/", 404, ""},
		{http.MethodGet, "/v1/event", 404, ""},
		{http.MethodGet, "/v2/events", 404, ""},
		{http.MethodPost, "/nope", 404, ""},
		{http.MethodDelete, "/v1/events", 405, "GET, HEAD, POST"},
		{http.MethodPut, "/v1/events", 405, "GET, HEAD, POST"},
		{http.MethodPost, "/v1/integrity", 405, "GET, HEAD"},
		{http.MethodPost, "/healthz", 405, "GET, HEAD"},
		{http.MethodDelete, "/metrics", 405, "GET, HEAD"},
		{http.MethodGet, "/healthz", 200, ""},
		{http.MethodHead, "/healthz", 200, ""},
		{http.MethodGet, "/v1/events", 200, ""},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			r := d.do(t, tt.method, tt.path, nil)
			if r.status != tt.want {
				t.Fatalf("%s %s = %s; want %d", tt.method, tt.path, r, tt.want)
			}
			if tt.allow != "" {
				if got := r.header.Get("Allow"); got != tt.allow {
					t.Errorf("Allow = %q; want %q", got, tt.allow)
				}
			}
		})
	}
}

func TestHealthz(t *testing.T) {
	t.Parallel()
	d := newDaemon(t, daemonConfig{})
	r := d.get(t, "/healthz")
	if r.status != http.StatusOK {
		t.Fatalf("GET /healthz = %s; want 200", r)
	}
	var got map[string]any
	decodeJSON(t, r, &got)
	if got["status"] != "ok" || got["queued_events"] != 0.0 {
		t.Errorf("healthz body = %v; want status ok, queued_events 0", got)
	}
	d.srv.Stopping()
	wantError(t, d.get(t, "/healthz"), http.StatusServiceUnavailable)
	// Stopping only changes the health answer: requests in flight are
	// still served until the http.Server shuts down.
	wantPosted(t, d.post(t, ev("late")), postResult{1, 0})
}

// TestQueueFull fills a writer of capacity 2 behind a held commit: the
// third request gets 503 with Retry-After and is not stored; the first two
// are answered once the commit goes through.
func TestQueueFull(t *testing.T) {
	t.Parallel()
	var fake *fakeIngester
	d := newDaemon(t, daemonConfig{Writer: server.WriterConfig{Capacity: 2},
		Wrap: func(st server.Ingester) server.Ingester { fake = newFake(st, true); return fake }})
	var wg sync.WaitGroup
	results := make([]response, 2)
	errs := make([]error, 2)
	post := func(i int) {
		wg.Go(func() {
			results[i], errs[i] = d.tryDo(t.Context(), http.MethodPost, "/v1/events", []byte(ev(fmt.Sprint("q", i))))
		})
	}
	post(0)
	fake.waitEntered(t, 1) // q0 is being committed: it still counts as queued
	post(1)
	waitQueued(t, d.writer, 2, 1)

	r := d.post(t, ev("refused"))
	wantError(t, r, http.StatusServiceUnavailable)
	if got := r.header.Get("Retry-After"); got != "1" {
		t.Errorf("Retry-After = %q; want 1", got)
	}
	r = d.post(t, array(ev("refused-2"), ev("refused-3")))
	wantError(t, r, http.StatusServiceUnavailable)
	// A refused request changed nothing: the queue still holds 2.
	if got := d.writer.Queued(); got != 2 {
		t.Errorf("Queued() after refusals = %d; want 2", got)
	}
	hz := d.get(t, "/healthz")
	var h map[string]any
	decodeJSON(t, hz, &h)
	if h["queued_events"] != 2.0 {
		t.Errorf("healthz queued_events = %v; want 2", h["queued_events"])
	}

	fake.open()
	wg.Wait()
	for i := range results {
		if errs[i] != nil {
			t.Fatalf("request q%d: %v", i, errs[i])
		}
		wantPosted(t, results[i], postResult{1, 0})
	}
	got := storedIDs(t, d.path)
	slices.Sort(got)
	if !slices.Equal(got, []string{"q0", "q1"}) {
		t.Errorf("stored ids = %q; want q0 and q1", got)
	}
	if m := d.scrape(t); m["chainlog_queue_events"] != 0 {
		t.Errorf("chainlog_queue_events = %v after the queue drained; want 0", m["chainlog_queue_events"])
	}
	// Room again.
	wantPosted(t, d.post(t, ev("after")), postResult{1, 0})
}

func TestWriterClosed(t *testing.T) {
	t.Parallel()
	d := newDaemon(t, daemonConfig{})
	wantPosted(t, d.post(t, ev("a")), postResult{1, 0})
	d.writer.Close()
	r := d.post(t, ev("b"))
	b := wantError(t, r, http.StatusServiceUnavailable)
	if got := r.header.Get("Retry-After"); got != "1" {
		t.Errorf("Retry-After = %q; want 1", got)
	}
	if !strings.Contains(b.Error, "shutting down") {
		t.Errorf("error = %q; want it to say the daemon is shutting down", b.Error)
	}
	// Reads still work.
	if r := d.get(t, "/v1/events"); r.status != http.StatusOK {
		t.Errorf("GET /v1/events after the writer closed = %s", r)
	}
	if got := storedIDs(t, d.path); !slices.Equal(got, []string{"a"}) {
		t.Errorf("stored ids = %q; want [a]", got)
	}
}

// TestCommitRefusedByStore checks the status of commits the store
// refuses with one of its domain errors: the table in errors.go, not 500
// for all.
func TestCommitRefusedByStore(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		err  error
		want int
	}{
		{fmt.Errorf("%w: node %q", chainlog.ErrConflict, "node-a"), http.StatusConflict},
		{fmt.Errorf("ingest: %w", chainlog.ErrReadOnly), http.StatusServiceUnavailable},
		{errInjected, http.StatusInternalServerError},
	} {
		var fake *fakeIngester
		d := newDaemon(t, daemonConfig{Wrap: func(st server.Ingester) server.Ingester { fake = newFake(st, false); return fake }})
		fake.failOn(1, tt.err)
		b := wantError(t, d.post(t, ev("a")), tt.want)
		if !strings.Contains(b.Error, tt.err.Error()) {
			t.Errorf("%v: error = %q; want the commit's error", tt.err, b.Error)
		}
		if got := storedIDs(t, d.path); len(got) != 0 {
			t.Errorf("%v: stored ids = %q; want none", tt.err, got)
		}
	}
}

// TestCommitFailure holds one commit while five requests queue behind it,
// then fails the commit that merges them: each of the five gets 500, none
// is stored, and the writer goes on.
func TestCommitFailure(t *testing.T) {
	t.Parallel()
	var fake *fakeIngester
	d := newDaemon(t, daemonConfig{Wrap: func(st server.Ingester) server.Ingester { fake = newFake(st, true); return fake }})
	fake.failOn(2, errInjected)
	var wg sync.WaitGroup
	const n = 5
	results := make([]response, n+1)
	errs := make([]error, n+1)
	post := func(i int, body string) {
		wg.Go(func() { results[i], errs[i] = d.tryDo(t.Context(), http.MethodPost, "/v1/events", []byte(body)) })
	}
	post(0, ev("first"))
	fake.waitEntered(t, 1)
	for i := 1; i <= n; i++ {
		post(i, array(ev(fmt.Sprint("doomed-", i, "a")), ev(fmt.Sprint("doomed-", i, "b"))))
	}
	waitQueued(t, d.writer, 1+2*n, n)
	fake.open()
	wg.Wait()

	if calls := fake.Calls(); len(calls) != 2 || len(calls[1]) != n {
		t.Fatalf("commits = %v; want 2, the second merging all %d requests", calls, n)
	}
	for i := range results {
		if errs[i] != nil {
			t.Fatalf("request %d: %v", i, errs[i])
		}
	}
	wantPosted(t, results[0], postResult{1, 0})
	for i := 1; i <= n; i++ {
		b := wantError(t, results[i], http.StatusInternalServerError)
		if !strings.Contains(b.Error, errInjected.Error()) {
			t.Errorf("request %d error = %q; want the commit's error", i, b.Error)
		}
	}
	if got := storedIDs(t, d.path); !slices.Equal(got, []string{"first"}) {
		t.Errorf("stored ids = %q; want only the first request's", got)
	}
	m := d.scrape(t)
	for name, want := range map[string]float64{
		"chainlog_commit_failures_total":       1,
		"chainlog_events_accepted_total":       1,
		"chainlog_queue_events":                0,
		"chainlog_commit_batch_requests_count": 1, // failed commits are not observed
	} {
		if m[name] != want {
			t.Errorf("%s = %v; want %v", name, m[name], want)
		}
	}
	// The writer goes on, and a retry of a failed request succeeds.
	wantPosted(t, d.post(t, array(ev("doomed-1a"), ev("doomed-1b"))), postResult{2, 0})
	if rep := verifyPath(t, d.path, ""); rep.Status != chainlog.StatusValid || rep.Checked != 3 {
		t.Errorf("verify = %s, %d checked; want valid, 3", rep.Status, rep.Checked)
	}
}

func TestMetrics(t *testing.T) {
	t.Parallel()
	d := newDaemon(t, daemonConfig{})
	wantPosted(t, d.post(t, array(ev("a"), ev("b"), ev("c"))), postResult{3, 0})
	wantPosted(t, d.post(t, array(ev("c"), ev("d"))), postResult{1, 1})
	wantPosted(t, d.post(t, ev("e")), postResult{1, 0})
	wantError(t, d.post(t, array(ev("x"), ev("y", "id", "1"), ev("z", "ts", "-"))), http.StatusBadRequest)
	if r := d.get(t, "/v1/integrity"); r.status != http.StatusOK {
		t.Fatalf("GET /v1/integrity = %s", r)
	}
	m := d.scrape(t)
	for name, want := range map[string]float64{
		"chainlog_events_accepted_total":   5,
		"chainlog_events_duplicate_total":  1,
		"chainlog_events_rejected_total":   3, // the whole refused request
		"chainlog_commit_failures_total":   0,
		"chainlog_commit_batch_events_sum": 6, // every event committed, duplicates too
		// Sequential requests: one commit each.
		"chainlog_commit_batch_events_count":                3,
		"chainlog_commit_batch_requests_count":              3,
		"chainlog_commit_batch_requests_sum":                3,
		`chainlog_commit_batch_requests_bucket{le="1"}`:     3,
		`chainlog_commit_batch_events_bucket{le="1"}`:       1,
		`chainlog_commit_batch_events_bucket{le="4"}`:       3,
		"chainlog_commit_latency_seconds_count":             3,
		"chainlog_queue_events":                             0,
		"chainlog_last_verification_valid":                  1,
		"chainlog_last_verification_checked_events":         5,
		`chainlog_commit_latency_seconds_bucket{le="+Inf"}`: 3,
	} {
		got, ok := m[name]
		if !ok {
			t.Errorf("%s is not exposed", name)
		} else if got != want {
			t.Errorf("%s = %v; want %v", name, got, want)
		}
	}
	if s := m["chainlog_commit_latency_seconds_sum"]; s <= 0 || s > 30 {
		t.Errorf("chainlog_commit_latency_seconds_sum = %v; want a positive duration", s)
	}
	if ts := m["chainlog_last_verification_timestamp_seconds"]; ts < 1.7e9 {
		t.Errorf("chainlog_last_verification_timestamp_seconds = %v; want a Unix time", ts)
	}

	// Tampering, seen by a full check, sets last_verification_valid to 0.
	execSQL(t, rawConn(t, d.path), `UPDATE events SET agent_id = 'mallory' WHERE id = 'b'`)
	var rep chainlog.Report
	decodeJSON(t, d.get(t, "/v1/integrity?full=1"), &rep)
	if rep.Status != chainlog.StatusInvalid {
		t.Fatalf("full check after tampering: status %q; want invalid", rep.Status)
	}
	if got := d.scrape(t)["chainlog_last_verification_valid"]; got != 0 {
		t.Errorf("chainlog_last_verification_valid after an invalid check = %v; want 0", got)
	}
}

// TestMetricsNil: a daemon without metrics serves no /metrics and still
// ingests.
func TestMetricsNil(t *testing.T) {
	t.Parallel()
	st, err := sqlite.Open(t.Context(), t.TempDir()+"/c.db", sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	w := server.NewWriter(st, server.WriterConfig{})
	go w.Run(t.Context())
	defer w.Close()
	srv := server.New(server.Config{Writer: w, Reader: st, Monitor: chainlog.NewMonitor()})
	for _, tt := range []struct {
		method, path, body string
		want               int
	}{
		{http.MethodPost, "/v1/events", ev("a"), 200},
		{http.MethodPost, "/v1/events", "[1]", 400},
		{http.MethodGet, "/v1/integrity", "", 200},
		{http.MethodGet, "/metrics", "", 404},
	} {
		rec := httptestRecord(srv, tt.method, tt.path, tt.body)
		if rec.Code != tt.want {
			t.Errorf("%s %s = %d %s; want %d", tt.method, tt.path, rec.Code, rec.Body, tt.want)
		}
	}
}

// wantReportJSON checks that the daemon's report and verify-integrity's
// have the same JSON.
func wantReportJSON(t *testing.T, got []byte, want *chainlog.Report) {
	t.Helper()
	wb, err := json.Marshal(want)
	if err != nil {
		t.Fatal(err)
	}
	var g, w any
	if err := json.Unmarshal(got, &g); err != nil {
		t.Fatalf("report %q: %v", got, err)
	}
	if err := json.Unmarshal(wb, &w); err != nil {
		t.Fatal(err)
	}
	gb, _ := json.Marshal(g)
	wb, _ = json.Marshal(w)
	if string(gb) != string(wb) {
		t.Errorf("GET /v1/integrity =\n%s\nverify-integrity --json =\n%s", gb, wb)
	}
}
