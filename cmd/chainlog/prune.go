package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"chainlog"
	"chainlog/retention"
	"chainlog/sqlite"
)

const pruneSynopsis = "prune [--store PATH] (--before TIME | --older-than AGE) [--node-id ID] --reason TEXT --actor NAME (--archive DIR | --no-archive) [--dry-run] [--vacuum] [--json]"

// pruneFlags are prune's own flags.
type pruneFlags struct {
	before, olderThan string
	node              string
	reason, actor     string
	archive           string
	noArchive         bool
	dryRun, vacuum    bool
	json              bool
}

// cut returns the cut time the flags give, at now.
func (f *pruneFlags) cut(now time.Time) (time.Time, error) {
	switch {
	case f.before != "" && f.olderThan != "":
		return time.Time{}, fmt.Errorf("give --before or --older-than, not both")
	case f.before != "":
		return parseCutTime(f.before)
	case f.olderThan != "":
		age, err := retention.ParseAge(f.olderThan)
		if err != nil {
			return time.Time{}, fmt.Errorf("--older-than: %w", err)
		}
		return now.Add(-age), nil
	}
	return time.Time{}, fmt.Errorf("give the cut: --before TIME or --older-than AGE")
}

// parseCutTime reads --before: an RFC 3339 time, or a date (midnight UTC).
func parseCutTime(s string) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		return t, nil
	}
	return time.Time{}, fmt.Errorf("--before %q: want an RFC 3339 time (2026-06-01T00:00:00Z) or a date (2026-06-01)", s)
}

// vacuumer is a store that can give freed space back (SQLite).
type vacuumer interface {
	Vacuum(ctx context.Context) (before, after int64, err error)
}

// pruneOutput is what prune --json prints.
type pruneOutput struct {
	*retention.Result
	Vacuum *vacuumResult `json:"vacuum,omitempty"`
}

type vacuumResult struct {
	Before int64 `json:"bytes_before"`
	After  int64 `json:"bytes_after"`
}

func runPrune(ctx context.Context, e *env, args []string) int {
	fs := newFlagSet(e, "prune", pruneSynopsis)
	store := storeFlag(e, fs)
	var cp checkpointFlags
	cp.register(fs, e)
	var f pruneFlags
	fs.StringVar(&f.before, "before", "", "prune the events older than this `time` (RFC 3339, or a date: midnight UTC)")
	fs.StringVar(&f.olderThan, "older-than", "", "prune the events older than this `age` (180d, 26w, 720h)")
	fs.StringVar(&f.node, "node-id", "", "prune only this node's events (default: every node)")
	fs.StringVar(&f.reason, "reason", "", "why the events are pruned (required; recorded in the prune record)")
	fs.StringVar(&f.actor, "actor", "", "who prunes them (required; recorded in the prune record)")
	registerArchiveFlag(fs, &f)
	fs.BoolVar(&f.noArchive, "no-archive", false, "prune without writing an archive: the pruned events are gone for good")
	fs.BoolVar(&f.dryRun, "dry-run", false, "show what would be pruned, and change nothing")
	fs.BoolVar(&f.vacuum, "vacuum", false, "after the prune, give the freed space back to the file system (VACUUM: needs free space the size of the store)")
	fs.BoolVar(&f.json, "json", false, "print the result as JSON")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return flagExit(err)
	}
	if len(pos) != 0 {
		return usageError(e, fs, "unexpected argument %q", pos[0])
	}
	before, err := f.cut(time.Now())
	if err != nil {
		return usageError(e, fs, "%v", err)
	}
	if strings.TrimSpace(f.reason) == "" || strings.TrimSpace(f.actor) == "" {
		return usageError(e, fs, "--reason and --actor are required: the prune record keeps why and by whom")
	}
	if f.archive != "" && f.noArchive {
		return usageError(e, fs, "give --archive DIR or --no-archive, not both")
	}
	if f.archive == "" && !f.noArchive && !f.dryRun {
		return usageError(e, fs, "give --archive DIR, or --no-archive to prune without keeping the events")
	}
	path, err := store()
	if err != nil {
		return fail(e, "prune", err)
	}
	if err := cp.setup(path); err != nil {
		return fail(e, "prune", err)
	}
	st, err := openExisting(ctx, path, sqlite.Options{})
	if err != nil {
		return fail(e, "prune", err)
	}
	defer st.Close()
	if _, ok := st.(vacuumer); f.vacuum && !ok {
		return fail(e, "prune", errors.New("--vacuum is for SQLite stores: PostgreSQL gives the space back through its own VACUUM"))
	}
	req := retention.Request{Before: before, NodeID: f.node, Reason: f.reason, Actor: f.actor, NoArchive: f.noArchive, DryRun: f.dryRun}
	if f.archive != "" && !f.dryRun {
		if req.Archiver, err = newStoreArchiver(st, &cp, f.archive); err != nil {
			return fail(e, "prune", err)
		}
	}
	res, err := retention.Prune(ctx, st, req)
	if err != nil {
		return fail(e, "prune", err)
	}
	out := pruneOutput{Result: res}
	if len(res.Records) > 0 {
		// The next checkpoint commits to the trail's new head.
		if err := cp.run(ctx, st); err != nil {
			return fail(e, "prune", fmt.Errorf("%d events pruned (records #%d-#%d), but the checkpoint failed: %w",
				res.Events, res.Records[0].Seq, res.Records[len(res.Records)-1].Seq, err))
		}
	}
	if f.vacuum && !f.dryRun {
		b, a, err := st.(vacuumer).Vacuum(ctx)
		if err != nil {
			return fail(e, "prune", fmt.Errorf("pruned, but vacuum failed: %w", err))
		}
		out.Vacuum = &vacuumResult{Before: b, After: a}
	}
	if f.json {
		writeJSON(e.stdout, out)
		return exitOK
	}
	printPrune(e, &out)
	return exitOK
}

func printPrune(e *env, out *pruneOutput) {
	res := out.Result
	verb := "pruned"
	if res.DryRun {
		verb = "would prune"
	}
	if len(res.Cuts) == 0 {
		fmt.Fprintf(e.stdout, "nothing to prune before %s\n", chainlog.FormatPruneTime(res.Before))
	} else {
		fmt.Fprintf(e.stdout, "%s %s events of %d nodes before %s\n", verb, chainlog.Thousands(res.Events), len(res.Cuts), chainlog.FormatPruneTime(res.Before))
	}
	for i, c := range res.Cuts {
		rec := ""
		if i < len(res.Records) {
			rec = fmt.Sprintf(" (prune record #%d)", res.Records[i].Seq)
		}
		fmt.Fprintf(e.stdout, "  %s seq %s-%s: %s events%s\n", c.NodeID, chainlog.Thousands(c.FirstSeq), chainlog.Thousands(c.LastSeq),
			chainlog.Thousands(c.LastSeq-c.FirstSeq+1), rec)
	}
	if res.Archive != "" {
		fmt.Fprintf(e.stdout, "archive: %s (written and verified before the prune)\n", res.Archive)
	}
	if v := out.Vacuum; v != nil {
		fmt.Fprintf(e.stdout, "vacuum: %s bytes -> %s bytes\n", chainlog.Thousands(v.Before), chainlog.Thousands(v.After))
	}
}
