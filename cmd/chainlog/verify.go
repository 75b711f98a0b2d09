package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"

	"chainlog"
	"chainlog/sqlite"

	"golang.org/x/mod/sumdb/note"
)

func runVerify(ctx context.Context, e *env, args []string) int {
	fs := newFlagSet(e, "verify-integrity", "verify-integrity [--store PATH] [--node-id ID] [--checkpoint FILE --key VERIFIER_KEY [--witness-key VKEY]... [--quorum N]]... [--integrity-check] [--json]")
	store := storeFlag(e, fs)
	nodeID := fs.String("node-id", "", "verify only this node's chain")
	jsonOut := fs.Bool("json", false, "print the report as JSON")
	integrity := fs.Bool("integrity-check", false, "check the file with SQLite's integrity_check (every index against its table; slower) instead of quick_check")
	var cpFiles, keys multiFlag
	fs.Var(&cpFiles, "checkpoint", "compare the store with every signed checkpoint in this `file`; repeatable")
	fs.Var(&keys, "key", "verifier `key` for the checkpoints (the text keygen printed, or a file holding it); repeatable")
	var cosigned cosignedFlags
	cosigned.register(fs)
	pos, err := parseFlags(fs, args)
	if err != nil {
		return flagExit(err)
	}
	if len(pos) != 0 {
		return usageError(e, fs, "unexpected argument %q", pos[0])
	}
	if len(cpFiles) > 0 && len(keys) == 0 {
		return usageError(e, fs, "--checkpoint needs --key: a checkpoint proves nothing without its signature")
	}
	verifiers, err := loadVerifiers(keys)
	if err != nil {
		return usageError(e, fs, "%v", err)
	}
	if err := cosigned.load(); err != nil {
		return usageError(e, fs, "%v", err)
	}
	if len(cosigned.verifiers) > 0 && len(cpFiles) == 0 {
		return usageError(e, fs, "--witness-key needs --checkpoint: the cosigned checkpoints file (STORE.cosigned) to check")
	}
	path, err := store()
	if err != nil {
		return verifyFailed(e, *jsonOut, *nodeID, err)
	}
	var opts []sqlite.ReadOption
	if *integrity {
		opts = append(opts, sqlite.WithIntegrityCheck())
	}
	st, err := openRead(ctx, path, opts...)
	if err != nil {
		return verifyFailed(e, *jsonOut, *nodeID, err)
	}
	defer st.Close()
	// The checkpoints are read before the snapshot: a daemon signs one only
	// after committing the tree it covers, so every checkpoint read now is
	// of a tree the snapshot holds. Read inside it, a checkpoint signed
	// meanwhile would be larger than the snapshot's tree: a false INVALID.
	cps, err := gatherCheckpoints(ctx, st, cpFiles, verifiers, &cosigned)
	if err != nil {
		return verifyFailed(e, *jsonOut, *nodeID, err)
	}
	// The one pass reads rows into reused buffers, but the node-ordered
	// walk it falls back to on a tampered store allocates every row's
	// column strings and keeps almost none.
	defer streamGC()()
	// One read snapshot: a daemon may be writing to the store meanwhile,
	// and heads, rows, trail and tree must all be read at one point.
	var rep *chainlog.Report
	err = st.Snapshot(ctx, func() error {
		var err error
		rep, err = chainlog.VerifyStore(ctx, st, chainlog.VerifyOptions{NodeID: *nodeID, Checkpoints: cps})
		if err == nil && *nodeID != "" && rep.Status == chainlog.StatusEmpty {
			// EMPTY for a node the store does not have is most likely a
			// mistyped node_id: say so, and which nodes there are.
			err = chainlog.CheckNode(ctx, st, *nodeID)
		}
		return err
	})
	if err != nil {
		return verifyFailed(e, *jsonOut, *nodeID, err)
	}
	if *jsonOut {
		writeJSON(e.stdout, rep)
	} else {
		printReport(e.stdout, rep, chainLayout(st))
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
// Checked, Pre-chain (when not zero), Result. layout is how the store
// holds its chains, which says what its pre-chain rows are.
func printReport(w io.Writer, r *chainlog.Report, layout sqlite.ChainLayout) {
	scope := "all nodes"
	if r.NodeID != chainlog.ScopeAll {
		scope = "node " + r.NodeID
	}
	fmt.Fprintf(w, "Scope:     %s\n", scope)
	if layout == sqlite.ChainsUnnumbered {
		fmt.Fprintf(w, "Chains:    ClawMetry's, without chain_seq: a seq is the row's place in its node's insertion order, as an upgrade numbers it\n")
	}
	fmt.Fprintf(w, "Checked:   %d events\n", r.Checked)
	if r.PreChain > 0 {
		fmt.Fprintf(w, "Pre-chain: %d events (%s)\n", r.PreChain, preChainWhy(layout))
	}
	fmt.Fprintf(w, "Payloads:  %d checked against their last digest", r.PayloadsChecked)
	if r.PayloadsUnsealed > 0 {
		fmt.Fprintf(w, ", %d unsealed (stored before payload digests)", r.PayloadsUnsealed)
	}
	fmt.Fprintln(w)
	for _, p := range r.Prunes {
		fmt.Fprintf(w, "Pruned:    %s\n", p)
	}
	if r.Pruned > 0 {
		fmt.Fprintf(w, "           %d pruned events' links checked up to their prune records' anchors\n", r.Pruned)
	}
	fmt.Fprintf(w, "Amendments: %d records, trail %s", r.Amendments.Checked, strings.ToUpper(r.Amendments.Status))
	if a := r.Amendments; a.Anchors > 0 {
		// The anchors are events of their own node: prove one with
		// chainlog prove --id amendments:<seq>:<hash>.
		fmt.Fprintf(w, ", anchored in the tree up to #%d (%d anchor events on %s)", a.AnchoredSeq, a.Anchors, chainlog.AnchorNode)
	}
	fmt.Fprintln(w)
	printTree(w, r.Tree)
	if r.Forks > 0 {
		fmt.Fprintf(w, "Forks:     %d fork evidence records from nodes (see chainlog forks)\n", r.Forks)
	}
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
		}
		if b.Trail == "" || b.NodeID != "" {
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

// preChainWhy says what the pre-chain rows of a store with layout are.
func preChainWhy(layout sqlite.ChainLayout) string {
	switch layout {
	case sqlite.ChainsNone:
		return "the store has no chain columns: written before chains"
	case sqlite.ChainsIncomplete:
		return "chain columns not read: the events table lacks some of them"
	}
	return "no chain hash: written with integrity off or before chains"
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// storeCopySource labels the checkpoint kept in the store itself.
const storeCopySource = "the store's own copy (proves less than a checkpoint kept outside the store: pass --checkpoint and --key)"

// gatherCheckpoints reads every checkpoint to compare the store with: each
// note of each --checkpoint file, its signature (and, with --witness-key,
// its cosignatures) checked, or else the copy kept in the store.
func gatherCheckpoints(ctx context.Context, st cliStore, files []string, vs []note.Verifier, cosigned *cosignedFlags) ([]chainlog.SourcedCheckpoint, error) {
	var cps []chainlog.SourcedCheckpoint
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("read checkpoint: %w", err)
		}
		notes := chainlog.SplitNotes(data)
		if len(notes) == 0 {
			return nil, fmt.Errorf("checkpoint file %s holds no checkpoint", f)
		}
		for i, n := range notes {
			sc := chainlog.SourcedCheckpoint{Source: fmt.Sprintf("%s #%d", f, i+1)}
			c, err := openWithAny(n, vs)
			if err == nil {
				err = cosigned.check(n)
			}
			if err != nil {
				sc.Checkpoint, _ = chainlog.ParseSignedCheckpoint(n)
				sc.Invalid = err.Error()
			} else {
				sc.Checkpoint = c
			}
			cps = append(cps, sc)
		}
	}
	if len(files) > 0 {
		return cps, nil
	}
	signed, err := st.LatestCheckpoint(ctx)
	if err != nil || signed == nil {
		return nil, err
	}
	sc := chainlog.SourcedCheckpoint{Source: storeCopySource}
	if len(vs) > 0 {
		sc.Checkpoint, err = openWithAny(signed, vs)
	} else {
		sc.Checkpoint, err = chainlog.ParseSignedCheckpoint(signed)
	}
	if err != nil {
		sc.Invalid = err.Error()
		// Still report which checkpoint it is, as for a file's notes.
		sc.Checkpoint, _ = chainlog.ParseSignedCheckpoint(signed)
	}
	return append(cps, sc), nil
}

func printTree(w io.Writer, t *chainlog.TreeReport) {
	if t == nil {
		return
	}
	fmt.Fprintf(w, "Tree:      %d leaves, %s\n", t.Leaves, strings.ToUpper(t.Status))
	if len(t.Checkpoints) == 0 {
		fmt.Fprintf(w, "Checkpoints: none compared (sign checkpoints with a key from `chainlog keygen`)\n")
		return
	}
	valid, largest := 0, int64(0)
	for _, c := range t.Checkpoints {
		if c.Status == chainlog.StatusValid {
			valid++
			largest = max(largest, c.Size)
		}
	}
	fmt.Fprintf(w, "Checkpoints: %d compared, %d VALID (largest size %d)\n", len(t.Checkpoints), valid, largest)
	listed := 0
	for _, c := range t.Checkpoints {
		if c.Status == chainlog.StatusValid && len(t.Checkpoints) > maxListedCheckpoints {
			continue // many valid ones: the count says enough
		}
		if listed++; listed > maxListedCheckpoints {
			fmt.Fprintf(w, "  ... (--json lists them all)\n")
			break
		}
		line := fmt.Sprintf("  size %-10d %s  from %s", c.Size, strings.ToUpper(c.Status), c.Source)
		if c.Reason != "" {
			line += ": " + c.Reason
		}
		fmt.Fprintln(w, line)
	}
}

// maxListedCheckpoints bounds the checkpoints listed one by one.
const maxListedCheckpoints = 5
