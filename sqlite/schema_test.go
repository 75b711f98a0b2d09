package sqlite_test

import (
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"chainlog"
	"chainlog/sqlite"
)

// schemaStore builds a closed store with two nodes' chains, an amendment
// and a merged id index, and returns its path.
func schemaStore(t *testing.T) string {
	t.Helper()
	path := newStorePath(t)
	st := openStore(t, path, sqlite.Options{})
	ingest(t, st, append(mkEvents(t, "node-a", 0, 5), mkEvents(t, "node-b", 0, 4)...)...)
	mustAmend(t, st, amendReq("node-a/1", "priced by hand", chainlog.Patch{Set: []string{chainlog.FieldModel},
		Values: chainlog.Mutable{Model: ptr("gpt-4o")}}))
	ingest(t, st, mkEvents(t, "node-a", 5, 7)...)
	closeStore(t, st)
	return path
}

// verifyStore runs VerifyStore on path read-only, in one snapshot, as
// verify-integrity does.
func verifyStore(t *testing.T, path string, opts ...sqlite.ReadOption) (*chainlog.Report, error) {
	t.Helper()
	st, err := sqlite.OpenReadOnly(t.Context(), path, opts...)
	if err != nil {
		return nil, err
	}
	defer st.Close()
	var rep *chainlog.Report
	err = st.Snapshot(t.Context(), func() error {
		var err error
		rep, err = chainlog.VerifyStore(t.Context(), st, chainlog.VerifyOptions{})
		return err
	})
	return rep, err
}

// wantStoreBreak checks that the report is INVALID with a store break
// whose reason names object.
func wantStoreBreak(t *testing.T, rep *chainlog.Report, err error, object string) {
	t.Helper()
	if err != nil {
		t.Fatalf("verify: %v; want an INVALID report", err)
	}
	if rep.Status != chainlog.StatusInvalid || rep.Store == nil {
		t.Fatalf("verify: status %q, store break %v; want invalid with a store break naming %s", rep.Status, rep.Store, object)
	}
	if rep.Store.Trail != chainlog.TrailStore || !strings.Contains(rep.Store.Reason, object) {
		t.Errorf("store break %v; want trail %q and a reason naming %s", rep.Store, chainlog.TrailStore, object)
	}
}

// wantWriterRefuses checks that Open refuses the store with an error
// wrapping want and naming object, and leaves the file as it was.
func wantWriterRefuses(t *testing.T, path string, want error, object string) {
	t.Helper()
	sum := fileSHA(t, path)
	version := userVersion(t, path)
	st, err := sqlite.Open(t.Context(), path, sqlite.Options{})
	if err == nil {
		st.Close()
		t.Fatal("Open: no error; want a refusal")
	}
	if !errors.Is(err, want) || !strings.Contains(err.Error(), object) {
		t.Errorf("Open: %v; want an error wrapping %v that names %s", err, want, object)
	}
	if fileSHA(t, path) != sum || userVersion(t, path) != version {
		t.Error("a refused Open changed the file")
	}
}

// TestCheckStoreCorruptFile cuts 8 KiB off a store of a few thousand
// events: SQLite's own check fails, and verification is an error wrapping
// ErrCorrupt, never a report.
func TestCheckStoreCorruptFile(t *testing.T) {
	t.Parallel()
	var batches [][]chainlog.Event
	for i := 0; i < 3000; i += 500 {
		batches = append(batches, mkEvents(t, "node-a", i, i+500))
	}
	path := buildStore(t, sqlite.Options{}, batches...)
	if fileExists(path + "-wal") {
		t.Fatal("the closed store left a -wal file")
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(path, fi.Size()-8192); err != nil {
		t.Fatal(err)
	}
	for _, full := range []bool{false, true} {
		var opts []sqlite.ReadOption
		if full {
			opts = append(opts, sqlite.WithIntegrityCheck())
		}
		rep, err := verifyStore(t, path, opts...)
		if err == nil {
			t.Fatalf("verify (integrity_check %v) of a truncated file: status %q; want an error", full, rep.Status)
		}
		if !errors.Is(err, sqlite.ErrCorrupt) {
			t.Errorf("verify (integrity_check %v): %v; want an error wrapping ErrCorrupt", full, err)
		}
	}
}

// TestCheckStoreIntegrityCheck: an index that no longer holds its table's
// rows passes quick_check but not integrity_check.
func TestCheckStoreIntegrityCheck(t *testing.T) {
	t.Parallel()
	path := schemaStore(t)
	// The index entries of amendments_event stay; its table's row is
	// rewritten behind it with the index's definition changed and back.
	attack(t, path,
		rawSQL(`PRAGMA writable_schema = ON`),
		rawSQL(`UPDATE sqlite_schema SET sql = 'CREATE INDEX amendments_event ON amendments (event_id, seq) WHERE seq < 0' WHERE name = 'amendments_event'`))
	attack(t, path, rawSQL(`UPDATE amendments SET event_id = 'node-b/1'`))
	attack(t, path,
		rawSQL(`PRAGMA writable_schema = ON`),
		rawSQL(`UPDATE sqlite_schema SET sql = 'CREATE INDEX amendments_event ON amendments (event_id, seq)' WHERE name = 'amendments_event'`))
	if _, err := verifyStore(t, path); errors.Is(err, sqlite.ErrCorrupt) {
		t.Fatalf("quick_check found the stale index: %v; the test needs one only integrity_check finds", err)
	}
	// An index that disagrees with sound tables is tampering, not damage:
	// INVALID, naming the index, with whatever the rows show.
	rep, err := verifyStore(t, path, sqlite.WithIntegrityCheck())
	if err != nil {
		t.Fatalf("verify with integrity_check: %v; want a report", err)
	}
	if rep.Status != chainlog.StatusInvalid || rep.Store == nil || rep.Store.Reason != sqlite.ReasonIndexRows ||
		!strings.Contains(rep.Store.Detail, "amendments_event") {
		t.Errorf("verify with integrity_check: %s, store fault %+v; want invalid, %q naming amendments_event", rep.Status, rep.Store, sqlite.ReasonIndexRows)
	}
}

// TestSchemaObjectMissing drops each object the latest schema version requires:
// verification is INVALID naming it, and a writer refuses the store.
func TestSchemaObjectMissing(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		object string
		drop   []rawStmt
	}{
		{"column events.chain_hash", []rawStmt{rawSQL(`ALTER TABLE events DROP COLUMN chain_hash`)}},
		{"column events.chain_prev_hash", []rawStmt{rawSQL(`ALTER TABLE events DROP COLUMN chain_prev_hash`)}},
		{"column events.chain_seq", []rawStmt{rawSQL(`DROP INDEX events_node_seq`), rawSQL(`ALTER TABLE events DROP COLUMN chain_seq`)}},
		{"column events.payload_digest", []rawStmt{rawSQL(`ALTER TABLE events DROP COLUMN payload_digest`)}},
		{"column events.leaf_index", []rawStmt{rawSQL(`ALTER TABLE events DROP COLUMN leaf_index`)}},
		{"index events_node_seq", []rawStmt{rawSQL(`DROP INDEX events_node_seq`)}},
		{"table chain_heads", []rawStmt{rawSQL(`DROP TABLE chain_heads`)}},
		{"table amendments", []rawStmt{rawSQL(`DROP TABLE amendments`)}},
		{"index amendments_event", []rawStmt{rawSQL(`DROP INDEX amendments_event`)}},
		{"table amendment_head", []rawStmt{rawSQL(`DROP TABLE amendment_head`)}},
		{"table merkle_segments", []rawStmt{rawSQL(`DROP TABLE merkle_segments`)}},
		{"table tree_head", []rawStmt{rawSQL(`DROP TABLE tree_head`)}},
		{"table checkpoint_latest", []rawStmt{rawSQL(`DROP TABLE checkpoint_latest`)}},
		{"table event_ids", []rawStmt{rawSQL(`DROP TABLE event_ids`)}},
		{"table event_ids_upto", []rawStmt{rawSQL(`DROP TABLE event_ids_upto`)}},
		{"table cursors", []rawStmt{rawSQL(`DROP TABLE cursors`)}},
		{"table prune_ranges", []rawStmt{rawSQL(`DROP TABLE prune_ranges`)}},
		{"table forks", []rawStmt{rawSQL(`DROP TABLE forks`)}},
		{"index forks_node", []rawStmt{rawSQL(`DROP INDEX forks_node`)}},
	} {
		t.Run(tc.object, func(t *testing.T) {
			t.Parallel()
			path := schemaStore(t)
			attack(t, path, tc.drop...)
			rep, err := verifyStore(t, path)
			wantStoreBreak(t, rep, err, tc.object)
			if err == nil && rep.Store != nil && !strings.Contains(rep.Store.Reason, "missing") {
				t.Errorf("store break %v; want the object reported missing", rep.Store)
			}
			wantWriterRefuses(t, path, sqlite.ErrSchema, tc.object)
		})
	}
}

// TestSchemaObjectAltered changes chainlog's objects in place, through
// ALTER TABLE or by rewriting the schema's text (writable_schema), in ways
// that change what is read or written: verification is INVALID naming the
// object, and a writer refuses the store.
func TestSchemaObjectAltered(t *testing.T) {
	t.Parallel()
	rewrite := func(name, sql string) []rawStmt {
		return []rawStmt{rawSQL(`PRAGMA writable_schema = ON`),
			rawSQL(`UPDATE sqlite_schema SET sql = ?1 WHERE name = ?2`, sql, name)}
	}
	eventsSQL := func(t *testing.T, path string) string {
		return rawValue(t, path, `SELECT sql FROM sqlite_schema WHERE name = 'events'`)
	}
	for _, tc := range []struct {
		name, object string
		alter        func(t *testing.T, path string) []rawStmt
	}{
		{"partial chain index", "index events_node_seq", func(*testing.T, string) []rawStmt {
			return rewrite("events_node_seq", `CREATE UNIQUE INDEX events_node_seq ON events (node_id, chain_seq) WHERE chain_seq > 3`)
		}},
		{"chain index not unique", "index events_node_seq", func(*testing.T, string) []rawStmt {
			return rewrite("events_node_seq", `CREATE INDEX events_node_seq ON events (node_id, chain_seq)`)
		}},
		{"chain index on other columns", "index events_node_seq", func(*testing.T, string) []rawStmt {
			return rewrite("events_node_seq", `CREATE UNIQUE INDEX events_node_seq ON events (node_id, chain_seq, id)`)
		}},
		{"chain index with a collation", "index events_node_seq", func(*testing.T, string) []rawStmt {
			return rewrite("events_node_seq", `CREATE UNIQUE INDEX events_node_seq ON events (node_id COLLATE NOCASE, chain_seq)`)
		}},
		{"node_id with a collation", "column events.node_id", func(t *testing.T, path string) []rawStmt {
			return rewrite("events", strings.Replace(eventsSQL(t, path), "node_id      TEXT NOT NULL", "node_id TEXT NOT NULL COLLATE NOCASE", 1))
		}},
		{"cost_usd retyped", "column events.cost_usd", func(t *testing.T, path string) []rawStmt {
			return rewrite("events", strings.Replace(eventsSQL(t, path), "cost_usd     REAL", "cost_usd TEXT", 1))
		}},
		{"events without rowid", "table events", func(t *testing.T, path string) []rawStmt {
			// The hashes are blobs in columns declared TEXT, which a
			// STRICT table would refuse and SQLite's own check would
			// report: they are put back as hex text first (the same
			// hashes), so that it is chainlog's schema check that has
			// to find the change.
			hexed := rawSQL(`UPDATE events SET chain_prev_hash = lower(hex(chain_prev_hash)),
				chain_hash = lower(hex(chain_hash)), payload_digest = lower(hex(payload_digest))
				WHERE typeof(chain_hash) = 'blob'`)
			return append([]rawStmt{hexed}, rewrite("events", eventsSQL(t, path)+" STRICT")...)
		}},
		{"generated column", "column events.shadow", func(*testing.T, string) []rawStmt {
			return []rawStmt{rawSQL(`ALTER TABLE events ADD COLUMN shadow TEXT GENERATED ALWAYS AS (data) VIRTUAL`)}
		}},
		{"column hiding the rowid", "column events.rowid", func(t *testing.T, path string) []rawStmt {
			sql := eventsSQL(t, path)
			return rewrite("events", strings.TrimSuffix(sql, ")")+", rowid INTEGER)")
		}},
		{"column with a foreign key", "column events.owner", func(*testing.T, string) []rawStmt {
			return []rawStmt{rawSQL(`ALTER TABLE events ADD COLUMN owner TEXT REFERENCES chain_heads (node_id)`)}
		}},
		{"tree head with more than one row", "table tree_head", func(*testing.T, string) []rawStmt {
			return rewrite("tree_head", `CREATE TABLE tree_head (id INTEGER PRIMARY KEY, size INTEGER NOT NULL, root BLOB NOT NULL, updated_at TEXT NOT NULL)`)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			path := schemaStore(t)
			attack(t, path, tc.alter(t, path)...)
			rep, err := verifyStore(t, path)
			wantStoreBreak(t, rep, err, tc.object)
			wantWriterRefuses(t, path, sqlite.ErrSchema, tc.object)
		})
	}
}

// TestSchemaObjectUnknown adds objects chainlog does not create:
// triggers, views and indexes on its tables are INVALID and refused by a
// writer; another application's table in the same file is neither.
func TestSchemaObjectUnknown(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, object string
		add          []rawStmt
	}{
		{"trigger dropping inserts", "trigger drop_some on events", []rawStmt{rawSQL(
			`CREATE TRIGGER drop_some BEFORE INSERT ON events WHEN NEW.node_id = 'node-a' BEGIN SELECT RAISE(IGNORE); END`)}},
		{"trigger restoring heads", "trigger keep_head on chain_heads", []rawStmt{rawSQL(
			`CREATE TRIGGER keep_head AFTER UPDATE ON chain_heads BEGIN UPDATE chain_heads SET seq = OLD.seq, chain_hash = OLD.chain_hash WHERE node_id = OLD.node_id; END`)}},
		{"trigger on another table", "trigger elsewhere on notes", []rawStmt{
			rawSQL(`CREATE TABLE notes (body TEXT)`),
			rawSQL(`CREATE TRIGGER elsewhere AFTER INSERT ON notes BEGIN DELETE FROM chain_heads; END`)}},
		{"view", "view events_view", []rawStmt{rawSQL(`CREATE VIEW events_view AS SELECT * FROM events`)}},
		{"index on events", "index events_ts on events", []rawStmt{rawSQL(`CREATE INDEX events_ts ON events (ts)`)}},
		{"index on forks", "index forks_event on forks", []rawStmt{rawSQL(`CREATE INDEX forks_event ON forks (event_id)`)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			path := schemaStore(t)
			attack(t, path, tc.add...)
			rep, err := verifyStore(t, path)
			wantStoreBreak(t, rep, err, tc.object)
			if err == nil && rep.Store != nil && !strings.Contains(rep.Store.Reason, "does not create") {
				t.Errorf("store break %v; want an object chainlog does not create", rep.Store)
			}
			wantWriterRefuses(t, path, sqlite.ErrSchema, tc.object)
		})
	}

	t.Run("another application's table", func(t *testing.T) {
		t.Parallel()
		path := schemaStore(t)
		attack(t, path, rawSQL(`CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT UNIQUE)`),
			rawSQL(`CREATE INDEX notes_body ON notes (body)`))
		rep, err := verifyStore(t, path)
		if err != nil || rep.Status != chainlog.StatusValid {
			t.Fatalf("verify: %v, %+v; want VALID", err, rep)
		}
		st := openStore(t, path, sqlite.Options{})
		ingest(t, st, mkEvent(t, "node-a", 7))
		closeStore(t, st)
	})
}

// TestOpenRefusesSchemaObjectsBeforeMigrating: an older store with a
// trigger, a view or an index of another's on events is refused before any
// migration runs.
func TestOpenRefusesSchemaObjectsBeforeMigrating(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		object string
		add    rawStmt
	}{
		{"trigger events_append_only", rawSQL(`CREATE TRIGGER events_append_only BEFORE DELETE ON events BEGIN SELECT RAISE(ABORT, 'append-only'); END`)},
		{"view events_by_node", rawSQL(`CREATE VIEW events_by_node AS SELECT node_id, count(*) AS n FROM events GROUP BY node_id`)},
		{"index events_session_ts", rawSQL(`CREATE INDEX events_session_ts ON events (session_id, ts DESC) WHERE session_id IS NOT NULL`)},
	} {
		for _, fixture := range []string{clawMetryV0, chainlogV2} {
			t.Run(tc.object+"/"+filepath.Base(fixture), func(t *testing.T) {
				t.Parallel()
				path := copyFixture(t, fixture)
				attack(t, path, tc.add)
				wantWriterRefuses(t, path, sqlite.ErrSchema, tc.object)
			})
		}
	}
}

// TestOpenUnrelatedDatabase: a database with tables but no events table is
// refused unless Init asks to initialise it; then it is a store, and its
// own tables stay as they were.
func TestOpenUnrelatedDatabase(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "other.db")
	attackCreate(t, path, `CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)`, `INSERT INTO notes (body) VALUES ('hi')`)
	wantWriterRefuses(t, path, sqlite.ErrNotStore, "notes")

	st := openStore(t, path, sqlite.Options{Init: true})
	ingest(t, st, mkEvents(t, "node-a", 0, 3)...)
	closeStore(t, st)
	if got := rawQuery(t, path, `SELECT id, body FROM notes`); !reflect.DeepEqual(got, [][]string{{"1", "hi"}}) {
		t.Errorf("notes = %v; want its one row", got)
	}
	rep, err := verifyStore(t, path)
	if err != nil || rep.Status != chainlog.StatusValid || rep.Checked != 3 {
		t.Fatalf("verify: %v, %+v; want VALID with 3 events", err, rep)
	}
	// Now a store, it opens without Init.
	closeStore(t, openStore(t, path, sqlite.Options{}))
}

// TestIngestSwallowedInsert installs triggers that drop inserts silently
// while a writer has the store open, with the writer's schema check before
// each write turned off to reach the check behind it: the batch fails
// naming the table, and nothing is acknowledged, stored or added to the
// tree.
func TestIngestSwallowedInsert(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		table, trigger string
	}{
		{"events", `CREATE TRIGGER swallow BEFORE INSERT ON events WHEN NEW.node_id = 'node-b' BEGIN SELECT RAISE(IGNORE); END`},
		{"merkle_segments", `CREATE TRIGGER swallow BEFORE INSERT ON merkle_segments BEGIN SELECT RAISE(IGNORE); END`},
	} {
		t.Run(tc.table, func(t *testing.T) {
			t.Parallel()
			path := newStorePath(t)
			st := openStore(t, path, sqlite.Options{})
			sqlite.SkipSchemaRecheck(st)
			ingest(t, st, mkEvents(t, "node-a", 0, 3)...)
			attack(t, path, rawSQL(tc.trigger))
			before := dumpStore(t, path)
			tree := rawValue(t, path, `SELECT size FROM tree_head`)
			res, err := st.Ingest(t.Context(), append(mkEvents(t, "node-a", 3, 5), mkEvents(t, "node-b", 0, 2)...))
			if err == nil {
				t.Fatalf("Ingest = %+v; want an error", res)
			}
			if !errors.Is(err, sqlite.ErrTampered) || !strings.Contains(err.Error(), tc.table) {
				t.Errorf("Ingest: %v; want ErrTampered naming %s", err, tc.table)
			}
			if !reflect.DeepEqual(dumpStore(t, path), before) || rawValue(t, path, `SELECT size FROM tree_head`) != tree {
				t.Error("the failed batch changed the store")
			}
		})
	}

	t.Run("amendments", func(t *testing.T) {
		t.Parallel()
		path := newStorePath(t)
		st := openStore(t, path, sqlite.Options{})
		sqlite.SkipSchemaRecheck(st)
		ingest(t, st, mkEvents(t, "node-a", 0, 3)...)
		attack(t, path, rawSQL(`CREATE TRIGGER swallow BEFORE INSERT ON amendments BEGIN SELECT RAISE(IGNORE); END`))
		before := dumpStore(t, path)
		_, err := st.Amend(t.Context(), amendReq("node-a/1", "priced by hand", chainlog.Patch{Set: []string{chainlog.FieldModel},
			Values: chainlog.Mutable{Model: ptr("gpt-4o")}}))
		if !errors.Is(err, sqlite.ErrTampered) || !strings.Contains(err.Error(), "amendments") {
			t.Errorf("Amend: %v; want ErrTampered naming amendments", err)
		}
		if !reflect.DeepEqual(dumpStore(t, path), before) {
			t.Error("the failed amendment changed the store")
		}
	})
}

// TestHeadMovedBackwards rewinds a head between two writes of one writer:
// the write fails with ErrTampered, is not retried as if another writer
// had moved the head, and commits nothing.
func TestHeadMovedBackwards(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		rewind []rawStmt
		want   string
	}{
		{"chain head", []rawStmt{rawSQL(`UPDATE chain_heads SET seq = 2, chain_hash = (SELECT lower(hex(chain_hash)) FROM events WHERE node_id = 'node-a' AND chain_seq = 2) WHERE node_id = 'node-a'`)}, `node "node-a"`},
		{"chain head deleted", []rawStmt{rawSQL(`DELETE FROM chain_heads WHERE node_id = 'node-a'`)}, `node "node-a"`},
		{"tree head", []rawStmt{rawSQL(`UPDATE tree_head SET size = 2`)}, "tree head"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			path := newStorePath(t)
			warnings := &countingHandler{}
			st := openStore(t, path, sqlite.Options{Logger: slog.New(warnings)})
			ingest(t, st, mkEvents(t, "node-a", 0, 3)...)
			ingest(t, st, mkEvents(t, "node-a", 3, 5)...)
			attack(t, path, tc.rewind...)
			before := dumpStore(t, path)
			res, err := st.Ingest(t.Context(), mkEvents(t, "node-a", 5, 7))
			if err == nil {
				t.Fatalf("Ingest = %+v; want an error", res)
			}
			if !errors.Is(err, sqlite.ErrTampered) || errors.Is(err, chainlog.ErrConflict) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Ingest: %v; want ErrTampered naming %s", err, tc.want)
			}
			if n := warnings.count(); n > 0 {
				t.Errorf("%d retries logged; want none", n)
			}
			if !reflect.DeepEqual(dumpStore(t, path), before) {
				t.Error("the failed batch changed the store")
			}
			// It stays refused: the writer keeps what it committed.
			if _, err := st.Ingest(t.Context(), mkEvents(t, "node-a", 5, 7)); !errors.Is(err, sqlite.ErrTampered) {
				t.Errorf("second Ingest: %v; want ErrTampered", err)
			}
		})
	}

	t.Run("amendment head", func(t *testing.T) {
		t.Parallel()
		path := newStorePath(t)
		st := openStore(t, path, sqlite.Options{})
		ingest(t, st, mkEvents(t, "node-a", 0, 3)...)
		for _, m := range []string{"gpt-4o", "gpt-4o-mini"} {
			mustAmend(t, st, amendReq("node-a/1", "priced by hand", chainlog.Patch{Set: []string{chainlog.FieldModel},
				Values: chainlog.Mutable{Model: ptr(m)}}))
		}
		attack(t, path, rawSQL(`UPDATE amendment_head SET seq = 1, hash = (SELECT hash FROM amendments WHERE seq = 1)`))
		before := dumpStore(t, path)
		_, err := st.Amend(t.Context(), amendReq("node-a/2", "priced by hand", chainlog.Patch{Set: []string{chainlog.FieldModel},
			Values: chainlog.Mutable{Model: ptr("gpt-4o")}}))
		if !errors.Is(err, sqlite.ErrTampered) || !strings.Contains(err.Error(), "amendment head") {
			t.Errorf("Amend: %v; want ErrTampered naming the amendment head", err)
		}
		if !reflect.DeepEqual(dumpStore(t, path), before) {
			t.Error("the failed amendment changed the store")
		}
	})
}

// TestWriterRechecksSchema creates objects while a writer has the store
// open, including a trigger that deletes each row right after its insert
// (the insert itself changes one row): the next write checks the schema
// again, fails with ErrSchema naming the object, and commits nothing.
func TestWriterRechecksSchema(t *testing.T) {
	t.Parallel()
	amend := func(st *sqlite.Store) error {
		_, err := st.Amend(t.Context(), amendReq("node-a/1", "priced by hand", chainlog.Patch{Set: []string{chainlog.FieldModel},
			Values: chainlog.Mutable{Model: ptr("gpt-4o")}}))
		return err
	}
	ingestMore := func(st *sqlite.Store) error {
		_, err := st.Ingest(t.Context(), mkEvents(t, "node-a", 3, 5))
		return err
	}
	for _, tc := range []struct {
		name, object string
		add          rawStmt
		write        func(st *sqlite.Store) error
	}{
		{"trigger undoing inserts", "trigger undo on events",
			rawSQL(`CREATE TRIGGER undo AFTER INSERT ON events BEGIN DELETE FROM events WHERE rowid = NEW.rowid; END`),
			ingestMore},
		{"view", "view recent",
			rawSQL(`CREATE VIEW recent AS SELECT * FROM events`),
			ingestMore},
		{"trigger undoing amendments", "trigger undo on amendments",
			rawSQL(`CREATE TRIGGER undo AFTER INSERT ON amendments BEGIN DELETE FROM amendments WHERE seq = NEW.seq; END`),
			amend},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			path := newStorePath(t)
			st := openStore(t, path, sqlite.Options{})
			ingest(t, st, mkEvents(t, "node-a", 0, 3)...)
			attack(t, path, tc.add)
			before := dumpStore(t, path)
			err := tc.write(st)
			if !errors.Is(err, sqlite.ErrSchema) || !strings.Contains(err.Error(), tc.object) {
				t.Errorf("write: %v; want ErrSchema naming %s", err, tc.object)
			}
			if !reflect.DeepEqual(dumpStore(t, path), before) {
				t.Error("the refused write changed the store")
			}
		})
	}
}

// TestCheckStoreAcceptsChainlogSchemas: every schema ClawMetry and chainlog
// legitimately produce passes the store check, read as it is and after a
// writer migrated it.
func TestCheckStoreAcceptsChainlogSchemas(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		make func(t *testing.T) string
	}{
		{"new store", func(t *testing.T) string { return schemaStore(t) }},
		{"empty new store", func(t *testing.T) string { return buildStore(t, sqlite.Options{}) }},
		{"clawmetry-v0 fixture", func(t *testing.T) string { return copyFixture(t, clawMetryV0) }},
		{"chainlog-v2 fixture", func(t *testing.T) string { return copyFixture(t, chainlogV2) }},
		{"ClawMetry store with chain hashes", func(t *testing.T) string { path, _ := clawMetryChained(t); return path }},
		{"version 4 with extra columns", func(t *testing.T) string {
			path := schemaStore(t)
			downgradeToV4(t, path, []string{`"note" TEXT NOT NULL DEFAULT 'none'`, `weight REAL`})
			return path
		}},
		{"version 5", func(t *testing.T) string {
			path := schemaStore(t)
			downgradeToV5(t, path)
			return path
		}},
		{"version 7", func(t *testing.T) string {
			path := schemaStore(t)
			downgradeToV7(t, path)
			return path
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			path := tc.make(t)
			for _, stage := range []string{"as it is", "migrated"} {
				if stage == "migrated" {
					closeStore(t, openStore(t, path, sqlite.Options{}))
				}
				st := openRO(t, path)
				b, err := st.CheckStore(t.Context())
				if err != nil || b != nil {
					t.Errorf("%s (version %d): CheckStore = %v, %v; want no fault", stage, userVersion(t, path), b, err)
				}
				closeStore(t, st)
			}
		})
	}
}
