package chainlog

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"unicode/utf8"
)

// FieldError reports one invalid input event. Field is empty when the fault
// is not in one field (invalid JSON, not an object).
type FieldError struct {
	Field string
	Msg   string
}

func (e *FieldError) Error() string {
	if e.Field == "" {
		return e.Msg
	}
	return fmt.Sprintf("field %q: %s", e.Field, e.Msg)
}

// exportOnlyFields are columns that export writes and a store recomputes on
// ingest; DecodeEvent accepts and ignores them so an export can be
// re-imported.
var exportOnlyFields = map[string]bool{
	"created_at": true, "chain_seq": true, "chain_prev_hash": true, "chain_hash": true,
	"payload_digest": true, "leaf_index": true,
}

// DecodeEvent decodes one JSON object into an Event, applying the identity
// defaults of the chain-format spec. Every error is a *FieldError that names
// the offending field. defaultNodeID, when not empty, is used for an event
// that has no node_id.
func DecodeEvent(line []byte, defaultNodeID string) (Event, error) {
	if ev, ok := decodeEventFast(line, defaultNodeID); ok {
		return ev, nil
	}
	return decodeEventSlow(line, defaultNodeID)
}

// decodeEventSlow decodes any line, through a map of its fields, and finds
// the error to report.
func decodeEventSlow(line []byte, defaultNodeID string) (Event, error) {
	var ev Event
	if !utf8.Valid(line) {
		return ev, invalidUTF8Error(line)
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(line, &obj); err != nil {
		return ev, decodeSyntaxError(line, err)
	}
	if obj == nil {
		return ev, &FieldError{Msg: "event is null, want a JSON object"}
	}
	if fe := checkJSON(line); fe != nil {
		return ev, fe
	}
	if err := checkFieldNames(obj); err != nil {
		return ev, err
	}
	if err := decodeIdentity(obj, &ev, defaultNodeID); err != nil {
		return ev, err
	}
	if err := decodeMutable(obj, &ev); err != nil {
		return ev, err
	}
	return ev, nil
}

func invalidUTF8Error(line []byte) error {
	off := 0
	for off < len(line) {
		r, size := utf8.DecodeRune(line[off:])
		if r == utf8.RuneError && size <= 1 {
			break
		}
		off += size
	}
	var obj map[string]json.RawMessage
	if json.Unmarshal(line, &obj) == nil {
		for _, name := range sortedKeys(obj) {
			if !utf8.Valid(obj[name]) {
				return &FieldError{Field: name, Msg: "invalid UTF-8"}
			}
		}
	}
	return &FieldError{Msg: fmt.Sprintf("invalid UTF-8 at byte %d", off+1)}
}

func decodeSyntaxError(line []byte, err error) error {
	trimmed := bytes.TrimSpace(line)
	if len(trimmed) > 0 && trimmed[0] != '{' && json.Valid(trimmed) {
		return &FieldError{Msg: "event is not a JSON object"}
	}
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return &FieldError{Msg: fmt.Sprintf("invalid JSON at byte %d: %v", se.Offset, err)}
	}
	return &FieldError{Msg: fmt.Sprintf("invalid JSON: %v", err)}
}

var knownFields = map[string]bool{
	"id": true, "agent_type": true, "node_id": true, "agent_id": true,
	"session_id": true, "workspace_id": true, "event_type": true, "ts": true,
	"data": true, "cost_usd": true, "token_count": true, "model": true,
}

func checkFieldNames(obj map[string]json.RawMessage) error {
	for _, name := range sortedKeys(obj) {
		if !knownFields[name] && !exportOnlyFields[name] {
			return &FieldError{Field: name, Msg: "unknown field"}
		}
	}
	return nil
}

func decodeIdentity(obj map[string]json.RawMessage, ev *Event, defaultNodeID string) error {
	var err error
	if ev.ID, err = requiredString(obj, "id"); err != nil {
		return err
	}
	if _, ok := obj["node_id"]; !ok && defaultNodeID != "" {
		ev.NodeID = defaultNodeID
	} else if ev.NodeID, err = requiredString(obj, "node_id"); err != nil {
		return err
	}
	if err := CheckUserNodeID(ev.NodeID); err != nil {
		return err
	}
	if ev.EventType, err = requiredString(obj, "event_type"); err != nil {
		return err
	}
	if ev.TS, err = requiredString(obj, "ts"); err != nil {
		return err
	}
	if ev.AgentType, err = defaultedString(obj, "agent_type", DefaultAgentType); err != nil {
		return err
	}
	if ev.AgentID, err = defaultedString(obj, "agent_id", DefaultAgentID); err != nil {
		return err
	}
	if ev.SessionID, err = nullableString(obj, "session_id"); err != nil {
		return err
	}
	ev.WorkspaceID, err = nullableString(obj, "workspace_id")
	return err
}

// optionalString decodes a string field; ok is false when the field is
// missing or null.
func optionalString(obj map[string]json.RawMessage, name string) (s string, ok bool, err error) {
	raw, present := obj[name]
	if !present || string(raw) == "null" {
		return "", false, nil
	}
	if len(raw) == 0 || raw[0] != '"' {
		return "", false, &FieldError{Field: name, Msg: fmt.Sprintf("must be a string, got %s", jsonKind(raw))}
	}
	if msg := loneSurrogate(raw); msg != "" {
		return "", false, &FieldError{Field: name, Msg: msg}
	}
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", false, &FieldError{Field: name, Msg: err.Error()}
	}
	return s, true, nil
}

func requiredString(obj map[string]json.RawMessage, name string) (string, error) {
	s, ok, err := optionalString(obj, name)
	switch {
	case err != nil:
		return "", err
	case !ok:
		return "", &FieldError{Field: name, Msg: "required field is missing"}
	case s == "":
		return "", &FieldError{Field: name, Msg: "required field is empty"}
	}
	return s, nil
}

func defaultedString(obj map[string]json.RawMessage, name, def string) (string, error) {
	s, _, err := optionalString(obj, name)
	if err != nil {
		return "", err
	}
	return orDefault(s, def), nil
}

func nullableString(obj map[string]json.RawMessage, name string) (*string, error) {
	s, ok, err := optionalString(obj, name)
	if err != nil || !ok {
		return nil, err
	}
	return &s, nil
}

func jsonKind(raw json.RawMessage) string {
	switch c := raw[0]; {
	case c == '{':
		return "an object"
	case c == '[':
		return "an array"
	case c == 't' || c == 'f':
		return "a boolean"
	default:
		return "a number"
	}
}

// loneSurrogate reports a \uD800-\uDFFF escape that is not part of a valid
// UTF-16 pair. Such a string has no UTF-8 form, so its hash would depend on
// how a decoder repairs it.
func loneSurrogate(raw []byte) string {
	for i := 0; i+6 <= len(raw); i++ {
		if raw[i] == '\\' && raw[i+1] == '\\' {
			i++
			continue
		}
		if raw[i] != '\\' || raw[i+1] != 'u' {
			continue
		}
		r := hex4(raw[i+2 : i+6])
		if r < 0xd800 || r > 0xdfff {
			i += 5
			continue
		}
		if r < 0xdc00 && i+12 <= len(raw) && raw[i+6] == '\\' && raw[i+7] == 'u' {
			if lo := hex4(raw[i+8 : i+12]); lo >= 0xdc00 && lo <= 0xdfff {
				i += 11
				continue
			}
		}
		return fmt.Sprintf("lone UTF-16 surrogate escape %s", raw[i:i+6])
	}
	return ""
}

func hex4(b []byte) rune {
	v, err := strconv.ParseUint(string(b), 16, 32)
	if err != nil {
		return -1
	}
	return rune(v)
}

func decodeMutable(obj map[string]json.RawMessage, ev *Event) error {
	if raw, ok := obj["data"]; ok && string(raw) != "null" {
		ev.Data = compactJSON(raw) // raw came out of a JSON object: it is valid
	}
	var err error
	if ev.CostUSD, err = decodeCost(obj["cost_usd"]); err != nil {
		return err
	}
	if ev.TokenCount, err = decodeTokens(obj["token_count"]); err != nil {
		return err
	}
	ev.Model, err = nullableString(obj, "model")
	return err
}

func decodeCost(raw json.RawMessage) (*float64, error) {
	if raw == nil || string(raw) == "null" {
		return nil, nil
	}
	if raw[0] == '"' || raw[0] == '{' || raw[0] == '[' || raw[0] == 't' || raw[0] == 'f' {
		return nil, &FieldError{Field: "cost_usd", Msg: "must be a number or null, got " + kindOf(raw)}
	}
	v, err := strconv.ParseFloat(string(raw), 64)
	if err != nil || math.IsInf(v, 0) {
		return nil, &FieldError{Field: "cost_usd", Msg: "number out of range"}
	}
	if v < 0 {
		return nil, &FieldError{Field: "cost_usd", Msg: "must not be negative"}
	}
	if v == 0 {
		v = 0 // -0 becomes 0, as SQLite stores it: the payload digest covers the sign bit
	}
	return &v, nil
}

func decodeTokens(raw json.RawMessage) (*int64, error) {
	if raw == nil || string(raw) == "null" {
		return nil, nil
	}
	if raw[0] == '"' || raw[0] == '{' || raw[0] == '[' || raw[0] == 't' || raw[0] == 'f' {
		return nil, &FieldError{Field: "token_count", Msg: "must be an integer or null, got " + kindOf(raw)}
	}
	v, err := strconv.ParseInt(string(raw), 10, 64)
	if err != nil {
		return nil, &FieldError{Field: "token_count", Msg: fmt.Sprintf("must be an integer, got %s", raw)}
	}
	if v < 0 {
		return nil, &FieldError{Field: "token_count", Msg: "must not be negative"}
	}
	return &v, nil
}

func kindOf(raw json.RawMessage) string {
	if raw[0] == '"' {
		return "a string"
	}
	return jsonKind(raw)
}

// sortedKeys returns obj's keys in byte order, so that the error reported
// for an event with several faults does not depend on map iteration.
func sortedKeys(obj map[string]json.RawMessage) []string {
	keys := make([]string, 0, len(obj))
	for k := range obj {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
