package daemon

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"chainlog/archive"
	"chainlog/retention"

	"golang.org/x/mod/sumdb/note"
)

// newArchiver returns the archiver of the retention run at now: a new
// directory under dir, named by the run's time (with -2, -3, ... when a
// run of the same millisecond made one), proven against a checkpoint
// signed (by sign) after the cuts were planned.
func newArchiver(st prunable, dir string, now time.Time, v note.Verifier, sign func(context.Context) error) retention.Archiver {
	name := now.UTC().Format("20060102T150405.000Z")
	path := filepath.Join(dir, name)
	for i := 2; exists(path); i++ {
		path = filepath.Join(dir, fmt.Sprintf("%s-%d", name, i))
	}
	return &archive.Archiver{Source: st, Dir: path, Options: archive.Options{Verifiers: []note.Verifier{v}},
		Checkpoint: func(ctx context.Context) ([]byte, error) {
			if err := sign(ctx); err != nil {
				return nil, err
			}
			return st.LatestCheckpoint(ctx)
		}}
}

func exists(path string) bool {
	_, err := os.Lstat(path)
	return err == nil
}
