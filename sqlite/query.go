package sqlite

import (
	"context"
	"strconv"

	"chainlog"

	"zombiezen.com/go/sqlite"
)

// Events returns one page of events matching q in commit order, and the
// cursor of the next page (0 when this is the last page).
func (s *Store) Events(ctx context.Context, q chainlog.EventFilter) ([]chainlog.StoredEvent, int64, error) {
	limit := q.Limit
	if limit <= 0 || limit > chainlog.MaxQueryLimit {
		limit = chainlog.MaxQueryLimit
	}
	var where []string
	var args []string
	for _, f := range []struct{ col, val string }{
		{"node_id = ", q.NodeID}, {"session_id = ", q.SessionID}, {"agent_id = ", q.AgentID},
		{"event_type = ", q.EventType}, {"ts >= ", q.Since}, {"ts < ", q.Until},
	} {
		if f.val != "" {
			args = append(args, f.val)
			// In a window, the rowid range is the one index to use: the
			// node's index would read and sort every row of the node.
			col := f.col
			if q.Upto > 0 {
				col = "+" + col
			}
			where = append(where, col+"?"+strconv.Itoa(len(args)+2))
		}
	}
	sqlq := `SELECT ` + s.storedColumns() + `, rowid FROM events WHERE rowid > ?1 AND ` + huskCond
	if q.Upto > 0 {
		args = append(args, strconv.FormatInt(q.Upto, 10))
		where = append(where, "rowid <= CAST(?"+strconv.Itoa(len(args)+2)+" AS INTEGER)")
	}
	for _, w := range where {
		sqlq += " AND " + w
	}
	sqlq += ` ORDER BY rowid LIMIT ?2`
	var out []chainlog.StoredEvent
	var last, size int64
	more := false
	err := s.withConn(ctx, func(conn *sqlite.Conn) error {
		stmt, err := conn.Prepare(sqlq)
		if err != nil {
			return err
		}
		defer stmt.Reset()
		stmt.BindInt64(1, q.After)
		stmt.BindInt64(2, int64(limit)+1)
		for i, a := range args {
			stmt.BindText(i+3, a)
		}
		for {
			ok, err := stmt.Step()
			if err != nil || !ok {
				return err
			}
			if len(out) == limit || (q.MaxBytes > 0 && size >= q.MaxBytes) { // one more exists: there is a next page
				more = true
				return nil
			}
			var e chainlog.StoredEvent
			readStored(stmt, &e)
			last = stmt.ColumnInt64(18)
			out = append(out, e)
			size += storedSize(&e)
		}
	})
	if err != nil {
		return nil, 0, err
	}
	if !more {
		last = 0
	}
	return out, last, nil
}

// storedSize is about the bytes e holds: its data and text columns.
func storedSize(e *chainlog.StoredEvent) int64 {
	n := len(e.Data) + len(e.ID) + len(e.AgentType) + len(e.NodeID) + len(e.AgentID) + len(e.EventType) +
		len(e.TS) + len(e.CreatedAt) + len(e.PrevHash) + len(e.Hash) + len(e.PayloadDigest) + len(e.LastDigest)
	for _, s := range []*string{e.SessionID, e.WorkspaceID, e.Model} {
		if s != nil {
			n += len(*s)
		}
	}
	return int64(n)
}
