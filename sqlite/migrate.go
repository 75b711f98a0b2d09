package sqlite

import (
	"embed"
	"fmt"
	"strings"

	"zombiezen.com/go/sqlite"
	"zombiezen.com/go/sqlite/sqlitex"
)

//go:embed migrations/*.sql
var migrationFS embed.FS

// A migration moves the schema from version-1 to version. Migrations run in
// one transaction each and record their version in PRAGMA user_version.
type migration struct {
	version int
	file    string
	before  func(conn *sqlite.Conn) error // runs before the file, may be nil
	after   func(conn *sqlite.Conn) error // runs after the file, may be nil
}

var migrations = []migration{
	{version: 1, file: "migrations/0001_events.sql"},
	{version: 2, file: "migrations/0002_chain.sql", before: addChainColumns, after: adoptClawMetryChains},
	{version: 3, file: "migrations/0003_amendments.sql", before: addPayloadDigestColumn},
	{version: 4, file: "migrations/0004_merkle.sql", before: addLeafColumn, after: buildTree},
	{version: 5, file: "migrations/0005_id_index.sql", before: rebuildEventsTable, after: buildIDIndex},
	{version: cursorsVersion, file: "migrations/0006_cursors.sql"},
	{version: prunesVersion, file: "migrations/0007_prunes.sql"},
	{version: forksVersion, file: "migrations/0008_forks.sql"},
	{version: binaryHashesVersion, file: "migrations/0009_binary_hashes.sql"},
}

// binaryHashesVersion is the schema version from which the events table
// keeps its hashes as 32-byte blobs (see hashcol.go).
const binaryHashesVersion = 9

// SchemaVersion is the schema version this package writes.
var SchemaVersion = migrations[len(migrations)-1].version

func userVersion(conn *sqlite.Conn) (int, error) {
	var v int
	err := sqlitex.ExecuteTransient(conn, "PRAGMA user_version", &sqlitex.ExecOptions{
		ResultFunc: func(stmt *sqlite.Stmt) error { v = stmt.ColumnInt(0); return nil },
	})
	return v, err
}

// migrate brings the schema up to SchemaVersion.
func migrate(conn *sqlite.Conn) error {
	v, err := userVersion(conn)
	if err != nil {
		return err
	}
	if v > SchemaVersion {
		return fmt.Errorf("store schema version %d is newer than this chainlog supports (%d): upgrade chainlog", v, SchemaVersion)
	}
	for _, m := range migrations {
		if m.version <= v {
			continue
		}
		if err := runMigration(conn, m); err != nil {
			return fmt.Errorf("migration %d (%s): %w", m.version, m.file, err)
		}
	}
	return nil
}

func runMigration(conn *sqlite.Conn, m migration) (err error) {
	end, err := sqlitex.ImmediateTransaction(conn)
	if err != nil {
		return err
	}
	defer end(&err)
	if m.before != nil {
		if err := m.before(conn); err != nil {
			return err
		}
	}
	if err := sqlitex.ExecuteScriptFS(conn, migrationFS, m.file, nil); err != nil {
		return err
	}
	if m.after != nil {
		if err := m.after(conn); err != nil {
			return err
		}
	}
	return sqlitex.ExecuteTransient(conn, fmt.Sprintf("PRAGMA user_version = %d", m.version), nil)
}

// columns returns the column names of table.
func columns(conn *sqlite.Conn, table string) (map[string]bool, error) {
	cols := map[string]bool{}
	err := sqlitex.ExecuteTransient(conn, "SELECT name FROM pragma_table_info(?)", &sqlitex.ExecOptions{
		Args:       []any{table},
		ResultFunc: func(stmt *sqlite.Stmt) error { cols[stmt.ColumnText(0)] = true; return nil },
	})
	return cols, err
}

// addChainColumns adds the chain columns that the events table lacks.
func addChainColumns(conn *sqlite.Conn) error {
	return addColumns(conn, "events", [][2]string{
		{"chain_prev_hash", "TEXT"}, {"chain_hash", "TEXT"}, {"chain_seq", "INTEGER"},
	})
}

// addColumns adds each {name, type} column that table lacks.
func addColumns(conn *sqlite.Conn, table string, cols [][2]string) error {
	have, err := columns(conn, table)
	if err != nil {
		return err
	}
	for _, c := range cols {
		if have[c[0]] {
			continue
		}
		q := fmt.Sprintf("ALTER TABLE %s ADD COLUMN %s %s", table, c[0], c[1])
		if err := sqlitex.ExecuteTransient(conn, q, nil); err != nil {
			return err
		}
	}
	return nil
}

// addPayloadDigestColumn adds events.payload_digest where it is missing.
// Rows already present keep NULL: they are unsealed.
func addPayloadDigestColumn(conn *sqlite.Conn) error {
	return addColumns(conn, "events", [][2]string{{"payload_digest", "TEXT"}})
}

// adoptClawMetryChains numbers rows that a ClawMetry store stamped with a
// chain hash but no sequence number, in their insertion order per node, and
// records a head for every node that has stamped rows but no head. On a store
// without such rows it changes nothing.
func adoptClawMetryChains(conn *sqlite.Conn) error {
	const number = `
UPDATE events SET chain_seq = (
    SELECT n FROM (
        SELECT rowid AS r, ROW_NUMBER() OVER (PARTITION BY node_id ORDER BY rowid) AS n
        FROM events WHERE chain_hash IS NOT NULL
    ) WHERE r = events.rowid)
WHERE chain_hash IS NOT NULL AND chain_seq IS NULL`
	const heads = `
INSERT INTO chain_heads (node_id, chain_hash, seq, updated_at)
SELECT e.node_id, e.chain_hash, e.chain_seq, strftime('%Y-%m-%dT%H:%M:%fZ', 'now')
FROM events e
WHERE e.chain_seq = (SELECT MAX(chain_seq) FROM events WHERE node_id = e.node_id)
  AND e.node_id NOT IN (SELECT node_id FROM chain_heads)`
	for _, q := range []string{number, heads} {
		if err := sqlitex.ExecuteTransient(conn, strings.TrimSpace(q), nil); err != nil {
			return err
		}
	}
	return nil
}
