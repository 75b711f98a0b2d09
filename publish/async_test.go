package publish_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"chainlog/publish"

	"github.com/prometheus/client_golang/prometheus"
)

// gatedDest is a destination whose attempts block until the test lets
// them finish, each with the error the test gives.
type gatedDest struct {
	entered chan []byte // an attempt started with this checkpoint
	finish  chan error  // the attempt's result
	mu      sync.Mutex
	got     [][]byte // checkpoints published successfully
}

func newGated() *gatedDest {
	return &gatedDest{entered: make(chan []byte, 16), finish: make(chan error)}
}

func (g *gatedDest) String() string { return "gated" }

func (g *gatedDest) Publish(ctx context.Context, signed []byte) error {
	g.entered <- signed
	select {
	case err := <-g.finish:
		if err == nil {
			g.mu.Lock()
			g.got = append(g.got, signed)
			g.mu.Unlock()
		}
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (g *gatedDest) published() []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	var out []string
	for _, b := range g.got {
		out = append(out, string(b))
	}
	return out
}

// syncBuffer is a log destination safe for concurrent writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func newMetrics() (*publish.Metrics, *prometheus.Registry) {
	reg := prometheus.NewRegistry()
	return publish.NewMetrics(reg), reg
}

func counter(t *testing.T, reg *prometheus.Registry, name, dest string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "destination" && l.GetValue() == dest {
					if m.Counter != nil {
						return m.Counter.GetValue()
					}
					return m.Gauge.GetValue()
				}
			}
		}
	}
	t.Fatalf("no metric %s{destination=%q}", name, dest)
	return 0
}

// A checkpoint handed over while the destination is stuck returns at once;
// newer ones supersede older ones, and the newest is published when the
// destination recovers.
func TestAsyncNeverBlocksAndCoalesces(t *testing.T) {
	t.Parallel()
	g := newGated()
	m, reg := newMetrics()
	var logs syncBuffer
	a := publish.NewAsync(g, publish.AsyncConfig{Name: "slow", Timeout: time.Hour, Metrics: m,
		Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err := a.Publish(t.Context(), note("1")); err != nil {
		t.Fatal(err)
	}
	if got := <-g.entered; string(got) != string(note("1")) {
		t.Fatalf("first attempt with %q", got)
	}
	// The destination is now stuck on checkpoint 1. These return at once
	// (were they to wait, the test would hang here).
	for _, size := range []string{"2", "3", "4"} {
		if err := a.Publish(t.Context(), note(size)); err != nil {
			t.Fatal(err)
		}
	}
	if got := counter(t, reg, "chainlog_checkpoint_publish_pending", "slow"); got != 1 {
		t.Errorf("pending = %v while the destination is stuck; want 1", got)
	}
	if got := counter(t, reg, "chainlog_checkpoint_publish_superseded_total", "slow"); got != 2 {
		t.Errorf("superseded = %v; want 2 (checkpoints 2 and 3 replaced before any attempt)", got)
	}
	if !strings.Contains(logs.String(), "falling behind") || strings.Count(logs.String(), "falling behind") != 1 {
		t.Errorf("log = %q; want one line saying the destination falls behind", logs.String())
	}
	g.finish <- nil // 1 is published
	if got := <-g.entered; string(got) != string(note("4")) {
		t.Fatalf("second attempt with %q; want the newest checkpoint, 4", got)
	}
	g.finish <- nil
	if !a.Close(time.Minute) {
		t.Error("Close reported an unpublished checkpoint")
	}
	if got, want := g.published(), []string{string(note("1")), string(note("4"))}; !equal(got, want) {
		t.Errorf("published %q; want %q", got, want)
	}
	if got := counter(t, reg, "chainlog_checkpoint_published_total", "slow"); got != 2 {
		t.Errorf("published_total = %v; want 2", got)
	}
	if got := counter(t, reg, "chainlog_checkpoint_publish_pending", "slow"); got != 0 {
		t.Errorf("pending = %v after catching up; want 0", got)
	}
	if !strings.Contains(logs.String(), "caught up") {
		t.Errorf("log = %q; want a line when the destination caught up", logs.String())
	}
	if err := a.Publish(t.Context(), note("5")); err == nil {
		t.Error("Publish after Close: no error")
	}
}

// A failed attempt is counted, logged and retried with the newest
// checkpoint; an attempt that hangs is cut off by the timeout.
func TestAsyncRetriesAndTimesOut(t *testing.T) {
	t.Parallel()
	g := newGated()
	m, reg := newMetrics()
	var logs syncBuffer
	a := publish.NewAsync(g, publish.AsyncConfig{Name: "flaky", Timeout: 50 * time.Millisecond,
		MinBackoff: time.Millisecond, MaxBackoff: 2 * time.Millisecond, Metrics: m,
		Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	defer a.Close(0)
	if err := a.Publish(t.Context(), note("1")); err != nil {
		t.Fatal(err)
	}
	<-g.entered
	g.finish <- errors.New("connection refused")
	// The retry: let it hang until the per-attempt timeout ends it.
	if got := <-g.entered; string(got) != string(note("1")) {
		t.Fatalf("retry with %q; want checkpoint 1 again", got)
	}
	// Third attempt: a newer checkpoint arrived meanwhile.
	if err := a.Publish(t.Context(), note("2")); err != nil {
		t.Fatal(err)
	}
	if got := <-g.entered; string(got) != string(note("2")) {
		t.Fatalf("third attempt with %q; want the newest checkpoint, 2", got)
	}
	g.finish <- nil
	if !a.Close(time.Minute) {
		t.Error("Close reported an unpublished checkpoint")
	}
	if got := counter(t, reg, "chainlog_checkpoint_publish_failures_total", "flaky"); got != 2 {
		t.Errorf("failures = %v; want 2 (one error, one timeout)", got)
	}
	for _, want := range []string{"connection refused", "deadline exceeded", "retrying"} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("log = %q; want it to contain %q", logs.String(), want)
		}
	}
}

// Close waits a bounded time for a destination that never answers, then
// gives up and says so.
func TestAsyncCloseIsBounded(t *testing.T) {
	t.Parallel()
	g := newGated()
	a := publish.NewAsync(g, publish.AsyncConfig{Timeout: time.Hour})
	if err := a.Publish(t.Context(), note("1")); err != nil {
		t.Fatal(err)
	}
	<-g.entered
	if a.Close(10 * time.Millisecond) {
		t.Error("Close = true with the checkpoint never published; want false")
	}
	if got := g.published(); len(got) != 0 {
		t.Errorf("published %q", got)
	}
}

// An HTTP destination that accepts the connection and never answers, and a
// command that sleeps, cost the signer nothing; each attempt is cut off.
func TestAsyncRealDestinationsThatHang(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	hit := make(chan struct{}, 16)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hit <- struct{}{}
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	defer close(release)
	m, reg := newMetrics()
	dests := []*publish.Async{
		publish.NewAsync(publish.HTTP{URL: srv.URL}, publish.AsyncConfig{Name: "url", Timeout: 100 * time.Millisecond,
			MinBackoff: time.Hour, Metrics: m}),
		publish.NewAsync(publish.Command{Argv: []string{"sh", "-c", "sleep 30"}}, publish.AsyncConfig{Name: "command",
			Timeout: 100 * time.Millisecond, MinBackoff: time.Hour, Metrics: m}),
	}
	for _, a := range dests {
		if err := a.Publish(t.Context(), note("1")); err != nil {
			t.Fatal(err)
		}
	}
	<-hit
	// Both attempts fail by their timeout (the command's orphaned sleep
	// does not keep it waiting), then wait an hour to retry.
	waitCounter(t, reg, "chainlog_checkpoint_publish_failures_total", "url", 1)
	waitCounter(t, reg, "chainlog_checkpoint_publish_failures_total", "command", 1)
	for _, a := range dests {
		if a.Close(0) {
			t.Errorf("%s: Close = true; want false, nothing was published", a)
		}
	}
}

func waitCounter(t *testing.T, reg *prometheus.Registry, name, dest string, want float64) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for counter(t, reg, name, dest) < want {
		if time.Now().After(deadline) {
			t.Fatalf("%s{destination=%q} still %v after 20s; want %v", name, dest, counter(t, reg, name, dest), want)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestAsyncCloseTwice(t *testing.T) {
	t.Parallel()
	g := newGated()
	a := publish.NewAsync(g, publish.AsyncConfig{Timeout: time.Hour})
	if err := a.Publish(t.Context(), note("1")); err != nil {
		t.Fatal(err)
	}
	<-g.entered
	first := a.Close(0)
	second := a.Close(0) // a second Close neither panics nor blocks
	if first || second {
		t.Errorf("Close = %v, then %v, with the checkpoint never published; want false", first, second)
	}
}

// TestAsyncRejectedIsNotRetried: a failure that wraps ErrRejected drops
// the checkpoint (no retry, nothing pending); the next one is tried.
func TestAsyncRejectedIsNotRetried(t *testing.T) {
	t.Parallel()
	g := newGated()
	a := publish.NewAsync(g, publish.AsyncConfig{Name: "gated", MinBackoff: time.Millisecond})
	if err := a.Publish(t.Context(), []byte("1")); err != nil {
		t.Fatal(err)
	}
	<-g.entered
	g.finish <- errors.Join(publish.ErrRejected, errors.New("422"))
	select {
	case got := <-g.entered:
		t.Fatalf("checkpoint %q attempted again after a rejection", got)
	case <-time.After(100 * time.Millisecond):
	}
	if err := a.Publish(t.Context(), []byte("2")); err != nil {
		t.Fatal(err)
	}
	if got := <-g.entered; string(got) != "2" {
		t.Fatalf("attempt with %q; want the next checkpoint", got)
	}
	g.finish <- nil
	if !a.Close(5 * time.Second) {
		t.Error("Close = false; want everything published or rejected")
	}
	if got := g.published(); len(got) != 1 || got[0] != "2" {
		t.Errorf("published = %q; want [2]", got)
	}
}
