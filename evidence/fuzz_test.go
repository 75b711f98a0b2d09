package evidence_test

import (
	"bytes"
	"errors"
	"testing"

	"chainlog/evidence"

	"golang.org/x/mod/sumdb/note"
)

// FuzzDecode checks that Decode never panics, that a pack it accepts
// encodes to a document it accepts again, with the same content, and that
// Verify never panics on it. A genuine pack is among the seeds.
func FuzzDecode(f *testing.F) {
	fx := newFixture(f)
	var genuine bytes.Buffer
	if err := evidence.Encode(&genuine, fx.pack(f, evidence.Filter{SessionID: "s1"})); err != nil {
		f.Fatal(err)
	}
	f.Add(genuine.Bytes())
	opts := evidence.Options{Verifiers: []note.Verifier{fx.verifier}}
	f.Add([]byte(`{"format":"chainlog-evidence@v1","origin":"o","checkpoint":"","filter":{},"events":[],"context":[],"anchors":[],"amendments":[],"ranges":[],"hashes":{"3":"AA=="},"unproven":0}`))
	f.Add([]byte(`{"format":"chainlog-evidence@v1","Format":"x"}`))
	f.Add([]byte(`{"format":"chainlog-evidence@v1","events":[{"id":"a","id":"b"}]}`))
	f.Add([]byte(`{"format":"chainlog-evidence@v1"} {}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := evidence.Decode(data)
		if err != nil {
			return
		}
		var a bytes.Buffer
		if err := evidence.Encode(&a, p); err != nil {
			t.Fatalf("a decoded pack does not encode: %v", err)
		}
		q, err := evidence.Decode(a.Bytes())
		if err != nil {
			t.Fatalf("an encoded pack does not decode: %v\n%s", err, a.Bytes())
		}
		var b bytes.Buffer
		if err := evidence.Encode(&b, q); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(a.Bytes(), b.Bytes()) {
			t.Fatalf("the pack changed through encode and decode:\n%s\n%s", a.Bytes(), b.Bytes())
		}
		if _, err := evidence.Verify(p, opts); err != nil && !errors.Is(err, evidence.ErrInvalid) {
			t.Fatalf("Verify failed without naming what: %v", err)
		}
	})
}
