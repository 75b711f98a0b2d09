package sqlite_test

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"chainlog"
	"chainlog/sqlite"

	"golang.org/x/mod/sumdb/tlog"
	zsqlite "zombiezen.com/go/sqlite"
	zsqlitex "zombiezen.com/go/sqlite/sqlitex"
)

// The writer's own checks: before it appends, it refuses a store whose
// tree or id index was damaged, so that nothing is committed on top of it.

// flipStoredHash flips one byte of stored Merkle hash idx in
// merkle_segments of the closed store at path.
func flipStoredHash(t *testing.T, path string, idx int64) {
	t.Helper()
	conn, err := zsqlite.OpenConn(path, zsqlite.OpenReadWrite)
	if err != nil {
		t.Fatalf("attacker open %s: %v", path, err)
	}
	defer conn.Close()
	var start int64 = -1
	var blob []byte
	err = zsqlitex.Execute(conn, `SELECT start, hashes FROM merkle_segments WHERE start <= ?1 ORDER BY start DESC LIMIT 1`,
		&zsqlitex.ExecOptions{Args: []any{idx}, ResultFunc: func(stmt *zsqlite.Stmt) error {
			start = stmt.ColumnInt64(0)
			blob = make([]byte, stmt.ColumnLen(1))
			stmt.ColumnBytes(1, blob)
			return nil
		}})
	if err != nil || start < 0 {
		t.Fatalf("read the segment of hash %d: %v (start %d)", idx, err, start)
	}
	off := (idx-start)*tlog.HashSize + 7
	if off >= int64(len(blob)) {
		t.Fatalf("hash %d is not in the segment at %d (%d bytes)", idx, start, len(blob))
	}
	blob[off] ^= 0x01
	if err := zsqlitex.Execute(conn, `UPDATE merkle_segments SET hashes = ?1 WHERE start = ?2`,
		&zsqlitex.ExecOptions{Args: []any{blob, start}}); err != nil {
		t.Fatalf("write the segment at %d: %v", start, err)
	}
}

func TestIngestRefusesAlteredTree(t *testing.T) {
	// 10 leaves in three batches: the frontier is the root of leaves 0-7
	// (stored hash (3, 0)) and of leaves 8-9 (stored hash (1, 4)).
	tests := []struct {
		name   string
		attack func(t *testing.T, path string)
	}{
		{"largest frontier hash flipped", func(t *testing.T, path string) {
			flipStoredHash(t, path, tlog.StoredHashIndex(3, 0))
		}},
		{"smallest frontier hash flipped", func(t *testing.T, path string) {
			flipStoredHash(t, path, tlog.StoredHashIndex(1, 4))
		}},
		{"tree_head root changed", func(t *testing.T, path string) {
			attack(t, path, rawSQL(`UPDATE tree_head SET root = zeroblob(32)`))
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := buildStore(t, sqlite.Options{}, mkEvents(t, "n1", 0, 4), mkEvents(t, "n2", 0, 3), mkEvents(t, "n1", 4, 7))
			tc.attack(t, path)
			before := dumpStore(t, path)
			st := openStore(t, path, sqlite.Options{})
			_, err := st.Ingest(t.Context(), mkEvents(t, "n2", 3, 5))
			if !errors.Is(err, sqlite.ErrTreeMismatch) {
				t.Fatalf("Ingest on an altered tree: err = %v, want ErrTreeMismatch", err)
			}
			if !strings.Contains(err.Error(), "at size 10") {
				t.Errorf("error %q does not name the tree's size", err)
			}
			closeStore(t, st)
			if after := dumpStore(t, path); !reflect.DeepEqual(after, before) {
				t.Errorf("the refused batch changed the store")
			}
		})
	}
}

func TestIngestTreeCheckPassesAfterAnotherWriter(t *testing.T) {
	// A writer whose cached tree head is stale (another writer appended
	// since) is not mistaken for tampering: it retries on the new head.
	path := buildStore(t, sqlite.Options{}, mkEvents(t, "n1", 0, 3))
	a := openStore(t, path, sqlite.Options{})
	b := openStore(t, path, sqlite.Options{})
	ingest(t, a, mkEvents(t, "n1", 3, 6)...)
	if res := ingest(t, b, mkEvents(t, "n2", 0, 4)...); res.Inserted != 4 {
		t.Fatalf("stale writer inserted %d, want 4", res.Inserted)
	}
	closeStore(t, a)
	closeStore(t, b)
	wantValid(t, verifyPath(t, path, ""), 10, 0)
}

// TestIngestRefusesLyingIDIndex damages the id index of a closed store in
// ways that keep its tables in place, so that it would answer "not stored"
// for stored ids. A writer opened afterwards must refuse to ingest, before
// storing anything again.
func TestIngestRefusesLyingIDIndex(t *testing.T) { forKeyModes(t, testIngestRefusesLyingIDIndex) }

func testIngestRefusesLyingIDIndex(t *testing.T, opts sqlite.Options) {
	const mergeAt = 4
	opts.IDTailMergeAt = mergeAt
	for _, tc := range []struct{ name, damage string }{
		{"every key deleted", `DELETE FROM event_ids`},
		{"one key deleted", `DELETE FROM event_ids WHERE rid = (SELECT rowid FROM events WHERE id = 'node-a/1')`},
		{"bound raised over the tail", `UPDATE event_ids_upto SET upto = upto + 2`},
		{"bound lowered", `UPDATE event_ids_upto SET upto = 3`},
		{"key added", `INSERT INTO event_ids (h, rid) VALUES (42, 1)`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// Batches of 3, 3, 2: merged after the 6th row, 2 rows in the tail.
			stored := mkEvents(t, "node-a", 0, 8)
			path := buildStore(t, opts, stored[:3], stored[3:6], stored[6:])
			if got := idUpto(t, path); got != 6 {
				t.Fatalf("event_ids_upto = %d, want 6", got)
			}
			attack(t, path, rawSQL(tc.damage))
			before := dumpStore(t, path)
			st := openStore(t, path, opts)
			res, err := st.Ingest(t.Context(), append(stored, mkEvent(t, "node-a", 8)))
			if !errors.Is(err, sqlite.ErrIDIndexDamaged) {
				t.Fatalf("Ingest on a damaged id index = %+v, %v; want ErrIDIndexDamaged", res, err)
			}
			if !strings.Contains(err.Error(), "event_ids") {
				t.Errorf("error %q does not name event_ids", err)
			}
			closeStore(t, st)
			if !reflect.DeepEqual(dumpStore(t, path), before) {
				t.Error("the refused batch changed the store")
			}
		})
	}
}

// TestIngestNoticesIDIndexDamagedWhileOpen damages the id index under an
// open writer that holds a copy of its keys: re-delivering an id whose key
// was removed or changed is refused, not stored again.
func TestIngestNoticesIDIndexDamagedWhileOpen(t *testing.T) {
	t.Parallel()
	const mergeAt = 4
	opts := sqlite.Options{IDTailMergeAt: mergeAt, IDKeySetAfter: -1}
	for _, tc := range []struct{ name, damage string }{
		{"key deleted", `DELETE FROM event_ids WHERE rid = (SELECT rowid FROM events WHERE id = 'node-a/1')`},
		{"key changed", `UPDATE event_ids SET h = h + 1 WHERE rid = (SELECT rowid FROM events WHERE id = 'node-a/1')`},
		{"rowid changed", `UPDATE event_ids SET rid = rid + 1000 WHERE rid = (SELECT rowid FROM events WHERE id = 'node-a/1')`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			stored := mkEvents(t, "node-a", 0, 8)
			path := newStorePath(t)
			st := openStore(t, path, opts)
			for _, b := range [][]chainlog.Event{stored[:3], stored[3:6], stored[6:]} {
				ingest(t, st, b...)
			}
			if got := tierOf(t, path, "node-a/1"); got != "merged" {
				t.Fatalf("node-a/1 is %s; want merged", got)
			}
			attack(t, path, rawSQL(tc.damage))
			n := eventCount(t, path)
			res, err := st.Ingest(t.Context(), []chainlog.Event{mkEvent(t, "node-a", 1)})
			if !errors.Is(err, sqlite.ErrIDIndexDamaged) {
				t.Fatalf("re-delivering node-a/1 = %+v, %v; want ErrIDIndexDamaged", res, err)
			}
			if got := eventCount(t, path); got != n {
				t.Errorf("events: %d, want %d", got, n)
			}
		})
	}
}

// TestIngestNoticesKeysLostUnderOpenWriter deletes a key under an open
// writer that has no copy of the keys: another connection's commit makes
// the writer count the index again at its next batch, which is refused.
func TestIngestNoticesKeysLostUnderOpenWriter(t *testing.T) {
	t.Parallel()
	const mergeAt = 4
	// The writer counted the index at its first batch, just now: recount
	// at the next one all the same.
	opts := sqlite.Options{IDTailMergeAt: mergeAt, IDKeySetAfter: 1 << 30, IDRecheckEvery: -1}
	path := newStorePath(t)
	st := openStore(t, path, opts)
	ingest(t, st, mkEvents(t, "node-a", 0, 4)...)
	ingest(t, st, mkEvents(t, "node-a", 4, 6)...)
	if got := idUpto(t, path); got != 4 {
		t.Fatalf("event_ids_upto = %d, want 4", got)
	}
	attack(t, path, rawSQL(`DELETE FROM event_ids WHERE rid = 2`))
	n := eventCount(t, path)
	// node-a/1 is the event at rowid 2: without the check it is stored again.
	res, err := st.Ingest(t.Context(), mkEvents(t, "node-a", 1, 2))
	if !errors.Is(err, sqlite.ErrIDIndexDamaged) {
		t.Fatalf("re-delivering node-a/1 after its key was deleted = %+v, %v; want ErrIDIndexDamaged", res, err)
	}
	if got := eventCount(t, path); got != n {
		t.Errorf("events: %d, want %d", got, n)
	}
}

// TestIngestAfterTailRowDeleted deletes a row of the tail (after
// event_ids_upto) under an open writer. The id index is intact, so the
// writer goes on ingesting, whether or not it counts the index again at
// that batch: the count compares event_ids with the events up to its bound
// as the batch's transaction sees them, not with the rows the writer read
// in earlier transactions.
func TestIngestAfterTailRowDeleted(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		recheck time.Duration
	}{
		{"recounted", -1},
		{"not recounted", time.Hour},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			opts := sqlite.Options{IDTailMergeAt: 4, IDKeySetAfter: 1 << 30, IDRecheckEvery: tc.recheck}
			path := newStorePath(t)
			st := openStore(t, path, opts)
			ingest(t, st, mkEvents(t, "node-a", 0, 4)...)
			ingest(t, st, mkEvents(t, "node-a", 4, 6)...)
			if got, want := idUpto(t, path), int64(4); got != want {
				t.Fatalf("event_ids_upto = %d, want %d", got, want)
			}
			if got := tierOf(t, path, "node-a/5"); got != "tail" {
				t.Fatalf("node-a/5 is %s; want tail", got)
			}
			attack(t, path, rawSQL(`DELETE FROM events WHERE id = 'node-a/5'`))
			n := eventCount(t, path)
			res, err := st.Ingest(t.Context(), mkEvents(t, "node-b", 0, 2))
			if err != nil || res.Inserted != 2 {
				t.Fatalf("Ingest after a tail row was deleted = %+v, %v; want 2 inserted", res, err)
			}
			if got, want := eventCount(t, path), n+2; got != want {
				t.Errorf("events: %d, want %d", got, want)
			}
		})
	}
}
