package main

import (
	"context"
	"crypto/rand"
	"flag"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"chainlog"
	"chainlog/publish"

	"golang.org/x/mod/sumdb/note"
)

// TestServeSlowPublishersNeverDelayAcks runs the daemon in process with a
// checkpoint command that sleeps and a checkpoint URL that never answers:
// commits are acknowledged while both are still stuck, and shutdown does
// not wait for them beyond its bound.
func TestServeSlowPublishersNeverDelayAcks(t *testing.T) {
	dir := t.TempDir()
	store := filepath.Join(dir, "s.db")
	skey, vkey, err := note.GenerateKey(rand.Reader, "chainlog/test/s")
	if err != nil {
		t.Fatal(err)
	}
	keyFile := filepath.Join(dir, "signer.key")
	if err := os.WriteFile(keyFile, []byte(skey+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	entered := make(chan struct{}, 64)
	release := make(chan struct{})
	hang := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		entered <- struct{}{}
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer hang.Close()
	defer close(release)
	started, finished := filepath.Join(dir, "started"), filepath.Join(dir, "finished")

	e := &env{stdin: strings.NewReader(""), stdout: io.Discard, stderr: io.Discard,
		getenv: func(string) string { return "" }, isTerminal: func(io.Writer) bool { return false }}
	var c serveConfig
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	c.register(fs, e)
	addr := "127.0.0.1:" + freePort(t)
	if err := fs.Parse([]string{"--listen", addr, "--node-id", "n1", "--signer-key", keyFile,
		"--checkpoint-interval", "1ms", "--checkpoint-timeout", "10m",
		"--checkpoint-command", "touch '" + started + "'; sleep 120; touch '" + finished + "'",
		"--checkpoint-url", hang.URL}); err != nil {
		t.Fatal(err)
	}
	if err := c.check(); err != nil {
		t.Fatal(err)
	}
	if err := c.cp.setup(store); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	served := make(chan error, 1)
	go func() { served <- serve(ctx, &c, store, slog.New(slog.DiscardHandler)) }()

	p := newPoster("http://"+addr, "")
	defer p.close()
	post := func(ids ...string) {
		t.Helper()
		var lines []string
		for i, id := range ids {
			lines = append(lines, testEvent(id, "", i))
		}
		// The poster's client gives up after 20 s; the command sleeps 120 s
		// and the URL never answers, so an acknowledgement that waited for
		// either fails here.
		var a postAnswer
		var err error
		for range 100 {
			if a, err = p.post(ctx, lines, false); err == nil || !strings.Contains(err.Error(), "connection refused") {
				break
			}
			time.Sleep(50 * time.Millisecond) // the daemon is still starting
		}
		if err != nil || a.status != http.StatusOK || a.accepted != len(ids) {
			t.Fatalf("POST %v: %+v, %v; want 200 with %d accepted", ids, a, err, len(ids))
		}
	}
	post("a1", "a2")
	// The first checkpoint reaches both destinations, which hang on it.
	select {
	case <-entered:
	case <-time.After(20 * time.Second):
		t.Fatal("the checkpoint URL was not reached within 20s")
	}
	waitFor(t, "the checkpoint command to start", func() bool { _, err := os.Stat(started); return err == nil })
	for i, batch := range [][]string{{"b1"}, {"c1", "c2", "c3"}, {"d1"}} {
		post(batch...)
		if _, err := os.Stat(finished); err == nil {
			t.Fatalf("batch %d: the checkpoint command finished; want the acknowledgement to come while it sleeps", i)
		}
	}
	select {
	case <-release:
		t.Fatal("released")
	default: // the URL has still not answered
	}

	cancel()
	select {
	case err := <-served:
		if err != nil {
			t.Fatalf("serve: %v", err)
		}
	case <-time.After(2 * time.Minute):
		t.Fatal("serve did not stop while its checkpoint destinations hang")
	}
	// Every checkpoint reached the file: the last covers all 7 events.
	v, err := note.NewVerifier(vkey)
	if err != nil {
		t.Fatal(err)
	}
	last, err := (publish.File{Path: store + ".checkpoints"}).Last()
	if err != nil || last == nil {
		t.Fatalf("last checkpoint: %q, %v", last, err)
	}
	cp, err := chainlog.OpenCheckpoint(last, v)
	if err != nil || cp.Size != 7 {
		t.Errorf("the last checkpoint = %+v, %v; want size 7", cp, err)
	}
}

// waitFor polls cond for up to 20 seconds.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); !cond(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}
