package server

import (
	"bytes"
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"chainlog"
)

// Replica is what a collector's endpoints use: the store as a
// chainlog.Replicator, and its heads, to tell a node where to resume.
type Replica interface {
	chainlog.Replicator
	Heads(ctx context.Context, nodeID string) ([]chainlog.Head, error)
}

// NodeURIScheme is the scheme of the URI SANs that bind a node's client
// certificate to the node_ids it may forward: chainlog-node:NODE_ID, one
// per node_id.
const NodeURIScheme = "chainlog-node"

// errForbiddenNode is a batch of a node_id the client's certificate is not
// bound to.
var errForbiddenNode = errors.New("forbidden node_id")

// postReplicate takes one node's forwarded rows, as export writes them
// (NDJSON), and commits them after the collector's head for the node
// (chainlog.Replicate). The answer is a chainlog.ReplicaAck: 200 with the
// counts; 409 for a gap, fork evidence or a quarantined node; 422 for rows
// whose chain does not hold; 400 for a line that is not an exported row.
func (s *Server) postReplicate(w http.ResponseWriter, r *http.Request) {
	if s.cfg.Writer != nil {
		// A halted daemon acknowledges no write, forwarded ones included.
		if err := s.cfg.Writer.Halted(); err != nil {
			fail(w, submitFailure(err))
			return
		}
	}
	body, held, err := s.readBody(w, r)
	release := s.releaser(held)
	defer release()
	if err != nil {
		fail(w, s.bodyRefusal(r, err))
		return
	}
	var rows []chainlog.StoredEvent
	for i, line := range bytes.Split(body, []byte("\n")) {
		line = bytes.TrimSuffix(line, []byte("\r"))
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		e, err := chainlog.DecodeStoredEvent(line)
		if err != nil {
			fail(w, invalid(fmt.Sprintf("line %d: %v", i+1, err)))
			return
		}
		rows = append(rows, e)
	}
	if len(rows) == 0 {
		fail(w, invalid("no rows in the body"))
		return
	}
	if err := s.nodeAllowed(r, rows[0].NodeID); err != nil {
		writeJSON(w, http.StatusForbidden, chainlog.ReplicaAck{NodeID: rows[0].NodeID, Error: err.Error()})
		return
	}
	res, err := s.cfg.Replica.Replicate(r.Context(), rows)
	release()
	s.cfg.Metrics.replicated(res, err)
	ack, ok := chainlog.Ack(res, err)
	switch {
	case !ok:
		fail(w, withMessage(err, "commit failed: "+err.Error()))
	case ack.Line > 0:
		writeJSON(w, http.StatusUnprocessableEntity, ack)
	case err != nil:
		if ack.Fork != nil {
			s.cfg.Logger.Error("fork evidence: node quarantined", "node_id", ack.NodeID, "seq", ack.Fork.Seq,
				"expected", ack.Fork.Expected, "found", ack.Fork.Found, "fork", ack.Fork.ID)
		}
		writeJSON(w, http.StatusConflict, ack)
	default:
		writeJSON(w, http.StatusOK, ack)
	}
}

// getReplicate tells a node where to resume: the collector's head for
// ?node_id=, and whether the node is quarantined.
func (s *Server) getReplicate(w http.ResponseWriter, r *http.Request) {
	node := r.URL.Query().Get("node_id")
	if err := chainlog.CheckUserNodeID(node); err != nil {
		fail(w, invalid("node_id: "+err.Error()))
		return
	}
	if err := s.nodeAllowed(r, node); err != nil {
		writeJSON(w, http.StatusForbidden, chainlog.ReplicaAck{NodeID: node, Error: err.Error()})
		return
	}
	heads, err := s.cfg.Replica.Heads(r.Context(), node)
	if err != nil {
		fail(w, internal{err})
		return
	}
	forks, err := s.cfg.Replica.Forks(r.Context(), node)
	if err != nil {
		fail(w, internal{err})
		return
	}
	ack := chainlog.ReplicaAck{NodeID: node}
	if len(heads) > 0 {
		ack.Seq, ack.Hash = heads[0].Seq, heads[0].Hash
	}
	ack.Quarantined = slices.ContainsFunc(forks, func(f chainlog.Fork) bool { return !f.Resolved() })
	writeJSON(w, http.StatusOK, ack)
}

// nodeAllowed checks that the request's client certificate, if it is
// bound to node_ids (URI SANs chainlog-node:NODE_ID), is bound to node;
// with RequireNodeBinding, a certificate bound to none is refused too.
func (s *Server) nodeAllowed(r *http.Request, node string) error {
	var cert *x509.Certificate
	if r.TLS != nil && len(r.TLS.PeerCertificates) > 0 {
		cert = r.TLS.PeerCertificates[0]
	}
	bound := BoundNodes(cert)
	switch {
	case len(bound) == 0 && s.cfg.RequireNodeBinding:
		return fmt.Errorf("%w: the collector requires a client certificate bound to node_ids (URI SAN %s:%s)", errForbiddenNode, NodeURIScheme, node)
	case len(bound) == 0:
		return nil
	case slices.Contains(bound, node):
		return nil
	}
	return fmt.Errorf("%w: the client certificate (%s) is bound to %s, not to %q", errForbiddenNode,
		cert.Subject.CommonName, strings.Join(bound, ", "), node)
}

// BoundNodes returns the node_ids a client certificate is bound to: its
// URI SANs of the scheme NodeURIScheme. None for a nil certificate.
func BoundNodes(cert *x509.Certificate) []string {
	if cert == nil {
		return nil
	}
	var out []string
	for _, u := range cert.URIs {
		if u.Scheme == NodeURIScheme && u.Opaque != "" {
			out = append(out, u.Opaque)
		}
	}
	return out
}
