package main

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"text/tabwriter"

	"chainlog/bench"
	"chainlog/postgres"
)

func runBench(ctx context.Context, e *env, args []string) int {
	fs := newFlagSet(e, "bench", "bench [--events N] [--runs R] [--batch B] [--nodes K] [--http-events N] [--http-only] [--dir DIR] [--payload small|realistic] [--events-file FILE] [--store postgres://…] [--json]")
	var cfg bench.Config
	fs.IntVar(&cfg.Events, "events", 1_000_000, "events per store")
	fs.IntVar(&cfg.Runs, "runs", 3, "runs; the median and min-max are reported")
	fs.IntVar(&cfg.Batch, "batch", 1000, "events per commit")
	fs.IntVar(&cfg.Nodes, "nodes", 4, "distinct node ids")
	fs.StringVar(&cfg.Store, "store", "", "a PostgreSQL `URL` (postgres://…): measure the PostgreSQL store, in schemas made and dropped on its database, instead of SQLite files")
	fs.StringVar(&cfg.Dir, "dir", "", "directory for the generated stores (default: a temporary directory)")
	fs.IntVar(&cfg.HTTPEvents, "http-events", 200000, "events posted by each HTTP measurement (a quarter of it for single-event requests); 0 skips them")
	fs.BoolVar(&cfg.HTTPOnly, "http-only", false, "run only the HTTP measurements: NDJSON batches, single events, and OTLP/HTTP logs against NDJSON in batches of 512")
	fs.StringVar(&cfg.Payload, "payload", bench.PayloadRealistic, "shape of the generated events: realistic (Claude Code tool calls with usage and model, 400-700 bytes of data) or small (~100 bytes)")
	fs.StringVar(&cfg.EventsFile, "events-file", "", "measure the events of this NDJSON file, as chainlog export writes it, instead of generated ones (--events is then the file's count)")
	jsonOut := fs.Bool("json", false, "print the results as JSON")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return flagExit(err)
	}
	if len(pos) != 0 {
		return usageError(e, fs, "unexpected argument %q", pos[0])
	}
	for _, n := range []struct {
		name string
		v    int
	}{{"events", cfg.Events}, {"runs", cfg.Runs}, {"batch", cfg.Batch}, {"nodes", cfg.Nodes}} {
		if err := positive(n.name, int64(n.v), strconv.Itoa(n.v)); err != nil {
			return usageError(e, fs, "%v", err)
		}
	}
	if cfg.Payload != bench.PayloadSmall && cfg.Payload != bench.PayloadRealistic {
		return usageError(e, fs, "--payload %q: want small or realistic", cfg.Payload)
	}
	if cfg.HTTPEvents < 0 {
		return usageError(e, fs, "--http-events %d: want 0 (none) or more", cfg.HTTPEvents)
	}
	if cfg.HTTPOnly && cfg.HTTPEvents == 0 {
		return usageError(e, fs, "--http-only with --http-events 0 measures nothing")
	}
	if cfg.Store != "" && !postgres.IsURL(cfg.Store) {
		return usageError(e, fs, "--store %q: the bench measures SQLite in files of its own (--dir); --store takes a postgres:// URL", cfg.Store)
	}
	cfg.Progress = func(msg string) { fmt.Fprintln(e.stderr, "bench:", msg) }
	res, err := bench.Run(ctx, cfg)
	if err != nil {
		return fail(e, "bench", err)
	}
	if *jsonOut {
		writeJSON(e.stdout, res)
		return exitOK
	}
	printBench(e.stdout, res)
	return exitOK
}

func printBench(w io.Writer, r *bench.Result) {
	if r.Events > 0 {
		fmt.Fprintf(w, "%d events, batches of %d, %d nodes, %d runs, payload %s\n", r.Events, r.Batch, r.Nodes, r.Runs, r.Payload)
		if r.EventsFile != "" {
			fmt.Fprintf(w, "events from %s\n", r.EventsFile)
		}
	}
	if r.HTTPEvents > 0 {
		fmt.Fprintf(w, "%d events posted by each HTTP measurement, %d runs\n", r.HTTPEvents, r.Runs)
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "measure\tmedian\tmin\tmax\tunit")
	for _, m := range r.Measures {
		f := "%.0f"
		if m.Unit == "" || m.Unit == "ms" || m.Unit == "MiB" {
			f = "%.3f"
		}
		fmt.Fprintf(tw, "%s\t"+f+"\t"+f+"\t"+f+"\t%s\n", m.Name, m.Median, m.Min, m.Max, m.Unit)
	}
	tw.Flush()
}
