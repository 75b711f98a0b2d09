package chainlog

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"strconv"
	"strings"
	"testing"
)

// vectorPayload is a payload as testdata/amendment-vectors.json holds it.
type vectorPayload struct {
	Data       *string `json:"data"`
	CostBits   *string `json:"cost_bits"`
	TokenCount *int64  `json:"token_count"`
	Model      *string `json:"model"`
}

func (p *vectorPayload) mutable(tb testing.TB) Mutable {
	tb.Helper()
	var m Mutable
	if p.Data != nil {
		m.Data = json.RawMessage(*p.Data)
	}
	if p.CostBits != nil {
		bits, err := strconv.ParseUint(*p.CostBits, 16, 64)
		if err != nil {
			tb.Fatalf("cost_bits %q: %v", *p.CostBits, err)
		}
		c := math.Float64frombits(bits)
		m.CostUSD = &c
	}
	m.TokenCount, m.Model = p.TokenCount, p.Model
	return m
}

type amendmentVectors struct {
	Events []struct {
		EventID      string        `json:"event_id"`
		Ingest       vectorPayload `json:"ingest"`
		IngestDigest string        `json:"ingest_digest"`
	} `json:"events"`
	Records []struct {
		Amendment
		Canonical     string        `json:"canonical"`
		PayloadBefore vectorPayload `json:"payload_before"`
		PayloadAfter  vectorPayload `json:"payload_after"`
	} `json:"records"`
	Head struct {
		Seq  int64  `json:"seq"`
		Hash string `json:"hash"`
	} `json:"head"`
}

func loadAmendmentVectors(tb testing.TB) *amendmentVectors {
	tb.Helper()
	b, err := os.ReadFile("testdata/amendment-vectors.json")
	if err != nil {
		tb.Fatal(err)
	}
	var v amendmentVectors
	if err := json.Unmarshal(b, &v); err != nil {
		tb.Fatalf("amendment-vectors.json: %v", err)
	}
	if len(v.Records) < 5 || len(v.Events) == 0 {
		tb.Fatalf("amendment-vectors.json: got %d records and %d events, want at least 5 and 1", len(v.Records), len(v.Events))
	}
	return &v
}

// TestAmendmentVectors checks the canonical text and hash of every record
// of testdata/amendment-vectors.json, written by an independent Python
// implementation of docs/audit-trail.md.
func TestAmendmentVectors(t *testing.T) {
	v := loadAmendmentVectors(t)
	prev := GenesisHash
	for _, rec := range v.Records {
		t.Run(fmt.Sprintf("seq %d", rec.Seq), func(t *testing.T) {
			a := rec.Amendment
			if got := string(AppendAmendmentCanonical(nil, &a)); got != rec.Canonical {
				t.Errorf("AppendAmendmentCanonical:\n got %s\nwant %s", got, rec.Canonical)
			}
			if got := string(AppendAmendmentCanonical([]byte("x|"), &a)); got != "x|"+rec.Canonical {
				t.Errorf("AppendAmendmentCanonical after a prefix:\n got %s\nwant x|%s", got, rec.Canonical)
			}
			if a.PrevHash != prev {
				t.Errorf("vector prev_hash: got %s, want the previous record's hash %s", a.PrevHash, prev)
			}
			if got := AmendmentHash(a.PrevHash, &a); got != a.Hash {
				t.Errorf("AmendmentHash: got %s, want %s", got, a.Hash)
			}
			before, after := rec.PayloadBefore.mutable(t), rec.PayloadAfter.mutable(t)
			if got := PayloadDigest(&before); got != a.DigestBefore {
				t.Errorf("PayloadDigest(payload_before): got %s, want digest_before %s", got, a.DigestBefore)
			}
			if got := PayloadDigest(&after); got != a.DigestAfter {
				t.Errorf("PayloadDigest(payload_after): got %s, want digest_after %s", got, a.DigestAfter)
			}
			// The change is the one the record names.
			var p Patch
			p.Set, p.Values = a.Fields, after
			if got, err := p.Apply(before); err != nil {
				t.Errorf("Patch.Apply: got error %v, want nil", err)
			} else if PayloadDigest(&got) != a.DigestAfter {
				t.Errorf("Patch{%v}.Apply(before): got digest %s, want digest_after %s", a.Fields, PayloadDigest(&got), a.DigestAfter)
			}
		})
		prev = rec.Hash
	}
	if v.Head.Seq != int64(len(v.Records)) || v.Head.Hash != prev {
		t.Errorf("vector head: got seq %d hash %s, want %d %s", v.Head.Seq, v.Head.Hash, len(v.Records), prev)
	}
}

// TestAmendmentVectorsVerify verifies the vector trail over a store whose
// rows hold the events' final payloads.
func TestAmendmentVectorsVerify(t *testing.T) {
	v := loadAmendmentVectors(t)
	ingest := map[string]string{}
	current := map[string]Mutable{}
	for _, e := range v.Events {
		m := e.Ingest.mutable(t)
		if got := PayloadDigest(&m); got != e.IngestDigest {
			t.Errorf("event %q: ingest digest: got %s, want %s", e.EventID, got, e.IngestDigest)
		}
		ingest[e.EventID], current[e.EventID] = e.IngestDigest, m
	}
	var recs []Amendment
	last := map[string]string{}
	for _, r := range v.Records {
		recs = append(recs, r.Amendment)
		current[r.EventID], last[r.EventID] = r.PayloadAfter.mutable(t), r.DigestAfter
	}
	s := newStore()
	prev := GenesisHash
	for i, e := range v.Events {
		row := stamp(chainEvent("node-v", i+1), int64(i+1), prev)
		row.ID = e.EventID
		row.Hash = ChainHash(prev, &row.Event)
		row.SetMutable(current[e.EventID])
		row.PayloadDigest, row.LastDigest = e.IngestDigest, last[e.EventID]
		s.rows = append(s.rows, row)
		prev = row.Hash
	}
	s.heads = headsOf(s.rows)
	s.amends = scanView(recs, ingest)
	s.amendHead = &Head{Hash: v.Head.Hash, Seq: v.Head.Seq}

	rep := mustVerify(t, s, "")
	if rep.Status != StatusValid || rep.BrokenAt != nil {
		t.Fatalf("report: got status %q break %v, want %q and none", rep.Status, rep.BrokenAt, StatusValid)
	}
	n := int64(len(v.Events))
	if rep.Checked != n || rep.PayloadsChecked != n || rep.PayloadsUnsealed != 0 {
		t.Errorf("counts: got checked %d payloads_checked %d payloads_unsealed %d, want %d %d 0", rep.Checked, rep.PayloadsChecked, rep.PayloadsUnsealed, n, n)
	}
	a := rep.Amendments
	if a.Status != StatusValid || a.Checked != int64(len(recs)) || a.HeadSeq != v.Head.Seq || a.HeadHash != v.Head.Hash {
		t.Errorf("amendments: got %+v, want valid, %d checked, head %d %s", a, len(recs), v.Head.Seq, v.Head.Hash)
	}
}

func TestAmendmentCanonical(t *testing.T) {
	tests := []struct {
		name string
		a    Amendment
		want string
	}{
		{"zero", Amendment{},
			`{"actor":"","at":"","digest_after":"","digest_before":"","event_id":"","fields":[],"kind":"","reason":"","seq":0}`},
		{"prev_hash and hash are not part of it", Amendment{Seq: 1, PrevHash: GenesisHash, Hash: "ff"},
			`{"actor":"","at":"","digest_after":"","digest_before":"","event_id":"","fields":[],"kind":"","reason":"","seq":1}`},
		{"empty fields as nil and as empty", Amendment{Fields: []string{}},
			`{"actor":"","at":"","digest_after":"","digest_before":"","event_id":"","fields":[],"kind":"","reason":"","seq":0}`},
		{"fields in the order given", Amendment{Fields: []string{"model", "data", "cost_usd"}, Kind: KindRedact, Seq: 12},
			`{"actor":"","at":"","digest_after":"","digest_before":"","event_id":"","fields":["model","data","cost_usd"],"kind":"redact","reason":"","seq":12}`},
		{"escapes as the identity canonical form", Amendment{
			Actor: "Zoë <dpo@example.com> & \"co\"", Reason: "a\\b\n\t\u2028😀\x01\x7f/", EventID: "ev:ü", At: "2026-01-01T00:00:00Z",
			Seq: math.MaxInt64, Kind: KindAmend, Fields: []string{"data"}, DigestBefore: "aa", DigestAfter: "bb"},
			`{"actor":"Zo\u00eb <dpo@example.com> & \"co\"","at":"2026-01-01T00:00:00Z","digest_after":"bb","digest_before":"aa",` +
				`"event_id":"ev:\u00fc","fields":["data"],"kind":"amend","reason":"a\\b\n\t\u2028\ud83d\ude00\u0001\u007f/","seq":9223372036854775807}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := string(AppendAmendmentCanonical(nil, &tt.a)); got != tt.want {
				t.Errorf("AppendAmendmentCanonical:\n got %s\nwant %s", got, tt.want)
			}
			// It is JSON, and decodes back to the same record.
			var back Amendment
			if err := json.Unmarshal([]byte(tt.want), &back); err != nil {
				t.Fatalf("canonical text is not JSON: %v", err)
			}
			back.PrevHash, back.Hash = tt.a.PrevHash, tt.a.Hash
			if len(back.Fields) == 0 {
				back.Fields = tt.a.Fields
			}
			if fmt.Sprintf("%#v", back) != fmt.Sprintf("%#v", tt.a) {
				t.Errorf("decoded canonical text:\n got %#v\nwant %#v", back, tt.a)
			}
		})
	}
}

// TestAmendmentHashCoversEveryField: changing any recorded field, or the
// previous hash, changes the hash; PrevHash and Hash themselves are not
// hashed.
func TestAmendmentHashCoversEveryField(t *testing.T) {
	base := Amendment{Seq: 3, EventID: "ev-1", Kind: KindAmend, Fields: []string{"data", "model"},
		DigestBefore: strings.Repeat("a", 64), DigestAfter: strings.Repeat("b", 64),
		Reason: "r", Actor: "me", At: "2026-01-01T00:00:00Z", PrevHash: strings.Repeat("c", 64)}
	want := AmendmentHash(base.PrevHash, &base)
	tests := []struct {
		name    string
		edit    func(a *Amendment)
		changes bool
	}{
		{"seq", func(a *Amendment) { a.Seq = 4 }, true},
		{"event_id", func(a *Amendment) { a.EventID = "ev-2" }, true},
		{"kind", func(a *Amendment) { a.Kind = KindRedact }, true},
		{"fields order", func(a *Amendment) { a.Fields = []string{"model", "data"} }, true},
		{"fields dropped", func(a *Amendment) { a.Fields = []string{"data"} }, true},
		{"fields joined", func(a *Amendment) { a.Fields = []string{"data,model"} }, true},
		{"digest_before", func(a *Amendment) { a.DigestBefore = strings.Repeat("d", 64) }, true},
		{"digest_after", func(a *Amendment) { a.DigestAfter = strings.Repeat("d", 64) }, true},
		{"digests swapped", func(a *Amendment) { a.DigestBefore, a.DigestAfter = a.DigestAfter, a.DigestBefore }, true},
		{"reason", func(a *Amendment) { a.Reason = "r " }, true},
		{"actor", func(a *Amendment) { a.Actor = "you" }, true},
		{"at", func(a *Amendment) { a.At = "2026-01-01T00:00:00.000Z" }, true},
		{"hash field", func(a *Amendment) { a.Hash = "x" }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := base
			a.Fields = append([]string(nil), base.Fields...)
			tt.edit(&a)
			if got := AmendmentHash(a.PrevHash, &a); (got != want) != tt.changes {
				t.Errorf("AmendmentHash after editing %s: got %s, want it to change: %v", tt.name, got, tt.changes)
			}
		})
	}
	if got := AmendmentHash(GenesisHash, &base); got == want {
		t.Errorf("AmendmentHash with another prev_hash: got %s, want a different hash", got)
	}
}

// scanView returns recs as a store's ScanAmendments gives them: each with
// its event's previous digest (the previous record's digest_after for the
// event, else the ingest digest in ingest, "" when none) and whether the
// event exists (whether ingest has it).
func scanView(recs []Amendment, ingest map[string]string) []AmendmentScan {
	last := map[string]string{}
	out := make([]AmendmentScan, 0, len(recs))
	for _, a := range recs {
		want, seen := last[a.EventID]
		if !seen {
			want = ingest[a.EventID]
		}
		_, exists := ingest[a.EventID]
		out = append(out, AmendmentScan{Amendment: a, ExpectedBefore: want, EventExists: exists})
		last[a.EventID] = a.DigestAfter
	}
	return out
}

// trail is an amendment trail as stored: the records, the head and the
// ingest digest of every event that exists.
type trail struct {
	recs   []Amendment
	head   *Head
	ingest map[string]string
	final  map[string]Mutable // each event's payload after the trail
}

// trailPayload is the payload of an event after its step-th change.
func trailPayload(event string, step int) Mutable {
	m := Mutable{Data: json.RawMessage(fmt.Sprintf(`{"event":%q,"step":%d}`, event, step)), Model: sp("m-" + event)}
	if step > 0 {
		m.CostUSD = fp(float64(step) / 1000)
		m.TokenCount = ip(int64(100 * step))
	}
	return m
}

// buildTrail returns a valid trail of five records over three events, as
// a store's amend method writes it.
func buildTrail() *trail {
	tr := &trail{ingest: map[string]string{}, final: map[string]Mutable{}}
	steps := map[string]int{}
	for _, ev := range []string{"ev-1", "ev-2", "ev-3"} {
		m := trailPayload(ev, 0)
		tr.ingest[ev], tr.final[ev] = PayloadDigest(&m), m
	}
	changes := []struct {
		event, kind string
		fields      []string
	}{
		{"ev-1", KindAmend, []string{FieldCostUSD}},
		{"ev-2", KindRedact, []string{FieldData}},
		{"ev-1", KindAmend, []string{FieldModel, FieldTokenCount}},
		{"ev-3", KindAmend, []string{FieldData, FieldCostUSD, FieldTokenCount, FieldModel}},
		{"ev-2", KindRedact, []string{FieldData, FieldModel}},
	}
	prev := GenesisHash
	for i, c := range changes {
		before := tr.final[c.event]
		steps[c.event]++
		after := trailPayload(c.event, steps[c.event])
		a := Amendment{Seq: int64(i + 1), EventID: c.event, Kind: c.kind, Fields: c.fields,
			DigestBefore: PayloadDigest(&before), DigestAfter: PayloadDigest(&after),
			Reason: fmt.Sprintf("reason %d — «é»", i+1), Actor: "actor-" + strconv.Itoa(i+1),
			At: fmt.Sprintf("2026-02-0%dT00:00:00Z", i+1), PrevHash: prev}
		a.Hash = AmendmentHash(prev, &a)
		tr.recs = append(tr.recs, a)
		tr.final[c.event] = after
		prev = a.Hash
	}
	tr.head = &Head{Hash: prev, Seq: int64(len(changes))}
	return tr
}

// rehash recomputes the hashes of recs from index from on, as a forger
// who knows the format does, and moves the head to the last one.
func (tr *trail) rehash(from int) {
	prev := GenesisHash
	if from > 0 {
		prev = tr.recs[from-1].Hash
	}
	for i := from; i < len(tr.recs); i++ {
		tr.recs[i].PrevHash = prev
		tr.recs[i].Hash = AmendmentHash(prev, &tr.recs[i])
		prev = tr.recs[i].Hash
	}
	if n := len(tr.recs); n > 0 {
		tr.head = &Head{Hash: prev, Seq: tr.recs[n-1].Seq}
	}
}

func (tr *trail) renumber(from int) {
	for i := from; i < len(tr.recs); i++ {
		tr.recs[i].Seq = int64(i + 1)
	}
}

func (tr *trail) delete(i int) {
	tr.recs = append(tr.recs[:i:i], tr.recs[i+1:]...)
}

func (tr *trail) insert(i int, a Amendment) {
	tr.recs = append(tr.recs[:i:i], append([]Amendment{a}, tr.recs[i:]...)...)
}

// source is a store holding only the trail (no event rows).
func (tr *trail) source() *memSource {
	return &memSource{amends: scanView(tr.recs, tr.ingest), amendHead: tr.head}
}

// forged returns a well-formed record a forger appends to ev after
// prevHash, with digest_before the event's digest before it in orig.
func forged(seq int64, ev, before, prevHash string) Amendment {
	after := Mutable{Data: json.RawMessage(`{"forged":true}`)}
	a := Amendment{Seq: seq, EventID: ev, Kind: KindAmend, Fields: []string{FieldData},
		DigestBefore: before, DigestAfter: PayloadDigest(&after),
		Reason: "forged", Actor: "mallory", At: "2026-03-01T00:00:00Z", PrevHash: prevHash}
	a.Hash = AmendmentHash(prevHash, &a)
	return a
}

func TestVerifyAmendmentsTampering(t *testing.T) {
	orig := buildTrail()
	rec := func(i int) Amendment { return orig.recs[i] } // seq i+1
	bogus := strings.Repeat("f", 64)
	// edited is a case editing record 3 (index 2) in place.
	edited := func(edit func(a *Amendment)) func(*trail) {
		return func(tr *trail) { edit(&tr.recs[2]) }
	}
	// hashBreak is the break of record 3 edited in place.
	hashBreak := func(tr *trail) *Break {
		a := tr.recs[2]
		return &Break{Trail: TrailAmendments, Seq: 3, EventID: a.EventID, Reason: ReasonAmendHash,
			Expected: AmendmentHash(rec(1).Hash, &a), Found: rec(2).Hash}
	}
	tb := func(seq int64, ev, reason, expected, found string) *Break {
		return &Break{Trail: TrailAmendments, Seq: seq, EventID: ev, Reason: reason, Expected: expected, Found: found}
	}
	tests := []struct {
		name    string
		tamper  func(tr *trail)
		status  string
		checked int64
		want    func(tr *trail) *Break // nil: no break
		detail  string
	}{
		{name: "untouched", tamper: func(*trail) {}, status: StatusValid, checked: 5},
		{name: "empty trail, no head", tamper: func(tr *trail) { tr.recs, tr.head = nil, nil }, status: StatusEmpty},
		// A record whose event has no ingest digest (a row from before
		// payload digests) has nothing to compare digest_before with.
		{name: "event without ingest digest", tamper: func(tr *trail) { tr.ingest["ev-3"] = "" }, status: StatusValid, checked: 5},

		// Every recorded field edited.
		{name: "reason edited", tamper: edited(func(a *Amendment) { a.Reason = "routine" }),
			status: StatusInvalid, checked: 5, want: hashBreak},
		{name: "reason emptied", tamper: edited(func(a *Amendment) { a.Reason = "" }),
			status: StatusInvalid, checked: 5, want: hashBreak},
		{name: "actor edited", tamper: edited(func(a *Amendment) { a.Actor = "Zoë" }),
			status: StatusInvalid, checked: 5, want: hashBreak},
		{name: "at edited", tamper: edited(func(a *Amendment) { a.At = "2026-02-03T00:00:01Z" }),
			status: StatusInvalid, checked: 5, want: hashBreak},
		{name: "fields edited", tamper: edited(func(a *Amendment) { a.Fields = []string{FieldModel} }),
			status: StatusInvalid, checked: 5, want: hashBreak},
		{name: "fields reordered", tamper: edited(func(a *Amendment) { a.Fields = []string{FieldTokenCount, FieldModel} }),
			status: StatusInvalid, checked: 5, want: hashBreak},
		{name: "kind edited", tamper: edited(func(a *Amendment) { a.Kind = KindRedact }),
			status: StatusInvalid, checked: 5, want: hashBreak},
		{name: "digest_before edited", tamper: edited(func(a *Amendment) { a.DigestBefore = bogus }),
			status: StatusInvalid, checked: 5, want: hashBreak},
		{name: "digest_after edited", tamper: edited(func(a *Amendment) { a.DigestAfter = bogus }),
			status: StatusInvalid, checked: 5, want: hashBreak},
		{name: "event_id edited", tamper: edited(func(a *Amendment) { a.EventID = "ev-2" }),
			status: StatusInvalid, checked: 5, want: hashBreak},
		{name: "hash edited", tamper: edited(func(a *Amendment) { a.Hash = bogus }),
			status: StatusInvalid, checked: 5,
			want: func(*trail) *Break { return tb(3, "ev-1", ReasonAmendHash, rec(2).Hash, bogus) }},
		{name: "prev_hash edited", tamper: edited(func(a *Amendment) { a.PrevHash = bogus }),
			status: StatusInvalid, checked: 5,
			want: func(*trail) *Break { return tb(3, "ev-1", ReasonAmendPrev, rec(1).Hash, bogus) }},
		{name: "first prev_hash not genesis, rehashed", tamper: func(tr *trail) {
			tr.recs[0].PrevHash = bogus
			tr.recs[0].Hash = AmendmentHash(bogus, &tr.recs[0])
		}, status: StatusInvalid, checked: 5,
			want: func(tr *trail) *Break { return tb(1, "ev-1", ReasonAmendPrev, GenesisHash, bogus) }},
		{name: "seq edited", tamper: edited(func(a *Amendment) { a.Seq = 7 }),
			status: StatusInvalid, checked: 5,
			want: func(*trail) *Break { return tb(7, "ev-1", ReasonAmendSeq, "3", "7") }},
		{name: "two records edited: the first is reported", tamper: func(tr *trail) {
			tr.recs[1].Actor, tr.recs[3].Actor = "x", "y"
		}, status: StatusInvalid, checked: 5,
			want: func(tr *trail) *Break {
				return tb(2, "ev-2", ReasonAmendHash, AmendmentHash(rec(0).Hash, &tr.recs[1]), rec(1).Hash)
			}},

		// Deleted records.
		{name: "first record deleted", tamper: func(tr *trail) { tr.delete(0) },
			status: StatusInvalid, checked: 4,
			want: func(*trail) *Break { return tb(2, "ev-2", ReasonAmendSeq, "1", "2") }},
		{name: "middle record deleted", tamper: func(tr *trail) { tr.delete(2) },
			status: StatusInvalid, checked: 4,
			want: func(*trail) *Break { return tb(4, "ev-3", ReasonAmendSeq, "3", "4") }},
		{name: "middle record deleted, later ones renumbered", tamper: func(tr *trail) { tr.delete(2); tr.renumber(2) },
			status: StatusInvalid, checked: 4,
			want: func(*trail) *Break { return tb(3, "ev-3", ReasonAmendPrev, rec(1).Hash, rec(2).Hash) }},
		// A forger who rehashes everything after the gap and moves the
		// head is still caught when a later record of the same event
		// starts from the deleted record's digest_after.
		{name: "middle record deleted, later ones renumbered and rehashed", tamper: func(tr *trail) {
			tr.delete(1)
			tr.renumber(1)
			tr.rehash(1)
		}, status: StatusInvalid, checked: 4,
			want: func(tr *trail) *Break {
				return tb(4, "ev-2", ReasonAmendBefore, orig.ingest["ev-2"], rec(1).DigestAfter)
			}},
		{name: "last record deleted", tamper: func(tr *trail) { tr.delete(4) },
			status: StatusInvalid, checked: 4, detail: "last record is seq 4, head says seq 5",
			want: func(*trail) *Break {
				return &Break{Trail: TrailAmendments, Seq: 4, Reason: ReasonAmendHeadMismatch, Expected: rec(3).Hash, Found: rec(4).Hash}
			}},
		// What the trail alone cannot show: its newest records gone with
		// the head rewound (the event rows then disagree; see
		// TestVerifyAmendmentsWithRows).
		{name: "last record deleted, head rewound (needs checkpoints)", tamper: func(tr *trail) {
			tr.delete(4)
			tr.head = &Head{Hash: rec(3).Hash, Seq: 4}
		}, status: StatusValid, checked: 4},
		{name: "all records deleted, head kept", tamper: func(tr *trail) { tr.recs = nil },
			status: StatusInvalid, checked: 0,
			want: func(*trail) *Break {
				return &Break{Trail: TrailAmendments, Seq: 5, Reason: ReasonAmendHeadOrphan, Expected: GenesisHash, Found: rec(4).Hash}
			}},

		// Reordered records.
		{name: "two records swapped", tamper: func(tr *trail) { tr.recs[1], tr.recs[2] = tr.recs[2], tr.recs[1] },
			status: StatusInvalid, checked: 5,
			want: func(*trail) *Break { return tb(3, "ev-1", ReasonAmendSeq, "2", "3") }},
		{name: "two records swapped, seqs renumbered", tamper: func(tr *trail) {
			tr.recs[1], tr.recs[2] = tr.recs[2], tr.recs[1]
			tr.renumber(0)
		}, status: StatusInvalid, checked: 5,
			want: func(*trail) *Break { return tb(2, "ev-1", ReasonAmendPrev, rec(0).Hash, rec(1).Hash) }},
		{name: "two records of one event swapped, renumbered and rehashed", tamper: func(tr *trail) {
			tr.recs[0], tr.recs[2] = tr.recs[2], tr.recs[0]
			tr.renumber(0)
			tr.rehash(0)
		}, status: StatusInvalid, checked: 5,
			want: func(tr *trail) *Break {
				return tb(1, "ev-1", ReasonAmendBefore, orig.ingest["ev-1"], rec(2).DigestBefore)
			}},

		// Forged records.
		{name: "forged record in the middle", tamper: func(tr *trail) {
			tr.insert(2, forged(3, "ev-3", orig.ingest["ev-3"], rec(1).Hash))
		}, status: StatusInvalid, checked: 6,
			want: func(*trail) *Break { return tb(3, "ev-1", ReasonAmendSeq, "4", "3") }},
		{name: "forged record in the middle, later ones renumbered", tamper: func(tr *trail) {
			tr.insert(2, forged(3, "ev-3", orig.ingest["ev-3"], rec(1).Hash))
			tr.renumber(3)
			tr.head = &Head{Hash: rec(4).Hash, Seq: 6}
		}, status: StatusInvalid, checked: 6,
			want: func(tr *trail) *Break { return tb(4, "ev-1", ReasonAmendPrev, tr.recs[2].Hash, rec(1).Hash) }},
		{name: "forged record in the middle, later ones renumbered and rehashed", tamper: func(tr *trail) {
			tr.insert(2, forged(3, "ev-3", orig.ingest["ev-3"], rec(1).Hash))
			tr.renumber(3)
			tr.rehash(3)
		}, status: StatusInvalid, checked: 6,
			want: func(tr *trail) *Break {
				return tb(5, "ev-3", ReasonAmendBefore, tr.recs[2].DigestAfter, rec(3).DigestBefore)
			}},
		{name: "forged record in the middle with a made-up hash", tamper: func(tr *trail) {
			f := forged(3, "ev-3", orig.ingest["ev-3"], rec(1).Hash)
			f.Hash = bogus
			tr.insert(2, f)
		}, status: StatusInvalid, checked: 6,
			want: func(tr *trail) *Break {
				return tb(3, "ev-3", ReasonAmendHash, AmendmentHash(rec(1).Hash, &tr.recs[2]), bogus)
			}},
		{name: "forged record at the end, head kept", tamper: func(tr *trail) {
			tr.recs = append(tr.recs, forged(6, "ev-1", rec(2).DigestAfter, rec(4).Hash))
		}, status: StatusInvalid, checked: 6, detail: "last record is seq 6, head says seq 5",
			want: func(tr *trail) *Break {
				return &Break{Trail: TrailAmendments, Seq: 6, Reason: ReasonAmendHeadMismatch, Expected: tr.recs[5].Hash, Found: rec(4).Hash}
			}},
		// A well-formed append with the head moved is indistinguishable
		// from a real one.
		{name: "forged record at the end, head moved (needs checkpoints)", tamper: func(tr *trail) {
			tr.recs = append(tr.recs, forged(6, "ev-1", rec(2).DigestAfter, rec(4).Hash))
			tr.head = &Head{Hash: tr.recs[5].Hash, Seq: 6}
		}, status: StatusValid, checked: 6},
		{name: "forged record at the end with a wrong digest_before", tamper: func(tr *trail) {
			tr.recs = append(tr.recs, forged(6, "ev-1", orig.ingest["ev-1"], rec(4).Hash))
			tr.head = &Head{Hash: tr.recs[5].Hash, Seq: 6}
		}, status: StatusInvalid, checked: 6,
			want: func(*trail) *Break { return tb(6, "ev-1", ReasonAmendBefore, rec(2).DigestAfter, orig.ingest["ev-1"]) }},

		// digest_before and the event.
		{name: "digest_before rewritten and rehashed", tamper: func(tr *trail) {
			tr.recs[4].DigestBefore = bogus
			tr.rehash(4)
		}, status: StatusInvalid, checked: 5,
			want: func(*trail) *Break { return tb(5, "ev-2", ReasonAmendBefore, rec(1).DigestAfter, bogus) }},
		{name: "event's ingest digest rewritten", tamper: func(tr *trail) { tr.ingest["ev-3"] = bogus },
			status: StatusInvalid, checked: 5,
			want: func(*trail) *Break { return tb(4, "ev-3", ReasonAmendBefore, bogus, rec(3).DigestBefore) }},
		{name: "event deleted", tamper: func(tr *trail) { delete(tr.ingest, "ev-2") },
			status: StatusInvalid, checked: 5,
			want: func(*trail) *Break { return tb(2, "ev-2", ReasonAmendNoEvent, "", "ev-2") }},
		{name: "event_id pointed at a missing event and rehashed", tamper: func(tr *trail) {
			tr.recs[4].EventID = "ev-x"
			tr.rehash(4)
		}, status: StatusInvalid, checked: 5,
			want: func(*trail) *Break { return tb(5, "ev-x", ReasonAmendNoEvent, "", "ev-x") }},

		// The head.
		{name: "head missing", tamper: func(tr *trail) { tr.head = nil },
			status: StatusInvalid, checked: 5,
			want: func(*trail) *Break {
				return &Break{Trail: TrailAmendments, Seq: 5, Reason: ReasonAmendHeadMissing, Expected: rec(4).Hash}
			}},
		{name: "head hash disagrees", tamper: func(tr *trail) { tr.head = &Head{Hash: bogus, Seq: 5} },
			status: StatusInvalid, checked: 5, detail: "last record is seq 5, head says seq 5",
			want: func(*trail) *Break {
				return &Break{Trail: TrailAmendments, Seq: 5, Reason: ReasonAmendHeadMismatch, Expected: rec(4).Hash, Found: bogus}
			}},
		{name: "head seq disagrees", tamper: func(tr *trail) { tr.head = &Head{Hash: rec(4).Hash, Seq: 4} },
			status: StatusInvalid, checked: 5, detail: "head says seq 4",
			want: func(*trail) *Break {
				return &Break{Trail: TrailAmendments, Seq: 5, Reason: ReasonAmendHeadMismatch, Expected: rec(4).Hash, Found: rec(4).Hash}
			}},
		{name: "orphan head on an empty trail", tamper: func(tr *trail) {
			tr.recs = nil
			tr.head = &Head{Hash: bogus, Seq: 2}
		}, status: StatusInvalid, checked: 0,
			want: func(*trail) *Break {
				return &Break{Trail: TrailAmendments, Seq: 2, Reason: ReasonAmendHeadOrphan, Expected: GenesisHash, Found: bogus}
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr := buildTrail()
			tt.tamper(tr)
			var want *Break
			if tt.want != nil {
				want = tt.want(tr)
			}

			// The trail alone.
			got, err := verifyAmendments(context.Background(), tr.source(), nil)
			if err != nil {
				t.Fatalf("verifyAmendments: got error %v, want nil", err)
			}
			if got.Status != tt.status || got.Checked != tt.checked {
				t.Errorf("amendments: got status %q checked %d, want %q %d", got.Status, got.Checked, tt.status, tt.checked)
			}
			wantHeadSeq, wantHeadHash := int64(0), ""
			if tr.head != nil {
				wantHeadSeq, wantHeadHash = tr.head.Seq, tr.head.Hash
			}
			if got.HeadSeq != wantHeadSeq || got.HeadHash != wantHeadHash {
				t.Errorf("amendments head: got seq %d hash %q, want %d %q", got.HeadSeq, got.HeadHash, wantHeadSeq, wantHeadHash)
			}
			checkBreak(t, got.Break, want, tt.detail)

			// The same in a whole report, beside a valid node: broken_at
			// falls back to the trail's break.
			s := tr.source()
			nodes := sealedChain("node-a", 2)
			s.rows, s.heads = nodes, headsOf(nodes)
			rep := mustVerify(t, s, "")
			checkAmendmentReport(t, rep)
			if rep.Amendments.Status != tt.status || rep.Amendments.Checked != tt.checked {
				t.Errorf("report amendments: got status %q checked %d, want %q %d", rep.Amendments.Status, rep.Amendments.Checked, tt.status, tt.checked)
			}
			wantStatus := StatusValid
			if tt.status == StatusInvalid {
				wantStatus = StatusInvalid
			}
			if rep.Status != wantStatus {
				t.Errorf("report: got status %q, want %q", rep.Status, wantStatus)
			}
			if len(rep.Nodes) != 1 || rep.Nodes[0].Status != StatusValid {
				t.Errorf("nodes: got %q, want node-a valid", nodeSummaries(rep))
			}
			checkBreak(t, rep.BrokenAt, want, tt.detail)
		})
	}
}

// checkAmendmentReport checks what every report must satisfy once the
// amendment trail is in it: broken_at is the first node break, else the
// trail's; the error is broken_at's text; the status follows.
func checkAmendmentReport(t *testing.T, rep *Report) {
	t.Helper()
	var first *Break
	var checked, pre, payloads, unsealed int64
	for _, n := range rep.Nodes {
		checked, pre, payloads, unsealed = checked+n.Checked, pre+n.PreChain, payloads+n.PayloadsChecked, unsealed+n.PayloadsUnsealed
		if n.Break != nil && first == nil {
			first = n.Break
		}
		if (n.Status == StatusInvalid) != (n.Break != nil) {
			t.Errorf("node %q: got status %q with break %v", n.NodeID, n.Status, n.Break)
		}
	}
	if rep.Checked != checked || rep.PreChain != pre || rep.PayloadsChecked != payloads || rep.PayloadsUnsealed != unsealed {
		t.Errorf("totals: got checked %d pre_chain %d payloads_checked %d payloads_unsealed %d, want the nodes' sums %d %d %d %d",
			rep.Checked, rep.PreChain, rep.PayloadsChecked, rep.PayloadsUnsealed, checked, pre, payloads, unsealed)
	}
	if (rep.Amendments.Status == StatusInvalid) != (rep.Amendments.Break != nil) {
		t.Errorf("amendments: got status %q with break %v", rep.Amendments.Status, rep.Amendments.Break)
	}
	if first == nil {
		first = rep.Amendments.Break
	}
	if rep.BrokenAt != first {
		t.Errorf("BrokenAt: got %v, want the first node break, else the trail's: %v", rep.BrokenAt, first)
	}
	switch {
	case rep.BrokenAt != nil:
		if rep.Status != StatusInvalid || rep.Error == nil || *rep.Error != rep.BrokenAt.Error() {
			t.Errorf("invalid report: got status %q error %v, want %q and %q", rep.Status, rep.Error, StatusInvalid, rep.BrokenAt.Error())
		}
	case rep.Error != nil:
		t.Errorf("Error: got %q, want nil without a break", *rep.Error)
	case rep.Status == StatusEmpty && (rep.Checked != 0 || rep.PayloadsChecked != 0 ||
		(rep.NodeID == ScopeAll && rep.Amendments.Checked != 0)):
		t.Errorf("status: got %q with checked %d payloads_checked %d amendments checked %d, want %q",
			rep.Status, rep.Checked, rep.PayloadsChecked, rep.Amendments.Checked, StatusValid)
	case rep.Status != StatusEmpty && rep.Status != StatusValid:
		t.Errorf("status: got %q without a break, want %q or %q", rep.Status, StatusValid, StatusEmpty)
	}
}

// storeWithTrail returns a store holding the trail's events as sealed rows
// of one node, with their payloads after the trail and, as a store reads
// it, each event's latest digest_after.
func storeWithTrail(tr *trail) *memSource {
	s := tr.source()
	last := map[string]string{}
	for _, a := range tr.recs {
		last[a.EventID] = a.DigestAfter
	}
	prev := GenesisHash
	for i, ev := range []string{"ev-1", "ev-2", "ev-3"} {
		e := chainEvent("node-a", i+1)
		e.ID = ev
		row := stamp(e, int64(i+1), prev)
		row.SetMutable(tr.final[ev])
		row.PayloadDigest, row.LastDigest = tr.ingest[ev], last[ev]
		s.rows = append(s.rows, row)
		prev = row.Hash
	}
	s.heads = headsOf(s.rows)
	return s
}

// TestVerifyAmendmentsWithRows verifies a trail together with the rows it
// amended.
func TestVerifyAmendmentsWithRows(t *testing.T) {
	bogus := strings.Repeat("f", 64)
	tests := []struct {
		name       string
		tamper     func(tr *trail, s *memSource)
		status     string
		amendments string
		nodeBreak  bool // broken_at is the node's break, not the trail's
		reason     string
	}{
		{name: "untouched", tamper: func(*trail, *memSource) {}, status: StatusValid, amendments: StatusValid},
		{name: "trail broken, rows fine: the trail's break", tamper: func(tr *trail, s *memSource) {
			s.amends[1].Reason = "edited"
		}, status: StatusInvalid, amendments: StatusInvalid, reason: ReasonAmendHash},
		{name: "row identity and trail both broken: the node's break", tamper: func(tr *trail, s *memSource) {
			s.row(t, "ev-2").TS = "altered"
			s.amends[0].Actor = "edited"
		}, status: StatusInvalid, amendments: StatusInvalid, nodeBreak: true, reason: ReasonHashMismatch},
		{name: "payload and trail both broken: the node's break", tamper: func(tr *trail, s *memSource) {
			s.row(t, "ev-3").Model = sp("edited")
			s.amendHead = &Head{Hash: bogus, Seq: 5}
		}, status: StatusInvalid, amendments: StatusInvalid, nodeBreak: true, reason: ReasonPayloadChanged},
		{name: "amended payload changed again outside the trail", tamper: func(tr *trail, s *memSource) {
			s.row(t, "ev-1").TokenCount = ip(1)
		}, status: StatusInvalid, amendments: StatusValid, nodeBreak: true, reason: ReasonPayloadChanged},
		// The last record of ev-2 deleted, the head rewound: the trail
		// alone is consistent, but ev-2's payload no longer matches its
		// latest recorded digest.
		{name: "last record deleted, head rewound: the payload shows it", tamper: func(tr *trail, s *memSource) {
			tr.delete(4)
			tr.head = &Head{Hash: tr.recs[3].Hash, Seq: 4}
			s.amends, s.amendHead = scanView(tr.recs, tr.ingest), tr.head
			s.row(t, "ev-2").LastDigest = tr.recs[1].DigestAfter
		}, status: StatusInvalid, amendments: StatusValid, nodeBreak: true, reason: ReasonPayloadChanged},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr := buildTrail()
			s := storeWithTrail(tr)
			tt.tamper(tr, s)
			rep := mustVerify(t, s, "")
			checkAmendmentReport(t, rep)
			if rep.Status != tt.status || rep.Amendments.Status != tt.amendments {
				t.Errorf("report: got status %q amendments %q, want %q %q", rep.Status, rep.Amendments.Status, tt.status, tt.amendments)
			}
			if rep.PayloadsChecked != 3 && rep.BrokenAt == nil {
				t.Errorf("payloads_checked: got %d, want 3", rep.PayloadsChecked)
			}
			if tt.reason == "" {
				return
			}
			if rep.BrokenAt == nil {
				t.Fatalf("broken_at: got nil, want a break: %s", tt.reason)
			}
			if rep.BrokenAt.Reason != tt.reason {
				t.Errorf("broken_at reason: got %q, want %q", rep.BrokenAt.Reason, tt.reason)
			}
			if isTrail := rep.BrokenAt.Trail == TrailAmendments; isTrail == tt.nodeBreak {
				t.Errorf("broken_at trail: got %q, want the node's break %v", rep.BrokenAt.Trail, tt.nodeBreak)
			}
			if tt.nodeBreak && rep.BrokenAt != rep.Nodes[0].Break {
				t.Errorf("broken_at: got %v, want the node's break %v", rep.BrokenAt, rep.Nodes[0].Break)
			}
		})
	}
}

func TestAmendmentVerifierCountsAfterBreak(t *testing.T) {
	tr := buildTrail()
	tr.recs[1].Reason = "edited"
	v := newAmendmentVerifier()
	for _, a := range scanView(tr.recs, tr.ingest) {
		v.Add(&a)
	}
	rep := v.Finish(&Head{Hash: "bad", Seq: 1})
	if rep.Checked != 5 || rep.Status != StatusInvalid {
		t.Errorf("report: got checked %d status %q, want 5 %q", rep.Checked, rep.Status, StatusInvalid)
	}
	if rep.Break == nil || rep.Break.Seq != 2 || rep.Break.Reason != ReasonAmendHash {
		t.Errorf("break: got %+v, want the first one, seq 2 hash (not the head's)", rep.Break)
	}
	if rep.HeadSeq != 1 || rep.HeadHash != "bad" {
		t.Errorf("head: got seq %d hash %q, want 1 %q", rep.HeadSeq, rep.HeadHash, "bad")
	}
}

func TestVerifyAmendmentsSourceError(t *testing.T) {
	errDB := errors.New("database is locked")
	for _, tt := range []struct {
		name string
		src  chainSource
		msg  string
	}{
		{"head fails", &failingTrail{headErr: errDB}, "read amendment head"},
		{"scan fails", &failingTrail{scanErr: errDB}, "scan amendments"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := verifyAmendments(context.Background(), tt.src, nil)
			if err == nil || !strings.Contains(err.Error(), tt.msg) || !strings.Contains(err.Error(), errDB.Error()) {
				t.Errorf("verifyAmendments: got error %v, want one containing %q and %q", err, tt.msg, errDB)
			}
			rep, err := verifyChains(context.Background(), tt.src, "", nil)
			if err == nil || rep != nil {
				t.Errorf("Verify: got report %v error %v, want nil and an error", rep, err)
			}
		})
	}
}

// failingTrail is a source with no events whose amendment reads fail.
type failingTrail struct {
	memSource
	headErr, scanErr error
}

func (s *failingTrail) AmendmentHead(ctx context.Context) (*Head, error) {
	if s.headErr != nil {
		return nil, s.headErr
	}
	return nil, nil
}

func (s *failingTrail) ScanAmendments(ctx context.Context, fn func(*AmendmentScan) error) error {
	return s.scanErr
}

func TestBreakErrorTrail(t *testing.T) {
	tests := []struct {
		name string
		b    Break
		want string
	}{
		{"record edited", Break{Trail: TrailAmendments, Seq: 3, EventID: "ev:ü", Reason: ReasonAmendHash, Expected: "aa", Found: "bb"},
			`amendments seq 3 event "ev:ü": ` + ReasonAmendHash + `: expected aa, found bb`},
		{"no event", Break{Trail: TrailAmendments, Seq: 2, EventID: "ev-2", Reason: ReasonAmendNoEvent, Found: "ev-2"},
			`amendments seq 2 event "ev-2": ` + ReasonAmendNoEvent + `: expected NULL, found ev-2`},
		{"head mismatch with detail", Break{Trail: TrailAmendments, Seq: 4, Reason: ReasonAmendHeadMismatch,
			Detail: "last record is seq 4, head says seq 5", Expected: "aa", Found: "bb"},
			`amendments seq 4 event "": ` + ReasonAmendHeadMismatch + ` (last record is seq 4, head says seq 5): expected aa, found bb`},
		{"head missing", Break{Trail: TrailAmendments, Seq: 5, Reason: ReasonAmendHeadMissing, Expected: "aa"},
			`amendments seq 5 event "": ` + ReasonAmendHeadMissing + `: expected aa, found NULL`},
		{"trail named over a node", Break{Trail: TrailAmendments, NodeID: "n", Seq: 1, EventID: "e", Reason: ReasonAmendSeq, Expected: "1", Found: "2"},
			`amendments seq 1 event "e": ` + ReasonAmendSeq + `: expected 1, found 2`},
		{"event id quoted", Break{Trail: TrailAmendments, Seq: 1, EventID: "a\"b\n", Reason: ReasonAmendPrev, Expected: "x", Found: "y"},
			`amendments seq 1 event "a\"b\n": ` + ReasonAmendPrev + `: expected x, found y`},
		{"payload changed", Break{NodeID: "n", Seq: 3, EventID: "e", Reason: ReasonPayloadChanged, Expected: "aa", Found: "bb"},
			`node "n" seq 3 event "e": ` + ReasonPayloadChanged + `: expected aa, found bb`},
		{"payload unsealed", Break{NodeID: "n", Seq: 4, EventID: "e", Reason: ReasonPayloadUnsealedRow},
			`node "n" seq 4 event "e": ` + ReasonPayloadUnsealedRow + `: expected NULL, found NULL`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.b.Error(); got != tt.want {
				t.Errorf("Error():\n got %s\nwant %s", got, tt.want)
			}
		})
	}
}

func TestAmendmentReportJSON(t *testing.T) {
	tr := buildTrail()
	tr.recs[2].Actor = "edited"
	rep := mustVerify(t, tr.source(), "")
	b, err := json.Marshal(rep.Amendments)
	if err != nil {
		t.Fatal(err)
	}
	a := tr.recs[2]
	want := fmt.Sprintf(`{"status":"invalid","checked":5,"head_seq":5,"head_hash":%q,"broken_at":{"trail":"amendments","node_id":"","seq":3,"event_id":"ev-1","reason":%q,"expected":%q,"found":%q}}`,
		tr.head.Hash, ReasonAmendHash, AmendmentHash(a.PrevHash, &a), a.Hash)
	if got := string(b); got != want {
		t.Errorf("JSON:\n got %s\nwant %s", got, want)
	}
}
