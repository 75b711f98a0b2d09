package main

import (
	"bufio"
	"context"
	"encoding/json"

	"chainlog"
)

func runExport(ctx context.Context, e *env, args []string) int {
	fs := newFlagSet(e, "export", "export [--store PATH] [--node-id ID]")
	store := storeFlag(e, fs)
	nodeID := fs.String("node-id", "", "export only this node's events (chainlog:amendments: the trail's anchor events, left out otherwise)")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return flagExit(err)
	}
	if len(pos) != 0 {
		return usageError(e, fs, "unexpected argument %q", pos[0])
	}
	path, err := store()
	if err != nil {
		return fail(e, "export", err)
	}
	st, err := openRead(ctx, path)
	if err != nil {
		return fail(e, "export", err)
	}
	defer st.Close()
	w := bufio.NewWriterSize(e.stdout, 64<<10)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	// The store's own events (the trail's anchors) are left out of a whole
	// export, so that it stays ingest input: ingest refuses their node.
	usersOnly := *nodeID == "" || chainlog.CheckUserNodeID(*nodeID) == nil
	err = st.Export(ctx, *nodeID, func(ev *chainlog.StoredEvent) error {
		if usersOnly && chainlog.CheckUserNodeID(ev.NodeID) != nil {
			return nil
		}
		return enc.Encode(ev)
	})
	if ferr := w.Flush(); err == nil {
		err = ferr
	}
	if err != nil {
		return fail(e, "export", err)
	}
	return exitOK
}
