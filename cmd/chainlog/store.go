package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"

	"chainlog"
	"chainlog/daemon"
	"chainlog/postgres"
	"chainlog/pricing"
	"chainlog/sqlite"
)

// The choice of backend, made here once for every command: a --store (or
// CHAINLOG_STORE) that is a postgres:// or postgresql:// URL opens the
// PostgreSQL store, anything else the SQLite file at that path.

// cliStore is what the commands use of a store, whichever the backend.
type cliStore interface {
	chainlog.Store
	chainlog.RangeSource
	chainlog.Amender
	chainlog.Pruner
	chainlog.Replicator
	// Snapshot runs fn with every read seeing one committed state.
	Snapshot(ctx context.Context, fn func() error) error
	// Events returns one page of the events q selects (server, evidence).
	Events(ctx context.Context, q chainlog.EventFilter) ([]chainlog.StoredEvent, int64, error)
	// ChainEvents streams a node's events with fromSeq <= seq <= toSeq.
	ChainEvents(ctx context.Context, nodeID string, fromSeq, toSeq int64, fn func(*chainlog.StoredEvent) error) error
	// BackfillCosts prices unpriced events through the amendment trail.
	BackfillCosts(ctx context.Context, prices *pricing.Table) (chainlog.BackfillResult, error)
}

var (
	_ cliStore = (*sqlite.Store)(nil)
	_ cliStore = (*postgres.Store)(nil)
)

// openRead opens the store at loc read-only; opts apply to a SQLite store.
func openRead(ctx context.Context, loc string, opts ...sqlite.ReadOption) (cliStore, error) {
	if postgres.IsURL(loc) {
		return postgres.OpenReadOnly(ctx, loc)
	}
	return sqlite.OpenReadOnly(ctx, loc, opts...)
}

// openWrite opens the store at loc for writing, creating it when missing.
// opts apply to a SQLite store; PostgreSQL always stamps, digests and
// keeps the tree, and refuses a store written without them.
func openWrite(ctx context.Context, loc string, opts sqlite.Options) (cliStore, error) {
	if postgres.IsURL(loc) {
		if opts.DisableIntegrity || opts.DisablePayloadDigest || opts.DisableTree {
			return nil, errors.New("a PostgreSQL store is always written with integrity on: unset CHAINLOG_INTEGRITY")
		}
		return postgres.Open(ctx, loc, postgres.Options{Logger: opts.Logger, Now: opts.Now})
	}
	return sqlite.Open(ctx, loc, opts)
}

// openExisting opens an existing store for writing. Commands that change
// stored events use it, so that a mistyped path is an error instead of a
// new, empty store.
func openExisting(ctx context.Context, loc string, opts sqlite.Options) (cliStore, error) {
	if postgres.IsURL(loc) {
		ro, err := postgres.OpenReadOnly(ctx, loc)
		if err != nil {
			return nil, err
		}
		ro.Close()
		return openWrite(ctx, loc, opts)
	}
	if _, err := os.Stat(loc); err != nil {
		return nil, &chainlog.OpenError{Err: err}
	}
	// A file that is not a chainlog store (another application's SQLite
	// database, an empty file) is refused too: opening it for writing would
	// install chainlog's schema in it.
	ro, err := sqlite.OpenReadOnly(ctx, loc)
	if err != nil {
		return nil, err
	}
	ro.Close()
	return sqlite.Open(ctx, loc, opts)
}

// sidecar returns the path that a store's own files are named after (its
// signer key STORE.key, its checkpoints STORE.checkpoints): a SQLite
// store's path, or for PostgreSQL ~/.chainlog/postgres/<host-port-db>.
func sidecar(e *env, loc string) (string, error) {
	if !postgres.IsURL(loc) {
		return loc, nil
	}
	name, err := postgres.Name(loc)
	if err != nil {
		return "", err
	}
	home := e.getenv("HOME")
	if home == "" {
		if home, err = os.UserHomeDir(); err != nil {
			return "", fmt.Errorf("a PostgreSQL store keeps its key and checkpoints under the home directory: %w", err)
		}
	}
	dir := filepath.Join(home, ".chainlog", "postgres")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", err
	}
	return filepath.Join(dir, name), nil
}

// chainLayout is how a store holds its chains: a PostgreSQL store's are
// always numbered.
func chainLayout(st cliStore) sqlite.ChainLayout {
	if s, ok := st.(*sqlite.Store); ok {
		return s.ChainLayout()
	}
	return sqlite.ChainsNumbered
}

// openDaemonStore returns how serve opens a PostgreSQL store (the writer
// and a read-only view); nil for a SQLite path, which the daemon opens
// itself.
func openDaemonStore(loc string, logger *slog.Logger) func(ctx context.Context) (daemon.Writable, daemon.Readable, error) {
	if !postgres.IsURL(loc) {
		return nil
	}
	return func(ctx context.Context) (daemon.Writable, daemon.Readable, error) {
		st, err := postgres.Open(ctx, loc, postgres.Options{Logger: logger})
		if err != nil {
			return nil, nil, err
		}
		ro, err := postgres.OpenReadOnly(ctx, loc)
		if err != nil {
			st.Close()
			return nil, nil, err
		}
		return st, ro, nil
	}
}
