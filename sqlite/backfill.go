package sqlite

import (
	"context"
	"fmt"

	"chainlog"
	"chainlog/pricing"

	"zombiezen.com/go/sqlite"
	"zombiezen.com/go/sqlite/sqlitex"
)

// BackfillResult counts what BackfillCosts did (chainlog.BackfillResult).
type BackfillResult = chainlog.BackfillResult

// backfillChunk is how many rows one backfill transaction reads and updates.
const backfillChunk = 1000

// BackfillActor is the actor recorded on the amendments BackfillCosts makes.
const BackfillActor = chainlog.BackfillActor

// BackfillCosts sets cost_usd, and token_count where it is NULL, on every
// event that has no cost but whose payload reports token usage of a model in
// the price table. Every change goes through the amendment trail (one record
// per event, whose reason names the price table), and only those two
// mutable columns are written, so every chain stays valid.
func (s *Store) BackfillCosts(ctx context.Context, prices *pricing.Table) (BackfillResult, error) {
	var res BackfillResult
	if s.readOnly {
		return res, fmt.Errorf("backfill costs: %w", chainlog.ErrReadOnly)
	}
	reason := fmt.Sprintf("cost backfill from the model price table as of %s (%s)", prices.AsOf, prices.Source)
	err := s.withConn(ctx, func(conn *sqlite.Conn) error {
		for after := int64(0); ; {
			last, n, err := s.backfillChunkTx(conn, prices, reason, after, &res)
			if err != nil || n < backfillChunk {
				return err
			}
			after = last
		}
	})
	if err != nil {
		return res, fmt.Errorf("backfill costs: %w", err)
	}
	return res, nil
}

// backfillChunkTx handles up to backfillChunk rows after rowid `after` in one
// transaction (anchored like any amendment) and returns the last rowid read
// and how many rows were read. The store's own events (the anchors) are
// not read.
func (s *Store) backfillChunkTx(conn *sqlite.Conn, prices *pricing.Table, reason string, after int64, res *BackfillResult) (last int64, n int, err error) {
	var recs []chainlog.Amendment
	var a appended
	defer func() {
		if err == nil {
			s.amendCommitted(recs, a)
		}
	}()
	end, err := sqlitex.ImmediateTransaction(conn)
	if err != nil {
		return 0, 0, err
	}
	defer end(&err)
	var reqs []AmendRequest
	err = sqlitex.Execute(conn, `SELECT rowid, id, data, model, token_count IS NULL FROM events
		WHERE cost_usd IS NULL AND rowid > ?1 AND `+huskCond+` AND substr(node_id, 1, length(?3)) != ?3 ORDER BY rowid LIMIT ?2`, &sqlitex.ExecOptions{
		Args: []any{after, backfillChunk, chainlog.ReservedNodePrefix},
		ResultFunc: func(stmt *sqlite.Stmt) error {
			last, n = stmt.ColumnInt64(0), n+1
			if p, ok := priceRow(prices, stmt, res); ok {
				reqs = append(reqs, AmendRequest{EventID: stmt.ColumnText(1), Patch: p,
					Kind: chainlog.KindAmend, Reason: reason, Actor: BackfillActor})
			}
			return nil
		},
	})
	if err != nil {
		return 0, 0, err
	}
	if recs, a, err = s.amendTx(conn, reqs); err != nil {
		return 0, 0, err
	}
	return last, n, nil
}

// priceRow prices one row (rowid, id, data, model, token_count IS NULL)
// and returns the patch that records its cost (chainlog.BackfillPatch).
func priceRow(prices *pricing.Table, stmt *sqlite.Stmt, res *BackfillResult) (chainlog.Patch, bool) {
	return chainlog.BackfillPatch(prices, []byte(stmt.ColumnText(2)), stmt.ColumnText(3), stmt.ColumnBool(4), res)
}
