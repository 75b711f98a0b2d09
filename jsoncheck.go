package chainlog

import (
	"bytes"
	"encoding/json"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"
)

// checkJSON finds, in the valid JSON text b, what two readers may read
// differently: an object with a repeated key, compared after unescaping
// ("i\u0064" is "id"), which one reader takes first and another last; and
// a string or key holding a lone UTF-16 surrogate escape, which has no
// UTF-8 form and which each decoder repairs its own way. The error is a
// *FieldError whose Field is the top-level key the fault is under (when b
// is an object) and whose Msg says where below it.
func checkJSON(b []byte) *FieldError {
	return checkJSONField(nil, b)
}

// checkJSONField is checkJSON for the value of the top-level field name;
// with name nil, b is the whole text.
func checkJSONField(name, b []byte) *FieldError {
	c := checkers.Get().(*jsonChecker)
	c.b = b
	if name != nil {
		c.path = append(c.path, pathElem{key: name})
	}
	_, fe := c.value(0)
	clear(c.keys[:cap(c.keys)])
	clear(c.path[:cap(c.path)])
	c.b, c.keys, c.path = nil, c.keys[:0], c.path[:0]
	checkers.Put(c)
	return fe
}

// checkers keeps jsonCheckers and the room they grew, so that checking
// an event's data allocates nothing.
var checkers = sync.Pool{New: func() any { return new(jsonChecker) }}

type jsonChecker struct {
	b    []byte
	keys [][]byte   // the keys of the objects open, innermost last
	path []pathElem // where the value being checked is
}

// pathElem is an object key, or an array index.
type pathElem struct {
	key     []byte
	index   int
	isIndex bool
}

// mapAbove is how many keys an object has before its keys are looked up
// in a map instead of compared one by one.
const mapAbove = 32

// value checks the value at b[i:] (after any space) and returns the index
// after it.
func (c *jsonChecker) value(i int) (int, *FieldError) {
	i = skipSpace(c.b, i)
	switch c.b[i] {
	case '"':
		end, esc := scanString(c.b, i)
		if esc {
			if msg := loneSurrogate(c.b[i:end]); msg != "" {
				return end, c.fault(msg, "")
			}
		}
		return end, nil
	case '{':
		return c.object(i)
	case '[':
		return c.array(i)
	default: // a number, true, false or null
		return valueEnd(c.b, i), nil
	}
}

func (c *jsonChecker) object(i int) (int, *FieldError) {
	start := len(c.keys)
	defer func() { c.keys = c.keys[:start] }()
	var seen map[string]bool
	i = skipSpace(c.b, i+1)
	if c.b[i] == '}' {
		return i + 1, nil
	}
	for {
		end, esc := scanString(c.b, i)
		key := c.b[i+1 : end-1]
		if esc {
			if msg := loneSurrogate(c.b[i:end]); msg != "" {
				return end, c.fault(msg, "in the key "+string(c.b[i:end]))
			}
			var s string
			if err := json.Unmarshal(c.b[i:end], &s); err != nil {
				return end, c.fault("invalid key "+string(c.b[i:end]), "")
			}
			key = []byte(s)
		}
		dup := false
		if seen != nil {
			dup = seen[string(key)]
			seen[string(key)] = true
		} else {
			for _, k := range c.keys[start:] {
				if bytes.Equal(k, key) {
					dup = true
					break
				}
			}
			c.keys = append(c.keys, key)
			if len(c.keys)-start > mapAbove {
				seen = make(map[string]bool, 2*mapAbove)
				for _, k := range c.keys[start:] {
					seen[string(k)] = true
				}
			}
		}
		if dup {
			return end, c.duplicate(key)
		}
		i = skipSpace(c.b, end)
		c.path = append(c.path, pathElem{key: key})
		var fe *FieldError
		i, fe = c.value(i + 1) // past ':'
		c.path = c.path[:len(c.path)-1]
		if fe != nil {
			return i, fe
		}
		i = skipSpace(c.b, i)
		if c.b[i] == '}' {
			return i + 1, nil
		}
		i = skipSpace(c.b, i+1) // past ','
	}
}

func (c *jsonChecker) array(i int) (int, *FieldError) {
	i = skipSpace(c.b, i+1)
	if c.b[i] == ']' {
		return i + 1, nil
	}
	for n := 0; ; n++ {
		c.path = append(c.path, pathElem{index: n, isIndex: true})
		var fe *FieldError
		i, fe = c.value(i)
		c.path = c.path[:len(c.path)-1]
		if fe != nil {
			return i, fe
		}
		i = skipSpace(c.b, i)
		if c.b[i] == ']' {
			return i + 1, nil
		}
		i++ // past ','
	}
}

// fault returns the error for msg at the current path: the top-level key
// is the Field; a deeper place follows msg, after where when given.
func (c *jsonChecker) fault(msg, where string) *FieldError {
	fe := &FieldError{Msg: msg}
	if where != "" {
		fe.Msg += " " + where
	}
	if len(c.path) == 0 {
		return fe
	}
	fe.Field = string(c.path[0].key)
	if len(c.path) > 1 || where != "" {
		fe.Msg += " at " + c.pathString()
	}
	return fe
}

// duplicate returns the error for key, seen twice in the object at the
// current path.
func (c *jsonChecker) duplicate(key []byte) *FieldError {
	if len(c.path) == 0 {
		return &FieldError{Field: string(key), Msg: "duplicate key: the object has this key more than once"}
	}
	return &FieldError{Field: string(c.path[0].key), Msg: "duplicate key " + strconv.Quote(string(key)) + " in the object at " + c.pathString()}
}

func (c *jsonChecker) pathString() string {
	var b strings.Builder
	for i, p := range c.path {
		switch {
		case p.isIndex:
			b.WriteString("[" + strconv.Itoa(p.index) + "]")
		case i == 0:
			b.Write(p.key)
		default:
			b.WriteByte('.')
			b.Write(p.key)
		}
	}
	return b.String()
}

// scanString returns the index after the JSON string that starts at i,
// and whether it has an escape.
func scanString(b []byte, i int) (end int, esc bool) {
	for j := i + 1; j < len(b); j++ {
		switch b[j] {
		case '\\':
			esc = true
			j++
		case '"':
			return j + 1, esc
		}
	}
	return len(b), esc
}

// CheckData returns a *FieldError for field "data" when raw, valid JSON
// meant as an event's data, holds invalid UTF-8, an object with a repeated
// key or a lone surrogate escape: what DecodeEvent refuses in data, for
// data that comes another way (an amendment).
func CheckData(raw []byte) error {
	if !utf8.Valid(raw) {
		return &FieldError{Field: FieldData, Msg: "invalid UTF-8"}
	}
	if fe := checkJSONField(dataKey, raw); fe != nil {
		return fe
	}
	return nil
}
