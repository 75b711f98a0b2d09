package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"chainlog"
)

// historyOut is the JSON form of `chainlog history`.
type historyOut struct {
	Event      *chainlog.StoredEvent `json:"event"`
	Amendments []chainlog.Amendment  `json:"amendments"`
}

func runHistory(ctx context.Context, e *env, args []string) int {
	fs := newFlagSet(e, "history", "history [--store PATH] [--json] EVENT_ID")
	store := storeFlag(e, fs)
	jsonOut := fs.Bool("json", false, "print the event and its trail as JSON")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return flagExit(err)
	}
	if len(pos) != 1 {
		return usageError(e, fs, "want exactly one event id")
	}
	path, err := store()
	if err != nil {
		return fail(e, "history", err)
	}
	st, err := openRead(ctx, path)
	if err != nil {
		return fail(e, "history", err)
	}
	defer st.Close()
	ev, err := st.Event(ctx, pos[0])
	if errors.Is(err, chainlog.ErrNotFound) {
		return fail(e, "history", fmt.Errorf("no event with id %q", pos[0]))
	}
	if err != nil {
		return fail(e, "history", err)
	}
	recs, err := st.Amendments(ctx, ev.ID)
	if err != nil {
		return fail(e, "history", err)
	}
	if recs == nil {
		recs = []chainlog.Amendment{}
	}
	out := historyOut{Event: ev, Amendments: recs}
	if *jsonOut {
		writeJSON(e.stdout, out)
		return exitOK
	}
	printHistory(e.stdout, &out)
	return exitOK
}

func printHistory(w io.Writer, h *historyOut) {
	ev := h.Event
	seq := ""
	if ev.Seq != 0 {
		seq = fmt.Sprint(ev.Seq)
	}
	data := "null"
	if ev.Data != nil {
		data = string(ev.Data)
	}
	fmt.Fprintf(w, "Event:     %s\n", ev.ID)
	fmt.Fprintf(w, "Node:      %s (seq %s)\n", ev.NodeID, orDash(seq))
	fmt.Fprintf(w, "Type:      %s at %s\n", ev.EventType, ev.TS)
	fmt.Fprintf(w, "Agent:     %s/%s\n", ev.AgentType, ev.AgentID)
	fmt.Fprintf(w, "Stored:    %s\n", ev.CreatedAt)
	fmt.Fprintf(w, "Digest:    %s (at ingest)\n", orDash(ev.PayloadDigest))
	fmt.Fprintf(w, "Data:      %s\n", data)
	fmt.Fprintf(w, "Cost:      %s USD, %s tokens, model %s\n",
		orDash(ptrString(ev.CostUSD)), orDash(ptrString(ev.TokenCount)), orDash(ptrString(ev.Model)))
	if len(h.Amendments) == 0 {
		fmt.Fprintf(w, "Amendments: none\n")
		return
	}
	fmt.Fprintf(w, "Amendments (oldest first):\n")
	for _, a := range h.Amendments {
		fmt.Fprintf(w, "  #%d %s %s by %s: %s\n", a.Seq, a.At, a.Kind, a.Actor, strings.Join(a.Fields, ", "))
		fmt.Fprintf(w, "     reason: %s\n", a.Reason)
		fmt.Fprintf(w, "     digest: %s -> %s\n", a.DigestBefore, a.DigestAfter)
	}
}

func ptrString[T any](p *T) string {
	if p == nil {
		return ""
	}
	return fmt.Sprint(*p)
}
