package archive

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"

	"chainlog"
)

// FuzzDecode feeds the decoders of an archive's files (the manifest, an
// exported event, an amendment record, a tree hash line) any bytes: none
// panics, and what one accepts it writes back byte for byte.
func FuzzDecode(f *testing.F) {
	st, _, cp := setup(f, backends[0])
	dir := filepath.Join(f.TempDir(), "a")
	if _, err := Write(context.Background(), st, dir, plan(f, st, 6), cp); err != nil {
		f.Fatal(err)
	}
	for _, name := range []string{ManifestFile, EventsFile, AmendmentsFile, TreeFile} {
		data, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			f.Fatal(err)
		}
		if name == ManifestFile {
			f.Add(data)
			continue
		}
		for _, l := range bytes.SplitAfter(data, []byte("\n")) {
			f.Add(bytes.TrimSuffix(l, []byte("\n")))
		}
	}
	f.Add([]byte(`{"id":"x","data":"not json"}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		if m, err := DecodeManifest(data); err == nil && !bytes.Equal(encodeManifest(m), data) {
			t.Fatalf("manifest %q accepted, written back as %q", data, encodeManifest(m))
		}
		if e, err := chainlog.DecodeStoredEvent(data); err == nil {
			again, err := e.MarshalJSON()
			if err != nil || !bytes.Equal(again, data) {
				t.Fatalf("event %q accepted, written back as %q (%v)", data, again, err)
			}
		}
		if a, err := decodeAmendment(data); err == nil {
			again, err := encodeAmendment(&a)
			if err != nil || !bytes.Equal(again, append(bytes.Clone(data), '\n')) {
				t.Fatalf("amendment %q accepted, written back as %q (%v)", data, again, err)
			}
		}
		if p, _, err := decodePiece(data); err == nil && !bytes.Equal(appendPieceLine(nil, &p), append(bytes.Clone(data), '\n')) {
			t.Fatalf("tree line %q accepted, written back as %q", data, appendPieceLine(nil, &p))
		}
	})
}
