package witness_test

import (
	"bytes"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"chainlog"
	"chainlog/internal/chainlogtest"
	"chainlog/publish"
	"chainlog/witness"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"golang.org/x/mod/sumdb/note"
)

// statusRecorder records the status of every answer a client got.
type statusRecorder struct {
	mu       sync.Mutex
	statuses []int
}

func (r *statusRecorder) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err == nil {
		r.mu.Lock()
		r.statuses = append(r.statuses, resp.StatusCode)
		r.mu.Unlock()
	}
	return resp, err
}

// take returns the statuses recorded since the last call.
func (r *statusRecorder) take() []int {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := r.statuses
	r.statuses = nil
	return s
}

// logKey is a log's signer and its verifier key's text.
func logKey(t *testing.T, origin string) (note.Signer, string) {
	t.Helper()
	skey, vkey, err := note.GenerateKey(rand.Reader, origin)
	if err != nil {
		t.Fatal(err)
	}
	s, err := note.NewSigner(skey)
	if err != nil {
		t.Fatal(err)
	}
	return s, vkey
}

func commit(src *chainlogtest.Source, prefix string, n int) {
	for i := range n {
		src.Commit("node-a", fmt.Sprintf("%s-%d", prefix, i))
	}
}

// TestLitewitness runs the protocol against a real witness: litewitness
// v0.6.1, its key in ssh-agent, the log added with witnessctl.
func TestLitewitness(t *testing.T) {
	lw := chainlogtest.StartLitewitness(t)
	const origin = "chainlog/test/witnessed"
	signer, logVKey := logKey(t, origin)
	lw.AddLog(t, origin, logVKey)
	w, err := witness.ParseWitness(lw.URL + "=" + lw.VKey)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	ckptFile := filepath.Join(dir, "store.checkpoints")
	rec := &statusRecorder{}
	reg := prometheus.NewRegistry()
	metrics := witness.NewMetrics(reg)
	var logs bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&logs, nil))
	newCheckpointer := func(t *testing.T, file string) *publish.Checkpointer {
		ws, err := witness.New(witness.Config{Witnesses: []witness.Witness{w}, File: witness.CosignedPath(file),
			Timeout: 20 * time.Second, MinBackoff: 10 * time.Millisecond, Client: &http.Client{Transport: rec},
			Logger: logger, Metrics: metrics})
		if err != nil {
			t.Fatal(err)
		}
		return publish.NewCheckpointer(publish.CheckpointerConfig{Signer: signer, File: file, Witnesses: ws})
	}
	cosign := func(t *testing.T, cp *publish.Checkpointer, src *chainlogtest.Source) error {
		t.Helper()
		if err := cp.Run(t.Context(), src); err != nil {
			t.Fatal(err)
		}
		return cp.Cosign(t.Context(), src)
	}
	lastCosigned := func(t *testing.T, file string) []byte {
		t.Helper()
		last, err := publish.File{Path: witness.CosignedPath(file)}.Last()
		if err != nil || last == nil {
			t.Fatalf("cosigned file: %q, %v", last, err)
		}
		return last
	}
	v := w.Verifier
	src := chainlogtest.NewSource()
	cp := newCheckpointer(t, ckptFile)

	t.Run("first checkpoint", func(t *testing.T) {
		commit(src, "a", 3)
		if err := cosign(t, cp, src); err != nil {
			t.Fatal(err)
		}
		if got := rec.take(); fmt.Sprint(got) != "[200]" {
			t.Errorf("statuses = %v; want [200]", got)
		}
		last := lastCosigned(t, ckptFile)
		if err := chainlog.CheckCosignatures(last, 0, []note.Verifier{v}); err != nil {
			t.Fatalf("%v\n%s", err, last)
		}
		t.Logf("cosigned by litewitness:\n%s", last)
		if logs := lw.ListLogs(t); !strings.Contains(logs, `"size":3`) {
			t.Errorf("witnessctl list-logs = %s; want size 3", logs)
		}
	})
	t.Run("second checkpoint with a consistency proof", func(t *testing.T) {
		commit(src, "b", 4)
		if err := cosign(t, cp, src); err != nil {
			t.Fatal(err)
		}
		if got := rec.take(); fmt.Sprint(got) != "[200]" {
			t.Errorf("statuses = %v; want [200]", got)
		}
		c, err := chainlog.ParseSignedCheckpoint(lastCosigned(t, ckptFile))
		if err != nil || c.Size != 7 {
			t.Fatalf("last cosigned = size %d, %v; want 7", c.Size, err)
		}
		if logs := lw.ListLogs(t); !strings.Contains(logs, `"size":7`) {
			t.Errorf("witnessctl list-logs = %s; want size 7", logs)
		}
	})
	t.Run("stale size: 409, then resent from the witness's size", func(t *testing.T) {
		// A fresh process with no cosigned file thinks the witness is at 0.
		file := filepath.Join(dir, "other.checkpoints")
		data, err := os.ReadFile(ckptFile)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(file, data, 0o644); err != nil {
			t.Fatal(err)
		}
		cp2 := newCheckpointer(t, file)
		commit(src, "c", 2)
		if err := cosign(t, cp2, src); err != nil {
			t.Fatal(err)
		}
		if got := rec.take(); fmt.Sprint(got) != "[409 200]" {
			t.Errorf("statuses = %v; want [409 200]", got)
		}
		if err := chainlog.CheckCosignatures(lastCosigned(t, file), 0, []note.Verifier{v}); err != nil {
			t.Fatal(err)
		}
		ckptFile = file
	})
	t.Run("asynchronous, as the daemon submits", func(t *testing.T) {
		ws, err := witness.New(witness.Config{Witnesses: []witness.Witness{w}, File: witness.CosignedPath(ckptFile),
			Async: true, Timeout: 10 * time.Second, MinBackoff: 10 * time.Millisecond, Client: &http.Client{Transport: rec}, Logger: logger})
		if err != nil {
			t.Fatal(err)
		}
		acp := publish.NewCheckpointer(publish.CheckpointerConfig{Signer: signer, File: ckptFile, Witnesses: ws, Async: true})
		commit(src, "d", 5)
		if err := acp.Run(t.Context(), src); err != nil {
			t.Fatal(err)
		}
		acp.Close(20 * time.Second)
		c, err := chainlog.ParseSignedCheckpoint(lastCosigned(t, ckptFile))
		if err != nil || c.Size != 14 {
			t.Fatalf("last cosigned = size %d, %v; want 14", c.Size, err)
		}
		if got := rec.take(); fmt.Sprint(got) != "[200]" {
			t.Errorf("statuses = %v; want [200]", got)
		}
	})
	for _, fork := range []struct {
		name   string
		leaves int
		status string
		want   string
	}{
		{"forked tree, larger", 20, "[409 422]", `status=422`},
		{"forked tree, smaller than the witness's", 5, "[409]", `status=409`},
	} {
		t.Run(fork.name, func(t *testing.T) {
			// Same origin and key, another tree.
			forked := chainlogtest.NewSource()
			commit(forked, "fork-"+fmt.Sprint(fork.leaves), fork.leaves)
			file := filepath.Join(t.TempDir(), "fork.checkpoints")
			fcp := newCheckpointer(t, file)
			logs.Reset()
			err := cosign(t, fcp, forked)
			var qe *witness.QuorumError
			if !errors.As(err, &qe) || qe.Cosigned != 0 {
				t.Fatalf("Cosign = %v; want a QuorumError with no cosignature", err)
			}
			if got := rec.take(); fmt.Sprint(got) != fork.status {
				t.Errorf("statuses = %v; want %s", got, fork.status)
			}
			if !strings.Contains(logs.String(), "level=ERROR") || !strings.Contains(logs.String(), fork.want) {
				t.Errorf("log = %s; want an error with %s", logs.String(), fork.want)
			}
			label := strings.TrimPrefix(fork.want, "status=")
			var m dto.Metric
			if err := metrics.Rejections(w.Name(), label).Write(&m); err != nil || m.Counter.GetValue() != 1 {
				t.Errorf("chainlog_witness_rejections_total{status=%q} = %v (%v); want 1", label, m.Counter.GetValue(), err)
			}
			if _, err := os.Stat(witness.CosignedPath(file)); !os.IsNotExist(err) {
				t.Errorf("a cosigned file exists for the fork (%v); want none", err)
			}
		})
	}
	if logs := lw.ListLogs(t); !strings.Contains(logs, `"size":14`) {
		t.Errorf("witnessctl list-logs = %s; want the witness still at size 14", logs)
	}
}
