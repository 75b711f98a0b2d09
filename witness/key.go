package witness

import (
	"crypto"
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strconv"
	"strings"

	"filippo.io/torchwood"
	"golang.org/x/mod/sumdb/note"
)

// Key types of a verifier key (C2SP signed-note), its first byte.
const (
	algEd25519       = 1 // a plain Ed25519 note signature
	algCosignatureV1 = 4 // a timestamped C2SP tlog-cosignature
)

// NewVerifier parses a witness's verifier key, "name+hash+base64(type ||
// key)" as litewitness prints it. A cosignature/v1 key (type 4) verifies
// what C2SP tlog-cosignature specifies, "cosignature/v1\ntime <t>\n" and
// the checkpoint, with filippo.io/torchwood's verifier; an Ed25519 key
// (type 1) verifies a plain note signature with x/mod's.
func NewVerifier(vkey string) (note.Verifier, error) {
	vkey = strings.TrimSpace(vkey)
	name, rest, _ := strings.Cut(vkey, "+")
	hash16, key64, _ := strings.Cut(rest, "+")
	hash, err := strconv.ParseUint(hash16, 16, 32)
	if err != nil || len(hash16) != 8 {
		return nil, fmt.Errorf("verifier key %q: want name+hash+key, with an 8-digit hex hash", vkey)
	}
	key, err := base64.StdEncoding.DecodeString(key64)
	if err != nil || len(key) == 0 {
		return nil, fmt.Errorf("verifier key %q: the key is not base64", vkey)
	}
	switch key[0] {
	case algEd25519:
		v, err := note.NewVerifier(vkey)
		if err != nil {
			return nil, fmt.Errorf("verifier key %q: %w", vkey, err)
		}
		return v, nil
	case algCosignatureV1:
		if len(key) != 1+ed25519.PublicKeySize {
			return nil, fmt.Errorf("verifier key %q: a cosignature/v1 key is %d bytes, not %d", vkey, 1+ed25519.PublicKeySize, len(key))
		}
		// torchwood v0.6.1 builds its cosignature verifier only from a
		// signer; publicKey is a signer that cannot sign, so only the
		// verifier (torchwood's own code) is ever used.
		s, err := torchwood.NewCosignatureSigner(name, publicKey(key[1:]))
		if err != nil {
			return nil, fmt.Errorf("verifier key %q: %w", vkey, err)
		}
		if s.KeyHash() != uint32(hash) {
			return nil, fmt.Errorf("verifier key %q: the hash %s does not match the name and key (want %08x)", vkey, hash16, s.KeyHash())
		}
		return s.Verifier(), nil
	}
	return nil, fmt.Errorf("verifier key %q: unknown key type %d (want 1, Ed25519, or 4, cosignature/v1)", vkey, key[0])
}

// publicKey is an Ed25519 public key posing as a crypto.Signer that
// refuses to sign.
type publicKey ed25519.PublicKey

func (k publicKey) Public() crypto.PublicKey { return ed25519.PublicKey(k) }

func (k publicKey) Sign(io.Reader, []byte, crypto.SignerOpts) ([]byte, error) {
	return nil, errors.New("witness verifier key: cannot sign")
}

// Witness is one witness: where it takes checkpoints (C2SP tlog-witness)
// and the key it cosigns them with.
type Witness struct {
	// URL is the witness's prefix: requests go to URL + "/add-checkpoint".
	URL      string
	Verifier note.Verifier
	// Key is the verifier key's text, as given.
	Key string
}

// Name is how logs and metrics name the witness: its key's name.
func (w Witness) Name() string { return w.Verifier.Name() }

func (w Witness) endpoint() string { return w.URL + "/add-checkpoint" }

// ParseWitness parses "URL=VKEY": the witness's URL prefix and its
// verifier key. The URL is cut at the first "=" after which a verifier key
// follows, so a URL may hold "=" in its query. A URL that already ends in
// /add-checkpoint is taken as the endpoint itself.
func ParseWitness(spec string) (Witness, error) {
	spec = strings.TrimSpace(spec)
	var keyErr error
	for i := strings.IndexByte(spec, '='); i >= 0; {
		u, vkey := spec[:i], spec[i+1:]
		if v, err := NewVerifier(vkey); err == nil {
			if err := checkURL(u); err != nil {
				return Witness{}, fmt.Errorf("witness %q: %w", spec, err)
			}
			u = strings.TrimSuffix(strings.TrimSuffix(u, "/add-checkpoint"), "/")
			return Witness{URL: u, Verifier: v, Key: strings.TrimSpace(vkey)}, nil
		} else if keyErr == nil {
			keyErr = err
		}
		j := strings.IndexByte(spec[i+1:], '=')
		if j < 0 {
			break
		}
		i += 1 + j
	}
	if keyErr == nil {
		keyErr = errors.New("no \"=\" between the URL and the verifier key")
	}
	return Witness{}, fmt.Errorf("witness %q: want URL=VERIFIER_KEY: %w", spec, keyErr)
}

func checkURL(s string) error {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("URL %q: want an http or https URL", s)
	}
	return nil
}

// CosignedPath is where the cosigned checkpoints of a checkpoint file go:
// beside it, its name with the .checkpoints suffix replaced by (or, without
// that suffix, followed by) .cosigned. STORE.checkpoints gives
// STORE.cosigned.
func CosignedPath(checkpointFile string) string {
	return strings.TrimSuffix(checkpointFile, ".checkpoints") + ".cosigned"
}
