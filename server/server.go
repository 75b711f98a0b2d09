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
//	POST /v1/logs         OTLP/HTTP logs (otlp.go)
//	POST /v1/traces       OTLP/HTTP traces (otlp.go)
//	POST /v1/replicate    a node's forwarded chain, as export writes it (a collector)
//	GET  /v1/replicate    where a node resumes (?node_id=)
//	GET  /healthz         liveness
//	GET  /metrics         Prometheus text format
package server

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"chainlog"

	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Reader is what the query and integrity endpoints read: a store opened
// read-only on its own connection, so that reads never wait for the writer.
type Reader interface {
	chainlog.RangeSource
	Events(ctx context.Context, q chainlog.EventFilter) ([]chainlog.StoredEvent, int64, error)
}

// Config configures the HTTP handlers.
type Config struct {
	Writer       *Writer
	Reader       Reader
	Monitor      *chainlog.Monitor
	Metrics      *Metrics
	Logger       *slog.Logger
	Token        string // required bearer token; empty means none
	MaxBodyBytes int64  // larger POST bodies (after decompression) get 413
	// MaxInflightBytes bounds the bytes all requests hold at once: POST
	// bodies, and GET /v1/events pages; beyond, 503 with Retry-After.
	// Default 64 MiB, and never below MaxBodyBytes.
	MaxInflightBytes int64
	// MaxEventBytes bounds the line export writes for one event, so that
	// whatever the daemon accepts can be exported and imported again with
	// ingest's default --max-line-bytes; default chainlog.DefaultMaxLineBytes.
	MaxEventBytes int
	// PageBytes bounds one page of GET /v1/events, besides its rows;
	// default 4 MiB, and at most a quarter of MaxInflightBytes. A page
	// holds at least one event.
	PageBytes int64
	NodeID    string // given to events that have no node_id
	// OTLP maps the OTLP receiver's payloads to events; nil leaves
	// /v1/logs and /v1/traces unserved.
	OTLP OTLPMapper
	// Tiles, if set, serves the tree as tlog-tiles: GET /checkpoint and
	// GET /tile/..., under the same token rule as every other path.
	Tiles http.Handler
	// Replica, if set, makes the daemon a collector: POST /v1/replicate
	// takes nodes' forwarded chains, and GET /v1/replicate tells a node
	// where to resume.
	Replica Replica
	// RequireNodeBinding refuses forwarded batches from a client whose
	// certificate is not bound to node_ids (see BoundNodes).
	RequireNodeBinding bool
	// Health, if set, adds its fields to /healthz's answer (a forwarding
	// node's lag).
	Health func() map[string]any
	// Console, if set, serves every path no endpoint above takes (the
	// browser console at /). It checks the token itself (a login page
	// and a cookie, or the bearer token), so requests reach it without.
	Console http.Handler
}

// Server is the daemon's HTTP handler.
type Server struct {
	cfg      Config
	mux      *http.ServeMux
	otlpMux  *http.ServeMux // the OTLP receiver alone (OTLPHandler)
	stopping atomic.Bool
	full     fullState
	inflight *budget
	reclaim  reclaimer
}

// New returns the handler.
func New(cfg Config) *Server {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = 16 << 20
	}
	if cfg.MaxInflightBytes <= 0 {
		cfg.MaxInflightBytes = 64 << 20
	}
	cfg.MaxInflightBytes = max(cfg.MaxInflightBytes, cfg.MaxBodyBytes)
	if cfg.MaxEventBytes <= 0 {
		cfg.MaxEventBytes = chainlog.DefaultMaxLineBytes
	}
	if cfg.PageBytes <= 0 {
		cfg.PageBytes = 4 << 20
	}
	// A page may go one event past its bound: leave room for that.
	cfg.PageBytes = min(cfg.PageBytes, cfg.MaxInflightBytes/4)
	s := &Server{cfg: cfg, mux: http.NewServeMux(), otlpMux: http.NewServeMux(), inflight: &budget{max: cfg.MaxInflightBytes}}
	if cfg.OTLP != nil {
		for _, mux := range []*http.ServeMux{s.mux, s.otlpMux} {
			mux.HandleFunc("POST /v1/logs", s.postLogs)
			mux.HandleFunc("POST /v1/traces", s.postTraces)
		}
	}
	s.otlpMux.HandleFunc("GET /healthz", s.healthz)
	if cfg.OTLP != nil {
		s.otlpMux.HandleFunc("POST /{$}", s.postOTLPRoot)
	}
	s.mux.HandleFunc("POST /v1/events", s.postEvents)
	s.mux.HandleFunc("GET /v1/events", s.getEvents)
	s.mux.HandleFunc("GET /v1/integrity", s.getIntegrity)
	s.mux.HandleFunc("GET /healthz", s.healthz)
	if cfg.Replica != nil {
		cfg.Metrics.watchForks(cfg.Replica)
		s.mux.HandleFunc("POST /v1/replicate", s.postReplicate)
		s.mux.HandleFunc("GET /v1/replicate", s.getReplicate)
	}
	if cfg.Tiles != nil {
		s.mux.Handle("GET /checkpoint", cfg.Tiles)
		s.mux.Handle("GET /tile/", cfg.Tiles)
	}
	if cfg.Console != nil {
		s.mux.Handle("/", cfg.Console)
	}
	if cfg.Metrics != nil {
		s.mux.Handle("GET /metrics", promhttp.HandlerFor(cfg.Metrics.Registry, promhttp.HandlerOpts{}))
	}
	return s
}

// Stopping marks the daemon as shutting down: /healthz answers 503.
func (s *Server) Stopping() { s.stopping.Store(true) }

// ServeHTTP checks the bearer token, then routes.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.serve(w, r, s.mux) }

func (s *Server) serve(w http.ResponseWriter, r *http.Request, mux *http.ServeMux) {
	if s.cfg.Token != "" && !s.authorized(r) && !s.toConsole(r, mux) {
		w.Header().Set("WWW-Authenticate", `Bearer realm="chainlog"`)
		switch {
		case s.cfg.OTLP != nil && r.URL.Path == "/v1/logs":
			s.otlpFail(w, r, otlpLogs, errUnauthorized)
		case s.cfg.OTLP != nil && r.URL.Path == "/v1/traces":
			s.otlpFail(w, r, otlpTraces, errUnauthorized)
		default:
			fail(w, errUnauthorized)
		}
		return
	}
	mux.ServeHTTP(w, r)
}

// toConsole reports whether mux routes r to the console, which checks the
// token its own way.
func (s *Server) toConsole(r *http.Request, mux *http.ServeMux) bool {
	if s.cfg.Console == nil || mux != s.mux {
		return false
	}
	_, pattern := mux.Handler(r)
	return pattern == "/"
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
	body, held, err := s.readBody(w, r)
	release := s.releaser(held)
	defer release()
	if err != nil {
		fail(w, s.bodyRefusal(r, err))
		return
	}
	events, bad := s.decodeBody(r, body)
	switch {
	case len(bad) > 0:
		s.cfg.Metrics.reject(len(events) + len(bad))
		code, _ := status(errInvalidEvents)
		writeJSON(w, code, map[string]any{"error": errInvalidEvents.Error(), "errors": bad})
		return
	case len(events) == 0:
		fail(w, invalid("no events in the body"))
		return
	}
	res, err := s.cfg.Writer.Submit(r.Context(), events)
	release()
	if err != nil {
		fail(w, submitFailure(err))
		return
	}
	writeJSON(w, http.StatusOK, map[string]int{"accepted": res.Inserted, "duplicates": res.Duplicates})
}

// releaser returns the function that gives held bytes back to the
// in-flight budget, once however often it is called. A handler calls it
// as soon as its events are committed, before the answer (a client that
// has its answer may send again at once), and defers it for the other
// paths.
func (s *Server) releaser(held int64) func() {
	return sync.OnceFunc(func() { s.inflight.give(held); s.reclaim.after(held) })
}

// submitFailure is err, an error of Writer.Submit, with the message that
// answers it.
func submitFailure(err error) error {
	switch {
	case errors.Is(err, ErrQueueFull), errors.Is(err, ErrClosed):
		return withMessage(err, err.Error()+"; retry later")
	case errors.Is(err, ErrHalted):
		return withMessage(err, err.Error()+"; the request is not acknowledged")
	}
	return withMessage(err, "commit failed: "+err.Error())
}

// errInvalidEvents answers a request with invalid events, listed beside it.
var errInvalidEvents = invalid("invalid events; nothing was stored")

// bodyRefusal returns the error, with its message, that answers a request
// whose body readBody refused.
func (s *Server) bodyRefusal(r *http.Request, err error) error {
	var tooBig *http.MaxBytesError
	switch {
	case errors.Is(err, errBudget):
		return s.budgetSpent(r)
	case errors.As(err, &tooBig):
		return withMessage(err, fmt.Sprintf("body is larger than %d bytes", s.cfg.MaxBodyBytes))
	case as[badRequest](err):
		s.cfg.Logger.Info("request body unreadable", "err", err, "remote", r.RemoteAddr)
	}
	return err
}

// unsupportedEncoding is a Content-Encoding the daemon does not decode.
type unsupportedEncoding string

func (u unsupportedEncoding) Error() string {
	return fmt.Sprintf("Content-Encoding %q is not supported: send the body as is, or with gzip", string(u))
}

// readBody reads the whole body (so that a slow client never holds the
// writer), decompressing gzip, within the per-request limit (on the
// decompressed bytes) and the in-flight budget. held is what it took from
// the budget, to be given back when the request is done.
func (s *Server) readBody(w http.ResponseWriter, r *http.Request) (body []byte, held int64, err error) {
	var gz bool
	switch enc := strings.ToLower(strings.TrimSpace(r.Header.Get("Content-Encoding"))); enc {
	case "", "identity":
	case "gzip", "x-gzip":
		gz = true
	default:
		return nil, 0, unsupportedEncoding(enc)
	}
	var rd io.Reader = http.MaxBytesReader(w, r.Body, s.cfg.MaxBodyBytes)
	expected := int64(-1)
	if r.ContentLength > s.cfg.MaxBodyBytes && !gz {
		return nil, 0, &http.MaxBytesError{Limit: s.cfg.MaxBodyBytes}
	}
	if r.ContentLength >= 0 && !gz {
		// The length is known: take it from the budget before reading.
		if !s.inflight.take(r.ContentLength) {
			return nil, 0, errBudget
		}
		held, expected = r.ContentLength, r.ContentLength
	}
	if gz {
		zr, err := gzip.NewReader(rd)
		if err != nil {
			return nil, 0, badRequest{fmt.Errorf("gzip body: %w", err)}
		}
		defer zr.Close()
		// The limit applies to the decompressed bytes too: a gzip bomb
		// stops at MaxBodyBytes.
		rd = &maxBytesReader{r: zr, n: s.cfg.MaxBodyBytes}
	}
	var br *budgetReader
	if expected < 0 {
		br = &budgetReader{r: rd, b: s.inflight}
		rd = br
	}
	body, err = readBody(rd, expected)
	if br != nil {
		held = br.held
	}
	// What is not a limit is the body's fault: it is unreadable.
	if err != nil && !errors.Is(err, errBudget) && !as[*http.MaxBytesError](err) {
		if gz {
			err = fmt.Errorf("gzip body: %w", err)
		}
		err = badRequest{err}
	}
	return body, held, err
}

// maxBytesReader fails with *http.MaxBytesError past n bytes.
type maxBytesReader struct {
	r io.Reader
	n int64
}

func (m *maxBytesReader) Read(p []byte) (int, error) {
	if m.n < 0 {
		return 0, &http.MaxBytesError{}
	}
	if int64(len(p)) > m.n+1 {
		p = p[:m.n+1]
	}
	n, err := m.r.Read(p)
	m.n -= int64(n)
	if m.n < 0 {
		return n, &http.MaxBytesError{}
	}
	return n, err
}

// decodeBody decodes the events of a body. bad lists every invalid event,
// and every event whose exported line would be longer than MaxEventBytes.
func (s *Server) decodeBody(r *http.Request, body []byte) ([]chainlog.Event, []EventError) {
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	var events []chainlog.Event
	var bad []EventError
	if ct == "application/x-ndjson" || ct == "application/jsonl" {
		events, bad = s.decodeNDJSON(body)
	} else {
		raws, err := splitJSON(body)
		if err != nil {
			return nil, []EventError{{Index: len(raws), Error: err.Error()}}
		}
		for i, raw := range raws {
			ev, err := chainlog.DecodeEvent(raw, s.cfg.NodeID)
			if err != nil {
				bad = append(bad, eventError(i, err))
				continue
			}
			events = append(events, ev)
		}
	}
	if len(bad) > 0 {
		return events, bad
	}
	for i := range events {
		if n := exportedSize(&events[i]); n > s.cfg.MaxEventBytes {
			bad = append(bad, EventError{Index: i, Error: fmt.Sprintf("event %q would be exported as a %d-byte line, over the %d-byte limit (ingest's default --max-line-bytes)",
				events[i].ID, n, s.cfg.MaxEventBytes)})
		}
	}
	return events, bad
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

func (s *Server) decodeNDJSON(body []byte) ([]chainlog.Event, []EventError) {
	rd := chainlog.NewReader(bytes.NewReader(body), len(body)+1, s.cfg.NodeID)
	var events []chainlog.Event
	var bad []EventError
	for i := 0; ; i++ {
		ev, err := rd.Next()
		if err == io.EOF {
			return events, bad
		}
		var le *chainlog.LineError
		if errors.As(err, &le) {
			bad = append(bad, EventError{Index: i, Field: le.Field, Error: fmt.Sprintf("line %d: %s", le.Line, le.Msg)})
			continue
		}
		if err != nil { // a bytes.Reader fails with nothing else
			bad = append(bad, EventError{Index: i, Error: err.Error()})
			return events, bad
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
	q := chainlog.EventFilter{NodeID: v.Get("node_id"), SessionID: v.Get("session_id"), AgentID: v.Get("agent_id"),
		EventType: v.Get("event_type"), Since: v.Get("since"), Until: v.Get("until"), Limit: 100}
	for name, dst := range map[string]*int64{"after": &q.After} {
		if raw := v.Get(name); raw != "" {
			n, err := strconv.ParseInt(raw, 10, 64)
			if err != nil || n < 0 {
				fail(w, invalid(fmt.Sprintf("%s: want a cursor from a previous page", name)))
				return
			}
			*dst = n
		}
	}
	if raw := v.Get("limit"); raw != "" {
		n, err := strconv.Atoi(raw)
		if err != nil || n < 1 || n > chainlog.MaxQueryLimit {
			fail(w, invalid(fmt.Sprintf("limit: want 1 to %d", chainlog.MaxQueryLimit)))
			return
		}
		q.Limit = n
	}
	// A page takes its byte bound from the in-flight budget before it is
	// read, and what one large event adds beyond it after.
	if !s.inflight.take(s.cfg.PageBytes) {
		fail(w, s.budgetSpent(r))
		return
	}
	held := s.cfg.PageBytes
	defer func() { s.inflight.give(held); s.reclaim.after(held) }()
	q.MaxBytes = s.cfg.PageBytes
	events, next, err := s.cfg.Reader.Events(r.Context(), q)
	if err != nil {
		fail(w, internal{err})
		return
	}
	var size int64
	for i := range events {
		size += int64(len(events[i].Data)) + 512 // the other columns, about
	}
	if size > held {
		if !s.inflight.take(size - held) {
			fail(w, s.budgetSpent(r))
			return
		}
		held = size
	}
	writeEventsPage(w, events, next)
}

// budgetSpent returns the error, with its message, that answers a request
// when the in-flight budget is spent (503).
func (s *Server) budgetSpent(r *http.Request) error {
	s.cfg.Logger.Debug("request refused: the in-flight byte budget is spent", "limit", s.cfg.MaxInflightBytes, "remote", r.RemoteAddr)
	return withMessage(errBudget, fmt.Sprintf("%v (%d); retry later", errBudget, s.cfg.MaxInflightBytes))
}

// writeEventsPage writes {"events":[...],"next":...} one event at a time,
// so that the answer is never built whole in memory besides the rows.
func writeEventsPage(w http.ResponseWriter, events []chainlog.StoredEvent, next int64) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	bw := bufio.NewWriterSize(w, 32<<10)
	enc := json.NewEncoder(bw)
	enc.SetEscapeHTML(false)
	bw.WriteString(`{"events":[`)
	for i := range events {
		if i > 0 {
			bw.WriteByte(',')
		}
		if err := enc.Encode(&events[i]); err != nil {
			return // the client is gone
		}
		events[i] = chainlog.StoredEvent{} // written: its memory can go
	}
	bw.WriteString(`],"next":`)
	if next != 0 {
		bw.WriteString(strconv.Quote(strconv.FormatInt(next, 10)))
	} else {
		bw.WriteString("null")
	}
	bw.WriteString("}\n")
	_ = bw.Flush()
}

func (s *Server) getIntegrity(w http.ResponseWriter, r *http.Request) {
	verify := s.Verify
	if r.URL.Query().Get("full") == "1" {
		verify = s.VerifyFull
	}
	rep, err := verify(r.Context())
	if err != nil {
		fail(w, internal{err})
		return
	}
	if node := r.URL.Query().Get("node_id"); node != "" {
		rep = rep.Scope(node)
		if rep.Status == chainlog.StatusEmpty {
			// A mistyped node_id must not look like an empty, valid chain.
			if err := chainlog.CheckNode(r.Context(), s.cfg.Reader, node); as[*chainlog.NoSuchNodeError](err) {
				fail(w, err)
				return
			} else if err != nil {
				fail(w, internal{err})
				return
			}
		}
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
	rep = s.withFull(rep)
	s.recordVerification(rep)
	return rep, nil
}

func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	if s.stopping.Load() {
		code, _ := status(ErrClosed) // no Retry-After: the daemon goes away
		writeError(w, code, "shutting down")
		return
	}
	if err := s.cfg.Writer.Halted(); err != nil {
		code, _ := status(err)
		writeJSON(w, code, map[string]any{"status": "unhealthy", "error": err.Error(),
			"queued_events": s.cfg.Writer.Queued()})
		return
	}
	ans := map[string]any{"status": "ok", "queued_events": s.cfg.Writer.Queued()}
	if s.cfg.Health != nil {
		maps.Copy(ans, s.cfg.Health())
	}
	writeJSON(w, http.StatusOK, ans)
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
