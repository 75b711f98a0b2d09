package server

import (
	"bytes"
	"encoding/json"
	"fmt"
	"mime"
	"net/http"

	"chainlog"

	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	rpcstatus "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
)

// The OTLP/HTTP receiver (OTLP specification 1.x, "OTLP/HTTP"):
//
//	POST /v1/logs     ExportLogsServiceRequest
//	POST /v1/traces   ExportTraceServiceRequest
//
// A body is binary protobuf (Content-Type application/x-protobuf) or the
// OTLP JSON mapping (application/json), as is or gzip-compressed
// (Content-Encoding gzip), and is read as POST /v1/events reads its body:
// within the in-flight budget, and within MaxBodyBytes counted after
// decompression. It is decoded by pdata, mapped to events by
// Config.OTLP, and acknowledged only once those events are committed.
//
// Answers:
//   - 200 with the Export*ServiceResponse in the request's encoding; its
//     partial_success counts the records the mapper rejected (or whose
//     event would be exported as a line over MaxEventBytes), with the
//     first reason. The other records are committed.
//   - 400 for a body that does not decode (or, in JSON, nests deeper than
//     maxJSONNesting), 413 for one over the limit, 415 for another
//     Content-Type or Content-Encoding, 401 without the token: nothing of
//     the request is stored.
//   - 503 with Retry-After (a second) under backpressure: the writer's
//     queue full, the in-flight budget spent, the daemon stopping. OTLP
//     exporters retry these; a retried export maps to the same event ids,
//     which the store drops as duplicates. A daemon that stopped
//     acknowledging writes answers 503 without Retry-After, and a failed
//     commit 500. The statuses are errors.go's table, as for /v1/events.
//
// Every error answer's body is a google.rpc.Status (code and message) in
// the request's encoding: protobuf for a protobuf request, the JSON
// mapping otherwise.

// OTLPMapper maps decoded OTLP payloads to events (package agentsrc's
// Mapper implements it). rejected counts the records that can never be
// stored, and reason says why (the first reason); both go back to the
// exporter as partial_success. Every event must be one that
// chainlog.DecodeEvent would accept, except that node_id may be empty (the
// receiver gives it Config.NodeID); the receiver does not validate events
// again, and an event the store refused would fail its whole commit. A
// record must map to the same ids every time, so that a retried export
// stores nothing twice. A mapper must not keep the payload after it
// returns.
type OTLPMapper interface {
	Logs(plog.Logs) (events []chainlog.Event, rejected int64, reason string)
	Traces(ptrace.Traces) (events []chainlog.Event, rejected int64, reason string)
}

// The OTLP/HTTP content types.
const (
	otlpProto = "application/x-protobuf"
	otlpJSON  = "application/json"
)

// unsupportedMediaType is a Content-Type the receiver does not decode.
type unsupportedMediaType string

func (u unsupportedMediaType) Error() string {
	return fmt.Sprintf("Content-Type %q is not supported: send application/x-protobuf or application/json", string(u))
}

// otlpSignal is what differs between /v1/logs and /v1/traces.
type otlpSignal struct {
	name string // "logs" or "traces", as in the metrics' signal label
	// decode decodes a body and maps it: records is how many the body
	// holds.
	decode func(m OTLPMapper, body []byte, json bool) (records int, events []chainlog.Event, rejected int64, reason string, err error)
	// response encodes the success answer.
	response func(rejected int64, msg string, json bool) ([]byte, error)
}

var otlpLogs = otlpSignal{
	name: "logs",
	decode: func(m OTLPMapper, body []byte, json bool) (int, []chainlog.Event, int64, string, error) {
		req := plogotlp.NewExportRequest()
		if err := unmarshalOTLP(req.UnmarshalProto, req.UnmarshalJSON, body, json); err != nil {
			return 0, nil, 0, "", err
		}
		ld := req.Logs()
		events, rejected, reason := m.Logs(ld)
		return ld.LogRecordCount(), events, rejected, reason, nil
	},
	response: func(rejected int64, msg string, json bool) ([]byte, error) {
		resp := plogotlp.NewExportResponse()
		if rejected > 0 {
			resp.PartialSuccess().SetRejectedLogRecords(rejected)
			resp.PartialSuccess().SetErrorMessage(msg)
		}
		if json {
			return resp.MarshalJSON()
		}
		return resp.MarshalProto()
	},
}

var otlpTraces = otlpSignal{
	name: "traces",
	decode: func(m OTLPMapper, body []byte, json bool) (int, []chainlog.Event, int64, string, error) {
		req := ptraceotlp.NewExportRequest()
		if err := unmarshalOTLP(req.UnmarshalProto, req.UnmarshalJSON, body, json); err != nil {
			return 0, nil, 0, "", err
		}
		td := req.Traces()
		events, rejected, reason := m.Traces(td)
		return td.SpanCount(), events, rejected, reason, nil
	},
	response: func(rejected int64, msg string, json bool) ([]byte, error) {
		resp := ptraceotlp.NewExportResponse()
		if rejected > 0 {
			resp.PartialSuccess().SetRejectedSpans(rejected)
			resp.PartialSuccess().SetErrorMessage(msg)
		}
		if json {
			return resp.MarshalJSON()
		}
		return resp.MarshalProto()
	},
}

// unmarshalOTLP decodes body with fromJSON or fromProto; a body that does
// not decode is the client's fault.
func unmarshalOTLP(fromProto, fromJSON func([]byte) error, body []byte, json bool) error {
	if json {
		if err := checkJSONNesting(body); err != nil {
			return err
		}
		if err := fromJSON(body); err != nil {
			return badRequest{fmt.Errorf("OTLP JSON body does not decode: %w", err)}
		}
		return nil
	}
	if err := fromProto(body); err != nil {
		return badRequest{fmt.Errorf("OTLP protobuf body does not decode: %w", err)}
	}
	return nil
}

// maxJSONNesting bounds how deep an OTLP/JSON body nests its arrays and
// objects. pdata's JSON decoder recurses with no bound of its own (its
// protobuf decoder stops values at 100 deep), and a body of a few
// megabytes could otherwise nest a value hundreds of thousands deep. A
// value nested 100 deep takes at most 400 levels, as kvlists, under the
// levels of the envelope.
const maxJSONNesting = 512

// checkJSONNesting refuses a body that nests arrays and objects deeper
// than maxJSONNesting, before it is decoded.
func checkJSONNesting(b []byte) error {
	depth, inString, escaped := 0, false, false
	for i, c := range b {
		switch {
		case inString && escaped:
			escaped = false
		case inString && c == '\\':
			escaped = true
		case inString:
			inString = c != '"'
		case c == '"':
			inString = true
		case c == '{' || c == '[':
			if depth++; depth > maxJSONNesting {
				return badRequest{fmt.Errorf("OTLP JSON body nests arrays and objects deeper than %d, at byte %d", maxJSONNesting, i+1)}
			}
		case c == '}' || c == ']':
			depth--
		}
	}
	return nil
}

// otlpContentType says whether the request is OTLP JSON (else protobuf),
// or refuses its Content-Type.
func otlpContentType(r *http.Request) (json bool, err error) {
	ct, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	switch {
	case err != nil:
		return false, unsupportedMediaType(r.Header.Get("Content-Type"))
	case ct == otlpProto:
		return false, nil
	case ct == otlpJSON:
		return true, nil
	}
	return false, unsupportedMediaType(ct)
}

func (s *Server) postLogs(w http.ResponseWriter, r *http.Request) { s.postOTLP(w, r, otlpLogs) }

func (s *Server) postTraces(w http.ResponseWriter, r *http.Request) { s.postOTLP(w, r, otlpTraces) }

func (s *Server) postOTLP(w http.ResponseWriter, r *http.Request, sig otlpSignal) {
	json, err := otlpContentType(r)
	if err != nil {
		s.otlpFail(w, r, sig, err)
		return
	}
	body, held, err := s.readBody(w, r)
	release := s.releaser(held)
	defer release()
	if err != nil {
		s.otlpFail(w, r, sig, s.bodyRefusal(r, err))
		return
	}
	s.exportOTLP(w, r, sig, body, json, release)
}

// postOTLPRoot takes an OTLP/JSON export posted to the listener's root, as
// exporters do that are given one URL for every signal (Gemini CLI with
// "otlpProtocol": "http"): the body's first key says which signal it is.
// A protobuf body does not say, and is refused with where to send it.
func (s *Server) postOTLPRoot(w http.ResponseWriter, r *http.Request) {
	json, err := otlpContentType(r)
	if err == nil && !json {
		err = invalid("a protobuf export names no signal: POST it to /v1/logs or /v1/traces")
	}
	if err != nil {
		s.otlpFail(w, r, otlpUnknown, err)
		return
	}
	body, held, err := s.readBody(w, r)
	release := s.releaser(held)
	defer release()
	if err != nil {
		s.otlpFail(w, r, otlpUnknown, s.bodyRefusal(r, err))
		return
	}
	switch firstKey(body) {
	case "resourceLogs", "resource_logs":
		s.exportOTLP(w, r, otlpLogs, body, json, release)
	case "resourceSpans", "resource_spans":
		s.exportOTLP(w, r, otlpTraces, body, json, release)
	case "resourceMetrics", "resource_metrics":
		s.otlpFail(w, r, otlpUnknown, withMessage(chainlog.ErrNotFound,
			"metrics are not stored: chainlog takes OTLP logs and traces; point the metrics exporter elsewhere"))
	default:
		s.otlpFail(w, r, otlpUnknown, invalid("the body is not an OTLP/JSON export of logs or traces (no resourceLogs or resourceSpans)"))
	}
}

// otlpUnknown labels the metrics of a request whose signal is not known.
var otlpUnknown = otlpSignal{name: "unknown"}

// firstKey returns the first key of the JSON object in b; "" when b is not
// an object with one.
func firstKey(b []byte) string {
	dec := json.NewDecoder(bytes.NewReader(b))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return ""
	}
	t, err := dec.Token()
	if err != nil {
		return ""
	}
	k, _ := t.(string)
	return k
}

// exportOTLP decodes, maps and commits one export whose body was read.
func (s *Server) exportOTLP(w http.ResponseWriter, r *http.Request, sig otlpSignal, body []byte, json bool, release func()) {
	records, events, rejected, reason, err := sig.decode(s.cfg.OTLP, body, json)
	if err != nil {
		s.cfg.Logger.Info("OTLP body does not decode", "signal", sig.name, "err", err, "remote", r.RemoteAddr)
		s.otlpFail(w, r, sig, err)
		return
	}
	events, rejected, reason = s.checkMapped(events, rejected, reason)
	s.cfg.Metrics.otlpRecords(sig.name, records, rejected)
	if len(events) > 0 {
		_, err := s.cfg.Writer.Submit(r.Context(), events)
		release()
		if err != nil {
			s.otlpFail(w, r, sig, submitFailure(err))
			return
		}
	}
	if rejected > 0 {
		s.cfg.Logger.Info("OTLP records rejected", "signal", sig.name, "rejected", rejected, "reason", reason, "remote", r.RemoteAddr)
	}
	out, err := sig.response(rejected, reason, json)
	if err != nil {
		s.otlpFail(w, r, sig, internal{fmt.Errorf("encode the OTLP response: %w", err)})
		return
	}
	s.cfg.Metrics.otlpRequest(sig.name, http.StatusOK)
	writeOTLP(w, http.StatusOK, json, out)
}

// checkMapped holds the mapper's events to the rules POST /v1/events
// holds its events to: an event without node_id takes Config.NodeID; one
// on a node reserved for chainlog's own events, or whose exported line
// would be over MaxEventBytes, is rejected (one record, one event),
// counted with the rest.
func (s *Server) checkMapped(events []chainlog.Event, rejected int64, reason string) ([]chainlog.Event, int64, string) {
	kept := events[:0]
	for i := range events {
		ev := &events[i]
		if ev.NodeID == "" {
			ev.NodeID = s.cfg.NodeID
		}
		if err := chainlog.CheckUserNodeID(ev.NodeID); err != nil {
			// A resource whose host.name is one of chainlog's own nodes:
			// DecodeEvent refuses the same on POST /v1/events.
			if rejected == 0 {
				reason = fmt.Sprintf("event %q: %v", ev.ID, err)
			}
			rejected++
			continue
		}
		if n := exportedSize(ev); n > s.cfg.MaxEventBytes {
			if rejected == 0 {
				reason = fmt.Sprintf("event %q would be exported as a %d-byte line, over the %d-byte limit", ev.ID, n, s.cfg.MaxEventBytes)
			}
			rejected++
			continue
		}
		kept = append(kept, *ev)
	}
	return kept, rejected, reason
}

// otlpFail answers err with its status (the table in errors.go), with
// Retry-After when the exporter may send again, and a google.rpc.Status
// body in the request's encoding.
func (s *Server) otlpFail(w http.ResponseWriter, r *http.Request, sig otlpSignal, err error) {
	code, retry := status(err)
	msg := err.Error()
	s.cfg.Metrics.otlpRequest(sig.name, code)
	if retry {
		w.Header().Set("Retry-After", "1")
	}
	json, jerr := otlpContentType(r)
	if jerr != nil {
		json = true // a body the client can read whatever it sent
	}
	st := &rpcstatus.Status{Code: grpcCode(code), Message: msg}
	var out []byte
	if json {
		out, err = protojson.Marshal(st)
	} else {
		out, err = proto.Marshal(st)
	}
	if err != nil { // a Status of an int and a string always encodes
		writeError(w, code, msg)
		return
	}
	writeOTLP(w, code, json, out)
}

func writeOTLP(w http.ResponseWriter, code int, json bool, body []byte) {
	ct := otlpProto
	if json {
		ct = otlpJSON
	}
	w.Header().Set("Content-Type", ct)
	w.WriteHeader(code)
	_, _ = w.Write(body)
}

// grpcCode is the gRPC status code of an HTTP status, as the gRPC
// specification's HTTP-to-gRPC mapping gives it, for google.rpc.Status.
func grpcCode(httpStatus int) int32 {
	switch httpStatus {
	case http.StatusBadRequest, http.StatusUnsupportedMediaType:
		return 3 // INVALID_ARGUMENT
	case http.StatusUnauthorized:
		return 16 // UNAUTHENTICATED
	case http.StatusNotFound:
		return 5 // NOT_FOUND
	case http.StatusRequestEntityTooLarge:
		return 8 // RESOURCE_EXHAUSTED
	case http.StatusServiceUnavailable, http.StatusTooManyRequests:
		return 14 // UNAVAILABLE
	}
	return 13 // INTERNAL
}

// OTLPHandler serves the OTLP receiver alone, for a listener of its own:
// POST /v1/logs, POST /v1/traces and GET /healthz, behind the same bearer
// token.
func (s *Server) OTLPHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { s.serve(w, r, s.otlpMux) })
}
