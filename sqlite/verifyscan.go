package sqlite

import (
	"context"

	"chainlog"

	"zombiezen.com/go/sqlite"
)

// Store implements chainlog.CommitOrderSource.
var _ chainlog.CommitOrderSource = (*Store)(nil)

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
	return s.withConn(ctx, func(conn *sqlite.Conn) error {
		last, err := s.lastDigestColumn(conn)
		if err != nil {
			return err
		}
		leaf := "NULL"
		if s.hasTree {
			leaf = "leaf_index"
		}
		stmt, err := conn.Prepare(`SELECT ` + identityCols + `, ` + s.chainColumns() + `, data, cost_usd, token_count, model, ` +
			s.payloadColumn() + `, ` + last + `, ` + leaf + ` FROM events ORDER BY rowid`)
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
// and ScanLeaves decode its columns.
func readCommitRow(stmt *sqlite.Stmt, r *chainlog.CommitRow) {
	var has chainlog.RowHas
	r.ID = stmt.ColumnText(0)
	r.AgentType = stmt.ColumnText(1)
	// A column's type is read before its value: reading it as text
	// converts it.
	nodeType := stmt.ColumnType(2)
	r.NodeID = stmt.ColumnText(2)
	r.AgentID = stmt.ColumnText(3)
	r.SessionID, r.WorkspaceID = "", ""
	if stmt.ColumnType(4) != sqlite.TypeNull {
		r.SessionID = stmt.ColumnText(4)
		has |= chainlog.HasSessionID
	}
	if stmt.ColumnType(5) != sqlite.TypeNull {
		r.WorkspaceID = stmt.ColumnText(5)
		has |= chainlog.HasWorkspaceID
	}
	r.EventType = stmt.ColumnText(6)
	r.TS = stmt.ColumnText(7)
	seqType := stmt.ColumnType(8)
	r.Irregular = nodeType != sqlite.TypeText || (seqType != sqlite.TypeInteger && seqType != sqlite.TypeNull)
	r.Seq = stmt.ColumnInt64(8)
	r.PrevHash = stmt.ColumnText(9)
	r.Hash = stmt.ColumnText(10)
	r.Data = r.Data[:0]
	if stmt.ColumnType(11) != sqlite.TypeNull {
		r.Data = append(r.Data, stmt.ColumnText(11)...)
		has |= chainlog.HasData
	}
	r.CostUSD, r.TokenCount, r.Model = 0, 0, ""
	if stmt.ColumnType(12) != sqlite.TypeNull {
		r.CostUSD = stmt.ColumnFloat(12)
		has |= chainlog.HasCostUSD
	}
	if stmt.ColumnType(13) != sqlite.TypeNull {
		r.TokenCount = stmt.ColumnInt64(13)
		has |= chainlog.HasTokenCount
	}
	if stmt.ColumnType(14) != sqlite.TypeNull {
		r.Model = stmt.ColumnText(14)
		has |= chainlog.HasModel
	}
	r.PayloadDigest = stmt.ColumnText(15)
	r.LastDigest = ""
	if stmt.ColumnType(16) != sqlite.TypeNull {
		r.LastDigest = stmt.ColumnText(16)
	}
	r.LeafIndex = 0
	if stmt.ColumnType(17) != sqlite.TypeNull {
		r.LeafIndex = stmt.ColumnInt64(17)
		has |= chainlog.HasLeaf
	}
	r.Has = has
}
