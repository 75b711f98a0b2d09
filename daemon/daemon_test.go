package daemon

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"chainlog"
	"chainlog/publish"
	"chainlog/sqlite"
	"chainlog/tiles"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
	zsqlite "zombiezen.com/go/sqlite"
	"zombiezen.com/go/sqlite/sqlitex"
)

// testConfig is a valid configuration on a new store in a temporary
// directory, listening on a free loopback port.
func testConfig(t *testing.T) Config {
	t.Helper()
	return Config{
		Store: filepath.Join(t.TempDir(), "s.db"), Listen: "127.0.0.1:0", NodeID: "n1",
		MaxBodyBytes: 1 << 20, MaxInflightBytes: 4 << 20, QueueEvents: 1000, BatchEvents: 100,
		VerifyInterval: time.Hour, FullVerifyInterval: time.Hour, CheckpointInterval: time.Hour,
		PublishTimeout: 10 * time.Second, ReadTimeout: 10 * time.Second,
	}
}

// withSigner gives cfg a new signer key and a checkpoint file beside the
// store, and returns the matching verifier.
func withSigner(t *testing.T, cfg *Config) note.Verifier {
	t.Helper()
	v, _ := withNamedSigner(t, cfg, "chainlog/test/s")
	return v
}

// withNamedSigner is withSigner with a key named origin; it also returns
// the verifier key's text, which a witness needs.
func withNamedSigner(t *testing.T, cfg *Config, origin string) (note.Verifier, string) {
	t.Helper()
	skey, vkey, err := note.GenerateKey(rand.Reader, origin)
	if err != nil {
		t.Fatal(err)
	}
	s, err := note.NewSigner(skey)
	if err != nil {
		t.Fatal(err)
	}
	v, err := note.NewVerifier(vkey)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Signer, cfg.CheckpointFile = s, cfg.Store+".checkpoints"
	return v, vkey
}

// verifyStore verifies the store at path as verify-integrity does.
func verifyStore(t *testing.T, path string) *chainlog.Report {
	t.Helper()
	ctx := context.Background()
	ro, err := sqlite.OpenReadOnly(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	var rep *chainlog.Report
	if err := ro.Snapshot(ctx, func() (err error) {
		rep, err = chainlog.VerifyStore(ctx, ro, chainlog.VerifyOptions{})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	return rep
}

// lockedBuffer is a log destination safe for the daemon's goroutines.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// running is a daemon started in process by start.
type running struct {
	url    string
	otlp   string // the OTLP listener's URL, when there is one
	cancel context.CancelFunc
	done   chan error
	log    *lockedBuffer
}

// start runs the daemon with cfg and returns once it listens.
func start(t *testing.T, cfg Config) *running {
	t.Helper()
	r := &running{done: make(chan error, 1), log: &lockedBuffer{}}
	cfg.Logger = slog.New(slog.NewTextHandler(r.log, nil))
	ready := make(chan net.Addr, 1)
	cfg.Ready = func(a net.Addr) { ready <- a }
	cfg.OTLPReady = func(a net.Addr) { r.otlp = "http://" + a.String() } // called before Ready
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	d, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	go func() { r.done <- d.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-r.done:
		case <-time.After(time.Minute):
			t.Error("the daemon did not stop within a minute")
		}
	})
	select {
	case a := <-ready:
		r.url = "http://" + a.String()
	case err := <-r.done:
		t.Fatalf("Run returned before listening: %v\n%s", err, r.log)
	case <-time.After(30 * time.Second):
		t.Fatalf("not listening within 30s\n%s", r.log)
	}
	return r
}

// stop cancels the daemon's context and returns what Run returned.
func (r *running) stop(t *testing.T) error {
	t.Helper()
	r.cancel()
	select {
	case err := <-r.done:
		r.done <- err // for the cleanup
		return err
	case <-time.After(time.Minute):
		t.Fatalf("Run did not return within a minute of its context ending\n%s", r.log)
		return nil
	}
}

// post sends events with the given ids and returns the status and body.
func (r *running) post(t *testing.T, ids ...string) (int, string) {
	t.Helper()
	var body strings.Builder
	for _, id := range ids {
		fmt.Fprintf(&body, `{"id":%q,"event_type":"x","ts":"2026-01-01T00:00:00Z"}`+"\n", id)
	}
	resp, err := http.Post(r.url+"/v1/events", "application/x-ndjson", strings.NewReader(body.String()))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

// checkpointSizes reads the checkpoint file and returns each checkpoint's
// tree size, in order.
func checkpointSizes(t *testing.T, file string, v note.Verifier) []int64 {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var sizes []int64
	for i, n := range chainlog.SplitNotes(b) {
		cp, err := chainlog.OpenCheckpoint(n, v)
		if err != nil {
			t.Fatalf("checkpoint %d: %v\n%s", i+1, err, n)
		}
		sizes = append(sizes, cp.Size)
	}
	return sizes
}

// TestRunShutdownOrder: the injected clock drives the checkpoint rate
// limit. With the clock still, only the first commit is checkpointed; once
// it moved by the interval, one more is; and the checkpoint
// signed at shutdown, after the queue was committed, covers every
// acknowledged event. The store verifies VALID afterwards.
func TestRunShutdownOrder(t *testing.T) {
	cfg := testConfig(t)
	v := withSigner(t, &cfg)
	cfg.CheckpointInterval = time.Hour // the ticker never fires
	var clock atomic.Int64
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	cfg.Now = func() time.Time { return t0.Add(time.Duration(clock.Load())) }
	d := start(t, cfg)
	for _, ids := range [][]string{{"a1", "a2"}, {"b1"}, nil, {"c1", "c2"}, {"d1"}} {
		if ids == nil {
			clock.Add(int64(time.Hour))
			continue
		}
		if code, body := d.post(t, ids...); code != http.StatusOK {
			t.Fatalf("POST %v: %d %s", ids, code, body)
		}
	}
	if err := d.stop(t); err != nil {
		t.Fatalf("Run: %v\n%s", err, d.log)
	}
	// The writer acknowledges a commit before it runs the checkpoint
	// after it, so the clock may move before b1's checkpoint is tried:
	// the second checkpoint is then b1's (3) rather than c1 and c2's (5).
	got := checkpointSizes(t, cfg.CheckpointFile, v)
	if !slices.Equal(got, []int64{2, 5, 6}) && !slices.Equal(got, []int64{2, 3, 6}) {
		t.Errorf("checkpoint sizes %v; want [2 5 6] (or [2 3 6]): the first commit's, one after the clock moved, the final one", got)
	}
	log := d.log.String()
	order := []string{"chainlog serving", "shutting down", "stopped"}
	last := -1
	for _, m := range order {
		i := strings.Index(log, m)
		if i <= last {
			t.Fatalf("log lacks %q after %v:\n%s", m, order, log)
		}
		last = i
	}
	if rep := verifyStore(t, cfg.Store); rep.Status != chainlog.StatusValid || rep.Checked != 6 {
		t.Errorf("store after shutdown: %s, %d checked; want valid, 6", rep.Status, rep.Checked)
	}
}

// TestRunStopsAcknowledgingWhenCheckpointsKeepFailing: with a checkpoint
// file the daemon cannot write (a directory), every checkpoint fails, and
// after ten in a row the daemon stops acknowledging, says why in /healthz,
// and answers POST with 503.
func TestRunStopsAcknowledgingWhenCheckpointsKeepFailing(t *testing.T) {
	cfg := testConfig(t)
	withSigner(t, &cfg)
	cfg.CheckpointFile = filepath.Join(t.TempDir(), "not-a-file")
	if err := os.Mkdir(cfg.CheckpointFile, 0o700); err != nil {
		t.Fatal(err)
	}
	cfg.CheckpointInterval = 5 * time.Millisecond
	d := start(t, cfg)
	var health struct {
		Status string `json:"status"`
		Error  string `json:"error"`
	}
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		resp, err := http.Get(d.url + "/healthz")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode == http.StatusServiceUnavailable {
			if err := json.Unmarshal(body, &health); err != nil {
				t.Fatalf("healthz body %q: %v", body, err)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("/healthz still %d %s after 30s of failing checkpoints\n%s", resp.StatusCode, body, d.log)
		}
	}
	if health.Status != "unhealthy" || !strings.Contains(health.Error, "10 checkpoints in a row failed") {
		t.Errorf("healthz = %+v; want unhealthy because 10 checkpoints in a row failed", health)
	}
	if code, body := d.post(t, "e1"); code != http.StatusServiceUnavailable || !strings.Contains(body, "checkpoints in a row failed") {
		t.Errorf("POST = %d %s; want 503 with the reason", code, body)
	}
	if !strings.Contains(d.log.String(), "the writer stopped acknowledging writes") {
		t.Errorf("the log does not say the writer stopped acknowledging:\n%s", d.log)
	}
	if err := d.stop(t); err != nil {
		t.Errorf("Run: %v", err)
	}
}

// slowPublisher blocks every Publish until released or cancelled.
type slowPublisher struct {
	entered chan struct{}
	release chan struct{}
}

func (p *slowPublisher) String() string { return "slow" }

func (p *slowPublisher) Publish(ctx context.Context, _ []byte) error {
	select {
	case p.entered <- struct{}{}:
	default:
	}
	select {
	case <-p.release:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// TestRunSlowPublisherNeverDelaysAcks: a destination in Publish that never
// answers holds back neither acknowledgements nor the checkpoint file, and
// shutdown waits for it no longer than its bound (the publish timeout,
// here less than PublishShutdownWait).
func TestRunSlowPublisherNeverDelaysAcks(t *testing.T) {
	cfg := testConfig(t)
	v := withSigner(t, &cfg)
	cfg.CheckpointInterval = time.Millisecond
	// Each attempt times out after a second, and is retried; shutdown waits
	// for the destination no longer than that either.
	cfg.PublishTimeout = time.Second
	slow := &slowPublisher{entered: make(chan struct{}, 1), release: make(chan struct{})}
	defer close(slow.release)
	cfg.Publish = []publish.Publisher{slow}
	d := start(t, cfg)
	if code, body := d.post(t, "a1", "a2"); code != http.StatusOK {
		t.Fatalf("POST: %d %s", code, body)
	}
	select {
	case <-slow.entered:
	case <-time.After(20 * time.Second):
		t.Fatal("the slow destination was not reached within 20s")
	}
	for _, ids := range [][]string{{"b1"}, {"c1", "c2", "c3"}} {
		if code, body := d.post(t, ids...); code != http.StatusOK {
			t.Fatalf("POST %v while the destination hangs: %d %s", ids, code, body)
		}
	}
	began := time.Now()
	if err := d.stop(t); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if took := time.Since(began); took > cfg.PublishTimeout+20*time.Second {
		t.Errorf("shutdown took %v with a hanging destination; want about %v at most", took, cfg.PublishTimeout)
	}
	sizes := checkpointSizes(t, cfg.CheckpointFile, v)
	if len(sizes) == 0 || sizes[len(sizes)-1] != 6 {
		t.Errorf("checkpoint sizes %v; want the last to cover all 6 events", sizes)
	}
}

// TestNewRefusesBadConfig: a configuration the daemon cannot work with is
// refused with the field's name, and the store is not created.
func TestNewRefusesBadConfig(t *testing.T) {
	for _, tc := range []struct {
		field string
		edit  func(*Config)
	}{
		{"Store", func(c *Config) { c.Store = "" }},
		{"Listen", func(c *Config) { c.Listen = "" }},
		{"NodeID", func(c *Config) { c.NodeID = "chainlog:amendments" }},
		{"VerifyInterval", func(c *Config) { c.VerifyInterval = 0 }},
		{"FullVerifyInterval", func(c *Config) { c.FullVerifyInterval = -time.Second }},
		{"CheckpointInterval", func(c *Config) { c.CheckpointInterval = 0 }},
		{"PublishTimeout", func(c *Config) { c.PublishTimeout = 0 }},
		{"ReadTimeout", func(c *Config) { c.ReadTimeout = 0 }},
		{"MaxBodyBytes", func(c *Config) { c.MaxBodyBytes = 0 }},
		{"MaxInflightBytes", func(c *Config) { c.MaxInflightBytes = -1 }},
		{"QueueEvents", func(c *Config) { c.QueueEvents = 0 }},
		{"BatchEvents", func(c *Config) { c.BatchEvents = 0 }},
		{"CheckpointFile", func(c *Config) { withSigner(t, c); c.CheckpointFile = "" }},
	} {
		t.Run(tc.field, func(t *testing.T) {
			cfg := testConfig(t)
			tc.edit(&cfg)
			d, err := New(cfg)
			if err == nil || !strings.Contains(err.Error(), tc.field) {
				t.Fatalf("New = %v, %v; want an error naming %s", d, err, tc.field)
			}
			if cfg.Store != "" {
				if _, err := os.Stat(cfg.Store); !errors.Is(err, os.ErrNotExist) {
					t.Errorf("the refused configuration created the store (stat: %v)", err)
				}
			}
		})
	}
}

// TestRateLimited: a call inside the interval since the last run is
// skipped; the first call, and one an interval or more later, run.
func TestRateLimited(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var now time.Time
	runs := 0
	r := &rateLimited{every: time.Second, now: func() time.Time { return now },
		run: func(context.Context) error { runs++; return nil }}
	for i, step := range []struct {
		at   time.Duration
		runs int
	}{
		{0, 1}, {0, 1}, {999 * time.Millisecond, 1}, {time.Second, 2},
		{1500 * time.Millisecond, 2}, {2 * time.Second, 3}, {10 * time.Second, 4},
	} {
		now = t0.Add(step.at)
		if err := r.maybe(context.Background()); err != nil {
			t.Fatal(err)
		}
		if runs != step.runs {
			t.Fatalf("step %d at +%v: %d runs; want %d", i, step.at, runs, step.runs)
		}
	}
	boom := errors.New("boom")
	r.run = func(context.Context) error { return boom }
	now = now.Add(time.Second)
	if err := r.maybe(context.Background()); !errors.Is(err, boom) {
		t.Errorf("maybe = %v; want the run's error", err)
	}
}

// TestVerifySchedule: a background verification is a whole-store one once
// the full interval has passed since the last whole one.
func TestVerifySchedule(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	now := t0
	vs := &verifySchedule{full: time.Hour, now: func() time.Time { return now }, last: t0}
	for i, step := range []struct {
		at    time.Duration
		whole bool
	}{
		{time.Minute, false}, {59 * time.Minute, false}, {time.Hour, true},
		{time.Hour + time.Minute, false}, {2*time.Hour - time.Second, false}, {2 * time.Hour, true},
	} {
		now = t0.Add(step.at)
		if got := vs.whole(); got != step.whole {
			t.Errorf("step %d at +%v: whole = %v; want %v", i, step.at, got, step.whole)
		}
	}
}

// metric returns the value of an unlabelled metric on the daemon's
// /metrics, or "" when it is not there.
func (r *running) metric(t *testing.T, name string) string {
	t.Helper()
	resp, err := http.Get(r.url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), name+" "); ok {
			return v
		}
	}
	return ""
}

// TestRunWholeVerificationFollowsTheClock: the background verification
// checks new rows every verify interval, and the whole store only once
// the injected clock passed the full interval. A row altered after the
// incremental check read it is found by the whole-store one.
func TestRunWholeVerificationFollowsTheClock(t *testing.T) {
	cfg := testConfig(t)
	cfg.VerifyInterval = 5 * time.Millisecond
	var clock atomic.Int64
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	cfg.Now = func() time.Time { return t0.Add(time.Duration(clock.Load())) }
	d := start(t, cfg)
	if code, body := d.post(t, "x1", "x2", "x3"); code != http.StatusOK {
		t.Fatalf("POST: %d %s", code, body)
	}
	const checked, valid = "chainlog_last_verification_checked_events", "chainlog_last_verification_valid"
	waitFor(t, "the incremental check to cover the 3 events", func() bool { return d.metric(t, checked) == "3" })

	conn, err := zsqlite.OpenConn(cfg.Store, zsqlite.OpenReadWrite)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetBusyTimeout(10 * time.Second)
	if err := sqlitex.ExecuteTransient(conn, `UPDATE events SET agent_id = 'mallory' WHERE id = 'x1'`, nil); err != nil {
		t.Fatal(err)
	}
	// The incremental checks go on reading new rows only.
	time.Sleep(100 * time.Millisecond)
	if v := d.metric(t, valid); v != "1" || strings.Contains(d.log.String(), "INVALID") {
		t.Fatalf("before the full interval passed: valid = %q; want 1, and nothing INVALID in the log\n%s", v, d.log)
	}
	clock.Add(int64(cfg.FullVerifyInterval))
	waitFor(t, "the whole-store verification to find the store INVALID", func() bool { return d.metric(t, valid) == "0" })
	if !strings.Contains(d.log.String(), "verification found the store INVALID") {
		t.Errorf("the log does not say the store is INVALID:\n%s", d.log)
	}
}

// waitFor polls cond for up to 20 seconds.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); !cond(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// TestRunServesTiles: the daemon serves its checkpoint and the tiles of
// its tree; each leaf's entry proves into the served checkpoint through
// the served tiles, read with x/mod's tile reader, which checks every tile
// against the checkpoint's root.
func TestRunServesTiles(t *testing.T) {
	cfg := testConfig(t)
	v := withSigner(t, &cfg)
	d := start(t, cfg)
	ids := make([]string, 300)
	for i := range ids {
		ids[i] = fmt.Sprintf("e%d", i)
	}
	if code, body := d.post(t, ids...); code != http.StatusOK {
		t.Fatalf("POST: %d %s", code, body)
	}
	get := func(path string) []byte {
		resp, err := http.Get(d.url + "/" + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("GET /%s: %d %s %v", path, resp.StatusCode, b, err)
		}
		return b
	}
	// The checkpoint is signed after the commit is acknowledged.
	var cp chainlog.Checkpoint
	waitFor(t, "a checkpoint of the 300 events", func() bool {
		resp, err := http.Get(d.url + "/checkpoint")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode == http.StatusNotFound {
			return false
		}
		if cp, err = chainlog.OpenCheckpoint(b, v); err != nil {
			t.Fatalf("GET /checkpoint: %d %q: %v", resp.StatusCode, b, err)
		}
		return cp.Size == 300
	})
	thr := tlog.TileHashReader(tlog.Tree{N: cp.Size, Hash: cp.Root}, httpTiles(get))
	bundles := [][]byte{get("tile/entries/000"), get("tile/entries/001.p/44")}
	idx := int64(0)
	for _, b := range bundles {
		for len(b) > 0 {
			n := int(b[0])<<8 | int(b[1])
			entry := b[2 : 2+n]
			b = b[2+n:]
			p, err := tlog.ProveRecord(cp.Size, idx, thr)
			if err != nil {
				t.Fatalf("prove %d from the served tiles: %v", idx, err)
			}
			if err := tlog.CheckRecord(p, cp.Size, cp.Root, idx, tlog.RecordHash(entry)); err != nil {
				t.Fatalf("entry %d: %v", idx, err)
			}
			idx++
		}
	}
	if idx != 300 {
		t.Fatalf("%d entries served; want 300", idx)
	}
}

// httpTiles reads tiles from the daemon for tlog.TileHashReader.
type httpTiles func(path string) []byte

func (h httpTiles) Height() int { return tiles.Height }

func (h httpTiles) ReadTiles(ts []tlog.Tile) ([][]byte, error) {
	out := make([][]byte, len(ts))
	for i, t := range ts {
		out[i] = h(tiles.Tile{Level: t.L, N: t.N, W: t.W}.Path())
	}
	return out, nil
}

func (h httpTiles) SaveTiles([]tlog.Tile, [][]byte) {}
