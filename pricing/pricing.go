// Package pricing holds chainlog's model price table and the pure
// functions that turn an event payload's token usage into a USD cost.
//
// The table lives in prices.json (embedded at build time) and records the
// vendors' published API list prices per million tokens, together with
// the month those prices are from. Default returns it; Parse reads
// another table strictly. Lookup maps a model name as it appears in an
// event (possibly dated or provider-prefixed) to a table entry,
// UsageFromPayload extracts token counts from an Anthropic- or
// OpenAI-shaped payload, and Price.Cost combines the two.
package pricing

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
)

//go:embed prices.json
var embedded []byte

// Price is one model's list price in USD per million tokens.
type Price struct {
	Model      string  `json:"model"`
	Input      float64 `json:"input"`
	Output     float64 `json:"output"`
	CacheRead  float64 `json:"cache_read"`
	CacheWrite float64 `json:"cache_write"`
}

// Table is a price table: where the prices come from, the month they are
// from, and one Price per model.
type Table struct {
	Source   string  `json:"source"`
	AsOf     string  `json:"as_of"`
	Currency string  `json:"currency"`
	Unit     string  `json:"unit"`
	Models   []Price `json:"models"`
}

var defaultTable = sync.OnceValue(func() *Table {
	t, err := Parse(embedded)
	if err != nil {
		panic(fmt.Sprintf("pricing: embedded prices.json: %v", err))
	}
	return t
})

// Default returns the embedded price table. It is parsed once; each call
// returns a fresh copy, so callers may modify the result. It panics only
// if the embedded file is broken.
func Default() *Table {
	t := *defaultTable()
	t.Models = slices.Clone(t.Models)
	return &t
}

// rawTable and rawPrice mirror Table and Price with pointers, so Parse can
// tell a missing price from a zero one.
type rawTable struct {
	Source   string            `json:"source"`
	AsOf     string            `json:"as_of"`
	Currency string            `json:"currency"`
	Unit     string            `json:"unit"`
	Models   []json.RawMessage `json:"models"`
}

type rawPrice struct {
	Model      *string  `json:"model"`
	Input      *float64 `json:"input"`
	Output     *float64 `json:"output"`
	CacheRead  *float64 `json:"cache_read"`
	CacheWrite *float64 `json:"cache_write"`
}

// Parse reads a price table strictly: unknown fields, trailing data, an
// empty models list, an empty or duplicate model name (compared without
// case), and a missing or negative price are all errors.
func Parse(b []byte) (*Table, error) {
	var raw rawTable
	if err := decodeStrict(b, &raw); err != nil {
		return nil, fmt.Errorf("pricing: %w", err)
	}
	if len(raw.Models) == 0 {
		return nil, errors.New("pricing: no models")
	}
	t := &Table{Source: raw.Source, AsOf: raw.AsOf, Currency: raw.Currency, Unit: raw.Unit}
	seen := make(map[string]bool, len(raw.Models))
	for i, m := range raw.Models {
		p, err := parsePrice(i, m)
		if err != nil {
			return nil, fmt.Errorf("pricing: %w", err)
		}
		key := strings.ToLower(p.Model)
		if seen[key] {
			return nil, fmt.Errorf("pricing: model %q: duplicate model", p.Model)
		}
		seen[key] = true
		t.Models = append(t.Models, p)
	}
	return t, nil
}

// decodeStrict decodes exactly one JSON value into v, rejecting unknown
// fields and trailing data.
func decodeStrict(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if _, err := dec.Token(); err != io.EOF {
		return errors.New("trailing data")
	}
	return exactKeys(b, v)
}

// exactKeys rejects object keys that encoding/json accepted only by its
// case-insensitive matching, such as "Input" for "input".
func exactKeys(b []byte, v any) error {
	var m map[string]json.RawMessage
	if json.Unmarshal(b, &m) != nil {
		return nil // not an object (null); already decoded
	}
	typ := reflect.TypeOf(v).Elem()
	for key := range m {
		if !hasJSONName(typ, key) {
			return fmt.Errorf("unknown field %q", key)
		}
	}
	return nil
}

func hasJSONName(typ reflect.Type, key string) bool {
	for f := range typ.Fields() {
		if name, _, _ := strings.Cut(f.Tag.Get("json"), ","); name == key {
			return true
		}
	}
	return false
}

// parsePrice reads models[i]. Its errors name the model, or the index
// when the name is not known.
func parsePrice(i int, b json.RawMessage) (Price, error) {
	var r rawPrice
	if err := decodeStrict(b, &r); err != nil {
		return Price{}, fmt.Errorf("models[%d]: %w", i, err)
	}
	if r.Model == nil || strings.TrimSpace(*r.Model) == "" {
		return Price{}, fmt.Errorf("models[%d]: empty model name", i)
	}
	p := Price{Model: *r.Model}
	if strings.TrimSpace(p.Model) != p.Model {
		return Price{}, fmt.Errorf("model %q: name has surrounding space", p.Model)
	}
	fields := []struct {
		name string
		src  *float64
		dst  *float64
	}{
		{"input", r.Input, &p.Input},
		{"output", r.Output, &p.Output},
		{"cache_read", r.CacheRead, &p.CacheRead},
		{"cache_write", r.CacheWrite, &p.CacheWrite},
	}
	for _, f := range fields {
		if f.src == nil {
			return Price{}, fmt.Errorf("model %q: missing %s price", p.Model, f.name)
		}
		if *f.src < 0 {
			return Price{}, fmt.Errorf("model %q: negative %s price", p.Model, f.name)
		}
		*f.dst = *f.src
	}
	return p, nil
}

// Lookup finds the price for model. It tries, in order: an exact match
// (ignoring case and surrounding space); an exact match after stripping a
// provider prefix such as "anthropic/", "openai/", "anthropic." or
// "us.anthropic."; and the longest table entry E such that the name is
// E followed by "-" or "@" and a version tag (a date such as "20250514"
// or "2024-07-18", or "latest"). The version-tag rule keeps a distinct
// model that merely extends a known name ("o3-pro", "claude-opus-4-5")
// from being priced as the shorter entry.
func (t *Table) Lookup(model string) (Price, bool) {
	if t == nil {
		return Price{}, false
	}
	name := strings.ToLower(strings.TrimSpace(model))
	if p, ok := t.exact(name); ok {
		return p, true
	}
	name = stripProvider(name)
	if p, ok := t.exact(name); ok {
		return p, true
	}
	return t.longestPrefix(name)
}

func (t *Table) exact(name string) (Price, bool) {
	for _, p := range t.Models {
		if strings.EqualFold(p.Model, name) {
			return p, true
		}
	}
	return Price{}, false
}

func (t *Table) longestPrefix(name string) (Price, bool) {
	var best Price
	bestLen := 0
	for _, p := range t.Models {
		entry := strings.ToLower(p.Model)
		if entry == "" || !strings.HasPrefix(name, entry) {
			continue
		}
		if isVersionSuffix(name[len(entry):]) && len(entry) > bestLen {
			best, bestLen = p, len(entry)
		}
	}
	return best, bestLen > 0
}

// stripProvider removes routing prefixes: everything up to the last "/"
// ("openrouter/anthropic/x" → "x") and a Bedrock-style "anthropic." or
// "openai." segment, with any region before it ("us.anthropic.x" → "x").
func stripProvider(name string) string {
	if i := strings.LastIndexByte(name, '/'); i >= 0 {
		name = name[i+1:]
	}
	for _, p := range []string{"anthropic.", "openai."} {
		if i := strings.Index(name, p); i >= 0 {
			name = name[i+len(p):]
		}
	}
	return name
}

// isVersionSuffix reports whether s (what follows a table entry in a model
// name) is a separator followed by a version tag: a date-like number of at
// least four digits, or "latest".
func isVersionSuffix(s string) bool {
	if len(s) < 2 || (s[0] != '-' && s[0] != '@') {
		return false
	}
	tag, _, _ := strings.Cut(s[1:], "-")
	if tag == "latest" {
		return true
	}
	if len(tag) < 4 {
		return false
	}
	for _, c := range []byte(tag) {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// Usage is the token usage of one model call. InputTokens excludes cached
// tokens: cache reads and cache writes are counted separately.
type Usage struct {
	InputTokens, OutputTokens, CacheReadTokens, CacheWriteTokens int64
}

// Total returns the sum of all four token counts.
func (u Usage) Total() int64 {
	return u.InputTokens + u.OutputTokens + u.CacheReadTokens + u.CacheWriteTokens
}

// Cost returns the USD cost of u at price p.
func (p Price) Cost(u Usage) float64 {
	sum := float64(u.InputTokens)*p.Input +
		float64(u.OutputTokens)*p.Output +
		float64(u.CacheReadTokens)*p.CacheRead +
		float64(u.CacheWriteTokens)*p.CacheWrite
	return sum / 1e6
}

// maxCount bounds a single token count (2^53, the largest integer a
// float64 holds exactly), so Total cannot overflow and Cost stays exact
// in its inputs.
const maxCount = 1 << 53

type object = map[string]json.RawMessage

// UsageFromPayload extracts token usage from an event's JSON payload. It
// looks for a "usage" object at the top level, then under "response",
// "message" or "result" (first found wins), in Anthropic form
// (input_tokens, output_tokens, cache_read_input_tokens,
// cache_creation_input_tokens) or OpenAI form (prompt_tokens,
// completion_tokens, prompt_tokens_details.cached_tokens). OpenAI cached
// tokens are part of the prompt count, so they are moved from input to
// cache read; the same applies to input_tokens_details.cached_tokens of
// OpenAI's Responses API. Counts must be non-negative JSON integers; a
// null count is treated as absent. model is the "model" string beside the
// usage object, else at the top level, else "". ok is false, with zero
// results, when no usage is found or it is malformed.
func UsageFromPayload(data []byte) (u Usage, model string, ok bool) {
	var top object
	if json.Unmarshal(data, &top) != nil {
		return Usage{}, "", false
	}
	holder, raw := findUsage(top)
	if raw == nil {
		return Usage{}, "", false
	}
	u, ok = parseUsage(raw)
	if !ok {
		return Usage{}, "", false
	}
	model = stringField(holder, "model")
	if model == "" {
		model = stringField(top, "model")
	}
	return u, model, true
}

// findUsage returns the object holding a non-null "usage" member and that
// member, or nil, nil.
func findUsage(top object) (object, json.RawMessage) {
	if raw := present(top, "usage"); raw != nil {
		return top, raw
	}
	for _, key := range []string{"response", "message", "result"} {
		var inner object
		if json.Unmarshal(present(top, key), &inner) != nil {
			continue
		}
		if raw := present(inner, "usage"); raw != nil {
			return inner, raw
		}
	}
	return nil, nil
}

// present returns m[key] unless it is missing or JSON null.
func present(m object, key string) json.RawMessage {
	raw, ok := m[key]
	if !ok || string(raw) == "null" {
		return nil
	}
	return raw
}

func stringField(m object, key string) string {
	var s string
	if json.Unmarshal(present(m, key), &s) != nil {
		return ""
	}
	return s
}

func parseUsage(raw json.RawMessage) (Usage, bool) {
	var m object
	if json.Unmarshal(raw, &m) != nil || m == nil {
		return Usage{}, false
	}
	if present(m, "prompt_tokens") != nil || present(m, "completion_tokens") != nil {
		return openAIUsage(m)
	}
	if present(m, "input_tokens") != nil || present(m, "output_tokens") != nil {
		return anthropicUsage(m)
	}
	return Usage{}, false
}

func openAIUsage(m object) (Usage, bool) {
	var u Usage
	ok := counts(m, map[string]*int64{
		"prompt_tokens":     &u.InputTokens,
		"completion_tokens": &u.OutputTokens,
	})
	return moveCached(m, "prompt_tokens_details", u, ok)
}

// anthropicUsage also accepts OpenAI Responses API usage, which uses the
// same input_tokens/output_tokens names plus input_tokens_details.
func anthropicUsage(m object) (Usage, bool) {
	var u Usage
	ok := counts(m, map[string]*int64{
		"input_tokens":                &u.InputTokens,
		"output_tokens":               &u.OutputTokens,
		"cache_read_input_tokens":     &u.CacheReadTokens,
		"cache_creation_input_tokens": &u.CacheWriteTokens,
	})
	return moveCached(m, "input_tokens_details", u, ok)
}

// moveCached moves details.cached_tokens from u.InputTokens to
// u.CacheReadTokens. The details object may be absent or null.
func moveCached(m object, details string, u Usage, ok bool) (Usage, bool) {
	raw := present(m, details)
	if !ok || raw == nil {
		return u, ok
	}
	var d object
	var cached int64
	if json.Unmarshal(raw, &d) != nil || d == nil ||
		!counts(d, map[string]*int64{"cached_tokens": &cached}) {
		return Usage{}, false
	}
	if cached > u.InputTokens || u.CacheReadTokens+cached > maxCount {
		return Usage{}, false
	}
	u.InputTokens -= cached
	u.CacheReadTokens += cached
	return u, true
}

// counts reads each named count of m into its destination; absent or
// null counts stay zero. It reports false if any count is malformed.
func counts(m object, dst map[string]*int64) bool {
	for key, p := range dst {
		raw := present(m, key)
		if raw == nil {
			continue
		}
		n, ok := parseCount(raw)
		if !ok {
			return false
		}
		*p = n
	}
	return true
}

// parseCount accepts only a plain non-negative JSON integer literal no
// larger than maxCount.
func parseCount(raw json.RawMessage) (int64, bool) {
	s := string(bytes.TrimSpace(raw))
	if s == "" || strings.TrimLeft(s, "0123456789") != "" {
		return 0, false
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n > maxCount {
		return 0, false
	}
	return n, true
}
