package archive

import (
	"context"
	"errors"
	"fmt"

	"chainlog"
)

// Archiver keeps the events of a prune's cuts before they are pruned: it
// implements retention.Archiver. Archive writes the archive into Dir
// (Write), checks it with the log's keys (Verify) and that it holds
// exactly the cuts, and only then returns Dir.
type Archiver struct {
	Source Source
	Dir    string
	// Checkpoint returns the signed checkpoint to prove the events
	// against; its tree must hold every event of the cuts (sign one after
	// the last ingest, before the prune).
	Checkpoint func(ctx context.Context) ([]byte, error)
	// Options are the keys the archive is verified with.
	Options Options
}

// Archive writes, verifies and returns the archive of cuts.
func (a *Archiver) Archive(ctx context.Context, cuts []chainlog.PruneCut) (string, error) {
	if a.Checkpoint == nil {
		return "", errors.New("archive: no checkpoint to prove the events against")
	}
	signed, err := a.Checkpoint(ctx)
	if err != nil {
		return "", fmt.Errorf("archive: checkpoint: %w", err)
	}
	if _, err := Write(ctx, a.Source, a.Dir, cuts, signed); err != nil {
		return "", err
	}
	rep, err := Verify(ctx, a.Dir, a.Options)
	if err != nil {
		return "", fmt.Errorf("archive %s was written, but does not verify: %w", a.Dir, err)
	}
	if err := sameCuts(rep.Nodes, cuts); err != nil {
		return "", fmt.Errorf("archive %s: %w", a.Dir, err)
	}
	return a.Dir, nil
}

// sameCuts checks that the verified nodes are exactly the cuts.
func sameCuts(nodes []Node, cuts []chainlog.PruneCut) error {
	if len(nodes) != len(cuts) {
		return fmt.Errorf("it holds %d cuts, not the %d planned", len(nodes), len(cuts))
	}
	byNode := make(map[string]*Node, len(nodes))
	for i := range nodes {
		byNode[nodes[i].NodeID] = &nodes[i]
	}
	for _, c := range cuts {
		n := byNode[c.NodeID]
		if n == nil || n.FirstSeq != c.FirstSeq || n.LastSeq != c.LastSeq || n.Anchor != c.Anchor {
			return fmt.Errorf("its cut of node %q is not the planned seq %d-%d to anchor %s", c.NodeID, c.FirstSeq, c.LastSeq, c.Anchor)
		}
	}
	return nil
}
