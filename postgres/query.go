package postgres

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"chainlog"
	"chainlog/pricing"

	"github.com/jackc/pgx/v5"
)

// IngestGroups commits several batches in one transaction, as the daemon's
// writer merges its queued requests, and counts each batch on its own: the
// events are stamped as appendTx stamps them, the cursors written under the
// heads' locks, and the counter row locked last.
func (s *Store) IngestGroups(ctx context.Context, groups [][]chainlog.Event, cursors ...chainlog.Cursor) ([]chainlog.IngestResult, error) {
	var all []chainlog.Event
	for _, g := range groups {
		all = append(all, g...)
	}
	for i := range all {
		if err := chainlog.CheckUserNodeID(all[i].NodeID); err != nil {
			return nil, fmt.Errorf("ingest: event %q: %w", all[i].ID, err)
		}
	}
	for i := range cursors {
		if err := cursors[i].Validate(); err != nil {
			return nil, fmt.Errorf("ingest: %w", err)
		}
	}
	res := make([]chainlog.IngestResult, len(groups))
	err := s.write(ctx, "ingest", func(tx pgx.Tx) error {
		now := s.timestamp()
		fresh, err := newEvents(ctx, tx, all)
		if err != nil {
			return err
		}
		// Count each group: an event is new when newEvents kept it.
		kept := make(map[*chainlog.Event]bool, len(fresh))
		for _, e := range fresh {
			kept[e] = true
		}
		i := 0
		for g := range groups {
			res[g] = chainlog.IngestResult{}
			for range groups[g] {
				if kept[&all[i]] {
					res[g].Inserted++
				} else {
					res[g].Duplicates++
				}
				i++
			}
		}
		rows, err := stampRows(ctx, tx, fresh, now)
		if err != nil {
			return err
		}
		if err := writeCursors(ctx, tx, cursors, now); err != nil {
			return err
		}
		if len(rows) == 0 {
			return nil
		}
		return appendTree(ctx, tx, rows, now)
	})
	if err != nil {
		return nil, err
	}
	return res, nil
}

// Events returns one page of events matching q in commit order, and the
// cursor of the next page (0 when this is the last). The cursor is the
// last event's leaf index plus one.
func (s *Store) Events(ctx context.Context, q chainlog.EventFilter) ([]chainlog.StoredEvent, int64, error) {
	limit := q.Limit
	if limit <= 0 || limit > chainlog.MaxQueryLimit {
		limit = chainlog.MaxQueryLimit
	}
	args := []any{q.After, limit + 1}
	var where strings.Builder
	for _, f := range []struct{ col, val string }{
		{"e.node_id = ", q.NodeID}, {"e.session_id = ", q.SessionID}, {"e.agent_id = ", q.AgentID},
		{"e.event_type = ", q.EventType}, {"e.ts >= ", q.Since}, {"e.ts < ", q.Until},
	} {
		if f.val != "" {
			args = append(args, f.val)
			where.WriteString(" AND " + f.col + "$" + strconv.Itoa(len(args)))
		}
	}
	var out []chainlog.StoredEvent
	var next, size int64
	err := s.read(ctx, func(qr querier) error {
		return scanStored(ctx, qr, `SELECT `+storedCols+lastDigestCol+` FROM events e `+lastDigestLookup+`
			WHERE e.leaf_index >= $1 AND e.event_type <> ''`+where.String()+` ORDER BY e.leaf_index LIMIT $2`, args, nil,
			func(e *chainlog.StoredEvent) error {
				if len(out) == limit || (q.MaxBytes > 0 && size >= q.MaxBytes) {
					next = *out[len(out)-1].LeafIndex + 1
					return errPageFull
				}
				out = append(out, *e)
				size += int64(len(e.Data) + len(e.ID) + len(e.TS) + len(e.EventType) + len(e.NodeID) + len(e.AgentID))
				return nil
			})
	})
	if err != nil && err != errPageFull {
		return nil, 0, fmt.Errorf("events: %w", err)
	}
	return out, next, nil
}

var errPageFull = fmt.Errorf("page full")

// ChainEvents streams nodeID's events with fromSeq <= seq <= toSeq in seq
// order, with their leaf indexes; the event passed to fn is reused.
func (s *Store) ChainEvents(ctx context.Context, nodeID string, fromSeq, toSeq int64, fn func(*chainlog.StoredEvent) error) error {
	return s.ScanChainRange(ctx, nodeID, fromSeq-1, toSeq, fn)
}

// BackfillCosts prices every event that has no cost but whose payload
// reports token usage of a model in prices, through the amendment trail,
// a chunk of events per transaction (see chainlog.BackfillResult).
func (s *Store) BackfillCosts(ctx context.Context, prices *pricing.Table) (chainlog.BackfillResult, error) {
	var res chainlog.BackfillResult
	reason := fmt.Sprintf("cost backfill from the model price table as of %s (%s)", prices.AsOf, prices.Source)
	for after := int64(-1); ; {
		var reqs []chainlog.AmendRequest
		n := 0
		err := s.read(ctx, func(q querier) error {
			rows, err := q.Query(ctx, `SELECT leaf_index, id, data, coalesce(model, ''), token_count IS NULL FROM events
				WHERE cost_usd IS NULL AND leaf_index > $1 AND event_type <> '' AND NOT starts_with(node_id, $3)
				ORDER BY leaf_index LIMIT $2`, after, backfillChunk, chainlog.ReservedNodePrefix)
			if err != nil {
				return err
			}
			defer rows.Close()
			for rows.Next() {
				var id, model string
				var data *string
				var noTokens bool
				if err := rows.Scan(&after, &id, &data, &model, &noTokens); err != nil {
					return err
				}
				n++
				var d []byte
				if data != nil {
					d = []byte(*data)
				}
				if p, ok := chainlog.BackfillPatch(prices, d, model, noTokens, &res); ok {
					reqs = append(reqs, chainlog.AmendRequest{EventID: id, Patch: p, Kind: chainlog.KindAmend,
						Reason: reason, Actor: chainlog.BackfillActor})
				}
			}
			return rows.Err()
		})
		if err == nil && len(reqs) > 0 {
			_, err = s.AmendBatch(ctx, reqs)
		}
		if err != nil {
			return res, fmt.Errorf("backfill costs: %w", err)
		}
		if n < backfillChunk {
			return res, nil
		}
	}
}

// backfillChunk is how many events one backfill transaction reads.
const backfillChunk = 1000
