package main

import (
	"context"
	"fmt"

	"chainlog/pricing"
	"chainlog/sqlite"
)

func runBackfill(ctx context.Context, e *env, args []string) int {
	fs := newFlagSet(e, "backfill-costs", "backfill-costs [--store PATH] [--json]")
	store := storeFlag(e, fs)
	var cp checkpointFlags
	cp.register(fs, e)
	jsonOut := fs.Bool("json", false, "print the summary as JSON")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return flagExit(err)
	}
	if len(pos) != 0 {
		return usageError(e, fs, "unexpected argument %q", pos[0])
	}
	path, err := store()
	if err != nil {
		return fail(e, "backfill-costs", err)
	}
	if err := cp.setup(path); err != nil {
		return fail(e, "backfill-costs", err)
	}
	st, err := openExisting(ctx, path, sqlite.Options{})
	if err != nil {
		return fail(e, "backfill-costs", err)
	}
	defer st.Close()
	prices := pricing.Default()
	res, err := st.BackfillCosts(ctx, prices)
	if err != nil {
		return fail(e, "backfill-costs", err)
	}
	if err := cp.run(ctx, st); err != nil {
		return fail(e, "backfill-costs", fmt.Errorf("costs committed, but the checkpoint failed: %w", err))
	}
	if *jsonOut {
		writeJSON(e.stdout, struct {
			sqliteResult
			PriceSource string `json:"price_source"`
			PricesAsOf  string `json:"prices_as_of"`
		}{sqliteResult(res), prices.Source, prices.AsOf})
		return exitOK
	}
	fmt.Fprintf(e.stdout, "costed %d events (token_count filled on %d); skipped %d without usage, %d with an unknown model\n",
		res.Costed, res.TokensFilled, res.NoUsage, res.UnknownModel)
	fmt.Fprintf(e.stdout, "prices: %s (as of %s)\n", prices.Source, prices.AsOf)
	return exitOK
}

type sqliteResult = sqlite.BackfillResult
