// Package chainlogtest is the shared test kit of chainlog's packages: an
// in-memory store (Source) and the small helpers their tests repeat. It is
// for tests only.
package chainlogtest

import (
	"crypto/ed25519"
	"crypto/rand"
	"testing"

	"filippo.io/torchwood"
	"golang.org/x/mod/sumdb/note"
)

// NewKey returns a fresh Ed25519 note key pair named origin.
func NewKey(tb testing.TB, origin string) (note.Signer, note.Verifier) {
	tb.Helper()
	skey, vkey, err := note.GenerateKey(rand.Reader, origin)
	if err != nil {
		tb.Fatal(err)
	}
	signer, err := note.NewSigner(skey)
	if err != nil {
		tb.Fatal(err)
	}
	verifier, err := note.NewVerifier(vkey)
	if err != nil {
		tb.Fatal(err)
	}
	return signer, verifier
}

// Ptr returns a pointer to a copy of v.
func Ptr[T any](v T) *T { return &v }

// NewWitnessKey returns a fresh witness key named name: a C2SP
// tlog-cosignature (cosignature/v1) signer and its verifier key's text,
// as litewitness prints it.
func NewWitnessKey(tb testing.TB, name string) (*torchwood.CosignatureSigner, string) {
	tb.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	s, err := torchwood.NewCosignatureSigner(name, priv)
	if err != nil {
		tb.Fatal(err)
	}
	return s, s.Verifier().String()
}
