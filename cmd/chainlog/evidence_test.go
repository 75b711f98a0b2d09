package main

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"chainlog"
	"chainlog/internal/chainlogtest"

	"golang.org/x/mod/sumdb/note"
)

// TestWithCosignatures checks that evidence takes the cosigned form of
// its checkpoint from the cosigned checkpoints file when it is there.
func TestWithCosignatures(t *testing.T) {
	signer, _ := chainlogtest.NewKey(t, "test/store")
	wsigner, _ := chainlogtest.NewWitnessKey(t, "witness.test")
	sign := func(size int64, signers ...note.Signer) []byte {
		t.Helper()
		c := chainlog.Checkpoint{Origin: "test/store", Size: size}
		n, err := note.Sign(&note.Note{Text: c.Text()}, signers...)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	plain := sign(5, signer)
	// A cosignature holds its time: each note is signed once.
	cos4, cos5 := sign(4, signer, wsigner), sign(5, signer, wsigner)
	dir := t.TempDir()
	file := filepath.Join(dir, "s.db.cosigned")
	tests := []struct {
		name    string
		content []byte // nil: no file
		want    []byte
	}{
		{"no cosigned file", nil, plain},
		{"holds it", append(append([]byte{}, cos4...), cos5...), cos5},
		{"holds others only", cos4, plain},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			os.Remove(file)
			if tt.content != nil {
				if err := os.WriteFile(file, tt.content, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			got, err := withCosignatures(plain, file)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, tt.want) {
				t.Errorf("got\n%s\nwant\n%s", got, tt.want)
			}
		})
	}
}
