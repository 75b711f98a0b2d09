package console_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"chainlog"
	"chainlog/console"
	"chainlog/sqlite"
)

// newConsole serves the console over a read-only store of the demo
// events, with a verification that runs chainlog.VerifyStore.
func newConsole(t *testing.T, path, token string) *httptest.Server {
	t.Helper()
	st, err := sqlite.OpenReadOnly(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	c, err := console.New(console.Config{Store: st, Token: token, Window: 10,
		Verify: func(ctx context.Context, progress func(int64)) (*chainlog.Report, error) {
			return chainlog.VerifyStore(ctx, st, chainlog.VerifyOptions{Progress: progress})
		}})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(c)
	t.Cleanup(srv.Close)
	return srv
}

func get(t *testing.T, u string) (int, string) {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(body)
}

var eventLink = regexp.MustCompile(`href="/event\?id=(ev-\d+)"`)
var nextLink = regexp.MustCompile(`href="(/events\?[^"]*)" rel="next"`)

// pageIDs returns the events a page lists and its next page's URL.
func pageIDs(body string) (ids []string, next string) {
	for _, m := range eventLink.FindAllStringSubmatch(body, -1) {
		ids = append(ids, m[1])
	}
	if m := nextLink.FindStringSubmatch(body); m != nil {
		next = strings.ReplaceAll(m[1], "&amp;", "&")
	}
	return ids, next
}

// TestEventsPages follows the next links of filtered and unfiltered event
// lists: every match once, in commit order, each page reading at most a
// window of rows.
func TestEventsPages(t *testing.T) {
	path := buildStore(t, demoEvents(t, 90, time.Now()))
	srv := newConsole(t, path, "")
	for _, tc := range []struct {
		name  string
		query string
		match func(i int) bool
	}{
		{"all", "", func(int) bool { return true }},
		{"node", "node=laptop-ana", func(i int) bool { return i%3 == 1 }},
		{"node and type", "node=build-01&type=prompt", func(i int) bool { return i%3 == 0 && i%4 == 0 }},
		{"agent", "agent=tester", func(i int) bool { return i%3 == 2 }},
		{"session", "session=sess-ci-runner-1", func(i int) bool { return i%3 == 2 && i/24 == 1 }},
		{"none", "agent=nobody", func(int) bool { return false }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var want []string
			for i := range 90 {
				if tc.match(i) {
					want = append(want, demoEvents(t, 90, time.Now())[i].ID)
				}
			}
			u := srv.URL + "/events?" + tc.query
			var got []string
			pages := 0
			for u != "" {
				code, body := get(t, u)
				if code != http.StatusOK {
					t.Fatalf("GET %s: %d", u, code)
				}
				ids, next := pageIDs(body)
				if tc.query != "" && len(ids) > 10 {
					t.Fatalf("a page of a filter listed %d events: more than its window of 10 rows", len(ids))
				}
				got = append(got, ids...)
				if pages++; pages > 100 {
					t.Fatal("no end to the pages")
				}
				u = ""
				if next != "" {
					u = srv.URL + next
				}
			}
			if strings.Join(got, ",") != strings.Join(want, ",") {
				t.Errorf("listed %v; want %v", got, want)
			}
		})
	}
}

// TestPrunedEventsAreRecords: the overview counts the pruned events as
// prune records, and a pruned event's husk is not shown as an event.
func TestPrunedEventsAreRecords(t *testing.T) {
	now := time.Now()
	path := buildStore(t, demoEvents(t, 30, now))
	st, err := sqlite.Open(context.Background(), path, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	cuts, err := st.PlanPrune(context.Background(), now.Add(-5*24*time.Hour), "build-01")
	if err != nil || len(cuts) != 1 {
		t.Fatalf("plan prune: %v, %d cuts", err, len(cuts))
	}
	if _, err := st.Prune(context.Background(), chainlog.PruneRequest{Cuts: cuts, Before: now.Add(-5 * 24 * time.Hour),
		Reason: "retention", Actor: "ops"}); err != nil {
		t.Fatal(err)
	}
	st.Close()
	pruned := cuts[0].LastSeq
	srv := newConsole(t, path, "")
	_, body := get(t, srv.URL+"/")
	if want := "Pruned: " + chainlog.Thousands(pruned) + " events"; !strings.Contains(body, want) {
		t.Errorf("the overview does not say %q", want)
	}
	if !strings.Contains(body, `id="event-count">`+chainlog.Thousands(30-pruned)+`<`) {
		t.Errorf("the overview's event count is not %d", 30-pruned)
	}
	code, _ := get(t, srv.URL+"/event?id=ev-00000")
	if code != http.StatusGone {
		t.Errorf("the pruned event's page: %d; want 410", code)
	}
	_, body = get(t, srv.URL+"/events?node=build-01")
	if ids, _ := pageIDs(body); len(ids) > 0 && ids[0] == "ev-00000" {
		t.Error("the events page lists a husk")
	}
	// The first surviving event has no previous one: it was pruned.
	_, body = get(t, srv.URL+"/event?id=ev-"+pad(3*pruned))
	if !strings.Contains(body, "Previous events pruned") || strings.Contains(body, `id="prev"`) {
		t.Error("the first surviving event does not say its predecessors were pruned")
	}
}

func pad(n int64) string { return fmt.Sprintf("%05d", n) }

// TestVerifyNeedsCSRF: the verify button's post needs the page's CSRF
// token, and is refused from another site.
func TestVerifyNeedsCSRF(t *testing.T) {
	path := buildStore(t, demoEvents(t, 9, time.Now()))
	srv := newConsole(t, path, "")
	_, body := get(t, srv.URL+"/verify")
	m := regexp.MustCompile(`name="csrf" value="([0-9a-f]+)"`).FindStringSubmatch(body)
	if m == nil {
		t.Fatal("the verify page has no CSRF token")
	}
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	for _, tc := range []struct {
		name, csrf, site string
		want             int
	}{
		{"no token", "", "", http.StatusForbidden},
		{"wrong token", strings.Repeat("0", 64), "", http.StatusForbidden},
		{"cross-site", m[1], "cross-site", http.StatusForbidden},
		{"the page's token", m[1], "same-origin", http.StatusSeeOther},
	} {
		req, _ := http.NewRequest("POST", srv.URL+"/verify", strings.NewReader(url.Values{"csrf": {tc.csrf}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if tc.site != "" {
			req.Header.Set("Sec-Fetch-Site", tc.site)
		}
		resp, err := noRedirect.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.want {
			t.Errorf("%s: %d; want %d", tc.name, resp.StatusCode, tc.want)
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, body = get(t, srv.URL+"/verify")
		if strings.Contains(body, `id="result"`) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the verification did not finish")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if !strings.Contains(body, `id="result" class="status-valid">VALID<`) {
		t.Error("the report is not VALID")
	}
}

// TestLoginRedirectsOnlyHere: a login never sends the browser to another
// host.
func TestLoginRedirectsOnlyHere(t *testing.T) {
	path := buildStore(t, demoEvents(t, 3, time.Now()))
	srv := newConsole(t, path, "tok")
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	for next, want := range map[string]string{"/events?node=a": "/events?node=a", "//evil.example/": "/", "https://evil.example/": "/", `/\evil`: "/"} {
		resp, err := noRedirect.PostForm(srv.URL+"/login", url.Values{"token": {"tok"}, "next": {next}})
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if got := resp.Header.Get("Location"); resp.StatusCode != http.StatusSeeOther || got != want {
			t.Errorf("login with next %q: %d to %q; want 303 to %q", next, resp.StatusCode, got, want)
		}
	}
}

// TestSessionWindows: a session's timeline reads windows of rows; from an
// event's page it starts just before the event, and the later and earlier
// links reach every step once.
func TestSessionWindows(t *testing.T) {
	path := buildStore(t, demoEvents(t, 600, time.Now()))
	srv := newConsole(t, path, "") // windows of 50 rows for a session
	stepLink := regexp.MustCompile(`<a href="/event\?id=(ev-\d+)">`)
	var want []string
	for i := range 600 {
		if i%3 == 2 && i/24 == 12 { // sess-ci-runner-12: ev-00290 to ev-00311
			want = append(want, fmt.Sprintf("ev-%05d", i))
		}
	}
	_, body := get(t, srv.URL+"/event?id=ev-00299")
	m := regexp.MustCompile(`href="(/session\?[^"]*)" id="session"`).FindStringSubmatch(body)
	if m == nil {
		t.Fatal("the event's page has no session link")
	}
	u := srv.URL + strings.ReplaceAll(m[1], "&amp;", "&")
	var got []string
	for range 20 {
		_, body = get(t, u)
		for _, m := range stepLink.FindAllStringSubmatch(body, -1) {
			got = append(got, m[1])
		}
		n := regexp.MustCompile(`href="(/session\?[^"]*)" rel="next"`).FindStringSubmatch(body)
		if n == nil {
			break
		}
		u = srv.URL + strings.ReplaceAll(n[1], "&amp;", "&")
	}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("the timeline from the event's link listed %v; want %v", got, want)
	}
}
