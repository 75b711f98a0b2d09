package storetest

import (
	"errors"
	"fmt"
	"testing"

	"chainlog"
)

// testReplicate checks a collector's side of forwarding (chainlog.Replicator)
// on b, with node stores made by newBackend: continuity on arrival,
// duplicates, gaps, a batch whose chain does not hold, fork evidence and
// quarantine, and the collector's chain equal to the node's.
func testReplicate(t *testing.T, newBackend func(t *testing.T) Backend) {
	ctx := t.Context()
	b := newBackend(t)
	col := open(t, b)
	rep, ok := col.(chainlog.Replicator)
	if !ok {
		t.Fatalf("%T is not a chainlog.Replicator", col)
	}
	node := open(t, newBackend(t))
	var ids []string
	for i := range 10 {
		ids = append(ids, fmt.Sprintf("n1-%02d", i))
	}
	ingest(t, node, events(t, "n1", ids[:6]...), chainlog.IngestResult{Inserted: 6})
	ingest(t, node, events(t, "n1", ids[6:]...), chainlog.IngestResult{Inserted: 4})
	rows := export(t, node, "n1")

	replicate := func(batch []chainlog.StoredEvent, want chainlog.ReplicateResult) {
		t.Helper()
		got, err := rep.Replicate(ctx, batch)
		if err != nil {
			t.Fatalf("Replicate(seq %d..%d): %v", batch[0].Seq, batch[len(batch)-1].Seq, err)
		}
		last := batch[len(batch)-1]
		if got.Inserted != want.Inserted || got.Duplicates != want.Duplicates || got.Head.Seq != last.Seq || got.Head.Hash != last.Hash {
			t.Fatalf("Replicate(seq %d..%d) = %+v, want %d inserted, %d duplicates, head seq %d %s",
				batch[0].Seq, last.Seq, got, want.Inserted, want.Duplicates, last.Seq, last.Hash)
		}
	}
	replicate(rows[:4], chainlog.ReplicateResult{Inserted: 4})
	replicate(rows[2:7], chainlog.ReplicateResult{Inserted: 3, Duplicates: 2})
	replicate(rows[5:7], chainlog.ReplicateResult{Duplicates: 2})

	// A batch past the head: a gap, and the collector's head to resume at.
	var gap *chainlog.GapError
	if _, err := rep.Replicate(ctx, rows[8:]); !errors.As(err, &gap) || gap.Head.Seq != 7 || gap.First != 9 {
		t.Fatalf("Replicate(seq 9..10) after seq 7 = %v; want a *GapError with head seq 7", err)
	}

	// A batch whose own chain does not hold: an identity field changed,
	// or rows out of order.
	bad := append([]chainlog.StoredEvent(nil), rows[7:]...)
	bad[1].EventType = "forged"
	var ce *chainlog.ChainError
	if _, err := rep.Replicate(ctx, bad); !errors.As(err, &ce) || ce.Line != 1 || ce.Break.Reason != chainlog.ReasonHashMismatch {
		t.Fatalf("Replicate(a forged row) = %v; want a *ChainError at row 1, %q", err, chainlog.ReasonHashMismatch)
	}
	if _, err := rep.Replicate(ctx, []chainlog.StoredEvent{rows[8], rows[7]}); !errors.As(err, &ce) || ce.Line != 1 {
		t.Fatalf("Replicate(rows out of order) = %v; want a *ChainError at row 1", err)
	}
	mixed := []chainlog.StoredEvent{rows[7], rows[8]}
	mixed[1].NodeID = "n2"
	if _, err := rep.Replicate(ctx, mixed); !errors.As(err, &ce) {
		t.Fatalf("Replicate(two nodes) = %v; want a *ChainError", err)
	}
	wantHeads(t, heads(t, col, "n1"), rows[:7])

	// Another machine claiming n1: its seq 1 is fork evidence, recorded
	// with both rows, and the node is quarantined.
	other := open(t, newBackend(t))
	ingest(t, other, events(t, "n1", "impostor-1", "impostor-2"), chainlog.IngestResult{Inserted: 2})
	forged := export(t, other, "n1")
	var fe *chainlog.ForkError
	if _, err := rep.Replicate(ctx, forged); !errors.As(err, &fe) || !errors.Is(err, chainlog.ErrForked) {
		t.Fatalf("Replicate(another history of n1) = %v; want a *ForkError", err)
	}
	if f := fe.Fork; f.Seq != 1 || f.StoredID != rows[0].ID || f.EventID != "impostor-1" || f.Expected != rows[0].Hash || f.Found != forged[0].Hash {
		t.Fatalf("fork = %+v; want seq 1, stored %s %s, arrived impostor-1 %s", f, rows[0].ID, rows[0].Hash, forged[0].Hash)
	}
	forks, err := rep.Forks(ctx, "n1")
	if err != nil || len(forks) != 1 {
		t.Fatalf("Forks(n1) = %+v, %v; want one", forks, err)
	}
	f := forks[0]
	if f.Resolved() || f.DetectedAt == "" || f.ID == 0 {
		t.Errorf("fork = %+v; want an id, a detection time and no resolution", f)
	}
	for what, line := range map[string]string{"stored": f.StoredRow, "arrived": f.ArrivedRow} {
		e, err := chainlog.DecodeStoredEvent([]byte(line))
		if err != nil {
			t.Fatalf("fork's %s row %q: %v", what, line, err)
		}
		if want := map[string]string{"stored": rows[0].Hash, "arrived": forged[0].Hash}[what]; e.Hash != want {
			t.Errorf("fork's %s row has hash %s, want %s", what, e.Hash, want)
		}
	}
	if got, err := rep.Forks(ctx, "n2"); err != nil || len(got) != 0 {
		t.Errorf("Forks(n2) = %+v, %v; want none", got, err)
	}

	// Quarantined: even the true node's next events are refused.
	var qe *chainlog.QuarantineError
	if _, err := rep.Replicate(ctx, rows[7:]); !errors.As(err, &qe) || qe.Forks != 1 {
		t.Fatalf("Replicate(n1) while quarantined = %v; want a *QuarantineError", err)
	}
	rv := verify(t, b)
	if rv.Status != chainlog.StatusInvalid || rv.BrokenAt == nil || rv.BrokenAt.Reason != chainlog.ReasonNodeFork {
		t.Fatalf("VerifyStore with an unresolved fork: status %s, break %+v; want INVALID, %q", rv.Status, rv.BrokenAt, chainlog.ReasonNodeFork)
	}

	// Other nodes go on.
	n2 := open(t, newBackend(t))
	ingest(t, n2, events(t, "n2", "n2-a", "n2-b"), chainlog.IngestResult{Inserted: 2})
	replicate(export(t, n2, "n2"), chainlog.ReplicateResult{Inserted: 2})

	// An operator resolves it; the resolution is kept.
	if n, err := rep.ResolveForks(ctx, "n1", "auditor@example", "impostor host renamed"); err != nil || n != 1 {
		t.Fatalf("ResolveForks(n1) = %d, %v; want 1", n, err)
	}
	if n, err := rep.ResolveForks(ctx, "n1", "auditor@example", "again"); err != nil || n != 0 {
		t.Fatalf("ResolveForks(n1) again = %d, %v; want 0", n, err)
	}
	forks, err = rep.Forks(ctx, "")
	if err != nil || len(forks) != 1 || !forks[0].Resolved() || forks[0].ResolvedBy != "auditor@example" || forks[0].Resolution != "impostor host renamed" {
		t.Fatalf("Forks() after resolving = %+v, %v; want one, resolved by auditor@example", forks, err)
	}
	replicate(rows[7:], chainlog.ReplicateResult{Inserted: 3})

	// A batch after the head that links elsewhere: fork evidence on the link.
	ingest(t, other, events(t, "n1", ids[0:9]...), chainlog.IngestResult{Inserted: 9})
	tail := export(t, other, "n1")[10:] // seq 11
	if _, err := rep.Replicate(ctx, tail); !errors.As(err, &fe) || fe.Fork.Seq != 11 || fe.Fork.Expected != rows[9].Hash || fe.Fork.StoredID != rows[9].ID {
		t.Fatalf("Replicate(seq 11 linked elsewhere) = %v; want a *ForkError at seq 11 expecting %s", err, rows[9].Hash)
	}
	if _, err := rep.ResolveForks(ctx, "n1", "auditor@example", "checked"); err != nil {
		t.Fatal(err)
	}

	// The collector's chain of n1 is the node's, row for row.
	got := export(t, col, "n1")
	if len(got) != len(rows) {
		t.Fatalf("collector holds %d rows of n1, want %d", len(got), len(rows))
	}
	for i := range rows {
		g, w := got[i], rows[i]
		if g.ID != w.ID || g.Seq != w.Seq || g.PrevHash != w.PrevHash || g.Hash != w.Hash || g.PayloadDigest != w.PayloadDigest {
			t.Errorf("collector row %d = %s %d %s %s, node's = %s %d %s %s", i, g.ID, g.Seq, g.Hash, g.PayloadDigest, w.ID, w.Seq, w.Hash, w.PayloadDigest)
		}
	}
	rv = verifyValid(t, b, 12)
	if rv.Forks != 2 {
		t.Errorf("report counts %d resolved forks, want 2", rv.Forks)
	}

	// A read-only store refuses.
	if _, err := openRO(t, b).(chainlog.Replicator).Replicate(ctx, rows[:1]); !errors.Is(err, chainlog.ErrReadOnly) {
		t.Errorf("Replicate on a read-only store = %v; want an error wrapping ErrReadOnly", err)
	}
}
