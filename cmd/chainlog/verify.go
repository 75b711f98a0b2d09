package main

import (
	"context"
	"fmt"
	"io"
	"strings"

	"chainlog"
	"chainlog/sqlite"
)

func runVerify(ctx context.Context, e *env, args []string) int {
	fs := newFlagSet(e, "verify-integrity", "verify-integrity [--store PATH] [--node-id ID] [--json]")
	store := storeFlag(e, fs)
	nodeID := fs.String("node-id", "", "verify only this node's chain")
	jsonOut := fs.Bool("json", false, "print the report as JSON")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return flagExit(err)
	}
	if len(pos) != 0 {
		return usageError(e, fs, "unexpected argument %q", pos[0])
	}
	path, err := store()
	if err != nil {
		return verifyFailed(e, *jsonOut, *nodeID, err)
	}
	st, err := sqlite.OpenReadOnly(ctx, path)
	if err != nil {
		return verifyFailed(e, *jsonOut, *nodeID, err)
	}
	defer st.Close()
	rep, err := chainlog.Verify(ctx, st, *nodeID)
	if err != nil {
		return verifyFailed(e, *jsonOut, *nodeID, err)
	}
	if *jsonOut {
		writeJSON(e.stdout, rep)
	} else {
		printReport(e.stdout, rep)
	}
	if rep.Status == chainlog.StatusInvalid {
		return exitInvalid
	}
	return exitOK
}

// verifyFailed reports a store that could not be verified at all. With
// --json the error is still a report object, with status "error".
func verifyFailed(e *env, jsonOut bool, nodeID string, err error) int {
	if jsonOut {
		scope := nodeID
		if scope == "" {
			scope = chainlog.ScopeAll
		}
		msg := err.Error()
		writeJSON(e.stdout, chainlog.Report{Status: "error", NodeID: scope, Error: &msg, Nodes: []chainlog.NodeReport{}})
	}
	return fail(e, "verify-integrity", err)
}

// printReport writes the human report in ClawMetry's layout: Scope,
// Checked, Pre-chain (when not zero), Result.
func printReport(w io.Writer, r *chainlog.Report) {
	scope := "all nodes"
	if r.NodeID != chainlog.ScopeAll {
		scope = "node " + r.NodeID
	}
	fmt.Fprintf(w, "Scope:     %s\n", scope)
	fmt.Fprintf(w, "Checked:   %d events\n", r.Checked)
	if r.PreChain > 0 {
		fmt.Fprintf(w, "Pre-chain: %d events (no chain hash: written with integrity off or before chains)\n", r.PreChain)
	}
	fmt.Fprintf(w, "Payloads:  %d checked against their last digest", r.PayloadsChecked)
	if r.PayloadsUnsealed > 0 {
		fmt.Fprintf(w, ", %d unsealed (stored before payload digests)", r.PayloadsUnsealed)
	}
	fmt.Fprintln(w)
	fmt.Fprintf(w, "Amendments: %d records, trail %s\n", r.Amendments.Checked, strings.ToUpper(r.Amendments.Status))
	switch r.Status {
	case chainlog.StatusValid:
		fmt.Fprintf(w, "Result:    VALID\n")
	case chainlog.StatusEmpty:
		fmt.Fprintf(w, "Result:    EMPTY (no chained events to verify)\n")
	default:
		b := r.BrokenAt
		fmt.Fprintf(w, "Result:    INVALID\n")
		fmt.Fprintf(w, "First break:\n")
		if b.Trail != "" {
			fmt.Fprintf(w, "  Trail:    %s\n", b.Trail)
		} else {
			fmt.Fprintf(w, "  Node:     %s\n", b.NodeID)
		}
		fmt.Fprintf(w, "  Seq:      %d\n", b.Seq)
		fmt.Fprintf(w, "  Event:    %s\n", orDash(b.EventID))
		fmt.Fprintf(w, "  Reason:   %s\n", b.Reason)
		if b.Detail != "" {
			fmt.Fprintf(w, "  Detail:   %s\n", b.Detail)
		}
		fmt.Fprintf(w, "  Expected: %s\n", orDash(b.Expected))
		fmt.Fprintf(w, "  Found:    %s\n", orDash(b.Found))
	}
	if len(r.Nodes) > 1 {
		fmt.Fprintf(w, "Nodes:\n")
		for _, n := range r.Nodes {
			line := fmt.Sprintf("  %-20s %s, %d checked", n.NodeID, strings.ToUpper(n.Status), n.Checked)
			if n.PreChain > 0 {
				line += fmt.Sprintf(", %d pre-chain", n.PreChain)
			}
			fmt.Fprintln(w, line)
		}
	}
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
