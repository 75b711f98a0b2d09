package watch

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
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

// notified handles one file notification: a new directory is watched and
// scanned, and a transcript that changed is marked to be read.
func (w *Watcher) notified(ev fsnotify.Event, dirty map[*file]bool) {
	fo := w.folderOf(ev.Name)
	if fo == nil {
		return
	}
	if ev.Has(fsnotify.Create) {
		if fi, err := os.Stat(ev.Name); err == nil && fi.IsDir() {
			w.walk(fo, ev.Name, dirty)
			return
		}
	}
	if f := w.files[ev.Name]; f != nil {
		dirty[f] = true
	} else if f := w.found(fo, ev.Name); f != nil {
		dirty[f] = true
	}
}

// folderOf returns the folder whose tree holds path.
func (w *Watcher) folderOf(path string) *Folder {
	for i := range w.cfg.Folders {
		fo := &w.cfg.Folders[i]
		if rel, err := filepath.Rel(fo.Dir, path); err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
			return fo
		}
	}
	return nil
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

// walk finds the transcripts and directories under dir; new files are
// added to dirty when it is not nil.
func (w *Watcher) walk(fo *Folder, dir string, dirty map[*file]bool) {
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if p != dir || !errors.Is(err, fs.ErrNotExist) {
				w.log.Debug("scan", "path", p, "err", err)
			}
			return nil
		}
		if d.IsDir() {
			w.watchDir(p)
			return nil
		}
		if w.files[p] == nil {
			if f := w.found(fo, p); f != nil && dirty != nil {
				dirty[f] = true
			}
		}
		return nil
	})
	if err != nil {
		w.log.Debug("scan", "dir", dir, "err", err)
	}
}

func (w *Watcher) watchDir(dir string) {
	if w.notify == nil || w.dirs[dir] {
		return
	}
	if err := w.notify.Add(dir); err != nil {
		w.log.Warn("cannot watch a directory; the rescans will find its changes", "dir", dir, "err", err)
		return
	}
	w.dirs[dir] = true
}

// found starts following the transcript at path, from its stored cursor
// if there is one; nil when path is not a transcript of fo.
func (w *Watcher) found(fo *Folder, path string) *file {
	rel, err := filepath.Rel(fo.Dir, path)
	if err != nil || !match(fo, filepath.ToSlash(rel)) {
		return nil
	}
	f := &file{folder: fo, path: path, changed: w.cfg.Now()}
	k := [2]string{fo.Source, path}
	if c, ok := w.resume[k]; ok {
		delete(w.resume, k)
		f.committed, f.hasCommitted = c, true
		f.off, f.id = c.Offset, c.FileID
		w.stats.Resumed++
	}
	w.files[path] = f
	return f
}

func match(fo *Folder, rel string) bool {
	if fo.Match != nil {
		return fo.Match(rel)
	}
	return strings.HasSuffix(rel, ".jsonl")
}

// forget drops a file that disappeared; its cursor stays in the store.
func (w *Watcher) forget(f *file) {
	w.log.Info("transcript removed", "file", f.path)
	f.closeHandle()
	delete(w.files, f.path)
}

func (w *Watcher) closeAll() {
	for _, f := range w.files {
		f.closeHandle()
	}
	if w.notify != nil {
		w.notify.Close()
		w.notify = nil
	}
}

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
