package sqlite

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"chainlog"

	"zombiezen.com/go/sqlite"
	"zombiezen.com/go/sqlite/sqlitex"
)

// forksVersion is the schema version that adds the forks table.
const forksVersion = 8

// The store is a collector.
var _ chainlog.Replicator = (*Store)(nil)

// Replicate commits one node's forwarded, stamped events after the
// collector's head for that node, by the rule chainlog.Replicate, in one
// immediate write transaction: the events are appended through the
// store's one write path (appendTx), and the in-memory heads move only
// after the commit. Fork evidence is committed with the *ForkError that
// reports it; any other error rolls the transaction back. When another
// process moved a head meanwhile, the heads are read again and the whole
// rule runs again. It implements chainlog.Replicator.
func (s *Store) Replicate(ctx context.Context, events []chainlog.StoredEvent) (chainlog.ReplicateResult, error) {
	if s.readOnly {
		return chainlog.ReplicateResult{}, fmt.Errorf("replicate: %w", chainlog.ErrReadOnly)
	}
	if s.opts.DisableIntegrity {
		return chainlog.ReplicateResult{}, errors.New("replicate: a collector stamps its nodes' chains, and this store was opened with integrity off")
	}
	var res chainlog.ReplicateResult
	err := s.writeAppending(ctx, keepForkEvidence, func(conn *sqlite.Conn) (appended, error) {
		tx := &replicaTx{s: s, conn: conn, now: s.timestamp()}
		var err error
		res, err = chainlog.Replicate(ctx, tx, events)
		return tx.a, err
	})
	if err != nil {
		var fe *chainlog.ForkError
		if errors.As(err, &fe) {
			return res, err // committed: the evidence is kept
		}
		return res, fmt.Errorf("replicate: %w", err)
	}
	return res, nil
}

// keepForkEvidence reports whether err, returned by chainlog.Replicate,
// is fork evidence, which is committed.
func keepForkEvidence(err error) bool {
	var fe *chainlog.ForkError
	return errors.As(err, &fe)
}

// replicaTx is one Replicate transaction as chainlog.Replicate drives it
// (chainlog.ReplicaTx), on the writer's connection inside the immediate
// transaction writeAppending began.
type replicaTx struct {
	s    *Store
	conn *sqlite.Conn
	now  string   // the transaction's timestamp
	a    appended // what Append wrote; res is nil until it runs
}

// LockHead reads node's head from chain_heads: the immediate transaction
// already excludes every other writer. The in-memory heads, which appendTx
// stamps after and compares-and-swaps from, are read again when they do
// not agree with it.
func (t *replicaTx) LockHead(ctx context.Context, node string) (chainlog.Head, error) {
	heads, err := queryHeads(t.conn, `SELECT node_id, chain_hash, seq, updated_at FROM chain_heads WHERE node_id = ?1`, node)
	if err != nil {
		return chainlog.Head{}, err
	}
	h := chainlog.Head{NodeID: node}
	if len(heads) > 0 {
		h = heads[0]
	}
	if c := t.s.heads[node]; c.Seq != h.Seq || c.Hash != h.Hash {
		if err := t.s.reloadHeads(t.conn); err != nil {
			return chainlog.Head{}, err
		}
	}
	return h, nil
}

// UnresolvedForks counts node's forks that no operator resolved.
func (t *replicaTx) UnresolvedForks(ctx context.Context, node string) (int, error) {
	var n int
	err := sqlitex.Execute(t.conn, `SELECT count(*) FROM forks WHERE node_id = ?1 AND resolved_at IS NULL`, &sqlitex.ExecOptions{
		Args:       []any{node},
		ResultFunc: func(stmt *sqlite.Stmt) error { n = stmt.ColumnInt(0); return nil },
	})
	return n, err
}

// StoredRows returns node's rows with from <= chain_seq <= to, with every
// column, as ChainEvents reads them (pruned rows' husks left out).
func (t *replicaTx) StoredRows(ctx context.Context, node string, from, to int64) (map[int64]*chainlog.StoredEvent, error) {
	rows := make(map[int64]*chainlog.StoredEvent)
	err := t.s.chainEvents(t.conn, node, from, to, func(e *chainlog.StoredEvent) error {
		c := *e
		rows[c.Seq] = &c
		return nil
	})
	return rows, err
}

// Append stamps events after the locked head through appendTx, the
// store's one write path; the in-memory state takes what it wrote after
// the commit.
func (t *replicaTx) Append(ctx context.Context, events []chainlog.Event) (chainlog.IngestResult, chainlog.Head, error) {
	if t.a.res != nil {
		// appendTx stamps after the committed heads, which a second
		// append in the transaction would not follow.
		return chainlog.IngestResult{}, chainlog.Head{}, errors.New("replicate: a second append in one transaction")
	}
	if len(events) == 0 {
		return chainlog.IngestResult{}, chainlog.Head{}, errors.New("replicate: nothing to append")
	}
	node := events[0].NodeID
	for i := range events {
		if err := chainlog.CheckUserNodeID(events[i].NodeID); err != nil {
			return chainlog.IngestResult{}, chainlog.Head{}, fmt.Errorf("event %q: %w", events[i].ID, err)
		}
	}
	a, err := t.s.appendTx(t.conn, [][]chainlog.Event{events}, nil, t.now)
	if err != nil {
		return chainlog.IngestResult{}, chainlog.Head{}, err
	}
	t.a = a
	head, ok := a.moved[node]
	if !ok {
		head = t.s.heads[node]
	}
	head.NodeID = node
	return a.res[0], head, nil
}

// AddFork inserts f into forks and sets its ID and DetectedAt.
func (t *replicaTx) AddFork(ctx context.Context, f *chainlog.Fork) error {
	err := sqlitex.Execute(t.conn, `INSERT INTO forks (node_id, seq, stored_id, event_id, expected, found, detail,
		stored_row, arrived_row, detected_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)`, &sqlitex.ExecOptions{
		Args: []any{f.NodeID, f.Seq, f.StoredID, f.EventID, f.Expected, f.Found, f.Detail, f.StoredRow, f.ArrivedRow, t.now},
	})
	if err != nil {
		return err
	}
	if err := oneRowChanged(t.conn, "forks"); err != nil {
		return err
	}
	f.ID = t.conn.LastInsertRowID()
	f.DetectedAt = t.now
	return nil
}

// Forks returns the fork evidence recorded for nodeID (every node's when
// empty), by id. A store whose schema predates forks (read-only, not
// migrated) has none; so has a read-only store whose forks table is
// missing, which its store check reports.
func (s *Store) Forks(ctx context.Context, nodeID string) ([]chainlog.Fork, error) {
	var out []chainlog.Fork
	err := s.withConn(ctx, func(conn *sqlite.Conn) error {
		if s.readOnly {
			v, err := userVersion(conn)
			if err != nil {
				return err
			}
			if v < forksVersion {
				return nil
			}
			cols, err := columns(conn, "forks")
			if err != nil || len(cols) == 0 {
				return err
			}
		}
		return sqlitex.Execute(conn, `SELECT id, node_id, seq, stored_id, event_id, expected, found, detail,
			stored_row, arrived_row, detected_at, resolved_at, resolved_by, resolution
			FROM forks WHERE ?1 = '' OR node_id = ?1 ORDER BY id`, &sqlitex.ExecOptions{
			Args: []any{nodeID},
			ResultFunc: func(stmt *sqlite.Stmt) error {
				out = append(out, chainlog.Fork{ID: stmt.ColumnInt64(0), NodeID: stmt.ColumnText(1), Seq: stmt.ColumnInt64(2),
					StoredID: stmt.ColumnText(3), EventID: stmt.ColumnText(4), Expected: stmt.ColumnText(5), Found: stmt.ColumnText(6),
					Detail: stmt.ColumnText(7), StoredRow: stmt.ColumnText(8), ArrivedRow: stmt.ColumnText(9),
					DetectedAt: stmt.ColumnText(10), ResolvedAt: stmt.ColumnText(11), ResolvedBy: stmt.ColumnText(12),
					Resolution: stmt.ColumnText(13)})
				return nil
			},
		})
	})
	if err != nil {
		return nil, fmt.Errorf("forks: %w", err)
	}
	return out, nil
}

// ResolveForks marks nodeID's unresolved forks resolved by actor, now, for
// reason, in one write transaction, which lifts the node's quarantine, and
// returns how many it marked. The forks stay recorded.
func (s *Store) ResolveForks(ctx context.Context, nodeID, actor, reason string) (int, error) {
	if s.readOnly {
		return 0, fmt.Errorf("resolve forks: %w", chainlog.ErrReadOnly)
	}
	for _, f := range []struct{ name, v string }{{"node", nodeID}, {"actor", actor}, {"reason", reason}} {
		if strings.TrimSpace(f.v) == "" {
			return 0, fmt.Errorf("resolve forks: the %s is empty", f.name)
		}
	}
	var n int
	err := s.withConn(ctx, func(conn *sqlite.Conn) error {
		if err := s.files.check(); err != nil {
			return err
		}
		return func() (err error) {
			end, err := sqlitex.ImmediateTransaction(conn)
			if err != nil {
				return err
			}
			defer end(&err)
			if err := s.recheckSchema(conn); err != nil {
				return err
			}
			err = sqlitex.Execute(conn, `UPDATE forks SET resolved_at = ?2, resolved_by = ?3, resolution = ?4
				WHERE node_id = ?1 AND resolved_at IS NULL`, &sqlitex.ExecOptions{
				Args: []any{nodeID, s.timestamp(), actor, reason},
			})
			n = conn.Changes()
			return err
		}()
	})
	if err != nil {
		return 0, fmt.Errorf("resolve forks of %q: %w", nodeID, err)
	}
	return n, nil
}
