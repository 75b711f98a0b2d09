package main

import (
	"context"
	"fmt"

	"chainlog/publish"
	"chainlog/tiles"
)

func runExportTiles(ctx context.Context, e *env, args []string) int {
	fs := newFlagSet(e, "export-tiles", "export-tiles [--store PATH] [--checkpoint-file FILE] [--json] DIR")
	store := storeFlag(e, fs)
	file := fs.String("checkpoint-file", "", "the checkpoint `file` whose last checkpoint is exported (default $CHAINLOG_CHECKPOINT_FILE, else STORE.checkpoints)")
	jsonOut := fs.Bool("json", false, "print what was written as JSON")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return flagExit(err)
	}
	if len(pos) != 1 {
		return usageError(e, fs, "want one folder to write the tiles into")
	}
	path, err := store()
	if err != nil {
		return fail(e, "export-tiles", err)
	}
	if *file == "" {
		*file = e.getenv("CHAINLOG_CHECKPOINT_FILE")
	}
	if *file == "" {
		base, err := sidecar(e, path)
		if err != nil {
			return fail(e, "export-tiles", err)
		}
		*file = base + ".checkpoints"
	}
	signed, err := publish.File{Path: *file}.Last()
	if err != nil {
		return fail(e, "export-tiles", err)
	}
	if signed == nil {
		return fail(e, "export-tiles", fmt.Errorf("%s holds no signed checkpoint: make a key with chainlog keygen, then serve or ingest sign one", *file))
	}
	st, err := openRead(ctx, path)
	if err != nil {
		return fail(e, "export-tiles", err)
	}
	defer st.Close()
	var bar *progress
	res, err := tiles.Export(ctx, st, pos[0], signed, tiles.ExportOptions{Progress: func(done, total int64) {
		if bar == nil {
			bar = newCountProgress(e, total, "leaves")
		}
		bar.set(done)
	}})
	if bar != nil {
		bar.finish()
	}
	if err != nil {
		return fail(e, "export-tiles", err)
	}
	if *jsonOut {
		writeJSON(e.stdout, struct {
			Dir     string `json:"dir"`
			OldSize int64  `json:"old_size"`
			Size    int64  `json:"size"`
			Tiles   int    `json:"tiles_written"`
			Bundles int    `json:"entry_bundles_written"`
		}{pos[0], res.OldSize, res.Size, res.Tiles, res.Bundles})
		return exitOK
	}
	fmt.Fprintf(e.stdout, "exported the tree of %d leaves to %s (was %d): %d tiles, %d entry bundles written\n",
		res.Size, pos[0], res.OldSize, res.Tiles, res.Bundles)
	return exitOK
}
