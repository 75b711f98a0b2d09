package publish

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

// A Signer is the store whose tree is signed: chainlog.Store's Checkpoint,
// which signs the tree head after proving that it extends published, and
// its ProveConsistency, which witnesses need.
type Signer interface {
	Checkpoint(ctx context.Context, signer note.Signer, published []byte) ([]byte, error)
	Prover
}

// A Prover proves that the tree of newSize extends the tree of oldSize
// (RFC 6962 consistency); oldSize 0 needs no proof.
type Prover interface {
	ProveConsistency(ctx context.Context, oldSize, newSize int64) (tlog.TreeProof, error)
}

// Witnesses get checkpoints cosigned (package witness).
type Witnesses interface {
	// Cosign submits signed to the witnesses, with proofs from p. A
	// synchronous implementation returns once a quorum cosigned it (or
	// with why not); an asynchronous one returns at once.
	Cosign(ctx context.Context, signed []byte, p Prover) error
	// Cosigned reports whether signed is the checkpoint last cosigned by
	// a quorum.
	Cosigned(signed []byte) bool
	// Close stops an asynchronous implementation, waiting up to wait for
	// the last checkpoint handed over.
	Close(wait time.Duration)
}

// CheckpointerConfig configures a Checkpointer.
type CheckpointerConfig struct {
	Signer note.Signer // nil: no checkpoints
	// File is the append-only checkpoint file. Every checkpoint is
	// written to it before Run returns, and the last one in it is the one
	// a new checkpoint must be consistent with.
	File string
	// Publish are further destinations.
	Publish []Publisher
	// Witnesses, if set, cosign the checkpoints: with Async, Run hands
	// them each new checkpoint; without, Cosign asks them for the last.
	Witnesses Witnesses
	// Async publishes to each of Publish on its own goroutine (an Async),
	// so that a slow or dead destination never holds back the caller: a
	// daemon's commits and acknowledgements. Without it, Run publishes to
	// each in turn and returns the first failure, as a command that exits
	// after its checkpoint must.
	Async bool
	// For Async destinations: one attempt's timeout, logger and metrics.
	Timeout time.Duration
	Logger  *slog.Logger
	Metrics *Metrics
}

// A Checkpointer signs checkpoints of a store's tree and publishes them.
// It is the one path from a store's tree to its checkpoints: the daemon
// and the commands that write (ingest, amend, backfill) use it alike.
type Checkpointer struct {
	cfg     CheckpointerConfig
	file    File
	async   []*Async
	once    sync.Once
	started bool // Run has run once (Async: the last checkpoint was offered to the witnesses)
}

// NewCheckpointer returns a Checkpointer; with Async, its destinations'
// goroutines run until Close.
func NewCheckpointer(cfg CheckpointerConfig) *Checkpointer {
	c := &Checkpointer{cfg: cfg, file: File{Path: cfg.File}}
	if cfg.Signer == nil || !cfg.Async {
		return c
	}
	for _, p := range cfg.Publish {
		var name string
		switch p.(type) {
		case Command:
			name = "command"
		case HTTP:
			name = "url"
		default:
			name = p.String()
		}
		c.async = append(c.async, NewAsync(p, AsyncConfig{
			Name: name, Timeout: cfg.Timeout, Logger: cfg.Logger, Metrics: cfg.Metrics}))
	}
	return c
}

// Run signs a checkpoint of st's current tree, if it grew since the last
// one in the checkpoint file, and publishes it: to the file before it
// returns, then to the other destinations. With Async, it also hands the
// checkpoint to the witnesses; its first call hands them the file's last
// checkpoint when no quorum cosigned it yet (the daemon stopped before).
// Run is not safe for concurrent use.
func (c *Checkpointer) Run(ctx context.Context, st Signer) error {
	if c.cfg.Signer == nil {
		return nil
	}
	last, err := c.file.Last()
	if err != nil {
		return err
	}
	signed, err := st.Checkpoint(ctx, c.cfg.Signer, last)
	if err != nil {
		return err
	}
	first := !c.started
	c.started = true
	if signed == nil {
		if first && c.cfg.Async && last != nil && c.cfg.Witnesses != nil && !c.cfg.Witnesses.Cosigned(last) {
			return c.cfg.Witnesses.Cosign(ctx, last, st)
		}
		return nil
	}
	if err := c.file.Publish(ctx, signed); err != nil {
		return err
	}
	if c.cfg.Async {
		for _, a := range c.async {
			if err := a.Publish(ctx, signed); err != nil {
				return err
			}
		}
		if c.cfg.Witnesses != nil {
			return c.cfg.Witnesses.Cosign(ctx, signed, st)
		}
		return nil
	}
	for _, p := range c.cfg.Publish {
		if err := p.Publish(ctx, signed); err != nil {
			return err
		}
	}
	return nil
}

// Cosign has the last checkpoint in the checkpoint file cosigned by the
// witnesses, unless a quorum already did, and returns when they did or
// why they did not. It is for a command that exits after its checkpoint;
// with Async, Run hands every checkpoint to the witnesses instead.
func (c *Checkpointer) Cosign(ctx context.Context, st Prover) error {
	if c.cfg.Signer == nil || c.cfg.Witnesses == nil {
		return nil
	}
	last, err := c.file.Last()
	if err != nil || last == nil || c.cfg.Witnesses.Cosigned(last) {
		return err
	}
	return c.cfg.Witnesses.Cosign(ctx, last, st)
}

// Close stops the Async destinations and the witnesses, waiting up to wait
// for the last checkpoint to be published. Only its first call does
// anything.
func (c *Checkpointer) Close(wait time.Duration) {
	c.once.Do(func() {
		var wg sync.WaitGroup
		for _, a := range c.async {
			wg.Go(func() { a.Close(wait) })
		}
		if w := c.cfg.Witnesses; w != nil {
			wg.Go(func() { w.Close(wait) })
		}
		wg.Wait()
	})
}
