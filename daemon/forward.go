package daemon

import (
	"chainlog/forward"
	"chainlog/server"

	"github.com/prometheus/client_golang/prometheus"
)

// forwardMetrics publishes a forwarding node's lag and counts in the
// daemon's registry, read from fw at each scrape.
func forwardMetrics(m *server.Metrics, fw *forward.Forwarder) {
	gauge := func(name, help string, v func(forward.Status) float64) {
		m.Registry.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: "chainlog", Name: name, Help: help},
			func() float64 { return v(fw.Status()) }))
	}
	counter := func(name, help string, v func(forward.Status) float64) {
		m.Registry.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Namespace: "chainlog", Name: name, Help: help},
			func() float64 { return v(fw.Status()) }))
	}
	gauge("forward_lag_events", "Events this node holds that the collector has not acknowledged.",
		func(s forward.Status) float64 { return float64(s.LagEvents) })
	gauge("forward_lag_seconds", "How long the oldest event the collector has not acknowledged has waited since its commit.",
		func(s forward.Status) float64 { return s.LagSeconds })
	gauge("forward_blocked_chains", "This node's chains held back by the collector's refusal (quarantine).",
		func(s forward.Status) float64 { return float64(len(s.Blocked)) })
	counter("forward_acknowledged_events_total", "Events the collector acknowledged (inserted or duplicate).",
		func(s forward.Status) float64 { return float64(s.Sent) })
	counter("forward_failures_total", "Forwarding attempts that failed (collector unreachable, or a refusal).",
		func(s forward.Status) float64 { return float64(s.Failures) })
}
