package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestServeStopsWhenCheckpointsKeepFailing runs the daemon with a signer
// key and a checkpoint file it cannot use (a directory): every checkpoint
// fails, and after ten in a row the daemon stops acknowledging, says why
// in /healthz, and answers POST with 503.
func TestServeStopsWhenCheckpointsKeepFailing(t *testing.T) {
	bin := buildServeBinary(t)
	dir := t.TempDir()
	store := filepath.Join(dir, "s.db")
	skey, _ := makeSignerKey(t, bin, dir)
	cpDir := filepath.Join(dir, "not-a-file")
	if err := os.Mkdir(cpDir, 0o700); err != nil {
		t.Fatal(err)
	}
	d := startDaemonNoWait(t, bin, append(serveEnv(t), "CHAINLOG_SIGNER_KEY="+skey),
		"--store", store, "--listen", "127.0.0.1:0", "--node-id", "n", "--checkpoint-interval", "20ms",
		"--checkpoint-file", cpDir)
	var addr string
	select {
	case addr = <-d.log.addr:
	case <-d.exited:
		t.Fatalf("chainlog serve exited before listening: %v\n%s", d.err, d.log)
	case <-time.After(30 * time.Second):
		t.Fatalf("chainlog serve: not listening in 30s\n%s", d.log)
	}
	url := "http://" + addr
	client := &http.Client{Timeout: 5 * time.Second}
	defer client.CloseIdleConnections()

	var health struct {
		Status string `json:"status"`
		Error  string `json:"error"`
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := client.Get(url + "/healthz")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode == http.StatusServiceUnavailable {
			if err := json.Unmarshal(body, &health); err != nil {
				t.Fatalf("healthz body %q: %v", body, err)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("/healthz still %d %s after 30s of failing checkpoints\n%s", resp.StatusCode, body, d.log)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if health.Status != "unhealthy" || !strings.Contains(health.Error, "10 checkpoints in a row failed") {
		t.Errorf("healthz = %+v; want unhealthy because 10 checkpoints in a row failed", health)
	}
	p := newPoster(url, "")
	defer p.close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	a, err := p.post(ctx, []string{testEvent("e1", "n", 1)}, false)
	if err != nil {
		t.Fatal(err)
	}
	if a.status != http.StatusServiceUnavailable || !strings.Contains(a.body, "checkpoints in a row failed") {
		t.Errorf("POST = %d %s; want 503 with the reason", a.status, a.body)
	}
	if !strings.Contains(d.log.String(), "the writer stopped acknowledging writes") {
		t.Errorf("the daemon's log does not say it stopped acknowledging:\n%s", d.log)
	}
}
