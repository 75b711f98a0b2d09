package main

import (
	"context"
	"errors"
	"fmt"

	"chainlog"
	"chainlog/archive"
	"chainlog/sqlite"
)

const verifyArchiveSynopsis = "verify-archive --key VERIFIER_KEY [--witness-key VKEY]... [--quorum N] [--store PATH] [--json] DIR"

// archiveOutput is what verify-archive --json prints.
type archiveOutput struct {
	Status string          `json:"status"`
	Error  *string         `json:"error"`
	Failed *archive.Error  `json:"failed,omitempty"` // the check that failed, with its evidence
	Report *archive.Report `json:"result,omitempty"`
	Store  string          `json:"store,omitempty"` // the store the archive was matched with
}

func runVerifyArchive(ctx context.Context, e *env, args []string) int {
	fs := newFlagSet(e, "verify-archive", verifyArchiveSynopsis)
	var keys multiFlag
	fs.Var(&keys, "key", "verifier `key` (the text keygen printed, or a file holding it); repeatable")
	var cosigned cosignedFlags
	cosigned.register(fs)
	store := fs.String("store", "", "also check that the archive is exactly what this store's prune records name (`path`)")
	jsonOut := fs.Bool("json", false, "print the result as JSON")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return flagExit(err)
	}
	if len(pos) != 1 || len(keys) == 0 {
		return usageError(e, fs, "want --key and one archive directory")
	}
	vs, err := loadVerifiers(keys)
	if err != nil {
		return usageError(e, fs, "%v", err)
	}
	if err := cosigned.load(); err != nil {
		return usageError(e, fs, "%v", err)
	}
	opts := archive.Options{Verifiers: vs}
	if len(cosigned.verifiers) > 0 {
		opts.Cosigned = cosigned.check
	}
	rep, err := archive.Verify(ctx, pos[0], opts)
	if err == nil && *store != "" {
		err = checkArchiveStore(ctx, pos[0], *store)
	}
	out := archiveOutput{Status: chainlog.StatusValid, Report: rep, Store: *store}
	if err != nil {
		if !errors.Is(err, archive.ErrInvalid) {
			return fail(e, "verify-archive", err)
		}
		s := err.Error()
		out.Status, out.Error, out.Report = chainlog.StatusInvalid, &s, nil
		out.Failed, _ = errors.AsType[*archive.Error](err)
	}
	return printArchive(e, *jsonOut, &out)
}

func checkArchiveStore(ctx context.Context, dir, path string) error {
	st, err := sqlite.OpenReadOnly(ctx, path)
	if err != nil {
		return err
	}
	defer st.Close()
	return archive.CheckStore(ctx, dir, st)
}

func printArchive(e *env, jsonOut bool, out *archiveOutput) int {
	code := exitOK
	if out.Status != chainlog.StatusValid {
		code = exitInvalid
	}
	if jsonOut {
		writeJSON(e.stdout, out)
		return code
	}
	if out.Error != nil {
		fmt.Fprintf(e.stdout, "Result:    INVALID\nReason:    %s\n", *out.Error)
		return code
	}
	r := out.Report
	fmt.Fprintf(e.stdout, "Log:       %s, checkpoint of %s leaves\n", r.Origin, chainlog.Thousands(r.TreeSize))
	fmt.Fprintf(e.stdout, "Events:    %s, %s amendments, %s tree hashes\n", chainlog.Thousands(r.Events), chainlog.Thousands(r.Amendments), chainlog.Thousands(r.TreeHashes))
	for _, n := range r.Nodes {
		from := "genesis"
		if n.FirstSeq > 1 {
			from = "the previous prune's anchor " + n.PrevAnchor
		}
		fmt.Fprintf(e.stdout, "Node:      %s seq %s-%s (%s events), from %s to anchor %s\n", n.NodeID,
			chainlog.Thousands(n.FirstSeq), chainlog.Thousands(n.LastSeq), chainlog.Thousands(n.Count), from, n.Anchor)
	}
	if out.Store != "" {
		fmt.Fprintf(e.stdout, "Store:     the archive is exactly what the store's prune records name\n")
	}
	fmt.Fprintf(e.stdout, "Result:    VALID\n")
	return code
}
