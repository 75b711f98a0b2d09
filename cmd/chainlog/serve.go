package main

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"chainlog/daemon"
	"chainlog/forward"
	"chainlog/postgres"
	"chainlog/retention"
	"chainlog/watch"
)

// serveConfig is the daemon's configuration. Every flag has an environment
// variable, CHAINLOG_ and the flag's name in capitals with _ for -; a flag
// given on the command line wins.
type serveConfig struct {
	listen         string
	otlpListen     string
	nodeID         string
	token          string
	insecure       bool
	maxBody        int64
	maxInflight    int64
	queueEvents    int64
	batchEvents    int
	logFormat      string
	logLevel       string
	verifyEvery    time.Duration
	fullEvery      time.Duration
	checkpointRate time.Duration
	publishWait    time.Duration
	readTimeout    time.Duration
	init           bool
	console        bool
	autoKey        bool
	cp             checkpointFlags
	watch          map[string]*string // agentFolder.flag -> DIR to follow
	tls            serverTLSFlags
	collector      bool
	requireBinding bool
	forward        string
	forwardToken   string
	forwardTLS     clientTLSFlags
	forwardBatch   int
	tlsConfig      *tls.Config  // loaded from tls
	forwardClient  *http.Client // from forwardTLS
	retain         string
	retainEvery    time.Duration
	retainArchive  string
	retainNoArch   bool
}

const serveUsage = `serve [--store PATH] [--listen ADDR] [--node-id ID] [--token TOKEN] [flags]

Runs the ingest daemon. Every flag can also be set by environment variable:
CHAINLOG_ followed by the flag name in capitals, - as _ (CHAINLOG_LISTEN,
CHAINLOG_NODE_ID, CHAINLOG_TOKEN, ...). A flag on the command line wins.

--watch-claude-code, --watch-codex and --watch-openclaw make the daemon
follow those transcript folders as "chainlog watch" does: their events are
committed through the daemon's writer, with the positions reached kept in
the store in the same transaction.`

func (c *serveConfig) register(fs *flag.FlagSet, e *env) {
	fs.StringVar(&c.listen, "listen", "127.0.0.1:8900", "address to listen on")
	fs.StringVar(&c.otlpListen, "otlp-listen", "", "also serve the OTLP/HTTP receiver (POST /v1/logs and /v1/traces) alone on this `ADDR`, e.g. 127.0.0.1:4318 (the --listen address serves it too)")
	fs.StringVar(&c.nodeID, "node-id", "", "node_id for events that have none (default: the host name)")
	fs.StringVar(&c.token, "token", "", "require \"Authorization: Bearer `TOKEN`\" on every request")
	fs.BoolVar(&c.insecure, "insecure", false, "allow listening on a non-loopback address without --token")
	fs.Int64Var(&c.maxBody, "max-body-bytes", 16<<20, "larger request bodies get 413")
	fs.Int64Var(&c.maxInflight, "max-inflight-bytes", 64<<20, "request body bytes held at once, all requests together; beyond, requests get 503 with Retry-After")
	fs.Int64Var(&c.queueEvents, "queue-events", 100000, "events waiting to be committed, at most; beyond, requests get 503 with Retry-After")
	fs.IntVar(&c.batchEvents, "batch-events", 5000, "events merged into one commit, at most")
	fs.StringVar(&c.logFormat, "log-format", "text", "log format: text or json")
	fs.StringVar(&c.logLevel, "log-level", "info", "log level: debug, info, warn or error")
	fs.DurationVar(&c.verifyEvery, "verify-interval", time.Minute, "how often to verify the new rows in the background")
	fs.DurationVar(&c.fullEvery, "full-verify-interval", time.Hour, "how often to re-verify the whole store from genesis")
	fs.DurationVar(&c.checkpointRate, "checkpoint-interval", time.Second, "sign a checkpoint at most this often")
	fs.DurationVar(&c.publishWait, "checkpoint-timeout", 10*time.Second, "time allowed to one attempt to publish a checkpoint to --checkpoint-command or --checkpoint-url")
	fs.DurationVar(&c.readTimeout, "read-timeout", 30*time.Second, "time allowed to read a whole request, body included")
	fs.BoolVar(&c.init, "init", false, "add chainlog's tables to a database that has other tables but no events table")
	fs.BoolVar(&c.console, "console", true, "serve the browser console at / (with --token, a login page asks for the token)")
	fs.BoolVar(&c.autoKey, "auto-key", true, "on first start, when no signer key is configured or found, make one for the store (STORE.key) so that checkpoints are on")
	c.watch = map[string]*string{}
	for _, a := range agentFolders {
		c.watch[a.flag] = fs.String("watch-"+a.flag, "", fmt.Sprintf("follow the %s transcripts in this `DIR` (see chainlog watch)", a.format))
	}
	c.tls.register(fs)
	fs.StringVar(&c.retain, "retain", "", "prune the events older than this `age` (180d, 26w, 720h) on a schedule, recorded in the trail (see chainlog prune); needs --retain-archive or --retain-no-archive")
	fs.DurationVar(&c.retainEvery, "retain-every", time.Hour, "how often --retain runs")
	fs.StringVar(&c.retainArchive, "retain-archive", "", "before each prune, write the pruned events to a new archive under this `DIR`, and verify it (needs a signer key)")
	fs.BoolVar(&c.retainNoArch, "retain-no-archive", false, "--retain prunes without writing an archive: the pruned events are gone for good")
	fs.BoolVar(&c.collector, "collector", false, "be a fleet's collector: take nodes' forwarded chains at POST /v1/replicate, each checked on arrival (see docs/scale.md)")
	fs.BoolVar(&c.requireBinding, "require-node-binding", false, "with --collector: refuse a node whose client certificate is not bound to the node_ids it forwards (URI SANs chainlog-node:NODE_ID)")
	fs.StringVar(&c.forward, "forward", "", "forward this node's chains, after they commit, to the collector at this `URL` (https://collector:8443)")
	fs.StringVar(&c.forwardToken, "forward-token", "", "send \"Authorization: Bearer `TOKEN`\" to the --forward collector")
	fs.IntVar(&c.forwardBatch, "forward-batch", 1000, "events sent to the collector in one request, at most")
	c.forwardTLS.registerAs(fs, [3]string{"forward-ca", "forward-cert", "forward-key"}, "the --forward collector")
	c.cp.register(fs, e)
}

// applyEnv sets every flag not given on the command line from its
// environment variable.
func applyEnv(fs *flag.FlagSet, e *env) error {
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	var err error
	fs.VisitAll(func(f *flag.Flag) {
		name := "CHAINLOG_" + strings.ToUpper(strings.ReplaceAll(f.Name, "-", "_"))
		if v := e.getenv(name); v != "" && !given[f.Name] && err == nil {
			if serr := f.Value.Set(v); serr != nil {
				err = fmt.Errorf("%s=%q: %v", name, v, serr)
			}
		}
	})
	return err
}

func runServe(ctx context.Context, e *env, args []string) int {
	fs := newFlagSet(e, "serve", serveUsage)
	store := storeFlag(e, fs)
	var c serveConfig
	c.register(fs, e)
	pos, err := parseFlags(fs, args)
	if err != nil {
		return flagExit(err)
	}
	if len(pos) != 0 {
		return usageError(e, fs, "unexpected argument %q", pos[0])
	}
	if err := applyEnv(fs, e); err != nil {
		return usageError(e, fs, "%v", err)
	}
	logger, err := newLogger(e, c.logFormat, c.logLevel)
	if err != nil {
		return usageError(e, fs, "%v", err)
	}
	if err := c.check(); err != nil {
		return usageError(e, fs, "%v", err)
	}
	if c.nodeID == "" {
		if c.nodeID, err = os.Hostname(); err != nil || c.nodeID == "" {
			return usageError(e, fs, "no --node-id and no host name")
		}
	}
	// The folders to follow must exist, before anything is opened.
	var watched []watch.Folder
	for _, a := range agentFolders {
		if dir := *c.watch[a.flag]; dir != "" {
			if err := isDir(dir); err != nil {
				return usageError(e, fs, "--watch-%s: %v", a.flag, err)
			}
			watched = append(watched, a.folder(dir, c.nodeID))
		}
	}
	path, err := store()
	if err != nil {
		return fail(e, "serve", err)
	}
	base, err := sidecar(e, path)
	if err != nil {
		return fail(e, "serve", err)
	}
	if c.autoKey {
		if err := autoKey(e, logger, &c.cp, base); err != nil {
			return fail(e, "serve", err)
		}
	}
	if err := c.cp.setup(path); err != nil {
		return fail(e, "serve", err)
	}
	if c.tlsConfig, err = c.tls.config(); err != nil {
		return usageError(e, fs, "%v", err)
	}
	if c.forward != "" {
		if c.forwardClient, err = c.forwardTLS.client(30 * time.Second); err != nil {
			return usageError(e, fs, "%v", err)
		}
	}
	cfg := c.daemonConfig(path, logger)
	cfg.Watch = watched
	cfg.Open = openDaemonStore(path, logger)
	if cfg.Open != nil {
		cfg.Store = postgres.Redact(path) // only logged: no password in the log
	}
	d, err := daemon.New(cfg)
	if err == nil {
		err = d.Run(ctx)
	}
	if err != nil {
		return fail(e, "serve", err)
	}
	return exitOK
}

func newLogger(e *env, format, level string) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level: %v", err)
	}
	opts := &slog.HandlerOptions{Level: lv}
	switch format {
	case "text":
		return slog.New(slog.NewTextHandler(e.stderr, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(e.stderr, opts)), nil
	}
	return nil, fmt.Errorf("--log-format %q: want text or json", format)
}

// check validates every flag, so that a bad value is a usage error before
// the store is opened or anything listens, not a panic afterwards.
func (c *serveConfig) check() error {
	for _, d := range []struct {
		name string
		v    time.Duration
	}{
		{"verify-interval", c.verifyEvery}, {"full-verify-interval", c.fullEvery},
		{"checkpoint-interval", c.checkpointRate}, {"checkpoint-timeout", c.publishWait},
		{"read-timeout", c.readTimeout},
	} {
		if err := positive(d.name, int64(d.v), d.v.String()); err != nil {
			return err
		}
	}
	for _, n := range []struct {
		name string
		v    int64
	}{
		{"max-body-bytes", c.maxBody}, {"max-inflight-bytes", c.maxInflight},
		{"queue-events", c.queueEvents}, {"batch-events", int64(c.batchEvents)},
	} {
		if err := positive(n.name, n.v, strconv.FormatInt(n.v, 10)); err != nil {
			return err
		}
	}
	if c.maxInflight < c.maxBody {
		return fmt.Errorf("--max-inflight-bytes %d is less than --max-body-bytes %d: the largest request could never be taken", c.maxInflight, c.maxBody)
	}
	if c.token != "" && strings.TrimSpace(c.token) == "" {
		return errors.New("--token is blank: give a token that is not only white space, or none")
	}
	if c.token != strings.TrimSpace(c.token) {
		return errors.New("--token starts or ends with white space, which a client's Authorization header cannot carry")
	}
	if c.nodeID != "" && strings.TrimSpace(c.nodeID) == "" {
		return errors.New("--node-id is blank")
	}
	if err := c.cp.check(); err != nil {
		return err
	}
	if err := c.checkRetain(); err != nil {
		return err
	}
	if err := c.tls.check(); err != nil {
		return err
	}
	if err := c.checkForward(); err != nil {
		return err
	}
	if err := c.checkListen("listen", c.listen); err != nil {
		return err
	}
	if c.otlpListen == "" {
		return nil
	}
	return c.checkListen("otlp-listen", c.otlpListen)
}

// checkRetain validates the retention flags.
func (c *serveConfig) checkRetain() error {
	if c.retain == "" {
		if c.retainArchive != "" || c.retainNoArch {
			return errors.New("--retain-archive and --retain-no-archive need --retain AGE")
		}
		return nil
	}
	if _, err := retention.ParseAge(c.retain); err != nil {
		return fmt.Errorf("--retain: %w", err)
	}
	if err := positive("retain-every", int64(c.retainEvery), c.retainEvery.String()); err != nil {
		return err
	}
	switch {
	case c.retainArchive != "" && c.retainNoArch:
		return errors.New("give --retain-archive DIR or --retain-no-archive, not both")
	case c.retainArchive == "" && !c.retainNoArch:
		return errors.New("--retain needs --retain-archive DIR, or --retain-no-archive to prune without keeping the events")
	}
	return nil
}

// checkForward validates the fleet's flags: a collector URL that is
// http(s)://host:port, and no token in clear to another machine.
func (c *serveConfig) checkForward() error {
	if c.requireBinding && !c.collector {
		return errors.New("--require-node-binding needs --collector")
	}
	if c.forward == "" {
		if c.forwardToken != "" || c.forwardTLS.ca != "" || c.forwardTLS.cert != "" || c.forwardTLS.key != "" {
			return errors.New("--forward-token, --forward-ca, --forward-cert and --forward-key need --forward URL")
		}
		return nil
	}
	if err := positive("forward-batch", int64(c.forwardBatch), fmt.Sprint(c.forwardBatch)); err != nil {
		return err
	}
	u, err := url.Parse(c.forward)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("--forward %q: want the collector's URL, https://host:port", c.forward)
	}
	if u.Scheme == "http" && !c.insecure {
		if ip := net.ParseIP(u.Hostname()); u.Hostname() != "localhost" && (ip == nil || !ip.IsLoopback()) {
			return fmt.Errorf("--forward %q is plain HTTP to another machine: the events and the token would cross the network in clear; use https:// (and --forward-ca), or --insecure", c.forward)
		}
	}
	return nil
}

// checkListen refuses a non-loopback address, which flag names, unless
// clients are authenticated (a token or client certificates) and the
// connection is encrypted (TLS): a bearer token in clear over a network is
// anyone's who listens. --insecure allows it anyway.
func (c *serveConfig) checkListen(flag, addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("--%s %q: %v", flag, addr, err)
	}
	if _, err := net.LookupPort("tcp", port); err != nil || port == "" {
		return fmt.Errorf("--%s %q: want a port number after the colon", flag, addr)
	}
	if c.insecure || host == "localhost" {
		return nil
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
		return nil
	}
	switch {
	case c.token == "" && c.tls.clientCA == "":
		return fmt.Errorf("--%s %q is not a loopback address: set --token (or CHAINLOG_TOKEN) or --client-ca, with --tls-cert and --tls-key, or --insecure to listen without them", flag, addr)
	case c.tls.cert == "":
		return fmt.Errorf("--%s %q is not a loopback address: serve TLS (--tls-cert and --tls-key), or the token crosses the network in clear; --insecure allows it", flag, addr)
	}
	return nil
}

// daemonConfig is the daemon's configuration from the flags, once check
// and the checkpoint setup have run.
func (c *serveConfig) daemonConfig(path string, logger *slog.Logger) daemon.Config {
	cfg := daemon.Config{
		Store: path, Init: c.init, Console: c.console, Listen: c.listen, OTLPListen: c.otlpListen, NodeID: c.nodeID, Token: c.token,
		MaxBodyBytes: c.maxBody, MaxInflightBytes: c.maxInflight,
		QueueEvents: c.queueEvents, BatchEvents: c.batchEvents,
		VerifyInterval: c.verifyEvery, FullVerifyInterval: c.fullEvery,
		CheckpointInterval: c.checkpointRate, PublishTimeout: c.publishWait, ReadTimeout: c.readTimeout,
		Logger: logger,
	}
	if c.cp.signer != nil {
		// The file is written before each commit goes on; the command and
		// the URL, if any, publish on their own goroutines.
		cfg.Signer, cfg.CheckpointFile, cfg.Publish = c.cp.signer, c.cp.file, c.cp.publishers
		cfg.Witnesses, cfg.WitnessQuorum, cfg.WitnessTimeout = c.cp.witnesses, c.cp.witnessQuorum, c.cp.witnessTimeout
		cfg.Verifier = c.cp.verifier
	}
	cfg.TLS = c.tlsConfig
	cfg.Collector, cfg.RequireNodeBinding = c.collector, c.requireBinding
	if c.forward != "" {
		cfg.Forward = &forward.Config{URL: c.forward, Token: c.forwardToken, Client: c.forwardClient, Batch: c.forwardBatch}
	}
	if c.retain != "" {
		age, _ := retention.ParseAge(c.retain) // check has parsed it
		cfg.Retain = &daemon.Retention{Age: age, Text: c.retain, Every: c.retainEvery,
			ArchiveDir: c.retainArchive, NoArchive: c.retainNoArch}
	}
	return cfg
}
