package sqlite

import (
	"context"
	"fmt"
	"slices"
	"unsafe"

	"chainlog"

	"zombiezen.com/go/sqlite"
	"zombiezen.com/go/sqlite/sqlitex"
)

// KeepsTree reports whether the store's schema keeps the Merkle tree
// (schema version 4 and later): every stamped row is then a leaf.
func (s *Store) KeepsTree() bool { return s.hasTree }

// ScanCommitOrder streams every row of the events table in commit (rowid)
// order into the caller's batches, with the columns ScanChains reads and
// the leaf index. It reads in the caller's read transaction (see Snapshot)
// or, outside one, in one statement's.
func (s *Store) ScanCommitOrder(ctx context.Context, buf []chainlog.CommitRow, fn func([]chainlog.CommitRow) ([]chainlog.CommitRow, error)) error {
	if s.hasTree && !(s.hasChain && s.hasPayload) {
		// ScanLeaves reads those columns and fails without them; the
		// exact walks report that.
		return chainlog.ErrNoCommitOrder
	}
	if s.unnumbered() {
		// A ClawMetry chain's seq is each row's place in its node's rows,
		// which ScanChains numbers: the exact walks read it.
		return chainlog.ErrNoCommitOrder
	}
	return s.withConn(ctx, func(conn *sqlite.Conn) error {
		with, last, err := s.lastDigestColumn(conn)
		if err != nil {
			return err
		}
		leaf := "NULL"
		if s.hasTree {
			leaf = "leaf_index"
		}
		stmt, err := conn.Prepare(with + `SELECT ` + identityCols + `, ` + s.chainColumns() + `, data, cost_usd, token_count, model, ` +
			s.payloadColumn() + `, ` + last + `, ` + leaf + ` FROM events NOT INDEXED ORDER BY rowid`)
		if err != nil {
			return err
		}
		defer stmt.Reset()
		for {
			n := 0
			for n < len(buf) {
				ok, err := stmt.Step()
				if err != nil {
					return err
				}
				if !ok {
					break
				}
				readCommitRow(stmt, &buf[n])
				n++
			}
			if n == 0 {
				return nil
			}
			full := n == len(buf)
			if buf, err = fn(buf[:n]); err != nil {
				return err
			}
			if !full {
				return nil
			}
		}
	})
}

// readCommitRow decodes the row ScanCommitOrder selects as readChainRow
// and ScanLeaves decode its columns. The text columns are copied into the
// row's Buf, which the row's strings and Data then point into: no
// allocation per column, and none at all once Buf has grown to fit.
func readCommitRow(stmt *sqlite.Stmt, r *chainlog.CommitRow) {
	// Every type is read before any value: reading a value as text
	// converts it, and its type with it.
	r.Fault = storageFault(stmt)
	t := textReader{stmt: stmt, buf: r.Buf[:0]}
	var has chainlog.RowHas
	id := t.text(0)
	agentType := t.text(1)
	// A column's type is read before its value: reading it as text
	// converts it.
	nodeType := stmt.ColumnType(2)
	nodeID := t.text(2)
	agentID := t.text(3)
	// A nullable text column is read first: only when it is empty can it
	// be NULL, which its type then says (reading a NULL or empty value
	// converts nothing).
	session, ok := t.nullable(4)
	if ok {
		has |= chainlog.HasSessionID
	}
	workspace, ok := t.nullable(5)
	if ok {
		has |= chainlog.HasWorkspaceID
	}
	eventType := t.text(6)
	ts := t.text(7)
	seqType := stmt.ColumnType(8)
	r.Irregular = nodeType != sqlite.TypeText || (seqType != sqlite.TypeInteger && seqType != sqlite.TypeNull)
	r.Seq = stmt.ColumnInt64(8)
	prevHash := t.hash(9)
	hash := t.hash(10)
	data, ok := t.nullable(11)
	if ok {
		has |= chainlog.HasData
	}
	r.CostUSD, r.TokenCount = 0, 0
	if stmt.ColumnType(12) != sqlite.TypeNull {
		r.CostUSD = stmt.ColumnFloat(12)
		has |= chainlog.HasCostUSD
	}
	if stmt.ColumnType(13) != sqlite.TypeNull {
		r.TokenCount = stmt.ColumnInt64(13)
		has |= chainlog.HasTokenCount
	}
	model, ok := t.nullable(14)
	if ok {
		has |= chainlog.HasModel
	}
	payloadDigest := t.hash(15)
	lastDigest := t.text(16) // NULL reads as no bytes, which is ""
	// Reading a number as an integer converts nothing either: a leaf
	// index other than 0 is not NULL.
	r.LeafIndex = stmt.ColumnInt64(17)
	if r.LeafIndex != 0 || stmt.ColumnType(17) != sqlite.TypeNull {
		has |= chainlog.HasLeaf
	}
	r.Has = has
	// Buf may have moved while it grew: the strings are taken once it
	// holds the whole row.
	r.Buf = t.buf
	r.ID, r.AgentType, r.NodeID, r.AgentID = t.str(id), t.str(agentType), t.str(nodeID), t.str(agentID)
	r.SessionID, r.WorkspaceID = t.str(session), t.str(workspace)
	r.EventType, r.TS = t.str(eventType), t.str(ts)
	r.PrevHash, r.Hash = t.str(prevHash), t.str(hash)
	r.Data = t.buf[data.off:data.end:data.end]
	r.Model = t.str(model)
	r.PayloadDigest, r.LastDigest = t.str(payloadDigest), t.str(lastDigest)
}

// span is where a column's text is in a textReader's buffer.
type span struct{ off, end int }

// textReader copies a row's text columns one after another into buf.
type textReader struct {
	stmt *sqlite.Stmt
	buf  []byte
}

// minFree is the room text leaves free in buf before a column is copied,
// so that most columns fit in one copy.
const minFree = 256

// text appends column col as text, as ColumnText reads it (a NULL is no
// bytes), and returns where it is.
func (t *textReader) text(col int) span {
	off := len(t.buf)
	if cap(t.buf)-off < minFree {
		t.buf = slices.Grow(t.buf, minFree)
	}
	free := t.buf[off:cap(t.buf)]
	n := t.stmt.ColumnBytes(col, free)
	if n == len(free) {
		// It filled the room: it may be longer.
		if full := t.stmt.ColumnLen(col); full > n {
			t.buf = slices.Grow(t.buf, full)
			n = t.stmt.ColumnBytes(col, t.buf[off:off+full])
		}
	}
	t.buf = t.buf[:off+n]
	return span{off, off + n}
}

// nullable is text for a column that may be NULL, and whether it is not.
func (t *textReader) nullable(col int) (span, bool) {
	s := t.text(col)
	return s, s.end > s.off || t.stmt.ColumnType(col) != sqlite.TypeNull
}

// str is the text at s, in buf.
func (t *textReader) str(s span) string {
	if s.end == s.off {
		return ""
	}
	return unsafe.String(&t.buf[s.off], s.end-s.off)
}

// commitColumns are the columns ScanCommitOrder selects, in order, with
// the storage classes each may hold. chainlog writes identity columns as
// TEXT, chain_seq and leaf_index as INTEGER, cost_usd as REAL and
// token_count as INTEGER; anything else was written outside chainlog. An
// id stored as a BLOB with the same bytes, or a token count of 7.9, reads
// back as another value than the one hashed, or as one that no lookup
// finds.
var commitColumns = [...]struct {
	name    string
	allowed uint8 // a bit per sqlite.ColumnType
}{
	{"id", textOnly}, {"agent_type", textOnly}, {"node_id", textOnly}, {"agent_id", textOnly},
	{"session_id", textOrNull}, {"workspace_id", textOrNull}, {"event_type", textOnly}, {"ts", textOnly},
	{"chain_seq", intOrNull}, {"chain_prev_hash", hashOrNull}, {"chain_hash", hashOrNull},
	{"data", textOrNull}, {"cost_usd", realOrNull}, {"token_count", intOrNull}, {"model", textOrNull},
	{"payload_digest", hashOrNull}, {"last amendment digest_after", textOrNull}, {"leaf_index", intOrNull},
}

const (
	textOnly   = 1 << sqlite.TypeText
	textOrNull = textOnly | 1<<sqlite.TypeNull
	intOrNull  = 1<<sqlite.TypeInteger | 1<<sqlite.TypeNull
	// cost_usd has REAL affinity, which stores a whole number as a REAL.
	realOrNull = 1<<sqlite.TypeFloat | 1<<sqlite.TypeNull
	// A hash is a 32-byte blob, or text (see hashcol.go).
	hashOrNull = textOrNull | 1<<sqlite.TypeBlob
)

// storageFault names the first column of the row stmt is on whose storage
// class its schema does not allow, or is "" when there is none.
func storageFault(stmt *sqlite.Stmt) string {
	for col, c := range commitColumns {
		t := stmt.ColumnType(col)
		if c.allowed&(1<<t) == 0 {
			return c.name + " holds " + typeName(t)
		}
		if t == sqlite.TypeBlob && c.allowed == hashOrNull {
			if n := stmt.ColumnLen(col); n != hashLen {
				return fmt.Sprintf("%s holds a blob of %d bytes, not a %d-byte hash", c.name, n, hashLen)
			}
		}
	}
	return ""
}

// typeName is a storage class as SQLite's typeof() names it.
func typeName(t sqlite.ColumnType) string {
	switch t {
	case sqlite.TypeInteger:
		return "an integer"
	case sqlite.TypeFloat:
		return "a real"
	case sqlite.TypeText:
		return "text"
	case sqlite.TypeBlob:
		return "a blob"
	}
	return "null"
}

// DuplicateID implements chainlog.Source. It groups the table's own
// ids, not the id index, which it checks: SQLite sorts them in bounded
// memory, spilling to temporary files.
func (s *Store) DuplicateID(ctx context.Context) (id string, rows int64, err error) {
	err = s.withConn(ctx, func(conn *sqlite.Conn) error {
		return sqlitex.ExecuteTransient(conn, `SELECT id, count(*) FROM events NOT INDEXED
			GROUP BY id HAVING count(*) > 1 ORDER BY id LIMIT 1`, &sqlitex.ExecOptions{
			ResultFunc: func(stmt *sqlite.Stmt) error {
				id, rows = stmt.ColumnText(0), stmt.ColumnInt64(1)
				return nil
			},
		})
	})
	return id, rows, err
}
