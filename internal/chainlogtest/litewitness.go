package chainlogtest

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// Litewitness is a real witness (filippo.io/torchwood's litewitness, C2SP
// tlog-witness) running for a test.
type Litewitness struct {
	URL  string // where it listens: http://127.0.0.1:PORT
	VKey string // its cosignature/v1 verifier key
	db   string
	ctl  string
}

// StartLitewitness starts ssh-agent with a fresh Ed25519 key and
// litewitness on a free local port, all in a temporary directory, and
// stops them when the test ends. The binaries' paths are in
// CHAINLOG_LITEWITNESS and CHAINLOG_WITNESSCTL; without them the test is
// skipped.
func StartLitewitness(t *testing.T) *Litewitness {
	t.Helper()
	lw, ctl := os.Getenv("CHAINLOG_LITEWITNESS"), os.Getenv("CHAINLOG_WITNESSCTL")
	if lw == "" || ctl == "" {
		t.Skip("CHAINLOG_LITEWITNESS and CHAINLOG_WITNESSCTL (paths to filippo.io/torchwood/cmd/litewitness and witnessctl v0.6.1) are not set")
	}
	for _, tool := range []string{"ssh-keygen", "ssh-agent", "ssh-add"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s is not installed: litewitness keeps its key in ssh-agent", tool)
		}
	}
	// A short directory: a unix socket's path is limited to ~100 bytes.
	dir, err := os.MkdirTemp("", "lw")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	key, sock := filepath.Join(dir, "key"), filepath.Join(dir, "agent.sock")
	run(t, nil, "ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "litewitness", "-f", key)
	startProcess(t, exec.Command("ssh-agent", "-D", "-a", sock))
	waitFor(t, func() bool { _, err := os.Stat(sock); return err == nil }, "ssh-agent's socket")
	run(t, []string{"SSH_AUTH_SOCK=" + sock}, "ssh-add", "-q", key)
	fp := strings.Fields(run(t, nil, "ssh-keygen", "-l", "-E", "sha256", "-f", key+".pub"))
	if len(fp) < 2 || !strings.HasPrefix(fp[1], "SHA256:") {
		t.Fatalf("ssh-keygen -l printed %q; want a SHA256 fingerprint", fp)
	}
	addr := freeAddr(t)
	db := filepath.Join(dir, "litewitness.db")
	cmd := exec.Command(lw, "-name", "witness.example/test", "-db", db, "-ssh-agent", sock, "-key", fp[1], "-listen", addr)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	startProcess(t, cmd)
	w := &Litewitness{URL: "http://" + addr, db: db, ctl: ctl}
	w.VKey = readVKey(t, stderr)
	waitFor(t, func() bool {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
		}
		return err == nil
	}, "litewitness listening on "+addr)
	return w
}

// AddLog tells the witness of a log: its origin and verifier key.
func (w *Litewitness) AddLog(t *testing.T, origin, vkey string) {
	t.Helper()
	run(t, nil, w.ctl, "add-log", "-db", w.db, "-origin", origin)
	run(t, nil, w.ctl, "add-key", "-db", w.db, "-origin", origin, "-key", vkey)
}

// ListLogs is witnessctl list-logs: a JSON line per log, with the size the
// witness saw last.
func (w *Litewitness) ListLogs(t *testing.T) string {
	t.Helper()
	return run(t, nil, w.ctl, "list-logs", "-db", w.db)
}

var vkeyLine = regexp.MustCompile(`msg="verifier key" vkey=(\S+)`)

// readVKey reads litewitness's log until it prints its verifier key, and
// then drains the rest.
func readVKey(t *testing.T, stderr interface{ Read([]byte) (int, error) }) string {
	t.Helper()
	found := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		sent := false
		for sc.Scan() {
			if m := vkeyLine.FindStringSubmatch(sc.Text()); m != nil && !sent {
				found <- m[1]
				sent = true
			}
		}
		if !sent {
			close(found)
		}
	}()
	select {
	case v, ok := <-found:
		if !ok {
			t.Fatal("litewitness exited without printing its verifier key")
		}
		return v
	case <-time.After(30 * time.Second):
		t.Fatal("litewitness printed no verifier key in 30s")
	}
	return ""
}

func run(t *testing.T, env []string, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// startProcess starts cmd and kills it (and waits for it) when the test
// ends.
func startProcess(t *testing.T, cmd *exec.Cmd) {
	t.Helper()
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", cmd.Path, err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
}

func waitFor(t *testing.T, ok func() bool, what string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for !ok() {
		select {
		case <-ctx.Done():
			t.Fatalf("waited 30s for %s", what)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// freeAddr returns a local address with a port nothing listens on now.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return fmt.Sprint(l.Addr())
}
