package chainlog

import (
	"errors"
	"strings"
	"testing"
)

func TestCursorValidate(t *testing.T) {
	for _, tc := range []struct {
		name  string
		c     Cursor
		field string // "" for valid
	}{
		{"valid", Cursor{Source: "codex", Path: "/s/r.jsonl", Offset: 10, FileID: "1:2", Size: 12}, ""},
		{"offset 0, no identity", Cursor{Source: "codex", Path: "/s/r.jsonl"}, ""},
		{"no source", Cursor{Path: "/s/r.jsonl"}, "source"},
		{"no path", Cursor{Source: "codex"}, "path"},
		{"negative offset", Cursor{Source: "codex", Path: "/s/r.jsonl", Offset: -1}, "offset"},
		{"negative size", Cursor{Source: "codex", Path: "/s/r.jsonl", Size: -5}, "size"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.c.Validate()
			if tc.field == "" {
				if err != nil {
					t.Errorf("Validate(%+v) = %v; want nil", tc.c, err)
				}
				return
			}
			if !errors.Is(err, ErrCursor) || !strings.Contains(err.Error(), tc.field) {
				t.Errorf("Validate(%+v) = %v; want ErrCursor naming %s", tc.c, err, tc.field)
			}
		})
	}
}
