package watch

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"chainlog"
)

// touch marks f's cursor for the next commit.
func (w *Watcher) touch(f *file) {
	if len(w.batch) == 0 && len(w.touched) == 0 {
		w.since = w.cfg.Now()
	}
	w.touched[f] = true
}

// add puts events read from f in the batch.
func (w *Watcher) add(f *file, evs []chainlog.Event) {
	w.touch(f)
	w.batch = append(w.batch, evs...)
}

// commitIfDue commits when the batch is full or has waited BatchWait.
func (w *Watcher) commitIfDue(ctx context.Context) error {
	if len(w.batch) >= w.cfg.BatchEvents || w.cfg.Now().Sub(w.since) >= w.cfg.BatchWait {
		return w.commit(ctx)
	}
	return nil
}

// commitError is a commit that failed, or that waits for its retry.
type commitError struct{ err error }

func (e *commitError) Error() string { return e.err.Error() }
func (e *commitError) Unwrap() error { return e.err }

// errRetryLater is returned by a commit attempted before the retry time
// that a failed one set.
var errRetryLater = errors.New("a commit failed: waiting to retry")

// commit sends the batch with the cursors that moved, unless a failed
// commit's retry time has not come.
func (w *Watcher) commit(ctx context.Context) error { return w.commitNow(ctx, false) }

// commitNow commits; force ignores the retry time. On failure the batch is
// kept for the next attempt, which waits from one second, doubling up to
// 30.
func (w *Watcher) commitNow(ctx context.Context, force bool) error {
	if !force && w.cfg.Now().Before(w.retryAt) {
		return &commitError{errRetryLater}
	}
	var files []*file
	for f := range w.touched {
		if f.moved() {
			files = append(files, f)
		}
	}
	if len(w.batch) == 0 && len(files) == 0 {
		clear(w.touched)
		return nil
	}
	slices.SortFunc(files, func(a, b *file) int { return cmp.Compare(a.path, b.path) })
	cursors := make([]chainlog.Cursor, len(files))
	for i, f := range files {
		cursors[i] = f.cursor()
	}
	if w.pipe != nil {
		return w.handOff(files, cursors)
	}
	res, err := w.cfg.Sink.Commit(ctx, w.batch, cursors...)
	if err != nil {
		w.backoff = min(max(2*w.backoff, time.Second), 30*time.Second)
		w.retryAt = w.cfg.Now().Add(w.backoff)
		err = fmt.Errorf("commit %d events and %d cursors: %w", len(w.batch), len(cursors), err)
		w.log.Error("watch: commit failed; the lines will be committed on a retry", "err", err, "retry_in", w.backoff)
		return &commitError{err}
	}
	w.backoff, w.retryAt = 0, time.Time{}
	for i, f := range files {
		f.committed, f.hasCommitted = cursors[i], true
	}
	w.counted(len(w.batch), res)
	w.batch = nil
	clear(w.touched)
	return nil
}

// counted adds a commit to the stats.
func (w *Watcher) counted(events int, res chainlog.IngestResult) {
	w.smu.Lock()
	defer w.smu.Unlock()
	w.stats.Commits++
	w.stats.Events += int64(events)
	w.stats.Inserted += int64(res.Inserted)
	w.stats.Duplicates += int64(res.Duplicates)
}

// pipeline commits in a goroutine of its own while Run reads on: one
// batch commits while the next is read and parsed. Batches commit in
// order; one waits in the queue, and reading waits when the queue is
// full. A failed commit is retried by the committer, from one second,
// doubling up to 30, until it succeeds or Run's ctx ends.
type pipeline struct {
	queue chan handoff
	done  chan struct{} // closed when the committer stops
	err   error         // why it stopped early: a batch it gave up on
}

type handoff struct {
	events  []chainlog.Event
	cursors []chainlog.Cursor
}

// handOff queues the batch with its cursors. The files' cursors count as
// committed from now on: the committer retries until the batch commits,
// or the process ends and the next start resumes from the stored ones.
func (w *Watcher) handOff(files []*file, cursors []chainlog.Cursor) error {
	h := handoff{w.batch, cursors}
	select {
	case w.pipe.queue <- h:
	case <-w.pipe.done:
		return &commitError{w.pipe.err}
	}
	for i, f := range files {
		f.committed, f.hasCommitted = cursors[i], true
	}
	w.batch = nil
	clear(w.touched)
	return nil
}

// commitLoop is the pipeline's committer. Once ctx has ended, a batch
// that fails is given up: its lines are read again at the next start.
func (w *Watcher) commitLoop(ctx context.Context) {
	defer close(w.pipe.done)
	var backoff time.Duration
	for h := range w.pipe.queue {
		for {
			res, err := w.cfg.Sink.Commit(context.WithoutCancel(ctx), h.events, h.cursors...)
			if err == nil {
				w.counted(len(h.events), res)
				backoff = 0
				break
			}
			err = fmt.Errorf("commit %d events and %d cursors: %w", len(h.events), len(h.cursors), err)
			if ctx.Err() != nil {
				w.pipe.err = err
				return
			}
			backoff = min(max(2*backoff, time.Second), 30*time.Second)
			w.log.Error("watch: commit failed; retrying", "err", err, "retry_in", backoff)
			select {
			case <-time.After(backoff):
			case <-ctx.Done(): // one last attempt
			}
		}
	}
}
