package sqlite

import (
	"cmp"
	"context"
	"slices"
	"time"

	"chainlog"

	"zombiezen.com/go/sqlite"
	"zombiezen.com/go/sqlite/sqlitex"
)

// The reads the console makes besides the store's contract. Each reads a
// bounded part of the store: a primary-key lookup, or the rows committed
// since a time, found by a binary search on rowid (created_at is the
// commit time, which grows with rowid), so that no page reads the whole
// events table.

// LastCursor returns the cursor of the newest row (its rowid), the upper
// bound of a chainlog.EventFilter's window; 0 for an empty store.
func (s *Store) LastCursor(ctx context.Context) (int64, error) {
	var last int64
	err := s.withConn(ctx, func(conn *sqlite.Conn) error {
		return sqlitex.Execute(conn, `SELECT max(rowid) FROM events`, &sqlitex.ExecOptions{
			ResultFunc: func(stmt *sqlite.Stmt) error { last = stmt.ColumnInt64(0); return nil },
		})
	})
	return last, err
}

// CheckpointTime returns when the checkpoint kept in the store was signed
// (its updated_at, RFC 3339), or "" when there is none.
func (s *Store) CheckpointTime(ctx context.Context) (string, error) {
	if !s.hasTree {
		return "", nil
	}
	var at string
	err := s.withConn(ctx, func(conn *sqlite.Conn) error {
		return sqlitex.Execute(conn, `SELECT updated_at FROM checkpoint_latest WHERE id = 1`, &sqlitex.ExecOptions{
			ResultFunc: func(stmt *sqlite.Stmt) error { at = stmt.ColumnText(0); return nil },
		})
	})
	return at, err
}

// Costs returns the cost, tokens and count of the events committed since
// since, grouped by the day of their ts, model and agent, ordered by day,
// then model, then agent. The store's own events (the amendment anchors)
// and pruned events are left out. It reads only the rows committed since
// then, summed as they are read (no sort).
func (s *Store) Costs(ctx context.Context, since time.Time) ([]chainlog.CostDay, error) {
	type key struct{ day, model, agent string }
	sums := map[key]*chainlog.CostDay{}
	err := s.withConn(ctx, func(conn *sqlite.Conn) error {
		from, err := firstCommittedSince(conn, since.UTC().Format("2006-01-02T15:04:05.000000Z"))
		if err != nil {
			return err
		}
		return sqlitex.Execute(conn, `SELECT substr(ts, 1, 10), model, agent_id, cost_usd, token_count
			FROM events WHERE rowid >= ?1 AND `+huskCond+` AND substr(node_id, 1, length(?2)) != ?2`, &sqlitex.ExecOptions{
			Args: []any{from, chainlog.ReservedNodePrefix},
			ResultFunc: func(stmt *sqlite.Stmt) error {
				k := key{stmt.ColumnText(0), stmt.ColumnText(1), stmt.ColumnText(2)}
				c := sums[k]
				if c == nil {
					c = &chainlog.CostDay{Day: k.day, Model: k.model, AgentID: k.agent}
					sums[k] = c
				}
				c.CostUSD += stmt.ColumnFloat(3)
				c.Tokens += stmt.ColumnInt64(4)
				c.Events++
				return nil
			},
		})
	})
	if err != nil {
		return nil, err
	}
	out := make([]chainlog.CostDay, 0, len(sums))
	for _, c := range sums {
		out = append(out, *c)
	}
	slices.SortFunc(out, func(a, b chainlog.CostDay) int {
		return cmp.Or(cmp.Compare(a.Day, b.Day), cmp.Compare(a.Model, b.Model), cmp.Compare(a.AgentID, b.AgentID))
	})
	return out, nil
}

// firstCommittedSince returns the rowid of the first row whose created_at
// is at or after at, by binary search over rowid; past the last row when
// there is none. A clock that went back makes the bound approximate, never
// a scan of the table.
func firstCommittedSince(conn *sqlite.Conn, at string) (int64, error) {
	var lo, hi int64
	err := sqlitex.Execute(conn, `SELECT coalesce(min(rowid), 1), coalesce(max(rowid), 0) FROM events`, &sqlitex.ExecOptions{
		ResultFunc: func(stmt *sqlite.Stmt) error { lo, hi = stmt.ColumnInt64(0), stmt.ColumnInt64(1)+1; return nil },
	})
	if err != nil {
		return 0, err
	}
	stmt, err := conn.Prepare(`SELECT created_at FROM events WHERE rowid >= ?1 ORDER BY rowid LIMIT 1`)
	if err != nil {
		return 0, err
	}
	for lo < hi {
		mid := lo + (hi-lo)/2
		stmt.BindInt64(1, mid)
		ok, err := stmt.Step()
		if err != nil {
			stmt.Reset()
			return 0, err
		}
		created := ""
		if ok {
			created = stmt.ColumnText(0)
		}
		if err := stmt.Reset(); err != nil {
			return 0, err
		}
		if ok && created < at {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	return lo, nil
}

// Cursor returns the cursor (rowid) of the event with id, found through the
// id index, or chainlog.ErrNotFound.
func (s *Store) Cursor(ctx context.Context, id string) (int64, error) {
	var rid int64
	var ok bool
	err := s.withConn(ctx, func(conn *sqlite.Conn) error {
		var err error
		rid, ok, err = s.rowidOf(conn, id)
		return err
	})
	if err == nil && !ok {
		err = chainlog.ErrNotFound
	}
	return rid, err
}
