package main

import (
	"context"
	"fmt"
	"io"

	"chainlog"
	"chainlog/sqlite"
)

const forksUsage = `forks [--store PATH] [--node-id ID] [--json]
       forks resolve [--store PATH] --node-id ID --actor WHO --reason WHY [--json]

Lists the fork evidence a collector recorded: a node that sent it a
second history (the same seq with another chain hash, or a row linked to
another predecessor). Both rows are kept, as export writes them. A node
with an unresolved fork is quarantined: the collector refuses its
forwarded events (409), and verify-integrity reports the store INVALID.

"forks resolve" records an operator's resolution of a node's forks (who,
when and why, kept on each fork), which lifts the quarantine; nothing is
deleted. Exit status: 0, or 1 when a listed fork is unresolved.`

func runForks(ctx context.Context, e *env, args []string) int {
	if len(args) > 0 && args[0] == "resolve" {
		return runForksResolve(ctx, e, args[1:])
	}
	fs := newFlagSet(e, "forks", forksUsage)
	store := storeFlag(e, fs)
	node := fs.String("node-id", "", "only this node's forks")
	jsonOut := fs.Bool("json", false, "print the forks as JSON")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return flagExit(err)
	}
	if len(pos) != 0 {
		return usageError(e, fs, "unexpected argument %q", pos[0])
	}
	rep, closeStore, err := openReplica(ctx, store, false)
	if err != nil {
		return fail(e, "forks", err)
	}
	defer closeStore()
	forks, err := rep.Forks(ctx, *node)
	if err != nil {
		return fail(e, "forks", err)
	}
	if forks == nil {
		forks = []chainlog.Fork{}
	}
	code := exitOK
	for i := range forks {
		if !forks[i].Resolved() {
			code = exitInvalid
		}
	}
	if *jsonOut {
		writeJSON(e.stdout, forks)
		return code
	}
	printForks(e.stdout, forks)
	return code
}

func printForks(w io.Writer, forks []chainlog.Fork) {
	if len(forks) == 0 {
		fmt.Fprintln(w, "No fork evidence.")
		return
	}
	for i, f := range forks {
		if i > 0 {
			fmt.Fprintln(w)
		}
		state := "UNRESOLVED: the node is quarantined"
		if f.Resolved() {
			state = fmt.Sprintf("resolved %s by %s: %s", f.ResolvedAt, f.ResolvedBy, f.Resolution)
		}
		fmt.Fprintf(w, "Fork %d:    node %s, seq %d, detected %s\n", f.ID, f.NodeID, f.Seq, f.DetectedAt)
		fmt.Fprintf(w, "What:      %s\n", f.Detail)
		fmt.Fprintf(w, "Collector: %s (event %s)\n", f.Expected, orDash(f.StoredID))
		fmt.Fprintf(w, "Arrived:   %s (event %s)\n", f.Found, f.EventID)
		fmt.Fprintf(w, "State:     %s\n", state)
	}
}

func runForksResolve(ctx context.Context, e *env, args []string) int {
	fs := newFlagSet(e, "forks resolve", forksUsage)
	store := storeFlag(e, fs)
	node := fs.String("node-id", "", "the quarantined node (required)")
	actor := fs.String("actor", "", "who resolves the fork (required), kept with it")
	reason := fs.String("reason", "", "why the node may forward again (required), kept with it")
	jsonOut := fs.Bool("json", false, "print the result as JSON")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return flagExit(err)
	}
	switch {
	case len(pos) != 0:
		return usageError(e, fs, "unexpected argument %q", pos[0])
	case *node == "":
		return usageError(e, fs, "--node-id is required")
	case *actor == "":
		return usageError(e, fs, "--actor is required: say who resolves the fork")
	case *reason == "":
		return usageError(e, fs, "--reason is required: say why the node may forward again")
	}
	rep, closeStore, err := openReplica(ctx, store, true)
	if err != nil {
		return fail(e, "forks resolve", err)
	}
	defer closeStore()
	n, err := rep.ResolveForks(ctx, *node, *actor, *reason)
	if err != nil {
		return fail(e, "forks resolve", err)
	}
	if *jsonOut {
		writeJSON(e.stdout, map[string]any{"node_id": *node, "resolved": n})
		return exitOK
	}
	if n == 0 {
		fmt.Fprintf(e.stdout, "Node %s has no unresolved fork.\n", *node)
	} else {
		fmt.Fprintf(e.stdout, "Resolved %d fork(s) of node %s; its quarantine is lifted.\n", n, *node)
	}
	return exitOK
}

// openReplica opens the store of the --store flag, read-only or for
// writing, as a chainlog.Replicator.
func openReplica(ctx context.Context, store func() (string, error), write bool) (chainlog.Replicator, func(), error) {
	path, err := store()
	if err != nil {
		return nil, nil, err
	}
	var st cliStore
	if write {
		st, err = openExisting(ctx, path, sqlite.Options{})
	} else {
		st, err = openRead(ctx, path)
	}
	if err != nil {
		return nil, nil, err
	}
	return st, func() { st.Close() }, nil
}
