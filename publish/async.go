package publish

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics count what Async destinations do. A nil *Metrics records nothing.
type Metrics struct {
	failures   *prometheus.CounterVec
	superseded *prometheus.CounterVec
	published  *prometheus.CounterVec
	pending    *prometheus.GaugeVec
}

// NewMetrics registers the publishing metrics in reg, labelled by
// destination.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	lbl := []string{"destination"}
	m := &Metrics{
		failures: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "chainlog",
			Name: "checkpoint_publish_failures_total", Help: "Attempts to publish a checkpoint that failed or timed out."}, lbl),
		superseded: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "chainlog",
			Name: "checkpoint_publish_superseded_total", Help: "Checkpoints replaced by a newer one before an attempt to publish them started (the destination was busy)."}, lbl),
		published: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "chainlog",
			Name: "checkpoint_published_total", Help: "Checkpoints published."}, lbl),
		pending: prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: "chainlog",
			Name: "checkpoint_publish_pending", Help: "1 while a signed checkpoint waits to be published (or retried), else 0."}, lbl),
	}
	reg.MustRegister(m.failures, m.superseded, m.published, m.pending)
	return m
}

// AsyncConfig configures an Async destination.
type AsyncConfig struct {
	Name       string        // the destination label in metrics and logs
	Timeout    time.Duration // per attempt; default 10s
	MinBackoff time.Duration // after the first failure; default 1s
	MaxBackoff time.Duration // the longest wait between attempts; default 1m
	Logger     *slog.Logger
	Metrics    *Metrics
}

// ErrRejected marks a destination's failure that sending the same
// checkpoint again cannot fix (a witness refusing it): Async drops that
// checkpoint instead of retrying it, and tries the next one handed over.
// The destination reports the refusal itself.
var ErrRejected = errors.New("checkpoint rejected")

// Async publishes checkpoints to a destination on its own goroutine, so
// that whoever signs them never waits for it. It holds one checkpoint at
// most: a newer checkpoint supersedes an older one that was not yet
// published (it commits to everything the older one did, and a consistency
// proof links any two), so a slow or dead destination costs one pending
// checkpoint, never a growing queue. A failed attempt is retried with
// exponential backoff, always with the newest checkpoint, unless the
// failure is an ErrRejected.
type Async struct {
	dest Publisher
	cfg  AsyncConfig

	mu      sync.Mutex
	pending []byte // the newest checkpoint not yet published; nil when none
	seq     uint64 // counts the checkpoints handed over
	taken   uint64 // the seq of the checkpoint last taken for an attempt
	behind  bool   // logged as falling behind, not yet caught up
	closed  bool
	wake    chan struct{}
	stop    chan struct{} // closed by Close: give up retrying
	stopped sync.Once
	done    chan struct{}
	cancel  context.CancelFunc
}

// NewAsync starts publishing to dest; Close stops it.
func NewAsync(dest Publisher, cfg AsyncConfig) *Async {
	if cfg.Name == "" {
		cfg.Name = dest.String()
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 10 * time.Second
	}
	if cfg.MinBackoff <= 0 {
		cfg.MinBackoff = time.Second
	}
	if cfg.MaxBackoff < cfg.MinBackoff {
		cfg.MaxBackoff = max(cfg.MinBackoff, time.Minute)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithCancel(context.Background())
	a := &Async{dest: dest, cfg: cfg, wake: make(chan struct{}, 1), stop: make(chan struct{}),
		done: make(chan struct{}), cancel: cancel}
	if m := cfg.Metrics; m != nil { // every series exists from the start, at 0
		m.failures.WithLabelValues(cfg.Name)
		m.superseded.WithLabelValues(cfg.Name)
		m.published.WithLabelValues(cfg.Name)
	}
	a.gauge(0)
	go a.run(ctx)
	return a
}

func (a *Async) String() string { return a.dest.String() }

// Publish hands signed to the publishing goroutine and returns at once; ctx
// is not used. An error means the destination was closed.
func (a *Async) Publish(_ context.Context, signed []byte) error {
	a.mu.Lock()
	if a.closed {
		a.mu.Unlock()
		return errors.New("publish checkpoint to " + a.cfg.Name + ": closed")
	}
	if a.pending != nil {
		// The destination has not published the last one yet.
		if m := a.cfg.Metrics; m != nil && a.taken != a.seq {
			m.superseded.WithLabelValues(a.cfg.Name).Inc()
		}
		if !a.behind {
			a.behind = true
			a.cfg.Logger.Warn("checkpoint destination is falling behind: older checkpoints are superseded by newer ones",
				"destination", a.cfg.Name)
		}
	}
	a.pending = append([]byte(nil), signed...)
	a.seq++
	a.gauge(1)
	select {
	case a.wake <- struct{}{}:
	default:
	}
	a.mu.Unlock()
	return nil
}

// Close stops accepting checkpoints and waits up to wait for the pending
// one, if any, to be published; then it abandons it. It reports whether
// everything handed over was published (or rejected). Calling it again is harmless.
func (a *Async) Close(wait time.Duration) bool {
	a.mu.Lock()
	if !a.closed {
		a.closed = true
		close(a.wake)
	}
	a.mu.Unlock()
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-a.done:
	case <-t.C:
		a.stopped.Do(func() { close(a.stop) })
		a.cancel()
		<-a.done
	}
	a.cancel()
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.pending != nil {
		a.cfg.Logger.Error("checkpoint not published before shutdown", "destination", a.cfg.Name)
		return false
	}
	return true
}

// gauge sets the pending gauge; a.mu orders its updates (NewAsync sets it
// before the goroutine starts).
func (a *Async) gauge(v float64) {
	if m := a.cfg.Metrics; m != nil {
		m.pending.WithLabelValues(a.cfg.Name).Set(v)
	}
}

// run publishes the newest pending checkpoint whenever there is one, until
// Close, after which it still publishes what is pending (Close bounds how
// long).
func (a *Async) run(ctx context.Context) {
	defer close(a.done)
	backoff := time.Duration(0)
	for {
		a.mu.Lock()
		signed, seq := a.pending, a.seq
		a.taken = seq
		a.mu.Unlock()
		if signed == nil {
			if _, ok := <-a.wake; !ok {
				a.mu.Lock()
				empty := a.pending == nil
				a.mu.Unlock()
				if empty {
					return
				}
			}
			continue
		}
		if backoff > 0 {
			t := time.NewTimer(backoff)
			select {
			case <-t.C:
			case <-a.stop:
				t.Stop()
				return
			}
		}
		actx, cancel := context.WithTimeout(ctx, a.cfg.Timeout)
		err := a.dest.Publish(actx, signed)
		cancel()
		a.mu.Lock()
		if err == nil {
			caughtUp := false
			if a.seq == seq { // nothing newer arrived meanwhile
				a.pending = nil
				caughtUp = a.behind
				a.behind = false
				a.gauge(0)
			}
			a.mu.Unlock()
			backoff = 0
			if m := a.cfg.Metrics; m != nil {
				m.published.WithLabelValues(a.cfg.Name).Inc()
			}
			if caughtUp {
				a.cfg.Logger.Info("checkpoint destination caught up", "destination", a.cfg.Name)
			}
			continue
		}
		rejected := errors.Is(err, ErrRejected)
		if rejected && a.seq == seq { // not retried: wait for a newer one
			a.pending = nil
			a.behind = false
			a.gauge(0)
		}
		a.mu.Unlock()
		if m := a.cfg.Metrics; m != nil {
			m.failures.WithLabelValues(a.cfg.Name).Inc()
		}
		if ctx.Err() != nil {
			return // Close gave up
		}
		if rejected {
			backoff = 0
			a.cfg.Logger.Debug("checkpoint rejected; not retried", "destination", a.cfg.Name, "err", err)
			continue
		}
		backoff = min(max(2*backoff, a.cfg.MinBackoff), a.cfg.MaxBackoff)
		a.cfg.Logger.Warn("checkpoint publish failed; retrying with the newest checkpoint",
			"destination", a.cfg.Name, "err", err, "retry_in", backoff)
	}
}
