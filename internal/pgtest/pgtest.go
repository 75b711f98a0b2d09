// Package pgtest gives each test its own PostgreSQL schema on the server
// that CHAINLOG_TEST_POSTGRES names, so that tests run in parallel on one
// database. Without the variable the tests skip, saying why.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net"
	"os"
	"os/exec"
	"strings"
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

// ClusterEnv, set to 1, lets tests create PostgreSQL clusters of their own
// (Cluster): they need root and Debian's pg_createcluster.
const ClusterEnv = "CHAINLOG_TEST_PG_CLUSTER"

// Cluster is a throwaway PostgreSQL 15 cluster that one test owns, so that
// it may stop the server without disturbing the tests that share Env's.
type Cluster struct {
	tb   testing.TB
	Name string
	Port string
	// DSN connects to the cluster's postgres database.
	DSN string
}

// NewCluster creates and starts a cluster on a free loopback port, with
// trust authentication, and drops it when the test ends. It skips the
// test unless ClusterEnv is 1 and pg_createcluster is on PATH.
func NewCluster(tb testing.TB) *Cluster {
	tb.Helper()
	if os.Getenv(ClusterEnv) != "1" {
		tb.Skipf("%s is not 1: this test creates, stops and drops a PostgreSQL cluster of its own (as root, with pg_createcluster)", ClusterEnv)
	}
	if _, err := exec.LookPath("pg_createcluster"); err != nil {
		tb.Skipf("%s=1 but pg_createcluster is not on PATH: %v", ClusterEnv, err)
	}
	var b [4]byte
	if _, err := rand.Read(b[:]); err != nil {
		tb.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	ln.Close()
	c := &Cluster{tb: tb, Name: "chainlog_test_" + hex.EncodeToString(b[:]), Port: port}
	c.DSN = "postgres://postgres@127.0.0.1:" + port + "/postgres?sslmode=disable"
	c.run("pg_createcluster", "15", c.Name, "-p", port, "--", "--auth=trust")
	tb.Cleanup(func() {
		cmd := exec.Command("pg_dropcluster", "15", c.Name, "--stop")
		if out, err := cmd.CombinedOutput(); err != nil {
			tb.Errorf("pg_dropcluster 15 %s --stop: %v\n%s", c.Name, err, out)
		}
	})
	c.Start()
	return c
}

func (c *Cluster) run(args ...string) {
	c.tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, args[0], args[1:]...).CombinedOutput()
	if err != nil {
		c.tb.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// Start starts the cluster and waits until it takes connections.
func (c *Cluster) Start() {
	c.tb.Helper()
	c.run("pg_ctlcluster", "--skip-systemctl-redirect", "15", c.Name, "start")
	deadline := time.Now().Add(30 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		conn, err := pgx.Connect(ctx, c.DSN)
		if err == nil {
			conn.Close(ctx)
			cancel()
			return
		}
		cancel()
		if time.Now().After(deadline) {
			c.tb.Fatalf("cluster %s on port %s: %v", c.Name, c.Port, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// StopImmediate stops the server at once (-m immediate): every connection
// is cut, and no checkpoint is written, as in a crash.
func (c *Cluster) StopImmediate() {
	c.tb.Helper()
	c.run("pg_ctlcluster", "--skip-systemctl-redirect", "15", c.Name, "stop", "-m", "immediate")
}
