package main

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// TestCrashRecovery kills the daemon with SIGKILL while clients post, at
// several points, restarting it on the same store each time. An event
// acknowledged with 200 was committed: it survives every crash, exactly
// once. An event sent but not acknowledged may or may not be stored, never
// twice, and sending it again gives one copy. At the end the store verifies,
// and so do the checkpoints signed across the crashes.
func TestCrashRecovery(t *testing.T) {
	t.Parallel()
	start := time.Now()
	bin := chainlogBinary(t)
	dir := t.TempDir()
	store := filepath.Join(dir, "crash.db")
	skey, vkey := makeSignerKey(t, bin, dir)
	env := serveEnv(t)
	denv := append(serveEnv(t), "CHAINLOG_SIGNER_KEY="+skey)
	l := newLedger()
	args := []string{"--store", store, "--listen", "127.0.0.1:0", "--node-id", "crash-node",
		"--checkpoint-interval", "20ms", "--verify-interval", "100ms"}

	// Deterministic kill points, from early in the first commits to well
	// into a steady stream.
	delays := []time.Duration{50 * time.Millisecond, 170 * time.Millisecond, 320 * time.Millisecond,
		600 * time.Millisecond, 1000 * time.Millisecond}
	const workers = 8
	for i, delay := range delays {
		d := startDaemon(t, bin, denv, "", args...)
		p := newPoster(d.url, "")
		recheck(t, p, l)

		stop := make(chan struct{})
		var wg sync.WaitGroup
		errs := make(chan error, workers)
		for w := range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := crashWorker(p, l, stop, fmt.Sprintf("k%d-w%d", i, w), w); err != nil {
					errs <- err
				}
			}()
		}
		time.Sleep(delay)
		before := l.oks.Load()
		d.kill()
		close(stop)
		wg.Wait()
		p.close()
		close(errs)
		for err := range errs {
			t.Errorf("kill %d: %v", i, err)
		}
		t.Logf("kill %d after %v: %d requests acknowledged so far, %d in doubt", i, delay, before, len(l.inDoubtIDs()))
	}

	// A last start: what was acknowledged is there, what was in doubt is
	// stored once when sent again; then a clean stop.
	d := startDaemon(t, bin, denv, "", args...)
	p := newPoster(d.url, "")
	recheck(t, p, l)
	p.close()
	d.stop()

	requireValid(t, bin, env, store)
	rep := requireValid(t, bin, env, store, "--checkpoint", store+".checkpoints", "--key", vkey)
	recs := exportIDs(t, bin, env, store)
	l.requireStored(t, recs)
	if len(recs) != len(l.ackedIDs()) {
		t.Errorf("%d events stored, %d acknowledged: every event sent was acknowledged in the end", len(recs), len(l.ackedIDs()))
	}
	if rep.Tree == nil || rep.Tree.Leaves != int64(len(recs)) {
		t.Errorf("tree report %+v, want %d leaves", rep.Tree, len(recs))
	} else if cps := rep.Tree.Checkpoints; len(cps) == 0 || cps[len(cps)-1].Size != int64(len(recs)) {
		t.Errorf("the last checkpoint does not cover the %d events", len(recs))
	}
	t.Logf("%d events stored, %d checkpoints, in %v", len(recs), len(rep.Tree.Checkpoints), time.Since(start).Round(time.Millisecond))
}

// recheck runs after each start: acknowledged events sent again are all
// duplicates, and events in doubt (sent, no answer) are stored once.
func recheck(t *testing.T, p *poster, l *ledger) {
	t.Helper()
	acked := l.ackedIDs()
	// A sample of what was acknowledged, spread over the whole history.
	var sample []string
	for i := 0; i < len(acked) && len(sample) < 500; i += max(1, len(acked)/500) {
		sample = append(sample, acked[i])
	}
	if _, dups := repost(t, p, l, sample, true); dups != len(sample) {
		t.Fatalf("acknowledged events sent again: %d duplicates, want %d", dups, len(sample))
	}
	doubt := l.inDoubtIDs()
	ins, dups := repost(t, p, l, doubt, false)
	if len(doubt) > 0 {
		t.Logf("sent again %d events that had no answer: %d were not stored, %d were", len(doubt), ins, dups)
	}
}

// crashWorker posts fresh events, one object or an NDJSON batch at a time,
// until stop is closed or the daemon is gone (a connection error). Only an
// answer the daemon should never give is an error.
func crashWorker(p *poster, l *ledger, stop <-chan struct{}, prefix string, w int) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	nodes := []string{"node-a", "node-b", "", "node-c", "node-d"}
	for j := range 5000 {
		select {
		case <-stop:
			return nil
		default:
		}
		n := 1
		if j%3 != 0 {
			n = 1 + (w*5+j)%24
		}
		ids := make([]string, n)
		lines := make([]string, n)
		for k := range n {
			ids[k] = fmt.Sprintf("%s-%d-%d", prefix, j, k)
			lines[k] = testEvent(ids[k], nodes[(w+j+k)%len(nodes)], j+k)
		}
		l.sent(ids, lines)
		a, err := p.post(ctx, lines, n == 1)
		if err != nil {
			return nil // killed
		}
		switch a.status {
		case 200:
			if a.accepted != n || a.duplicates != 0 {
				return fmt.Errorf("fresh batch of %d: accepted %d, duplicates %d", n, a.accepted, a.duplicates)
			}
			l.ack(ids)
		case 503:
		default:
			return fmt.Errorf("status %d: %s", a.status, a.body)
		}
	}
	return nil
}
