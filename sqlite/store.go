// Package sqlite is chainlog's embedded store: one SQLite database file,
// written through the pure-Go modernc engine (no cgo).
//
// The file holds the events table (ClawMetry's column names plus chain_seq,
// chain_prev_hash and chain_hash) and chain_heads, one row per node. The
// schema is versioned with PRAGMA user_version and upgraded in place by the
// embedded migrations when a store is opened for writing.
//
// Durability: the database runs in WAL mode with synchronous = FULL, so a
// batch is on disk when Ingest returns.
package sqlite

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"chainlog"

	"zombiezen.com/go/sqlite"
	"zombiezen.com/go/sqlite/sqlitex"
)

// Options configure a store opened for writing.
type Options struct {
	// DisableIntegrity turns chain stamping off: rows are written with NULL
	// chain columns and no payload digest, and count as pre-chain.
	DisableIntegrity bool
	// DisablePayloadDigest stamps the chain but records no payload digest,
	// leaving new rows' mutable fields unsealed. It exists to measure what
	// the digest costs; a production store leaves it off.
	DisablePayloadDigest bool
	// DisableTree stamps the chain but adds no leaves to the Merkle tree.
	// It exists to measure what the tree costs; a production store leaves
	// it off, since a store with untreed stamped rows cannot be
	// checkpointed past them.
	DisableTree bool
	// Logger receives operational messages; nil discards them.
	Logger *slog.Logger
	// Now is the clock for created_at and updated_at; nil is time.Now.
	Now func() time.Time
	// Init lets Open add chainlog's tables to a database that has tables
	// of its own but no events table. Without it such a database is
	// refused, so that a mistyped path does not turn another
	// application's database into a store. A missing or empty file is
	// created either way.
	Init bool
	// WALTruncateWait bounds how long a redaction retries truncating the
	// WAL while other connections hold read snapshots; 0 is 10 seconds.
	WALTruncateWait time.Duration
	// IDTailMergeAt is the length of the id index's tail at which the
	// writer merges it into event_ids; 0 is 1<<17 rows.
	IDTailMergeAt int
	// IDKeySetAfter is how many ids the writer looks up in event_ids
	// before it loads every key into memory; 0 is 4096, and a negative
	// value loads them at the first ingest.
	IDKeySetAfter int
	// IDRecheckEvery is how often, at most, the writer counts the id
	// index again after other connections committed; 0 is one second, and
	// a negative value counts it at every batch after such a commit.
	IDRecheckEvery time.Duration
}

// Store is a chainlog store in one SQLite file. Its methods are safe for
// concurrent use; writes are serialized through a single connection.
type Store struct {
	path          string
	readOnly      bool
	opts          Options
	hasChain      bool // the events table has chain columns
	hasPayload    bool // the events table has payload_digest
	hasAmendments bool // the amendments table exists
	hasPrunes     bool // the prune_ranges table exists
	hasTree       bool // the Merkle tree tables exist
	hasIDIndex    bool // ids are indexed in two tiers (event_ids), not by a primary key
	// integrityCheck makes CheckStore run integrity_check, not quick_check.
	integrityCheck bool
	// schemaCookie is PRAGMA schema_version when the writer last checked
	// the schema; a write checks it again when the cookie moved.
	schemaCookie int64
	skipRecheck  bool // tests only: leave the schema unchecked after Open

	chainLayout ChainLayout // read-only: how the events table holds chains

	mu    sync.Mutex // guards conn and heads
	conn  *sqlite.Conn
	heads map[string]chainlog.Head // committed heads, moved only after commit
	tree  TreeHead                 // committed tree head, moved only after commit
	// amendHead is the amendment trail's head as this writer last read
	// or committed it: the stored head must never be found behind it.
	amendHead chainlog.Head

	leafCursor leafCursor // where the last ScanLeafRange stopped
	tail       idTail     // the writer's copy of the id index's tail
	stmts      map[stmtKey]*sqlite.Stmt
	reader     *sqlite.Conn // a writer's read connection for ingest's id lookups; nil until used
	files      *fileWatch   // a writer's files as opened; nil when read-only
}

// ErrNotStore is returned when a file is not a SQLite database or holds no
// chainlog schema.
var ErrNotStore = errors.New("not a chainlog store")

// Open opens the store at path for writing, creating the file and its
// directory when missing and upgrading an older schema in place.
func Open(ctx context.Context, path string, opts Options) (*Store, error) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	opts.setIDIndexDefaults()
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, &chainlog.OpenError{Err: err}
	}
	// No sqlite.OpenWAL: it would switch the journal mode inside OpenConn,
	// before checkDatabase can report a non-SQLite file as ErrNotStore;
	// initWritable sets WAL mode after that check.
	conn, err := sqlite.OpenConn(path, sqlite.OpenReadWrite, sqlite.OpenCreate)
	if err != nil {
		return nil, &chainlog.OpenError{Path: path, Err: err}
	}
	s := &Store{path: path, opts: opts, conn: conn, hasChain: true, hasPayload: true, hasAmendments: true, hasPrunes: true, hasTree: true, hasIDIndex: true}
	s.tail.recheckEvery = opts.IDRecheckEvery
	if err := s.initWritable(ctx); err != nil {
		conn.Close()
		return nil, &chainlog.OpenError{Path: path, Err: err}
	}
	s.files = newFileWatch(path)
	return s, nil
}

// writerPragmas are the settings a writer's connection runs with, each
// with its reason.
var writerPragmas = []string{
	// 16 KiB pages for a new database (an existing one keeps its
	// own): a batch writes a quarter of the WAL frames, and thus of
	// the system calls, that 4 KiB pages take, and a row wastes less
	// of its page. At 1M events: ingest +10%, 25% smaller files.
	"PRAGMA page_size = 16384",
	"PRAGMA journal_mode = WAL",
	"PRAGMA synchronous = FULL",
	// A redaction must not leave the removed text in freed cell space
	// or on freelist pages: overwrite deleted content with zeros.
	"PRAGMA secure_delete = ON",
	"PRAGMA foreign_keys = ON",
	// 64 MiB of page cache for the writer: event_ids and the
	// tables' recent pages stay in memory.
	"PRAGMA cache_size = -65536",
	// Checkpoint every 4,096 pages of WAL (64 MiB) instead of 1,000: the pages
	// that every batch rewrites (the tables' last pages, the heads)
	// are copied to the database file once per checkpoint.
	"PRAGMA wal_autocheckpoint = 4096",
}

// WriterPragmas returns the PRAGMA statements a writable store runs on its
// connection before migrating: page size, journal mode, durability, cache
// and checkpoints. A benchmark of bare SQLite uses them to write with the
// store's durability.
func WriterPragmas() []string { return slices.Clone(writerPragmas) }

func (s *Store) initWritable(ctx context.Context) error {
	s.conn.SetInterrupt(ctx.Done())
	defer s.conn.SetInterrupt(nil)
	s.conn.SetBusyTimeout(10 * time.Second)
	if err := checkDatabase(s.conn); err != nil {
		return err
	}
	// Before anything is written (WAL mode changes the file): the
	// database must be a store, or empty, or one the caller asked to
	// initialise, and its schema must hold nothing chainlog does not.
	if err := s.checkWritable(); err != nil {
		return err
	}
	for _, p := range writerPragmas {
		if err := sqlitex.ExecuteTransient(s.conn, p, nil); err != nil {
			return fmt.Errorf("%s: %w", p, err)
		}
	}
	if err := migrate(s.conn); err != nil {
		return err
	}
	cookie, err := schemaCookie(s.conn)
	if err != nil {
		return err
	}
	s.schemaCookie = cookie
	if err := s.loadHeads(); err != nil {
		return err
	}
	h, err := readAmendmentHead(s.conn)
	if err != nil {
		return fmt.Errorf("load amendment head: %w", err)
	}
	s.amendHead = h
	return nil
}

// OpenReadOnly opens an existing store without ever writing to it: the
// database file's bytes are unchanged afterwards, and neither the file nor
// its directory needs write permission. An older schema is read as it is:
// rows without chain columns count as pre-chain, and a ClawMetry store's
// chains are read as migration 2 would number them (see ChainsUnnumbered).
func OpenReadOnly(ctx context.Context, path string, opts ...ReadOption) (*Store, error) {
	if _, err := os.Stat(path); err != nil {
		return nil, &chainlog.OpenError{Err: err}
	}
	conn, err := openReadOnly(path)
	if err != nil {
		return nil, &chainlog.OpenError{Path: path, Err: err}
	}
	s := &Store{path: path, readOnly: true, conn: conn}
	for _, o := range opts {
		o(s)
	}
	// The interrupt is cleared before a failed open closes conn: clearing
	// it on a closed Conn panics.
	conn.SetInterrupt(ctx.Done())
	err = s.initReadOnly()
	conn.SetInterrupt(nil)
	if err != nil {
		conn.Close()
		return nil, &chainlog.OpenError{Path: path, Err: err}
	}
	return s, nil
}

// openReadOnly opens path with mode=ro. A WAL database needs its -shm file;
// when that cannot be created (a read-only directory) and the -wal file is
// missing or empty, nothing is pending, so the file is opened as immutable.
func openReadOnly(path string) (*sqlite.Conn, error) {
	conn, err := sqlite.OpenConn(fileURI(path, "mode=ro"), sqlite.OpenReadOnly, sqlite.OpenURI)
	if err == nil {
		if err = checkDatabase(conn); err == nil {
			return conn, nil
		}
		conn.Close()
	}
	// SQLite reports an uncreatable -shm as CANTOPEN or, when the
	// directory is not writable, as READONLY_DIRECTORY.
	if code := sqlite.ErrCode(err); code.ToPrimary() != sqlite.ResultCantOpen && code != sqlite.ResultReadOnlyDirectory {
		return nil, err
	}
	if fi, statErr := os.Stat(path + "-wal"); statErr == nil && fi.Size() > 0 {
		return nil, fmt.Errorf("%w (a -wal file exists but its -shm file cannot be created: give read access to both, or open once with write access)", err)
	}
	conn, err = sqlite.OpenConn(fileURI(path, "mode=ro&immutable=1"), sqlite.OpenReadOnly, sqlite.OpenURI)
	if err != nil {
		return nil, err
	}
	if err := checkDatabase(conn); err != nil {
		conn.Close()
		return nil, err
	}
	return conn, nil
}

func fileURI(path, query string) string {
	abs, err := filepath.Abs(path)
	if err != nil {
		abs = path
	}
	u := url.URL{Scheme: "file", Path: filepath.ToSlash(abs), RawQuery: query}
	return u.String()
}

// checkDatabase reads the schema, which fails on a file that is not SQLite.
func checkDatabase(conn *sqlite.Conn) error {
	err := sqlitex.ExecuteTransient(conn, "SELECT count(*) FROM sqlite_master", nil)
	if err == nil {
		return nil
	}
	switch sqlite.ErrCode(err).ToPrimary() {
	case sqlite.ResultNotADB, sqlite.ResultCorrupt:
		return fmt.Errorf("%w: the file is not a SQLite database or is corrupt (%v)", ErrNotStore, err)
	}
	return err
}

func (s *Store) initReadOnly() error {
	v, err := userVersion(s.conn)
	if err != nil {
		return err
	}
	if v > SchemaVersion {
		return fmt.Errorf("store schema version %d is newer than this chainlog supports (%d): upgrade chainlog", v, SchemaVersion)
	}
	cols, err := columns(s.conn, "events")
	if err != nil {
		return err
	}
	if len(cols) == 0 {
		return fmt.Errorf("%w: it has no events table", ErrNotStore)
	}
	s.hasChain = cols["chain_hash"] && cols["chain_seq"] && cols["chain_prev_hash"]
	s.chainLayout = chainLayoutOf(cols)
	s.hasPayload = cols["payload_digest"]
	amend, err := columns(s.conn, "amendments")
	if err != nil {
		return err
	}
	s.hasAmendments = len(amend) > 0
	prunes, err := columns(s.conn, "prune_ranges")
	if err != nil {
		return err
	}
	s.hasPrunes = len(prunes) > 0
	tree, err := columns(s.conn, "tree_head")
	if err != nil {
		return err
	}
	s.hasTree = len(tree) > 0 && cols["leaf_index"]
	upto, err := columns(s.conn, "event_ids_upto")
	if err != nil {
		return err
	}
	s.hasIDIndex = len(upto) > 0
	return nil
}

// Path returns the store's file path.
func (s *Store) Path() string { return s.path }

// Close closes the store. On a writable store the last close checkpoints
// the WAL into the database file.
func (s *Store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.conn == nil {
		return nil
	}
	// The reader closes first, so that the writer's connection is the
	// last one and checkpoints the WAL into the database file.
	var err error
	if s.reader != nil {
		err = s.reader.Close()
		s.reader = nil
	}
	if cerr := s.conn.Close(); err == nil {
		err = cerr
	}
	s.conn = nil
	if err != nil {
		return fmt.Errorf("close store: %w", err)
	}
	return nil
}

// withConn runs fn holding the store's connection, interruptible by ctx.
func (s *Store) withConn(ctx context.Context, fn func(conn *sqlite.Conn) error) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.conn == nil {
		return errors.New("store is closed")
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	s.conn.SetInterrupt(ctx.Done())
	defer s.conn.SetInterrupt(nil)
	return fn(s.conn)
}

// prep returns the prepared statement for q, like conn.Prepare, but a cached
// statement is not cleared of its bindings: sqlite3_clear_bindings expires
// a statement whose plan depends on a bound value (SQLITE_ENABLE_STAT4), so
// conn.Prep would compile such a statement again on every use. The caller
// binds every parameter and resets the statement after use. conn is the
// store's connection or its reader; only one goroutine at a time may call
// prep (the ingest feed's goroutine runs while the writer's waits on it).
// A statement that cannot be prepared (its table is missing) is an error,
// not a panic as with conn.Prep.
func (s *Store) prep(conn *sqlite.Conn, q string) (*sqlite.Stmt, error) {
	k := stmtKey{conn, q}
	if stmt := s.stmts[k]; stmt != nil {
		return stmt, nil
	}
	stmt, err := conn.Prepare(q)
	if err != nil {
		return nil, err
	}
	if s.stmts == nil {
		s.stmts = make(map[stmtKey]*sqlite.Stmt)
	}
	s.stmts[k] = stmt
	return stmt, nil
}

type stmtKey struct {
	conn *sqlite.Conn
	q    string
}

func (s *Store) timestamp() string {
	return s.opts.Now().UTC().Format("2006-01-02T15:04:05.000000Z")
}

// leafCursor remembers a leaf's rowid, so that the next range scan of
// leaves starts there without a lookup.
type leafCursor struct {
	leaf, rowid int64
}
