// Package postgres is chainlog's store on a PostgreSQL server, for a
// collector that several processes write at once (see docs/postgres.md).
//
// The tables are the SQLite store's, with the same columns holding the same
// text, so that a row's chain hash, leaf and payload digest, and so every
// checkpoint, are byte for byte what the SQLite store writes for it. The
// schema is versioned in chainlog_schema and upgraded by the embedded
// migrations when a store is opened for writing.
//
// Many writers: each ingest transaction locks the chain heads of its nodes
// in node_id order (a node never seen before is inserted, and a writer that
// loses that race retries), then, last, the tree's counter row (tree_head),
// held until commit: leaf indexes, and so the tree, follow commit order.
// One checkpoint is signed at a time, under a transaction-scoped advisory
// lock.
//
// Durability: a write is committed with the server's synchronous_commit,
// on by default, so a batch is on the server's disk when Ingest returns.
package postgres

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"chainlog"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Options configure a store opened for writing.
type Options struct {
	// Logger receives operational messages; nil discards them.
	Logger *slog.Logger
	// Now is the clock for created_at and updated_at; nil is time.Now.
	Now func() time.Time
	// MaxConns bounds the pool's connections; 0 is 8.
	MaxConns int32
}

// Store is a chainlog store in one PostgreSQL schema (the connection's
// search_path). Its methods are safe for concurrent use, and several
// Stores, in one process or many, may write the same schema at once.
type Store struct {
	pool     *pgxpool.Pool
	readOnly bool
	opts     Options
	lockKey  int64 // the checkpoint publisher's advisory lock, per schema

	mu   sync.Mutex
	snap string // the exported snapshot every read joins, during Snapshot
}

// ErrNotStore is returned when the schema holds no chainlog tables and the
// store is opened read-only.
var ErrNotStore = errors.New("not a chainlog store")

// Open connects to the server at dsn (a postgres:// URL or key=value
// string) and opens the store for writing, creating its tables in the
// connection's schema or upgrading them.
func Open(ctx context.Context, dsn string, opts Options) (*Store, error) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	cfg, err := poolConfig(dsn, opts.MaxConns)
	if err != nil {
		return nil, &chainlog.OpenError{Err: err}
	}
	s, err := connect(ctx, cfg, opts, false)
	if err != nil {
		return nil, &chainlog.OpenError{Path: Redact(dsn), Err: err}
	}
	if err := migrate(ctx, s.pool); err != nil {
		s.pool.Close()
		return nil, &chainlog.OpenError{Path: Redact(dsn), Err: err}
	}
	return s, nil
}

// OpenReadOnly opens an existing store without ever writing to it: every
// connection runs with default_transaction_read_only, and the writing
// methods fail with chainlog.ErrReadOnly.
func OpenReadOnly(ctx context.Context, dsn string) (*Store, error) {
	cfg, err := poolConfig(dsn, 0)
	if err != nil {
		return nil, &chainlog.OpenError{Err: err}
	}
	cfg.ConnConfig.RuntimeParams["default_transaction_read_only"] = "on"
	s, err := connect(ctx, cfg, Options{Logger: slog.New(slog.DiscardHandler), Now: time.Now}, true)
	if err != nil {
		return nil, &chainlog.OpenError{Path: Redact(dsn), Err: err}
	}
	v, err := schemaVersion(ctx, s.pool)
	switch {
	case err == nil && v == 0:
		err = fmt.Errorf("%w: the schema has no chainlog tables", ErrNotStore)
	case err == nil && v > SchemaVersion:
		err = fmt.Errorf("store schema version %d is newer than this chainlog supports (%d): upgrade chainlog", v, SchemaVersion)
	}
	if err != nil {
		s.pool.Close()
		return nil, &chainlog.OpenError{Path: Redact(dsn), Err: err}
	}
	return s, nil
}

func poolConfig(dsn string, maxConns int32) (*pgxpool.Config, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("parse connection string: %w", err)
	}
	cfg.MaxConns = 8
	if maxConns > 0 {
		cfg.MaxConns = maxConns
	}
	return cfg, nil
}

func connect(ctx context.Context, cfg *pgxpool.Config, opts Options, readOnly bool) (*Store, error) {
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, err
	}
	var schema string
	if err := pool.QueryRow(ctx, `SELECT current_schema()`).Scan(&schema); err != nil {
		pool.Close()
		return nil, err
	}
	h := fnv.New64a()
	h.Write([]byte("chainlog checkpoint publisher:" + schema))
	return &Store{pool: pool, readOnly: readOnly, opts: opts, lockKey: int64(h.Sum64())}, nil
}

// Redact returns dsn without its password or parameters, for messages and
// logs: postgres://user@host:port/database.
func Redact(dsn string) string {
	cfg, err := pgconn.ParseConfig(dsn)
	if err != nil {
		return "postgres"
	}
	return fmt.Sprintf("postgres://%s@%s:%d/%s", cfg.User, cfg.Host, cfg.Port, cfg.Database)
}

// Close closes the pool. Writes already returned stay durable.
func (s *Store) Close() error {
	s.pool.Close()
	return nil
}

func (s *Store) timestamp() string {
	return s.opts.Now().UTC().Format("2006-01-02T15:04:05.000000Z")
}

// querier is what a read runs its statements on: a transaction.
type querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
}

// read runs fn in a read-only repeatable-read transaction: every statement
// of fn sees one committed state. During Snapshot the transaction imports
// the snapshot's, so that every read of the snapshot sees the same state.
func (s *Store) read(ctx context.Context, fn func(q querier) error) error {
	tx, err := s.pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return err
	}
	defer tx.Rollback(context.Background())
	s.mu.Lock()
	snap := s.snap
	s.mu.Unlock()
	if snap != "" {
		if _, err := tx.Exec(ctx, `SET TRANSACTION SNAPSHOT '`+snap+`'`); err != nil {
			return fmt.Errorf("join the snapshot: %w", err)
		}
	}
	if err := fn(tx); err != nil {
		return err
	}
	return tx.Commit(ctx)
}

// Snapshot runs fn with every read of the store seeing one committed
// state, even while other writers commit: verify-integrity reads heads,
// rows, trail and tree at one point. The snapshot's transaction is held
// open, on its own connection, while fn runs.
func (s *Store) Snapshot(ctx context.Context, fn func() error) error {
	tx, err := s.pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return fmt.Errorf("snapshot: %w", err)
	}
	defer tx.Rollback(context.Background())
	var id string
	if err := tx.QueryRow(ctx, `SELECT pg_export_snapshot()`).Scan(&id); err != nil {
		return fmt.Errorf("snapshot: %w", err)
	}
	s.mu.Lock()
	if s.snap != "" {
		s.mu.Unlock()
		return errors.New("snapshot: one is already open")
	}
	s.snap = id
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.snap = ""
		s.mu.Unlock()
	}()
	return fn()
}

// write runs fn in a read-committed transaction and commits it, trying
// again, up to maxRetries times, when it failed for a reason another
// writer caused and that a new attempt resolves: a unique id or a new
// node's head inserted meanwhile (chainlog.ErrConflict), a deadlock, or a
// serialization failure.
func (s *Store) write(ctx context.Context, what string, fn func(tx pgx.Tx) error) error {
	if s.readOnly {
		return fmt.Errorf("%s: %w", what, chainlog.ErrReadOnly)
	}
	for attempt := 0; ; attempt++ {
		err := s.writeOnce(ctx, fn)
		if err == nil {
			return nil
		}
		if !retryable(err) || attempt >= maxRetries {
			return fmt.Errorf("%s: %w", what, err)
		}
		s.opts.Logger.Debug("another writer committed first; retrying", "op", what, "attempt", attempt+1, "err", err)
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s: %w", what, ctx.Err())
		case <-time.After(time.Duration(attempt) * time.Millisecond):
		}
	}
}

// maxRetries bounds the attempts of one write that other writers keep
// beating: each retry means another writer committed.
const maxRetries = 50

func (s *Store) writeOnce(ctx context.Context, fn func(tx pgx.Tx) error) error {
	tx, err := s.pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.ReadCommitted})
	if err != nil {
		return err
	}
	defer tx.Rollback(context.Background())
	if err := fn(tx); err != nil {
		return err
	}
	return tx.Commit(ctx)
}

// PostgreSQL's error codes that a retry resolves.
const (
	codeUniqueViolation      = "23505"
	codeSerializationFailure = "40001"
	codeDeadlockDetected     = "40P01"
)

func retryable(err error) bool {
	if errors.Is(err, chainlog.ErrConflict) {
		return true
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch pe.Code {
		case codeUniqueViolation, codeSerializationFailure, codeDeadlockDetected:
			return true
		}
	}
	return false
}

// IsURL reports whether a store location is a PostgreSQL connection URL
// (postgres:// or postgresql://) rather than a SQLite file's path.
func IsURL(loc string) bool {
	return strings.HasPrefix(loc, "postgres://") || strings.HasPrefix(loc, "postgresql://")
}

// Name returns a name for the store at dsn that is safe in a file name:
// host, port, database and, when the connection string sets one, schema
// (search_path), joined by '-'. The command line keeps a store's signer
// key and checkpoints file under it.
func Name(dsn string) (string, error) {
	cfg, err := pgconn.ParseConfig(dsn)
	if err != nil {
		return "", fmt.Errorf("parse connection string: %w", err)
	}
	parts := []string{cfg.Host, strconv.Itoa(int(cfg.Port)), cfg.Database}
	if sp := cfg.RuntimeParams["search_path"]; sp != "" {
		parts = append(parts, sp)
	}
	name := strings.Join(parts, "-")
	return strings.Map(func(r rune) rune {
		if r == '/' || r == '\\' || r <= ' ' || r > '~' || r == ',' {
			return '_'
		}
		return r
	}, name), nil
}

// WithSchema returns dsn with its search_path set to schema, so that a
// store opened on it keeps its tables there.
func WithSchema(dsn, schema string) (string, error) {
	if IsURL(dsn) {
		u, err := url.Parse(dsn)
		if err != nil {
			return "", fmt.Errorf("parse connection string: %w", err)
		}
		q := u.Query()
		q.Set("search_path", schema)
		u.RawQuery = q.Encode()
		return u.String(), nil
	}
	return dsn + " search_path=" + schema, nil
}
