package chainlog_test

import (
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"testing"

	"chainlog"
	"chainlog/internal/chainlogtest"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

func TestCheckCosignatures(t *testing.T) {
	logSigner, _ := chainlogtest.NewKey(t, "chainlog/test/cosig")
	signed, err := chainlog.SignCheckpoint(chainlog.Checkpoint{Origin: logSigner.Name(), Size: 9, Root: tlog.Hash{9}}, logSigner)
	if err != nil {
		t.Fatal(err)
	}
	text, _, _ := strings.Cut(string(signed), "\n\n")
	sigs := func(s note.Signer) string {
		out, err := note.Sign(&note.Note{Text: text + "\n"}, s)
		if err != nil {
			t.Fatal(err)
		}
		_, l, _ := strings.Cut(string(out), "\n\n")
		return l
	}
	a, _ := chainlogtest.NewWitnessKey(t, "a.example/w")
	b, _ := chainlogtest.NewWitnessKey(t, "b.example/w")
	c, _ := chainlogtest.NewWitnessKey(t, "c.example/w")
	va, vb, vc := a.Verifier(), b.Verifier(), c.Verifier()
	// b's line with the signature's last byte flipped.
	line := strings.TrimSuffix(sigs(b), "\n")
	i := strings.LastIndexByte(line, ' ')
	raw, err := base64.StdEncoding.DecodeString(line[i+1:])
	if err != nil {
		t.Fatal(err)
	}
	raw[len(raw)-1] ^= 1
	forged := line[:i+1] + base64.StdEncoding.EncodeToString(raw) + "\n"
	all := []note.Verifier{va, vb, vc}
	for _, tc := range []struct {
		name    string
		note    string
		quorum  int
		missing string
		invalid string
	}{
		{"all three needed, two there", string(signed) + sigs(a) + sigs(b), 0, "[c.example/w]", "[]"},
		{"two of three", string(signed) + sigs(a) + sigs(b), 2, "", ""},
		{"none", string(signed), 1, "[a.example/w b.example/w c.example/w]", "[]"},
		{"a forged one does not count", string(signed) + sigs(a) + forged, 2, "[c.example/w]", "[b.example/w]"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := chainlog.CheckCosignatures([]byte(tc.note), tc.quorum, all)
			if tc.missing == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			var ce *chainlog.CosignatureError
			if !errors.As(err, &ce) {
				t.Fatalf("CheckCosignatures = %v; want a *CosignatureError", err)
			}
			if fmt.Sprint(ce.Missing) != tc.missing || fmt.Sprint(ce.Invalid) != tc.invalid || ce.Size != 9 {
				t.Errorf("missing %v, invalid %v, size %d; want %s, %s, 9", ce.Missing, ce.Invalid, ce.Size, tc.missing, tc.invalid)
			}
			if !strings.Contains(err.Error(), "missing from") {
				t.Errorf("error %q does not say whose are missing", err)
			}
		})
	}
}
