package retention

import (
	"context"
	"errors"
	"fmt"

	"chainlog"
	"chainlog/archive"

	"golang.org/x/mod/sumdb/note"
)

// DirArchiver writes the cuts' events to a new archive directory (package
// archive) and verifies it with the log's key before it reports success.
type DirArchiver struct {
	Source archive.Source
	Dir    string
	// Checkpoint returns a signed checkpoint whose tree holds every event
	// of the cuts: the store's latest, signed after the cuts were planned.
	Checkpoint func(ctx context.Context) ([]byte, error)
	// Verifier checks the checkpoint's signature.
	Verifier note.Verifier
}

// Archive implements Archiver.
func (a *DirArchiver) Archive(ctx context.Context, cuts []chainlog.PruneCut) (string, error) {
	if a.Verifier == nil {
		return "", errors.New("no verifier key to check the archive with")
	}
	signed, err := a.Checkpoint(ctx)
	if err != nil {
		return "", fmt.Errorf("sign a checkpoint that covers the archive: %w", err)
	}
	if signed == nil {
		return "", errors.New("the store has no signed checkpoint to prove the archive against: give a signer key")
	}
	if _, err := archive.Write(ctx, a.Source, a.Dir, cuts, signed); err != nil {
		return "", err
	}
	rep, err := archive.Verify(ctx, a.Dir, archive.Options{Verifiers: []note.Verifier{a.Verifier}})
	if err != nil {
		return "", fmt.Errorf("the archive written to %s does not verify: %w", a.Dir, err)
	}
	if want := eventsIn(cuts); rep.Events != want {
		return "", fmt.Errorf("the archive written to %s holds %d events, not the cuts' %d", a.Dir, rep.Events, want)
	}
	return a.Dir, nil
}

func eventsIn(cuts []chainlog.PruneCut) int64 {
	var n int64
	for _, c := range cuts {
		n += c.LastSeq - c.FirstSeq + 1
	}
	return n
}
