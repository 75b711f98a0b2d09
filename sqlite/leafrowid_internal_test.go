package sqlite

import (
	"fmt"
	"testing"

	"zombiezen.com/go/sqlite"
	"zombiezen.com/go/sqlite/sqlitex"
)

// TestLeafRowid finds each leaf's row by its search over rowids, on a
// table with rows that hold no leaf (before, between and after the
// leaves, and gaps in rowids), and falls back to reading the table where
// the leaves are out of rowid order.
func TestLeafRowid(t *testing.T) {
	t.Parallel()
	conn, err := sqlite.OpenConn(":memory:")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	exec := func(q string, args ...any) {
		t.Helper()
		if err := sqlitex.Execute(conn, q, &sqlitex.ExecOptions{Args: args}); err != nil {
			t.Fatal(err)
		}
	}
	exec(`CREATE TABLE events (id TEXT, leaf_index INTEGER)`)
	want := map[int64]int64{} // leaf → rowid
	rowid, leaf := int64(5), int64(0)
	for i := range 500 {
		rowid += 1 + int64(i%3) // gaps
		if i%7 == 3 || i < 10 {
			exec(`INSERT INTO events (rowid, id) VALUES (?1, ?2)`, rowid, fmt.Sprint("pre", i))
			continue
		}
		exec(`INSERT INTO events (rowid, id, leaf_index) VALUES (?1, ?2, ?3)`, rowid, fmt.Sprint("ev", i), leaf)
		want[leaf] = rowid
		leaf++
	}
	exec(`INSERT INTO events (rowid, id) VALUES (?1, 'last')`, rowid+1)
	for l := int64(-1); l <= leaf; l++ {
		got, err := leafRowid(conn, l)
		if err != nil || got != want[l] {
			t.Fatalf("leafRowid(%d) = %d, %v; want %d", l, got, err, want[l])
		}
	}
	// Two leaves swapped: the search misses them, the fallback finds them.
	exec(`UPDATE events SET leaf_index = -1 WHERE leaf_index = 100`)
	exec(`UPDATE events SET leaf_index = 100 WHERE leaf_index = 300`)
	exec(`UPDATE events SET leaf_index = 300 WHERE leaf_index = -1`)
	for l, w := range map[int64]int64{100: want[300], 300: want[100], 200: want[200]} {
		if got, err := leafRowid(conn, l); err != nil || got != w {
			t.Fatalf("after the swap, leafRowid(%d) = %d, %v; want %d", l, got, err, w)
		}
	}
}
