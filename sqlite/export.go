package sqlite

import (
	"context"
	"fmt"

	"chainlog"

	"zombiezen.com/go/sqlite"
)

// Export streams every stored event (of nodeID, when not empty) with all its
// columns, in commit order; pruned events' husks are left out. The *StoredEvent passed to fn is reused between
// calls.
func (s *Store) Export(ctx context.Context, nodeID string, fn func(*chainlog.StoredEvent) error) error {
	q := `SELECT ` + s.storedColumns() + ` FROM events WHERE (?1 = '' OR node_id = ?1) AND ` + huskCond + ` ORDER BY rowid`
	return s.withConn(ctx, func(conn *sqlite.Conn) error {
		return scanRows(conn, q, nodeID, readStored, fn)
	})
}

// storedColumns is the select list readStored decodes: every column of
// the events table (NULL for those an older schema lacks), 18 in all.
func (s *Store) storedColumns() string {
	leaf := "NULL"
	if s.hasTree {
		leaf = "leaf_index"
	}
	return identityCols + `, data, cost_usd, token_count, model, created_at, ` + s.chainColumns() + `, ` +
		s.payloadColumn() + `, ` + leaf
}

func readStored(stmt *sqlite.Stmt, e *chainlog.StoredEvent) {
	readIdentity(stmt, 0, &e.Event)
	var m chainlog.Mutable
	readMutableCols(stmt, 8, &m)
	e.SetMutable(m)
	e.CreatedAt = stmt.ColumnText(12)
	readChain(stmt, 13, e)
	e.PayloadDigest = hashText(stmt, 16)
	e.LeafIndex = nil
	if stmt.ColumnType(17) != sqlite.TypeNull {
		v := stmt.ColumnInt64(17)
		e.LeafIndex = &v
	}
}

// Event returns the stored event with id, or chainlog.ErrNotFound.
func (s *Store) Event(ctx context.Context, id string) (*chainlog.StoredEvent, error) {
	q := `SELECT ` + s.storedColumns() + ` FROM events WHERE rowid = ?1`
	var found *chainlog.StoredEvent
	err := s.withConn(ctx, func(conn *sqlite.Conn) error {
		rid, ok, err := s.rowidOf(conn, id)
		if err != nil || !ok {
			return err
		}
		stmt := conn.Prep(q)
		defer stmt.Reset()
		stmt.BindInt64(1, rid)
		if ok, err = stmt.Step(); err != nil || !ok {
			return err
		}
		found = new(chainlog.StoredEvent)
		readStored(stmt, found)
		return nil
	})
	if err != nil {
		return nil, err
	}
	if found == nil {
		return nil, chainlog.ErrNotFound
	}
	if found.Husk() {
		return nil, fmt.Errorf("event %q: %w", id, chainlog.ErrPruned)
	}
	return found, nil
}

// ChainEvents streams nodeID's stamped events with fromSeq <= chain_seq <=
// toSeq, with every column, in chain_seq order; pruned events' husks are
// left out. The *StoredEvent passed to
// fn is reused between calls.
func (s *Store) ChainEvents(ctx context.Context, nodeID string, fromSeq, toSeq int64, fn func(*chainlog.StoredEvent) error) error {
	if !s.hasChain {
		return nil
	}
	return s.withConn(ctx, func(conn *sqlite.Conn) error {
		return s.chainEvents(conn, nodeID, fromSeq, toSeq, fn)
	})
}

// chainEvents is ChainEvents on conn, which the caller holds: a collector's
// Replicate reads the rows it compares with it, inside its transaction.
func (s *Store) chainEvents(conn *sqlite.Conn, nodeID string, fromSeq, toSeq int64, fn func(*chainlog.StoredEvent) error) error {
	q := `SELECT ` + s.storedColumns() + ` FROM events WHERE node_id = ?1 AND chain_seq >= ?2 AND chain_seq <= ?3
		AND ` + huskCond + ` ORDER BY chain_seq, rowid`
	stmt, err := conn.Prepare(q)
	if err != nil {
		return err
	}
	defer stmt.Reset()
	stmt.BindText(1, nodeID)
	stmt.BindInt64(2, fromSeq)
	stmt.BindInt64(3, toSeq)
	var e chainlog.StoredEvent
	for {
		ok, err := stmt.Step()
		if err != nil || !ok {
			return err
		}
		readStored(stmt, &e)
		if err := fn(&e); err != nil {
			return err
		}
	}
}
