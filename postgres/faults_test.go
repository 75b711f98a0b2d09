package postgres_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"net/url"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"chainlog"
	"chainlog/internal/pgtest"
	"chainlog/postgres"

	"github.com/jackc/pgx/v5"
)

// stampedBatches returns n batches of size events of node, stamped as the
// node would have stamped them: one chain from seq 1.
func stampedBatches(t *testing.T, node string, n, size int) [][]chainlog.StoredEvent {
	t.Helper()
	var hs chainlog.Hasher
	head := chainlog.Head{NodeID: node}
	out := make([][]chainlog.StoredEvent, n)
	for b := range out {
		for i := range size {
			k := b*size + i
			e := decoded(t, node, fmt.Sprintf("%s-%06d", node, k), k)
			next := head.Next(&hs, &e, "")
			out[b] = append(out[b], chainlog.StoredEvent{Event: e, Seq: next.Seq, PrevHash: head.Prev(), Hash: next.Hash})
			head = next
		}
	}
	return out
}

// TestReplicateCopyKilled forwards large batches to a collector's store
// while another connection terminates the store's backend whenever it is
// in a COPY: the calls it hits fail, a retry succeeds, no part of a failed
// batch is ever visible, and at the end the store holds exactly the
// acknowledged rows and verifies VALID.
func TestReplicateCopyKilled(t *testing.T) {
	if testing.Short() {
		t.Skip("replicates large batches under connection kills")
	}
	dsn := pgtest.Schema(t)
	t.Parallel()
	// The store's connections carry an application_name of their own, so
	// that the killer touches no other test's connections on the server.
	var b [4]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	app := "chainlog_copykill_" + hex.EncodeToString(b[:])
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("application_name", app)
	u.RawQuery = q.Encode()
	st, err := postgres.Open(t.Context(), u.String(), postgres.Options{Now: testClock(), MaxConns: 4})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()

	const node, size, batches = "copy-node", 4000, 40
	all := stampedBatches(t, node, batches, size)

	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Second)
	defer cancel()
	watch, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer watch.Close(context.Background())
	killer, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer killer.Close(context.Background())

	stop := make(chan struct{})
	var kills atomic.Int64
	// calls counts the Replicate calls; the killer spares the attempt
	// right after one it cut, so that every batch gets through however
	// slow a COPY is (under the race detector, slower than the killer's
	// pause).
	var calls, spared atomic.Int64
	spared.Store(-1)
	var wg sync.WaitGroup
	var killErr error
	stopKiller := sync.OnceFunc(func() {
		close(stop)
		wg.Wait()
	})
	defer stopKiller()
	wg.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
			}
			if calls.Load() == spared.Load() {
				select {
				case <-stop:
					return
				case <-time.After(time.Millisecond):
				}
				continue
			}
			tried := calls.Load()
			var n int64
			err := killer.QueryRow(ctx, `SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) FROM pg_stat_activity
				WHERE query ILIKE 'COPY%' AND state = 'active' AND application_name = $1 AND pid <> pg_backend_pid()`, app).Scan(&n)
			if err != nil {
				if ctx.Err() == nil {
					killErr = err
				}
				return
			}
			kills.Add(n)
			if n > 0 {
				spared.Store(tried + 1)
			}
			pause := 200 * time.Microsecond
			if n > 0 {
				// Let the retry through, most of the time.
				pause = time.Duration(200+mrand.IntN(300)) * time.Millisecond
			}
			select {
			case <-stop:
				return
			case <-time.After(pause):
			}
		}
	})

	// count is what a reader sees of the node's rows, and the head.
	count := func() (rows, seq int64) {
		t.Helper()
		err := watch.QueryRow(ctx, `SELECT (SELECT count(*) FROM events WHERE node_id = $1),
			coalesce((SELECT seq FROM chain_heads WHERE node_id = $1), 0)`, node).Scan(&rows, &seq)
		if err != nil {
			t.Fatal(err)
		}
		return rows, seq
	}

	var acked int64
	failed, retried := 0, 0
	start := time.Now()
	for i, batch := range all {
		for attempt := 0; ; attempt++ {
			if attempt == 50 {
				t.Fatalf("batch %d: 50 attempts failed", i)
			}
			calls.Add(1)
			res, err := st.Replicate(ctx, batch)
			if err != nil {
				if ctx.Err() != nil {
					t.Fatalf("batch %d: %v", i, err)
				}
				var fe *chainlog.ForkError
				var ge *chainlog.GapError
				var ce *chainlog.ChainError
				if errors.As(err, &fe) || errors.As(err, &ge) || errors.As(err, &ce) {
					t.Fatalf("batch %d: a refusal, not a cut connection: %v", i, err)
				}
				failed++
				if rows, seq := count(); rows != acked || seq != acked {
					t.Fatalf("batch %d failed (%v), and %d rows, head seq %d are visible; want the %d acknowledged", i, err, rows, seq, acked)
				}
				if failed <= 3 {
					t.Logf("batch %d attempt %d: %v", i, attempt, err)
				}
				continue
			}
			if attempt > 0 {
				retried++
			}
			// A failed attempt committed nothing: the retry inserts it all.
			if res.Inserted != len(batch) || res.Duplicates != 0 || res.Head.Seq != batch[len(batch)-1].Seq || res.Head.Hash != batch[len(batch)-1].Hash {
				t.Fatalf("batch %d: %+v, want %d inserted after seq %d", i, res, len(batch), acked)
			}
			acked += int64(len(batch))
			break
		}
		if rows, seq := count(); rows != acked || seq != acked {
			t.Fatalf("after batch %d: %d rows, head seq %d; want %d", i, rows, seq, acked)
		}
		if time.Since(start) > 35*time.Second {
			t.Logf("stopping after %d batches: 35s passed", i+1)
			break
		}
	}
	stopKiller()
	if killErr != nil {
		t.Fatalf("the killer: %v", killErr)
	}
	t.Logf("%d events in %d acknowledged batches; %d backends terminated in a COPY, %d calls failed, %d batches needed a retry; %v",
		acked, acked/size, kills.Load(), failed, retried, time.Since(start).Round(time.Millisecond))
	if failed == 0 {
		t.Fatalf("no call failed: the killer never caught a COPY (%d kills)", kills.Load())
	}

	ro, err := postgres.OpenReadOnly(t.Context(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	rep, err := chainlog.VerifyStore(t.Context(), ro, chainlog.VerifyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Status != chainlog.StatusValid || rep.Checked != acked {
		t.Fatalf("verify: %s, %d checked, want VALID with the %d acknowledged: %+v", rep.Status, rep.Checked, acked, rep)
	}
	// Row for row the node's chain, and nothing else.
	var got []string
	err = ro.ScanChainRange(t.Context(), node, 0, acked, func(e *chainlog.StoredEvent) error {
		got = append(got, fmt.Sprintf("%s %d %s", e.ID, e.Seq, e.Hash))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for k, line := range got {
		e := all[k/size][k%size]
		if want := fmt.Sprintf("%s %d %s", e.ID, e.Seq, e.Hash); line != want {
			t.Fatalf("row %d: %s, want %s", k, line, want)
		}
	}
	if int64(len(got)) != acked {
		t.Fatalf("%d rows in the chain, want %d", len(got), acked)
	}
}
