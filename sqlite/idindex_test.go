package sqlite_test

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"chainlog"
	"chainlog/sqlite"
)

// Tests of the id index in two tiers: event_ids (a hash of each id and its
// rowid, for rowids up to event_ids_upto.upto) and the tail after it, which
// the writer keeps in memory and merges into event_ids every
// Options.IDTailMergeAt rows, which the tests lower.

// idKeyOf is an id's key in event_ids, computed here independently of the
// store: the first 8 bytes of SHA-256(id), big-endian, as a signed integer.
func idKeyOf(id string) int64 {
	sum := sha256.Sum256([]byte(id))
	return int64(binary.BigEndian.Uint64(sum[:8]))
}

func rawInt(t *testing.T, path, q string, args ...any) int64 {
	t.Helper()
	n, err := strconv.ParseInt(rawValue(t, path, q, args...), 10, 64)
	if err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return n
}

func idUpto(t *testing.T, path string) int64 {
	t.Helper()
	return rawInt(t, path, `SELECT upto FROM event_ids_upto WHERE id = 1`)
}

func eventCount(t *testing.T, path string) int64 {
	t.Helper()
	return rawInt(t, path, `SELECT count(*) FROM events`)
}

// tierOf returns where the id index holds id: "merged" (in event_ids),
// "tail" (after event_ids_upto) or "missing".
func tierOf(t *testing.T, path, id string) string {
	t.Helper()
	rows := rawQuery(t, path, `SELECT rowid FROM events WHERE id = ?`, id)
	switch {
	case len(rows) == 0:
		return "missing"
	case len(rows) > 1:
		t.Fatalf("id %s is stored %d times", id, len(rows))
	}
	rid, err := strconv.ParseInt(rows[0][0], 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	if rid <= idUpto(t, path) {
		return "merged"
	}
	return "tail"
}

// wantIDIndex checks the id index of the store at path against its events
// table: no id is stored twice, and event_ids holds exactly one row for
// each events row with rowid <= upto, with the id's key and the row's
// rowid, and nothing else. It returns upto.
func wantIDIndex(t *testing.T, path string) int64 {
	t.Helper()
	if dups := rawQuery(t, path, `SELECT id, count(*) FROM events GROUP BY id HAVING count(*) > 1`); len(dups) > 0 {
		t.Errorf("ids stored more than once (id, count): %v", dups)
	}
	upto := idUpto(t, path)
	if last := rawInt(t, path, `SELECT coalesce(max(rowid), 0) FROM events`); upto > last {
		t.Errorf("event_ids_upto = %d, beyond the last rowid %d", upto, last)
	}
	var want [][]string
	for _, r := range rawQuery(t, path, `SELECT rowid, id FROM events WHERE rowid <= ? ORDER BY rowid`, upto) {
		want = append(want, []string{fmt.Sprint(idKeyOf(r[1])), r[0]})
	}
	got := rawQuery(t, path, `SELECT h, rid FROM event_ids ORDER BY rid, h`)
	if !reflect.DeepEqual(got, want) {
		t.Errorf("event_ids (h, rid) ordered by rid:\n got  %v\n want %v", got, want)
	}
	return upto
}

// wantShortTail checks that fewer than mergeAt rows are after upto: the
// writer that last ingested merged the tail when it reached mergeAt.
func wantShortTail(t *testing.T, path string, mergeAt int) {
	t.Helper()
	if n := rawInt(t, path, `SELECT count(*) FROM events WHERE rowid > (SELECT upto FROM event_ids_upto)`); n >= int64(mergeAt) {
		t.Errorf("%d rows in the tail after an ingest; want fewer than %d (a merge failed or did not run)", n, mergeAt)
	}
}

// mergeWarnings counts the warnings that a merge of the tail failed.
type mergeWarnings struct {
	mu   sync.Mutex
	msgs []string
}

func (h *mergeWarnings) Enabled(_ context.Context, l slog.Level) bool { return l >= slog.LevelWarn }
func (h *mergeWarnings) Handle(_ context.Context, r slog.Record) error {
	if strings.Contains(r.Message, "merging") {
		h.mu.Lock()
		defer h.mu.Unlock()
		h.msgs = append(h.msgs, r.Message)
	}
	return nil
}
func (h *mergeWarnings) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *mergeWarnings) WithGroup(string) slog.Handler      { return h }

func (h *mergeWarnings) check(t *testing.T) {
	t.Helper()
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.msgs) > 0 {
		t.Errorf("merges of the tail failed %d times: %q", len(h.msgs), h.msgs[0])
	}
}

// TestIngestDuplicateInEachTier re-delivers ids whose first copy is in the
// same batch, in the writer's tail, in event_ids, or was written by another
// Store on the same file, before and after that writer merged its tail.
// Each step checks where the first copies are before it runs, so that the
// test keeps exercising the tier it names.
func TestIngestDuplicateInEachTier(t *testing.T) { forKeyModes(t, testIngestDuplicateInEachTier) }

func testIngestDuplicateInEachTier(t *testing.T, opts sqlite.Options) {
	const mergeAt = 6
	opts.IDTailMergeAt = mergeAt
	path := newStorePath(t)
	warn := &mergeWarnings{}
	opts.Now, opts.Logger = testClock(), slog.New(warn)
	a, b := openStore(t, path, opts), openStore(t, path, opts)

	// a/0..a/13 through a in batches of 3, 3, 3, 3, 2: a merges after the
	// 6th and the 12th row, leaving a/12 and a/13 in the tail. The steps
	// below keep the tail under 6 rows until b's merge.
	evs := mkEvents(t, "a", 0, 14)
	for i := 0; i < len(evs); i += 3 {
		ingest(t, a, evs[i:min(i+3, len(evs))]...)
		wantShortTail(t, path, mergeAt)
	}
	if got := idUpto(t, path); got != 12 {
		t.Fatalf("event_ids_upto = %d after 14 rows merged every %d; want 12", got, mergeAt)
	}

	changed := func(e chainlog.Event) chainlog.Event {
		e.EventType = "changed"
		e.Data = []byte(`{"redelivered":true}`)
		return e
	}
	n0, n1 := mkEvent(t, "n", 0), mkEvent(t, "n", 1)
	steps := []struct {
		name   string
		via    *sqlite.Store
		events []chainlog.Event
		tiers  map[string]string // where each earlier copy must be before the step
		want   chainlog.IngestResult
	}{
		{"same batch", a, []chainlog.Event{n0, n0, n1, changed(n0), n1},
			map[string]string{n0.ID: "missing", n1.ID: "missing"}, chainlog.IngestResult{Inserted: 2, Duplicates: 3}},
		{"writer's tail", a, []chainlog.Event{evs[12], changed(evs[13]), n0},
			map[string]string{evs[12].ID: "tail", evs[13].ID: "tail", n0.ID: "tail"}, chainlog.IngestResult{Duplicates: 3}},
		{"event_ids", a, []chainlog.Event{evs[0], changed(evs[5]), evs[11]},
			map[string]string{evs[0].ID: "merged", evs[5].ID: "merged", evs[11].ID: "merged"}, chainlog.IngestResult{Duplicates: 3}},
		// b has written nothing yet: its first sync reads the tail.
		{"other writer's tail, read by a fresh writer", b, []chainlog.Event{evs[13], n1, mkEvent(t, "b", 0)},
			map[string]string{evs[13].ID: "tail", n1.ID: "tail"}, chainlog.IngestResult{Inserted: 1, Duplicates: 2}},
		// a's copy of the tail lacks b/0.
		{"other writer's tail", a, []chainlog.Event{changed(mkEvent(t, "b", 0))},
			map[string]string{"b/0": "tail"}, chainlog.IngestResult{Duplicates: 1}},
		{"event_ids, through the other writer", b, []chainlog.Event{evs[1], evs[10]},
			map[string]string{evs[1].ID: "merged", evs[10].ID: "merged"}, chainlog.IngestResult{Duplicates: 2}},
		// b's batch brings the tail to 6 rows: b merges it, and a's copy of
		// the tail is stale.
		{"new rows through b, which merges", b, []chainlog.Event{mkEvent(t, "b", 1)},
			map[string]string{"b/1": "missing"}, chainlog.IngestResult{Inserted: 1}},
		{"merged by the other writer", a, []chainlog.Event{evs[12], evs[13], n0, n1, mkEvent(t, "b", 0), mkEvent(t, "b", 1)},
			map[string]string{evs[12].ID: "merged", evs[13].ID: "merged", n0.ID: "merged", "b/0": "merged", "b/1": "merged"},
			chainlog.IngestResult{Duplicates: 6}},
		// a goes on writing and merging after b's merge.
		{"new rows through a after b's merge", a, mkEvents(t, "a", 14, 20), nil, chainlog.IngestResult{Inserted: 6}},
		{"a's merge, through b", b, append(mkEvents(t, "a", 14, 20), mkEvents(t, "b", 2, 4)...),
			map[string]string{"a/14": "merged", "a/19": "merged"}, chainlog.IngestResult{Inserted: 2, Duplicates: 6}},
		{"b's tail, through a", a, append(mkEvents(t, "b", 2, 4), evs[3]),
			map[string]string{"b/2": "tail", "b/3": "tail", evs[3].ID: "merged"}, chainlog.IngestResult{Duplicates: 3}},
	}
	for _, s := range steps {
		for id, want := range s.tiers {
			if got := tierOf(t, path, id); got != want {
				t.Fatalf("%s: before the step, %s is %s; want %s", s.name, id, got, want)
			}
		}
		before := eventCount(t, path)
		res := ingest(t, s.via, s.events...)
		if res != s.want {
			t.Errorf("%s: ingest result = %+v; want %+v", s.name, res, s.want)
		}
		if got := eventCount(t, path); got != before+int64(s.want.Inserted) {
			t.Errorf("%s: %d rows after the step; want %d", s.name, got, before+int64(s.want.Inserted))
		}
		wantShortTail(t, path, mergeAt)
		wantIDIndex(t, path)
	}
	warn.check(t)
	closeStore(t, a)
	closeStore(t, b)
	wantIDIndex(t, path)
	wantValid(t, verifyPath(t, path, ""), eventCount(t, path), 0)
}

// TestIDIndexAfterManyMerges ingests batches of many sizes, duplicates
// among them, with a merge every 3 rows, and checks after each batch that
// event_ids_upto is where the model says the last merge stopped and that
// event_ids holds exactly the rows up to it.
func TestIDIndexAfterManyMerges(t *testing.T) { forKeyModes(t, testIDIndexAfterManyMerges) }

func testIDIndexAfterManyMerges(t *testing.T, opts sqlite.Options) {
	const mergeAt = 3
	opts.IDTailMergeAt = mergeAt
	for _, integrity := range []bool{true, false} {
		t.Run(fmt.Sprintf("integrity=%v", integrity), func(t *testing.T) {
			path := newStorePath(t)
			warn := &mergeWarnings{}
			opts := opts
			opts.DisableIntegrity, opts.Logger = !integrity, slog.New(warn)
			st := openStore(t, path, opts)
			var rows, upto, next int64 // rows stored; the model's upto; the next new event
			for i, size := range []int{1, 1, 1, 2, 4, 7, 1, 3, 2, 2, 5, 1, 1, 8, 3, 1} {
				evs := mkEvents(t, "node-a", int(next), int(next)+size)
				next += int64(size)
				// Every other batch re-delivers one stored event.
				if i%2 == 1 {
					evs = append(evs, mkEvent(t, "node-a", int(next)/2))
				}
				res := ingest(t, st, evs...)
				if res.Inserted != size {
					t.Fatalf("batch %d: inserted %d; want %d", i, res.Inserted, size)
				}
				rows += int64(size)
				if rows-upto >= mergeAt {
					upto = rows // rowids run 1..rows
				}
				if got := wantIDIndex(t, path); got != upto {
					t.Errorf("batch %d: event_ids_upto = %d; want %d (the last row of the last merge)", i, got, upto)
				}
			}
			if rows != eventCount(t, path) {
				t.Errorf("%d rows stored; want %d", eventCount(t, path), rows)
			}
			if upto == rows || upto < rows-mergeAt {
				t.Fatalf("the model ends with upto %d of %d rows; the sizes should leave a short tail", upto, rows)
			}
			warn.check(t)
		})
	}
}

// wantEvent checks that st finds the stored event id through Event and
// ProveEvent.
func wantEvent(t *testing.T, st *sqlite.Store, id string, want chainlog.StoredEvent, size int64) {
	t.Helper()
	got, err := st.Event(t.Context(), id)
	if err != nil {
		t.Errorf("Event(%s): %v", id, err)
	} else if !reflect.DeepEqual(*got, want) {
		t.Errorf("Event(%s):\n got  %+v\n want %+v", id, *got, want)
	}
	ev, idx, proof, err := st.ProveEvent(t.Context(), id, size)
	if err != nil {
		t.Errorf("ProveEvent(%s, %d): %v", id, size, err)
		return
	}
	if ev.ID != id || ev.ChainHash != want.Hash || ev.ChainSeq != want.Seq || idx < 0 || idx >= size || len(proof) == 0 {
		t.Errorf("ProveEvent(%s, %d) = (id %s, seq %d, hash %s), leaf %d, %d proof hashes; want (id %s, seq %d, hash %s)",
			id, size, ev.ID, ev.ChainSeq, ev.ChainHash, idx, len(proof), id, want.Seq, want.Hash)
	}
}

func wantNotFound(t *testing.T, st *sqlite.Store, id string, size int64) {
	t.Helper()
	if e, err := st.Event(t.Context(), id); !errors.Is(err, chainlog.ErrNotFound) {
		t.Errorf("Event(%s) = %v, %v; want ErrNotFound", id, e, err)
	}
	if _, _, _, err := st.ProveEvent(t.Context(), id, size); !errors.Is(err, chainlog.ErrNotFound) {
		t.Errorf("ProveEvent(%s) = %v; want ErrNotFound", id, err)
	}
}

// TestLookupByIDInEachTier looks events up by id through the public API,
// for an event in event_ids, one in the tail and a missing id: on the
// writer that holds the tail, on a second writer whose copy of the tail is
// empty or stale, and on read-only stores, which scan the tail. Amendments
// find their events in both tiers.
func TestLookupByIDInEachTier(t *testing.T) { forKeyModes(t, testLookupByIDInEachTier) }

func testLookupByIDInEachTier(t *testing.T, opts sqlite.Options) {
	const mergeAt = 4
	opts.IDTailMergeAt = mergeAt
	path := newStorePath(t)
	a := openStore(t, path, opts)
	for i := 0; i < 10; i += 3 {
		ingest(t, a, mkEvents(t, "node-a", i, min(i+3, 10))...)
	}
	// Batches of 3, 3, 3, 1: a merged after the 6th and the 10th row. Two
	// more rows stay in the tail.
	ingest(t, a, mkEvents(t, "node-b", 0, 2)...)
	ids := map[string]string{"merged": "node-a/2", "tail": "node-b/1", "missing": "node-z/0"}
	for tier, id := range ids {
		if got := tierOf(t, path, id); got != tier {
			t.Fatalf("%s is %s; want %s", id, got, tier)
		}
	}
	b := openStore(t, path, opts) // a writer that has not read the tail

	check := func(t *testing.T, stores map[string]*sqlite.Store) {
		t.Helper()
		rows := storedRows(t, path)
		th, err := a.TreeHead(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		ro := openRO(t, path)
		stores["read-only"] = ro
		for name, st := range stores {
			for tier, id := range ids {
				t.Run(name+"/"+tier, func(t *testing.T) {
					if tier == "missing" {
						wantNotFound(t, st, id, th.Size)
						return
					}
					wantEvent(t, st, id, rows[id], th.Size)
				})
			}
		}
		closeStore(t, ro)
	}
	t.Run("one writer", func(t *testing.T) {
		check(t, map[string]*sqlite.Store{"writer": a, "fresh writer": b})
	})

	// b adds a row to the tail: a's copy of the tail lacks it.
	ingest(t, b, mkEvent(t, "node-c", 0))
	ids["other writer's tail"] = "node-c/0"
	if got := tierOf(t, path, "node-c/0"); got != "tail" {
		t.Fatalf("node-c/0 is %s; want tail", got)
	}
	t.Run("stale copy", func(t *testing.T) {
		check(t, map[string]*sqlite.Store{"writer": a, "other writer": b})
	})

	// b's next row brings the tail to 4: b merges it, and the tail a holds
	// a copy of is now in event_ids.
	ingest(t, b, mkEvent(t, "node-c", 1))
	for _, id := range []string{"node-b/1", "node-c/0", "node-c/1"} {
		if got := tierOf(t, path, id); got != "merged" {
			t.Fatalf("%s is %s after b's merge; want merged", id, got)
		}
	}
	ingest(t, b, mkEvent(t, "node-c", 2))
	ids["tail"] = "node-c/2"
	t.Run("merged by the other writer", func(t *testing.T) {
		check(t, map[string]*sqlite.Store{"writer": a, "other writer": b})
	})

	// Amendments find their events in either tier, through either writer.
	cost := 0.25
	reqs := func(ids ...string) []sqlite.AmendRequest {
		var r []sqlite.AmendRequest
		for _, id := range ids {
			r = append(r, amendReq(id, "priced by hand", chainlog.Patch{Set: []string{chainlog.FieldCostUSD},
				Values: chainlog.Mutable{CostUSD: &cost}}))
		}
		return r
	}
	if got := tierOf(t, path, "node-a/2"); got != "merged" {
		t.Fatalf("node-a/2 is %s; want merged", got)
	}
	// Each amendment appends its anchor event to the tail too; only
	// ingest merges the tail.
	mustAmend(t, a, reqs("node-a/2", "node-c/2")...)
	ingest(t, b, mkEvent(t, "node-c", 3)) // in the tail; a's copy lacks it
	if _, err := b.Amend(t.Context(), reqs("node-b/1")[0]); err != nil {
		t.Errorf("Amend(node-b/1) through b: %v", err)
	}
	if got := tierOf(t, path, "node-c/3"); got != "tail" {
		t.Fatalf("node-c/3 is %s; want tail", got)
	}
	if _, err := a.Amend(t.Context(), reqs("node-c/3")[0]); err != nil {
		t.Errorf("Amend(node-c/3) through a: %v", err)
	}
	for _, st := range []*sqlite.Store{a, b} {
		before := dumpStore(t, path)
		if _, err := st.AmendBatch(t.Context(), reqs("node-a/3", "node-z/0")); !errors.Is(err, chainlog.ErrNotFound) {
			t.Errorf("AmendBatch with a missing id = %v; want ErrNotFound", err)
		}
		if !reflect.DeepEqual(dumpStore(t, path), before) {
			t.Error("a failed AmendBatch changed the store")
		}
	}
	for _, id := range []string{"node-a/2", "node-c/2", "node-b/1", "node-c/3"} {
		if got := mutableOf(t, path, id); got.CostUSD == nil || *got.CostUSD != cost {
			t.Errorf("%s cost after the amendment = %v; want %v", id, got.CostUSD, cost)
		}
		if recs := trailOf(t, path, id); len(recs) != 1 {
			t.Errorf("%s has %d amendment records; want 1", id, len(recs))
		}
	}
	if got := rawValue(t, path, `SELECT count(*) FROM events WHERE cost_usd IS NOT NULL`); got != "4" {
		t.Errorf("%s rows have a cost; want the 4 amended", got)
	}
	closeStore(t, a)
	closeStore(t, b)
	rep := verifyPath(t, path, "")
	if rep.Status != chainlog.StatusValid || rep.Amendments.Checked != 4 {
		t.Errorf("verify: status %q, %d amendments checked; want valid, 4", rep.Status, rep.Amendments.Checked)
	}
	wantIDIndex(t, path)
}

// downgradeToV4 turns the store at path (at SchemaVersion, closed) into one
// as schema version 4 left it: the events table keyed by id, no event_ids,
// no cursors, prune_ranges or forks.
// Rowids are multiplied by 3 so that they have gaps, in the same order;
// extraCols are added to the table (with their defaults) and extra runs
// after it is built.
func downgradeToV4(t *testing.T, path string, extraCols []string, extra ...rawStmt) {
	t.Helper()
	var defs, names []string
	for _, c := range rawQuery(t, path, `SELECT name, type, "notnull", dflt_value FROM pragma_table_info('events') ORDER BY cid`) {
		name := `"` + c[0] + `"`
		names = append(names, name)
		def := name + " " + c[1]
		if c[0] == "id" {
			def += " PRIMARY KEY"
		} else if c[2] == "1" {
			def += " NOT NULL"
		}
		if c[3] != "<NULL>" {
			def += " DEFAULT (" + c[3] + ")"
		}
		defs = append(defs, def)
	}
	list := strings.Join(names, ", ")
	stmts := []rawStmt{
		rawSQL(`CREATE TABLE events_v4 (` + strings.Join(append(defs, extraCols...), ", ") + `)`),
		rawSQL(`INSERT INTO events_v4 (rowid, ` + list + `) SELECT 3 * rowid, ` + list + ` FROM events ORDER BY rowid`),
		rawSQL(`DROP TABLE events`),
		rawSQL(`DROP TABLE event_ids`),
		rawSQL(`DROP TABLE event_ids_upto`),
		rawSQL(`DROP TABLE cursors`),
		rawSQL(`DROP TABLE prune_ranges`),
		rawSQL(`DROP TABLE forks`),
		rawSQL(`ALTER TABLE events_v4 RENAME TO events`),
		rawSQL(`CREATE UNIQUE INDEX events_node_seq ON events (node_id, chain_seq)`),
	}
	stmts = append(stmts, extra...)
	attack(t, path, append(stmts, rawSQL(`PRAGMA user_version = 4`))...)
	if pk := rawValue(t, path, `SELECT group_concat(name) FROM pragma_table_info('events') WHERE pk != 0`); pk != "id" {
		t.Fatalf("downgraded store: primary key %q; want id", pk)
	}
}

// eventsSchema is what a migration must keep of the events table: its
// columns (name, type, NOT NULL or key, default) and its indexes and
// triggers.
func eventsSchema(t *testing.T, path string) (cols, extras [][]string) {
	t.Helper()
	cols = rawQuery(t, path, `SELECT name, type, "notnull" OR pk, dflt_value FROM pragma_table_info('events') ORDER BY cid`)
	extras = rawQuery(t, path, `SELECT type, name, sql FROM sqlite_schema
		WHERE tbl_name = 'events' AND type IN ('index', 'trigger') AND sql IS NOT NULL ORDER BY type, name`)
	return cols, extras
}

// TestMigrateToIDIndex upgrades older stores and checks that migration 5
// drops the primary key on id and nothing else: every row keeps its rowid
// and values, the columns, indexes and triggers stay, event_ids covers
// every row, and verification reports the same.
func TestMigrateToIDIndex(t *testing.T) {
	t.Parallel()
	viaV4 := func(t *testing.T, path string, extraCols []string, extra ...rawStmt) string {
		closeStore(t, openStore(t, path, sqlite.Options{}))
		downgradeToV4(t, path, extraCols, extra...)
		return path
	}
	for _, c := range []struct {
		name string
		make func(t *testing.T) string
	}{
		{"clawmetry-v0 fixture", func(t *testing.T) string { return copyFixture(t, clawMetryV0) }},
		{"chainlog-v2 fixture", func(t *testing.T) string { return copyFixture(t, chainlogV2) }},
		{"clawmetry-v0 fixture at version 4", func(t *testing.T) string { return viaV4(t, copyFixture(t, clawMetryV0), nil) }},
		{"chainlog-v2 fixture at version 4", func(t *testing.T) string { return viaV4(t, copyFixture(t, chainlogV2), nil) }},
		{"version 4 with extra columns", func(t *testing.T) string {
			path := newStorePath(t)
			st := openStore(t, path, sqlite.Options{DisableIntegrity: true})
			ingest(t, st, mkEvents(t, "node-a", 100, 103)...)
			closeStore(t, st)
			st = openStore(t, path, sqlite.Options{})
			ingest(t, st, append(mkEvents(t, "node-a", 0, 5), mkEvents(t, "node-b", 0, 4)...)...)
			mustAmend(t, st, amendReq("node-a/1", "priced by hand", chainlog.Patch{Set: []string{chainlog.FieldModel},
				Values: chainlog.Mutable{Model: ptr("gpt-4o")}}))
			closeStore(t, st)
			return viaV4(t, path, []string{`"note" TEXT NOT NULL DEFAULT 'none'`, `weight REAL`},
				rawSQL(`UPDATE events SET note = 'row ' || rowid, weight = rowid / 2.0 WHERE rowid % 2 = 0`))
		}},
		// Indexes, triggers, views and constraints of others on events
		// are refused before any migration: TestOpenRefusesSchemaObjects.
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			path := c.make(t)
			oldVersion := userVersion(t, path)
			oldCols, oldExtras := eventsSchema(t, path)
			var names []string
			for _, col := range oldCols {
				names = append(names, `"`+col[0]+`"`)
			}
			dumpQ := `SELECT rowid, ` + strings.Join(names, ", ") + ` FROM events ORDER BY rowid`
			oldRows := rawQuery(t, path, dumpQ)
			oldRep := verifyPath(t, path, "")

			closeStore(t, openStore(t, path, sqlite.Options{}))

			if v := userVersion(t, path); v != sqlite.SchemaVersion {
				t.Errorf("user_version = %d; want %d", v, sqlite.SchemaVersion)
			}
			if pk := rawQuery(t, path, `SELECT name FROM pragma_table_info('events') WHERE pk != 0`); len(pk) > 0 {
				t.Errorf("events still has a primary key on %v", pk)
			}
			if auto := rawQuery(t, path, `SELECT il.name FROM pragma_index_list('events') il, pragma_index_info(il.name) ii
				WHERE il.origin != 'c' AND ii.name = 'id'`); len(auto) > 0 {
				t.Errorf("events still has an automatic index on id: %v", auto)
			}
			if got := rawQuery(t, path, dumpQ); !reflect.DeepEqual(got, oldRows) {
				t.Errorf("rows changed by the upgrade:\n got  %v\n want %v", got, oldRows)
			}
			cols, extras := eventsSchema(t, path)
			if oldVersion == 4 {
				if !reflect.DeepEqual(cols, oldCols) {
					t.Errorf("columns (name, type, not null, default):\n got  %v\n want %v", cols, oldCols)
				}
				if !reflect.DeepEqual(extras, oldExtras) {
					t.Errorf("indexes and triggers:\n got  %v\n want %v", extras, oldExtras)
				}
			} else if !reflect.DeepEqual(cols[:len(oldCols)], oldCols) {
				t.Errorf("original columns (name, type, not null, default):\n got  %v\n want %v", cols[:len(oldCols)], oldCols)
			}
			if got := rawValue(t, path, `SELECT count(*) FROM sqlite_schema WHERE type = 'index' AND name = 'events_node_seq' AND tbl_name = 'events'`); got != "1" {
				t.Error("events_node_seq is gone")
			}
			if upto, last := wantIDIndex(t, path), rawInt(t, path, `SELECT max(rowid) FROM events`); upto != last {
				t.Errorf("event_ids_upto = %d; want the last rowid %d", upto, last)
			}
			rep := verifyPath(t, path, "")
			if oldVersion < 4 {
				// The older schema has no tree to report; migration 4 builds one.
				rep.Tree = nil
			}
			if !reflect.DeepEqual(rep, oldRep) {
				t.Errorf("verify report changed:\n got  %+v\n want %+v", rep, oldRep)
			}

			if views := rawQuery(t, path, `SELECT name FROM sqlite_schema WHERE type = 'view'`); len(views) > 0 {
				if got := rawQuery(t, path, `SELECT * FROM events_by_node`); len(got) == 0 {
					t.Error("the view events_by_node reads nothing after the upgrade")
				}
				table := rawValue(t, path, `SELECT sql FROM sqlite_schema WHERE type = 'table' AND name = 'events'`)
				for _, c := range []string{"tag TEXT UNIQUE", "CHECK (weight >= 0)"} {
					if !strings.Contains(table, c) {
						t.Errorf("the upgraded table lost %q: %s", c, table)
					}
				}
			}

			// The upgraded store finds, rejects and takes ids.
			st := openStore(t, path, sqlite.Options{})
			first := oldRows[0][1] // the id of the first row (rowid, id, ...)
			if e, err := st.Event(t.Context(), first); err != nil || e.ID != first {
				t.Errorf("Event(%s) = %v, %v", first, e, err)
			}
			var again []chainlog.Event
			nodeCol := 1 + slices.Index(names, `"node_id"`) // after the rowid
			last := len(oldRows) - 1
			for oldRows[last][nodeCol] == chainlog.AnchorNode {
				last-- // the store's own events are not taken from users
			}
			for _, id := range []string{first, oldRows[last][1]} {
				e, err := st.Event(t.Context(), id)
				if err != nil {
					t.Fatalf("Event(%s): %v", id, err)
				}
				again = append(again, e.Event)
			}
			if res := ingest(t, st, append(again, mkEvent(t, "node-new", 0))...); res != (chainlog.IngestResult{Inserted: 1, Duplicates: 2}) {
				t.Errorf("ingest of 2 stored ids and a new one = %+v; want 1 inserted, 2 duplicates", res)
			}
			closeStore(t, st)
			wantIDIndex(t, path)
		})
	}
}

// forKeyModes runs test, in parallel with other tests and with itself,
// with and without the writers' in-memory copy of the id index's keys,
// which opts sets.
func forKeyModes(t *testing.T, test func(t *testing.T, opts sqlite.Options)) {
	t.Parallel()
	for _, m := range []struct {
		name  string
		after int
	}{{"keys in memory", -1}, {"keys looked up", 1 << 30}} {
		t.Run(m.name, func(t *testing.T) {
			t.Parallel()
			test(t, sqlite.Options{IDKeySetAfter: m.after})
		})
	}
}

// FuzzIngestIDs ingests batches of ids drawn from 12, through two writers
// on one file, with a merge of the tail every 3 rows, and checks each
// batch's counts against a map of the ids stored, then that every id is
// stored once, event_ids matches the table and each id is found.
//
// Each byte of ops below 0xc0 adds the event (byte % 12) to the batch; a
// byte from 0xc0 ends the batch, and its low bit picks the writer of the
// next one.
func FuzzIngestIDs(f *testing.F) {
	const mergeAt = 3
	f.Add([]byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11})
	f.Add([]byte{0, 0xc1, 0, 1, 0xc0, 1, 2, 0xc1, 2, 3, 0xc0, 3, 4, 0xc1, 4, 5, 0xc0, 0, 5, 6, 0xc1, 6, 7, 0xc0, 1, 7, 8})
	f.Add([]byte{5, 5, 5, 0xc0, 5, 0xc1, 6, 0xc1, 6, 7, 0xc0, 7, 8, 9, 0xc1, 9, 10, 11, 0, 0xc0, 11, 0, 1, 2})
	f.Add([]byte{0xc1, 0xc1, 3, 15, 27, 39, 0xc0, 51, 0xc1, 63, 4, 0xc0, 0xc1, 1, 2, 14})
	f.Add([]byte{11, 10, 9, 0xc1, 8, 7, 6, 0xc0, 5, 4, 3, 0xc1, 2, 1, 0, 0xc0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11})
	f.Fuzz(func(t *testing.T, ops []byte) {
		if len(ops) > 300 {
			ops = ops[:300]
		}
		// Half the inputs run with the keys in memory from the start.
		keySetAfter := 1 << 30
		if len(ops)%2 == 0 {
			keySetAfter = -1
		}
		var pool []chainlog.Event
		for k := range 12 {
			pool = append(pool, mkEvent(t, fmt.Sprintf("node-%d", k%3), k))
		}
		path := newStorePath(t)
		warn := &mergeWarnings{}
		opts := sqlite.Options{Now: testClock(), Logger: slog.New(warn), IDTailMergeAt: mergeAt, IDKeySetAfter: keySetAfter}
		stores := []*sqlite.Store{openStore(t, path, opts), openStore(t, path, opts)}
		stored := map[string]bool{}
		var batch []chainlog.Event
		writer := 0
		flush := func() {
			if len(batch) == 0 {
				return
			}
			var want chainlog.IngestResult
			for _, e := range batch {
				if stored[e.ID] {
					want.Duplicates++
				} else {
					stored[e.ID] = true
					want.Inserted++
				}
			}
			if res := ingest(t, stores[writer], batch...); res != want {
				t.Fatalf("batch %v through writer %d: result %+v; want %+v", batchIDs(batch), writer, res, want)
			}
			wantShortTail(t, path, mergeAt)
			batch = batch[:0]
		}
		for _, op := range ops {
			if op >= 0xc0 {
				flush()
				writer = int(op & 1)
				continue
			}
			batch = append(batch, pool[int(op)%len(pool)])
		}
		flush()
		if n := eventCount(t, path); n != int64(len(stored)) {
			t.Fatalf("%d rows stored; want %d", n, len(stored))
		}
		wantIDIndex(t, path)
		ro := openRO(t, path)
		for _, st := range append(stores, ro) {
			for _, e := range pool {
				got, err := st.Event(t.Context(), e.ID)
				switch {
				case stored[e.ID] && (err != nil || got.ID != e.ID):
					t.Errorf("Event(%s) = %v, %v; want the event", e.ID, got, err)
				case !stored[e.ID] && !errors.Is(err, chainlog.ErrNotFound):
					t.Errorf("Event(%s) of an id never ingested = %v; want ErrNotFound", e.ID, err)
				}
			}
		}
		warn.check(t)
	})
}

func batchIDs(evs []chainlog.Event) []string {
	var ids []string
	for _, e := range evs {
		ids = append(ids, e.ID)
	}
	return ids
}

// noPanic runs fn and reports a panic as a test error.
func noPanic(t *testing.T, what string, fn func()) {
	t.Helper()
	defer func() {
		if r := recover(); r != nil {
			t.Errorf("%s panicked: %v", what, r)
		}
	}()
	fn()
}

// TestDamagedIDIndex removes parts of the id index from a closed store.
// Ingest must then fail with an error that names the index, without a
// panic, without retrying as if another writer had moved a head, and
// without committing anything; lookups by id must not panic nor report a
// stored event missing.
func TestDamagedIDIndex(t *testing.T) { forKeyModes(t, testDamagedIDIndex) }

func testDamagedIDIndex(t *testing.T, opts sqlite.Options) {
	const mergeAt = 4
	opts.IDTailMergeAt = mergeAt
	for _, damage := range []string{
		`DELETE FROM event_ids_upto`,
		`DROP TABLE event_ids`,
		`DROP TABLE event_ids_upto`,
	} {
		t.Run(damage, func(t *testing.T) {
			// Batches of 3, 3, 2: merged after the 6th row, 2 rows in the tail.
			path := buildStore(t, opts, mkEvents(t, "node-a", 0, 3), mkEvents(t, "node-a", 3, 6), mkEvents(t, "node-a", 6, 8))
			ids := map[string]string{"merged": "node-a/1", "tail": "node-a/7"}
			for tier, id := range ids {
				if got := tierOf(t, path, id); got != tier {
					t.Fatalf("%s is %s; want %s", id, got, tier)
				}
			}
			attack(t, path, rawSQL(damage))
			before := dumpStore(t, path)
			readers := map[string]*sqlite.Store{"read-only": openRO(t, path)}
			if strings.HasPrefix(damage, "DROP TABLE") {
				// A writer refuses a schema without the table, before
				// changing anything.
				st, err := sqlite.Open(t.Context(), path, sqlite.Options{})
				if err == nil {
					st.Close()
					t.Fatal("Open: no error")
				}
				if !errors.Is(err, sqlite.ErrSchema) || !strings.Contains(err.Error(), "event_ids") {
					t.Errorf("Open: %v; want ErrSchema naming the id index", err)
				}
				if !reflect.DeepEqual(dumpStore(t, path), before) {
					t.Error("a refused Open changed the store")
				}
				lookupAll(t, readers, ids)
				return
			}

			warnings := &countingHandler{}
			opts := opts
			opts.Logger = slog.New(warnings)
			st := openStore(t, path, opts)
			readers["writer"] = st
			for _, batch := range [][]chainlog.Event{
				{mkEvent(t, "node-a", 8)},
				{mkEvent(t, "node-a", 1), mkEvent(t, "node-a", 7), mkEvent(t, "node-b", 0)},
			} {
				noPanic(t, "Ingest", func() {
					res, err := st.Ingest(t.Context(), batch)
					switch {
					case err == nil:
						t.Errorf("Ingest(%v) = %+v; want an error", batchIDs(batch), res)
					case errors.Is(err, chainlog.ErrConflict):
						t.Errorf("Ingest: %v; want an error that is not a conflict between writers", err)
					case !strings.Contains(err.Error(), "event_ids"):
						t.Errorf("Ingest: %v; want an error that names the id index", err)
					}
				})
			}
			if n := warnings.count(); n > 0 {
				t.Errorf("%d warnings logged (retries as if another writer had moved a head); want none", n)
			}
			if !reflect.DeepEqual(dumpStore(t, path), before) {
				t.Error("a failed Ingest changed the store")
			}

			lookupAll(t, readers, ids)
		})
	}
}

// lookupAll looks each id up in each store: no panic, and no stored event
// reported missing.
func lookupAll(t *testing.T, stores map[string]*sqlite.Store, ids map[string]string) {
	t.Helper()
	for name, s := range stores {
		for tier, id := range ids {
			noPanic(t, name+" Event("+tier+")", func() {
				e, err := s.Event(t.Context(), id)
				switch {
				case errors.Is(err, chainlog.ErrNotFound):
					t.Errorf("%s: Event(%s) in the %s: %v; want the event or an error", name, id, tier, err)
				case err == nil && e.ID != id:
					t.Errorf("%s: Event(%s) = %s", name, id, e.ID)
				}
			})
		}
	}
}
