package main

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"chainlog"

	"golang.org/x/mod/sumdb/note"
)

// storeSignerKey is the signer key serve makes for a store on its first
// start: STORE.key, beside STORE.checkpoints.
func storeSignerKey(storePath string) string { return storePath + ".key" }

// signerKeyFor is the key a command uses when none is given: the store's
// own (STORE.key) when it exists, else ~/.chainlog/signer.key.
func signerKeyFor(e *env, storePath string) string {
	if _, err := os.Stat(storeSignerKey(storePath)); err == nil {
		return storeSignerKey(storePath)
	}
	return defaultSignerKey(e)
}

// defaultOrigin names a new log: <host>/chainlog/<store name>/<8 random hex
// digits>, shaped like a schema-less URL as C2SP tlog-checkpoint
// recommends, and unique, so that two installs never share a name at a
// witness or a monitor.
func defaultOrigin(storePath string) (string, error) {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "localhost"
	}
	name := strings.TrimSuffix(filepath.Base(storePath), filepath.Ext(storePath))
	clean := func(s string) string {
		return strings.Map(func(r rune) rune {
			if r <= ' ' || r == '+' || r > '~' {
				return '-'
			}
			return r
		}, s)
	}
	var b [4]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	return clean(host) + "/chainlog/" + clean(name) + "/" + hex.EncodeToString(b[:]), nil
}

// newSignerKey makes a signer key named origin and writes it to path with
// mode 0600; it returns the verifier key.
func newSignerKey(path, origin string) (string, error) {
	if err := chainlog.CheckOrigin(origin); err != nil {
		return "", err
	}
	skey, vkey, err := note.GenerateKey(rand.Reader, origin)
	if err == nil {
		// GenerateKey does not check the name; NewSigner does.
		_, err = note.NewSigner(skey)
	}
	if err != nil {
		return "", fmt.Errorf("origin %q: %w", origin, err)
	}
	if err := writeKeyFile(path, skey); err != nil {
		return "", err
	}
	return vkey, nil
}

// autoKey makes the store's signer key on serve's first start when no key
// is configured and none exists, so that checkpoints are on by default,
// and logs where it is and what to do with its verifier key.
func autoKey(e *env, logger *slog.Logger, cp *checkpointFlags, storePath string) error {
	if cp.signerKey != "" || e.getenv("CHAINLOG_SIGNER_KEY") != "" {
		return nil
	}
	for _, p := range []string{storeSignerKey(storePath), defaultSignerKey(e)} {
		if _, err := os.Stat(p); !errors.Is(err, os.ErrNotExist) {
			return nil // a key is there (or cannot be looked at: setup says why)
		}
	}
	origin, err := defaultOrigin(storePath)
	if err != nil {
		return err
	}
	path := storeSignerKey(storePath)
	vkey, err := newSignerKey(path, origin)
	if err != nil {
		return fmt.Errorf("make a signer key: %w", err)
	}
	logger.Warn("no signer key was configured, so one was made for this store; checkpoints are signed with it",
		"signer_key", path, "verifier_key", vkey,
		"next", "keep a copy of the verifier key (it is public) away from this machine, for auditors and witnesses; "+
			"move the signer key off this machine if you can and pass it with --signer-key; --auto-key=false turns this off")
	return nil
}

// signerVerifier returns the verifier of the Ed25519 signer key skey
// ("PRIVATE+KEY+name+hash+key", as note.GenerateKey writes it): the
// public key derived from its seed, under the same name.
func signerVerifier(skey string) (note.Verifier, error) {
	f := strings.SplitN(skey, "+", 5)
	if len(f) != 5 || f[0] != "PRIVATE" || f[1] != "KEY" {
		return nil, errors.New("not a signer key")
	}
	b, err := base64.StdEncoding.DecodeString(f[4])
	if err != nil || len(b) != 1+ed25519.SeedSize || b[0] != 1 {
		return nil, errors.New("not an Ed25519 signer key")
	}
	vkey, err := note.NewEd25519VerifierKey(f[2], ed25519.NewKeyFromSeed(b[1:]).Public().(ed25519.PublicKey))
	if err != nil {
		return nil, err
	}
	return note.NewVerifier(vkey)
}
