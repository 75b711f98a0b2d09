package sqlite

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"chainlog"

	"zombiezen.com/go/sqlite"
	"zombiezen.com/go/sqlite/sqlitex"
)

// AmendRequest is one sanctioned change to a stored event's mutable
// fields: the root package's, so that every store takes the same request.
type AmendRequest = chainlog.AmendRequest

// Amend applies one change; see AmendBatch.
func (s *Store) Amend(ctx context.Context, req AmendRequest) (chainlog.Amendment, error) {
	recs, err := s.AmendBatch(ctx, []AmendRequest{req})
	if len(recs) == 0 {
		return chainlog.Amendment{}, err
	}
	return recs[0], err
}

// AmendBatch is the one sanctioned way to change stored events' mutable
// fields. In one transaction it updates each row and appends an amendment
// record holding the event id, the fields changed, the payload digests
// before and after, the reason, the actor and the time; the records extend
// the amendment chain, whose head moves by compare-and-swap. Identity and
// chain columns are never written. Either every request is applied or none.
//
// After a redaction is committed, the WAL is truncated, so that the removed
// text no longer sits in its older frames (see truncateWAL). When it cannot
// be, the records are returned with an error that wraps
// ErrWALNotTruncated: the change is committed, and must not be made again.
func (s *Store) AmendBatch(ctx context.Context, reqs []AmendRequest) ([]chainlog.Amendment, error) {
	if s.readOnly {
		return nil, fmt.Errorf("amend: %w", chainlog.ErrReadOnly)
	}
	for i := range reqs {
		if err := reqs[i].Check(); err != nil {
			return nil, err
		}
	}
	var recs []chainlog.Amendment
	err := s.withConn(ctx, func(conn *sqlite.Conn) error {
		if err := s.files.check(); err != nil {
			return err
		}
		var a appended
		err := func() (err error) {
			end, err := sqlitex.ImmediateTransaction(conn)
			if err != nil {
				return err
			}
			defer end(&err)
			recs, a, err = s.amendTx(conn, reqs)
			return err
		}()
		if err == nil {
			s.amendCommitted(recs, a)
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	if slices.ContainsFunc(reqs, func(r AmendRequest) bool { return r.Kind == chainlog.KindRedact }) {
		if err := s.truncateWAL(ctx); err != nil {
			s.opts.Logger.Error("redaction committed, but the removed text remains in the WAL", "amendment", recs[len(recs)-1].Seq, "err", err)
			return recs, fmt.Errorf("redaction committed (amendment #%d), but %w", recs[len(recs)-1].Seq, err)
		}
	}
	return recs, nil
}

// ErrWALNotTruncated is wrapped by the error AmendBatch returns when a
// redaction was committed but the WAL could not be checkpointed and
// truncated: the removed text may then remain on disk, in the WAL's older
// frames or in the database file's page that the checkpoint would have
// overwritten.
var ErrWALNotTruncated = errors.New("the WAL could not be checkpointed and truncated, so the removed text may remain on disk")

// defaultWALTruncateWait is the default of Options.WALTruncateWait.
const defaultWALTruncateWait = 10 * time.Second

// truncateWAL checkpoints the WAL into the database file and truncates it,
// so that the redacted text no longer sits in older WAL frames. With
// secure_delete on, the database file's freed space is already zeroed.
//
// A connection reading an older snapshot (another process's verify or
// export, a daemon's reader) keeps the frames it reads: SQLite then
// reports the checkpoint busy. It is retried, with a backoff from 10 ms to
// 500 ms, until Options.WALTruncateWait has passed; the store's lock is
// released between attempts. The error names the -wal file when it still
// was not truncated.
func (s *Store) truncateWAL(ctx context.Context) error {
	wait := s.opts.WALTruncateWait
	if wait <= 0 {
		wait = defaultWALTruncateWait
	}
	deadline := time.Now().Add(wait)
	backoff := 10 * time.Millisecond
	for attempt := 1; ; attempt++ {
		busy, err := s.checkpointTruncate(ctx)
		if err != nil {
			return fmt.Errorf("%w (in %[2]s or %[2]s-wal): the checkpoint failed: %w", ErrWALNotTruncated, s.path, err)
		}
		if !busy {
			return nil
		}
		if time.Now().Add(backoff).After(deadline) {
			return fmt.Errorf("%w (in %[2]s or %[2]s-wal): another connection kept a read snapshot through the %v retry window (%d attempts); it stays there until a checkpoint truncates the WAL, at the latest when the last process that has the store open closes it",
				ErrWALNotTruncated, s.path, wait, attempt)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (in %[2]s or %[2]s-wal): %w", ErrWALNotTruncated, s.path, ctx.Err())
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 500*time.Millisecond)
	}
}

// checkpointTruncate runs one TRUNCATE checkpoint and reports whether it
// was blocked (SQLite's busy column, or a busy or locked error) before the
// WAL was emptied.
func (s *Store) checkpointTruncate(ctx context.Context) (busy bool, err error) {
	err = s.withConn(ctx, func(conn *sqlite.Conn) error {
		// No waiting inside SQLite: truncateWAL retries, without
		// holding the store.
		conn.SetBusyTimeout(0)
		defer conn.SetBusyTimeout(10 * time.Second)
		return sqlitex.ExecuteTransient(conn, "PRAGMA wal_checkpoint(TRUNCATE)", &sqlitex.ExecOptions{
			ResultFunc: func(stmt *sqlite.Stmt) error {
				busy = stmt.ColumnInt(0) != 0
				return nil
			}})
	})
	switch sqlite.ErrCode(err).ToPrimary() {
	case sqlite.ResultBusy, sqlite.ResultLocked:
		return true, nil
	}
	return busy, err
}

// amendTx applies reqs inside the caller's transaction, and anchors the
// trail's new head in the tree: it appends the anchor event
// (chainlog.AnchorEvent) through appendTx, the path that writes every
// event, so that the anchor is chained and a leaf in the same commit as
// the records. After the commit the caller passes what it returns to
// amendCommitted.
func (s *Store) amendTx(conn *sqlite.Conn, reqs []AmendRequest) ([]chainlog.Amendment, appended, error) {
	var a appended
	if err := s.recheckSchema(conn); err != nil {
		return nil, a, fmt.Errorf("amend: %w", err)
	}
	head, err := readAmendmentHead(conn)
	if err != nil {
		return nil, a, err
	}
	if h := s.amendHead; behind(h.Seq, h.Hash, head.Seq, head.Hash) {
		return nil, a, fmt.Errorf("amend: %w: the amendment head moved back from seq %d (%s) to seq %d (%s)",
			ErrTampered, h.Seq, orNone(h.Hash), head.Seq, orNone(head.Hash))
	}
	s.amendHead = head
	old := head
	now := s.timestamp()
	recs := make([]chainlog.Amendment, 0, len(reqs))
	for i := range reqs {
		rec, err := s.amendOne(conn, &reqs[i], &head, now)
		if err != nil {
			return nil, a, err
		}
		recs = append(recs, rec)
	}
	if err := casAmendmentHead(conn, old, head); err != nil {
		return nil, a, err
	}
	if len(recs) == 0 || s.opts.DisableIntegrity {
		// Nothing to anchor; or no chain to anchor it in (a store
		// written with integrity off has no tree either).
		return recs, a, nil
	}
	a, err = s.anchorTx(conn, head, now)
	return recs, a, err
}

// anchorTx appends the anchor event of the trail head inside the amend
// transaction. Other processes may have moved the chain heads or the tree
// since this writer last wrote: the heads are read again first (the write
// lock is held, so they are the last commit's).
func (s *Store) anchorTx(conn *sqlite.Conn, head chainlog.Head, now string) (appended, error) {
	if err := s.reloadHeads(conn); err != nil {
		return appended{}, fmt.Errorf("amend: anchor: %w", err)
	}
	e := chainlog.AnchorEvent(head.Seq, head.Hash, now)
	a, err := s.appendTx(conn, [][]chainlog.Event{{e}}, nil, now)
	if err != nil {
		return a, fmt.Errorf("amend: anchor %q: %w", e.ID, err)
	}
	if a.res[0].Inserted != 1 {
		return a, fmt.Errorf("amend: anchor %q: %w: its id is already stored", e.ID, ErrTampered)
	}
	return a, nil
}

// amendCommitted moves the in-memory amendment head, chain heads and tree
// head after an amend transaction committed.
func (s *Store) amendCommitted(recs []chainlog.Amendment, a appended) {
	if len(recs) == 0 {
		return
	}
	last := recs[len(recs)-1]
	s.amendHead = chainlog.Head{Hash: last.Hash, Seq: last.Seq, UpdatedAt: last.At}
	if a.res != nil {
		s.committed(a)
	}
}

// amendOne updates one event and appends its record after head, which it
// advances.
func (s *Store) amendOne(conn *sqlite.Conn, req *AmendRequest, head *chainlog.Head, now string) (chainlog.Amendment, error) {
	rid, ok, err := s.rowidOf(conn, req.EventID)
	if err == nil && !ok {
		err = chainlog.ErrNotFound
	}
	if err != nil {
		return chainlog.Amendment{}, fmt.Errorf("amend %q: %w", req.EventID, err)
	}
	cur, before, err := readMutable(conn, rid)
	if err != nil {
		return chainlog.Amendment{}, fmt.Errorf("amend %q: %w", req.EventID, err)
	}
	if err := checkAmendable(conn, rid); err != nil {
		return chainlog.Amendment{}, fmt.Errorf("amend %q: %w", req.EventID, err)
	}
	next, err := req.Patch.Apply(cur)
	if err != nil {
		return chainlog.Amendment{}, fmt.Errorf("amend %q: %w", req.EventID, err)
	}
	rec := chainlog.Amendment{
		Seq: head.Seq + 1, EventID: req.EventID, Kind: req.Kind, Fields: req.Patch.Set,
		DigestBefore: before, DigestAfter: chainlog.PayloadDigest(&next),
		Reason: req.Reason, Actor: req.Actor, At: now, PrevHash: head.Prev(),
	}
	rec.Hash = chainlog.AmendmentHash(rec.PrevHash, &rec)
	if err := writeMutable(conn, rid, &next); err != nil {
		return rec, fmt.Errorf("amend %q: %w", req.EventID, err)
	}
	if err := insertAmendment(conn, &rec); err != nil {
		return rec, fmt.Errorf("amend %q: record: %w", req.EventID, err)
	}
	*head = chainlog.Head{Hash: rec.Hash, Seq: rec.Seq, UpdatedAt: now}
	return rec, nil
}

// readMutable returns the mutable fields of the event at rowid and their
// current digest.
func readMutable(conn *sqlite.Conn, rowid int64) (chainlog.Mutable, string, error) {
	stmt := conn.Prep(`SELECT data, cost_usd, token_count, model FROM events WHERE rowid = ?1`)
	defer stmt.Reset()
	stmt.BindInt64(1, rowid)
	ok, err := stmt.Step()
	if err != nil {
		return chainlog.Mutable{}, "", err
	}
	if !ok {
		return chainlog.Mutable{}, "", chainlog.ErrNotFound
	}
	var m chainlog.Mutable
	readMutableCols(stmt, 0, &m)
	return m, chainlog.PayloadDigest(&m), nil
}

// checkAmendable refuses to amend the store's own events (the trail's
// anchors): their data repeats what their identity commits to.
func checkAmendable(conn *sqlite.Conn, rowid int64) error {
	stmt := conn.Prep(`SELECT node_id, event_type, chain_seq FROM events WHERE rowid = ?1`)
	defer stmt.Reset()
	stmt.BindInt64(1, rowid)
	if ok, err := stmt.Step(); err != nil || !ok {
		return cmp.Or(err, chainlog.ErrNotFound)
	}
	if stmt.ColumnText(1) == "" && stmt.ColumnInt64(2) > 0 {
		return chainlog.ErrPruned
	}
	if err := chainlog.CheckUserNodeID(stmt.ColumnText(0)); err != nil {
		return fmt.Errorf("the store's own events cannot be amended: %w", err)
	}
	return nil
}

func readMutableCols(stmt *sqlite.Stmt, col int, m *chainlog.Mutable) {
	if stmt.ColumnType(col) != sqlite.TypeNull {
		m.Data = json.RawMessage(stmt.ColumnText(col))
	}
	if stmt.ColumnType(col+1) != sqlite.TypeNull {
		v := stmt.ColumnFloat(col + 1)
		m.CostUSD = &v
	}
	if stmt.ColumnType(col+2) != sqlite.TypeNull {
		v := stmt.ColumnInt64(col + 2)
		m.TokenCount = &v
	}
	m.Model = nullableText(stmt, col+3)
}

func writeMutable(conn *sqlite.Conn, rowid int64, m *chainlog.Mutable) error {
	stmt := conn.Prep(`UPDATE events SET data = ?2, cost_usd = ?3, token_count = ?4, model = ?5 WHERE rowid = ?1`)
	defer stmt.Reset()
	stmt.BindInt64(1, rowid)
	bindMutable(stmt, 2, m)
	if _, err := stmt.Step(); err != nil {
		return err
	}
	return oneRowChanged(conn, "events")
}

// bindMutable binds m's four fields to parameters col..col+3.
func bindMutable(stmt *sqlite.Stmt, col int, m *chainlog.Mutable) {
	if m.Data == nil {
		stmt.BindNull(col)
	} else {
		stmt.BindText(col, string(m.Data))
	}
	if m.CostUSD == nil {
		stmt.BindNull(col + 1)
	} else {
		stmt.BindFloat(col+1, *m.CostUSD)
	}
	if m.TokenCount == nil {
		stmt.BindNull(col + 2)
	} else {
		stmt.BindInt64(col+2, *m.TokenCount)
	}
	bindNullableText(stmt, col+3, m.Model)
}

func insertAmendment(conn *sqlite.Conn, a *chainlog.Amendment) error {
	fields, err := json.Marshal(a.Fields)
	if err != nil {
		return err
	}
	stmt := conn.Prep(`INSERT INTO amendments (seq, event_id, kind, fields, digest_before, digest_after,
		reason, actor, at, prev_hash, hash) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)`)
	defer stmt.Reset()
	stmt.BindInt64(1, a.Seq)
	for i, v := range []string{a.EventID, a.Kind, string(fields), a.DigestBefore, a.DigestAfter, a.Reason, a.Actor, a.At, a.PrevHash, a.Hash} {
		stmt.BindText(i+2, v)
	}
	if _, err := stmt.Step(); err != nil {
		if sqlite.ErrCode(err).ToPrimary() == sqlite.ResultConstraint {
			return fmt.Errorf("%w: %v", chainlog.ErrConflict, err)
		}
		return err
	}
	return oneRowChanged(conn, "amendments")
}

// readAmendmentHead returns the trail's head; the zero Head is genesis.
func readAmendmentHead(conn *sqlite.Conn) (chainlog.Head, error) {
	var h chainlog.Head
	err := sqlitex.Execute(conn, `SELECT hash, seq, updated_at FROM amendment_head WHERE id = 1`, &sqlitex.ExecOptions{
		ResultFunc: func(stmt *sqlite.Stmt) error {
			h = chainlog.Head{Hash: stmt.ColumnText(0), Seq: stmt.ColumnInt64(1), UpdatedAt: stmt.ColumnText(2)}
			return nil
		},
	})
	return h, err
}

// casAmendmentHead moves the amendment head from old to next.
func casAmendmentHead(conn *sqlite.Conn, old, next chainlog.Head) error {
	if next.Seq == old.Seq {
		return nil
	}
	var was []any
	if old.Seq != 0 {
		was = []any{old.Hash, old.Seq}
	}
	return casRow(conn, "amendment head",
		`INSERT INTO amendment_head (id, hash, seq, updated_at) VALUES (1, ?1, ?2, ?3)
			ON CONFLICT (id) DO NOTHING`,
		`UPDATE amendment_head SET hash = ?1, seq = ?2, updated_at = ?3
			WHERE id = 1 AND hash = ?4 AND seq = ?5`,
		[]any{next.Hash, next.Seq, next.UpdatedAt}, was)
}

// Amendments returns an event's amendment trail, oldest first.
func (s *Store) Amendments(ctx context.Context, eventID string) ([]chainlog.Amendment, error) {
	var recs []chainlog.Amendment
	if !s.hasAmendments {
		return recs, nil
	}
	err := s.withConn(ctx, func(conn *sqlite.Conn) error {
		return sqlitex.Execute(conn, `SELECT `+amendmentCols+` FROM amendments NOT INDEXED WHERE event_id = ?1 ORDER BY seq`,
			&sqlitex.ExecOptions{
				Args: []any{eventID},
				ResultFunc: func(stmt *sqlite.Stmt) error {
					var a chainlog.Amendment
					readAmendment(stmt, &a)
					recs = append(recs, a)
					return nil
				},
			})
	})
	return recs, err
}

const amendmentCols = `seq, event_id, kind, fields, digest_before, digest_after, reason, actor, at, prev_hash, hash`

func readAmendment(stmt *sqlite.Stmt, a *chainlog.Amendment) {
	a.Seq = stmt.ColumnInt64(0)
	a.EventID = stmt.ColumnText(1)
	a.Kind = stmt.ColumnText(2)
	a.Fields = nil
	// A record whose fields column was edited into invalid JSON still
	// verifies as tampered: its hash covers the list it should hold. The
	// marker keeps the raw text from reading as a genuine one-field list
	// (a column edited from ["model"] to model).
	if err := json.Unmarshal([]byte(stmt.ColumnText(3)), &a.Fields); err != nil {
		a.Fields = []string{"invalid JSON: " + stmt.ColumnText(3)}
	}
	a.DigestBefore = stmt.ColumnText(4)
	a.DigestAfter = stmt.ColumnText(5)
	a.Reason = stmt.ColumnText(6)
	a.Actor = stmt.ColumnText(7)
	a.At = stmt.ColumnText(8)
	a.PrevHash = stmt.ColumnText(9)
	a.Hash = stmt.ColumnText(10)
}
