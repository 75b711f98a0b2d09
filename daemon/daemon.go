// Package daemon runs chainlog's ingest daemon: it opens the store, runs
// the writer and the HTTP server, follows transcript folders (package
// watch), verifies in the background, signs and publishes checkpoints, and
// shuts down in order. The chainlog command's
// serve only parses its flags into a Config and calls New and Run.
package daemon

import (
	"bytes"
	"cmp"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"chainlog"
	"chainlog/agentsrc"
	"chainlog/console"
	"chainlog/forward"
	"chainlog/publish"
	"chainlog/retention"
	"chainlog/server"
	"chainlog/sqlite"
	"chainlog/tiles"
	"chainlog/watch"
	"chainlog/witness"

	"golang.org/x/mod/sumdb/note"
)

// Config is everything the daemon needs; serve's flags give each field.
type Config struct {
	Store string // the SQLite store's path
	// Open, when set, opens the store instead of the SQLite file at
	// Store: the writer the daemon commits through and a read-only view
	// it serves reads from (another backend, such as PostgreSQL).
	Open   func(ctx context.Context) (Writable, Readable, error)
	Init   bool   // add chainlog's tables to a database with other tables
	Listen string // the address to listen on, host:port
	// OTLPListen, if set, is a second address that serves only the OTLP
	// receiver (POST /v1/logs, POST /v1/traces) and /healthz, as OTLP
	// exporters expect (127.0.0.1:4318). The main address serves them too.
	OTLPListen string
	// OTLP maps the OTLP receiver's payloads to events; default an
	// agentsrc.Mapper with NodeID.
	OTLP   server.OTLPMapper
	NodeID string // node_id for events that have none
	Token  string // required bearer token; empty means none
	// TLS, if set, serves HTTPS on every listener; with ClientAuth
	// tls.RequireAndVerifyClientCert and ClientCAs, only clients with a
	// certificate from those CAs connect (mutual TLS).
	TLS *tls.Config
	// Console serves the browser console (package console) at /, under
	// the same token: a login page asks for it once.
	Console bool

	MaxBodyBytes     int64 // larger request bodies get 413
	MaxInflightBytes int64 // request body bytes held at once, all requests together
	QueueEvents      int64 // events waiting to be committed, at most
	BatchEvents      int   // events merged into one commit, at most

	VerifyInterval     time.Duration // how often to verify the new rows
	FullVerifyInterval time.Duration // how often to verify the whole store from genesis
	CheckpointInterval time.Duration // sign a checkpoint at most this often
	PublishTimeout     time.Duration // one attempt to publish to one of Publish
	ReadTimeout        time.Duration // to read a whole request, body included

	// Signer signs checkpoints; nil means no checkpoints.
	Signer note.Signer
	// Verifier is Signer's verifier; the retention policy checks its
	// archives with it.
	Verifier note.Verifier
	// CheckpointFile is the append-only checkpoint file: every checkpoint
	// is written to it before the next commit, and the last one in it is
	// the one a new checkpoint must be consistent with.
	CheckpointFile string
	// Publish are further destinations. Each publishes on its own
	// goroutine (publish.Async), so a slow or dead one never holds back a
	// commit or an acknowledgement.
	Publish []publish.Publisher
	// Witnesses cosign the checkpoints (C2SP tlog-witness), each on its
	// own goroutine, so a slow or dead witness never holds back a commit.
	// A checkpoint cosigned by WitnessQuorum of them (0: all) is appended
	// to witness.CosignedPath(CheckpointFile).
	Witnesses     []witness.Witness
	WitnessQuorum int
	// WitnessTimeout bounds one attempt at one witness; default
	// PublishTimeout.
	WitnessTimeout time.Duration

	// Watch are transcript folders the daemon follows (package watch):
	// their events are submitted through the writer, merged with the
	// HTTP requests' into group commits, each batch with its files'
	// cursors in the same transaction. Empty: none.
	Watch []watch.Folder
	// WatchPoll is how often the watched folders are rescanned; 0 is
	// watch's default.
	WatchPoll time.Duration

	// Retain, if set, prunes the oldest events on a schedule.
	Retain *Retention

	// Collector makes the daemon a fleet's collector: it takes nodes'
	// forwarded chains at POST /v1/replicate and checks each node's
	// continuity on arrival (chainlog.Replicate). The store must be a
	// chainlog.Replicator. RequireNodeBinding refuses a node whose client
	// certificate is not bound to the node_ids it forwards.
	Collector          bool
	RequireNodeBinding bool
	// Forward, if set, forwards this node's chains to a collector after
	// they commit (package forward); its Source and Logger are the
	// daemon's.
	Forward *forward.Config

	Logger *slog.Logger     // default: discard
	Now    func() time.Time // the clock; default time.Now
	// Ready, if set, is called once the daemon listens, with its address.
	Ready func(addr net.Addr)
	// OTLPReady, if set, is called once the OTLP listener listens, with
	// its address, before Ready.
	OTLPReady func(addr net.Addr)
}

// PublishShutdownWait bounds how long a stopping daemon waits for the last
// checkpoint to reach the Publish destinations.
const PublishShutdownWait = 5 * time.Second

// shutdownWait bounds how long in-flight requests get to finish.
const shutdownWait = 30 * time.Second

// check refuses a configuration Run cannot work with, naming the field.
func (c *Config) check() error {
	if c.Store == "" {
		return errors.New("daemon config: Store is empty")
	}
	if c.Listen == "" {
		return errors.New("daemon config: Listen is empty")
	}
	// Events without node_id take NodeID: one of chainlog's own nodes
	// would make every such event fail at commit.
	if err := chainlog.CheckUserNodeID(c.NodeID); err != nil {
		return fmt.Errorf("daemon config: NodeID: %w", err)
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{
		{"VerifyInterval", c.VerifyInterval}, {"FullVerifyInterval", c.FullVerifyInterval},
		{"CheckpointInterval", c.CheckpointInterval}, {"PublishTimeout", c.PublishTimeout},
		{"ReadTimeout", c.ReadTimeout},
	} {
		if d.v <= 0 {
			return fmt.Errorf("daemon config: %s %v is not positive", d.name, d.v)
		}
	}
	for _, n := range []struct {
		name string
		v    int64
	}{
		{"MaxBodyBytes", c.MaxBodyBytes}, {"MaxInflightBytes", c.MaxInflightBytes},
		{"QueueEvents", c.QueueEvents}, {"BatchEvents", int64(c.BatchEvents)},
	} {
		if n.v <= 0 {
			return fmt.Errorf("daemon config: %s %d is not positive", n.name, n.v)
		}
	}
	if c.Signer != nil && c.CheckpointFile == "" {
		return errors.New("daemon config: a Signer without a CheckpointFile")
	}
	if len(c.Witnesses) > 0 && c.Signer == nil {
		return errors.New("daemon config: Witnesses without a Signer: there are no checkpoints to cosign")
	}
	if c.TLS != nil && len(c.TLS.Certificates) == 0 && c.TLS.GetCertificate == nil {
		return errors.New("daemon config: TLS without a certificate")
	}
	if c.Retain != nil {
		return c.Retain.check(c)
	}
	return nil
}

// Daemon is a configured daemon; Run runs it.
type Daemon struct {
	cfg Config
}

// New checks cfg and fills in its defaults (Logger, Now, OTLP). It opens
// nothing: Run does.
func New(cfg Config) (*Daemon, error) {
	if err := cfg.check(); err != nil {
		return nil, err
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.OTLP == nil {
		cfg.OTLP = &agentsrc.Mapper{NodeID: cfg.NodeID}
	}
	return &Daemon{cfg: cfg}, nil
}

// Writable is the store the daemon commits through: the writer's group
// commits, checkpoints, and the watchers' cursors.
type Writable interface {
	server.Ingester
	publish.Signer
	watch.CursorReader
	Close() error
}

// Readable is the read-only view the daemon serves reads, the monitor and
// tiles from.
type Readable interface {
	server.Reader
	tiles.Source
	Close() error
}

// walCheckpointer is a store whose write-ahead log the daemon moves into
// its database file after commits (SQLite).
type walCheckpointer interface {
	CheckpointWAL(ctx context.Context) error
}

// open opens the writer and the read-only view: through cfg.Open, else the
// SQLite store at cfg.Store.
func (d *Daemon) open(ctx context.Context) (Writable, Readable, error) {
	if d.cfg.Open != nil {
		return d.cfg.Open(ctx)
	}
	st, err := sqlite.Open(ctx, d.cfg.Store, sqlite.Options{Logger: d.cfg.Logger, Init: d.cfg.Init})
	if err != nil {
		return nil, nil, err
	}
	ro, err := sqlite.OpenReadOnly(ctx, d.cfg.Store)
	if err != nil {
		st.Close()
		return nil, nil, err
	}
	return st, ro, nil
}

// Run runs the daemon until ctx ends, then shuts down in order: stop
// accepting, stop the transcript watchers once they committed what they
// read, let in-flight requests get their answers, commit everything
// queued, sign a last checkpoint, close the store. It returns nil after a
// shutdown that ctx asked for.
func (d *Daemon) Run(ctx context.Context) error {
	cfg, logger, now := d.cfg, d.cfg.Logger, d.cfg.Now
	st, ro, err := d.open(ctx)
	if err != nil {
		return err
	}
	defer st.Close()
	defer ro.Close()
	metrics := server.NewMetrics()
	pm := publish.NewMetrics(metrics.Registry)
	ccfg := publish.CheckpointerConfig{Signer: cfg.Signer, File: cfg.CheckpointFile,
		Publish: cfg.Publish, Async: true, Timeout: cfg.PublishTimeout, Logger: logger, Metrics: pm}
	if len(cfg.Witnesses) > 0 {
		ws, err := witness.New(witness.Config{Witnesses: cfg.Witnesses, Quorum: cfg.WitnessQuorum,
			File: witness.CosignedPath(cfg.CheckpointFile), Async: true, Timeout: cmp.Or(cfg.WitnessTimeout, cfg.PublishTimeout),
			Logger: logger, Metrics: witness.NewMetrics(metrics.Registry), PublishMetrics: pm})
		if err != nil {
			return err
		}
		ccfg.Witnesses = ws
	}
	cp := publish.NewCheckpointer(ccfg)
	defer cp.Close(0) // on an early return; after a shutdown, a no-op
	// The writer outlives ctx: what was queued is committed on shutdown.
	writeCtx := context.WithoutCancel(ctx)
	var w *server.Writer
	cps := &rateLimited{every: cfg.CheckpointInterval, now: now, run: func(ctx context.Context) error {
		// The WAL's frames go to the database file, and a checkpoint that
		// keeps failing (WAL, signing or publishing) stops the writer
		// acknowledging.
		var walErr error
		if wc, ok := st.(walCheckpointer); ok {
			walErr = wc.CheckpointWAL(ctx)
		}
		err := errors.Join(walErr, cp.Run(ctx, st))
		if ctx.Err() == nil { // one cut short by shutdown is no failure
			w.CheckpointResult(err)
		}
		return err
	}}
	w = server.NewWriter(st, server.WriterConfig{
		MaxBatch: cfg.BatchEvents, Capacity: cfg.QueueEvents, Logger: logger, Metrics: metrics,
		After: func(ctx context.Context) {
			if err := cps.maybe(ctx); err != nil {
				logger.Error("checkpoint failed", "err", err)
			}
		},
	})
	go w.Run(writeCtx)
	var srv *server.Server
	con, err := d.console(ro, w, func() *server.Server { return srv })
	if err != nil {
		w.Close()
		return err
	}
	scfg := server.Config{Writer: w, Reader: ro, Monitor: chainlog.NewMonitor(), Metrics: metrics,
		Logger: logger, Token: cfg.Token, MaxBodyBytes: cfg.MaxBodyBytes, MaxInflightBytes: cfg.MaxInflightBytes,
		NodeID: cfg.NodeID, OTLP: cfg.OTLP,
		Tiles: &tiles.Handler{Source: ro, Checkpoint: servedCheckpoint(cfg.CheckpointFile), Logger: logger}}
	if con != nil {
		scfg.Console = con
	}
	if cfg.Collector {
		rep, ok := st.(server.Replica)
		if !ok {
			w.Close()
			return fmt.Errorf("collector: the store (%T) cannot take forwarded chains", st)
		}
		scfg.Replica, scfg.RequireNodeBinding = rep, cfg.RequireNodeBinding
	}
	var fw *forward.Forwarder
	if cfg.Forward != nil {
		fc := *cfg.Forward
		src, ok := ro.(forward.Source)
		if !ok {
			w.Close()
			return fmt.Errorf("forward: the store (%T) cannot be read by chain", ro)
		}
		fc.Source, fc.Logger, fc.Now = src, logger.With("component", "forward"), now
		if fw, err = forward.New(fc); err != nil {
			w.Close()
			return err
		}
		forwardMetrics(metrics, fw)
		scfg.Health = func() map[string]any { return map[string]any{"forward": fw.Status()} }
	}
	srv = server.New(scfg)
	hs := d.httpServer(srv)
	ln, err := d.listen(cfg.Listen)
	if err != nil {
		w.Close()
		return err
	}
	servers, serve := []*http.Server{hs}, []func() error{func() error { return hs.Serve(ln) }}
	if cfg.OTLPListen != "" {
		ohs := d.httpServer(srv.OTLPHandler())
		oln, err := d.listen(cfg.OTLPListen)
		if err != nil {
			ln.Close()
			w.Close()
			return fmt.Errorf("OTLP listener: %w", err)
		}
		logger.Info("OTLP receiver listening", "addr", oln.Addr().String())
		if cfg.OTLPReady != nil {
			cfg.OTLPReady(oln.Addr())
		}
		servers, serve = append(servers, ohs), append(serve, func() error { return ohs.Serve(oln) })
	}
	logger.Info("chainlog serving", "addr", ln.Addr().String(), "tls", cfg.TLS != nil,
		"client_certs", cfg.TLS != nil && cfg.TLS.ClientAuth == tls.RequireAndVerifyClientCert,
		"store", cfg.Store, "node_id", cfg.NodeID,
		"auth", cfg.Token != "", "checkpoints", cfg.Signer != nil, "collector", cfg.Collector, "forward", cfg.Forward != nil)
	if cfg.Ready != nil {
		cfg.Ready(ln.Addr())
	}
	var bg sync.WaitGroup
	bgCtx, stopBg := context.WithCancel(ctx)
	watchDone, err := startWatch(bgCtx, cfg, w, st)
	if err != nil {
		stopBg()
		ln.Close()
		w.Close()
		return err
	}
	vs := &verifySchedule{full: cfg.FullVerifyInterval, now: now, last: now()}
	bg.Go(func() { verifyLoop(bgCtx, srv, cfg.VerifyInterval, vs, logger) })
	bg.Go(func() { cps.tick(bgCtx, logger) })
	if cfg.Retain != nil {
		pst, ok := st.(prunable)
		if !ok {
			err = errors.New("retention: the store cannot prune")
		}
		var pol *retention.Policy
		if err == nil {
			pol, err = d.retentionPolicy(pst, cps.force)
		}
		if err != nil {
			stopBg()
			ln.Close()
			w.Close()
			return err
		}
		bg.Go(func() { pol.Run(bgCtx, pst) })
	}
	if con != nil {
		bg.Go(func() { con.Run(bgCtx) })
	}
	if fw != nil {
		bg.Go(func() { _ = fw.Run(bgCtx) })
	}
	errc := make(chan error, len(serve))
	for _, f := range serve {
		go func() { errc <- f() }()
	}
	select {
	case err = <-errc:
	case <-ctx.Done():
	}
	logger.Info("shutting down: finishing requests and committing the queue")
	srv.Stopping()
	stopBg()
	// The watcher commits what it read through the writer, so it stops
	// before the writer closes.
	if werr := <-watchDone; werr != nil {
		logger.Error("transcript watcher", "err", werr)
	}
	shutCtx, cancel := context.WithTimeout(context.Background(), shutdownWait)
	defer cancel()
	// Every listener stops taking requests, and those in flight get their
	// answers, before the writer drains its queue.
	var shut sync.WaitGroup
	for _, hs := range servers {
		shut.Go(func() {
			if serr := hs.Shutdown(shutCtx); serr != nil {
				logger.Error("http shutdown", "err", serr)
			}
		})
	}
	shut.Wait()
	w.Close()
	bg.Wait()
	if cerr := cp.Run(writeCtx, st); cerr != nil {
		logger.Error("final checkpoint failed", "err", cerr)
	}
	// The last checkpoint gets a bounded time to reach each destination.
	cp.Close(min(cfg.PublishTimeout, PublishShutdownWait))
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	logger.Info("stopped")
	return err
}

// listen listens on addr, with TLS when the configuration has it.
func (d *Daemon) listen(addr string) (net.Listener, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil || d.cfg.TLS == nil {
		return ln, err
	}
	return tls.NewListener(ln, d.cfg.TLS), nil
}

// console returns the browser console over the read-only store, or nil
// when Config.Console is off. srv gives the server once it exists: the
// console's verify button runs its whole-store verification.
func (d *Daemon) console(ro Readable, w *server.Writer, srv func() *server.Server) (*console.Console, error) {
	if !d.cfg.Console {
		return nil, nil
	}
	cs, ok := ro.(console.Store)
	if !ok {
		d.cfg.Logger.Warn("the console is off: this store cannot serve its pages (the SQLite store can)")
		return nil, nil
	}
	ccfg := console.Config{Store: cs, Token: d.cfg.Token, Logger: d.cfg.Logger.With("component", "console"), Now: d.cfg.Now,
		Verify: func(ctx context.Context, progress func(int64)) (*chainlog.Report, error) {
			return srv().VerifyFullProgress(ctx, progress)
		},
		LastVerification: func() (*chainlog.Report, time.Time, bool) { return srv().LastVerification() },
		QueueDepth:       func() int64 { return int64(w.Queued()) },
	}
	if d.cfg.CheckpointFile != "" {
		ccfg.Checkpoint = servedCheckpoint(d.cfg.CheckpointFile)
	}
	return console.New(ccfg)
}

// httpServer returns the daemon's HTTP server settings around h.
func (d *Daemon) httpServer(h http.Handler) *http.Server {
	return &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout: d.cfg.ReadTimeout, IdleTimeout: 2 * time.Minute,
		ErrorLog: slog.NewLogLogger(d.cfg.Logger.Handler(), slog.LevelWarn)}
}

// verifySchedule says whether a background verification is a whole-store
// one: the first at least every full interval since the last.
type verifySchedule struct {
	full time.Duration
	now  func() time.Time
	last time.Time
}

func (v *verifySchedule) whole() bool {
	if t := v.now(); t.Sub(v.last) >= v.full {
		v.last = t
		return true
	}
	return false
}

// verifyLoop verifies new rows every interval and the whole store when vs
// says so.
func verifyLoop(ctx context.Context, srv *server.Server, every time.Duration, vs *verifySchedule, logger *slog.Logger) {
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		verify := srv.Verify
		if vs.whole() {
			verify = srv.VerifyFull
		}
		if _, err := verify(ctx); err != nil && ctx.Err() == nil {
			logger.Error("background verification failed", "err", err)
		}
	}
}

// rateLimited runs a function at most once per interval; a call inside the
// interval is skipped, and a ticker catches up with the last commits.
type rateLimited struct {
	every time.Duration
	now   func() time.Time
	run   func(ctx context.Context) error
	mu    sync.Mutex
	last  time.Time
}

func (r *rateLimited) maybe(ctx context.Context) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	t := r.now()
	if t.Sub(r.last) < r.every {
		return nil
	}
	r.last = t
	return r.run(ctx)
}

// force runs the function now, whatever the interval.
func (r *rateLimited) force(ctx context.Context) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.last = r.now()
	return r.run(ctx)
}

// tick calls maybe every interval until ctx ends, so that the last commits
// of a burst get their checkpoint without waiting for the next commit.
func (r *rateLimited) tick(ctx context.Context, logger *slog.Logger) {
	t := time.NewTicker(r.every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			// A checkpoint interrupted by shutdown is no failure: the
			// final one is signed after the queue is committed.
			if err := r.maybe(ctx); err != nil && ctx.Err() == nil {
				logger.Error("checkpoint failed", "err", err)
			}
		}
	}
}

// servedCheckpoint returns what GET /checkpoint serves: the latest signed
// checkpoint, with the witnesses' cosignatures when they have cosigned it
// (the cosigned file's last note is that checkpoint, signature lines
// added); a monitor that checks only the log's key reads it the same.
func servedCheckpoint(file string) func() ([]byte, error) {
	return func() ([]byte, error) {
		last, err := publish.File{Path: file}.Last()
		if err != nil || last == nil {
			return last, err
		}
		cosigned, err := publish.File{Path: witness.CosignedPath(file)}.Last()
		if err != nil || cosigned == nil {
			return last, nil
		}
		if bytes.HasPrefix(cosigned, last) {
			return cosigned, nil
		}
		return last, nil
	}
}

// startWatch runs the transcript watcher on cfg.Watch until ctx ends; the
// channel gets its result once it has committed what it read. With no
// folders it is closed at once.
func startWatch(ctx context.Context, cfg Config, w *server.Writer, st Writable) (<-chan error, error) {
	done := make(chan error, 1)
	if len(cfg.Watch) == 0 {
		close(done)
		return done, nil
	}
	wt, err := watch.New(watch.Config{Folders: cfg.Watch, Sink: watch.SubmitSink{Writer: w, Cursor: st},
		Logger: cfg.Logger.With("component", "watch"), Poll: cfg.WatchPoll})
	if err != nil {
		return nil, err
	}
	for _, f := range cfg.Watch {
		cfg.Logger.Info("watching transcripts", "source", f.Source, "dir", f.Dir)
	}
	go func() { done <- wt.Run(ctx) }()
	return done, nil
}
