package server_test

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"

	"chainlog"
	"chainlog/server"
)

// events returns n distinct events; their content does not matter to a
// fake store.
func events(prefix string, n int) []chainlog.Event {
	evs := make([]chainlog.Event, n)
	for i := range evs {
		evs[i] = chainlog.Event{ID: fmt.Sprint(prefix, i), NodeID: "n", EventType: "t", TS: "ts"}
	}
	return evs
}

// startWriter runs a writer on f; it is closed at cleanup.
func startWriter(t *testing.T, f *fakeIngester, cfg server.WriterConfig) *server.Writer {
	t.Helper()
	w := server.NewWriter(f, cfg)
	go w.Run(context.Background())
	t.Cleanup(func() {
		if f.gate != nil {
			select {
			case <-f.gate:
			default:
				close(f.gate)
			}
		}
		w.Close()
	})
	return w
}

type submitted struct {
	res chainlog.IngestResult
	err error
	at  time.Time
}

// submitAsync submits in a goroutine; the result arrives on the channel.
func submitAsync(w *server.Writer, evs []chainlog.Event) <-chan submitted {
	c := make(chan submitted, 1)
	go func() {
		res, err := w.Submit(context.Background(), evs)
		c <- submitted{res, err, time.Now()}
	}()
	return c
}

func TestWriterSubmitWaitsForCommit(t *testing.T) {
	t.Parallel()
	f := newFake(nil, true)
	w := startWriter(t, f, server.WriterConfig{})
	c := submitAsync(w, events("a", 2))
	f.waitEntered(t, 1)
	select {
	case s := <-c:
		t.Fatalf("Submit returned %+v before its commit finished", s)
	case <-time.After(50 * time.Millisecond):
	}
	f.step()
	s := <-c
	if s.err != nil || s.res != (chainlog.IngestResult{Inserted: 2}) {
		t.Fatalf("Submit = %+v, %v; want 2 inserted", s.res, s.err)
	}
	if f.Done() != 1 {
		t.Errorf("Submit returned with %d commits done; want 1", f.Done())
	}
	if w.Queued() != 0 {
		t.Errorf("Queued() = %d after the commit; want 0", w.Queued())
	}
}

// TestWriterSubmitIgnoresCancel: once queued, a request is answered only
// after its commit, even when its context ends, so that no answer can
// precede the commit and no queued event is silently dropped.
func TestWriterSubmitIgnoresCancel(t *testing.T) {
	t.Parallel()
	f := newFake(nil, true)
	w := startWriter(t, f, server.WriterConfig{})
	ctx, cancel := context.WithCancel(context.Background())
	c := make(chan submitted, 1)
	go func() {
		res, err := w.Submit(ctx, events("a", 1))
		c <- submitted{res: res, err: err}
	}()
	f.waitEntered(t, 1)
	cancel()
	select {
	case s := <-c:
		t.Fatalf("Submit returned %+v, %v after cancel, before the commit", s.res, s.err)
	case <-time.After(50 * time.Millisecond):
	}
	f.step()
	if s := <-c; s.err != nil || s.res.Inserted != 1 {
		t.Errorf("Submit = %+v, %v; want 1 inserted", s.res, s.err)
	}
}

// TestWriterGroupCommit: requests queued while a commit runs are merged
// into the next one, each answered with its own counts.
func TestWriterGroupCommit(t *testing.T) {
	t.Parallel()
	f := newFake(nil, true)
	w := startWriter(t, f, server.WriterConfig{})
	first := submitAsync(w, events("first", 1))
	f.waitEntered(t, 1)
	var cs []<-chan submitted
	for i := range 10 {
		cs = append(cs, submitAsync(w, events(fmt.Sprint("r", i, "-"), i+1)))
	}
	waitQueued(t, w, 56, 10)
	f.open()
	if s := <-first; s.err != nil || s.res.Inserted != 1 {
		t.Errorf("first = %+v, %v", s.res, s.err)
	}
	for i, c := range cs {
		if s := <-c; s.err != nil || s.res.Inserted != i+1 {
			t.Errorf("request %d = %+v, %v; want %d inserted", i, s.res, s.err, i+1)
		}
	}
	calls := f.Calls()
	if len(calls) != 2 {
		t.Fatalf("commits = %v; want 2: the first, then all ten merged", calls)
	}
	if got := calls[1]; len(got) != 10 {
		t.Errorf("second commit's groups = %v; want the ten requests", got)
	}
}

// TestWriterMergesCursors: requests merged into one commit pass all their
// cursors, in queue order, so that the store keeps the later one of a file.
func TestWriterMergesCursors(t *testing.T) {
	t.Parallel()
	f := newFake(nil, true)
	w := startWriter(t, f, server.WriterConfig{})
	first := chainlog.Cursor{Source: "codex", Path: "/s/a.jsonl", Offset: 5}
	c0 := make(chan error, 1)
	go func() { _, err := w.Submit(context.Background(), events("first", 1), first); c0 <- err }()
	f.waitEntered(t, 1)
	a := chainlog.Cursor{Source: "codex", Path: "/s/a.jsonl", Offset: 10}
	b := chainlog.Cursor{Source: "codex", Path: "/s/b.jsonl", Offset: 3}
	a2 := chainlog.Cursor{Source: "codex", Path: "/s/a.jsonl", Offset: 20}
	c1 := make(chan error, 1)
	go func() { _, err := w.Submit(context.Background(), events("x", 1), a, b); c1 <- err }()
	waitQueued(t, w, 2, 1) // the held commit's event, and x's
	c2 := make(chan error, 1)
	go func() { _, err := w.Submit(context.Background(), nil, a2); c2 <- err }()
	waitQueued(t, w, 2, 2)
	f.open()
	for i, c := range []chan error{c0, c1, c2} {
		if err := <-c; err != nil {
			t.Errorf("request %d: %v", i, err)
		}
	}
	want := [][]chainlog.Cursor{{first}, {a, b, a2}}
	if got := f.Cursors(); !reflect.DeepEqual(got, want) {
		t.Errorf("commits' cursors = %+v, want %+v", got, want)
	}
}

// TestWriterMaxBatch: a commit merges requests up to MaxBatch events; a
// request that would overflow it opens the next commit, and one larger
// than MaxBatch commits alone.
func TestWriterMaxBatch(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		sizes []int // requests queued behind a held 1-event commit
		want  [][]int
	}{
		{"fits", []int{2, 3}, [][]int{{1}, {2, 3}}},
		{"overflow opens the next commit", []int{3, 3, 3}, [][]int{{1}, {3}, {3}, {3}}},
		{"fill exactly", []int{2, 3, 4, 1}, [][]int{{1}, {2, 3}, {4, 1}}},
		{"large request alone", []int{1, 12, 2}, [][]int{{1}, {1}, {12}, {2}}},
		{"large request first", []int{12, 1, 1}, [][]int{{1}, {12}, {1, 1}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFake(nil, true)
			w := startWriter(t, f, server.WriterConfig{MaxBatch: 5})
			var cs []<-chan submitted
			cs = append(cs, submitAsync(w, events("gate", 1)))
			f.waitEntered(t, 1)
			queued := int64(1)
			for i, n := range tt.sizes {
				cs = append(cs, submitAsync(w, events(fmt.Sprint("r", i, "-"), n)))
				queued += int64(n)
				waitQueued(t, w, queued, i+1) // queue in order
			}
			f.open()
			for i, c := range cs {
				if s := <-c; s.err != nil {
					t.Errorf("request %d: %v", i, s.err)
				}
			}
			got := f.Calls()
			if !slices.EqualFunc(got, tt.want, slices.Equal) {
				t.Errorf("commits (group sizes) = %v; want %v", got, tt.want)
			}
		})
	}
}

// TestWriterCapacity: Submit refuses with ErrQueueFull once the queue
// (which counts the commit in progress) would exceed Capacity, except that
// a request larger than Capacity is taken when nothing is queued.
func TestWriterCapacity(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		inflight int // events of a request held in its commit
		submit   int
		want     error
	}{
		{"empty, within", 0, 4, nil},
		{"empty, larger than capacity", 0, 10, nil},
		{"fills exactly", 1, 3, nil},
		{"one over", 1, 4, server.ErrQueueFull},
		{"large behind one", 1, 10, server.ErrQueueFull},
		{"full", 4, 1, server.ErrQueueFull},
		{"behind a large request", 10, 1, server.ErrQueueFull},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFake(nil, true)
			w := startWriter(t, f, server.WriterConfig{Capacity: 4})
			var held <-chan submitted
			if tt.inflight > 0 {
				held = submitAsync(w, events("held", tt.inflight))
				f.waitEntered(t, 1)
			}
			c := submitAsync(w, events("new", tt.submit))
			if tt.want != nil {
				s := <-c
				if !errors.Is(s.err, tt.want) {
					t.Fatalf("Submit(%d) with %d in flight = %+v, %v; want %v", tt.submit, tt.inflight, s.res, s.err, tt.want)
				}
				if got := w.Queued(); got != int64(tt.inflight) {
					t.Errorf("Queued() after a refusal = %d; want %d", got, tt.inflight)
				}
				f.open()
			} else {
				jobs := 0
				if tt.inflight > 0 {
					jobs = 1
				}
				waitQueued(t, w, int64(tt.inflight+tt.submit), jobs)
				f.open()
				if s := <-c; s.err != nil || s.res.Inserted != tt.submit {
					t.Fatalf("Submit(%d) = %+v, %v; want all inserted", tt.submit, s.res, s.err)
				}
			}
			if held != nil {
				if s := <-held; s.err != nil {
					t.Errorf("held request: %v", s.err)
				}
			}
			if tt.inflight == 0 && tt.want == nil {
				// Alone in its commit.
				if got := f.Calls(); !slices.EqualFunc(got, [][]int{{tt.submit}}, slices.Equal) {
					t.Errorf("commits = %v; want one of %d", got, tt.submit)
				}
			}
		})
	}
}

// TestWriterLargeRequestAlone: while a request larger than Capacity
// commits, every other request is refused, so it commits alone.
func TestWriterLargeRequestAlone(t *testing.T) {
	t.Parallel()
	f := newFake(nil, true)
	w := startWriter(t, f, server.WriterConfig{Capacity: 3, MaxBatch: 100})
	big := submitAsync(w, events("big", 8))
	f.waitEntered(t, 1)
	if _, err := w.Submit(context.Background(), events("small", 1)); !errors.Is(err, server.ErrQueueFull) {
		t.Errorf("Submit behind the large request = %v; want ErrQueueFull", err)
	}
	f.open()
	if s := <-big; s.err != nil || s.res.Inserted != 8 {
		t.Fatalf("large Submit = %+v, %v", s.res, s.err)
	}
	if res, err := w.Submit(context.Background(), events("small", 1)); err != nil || res.Inserted != 1 {
		t.Errorf("Submit after = %+v, %v", res, err)
	}
	if got := f.Calls(); !slices.EqualFunc(got, [][]int{{8}, {1}}, slices.Equal) {
		t.Errorf("commits = %v; want [[8] [1]]", got)
	}
}

// TestWriterCloseDrains: Close stops taking requests, commits everything
// queued, answers every request, and only then returns.
func TestWriterCloseDrains(t *testing.T) {
	t.Parallel()
	f := newFake(nil, true)
	w := startWriter(t, f, server.WriterConfig{MaxBatch: 7})
	const n = 20
	cs := []<-chan submitted{submitAsync(w, events("gate", 1))}
	f.waitEntered(t, 1)
	for i := range n {
		cs = append(cs, submitAsync(w, events(fmt.Sprint("r", i, "-"), 2)))
	}
	waitQueued(t, w, 1+2*n, n)
	closed := make(chan time.Time, 1)
	go func() { w.Close(); closed <- time.Now() }()
	select {
	case <-closed:
		t.Fatal("Close returned while requests were queued")
	case <-time.After(50 * time.Millisecond):
	}
	// Close has marked the writer closed by now: new requests are refused
	// while the queue drains.
	if _, err := w.Submit(context.Background(), events("late", 1)); !errors.Is(err, server.ErrClosed) {
		t.Errorf("Submit during Close = %v; want ErrClosed", err)
	}
	f.open()
	<-closed
	// Every request was answered before Close returned: each Submit now
	// returns at once.
	total := 0
	for i, c := range cs {
		select {
		case s := <-c:
			if s.err != nil {
				t.Errorf("request %d: %v", i, s.err)
			}
			total += s.res.Inserted
		case <-time.After(5 * time.Second):
			t.Fatalf("request %d not answered after Close returned", i)
		}
	}
	if total != 1+2*n {
		t.Errorf("%d events inserted; want %d", total, 1+2*n)
	}
	committed := 0
	for _, call := range f.Calls() {
		for _, g := range call {
			committed += g
		}
	}
	if committed != 1+2*n {
		t.Errorf("%d events committed; want %d", committed, 1+2*n)
	}
	if _, err := w.Submit(context.Background(), events("after", 1)); !errors.Is(err, server.ErrClosed) {
		t.Errorf("Submit after Close = %v; want ErrClosed", err)
	}
	w.Close() // a second Close returns at once
}

func TestWriterSubmitAfterClose(t *testing.T) {
	t.Parallel()
	f := newFake(nil, false)
	w := startWriter(t, f, server.WriterConfig{})
	w.Close()
	res, err := w.Submit(context.Background(), events("a", 1))
	if !errors.Is(err, server.ErrClosed) || res != (chainlog.IngestResult{}) {
		t.Errorf("Submit after Close = %+v, %v; want ErrClosed", res, err)
	}
	if len(f.Calls()) != 0 {
		t.Errorf("commits = %v; want none", f.Calls())
	}
}

// TestWriterFailure: a failed commit answers every request in it with the
// error; the next commit goes on.
func TestWriterFailure(t *testing.T) {
	t.Parallel()
	f := newFake(nil, true)
	f.failOn(2, errInjected)
	w := startWriter(t, f, server.WriterConfig{})
	gate := submitAsync(w, events("gate", 1))
	f.waitEntered(t, 1)
	var cs []<-chan submitted
	for i := range 4 {
		cs = append(cs, submitAsync(w, events(fmt.Sprint("r", i, "-"), 1)))
	}
	waitQueued(t, w, 5, 4)
	f.open()
	if s := <-gate; s.err != nil {
		t.Errorf("first commit: %v", s.err)
	}
	for i, c := range cs {
		if s := <-c; !errors.Is(s.err, errInjected) || s.res != (chainlog.IngestResult{}) {
			t.Errorf("request %d in the failed commit = %+v, %v; want the commit's error", i, s.res, s.err)
		}
	}
	if w.Queued() != 0 {
		t.Errorf("Queued() = %d after a failed commit; want 0", w.Queued())
	}
	if res, err := w.Submit(context.Background(), events("next", 2)); err != nil || res.Inserted != 2 {
		t.Errorf("Submit after the failure = %+v, %v", res, err)
	}
}

// TestWriterAfterHook: After runs in the writer after each successful
// commit, with Run's context, before the next commit starts.
func TestWriterAfterHook(t *testing.T) {
	t.Parallel()
	type key struct{}
	f := newFake(nil, false)
	f.failOn(3, errInjected)
	var mu sync.Mutex
	var seen []int // commits done when the hook ran
	var ctxOK = true
	var hookDuringCommit bool
	w := server.NewWriter(f, server.WriterConfig{After: func(ctx context.Context) {
		mu.Lock()
		defer mu.Unlock()
		seen = append(seen, f.Done())
		if ctx.Value(key{}) != "run" {
			ctxOK = false
		}
		if len(f.Calls()) != f.Done() {
			hookDuringCommit = true
		}
	}})
	go w.Run(context.WithValue(context.Background(), key{}, "run"))
	for i := range 5 {
		_, err := w.Submit(context.Background(), events(fmt.Sprint("r", i, "-"), 1))
		if (i == 2) != errors.Is(err, errInjected) {
			t.Errorf("request %d: %v", i, err)
		}
	}
	w.Close()
	mu.Lock()
	defer mu.Unlock()
	if want := []int{1, 2, 4, 5}; !slices.Equal(seen, want) {
		t.Errorf("hook ran after commits %v; want %v (not after the failed third)", seen, want)
	}
	if !ctxOK {
		t.Error("the hook did not get Run's context")
	}
	if hookDuringCommit {
		t.Error("the hook ran while a commit was in progress")
	}
}

// TestWriterAfterHookBeforeNextCommit: a slow hook holds the next commit,
// and requests queued meanwhile are merged into it.
func TestWriterAfterHookBeforeNextCommit(t *testing.T) {
	t.Parallel()
	f := newFake(nil, false)
	hookIn, hookOut := make(chan struct{}, 10), make(chan struct{})
	w := server.NewWriter(f, server.WriterConfig{After: func(context.Context) {
		hookIn <- struct{}{}
		<-hookOut
	}})
	go w.Run(context.Background())
	first := submitAsync(w, events("a", 1))
	<-hookIn
	// The first request is answered before its hook runs.
	if s := <-first; s.err != nil {
		t.Fatal(s.err)
	}
	var cs []<-chan submitted
	for i := range 3 {
		cs = append(cs, submitAsync(w, events(fmt.Sprint("b", i), 1)))
	}
	waitQueued(t, w, 3, 3)
	if n := len(f.Calls()); n != 1 {
		t.Errorf("%d commits started while the hook ran; want 1", n)
	}
	close(hookOut)
	for _, c := range cs {
		if s := <-c; s.err != nil {
			t.Error(s.err)
		}
	}
	w.Close()
	if got := f.Calls(); !slices.EqualFunc(got, [][]int{{1}, {1, 1, 1}}, slices.Equal) {
		t.Errorf("commits = %v; want [[1] [1 1 1]]", got)
	}
}

// queueGauge reads chainlog_queue_events from m's registry.
func queueGauge(t *testing.T, m *server.Metrics) float64 {
	t.Helper()
	mfs, err := m.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == "chainlog_queue_events" {
			return mf.GetMetric()[0].GetGauge().GetValue()
		}
	}
	t.Fatal("no chainlog_queue_events")
	return 0
}

// TestWriterQueueGauge: however Submits, refusals and commits interleave,
// the queue gauge reads 0 once everything is committed (a depth read
// before a commit must not be published after it).
func TestWriterQueueGauge(t *testing.T) {
	t.Parallel()
	for round := range 200 {
		m := server.NewMetrics()
		w := server.NewWriter(newFake(nil, false), server.WriterConfig{Metrics: m, Capacity: int64(4 + round%20)})
		go w.Run(context.Background())
		var wg sync.WaitGroup
		for i := range 50 {
			wg.Go(func() {
				_, err := w.Submit(context.Background(), events("x", 1+i%3))
				if err != nil && !errors.Is(err, server.ErrQueueFull) {
					t.Errorf("Submit: %v", err)
				}
			})
		}
		wg.Wait()
		if got := queueGauge(t, m); got != 0 || w.Queued() != 0 {
			t.Fatalf("round %d: chainlog_queue_events = %v, Queued() = %d after every request was answered; want 0", round, got, w.Queued())
		}
		w.Close()
	}
}
