package console_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"chainlog"
	"chainlog/internal/chainlogtest"
	"chainlog/sqlite"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	zs "zombiezen.com/go/sqlite"
	"zombiezen.com/go/sqlite/sqlitex"
)

// TestConsoleOverviewAndVerify loads the overview, runs a verification
// from the button (VALID), tampers with one row through SQL and runs it
// again (INVALID, naming the row and linking to it).
func TestConsoleOverviewAndVerify(t *testing.T) {
	ctx := newBrowser(t)
	d := startDaemon(t, "", 120)
	dir := artifacts(t)
	if err := chromedp.Do(ctx, chromedp.Navigate(d.url+"/")); err != nil {
		t.Fatal(err)
	}
	if got, want := text(t, ctx, "#node-count"), "3"; got != want {
		t.Errorf("node count %q; want %q", got, want)
	}
	if got, want := text(t, ctx, "#event-count"), "120"; got != want {
		t.Errorf("event count %q; want %q", got, want)
	}
	screenshot(t, ctx, dir, "overview")

	if err := chromedp.Do(ctx, chromedp.Navigate(d.url+"/verify"), chromedp.Click(chromedp.CSS("#verify"))); err != nil {
		t.Fatal(err)
	}
	waitText(t, ctx, "#result", "VALID")
	screenshot(t, ctx, dir, "verify-valid")
	if err := chromedp.Do(ctx, chromedp.Navigate(d.url+"/")); err != nil {
		t.Fatal(err)
	}
	waitText(t, ctx, "#last-status", "VALID")
	screenshot(t, ctx, dir, "overview-verified")
	if err := chromedp.Do(ctx, chromedp.Navigate(d.url+"/verify")); err != nil {
		t.Fatal(err)
	}

	victim := "ev-00030" // build-01's seq 11 (events go round the three nodes)
	tamper(t, d.path, `UPDATE events SET agent_id = 'mallory' WHERE id = ?1`, victim)
	// By keyboard this time: focus the button and press Enter.
	if err := chromedp.Do(ctx, chromedp.Focus(chromedp.CSS("#verify")), chromedp.KeyEvent("\r")); err != nil {
		t.Fatal(err)
	}
	waitText(t, ctx, "#result", "INVALID")
	if got := text(t, ctx, "#break-event"); got != victim {
		t.Errorf("the report's event %q; want %q", got, victim)
	}
	brk, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("#break")))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"build-01", "11", "Expected", "Found"} {
		if !strings.Contains(brk, want) {
			t.Errorf("the break %q does not name %q", brk, want)
		}
	}
	screenshot(t, ctx, dir, "verify-invalid")
	// The report links to the event.
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS("#break-event")), chromedp.WaitVisible(chromedp.CSS("#identity"))); err != nil {
		t.Fatal(err)
	}
	ident, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("#identity")))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(ident, victim) || !strings.Contains(ident, "mallory") {
		t.Errorf("the linked event's identity %q; want %s with agent mallory", ident, victim)
	}
	screenshot(t, ctx, dir, "event-tampered")
	// The overview now shows the break.
	if err := chromedp.Do(ctx, chromedp.Navigate(d.url+"/")); err != nil {
		t.Fatal(err)
	}
	waitText(t, ctx, "#last-status", "INVALID")
	screenshot(t, ctx, dir, "overview-invalid")
	// On a phone's screen the page is as wide as the screen: the tables
	// scroll in their own boxes.
	for _, page := range []string{"/", "/events", "/event?id=" + victim, "/verify", "/costs"} {
		if err := chromedp.Do(ctx, chromedp.EmulateViewport(390, 844), chromedp.Navigate(d.url+page)); err != nil {
			t.Fatal(err)
		}
		fits, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.documentElement.scrollWidth <= window.innerWidth`))
		if err != nil {
			t.Fatal(err)
		}
		if !fits {
			t.Errorf("%s is wider than a phone's screen", page)
		}
	}
	screenshot(t, ctx, dir, "costs-phone")
}

// tamper changes the store's file through a raw connection, as someone
// with write access to it would, while the daemon runs.
func tamper(t *testing.T, path, query string, args ...any) {
	t.Helper()
	conn, err := zs.OpenConn(path, zs.OpenReadWrite)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if err := sqlitex.Execute(conn, query, &sqlitex.ExecOptions{Args: args}); err != nil {
		t.Fatal(err)
	}
	if conn.Changes() != 1 {
		t.Fatalf("tamper: %d rows changed; want 1", conn.Changes())
	}
}

// TestConsoleEventProof opens an event, walks its chain, downloads its
// proof bundle and checks it as verify-proof does; the bundle is the one
// prove writes.
func TestConsoleEventProof(t *testing.T) {
	ctx := newBrowser(t)
	d := startDaemon(t, "", 30)
	dir := artifacts(t)
	downloads := t.TempDir()
	if err := chromedp.Do(ctx, chromedp.Navigate(d.url+"/events"), chromedp.WaitVisible(chromedp.CSS("#events"))); err != nil {
		t.Fatal(err)
	}
	screenshot(t, ctx, dir, "events")
	id := "ev-00003" // build-01's seq 2: it has a previous and a next event
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`a[href="/event?id=`+id+`"]`)), chromedp.WaitVisible(chromedp.CSS("#identity"))); err != nil {
		t.Fatal(err)
	}
	for sel, want := range map[string]string{"#prev": "/event?id=ev-00000", "#next": "/event?id=ev-00006"} {
		a, err := chromedp.Run(ctx, chromedp.AttributeValue(chromedp.CSS(sel), "href"))
		if err != nil || a.Value != want {
			t.Errorf("%s links to %q (%v); want %q", sel, a.Value, err, want)
		}
	}
	if p := text(t, ctx, "#payload"); !strings.Contains(p, `"step": 3`) {
		t.Errorf("payload %q is not the event's, pretty-printed", p)
	}
	screenshot(t, ctx, dir, "event")

	done := make(chan string, 1)
	_ = chromedp.ListenBrowser(ctx, func(ev any) {
		if e, ok := ev.(*browser.EventDownloadProgress); ok && e.State == browser.DownloadProgressStateCompleted {
			done <- e.GUID
		}
	})
	if _, err := chromedp.CallBrowser(ctx, browser.SetDownloadBehavior, browser.SetDownloadBehaviorParams{
		Behavior: browser.SetDownloadBehaviorBehaviorAllowAndName, DownloadPath: downloads, EventsEnabled: chainlogtest.Ptr(true)}); err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS("#proof"))); err != nil {
		t.Fatal(err)
	}
	var guid string
	select {
	case guid = <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("the proof bundle was not downloaded")
	}
	bundle, err := os.ReadFile(filepath.Join(downloads, guid))
	if err != nil {
		t.Fatal(err)
	}
	b, err := chainlog.ParseProofBundle(bundle)
	if err != nil {
		t.Fatalf("the downloaded bundle: %v", err)
	}
	cp, err := chainlog.VerifyProofBundle(b, d.verifier)
	if err != nil {
		t.Fatalf("verify-proof: %v", err)
	}
	if b.Event.ID != id || cp.Size < 30 {
		t.Errorf("the bundle proves %q in a tree of %d; want %q in a tree of at least 30", b.Event.ID, cp.Size, id)
	}
	// prove's bundle for the same checkpoint is the same file.
	st, err := sqlite.OpenReadOnly(context.Background(), d.path)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	want, err := chainlog.ProveBundle(context.Background(), st, id, b.Checkpoint)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(bundle, want) {
		t.Errorf("the downloaded bundle differs from prove's:\n%s\nwant:\n%s", bundle, want)
	}
	// A tampered bundle fails the same check.
	bad := bytes.Replace(bundle, []byte("index "), []byte("index 1"), 1)
	if b2, err := chainlog.ParseProofBundle(bad); err == nil {
		if _, err := chainlog.VerifyProofBundle(b2, d.verifier); err == nil {
			t.Error("a bundle with another index verified")
		}
	}
	// The session timeline of the event sums its steps.
	if err := chromedp.Do(ctx, chromedp.Navigate(d.url+"/session?id=sess-build-01-0"), chromedp.WaitVisible(chromedp.CSS("#timeline"))); err != nil {
		t.Fatal(err)
	}
	if got := text(t, ctx, "#session-tokens"); got == "0" {
		t.Errorf("session tokens %q; want the model calls' sum", got)
	}
	screenshot(t, ctx, dir, "session")
	if err := chromedp.Do(ctx, chromedp.Navigate(d.url+"/costs"), chromedp.WaitVisible(chromedp.CSS("svg.chart rect"))); err != nil {
		t.Fatal(err)
	}
	screenshot(t, ctx, dir, "costs")
}

// TestConsoleLogin: with --token, a page without the session is 401 with
// the login page; logging in sets an HttpOnly, SameSite=Strict cookie and
// shows the overview; the token is never in a URL.
func TestConsoleLogin(t *testing.T) {
	const token = "s3cret-token-for-the-console"
	d := startDaemon(t, token, 12)
	for _, path := range []string{"/", "/events", "/verify"} {
		resp, err := http.Get(d.url + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized || !bytes.Contains(body, []byte(`id="login"`)) {
			t.Errorf("GET %s without a session: %d, login page %v; want 401 and the login page", path, resp.StatusCode, bytes.Contains(body, []byte(`id="login"`)))
		}
	}
	// The API keeps its bearer rule: the console's login does not open it.
	for _, path := range []string{"/v1/events", "/v1/integrity", "/checkpoint"} {
		resp, err := http.Get(d.url + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized || resp.Header.Get("WWW-Authenticate") == "" {
			t.Errorf("GET %s without the token: %d; want 401 with WWW-Authenticate", path, resp.StatusCode)
		}
	}
	// The verify button posts with a CSRF token: a post without is refused.
	req, _ := http.NewRequest("POST", d.url+"/verify", strings.NewReader("csrf=x"))
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("POST /verify with a wrong CSRF token: %d; want 403", resp.StatusCode)
	}

	ctx := newBrowser(t)
	dir := artifacts(t)
	if err := chromedp.Do(ctx, chromedp.Navigate(d.url+"/events"), chromedp.WaitVisible(chromedp.CSS("#login"))); err != nil {
		t.Fatal(err)
	}
	screenshot(t, ctx, dir, "login")
	if err := chromedp.Do(ctx, chromedp.SendKeys(chromedp.CSS("#token"), "wrong"), chromedp.Submit(chromedp.CSS("#token")),
		chromedp.WaitVisible(chromedp.CSS(".error"))); err != nil {
		t.Fatal(err)
	}
	screenshot(t, ctx, dir, "login-refused")
	if err := chromedp.Do(ctx, chromedp.SendKeys(chromedp.CSS("#token"), token), chromedp.Submit(chromedp.CSS("#token")),
		chromedp.WaitVisible(chromedp.CSS("#events"))); err != nil {
		t.Fatal(err)
	}
	loc, err := chromedp.Run(ctx, chromedp.Location())
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(loc, token) || !strings.HasSuffix(loc, "/events") {
		t.Errorf("after login the page is %q; want /events, without the token", loc)
	}
	if err := chromedp.Do(ctx, chromedp.Navigate(d.url+"/")); err != nil {
		t.Fatal(err)
	}
	if got := text(t, ctx, "#node-count"); got != "3" {
		t.Errorf("node count %q after login; want 3", got)
	}
	screenshot(t, ctx, dir, "overview")
	res, err := chromedp.Call(ctx, network.GetCookies, network.GetCookiesParams{})
	if err != nil {
		t.Fatal(err)
	}
	cookies := res.Cookies
	if len(cookies) != 1 || !cookies[0].HTTPOnly || cookies[0].SameSite != network.CookieSameSiteStrict || strings.Contains(cookies[0].Value, token) {
		for _, c := range cookies {
			t.Logf("cookie %s HttpOnly=%v SameSite=%v", c.Name, c.HTTPOnly, c.SameSite)
		}
		t.Errorf("want one HttpOnly, SameSite=Strict session cookie that does not hold the token")
	}
	// The verify button works with the session (its form carries the CSRF
	// token).
	if err := chromedp.Do(ctx, chromedp.Navigate(d.url+"/verify"), chromedp.Click(chromedp.CSS("#verify"))); err != nil {
		t.Fatal(err)
	}
	waitText(t, ctx, "#result", "VALID")
	screenshot(t, ctx, dir, "verify")
}
