package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"chainlog/bench"
	"chainlog/postgres"
)

func runBench(ctx context.Context, e *env, args []string) int {
	fs := newFlagSet(e, "bench", "bench [--events N] [--runs R] [--batch B] [--nodes K] [--http-events N] [--http-only] [--dir DIR] [--payload small|realistic] [--events-file FILE] [--store postgres://…] [--fleet N --fleet-rate R --fleet-duration D [--fleet-commit T] [--fleet-batch B] [--fleet-poll T] --store postgres://…] [--json]")
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
	var fleet bench.FleetConfig
	fs.IntVar(&fleet.Nodes, "fleet", 0, "simulate a fleet of `N` nodes instead: each with its own SQLite store, generator and forwarder, forwarding to one in-process collector on the --store PostgreSQL database")
	fs.IntVar(&fleet.Rate, "fleet-rate", 100, "with --fleet: events/s each node commits")
	fs.DurationVar(&fleet.Duration, "fleet-duration", 30*time.Second, "with --fleet: how long the nodes' generators run")
	fs.DurationVar(&fleet.Commit, "fleet-commit", 100*time.Millisecond, "with --fleet: the nodes' group-commit interval")
	fs.IntVar(&fleet.Batch, "fleet-batch", 1000, "with --fleet: events a forwarder sends in one request, at most (serve's --forward-batch)")
	fs.DurationVar(&fleet.Poll, "fleet-poll", 200*time.Millisecond, "with --fleet: how often a caught-up forwarder looks for new events")
	jsonOut := fs.Bool("json", false, "print the results as JSON")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return flagExit(err)
	}
	if len(pos) != 0 {
		return usageError(e, fs, "unexpected argument %q", pos[0])
	}
	if fleet.Nodes != 0 {
		return runFleet(ctx, e, fs, fleet, cfg, jsonOut)
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

// runFleet is bench --fleet: the fleet simulation, its own runs (one
// unless --runs says otherwise).
func runFleet(ctx context.Context, e *env, fs *flag.FlagSet, fleet bench.FleetConfig, cfg bench.Config, jsonOut *bool) int {
	for _, n := range []struct {
		name string
		v    int64
		s    string
	}{{"fleet", int64(fleet.Nodes), strconv.Itoa(fleet.Nodes)}, {"fleet-rate", int64(fleet.Rate), strconv.Itoa(fleet.Rate)},
		{"fleet-duration", int64(fleet.Duration), fleet.Duration.String()}, {"fleet-commit", int64(fleet.Commit), fleet.Commit.String()},
		{"fleet-batch", int64(fleet.Batch), strconv.Itoa(fleet.Batch)}, {"fleet-poll", int64(fleet.Poll), fleet.Poll.String()},
		{"runs", int64(cfg.Runs), strconv.Itoa(cfg.Runs)}} {
		if err := positive(n.name, n.v, n.s); err != nil {
			return usageError(e, fs, "%v", err)
		}
	}
	if !postgres.IsURL(cfg.Store) {
		return usageError(e, fs, "--fleet needs --store postgres://…: the collector is a PostgreSQL store")
	}
	if cfg.Payload != bench.PayloadSmall && cfg.Payload != bench.PayloadRealistic {
		return usageError(e, fs, "--payload %q: want small or realistic", cfg.Payload)
	}
	fleet.Runs = 1
	fs.Visit(func(f *flag.Flag) {
		if f.Name == "runs" {
			fleet.Runs = cfg.Runs
		}
	})
	fleet.Store, fleet.Dir, fleet.Payload = cfg.Store, cfg.Dir, cfg.Payload
	fleet.Progress = func(msg string) { fmt.Fprintln(e.stderr, "bench:", msg) }
	res, err := bench.Fleet(ctx, fleet)
	if err != nil {
		return fail(e, "bench", err)
	}
	if *jsonOut {
		writeJSON(e.stdout, res)
		return exitOK
	}
	fmt.Fprintf(e.stdout, "fleet: %d nodes × %d events/s = %d events/s offered, for %gs; group commit every %gms, forward batches of %d, poll %gms; %d runs, payload %s\n",
		res.Nodes, res.Rate, res.Offered, res.Duration, res.CommitMs, res.Batch, res.PollMs, res.Runs, res.Payload)
	kept := "yes"
	if !res.KeptUp {
		kept = "no"
	}
	fmt.Fprintf(e.stdout, "kept up (backlog drained within 2 s of the nodes stopping): %s; collector verify-integrity: %s\n", kept, strings.Join(res.Verified, ", "))
	tw := tabwriter.NewWriter(e.stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "measure\tmedian\tmin\tmax\tunit")
	for _, m := range res.Measures {
		f := "%.0f"
		if m.Unit == "s" || m.Unit == "ms" {
			f = "%.3f"
		}
		fmt.Fprintf(tw, "%s\t"+f+"\t"+f+"\t"+f+"\t%s\n", m.Name, m.Median, m.Min, m.Max, m.Unit)
	}
	tw.Flush()
	return exitOK
}
