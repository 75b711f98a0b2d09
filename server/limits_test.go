package server_test

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"chainlog"
	"chainlog/server"
)

// padded is an event whose data holds n bytes of padding.
func padded(id string, n int) string {
	return ev(id, "data", fmt.Sprintf(`{"pad":%q}`, strings.Repeat("x", n)))
}

// TestInflightBudget: requests whose bodies would take the daemon past its
// in-flight budget get 503 with Retry-After, whether their length is given
// in advance or not, and nothing of theirs is stored; once the bodies held
// are let go, the same requests succeed.
func TestInflightBudget(t *testing.T) {
	t.Parallel()
	var fake *fakeIngester
	const body = 40 << 10
	d := newDaemon(t, daemonConfig{MaxBodyBytes: 64 << 10, MaxInflightBytes: 100 << 10,
		Wrap: func(next server.Ingester) server.Ingester { fake = newFake(next, true); return fake }})
	type answer struct {
		r   response
		err error
	}
	held := make(chan answer, 2)
	for i := range 2 {
		go func() {
			r, err := d.tryDo(t.Context(), http.MethodPost, "/v1/events", []byte(padded(fmt.Sprint("held-", i), body)),
				"Content-Type", "application/json")
			held <- answer{r, err}
		}()
	}
	// Both requests are read and waiting for their commit: they hold
	// 80 KiB of the 100 KiB budget.
	fake.waitEntered(t, 1)
	waitFor(t, "both requests to be queued", func() bool { return d.writer.Queued() == 2 })
	over := padded("over", body)
	r := d.post(t, over)
	if r.status != http.StatusServiceUnavailable || r.header.Get("Retry-After") == "" {
		t.Fatalf("POST over the budget = %s (Retry-After %q); want 503 with Retry-After", r, r.header.Get("Retry-After"))
	}
	if !strings.Contains(string(r.body), "102400") {
		t.Errorf("503 body %s; want it to name the budget", r.body)
	}
	// Without a Content-Length (chunked), the budget is taken as the body
	// is read.
	chunked := func(id string) response {
		req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, d.ts.URL+"/v1/events",
			io.MultiReader(strings.NewReader(padded(id, body))))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/json")
		resp, err := d.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return response{status: resp.StatusCode, header: resp.Header, body: b}
	}
	if r := chunked("chunked-over"); r.status != http.StatusServiceUnavailable || r.header.Get("Retry-After") == "" {
		t.Fatalf("chunked POST over the budget = %s; want 503 with Retry-After", r)
	}
	// A page of events takes its bound (here the whole budget) too.
	if r := d.get(t, "/v1/events"); r.status != http.StatusServiceUnavailable || r.header.Get("Retry-After") == "" {
		t.Fatalf("GET /v1/events over the budget = %s; want 503 with Retry-After", r)
	}
	// A small request still fits.
	small := make(chan answer, 1)
	go func() {
		r, err := d.tryDo(t.Context(), http.MethodPost, "/v1/events", []byte(ev("small")), "Content-Type", "application/json")
		small <- answer{r, err}
	}()
	fake.open()
	for range 2 {
		a := <-held
		if a.err != nil {
			t.Fatal(a.err)
		}
		wantPosted(t, a.r, postResult{1, 0})
	}
	a := <-small
	if a.err != nil {
		t.Fatal(a.err)
	}
	wantPosted(t, a.r, postResult{1, 0})
	// The budget is given back: the refused requests now succeed.
	wantPosted(t, d.post(t, over), postResult{1, 0})
	wantPosted(t, chunked("chunked-over"), postResult{1, 0})
	// (The page bound is a quarter of the budget: one 40 KiB event a page.)
	if p := getPage(t, d, ""); len(p.Events) != 1 {
		t.Errorf("GET /v1/events after the budget was given back: %d events; want 1", len(p.Events))
	}
	got := storedIDs(t, d.path)
	slices.Sort(got)
	if want := []string{"chunked-over", "held-0", "held-1", "over", "small"}; !slices.Equal(got, want) {
		t.Errorf("stored %q; want %q", got, want)
	}
}

func gzipped(t *testing.T, s string) []byte {
	t.Helper()
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	if _, err := io.WriteString(zw, s); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// TestGzipBody: a gzip body is decoded, the body limit applies to the
// decompressed bytes, and other encodings get 415 naming them.
func TestGzipBody(t *testing.T) {
	t.Parallel()
	const limit = 64 << 10
	d := newDaemon(t, daemonConfig{MaxBodyBytes: limit})
	nd := ev("gz-1") + "\n" + ev("gz-2") + "\n"
	r := d.do(t, http.MethodPost, "/v1/events", gzipped(t, nd), "Content-Type", "application/x-ndjson", "Content-Encoding", "gzip")
	wantPosted(t, r, postResult{2, 0})
	r = d.do(t, http.MethodPost, "/v1/events", gzipped(t, array(ev("gz-3"))), "Content-Type", "application/json", "Content-Encoding", "GZIP")
	wantPosted(t, r, postResult{1, 0})
	// A bomb: a few hundred compressed bytes inflating far past the limit.
	bomb := gzipped(t, ev("bomb")+strings.Repeat(" ", 100*limit))
	if len(bomb) >= limit {
		t.Fatalf("the bomb is %d bytes compressed", len(bomb))
	}
	b := wantError(t, d.do(t, http.MethodPost, "/v1/events", bomb, "Content-Type", "application/json", "Content-Encoding", "gzip"),
		http.StatusRequestEntityTooLarge)
	if !strings.Contains(b.Error, strconv.Itoa(limit)) {
		t.Errorf("413 error = %q; want the limit", b.Error)
	}
	// Not gzip at all.
	b = wantError(t, d.do(t, http.MethodPost, "/v1/events", []byte(ev("plain")), "Content-Type", "application/json", "Content-Encoding", "gzip"),
		http.StatusBadRequest)
	if !strings.Contains(b.Error, "gzip") {
		t.Errorf("400 error = %q; want it to say the gzip body is bad", b.Error)
	}
	// Cut short.
	whole := gzipped(t, ev("cut"))
	wantError(t, d.do(t, http.MethodPost, "/v1/events", whole[:len(whole)-6], "Content-Type", "application/json", "Content-Encoding", "gzip"),
		http.StatusBadRequest)
	for _, enc := range []string{"br", "deflate", "zstd", "gzip, br"} {
		b := wantError(t, d.do(t, http.MethodPost, "/v1/events", []byte(ev("enc")), "Content-Type", "application/json", "Content-Encoding", enc),
			http.StatusUnsupportedMediaType)
		if !strings.Contains(b.Error, strconv.Quote(enc)) || !strings.Contains(b.Error, "gzip") {
			t.Errorf("415 error for %q = %q; want it to name the encoding and gzip", enc, b.Error)
		}
	}
	got := storedIDs(t, d.path)
	if want := []string{"gz-1", "gz-2", "gz-3"}; !slices.Equal(got, want) {
		t.Errorf("stored %q; want %q", got, want)
	}
}

var exportedRe = regexp.MustCompile(`exported as a (\d+)-byte line`)

// TestEventExportLimit: the daemon refuses an event whose exported line
// would be longer than ingest reads by default, and one just within it can
// be exported and read back with the default limit.
func TestEventExportLimit(t *testing.T) {
	t.Parallel()
	d := newDaemon(t, daemonConfig{MaxBodyBytes: 4 << 20})
	limit := chainlog.DefaultMaxLineBytes
	for _, ct := range []string{"application/json", "application/x-ndjson"} {
		r := d.do(t, http.MethodPost, "/v1/events", []byte(padded("small-"+ct, 10)+"\n"+padded("too-big-"+ct, limit)+"\n"), "Content-Type", ct)
		if r.status != http.StatusBadRequest {
			t.Fatalf("%s: an event over the limit = %s; want 400", ct, r)
		}
		var body struct {
			Errors []server.EventError `json:"errors"`
		}
		decodeJSON(t, r, &body)
		if len(body.Errors) != 1 || body.Errors[0].Index != 1 || !strings.Contains(body.Errors[0].Error, `"too-big-`+ct+`"`) ||
			!strings.Contains(body.Errors[0].Error, strconv.Itoa(limit)) {
			t.Fatalf("%s: errors = %+v; want event 1 named, with the limit", ct, body.Errors)
		}
	}
	// Find the size of the largest event that is accepted.
	r := d.post(t, padded("probe", limit)) // an id as long as the next
	m := exportedRe.FindSubmatch(r.body)
	if m == nil {
		t.Fatalf("probe: %s; want the exported size", r)
	}
	n, _ := strconv.Atoi(string(m[1]))
	pad := limit - (n - limit)
	wantError(t, d.post(t, padded("edge0", pad+1)), http.StatusBadRequest)
	wantPosted(t, d.post(t, padded("edge0", pad)), postResult{1, 0})
	if got := storedIDs(t, d.path); !slices.Equal(got, []string{"edge0"}) {
		t.Fatalf("stored %q; want only the event within the limit", got)
	}
	// Export it as export does, and read it back with the default limit.
	var out bytes.Buffer
	enc := json.NewEncoder(&out)
	enc.SetEscapeHTML(false)
	if err := d.ro.Export(t.Context(), "", func(e *chainlog.StoredEvent) error { return enc.Encode(e) }); err != nil {
		t.Fatal(err)
	}
	line, _, _ := bytes.Cut(out.Bytes(), []byte("\n"))
	if len(line) > limit || len(line) < limit-200 {
		t.Errorf("exported line of %d bytes; want it at most %d, and near it", len(line), limit)
	}
	rd := chainlog.NewReader(&out, 0, "")
	if e, err := rd.Next(); err != nil || e.ID != "edge0" {
		t.Errorf("reading the export back with the default limit: %v, %v", e.ID, err)
	}
}

// TestGetEventsPageBytes: a page ends at its byte bound as well as at its
// row limit, holds at least one event however large, and the cursor
// continues where it stopped.
func TestGetEventsPageBytes(t *testing.T) {
	t.Parallel()
	const pageBytes = 10 << 10
	d := newDaemon(t, daemonConfig{PageBytes: pageBytes})
	var want []string
	var objs []string
	for i := range 20 {
		id := fmt.Sprintf("e%02d", i)
		size := 3 << 10
		if i == 4 {
			size = 3 * pageBytes // alone over the bound
		}
		objs = append(objs, padded(id, size))
		want = append(want, id)
	}
	wantPosted(t, d.post(t, array(objs...)), postResult{20, 0})
	var got []string
	var sizes []int
	after := ""
	for pages := 0; ; pages++ {
		if pages > 40 {
			t.Fatal("pagination does not end")
		}
		p := getPage(t, d, "limit=1000"+after)
		if len(p.Events) == 0 {
			t.Fatalf("page %d is empty", pages)
		}
		got = append(got, recordIDs(p.Events)...)
		sizes = append(sizes, len(p.Events))
		if p.Next == nil {
			break
		}
		after = "&after=" + url.QueryEscape(*p.Next)
	}
	if !slices.Equal(got, want) {
		t.Fatalf("ids over pages = %q; want %q", got, want)
	}
	// Four 3 KiB events (with their other columns) reach 10 KiB; the large
	// one is a page of its own.
	if wantSizes := []int{4, 1, 4, 4, 4, 3}; !slices.Equal(sizes, wantSizes) {
		t.Errorf("page sizes %v; want %v", sizes, wantSizes)
	}
	// The row limit still applies within the byte bound.
	if p := getPage(t, d, "limit=2"); len(p.Events) != 2 || p.Next == nil {
		t.Errorf("limit=2: %d events, next %v", len(p.Events), p.Next)
	}
}
