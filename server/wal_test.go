package server_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"chainlog"
	"chainlog/sqlite"

	zsqlite "zombiezen.com/go/sqlite"
	zsqlitex "zombiezen.com/go/sqlite/sqlitex"
)

// walStore is a writable store and the daemon's read-only one on the same
// file, plus a third connection to checkpoint from, as an operator's
// sqlite3 shell would.
type walStore struct {
	path string
	st   *sqlite.Store
	ro   *sqlite.Store
	cp   *zsqlite.Conn
	next int // next event number
}

func newWALStore(t *testing.T) *walStore {
	t.Helper()
	path := filepath.Join(t.TempDir(), "chainlog.db")
	st, err := sqlite.Open(t.Context(), path, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	ro, err := sqlite.OpenReadOnly(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ro.Close() })
	return &walStore{path: path, st: st, ro: ro, cp: rawConn(t, path)}
}

// ingest commits one batch of n events with 1 KiB of data each.
func (w *walStore) ingest(t *testing.T, n int) {
	t.Helper()
	pad := strings.Repeat("x", 1024)
	evs := make([]chainlog.Event, n)
	for i := range evs {
		line := fmt.Sprintf(`{"id":"e%d","node_id":"n%d","event_type":"tool_call","ts":"2026-02-01T09:00:00Z","data":{"pad":%q}}`, w.next, w.next%3, pad)
		w.next++
		var err error
		if evs[i], err = chainlog.DecodeEvent([]byte(line), ""); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := w.st.Ingest(t.Context(), evs); err != nil {
		t.Fatal(err)
	}
}

// checkpoint runs PRAGMA wal_checkpoint(TRUNCATE) with the given busy
// timeout and returns its busy, log and checkpointed columns.
func (w *walStore) checkpoint(t *testing.T, busyTimeout time.Duration) (busy, log, done int64) {
	t.Helper()
	w.cp.SetBusyTimeout(busyTimeout)
	err := zsqlitex.ExecuteTransient(w.cp, "PRAGMA wal_checkpoint(TRUNCATE)", &zsqlitex.ExecOptions{
		ResultFunc: func(stmt *zsqlite.Stmt) error {
			busy, log, done = stmt.ColumnInt64(0), stmt.ColumnInt64(1), stmt.ColumnInt64(2)
			return nil
		},
	})
	if err != nil {
		t.Fatalf("wal_checkpoint: %v", err)
	}
	return busy, log, done
}

func (w *walStore) walSize(t *testing.T) int64 {
	t.Helper()
	fi, err := os.Stat(w.path + "-wal")
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
}

// TestWALNotHeldBack: while a Monitor checks the read-only store over and
// over, as the daemon's verify loop and /v1/integrity do, batches keep
// committing through the writable store, and a checkpoint from another
// connection still truncates the WAL: the reader never pins an old
// snapshot, so the WAL stays small. (Not parallel: it measures the WAL.)
func TestWALNotHeldBack(t *testing.T) {
	t.Parallel()
	w := newWALStore(t)
	w.ingest(t, 100)
	mon := chainlog.NewMonitor()

	ctx, stop := context.WithCancel(t.Context())
	var checks atomic.Int64
	var wg sync.WaitGroup
	var failed atomic.Pointer[error]
	fail := func(err error) { failed.CompareAndSwap(nil, &err) }
	wg.Go(func() {
		for ctx.Err() == nil {
			rep, err := mon.Check(ctx, w.ro)
			if err != nil {
				if ctx.Err() == nil {
					fail(err)
				}
				return
			}
			if rep.Status != chainlog.StatusValid {
				fail(fmt.Errorf("check %d: %s: %v", checks.Load(), rep.Status, rep.Error))
				return
			}
			checks.Add(1)
		}
	})

	const rounds, batches, perBatch = 4, 5, 100 // 2000 events, about 3 MB of WAL frames
	var maxWAL int64
	for r := range rounds {
		for range batches {
			w.ingest(t, perBatch)
			maxWAL = max(maxWAL, w.walSize(t))
		}
		before := checks.Load()
		busy, log, done := w.checkpoint(t, 10*time.Second)
		if busy != 0 || log != done {
			t.Errorf("round %d: wal_checkpoint(TRUNCATE) = busy %d, log %d, checkpointed %d; want busy 0, every frame checkpointed", r, busy, log, done)
		}
		if size := w.walSize(t); size != 0 {
			t.Errorf("round %d: WAL is %d bytes after TRUNCATE; want 0", r, size)
		}
		t.Logf("round %d: %d checks ran meanwhile", r, checks.Load()-before)
	}
	// Let the checks catch up with the last commits, then stop them.
	waitFor(t, "a check covering every event", func() bool {
		last := mon.Last()
		return failed.Load() != nil || last != nil && last.Checked == int64(w.next)
	})
	stop()
	wg.Wait()
	if err := failed.Load(); err != nil {
		t.Fatalf("Monitor.Check: %v", *err)
	}
	if n := checks.Load(); n < rounds {
		t.Errorf("only %d checks ran; want them to run throughout", n)
	}
	t.Logf("%d checks; largest WAL %d KiB", checks.Load(), maxWAL>>10)
	if maxWAL > 4<<20 {
		t.Errorf("WAL grew to %d bytes between checkpoints; want it bounded by what one round writes", maxWAL)
	}
}

// TestWALHeldBySnapshot shows what the test above rules out: a reader that
// holds one read transaction (Snapshot, as verify-integrity does) makes a
// TRUNCATE checkpoint fail with busy, and the WAL keeps growing.
func TestWALHeldBySnapshot(t *testing.T) {
	t.Parallel()
	w := newWALStore(t)
	w.ingest(t, 100)
	err := w.ro.Snapshot(t.Context(), func() error {
		if _, err := w.ro.Heads(t.Context(), ""); err != nil { // starts the read transaction
			return err
		}
		start := w.walSize(t)
		for range 20 {
			w.ingest(t, 100)
		}
		if busy, _, _ := w.checkpoint(t, 100*time.Millisecond); busy != 1 {
			t.Errorf("wal_checkpoint(TRUNCATE) under a held snapshot: busy = %d; want 1", busy)
		}
		if grown := w.walSize(t); grown < start+(2<<20) {
			t.Errorf("WAL went from %d to %d bytes under a held snapshot; want it to grow past the auto-checkpoint", start, grown)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if busy, _, _ := w.checkpoint(t, 10*time.Second); busy != 0 {
		t.Errorf("wal_checkpoint(TRUNCATE) after the snapshot ended: busy = %d; want 0", busy)
	}
}
