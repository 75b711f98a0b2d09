package sqlite_test

import (
	"bytes"
	"errors"
	"log/slog"
	"reflect"
	"strings"
	"testing"

	"chainlog"
	"chainlog/sqlite"
)

// downgradeToV7 turns the store at path (at SchemaVersion, closed) into
// one as schema version 7 left it: no forks table.
func downgradeToV7(t *testing.T, path string) {
	t.Helper()
	attack(t, path, rawSQL(`DROP TABLE forks`), rawSQL(`PRAGMA user_version = 7`))
}

// nodeRows returns n stamped rows of node, as a node store exports them
// for forwarding.
func nodeRows(t *testing.T, node string, n int) []chainlog.StoredEvent {
	t.Helper()
	path := buildStore(t, sqlite.Options{}, mkEvents(t, node, 0, n))
	return chainOf(t, path, node)
}

func replicate(t *testing.T, st *sqlite.Store, batch []chainlog.StoredEvent) chainlog.ReplicateResult {
	t.Helper()
	res, err := st.Replicate(t.Context(), batch)
	if err != nil {
		t.Fatalf("Replicate(seq %d..%d): %v", batch[0].Seq, batch[len(batch)-1].Seq, err)
	}
	return res
}

// wantSameChain checks that the collector at path holds rows, row for row.
func wantSameChain(t *testing.T, path, node string, rows []chainlog.StoredEvent) {
	t.Helper()
	got := chainOf(t, path, node)
	if len(got) != len(rows) {
		t.Fatalf("collector holds %d rows of %s, want %d", len(got), node, len(rows))
	}
	for i := range rows {
		g, w := got[i], rows[i]
		if g.ID != w.ID || g.Seq != w.Seq || g.PrevHash != w.PrevHash || g.Hash != w.Hash || g.PayloadDigest != w.PayloadDigest {
			t.Errorf("collector row %d = %s %d %s, node's = %s %d %s", i, g.ID, g.Seq, g.Hash, w.ID, w.Seq, w.Hash)
		}
	}
}

// TestMigrateToForks upgrades a version 7 store: migration 8 adds the
// forks table and changes nothing else; before it, a read-only store lists
// no forks, verifies and passes the store check.
func TestMigrateToForks(t *testing.T) {
	t.Parallel()
	path := schemaStore(t)
	downgradeToV7(t, path)
	oldRows := exportPath(t, path, "")
	oldCols, oldExtras := eventsSchema(t, path)

	ro := openRO(t, path)
	if b, err := ro.CheckStore(t.Context()); err != nil || b != nil {
		t.Errorf("version 7: CheckStore = %v, %v; want no fault", b, err)
	}
	if fs, err := ro.Forks(t.Context(), ""); err != nil || len(fs) != 0 {
		t.Errorf("version 7, read-only: Forks = %+v, %v; want none", fs, err)
	}
	if rep, err := chainlog.VerifyStore(t.Context(), ro, chainlog.VerifyOptions{}); err != nil || rep.Status != chainlog.StatusValid {
		t.Errorf("version 7, read-only: VerifyStore = %+v, %v; want VALID", rep, err)
	}
	closeStore(t, ro)

	st := openStore(t, path, sqlite.Options{})
	if v := userVersion(t, path); v != sqlite.SchemaVersion {
		t.Errorf("user_version = %d; want SchemaVersion %d", v, sqlite.SchemaVersion)
	}
	if cols := tableColumns(t, path, "forks"); !cols["stored_row"] || !cols["resolved_at"] {
		t.Errorf("forks columns after migration: %v", cols)
	}
	if got := exportStore(t, st, ""); !reflect.DeepEqual(got, oldRows) {
		t.Errorf("rows changed by migration 8: %d rows, want %d as before", len(got), len(oldRows))
	}
	cols, extras := eventsSchema(t, path)
	if !reflect.DeepEqual(cols, oldCols) || !reflect.DeepEqual(extras, oldExtras) {
		t.Errorf("events schema changed by migration 8:\n%v %v\nwant\n%v %v", cols, extras, oldCols, oldExtras)
	}
	rows := nodeRows(t, "node-r", 3)
	replicate(t, st, rows)
	closeStore(t, st)
	wantSameChain(t, path, "node-r", rows)
	if b, err := openRO(t, path).CheckStore(t.Context()); err != nil || b != nil {
		t.Errorf("migrated: CheckStore = %v, %v; want no fault", b, err)
	}
}

// TestReplicateTwoWriters: two Stores on one collector file, each with its
// own in-memory heads, replicate one node's chain in turns, and ingest
// another node between: a writer whose heads or tree are stale reads them
// again (LockHead, or the retry after a conflict), and the collector's
// chain is the node's.
func TestReplicateTwoWriters(t *testing.T) {
	t.Parallel()
	rows := nodeRows(t, "node-r", 40)
	path := newStorePath(t)
	var log bytes.Buffer
	a := openStore(t, path, sqlite.Options{Logger: slog.New(slog.NewTextHandler(&log, nil))})
	b := openStore(t, path, sqlite.Options{})

	replicate(t, a, rows[:10])
	ingest(t, b, mkEvents(t, "node-x", 0, 3)...)
	replicate(t, a, rows[10:20]) // a's head agrees, its tree is stale: a conflict, and the rule runs again
	if !strings.Contains(log.String(), "chain head moved by another writer") {
		t.Errorf("a's log = %q; want the conflict's retry", log.String())
	}
	replicate(t, b, rows[20:30]) // b's head of node-r is stale: LockHead reads it again
	ingest(t, a, mkEvents(t, "node-x", 3, 5)...)
	if res := replicate(t, b, rows[25:40]); res.Inserted != 10 || res.Duplicates != 5 || res.Head.Seq != 40 {
		t.Errorf("Replicate(seq 26..40) = %+v; want 10 inserted, 5 duplicates, head seq 40", res)
	}
	// b's heads and tree moved after its commit: it goes on without a
	// conflict; a reads them again.
	ingest(t, b, mkEvents(t, "node-x", 5, 6)...)
	if res := replicate(t, a, rows[38:]); res.Inserted != 0 || res.Duplicates != 2 || res.Head.Seq != 40 {
		t.Errorf("Replicate(seq 39..40) = %+v; want 2 duplicates, head seq 40", res)
	}
	closeStore(t, a)
	closeStore(t, b)
	wantSameChain(t, path, "node-r", rows)
	wantValid(t, verifyPath(t, path, ""), 46, 0)
}

// TestReplicateCommitsOnlyForkEvidence: a refused batch changes nothing in
// the file; fork evidence is committed, survives a reopen, is read by a
// read-only store and breaks its verification until resolved, with the
// store's timestamp and who resolved it and why.
func TestReplicateCommitsOnlyForkEvidence(t *testing.T) {
	t.Parallel()
	rows := nodeRows(t, "node-r", 6)
	path := newStorePath(t)
	st := openStore(t, path, sqlite.Options{})
	replicate(t, st, rows[:3])

	before := dumpStore(t, path)
	var gap *chainlog.GapError
	if _, err := st.Replicate(t.Context(), rows[4:]); !errors.As(err, &gap) {
		t.Fatalf("Replicate past the head = %v; want a *GapError", err)
	}
	bad := append([]chainlog.StoredEvent(nil), rows[3:]...)
	bad[2].Hash = bad[1].Hash
	var ce *chainlog.ChainError
	if _, err := st.Replicate(t.Context(), bad); !errors.As(err, &ce) {
		t.Fatalf("Replicate(a broken batch) = %v; want a *ChainError", err)
	}
	if after := dumpStore(t, path); !reflect.DeepEqual(after, before) {
		t.Error("refused batches changed the store")
	}

	// Another machine's node-r: its seq 1 is another event.
	impostor := chainOf(t, buildStore(t, sqlite.Options{}, mkEvents(t, "node-r", 1, 3)), "node-r")
	var fe *chainlog.ForkError
	if _, err := st.Replicate(t.Context(), impostor); !errors.As(err, &fe) {
		t.Fatalf("Replicate(another history) = %v; want a *ForkError", err)
	}
	if fe.Fork.ID != 1 || fe.Fork.DetectedAt == "" {
		t.Errorf("fork = %+v; want id 1 and a detection time", fe.Fork)
	}
	closeStore(t, st)

	ro := openRO(t, path)
	forks, err := ro.Forks(t.Context(), "node-r")
	if err != nil || len(forks) != 1 || forks[0] != fe.Fork {
		t.Fatalf("read-only Forks(node-r) = %+v, %v; want [%+v]", forks, err, fe.Fork)
	}
	rep, err := chainlog.VerifyStore(t.Context(), ro, chainlog.VerifyOptions{})
	if err != nil || rep.Status != chainlog.StatusInvalid || rep.BrokenAt == nil || rep.BrokenAt.Reason != chainlog.ReasonNodeFork {
		t.Fatalf("VerifyStore with an unresolved fork = %+v, %v; want INVALID, %q", rep, err, chainlog.ReasonNodeFork)
	}
	if _, err := ro.ResolveForks(t.Context(), "node-r", "ops", "checked"); !errors.Is(err, chainlog.ErrReadOnly) {
		t.Errorf("ResolveForks on a read-only store = %v; want ErrReadOnly", err)
	}
	if _, err := ro.Replicate(t.Context(), rows[3:]); !errors.Is(err, chainlog.ErrReadOnly) {
		t.Errorf("Replicate on a read-only store = %v; want ErrReadOnly", err)
	}
	closeStore(t, ro)

	st = openStore(t, path, sqlite.Options{})
	for _, tc := range []struct{ actor, reason, field string }{{"", "checked", "actor"}, {"ops", " ", "reason"}} {
		if n, err := st.ResolveForks(t.Context(), "node-r", tc.actor, tc.reason); err == nil || !strings.Contains(err.Error(), tc.field) {
			t.Errorf("ResolveForks(actor %q, reason %q) = %d, %v; want an error naming the %s", tc.actor, tc.reason, n, err, tc.field)
		}
	}
	var qe *chainlog.QuarantineError
	if _, err := st.Replicate(t.Context(), rows[3:]); !errors.As(err, &qe) {
		t.Fatalf("Replicate while quarantined = %v; want a *QuarantineError", err)
	}
	if n, err := st.ResolveForks(t.Context(), "node-r", "ops@example", "impostor retired"); err != nil || n != 1 {
		t.Fatalf("ResolveForks = %d, %v; want 1", n, err)
	}
	replicate(t, st, rows[3:])
	closeStore(t, st)

	forks, err = openRO(t, path).Forks(t.Context(), "")
	if err != nil || len(forks) != 1 {
		t.Fatalf("Forks() = %+v, %v; want one", forks, err)
	}
	f := forks[0]
	if !f.Resolved() || f.ResolvedBy != "ops@example" || f.Resolution != "impostor retired" ||
		!strings.HasPrefix(f.ResolvedAt, "2026-03-01T12:00:00.") || !strings.HasSuffix(f.ResolvedAt, "Z") {
		t.Errorf("resolved fork = %+v; want resolved by ops@example at the store's clock", f)
	}
	wantSameChain(t, path, "node-r", rows)
	rep = verifyPath(t, path, "")
	wantValid(t, rep, 6, 0)
}
