package sqlite_test

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"testing"

	"chainlog"
	"chainlog/sqlite"
)

// wantContiguous checks that node's chain holds exactly ids (in any order
// when ordered is false), numbered 1..n, each stored once.
func wantContiguous(t *testing.T, path, node string, ids []string, ordered bool) {
	t.Helper()
	chain := chainOf(t, path, node)
	if len(chain) != len(ids) {
		t.Fatalf("node %q: %d rows; want %d", node, len(chain), len(ids))
	}
	want := map[string]bool{}
	for _, id := range ids {
		want[id] = true
	}
	for i, r := range chain {
		if r.Seq != int64(i+1) {
			t.Errorf("node %q position %d: seq = %d; want %d", node, i, r.Seq, i+1)
		}
		if ordered && r.ID != ids[i] {
			t.Errorf("node %q seq %d: id = %s; want %s", node, r.Seq, r.ID, ids[i])
		}
		if !want[r.ID] {
			t.Errorf("node %q seq %d: unexpected or repeated id %s", node, r.Seq, r.ID)
		}
		delete(want, r.ID)
	}
	if got := rawValue(t, path, `SELECT count(*) FROM events WHERE node_id = ?`, node); got != fmt.Sprint(len(ids)) {
		t.Errorf("node %q: %s rows in the table; want %d", node, got, len(ids))
	}
}

// TestTwoStoresAlternate has two Store values on one file write to the
// same node in turn. Each one's head cache is stale whenever the other has
// written since, so every write after the first goes through the
// compare-and-swap conflict path.
func TestTwoStoresAlternate(t *testing.T) {
	t.Parallel()
	path := newStorePath(t)
	clock := testClock()
	warnings := &countingHandler{}
	opts := sqlite.Options{Now: clock, Logger: slog.New(warnings)}
	stores := []*sqlite.Store{openStore(t, path, opts), openStore(t, path, opts)}
	var ids []string
	for i := range 20 {
		e := mkEvent(t, "node-a", i)
		ids = append(ids, e.ID)
		res := ingest(t, stores[i%2], e)
		if want := (chainlog.IngestResult{Inserted: 1}); res != want {
			t.Errorf("event %d: ingest result = %+v; want %+v", i, res, want)
		}
	}
	// Every write but the first found the writing store's head stale.
	if got := warnings.count(); got < 19 {
		t.Errorf("%d conflict retries logged; want at least 19 (the test must exercise the compare-and-swap path)", got)
	}
	// Re-delivery through the store with the stale cache is still a no-op.
	for i, st := range stores {
		res := ingest(t, st, mkEvent(t, "node-a", 18+i))
		if want := (chainlog.IngestResult{Duplicates: 1}); res != want {
			t.Errorf("re-delivery through store %d: ingest result = %+v; want %+v", i, res, want)
		}
	}
	// A batch spanning a stale node and a fresh one.
	e0, e1 := mkEvent(t, "node-a", 20), mkEvent(t, "node-b", 0)
	ingest(t, stores[0], e0, e1)
	ids = append(ids, e0.ID)
	for _, st := range stores {
		closeStore(t, st)
	}

	wantContiguous(t, path, "node-a", ids, true)
	if h := headsPath(t, path)["node-a"]; h.Seq != 21 {
		t.Errorf("node-a head seq = %d; want 21", h.Seq)
	}
	wantValid(t, verifyPath(t, path, ""), 22, 0)
}

// TestConcurrentIngestOneStore has many goroutines share one Store.
func TestConcurrentIngestOneStore(t *testing.T) {
	t.Parallel()
	path := newStorePath(t)
	st := openStore(t, path, sqlite.Options{})
	const workers, batches = 8, 5
	nodes := []string{"node-a", "node-b", "node-c"}
	// work[w][b] is worker w's batch b. (Events are built here: mkEvent
	// may call t.Fatal, which only the test goroutine may do.)
	work := make([][][]chainlog.Event, workers)
	for w := range workers {
		for b := range batches {
			var evs []chainlog.Event
			for _, node := range nodes[:1+(w+b)%len(nodes)] {
				evs = append(evs, mkEvent(t, node, w*100+b))
			}
			// Every other batch repeats an event of the previous one.
			if b > 0 && b%2 == 0 {
				evs = append(evs, mkEvent(t, "node-a", w*100+b-1))
			}
			work[w] = append(work[w], evs)
		}
	}
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for b, evs := range work[w] {
				if _, err := st.Ingest(t.Context(), evs); err != nil {
					t.Errorf("worker %d batch %d: %v", w, b, err)
				}
			}
		})
	}
	wg.Wait()
	closeStore(t, st)

	var total int64
	for i, node := range nodes {
		var ids []string
		for w := range workers {
			for b := range batches {
				if i < 1+(w+b)%len(nodes) {
					ids = append(ids, fmt.Sprintf("%s/%d", node, w*100+b))
				}
			}
		}
		wantContiguous(t, path, node, ids, false)
		total += int64(len(ids))
	}
	wantValid(t, verifyPath(t, path, ""), total, 0)
}

// TestConcurrentIngestTwoStores has two Store values on one file write to
// the same node at the same time, as two ingest processes would.
func TestConcurrentIngestTwoStores(t *testing.T) {
	t.Parallel()
	path := newStorePath(t)
	clock := testClock()
	stores := []*sqlite.Store{
		openStore(t, path, sqlite.Options{Now: clock}),
		openStore(t, path, sqlite.Options{Now: clock}),
	}
	const perStore = 25
	work := make([][]chainlog.Event, len(stores))
	for s := range stores {
		work[s] = mkEvents(t, "node-a", s*1000, s*1000+perStore)
	}
	var wg sync.WaitGroup
	for s, st := range stores {
		wg.Go(func() {
			for i, e := range work[s] {
				if _, err := st.Ingest(t.Context(), []chainlog.Event{e}); err != nil {
					t.Errorf("store %d event %d: %v", s, i, err)
					return
				}
			}
		})
	}
	wg.Wait()
	for _, st := range stores {
		closeStore(t, st)
	}
	var ids []string
	for s := range stores {
		for i := range perStore {
			ids = append(ids, fmt.Sprintf("node-a/%d", s*1000+i))
		}
	}
	wantContiguous(t, path, "node-a", ids, false)
	wantValid(t, verifyPath(t, path, ""), int64(len(ids)), 0)
}

// countingHandler counts the log records of level Warn and above.
type countingHandler struct {
	mu sync.Mutex
	n  int
}

func (h *countingHandler) Enabled(_ context.Context, l slog.Level) bool { return l >= slog.LevelWarn }
func (h *countingHandler) Handle(context.Context, slog.Record) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.n++
	return nil
}
func (h *countingHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *countingHandler) WithGroup(string) slog.Handler      { return h }

func (h *countingHandler) count() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.n
}
