package chainlog

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"strings"
	"testing"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

const cpOrigin = "chainlog/test-host/events.db"

// cpRoot is a root whose base64 has both '+' and '/' in it.
var cpRoot = func() tlog.Hash {
	var h tlog.Hash
	for i := range h {
		h[i] = byte(0xfb + i*0x11)
	}
	return h
}()

func TestCheckpointText(t *testing.T) {
	c := Checkpoint{Origin: "example.com/log", Size: 5, Root: tlog.Hash(sha256.Sum256(nil))}
	want := "example.com/log\n5\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n"
	if got := c.Text(); got != want {
		t.Errorf("Text():\n got %q\nwant %q", got, want)
	}
}

func TestCheckpointRoundTrip(t *testing.T) {
	tests := []Checkpoint{
		{Origin: cpOrigin, Size: 0, Root: tlog.Hash(emptyTreeHash)},
		{Origin: cpOrigin, Size: 1, Root: cpRoot},
		{Origin: "example.com/log", Size: 1 << 40, Root: tlog.Hash{}},
		{Origin: "日志 with spaces", Size: 9223372036854775807, Root: cpRoot},
		{Origin: "x", Size: 10, Root: tlog.Hash{0xff}},
	}
	for _, c := range tests {
		text := c.Text()
		got, err := ParseCheckpoint(text)
		if err != nil {
			t.Errorf("ParseCheckpoint(%q): %v", text, err)
			continue
		}
		if got != c {
			t.Errorf("ParseCheckpoint(%q):\n got %+v\nwant %+v", text, got, c)
		}
	}
}

func TestParseCheckpointExtensions(t *testing.T) {
	c := Checkpoint{Origin: cpOrigin, Size: 7, Root: cpRoot}
	for _, ext := range []string{
		"ext\n",
		"one\ntwo\nthree\n",
		"— looks like a signature\n",
		" \n",
		"timestamp 1700000000\n",
	} {
		got, err := ParseCheckpoint(c.Text() + ext)
		if err != nil {
			t.Errorf("extension %q: %v", ext, err)
			continue
		}
		want := c
		want.Extensions = ext
		if got != want {
			t.Errorf("extension %q: got %+v, want %+v", ext, got, want)
		}
		if got.Text() != c.Text()+ext {
			t.Errorf("extension %q: Text() = %q, want the parsed text back", ext, got.Text())
		}
	}
}

func TestCheckpointAmendmentsExtension(t *testing.T) {
	hash := strings.Repeat("ab", 32)
	c := Checkpoint{Origin: cpOrigin, Size: 7, Root: cpRoot}.WithAmendments(3, hash)
	got, err := ParseCheckpoint(c.Text())
	if err != nil {
		t.Fatal(err)
	}
	if seq, h, ok, err := got.Amendments(); err != nil || !ok || seq != 3 || h != hash {
		t.Errorf("Amendments() = %d, %q, %v, %v; want 3, %q, true, nil", seq, h, ok, err, hash)
	}
	if got := c.WithAmendments(0, ""); got.Extensions != "" {
		t.Errorf("WithAmendments(0) keeps %q", got.Extensions)
	}
	for _, bad := range []string{"chainlog-amendments x " + hash, "chainlog-amendments 0 " + hash,
		"chainlog-amendments 3 abc", "chainlog-amendments 3"} {
		if _, err := ParseCheckpoint(Checkpoint{Origin: cpOrigin, Size: 7, Root: cpRoot}.Text() + bad + "\n"); err == nil {
			t.Errorf("extension %q parsed; want an error", bad)
		}
	}
}

func TestParseCheckpointErrors(t *testing.T) {
	root := base64.StdEncoding.EncodeToString(cpRoot[:])
	body := func(origin, size, root string) string { return origin + "\n" + size + "\n" + root + "\n" }
	tests := []struct {
		name, text, msg string
	}{
		{"empty", "", "newline"},
		{"no trailing newline", strings.TrimSuffix(body("o", "1", root), "\n"), "newline"},
		{"only origin", "o\n", "lines"},
		{"no root", "o\n1\n", "lines"},
		{"just newline", "\n", "lines"},
		{"empty origin", body("", "1", root), "origin"},
		{"size leading zero", body("o", "01", root), "size"},
		{"size zero zero", body("o", "00", root), "size"},
		{"size negative", body("o", "-1", root), "size"},
		{"size minus zero", body("o", "-0", root), "size"},
		{"size plus", body("o", "+1", root), "size"},
		{"size letter", body("o", "x", root), "size"},
		{"size hex", body("o", "0x1", root), "size"},
		{"size empty", body("o", "", root), "size"},
		{"size space", body("o", " 1", root), "size"},
		{"size trailing space", body("o", "1 ", root), "size"},
		{"size overflow", body("o", "9223372036854775808", root), "size"},
		{"root not base64", body("o", "1", "!!!!"), "root"},
		{"root unpadded", body("o", "1", strings.TrimRight(root, "=")), "root"},
		{"root URL encoding", body("o", "1", base64.URLEncoding.EncodeToString(cpRoot[:])), "root"},
		{"root padding bits", body("o", "1", root[:42]+"B="), "root"},
		{"root 31 bytes", body("o", "1", base64.StdEncoding.EncodeToString(cpRoot[:31])), "root"},
		{"root 33 bytes", body("o", "1", base64.StdEncoding.EncodeToString(append(cpRoot[:], 0))), "root"},
		{"root empty", body("o", "1", ""), "root"},
		{"root hex", body("o", "1", strings.Repeat("ab", 32)), "root"},
		{"empty extension line", body("o", "1", root) + "\n", "empty extension line 1"},
		{"empty line between extensions", body("o", "1", root) + "a\n\nb\n", "empty extension line 2"},
		{"CRLF", strings.ReplaceAll(body("o", "1", root), "\n", "\r\n"), "size"},
		{"signed note", body("o", "1", root) + "\n— o AAAA\n", "empty extension line"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := ParseCheckpoint(tt.text)
			if err == nil {
				t.Fatalf("ParseCheckpoint(%q) = %+v, want an error", tt.text, c)
			}
			if !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("error: got %q, want it to contain %q", err, tt.msg)
			}
		})
	}
}

func signCP(tb testing.TB, c Checkpoint, s note.Signer) []byte {
	tb.Helper()
	msg, err := SignCheckpoint(c, s)
	if err != nil {
		tb.Fatalf("SignCheckpoint(%+v): %v", c, err)
	}
	return msg
}

func TestSignOpenCheckpoint(t *testing.T) {
	signer, verifier := testKey(t, cpOrigin)
	c := Checkpoint{Origin: cpOrigin, Size: 42, Root: cpRoot}
	msg := signCP(t, c, signer)
	if !bytes.HasPrefix(msg, []byte(c.Text()+"\n— "+cpOrigin+" ")) {
		t.Errorf("signed checkpoint:\n%s\nwant the body, a blank line and a signature by %s", msg, cpOrigin)
	}
	got, err := OpenCheckpoint(msg, verifier)
	if err != nil {
		t.Fatalf("OpenCheckpoint: %v", err)
	}
	if got != c {
		t.Errorf("OpenCheckpoint: got %+v, want %+v", got, c)
	}

	// Extension lines are signed and accepted.
	n, err := note.Sign(&note.Note{Text: c.Text() + "ext\n"}, signer)
	if err != nil {
		t.Fatal(err)
	}
	withExt := c
	withExt.Extensions = "ext\n"
	if got, err := OpenCheckpoint(n, verifier); err != nil || got != withExt {
		t.Errorf("with an extension line: got %+v, %v; want %+v", got, err, withExt)
	}

	// A cosigned checkpoint opens with the origin's key; with only the
	// cosigner's key, the origin is not the key's name.
	cosigner, coverifier := testKey(t, "witness.example.com")
	cosigned, err := note.Sign(&note.Note{Text: c.Text()}, signer, cosigner)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := OpenCheckpoint(cosigned, verifier); err != nil || got != c {
		t.Errorf("cosigned: got %+v, %v; want %+v", got, err, c)
	}
	if _, err := OpenCheckpoint(cosigned, coverifier); !errors.Is(err, ErrCheckpointSignature) {
		t.Errorf("cosigned, opened with the cosigner's key: got %v, want ErrCheckpointSignature", err)
	}
}

func TestOpenCheckpointErrors(t *testing.T) {
	signer, verifier := testKey(t, cpOrigin)
	c := Checkpoint{Origin: cpOrigin, Size: 42, Root: cpRoot}
	msg := signCP(t, c, signer)
	otherSigner, _ := testKey(t, cpOrigin)
	otherNameSigner, otherNameVerifier := testKey(t, "other.example.com/log")

	otherRoot := flipBit(cpRoot, 100)
	// The signature with one bit of the Ed25519 signature flipped.
	sigAt := bytes.Index(msg, []byte("\n— ")) + len("\n— "+cpOrigin+" ")
	sig, err := base64.StdEncoding.DecodeString(strings.TrimSuffix(string(msg[sigAt:]), "\n"))
	if err != nil || len(sig) != 4+64 {
		t.Fatalf("signature line %q: %d bytes, %v", msg[sigAt:], len(sig), err)
	}
	sig[4+10] ^= 0x10
	flipSig := append(bytes.Clone(msg[:sigAt]), base64.StdEncoding.EncodeToString(sig)+"\n"...)
	wrongOrigin, err := note.Sign(&note.Note{Text: Checkpoint{Origin: "another/log", Size: 1, Root: cpRoot}.Text()}, signer)
	if err != nil {
		t.Fatal(err)
	}
	notCheckpoint, err := note.Sign(&note.Note{Text: "hello\n"}, signer)
	if err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name     string
		msg      []byte
		verifier note.Verifier
		sigErr   bool   // want ErrCheckpointSignature
		msgPart  string // and an error containing this
	}{
		{"another key of the same name", signCP(t, c, otherSigner), verifier, true, "not signed by"},
		{"another key and name", signCP(t, Checkpoint{Origin: "other.example.com/log", Size: 42, Root: cpRoot}, otherNameSigner), verifier, true, "not signed by"},
		{"right signature, other verifier", msg, otherNameVerifier, true, "not signed by"},
		{"origin is not the key's name", wrongOrigin, verifier, true, "origin"},
		{"size changed", bytes.Replace(msg, []byte("\n42\n"), []byte("\n43\n"), 1), verifier, true, "invalid signature"},
		{"origin changed", bytes.Replace(msg, []byte("test-host/"), []byte("test-hosT/"), 1), verifier, true, "invalid signature"},
		{"root changed", bytes.Replace(msg, []byte(base64.StdEncoding.EncodeToString(cpRoot[:])), []byte(base64.StdEncoding.EncodeToString(otherRoot[:])), 1), verifier, true, "invalid signature"},
		{"extension added", bytes.Replace(msg, []byte("=\n\n"), []byte("=\next\n\n"), 1), verifier, true, "invalid signature"},
		{"signature flipped", flipSig, verifier, true, "invalid signature"},
		{"signed text not a checkpoint", notCheckpoint, verifier, false, "lines"},
		{"no signature", []byte(c.Text()), verifier, false, "malformed"},
		{"no signature line", []byte(c.Text() + "\n"), verifier, false, "malformed"},
		{"garbage", []byte("garbage"), verifier, false, "malformed"},
		{"empty", nil, verifier, false, "malformed"},
		{"trailing text", append(bytes.Clone(msg), "x\n"...), verifier, false, "malformed"},
		{"control character", bytes.Replace(msg, []byte("test-host"), []byte("test\x00host"), 1), verifier, false, "malformed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := OpenCheckpoint(tt.msg, tt.verifier)
			if err == nil {
				t.Fatalf("OpenCheckpoint = %+v, want an error", got)
			}
			if is := errors.Is(err, ErrCheckpointSignature); is != tt.sigErr {
				t.Errorf("error %q: errors.Is(ErrCheckpointSignature) = %v, want %v", err, is, tt.sigErr)
			}
			if !strings.Contains(err.Error(), tt.msgPart) {
				t.Errorf("error: got %q, want it to contain %q", err, tt.msgPart)
			}
		})
	}
}

func TestSignCheckpointKeyName(t *testing.T) {
	signer, _ := testKey(t, "other.example.com/log")
	for origin, want := range map[string]string{
		cpOrigin:                 "does not match",
		"other.example.com/lo":   "does not match",
		"other.example.com/log ": "holds a space",
		"":                       "origin is empty",
	} {
		c := Checkpoint{Origin: origin, Size: 1, Root: cpRoot}
		msg, err := SignCheckpoint(c, signer)
		if err == nil {
			t.Errorf("origin %q signed by key %q: got %q, want an error", origin, signer.Name(), msg)
			continue
		}
		if !strings.Contains(err.Error(), want) {
			t.Errorf("origin %q: error %q, want it to contain %q", origin, err, want)
		}
	}
}

func TestSplitNotes(t *testing.T) {
	signer, verifier := testKey(t, cpOrigin)
	cosigner, _ := testKey(t, "witness.example.com")
	var signed [][]byte
	for _, size := range []int64{0, 1, 10, 11} {
		signed = append(signed, signCP(t, Checkpoint{Origin: cpOrigin, Size: size, Root: cpRoot}, signer))
	}
	cosigned, err := note.Sign(&note.Note{Text: Checkpoint{Origin: cpOrigin, Size: 12, Root: cpRoot}.Text()}, signer, cosigner)
	if err != nil {
		t.Fatal(err)
	}
	if n := bytes.Count(cosigned, []byte("\n— ")); n != 2 {
		t.Fatalf("cosigned note has %d signature lines, want 2", n)
	}
	join := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
	tests := []struct {
		name  string
		data  []byte
		want  [][]byte
		opens int // how many of the notes open with verifier, from the first
	}{
		{"empty", nil, nil, 0},
		{"one", signed[0], [][]byte{signed[0]}, 1},
		{"appended", join(signed...), signed, 4},
		{"several signature lines", join(signed[0], cosigned, cosigned, signed[1]), [][]byte{signed[0], cosigned, cosigned, signed[1]}, 4},
		{"cosigned last", join(signed[2], cosigned), [][]byte{signed[2], cosigned}, 2},
		{"trailing garbage", join(signed[0], signed[1], []byte("garbage\n")), [][]byte{signed[0], signed[1], []byte("garbage\n")}, 2},
		{"trailing text without newline", join(signed[0], []byte("x")), [][]byte{signed[0], []byte("x")}, 1},
		{"trailing blank line", join(signed[0], []byte("\n")), [][]byte{signed[0], []byte("\n")}, 1},
		{"last note truncated", join(signed[0], signed[1][:len(signed[1])-10]), [][]byte{signed[0], signed[1][:len(signed[1])-10]}, 1},
		{"last note without signature", join(signed[0], signed[1][:bytes.Index(signed[1], []byte("\n\n"))+2]), [][]byte{signed[0], signed[1][:bytes.Index(signed[1], []byte("\n\n"))+2]}, 1},
		{"garbage only", []byte("hello\nworld"), [][]byte{[]byte("hello\nworld")}, 0},
		{"blank lines only", []byte("\n\n\n"), [][]byte{[]byte("\n"), []byte("\n\n")}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := SplitNotes(tt.data)
			if len(got) != len(tt.want) {
				t.Fatalf("got %d notes %q, want %d %q", len(got), got, len(tt.want), tt.want)
			}
			for i := range got {
				if !bytes.Equal(got[i], tt.want[i]) {
					t.Errorf("note %d:\n got %q\nwant %q", i, got[i], tt.want[i])
				}
			}
			if j := bytes.Join(got, nil); !bytes.Equal(j, tt.data) {
				t.Errorf("notes joined:\n got %q\nwant %q", j, tt.data)
			}
			opened := 0
			for _, n := range got {
				if _, err := OpenCheckpoint(n, verifier); err != nil {
					break
				}
				opened++
			}
			if opened != tt.opens {
				t.Errorf("%d notes open, want %d", opened, tt.opens)
			}
		})
	}
}

func FuzzParseCheckpoint(f *testing.F) {
	c := Checkpoint{Origin: cpOrigin, Size: 42, Root: cpRoot}
	f.Add(c.Text())
	f.Add(c.Text() + "ext\n")
	f.Add(c.Text() + "\n")
	f.Add("o\n01\n" + base64.StdEncoding.EncodeToString(cpRoot[:]) + "\n")
	f.Add("o\n-1\nAAAA\n")
	f.Add("")
	f.Fuzz(func(t *testing.T, text string) {
		c, err := ParseCheckpoint(text)
		if err != nil {
			return
		}
		if c.Origin == "" || strings.Contains(c.Origin, "\n") || c.Size < 0 {
			t.Fatalf("ParseCheckpoint(%q) = %+v", text, c)
		}
		out := c.Text()
		if !strings.HasPrefix(text, out) {
			t.Fatalf("ParseCheckpoint(%q): Text() = %q is not its prefix", text, out)
		}
		c2, err := ParseCheckpoint(out)
		if err != nil {
			t.Fatalf("Text() of a parsed checkpoint does not parse: %v\n%q", err, out)
		}
		if c2 != c {
			t.Fatalf("round trip: got %+v, want %+v", c2, c)
		}
	})
}

func FuzzSplitNotes(f *testing.F) {
	signer, verifier := testKey(f, cpOrigin)
	cosigner, _ := testKey(f, "witness.example.com")
	a := signCP(f, Checkpoint{Origin: cpOrigin, Size: 1, Root: cpRoot}, signer)
	b, err := note.Sign(&note.Note{Text: Checkpoint{Origin: cpOrigin, Size: 2, Root: cpRoot}.Text()}, signer, cosigner)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(a)
	f.Add(bytes.Join([][]byte{a, b, a}, nil))
	f.Add(append(bytes.Clone(a), "garbage"...))
	f.Add([]byte("\n\n— x\n\n"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		notes := SplitNotes(data)
		if j := bytes.Join(notes, nil); !bytes.Equal(j, data) {
			t.Fatalf("notes joined:\n got %q\nwant %q", j, data)
		}
		for i, n := range notes {
			if len(n) == 0 {
				t.Fatalf("note %d is empty", i)
			}
			if i < len(notes)-1 && n[len(n)-1] != '\n' {
				t.Fatalf("note %d of %d does not end with a newline: %q", i, len(notes), n)
			}
			// Opening must not panic. A note that opens splits into
			// itself, and its checkpoint round-trips.
			c, err := OpenCheckpoint(n, verifier)
			if err != nil {
				continue
			}
			if again := SplitNotes(n); len(again) != 1 || !bytes.Equal(again[0], n) {
				t.Fatalf("note %d %q opens and splits into %q", i, n, again)
			}
			if c2, err := ParseCheckpoint(c.Text()); err != nil || c2 != c {
				t.Fatalf("opened checkpoint %+v does not round-trip: %+v, %v", c, c2, err)
			}
		}
	})
}

func TestCheckOrigin(t *testing.T) {
	t.Parallel()
	for _, ok := range []string{"example.com/log", "a", "chainlog/host/store/1a2b3c4d", "пример.рф/журнал"} {
		if err := CheckOrigin(ok); err != nil {
			t.Errorf("CheckOrigin(%q) = %v; want nil", ok, err)
		}
	}
	for _, bad := range []string{"", "ex.com/a\x01b", "has space", "tab\there", "a+b", "new\nline", "nb\u00a0sp", "\xff", "del\x7f"} {
		if err := CheckOrigin(bad); err == nil {
			t.Errorf("CheckOrigin(%q) = nil; want an error", bad)
		}
		if _, err := SignCheckpoint(Checkpoint{Origin: bad, Size: 1}, nil); err == nil {
			t.Errorf("SignCheckpoint with origin %q = nil error", bad)
		}
	}
}
