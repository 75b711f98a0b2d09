package main

// Process-level tests of "chainlog serve": the chainlog command that
// TestMain installs (this test binary, with -race when the tests run under
// -race, so that the daemon's own goroutines are checked too) runs as a
// subprocess on loopback addresses only. Every wait is bounded in time and every loop in
// count.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"chainlog"

	"zombiezen.com/go/sqlite"
	"zombiezen.com/go/sqlite/sqlitex"
)

// chainlogBinary is the chainlog command that TestMain installs in $PATH:
// a copy of this test binary, which acts as chainlog under that name. It is
// built with -race when the tests are, so that the daemon's own goroutines
// are checked too.
func chainlogBinary(t *testing.T) string {
	t.Helper()
	bin, err := exec.LookPath("chainlog")
	if err != nil {
		t.Fatalf("no chainlog command in $PATH (TestMain installs one): %v", err)
	}
	return bin
}

// serveEnv is the environment of the chainlog processes: an empty HOME (so
// that no ~/.chainlog/signer.key is picked up) and the given variables.
func serveEnv(t *testing.T, vars ...string) []string {
	t.Helper()
	return append([]string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + t.TempDir(),
		// A -race daemon would otherwise sleep 1s at exit.
		"GORACE=atexit_sleep_ms=10",
	}, vars...)
}

// servingLine finds the listening address in the daemon's first log line,
// text or JSON.
var servingLine = regexp.MustCompile(`chainlog serving"?[ ,]"?addr"?[=:]"?([^"\s]+)`)

// daemonLog collects a daemon's standard error and reports its listening
// address once it is logged.
type daemonLog struct {
	mu   sync.Mutex
	buf  bytes.Buffer
	addr chan string
	sent bool
}

func (l *daemonLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf.Write(p)
	if !l.sent {
		if m := servingLine.FindSubmatch(l.buf.Bytes()); m != nil {
			l.sent = true
			l.addr <- string(m[1])
		}
	}
	return len(p), nil
}

func (l *daemonLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// serveProc is a running "chainlog serve" process.
type serveProc struct {
	t      *testing.T
	cmd    *exec.Cmd
	url    string // http://127.0.0.1:PORT
	port   string
	token  string
	log    *daemonLog
	stdout bytes.Buffer
	exited chan struct{}
	err    error // from Wait, once exited is closed
}

// startDaemon runs "chainlog serve args..." and returns once it answers
// /healthz (with token, when not empty).
func startDaemon(t *testing.T, bin string, env []string, token string, args ...string) *serveProc {
	t.Helper()
	d := startDaemonNoWait(t, bin, env, args...)
	d.token = token
	var addr string
	select {
	case addr = <-d.log.addr:
	case <-d.exited:
		t.Fatalf("chainlog serve %q exited before listening: %v\n%s", args, d.err, d.log)
	case <-time.After(30 * time.Second):
		t.Fatalf("chainlog serve %q: no \"chainlog serving\" line in 30s\n%s", args, d.log)
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatalf("logged address %q: %v", addr, err)
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		// A wildcard address: talk to it over loopback only.
		host = "127.0.0.1"
	}
	d.port = port
	d.url = "http://" + net.JoinHostPort(host, port)
	d.waitHealthy()
	return d
}

// startDaemonNoWait starts the process without waiting for it to listen.
func startDaemonNoWait(t *testing.T, bin string, env []string, args ...string) *serveProc {
	t.Helper()
	d := &serveProc{t: t, log: &daemonLog{addr: make(chan string, 1)}, exited: make(chan struct{})}
	d.cmd = exec.Command(bin, append([]string{"serve"}, args...)...)
	d.cmd.Env = env
	d.cmd.Stderr = d.log
	d.cmd.Stdout = &d.stdout
	if err := d.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		d.err = d.cmd.Wait()
		close(d.exited)
	}()
	t.Cleanup(func() {
		select {
		case <-d.exited:
		default:
			d.cmd.Process.Kill()
			select {
			case <-d.exited:
			case <-time.After(10 * time.Second):
			}
		}
	})
	return d
}

func (d *serveProc) waitHealthy() {
	d.t.Helper()
	client := &http.Client{Timeout: 2 * time.Second}
	defer client.CloseIdleConnections()
	deadline := time.Now().Add(15 * time.Second)
	for i := 0; ; i++ {
		req, _ := http.NewRequest(http.MethodGet, d.url+"/healthz", nil)
		if d.token != "" {
			req.Header.Set("Authorization", "Bearer "+d.token)
		}
		resp, err := client.Do(req)
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		if time.Now().After(deadline) || i > 1000 {
			d.t.Fatalf("%s/healthz not ready: %v\n%s", d.url, err, d.log)
		}
		select {
		case <-d.exited:
			d.t.Fatalf("chainlog serve exited: %v\n%s", d.err, d.log)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// wait waits for the process to exit and returns its exit code (-1 when
// killed by a signal).
func (d *serveProc) wait(timeout time.Duration) int {
	d.t.Helper()
	select {
	case <-d.exited:
	case <-time.After(timeout):
		d.cmd.Process.Kill()
		<-d.exited
		d.t.Fatalf("chainlog serve did not exit within %v\n%s", timeout, d.log)
	}
	var ee *exec.ExitError
	switch {
	case d.err == nil:
		return 0
	case errors.As(d.err, &ee):
		return ee.ExitCode()
	}
	d.t.Fatalf("chainlog serve: %v", d.err)
	return -1
}

// stop sends SIGTERM and requires a clean exit.
func (d *serveProc) stop() {
	d.t.Helper()
	if err := d.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		d.t.Fatal(err)
	}
	if code := d.wait(45 * time.Second); code != 0 {
		d.t.Fatalf("chainlog serve exited %d after SIGTERM, want 0\n%s", code, d.log)
	}
	d.checkLog()
}

// kill sends SIGKILL and waits for the process to be gone.
func (d *serveProc) kill() {
	d.t.Helper()
	if err := d.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		d.t.Fatal(err)
	}
	if code := d.wait(15 * time.Second); code != -1 {
		d.t.Fatalf("chainlog serve exited %d, want killed by SIGKILL\n%s", code, d.log)
	}
	d.checkLog()
}

// checkLog fails on a panic or a data race report.
func (d *serveProc) checkLog() {
	d.t.Helper()
	log := d.log.String()
	for _, bad := range []string{"panic: ", "WARNING: DATA RACE", "fatal error: ", "level=ERROR", `"level":"ERROR"`} {
		if strings.Contains(log, bad) {
			d.t.Fatalf("chainlog serve log has %q:\n%s", bad, log)
		}
	}
	if d.stdout.Len() != 0 {
		d.t.Errorf("chainlog serve wrote to stdout: %q", d.stdout.String())
	}
}

// procResult is what one run of the chainlog binary did.
type procResult struct {
	code           int
	stdout, stderr string
}

// runChainlog runs the binary to completion, within a minute.
func runChainlog(t *testing.T, bin string, env []string, args ...string) procResult {
	t.Helper()
	res, err := runChainlogErr(bin, env, args...)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// runChainlogErr is runChainlog for goroutines other than the test's.
func runChainlogErr(bin string, env []string, args ...string) (procResult, error) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = env
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	res := procResult{stdout: stdout.String(), stderr: stderr.String()}
	var ee *exec.ExitError
	switch {
	case ctx.Err() != nil:
		return res, fmt.Errorf("chainlog %q did not finish in a minute\n%s", args, res.stderr)
	case errors.As(err, &ee):
		res.code = ee.ExitCode()
	case err != nil:
		return res, fmt.Errorf("run chainlog %q: %v", args, err)
	}
	if strings.Contains(res.stderr, "panic: ") || strings.Contains(res.stderr, "WARNING: DATA RACE") {
		return res, fmt.Errorf("chainlog %q:\n%s", args, res.stderr)
	}
	return res, nil
}

// makeSignerKey runs keygen and returns the signer key file and the
// verifier key file.
func makeSignerKey(t *testing.T, bin, dir string) (skey, vkey string) {
	t.Helper()
	skey = filepath.Join(dir, "keys", "signer.key")
	r := runChainlog(t, bin, serveEnv(t), "keygen", "--origin", "test/serve", "--out", skey)
	if r.code != 0 {
		t.Fatalf("keygen: exit %d\n%s", r.code, r.stderr)
	}
	vkey = filepath.Join(dir, "verifier.key")
	if err := os.WriteFile(vkey, []byte(r.stdout), 0o644); err != nil {
		t.Fatal(err)
	}
	return skey, vkey
}

// verifyReport runs verify-integrity --json with extra arguments and
// returns its exit code and report.
func verifyReport(t *testing.T, bin string, env []string, store string, args ...string) (int, *chainlog.Report, procResult) {
	t.Helper()
	r := runChainlog(t, bin, env, append([]string{"verify-integrity", "--json", "--store", store}, args...)...)
	var rep chainlog.Report
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
		t.Fatalf("verify-integrity --json: exit %d, %v\nstdout:\n%s\nstderr:\n%s", r.code, err, r.stdout, r.stderr)
	}
	return r.code, &rep, r
}

// requireValid requires verify-integrity --json (with args) to exit 0 with
// status valid, and returns the report.
func requireValid(t *testing.T, bin string, env []string, store string, args ...string) *chainlog.Report {
	t.Helper()
	code, rep, r := verifyReport(t, bin, env, store, args...)
	if code != 0 || rep.Status != chainlog.StatusValid {
		t.Fatalf("verify-integrity %q: exit %d, status %q\nstdout:\n%s\nstderr:\n%s", args, code, rep.Status, r.stdout, r.stderr)
	}
	return rep
}

// exported is one line of chainlog export.
type exported struct {
	ID     string `json:"id"`
	NodeID string `json:"node_id"`
	Seq    int64  `json:"chain_seq"`
}

// exportIDs runs chainlog export and returns its records.
func exportIDs(t *testing.T, bin string, env []string, store string) []exported {
	t.Helper()
	r := runChainlog(t, bin, env, "export", "--store", store)
	if r.code != 0 {
		t.Fatalf("export: exit %d\n%s", r.code, r.stderr)
	}
	var out []exported
	sc := bufio.NewScanner(strings.NewReader(r.stdout))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var e exported
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			t.Fatalf("export line %q: %v", sc.Text(), err)
		}
		out = append(out, e)
	}
	return out
}

// ledger records what the test clients sent and what the daemon
// acknowledged with 200.
type ledger struct {
	mu      sync.Mutex
	lines   map[string]string // id -> the JSON line sent
	acked   map[string]int    // id -> number of 200 answers that covered it
	inDoubt map[string]bool   // sent, no 200 (yet)
	oks     atomic.Int64      // 200 answers
	okSeen  chan struct{}     // ready after each 200 answer until received
}

func newLedger() *ledger {
	return &ledger{lines: map[string]string{}, acked: map[string]int{}, inDoubt: map[string]bool{}, okSeen: make(chan struct{}, 1)}
}

func (l *ledger) sent(ids, lines []string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for i, id := range ids {
		if _, ok := l.lines[id]; !ok {
			l.lines[id] = lines[i]
		}
		if l.acked[id] == 0 {
			l.inDoubt[id] = true
		}
	}
}

func (l *ledger) ack(ids []string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, id := range ids {
		l.acked[id]++
		delete(l.inDoubt, id)
	}
	l.oks.Add(1)
	select {
	case l.okSeen <- struct{}{}:
	default:
	}
}

func (l *ledger) ackedIDs() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	ids := make([]string, 0, len(l.acked))
	for id := range l.acked {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

func (l *ledger) inDoubtIDs() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var ids []string
	for id := range l.inDoubt {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

func (l *ledger) line(id string) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.lines[id]
}

// requireStored checks an export against the ledger: every acknowledged id
// is there exactly once, no id is there twice, and every id was sent.
func (l *ledger) requireStored(t *testing.T, recs []exported) {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	count := map[string]int{}
	for _, r := range recs {
		count[r.ID]++
	}
	var problems []string
	for id, n := range count {
		if n != 1 {
			problems = append(problems, fmt.Sprintf("id %s exported %d times", id, n))
		}
		if _, ok := l.lines[id]; !ok {
			problems = append(problems, fmt.Sprintf("id %s exported but never sent", id))
		}
	}
	for id := range l.acked {
		if count[id] != 1 {
			problems = append(problems, fmt.Sprintf("acknowledged id %s exported %d times, want 1", id, count[id]))
		}
	}
	if len(problems) > 0 {
		slices.Sort(problems)
		if len(problems) > 20 {
			problems = append(problems[:20], fmt.Sprintf("... and %d more", len(problems)-20))
		}
		t.Fatalf("the export does not match what was acknowledged:\n%s", strings.Join(problems, "\n"))
	}
}

// testEvent is one event as a JSON line; node "" leaves node_id out so that
// the daemon's node id is used.
func testEvent(id, node string, n int) string {
	nodeField := ""
	if node != "" {
		nodeField = fmt.Sprintf(`"node_id":%q,`, node)
	}
	return fmt.Sprintf(`{"id":%q,%s"event_type":"tool.call","ts":"2026-03-01T00:%02d:%02dZ","session_id":"s-%d","data":{"n":%d,"pad":"%s"}}`,
		id, nodeField, n/60%60, n%60, n%7, n, strings.Repeat("x", n%50))
}

// poster posts events to a daemon.
type poster struct {
	client *http.Client
	url    string
	token  string
}

func newPoster(url, token string) *poster {
	return &poster{client: &http.Client{Timeout: 20 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 16}}, url: url, token: token}
}

func (p *poster) close() { p.client.CloseIdleConnections() }

// postAnswer is a daemon's answer to POST /v1/events.
type postAnswer struct {
	status     int
	accepted   int
	duplicates int
	body       string
}

// post sends lines as NDJSON, or as one JSON object when there is one line
// and asObject is set.
func (p *poster) post(ctx context.Context, lines []string, asObject bool) (postAnswer, error) {
	var body []byte
	ct := "application/x-ndjson"
	if asObject && len(lines) == 1 {
		body, ct = []byte(lines[0]), "application/json"
	} else {
		body = []byte(strings.Join(lines, "\n") + "\n")
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.url+"/v1/events", bytes.NewReader(body))
	if err != nil {
		return postAnswer{}, err
	}
	req.Header.Set("Content-Type", ct)
	if p.token != "" {
		req.Header.Set("Authorization", "Bearer "+p.token)
	}
	resp, err := p.client.Do(req)
	if err != nil {
		return postAnswer{}, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return postAnswer{}, err
	}
	a := postAnswer{status: resp.StatusCode, body: string(data)}
	if resp.StatusCode == http.StatusOK {
		var v struct {
			Accepted   *int `json:"accepted"`
			Duplicates *int `json:"duplicates"`
		}
		if err := json.Unmarshal(data, &v); err != nil || v.Accepted == nil || v.Duplicates == nil {
			return a, fmt.Errorf("unreadable 200 answer %q: %v", data, err)
		}
		a.accepted, a.duplicates = *v.Accepted, *v.Duplicates
	}
	return a, nil
}

// repost sends ids (already sent once) again, in batches, and requires
// 200 answers covering each exactly once; ids that were acknowledged before
// must all be duplicates. It returns the numbers inserted and duplicated.
func repost(t *testing.T, p *poster, l *ledger, ids []string, wantDuplicates bool) (inserted, duplicates int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for start := 0; start < len(ids); start += 250 {
		batch := ids[start:min(start+250, len(ids))]
		lines := make([]string, len(batch))
		for i, id := range batch {
			lines[i] = l.line(id)
		}
		a, err := p.post(ctx, lines, false)
		if err != nil || a.status != http.StatusOK {
			t.Fatalf("repost of %d ids: %v, status %d %s", len(batch), err, a.status, a.body)
		}
		if a.accepted+a.duplicates != len(batch) || (wantDuplicates && a.accepted != 0) {
			t.Fatalf("repost of %d ids: accepted %d, duplicates %d", len(batch), a.accepted, a.duplicates)
		}
		l.ack(batch)
		inserted += a.accepted
		duplicates += a.duplicates
	}
	return inserted, duplicates
}

// writerLoop posts fresh events until stop is closed or maxRequests were
// sent. Any error, or an answer other than 200 or 503, ends it with an
// error.
func writerLoop(p *poster, l *ledger, stop <-chan struct{}, prefix string, maxRequests int) error {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	nodes := []string{"node-a", "node-b", "", "node-c"}
	for j := 0; j < maxRequests; j++ {
		select {
		case <-stop:
			return nil
		default:
		}
		n := 1 + (j*7)%13
		ids := make([]string, n)
		lines := make([]string, n)
		for k := range n {
			ids[k] = fmt.Sprintf("%s-%d-%d", prefix, j, k)
			lines[k] = testEvent(ids[k], nodes[(j+k)%len(nodes)], j+k)
		}
		l.sent(ids, lines)
		a, err := p.post(ctx, lines, j%3 == 0)
		if err != nil {
			return err
		}
		switch a.status {
		case http.StatusOK:
			if a.accepted != n || a.duplicates != 0 {
				return fmt.Errorf("fresh batch of %d: accepted %d, duplicates %d", n, a.accepted, a.duplicates)
			}
			l.ack(ids)
		case http.StatusServiceUnavailable:
		default:
			return fmt.Errorf("status %d: %s", a.status, a.body)
		}
	}
	return nil
}

// TestServeVerifyWhileWriting: verify-integrity on a store that the daemon
// is writing sees one consistent snapshot: it never reports a false
// INVALID, and the daemon keeps acknowledging while it runs.
func TestServeVerifyWhileWriting(t *testing.T) {
	t.Parallel()
	bin := chainlogBinary(t)
	dir := t.TempDir()
	store := filepath.Join(dir, "live.db")
	skey, vkey := makeSignerKey(t, bin, dir)
	env := serveEnv(t)
	d := startDaemon(t, bin, append(serveEnv(t), "CHAINLOG_SIGNER_KEY="+skey), "",
		"--store", store, "--listen", "127.0.0.1:0", "--node-id", "live", "--checkpoint-interval", "20ms",
		"--verify-interval", "50ms")
	l := newLedger()
	p := newPoster(d.url, "")
	defer p.close()

	// A few thousand rows first, so that a verification takes a while.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for b := range 5 {
		var ids, lines []string
		for k := range 1000 {
			id := fmt.Sprintf("pre-%d-%d", b, k)
			ids, lines = append(ids, id), append(lines, testEvent(id, []string{"node-a", "node-b", ""}[k%3], k))
		}
		l.sent(ids, lines)
		if a, err := p.post(ctx, lines, false); err != nil || a.status != http.StatusOK || a.accepted != len(ids) {
			t.Fatalf("preload: %v %+v", err, a)
		}
		l.ack(ids)
	}

	stop := make(chan struct{})
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := writerLoop(p, l, stop, fmt.Sprintf("live%d", w), 20000); err != nil {
				errs <- err
			}
		}()
	}
	writersDone := make(chan struct{})
	go func() {
		wg.Wait()
		close(writersDone)
	}()
	stopWriters := sync.OnceFunc(func() {
		close(stop)
		<-writersDone
	})
	defer stopWriters()

	variants := [][]string{
		nil,
		{"--checkpoint", store + ".checkpoints", "--key", vkey},
		{"--node-id", "node-a"},
		{"--key", vkey},
	}
	for i := range 8 {
		before := l.oks.Load()
		args := variants[i%len(variants)]
		if i%2 == 0 {
			// The human report.
			r := runChainlog(t, bin, env, append([]string{"verify-integrity", "--store", store}, args...)...)
			if r.code != 0 || !strings.Contains(r.stdout, "Result:    VALID\n") {
				t.Fatalf("verify-integrity %q while the daemon writes: exit %d\n%s%s", args, r.code, r.stdout, r.stderr)
			}
		} else {
			rep := requireValid(t, bin, env, store, args...)
			if rep.Checked < 5000 {
				t.Errorf("verify-integrity checked %d events, want at least the 5000 preloaded", rep.Checked)
			}
		}
		// The daemon keeps acknowledging: wait for its answers, not for
		// a time that a busy machine may need more of.
		for l.oks.Load() <= before+5 {
			select {
			case err := <-errs:
				t.Fatalf("writer: %v", err)
			case <-writersDone:
				t.Fatalf("the writers stopped after %d acknowledged requests since verify-integrity run %d", l.oks.Load()-before, i)
			case <-l.okSeen:
			}
		}
	}
	stopWriters()
	select {
	case err := <-errs:
		t.Fatalf("writer: %v", err)
	default:
	}

	// The daemon's own verification agrees.
	resp, err := p.client.Get(d.url + "/v1/integrity?full=1")
	if err != nil {
		t.Fatal(err)
	}
	var rep chainlog.Report
	err = json.NewDecoder(resp.Body).Decode(&rep)
	resp.Body.Close()
	if err != nil || rep.Status != chainlog.StatusValid {
		t.Fatalf("GET /v1/integrity: %v, status %q", err, rep.Status)
	}
	p.close()
	d.stop()
	requireValid(t, bin, env, store, "--checkpoint", store+".checkpoints", "--key", vkey)
	l.requireStored(t, exportIDs(t, bin, env, store))
	t.Logf("%d requests acknowledged", l.oks.Load())
}

// TestShutdownGraceful: on SIGTERM the daemon stops accepting, answers the
// requests in flight after committing them, signs a last checkpoint and
// exits 0.
func TestShutdownGraceful(t *testing.T) {
	t.Parallel()
	bin := chainlogBinary(t)
	dir := t.TempDir()
	store := filepath.Join(dir, "shut.db")
	skey, vkey := makeSignerKey(t, bin, dir)
	env := serveEnv(t)
	// One checkpoint at the first commit, then none for an hour: the one
	// covering the whole store can only be the one signed at shutdown.
	d := startDaemon(t, bin, append(serveEnv(t), "CHAINLOG_SIGNER_KEY="+skey), "",
		"--store", store, "--listen", "127.0.0.1:0", "--node-id", "shut", "--checkpoint-interval", "1h")
	l := newLedger()
	p := newPoster(d.url, "")
	defer p.close()

	// A request whose body is only half sent when SIGTERM comes.
	pr, pw := io.Pipe()
	var slowIDs, slowLines []string
	for k := range 40 {
		id := fmt.Sprintf("slow-%d", k)
		slowIDs, slowLines = append(slowIDs, id), append(slowLines, testEvent(id, "node-slow", k))
	}
	l.sent(slowIDs, slowLines)
	type answer struct {
		a   postAnswer
		err error
	}
	slow := make(chan answer, 1)
	go func() {
		req, _ := http.NewRequest(http.MethodPost, d.url+"/v1/events", pr)
		req.Header.Set("Content-Type", "application/x-ndjson")
		c := &http.Client{Timeout: 40 * time.Second, Transport: &http.Transport{}}
		resp, err := c.Do(req)
		if err != nil {
			slow <- answer{err: err}
			return
		}
		defer resp.Body.Close()
		var v struct{ Accepted, Duplicates int }
		data, _ := io.ReadAll(resp.Body)
		json.Unmarshal(data, &v)
		slow <- answer{a: postAnswer{status: resp.StatusCode, accepted: v.Accepted, duplicates: v.Duplicates, body: string(data)}}
	}()
	if _, err := io.WriteString(pw, strings.Join(slowLines[:20], "\n")+"\n"); err != nil {
		t.Fatal(err)
	}

	// A burst of concurrent writers.
	var sigtermSent atomic.Bool
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var statuses sync.Map // status -> *atomic.Int64
	count := func(key string) {
		v, _ := statuses.LoadOrStore(key, new(atomic.Int64))
		v.(*atomic.Int64).Add(1)
	}
	for w := range 12 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			for j := range 2000 {
				select {
				case <-stop:
					return
				default:
				}
				n := 50 + (w*13+j)%150
				ids := make([]string, n)
				lines := make([]string, n)
				for k := range n {
					ids[k] = fmt.Sprintf("burst%d-%d-%d", w, j, k)
					lines[k] = testEvent(ids[k], []string{"node-a", "node-b", ""}[k%3], k)
				}
				l.sent(ids, lines)
				a, err := p.post(ctx, lines, false)
				switch {
				case err != nil:
					count("error")
					return // the daemon is gone
				case a.status == http.StatusOK && a.accepted == n && a.duplicates == 0:
					if sigtermSent.Load() {
						count("200 after SIGTERM")
					} else {
						count("200")
					}
					l.ack(ids)
				case a.status == http.StatusServiceUnavailable:
					count("503")
				default:
					count(fmt.Sprintf("unexpected %d %d/%d %s", a.status, a.accepted, a.duplicates, a.body))
				}
			}
		}()
	}
	deadline := time.Now().Add(20 * time.Second)
	for l.oks.Load() < 30 {
		if time.Now().After(deadline) {
			t.Fatalf("only %d requests acknowledged in 20s\n%s", l.oks.Load(), d.log)
		}
		time.Sleep(5 * time.Millisecond)
	}
	if err := d.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	sigtermSent.Store(true)
	// The daemon says it is shutting down, and soon stops accepting
	// connections (a connection accepted just before may still be served).
	deadline = time.Now().Add(20 * time.Second)
	for !strings.Contains(d.log.String(), "shutting down") {
		if time.Now().After(deadline) {
			t.Fatalf("no \"shutting down\" log line 20s after SIGTERM\n%s", d.log)
		}
		time.Sleep(5 * time.Millisecond)
	}
	for i := 0; ; i++ {
		c, err := net.DialTimeout("tcp", "127.0.0.1:"+d.port, time.Second)
		if err != nil {
			break
		}
		c.Close()
		if i == 400 {
			t.Fatalf("the daemon still accepts connections 2s after it began shutting down\n%s", d.log)
		}
		time.Sleep(5 * time.Millisecond)
	}
	// From then on, a request gets a connection error (or 503), while
	// the requests already in flight are answered.
	late := &poster{client: &http.Client{Timeout: 20 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}, url: d.url}
	for k := range 3 {
		id := fmt.Sprintf("late-%d", k)
		l.sent([]string{id}, []string{testEvent(id, "node-late", k)})
		a, err := late.post(context.Background(), []string{testEvent(id, "node-late", k)}, true)
		if err == nil && a.status != http.StatusServiceUnavailable {
			t.Errorf("a request on a new connection after shutdown began: status %d %s, want a connection error or 503", a.status, a.body)
		}
	}
	// The request in flight is still answered, after its commit.
	if _, err := io.WriteString(pw, strings.Join(slowLines[20:], "\n")+"\n"); err != nil {
		t.Fatalf("finishing the in-flight request: %v", err)
	}
	pw.Close()
	select {
	case s := <-slow:
		if s.err != nil || s.a.status != http.StatusOK || s.a.accepted != len(slowIDs) {
			t.Errorf("the request in flight at SIGTERM: %v, status %d, accepted %d %s", s.err, s.a.status, s.a.accepted, s.a.body)
		} else {
			l.ack(slowIDs)
		}
	case <-time.After(40 * time.Second):
		t.Fatal("the request in flight at SIGTERM got no answer")
	}
	if code := d.wait(45 * time.Second); code != 0 {
		t.Fatalf("exit %d after SIGTERM, want 0\n%s", code, d.log)
	}
	d.checkLog()
	close(stop)
	wg.Wait()
	summary := map[string]int64{}
	statuses.Range(func(k, v any) bool {
		summary[k.(string)] = v.(*atomic.Int64).Load()
		if strings.HasPrefix(k.(string), "unexpected") {
			t.Errorf("answer during shutdown: %s (%d times)", k, v.(*atomic.Int64).Load())
		}
		return true
	})
	t.Logf("answers: %v", summary)
	if lines := strings.Split(strings.TrimSpace(d.log.String()), "\n"); !strings.Contains(lines[len(lines)-1], "msg=stopped") {
		t.Errorf("last log line %q, want msg=stopped", lines[len(lines)-1])
	}

	// Every acknowledged event is stored, and the last checkpoint, written
	// after the last commit, covers all of them.
	recs := exportIDs(t, bin, env, store)
	l.requireStored(t, recs)
	rep := requireValid(t, bin, env, store, "--checkpoint", store+".checkpoints", "--key", vkey)
	r := runChainlog(t, bin, env, "verify-integrity", "--store", store, "--checkpoint", store+".checkpoints", "--key", vkey)
	if r.code != 0 || !strings.Contains(r.stdout, "Result:    VALID\n") {
		t.Fatalf("verify-integrity --checkpoint: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if rep.Tree == nil || rep.Tree.Leaves != int64(len(recs)) || len(rep.Tree.Checkpoints) == 0 {
		t.Fatalf("tree report %+v, want %d leaves and checkpoints", rep.Tree, len(recs))
	}
	if last := rep.Tree.Checkpoints[len(rep.Tree.Checkpoints)-1]; last.Size != int64(len(recs)) {
		t.Errorf("the last checkpoint in the file has size %d, want %d: it was not signed after the last commit", last.Size, len(recs))
	}
	t.Logf("%d events stored, %d checkpoints", len(recs), len(rep.Tree.Checkpoints))
}

// freePort returns a loopback port that was free a moment ago.
func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	return port
}

// getStatus GETs url with token and returns the status code.
func getStatus(t *testing.T, url, token string) int {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// TestServeFlagsAndEnv: the listen check, CHAINLOG_* variables, flags over
// variables, and the log format. (serve.txtar covers the usage errors.)
func TestServeFlagsAndEnv(t *testing.T) {
	bin := chainlogBinary(t)
	dir := t.TempDir()
	env := serveEnv(t)

	t.Run("non-loopback without token", func(t *testing.T) {
		store := filepath.Join(dir, "refused.db")
		r := runChainlog(t, bin, env, "serve", "--store", store, "--listen", "0.0.0.0:0")
		if r.code != 2 || !strings.Contains(r.stderr, "--token") || !strings.Contains(r.stderr, "--insecure") {
			t.Fatalf("exit %d, want 2 naming --token and --insecure\n%s", r.code, r.stderr)
		}
		if _, err := os.Stat(store); err == nil {
			t.Errorf("the refused daemon created the store")
		}
	})

	t.Run("non-loopback with CHAINLOG_TOKEN but no TLS", func(t *testing.T) {
		store := filepath.Join(dir, "cleartoken.db")
		r := runChainlog(t, bin, append(serveEnv(t), "CHAINLOG_TOKEN=s3cret"), "serve", "--store", store, "--listen", "0.0.0.0:0")
		if r.code != 2 || !strings.Contains(r.stderr, "--tls-cert") || !strings.Contains(r.stderr, "in clear") {
			t.Fatalf("exit %d, want 2 naming --tls-cert: a token in clear\n%s", r.code, r.stderr)
		}
		if _, err := os.Stat(store); err == nil {
			t.Errorf("the refused daemon created the store")
		}
	})

	t.Run("non-loopback with --insecure", func(t *testing.T) {
		d := startDaemon(t, bin, env, "", "--store", filepath.Join(dir, "insecure.db"), "--listen", "0.0.0.0:0", "--insecure")
		if got := getStatus(t, d.url+"/healthz", ""); got != http.StatusOK {
			t.Errorf("healthz: %d, want 200", got)
		}
		d.stop()
	})

	t.Run("--token wins over CHAINLOG_TOKEN", func(t *testing.T) {
		d := startDaemon(t, bin, append(serveEnv(t), "CHAINLOG_TOKEN=from-env"), "from-flag",
			"--store", filepath.Join(dir, "flagtoken.db"), "--listen", "127.0.0.1:0", "--token", "from-flag")
		if got := getStatus(t, d.url+"/healthz", "from-env"); got != http.StatusUnauthorized {
			t.Errorf("healthz with the environment's token: %d, want 401", got)
		}
		d.stop()
	})

	t.Run("CHAINLOG_LISTEN, CHAINLOG_NODE_ID, CHAINLOG_STORE", func(t *testing.T) {
		store := filepath.Join(dir, "env.db")
		port := freePort(t)
		d := startDaemon(t, bin, append(serveEnv(t), "CHAINLOG_LISTEN=127.0.0.1:"+port, "CHAINLOG_NODE_ID=env-node",
			"CHAINLOG_STORE="+store), "")
		if d.port != port {
			t.Errorf("listening on port %s, want CHAINLOG_LISTEN's %s", d.port, port)
		}
		p := newPoster(d.url, "")
		a, err := p.post(context.Background(), []string{testEvent("no-node", "", 1), testEvent("own-node", "mine", 2)}, false)
		if err != nil || a.status != http.StatusOK || a.accepted != 2 {
			t.Fatalf("post: %v %+v", err, a)
		}
		p.close()
		d.stop()
		want := map[string]string{"no-node": "env-node", "own-node": "mine"}
		recs := exportIDs(t, bin, env, store)
		if len(recs) != 2 {
			t.Fatalf("export: %d records, want 2 in CHAINLOG_STORE's store", len(recs))
		}
		for _, r := range recs {
			if want[r.ID] != r.NodeID {
				t.Errorf("%s: node_id %q, want %q", r.ID, r.NodeID, want[r.ID])
			}
		}
	})

	t.Run("flags win over CHAINLOG_LISTEN and CHAINLOG_NODE_ID", func(t *testing.T) {
		// The environment's port is taken: the daemon could not start if
		// it used it.
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		store := filepath.Join(dir, "flags.db")
		d := startDaemon(t, bin, append(serveEnv(t), "CHAINLOG_LISTEN="+ln.Addr().String(), "CHAINLOG_NODE_ID=env-node",
			"CHAINLOG_LOG_FORMAT=json"), "",
			"--store", store, "--listen", "127.0.0.1:0", "--node-id", "flag-node", "--log-format", "text")
		p := newPoster(d.url, "")
		if a, err := p.post(context.Background(), []string{testEvent("flag-ev", "", 1)}, true); err != nil || a.status != http.StatusOK || a.accepted != 1 {
			t.Fatalf("post: %v %+v", err, a)
		}
		p.close()
		d.stop()
		if !strings.HasPrefix(d.log.String(), "time=") {
			t.Errorf("--log-format text lost to CHAINLOG_LOG_FORMAT=json:\n%s", d.log)
		}
		recs := exportIDs(t, bin, env, store)
		if len(recs) != 1 || recs[0].NodeID != "flag-node" {
			t.Errorf("export %+v, want flag-ev on flag-node", recs)
		}
	})

	for _, how := range []string{"flag", "env"} {
		t.Run("json logs by "+how, func(t *testing.T) {
			args := []string{"--store", filepath.Join(dir, "json-"+how+".db"), "--listen", "127.0.0.1:0"}
			e := serveEnv(t)
			if how == "flag" {
				args = append(args, "--log-format", "json")
			} else {
				e = append(e, "CHAINLOG_LOG_FORMAT=json")
			}
			d := startDaemon(t, bin, e, "", args...)
			d.stop()
			lines := strings.Split(strings.TrimSpace(d.log.String()), "\n")
			var msgs []string
			for _, line := range lines {
				var rec struct {
					Time, Level, Msg string
				}
				if err := json.Unmarshal([]byte(line), &rec); err != nil || rec.Time == "" || rec.Level == "" || rec.Msg == "" {
					t.Fatalf("log line %q is not a JSON record with time, level and msg: %v", line, err)
				}
				msgs = append(msgs, rec.Msg)
			}
			// On a first start, the key made for the store is logged first.
			if len(msgs) > 0 && strings.HasPrefix(msgs[0], "no signer key was configured") {
				msgs = msgs[1:]
			}
			if len(msgs) < 3 || msgs[0] != "chainlog serving" || msgs[len(msgs)-1] != "stopped" {
				t.Errorf("log messages %q, want \"chainlog serving\" first and \"stopped\" last", msgs)
			}
		})
	}

	t.Run("bad log format", func(t *testing.T) {
		r := runChainlog(t, bin, env, "serve", "--store", filepath.Join(dir, "bad.db"), "--listen", "127.0.0.1:0", "--log-format", "xml")
		if r.code != 2 || !strings.Contains(r.stderr, `--log-format "xml": want text or json`) {
			t.Fatalf("exit %d, want 2\n%s", r.code, r.stderr)
		}
	})

	t.Run("help documents the environment", func(t *testing.T) {
		r := runChainlog(t, bin, env, "serve", "-h")
		for _, v := range []string{"CHAINLOG_LISTEN", "CHAINLOG_NODE_ID", "CHAINLOG_TOKEN", "A flag on the command line wins"} {
			if !strings.Contains(r.stderr, v) {
				t.Errorf("serve -h does not mention %s:\n%s", v, r.stderr)
			}
		}
		if r.code != 0 {
			t.Errorf("serve -h: exit %d, want 0", r.code)
		}
	})
}

// statusCounter is a reverse proxy that counts the daemon's answers by
// status, so that a test can see the 503s a client retried.
type statusCounter struct {
	mu     sync.Mutex
	counts map[int]int
}

func (s *statusCounter) get(code int) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.counts[code]
}

func startCountingProxy(t *testing.T, target string) (string, *statusCounter) {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	sc := &statusCounter{counts: map[int]int{}}
	rp := httputil.NewSingleHostReverseProxy(u)
	rp.ModifyResponse = func(resp *http.Response) error {
		sc.mu.Lock()
		sc.counts[resp.StatusCode]++
		sc.mu.Unlock()
		return nil
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: rp, ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return "http://" + ln.Addr().String(), sc
}

// TestServeIngestServer: chainlog ingest --server posts a file to a
// running daemon, with a token when the daemon wants one, and retries the
// 503s of a full queue until every event is stored exactly once.
func TestServeIngestServer(t *testing.T) {
	t.Parallel()
	bin := chainlogBinary(t)
	dir := t.TempDir()
	env := serveEnv(t)

	// ingest checks every line before posting, and a line without a
	// node_id fails that check, so every event names its node.
	var all []string
	for k := range 2500 {
		all = append(all, testEvent(fmt.Sprintf("in-%d", k), []string{"node-a", "node-b", "node-c"}[k%3], k))
	}
	file := filepath.Join(dir, "events.ndjson")
	if err := os.WriteFile(file, []byte(strings.Join(all, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}

	t.Run("token", func(t *testing.T) {
		store := filepath.Join(dir, "token.db")
		d := startDaemon(t, bin, env, "tok", "--store", store, "--listen", "127.0.0.1:0", "--token", "tok")
		r := runChainlog(t, bin, env, "ingest", "--server", d.url, "--token", "tok", file)
		if r.code != 0 || r.stdout != "inserted 2500, duplicates 0, rejected 0\n" {
			t.Fatalf("ingest --server: exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
		}
		// Again: every event is a duplicate. The token from CHAINLOG_TOKEN.
		r = runChainlog(t, bin, append(serveEnv(t), "CHAINLOG_TOKEN=tok"), "ingest", "--server", d.url+"/", file)
		if r.code != 0 || r.stdout != "inserted 0, duplicates 2500, rejected 0\n" {
			t.Fatalf("ingest --server again: exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
		}
		// Without the token: 401, exit 2, nothing stored.
		extra := filepath.Join(dir, "extra.ndjson")
		if err := os.WriteFile(extra, []byte(testEvent("extra-1", "node-a", 1)+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		r = runChainlog(t, bin, env, "ingest", "--server", d.url, extra)
		if r.code != 2 || !strings.Contains(r.stderr, "401") || r.stdout != "" {
			t.Fatalf("ingest --server without the token: exit %d, want 2 and a 401\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
		}
		r = runChainlog(t, bin, env, "ingest", "--server", d.url, "--token", "wrong", "--json", extra)
		if r.code != 2 || !strings.Contains(r.stderr, "401") {
			t.Fatalf("ingest --server with a wrong token: exit %d, want 2\n%s", r.code, r.stderr)
		}
		d.stop()
		recs := exportIDs(t, bin, env, store)
		if len(recs) != 2500 {
			t.Fatalf("export: %d records, want 2500", len(recs))
		}
		requireValid(t, bin, env, store)
	})

	t.Run("full queue", func(t *testing.T) {
		store := filepath.Join(dir, "queue.db")
		d := startDaemon(t, bin, env, "", "--store", store, "--listen", "127.0.0.1:0", "--queue-events", "3", "--batch-events", "3")
		proxy, counts := startCountingProxy(t, d.url)

		// Hold the store's write lock so that the daemon's first commit
		// waits and its queue stays full: every other request gets 503
		// until the lock is released (well within the daemon's 10s busy
		// timeout).
		conn, err := sqlite.OpenConn(store, sqlite.OpenReadWrite)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		if err := sqlitex.ExecuteTransient(conn, "BEGIN IMMEDIATE", nil); err != nil {
			t.Fatal(err)
		}
		locked := true
		unlock := func() {
			if locked {
				locked = false
				if err := sqlitex.ExecuteTransient(conn, "ROLLBACK", nil); err != nil {
					t.Error(err)
				}
			}
		}
		defer unlock()
		p := newPoster(d.url, "")
		defer p.close()
		first := make(chan error, 1)
		go func() {
			a, err := p.post(context.Background(), []string{testEvent("first", "node-a", 0)}, true)
			if err == nil && (a.status != http.StatusOK || a.accepted != 1) {
				err = fmt.Errorf("status %d, accepted %d: %s", a.status, a.accepted, a.body)
			}
			first <- err
		}()
		deadline := time.Now().Add(10 * time.Second)
		for d.queued(t) == 0 {
			if time.Now().After(deadline) {
				t.Fatal("the first request never queued")
			}
			time.Sleep(5 * time.Millisecond)
		}

		// Four files of 700 events, each sharing 100 with the next.
		files := make([]string, 4)
		want := map[string]bool{}
		for f := range files {
			var lines []string
			for k := f * 600; k < f*600+700; k++ {
				lines = append(lines, all[k])
				want[fmt.Sprintf("in-%d", k)] = true
			}
			files[f] = filepath.Join(dir, fmt.Sprintf("part%d.ndjson", f))
			if err := os.WriteFile(files[f], []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		results := make([]procResult, len(files))
		errs := make([]error, len(files))
		var wg sync.WaitGroup
		for f := range files {
			wg.Add(1)
			go func() {
				defer wg.Done()
				results[f], errs[f] = runChainlogErr(bin, env, "ingest", "--server", proxy, files[f])
			}()
		}
		deadline = time.Now().Add(10 * time.Second)
		for counts.get(http.StatusServiceUnavailable) < len(files) {
			if time.Now().After(deadline) {
				t.Fatalf("only %d answers 503 with the queue full", counts.get(http.StatusServiceUnavailable))
			}
			time.Sleep(10 * time.Millisecond)
		}
		unlock()
		wg.Wait()
		if err := <-first; err != nil {
			t.Fatalf("the request that waited for the lock: %v", err)
		}
		re := regexp.MustCompile(`^inserted (\d+), duplicates (\d+), rejected 0\n$`)
		inserted, duplicates := 0, 0
		for f, r := range results {
			if errs[f] != nil {
				t.Fatal(errs[f])
			}
			m := re.FindStringSubmatch(r.stdout)
			if r.code != 0 || m == nil {
				t.Fatalf("ingest --server %s: exit %d\nstdout:\n%s\nstderr:\n%s", files[f], r.code, r.stdout, r.stderr)
			}
			var i, dup int
			fmt.Sscan(m[1], &i)
			fmt.Sscan(m[2], &dup)
			inserted += i
			duplicates += dup
		}
		if inserted != len(want) || duplicates != 300 {
			t.Errorf("inserted %d, duplicates %d in all; want %d and 300", inserted, duplicates, len(want))
		}
		t.Logf("answers through the proxy: 200 x%d, 503 x%d", counts.get(http.StatusOK), counts.get(http.StatusServiceUnavailable))
		d.stop()
		recs := exportIDs(t, bin, env, store)
		seen := map[string]int{}
		for _, r := range recs {
			seen[r.ID]++
		}
		want["first"] = true
		for id := range want {
			if seen[id] != 1 {
				t.Errorf("%s stored %d times, want 1", id, seen[id])
			}
		}
		if len(recs) != len(want) {
			t.Errorf("%d events stored, want %d", len(recs), len(want))
		}
		requireValid(t, bin, env, store)
	})
}

// queued returns the daemon's queued_events from /healthz.
func (d *serveProc) queued(t *testing.T) int {
	t.Helper()
	c := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := c.Get(d.url + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var v struct {
		Queued int `json:"queued_events"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&v); err != nil {
		t.Fatal(err)
	}
	return v.Queued
}
