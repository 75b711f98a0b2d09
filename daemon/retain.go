package daemon

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"chainlog"
	"chainlog/archive"
	"chainlog/retention"
)

// Retention is the daemon's retention policy: every Every, the events
// older than Age are archived under ArchiveDir (verified before anything
// is deleted) and pruned, and a checkpoint is signed that commits to the
// prune records. It is set only in the daemon's own configuration: no
// HTTP request prunes.
type Retention struct {
	Age   time.Duration
	Text  string        // Age as configured ("180d"), for the records' reason
	Every time.Duration // how often the policy runs; the first run is at start

	// ArchiveDir is where each run writes its archive, in a new
	// directory named by the run's time. It needs checkpoints (a Signer):
	// an archive holds the signed checkpoint that covers its events.
	ArchiveDir string
	// NoArchive prunes without an archive: set it explicitly, or give
	// ArchiveDir.
	NoArchive bool
}

func (r *Retention) check(c *Config) error {
	switch {
	case r.Age <= 0:
		return errors.New("daemon config: Retain.Age is not positive")
	case r.Every <= 0:
		return errors.New("daemon config: Retain.Every is not positive")
	case r.ArchiveDir == "" && !r.NoArchive:
		return errors.New("daemon config: Retain needs an ArchiveDir, or NoArchive set explicitly")
	case r.ArchiveDir != "" && r.NoArchive:
		return errors.New("daemon config: Retain has an ArchiveDir and NoArchive")
	case r.ArchiveDir != "" && (c.Signer == nil || c.Verifier == nil):
		return errors.New("daemon config: Retain.ArchiveDir needs a Signer and its Verifier: an archive holds the checkpoint that covers it")
	}
	return nil
}

// prunable is what a store needs for the retention policy: to prune, and
// to archive what it prunes.
type prunable interface {
	chainlog.Pruner
	archive.Source
	LatestCheckpoint(ctx context.Context) ([]byte, error)
}

// retentionPolicy returns the policy the daemon runs on st, making its
// archive directory; sign signs a checkpoint of the store as it is.
func (d *Daemon) retentionPolicy(st prunable, sign func(ctx context.Context) error) (*retention.Policy, error) {
	r, cfg := d.cfg.Retain, d.cfg
	p := &retention.Policy{Age: r.Age, Text: r.Text, Every: r.Every, Actor: "chainlog serve",
		NoArchive: r.NoArchive, After: sign, Now: cfg.Now, Logger: cfg.Logger}
	if r.ArchiveDir != "" {
		if err := os.MkdirAll(r.ArchiveDir, 0o700); err != nil {
			return nil, fmt.Errorf("retention archive directory: %w", err)
		}
		p.Archiver = func(now time.Time) retention.Archiver {
			return newArchiver(st, r.ArchiveDir, now, cfg.Verifier, sign)
		}
	}
	return p, nil
}
