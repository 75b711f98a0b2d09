package bench

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"chainlog"
	"chainlog/sqlite"

	zs "zombiezen.com/go/sqlite"
	"zombiezen.com/go/sqlite/sqlitex"
)

// The limits bound chainlog's paths from the hardware's side, measured in
// the same run, on the same events and disk, so that a path's figure can
// be read as a ratio to them rather than as an absolute that differs from
// machine to machine:
//
//   - bare write: the rows alone, appended to a SQLite table with no index,
//     chain or tree, one transaction per batch, with the store's pragmas
//     (WAL, synchronous = FULL, ...). No SQLite writer of these rows with
//     this durability does less.
//   - ClawMetry's way: a PRIMARY KEY on the random ids and the chain (the
//     root package's rule, Head.Next) computed per row, heads kept in
//     memory; what a store with a naive id index and a chain costs.
//   - JSONL: each event as export writes it appended to a file, fsync per
//     batch; the cost of durable bytes without a database.
//   - bare read: a SELECT of the columns verify-integrity reads (see
//     ScanCommitOrder in sqlite/verifyscan.go) of every row of the
//     everything-on store, stepping only, one connection.

// bareColumns are the events' own columns, as integrity off writes them.
const bareColumns = `id, agent_type, node_id, agent_id, session_id, workspace_id, event_type, ts,
	data, cost_usd, token_count, model, created_at`

const (
	bareTable = `CREATE TABLE events (id TEXT NOT NULL, agent_type TEXT NOT NULL, node_id TEXT NOT NULL,
	agent_id TEXT NOT NULL, session_id TEXT, workspace_id TEXT, event_type TEXT NOT NULL, ts TEXT NOT NULL,
	data TEXT, cost_usd REAL, token_count INTEGER, model TEXT, created_at TEXT NOT NULL)`
	bareInsert = `INSERT INTO events (` + bareColumns + `) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)`

	// ClawMetry's events table, as migration 1 finds it, with its two
	// chain columns.
	pkTable = `CREATE TABLE events (id TEXT PRIMARY KEY, agent_type TEXT NOT NULL, node_id TEXT NOT NULL,
	agent_id TEXT NOT NULL, session_id TEXT, workspace_id TEXT, event_type TEXT NOT NULL, ts TEXT NOT NULL,
	data TEXT, cost_usd REAL, token_count INTEGER, model TEXT, created_at TEXT NOT NULL,
	chain_prev_hash TEXT, chain_hash TEXT)`
	pkInsert = `INSERT INTO events (` + bareColumns + `, chain_prev_hash, chain_hash)
	VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)`

	// verifiedColumns are the events columns verify-integrity reads of a
	// store with everything on and no amendments.
	verifiedColumns = `id, agent_type, node_id, agent_id, session_id, workspace_id, event_type, ts,
	chain_seq, chain_prev_hash, chain_hash, data, cost_usd, token_count, model, payload_digest, leaf_index`
)

// createdAtLayout is how a store writes created_at.
const createdAtLayout = "2006-01-02T15:04:05.000Z"

// openBare opens a new SQLite database at path with the store's writer
// pragmas and creates table in it.
func openBare(path, table string) (*zs.Conn, error) {
	conn, err := zs.OpenConn(path, zs.OpenReadWrite, zs.OpenCreate)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", filepath.Base(path), err)
	}
	for _, p := range append(sqlite.WriterPragmas(), table) {
		if err := sqlitex.ExecuteTransient(conn, p, nil); err != nil {
			conn.Close()
			return nil, fmt.Errorf("%s: %w", p, err)
		}
	}
	return conn, nil
}

// rowWriter writes one batch of events in one transaction and returns the
// time it took.
type rowWriter func(batch []chainlog.Event) (time.Duration, error)

// writeEvents feeds cfg.Events of the run's events to write in batches of
// cfg.Batch and returns events per second, counting only the time spent
// in write.
func writeEvents(cfg Config, write rowWriter) (float64, error) {
	gen := cfg.events()
	batch := make([]chainlog.Event, cfg.Batch)
	var spent time.Duration
	for done := 0; done < cfg.Events; {
		n := min(cfg.Batch, cfg.Events-done)
		for i := range batch[:n] {
			gen.next(&batch[i])
		}
		d, err := write(batch[:n])
		if err != nil {
			return 0, err
		}
		spent += d
		done += n
	}
	return float64(cfg.Events) / spent.Seconds(), nil
}

// sqlWriter is a rowWriter into conn: BEGIN, an insert per event whose
// arguments bind sets, COMMIT.
func sqlWriter(conn *zs.Conn, insert string, bind func(stmt *zs.Stmt, e *chainlog.Event, createdAt string)) rowWriter {
	return func(batch []chainlog.Event) (time.Duration, error) {
		start := time.Now()
		stmt, err := conn.Prepare(insert)
		if err != nil {
			return 0, err
		}
		if err := sqlitex.ExecuteTransient(conn, "BEGIN IMMEDIATE", nil); err != nil {
			return 0, err
		}
		createdAt := time.Now().UTC().Format(createdAtLayout)
		for i := range batch {
			bind(stmt, &batch[i], createdAt)
			_, err := stmt.Step()
			if rerr := stmt.Reset(); err == nil {
				err = rerr
			}
			if err != nil {
				sqlitex.ExecuteTransient(conn, "ROLLBACK", nil)
				return 0, fmt.Errorf("insert %s: %w", batch[i].ID, err)
			}
		}
		if err := sqlitex.ExecuteTransient(conn, "COMMIT", nil); err != nil {
			return 0, err
		}
		return time.Since(start), nil
	}
}

// bindEvent binds e's own columns, as bareInsert numbers them.
func bindEvent(stmt *zs.Stmt, e *chainlog.Event, createdAt string) {
	stmt.BindText(1, e.ID)
	stmt.BindText(2, e.AgentType)
	stmt.BindText(3, e.NodeID)
	stmt.BindText(4, e.AgentID)
	bindNullText(stmt, 5, e.SessionID)
	bindNullText(stmt, 6, e.WorkspaceID)
	stmt.BindText(7, e.EventType)
	stmt.BindText(8, e.TS)
	if e.Data == nil {
		stmt.BindNull(9)
	} else {
		stmt.BindText(9, string(e.Data)) // as the store binds it: TEXT
	}
	if e.CostUSD == nil {
		stmt.BindNull(10)
	} else {
		stmt.BindFloat(10, *e.CostUSD)
	}
	if e.TokenCount == nil {
		stmt.BindNull(11)
	} else {
		stmt.BindInt64(11, *e.TokenCount)
	}
	bindNullText(stmt, 12, e.Model)
	stmt.BindText(13, createdAt)
}

func bindNullText(stmt *zs.Stmt, i int, s *string) {
	if s == nil {
		stmt.BindNull(i)
	} else {
		stmt.BindText(i, *s)
	}
}

// bareWriteRun writes the run's events into a plain table at path and
// returns events per second.
func bareWriteRun(cfg Config, path string) (float64, error) {
	conn, err := openBare(path, bareTable)
	if err != nil {
		return 0, err
	}
	defer conn.Close()
	return writeEvents(cfg, sqlWriter(conn, bareInsert, bindEvent))
}

// pkChainRun writes the run's events as ClawMetry does: into a table
// keyed by id, each row stamped with its node's chain by Head.Next. It
// returns events per second.
func pkChainRun(cfg Config, path string) (float64, error) {
	conn, err := openBare(path, pkTable)
	if err != nil {
		return 0, err
	}
	defer conn.Close()
	heads := make(map[string]chainlog.Head)
	var hs chainlog.Hasher
	return writeEvents(cfg, sqlWriter(conn, pkInsert, func(stmt *zs.Stmt, e *chainlog.Event, createdAt string) {
		bindEvent(stmt, e, createdAt)
		h := heads[e.NodeID]
		next := h.Next(&hs, e, createdAt)
		stmt.BindText(14, h.Prev())
		stmt.BindText(15, next.Hash)
		heads[e.NodeID] = next
	}))
}

// jsonlRun appends the run's events, each as export writes it, to a new
// file at path, with an fsync per batch, and returns events per second.
func jsonlRun(cfg Config, path string) (float64, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL|os.O_APPEND, 0o600)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	w := bufio.NewWriterSize(f, 1<<20)
	rate, err := writeEvents(cfg, func(batch []chainlog.Event) (time.Duration, error) {
		start := time.Now()
		for i := range batch {
			line, err := chainlog.StoredEvent{Event: batch[i]}.MarshalJSON()
			if err != nil {
				return 0, fmt.Errorf("encode %s: %w", batch[i].ID, err)
			}
			w.Write(line)
			w.WriteByte('\n')
		}
		if err := w.Flush(); err != nil {
			return 0, err
		}
		if err := f.Sync(); err != nil {
			return 0, err
		}
		return time.Since(start), nil
	})
	if err != nil {
		return 0, err
	}
	return rate, f.Close()
}

// bareReadRun selects the verified columns of every row of the store at
// path, in rowid order, on one connection, and only steps through them.
// It checks that events rows were read and returns rows per second.
func bareReadRun(ctx context.Context, path string, events int) (float64, error) {
	conn, err := zs.OpenConn(path, zs.OpenReadOnly)
	if err != nil {
		return 0, fmt.Errorf("open %s: %w", filepath.Base(path), err)
	}
	defer conn.Close()
	conn.SetInterrupt(ctx.Done())
	start := time.Now()
	stmt, err := conn.Prepare(`SELECT ` + verifiedColumns + ` FROM events NOT INDEXED ORDER BY rowid`)
	if err != nil {
		return 0, err
	}
	defer stmt.Reset()
	rows := 0
	for {
		ok, err := stmt.Step()
		if err != nil {
			return 0, err
		}
		if !ok {
			break
		}
		rows++
	}
	elapsed := time.Since(start)
	if rows != events {
		return 0, fmt.Errorf("bench: bare read stepped %d rows, want %d", rows, events)
	}
	return float64(rows) / elapsed.Seconds(), nil
}

// limitRuns gathers the limits and the paths' ratios to them, run by run.
type limitRuns struct {
	bareWrite, pkChain, jsonl, bareRead []float64
	// ratios, within each run
	offBare, onBare, onPK, onJSONL, cliBare, cliOn, pkBare, verifyRead []float64
}

// writes measures the three write limits for one run, each into its own
// new file under dir, removed afterwards.
func (l *limitRuns) writes(cfg Config, dir string, run int, say func(string)) error {
	for i, w := range []struct {
		name string
		dst  *[]float64
		fn   func(Config, string) (float64, error)
		rm   func(string)
	}{
		{"bare write (plain SQLite table)", &l.bareWrite, bareWriteRun, removeStore},
		{"ClawMetry's way (PRIMARY KEY on ids, chain per row)", &l.pkChain, pkChainRun, removeStore},
		{"JSONL file, fsync per batch", &l.jsonl, jsonlRun, func(p string) { os.Remove(p) }},
	} {
		say(fmt.Sprintf("run %d/%d: limit, %s", run, cfg.Runs, w.name))
		path := filepath.Join(dir, fmt.Sprintf("limit-%d-%d", i, run))
		rate, err := w.fn(cfg, path)
		w.rm(path)
		if err != nil {
			return fmt.Errorf("limit %s: %w", w.name, err)
		}
		*w.dst = append(*w.dst, rate)
	}
	return nil
}

// read measures the bare read limit on the everything-on store at path.
func (l *limitRuns) read(ctx context.Context, cfg Config, path string, run int, say func(string)) error {
	say(fmt.Sprintf("run %d/%d: limit, bare read", run, cfg.Runs))
	rate, err := bareReadRun(ctx, path, cfg.Events)
	if err != nil {
		return fmt.Errorf("limit bare read: %w", err)
	}
	l.bareRead = append(l.bareRead, rate)
	return nil
}

// ratios records one run's paths as ratios to the same run's limits:
// ingest with integrity off and everything on, chainlog ingest and
// verify-integrity.
func (l *limitRuns) ratios(off, on, cli, verify float64) {
	i := len(l.bareRead) - 1
	bw, pk, jl, br := l.bareWrite[i], l.pkChain[i], l.jsonl[i], l.bareRead[i]
	l.offBare = append(l.offBare, off/bw)
	l.onBare = append(l.onBare, on/bw)
	l.onPK = append(l.onPK, on/pk)
	l.onJSONL = append(l.onJSONL, on/jl)
	l.cliBare = append(l.cliBare, cli/bw)
	l.cliOn = append(l.cliOn, cli/on)
	l.pkBare = append(l.pkBare, pk/bw)
	l.verifyRead = append(l.verifyRead, verify/br)
}

// measures are the limits and the ratios, medians over the runs.
func (l *limitRuns) measures() []Measure {
	return []Measure{
		newMeasure("limit: bare write, plain SQLite table, store's pragmas", "events/s", l.bareWrite),
		newMeasure("limit: ClawMetry's way, PRIMARY KEY on ids, chain per row", "events/s", l.pkChain),
		newMeasure("limit: JSONL file, fsync per batch", "events/s", l.jsonl),
		newMeasure("limit: bare read of the verified columns, one connection", "events/s", l.bareRead),
		newMeasure("ratio ingest integrity off / bare write", "", l.offBare),
		newMeasure("ratio ingest everything on / bare write", "", l.onBare),
		newMeasure("ratio ingest everything on / ClawMetry's way", "", l.onPK),
		newMeasure("ratio ingest everything on / JSONL", "", l.onJSONL),
		newMeasure("ratio chainlog ingest / bare write", "", l.cliBare),
		newMeasure("ratio chainlog ingest / ingest everything on", "", l.cliOn),
		newMeasure("ratio ClawMetry's way / bare write", "", l.pkBare),
		newMeasure("ratio verify-integrity / bare read", "", l.verifyRead),
	}
}
