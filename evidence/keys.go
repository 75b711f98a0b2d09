package evidence

import (
	"fmt"
	"slices"
)

// checkKeys scans the JSON document and refuses an object with a key
// twice, or a key outside [a-z0-9_]: every name in a pack is lowercase
// ASCII with no escapes, so that no reader can match a name another
// reader would not (encoding/json takes the last of two equal keys and
// folds case). It tracks only the nesting and the strings; Decode's
// decoder checks the syntax.
func checkKeys(data []byte) error {
	type frame struct {
		obj  bool
		keys []string
		set  map[string]bool // when keys grows past smallObject
	}
	const smallObject = 32
	var stack []frame
	expectKey := false
	for i := 0; i < len(data); i++ {
		switch data[i] {
		case '{':
			stack = append(stack, frame{obj: true})
			expectKey = true
		case '[':
			stack = append(stack, frame{})
			expectKey = false
		case '}', ']':
			if len(stack) > 0 {
				stack = stack[:len(stack)-1]
			}
			expectKey = false
		case ',':
			expectKey = len(stack) > 0 && stack[len(stack)-1].obj
		case '"':
			j := stringEnd(data, i+1)
			if expectKey {
				key := data[i+1 : j]
				if !plainKey(key) {
					return fmt.Errorf("key %q: names are lowercase ASCII letters, digits and _", key)
				}
				f := &stack[len(stack)-1]
				switch {
				case f.set != nil:
					if f.set[string(key)] {
						return fmt.Errorf("key %q appears twice in one object", key)
					}
					f.set[string(key)] = true
				case slices.Contains(f.keys, string(key)):
					return fmt.Errorf("key %q appears twice in one object", key)
				default:
					f.keys = append(f.keys, string(key))
					if len(f.keys) > smallObject {
						f.set = make(map[string]bool, 2*smallObject)
						for _, k := range f.keys {
							f.set[k] = true
						}
					}
				}
				expectKey = false
			}
			i = j
		}
	}
	return nil
}

// stringEnd returns the index of the quote that ends the string whose
// first byte is at i (len(data) when it does not end).
func stringEnd(data []byte, i int) int {
	for ; i < len(data); i++ {
		switch data[i] {
		case '\\':
			i++
		case '"':
			return i
		}
	}
	return len(data)
}

func plainKey(k []byte) bool {
	if len(k) == 0 {
		return false
	}
	for _, c := range k {
		if (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '_' {
			return false
		}
	}
	return true
}
