package chainlog

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
)

// Mutable is an event's mutable fields: data (compact JSON, nil for NULL),
// cost_usd, token_count and model. They are outside the identity chain and
// covered by the payload digest and the amendment trail instead.
type Mutable struct {
	Data       json.RawMessage
	CostUSD    *float64
	TokenCount *int64
	Model      *string
}

// Mutable returns e's mutable fields.
func (e *Event) Mutable() Mutable {
	return Mutable{Data: e.Data, CostUSD: e.CostUSD, TokenCount: e.TokenCount, Model: e.Model}
}

// SetMutable replaces e's mutable fields with m.
func (e *Event) SetMutable(m Mutable) {
	e.Data, e.CostUSD, e.TokenCount, e.Model = m.Data, m.CostUSD, m.TokenCount, m.Model
}

// PayloadDigestPrefix starts every payload digest's input; the version lets
// the encoding change without ambiguity.
const PayloadDigestPrefix = "chainlog-payload-v1\n"

// AppendPayload appends the canonical form of m to dst (see
// docs/audit-trail.md): the prefix, then data, cost_usd, token_count and
// model in that order, each as "N;" when NULL or "<length>:<bytes>;" with
// the length in decimal bytes. data is the stored JSON text, cost_usd the 16
// lowercase hex digits of its IEEE 754 binary64 bits, token_count a decimal
// integer, model its UTF-8 bytes.
func AppendPayload(dst []byte, m *Mutable) []byte {
	dst = append(dst, PayloadDigestPrefix...)
	if m.Data == nil {
		dst = append(dst, "N;"...)
	} else {
		dst = appendNetField(dst, m.Data)
	}
	if m.CostUSD == nil {
		dst = append(dst, "N;"...)
	} else {
		// All 16 digits, leading zeros included, in a local buffer.
		var b [16]byte
		bits := math.Float64bits(*m.CostUSD)
		for i := len(b) - 1; i >= 0; i-- {
			b[i] = lowerHex[bits&0xf]
			bits >>= 4
		}
		dst = appendNetField(dst, b[:])
	}
	if m.TokenCount == nil {
		dst = append(dst, "N;"...)
	} else {
		var b [20]byte
		dst = appendNetField(dst, strconv.AppendInt(b[:0], *m.TokenCount, 10))
	}
	if m.Model == nil {
		return append(dst, "N;"...)
	}
	return appendNetField(dst, []byte(*m.Model))
}

func appendNetField(dst, b []byte) []byte {
	dst = strconv.AppendInt(dst, int64(len(b)), 10)
	dst = append(dst, ':')
	dst = append(dst, b...)
	return append(dst, ';')
}

// PayloadDigest returns the hex SHA-256 of m's canonical form.
func PayloadDigest(m *Mutable) string {
	var h Hasher
	return h.PayloadSum(m)
}

// PayloadSum returns the payload digest of m, reusing the Hasher's buffer.
func (h *Hasher) PayloadSum(m *Mutable) string {
	h.buf = AppendPayload(h.buf[:0], m)
	sum := sha256.Sum256(h.buf)
	return hex.EncodeToString(sum[:])
}

// Mutable field names, as amendments list them.
const (
	FieldData       = "data"
	FieldCostUSD    = "cost_usd"
	FieldTokenCount = "token_count"
	FieldModel      = "model"
)

// Patch is a change to an event's mutable fields: the fields named in Set
// take their values from Values; the others keep theirs.
type Patch struct {
	Set    []string
	Values Mutable
}

// Apply returns m with p's fields replaced, after checking the field names.
func (p *Patch) Apply(m Mutable) (Mutable, error) {
	if len(p.Set) == 0 {
		return m, errors.New("patch changes no field")
	}
	seen := map[string]bool{}
	for _, f := range p.Set {
		if seen[f] {
			return m, fmt.Errorf("patch names field %q twice", f)
		}
		seen[f] = true
		switch f {
		case FieldData:
			if p.Values.Data != nil && !json.Valid(p.Values.Data) {
				return m, &FieldError{Field: f, Msg: "not valid JSON"}
			}
			m.Data = compactJSON(p.Values.Data)
		case FieldCostUSD:
			if c := p.Values.CostUSD; c != nil && (*c < 0 || math.IsNaN(*c) || math.IsInf(*c, 0)) {
				return m, &FieldError{Field: f, Msg: "must be a finite, non-negative number"}
			}
			m.CostUSD = p.Values.CostUSD
			if c := m.CostUSD; c != nil && *c == 0 {
				m.CostUSD = new(float64) // -0.0 is stored as 0: digest what is stored
			}
		case FieldTokenCount:
			if t := p.Values.TokenCount; t != nil && *t < 0 {
				return m, &FieldError{Field: f, Msg: "must not be negative"}
			}
			m.TokenCount = p.Values.TokenCount
		case FieldModel:
			m.Model = p.Values.Model
		default:
			return m, fmt.Errorf("field %q is not a mutable field (data, cost_usd, token_count, model)", f)
		}
	}
	return m, nil
}

// compactJSON returns valid JSON b without insignificant whitespace.
func compactJSON(b json.RawMessage) json.RawMessage {
	if b == nil {
		return nil
	}
	if isCompact(b) {
		// Nothing to elide: the common case, and a copy is all Compact
		// would make of it.
		return bytes.Clone(b)
	}
	var buf bytes.Buffer
	if json.Compact(&buf, b) != nil {
		return b
	}
	return buf.Bytes()
}

// isCompact reports whether the JSON text b has no space outside its
// strings, where json.Compact would elide it.
func isCompact(b []byte) bool {
	for i := 0; i < len(b); i++ {
		switch b[i] {
		case '"':
			i = stringEnd(b, i) - 1
		case ' ', '\t', '\n', '\r':
			return false
		}
	}
	return true
}
