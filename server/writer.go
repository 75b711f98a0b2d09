package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"chainlog"
)

// Ingester commits groups of events in one transaction; *sqlite.Store is
// one. Each group gets its own counts. The cursors are upserted in the
// same transaction, the last one for a (Source, Path) winning. When it
// returns without error, every group and cursor is durably committed.
type Ingester interface {
	IngestGroups(ctx context.Context, groups [][]chainlog.Event, cursors ...chainlog.Cursor) ([]chainlog.IngestResult, error)
}

// Errors Submit returns instead of queueing.
var (
	ErrQueueFull = errors.New("the write queue is full")
	ErrClosed    = errors.New("the daemon is shutting down")
	// ErrHalted wraps the reason the writer stopped acknowledging (see
	// Writer.Halted); the daemon answers 503.
	ErrHalted = errors.New("the daemon stopped acknowledging writes")
)

// FileChecker is implemented by a store that can tell whether its files
// are still the ones it opened (*sqlite.Store is one): an error means that
// commits no longer reach the store at its path.
type FileChecker interface {
	CheckFiles() error
}

// Writer is the single writer: requests queue their events, and one
// goroutine merges whatever is waiting into one transaction (group commit),
// then answers each request with its own counts. A request is answered only
// after its own events are committed; none is ever dropped or evicted: when
// the queue is full, Submit refuses instead.
type Writer struct {
	store      Ingester
	maxBatch   int   // events merged into one commit, at most (a larger request commits alone)
	capacity   int64 // events queued, at most
	log        *slog.Logger
	metrics    *Metrics
	after      func(ctx context.Context) // runs after each commit; may be nil
	maxCPFails int

	hmu     sync.Mutex
	halt    error // why the writer stopped acknowledging; nil while healthy
	cpHalt  bool  // halt came from failed checkpoints, and a good one clears it
	cpFails int   // consecutive failed checkpoints

	queued atomic.Int64
	jobs   chan *job
	mu     sync.RWMutex // guards closed against Submit racing Close
	closed bool
	done   chan struct{}
}

type job struct {
	events  []chainlog.Event
	cursors []chainlog.Cursor
	reply   chan reply
}

type reply struct {
	res chainlog.IngestResult
	err error
}

// WriterConfig configures a Writer.
type WriterConfig struct {
	MaxBatch int   // events per commit, at most; default 1000
	Capacity int64 // events waiting, at most; default 100000
	Logger   *slog.Logger
	Metrics  *Metrics
	// After runs in the writer goroutine after each commit, before the next
	// one: the daemon signs checkpoints there.
	After func(ctx context.Context)
	// MaxCheckpointFailures is how many checkpoints in a row may fail
	// (CheckpointResult) before the writer stops acknowledging; default
	// DefaultMaxCheckpointFailures.
	MaxCheckpointFailures int
}

// DefaultMaxCheckpointFailures is WriterConfig.MaxCheckpointFailures's
// default: with checkpoints every second, ten seconds of failures.
const DefaultMaxCheckpointFailures = 10

// NewWriter returns a writer on store; Run must be started.
func NewWriter(store Ingester, cfg WriterConfig) *Writer {
	if cfg.MaxBatch <= 0 {
		cfg.MaxBatch = 1000
	}
	if cfg.Capacity <= 0 {
		cfg.Capacity = 100000
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.MaxCheckpointFailures <= 0 {
		cfg.MaxCheckpointFailures = DefaultMaxCheckpointFailures
	}
	return &Writer{
		store: store, maxBatch: cfg.MaxBatch, capacity: cfg.Capacity, log: cfg.Logger,
		metrics: cfg.Metrics, after: cfg.After, maxCPFails: cfg.MaxCheckpointFailures,
		jobs: make(chan *job, 1<<14), done: make(chan struct{}),
	}
}

// Submit queues events and waits until they are committed. It fails with
// ErrQueueFull when the queue holds too many events, with ErrClosed after
// Close, and with an error wrapping ErrHalted once the writer stopped
// acknowledging. A request is atomic: all its events and cursors commit
// together or none. When requests are merged into one commit, the cursors
// of all of them are written, in queue order, so that a later request's
// cursor for the same file wins.
func (w *Writer) Submit(ctx context.Context, events []chainlog.Event, cursors ...chainlog.Cursor) (chainlog.IngestResult, error) {
	if err := w.halted(); err != nil {
		return chainlog.IngestResult{}, err
	}
	n := int64(len(events))
	w.mu.RLock()
	if w.closed {
		w.mu.RUnlock()
		return chainlog.IngestResult{}, ErrClosed
	}
	// A request larger than the whole queue is still taken when the queue
	// is empty: it commits alone.
	if q := w.queued.Add(n); q > w.capacity && q != n {
		w.queued.Add(-n)
		w.mu.RUnlock()
		w.metrics.queueDepth(&w.queued) // another update may have seen n
		return chainlog.IngestResult{}, ErrQueueFull
	}
	j := &job{events: events, cursors: cursors, reply: make(chan reply, 1)}
	select {
	case w.jobs <- j:
	default:
		w.queued.Add(-n)
		w.mu.RUnlock()
		w.metrics.queueDepth(&w.queued) // another update may have seen n
		return chainlog.IngestResult{}, ErrQueueFull
	}
	w.mu.RUnlock()
	w.metrics.queueDepth(&w.queued)
	// Once queued, the events will be committed whatever the caller does:
	// wait for the answer even if ctx ends, so that an answer is never
	// given before the commit.
	r := <-j.reply
	return r.res, r.err
}

// Queued returns the number of events waiting to be committed.
func (w *Writer) Queued() int64 { return w.queued.Load() }

// Run commits queued requests until Close is called and the queue is
// drained. ctx is given to the store; the daemon passes a context that
// outlives shutdown so that queued events are still committed.
func (w *Writer) Run(ctx context.Context) {
	defer close(w.done)
	var next *job // taken from the queue, but it would have overflowed the last commit
	for {
		first := next
		next = nil
		if first == nil {
			var ok bool
			if first, ok = <-w.jobs; !ok {
				return
			}
		}
		batch := []*job{first}
		n := len(first.events)
	merge:
		for n < w.maxBatch {
			select {
			case j, ok := <-w.jobs:
				if !ok {
					break merge
				}
				if n+len(j.events) > w.maxBatch {
					next = j // it opens the next commit
					break merge
				}
				batch = append(batch, j)
				n += len(j.events)
			default:
				break merge
			}
		}
		w.commit(ctx, batch, n)
	}
}

func (w *Writer) commit(ctx context.Context, batch []*job, n int) {
	if err := w.halted(); err != nil {
		// Queued before the writer halted: answered, not committed.
		w.queued.Add(-int64(n))
		w.metrics.queueDepth(&w.queued)
		for _, j := range batch {
			j.reply <- reply{err: err}
		}
		return
	}
	groups := make([][]chainlog.Event, len(batch))
	var cursors []chainlog.Cursor
	for i, j := range batch {
		groups[i] = j.events
		cursors = append(cursors, j.cursors...)
	}
	start := time.Now()
	res, err := w.store.IngestGroups(ctx, groups, cursors...)
	if errors.Is(err, chainlog.ErrFilesReplaced) {
		w.Halt(err)
		err = w.halted()
	}
	w.queued.Add(-int64(n))
	w.metrics.commit(n, len(batch), time.Since(start), err)
	w.metrics.queueDepth(&w.queued)
	if err != nil {
		w.log.Error("commit failed; the requests in it are answered with an error", "events", n, "requests", len(batch), "err", err)
	}
	for i, j := range batch {
		if err != nil {
			j.reply <- reply{err: err}
			continue
		}
		w.metrics.accepted(res[i])
		j.reply <- reply{res: res[i]}
	}
	if err == nil && w.after != nil {
		w.after(ctx)
	}
}

// Halt makes the writer stop acknowledging: every request queued or
// submitted from now on is answered with an error wrapping ErrHalted and
// reason, and Halted reports it. The first reason is kept.
func (w *Writer) Halt(reason error) {
	w.setHalt(reason, false)
}

func (w *Writer) setHalt(reason error, fromCheckpoints bool) {
	w.hmu.Lock()
	defer w.hmu.Unlock()
	if w.halt != nil {
		return
	}
	w.halt, w.cpHalt = reason, fromCheckpoints
	w.log.Error("the writer stopped acknowledging writes", "reason", reason)
}

// Halted returns nil while the writer acknowledges commits, and otherwise
// the reason it stopped, wrapping ErrHalted. It also checks the store's
// files (FileChecker), so a deleted or replaced file is reported before
// the next commit.
func (w *Writer) Halted() error {
	if fc, ok := w.store.(FileChecker); ok {
		if err := fc.CheckFiles(); err != nil {
			w.Halt(err)
		}
	}
	return w.halted()
}

func (w *Writer) halted() error {
	w.hmu.Lock()
	defer w.hmu.Unlock()
	if w.halt == nil {
		return nil
	}
	return fmt.Errorf("%w: %w", ErrHalted, w.halt)
}

// CheckpointResult records the outcome of one checkpoint (signing it,
// persisting and publishing it). After MaxCheckpointFailures failures in a
// row the writer halts: events it acknowledged would no longer be covered
// by a checkpoint kept outside the store. A checkpoint that succeeds again
// ends a halt that failed checkpoints caused.
func (w *Writer) CheckpointResult(err error) {
	w.hmu.Lock()
	if err == nil {
		w.cpFails = 0
		if w.cpHalt {
			w.log.Info("a checkpoint succeeded again: the writer acknowledges writes", "was", w.halt)
			w.halt, w.cpHalt = nil, false
		}
		w.hmu.Unlock()
		return
	}
	w.cpFails++
	n := w.cpFails
	w.hmu.Unlock()
	if n >= w.maxCPFails {
		w.setHalt(fmt.Errorf("%d checkpoints in a row failed, the last: %w", n, err), true)
	}
}

// Close stops accepting requests and waits until every queued one is
// committed and answered.
func (w *Writer) Close() {
	w.mu.Lock()
	if !w.closed {
		w.closed = true
		close(w.jobs)
	}
	w.mu.Unlock()
	<-w.done
}
