package witness

import (
	"crypto/ed25519"
	"crypto/rand"
	"strings"
	"testing"

	"chainlog"

	"filippo.io/torchwood"
	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

func TestParseSize(t *testing.T) {
	for _, tc := range []struct {
		name, ctype, body string
		want              int64
		err               string
	}{
		{"size", "text/x.tlog.size", "42\n", 42, ""},
		{"zero", "text/x.tlog.size", "0\n", 0, ""},
		{"with a parameter", "text/x.tlog.size; charset=utf-8", "7\n", 7, ""},
		{"no newline", "text/x.tlog.size", "42", 0, "not a tree size"},
		{"leading zero", "text/x.tlog.size", "042\n", 0, "not a tree size"},
		{"negative", "text/x.tlog.size", "-1\n", 0, "not a tree size"},
		{"two lines", "text/x.tlog.size", "4\n2\n", 0, "not a tree size"},
		{"text/plain", "text/plain", "42\n", 0, "Content-Type"},
		{"no content type", "", "42\n", 0, "Content-Type"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseSize(tc.ctype, []byte(tc.body))
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("parseSize = %d, %v; want an error with %q", got, err, tc.err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("parseSize = %d, %v; want %d", got, err, tc.want)
			}
		})
	}
}

func FuzzParseSize(f *testing.F) {
	for _, s := range []string{"42\n", "0\n", "", "\n", "-1\n", "99999999999999999999\n", "1 \n"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		n, err := parseSize(sizeContentType, []byte(body))
		if err == nil && (n < 0 || body != strings.TrimSpace(body)+"\n") {
			t.Fatalf("parseSize(%q) = %d; want an error", body, n)
		}
	})
}

// testNote signs a checkpoint of a small tree with a fresh log key.
func testNote(t testing.TB) []byte {
	skey, _, err := note.GenerateKey(rand.Reader, "chainlog/test/proto")
	if err != nil {
		t.Fatal(err)
	}
	s, err := note.NewSigner(skey)
	if err != nil {
		t.Fatal(err)
	}
	signed, err := chainlog.SignCheckpoint(chainlog.Checkpoint{Origin: s.Name(), Size: 3, Root: tlog.Hash{1}}, s)
	if err != nil {
		t.Fatal(err)
	}
	return signed
}

func cosigner(t testing.TB, name string) *torchwood.CosignatureSigner {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	s, err := torchwood.NewCosignatureSigner(name, priv)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// cosign returns the signature lines s adds to signed.
func cosign(t testing.TB, signed []byte, s note.Signer) string {
	n, err := note.Open(signed, note.VerifierList())
	if n == nil {
		n = err.(*note.UnverifiedNoteError).Note
	}
	out, err := note.Sign(&note.Note{Text: n.Text}, s)
	if err != nil {
		t.Fatal(err)
	}
	_, sigs, _ := strings.Cut(string(out), "\n\n")
	return sigs
}

func TestVerifyCosignatures(t *testing.T) {
	signed := testNote(t)
	w := cosigner(t, "witness.example/a")
	other := cosigner(t, "witness.example/b")
	good := cosign(t, signed, w)
	tampered := strings.Replace(good, "witness.example/a ", "witness.example/a A", 1)
	for _, tc := range []struct {
		name, answer, want, err string
	}{
		{"one line", good, good, ""},
		{"another key's line too is dropped", good + cosign(t, signed, other), good, ""},
		{"empty", "", "", "no cosignature"},
		{"only another key", cosign(t, signed, other), "", "no valid cosignature by witness.example/a"},
		{"tampered", tampered, "", "no valid cosignature"},
		{"not a signature line", "hello\n", "", "is not a signature line"},
		{"no final newline", strings.TrimSuffix(good, "\n"), "", "does not end with a newline"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := verifyCosignatures(w.Verifier(), signed, []byte(tc.answer))
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("verifyCosignatures = %q, %v; want an error with %q", got, err, tc.err)
				}
				return
			}
			if err != nil || string(got) != tc.want {
				t.Fatalf("verifyCosignatures = %q, %v; want %q", got, err, tc.want)
			}
		})
	}
}

func FuzzVerifyCosignatures(f *testing.F) {
	signed := testNote(f)
	w := cosigner(f, "witness.example/a")
	f.Add([]byte(cosign(f, signed, w)))
	f.Add([]byte("— witness.example/a AAAA\n"))
	f.Add([]byte("\n"))
	f.Fuzz(func(t *testing.T, answer []byte) {
		got, err := verifyCosignatures(w.Verifier(), signed, answer)
		if err != nil {
			return
		}
		// What it returns verifies, and is only w's.
		if err := chainlog.CheckCosignatures(append(append([]byte(nil), signed...), got...), 0, []note.Verifier{w.Verifier()}); err != nil {
			t.Fatalf("verifyCosignatures(%q) = %q, which does not verify: %v", answer, got, err)
		}
		for _, l := range strings.SplitAfter(strings.TrimSuffix(string(got), "\n"), "\n") {
			if !strings.HasPrefix(l, "— witness.example/a ") {
				t.Fatalf("verifyCosignatures(%q) returned the line %q", answer, l)
			}
		}
	})
}

func TestNewVerifier(t *testing.T) {
	cs := cosigner(t, "witness.example/a")
	_, ed, err := note.GenerateKey(rand.Reader, "witness.example/ed")
	if err != nil {
		t.Fatal(err)
	}
	cvkey := cs.Verifier().String()
	name, rest, _ := strings.Cut(cvkey, "+")
	hash, key, _ := strings.Cut(rest, "+")
	for _, tc := range []struct {
		name, vkey, err string
	}{
		{"cosignature/v1", cvkey, ""},
		{"with spaces around", " " + cvkey + "\n", ""},
		{"Ed25519", ed, ""},
		{"wrong hash", name + "+00000000+" + key, "does not match"},
		{"short hash", name + "+" + hash[:7] + "+" + key, "8-digit hex hash"},
		{"not base64", name + "+" + hash + "+!!!", "not base64"},
		{"unknown type", name + "+" + hash + "+Bw==", "unknown key type 7"},
		{"short key", name + "+" + hash + "+BAAA", "is 33 bytes, not 3"},
		{"no hash", "witness.example/a", "want name+hash+key"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v, err := NewVerifier(tc.vkey)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("NewVerifier = %v; want an error with %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tc.vkey == cvkey {
				// It verifies what the witness's signer signs.
				signed := testNote(t)
				if _, err := verifyCosignatures(v, signed, []byte(cosign(t, signed, cs))); err != nil {
					t.Fatal(err)
				}
			}
		})
	}
}

func TestParseWitness(t *testing.T) {
	vkey := cosigner(t, "witness.example/a").Verifier().String()
	for _, tc := range []struct {
		spec, url, err string
	}{
		{"http://127.0.0.1:7380=" + vkey, "http://127.0.0.1:7380", ""},
		{"https://w.example/prefix/=" + vkey, "https://w.example/prefix", ""},
		{"https://w.example/add-checkpoint=" + vkey, "https://w.example", ""},
		{"https://w.example/?a=b=" + vkey, "https://w.example/?a=b", ""},
		{"ftp://w.example=" + vkey, "", "want an http or https URL"},
		{"https://w.example", "", `no "=" between`},
		{"https://w.example=notakey", "", "want URL=VERIFIER_KEY"},
	} {
		w, err := ParseWitness(tc.spec)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("ParseWitness(%q) = %v; want an error with %q", tc.spec, err, tc.err)
			}
			continue
		}
		if err != nil || w.URL != tc.url || w.Name() != "witness.example/a" || w.Key != vkey {
			t.Errorf("ParseWitness(%q) = %+v, %v; want URL %q", tc.spec, w, err, tc.url)
		}
	}
}

func TestCosignedPath(t *testing.T) {
	for in, want := range map[string]string{
		"/s/store.db.checkpoints": "/s/store.db.cosigned",
		"/s/ckpts":                "/s/ckpts.cosigned",
	} {
		if got := CosignedPath(in); got != want {
			t.Errorf("CosignedPath(%q) = %q; want %q", in, got, want)
		}
	}
}
