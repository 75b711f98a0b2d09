package sqlite

import (
	"context"
	"fmt"

	"chainlog"

	"zombiezen.com/go/sqlite"
	"zombiezen.com/go/sqlite/sqlitex"
)

// cursorsVersion is the schema version that adds the cursors table.
const cursorsVersion = 6

const upsertCursor = `
INSERT INTO cursors (source, path, byte_offset, file_id, size, updated_at)
VALUES (?1, ?2, ?3, ?4, ?5, ?6)
ON CONFLICT (source, path) DO UPDATE SET
    byte_offset = excluded.byte_offset, file_id = excluded.file_id,
    size = excluded.size, updated_at = excluded.updated_at`

// writeCursors upserts cursors inside the ingest transaction; the first
// invalid one fails it, and with it the whole batch.
func (s *Store) writeCursors(conn *sqlite.Conn, cursors []chainlog.Cursor, now string) error {
	if len(cursors) == 0 {
		return nil
	}
	stmt, err := s.prep(conn, upsertCursor)
	if err != nil {
		return fmt.Errorf("cursors: %w", err)
	}
	for i := range cursors {
		c := &cursors[i]
		if err := c.Validate(); err != nil {
			return err
		}
		stmt.BindText(1, c.Source)
		stmt.BindText(2, c.Path)
		stmt.BindInt64(3, c.Offset)
		stmt.BindText(4, c.FileID)
		stmt.BindInt64(5, c.Size)
		stmt.BindText(6, now)
		_, err := stmt.Step()
		stmt.Reset()
		if err != nil {
			return fmt.Errorf("cursor of %s: %w", c.Path, err)
		}
	}
	return nil
}

// Cursors returns the stored cursors of source (every source when it is
// empty), ordered by source, then path. A store whose schema predates
// cursors (read-only, not migrated) has none.
func (s *Store) Cursors(ctx context.Context, source string) ([]chainlog.Cursor, error) {
	var out []chainlog.Cursor
	err := s.withConn(ctx, func(conn *sqlite.Conn) error {
		if s.readOnly {
			v, err := userVersion(conn)
			if err != nil {
				return err
			}
			if v < cursorsVersion {
				return nil
			}
		}
		return sqlitex.Execute(conn, `SELECT source, path, byte_offset, file_id, size FROM cursors
			WHERE ?1 = '' OR source = ?1 ORDER BY source, path`, &sqlitex.ExecOptions{
			Args: []any{source},
			ResultFunc: func(stmt *sqlite.Stmt) error {
				out = append(out, chainlog.Cursor{Source: stmt.ColumnText(0), Path: stmt.ColumnText(1),
					Offset: stmt.ColumnInt64(2), FileID: stmt.ColumnText(3), Size: stmt.ColumnInt64(4)})
				return nil
			},
		})
	})
	if err != nil {
		return nil, fmt.Errorf("cursors: %w", err)
	}
	return out, nil
}
