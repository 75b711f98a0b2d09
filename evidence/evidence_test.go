package evidence_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"chainlog"
	"chainlog/evidence"
	"chainlog/internal/chainlogtest"
	"chainlog/sqlite"
	"chainlog/witness"

	"golang.org/x/mod/sumdb/note"
)

// fixture is a store with two sessions interleaved on node n1, one event
// of s1 on n2, an amendment and a redaction of s1's events, and a signed
// checkpoint after them all.
type fixture struct {
	st       *sqlite.Store
	signer   note.Signer
	verifier note.Verifier
	signed   []byte
}

func newFixture(t testing.TB) *fixture {
	t.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "s.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	var evs []chainlog.Event
	sessions := []string{"s2", "s1", "s2", "s1", "s1", "s2", "s1", "s2"}
	for i, s := range sessions {
		evs = append(evs, chainlog.Event{ID: fmt.Sprintf("e%d", i+1), AgentType: "openclaw", NodeID: "n1", AgentID: "main",
			SessionID: chainlogtest.Ptr(s), EventType: "msg", TS: fmt.Sprintf("2026-01-01T00:00:%02dZ", i+1),
			Data: json.RawMessage(fmt.Sprintf(`{"n":%d}`, i+1))})
	}
	evs = append(evs, chainlog.Event{ID: "m1", AgentType: "openclaw", NodeID: "n2", AgentID: "main",
		SessionID: chainlogtest.Ptr("s1"), EventType: "msg", TS: "2026-01-01T00:00:30Z", Data: json.RawMessage(`{}`)})
	if _, err := st.Ingest(ctx, evs); err != nil {
		t.Fatal(err)
	}
	reqs := []sqlite.AmendRequest{
		{EventID: "e4", Kind: chainlog.KindAmend, Reason: "price fix", Actor: "ops",
			Patch: chainlog.Patch{Set: []string{chainlog.FieldModel}, Values: chainlog.Mutable{Model: chainlogtest.Ptr("m-1")}}},
		{EventID: "e6", Kind: chainlog.KindAmend, Reason: "other session", Actor: "ops",
			Patch: chainlog.Patch{Set: []string{chainlog.FieldModel}, Values: chainlog.Mutable{Model: chainlogtest.Ptr("m-2")}}},
	}
	if _, err := st.AmendBatch(ctx, reqs); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Amend(ctx, sqlite.AmendRequest{EventID: "e4", Kind: chainlog.KindRedact, Reason: "erasure", Actor: "dpo",
		Patch: chainlog.Patch{Set: []string{chainlog.FieldData}, Values: chainlog.Mutable{Data: json.RawMessage(`{"redacted":true}`)}}}); err != nil {
		t.Fatal(err)
	}
	signer, verifier := chainlogtest.NewKey(t, "test/evidence")
	signed, err := st.Checkpoint(ctx, signer, nil)
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{st: st, signer: signer, verifier: verifier, signed: signed}
}

func (f *fixture) pack(t testing.TB, flt evidence.Filter) *evidence.Pack {
	t.Helper()
	p, err := evidence.Build(context.Background(), f.st, flt, f.signed)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// roundTrip encodes and decodes p, as an auditor's copy would be.
func roundTrip(t *testing.T, p *evidence.Pack) *evidence.Pack {
	t.Helper()
	var buf bytes.Buffer
	if err := evidence.Encode(&buf, p); err != nil {
		t.Fatal(err)
	}
	q, err := evidence.Decode(buf.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	return q
}

func TestSessionPackVerifies(t *testing.T) {
	f := newFixture(t)
	p := roundTrip(t, f.pack(t, evidence.Filter{SessionID: "s1"}))
	res, err := evidence.Verify(p, evidence.Options{Verifiers: []note.Verifier{f.verifier}})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, e := range p.Events {
		ids = append(ids, e.ID)
	}
	if got, want := strings.Join(ids, ","), "e2,e4,e5,e7,m1"; got != want {
		t.Errorf("selected %s, want %s", got, want)
	}
	// n1: seqs 2-7 with e3 and e6 as context, bounded by e1 and e8.
	if got, want := fmt.Sprint(res.Ranges), "[{n1 2 7 false 0} {n2 1 1 true 0}]"; got != want {
		t.Errorf("ranges %s, want %s", got, want)
	}
	if res.Context != 4 || res.Anchors < 1 || res.Amendments < 2 {
		t.Errorf("context %d, anchors %d, amendments %d; want 4, 1 or more, 2 or more", res.Context, res.Anchors, res.Amendments)
	}
}

func TestTamperedPackFails(t *testing.T) {
	f := newFixture(t)
	_, otherVerifier := chainlogtest.NewKey(t, "test/evidence")
	otherSigner, _ := chainlogtest.NewKey(t, "test/evidence")
	tests := []struct {
		name   string
		edit   func(p *evidence.Pack)
		reason string
	}{
		{"drop an event in the middle", func(p *evidence.Pack) { p.Events = append(p.Events[:1], p.Events[2:]...) }, "seq 4 is missing"},
		{"drop a context event", func(p *evidence.Pack) { p.Context = p.Context[1:2] }, "which bounds the range, is missing"},
		{"drop the first event, keep it as the bound", func(p *evidence.Pack) {
			first := p.Events[0]
			first.Data, first.CreatedAt = nil, ""
			p.Events = p.Events[1:]
			p.Context = append(p.Context[1:], first)
			p.Ranges[0].FirstSeq = 3
		}, "the filter selects it: the range's first events are missing"},
		{"drop the last event, keep it as the bound", func(p *evidence.Pack) {
			last := p.Events[3]
			p.Events = append(p.Events[:3], p.Events[4])
			p.Context = append(p.Context[:3], last)
			p.Ranges[0].LastSeq = 6
		}, "the filter selects it: the range's last events are missing"},
		{"edit an identity", func(p *evidence.Pack) { p.Events[1].TS = "2026-01-01T00:00:59Z" }, "chain_hash is not the hash of its identity"},
		{"edit the data", func(p *evidence.Pack) { d := `{"n":4}`; p.Events[1].Data = &d }, "payload digest"},
		{"edit the ingest digest", func(p *evidence.Pack) { p.Events[2].PayloadDigest = strings.Repeat("ab", 32) }, "not leaf"},
		{"remove an amendment record", func(p *evidence.Pack) { p.Amendments = p.Amendments[1:] }, "a record is missing"},
		{"remove the last amendment record", func(p *evidence.Pack) { p.Amendments = p.Amendments[:len(p.Amendments)-1] }, "no anchor in the checkpoint's tree commits to it"},
		{"edit an amendment's reason", func(p *evidence.Pack) { p.Amendments[0].Reason = "routine" }, "its hash is not the hash of its fields"},
		{"swap the checkpoint", func(p *evidence.Pack) {
			cp, _ := chainlog.ParseSignedCheckpoint([]byte(p.Checkpoint))
			cp.Size--
			signed, _ := chainlog.SignCheckpoint(cp, otherSigner)
			p.Checkpoint = string(signed)
		}, "checkpoint: "},
		{"drop a tree hash", func(p *evidence.Pack) {
			for k := range p.Hashes {
				delete(p.Hashes, k)
				break
			}
		}, "no inclusion proof"},
		{"pass a non-selected event as selected", func(p *evidence.Pack) { p.Filter.SessionID = "s2" }, "the pack's filter does not select it"},
	}
	base := f.pack(t, evidence.Filter{SessionID: "s1"})
	var buf bytes.Buffer
	if err := evidence.Encode(&buf, base); err != nil {
		t.Fatal(err)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := evidence.Decode(buf.Bytes())
			if err != nil {
				t.Fatal(err)
			}
			tt.edit(p)
			_, err = evidence.Verify(p, evidence.Options{Verifiers: []note.Verifier{f.verifier}})
			var ee *evidence.Error
			if !errors.As(err, &ee) || !errors.Is(err, evidence.ErrInvalid) {
				t.Fatalf("got %v, want an *evidence.Error", err)
			}
			if !strings.Contains(err.Error(), tt.reason) {
				t.Errorf("got %q, want it to say %q", err, tt.reason)
			}
		})
	}
	t.Run("wrong key", func(t *testing.T) {
		_, err := evidence.Verify(roundTrip(t, base), evidence.Options{Verifiers: []note.Verifier{otherVerifier}})
		if !errors.Is(err, evidence.ErrInvalid) || !strings.HasPrefix(err.Error(), "checkpoint: ") {
			t.Errorf("got %v, want the checkpoint refused", err)
		}
	})
}

// TestFiltersVerify builds and checks the packs of other selections,
// including one with every event (the anchors among them) and a time
// window whose ranges hold events outside it.
func TestFiltersVerify(t *testing.T) {
	f := newFixture(t)
	tests := []struct {
		name   string
		filter evidence.Filter
		events int
	}{
		{"everything", evidence.Filter{}, 9 + 2},
		{"node n1", evidence.Filter{NodeID: "n1"}, 8},
		{"node n1, a window", evidence.Filter{NodeID: "n1", Since: "2026-01-01T00:00:03Z", Until: "2026-01-01T00:00:06Z"}, 3},
		{"session s2 in a window", evidence.Filter{SessionID: "s2", Since: "2026-01-01T00:00:02Z"}, 3},
		{"agent", evidence.Filter{AgentID: "main"}, 9},
		{"the anchors' node", evidence.Filter{NodeID: chainlog.AnchorNode}, 2},
		{"nothing", evidence.Filter{SessionID: "none"}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := roundTrip(t, f.pack(t, tt.filter))
			if len(p.Events) != tt.events {
				t.Errorf("%d events, want %d", len(p.Events), tt.events)
			}
			if _, err := evidence.Verify(p, evidence.Options{Verifiers: []note.Verifier{f.verifier}}); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestOlderCheckpointFails swaps a pack's checkpoint for an older,
// genuine one of the same log: the event committed after it has no leaf
// in its tree. (Events within the older tree still prove true: they are
// in it.)
func TestOlderCheckpointFails(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	if _, err := f.st.Ingest(ctx, []chainlog.Event{{ID: "late", AgentType: "openclaw", NodeID: "n1", AgentID: "main",
		SessionID: chainlogtest.Ptr("s1"), EventType: "msg", TS: "2026-01-01T00:01:00Z"}}); err != nil {
		t.Fatal(err)
	}
	newer, err := f.st.Checkpoint(ctx, f.signer, f.signed)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct{ session, reason string }{
		{"s1", "is outside the checkpoint's tree of 11 leaves"}, // "late" came after it
	} {
		p, err := evidence.Build(ctx, f.st, evidence.Filter{SessionID: tt.session}, newer)
		if err != nil {
			t.Fatal(err)
		}
		opts := evidence.Options{Verifiers: []note.Verifier{f.verifier}}
		if _, err := evidence.Verify(roundTrip(t, p), opts); err != nil {
			t.Fatalf("%s: the pack against the newer checkpoint: %v", tt.session, err)
		}
		p.Checkpoint = string(f.signed)
		_, err = evidence.Verify(roundTrip(t, p), opts)
		if !errors.Is(err, evidence.ErrInvalid) || !strings.Contains(err.Error(), tt.reason) {
			t.Errorf("%s: got %v, want it to say %q", tt.session, err, tt.reason)
		}
	}
}

// TestCosignedCheckpoint checks the witnesses' quorum: a pack whose
// checkpoint a witness cosigned verifies with its key; one without the
// cosignature does not.
func TestCosignedCheckpoint(t *testing.T) {
	f := newFixture(t)
	wsigner, vkey := chainlogtest.NewWitnessKey(t, "witness.test")
	wverifier, err := witness.NewVerifier(vkey)
	if err != nil {
		t.Fatal(err)
	}
	cp, err := chainlog.ParseSignedCheckpoint(f.signed)
	if err != nil {
		t.Fatal(err)
	}
	cosigned, err := note.Sign(&note.Note{Text: cp.Text()}, f.signer, wsigner)
	if err != nil {
		t.Fatal(err)
	}
	opts := evidence.Options{Verifiers: []note.Verifier{f.verifier}, Cosigned: func(signed []byte) error {
		return chainlog.CheckCosignatures(signed, 1, []note.Verifier{wverifier})
	}}
	p, err := evidence.Build(context.Background(), f.st, evidence.Filter{SessionID: "s1"}, cosigned)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := evidence.Verify(roundTrip(t, p), opts); err != nil {
		t.Errorf("cosigned: %v", err)
	}
	p.Checkpoint = string(f.signed)
	if _, err := evidence.Verify(roundTrip(t, p), opts); !errors.Is(err, evidence.ErrInvalid) || !strings.HasPrefix(err.Error(), "checkpoint: ") {
		t.Errorf("not cosigned: got %v, want the checkpoint refused", err)
	}
}

// TestUnanchoredAmendment refuses to pack an amendment that the
// checkpoint's tree does not anchor yet, with a hint.
func TestUnanchoredAmendment(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	if _, err := f.st.Amend(ctx, sqlite.AmendRequest{EventID: "e5", Kind: chainlog.KindAmend, Reason: "late", Actor: "ops",
		Patch: chainlog.Patch{Set: []string{chainlog.FieldModel}, Values: chainlog.Mutable{Model: chainlogtest.Ptr("m-3")}}}); err != nil {
		t.Fatal(err)
	}
	_, err := evidence.Build(ctx, f.st, evidence.Filter{SessionID: "s1"}, f.signed)
	if err == nil || !strings.Contains(err.Error(), "amendment 4 is not yet anchored in the checkpoint's tree: sign a newer checkpoint first") {
		t.Errorf("got %v, want amendment 4 refused", err)
	}
	// Another session's pack does not need it.
	if _, err := evidence.Build(ctx, f.st, evidence.Filter{SessionID: "s2"}, f.signed); err != nil {
		t.Errorf("s2: %v", err)
	}
}

// TestPackAfterPrune: a session whose events start right after a prune
// is bound by the prune record's anchor, which the pack carries with the
// run of the trail that anchors it; dropping that record fails.
func TestPackAfterPrune(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	// e1 and e2 (s2 and s1) are pruned: s1's first event left is e4.
	cut := chainlog.PruneCut{NodeID: "n1", FirstSeq: 1, LastSeq: 3}
	e3, err := f.st.Event(ctx, "e3")
	if err != nil {
		t.Fatal(err)
	}
	cut.Anchor = e3.Hash
	if _, err := f.st.Prune(ctx, chainlog.PruneRequest{Cuts: []chainlog.PruneCut{cut}, Before: time.Date(2026, 1, 2, 0, 0, 0, 0, time.UTC), Reason: "policy", Actor: "retention"}); err != nil {
		t.Fatal(err)
	}
	signed, err := f.st.Checkpoint(ctx, f.signer, nil)
	if err != nil {
		t.Fatal(err)
	}
	p, err := evidence.Build(ctx, f.st, evidence.Filter{SessionID: "s1", NodeID: "n1"}, signed)
	if err != nil {
		t.Fatal(err)
	}
	p = roundTrip(t, p)
	res, err := evidence.Verify(p, evidence.Options{Verifiers: []note.Verifier{f.verifier}})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := fmt.Sprint(res.Ranges), "[{n1 4 7 false 3}]"; got != want {
		t.Errorf("ranges %s, want %s", got, want)
	}
	q := roundTrip(t, p)
	q.Amendments = slices.DeleteFunc(q.Amendments, func(a chainlog.Amendment) bool { return a.Kind == chainlog.KindPrune })
	if _, err := evidence.Verify(q, evidence.Options{Verifiers: []note.Verifier{f.verifier}}); err == nil {
		t.Error("pack without its prune record verifies")
	}
	for _, through := range []int64{0, 2} {
		q := roundTrip(t, p)
		q.Ranges[0].PrunedThrough = through
		if _, err := evidence.Verify(q, evidence.Options{Verifiers: []note.Verifier{f.verifier}}); err == nil || !strings.Contains(err.Error(), `range of node "n1"`) {
			t.Errorf("range pruned through %d: %v; want a failure naming the range", through, err)
		}
	}
}
