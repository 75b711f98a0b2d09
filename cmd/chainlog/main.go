// Command chainlog is a tamper-evident audit log for AI-agent events.
//
// Run "chainlog help" for usage.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/pprof"
	"syscall"

	"chainlog"
)

// Exit codes. They mean the same for every command.
const (
	exitOK      = 0 // success; verify-integrity: valid or empty
	exitInvalid = 1 // verify-integrity: tampering found; ingest: input lines rejected
	exitError   = 2 // the store could not be read or written, or the usage is wrong
)

const usage = `chainlog is a tamper-evident audit log for AI-agent events.

Usage:
  chainlog <command> [flags] [arguments]

Commands:
  serve             run the ingest daemon (HTTP) on the store
  ingest            import NDJSON events into the store, or post them to a daemon
  watch             follow Claude Code, Codex and OpenClaw transcripts and commit their events
  export            write the stored events as NDJSON, in commit order
  export-tiles      write the signed tree as tlog-tiles, for monitors and witnesses
  backfill-costs    fill cost_usd and token_count from the model price table
  verify-integrity  prove that no event was altered, deleted, reordered or forged
  history           show an event and its amendment trail
  amend             change an event's mutable fields, recorded in the trail
  redact            remove personal data from an event's payload, recorded in the trail
  forks             list a collector's fork evidence, or resolve a quarantined node's
  prune             delete the oldest events under a retention policy, recorded in the trail
  keygen            make the key that signs checkpoints, print its verifier key
  prove             write an offline-verifiable proof that an event is in a checkpoint
  verify-proof      check a proof bundle offline, without the store
  consistency       prove, or check offline, that a checkpoint extends an older one
  evidence          write an evidence pack: selected events, their history and proofs, for an auditor
  verify-evidence   check an evidence pack offline, without the store
  verify-archive    check a prune's archive offline, and with --store against the prune records
  bench             measure ingest and verify throughput on generated stores

The store is ~/.chainlog/chainlog.db unless --store or CHAINLOG_STORE says
otherwise. Run "chainlog <command> -h" for a command's flags.

Examples:
  chainlog ingest events.ndjson
  agent | chainlog ingest -
  chainlog watch --once
  chainlog verify-integrity --json
  chainlog export --node-id node-a > node-a.ndjson

Exit codes:
  0  success (verify-integrity: valid or empty)
  1  verify-integrity found tampering; ingest rejected input lines
  2  the store could not be read or written, or the usage is wrong
`

// env is what a command sees of the outside world; tests replace it.
type env struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	getenv         func(string) string
	isTerminal     func(w io.Writer) bool
}

type command struct {
	name string
	run  func(ctx context.Context, e *env, args []string) int
}

var commands = []command{
	{"serve", runServe},
	{"ingest", runIngest},
	{"watch", runWatch},
	{"export", runExport},
	{"export-tiles", runExportTiles},
	{"backfill-costs", runBackfill},
	{"verify-integrity", runVerify},
	{"history", runHistory},
	{"amend", runAmend},
	{"redact", runRedact},
	{"prune", runPrune},
	{"forks", runForks},
	{"keygen", runKeygen},
	{"prove", runProve},
	{"verify-proof", runVerifyProof},
	{"consistency", runConsistency},
	{"evidence", runEvidence},
	{"verify-evidence", runVerifyEvidence},
	{"verify-archive", runVerifyArchive},
	{"bench", runBench},
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	go func() {
		// After the first signal, a second one kills the process at once
		// instead of waiting for a graceful shutdown.
		<-ctx.Done()
		stop()
	}()
	stopProfile, err := startProfile(os.Getenv("CHAINLOG_CPUPROFILE"))
	if err != nil {
		fmt.Fprintf(os.Stderr, "chainlog: CHAINLOG_CPUPROFILE: %v\n", err)
		os.Exit(exitError)
	}
	code := run(ctx, osEnv(), os.Args[1:])
	stopProfile()
	stop()
	os.Exit(code)
}

// startProfile writes a CPU profile of the command to path, when it is
// not empty, until the returned function is called (see
// docs/performance.md).
func startProfile(path string) (func(), error) {
	if path == "" {
		return func() {}, nil
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, err
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}, nil
}

func osEnv() *env {
	return &env{stdin: os.Stdin, stdout: os.Stdout, stderr: os.Stderr, getenv: os.Getenv, isTerminal: isTerminal}
}

func run(ctx context.Context, e *env, args []string) int {
	if len(args) == 0 {
		fmt.Fprint(e.stderr, usage)
		return exitError
	}
	switch args[0] {
	case "help", "-h", "-help", "--help":
		fmt.Fprint(e.stdout, usage)
		return exitOK
	}
	for _, c := range commands {
		if c.name == args[0] {
			return c.run(ctx, e, args[1:])
		}
	}
	fmt.Fprintf(e.stderr, "chainlog: unknown command %q\n\n%s", args[0], usage)
	return exitError
}

// newFlagSet returns a flag set that prints its usage to e.stderr.
func newFlagSet(e *env, name, synopsis string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	fs.Usage = func() {
		fmt.Fprintf(e.stderr, "Usage: chainlog %s\n\nFlags:\n", synopsis)
		fs.PrintDefaults()
	}
	return fs
}

// parseFlags parses args, allowing flags after positional arguments, and
// returns the positional arguments. The error has already been printed.
func parseFlags(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		// Parse consumed a "--" terminator: everything after it is positional.
		if n := len(args) - len(rest); n > 0 && args[n-1] == "--" {
			return append(pos, rest...), nil
		}
		if len(rest) == 0 {
			return pos, nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

// storeFlag registers --store and returns a function giving its value,
// falling back to CHAINLOG_STORE and then to ~/.chainlog/chainlog.db.
func storeFlag(e *env, fs *flag.FlagSet) func() (string, error) {
	p := fs.String("store", "", "store `path` (default $CHAINLOG_STORE, else ~/.chainlog/chainlog.db)")
	return func() (string, error) {
		if *p != "" {
			return *p, nil
		}
		if v := e.getenv("CHAINLOG_STORE"); v != "" {
			return v, nil
		}
		home := e.getenv("HOME")
		var err error
		if home == "" {
			home, err = os.UserHomeDir()
		}
		if err != nil {
			return "", fmt.Errorf("no --store given and no home directory: %w", err)
		}
		return filepath.Join(home, ".chainlog", "chainlog.db"), nil
	}
}

// usageError prints a usage problem and returns exitError.
func usageError(e *env, fs *flag.FlagSet, format string, args ...any) int {
	fmt.Fprintf(e.stderr, "chainlog %s: %s\n", fs.Name(), fmt.Sprintf(format, args...))
	fs.Usage()
	return exitError
}

// positive returns an error naming flag --name when v is not above zero;
// shown is the value as the user wrote it.
func positive(name string, v int64, shown string) error {
	if v <= 0 {
		return fmt.Errorf("--%s %s: want a value above zero", name, shown)
	}
	return nil
}

// fail prints err for command name and returns exitError.
func fail(e *env, name string, err error) int {
	fmt.Fprintf(e.stderr, "chainlog %s: %v\n", name, err)
	if missingStore(err) {
		fmt.Fprintln(e.stderr, "hint: give the store with --store PATH or CHAINLOG_STORE")
	}
	return exitError
}

// missingStore reports whether err is a store that could not be opened
// because its file does not exist.
func missingStore(err error) bool {
	var oe *chainlog.OpenError
	return errors.As(err, &oe) && errors.Is(oe.Err, os.ErrNotExist)
}
