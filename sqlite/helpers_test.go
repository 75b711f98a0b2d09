package sqlite_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"chainlog"
	"chainlog/sqlite"

	zsqlite "zombiezen.com/go/sqlite"
	zsqlitex "zombiezen.com/go/sqlite/sqlitex"
)

// These helpers build real stores in t.TempDir() through the public API
// (Open, Ingest, BackfillCosts, Close), read them back through OpenReadOnly
// as verify-integrity and export do, and tamper with them through a raw
// zombiezen connection, as someone with write access to the file would.

// testClock returns a clock for Options.Now that starts at a fixed instant
// and moves one millisecond a call, so created_at values are deterministic
// and distinct.
func testClock() func() time.Time {
	var mu sync.Mutex
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	n := 0
	return func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		n++
		return t0.Add(time.Duration(n) * time.Millisecond)
	}
}

// newStorePath returns the path of a store file that does not exist yet.
func newStorePath(t *testing.T) string {
	t.Helper()
	return filepath.Join(t.TempDir(), "chainlog.db")
}

// openStore opens path for writing. The store is closed at cleanup; closing
// it earlier (to tamper with the file) is fine, Close is idempotent. A path
// that does not exist starts as a copy of the empty store that Open created
// once for the package (emptyStore): the same file, without migrating again.
func openStore(t *testing.T, path string, opts sqlite.Options) *sqlite.Store {
	t.Helper()
	if _, err := os.Lstat(path); errors.Is(err, fs.ErrNotExist) {
		copyEmptyStore(t, path)
	}
	return openFresh(t, path, opts)
}

// openFresh is openStore without the copy: at a path that does not exist,
// Open creates the store itself, and its schema is in the -wal file.
func openFresh(t *testing.T, path string, opts sqlite.Options) *sqlite.Store {
	t.Helper()
	if opts.Now == nil {
		opts.Now = testClock()
	}
	st, err := sqlite.Open(t.Context(), path, opts)
	if err != nil {
		t.Fatalf("Open(%s): %v", path, err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// templateDir holds the package's empty store, made once by emptyStore and
// removed by TestMain.
var templateDir string

// emptyStore returns the contents of a store that Open created and closed
// with nothing in it.
var emptyStore = sync.OnceValues(func() ([]byte, error) {
	path := filepath.Join(templateDir, "empty.db")
	st, err := sqlite.Open(context.Background(), path, sqlite.Options{})
	if err != nil {
		return nil, err
	}
	if err := st.Close(); err != nil {
		return nil, err
	}
	for _, suffix := range []string{"-wal", "-shm", "-journal"} {
		if fileExists(path + suffix) {
			return nil, fmt.Errorf("closed empty store left %s%s", path, suffix)
		}
	}
	return os.ReadFile(path)
})

// copyEmptyStore writes the empty store at path, creating its directory.
func copyEmptyStore(t *testing.T, path string) {
	t.Helper()
	b, err := emptyStore()
	if err != nil {
		t.Fatalf("empty store: %v", err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "chainlog-sqlite-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	templateDir = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// openRO opens path read-only; the store is closed at cleanup.
func openRO(t *testing.T, path string) *sqlite.Store {
	t.Helper()
	st, err := sqlite.OpenReadOnly(t.Context(), path)
	if err != nil {
		t.Fatalf("OpenReadOnly(%s): %v", path, err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func closeStore(t *testing.T, st *sqlite.Store) {
	t.Helper()
	if err := st.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
}

func ingest(t *testing.T, st *sqlite.Store, events ...chainlog.Event) chainlog.IngestResult {
	t.Helper()
	res, err := st.Ingest(t.Context(), events)
	if err != nil {
		t.Fatalf("Ingest(%d events): %v", len(events), err)
	}
	return res
}

// buildStore creates a store at a fresh path, ingests each batch in its own
// Ingest call, closes it and returns the path.
func buildStore(t *testing.T, opts sqlite.Options, batches ...[]chainlog.Event) string {
	t.Helper()
	path := newStorePath(t)
	st := openStore(t, path, opts)
	for _, b := range batches {
		ingest(t, st, b...)
	}
	closeStore(t, st)
	return path
}

// verifyPath verifies the store at path through a read-only open, as
// verify-integrity does.
func verifyPath(t *testing.T, path, nodeID string) *chainlog.Report {
	t.Helper()
	st := openRO(t, path)
	defer st.Close()
	rep, err := chainlog.VerifyStore(t.Context(), st, chainlog.VerifyOptions{NodeID: nodeID, Walk: true})
	if err != nil {
		t.Fatalf("VerifyStore(%q): %v", nodeID, err)
	}
	checkOnePass(t, path, nodeID, nil)
	return chainsOf(rep)
}

// chainsOf is rep as the chains and the amendment trail alone report it,
// without what the tree and the store checks found: the attack tests show
// what the chains cannot see, and then what catches it.
func chainsOf(rep *chainlog.Report) *chainlog.Report {
	out := *rep
	out.Store = nil
	if b := out.BrokenAt; b != nil && (b.Trail == chainlog.TrailTree || b.Trail == chainlog.TrailStore) {
		out.BrokenAt, out.Error = nil, nil
	}
	out.AddTree(chainlog.TreeReport{}) // settles the status without the tree
	out.Tree = nil
	return &out
}

// exportStore returns every row Export gives, in its order.
func exportStore(t *testing.T, st *sqlite.Store, nodeID string) []chainlog.StoredEvent {
	t.Helper()
	var rows []chainlog.StoredEvent
	err := st.Export(t.Context(), nodeID, func(e *chainlog.StoredEvent) error {
		rows = append(rows, *e)
		return nil
	})
	if err != nil {
		t.Fatalf("Export(%q): %v", nodeID, err)
	}
	return rows
}

// exportPath exports the store at path through a read-only open.
func exportPath(t *testing.T, path, nodeID string) []chainlog.StoredEvent {
	t.Helper()
	st := openRO(t, path)
	defer st.Close()
	return exportStore(t, st, nodeID)
}

// chainOf returns node's stamped rows ordered by chain_seq.
func chainOf(t *testing.T, path, node string) []chainlog.StoredEvent {
	t.Helper()
	var rows []chainlog.StoredEvent
	for _, r := range exportPath(t, path, node) {
		if r.Stamped() {
			rows = append(rows, r)
		}
	}
	slices.SortFunc(rows, func(a, b chainlog.StoredEvent) int { return int(a.Seq - b.Seq) })
	return rows
}

func headsOf(t *testing.T, st *sqlite.Store) map[string]chainlog.Head {
	t.Helper()
	heads, err := st.Heads(t.Context(), "")
	if err != nil {
		t.Fatalf("Heads: %v", err)
	}
	m := make(map[string]chainlog.Head, len(heads))
	for _, h := range heads {
		m[h.NodeID] = h
	}
	return m
}

func headsPath(t *testing.T, path string) map[string]chainlog.Head {
	t.Helper()
	st := openRO(t, path)
	defer st.Close()
	return headsOf(t, st)
}

// decode decodes one NDJSON line as the ingest command does.
func decode(t *testing.T, line string) chainlog.Event {
	t.Helper()
	e, err := chainlog.DecodeEvent([]byte(line), "")
	if err != nil {
		t.Fatalf("DecodeEvent(%s): %v", line, err)
	}
	return e
}

// mkEvent returns a realistic event, the i-th of node: its id is
// "<node>/<i>", its timestamps are not in arrival order, every third event
// has a NULL session_id and every fourth a NULL workspace_id.
func mkEvent(t *testing.T, node string, i int) chainlog.Event {
	t.Helper()
	session := fmt.Sprintf("%q", fmt.Sprintf("sess-%s-%d", node, i/3))
	if i%3 == 2 {
		session = "null"
	}
	workspace := `"/home/dev/projects/api"`
	if i%4 == 3 {
		workspace = "null"
	}
	types := []string{"session.start", "tool_call", "llm_usage", "tool_result"}
	ts := time.Date(2026, 2, 1, 9, 0, 0, 0, time.UTC).Add(time.Duration((i*7919)%1000) * time.Second)
	line := fmt.Sprintf(`{"id":%q,"node_id":%q,"agent_type":"claude_code","agent_id":"worker-%d",`+
		`"session_id":%s,"workspace_id":%s,"event_type":%q,"ts":%q,"data":{"seq":%d}}`,
		node+"/"+fmt.Sprint(i), node, i%2, session, workspace, types[i%len(types)],
		ts.Format("2006-01-02T15:04:05.000Z"), i)
	return decode(t, line)
}

// mkEvents returns events from..to-1 of node.
func mkEvents(t *testing.T, node string, from, to int) []chainlog.Event {
	t.Helper()
	var evs []chainlog.Event
	for i := from; i < to; i++ {
		evs = append(evs, mkEvent(t, node, i))
	}
	return evs
}

// rawStmt is one SQL statement an attacker runs.
type rawStmt struct {
	q    string
	args []any
}

func rawSQL(q string, args ...any) rawStmt { return rawStmt{q, args} }

// attack runs stmts on the closed store at path through a plain zombiezen
// connection, in one transaction, the way someone with write access to the
// file would.
func attack(t *testing.T, path string, stmts ...rawStmt) {
	t.Helper()
	conn, err := zsqlite.OpenConn(path, zsqlite.OpenReadWrite)
	if err != nil {
		t.Fatalf("attacker open %s: %v", path, err)
	}
	defer conn.Close()
	err = func() (err error) {
		defer zsqlitex.Save(conn)(&err)
		for _, s := range stmts {
			if err := zsqlitex.Execute(conn, s.q, &zsqlitex.ExecOptions{Args: s.args}); err != nil {
				return fmt.Errorf("%s: %w", s.q, err)
			}
		}
		return nil
	}()
	if err != nil {
		t.Fatalf("attack: %v", err)
	}
}

// rawQuery runs q on path through a read-only zombiezen connection and
// returns every row's columns as text; NULL is returned as "<NULL>", and a
// 32-byte blob (a stored hash) as lowercase hex, as lower(hex(x)) shows it.
func rawQuery(t *testing.T, path, q string, args ...any) [][]string {
	t.Helper()
	conn, err := zsqlite.OpenConn(path, zsqlite.OpenReadOnly)
	if err != nil {
		t.Fatalf("open %s: %v", path, err)
	}
	defer conn.Close()
	var rows [][]string
	err = zsqlitex.Execute(conn, q, &zsqlitex.ExecOptions{
		Args: args,
		ResultFunc: func(stmt *zsqlite.Stmt) error {
			var row []string
			for i := range stmt.ColumnCount() {
				switch {
				case stmt.ColumnType(i) == zsqlite.TypeNull:
					row = append(row, "<NULL>")
				case stmt.ColumnType(i) == zsqlite.TypeBlob && stmt.ColumnLen(i) == 32:
					b := make([]byte, 32)
					stmt.ColumnBytes(i, b)
					row = append(row, hex.EncodeToString(b))
				default:
					row = append(row, stmt.ColumnText(i))
				}
			}
			rows = append(rows, row)
			return nil
		},
	})
	if err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return rows
}

// rawValue runs a query that returns one value.
func rawValue(t *testing.T, path, q string, args ...any) string {
	t.Helper()
	rows := rawQuery(t, path, q, args...)
	if len(rows) != 1 || len(rows[0]) != 1 {
		t.Fatalf("%s: got %d rows, want one value", q, len(rows))
	}
	return rows[0][0]
}

// nullable turns a *string into an SQL argument: nil is NULL.
func nullable(s *string) any {
	if s == nil {
		return nil
	}
	return *s
}

func ptr[T any](v T) *T { return &v }

func fmtAny(v any) string { return fmt.Sprint(v) }

// forge inserts ev into node's chain at seq, linked to prev, with the hash
// an attacker computes with chainlog.ChainHash. It returns that hash.
// The forger knows the formats: the row carries a correct payload digest,
// so only the chain can give it away.
func forge(ev chainlog.Event, seq int64, prev string) (rawStmt, string) {
	hash := chainlog.ChainHash(prev, &ev)
	data := `{"forged":true}`
	digest := chainlog.PayloadDigest(&chainlog.Mutable{Data: []byte(data)})
	return rawSQL(`INSERT INTO events (id, agent_type, node_id, agent_id, session_id, workspace_id,
		event_type, ts, data, created_at, chain_seq, chain_prev_hash, chain_hash, payload_digest)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		ev.ID, ev.AgentType, ev.NodeID, ev.AgentID, nullable(ev.SessionID), nullable(ev.WorkspaceID),
		ev.EventType, ev.TS, data, "2026-03-01T12:00:00.000000Z", seq, prev, hash, digest), hash
}

// shiftSeqs renumbers node's rows with chain_seq > after by delta, in two
// steps so that the unique (node_id, chain_seq) index never sees a clash.
func shiftSeqs(node string, after, delta int64) []rawStmt {
	return []rawStmt{
		rawSQL(`UPDATE events SET chain_seq = -(chain_seq + ?) WHERE node_id = ? AND chain_seq > ?`, delta, node, after),
		rawSQL(`UPDATE events SET chain_seq = -chain_seq WHERE node_id = ? AND chain_seq < 0`, node),
	}
}

func fileSHA(t *testing.T, path string) [32]byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return sha256.Sum256(b)
}

func fileExists(path string) bool {
	_, err := os.Stat(path)
	return !errors.Is(err, os.ErrNotExist)
}

// wantValid checks that rep is valid with the given counts.
func wantValid(t *testing.T, rep *chainlog.Report, checked, preChain int64) {
	t.Helper()
	if rep.Status != chainlog.StatusValid || rep.BrokenAt != nil || rep.Error != nil {
		t.Fatalf("status = %q, broken_at = %+v; want valid", rep.Status, rep.BrokenAt)
	}
	if rep.Checked != checked || rep.PreChain != preChain {
		t.Errorf("checked, pre_chain = %d, %d; want %d, %d", rep.Checked, rep.PreChain, checked, preChain)
	}
}

// wantValidAnchored is wantValid for a store amended in anchors
// transactions: each added one anchor event, a stamped row of
// chainlog.AnchorNode, which the trail's report counts.
func wantValidAnchored(t *testing.T, rep *chainlog.Report, checked, preChain, anchors int64) {
	t.Helper()
	wantValid(t, rep, checked+anchors, preChain)
	if a := rep.Amendments; a.Anchors != anchors || (anchors > 0 && a.AnchoredSeq != a.HeadSeq) {
		t.Errorf("anchors, anchored seq = %d, %d; want %d, the trail's head %d", a.Anchors, a.AnchoredSeq, anchors, a.HeadSeq)
	}
}

// wantBreak checks that rep is invalid and its first break is want
// (Detail is not compared).
func wantBreak(t *testing.T, rep *chainlog.Report, want chainlog.Break) {
	t.Helper()
	if rep.Status != chainlog.StatusInvalid {
		t.Fatalf("status = %q; want %q", rep.Status, chainlog.StatusInvalid)
	}
	if rep.BrokenAt == nil {
		t.Fatal("broken_at = nil; want a break")
	}
	if rep.Error == nil || *rep.Error == "" {
		t.Error("error = nil; want the break's message")
	}
	got := *rep.BrokenAt
	got.Detail = ""
	if got != want {
		t.Errorf("broken_at:\n got  %+v\n want %+v", got, want)
	}
}

// nodeReport returns rep's report of node.
func nodeReport(t *testing.T, rep *chainlog.Report, node string) chainlog.NodeReport {
	t.Helper()
	for _, n := range rep.Nodes {
		if n.NodeID == node {
			return n
		}
	}
	t.Fatalf("report has no node %q (nodes %+v)", node, rep.Nodes)
	return chainlog.NodeReport{}
}

// Helpers for the audit-trail tests (payload digests and amendments).

// amendReq is a KindAmend request by "test-actor" setting the fields of p.
func amendReq(id, reason string, p chainlog.Patch) sqlite.AmendRequest {
	return sqlite.AmendRequest{EventID: id, Patch: p, Kind: chainlog.KindAmend, Reason: reason, Actor: "test-actor"}
}

// mustAmend applies reqs in one AmendBatch and returns the records.
func mustAmend(t *testing.T, st *sqlite.Store, reqs ...sqlite.AmendRequest) []chainlog.Amendment {
	t.Helper()
	recs, err := st.AmendBatch(t.Context(), reqs)
	if err != nil {
		t.Fatalf("AmendBatch(%d requests): %v", len(reqs), err)
	}
	if len(recs) != len(reqs) {
		t.Fatalf("AmendBatch(%d requests) returned %d records", len(reqs), len(recs))
	}
	return recs
}

// trailOf returns eventID's amendment records through a read-only open.
func trailOf(t *testing.T, path, eventID string) []chainlog.Amendment {
	t.Helper()
	st := openRO(t, path)
	defer st.Close()
	recs, err := st.Amendments(t.Context(), eventID)
	if err != nil {
		t.Fatalf("Amendments(%q): %v", eventID, err)
	}
	return recs
}

// allAmendments returns the whole trail in seq order and the recorded head
// (nil when none), through a read-only open.
func allAmendments(t *testing.T, path string) ([]chainlog.Amendment, *chainlog.Head) {
	t.Helper()
	st := openRO(t, path)
	defer st.Close()
	var recs []chainlog.Amendment
	err := st.ScanAmendments(t.Context(), func(a *chainlog.AmendmentScan) error {
		recs = append(recs, a.Amendment)
		return nil
	})
	if err != nil {
		t.Fatalf("ScanAmendments: %v", err)
	}
	head, err := st.AmendmentHead(t.Context())
	if err != nil {
		t.Fatalf("AmendmentHead: %v", err)
	}
	return recs, head
}

// storeDump is every row of every table of a store, as text, for
// "nothing changed" comparisons.
type storeDump map[string][][]string

// dumpStore reads every table of the store at path through a raw read-only
// connection (it may be open for writing meanwhile).
func dumpStore(t *testing.T, path string) storeDump {
	t.Helper()
	d := storeDump{}
	for _, r := range rawQuery(t, path, `SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name`) {
		// ORDER BY 1, 2 orders a WITHOUT ROWID table (event_ids,
		// cursors) by its key.
		order := "rowid"
		if r[0] == "event_ids" || r[0] == "cursors" {
			order = "1, 2"
		}
		d[r[0]] = rawQuery(t, path, `SELECT * FROM "`+r[0]+`" ORDER BY `+order)
	}
	return d
}

// wantTrailBreak checks that rep is invalid, that its amendment trail's
// break is want (Detail not compared) and that the report's first break is
// nodeBreak when it is not nil, else the trail's.
func wantTrailBreak(t *testing.T, rep *chainlog.Report, want chainlog.Break, nodeBreak *chainlog.Break) {
	t.Helper()
	if rep.Status != chainlog.StatusInvalid || rep.Amendments.Status != chainlog.StatusInvalid {
		t.Fatalf("status = %q, amendments status = %q; want both %q (amendments break %+v)",
			rep.Status, rep.Amendments.Status, chainlog.StatusInvalid, rep.Amendments.Break)
	}
	if rep.Amendments.Break == nil {
		t.Fatal("amendments broken_at = nil; want a break")
	}
	got := *rep.Amendments.Break
	got.Detail = ""
	if want.Trail == "" {
		want.Trail = chainlog.TrailAmendments
	}
	if got != want {
		t.Errorf("amendments broken_at:\n got  %+v\n want %+v", got, want)
	}
	first := want
	if nodeBreak != nil {
		first = *nodeBreak
	}
	wantBreak(t, rep, first)
}
