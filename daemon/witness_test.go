package daemon

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"testing"
	"time"

	"chainlog"
	"chainlog/internal/chainlogtest"
	"chainlog/publish"
	"chainlog/witness"

	"golang.org/x/mod/sumdb/note"
)

// withWitnessedSigner is withSigner with a key whose verifier key text the
// witness needs.
func withWitnessedSigner(t *testing.T, cfg *Config) (note.Verifier, string) {
	t.Helper()
	return withNamedSigner(t, cfg, "chainlog/test/witnessed")
}

// TestRunWitnessed: the daemon has its checkpoints cosigned by a real
// witness (litewitness) in the background, and the cosigned ones land in
// STORE.cosigned.
func TestRunWitnessed(t *testing.T) {
	lw := chainlogtest.StartLitewitness(t)
	cfg := testConfig(t)
	cfg.CheckpointInterval = 10 * time.Millisecond
	v, vkey := withWitnessedSigner(t, &cfg)
	lw.AddLog(t, v.Name(), vkey)
	w, err := witness.ParseWitness(lw.URL + "=" + lw.VKey)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Witnesses = []witness.Witness{w}
	r := start(t, cfg)
	cosigned := witness.CosignedPath(cfg.CheckpointFile)
	for round := range 2 {
		var ids []string
		for i := range 5 {
			ids = append(ids, fmt.Sprintf("r%d-%d", round, i))
		}
		if code, body := r.post(t, ids...); code != http.StatusOK {
			t.Fatalf("POST = %d %s", code, body)
		}
		want := int64(5 * (round + 1))
		waitFor(t, fmt.Sprintf("a checkpoint of size %d cosigned", want), func() bool {
			last, err := publish.File{Path: cosigned}.Last()
			if err != nil || last == nil {
				return false
			}
			c, err := chainlog.OpenCheckpoint(last, v)
			return err == nil && c.Size == want && chainlog.CheckCosignatures(last, 0, []note.Verifier{w.Verifier}) == nil
		})
		// GET /checkpoint serves the checkpoint with its cosignature.
		resp, err := http.Get(r.url + "/checkpoint")
		if err != nil {
			t.Fatal(err)
		}
		served, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		if c, err := chainlog.OpenCheckpoint(served, v); err != nil || c.Size != want ||
			chainlog.CheckCosignatures(served, 0, []note.Verifier{w.Verifier}) != nil {
			t.Errorf("GET /checkpoint = %q (%v); want the cosigned checkpoint of size %d", served, err, want)
		}
		// The gauge moves just after the file is written.
		waitFor(t, fmt.Sprintf("chainlog_witness_quorum_tree_size %d", want), func() bool {
			return r.metric(t, "chainlog_witness_quorum_tree_size") == fmt.Sprint(want)
		})
	}
	if err := r.stop(t); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(cosigned)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%s:\n%s", cosigned, b)
}

// TestRunHangingWitnessNeverDelaysAcks: a witness that never answers
// holds back no acknowledgement, and the daemon still stops.
func TestRunHangingWitnessNeverDelaysAcks(t *testing.T) {
	hang := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-hang:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	defer close(hang)
	_, wkey := chainlogtest.NewWitnessKey(t, "w.example/hangs")
	w, err := witness.ParseWitness(srv.URL + "=" + wkey)
	if err != nil {
		t.Fatal(err)
	}
	cfg := testConfig(t)
	cfg.CheckpointInterval = time.Millisecond
	withSigner(t, &cfg)
	cfg.Witnesses, cfg.WitnessTimeout = []witness.Witness{w}, time.Hour
	cfg.PublishTimeout = 100 * time.Millisecond // the wait for the last checkpoint at shutdown
	r := start(t, cfg)
	for i := range 3 {
		if code, body := r.post(t, fmt.Sprint("h", i)); code != http.StatusOK {
			t.Fatalf("POST = %d %s", code, body)
		}
	}
	if err := r.stop(t); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(witness.CosignedPath(cfg.CheckpointFile)); !os.IsNotExist(err) {
		t.Errorf("a cosigned file exists (%v); the witness never answered", err)
	}
}
