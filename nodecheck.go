package chainlog

import (
	"context"
	"fmt"
	"slices"
	"strings"
)

// NoSuchNodeError is the error for a node_id that has neither rows nor a
// chain head: a report scoped to it would be EMPTY, and a mistyped node
// would look like a valid one.
type NoSuchNodeError struct {
	NodeID string
	Known  []string // every node the store has, in byte order
}

// maxListedNodes bounds the nodes a NoSuchNodeError's message lists.
const maxListedNodes = 20

func (e *NoSuchNodeError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "no such node: %q; ", e.NodeID)
	if len(e.Known) == 0 {
		b.WriteString("the store has no nodes")
		return b.String()
	}
	b.WriteString("nodes in the store: ")
	for i, n := range e.Known {
		if i == maxListedNodes {
			fmt.Fprintf(&b, " and %d more", len(e.Known)-i)
			break
		}
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(n)
	}
	return b.String()
}

// CheckNode returns a *NoSuchNodeError when nodeID has no rows and no
// chain head in src, and nil when it has either. It reads src's Heads and
// Nodes.
func CheckNode(ctx context.Context, src RangeSource, nodeID string) error {
	heads, err := src.Heads(ctx, nodeID)
	if err != nil {
		return fmt.Errorf("read chain heads: %w", err)
	}
	if len(heads) > 0 {
		return nil
	}
	nodes, err := src.Nodes(ctx)
	if err != nil {
		return fmt.Errorf("list nodes: %w", err)
	}
	if slices.Contains(nodes, nodeID) {
		return nil
	}
	if heads, err = src.Heads(ctx, ""); err != nil {
		return fmt.Errorf("read chain heads: %w", err)
	}
	for _, h := range heads {
		nodes = append(nodes, h.NodeID)
	}
	slices.Sort(nodes)
	return &NoSuchNodeError{NodeID: nodeID, Known: slices.Compact(nodes)}
}
