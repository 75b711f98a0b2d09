package bench

import (
	"context"
	crand "crypto/rand"
	"encoding/hex"
	"fmt"
	"sync"
	"time"

	"chainlog"
	"chainlog/postgres"

	"github.com/jackc/pgx/v5"
)

// postgresMeasures measures the PostgreSQL store at cfg.Store, cfg.Runs
// times, each run in a schema of its own that it drops afterwards: ingest
// with everything on by one collector and by two collectors writing one
// schema at once, verify-integrity in a child process (rate and peak
// memory), proofs, and the tables' size.
func postgresMeasures(ctx context.Context, cfg Config, say func(string)) ([]Measure, error) {
	var one, two, verify, rss, proveMs, checkMs, size []float64
	for run := 1; run <= cfg.Runs; run++ {
		say(fmt.Sprintf("run %d/%d: PostgreSQL ingest, everything on, one collector", run, cfg.Runs))
		err := withSchema(ctx, cfg.Store, func(dsn string) error {
			st, err := postgres.Open(ctx, dsn, postgres.Options{})
			if err != nil {
				return err
			}
			defer st.Close()
			var ids []string
			spent, err := ingestInto(ctx, cfg, st, cfg.events(), cfg.Events, &ids)
			if err != nil {
				return err
			}
			one = append(one, float64(cfg.Events)/spent.Seconds())
			say(fmt.Sprintf("run %d/%d: PostgreSQL verify-integrity", run, cfg.Runs))
			rv, mem, err := verifyChild(ctx, dsn, cfg.Events)
			if err != nil {
				return err
			}
			verify, rss = append(verify, rv), append(rss, mem)
			say(fmt.Sprintf("run %d/%d: PostgreSQL proofs", run, cfg.Runs))
			pg, pv, err := proveIn(ctx, st, ids)
			if err != nil {
				return err
			}
			proveMs, checkMs = append(proveMs, pg), append(checkMs, pv)
			b, err := tableBytes(ctx, dsn)
			size = append(size, float64(b)/float64(cfg.Events))
			return err
		})
		if err != nil {
			return nil, err
		}
		say(fmt.Sprintf("run %d/%d: PostgreSQL ingest, everything on, two collectors on one schema", run, cfg.Runs))
		if err := withSchema(ctx, cfg.Store, func(dsn string) error {
			rate, err := collectorsRun(ctx, cfg, dsn, 2)
			two = append(two, rate)
			return err
		}); err != nil {
			return nil, err
		}
	}
	return []Measure{
		newMeasure("PostgreSQL ingest, everything on, one collector", "events/s", one),
		newMeasure("PostgreSQL ingest, everything on, two collectors on one schema (together)", "events/s", two),
		newMeasure("PostgreSQL verify-integrity, child process", "events/s", verify),
		newMeasure("PostgreSQL verify-integrity peak memory (RSS)", "MiB", rss),
		newMeasure("PostgreSQL proof generation, median", "ms", proveMs),
		newMeasure("PostgreSQL offline proof verification, median", "ms", checkMs),
		newMeasure("PostgreSQL tables and indexes", "bytes/event", size),
	}, nil
}

// collectorsRun ingests cfg.Events through n stores, each with its own
// pool and its own nodes, at once, and returns the events per second of
// all of them together (wall time).
func collectorsRun(ctx context.Context, cfg Config, dsn string, n int) (float64, error) {
	stores := make([]*postgres.Store, n)
	for i := range stores {
		st, err := postgres.Open(ctx, dsn, postgres.Options{})
		if err != nil {
			return 0, err
		}
		defer st.Close()
		stores[i] = st
	}
	var wg sync.WaitGroup
	errs := make([]error, n)
	start := time.Now()
	for i, st := range stores {
		wg.Add(1)
		go func() {
			defer wg.Done()
			gen := newGeneratorOf(fmt.Sprintf("c%d-node", i), cfg.Nodes, uint64(i+1))
			gen.realistic = cfg.Payload != PayloadSmall
			_, errs[i] = ingestInto(ctx, cfg, st, gen, cfg.Events/n, nil)
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	for _, err := range errs {
		if err != nil {
			return 0, err
		}
	}
	return float64(cfg.Events/n*n) / elapsed.Seconds(), nil
}

// withSchema runs fn on a fresh schema of the database at base, and drops
// the schema afterwards.
func withSchema(ctx context.Context, base string, fn func(dsn string) error) error {
	var b [6]byte
	if _, err := crand.Read(b[:]); err != nil {
		return err
	}
	name := "chainlog_bench_" + hex.EncodeToString(b[:])
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		return fmt.Errorf("bench: connect: %w", err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, `CREATE SCHEMA `+name); err != nil {
		return fmt.Errorf("bench: create schema: %w", err)
	}
	defer conn.Exec(context.Background(), `DROP SCHEMA `+name+` CASCADE`)
	dsn, err := postgres.WithSchema(base, name)
	if err != nil {
		return err
	}
	return fn(dsn)
}

// tableBytes is the size of the schema's tables with their indexes and
// TOAST.
func tableBytes(ctx context.Context, dsn string) (int64, error) {
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return 0, err
	}
	defer conn.Close(context.Background())
	var n int64
	err = conn.QueryRow(ctx, `SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0)::bigint FROM pg_class c
		WHERE c.relnamespace = current_schema()::regnamespace AND c.relkind = 'r'`).Scan(&n)
	return n, err
}

var _ chainlog.Store = (*postgres.Store)(nil)
