package console_test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"chainlog"
	"chainlog/daemon"
	"chainlog/internal/chainlogtest"
	"chainlog/sqlite"

	"github.com/chromedp/chromedp"
	"golang.org/x/mod/sumdb/note"
)

// demoNodes are the nodes of the demo store.
var demoNodes = []string{"build-01", "laptop-ana", "ci-runner"}

// demoEvents returns n events over demoNodes: sessions of a prompt, model
// calls with tokens and cost, tool calls and results, over the last days
// before now.
func demoEvents(t testing.TB, n int, now time.Time) []chainlog.Event {
	t.Helper()
	return demoRange(t, 0, n, n, now)
}

// demoRange returns the demo events from through to-1 of n.
func demoRange(t testing.TB, from, to, n int, now time.Time) []chainlog.Event {
	t.Helper()
	models := []string{"claude-sonnet-4", "gpt-5", "gemini-2.5-pro"}
	agents := []string{"main", "reviewer", "tester"}
	types := []string{"prompt", "model_call", "tool_call", "tool_result"}
	out := make([]chainlog.Event, 0, to-from)
	for i := from; i < to; i++ {
		node := demoNodes[i%len(demoNodes)]
		session := fmt.Sprintf("sess-%s-%d", node, i/24)
		typ := types[i%len(types)]
		ts := now.Add(-time.Duration(n-i) * 7 * 24 * time.Hour / time.Duration(n)).UTC().Format("2006-01-02T15:04:05.000Z")
		extra := ""
		if typ == "model_call" {
			extra = fmt.Sprintf(`,"model":%q,"token_count":%d,"cost_usd":%.4f`, models[i%len(models)], 800+i*13%900, 0.002+float64(i%7)*0.0031)
		}
		line := fmt.Sprintf(`{"id":"ev-%05d","agent_type":"claude_code","node_id":%q,"agent_id":%q,"session_id":%q,`+
			`"workspace_id":"/srv/app","event_type":%q,"ts":%q,"data":{"step":%d,"text":"demo %s"}%s}`,
			i, node, agents[i%len(agents)], session, typ, ts, i, typ, extra)
		e, err := chainlog.DecodeEvent([]byte(line), "")
		if err != nil {
			t.Fatalf("demo event %d: %v", i, err)
		}
		out = append(out, e)
	}
	return out
}

// buildStore writes a store of events at a new path.
func buildStore(t testing.TB, events []chainlog.Event) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "chainlog.db")
	st, err := sqlite.Open(context.Background(), path, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for len(events) > 0 {
		n := min(len(events), 5000)
		if _, err := st.Ingest(context.Background(), events[:n]); err != nil {
			t.Fatal(err)
		}
		events = events[n:]
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

// running is a daemon serving the console over a store.
type running struct {
	url      string
	path     string
	verifier note.Verifier
}

// startDaemon runs the daemon with the console on a store of the demo
// events, with checkpoints, until the test ends, and waits for its first
// checkpoint.
func startDaemon(t *testing.T, token string, events int) running {
	t.Helper()
	path := buildStore(t, demoEvents(t, events, time.Now()))
	signer, verifier := chainlogtest.NewKey(t, "console.test/log")
	ctx, cancel := context.WithCancel(context.Background())
	addr := make(chan net.Addr, 1)
	d, err := daemon.New(daemon.Config{Store: path, Listen: "127.0.0.1:0", NodeID: "build-01", Token: token, Console: true,
		MaxBodyBytes: 1 << 20, MaxInflightBytes: 4 << 20, QueueEvents: 1000, BatchEvents: 100,
		VerifyInterval: time.Hour, FullVerifyInterval: time.Hour, CheckpointInterval: 20 * time.Millisecond,
		PublishTimeout: time.Second, ReadTimeout: 10 * time.Second,
		Signer: signer, CheckpointFile: filepath.Join(t.TempDir(), "checkpoints"),
		Ready: func(a net.Addr) { addr <- a }})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("daemon: %v", err)
		}
	})
	var r running
	select {
	case a := <-addr:
		r = running{url: "http://" + a.String(), path: path, verifier: verifier}
	case err := <-done:
		t.Fatalf("daemon: %v", err)
	}
	waitFor(t, func() bool {
		req, _ := http.NewRequest("GET", r.url+"/checkpoint", nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}, "the first checkpoint")
	return r
}

func waitFor(t *testing.T, ok func() bool, what string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// chromium returns the browser to test with: CHAINLOG_CHROMIUM, or
// chromium on PATH; the test skips without one.
func chromium(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("CHAINLOG_CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Skip("no Chromium: set CHAINLOG_CHROMIUM or put chromium on PATH (Debian: apt-get install chromium) to run the browser tests")
	return ""
}

// browser starts a headless Chromium with a new, empty profile, for the
// test; downloads go to the returned folder.
func newBrowser(t *testing.T) context.Context {
	t.Helper()
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromium(t)),
		chromedp.Flag("headless", true), chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun,
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true), chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1200, 900),
	}
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelC := chromedp.NewContext(actx)
	ctx, cancelT := context.WithTimeout(ctx, 90*time.Second)
	t.Cleanup(func() { cancelT(); cancelC(); cancelA() })
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start Chromium: %v", err)
	}
	return ctx
}

// artifacts returns the folder screenshots go to: CHAINLOG_ARTIFACTS, or
// a new temporary folder that outlives the test, so that its path,
// logged, can be opened.
func artifacts(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("CHAINLOG_ARTIFACTS")
	if dir == "" {
		var err error
		if dir, err = os.MkdirTemp("", "chainlog-console-"); err != nil {
			t.Fatal(err)
		}
	}
	dir = filepath.Join(dir, strings.ReplaceAll(t.Name(), "/", "_"))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// screenshot saves the page as dir/name.png and logs its path.
func screenshot(t *testing.T, ctx context.Context, dir, name string) {
	t.Helper()
	buf, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	p := filepath.Join(dir, name+".png")
	if err := os.WriteFile(p, buf, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s", p)
}

// text returns the text of the first element sel matches.
func text(t *testing.T, ctx context.Context, sel string) string {
	t.Helper()
	if err := chromedp.Do(ctx, chromedp.WaitVisible(chromedp.CSS(sel))); err != nil {
		t.Fatalf("wait for %s: %v", sel, err)
	}
	s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
	if err != nil {
		t.Fatalf("text of %s: %v", sel, err)
	}
	return strings.TrimSpace(s)
}

// waitText waits until sel's text is want.
func waitText(t *testing.T, ctx context.Context, sel, want string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	var got string
	for time.Now().Before(deadline) {
		tctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		s, err := chromedp.Run(tctx, chromedp.Text(chromedp.CSS(sel)))
		if err == nil {
			got = s
		}
		cancel()
		if err == nil && strings.TrimSpace(got) == want {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("%s: text %q; want %q", sel, got, want)
}
