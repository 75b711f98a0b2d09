package server

import (
	"context"
	"errors"
	"sync"
	"time"

	"chainlog"
)

// WholeSource is a Reader that can also be verified whole in one read
// snapshot, as verify-integrity does: the SQLite store.
type WholeSource interface {
	chainlog.Source
	Snapshot(ctx context.Context, fn func() error) error
}

// fullState keeps the last whole-store verification. A store it found
// INVALID stays INVALID in every report until a later whole-store
// verification finds it valid: the incremental check reads only new rows,
// through the store's indexes, and does not see what the whole one found.
type fullState struct {
	run  sync.Mutex // one whole-store verification at a time
	mu   sync.Mutex
	last *chainlog.Report
	// latest is the last verification of any kind, and when it ended.
	latest   *chainlog.Report
	latestAt time.Time
	full     bool
}

// VerifyFull verifies the whole store from genesis with
// chainlog.VerifyStore, in one read snapshot, as verify-integrity does: it
// reads the tables themselves, in commit order, and checks the store as a
// whole. It holds back WAL checkpoints while it runs (a few seconds per
// million events), so it runs on a schedule and on request, not on every
// check.
func (s *Server) VerifyFull(ctx context.Context) (*chainlog.Report, error) {
	return s.VerifyFullProgress(ctx, nil)
}

// VerifyFullProgress is VerifyFull, calling progress, if not nil, with the
// rows read so far as the verification goes.
func (s *Server) VerifyFullProgress(ctx context.Context, progress func(rows int64)) (*chainlog.Report, error) {
	src, ok := s.cfg.Reader.(WholeSource)
	if !ok {
		return nil, errors.New("the store cannot be verified whole")
	}
	s.full.run.Lock()
	defer s.full.run.Unlock()
	var rep *chainlog.Report
	err := src.Snapshot(ctx, func() error {
		var err error
		rep, err = chainlog.VerifyStore(ctx, src, chainlog.VerifyOptions{Progress: progress})
		return err
	})
	if err != nil {
		return nil, err
	}
	s.full.mu.Lock()
	s.full.last = rep
	s.full.mu.Unlock()
	s.recordVerification(rep)
	s.full.mu.Lock()
	s.full.full = true
	s.full.mu.Unlock()
	return rep, nil
}

// withFull returns rep, or the last whole-store report when that found the
// store INVALID and rep does not.
func (s *Server) withFull(rep *chainlog.Report) *chainlog.Report {
	s.full.mu.Lock()
	defer s.full.mu.Unlock()
	if f := s.full.last; f != nil && f.Status == chainlog.StatusInvalid && rep.Status != chainlog.StatusInvalid {
		return f
	}
	return rep
}

// recordVerification counts a verification's result in the metrics and
// logs an INVALID one.
func (s *Server) recordVerification(rep *chainlog.Report) {
	now := time.Now()
	s.full.mu.Lock()
	s.full.latest, s.full.latestAt, s.full.full = rep, now, false
	s.full.mu.Unlock()
	s.cfg.Metrics.verified(rep, now)
	if rep.Status == chainlog.StatusInvalid {
		s.cfg.Logger.Error("verification found the store INVALID", "broken_at", rep.BrokenAt.Error())
	}
}

// LastVerification returns the last verification's report (with the
// standing INVALID of a whole-store one, as Verify gives it), when it
// ended, and whether it was a whole-store one; a nil report before the
// first.
func (s *Server) LastVerification() (rep *chainlog.Report, at time.Time, full bool) {
	s.full.mu.Lock()
	defer s.full.mu.Unlock()
	return s.full.latest, s.full.latestAt, s.full.full
}
