package evidence

import (
	"bytes"
	"encoding/json"
	"fmt"
)

// checkKeys walks the JSON document and refuses an object with a key
// twice, or a key outside [a-z0-9_]: every name in a pack is lowercase
// ASCII, so that no reader can match a name another reader would not.
func checkKeys(data []byte) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	type frame struct {
		obj  bool
		seen map[string]bool
		key  bool // the next string token is a key
	}
	var stack []frame
	for {
		tok, err := dec.Token()
		if err != nil {
			if len(stack) == 0 {
				return nil // the decoder reports what follows
			}
			return err
		}
		top := len(stack) - 1
		isKey := top >= 0 && stack[top].obj && stack[top].key
		switch t := tok.(type) {
		case json.Delim:
			switch t {
			case '{':
				stack = append(stack, frame{obj: true, seen: map[string]bool{}, key: true})
				continue
			case '[':
				stack = append(stack, frame{})
				continue
			default:
				stack = stack[:top]
			}
		case string:
			if isKey {
				if !plainKey(t) {
					return fmt.Errorf("key %q: names are lowercase ASCII letters, digits and _", t)
				}
				if stack[top].seen[t] {
					return fmt.Errorf("key %q appears twice in one object", t)
				}
				stack[top].seen[t] = true
				stack[top].key = false
				continue
			}
		}
		if len(stack) == 0 {
			return nil
		}
		if top = len(stack) - 1; stack[top].obj {
			stack[top].key = true
		}
	}
}

func plainKey(k string) bool {
	if k == "" {
		return false
	}
	for i := 0; i < len(k); i++ {
		c := k[i]
		if (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '_' {
			return false
		}
	}
	return true
}
