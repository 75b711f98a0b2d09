package postgres

import (
	"context"
	"errors"
	"fmt"

	"chainlog"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// Replicate commits one node's forwarded events as a collector, by the
// rule chainlog.Replicate, in one transaction: the node's head is locked
// first, and the appended events take the tree's counter row last, as
// Ingest's do. Fork evidence is committed, and returned as a
// *chainlog.ForkError.
func (s *Store) Replicate(ctx context.Context, events []chainlog.StoredEvent) (chainlog.ReplicateResult, error) {
	var res chainlog.ReplicateResult
	var forked error
	err := s.write(ctx, "replicate", func(tx pgx.Tx) error {
		forked = nil
		var err error
		res, err = chainlog.Replicate(ctx, &replicaTx{s: s, tx: tx, now: s.timestamp()}, events)
		var fe *chainlog.ForkError
		if errors.As(err, &fe) {
			forked = err // commit the evidence
			return nil
		}
		return err
	})
	if err == nil {
		err = forked
	}
	return res, err
}

// replicaTx is chainlog.ReplicaTx on one write transaction.
type replicaTx struct {
	s   *Store
	tx  pgx.Tx
	now string
}

func (r *replicaTx) LockHead(ctx context.Context, node string) (chainlog.Head, error) {
	heads, err := lockHeads(ctx, r.tx, []string{node})
	if err != nil {
		return chainlog.Head{}, err
	}
	return heads[node], nil
}

func (r *replicaTx) UnresolvedForks(ctx context.Context, node string) (int, error) {
	var n int
	err := r.tx.QueryRow(ctx, `SELECT count(*) FROM forks WHERE node_id = $1 AND resolved_at IS NULL`, node).Scan(&n)
	return n, err
}

func (r *replicaTx) StoredRows(ctx context.Context, node string, from, to int64) (map[int64]*chainlog.StoredEvent, error) {
	out := map[int64]*chainlog.StoredEvent{}
	err := scanStored(ctx, r.tx, `SELECT `+storedCols+noLastDigest+` FROM events e
		WHERE e.node_id = $1 AND e.chain_seq BETWEEN $2 AND $3`, []any{node, from, to}, nil, func(e *chainlog.StoredEvent) error {
		c := *e
		out[e.Seq] = &c
		return nil
	})
	return out, err
}

func (r *replicaTx) Append(ctx context.Context, events []chainlog.Event) (chainlog.IngestResult, chainlog.Head, error) {
	res, err := r.s.appendTx(ctx, r.tx, events, r.now)
	if err != nil {
		return res, chainlog.Head{}, err
	}
	var h chainlog.Head
	err = r.tx.QueryRow(ctx, `SELECT node_id, chain_hash, seq, updated_at FROM chain_heads WHERE node_id = $1`,
		events[0].NodeID).Scan(&h.NodeID, &h.Hash, &h.Seq, &h.UpdatedAt)
	if err != nil {
		return res, h, fmt.Errorf("read the moved head: %w", err)
	}
	return res, h, nil
}

func (r *replicaTx) AddFork(ctx context.Context, f *chainlog.Fork) error {
	f.DetectedAt = r.now
	// The forks table is only appended to by collectors holding the
	// node's head lock; ids are assigned under a lock on the table so
	// that they follow detection order.
	if _, err := r.tx.Exec(ctx, `LOCK TABLE forks IN SHARE ROW EXCLUSIVE MODE`); err != nil {
		return err
	}
	return r.tx.QueryRow(ctx, `INSERT INTO forks (id, node_id, seq, stored_id, event_id, expected, found, detail,
		stored_row, arrived_row, detected_at)
		SELECT coalesce(max(id), 0) + 1, $1, $2, $3, $4, $5, $6, $7, $8, $9, $10 FROM forks RETURNING id`,
		f.NodeID, f.Seq, f.StoredID, f.EventID, f.Expected, f.Found, f.Detail, f.StoredRow, f.ArrivedRow, f.DetectedAt).Scan(&f.ID)
}

// Forks returns the fork evidence (of nodeID, when not empty), by id.
func (s *Store) Forks(ctx context.Context, nodeID string) ([]chainlog.Fork, error) {
	var out []chainlog.Fork
	err := s.read(ctx, func(q querier) error {
		rows, err := q.Query(ctx, `SELECT id, node_id, seq, stored_id, event_id, expected, found, detail, stored_row,
			arrived_row, detected_at, coalesce(resolved_at, ''), coalesce(resolved_by, ''), coalesce(resolution, '')
			FROM forks WHERE $1 = '' OR node_id = $1 ORDER BY id`, nodeID)
		if err != nil {
			return err
		}
		out, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (chainlog.Fork, error) {
			var f chainlog.Fork
			err := r.Scan(&f.ID, &f.NodeID, &f.Seq, &f.StoredID, &f.EventID, &f.Expected, &f.Found, &f.Detail,
				&f.StoredRow, &f.ArrivedRow, &f.DetectedAt, &f.ResolvedAt, &f.ResolvedBy, &f.Resolution)
			return f, err
		})
		return err
	})
	var pe *pgconn.PgError
	if errors.As(err, &pe) && pe.Code == codeUndefinedTable && s.readOnly {
		return nil, nil // a store from before forks, read without migrating
	}
	if err != nil {
		return nil, fmt.Errorf("forks: %w", err)
	}
	return out, nil
}

const codeUndefinedTable = "42P01"

// ResolveForks records an operator's resolution of nodeID's unresolved
// forks, which lifts the node's quarantine, and returns how many it
// resolved.
func (s *Store) ResolveForks(ctx context.Context, nodeID, actor, reason string) (int, error) {
	switch {
	case nodeID == "":
		return 0, errors.New("resolve forks: node_id is empty")
	case actor == "":
		return 0, errors.New("resolve forks: actor is empty: say who resolves it")
	case reason == "":
		return 0, errors.New("resolve forks: reason is empty: say why")
	}
	var n int
	err := s.write(ctx, "resolve forks", func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE forks SET resolved_at = $2, resolved_by = $3, resolution = $4
			WHERE node_id = $1 AND resolved_at IS NULL`, nodeID, s.timestamp(), actor, reason)
		n = int(tag.RowsAffected())
		return err
	})
	return n, err
}

var _ chainlog.Replicator = (*Store)(nil)
