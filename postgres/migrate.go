package postgres

import (
	"context"
	"embed"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

//go:embed migrations/*.sql
var migrationFS embed.FS

// A migration moves the schema from version-1 to version, in one
// transaction that also records the version in chainlog_schema.
type migration struct {
	version int
	file    string
}

var migrations = []migration{
	{version: 1, file: "migrations/0001_init.sql"},
	{version: 2, file: "migrations/0002_forks.sql"},
}

// SchemaVersion is the schema version this package writes.
var SchemaVersion = migrations[len(migrations)-1].version

// migrateLock is the advisory lock that two writers opening one database
// at once take, so that one of them migrates and the other waits.
const migrateLock = 0x636861696e6c6f67 // "chainlog"

// schemaVersion returns the schema's version; 0 when it has no chainlog
// tables.
func schemaVersion(ctx context.Context, q interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}) (int, error) {
	var exists bool
	if err := q.QueryRow(ctx, `SELECT to_regclass('chainlog_schema') IS NOT NULL`).Scan(&exists); err != nil {
		return 0, fmt.Errorf("read schema version: %w", err)
	}
	if !exists {
		return 0, nil
	}
	var v int
	if err := q.QueryRow(ctx, `SELECT version FROM chainlog_schema`).Scan(&v); err != nil {
		return 0, fmt.Errorf("read schema version: %w", err)
	}
	return v, nil
}

// migrate brings the schema up to SchemaVersion.
func migrate(ctx context.Context, pool *pgxpool.Pool) error {
	return pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, int64(migrateLock)); err != nil {
			return err
		}
		v, err := schemaVersion(ctx, tx)
		if err != nil {
			return err
		}
		if v > SchemaVersion {
			return fmt.Errorf("store schema version %d is newer than this chainlog supports (%d): upgrade chainlog", v, SchemaVersion)
		}
		if v == 0 {
			if _, err := tx.Exec(ctx, `CREATE TABLE chainlog_schema (version INTEGER NOT NULL);
				INSERT INTO chainlog_schema (version) VALUES (0)`); err != nil {
				return fmt.Errorf("create chainlog_schema: %w", err)
			}
		}
		for _, m := range migrations {
			if m.version <= v {
				continue
			}
			text, err := migrationFS.ReadFile(m.file)
			if err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, string(text)); err != nil {
				return fmt.Errorf("migration %d (%s): %w", m.version, m.file, err)
			}
			if _, err := tx.Exec(ctx, `UPDATE chainlog_schema SET version = $1`, m.version); err != nil {
				return fmt.Errorf("migration %d: %w", m.version, err)
			}
		}
		return nil
	})
}
