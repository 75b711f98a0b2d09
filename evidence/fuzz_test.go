package evidence_test

import (
	"bytes"
	"testing"

	"chainlog/evidence"
)

// FuzzDecode checks that Decode never panics, and that a pack it accepts
// encodes to a document it accepts again, with the same content.
func FuzzDecode(f *testing.F) {
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
	})
}
