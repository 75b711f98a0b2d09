package sqlite_test

import (
	"errors"
	"reflect"
	"strings"
	"testing"

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
