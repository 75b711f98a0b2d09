package sqlite_test

import (
	"reflect"
	"slices"
	"testing"

	"chainlog"
	"chainlog/sqlite"
)

// downgradeToV5 turns the store at path (at SchemaVersion, closed) into
// one as schema version 5 left it: no cursors, prune_ranges or forks table.
func downgradeToV5(t *testing.T, path string) {
	t.Helper()
	attack(t, path, rawSQL(`DROP TABLE cursors`), rawSQL(`DROP TABLE prune_ranges`), rawSQL(`DROP TABLE forks`), rawSQL(`PRAGMA user_version = 5`))
}

// TestMigrateToCursors upgrades a version 5 store: migration 6 adds the
// cursors table and changes nothing else; before it, a read-only store
// reads no cursors and passes the store check; after it, cursors commit
// with events.
func TestMigrateToCursors(t *testing.T) {
	t.Parallel()
	path := schemaStore(t)
	downgradeToV5(t, path)
	oldRows := exportPath(t, path, "")
	oldCols, oldExtras := eventsSchema(t, path)

	ro := openRO(t, path)
	if b, err := ro.CheckStore(t.Context()); err != nil || b != nil {
		t.Errorf("version 5: CheckStore = %v, %v; want no fault", b, err)
	}
	if cs, err := ro.Cursors(t.Context(), ""); err != nil || len(cs) != 0 {
		t.Errorf("version 5, read-only: Cursors = %+v, %v; want none", cs, err)
	}
	closeStore(t, ro)

	st := openStore(t, path, sqlite.Options{})
	if v := userVersion(t, path); v != sqlite.SchemaVersion {
		t.Errorf("user_version = %d; want SchemaVersion %d", v, sqlite.SchemaVersion)
	}
	if cols := tableColumns(t, path, "cursors"); !cols["byte_offset"] || !cols["file_id"] {
		t.Errorf("cursors columns after migration: %v", cols)
	}
	if got := exportStore(t, st, ""); !reflect.DeepEqual(got, oldRows) {
		t.Errorf("rows changed by migration 6: %d rows, want %d as before", len(got), len(oldRows))
	}
	cols, extras := eventsSchema(t, path)
	if !reflect.DeepEqual(cols, oldCols) || !reflect.DeepEqual(extras, oldExtras) {
		t.Errorf("events schema changed by migration 6:\n%v %v\nwant\n%v %v", cols, extras, oldCols, oldExtras)
	}
	c := chainlog.Cursor{Source: "codex", Path: "/s/r.jsonl", Offset: 12, FileID: "3:4", Size: 12}
	if _, err := st.Ingest(t.Context(), mkEvents(t, "node-c", 0, 2), c); err != nil {
		t.Fatalf("ingest after migration: %v", err)
	}
	if cs, err := st.Cursors(t.Context(), "codex"); err != nil || !slices.Equal(cs, []chainlog.Cursor{c}) {
		t.Errorf("Cursors after migration = %+v, %v; want [%+v]", cs, err, c)
	}
	closeStore(t, st)
	wantValid(t, verifyPath(t, path, ""), int64(len(oldRows)+2), 0)
}

// TestIngestGroupsCursors: cursors given with several groups commit in the
// one transaction, the later cursor of a file winning.
func TestIngestGroupsCursors(t *testing.T) {
	t.Parallel()
	st := openStore(t, newStorePath(t), sqlite.Options{})
	defer closeStore(t, st)
	first := chainlog.Cursor{Source: "claude_code", Path: "/p/a.jsonl", Offset: 10, Size: 10}
	later := first
	later.Offset, later.Size = 25, 25
	res, err := st.IngestGroups(t.Context(), [][]chainlog.Event{mkEvents(t, "n", 0, 2), mkEvents(t, "n", 2, 3)}, first, later)
	if err != nil || len(res) != 2 || res[0].Inserted != 2 || res[1].Inserted != 1 {
		t.Fatalf("IngestGroups = %+v, %v", res, err)
	}
	if cs, err := st.Cursors(t.Context(), ""); err != nil || !slices.Equal(cs, []chainlog.Cursor{later}) {
		t.Errorf("Cursors = %+v, %v; want [%+v]", cs, err, later)
	}
}
