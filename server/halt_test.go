package server_test

import (
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"strings"
	"testing"

	"chainlog/server"
)

// healthBody is /healthz's answer.
type healthBody struct {
	Status string `json:"status"`
	Error  string `json:"error"`
}

func wantUnhealthy(t *testing.T, d *daemon, says string) {
	t.Helper()
	r := d.get(t, "/healthz")
	if r.status != http.StatusServiceUnavailable {
		t.Fatalf("GET /healthz = %s; want 503", r)
	}
	var b healthBody
	if err := json.Unmarshal(r.body, &b); err != nil {
		t.Fatalf("healthz body %q: %v", r.body, err)
	}
	if b.Status != "unhealthy" || !strings.Contains(b.Error, says) {
		t.Errorf("healthz = %+v; want status unhealthy and an error that says %q", b, says)
	}
}

func wantHealthy(t *testing.T, d *daemon) {
	t.Helper()
	if r := d.get(t, "/healthz"); r.status != http.StatusOK {
		t.Fatalf("GET /healthz = %s; want 200", r)
	}
}

// TestDaemonStopsWhenWALDeleted deletes the -wal and -shm files of a
// running daemon's store. Its connections would go on committing into the
// deleted -wal, and every event acknowledged since would be lost when the
// process ends: the next POST must not be acknowledged, and /healthz says
// why, whichever comes first.
func TestDaemonStopsWhenWALDeleted(t *testing.T) {
	for _, first := range []string{"post", "healthz"} {
		t.Run(first+" first", func(t *testing.T) {
			d := newDaemon(t, daemonConfig{})
			wantPosted(t, d.post(t, ev("a")), postResult{Accepted: 1})
			wantHealthy(t, d)
			for _, f := range []string{d.path + "-wal", d.path + "-shm"} {
				if err := os.Remove(f); err != nil {
					t.Fatal(err)
				}
			}
			if first == "healthz" {
				wantUnhealthy(t, d, "-wal was deleted")
			}
			for _, id := range []string{"b", "c"} {
				b := wantError(t, d.post(t, ev(id)), http.StatusServiceUnavailable)
				if !strings.Contains(b.Error, "-wal was deleted") || !strings.Contains(b.Error, "not acknowledged") {
					t.Errorf("503 body = %q; want the reason and that nothing is acknowledged", b.Error)
				}
			}
			wantUnhealthy(t, d, "-wal was deleted")
		})
	}
}

// TestDaemonStopsAfterCheckpointFailures reports failed checkpoints to the
// writer: past the bound the daemon stops acknowledging and /healthz says
// why; a checkpoint that succeeds again ends it.
func TestDaemonStopsAfterCheckpointFailures(t *testing.T) {
	d := newDaemon(t, daemonConfig{Writer: server.WriterConfig{MaxCheckpointFailures: 3}})
	publishErr := errors.New("publish checkpoint: connection refused")
	// Failures that a success interrupts do not add up.
	for range 2 {
		d.writer.CheckpointResult(publishErr)
	}
	d.writer.CheckpointResult(nil)
	for range 2 {
		d.writer.CheckpointResult(publishErr)
	}
	wantPosted(t, d.post(t, ev("a")), postResult{Accepted: 1})
	wantHealthy(t, d)

	d.writer.CheckpointResult(publishErr)
	b := wantError(t, d.post(t, ev("b")), http.StatusServiceUnavailable)
	if !strings.Contains(b.Error, "3 checkpoints in a row failed") || !strings.Contains(b.Error, "connection refused") {
		t.Errorf("503 body = %q; want the count and the last failure", b.Error)
	}
	wantUnhealthy(t, d, "3 checkpoints in a row failed")

	d.writer.CheckpointResult(nil)
	wantHealthy(t, d)
	wantPosted(t, d.post(t, ev("b")), postResult{Accepted: 1})
}
