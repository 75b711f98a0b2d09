package sqlite

import (
	"context"
	"errors"
	"fmt"

	"chainlog/pricing"

	"zombiezen.com/go/sqlite"
	"zombiezen.com/go/sqlite/sqlitex"
)

// BackfillResult counts what BackfillCosts did.
type BackfillResult struct {
	Costed       int `json:"costed"`        // events that got a cost_usd
	TokensFilled int `json:"tokens_filled"` // events that also got a token_count
	NoUsage      int `json:"no_usage"`      // events without cost and without usage in their payload
	UnknownModel int `json:"unknown_model"` // events with usage whose model is not in the price table
}

// backfillChunk is how many rows one backfill transaction reads and updates.
const backfillChunk = 1000

// BackfillCosts sets cost_usd, and token_count where it is NULL, on every
// event that has no cost but whose payload reports token usage of a model in
// the price table. It writes only those two mutable columns, never an
// identity or chain column, so every chain stays valid.
func (s *Store) BackfillCosts(ctx context.Context, prices *pricing.Table) (BackfillResult, error) {
	var res BackfillResult
	if s.readOnly {
		return res, errors.New("backfill costs: store is open read-only")
	}
	err := s.withConn(ctx, func(conn *sqlite.Conn) error {
		for after := int64(0); ; {
			last, n, err := backfillChunkTx(conn, prices, after, &res)
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

type costUpdate struct {
	rowid  int64
	cost   float64
	tokens int64
	fill   bool // token_count was NULL
}

// backfillChunkTx handles up to backfillChunk rows after rowid `after` in one
// transaction and returns the last rowid read and how many rows were read.
func backfillChunkTx(conn *sqlite.Conn, prices *pricing.Table, after int64, res *BackfillResult) (last int64, n int, err error) {
	end, err := sqlitex.ImmediateTransaction(conn)
	if err != nil {
		return 0, 0, err
	}
	defer end(&err)
	var updates []costUpdate
	err = sqlitex.Execute(conn, `SELECT rowid, data, model, token_count IS NULL FROM events
		WHERE cost_usd IS NULL AND rowid > ? ORDER BY rowid LIMIT ?`, &sqlitex.ExecOptions{
		Args: []any{after, backfillChunk},
		ResultFunc: func(stmt *sqlite.Stmt) error {
			last, n = stmt.ColumnInt64(0), n+1
			if u, ok := priceRow(prices, stmt, res); ok {
				updates = append(updates, u)
			}
			return nil
		},
	})
	if err != nil {
		return 0, 0, err
	}
	for _, u := range updates {
		if err := applyCost(conn, u); err != nil {
			return 0, 0, err
		}
	}
	return last, n, nil
}

func priceRow(prices *pricing.Table, stmt *sqlite.Stmt, res *BackfillResult) (costUpdate, bool) {
	usage, payloadModel, ok := pricing.UsageFromPayload([]byte(stmt.ColumnText(1)))
	if !ok {
		res.NoUsage++
		return costUpdate{}, false
	}
	model := stmt.ColumnText(2)
	if model == "" {
		model = payloadModel
	}
	price, ok := prices.Lookup(model)
	if !ok {
		res.UnknownModel++
		return costUpdate{}, false
	}
	u := costUpdate{rowid: stmt.ColumnInt64(0), cost: price.Cost(usage), tokens: usage.Total(), fill: stmt.ColumnBool(3)}
	res.Costed++
	if u.fill {
		res.TokensFilled++
	}
	return u, true
}

func applyCost(conn *sqlite.Conn, u costUpdate) error {
	stmt := conn.Prep(`UPDATE events SET cost_usd = ?1,
		token_count = CASE WHEN ?3 THEN ?2 ELSE token_count END WHERE rowid = ?4`)
	defer stmt.Reset()
	stmt.BindFloat(1, u.cost)
	stmt.BindInt64(2, u.tokens)
	stmt.BindBool(3, u.fill)
	stmt.BindInt64(4, u.rowid)
	_, err := stmt.Step()
	return err
}
