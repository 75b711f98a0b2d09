package retention_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"chainlog"
	"chainlog/retention"
	"chainlog/sqlite"
)

// day returns noon of day d of June 2026.
func day(d int) time.Time { return time.Date(2026, 6, d, 12, 0, 0, 0, time.UTC) }

// newStore returns a store with node-a's events on June 1-20 and node-b's
// on June 1-10, one a day each.
func newStore(t *testing.T) *sqlite.Store {
	t.Helper()
	st, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "r.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	var evs []chainlog.Event
	for node, n := range map[string]int{"node-a": 20, "node-b": 10} {
		for i := 1; i <= n; i++ {
			line := fmt.Sprintf(`{"id":"%s/%d","node_id":%q,"agent_type":"claude_code","agent_id":"a","event_type":"tool_call","ts":%q,"data":{"i":%d}}`,
				node, i, node, day(i).Format(time.RFC3339), i)
			e, err := chainlog.DecodeEvent([]byte(line), "")
			if err != nil {
				t.Fatal(err)
			}
			evs = append(evs, e)
		}
	}
	if _, err := st.Ingest(t.Context(), evs); err != nil {
		t.Fatal(err)
	}
	return st
}

func verify(t *testing.T, st *sqlite.Store) *chainlog.Report {
	t.Helper()
	rep, err := chainlog.VerifyStore(t.Context(), st, chainlog.VerifyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

// recorder is an archiver that sees what the store holds when it is asked
// to archive, and fails when told to.
type recorder struct {
	st    *sqlite.Store
	fail  error
	cuts  []chainlog.PruneCut
	found int // events of the cuts still in the store when archived
}

func (r *recorder) Archive(ctx context.Context, cuts []chainlog.PruneCut) (string, error) {
	r.cuts = cuts
	for _, c := range cuts {
		for seq := c.FirstSeq; seq <= c.LastSeq; seq++ {
			e, err := r.st.Event(ctx, fmt.Sprintf("%s/%d", c.NodeID, seq))
			if err == nil && e.Data != nil {
				r.found++
			}
		}
	}
	return "archive-1", r.fail
}

func TestPrune(t *testing.T) {
	t.Parallel()
	base := retention.Request{Before: day(6).Add(-time.Hour), Reason: "policy", Actor: "ops"}
	for _, tc := range []struct {
		name       string
		req        func(*retention.Request, *recorder)
		wantErr    error
		wantEvents int64 // events pruned
		archived   int   // events the archive saw in the store
	}{
		{name: "no archive is refused", req: func(*retention.Request, *recorder) {}, wantErr: retention.ErrNoArchive},
		{name: "explicitly without archive", req: func(r *retention.Request, _ *recorder) { r.NoArchive = true }, wantEvents: 10},
		{name: "archive first", req: func(r *retention.Request, a *recorder) { r.Archiver = a }, wantEvents: 10, archived: 10},
		{name: "one node", req: func(r *retention.Request, a *recorder) { r.Archiver, r.NodeID = a, "node-b" }, wantEvents: 5, archived: 5},
		{name: "failed archive prunes nothing", req: func(r *retention.Request, a *recorder) { r.Archiver, a.fail = a, errors.New("disk full") }, wantErr: errors.New("disk full"), archived: 10},
		{name: "dry run", req: func(r *retention.Request, _ *recorder) { r.DryRun = true }},
		{name: "no reason", req: func(r *retention.Request, _ *recorder) { r.NoArchive, r.Reason = true, " " }, wantErr: &chainlog.FieldError{}},
		{name: "no actor", req: func(r *retention.Request, _ *recorder) { r.NoArchive, r.Actor = true, "" }, wantErr: &chainlog.FieldError{}},
		{name: "archive and no archive", req: func(r *retention.Request, a *recorder) { r.NoArchive, r.Archiver = true, a }, wantErr: &chainlog.FieldError{}},
		{name: "nothing old enough", req: func(r *retention.Request, _ *recorder) { r.NoArchive, r.Before = true, day(1) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			st := newStore(t)
			a := &recorder{st: st}
			req := base
			tc.req(&req, a)
			res, err := retention.Prune(t.Context(), st, req)
			var fe *chainlog.FieldError
			switch {
			case tc.wantErr == nil && err != nil:
				t.Fatalf("Prune: %v", err)
			case tc.wantErr != nil && err == nil:
				t.Fatalf("Prune succeeded; want %v", tc.wantErr)
			case errors.As(tc.wantErr, &fe) && !errors.As(err, &fe):
				t.Fatalf("Prune: %v; want a field error", err)
			case tc.wantErr != nil && fe == nil && !errors.Is(err, tc.wantErr) && err.Error() != "archive (nothing was pruned): "+tc.wantErr.Error():
				t.Fatalf("Prune: %v; want %v", err, tc.wantErr)
			}
			if a.found != tc.archived {
				t.Errorf("the archiver found %d of the cuts' events in the store; want %d", a.found, tc.archived)
			}
			rep := verify(t, st)
			if rep.Status != chainlog.StatusValid || rep.Pruned != tc.wantEvents {
				t.Fatalf("after: %s, %d pruned (%v); want VALID, %d pruned", rep.Status, rep.Pruned, rep.BrokenAt, tc.wantEvents)
			}
			if err != nil {
				return
			}
			if req.DryRun && res.Events != 10 {
				t.Errorf("dry run plans %d events; want 10", res.Events)
			}
			if !req.DryRun && (res.Events != tc.wantEvents || int64(len(res.Records)) != int64(len(res.Cuts))) {
				t.Errorf("result: %d events, %d records for %d cuts; want %d events", res.Events, len(res.Records), len(res.Cuts), tc.wantEvents)
			}
			if req.Archiver != nil && res.Archive != "archive-1" {
				t.Errorf("archive %q", res.Archive)
			}
		})
	}
}

func TestPolicyOnce(t *testing.T) {
	t.Parallel()
	st := newStore(t)
	now := day(20)
	signed := 0
	p := &retention.Policy{Age: 10 * 24 * time.Hour, Text: "10d", NoArchive: true, Now: func() time.Time { return now },
		After: func(context.Context) error { signed++; return nil }}
	res, err := p.Once(t.Context(), st)
	if err != nil {
		t.Fatal(err)
	}
	// Before June 10 noon: seqs 1-9 of both nodes.
	if res.Events != 18 || signed != 1 {
		t.Fatalf("pruned %d, signed %d times; want 18, once", res.Events, signed)
	}
	rep := verify(t, st)
	if rep.Status != chainlog.StatusValid || len(rep.Prunes) != 2 {
		t.Fatalf("%s, prunes %+v", rep.Status, rep.Prunes)
	}
	if got := rep.Prunes[0]; got.Reason != "retention: policy 10d" || got.Actor != "chainlog serve" {
		t.Errorf("record: reason %q, actor %q", got.Reason, got.Actor)
	}
	// The same clock again: nothing new to prune, and no checkpoint.
	if res, err = p.Once(t.Context(), st); err != nil || res.Events != 0 || signed != 1 {
		t.Fatalf("second run: %+v, %v, signed %d", res, err, signed)
	}
	// A day later, one more event of each node: node-b's whole chain.
	now = now.Add(24 * time.Hour)
	if res, err = p.Once(t.Context(), st); err != nil || res.Events != 2 || res.Cuts[0].FirstSeq != 10 || res.Cuts[1].LastSeq != 10 {
		t.Fatalf("a day later: %+v, %v", res, err)
	}
	if rep := verify(t, st); rep.Status != chainlog.StatusValid || rep.Pruned != 20 {
		t.Fatalf("%s, %d pruned", rep.Status, rep.Pruned)
	}
}

func TestParseAge(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in   string
		want time.Duration
	}{
		{"180d", 180 * 24 * time.Hour},
		{"2w", 14 * 24 * time.Hour},
		{"36h", 36 * time.Hour},
		{"90m", 90 * time.Minute},
		{"", -1}, {"d", -1}, {"0d", -1}, {"-3d", -1}, {"1.5d", -1}, {"x", -1}, {"99999999999999d", -1}, {"-1h", -1},
	} {
		got, err := retention.ParseAge(tc.in)
		if tc.want < 0 {
			if err == nil {
				t.Errorf("ParseAge(%q) = %v; want an error", tc.in, got)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("ParseAge(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
		}
	}
}
