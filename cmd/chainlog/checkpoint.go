package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"chainlog/publish"
	"chainlog/sqlite"

	"golang.org/x/mod/sumdb/note"
)

// defaultSignerKey is where keygen writes the signer key and where ingest
// looks for one.
func defaultSignerKey(e *env) string {
	home := e.getenv("HOME")
	if home == "" {
		home, _ = os.UserHomeDir()
	}
	return filepath.Join(home, ".chainlog", "signer.key")
}

func runKeygen(ctx context.Context, e *env, args []string) int {
	fs := newFlagSet(e, "keygen", "keygen [--store PATH] [--origin NAME] [--out FILE]")
	store := storeFlag(e, fs)
	origin := fs.String("origin", "", "the log's name, the checkpoints' origin line (default <host>/chainlog/<store name>/<random>)")
	out := fs.String("out", "", "where to write the signer key (default ~/.chainlog/signer.key)")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return flagExit(err)
	}
	if len(pos) != 0 {
		return usageError(e, fs, "unexpected argument %q", pos[0])
	}
	if *origin == "" {
		path, err := store()
		if err != nil {
			return fail(e, "keygen", err)
		}
		if *origin, err = defaultOrigin(path); err != nil {
			return fail(e, "keygen", err)
		}
	}
	if *out == "" {
		*out = defaultSignerKey(e)
	}
	vkey, err := newSignerKey(*out, *origin)
	if err != nil {
		return fail(e, "keygen", err)
	}
	fmt.Fprintf(e.stderr, "signer key written to %s (keep it off the machine that holds the store if you can)\n", *out)
	fmt.Fprintln(e.stdout, vkey)
	return exitOK
}

// writeKeyFile creates path with mode 0600, refusing to replace a key.
func writeKeyFile(path, skey string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, os.ErrExist) {
		return fmt.Errorf("%s already exists; refusing to replace a signer key", path)
	}
	if err != nil {
		return err
	}
	if _, err := f.WriteString(skey + "\n"); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// checkpointFlags configure signing and publishing after each commit.
type checkpointFlags struct {
	env        *env
	signerKey  string
	file       string
	command    string
	url        string
	signer     note.Signer
	publishers []publish.Publisher
	cp         *publish.Checkpointer
}

func (c *checkpointFlags) register(fs *flag.FlagSet, e *env) {
	c.env = e
	fs.StringVar(&c.signerKey, "signer-key", "", "signer key `file` for checkpoints (default $CHAINLOG_SIGNER_KEY, else ~/.chainlog/signer.key if it exists)")
	fs.StringVar(&c.file, "checkpoint-file", "", "append-only checkpoint `file` (default $CHAINLOG_CHECKPOINT_FILE, else STORE.checkpoints)")
	fs.StringVar(&c.command, "checkpoint-command", "", "also publish each checkpoint to this shell `command`'s standard input (default $CHAINLOG_CHECKPOINT_COMMAND)")
	fs.StringVar(&c.url, "checkpoint-url", "", "also POST each checkpoint to this `URL` (default $CHAINLOG_CHECKPOINT_URL)")
}

func (c *checkpointFlags) orEnv(v *string, name string) {
	if *v == "" {
		*v = c.env.getenv(name)
	}
}

// check validates the destinations given, before anything is opened.
func (c *checkpointFlags) check() error {
	c.orEnv(&c.command, "CHAINLOG_CHECKPOINT_COMMAND")
	c.orEnv(&c.url, "CHAINLOG_CHECKPOINT_URL")
	if c.command != "" && strings.TrimSpace(c.command) == "" {
		return errors.New("--checkpoint-command is blank")
	}
	if c.url != "" {
		u, err := url.Parse(c.url)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("--checkpoint-url %q: want an http or https URL", c.url)
		}
	}
	return nil
}

// setup loads the signer key, if any. Without one, no checkpoints are made.
func (c *checkpointFlags) setup(storePath string) error {
	c.orEnv(&c.signerKey, "CHAINLOG_SIGNER_KEY")
	c.orEnv(&c.file, "CHAINLOG_CHECKPOINT_FILE")
	c.orEnv(&c.command, "CHAINLOG_CHECKPOINT_COMMAND")
	c.orEnv(&c.url, "CHAINLOG_CHECKPOINT_URL")
	explicit := c.signerKey != ""
	if !explicit {
		c.signerKey = signerKeyFor(c.env, storePath)
	}
	b, err := os.ReadFile(c.signerKey)
	if errors.Is(err, os.ErrNotExist) && !explicit {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read signer key: %w", err)
	}
	if c.signer, err = note.NewSigner(strings.TrimSpace(string(b))); err != nil {
		return fmt.Errorf("signer key %s: %w", c.signerKey, err)
	}
	if c.file == "" {
		c.file = storePath + ".checkpoints"
	}
	if c.command != "" {
		c.publishers = append(c.publishers, publish.Command{Argv: []string{"/bin/sh", "-c", c.command}})
	}
	if c.url != "" {
		c.publishers = append(c.publishers, publish.HTTP{URL: c.url})
	}
	c.cp = publish.NewCheckpointer(publish.CheckpointerConfig{Signer: c.signer, File: c.file, Publish: c.publishers})
	return nil
}

// run signs and publishes a checkpoint of the store's current tree, each
// destination in turn: the command exits after it.
func (c *checkpointFlags) run(ctx context.Context, st *sqlite.Store) error {
	if c.cp == nil {
		return nil
	}
	return c.cp.Run(ctx, st)
}

// loadVerifiers parses verifier keys given as the key text or as a file
// holding it.
func loadVerifiers(keys []string) ([]note.Verifier, error) {
	var out []note.Verifier
	for _, k := range keys {
		text := k
		if b, err := os.ReadFile(k); err == nil {
			text = strings.TrimSpace(string(b))
		}
		v, err := note.NewVerifier(text)
		if err != nil {
			return nil, fmt.Errorf("verifier key %q: %w", k, err)
		}
		out = append(out, v)
	}
	return out, nil
}

// multiFlag is a repeatable string flag.
type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }
