package main

import (
	"context"
	"errors"
	"flag"

	"chainlog/archive"
	"chainlog/retention"

	"golang.org/x/mod/sumdb/note"
)

func registerArchiveFlag(fs *flag.FlagSet, f *pruneFlags) {
	fs.StringVar(&f.archive, "archive", "", "before pruning, write the pruned events, their proofs and the signed checkpoint to this new `dir`, and verify it (needs a signer key)")
}

// newStoreArchiver returns the archiver of prune --archive DIR: it signs a
// checkpoint of the store as it is, so that one covers every planned
// event, writes the archive against it, and verifies it with the signer's
// verifier key.
func newStoreArchiver(st cliStore, cp *checkpointFlags, dir string) (retention.Archiver, error) {
	if cp.signer == nil {
		return nil, errors.New("--archive needs a signer key (--signer-key, CHAINLOG_SIGNER_KEY or chainlog keygen): an archive holds the signed checkpoint that proves its events")
	}
	return &archive.Archiver{Source: st, Dir: dir, Options: archive.Options{Verifiers: []note.Verifier{cp.verifier}},
		Checkpoint: func(ctx context.Context) ([]byte, error) {
			if err := cp.sign(ctx, st); err != nil {
				return nil, err
			}
			return st.LatestCheckpoint(ctx)
		}}, nil
}
