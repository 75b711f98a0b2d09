// Package forward is a node's side of a fleet: after the node commits, it
// sends each chain's stamped events, with their chain columns, in seq
// order (each node's commit order) to a collector's POST /v1/replicate,
// and moves on only when the collector acknowledged them. It is at least
// once: on start, and after any refusal, it asks the collector where the
// node's chain stands there (GET /v1/replicate) and resumes after it; the
// collector counts what it already holds as duplicates. While the
// collector is unreachable it backs off and the node goes on accepting:
// the node's own store stays the source of truth.
package forward

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"chainlog"
)

// Source is the node's store, read: its chain heads, and a run of one
// chain's events with every column (their commit time among them).
type Source interface {
	Heads(ctx context.Context, nodeID string) ([]chainlog.Head, error)
	// ChainEvents streams nodeID's events with fromSeq <= seq <= toSeq,
	// in seq order; a pruned event may be left out or given as a husk.
	ChainEvents(ctx context.Context, nodeID string, fromSeq, toSeq int64, fn func(*chainlog.StoredEvent) error) error
}

// Config configures a Forwarder.
type Config struct {
	// URL is the collector's base URL (https://collector:8443); the
	// forwarder uses URL/v1/replicate.
	URL string
	// Token is the collector's bearer token; empty sends none.
	Token  string
	Client *http.Client // default: a client with a 30 s timeout
	Source Source
	// Batch is the most events sent in one request; default 1000.
	Batch int
	// Poll is how often the forwarder looks for new events when it is
	// caught up; default 200 ms.
	Poll time.Duration
	// MinBackoff and MaxBackoff bound the wait after a failed attempt,
	// doubled at each failure in a row; defaults 100 ms and 5 s.
	MinBackoff, MaxBackoff time.Duration
	// Quarantine is how long a chain the collector quarantined (or that
	// cannot go on) waits before the forwarder asks again, also after an
	// operator resolved the fork; default 1 minute.
	Quarantine time.Duration
	Logger     *slog.Logger
	Now        func() time.Time
}

// Forwarder forwards a node's chains to a collector. Run it once; Status
// is safe to call at any time.
type Forwarder struct {
	cfg      Config
	endpoint string

	mu     sync.Mutex
	chains map[string]*chain
	sent   int64 // events the collector acknowledged (inserted or duplicate)
	fails  int64 // attempts that failed
	last   string
}

// chain is what the forwarder knows of one node's chain.
type chain struct {
	local    int64     // the node's head seq
	acked    int64     // the collector's head seq; -1 until asked
	behind   time.Time // created_at of the first event not yet acknowledged
	blocked  time.Time // a refusal that waits: quarantine, or a pruned row
	why      string
	resolved bool // acked was read from the collector
}

// New returns a Forwarder, or an error naming the field that is wrong.
func New(cfg Config) (*Forwarder, error) {
	u, err := url.Parse(cfg.URL)
	switch {
	case cfg.URL == "":
		return nil, errors.New("forward: the collector's URL is empty")
	case err != nil:
		return nil, fmt.Errorf("forward: collector URL: %w", err)
	case u.Scheme != "http" && u.Scheme != "https", u.Host == "":
		return nil, fmt.Errorf("forward: collector URL %q: want http://host:port or https://host:port", cfg.URL)
	case cfg.Source == nil:
		return nil, errors.New("forward: no source store")
	}
	if cfg.Client == nil {
		cfg.Client = &http.Client{Timeout: 30 * time.Second}
	}
	cfg.Batch = cmp.Or(cfg.Batch, 1000)
	cfg.Poll = cmp.Or(cfg.Poll, 200*time.Millisecond)
	cfg.MinBackoff = cmp.Or(cfg.MinBackoff, 100*time.Millisecond)
	cfg.MaxBackoff = cmp.Or(cfg.MaxBackoff, 5*time.Second)
	cfg.Quarantine = cmp.Or(cfg.Quarantine, time.Minute)
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Forwarder{cfg: cfg, endpoint: strings.TrimSuffix(cfg.URL, "/") + "/v1/replicate", chains: map[string]*chain{}}, nil
}

// Run forwards until ctx ends, and returns nil then.
func (f *Forwarder) Run(ctx context.Context) error {
	fails := 0
	for {
		progressed, err := f.round(ctx)
		if ctx.Err() != nil {
			return nil
		}
		wait := f.cfg.Poll
		var busy *busyError
		if errors.As(err, &busy) {
			// Up, but busy: send again when it asked, jittered, without
			// counting a failure.
			wait = busy.wait - time.Duration(rand.Int64N(int64(busy.wait)/4+1))
		} else if err != nil {
			fails++
			wait = backoff(fails, f.cfg.MinBackoff, f.cfg.MaxBackoff)
			f.mu.Lock()
			f.fails++
			f.last = err.Error()
			f.mu.Unlock()
			f.cfg.Logger.Warn("forwarding to the collector failed; retrying", "err", err, "in", wait.String())
		} else {
			fails = 0
			if progressed {
				wait = 0
			}
		}
		if wait > 0 {
			t := time.NewTimer(wait)
			select {
			case <-ctx.Done():
				t.Stop()
				return nil
			case <-t.C:
			}
		}
	}
}

// backoff is the wait after n failures in a row: doubling from lo, at most
// hi, with up to a quarter of jitter so that nodes do not retry in step.
func backoff(n int, lo, hi time.Duration) time.Duration {
	d := lo
	for i := 1; i < n && d < hi; i++ {
		d *= 2
	}
	d = min(d, hi)
	return d - time.Duration(rand.Int64N(int64(d)/4+1))
}

// round reads the node's heads and sends one batch of each chain that the
// collector lacks. progressed says whether any batch was acknowledged.
func (f *Forwarder) round(ctx context.Context) (progressed bool, err error) {
	heads, err := f.cfg.Source.Heads(ctx, "")
	if err != nil {
		return false, fmt.Errorf("read the node's heads: %w", err)
	}
	var errs []error
	for _, h := range heads {
		if chainlog.CheckUserNodeID(h.NodeID) != nil {
			continue // the store's own chains (anchors) stay on the node
		}
		p, err := f.forward(ctx, h)
		progressed = progressed || p
		if err != nil {
			errs = append(errs, fmt.Errorf("node %q: %w", h.NodeID, err))
			if ctx.Err() != nil {
				break
			}
		}
	}
	return progressed, errors.Join(errs...)
}

// forward sends one batch of h's chain after what the collector holds.
func (f *Forwarder) forward(ctx context.Context, h chainlog.Head) (bool, error) {
	f.mu.Lock()
	c := f.chains[h.NodeID]
	if c == nil {
		c = &chain{acked: -1}
		f.chains[h.NodeID] = c
	}
	c.local = h.Seq
	blocked := !c.blocked.IsZero() && f.cfg.Now().Before(c.blocked)
	known := c.resolved
	acked := c.acked
	noLag := c.behind.IsZero()
	f.mu.Unlock()
	if blocked {
		return false, nil
	}
	if !known {
		if noLag && h.Seq > max(acked, 0) {
			// Until the collector answers, the lag counts from the first
			// event it is not known to hold.
			f.behindFrom(ctx, h.NodeID, max(acked, 0)+1)
		}
		ack, err := f.ask(ctx, h.NodeID)
		if err != nil {
			return false, err
		}
		if err := f.took(h.NodeID, ack, nil); err != nil {
			return false, err
		}
		acked = ack.Seq
	}
	// The collector's head says how far it holds a chain of this node_id,
	// not that the chain is this node's (another node may claim the id):
	// after asking, the first batch begins again with the row at the
	// collector's head, or at the node's when the collector's is past it,
	// for the collector to compare with its own (a duplicate, or fork
	// evidence).
	after := acked
	if !known && acked > 0 {
		after = min(acked, h.Seq) - 1
	} else if h.Seq <= acked {
		return false, nil
	}
	var body bytes.Buffer
	var first *chainlog.StoredEvent
	want := after + 1
	err := f.cfg.Source.ChainEvents(ctx, h.NodeID, want, min(h.Seq, after+int64(f.cfg.Batch)), func(e *chainlog.StoredEvent) error {
		husk := e.EventType == "" && e.TS == "" && e.AgentID == ""
		switch {
		case husk && e.Seq <= acked:
			want = e.Seq + 1
			return nil // pruned after it was forwarded: nothing to compare
		case husk, e.Seq != want && e.Seq-1 > acked:
			// A husk, or rows left out (a store leaves pruned rows out)
			// that the collector does not hold.
			return fmt.Errorf("seq %d was pruned on the node before the collector acknowledged it: the collector's copy of this chain cannot go on; prune a forwarding node only below what it forwarded", max(want, acked+1))
		}
		want = e.Seq + 1
		if first == nil && e.Seq > acked {
			c := *e // the first the collector lacks: the lag counts from its commit
			first = &c
		}
		line, err := e.MarshalJSON()
		if err != nil {
			return fmt.Errorf("event %q: %w", e.ID, err)
		}
		body.Write(line)
		body.WriteByte('\n')
		return nil
	})
	if err == nil && first == nil && h.Seq > acked {
		err = fmt.Errorf("seq %d was pruned on the node before the collector acknowledged it: the collector's copy of this chain cannot go on; prune a forwarding node only below what it forwarded", want)
	}
	if err != nil {
		f.block(h.NodeID, err.Error())
		return false, fmt.Errorf("read the node's chain after seq %d: %w", acked, err)
	}
	if body.Len() == 0 {
		return false, nil
	}
	f.mu.Lock()
	if c.behind.IsZero() && first != nil {
		if t, err := time.Parse(time.RFC3339Nano, first.CreatedAt); err == nil {
			c.behind = t
		} else {
			c.behind = f.cfg.Now()
		}
	}
	f.mu.Unlock()
	ack, status, err := f.post(ctx, &body)
	if err != nil {
		return false, err
	}
	if err := f.took(h.NodeID, ack, &status); err != nil {
		return false, err
	}
	if ack.Seq < h.Seq {
		// Still behind: the lag counts from the commit of the next event
		// the collector lacks.
		f.behindFrom(ctx, h.NodeID, ack.Seq+1)
	}
	return true, nil
}

// behindFrom sets node's lag to count from the commit of its event seq.
func (f *Forwarder) behindFrom(ctx context.Context, node string, seq int64) {
	var at time.Time
	_ = f.cfg.Source.ChainEvents(ctx, node, seq, seq, func(e *chainlog.StoredEvent) error {
		at, _ = time.Parse(time.RFC3339Nano, e.CreatedAt)
		return nil
	})
	if at.IsZero() {
		return
	}
	f.mu.Lock()
	if c := f.chains[node]; c != nil && c.acked < seq {
		c.behind = at
	}
	f.mu.Unlock()
}

// took applies the collector's answer for node; status is nil for an
// answer to GET. It returns the refusal as an error.
func (f *Forwarder) took(node string, ack chainlog.ReplicaAck, status *int) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	c := f.chains[node]
	if status != nil && *status == http.StatusOK {
		f.sent += int64(ack.Inserted + ack.Duplicates)
	}
	switch {
	case ack.Quarantined:
		// The collector holds another history of this node_id: none of
		// this chain counts as acknowledged. Ask again after the wait.
		c.resolved, c.acked = false, 0
		c.blocked = f.cfg.Now().Add(f.cfg.Quarantine)
		c.why = "quarantined by the collector: " + ack.Error
		f.cfg.Logger.Error("the collector quarantined this node: fork evidence; an operator resolves it with chainlog forks resolve", "node_id", node, "err", ack.Error)
		return fmt.Errorf("quarantined: %s", cmp.Or(ack.Error, "an unresolved fork"))
	case status != nil && *status == http.StatusUnprocessableEntity:
		c.resolved = false
		c.blocked = f.cfg.Now().Add(f.cfg.Quarantine)
		c.why = ack.Error
		return fmt.Errorf("the collector refused the batch: %s", ack.Error)
	}
	c.acked, c.resolved, c.blocked, c.why = ack.Seq, true, time.Time{}, ""
	if c.acked >= c.local {
		c.behind = time.Time{}
	} else if status != nil {
		c.behind = time.Time{} // set again from the next batch's first event
	}
	if ack.Gap {
		// The collector's head is elsewhere than this node thought: go on
		// after it.
		f.cfg.Logger.Info("resuming after the collector's head", "node_id", node, "seq", ack.Seq)
	}
	return nil
}

// block holds node back for the quarantine wait, with why.
func (f *Forwarder) block(node, why string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if c := f.chains[node]; c != nil {
		c.blocked, c.why, c.resolved = f.cfg.Now().Add(f.cfg.Quarantine), why, false
	}
}

// ask asks the collector for its head of node.
func (f *Forwarder) ask(ctx context.Context, node string) (chainlog.ReplicaAck, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, f.endpoint+"?node_id="+url.QueryEscape(node), nil)
	if err != nil {
		return chainlog.ReplicaAck{}, err
	}
	ack, status, err := f.do(req)
	if err == nil && status != http.StatusOK {
		err = fmt.Errorf("GET /v1/replicate: %d %s", status, ack.Error)
	}
	return ack, err
}

// post sends one batch; a status that carries an answer (200, 409, 422)
// is no error.
func (f *Forwarder) post(ctx context.Context, body *bytes.Buffer) (chainlog.ReplicaAck, int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, f.endpoint, body)
	if err != nil {
		return chainlog.ReplicaAck{}, 0, err
	}
	req.Header.Set("Content-Type", "application/x-ndjson")
	ack, status, err := f.do(req)
	if err == nil && status != http.StatusOK && status != http.StatusConflict && status != http.StatusUnprocessableEntity {
		err = fmt.Errorf("POST /v1/replicate: %d %s", status, ack.Error)
	}
	return ack, status, err
}

// busyError is a collector that asked to be sent again shortly (503 with
// Retry-After): it is up, and not a failure to back off from.
type busyError struct {
	msg  string
	wait time.Duration // its Retry-After
}

func (e *busyError) Error() string { return "the collector is busy: " + e.msg }

func (f *Forwarder) do(req *http.Request) (chainlog.ReplicaAck, int, error) {
	var ack chainlog.ReplicaAck
	if f.cfg.Token != "" {
		req.Header.Set("Authorization", "Bearer "+f.cfg.Token)
	}
	resp, err := f.cfg.Client.Do(req)
	if err != nil {
		return ack, 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusServiceUnavailable {
		if secs, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && secs > 0 {
			b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
			_ = json.Unmarshal(b, &ack)
			return ack, resp.StatusCode, &busyError{msg: ack.Error, wait: time.Duration(secs) * time.Second}
		}
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return ack, resp.StatusCode, fmt.Errorf("read the collector's answer: %w", err)
	}
	if err := json.Unmarshal(b, &ack); err != nil {
		return ack, resp.StatusCode, fmt.Errorf("the collector's answer (%d) is not JSON: %.200q", resp.StatusCode, b)
	}
	return ack, resp.StatusCode, nil
}

// Status is how far behind the collector the node is.
type Status struct {
	// LagEvents is the events the node holds that the collector has not
	// acknowledged, over every chain; LagSeconds is how long the oldest
	// of them has waited since the node committed it (0 when caught up).
	LagEvents  int64   `json:"lag_events"`
	LagSeconds float64 `json:"lag_seconds"`
	// Sent counts the events the collector acknowledged since start;
	// Failures the attempts that failed; LastError the last failure.
	Sent      int64  `json:"sent"`
	Failures  int64  `json:"failures"`
	LastError string `json:"last_error,omitempty"`
	// Blocked lists the chains held back, with why (quarantine).
	Blocked map[string]string `json:"blocked,omitempty"`
}

// Status returns the forwarder's status now.
func (f *Forwarder) Status() Status {
	f.mu.Lock()
	defer f.mu.Unlock()
	s := Status{Sent: f.sent, Failures: f.fails, LastError: f.last}
	now := f.cfg.Now()
	for node, c := range f.chains {
		if c.acked < c.local {
			s.LagEvents += c.local - max(c.acked, 0)
			if !c.behind.IsZero() {
				s.LagSeconds = max(s.LagSeconds, now.Sub(c.behind).Seconds())
			}
		}
		if c.why != "" {
			if s.Blocked == nil {
				s.Blocked = map[string]string{}
			}
			s.Blocked[node] = c.why
		}
	}
	return s
}
