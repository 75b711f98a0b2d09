package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
	"unicode"

	"chainlog/publish"
	"chainlog/witness"

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

// checkpointFlags configure signing and publishing after each commit, and
// the witnesses that cosign the checkpoints.
type checkpointFlags struct {
	env            *env
	fs             *flag.FlagSet
	signerKey      string
	file           string
	command        string
	url            string
	witnessSpecs   witnessList
	witnessQuorum  int
	witnessTimeout time.Duration
	signer         note.Signer
	verifier       note.Verifier // the signer's
	publishers     []publish.Publisher
	witnesses      []witness.Witness
	cp             *publish.Checkpointer
}

// defaultWitnessTimeout is how long a command waits for the witnesses'
// quorum, and the daemon gives one attempt at one witness.
const defaultWitnessTimeout = 30 * time.Second

func (c *checkpointFlags) register(fs *flag.FlagSet, e *env) {
	c.env, c.fs = e, fs
	fs.StringVar(&c.signerKey, "signer-key", "", "signer key `file` for checkpoints (default $CHAINLOG_SIGNER_KEY, else ~/.chainlog/signer.key if it exists)")
	fs.StringVar(&c.file, "checkpoint-file", "", "append-only checkpoint `file` (default $CHAINLOG_CHECKPOINT_FILE, else STORE.checkpoints)")
	fs.StringVar(&c.command, "checkpoint-command", "", "also publish each checkpoint to this shell `command`'s standard input (default $CHAINLOG_CHECKPOINT_COMMAND)")
	fs.StringVar(&c.url, "checkpoint-url", "", "also POST each signed checkpoint, a bare note, to this `URL`: a plain HTTP receiver of notes, not a witness (use --witness for witnesses) (default $CHAINLOG_CHECKPOINT_URL)")
	fs.Var(&c.witnessSpecs, "witness", "have each checkpoint cosigned by the C2SP tlog-witness at `URL=VKEY` (its URL prefix and verifier key); repeatable (default $CHAINLOG_WITNESS, space- or comma-separated)")
	fs.IntVar(&c.witnessQuorum, "witness-quorum", 0, "how many witnesses must cosign a checkpoint (default $CHAINLOG_WITNESS_QUORUM, else all of them)")
	fs.DurationVar(&c.witnessTimeout, "witness-timeout", defaultWitnessTimeout, "how long ingest, amend and backfill-costs wait for the witness quorum; serve: one attempt at one witness (default $CHAINLOG_WITNESS_TIMEOUT)")
}

// witnessList is the repeatable --witness flag; one value may hold several
// witnesses, separated by spaces or commas (as $CHAINLOG_WITNESS does).
type witnessList []string

func (w *witnessList) String() string { return strings.Join(*w, " ") }
func (w *witnessList) Set(v string) error {
	f := strings.FieldsFunc(v, func(r rune) bool { return r == ',' || unicode.IsSpace(r) })
	if len(f) == 0 {
		return errors.New("no witness given")
	}
	*w = append(*w, f...)
	return nil
}

func (c *checkpointFlags) orEnv(v *string, name string) {
	if *v == "" {
		*v = c.env.getenv(name)
	}
}

// witnessEnv sets the witness flags not given (and still at their
// defaults: serve's applyEnv may have set them) from the environment.
func (c *checkpointFlags) witnessEnv() error {
	given := map[string]bool{}
	if c.fs != nil {
		c.fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	}
	if v := c.env.getenv("CHAINLOG_WITNESS"); v != "" && !given["witness"] && len(c.witnessSpecs) == 0 {
		if err := c.witnessSpecs.Set(v); err != nil {
			return fmt.Errorf("CHAINLOG_WITNESS=%q: %v", v, err)
		}
	}
	if v := c.env.getenv("CHAINLOG_WITNESS_QUORUM"); v != "" && !given["witness-quorum"] && c.witnessQuorum == 0 {
		n, err := strconv.Atoi(v)
		if err != nil {
			return fmt.Errorf("CHAINLOG_WITNESS_QUORUM=%q: not a number", v)
		}
		c.witnessQuorum = n
	}
	if v := c.env.getenv("CHAINLOG_WITNESS_TIMEOUT"); v != "" && !given["witness-timeout"] && c.witnessTimeout == defaultWitnessTimeout {
		d, err := time.ParseDuration(v)
		if err != nil {
			return fmt.Errorf("CHAINLOG_WITNESS_TIMEOUT=%q: %v", v, err)
		}
		c.witnessTimeout = d
	}
	return nil
}

// check validates the destinations and witnesses given, before anything
// is opened.
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
		if strings.HasSuffix(strings.TrimSuffix(u.Path, "/"), "/add-checkpoint") {
			return fmt.Errorf("--checkpoint-url %q is a witness's add-checkpoint endpoint, which answers a bare note with 400: use --witness URL=VKEY for witnesses", c.url)
		}
	}
	if err := c.witnessEnv(); err != nil {
		return err
	}
	c.witnesses = c.witnesses[:0]
	for _, spec := range c.witnessSpecs {
		w, err := witness.ParseWitness(spec)
		if err != nil {
			return fmt.Errorf("--witness: %w", err)
		}
		c.witnesses = append(c.witnesses, w)
	}
	if c.witnessQuorum < 0 || c.witnessQuorum > len(c.witnesses) {
		return fmt.Errorf("--witness-quorum %d: want 1 to %d, the number of --witness given (0 means all)", c.witnessQuorum, len(c.witnesses))
	}
	if c.witnessTimeout <= 0 {
		return fmt.Errorf("--witness-timeout %v is not positive", c.witnessTimeout)
	}
	return nil
}

// setup checks the flags and loads the signer key, if any. Without one, no
// checkpoints are made.
func (c *checkpointFlags) setup(storePath string) error {
	if err := c.check(); err != nil {
		return err
	}
	storePath, err := sidecar(c.env, storePath)
	if err != nil {
		return err
	}
	c.orEnv(&c.signerKey, "CHAINLOG_SIGNER_KEY")
	c.orEnv(&c.file, "CHAINLOG_CHECKPOINT_FILE")
	explicit := c.signerKey != ""
	if !explicit {
		c.signerKey = signerKeyFor(c.env, storePath)
	}
	b, err := os.ReadFile(c.signerKey)
	if errors.Is(err, os.ErrNotExist) && !explicit {
		if len(c.witnesses) > 0 {
			return fmt.Errorf("--witness needs checkpoints to cosign, but there is no signer key at %s: run chainlog keygen, or give --signer-key", c.signerKey)
		}
		return nil
	}
	if err != nil {
		return fmt.Errorf("read signer key: %w", err)
	}
	if c.signer, err = note.NewSigner(strings.TrimSpace(string(b))); err != nil {
		return fmt.Errorf("signer key %s: %w", c.signerKey, err)
	}
	if c.verifier, err = signerVerifier(strings.TrimSpace(string(b))); err != nil {
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
	cfg := publish.CheckpointerConfig{Signer: c.signer, File: c.file, Publish: c.publishers}
	if len(c.witnesses) > 0 {
		logger := slog.New(slog.NewTextHandler(c.env.stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
		ws, err := witness.New(witness.Config{Witnesses: c.witnesses, Quorum: c.witnessQuorum,
			File: witness.CosignedPath(c.file), Timeout: c.witnessTimeout, Logger: logger})
		if err != nil {
			return err
		}
		cfg.Witnesses = ws
	}
	c.cp = publish.NewCheckpointer(cfg)
	return nil
}

// sign signs and publishes a checkpoint of the store's current tree, if it
// grew, each destination in turn; the witnesses are not asked (ingest asks
// them once, for its last checkpoint).
func (c *checkpointFlags) sign(ctx context.Context, st cliStore) error {
	if c.cp == nil {
		return nil
	}
	return c.cp.Run(ctx, st)
}

// run signs and publishes a checkpoint of the store's current tree, each
// destination in turn, and waits for the witnesses' quorum on the last
// checkpoint: the command exits after it.
func (c *checkpointFlags) run(ctx context.Context, st cliStore) error {
	if c.cp == nil {
		return nil
	}
	if err := c.cp.Run(ctx, st); err != nil {
		return err
	}
	if err := c.cp.Cosign(ctx, st); err != nil {
		return fmt.Errorf("witnesses: %w (hint: the checkpoint is signed and in %s; the next command that writes, or chainlog serve, submits again)", err, c.file)
	}
	return nil
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
