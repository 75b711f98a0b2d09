package server

import (
	"errors"
	"net/http"

	"chainlog"
)

// errUnauthorized is a request without the bearer token, or with another.
var errUnauthorized = errors.New("missing or wrong bearer token")

// badRequest is a client's mistake in a request; its message is its
// cause's.
type badRequest struct{ err error }

func (b badRequest) Error() string { return b.err.Error() }
func (b badRequest) Unwrap() error { return b.err }

// invalid returns a badRequest with the message msg.
func invalid(msg string) error { return badRequest{errors.New(msg)} }

// messaged is an error answered with another message than its own; the
// status table sees the error it wraps.
type messaged struct {
	err error
	msg string
}

func (m messaged) Error() string { return m.msg }
func (m messaged) Unwrap() error { return m.err }

// withMessage returns err, answered with msg.
func withMessage(err error, msg string) error { return messaged{err, msg} }

// internal is a failure of the daemon itself, such as a store it cannot
// read, whatever the error it wraps: 500.
type internal struct{ err error }

func (i internal) Error() string { return i.err.Error() }
func (i internal) Unwrap() error { return i.err }

// statuses maps errors to HTTP statuses: the first row that matches err
// gives its status, and whether the answer asks the client to retry
// (Retry-After). An error no row matches is 500.
var statuses = []struct {
	match  func(error) bool
	status int
	retry  bool
}{
	{as[internal], http.StatusInternalServerError, false},
	{is(errUnauthorized), http.StatusUnauthorized, false},
	{as[*http.MaxBytesError], http.StatusRequestEntityTooLarge, false},
	{as[unsupportedEncoding], http.StatusUnsupportedMediaType, false},
	{as[unsupportedMediaType], http.StatusUnsupportedMediaType, false},
	{as[badRequest], http.StatusBadRequest, false},
	{as[*chainlog.NoSuchNodeError], http.StatusNotFound, false},
	{is(chainlog.ErrNotFound), http.StatusNotFound, false},
	{is(chainlog.ErrPruned), http.StatusGone, false},
	{is(chainlog.ErrConflict), http.StatusConflict, false},
	// Refusals for now: the client may send again later.
	{is(errBudget), http.StatusServiceUnavailable, true},
	{is(ErrQueueFull), http.StatusServiceUnavailable, true},
	{is(ErrClosed), http.StatusServiceUnavailable, true},
	// The daemon no longer acknowledges writes until it is restarted.
	{is(ErrHalted), http.StatusServiceUnavailable, false},
	{is(chainlog.ErrFilesReplaced), http.StatusServiceUnavailable, false},
	{is(chainlog.ErrReadOnly), http.StatusServiceUnavailable, false},
}

// status returns the HTTP status for err, and whether to ask for a retry.
func status(err error) (code int, retry bool) {
	for _, s := range statuses {
		if s.match(err) {
			return s.status, s.retry
		}
	}
	return http.StatusInternalServerError, false
}

func is(target error) func(error) bool {
	return func(err error) bool { return errors.Is(err, target) }
}

func as[T error](err error) bool {
	var t T
	return errors.As(err, &t)
}

// writeFailure answers err with its status and {"error": msg}, and with
// Retry-After when the client may send again later.
func writeFailure(w http.ResponseWriter, err error, msg string) {
	code, retry := status(err)
	if retry {
		w.Header().Set("Retry-After", "1")
	}
	writeError(w, code, msg)
}

// fail answers err with its status and its message.
func fail(w http.ResponseWriter, err error) { writeFailure(w, err, err.Error()) }
