package sqlite

import (
	"fmt"

	"chainlog"

	"zombiezen.com/go/sqlite"
)

// casRow moves one head row by compare-and-swap. Every head moves through
// it: the chain heads, the amendment head, the tree head, the latest
// checkpoint and the id index's bound.
//
// When old is nil the row must not exist yet: insert runs, an INSERT ...
// ON CONFLICT DO NOTHING binding set as ?1, ?2, .... Otherwise update runs,
// an UPDATE ... WHERE <key> AND <old values> binding set and then old. A
// statement that changed no row lost the race: the row is not where the
// writer read it, and the error is chainlog.ErrConflict naming what. Only a
// re-read tells another writer's move from a head moved back (behind).
func casRow(conn *sqlite.Conn, what, insert, update string, set, old []any) error {
	query := update
	if old == nil {
		query = insert
	}
	stmt, err := conn.Prepare(query) // not Prep: a dropped table is an error, not a panic
	if err != nil {
		return fmt.Errorf("move %s: %w", what, err)
	}
	defer stmt.Reset()
	for i, v := range append(set, old...) {
		switch v := v.(type) {
		case int64:
			stmt.BindInt64(i+1, v)
		case string:
			stmt.BindText(i+1, v)
		case []byte:
			stmt.BindBytes(i+1, v)
		default:
			return fmt.Errorf("move %s: cannot bind %T", what, v)
		}
	}
	if _, err := stmt.Step(); err != nil {
		return fmt.Errorf("move %s: %w", what, err)
	}
	if conn.Changes() != 1 {
		return fmt.Errorf("%w: %s", chainlog.ErrConflict, what)
	}
	return nil
}

// oneRowChanged checks that the statement just run changed exactly one
// row of table: a trigger's RAISE(IGNORE) drops a row without an error,
// and a row that was not stored must never be acknowledged nor signed.
func oneRowChanged(conn *sqlite.Conn, table string) error {
	if n := conn.Changes(); n != 1 {
		return fmt.Errorf("%w: the write to %s changed %d rows, not 1", ErrTampered, table, n)
	}
	return nil
}

// behind reports whether a head read now, n entries ending in id, is
// behind the one this writer last committed or read, was entries ending in
// wasID: fewer entries, or as many with another hash. Other writers only
// move a head forward, so a head behind is ErrTampered, not a conflict.
func behind[H comparable](was int64, wasID H, n int64, id H) bool {
	return n < was || n == was && id != wasID
}
