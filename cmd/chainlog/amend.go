package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"strconv"
	"strings"
	"time"

	"chainlog"
	"chainlog/sqlite"
)

// amendFlags collects the field changes given on the command line; a flag
// that was not given leaves its field alone.
type amendFlags struct {
	patch chainlog.Patch
}

func (a *amendFlags) set(field string, fn func(v string) error) func(string) error {
	return func(v string) error {
		if err := fn(v); err != nil {
			return err
		}
		a.patch.Set = append(a.patch.Set, field)
		return nil
	}
}

// register adds --data, and unless dataOnly the other field flags.
func (a *amendFlags) register(fs *flag.FlagSet, dataOnly bool) {
	fs.Func("data", "new payload `JSON` (null clears it)", a.set(chainlog.FieldData, func(v string) error {
		if !json.Valid([]byte(v)) {
			return errors.New("not valid JSON")
		}
		if err := chainlog.CheckData([]byte(v)); err != nil {
			return err
		}
		// JSON null, whatever whitespace surrounds it, clears the column
		// (SQL NULL, as ingest stores it), not JSON text "null".
		if strings.TrimSpace(v) == "null" {
			a.patch.Values.Data = nil
		} else {
			a.patch.Values.Data = json.RawMessage(v)
		}
		return nil
	}))
	if dataOnly {
		return
	}
	fs.Func("cost-usd", "new cost in `USD` (empty clears it)", a.set(chainlog.FieldCostUSD, func(v string) error {
		if v == "" {
			return nil
		}
		f, err := strconv.ParseFloat(v, 64)
		a.patch.Values.CostUSD = &f
		return err
	}))
	fs.Func("token-count", "new token `count` (empty clears it)", a.set(chainlog.FieldTokenCount, func(v string) error {
		if v == "" {
			return nil
		}
		n, err := strconv.ParseInt(v, 10, 64)
		a.patch.Values.TokenCount = &n
		return err
	}))
	fs.Func("model", "new model `name` (empty clears it)", a.set(chainlog.FieldModel, func(v string) error {
		if v != "" {
			a.patch.Values.Model = &v
		}
		return nil
	}))
}

func runAmend(ctx context.Context, e *env, args []string) int {
	return amendCommand(ctx, e, args, chainlog.KindAmend)
}

func runRedact(ctx context.Context, e *env, args []string) int {
	return amendCommand(ctx, e, args, chainlog.KindRedact)
}

// redactedData replaces a payload when redact is given no --data.
const redactedData = `{"redacted":true}`

func amendCommand(ctx context.Context, e *env, args []string, kind string) int {
	name := "amend"
	synopsis := "amend [--store PATH] --reason TEXT --actor NAME [--data JSON] [--cost-usd N] [--token-count N] [--model NAME] [--json] EVENT_ID"
	if kind == chainlog.KindRedact {
		name = "redact"
		synopsis = "redact [--store PATH] --reason TEXT --actor NAME [--data JSON] [--wal-wait DURATION] [--json] EVENT_ID"
	}
	fs := newFlagSet(e, name, synopsis)
	store := storeFlag(e, fs)
	var cp checkpointFlags
	cp.register(fs, e)
	reason := fs.String("reason", "", "why the event is changed (required; recorded in the trail)")
	actor := fs.String("actor", "", "who changes it (required; recorded in the trail)")
	jsonOut := fs.Bool("json", false, "print the amendment record as JSON")
	var af amendFlags
	af.register(fs, kind == chainlog.KindRedact)
	var opts sqlite.Options
	if kind == chainlog.KindRedact {
		fs.DurationVar(&opts.WALTruncateWait, "wal-wait", 10*time.Second,
			"how long to retry clearing the removed text from the WAL while another process reads the store")
	}
	pos, err := parseFlags(fs, args)
	if err != nil {
		return flagExit(err)
	}
	if len(pos) != 1 {
		return usageError(e, fs, "want exactly one event id")
	}
	if kind == chainlog.KindRedact && len(af.patch.Set) == 0 { // redact takes --data only
		af.patch.Set, af.patch.Values.Data = []string{chainlog.FieldData}, json.RawMessage(redactedData)
	}
	if len(af.patch.Set) == 0 {
		return usageError(e, fs, "nothing to change: give --data, --cost-usd, --token-count or --model")
	}
	if strings.TrimSpace(*reason) == "" || strings.TrimSpace(*actor) == "" {
		return usageError(e, fs, "--reason and --actor are required: the trail records why and by whom")
	}
	path, err := store()
	if err != nil {
		return fail(e, name, err)
	}
	if err := cp.setup(path); err != nil {
		return fail(e, name, err)
	}
	st, err := openExisting(ctx, path, opts)
	if err != nil {
		return fail(e, name, err)
	}
	defer st.Close()
	rec, err := st.Amend(ctx, sqlite.AmendRequest{EventID: pos[0], Patch: af.patch, Kind: kind, Reason: *reason, Actor: *actor})
	if errors.Is(err, chainlog.ErrNotFound) {
		return fail(e, name, fmt.Errorf("no event with id %q", pos[0]))
	}
	// A redaction whose text is still in the WAL is committed: it is
	// reported as such, with exit code 1, and must not be made again.
	walErr := err
	if !errors.Is(err, sqlite.ErrWALNotTruncated) {
		walErr = nil
		if err != nil {
			return fail(e, name, err)
		}
	}
	// A checkpoint records the trail's new head outside the store.
	if err := cp.run(ctx, st); err != nil {
		return fail(e, name, fmt.Errorf("amendment #%d committed, but the checkpoint failed: %w", rec.Seq, err))
	}
	if *jsonOut {
		writeJSON(e.stdout, rec)
	} else {
		fmt.Fprintf(e.stdout, "amendment #%d on %s: %s %v\n", rec.Seq, rec.EventID, rec.Kind, rec.Fields)
	}
	if walErr != nil {
		fmt.Fprintf(e.stderr, "chainlog %s: %v\n", name, walErr)
		fmt.Fprintln(e.stderr, "hint: do not redact it again; the text leaves the WAL when the process reading the store ends its read and the last one to close the store checkpoints it")
		return exitInvalid
	}
	return exitOK
}
