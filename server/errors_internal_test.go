package server

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"

	"chainlog"
)

func TestStatus(t *testing.T) {
	wrap := func(err error) error { return fmt.Errorf("context: %w", err) }
	tests := []struct {
		name  string
		err   error
		want  int
		retry bool
	}{
		{"unauthorized", errUnauthorized, http.StatusUnauthorized, false},
		{"body too large", &http.MaxBytesError{Limit: 10}, http.StatusRequestEntityTooLarge, false},
		{"body too large, wrapped", wrap(&http.MaxBytesError{Limit: 10}), http.StatusRequestEntityTooLarge, false},
		{"unsupported encoding", unsupportedEncoding("br"), http.StatusUnsupportedMediaType, false},
		{"bad request", invalid("limit: want 1 to 1000"), http.StatusBadRequest, false},
		{"unreadable body", badRequest{context.Canceled}, http.StatusBadRequest, false},
		{"invalid events", errInvalidEvents, http.StatusBadRequest, false},
		{"no such node", &chainlog.NoSuchNodeError{NodeID: "x"}, http.StatusNotFound, false},
		{"not found", wrap(chainlog.ErrNotFound), http.StatusNotFound, false},
		{"conflict", wrap(chainlog.ErrConflict), http.StatusConflict, false},
		{"budget spent", errBudget, http.StatusServiceUnavailable, true},
		{"queue full", wrap(ErrQueueFull), http.StatusServiceUnavailable, true},
		{"shutting down", ErrClosed, http.StatusServiceUnavailable, true},
		{"halted", fmt.Errorf("%w: %w", ErrHalted, chainlog.ErrFilesReplaced), http.StatusServiceUnavailable, false},
		{"files replaced", wrap(chainlog.ErrFilesReplaced), http.StatusServiceUnavailable, false},
		{"read-only store", wrap(chainlog.ErrReadOnly), http.StatusServiceUnavailable, false},
		// The daemon's own failure is 500 whatever it wraps: a stored hash
		// not found while verifying is no missing resource of the client's.
		{"internal, wrapping not found", internal{wrap(chainlog.ErrNotFound)}, http.StatusInternalServerError, false},
		{"internal, wrapping a refusal", internal{ErrQueueFull}, http.StatusInternalServerError, false},
		{"anything else", errors.New("disk I/O error"), http.StatusInternalServerError, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, retry := status(tt.err)
			if got != tt.want || retry != tt.retry {
				t.Errorf("status(%v) = %d, retry %v; want %d, retry %v", tt.err, got, retry, tt.want, tt.retry)
			}
			rec := httptest.NewRecorder()
			fail(rec, tt.err)
			if rec.Code != tt.want || (rec.Header().Get("Retry-After") != "") != tt.retry {
				t.Errorf("fail(%v): %d, Retry-After %q; want %d, retry %v", tt.err, rec.Code, rec.Header().Get("Retry-After"), tt.want, tt.retry)
			}
		})
	}
}
