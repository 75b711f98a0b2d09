package server

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"chainlog"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the daemon's Prometheus metrics. A nil *Metrics records
// nothing.
type Metrics struct {
	Registry *prometheus.Registry

	acceptedC, duplicates, rejected prometheus.Counter
	commitFailures                  prometheus.Counter
	batchEvents, batchRequests      prometheus.Histogram
	commitSeconds                   prometheus.Histogram
	queue                           prometheus.Gauge
	queueMu                         sync.Mutex // orders the queue gauge's updates
	verifyValid, verifyTime         prometheus.Gauge
	verifyChecked                   prometheus.Gauge
	// The OTLP receiver's, by signal (logs, traces): requests by HTTP
	// status, records received in bodies that decoded, records rejected
	// (partial_success).
	otlpRequests                 *prometheus.CounterVec
	otlpReceived, otlpRejectedRs *prometheus.CounterVec
	// A collector's: forwarded events by result (inserted, duplicate),
	// and refused batches by reason (gap, fork, quarantined, chain, error).
	replicatedEvents, replicateRefused *prometheus.CounterVec
}

// NewMetrics registers the daemon's metrics in a new registry.
func NewMetrics() *Metrics {
	m := &Metrics{Registry: prometheus.NewRegistry()}
	c := func(name, help string) prometheus.Counter {
		x := prometheus.NewCounter(prometheus.CounterOpts{Namespace: "chainlog", Name: name, Help: help})
		m.Registry.MustRegister(x)
		return x
	}
	g := func(name, help string) prometheus.Gauge {
		x := prometheus.NewGauge(prometheus.GaugeOpts{Namespace: "chainlog", Name: name, Help: help})
		m.Registry.MustRegister(x)
		return x
	}
	h := func(name, help string, buckets []float64) prometheus.Histogram {
		x := prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: "chainlog", Name: name, Help: help, Buckets: buckets})
		m.Registry.MustRegister(x)
		return x
	}
	m.acceptedC = c("events_accepted_total", "Events committed.")
	m.duplicates = c("events_duplicate_total", "Events whose id was already stored.")
	m.rejected = c("events_rejected_total", "Events refused as invalid.")
	m.commitFailures = c("commit_failures_total", "Commits that failed; their requests got an error.")
	m.batchEvents = h("commit_batch_events", "Events per commit.", prometheus.ExponentialBuckets(1, 4, 8))
	m.batchRequests = h("commit_batch_requests", "Requests merged into one commit.", prometheus.ExponentialBuckets(1, 2, 10))
	m.commitSeconds = h("commit_latency_seconds", "Time to commit one batch.", prometheus.ExponentialBuckets(0.0005, 2, 14))
	m.queue = g("queue_events", "Events waiting to be committed.")
	m.verifyValid = g("last_verification_valid", "1 when the last verification found the store valid or empty, 0 when invalid.")
	m.verifyTime = g("last_verification_timestamp_seconds", "When the last verification finished.")
	m.verifyChecked = g("last_verification_checked_events", "Chained events the last verification covered.")
	vec := func(name, help string, labels ...string) *prometheus.CounterVec {
		x := prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "chainlog", Name: name, Help: help}, labels)
		m.Registry.MustRegister(x)
		return x
	}
	m.otlpRequests = vec("otlp_requests_total", "OTLP export requests, by signal and HTTP status.", "signal", "code")
	m.otlpReceived = vec("otlp_records_total", "OTLP log records or spans received in bodies that decoded.", "signal")
	m.otlpRejectedRs = vec("otlp_records_rejected_total", "OTLP log records or spans rejected (partial_success).", "signal")
	m.replicatedEvents = vec("replicated_events_total", "Forwarded events a collector took, by result (inserted, duplicate).", "result")
	m.replicateRefused = vec("replicate_refused_total", "Forwarded batches a collector refused, by reason (gap, fork, quarantined, chain, error).", "reason")
	for _, r := range []string{"inserted", "duplicate"} {
		m.replicatedEvents.WithLabelValues(r)
	}
	for _, r := range []string{"gap", "fork", "quarantined", "chain", "error"} {
		m.replicateRefused.WithLabelValues(r)
	}
	for _, signal := range []string{"logs", "traces"} {
		m.otlpReceived.WithLabelValues(signal)
		m.otlpRejectedRs.WithLabelValues(signal)
	}
	return m
}

func (m *Metrics) commit(events, requests int, d time.Duration, err error) {
	if m == nil {
		return
	}
	if err != nil {
		m.commitFailures.Inc()
		return
	}
	m.batchEvents.Observe(float64(events))
	m.batchRequests.Observe(float64(requests))
	m.commitSeconds.Observe(d.Seconds())
}

func (m *Metrics) accepted(r chainlog.IngestResult) {
	if m == nil {
		return
	}
	m.acceptedC.Add(float64(r.Inserted))
	m.duplicates.Add(float64(r.Duplicates))
}

func (m *Metrics) otlpRequest(signal string, code int) {
	if m != nil {
		m.otlpRequests.WithLabelValues(signal, strconv.Itoa(code)).Inc()
	}
}

func (m *Metrics) otlpRecords(signal string, received int, rejected int64) {
	if m != nil {
		m.otlpReceived.WithLabelValues(signal).Add(float64(received))
		m.otlpRejectedRs.WithLabelValues(signal).Add(float64(rejected))
	}
}

func (m *Metrics) reject(n int) {
	if m != nil {
		m.rejected.Add(float64(n))
	}
}

// queueDepth sets the queue gauge to n's current value. Reading n and
// setting the gauge under one lock keeps a reading taken before a commit
// from overwriting the one taken after it (a stale depth after the queue
// drained).
func (m *Metrics) queueDepth(n *atomic.Int64) {
	if m != nil {
		m.queueMu.Lock()
		m.queue.Set(float64(n.Load()))
		m.queueMu.Unlock()
	}
}

func (m *Metrics) verified(r *chainlog.Report, at time.Time) {
	if m == nil {
		return
	}
	valid := 1.0
	if r.Status == chainlog.StatusInvalid {
		valid = 0
	}
	m.verifyValid.Set(valid)
	m.verifyTime.Set(float64(at.Unix()))
	m.verifyChecked.Set(float64(r.Checked))
}

// replicated counts one Replicate call.
func (m *Metrics) replicated(res chainlog.ReplicateResult, err error) {
	if m == nil {
		return
	}
	m.replicatedEvents.WithLabelValues("inserted").Add(float64(res.Inserted))
	m.replicatedEvents.WithLabelValues("duplicate").Add(float64(res.Duplicates))
	if err == nil {
		return
	}
	reason := "error"
	switch {
	case errors.Is(err, chainlog.ErrForked):
		reason = "fork"
	case errors.Is(err, chainlog.ErrQuarantined):
		reason = "quarantined"
	case errors.Is(err, chainlog.ErrChainGap):
		reason = "gap"
	case errors.Is(err, chainlog.ErrBadChain):
		reason = "chain"
	}
	m.replicateRefused.WithLabelValues(reason).Inc()
}

// watchForks publishes the number of unresolved forks, read from r at each
// scrape (-1 when it cannot be read).
func (m *Metrics) watchForks(r chainlog.Replicator) {
	if m == nil {
		return
	}
	m.Registry.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: "chainlog", Name: "forks_unresolved",
		Help: "Nodes' fork evidence not yet resolved by an operator; each such node is quarantined."}, func() float64 {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		forks, err := r.Forks(ctx, "")
		if err != nil {
			return -1
		}
		n := 0
		for i := range forks {
			if !forks[i].Resolved() {
				n++
			}
		}
		return float64(n)
	}))
}
