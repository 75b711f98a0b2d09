// Package server is chainlog's ingest daemon over HTTP: agents POST events,
// a single writer merges concurrent requests into shared transactions and
// answers each only after its events are committed, and the daemon keeps
// verifying the store incrementally.
//
// Endpoints:
//
//	POST /v1/events       a JSON array, one object, or NDJSON (application/x-ndjson)
//	GET  /v1/events       query with filters and keyset pagination
//	GET  /v1/integrity    the verify-integrity --json report (?node_id=, ?full=1)
//	GET  /healthz         liveness
//	GET  /metrics         Prometheus text format
package server

import (
	"bytes"
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"chainlog"
	"chainlog/sqlite"

	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Reader is what the query and integrity endpoints read: a store opened
// read-only on its own connection, so that reads never wait for the writer.
type Reader interface {
	chainlog.RangeSource
	Events(ctx context.Context, q sqlite.Query) ([]chainlog.StoredEvent, int64, error)
}

// Config configures the HTTP handlers.
type Config struct {
	Writer       *Writer
	Reader       Reader
	Monitor      *chainlog.Monitor
	Metrics      *Metrics
	Logger       *slog.Logger
	Token        string // required bearer token; empty means none
	MaxBodyBytes int64  // larger POST bodies get 413
	NodeID       string // given to events that have no node_id
}

// Server is the daemon's HTTP handler.
type Server struct {
	cfg      Config
	mux      *http.ServeMux
	stopping atomic.Bool
}

// New returns the handler.
func New(cfg Config) *Server {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = 16 << 20
	}
	s := &Server{cfg: cfg, mux: http.NewServeMux()}
	s.mux.HandleFunc("POST /v1/events", s.postEvents)
	s.mux.HandleFunc("GET /v1/events", s.getEvents)
	s.mux.HandleFunc("GET /v1/integrity", s.getIntegrity)
	s.mux.HandleFunc("GET /healthz", s.healthz)
	if cfg.Metrics != nil {
		s.mux.Handle("GET /metrics", promhttp.HandlerFor(cfg.Metrics.Registry, promhttp.HandlerOpts{}))
	}
	return s
}

// Stopping marks the daemon as shutting down: /healthz answers 503.
func (s *Server) Stopping() { s.stopping.Store(true) }

// ServeHTTP checks the bearer token, then routes.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if s.cfg.Token != "" && !s.authorized(r) {
		w.Header().Set("WWW-Authenticate", `Bearer realm="chainlog"`)
		writeError(w, http.StatusUnauthorized, "missing or wrong bearer token")
		return
	}
	s.mux.ServeHTTP(w, r)
}

func (s *Server) authorized(r *http.Request) bool {
	// The scheme is case-insensitive (RFC 7235); the token is not.
	h := r.Header.Get("Authorization")
	if len(h) < 7 || !strings.EqualFold(h[:7], "Bearer ") {
		return false
	}
	return subtle.ConstantTimeCompare([]byte(h[7:]), []byte(s.cfg.Token)) == 1
}

// EventError is one invalid event of a rejected request.
type EventError struct {
	Index int    `json:"index"`
	Field string `json:"field,omitempty"`
	Error string `json:"error"`
}

func (s *Server) postEvents(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, s.cfg.MaxBodyBytes)
	events, bad, err := s.decodeBody(r)
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		writeError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("body is larger than %d bytes", s.cfg.MaxBodyBytes))
		return
	case err != nil:
		s.cfg.Logger.Info("request body unreadable", "err", err, "remote", r.RemoteAddr)
		writeError(w, http.StatusBadRequest, err.Error())
		return
	case len(bad) > 0:
		s.cfg.Metrics.reject(len(events) + len(bad))
		writeJSON(w, http.StatusBadRequest, map[string]any{"error": "invalid events; nothing was stored", "errors": bad})
		return
	case len(events) == 0:
		writeError(w, http.StatusBadRequest, "no events in the body")
		return
	}
	res, err := s.cfg.Writer.Submit(r.Context(), events)
	switch {
	case errors.Is(err, ErrQueueFull), errors.Is(err, ErrClosed):
		w.Header().Set("Retry-After", "1")
		writeError(w, http.StatusServiceUnavailable, err.Error()+"; retry later")
	case errors.Is(err, ErrHalted):
		writeError(w, http.StatusServiceUnavailable, err.Error()+"; the request is not acknowledged")
	case err != nil:
		writeError(w, http.StatusInternalServerError, "commit failed: "+err.Error())
	default:
		writeJSON(w, http.StatusOK, map[string]int{"accepted": res.Inserted, "duplicates": res.Duplicates})
	}
}

// decodeBody reads the whole body (so a slow client never holds the
// writer) and decodes its events. bad lists every invalid event.
func (s *Server) decodeBody(r *http.Request) ([]chainlog.Event, []EventError, error) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return nil, nil, err
	}
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if ct == "application/x-ndjson" || ct == "application/jsonl" {
		return s.decodeNDJSON(body)
	}
	raws, err := splitJSON(body)
	if err != nil {
		return nil, []EventError{{Index: len(raws), Error: err.Error()}}, nil
	}
	var events []chainlog.Event
	var bad []EventError
	for i, raw := range raws {
		ev, err := chainlog.DecodeEvent(raw, s.cfg.NodeID)
		if err != nil {
			bad = append(bad, eventError(i, err))
			continue
		}
		events = append(events, ev)
	}
	return events, bad, nil
}

// splitJSON returns the events of a JSON array, or of one or more JSON
// objects one after another.
func splitJSON(body []byte) ([]json.RawMessage, error) {
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) > 0 && trimmed[0] == '[' {
		var raws []json.RawMessage
		if err := json.Unmarshal(trimmed, &raws); err != nil {
			return nil, fmt.Errorf("invalid JSON array: %v", err)
		}
		return raws, nil
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	var raws []json.RawMessage
	for {
		var raw json.RawMessage
		err := dec.Decode(&raw)
		if err == io.EOF {
			return raws, nil
		}
		if err != nil {
			return raws, fmt.Errorf("invalid JSON: %v", err)
		}
		raws = append(raws, raw)
	}
}

func (s *Server) decodeNDJSON(body []byte) ([]chainlog.Event, []EventError, error) {
	rd := chainlog.NewReader(bytes.NewReader(body), len(body)+1, s.cfg.NodeID)
	var events []chainlog.Event
	var bad []EventError
	for i := 0; ; i++ {
		ev, err := rd.Next()
		if err == io.EOF {
			return events, bad, nil
		}
		var le *chainlog.LineError
		if errors.As(err, &le) {
			bad = append(bad, EventError{Index: i, Field: le.Field, Error: fmt.Sprintf("line %d: %s", le.Line, le.Msg)})
			continue
		}
		if err != nil {
			return nil, nil, err
		}
		events = append(events, ev)
	}
}

func eventError(i int, err error) EventError {
	var fe *chainlog.FieldError
	if errors.As(err, &fe) {
		return EventError{Index: i, Field: fe.Field, Error: fe.Msg}
	}
	return EventError{Index: i, Error: err.Error()}
}

func (s *Server) getEvents(w http.ResponseWriter, r *http.Request) {
	v := r.URL.Query()
	q := sqlite.Query{NodeID: v.Get("node_id"), SessionID: v.Get("session_id"), AgentID: v.Get("agent_id"),
		EventType: v.Get("event_type"), Since: v.Get("since"), Until: v.Get("until"), Limit: 100}
	for name, dst := range map[string]*int64{"after": &q.After} {
		if raw := v.Get(name); raw != "" {
			n, err := strconv.ParseInt(raw, 10, 64)
			if err != nil || n < 0 {
				writeError(w, http.StatusBadRequest, fmt.Sprintf("%s: want a cursor from a previous page", name))
				return
			}
			*dst = n
		}
	}
	if raw := v.Get("limit"); raw != "" {
		n, err := strconv.Atoi(raw)
		if err != nil || n < 1 || n > sqlite.MaxQueryLimit {
			writeError(w, http.StatusBadRequest, fmt.Sprintf("limit: want 1 to %d", sqlite.MaxQueryLimit))
			return
		}
		q.Limit = n
	}
	events, next, err := s.cfg.Reader.Events(r.Context(), q)
	if err != nil {
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	out := struct {
		Events []chainlog.Record `json:"events"`
		Next   *string           `json:"next"`
	}{Events: make([]chainlog.Record, len(events))}
	for i := range events {
		out.Events[i] = chainlog.NewRecord(&events[i])
	}
	if next != 0 {
		c := strconv.FormatInt(next, 10)
		out.Next = &c
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) getIntegrity(w http.ResponseWriter, r *http.Request) {
	if r.URL.Query().Get("full") == "1" {
		s.cfg.Monitor.Reset()
	}
	rep, err := s.Verify(r.Context())
	if err != nil {
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	if node := r.URL.Query().Get("node_id"); node != "" {
		rep = rep.Scope(node)
	}
	writeJSON(w, http.StatusOK, rep)
}

// ResetVerification makes the next check verify the store from genesis.
func (s *Server) ResetVerification() { s.cfg.Monitor.Reset() }

// Verify runs an incremental check of the store and records its result.
func (s *Server) Verify(ctx context.Context) (*chainlog.Report, error) {
	rep, err := s.cfg.Monitor.Check(ctx, s.cfg.Reader)
	if err != nil {
		return nil, err
	}
	s.cfg.Metrics.verified(rep, time.Now())
	if rep.Status == chainlog.StatusInvalid {
		s.cfg.Logger.Error("verification found the store INVALID", "broken_at", rep.BrokenAt.Error())
	}
	return rep, nil
}

func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	if s.stopping.Load() {
		writeError(w, http.StatusServiceUnavailable, "shutting down")
		return
	}
	if err := s.cfg.Writer.Halted(); err != nil {
		writeJSON(w, http.StatusServiceUnavailable, map[string]any{"status": "unhealthy", "error": err.Error(),
			"queued_events": s.cfg.Writer.Queued()})
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"status": "ok", "queued_events": s.cfg.Writer.Queued()})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
}

func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]string{"error": msg})
}
