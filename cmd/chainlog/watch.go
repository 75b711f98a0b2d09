package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"chainlog"
	"chainlog/sqlite"
	"chainlog/watch"
)

const watchUsage = `watch [--claude-code DIR] [--codex DIR] [--openclaw DIR] [--store PATH | --server URL [--token TOKEN] [--state FILE]] [--node-id ID] [--once] [--json]

Follows the agents' session transcripts and commits the events of their
lines, each batch with the position reached in each file, so that a
restart resumes where the committed events end: no line is skipped, and a
line read again gives events the store drops as duplicates by id.

Without a folder flag it watches the agents' own folders, ~/.claude/projects,
~/.codex/sessions and ~/.openclaw/agents, and skips those that do not
exist; a folder named by a flag must exist.

With --store (the default) the positions are kept in the store, in the
transaction of the events. With --server they are kept in --state, written
after the daemon acknowledged the events: after a crash between the two,
lines are sent again and the daemon drops their events as duplicates.

--once reads everything present, takes every file as finished, and exits.
Otherwise it runs until interrupted (SIGINT, SIGTERM), then commits what
it read and exits 0. With --store and a signer key, a checkpoint is signed
when it exits; to sign them as events arrive, follow the folders with
serve --watch-claude-code, --watch-codex and --watch-openclaw instead.

Examples:
  chainlog watch --once
  chainlog watch --codex ~/.codex/sessions --store audit.db
  chainlog watch --server http://127.0.0.1:8900 --token "$TOKEN"`

type watchCmd struct {
	env      *env
	store    func() (string, error)
	dirs     map[string]*string // agentFolder.flag -> DIR given
	server   string
	token    string
	tls      clientTLSFlags
	state    string
	nodeID   string
	once     bool
	jsonOut  bool
	logLevel string
	cp       checkpointFlags
}

func runWatch(ctx context.Context, e *env, args []string) int {
	c := &watchCmd{env: e, dirs: map[string]*string{}}
	fs := newFlagSet(e, "watch", watchUsage)
	c.store = storeFlag(e, fs)
	for _, a := range agentFolders {
		c.dirs[a.flag] = fs.String(a.flag, "", fmt.Sprintf("watch this `DIR` of %s transcripts (default ~/%s, if it exists)", a.format, a.def))
	}
	fs.StringVar(&c.server, "server", "", "post the events to the daemon at this `URL` instead of writing the store")
	c.tls.register(fs)
	fs.StringVar(&c.token, "token", "", "bearer token for --server (default $CHAINLOG_TOKEN)")
	fs.StringVar(&c.state, "state", "", "with --server, the `file` keeping the positions reached (default ~/.chainlog/watch-state.json)")
	fs.StringVar(&c.nodeID, "node-id", "", "node_id of the events (default: the host name)")
	fs.BoolVar(&c.once, "once", false, "read what is there, commit it and exit")
	fs.BoolVar(&c.jsonOut, "json", false, "print the summary as JSON")
	fs.StringVar(&c.logLevel, "log-level", "warn", "log level: debug, info, warn or error")
	c.cp.register(fs, e)
	pos, err := parseFlags(fs, args)
	if err != nil {
		return flagExit(err)
	}
	if len(pos) != 0 {
		return usageError(e, fs, "unexpected argument %q", pos[0])
	}
	storeGiven := false
	fs.Visit(func(f *flag.Flag) { storeGiven = storeGiven || f.Name == "store" })
	if storeGiven && c.server != "" {
		return usageError(e, fs, "--store and --server: give one")
	}
	if c.nodeID == "" {
		if c.nodeID, err = os.Hostname(); err != nil || c.nodeID == "" {
			return usageError(e, fs, "no --node-id and no host name")
		}
	}
	if err := chainlog.CheckUserNodeID(c.nodeID); err != nil {
		return usageError(e, fs, "--node-id: %v", err)
	}
	logger, err := newLogger(e, "text", c.logLevel)
	if err != nil {
		return usageError(e, fs, "%v", err)
	}
	folders, err := c.folders()
	if err != nil {
		return fail(e, "watch", err)
	}
	sink, closeSink, err := c.sink(ctx)
	if err != nil {
		return fail(e, "watch", err)
	}
	w, err := watch.New(watch.Config{Folders: folders, Sink: sink, Logger: logger})
	if err == nil {
		var st watch.Stats
		if c.once {
			st, err = w.Once(ctx)
		} else {
			err = w.Run(ctx)
			st = w.Stats()
		}
		c.report(st)
	}
	if cerr := closeSink(ctx); err == nil {
		err = cerr
	}
	if err != nil {
		return fail(e, "watch", err)
	}
	return exitOK
}

// folders returns the folders to watch: those named by flags, which must
// exist, or else the agents' defaults that exist.
func (c *watchCmd) folders() ([]watch.Folder, error) {
	var out []watch.Folder
	for _, a := range agentFolders {
		if dir := *c.dirs[a.flag]; dir != "" {
			if err := isDir(dir); err != nil {
				return nil, fmt.Errorf("--%s: %w", a.flag, err)
			}
			out = append(out, a.folder(dir, c.nodeID))
		}
	}
	if len(out) > 0 {
		return out, nil
	}
	home := c.env.getenv("HOME")
	if home == "" {
		var err error
		if home, err = os.UserHomeDir(); err != nil {
			return nil, fmt.Errorf("no folder flag and no home directory: %w", err)
		}
	}
	for _, a := range agentFolders {
		dir := filepath.Join(home, filepath.FromSlash(a.def))
		if err := isDir(dir); err != nil {
			fmt.Fprintf(c.env.stderr, "chainlog watch: skipping %s transcripts: %v\n", a.format, err)
			continue
		}
		out = append(out, a.folder(dir, c.nodeID))
	}
	if len(out) == 0 {
		return nil, errors.New("no transcript folder found: name one with --claude-code, --codex or --openclaw")
	}
	return out, nil
}

func isDir(dir string) error {
	fi, err := os.Stat(dir)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("%s: no such directory", dir)
		}
		return err
	}
	if !fi.IsDir() {
		return fmt.Errorf("%s: not a directory", dir)
	}
	return nil
}

// sink opens the store, or the daemon's client; the function returned
// closes it (with a store, after signing a checkpoint when a signer key is
// set).
func (c *watchCmd) sink(ctx context.Context) (watch.Sink, func(context.Context) error, error) {
	if c.server != "" {
		if c.token == "" {
			c.token = c.env.getenv("CHAINLOG_TOKEN")
		}
		if c.state == "" {
			home := c.env.getenv("HOME")
			if home == "" {
				return nil, nil, errors.New("no --state given and no home directory")
			}
			c.state = filepath.Join(home, ".chainlog", "watch-state.json")
		}
		client, err := c.tls.client(2 * time.Minute)
		if err != nil {
			return nil, nil, err
		}
		s := &watch.HTTPSink{URL: c.server, Token: c.token, StateFile: c.state, Client: client}
		return s, func(context.Context) error { return nil }, nil
	}
	path, err := c.store()
	if err != nil {
		return nil, nil, err
	}
	if err := c.cp.setup(path); err != nil {
		return nil, nil, err
	}
	st, err := openWrite(ctx, path, sqlite.Options{})
	if err != nil {
		return nil, nil, err
	}
	return watch.StoreSink{Store: st}, func(ctx context.Context) error {
		err := c.cp.run(context.WithoutCancel(ctx), st)
		if cerr := st.Close(); err == nil {
			err = cerr
		}
		return err
	}, nil
}

func (c *watchCmd) report(st watch.Stats) {
	if c.jsonOut {
		b, _ := json.Marshal(st)
		fmt.Fprintf(c.env.stdout, "%s\n", b)
		return
	}
	var b strings.Builder
	fmt.Fprintf(&b, "files: %d, lines: %d, events: %d (%d new, %d duplicates)",
		st.Files, st.Lines, st.Events, st.Inserted, st.Duplicates)
	if st.BadLines > 0 {
		fmt.Fprintf(&b, ", bad lines skipped: %d (logged)", st.BadLines)
	}
	if st.Resumed > 0 {
		fmt.Fprintf(&b, ", resumed from their cursors: %d", st.Resumed)
	}
	fmt.Fprintln(c.env.stdout, b.String())
}
