// Package witness has a log's checkpoints cosigned by witnesses, as C2SP
// tlog-witness specifies (https://c2sp.org/tlog-witness): each new
// checkpoint is POSTed to each witness's /add-checkpoint with the RFC 6962
// consistency proof from the tree the witness saw last, and the witness
// answers with its cosignature (C2SP tlog-cosignature). A checkpoint
// cosigned by a quorum of the witnesses is appended to the cosigned
// checkpoints file, with every cosignature it got.
//
// A witness refusing a checkpoint (403: it does not know the log or the
// key; 422: the consistency proof fails, the tree forked) is an alert: it
// is logged at error level, counted in chainlog_witness_rejections_total,
// and the checkpoint is not sent again; the next one is.
package witness

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"chainlog"
	"chainlog/publish"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

// Config configures a Cosigner.
type Config struct {
	Witnesses []Witness
	// Quorum is how many witnesses must cosign a checkpoint; 0 means all.
	Quorum int
	// File is the cosigned checkpoints file: each checkpoint a quorum
	// cosigned is appended to it, the log's signature and then the
	// cosignatures, as one note. Its last note also tells, at start, which
	// tree each witness saw last.
	File string
	// Async submits to each witness on its own goroutine (a
	// publish.Async, which keeps the newest checkpoint only and retries
	// with backoff), and Cosign returns at once. Without it, Cosign
	// returns once a quorum cosigned, or at Timeout.
	Async bool
	// Timeout bounds, without Async, the wait for the quorum (default
	// 30s); with Async, one attempt at one witness (default 10s).
	Timeout time.Duration
	// MinBackoff and MaxBackoff bound the wait before retrying a witness
	// that failed (the network, a 5xx); default 1s and 1m.
	MinBackoff, MaxBackoff time.Duration
	Client                 *http.Client // default: http.DefaultClient
	Logger                 *slog.Logger
	Metrics                *Metrics
	// PublishMetrics count, with Async, each witness's attempts as a
	// destination "witness <name>".
	PublishMetrics *publish.Metrics
}

// Cosigner submits checkpoints to witnesses and keeps what they cosign.
// It implements publish.Witnesses.
type Cosigner struct {
	cfg     Config
	quorum  int
	members []*member
	async   []*publish.Async
	file    publish.File

	mu       sync.Mutex
	prover   publish.Prover // the last one Cosign was given, for the Async goroutines
	gathered []*gathering   // the newest checkpoints and their cosignatures
	lastText string         // the body of the last checkpoint written to File
}

// member is one witness and the last tree of the log it is known to have.
type member struct {
	w    Witness
	mu   sync.Mutex
	size int64
}

func (m *member) known() int64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.size
}

func (m *member) learn(size int64) {
	m.mu.Lock()
	m.size = size
	m.mu.Unlock()
}

// New checks cfg and returns a Cosigner; with Async, its goroutines run
// until Close. It reads the cosigned file's last note to learn which tree
// each witness cosigned last; a witness it says nothing of starts at 0 and
// tells its size in a 409.
func New(cfg Config) (*Cosigner, error) {
	if len(cfg.Witnesses) == 0 {
		return nil, errors.New("witnesses: none configured")
	}
	if cfg.Quorum < 0 || cfg.Quorum > len(cfg.Witnesses) {
		return nil, fmt.Errorf("witness quorum %d: want 1 to %d, the number of witnesses (0 means all)", cfg.Quorum, len(cfg.Witnesses))
	}
	if cfg.File == "" {
		return nil, errors.New("witnesses: no cosigned checkpoints file")
	}
	seen := map[string]bool{}
	for _, w := range cfg.Witnesses {
		if seen[w.Key] {
			return nil, fmt.Errorf("witness key %s given twice", w.Key)
		}
		seen[w.Key] = true
	}
	cfg = withDefaults(cfg)
	c := &Cosigner{cfg: cfg, quorum: cfg.Quorum, file: publish.File{Path: cfg.File}}
	if c.quorum == 0 {
		c.quorum = len(cfg.Witnesses)
	}
	for _, w := range cfg.Witnesses {
		c.members = append(c.members, &member{w: w})
		cfg.Metrics.init(w.Name())
	}
	if err := c.loadLast(); err != nil {
		return nil, err
	}
	if cfg.Async {
		for _, m := range c.members {
			c.async = append(c.async, publish.NewAsync(asyncDest{c, m}, publish.AsyncConfig{
				Name: "witness " + m.w.Name(), Timeout: cfg.Timeout, MinBackoff: cfg.MinBackoff,
				MaxBackoff: cfg.MaxBackoff, Logger: cfg.Logger, Metrics: cfg.PublishMetrics}))
		}
	}
	return c, nil
}

func withDefaults(cfg Config) Config {
	if cfg.Timeout <= 0 {
		cfg.Timeout = 30 * time.Second
		if cfg.Async {
			cfg.Timeout = 10 * time.Second
		}
	}
	if cfg.MinBackoff <= 0 {
		cfg.MinBackoff = time.Second
	}
	if cfg.MaxBackoff < cfg.MinBackoff {
		cfg.MaxBackoff = max(cfg.MinBackoff, time.Minute)
	}
	if cfg.Client == nil {
		cfg.Client = http.DefaultClient
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return cfg
}

// loadLast reads the cosigned file's last note: each witness whose
// cosignature on it verifies saw that tree.
func (c *Cosigner) loadLast() error {
	last, err := c.file.Last()
	if err != nil || last == nil {
		return err
	}
	ck, err := chainlog.ParseSignedCheckpoint(last)
	if err != nil {
		return fmt.Errorf("cosigned checkpoints file %s: last note: %w", c.cfg.File, err)
	}
	c.lastText = ck.Text()
	for _, m := range c.members {
		if chainlog.CheckCosignatures(last, 1, []note.Verifier{m.w.Verifier}) == nil {
			m.learn(ck.Size)
			c.cfg.Metrics.cosignedSize(m.w.Name(), ck.Size)
		}
	}
	c.cfg.Metrics.quorumSize(ck.Size)
	return nil
}

// Cosigned reports whether signed is the checkpoint last written to the
// cosigned file.
func (c *Cosigner) Cosigned(signed []byte) bool {
	ck, err := chainlog.ParseSignedCheckpoint(signed)
	if err != nil {
		return false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.lastText == ck.Text()
}

// Cosign submits signed to every witness, with consistency proofs from p.
// With Async it returns at once. Without, it waits until a quorum
// cosigned it and the cosigned note is written, or returns an error that
// says which witnesses did not cosign and why; the wait is bounded by
// Config.Timeout and ctx.
func (c *Cosigner) Cosign(ctx context.Context, signed []byte, p publish.Prover) error {
	ck, err := chainlog.ParseSignedCheckpoint(signed)
	if err != nil {
		return fmt.Errorf("witnesses: %w", err)
	}
	c.mu.Lock()
	c.prover = p
	c.mu.Unlock()
	if c.cfg.Async {
		for _, a := range c.async {
			if err := a.Publish(ctx, signed); err != nil {
				return err
			}
		}
		return nil
	}
	return c.cosignSync(ctx, ck, signed, p)
}

// result is one witness's answer, sync.
type result struct {
	m   *member
	err error
}

func (c *Cosigner) cosignSync(ctx context.Context, ck chainlog.Checkpoint, signed []byte, p publish.Prover) error {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()
	results := make(chan result, len(c.members))
	var wg sync.WaitGroup
	for _, m := range c.members {
		wg.Go(func() {
			results <- result{m, c.retrying(ctx, m, ck, signed, p)}
		})
	}
	defer wg.Wait()
	var failed []string
	cosigned := 0
	for range c.members {
		r := <-results
		if r.err != nil {
			failed = append(failed, r.err.Error())
			continue
		}
		if cosigned++; cosigned >= c.quorum {
			cancel() // the quorum is there: the others catch up with the next checkpoint
			return nil
		}
	}
	return &QuorumError{Size: ck.Size, Cosigned: cosigned, Quorum: c.quorum, Witnesses: len(c.members), Failures: failed}
}

// QuorumError says that fewer witnesses than the quorum cosigned a
// checkpoint, and why each other one did not.
type QuorumError struct {
	Size                        int64
	Cosigned, Quorum, Witnesses int
	Failures                    []string
}

func (e *QuorumError) Error() string {
	return fmt.Sprintf("the checkpoint of size %d was cosigned by %d of %d witnesses, fewer than the quorum of %d: %s",
		e.Size, e.Cosigned, e.Witnesses, e.Quorum, strings.Join(e.Failures, "; "))
}

// retrying submits to one witness until it cosigns, refuses, or ctx ends,
// retrying other failures with backoff.
func (c *Cosigner) retrying(ctx context.Context, m *member, ck chainlog.Checkpoint, signed []byte, p publish.Prover) error {
	backoff := c.cfg.MinBackoff
	for {
		err := c.submit(ctx, m, ck, signed, p)
		var re *RejectedError
		if err == nil || errors.As(err, &re) {
			return err
		}
		if ctx.Err() != nil {
			return fmt.Errorf("%w (gave up: %v)", err, context.Cause(ctx))
		}
		c.cfg.Logger.Warn("witness failed; retrying", "witness", m.w.Name(), "url", m.w.URL, "err", err, "retry_in", backoff)
		t := time.NewTimer(backoff)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("%w (gave up: %v)", err, context.Cause(ctx))
		}
		backoff = min(2*backoff, c.cfg.MaxBackoff)
	}
}

// submit makes one attempt at having signed cosigned by m: from the tree
// m saw last, and after a 409 once more from the size the witness told.
// What m cosigns is gathered (and written once a quorum did).
func (c *Cosigner) submit(ctx context.Context, m *member, ck chainlog.Checkpoint, signed []byte, p publish.Prover) (err error) {
	old := m.known()
	for resent := false; ; resent = true {
		if old > ck.Size {
			return c.alert(m, &RejectedError{Witness: m.w.Name(), Status: http.StatusConflict,
				Reason: fmt.Sprintf("it has seen a tree of size %d, larger than this checkpoint's %d: the log went back, or another signer used its key", old, ck.Size)})
		}
		var proof tlog.TreeProof // from size 0: none
		if old > 0 {
			if proof, err = p.ProveConsistency(ctx, old, ck.Size); err != nil {
				return fmt.Errorf("witness %s: consistency proof from size %d to %d: %w", m.w.Name(), old, ck.Size, err)
			}
		}
		cosig, err := addCheckpoint(ctx, c.cfg.Client, m.w, old, proof, signed)
		var ce *ConflictError
		if errors.As(err, &ce) {
			m.learn(ce.Size)
			if resent {
				return c.alert(m, &RejectedError{Witness: m.w.Name(), Status: http.StatusConflict,
					Reason: fmt.Sprintf("its tree size moved again, to %d, while the checkpoint was resent: another submitter?", ce.Size)})
			}
			c.cfg.Logger.Info("witness has another tree size; resending from it", "witness", m.w.Name(), "size", ce.Size, "had", old)
			old = ce.Size
			continue
		}
		var re *RejectedError
		if errors.As(err, &re) {
			return c.alert(m, re)
		}
		if err != nil {
			return err
		}
		m.learn(ck.Size)
		c.cfg.Metrics.cosignedSize(m.w.Name(), ck.Size)
		return c.gather(m, ck, signed, cosig)
	}
}

// alert reports a refusal: at error level and in the rejections metric.
func (c *Cosigner) alert(m *member, re *RejectedError) error {
	c.cfg.Logger.Error("witness refused the checkpoint: not retried before the next one",
		"witness", m.w.Name(), "url", m.w.URL, "status", re.Status, "reason", re.Reason)
	c.cfg.Metrics.rejected(m.w.Name(), re.Label())
	return re
}

// gathering is one checkpoint and the cosignatures it got, one slot per
// member.
type gathering struct {
	text    string
	size    int64
	signed  []byte
	cosigs  [][]byte
	written int // how many cosignatures the last note written held
}

// maxGathered bounds the checkpoints whose cosignatures are gathered at
// once: under load, asynchronous witnesses cosign different ones.
const maxGathered = 16

// gather records m's cosignature on signed and, when a quorum cosigned it,
// appends the cosigned note to the file (again when more cosignatures come
// later, each note holding all so far).
func (c *Cosigner) gather(m *member, ck chainlog.Checkpoint, signed, cosig []byte) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	g := c.gathering(ck, signed)
	for i, mm := range c.members {
		if mm == m {
			g.cosigs[i] = cosig
		}
	}
	n := 0
	note := append([]byte(nil), g.signed...)
	for _, s := range g.cosigs {
		if s != nil {
			n++
			note = append(note, s...)
		}
	}
	if n < c.quorum || n <= g.written {
		return nil
	}
	if err := c.file.Publish(context.Background(), note); err != nil {
		return fmt.Errorf("witnesses: write the cosigned checkpoint: %w", err)
	}
	g.written = n
	c.lastText = g.text
	c.cfg.Metrics.quorumSize(g.size)
	return nil
}

// gathering returns the record of ck, making it (and dropping the
// smallest when there are too many); c.mu is held.
func (c *Cosigner) gathering(ck chainlog.Checkpoint, signed []byte) *gathering {
	text := ck.Text()
	for _, g := range c.gathered {
		if g.text == text {
			return g
		}
	}
	g := &gathering{text: text, size: ck.Size, signed: append([]byte(nil), signed...), cosigs: make([][]byte, len(c.members))}
	if len(c.gathered) == maxGathered {
		smallest := 0
		for i, o := range c.gathered {
			if o.size < c.gathered[smallest].size {
				smallest = i
			}
		}
		c.gathered = append(c.gathered[:smallest], c.gathered[smallest+1:]...)
	}
	c.gathered = append(c.gathered, g)
	return g
}

// Close stops the Async goroutines, waiting up to wait for the last
// checkpoint handed over to reach each witness.
func (c *Cosigner) Close(wait time.Duration) {
	var wg sync.WaitGroup
	for _, a := range c.async {
		wg.Go(func() { a.Close(wait) })
	}
	wg.Wait()
}

// asyncDest is one witness as a publish.Publisher for a publish.Async.
type asyncDest struct {
	c *Cosigner
	m *member
}

func (d asyncDest) String() string { return "witness " + d.m.w.Name() + " at " + d.m.w.URL }

// Publish makes one attempt; a refusal is a publish.ErrRejected, so that
// Async waits for the next checkpoint instead of retrying.
func (d asyncDest) Publish(ctx context.Context, signed []byte) error {
	ck, err := chainlog.ParseSignedCheckpoint(signed)
	if err != nil {
		return fmt.Errorf("witness %s: %w: %w", d.m.w.Name(), publish.ErrRejected, err)
	}
	d.c.mu.Lock()
	p := d.c.prover
	d.c.mu.Unlock()
	err = d.c.submit(ctx, d.m, ck, signed, p)
	var re *RejectedError
	if errors.As(err, &re) {
		return fmt.Errorf("%w: %w", publish.ErrRejected, err)
	}
	return err
}

// Metrics count what the witnesses do. A nil *Metrics records nothing.
type Metrics struct {
	rejections *prometheus.CounterVec
	cosigned   *prometheus.GaugeVec
	quorum     prometheus.Gauge
}

// NewMetrics registers the witness metrics in reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		rejections: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "chainlog", Name: "witness_rejections_total",
			Help: "Checkpoints a witness refused (403 unknown log or key, 404, 422 inconsistent tree, 409 beyond the checkpoint, or an invalid cosignature): each is an alert."},
			[]string{"witness", "status"}),
		cosigned: prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: "chainlog", Name: "witness_cosigned_tree_size",
			Help: "The tree size of the last checkpoint the witness cosigned."}, []string{"witness"}),
		quorum: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: "chainlog", Name: "witness_quorum_tree_size",
			Help: "The tree size of the last checkpoint a quorum of witnesses cosigned (written to the cosigned checkpoints file)."}),
	}
	reg.MustRegister(m.rejections, m.cosigned, m.quorum)
	return m
}

func (m *Metrics) init(w string) {
	if m != nil {
		m.cosigned.WithLabelValues(w)
	}
}

func (m *Metrics) rejected(w, status string) {
	if m != nil {
		m.rejections.WithLabelValues(w, status).Inc()
	}
}

func (m *Metrics) cosignedSize(w string, size int64) {
	if m != nil {
		m.cosigned.WithLabelValues(w).Set(float64(size))
	}
}

func (m *Metrics) quorumSize(size int64) {
	if m != nil {
		m.quorum.Set(float64(size))
	}
}

// Rejections returns the rejections counter of witness w and status, for
// tests and dashboards.
func (m *Metrics) Rejections(w, status string) prometheus.Counter {
	return m.rejections.WithLabelValues(w, status)
}
