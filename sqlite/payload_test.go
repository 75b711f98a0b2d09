package sqlite_test

import (
	"encoding/json"
	"math"
	"strings"
	"testing"

	"chainlog"
	"chainlog/sqlite"
)

// Payload digests on real stores: a change to a mutable field made outside
// the amendment trail, and digests NULLed to pass rows off as old.

// payloadFixture is node-a with "full" (every mutable field set) at seq 1,
// "empty" (every mutable field NULL) at seq 2, two ordinary events at
// seq 3 and 4, and node-b with two events.
type payloadFixture struct {
	path string
	rows map[string]chainlog.StoredEvent
}

func newPayloadFixture(t *testing.T) payloadFixture {
	t.Helper()
	full := decode(t, `{"id":"full","node_id":"node-a","event_type":"llm_usage","ts":"2026-02-01T10:00:00Z",`+
		`"data":{"model":"claude-sonnet-4","usage":{"input_tokens":1000,"output_tokens":200}},`+
		`"cost_usd":0.006,"token_count":1200,"model":"claude-sonnet-4"}`)
	empty := decode(t, `{"id":"empty","node_id":"node-a","event_type":"heartbeat","ts":"2026-02-01T10:00:01Z"}`)
	path := buildStore(t, sqlite.Options{}, []chainlog.Event{full, empty}, mkEvents(t, "node-a", 2, 4), mkEvents(t, "node-b", 0, 2))
	f := payloadFixture{path: path, rows: map[string]chainlog.StoredEvent{}}
	for _, r := range exportPath(t, path, "") {
		m := r.Mutable()
		if r.PayloadDigest != chainlog.PayloadDigest(&m) {
			t.Fatalf("%s: payload_digest %s; want the digest of its fields %s", r.ID, r.PayloadDigest, chainlog.PayloadDigest(&m))
		}
		f.rows[r.ID] = r
	}
	if f.rows["empty"].Data != nil || f.rows["full"].Model == nil {
		t.Fatal("fixture: empty has data or full has no model")
	}
	rep := verifyPath(t, path, "")
	wantValid(t, rep, 6, 0)
	if rep.PayloadsChecked != 6 || rep.PayloadsUnsealed != 0 {
		t.Fatalf("fixture: payloads checked, unsealed = %d, %d; want 6, 0", rep.PayloadsChecked, rep.PayloadsUnsealed)
	}
	return f
}

// mut returns the mutable fields of the fixture's row id as ingested.
func (f payloadFixture) mut(id string) chainlog.Mutable {
	r := f.rows[id]
	return r.Mutable()
}

// changed is the break a row reports when its fields, now m, no longer
// hash to expected.
func (f payloadFixture) changed(id, expected string, m chainlog.Mutable) chainlog.Break {
	r := f.rows[id]
	return chainlog.Break{NodeID: r.NodeID, Seq: r.Seq, EventID: id, Reason: chainlog.ReasonPayloadChanged,
		Expected: expected, Found: chainlog.PayloadDigest(&m)}
}

// TestPayloadRawUpdate changes each mutable field with a raw UPDATE, value
// to value, value to NULL and NULL to value, each on a fresh store.
func TestPayloadRawUpdate(t *testing.T) {
	t.Parallel()
	next := math.Nextafter(0.006, 1)
	cases := []struct {
		name string
		id   string
		col  string
		val  any // nil is NULL
		set  func(m *chainlog.Mutable)
	}{
		{"data/value to value", "full", "data", `{"model":"claude-sonnet-4","usage":{"input_tokens":1,"output_tokens":200}}`,
			func(m *chainlog.Mutable) {
				m.Data = json.RawMessage(`{"model":"claude-sonnet-4","usage":{"input_tokens":1,"output_tokens":200}}`)
			}},
		// Same JSON value, different bytes: the digest covers the stored text.
		{"data/whitespace only", "full", "data", `{"model": "claude-sonnet-4","usage":{"input_tokens":1000,"output_tokens":200}}`,
			func(m *chainlog.Mutable) {
				m.Data = json.RawMessage(`{"model": "claude-sonnet-4","usage":{"input_tokens":1000,"output_tokens":200}}`)
			}},
		{"data/value to NULL", "full", "data", nil, func(m *chainlog.Mutable) { m.Data = nil }},
		{"data/NULL to value", "empty", "data", `{"note":"added"}`, func(m *chainlog.Mutable) { m.Data = json.RawMessage(`{"note":"added"}`) }},
		{"data/NULL to JSON null", "empty", "data", `null`, func(m *chainlog.Mutable) { m.Data = json.RawMessage(`null`) }},
		{"cost_usd/value to value", "full", "cost_usd", 0.06, func(m *chainlog.Mutable) { m.CostUSD = ptr(0.06) }},
		{"cost_usd/one ulp", "full", "cost_usd", next, func(m *chainlog.Mutable) { m.CostUSD = &next }},
		{"cost_usd/value to NULL", "full", "cost_usd", nil, func(m *chainlog.Mutable) { m.CostUSD = nil }},
		{"cost_usd/NULL to value", "empty", "cost_usd", 0.5, func(m *chainlog.Mutable) { m.CostUSD = ptr(0.5) }},
		{"cost_usd/NULL to zero", "empty", "cost_usd", 0.0, func(m *chainlog.Mutable) { m.CostUSD = ptr(0.0) }},
		{"token_count/value to value", "full", "token_count", 12000, func(m *chainlog.Mutable) { m.TokenCount = ptr[int64](12000) }},
		{"token_count/value to NULL", "full", "token_count", nil, func(m *chainlog.Mutable) { m.TokenCount = nil }},
		{"token_count/NULL to value", "empty", "token_count", 7, func(m *chainlog.Mutable) { m.TokenCount = ptr[int64](7) }},
		{"model/value to value", "full", "model", "claude-opus-4", func(m *chainlog.Mutable) { m.Model = ptr("claude-opus-4") }},
		{"model/value to NULL", "full", "model", nil, func(m *chainlog.Mutable) { m.Model = nil }},
		{"model/NULL to value", "empty", "model", "gpt-4o", func(m *chainlog.Mutable) { m.Model = ptr("gpt-4o") }},
		{"model/NULL to empty string", "empty", "model", "", func(m *chainlog.Mutable) { m.Model = ptr("") }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			f := newPayloadFixture(t)
			attack(t, f.path, rawSQL(`UPDATE events SET `+c.col+` = ? WHERE id = ?`, c.val, c.id))
			m := f.mut(c.id)
			c.set(&m)
			if got := mutableOf(t, f.path, c.id); !equalMutable(got, m) {
				t.Fatalf("row after the UPDATE = %+v; the test expects %+v", got, m)
			}
			want := f.changed(c.id, f.rows[c.id].PayloadDigest, m)
			rep := verifyPath(t, f.path, "")
			wantBreak(t, rep, want)
			if n := nodeReport(t, rep, "node-b"); n.Status != chainlog.StatusValid {
				t.Errorf("untouched node-b: %q", n.Status)
			}
			if rep.Amendments.Status != chainlog.StatusEmpty {
				t.Errorf("amendments status = %q; want empty", rep.Amendments.Status)
			}
			wantBreak(t, verifyPath(t, f.path, "node-a"), want)
		})
	}
}

func equalMutable(a, b chainlog.Mutable) bool {
	return chainlog.PayloadDigest(&a) == chainlog.PayloadDigest(&b)
}

// After a sanctioned amendment the row is checked against the amendment's
// digest_after: a raw UPDATE of the amended field, or of another one, is
// still caught.
func TestPayloadRawUpdateAfterAmendment(t *testing.T) {
	t.Parallel()
	for _, col := range []string{"cost_usd", "model"} {
		t.Run(col, func(t *testing.T) {
			t.Parallel()
			f := newPayloadFixture(t)
			st := openStore(t, f.path, sqlite.Options{})
			rec := mustAmend(t, st, amendReq("full", "repriced", chainlog.Patch{
				Set: []string{chainlog.FieldCostUSD}, Values: chainlog.Mutable{CostUSD: ptr(0.0075)}}))[0]
			closeStore(t, st)
			wantValidAnchored(t, verifyPath(t, f.path, ""), 6, 0, 1)

			m := mutableOf(t, f.path, "full")
			var val any
			if col == "cost_usd" {
				val, m.CostUSD = 0.75, ptr(0.75)
			} else {
				val, m.Model = "gpt-4o-mini", ptr("gpt-4o-mini")
			}
			attack(t, f.path, rawSQL(`UPDATE events SET `+col+` = ? WHERE id = 'full'`, val))
			wantBreak(t, verifyPath(t, f.path, ""), f.changed("full", rec.DigestAfter, m))
		})
	}
}

// Setting the amended value back by hand (to the ingest values) is a
// change too: the row must match the last recorded digest.
func TestPayloadRawRevertOfAmendment(t *testing.T) {
	t.Parallel()
	f := newPayloadFixture(t)
	st := openStore(t, f.path, sqlite.Options{})
	rec := mustAmend(t, st, amendReq("full", "repriced", chainlog.Patch{
		Set: []string{chainlog.FieldCostUSD}, Values: chainlog.Mutable{CostUSD: ptr(0.0075)}}))[0]
	closeStore(t, st)
	attack(t, f.path, rawSQL(`UPDATE events SET cost_usd = 0.006 WHERE id = 'full'`))
	wantBreak(t, verifyPath(t, f.path, ""), f.changed("full", rec.DigestAfter, f.mut("full")))
}

// A raw UPDATE followed by a sanctioned amendment is not laundered: the
// amendment records the digest it found as digest_before, which is not the
// digest recorded at ingest.
func TestPayloadRawUpdateThenAmend(t *testing.T) {
	t.Parallel()
	f := newPayloadFixture(t)
	attack(t, f.path, rawSQL(`UPDATE events SET model = 'gpt-4o-mini' WHERE id = 'full'`))
	tampered := f.mut("full")
	tampered.Model = ptr("gpt-4o-mini")

	st := openStore(t, f.path, sqlite.Options{})
	rec := mustAmend(t, st, amendReq("full", "repriced", chainlog.Patch{
		Set: []string{chainlog.FieldCostUSD}, Values: chainlog.Mutable{CostUSD: ptr(0.0075)}}))[0]
	closeStore(t, st)
	if rec.DigestBefore != chainlog.PayloadDigest(&tampered) {
		t.Fatalf("digest_before = %s; want the digest of the tampered row", rec.DigestBefore)
	}
	rep := verifyPath(t, f.path, "")
	// The row matches its new digest, so the nodes are valid; the trail is not.
	for _, n := range rep.Nodes {
		if n.Status != chainlog.StatusValid {
			t.Errorf("node %q: %q (%+v); want valid", n.NodeID, n.Status, n.Break)
		}
	}
	wantTrailBreak(t, rep, chainlog.Break{Seq: 1, EventID: "full", Reason: chainlog.ReasonAmendBefore,
		Expected: f.rows["full"].PayloadDigest, Found: chainlog.PayloadDigest(&tampered)}, nil)
}

// Editing the recorded digest is caught like editing the fields.
func TestPayloadDigestEdited(t *testing.T) {
	t.Parallel()
	f := newPayloadFixture(t)
	forged := strings.Repeat("0", 64)
	attack(t, f.path, rawSQL(`UPDATE events SET payload_digest = ? WHERE id = 'node-a/3'`, forged))
	wantBreak(t, verifyPath(t, f.path, ""), f.changed("node-a/3", forged, f.mut("node-a/3")))
}

// A writer who changes a field and recomputes the digest passes: the
// digest is a hash, not a signature. This pins the limit documented in
// docs/audit-trail.md ("What this cannot show alone").
func TestPayloadDigestRecomputedIsNotDetectable(t *testing.T) {
	t.Parallel()
	f := newPayloadFixture(t)
	m := f.mut("full")
	m.CostUSD = ptr(60.0)
	attack(t, f.path, rawSQL(`UPDATE events SET cost_usd = 60, payload_digest = ? WHERE id = 'full'`, chainlog.PayloadDigest(&m)))
	wantValid(t, verifyPath(t, f.path, ""), 6, 0)
}

// The digest covers the values as the store reads them back (a REAL, an
// INTEGER, text), not the SQL type they are stored with: a number stored
// as text that SQLite reads back as the same number leaves the chain walk
// valid. The whole-store verification reports the storage class.
func TestPayloadTypeConfusion(t *testing.T) {
	t.Parallel()
	f := newPayloadFixture(t)
	attack(t, f.path,
		rawSQL(`UPDATE events SET cost_usd = '0.006 (approved)', token_count = '1200 tokens' WHERE id = 'full'`))
	if got := rawValue(t, f.path, `SELECT typeof(cost_usd) || ',' || typeof(token_count) FROM events WHERE id = 'full'`); got != "text,text" {
		t.Fatalf("column types = %s; want text,text", got)
	}
	wantValid(t, verifyPath(t, f.path, ""), 6, 0)
	wantInvalid(t, verifyStorePath(t, f.path, "", nil), chainlog.TrailStore, chainlog.ReasonStorageClass, "full", "cost_usd holds text")
}

// A sealed row's digest set to NULL, after a sealed row of the same node, is
// reported: rows from before payload digests come first in a node's chain.
func TestPayloadDigestNulledAfterSealedRow(t *testing.T) {
	t.Parallel()
	f := newPayloadFixture(t)
	attack(t, f.path, rawSQL(`UPDATE events SET payload_digest = NULL WHERE id = 'node-a/2'`))
	r := f.rows["node-a/2"]
	want := chainlog.Break{NodeID: "node-a", Seq: r.Seq, EventID: r.ID, Reason: chainlog.ReasonPayloadUnsealedRow}
	rep := verifyPath(t, f.path, "")
	wantBreak(t, rep, want)
	if n := nodeReport(t, rep, "node-a"); n.PayloadsUnsealed != 1 {
		t.Errorf("node-a payloads_unsealed = %d; want 1", n.PayloadsUnsealed)
	}
	wantBreak(t, verifyPath(t, f.path, "node-a"), want)
}

// NULLing the digest of a node's first stamped row, or of all its rows,
// looks like a store from before payload digests: the rows are counted as
// payloads_unsealed and their fields are no longer checked. This pins what
// the verifier can tell from inside the file.
func TestPayloadDigestNulledLikeAnOldStore(t *testing.T) {
	t.Parallel()
	t.Run("first row", func(t *testing.T) {
		t.Parallel()
		f := newPayloadFixture(t)
		attack(t, f.path,
			rawSQL(`UPDATE events SET payload_digest = NULL WHERE id = 'full'`),
			rawSQL(`UPDATE events SET cost_usd = 60 WHERE id = 'full'`))
		rep := verifyPath(t, f.path, "")
		wantValid(t, rep, 6, 0)
		if n := nodeReport(t, rep, "node-a"); n.PayloadsUnsealed != 1 || n.PayloadsChecked != 3 {
			t.Errorf("node-a payloads unsealed, checked = %d, %d; want 1, 3", n.PayloadsUnsealed, n.PayloadsChecked)
		}
	})
	t.Run("whole node", func(t *testing.T) {
		t.Parallel()
		f := newPayloadFixture(t)
		attack(t, f.path,
			rawSQL(`UPDATE events SET payload_digest = NULL WHERE node_id = 'node-a'`),
			rawSQL(`UPDATE events SET data = '{"rewritten":true}' WHERE node_id = 'node-a'`))
		rep := verifyPath(t, f.path, "")
		wantValid(t, rep, 6, 0)
		if rep.PayloadsUnsealed != 4 || rep.PayloadsChecked != 2 {
			t.Errorf("payloads unsealed, checked = %d, %d; want 4, 2", rep.PayloadsUnsealed, rep.PayloadsChecked)
		}
		if n := nodeReport(t, rep, "node-a"); n.PayloadsUnsealed != 4 || n.PayloadsChecked != 0 {
			t.Errorf("node-a payloads unsealed, checked = %d, %d; want 4, 0", n.PayloadsUnsealed, n.PayloadsChecked)
		}
	})
}

// A store written with DisablePayloadDigest stamps chains but seals no
// payload: valid, every row unsealed, and a raw UPDATE goes unseen.
func TestPayloadDigestDisabled(t *testing.T) {
	t.Parallel()
	path := buildStore(t, sqlite.Options{DisablePayloadDigest: true}, mkEvents(t, "node-a", 0, 3))
	attack(t, path, rawSQL(`UPDATE events SET model = 'x' WHERE id = 'node-a/1'`))
	rep := verifyPath(t, path, "")
	wantValid(t, rep, 3, 0)
	if rep.PayloadsUnsealed != 3 || rep.PayloadsChecked != 0 {
		t.Errorf("payloads unsealed, checked = %d, %d; want 3, 0", rep.PayloadsUnsealed, rep.PayloadsChecked)
	}
}

// Amending an unsealed row (written before payload digests, or with them
// off) seals it through the trail, without making the unsealed rows after
// it in the same node look tampered. (Before the fix in verify.go, an
// amendment's digest counted as sealing the node, and the next unsealed row
// was reported with ReasonPayloadUnsealedRow.)
func TestPayloadAmendUnsealedRowMidChain(t *testing.T) {
	t.Parallel()
	path := buildStore(t, sqlite.Options{DisablePayloadDigest: true}, mkEvents(t, "node-a", 0, 4))
	st := openStore(t, path, sqlite.Options{})
	before := mutableOf(t, path, "node-a/1")
	rec := mustAmend(t, st, amendReq("node-a/1", "model", chainlog.Patch{
		Set: []string{chainlog.FieldModel}, Values: chainlog.Mutable{Model: ptr("claude-opus-4")}}))[0]
	ingest(t, st, mkEvents(t, "node-a", 4, 6)...) // sealed rows after the old ones
	closeStore(t, st)
	if rec.DigestBefore != chainlog.PayloadDigest(&before) {
		t.Errorf("digest_before = %s; want the digest of the unsealed row's fields", rec.DigestBefore)
	}
	rep := verifyPath(t, path, "")
	wantValidAnchored(t, rep, 6, 0, 1)
	if rep.PayloadsUnsealed != 3 || rep.PayloadsChecked != 3+1 {
		t.Errorf("payloads unsealed, checked = %d, %d; want 3, 3+1 (the anchor)", rep.PayloadsUnsealed, rep.PayloadsChecked)
	}

	attack(t, path, rawSQL(`UPDATE events SET model = 'gpt-4o' WHERE id = 'node-a/1'`))
	m := mutableOf(t, path, "node-a/1")
	wantBreak(t, verifyPath(t, path, ""), chainlog.Break{NodeID: "node-a", Seq: 2, EventID: "node-a/1",
		Reason: chainlog.ReasonPayloadChanged, Expected: rec.DigestAfter, Found: chainlog.PayloadDigest(&m)})
}
