// Package pgtest gives each test its own PostgreSQL schema on the server
// that CHAINLOG_TEST_POSTGRES names, so that tests run in parallel on one
// database. Without the variable the tests skip, saying why.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"testing"
	"time"

	"chainlog/postgres"

	"github.com/jackc/pgx/v5"
)

// Env names the connection string of the server the tests use, for
// example postgres://postgres@127.0.0.1:5432/test?sslmode=disable.
const Env = "CHAINLOG_TEST_POSTGRES"

// Schema creates a fresh schema, drops it when the test ends, and returns
// a connection string whose search_path is that schema. It skips the test
// when Env is not set.
func Schema(tb testing.TB) string {
	tb.Helper()
	base := os.Getenv(Env)
	if base == "" {
		tb.Skipf("%s is not set: the PostgreSQL tests need a server (e.g. %s=postgres://postgres@127.0.0.1:5432/test?sslmode=disable)", Env, Env)
	}
	var b [6]byte
	if _, err := rand.Read(b[:]); err != nil {
		tb.Fatal(err)
	}
	name := "chainlog_test_" + hex.EncodeToString(b[:])
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		tb.Fatalf("connect to %s: %v", Env, err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, `CREATE SCHEMA `+name); err != nil {
		tb.Fatalf("create schema %s: %v", name, err)
	}
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, base)
		if err != nil {
			tb.Errorf("drop schema %s: %v", name, err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, `DROP SCHEMA `+name+` CASCADE`); err != nil {
			tb.Errorf("drop schema %s: %v", name, err)
		}
	})
	dsn, err := postgres.WithSchema(base, name)
	if err != nil {
		tb.Fatalf("%s: %v", Env, err)
	}
	return dsn
}

// Exec runs sql on dsn's schema, as someone who can write the database
// behind the store's back would.
func Exec(tb testing.TB, dsn, sql string, args ...any) {
	tb.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		tb.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, sql, args...); err != nil {
		tb.Fatalf("%s: %v", sql, err)
	}
}
