package chainlogtest

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"chainlog"
)

// Replicate takes a node's forwarded events as a collector does, by the
// rule chainlog.Replicate. Nothing changes on a refusal but the fork
// evidence a *chainlog.ForkError reports.
func (s *Source) Replicate(ctx context.Context, events []chainlog.StoredEvent) (chainlog.ReplicateResult, error) {
	return chainlog.Replicate(ctx, &replicaTx{s}, events)
}

// Forks returns the fork evidence (of nodeID, when not empty), by id.
func (s *Source) Forks(ctx context.Context, nodeID string) ([]chainlog.Fork, error) {
	var out []chainlog.Fork
	for _, f := range s.ForkRows {
		if nodeID == "" || f.NodeID == nodeID {
			out = append(out, f)
		}
	}
	return out, nil
}

// ResolveForks records a resolution of nodeID's unresolved forks.
func (s *Source) ResolveForks(ctx context.Context, nodeID, actor, reason string) (int, error) {
	if nodeID == "" || actor == "" || reason == "" {
		return 0, errors.New("resolve forks: node_id, actor and reason are required")
	}
	n := 0
	for i := range s.ForkRows {
		if f := &s.ForkRows[i]; f.NodeID == nodeID && !f.Resolved() {
			f.ResolvedAt, f.ResolvedBy, f.Resolution = "r", actor, reason
			n++
		}
	}
	return n, nil
}

// replicaTx is chainlog.ReplicaTx on a Source, which has one writer.
type replicaTx struct{ s *Source }

func (t *replicaTx) LockHead(ctx context.Context, node string) (chainlog.Head, error) {
	return t.s.HeadOf[node], nil
}

func (t *replicaTx) UnresolvedForks(ctx context.Context, node string) (int, error) {
	n := 0
	for _, f := range t.s.ForkRows {
		if f.NodeID == node && !f.Resolved() {
			n++
		}
	}
	return n, nil
}

func (t *replicaTx) StoredRows(ctx context.Context, node string, from, to int64) (map[int64]*chainlog.StoredEvent, error) {
	out := map[int64]*chainlog.StoredEvent{}
	for i := range t.s.Rows {
		if r := t.s.Rows[i]; r.NodeID == node && r.Seq >= from && r.Seq <= to && !r.Husk() {
			out[r.Seq] = &r
		}
	}
	return out, nil
}

// Append refuses an id already stored before it changes anything, so that
// a refused batch leaves the Source as it was.
func (t *replicaTx) Append(ctx context.Context, events []chainlog.Event) (chainlog.IngestResult, chainlog.Head, error) {
	for _, e := range events {
		if slices.ContainsFunc(t.s.Rows, func(r chainlog.StoredEvent) bool { return r.ID == e.ID }) {
			return chainlog.IngestResult{}, chainlog.Head{}, fmt.Errorf("%w: event id %q is stored already", chainlog.ErrBadChain, e.ID)
		}
	}
	for _, e := range events {
		t.s.stamp(e)
	}
	return chainlog.IngestResult{Inserted: len(events)}, t.s.HeadOf[events[0].NodeID], nil
}

func (t *replicaTx) AddFork(ctx context.Context, f *chainlog.Fork) error {
	f.ID, f.DetectedAt = int64(len(t.s.ForkRows)+1), "d"
	t.s.ForkRows = append(t.s.ForkRows, *f)
	return nil
}

// Replicate refuses.
func (r *ReadOnly) Replicate(ctx context.Context, events []chainlog.StoredEvent) (chainlog.ReplicateResult, error) {
	return chainlog.ReplicateResult{}, fmt.Errorf("replicate: %w", chainlog.ErrReadOnly)
}

// ResolveForks refuses.
func (r *ReadOnly) ResolveForks(ctx context.Context, nodeID, actor, reason string) (int, error) {
	return 0, fmt.Errorf("resolve forks: %w", chainlog.ErrReadOnly)
}

var (
	_ chainlog.Replicator = (*Source)(nil)
	_ chainlog.Replicator = (*ReadOnly)(nil)
)
