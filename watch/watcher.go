package watch

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"chainlog"

	"github.com/fsnotify/fsnotify"
)

// Watcher follows the transcripts of its folders. It is used from one
// goroutine: Run, or Once.
type Watcher struct {
	cfg    Config
	log    *slog.Logger
	files  map[string]*file
	resume map[[2]string]chainlog.Cursor // (source, path) -> stored cursor, until the file is found
	notify *fsnotify.Watcher
	dirs   map[string]bool // directories watched

	batch   []chainlog.Event
	touched map[*file]bool // files read since the last commit
	since   time.Time      // when the batch got its first event or cursor
	backoff time.Duration  // the delay after the last failed commit; 0 after a success
	retryAt time.Time      // no commit before it, but a forced one
	stats   Stats
	smu     sync.Mutex // guards the commit counts in stats
	chunk   int        // the first read's size; a longer line doubles it
	pipe    *pipeline  // Run's committer; nil: commits are synchronous
}

// New checks cfg and fills in its defaults. It opens nothing: Run and
// Once do.
func New(cfg Config) (*Watcher, error) {
	if err := cfg.check(); err != nil {
		return nil, err
	}
	cfg.defaults()
	return &Watcher{cfg: cfg, log: cfg.Logger, files: map[string]*file{}, dirs: map[string]bool{},
		touched: map[*file]bool{}, chunk: 64 << 10}, nil
}

// Stats returns what the watcher did so far.
func (w *Watcher) Stats() Stats {
	w.smu.Lock()
	defer w.smu.Unlock()
	s := w.stats
	s.Files = len(w.files)
	return s
}

// start reads the stored cursors back from the sink.
func (w *Watcher) start(ctx context.Context) error {
	w.resume = map[[2]string]chainlog.Cursor{}
	seen := map[string]bool{}
	for _, fo := range w.cfg.Folders {
		if seen[fo.Source] {
			continue
		}
		seen[fo.Source] = true
		cs, err := w.cfg.Sink.Cursors(ctx, fo.Source)
		if err != nil {
			return fmt.Errorf("watch: read cursors of %s: %w", fo.Source, err)
		}
		for _, c := range cs {
			w.resume[[2]string{c.Source, c.Path}] = c
		}
	}
	return nil
}

// Once reads everything present in the folders, takes every file as
// finished (the idle rule applies at once), commits, and returns. A ctx
// that ends stops the reading; what was read is committed.
func (w *Watcher) Once(ctx context.Context) (Stats, error) {
	if err := w.start(ctx); err != nil {
		return w.Stats(), err
	}
	defer w.closeAll()
	err := w.poll(ctx, true)
	if cerr := w.commitNow(context.WithoutCancel(ctx), true); cerr != nil {
		return w.Stats(), cerr
	}
	if err != nil && ctx.Err() != nil {
		err = nil // interrupted: what was read is committed
	}
	return w.Stats(), err
}

// Run follows the folders until ctx ends, then commits what was read and
// returns nil, or the error of that last commit. A commit that fails is
// logged and retried, with a growing delay, and reading waits for it.
func (w *Watcher) Run(ctx context.Context) error {
	if err := w.start(ctx); err != nil {
		return err
	}
	defer w.closeAll()
	var events <-chan fsnotify.Event
	var errs <-chan error
	if !w.cfg.NoNotify {
		n, err := fsnotify.NewWatcher()
		if err != nil {
			w.log.Warn("file notifications unavailable; rescanning only", "every", w.cfg.Poll, "err", err)
		} else {
			w.notify = n
			events, errs = n.Events, n.Errors
		}
	}
	w.pipe = &pipeline{queue: make(chan handoff, 1), done: make(chan struct{})}
	go w.commitLoop(ctx)
	defer func() { w.pipe = nil }()
	poll := time.NewTicker(w.cfg.Poll)
	defer poll.Stop()
	dirty := map[*file]bool{}
	var wake *time.Timer
	w.step(ctx, func() error { return w.poll(ctx, false) })
	for {
		var timer <-chan time.Time
		if d, ok := w.due(); ok {
			wake = resetTimer(wake, d)
			timer = wake.C
		}
		select {
		case <-ctx.Done():
			err := w.commitNow(context.WithoutCancel(ctx), true)
			close(w.pipe.queue)
			<-w.pipe.done
			if err == nil {
				err = w.pipe.err
			}
			if err != nil {
				return fmt.Errorf("watch: last commit: %w", err)
			}
			return nil
		case ev := <-events:
			w.notified(ev, dirty)
			for more := true; more; { // take what else is waiting
				select {
				case ev := <-events:
					w.notified(ev, dirty)
				default:
					more = false
				}
			}
		case err := <-errs:
			w.log.Warn("file notifications: events may be missed until the next rescan", "err", err)
		case <-poll.C:
			clear(dirty)
			w.step(ctx, func() error { return w.poll(ctx, false) })
			continue
		case <-timer:
		}
		w.step(ctx, func() error {
			for f := range dirty {
				delete(dirty, f)
				if _, err := w.look(ctx, f); err != nil {
					return err
				}
			}
			return w.commitIfDue(ctx)
		})
	}
}

// step runs fn and logs its error, unless it is a commit's (logged by
// commit) or ctx's.
func (w *Watcher) step(ctx context.Context, fn func() error) {
	err := fn()
	var ce *commitError
	if err == nil || ctx.Err() != nil || errors.As(err, &ce) {
		return
	}
	w.log.Warn("watch", "err", err)
}

// due returns how long until the batch must be committed, if it holds
// anything: BatchWait after its first event, or the retry after a failed
// commit.
func (w *Watcher) due() (time.Duration, bool) {
	if len(w.batch) == 0 && len(w.touched) == 0 {
		return 0, false
	}
	at := w.since.Add(w.cfg.BatchWait)
	if w.retryAt.After(at) {
		at = w.retryAt
	}
	return max(at.Sub(w.cfg.Now()), 0), true
}

func resetTimer(t *time.Timer, d time.Duration) *time.Timer {
	if t == nil {
		return time.NewTimer(d)
	}
	t.Reset(d)
	return t
}

// poll rescans every folder, reads every file that grew, and applies the
// idle rule (to every file when final), committing full batches.
func (w *Watcher) poll(ctx context.Context, final bool) error {
	for i := range w.cfg.Folders {
		w.walk(&w.cfg.Folders[i], w.cfg.Folders[i].Dir, nil)
	}
	paths := make([]string, 0, len(w.files))
	for p := range w.files {
		paths = append(paths, p)
	}
	slices.Sort(paths)
	now := w.cfg.Now()
	for _, p := range paths {
		if err := ctx.Err(); err != nil {
			return err
		}
		f := w.files[p]
		live, err := w.look(ctx, f)
		if err != nil {
			var ce *commitError
			if errors.As(err, &ce) {
				return err
			}
			w.log.Warn("reading a transcript failed; will try again", "file", p, "err", err)
			continue
		}
		if live && (final || now.Sub(f.changed) >= w.cfg.Idle) {
			if err := w.finish(f); err != nil {
				w.log.Warn("reading a transcript's last line failed; will try again", "file", p, "err", err)
			}
		}
		if live {
			w.sleep(f, now)
		}
	}
	if final {
		return nil
	}
	return w.commitIfDue(ctx)
}
