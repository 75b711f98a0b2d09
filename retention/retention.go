// Package retention prunes the oldest events of a store under a policy,
// in the one order that loses nothing: plan the cuts, archive their events
// and verify the archive, then prune (chainlog.Pruner). The command
// "chainlog prune" runs it once; the daemon runs it on a schedule
// ("serve --retain"). No HTTP endpoint prunes: the policy is set only in
// the process's own configuration.
package retention

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"chainlog"
)

// Archiver keeps the events of cuts before they are pruned. Archive
// returns where it wrote them only once what it wrote has been read back
// and verified; an error stops the prune, with nothing deleted.
type Archiver interface {
	Archive(ctx context.Context, cuts []chainlog.PruneCut) (where string, err error)
}

// ErrNoArchive is returned by Prune when it is given no Archiver and was
// not told that none is wanted.
var ErrNoArchive = errors.New("no archive: the pruned events would be lost; give an archive, or say explicitly that none is wanted")

// Request is one prune: the events of every node (or of NodeID) older
// than Before, with the reason and actor its records keep.
type Request struct {
	Before time.Time
	NodeID string // empty: every node
	Reason string
	Actor  string
	// Archiver keeps the events before they are pruned. Nil is refused
	// unless NoArchive is set.
	Archiver  Archiver
	NoArchive bool
	// DryRun plans the cuts and stops: nothing is archived or pruned.
	DryRun bool
}

// check refuses a request that Prune could only fail later.
func (r *Request) check() error {
	switch {
	case r.Before.IsZero():
		return &chainlog.FieldError{Field: "before", Msg: "a cut time is required"}
	case strings.TrimSpace(r.Reason) == "":
		return &chainlog.FieldError{Field: "reason", Msg: "a reason is required: the prune record keeps it"}
	case strings.TrimSpace(r.Actor) == "":
		return &chainlog.FieldError{Field: "actor", Msg: "an actor is required: the prune record keeps it"}
	case r.Archiver == nil && !r.NoArchive && !r.DryRun:
		return ErrNoArchive
	case r.Archiver != nil && r.NoArchive:
		return &chainlog.FieldError{Field: "archive", Msg: "an archive and no archive were both asked for"}
	}
	return nil
}

// Result is what a prune did, or, for a dry run, would do.
type Result struct {
	Before  time.Time            `json:"before"`
	Cuts    []chainlog.PruneCut  `json:"cuts"`
	Events  int64                `json:"events"`            // events in the cuts
	Archive string               `json:"archive,omitempty"` // where the archive is
	Records []chainlog.Amendment `json:"records,omitempty"` // the prune records committed
	DryRun  bool                 `json:"dry_run,omitempty"`
}

// Prune plans st's cuts for req, archives them (or not, when req says so
// explicitly), and prunes them in one transaction. With nothing to prune
// it returns a Result without cuts. An archive that fails leaves the store
// as it was. A prune that fails after the archive was written leaves the
// archive: it holds events that are still in the store, and the next run
// writes a new one.
func Prune(ctx context.Context, st chainlog.Pruner, req Request) (*Result, error) {
	if err := req.check(); err != nil {
		return nil, err
	}
	cuts, err := st.PlanPrune(ctx, req.Before, req.NodeID)
	if err != nil {
		return nil, fmt.Errorf("plan: %w", err)
	}
	res := &Result{Before: req.Before, Cuts: cuts, DryRun: req.DryRun}
	for _, c := range cuts {
		res.Events += c.LastSeq - c.FirstSeq + 1
	}
	if len(cuts) == 0 || req.DryRun {
		return res, nil
	}
	if req.Archiver != nil {
		if res.Archive, err = req.Archiver.Archive(ctx, cuts); err != nil {
			return nil, fmt.Errorf("archive (nothing was pruned): %w", err)
		}
	}
	res.Records, err = st.Prune(ctx, chainlog.PruneRequest{Cuts: cuts, Before: req.Before, Reason: req.Reason, Actor: req.Actor})
	if err != nil {
		if res.Archive != "" {
			return res, fmt.Errorf("prune (the archive %s holds events still in the store): %w", res.Archive, err)
		}
		return res, fmt.Errorf("prune: %w", err)
	}
	return res, nil
}

// ParseAge reads a retention age: a Go duration ("4320h") or a whole
// number of days ("180d") or weeks ("26w"). It must be positive.
func ParseAge(s string) (time.Duration, error) {
	d, err := parseAge(s)
	if err != nil {
		return 0, fmt.Errorf("%q is not an age (want a duration such as 180d, 26w or 720h): %v", s, err)
	}
	if d <= 0 {
		return 0, fmt.Errorf("%q is not a positive age", s)
	}
	return d, nil
}

func parseAge(s string) (time.Duration, error) {
	if s == "" {
		return 0, errors.New("empty")
	}
	unit := map[byte]time.Duration{'d': 24 * time.Hour, 'w': 7 * 24 * time.Hour}[s[len(s)-1]]
	if unit == 0 {
		return time.ParseDuration(s)
	}
	n, err := strconv.ParseInt(s[:len(s)-1], 10, 64)
	if err != nil {
		return 0, err
	}
	if n > int64(1<<63-1)/int64(unit) {
		return 0, errors.New("too long")
	}
	return time.Duration(n) * unit, nil
}

// Policy prunes, on a schedule, the events older than Age.
type Policy struct {
	Age  time.Duration
	Text string // the age as configured ("180d"), for the records' reason
	// Every is how often the policy runs; the first run is at once.
	Every time.Duration
	Actor string // default "chainlog serve"
	// Archiver returns the archive for a run at now; nil with NoArchive
	// set means the pruned events are not kept.
	Archiver  func(now time.Time) Archiver
	NoArchive bool
	// After runs after each prune that committed records (the daemon
	// signs a checkpoint, which commits to the trail's new head).
	After  func(ctx context.Context) error
	Now    func() time.Time
	Logger *slog.Logger
}

// Reason is what the policy's prune records give as their reason.
func (p *Policy) Reason() string {
	text := p.Text
	if text == "" {
		text = p.Age.String()
	}
	return "retention: policy " + text
}

// Once runs the policy once, at p.Now().
func (p *Policy) Once(ctx context.Context, st chainlog.Pruner) (*Result, error) {
	now := p.Now()
	req := Request{Before: now.Add(-p.Age), Reason: p.Reason(), Actor: p.Actor, NoArchive: p.NoArchive}
	if req.Actor == "" {
		req.Actor = "chainlog serve"
	}
	if p.Archiver != nil {
		req.Archiver = p.Archiver(now)
	}
	res, err := Prune(ctx, st, req)
	if err != nil {
		return res, err
	}
	if len(res.Records) > 0 && p.After != nil {
		if err := p.After(ctx); err != nil {
			return res, fmt.Errorf("pruned %d events, but: %w", res.Events, err)
		}
	}
	return res, nil
}

// Run runs the policy at once and then every p.Every until ctx ends,
// logging each run; a failed run is logged and tried again at the next.
func (p *Policy) Run(ctx context.Context, st chainlog.Pruner) {
	logger := p.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	t := time.NewTicker(p.Every)
	defer t.Stop()
	for {
		res, err := p.Once(ctx, st)
		switch {
		case err != nil && ctx.Err() == nil:
			logger.Error("retention: prune failed", "err", err)
		case err == nil && res.Events > 0:
			logger.Info("retention: pruned", "events", res.Events, "nodes", len(res.Cuts),
				"before", chainlog.FormatPruneTime(res.Before), "archive", res.Archive)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
