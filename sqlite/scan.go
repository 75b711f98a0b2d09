package sqlite

import (
	"context"

	"chainlog"

	"zombiezen.com/go/sqlite"
	"zombiezen.com/go/sqlite/sqlitex"
)

// Store is a chainlog.Store, and so a chainlog.Source, and a
// chainlog.RangeSource.
var (
	_ chainlog.Store       = (*Store)(nil)
	_ chainlog.RangeSource = (*Store)(nil)
)

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
	return queryHeads(conn, `SELECT node_id, chain_hash, seq, updated_at FROM chain_heads
		WHERE ?1 = '' OR node_id = ?1 ORDER BY node_id`, nodeID)
}

// queryHeads runs q, which selects node_id, chain_hash, seq and updated_at,
// with nodeID bound to ?1, and returns the heads in its order.
func queryHeads(conn *sqlite.Conn, q, nodeID string) ([]chainlog.Head, error) {
	stmt, err := conn.Prepare(q)
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
			NodeID: stmt.ColumnText(0), Hash: hashText(stmt, 1),
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
		with, last, err := s.lastDigestColumn(conn)
		if err != nil {
			return err
		}
		q := with + `SELECT ` + identityCols + `, ` + cols + `, data, cost_usd, token_count, model, ` +
			s.payloadColumn() + `, ` + last + ` FROM events NOT INDEXED
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
// digest, with the WITH clause the statement must start with: a lookup in
// a table of every amended event's last digest, or NULL when the trail is
// empty.
func (s *Store) lastDigestColumn(conn *sqlite.Conn) (with, col string, err error) {
	if !s.hasAmendments {
		return "", "NULL", nil
	}
	var any bool
	err = sqlitex.ExecuteTransient(conn, "SELECT EXISTS (SELECT 1 FROM amendments NOT INDEXED)", &sqlitex.ExecOptions{
		ResultFunc: func(stmt *sqlite.Stmt) error { any = stmt.ColumnBool(0); return nil },
	})
	if err != nil || !any {
		return "", "NULL", err
	}
	return lastDigestWith, lastDigestFromTable, nil
}

// lastDigestWith builds, once per statement, each amended event's latest
// digest from a scan of the trail itself. The verifier must not take it
// from the amendments index: an index rebuilt to leave an event's records
// out (a partial index whose CREATE text was put back) would make the
// event look never amended, and a redacted payload could be put back.
// SQLite sorts the trail into a temporary table and indexes it, in bounded
// memory.
const lastDigestWith = `WITH last_digest AS MATERIALIZED (
	SELECT event_id, digest_after, max(seq) FROM amendments NOT INDEXED GROUP BY event_id) `

// lastDigestFromTable is an event's latest amendment digest, read from
// last_digest; NULL when none.
const lastDigestFromTable = `(SELECT l.digest_after FROM last_digest l WHERE l.event_id = events.id)`

// lastDigestExpr is an event's latest amendment digest, NULL when none,
// looked up in the amendments index: for the daemon's short range scans,
// whose rows the full verification also checks without the index.
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
//
// It reads in one statement (call it in a snapshot) and takes each record's
// predecessor from a scan of the trail, not from the amendments index,
// which an attacker could rebuild to leave records out (see
// lastDigestWith); the daemon's range scans use the index.
func (s *Store) ScanAmendments(ctx context.Context, fn func(*chainlog.AmendmentScan) error) error {
	if !s.hasAmendments {
		return nil
	}
	ingest := "NULL"
	if s.hasPayload {
		ingest = "e.payload_digest"
	}
	cols, join := s.pruneCols()
	q := `WITH trail AS MATERIALIZED (SELECT seq, event_id, digest_after FROM amendments NOT INDEXED)
		SELECT a.seq, a.event_id, a.kind, a.fields, a.digest_before, a.digest_after, a.reason, a.actor,
		a.at, a.prev_hash, a.hash,
		COALESCE((SELECT p.digest_after FROM trail p WHERE p.event_id = a.event_id AND p.seq < a.seq
			ORDER BY p.seq DESC LIMIT 1), ` + ingest + `, ''),
		e.id IS NOT NULL, ` + cols + `
		FROM amendments a NOT INDEXED LEFT JOIN events e ON e.id = a.event_id` + join + `
		ORDER BY a.seq`
	return s.withConn(ctx, func(conn *sqlite.Conn) error {
		var a chainlog.AmendmentScan
		return sqlitex.Execute(conn, q, &sqlitex.ExecOptions{ResultFunc: func(stmt *sqlite.Stmt) error {
			a = chainlog.AmendmentScan{}
			readAmendment(stmt, &a.Amendment)
			a.ExpectedBefore = hashText(stmt, 11)
			a.EventExists = stmt.ColumnBool(12)
			readPruneCols(stmt, 13, &a.Amendment)
			return fn(&a)
		}})
	})
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
	e.PrevHash = hashText(stmt, col+1)
	e.Hash = hashText(stmt, col+2)
}

func nullableText(stmt *sqlite.Stmt, col int) *string {
	if stmt.ColumnType(col) == sqlite.TypeNull {
		return nil
	}
	s := stmt.ColumnText(col)
	return &s
}
