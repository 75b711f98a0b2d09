package sqlite

import (
	"errors"
	"strings"
	"testing"

	"chainlog"

	"zombiezen.com/go/sqlite"
	"zombiezen.com/go/sqlite/sqlitex"
)

// TestCasRow moves a head row through casRow: the first head is inserted
// once, a move from the stored values succeeds, and a move from any other
// values, a second first head, or a row that is gone changes nothing and
// is ErrConflict naming the head. A table that is gone is an error.
func TestCasRow(t *testing.T) {
	t.Parallel()
	conn, err := sqlite.OpenConn(":memory:")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	if err := sqlitex.ExecuteTransient(conn, `CREATE TABLE h (id INTEGER PRIMARY KEY, n INTEGER, root BLOB, at TEXT)`, nil); err != nil {
		t.Fatal(err)
	}
	const (
		insert = `INSERT INTO h (id, n, root, at) VALUES (1, ?1, ?2, ?3) ON CONFLICT (id) DO NOTHING`
		update = `UPDATE h SET n = ?1, root = ?2, at = ?3 WHERE id = 1 AND n = ?4 AND root = ?5`
	)
	move := func(set, old []any) error { return casRow(conn, "test head", insert, update, set, old) }
	stored := func() (n int64, root string) {
		t.Helper()
		err := sqlitex.ExecuteTransient(conn, `SELECT n, root FROM h`, &sqlitex.ExecOptions{
			ResultFunc: func(stmt *sqlite.Stmt) error {
				n, root = stmt.ColumnInt64(0), stmt.ColumnText(1)
				return nil
			}})
		if err != nil {
			t.Fatal(err)
		}
		return n, root
	}
	conflict := func(step string, err error) {
		t.Helper()
		if !errors.Is(err, chainlog.ErrConflict) || !strings.Contains(err.Error(), "test head") {
			t.Errorf("%s: %v; want ErrConflict naming the test head", step, err)
		}
	}

	if err := move([]any{int64(1), []byte("r1"), "t1"}, nil); err != nil {
		t.Fatalf("first head: %v", err)
	}
	conflict("second first head", move([]any{int64(1), []byte("r9"), "t9"}, nil))
	if err := move([]any{int64(2), []byte("r2"), "t2"}, []any{int64(1), []byte("r1")}); err != nil {
		t.Fatalf("move from the stored head: %v", err)
	}
	for _, old := range [][]any{
		{int64(1), []byte("r1")}, // behind
		{int64(2), []byte("rX")}, // same size, other root
		{int64(3), []byte("r2")}, // ahead
	} {
		conflict("move from another head", move([]any{int64(4), []byte("r4"), "t4"}, old))
	}
	if n, root := stored(); n != 2 || root != "r2" {
		t.Errorf("after the conflicts the row is %d %q; want 2 \"r2\"", n, root)
	}
	if err := sqlitex.ExecuteTransient(conn, `DELETE FROM h`, nil); err != nil {
		t.Fatal(err)
	}
	conflict("move of a deleted row", move([]any{int64(3), []byte("r3"), "t3"}, []any{int64(2), []byte("r2")}))
	if err := move([]any{int64(1), 1.5, "t"}, nil); err == nil || !strings.Contains(err.Error(), "float64") {
		t.Errorf("unbindable value: %v; want an error naming its type", err)
	}
	if err := sqlitex.ExecuteTransient(conn, `DROP TABLE h`, nil); err != nil {
		t.Fatal(err)
	}
	if err := move([]any{int64(3), []byte("r3"), "t3"}, []any{int64(2), []byte("r2")}); err == nil || errors.Is(err, chainlog.ErrConflict) || !strings.Contains(err.Error(), "move test head") {
		t.Errorf("move in a dropped table: %v; want an error naming the head, not a conflict", err)
	}
}

func TestBehind(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		was     int64
		wasHash string
		n       int64
		hash    string
		want    bool
	}{
		{3, "c", 3, "c", false}, // unchanged
		{3, "c", 5, "e", false}, // moved forward
		{3, "c", 2, "b", true},  // fewer entries
		{3, "c", 0, "", true},   // gone
		{3, "c", 3, "x", true},  // as many, another hash
		{0, "", 0, "", false},   // genesis
	} {
		if got := behind(c.was, c.wasHash, c.n, c.hash); got != c.want {
			t.Errorf("behind(%d %q, %d %q) = %v; want %v", c.was, c.wasHash, c.n, c.hash, got, c.want)
		}
	}
}
