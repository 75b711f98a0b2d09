package tiles_test

import (
	"bytes"
	"context"
	"fmt"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"chainlog"
	"chainlog/sqlite"
	"chainlog/tiles"

	"golang.org/x/mod/sumdb/note"
)

// fsck runs Tessera's tlog-tiles checker (github.com/transparency-dev/
// tessera/cmd/fsck), whose path CHAINLOG_TESSERA_FSCK names, against the
// log at url, and returns its output and whether it reported success. It
// runs under a timeout: on corrupt input fsck has been seen to hang.
func fsck(t *testing.T, url, vkeyFile, origin string) (string, bool) {
	t.Helper()
	bin := os.Getenv("CHAINLOG_TESSERA_FSCK")
	if bin == "" {
		t.Skip("CHAINLOG_TESSERA_FSCK is not set: it names Tessera's fsck binary (go install github.com/transparency-dev/tessera/cmd/fsck@v1.0.4); .ci/run sets it")
	}
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "--storage_url="+url, "--public_key="+vkeyFile, "--origin="+origin, "--ui=false", "--N=4")
	out, err := cmd.CombinedOutput()
	if ctx.Err() != nil {
		return string(out) + "\n(fsck timed out)", false
	}
	// fsck exits 0 even when the check fails; its log says which.
	ok := err == nil && strings.Contains(string(out), "Successfully fsck'd log") && !strings.Contains(string(out), "fsck failed")
	return string(out), ok
}

// sqliteStore returns a SQLite store of n events, a signed checkpoint of
// its tree, and the file holding the verifier key.
func sqliteStore(t *testing.T, n int) (*sqlite.Store, []byte, string, string) {
	t.Helper()
	ctx := t.Context()
	dir := t.TempDir()
	st, err := sqlite.Open(ctx, filepath.Join(dir, "store.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	const origin = "example.com/chainlog/fsck-test"
	for i := 0; i < n; {
		var batch []chainlog.Event
		for ; i < n && len(batch) < 1000; i++ {
			line := fmt.Sprintf(`{"id":"ev-%d","node_id":"node-%d","agent_type":"claude_code","agent_id":"a","event_type":"tool_call","ts":"2026-02-01T09:00:00.000Z","data":{"n":%d}}`, i, i%5, i)
			e, err := chainlog.DecodeEvent([]byte(line), "")
			if err != nil {
				t.Fatal(err)
			}
			batch = append(batch, e)
		}
		if _, err := st.Ingest(ctx, batch); err != nil {
			t.Fatal(err)
		}
	}
	skey, vkey, err := note.GenerateKey(nil, origin)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := note.NewSigner(skey)
	if err != nil {
		t.Fatal(err)
	}
	signed, err := st.Checkpoint(ctx, signer, nil)
	if err != nil {
		t.Fatal(err)
	}
	vfile := filepath.Join(dir, "log.pub")
	if err := os.WriteFile(vfile, []byte(vkey), 0o644); err != nil {
		t.Fatal(err)
	}
	return st, signed, vfile, origin
}

func TestFsckAcceptsExportAndDaemonAndRefusesTampering(t *testing.T) {
	if os.Getenv("CHAINLOG_TESSERA_FSCK") == "" {
		t.Skip("CHAINLOG_TESSERA_FSCK is not set: it names Tessera's fsck binary (go install github.com/transparency-dev/tessera/cmd/fsck@v1.0.4); .ci/run sets it")
	}
	st, signed, vfile, origin := sqliteStore(t, 3000)
	dir := t.TempDir()
	if _, err := tiles.Export(t.Context(), st, dir, signed, tiles.ExportOptions{}); err != nil {
		t.Fatal(err)
	}
	out, ok := fsck(t, "file://"+dir+"/", vfile, origin)
	if !ok {
		t.Fatalf("fsck of the export failed:\n%s", out)
	}
	t.Logf("fsck of the export:\n%s", out)

	srv := httptest.NewServer(&tiles.Handler{Source: st, Checkpoint: func() ([]byte, error) { return signed, nil }})
	defer srv.Close()
	if out, ok := fsck(t, srv.URL+"/", vfile, origin); !ok {
		t.Fatalf("fsck of the daemon's tiles failed:\n%s", out)
	}

	// One byte of one entry changed: fsck must refuse the log.
	bundle := filepath.Join(dir, "tile/entries/005")
	b, err := os.ReadFile(bundle)
	if err != nil {
		t.Fatal(err)
	}
	i := bytes.Index(b, []byte("node-"))
	b[i+5] ^= 1
	if err := os.WriteFile(bundle, b, 0o644); err != nil {
		t.Fatal(err)
	}
	if out, ok := fsck(t, "file://"+dir+"/", vfile, origin); ok {
		t.Fatalf("fsck accepted an export with a changed entry:\n%s", out)
	}
}
