package sqlite

import (
	"cmp"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"zombiezen.com/go/sqlite"
	"zombiezen.com/go/sqlite/sqlitex"
)

// The id index in two tiers (migrations/0005_id_index.sql): event_ids maps
// a hash of every id up to event_ids_upto.upto to its rowid; rows after
// that, the tail, are kept in the writer's memory and scanned by readers.

// defaultTailMergeAt is the default of Options.IDTailMergeAt: the tail's
// length at which the writer merges it into event_ids. A merge writes each
// page of event_ids about once; a longer tail costs the writer memory
// (about 100 bytes a row) and a reader's lookup of a recent id a longer
// scan.
const defaultTailMergeAt = 1 << 17

// defaultKeySetAfter is the default of Options.IDKeySetAfter: how many ids
// a writer looks up in event_ids before it loads the keys.
const defaultKeySetAfter = 4096

// defaultIDRecheckEvery is the default of Options.IDRecheckEvery: how
// often, at most, a writer counts the id index again after other
// connections committed.
const defaultIDRecheckEvery = time.Second

// setIDIndexDefaults replaces the id index's zero tuning values by their
// defaults, and negative ones by 0.
func (o *Options) setIDIndexDefaults() {
	if o.IDTailMergeAt <= 0 {
		o.IDTailMergeAt = defaultTailMergeAt
	}
	switch {
	case o.IDKeySetAfter == 0:
		o.IDKeySetAfter = defaultKeySetAfter
	case o.IDKeySetAfter < 0:
		o.IDKeySetAfter = 0
	}
	switch {
	case o.IDRecheckEvery == 0:
		o.IDRecheckEvery = defaultIDRecheckEvery
	case o.IDRecheckEvery < 0:
		o.IDRecheckEvery = 0
	}
}

// idKey is an id's key in event_ids: the first 8 bytes of its SHA-256,
// read as a big-endian signed integer. Two ids may share a key; a lookup
// compares the ids themselves.
func idKey(id string) int64 {
	sum := sha256.Sum256([]byte(id))
	return int64(binary.BigEndian.Uint64(sum[:8]))
}

// idTail is the writer's copy of the tail: the committed rows that
// event_ids does not cover yet.
//
// It may also hold keys, a sorted copy of every key in event_ids, so that
// looking up a new id takes no query: only an id whose key is there is
// looked up in the database, to compare the ids. The copy costs 8 bytes an
// event and a read of event_ids to load, so it is loaded only once the
// writer has looked up Options.IDKeySetAfter ids.
type idTail struct {
	upto    int64            // event_ids covers rowids up to upto
	last    int64            // ids holds every row in (upto, last]
	ids     map[string]int64 // id -> rowid
	version int64            // PRAGMA data_version at the last count: it moves when another connection commits
	counted time.Time        // when checkCount last ran

	keys    []int64 // when not nil, every key in event_ids, sorted
	lookups int     // ids looked up so far

	recheckEvery time.Duration // Options.IDRecheckEvery
}

// sync brings t up to the committed rows. It runs inside a transaction:
// rows another writer added since are read, and when another writer merged
// the tail the copy restarts from the new bound, and the keys of the rows
// it merged are added to the key copy.
//
// When it loads the tail afresh (the writer's first sync, or after another
// writer's merge), it checks that event_ids holds one key for each row up
// to the bound (checkCount); and when another connection committed since
// that check (PRAGMA data_version, which costs no read), again, at most
// every recheckEvery, so that writers taking turns do not count at every
// batch.
func (t *idTail) sync(conn *sqlite.Conn) error {
	upto, err := readIDUpto(conn)
	if err != nil {
		return err
	}
	version, err := countRows(conn, `PRAGMA data_version`)
	if err != nil {
		return err
	}
	fresh := t.ids == nil || upto != t.upto
	recount := fresh || version != t.version && time.Since(t.counted) >= t.recheckEvery
	if t.ids != nil && upto < t.upto {
		return fmt.Errorf("%w: event_ids_upto.upto moved back from %d to %d; no writer lowers it", ErrIDIndexDamaged, t.upto, upto)
	}
	if fresh {
		if t.keys != nil && t.ids != nil && upto > t.upto {
			merged, err := rangeKeys(conn, t.upto, upto)
			if err != nil {
				return err
			}
			t.keys = mergeSorted(t.keys, merged)
		} else {
			t.keys = nil
		}
		t.upto, t.last, t.ids = upto, upto, make(map[string]int64)
	}
	if err := t.readNew(conn); err != nil {
		return err
	}
	if recount {
		if err := t.checkCount(conn); err != nil {
			t.ids = nil // load and check again at the next sync
			return err
		}
		t.version, t.counted = version, time.Now()
	}
	return nil
}

// readNew reads the rows after t.last into the tail.
func (t *idTail) readNew(conn *sqlite.Conn) error {
	stmt := conn.Prep(`SELECT rowid, id FROM events WHERE rowid > ?1 ORDER BY rowid`)
	defer stmt.Reset()
	stmt.BindInt64(1, t.last)
	for {
		ok, err := stmt.Step()
		if err != nil {
			return fmt.Errorf("read the id index's tail: %w", err)
		}
		if !ok {
			return nil
		}
		rid := stmt.ColumnInt64(0)
		t.ids[stmt.ColumnText(1)] = rid
		t.last = rid
	}
}

// ErrIDIndexDamaged is returned when the id index disagrees with the
// events table: keys were deleted, added or changed, or its bound moved.
// A writer then refuses to ingest, since an id whose key is lost would be
// stored again.
var ErrIDIndexDamaged = errors.New("the id index (event_ids) is damaged")

// checkCount checks that event_ids holds as many keys as there are events
// up to its bound: the events table's rows less those after the bound.
// All three counts are of the transaction that synced t, not of the rows
// the tail read in earlier ones: a tail row deleted since is no key missing.
// The first two read an index's pages, not the rows: about 20 ms at 1M
// events, so it runs only when a writer loads the tail afresh or another
// connection wrote; the third reads the tail's rows alone.
func (t *idTail) checkCount(conn *sqlite.Conn) error {
	keys, err := countRows(conn, `SELECT count(*) FROM event_ids`)
	if err != nil {
		return err
	}
	events, err := countRows(conn, `SELECT count(*) FROM events`)
	if err != nil {
		return err
	}
	tail, err := countRows(conn, `SELECT count(*) FROM events WHERE rowid > ?1`, t.upto)
	if err != nil {
		return err
	}
	if want := events - tail; keys != want {
		return fmt.Errorf("%w: it holds %d keys, but %d events have rowid <= event_ids_upto.upto (%d): keys were deleted or added, or the bound was moved; nothing was written",
			ErrIDIndexDamaged, keys, want, t.upto)
	}
	return nil
}

func countRows(conn *sqlite.Conn, q string, args ...any) (int64, error) {
	var n int64
	err := sqlitex.ExecuteTransient(conn, q, &sqlitex.ExecOptions{Args: args, ResultFunc: func(stmt *sqlite.Stmt) error {
		n = stmt.ColumnInt64(0)
		return nil
	}})
	if err != nil {
		return 0, fmt.Errorf("check the id index: %w", err)
	}
	return n, nil
}

// checkKeyMiss runs when event_ids has no row for id although the
// writer's copy of its keys holds id's key. Two ids may share a key, so
// that is not in itself damage; it is when no row has the key any more, or
// a row with the key points at no event or at an event whose id has
// another key.
func (s *Store) checkKeyMiss(conn *sqlite.Conn, id string) error {
	h := idKey(id)
	stmt, err := s.prep(conn, `SELECT k.rid, e.id FROM event_ids k LEFT JOIN events e ON e.rowid = k.rid WHERE k.h = ?1`)
	if err != nil {
		return fmt.Errorf("check the id index: %w", err)
	}
	defer stmt.Reset()
	stmt.BindInt64(1, h)
	n := 0
	for {
		ok, err := stmt.Step()
		if err != nil {
			return fmt.Errorf("check the id index: %w", err)
		}
		if !ok {
			break
		}
		n++
		rid := stmt.ColumnInt64(0)
		if stmt.ColumnType(1) == sqlite.TypeNull {
			return fmt.Errorf("%w: key %d points at rowid %d, which holds no event", ErrIDIndexDamaged, h, rid)
		}
		if other := stmt.ColumnText(1); idKey(other) != h {
			return fmt.Errorf("%w: key %d points at rowid %d, whose id %q has key %d", ErrIDIndexDamaged, h, rid, other, idKey(other))
		}
	}
	if n == 0 {
		return fmt.Errorf("%w: the key of id %q (%d) was in event_ids and is gone", ErrIDIndexDamaged, id, h)
	}
	return nil
}

// heldKey reports whether the writer's copy of event_ids' keys holds id's
// key (false without a copy).
func (t *idTail) heldKey(id string) bool {
	return t.keys != nil && t.mayHold(id)
}

// loadKeys reads every key of event_ids into t.keys. It runs inside the
// transaction that synced t.
func (t *idTail) loadKeys(conn *sqlite.Conn) error {
	keys := make([]int64, 0, t.upto)
	err := sqlitex.ExecuteTransient(conn, `SELECT h FROM event_ids ORDER BY h`, &sqlitex.ExecOptions{
		ResultFunc: func(stmt *sqlite.Stmt) error {
			keys = append(keys, stmt.ColumnInt64(0))
			return nil
		}})
	if err != nil {
		return fmt.Errorf("load the id index's keys: %w", err)
	}
	t.keys = keys
	return nil
}

// mayHold reports whether event_ids may hold id: false means it does not.
// Without a key copy it is always true.
func (t *idTail) mayHold(id string) bool {
	if t.keys == nil {
		return true
	}
	_, found := slices.BinarySearch(t.keys, idKey(id))
	return found
}

// rangeKeys returns, sorted, the keys of the ids of the rows in (after, upto].
func rangeKeys(conn *sqlite.Conn, after, upto int64) ([]int64, error) {
	var keys []int64
	err := sqlitex.Execute(conn, `SELECT id FROM events WHERE rowid > ?1 AND rowid <= ?2`, &sqlitex.ExecOptions{
		Args: []any{after, upto},
		ResultFunc: func(stmt *sqlite.Stmt) error {
			keys = append(keys, idKey(stmt.ColumnText(0)))
			return nil
		}})
	if err != nil {
		return nil, fmt.Errorf("read the keys another writer merged: %w", err)
	}
	slices.Sort(keys)
	return keys, nil
}

// mergeSorted returns the sorted union (with repeats) of two sorted slices.
func mergeSorted(a, b []int64) []int64 {
	out := make([]int64, 0, len(a)+len(b))
	for len(a) > 0 && len(b) > 0 {
		if a[0] <= b[0] {
			out, a = append(out, a[0]), a[1:]
		} else {
			out, b = append(out, b[0]), b[1:]
		}
	}
	return append(append(out, a...), b...)
}

// syncTail syncs the writer's tail copy in a savepoint, so that its
// queries read one snapshot whether or not a transaction is open.
func (s *Store) syncTail(conn *sqlite.Conn) (err error) {
	defer sqlitex.Save(conn)(&err)
	return s.tail.sync(conn)
}

// add records rows this writer committed.
func (t *idTail) add(rows []idRow) {
	for _, r := range rows {
		t.ids[r.id] = r.rid
		t.last = max(t.last, r.rid)
	}
}

type idRow struct {
	id  string
	rid int64
}

// readIDUpto returns event_ids_upto.upto. A missing table or row is an
// error, not a conflict: no writer removes them.
func readIDUpto(conn *sqlite.Conn) (int64, error) {
	stmt, err := conn.Prepare(`SELECT upto FROM event_ids_upto WHERE id = 1`)
	if err != nil {
		return 0, fmt.Errorf("read event_ids_upto: %w", err)
	}
	defer stmt.Reset()
	ok, err := stmt.Step()
	if err != nil {
		return 0, fmt.Errorf("read event_ids_upto: %w", err)
	}
	if !ok {
		return 0, errors.New("read event_ids_upto: the row is missing: the id index is damaged")
	}
	return stmt.ColumnInt64(0), nil
}

// probeIDIndex returns the rowid that event_ids gives for id.
func (s *Store) probeIDIndex(conn *sqlite.Conn, id string) (int64, bool, error) {
	stmt, err := s.prep(conn, `SELECT k.rid FROM event_ids k JOIN events e ON e.rowid = k.rid
		WHERE k.h = ?1 AND e.id = ?2 LIMIT 1`)
	if err != nil {
		return 0, false, fmt.Errorf("look up the id index: %w", err)
	}
	defer stmt.Reset()
	stmt.BindInt64(1, idKey(id))
	stmt.BindText(2, id)
	ok, err := stmt.Step()
	if err != nil || !ok {
		return 0, false, err
	}
	return stmt.ColumnInt64(0), true, nil
}

// rowidOf returns the rowid of the event with id. It serves writers and
// readers alike: the writer's tail copy answers for the rows it holds,
// event_ids for the rows it covers, and a scan for the rest of the tail.
// A store from before the two tiers looks id up in its primary key. When
// event_ids_upto has lost its row, the scan covers the whole table: slower,
// but a stored event is still found.
func (s *Store) rowidOf(conn *sqlite.Conn, id string) (int64, bool, error) {
	if !s.hasIDIndex {
		return queryRowid(conn, `SELECT rowid FROM events WHERE id = ?1`, func(stmt *sqlite.Stmt) { stmt.BindText(1, id) })
	}
	var after int64
	if !s.readOnly && s.tail.ids == nil {
		// A writer keeps a tail copy: load it, so that a recent id is
		// found without a scan. Once loaded, rows committed since by
		// other writers are after its last row, where the scan below
		// starts.
		if err := s.syncTail(conn); err != nil {
			return 0, false, err
		}
	}
	if s.tail.ids != nil {
		if rid, ok := s.tail.ids[id]; ok {
			// The copy is of committed rows, which keep their ids; check
			// all the same, since the file may have been changed under it.
			found, ok, err := queryRowid(conn, `SELECT rowid FROM events WHERE rowid = ?1 AND id = ?2`,
				func(stmt *sqlite.Stmt) { stmt.BindInt64(1, rid); stmt.BindText(2, id) })
			if err != nil || ok {
				return found, ok, err
			}
		}
		after = s.tail.last
	}
	rid, ok, err := s.probeIDIndex(conn, id)
	if err != nil || ok {
		return rid, ok, err
	}
	return queryRowid(conn, `SELECT rowid FROM events
		WHERE rowid > max(?1, coalesce((SELECT upto FROM event_ids_upto WHERE id = 1), 0)) AND id = ?2 LIMIT 1`,
		func(stmt *sqlite.Stmt) { stmt.BindInt64(1, after); stmt.BindText(2, id) })
}

func queryRowid(conn *sqlite.Conn, q string, bind func(*sqlite.Stmt)) (int64, bool, error) {
	stmt, err := conn.Prepare(q)
	if err != nil {
		return 0, false, err
	}
	defer stmt.Reset()
	bind(stmt)
	ok, err := stmt.Step()
	if err != nil || !ok {
		return 0, false, err
	}
	return stmt.ColumnInt64(0), true, nil
}

// mergeTail moves the tail into event_ids, in its own transaction. Keys
// are inserted in order, so each page of event_ids is written about once.
func (s *Store) mergeTail(conn *sqlite.Conn) error {
	keys, err := s.mergeTailTx(conn)
	if err != nil || keys == nil {
		return err
	}
	// Committed: the tail is empty, and its keys are in event_ids.
	t := &s.tail
	t.upto, t.ids = t.last, make(map[string]int64)
	if t.keys != nil {
		merged := make([]int64, len(keys))
		for i, k := range keys {
			merged[i] = k[0]
		}
		t.keys = mergeSorted(t.keys, merged)
	}
	return nil
}

// mergeTailTx inserts the tail's keys and moves event_ids_upto, and
// returns the keys inserted, sorted; nil when the tail was empty.
func (s *Store) mergeTailTx(conn *sqlite.Conn) (keys [][2]int64, err error) {
	end, err := sqlitex.ImmediateTransaction(conn)
	if err != nil {
		return nil, err
	}
	defer end(&err)
	t := &s.tail
	if err := t.sync(conn); err != nil {
		return nil, err
	}
	if len(t.ids) == 0 {
		return nil, nil
	}
	keys = make([][2]int64, 0, len(t.ids))
	for id, rid := range t.ids {
		keys = append(keys, [2]int64{idKey(id), rid})
	}
	if err := insertIDKeys(conn, keys); err != nil {
		return nil, err
	}
	// The bound always exists here: the row that is missing is damage,
	// found by sync, so there is no first insert.
	if err := casRow(conn, "event_ids_upto", "",
		`UPDATE event_ids_upto SET upto = ?1 WHERE id = 1 AND upto = ?2`,
		[]any{t.last}, []any{t.upto}); err != nil {
		return nil, err
	}
	return keys, nil
}

// insertIDKeys inserts {key, rowid} pairs into event_ids in key order.
func insertIDKeys(conn *sqlite.Conn, keys [][2]int64) error {
	slices.SortFunc(keys, func(a, b [2]int64) int {
		if c := cmp.Compare(a[0], b[0]); c != 0 {
			return c
		}
		return cmp.Compare(a[1], b[1])
	})
	stmt, err := conn.Prepare(`INSERT INTO event_ids (h, rid) VALUES (?1, ?2)`)
	if err != nil {
		return fmt.Errorf("insert into event_ids: %w", err)
	}
	for _, k := range keys {
		stmt.BindInt64(1, k[0])
		stmt.BindInt64(2, k[1])
		_, err := stmt.Step()
		stmt.Reset()
		if err != nil {
			return fmt.Errorf("insert into event_ids: %w", err)
		}
	}
	return nil
}

// rebuildEventsTable recreates the events table without the PRIMARY KEY
// on id that ClawMetry's schema gave it, keeping every column (type, NOT
// NULL, default), every row with its rowid, and the table's indexes and
// triggers. Migration 5 runs it before its file.
func rebuildEventsTable(conn *sqlite.Conn) error {
	type column struct {
		name, typ string
		notNull   bool
		dflt      *string
		pk        bool
	}
	var cols []column
	err := sqlitex.ExecuteTransient(conn, `SELECT name, type, "notnull", dflt_value, pk FROM pragma_table_info('events')`,
		&sqlitex.ExecOptions{ResultFunc: func(stmt *sqlite.Stmt) error {
			c := column{name: stmt.ColumnText(0), typ: stmt.ColumnText(1), notNull: stmt.ColumnInt(2) != 0, pk: stmt.ColumnInt(4) != 0}
			if stmt.ColumnType(3) != sqlite.TypeNull {
				d := stmt.ColumnText(3)
				c.dflt = &d
			}
			cols = append(cols, c)
			return nil
		}})
	if err != nil {
		return err
	}
	keyed := false
	for _, c := range cols {
		keyed = keyed || c.pk
	}
	if !keyed {
		return nil
	}
	var extra []string // the table's own indexes and triggers
	err = sqlitex.ExecuteTransient(conn, `SELECT sql FROM sqlite_schema
		WHERE tbl_name = 'events' AND type IN ('index', 'trigger') AND sql IS NOT NULL ORDER BY type, name`,
		&sqlitex.ExecOptions{ResultFunc: func(stmt *sqlite.Stmt) error {
			extra = append(extra, stmt.ColumnText(0))
			return nil
		}})
	if err != nil {
		return err
	}
	var defs, names []string
	for _, c := range cols {
		def := quoteIdent(c.name) + " " + c.typ
		if c.notNull || c.pk {
			def += " NOT NULL"
		}
		if c.dflt != nil {
			def += " DEFAULT (" + *c.dflt + ")"
		}
		defs = append(defs, def)
		names = append(names, quoteIdent(c.name))
	}
	create := "CREATE TABLE events_rebuilt (" + strings.Join(defs, ", ") + ")"
	var table string
	err = sqlitex.ExecuteTransient(conn, `SELECT sql FROM sqlite_schema WHERE type = 'table' AND name = 'events'`,
		&sqlitex.ExecOptions{ResultFunc: func(stmt *sqlite.Stmt) error {
			table = stmt.ColumnText(0)
			return nil
		}})
	if err != nil {
		return err
	}
	if c, ok := unkeyedEventsTable(table); ok {
		// The table's own text keeps what pragma_table_info does not
		// show: UNIQUE, CHECK and COLLATE on other columns.
		create = c
	}
	list := strings.Join(names, ", ")
	script := []string{
		create,
		"INSERT INTO events_rebuilt (rowid, " + list + ") SELECT rowid, " + list + " FROM events ORDER BY rowid",
		"DROP TABLE events",
		// Without the legacy rename, SQLite checks every view and
		// trigger of the schema, and a view on events fails to resolve
		// while the table is gone.
		"PRAGMA legacy_alter_table = ON",
		"ALTER TABLE events_rebuilt RENAME TO events",
		"PRAGMA legacy_alter_table = OFF",
	}
	for _, q := range append(script, extra...) {
		if err := sqlitex.ExecuteTransient(conn, q, nil); err != nil {
			return fmt.Errorf("rebuild events: %w", err)
		}
	}
	return nil
}

var (
	createEventsRE = regexp.MustCompile(`(?is)^\s*CREATE\s+TABLE\s+(?:IF\s+NOT\s+EXISTS\s+)?(?:"events"|\[events\]|events|` + "`events`" + `)\s*\(`)
	idKeyRE        = regexp.MustCompile(`(?i)((?:"id"|\[id\]|\bid|` + "`id`" + `)\s+TEXT)\s+PRIMARY\s+KEY(?:\s+(?:ASC|DESC))?(?:\s+ON\s+CONFLICT\s+[a-z]+)?`)
)

// unkeyedEventsTable returns the events table's CREATE statement with the
// table renamed events_rebuilt and the PRIMARY KEY on id replaced by NOT
// NULL, or false when the statement is not in the shape ClawMetry and
// chainlog wrote it.
func unkeyedEventsTable(create string) (string, bool) {
	head := createEventsRE.FindStringIndex(create)
	keys := idKeyRE.FindAllStringSubmatchIndex(create, -1)
	if head == nil || len(keys) != 1 {
		return "", false
	}
	k := keys[0]
	return "CREATE TABLE events_rebuilt (" + create[head[1]:k[0]] + create[k[2]:k[3]] + " NOT NULL" + create[k[1]:], true
}

func quoteIdent(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }

// buildIDIndex fills event_ids for every row and sets its bound; migration
// 5 runs it after its file.
func buildIDIndex(conn *sqlite.Conn) error {
	var keys [][2]int64
	var last int64
	err := sqlitex.ExecuteTransient(conn, `SELECT rowid, id FROM events ORDER BY rowid`,
		&sqlitex.ExecOptions{ResultFunc: func(stmt *sqlite.Stmt) error {
			last = stmt.ColumnInt64(0)
			keys = append(keys, [2]int64{idKey(stmt.ColumnText(1)), last})
			return nil
		}})
	if err != nil {
		return err
	}
	if err := insertIDKeys(conn, keys); err != nil {
		return err
	}
	return sqlitex.ExecuteTransient(conn, `INSERT INTO event_ids_upto (id, upto) VALUES (1, ?1)
		ON CONFLICT (id) DO UPDATE SET upto = excluded.upto`, &sqlitex.ExecOptions{Args: []any{last}})
}
