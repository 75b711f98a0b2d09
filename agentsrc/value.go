package agentsrc

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
)

// maxDepth bounds how deeply maps and arrays may nest in one value. A value
// nested deeper is refused with a reason; it never exhausts the stack.
const maxDepth = 32

// errTooDeep reports a value nested deeper than maxDepth.
type errTooDeep struct{ where string }

func (e errTooDeep) Error() string {
	return fmt.Sprintf("%s: value nested deeper than %d levels", e.where, maxDepth)
}

// valueAny converts a pdata value to plain Go values that encoding/json
// writes: maps, slices, strings, int64, float64, bool, nil. Bytes become
// base64 strings; NaN and infinities become the strings "NaN", "+Inf" and
// "-Inf", which JSON has no number for.
func valueAny(v pcommon.Value, depth int) (any, bool) {
	switch v.Type() {
	case pcommon.ValueTypeStr:
		return v.Str(), true
	case pcommon.ValueTypeInt:
		return v.Int(), true
	case pcommon.ValueTypeDouble:
		return jsonFloat(v.Double()), true
	case pcommon.ValueTypeBool:
		return v.Bool(), true
	case pcommon.ValueTypeBytes:
		return v.Bytes().AsRaw(), true
	case pcommon.ValueTypeMap:
		if depth >= maxDepth {
			return nil, false
		}
		return mapAny(v.Map(), depth+1)
	case pcommon.ValueTypeSlice:
		if depth >= maxDepth {
			return nil, false
		}
		s := v.Slice()
		out := make([]any, s.Len())
		for i := range s.Len() {
			x, ok := valueAny(s.At(i), depth+1)
			if !ok {
				return nil, false
			}
			out[i] = x
		}
		return out, true
	}
	return nil, true
}

// mapAny converts a pdata map; ok is false when a value nests too deeply.
// A key repeated in the map keeps its last value.
func mapAny(m pcommon.Map, depth int) (map[string]any, bool) {
	out := make(map[string]any, m.Len())
	ok := true
	m.Range(func(k string, v pcommon.Value) bool {
		out[k], ok = valueAny(v, depth)
		return ok
	})
	return out, ok
}

func jsonFloat(f float64) any {
	switch {
	case math.IsNaN(f):
		return "NaN"
	case math.IsInf(f, 1):
		return "+Inf"
	case math.IsInf(f, -1):
		return "-Inf"
	}
	return f
}

// attrStr returns the first of keys that is present as a non-empty value,
// as a string.
func attrStr(m pcommon.Map, keys ...string) string {
	for _, k := range keys {
		if v, ok := m.Get(k); ok {
			if s := scalarString(v); s != "" {
				return s
			}
		}
	}
	return ""
}

// scalarString gives a string, number or bool value as text; "" for the
// rest.
func scalarString(v pcommon.Value) string {
	switch v.Type() {
	case pcommon.ValueTypeStr, pcommon.ValueTypeInt, pcommon.ValueTypeBool:
		return v.AsString()
	case pcommon.ValueTypeDouble:
		return strconv.FormatFloat(v.Double(), 'g', -1, 64)
	}
	return ""
}

// attrFloat reads a number sent as a double, an int or a decimal string.
// ok is false when the attribute is absent, not a number, negative or not
// finite.
func attrFloat(m pcommon.Map, key string) (float64, bool) {
	v, ok := m.Get(key)
	if !ok {
		return 0, false
	}
	var f float64
	switch v.Type() {
	case pcommon.ValueTypeDouble:
		f = v.Double()
	case pcommon.ValueTypeInt:
		f = float64(v.Int())
	case pcommon.ValueTypeStr:
		var err error
		if f, err = strconv.ParseFloat(strings.TrimSpace(v.Str()), 64); err != nil {
			return 0, false
		}
	default:
		return 0, false
	}
	if math.IsNaN(f) || math.IsInf(f, 0) || f < 0 {
		return 0, false
	}
	return f, true
}

// maxCount bounds one token count (2^53), so that sums cannot overflow and
// the float a count came from was exact.
const maxCount = 1 << 53

// attrCount reads a non-negative whole token count sent as an int, a
// double with no fraction or a decimal string.
func attrCount(m pcommon.Map, key string) (int64, bool) {
	v, ok := m.Get(key)
	if !ok {
		return 0, false
	}
	if v.Type() == pcommon.ValueTypeInt {
		n := v.Int()
		return n, n >= 0 && n <= maxCount
	}
	f, ok := attrFloat(m, key)
	if !ok || f != math.Trunc(f) || f > maxCount {
		return 0, false
	}
	return int64(f), true
}

// formatTS is the ts of every mapped event: UTC, RFC 3339 with as many
// fractional digits as needed.
func formatTS(t time.Time) string {
	return t.UTC().Format(time.RFC3339Nano)
}

// parseTS reads an RFC 3339 time, or a number of milliseconds or
// nanoseconds since the epoch (told apart by size).
func parseTS(s string) (time.Time, bool) {
	s = strings.TrimSpace(s)
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, true
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n <= 0 {
		return time.Time{}, false
	}
	return epochTime(n), true
}

// epochTime reads seconds, milliseconds, microseconds or nanoseconds since
// the epoch, whichever puts the time between 1970 and 2300.
func epochTime(n int64) time.Time {
	switch {
	case n < 1e11:
		return time.Unix(n, 0)
	case n < 1e14:
		return time.UnixMilli(n)
	case n < 1e17:
		return time.UnixMicro(n)
	}
	return time.Unix(0, n)
}
