package chainlog

import (
	"encoding/json"
	"fmt"
	"math"
	"strings"
	"testing"
)

// chainPayload is the mutable fields event i of node carries at ingest.
// Every fourth is all NULL.
func chainPayload(node string, i int) Mutable {
	if i%4 == 0 {
		return Mutable{}
	}
	return Mutable{
		Data:       json.RawMessage(fmt.Sprintf(`{"node":%q,"i":%d,"text":"\u00e9 é\n😀"}`, node, i)),
		CostUSD:    fp(float64(i) * 0.001),
		TokenCount: ip(int64(i) * 100),
		Model:      sp(fmt.Sprintf("model-%d", i)),
	}
}

// seal gives r the mutable fields m and the ingest digest of m.
func seal(r *StoredEvent, m Mutable) {
	r.SetMutable(m)
	r.PayloadDigest = PayloadDigest(&m)
}

// sealedChain returns a valid chain of n rows for node, each sealed at
// ingest with its payload digest.
func sealedChain(node string, n int) []StoredEvent {
	rows := buildChain(node, n)
	for i := range rows {
		seal(&rows[i], chainPayload(node, i+1))
	}
	return rows
}

// unsealed clears the ingest digest of rows, as on rows written before
// payload digests.
func unsealed(rows []StoredEvent) []StoredEvent {
	for i := range rows {
		rows[i].PayloadDigest = ""
	}
	return rows
}

// amend changes r's mutable fields the sanctioned way, as the store reads
// the row back: the fields replaced and LastDigest their digest.
func amend(r *StoredEvent, edit func(m *Mutable)) {
	m := r.Mutable()
	edit(&m)
	r.SetMutable(m)
	r.LastDigest = PayloadDigest(&m)
}

func digestOf(r *StoredEvent) string {
	m := r.Mutable()
	return PayloadDigest(&m)
}

// payloadSummaries is a one-line summary per node report, with payload
// counts.
func payloadSummaries(rep *Report) []string {
	var out []string
	for _, n := range rep.Nodes {
		s := fmt.Sprintf("%s %s checked=%d pre=%d payloads=%d unsealed=%d", n.NodeID, n.Status, n.Checked, n.PreChain, n.PayloadsChecked, n.PayloadsUnsealed)
		if n.Break != nil {
			s += fmt.Sprintf(" seq=%d %s", n.Break.Seq, payloadReasonName(n.Break.Reason))
		}
		out = append(out, s)
	}
	return out
}

func payloadReasonName(r string) string {
	switch r {
	case ReasonPayloadChanged:
		return "payload"
	case ReasonPayloadUnsealedRow:
		return "unsealed"
	}
	return reasonName(r)
}

func TestVerifyPayloadTampering(t *testing.T) {
	const node = "node-a"
	orig := sealedChain(node, 5) // row 4 (index 3) has an all-NULL payload
	id := func(i int) string { return orig[i].ID }
	bogus := strings.Repeat("f", 64)
	// changed is the break of row i, recorded digest expected, as found
	// in s.
	changed := func(i int, expected string) func(*memSource) *Break {
		return func(s *memSource) *Break {
			r := s.row(t, id(i))
			return &Break{NodeID: node, Seq: r.Seq, EventID: r.ID, Reason: ReasonPayloadChanged, Expected: expected, Found: digestOf(r)}
		}
	}
	// ingest is changed(i) against the row's ingest digest.
	ingest := func(i int) func(*memSource) *Break { return changed(i, orig[i].PayloadDigest) }
	unsealedRow := func(i int) func(*memSource) *Break {
		return func(*memSource) *Break {
			return &Break{NodeID: node, Seq: orig[i].Seq, EventID: id(i), Reason: ReasonPayloadUnsealedRow}
		}
	}
	edit := func(i int, fn func(r *StoredEvent)) func(*memSource) {
		return func(s *memSource) { fn(s.row(t, id(i))) }
	}
	old := func(s *memSource) { unsealed(s.rows) } // a store from before payload digests

	tests := []struct {
		name                         string
		tamper                       func(s *memSource)
		status                       string
		checked, pre                 int64
		payloads, unsealed           int64
		want                         func(s *memSource) *Break // nil: no break
		expectedIsLast, expectedSame bool
	}{
		{name: "untouched", tamper: func(*memSource) {}, status: StatusValid, checked: 5, payloads: 5},
		{name: "identity-neutral columns rewritten", tamper: edit(2, func(r *StoredEvent) { r.CreatedAt = "1999-01-01" }),
			status: StatusValid, checked: 5, payloads: 5},

		// Every mutable field changed without a digest update.
		{name: "data changed", tamper: edit(2, func(r *StoredEvent) { r.Data = json.RawMessage(`{"node":"node-a","i":3,"text":"x"}`) }),
			status: StatusInvalid, checked: 5, payloads: 3, want: ingest(2)},
		{name: "data reformatted", tamper: edit(2, func(r *StoredEvent) { r.Data = json.RawMessage(`{"node": "node-a","i":3,"text":"\u00e9 é\n😀"}`) }),
			status: StatusInvalid, checked: 5, payloads: 3, want: ingest(2)},
		{name: "data escape rewritten", tamper: edit(2, func(r *StoredEvent) { r.Data = json.RawMessage(`{"node":"node-a","i":3,"text":"é é\n😀"}`) }),
			status: StatusInvalid, checked: 5, payloads: 3, want: ingest(2)},
		{name: "data set NULL", tamper: edit(2, func(r *StoredEvent) { r.Data = nil }),
			status: StatusInvalid, checked: 5, payloads: 3, want: ingest(2)},
		{name: "data set to JSON null", tamper: edit(2, func(r *StoredEvent) { r.Data = json.RawMessage(`null`) }),
			status: StatusInvalid, checked: 5, payloads: 3, want: ingest(2)},
		{name: "NULL data set to JSON null", tamper: edit(3, func(r *StoredEvent) { r.Data = json.RawMessage(`null`) }),
			status: StatusInvalid, checked: 5, payloads: 4, want: ingest(3)},
		{name: "cost changed by one ulp", tamper: edit(2, func(r *StoredEvent) { r.CostUSD = fp(math.Nextafter(*r.CostUSD, 1)) }),
			status: StatusInvalid, checked: 5, payloads: 3, want: ingest(2)},
		{name: "cost set to zero", tamper: edit(2, func(r *StoredEvent) { r.CostUSD = fp(0) }),
			status: StatusInvalid, checked: 5, payloads: 3, want: ingest(2)},
		{name: "cost set NULL", tamper: edit(2, func(r *StoredEvent) { r.CostUSD = nil }),
			status: StatusInvalid, checked: 5, payloads: 3, want: ingest(2)},
		{name: "NULL cost set to zero", tamper: edit(3, func(r *StoredEvent) { r.CostUSD = fp(0) }),
			status: StatusInvalid, checked: 5, payloads: 4, want: ingest(3)},
		{name: "token_count changed", tamper: edit(2, func(r *StoredEvent) { *r.TokenCount++ }),
			status: StatusInvalid, checked: 5, payloads: 3, want: ingest(2)},
		{name: "token_count set NULL", tamper: edit(2, func(r *StoredEvent) { r.TokenCount = nil }),
			status: StatusInvalid, checked: 5, payloads: 3, want: ingest(2)},
		{name: "NULL token_count set to zero", tamper: edit(3, func(r *StoredEvent) { r.TokenCount = ip(0) }),
			status: StatusInvalid, checked: 5, payloads: 4, want: ingest(3)},
		{name: "model changed", tamper: edit(2, func(r *StoredEvent) { r.Model = sp("model-3 ") }),
			status: StatusInvalid, checked: 5, payloads: 3, want: ingest(2)},
		{name: "model emptied", tamper: edit(2, func(r *StoredEvent) { r.Model = sp("") }),
			status: StatusInvalid, checked: 5, payloads: 3, want: ingest(2)},
		{name: "model set NULL", tamper: edit(2, func(r *StoredEvent) { r.Model = nil }),
			status: StatusInvalid, checked: 5, payloads: 3, want: ingest(2)},
		{name: "NULL model set empty", tamper: edit(3, func(r *StoredEvent) { r.Model = sp("") }),
			status: StatusInvalid, checked: 5, payloads: 4, want: ingest(3)},
		{name: "first row changed", tamper: edit(0, func(r *StoredEvent) { r.Model = sp("x") }),
			status: StatusInvalid, checked: 5, payloads: 1, want: ingest(0)},
		{name: "last row changed", tamper: edit(4, func(r *StoredEvent) { r.Model = sp("x") }),
			status: StatusInvalid, checked: 5, payloads: 5, want: ingest(4)},
		{name: "two rows changed: the first is reported", tamper: func(s *memSource) {
			s.row(t, id(1)).Model, s.row(t, id(3)).Model = sp("x"), sp("y")
		}, status: StatusInvalid, checked: 5, payloads: 2, want: ingest(1)},

		// The recorded digest changed.
		{name: "digest rewritten", tamper: edit(2, func(r *StoredEvent) { r.PayloadDigest = bogus }),
			status: StatusInvalid, checked: 5, payloads: 3, want: changed(2, bogus)},
		{name: "digest in upper case", tamper: edit(2, func(r *StoredEvent) { r.PayloadDigest = strings.ToUpper(r.PayloadDigest) }),
			status: StatusInvalid, checked: 5, payloads: 3, want: changed(2, strings.ToUpper(orig[2].PayloadDigest))},
		// What the digest inside the store cannot show: a payload
		// rewritten with its digest recomputed.
		{name: "payload changed and digest recomputed (needs checkpoints)", tamper: edit(2, func(r *StoredEvent) {
			seal(r, Mutable{Data: json.RawMessage(`{"forged":true}`)})
		}), status: StatusValid, checked: 5, payloads: 5},

		// Chain and payload breaks: the first row's is reported.
		{name: "identity altered before a changed payload", tamper: func(s *memSource) {
			s.row(t, id(1)).TS = "altered"
			s.row(t, id(3)).Model = sp("x")
		}, status: StatusInvalid, checked: 5, payloads: 1,
			want: func(s *memSource) *Break {
				r := s.row(t, id(1))
				return &Break{NodeID: node, Seq: 2, EventID: r.ID, Reason: ReasonHashMismatch, Expected: storedHash(orig[0].Hash, &r.Event), Found: orig[1].Hash}
			}},
		{name: "payload changed before an altered identity", tamper: func(s *memSource) {
			s.row(t, id(1)).Model = sp("x")
			s.row(t, id(3)).TS = "altered"
		}, status: StatusInvalid, checked: 5, payloads: 2, want: ingest(1)},

		// Amended events: the latest amendment's digest_after governs.
		{name: "amended", tamper: edit(2, func(r *StoredEvent) {
			amend(r, func(m *Mutable) { m.CostUSD, m.Model = fp(0.25), sp("other") })
		}), status: StatusValid, checked: 5, payloads: 5},
		{name: "amended to all NULL", tamper: edit(2, func(r *StoredEvent) { amend(r, func(m *Mutable) { *m = Mutable{} }) }),
			status: StatusValid, checked: 5, payloads: 5},
		{name: "amended, then changed again", tamper: edit(2, func(r *StoredEvent) {
			amend(r, func(m *Mutable) { m.CostUSD = fp(0.25) })
			r.TokenCount = ip(1)
		}), status: StatusInvalid, checked: 5, payloads: 3, expectedIsLast: true},
		{name: "amended, then put back to the ingest payload", tamper: edit(2, func(r *StoredEvent) {
			amend(r, func(m *Mutable) { m.CostUSD = fp(0.25) })
			r.SetMutable(orig[2].Mutable())
		}), status: StatusInvalid, checked: 5, payloads: 3, expectedIsLast: true},
		{name: "amended, ingest digest cleared", tamper: edit(2, func(r *StoredEvent) {
			amend(r, func(m *Mutable) { m.Data = nil })
			r.PayloadDigest = ""
		}), status: StatusValid, checked: 5, payloads: 5},

		// Rows without a digest.
		{name: "store from before payload digests", tamper: old, status: StatusValid, checked: 5, unsealed: 5},
		{name: "digests start midway (migration)", tamper: func(s *memSource) { unsealed(s.rows[:2]) },
			status: StatusValid, checked: 5, payloads: 3, unsealed: 2},
		{name: "digest cleared after a sealed row", tamper: edit(3, func(r *StoredEvent) { r.PayloadDigest = "" }),
			status: StatusInvalid, checked: 5, payloads: 3, unsealed: 1, want: unsealedRow(3)},
		{name: "digest cleared on the last row", tamper: edit(4, func(r *StoredEvent) { r.PayloadDigest = "" }),
			status: StatusInvalid, checked: 5, payloads: 4, unsealed: 1, want: unsealedRow(4)},
		{name: "digest cleared and payload changed after a sealed row", tamper: edit(2, func(r *StoredEvent) {
			r.PayloadDigest, r.Model = "", sp("x")
		}), status: StatusInvalid, checked: 5, payloads: 2, unsealed: 1, want: unsealedRow(2)},
		// Clearing the first digests looks like a migration: it shows only
		// in payloads_unsealed.
		{name: "first row's digest cleared, payload changed (shows only in payloads_unsealed)", tamper: edit(0, func(r *StoredEvent) {
			r.PayloadDigest, r.Model = "", sp("x")
		}), status: StatusValid, checked: 5, payloads: 4, unsealed: 1},
		// A row from before payload digests that was amended has a digest
		// from its amendment, not from ingest: later old rows stay valid.
		{name: "old row amended, later old rows unsealed", tamper: func(s *memSource) {
			old(s)
			amend(s.row(t, id(1)), func(m *Mutable) { m.CostUSD = fp(0.5) })
		}, status: StatusValid, checked: 5, payloads: 1, unsealed: 4},
		{name: "old rows amended on both sides of old rows", tamper: func(s *memSource) {
			old(s)
			amend(s.row(t, id(0)), func(m *Mutable) { m.CostUSD = fp(0.5) })
			amend(s.row(t, id(3)), func(m *Mutable) { m.Model = sp("m") })
		}, status: StatusValid, checked: 5, payloads: 2, unsealed: 3},
		{name: "old row amended, then changed again", tamper: func(s *memSource) {
			old(s)
			amend(s.row(t, id(1)), func(m *Mutable) { m.CostUSD = fp(0.5) })
			s.row(t, id(1)).CostUSD = fp(0.6)
		}, status: StatusInvalid, checked: 5, payloads: 1, unsealed: 1,
			want: func(s *memSource) *Break {
				r := s.row(t, id(1))
				return &Break{NodeID: node, Seq: 2, EventID: r.ID, Reason: ReasonPayloadChanged, Expected: r.LastDigest, Found: digestOf(r)}
			}},
		{name: "old rows, amended one, then a sealed row, then a cleared digest", tamper: func(s *memSource) {
			unsealed(s.rows[:3])
			amend(s.row(t, id(1)), func(m *Mutable) { m.CostUSD = fp(0.5) })
			s.row(t, id(4)).PayloadDigest = ""
		}, status: StatusInvalid, checked: 5, payloads: 2, unsealed: 3, want: unsealedRow(4)},

		// Pre-chain rows.
		{name: "pre-chain rows without digest are neither checked nor unsealed", tamper: func(s *memSource) {
			pre := preChain(node, 2)
			pre[0].SetMutable(chainPayload(node, 1))
			s.rows = append(s.rows, pre...)
		}, status: StatusValid, checked: 5, pre: 2, payloads: 5},
		{name: "amended pre-chain row is checked", tamper: func(s *memSource) {
			pre := preChain(node, 2)
			amend(&pre[1], func(m *Mutable) { m.Data = json.RawMessage(`{"amended":true}`) })
			s.rows = append(s.rows, pre...)
		}, status: StatusValid, checked: 5, pre: 2, payloads: 6},
		{name: "amended pre-chain row changed again", tamper: func(s *memSource) {
			pre := preChain(node, 2)
			amend(&pre[1], func(m *Mutable) { m.Data = json.RawMessage(`{"amended":true}`) })
			pre[1].Data = json.RawMessage(`{"amended":false}`)
			s.rows = append(s.rows, pre...)
		}, status: StatusInvalid, checked: 5, pre: 2, payloads: 1,
			want: func(s *memSource) *Break {
				r := s.row(t, node+"/old-2")
				return &Break{NodeID: node, Seq: 0, EventID: r.ID, Reason: ReasonPayloadChanged, Expected: r.LastDigest, Found: digestOf(r)}
			}},
		{name: "pre-chain row with an ingest digest is checked", tamper: func(s *memSource) {
			pre := preChain(node, 1)
			seal(&pre[0], Mutable{Model: sp("m")})
			s.rows = append(s.rows, pre...)
		}, status: StatusValid, checked: 5, pre: 1, payloads: 6},
		{name: "amended pre-chain row does not seal the chain", tamper: func(s *memSource) {
			old(s)
			pre := preChain(node, 1)
			amend(&pre[0], func(m *Mutable) { m.Model = sp("m") })
			s.rows = append(s.rows, pre...)
		}, status: StatusValid, checked: 5, pre: 1, payloads: 1, unsealed: 5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newStore(orig)
			s.rows = append([]StoredEvent(nil), orig...)
			for i := range s.rows { // fresh pointers: cases edit through them
				m := chainPayload(node, i+1)
				s.rows[i].SetMutable(m)
			}
			tt.tamper(s)
			rep := mustVerify(t, s, "")
			checkReportConsistent(t, rep)
			checkAmendmentReport(t, rep)
			if rep.Status != tt.status {
				t.Errorf("report: got status %q, want %q", rep.Status, tt.status)
			}
			if rep.Checked != tt.checked || rep.PreChain != tt.pre || rep.PayloadsChecked != tt.payloads || rep.PayloadsUnsealed != tt.unsealed {
				t.Errorf("counts: got checked %d pre_chain %d payloads_checked %d payloads_unsealed %d, want %d %d %d %d",
					rep.Checked, rep.PreChain, rep.PayloadsChecked, rep.PayloadsUnsealed, tt.checked, tt.pre, tt.payloads, tt.unsealed)
			}
			var want *Break
			switch {
			case tt.want != nil:
				want = tt.want(s)
			case tt.expectedIsLast:
				r := s.row(t, id(2))
				want = &Break{NodeID: node, Seq: 3, EventID: r.ID, Reason: ReasonPayloadChanged, Expected: r.LastDigest, Found: digestOf(r)}
			}
			checkBreak(t, rep.BrokenAt, want, "")
			if want != nil && want.Reason == ReasonPayloadChanged && want.Expected == want.Found {
				t.Errorf("test case: expected and found digests are equal (%s): nothing was changed", want.Found)
			}
			if b := rep.BrokenAt; b != nil && (b.Reason == ReasonPayloadChanged || b.Reason == ReasonPayloadUnsealedRow) && b.Trail != "" {
				t.Errorf("break trail: got %q, want none for a node's payload", b.Trail)
			}
		})
	}
}

func TestVerifyPayloadNodes(t *testing.T) {
	tests := []struct {
		name   string
		src    func() *memSource
		nodeID string
		status string
		nodes  []string
		want   func(s *memSource) *Break
	}{
		{"sealed, old and mixed nodes", func() *memSource {
			return newStore(sealedChain("node-a", 3), unsealed(sealedChain("node-b", 2)), preChain("node-c", 1), sealedChain("node-c", 2))
		}, "", StatusValid, []string{
			"node-a valid checked=3 pre=0 payloads=3 unsealed=0",
			"node-b valid checked=2 pre=0 payloads=0 unsealed=2",
			"node-c valid checked=2 pre=1 payloads=2 unsealed=0",
		}, nil},
		// A node's seal does not carry over into the next node.
		{"sealed node then an old node", func() *memSource {
			return newStore(sealedChain("node-a", 2), unsealed(sealedChain("node-b", 2)))
		}, "", StatusValid, []string{
			"node-a valid checked=2 pre=0 payloads=2 unsealed=0",
			"node-b valid checked=2 pre=0 payloads=0 unsealed=2",
		}, nil},
		{"payload break in one node does not hide the others", func() *memSource {
			s := newStore(sealedChain("node-a", 3), sealedChain("node-b", 3), sealedChain("node-c", 2))
			s.row(t, "node-b/ev-2").Model = sp("x")
			s.row(t, "node-c/ev-2").PayloadDigest = ""
			return s
		}, "", StatusInvalid, []string{
			"node-a valid checked=3 pre=0 payloads=3 unsealed=0",
			"node-b invalid checked=3 pre=0 payloads=2 unsealed=0 seq=2 payload",
			"node-c invalid checked=2 pre=0 payloads=1 unsealed=1 seq=2 unsealed",
		}, func(s *memSource) *Break {
			r := s.row(t, "node-b/ev-2")
			return &Break{NodeID: "node-b", Seq: 2, EventID: r.ID, Reason: ReasonPayloadChanged, Expected: r.PayloadDigest, Found: digestOf(r)}
		}},
		{"scoped to one node", func() *memSource {
			s := newStore(sealedChain("node-a", 3), sealedChain("node-b", 3), preChain("node-c", 2), unsealed(sealedChain("node-c", 4)))
			s.row(t, "node-b/ev-2").Model = sp("x")
			return s
		}, "node-c", StatusValid, []string{"node-c valid checked=4 pre=2 payloads=0 unsealed=4"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := tt.src()
			rep := mustVerify(t, s, tt.nodeID)
			checkReportConsistent(t, rep)
			checkAmendmentReport(t, rep)
			if rep.Status != tt.status {
				t.Errorf("report: got status %q, want %q", rep.Status, tt.status)
			}
			if got := payloadSummaries(rep); strings.Join(got, "\n") != strings.Join(tt.nodes, "\n") {
				t.Errorf("nodes:\n got %q\nwant %q", got, tt.nodes)
			}
			if tt.want != nil {
				checkBreak(t, rep.BrokenAt, tt.want(s), "")
			}
		})
	}
}

// amendedPreChain returns a pre-chain row amended once and the trail
// record of that amendment.
func amendedPreChain(node string) (StoredEvent, Amendment) {
	row := preChain(node, 1)[0]
	before := digestOf(&row)
	amend(&row, func(m *Mutable) { m.Data = json.RawMessage(`{"amended":true}`) })
	a := Amendment{Seq: 1, EventID: row.ID, Kind: KindAmend, Fields: []string{FieldData},
		DigestBefore: before, DigestAfter: row.LastDigest, Reason: "r", Actor: "a", At: "2026-01-01T00:00:00Z", PrevHash: GenesisHash}
	a.Hash = AmendmentHash(GenesisHash, &a)
	return row, a
}

// TestVerifyPayloadStatus: a report is empty only when nothing at all was
// checked: no chained row, no payload and no amendment.
func TestVerifyPayloadStatus(t *testing.T) {
	withTrail := func(s *memSource, recs ...Amendment) *memSource {
		ingest := map[string]string{}
		for _, a := range recs {
			ingest[a.EventID] = ""
		}
		s.amends = scanView(recs, ingest)
		if n := len(recs); n > 0 {
			s.amendHead = &Head{Hash: recs[n-1].Hash, Seq: recs[n-1].Seq}
		}
		return s
	}
	tests := []struct {
		name                        string
		src                         func() *memSource
		nodeID                      string
		status, amendments          string
		checked, payloads, unsealed int64
	}{
		{name: "empty store", src: func() *memSource { return &memSource{} },
			status: StatusEmpty, amendments: StatusEmpty},
		{name: "only pre-chain rows", src: func() *memSource { return newStore(preChain("node-a", 2)) },
			status: StatusEmpty, amendments: StatusEmpty},
		{name: "only unsealed stamped rows", src: func() *memSource { return newStore(unsealed(sealedChain("node-a", 2))) },
			status: StatusValid, amendments: StatusEmpty, checked: 2, unsealed: 2},
		{name: "only pre-chain rows, one amended", src: func() *memSource {
			row, a := amendedPreChain("node-a")
			return withTrail(newStore(preChain("node-b", 1), []StoredEvent{row}), a)
		}, status: StatusValid, amendments: StatusValid, payloads: 1},
		{name: "only pre-chain rows, one checked against a digest", src: func() *memSource {
			row, _ := amendedPreChain("node-a")
			return newStore([]StoredEvent{row})
		}, status: StatusValid, amendments: StatusEmpty, payloads: 1},
		{name: "only pre-chain rows, the amended one changed", src: func() *memSource {
			row, a := amendedPreChain("node-a")
			row.Data = json.RawMessage(`{}`)
			return withTrail(newStore([]StoredEvent{row}), a)
		}, status: StatusInvalid, amendments: StatusValid, payloads: 1},
		{name: "only an amendment trail", src: func() *memSource {
			_, a := amendedPreChain("node-a")
			return withTrail(&memSource{}, a)
		}, status: StatusValid, amendments: StatusValid},
		{name: "only a broken amendment trail", src: func() *memSource {
			_, a := amendedPreChain("node-a")
			a.Reason = "edited"
			return withTrail(&memSource{}, a)
		}, status: StatusInvalid, amendments: StatusInvalid},
		{name: "only an orphan amendment head", src: func() *memSource {
			return &memSource{amendHead: &Head{Hash: strings.Repeat("f", 64), Seq: 1}}
		}, status: StatusInvalid, amendments: StatusInvalid},
		// The trail is global: it is verified whatever the scope.
		// The trail is store-wide: it is still verified, but a node scope
		// with nothing of its own to check is empty.
		{name: "scoped to an unknown node, with a trail", src: func() *memSource {
			row, a := amendedPreChain("node-a")
			return withTrail(newStore(sealedChain("node-b", 2), []StoredEvent{row}), a)
		}, nodeID: "node-x", status: StatusEmpty, amendments: StatusValid},
		{name: "scoped to an unknown node, no trail", src: func() *memSource { return newStore(sealedChain("node-b", 2)) },
			nodeID: "node-x", status: StatusEmpty, amendments: StatusEmpty},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rep := mustVerify(t, tt.src(), tt.nodeID)
			checkAmendmentReport(t, rep)
			if rep.Status != tt.status || rep.Amendments.Status != tt.amendments {
				t.Errorf("report: got status %q amendments %q, want %q %q", rep.Status, rep.Amendments.Status, tt.status, tt.amendments)
			}
			if rep.Checked != tt.checked || rep.PayloadsChecked != tt.payloads || rep.PayloadsUnsealed != tt.unsealed {
				t.Errorf("counts: got checked %d payloads_checked %d payloads_unsealed %d, want %d %d %d",
					rep.Checked, rep.PayloadsChecked, rep.PayloadsUnsealed, tt.checked, tt.payloads, tt.unsealed)
			}
		})
	}
}

// TestNodeVerifierPayloadAfterBreak: after a break, rows are counted but
// their payloads no longer checked.
func TestNodeVerifierPayloadAfterBreak(t *testing.T) {
	rows := sealedChain("n", 5)
	rows[1].Model = sp("x")
	rows[3].PayloadDigest = ""
	v := newNodeVerifier("n", nil)
	for i := range rows {
		v.Add(&rows[i])
	}
	rep := v.Finish(&Head{NodeID: "n", Hash: rows[4].Hash, Seq: 5})
	if rep.Checked != 5 || rep.PayloadsChecked != 2 || rep.PayloadsUnsealed != 0 || rep.Status != StatusInvalid {
		t.Errorf("report: got checked %d payloads %d unsealed %d status %q, want 5 2 0 %q",
			rep.Checked, rep.PayloadsChecked, rep.PayloadsUnsealed, rep.Status, StatusInvalid)
	}
	if rep.Break == nil || rep.Break.Seq != 2 || rep.Break.Reason != ReasonPayloadChanged {
		t.Errorf("break: got %+v, want seq 2 %q", rep.Break, ReasonPayloadChanged)
	}
}
