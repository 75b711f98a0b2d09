package postgres_test

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"

	"chainlog"
	"chainlog/internal/chainlogtest"
	"chainlog/internal/pgtest"
	"chainlog/postgres"
	"chainlog/sqlite"
)

// vectorEvents reads the known-answer events, with a payload added to
// every third so that payload digests differ.
func vectorEvents(t *testing.T) []chainlog.Event {
	t.Helper()
	f, err := os.Open(filepath.Join("..", "testdata", "chain-vectors.events.ndjson"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var evs []chainlog.Event
	for r := chainlog.NewReader(f, 0, ""); ; {
		e, err := r.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if len(evs)%3 == 0 {
			c, n := 0.125*float64(len(evs)), int64(len(evs))
			e.CostUSD, e.TokenCount = &c, &n
		}
		evs = append(evs, e)
	}
	return evs
}

// exported returns a store's events in commit order, as export reads them.
func exported(t *testing.T, s chainlog.Store) []chainlog.StoredEvent {
	t.Helper()
	var rows []chainlog.StoredEvent
	if err := s.Export(t.Context(), "", func(e *chainlog.StoredEvent) error {
		rows = append(rows, *e)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return rows
}

func events(rows []chainlog.StoredEvent) []chainlog.Event {
	out := make([]chainlog.Event, len(rows))
	for i := range rows {
		out[i] = rows[i].Event
	}
	return out
}

// TestSameBytesAsSQLite ingests the same events into a SQLite store, exports
// them into a PostgreSQL store and back into a second SQLite store, and
// wants the same chain columns, payload digests, leaves, tree and signed
// checkpoint from all three.
func TestSameBytesAsSQLite(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	lite, err := sqlite.Open(t.Context(), filepath.Join(dir, "a.db"), sqlite.Options{Now: testClock()})
	if err != nil {
		t.Fatal(err)
	}
	defer lite.Close()
	evs := vectorEvents(t)
	for i := 0; i < len(evs); i += 7 {
		if _, err := lite.Ingest(t.Context(), evs[i:min(i+7, len(evs))]); err != nil {
			t.Fatal(err)
		}
	}
	pg := openStore(t, pgtest.Schema(t))
	defer pg.Close()
	if _, err := pg.Ingest(t.Context(), events(exported(t, lite))); err != nil {
		t.Fatal(err)
	}
	back, err := sqlite.Open(t.Context(), filepath.Join(dir, "b.db"), sqlite.Options{Now: testClock()})
	if err != nil {
		t.Fatal(err)
	}
	defer back.Close()
	if _, err := back.Ingest(t.Context(), events(exported(t, pg))); err != nil {
		t.Fatal(err)
	}

	want := exported(t, lite)
	if len(want) != len(evs) {
		t.Fatalf("SQLite exported %d events, want %d", len(want), len(evs))
	}
	signer, _ := chainlogtest.NewKey(t, "example.com/interop")
	wantCP, err := lite.Checkpoint(t.Context(), signer, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []struct {
		name string
		st   chainlog.Store
	}{{"postgres", pg}, {"sqlite from postgres", back}} {
		got := exported(t, s.st)
		if len(got) != len(want) {
			t.Fatalf("%s: %d events, want %d", s.name, len(got), len(want))
		}
		for i := range want {
			g, w := got[i], want[i]
			if g.ID != w.ID || g.Seq != w.Seq || g.PrevHash != w.PrevHash || g.Hash != w.Hash ||
				g.PayloadDigest != w.PayloadDigest || *g.LeafIndex != *w.LeafIndex {
				t.Fatalf("%s: row %d = %s seq %d %s %s %s leaf %d, want %s seq %d %s %s %s leaf %d", s.name, i,
					g.ID, g.Seq, g.PrevHash, g.Hash, g.PayloadDigest, *g.LeafIndex, w.ID, w.Seq, w.PrevHash, w.Hash, w.PayloadDigest, *w.LeafIndex)
			}
		}
		cp, err := s.st.Checkpoint(t.Context(), signer, nil)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(cp, wantCP) {
			t.Fatalf("%s: checkpoint\n%s\nwant\n%s", s.name, cp, wantCP)
		}
	}
}

var _ chainlog.Store = (*postgres.Store)(nil)
