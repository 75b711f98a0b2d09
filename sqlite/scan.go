package sqlite

import (
	"context"

	"chainlog"

	"zombiezen.com/go/sqlite"
	"zombiezen.com/go/sqlite/sqlitex"
)

// Store implements chainlog.ChainSource.
var _ chainlog.ChainSource = (*Store)(nil)

// Heads returns the recorded chain heads ordered by node_id, or only
// nodeID's when it is not empty.
func (s *Store) Heads(ctx context.Context, nodeID string) ([]chainlog.Head, error) {
	var heads []chainlog.Head
	err := s.withConn(ctx, func(conn *sqlite.Conn) error {
		var err error
		if s.unnumbered() {
			heads, err = readUnnumberedHeads(conn, nodeID)
			return err
		}
		heads, err = readHeads(conn, nodeID)
		return err
	})
	return heads, err
}

func readHeads(conn *sqlite.Conn, nodeID string) ([]chainlog.Head, error) {
	cols, err := columns(conn, "chain_heads")
	if err != nil || len(cols) == 0 {
		return nil, err // a store from before chains has no heads
	}
	stmt, err := conn.Prepare(`SELECT node_id, chain_hash, seq, updated_at FROM chain_heads
		WHERE ?1 = '' OR node_id = ?1 ORDER BY node_id`)
	if err != nil {
		return nil, err
	}
	defer stmt.Reset()
	stmt.BindText(1, nodeID)
	var heads []chainlog.Head
	for {
		ok, err := stmt.Step()
		if err != nil {
			return nil, err
		}
		if !ok {
			return heads, nil
		}
		heads = append(heads, chainlog.Head{
			NodeID: stmt.ColumnText(0), Hash: stmt.ColumnText(1),
			Seq: stmt.ColumnInt64(2), UpdatedAt: stmt.ColumnText(3),
		})
	}
}

// The column list shared by the scans; chain columns are NULL on a store
// whose schema predates them.
const (
	identityCols = `id, agent_type, node_id, agent_id, session_id, workspace_id, event_type, ts`
	chainCols    = `chain_seq, chain_prev_hash, chain_hash`
	noChainCols  = `NULL, NULL, NULL`
)

func (s *Store) chainColumns() string {
	if s.hasChain {
		return chainCols
	}
	if s.unnumbered() {
		return `NULL, chain_prev_hash, chain_hash` // as stored; ScanChains numbers them
	}
	return noChainCols
}

// ScanChains streams the events (of nodeID, when not empty) ordered by
// node_id, chain_seq with NULLs first, then commit order. It reads the
// identity, chain and mutable columns, the ingest payload digest and the
// latest amendment's digest.
func (s *Store) ScanChains(ctx context.Context, nodeID string, fn func(*chainlog.StoredEvent) error) error {
	return s.withConn(ctx, func(conn *sqlite.Conn) error {
		cols, order := s.chainColumns(), "node_id, rowid"
		if s.hasChain {
			order = "node_id, chain_seq, rowid"
		}
		if s.unnumbered() {
			cols, order = unnumberedChainCols, unnumberedOrder
		}
		last, err := s.lastDigestColumn(conn)
		if err != nil {
			return err
		}
		q := `SELECT ` + identityCols + `, ` + cols + `, data, cost_usd, token_count, model, ` +
			s.payloadColumn() + `, ` + last + ` FROM events
			WHERE ?1 = '' OR node_id = ?1 ORDER BY ` + order
		return scanRows(conn, q, nodeID, readChainRow, fn)
	})
}

func (s *Store) payloadColumn() string {
	if s.hasPayload {
		return "payload_digest"
	}
	return "NULL"
}

// lastDigestColumn is the expression for an event's latest amendment
// digest: a lookup in the amendments index, or NULL when the trail is empty.
func (s *Store) lastDigestColumn(conn *sqlite.Conn) (string, error) {
	if !s.hasAmendments {
		return "NULL", nil
	}
	var any bool
	err := sqlitex.ExecuteTransient(conn, "SELECT EXISTS (SELECT 1 FROM amendments)", &sqlitex.ExecOptions{
		ResultFunc: func(stmt *sqlite.Stmt) error { any = stmt.ColumnBool(0); return nil },
	})
	if err != nil || !any {
		return "NULL", err
	}
	return lastDigestExpr, nil
}

// lastDigestExpr is an event's latest amendment digest, NULL when none.
const lastDigestExpr = `(SELECT a.digest_after FROM amendments a WHERE a.event_id = events.id ORDER BY a.seq DESC LIMIT 1)`

// AmendmentHead returns the amendment trail's recorded head, or nil.
func (s *Store) AmendmentHead(ctx context.Context) (*chainlog.Head, error) {
	if !s.hasAmendments {
		return nil, nil
	}
	var head *chainlog.Head
	err := s.withConn(ctx, func(conn *sqlite.Conn) error {
		h, err := readAmendmentHead(conn)
		if err == nil && h.Seq != 0 {
			head = &h
		}
		return err
	})
	return head, err
}

// ScanAmendments streams the amendment trail in seq order, each record with
// the payload digest its event had just before it, by the store's account.
func (s *Store) ScanAmendments(ctx context.Context, fn func(*chainlog.AmendmentScan) error) error {
	return s.ScanAmendmentRange(ctx, 0, 1<<63-1, fn)
}

// scanRows runs q with nodeID bound to ?1 and calls fn for each row, decoded
// by read into one reused StoredEvent.
func scanRows(conn *sqlite.Conn, q, nodeID string, read func(*sqlite.Stmt, *chainlog.StoredEvent), fn func(*chainlog.StoredEvent) error) error {
	stmt, err := conn.Prepare(q)
	if err != nil {
		return err
	}
	defer stmt.Reset()
	stmt.BindText(1, nodeID)
	var e chainlog.StoredEvent
	for {
		ok, err := stmt.Step()
		if err != nil || !ok {
			return err
		}
		e = chainlog.StoredEvent{}
		read(stmt, &e)
		if err := fn(&e); err != nil {
			return err
		}
	}
}

func readIdentity(stmt *sqlite.Stmt, col int, e *chainlog.Event) {
	e.ID = stmt.ColumnText(col)
	e.AgentType = stmt.ColumnText(col + 1)
	e.NodeID = stmt.ColumnText(col + 2)
	e.AgentID = stmt.ColumnText(col + 3)
	e.SessionID = nullableText(stmt, col+4)
	e.WorkspaceID = nullableText(stmt, col+5)
	e.EventType = stmt.ColumnText(col + 6)
	e.TS = stmt.ColumnText(col + 7)
}

func readChain(stmt *sqlite.Stmt, col int, e *chainlog.StoredEvent) {
	e.Seq = stmt.ColumnInt64(col)
	e.PrevHash = stmt.ColumnText(col + 1)
	e.Hash = stmt.ColumnText(col + 2)
}

func nullableText(stmt *sqlite.Stmt, col int) *string {
	if stmt.ColumnType(col) == sqlite.TypeNull {
		return nil
	}
	s := stmt.ColumnText(col)
	return &s
}
