package server_test

import (
	"net/http"
	"strings"
	"testing"

	"chainlog/server"
)

// TestPostEventsRepeatedKeys: an event with a repeated key, also written
// with an escape, or a data object with one, or a lone surrogate escape in
// data, is refused with 400 naming the field, in JSON and in NDJSON, and
// nothing is stored.
func TestPostEventsRepeatedKeys(t *testing.T) {
	t.Parallel()
	type ee = server.EventError
	twoIDs := strings.TrimSuffix(ev("a"), "}") + `,"id":"b"}`
	escapedID := strings.TrimSuffix(ev("a"), "}") + `,"i\u0064":"b"}`
	tests := []struct {
		name  string
		ctype string
		body  string
		want  []ee
	}{
		{"id twice", "application/json", twoIDs, []ee{{Index: 0, Field: "id", Error: "duplicate key"}}},
		{"id twice, escaped", "application/json", array(ev("ok"), escapedID), []ee{{Index: 1, Field: "id", Error: "duplicate key"}}},
		{"id twice in ndjson", "application/x-ndjson", ev("ok") + "\n" + escapedID + "\n", []ee{{Index: 1, Field: "id", Error: "line 2"}}},
		{"key twice in data", "application/json", ev("a", "data", `{"k":[{"x":1,"x":2}]}`), []ee{{Index: 0, Field: "data", Error: `duplicate key "x" in the object at data.k[0]`}}},
		{"lone surrogate in data", "application/json", ev("a", "data", `{"k":"\udc00"}`), []ee{{Index: 0, Field: "data", Error: "lone UTF-16 surrogate escape"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			d := newDaemon(t, daemonConfig{})
			r := d.do(t, http.MethodPost, "/v1/events", []byte(tt.body), "Content-Type", tt.ctype)
			b := wantError(t, r, http.StatusBadRequest)
			wantEventErrors(t, b.Errors, tt.want)
			if ids := storedIDs(t, d.path); len(ids) != 0 {
				t.Errorf("a rejected request stored %q", ids)
			}
		})
	}
}
