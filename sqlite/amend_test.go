package sqlite_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"os"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"chainlog"
	"chainlog/pricing"
	"chainlog/sqlite"
)

// The amendment trail on real stores: backfill and redaction through the
// sanctioned path, the Amend API's refusals, tampering with the trail
// through raw SQL, and concurrent writers.

// fileHas reports whether the file at path exists and contains s.
func fileHas(t *testing.T, path, s string) bool {
	t.Helper()
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return false
	}
	if err != nil {
		t.Fatal(err)
	}
	return bytes.Contains(b, []byte(s))
}

// mutableOf returns the mutable fields of the stored event id.
func mutableOf(t *testing.T, path, id string) chainlog.Mutable {
	t.Helper()
	st := openRO(t, path)
	defer st.Close()
	e, err := st.Event(t.Context(), id)
	if err != nil {
		t.Fatalf("Event(%q): %v", id, err)
	}
	return e.Mutable()
}

// ingestDigests returns every row's ingest payload digest by id.
func ingestDigests(t *testing.T, path string) map[string]string {
	t.Helper()
	m := map[string]string{}
	for _, r := range exportPath(t, path, "") {
		m[r.ID] = r.PayloadDigest
	}
	return m
}

// wantLinked checks that recs is a whole trail from genesis: seqs 1..n,
// each hash recomputed and linked to the previous one, and that head
// points at the last record.
func wantLinked(t *testing.T, recs []chainlog.Amendment, head *chainlog.Head) {
	t.Helper()
	prev := chainlog.GenesisHash
	for i, a := range recs {
		if a.Seq != int64(i+1) || a.PrevHash != prev || a.Hash != chainlog.AmendmentHash(a.PrevHash, &a) {
			t.Fatalf("record %d: seq %d, prev %s, hash %s; want seq %d linked to %s with its recomputed hash",
				i, a.Seq, a.PrevHash, a.Hash, i+1, prev)
		}
		prev = a.Hash
	}
	switch {
	case len(recs) == 0 && head != nil:
		t.Errorf("head = %+v with no records", *head)
	case len(recs) > 0 && (head == nil || head.Seq != int64(len(recs)) || head.Hash != prev):
		t.Errorf("head = %+v; want seq %d hash %s", head, len(recs), prev)
	}
}

func TestBackfillThenVerify(t *testing.T) {
	t.Parallel()
	usage := `{"model":"claude-sonnet-4","usage":{"input_tokens":1000,"output_tokens":200}}`
	evs := []chainlog.Event{
		decode(t, `{"id":"u1","node_id":"node-a","event_type":"llm_usage","ts":"2026-02-01T10:00:00Z","data":`+usage+`}`),
		decode(t, `{"id":"u2","node_id":"node-b","event_type":"llm_usage","ts":"2026-02-01T10:00:01Z","session_id":"s-9","data":`+usage+`}`),
		decode(t, `{"id":"no-usage","node_id":"node-a","event_type":"tool_call","ts":"2026-02-01T10:00:02Z","data":{"tool":"bash"}}`),
		decode(t, `{"id":"u3","node_id":"node-a","event_type":"llm_usage","ts":"2026-02-01T10:00:03Z","data":`+usage+`}`),
		// token_count already set: only cost_usd is filled.
		decode(t, `{"id":"counted","node_id":"node-b","event_type":"llm_usage","ts":"2026-02-01T10:00:04Z","token_count":1234,"data":`+usage+`}`),
		// Already costed: left alone.
		decode(t, `{"id":"costed","node_id":"node-a","event_type":"llm_usage","ts":"2026-02-01T10:00:05Z","cost_usd":0.5,"token_count":7,"data":`+usage+`}`),
		decode(t, `{"id":"unknown-model","node_id":"node-b","event_type":"llm_usage","ts":"2026-02-01T10:00:06Z","data":{"model":"acme-9000","usage":{"input_tokens":5,"output_tokens":5}}}`),
	}
	path := buildStore(t, sqlite.Options{}, evs[:4], evs[4:])
	ingested := ingestDigests(t, path)
	for id, d := range ingested {
		if d == "" {
			t.Fatalf("%s: no ingest payload digest", id)
		}
	}

	prices := pricing.Default()
	st := openStore(t, path, sqlite.Options{})
	res, err := st.BackfillCosts(t.Context(), prices)
	if err != nil {
		t.Fatalf("BackfillCosts: %v", err)
	}
	closeStore(t, st)
	if want := (sqlite.BackfillResult{Costed: 4, TokensFilled: 3, NoUsage: 1, UnknownModel: 1}); res != want {
		t.Errorf("backfill result = %+v; want %+v", res, want)
	}

	rep := verifyPath(t, path, "")
	wantValidAnchored(t, rep, int64(len(evs)), 0, 1)
	if rep.PayloadsChecked != int64(len(evs))+1 || rep.PayloadsUnsealed != 0 {
		t.Errorf("payloads checked, unsealed = %d, %d; want %d+1 (the anchor), 0", rep.PayloadsChecked, rep.PayloadsUnsealed, len(evs))
	}
	recs, head := allAmendments(t, path)
	wantLinked(t, recs, head)
	if a := rep.Amendments; a.Status != chainlog.StatusValid || a.Checked != 4 || a.HeadSeq != 4 || a.HeadHash != recs[3].Hash || a.Break != nil {
		t.Errorf("amendments report = %+v; want valid, 4 checked, head at seq 4", a)
	}

	// One record per costed event, in commit (rowid) order.
	fields := map[string][]string{
		"u1":      {chainlog.FieldCostUSD, chainlog.FieldTokenCount},
		"u2":      {chainlog.FieldCostUSD, chainlog.FieldTokenCount},
		"u3":      {chainlog.FieldCostUSD, chainlog.FieldTokenCount},
		"counted": {chainlog.FieldCostUSD},
	}
	for i, id := range []string{"u1", "u2", "u3", "counted"} {
		if recs[i].EventID != id {
			t.Errorf("record seq %d is for %s; want %s", recs[i].Seq, recs[i].EventID, id)
		}
	}
	for _, row := range exportPath(t, path, "") {
		trail := trailOf(t, path, row.ID)
		want, costed := fields[row.ID]
		if !costed {
			if len(trail) != 0 {
				t.Errorf("%s: %d amendments; want none", row.ID, len(trail))
			}
			continue
		}
		if len(trail) != 1 {
			t.Fatalf("%s: %d amendments; want 1", row.ID, len(trail))
		}
		a := trail[0]
		m := row.Mutable()
		switch {
		case a.EventID != row.ID || a.Kind != chainlog.KindAmend || a.Actor != sqlite.BackfillActor:
			t.Errorf("%s: record (event %s, kind %s, actor %q); want (%s, %s, %q)", row.ID, a.EventID, a.Kind, a.Actor, row.ID, chainlog.KindAmend, sqlite.BackfillActor)
		case !reflect.DeepEqual(a.Fields, want):
			t.Errorf("%s: fields = %v; want %v", row.ID, a.Fields, want)
		case a.DigestBefore != ingested[row.ID]:
			t.Errorf("%s: digest_before = %s; want the ingest payload_digest %s", row.ID, a.DigestBefore, ingested[row.ID])
		case a.DigestAfter != chainlog.PayloadDigest(&m):
			t.Errorf("%s: digest_after = %s; want the digest of the new fields %s", row.ID, a.DigestAfter, chainlog.PayloadDigest(&m))
		case !strings.Contains(a.Reason, "price table") || !strings.Contains(a.Reason, prices.AsOf) || !strings.Contains(a.Reason, prices.Source):
			t.Errorf("%s: reason %q does not name the price table (as of %s, %s)", row.ID, a.Reason, prices.AsOf, prices.Source)
		}
		// The ingest digest is kept: the trail, not the row, records the change.
		if row.PayloadDigest != ingested[row.ID] {
			t.Errorf("%s: payload_digest changed from %s to %s", row.ID, ingested[row.ID], row.PayloadDigest)
		}
		if m.CostUSD == nil || math.Abs(*m.CostUSD-(1000*3/1e6+200*15/1e6)) > 1e-12 {
			t.Errorf("%s: cost_usd = %v; want 0.006", row.ID, fmtPtr(m.CostUSD))
		}
	}

	// A second run costs nothing and writes nothing.
	before := dumpStore(t, path)
	st = openStore(t, path, sqlite.Options{})
	res, err = st.BackfillCosts(t.Context(), prices)
	if err != nil {
		t.Fatalf("second BackfillCosts: %v", err)
	}
	closeStore(t, st)
	if want := (sqlite.BackfillResult{NoUsage: 1, UnknownModel: 1}); res != want {
		t.Errorf("second backfill = %+v; want %+v", res, want)
	}
	if after := dumpStore(t, path); !reflect.DeepEqual(after, before) {
		t.Error("second backfill changed the store")
	}
	if got := verifyPath(t, path, "").Amendments; got.Checked != 4 || got.HeadSeq != 4 {
		t.Errorf("after the second backfill: %d records, head seq %d; want 4, 4", got.Checked, got.HeadSeq)
	}
}

// piiText is personal data that a redaction must remove from the file.
const piiText = "Jane Q. Patient, born 1984-07-12, SSN 078-05-1120, 14 Rue des Lilas, Lyon"

// piiEvent returns an event whose data holds piiText repeated n times (n
// large enough puts the row on overflow pages).
func piiEvent(t *testing.T, id string, n int) chainlog.Event {
	t.Helper()
	note := strings.TrimSuffix(strings.Repeat(piiText+"; ", n), "; ")
	return decode(t, `{"id":"`+id+`","node_id":"node-a","agent_type":"claude_code","event_type":"tool_result",`+
		`"ts":"2026-02-01T10:00:00Z","data":{"tool":"read_file","path":"patients.csv","content":"`+note+`"}}`)
}

// redactReq replaces id's data with a marker.
func redactReq(id string) sqlite.AmendRequest {
	return sqlite.AmendRequest{EventID: id, Kind: chainlog.KindRedact,
		Reason: "GDPR erasure request #4411", Actor: "dpo@example.com",
		Patch: chainlog.Patch{Set: []string{chainlog.FieldData},
			Values: chainlog.Mutable{Data: json.RawMessage(`{"redacted": true, "request": 4411}`)}}}
}

// TestRedactThenVerify redacts two events, one of which was amended
// before (so an older copy of its row was freed once already) and one large
// enough to live on overflow pages, and then checks the trail and the
// bytes on disk.
//
// Measured before the fix in store.go: without PRAGMA secure_delete, the
// redacted text stayed in the database file after Close for any payload
// larger than the replacement (in the freed cell space of the rewritten
// page, and on freelist pages for overflowed rows). The writable
// connection now runs with secure_delete = ON, which zeroes freed content.
func TestRedactThenVerify(t *testing.T) {
	t.Parallel()
	path := buildStore(t, sqlite.Options{},
		mkEvents(t, "node-a", 0, 2),
		[]chainlog.Event{piiEvent(t, "pii", 20), piiEvent(t, "pii-big", 150)},
		mkEvents(t, "node-a", 2, 4))
	if !fileHas(t, path, piiText) {
		t.Fatal("the personal data is not in the file before the redaction; the test proves nothing")
	}
	ingested := ingestDigests(t, path)

	// An earlier enrichment rewrites the row once.
	st := openStore(t, path, sqlite.Options{})
	first := mustAmend(t, st, amendReq("pii", "priced by hand", chainlog.Patch{
		Set: []string{chainlog.FieldCostUSD}, Values: chainlog.Mutable{CostUSD: ptr(0.0125)}}))[0]
	closeStore(t, st)

	at := time.Date(2026, 3, 14, 15, 9, 26, 535897000, time.FixedZone("CET", 3600))
	st = openStore(t, path, sqlite.Options{Now: func() time.Time { return at }})
	recs := mustAmend(t, st, redactReq("pii"), redactReq("pii-big"))
	closeStore(t, st)

	// The removed text is nowhere on disk: the last Close checkpointed the
	// WAL into the file and deleted it. (Checked before anything else opens
	// the file.)
	wantNoPII(t, path)
	for _, suffix := range []string{"-wal", "-shm", "-journal"} {
		if fileExists(path + suffix) {
			t.Errorf("%s exists after the last Close", suffix)
		}
	}

	rep := verifyPath(t, path, "")
	wantValidAnchored(t, rep, 6, 0, 2)
	if a := rep.Amendments; a.Status != chainlog.StatusValid || a.Checked != 3 || a.HeadSeq != 3 {
		t.Errorf("amendments report = %+v; want valid, 3 records", a)
	}

	// The trail shows the redaction, its reason, actor and time, and keeps
	// digests only.
	trail := trailOf(t, path, "pii")
	if len(trail) != 2 || !reflect.DeepEqual(trail[0], first) || !reflect.DeepEqual(trail[1], recs[0]) {
		t.Fatalf("trail of pii = %+v; want the amendment then the redaction", trail)
	}
	for _, c := range []struct {
		id     string
		rec    chainlog.Amendment
		seq    int64
		before string
	}{{"pii", trail[1], 2, first.DigestAfter}, {"pii-big", recs[1], 3, ingested["pii-big"]}} {
		m := mutableOf(t, path, c.id)
		want := chainlog.Amendment{Seq: c.seq, EventID: c.id, Kind: chainlog.KindRedact, Fields: []string{chainlog.FieldData},
			DigestBefore: c.before, DigestAfter: chainlog.PayloadDigest(&m),
			Reason: "GDPR erasure request #4411", Actor: "dpo@example.com", At: "2026-03-14T14:09:26.535897Z",
			PrevHash: c.rec.PrevHash, Hash: c.rec.Hash}
		if !reflect.DeepEqual(c.rec, want) {
			t.Errorf("redaction of %s:\n got  %+v\n want %+v", c.id, c.rec, want)
		}
		if string(m.Data) != `{"redacted":true,"request":4411}` {
			t.Errorf("%s: data = %s; want the compact replacement", c.id, m.Data)
		}
	}
	if m := mutableOf(t, path, "pii"); m.CostUSD == nil || *m.CostUSD != 0.0125 {
		t.Errorf("pii: cost_usd = %v; the redaction must leave the other fields alone", fmtPtr(m.CostUSD))
	}
	if got := trailOf(t, path, "pii-big"); len(got) != 1 || !reflect.DeepEqual(got[0], recs[1]) {
		t.Errorf("trail of pii-big = %+v; want the redaction alone", got)
	}

	// Read-only opens (above) of the WAL-mode file may leave an empty -wal
	// and a -shm behind; neither holds the text.
	wantNoPII(t, path)
}

// wantNoPII checks that no part of piiText is in the store's files.
func wantNoPII(t *testing.T, path string) {
	t.Helper()
	for _, probe := range []string{piiText, "078-05-1120", "Rue des Lilas"} {
		for _, f := range []string{path, path + "-wal", path + "-shm", path + "-journal"} {
			if fileHas(t, f, probe) {
				t.Errorf("%q is still in %s after the redaction", probe, f)
			}
		}
	}
}

// TestRedactWhileStoreOpen pins the window in which redacted text is still
// on disk: while a writer keeps the store open, the WAL holds the frames of
// earlier transactions (here, the insert of the text) until a checkpoint.
// After a TRUNCATE checkpoint, neither file holds it.
func TestRedactWhileStoreOpen(t *testing.T) {
	t.Parallel()
	path := newStorePath(t)
	st := openStore(t, path, sqlite.Options{})
	ingest(t, st, mkEvents(t, "node-a", 0, 2)...)
	ingest(t, st, piiEvent(t, "pii", 20))
	if !fileHas(t, path+"-wal", piiText) {
		t.Fatal("the -wal does not hold the inserted text after ingest; the test proves nothing")
	}
	// A redaction truncates the WAL, so the text is gone from both files
	// while the store is still open.
	mustAmend(t, st, redactReq("pii"))
	if fileHas(t, path+"-wal", piiText) || fileHas(t, path, piiText) {
		t.Error("redacted text on disk after the redaction, with the store still open")
	}
	closeStore(t, st)
	if fileHas(t, path, piiText) {
		t.Error("redacted text in the file after Close")
	}
	wantValidAnchored(t, verifyPath(t, path, ""), 3, 0, 1)
}

// TestAmendRejectsBadRequests checks that every refused request returns an
// error and changes nothing: not the row, not the trail, not the head.
func TestAmendRejectsBadRequests(t *testing.T) {
	t.Parallel()
	full := decode(t, `{"id":"full","node_id":"node-a","event_type":"llm_usage","ts":"2026-02-01T10:00:00Z",`+
		`"data":{"a":1},"cost_usd":0.006,"token_count":1200,"model":"claude-sonnet-4"}`)
	path := buildStore(t, sqlite.Options{}, append(mkEvents(t, "node-a", 0, 3), full))
	st := openStore(t, path, sqlite.Options{})
	mustAmend(t, st, amendReq("node-a/1", "first", chainlog.Patch{Set: []string{chainlog.FieldModel},
		Values: chainlog.Mutable{Model: ptr("gpt-4o")}}))
	before := dumpStore(t, path)

	good := func(mod func(r *sqlite.AmendRequest)) sqlite.AmendRequest {
		r := amendReq("full", "a reason", chainlog.Patch{Set: []string{chainlog.FieldTokenCount},
			Values: chainlog.Mutable{TokenCount: ptr[int64](1300)}})
		mod(&r)
		return r
	}
	setPatch := func(set []string, v chainlog.Mutable) func(*sqlite.AmendRequest) {
		return func(r *sqlite.AmendRequest) { r.Patch = chainlog.Patch{Set: set, Values: v} }
	}
	fieldErr := func(field string) func(error) bool {
		return func(err error) bool {
			var fe *chainlog.FieldError
			return errors.As(err, &fe) && fe.Field == field
		}
	}
	cases := []struct {
		name string
		req  sqlite.AmendRequest
		is   func(error) bool // extra check of the error, nil for none
	}{
		{"unknown event", good(func(r *sqlite.AmendRequest) { r.EventID = "no-such-event" }),
			func(err error) bool { return errors.Is(err, chainlog.ErrNotFound) }},
		{"empty event id", good(func(r *sqlite.AmendRequest) { r.EventID = "" }), nil},
		{"empty reason", good(func(r *sqlite.AmendRequest) { r.Reason = "" }), nil},
		{"blank reason", good(func(r *sqlite.AmendRequest) { r.Reason = " \t\n" }), nil},
		{"empty actor", good(func(r *sqlite.AmendRequest) { r.Actor = "" }), nil},
		{"blank actor", good(func(r *sqlite.AmendRequest) { r.Actor = "  " }), nil},
		{"empty kind", good(func(r *sqlite.AmendRequest) { r.Kind = "" }), nil},
		{"unknown kind", good(func(r *sqlite.AmendRequest) { r.Kind = "delete" }), nil},
		{"kind in capitals", good(func(r *sqlite.AmendRequest) { r.Kind = "Redact" }), nil},
		{"no field", good(setPatch(nil, chainlog.Mutable{})), nil},
		{"identity field", good(setPatch([]string{"ts"}, chainlog.Mutable{})), nil},
		{"chain field", good(setPatch([]string{"chain_hash"}, chainlog.Mutable{})), nil},
		{"payload_digest", good(setPatch([]string{"payload_digest"}, chainlog.Mutable{})), nil},
		{"unknown field after a good one", good(setPatch([]string{chainlog.FieldModel, "colour"}, chainlog.Mutable{Model: ptr("x")})), nil},
		{"field twice", good(setPatch([]string{chainlog.FieldModel, chainlog.FieldModel}, chainlog.Mutable{Model: ptr("x")})), nil},
		{"truncated JSON data", good(setPatch([]string{chainlog.FieldData}, chainlog.Mutable{Data: json.RawMessage(`{"a":`)})), fieldErr(chainlog.FieldData)},
		{"data not JSON", good(setPatch([]string{chainlog.FieldData}, chainlog.Mutable{Data: json.RawMessage(`hello`)})), fieldErr(chainlog.FieldData)},
		{"negative cost", good(setPatch([]string{chainlog.FieldCostUSD}, chainlog.Mutable{CostUSD: ptr(-0.01)})), fieldErr(chainlog.FieldCostUSD)},
		{"NaN cost", good(setPatch([]string{chainlog.FieldCostUSD}, chainlog.Mutable{CostUSD: ptr(math.NaN())})), fieldErr(chainlog.FieldCostUSD)},
		{"infinite cost", good(setPatch([]string{chainlog.FieldCostUSD}, chainlog.Mutable{CostUSD: ptr(math.Inf(1))})), fieldErr(chainlog.FieldCostUSD)},
		{"negative token count", good(setPatch([]string{chainlog.FieldTokenCount}, chainlog.Mutable{TokenCount: ptr[int64](-1)})), fieldErr(chainlog.FieldTokenCount)},
		{"bad cost after a good field", good(setPatch([]string{chainlog.FieldModel, chainlog.FieldCostUSD},
			chainlog.Mutable{Model: ptr("x"), CostUSD: ptr(-1.0)})), fieldErr(chainlog.FieldCostUSD)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rec, err := st.Amend(t.Context(), c.req)
			if err == nil {
				t.Fatalf("Amend(%+v): no error", c.req)
			}
			if c.is != nil && !c.is(err) {
				t.Errorf("Amend error = %v (%T); not the expected kind", err, err)
			}
			if !reflect.DeepEqual(rec, chainlog.Amendment{}) {
				t.Errorf("a refused Amend returned a record: %+v", rec)
			}
			if after := dumpStore(t, path); !reflect.DeepEqual(after, before) {
				t.Error("a refused Amend changed the store")
			}
		})
	}

	// The store is usable afterwards and the trail continues at seq 2.
	if rec := mustAmend(t, st, good(func(*sqlite.AmendRequest) {}))[0]; rec.Seq != 2 {
		t.Errorf("next amendment has seq %d; want 2", rec.Seq)
	}
	closeStore(t, st)
	wantValidAnchored(t, verifyPath(t, path, ""), 4, 0, 2)

	// A read-only store and a closed one refuse too, and write nothing.
	sum := fileSHA(t, path)
	ro := openRO(t, path)
	if _, err := ro.Amend(t.Context(), good(func(*sqlite.AmendRequest) {})); err == nil {
		t.Error("Amend on a read-only store: no error")
	}
	closeStore(t, ro)
	if _, err := ro.Amend(t.Context(), good(func(*sqlite.AmendRequest) {})); err == nil {
		t.Error("Amend on a closed store: no error")
	}
	if fileSHA(t, path) != sum {
		t.Error("a refused Amend on a read-only store changed the file")
	}
}

// TestAmendBatchAtomic puts one bad request in each position of a batch of
// three: none of the three is applied, whichever check refuses it.
func TestAmendBatchAtomic(t *testing.T) {
	t.Parallel()
	path := buildStore(t, sqlite.Options{}, mkEvents(t, "node-a", 0, 6))
	st := openStore(t, path, sqlite.Options{})
	before := dumpStore(t, path)
	ok := func(i int) sqlite.AmendRequest {
		return amendReq(mkEventID("node-a", i), "batch", chainlog.Patch{Set: []string{chainlog.FieldTokenCount},
			Values: chainlog.Mutable{TokenCount: ptr(int64(100 + i))}})
	}
	bad := map[string]sqlite.AmendRequest{
		// Refused before the transaction.
		"no reason": {EventID: "node-a/5", Kind: chainlog.KindAmend, Actor: "x",
			Patch: chainlog.Patch{Set: []string{chainlog.FieldModel}}},
		// Refused inside it, after earlier requests were written.
		"unknown event": amendReq("no-such-event", "batch", chainlog.Patch{Set: []string{chainlog.FieldModel}}),
		"bad patch": amendReq("node-a/5", "batch", chainlog.Patch{Set: []string{chainlog.FieldCostUSD},
			Values: chainlog.Mutable{CostUSD: ptr(-2.0)}}),
	}
	for name, b := range bad {
		for pos := range 3 {
			reqs := []sqlite.AmendRequest{ok(0), ok(1), ok(2)}
			reqs[pos] = b
			recs, err := st.AmendBatch(t.Context(), reqs)
			if err == nil || recs != nil {
				t.Errorf("%s at position %d: records %v, error %v; want an error and no records", name, pos, recs, err)
			}
			if after := dumpStore(t, path); !reflect.DeepEqual(after, before) {
				t.Fatalf("%s at position %d: the store changed", name, pos)
			}
		}
	}
	if recs := mustAmend(t, st, ok(0), ok(1), ok(2)); recs[0].Seq != 1 || recs[2].Seq != 3 {
		t.Errorf("good batch got seqs %d..%d; want 1..3", recs[0].Seq, recs[2].Seq)
	}
	closeStore(t, st)
	wantValidAnchored(t, verifyPath(t, path, ""), 6, 0, 1)
}

func mkEventID(node string, i int) string { return node + "/" + fmtAny(i) }

// TestAmendBatchSameEventTwice amends one event twice in a batch: the second
// record's digest_before is the first one's digest_after.
func TestAmendBatchSameEventTwice(t *testing.T) {
	t.Parallel()
	path := buildStore(t, sqlite.Options{}, mkEvents(t, "node-a", 0, 3))
	ingested := ingestDigests(t, path)
	st := openStore(t, path, sqlite.Options{})
	recs := mustAmend(t, st,
		amendReq("node-a/1", "one", chainlog.Patch{Set: []string{chainlog.FieldModel}, Values: chainlog.Mutable{Model: ptr("m1")}}),
		amendReq("node-a/1", "two", chainlog.Patch{Set: []string{chainlog.FieldModel}, Values: chainlog.Mutable{Model: ptr("m2")}}))
	closeStore(t, st)
	if recs[0].DigestBefore != ingested["node-a/1"] || recs[1].DigestBefore != recs[0].DigestAfter {
		t.Errorf("digests before = %s, %s; want %s, %s", recs[0].DigestBefore, recs[1].DigestBefore, ingested["node-a/1"], recs[0].DigestAfter)
	}
	if m := mutableOf(t, path, "node-a/1"); m.Model == nil || *m.Model != "m2" || recs[1].DigestAfter != chainlog.PayloadDigest(&m) {
		t.Errorf("model = %v, digest_after %s; want m2 and its digest", fmtPtr(m.Model), recs[1].DigestAfter)
	}
	wantValidAnchored(t, verifyPath(t, path, ""), 3, 0, 1)
}

// TestAmendKeepsIdentityAndChain amends every mutable field, to values and
// to NULL, and compares full exports: only the four mutable fields change.
func TestAmendKeepsIdentityAndChain(t *testing.T) {
	t.Parallel()
	full := decode(t, `{"id":"full","node_id":"node-b","event_type":"llm_usage","ts":"2026-02-01T10:00:00Z",`+
		`"data":{"a":1},"cost_usd":0.006,"token_count":1200,"model":"claude-sonnet-4"}`)
	path := buildStore(t, sqlite.Options{}, append(mkEvents(t, "node-a", 0, 4), full), mkEvents(t, "node-b", 0, 2))
	before := exportPath(t, path, "")
	heads := headsPath(t, path)

	all := []string{chainlog.FieldData, chainlog.FieldCostUSD, chainlog.FieldTokenCount, chainlog.FieldModel}
	st := openStore(t, path, sqlite.Options{})
	mustAmend(t, st,
		// Everything to NULL, then back to values.
		amendReq("full", "clear", chainlog.Patch{Set: all}),
		amendReq("node-a/0", "set all", chainlog.Patch{Set: all, Values: chainlog.Mutable{
			Data: json.RawMessage(` { "b" : [1, 2] } `), CostUSD: ptr(1.5), TokenCount: ptr[int64](3), Model: ptr("o3")}}),
		amendReq("node-a/2", "data only", chainlog.Patch{Set: []string{chainlog.FieldData}, Values: chainlog.Mutable{Data: json.RawMessage(`"text"`)}}),
	)
	mustAmend(t, st, amendReq("full", "restore", chainlog.Patch{Set: all, Values: full.Mutable()}))
	closeStore(t, st)

	// Each batch added one anchor event, on its own node; every other row
	// keeps its identity and chain.
	after := slices.DeleteFunc(exportPath(t, path, ""), func(r chainlog.StoredEvent) bool { return r.NodeID == chainlog.AnchorNode })
	if len(after) != len(before) {
		t.Fatalf("%d rows after amending; want %d", len(after), len(before))
	}
	for i := range after {
		got, want := after[i], before[i]
		got.SetMutable(chainlog.Mutable{})
		want.SetMutable(chainlog.Mutable{})
		if !reflect.DeepEqual(got, want) {
			t.Errorf("row %d (%s): identity, chain, created_at or payload_digest changed:\n got  %+v\n want %+v", i, want.ID, got, want)
		}
	}
	got := headsPath(t, path)
	delete(got, chainlog.AnchorNode)
	if !reflect.DeepEqual(got, heads) {
		t.Errorf("chain heads changed by amending:\n got  %+v\n want %+v", got, heads)
	}
	if m := mutableOf(t, path, "node-a/0"); string(m.Data) != `{"b":[1,2]}` {
		t.Errorf("amended data stored as %q; want compact JSON", m.Data)
	}
	if m := mutableOf(t, path, "full"); !reflect.DeepEqual(m, full.Mutable()) {
		t.Errorf("restored fields = %+v; want %+v", m, full.Mutable())
	}
	rep := verifyPath(t, path, "")
	wantValidAnchored(t, rep, 7, 0, 2)
	if rep.Amendments.Checked != 4 || rep.PayloadsChecked != 7+2 {
		t.Errorf("amendments checked %d, payloads checked %d; want 4, 7+2", rep.Amendments.Checked, rep.PayloadsChecked)
	}
}

// trailFixture is a store with node-a at seq 1..5 and node-b at seq 1..4
// and six amendments over three events:
//
//	seq 1  A cost_usd      seq 4  C redact data
//	seq 2  B model         seq 5  A model        (A's latest)
//	seq 3  A token_count   seq 6  B data         (B's latest)
type trailFixture struct {
	path     string
	recs     []chainlog.Amendment // recs[i] has seq i+1
	rows     map[string]chainlog.StoredEvent
	ingested map[string]string
}

const (
	trailA = "node-a/1" // node-a seq 2
	trailB = "node-b/2" // node-b seq 3
	trailC = "node-a/3" // node-a seq 4
)

func newTrailFixture(t *testing.T) trailFixture {
	t.Helper()
	path := buildStore(t, sqlite.Options{}, append(mkEvents(t, "node-a", 0, 5), mkEvents(t, "node-b", 0, 4)...))
	f := trailFixture{path: path, rows: map[string]chainlog.StoredEvent{}, ingested: ingestDigests(t, path)}
	for _, r := range exportPath(t, path, "") {
		f.rows[r.ID] = r
	}
	st := openStore(t, path, sqlite.Options{})
	f.recs = append(f.recs, mustAmend(t, st,
		amendReq(trailA, "price fix", chainlog.Patch{Set: []string{chainlog.FieldCostUSD}, Values: chainlog.Mutable{CostUSD: ptr(0.25)}}),
		amendReq(trailB, "model name", chainlog.Patch{Set: []string{chainlog.FieldModel}, Values: chainlog.Mutable{Model: ptr("claude-sonnet-4")}}))...)
	f.recs = append(f.recs, mustAmend(t, st,
		amendReq(trailA, "token count", chainlog.Patch{Set: []string{chainlog.FieldTokenCount}, Values: chainlog.Mutable{TokenCount: ptr[int64](900)}}))...)
	f.recs = append(f.recs, mustAmend(t, st,
		sqlite.AmendRequest{EventID: trailC, Kind: chainlog.KindRedact, Reason: "personal data", Actor: "dpo",
			Patch: chainlog.Patch{Set: []string{chainlog.FieldData}, Values: chainlog.Mutable{Data: json.RawMessage(`{"redacted":true}`)}}},
		amendReq(trailA, "model", chainlog.Patch{Set: []string{chainlog.FieldModel}, Values: chainlog.Mutable{Model: ptr("gpt-4o")}}),
		amendReq(trailB, "data", chainlog.Patch{Set: []string{chainlog.FieldData}, Values: chainlog.Mutable{Data: json.RawMessage(`{"seq":2,"note":"fixed"}`)}}))...)
	closeStore(t, st)

	recs, head := allAmendments(t, path)
	wantLinked(t, recs, head)
	if !reflect.DeepEqual(recs, f.recs) {
		t.Fatalf("stored trail differs from the records AmendBatch returned:\n got  %+v\n want %+v", recs, f.recs)
	}
	rep := verifyPath(t, path, "")
	wantValidAnchored(t, rep, 9, 0, 3)
	if rep.Amendments.Status != chainlog.StatusValid || rep.Amendments.Checked != 6 || rep.Amendments.HeadSeq != 6 {
		t.Fatalf("fixture trail: %+v; want valid, 6 records", rep.Amendments)
	}
	return f
}

// rec returns the record with seq.
func (f trailFixture) rec(seq int64) chainlog.Amendment { return f.recs[seq-1] }

// verifyTampered verifies the tampered store, whole and scoped to each
// node (the trail is verified whatever the scope), and expects want as the
// trail's break. nodeBreaks are the nodes' payload breaks, in node order:
// the first node break of the scope, when there is one, is the report's
// first break, else the trail's is.
func (f trailFixture) verifyTampered(t *testing.T, want chainlog.Break, nodeBreaks ...*chainlog.Break) {
	t.Helper()
	var first *chainlog.Break
	if len(nodeBreaks) > 0 {
		first = nodeBreaks[0]
	}
	wantTrailBreak(t, verifyPath(t, f.path, ""), want, first)
	for _, node := range []string{"node-a", "node-b"} {
		var nb *chainlog.Break
		for _, b := range nodeBreaks {
			if b.NodeID == node {
				nb = b
				break
			}
		}
		wantTrailBreak(t, verifyPath(t, f.path, node), want, nb)
	}
}

// payloadBreak is the node break of a row whose fields no longer match
// the digest recorded for them.
func (f trailFixture) payloadBreak(id, expected, found string) *chainlog.Break {
	r := f.rows[id]
	return &chainlog.Break{NodeID: r.NodeID, Seq: r.Seq, EventID: id, Reason: chainlog.ReasonPayloadChanged, Expected: expected, Found: found}
}

func TestAmendTamperRecordEdited(t *testing.T) {
	t.Parallel()
	hex := func(c string) string { return strings.Repeat(c, 64) }
	cases := []struct {
		name   string
		seq    int64
		col    string
		val    any
		edit   func(a *chainlog.Amendment)
		reason string // "" is ReasonAmendHash
		// node is set when the edited record's event also fails its
		// payload check.
		node bool
	}{
		{"reason", 3, "reason", "routine", func(a *chainlog.Amendment) { a.Reason = "routine" }, "", false},
		{"actor", 3, "actor", "someone-else", func(a *chainlog.Amendment) { a.Actor = "someone-else" }, "", false},
		{"at", 3, "at", "2020-01-01T00:00:00.000000Z", func(a *chainlog.Amendment) { a.At = "2020-01-01T00:00:00.000000Z" }, "", false},
		{"kind", 3, "kind", chainlog.KindRedact, func(a *chainlog.Amendment) { a.Kind = chainlog.KindRedact }, "", false},
		{"fields", 3, "fields", `["model"]`, func(a *chainlog.Amendment) { a.Fields = []string{"model"} }, "", false},
		// Raw text equal to the one field name: must not read as ["token_count"].
		{"fields not JSON", 3, "fields", `token_count`, func(a *chainlog.Amendment) { a.Fields = []string{"invalid JSON: token_count"} }, "", false},
		{"event_id", 3, "event_id", trailC, func(a *chainlog.Amendment) { a.EventID = trailC }, "", false},
		{"event_id of no event", 3, "event_id", "ghost", func(a *chainlog.Amendment) { a.EventID = "ghost" }, "", false},
		{"digest_before", 3, "digest_before", hex("a"), func(a *chainlog.Amendment) { a.DigestBefore = hex("a") }, "", false},
		{"digest_after", 3, "digest_after", hex("b"), func(a *chainlog.Amendment) { a.DigestAfter = hex("b") }, "", false},
		// B's latest record: the row no longer matches the edited digest.
		{"digest_after of the latest record", 6, "digest_after", hex("b"), func(a *chainlog.Amendment) { a.DigestAfter = hex("b") }, "", true},
		{"hash", 3, "hash", hex("d"), func(a *chainlog.Amendment) { a.Hash = hex("d") }, "", false},
		{"prev_hash", 3, "prev_hash", hex("c"), func(a *chainlog.Amendment) { a.PrevHash = hex("c") }, chainlog.ReasonAmendPrev, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			f := newTrailFixture(t)
			orig := f.rec(c.seq)
			attack(t, f.path, rawSQL(`UPDATE amendments SET `+c.col+` = ? WHERE seq = ?`, c.val, c.seq))
			edited := orig
			edited.Fields = append([]string(nil), orig.Fields...)
			c.edit(&edited)
			want := chainlog.Break{Seq: c.seq, EventID: edited.EventID, Reason: chainlog.ReasonAmendHash,
				Expected: chainlog.AmendmentHash(edited.PrevHash, &edited), Found: edited.Hash}
			if c.reason == chainlog.ReasonAmendPrev {
				want = chainlog.Break{Seq: c.seq, EventID: orig.EventID, Reason: c.reason, Expected: f.rec(c.seq - 1).Hash, Found: edited.PrevHash}
			}
			if c.node {
				f.verifyTampered(t, want, f.payloadBreak(orig.EventID, edited.DigestAfter, orig.DigestAfter))
				return
			}
			f.verifyTampered(t, want)
		})
	}
}

func TestAmendTamperDeleteMiddleRecord(t *testing.T) {
	t.Parallel()
	f := newTrailFixture(t)
	attack(t, f.path, rawSQL(`DELETE FROM amendments WHERE seq = 3`))
	// A's latest record (seq 5) is intact, so its row still verifies.
	f.verifyTampered(t, chainlog.Break{Seq: 4, EventID: trailC, Reason: chainlog.ReasonAmendSeq, Expected: "3", Found: "4"})
}

// An attacker who renumbers the records after a deleted one (and moves the
// head back) still breaks the hash links.
func TestAmendTamperDeleteMiddleRecordAndRenumber(t *testing.T) {
	t.Parallel()
	f := newTrailFixture(t)
	attack(t, f.path,
		rawSQL(`DELETE FROM amendments WHERE seq = 3`),
		rawSQL(`UPDATE amendments SET seq = -(seq - 1) WHERE seq > 3`),
		rawSQL(`UPDATE amendments SET seq = -seq WHERE seq < 0`),
		rawSQL(`UPDATE amendment_head SET seq = 5`))
	f.verifyTampered(t, chainlog.Break{Seq: 3, EventID: trailC, Reason: chainlog.ReasonAmendPrev,
		Expected: f.rec(2).Hash, Found: f.rec(3).Hash})
}

// Deleting the last record leaves the head pointing past the trail. B's
// row keeps the values of the deleted record, so B's payload check breaks
// too, and that node break is the report's first.
func TestAmendTamperDeleteLastRecord(t *testing.T) {
	t.Parallel()
	f := newTrailFixture(t)
	attack(t, f.path, rawSQL(`DELETE FROM amendments WHERE seq = 6`))
	f.verifyTampered(t,
		chainlog.Break{Seq: 5, Reason: chainlog.ReasonAmendHeadMismatch, Expected: f.rec(5).Hash, Found: f.rec(6).Hash},
		f.payloadBreak(trailB, f.rec(2).DigestAfter, f.rec(6).DigestAfter))
}

// anchorBreak is the trail's break at the anchor event of trail seq (the
// fixture's third batch ends at seq 6 and is the anchor node's seq 3).
func (f trailFixture) anchorBreak(seq int64, reason, expected, found string) chainlog.Break {
	return chainlog.Break{NodeID: chainlog.AnchorNode, Seq: seq, EventID: chainlog.AnchorID(seq, f.rec(seq).Hash),
		Reason: reason, Expected: expected, Found: found}
}

// Deleting the last record and moving the head back makes the trail
// consistent, but B's row still holds the values the deleted record made,
// and the anchor event of seq 6 names a record that is gone.
func TestAmendTamperDeleteLastRecordAndHead(t *testing.T) {
	t.Parallel()
	f := newTrailFixture(t)
	attack(t, f.path,
		rawSQL(`DELETE FROM amendments WHERE seq = 6`),
		rawSQL(`UPDATE amendment_head SET seq = 5, hash = ?`, f.rec(5).Hash))
	f.verifyTampered(t, f.anchorBreak(6, chainlog.ReasonAnchorNoRecord, f.rec(6).Hash, ""),
		f.payloadBreak(trailB, f.rec(2).DigestAfter, f.rec(6).DigestAfter))
	if a := verifyPath(t, f.path, "").Amendments; a.Checked != 5 || a.HeadSeq != 5 || a.Anchors != 3 || a.AnchoredSeq != 6 {
		t.Errorf("amendments report = %+v; want 5 records checked, 3 anchors up to seq 6", a)
	}
}

// Rolling back the newest amendment completely (record, head and the row's
// values) leaves a trail consistent in itself, but the anchor event, a
// leaf of the tree committed with the record, still names it.
func TestAmendTamperRollbackOfNewestCaughtByAnchor(t *testing.T) {
	t.Parallel()
	f := newTrailFixture(t)
	attack(t, f.path,
		rawSQL(`DELETE FROM amendments WHERE seq = 6`),
		rawSQL(`UPDATE amendment_head SET seq = 5, hash = ?`, f.rec(5).Hash),
		rawSQL(`UPDATE events SET data = ? WHERE id = ?`, string(f.rows[trailB].Data), trailB))
	f.verifyTampered(t, f.anchorBreak(6, chainlog.ReasonAnchorNoRecord, f.rec(6).Hash, ""))
}

// Rolling the anchor back too (its row and its node's head) leaves the
// trail and the chains consistent; the tree is not: its leaf is gone.
// Rewriting the tree as well is what checkpoints and witnesses catch
// (the tree at a checkpoint's size no longer has the checkpoint's root).
func TestAmendTamperRollbackWithAnchorBreaksTree(t *testing.T) {
	t.Parallel()
	f := newTrailFixture(t)
	anchors := exportPath(t, f.path, chainlog.AnchorNode)
	if len(anchors) != 3 {
		t.Fatalf("%d anchor events; want 3", len(anchors))
	}
	prev := anchors[1]
	attack(t, f.path,
		rawSQL(`DELETE FROM amendments WHERE seq = 6`),
		rawSQL(`UPDATE amendment_head SET seq = 5, hash = ?`, f.rec(5).Hash),
		rawSQL(`UPDATE events SET data = ? WHERE id = ?`, string(f.rows[trailB].Data), trailB),
		rawSQL(`DELETE FROM events WHERE id = ?`, anchors[2].ID),
		rawSQL(`UPDATE chain_heads SET seq = ?, chain_hash = ? WHERE node_id = ?`, prev.Seq, prev.Hash, chainlog.AnchorNode))
	st := openRO(t, f.path)
	defer st.Close()
	rep, err := chainlog.VerifyStore(t.Context(), st, chainlog.VerifyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Status != chainlog.StatusInvalid || rep.Tree == nil || rep.Tree.Break == nil {
		t.Fatalf("status %q, tree %+v; want invalid with a tree break", rep.Status, rep.Tree)
	}
	if r := rep.Tree.Break.Reason; !strings.HasPrefix(r, chainlog.ReasonTreeHeadMismatch) && !strings.HasPrefix(r, chainlog.ReasonLeafMissing) {
		t.Errorf("tree break reason %q; want the tree head mismatch or a missing leaf", r)
	}
	// The trail itself is consistent with its (now last) anchor, seq 5's
	// batch having none of its own: the last anchor names seq 3.
	if a := rep.Amendments; a.Break == nil || a.Break.Reason != chainlog.ReasonUnanchored {
		t.Errorf("amendments report = %+v; want the trail running past its last anchor", a)
	}
}

// Swapping two records' seqs (seq is the INTEGER PRIMARY KEY, so through a
// temporary seq) breaks the link at the first of them.
func TestAmendTamperReorder(t *testing.T) {
	t.Parallel()
	f := newTrailFixture(t)
	attack(t, f.path,
		rawSQL(`UPDATE amendments SET seq = -1 WHERE seq = 2`),
		rawSQL(`UPDATE amendments SET seq = 2 WHERE seq = 3`),
		rawSQL(`UPDATE amendments SET seq = 3 WHERE seq = -1`))
	// Seq 2 now holds A's token_count record, which links to B's.
	f.verifyTampered(t, chainlog.Break{Seq: 2, EventID: trailA, Reason: chainlog.ReasonAmendPrev,
		Expected: f.rec(1).Hash, Found: f.rec(2).Hash})
}

// forgeAmendment builds, as an attacker who knows the format would, a
// record at seq 7 for id that sets its data to {"forged":true}, linked to
// the real head, with digestBefore as given and a correct hash; it returns
// the record and the statements that insert it and update the row.
func (f trailFixture) forgeAmendment(t *testing.T, id, digestBefore string) (chainlog.Amendment, []rawStmt) {
	t.Helper()
	m := chainlog.Mutable{}
	if r, ok := f.rows[id]; ok {
		m = mutableOf(t, f.path, r.ID)
	}
	m.Data = json.RawMessage(`{"forged":true}`)
	a := chainlog.Amendment{Seq: 7, EventID: id, Kind: chainlog.KindAmend, Fields: []string{chainlog.FieldData},
		DigestBefore: digestBefore, DigestAfter: chainlog.PayloadDigest(&m), Reason: "cleanup", Actor: "ops",
		At: "2026-03-02T00:00:00.000000Z", PrevHash: f.rec(6).Hash}
	a.Hash = chainlog.AmendmentHash(a.PrevHash, &a)
	return a, []rawStmt{
		rawSQL(`INSERT INTO amendments (seq, event_id, kind, fields, digest_before, digest_after, reason, actor, at, prev_hash, hash)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, a.Seq, a.EventID, a.Kind, `["data"]`, a.DigestBefore, a.DigestAfter,
			a.Reason, a.Actor, a.At, a.PrevHash, a.Hash),
		rawSQL(`UPDATE events SET data = ? WHERE id = ?`, string(m.Data), id),
	}
}

// A forged record with a correct hash appended after the head, with the
// row updated to match it, shows only as a head that lags the trail.
func TestAmendTamperForgedAtEndHeadNotMoved(t *testing.T) {
	t.Parallel()
	f := newTrailFixture(t)
	forged, stmts := f.forgeAmendment(t, trailC, f.rec(4).DigestAfter)
	attack(t, f.path, stmts...)
	f.verifyTampered(t, chainlog.Break{Seq: 7, Reason: chainlog.ReasonAmendHeadMismatch,
		Expected: forged.Hash, Found: f.rec(6).Hash})
}

// A forger who also moves the head and sets digest_before to the event's
// last recorded digest makes a trail consistent in itself, but the record
// has no anchor event: the trail runs past its last anchor. (Forging the
// anchor too means appending a leaf to the tree, which checkpoints and
// witnesses vouch for; see TestAnchorForged.)
func TestAmendTamperForgedAtEndHeadMoved(t *testing.T) {
	t.Parallel()
	f := newTrailFixture(t)
	forged, stmts := f.forgeAmendment(t, trailC, f.rec(4).DigestAfter)
	attack(t, f.path, append(stmts, rawSQL(`UPDATE amendment_head SET seq = 7, hash = ?`, forged.Hash))...)
	b := f.anchorBreak(6, chainlog.ReasonUnanchored, "trail head at seq 6", "trail head at seq 7")
	b.Seq = 7
	f.verifyTampered(t, b)
	if a := verifyPath(t, f.path, "").Amendments; a.Checked != 7 || a.HeadHash != forged.Hash {
		t.Errorf("amendments report = %+v; want the forged record read", a)
	}
	if trail := trailOf(t, f.path, trailC); len(trail) != 2 || !reflect.DeepEqual(trail[1], forged) {
		t.Errorf("trail of %s = %+v; want the redaction and the forged record", trailC, trail)
	}
}

// With the head moved, a forged record is caught only by its
// digest_before: here the forger used the event's ingest digest instead of
// its last amendment's digest_after.
func TestAmendTamperForgedWithStaleDigestBefore(t *testing.T) {
	t.Parallel()
	f := newTrailFixture(t)
	forged, stmts := f.forgeAmendment(t, trailC, f.ingested[trailC])
	attack(t, f.path, append(stmts, rawSQL(`UPDATE amendment_head SET seq = 7, hash = ?`, forged.Hash))...)
	f.verifyTampered(t, chainlog.Break{Seq: 7, EventID: trailC, Reason: chainlog.ReasonAmendBefore,
		Expected: f.rec(4).DigestAfter, Found: f.ingested[trailC]})
}

func TestAmendTamperForgedForMissingEvent(t *testing.T) {
	t.Parallel()
	f := newTrailFixture(t)
	forged, stmts := f.forgeAmendment(t, "ghost", chainlog.PayloadDigest(&chainlog.Mutable{}))
	attack(t, f.path, stmts[0], rawSQL(`UPDATE amendment_head SET seq = 7, hash = ?`, forged.Hash))
	f.verifyTampered(t, chainlog.Break{Seq: 7, EventID: "ghost", Reason: chainlog.ReasonAmendNoEvent, Found: "ghost"})
}

func TestAmendTamperHeadDeleted(t *testing.T) {
	t.Parallel()
	f := newTrailFixture(t)
	attack(t, f.path, rawSQL(`DELETE FROM amendment_head`))
	f.verifyTampered(t, chainlog.Break{Seq: 6, Reason: chainlog.ReasonAmendHeadMissing, Expected: f.rec(6).Hash})
}

func TestAmendTamperHeadEdited(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name      string
		seq       int64
		hash      string
		wantFound string
	}{
		{"hash", 6, strings.Repeat("e", 64), strings.Repeat("e", 64)},
		{"seq", 9, "", ""},
		{"rolled back", 5, "", ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			f := newTrailFixture(t)
			hash := c.hash
			switch c.name {
			case "seq":
				hash = f.rec(6).Hash
			case "rolled back":
				hash = f.rec(5).Hash
			}
			attack(t, f.path, rawSQL(`UPDATE amendment_head SET seq = ?, hash = ?`, c.seq, hash))
			f.verifyTampered(t, chainlog.Break{Seq: 6, Reason: chainlog.ReasonAmendHeadMismatch, Expected: f.rec(6).Hash, Found: hash})
		})
	}
}

// Emptying the trail: with the head kept, the head is an orphan; with the
// head gone too, the trail is empty and only the payload digests show it.
// Either way the first break is A's row, whose fields no longer match its
// ingest digest.
func TestAmendTamperAllRecordsDeleted(t *testing.T) {
	t.Parallel()
	t.Run("head kept", func(t *testing.T) {
		t.Parallel()
		f := newTrailFixture(t)
		attack(t, f.path, rawSQL(`DELETE FROM amendments`))
		f.verifyTampered(t, chainlog.Break{Seq: 6, Reason: chainlog.ReasonAmendHeadOrphan, Expected: chainlog.GenesisHash, Found: f.rec(6).Hash},
			f.payloadBreak(trailA, f.ingested[trailA], f.rec(5).DigestAfter),
			f.payloadBreak(trailB, f.ingested[trailB], f.rec(6).DigestAfter))
	})
	t.Run("head deleted", func(t *testing.T) {
		t.Parallel()
		f := newTrailFixture(t)
		attack(t, f.path, rawSQL(`DELETE FROM amendments`), rawSQL(`DELETE FROM amendment_head`))
		// The trail is empty and consistent; the first anchor names a
		// record that is gone.
		f.verifyTampered(t, f.anchorBreak(2, chainlog.ReasonAnchorNoRecord, f.rec(2).Hash, ""),
			f.payloadBreak(trailA, f.ingested[trailA], f.rec(5).DigestAfter),
			f.payloadBreak(trailB, f.ingested[trailB], f.rec(6).DigestAfter))
	})
}

// AmendBatch reads the trail's head inside its BEGIN IMMEDIATE transaction,
// so a concurrent writer cannot make it stale: the compare-and-swap (and the
// seq primary key) fail only when the head and the records disagree, that
// is after tampering. The error wraps ErrConflict, the batch is not retried
// (a retry would read the same head) and nothing is written.
func TestAmendConflictOnInconsistentTrail(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name string
		stmt rawStmt
	}{
		{"head rolled back", rawSQL(`UPDATE amendment_head SET seq = 5, hash = (SELECT hash FROM amendments WHERE seq = 5)`)},
		{"head deleted", rawSQL(`DELETE FROM amendment_head`)},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			f := newTrailFixture(t)
			attack(t, f.path, c.stmt)
			before := dumpStore(t, f.path)
			st := openStore(t, f.path, sqlite.Options{})
			_, err := st.Amend(t.Context(), amendReq("node-a/0", "after tampering", chainlog.Patch{
				Set: []string{chainlog.FieldModel}, Values: chainlog.Mutable{Model: ptr("x")}}))
			if !errors.Is(err, chainlog.ErrConflict) {
				t.Errorf("Amend on an inconsistent trail: error = %v; want one wrapping ErrConflict", err)
			}
			closeStore(t, st)
			if after := dumpStore(t, f.path); !reflect.DeepEqual(after, before) {
				t.Error("the refused Amend changed the store")
			}
		})
	}
}

// TestConcurrentAmendAndIngestOneStore has goroutines amend and ingest
// through one Store at the same time.
func TestConcurrentAmendAndIngestOneStore(t *testing.T) {
	t.Parallel()
	path := newStorePath(t)
	st := openStore(t, path, sqlite.Options{})
	ingest(t, st, mkEvents(t, "node-a", 0, 20)...)
	const amenders, amends, ingesters, batches = 4, 10, 3, 5
	work := make([][]chainlog.Event, ingesters)
	for w := range ingesters {
		work[w] = mkEvents(t, "node-b", w*100, w*100+batches)
	}
	var wg sync.WaitGroup
	for w := range amenders {
		wg.Go(func() {
			for i := range amends {
				// Each amender cycles over its own five events.
				id := mkEventID("node-a", w*5+i%5)
				_, err := st.Amend(t.Context(), amendReq(id, "concurrent", chainlog.Patch{
					Set: []string{chainlog.FieldTokenCount}, Values: chainlog.Mutable{TokenCount: ptr(int64(w*1000 + i))}}))
				if err != nil {
					t.Errorf("amender %d, amend %d: %v", w, i, err)
				}
			}
		})
	}
	for w := range ingesters {
		wg.Go(func() {
			for i, e := range work[w] {
				if _, err := st.Ingest(t.Context(), []chainlog.Event{e}); err != nil {
					t.Errorf("ingester %d, event %d: %v", w, i, err)
				}
			}
		})
	}
	wg.Wait()
	closeStore(t, st)

	recs, head := allAmendments(t, path)
	wantLinked(t, recs, head)
	if len(recs) != amenders*amends {
		t.Errorf("%d amendment records; want %d", len(recs), amenders*amends)
	}
	rep := verifyPath(t, path, "")
	wantValidAnchored(t, rep, 20+ingesters*batches, 0, 40)
	if rep.Amendments.Checked != amenders*amends {
		t.Errorf("amendments checked = %d; want %d", rep.Amendments.Checked, amenders*amends)
	}
}

// TestTwoStoresInterleavedAmendBatch has two Store values on one file
// append to the trail, first in turn, then at the same time, with
// overlapping events, while one of them also ingests. No call fails and none
// needs a retry: each batch reads the trail's head inside its BEGIN
// IMMEDIATE transaction, and the busy timeout waits for the other store's
// transaction to end.
func TestTwoStoresInterleavedAmendBatch(t *testing.T) {
	t.Parallel()
	path := buildStore(t, sqlite.Options{}, mkEvents(t, "node-a", 0, 10))
	clock := testClock()
	stores := []*sqlite.Store{openStore(t, path, sqlite.Options{Now: clock}), openStore(t, path, sqlite.Options{Now: clock})}
	req := func(s, i, k int) sqlite.AmendRequest {
		return amendReq(mkEventID("node-a", (i+k)%10), "store "+fmtAny(s), chainlog.Patch{
			Set: []string{chainlog.FieldModel}, Values: chainlog.Mutable{Model: ptr(fmtAny(s*1000 + i*10 + k))}})
	}
	const turns = 10
	for i := range turns {
		s := i % 2
		recs, err := stores[s].AmendBatch(t.Context(), []sqlite.AmendRequest{req(s, i, 0), req(s, i, 1)})
		if err != nil {
			t.Fatalf("turn %d (store %d): %v", i, s, err)
		}
		if recs[0].Seq != int64(2*i+1) {
			t.Errorf("turn %d: first seq %d; want %d", i, recs[0].Seq, 2*i+1)
		}
	}
	const rounds = 15
	nodeB := mkEvents(t, "node-b", 0, rounds)
	var wg sync.WaitGroup
	for s, st := range stores {
		wg.Go(func() {
			for i := range rounds {
				if _, err := st.AmendBatch(t.Context(), []sqlite.AmendRequest{req(s, i, 0), req(s, i, 1), req(s, i, 2)}); err != nil {
					t.Errorf("store %d round %d: %v", s, i, err)
				}
				if s == 1 {
					if _, err := st.Ingest(t.Context(), nodeB[i:i+1]); err != nil {
						t.Errorf("store 1 ingest %d: %v", i, err)
					}
				}
			}
		})
	}
	wg.Wait()
	for _, st := range stores {
		closeStore(t, st)
	}
	recs, head := allAmendments(t, path)
	wantLinked(t, recs, head)
	if want := 2*turns + 3*rounds*len(stores); len(recs) != want {
		t.Errorf("%d records; want %d", len(recs), want)
	}
	rep := verifyPath(t, path, "")
	wantValidAnchored(t, rep, 10+rounds, 0, 40)
	if rep.Amendments.Status != chainlog.StatusValid {
		t.Errorf("amendments report = %+v; want valid", rep.Amendments)
	}
}

// TestConcurrentBackfillTwoStores runs BackfillCosts from two Store values
// on one file at the same time: every costable event is costed exactly
// once, by one of them.
func TestConcurrentBackfillTwoStores(t *testing.T) {
	t.Parallel()
	const n = 300
	usage := `{"model":"claude-sonnet-4","usage":{"input_tokens":1000,"output_tokens":200}}`
	var evs []chainlog.Event
	for i := range n {
		evs = append(evs, decode(t, `{"id":"e`+fmtAny(i)+`","node_id":"node-`+fmtAny(i%2)+`","event_type":"llm_usage","ts":"2026-02-01T10:00:00Z","data":`+usage+`}`))
	}
	path := buildStore(t, sqlite.Options{}, evs)
	stores := []*sqlite.Store{openStore(t, path, sqlite.Options{}), openStore(t, path, sqlite.Options{})}
	results := make([]sqlite.BackfillResult, len(stores))
	var wg sync.WaitGroup
	for s, st := range stores {
		wg.Go(func() {
			var err error
			if results[s], err = st.BackfillCosts(t.Context(), pricing.Default()); err != nil {
				t.Errorf("store %d: %v", s, err)
			}
		})
	}
	wg.Wait()
	for _, st := range stores {
		closeStore(t, st)
	}
	if got := results[0].Costed + results[1].Costed; got != n {
		t.Errorf("costed %d + %d = %d; want %d", results[0].Costed, results[1].Costed, got, n)
	}
	if got := rawValue(t, path, `SELECT count(DISTINCT event_id) || '/' || count(*) FROM amendments`); got != fmtAny(n)+"/"+fmtAny(n) {
		t.Errorf("distinct events / records = %s; want %d/%d", got, n, n)
	}
	rep := verifyPath(t, path, "")
	wantValidAnchored(t, rep, n, 0, 1)
	if rep.Amendments.Checked != n {
		t.Errorf("amendments checked = %d; want %d", rep.Amendments.Checked, n)
	}
}

// Rewriting a record and hashing every later record again, with the head
// moved to match, makes a trail that is consistent in itself: only the
// anchor event committed with the record still holds its real hash.
func TestAmendTamperTrailRecomputedForward(t *testing.T) {
	t.Parallel()
	f := newTrailFixture(t)
	prev := f.rec(2).Hash
	var stmts []rawStmt
	var forged []chainlog.Amendment
	for seq := int64(3); seq <= 6; seq++ {
		a := f.rec(seq)
		if seq == 3 {
			a.Reason = "routine"
		}
		a.PrevHash = prev
		a.Hash = chainlog.AmendmentHash(prev, &a)
		prev = a.Hash
		forged = append(forged, a)
		stmts = append(stmts, rawSQL(`UPDATE amendments SET reason = ?, prev_hash = ?, hash = ? WHERE seq = ?`, a.Reason, a.PrevHash, a.Hash, seq))
	}
	stmts = append(stmts, rawSQL(`UPDATE amendment_head SET hash = ?`, prev))
	attack(t, f.path, stmts...)
	recs, head := allAmendments(t, f.path)
	wantLinked(t, recs, head) // the trail alone is consistent
	f.verifyTampered(t, f.anchorBreak(3, chainlog.ReasonAnchorMismatch, f.rec(3).Hash, forged[0].Hash))
}
