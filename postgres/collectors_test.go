package postgres_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"chainlog"
	"chainlog/internal/chainlogtest"
	"chainlog/internal/pgtest"
	"chainlog/postgres"

	"golang.org/x/mod/sumdb/tlog"
)

func decoded(t *testing.T, node, id string, n int) chainlog.Event {
	t.Helper()
	line := fmt.Sprintf(`{"id":%q,"node_id":%q,"event_type":"tool.call","ts":"2026-03-01T12:00:00Z","agent_id":"a","data":{"n":%d},"cost_usd":0.25,"token_count":%d}`, id, node, n, n)
	e, err := chainlog.DecodeEvent([]byte(line), "")
	if err != nil {
		t.Fatalf("DecodeEvent(%s): %v", line, err)
	}
	return e
}

// batchRun is one Ingest call as the test saw it.
type batchRun struct {
	ids          []string
	start, end   time.Time
	writer, node string
}

// TestTwoCollectors runs two stores, each with its own pool as two
// collector processes would have, writing one schema at once: batches of
// shared nodes (whose heads both must lock) and of each collector's own.
// Afterwards the store verifies VALID, each batch's leaves are one run in
// its slice order, a batch that returned before another began has the
// lower leaves, and the tree's root is that of the leaves in leaf order.
func TestTwoCollectors(t *testing.T) {
	t.Parallel()
	dsn := pgtest.Schema(t)
	stores := []*postgres.Store{openStore(t, dsn), openStore(t, dsn)}
	for _, s := range stores {
		t.Cleanup(func() { s.Close() })
	}
	const workers, batches, size = 3, 12, 50
	var mu sync.Mutex
	var runs []batchRun
	var wg sync.WaitGroup
	errs := make(chan error, len(stores)*workers)
	for si, s := range stores {
		for w := range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for b := range batches {
					node := []string{"shared-a", "shared-b", fmt.Sprintf("own-%d-%d", si, w)}[b%3]
					r := batchRun{writer: fmt.Sprintf("%d/%d", si, w), node: node}
					var evs []chainlog.Event
					for i := range size {
						id := fmt.Sprintf("c%d-w%d-b%d-%d", si, w, b, i)
						r.ids = append(r.ids, id)
						evs = append(evs, decoded(t, node, id, i))
					}
					r.start = time.Now()
					res, err := s.Ingest(context.Background(), evs)
					r.end = time.Now()
					if err != nil || res.Inserted != size {
						errs <- fmt.Errorf("writer %s batch %d: %+v, %v", r.writer, b, res, err)
						return
					}
					mu.Lock()
					runs = append(runs, r)
					mu.Unlock()
				}
			}()
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}

	ro, err := postgres.OpenReadOnly(t.Context(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	total := int64(len(stores) * workers * batches * size)
	rep, err := chainlog.VerifyStore(t.Context(), ro, chainlog.VerifyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Status != chainlog.StatusValid || rep.Checked != total {
		t.Fatalf("VerifyStore = %s, %d checked; want %s, %d", rep.Status, rep.Checked, chainlog.StatusValid, total)
	}

	leafOf := map[string]int64{}
	var leaves []tlog.Hash
	err = ro.Export(t.Context(), "", func(e *chainlog.StoredEvent) error {
		if *e.LeafIndex != int64(len(leaves)) {
			return fmt.Errorf("event %s: leaf %d in commit order position %d", e.ID, *e.LeafIndex, len(leaves))
		}
		leafOf[e.ID] = *e.LeafIndex
		l := chainlog.Leaf{NodeID: e.NodeID, Seq: e.Seq, ChainHash: e.Hash, PayloadDigest: e.PayloadDigest}
		leaves = append(leaves, chainlog.LeafHash(&l))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range runs {
		first := leafOf[r.ids[0]]
		for i, id := range r.ids {
			if leafOf[id] != first+int64(i) {
				t.Fatalf("writer %s: event %s is leaf %d, want %d: a batch's leaves are not one run", r.writer, id, leafOf[id], first+int64(i))
			}
		}
	}
	for _, a := range runs {
		for _, b := range runs {
			if a.end.Before(b.start) && leafOf[a.ids[0]] > leafOf[b.ids[0]] {
				t.Fatalf("batch of %s returned before a batch of %s began, but its leaves come after", a.writer, b.writer)
			}
		}
	}
	n, root, err := ro.StoredTree(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	var tb chainlog.TreeBuilder
	for _, h := range leaves {
		tb.Add(h)
	}
	if n != total || root != tb.Root() {
		t.Fatalf("stored tree %d %x, want %d %x", n, root, total, tb.Root())
	}
	// Each chain's seqs run 1..n in leaf order.
	heads, err := ro.Heads(t.Context(), "")
	if err != nil {
		t.Fatal(err)
	}
	var nodes []string
	for _, h := range heads {
		nodes = append(nodes, h.NodeID)
	}
	if want := []string{"own-0-0", "own-0-1", "own-0-2", "own-1-0", "own-1-1", "own-1-2", "shared-a", "shared-b"}; !slices.Equal(nodes, want) {
		t.Fatalf("heads of %v, want %v", nodes, want)
	}
}

// TestPublisherLock: two stores on one schema ingest and sign at once;
// the stored checkpoint, polled meanwhile, never goes back, and each
// signed checkpoint verifies.
func TestPublisherLock(t *testing.T) {
	t.Parallel()
	dsn := pgtest.Schema(t)
	a, b := openStore(t, dsn), openStore(t, dsn)
	defer a.Close()
	defer b.Close()
	signer, verifier := chainlogtest.NewKey(t, "example.com/collector")
	var wg sync.WaitGroup
	signed := make(chan []byte, 100)
	stop := make(chan struct{})
	polled := make(chan error, 1)
	go func() {
		var last int64
		for {
			select {
			case <-stop:
				polled <- nil
				return
			default:
			}
			cp, err := a.LatestCheckpoint(context.Background())
			if err != nil || cp == nil {
				if err != nil {
					polled <- err
					return
				}
				continue
			}
			c, err := chainlog.ParseSignedCheckpoint(cp)
			if err != nil {
				polled <- err
				return
			}
			if c.Size < last {
				polled <- fmt.Errorf("the stored checkpoint went back from size %d to %d", last, c.Size)
				return
			}
			last = c.Size
		}
	}()
	for i, s := range []*postgres.Store{a, b} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range 10 {
				if _, err := s.Ingest(context.Background(), []chainlog.Event{decoded(t, "n", fmt.Sprintf("p%d-%d", i, j), j)}); err != nil {
					t.Error(err)
					return
				}
				cp, err := s.Checkpoint(context.Background(), signer, nil)
				if err != nil {
					t.Error(err)
					return
				}
				if cp != nil {
					signed <- cp
				}
			}
		}()
	}
	wg.Wait()
	close(stop)
	if err := <-polled; err != nil {
		t.Fatal(err)
	}
	close(signed)
	var last chainlog.Checkpoint
	n := 0
	for cp := range signed {
		c, err := chainlog.OpenCheckpoint(cp, verifier)
		if err != nil {
			t.Fatal(err)
		}
		if c.Size < last.Size {
			continue // signed concurrently, reported later
		}
		last = c
		n++
	}
	if n == 0 || last.Size != 20 {
		t.Fatalf("%d checkpoints, the largest of size %d; want one of 20", n, last.Size)
	}
}
