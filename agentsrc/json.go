package agentsrc

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
)

// obj is one decoded JSON object of a transcript line. Numbers stay
// json.Number, so that they are written back as they came.
type obj = map[string]any

// decodeLine decodes one transcript line: a JSON object, or an error that
// says what is wrong with the line.
func decodeLine(line []byte) (obj, error) {
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, fmt.Errorf("not JSON: %v", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("not JSON: text after the value")
	}
	o, ok := v.(obj)
	if !ok {
		return nil, fmt.Errorf("not a JSON object")
	}
	return o, nil
}

// get walks a path of object members; nil when any step is missing or not
// an object.
func get(o obj, path ...string) any {
	var v any = o
	for _, k := range path {
		m, ok := v.(obj)
		if !ok {
			return nil
		}
		v = m[k]
	}
	return v
}

// getStr is the string at path, or "".
func getStr(o obj, path ...string) string {
	s, _ := get(o, path...).(string)
	return s
}

func getObj(o obj, path ...string) obj {
	m, _ := get(o, path...).(obj)
	return m
}

// getNum reads a number sent as a JSON number or a decimal string; ok is
// false when absent, malformed, negative or not finite.
func getNum(o obj, path ...string) (float64, bool) {
	var s string
	switch v := get(o, path...).(type) {
	case json.Number:
		s = v.String()
	case string:
		s = strings.TrimSpace(v)
	default:
		return 0, false
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) || f < 0 {
		return 0, false
	}
	return f, true
}

// getCount reads a whole, non-negative token count no larger than 2^53.
func getCount(o obj, path ...string) (int64, bool) {
	f, ok := getNum(o, path...)
	if !ok || f != math.Trunc(f) || f > maxCount {
		return 0, false
	}
	return int64(f), true
}

// getBool reads true/false, or the strings "true"/"false"; ok is false
// otherwise.
func getBool(o obj, path ...string) (bool, bool) {
	switch v := get(o, path...).(type) {
	case bool:
		return v, true
	case string:
		b, err := strconv.ParseBool(v)
		return b, err == nil
	}
	return false, false
}
