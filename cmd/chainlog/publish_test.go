package main

import (
	"crypto/rand"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"chainlog/daemon"
	"chainlog/internal/chainlogtest"
	"chainlog/publish"

	"golang.org/x/mod/sumdb/note"
)

// TestServeDaemonConfig: serve's flags, environment and signer key become
// the daemon's configuration. The checkpoint file is written in line; the
// command and the URL are handed to the daemon to publish on their own
// goroutines, and only when there is a signer key.
func TestServeDaemonConfig(t *testing.T) {
	dir := t.TempDir()
	store := filepath.Join(dir, "s.db")
	skey, _, err := note.GenerateKey(rand.Reader, "chainlog/test/s")
	if err != nil {
		t.Fatal(err)
	}
	keyFile := filepath.Join(dir, "signer.key")
	if err := os.WriteFile(keyFile, []byte(skey+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	logger := slog.New(slog.DiscardHandler)
	parse := func(t *testing.T, vars map[string]string, args ...string) daemon.Config {
		t.Helper()
		e := &env{stdin: strings.NewReader(""), stdout: io.Discard, stderr: io.Discard,
			getenv: func(k string) string { return vars[k] }, isTerminal: func(io.Writer) bool { return false }}
		var c serveConfig
		fs := flag.NewFlagSet("serve", flag.ContinueOnError)
		c.register(fs, e)
		if err := fs.Parse(args); err != nil {
			t.Fatal(err)
		}
		if err := applyEnv(fs, e); err != nil {
			t.Fatal(err)
		}
		if err := c.check(); err != nil {
			t.Fatal(err)
		}
		if err := c.cp.setup(store); err != nil {
			t.Fatal(err)
		}
		return c.daemonConfig(store, logger)
	}

	t.Run("console on by default", func(t *testing.T) {
		if got := parse(t, nil); !got.Console {
			t.Error("Console is off without --console")
		}
	})

	t.Run("every flag", func(t *testing.T) {
		_, w1 := chainlogtest.NewWitnessKey(t, "w1.example/w")
		_, w2 := chainlogtest.NewWitnessKey(t, "w2.example/w")
		got := parse(t, map[string]string{"CHAINLOG_CHECKPOINT_URL": "http://127.0.0.1:9/cp", "CHAINLOG_READ_TIMEOUT": "7s",
			"CHAINLOG_WITNESS": "http://127.0.0.1:7380=" + w1 + ", https://w2.example/=" + w2, "CHAINLOG_WITNESS_QUORUM": "1"},
			"--witness-timeout", "9s",
			"--listen", "127.0.0.1:8999", "--node-id", "n1", "--token", "tok", "--signer-key", keyFile,
			"--init", "--max-body-bytes", "100", "--max-inflight-bytes", "200", "--queue-events", "300",
			"--batch-events", "40", "--verify-interval", "2m", "--full-verify-interval", "3h",
			"--checkpoint-interval", "5ms", "--checkpoint-timeout", "6s", "--checkpoint-command", "cat >/dev/null",
			"--retain", "26w", "--retain-every", "10m", "--retain-archive", filepath.Join(dir, "archives"),
			"--console=false")
		if got.Signer == nil || got.Signer.Name() != "chainlog/test/s" {
			t.Fatalf("Signer = %v; want the key's", got.Signer)
		}
		if got.Verifier == nil || got.Verifier.Name() != "chainlog/test/s" || got.Verifier.KeyHash() != got.Signer.KeyHash() {
			t.Fatalf("Verifier = %v; want the signer key's", got.Verifier)
		}
		if got.Logger != logger {
			t.Error("the logger was not passed on")
		}
		var ws []string
		for _, w := range got.Witnesses {
			ws = append(ws, w.URL+" "+w.Name()+" "+w.Key)
		}
		if want := fmt.Sprint([]string{"http://127.0.0.1:7380 w1.example/w " + w1, "https://w2.example w2.example/w " + w2}); fmt.Sprint(ws) != want {
			t.Errorf("Witnesses = %v; want %v", ws, want)
		}
		got.Signer, got.Verifier, got.Logger, got.Witnesses = nil, nil, nil, nil
		want := daemon.Config{
			Retain:        &daemon.Retention{Age: 26 * 7 * 24 * time.Hour, Text: "26w", Every: 10 * time.Minute, ArchiveDir: filepath.Join(dir, "archives")},
			WitnessQuorum: 1, WitnessTimeout: 9 * time.Second,
			Store: store, Init: true, Listen: "127.0.0.1:8999", NodeID: "n1", Token: "tok",
			MaxBodyBytes: 100, MaxInflightBytes: 200, QueueEvents: 300, BatchEvents: 40,
			VerifyInterval: 2 * time.Minute, FullVerifyInterval: 3 * time.Hour,
			CheckpointInterval: 5 * time.Millisecond, PublishTimeout: 6 * time.Second, ReadTimeout: 7 * time.Second,
			CheckpointFile: store + ".checkpoints",
			Publish: []publish.Publisher{
				publish.Command{Argv: []string{"/bin/sh", "-c", "cat >/dev/null"}},
				publish.HTTP{URL: "http://127.0.0.1:9/cp"},
			},
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("config\n got %+v\nwant %+v", got, want)
		}
	})

	t.Run("no signer key", func(t *testing.T) {
		got := parse(t, map[string]string{"HOME": dir}, "--checkpoint-command", "cat >/dev/null")
		if got.Signer != nil || got.CheckpointFile != "" || len(got.Publish) != 0 {
			t.Errorf("without a signer key: Signer %v, CheckpointFile %q, Publish %v; want none", got.Signer, got.CheckpointFile, got.Publish)
		}
	})
}
