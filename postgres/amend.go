package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"chainlog"

	"github.com/jackc/pgx/v5"
)

// Amend applies one change; see AmendBatch.
func (s *Store) Amend(ctx context.Context, req chainlog.AmendRequest) (chainlog.Amendment, error) {
	recs, err := s.AmendBatch(ctx, []chainlog.AmendRequest{req})
	if err != nil {
		return chainlog.Amendment{}, err
	}
	return recs[0], nil
}

// AmendBatch is the one sanctioned way to change stored events' mutable
// fields: in one transaction it locks the trail's head, updates each row,
// appends a record per request, moves the head, and stamps the anchor
// event of the new head as the tree's next leaf. Identity and chain
// columns are never written. Either every request is applied or none.
func (s *Store) AmendBatch(ctx context.Context, reqs []chainlog.AmendRequest) ([]chainlog.Amendment, error) {
	for i := range reqs {
		if err := reqs[i].Check(); err != nil {
			return nil, err
		}
	}
	var recs []chainlog.Amendment
	err := s.write(ctx, "amend", func(tx pgx.Tx) error {
		now := s.timestamp()
		head, err := lockTrail(ctx, tx)
		if err != nil {
			return err
		}
		recs = recs[:0]
		for i := range reqs {
			rec, err := amendOne(ctx, tx, &reqs[i], &head, now)
			if err != nil {
				return err
			}
			recs = append(recs, rec)
		}
		return s.closeTrail(ctx, tx, head, now)
	})
	if err != nil {
		return nil, err
	}
	return recs, nil
}

// lockTrail locks the amendment trail's head row until the transaction
// ends, and returns the head.
func lockTrail(ctx context.Context, tx pgx.Tx) (chainlog.Head, error) {
	var h chainlog.Head
	if err := tx.QueryRow(ctx, `SELECT hash, seq, updated_at FROM amendment_head WHERE id = 1 FOR UPDATE`).
		Scan(&h.Hash, &h.Seq, &h.UpdatedAt); err != nil {
		return h, fmt.Errorf("lock the amendment head: %w", err)
	}
	return h, nil
}

// closeTrail writes the trail's new head, and stamps its anchor event in
// the same transaction.
func (s *Store) closeTrail(ctx context.Context, tx pgx.Tx, head chainlog.Head, now string) error {
	if _, err := tx.Exec(ctx, `UPDATE amendment_head SET hash = $1, seq = $2, updated_at = $3 WHERE id = 1`,
		head.Hash, head.Seq, head.UpdatedAt); err != nil {
		return fmt.Errorf("move the amendment head: %w", err)
	}
	e := chainlog.AnchorEvent(head.Seq, head.Hash, now)
	res, err := s.appendTx(ctx, tx, []chainlog.Event{e}, now)
	if err != nil {
		return fmt.Errorf("anchor %q: %w", e.ID, err)
	}
	if res.Inserted != 1 {
		return fmt.Errorf("anchor %q: its id is already stored", e.ID)
	}
	return nil
}

// amendOne applies req to its event's row and inserts its record after
// head, which it moves.
func amendOne(ctx context.Context, tx pgx.Tx, req *chainlog.AmendRequest, head *chainlog.Head, now string) (chainlog.Amendment, error) {
	fail := func(err error) (chainlog.Amendment, error) {
		return chainlog.Amendment{}, fmt.Errorf("amend %q: %w", req.EventID, err)
	}
	var node, eventType string
	var cur chainlog.Mutable
	var data *string
	err := tx.QueryRow(ctx, `SELECT node_id, event_type, data, cost_usd, token_count, model FROM events WHERE id = $1 FOR UPDATE`,
		req.EventID).Scan(&node, &eventType, &data, &cur.CostUSD, &cur.TokenCount, &cur.Model)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return fail(chainlog.ErrNotFound)
	case err != nil:
		return fail(err)
	case eventType == "":
		return fail(chainlog.ErrPruned)
	}
	if err := chainlog.CheckUserNodeID(node); err != nil {
		return fail(fmt.Errorf("the store's own events cannot be amended: %w", err))
	}
	if data != nil {
		cur.Data = json.RawMessage(*data)
	}
	next, err := req.Patch.Apply(cur)
	if err != nil {
		return fail(err)
	}
	rec := chainlog.Amendment{Seq: head.Seq + 1, EventID: req.EventID, Kind: req.Kind, Fields: req.Patch.Set,
		DigestBefore: chainlog.PayloadDigest(&cur), DigestAfter: chainlog.PayloadDigest(&next),
		Reason: req.Reason, Actor: req.Actor, At: now, PrevHash: head.Prev()}
	rec.Hash = chainlog.AmendmentHash(rec.PrevHash, &rec)
	var nd any
	if next.Data != nil {
		nd = string(next.Data)
	}
	if _, err := tx.Exec(ctx, `UPDATE events SET data = $2, cost_usd = $3, token_count = $4, model = $5 WHERE id = $1`,
		req.EventID, nd, next.CostUSD, next.TokenCount, next.Model); err != nil {
		return fail(err)
	}
	if err := insertAmendment(ctx, tx, &rec); err != nil {
		return fail(err)
	}
	*head = chainlog.Head{Hash: rec.Hash, Seq: rec.Seq, UpdatedAt: now}
	return rec, nil
}

func insertAmendment(ctx context.Context, tx pgx.Tx, a *chainlog.Amendment) error {
	fields, err := json.Marshal(a.Fields)
	if err != nil {
		return err
	}
	var prune *string
	if a.Prune != nil {
		b, err := json.Marshal(a.Prune)
		if err != nil {
			return err
		}
		p := string(b)
		prune = &p
	}
	_, err = tx.Exec(ctx, `INSERT INTO amendments (seq, event_id, kind, fields, digest_before, digest_after,
		reason, actor, at, prev_hash, hash, prune) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)`,
		a.Seq, a.EventID, a.Kind, string(fields), a.DigestBefore, a.DigestAfter, a.Reason, a.Actor, a.At, a.PrevHash, a.Hash, prune)
	if err != nil {
		return fmt.Errorf("record %d: %w", a.Seq, err)
	}
	return nil
}

// PlanPrune returns, for every node (or nodeID), the run of events after
// its last prune whose ts are all before the cut (chainlog.Pruner).
func (s *Store) PlanPrune(ctx context.Context, before time.Time, nodeID string) ([]chainlog.PruneCut, error) {
	var cuts []chainlog.PruneCut
	err := s.read(ctx, func(q querier) error {
		through, err := prunedThrough(ctx, q)
		if err != nil {
			return err
		}
		rows, err := q.Query(ctx, `SELECT node_id FROM chain_heads WHERE $1 = '' OR node_id = $1 ORDER BY node_id`, nodeID)
		if err != nil {
			return err
		}
		nodes, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			return err
		}
		for _, n := range nodes {
			if strings.HasPrefix(n, chainlog.ReservedNodePrefix) {
				continue
			}
			c, err := planNode(ctx, q, n, through[n], before)
			if err != nil {
				return fmt.Errorf("node %q: %w", n, err)
			}
			if c.LastSeq >= c.FirstSeq {
				cuts = append(cuts, c)
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("plan prune: %w", err)
	}
	return cuts, nil
}

func planNode(ctx context.Context, q querier, node string, done int64, before time.Time) (chainlog.PruneCut, error) {
	c := chainlog.PruneCut{NodeID: node, FirstSeq: done + 1, LastSeq: done}
	rows, err := q.Query(ctx, `SELECT chain_seq, ts, chain_hash FROM events WHERE node_id = $1 AND chain_seq > $2 ORDER BY chain_seq`, node, done)
	if err != nil {
		return c, err
	}
	defer rows.Close()
	for rows.Next() {
		var seq int64
		var ts, hash string
		if err := rows.Scan(&seq, &ts, &hash); err != nil {
			return c, err
		}
		if seq != c.LastSeq+1 {
			return c, fmt.Errorf("seq %d follows seq %d: the chain has a gap; run verify-integrity", seq, c.LastSeq)
		}
		t, err := chainlog.ParseTS(ts)
		if err != nil || !t.Before(before) {
			break
		}
		c.LastSeq, c.Anchor = seq, hash
	}
	return c, rows.Err()
}

// prunedThrough returns each pruned node's last pruned seq.
func prunedThrough(ctx context.Context, q querier) (map[string]int64, error) {
	rows, err := q.Query(ctx, `SELECT prune FROM amendments WHERE kind = 'prune' ORDER BY seq`)
	if err != nil {
		return nil, err
	}
	texts, err := pgx.CollectRows(rows, pgx.RowTo[*string])
	if err != nil {
		return nil, err
	}
	out := map[string]int64{}
	for _, t := range texts {
		var r chainlog.PruneRange
		if t == nil || json.Unmarshal([]byte(*t), &r) != nil {
			return nil, errors.New("a prune record without a readable range; run verify-integrity")
		}
		out[r.NodeID] = max(out[r.NodeID], r.LastSeq)
	}
	return out, nil
}

// Prune makes husks of the cuts' events and appends their prune records,
// with the trail's anchor, in one transaction (chainlog.Pruner).
func (s *Store) Prune(ctx context.Context, req chainlog.PruneRequest) ([]chainlog.Amendment, error) {
	if err := req.Check(); err != nil {
		return nil, fmt.Errorf("prune: %w", err)
	}
	cuts := slices.Clone(req.Cuts)
	slices.SortFunc(cuts, func(x, y chainlog.PruneCut) int { return strings.Compare(x.NodeID, y.NodeID) })
	for i, c := range cuts {
		if i > 0 && cuts[i-1].NodeID == c.NodeID {
			return nil, fmt.Errorf("prune: node %q has two cuts", c.NodeID)
		}
		if err := chainlog.CheckUserNodeID(c.NodeID); err != nil {
			return nil, fmt.Errorf("prune: %w", err)
		}
	}
	var recs []chainlog.Amendment
	err := s.write(ctx, "prune", func(tx pgx.Tx) error {
		now := s.timestamp()
		head, err := lockTrail(ctx, tx)
		if err != nil {
			return err
		}
		through, err := prunedThrough(ctx, tx)
		if err != nil {
			return err
		}
		recs = recs[:0]
		for _, c := range cuts {
			r, err := pruneCut(ctx, tx, c, through, chainlog.FormatPruneTime(req.Before))
			if err != nil {
				return fmt.Errorf("node %q: %w", c.NodeID, err)
			}
			rec := chainlog.Amendment{Seq: head.Seq + 1, Kind: chainlog.KindPrune, Fields: []string{},
				Reason: req.Reason, Actor: req.Actor, At: now, Prune: r, PrevHash: head.Prev()}
			rec.Hash = chainlog.AmendmentHash(rec.PrevHash, &rec)
			if err := insertAmendment(ctx, tx, &rec); err != nil {
				return err
			}
			head = chainlog.Head{Hash: rec.Hash, Seq: rec.Seq, UpdatedAt: now}
			recs = append(recs, rec)
		}
		return s.closeTrail(ctx, tx, head, now)
	})
	if err != nil {
		return nil, err
	}
	return recs, nil
}

// pruneCut checks c against what the store holds (the prefix rule and the
// attested anchor) and makes husks of its events.
func pruneCut(ctx context.Context, tx pgx.Tx, c chainlog.PruneCut, through map[string]int64, before string) (*chainlog.PruneRange, error) {
	r := &chainlog.PruneRange{NodeID: c.NodeID, FirstSeq: c.FirstSeq, LastSeq: c.LastSeq,
		Count: c.LastSeq - c.FirstSeq + 1, Anchor: c.Anchor, Before: before}
	var prev *chainlog.PruneRange
	if t, ok := through[c.NodeID]; ok {
		prev = &chainlog.PruneRange{LastSeq: t}
	}
	// The node's head is locked first, as ingest locks it, so that no
	// event is appended to the chain while its anchor is read.
	heads, err := lockHeads(ctx, tx, []string{c.NodeID})
	if err != nil {
		return nil, err
	}
	var next string
	err = tx.QueryRow(ctx, `SELECT chain_prev_hash FROM events WHERE node_id = $1 AND chain_seq = $2`, c.NodeID, c.LastSeq+1).Scan(&next)
	if errors.Is(err, pgx.ErrNoRows) {
		err = nil
		if h, ok := heads[c.NodeID]; ok && h.Seq == c.LastSeq {
			next = h.Hash
		}
	}
	if err != nil {
		return nil, err
	}
	if err := chainlog.CheckPruneRange(r, prev, next); err != nil {
		return nil, err
	}
	tag, err := tx.Exec(ctx, `UPDATE events SET agent_type = '', agent_id = '', event_type = '', ts = '',
		session_id = NULL, workspace_id = NULL, data = NULL, cost_usd = NULL, token_count = NULL, model = NULL
		WHERE node_id = $1 AND chain_seq BETWEEN $2 AND $3`, c.NodeID, c.FirstSeq, c.LastSeq)
	if err != nil {
		return nil, err
	}
	if tag.RowsAffected() != r.Count {
		return nil, fmt.Errorf("seq %d-%d holds %d events, not %d: run verify-integrity", c.FirstSeq, c.LastSeq, tag.RowsAffected(), r.Count)
	}
	return r, nil
}
